"""Agreement between raters: Cohen's and Fleiss' kappa for labels, Bland–Altman and ICC for measurements.

Pure functions over labels and numbers; each returns a plain JSON-ready ``dict``.  Nothing here reads
files, logs or prints.  Missing ratings (None, NaN) drop the item from the comparison that needs them.

Methods, with their sources:

* Cohen's kappa (Cohen 1960), weighted with linear or quadratic agreement weights (Cohen 1968); standard
  error from the large-sample variance of Fleiss, Cohen & Everitt (1969); CI = kappa ± z·SE (as
  ``statsmodels.stats.inter_rater.cohens_kappa``).
* Fleiss' kappa for a fixed number of raters per item (Fleiss 1971); standard error under the null
  hypothesis kappa = 0 from Fleiss, Nee & Landis (1979), with its z and two-sided p; CI by a percentile
  bootstrap over items (seeded, so the same data always give the same interval).
* Bland–Altman (Bland & Altman 1986; 1999): bias = mean of the differences a − b, 95 % limits of agreement
  bias ± 1.96·SD; CIs of the bias (SE = SD/√n) and of each limit (SE ≈ √(3·SD²/n)), both with t on n − 1
  degrees of freedom.
* Intraclass correlation (Shrout & Fleiss 1979; McGraw & Wong 1996) from the two-way ANOVA of an n × k table
  (n items, k raters): ICC(2,1) two-way random effects, absolute agreement, single rater (the default), or
  ICC(3,1) consistency; F-based confidence intervals of McGraw & Wong (1996, cases 2A and 3).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

__all__ = ["bland_altman", "cohen_kappa", "fleiss_kappa", "icc", "rater_agreement"]

_SEED = 19710301  # fixed bootstrap seed (Fleiss 1971, Psychological Bulletin 76(5))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie between 0 and 1, got {confidence!r}")
    return float(sps.norm.ppf(0.5 + confidence / 2.0))


def _agreement_weights(k: int, weights: str | None) -> np.ndarray:
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    if weights is None:
        return (i == j).astype(float)
    if k < 2:
        return np.ones((k, k))
    if weights == "linear":
        return 1.0 - np.abs(i - j) / (k - 1)
    if weights == "quadratic":
        return 1.0 - (i - j) ** 2 / (k - 1) ** 2
    raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable], *, categories: Sequence[Hashable] | None = None,
                weights: str | None = None, confidence: float = 0.95) -> dict[str, Any]:
    """Cohen's kappa between two raters labelling the same items (pairs with a missing label dropped).

    Parameters
    ----------
    a, b : sequences of labels, same length
        Ratings of the same items by rater A and rater B; None or NaN is a missing rating.
    categories : sequence, optional
        Ordered categories (required in a meaningful order for weighted kappa); default: sorted labels seen.
    weights : None, "linear" or "quadratic"
        Agreement weights 1 − abs(i − j)/(k − 1) or 1 − (i − j)²/(k − 1)² for ordered categories.
    confidence : float
        Level of the confidence interval (default 0.95).

    Returns
    -------
    dict with ``kappa``, ``se`` (Fleiss–Cohen–Everitt large-sample SE), ``ci95``, ``observed_agreement``,
    ``expected_agreement``, ``n``, ``categories`` and ``weights``.  ``kappa`` is None when it is undefined:
    no complete pair, or an expected agreement of 1 (both raters always gave the same single label).

    Examples
    --------
    >>> round(cohen_kappa(["yes", "yes", "no", "no"], ["yes", "no", "no", "no"])["kappa"], 3)
    0.5
    """
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not _missing(x) and not _missing(y)]
    if categories is None:
        categories = sorted({v for p in pairs for v in p}, key=str)
    index = {c: i for i, c in enumerate(categories)}
    k, n = len(categories), len(pairs)
    out: dict[str, Any] = {"kappa": None, "se": None, "ci95": None, "observed_agreement": None,
                           "expected_agreement": None, "n": n, "categories": [str(c) for c in categories],
                           "weights": weights}
    w = _agreement_weights(k, weights)
    if n == 0:
        return out
    table = np.zeros((k, k))
    for x, y in pairs:
        if x not in index or y not in index:
            raise ValueError(f"label {x if x not in index else y!r} is not one of the categories {list(categories)}")
        table[index[x], index[y]] += 1
    p = table / n
    row, col = p.sum(axis=1), p.sum(axis=0)
    po = float(np.sum(w * p))
    pe = float(np.sum(w * np.outer(row, col)))
    out.update(observed_agreement=po, expected_agreement=pe)
    if pe >= 1.0:
        return out
    kappa = (po - pe) / (1.0 - pe)
    w_row = w @ col          # w̄_i. = Σ_j p_.j w_ij
    w_col = row @ w          # w̄_.j = Σ_i p_i. w_ij
    inner = (w - (w_row[:, None] + w_col[None, :]) * (1.0 - kappa)) ** 2
    var = (float(np.sum(p * inner)) - (kappa - pe * (1.0 - kappa)) ** 2) / (n * (1.0 - pe) ** 2)
    se = math.sqrt(max(var, 0.0))
    z = _z(confidence)
    out.update(kappa=float(kappa), se=se, ci95=[kappa - z * se, kappa + z * se])
    return out


def _fleiss_from_counts(counts: np.ndarray) -> tuple[float | None, float | None]:
    """Fleiss' kappa and its null-hypothesis SE from an items × categories table of counts."""
    n_items = counts.shape[0]
    m = float(counts[0].sum())
    p_j = counts.sum(axis=0) / (n_items * m)
    p_i = (np.sum(counts * counts, axis=1) - m) / (m * (m - 1.0))
    p_bar, p_e = float(p_i.mean()), float(np.sum(p_j * p_j))
    if p_e >= 1.0:
        return None, None
    kappa = (p_bar - p_e) / (1.0 - p_e)
    q_j = 1.0 - p_j
    spq = float(np.sum(p_j * q_j))
    # Fleiss, Nee & Landis (1979): variance of kappa under H0 (no agreement beyond chance)
    var0 = 2.0 / (n_items * m * (m - 1.0)) * (spq ** 2 - float(np.sum(p_j * q_j * (q_j - p_j)))) / spq ** 2
    return float(kappa), math.sqrt(max(var0, 0.0))


