"""The phantom's anatomy beyond one uniform ellipse.

Irregular outlines, rim enhancement, heterogeneity, vessels, several lesions, depth attenuation — and the true
masks of all of it.

Everything here is drawn on the phantom's canvas (the tissue, which breathing moves under the image) from the
:class:`~ceuskit.simulate.Phantom` fields appended for one-click proposals, with its own random stream
(``anatomy_seed``, default the phantom's seed), so a phantom that uses none of them renders exactly as before
and the clips of one examination share one anatomy.

* **Outline.** A lesion is the set of points whose elliptic radius ρ = √(((x−cx)/rx)² + ((y−cy)/ry)²) is at most
  r(θ) = 1 + Σₖ aₖ cos(kθ + φₖ) (k = 2…5, Σ|aₖ| = ``lesion_irregularity``): lobulated, star-shaped about its
  centre; ``lesion_irregularity = 0`` is the ellipse.
* **Rim.** With ``lesion_rim_px`` > 0 the lesion's core (deeper than that inside its outline) enhances only
  ``RIM_CORE_FRACTION`` as much as its rim: a rim-enhancing lesion with a poorly perfused centre.
* **Heterogeneity.** The lesion's contrast is multiplied by 1 + h·G (G smooth unit-variance noise at a quarter of
  the lesion's radius, h = ``lesion_heterogeneity``), clipped to [0.2, 1.8] and scaled to mean 1 over the
  lesion, so the ROI mean keeps the pattern's curve.
* **Mean kept.** With ``lesion_mean_kept`` the rim, heterogeneity and the edge's blur together are scaled so
  that the lesion's own contrast averages to its pattern's curve over its true mask (the liver blurred in at
  its edge comes on top): a rim lesion's pattern is its whole lesion's (what
  :mod:`ceuskit.simulate.true_reading` reads), not only its rim's.
* **Vessels.** ``vessels`` tubes 2–4 px wide and 45–90 px long pass 2–8 px outside the main lesion (roughly
  tangent to it). Their contrast arrives 2 s before the lesion's arterial bolus, peaks ``VESSEL_GAIN`` times the
  liver's peak and stays twice the liver's level (portal branches): early, bright and elongated. They are
  anechoic on B-mode.
* **Further lesions.** ``more_lesions`` = ((cx, cy, rx, ry, pattern), …), each with the main lesion's outline,
  rim and heterogeneity settings and its own pattern.
* **Attenuation.** ``attenuation_db`` dB of echo lost from the image's top row to its bottom row (two-way,
  linear in depth), for tissue and contrast alike: parenchyma deeper down is darker.

True masks (:func:`true_labels`) are the shapes themselves on the image of one frame: label 1 the main lesion,
2 the parenchyma, 3, 4, … further lesions (the ROI label convention), :data:`VESSEL_LABEL` the vessels,
0 outside the image region. Vessels are drawn over lesions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage

from ceuskit.simulate.phantom import Phantom

__all__ = ["RIM_CORE_FRACTION", "VESSEL_GAIN", "VESSEL_LABEL", "Anatomy", "build_anatomy", "decode_labels",
           "encode_labels", "moved", "true_labels", "truth_masks", "uses_anatomy"]

RIM_CORE_FRACTION = 0.15
"""A rim-enhancing lesion's core enhances this fraction as much as its rim."""

VESSEL_GAIN = 2.5
"""A vessel's arterial peak, times the liver's contrast peak."""

VESSEL_LABEL = 9
"""Label of vessel pixels in the true label image (1 lesion, 2 parenchyma, 3… further lesions)."""


def uses_anatomy(ph: Phantom) -> bool:
    """Whether the phantom uses any anatomy field (else it renders exactly as a phantom without them)."""
    return bool(ph.lesion_irregularity or ph.lesion_rim_px or ph.lesion_heterogeneity or ph.vessels
                or ph.more_lesions or ph.attenuation_db)


