"""High-MI destructions in an examination's curves: a burst of 1–10 bright frames, then a fall, then refill.

A destruction–replenishment sequence fires a few high-MI frames: every ROI jumps far above its level, the
bubbles in the image plane burst, and the echo falls *below* the level before the burst, then refills from
the blood (Wei et al., Circulation 1998). A single bright frame without the fall is a flash or a glitch
(:func:`ceuskit.timeseries.spikes`); a bright burst followed by a fall is a destruction, whatever its length
up to ``max_frames``. The search, per clip (``segments``) on the curves in dB:

1. a candidate burst starts at a sample that lies ``jump_db``/2 above the median of the three finite samples
   before it, in the mean of the ROIs' dB (the clip as a whole);
2. the pre-flash level of each ROI is the median of its samples over ``pre_window_s`` before the burst (at
   least three samples);
3. the burst is the run of samples, from the candidate on, that lie ``jump_db`` above the pre-flash level in
   every ROI (rejected frames inside it are allowed): 1 to ``max_frames`` long; a longer run is the curve
   itself (an arrival);
4. the post-flash level of each ROI is the median of its first samples after the burst (over
   ``post_window_s``, two to five samples): in the clip as a whole (the mean over the ROIs) it must lie at
   least ``drop_db`` below the pre-flash level;
5. its refill runs until the next destruction or the clip's end; it *refills* when the clip's level over the
   last third of that stretch lies ``refill_db`` above the post-flash level.

Times are seconds after injection; ``t_d`` (the refill's start) is the burst's last frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ceuskit.timeseries import round_or_none

__all__ = ["Destruction", "DestructionOptions", "find_destructions"]


@dataclass(frozen=True)
class DestructionOptions:
    """Thresholds of :func:`find_destructions` (see the module docstring)."""

    max_frames: int = 10
    jump_db: float = 3.0
    drop_db: float = 1.5
    pre_window_s: float = 2.0
    post_window_s: float = 0.6
    refill_db: float = 1.0


@dataclass(frozen=True)
class Destruction:
    """One destruction found in the curves.

    Attributes
    ----------
    start, stop : sample indices of its flash frames, ``[start, stop)``.
    start_s, t_d_s : time of its first and of its last flash frame, s (``t_d_s`` starts the refill).
    jump_db : per ROI, how far its brightest flash frame lay above the pre-flash level, dB.
    drop_db : per ROI, how far the level right after the burst lay below the pre-flash level, dB.
    refill : whether the curves rise again after it.
    cycle_stop : the refill's samples are ``[stop, cycle_stop)`` (the next destruction or the clip's end).
    """

    start: int
    stop: int
    start_s: float
    t_d_s: float
    jump_db: tuple[float, ...]
    drop_db: tuple[float, ...]
    refill: bool
    cycle_stop: int

    @property
    def frames(self) -> int:
        """Number of flash frames."""
        return self.stop - self.start

    def to_json(self, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
        """Return the destruction as analysis.json lists it (``destructions``), ROIs by name."""
        return {"start_s": round(self.start_s, 4), "destruction_s": round(self.t_d_s, 4), "frames": self.frames,
                "jump_db": {n: round_or_none(v, 2) for n, v in zip(names, self.jump_db, strict=True)},
                "drop_db": {n: round_or_none(v, 2) for n, v in zip(names, self.drop_db, strict=True)},
                "refill": self.refill}


def _db(power: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(power > 0, 10.0 * np.log10(np.where(power > 0, power, 1.0)), np.nan)


def _level(d: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Per ROI (rows of ``d``), the median of its finite samples at ``idx`` (NaN without one)."""
    out = np.full(d.shape[0], np.nan)
    for r, row in enumerate(d):
        values = row[idx]
        values = values[np.isfinite(values)]
        if values.size >= 1:
            out[r] = float(np.median(values))
    return out


def _window(t: np.ndarray, d: np.ndarray, lo_s: float, hi_s: float, anchor: int, forward: bool, minimum: int
            ) -> np.ndarray:
    """Return the indices of samples with t in [lo_s, hi_s).

    The window is widened from ``anchor`` to hold ``minimum`` samples where every ROI is finite.
    """
    inside: np.ndarray = np.flatnonzero((t >= lo_s) & (t < hi_s))
    ok = np.isfinite(d).all(axis=0)
    inside = inside[ok[inside]]
    if inside.size >= minimum:
        return inside
    if forward:
        more = np.flatnonzero(ok[anchor:]) + anchor
        return more[:minimum]
    more = np.flatnonzero(ok[:anchor])
    return more[-minimum:]


def _rises(whole: np.ndarray, rise_db: float) -> np.ndarray:
    """Return the samples that are finite and ``rise_db`` or more above the median of the three finite ones before.

    The median of three is their middle value, taken for every sample at once.
    """
    finite = np.flatnonzero(np.isfinite(whole))
    out = np.zeros(whole.size, dtype=bool)
    if finite.size < 4:
        return out
    values = whole[finite]
    middle = np.median(np.stack([values[:-3], values[1:-2], values[2:-1]]), axis=0)  # of the 3 before each
    out[finite[3:]] = values[3:] - middle >= rise_db
    return out


