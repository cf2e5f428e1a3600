"""Which frames a proposal reads, and which of them it tracks.

All it needs of the bolus, and no more (following the tissue costs in proportion to the frames tracked).  The
frames read after the first minute are tracked at :data:`LATE_TRACK_FPS` only; the others take the tissue's
position interpolated between their tracked neighbours (:func:`interpolated_motion`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ceuskit.io.clip import Clip
from ceuskit.io.frames import ArrayFrames

__all__ = ["DENSE_READ_S", "LATE_READ_FPS", "LATE_TRACK_FPS", "READ_FPS", "interpolated_motion", "read_frames",
           "thinned", "tracked_subset"]

READ_FPS = 4.0
"""Frames per second the proposal reads up to :data:`DENSE_READ_S` after the injection (a faster clip is thinned)."""

LATE_READ_FPS = 4.0
"""Frames per second it reads after that.  2 would halve a long clip's cost, but the noisier late bins then let an
arterially hyper-enhancing lesion be taken for a vessel (proposal-07 refused) and late-only lesions
(iso-late-hypo) drop below the confidence floor: kept at 4 until the vessel test is made robust to it."""

LATE_TRACK_FPS = 2.0
"""Frames per second tracked after :data:`DENSE_READ_S` (of those read): breathing (≥ 3 s a cycle) is sampled ≥ 6
times a cycle, and the late phase's slow enhancement needs no finer step."""

DENSE_READ_S = 60.0
"""Seconds after the injection read at :data:`READ_FPS`: arrival, peak and the start of wash-out."""


def read_frames(times_s: np.ndarray, frame: int, injection_time_s: float,
                late_fps: float = LATE_READ_FPS) -> np.ndarray:
    """Return indices of the frames a proposal reads.

    About :data:`READ_FPS` frames/s up to :data:`DENSE_READ_S` after the injection, ``late_fps`` after it,
    walking out from ``frame`` (always read) so that each kept frame lies at least 0.9 of its interval after the
    previous one; sparse frames are all kept.

    Parameters
    ----------
    times_s : (n,) increasing frame times, s.
    frame : index of the reference frame.
    injection_time_s : injection, s after the first frame.
    late_fps : frames per second kept after :data:`DENSE_READ_S`.

    Returns
    -------
    The kept frames' indices, increasing.
    """
    t = np.asarray(times_s, dtype=float)
    late = t - t[0] - injection_time_s > DENSE_READ_S
    gap = 0.9 / np.where(late, late_fps, READ_FPS)
    keep = np.zeros(t.size, dtype=bool)
    keep[frame] = True
    for order in (range(frame + 1, t.size), range(frame - 1, -1, -1)):
        last = t[frame]
        for k in order:
            if abs(t[k] - last) >= gap[k]:
                keep[k] = True
                last = t[k]
    return np.flatnonzero(keep)


def thinned(clip: Clip, frame: int, injection_time_s: float) -> tuple[Clip, int]:
    """Return the clip read at the frames of :func:`read_frames` and the index of ``frame`` in it.

    The clip itself when that keeps every frame.

    Parameters
    ----------
    clip : the open clip.
    frame : index of the reference frame.
    injection_time_s : injection, s after the clip's first frame.

    Returns
    -------
    (clip, frame): the thinned clip (its frames held in memory) and the reference frame's index in it.
    """
    return _kept(clip, frame, read_frames(clip.times, frame, injection_time_s))


def _kept(clip: Clip, frame: int, index: np.ndarray) -> tuple[Clip, int]:
    """Return the clip of the frames ``index`` (in memory; ``clip`` itself when all are kept) and ``frame``'s index."""
    if index.size == clip.n_frames:
        return clip, frame
    frames = np.stack([clip.raw(int(k)) for k in index])
    return replace(clip, times=clip.times[index], frames=ArrayFrames(frames)), int(np.searchsorted(index, frame))


def tracked_subset(clip: Clip, frame: int, injection_time_s: float) -> tuple[Clip, int, np.ndarray]:
    """Return the frames of a read clip that are tracked: :data:`LATE_TRACK_FPS` after the first minute.

    Parameters
    ----------
    clip : the clip as read (:func:`thinned`; its frames in memory or on disk).
    frame : index of the reference frame in it.
    injection_time_s : injection, s after the clip's first frame.

    Returns
    -------
    (clip, frame, index): the clip of the tracked frames, the reference frame's index in it, and the tracked
    frames' indices in ``clip`` (every frame, and ``clip`` itself, when none is left out).
    """
    index = read_frames(clip.times, frame, injection_time_s, late_fps=min(LATE_TRACK_FPS, LATE_READ_FPS))
    return (*_kept(clip, frame, index), index)


def interpolated_motion(times_s: np.ndarray, index: np.ndarray, shifts_px: np.ndarray, rejected: np.ndarray,
                        tracked: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spread the motion found on the tracked frames ``index`` over every frame.

    A frame between two tracked ones takes the shift interpolated linearly in time between the nearest usable
    (tracked, not rejected) frames, rounded to whole pixels; it is rejected when either tracked neighbour is,
    and counts as tracked only when both are.

    Parameters
    ----------
    times_s : (n,) times of every frame, s.
    index : (m,) increasing indices of the tracked frames.
    shifts_px, rejected, tracked : (m, 2) int, (m,) bool, (m,) bool: the tracker's result on those frames.

    Returns
    -------
    ((n, 2) int shifts, (n,) bool rejected, (n,) bool tracked).
    """
    n = times_s.size
    if index.size == n:
        return shifts_px, rejected, tracked
    usable = tracked & ~rejected
    known = index[usable] if usable.any() else index
    values = shifts_px[usable] if usable.any() else shifts_px
    out = np.empty((n, 2), dtype=shifts_px.dtype)
    for axis in range(2):
        out[:, axis] = np.rint(np.interp(times_s, times_s[known], values[:, axis].astype(float)))
    out[index] = shifts_px
    after = np.clip(np.searchsorted(index, np.arange(n)), 0, index.size - 1)
    before = np.clip(after - 1, 0, index.size - 1)
    out_rejected = rejected[before] | rejected[after]
    out_tracked = tracked[before] & tracked[after]
    out_rejected[index], out_tracked[index] = rejected, tracked
    return out, out_rejected, out_tracked
