"""The two arrival conventions side by side: the onset a reader sees (dB) and VueBox's arrival time (power).

One figure, drawn on the simulator's real-like slow curve (:mod:`ceuskit.simulate.curve_cases`: display grey
35 → 97 on a 60 dB screen, peak at 34 s): on the left the curve as the screen shows it, in dB, with the onset
5 % of the way from baseline to peak; on the right the same curve in linear echo power, where 5 % of the rise
lies seconds later, and moves with the dynamic range the grey is linearised with. Used by the README and the
cohort report's Methods (``python -m ceuskit.report.onset_figure OUT.png`` writes it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ceuskit.simulate.curve_cases import curve_case
from ceuskit.simulate.curves import db_onset, linear_arrival

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["convention_times", "onset_conventions_figure"]

RANGES_DB = (30.0, 45.0, 60.0)
"""Dynamic ranges the linear-power convention is shown at."""


def convention_times(times_s: np.ndarray, grey: np.ndarray) -> dict[str, float]:
    """Both conventions' 5 % points on a noiseless display-grey curve (its first sample is the baseline).

    Parameters
    ----------
    times_s : (T,) a fine time grid, s.
    grey : (T,) display grey 0–255.

    Returns
    -------
    dict
        ``onset_s``: 5 % of the rise in dB (grey is proportional to dB: the same at every dynamic range);
        ``arrival_at_<DR>_s``: 5 % of the rise in linear power with the grey linearised over DR dB.
    """
    out: dict[str, float] = {}
    power = 10.0 ** ((grey / 255.0 - 1.0) * 60.0 / 10.0)
    onset = db_onset(times_s, power, float(power[0]))
    out["onset_s"] = float("nan") if onset is None else onset
    for dr in RANGES_DB:
        linear = 10.0 ** ((grey / 255.0 - 1.0) * dr / 10.0)
        arrival = linear_arrival(times_s, linear, float(linear[0]))
        out[f"arrival_at_{dr:g}_s"] = float("nan") if arrival is None else arrival
    return out


def onset_conventions_figure() -> Figure:
    """Return the figure (matplotlib, not yet written): dB on the left, linear power on the right."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    case = curve_case("real-like-slow")
    fine = np.arange(0.0, 50.0, 0.01)
    clean_db = 10 * np.log10(np.interp(fine, case.times_s, case.noiseless["lesion"]))
    grey = 255.0 * (1.0 + clean_db / 60.0)
    times = convention_times(fine, grey)
    onset, arrival = times["onset_s"], times["arrival_at_60_s"]
    measured_db = 10 * np.log10(case.power["lesion"])
    keep = case.times_s <= 50.0
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    ax_db, ax_lin = fig.subplots(1, 2)
    ax_db.plot(case.times_s[keep], measured_db[keep], ".", ms=1.5, color="#d62728", alpha=0.3)
    ax_db.plot(fine, clean_db, "-", color="#d62728", lw=1.5)
    base_db, peak_db = clean_db[0], clean_db.max()
    ax_db.axhline(base_db + 0.05 * (peak_db - base_db), color="#555", ls=":", lw=1)
    ax_db.axvline(onset, color="k", ls="--", lw=1.2)
    ax_db.axvline(arrival, color="#1f77b4", ls="-.", lw=1.0)
    ax_db.text(onset, 0.96, f" onset {onset:.1f} s\n (5 % of the rise in dB)", transform=ax_db.get_xaxis_transform(),
               va="top", fontsize=7.5)
    ax_db.set_title("on the screen: echo power in dB (grey ∝ dB)", fontsize=9)
    ax_db.set_ylabel("echo power (dB)")
    ax_db.set_xlabel("time after injection (s)")
    power = 10 ** (clean_db / 10)
    ax_lin.plot(fine, power / power.max(), "-", color="#1f77b4", lw=1.5)
    ax_lin.axhline((power[0] + 0.05 * (power.max() - power[0])) / power.max(), color="#555", ls=":", lw=1)
    ax_lin.axvline(onset, color="k", ls="--", lw=1.2)
    ax_lin.axvline(arrival, color="#1f77b4", ls="-.", lw=1.0)
    moved = ", ".join(f"{times[f'arrival_at_{dr:g}_s']:.1f}" for dr in RANGES_DB)
    ax_lin.text(arrival, 0.96, f" arrival_time_s {arrival:.1f} s\n (5 % of the rise in power;\n"
                f"  {moved} s at {', '.join(f'{dr:g}' for dr in RANGES_DB)} dB)",
                transform=ax_lin.get_xaxis_transform(), va="top", fontsize=7.5)
    ax_lin.set_title("linear echo power (VueBox's arrival time, fits)", fontsize=9)
    ax_lin.set_ylabel("echo power (fraction of peak)")
    ax_lin.set_xlabel("time after injection (s)")
    for ax in (ax_db, ax_lin):
        ax.set_xlim(0, 50)
        ax.tick_params(labelsize=8)
    return fig


def main(argv: list[str] | None = None) -> int:
    """Write the figure to the path given (PNG or PDF by suffix)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ceuskit.report.onset_figure OUT.png", file=sys.stderr)
        return 2
    onset_conventions_figure().savefig(Path(args[0]), dpi=110)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
