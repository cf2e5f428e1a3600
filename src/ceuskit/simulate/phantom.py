"""Phantom parameters: enhancement patterns and every setting of one simulated clip."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ceuskit.errors import InputError
from ceuskit.simulate.display import COLOUR_MAPS
from ceuskit.timeseries import MAX_INJECTION_LEAD_S

__all__ = ["LATE_PHASE_START_S", "PATTERNS", "Phantom", "PhantomPattern", "phantom_with"]

LATE_PHASE_START_S = 120.0


@dataclass(frozen=True)
class PhantomPattern:
    """Enhancement pattern parameters (see the module docstring) and the labels they produce."""

    arterial: str
    washout: str
    late: str
    degree: str
    arterial_gain: float  # arterial bolus peak relative to the liver's peak power
    c_early: float  # lesion's parenchymal fraction before wash-out
    c_portal: float  # … after the wash-out step
    c_late: float  # … in the late phase
    washout_step_s: float = 80.0  # time of the c_early → c_portal step (s after injection)
    late_step_s: float = 105.0  # time of the c_portal → c_late step


PATTERNS: dict[str, PhantomPattern] = {
    # classic NET metastasis: arterial hyper, early wash-out, late hypo
    "hyper-early-hypo": PhantomPattern("hyper", "early", "hypo", "mild", 0.9, 0.3, 0.3, 0.3),
    "hyper-early-marked": PhantomPattern("hyper", "early", "hypo", "marked", 1.0, 0.05, 0.05, 0.05),
    "hyper-late-hypo": PhantomPattern("hyper", "late", "hypo", "mild", 1.4, 1.0, 0.3, 0.3, 80.0),
    "hyper-early-iso": PhantomPattern("hyper", "early", "iso", "mild", 0.9, 0.3, 0.3, 1.0, 80.0, 100.0),
    "hyper-none-iso": PhantomPattern("hyper", "none", "iso", "none", 1.4, 1.0, 1.0, 1.0),
    "hyper-none-hyper": PhantomPattern("hyper", "none", "hyper", "none", 1.4, 1.0, 1.0, 1.8, 80.0, 95.0),
    "iso-none-iso": PhantomPattern("iso", "none", "iso", "none", 0.0, 1.0, 1.0, 1.0),
    "iso-late-hypo": PhantomPattern("iso", "late", "hypo", "mild", 0.0, 1.0, 0.3, 0.3, 75.0),
    "hypo-none-hypo": PhantomPattern("hypo", "none", "hypo", "none", 0.0, 0.3, 0.3, 0.3),
}


@dataclass(frozen=True)
class Phantom:
    """All parameters of one phantom clip.  Times in s, sizes in px unless named otherwise."""

    pattern: str = "hyper-early-hypo"
    seed: int = 0
    duration_s: float = 150.0
    fps: float = 4.0
    jitter: float = 0.0  # relative frame-interval jitter (0.25 → intervals vary ±25 %)
    lead_in_s: float = 0.0  # clip starts this long before the injection (negative: that long after it)
    liver_arrival_s: float = 16.0  # after injection
    arterial_arrival_s: float = 12.0  # lesion's arterial bolus arrival, after injection
    rows: int = 160
    columns: int = 192  # of the ultrasound image region
    spacing_mm: float = 0.3
    lesion_center_px: tuple[float, float] = (96.0, 72.0)
    lesion_radii_px: tuple[float, float] = (26.0, 22.0)
    peak_power: float = 10 ** (-12 / 10)  # liver's contrast peak, −12 dB
    tissue_power: float = 10 ** (-48 / 10)  # pre-contrast tissue echo in contrast mode
    dynamic_range_db: float = 60.0
    breathing_amplitude_px: tuple[float, float] = (0.0, 0.0)  # (x, y)
    breathing_period_s: float = 4.5
    breathing_irregularity: float = 0.0  # > 0: cos⁴ breathing whose period and depth vary cycle to cycle by this
    out_of_plane_fraction: float = 0.0  # frames where the probe left the lesion's plane (lesion absent)
    out_of_plane_period_s: float = 0.0  # > 0: out-of-plane episodes, one in every this many seconds …
    out_of_plane_duration_s: float = 1.0  # … each this long
    dual: bool = False
    ceus_side: str = "left"
    rgb: bool = False
    curve_family: str = "lognormal"  # bolus shape of liver and arterial curves: "lognormal" or "gamma"
    gain_db: float = 0.0  # receive gain added before log compression; high gain clips bright speckle at white
    colour_map: str | None = None  # show the contrast image through a colour map ("gold", "bronze")
    colour_bar: bool = False  # draw the display's bar beside the image
    overlays: tuple[str, ...] = ()  # burned-in: "timer", "mi", "markers", "calliper", "lesion-marker"
    # motion (issue 19; simulate/realism.py): sparse late frames, lesions that fill in at once, a placed episode
    sparse_after_s: float = 0.0  # > 0: after this long (s of recording) one frame every sparse_interval_s …
    sparse_interval_s: float = 5.0  # … (± 10 %) up to the end
    fill_in_s: float = 0.0  # > 0: the lesion has no contrast until this time after injection, then fills …
    fill_in_duration_s: float = 0.5  # … from its sharp rim to its centre within this time
    out_of_plane_start_s: float | None = None  # one periodic out-of-plane episode begins at this time after injection
    # destruction–replenishment and level steps (issue 19; ceuskit.simulate.destruction)
    destruction_times_s: tuple[float, ...] = ()  # high-MI destructions, s after injection
    flash_frames: int = 3  # frames of each destruction (1–10)
    flash_db: float = 15.0  # how much brighter its frames are
    refill_beta_per_s: tuple[float, float] = (0.5, 1.0)  # refill rate β (liver, lesion), s⁻¹
    destruction_residual: float = 0.05  # fraction of the bubbles a destruction leaves
    infusion: bool = False  # a steady infusion instead of the pattern's bolus
    lesion_volume_ratio: float = 1.5  # with infusion: the lesion's steady blood level over the liver's
    level_steps: tuple[tuple[float, float], ...] = ()  # (s after injection, dB): gain/depth/plane steps
    # curves as readers see them (issue 18): slow rises
    arterial_time_scale: float = 1.0  # stretches the lesion's arterial bolus in time (2–3.5: peaks 25–35 s)
    # one-click proposals (issue 24): anatomy beyond one uniform ellipse, drawn by simulate/anatomy.py
    lesion_irregularity: float = 0.0  # lobulated outline: summed amplitude of radial harmonics 2–5 (0: ellipse)
    lesion_rim_px: float = 0.0  # rim enhancement: the core deeper than this enhances 15 % as much (0: none)
    lesion_heterogeneity: float = 0.0  # relative spread of the lesion's contrast, smooth patches (0: uniform)
    vessels: int = 0  # vessels passing just outside the main lesion: early, bright, elongated
    more_lesions: tuple[tuple[float, float, float, float, str], ...] = ()  # further (cx, cy, rx, ry, pattern)
    attenuation_db: float = 0.0  # echo lost from the image's top row to its bottom row, dB
    anatomy_seed: int | None = None  # random stream of the anatomy (default: seed); an examination shares one
    # the true-mask reading (issue 24; simulate/anatomy.py): a rim and heterogeneity keep the lesion's mean
    lesion_mean_kept: bool = False  # rim, patches and blurred edge scaled: the true mask averages the pattern's curve

    def pattern_spec(self) -> PhantomPattern:
        """Return the :class:`PhantomPattern` named by ``pattern`` (``InputError`` for an unknown name)."""
        try:
            return PATTERNS[self.pattern]
        except KeyError:
            raise InputError(f"unknown pattern {self.pattern!r}; choose one of {', '.join(PATTERNS)}") from None

    def check(self) -> None:
        """Raise :class:`InputError` naming the first setting that cannot be simulated."""
        self.pattern_spec()
        if not (self.duration_s > 0 and self.fps > 0 and 0 <= self.jitter < 1):
            raise InputError("duration and fps must be positive and jitter in [0, 1)")
        if not -MAX_INJECTION_LEAD_S <= self.lead_in_s < self.duration_s:
            raise InputError(f"lead_in_s must be less than duration_s and at least −{MAX_INJECTION_LEAD_S:g} s "
                             "(negative: the recording starts that long after the injection)")
        if self.curve_family not in ("lognormal", "gamma"):
            raise InputError(f"curve_family {self.curve_family!r} is not 'lognormal' or 'gamma'")
        if self.colour_map is not None and self.colour_map not in COLOUR_MAPS:
            raise InputError(f"colour_map {self.colour_map!r} is not one of {', '.join(COLOUR_MAPS)}")
        unknown = set(self.overlays) - {"timer", "mi", "markers", "calliper", "lesion-marker"}
        if unknown:
            raise InputError(f"unknown overlay(s) {', '.join(sorted(unknown))}; use timer, mi, markers, calliper, "
                             "lesion-marker")
        if not 0.2 <= self.arterial_time_scale <= 10:
            raise InputError("arterial_time_scale must lie between 0.2 and 10")
        if not 0 <= self.breathing_irregularity < 1 or self.out_of_plane_period_s < 0:
            raise InputError("breathing_irregularity must lie in [0, 1) and out_of_plane_period_s be ≥ 0")
        if self.sparse_interval_s <= 0 or self.fill_in_duration_s <= 0 or self.sparse_after_s < 0:
            raise InputError("sparse_interval_s and fill_in_duration_s must be positive and sparse_after_s ≥ 0")
        if self.out_of_plane_start_s is not None and self.out_of_plane_period_s <= 0:
            raise InputError("out_of_plane_start_s places a periodic episode: set out_of_plane_period_s too")
        self._check_kinetics()
        self._check_anatomy()

    def _check_kinetics(self) -> None:
        """Return the destruction and level-step settings (issue 19)."""
        if not 1 <= self.flash_frames <= 10:
            raise InputError(f"flash_frames {self.flash_frames} must lie in 1–10")
        if list(self.destruction_times_s) != sorted(self.destruction_times_s):
            raise InputError("destruction_times_s must increase")
        if not 0 <= self.destruction_residual < 1 or min(self.refill_beta_per_s) <= 0:
            raise InputError("destruction_residual must lie in [0, 1) and refill_beta_per_s be positive")
        if not self.lesion_volume_ratio > 0:
            raise InputError("lesion_volume_ratio must be positive")

    def _check_anatomy(self) -> None:
        if not (0 <= self.lesion_irregularity <= 0.4 and 0 <= self.lesion_heterogeneity <= 1
                and self.lesion_rim_px >= 0 and 0 <= self.vessels <= 8 and 0 <= self.attenuation_db <= 40):
            raise InputError("lesion_irregularity must lie in [0, 0.4], lesion_heterogeneity in [0, 1], "
                             "lesion_rim_px ≥ 0, vessels 0–8 and attenuation_db in [0, 40]")
        for item in self.more_lesions:
            if len(item) != 5 or item[4] not in PATTERNS or min(item[2], item[3]) <= 0:
                raise InputError(f"more_lesions entry {item!r} must be (cx, cy, rx, ry, pattern) with positive "
                                 f"radii and a pattern of {', '.join(PATTERNS)}")


def phantom_with(**changes: Any) -> Phantom:
    """Return a default :class:`Phantom` with some fields changed (convenience for tests and the CLI)."""
    return replace(Phantom(), **changes)
