"""Whole-clip tissue tracking anchored to the breathing centre, never to its own past.

The clip is read once before anything is decided, so tracking need not be causal:

1. **Anchor.** Breathing moves the liver back and forth around a position it keeps returning to, so the
   plain (unaligned) mean of the frames over a few seconds is a blurred image of the anatomy *at that
   centre*. Each frame is matched against the mean of its neighbours (itself left out); the matches
   measure displacement from the breathing centre, and errors cannot accumulate: no template is ever
   built from earlier estimates of the same chain. This pass works on features blurred to about a third
   of the search range: a sharp texture that persists from frame to frame (B-mode speckle) would otherwise
   average into ghost copies at the extremes of the breathing, and a frame would match the far ghost.
2. **Sharpen.** The neighbours are then aligned with those estimates and averaged again: a sharp template
   of the local appearance (bright arterial lesion, dark wash-out, …) still expressed at the centre.
3. **Posterior.** For every frame, the masked normalised cross-correlation over all candidate shifts gives a
   log-likelihood; a hidden Markov model with a Gaussian prior on tissue speed combines the frames
   (forward–backward) and each frame's shift is its posterior mean: a frame with no clear match follows its
   neighbours instead of jumping to a chance peak of speckle noise.
4. **Reject.** A frame whose match at its estimated shift falls far below its neighbours' (out of plane, a
   deep breath) is rejected (NaN in the TICs) and left out of the templates and of the evidence.
5. **Envelope.** The frames placed confidently show how far the breathing takes the tissue; later passes
   keep every frame inside that envelope (a frame with vague evidence cannot be pulled outside it), and a
   frame still outside at the end is rejected, not measured.
6. **Breathing repeats.** Where the image cannot place a frame (a lesion passing through iso-enhancement
   has no structure to match), the sharpening passes add a weak prior around where the confidently placed
   frames were one breathing period before and after it (:mod:`.breathing`).
7. **Decide, by held-out evidence.** Each frame's shift is also predicted from its neighbours alone (the
   posterior without the frame's own match). Tracking is applied only if, on average, a frame matches its
   template better at that prediction than at the still ROI's position: the prediction never saw the
   frame's own speckle, so chance matches cannot vote for tracking — an ROI wandering over homogeneous
   liver gains nothing there, however smooth its TIC.

Shifts are finally expressed relative to the reference frame, where the ROIs were drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy import ndimage

from ceuskit.preprocess.motion.breathing import add_periodic_prior
from ceuskit.preprocess.motion.features import FEATURE_SCALE
from ceuskit.preprocess.motion.ncc import CHUNK, ncc_surfaces
from ceuskit.preprocess.motion.posterior import ShiftPosterior, forward_backward
from ceuskit.preprocess.motion.result import MotionResult

__all__ = ["TrackingOptions", "track"]


@dataclass(frozen=True)
class TrackingOptions:
    """Settings of :func:`track`.  Lengths (``*_px``) are in *feature* pixels (``feature_scale`` full-frame
    pixels each), speeds in feature pixels per second; the result's shifts are full-frame pixels."""

    window_s: float = 6.0  # neighbours within ± window/2 make a frame's template (≥ one breathing cycle)
    speed_px_s: float = 16.0  # typical tissue speed (Gaussian prior on the frame-to-frame step), px/s
    step_floor_px: float = 0.5  # a frame-to-frame step of this size is always plausible
    effective_area_px: float = 12.0  # pixels per independent sample in the smoothed features
    reject_z: float = 4.0  # reject a frame whose match lies this many standard errors below its neighbours'
    reject_window_s: float = 6.0  # … the neighbours within ± this/2 …
    reject_ratio: float = 0.5  # … and below this fraction of their correlation
    evidence_z: float = 3.0  # tracking must beat the static position by this many standard errors
    min_gain: float = 0.02  # … and by at least this much correlation (Fisher z), on average
    passes: int = 2  # sharpening passes after the anchoring one
    anchor_blur: float = 0.33  # the anchoring pass blurs the features by this fraction of the search radius
    confident_spread_px: float = 1.0  # frames placed this precisely (posterior s.d.) define the envelope …
    envelope_margin_px: float = 1.0  # … widened by this margin
    periodic_sigma_px: float = 2.5  # width of the prior one breathing period away (0: not used)


def _window_bounds(times_s: np.ndarray, half_s: float) -> tuple[np.ndarray, np.ndarray]:
    return (np.searchsorted(times_s, times_s - half_s, side="left"),
            np.searchsorted(times_s, times_s + half_s, side="right"))


