"""Regions of interest: the ROI JSON file of DESIGN ⇄ boolean masks of the stored full frame.

ROI file (DESIGN "Interfaces")::

    {"reference_frame": 0, "units": "px",
     "rois": [{"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [x, y], "radii": [rx, ry]},
              {"name": "liver", "role": "parenchyma", "shape": "polygon", "points": [[x, y], ...]}]}

Shapes: ``ellipse``, ``polygon``, ``rectangle`` (``"box": [x0, y0, x1, y1]``).  Coordinates are (x = column,
y = row) of the stored full frame, origin top-left, in pixels or — with ``"units": "mm"`` — in millimetres
(x·dx, y·dy with the clip's pixel spacing).  A lesion may name its parenchyma reference
(``"reference": "liver"``); by default it uses the first parenchyma ROI.

Label masks (PNG, TIFF, NIfTI) and DICOM SEG are read too (:mod:`ceuskit.io.rois`), in the label convention
of :mod:`ceuskit.roi_labels` (1 lesion, 2 liver, 3, 4, … further lesions, with the ROIs' names, roles and
reference frame written beside the pixels), so every format gives back the ROIs it was given.

An ROI proposed by ``ceuskit rois propose`` (:mod:`ceuskit.propose`) says so: ``"source": "proposed"`` (as
proposed, not yet looked at), ``"accepted"`` (accepted unchanged) or ``"edited"`` (changed by the reader after
it was proposed), with the proposal's ``"confidence"`` (0–1).  An ROI without ``source`` was drawn by hand.
Both keys are optional and kept on every round trip; files without them load as before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from skimage.draw import ellipse as draw_ellipse
from skimage.draw import polygon as draw_polygon

from ceuskit.errors import RoiError

__all__ = ["Roi", "RoiSet", "checked_roi_set", "parse_rois", "rois_from_label_mask"]

SHAPES = ("ellipse", "polygon", "rectangle", "mask")
SOURCES = ("proposed", "accepted", "edited")
"""Values of an ROI's optional ``source``: how a proposed ROI stands (absent: drawn by hand)."""
ROLES = ("lesion", "parenchyma")


