"""Burned-in overlays inside the image region: the pixels that are not echo.

Scanners burn text and graphics into the image they record: an elapsed-time counter that changes every
second, the mechanical index, markers (+, ×), calliper dots and lines, in white, grey or colour.  None of it
is echo, so it must stay out of TICs and tracking.  What tells an overlay pixel from echo:

* contrast speckle decorrelates every frame, while an overlay pixel holds exactly the same value over runs
  of consecutive frames;
* an overlay is much brighter than the changing image around it (``min_contrast`` grey levels above the
  mean of the neighbouring pixels that change), or on a colour display off the map altogether;
* or it holds a bright value (≥ 128) in most runs while the image around it changes (grey text over bright
  contrast, where it is not much brighter);
* a pixel held at the display maximum counts only where the changing image around it does not reach the
  maximum too (a saturated lesion clips many of its pixels, each by chance in some frames);
* it is seen so in at least ``min_runs`` runs sampled over the clip (pixels seen in one run join it when
  they touch such a pixel: the counter's strokes change with the digits).

Dark, constant image (grey 0 before the contrast arrives) is not brighter than anything; a saturated lesion
(speckle clipped at the display maximum) holds 255 only by chance and is no brighter than its bright
surroundings; static tissue before the contrast arrives has no changing neighbourhood to stand out from.
None of them is called an overlay.  Limits: an overlay darker than the image, or one drawn in a colour of
the map over image of the same brightness, is not found; a B-mode image whose tissue does not move at all
gives no changing neighbourhood, so only off-map overlays are found there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit
from scipy import ndimage

from ceuskit.pixels import Box, RawClip, reads_concurrently
from ceuskit.preprocess.display import DisplayMap, display_map_of, sample_runs

__all__ = ["BackgroundOverlays", "detect_overlays", "overlay_mask"]


MIN_CONTRAST = 64.0
"""Grey levels an overlay pixel stands above the mean of the changing pixels around it."""

NEIGHBOURHOOD_PX = 15
"""Side of the square neighbourhood an overlay pixel is compared with."""

MIN_CHANGING = 0.3
"""Fraction of a pixel's neighbourhood that must change during a run for its brightness to count."""

PERSISTENT_GREY = 128.0
"""A pixel held at this grey or brighter …"""

PERSISTENT_SHARE = 0.75
"""… in this share of the runs where its neighbourhood changes is an overlay even without contrast (grey text
over bright contrast; static tissue in contrast mode is dimmer)."""

SATURATED_GREY = 254.5
"""Grey index of the display maximum (saturation)."""

MAX_SATURATING = 0.02
"""A pixel held at the display maximum is an overlay only where less than this fraction of the changing
neighbourhood's pixels reach the maximum during the run (a saturated lesion clips many, independently)."""


@njit(cache=True, nogil=True)
def _neighbourhood_sums(changing: np.ndarray, mean: np.ndarray, saturated: np.ndarray, half: int
                        ) -> np.ndarray:  # pragma: no cover - compiled
    """Return the sums over each pixel's (2·half + 1)² square, zero outside the image.

    Of ``changing``, ``mean·changing`` and ``saturated·changing``: a (3, rows, columns) array (three running
    sums side by side).
    """
    rows, columns = changing.shape
    across = np.zeros((3, rows, columns))
    for y in range(rows):
        run0 = run1 = run2 = 0.0
        for x in range(-half, columns + half):
            if x + half < columns:
                c = changing[y, x + half]
                run0 += c
                run1 += mean[y, x + half] * c
                run2 += saturated[y, x + half] * c
            if 0 <= x < columns:
                across[0, y, x], across[1, y, x], across[2, y, x] = run0, run1, run2
            if 0 <= x - half < columns:
                c = changing[y, x - half]
                run0 -= c
                run1 -= mean[y, x - half] * c
                run2 -= saturated[y, x - half] * c
    out = np.zeros((3, rows, columns))
    for j in range(3):
        run_column = np.zeros(columns)
        for y in range(-half, rows + half):
            if y + half < rows:
                run_column += across[j, y + half]
            if 0 <= y < rows:
                out[j, y] = run_column
            if 0 <= y - half < rows:
                run_column -= across[j, y - half]
    return out


