"""One examination's time axis: the clips' curves placed one after another, gaps kept as gaps.

Each clip of an examination is measured on its own (its own ROIs, reference frame, layout and motion
compensation: :func:`ceuskit.tic.extract_tics`); :func:`join` puts their curves on one axis of seconds after
injection, in time order, and remembers which clip each sample came from. Nothing is interpolated across the
time between clips: the readings downstream see the gaps (``segment``) and never bridge them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ceuskit.errors import InputError, RoiError
from ceuskit.tic import TicResult

__all__ = ["Timeline", "join"]


@dataclass(frozen=True)
class Timeline:
    """The curves of every ROI over the whole examination.

    Attributes
    ----------
    times_s : (T,) s after injection, strictly increasing across clips.
    names : ROI names, the rows of ``power`` and ``saturated``.
    power : (n_rois, T) mean linear power (NaN in rejected frames).
    saturated : (n_rois, T) fraction of each ROI's pixels at the display maximum.
    segment : (T,) index of the clip (in time order) each sample comes from.
    display_power : (n_rois, T) the linear power of each ROI's display level (the median of its pixels' grey:
        what the bulk of it shows on the screen, the curve the onset is read on); ``power`` itself where the
        pixels are not known (curve tables).
    motion_px : (T, 2) the displacement (dx, dy) each sample's ROIs were measured at (the tracked tissue shift,
        where tracking was applied), px; NaN where they stayed where drawn (untracked frames, tracking not
        applied, curve tables). None: not known.
    """

    times_s: np.ndarray
    names: tuple[str, ...]
    power: np.ndarray
    saturated: np.ndarray
    segment: np.ndarray
    display_power: np.ndarray
    motion_px: np.ndarray | None = None

    def cut(self, end: int) -> Timeline:
        """Return the samples ``[0, end)`` of every curve."""
        return Timeline(self.times_s[:end], self.names, self.power[:, :end], self.saturated[:, :end],
                        self.segment[:end], self.display_power[:, :end],
                        None if self.motion_px is None else self.motion_px[:end])

    def row(self, name: str) -> int:
        """Return the row of ROI ``name`` in ``power`` and ``saturated``.

        Raises
        ------
        ValueError
            No ROI is called ``name``.
        """
        return self.names.index(name)


def join(tics: Sequence[TicResult], sources: Sequence[str]) -> Timeline:
    """Concatenate per-clip TICs (already on the examination's time axis, in time order) into a Timeline.

    Parameters
    ----------
    tics : one TIC result per clip, in time order.
    sources : the clips' names, for messages.

    Raises
    ------
    RoiError
        The clips' ROIs do not carry the same names (in any order; each clip needs the lesion and its
        reference).
    """
    names = tuple(tics[0].power)
    for source, part in zip(sources[1:], tics[1:], strict=True):
        if set(part.power) != set(names):
            raise RoiError(f"the ROIs of {source} are named {', '.join(part.power)}, those of {sources[0]} "
                           f"{', '.join(names)}: give every clip of the examination the same ROI names")
    times = np.concatenate([part.times_s for part in tics])
    if np.any(np.diff(times) <= 0):
        raise InputError("the clips overlap in time; check their acquisition times or --clip-offset")
    power = np.vstack([np.concatenate([part.power[name] for part in tics]) for name in names])
    saturated = np.vstack([np.concatenate([part.saturated[name] for part in tics]) for name in names])
    segment = np.concatenate([np.full(part.times_s.size, k) for k, part in enumerate(tics)])
    display = np.vstack([np.concatenate([part.display_power.get(name, part.power[name]) for part in tics])
                         for name in names])
    motion = np.vstack([np.where(part.motion.tracked[:, None] & part.motion.applied, part.motion.shifts_px, np.nan)
                        for part in tics])
    return Timeline(times, names, power, saturated, segment, display, motion)
