"""Bolus or replenishment: destructions and level steps decide which part of a recording each reading uses.

For an examination's curves (:class:`ceuskit.timeline.Timeline`) :func:`find_events` finds the high-MI
destructions (:mod:`ceuskit.destruction`) and the level steps (:mod:`ceuskit.steps`) and says which samples
each reading may use (DESIGN "destruction–replenishment"):

* the **bolus fits and parameters** use the recording before the first destruction and before the first
  level step (a fit never crosses a step);
* the **phase reading** (lesion-to-liver ratios) uses the recording before the first destruction, across
  pure gain steps (equal in every ROI: ratios are unchanged) but not across an unequal one (depth or plane);
* with replenishment kinetics each **refill** after a destruction is fitted per ROI
  (:mod:`ceuskit.replenishment`), up to the next destruction, level step or clip end. ``kinetics`` is
  ``"bolus"`` (no refill fits), ``"replenishment"`` (every destruction's refill) or ``"auto"`` (the refills
  of destructions after which the curves rise again).

A phase that the recording covers only after a destruction is ``not_assessed`` and says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ceuskit.destruction import Destruction, find_destructions
from ceuskit.errors import InputError
from ceuskit.quality import Flag
from ceuskit.replenishment import POOR_R2, fit_refills, refill_model
from ceuskit.steps import Step, find_steps
from ceuskit.timeline import Timeline
from ceuskit.timeseries import round_or_none, spikes

__all__ = ["KINETICS", "Events", "Refills", "check_kinetics", "find_events", "read_refills"]

KINETICS = ("auto", "bolus", "replenishment")


def check_kinetics(kinetics: str) -> str:
    """Check a kinetics option.

    Parameters
    ----------
    kinetics : "auto", "bolus" or "replenishment".

    Returns
    -------
    ``kinetics`` unchanged.

    Raises
    ------
    InputError
        It is not one of :data:`KINETICS`.
    """
    if kinetics not in KINETICS:
        raise InputError(f"kinetics {kinetics!r} is not one of {', '.join(KINETICS)}")
    return kinetics


@dataclass(frozen=True)
class Events:
    """Destructions and level steps of a recording, and the samples each reading uses.

    Attributes
    ----------
    destructions, steps : in time order.
    fit_end : bolus fits and parameters use samples ``[0, fit_end)``.
    phase_end : the phase reading uses samples ``[0, phase_end)``.
    """

    destructions: list[Destruction]
    steps: list[Step]
    fit_end: int
    phase_end: int

    def to_json(self, names: Sequence[str]) -> dict[str, Any]:
        """analysis.json's ``destructions`` and ``steps``."""
        return {"destructions": [d.to_json(list(names)) for d in self.destructions],
                "steps": [s.to_json(list(names)) for s in self.steps]}

    def flags(self, times_s: np.ndarray) -> list[Flag]:
        """``destruction`` and ``step`` flags (clip-wide)."""
        out = []
        for item in self.destructions:
            out.append(Flag("destruction", None, "warning" if item is self.destructions[0] else "info",
                            f"high-MI destruction at {item.start_s:.1f} s ({item.frames} frame(s) "
                            f"{min(item.jump_db):.0f}+ dB bright in every ROI, then {np.nanmean(item.drop_db):.1f} dB "
                            "below the level before it" + (", then refill" if item.refill else "") + "): the bolus "
                            f"reading uses the recording before {self.destructions[0].start_s:.1f} s"))
        for step in self.steps:
            size = ", ".join(f"{v:+.1f}" for v in step.step_db)
            kind = ("equal in every ROI: a gain change, so lesion-to-liver ratios stay valid and the phases are "
                    "read across it" if step.gain else "unequal across the ROIs: a depth or plane change, so "
                    "the phase reading stops there too")
            out.append(Flag("step", None, "warning", f"level step at {step.time_s:.1f} s in every ROI ({size} dB), "
                            f"{kind}; fits and parameters use the recording before "
                            f"{float(times_s[self.fit_end]) if self.fit_end < times_s.size else step.time_s:.1f} s"))
        return out


def find_events(timeline: Timeline) -> Events:
    """Destructions and level steps of a recording and the samples the bolus fits and phases may use.

    Parameters
    ----------
    timeline : the curves of every ROI on the examination's time axis.

    Returns
    -------
    :class:`Events`.
    """
    t, power = timeline.times_s, timeline.power
    destructions = find_destructions(t, power, segments=timeline.segment)
    flashes: np.ndarray = np.asarray(spikes(t, power, segments=timeline.segment), dtype=bool).reshape(power.shape)
    exclude: np.ndarray = np.any(flashes, axis=0)
    for item in destructions:
        exclude[item.start:item.stop] = True
    steps = find_steps(t, power, segments=timeline.segment, exclude=exclude, motion_px=timeline.motion_px)
    first = destructions[0].start if destructions else t.size
    fit_end = min([first] + [s.index for s in steps])
    phase_end = min([first] + [s.index for s in steps if not s.gain])
    return Events(destructions, steps, fit_end, phase_end)


