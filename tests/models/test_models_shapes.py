"""Properties every bolus model must have, checked for each registered model (lmfit-style)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from ceuskit.errors import InputError
from ceuskit.models.shapes import MODEL_NAMES, MODELS, evaluate, get_model, shape

# Typical CEUS parameter sets (t0 s, p1, p2) per model, and their extreme corners (bounds).
TYPICAL = {"lognormal": (8.0, 2.8, 0.6), "gamma": (8.0, 2.0, 6.0), "ldrw": (8.0, 15.0, 3.0), "fpt": (8.0, 15.0, 3.0)}


def _corners(name: str) -> list[tuple[float, float]]:
    (lo1, hi1), (lo2, hi2) = MODELS[name].bounds
    return [(lo1, lo2), (lo1, hi2), (hi1, lo2), (hi1, hi2)]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_registry_entry_is_complete(name):
    spec = get_model(name)
    assert spec.name == name
    assert spec.params[0] == "t0" and spec.params[3:] == ("A", "b")
    assert len({s.code for s in MODELS.values()}) == len(MODELS)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_finite_and_non_negative_at_edge_values(name):
    tau = np.concatenate([[-5.0, 0.0, 1e-9, 1e-6], np.geomspace(1e-3, 1e4, 200)])
    for p1, p2 in _corners(name):
        g = shape(name, tau, p1, p2)
        assert np.all(np.isfinite(g)), (p1, p2)
        assert np.all(g >= 0)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_baseline_before_t0_and_never_below_it(name):
    t0, p1, p2 = TYPICAL[name]
    t = np.linspace(0, 120, 2401)
    y = MODELS[name].function(t, t0, p1, p2, 25.0, 0.3)
    assert np.all(y[t <= t0] == 0.3)  # exactly the baseline for τ ≤ 0 (DESIGN definition)
    assert np.all(y >= 0.3)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_area_is_a_and_first_moment_matches_closed_form(name):
    # Independent source: adaptive quadrature (scipy.integrate.quad) of the numpy definition.
    t0, p1, p2 = TYPICAL[name]
    spec = MODELS[name]
    area = 7.5

    def f(x: float) -> float:
        return float(spec.function(x, t0, p1, p2, area, 0.0))

    total = integrate.quad(f, t0, np.inf, limit=400)[0]
    assert total == pytest.approx(area, rel=1e-6)
    mean_tau = integrate.quad(lambda x: (x - t0) * f(x), t0, np.inf, limit=400)[0] / total
    assert mean_tau == pytest.approx(float(spec.first_moment(np.float64(p1), np.float64(p2))), rel=1e-6)


def test_closed_forms_against_textbook_distributions():
    # lognormal, gamma and inverse Gaussian densities of scipy.stats are independent implementations.
    from scipy import stats

    tau = np.linspace(0.1, 80, 300)
    assert np.allclose(shape("lognormal", tau, 2.8, 0.6), stats.lognorm.pdf(tau, 0.6, scale=np.exp(2.8)))
    assert np.allclose(shape("gamma", tau, 2.0, 6.0), stats.gamma.pdf(tau, 3.0, scale=6.0))
    # FPT is the inverse Gaussian with mean μ and shape λμ: scipy's invgauss(mu=μ/(λμ), scale=λμ).
    mu, lam = 15.0, 3.0
    assert np.allclose(shape("fpt", tau, mu, lam), stats.invgauss.pdf(tau, mu / (lam * mu), scale=lam * mu))
    # LDRW = (τ/μ)·FPT (both from Strouthos et al. 2010).
    assert np.allclose(shape("ldrw", tau, mu, lam), tau / mu * shape("fpt", tau, mu, lam))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_evaluate_batches_and_does_not_modify_inputs(name):
    t0, p1, p2 = TYPICAL[name]
    spec = MODELS[name]
    t = np.linspace(0, 60, 121)
    params = {spec.params[0]: np.array([t0, t0 + 2]), spec.params[1]: np.array([p1, p1 * 1.1]),
              spec.params[2]: np.array([p2, p2 * 0.9]), "A": np.array([3.0, 4.0]), "b": np.array([0.1, 0.2])}
    before = {k: v.copy() for k, v in params.items()}
    t_before = t.copy()
    out = evaluate(name, t, params)
    assert out.shape == (2, t.size)
    for i in range(2):
        row = spec.function(t, *(params[p][i] for p in spec.params))
        assert np.array_equal(out[i], row)
    assert np.array_equal(t, t_before) and all(np.array_equal(before[k], params[k]) for k in params)
    no_base = evaluate(name, t, params, baseline=False)
    assert np.allclose(out - no_base, params["b"][:, None])
    single = evaluate(name, t, {k: v[0] for k, v in params.items()})
    assert single.shape == (t.size,)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_initial_guess_inverts_mode_and_mean(name):
    # The guess must produce a shape whose mode and mean are those asked for (checked numerically).
    spec = MODELS[name]
    p1, p2 = spec.initial_guess(np.array([9.0]), np.array([14.0]))
    tau = np.linspace(1e-3, 400, 400001)
    g = shape(name, tau, p1[0], p2[0])
    assert tau[np.argmax(g)] == pytest.approx(9.0, abs=2e-3)
    assert float(spec.first_moment(p1, p2)[0]) == pytest.approx(14.0, rel=1e-6)


def test_invalid_parameters_give_nan_not_errors():
    assert np.isnan(shape("gamma", [1.0, 2.0], 2.0, -1.0)).all()
    assert np.isnan(shape("ldrw", [1.0], np.nan, 1.0)).all()


def test_unknown_model_and_missing_parameters_raise_input_error():
    with pytest.raises(InputError, match="model 'weibull'"):
        evaluate("weibull", np.arange(3.0), {})
    with pytest.raises(InputError, match="missing"):
        evaluate("gamma", np.arange(3.0), {"t0": 1.0})
