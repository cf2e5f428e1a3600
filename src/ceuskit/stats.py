"""Cohort statistics: grades, proportions, rank correlation, group comparisons, ROC and agreement.

Pure functions over numbers; each returns a plain ``dict`` (JSON-ready: floats, ints, lists) or a
:class:`pandas.DataFrame`.  Nothing here reads files, logs or prints.

Methods, with their sources:

* WHO 2019 GEP-NET grade from Ki-67: G1 < 3 %, G2 3–20 %, G3 > 20 %.
* Proportions: Wilson score interval (Wilson 1927), as ``statsmodels`` ``proportion_confint(method="wilson")``.
* Spearman rho on mid-ranks; two-sided p by the t approximation t = r·√((n−2)/(1−r²)), n−2 degrees of
  freedom (as ``scipy.stats.spearmanr``).  Permutation p for n ≤ 20: complete enumeration of all n!
  orderings when n ≤ 9 (exact), otherwise a Monte-Carlo permutation test with a fixed seed and
  1 000 000 random permutations, p = (b + 1)/(B + 1) (Phipson & Smyth 2010; standard error ≤ 0.0005).
  Two-sided: permutations whose ``|rho|`` reaches the observed ``|rho|``.  CI by Fisher z with the Spearman
  standard error 1.06/√(n−3) (Fieller, Hartley & Pearson 1957), and by a percentile bootstrap of pairs.
* Kruskal–Wallis H with the tie correction, chi-squared with k−1 degrees of freedom.
* Mann–Whitney U (``scipy.stats.mannwhitneyu``, exact for small samples without ties).
* ROC AUC = P(score of a positive > score of a negative) + ½ P(tie), with a stratified percentile
  bootstrap CI.
* Agreement (Cohen's and Fleiss' kappa, Bland–Altman, ICC): :mod:`ceuskit.agreement` (``cohen_kappa`` is
  re-exported here).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from functools import lru_cache
from itertools import permutations
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats as sps

from ceuskit.agreement import cohen_kappa  # re-exported: agreement statistics live in ceuskit.agreement

__all__ = [
    "EXACT_ENUMERATION_MAX_N",
    "MONTE_CARLO_PERMUTATIONS",
    "PERMUTATION_MAX_N",
    "cohen_kappa",
    "compare_groups",
    "correlation_table",
    "kruskal_wallis",
    "mann_whitney",
    "proportion",
    "roc_auc",
    "spearman",
    "spearman_p_from_rho",
    "who_grade",
]

EXACT_ENUMERATION_MAX_N = 9
"""Largest n whose permutation p is computed by enumerating all n! orderings."""
PERMUTATION_MAX_N = 20
"""Largest n for which a permutation p is reported (above it the t approximation is accurate)."""
MONTE_CARLO_PERMUTATIONS = 1_000_000
"""Random permutations of the Monte-Carlo permutation test (EXACT_ENUMERATION_MAX_N < n ≤ 20)."""
_SEED = 20100901  # fixed: the same data always give the same p (the seed study's publication month)
_Z975 = float(sps.norm.ppf(0.975))


def who_grade(ki67_percent: float | None) -> str | None:
    """WHO 2019 grade of a GEP neuroendocrine tumour from its Ki-67 index.

    Parameters
    ----------
    ki67_percent : float or None
        Ki-67 proliferation index in percent (0–100); None or NaN gives None.

    Returns
    -------
    "G1" (< 3 %), "G2" (3–20 %), "G3" (> 20 %) or None.

    Examples
    --------
    >>> who_grade(2.9), who_grade(3.0), who_grade(20.0), who_grade(20.5)
    ('G1', 'G2', 'G2', 'G3')
    """
    if ki67_percent is None or not math.isfinite(float(ki67_percent)):
        return None
    value = float(ki67_percent)
    if value < 0.0 or value > 100.0:
        raise ValueError(f"ki67_percent must lie in 0–100, got {value}")
    if value < 3.0:
        return "G1"
    if value <= 20.0:
        return "G2"
    return "G3"


def proportion(successes: int, total: int, *, confidence: float = 0.95) -> dict[str, Any]:
    """Proportion with its Wilson score confidence interval.

    Returns
    -------
    dict with ``n`` (successes), ``of`` (total), ``percent`` (0–100, None when total is 0) and
    ``ci95`` ([low, high] in percent, None when total is 0).
    """
    if total < 0 or successes < 0 or successes > total:
        raise ValueError(f"need 0 <= successes <= total, got {successes} of {total}")
    if total == 0:
        return {"n": 0, "of": 0, "percent": None, "ci95": None}
    z = float(sps.norm.ppf(0.5 + confidence / 2.0))
    p = successes / total
    denom = 1.0 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, free of rounding
    high = 1.0 if successes == total else min(1.0, centre + half)
    return {"n": int(successes), "of": int(total), "percent": 100.0 * p, "ci95": [100.0 * low, 100.0 * high]}


def spearman_p_from_rho(rho: float, n: int) -> float:
    """Two-sided p of a Spearman rho by the t approximation with n − 2 degrees of freedom.

    Examples
    --------
    The seed study (Massironi et al. 2010): rs = 0.516, n = 18 gives p = 0.028.

    >>> round(spearman_p_from_rho(0.516, 18), 3)
    0.028
    """
    if n < 3:
        return float("nan")
    if abs(rho) >= 1.0:
        return 0.0
    t = rho * math.sqrt((n - 2) / ((1.0 - rho) * (1.0 + rho)))
    return float(2.0 * sps.t.sf(abs(t), n - 2))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom > 0 else float("nan")


@lru_cache(maxsize=8)
def _permutation_indices(n: int) -> np.ndarray:
    """Row-wise orderings of range(n): all n! when n is small, else fixed-seed random ones."""
    if n <= EXACT_ENUMERATION_MAX_N:
        return np.array(list(permutations(range(n))), dtype=np.int8)
    rng = np.random.default_rng(_SEED + n)
    base = np.broadcast_to(np.arange(n, dtype=np.int8), (MONTE_CARLO_PERMUTATIONS, n))
    return rng.permuted(base, axis=1)


def _permutation_p(rx: np.ndarray, ry: np.ndarray, rho: float) -> tuple[float, str]:
    n = rx.size
    orders = _permutation_indices(n)
    xc = rx - rx.mean()
    yc = ry - ry.mean()
    scale = math.sqrt(float(xc @ xc) * float(yc @ yc))
    threshold = abs(rho) * scale * (1.0 - 1e-12) - 1e-9
    hits = 0
    for start in range(0, orders.shape[0], 200_000):
        block = yc[orders[start:start + 200_000]]
        hits += int(np.count_nonzero(np.abs(block @ xc) >= threshold))
    if n <= EXACT_ENUMERATION_MAX_N:
        return hits / orders.shape[0], f"exact (all {orders.shape[0]} permutations)"
    return (hits + 1) / (orders.shape[0] + 1), f"Monte-Carlo ({orders.shape[0]} permutations, fixed seed)"


def _bootstrap_rho(x: np.ndarray, y: np.ndarray, n_boot: int, seed: int) -> list[float] | None:
    n = x.size
    idx = np.random.default_rng(seed).integers(0, n, (n_boot, n))
    rx = sps.rankdata(x[idx], axis=1)
    ry = sps.rankdata(y[idx], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denom = np.sqrt(np.sum(rx * rx, axis=1) * np.sum(ry * ry, axis=1))
    ok = denom > 0
    values = np.sum(rx * ry, axis=1)[ok] / denom[ok]
    if values.size < n_boot // 2:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]


def spearman(x: Sequence[float], y: Sequence[float], *, permutation: bool = True,
             n_bootstrap: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Spearman rank correlation of paired samples, pairs with a missing value dropped.

    Parameters
    ----------
    x, y : sequences of float, same length
        Paired observations (e.g. arterial onset in s and Ki-67 in %).
    permutation : bool
        Also compute the permutation p (only for n ≤ 20).
    n_bootstrap : int
        Bootstrap resamples of pairs for the percentile CI (0 skips it).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    dict with ``rho``, ``p_value`` (t approximation, two-sided), ``p_exact`` (permutation p or None),
    ``p_exact_method``, ``ci95`` (Fisher z, SE 1.06/√(n−3)), ``ci95_bootstrap`` and ``n``.
    """
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError("x and y must be 1-D sequences of the same length")
    keep = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[keep], ya[keep]
    n = int(xa.size)
    out: dict[str, Any] = {"rho": None, "p_value": None, "p_exact": None, "p_exact_method": None,
                           "ci95": None, "ci95_bootstrap": None, "n": n}
    if n < 3:
        return out
    rx, ry = sps.rankdata(xa), sps.rankdata(ya)
    rho = _pearson(rx, ry)
    if not math.isfinite(rho):  # one variable is constant
        return out
    out["rho"] = rho
    out["p_value"] = spearman_p_from_rho(rho, n)
    if permutation and n <= PERMUTATION_MAX_N:
        out["p_exact"], out["p_exact_method"] = _permutation_p(rx, ry, rho)
    if n > 3:
        z = math.atanh(max(min(rho, 1 - 1e-15), -1 + 1e-15))
        half = _Z975 * 1.06 / math.sqrt(n - 3)
        out["ci95"] = [math.tanh(z - half), math.tanh(z + half)]
    if n_bootstrap > 0:
        out["ci95_bootstrap"] = _bootstrap_rho(xa, ya, n_bootstrap, seed)
    return out