@dataclass(frozen=True)
class Anatomy:
    """The canvas's lesions and vessels.

    Attributes
    ----------
    lesions : per lesion (main first): (canvas bool mask, smoothed weight, contrast modulation, pattern name).
    vessel : canvas bool mask of the vessels.
    vessel_weight : smoothed vessel mask (0–1).
    """

    lesions: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, str], ...]
    vessel: np.ndarray
    vessel_weight: np.ndarray

    @property
    def lesion_any(self) -> np.ndarray:
        """Canvas bool: any lesion."""
        out = np.zeros(self.vessel.shape, dtype=bool)
        for mask, *_ in self.lesions:
            out |= mask
        return out

    def bmode_weight(self) -> np.ndarray:
        """Smoothed weight of hypoechoic tissue on B-mode (lesions and vessels, 0–1)."""
        w = np.zeros(self.vessel.shape)
        for _mask, weight, *_ in self.lesions:
            w = np.maximum(w, weight)
        hypoechoic: np.ndarray = np.maximum(w, self.vessel_weight)
        return hypoechoic


def _outline(shape: tuple[int, int], centre: tuple[float, float], radii: tuple[float, float], irregularity: float,
             rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    u, v = (xx - centre[0]) / radii[0], (yy - centre[1]) / radii[1]
    rho = np.hypot(u, v)
    if irregularity <= 0:
        return _bool(u * u + v * v <= 1.0)
    theta = np.arctan2(v, u)
    weights = rng.uniform(0.3, 1.0, 4)
    amplitudes = irregularity * weights / weights.sum()
    phases = rng.uniform(0, 2 * math.pi, 4)
    radius = 1.0 + sum(a * np.cos(k * theta + p) for a, k, p in zip(amplitudes, range(2, 6), phases, strict=True))
    return _bool(rho <= radius)


def _bool(values: Any) -> np.ndarray:
    """``values`` as a bool array."""
    return np.asarray(values, dtype=bool)


def _local_noise(shape: tuple[int, int], centre: tuple[float, float], radii: tuple[float, float], sigma_px: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Smooth noise drawn on a square around the lesion, pasted on the canvas (0 elsewhere).

    Drawing on the square keeps its pattern independent of the canvas size.
    """
    half = int(math.ceil(2.0 * max(radii))) + 8
    local = ndimage.gaussian_filter(rng.standard_normal((2 * half + 1, 2 * half + 1)), sigma_px)
    out = np.zeros(shape)
    r0, c0 = int(round(centre[1])) - half, int(round(centre[0])) - half
    rs, cs = max(r0, 0), max(c0, 0)
    re_, ce = min(r0 + 2 * half + 1, shape[0]), min(c0 + 2 * half + 1, shape[1])
    if re_ > rs and ce > cs:
        out[rs:re_, cs:ce] = local[rs - r0:re_ - r0, cs - c0:ce - c0]
    return out


def _modulation(mask: np.ndarray, weight: np.ndarray, centre: tuple[float, float], radii: tuple[float, float],
                ph: Phantom, rng: np.random.Generator) -> np.ndarray:
    """Contrast multiplier inside one lesion: the rim's core, then heterogeneity (mean 1 over the lesion).

    With ``lesion_mean_kept`` the product is scaled so that the lesion's smoothed ``weight`` times it averages 1
    over the lesion's mask: the lesion's own contrast over its true mask is the pattern's curve, whatever its
    rim, patches and blurred edge (the rim brighter than the pattern, its core darker).
    """
    radius_px = min(radii)
    m = np.ones(mask.shape)
    if ph.lesion_rim_px > 0:
        core = ndimage.binary_erosion(mask, iterations=int(round(ph.lesion_rim_px)))
        m = np.where(core, RIM_CORE_FRACTION, 1.0)
        m = ndimage.gaussian_filter(m, 1.0)
    if ph.lesion_heterogeneity > 0:
        field = _local_noise(mask.shape, centre, radii, max(2.0, radius_px / 4), rng)
        inside = field[mask]
        field = (field - inside.mean()) / max(float(inside.std()), 1e-12)
        factor = np.clip(1.0 + ph.lesion_heterogeneity * field, 0.2, 1.8)
        factor /= factor[mask].mean()
        m = m * factor
    if ph.lesion_mean_kept and mask.any():
        m = m / float((weight * m)[mask].mean())
    return m


def _tube(shape: tuple[int, int], start: np.ndarray, direction: np.ndarray, length: float, width: float,
          bend: float) -> np.ndarray:
    """Bool mask of a gently bent tube of ``width`` px along ``length`` px from ``start``."""
    out = np.zeros(shape, dtype=bool)
    normal = np.array([-direction[1], direction[0]])
    steps = np.linspace(0.0, 1.0, max(2, int(length * 2)))
    points = (start[None, :] + steps[:, None] * length * direction[None, :]
              + (bend * length * (steps * (1 - steps)))[:, None] * normal[None, :])
    rows, cols = np.round(points[:, 1]).astype(int), np.round(points[:, 0]).astype(int)
    keep = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    out[rows[keep], cols[keep]] = True
    if not keep.any():
        return out
    distance = ndimage.distance_transform_edt(~out)
    return _bool(distance <= width / 2)


def _vessels(shape: tuple[int, int], lesion: np.ndarray, centre: tuple[float, float], count: int,
             rng: np.random.Generator) -> np.ndarray:
    """``count`` tubes passing 2–8 px outside ``lesion``, roughly tangent to it."""
    out = np.zeros(shape, dtype=bool)
    outside = ndimage.distance_transform_edt(~lesion)
    for k in range(count):
        angle = 2 * math.pi * (k + rng.uniform(0.15, 0.85)) / count
        gap = rng.uniform(2.0, 8.0)
        width = rng.uniform(2.0, 4.0)
        radial = np.array([math.cos(angle), math.sin(angle)])
        # the point of the outline in this direction, then out by the gap and the tube's half width
        reach = 0.0
        while True:
            x, y = centre[0] + reach * radial[0], centre[1] + reach * radial[1]
            r, c = int(round(y)), int(round(x))
            if not (0 <= r < shape[0] and 0 <= c < shape[1]) or not lesion[r, c]:
                break
            reach += 0.5
        touch = np.array(centre) + (reach + gap + width / 2) * radial
        direction = np.array([-radial[1], radial[0]]) * (1 if rng.uniform() < 0.5 else -1)
        tilt = rng.uniform(-0.35, 0.35)
        direction = np.array([direction[0] * math.cos(tilt) - direction[1] * math.sin(tilt),
                              direction[0] * math.sin(tilt) + direction[1] * math.cos(tilt)])
        length = rng.uniform(45.0, 90.0)
        start = touch - direction * length * rng.uniform(0.35, 0.65)
        tube = _tube(shape, start, direction, length, width, rng.uniform(-0.15, 0.15))
        # keep the tube clear of the lesion by the gap: a bend must not cut into it
        out |= tube & (outside >= min(gap, 2.0))
    return out


def build_anatomy(ph: Phantom, canvas_shape: tuple[int, int], margin: int) -> Anatomy:
    """Return the lesions and vessels of ``ph`` on a canvas whose image origin lies ``margin`` px in."""
    rng = np.random.default_rng([ph.seed if ph.anatomy_seed is None else ph.anatomy_seed, 24])
    specs: list[tuple[tuple[float, float], tuple[float, float], str]] = [
        (ph.lesion_center_px, ph.lesion_radii_px, ph.pattern)]
    specs += [((float(cx), float(cy)), (float(rx), float(ry)), str(pattern))
              for cx, cy, rx, ry, pattern in ph.more_lesions]
    lesions = []
    taken = np.zeros(canvas_shape, dtype=bool)
    for (cx, cy), (rx, ry), pattern in specs:
        centre = (cx + margin, cy + margin)
        mask = _outline(canvas_shape, centre, (rx, ry), ph.lesion_irregularity, rng) & ~taken
        taken |= mask
        weight = ndimage.gaussian_filter(mask.astype(float), 1.0)
        lesions.append((mask, weight, _modulation(mask, weight, centre, (rx, ry), ph, rng), pattern))
    main_centre = (ph.lesion_center_px[0] + margin, ph.lesion_center_px[1] + margin)
    vessel = _vessels(canvas_shape, lesions[0][0], main_centre, ph.vessels, rng) \
        if ph.vessels else np.zeros(canvas_shape, dtype=bool)
    vessel_weight = ndimage.gaussian_filter(vessel.astype(float), 0.7) if ph.vessels else np.zeros(canvas_shape)
    return Anatomy(tuple(lesions), vessel, vessel_weight)


def attenuation(ph: Phantom) -> np.ndarray:
    """(rows, 1) power factor of depth attenuation over the image region (1 everywhere without it)."""
    depth = np.arange(ph.rows, dtype=float)[:, None] / max(ph.rows - 1, 1)
    return np.asarray(10 ** (-ph.attenuation_db * depth / 10))


def true_labels(anatomy: Anatomy, view: tuple[slice, slice], image_box: Sequence[int], frame_shape: tuple[int, int]
                ) -> np.ndarray:
    """uint8 label image of the full frame: the canvas window ``view`` shown in ``image_box`` (x0, y0, x1, y1).

    0 outside the image, 1 the main lesion, 2 parenchyma, 3… further lesions, :data:`VESSEL_LABEL` vessels.
    """
    x0, y0, x1, y1 = image_box
    inner = np.full((y1 - y0, x1 - x0), 2, dtype=np.uint8)
    for k, (mask, *_rest) in enumerate(anatomy.lesions):
        inner[mask[view]] = 1 if k == 0 else k + 2
    inner[anatomy.vessel[view]] = VESSEL_LABEL
    out = np.zeros(frame_shape, dtype=np.uint8)
    out[y0:y1, x0:x1] = inner
    return out


def encode_labels(labels: np.ndarray) -> list[int]:
    """Run-length code of a label image, row-major: [value, count, value, count, …]."""
    flat = labels.ravel()
    change = np.flatnonzero(np.diff(flat)) + 1
    starts = np.concatenate([[0], change])
    counts = np.diff(np.concatenate([starts, [flat.size]]))
    return np.column_stack([flat[starts], counts]).ravel().astype(int).tolist()


def decode_labels(code: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """Return the label image of :func:`encode_labels`."""
    pairs = np.asarray(code, dtype=np.int64).reshape(-1, 2)
    return np.repeat(pairs[:, 0], pairs[:, 1]).astype(np.uint8).reshape(int(shape[0]), int(shape[1]))


def truth_masks(masks: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Name → bool mask (full frame, on the truth's ``frame``) from a truth file's ``masks`` entry.

    Every lesion by its name, ``parenchyma`` and ``vessel``.
    """
    labels = decode_labels(masks["runs"], masks["shape"])
    return {name: labels == int(value) for name, value in masks["labels"].items()}


def moved(ph: Phantom, dx: float, dy: float) -> Phantom:
    """Return the phantom with its anatomy moved by (dx, dy) px: where a moved probe sees it.

    The anatomy is the main and further lesions, and the vessels with them.  Anatomy drawn at random keeps its
    seed, so the shapes stay the same.
    """
    cx, cy = ph.lesion_center_px
    changes: dict[str, Any] = {"lesion_center_px": (cx + dx, cy + dy)}
    if ph.more_lesions:
        changes["more_lesions"] = tuple((x + dx, y + dy, rx, ry, p) for x, y, rx, ry, p in ph.more_lesions)
    if uses_anatomy(ph) and ph.anatomy_seed is None:
        changes["anatomy_seed"] = ph.seed
    return replace(ph, **changes)
