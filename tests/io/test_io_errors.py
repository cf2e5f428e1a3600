"""Broken or foreign input gives a ClipError whose one-line message says what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_testdata import discover_us_files, write_us
from PIL import Image

from ceuskit.errors import ClipError, InputError
from ceuskit.io import open_clip

FRAMES = np.arange(3 * 8 * 10, dtype=np.uint8).reshape(3, 8, 10)


def _real(name: str) -> Path:
    return next(e.path for e in discover_us_files() if e.label.endswith("/" + name))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ClipError, match="nope.dcm: no such file"):
        open_clip(tmp_path / "nope.dcm")


@pytest.mark.parametrize(("name", "cut"), [("ultrasound-multiframe.dcm", 0.6), ("color3d_jpeg_baseline.dcm", 0.5)])
def test_truncated_file(tmp_path: Path, name: str, cut: float) -> None:
    data = _real(name).read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(ClipError, match="truncated"):
        open_clip(tmp_path / "cut.dcm")


def test_png_renamed_dcm(tmp_path: Path) -> None:
    Image.fromarray(FRAMES[0]).save(tmp_path / "image.png")
    (tmp_path / "image.png").rename(tmp_path / "image.dcm")
    with pytest.raises(ClipError, match="a single image is not a clip"):
        open_clip(tmp_path / "image.dcm")


def test_text_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("patient notes, not a clip\n" * 20)
    with pytest.raises(ClipError, match="not a clip ceuskit can read; accepted: DICOM"):
        open_clip(tmp_path / "notes.txt")


def test_missing_timing_mentions_display_rate(tmp_path: Path) -> None:
    path = write_us(tmp_path / "t.dcm", FRAMES, RecommendedDisplayFrameRate=25)
    with pytest.raises(ClipError, match=r"no frame timing in the file \(it only recommends .*give the frame rate"):
        open_clip(path)
    with open_clip(path, fps=20) as clip:  # the explicit rate is used when the file states none
        np.testing.assert_allclose(clip.times, [0, 0.05, 0.1])
        assert clip.info["timing_source"] == "fps"


@pytest.mark.parametrize("elements", [{"FrameTime": "0"}, {"FrameTime": "-40"}, {"CineRate": "0"},
                                      {"FrameTimeVector": ["0", "40", "0"]}])
def test_zero_or_negative_timing(tmp_path: Path, elements: dict[str, object]) -> None:
    path = write_us(tmp_path / "z.dcm", FRAMES, **elements)
    with pytest.raises(ClipError, match="give the frame rate with --fps"):
        open_clip(path)


def test_file_timing_wins_over_fps(tmp_path: Path) -> None:
    path = write_us(tmp_path / "ft.dcm", FRAMES, FrameTime="40")
    with open_clip(path, fps=10) as clip:
        np.testing.assert_allclose(clip.times, [0, 0.04, 0.08])  # Frame Time 40 ms, not 1/10 s
        assert "ignored" in " ".join(clip.info["warnings"])


def test_more_frames_declared_than_stored(tmp_path: Path) -> None:
    path = write_us(tmp_path / "n.dcm", FRAMES, NumberOfFrames=5, FrameTime="40")
    with pytest.raises(ClipError, match="Number of Frames is 5 but the pixel data holds only 3"):
        open_clip(path)


def test_more_frames_declared_than_compressed(tmp_path: Path) -> None:
    ds = pydicom.dcmread(_real("examples_ybr_color.dcm"))
    ds.NumberOfFrames = 31
    ds.save_as(tmp_path / "j.dcm")
    with pytest.raises(ClipError, match="Number of Frames is 31 but the pixel data holds only 30"):
        open_clip(tmp_path / "j.dcm")


@pytest.mark.parametrize("elements", [{"Rows": 65535, "Columns": 65535}, {"NumberOfFrames": 10_000_000}])
def test_absurd_dimensions_refused_before_decoding(tmp_path: Path, elements: dict[str, object]) -> None:
    path = write_us(tmp_path / "big.dcm", FRAMES, FrameTime="40", **elements)
    with pytest.raises(ClipError, match="the header is corrupt"):
        open_clip(path)


def test_no_pixel_data(tmp_path: Path) -> None:
    path = write_us(tmp_path / "p.dcm", FRAMES, FrameTime="40")
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(ClipError, match="no pixel data"):
        open_clip(path)


def test_other_modality_is_read_with_a_warning(tmp_path: Path) -> None:
    path = write_us(tmp_path / "ct.dcm", FRAMES, FrameTime="40", Modality="CT",
                    SOPClassUID="1.2.840.10008.5.1.4.1.1.2")
    with open_clip(path) as clip:
        assert clip.n_frames == 3
        assert "not ultrasound" in clip.info["warnings"][0]


def test_bad_options(tmp_path: Path) -> None:
    path = write_us(tmp_path / "o.dcm", FRAMES, FrameTime="40")
    with pytest.raises(InputError, match="layout 'triple'"):
        open_clip(path, layout="triple")
    with pytest.raises(InputError, match="frame rate"):
        open_clip(path, fps=0)
