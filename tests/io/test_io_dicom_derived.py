"""Encodings not found among the real US files, derived here from known pixels.

Expected values: the pixels written (lossless encodings), DICOM PS3.3 C.7.6.3.1.2 for MONOCHROME1
(white = 0), and pydicom's own decoding for YBR_FULL.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_testdata import discover_us_files, write_us
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import convert_color_space, pixel_array
from pydicom.uid import JPEGBaseline8Bit, RLELossless

from ceuskit.io import open_clip

LUMA = np.array([0.299, 0.587, 0.114])


def _rgb_frames(n: int = 3, rows: int = 24, columns: int = 32) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, size=(n, rows, columns, 3), dtype=np.uint8)


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    frames = _rgb_frames()[..., 0]
    path = write_us(tmp_path / "m1.dcm", frames, PhotometricInterpretation="MONOCHROME1", FrameTime="50")
    with open_clip(path) as clip:
        for k in range(3):
            np.testing.assert_array_equal(clip.frame(k), 255.0 - frames[k])  # PS3.3: MONOCHROME1 0 = white


def test_rle_rgb_matches_written_pixels(tmp_path: Path) -> None:
    frames = _rgb_frames()
    native = write_us(tmp_path / "rgb.dcm", frames, FrameTime="40")
    ds = pydicom.dcmread(native)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    ds.save_as(tmp_path / "rle.dcm")
    with open_clip(tmp_path / "rle.dcm") as clip:
        assert clip.info["transfer_syntax"] == "RLE Lossless"
        for k in range(3):
            np.testing.assert_allclose(clip.frame(k), frames[k].astype(float) @ LUMA, atol=1e-3)


@pytest.mark.parametrize("planar", [0, 1])
def test_native_ybr_full_converted_as_pydicom(tmp_path: Path, planar: int) -> None:
    ybr = convert_color_space(_rgb_frames(), "RGB", "YBR_FULL")
    data = ybr.transpose(0, 3, 1, 2).tobytes() if planar else ybr.tobytes()
    path = write_us(tmp_path / "ybr.dcm", ybr, pixel_data=data, PhotometricInterpretation="YBR_FULL",
                    PlanarConfiguration=planar, FrameTime="40")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [pixel_array(path, index=k).astype(float) @ LUMA for k in range(3)]
    with open_clip(path) as clip:
        for k in range(3):
            np.testing.assert_allclose(clip.frame(k), expected[k], atol=1e-3)


def _jpeg_source() -> Path:
    entry = next(e for e in discover_us_files() if e.label.endswith("color3d_jpeg_baseline.dcm"))
    return entry.path


@pytest.mark.parametrize("has_bot", [True, False])
def test_jpeg_frames_split_over_fragments(tmp_path: Path, has_bot: bool) -> None:
    """Several fragments per frame: grouped by the Basic Offset Table, or by JPEG end-of-image markers."""
    ds = pydicom.dcmread(_jpeg_source())
    ds.NumberOfFrames = 6
    frames = list(generate_frames(ds.PixelData, number_of_frames=120))[:6]
    ds.PixelData = encapsulate(frames, fragments_per_frame=3, has_bot=has_bot)
    ds.save_as(tmp_path / "frag.dcm")
    with open_clip(_jpeg_source()) as original, open_clip(tmp_path / "frag.dcm") as clip:
        assert clip.n_frames == 6 and clip.info["transfer_syntax"] == JPEGBaseline8Bit.name
        for k in (0, 3, 5):
            np.testing.assert_array_equal(clip.frame(k), original.frame(k))


def test_big_endian_16bit_grey(tmp_path: Path) -> None:
    frames = (_rgb_frames()[..., 0].astype(np.uint16) * 16)  # 12-bit values
    path = write_us(tmp_path / "be.dcm", frames, pixel_data=frames.astype(">u2").tobytes(),
                    transfer_syntax=pydicom.uid.ExplicitVRBigEndian, BitsAllocated=16, BitsStored=12, HighBit=11,
                    FrameTime="40")
    with open_clip(path) as clip:
        assert clip.max_value == 4095
        np.testing.assert_allclose(clip.frame(2), frames[2] * (255 / 4095), rtol=1e-6)