def _groups(values: ArrayLike, labels: Sequence[Hashable]) -> dict[Hashable, np.ndarray]:
    va = np.asarray(values, dtype=float)
    if va.shape[0] != len(labels):
        raise ValueError("values and labels must have the same length")
    groups: dict[Hashable, list[float]] = {}
    for value, label in zip(va, labels, strict=True):
        if label is None or (isinstance(label, float) and math.isnan(label)) or not math.isfinite(value):
            continue
        groups.setdefault(label, []).append(float(value))
    return {k: np.asarray(v) for k, v in sorted(groups.items(), key=lambda kv: str(kv[0]))}


def kruskal_wallis(groups: Mapping[Hashable, ArrayLike]) -> dict[str, Any]:
    """Kruskal–Wallis H test across groups (tie-corrected, chi-squared approximation).

    Returns
    -------
    dict with ``h``, ``df``, ``p_value`` (None when fewer than two non-empty groups or all values
    equal), ``n`` and ``groups`` ({label: {n, median}}).
    """
    arrays = {k: a for k, a in ((k, np.asarray(v, dtype=float).ravel()) for k, v in groups.items()) if a.size > 0}
    summary = {str(k): {"n": int(v.size), "median": float(np.median(v))} for k, v in arrays.items()}
    total = sum(v.size for v in arrays.values())
    out: dict[str, Any] = {"h": None, "df": None, "p_value": None, "n": int(total), "groups": summary}
    if len(arrays) < 2:
        return out
    pooled = np.concatenate(list(arrays.values()))
    ranks = sps.rankdata(pooled)
    _, counts = np.unique(pooled, return_counts=True)
    correction = 1.0 - float(np.sum(counts**3 - counts)) / (total**3 - total)
    if correction <= 0:
        return out
    h, start = 0.0, 0
    for arr in arrays.values():
        r = ranks[start:start + arr.size]
        h += r.sum() ** 2 / arr.size
        start += arr.size
    h = (12.0 / (total * (total + 1)) * h - 3.0 * (total + 1)) / correction
    df = len(arrays) - 1
    out.update(h=float(h), df=df, p_value=float(sps.chi2.sf(h, df)))
    return out


