"""Compiled variable-projection Levenberg–Marquardt kernel behind :func:`ceuskit.models.fit_curves`.

Each curve is ``y ≈ b + A·g(t − t0; p1, p2)``.  For fixed nonlinear parameters θ = (t0, p1, p2) the linear
ones (A ≥ 0, b) are the closed-form least-squares solution, so Levenberg–Marquardt runs on θ alone, with the
residual projected onto the complement of span{g, 1} and Kaufman's approximation of its Jacobian
(Golub & Pereyra, "Separable nonlinear least squares: the variable projection method and its applications",
Inverse Problems 19, 2003).  Bounds on θ are kept by projecting each trial step onto the box.  The damping
follows Nielsen's gain-ratio rule (H. B. Nielsen, "Damping parameter in Marquardt's method", IMM-REP-1999-05),
which needs fewer steps than multiplying and dividing by 10 on curves that are not of the fitted family.

Each curve first runs from every start on a strided subset of its samples (cheap), then the best start is
refined on all samples until convergence.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ceuskit.models.shapes import log_norm, shape_terms

__all__ = ["STATUS_MESSAGES", "features_kernel", "fit_kernel"]

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

_LOG_CAP = 700.0
_COARSE_FTOL = 1e-3  # the block-mean stage only chooses among the starts; the full-data stage converges
_COARSE_XTOL = 1e-4


@njit(cache=True)
def _project(tv: Arr, yv: Arr, y_mean: float, code: int, theta: Arr, g: Arr, dl: Arr, stats: Arr, jtj: Arr,
             jtr: Arr) -> bool:
    """Evaluate the projected problem at θ: fill ``g``, ``dl`` (m, 3) = g·∂ln g, ``stats`` = [A, b, cost],
    ``jtj`` (3, 3) and ``jtr`` (3,) of the projected residual; False when not finite."""
    m = tv.size
    t0, p1, p2 = theta[0], theta[1], theta[2]
    sum_g = 0.0
    lnorm = log_norm(code, p1, p2)
    for i in range(m):
        tau = tv[i] - t0
        if tau > 0.0:
            gi, d0, d1, d2 = shape_terms(code, tau, p1, p2, lnorm)
            g[i] = gi
            dl[i, 0] = gi * d0
            dl[i, 1] = gi * d1
            dl[i, 2] = gi * d2
            sum_g += gi
        else:
            g[i] = 0.0
            dl[i, 0] = 0.0
            dl[i, 1] = 0.0
            dl[i, 2] = 0.0
    if not math.isfinite(sum_g) or sum_g <= 0.0:
        return False
    g_mean = sum_g / m
    sgg = 0.0
    sgy = 0.0
    for i in range(m):
        dg = g[i] - g_mean
        sgg += dg * dg
        sgy += dg * (yv[i] - y_mean)
    if not (sgg > 0.0 and math.isfinite(sgg)):
        return False
    area = max(sgy / sgg, 0.0)
    base = y_mean - area * g_mean
    cost = 0.0
    s0 = s1 = s2 = 0.0  # Σ ∂g_k
    q0 = q1 = q2 = 0.0  # Σ (g − ḡ) ∂g_k
    r0 = r1 = r2 = 0.0  # Σ ∂g_k r
    d00 = d01 = d02 = d11 = d12 = d22 = 0.0  # Σ ∂g_k ∂g_j
    for i in range(m):
        r = yv[i] - area * g[i] - base
        cost += r * r
        dg = g[i] - g_mean
        a0, a1, a2 = dl[i, 0], dl[i, 1], dl[i, 2]
        s0 += a0
        s1 += a1
        s2 += a2
        q0 += dg * a0
        q1 += dg * a1
        q2 += dg * a2
        r0 += a0 * r
        r1 += a1 * r
        r2 += a2 * r
        d00 += a0 * a0
        d01 += a0 * a1
        d02 += a0 * a2
        d11 += a1 * a1
        d12 += a1 * a2
        d22 += a2 * a2
    stats[0], stats[1], stats[2] = area, base, cost
    if not math.isfinite(cost):
        return False
    sq = area * area
    jtr[0], jtr[1], jtr[2] = -area * r0, -area * r1, -area * r2
    jtj[0, 0] = sq * (d00 - s0 * s0 / m - q0 * q0 / sgg)
    jtj[1, 1] = sq * (d11 - s1 * s1 / m - q1 * q1 / sgg)
    jtj[2, 2] = sq * (d22 - s2 * s2 / m - q2 * q2 / sgg)
    jtj[0, 1] = jtj[1, 0] = sq * (d01 - s0 * s1 / m - q0 * q1 / sgg)
    jtj[0, 2] = jtj[2, 0] = sq * (d02 - s0 * s2 / m - q0 * q2 / sgg)
    jtj[1, 2] = jtj[2, 1] = sq * (d12 - s1 * s2 / m - q1 * q2 / sgg)
    for k in range(3):
        if not math.isfinite(jtr[k]):
            return False
        for j in range(3):
            if not math.isfinite(jtj[k, j]):
                return False
    return True


@njit(cache=True)
def _solve3(m: Arr, v: Arr, out: Arr) -> bool:
    """Solve the 3×3 system m·x = v (both overwritten) by Gaussian elimination with partial pivoting; False if
    singular."""
    for c in range(3):
        p = c
        for r in range(c + 1, 3):
            if abs(m[r, c]) > abs(m[p, c]):
                p = r
        if not (abs(m[p, c]) > 1e-300):
            return False
        if p != c:
            for k in range(3):
                m[c, k], m[p, k] = m[p, k], m[c, k]
            v[c], v[p] = v[p], v[c]
        for r in range(c + 1, 3):
            f = m[r, c] / m[c, c]
            for k in range(c, 3):
                m[r, k] -= f * m[c, k]
            v[r] -= f * v[c]
    for c in range(2, -1, -1):
        s = v[c]
        for k in range(c + 1, 3):
            s -= m[c, k] * out[k]
        out[c] = s / m[c, c]
        if not math.isfinite(out[c]):
            return False
    return True


@njit(cache=True)
def _lm(tv: Arr, yv: Arr, code: int, theta: Arr, lo: Arr, hi: Arr, max_iter: int, ftol: float, xtol: float,
        stats: Arr, g: Arr, dl: Arr, g_trial: Arr, small: Arr) -> tuple[int, int]:
    """Bounded LM on θ (modified in place); ``stats`` = [A, b, cost] and ``g`` (m,) the shape at the final θ.

    ``dl`` (≥m, 3), ``g_trial`` (≥m,) and ``small`` (8, 3, 3) are scratch.  Returns (status, iterations).
    Converged when the damped step's predicted or actual cost reduction is below ``ftol``·cost, the step is
    below ``xtol`` relative, or no step reduces the cost.
    """
    m = tv.size
    y_mean = 0.0
    for i in range(m):
        y_mean += yv[i]
    y_mean /= m
    jtj, new_jtj, mat = small[0], small[1], small[2]
    jtr, new_jtr, rhs, step = small[3, 0], small[3, 1], small[3, 2], small[4, 0]
    trial, trial_stats = small[4, 1], small[4, 2]
    if not _project(tv, yv, y_mean, code, theta, g, dl, stats, jtj, jtr):
        return NO_START, 0
    damping = 1e-3
    growth = 2.0  # factor for the next rejected step; doubles with each rejection in a row
    for it in range(max_iter):
        if stats[0] <= 0.0:
            return NO_ENHANCEMENT, it
        scale = max(jtj[0, 0], jtj[1, 1], jtj[2, 2])
        if not scale > 0.0:
            return CONVERGED, it
        accepted = False
        gain = 0.0
        for attempt in range(16):
            for k in range(3):
                rhs[k] = -jtr[k]
                for j in range(3):
                    mat[k, j] = jtj[k, j]
                mat[k, k] += damping * max(jtj[k, k], 1e-12 * scale)
            if _solve3(mat, rhs, step):
                predicted = 0.0  # the cost reduction the local quadratic model promises for this step
                for k in range(3):
                    predicted -= 2.0 * step[k] * jtr[k]
                    for j in range(3):
                        predicted -= step[k] * jtj[k, j] * step[j]
                if attempt == 0 and predicted <= ftol * stats[2]:
                    return CONVERGED, it
                for k in range(3):
                    trial[k] = min(max(theta[k] + step[k], lo[k]), hi[k])
                ok = _project(tv, yv, y_mean, code, trial, g_trial, dl, trial_stats, new_jtj, new_jtr)
                if ok and trial_stats[2] <= stats[2]:
                    accepted = True
                    gain = (stats[2] - trial_stats[2]) / max(predicted, 1e-300)
                    break
            damping *= growth
            growth *= 2.0
        if not accepted:
            return CONVERGED, it
        reduction = stats[2] - trial_stats[2]
        small_step = True
        for k in range(3):
            if abs(trial[k] - theta[k]) > xtol * (abs(theta[k]) + xtol):
                small_step = False
            theta[k] = trial[k]
            stats[k] = trial_stats[k]
            jtr[k] = new_jtr[k]
            for j in range(3):
                jtj[k, j] = new_jtj[k, j]
        for i in range(m):
            g[i] = g_trial[i]
        # Nielsen's update: relax the damping as far as the step's actual/predicted gain warrants
        damping = max(damping * max(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3), 1e-12)
        growth = 2.0
        if reduction <= ftol * stats[2] + 1e-300 or small_step:
            return CONVERGED, it + 1
    return MAX_ITER, max_iter


@njit(cache=True)
def _block_means(tv: Arr, yv: Arr, block: int) -> tuple[Arr, Arr]:
    """Means of consecutive blocks of ``block`` samples (the last block may be shorter)."""
    m = tv.size
    nb = (m + block - 1) // block
    tc = np.zeros(nb)
    yc = np.zeros(nb)
    for j in range(nb):
        lo = j * block
        hi = min(lo + block, m)
        for i in range(lo, hi):
            tc[j] += tv[i]
            yc[j] += yv[i]
        tc[j] /= hi - lo
        yc[j] /= hi - lo
    return tc, yc


@njit(parallel=True, cache=True)
def fit_kernel(t: Arr, y: Arr, scale: Arr, code: int, starts: Arr, lo: Arr, hi: Arr, max_iter: int,
               coarse_samples: int, ftol: float, xtol: float) -> tuple[Arr, Arr, Arr, Arr, Arr, Arr, Arr]:
    """Fit every curve (rows of ``y``, NaN = missing) from its starts.

    Parameters
    ----------
    t : (T,) s.  y : (n, T) curves; each is divided by its ``scale`` (n,) for the fit.  code : model id.  starts : (n, S, 3) θ starts
    (NaN rows skipped).  lo, hi : (n, 3) bounds of θ.  max_iter : LM iterations per stage.
    coarse_samples : number of block means used to choose among the starts.  ftol, xtol : relative
    cost-reduction and step tolerances of the final stage.

    Returns
    -------
    theta (n, 3), linear (n, 2) = [A, b] in caller units, fitted (n, T) in caller units (NaN where the fit
    failed), rss (n,), tss (n,) in caller units², status (n,), iterations (n,).
    """
    n, n_t = y.shape
    n_starts = starts.shape[1]
    theta_out = np.full((n, 3), np.nan)
    lin_out = np.full((n, 2), np.nan)
    fitted = np.full((n, n_t), np.nan)
    rss_out = np.full(n, np.nan)
    tss_out = np.full(n, np.nan)
    status_out = np.full(n, NO_START, dtype=np.int64)
    iter_out = np.zeros(n, dtype=np.int64)
    for c in prange(n):
        m = 0
        for i in range(n_t):
            if math.isfinite(y[c, i]):
                m += 1
        if m < 6:
            status_out[c] = TOO_FEW
            continue
        tv = np.empty(m)
        yv = np.empty(m)
        j = 0
        for i in range(n_t):
            if math.isfinite(y[c, i]):
                tv[j] = t[i]
                yv[j] = y[c, i] / scale[c]
                j += 1
        block = max(1, m // coarse_samples)
        tc, yc = _block_means(tv, yv, block)
        gc = np.empty(tc.size)
        g = np.empty(m)
        dl = np.empty((m, 3))
        g_trial = np.empty(m)
        small = np.empty((8, 3, 3))
        best_cost = np.inf
        best = np.full(3, np.nan)
        theta = np.empty(3)
        stats = np.empty(3)
        total_iter = 0
        for s in range(n_starts):
            if not math.isfinite(starts[c, s, 0]):
                continue
            for k in range(3):
                theta[k] = min(max(starts[c, s, k], lo[c, k]), hi[c, k])
            status, its = _lm(tc, yc, code, theta, lo[c], hi[c], max_iter, _COARSE_FTOL, _COARSE_XTOL, stats, gc, dl,
                              g_trial, small)
            total_iter += its
            if status != NO_START and stats[2] < best_cost:
                best_cost = stats[2]
                best[:] = theta
        if not math.isfinite(best_cost):
            continue
        theta[:] = best
        status, its = _lm(tv, yv, code, theta, lo[c], hi[c], max_iter, ftol, xtol, stats, g, dl, g_trial, small)
        total_iter += its
        iter_out[c] = total_iter
        status_out[c] = status
        if status == NO_START:
            continue
        sc = scale[c]
        area, base = stats[0] * sc, stats[1] * sc
        theta_out[c] = theta
        lin_out[c, 0] = area
        lin_out[c, 1] = base
        y_mean = 0.0
        for i in range(m):
            y_mean += yv[i]
        y_mean = y_mean * sc / m
        rss = 0.0
        tss = 0.0
        lnorm = log_norm(code, theta[1], theta[2])
        j = 0
        for i in range(n_t):
            yi = y[c, i]
            if math.isfinite(yi):
                value = base + area * g[j]
                j += 1
            else:
                tau = t[i] - theta[0]
                value = base
                if tau > 0.0:
                    value += area * shape_terms(code, tau, theta[1], theta[2], lnorm)[0]
            fitted[c, i] = value
            if math.isfinite(yi):
                r = yi - value
                rss += r * r
                d = yi - y_mean
                tss += d * d
        rss_out[c] = rss
        tss_out[c] = tss
    return theta_out, lin_out, fitted, rss_out, tss_out, status_out, iter_out


@njit(parallel=True, cache=True)
def features_kernel(t: Arr, y: Arr, width: int) -> Arr:
    """Per curve: [arrival (10 % rise) s, peak s, centroid s, height, baseline] of the moving average over
    ``width`` samples (non-finite samples ignored; NaN for a curve without finite samples), then [max |y|,
    max y − min y, number of finite samples] of the raw curve."""
    n, n_t = y.shape
    out = np.full((n, 8), np.nan)
    dtw = np.empty(n_t)
    for i in range(n_t):
        dtw[i] = 0.5 * (t[min(i + 1, n_t - 1)] - t[max(i - 1, 0)])
    half = width // 2
    for c in prange(n):
        csum = np.zeros(n_t + 1)
        ccount = np.zeros(n_t + 1)
        y_max = -np.inf
        y_min = np.inf
        for i in range(n_t):
            v = y[c, i]
            ok = math.isfinite(v)
            csum[i + 1] = csum[i] + (v if ok else 0.0)
            ccount[i + 1] = ccount[i] + (1.0 if ok else 0.0)
            if ok:
                y_max = max(y_max, v)
                y_min = min(y_min, v)
        out[c, 7] = ccount[n_t]
        if ccount[n_t] == 0:
            continue
        out[c, 5] = max(abs(y_max), abs(y_min))
        out[c, 6] = y_max - y_min
        s = np.empty(n_t)
        peak = -1
        for i in range(n_t):
            a = max(i - half, 0)
            b = min(i + half + 1, n_t)
            k = ccount[b] - ccount[a]
            s[i] = (csum[b] - csum[a]) / k if k > 0 else np.nan
            if k > 0 and (peak < 0 or s[i] > s[peak]):
                peak = i
        base = np.inf
        for i in range(peak + 1):
            if math.isfinite(s[i]) and s[i] < base:
                base = s[i]
        height = s[peak] - base
        arrival = 0
        for i in range(peak, -1, -1):
            if math.isfinite(s[i]) and s[i] < base + 0.1 * height:
                arrival = i
                break
        num = 0.0
        den = 0.0
        for i in range(arrival, n_t):
            if math.isfinite(s[i]) and s[i] > base:
                w = (s[i] - base) * dtw[i]
                num += w * t[i]
                den += w
        out[c, 0] = t[arrival]
        out[c, 1] = t[peak]
        out[c, 2] = num / den if den > 0 else np.nan
        out[c, 3] = height
        out[c, 4] = base
    return out
