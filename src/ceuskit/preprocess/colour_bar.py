"""Finding a colour map's bar on the screen: a static strip beside the image whose colours run along it.

A scanner that shows its CEUS image through a colour map usually paints the map as a bar beside the image:
a strip outside the ultrasound region, a few pixels wide, constant across its width, whose colour runs
from the map's first entry at one end to its last at the other.  :func:`find_colour_bars` finds such strips
in frames sampled over a clip and reads each as a :class:`~ceuskit.preprocess.colour_curve.ColourCurve`,
index 0 at its darker end and 255 at its brighter end, linear in between (by the centres of runs of equal
colour; a bar that shows all 256 entries, each in its own run, reads each run's order as its index).  When the map's first entry is
the background colour (black), the bar's dark end is invisible; it is put one run length before the first
visible run, when the clip shows that colour inside the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage, stats

from ceuskit.preprocess.colour_curve import LUMA, ColourCurve, colour_keys

__all__ = ["MIN_BAR_LENGTH_PX", "find_colour_bars"]

Box = tuple[int, int, int, int]

MIN_BAR_LENGTH_PX = 32
"""Shortest bar considered (pixels along its axis)."""

MIN_DISTINCT = 16
"""A bar shows at least this many distinct colours."""

MIN_MONOTONY = 0.95
"""Spearman correlation of luminance with position along a bar, at least (the grey index runs along it)."""


def _runs(colours: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres (positions) and mean colours of runs of equal colour along a (length, 3) profile."""
    change = np.abs(np.diff(colours, axis=0)).max(axis=1) > noise
    starts = np.concatenate([[0], np.flatnonzero(change) + 1])
    stops = np.concatenate([starts[1:], [colours.shape[0]]])
    centres = (starts + stops - 1) / 2.0
    means = np.array([colours[a:b].mean(axis=0) for a, b in zip(starts, stops, strict=True)])
    return centres, means


def _read_strip(profile: np.ndarray, darkest: np.ndarray | None, noise: float) -> ColourCurve | None:
    """Return a bar's curve from its colour profile along its axis, (length, 3); None when it is not a bar.

    ``darkest`` is the darkest map colour the clip shows: when it is darker than the bar's visible dark end,
    the bar's first entry is hidden (it is the background colour) and is put one run before the first
    visible run.
    """
    luminance = profile @ LUMA
    if len(np.unique(np.round(profile), axis=0)) < MIN_DISTINCT:
        return None
    rho = stats.spearmanr(np.arange(luminance.size), luminance).statistic
    if not np.isfinite(rho) or abs(rho) < MIN_MONOTONY:
        return None
    if rho < 0:
        profile = profile[::-1]
    centres, colours = _runs(profile, noise)
    if centres.size < 2:
        return None
    first = centres[0]
    if darkest is not None and np.abs(colours[0] - darkest).max() > noise and darkest @ LUMA < colours[0] @ LUMA:
        first = centres[0] - float(np.median(np.diff(centres)))
        centres, colours = np.concatenate([[first], centres]), np.vstack([darkest, colours])
    if centres.size == 256:  # every entry shown, each in its own run: the run's order is its index
        index = np.arange(256, dtype=np.float64)
    else:
        index = 255.0 * (centres - first) / (centres[-1] - first)
    return ColourCurve(colours.astype(np.float64), index)


def find_colour_bars(frames: Sequence[np.ndarray], box: Box, *, darkest: np.ndarray | None = None,
                     noise: float = 0.0) -> list[tuple[Box, ColourCurve]]:
    """Colour bars outside the ultrasound region, read as curves.

    Parameters
    ----------
    frames : (rows, columns, 3) uint8 RGB frames spread over the clip (at least 2: a bar does not change).
    box : (x0, y0, x1, y1) of the ultrasound image region; bars are searched outside it.
    darkest : (3,) the darkest map colour the clip shows inside the region (a colour that changes from frame
        to frame), or None; it completes a bar whose dark end is the background colour.
    noise : largest channel difference between pixels that show the same colour (0–2 for uncompressed
        frames, more for lossy ones).

    Returns
    -------
    list of (bar box (x0, y0, x1, y1), curve), longest bar first; empty when there is none.
    """
    first = frames[0].astype(np.int16)
    static = np.ones(first.shape[:2], dtype=bool)
    for frame in frames[1:]:
        static &= np.abs(frame.astype(np.int16) - first).max(axis=2) <= noise
    x0, y0, x1, y1 = box
    keys, counts = np.unique(colour_keys(frames[0]).ravel(), return_counts=True)
    key = int(keys[int(np.argmax(counts))])
    background = np.array([key & 255, (key >> 8) & 255, key >> 16], dtype=np.float64)
    candidate = static & (np.abs(first - background).max(axis=2) > noise)
    candidate[max(y0 - 2, 0):y1 + 2, max(x0 - 2, 0):x1 + 2] = False
    labels, _ = ndimage.label(candidate, structure=np.ones((3, 3)))
    found: list[tuple[Box, ColourCurve]] = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        for vertical in (True, False):
            mask = labels[sl] == k
            pixels = first[sl].astype(np.float64)
            if not vertical:
                mask, pixels = mask.T, pixels.transpose(1, 0, 2)
            if mask.shape[0] < MIN_BAR_LENGTH_PX:
                continue
            core = np.flatnonzero(mask.mean(axis=0) >= 0.6)
            if core.size < 2 or core[-1] - core[0] + 1 != core.size:
                continue
            strip = pixels[:, core]
            rows = mask[:, core].all(axis=1) & (np.ptp(strip, axis=1).max(axis=1) <= noise)
            if rows.sum() < max(MIN_BAR_LENGTH_PX, 0.9 * mask.shape[0]):
                continue
            curve = _read_strip(strip[rows].mean(axis=1), darkest, noise)
            if curve is None:
                continue
            r0, c0 = sl[0].start, sl[1].start
            lo, hi = int(np.flatnonzero(rows)[0]), int(np.flatnonzero(rows)[-1]) + 1
            a, b = c0 + int(core[0]), c0 + int(core[-1]) + 1
            bar = (a, r0 + lo, b, r0 + hi) if vertical else (c0 + lo, r0 + int(core[0]), c0 + hi, r0 + int(core[-1]) + 1)
            found.append((bar, curve))
    found.sort(key=lambda item: -max(item[0][2] - item[0][0], item[0][3] - item[0][1]))
    return found
