"""Clean Pixel Data across encodings: every other installed ultrasound file (pydicom-data, pydicom's own test
files: JPEG, JPEG 2000, RLE, big endian, palette, YBR), de-identified with an explicit ``region``.

Expected pixels are pydicom's own decoding of the original; the expected colour handling comes from the
original header (PALETTE COLOR stays, with the same colours after pydicom applies the palette; YBR becomes RGB).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut
from pydicom.uid import ExplicitVRLittleEndian

from ceuskit.errors import ClipError
from ceuskit.io.deid import DeidOptions, deidentify_file

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from io_testdata import discover_us_files, materialise  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# deid-data's files are covered with their own ultrasound regions in test_deidentify.py; the 120-frame JPEG
# volume only repeats examples_ybr_color's encoding at 30 times the decoding time.
OTHERS = [f for f in discover_us_files()
          if not f.label.startswith("ultrasounds/") and f.label != "data/color3d_jpeg_baseline.dcm"]
KEY = b"encodings-key-0123456789"


def _read(path: Path, **kwargs: object) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kwargs)


def test_other_encodings_are_present() -> None:
    syntaxes = {f.transfer_syntax for f in OTHERS}
    photometrics = {f.photometric for f in OTHERS}
    assert len(OTHERS) >= 15 and {"PALETTE COLOR", "YBR_FULL_422", "RGB", "MONOCHROME2"} <= photometrics
    assert pydicom.uid.RLELossless in syntaxes and pydicom.uid.ExplicitVRBigEndian in syntaxes


@pytest.mark.parametrize("label", [f.label for f in OTHERS])
def test_region_kept_rest_blank_any_encoding(tmp_path: Path, label: str) -> None:
    entry = next(f for f in OTHERS if f.label == label)
    source = materialise(entry, tmp_path / "in")
    original = _read(source)
    rows, columns = int(original.Rows), int(original.Columns)
    x0, y0, x1, y1 = 2, 3, columns - 4, rows - 5
    target = tmp_path / "out.dcm"
    deidentify_file(source, target, DeidOptions(key=KEY, region=(x0, y0, x1, y1)))
    result = _read(target)
    assert result.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    before, after = original.pixel_array, result.pixel_array
    assert before.shape == after.shape
    inside = (Ellipsis, slice(y0, y1), slice(x0, x1)) if original.SamplesPerPixel == 1 else \
        (Ellipsis, slice(y0, y1), slice(x0, x1), slice(None))
    outside = np.ones(after.shape, dtype=bool)
    outside[inside] = False
    assert np.array_equal(after[inside], before[inside])
    assert not after[outside].any()
    photometric = str(original.PhotometricInterpretation)
    if photometric.startswith("YBR"):
        assert result.PhotometricInterpretation == "RGB" and result.PlanarConfiguration == 0
    else:
        assert result.PhotometricInterpretation == photometric
    if photometric == "PALETTE COLOR":  # the palette tables survive, read in each file's own byte order
        big_endian = not original.original_encoding[1]
        tables = [e.keyword for e in original if e.keyword.endswith("PaletteColorLookupTableData")]
        assert tables
        for keyword in tables:
            source_table = np.frombuffer(original[keyword].value, ">u2" if big_endian else "<u2")
            assert np.array_equal(np.frombuffer(result[keyword].value, "<u2"), source_table), keyword
        if not big_endian:  # pydicom reads palettes of big endian files as little endian: compared above
            rgb = (Ellipsis, slice(y0, y1), slice(x0, x1), slice(None))
            assert np.array_equal(apply_color_lut(after, result)[rgb], apply_color_lut(before, original)[rgb])
    assert result.BurnedInAnnotation == "NO"
    assert "113101" in {item.CodeValue for item in result.DeidentificationMethodCodeSequence}


def test_keep_pixels_leaves_pixels_and_burned_in_flag(tmp_path: Path) -> None:
    entry = next(f for f in OTHERS if f.label == "data/US1_UNCR.dcm")  # no ultrasound regions
    source = materialise(entry, tmp_path / "in")
    deidentify_file(source, tmp_path / "o.dcm", DeidOptions(key=KEY, clean_pixels=False))
    original, result = _read(source), _read(tmp_path / "o.dcm")
    assert np.array_equal(result.pixel_array, original.pixel_array)
    assert result.get("BurnedInAnnotation") == original.get("BurnedInAnnotation")
    assert "113101" not in {item.CodeValue for item in result.DeidentificationMethodCodeSequence}
    assert result.PatientIdentityRemoved == "YES" and result.PatientID != original.PatientID


def test_absurd_frame_size_refused_before_decoding(tmp_path: Path) -> None:
    entry = next(f for f in OTHERS if f.label == "data/US1_UNCR.dcm")
    ds = _read(materialise(entry, tmp_path / "in"))
    ds.NumberOfFrames = 10**9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(tmp_path / "huge.dcm")
    with pytest.raises(ClipError, match="Number of Frames"):
        deidentify_file(tmp_path / "huge.dcm", tmp_path / "o.dcm", DeidOptions(key=KEY, region=(0, 0, 10, 10)))
    assert not (tmp_path / "o.dcm").exists()


def test_big_endian_palette_gives_the_little_endian_twins_colours(tmp_path: Path) -> None:
    """OBXXXX1A_expb.dcm is OBXXXX1A.dcm in big endian: the output's colours are the little endian file's."""
    twin = _read(materialise(next(f for f in OTHERS if f.label == "data/OBXXXX1A.dcm"), tmp_path / "le"))
    source = materialise(next(f for f in OTHERS if f.label == "data/OBXXXX1A_expb.dcm"), tmp_path / "be")
    box = (0, 0, int(twin.Columns), int(twin.Rows))
    deidentify_file(source, tmp_path / "o.dcm", DeidOptions(key=KEY, region=box))
    result = _read(tmp_path / "o.dcm")
    assert np.array_equal(apply_color_lut(result.pixel_array, result), apply_color_lut(twin.pixel_array, twin))
