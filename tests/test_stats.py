"""ceuskit.stats against scipy / statsmodels run here, closed forms and the seed study's published value."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from ceuskit import stats


@pytest.mark.parametrize(("ki67", "grade"), [
    # WHO 2019 classification of GEP neuroendocrine neoplasms: G1 < 3 %, G2 3–20 %, G3 > 20 %.
    (0.0, "G1"), (2.99, "G1"), (3.0, "G2"), (12.0, "G2"), (20.0, "G2"), (20.01, "G3"), (80.0, "G3"),
    (None, None), (float("nan"), None),
])
def test_who_grade_thresholds(ki67: float | None, grade: str | None) -> None:
    assert stats.who_grade(ki67) == grade


def test_who_grade_rejects_impossible_index() -> None:
    with pytest.raises(ValueError, match="ki67"):
        stats.who_grade(120.0)


@pytest.mark.parametrize(("k", "n"), [(15, 18), (14, 18), (12, 18), (5, 18), (1, 18), (0, 7), (7, 7)])
def test_proportion_matches_statsmodels_wilson(k: int, n: int) -> None:
    result = stats.proportion(k, n)
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")  # statsmodels, independent
    assert result["n"] == k and result["of"] == n
    assert result["percent"] == pytest.approx(100 * k / n)
    assert result["ci95"] == pytest.approx([100 * low, 100 * high], abs=1e-9)


def test_proportion_of_nothing_is_undefined() -> None:
    assert stats.proportion(0, 0)["percent"] is None


def test_seed_study_spearman_p_by_t_approximation() -> None:
    # Published: Massironi et al., Dig Liver Dis 2010: rs = 0.516, n = 18, p = 0.028.
    assert stats.spearman_p_from_rho(0.516, 18) == pytest.approx(0.028, abs=5e-4)


@pytest.fixture()
def paired18() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=18)
    y = np.round(x + rng.normal(scale=1.2, size=18), 1)  # rounded: ties in y, as Ki-67 has
    return x, y


def test_spearman_matches_scipy(paired18: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = paired18
    result = stats.spearman(x, y, permutation=False, n_bootstrap=0)
    expected = sps.spearmanr(x, y)  # scipy: rho on mid-ranks, p by the t approximation
    assert result["rho"] == pytest.approx(expected.statistic, abs=1e-12)
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert result["n"] == 18


def test_spearman_fisher_ci_closed_form(paired18: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = paired18
    result = stats.spearman(x, y, permutation=False, n_bootstrap=0)
    rho = sps.spearmanr(x, y).statistic
    # Fieller, Hartley & Pearson (1957): z = atanh(rho), SE = 1.06 / sqrt(n - 3).
    half = sps.norm.ppf(0.975) * 1.06 / math.sqrt(18 - 3)
    assert result["ci95"] == pytest.approx([math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half)])


def test_spearman_bootstrap_ci_near_scipy_bootstrap(paired18: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = paired18
    result = stats.spearman(x, y, permutation=False, n_bootstrap=4000)
    ref = sps.bootstrap((x, y), lambda a, b: sps.spearmanr(a, b).statistic, paired=True, vectorized=False,
                        n_resamples=4000, method="percentile", random_state=np.random.default_rng(3))
    # Two independent Monte-Carlo bootstraps of the same statistic: equal up to resampling noise.
    assert result["ci95_bootstrap"][0] == pytest.approx(ref.confidence_interval.low, abs=0.06)
    assert result["ci95_bootstrap"][1] == pytest.approx(ref.confidence_interval.high, abs=0.06)


def test_spearman_exact_enumeration_matches_scipy_permutation_test() -> None:
    x = np.array([3.1, 1.2, 5.5, 4.0, 2.2, 6.3, 7.9])
    y = np.array([2.0, 1.0, 3.5, 6.0, 2.5, 5.0, 4.4])
    result = stats.spearman(x, y, n_bootstrap=0)
    ref = sps.permutation_test((x,), lambda a: sps.spearmanr(a, y).statistic, permutation_type="pairings",
                               alternative="two-sided", n_resamples=np.inf)  # scipy enumerates all 7!
    assert result["p_exact"] == pytest.approx(ref.pvalue, abs=1e-12)
    assert result["p_exact_method"].startswith("exact")


def test_spearman_exact_by_own_enumeration_n9() -> None:
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=9), rng.normal(size=9)
    result = stats.spearman(x, y, n_bootstrap=0)
    rho = abs(sps.spearmanr(x, y).statistic)
    # Independent: scipy's rho for every one of the 9! pairings.
    rx, ry = sps.rankdata(x), sps.rankdata(y)
    d = rx[None, :] - ry[np.array(list(itertools.permutations(range(9))))]
    all_rho = 1 - 6 * np.sum(d**2, axis=1) / (9 * (81 - 1))
    assert result["p_exact"] == pytest.approx(np.mean(np.abs(all_rho) >= rho - 1e-12), abs=1e-12)


def test_spearman_monte_carlo_p_n18_close_to_scipy_permutation_test(paired18: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = paired18
    result = stats.spearman(x, y, n_bootstrap=0)
    ref = sps.permutation_test((x,), lambda a: sps.spearmanr(a, y).statistic, permutation_type="pairings",
                               alternative="two-sided", n_resamples=10000, vectorized=False,
                               random_state=np.random.default_rng(5))
    # scipy with 10 000 resamples: its Monte-Carlo SE at p is sqrt(p(1-p)/1e4) <= 0.005.
    assert result["p_exact"] == pytest.approx(ref.pvalue, abs=0.015)
    assert result["p_exact_method"].startswith("Monte-Carlo")


def test_spearman_drops_missing_pairs_and_handles_tiny_samples() -> None:
    result = stats.spearman([1, 2, np.nan, 4, 5], [2, 1, 3, np.nan, 7], n_bootstrap=0)
    assert result["n"] == 3
    assert result["rho"] == pytest.approx(sps.spearmanr([1, 2, 5], [2, 1, 7]).statistic)
    assert stats.spearman([1, 2], [2, 1])["rho"] is None
    assert stats.spearman([1, 1, 1, 1], [1, 2, 3, 4])["rho"] is None


def test_kruskal_wallis_matches_scipy() -> None:
    groups = {"G1": [3.0, 4.5, 4.5, 6.0], "G2": [7.0, 8.0, 4.5, 9.5, 12.0], "G3": [15.0, 9.5, 20.0]}
    result = stats.kruskal_wallis(groups)
    ref = sps.kruskal(*groups.values())
    assert result["h"] == pytest.approx(ref.statistic)
    assert result["p_value"] == pytest.approx(ref.pvalue)
    assert result["df"] == 2 and result["n"] == 12
    assert result["groups"]["G2"] == {"n": 5, "median": 8.0}


def test_compare_groups_two_groups_adds_mann_whitney() -> None:
    values = [1.0, 2.0, 3.5, 4.0, 8.0, 6.0, 7.0, np.nan]
    labels = ["ileum", "ileum", "pancreas", "ileum", "pancreas", "pancreas", "pancreas", "ileum"]
    result = stats.compare_groups(values, labels)
    ref = sps.mannwhitneyu([1.0, 2.0, 4.0], [3.5, 8.0, 6.0, 7.0], alternative="two-sided")
    assert result["mann_whitney"]["u"] == pytest.approx(ref.statistic)
    assert result["mann_whitney"]["p_value"] == pytest.approx(ref.pvalue)
    assert result["p_value"] == pytest.approx(sps.kruskal([1.0, 2.0, 4.0], [3.5, 8.0, 6.0, 7.0]).pvalue)


def test_mann_whitney_exact_p_by_enumeration() -> None:
    a, b = [1.1, 2.3, 5.0], [3.2, 4.4, 6.1, 7.7]
    result = stats.mann_whitney(a, b)
    # Independent: exact null distribution of U over all C(7,3) label assignments (no ties).
    pooled = np.array(a + b)
    u_obs = sum(x > y for x in a for y in b)
    us = [sum(pooled[i] > pooled[j] for i in idx for j in set(range(7)) - set(idx))
          for idx in itertools.combinations(range(7), 3)]
    mean_u = 6.0
    p = np.mean([abs(u - mean_u) >= abs(u_obs - mean_u) for u in us])
    assert result["u"] == u_obs
    assert result["p_value"] == pytest.approx(p)


def test_roc_auc_equals_mann_whitney_u() -> None:
    scores = [12.0, 14.5, 9.0, 20.0, 18.0, 14.5, 22.0, 11.0, 16.0]
    positive = [False, True, False, True, True, False, True, False, True]
    result = stats.roc_auc(scores, positive, n_bootstrap=500)
    pos = [s for s, p in zip(scores, positive, strict=True) if p]
    neg = [s for s, p in zip(scores, positive, strict=True) if not p]
    u = sps.mannwhitneyu(pos, neg).statistic  # AUC = U / (n1 n2) (Bamber 1975)
    assert result["auc"] == pytest.approx(u / (len(pos) * len(neg)))
    assert result["ci95"][0] <= result["auc"] <= result["ci95"][1]
    assert result["n_positive"] == 5 and result["n_negative"] == 4


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_statsmodels(weights: str | None) -> None:
    cats = ["hypo", "iso", "hyper"]
    a = ["hyper"] * 9 + ["iso"] * 5 + ["hypo"] * 6 + ["hyper", "iso", "hypo", "hyper"]
    b = ["hyper"] * 7 + ["iso"] * 2 + ["iso"] * 4 + ["hypo"] + ["hypo"] * 5 + ["iso"] + ["iso", "hyper", "hypo", "hypo"]
    result = stats.cohen_kappa(a, b, categories=cats, weights=weights)
    table = np.zeros((3, 3))
    for x, y in zip(a, b, strict=True):
        table[cats.index(x), cats.index(y)] += 1
    ref = cohens_kappa(table, wt=weights)  # statsmodels, Fleiss–Cohen–Everitt variance
    assert result["kappa"] == pytest.approx(ref.kappa, abs=1e-12)
    assert result["se"] == pytest.approx(ref.std_kappa, rel=1e-9)
    low, high = result["ci95"]  # percentile bootstrap: checked against statsmodels in test_agreement.py
    assert -1.0 <= low <= result["kappa"] <= high <= 1.0
    assert result["n"] == len(a)


def test_cohen_kappa_perfect_and_chance() -> None:
    assert stats.cohen_kappa(["a", "b", "a"], ["a", "b", "a"])["kappa"] == pytest.approx(1.0)
    assert stats.cohen_kappa(["a", "a"], ["a", "a"])["kappa"] is None  # expected agreement 1: undefined
    assert stats.cohen_kappa(["a", "b", "a"], ["a", "a", "a"])["kappa"] is None  # one label only: undefined
    with pytest.raises(ValueError, match="not one of"):
        stats.cohen_kappa(["a"], ["c"], categories=["a", "b"])


def test_correlation_table_one_row_per_parameter(paired18: tuple[np.ndarray, np.ndarray]) -> None:
    import pandas as pd

    x, y = paired18
    frame = pd.DataFrame({"onset_s": x, "ttp_s": -x, "ki67": y})
    table = stats.correlation_table(frame, ["onset_s", "ttp_s"], "ki67", permutation=False, n_bootstrap=0)
    assert list(table["x"]) == ["onset_s", "ttp_s"]
    assert table["rho"].iloc[1] == pytest.approx(sps.spearmanr(-x, y).statistic)