def _chunk(features: np.ndarray, start: int, stop: int, blur: float) -> np.ndarray:
    """Frames start … stop−1 as float32, blurred spatially by ``blur`` feature px when positive."""
    frames = np.asarray(features[start:stop], dtype=np.float32)
    return ndimage.gaussian_filter(frames, (0.0, blur, blur), mode="nearest") if blur > 0 else frames


def _aligned_patches(features: np.ndarray, valid: np.ndarray, states: np.ndarray, h: int, w: int, blur: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's template-sized patch at its state (row, column offset inside the search image)."""
    n = features.shape[0]
    patches = np.empty((n, h, w), dtype=np.float32)
    ok = np.empty((n, h, w), dtype=bool)
    for start in range(0, n, CHUNK):
        frames = _chunk(features, start, min(start + CHUNK, n), blur)
        for k in range(start, min(start + CHUNK, n)):
            y, x = int(states[k, 0]), int(states[k, 1])
            patches[k] = frames[k - start, y:y + h, x:x + w]
            ok[k] = valid[k, y:y + h, x:x + w]
    return patches, ok


def _match_all(features: np.ndarray, valid: np.ndarray, states: np.ndarray, keep: np.ndarray, lo: np.ndarray,
               hi: np.ndarray, h: int, w: int, blur: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """NCC surfaces of every frame against the mean of its neighbours' patches (itself left out).

    Neighbours of frame k are the kept frames lo[k] … hi[k]−1 (both non-decreasing in k); each contributes
    its patch at its current state. Templates come from a running window sum, a chunk of frames at a time,
    so memory stays a few patches per frame. ``blur`` (feature px) blurs frames and patches alike.

    Returns
    -------
    (ncc, template_pixels): (n, S, S) float32 surfaces and (n,) the number of valid template pixels.
    """
    n = features.shape[0]
    patches, patch_ok = _aligned_patches(features, valid, states, h, w, blur)
    weight = (patch_ok & keep[:, None, None]).astype(np.float32)
    del patch_ok
    patches *= weight
    size = features.shape[1] - h + 1
    ncc = np.empty((n, size, size), dtype=np.float32)
    counts = np.empty(n)
    total = np.zeros((h, w), dtype=np.float64)
    count = np.zeros((h, w), dtype=np.float64)
    first = last = 0
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        templates = np.empty((stop - start, h, w), dtype=np.float32)
        template_ok = np.empty((stop - start, h, w), dtype=bool)
        for k in range(start, stop):
            while last < hi[k]:
                total += patches[last]
                count += weight[last]
                last += 1
            while first < lo[k]:
                total -= patches[first]
                count -= weight[first]
                first += 1
            others = count - weight[k]
            template_ok[k - start] = others > 0.5
            templates[k - start] = np.where(others > 0.5, (total - patches[k]) / np.maximum(others, 1.0), 0.0)
        ncc[start:stop] = ncc_surfaces(_chunk(features, start, stop, blur), valid[start:stop], templates,
                                       template_ok)
        counts[start:stop] = template_ok.sum(axis=(1, 2))
    return ncc, counts


def _log_likelihood(ncc: np.ndarray, n_eff: np.ndarray, radius: int, envelope: Envelope) -> np.ndarray:
    """−(N/2)·ln(1 − r²) per shift (r > 0; the profile likelihood of a linear match with N independent
    samples), plus the envelope prior: free inside the breathing envelope, a Gaussian wall (1 state wide)
    beyond it, and a weak Gaussian pull (width ``radius``) towards its centre."""
    r = np.clip(np.nan_to_num(ncc, nan=0.0), 0.0, 0.995)
    ll = -(0.5 * n_eff.astype(np.float32))[:, None, None] * np.log1p(-r * r)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    dy, dx = offsets[:, None] - envelope.centre[0], offsets[None, :] - envelope.centre[1]
    distance = np.hypot(dy, dx)
    ll -= (distance**2 / (2.0 * radius**2) + np.maximum(distance - envelope.radius, 0.0) ** 2 / 2.0).astype(np.float32)
    return ll


@dataclass(frozen=True)
class Envelope:
    """Where the breathing takes the tissue: a disc (feature px) around the usual position."""

    centre: np.ndarray
    radius: float

    @classmethod
    def of(cls, mean: np.ndarray, spread: np.ndarray, keep: np.ndarray, search_radius: int,
           opts: TrackingOptions) -> Envelope:
        """The envelope of the confidently placed frames (posterior spread ≤ ``confident_spread_px``):
        their median position and the 99th percentile of their distance from it, plus a margin. With too
        few confident frames it is the whole searched range."""
        confident = keep & (spread <= opts.confident_spread_px)
        if confident.sum() < 10:
            return cls(np.zeros(2), float(search_radius))
        centre = np.median(mean[confident], axis=0)
        reach = float(np.percentile(np.hypot(*(mean[confident] - centre).T), 99))
        return cls(centre, reach + opts.envelope_margin_px)


def _path_quality(ncc: np.ndarray, path: np.ndarray) -> np.ndarray:
    return ncc[np.arange(path.shape[0]), path[:, 0], path[:, 1]]


def _rejected(quality: np.ndarray, n_eff: np.ndarray, times_s: np.ndarray, opts: TrackingOptions) -> np.ndarray:
    """Frames whose match falls far below the level their neighbours reach: out of plane or a deep breath.

    The level is the 80th percentile of the neighbours' correlations (within ± ``reject_window_s``/2). Its
    uncertainty is the larger of the sampling error of a correlation ρ over N independent samples,
    (1 − ρ²)/√(N − 3), and the neighbours' frame-to-frame scatter (robust, from successive differences, so
    a trend does not count). A frame is rejected when it lies ``reject_z`` of those below the level and
    below ``reject_ratio`` of it. Where the neighbours themselves barely match (no structure: the lesion iso
    to the liver) the threshold falls below zero and nothing is rejected.
    """
    lo, hi = _window_bounds(times_s, opts.reject_window_s / 2)
    samples = np.asarray(n_eff, dtype=np.float64)
    return _rejected_kernel(np.asarray(quality, dtype=np.float64), lo, hi, samples, opts.reject_z, opts.reject_ratio)


@njit(cache=True)
def _rejected_kernel(q: np.ndarray, lo: np.ndarray, hi: np.ndarray, samples: np.ndarray, reject_z: float,
                     reject_ratio: float) -> np.ndarray:
    n = q.size
    out = np.zeros(n, dtype=np.bool_)
    for k in range(n):
        if not np.isfinite(q[k]):
            out[k] = True
            continue
        around = q[lo[k]:hi[k]]
        around = around[np.isfinite(around)]
        if around.size < 5:
            continue
        level = np.percentile(around, 80.0)
        sampling = (1.0 - min(level * level, 1.0)) / np.sqrt(max(samples[k] - 3.0, 1.0))
        scatter = 1.4826 * np.median(np.abs(np.diff(around))) / np.sqrt(2.0)
        out[k] = q[k] < level - reject_z * max(sampling, scatter) and q[k] < reject_ratio * level
    return out


def _arriving(levels: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """Frames before the template area first reaches ``fraction`` of its brightness rise: the contrast is
    still arriving, their matches are weak because the image is faint, not because the plane was left."""
    low, high = float(np.min(levels)), float(np.percentile(levels, 95))
    risen = np.flatnonzero(levels >= low + fraction * (high - low))
    out = np.zeros(levels.size, dtype=bool)
    out[:risen[0] if risen.size else 0] = True
    return out


def _fisher(r: np.ndarray) -> np.ndarray:
    return np.arctanh(np.clip(r, -0.999, 0.999))


def track(features: np.ndarray, valid: np.ndarray, times_s: np.ndarray, *, radius: int, reference_index: int,
          start_index: int = 0, levels: np.ndarray | None = None, feature_scale: int = FEATURE_SCALE,
          options: TrackingOptions | None = None) -> MotionResult:
    """Track the tissue in a stack of search-area features.

    Parameters
    ----------
    features : (n, h + 2·radius, w + 2·radius) float, smoothed grey of each frame's search area; the template
        area (the ROIs' surroundings at zero shift) is the centre h × w.
    valid : same shape, bool: pixels carrying echo (False outside the image, on overlays, off the map).
    times_s : (n,) frame times, s.
    radius : largest shift searched, feature pixels.
    reference_index : the frame the ROIs were drawn on; shifts are returned relative to it.
    start_index : frames before it are not tracked (CEUS-only clips before the contrast arrives).
    levels : (n,) mean grey of each frame's template area, when the caller has it (else computed).
    feature_scale : full-frame pixels per feature pixel.

    Returns
    -------
    :class:`MotionResult` with full-frame pixel shifts; ``applied`` says whether the image evidence supports
    using them.
    """
    opts = options or TrackingOptions()
    n = features.shape[0]
    size = 2 * radius + 1
    h, w = features.shape[1] - 2 * radius, features.shape[2] - 2 * radius
    shifts = np.zeros((n, 2), dtype=int)
    quality = np.full(n, np.nan)
    rejected = np.zeros(n, dtype=bool)
    tracked = np.zeros(n, dtype=bool)
    idx = np.arange(start_index, n)
    if idx.size < 8:
        return MotionResult(shifts, quality, rejected, tracked, False, "too few frames with contrast to track")
    feats, ok, t = features[start_index:], valid[start_index:], times_s[start_index:]
    lo, hi = _window_bounds(t, opts.window_s / 2)
    dt = np.diff(t, prepend=t[0])
    step_sigma = np.sqrt((opts.speed_px_s * dt) ** 2 + opts.step_floor_px**2)
    states = np.full((idx.size, 2), radius)
    keep = np.ones(idx.size, dtype=bool)
    if levels is None:
        levels = features[:, radius:radius + h, radius:radius + w].mean(axis=(1, 2), dtype=np.float32)
    arriving = _arriving(np.asarray(levels)[start_index:])
    envelope = Envelope(np.zeros(2), float(radius))
    previous: ShiftPosterior | None = None
    for iteration in range(1 + opts.passes):
        blur = opts.anchor_blur * radius if iteration == 0 else 0.0
        ncc, template_pixels = _match_all(feats, ok, states, keep, lo, hi, h, w, blur)
        n_eff = template_pixels / opts.effective_area_px
        ll = _log_likelihood(ncc, n_eff, radius, envelope)
        ll[~keep] = 0.0  # rejected frames follow their neighbours
        if previous is not None and opts.periodic_sigma_px > 0:
            confident = keep & (previous.spread <= opts.confident_spread_px)
            add_periodic_prior(ll, t, previous.mean, confident, radius, opts.periodic_sigma_px)
        posterior = previous = forward_backward(ll, step_sigma)
        states = np.clip(np.rint(posterior.mean).astype(int) + radius, 0, size - 1)
        q = _path_quality(ncc, states)
        keep = ~_rejected(q, n_eff, t, opts) | arriving
        envelope = Envelope.of(posterior.mean, posterior.spread, keep, radius, opts)
    # what still lies outside the envelope (a margin beyond where its wall starts) had no evidence of its own
    # to be there: never measured
    keep &= np.hypot(*(posterior.mean - envelope.centre).T) <= envelope.radius + opts.envelope_margin_px
    fine = posterior.mean  # displacement from the breathing centre, feature px
    anchored = int(np.searchsorted(idx, reference_index))
    if anchored < idx.size and idx[anchored] == reference_index:
        origin = fine[anchored]
    elif keep.any():  # the reference frame was not tracked (e.g. drawn before the contrast came): the usual place
        origin = np.median(fine[keep], axis=0)
    else:
        return MotionResult(shifts, quality, rejected, tracked, False, "no frame could be placed; ROIs kept still")
    relative = np.rint((fine - origin) * feature_scale).astype(int)
    shifts[idx] = relative[:, ::-1]  # (dx, dy)
    quality[idx] = q
    rejected[idx] = ~keep
    tracked[idx] = True
    rows = np.arange(idx.size)
    # the null: the best still position (where the frames are predicted to be, as a rule); on a still clip
    # following the predictions gains nothing over it, whatever error the reference frame's own estimate has
    predicted = np.clip(np.rint(posterior.predicted).astype(int) + radius, 0, size - 1)
    static = np.clip(np.rint(np.median(posterior.predicted[keep], axis=0)).astype(int) + radius, 0, size - 1)
    static_q = ncc[:, static[0], static[1]]
    predicted_q = ncc[rows, predicted[:, 0], predicted[:, 1]]
    use = keep & np.isfinite(static_q) & np.isfinite(predicted_q)
    gain = _fisher(predicted_q[use]) - _fisher(static_q[use])
    applied, note, mean_gain = _decide(gain, opts)
    return MotionResult(shifts, quality, rejected, tracked, applied, note, evidence_gain=mean_gain)


def _decide(gain: np.ndarray, opts: TrackingOptions) -> tuple[bool, str, float]:
    """(apply?, why, mean gain) from the held-out Fisher-z gains of the frames."""
    if gain.size < 8:
        return False, "too few well-matched frames to judge the tracking; ROIs kept still", float("nan")
    mean = float(np.mean(gain))
    se = float(np.std(gain, ddof=1)) / math.sqrt(gain.size)
    if mean >= opts.min_gain and mean >= opts.evidence_z * se:
        return True, (f"tracked positions match the anatomy better than still ROIs (Fisher-z gain {mean:.3f} ± "
                      f"{se:.3f} over {gain.size} frames)"), mean
    return False, f"no significant motion evidence (Fisher-z gain {mean:.3f} ± {se:.3f}); ROIs kept still", mean
