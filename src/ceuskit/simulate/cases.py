"""Real-world conditions as named phantoms: what real screens and real hands add to a clip.

Every case is a :class:`~ceuskit.simulate.Phantom` with a known truth, read by the test suite and by
``make bench`` (and written by ``ceuskit simulate --case NAME``). They share the held-out clips' format:
gamma-variate perfusion, 8 frames/s, a 160×120 image, a 45 dB display, irregular cos⁴ breathing, and —
unless the case says otherwise — an out-of-plane second in every nine.
"""

from __future__ import annotations

from dataclasses import replace

from ceuskit.errors import InputError
from ceuskit.simulate.phantom import Phantom

__all__ = ["PROPOSAL_CASES", "REAL_WORLD", "SLOW_RISES", "real_world_case"]

_BASE = Phantom(fps=8.0, rows=120, columns=160, lesion_center_px=(80.0, 62.0), lesion_radii_px=(20.0, 16.0),
                dynamic_range_db=45.0, curve_family="gamma", duration_s=100.0, lead_in_s=3.0, jitter=0.1,
                breathing_irregularity=0.2, out_of_plane_period_s=9.0, out_of_plane_duration_s=1.0)

REAL_WORLD: dict[str, Phantom] = {
    # CEUS-only screens: breathing, out-of-plane frames, lesions that turn from bright to dark
    "ceus-breathing-10px": replace(_BASE, pattern="hyper-early-hypo", seed=1, breathing_amplitude_px=(3, 10)),
    "ceus-breathing-15px": replace(_BASE, pattern="hyper-early-hypo", seed=4, breathing_amplitude_px=(5, 15)),
    "ceus-breathing-6px-late-washout": replace(_BASE, pattern="hyper-late-hypo", seed=2, duration_s=150.0,
                                              breathing_amplitude_px=(2, 6)),
    "ceus-breathing-3.5px": replace(_BASE, pattern="hyper-early-iso", seed=3, duration_s=150.0,
                                    breathing_amplitude_px=(1.5, 3.5), out_of_plane_period_s=0.0),
    "ceus-breathing-8px-hypo": replace(_BASE, pattern="hypo-none-hypo", seed=7, breathing_amplitude_px=(3, 8)),
    "ceus-breathing-10px-late-hyper": replace(_BASE, pattern="hyper-none-hyper", seed=8, duration_s=150.0,
                                              breathing_amplitude_px=(3, 10)),
    "ceus-still-iso": replace(_BASE, pattern="iso-none-iso", seed=6, breathing_irregularity=0.0,
                              out_of_plane_period_s=0.0),
    # B-mode | CEUS side by side: tracked on the B-mode half
    "dual-breathing-14px": replace(_BASE, pattern="hyper-early-marked", seed=5, dual=True,
                                   breathing_amplitude_px=(4, 14)),
    # the screen: a colour map, a burned-in timer and markers (one on the lesion)
    "gold-map": replace(_BASE, pattern="hyper-early-hypo", seed=11, colour_map="gold",
                        breathing_amplitude_px=(2, 6), out_of_plane_period_s=0.0),
    "bronze-map-with-bar": replace(_BASE, pattern="hyper-late-hypo", seed=12, colour_map="bronze", colour_bar=True,
                                   duration_s=150.0, breathing_amplitude_px=(2, 6), out_of_plane_period_s=0.0),
    "burned-in-timer": replace(_BASE, pattern="hyper-early-hypo", seed=13, breathing_amplitude_px=(3, 8),
                               overlays=("timer", "mi", "markers", "lesion-marker")),
    # the hands: a recording started after the contrast came, a gain set too high
    "late-start": replace(_BASE, pattern="hyper-early-hypo", seed=14, lead_in_s=-20.0, duration_s=80.0,
                          breathing_amplitude_px=(2, 6)),
    "saturated": replace(_BASE, pattern="hyper-early-hypo", seed=15, gain_db=10.0, breathing_amplitude_px=(2, 6),
                         out_of_plane_period_s=0.0),
    # real recordings (issue 19): a dense loop then a frame every ~5 s …
    "sparse-late-frames": replace(_BASE, pattern="hyper-early-hypo", seed=16, duration_s=155.0, sparse_after_s=108.0,
                                  breathing_amplitude_px=(2, 6)),
    # … large dark lesions that fill from a sharp rim within half a second, the probe still or breathing …
    **{name: replace(_BASE, pattern="hyper-early-marked", seed=seed, lesion_radii_px=(34.0, 28.0), liver_arrival_s=10.0,
                     arterial_arrival_s=8.0, fill_in_s=12.0, dual=dual, breathing_amplitude_px=breathing,
                     breathing_irregularity=0.2 if breathing[1] else 0.0, out_of_plane_period_s=0.0)
       for name, seed, dual, breathing in (("fill-in-still", 17, False, (0, 0)), ("fill-in-breathing-8px", 18, False, (3, 8)),
                                           ("dual-fill-in-still", 19, True, (0, 0)),
                                           ("dual-fill-in-breathing-10px", 20, True, (3, 10)))},
    # … and an out-of-plane second on the lesion's arterial peak (true lesion–liver contrast about 20 dB)
    **{name: replace(_BASE, pattern="hyper-early-hypo", seed=seed, arterial_arrival_s=10.0, liver_arrival_s=22.0,
                     tissue_power=10 ** (-32 / 10), out_of_plane_start_s=15.9, dual=dual, breathing_amplitude_px=breathing)
       for name, seed, dual, breathing in (("ceus-peak-out-of-plane-6px", 21, False, (2, 6)),
                                           ("ceus-peak-out-of-plane-15px", 22, False, (5, 15)),
                                           ("dual-peak-out-of-plane-3.5px", 23, True, (1.5, 3.5)),
                                           ("dual-peak-out-of-plane-15px", 24, True, (5, 15)))},
}
"""Named real-world phantoms (see the module docstring)."""

