"""Whole-clip tissue tracking anchored to the breathing centre, never to its own past.

The clip is read once before anything is decided, so tracking need not be causal:

1. **Anchor.** Breathing moves the liver back and forth around a position it keeps returning to, so the
   plain (unaligned) mean of the frames over a few seconds is a blurred image of the anatomy *at that
   centre*. Each frame is matched against the mean of its neighbours in time (itself left out; the window
   slides inwards at the clip's ends so it always spans a breath); the matches measure displacement from the
   breathing centre, and errors cannot accumulate: no template is ever built from earlier estimates of the
   same chain. This pass works on features blurred to about a third of the search range: a sharp texture
   that persists from frame to frame (B-mode speckle) would otherwise average into ghost copies at the
   extremes of the breathing, and a frame would match the far ghost.
2. **Sharpen.** The neighbours are then aligned with those estimates and averaged again: a sharp template
   of the local appearance (bright arterial lesion, dark wash-out, …) still expressed at the centre. Where
   both sides hold enough frames, the past and the future neighbours make two templates and each shift
   keeps the better match: a lesion that fills with contrast within half a second changes the image, not
   the tissue's position, and a frame resembles the frames on its own side of the change
   (:mod:`.templates`). Neighbours are counted in time; a sparse late frame, seconds from any other, is
   matched against the few frames nearest it.
3. **Posterior.** For every frame, the masked normalised cross-correlation over all candidate shifts gives a
   log-likelihood; a hidden Markov model with a Gaussian prior on tissue speed combines the frames
   (forward–backward) and each frame's shift is its posterior mean: a frame with no clear match follows its
   neighbours instead of jumping to a chance peak of speckle noise.
4. **Reject.** A frame whose match falls far below what its neighbours reach on both sides, in time (out of
   plane, a deep breath), is rejected (NaN in the TICs) and left out of the templates and of the evidence; a
   frame without neighbours is judged by its own match (:mod:`.rejection`).
5. **Envelope.** The frames placed confidently show how far the breathing takes the tissue; later passes
   keep every frame inside that disc, and at the end a frame lying off the confident frames' convex hull is
   moved onto it (:mod:`.envelope`).
5a. **Arrival.** On the anchoring pass's matches, the leading frames matched far worse than the frames after
   them (the contrast still arriving: nothing yet, or only the vessels, lit a second or two before the lesion)
   are judged to show what their template does not; they give no evidence and enter no template, and at the
   end each is placed backwards from the first reliable frame by its match with the frames just after it
   (:mod:`.arrival`): a frame showing only a vessel would otherwise lay it onto the template's lit lesion.
6. **Breathing repeats.** Where the image cannot place a frame (a lesion passing through iso-enhancement
   has no structure to match), the sharpening passes add a weak prior around where the confidently placed
   frames were one breathing period before and after it (:mod:`.breathing`).
7. **Refine.** Precisely placed frames are refined between states (a parabola through their likelihood), and
   the positions are smoothed over a fraction of a second; the reference frame's own position is read from
   the frames around it (:mod:`.reference`), since every applied shift carries its error.
8. **Decide, by held-out evidence.** Each frame's shift is also predicted from its neighbours alone (the
   posterior without the frame's own match). Tracking is applied only if, on average, a frame matches its
   template better at that prediction than at the still ROI's position: the prediction never saw the
   frame's own speckle, so chance matches cannot vote for tracking — an ROI wandering over homogeneous
   liver gains nothing there, however smooth its TIC. Where tracking is not applied nothing is rejected
   either: a frame was judged against templates of a tracking that does not hold.

Shifts are finally expressed relative to the reference frame, where the ROIs were drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ceuskit.preprocess.motion.arrival import chain_backwards, unreliable_lead
from ceuskit.preprocess.motion.breathing import add_periodic_prior
from ceuskit.preprocess.motion.envelope import Envelope, into_hull
from ceuskit.preprocess.motion.features import FEATURE_SCALE
from ceuskit.preprocess.motion.posterior import ShiftPosterior, forward_backward
from ceuskit.preprocess.motion.reference import reference_position, smoothed, vertex
from ceuskit.preprocess.motion.rejection import rejected_frames
from ceuskit.preprocess.motion.result import MotionResult
from ceuskit.preprocess.motion.templates import match_neighbours, neighbour_bounds

__all__ = ["TrackingOptions", "anchor_matches", "track"]


@dataclass(frozen=True)
class TrackingOptions:
    """Settings of :func:`track`.

    Lengths (``*_px``) are in *feature* pixels (``feature_scale`` full-frame pixels each), speeds in feature
    pixels per second; the result's shifts are full-frame pixels.
    """

    window_s: float = 6.0  # neighbours within ± window/2 make a frame's template (≥ one breathing cycle)
    anchor_window_s: float = 6.0  # … in the anchoring pass, whose plain mean must lie at the breathing centre
    speed_px_s: float = 16.0  # typical tissue speed (Gaussian prior on the frame-to-frame step), px/s
    step_floor_px: float = 0.5  # a frame-to-frame step of this size is always plausible
    effective_area_px: float = 12.0  # pixels per independent sample in the smoothed features
    reject_z: float = 3.0  # reject a frame whose match lies this many standard errors below its neighbours'
    reject_window_s: float = 6.0  # … the neighbours within ± this/2 …
    reject_ratio: float = 0.5  # … and below this fraction of their correlation
    lower_side: bool = True  # a frame is held to the lower of its two sides' levels (else to both together)
    isolated_z: float = 3.0  # a frame without neighbours in time is rejected when its own match is weaker
    min_neighbours: int = 3  # a template holds at least this many frames on each side, however far (sparse frames)
    evidence_z: float = 3.0  # tracking must beat the static position by this many standard errors
    min_gain: float = 0.02  # … and by at least this much correlation (Fisher z), on average
    passes: int = 2  # sharpening passes after the anchoring one
    anchor_blur: float = 0.33  # the anchoring pass blurs the features by this fraction of the search radius
    confident_spread_px: float = 1.0  # frames placed this precisely (posterior s.d.) define the envelope …
    envelope_margin_px: float = 1.0  # … widened by this margin
    hull_margin_px: float = 0.25  # a frame this far outside the confident frames' convex hull is moved onto it
    periodic_sigma_px: float = 2.5  # width of the prior one breathing period away (0: not used)
    subpixel_spread_px: float = 0.75  # frames placed this precisely are refined between states
    arriving_fraction: float = 0.5  # frames before the template area's brightness rose this far are never rejected
    two_sided: bool = True  # sharpening passes match each frame against its past and its future neighbours …
    side_min_s: float = 1.5  # … where each side spans at least this long …
    side_min_frames: int = 8  # … and holds at least this many frames
    reference_half_s: float = 1.5  # frames this close to the reference frame say where it lies
    smoothing_s: float = 0.5  # positions are smoothed over ± this (0: not)
    chain_arrival: bool = True  # leading frames matched far worse than those after them: placed by those (.arrival)


def _log_likelihood(ncc: np.ndarray, n_eff: np.ndarray, radius: int, envelope: Envelope) -> np.ndarray:
    """Return the log-likelihood of each shift from its correlation r, plus the envelope prior.

    −(N/2)·ln(1 − r²) per shift (r > 0; the profile likelihood of a linear match with N independent
    samples), plus the envelope prior: free inside the breathing envelope, a Gaussian wall (1 state wide)
    beyond it, and a weak Gaussian pull (width ``radius``) towards its centre.
    """
    r = np.clip(np.nan_to_num(ncc, nan=0.0), 0.0, 0.995)
    ll: np.ndarray = -(0.5 * n_eff.astype(np.float32))[:, None, None] * np.log1p(-r * r)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    dy, dx = offsets[:, None] - envelope.centre[0], offsets[None, :] - envelope.centre[1]
    distance = np.hypot(dy, dx)
    ll -= (distance**2 / (2.0 * radius**2) + np.maximum(distance - envelope.radius, 0.0) ** 2 / 2.0).astype(np.float32)
    return ll


def _path_quality(ncc: np.ndarray, path: np.ndarray) -> np.ndarray:
    quality: np.ndarray = ncc[np.arange(path.shape[0]), path[:, 0], path[:, 1]]
    return quality


def _arriving(levels: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """Frames before the template area first reaches ``fraction`` of its brightness rise.

    The contrast is still arriving, their matches are weak because the image is faint, not because the plane
    was left.
    """
    low, high = float(np.min(levels)), float(np.percentile(levels, 95))
    risen = np.flatnonzero(levels >= low + fraction * (high - low))
    out = np.zeros(levels.size, dtype=bool)
    out[:risen[0] if risen.size else 0] = True
    return out


def _two_sided(t: np.ndarray, lo: np.ndarray, hi: np.ndarray, opts: TrackingOptions) -> np.ndarray:
    """Frames whose past and future neighbours each span ``side_min_s`` and hold ``side_min_frames``."""
    if not opts.two_sided:
        return np.zeros(t.size, dtype=bool)
    k = np.arange(t.size)
    two_sided: np.ndarray = ((k - lo >= opts.side_min_frames) & (hi - 1 - k >= opts.side_min_frames)
                             & (t - t[lo] >= opts.side_min_s) & (t[hi - 1] - t >= opts.side_min_s))
    return two_sided


def _refined(posterior: ShiftPosterior, ll: np.ndarray, keep: np.ndarray, radius: int, max_spread: float
             ) -> np.ndarray:
    """Positions (feature px from the grid's centre) between states where a frame is placed precisely.

    A frame whose posterior is this narrow sits on one state: its mean is quantised to whole feature pixels.
    The vertex of a parabola through its log-likelihood at that state and the next one on each side, along
    each axis, places it between states; other frames keep the posterior mean.
    """
    fine = posterior.mean.copy()
    size = ll.shape[1]
    frames = np.flatnonzero(keep & (posterior.spread <= max_spread))
    centre = np.clip(np.rint(fine[frames]).astype(int) + radius, 1, size - 2)
    y, x = centre[:, 0], centre[:, 1]
    at = ll[frames, y, x]
    fine[frames, 0] = y - radius + vertex(at, ll[frames, y - 1, x], ll[frames, y + 1, x])
    fine[frames, 1] = x - radius + vertex(at, ll[frames, y, x - 1], ll[frames, y, x + 1])
    return fine


def _fisher(r: np.ndarray) -> np.ndarray:
    z: np.ndarray = np.arctanh(np.clip(r, -0.999, 0.999))
    return z


def anchor_matches(features: np.ndarray, valid: np.ndarray | Callable[[], np.ndarray], times_s: np.ndarray, *,
                   radius: int, start_index: int = 0, options: TrackingOptions | None = None,
                   ready: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the anchoring pass's matches.

    Each frame from ``start_index`` on is matched against the plain mean of its neighbours (all kept, all at
    the centre), on blurred features.

    Parameters
    ----------
    features, valid, times_s, radius, start_index, options : as for :func:`track` (``valid`` may be a
        function returning the validity array as it is at the time).
    ready : called with m before frames m − 1 and earlier are first used; returns once they have been read
        (the pass can run while the clip is read: its windows are known in advance).

    Returns
    -------
    (ncc, template_pixels) of frames ``start_index`` … n−1, as :func:`track` computes them in its first pass.
    """
    opts = options or TrackingOptions()
    n = features.shape[0]
    h, w = features.shape[1] - 2 * radius, features.shape[2] - 2 * radius
    t = times_s[start_index:]
    lo, hi = neighbour_bounds(t, opts.anchor_window_s / 2, opts.min_neighbours)
    states = np.full((n - start_index, 2), radius)
    keep = np.ones(n - start_index, dtype=bool)
    later: np.ndarray | Callable[[], np.ndarray] = (
        (lambda: valid()[start_index:]) if callable(valid) else valid[start_index:])
    wait = None if ready is None else (lambda m: ready(start_index + m))
    return match_neighbours(features[start_index:], later, states, keep, lo, hi, h, w,
                            blur=opts.anchor_blur * radius, ready=wait)


def track(features: np.ndarray, valid: np.ndarray, times_s: np.ndarray, *, radius: int, reference_index: int,
          start_index: int = 0, levels: np.ndarray | None = None, feature_scale: int = FEATURE_SCALE,
          options: TrackingOptions | None = None,
          anchor: Callable[[], tuple[np.ndarray, np.ndarray] | None] | None = None
          ) -> MotionResult:
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
    anchor : gives the first pass's matches when they were computed already (:func:`anchor_matches` with
        the same features, times, radius, start and options, e.g. while the clip was read), else None.

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
    lo, hi = neighbour_bounds(t, opts.window_s / 2, opts.min_neighbours)
    sides = _two_sided(t, lo, hi, opts)
    dt = np.diff(t, prepend=t[0])
    step_sigma = np.sqrt((opts.speed_px_s * dt) ** 2 + opts.step_floor_px**2)
    states = np.full((idx.size, 2), radius)
    keep = np.ones(idx.size, dtype=bool)
    if levels is None:
        levels = features[:, radius:radius + h, radius:radius + w].mean(axis=(1, 2), dtype=np.float32)
    arriving = _arriving(np.asarray(levels)[start_index:], opts.arriving_fraction)
    envelope = Envelope(np.zeros(2), float(radius))
    previous: ShiftPosterior | None = None
    matched = keep.copy()  # frames whose match with their template measures their position (:mod:`.arrival`)
    lead = 0
    for iteration in range(1 + opts.passes):
        if iteration == 0:
            ready = anchor() if anchor is not None else None
            ncc, template_pixels = ready if ready is not None else anchor_matches(
                features, valid, times_s, radius=radius, start_index=start_index, options=opts)
        else:
            ncc, template_pixels = match_neighbours(feats, ok, states, matched, lo, hi, h, w, two_sided=sides)
        n_eff = template_pixels / opts.effective_area_px
        ll = _log_likelihood(ncc, n_eff, radius, envelope)
        ll[~matched] = 0.0  # rejected frames and those still lacking the template's contrast follow their neighbours
        if previous is not None and opts.periodic_sigma_px > 0:
            confident = matched & (previous.spread <= opts.confident_spread_px)
            add_periodic_prior(ll, t, previous.mean, confident, radius, opts.periodic_sigma_px)
        posterior = previous = forward_backward(ll, step_sigma)
        states = np.clip(np.rint(posterior.mean).astype(int) + radius, 0, size - 1)
        q = _path_quality(ncc, states)
        keep = ~rejected_frames(q, n_eff, t, window_s=opts.reject_window_s, reject_z=opts.reject_z,
                                reject_ratio=opts.reject_ratio, isolated_z=opts.isolated_z,
                                lower_side=opts.lower_side) | arriving
        if iteration == 0:  # judged once, on matches against plain means (never against tracked templates)
            lead = unreliable_lead(q, n_eff, t, arriving, window_s=opts.reject_window_s,
                                   reject_z=opts.reject_z) if opts.chain_arrival else 0
        matched = keep.copy()
        matched[:lead] = False
        envelope = Envelope.of(posterior.mean, posterior.spread, matched, radius, opts)
    fine = _refined(posterior, ll, matched, radius, opts.subpixel_spread_px)  # from the breathing centre, feature px
    if lead:
        fine, _ = chain_backwards(feats, ok, fine, lead, radius=radius, step_sigma=step_sigma,
                                  effective_area_px=opts.effective_area_px, max_spread=opts.subpixel_spread_px)
    if opts.smoothing_s > 0:
        fine = smoothed(t, fine, keep, opts.smoothing_s)
    # what still lies outside the region the confidently placed frames cover had no evidence of its own to
    # be there: it is put where the breathing does reach (a vaguely placed frame right onto it)
    confident = matched & (posterior.spread <= opts.confident_spread_px)
    fine, _ = into_hull(fine, confident, np.where(confident, opts.hull_margin_px, 0.0))
    if not keep.any():
        return MotionResult(shifts, quality, rejected, tracked, False, "no frame could be placed; ROIs kept still")
    anchored = int(np.searchsorted(idx, reference_index))
    if anchored < idx.size and idx[anchored] == reference_index:
        origin = reference_position(t, fine, keep, anchored, half_s=opts.reference_half_s)
    else:  # the reference frame was not tracked (e.g. drawn before the contrast came): the usual place
        origin = np.median(fine[keep], axis=0)
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
    use = matched & np.isfinite(static_q) & np.isfinite(predicted_q)
    gain = _fisher(predicted_q[use]) - _fisher(static_q[use])
    applied, note, mean_gain = _decide(gain, opts)
    if not applied:  # a frame is judged against a tracked template only where tracking holds
        rejected[:] = False
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
