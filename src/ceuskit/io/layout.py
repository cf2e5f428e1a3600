"""Display layout: which part of the frame is the CEUS image, and is there a B-mode twin beside it.

Scanners show contrast either alone or side by side with the fundamental B-mode image ("dual display").
:func:`detect_layout` decides from the DICOM ultrasound regions when the file has them, else from the
pixels, and gives each region its role (``"ceus"`` or ``"bmode"``).  Every reader calls
:func:`resolve_layout` once the clip's frames can be decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from scipy import ndimage

from ceuskit.errors import InputError
from ceuskit.io.clip import Box, Clip, Region

__all__ = ["LAYOUTS", "detect_layout", "find_dark_band", "image_box", "resolve_layout", "sample_indices"]

LAYOUTS = ("auto", "single", "dual-left-ceus", "dual-right-ceus")
"""Accepted values of the ``layout`` option."""

BLACK_GREY = 12.0
"""Grey at or below which a pixel counts as background (0–255 display grey)."""

SAMPLE_FRAMES = 16
"""Frames sampled over the clip for layout detection."""

FrameSampler = Callable[[], Sequence[np.ndarray]]


def sample_indices(n_frames: int, count: int = SAMPLE_FRAMES) -> list[int]:
    """Return the indices of ``count`` frames spread evenly over a clip of ``n_frames`` (all when fewer)."""
    if n_frames <= count:
        return list(range(n_frames))
    return sorted({int(round(i)) for i in np.linspace(0, n_frames - 1, count)})


def _largest_component_box(mask: np.ndarray, *, min_fraction: float = 0.0) -> Box | None:
    """Bounding box (x0, y0, x1, y1) of the largest connected bright area of ``mask`` (2-D bool)."""
    if not mask.any():
        return None
    padded = np.pad(mask, 3)  # so that closing does not erode areas touching the array's edge
    closed = ndimage.binary_closing(padded, structure=np.ones((5, 5), dtype=bool))[3:-3, 3:-3] | mask
    labels, count = ndimage.label(closed)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    best = int(np.argmax(sizes))
    if sizes[best] < min_fraction * mask.size:
        return None
    rows_slice, cols_slice = ndimage.find_objects(labels)[best]
    return (cols_slice.start, rows_slice.start, cols_slice.stop, rows_slice.stop)


def _max_projection(frames: Sequence[np.ndarray]) -> np.ndarray:
    if not frames:
        raise ValueError("frames: at least one sample frame is needed")
    projection = np.asarray(frames[0], dtype=np.float32).copy()
    for frame in frames[1:]:
        np.maximum(projection, frame, out=projection)
    return projection


def image_box(frames: Sequence[np.ndarray], *, black_grey: float = BLACK_GREY) -> Box:
    """Bounding box of the ultrasound image: the largest non-black area over the sampled frames.

    Parameters
    ----------
    frames : sequence of (rows, columns) grey frames 0–255.
    black_grey : grey at or below which a pixel is background.

    Returns
    -------
    (x0, y0, x1, y1) pixel box, x1/y1 exclusive; the whole frame when nothing is brighter than black.
    """
    projection = _max_projection(frames)
    box = _largest_component_box(projection > black_grey)
    rows, columns = projection.shape
    return box if box is not None else (0, 0, columns, rows)


def find_dark_band(frames: Sequence[np.ndarray], *, black_grey: float = BLACK_GREY, min_width: int = 2,
                   search: tuple[float, float] = (0.3, 0.7), max_bright_fraction: float = 0.03
                   ) -> tuple[Box, Box] | None:
    """Two images side by side separated by a dark vertical band near the middle of the frame.

    A column is dark when at most ``max_bright_fraction`` of its pixels are brighter than ``black_grey``
    in every sampled frame (a few pixels of burned-in text may cross the band).  The band must be at
    least ``min_width`` columns wide, lie within the ``search`` fraction of the width, and each side must
    hold a bright area covering at least 5 % of its half.

    Returns
    -------
    (left_box, right_box) or None when the frame is not a dual display.
    """
    projection = _max_projection(frames)
    rows, columns = projection.shape
    bright = projection > black_grey
    dark = bright.mean(axis=0) <= max_bright_fraction
    lo, hi = int(search[0] * columns), int(np.ceil(search[1] * columns))
    runs: list[tuple[int, int]] = []
    start = None
    for x in range(lo, hi + 1):
        if x < hi and dark[x]:
            start = x if start is None else start
        elif start is not None:
            if x - start >= min_width:
                runs.append((start, x))
            start = None
    if not runs:
        return None
    band = min(runs, key=lambda run: abs((run[0] + run[1]) / 2 - columns / 2))
    left = _largest_component_box(bright[:, :band[0]], min_fraction=0.05)
    right = _largest_component_box(bright[:, band[1]:], min_fraction=0.05)
    if left is None or right is None:
        return None
    right = (right[0] + band[1], right[1], right[2] + band[1], right[3])
    return left, right


def _side_by_side(a: Region, b: Region) -> bool:
    """Return True when the boxes do not overlap horizontally but share most of their rows."""
    left, right = sorted((a, b), key=lambda r: r.box[0])
    vertical_overlap = min(left.box[3], right.box[3]) - max(left.box[1], right.box[1])
    return left.box[2] <= right.box[0] + 1 and vertical_overlap >= 0.5 * min(left.height, right.height)


def _mean_grey(frame: np.ndarray, box: Box) -> float:
    x0, y0, x1, y1 = box
    return float(np.mean(frame[y0:y1, x0:x1]))


def _ceus_is_left(frames: Sequence[np.ndarray], left: Box, right: Box) -> bool:
    """Tell whether the CEUS image is the left one.

    The CEUS image is the one whose mean grey varies more over the clip (contrast arrives in it).

    With fewer than three frames, or when neither half varies (std < 0.5 grey), the darker half is taken:
    contrast-specific imaging suppresses the tissue signal that B-mode shows.
    """
    left_mean = np.array([_mean_grey(f, left) for f in frames])
    right_mean = np.array([_mean_grey(f, right) for f in frames])
    left_std, right_std = float(left_mean.std()), float(right_mean.std())
    if len(frames) >= 3 and max(left_std, right_std) >= 0.5 and left_std != right_std:
        return left_std > right_std
    return float(left_mean.mean()) <= float(right_mean.mean())


def _common_spacing(regions: Sequence[Region]) -> tuple[float, float] | None:
    spacings = {r.spacing_mm for r in regions if r.spacing_mm is not None}
    return spacings.pop() if len(spacings) == 1 else None


def detect_layout(regions: Sequence[Region], sample_frames: Sequence[np.ndarray] | FrameSampler, *,
                  layout: str = "auto") -> tuple[tuple[Region, ...], str]:
    """Give regions their roles and decide between a single and a dual (B-mode | CEUS) display.

    Parameters
    ----------
    regions : display regions from the file (DICOM Sequence of Ultrasound Regions), possibly empty.
    sample_frames : (rows, columns) grey frames 0–255 spread over the clip (see :func:`sample_indices`),
        or a function returning them; it is only called when the pixels are needed.
    layout : "auto" (detect), "single", "dual-left-ceus" or "dual-right-ceus" (override).

    Returns
    -------
    regions : the input regions with roles set, plus any region detected from the pixels.
    layout : "single" or "dual".

    Notes
    -----
    Two 2-D tissue regions side by side, or without regions a frame whose two images are separated by a
    dark vertical band near the middle, make a dual display; the CEUS image is the one whose mean grey
    varies more over time.  A single tissue region is the CEUS image.  Without regions, the bounding box
    of the non-black image area becomes a "detected" CEUS region.
    """
    if layout not in LAYOUTS:
        raise InputError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    cache: list[Sequence[np.ndarray]] = []

    def frames() -> Sequence[np.ndarray]:
        if not cache:
            cache.append(sample_frames() if callable(sample_frames) else sample_frames)
        return cache[0]

    regions = tuple(replace(r, role="") for r in regions)
    tissue_at = [i for i, r in enumerate(regions) if r.kind == "tissue"]
    tissue = [regions[i] for i in tissue_at]
    spacing = _common_spacing(tissue)

    def with_roles(roles: dict[int, str], extra: tuple[Region, ...] = ()) -> tuple[Region, ...]:
        return tuple(replace(r, role=roles.get(i, "")) for i, r in enumerate(regions)) + extra

    if layout == "single":
        if len(tissue) == 1:
            return with_roles({tissue_at[0]: "ceus"}), "single"
        return with_roles({}, (Region(image_box(frames()), spacing, "detected", "ceus"),)), "single"

    if len(tissue) == 2 and _side_by_side(tissue[0], tissue[1]):
        left_at, right_at = sorted(tissue_at, key=lambda i: regions[i].box[0])
        ceus_left = (layout == "dual-left-ceus" or
                     (layout == "auto" and _ceus_is_left(frames(), regions[left_at].box, regions[right_at].box)))
        roles = {left_at: "ceus" if ceus_left else "bmode", right_at: "bmode" if ceus_left else "ceus"}
        return with_roles(roles), "dual"
    if layout == "auto" and tissue:
        largest = max(tissue_at, key=lambda i: regions[i].width * regions[i].height)
        return with_roles({largest: "ceus"}), "single"
    halves = find_dark_band(frames())
    if halves is None and layout != "auto":
        x0, y0, x1, y1 = tissue[0].box if len(tissue) == 1 else image_box(frames())
        middle = (x0 + x1) // 2
        halves = ((x0, y0, middle, y1), (middle, y0, x1, y1))
    if halves is None:
        return with_roles({}, (Region(image_box(frames()), spacing, "detected", "ceus"),)), "single"
    ceus_left = layout == "dual-left-ceus" or (layout == "auto" and _ceus_is_left(frames(), *halves))
    left_role, right_role = ("ceus", "bmode") if ceus_left else ("bmode", "ceus")
    detected = (Region(halves[0], spacing, "detected", left_role), Region(halves[1], spacing, "detected", right_role))
    return with_roles({}, detected), "dual"


def resolve_layout(clip: Clip, regions: Sequence[Region], layout: str = "auto") -> Clip:
    """Return the clip with its regions' roles and layout set by :func:`detect_layout` from sampled frames.

    The clip's pixel spacing becomes the CEUS region's spacing when that region has one; otherwise the
    clip keeps the spacing it was built with (e.g. DICOM Pixel Spacing, or None).
    """
    def sampler() -> list[np.ndarray]:
        return [clip.frame(i) for i in sample_indices(clip.n_frames)]

    with_roles, kind = detect_layout(regions, sampler, layout=layout)
    return clip.with_regions(with_roles, kind)
