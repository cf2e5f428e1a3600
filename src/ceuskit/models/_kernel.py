"""Compiled variable-projection Levenberg–Marquardt kernel behind :func:`ceuskit.models.fit_curves`.

Each curve is ``y ≈ b + A·g(t − t0; p1, p2)``.  For fixed nonlinear parameters θ = (t0, p1, p2) the linear
ones (A ≥ 0, b) are the closed-form least-squares solution, so Levenberg–Marquardt runs on θ alone, with the
residual projected onto the complement of span{g, 1} and Kaufman's approximation of its Jacobian
(Golub & Pereyra, "Separable nonlinear least squares: the variable projection method and its applications",
Inverse Problems 19, 2003).  Bounds on θ are kept by projecting each trial step onto the box.  The damping
follows Nielsen's gain-ratio rule (H. B. Nielsen, "Damping parameter in Marquardt's method", IMM-REP-1999-05),
which needs fewer steps than multiplying and dividing by 10 on curves that are not of the fitted family.

Each curve first runs from its starts on block means of its samples (cheap; a later start only when the first
leaves the block means beyond their noise), then the best is refined on all samples.  One evaluation is two
loops over the samples that compile to SIMD code: the shape and its derivatives (with the vectorisable exp and
log of :mod:`ceuskit._fastmath`), then every sum the projected cost, gradient and Gauss–Newton matrix need,
accumulated in one pass.  The refinement stops when the Gauss–Newton step would lower the RSS by less than
``ftol`` residual variances (RSS/(m − 5)): the parameters are then within √ftol standard errors of the
optimum, and further digits would be noise (or when progress stalls below 10⁻⁶ of the RSS per step).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ceuskit.models._features import extreme
from ceuskit.models.shapes import log_norm, shape_terms

__all__ = ["STATUS_MESSAGES", "fit_kernel"]

Arr = np.ndarray

CONVERGED, MAX_ITER, TOO_FEW, FLAT, NO_START, NO_ENHANCEMENT, NOT_FINITE, POOR_FIT = 0, 1, 2, 3, 4, 5, 6, 7
STATUS_MESSAGES = {
    CONVERGED: "converged",
    MAX_ITER: "max iterations",
    TOO_FEW: "too few samples",
    FLAT: "flat curve",
    NO_START: "model could not be evaluated from any start",
    NO_ENHANCEMENT: "no clear enhancement above the noise",
    NOT_FINITE: "non-finite result",
    POOR_FIT: "poor fit (R² below 0.5)",
}

_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}  # lets sums vectorise; NaN and inf keep their meaning
_COARSE_FTOL = 1e-3  # the block-mean stage only chooses among the starts: relative RSS reduction to stop at
_COARSE_XTOL = 1e-4
_STALL_FTOL = 1e-6  # the final stage also stops when a step would lower the RSS by less than this fraction
_GOOD_FIT = 1.5  # later starts are tried only when the first leaves the block means this far above their noise
_CHUNK = 8  # curves per parallel task: scratch arrays are allocated once per task
_LANES = 8  # the shape loop runs over a multiple of this many times (padded): no scalar remainder loop
_N_PARAMS = 5


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _fill(code: int, tv: Arr, t0: float, p1: float, p2: float, g: Arr, a0: Arr, a1: Arr, a2: Arr) -> None:
    """g(t − t0) and g·∂ln g/∂(t0, p1, p2) (τ-dependent parts) at every time of ``tv``; 0 where τ ≤ 0."""
    lnorm = log_norm(code, p1, p2)
    for i in range(tv.size):
        tau = tv[i] - t0
        after = tau > 0.0
        gi, d0, d1, d2 = shape_terms(code, tau if after else 1.0, p1, p2, lnorm)
        gi = gi if after else 0.0
        g[i] = gi
        a0[i] = gi * d0
        a1[i] = gi * d1
        a2[i] = gi * d2


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _project(code: int, tv: Arr, yc: Arr, y_mean: float, syy: float, t0: float, p1: float, p2: float, g: Arr,
             a0: Arr, a1: Arr, a2: Arr) -> tuple[bool, float, float, float, float, float, float, float, float,
                                                 float, float, float, float]:
    """Evaluate the projected problem at θ = (t0, p1, p2) on m samples (tv[:m], yc = y − ȳ (m,), Σyc² = syy).

    ``tv`` may run on past the m samples (finite padding times, evaluated but not summed) so that the shape
    loop covers whole SIMD vectors; ``g`` and ``a0..a2`` are scratch as long as ``tv``.  Returns (ok, A, b,
    cost, J00, J01, J02, J11, J12, J22, r0, r1, r2): the linear parameters, the projected RSS, the upper
    triangle of the Gauss–Newton matrix JᵀJ and the gradient half Jᵀr; ok is False when the model cannot
    be evaluated at θ.
    """
    m = yc.size
    _fill(code, tv, t0, p1, p2, g, a0, a1, a2)
    sg = sgg = sgy = 0.0
    s0 = s1 = s2 = 0.0  # Σ a_k
    q0 = q1 = q2 = 0.0  # Σ g a_k
    r0 = r1 = r2 = 0.0  # Σ a_k yc
    d00 = d01 = d02 = d11 = d12 = d22 = 0.0  # Σ a_k a_j
    for i in range(m):
        gi, b0, b1, b2, yi = g[i], a0[i], a1[i], a2[i], yc[i]
        sg += gi
        sgg += gi * gi
        sgy += gi * yi
        s0 += b0
        s1 += b1
        s2 += b2
        q0 += gi * b0
        q1 += gi * b1
        q2 += gi * b2
        r0 += b0 * yi
        r1 += b1 * yi
        r2 += b2 * yi
        d00 += b0 * b0
        d01 += b0 * b1
        d02 += b0 * b2
        d11 += b1 * b1
        d12 += b1 * b2
        d22 += b2 * b2
    g_mean = sg / m
    sgg -= sg * g_mean  # Σ (g − ḡ)²
    area = max(sgy / sgg, 0.0)
    cost = max(syy - 2.0 * area * sgy + area * area * sgg, 0.0)  # Σ (yc − A(g − ḡ))²
    q0 -= g_mean * s0  # Σ (g − ḡ) a_k
    q1 -= g_mean * s1
    q2 -= g_mean * s2
    sq = area * area
    j00 = sq * (d00 - s0 * s0 / m - q0 * q0 / sgg)
    j01 = sq * (d01 - s0 * s1 / m - q0 * q1 / sgg)
    j02 = sq * (d02 - s0 * s2 / m - q0 * q2 / sgg)
    j11 = sq * (d11 - s1 * s1 / m - q1 * q1 / sgg)
    j12 = sq * (d12 - s1 * s2 / m - q1 * q2 / sgg)
    j22 = sq * (d22 - s2 * s2 / m - q2 * q2 / sgg)
    r0, r1, r2 = -area * (r0 - area * q0), -area * (r1 - area * q1), -area * (r2 - area * q2)
    ok = sg > 0.0 and sgg > 0.0 and math.isfinite(sg + sgg + cost + j00 + j01 + j02 + j11 + j12 + j22 + r0 + r1 + r2)
    return ok, area, y_mean - area * g_mean, cost, j00, j01, j02, j11, j12, j22, r0, r1, r2


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _centre(v: Arr, out: Arr) -> tuple[float, float]:
    """Centre ``v`` into ``out`` (out = v − mean(v)); return (mean, Σ out²)."""
    mean = 0.0
    for i in range(v.size):
        mean += v[i]
    mean /= v.size
    ss = 0.0
    for i in range(v.size):
        out[i] = v[i] - mean
        ss += out[i] * out[i]
    return mean, ss


@njit(cache=True, error_model="numpy", inline="always")
def _solve_spd3(m00: float, m01: float, m02: float, m11: float, m12: float, m22: float, v0: float, v1: float,
                v2: float) -> tuple[bool, float, float, float]:
    """Solve M·x = v for a symmetric positive definite 3×3 M (upper triangle given), by Cholesky.

    Returns (solved, x0, x1, x2); (False, …) when M is not numerically positive definite.
    """
    if not m00 > 0.0:
        return False, 0.0, 0.0, 0.0
    l00 = math.sqrt(m00)
    l10 = m01 / l00
    l20 = m02 / l00
    d1 = m11 - l10 * l10
    if not d1 > 0.0:
        return False, 0.0, 0.0, 0.0
    l11 = math.sqrt(d1)
    l21 = (m12 - l20 * l10) / l11
    d2 = m22 - l20 * l20 - l21 * l21
    if not d2 > 0.0:
        return False, 0.0, 0.0, 0.0
    l22 = math.sqrt(d2)
    z0 = v0 / l00
    z1 = (v1 - l10 * z0) / l11
    z2 = (v2 - l20 * z0 - l21 * z1) / l22
    x2 = z2 / l22
    x1 = (z1 - l21 * x2) / l11
    x0 = (z0 - l10 * x1 - l20 * x2) / l00
    return math.isfinite(x0 + x1 + x2), x0, x1, x2


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _lm(code: int, tv: Arr, yv: Arr, work: Arr, t0: float, p1: float, p2: float, lo: Arr, hi: Arr, max_iter: int,
        ftol: float, gtol: float, xtol: float) -> tuple[int, int, float, float, float, float, float, float, bool]:
    """Bounded LM on θ = (t0, p1, p2) over samples (tv[:m], yv (m,)) (``tv`` padded as for :func:`_project`).

    ``work`` (5, ≥ tv.size) is scratch.  Returns (status, evaluations, t0, p1, p2, A, b, cost, fresh) at the
    final θ; ``fresh``: ``work[0, :m]`` holds the shape g there (the last evaluation was of the final θ).
    Converged when the undamped Gauss–Newton step promises a cost reduction of at most ``gtol`` times the
    cost (the Newton decrement rᵀ(JᵀJ)⁻¹r: θ is that close to the optimum of the local quadratic model), when
    the damped step's predicted or actual reduction is at most ``ftol`` times the cost (progress has
    stalled), when a step moves no parameter by more than ``xtol`` relative, or when no step reduces the cost.
    """
    m = yv.size
    n_pad = tv.size
    yc = work[4, :m]
    y_mean, syy = _centre(yv, yc)
    g, a0, a1, a2 = work[0, :n_pad], work[1, :n_pad], work[2, :n_pad], work[3, :n_pad]
    ok, area, base, cost, j00, j01, j02, j11, j12, j22, r0, r1, r2 = _project(code, tv, yc, y_mean, syy, t0, p1, p2,
                                                                            g, a0, a1, a2)
    if not ok:
        return NO_START, 1, t0, p1, p2, np.nan, np.nan, np.nan, False
    evaluations = 1
    fresh = True
    damping = 1e-3
    growth = 2.0  # factor for the next rejected step; doubles with each rejection in a row
    for _iteration in range(max_iter):
        if area <= 0.0:
            return NO_ENHANCEMENT, evaluations, t0, p1, p2, area, base, cost, fresh
        scale = max(j00, j11, j22)
        if not scale > 0.0:
            return CONVERGED, evaluations, t0, p1, p2, area, base, cost, fresh
        if gtol > 0.0:
            solved, s0, s1, s2 = _solve_spd3(j00, j01, j02, j11, j12, j22, -r0, -r1, -r2)
            if solved and -(s0 * r0 + s1 * r1 + s2 * r2) <= gtol * cost:
                return CONVERGED, evaluations, t0, p1, p2, area, base, cost, fresh
        floor = 1e-12 * scale
        accepted = False
        gain = 0.0
        for attempt in range(16):
            solved, s0, s1, s2 = _solve_spd3(j00 + damping * max(j00, floor), j01, j02, j11 + damping * max(j11, floor),
                                             j12, j22 + damping * max(j22, floor), -r0, -r1, -r2)
            if solved:
                # the cost reduction the local quadratic model promises for this step
                predicted = -2.0 * (s0 * r0 + s1 * r1 + s2 * r2) - (
                    s0 * (j00 * s0 + j01 * s1 + j02 * s2) + s1 * (j01 * s0 + j11 * s1 + j12 * s2)
                    + s2 * (j02 * s0 + j12 * s1 + j22 * s2))
                if attempt == 0 and predicted <= ftol * cost:
                    return CONVERGED, evaluations, t0, p1, p2, area, base, cost, fresh
                u0 = min(max(t0 + s0, lo[0]), hi[0])
                u1 = min(max(p1 + s1, lo[1]), hi[1])
                u2 = min(max(p2 + s2, lo[2]), hi[2])
                trial = _project(code, tv, yc, y_mean, syy, u0, u1, u2, g, a0, a1, a2)
                evaluations += 1
                fresh = False
                if trial[0] and trial[3] <= cost:
                    accepted = True
                    gain = (cost - trial[3]) / max(predicted, 1e-300)
                    break
            damping *= growth
            growth *= 2.0
        if not accepted:
            return CONVERGED, evaluations, t0, p1, p2, area, base, cost, fresh
        reduction = cost - trial[3]
        small_step = (abs(u0 - t0) <= xtol * (abs(t0) + xtol) and abs(u1 - p1) <= xtol * (abs(p1) + xtol)
                      and abs(u2 - p2) <= xtol * (abs(p2) + xtol))
        t0, p1, p2 = u0, u1, u2
        fresh = True
        area, base, cost, j00, j01, j02, j11, j12, j22, r0, r1, r2 = trial[1:]
        # Nielsen's update: relax the damping as far as the step's actual/predicted gain warrants
        damping = max(damping * max(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3), 1e-12)
        growth = 2.0
        if reduction <= ftol * cost + 1e-300 or small_step:
            return CONVERGED, evaluations, t0, p1, p2, area, base, cost, fresh
    return MAX_ITER, evaluations, t0, p1, p2, area, base, cost, fresh


@njit(cache=True)
def _block_means(tv: Arr, yv: Arr, block: int, tc: Arr, yc: Arr) -> int:
    """Means of consecutive blocks of ``block`` samples (the last may be shorter) into tc, yc; their number."""
    m = tv.size
    nb = (m + block - 1) // block
    for j in range(nb):
        lo = j * block
        hi = min(lo + block, m)
        st = 0.0
        sy = 0.0
        for i in range(lo, hi):
            st += tv[i]
            sy += yv[i]
        tc[j] = st / (hi - lo)
        yc[j] = sy / (hi - lo)
    return nb


@njit(cache=True)
def _padded(v: Arr, m: int) -> Arr:
    """v[:m] continued by copies of v[m − 1] up to a multiple of :data:`_LANES` samples (v long enough)."""
    n_pad = (m + _LANES - 1) // _LANES * _LANES
    for i in range(m, n_pad):
        v[i] = v[m - 1]
    return v[:n_pad]


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _curve_out(code: int, t: Arr, y: Arr, t0: float, p1: float, p2: float, area: float, base: float,
               fitted: Arr, g: Arr, known: bool) -> tuple[float, float, float]:
    """Write the model at every time into ``fitted``.

    Returns (RSS, max fitted value, number of non-finite fitted values), sums over the finite samples of
    ``y``.  ``g`` (≥ T,) holds the shape at the times ``t`` when ``known``, else it is scratch for it.
    """
    if not known:
        lnorm = log_norm(code, p1, p2)
        for i in range(t.size):
            tau = t[i] - t0
            after = tau > 0.0
            gi = shape_terms(code, tau if after else 1.0, p1, p2, lnorm)[0]
            g[i] = gi if after else 0.0
    rss = 0.0
    for i in range(t.size):
        value = base + area * g[i]
        fitted[i] = value
        r = y[i] - value
        rss += r * r if math.isfinite(y[i]) else 0.0
    bad = 0.0
    for i in range(t.size):
        bad += 0.0 if math.isfinite(fitted[i]) else 1.0
    return rss, extreme(fitted, fitted.size, -1.0), bad


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _difference_variance(v: Arr) -> float:
    """Return the samples' noise variance from their successive differences, Σ(Δv)²/(2(m − 1)).

    A smooth curve's own slope adds little when it is densely sampled.
    """
    total = 0.0
    later = v[1:]  # loops indexed from 0 compile to SIMD code (an index like i − 1 keeps numba's wraparound test)
    for i in range(later.size):
        d = later[i] - v[i]
        total += d * d
    return total / (2.0 * max(v.size - 1, 1))


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _compact(t: Arr, y: Arr, sc: float, tv: Arr, yv: Arr) -> int:
    """Copy the finite samples of ``y`` divided by ``sc`` into ``yv`` and their times into ``tv``.

    Returns their number.
    """
    m = 0
    for i in range(t.size):
        m += 1 if math.isfinite(y[i]) else 0
    if m == t.size:  # nothing missing (the usual case): plain copies, which compile to SIMD code
        for i in range(m):
            tv[i] = t[i]
            yv[i] = y[i] / sc
        return m
    m = 0
    for i in range(t.size):
        if math.isfinite(y[i]):
            tv[m] = t[i]
            yv[m] = y[i] / sc
            m += 1
    return m


@njit(cache=True)
def _fit_curve(code: int, t: Arr, y: Arr, sc: float, starts: Arr, lo: Arr, hi: Arr, max_iter: int,
               coarse_samples: int, ftol: float, xtol: float, scratch: Arr, work: Arr, fitted: Arr
               ) -> tuple[int, float, float, float, float, float, float, float, float, float]:
    """Fit one curve ``y`` (T,) (NaN = missing) divided by ``sc`` from its starts (S, 3); see :func:`fit_kernel`.

    ``scratch`` (4, T + :data:`_LANES`) and ``work`` (5, T + :data:`_LANES`) are scratch; ``fitted`` (T,)
    receives the model in caller units (left as it was when the status is not a fit).  Returns (status,
    evaluations, t0, p1, p2, A, b, RSS, TSS, largest fitted value or NaN if any is not finite).
    """
    nan = np.nan
    tv_all, yv_all, tc_all, ycb_all = scratch[0], scratch[1], scratch[2], scratch[3]
    m = _compact(t, y, sc, tv_all, yv_all)
    if m < 6:
        return TOO_FEW, 0.0, nan, nan, nan, nan, nan, nan, nan, nan
    yv = yv_all[:m]
    block = max(1, m // coarse_samples)
    nb = _block_means(tv_all[:m], yv, block, tc_all, ycb_all)
    tv = _padded(tv_all, m)
    tc, ycb = _padded(tc_all, nb), ycb_all[:nb]
    best_cost = np.inf
    b0 = b1 = b2 = 0.0
    evaluations = 0.0
    noise_floor = _GOOD_FIT * _difference_variance(yv) / block * (nb - _N_PARAMS)  # the block means' own noise
    for s in range(starts.shape[0]):
        if not math.isfinite(starts[s, 0]):
            continue
        if best_cost <= noise_floor:  # the model already fits the block means down to their noise
            break
        u0 = min(max(starts[s, 0], lo[0]), hi[0])
        u1 = min(max(starts[s, 1], lo[1]), hi[1])
        u2 = min(max(starts[s, 2], lo[2]), hi[2])
        status, its, u0, u1, u2, _, _, cost, _ = _lm(code, tc, ycb, work, u0, u1, u2, lo, hi, max_iter, _COARSE_FTOL,
                                                     0.0, _COARSE_XTOL)
        evaluations += its * nb / m
        if status != NO_START and cost < best_cost:
            best_cost = cost
            b0, b1, b2 = u0, u1, u2
    if not math.isfinite(best_cost):
        return NO_START, evaluations, nan, nan, nan, nan, nan, nan, nan, nan
    status, its, b0, b1, b2, area, base, _, fresh = _lm(code, tv, yv, work, b0, b1, b2, lo, hi, max_iter,
                                                        _STALL_FTOL, ftol / max(m - _N_PARAMS, 1), xtol)
    evaluations += its
    if status == NO_START:
        return NO_START, evaluations, nan, nan, nan, nan, nan, nan, nan, nan
    area, base = area * sc, base * sc
    tss = _centre(yv, work[4, :m])[1] * sc * sc
    # with no sample missing, the last evaluation's shape (if it was of the final θ) is the model at every time
    rss, top, bad = _curve_out(code, t, y, b0, b1, b2, area, base, fitted, work[0], fresh and m == t.size)
    return status, evaluations, b0, b1, b2, area, base, rss, tss, (top if bad == 0.0 else nan)


@njit(parallel=True, cache=True)
def fit_kernel(t: Arr, y: Arr, scale: Arr, code: int, starts: Arr, lo: Arr, hi: Arr, max_iter: int,
               coarse_samples: int, ftol: float, xtol: float, fitted: Arr) -> tuple[Arr, Arr, Arr, Arr, Arr, Arr, Arr, Arr]:
    """Fit every curve (rows of ``y``, NaN = missing) from its starts into ``fitted`` (n, T).

    Parameters
    ----------
    t : (T,) s.  y : (n, T) curves; each is divided by its ``scale`` (n,) for the fit.  code : model id.
    starts : (n, S, 3) θ starts (NaN rows skipped).  lo, hi : (n, 3) bounds of θ.  max_iter : LM iterations
    per stage.  coarse_samples : number of block means used to choose among the starts.  ftol : the final
    stage stops when a step would lower the RSS by at most ``ftol`` residual variances, RSS/(m − 5).
    xtol : … or moves no parameter by more than this fraction.  fitted : (n, T) float64, receives the model
    curves (allocated by the caller: numpy asks the kernel for huge pages, which makes a large output several
    times cheaper to fault in than numba's allocation).

    Returns
    -------
    theta (n, 3), linear (n, 2) = [A, b] in caller units, ``fitted`` in caller units (NaN where the fit
    failed), rss (n,), tss (n,) in caller units², status (n,), evaluations (n,) (model evaluations over all
    samples, block-mean ones counted by their share of the samples), top (n,) the largest fitted value (NaN
    where any fitted value is not finite).
    """
    n, n_t = y.shape
    theta_out = np.full((n, 3), np.nan)
    lin_out = np.full((n, 2), np.nan)
    rss_out = np.full(n, np.nan)
    tss_out = np.full(n, np.nan)
    top_out = np.full(n, np.nan)
    status_out = np.full(n, NO_START, dtype=np.int64)
    eval_out = np.zeros(n)
    for chunk in prange((n + _CHUNK - 1) // _CHUNK):
        scratch = np.empty((4, n_t + _LANES))
        work = np.empty((5, n_t + _LANES))
        for c in range(chunk * _CHUNK, min(n, (chunk + 1) * _CHUNK)):
            status, evaluations, t0, p1, p2, area, base, rss, tss, top = _fit_curve(
                code, t, y[c], scale[c], starts[c], lo[c], hi[c], max_iter, coarse_samples, ftol, xtol, scratch, work,
                fitted[c])
            status_out[c] = status
            eval_out[c] = evaluations
            if status in (TOO_FEW, NO_START):
                fitted[c, :] = np.nan
                continue
            theta_out[c, 0], theta_out[c, 1], theta_out[c, 2] = t0, p1, p2
            lin_out[c, 0], lin_out[c, 1] = area, base
            rss_out[c], tss_out[c], top_out[c] = rss, tss, top
    return theta_out, lin_out, fitted, rss_out, tss_out, status_out, eval_out, top_out
