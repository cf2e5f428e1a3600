"""Frames handed out cut to a box are exactly the same part of the whole frames, from every kind of source; frames
read by several threads at once are those one thread reads."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from io_testdata import write_mp4, write_us
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit

from ceuskit.io import open_clip
from ceuskit.io.readahead import read_ahead_split
from ceuskit.pixels import reads_concurrently

RNG = np.random.default_rng(11)
FRAMES = RNG.integers(0, 256, size=(4, 40, 56, 3), dtype=np.uint8)
BOXES = [(0, 0, 56, 40), (3, 5, 29, 31), (17, 9, 56, 40), (0, 39, 1, 40)]


def _jpeg_dicom(path: Path, frames: np.ndarray) -> Path:
    fragments = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=85)
        fragments.append(buffer.getvalue())
    return write_us(path, frames, transfer_syntax=JPEGBaseline8Bit, pixel_data=encapsulate(fragments),
                    PhotometricInterpretation="YBR_FULL_422", FrameTime="100")


def _assert_cut_like_whole(path: Path, **kwargs: object) -> None:
    with open_clip(path, **kwargs) as clip:
        whole = list(clip.frames.iterate(0, clip.n_frames))
        assert len(whole) == clip.n_frames
        for x0, y0, x1, y1 in BOXES:
            x1, y1 = min(x1, clip.columns), min(y1, clip.rows)
            cut = list(clip.frames.iterate(0, clip.n_frames, (x0, y0, x1, y1)))
            for frame, part in zip(whole, cut, strict=True):
                np.testing.assert_array_equal(part, frame[y0:y1, x0:x1])  # pixels and shape alike


def test_jpeg_dicom_frames_cut_before_conversion(tmp_path: Path) -> None:
    path = _jpeg_dicom(tmp_path / "jpeg.dcm", FRAMES)
    with open_clip(path) as clip:
        assert clip.frames._pillow  # the path that cuts before converting
    _assert_cut_like_whole(path)


@pytest.mark.parametrize("rgb", [True, False])
def test_native_dicom_frames(tmp_path: Path, rgb: bool) -> None:
    _assert_cut_like_whole(write_us(tmp_path / "native.dcm", FRAMES if rgb else FRAMES[..., 0], FrameTime="100"))


def test_array_and_folder_frames(tmp_path: Path) -> None:
    np.save(tmp_path / "c.npy", FRAMES)
    _assert_cut_like_whole(tmp_path / "c.npy", fps=4)
    folder = tmp_path / "frames"
    folder.mkdir()
    for k, frame in enumerate(FRAMES):
        Image.fromarray(frame).save(folder / f"f{k}.png")
    _assert_cut_like_whole(folder, fps=4)


def test_video_frames(tmp_path: Path) -> None:
    _assert_cut_like_whole(write_mp4(tmp_path / "v.mp4", n_frames=4, size_px=48))


def test_a_box_reaching_past_the_frame_is_cut_at_its_edge(tmp_path: Path) -> None:
    with open_clip(_jpeg_dicom(tmp_path / "jpeg.dcm", FRAMES)) as clip:
        whole = next(clip.frames.iterate(0, 1))
        part = next(clip.frames.iterate(0, 1, (40, 30, 80, 60)))
    np.testing.assert_array_equal(part, whole[30:, 40:])


def _read_by_threads(path: Path, box: tuple[int, int, int, int] | None, **kwargs: object) -> None:
    """Frames read by several threads at once, each its own runs, are those one thread reads in order."""
    many = np.concatenate([FRAMES] * 8)  # 32 frames: runs of 3 over 4 threads
    with open_clip(path, **kwargs) as clip:
        alone = list(clip.frames.iterate(0, clip.n_frames, box))
        assert reads_concurrently(clip.frames)
        with read_ahead_split(lambda a, b: clip.frames.iterate(a, b, box), 0, clip.n_frames, depth=5, workers=4,
                              run=3) as frames:
            together = list(frames)
    assert len(alone) == len(many)
    for one, other in zip(alone, together, strict=True):
        np.testing.assert_array_equal(one, other)


@pytest.mark.parametrize("box", [None, (3, 5, 29, 31)])
def test_jpeg_and_native_dicom_frames_read_by_several_threads(tmp_path: Path, box: tuple[int, int, int, int] | None
                                                               ) -> None:
    many = np.concatenate([FRAMES] * 8)
    _read_by_threads(_jpeg_dicom(tmp_path / "jpeg.dcm", many), box)
    _read_by_threads(write_us(tmp_path / "native.dcm", many, FrameTime="100"), box)


def test_array_and_folder_frames_read_by_several_threads(tmp_path: Path) -> None:
    many = np.concatenate([FRAMES] * 8)
    np.save(tmp_path / "c.npy", many)
    _read_by_threads(tmp_path / "c.npy", None, fps=4)
    folder = tmp_path / "frames"
    folder.mkdir()
    for k, frame in enumerate(many):
        Image.fromarray(frame).save(folder / f"f{k}.png")
    _read_by_threads(folder, (3, 5, 29, 31), fps=4)


def test_a_video_is_read_by_one_thread(tmp_path: Path) -> None:
    with open_clip(write_mp4(tmp_path / "v.mp4", n_frames=4, size_px=48)) as clip:
        assert not reads_concurrently(clip.frames)  # one running decoder
