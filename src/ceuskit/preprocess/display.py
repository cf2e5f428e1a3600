"""Reading a display through its map: the grey index 0–255 of grey and colour-mapped frames.

A scanner turns each pixel's grey index (the log-compressed echo, 0–255) into what the screen shows: the
same grey, or a colour of a map such as gold or bronze.  Luminance is the index only for grey displays;
through a colour map it is a non-linear function of it, so a colour display is read back through its map:

* grey displays (monochrome frames, or RGB with R = G = B) read as :func:`ceuskit.pixels.to_grey`
  reads them (luminance); RGB pixels with colour (R, G, B differ by more than ``grey_tolerance``, a
  coloured marker) are off the map;
* colour displays read through a lookup table from colour to index, fitted once per clip by
  :func:`display_map_of` from frames spread over the clip: from the map's colour bar when the screen shows
  one beside the image, drawn without loss (:mod:`ceuskit.preprocess.colour_bar`), else from the clip's own colours, which lie
  on a 1-D curve in RGB (:mod:`ceuskit.preprocess.colour_curve`).  Colours farther than ``tolerance`` from
  the curve (white text, markers, callipers) are off the map: NaN.

Colours that never change from one frame to the next (burned-in text and graphics) are left out of the fit;
so are colours of pixels outside the image region.  A colour display whose colours do not form one curve
(a two-dimensional map, colour Doppler, colours blurred by lossy compression) and that shows no colour bar
cannot be read through its map: by default it is read by luminance and the map says so (``source ==
"luminance"`` with a ``note`` the analysis reports as a quality flag); ``fallback="raise"`` raises
:class:`~ceuskit.errors.ClipError` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ceuskit.errors import ClipError
from ceuskit.pixels import Box, RawClip, to_grey
from ceuskit.preprocess.colour_bar import find_colour_bars
from ceuskit.preprocess.colour_curve import (
    LUMA,
    OFF_MAP,
    ColourCurve,
    colour_keys,
    curve_distance,
    curve_lookup,
    extended,
    order_colours,
)

__all__ = ["FALLBACKS", "GREY_TOLERANCE", "SOURCES", "DisplayMap", "display_map_of", "fit_display_map",
           "sample_runs"]


SOURCES = ("grey", "clip_colours", "colour_bar", "luminance")
"""Where a :class:`DisplayMap` came from ("luminance": a colour display whose map was not recovered)."""

FALLBACKS = ("luminance", "raise")
"""What :func:`fit_display_map` does with a colour display it cannot map."""

GREY_TOLERANCE = 6
"""Largest channel spread max(R, G, B) − min(R, G, B) (8-bit) of a grey pixel."""

MIN_COLOUR_FRACTION = 0.02
"""A display is a colour display when at least this fraction of its image pixels have colour …"""

MIN_COLOURS = 16
"""… in at least this many distinct colours that change from frame to frame."""

MIN_TOLERANCE = 3.0
"""Smallest distance (RGB units) from the map's curve at which a colour is off the map."""

MAX_OFF_CURVE = 0.02
"""Largest fraction of changing image pixels whose colour may lie off the fitted curve."""

MIN_CHANGING = 0.2
"""A colour counts as a map colour when at least this fraction of its pixels changed since the previous frame
(burned-in overlays never change; the darkest colours, background, are always kept)."""

MAX_ENTRIES = 258
"""A fitted curve spanning more map entries than this is not an 8-bit map (blurred colours)."""

MAX_SAMPLE_PIXELS = 1 << 16
"""Image pixels per sampled frame used for the fit (a regular grid over larger regions)."""


