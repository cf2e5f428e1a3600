"""Each frame's template — the mean of its neighbours in time — and its match against the frame.

Neighbours are the frames within a time window around a frame, never a count of indices: a clip whose late
part holds one frame every few seconds would otherwise build each late frame's template from frames long
gone. Where the window holds fewer than ``min_each`` frames on a side (sparse frames), the nearest
``min_each`` frames on that side stand in: a frame far from any other is placed and judged by its match with
the frames nearest it, however far.

The anchoring pass matches each frame against the plain mean of *all* its neighbours (itself left out).
The sharpening passes match it against two templates, its past and its future neighbours, and keep the
better correlation at each shift: where the image changes abruptly while the tissue does not move (a lesion
filling with contrast within half a second, a destruction, a gain step), a frame looks like the frames on
its own side of the change, and a template mixing both sides would pull its match towards whatever
position makes the mixture fit — contrast taken for motion.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit
from scipy import ndimage

from ceuskit.preprocess.motion.ncc import CHUNK, WORKERS, ncc_surfaces

__all__ = ["match_neighbours", "neighbour_bounds"]


def neighbour_bounds(times_s: np.ndarray, half_s: float, min_each: int) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi): frame k's neighbours are frames lo[k] … hi[k]−1 (k itself included in the range).

    The window is ± ``half_s`` in time, slid inwards near the clip's ends so that it always spans 2·half_s
    (at least one breathing cycle: a window cut short at the first frames would average only part of a
    breath, and its mean would not lie at the breathing centre), and widened to hold at least ``min_each``
    frames on each side where the clip has them. Both bounds are non-decreasing in k.
    """
    n = times_s.size
    k = np.arange(n)
    first = np.clip(times_s - half_s, times_s[0], max(times_s[-1] - 2 * half_s, times_s[0]))
    lo = np.searchsorted(times_s, first, side="left")
    hi = np.searchsorted(times_s, first + 2 * half_s, side="right")
    return np.maximum(np.minimum(lo, k - min_each), 0), np.minimum(np.maximum(hi, k + min_each + 1), n)


def _chunk(features: np.ndarray, start: int, stop: int, blur: float) -> np.ndarray:
    """Frames start … stop−1 as float32, blurred spatially by ``blur`` feature px when positive."""
    frames = np.asarray(features[start:stop], dtype=np.float32)
    # a blur this wide needs no Gaussian tail beyond two σ: half the work of the default four
    return ndimage.gaussian_filter(frames, (0.0, blur, blur), mode="nearest", truncate=2.0) if blur > 0 else frames


def _fill_patches(frames: np.ndarray, valid: np.ndarray, states: np.ndarray, keep: np.ndarray,
                  patches: np.ndarray, weight: np.ndarray, start: int, stop: int) -> None:
    """Fill frames start … stop−1 of ``patches``: each one's template-sized patch at its state.

    ``frames`` are those frames' features (:func:`_chunk`). The state is the (row, column) offset inside the
    search image; the patch is weighted by its validity (0 where invalid or the frame is not kept).
    """
    h, w = patches.shape[1:]
    for k in range(start, stop):
        y, x = int(states[k, 0]), int(states[k, 1])
        patches[k] = frames[k - start, y:y + h, x:x + w]
        weight[k] = valid[k, y:y + h, x:x + w] & keep[k]
    patches[start:stop] *= weight[start:stop]


@njit(cache=True, nogil=True)
def _move(patches: np.ndarray, weight: np.ndarray, total: np.ndarray, count: np.ndarray, bounds: np.ndarray,
          first: int, last: int) -> None:  # pragma: no cover - compiled
    """Move a running window sum [bounds[0], bounds[1]) forward to [first, last), frame by frame in order."""
    h, w = total.shape
    while bounds[1] < last:
        f = bounds[1]
        for y in range(h):
            for x in range(w):
                total[y, x] += np.float64(patches[f, y, x])
                count[y, x] += np.float64(weight[f, y, x])
        bounds[1] += 1
    while bounds[0] < first:
        f = bounds[0]
        for y in range(h):
            for x in range(w):
                total[y, x] -= np.float64(patches[f, y, x])
                count[y, x] -= np.float64(weight[f, y, x])
        bounds[0] += 1