@dataclass(frozen=True)
class Roi:
    """One ROI in pixel units of the stored full frame (shape ``mask`` carries its own boolean array)."""

    name: str
    role: str
    shape: str
    geometry: Mapping[str, Any]
    reference: str | None = None
    mask_array: np.ndarray | None = field(default=None, repr=False, compare=False)
    marks: Mapping[str, Any] = field(default_factory=dict, compare=False)  # "source", "confidence" of proposals

    def mask(self, rows: int, columns: int) -> np.ndarray:
        """Boolean (rows, columns) mask; RoiError if the ROI leaves the frame or encloses no pixel."""
        if self.shape == "mask":
            assert self.mask_array is not None
            if self.mask_array.shape != (rows, columns):
                raise RoiError(f"ROI {self.name!r}: label mask is {self.mask_array.shape[1]}×{self.mask_array.shape[0]} "
                               f"pixels but the clip's frames are {columns}×{rows}")
            out = self.mask_array.astype(bool)
        else:
            x0, y0, x1, y1 = self.bounds()
            if x0 < -0.5 or y0 < -0.5 or x1 > columns - 0.5 or y1 > rows - 0.5:
                raise RoiError(f"ROI {self.name!r} extends outside the image ({columns}×{rows} pixels): x {x0:.0f}…{x1:.0f}, "
                               f"y {y0:.0f}…{y1:.0f}; redraw it inside the frame")
            out = np.zeros((rows, columns), dtype=bool)
            # scikit-image's draw functions are untyped (mypy --strict): hence the type-ignores below
            if self.shape == "ellipse":
                (cx, cy), (rx, ry) = self.geometry["center"], self.geometry["radii"]
                rr, cc = draw_ellipse(cy, cx, ry, rx, shape=(rows, columns))  # type: ignore[no-untyped-call, unused-ignore]
            elif self.shape == "rectangle":
                bx0, by0, bx1, by1 = self.geometry["box"]
                rr, cc = draw_polygon([by0, by0, by1, by1], [bx0, bx1, bx1, bx0],  # type: ignore[no-untyped-call, unused-ignore]
                                      shape=(rows, columns))
            else:
                pts = np.asarray(self.geometry["points"], dtype=float)
                rr, cc = draw_polygon(pts[:, 1], pts[:, 0], shape=(rows, columns))  # type: ignore[no-untyped-call, unused-ignore]
            out[rr, cc] = True
        if not out.any():
            raise RoiError(f"ROI {self.name!r} encloses no pixel; draw a larger region")
        return out

    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) extent in pixels."""
        g = self.geometry
        if self.shape == "ellipse":
            (cx, cy), (rx, ry) = g["center"], g["radii"]
            return cx - rx, cy - ry, cx + rx, cy + ry
        if self.shape == "rectangle":
            x0, y0, x1, y1 = g["box"]
            return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)
        if self.shape == "polygon":
            pts = np.asarray(g["points"], dtype=float)
            return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())
        assert self.mask_array is not None
        ys, xs = np.nonzero(self.mask_array)
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())

    def translated(self, dx: float, dy: float) -> Roi:
        """Return the same ROI moved by (dx, dy) pixels."""
        g = dict(self.geometry)
        if self.shape == "ellipse":
            g["center"] = [g["center"][0] + dx, g["center"][1] + dy]
        elif self.shape == "rectangle":
            x0, y0, x1, y1 = g["box"]
            g["box"] = [x0 + dx, y0 + dy, x1 + dx, y1 + dy]
        elif self.shape == "polygon":
            g["points"] = [[x + dx, y + dy] for x, y in g["points"]]
        else:
            assert self.mask_array is not None
            shifted = np.zeros_like(self.mask_array)
            ys, xs = np.nonzero(self.mask_array)
            ys, xs = ys + int(round(dy)), xs + int(round(dx))
            ok = (ys >= 0) & (ys < shifted.shape[0]) & (xs >= 0) & (xs < shifted.shape[1])
            shifted[ys[ok], xs[ok]] = True
            return Roi(self.name, self.role, self.shape, g, self.reference, shifted, self.marks)
        return Roi(self.name, self.role, self.shape, g, self.reference, marks=self.marks)

    def to_json(self) -> dict[str, Any]:
        """Return the ROI as it appears in an ROI file (pixel units); label-mask ROIs give their bounding box."""
        out: dict[str, Any] = {"name": self.name, "role": self.role}
        if self.shape == "mask":
            x0, y0, x1, y1 = self.bounds()
            out.update(shape="mask", box=[x0, y0, x1, y1])
        else:
            out.update(shape=self.shape, **{k: _plain(v) for k, v in self.geometry.items()})
        if self.reference:
            out["reference"] = self.reference
        out.update(self.marks)
        return out


@dataclass(frozen=True)
class RoiSet:
    """The ROIs of one clip, in pixels, drawn on ``reference_frame``."""

    rois: tuple[Roi, ...]
    reference_frame: int = 0

    @property
    def lesions(self) -> tuple[Roi, ...]:
        """The lesion ROIs, in file order."""
        return tuple(r for r in self.rois if r.role == "lesion")

    @property
    def parenchyma(self) -> tuple[Roi, ...]:
        """The parenchyma ROIs, in file order."""
        return tuple(r for r in self.rois if r.role == "parenchyma")

    def reference_of(self, lesion: Roi) -> Roi | None:
        """Return the parenchyma ROI a lesion is compared with (None when the set has none)."""
        if lesion.reference:
            return next(r for r in self.rois if r.name == lesion.reference)
        return self.parenchyma[0] if self.parenchyma else None

    def masks(self, rows: int, columns: int) -> dict[str, np.ndarray]:
        """Name → boolean (rows, columns) mask for every ROI."""
        return {r.name: r.mask(rows, columns) for r in self.rois}

    def translated(self, dx: float, dy: float) -> RoiSet:
        """Return the set with every ROI moved by (dx, dy) pixels."""
        return RoiSet(tuple(r.translated(dx, dy) for r in self.rois), self.reference_frame)

    def to_json(self) -> dict[str, Any]:
        """Return the set as an ROI file document (pixel units)."""
        return {"reference_frame": self.reference_frame, "units": "px", "rois": [r.to_json() for r in self.rois]}


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _number_pair(roi_name: str, key: str, value: Any, *, positive: bool = False) -> list[float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise RoiError(f"ROI {roi_name!r}: {key!r} must be two numbers [x, y], got {value!r}")
    pair = [float(v) for v in value]
    if not all(math.isfinite(v) for v in pair):
        raise RoiError(f"ROI {roi_name!r}: {key!r} must be finite, got {value!r}")
    if positive and min(pair) <= 0:
        raise RoiError(f"ROI {roi_name!r}: {key!r} must be positive, got {value!r} (a degenerate ROI)")
    return pair


def _parse_roi(item: Any, index: int, scale: tuple[float, float]) -> Roi:
    if not isinstance(item, Mapping):
        raise RoiError(f"ROI #{index + 1} must be a JSON object, got {type(item).__name__}")
    name = item.get("name", f"roi{index + 1}")
    if not isinstance(name, str) or not name.strip():
        raise RoiError(f"ROI #{index + 1}: 'name' must be a non-empty string")
    role = item.get("role", "lesion")
    if role not in ROLES:
        raise RoiError(f"ROI {name!r}: role {role!r} is not one of {', '.join(ROLES)}")
    shape = item.get("shape")
    if shape not in SHAPES[:3]:
        raise RoiError(f"ROI {name!r}: shape {shape!r} is not one of ellipse, polygon, rectangle")
    sx, sy = scale
    geometry: dict[str, Any]
    if shape == "ellipse":
        cx, cy = _number_pair(name, "center", item.get("center"))
        rx, ry = _number_pair(name, "radii", item.get("radii"), positive=True)
        geometry = {"center": [cx / sx, cy / sy], "radii": [rx / sx, ry / sy]}
    elif shape == "rectangle":
        box = item.get("box")
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise RoiError(f"ROI {name!r}: 'box' must be [x0, y0, x1, y1], got {box!r}")
        x0, y0 = _number_pair(name, "box", box[:2])
        x1, y1 = _number_pair(name, "box", box[2:])
        if abs(x1 - x0) < 1e-9 or abs(y1 - y0) < 1e-9:
            raise RoiError(f"ROI {name!r}: rectangle {box!r} has no area (a degenerate ROI)")
        geometry = {"box": [x0 / sx, y0 / sy, x1 / sx, y1 / sy]}
    else:
        points = item.get("points")
        if not isinstance(points, (list, tuple)) or len(points) < 3:
            raise RoiError(f"ROI {name!r}: a polygon needs at least 3 points [[x, y], …]")
        pts = [_number_pair(name, "points", p) for p in points]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        area = 0.5 * abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(pts))))
        if area < 1e-9:
            raise RoiError(f"ROI {name!r}: the polygon has no area (a degenerate ROI)")
        geometry = {"points": [[x / sx, y / sy] for x, y in pts]}
    reference = item.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise RoiError(f"ROI {name!r}: 'reference' must name a parenchyma ROI")
    return Roi(name.strip(), role, shape, geometry, reference, marks=_marks(item, name))


def _marks(item: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Return a proposed ROI's ``source`` and ``confidence``, checked."""
    out: dict[str, Any] = {}
    if "source" in item:
        if item["source"] not in SOURCES:
            raise RoiError(f"ROI {name!r}: source {item['source']!r} is not one of {', '.join(SOURCES)}")
        out["source"] = item["source"]
    if "confidence" in item:
        value = item["confidence"]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise RoiError(f"ROI {name!r}: confidence {value!r} must be a number from 0 to 1")
        out["confidence"] = float(value)
    return out


