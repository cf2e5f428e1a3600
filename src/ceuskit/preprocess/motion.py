"""Motion compensation: rigid translation per frame relative to the ROIs' reference frame.

The tracker matches a smoothed template around the ROIs against each frame by normalised cross-correlation
within a bounded search window, one frame at a time (it streams with the TIC extraction):

* dual display: it tracks on the B-mode half, whose tissue speckle is stable;
* CEUS only: contrast speckle decorrelates every frame and pre-contrast frames are empty, so the template is
  smoothed, updated slowly from well-matched frames, and nothing is tracked until contrast has arrived in the
  template region;
* temporal continuity: candidate shifts far from the previous frame's shift are penalised;
* frames whose best match is poor (out of plane, deep breath) are rejected (NaN in the TICs) and counted.

:func:`choose_tracked` keeps tracking only where it makes the TICs smoother than no tracking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.feature import match_template

from ceuskit.io.clip import Box

__all__ = ["MotionResult", "MotionTracker", "choose_tracked", "tic_roughness_db"]


@dataclass(frozen=True)
class MotionResult:
    """Per-frame tissue displacement relative to the reference frame.

    Attributes
    ----------
    shifts_px : (n_frames, 2) int, (dx, dy) of the tissue in pixels.
    quality : (n_frames,) normalised cross-correlation of the best match (NaN where not tracked).
    rejected : (n_frames,) bool, frames whose match was too poor to use.
    tracked : (n_frames,) bool, frames where tracking ran (False before contrast arrival on CEUS-only clips).
    applied : whether the tracked shifts were used for the TICs.
    note : why tracking was or was not applied.
    """

    shifts_px: np.ndarray
    quality: np.ndarray
    rejected: np.ndarray
    tracked: np.ndarray
    applied: bool
    note: str

    @property
    def max_shift_px(self) -> float:
        if not self.applied or not self.tracked.any():
            return 0.0
        ok = self.tracked & ~self.rejected
        return float(np.hypot(*self.shifts_px[ok].T).max()) if ok.any() else 0.0

    def to_json(self) -> dict[str, object]:
        return {"applied": self.applied, "rejected_frames": int(self.rejected.sum()) if self.applied else 0,
                "max_shift_px": round(self.max_shift_px, 2), "note": self.note}


class MotionTracker:
    """Causal template tracker; call :meth:`update` once per frame, in order.

    Parameters
    ----------
    reference : 2-D grey image of the search area in the reference frame (``search_box`` of the frame).
    template_box : (x0, y0, x1, y1) of the template inside the frame.
    search_box : (x0, y0, x1, y1) of the search area inside the frame (template box ± max shift, clipped).
    smoothing_px : Gaussian σ applied to template and frames (speckle suppression).
    gate_fraction : track only once the template area's mean grey has risen this fraction of the way from
        the first frame's level to the reference frame's (None: always track, e.g. B-mode).
    adapt : weight of each well-matched frame in the running template (0 keeps the reference template).
    reject_ratio : reject a frame whose match NCC is below this fraction of the running median NCC.
    """

    def __init__(self, reference: np.ndarray, template_box: Box, search_box: Box, *, smoothing_px: float = 2.0,
                 gate_fraction: float | None = 0.3, adapt: float = 0.1, reject_ratio: float = 0.6,
                 continuity: float = 0.15, edges: bool = False, reset_after: int = 4,
                 min_quality: float = 0.3) -> None:
        self.template_box, self.search_box = template_box, search_box
        self.smoothing_px, self.edges, self.reset_after = smoothing_px, edges, reset_after
        self.consecutive_rejects = 0
        self.min_quality = min_quality
        sx0, sy0 = search_box[:2]
        tx0, ty0, tx1, ty1 = template_box
        self._origin = (tx0 - sx0, ty0 - sy0)
        smoothed = self._smooth(reference)
        self.template = smoothed[ty0 - sy0:ty1 - sy0, tx0 - sx0:tx1 - sx0].copy()
        self.reference_level = float(reference[ty0 - sy0:ty1 - sy0, tx0 - sx0:tx1 - sx0].mean())
        self.gate_fraction = gate_fraction
        self.start_level: float | None = None
        self.adapt, self.reject_ratio, self.continuity = adapt, reject_ratio, continuity
        self.previous = (0, 0)
        self.history: list[float] = []
        self.started = gate_fraction is None
        self.max_dx = max(self._origin[0], search_box[2] - tx1)
        self.max_dy = max(self._origin[1], search_box[3] - ty1)

    def _smooth(self, image: np.ndarray) -> np.ndarray:
        smoothed = ndimage.gaussian_filter(image.astype(np.float32, copy=False), self.smoothing_px)
        if not self.edges:
            return smoothed
        # Edge strength keeps a lesion's outline whether it is brighter or darker than the liver, so the
        # template survives the lesion's arterial-to-wash-out inversion.
        return np.hypot(ndimage.sobel(smoothed, 0), ndimage.sobel(smoothed, 1))

    def _match(self, image: np.ndarray) -> tuple[int, int, float]:
        """Best (dx, dy) and its NCC: coarse search at half resolution, then ±1 px refinement at full."""
        ox, oy = self._origin
        th, tw = self.template.shape
        ncc = match_template(image[::2, ::2], self.template[::2, ::2])
        ys, xs = np.mgrid[0:ncc.shape[0], 0:ncc.shape[1]]
        dx_grid, dy_grid = 2 * xs - ox, 2 * ys - oy
        scale = max(self.max_dx, self.max_dy, 1)
        penalty = self.continuity * ((dx_grid - self.previous[0]) ** 2 + (dy_grid - self.previous[1]) ** 2) / scale**2
        best = np.unravel_index(int(np.argmax(ncc - penalty)), ncc.shape)
        coarse_dx, coarse_dy = int(dx_grid[best]), int(dy_grid[best])
        template = self.template - self.template.mean()
        template_norm = float(np.sqrt((template * template).sum())) or 1.0
        best_q, best_dx, best_dy = -2.0, coarse_dx, coarse_dy
        for dy in (coarse_dy - 1, coarse_dy, coarse_dy + 1):
            for dx in (coarse_dx - 1, coarse_dx, coarse_dx + 1):
                y, x = oy + dy, ox + dx
                if y < 0 or x < 0 or y + th > image.shape[0] or x + tw > image.shape[1]:
                    continue
                patch = image[y:y + th, x:x + tw]
                patch = patch - patch.mean()
                norm = float(np.sqrt((patch * patch).sum()))
                q = float((patch * template).sum()) / (norm * template_norm) if norm > 0 else 0.0
                if q > best_q:
                    best_q, best_dx, best_dy = q, dx, dy
        return best_dx, best_dy, best_q

    def update(self, search_image: np.ndarray) -> tuple[int, int, float, bool, bool]:
        """Track one frame's search area; returns (dx, dy, ncc, tracked, rejected)."""
        ox, oy = self._origin
        th, tw = self.template.shape
        if not self.started:
            level = float(search_image[oy:oy + th, ox:ox + tw].mean())
            if self.start_level is None:
                self.start_level = level
            assert self.gate_fraction is not None
            rise = self.reference_level - self.start_level
            if rise <= 0 or level < self.start_level + self.gate_fraction * rise:
                return 0, 0, float("nan"), False, False
            self.started = True
        image = self._smooth(search_image)
        dx, dy, quality = self._match(image)
        median = float(np.median(self.history)) if len(self.history) >= 5 else None
        rejected = median is not None and quality < self.reject_ratio * median
        self.consecutive_rejects = self.consecutive_rejects + 1 if rejected else 0
        if self.consecutive_rejects > self.reset_after:
            # the anatomy's appearance has changed for good (not a passing glitch): forget the old match
            # qualities and keep following from the last good position.
            self.history.clear()
            self.consecutive_rejects = 0
            rejected = False
        if quality < self.min_quality and not rejected:
            # featureless (e.g. lesion iso to liver in transition): hold the last good position
            return self.previous[0], self.previous[1], quality, True, False
        if not rejected:
            self.history.append(quality)
            if len(self.history) > 12:
                self.history.pop(0)
            self.previous = (dx, dy)
            if self.adapt > 0:
                patch = image[oy + dy:oy + dy + th, ox + dx:ox + dx + tw]
                self.template = (1 - self.adapt) * self.template + self.adapt * patch
        return dx, dy, quality, True, rejected


