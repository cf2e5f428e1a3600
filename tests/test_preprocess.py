"""Grey conversion and linearisation against their closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.errors import InputError
from ceuskit.pixels import to_grey
from ceuskit.preprocess.linearize import check_dynamic_range, grey_to_power, power_to_grey


def test_luminance_weights():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    expected = np.array([[0.299 * 255, 0.587 * 255, 0.114 * 255, 0.299 * 10 + 0.587 * 20 + 0.114 * 30]])
    assert np.allclose(to_grey(rgb), expected, atol=1e-4)
    assert np.allclose(to_grey(np.array([[65535]], np.uint16), max_value=65535), 255.0)


@pytest.mark.parametrize("dr", [40.0, 60.0, 80.0])
def test_linearisation_closed_form_and_inverse(dr):
    grey = np.arange(256, dtype=np.float32)
    power = grey_to_power(grey, dr)
    assert np.allclose(power, 10 ** ((grey / 255 - 1) * dr / 10), rtol=1e-5)
    assert power[-1] == pytest.approx(1.0) and power[0] == pytest.approx(10 ** (-dr / 10), rel=1e-5)
    assert np.allclose(power_to_grey(power, dr), grey, atol=1e-3)


@pytest.mark.parametrize("bad", [0, -5, float("nan"), 500])
def test_dynamic_range_validation(bad):
    with pytest.raises(InputError, match="dynamic range"):
        check_dynamic_range(bad)
