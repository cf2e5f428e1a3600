"""Agreement between raters: Cohen's and Fleiss' kappa for labels, Bland–Altman and ICC for measurements.

Pure functions over labels and numbers; each returns a plain JSON-ready ``dict``.  Nothing here reads
files, logs or prints.  Missing ratings (None, NaN) drop the item from the comparison that needs them.

* ``ceuskit.agreement.kappa`` — Cohen's kappa (unweighted and weighted) and Fleiss' kappa, with
  percentile-bootstrap intervals that stay within [−1, 1] and a ``reason`` wherever a kappa is undefined;
* ``ceuskit.agreement.measurement`` — Bland–Altman limits of agreement and ICC(2,1) / ICC(3,1);
* :func:`rater_agreement` — all of them for a reader study (every reader pair, every reader against a
  reference such as the software).

Each statistic cites its source in its module, and the tests reproduce statsmodels and published examples.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from itertools import combinations
from typing import Any

from ceuskit.agreement.kappa import CI_METHOD, cohen_kappa, fleiss_kappa
from ceuskit.agreement.measurement import bland_altman, icc, measurement_agreement

__all__ = ["CI_METHOD", "bland_altman", "cohen_kappa", "fleiss_kappa", "icc", "rater_agreement"]


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
    weighted_kappa, weighted_ci, weights, reason, ci_method, …}] for every reader pair and every reader
    against the reference; ``reason`` says why a kappa is None), ``fleiss`` ([{feature, raters, kappa, ci,
    z, p_value, n, reason, ci_method}] when there are more than two readers) and ``measurement``
    ({pairs: [{a, b, n, bias, sd, limits, …, icc, icc_ci}], icc: readers' ICC(2,1) over the readers who
    measured at all}; absent without ``measurements``).
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
            plain = cohen_kappa(labels[a][feature], labels[b][feature], categories=categories, raters=(a, b))
            entry = {"a": a, "b": b, "feature": feature, "kappa": plain["kappa"], "ci": plain["ci95"],
                     "n": plain["n"], "se": plain["se"], "observed_agreement": plain["observed_agreement"],
                     "reason": plain["reason"], "ci_method": plain["ci_method"],
                     "weighted_kappa": None, "weighted_ci": None, "weights": weights}
            if weights is not None:
                weighted = cohen_kappa(labels[a][feature], labels[b][feature], categories=categories,
                                       weights=weights, raters=(a, b))
                entry.update(weighted_kappa=weighted["kappa"], weighted_ci=weighted["ci95"])
            out["pairs"].append(entry)
    if len(readers) > 2:
        for feature, (categories, _weights) in features.items():
            rows = list(zip(*(labels[r][feature] for r in readers), strict=True))
            result = fleiss_kappa(rows, categories=categories)
            out["fleiss"].append({"feature": feature, "raters": readers, "kappa": result["kappa"],
                                  "ci": result["ci95"], "se0": result["se0"], "z": result["z"],
                                  "p_value": result["p_value"], "n": result["n"], "reason": result["reason"],
                                  "ci_method": result["ci_method"]})
    if measurements is not None:
        out["measurement"] = measurement_agreement(measurements, pairs, readers)
    return out