def tic_roughness_db(times_s: np.ndarray, tics: Mapping[str, np.ndarray], *, window_s: float = 5.0,
                     start_s: float | None = None) -> float:
    """Mean absolute deviation (dB) of TICs from their own moving average over ``window_s``.

    Breathing motion that moves tissue in and out of an ROI shows as fluctuation around the slowly varying
    bolus curve; this measures it (plus speckle noise, equal for tracked and untracked TICs).
    """
    from ceuskit.tic import moving_average

    deviations = []
    for values in tics.values():
        ok = np.isfinite(values) & (values > 0)
        if start_s is not None:
            ok &= times_s >= start_s
        if ok.sum() < 5:
            continue
        db = 10 * np.log10(values[ok])
        smooth = moving_average(times_s[ok], db, window_s)
        deviations.append(np.abs(db - smooth))
    return float(np.mean(np.concatenate(deviations))) if deviations else float("nan")


def choose_tracked(times_s: np.ndarray, tracked: Mapping[str, np.ndarray], untracked: Mapping[str, np.ndarray],
                   start_s: float | None) -> tuple[bool, str]:
    """Use the tracked TICs only if they are smoother than the untracked ones (never make a TIC worse)."""
    rough_tracked = tic_roughness_db(times_s, tracked, start_s=start_s)
    rough_untracked = tic_roughness_db(times_s, untracked, start_s=start_s)
    if not np.isfinite(rough_tracked):
        return False, "tracking found no usable frames"
    if np.isfinite(rough_untracked) and rough_tracked >= rough_untracked:
        return False, (f"tracking did not make the TICs smoother ({rough_tracked:.2f} dB vs {rough_untracked:.2f} dB "
                       "without); not applied")
    return True, f"TIC fluctuation {rough_untracked:.2f} dB without tracking, {rough_tracked:.2f} dB with"
