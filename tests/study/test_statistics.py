"""ceuskit.study.statistics: patterns, correlations, groups, ROC and kappa against scipy and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from cohort_fakes import COHORT
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from ceuskit import store, study


def test_stats_patterns_and_correlations_match_independent_computation(analysed: store.Store) -> None:
    result = study.cohort_stats(study.cohort_frame(analysed))
    assert result["n_patients"] == 10 and result["n_lesions"] == 10
    assert list(result["patterns"]) == list(study.PATTERN_NAMES)
    counts = {"arterial_hyper": sum(r[3] == "hyper" for r in COHORT), "arterial_iso": 1, "arterial_hypo": 1,
              "washout": sum(r[4] != "none" for r in COHORT), "washout_early": sum(r[4] == "early" for r in COHORT),
              "washout_late": 2, "late_hypo": sum(r[5] == "hypo" for r in COHORT), "late_iso": 3, "late_hyper": 1}
    for name, k in counts.items():
        low, high = proportion_confint(k, 10, method="wilson")  # statsmodels
        got = result["patterns"][name]
        assert (got["n"], got["of"]) == (k, 10)
        assert got["ci95"] == pytest.approx([100 * low, 100 * high])
    onset = next(c for c in result["correlations"] if c["x"] == "arterial_onset_s")
    ref = sps.spearmanr([r[6] for r in COHORT], [r[1] for r in COHORT])  # scipy on the planned values
    assert onset["rho"] == pytest.approx(ref.statistic) and onset["p_value"] == pytest.approx(ref.pvalue)
    assert onset["y"] == "ki67" and onset["n"] == 10 and onset["p_exact"] is not None
    grades = ["G1" if r[1] < 3 else "G2" if r[1] <= 20 else "G3" for r in COHORT]
    groups = [[r[6] for r, g in zip(COHORT, grades, strict=True) if g == grade] for grade in ("G1", "G2", "G3")]
    assert result["by_grade"]["arterial_onset_s"]["p_value"] == pytest.approx(sps.kruskal(*groups).pvalue)
    pos = [r[6] for r, g in zip(COHORT, grades, strict=True) if g != "G1"]
    u = sps.mannwhitneyu(pos, groups[0]).statistic  # AUC = U / (n1 n2)
    assert result["roc"]["auc"] == pytest.approx(u / (len(pos) * 3))


def test_stats_kappa_reader_vs_software_and_readers(analysed: store.Store) -> None:
    from statsmodels.stats.inter_rater import cohens_kappa

    result = study.cohort_stats(study.cohort_frame(analysed))
    agreement = {(a["rater_a"], a["rater_b"], a["label"]): a for a in result["agreement"]}
    assert agreement[("reader1", "software", "late")]["kappa"] == pytest.approx(1.0)  # reader1 reads the truth
    # reader2 differs on P07's late phase (hypo → iso) and on P01/P02 wash-out: statsmodels on the tables
    late_table = np.zeros((3, 3))
    cats = ["hypo", "iso", "hyper"]
    for pid, *_rest in COHORT:
        truth = _rest[4]
        late_table[cats.index(truth), cats.index("iso" if pid == "P07" else truth)] += 1
    ref = cohens_kappa(late_table, wt="linear")
    assert agreement[("reader1", "reader2", "late")]["kappa"] == pytest.approx(ref.kappa)
    wash = np.zeros((2, 2))
    for pid, *_rest in COHORT:
        truth = int(_rest[3] != "none")
        wash[truth, 0 if pid in ("P01", "P02") else truth] += 1
    assert agreement[("reader2", "software", "washout")]["kappa"] == pytest.approx(cohens_kappa(wash.T).kappa)
