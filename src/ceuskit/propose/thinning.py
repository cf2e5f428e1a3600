"""Which frames a proposal reads.

All it needs of the bolus, and no more (following the tissue costs in proportion to the frames read).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ceuskit.io.clip import Clip
from ceuskit.io.frames import ArrayFrames

__all__ = ["DENSE_READ_S", "LATE_READ_FPS", "READ_FPS", "read_frames", "thinned"]

READ_FPS = 4.0
"""Frames per second the proposal reads up to :data:`DENSE_READ_S` after the injection (a faster clip is thinned)."""

LATE_READ_FPS = 4.0
"""Frames per second it reads after that.  2 would halve a long clip's cost, but the noisier late bins then let an
arterially hyper-enhancing lesion be taken for a vessel (proposal-07 refused) and late-only lesions
(iso-late-hypo) drop below the confidence floor: kept at 4 until the vessel test is made robust to it."""

DENSE_READ_S = 60.0
"""Seconds after the injection read at :data:`READ_FPS`: arrival, peak and the start of wash-out."""


def read_frames(times_s: np.ndarray, frame: int, injection_time_s: float) -> np.ndarray:
    """Return indices of the frames a proposal reads.

    About :data:`READ_FPS` frames/s up to :data:`DENSE_READ_S` after the injection, :data:`LATE_READ_FPS`
    after it, walking out from ``frame`` (always read) so that each kept frame lies at least 0.9 of its
    interval after the previous one; sparse frames are all kept.

    Parameters
    ----------
    times_s : (n,) increasing frame times, s.
    frame : index of the reference frame.
    injection_time_s : injection, s after the first frame.

    Returns
    -------
    The kept frames' indices, increasing.
    """
    t = np.asarray(times_s, dtype=float)
    late = t - t[0] - injection_time_s > DENSE_READ_S
    gap = 0.9 / np.where(late, LATE_READ_FPS, READ_FPS)
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
    index = read_frames(clip.times, frame, injection_time_s)
    if index.size == clip.n_frames:
        return clip, frame
    frames = np.stack([clip.raw(int(k)) for k in index])
    thin = replace(clip, times=clip.times[index], frames=ArrayFrames(frames))
    return thin, int(np.searchsorted(index, frame))
