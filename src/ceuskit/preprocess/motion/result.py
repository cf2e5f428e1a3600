"""The outcome of motion tracking: per-frame shifts, match quality, rejections and whether it was applied."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MotionResult"]


@dataclass(frozen=True)
class MotionResult:
    """Per-frame tissue displacement relative to the reference frame.

    Attributes
    ----------
    shifts_px : (n_frames, 2) int, (dx, dy) of the tissue in full-frame pixels.
    quality : (n_frames,) correlation of each frame with its template at its estimated shift (NaN where not
        tracked).
    rejected : (n_frames,) bool, frames left out of the TICs: matched too poorly to use (out of plane, deep
        breath; only where tracking is applied) or, as :func:`ceuskit.tic.extract_tics` adds, interrupted — an
        ROI's curve left its course for a moment and came back (:func:`ceuskit.timeseries.interruptions`).
    tracked : (n_frames,) bool, frames where tracking ran (False before the contrast arrives on CEUS-only clips).
    applied : whether the tracked shifts were used for the TICs.
    note : why tracking was or was not applied.
    evidence_gain : mean Fisher-z gain of the tracked positions' match over the still ROI's (NaN if untracked).
    """

    shifts_px: np.ndarray
    quality: np.ndarray
    rejected: np.ndarray
    tracked: np.ndarray
    applied: bool
    note: str
    evidence_gain: float = float("nan")

    @property
    def max_shift_px(self) -> float:
        """Largest applied displacement over the frames that were used, px (0 when not applied)."""
        ok = self.tracked & ~self.rejected
        if not self.applied or not ok.any():
            return 0.0
        return float(np.hypot(*self.shifts_px[ok].T).max())

    def to_json(self) -> dict[str, object]:
        """Return the summary analysis.json lists for motion correction.

        Returns
        -------
        dict
            ``applied``, ``rejected_frames`` (count), ``max_shift_px`` (px, 2 decimals), ``note`` and
            ``evidence_gain`` (4 decimals, None when not finite).
        """
        gain = self.evidence_gain
        return {"applied": self.applied, "rejected_frames": int(self.rejected.sum()),
                "max_shift_px": round(self.max_shift_px, 2), "note": self.note,
                "evidence_gain": round(gain, 4) if np.isfinite(gain) else None}

    @classmethod
    def still(cls, n_frames: int, note: str) -> MotionResult:
        """No tracking: every shift zero, nothing rejected."""
        return cls(np.zeros((n_frames, 2), dtype=int), np.full(n_frames, np.nan), np.zeros(n_frames, dtype=bool),
                   np.zeros(n_frames, dtype=bool), False, note)