def _segment_destructions(t: np.ndarray, d: np.ndarray, opts: DestructionOptions) -> list[Destruction]:
    counts = np.isfinite(d).sum(axis=0)
    whole = np.where(counts > 0, np.where(np.isfinite(d), d, 0.0).sum(axis=0) / np.maximum(counts, 1), np.nan)
    found: list[Destruction] = []
    candidate = _rises(whole, opts.jump_db / 2)
    k = 1
    while k < t.size - 1:
        if not candidate[k]:
            k += 1
            continue
        pre_idx = _window(t, d, t[k] - opts.pre_window_s, t[k], k, False, 3)
        pre = _level(d, pre_idx)
        end = k
        while end < t.size and end - k <= opts.max_frames:
            column = d[:, end]
            if np.isfinite(column).any():
                if not np.all(column[np.isfinite(column)] - pre[np.isfinite(column)] >= opts.jump_db):
                    break
            end += 1
        last = end - 1
        while last > k and not np.isfinite(d[:, last]).any():
            last -= 1  # rejected frames at the burst's end belong to what follows
        length = last + 1 - k
        if end - k > opts.max_frames or length < 1:
            k = end + 1  # a long bright run is the curve itself (an arrival), not a burst
            continue
        burst = d[:, k:last + 1]
        valid = np.isfinite(burst).any(axis=1)
        jump = np.where(valid, np.nanmax(np.where(np.isfinite(burst), burst, -np.inf), axis=1) - pre, np.nan)
        post_idx = _window(t, d, t[last] + 1e-9, t[last] + opts.post_window_s + 1e-9, last + 1, True, 2)[:5]
        if np.isfinite(pre).all() and post_idx.size >= 2 and np.all(jump[valid] >= opts.jump_db):
            post = _level(d, post_idx)
            drop = pre - post
            if float(np.nanmean(drop)) >= opts.drop_db:
                found.append(Destruction(k, last + 1, float(t[k]), float(t[last]), tuple(float(v) for v in jump),
                                         tuple(float(v) for v in drop), False, t.size))
                k = last + 1
                continue
        k += 1
    return _with_refills(t, d, whole, found, opts)


def _with_refills(t: np.ndarray, d: np.ndarray, whole: np.ndarray, found: list[Destruction],
                  opts: DestructionOptions) -> list[Destruction]:
    out = []
    for i, item in enumerate(found):
        stop = found[i + 1].start if i + 1 < len(found) else t.size
        cycle = np.arange(item.stop, stop)
        cycle = cycle[np.isfinite(whole[cycle])]
        refill = False
        if cycle.size >= 4:
            early = int(np.sum(t[cycle] <= t[cycle[0]] + opts.post_window_s))
            post = float(np.median(whole[cycle[:min(5, max(2, early))]]))
            late = float(np.median(whole[cycle[-max(2, cycle.size // 3):]]))
            refill = late - post >= opts.refill_db
        out.append(replace(item, refill=refill, cycle_stop=stop))
    return out


def find_destructions(times_s: np.ndarray, power: np.ndarray, *, segments: np.ndarray | None = None,
                      options: DestructionOptions | None = None) -> list[Destruction]:
    """Destructions (a burst of 1–``max_frames`` bright frames in every ROI, then a fall) in the curves.

    Parameters
    ----------
    times_s : (T,) increasing sample times, s.
    power : (n_rois, T) or (T,) linear power per ROI, NaN where a frame is missing.
    segments : (T,) the clip each sample comes from (each clip is searched on its own); None: one clip.
    options : thresholds (:class:`DestructionOptions`).

    Returns
    -------
    The destructions in time order, indices into ``times_s``.

    Raises
    ------
    ValueError
        ``power`` does not have ``times_s``'s length, or ``max_frames`` is not in 1–10.
    """
    opts = options or DestructionOptions()
    t = np.asarray(times_s, dtype=float)
    d = _db(np.atleast_2d(np.asarray(power, dtype=float)))
    if d.shape[1] != t.size:
        raise ValueError(f"power has {d.shape[1]} samples for {t.size} times")
    if not 1 <= opts.max_frames <= 10:
        raise ValueError(f"max_frames must lie in 1–10, got {opts.max_frames}")
    labels = np.zeros(t.size, dtype=int) if segments is None else np.asarray(segments)
    out: list[Destruction] = []
    for segment in np.unique(labels):
        part = np.flatnonzero(labels == segment)
        if part.size < 6:
            continue
        for item in _segment_destructions(t[part], d[:, part], opts):
            offset = int(part[0])
            out.append(replace(item, start=item.start + offset, stop=item.stop + offset,
                               cycle_stop=item.cycle_stop + offset))
    return out
