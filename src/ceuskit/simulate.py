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
lesion's arrival time (first time its noiseless enhancement reaches 5 % of its peak), noiseless ROI TICs,
per-frame shifts.  It never comes from ceuskit's analysis.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ceuskit.errors import InputError

__all__ = [
    "PATTERNS",
    "Phantom",
    "PhantomPattern",
    "SimulatedClip",
    "simulate_clip",
    "simulate_cohort",
    "truth_timing",
]

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
    lead_in_s: float = 0.0  # clip starts this long before the injection
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
    out_of_plane_fraction: float = 0.0  # frames where the probe left the lesion's plane (lesion absent)
    dual: bool = False
    ceus_side: str = "left"
    rgb: bool = False

    def pattern_spec(self) -> PhantomPattern:
        try:
            return PATTERNS[self.pattern]
        except KeyError:
            raise InputError(f"unknown pattern {self.pattern!r}; choose one of {', '.join(PATTERNS)}") from None


@dataclass(frozen=True)
class SimulatedClip:
    """Paths of what :func:`simulate_clip` wrote."""

    dicom: Path
    roi: Path
    truth: Path
    truth_data: dict[str, Any] = field(repr=False)


# ---------------------------------------------------------------------------------------------------------
# closed-form curves
def _lognormal_shape(t: np.ndarray, t0: float, mu: float, sigma: float) -> np.ndarray:
    tau = np.asarray(t, dtype=float) - t0
    out = np.zeros_like(tau)
    pos = tau > 0
    out[pos] = np.exp(-((np.log(tau[pos]) - mu) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma * tau[pos])
    return out


def _logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


_LIVER_SHAPE = (math.log(28.0), 0.85)
_ARTERIAL_SHAPE = (math.log(8.0), 0.45)


def _liver_peak_scale() -> float:
    grid = np.linspace(1e-3, 200, 20001)
    return float(_lognormal_shape(grid, 0.0, *_LIVER_SHAPE).max())


def _arterial_peak_scale() -> float:
    grid = np.linspace(1e-3, 100, 20001)
    return float(_lognormal_shape(grid, 0.0, *_ARTERIAL_SHAPE).max())


def contrast_curves(ph: Phantom, t_inj_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noiseless contrast power (above tissue) of liver and lesion at times after injection."""
    spec = ph.pattern_spec()
    liver = ph.peak_power * _lognormal_shape(t_inj_s, ph.liver_arrival_s, *_LIVER_SHAPE) / _liver_peak_scale()
    arterial = spec.arterial_gain * ph.peak_power * _lognormal_shape(t_inj_s, ph.arterial_arrival_s, *_ARTERIAL_SHAPE)
    arterial /= _arterial_peak_scale()
    c = (spec.c_early
         + (spec.c_portal - spec.c_early) * _logistic((t_inj_s - spec.washout_step_s) / 3.0)
         + (spec.c_late - spec.c_portal) * _logistic((t_inj_s - spec.late_step_s) / 3.0))
    return liver, arterial + c * liver


def truth_timing(ph: Phantom, *, threshold: float = 0.05, step_s: float = 0.01) -> dict[str, float | None]:
    """Lesion arrival (5 % of its peak enhancement), peak time and wash-out onset from the noiseless curves.

    Wash-out onset: first time after the lesion's arterial peak (within 0–45 s) at which the noiseless
    lesion-to-liver ratio of total power is ≤ −1.5 dB and stays so for 5 s; None when it never does or when
    the lesion was already hypo-enhancing at its peak.
    """
    t = np.arange(0.0, ph.duration_s - ph.lead_in_s + step_s, step_s)
    liver, lesion = contrast_curves(ph, t)
    arrival = float(t[np.argmax(lesion >= threshold * lesion.max())])
    arterial = t <= 45.0
    peak = float(t[np.argmax(np.where(arterial, lesion, -np.inf))])
    ratio_db = 10 * np.log10((lesion + ph.tissue_power) / (liver + ph.tissue_power))
    hypo = (ratio_db <= -1.5) & (t >= peak)
    onset = None
    if ratio_db[int(round(peak / step_s))] <= -1.5:  # hypo at its arterial peak: no wash-out by definition
        hypo[:] = False
    run = int(round(5.0 / step_s))
    idx = np.flatnonzero(hypo)
    for i in idx:
        if i + run < hypo.size and hypo[i:i + run + 1].all():
            onset = float(t[i])
            break
    return {"arrival_time_s": arrival, "peak_time_s": peak, "washout_onset_s": onset}


# ---------------------------------------------------------------------------------------------------------
# frames
def _frame_times(ph: Phantom, rng: np.random.Generator) -> np.ndarray:
    n = int(math.floor(ph.duration_s * ph.fps)) + 1
    dt = np.full(n - 1, 1.0 / ph.fps)
    if ph.jitter > 0:
        dt *= 1.0 + rng.uniform(-ph.jitter, ph.jitter, n - 1)
    dt = np.round(dt * 1000.0) / 1000.0  # whole milliseconds, as a Frame Time Vector holds them
    return np.concatenate([[0.0], np.cumsum(dt)])


def _speckle(shape: tuple[int, int], rng: np.random.Generator, corr_px: float = 0.8) -> np.ndarray:
    """Unit-mean, spatially correlated, exponentially distributed intensity speckle."""
    re = ndimage.gaussian_filter(rng.standard_normal(shape), corr_px, mode="wrap")
    im = ndimage.gaussian_filter(rng.standard_normal(shape), corr_px, mode="wrap")
    power = re * re + im * im
    return power / power.mean()


def _shifts(ph: Phantom, times_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ax, ay = ph.breathing_amplitude_px
    phase = 2 * math.pi * times_s / ph.breathing_period_s + rng.uniform(0, 2 * math.pi)
    return np.round(np.stack([ax * np.sin(phase + 0.6), ay * np.sin(phase)], axis=1)).astype(int)


@dataclass
class _Layout:
    rows: int
    columns: int
    ceus_box: tuple[int, int, int, int]
    bmode_box: tuple[int, int, int, int] | None


def _layout(ph: Phantom) -> _Layout:
    top, side, gap = 24, 12, 16
    if not ph.dual:
        box = (side, top, side + ph.columns, top + ph.rows)
        return _Layout(top + ph.rows + 8, 2 * side + ph.columns, box, None)
    left = (side, top, side + ph.columns, top + ph.rows)
    right = (side + ph.columns + gap, top, side + 2 * ph.columns + gap, top + ph.rows)
    ceus, bmode = (left, right) if ph.ceus_side == "left" else (right, left)
    return _Layout(top + ph.rows + 8, 2 * side + 2 * ph.columns + gap, ceus, bmode)


def _burn_in_text(frame: np.ndarray, seed: int) -> None:
    """Fake burned-in annotation (blocks shaped like a text line) above the image region."""
    rng = np.random.default_rng(seed + 99)
    x = 6
    while x < frame.shape[1] - 12:
        w = int(rng.integers(3, 7))
        frame[6:16, x:x + w] = 220
        x += w + int(rng.integers(2, 6))


def _roi_document(ph: Phantom, reference_frame: int, layout: _Layout, shift: np.ndarray) -> dict[str, Any]:
    x0, y0 = layout.ceus_box[:2]
    cx, cy = ph.lesion_center_px
    rx, ry = ph.lesion_radii_px
    dx, dy = int(shift[0]), int(shift[1])
    lesion = {"name": "lesion", "role": "lesion", "shape": "ellipse",
              "center": [x0 + cx + dx, y0 + cy + dy], "radii": [round(0.75 * rx, 1), round(0.75 * ry, 1)],
              "reference": "liver"}
    # parenchyma: a polygon at a similar depth, well clear of the lesion
    lx = cx - rx - 14 if cx > ph.columns / 2 else cx + rx + 14
    half_w = 10
    pts = [[lx - half_w, cy - 18], [lx + half_w, cy - 18], [lx + half_w, cy + 18], [lx - half_w, cy + 18]]
    if lx - half_w < 4 or lx + half_w > ph.columns - 4:
        lx = cx
        pts = [[lx - 30, cy + ry + 10], [lx + 30, cy + ry + 10], [lx + 30, cy + ry + 26], [lx - 30, cy + ry + 26]]
    liver = {"name": "liver", "role": "parenchyma", "shape": "polygon",
             "points": [[x0 + px + dx, y0 + py + dy] for px, py in pts]}
    return {"reference_frame": int(reference_frame), "units": "px", "rois": [lesion, liver]}


def render_frames(ph: Phantom, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Render the phantom: uint8 frames, times, shifts and noiseless per-ROI truth.  Returns a dict."""
    rng = np.random.default_rng(ph.seed)
    spec = ph.pattern_spec()
    times = _frame_times(ph, rng)
    t_inj = times - ph.lead_in_s
    shifts = _shifts(ph, times, rng)
    n = times.size
    out_of_plane = np.zeros(n, dtype=bool)
    if ph.out_of_plane_fraction > 0:
        k = max(1, int(round(ph.out_of_plane_fraction * n)))
        candidates = np.flatnonzero(t_inj > ph.liver_arrival_s + 5)
        out_of_plane[rng.choice(candidates, size=min(k, candidates.size), replace=False)] = True
    layout = _layout(ph)
    margin = int(max(ph.breathing_amplitude_px) + 24)
    canvas_shape = (ph.rows + 2 * margin, ph.columns + 2 * margin)
    yy, xx = np.mgrid[0:canvas_shape[0], 0:canvas_shape[1]].astype(float)
    cx, cy = ph.lesion_center_px[0] + margin, ph.lesion_center_px[1] + margin
    rx, ry = ph.lesion_radii_px
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    lesion_weight = ndimage.gaussian_filter(inside.astype(float), 1.0)
    perfusion = 1.0 + 0.15 * ndimage.gaussian_filter(rng.standard_normal(canvas_shape), 6.0) * 6.0
    perfusion = np.clip(perfusion, 0.6, 1.4)
    tissue_speckle = _speckle(canvas_shape, rng)
    bmode_reflectivity = 10 ** (-22 / 10) * (1.0 - 0.5 * lesion_weight)
    liver_curve, lesion_curve = contrast_curves(ph, t_inj)
    timing = truth_timing(ph)
    peak_time_s = float(timing["peak_time_s"] or 0.0)
    ref_frame = int(np.argmin(np.abs(t_inj - peak_time_s)))
    roi_doc = _roi_document(ph, ref_frame, layout, shifts[ref_frame])
    frames = np.zeros((n, layout.rows, layout.columns) + ((3,) if ph.rgb else ()), dtype=np.uint8)
    base = np.zeros((layout.rows, layout.columns), dtype=np.uint8)
    _burn_in_text(base, ph.seed)
    from ceuskit.preprocess.linearize import power_to_grey
    from ceuskit.roi import parse_rois

    rois = parse_rois(roi_doc)
    roi_masks_ref = {r.name: r.mask(layout.rows, layout.columns) for r in rois.rois}
    truth_tic: dict[str, list[float]] = {name: [] for name in roi_masks_ref}
    x0, y0, x1, y1 = layout.ceus_box
    for k in range(n):
        dx, dy = (int(v) for v in shifts[k])
        view = (slice(margin - dy, margin - dy + ph.rows), slice(margin - dx, margin - dx + ph.columns))
        w = lesion_weight[view] if not out_of_plane[k] else np.zeros((ph.rows, ph.columns))
        local_perfusion = perfusion[view] if not out_of_plane[k] else perfusion[view][::-1, ::-1]
        contrast = local_perfusion * ((1 - w) * liver_curve[k] + w * lesion_curve[k])
        noiseless = ph.tissue_power + contrast
        contrast_speckle = _speckle((ph.rows, ph.columns), rng)
        speckle = tissue_speckle[view] if not out_of_plane[k] else _speckle((ph.rows, ph.columns), rng)
        power = ph.tissue_power * speckle + contrast * contrast_speckle
        power += 10 ** (-55 / 10) * rng.exponential(1.0, power.shape)
        frame = base.copy()
        frame[y0:y1, x0:x1] = np.round(power_to_grey(power, ph.dynamic_range_db)).astype(np.uint8)
        if layout.bmode_box is not None:
            bx0, by0, bx1, by1 = layout.bmode_box
            bpower = bmode_reflectivity[view] * speckle if not out_of_plane[k] else 10 ** (-22 / 10) * speckle
            frame[by0:by1, bx0:bx1] = np.round(power_to_grey(bpower, ph.dynamic_range_db)).astype(np.uint8)
        frames[k] = frame[..., None] if ph.rgb else frame
        # noiseless truth, ROI following the tissue: ROI drawn at the reference frame's shift
        full = np.zeros((layout.rows, layout.columns))
        full[y0:y1, x0:x1] = noiseless
        rdx, rdy = int(shifts[k][0] - shifts[ref_frame][0]), int(shifts[k][1] - shifts[ref_frame][1])
        for name, mask in roi_masks_ref.items():
            moved = np.roll(np.roll(mask, rdy, axis=0), rdx, axis=1)
            truth_tic[name].append(float(full[moved].mean()))
        if progress is not None:
            progress(k + 1, n)
    truth = {
        "generator": "ceuskit.simulate",
        "phantom": asdict(ph),
        "pattern": {"arterial": spec.arterial, "washout": spec.washout != "none", "washout_timing": spec.washout,
                    "washout_degree": spec.degree, "late": spec.late},
        "onset_s": timing["arrival_time_s"],
        "lesion_peak_time_s": timing["peak_time_s"],
        "washout_onset_s": timing["washout_onset_s"],
        "injection_time_s": ph.lead_in_s,
        "dynamic_range_db": ph.dynamic_range_db,
        "frame_times_s": times.tolist(),
        "shifts_px": shifts.tolist(),
        "out_of_plane_frames": np.flatnonzero(out_of_plane).tolist(),
        "reference_frame": ref_frame,
        "ceus_box": list(layout.ceus_box),
        "bmode_box": None if layout.bmode_box is None else list(layout.bmode_box),
        "tic_truth": truth_tic,
    }
    return {"frames": frames, "times": times, "roi": roi_doc, "truth": truth, "layout": layout}


# ---------------------------------------------------------------------------------------------------------
# DICOM writing
def write_dicom(path: Path, frames: np.ndarray, times_s: np.ndarray, ph: Phantom, layout: _Layout,
                *, patient_id: str = "SIM0000") -> None:
    """Write frames as a US Multi-frame Image (explicit VR little endian) with real timing and regions."""
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.Manufacturer = "ceuskit phantom"
    ds.ManufacturerModelName = "simulate"
    ds.PatientName = "Phantom^Ceuskit"  # fake identifiers only
    ds.PatientID = patient_id
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.ContentDate = "20260101"
    ds.AccessionNumber = "SIMACC"
    ds.InstitutionName = "ceuskit phantom institute"
    ds.BurnedInAnnotation = "YES"
    ds.SamplesPerPixel = 3 if frames.ndim == 4 else 1
    ds.PhotometricInterpretation = "RGB" if frames.ndim == 4 else "MONOCHROME2"
    if frames.ndim == 4:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(frames.shape[1]), int(frames.shape[2])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = int(frames.shape[0])
    ds.FrameIncrementPointer = 0x00181065
    increments_ms = np.concatenate([[0.0], np.diff(times_s) * 1000.0])
    ds.FrameTimeVector = [f"{v:.3f}".rstrip("0").rstrip(".") for v in increments_ms]
    ds.FrameTime = f"{1000.0 / ph.fps:.3f}"
    regions = []
    boxes = [(layout.ceus_box, 1)] + ([(layout.bmode_box, 1)] if layout.bmode_box else [])
    for (bx0, by0, bx1, by1), data_type in boxes:
        region = Dataset()
        region.RegionSpatialFormat = 1
        region.RegionDataType = data_type
        region.RegionFlags = 0
        region.RegionLocationMinX0, region.RegionLocationMinY0 = bx0, by0
        region.RegionLocationMaxX1, region.RegionLocationMaxY1 = bx1 - 1, by1 - 1
        region.PhysicalUnitsXDirection = 3
        region.PhysicalUnitsYDirection = 3
        region.PhysicalDeltaX = ph.spacing_mm / 10.0
        region.PhysicalDeltaY = ph.spacing_mm / 10.0
        region.ReferencePixelX0 = 0
        region.ReferencePixelY0 = 0
        regions.append(region)
    ds.SequenceOfUltrasoundRegions = Sequence(regions)
    ds.PixelData = frames.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    ds.save_as(tmp, enforce_file_format=True)
    tmp.replace(path)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def simulate_clip(out_dir: str | Path, phantom: Phantom | None = None, *, name: str = "phantom",
                  patient_id: str = "SIM0000", progress: Callable[[int, int], None] | None = None) -> SimulatedClip:
    """Render one phantom and write ``NAME.dcm``, ``NAME.roi.json`` and ``NAME.truth.json`` into ``out_dir``."""
    ph = phantom or Phantom()
    ph.pattern_spec()
    if ph.duration_s <= 0 or ph.fps <= 0 or not 0 <= ph.jitter < 1:
        raise InputError("duration and fps must be positive and jitter in [0, 1)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rendered = render_frames(ph, progress)
    dicom = out / f"{name}.dcm"
    write_dicom(dicom, rendered["frames"], rendered["times"], ph, rendered["layout"], patient_id=patient_id)
    roi, truth = out / f"{name}.roi.json", out / f"{name}.truth.json"
    _write_json(roi, rendered["roi"])
    _write_json(truth, rendered["truth"])
    return SimulatedClip(dicom, roi, truth, rendered["truth"])


# ---------------------------------------------------------------------------------------------------------
# cohort
SEED_PRIMARIES = (["ileum"] * 6 + ["stomach"] + ["rectum"] + ["pancreas"] * 7 + ["duodenum"] * 2
                  + ["occult gastrinoma"])
"""Primary sites of the seed study's 18 patients (Massironi et al. 2010)."""

SEED_PATTERNS = (["hyper-early-hypo"] * 8 + ["hyper-early-marked"] * 1 + ["hyper-late-hypo"] * 1
                 + ["hyper-early-iso"] * 3 + ["hyper-none-iso"] * 1 + ["hyper-none-hyper"] * 1
                 + ["iso-late-hypo"] * 1 + ["iso-none-iso"] * 1 + ["hypo-none-hypo"] * 1)
"""18 patterns in the seed's proportions: arterial hyper 15, wash-out 14, late hypo 12 / iso 5 / hyper 1."""


def simulate_cohort(out_dir: str | Path, *, n_patients: int = 18, seed: int = 0, fps: float = 3.0,
                    duration_s: float = 150.0, progress: Callable[[int, int], None] | None = None) -> Path:
    """A seed-like cohort: one lesion clip per patient, ``manifest.csv``, ``reads.csv`` and ``truth.json``.

    Ki-67 (%) is drawn log-normally (median ≈ 4 %, as in well-differentiated GEP-NETs); the lesion's arterial
    arrival is delayed with Ki-67 (``arterial_arrival_s = 9 + 0.35·Ki-67 + noise``), the relation the seed
    study reports.  Primaries and patterns follow the seed's 18 patients, cycled for larger cohorts.
    """
    if n_patients < 1:
        raise InputError("n_patients must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, truths, reads = [], {}, []
    order = rng.permutation(len(SEED_PATTERNS))
    for i in range(n_patients):
        pid = f"P{i + 1:03d}"
        ki67 = float(np.clip(np.round(np.exp(rng.normal(np.log(4.0), 0.9)), 1), 0.5, 60.0))
        pattern = SEED_PATTERNS[order[i % len(SEED_PATTERNS)]]
        liver = float(rng.uniform(14.0, 18.0))
        arterial = float(np.clip(9.0 + 0.35 * ki67 + rng.normal(0, 1.5), 6.0, liver + 6.0))
        if PATTERNS[pattern].arterial_gain == 0:
            arterial = liver
        else:
            arterial = min(arterial, liver - 1.0)
        ph = Phantom(pattern=pattern, seed=seed * 1000 + i, fps=fps, duration_s=duration_s, jitter=0.2,
                     liver_arrival_s=liver, arterial_arrival_s=arterial,
                     lead_in_s=float(np.round(rng.uniform(0, 6), 1)),
                     breathing_amplitude_px=(2.0, float(rng.uniform(3, 7))))
        clip = simulate_clip(out / "clips", ph, name=f"{pid}_L1", patient_id=pid)
        size_mm = round(2 * ph.lesion_radii_px[0] * ph.spacing_mm, 1)
        rows.append({"patient_id": pid, "lesion_id": "L1", "clip": f"clips/{clip.dicom.name}",
                     "roi": f"clips/{clip.roi.name}", "ki67": ki67, "primary_site": SEED_PRIMARIES[i % 18],
                     "injection_time_s": ph.lead_in_s, "dynamic_range_db": ph.dynamic_range_db, "size_mm": size_mm})
        truths[f"{pid}/L1"] = {**{k: clip.truth_data[k] for k in ("pattern", "onset_s", "washout_onset_s")},
                               "ki67": ki67}
        for reader, flip in (("reader1", 0.05), ("reader2", 0.12)):
            labels = dict(arterial=PATTERNS[pattern].arterial, washout=PATTERNS[pattern].washout,
                          late=PATTERNS[pattern].late)
            if rng.random() < flip:
                labels["late"] = "iso" if labels["late"] != "iso" else "hypo"
            reads.append({"patient_id": pid, "lesion_id": "L1", "reader": reader, **labels})
        if progress is not None:
            progress(i + 1, n_patients)
    import csv

    with open(out / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "reads.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(reads[0]))
        writer.writeheader()
        writer.writerows(reads)
    _write_json(out / "truth.json", truths)
    return out / "manifest.csv"


def phantom_with(**changes: Any) -> Phantom:
    """A default :class:`Phantom` with some fields changed (convenience for tests and the CLI)."""
    return replace(Phantom(), **changes)
