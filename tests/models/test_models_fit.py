"""The batched fit engine: recovery, agreement with scipy's optimum, failures as results, argument errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import OptimizeWarning, curve_fit

from ceuskit.errors import InputError
from ceuskit.models import FitResult, fit_curves
from ceuskit.models.fit import PARAM_NAMES
from ceuskit.models.shapes import MODEL_NAMES, MODELS, evaluate

T = np.arange(0.0, 150.0, 0.5)  # a 2 frames/s, 150 s clip
TRUE = {  # (t0, p1, p2, A, b) per model, realistic CEUS boluses
    "lognormal": [(8.0, 2.8, 0.6, 40.0, 0.01), (15.0, 2.3, 0.9, 5.0, 0.002), (5.5, 3.2, 0.4, 80.0, 0.05)],
    "gamma": [(8.0, 2.0, 6.0, 40.0, 0.01), (12.0, 4.0, 3.0, 10.0, 0.003), (6.0, 1.2, 12.0, 60.0, 0.02)],
    "ldrw": [(8.0, 15.0, 3.0, 40.0, 0.01), (14.0, 25.0, 1.5, 12.0, 0.004), (6.0, 10.0, 8.0, 30.0, 0.02)],
    "fpt": [(8.0, 15.0, 3.0, 40.0, 0.01), (14.0, 25.0, 1.5, 12.0, 0.004), (6.0, 10.0, 8.0, 30.0, 0.02)],
}


def _curves(name: str, sets: list[tuple[float, ...]]) -> np.ndarray:
    spec = MODELS[name]
    return np.vstack([spec.function(T, *p) for p in sets])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_noiseless_recovery_of_own_parameters(name):
    # Independent source: the generating parameters.
    spec = MODELS[name]
    res = fit_curves(T, _curves(name, TRUE[name]), model=name)
    assert isinstance(res, FitResult) and res.model == name
    assert res.success.all(), res.message
    for i, true in enumerate(TRUE[name]):
        for p, value in zip(spec.params, true, strict=True):
            assert res.params[p][i] == pytest.approx(value, rel=1e-3, abs=1e-6), (p, i)
    assert np.all(res.r2 > 0.999999)
    # The reported curve is the numpy model at the reported parameters, and rss its residual.
    assert np.allclose(res.fitted, evaluate(name, T, res.params), rtol=1e-12, atol=1e-12)


def _noisy(rng: np.random.Generator, name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    sets = [TRUE[name][i % 3] for i in range(n)]
    clean = _curves(name, sets)
    peak = clean.max(axis=1, keepdims=True)
    noisy = clean * rng.gamma(25.0, 1 / 25.0, clean.shape) + 0.05 * peak * rng.standard_normal(clean.shape)
    return np.asarray(sets), noisy


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_noisy_recovery_within_tolerance(name):
    # 5 % additive noise of the peak plus 20 % multiplicative speckle.  Stated tolerances against the
    # generating (noise-free) curves: every fitted curve within 4 % RMS of its peak, the area A within 10 % for
    # ≥ 95 % of curves, and a median t0 error below 1 s (t0 trades off against the shape parameters in noise).
    rng = np.random.default_rng(7)
    sets, y = _noisy(rng, name, 60)
    res = fit_curves(T, y, model=name)
    assert res.success.all()
    clean = _curves(name, [tuple(s) for s in sets])
    rms = np.sqrt(np.mean((res.fitted - clean) ** 2, axis=1)) / clean.max(axis=1)
    assert np.all(rms < 0.04), rms.max()
    assert np.mean(np.abs(res.params["A"] / sets[:, 3] - 1) < 0.10) >= 0.95
    assert np.median(np.abs(res.params["t0"] - sets[:, 0])) < 1.0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_rss_equals_scipy_curve_fit_optimum(name):
    # Independent source: scipy.optimize.curve_fit (MINPACK LM) started from the TRUE parameters.
    rng = np.random.default_rng(11)
    sets, y = _noisy(rng, name, 30)
    res = fit_curves(T, y, model=name)
    spec = MODELS[name]
    ratios = []
    for i in range(len(sets)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            popt, _ = curve_fit(spec.function, T, y[i], p0=sets[i], method="lm", maxfev=20000)
        scipy_rss = float(np.sum((y[i] - spec.function(T, *popt)) ** 2))
        ratios.append(res.rss[i] / scipy_rss)
    ratios = np.asarray(ratios)
    assert np.all(ratios <= 1.01), ratios.max()
    assert np.all(ratios >= 0.99), ratios.min()  # not lower either: same model, same optimum


def test_off_family_curves_reach_scipy_optimum_from_the_same_start():
    # Curves of no fitted family (a gamma-variate first pass plus a slow recirculation plateau, noisy), fitted
    # with the lognormal model.  Independent source: scipy's curve_fit (MINPACK LM) run here from the same
    # data-driven start ceuskit uses.  Our RSS is no worse than scipy's by 2 % on ≥ 95 % of curves.
    from ceuskit.models.fit import _starts, curve_features

    rng = np.random.default_rng(5)
    n = 40
    t0, alpha, beta = rng.uniform(5, 20, (n, 1)), rng.uniform(1.5, 4.0, (n, 1)), rng.uniform(2.0, 6.0, (n, 1))
    tau = np.maximum(T[None, :] - t0, 0.0)
    clean = 0.01 + (tau / (alpha * beta)) ** alpha * np.exp(alpha - tau / beta) + 0.25 * (1 - np.exp(-tau / 25.0))
    y = clean * rng.gamma(25.0, 1 / 25.0, clean.shape) + 0.05 * rng.standard_normal(clean.shape)
    res = fit_curves(T, y, model="lognormal")
    spec = MODELS["lognormal"]
    theta = _starts("lognormal", T, curve_features(T, y))[:, 0, :]
    ratios = []
    for i in range(n):
        shape = spec.function(T, *theta[i], 1.0, 0.0)
        area, base = np.linalg.lstsq(np.column_stack([shape, np.ones_like(shape)]), y[i], rcond=None)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            popt, _ = curve_fit(spec.function, T, y[i], p0=[*theta[i], max(area, 1e-6), base], method="lm",
                                maxfev=20000)
        ratios.append(res.rss[i] / float(np.sum((y[i] - spec.function(T, *popt)) ** 2)))
    assert np.mean(np.asarray(ratios) <= 1.02) >= 0.95, np.sort(ratios)[-5:]
    assert res.success.mean() >= 0.95  # a clear first pass: a lognormal describes it adequately


def test_nan_samples_are_ignored_and_auto_picks_the_generating_model():
    rng = np.random.default_rng(3)
    y = np.vstack([_curves(name, TRUE[name][:1]) for name in MODEL_NAMES])
    y[:, rng.choice(T.size, 40, replace=False)] = np.nan
    res = fit_curves(T, y)
    # Noiseless curves: the generating model reaches RSS ≈ 0, so it has the lowest AIC.
    assert list(res.model) == list(MODEL_NAMES)
    assert res.success.all()
    assert set(res.params) == set(PARAM_NAMES)
    assert np.isfinite(res.fitted).all()  # fitted on every time, including the missing samples
    for i, name in enumerate(MODEL_NAMES):
        assert res.params["t0"][i] == pytest.approx(TRUE[name][0][0], rel=1e-3)
        unused = set(PARAM_NAMES) - set(MODELS[name].params)
        assert all(np.isnan(res.params[p][i]) for p in unused)
    assert res.n_valid.tolist() == [T.size - 40] * 4


def test_aic_and_r2_definitions():
    rng = np.random.default_rng(5)
    _, y = _noisy(rng, "gamma", 3)
    res = fit_curves(T, y, model="gamma")
    m = T.size
    rss = np.sum((y - res.fitted) ** 2, axis=1)
    assert np.allclose(res.rss, rss)
    assert np.allclose(res.aic, m * np.log(rss / m) + 2 * 5)
    assert np.allclose(res.r2, 1 - rss / np.sum((y - y.mean(axis=1, keepdims=True)) ** 2, axis=1))


def test_unfittable_curves_are_results_not_exceptions():
    y = np.vstack([
        np.full(T.size, np.nan),                         # all missing
        np.where(np.arange(T.size) < 5, 1.0, np.nan),    # 5 valid samples
        np.full(T.size, 0.3),                            # flat
        np.zeros(T.size),                                # zeros
        _curves("lognormal", TRUE["lognormal"][:1])[0],  # a good one among them
    ])
    res = fit_curves(T, y, model="lognormal")
    assert res.success.tolist() == [False, False, False, False, True]
    assert res.message[:4] == ["too few samples", "too few samples", "flat curve", "flat curve"]
    assert res.message[4] == "converged"
    assert np.isnan(res.params["t0"][:4]).all() and np.isnan(res.fitted[:4]).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"t": np.arange(10.0), "Y": np.zeros((2, 9))}, "Y must have shape"),
    ({"t": np.arange(10.0)[::-1], "Y": np.zeros((2, 10))}, "increasing"),
    ({"t": np.zeros((2, 5)), "Y": np.zeros((2, 5))}, "t must be"),
    ({"t": np.arange(10.0), "Y": np.zeros((2, 10)), "model": "weibull"}, "model 'weibull'"),
    ({"t": np.arange(10.0), "Y": np.zeros((2, 10)), "max_iter": 0}, "max_iter"),
    ({"t": np.arange(10.0), "Y": np.zeros((2, 10)), "n_starts": 3}, "n_starts"),
])
def test_bad_arguments_raise_input_error(kwargs, match):
    with pytest.raises(InputError, match=match):
        fit_curves(**kwargs)


special_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, 1.0, -1.0, 1e300, -1e300, 1e-300, np.nan, np.inf]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float64, (3, 40), elements=special_values),
       st.sampled_from(("auto", *MODEL_NAMES)))
def test_no_input_yields_non_finite_success(y, model):
    t = np.linspace(0, 60, 40)
    res = fit_curves(t, y, model=model)
    assert res.success.dtype == bool and len(res.message) == 3
    ok = res.success
    for values in (res.rss, res.r2, res.aic, *(res.params[p] for p in ("t0", "A", "b"))):
        assert np.isfinite(values[ok]).all()
    assert np.isfinite(res.fitted[ok]).all()


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 40.0), st.integers(0, 39), st.floats(-1.0, 1.0))
def test_spikes_and_constants_never_break_the_engine(height, where, level):
    t = np.linspace(0, 60, 40)
    y = np.full((2, 40), level)
    y[0, where] += height  # a single spike
    res = fit_curves(t, y, model="auto")
    assert not res.success[1]
    ok = res.success
    assert np.isfinite(res.rss[ok]).all() and np.isfinite(res.fitted[ok]).all()


def test_a_failed_fit_is_retried_from_a_first_pass_start_and_never_made_worse():
    # Gamma-variate first passes plus a strong recirculation plateau: the plateau pulls the centroid late, and
    # from the centroid-based starts some fits settle on a broad lognormal that follows the plateau (R² < 0.5).
    # Such fits are retried once from a first-pass start.  Independent source: scipy's curve_fit (MINPACK LM),
    # started from each rescued fit, stays at its RSS (a genuine optimum), where R² ≥ 0.5.
    from ceuskit.models._kernel import fit_kernel
    from ceuskit.models.fit import _XTOL, FTOL, MIN_R2, _starts, curve_features

    rng = np.random.default_rng(11)
    n = 3000
    t = np.linspace(0.0, 150.0, 600)
    t0, alpha, beta = rng.uniform(5, 20, (n, 1)), rng.uniform(1.5, 4.0, (n, 1)), rng.uniform(2.0, 6.0, (n, 1))
    tau = np.maximum(t[None, :] - t0, 0.0)
    plateau = rng.uniform(0.1, 0.35, (n, 1)) * (1.0 - np.exp(-tau / rng.uniform(15.0, 40.0, (n, 1))))
    clean = 0.01 + (tau / (alpha * beta)) ** alpha * np.exp(alpha - tau / beta) + plateau
    y = clean * rng.gamma(25.0, 1 / 25.0, clean.shape) + 0.1 * rng.standard_normal(clean.shape)
    res = fit_curves(t, y, model="lognormal")
    feats = curve_features(t, y)
    lo = np.tile([t[0] - 75.0, *(b[0] for b in MODELS["lognormal"].bounds)], (n, 1))
    hi = np.tile([t[-1] - 3 * (t[-1] - t[-2]), *(b[1] for b in MODELS["lognormal"].bounds)], (n, 1))
    first = fit_kernel(t, y, feats["abs_max"], 0, _starts("lognormal", t, feats), lo, hi, 200, 60, FTOL, _XTOL,
                       np.empty_like(y))
    first_r2 = 1.0 - first[3] / first[4]
    assert np.all(res.rss <= first[3] * (1 + 1e-12))
    rescued = np.flatnonzero((first_r2 < MIN_R2) & res.success)
    assert rescued.size >= 1 and res.success.mean() > np.mean(first_r2 >= MIN_R2)
    spec = MODELS["lognormal"]
    for i in rescued:
        p = [res.params[k][i] for k in spec.params]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            popt, _ = curve_fit(spec.function, t, y[i], p0=p, method="lm", maxfev=20000)
        scipy_rss = float(np.sum((y[i] - spec.function(t, *popt)) ** 2))
        assert res.rss[i] <= 1.001 * scipy_rss and res.r2[i] >= MIN_R2
