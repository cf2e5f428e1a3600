"""Dual-display detection on synthetic clips whose CEUS half is known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from io_testdata import write_us

from ceuskit.io import open_clip
from ceuskit.io.layout import detect_layout, find_dark_band

N, ROWS, COLUMNS = 20, 60, 130
LEFT, RIGHT = (4, 6, 62, 56), (68, 6, 126, 56)  # x0, y0, x1, y1 exclusive; dark band at columns 62–67


def _dual_frames(ceus_left: bool) -> np.ndarray:
    """B-mode half: fixed speckle; CEUS half: dark, then brightening as contrast arrives (ground truth)."""
    rng = np.random.default_rng(3)
    bmode = rng.integers(60, 200, size=(LEFT[3] - LEFT[1], LEFT[2] - LEFT[0]), dtype=np.uint8)
    frames = np.zeros((N, ROWS, COLUMNS), dtype=np.uint8)
    for k in range(N):
        ceus = np.clip(rng.integers(0, 30, size=bmode.shape) + 8 * k, 0, 255).astype(np.uint8)
        left, right = (ceus, bmode) if ceus_left else (bmode, ceus)
        frames[k, LEFT[1]:LEFT[3], LEFT[0]:LEFT[2]] = left
        frames[k, RIGHT[1]:RIGHT[3], RIGHT[0]:RIGHT[2]] = right
    return frames


@pytest.mark.parametrize("ceus_left", [True, False])
def test_two_dicom_regions(tmp_path: Path, ceus_left: bool) -> None:
    spacing = (0.02, 0.03)  # cm per pixel: left region 0.2 mm, right region 0.3 mm
    path = write_us(tmp_path / "dual.dcm", _dual_frames(ceus_left), FrameTime="100",
                    regions=[(LEFT, spacing[0], 1), (RIGHT, spacing[1], 1)])
    with open_clip(path) as clip:
        assert clip.layout == "dual"
        assert clip.ceus_region.box == (LEFT if ceus_left else RIGHT)
        assert clip.bmode_region is not None and clip.bmode_region.box == (RIGHT if ceus_left else LEFT)
        expected_mm = 10 * (spacing[0] if ceus_left else spacing[1])
        assert clip.pixel_spacing_mm == pytest.approx((expected_mm, expected_mm))
    with open_clip(path, layout="dual-right-ceus" if ceus_left else "dual-left-ceus") as clip:
        assert clip.ceus_region.box == (RIGHT if ceus_left else LEFT)
    with open_clip(path, layout="single") as clip:
        assert clip.layout == "single" and clip.bmode_region is None


@pytest.mark.parametrize("ceus_left", [True, False])
def test_dark_band_without_regions(tmp_path: Path, ceus_left: bool) -> None:
    np.save(tmp_path / "dual.npy", _dual_frames(ceus_left))
    with open_clip(tmp_path / "dual.npy", fps=10) as clip:
        assert clip.layout == "dual"
        assert clip.ceus_region.box == (LEFT if ceus_left else RIGHT)
        assert clip.bmode_region is not None and clip.bmode_region.box == (RIGHT if ceus_left else LEFT)


def test_single_image_box_is_the_non_black_area(tmp_path: Path) -> None:
    frames = np.zeros((5, 80, 100), dtype=np.uint8)
    frames[:, 12:70, 20:85] = 90  # the ultrasound image
    frames[:, 2:5, 2:30] = 255    # a line of burned-in text, not part of the image
    np.save(tmp_path / "single.npy", frames)
    with open_clip(tmp_path / "single.npy", fps=10) as clip:
        assert clip.layout == "single"
        assert clip.ceus_region.box == (20, 12, 85, 70)
        assert clip.ceus_region.kind == "detected"


def test_no_band_in_a_centred_sector() -> None:
    yy, xx = np.mgrid[0:100, 0:120]
    sector = ((xx - 60) ** 2 + yy**2 < 90**2) & (np.abs(xx - 60) < yy * 0.9)
    frame = np.where(sector, 120.0, 0.0).astype(np.float32)
    assert find_dark_band([frame]) is None
    regions, layout = detect_layout((), [frame])
    assert layout == "single" and regions[0].role == "ceus"