@njit(cache=True, nogil=True)
def _pixel_evidence(run: np.ndarray, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                                 np.ndarray, np.ndarray]:  # pragma: no cover
    """Per pixel of a (k, rows, columns, samples) run and its (k, rows, columns) grey.

    Returns held (the same value in every frame), finite (on the map in every frame), off_map (held and on
    the map in none), the mean grey over the run (float32, 0 where not finite), the share of frames at the
    display maximum and whether the pixel changes (not held, finite), as float.
    """
    k, rows, columns, samples = run.shape
    held = np.empty((rows, columns), dtype=np.bool_)
    finite = np.empty((rows, columns), dtype=np.bool_)
    off_map = np.empty((rows, columns), dtype=np.bool_)
    mean = np.empty((rows, columns), dtype=np.float32)
    saturated = np.empty((rows, columns))
    changing = np.empty((rows, columns))
    for y in range(rows):
        for x in range(columns):
            same = True
            for f in range(1, k):
                for c in range(samples):
                    if run[f, y, x, c] != run[0, y, x, c]:
                        same = False
            all_finite = True
            any_finite = False
            total = np.float32(0.0)
            at_max = 0
            for f in range(k):
                g = grey[f, y, x]
                if np.isfinite(g):
                    any_finite = True
                else:
                    all_finite = False
                total += g
                if g >= SATURATED_GREY:
                    at_max += 1
            held[y, x] = same
            finite[y, x] = all_finite
            off_map[y, x] = same and not any_finite
            mean[y, x] = total / np.float32(k) if all_finite else np.float32(0.0)
            saturated[y, x] = at_max / k
            changing[y, x] = 1.0 if (all_finite and not same) else 0.0
    return held, finite, off_map, mean, saturated, changing