def parse_rois(document: Any, *, pixel_spacing_mm: tuple[float, float] | None = None, source: str = "ROI file"
               ) -> RoiSet:
    """Validate an ROI document (the parsed JSON) and convert it to pixel units.

    Raises
    ------
    RoiError
        Whatever is wrong, in one line: missing keys, unknown shapes/roles, degenerate shapes, duplicate names,
        unknown references, mm units without a pixel spacing, no lesion ROI.
    """
    if not isinstance(document, Mapping):
        raise RoiError(f"{source}: expected a JSON object with 'rois', got {type(document).__name__}")
    units = document.get("units", "px")
    if units == "px":
        scale = (1.0, 1.0)
    elif units == "mm":
        if not pixel_spacing_mm:
            raise RoiError(f"{source}: ROIs are in mm but the clip has no pixel spacing; give them in px")
        scale = (float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1]))
    else:
        raise RoiError(f"{source}: units {units!r} must be 'px' or 'mm'")
    ref = document.get("reference_frame", 0)
    if not isinstance(ref, int) or isinstance(ref, bool) or ref < 0:
        raise RoiError(f"{source}: reference_frame must be a frame index ≥ 0, got {ref!r}")
    items = document.get("rois")
    if not isinstance(items, list) or not items:
        raise RoiError(f"{source}: 'rois' must be a non-empty list of ROIs")
    rois = tuple(_parse_roi(item, i, scale) for i, item in enumerate(items))
    return _validated(rois, ref, source)


