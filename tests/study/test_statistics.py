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
    assert result["agreement"]["raters"] == ["reader1", "reader2", "software"]
    agreement = {(a["a"], a["b"], a["feature"]): a for a in result["agreement"]["pairs"]}
    assert set(agreement) == {(a, b, f) for a, b in [("reader1", "reader2"), ("reader1", "software"),
                                                      ("reader2", "software")] for f in ("arterial", "washout", "late")}
    assert agreement[("reader1", "software", "late")]["kappa"] == pytest.approx(1.0)  # reader1 reads the truth
    # reader2 differs on P07's late phase (hypo → iso) and on P01/P02 wash-out: statsmodels on the tables
    late_table = np.zeros((3, 3))
    cats = ["hypo", "iso", "hyper"]
    for pid, *_rest in COHORT:
        truth = _rest[4]
        late_table[cats.index(truth), cats.index("iso" if pid == "P07" else truth)] += 1
    assert agreement[("reader1", "reader2", "late")]["kappa"] == pytest.approx(cohens_kappa(late_table).kappa)
    assert agreement[("reader1", "reader2", "late")]["se"] == pytest.approx(cohens_kappa(late_table).std_kappa)
    low, high = agreement[("reader1", "reader2", "late")]["ci"]  # percentile bootstrap (tests/test_agreement.py)
    assert -1.0 <= low <= agreement[("reader1", "reader2", "late")]["kappa"] <= high <= 1.0
    weighted = cohens_kappa(late_table, wt="linear")
    assert agreement[("reader1", "reader2", "late")]["weighted_kappa"] == pytest.approx(weighted.kappa)
    assert agreement[("reader1", "reader2", "late")]["weights"] == "linear" and agreement[
        ("reader1", "reader2", "late")]["n"] == 10
    wash = np.zeros((2, 2))
    for pid, *_rest in COHORT:
        truth = int(_rest[3] != "none")
        wash[truth, 0 if pid in ("P01", "P02") else truth] += 1
    assert agreement[("reader2", "software", "washout")]["kappa"] == pytest.approx(cohens_kappa(wash.T).kappa)


def test_stats_agreement_of_blinded_reads_with_fleiss_kappa_and_onset(analysed: store.Store) -> None:
    """Three readers read blind (reading sessions): Fleiss' kappa, onset Bland–Altman and ICC appear."""
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    from ceuskit import agreement
    from ceuskit.store import accounts, reading

    lesions = [lesion for p in store.get_study(analysed)["patients"] for lesion in p["lesions"]]
    planned = {lesion["id"]: row for lesion, row in zip(lesions, COHORT, strict=True)}  # both in patient order
    shifts = {"ann": 0.0, "bob": 1.5, "cy": -0.5}
    arterial = {"ann": lambda r: r[3], "bob": lambda r: "iso" if r[0] in ("P01", "P09") else r[3],
                "cy": lambda r: "hyper"}
    session_id = None
    for name in shifts:
        accounts.add_user(analysed, name, role="reader", password="a long password", actor="cli:test")
    session_id = reading.open_reading_session(analysed, 1, "blind", list(shifts), actor="boss")["id"]
    users = {u["username"]: u["id"] for u in accounts.list_users(analysed)}
    for name, shift in shifts.items():
        while (item := reading.next_item(analysed, session_id, users[name])) is not None:
            row = planned[item["lesion_id"]]
            labels = reading.ReadLabels(arterial=arterial[name](row), washout="no" if row[4] == "none" else "yes",
                                        late=row[5], washout_timing=row[4], onset_s=row[6] + shift)
            reading.record_read(analysed, session_id, users[name], item["item"], labels, actor=name)
    result = study.cohort_stats(study.cohort_frame(analysed))["agreement"]
    assert result["raters"] == ["ann", "bob", "cy", "reader1", "reader2", "software"]
    fleiss = {f["feature"]: f for f in result["fleiss"]}
    readers = ["ann", "bob", "cy", "reader1", "reader2"]
    cats = ["hypo", "iso", "hyper"]
    table = [[cats.index(arterial[n](row)) if n in shifts else cats.index(row[3]) for n in readers] for row in COHORT]
    assert fleiss["arterial"]["kappa"] == pytest.approx(fleiss_kappa(aggregate_raters(np.array(table), n_cat=3)[0]))
    onset = {(p["a"], p["b"]): p for p in result["onset"]["pairs"]}
    assert result["onset"]["unit"] == "s"
    # the software's onset is the planned one (cohort_fakes): bob marked every onset 1.5 s later
    assert onset[("bob", "software")]["bias"] == pytest.approx(1.5) and onset[("bob", "software")]["sd"] == pytest.approx(0)
    assert onset[("ann", "bob")]["bias"] == pytest.approx(-1.5) and onset[("ann", "bob")]["n"] == 10
    expected = agreement.icc(np.column_stack([[r[6] + shifts[n] for r in COHORT] for n in shifts]))
    assert result["onset"]["icc"]["raters"] == ["ann", "bob", "cy"]
    assert result["onset"]["icc"]["icc"] == pytest.approx(expected["icc"])
    assert onset[("reader1", "software")]["n"] == 0  # manifest reads carry no onset
