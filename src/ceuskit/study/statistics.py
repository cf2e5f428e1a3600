"""Cohort statistics over the cohort table: patterns, correlations with Ki-67, groups, ROC, agreement.

The tests themselves are :mod:`ceuskit.stats`; this module chooses the columns and the comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ceuskit import agreement, stats
from ceuskit.store import Store
from ceuskit.study.manifest import ENHANCEMENT_LABELS
from ceuskit.study.tables import cohort_frame

__all__ = ["CORRELATION_PARAMETERS", "PATTERN_NAMES", "READ_FEATURES", "cohort_stats", "study_stats"]

PATTERN_NAMES = ("arterial_hyper", "arterial_iso", "arterial_hypo", "washout", "washout_early", "washout_late",
                 "late_hypo", "late_iso", "late_hyper")
"""The pattern proportions of ``cohort_stats``, in the order they are reported."""

CORRELATION_PARAMETERS = ("arterial_onset_s", "time_to_peak_s", "rise_time_s", "peak_enhancement_db",
                          "arterial_relative_peak_db", "washout_onset_s", "late_relative_db",
                          "mean_transit_time_s", "wash_in_rate", "wash_out_rate")
"""Lesion parameters correlated with Ki-67 by ``cohort_stats`` (names as in the export)."""


READ_FEATURES = ("arterial", "washout", "late", "onset_s")
"""What a reader read of each lesion: the ``read_<reader>_<feature>`` columns of the cohort table."""


def _software_washout(row: pd.Series) -> str | None:
    if row.get("analysis_status") != "ok" or row.get("washout") is None:
        return None
    return "yes" if bool(row["washout"]) else "none"


def _binary_washout(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return "none" if value == "none" else "yes"


def _enhancement(values: pd.Series) -> list[str | None]:
    return [v if v in ENHANCEMENT_LABELS else None for v in values]


def _readers(frame: pd.DataFrame) -> list[str]:
    found = set()
    for column in frame.columns:
        for feature in READ_FEATURES:
            if column.startswith("read_") and column.endswith(f"_{feature}"):
                found.add(column[len("read_"):-len(feature) - 1])
    return sorted(found)


def _agreement(frame: pd.DataFrame) -> dict[str, Any]:
    """Reader agreement (:func:`ceuskit.agreement.rater_agreement`) of the cohort table's reads."""
    readers = _readers(frame)
    if not readers:
        return {"raters": [], "pairs": [], "fleiss": [], "onset": {"unit": "s", "pairs": [], "icc": None}}
    ok = frame["analysis_status"] == "ok"
    labels: dict[str, dict[str, list[Any]]] = {reader: {
        "arterial": _enhancement(frame[f"read_{reader}_arterial"]),
        "washout": [_binary_washout(v) for v in frame[f"read_{reader}_washout"]],
        "late": _enhancement(frame[f"read_{reader}_late"])} for reader in readers}
    labels["software"] = {"arterial": _enhancement(frame["arterial_enhancement"].where(ok, None)),
                          "washout": [_software_washout(r) for _, r in frame.iterrows()],
                          "late": _enhancement(frame["late_enhancement"].where(ok, None))}
    onsets = {reader: frame.get(f"read_{reader}_onset_s", pd.Series(float("nan"), index=frame.index))
              .to_numpy(float) for reader in readers}
    onsets["software"] = frame["arterial_onset_s"].where(ok).to_numpy(float)
    features = {"arterial": (ENHANCEMENT_LABELS, "linear"), "washout": (("none", "yes"), None),
                "late": (ENHANCEMENT_LABELS, "linear")}
    result = agreement.rater_agreement(labels, features, measurements=onsets, reference="software")
    result["onset"] = {"unit": "s", **result.pop("measurement")}
    return result


def cohort_stats(frame: pd.DataFrame, *, parameters: Sequence[str] = CORRELATION_PARAMETERS) -> dict[str, Any]:
    """Return the cohort statistics of ``ceuskit study stats`` from a :func:`cohort_frame` table.

    Returns
    -------
    dict
        ``n_patients``, ``n_lesions``, ``n_analysed``, ``n_failed``, ``patterns`` ({name: {n, of, percent,
        ci95}}), ``correlations`` ([{x, y, method, rho, p_value, p_exact, ci95, n, …}] against Ki-67),
        ``by_grade`` and ``by_primary_site`` ({parameter: Kruskal–Wallis result}), ``roc`` (onset for G2+
        vs G1) and ``agreement``: ``{"raters", "pairs": [{a, b, feature, kappa, ci, n, weighted_kappa,
        weighted_ci, …}], "fleiss": [...], "onset": {unit, pairs: [Bland–Altman, ICC], icc}}`` for every
        reader pair and every reader against "software" (see :func:`ceuskit.agreement.rater_agreement`).
    """
    ok = frame[frame["analysis_status"] == "ok"] if not frame.empty else frame
    patterns: dict[str, Any] = {}
    for phase, column in (("arterial", "arterial_enhancement"), ("late", "late_enhancement")):
        assessed = ok[ok[column].isin(ENHANCEMENT_LABELS)] if not ok.empty else ok
        for label in ("hyper", "iso", "hypo") if phase == "arterial" else ("hypo", "iso", "hyper"):
            patterns[f"{phase}_{label}"] = stats.proportion(int((assessed[column] == label).sum()) if len(assessed)
                                                            else 0, len(assessed))
    washout = ok[ok["washout"].notna()] if not ok.empty else ok
    n_wash = len(washout)
    patterns["washout"] = stats.proportion(int(washout["washout"].astype(bool).sum()) if n_wash else 0, n_wash)
    for timing in ("early", "late"):
        hits = int((washout["washout_timing"] == timing).sum()) if n_wash else 0
        patterns[f"washout_{timing}"] = stats.proportion(hits, n_wash)
    patterns = {name: patterns[name] for name in PATTERN_NAMES}
    correlations = []
    for name in parameters:
        result = stats.spearman(ok[name].to_numpy(float), ok["ki67"].to_numpy(float))
        correlations.append({"x": name, "y": "ki67", "method": "spearman", **result})
    grades = ok["who_grade"].where(ok["who_grade"].notna(), None).tolist()
    primaries = ok["primary_site"].where(ok["primary_site"].notna(), None).tolist()
    by_grade = {name: stats.compare_groups(ok[name].to_numpy(float), ["G3" if g == "NEC" else g for g in grades])
                for name in parameters}
    by_primary = {name: stats.compare_groups(ok[name].to_numpy(float), primaries) for name in parameters}
    has_grade = ok["who_grade"].notna()
    roc = stats.roc_auc(ok.loc[has_grade, "arterial_onset_s"].to_numpy(float),
                        (ok.loc[has_grade, "who_grade"] != "G1").to_numpy(bool))
    return {
        "n_patients": int(frame["patient_id"].nunique()) if not frame.empty else 0,
        "n_lesions": len(frame),
        "n_analysed": len(ok),
        "n_failed": int((frame["analysis_status"] == "failed").sum()) if not frame.empty else 0,
        "patterns": patterns,
        "correlations": correlations,
        "by_grade": by_grade,
        "by_primary_site": by_primary,
        "roc": {"x": "arterial_onset_s", "positive": "G2+", "negative": "G1", **roc},
        "agreement": _agreement(frame),
    }


def study_stats(store: Store, study: int | str | None = None) -> dict[str, Any]:
    """:func:`cohort_stats` of a stored study (what ``ceuskit study stats --json`` prints)."""
    return cohort_stats(cohort_frame(store, study))
