"""Perfusion parameters against closed forms and independent numerical solutions (scipy brentq / quad)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize

from ceuskit.errors import InputError
from ceuskit.models import fit_curves
from ceuskit.models.parameters import PARAMETER_NAMES, curve_parameters, fit_parameters, model_free_parameters
from ceuskit.models.shapes import MODELS

DESIGN_KEYS = ("arrival_time_s", "time_to_peak_s", "rise_time_s", "peak_enhancement", "peak_enhancement_db",
               "mean_transit_time_s", "mean_transit_time_t0_s", "wash_in_rate", "wash_out_rate", "wash_in_auc", "wash_out_auc",
               "wash_in_wash_out_auc", "wash_in_perfusion_index", "fall_time_s")  # DESIGN analysis.json

T0, MU, SIGMA, AREA = 8.0, 2.8, 0.6, 40.0


def _analytic_lognormal() -> dict[str, float]:
    """Every parameter of the baseline-free lognormal from its closed form and scipy root finding/quadrature."""
    spec = MODELS["lognormal"]

    def f(x: float) -> float:
        return float(spec.function(x, T0, MU, SIGMA, AREA, 0.0))

    ttp = T0 + np.exp(MU - SIGMA**2)  # lognormal mode
    pe = f(ttp)
    at = optimize.brentq(lambda x: f(x) - 0.05 * pe, T0 + 1e-6, ttp, xtol=1e-12)
    te = optimize.brentq(lambda x: f(x) - 0.05 * pe, ttp, 1e4, xtol=1e-12)
    # steepest slopes either side of the mode: central differences of the closed form on a 1 ms grid
    grid = np.linspace(T0 + 0.01, 140, 140001)
    slopes = np.gradient(spec.function(grid, T0, MU, SIGMA, AREA, 0.0), grid)
    wi = integrate.quad(f, at, ttp)[0]
    wo = integrate.quad(f, ttp, te)[0]
    return {"arrival_time_s": at, "time_to_peak_s": ttp, "rise_time_s": ttp - at, "peak_enhancement": pe,
            "peak_enhancement_db": 10 * np.log10(pe), "mean_transit_time_s": T0 + np.exp(MU + SIGMA**2 / 2) - at,
            "mean_transit_time_t0_s": np.exp(MU + SIGMA**2 / 2),  # VueBox / literature: from t0
            "wash_in_rate": slopes[grid < ttp].max(),
            "wash_out_rate": abs(slopes[grid > ttp].min()), "wash_in_auc": wi, "wash_out_auc": wo,
            "wash_in_wash_out_auc": wi + wo, "wash_in_perfusion_index": wi / (ttp - at), "fall_time_s": te - ttp}


def test_keys_are_designs():
    assert PARAMETER_NAMES == DESIGN_KEYS


def test_fit_parameters_of_a_lognormal_match_closed_forms():
    t = np.arange(0.0, 150.0, 0.5)
    y = MODELS["lognormal"].function(t, T0, MU, SIGMA, AREA, 0.02)[None, :]
    res = fit_curves(t, y, model="lognormal")
    got = fit_parameters(res, t, grid_step_s=0.01)
    truth = _analytic_lognormal()
    assert set(got) == set(DESIGN_KEYS)
    for key, expected in truth.items():
        tol = 0.011 if key.endswith("_s") else 2e-3 * abs(expected)  # time: one grid step
        assert got[key][0] == pytest.approx(expected, abs=tol), key


@pytest.mark.parametrize("name, p1, p2", [("gamma", 2.0, 6.0), ("fpt", 15.0, 3.0), ("ldrw", 15.0, 3.0)])
def test_time_to_peak_is_the_models_mode(name, p1, p2):
    # Closed-form modes: gamma αβ; FPT μ(√(1 + 9/(4λ²)) − 3/(2λ)); LDRW μ(√(1 + 4λ²) − 1)/(2λ).
    modes = {"gamma": p1 * p2, "fpt": p1 * (np.sqrt(1 + 9 / (4 * p2**2)) - 3 / (2 * p2)),
             "ldrw": p1 * (np.sqrt(1 + 4 * p2**2) - 1) / (2 * p2)}
    t = np.arange(0.0, 150.0, 0.5)
    y = MODELS[name].function(t, 6.0, p1, p2, 30.0, 0.0)[None, :]
    got = fit_parameters(fit_curves(t, y, model=name), t, grid_step_s=0.01)
    assert got["time_to_peak_s"][0] == pytest.approx(6.0 + modes[name], abs=0.011)
    mean = float(MODELS[name].first_moment(np.float64(p1), np.float64(p2)))
    assert got["mean_transit_time_s"][0] == pytest.approx(6.0 + mean - got["arrival_time_s"][0], rel=1e-9)


def test_curve_parameters_of_a_triangle():
    # A triangle 0 → 10 over 10–20 s, back to 0 at 40 s: every parameter by hand.
    t = np.linspace(0, 60, 6001)
    f = np.interp(t, [0, 10, 20, 40, 60], [0, 0, 10, 0, 0])[None, :]
    p = curve_parameters(t, f)
    expected = {"arrival_time_s": 10.5, "time_to_peak_s": 20.0, "rise_time_s": 9.5, "peak_enhancement": 10.0,
                "peak_enhancement_db": 10.0, "wash_in_rate": 1.0, "wash_out_rate": 0.5,
                "wash_in_auc": 0.5 * 9.5 * (0.5 + 10), "wash_out_auc": 0.5 * 19 * (10 + 0.5),
                "fall_time_s": 19.0}
    expected["wash_in_wash_out_auc"] = expected["wash_in_auc"] + expected["wash_out_auc"]
    expected["wash_in_perfusion_index"] = expected["wash_in_auc"] / 9.5
    # first moment from AT of the triangle (exact integrals of t·f over its pieces)
    pieces = integrate.quad(lambda x: (x - 10.5) * np.interp(x, [10, 20, 40], [0, 10, 0]), 10.5, 40, points=[20])[0]
    mass = integrate.quad(lambda x: np.interp(x, [10, 20, 40], [0, 10, 0]), 10.5, 40, points=[20])[0]
    expected["mean_transit_time_s"] = pieces / mass
    for key, value in expected.items():
        assert p[key][0] == pytest.approx(value, rel=1e-6, abs=1e-6), key


def test_model_free_parameters_track_the_fitted_ones_on_a_clean_curve():
    t = np.arange(0.0, 150.0, 0.25)
    y = MODELS["lognormal"].function(t, T0, MU, SIGMA, AREA, 0.02)[None, :]
    y[0, 100:104] = np.nan  # rejected frames
    free = model_free_parameters(t, y, smoothing_s=1.0)
    truth = _analytic_lognormal()
    assert free["arrival_time_s"][0] == pytest.approx(truth["arrival_time_s"], abs=0.3)
    assert free["time_to_peak_s"][0] == pytest.approx(truth["time_to_peak_s"], abs=0.3)
    assert free["peak_enhancement"][0] == pytest.approx(truth["peak_enhancement"], rel=0.01)
    assert free["wash_in_auc"][0] == pytest.approx(truth["wash_in_auc"], rel=0.03)


def test_failed_fits_and_flat_curves_give_nan():
    t = np.arange(0.0, 60.0, 0.5)
    y = np.vstack([np.zeros(t.size), np.full(t.size, np.nan)])
    res = fit_curves(t, y)
    for values in fit_parameters(res, t).values():
        assert np.isnan(values).all()
    for values in model_free_parameters(t, y).values():
        assert np.isnan(values).all()


def test_bad_arguments():
    t = np.arange(5.0)
    with pytest.raises(InputError, match="threshold"):
        curve_parameters(t, np.zeros((1, 5)), threshold=1.5)
    with pytest.raises(InputError, match="shape"):
        model_free_parameters(t, np.zeros((1, 4)))
    with pytest.raises(InputError, match="grid_step_s"):
        fit_parameters(fit_curves(t, np.zeros((1, 5))), t, grid_step_s=0)


def test_lognormal_closed_forms_match_root_finding_and_quadrature():
    from ceuskit.models.parameters import lognormal_parameters

    got = lognormal_parameters(T0, MU, SIGMA, AREA)
    truth = _analytic_lognormal()
    for key, expected in truth.items():
        assert got[key][0] == pytest.approx(expected, rel=1e-4), key
    assert np.isnan(lognormal_parameters(T0, MU, -1.0, AREA)["arrival_time_s"]).all()


def test_supported_lognormal_parameters_leave_out_what_the_grid_evaluation_leaves_out():
    # Independent source: fit_parameters, which evaluates each lognormal on a fine grid over the data's span and
    # reads the crossings there.  The closed-form version must leave out the same values (the data's span,
    # 10–70 s, cuts arrivals, peaks and tails in turn) and agree on the rest.  Deliberate differences: a peak
    # before the first sample (the grid reads it at the first sample) leaves no value at all, and a steepest
    # rise before it (the grid reads the slope there) no wash-in rate.
    from ceuskit.models.fit import FitResult
    from ceuskit.models.parameters import lognormal_parameters, supported_lognormal_parameters

    rng = np.random.default_rng(4)
    n = 400
    t0, mu, sigma = rng.uniform(-20.0, 55.0, n), rng.uniform(1.0, 4.5, n), rng.uniform(0.1, 1.6, n)
    area = rng.uniform(1.0, 20.0, n)
    t = np.arange(10.0, 70.0, 1.0)
    params = {"t0": t0, "mu": mu, "sigma": sigma, "A": area, "b": np.zeros(n)}
    result = FitResult("lognormal", params, np.zeros((n, t.size)), np.ones(n, bool), np.zeros(n), np.ones(n),
                       np.zeros(n), ["converged"] * n, np.full(n, t.size))
    grid = fit_parameters(result, t, grid_step_s=0.002)
    closed = supported_lognormal_parameters(t, t0, mu, sigma, area)
    early = lognormal_parameters(t0, mu, sigma, area)["time_to_peak_s"] < t[0]
    assert 0.05 < early.mean() < 0.5
    for name in PARAMETER_NAMES:
        assert np.isnan(closed[name][early]).all()
        both = np.isfinite(grid[name]) & np.isfinite(closed[name])
        differ = (np.isfinite(grid[name]) != np.isfinite(closed[name]))[~early]
        if name == "wash_in_rate":
            differ = (np.isfinite(grid[name]) < np.isfinite(closed[name]))[~early]
        assert differ.mean() <= 0.01, (name, differ.mean())  # a crossing within a grid step of the data's end
        assert np.allclose(closed[name][both], grid[name][both], rtol=2e-3, atol=5e-3), name
    assert 0.1 < np.isnan(closed["mean_transit_time_s"]).mean() < 0.9  # the cases really were mixed
    with np.errstate(invalid="ignore"):
        assert not (closed["mean_transit_time_s"] > 2 * (t[-1] - t[0])).any()
        assert not (closed["time_to_peak_s"] < t[0]).any() and not (closed["time_to_peak_s"] > t[-1]).any()
    with pytest.raises(InputError, match="t_s"):
        supported_lognormal_parameters(t[::-1], t0, mu, sigma, area)