@njit(cache=True, nogil=True)
def _mean(patches: np.ndarray, weight: np.ndarray, total: np.ndarray, count: np.ndarray, without: int,
          out: np.ndarray, ok: np.ndarray) -> None:  # pragma: no cover - compiled
    """Write the window's mean patch and where it is valid (count > 0.5), frame ``without`` left out when ≥ 0."""
    h, w = total.shape
    for y in range(h):
        for x in range(w):
            t = total[y, x]
            c = count[y, x]
            if without >= 0:
                t = t - np.float64(patches[without, y, x])
                c = c - np.float64(weight[without, y, x])
            good = c > 0.5
            ok[y, x] = good
            out[y, x] = np.float32(t / max(c, 1.0)) if good else np.float32(0.0)


@njit(cache=True, nogil=True)
def _chunk_templates(patches: np.ndarray, weight: np.ndarray, lo: np.ndarray, hi: np.ndarray, sides: np.ndarray,
                     start: int, stop: int, totals: np.ndarray, counts: np.ndarray, bounds: np.ndarray,
                     templates: np.ndarray, template_ok: np.ndarray, later: np.ndarray, later_ok: np.ndarray
                     ) -> None:  # pragma: no cover - compiled
    """Templates of frames start … stop−1 from three running windows (0: all neighbours, 1: past, 2: future).

    A two-sided frame gets its past neighbours' mean in ``templates`` and its future neighbours' in ``later``
    (in order); another frame gets the mean of all its neighbours but itself. The windows' sums (``totals``,
    ``counts``) and bounds carry over from chunk to chunk; frames are added and removed one at a time, in
    order, so the sums are those a frame-by-frame loop makes.
    """
    j = 0
    for k in range(start, stop):
        if sides[k]:
            _move(patches, weight, totals[1], counts[1], bounds[1], lo[k], k)
            _move(patches, weight, totals[2], counts[2], bounds[2], k + 1, hi[k])
            _mean(patches, weight, totals[1], counts[1], -1, templates[k - start], template_ok[k - start])
            _mean(patches, weight, totals[2], counts[2], -1, later[j], later_ok[j])
            j += 1
        else:
            _move(patches, weight, totals[0], counts[0], bounds[0], lo[k], hi[k])
            _mean(patches, weight, totals[0], counts[0], k, templates[k - start], template_ok[k - start])


