"""Hostile clip files: mutated real and synthetic DICOM, mutated video, odd arrays.

Property: ``open_clip`` and reading frames either work (frames of the stated shape, finite increasing
times) or raise a ``CeusError``; any other exception, a hang (pytest-timeout) or a large allocation fails.
"""

from __future__ import annotations

import struct
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ceuskit.errors import CeusError, ClipError
from ceuskit.io import open_clip

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
sys.path.insert(0, str(Path(__file__).parent))
from fuzz_settings import examples, time_limit_s  # noqa: E402
from io_testdata import discover_us_files, materialise, write_mp4, write_us  # noqa: E402

pytestmark = pytest.mark.timeout(time_limit_s(300))

FRAMES = (np.arange(4 * 16 * 20) % 251).astype(np.uint8).reshape(4, 16, 20)
REAL_SEEDS = ("data/OBXXXX1A_rle_2frame.dcm", "data/US1_J2KR.dcm", "test_files/examples_ybr_color.dcm",
              "data/OBXXXX1A_expb.dcm", "data/JPGLosslessP14SV1_1s_1f_8b.dcm", "data/gdcm-US-ALOKA-16.dcm")


@pytest.fixture(scope="module")
def dicom_seeds(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("seeds")
    seeds = [write_us(folder / "grey.dcm", FRAMES, regions=[((0, 0, 20, 16), 0.01, 1)], FrameTime="40"),
             write_us(folder / "rgb.dcm", np.stack([FRAMES] * 3, -1), FrameTimeVector=["0", "40", "40", "40"])]
    seeds += [materialise(e, folder) for e in discover_us_files() if e.label in REAL_SEEDS]
    return [p.read_bytes() for p in seeds]


@pytest.fixture(scope="module")
def video_seed(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_mp4(tmp_path_factory.mktemp("video") / "v.mp4").read_bytes()


def _mutations(seeds_size: int) -> st.SearchStrategy:
    """(seed index, operation, positions/values) drawn by hypothesis."""
    return st.tuples(st.integers(0, seeds_size - 1), st.sampled_from(["truncate", "flip", "splice", "header"]),
                     st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1,
                              max_size=24))


def _mutate(data: bytes, operation: str, edits: list[tuple[float, int]]) -> bytes:
    out = bytearray(data)
    if operation == "truncate":
        return bytes(out[:int(edits[0][0] * len(out))])
    if operation == "splice":
        start = int(edits[0][0] * len(out))
        out[start:start + len(edits)] = bytes(v for _, v in edits)
        return bytes(out)
    span = min(len(out), 1500) if operation == "header" else len(out)  # header: element tags, VRs, lengths
    for where, value in edits:
        out[int(where * span)] = value
    return bytes(out)


CASE_SECONDS = 10.0
"""Longest time one case may take (typically 1–20 ms): a reader that loops on a damaged file fails here."""


def _exercise(path: Path, **kwargs: object) -> None:
    """Open and read the first and last frames; a CeusError is an acceptable outcome."""
    started = time.perf_counter()
    _read_or_refuse(path, **kwargs)
    assert time.perf_counter() - started < CASE_SECONDS


def _read_or_refuse(path: Path, **kwargs: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with open_clip(path, **kwargs) as clip:
                for index in sorted({0, clip.n_frames - 1}):
                    frame = clip.frame(index)
                    assert frame.shape == (clip.rows, clip.columns)
                times = np.asarray(clip.times)
                assert len(times) == clip.n_frames and np.all(np.isfinite(times))
                assert np.all(np.diff(times) > 0)
        except CeusError as exc:
            assert str(exc) and "\n" not in str(exc).strip()


@settings(settings.get_profile("ceuskit-fuzz"), max_examples=examples(2500))
@given(mutation=st.data())
def test_mutated_dicom(dicom_seeds: list[bytes], tmp_path_factory: pytest.TempPathFactory, mutation: st.DataObject
                       ) -> None:
    index, operation, edits = mutation.draw(_mutations(len(dicom_seeds)))
    path = tmp_path_factory.getbasetemp() / "case.dcm"
    path.write_bytes(_mutate(dicom_seeds[index], operation, edits))
    _exercise(path, fps=10.0)


_HEADER_VALUES = st.fixed_dictionaries({}, optional={
    "Rows": st.integers(0, 65535), "Columns": st.integers(0, 65535),
    "NumberOfFrames": st.one_of(st.integers(-3, 10**9), st.just("x")),
    "BitsAllocated": st.sampled_from([0, 1, 7, 8, 12, 16, 32, 64]), "BitsStored": st.integers(0, 40),
    "SamplesPerPixel": st.integers(0, 5),
    "PhotometricInterpretation": st.sampled_from(["MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL_422", "XYZ"]),
    "FrameTime": st.sampled_from(["40", "0", "-1", "nan", "1e308", "abc"]),
    "FrameTimeVector": st.lists(st.sampled_from(["0", "40", "-40", "nan", "inf"]), max_size=6),
    "CineRate": st.integers(-10, 1000),
    "PlanarConfiguration": st.integers(0, 3),
})


@settings(settings.get_profile("ceuskit-fuzz"), max_examples=examples(1500))
@given(values=_HEADER_VALUES, regions=st.lists(st.tuples(st.integers(-50, 100), st.integers(-50, 100),
                                                          st.integers(-50, 100), st.integers(-50, 100)), max_size=3))
def test_structured_dicom_headers(tmp_path_factory: pytest.TempPathFactory, values: dict, regions: list) -> None:
    """Well-formed files with nonsense header values: absurd sizes, bit depths, timing, region boxes."""
    path = tmp_path_factory.getbasetemp() / "structured.dcm"
    boxes = [((x0, y0, x1, y1), 0.01, 1) for x0, y0, x1, y1 in regions if x1 > x0 and y1 > y0 and min(x0, y0) >= 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            write_us(path, FRAMES, regions=boxes, **values)
        except (ValueError, TypeError, OverflowError, OSError, struct.error):  # pydicom refuses to write it
            return
    tracemalloc.start()
    try:
        _exercise(path, fps=10.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # absurd Rows × Columns × Frames never allocated


@pytest.mark.parametrize(("rows", "columns", "frames"), [(65535, 65535, 1), (4000, 4000, 10**6), (1, 1, 2**31 - 1)])
def test_absurd_dimensions_are_refused_before_allocation(tmp_path: Path, rows: int, columns: int, frames: int
                                                         ) -> None:
    path = write_us(tmp_path / "absurd.dcm", FRAMES, Rows=rows, Columns=columns, NumberOfFrames=frames,
                    FrameTime="40")
    tracemalloc.start()
    try:
        with pytest.raises(ClipError):
            open_clip(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


@settings(settings.get_profile("ceuskit-fuzz"), max_examples=examples(2500))
@given(mutation=st.data())
def test_mutated_video(video_seed: bytes, tmp_path_factory: pytest.TempPathFactory, mutation: st.DataObject) -> None:
    _, operation, edits = mutation.draw(_mutations(1))
    path = tmp_path_factory.getbasetemp() / "case.mp4"
    path.write_bytes(_mutate(video_seed, operation, edits))
    _exercise(path)


@settings(settings.get_profile("ceuskit-fuzz"), max_examples=examples(1500))
@given(shape=st.lists(st.integers(0, 40), min_size=0, max_size=5),
       dtype=st.sampled_from(["u1", "u2", "i4", "f4", "f8", "?", "c8", "U3"]),
       kind=st.sampled_from(["npy", "npz", "npz_times", "npz_bad_times"]))
def test_odd_arrays(tmp_path_factory: pytest.TempPathFactory, shape: list[int], dtype: str, kind: str) -> None:
    folder = tmp_path_factory.getbasetemp()
    array = np.zeros(shape, dtype=dtype)
    if kind == "npy":
        path = folder / "a.npy"
        np.save(path, array)
    else:
        path = folder / "a.npz"
        n = shape[0] if shape else 0
        times = {"npz": {}, "npz_times": {"times_s": np.arange(n) * 0.1},
                 "npz_bad_times": {"times_s": np.full(max(n, 1), np.nan)}}[kind]
        np.savez(path, frames=array, **times)
    _exercise(path, fps=5.0)


def test_npy_header_claiming_huge_shape_is_refused_before_allocation(tmp_path: Path) -> None:
    path = tmp_path / "huge.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (10**6, 4000, 4000)})
        fh.write(bytes(100))
    tracemalloc.start()
    try:
        with pytest.raises(CeusError):
            open_clip(path, fps=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_pickled_object_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ClipError):
        open_clip(path, fps=10)