def explain_cut_phases(lesions: list[dict[str, Any]], timeline: Timeline, events: Events, late_start_s: float,
                       arterial_end_s: float) -> None:
    """Say why a phase recorded only after a destruction (or an unequal step) is ``not_assessed``, in place.

    Parameters
    ----------
    lesions : the lesions' readings (analysis.json ``lesions``); a ``reason`` is added to such a phase.
    timeline : the whole recording.  events : from :func:`find_events`.
    late_start_s, arterial_end_s : the phase windows, s after injection.
    """
    if events.phase_end >= timeline.times_s.size:
        return
    at = float(timeline.times_s[events.phase_end])
    cause = (f"recorded only after the destruction at {at:.1f} s" if events.destructions
             and events.destructions[0].start == events.phase_end else
             f"recorded only after a depth or plane change (level step) at {at:.1f} s")
    later = timeline.times_s[events.phase_end:]
    for lesion in lesions:
        if lesion["late_phase"]["enhancement"] == "not_assessed" and np.any(later >= late_start_s):
            lesion["late_phase"]["reason"] = cause
        if lesion["arterial_phase"]["enhancement"] == "not_assessed" and np.any(later <= arterial_end_s):
            lesion["arterial_phase"]["reason"] = cause


@dataclass(frozen=True)
class Refills:
    """What :func:`read_refills` found: analysis.json's ``replenishment`` and each lesion's ratios."""

    document: dict[str, list[dict[str, Any]]]
    ratios: dict[str, list[dict[str, Any]]]
    repeatability: dict[str, dict[str, Any]]
    flags: list[Flag]
    fitted: dict[str, np.ndarray] = field(repr=False)


def _cycles(events: Events, kinetics: str, n: int) -> list[tuple[Destruction, int]]:
    """Return the refills to fit as (destruction, end sample) pairs.

    Each ends at the next destruction, step or clip.
    """
    out = []
    for item in events.destructions:
        if kinetics == "bolus" or (kinetics == "auto" and not item.refill):
            continue
        end = min([item.cycle_stop, n] + [s.index for s in events.steps if s.index > item.stop])
        out.append((item, end))
    return out


def _spread(values: list[float]) -> float | None:
    """Coefficient of variation (SD with ddof 1 over the mean) of two or more values."""
    if len(values) < 2:
        return None
    return round_or_none(float(np.std(values, ddof=1) / np.mean(values)), 4)


def read_refills(timeline: Timeline, events: Events, lesions: Sequence[tuple[str, str]], kinetics: str) -> Refills:
    """Fit every refill of the chosen destructions per ROI, with lesion/reference ratios and repeatability.

    Parameters
    ----------
    timeline : the curves.  events : from :func:`find_events`.
    lesions : (lesion ROI, its reference ROI) pairs.
    kinetics : "auto", "bolus" or "replenishment".

    Returns
    -------
    :class:`Refills`: ``document`` {ROI: [{"destruction_s", "blood_volume", "beta_per_s", "flow",
    "refill_90_s", "r2", "success", …}]} ({} when nothing was fitted), per lesion the ratios of blood volume,
    β and flow to its reference per cycle, per ROI the coefficients of variation over its cycles, flags, and
    per ROI the fitted refills on the timeline (NaN elsewhere).
    """
    t, names = timeline.times_s, timeline.names
    chosen = _cycles(events, check_kinetics(kinetics), t.size)
    flags: list[Flag] = []
    if kinetics == "replenishment" and not events.destructions:
        flags.append(Flag("destruction", None, "info", "replenishment kinetics asked for, but no destruction was "
                          "found: nothing to fit with the replenishment model"))
    if not chosen:
        return Refills({}, {}, {}, flags, {})
    flashes = spikes(t, timeline.power, segments=timeline.segment)
    taus, values, where = [], [], []
    for r in range(len(names)):
        for item, end in chosen:
            span = np.arange(item.stop, end)
            taus.append(t[span] - item.t_d_s)
            values.append(np.where(flashes[r, span], np.nan, timeline.power[r, span]))
            where.append((r, item, span))
    fit = fit_refills(taus, values)
    document: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    fitted = {name: np.full(t.size, np.nan) for name in names}
    for k, (r, item, span) in enumerate(where):
        entry = fit.to_json(k, item.t_d_s)
        document[names[r]].append(entry)
        if fit.success[k]:
            fitted[names[r]][span] = refill_model(t[span] - item.t_d_s, fit.baseline[k], fit.blood_volume[k],
                                                  fit.beta_per_s[k])
            if not fit.r2[k] >= POOR_R2:
                flags.append(Flag("poor_fit", names[r], "warning", f"the refill after the destruction at "
                                  f"{item.t_d_s:.1f} s fits the replenishment model poorly (R² {fit.r2[k]:.2f})"))
        else:
            flags.append(Flag("poor_fit", names[r], "warning", f"no replenishment fit after the destruction at "
                              f"{item.t_d_s:.1f} s ({fit.message[k]}); its A, β and flow are empty"))
    ratios = {lesion: [_ratio(a, b) for a, b in zip(document[lesion], document[reference], strict=True)]
              for lesion, reference in lesions}
    repeatability = {}
    for name, cycles in document.items():
        good = [c for c in cycles if c["success"]]
        if len(good) >= 2:
            repeatability[name] = {"cycles": len(good),
                                   "blood_volume_cv": _spread([c["blood_volume"] for c in good]),
                                   "beta_cv": _spread([c["beta_per_s"] for c in good]),
                                   "flow_cv": _spread([c["flow"] for c in good])}
    return Refills(document, ratios, repeatability, flags, fitted)


def _ratio(lesion: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """One cycle's lesion over reference ratios (null where either fit failed)."""
    def over(key: str) -> float | None:
        a, b = lesion[key], reference[key]
        return round_or_none(a / b, 4) if a is not None and b else None

    return {"destruction_s": lesion["destruction_s"], "blood_volume_ratio": over("blood_volume"),
            "beta_ratio": over("beta_per_s"), "flow_ratio": over("flow")}