def _validated(rois: tuple[Roi, ...], reference_frame: int, source: str) -> RoiSet:
    names = [r.name for r in rois]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RoiError(f"{source}: ROI names must be unique; repeated: {', '.join(duplicates)}")
    by_name = {r.name: r for r in rois}
    for roi in rois:
        if roi.reference is not None:
            target = by_name.get(roi.reference)
            if target is None or target.role != "parenchyma":
                raise RoiError(f"{source}: ROI {roi.name!r} refers to {roi.reference!r}, which is not a parenchyma ROI")
    if not any(r.role == "lesion" for r in rois):
        raise RoiError(f"{source}: no ROI has role 'lesion'")
    return RoiSet(rois, reference_frame)


def checked_roi_set(rois: Sequence[Roi], reference_frame: int, *, source: str) -> RoiSet:
    """Return the :class:`RoiSet` of ``rois`` after the checks every ROI file passes.

    Parameters
    ----------
    rois : Sequence[Roi]
        The ROIs, in pixels.
    reference_frame : int
        The frame they were drawn on.
    source : str
        Where they came from, for messages.

    Returns
    -------
    RoiSet

    Raises
    ------
    RoiError
        Duplicate names, a reference to no parenchyma ROI, or no lesion.
    """
    return _validated(tuple(rois), reference_frame, source)


def rois_from_label_mask(labels: np.ndarray, *, reference_frame: int = 0, source: str = "label mask",
                         described: Mapping[int, tuple[str, str, str | None]] | None = None) -> RoiSet:
    """ROIs from an integer label image.

    Parameters
    ----------
    labels : np.ndarray
        (rows, columns) whole numbers; 0 is background.
    reference_frame : int
        The frame the ROIs were drawn on.
    source : str
        The file it came from, for messages.
    described : Mapping, optional
        Label value → (name, role, reference) from the file's description
        (:class:`ceuskit.roi_labels.LabelDescription`); labels it does not describe follow the convention:
        1 lesion, 2 liver (parenchyma), 3, 4, … further lesions.

    Returns
    -------
    RoiSet
        One ``mask`` ROI per label present, in label order.

    Raises
    ------
    RoiError
        Not 2-D, not whole numbers, no lesion, duplicate names or references to no parenchyma ROI.
    """
    labels = np.asarray(labels)
    if labels.ndim == 3 and 1 in labels.shape:
        labels = labels.reshape([s for s in labels.shape if s != 1])
    if labels.ndim != 2:
        raise RoiError(f"{source}: expected a 2-D label image, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise RoiError(f"{source}: labels must be whole numbers (1 lesion, 2 liver, 3… more lesions)")
        labels = labels.astype(np.int64)
    described = described or {}
    rois = []
    for value in sorted(int(v) for v in np.unique(labels) if v > 0):
        reference = None
        if value in described:
            name, role, reference = described[value]
        elif value == 2:
            name, role = "liver", "parenchyma"
        else:
            name, role = ("lesion" if value == 1 else f"lesion{value}"), "lesion"
        rois.append(Roi(name, role, "mask", {"label": value}, reference, labels == value))
    return _validated(tuple(rois), reference_frame, source)


def check_reference_frame(rois: RoiSet, n_frames: int) -> None:
    """RoiError if the ROIs' reference frame is not a frame of the clip."""
    if rois.reference_frame >= n_frames:
        raise RoiError(f"ROI reference_frame {rois.reference_frame} does not exist: the clip has {n_frames} frames")


def roi_areas(rois: RoiSet, masks: Mapping[str, np.ndarray], spacing_mm: Sequence[float] | None
              ) -> dict[str, tuple[int, float | None]]:
    """Name → (area in px, area in mm² or None without spacing)."""
    out: dict[str, tuple[int, float | None]] = {}
    for roi in rois.rois:
        area_px = int(masks[roi.name].sum())
        out[roi.name] = (area_px, None if not spacing_mm else area_px * float(spacing_mm[0]) * float(spacing_mm[1]))
    return out
