"""The fit kernels' vectorisable exp and log against the C library's (numpy's np.exp / np.log)."""

from __future__ import annotations

import numpy as np
from numba import njit

from ceuskit._fastmath import EXP_MIN, fast_exp, fast_log


@njit(fastmath={"reassoc", "contract", "nsz", "arcp"}, error_model="numpy")
def _exp_loop(x: np.ndarray) -> np.ndarray:
    # the setting the fit kernel uses them in: a loop LLVM vectorises under these fast-math flags
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = fast_exp(x[i])
    return out


@njit(fastmath={"reassoc", "contract", "nsz", "arcp"}, error_model="numpy")
def _log_loop(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = fast_log(x[i])
    return out


def _ulps(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.abs(value - reference) / np.spacing(np.abs(reference))


def test_exp_within_three_ulp_of_libm():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(EXP_MIN, 709.0, 200_000), rng.uniform(-1.0, 1.0, 100_000), [0.0, 1.0, -1.0]])
    assert _ulps(_exp_loop(x), np.exp(x)).max() <= 3.0
    assert fast_exp(0.0) == 1.0


def test_exp_is_zero_below_the_normal_range_and_finite_above():
    x = np.array([EXP_MIN - 1e-9, -750.0, -1e300, 709.5, 1e300])
    out = _exp_loop(x)
    assert out[:3].tolist() == [0.0, 0.0, 0.0]
    assert np.isfinite(out[3:]).all() and (out[3:] > 1e307).all()


def test_log_within_two_ulp_of_libm():
    rng = np.random.default_rng(1)
    x = np.concatenate([np.exp(rng.uniform(-700.0, 700.0, 200_000)), rng.uniform(0.5, 2.0, 100_000),
                        [1.0, 2.0, 0.5, np.sqrt(2.0), 1e-300, 1e300]])
    reference = np.log(x)
    assert _ulps(_log_loop(x), reference)[reference != 0].max() <= 2.0
    assert fast_log(1.0) == 0.0
