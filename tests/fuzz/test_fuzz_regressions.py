"""Inputs the fuzz campaigns found that once escaped as non-``CeusError`` exceptions or huge allocations."""

from __future__ import annotations

import csv
import io
import json
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from ceuskit.errors import ClipError, ManifestError, RoiError
from ceuskit.io import open_clip
from ceuskit.io.rois import load_rois
from ceuskit.study import read_manifest

pytestmark = pytest.mark.timeout(60)  # /dev/zero as a clip once hashed for ever


def _npy_member(shape: tuple[int, ...], descr: str) -> bytes:
    """A .npy header declaring ``shape`` followed by only 100 bytes of data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    buffer.write(bytes(100))
    return buffer.getvalue()


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
@pytest.mark.parametrize("member", ["frames", "times_s"])
def test_npz_member_declaring_huge_shape_is_refused_before_allocation(tmp_path: Path, compression: int,
                                                                       member: str) -> None:
    """np.load allocated the declared (terabyte) array of a compressed member, or of times_s, before reading."""
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr("frames.npy", _npy_member((10**5, 4000, 4000) if member == "frames" else (2, 4, 4), "|u1"))
        if member == "times_s":
            archive.writestr("times_s.npy", _npy_member((10**11,), "<f8"))
    tracemalloc.start()
    try:
        with pytest.raises(ClipError, match=f"member '{member}' declares shape"):
            open_clip(path, fps=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


# --- ROI files --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["[" * 100_000, '{"reference_frame": ' + "7" * 5000 + "}"],
                         ids=["nested", "huge-int"])
def test_roi_json_beyond_the_parser_limits_is_a_roi_error(tmp_path: Path, text: str) -> None:
    """json.loads raised RecursionError (deep nesting) and ValueError (int beyond 4300 digits), not RoiError."""
    path = tmp_path / "rois.json"
    path.write_text(text)
    with pytest.raises(RoiError, match="not valid ROI JSON"):
        load_rois(path)


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature, IHDR (8-bit grey) and IEND: the size is declared, no pixel is stored."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">L", len(body)) + kind + body + struct.pack(">L", zlib.crc32(kind + body))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">LLBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize(("width", "height"), [(9000, 8000), (100_000, 100_000)])
def test_label_png_claiming_huge_size_is_refused_before_decoding(tmp_path: Path, width: int, height: int) -> None:
    """9000×8000 decoded (and failed late); 100000² raised Pillow's DecompressionBombError, not RoiError."""
    path = tmp_path / "mask.png"
    path.write_bytes(_png_header(width, height))
    tracemalloc.start()
    try:
        with pytest.raises(RoiError):
            load_rois(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_nifti_label_mask_claiming_huge_shape_is_refused_before_loading(tmp_path: Path) -> None:
    """nibabel's get_fdata allocates the header's shape as float64 before finding the data short."""
    nibabel = pytest.importorskip("nibabel")
    header = nibabel.Nifti1Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape((30_000, 30_000, 1))
    path = tmp_path / "mask.nii"
    with open(path, "wb") as fh:
        header.write_to(fh)
        fh.write(bytes(4 + 64))
    tracemalloc.start()
    try:
        with pytest.raises(RoiError, match="larger than any frame"):
            load_rois(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


# --- manifests --------------------------------------------------------------------------------------------
@pytest.fixture
def manifest_folder(tmp_path: Path) -> Path:
    (tmp_path / "clip.npy").write_bytes(b"not read: the manifest is refused before")
    (tmp_path / "roi.json").write_text(json.dumps(
        {"rois": [{"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [5, 5], "radii": [3, 3]}]}))
    return tmp_path


@pytest.mark.parametrize(("clip", "roi"), [("/dev/zero", "roi.json"), ("clip\x00.npy", "roi.json"),
                                           ("c" * 300 + ".npy", "roi.json"), ("clip.npy", "r" * 300),
                                           ("clip.npy", "/dev/null")],
                         ids=["device", "nul", "long-clip", "long-roi", "roi-device"])
def test_manifest_paths_that_are_not_files_are_manifest_errors(manifest_folder: Path, clip: str, roi: str) -> None:
    """/dev/zero was hashed for ever; NUL bytes and over-long names raised ValueError/OSError from pathlib."""
    path = manifest_folder / "manifest.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([["patient_id", "lesion_id", "clip", "roi", "ki67"], ["P1", "L1", clip, roi, "5"]])
    with pytest.raises(ManifestError, match="line 2: ") as caught:
        read_manifest(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["[" * 100_000, "7" * 5000], ids=["nested", "huge-int"])
def test_manifest_roi_json_beyond_the_parser_limits_is_a_manifest_error(manifest_folder: Path, text: str) -> None:
    (manifest_folder / "roi.json").write_text(text)
    path = manifest_folder / "manifest.csv"
    path.write_text("patient_id,lesion_id,clip,roi,ki67\nP1,L1,clip.npy,roi.json,5\n")
    with pytest.raises(ManifestError, match="line 2: roi roi.json"):
        read_manifest(path)


def test_manifest_error_naming_a_field_with_line_breaks_is_one_line(manifest_folder: Path) -> None:
    """A quoted CSV field may hold line breaks; the message quoting it must still be one line."""
    path = manifest_folder / "manifest.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([["patient_id", "lesion_id", "clip", "roi", "ki67"],
                                  ["P1", "L1", "missing\nclip.npy", "roi.json", "5"]])
    with pytest.raises(ManifestError, match="line 3: clip missing clip.npy not found") as caught:
        read_manifest(path)
    assert "\n" not in str(caught.value)


def test_npy_header_declaring_more_than_2_to_the_63_bytes_is_a_clip_error(tmp_path: Path) -> None:
    """np.memmap raised OverflowError ("memory mapped length must be positive") for this header."""
    path = tmp_path / "overflow.npy"
    path.write_bytes(_npy_member((870661, 6196915, 1526937), "<f8"))
    with pytest.raises(ClipError, match="the .npy header declares shape"):
        open_clip(path, fps=10)


def _patched_npz(tmp_path: Path, *, central: dict[int, int], local: dict[int, int]) -> Path:
    """A valid .npz (frames only) with 16-bit fields of its zip headers overwritten (offset → value)."""
    buffer = io.BytesIO()
    np.savez(buffer, frames=np.zeros((2, 4, 4), np.uint8))
    data = bytearray(buffer.getvalue())
    for signature, fields in ((b"PK\x01\x02", central), (b"PK\x03\x04", local)):
        start = data.index(signature)
        for offset, value in fields.items():
            data[start + offset:start + offset + 2] = struct.pack("<H", value)
    path = tmp_path / "patched.npz"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("central", "local"), [
    ({6: 212}, {}),                      # "zip file version 21.2": NotImplementedError while listing
    ({10: 99}, {8: 99}),                 # unknown compression method: NotImplementedError on open
    ({8: 0x20}, {6: 0x20}),              # "compressed patched data (flag bit 5)": NotImplementedError
    ({8: 0x01}, {6: 0x01}),              # encrypted member: RuntimeError "password required"
], ids=["version", "method", "patched", "encrypted"])
def test_npz_with_unsupported_zip_features_is_a_clip_error(tmp_path: Path, central: dict[int, int],
                                                           local: dict[int, int]) -> None:
    """Found by the atheris campaign: zipfile's NotImplementedError/RuntimeError escaped read_npz."""
    with pytest.raises(ClipError, match="not a readable .npz archive"):
        open_clip(_patched_npz(tmp_path, central=central, local=local), fps=10)


@pytest.mark.parametrize("header", [b"{'descr': '|u1', 'fortran_order': False, 'shape': (xyz\n",
                                    b"{'descr': '|u1', 'fortran_order': False, 'shape': '''(3,\n"],
                         ids=["open-parenthesis", "open-string"])
@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_npy_header_the_tokenizer_rejects_is_a_clip_error(tmp_path: Path, header: bytes, kind: str) -> None:
    """Found by the atheris campaign: NumPy's header parser raised tokenize.TokenError, not ValueError."""
    member = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(64)
    path = tmp_path / f"damaged.{kind}"
    if kind == "npy":
        path.write_bytes(member)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("frames.npy", member)
    with pytest.raises(ClipError, match="damaged .npy header"):
        open_clip(path, fps=10)


def test_npz_member_names_with_line_breaks_give_a_one_line_message(tmp_path: Path) -> None:
    """Found by the atheris campaign: the 'no frames array' message listed member names verbatim."""
    path = tmp_path / "names.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("\n\u2561\n1es.npy", _npy_member((1,), "|u1"))
    with pytest.raises(ClipError, match="has no 'frames' array") as caught:
        open_clip(path, fps=10)
    assert "\n" not in str(caught.value)