@dataclass(frozen=True)
class DisplayMap:
    """How a clip's display shows the grey index, and the way back (:meth:`to_grey`).

    Attributes
    ----------
    kind : "grey" or "colour".
    source : where the map came from, one of :data:`SOURCES`.
    max_value : the pixel value that means full white (255; 65535 for 16-bit palette colour).
    curve : the colour map's curve (nodes dark → bright with their grey index), None for grey displays.
    tolerance : RGB distance from the curve beyond which a colour is off the map (colour maps).
    bar_box : (x0, y0, x1, y1) of the colour bar the map was read from, else None.
    note : why the map is not what it should be (e.g. a colour display read by luminance), else "".
    grey_tolerance : channel spread up to which an RGB pixel of a grey display is grey (8-bit units).
    """

    kind: str
    source: str
    max_value: int = 255
    curve: ColourCurve | None = field(default=None, repr=False, compare=False)
    tolerance: float = 0.0
    bar_box: Box | None = None
    note: str = ""
    grey_tolerance: int = GREY_TOLERANCE
    _lookup: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source: {self.source!r} is not one of {', '.join(SOURCES)}")
        if (self.kind == "grey") != (self.source == "grey") or self.kind not in ("grey", "colour"):
            raise ValueError(f"kind: {self.kind!r} does not go with source {self.source!r}")
        if self.source in ("clip_colours", "colour_bar"):
            if self.curve is None:
                raise ValueError("curve: a colour map needs its curve")
            object.__setattr__(self, "_lookup", curve_lookup(self.curve, self.tolerance))

    @classmethod
    def grey(cls, max_value: int = 255) -> DisplayMap:
        """Return the map of a grey display."""
        return cls("grey", "grey", max_value)

    def to_grey(self, pixels: np.ndarray, *, off_map: float = np.nan) -> np.ndarray:
        """Grey index of one frame (or crop).

        Parameters
        ----------
        pixels : (rows, columns) monochrome or (rows, columns, 3) RGB, any integer dtype (or float 0–255),
            ``max_value`` meaning white.
        off_map : value for pixels off the map (coloured pixels of a grey display; colours off a colour map).

        Returns
        -------
        (rows, columns) float32 grey index 0–255; grey displays give exactly
        :func:`ceuskit.pixels.to_grey` where pixels are grey.
        """
        if self._lookup is None:
            tolerance = self.grey_tolerance * self.max_value / 255 if self.kind == "grey" else None
            return to_grey(pixels, max_value=self.max_value, chroma_tolerance=tolerance, off_map=off_map)
        if pixels.ndim != 3 or pixels.shape[-1] != 3:
            raise ValueError(f"pixels: a colour map reads (rows, columns, 3) RGB frames, got shape {pixels.shape}")
        table, values = self._lookup
        rgb = np.ascontiguousarray(_as_uint8(pixels, self.max_value))  # channel planes below read it fastest
        keys = rgb[..., 0].astype(np.uint32) | (rgb[..., 1].astype(np.uint32) << 8) | (rgb[..., 2].astype(np.uint32) << 16)
        codes = np.take(table, keys)
        grey = np.take(values, codes)
        if not np.isnan(off_map):
            grey[codes == OFF_MAP] = off_map
        return grey

    def to_json(self) -> dict[str, Any]:
        """Summary for ``ceuskit info`` and ``analysis.json``."""
        out: dict[str, Any] = {"kind": self.kind, "source": self.source}
        if self.curve is not None:
            out.update(entries=int(round(float(self.curve.index[-1]))) + 1, colours_on_curve=int(self.curve.index.size),
                       tolerance=round(self.tolerance, 2))
        out["colour_bar"] = None if self.bar_box is None else list(self.bar_box)
        out["note"] = self.note
        return out


def _as_uint8(pixels: np.ndarray, max_value: int) -> np.ndarray:
    """Pixels rescaled to 8-bit (``max_value`` → 255), rounded."""
    if pixels.dtype == np.uint8 and max_value == 255:
        return pixels
    scaled = np.nan_to_num(np.asarray(pixels, dtype=np.float32) * np.float32(255.0 / max_value), posinf=255.0)
    as_uint8: np.ndarray = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
    return as_uint8


