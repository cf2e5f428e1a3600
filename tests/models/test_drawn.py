"""Fits drawn where they describe the data (ceuskit.models.drawn).

The curves are built here from closed forms: a gamma-variate bolus above a measured baseline, a model that
has the bolus but another baseline, or not the tail the data keep. What is drawn is checked against those
closed forms in dB.
"""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.models.drawn import TOLERANCE_DB, drawn_fit, max_step_s
from ceuskit.study.runner import _curves

BASE, PEAK = 1e-4, 0.05


def _bolus(t: np.ndarray, t0: float = 10.0) -> np.ndarray:
    tau = np.clip(t - t0, 0.0, None)
    return PEAK * (tau / 6.0) ** 2 * np.exp(2.0 - tau / 3.0)


def _db(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10 * np.log10(x)


def test_the_pre_arrival_level_is_the_measured_baseline():
    t = np.arange(0.0, 60.0, 0.1)
    data = BASE + _bolus(t)
    fitted = 10 * BASE + _bolus(t)  # a fit 10 dB off in its baseline, right in its bolus
    drawn = drawn_fit(t, data, fitted, fitted_baseline=10 * BASE, measured_baseline=BASE)
    before = t < 10.0
    assert np.all(np.abs(_db(drawn[before]) - _db(np.full(before.sum(), BASE))) < 0.01)
    assert np.isfinite(drawn).all()  # it describes the data everywhere now
    plain = drawn_fit(t, data, fitted, fitted_baseline=10 * BASE, measured_baseline=np.nan)
    assert np.isnan(plain[before]).all()  # with its own baseline it contradicts the data there: not drawn


def test_a_tail_the_model_cannot_follow_is_not_drawn():
    t = np.arange(0.0, 100.0, 0.1)
    kept = 0.004 * (t > 12.0)  # the lesion keeps a level the bolus model does not have
    data = BASE + _bolus(t) + kept
    fitted = BASE + _bolus(t)
    drawn = drawn_fit(t, data, fitted, fitted_baseline=BASE, measured_baseline=BASE)
    shown = np.isfinite(drawn)
    assert np.all(np.abs(_db(drawn[shown]) - _db(data[shown])) <= TOLERANCE_DB + 0.2)
    assert shown[(t > 14.0) & (t < 22.0)].all()  # the wash-in and the peak are described
    assert not shown[t > 60.0].any()  # the tail, 10+ dB below the data in the model, is not drawn
    assert (_db(data) - _db(fitted))[t > 60.0].min() > TOLERANCE_DB  # as built: the model departs there


def test_nothing_is_drawn_across_gaps_or_missing_frames():
    t = np.concatenate([np.arange(0.0, 30.0, 0.1), np.arange(40.0, 60.0, 0.1)])  # 10 s without frames
    data = BASE + _bolus(t)
    data[(t > 15.0) & (t < 18.5)] = np.nan  # 3.5 s of rejected frames
    drawn = drawn_fit(t, data, BASE + _bolus(t), fitted_baseline=BASE, measured_baseline=BASE)
    finite = np.flatnonzero(np.isfinite(drawn))
    neighbours = finite[np.diff(finite, prepend=-2) == 1]  # samples drawn together with the one before
    assert np.all(np.diff(t)[neighbours - 1] <= max_step_s(t))
    assert np.isnan(drawn[(t > 15.0) & (t < 18.5)]).all()
    assert not (np.isfinite(drawn[np.searchsorted(t, 30.0) - 1]) and np.isfinite(drawn[np.searchsorted(t, 40.0)])
                and np.searchsorted(t, 40.0) - np.searchsorted(t, 30.0) == 0)


def test_no_line_joins_two_clips():
    t = np.concatenate([np.arange(0.0, 60.0, 0.5), np.arange(61.0, 70.0, 0.5)])
    segments = (t > 60.5).astype(int)
    data = BASE + _bolus(t)
    drawn = drawn_fit(t, data, data, fitted_baseline=BASE, measured_baseline=BASE, segments=segments)
    last_of_first = np.flatnonzero(segments == 0)[-1]
    assert np.isnan(drawn[last_of_first])


def test_a_failed_fit_draws_nothing():
    t = np.arange(0.0, 30.0, 0.5)
    assert np.isnan(drawn_fit(t, BASE + _bolus(t), np.full(t.size, np.nan), fitted_baseline=np.nan,
                              measured_baseline=BASE)).all()


def test_thinned_curves_keep_every_break():
    # the stored curves (web, report) are thinned: a thinned line must not bridge a drawn fit's gap
    t = np.concatenate([np.arange(0.0, 100.0, 1 / 35), np.arange(110.0, 130.0, 1 / 35)])
    fitted = BASE + _bolus(t)
    fitted[(t > 50.0) & (t < 50.5)] = np.nan  # a half-second hole, far shorter than the thinning step
    result = type("R", (), {"tic": {"time_s": t, "lesion_power": fitted}, "fitted": {"lesion": fitted},
                            "relative_db": {}})()
    curves = _curves(result, max_points=200)
    times = np.asarray(curves["tic"]["time_s"])
    values = np.array([np.nan if v is None else v for v in curves["fitted"]["lesion"]])
    assert np.isnan(values[(times > 50.0) & (times < 50.5)]).any()
    inside = np.flatnonzero(np.isfinite(values[:-1]) & np.isfinite(values[1:]))
    assert not np.any((times[inside] < 50.0) & (times[inside + 1] > 50.5))  # no finite pair straddles the hole
    assert curves["max_step_s"] == pytest.approx(max_step_s(t))
    assert np.any(np.diff(times) > curves["max_step_s"])  # the 10-s gap is there for the plot to break on
