"""Every real ultrasound DICOM file in the installed test-data packages, read through ``open_clip``.

Expected values come from the file's own header read here with pydicom, and expected pixels from
pydicom's own decoder (``pydicom.pixels.pixel_array`` + ``apply_color_lut``) turned into luminance
0.299R + 0.587G + 0.114B in this test.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_testdata import UsFile, discover_us_files, materialise
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.uid import JPEGBaseline8Bit

from ceuskit.errors import ClipError
from ceuskit.io import open_clip

US_FILES = discover_us_files()
FPS = 12.5  # for multi-frame files that state no timing


def _header(path: Path) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True)


def _expected_times(ds: pydicom.Dataset, n: int) -> np.ndarray | None:
    """DICOM PS3.3 C.7.6.5 (cine module): Frame Time Vector increments, else Frame Time, else Cine Rate."""
    if n == 1:
        return np.zeros(1)
    if "FrameTimeVector" in ds:
        return np.concatenate([[0.0], np.cumsum([float(v) for v in ds.FrameTimeVector[1:]])]) / 1000.0
    if "FrameTime" in ds:
        return np.arange(n) * float(ds.FrameTime) / 1000.0
    if "CineRate" in ds:
        return np.arange(n) / float(ds.CineRate)
    return None


def _header_tissue_regions(ds: pydicom.Dataset) -> list[tuple[tuple[int, int, int, int], tuple[float, float] | None]]:
    """2-D (Region Spatial Format 1) tissue (Region Data Type 1) regions; Physical Delta in cm → mm."""
    out = []
    for item in ds.get("SequenceOfUltrasoundRegions", []):
        if item.RegionSpatialFormat == 1 and item.RegionDataType == 1:
            box = (int(item.RegionLocationMinX0), int(item.RegionLocationMinY0),
                   min(int(item.RegionLocationMaxX1) + 1, ds.Columns), min(int(item.RegionLocationMaxY1) + 1, ds.Rows))
            cm = item.PhysicalUnitsXDirection == 3 and item.PhysicalUnitsYDirection == 3
            out.append((box, (10 * float(item.PhysicalDeltaX), 10 * float(item.PhysicalDeltaY)) if cm else None))
    return out


def _pydicom_grey(path: Path, ds: pydicom.Dataset, index: int) -> np.ndarray:
    """Luminance of pydicom's decoding of frame ``index``, scaled so that white is 255."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels = pixel_array(path, index=index)
        if ds.PhotometricInterpretation == "PALETTE COLOR":
            lut_ds = ds
            if not ds.file_meta.TransferSyntaxUID.is_little_endian and "RedPaletteColorLookupTableData" in ds:
                # pydicom 3.0.2's apply_color_lut reads unsegmented OW tables in host (little-endian) byte
                # order; the big-endian file stores them big-endian (its little-endian twin proves it below).
                lut_ds = copy.deepcopy(ds)
                for colour in ("Red", "Green", "Blue"):
                    keyword = f"{colour}PaletteColorLookupTableData"
                    raw = getattr(ds, keyword)
                    if int(ds.RedPaletteColorLookupTableDescriptor[2]) == 16:
                        setattr(lut_ds, keyword, np.frombuffer(raw, ">u2").astype("<u2").tobytes())
            pixels = apply_color_lut(pixels, lut_ds)[..., :3]
    white = 255.0
    if pixels.dtype == np.uint16 and ds.PhotometricInterpretation == "PALETTE COLOR":
        white = 65535.0
    elif ds.BitsStored > 8:
        white = float(2**ds.BitsStored - 1)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        pixels = (2**ds.BitsStored - 1) - pixels.astype(np.float64)
    values = pixels.astype(np.float64)
    grey = values @ np.array([0.299, 0.587, 0.114]) if values.ndim == 3 else values
    return grey * (255.0 / white)


