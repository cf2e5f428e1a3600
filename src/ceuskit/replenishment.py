"""Replenishment kinetics: each refill after a destruction fitted with y = b + A·(1 − e^(−β·(t − t_d))).

After a high-MI destruction (:mod:`ceuskit.destruction`) the bubbles flow back into the image plane; with a
steady blood level the ROI's linear power refills as a mono-exponential (Wei et al., "Quantification of
myocardial blood flow with ultrasound-induced destruction of microbubbles administered as a constant venous
infusion", Circulation 97:473–483, 1998):

* ``A`` — the plateau above ``b``: relative blood volume (linear power, the TIC's unit);
* ``β`` — the refill rate, s⁻¹ (the mean velocity of the blood over the beam's elevation thickness);
* ``A·β`` — relative blood flow (power/s); refill to 90 % takes ln(10)/β s;
* ``b`` — what the destruction left: tissue echo and surviving bubbles;
* ``t_d`` — the destruction's last high-MI frame.

The model is linear in ``A`` and ``b``: for a given β they are the closed-form least-squares solution, so the
fit is a search over β alone (variable projection; Golub & Pereyra, Inverse Problems 19, 2003) — a
log-spaced grid, then Brent's parabolic search around its best point — compiled with numba and run over
every refill at once. The search starts from the time the data take to rise halfway (β₀ = ln 2 / that time), walks a grid of
ln β steps of 0.6 outwards until its best point is inside, and refines it to 0.01 % of β. β is searched
between 0.2/(the refill's span) and 3/(its first sample after t_d):
beyond those the refill is too slow to separate A from β, or over before the first sample. A fit succeeds
when β lies inside those bounds and A stands clear of the residual noise (≥ 2 residual SDs); R² is reported.

Arditi et al.'s S-shaped perfusion functions (IEEE UFFC 53:1118–1129, 2006; VueBox's "replenishment"
model) describe the same refill with a lognormal distribution of flow velocities across the beam's
elevation profile; their parameters (mean transit time, rBV, rBF) need the beam's elevation profile of the
scanner and probe, which a DICOM clip does not state, so ceuskit reports the mono-exponential model's A, β and
A·β, which every scanner's clip supports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit, prange

from ceuskit.timeseries import round_or_none

__all__ = ["POOR_R2", "RefillFit", "fit_refills", "refill_model"]

POOR_R2 = 0.5
"""A successful refill fit below this R² is flagged ``poor_fit`` (R² is no success criterion: a refill over
within a few frames leaves most samples on its plateau, where R² measures the noise)."""

_GRID_STEP = 0.6  # ln β between grid points
_GOLDEN = 0.5 * (math.sqrt(5.0) - 1.0)
_MESSAGES = ("converged", "too few samples", "no refill (the level does not rise)", "refill too fast for the "
             "frame rate (over before the first frame)", "refill too slow for the recording (A and β cannot be "
             "told apart)", "refill not clear of the noise (A below two residual SDs)")


def refill_model(tau_s: np.ndarray, baseline: float, blood_volume: float, beta_per_s: float) -> np.ndarray:
    """Return the replenishment model y = b + A·(1 − e^(−β·τ)).

    Parameters
    ----------
    tau_s : times since the destruction, t − t_d ≥ 0, s.
    baseline, blood_volume : b and A, linear power.  beta_per_s : β, s⁻¹.

    Returns
    -------
    y, linear power, of the shape of ``tau_s``.
    """
    tau = np.asarray(tau_s, dtype=float)
    return baseline + blood_volume * (1.0 - np.exp(-beta_per_s * tau))


_TAYLOR_LIMIT = 0.05
"""Largest |β·δ| (δ: a sample's offset from the regular time grid) for which e^(−β·δ) comes from its degree-5
Taylor polynomial (relative error ≤ 0.05⁶/720 ≈ 2·10⁻¹¹)."""


@njit(cache=True, fastmath=True)
def _cost(tau: np.ndarray, y: np.ndarray, beta: float, stats: np.ndarray, offsets: np.ndarray,
          out: np.ndarray) -> float:
    """Least-squares b, A ≥ 0 for this β into ``out`` = [b, A]; returns the residual sum of squares.

    ``stats`` = [Σy, Σ(y − ȳ)², mean frame interval Δ, max |δ|] and ``offsets`` = δ, each sample's time minus
    its place on the regular grid τ₀ + i·Δ. e^(−β·τ) follows the grid by one multiplication per sample; on
    jittered times each sample multiplies that by e^(−β·δ), a short polynomial while every |β·δ| is small;
    otherwise each sample takes its own exponential.
    """
    m = tau.size
    sg = 0.0
    sgg = 0.0
    sgy = 0.0
    decay = math.exp(-beta * tau[0])
    ratio = math.exp(-beta * stats[2])
    if stats[3] == 0.0:  # a constant frame interval
        for i in range(m):
            gi = 1.0 - decay
            sg += gi
            sgg += gi * gi
            sgy += gi * y[i]
            decay *= ratio
    elif beta * stats[3] < _TAYLOR_LIMIT:  # jittered frame times
        for i in range(m):
            x = -beta * offsets[i]
            gi = 1.0 - decay * (1.0 + x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x / 120.0)))))
            sg += gi
            sgg += gi * gi
            sgy += gi * y[i]
            decay *= ratio
    else:
        for i in range(m):
            gi = 1.0 - math.exp(-beta * tau[i])
            sg += gi
            sgg += gi * gi
            sgy += gi * y[i]
    mg = sg / m
    my = stats[0] / m
    sgg -= sg * mg
    sgy -= mg * stats[0]
    if sgg <= 1e-300 or sgy <= 0.0:
        out[0] = my
        out[1] = 0.0
        rss_flat: float = stats[1]
        return rss_flat
    area = sgy / sgg
    out[0] = my - area * mg
    out[1] = area
    rss: float = max(stats[1] - area * sgy, 0.0)
    return rss


@njit(cache=True)
def _brent(tau: np.ndarray, y: np.ndarray, a: float, b: float, x: float, fx: float, stats: np.ndarray,
           offsets: np.ndarray, linear: np.ndarray) -> float:
    """Minimise the cost over ln β in [a, b] by Brent's method from its best grid point x.

    Brent, "Algorithms for minimization without derivatives", 1973, ch. 5.  Returns ln β.
    """
    w = v = x
    fw = fv = fx
    d = e = 0.0
    for _ in range(60):
        mid = 0.5 * (a + b)
        tol = 1e-4  # in ln β: 0.01 % of β
        if abs(x - mid) <= 2.0 * tol - 0.5 * (b - a):
            break
        use_golden = True
        if abs(e) > tol:  # try a parabola through x, w, v
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = abs(q)
            if abs(p) < abs(0.5 * q * e) and p > q * (a - x) and p < q * (b - x):
                e, d = d, p / q
                use_golden = False
                if (x + d) - a < 2.0 * tol or b - (x + d) < 2.0 * tol:
                    d = tol if mid > x else -tol
        if use_golden:
            e = (b - x) if x < mid else (a - x)
            d = (1.0 - _GOLDEN) * e
        u = x + (d if abs(d) >= tol else (tol if d > 0 else -tol))
        fu = _cost(tau, y, math.exp(u), stats, offsets, linear)
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu
    return x


@njit(cache=True)
def _fit_one(tau: np.ndarray, y: np.ndarray, result: np.ndarray) -> None:
    """Write the fit into ``result`` ← [b, A, β, rss, r², status]."""
    m = tau.size
    result[:] = np.nan
    if m < 4:
        result[5] = 1
        return
    lo = math.log(0.2 / max(tau[m - 1], 1e-9))
    hi = math.log(3.0 / max(tau[0], 1e-3 * tau[m - 1], 1e-9))
    if hi <= lo:
        result[5] = 1
        return
    linear = np.empty(2)
    stats = np.zeros(4)
    for i in range(m):
        stats[0] += y[i]
    for i in range(m):
        stats[1] += (y[i] - stats[0] / m) ** 2
    interval = (tau[m - 1] - tau[0]) / (m - 1)
    stats[2] = interval
    offsets = np.empty(m)
    for i in range(m):
        offsets[i] = tau[i] - (tau[0] + i * interval)
        if abs(offsets[i]) > 1e-9 * (1.0 + tau[m - 1]):
            stats[3] = max(stats[3], abs(offsets[i]))
    # start: β from the time the data take to rise halfway from the first samples to the last fifth
    first = 0.0
    n_first = min(3, m)
    for i in range(n_first):
        first += y[i]
    first /= n_first
    last = 0.0
    n_last = max(m // 5, 1)
    for i in range(m - n_last, m):
        last += y[i]
    last /= n_last
    half = tau[m - 1]
    for i in range(m):
        if y[i] >= 0.5 * (first + last):
            half = tau[i]
            break
    centre = min(max(math.log(math.log(2.0) / max(half, 1e-9)), lo), hi)
    step = _GRID_STEP
    # a small grid around the start, walked outwards while its best point lies at its edge
    j_lo, j_hi = -1, 1
    best, best_x = np.inf, centre
    for j in range(j_lo, j_hi + 1):
        x = min(max(centre + j * step, lo), hi)
        cost = _cost(tau, y, math.exp(x), stats, offsets, linear)
        if cost < best:
            best, best_x = cost, x
    while True:
        if best_x >= centre + j_hi * step - 1e-12 and centre + j_hi * step < hi:
            j_hi += 1
            x = min(centre + j_hi * step, hi)
        elif best_x <= centre + j_lo * step + 1e-12 and centre + j_lo * step > lo:
            j_lo -= 1
            x = max(centre + j_lo * step, lo)
        else:
            break
        cost = _cost(tau, y, math.exp(x), stats, offsets, linear)
        if cost < best:
            best, best_x = cost, x
    x = _brent(tau, y, max(best_x - step, lo), min(best_x + step, hi), best_x, best, stats, offsets,
              linear)
    rss = _cost(tau, y, math.exp(x), stats, offsets, linear)
    r2 = 1.0 - rss / stats[1] if stats[1] > 0.0 else 0.0
    result[0], result[1], result[2], result[3], result[4] = linear[0], linear[1], math.exp(x), rss, r2
    if linear[1] <= 0.0:
        result[5] = 2
    elif x >= hi - 1e-3 * (hi - lo):
        result[5] = 3
    elif x <= lo + 1e-3 * (hi - lo):
        result[5] = 4
    elif linear[1] < 2.0 * math.sqrt(rss / max(m - 3, 1)):
        result[5] = 5
    else:
        result[5] = 0


@njit(cache=True, parallel=True)
def _fit_all(tau: np.ndarray, y: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    for c in prange(offsets.size - 1):
        _fit_one(tau[offsets[c]:offsets[c + 1]], y[offsets[c]:offsets[c + 1]], out[c])


@njit(cache=True, parallel=True)
def _fit_rows(tau: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    for c in prange(y.shape[0]):
        _fit_one(tau, y[c], out[c])


@dataclass(frozen=True)
class RefillFit:
    """Fits of several refills: arrays of one value per refill (units in the module docstring)."""

    baseline: np.ndarray
    blood_volume: np.ndarray
    beta_per_s: np.ndarray
    rss: np.ndarray
    r2: np.ndarray
    success: np.ndarray
    message: list[str] = field(default_factory=list)

    @property
    def flow(self) -> np.ndarray:
        """A·β, relative blood flow (power/s)."""
        flow: np.ndarray = self.blood_volume * self.beta_per_s
        return flow

    @property
    def refill_90_s(self) -> np.ndarray:
        """Time to refill 90 % of A, ln(10)/β (s)."""
        with np.errstate(divide="ignore"):
            refill_s: np.ndarray = np.log(10.0) / self.beta_per_s
            return refill_s

    def to_json(self, index: int, destruction_s: float) -> dict[str, Any]:
        """One refill as analysis.json's ``replenishment`` lists it (parameters null without a fit)."""
        ok = bool(self.success[index])

        def value(v: float, digits: int) -> float | None:
            return round_or_none(v, digits) if ok else None

        return {"destruction_s": round(destruction_s, 4), "blood_volume": value(self.blood_volume[index], 8),
                "beta_per_s": value(self.beta_per_s[index], 5), "flow": value(self.flow[index], 8),
                "refill_90_s": value(self.refill_90_s[index], 4), "baseline": value(self.baseline[index], 8),
                "r2": round_or_none(self.r2[index], 5), "success": ok, "message": self.message[index]}


def _flatten(taus_s: Sequence[np.ndarray] | np.ndarray, values: Sequence[np.ndarray] | np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the finite samples of every refill one after another, and each refill's offsets into them."""
    if isinstance(values, np.ndarray) and values.ndim == 2:
        y = np.asarray(values, dtype=float)
        tau = np.broadcast_to(np.asarray(taus_s, dtype=float), y.shape)
        ok = np.isfinite(tau) & np.isfinite(y)
        offsets = np.concatenate([[0], np.cumsum(ok.sum(axis=1))]).astype(np.int64)
        return np.ascontiguousarray(tau[ok]), np.ascontiguousarray(y[ok]), offsets
    if len(taus_s) != len(values):
        raise ValueError(f"{len(taus_s)} refill time arrays for {len(values)} value arrays")
    kept_tau, kept_y, counts = [np.zeros(0)], [np.zeros(0)], [0]
    for tau_in, y_in in zip(taus_s, values, strict=True):
        tau, y = np.asarray(tau_in, dtype=float), np.asarray(y_in, dtype=float)
        if tau.shape != y.shape:
            raise ValueError(f"a refill has {tau.size} times and {y.size} values")
        ok = np.isfinite(tau) & np.isfinite(y)
        kept_tau.append(tau[ok])
        kept_y.append(y[ok])
        counts.append(int(ok.sum()))
    return np.concatenate(kept_tau), np.concatenate(kept_y), np.cumsum(counts).astype(np.int64)


def fit_refills(taus_s: Sequence[np.ndarray] | np.ndarray, values: Sequence[np.ndarray] | np.ndarray) -> RefillFit:
    """Fit y = b + A·(1 − e^(−β·τ)) to every refill at once.

    Parameters
    ----------
    taus_s : per refill, (m,) times since its destruction's last frame, s, increasing and > 0; or one (m,)
        or (n, m) array when ``values`` is an (n, m) array.
    values : per refill, (m,) linear power, or an (n, m) array of n refills; NaN samples (rejected frames)
        are left out.

    Returns
    -------
    :class:`RefillFit`, one entry per refill.

    Raises
    ------
    ValueError
        The refills' times and values do not match.

    Examples
    --------
    >>> import numpy as np
    >>> tau = np.arange(1, 60) / 4.0
    >>> fit = fit_refills([tau], [refill_model(tau, 0.01, 0.2, 0.35)])
    >>> round(float(fit.beta_per_s[0]), 4), round(float(fit.blood_volume[0]), 4)
    (0.35, 0.2)
    """
    rows = values if isinstance(values, np.ndarray) and values.ndim == 2 else None
    shared = np.asarray(taus_s, dtype=float) if rows is not None else None
    if rows is not None and shared is not None and shared.ndim == 1 and np.isfinite(rows).all() \
            and np.isfinite(shared).all():
        if shared.size != rows.shape[1]:
            raise ValueError(f"{shared.size} refill times for refills of {rows.shape[1]} samples")
        out = np.full((rows.shape[0], 6), np.nan)  # one time axis, every sample measured: no copies
        _fit_rows(np.ascontiguousarray(shared), np.ascontiguousarray(rows, dtype=float), out)
    else:
        tau, y, offsets = _flatten(taus_s, values)
        out = np.full((offsets.size - 1, 6), np.nan)
        if out.shape[0]:
            _fit_all(tau, y, offsets, out)
    status = np.nan_to_num(out[:, 5], nan=1).astype(int)
    return RefillFit(out[:, 0], out[:, 1], out[:, 2], out[:, 3], out[:, 4], status == 0,
                     [_MESSAGES[s] for s in status])