# --- fitting ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ImageColours:
    """Distinct colours of the image region's pixels over the sample: counts, changing counts."""

    colours: np.ndarray  # (m, 3) float64
    counts: np.ndarray  # (m,) pixels that showed the colour
    changing: np.ndarray  # (m,) of them, pixels that changed since the previous frame

    @classmethod
    def of(cls, crops: Sequence[np.ndarray]) -> _ImageColours:
        """From runs of (k, rows, columns, 3) uint8 crops of the image region."""
        keys, moving = [], []
        for crop in crops:
            if crop.shape[0] == 1:
                keys.append(colour_keys(crop[0]).ravel())
                moving.append(np.ones(keys[-1].size, dtype=bool))
                continue
            keys.append(colour_keys(crop[1:]).ravel())
            moving.append(np.any(crop[1:] != crop[:-1], axis=-1).ravel())
        all_keys = np.concatenate(keys)
        distinct, inverse, counts = np.unique(all_keys, return_inverse=True, return_counts=True)
        changing = np.bincount(inverse, weights=np.concatenate(moving), minlength=distinct.size)
        colours = np.stack([distinct & 255, (distinct >> 8) & 255, distinct >> 16], axis=1).astype(np.float64)
        return cls(colours, counts, changing)

    def map_candidates(self) -> np.ndarray:
        """(m,) bool: colours that change from frame to frame, and every colour darker than all of those."""
        changing = self.changing >= MIN_CHANGING * self.counts
        luminance = self.colours @ LUMA
        darkest = luminance[changing].min() if changing.any() else np.inf
        candidates: np.ndarray = changing | (luminance <= darkest)
        return candidates


