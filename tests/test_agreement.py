"""Agreement statistics against statsmodels run here and against published worked examples (sources named).

* Fleiss (1971), Psychological Bulletin 76:378–382: 30 patients, 6 psychiatrists, 5 diagnoses; kappa = 0.430.
  The same data are ``diagnoses`` of R's irr package, whose ``kappam.fleiss`` reports z = 17.7.
* Bland & Altman (1986), Lancet i:307–310, Table 1: peak expiratory flow (l/min) by the large and the mini
  Wright meter, first readings of 17 subjects; mean difference −2.1, SD 38.8, limits (±2 SD) −79.7 to 75.5.
* Shrout & Fleiss (1979), Psychological Bulletin 86:420–428, Table 2 (6 targets, 4 judges): ICC(2,1) = 0.29,
  ICC(3,1) = 0.71; confidence intervals as printed by R's psych::ICC for that table (``sf``): ICC2 0.019 to
  0.76, ICC3 0.34 to 0.95, F = 11.0 on 5 and 15 df.
* Cohen's kappa intervals: the percentile bootstrap of statsmodels' ``cohens_kappa`` on the same resamples;
  their coverage on reads simulated from a known joint distribution, whose kappa is the closed form
  (p_o − p_e)/(1 − p_e) of its cell probabilities.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa

from ceuskit import agreement

FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]
PEFR_LARGE = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
PEFR_MINI = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def test_fleiss_kappa_reproduces_fleiss_1971_and_statsmodels() -> None:
    result = agreement.fleiss_kappa(FLEISS_1971)
    counts, _ = aggregate_raters(np.array(FLEISS_1971))
    assert result["kappa"] == pytest.approx(fleiss_kappa(counts), abs=1e-12)
    assert round(result["kappa"], 3) == 0.430  # Fleiss 1971
    assert round(result["z"], 1) == 17.7  # irr::kappam.fleiss(diagnoses)
    assert result["n"] == 30 and result["n_raters"] == 6
    assert result["ci95"][0] < result["kappa"] < result["ci95"][1]


def test_fleiss_bootstrap_interval_is_the_percentile_of_statsmodels_on_the_same_resamples() -> None:
    data = np.array(FLEISS_1971)
    result = agreement.fleiss_kappa(FLEISS_1971, n_bootstrap=300, seed=11)
    rng = np.random.default_rng(11)
    kappas = [fleiss_kappa(aggregate_raters(data[rng.integers(0, 30, 30)] - 1, n_cat=5)[0]) for _ in range(300)]
    assert result["ci95"] == pytest.approx(list(np.percentile(kappas, [2.5, 97.5])), abs=1e-12)


def test_fleiss_kappa_drops_incomplete_items_and_refuses_ragged_input() -> None:
    rows = [["a", "a", "b"], ["b", "b", "b"], ["a", None, "a"], ["a", "b", "b"]]
    complete = [r for r in rows if None not in r]
    counts, _ = aggregate_raters(np.array([[0 if v == "a" else 1 for v in r] for r in complete]))
    result = agreement.fleiss_kappa(rows)
    assert result["n"] == 3 and result["kappa"] == pytest.approx(fleiss_kappa(counts), abs=1e-12)
    with pytest.raises(ValueError, match="same number of ratings"):
        agreement.fleiss_kappa([["a", "b"], ["a"]])
    assert agreement.fleiss_kappa([["a", "a"], ["a", "a"]])["kappa"] is None  # chance agreement 1: undefined


def test_bland_altman_reproduces_the_lancet_1986_example() -> None:
    result = agreement.bland_altman(PEFR_MINI, PEFR_LARGE)
    diff = np.subtract(PEFR_MINI, PEFR_LARGE)
    # Bland & Altman report large − mini = −2.1 l/min; a − b here is mini − large
    assert round(-result["bias"], 1) == -2.1 and round(result["sd"], 1) == 38.8
    bias, sd = round(-result["bias"], 1), round(result["sd"], 1)  # the paper's limits use the rounded values
    assert [round(bias - 2 * sd, 1), round(bias + 2 * sd, 1)] == [-79.7, 75.5]
    assert result["limits"] == pytest.approx([diff.mean() - 1.959964 * diff.std(ddof=1),
                                              diff.mean() + 1.959964 * diff.std(ddof=1)], rel=1e-6)
    t = 2.119905  # t(0.975, 16), from tables
    assert result["bias_ci"] == pytest.approx([result["bias"] - t * result["sd"] / math.sqrt(17),
                                               result["bias"] + t * result["sd"] / math.sqrt(17)], rel=1e-6)
    half = t * math.sqrt(3 * result["sd"] ** 2 / 17)
    assert result["lower_ci"] == pytest.approx([result["limits"][0] - half, result["limits"][0] + half], rel=1e-6)
    assert result["n"] == 17 and len(result["means"]) == 17


def test_bland_altman_matches_the_statsmodels_plot_lines() -> None:
    from matplotlib.figure import Figure
    from statsmodels.graphics.agreement import mean_diff_plot

    ax = Figure().subplots()
    mean_diff_plot(np.array(PEFR_MINI, float), np.array(PEFR_LARGE, float), sd_limit=1.96, ax=ax)
    low, bias, high = sorted(float(line.get_ydata()[0]) for line in ax.lines)
    result = agreement.bland_altman(PEFR_MINI, PEFR_LARGE)
    assert bias == pytest.approx(result["bias"], abs=1e-12)
    # statsmodels takes the SD with an n denominator; Bland & Altman (and ceuskit) with n − 1
    n = len(PEFR_MINI)
    assert (high - bias) * math.sqrt(n / (n - 1)) == pytest.approx(result["limits"][1] - result["bias"], rel=1e-4)
    assert (bias - low) * math.sqrt(n / (n - 1)) == pytest.approx(result["bias"] - result["limits"][0], rel=1e-4)


def test_bland_altman_drops_missing_pairs_and_reports_what_it_cannot() -> None:
    result = agreement.bland_altman([1.0, np.nan, 3.0, 4.0], [1.5, 2.0, None, 3.0])  # type: ignore[list-item]
    assert result["n"] == 2 and result["bias"] == pytest.approx(((1 - 1.5) + (4 - 3)) / 2)
    single = agreement.bland_altman([1.0], [2.0])
    assert single["bias"] == -1.0 and single["sd"] is None and single["limits"] is None
    with pytest.raises(ValueError, match="same length"):
        agreement.bland_altman([1.0, 2.0], [1.0])


@pytest.mark.parametrize(("kind", "expected", "low", "high"), [("agreement", 0.29, 0.019, 0.76),
                                                              ("consistency", 0.71, 0.34, 0.95)])
def test_icc_reproduces_shrout_and_fleiss(kind: str, expected: float, low: float, high: float) -> None:
    result = agreement.icc(SHROUT_FLEISS, kind=kind)
    assert round(result["icc"], 2) == expected
    assert round(result["ci95"][0], 3 if low < 0.1 else 2) == low and round(result["ci95"][1], 2) == high
    assert round(result["f"], 1) == 11.0 and (result["df1"], result["df2"]) == (5, 15)


def test_icc_from_the_statsmodels_two_way_anova() -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(20.0, 4.0, 15)
    table = np.column_stack([truth + rng.normal(0, 1.5, 15), truth + 1.0 + rng.normal(0, 1.5, 15),
                             truth + rng.normal(0, 1.5, 15)])
    long = pd.DataFrame({"y": table.ravel(), "item": np.repeat(np.arange(15), 3).astype(str),
                         "rater": np.tile(np.arange(3), 15).astype(str)})
    anova = anova_lm(ols("y ~ C(item) + C(rater)", data=long).fit())
    msr, msc, mse = (float(anova.loc[name, "mean_sq"]) for name in ("C(item)", "C(rater)", "Residual"))
    n, k = 15, 3
    assert agreement.icc(table)["icc"] == pytest.approx((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n))
    assert agreement.icc(table, kind="consistency")["icc"] == pytest.approx((msr - mse) / (msr + (k - 1) * mse))


def test_icc_edge_cases() -> None:
    perfect = agreement.icc([[1.0, 1.0], [2.0, 2.0], [5.0, 5.0]])
    assert perfect["icc"] is None or perfect["icc"] == pytest.approx(1.0)  # no residual variance
    with_nan = agreement.icc([[1.0, 1.2], [np.nan, 3.0], [2.0, 2.5], [4.0, 3.9]])
    assert with_nan["n"] == 3
    assert agreement.icc([[1.0, 2.0]])["icc"] is None
    with pytest.raises(ValueError, match="kind"):
        agreement.icc(SHROUT_FLEISS, kind="other")
    with pytest.raises(ValueError, match="2-D"):
        agreement.icc([1.0, 2.0])


def _table(a: list[str], b: list[str], categories: list[str]) -> np.ndarray:
    table = np.zeros((len(categories), len(categories)))
    for x, y in zip(a, b, strict=True):
        if x is not None and y is not None:
            table[categories.index(x), categories.index(y)] += 1
    return table


def test_rater_agreement_pairs_fleiss_and_onset() -> None:
    cats = ["hypo", "iso", "hyper"]
    labels = {
        "ann": {"arterial": ["hyper", "hyper", "iso", "hypo", "hyper", "iso", None], "washout": ["yes", "no", "yes", "no", "yes", "no", "no"]},
        "bob": {"arterial": ["hyper", "iso", "iso", "hypo", "hyper", "hypo", "iso"], "washout": ["yes", "yes", "yes", "no", "no", "no", "no"]},
        "cy": {"arterial": ["hyper", "hyper", "hypo", "hypo", "iso", "iso", "iso"], "washout": ["yes", "no", "no", "no", "yes", "no", "yes"]},
        "software": {"arterial": ["hyper", "hyper", "iso", "hypo", "hyper", "hypo", "iso"], "washout": ["yes", "no", "yes", "no", "yes", "no", "yes"]},
    }
    onsets = {"ann": [10.0, 12.0, 9.5, np.nan, 14.0, 11.0, 8.0], "bob": [10.5, 12.5, 10.0, 11.0, 13.0, 11.5, 8.5],
              "cy": [9.0, 11.0, 9.0, 12.0, 13.5, 10.0, 7.0], "software": [10.2, 12.1, 9.9, 11.2, 13.4, 11.1, 8.1]}
    result = agreement.rater_agreement(labels, {"arterial": (cats, "linear"), "washout": (["no", "yes"], None)},
                                       measurements=onsets, reference="software")
    assert result["raters"] == ["ann", "bob", "cy", "software"]
    pairs = {(p["a"], p["b"], p["feature"]): p for p in result["pairs"]}
    assert set(pairs) == {(a, b, f) for a, b in [("ann", "bob"), ("ann", "cy"), ("bob", "cy"), ("ann", "software"),
                                                  ("bob", "software"), ("cy", "software")]
                          for f in ("arterial", "washout")}
    for (a, b, feature), entry in pairs.items():
        categories = cats if feature == "arterial" else ["no", "yes"]
        table = _table(labels[a][feature], labels[b][feature], categories)
        reference = cohens_kappa(table)
        assert entry["kappa"] == pytest.approx(reference.kappa, abs=1e-12)
        assert entry["se"] == pytest.approx(reference.std_kappa, rel=1e-9)
        assert -1.0 <= entry["ci"][0] <= entry["kappa"] <= entry["ci"][1] <= 1.0
        assert entry["ci_method"].startswith("percentile bootstrap") and entry["reason"] is None
        assert entry["n"] == table.sum()
        if feature == "arterial":
            assert entry["weighted_kappa"] == pytest.approx(cohens_kappa(table, wt="linear").kappa, abs=1e-12)
        else:
            assert entry["weighted_kappa"] is None
    fleiss = {f["feature"]: f for f in result["fleiss"]}
    complete = [row for row in zip(*(labels[r]["arterial"] for r in ("ann", "bob", "cy")), strict=True) if None not in row]
    counts, _ = aggregate_raters(np.array([[cats.index(v) for v in row] for row in complete]), n_cat=3)
    assert fleiss["arterial"]["kappa"] == pytest.approx(fleiss_kappa(counts), abs=1e-12)
    assert fleiss["arterial"]["raters"] == ["ann", "bob", "cy"] and fleiss["arterial"]["n"] == 6
    onset = {(p["a"], p["b"]): p for p in result["measurement"]["pairs"]}
    diff = np.array(onsets["ann"]) - np.array(onsets["software"])
    assert onset[("ann", "software")]["bias"] == pytest.approx(np.nanmean(diff))
    assert onset[("ann", "software")]["n"] == 6
    assert result["measurement"]["icc"]["raters"] == ["ann", "bob", "cy"]
    assert result["measurement"]["icc"]["n"] == 6


def test_two_readers_get_no_fleiss_kappa() -> None:
    labels = {"ann": {"late": ["hypo", "iso"]}, "bob": {"late": ["hypo", "hypo"]}}
    result = agreement.rater_agreement(labels, {"late": (["hypo", "iso", "hyper"], "linear")})
    assert result["fleiss"] == [] and "measurement" not in result
    assert [(p["a"], p["b"]) for p in result["pairs"]] == [("ann", "bob")]


def _statsmodels_bootstrap(a: list[str], b: list[str], cats: list[str], weights: str | None, n_bootstrap: int,
                           seed: int) -> list[float]:
    """The 95 % percentile interval of statsmodels' kappa over the resamples ceuskit draws (same generator),
    leaving out resamples in which a rater used one label."""
    codes_a, codes_b = np.array([cats.index(x) for x in a]), np.array([cats.index(y) for y in b])
    picks = np.random.default_rng(seed).integers(0, len(a), (n_bootstrap, len(a)))
    kappas = []
    for pick in picks:
        table = np.zeros((3, 3))
        np.add.at(table, (codes_a[pick], codes_b[pick]), 1)
        if (table.sum(axis=1) > 0).sum() > 1 and (table.sum(axis=0) > 0).sum() > 1:
            kappas.append(cohens_kappa(table, wt=weights).kappa)
    return list(np.percentile(kappas, [2.5, 97.5]))


@pytest.mark.parametrize("weights", [None, "linear"])
def test_cohen_kappa_interval_is_the_bootstrap_of_statsmodels_and_stays_within_one(weights: str | None) -> None:
    cats = ["hypo", "iso", "hyper"]
    # 18 lesions read alike but for three: statsmodels' normal interval reaches past 1
    a = ["hyper"] * 10 + ["iso"] * 4 + ["hypo"] * 4
    b = ["hyper"] * 9 + ["iso"] + ["iso"] * 3 + ["hypo"] + ["hypo"] * 4
    result = agreement.cohen_kappa(a, b, categories=cats, weights=weights, n_bootstrap=400, seed=5)
    table = _table(a, b, cats)
    normal = cohens_kappa(table, wt=weights)
    assert result["kappa"] == pytest.approx(normal.kappa, abs=1e-12)
    assert result["ci95"] == pytest.approx(_statsmodels_bootstrap(a, b, cats, weights, 400, 5), abs=1e-12)
    assert normal.kappa_upp > 1.0 >= result["ci95"][1]  # kappa ± z·SE leaves the range, the bootstrap cannot


def test_an_undefined_kappa_is_none_with_its_reason() -> None:
    one_label = agreement.cohen_kappa(["iso", "hyper", "hypo"], ["hyper", "hyper", "hyper"], raters=("ann", "bob"))
    assert one_label["kappa"] is None and one_label["ci95"] is None and one_label["se"] is None
    assert one_label["reason"].startswith("bob gave every item the same label (hyper)")
    empty = agreement.cohen_kappa([None, "iso"], ["hyper", None])
    assert empty["kappa"] is None and empty["reason"] == "no item was labelled by both raters"
    labels = {"ann": {"late": ["hypo", "iso", "hypo"]}, "bob": {"late": ["iso", "iso", "iso"]}}
    pair = agreement.rater_agreement(labels, {"late": (["hypo", "iso", "hyper"], "linear")})["pairs"][0]
    assert pair["kappa"] is None and pair["weighted_kappa"] is None and pair["ci"] is None
    assert pair["reason"].startswith("bob gave every item the same label (iso)")
    fleiss = agreement.fleiss_kappa([["a", "a", "a"], ["a", "a", "a"]])
    assert fleiss["kappa"] is None and fleiss["reason"] == "every rating is the same label: kappa is undefined"


def test_kappa_intervals_cover_the_true_kappa_of_simulated_reads() -> None:
    """Two readers label 18 lesions (a seed-sized study) from a known joint distribution of (hypo, iso, hyper)
    pairs; 300 simulated studies.  The bootstrap interval covers the true kappa as often as the normal
    interval does, and never leaves [−1, 1], which the normal interval does in about a third of them."""
    cells = np.array([[0.30, 0.05, 0.02], [0.04, 0.20, 0.04], [0.01, 0.06, 0.28]])
    row, col = cells.sum(axis=1), cells.sum(axis=0)
    truth = (np.trace(cells) - row @ col) / (1.0 - row @ col)  # 0.669
    cats = ["hypo", "iso", "hyper"]
    rng = np.random.default_rng(2026)
    covered = {"bootstrap": 0, "normal": 0}
    outside, studies = 0, 300
    for study in range(studies):
        drawn = rng.choice(9, size=18, p=cells.ravel())
        a, b = [cats[i // 3] for i in drawn], [cats[i % 3] for i in drawn]
        ours = agreement.cohen_kappa(a, b, categories=cats, seed=study)
        normal = cohens_kappa(_table(a, b, cats))
        if ours["ci95"] is not None:
            covered["bootstrap"] += ours["ci95"][0] <= truth <= ours["ci95"][1]
            assert -1.0 <= ours["ci95"][0] <= ours["ci95"][1] <= 1.0
        covered["normal"] += normal.kappa_low <= truth <= normal.kappa_upp
        outside += normal.kappa_upp > 1.0 or normal.kappa_low < -1.0
    coverage = {name: count / studies for name, count in covered.items()}
    print(f"\ncoverage of the true kappa {truth:.3f} by 95 % intervals, n = 18: {coverage}; normal interval "
          f"outside [−1, 1] in {outside / studies:.0%}")
    assert coverage["bootstrap"] >= 0.88 and abs(coverage["bootstrap"] - coverage["normal"]) <= 0.04
    assert outside / studies > 0.2
