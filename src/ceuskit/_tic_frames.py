"""What :func:`ceuskit.tic.extract_tics` keeps of each frame as the clip is read: ROI surroundings and features.

Each frame's ROI surroundings are kept as uint8 grey (with their invalid pixels, once there are some) and the
search area's tracking features as float16. The per-frame work runs on the reading thread while other threads
decode the next frames, so it is kept lean: one compiled pass per ROI, and the search area handed over as a
view where it lies wholly inside the image and carries echo everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

from ceuskit.pixels import Box, GreyReader

__all__ = ["FeatureStack", "RoiStore", "clip_box", "grey_reader", "search_area", "shared_cover", "union"]


@njit(cache=True, nogil=True)
def _stored_grey(grey: np.ndarray, echo: np.ndarray, out: np.ndarray, bad: np.ndarray
                 ) -> bool:  # pragma: no cover - compiled
    """Write ``grey`` rounded to uint8 into ``out`` and its invalid pixels into ``bad``; return whether any is.

    Rounding is numpy's ``rint(clip(nan_to_num(grey), 0, 255))`` (NaN → 0, half to even); a pixel is invalid
    where ``echo`` is False or ``grey`` is not finite.
    """
    rows, columns = grey.shape
    found = False
    for y in range(rows):
        for x in range(columns):
            v = grey[y, x]
            finite = np.isfinite(v)
            if not finite and np.isnan(v):
                v = np.float32(0.0)
            if v < 0:
                v = np.float32(0.0)
            elif v > 255:
                v = np.float32(255.0)
            out[y, x] = np.uint8(np.rint(v))
            wrong = not finite or not echo[y, x]
            bad[y, x] = wrong
            found = found or wrong
    return found


@dataclass
class RoiStore:
    """One ROI: its mask in its bounding box, and every frame's grey around it (the box ± the search radius)."""

    name: str
    box: Box
    mask: np.ndarray
    store_box: Box
    grey: np.ndarray  # (n, h, w) uint8
    invalid: np.ndarray | None = None  # (n, h, w) bool, only once some pixel was invalid

    def put(self, k: int, grey: np.ndarray, echo: np.ndarray, scratch: np.ndarray) -> None:
        """Store frame k's grey of the store box (float32, NaN off the map) and where it carries no echo.

        ``echo`` is the store box's part of the frame's echo mask; ``scratch`` a bool array of the box's shape.
        """
        if _stored_grey(grey, echo, self.grey[k], scratch):
            if self.invalid is None:
                self.invalid = np.zeros(self.grey.shape, dtype=bool)
            self.invalid[k] = scratch


@dataclass
class FeatureStack:
    """Every frame's tracking features and, once some pixel was invalid, their validity.

    Features are float16: smoothed grey needs no more.
    """

    values: np.ndarray  # (n, H, W) float16
    valid: np.ndarray | None = None  # (n, H, W) bool, allocated at the first invalid pixel

    def put(self, k: int, values: np.ndarray, valid: np.ndarray) -> None:
        """Store frame k's features and their validity."""
        self.values[k] = values
        if self.valid is None and not valid.all():
            self.valid = np.ones(self.values.shape, dtype=bool)
        if self.valid is not None:
            self.valid[k] = valid

    def validity(self) -> np.ndarray:
        """Return the validity of every frame's features (a broadcast True while all are valid)."""
        return self.valid if self.valid is not None else np.broadcast_to(np.True_, self.values.shape)


def union(boxes: list[Box]) -> Box:
    """Return the smallest box holding all of ``boxes``."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def clip_box(box: Box, limit: Box) -> Box | None:
    """Return ``box`` cut to ``limit``; None when nothing is left."""
    x0, y0, x1, y1 = max(box[0], limit[0]), max(box[1], limit[1]), min(box[2], limit[2]), min(box[3], limit[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def shared_cover(boxes: list[Box]) -> Box | None:
    """Return one box whose grey serves all of ``boxes`` (each frame converted once).

    Only when it is no larger than the boxes together; None when converting each box on its own costs less
    (ROIs far apart).
    """
    cover = union(boxes)
    return cover if _area(cover) <= sum(_area(b) for b in boxes) else None


def grey_reader(pixels: np.ndarray, origin: tuple[int, int], display: GreyReader, cover: Box | None
                ) -> Callable[[Box], np.ndarray]:
    """Return a reader of the grey of a box (frame coordinates).

    Boxes inside ``cover`` come from its grey, converted once; without a cover any box is converted on demand.
    ``pixels`` is the part of the frame whose top-left corner is ``origin`` (x, y).
    """
    ox, oy = origin
    if cover is None:
        return lambda b: display.to_grey(pixels[b[1] - oy:b[3] - oy, b[0] - ox:b[2] - ox])
    cx0, cy0, cx1, cy1 = cover
    grey = display.to_grey(pixels[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox])
    return lambda b: grey[b[1] - cy0:b[3] - cy0, b[0] - cx0:b[2] - cx0]


def search_area(grey_of: Callable[[Box], np.ndarray], box: Box, inside: Box | None, exclude: np.ndarray | None,
                all_valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the grey of ``box`` (which may reach past the image) and its validity.

    Valid: inside ``inside`` (the box cut to the tracking region), finite, not excluded. Where the box lies
    inside and every pixel is valid, the grey is ``grey_of``'s own array and the validity ``all_valid`` (a
    True array of the box's shape, shared: neither may be written to).
    """
    x0, y0, x1, y1 = box
    if inside == box and exclude is None:
        grey = grey_of(box)
        if bool(np.isfinite(grey).all()):
            return grey, all_valid
    crop = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    valid = np.zeros(crop.shape, dtype=bool)
    if inside is not None:
        lx0, ly0, lx1, ly1 = inside
        grey = grey_of(inside)
        good = np.isfinite(grey)
        if exclude is not None:
            good &= ~exclude[ly0:ly1, lx0:lx1]
        crop[ly0 - y0:ly1 - y0, lx0 - x0:lx1 - x0] = np.where(good, grey, 0.0)
        valid[ly0 - y0:ly1 - y0, lx0 - x0:lx1 - x0] = good
    return crop, valid