def fleiss_kappa(ratings: Sequence[Sequence[Hashable]], *, categories: Sequence[Hashable] | None = None,
                 confidence: float = 0.95, n_bootstrap: int = 2000, seed: int = _SEED) -> dict[str, Any]:
    """Fleiss' kappa of m ≥ 2 raters who each labelled every item (items with a missing label dropped).

    Parameters
    ----------
    ratings : sequence of n rows of m labels
        ``ratings[i][r]`` is rater r's label of item i (None or NaN: missing; the item is dropped).
    categories : sequence, optional
        The possible labels (default: sorted labels seen).
    confidence : float
        Level of the bootstrap confidence interval (default 0.95).
    n_bootstrap : int
        Bootstrap resamples of the items for the CI (0: no CI).
    seed : int
        Seed of the bootstrap (fixed: the same data give the same interval).

    Returns
    -------
    dict with ``kappa`` (None when undefined), ``se0`` (standard error under kappa = 0), ``z``, ``p_value``
    (two-sided, H0 kappa = 0), ``ci95`` (percentile bootstrap), ``n`` (complete items), ``n_raters`` and
    ``categories``.
    """
    rows = [list(r) for r in ratings]
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise ValueError(f"every item needs the same number of ratings, got {sorted(widths)}")
    complete = [r for r in rows if not any(_missing(v) for v in r)]
    if categories is None:
        categories = sorted({v for r in complete for v in r}, key=str)
    index = {c: i for i, c in enumerate(categories)}
    m = widths.pop() if widths else 0
    out: dict[str, Any] = {"kappa": None, "se0": None, "z": None, "p_value": None, "ci95": None,
                           "n": len(complete), "n_raters": m, "categories": [str(c) for c in categories]}
    if m < 2 or not complete:
        return out
    counts = np.zeros((len(complete), len(categories)))
    for i, row in enumerate(complete):
        for value in row:
            if value not in index:
                raise ValueError(f"label {value!r} is not one of the categories {list(categories)}")
            counts[i, index[value]] += 1
    kappa, se0 = _fleiss_from_counts(counts)
    if kappa is None:
        return out
    out["kappa"], out["se0"] = kappa, se0
    if se0:
        out["z"] = kappa / se0
        out["p_value"] = float(2.0 * sps.norm.sf(abs(out["z"])))
    if n_bootstrap > 0 and len(complete) > 1:
        rng = np.random.default_rng(seed)
        boots = [_fleiss_from_counts(counts[rng.integers(0, len(complete), len(complete))])[0]
                 for _ in range(n_bootstrap)]
        finite = np.array([b for b in boots if b is not None])
        if finite.size:
            tail = 50.0 * (1.0 - confidence)
            low, high = np.percentile(finite, [tail, 100.0 - tail])
            out["ci95"] = [float(low), float(high)]
    return out


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