def _run_evidence(run: np.ndarray, display: DisplayMap, min_contrast: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tell what one run of (k, rows, columns[, 3]) frames says about each pixel, as three (rows, columns) bools.

    Returns
    -------
    overlay : held and off the map, or held and ``min_contrast`` above the changing neighbourhood.
    bright_held : held at a bright grey (≥ :data:`PERSISTENT_GREY`) among changing pixels.
    evaluable : enough of the neighbourhood changes for a held pixel to stand out.
    """
    grey = np.stack([display.to_grey(frame) for frame in run])
    samples = run if run.ndim == 4 else run[..., None]
    held, finite, off_map, mean, saturated, changing = _pixel_evidence(np.ascontiguousarray(samples), grey)
    if run.shape[0] < 2:
        return off_map, np.zeros_like(held), np.zeros_like(held)
    sums = _neighbourhood_sums(changing, mean, saturated, NEIGHBOURHOOD_PX // 2)
    changing_share = sums[0] / float(NEIGHBOURHOOD_PX**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        around, saturating = sums[1] / sums[0], sums[2] / sums[0]
    evaluable = changing_share >= MIN_CHANGING
    candidate = held & finite & evaluable & ((mean < SATURATED_GREY) | (saturating < MAX_SATURATING))
    return off_map | (candidate & (mean - around >= min_contrast)), candidate & (mean >= PERSISTENT_GREY), evaluable


def overlay_mask(runs: Sequence[np.ndarray], display: DisplayMap, *, min_contrast: float = MIN_CONTRAST,
                 min_runs: int = 2, dilate_px: int = 1) -> np.ndarray:
    """Overlay pixels of an image region from runs of consecutive frames.

    Parameters
    ----------
    runs : sequence of (k, rows, columns) or (k, rows, columns, 3) crops of the image region, each ``k ≥ 2``
        consecutive frames (with ``k == 1`` only off-map pixels can be told), spread over the clip.
    display : the region's display map (grey index, NaN off the map).
    min_contrast : grey levels above the changing neighbourhood that make a held pixel an overlay.
    min_runs : runs in which a pixel must look like an overlay.
    dilate_px : the mask is grown by this many pixels (anti-aliased edges, digits not seen in the sample).

    Returns
    -------
    (rows, columns) bool.
    """
    if not runs:
        raise ValueError("runs: at least one run of frames is needed")
    votes = np.zeros(runs[0].shape[1:3], dtype=np.int32)
    persistent = np.zeros_like(votes)
    evaluable = np.zeros_like(votes)
    for run in runs:
        overlay, bright_held, seen_changing = _run_evidence(run, display, min_contrast)
        votes += overlay
        persistent += bright_held
        evaluable += seen_changing
    core = (votes >= min_runs) | (persistent >= np.maximum(min_runs, PERSISTENT_SHARE * evaluable))
    mask: np.ndarray = ndimage.binary_propagation(core, mask=core | (votes >= 1), structure=np.ones((3, 3), dtype=bool))
    if dilate_px > 0 and mask.any():
        mask = ndimage.binary_dilation(mask, structure=np.ones((3, 3), dtype=bool), iterations=dilate_px)
    return mask


def detect_overlays(clip: RawClip, *, box: Box | None = None, display: DisplayMap | None = None, n_runs: int = 24,
                    run_length: int = 3, min_contrast: float = MIN_CONTRAST, min_runs: int = 2,
                    dilate_px: int = 1) -> np.ndarray:
    """Burned-in overlay pixels inside a clip's image region.

    Parameters
    ----------
    clip : the clip.
    box : (x0, y0, x1, y1) of the image region; default the CEUS region.
    display : the region's display map (the caller's, fitted once); default fitted here from the clip.
    n_runs, run_length : runs of consecutive frames sampled over the clip (24 runs of 3 decode 72 frames).
    min_contrast, min_runs, dilate_px : see :func:`overlay_mask`.

    Returns
    -------
    (rows, columns) bool mask of the full frame, True on overlay pixels (inside ``box`` only).
    """
    box = clip.ceus_region.box if box is None else box
    if display is None:
        display = display_map_of(clip, box=box)
    full = np.zeros((clip.rows, clip.columns), dtype=bool)
    _mark(full, sample_runs(clip, n_runs, run_length), box, display, min_contrast, min_runs, dilate_px)
    return full


def _mark(full: np.ndarray, runs: Sequence[np.ndarray], box: Box, display: DisplayMap, min_contrast: float,
          min_runs: int, dilate_px: int) -> None:
    """Mark, in the full-frame mask ``full``, the overlay pixels of the region ``box`` seen in ``runs``."""
    x0, y0, x1, y1 = box
    full[y0:y1, x0:x1] |= overlay_mask([run[:, y0:y1, x0:x1] for run in runs], display, min_contrast=min_contrast,
                                       min_runs=min_runs, dilate_px=dilate_px)


class BackgroundOverlays:
    """:func:`detect_overlays` of one or more image regions of a clip, worked out on a thread.

    The masks are found on a thread while the caller goes on (fits the display maps, reads the clip), and
    :meth:`result` waits for them. The sampled frames are decoded on that thread too where the clip's frames
    can be read by several threads at once (:func:`ceuskit.pixels.reads_concurrently`), else when the object
    is made. The regions share the sampled frames (:func:`detect_overlays` of each region would decode the
    same ones).

    Parameters
    ----------
    clip : RawClip
        The clip.
    regions : sequence of (box, display map), or a function returning it
        Each image region (x0, y0, x1, y1) and its display map. A function is called on the thread once the
        frames are decoded (it may wait for display maps the caller is still fitting).
    n_runs, run_length, min_contrast, min_runs, dilate_px
        As for :func:`detect_overlays`.
    """

    def __init__(self, clip: RawClip, regions: Sequence[tuple[Box, DisplayMap]] | Callable[[], Sequence[tuple[
                 Box, DisplayMap]]], *, n_runs: int = 24, run_length: int = 3, min_contrast: float = MIN_CONTRAST,
                 min_runs: int = 2, dilate_px: int = 1) -> None:
        decoded = None if reads_concurrently(clip.frames) else sample_runs(clip, n_runs, run_length)
        shape = (clip.rows, clip.columns)

        def find() -> np.ndarray:
            runs = sample_runs(clip, n_runs, run_length) if decoded is None else decoded
            full = np.zeros(shape, dtype=bool)
            for box, display in regions() if callable(regions) else regions:
                _mark(full, runs, box, display, min_contrast, min_runs, dilate_px)
            return full

        pool = ThreadPoolExecutor(1, thread_name_prefix="ceuskit-overlays")
        self._mask = pool.submit(find)
        pool.shutdown(wait=False)  # the thread ends with its one task

    def result(self) -> np.ndarray:
        """Return the (rows, columns) bool overlay mask of every region, once found (waits for it).

        Raises
        ------
        Exception
            Whatever finding the masks raised.
        """
        return self._mask.result()
