"""Hostile .npy headers, alone and as .npz members: declared shapes and types far from the stored data.

Property: ``open_clip`` reads the header and refuses a mismatch with a ``ClipError`` before NumPy allocates
the declared array (checked with tracemalloc), or reads a consistent clip.
"""

from __future__ import annotations

import io
import sys
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ceuskit.errors import CeusError
from ceuskit.io import open_clip

sys.path.insert(0, str(Path(__file__).parent))
from fuzz_settings import examples, time_limit_s  # noqa: E402

pytestmark = pytest.mark.timeout(time_limit_s(300))

_SHAPE = st.lists(st.one_of(st.integers(0, 6), st.integers(0, 10**7)), max_size=4).map(tuple)
_DESCR = st.sampled_from(["|u1", "<u2", ">u2", "<f4", "<f8", "|b1", "<c16", "<U4", "|V8", "<M8[s]", "|O"])


def _npy(shape: tuple[int, ...], descr: str, fortran: bool, data_bytes: int) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": fortran, "shape": shape})
    buffer.write(bytes(range(256)) * (data_bytes // 256) + bytes(data_bytes % 256))
    return buffer.getvalue()


@settings(settings.get_profile("ceuskit-fuzz"), max_examples=examples(1500))
@given(shape=_SHAPE, descr=_DESCR, fortran=st.booleans(), data_bytes=st.integers(0, 2000),
       times=st.one_of(st.none(), st.tuples(_SHAPE, _DESCR, st.integers(0, 200))),
       kind=st.sampled_from(["npy", "npz-stored", "npz-deflated"]))
def test_declared_array_headers(tmp_path_factory: pytest.TempPathFactory, shape: tuple[int, ...], descr: str,
                                fortran: bool, data_bytes: int, times: tuple | None, kind: str) -> None:
    folder = tmp_path_factory.getbasetemp()
    frames = _npy(shape, descr, fortran, data_bytes)
    if kind == "npy":
        path = folder / "declared.npy"
        path.write_bytes(frames)
    else:
        path = folder / "declared.npz"
        method = zipfile.ZIP_STORED if kind == "npz-stored" else zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(path, "w", method) as archive:
            archive.writestr("frames.npy", frames)
            if times is not None:
                archive.writestr("times_s.npy", _npy(times[0], times[1], False, times[2]))
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with open_clip(path, fps=10.0) as clip:
                    assert clip.frame(clip.n_frames - 1).shape == (clip.rows, clip.columns)
                    assert np.all(np.diff(clip.times) > 0)
            except CeusError as exc:
                assert str(exc) and "\n" not in str(exc).strip()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20  # the stored data is at most 2 kB; a declared 10^7-long axis is never allocated