_Windows = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Running sums of the three windows (all neighbours, past, future): totals, counts (3, h, w), bounds (3, 2)."""


def _windows(h: int, w: int) -> _Windows:
    return np.zeros((3, h, w)), np.zeros((3, h, w)), np.zeros((3, 2), dtype=np.int64)


@njit(cache=True, nogil=True)
def _replay(patches: np.ndarray, weight: np.ndarray, lo: np.ndarray, hi: np.ndarray, sides: np.ndarray, start: int,
            stop: int, totals: np.ndarray, counts: np.ndarray, bounds: np.ndarray) -> None:  # pragma: no cover
    """Move the windows as :func:`_chunk_templates` does for frames start … stop−1, without the templates."""
    for k in range(start, stop):
        if sides[k]:
            _move(patches, weight, totals[1], counts[1], bounds[1], lo[k], k)
            _move(patches, weight, totals[2], counts[2], bounds[2], k + 1, hi[k])
        else:
            _move(patches, weight, totals[0], counts[0], bounds[0], lo[k], hi[k])


def match_neighbours(features: np.ndarray, valid: np.ndarray | Callable[[], np.ndarray], states: np.ndarray,
                     keep: np.ndarray, lo: np.ndarray, hi: np.ndarray, h: int, w: int, *, blur: float = 0.0,
                     two_sided: np.ndarray | None = None, ready: Callable[[int], None] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """NCC surfaces of every frame against the mean of its neighbours' patches.

    Neighbours of frame k are the kept frames lo[k] … hi[k]−1 other than k; each contributes its patch at its
    current state. Where ``two_sided[k]``, the past (lo[k] … k−1) and future (k+1 … hi[k]−1) neighbours make
    two templates and each shift keeps the better correlation (the caller grants it where both sides hold
    enough frames to anchor a template: a handful of frames would match each other wherever they were
    placed). Templates come from running window sums, a chunk of frames at a time (once every frame is in,
    the two halves of the clip on two threads, with the same numbers). ``blur`` (feature px) blurs frames and
    patches alike.

    Frames are used in order, a chunk at a time, so the work can run while later frames are still being
    read: ``ready(m)`` is called before frames ``m − 1`` and earlier are first looked at and returns once
    they are in ``features`` (and in ``valid``, which may then be a function giving the validity array as
    it is at the time, when it is allocated late).

    Returns
    -------
    (ncc, template_pixels): (n, S, S) float32 surfaces and (n,) the number of valid template pixels.
    """
    n = features.shape[0]
    validity: Callable[[], np.ndarray] = valid if callable(valid) else (lambda: valid)
    patches = np.empty((n, h, w), dtype=np.float32)
    weight = np.empty((n, h, w), dtype=np.float32)
    filled = 0
    # streaming with a blur: a chunk blurred for its patches is kept until it is matched (a chunk or two ahead)
    blurred: dict[int, np.ndarray] | None = {} if ready is not None and blur > 0 else None

    def fill(upto: int) -> None:  # patches of every frame before ``upto``, whole chunks at a time
        nonlocal filled
        while filled < upto:
            stop = min(filled + CHUNK, n)
            if ready is not None:
                ready(stop)
            frames = _chunk(features, filled, stop, blur)
            if blurred is not None:
                blurred[filled] = frames
            _fill_patches(frames, validity(), states, keep, patches, weight, filled, stop)
            filled = stop

    size = features.shape[1] - h + 1
    ncc = np.empty((n, size, size), dtype=np.float32)
    counts = np.empty(n)
    sides = np.zeros(n, dtype=bool) if two_sided is None else np.asarray(two_sided, dtype=bool)
    lo64, hi64 = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    chunks = -(-n // CHUNK)
    alone = ready is not None or chunks < 4  # streaming (frames still being read), or too little to share
    # the FFTs share a batch between threads only where this is all that runs: streaming, the readers keep the
    # other CPUs busy; shared, each half of the clip has its thread
    workers = WORKERS if ready is None and alone else 1

    def match(begin: int, end: int, windows: _Windows) -> None:  # chunks begin … end−1, in order
        for start in range(begin, end, CHUNK):
            stop = min(start + CHUNK, end)
            fill(int(hi[stop - 1]))  # the bounds never decrease: the chunk's last frame reaches furthest
            split = sides[start:stop]
            templates = np.empty((stop - start, h, w), dtype=np.float32)
            template_ok = np.empty((stop - start, h, w), dtype=bool)
            later = np.empty((int(split.sum()), h, w), dtype=np.float32)
            later_ok = np.empty(later.shape, dtype=bool)
            _chunk_templates(patches, weight, lo64, hi64, sides, start, stop, *windows, templates, template_ok,
                             later, later_ok)
            kept = None if blurred is None else blurred.pop(start, None)
            images = _chunk(features, start, stop, blur) if kept is None else kept
            image_ok = validity()[start:stop]
            counts[start:stop] = template_ok.sum(axis=(1, 2))
            one, both = np.flatnonzero(~split), np.flatnonzero(split)
            if one.size:
                ncc[start + one] = ncc_surfaces(images[one], image_ok[one], templates[one], template_ok[one],
                                                workers=workers)
            if both.size:  # past and future templates, the image's own work done once
                ncc[start + both] = ncc_surfaces(images[both], image_ok[both], [templates[both], later],
                                                 [template_ok[both], later_ok], workers=workers)
                counts[start + both] = np.maximum(counts[start + both], later_ok.sum(axis=(1, 2)))

    first = _windows(h, w)
    if alone:
        match(0, n, first)
        return ncc, counts
    # the clip is in: the second half's chunks on a thread of their own, its windows' sums brought to where the
    # first half leaves them by the same additions and subtractions in the same order (the same numbers)
    fill(n)
    middle = (chunks // 2) * CHUNK
    second = _windows(h, w)
    _replay(patches, weight, lo64, hi64, sides, 0, middle, *second)
    with ThreadPoolExecutor(1, thread_name_prefix="ceuskit-match") as pool:
        later_half = pool.submit(match, middle, n, second)
        match(0, middle, first)
        later_half.result()
    return ncc, counts