def rater_agreement(labels: Mapping[str, Mapping[str, Sequence[Hashable]]],
                    features: Mapping[str, tuple[Sequence[Hashable], str | None]], *,
                    measurements: Mapping[str, Sequence[float]] | None = None,
                    reference: str | None = None) -> dict[str, Any]:
    """Every pairwise agreement of a reader study: kappas per feature, Fleiss' kappa, Bland–Altman and ICC.

    Parameters
    ----------
    labels : {rater: {feature: labels}}
        Each rater's label of every item (same item order for all; None where the rater gave none).
    features : {feature: (categories, weights)}
        The ordered categories of each feature and the weights of its weighted kappa (None: no weighted
        kappa, e.g. a binary feature).
    measurements : {rater: values}, optional
        A continuous measurement of every item per rater (e.g. onset in s; NaN where missing), for
        Bland–Altman and the ICC.
    reference : str, optional
        A rater that is not a reader (e.g. "software"): compared with every reader, left out of Fleiss'
        kappa and of the readers' ICC.

    Returns
    -------
    dict with ``raters`` (readers, then the reference), ``pairs`` ([{a, b, feature, kappa, ci, n,
    weighted_kappa, weighted_ci, weights, …}] for every reader pair and every reader against the
    reference), ``fleiss`` ([{feature, raters, kappa, ci, z, p_value, n}] when there are more than two
    readers) and ``measurement`` ({pairs: [{a, b, n, bias, sd, limits, …, icc, icc_ci}], icc: readers'
    ICC(2,1) over the readers who measured at all}; absent without ``measurements``).
    """
    readers = [r for r in labels if r != reference]
    pairs: list[tuple[str, str]] = list(combinations(readers, 2))
    raters = list(readers)
    if reference is not None and reference in labels:
        raters.append(reference)
        pairs += [(r, reference) for r in readers]
    out: dict[str, Any] = {"raters": raters, "pairs": [], "fleiss": []}
    for a, b in pairs:
        for feature, (categories, weights) in features.items():
            plain = cohen_kappa(labels[a][feature], labels[b][feature], categories=categories)
            entry = {"a": a, "b": b, "feature": feature, "kappa": plain["kappa"], "ci": plain["ci95"],
                     "n": plain["n"], "se": plain["se"], "observed_agreement": plain["observed_agreement"],
                     "weighted_kappa": None, "weighted_ci": None, "weights": weights}
            if weights is not None:
                weighted = cohen_kappa(labels[a][feature], labels[b][feature], categories=categories,
                                       weights=weights)
                entry.update(weighted_kappa=weighted["kappa"], weighted_ci=weighted["ci95"])
            out["pairs"].append(entry)
    if len(readers) > 2:
        for feature, (categories, _weights) in features.items():
            rows = list(zip(*(labels[r][feature] for r in readers), strict=True))
            result = fleiss_kappa(rows, categories=categories)
            out["fleiss"].append({"feature": feature, "raters": readers, "kappa": result["kappa"],
                                  "ci": result["ci95"], "se0": result["se0"], "z": result["z"],
                                  "p_value": result["p_value"], "n": result["n"]})
    if measurements is not None:
        out["measurement"] = _measurement_agreement(measurements, pairs, readers)
    return out


def _measurement_agreement(values: Mapping[str, Sequence[float]], pairs: Sequence[tuple[str, str]],
                           readers: Sequence[str]) -> dict[str, Any]:
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
