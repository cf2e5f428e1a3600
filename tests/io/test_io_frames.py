"""Frame folders and NumPy arrays: order, timing and pixels as written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ceuskit.errors import ClipError
from ceuskit.io import open_clip

FRAMES = np.random.default_rng(5).integers(0, 256, size=(12, 16, 20), dtype=np.uint8)


def test_folder_in_natural_order(tmp_path: Path) -> None:
    for k, frame in enumerate(FRAMES):
        Image.fromarray(frame).save(tmp_path / f"frame{k}.png" if k % 2 else tmp_path / f"frame{k}.tif")
    with pytest.raises(ClipError, match="give the frame rate with --fps"):
        open_clip(tmp_path)
    with open_clip(tmp_path, fps=8) as clip:
        assert clip.n_frames == 12  # frame10 and frame11 come after frame9, not after frame1
        np.testing.assert_allclose(clip.times, np.arange(12) / 8)
        for k in (1, 2, 9, 10, 11):
            np.testing.assert_array_equal(clip.frame(k), FRAMES[k])


def test_npy_is_memory_mapped(tmp_path: Path) -> None:
    np.save(tmp_path / "c.npy", FRAMES)
    with open_clip(tmp_path / "c.npy", fps=4) as clip:
        assert isinstance(clip.frames._array, np.memmap)
        np.testing.assert_array_equal(clip.frame(7), FRAMES[7])
        assert clip.duration_s == pytest.approx(11 / 4)


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_with_times(tmp_path: Path, compressed: bool) -> None:
    times = np.cumsum(np.r_[0, np.linspace(0.05, 0.2, 11)])
    rgb = np.repeat(FRAMES[..., None], 3, axis=3)
    (np.savez_compressed if compressed else np.savez)(tmp_path / "c.npz", frames=rgb, times_s=times)
    with open_clip(tmp_path / "c.npz") as clip:
        np.testing.assert_allclose(clip.times, times)
        np.testing.assert_allclose(clip.frame(4), FRAMES[4], atol=1e-3)  # grey RGB: luminance = the grey
        assert clip.info["timing_source"] == "times_s"


def test_npz_problems(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", pictures=FRAMES)
    with pytest.raises(ClipError, match="no 'frames' array"):
        open_clip(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", frames=FRAMES)
    with pytest.raises(ClipError, match="give the frame rate with --fps"):
        open_clip(tmp_path / "b.npz")
    np.save(tmp_path / "c.npy", FRAMES[0])
    with pytest.raises(ClipError, match="must have shape"):
        open_clip(tmp_path / "c.npy", fps=1)
