"""ROI means over pixels clipped at display white: censored exponential speckle."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ceuskit.tic import MAX_CENSORED_FRACTION, censored_mean


@pytest.mark.parametrize("white", [1.5, 3.0, 6.0])
def test_equals_scipy_maximum_likelihood_fit_of_censored_exponential_data(white):
    # Independent source: scipy.stats' numerical MLE of an exponential scale on right-censored data.
    rng = np.random.default_rng(1)
    power = rng.exponential(2.0, 4000)
    clipped = power >= white
    assert 0 < clipped.mean() <= MAX_CENSORED_FRACTION  # 47 %, 22 %, 5 % clipped
    data = stats.CensoredData(uncensored=power[~clipped], right=np.full(clipped.sum(), white))
    _, scale = stats.expon.fit(data, floc=0)
    ours = censored_mean(float(np.minimum(power, white).sum()), power.size, int(clipped.sum()))
    assert ours == pytest.approx(scale, rel=1e-4)  # scipy optimises numerically


def test_recovers_the_true_mean_where_the_plain_mean_is_biased():
    rng = np.random.default_rng(2)
    power = rng.exponential(1.0, 200_000)
    white = 1.2  # 30 % clipped
    shown = np.minimum(power, white)
    n_clipped = int((power >= white).sum())
    assert shown.mean() == pytest.approx(1 - np.exp(-white), rel=0.01)  # the clipped mean's closed form: 0.70
    assert censored_mean(float(shown.sum()), power.size, n_clipped) == pytest.approx(1.0, rel=0.01)


def test_no_clipping_and_too_much_clipping_keep_the_plain_mean():
    assert censored_mean(10.0, 5, 0) == 2.0
    assert censored_mean(10.0, 5, 4) == 2.0  # 80 % clipped: too few pixels left to estimate from
