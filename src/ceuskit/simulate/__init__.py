"""Phantom CEUS clips with known ground truth, written as real DICOM US multi-frame files.

The phantom is a liver with one lesion, seen through a rectangular ultrasound image region inside a larger
frame that carries burned-in annotation.  Contrast power follows closed-form bolus curves:

* liver (parenchyma): ``P(t) = peak_power · lognormal(t; liver_arrival_s, μ=ln 28, σ=0.85) / max``;
* lesion: ``L(t) = arterial_gain · peak_power · B(t) / max B + c(t) · P(t)``, with ``B`` a short arterial
  lognormal bolus arriving at ``arterial_arrival_s`` and ``c(t)`` a smooth step function (early → portal →
  late fraction) that sets wash-out and the late-phase contrast.

Every pattern of the seed study is a choice of these parameters (:data:`PATTERNS`): arterial hyper/iso/hypo,
wash-out early/late/none (mild or marked), late hypo/iso/hyper.  Pixels get spatially correlated Rayleigh
speckle (new every frame for contrast, fixed for tissue), log compression to 8-bit grey over the dynamic
range, breathing motion (rigid, sinusoidal), optional out-of-plane frames, a lead-in before injection,
jittered frame times and an optional dual display (B-mode | CEUS).

The truth written beside the clip comes only from these parameters: pattern labels by construction, the
lesion's and the liver's onset (where the noiseless curve in dB has risen 5 % of its way from the pre-contrast
level to its arterial peak, as a reader sees it), the lesion's VueBox arrival time (first time its noiseless
enhancement reaches 5 % of its peak in linear power), noiseless ROI TICs
(after the receive gain, before log compression and clipping), per-frame shifts.  It never comes from
ceuskit's analysis.  The truth also holds the true masks of the reference frame (``masks``, decoded by
:func:`truth_masks`: each lesion, the parenchyma, the vessels) and each lesion's centre and pattern
(``lesions``); :mod:`ceuskit.simulate.anatomy` adds irregular outlines, rim enhancement, heterogeneity, vessels,
further lesions and depth attenuation.
"""

from ceuskit.simulate.anatomy import truth_masks
from ceuskit.simulate.cohort import SEED_PATTERNS, SEED_PRIMARIES, simulate_cohort
from ceuskit.simulate.curves import contrast_curves, truth_timing
from ceuskit.simulate.dicom import SimulatedClip, simulate_clip, write_dicom
from ceuskit.simulate.phantom import LATE_PHASE_START_S, PATTERNS, Phantom, PhantomPattern, phantom_with
from ceuskit.simulate.render import render_frames

__all__ = [
    "LATE_PHASE_START_S",
    "PATTERNS",
    "SEED_PATTERNS",
    "SEED_PRIMARIES",
    "Phantom",
    "PhantomPattern",
    "SimulatedClip",
    "contrast_curves",
    "phantom_with",
    "render_frames",
    "simulate_clip",
    "simulate_cohort",
    "truth_masks",
    "truth_timing",
    "write_dicom",
]