def _tolerance(distance: np.ndarray, weights: np.ndarray, given: float | None) -> float:
    """Return the off-map distance: as given, else 3 × the weighted median distance of the map's colours, ≥ 3."""
    if given is not None:
        return float(given)
    order = np.argsort(distance)
    cumulative = np.cumsum(weights[order])
    median = float(distance[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    return max(MIN_TOLERANCE, 3.0 * median)


def _fit_curve(curve: ColourCurve, colours: np.ndarray, weights: np.ndarray, tolerance: float | None
               ) -> tuple[float, float]:
    """(tolerance, fraction of the weight off the curve) of a candidate curve for the image colours."""
    distance, _ = curve_distance(curve, colours)
    tol = _tolerance(distance, weights, tolerance)
    return tol, float(weights[distance > tol].sum() / weights.sum())


def fit_display_map(runs: Sequence[np.ndarray], box: Box, *, max_value: int = 255, tolerance: float | None = None,
                    fallback: str = "luminance") -> DisplayMap:
    """Fit a display's map from runs of consecutive frames spread over a clip.

    Parameters
    ----------
    runs : sequence of (k, rows, columns) monochrome or (k, rows, columns, 3) RGB arrays, each ``k ≥ 1``
        consecutive frames (k ≥ 2 lets burned-in overlays, which never change, be left out of the fit).
    box : (x0, y0, x1, y1) of the image region whose display is read (x1, y1 exclusive).
    max_value : the pixel value that means white.
    tolerance : RGB distance from the map's curve beyond which a colour is off the map; None: 3 × the median
        distance of the image's colours to the curve, at least 3.
    fallback : "luminance" (a colour display that cannot be mapped is read by luminance, with a ``note``) or
        "raise" (:class:`~ceuskit.errors.ClipError` saying why and what to do).

    Returns
    -------
    DisplayMap
    """
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback: {fallback!r} is not one of {', '.join(FALLBACKS)}")
    if not runs:
        raise ValueError("runs: at least one run of frames is needed")
    if runs[0].ndim == 3:
        return DisplayMap.grey(max_value)
    runs = [_as_uint8(run, max_value) for run in runs]
    x0, y0, x1, y1 = box
    step = max(1, int(np.ceil(np.sqrt((x1 - x0) * (y1 - y0) / MAX_SAMPLE_PIXELS))))
    crops = [run[:, y0:y1:step, x0:x1:step] for run in runs]
    if crops[0][0, ..., 0].size == 0:
        raise ValueError(f"box: {box} holds no pixel of the frames")
    coloured_pixels = sum(int(np.count_nonzero(np.ptp(crop, axis=-1) > GREY_TOLERANCE)) for crop in crops)
    if coloured_pixels < MIN_COLOUR_FRACTION * sum(crop[..., 0].size for crop in crops):
        return DisplayMap.grey(max_value)
    seen = _ImageColours.of(crops)
    coloured = np.ptp(seen.colours, axis=1) > GREY_TOLERANCE
    if np.count_nonzero(coloured & (seen.changing > 0)) < MIN_COLOURS:
        return DisplayMap.grey(max_value)
    candidates = seen.map_candidates()
    if np.count_nonzero(candidates) < 2:
        return _unmapped("too few map colours", fallback, max_value)
    colours, weights = seen.colours[candidates], np.maximum(seen.changing[candidates], 1.0)
    dark = colours[np.argmin(np.where(seen.changing[candidates] >= MIN_CHANGING * seen.counts[candidates],
                                      colours @ LUMA, np.inf))]
    for bar_box, curve in find_colour_bars([run[0] for run in runs], box, darkest=dark):
        tol, off = _fit_curve(curve, colours, weights, tolerance)
        if off <= MAX_OFF_CURVE:
            return DisplayMap("colour", "colour_bar", max_value, curve, tol, bar_box)
    curve, _ = order_colours(colours, seen.counts[candidates])
    tol, off = _fit_curve(curve, colours, weights, tolerance)
    if curve.index[-1] > MAX_ENTRIES - 1:
        return _unmapped(f"the image's colours span {int(curve.index[-1]) + 1} steps, more than an 8-bit map has "
                         "(colours blurred by lossy compression?)", fallback, max_value)
    if off > MAX_OFF_CURVE:
        return _unmapped(f"{100 * off:.0f} % of the changing image pixels lie off one colour curve", fallback,
                         max_value)
    return DisplayMap("colour", "clip_colours", max_value, extended(curve), tol)


def _unmapped(reason: str, fallback: str, max_value: int) -> DisplayMap:
    """Return the map for a colour display whose map was not recovered: luminance with a note, or ClipError."""
    if fallback == "raise":
        raise ClipError(f"the colour-mapped display cannot be read through its map ({reason}); export the clip "
                        "uncompressed, with the map's colour bar on screen, or in grey")
    return DisplayMap("colour", "luminance", max_value,
                      note=f"colour map not recovered ({reason}; no usable colour bar): read by luminance, "
                           "intensities and relative dB may be off")


def sample_runs(clip: RawClip, n_runs: int = 16, run_length: int = 2) -> list[np.ndarray]:
    """Return runs of ``run_length`` consecutive raw frames at ``n_runs`` places spread evenly over the clip.

    Returns
    -------
    list of (k, rows, columns[, 3]) arrays as decoded (k = ``run_length``, or the clip's length if shorter).
    """
    if n_runs < 1 or run_length < 1:
        raise ValueError("n_runs, run_length: need at least one run of at least one frame")
    length = min(run_length, clip.n_frames)
    starts = sorted({int(round(s)) for s in np.linspace(0, clip.n_frames - length, n_runs)})
    return [np.stack(list(clip.frames.iterate(s, s + length))) for s in starts]


def display_map_of(clip: RawClip, *, box: Box | None = None, n_runs: int = 16, run_length: int = 2,
                   tolerance: float | None = None, fallback: str = "luminance") -> DisplayMap:
    """Fit the display map of a clip's image region from frames spread over the clip.

    Parameters
    ----------
    clip : the clip.
    box : (x0, y0, x1, y1) of the image region; default the CEUS region.
    n_runs, run_length : frames sampled (see :func:`sample_runs`): 16 pairs decode 32 frames.
    tolerance, fallback : see :func:`fit_display_map`.

    Raises
    ------
    ClipError
        With ``fallback="raise"``, a colour display that cannot be read through its map.
    """
    x0, y0, x1, y1 = clip.ceus_region.box if box is None else box
    box = (max(x0, 0), max(y0, 0), min(x1, clip.columns), min(y1, clip.rows))
    if clip.raw(0).ndim == 2 or box[2] <= box[0] or box[3] <= box[1]:
        return DisplayMap.grey(clip.max_value)
    try:
        return fit_display_map(sample_runs(clip, n_runs, run_length), box, max_value=clip.max_value,
                               tolerance=tolerance, fallback=fallback)
    except ClipError as exc:
        raise ClipError(f"{clip.source}: {exc}") from None