SLOW_RISES: dict[str, Phantom] = {
    # slow arterial rises (time to peak 25–35 s) over brighter pre-contrast tissue: a 15–30 dB rise, whose 5 %
    # point in dB and in linear power lie seconds apart (where a reader's onset and VueBox's arrival differ)
    "slow-rise-25s": replace(_BASE, pattern="hyper-late-hypo", seed=21, arterial_time_scale=2.0,
                             tissue_power=10 ** (-36 / 10), duration_s=90.0, breathing_amplitude_px=(2, 6)),
    "slow-rise-30s-60db": replace(_BASE, pattern="hyper-none-iso", seed=22, arterial_time_scale=2.8,
                                  tissue_power=10 ** (-30 / 10), duration_s=90.0, dynamic_range_db=60.0,
                                  breathing_amplitude_px=(2, 6)),
    "slow-rise-34s-iso": replace(_BASE, pattern="iso-none-iso", seed=23, curve_family="lognormal",
                                 liver_arrival_s=20.0, tissue_power=10 ** (-30 / 10), duration_s=90.0,
                                 dynamic_range_db=60.0, out_of_plane_period_s=0.0),
}
"""Slow arterial rises (issue 18: onsets on the display's dB scale), read against their truth like the cases
above."""


def _proposal_cases() -> dict[str, Phantom]:
    """Return the lesions the one-click proposals are measured on.

    Every pattern, irregular outlines, rim enhancement, heterogeneity, vessels beside the lesion, further
    lesions, dual displays, depth attenuation, sizes from 10 to 28 px and positions off centre, in the
    real-world clips' format (breathing, out-of-plane seconds). Each lesion's own contrast averages to its
    pattern's curve over its true mask (``lesion_mean_kept``: a rim lesion's pattern is the whole lesion's), and
    lesions hypo in the late phase are shown with a 60 dB display, so that their true masks read the designed
    pattern, every phase clear of the thresholds (:mod:`ceuskit.simulate.true_reading`).
    """
    patterns = ("hyper-early-hypo", "hyper-late-hypo", "hypo-none-hypo", "hyper-none-iso", "iso-late-hypo",
                "hyper-early-marked", "hyper-none-hyper", "hyper-early-iso")
    sizes = ((20.0, 16.0), (26.0, 20.0), (14.0, 12.0), (24.0, 22.0), (10.0, 9.0), (28.0, 18.0), (17.0, 15.0),
             (22.0, 14.0))
    places = ((80.0, 62.0), (60.0, 55.0), (100.0, 66.0), (78.0, 48.0), (112.0, 74.0), (70.0, 64.0), (92.0, 52.0),
              (56.0, 70.0))
    cases = {}
    for k in range(32):
        pattern = patterns[k % 8]
        rx, ry = sizes[(k * 3 + k // 8) % 8]
        cx, cy = places[(k * 5 + 3 * (k // 8)) % 8]
        other_x = cx + 48 if cx < 80 else cx - 48
        more: tuple[tuple[float, float, float, float, str], ...] = () if k % 4 != 1 else (
            (other_x, min(cy + 30, 100.0), 10.0, 8.0, "hypo-none-hypo"),)
        if k % 8 == 5:
            more += ((other_x, max(cy - 30, 18.0), 8.0, 8.0, "hyper-early-hypo"),)
        duration = 150.0 if pattern in ("hyper-late-hypo", "iso-late-hypo", "hyper-none-hyper", "hyper-early-iso") \
            else 100.0
        cases[f"proposal-{k + 1:02d}-{pattern}"] = replace(
            _BASE, pattern=pattern, seed=100 + k, duration_s=duration, lesion_center_px=(cx, cy),
            lesion_radii_px=(rx, ry), lesion_irregularity=(0.0, 0.15, 0.3, 0.22)[k % 4],
            lesion_rim_px=(0.0, 5.0, 4.0)[k % 3] if pattern.startswith("hyper") and min(rx, ry) >= 12 else 0.0,
            lesion_heterogeneity=(0.0, 0.3, 0.5)[k % 3], vessels=(0, 2, 1, 3, 0)[k % 5], more_lesions=more,
            dual=k % 5 == 3, attenuation_db=(0.0, 6.0, 10.0)[k % 3],
            breathing_amplitude_px=((2.0, 6.0), (3.0, 10.0), (1.5, 3.5), (4.0, 12.0))[k % 4],
            colour_map="gold" if k % 11 == 7 else None, lesion_mean_kept=True,
            # a lesion hypo in the late phase, deep in a 45 dB display, sits on its black floor there (R squeezed
            # towards 0 dB): these are shown with 60 dB
            dynamic_range_db=60.0 if pattern in ("hyper-late-hypo", "iso-late-hypo") else _BASE.dynamic_range_db)
    return cases


PROPOSAL_CASES: dict[str, Phantom] = _proposal_cases()
"""Named phantoms with irregular, rim-enhancing, heterogeneous lesions, vessels and further lesions (32 clips);
with :data:`REAL_WORLD` they are the clips the one-click proposals are measured on."""


def real_world_case(name: str) -> Phantom:
    """Return the phantom of a named case.

    The cases are :data:`REAL_WORLD`, :data:`SLOW_RISES`, :data:`KINETIC_CASES` and :data:`PROPOSAL_CASES`;
    ``InputError`` listing the names for an unknown one.
    """
    cases = {**REAL_WORLD, **SLOW_RISES, **KINETIC_CASES}
    found = cases.get(name) or PROPOSAL_CASES.get(name)
    if found is None:
        raise InputError(f"unknown case {name!r}; choose one of {', '.join(cases)} or a proposal-NN case "
                         "(--list-cases)")
    return found


# destruction–replenishment and level steps (issue 19): the real-world cases' image, display and frame jitter on a
# still probe, so that A and β are read against their truth at each frame rate
_STILL = replace(_BASE, breathing_irregularity=0.0, out_of_plane_period_s=0.0, lead_in_s=2.0)


def _replenishment(fps: float, cycles: int, flash: int, seed: int) -> Phantom:
    """Return an infusion phantom: ``cycles`` destructions of ``flash`` frames, 22 s apart from 30 s on."""
    return replace(_STILL, seed=seed, fps=fps, infusion=True, duration_s=32.0 + 22.0 * cycles,
                   destruction_times_s=tuple(30.0 + 22.0 * k for k in range(cycles)), flash_frames=flash,
                   refill_beta_per_s=(0.35, 0.9), lesion_volume_ratio=1.6)


REPLENISHMENT: dict[str, Phantom] = {
    f"replenishment-{fps:g}hz-{cycles}-cycle{'s' if cycles > 1 else ''}-{flash}-frame": _replenishment(
        fps, cycles, flash, seed)
    for seed, (fps, cycles, flash) in enumerate([(2.0, 1, 1), (2.0, 2, 3), (2.0, 3, 10), (8.0, 1, 3), (8.0, 2, 10),
                                                 (8.0, 3, 1), (35.0, 1, 10), (35.0, 2, 1), (35.0, 3, 3)], start=40)
}
"""Destruction–replenishment phantoms with known A and β: 2, 8 and 35 Hz, one to three cycles, 1–10 flash frames."""

BOLUS_DESTRUCTION: dict[str, Phantom] = {
    f"bolus-destruction-{fps:g}hz-{flash}-frame": replace(_STILL, pattern="hyper-early-hypo", seed=60 + flash,
                                                          fps=fps, duration_s=100.0, destruction_times_s=(85.0,),
                                                          flash_frames=flash, jitter=0.0)
    for fps, flash in ((2.0, 10), (8.0, 1), (8.0, 4), (35.0, 10))
}
"""Bolus clips with a destruction near their end: read as the same clip cut before it (regular frame times, so
that the same phantom with a shorter duration renders the same frames before the destruction)."""

LEVEL_STEPS: dict[str, Phantom] = {
    "gain-step-2db": replace(_STILL, pattern="hyper-early-hypo", seed=70, level_steps=((67.0, -2.0),)),
    "gain-steps-3-and-9db": replace(_STILL, pattern="hyper-late-hypo", seed=71, duration_s=120.0,
                                    level_steps=((67.0, -3.0), (80.0, -9.0))),
    "gain-step-up-4db-breathing": replace(_BASE, pattern="hyper-early-hypo", seed=72, breathing_amplitude_px=(2, 6),
                                          out_of_plane_period_s=0.0, level_steps=((70.0, 4.0),)),
}
"""Level steps in every ROI at once (gain changes) of 2–9 dB."""

KINETIC_CASES: dict[str, Phantom] = {**REPLENISHMENT, **BOLUS_DESTRUCTION, **LEVEL_STEPS}
"""Every destruction–replenishment and level-step case."""


def describe_kinetics(ph: Phantom) -> str:
    """One line saying what a kinetic case holds (for ``ceuskit simulate --list-cases``)."""
    parts = [f"{ph.fps:g} Hz", "infusion" if ph.infusion else ph.pattern]
    if ph.destruction_times_s:
        parts.append(f"{len(ph.destruction_times_s)} destruction(s) of {ph.flash_frames} frame(s) at "
                     + ", ".join(f"{v:g}" for v in ph.destruction_times_s) + " s, refill β "
                     + "/".join(f"{v:g}" for v in ph.refill_beta_per_s) + " s⁻¹ (liver/lesion)")
    if ph.level_steps:
        parts.append("level steps " + ", ".join(f"{db:+g} dB at {at:g} s" for at, db in ph.level_steps))
    return ", ".join(parts)

