"""Agreement of measurements (e.g. onset in seconds): Bland–Altman limits and the intraclass correlation.

* Bland–Altman (Bland & Altman 1986; 1999): bias = mean of the differences a − b, 95 % limits of agreement
  bias ± 1.96·SD; CIs of the bias (SE = SD/√n) and of each limit (SE ≈ √(3·SD²/n)), both with t on n − 1
  degrees of freedom.
* Intraclass correlation (Shrout & Fleiss 1979; McGraw & Wong 1996) from the two-way ANOVA of an n × k table
  (n items, k raters): ICC(2,1) two-way random effects, absolute agreement, single rater (the default), or
  ICC(3,1) consistency; F-based confidence intervals of McGraw & Wong (1996, cases 2A and 3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from ceuskit.agreement.kappa import _z

__all__ = ["bland_altman", "icc", "measurement_agreement"]


def _paired(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"a and b need the same length, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def bland_altman(a: ArrayLike, b: ArrayLike, *, confidence: float = 0.95) -> dict[str, Any]:
    """Bland–Altman agreement of two measurements of the same items (pairs with a NaN dropped).

    Parameters
    ----------
    a, b : array_like, shape (n,)
        Two measurements of each item, in the same unit (e.g. onset in seconds by two readers).
    confidence : float
        Level of the limits of agreement and of their CIs (default 0.95: bias ± 1.96 SD).

    Returns
    -------
    dict with ``n``, ``bias`` (mean of a − b, in the unit of the inputs), ``sd`` (SD of the differences,
    n − 1 denominator), ``limits`` ([lower, upper] = bias ∓ z·SD), ``bias_ci`` and ``lower_ci`` /
    ``upper_ci`` (t-based CIs; Bland & Altman 1986) and ``means`` / ``differences`` (the points of the plot).
    Numbers that need more pairs than given (bias: 1; SD, limits, CIs: 2) are None.

    Examples
    --------
    >>> result = bland_altman([10.0, 12.0, 11.0], [9.0, 12.5, 10.0])
    >>> round(result["bias"], 3), [round(v, 2) for v in result["limits"]]
    (0.5, [-1.2, 2.2])
    """
    x, y = _paired(a, b)
    n = int(x.size)
    diff = x - y
    out: dict[str, Any] = {"n": n, "bias": None, "sd": None, "limits": None, "bias_ci": None, "lower_ci": None,
                           "upper_ci": None, "means": ((x + y) / 2.0).tolist(), "differences": diff.tolist()}
    if n == 0:
        return out
    bias = float(diff.mean())
    out["bias"] = bias
    if n < 2:
        return out
    sd = float(diff.std(ddof=1))
    z = _z(confidence)
    t = float(sps.t.ppf(0.5 + confidence / 2.0, n - 1))
    lower, upper = bias - z * sd, bias + z * sd
    se_bias, se_limit = sd / math.sqrt(n), math.sqrt(3.0 * sd * sd / n)
    out.update(sd=sd, limits=[lower, upper], bias_ci=[bias - t * se_bias, bias + t * se_bias],
               lower_ci=[lower - t * se_limit, lower + t * se_limit],
               upper_ci=[upper - t * se_limit, upper + t * se_limit])
    return out


def icc(ratings: ArrayLike, *, kind: str = "agreement", confidence: float = 0.95) -> dict[str, Any]:
    """Intraclass correlation of k raters measuring n items, single-rater form (rows with a NaN dropped).

    Parameters
    ----------
    ratings : array_like, shape (n, k)
        ``ratings[i, r]``: rater r's measurement of item i.
    kind : "agreement" or "consistency"
        ICC(2,1), two-way random effects, absolute agreement (raters must give the same number), or
        ICC(3,1), two-way mixed effects, consistency (a constant offset between raters is forgiven).
    confidence : float
        Level of the F-based confidence interval (McGraw & Wong 1996).

    Returns
    -------
    dict with ``icc`` and ``ci95`` (None when fewer than 2 complete items or 2 raters, or no variance),
    ``f``, ``df1``, ``df2``, ``p_value`` (F test of ICC = 0), ``n``, ``k`` and ``form``
    ("ICC(2,1)" or "ICC(3,1)").

    Examples
    --------
    Shrout & Fleiss (1979), Table 2 (6 targets, 4 judges): ICC(2,1) = 0.29, ICC(3,1) = 0.71.

    >>> table = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> round(icc(table)["icc"], 2), round(icc(table, kind="consistency")["icc"], 2)
    (0.29, 0.71)
    """
    if kind not in ("agreement", "consistency"):
        raise ValueError(f"kind must be 'agreement' or 'consistency', got {kind!r}")
    data = np.asarray(ratings, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"ratings must be a 2-D table (items × raters), got shape {data.shape}")
    data = data[np.all(np.isfinite(data), axis=1)]
    n, k = data.shape
    form = "ICC(2,1)" if kind == "agreement" else "ICC(3,1)"
    out: dict[str, Any] = {"icc": None, "ci95": None, "f": None, "df1": None, "df2": None, "p_value": None,
                           "n": int(n), "k": int(k), "form": form}
    if n < 2 or k < 2:
        return out
    grand = data.mean()
    ss_rows = k * float(np.sum((data.mean(axis=1) - grand) ** 2))
    ss_cols = n * float(np.sum((data.mean(axis=0) - grand) ** 2))
    ss_error = float(np.sum((data - grand) ** 2)) - ss_rows - ss_cols
    df_rows, df_cols, df_error = n - 1, k - 1, (n - 1) * (k - 1)
    msr, msc, mse = ss_rows / df_rows, ss_cols / df_cols, ss_error / df_error
    if kind == "agreement":
        denominator = msr + (k - 1) * mse + k * (msc - mse) / n
    else:
        denominator = msr + (k - 1) * mse
    if denominator <= 0 or mse <= 0:
        return out
    value = (msr - mse) / denominator
    f = msr / mse
    out.update(icc=float(value), f=float(f), df1=df_rows, df2=df_error,
               p_value=float(sps.f.sf(f, df_rows, df_error)))
    q = 0.5 + confidence / 2.0
    if kind == "consistency":
        f_low = f / float(sps.f.ppf(q, df_rows, df_error))
        f_high = f * float(sps.f.ppf(q, df_error, df_rows))
        out["ci95"] = [(f_low - 1.0) / (f_low + k - 1.0), (f_high - 1.0) / (f_high + k - 1.0)]
        return out
    if value >= 1.0:
        out["ci95"] = [1.0, 1.0]
        return out
    a = k * value / (n * (1.0 - value))
    b = 1.0 + k * value * (n - 1) / (n * (1.0 - value))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / df_cols + (b * mse) ** 2 / df_error)
    f_low = float(sps.f.ppf(q, df_rows, v))
    f_high = float(sps.f.ppf(q, v, df_rows))
    spread = k * msc + (k * n - k - n) * mse
    out["ci95"] = [n * (msr - f_low * mse) / (f_low * spread + n * msr),
                   n * (f_high * msr - mse) / (spread + n * f_high * msr)]
    return out


def measurement_agreement(values: Mapping[str, Sequence[float]], pairs: Sequence[tuple[str, str]],
                          readers: Sequence[str]) -> dict[str, Any]:
    """Bland–Altman and ICC(2,1) of every rater pair, and the ICC(2,1) of all readers who measured.

    Parameters
    ----------
    values : {rater: values}
        Each rater's measurement of every item (same item order; NaN where missing).
    pairs : sequence of (a, b)
        The rater pairs to compare (a − b).
    readers : sequence of str
        The readers whose joint ICC is wanted (a reference rater left out).

    Returns
    -------
    dict with ``pairs`` ([{a, b, n, bias, sd, limits, bias_ci, lower_ci, upper_ci, means, differences, icc,
    icc_ci}]) and ``icc`` ({raters, icc, ci, n, form, p_value}, None with fewer than two measuring readers).
    """
    entries = []
    for a, b in pairs:
        if a not in values or b not in values:
            continue
        ba = bland_altman(values[a], values[b])
        pair_icc = icc(np.column_stack([np.asarray(values[a], float), np.asarray(values[b], float)]))
        entries.append({"a": a, "b": b, "n": ba["n"], "bias": ba["bias"], "sd": ba["sd"], "limits": ba["limits"],
                        "bias_ci": ba["bias_ci"], "lower_ci": ba["lower_ci"], "upper_ci": ba["upper_ci"],
                        "means": ba["means"], "differences": ba["differences"], "icc": pair_icc["icc"],
                        "icc_ci": pair_icc["ci95"]})
    present = [r for r in readers if r in values and bool(np.isfinite(np.asarray(values[r], float)).any())]
    overall = None
    if len(present) >= 2:
        result = icc(np.column_stack([np.asarray(values[r], float) for r in present]))
        overall = {"raters": present, "icc": result["icc"], "ci": result["ci95"], "n": result["n"],
                   "form": result["form"], "p_value": result["p_value"]}
    return {"pairs": entries, "icc": overall}