def mann_whitney(a: ArrayLike, b: ArrayLike) -> dict[str, Any]:
    """Two-sided Mann–Whitney U test of two independent samples (NaN dropped).

    Returns
    -------
    dict with ``u`` (U of the first sample), ``p_value``, ``n1``, ``n2`` and ``auc`` = U/(n1·n2),
    the probability that a value of ``a`` exceeds one of ``b`` (ties count ½).
    """
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
    out: dict[str, Any] = {"u": None, "p_value": None, "n1": int(xa.size), "n2": int(xb.size), "auc": None}
    if xa.size == 0 or xb.size == 0:
        return out
    if np.ptp(np.concatenate([xa, xb])) == 0:
        out.update(u=xa.size * xb.size / 2.0, auc=0.5, p_value=1.0)
        return out
    res = sps.mannwhitneyu(xa, xb, alternative="two-sided", method="auto")
    out.update(u=float(res.statistic), p_value=float(res.pvalue), auc=float(res.statistic) / (xa.size * xb.size))
    return out


def compare_groups(values: ArrayLike, labels: Sequence[Hashable]) -> dict[str, Any]:
    """Kruskal–Wallis across all groups plus Mann–Whitney when there are exactly two groups."""
    groups = _groups(values, labels)
    out = kruskal_wallis(groups)
    out["mann_whitney"] = mann_whitney(*groups.values()) if len(groups) == 2 else None
    return out


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    diff = pos[:, None] - neg[None, :]
    return float((np.count_nonzero(diff > 0) + 0.5 * np.count_nonzero(diff == 0)) / diff.size)


def roc_auc(scores: Sequence[float], positive: Sequence[bool], *, n_bootstrap: int = 2000,
            seed: int = 0) -> dict[str, Any]:
    """Area under the ROC curve of ``scores`` for the positive class, with a bootstrap 95 % CI.

    Parameters
    ----------
    scores : sequence of float
        Higher = more likely positive (e.g. arterial onset in s for G2+ vs G1).
    positive : sequence of bool
        True for the positive class.
    n_bootstrap, seed : int
        Stratified bootstrap resamples (positives and negatives resampled separately) and their seed.

    Returns
    -------
    dict with ``auc``, ``ci95`` (percentile bootstrap), ``n_positive``, ``n_negative``.
    """
    s = np.asarray(scores, dtype=float)
    lab = np.asarray(positive, dtype=bool)
    keep = np.isfinite(s)
    pos, neg = s[keep & lab], s[keep & ~lab]
    out: dict[str, Any] = {"auc": None, "ci95": None, "n_positive": int(pos.size), "n_negative": int(neg.size)}
    if pos.size == 0 or neg.size == 0:
        return out
    out["auc"] = _auc(pos, neg)
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        boots = np.array([_auc(pos[rng.integers(0, pos.size, pos.size)], neg[rng.integers(0, neg.size, neg.size)])
                          for _ in range(n_bootstrap)])
        low, high = np.percentile(boots, [2.5, 97.5])
        out["ci95"] = [float(low), float(high)]
    return out


def correlation_table(frame: pd.DataFrame, x_columns: Sequence[str], y_column: str, **options: Any) -> pd.DataFrame:
    """Spearman of each column in ``x_columns`` against ``y_column``: one row per x (see :func:`spearman`)."""
    rows = []
    for name in x_columns:
        result = spearman(frame[name].astype(float), frame[y_column].astype(float), **options)
        rows.append({"x": name, "y": y_column, "method": "spearman", **result})
    return pd.DataFrame(rows)
