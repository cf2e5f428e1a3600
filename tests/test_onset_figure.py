"""The figure of the two arrival conventions (README, cohort report) and the numbers the README quotes.

The numbers come from the simulator's noiseless real-like slow curve (ceuskit.simulate.curve_cases) through
the simulator's own truth functions; the README's caption must quote them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ceuskit.report.onset_figure import convention_times, main
from ceuskit.simulate.curve_cases import curve_case

README = Path(__file__).resolve().parents[1] / "README.md"


def _times():
    case = curve_case("real-like-slow")
    fine = np.arange(0.0, 50.0, 0.01)
    grey = 255.0 * (1.0 + 10 * np.log10(np.interp(fine, case.times_s, case.noiseless["lesion"])) / 60.0)
    return convention_times(fine, grey)


def test_the_linear_convention_moves_with_the_range_and_the_onset_does_not():
    times = _times()
    arrivals = [times[f"arrival_at_{dr}_s"] for dr in (30, 45, 60)]
    assert arrivals == sorted(arrivals) and arrivals[-1] - arrivals[0] > 2.0
    assert times["onset_s"] < arrivals[0] - 1.5
    assert 14.0 <= times["onset_s"] <= 18.0  # where the real curve visibly leaves its baseline


def test_the_readme_quotes_the_figure_s_numbers():
    times = _times()
    text = README.read_text()
    assert "docs/onset-conventions.png" in text
    assert (README.parent / "docs" / "onset-conventions.png").stat().st_size > 10_000
    caption = re.search(r"the onset, 5 % of the rise in dB, at ([\d.]+) s.*?at ([\d.]+), ([\d.]+) and ([\d.]+) s",
                        text, re.S)
    assert caption is not None
    quoted = [float(v) for v in caption.groups()]
    expected = [times["onset_s"], times["arrival_at_30_s"], times["arrival_at_45_s"], times["arrival_at_60_s"]]
    assert np.allclose(quoted, np.round(expected, 1), atol=0.051)


def test_the_figure_is_written(tmp_path):
    out = tmp_path / "conventions.png"
    assert main([str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert main([]) == 2