@pytest.mark.parametrize("entry", US_FILES, ids=[e.label for e in US_FILES])
def test_header_facts(entry: UsFile, extracted: Path) -> None:
    path = materialise(entry, extracted)
    ds = _header(path)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    expected_times = _expected_times(ds, n)
    if expected_times is None:
        with pytest.raises(ClipError, match="no frame timing in the file; give the frame rate with --fps"):
            open_clip(path)
        expected_times = np.arange(n) / FPS
    with open_clip(path, fps=FPS) as clip:
        assert clip.n_frames == n
        assert (clip.rows, clip.columns) == (ds.Rows, ds.Columns)
        np.testing.assert_allclose(clip.times, expected_times, rtol=1e-12, atol=1e-12)
        tissue = _header_tissue_regions(ds)
        if clip.ceus_region.kind == "tissue":
            boxes = {box: spacing for box, spacing in tissue}
            assert clip.ceus_region.box in boxes
            assert clip.pixel_spacing_mm == pytest.approx(boxes[clip.ceus_region.box])
        elif "PixelSpacing" in ds:
            assert clip.pixel_spacing_mm == pytest.approx((float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0])))
        else:
            assert clip.pixel_spacing_mm is None
        side_by_side = len(tissue) == 2 and (min(tissue)[0][2] <= max(tissue)[0][0])
        assert (clip.layout == "dual") == side_by_side
        if len(tissue) == 1:
            assert clip.ceus_region.box == tissue[0][0]
        assert clip.info["number_of_frames"] == n
        assert clip.info["photometric_interpretation"] == ds.PhotometricInterpretation
        assert clip.info["transfer_syntax"] == ds.file_meta.TransferSyntaxUID.name


@pytest.mark.parametrize("entry", US_FILES, ids=[e.label for e in US_FILES])
def test_frames_match_pydicom(entry: UsFile, extracted: Path) -> None:
    path = materialise(entry, extracted)
    ds = _header(path)
    # libjpeg's own YCbCr→RGB (used for speed) and pydicom's float conversion differ by rounding only
    atol = 2.0 if ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit else 1e-3
    with open_clip(path, fps=FPS) as clip:
        indices = sorted({0, clip.n_frames // 2, clip.n_frames - 1})
        for index in indices:
            np.testing.assert_allclose(clip.frame(index), _pydicom_grey(path, ds, index), atol=atol, rtol=0)
        streamed = dict(clip.iter_frames(indices[-1] - 1 if len(indices) > 1 else 0))
        np.testing.assert_array_equal(streamed[indices[-1]], clip.frame(indices[-1]))


def _by_name(name: str) -> UsFile:
    return next(e for e in US_FILES if e.label.endswith("/" + name))


@pytest.mark.parametrize(("first", "second"), [
    ("OBXXXX1A.dcm", "OBXXXX1A_expb.dcm"),            # palette, little vs big endian
    ("OBXXXX1A.dcm", "OBXXXX1A_rle.dcm"),             # palette, native vs RLE
    ("OBXXXX1A_2frame.dcm", "OBXXXX1A_expb_2frame.dcm"),
    ("gdcm-US-ALOKA-16.dcm", "gdcm-US-ALOKA-16_big.dcm"),  # 16-bit palette, implicit VR LE vs explicit BE
    ("US1_UNCR.dcm", "US1_J2KR.dcm"),                 # RGB native vs lossless JPEG 2000 (YBR_RCT)
    ("color-px.dcm", "color-pl.dcm"),                 # RGB planar configuration 0 vs 1
])
def test_twin_encodings_give_identical_frames(first: str, second: str, extracted: Path) -> None:
    """The packages ship one image in several encodings: every encoding must decode to the same grey."""
    with open_clip(materialise(_by_name(first), extracted), fps=FPS) as a, \
            open_clip(materialise(_by_name(second), extracted), fps=FPS) as b:
        assert a.n_frames == b.n_frames
        for index in range(a.n_frames):
            np.testing.assert_array_equal(a.frame(index), b.frame(index))


def test_found_encodings_cover_the_issue() -> None:
    """Which encodings exist among real US files (the others are derived in test_io_dicom_derived.py)."""
    combos = {(pydicom.uid.UID(e.transfer_syntax).name, e.photometric, e.bits_allocated, e.planar) for e in US_FILES}
    syntaxes = {c[0] for c in combos}
    assert {"JPEG Baseline (Process 1)", "Explicit VR Big Endian", "Implicit VR Little Endian", "RLE Lossless",
            "JPEG 2000 Image Compression (Lossless Only)"} <= syntaxes
    assert any(c[1] == "PALETTE COLOR" and c[2] == 16 for c in combos)
    assert {c[3] for c in combos if c[1] == "RGB"} == {0, 1}
