"""The scanner's screen over rendered grey frames: colour maps, a colour bar and burned-in overlays.

A scanner draws its screen in this order, and so does :func:`apply_display`: the CEUS image's grey index
(0–255) goes through the display map (grey, or a colour map such as :data:`COLOUR_MAPS` ``"gold"``), the map's
colour bar is painted beside the image, and text and graphics are burned in on top — an elapsed-time counter
(mm:ss, changing every second), a mechanical-index read-out, markers (+, ×) and a calliper line.  The overlay
pixels are returned as a truth mask.

The colour maps are ceuskit's own (closed-form curves in RGB, below), not any vendor's table: non-linear,
256 distinct colours, luminance not proportional to the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["COLOUR_MAPS", "OVERLAY_KINDS", "Overlay", "apply_colour_map", "apply_display", "colour_bar_box",
           "default_overlays", "draw_text"]

Box = tuple[int, int, int, int]
Colour = tuple[int, int, int]


def _distinct_table(real: np.ndarray) -> np.ndarray:
    """Round a (256, 3) non-decreasing real curve to uint8 entries, nudging repeats so all 256 are distinct."""
    table = np.round(real).astype(int)
    for i in range(1, 256):
        table[i] = np.maximum(table[i], table[i - 1])
        if (table[i] == table[i - 1]).all():
            for channel in np.argsort(table[i - 1] - real[i]):  # the channel whose curve is furthest ahead first
                if table[i, channel] < 255:
                    table[i, channel] += 1
                    break
    return table.astype(np.uint8)


_X = np.arange(256) / 255.0
COLOUR_MAPS: dict[str, np.ndarray] = {
    # black → amber → pale gold (255, 240, 200); luminance rises steeply at first, then slowly
    "gold": _distinct_table(np.stack([255 * _X**0.45, 240 * _X**0.95, 200 * _X**2.4], axis=1)),
    # dark brown (20, 8, 2) → copper → tan (235, 180, 120); index 0 is not black
    "bronze": _distinct_table(np.stack([20 + 215 * _X**0.4, 8 + 172 * _X**1.3, 2 + 118 * _X**2.2], axis=1)),
}
"""Name → (256, 3) uint8 RGB table: entry ``i`` is the colour of grey index ``i``."""


def _table(name: str) -> np.ndarray:
    try:
        return COLOUR_MAPS[name]
    except KeyError:
        raise ValueError(f"colour_map: unknown map {name!r}; choose one of {', '.join(COLOUR_MAPS)}") from None


def apply_colour_map(grey_uint8: np.ndarray, name: str) -> np.ndarray:
    """Colours of grey indices through the named map.

    Parameters
    ----------
    grey_uint8 : (...) uint8 grey index 0–255.
    name : a key of :data:`COLOUR_MAPS`.

    Returns
    -------
    (..., 3) uint8 RGB.

    Examples
    --------
    >>> apply_colour_map(np.array([0, 255], np.uint8), "gold").tolist()
    [[0, 0, 0], [255, 240, 200]]
    """
    if grey_uint8.dtype != np.uint8:
        raise ValueError(f"grey_uint8: expected uint8 grey indices, got {grey_uint8.dtype}")
    rgb: np.ndarray = _table(name)[grey_uint8]
    return rgb


# --- colour bar -------------------------------------------------------------------------------------------
BAR_WIDTH_PX, BAR_GAP_PX = 4, 5


def colour_bar_box(ceus_box: Box, rows: int, columns: int) -> Box:
    """Where :func:`apply_display` paints the colour bar: a vertical strip beside the CEUS image.

    It lies ``BAR_GAP_PX`` right of the image (left of it when the frame has no room on the right), spans the
    image's height less 4 px at each end, and is ``BAR_WIDTH_PX`` wide.  Raises ValueError when neither side
    has room.
    """
    x0, y0, x1, y1 = ceus_box
    if x1 + BAR_GAP_PX + BAR_WIDTH_PX <= columns:
        bx0 = x1 + BAR_GAP_PX
    elif x0 - BAR_GAP_PX - BAR_WIDTH_PX >= 0:
        bx0 = x0 - BAR_GAP_PX - BAR_WIDTH_PX
    else:
        raise ValueError("colour_bar: the frame has no room beside the CEUS image for a colour bar")
    if y1 - y0 < 40 or y1 > rows:
        raise ValueError("colour_bar: the CEUS image is too short for a colour bar")
    return bx0, y0 + 4, bx0 + BAR_WIDTH_PX, y1 - 4


def _bar_pixels(table: np.ndarray, box: Box) -> np.ndarray:
    """(height, width, 3) bar.

    Brightest entry at the top, row ``r`` from the bottom shows entry round(r · 255 / (height − 1)).
    """
    x0, y0, x1, y1 = box
    height = y1 - y0
    entries = np.round(np.arange(height)[::-1] * 255.0 / (height - 1)).astype(int)
    return np.repeat(table[entries][:, None, :], x1 - x0, axis=1)


# --- burned-in text and graphics --------------------------------------------------------------------------
_FONT_ROWS = {
    "0": "111 101 101 101 111", "1": "010 110 010 010 111", "2": "111 001 111 100 111",
    "3": "111 001 111 001 111", "4": "101 101 111 001 001", "5": "111 100 111 001 111",
    "6": "111 100 111 101 111", "7": "111 001 010 010 010", "8": "111 101 111 101 111",
    "9": "111 101 111 001 111", ":": "000 010 000 010 000", ".": "000 000 000 000 010",
    "M": "101 111 111 101 101", "I": "111 010 010 010 111", " ": "000 000 000 000 000",
}
_FONT = {ch: np.array([[c == "1" for c in row] for row in rows.split()], dtype=bool) for ch, rows in _FONT_ROWS.items()}
"""ceuskit's own 3×5 pixel font: digits, ':', '.', 'M', 'I' and space."""


def draw_text(mask: np.ndarray, text: str, at: tuple[int, int], *, scale: int = 2) -> None:
    """Set the pixels of ``text`` in the 3×5 font (each font pixel ``scale``×``scale``) in a bool mask.

    ``at`` is the (x, y) of the text's top-left corner; glyphs advance by 4·scale pixels; pixels outside
    the mask are clipped.
    """
    x, y = at
    for ch in text:
        glyph = np.kron(_FONT[ch], np.ones((scale, scale), dtype=bool))
        _paint(mask, glyph, x, y)
        x += 4 * scale


def _paint(mask: np.ndarray, stamp: np.ndarray, x: int, y: int) -> None:
    rows, columns = mask.shape
    h, w = stamp.shape
    cx0, cy0, cx1, cy1 = max(x, 0), max(y, 0), min(x + w, columns), min(y + h, rows)
    if cx1 > cx0 and cy1 > cy0:
        mask[cy0:cy1, cx0:cx1] |= stamp[cy0 - y:cy1 - y, cx0 - x:cx1 - x]


def _marker(kind: str, arm: int) -> np.ndarray:
    size = 2 * arm + 1
    stamp = np.zeros((size, size), dtype=bool)
    if kind == "plus":
        stamp[arm, :] = stamp[:, arm] = True
    else:
        idx = np.arange(size)
        stamp[idx, idx] = stamp[idx, size - 1 - idx] = True
    return stamp


def _dotted_line(mask: np.ndarray, a: tuple[int, int], b: tuple[int, int], spacing: int = 3) -> None:
    length = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
    for s in np.arange(0, length + 1, spacing):
        f = s / length if length else 0.0
        x, y = round(a[0] + f * (b[0] - a[0])), round(a[1] + f * (b[1] - a[1]))
        _paint(mask, np.ones((1, 1), dtype=bool), x, y)


OVERLAY_KINDS = ("timer", "mi", "plus", "cross", "calliper")
"""Kinds of :class:`Overlay`."""


@dataclass(frozen=True)
class Overlay:
    """One burned-in annotation, in pixels of the full frame.

    Attributes
    ----------
    kind : "timer" (elapsed time mm:ss at each frame's time), "mi" (the text ``MI 0.08``), "plus" or
        "cross" (a marker of arm 4 px), "calliper" (a dotted line from ``at`` to ``to`` with + ends).
    at : (x, y) of the text's top-left corner, a marker's centre or the calliper's first end.
    to : (x, y) of the calliper's second end (calliper only).
    colour : RGB; grey when R = G = B.
    """

    kind: str
    at: tuple[int, int]
    to: tuple[int, int] | None = None
    colour: Colour = (255, 255, 255)

    def __post_init__(self) -> None:
        if self.kind not in OVERLAY_KINDS:
            raise ValueError(f"overlays: unknown kind {self.kind!r}; choose one of {', '.join(OVERLAY_KINDS)}")
        if (self.kind == "calliper") != (self.to is not None):
            raise ValueError("overlays: a calliper needs both ends (at, to), and only a calliper has 'to'")

    def mask(self, rows: int, columns: int, time_s: float) -> np.ndarray:
        """(rows, columns) bool pixels of this overlay in a frame shown at ``time_s`` seconds."""
        mask = np.zeros((rows, columns), dtype=bool)
        x, y = self.at
        if self.kind == "timer":
            seconds = int(np.floor(max(time_s, 0.0)))
            draw_text(mask, f"{seconds // 60:02d}:{seconds % 60:02d}", self.at)
        elif self.kind == "mi":
            draw_text(mask, "MI 0.08", self.at)
        elif self.kind in ("plus", "cross"):
            _paint(mask, _marker(self.kind, 4), x - 4, y - 4)
        else:
            assert self.to is not None
            _dotted_line(mask, self.at, self.to)
            for end in (self.at, self.to):
                _paint(mask, _marker("plus", 2), end[0] - 2, end[1] - 2)
        return mask

    @property
    def static(self) -> bool:
        """Whether the overlay is the same in every frame (all kinds but the running ``timer``)."""
        return self.kind != "timer"


def default_overlays(ceus_box: Box, names: Sequence[str] = ("timer", "mi", "markers", "calliper"), *,
                     seed: int = 0) -> tuple[Overlay, ...]:
    """Return a screen's usual annotations inside the CEUS image.

    Parameters
    ----------
    ceus_box : (x0, y0, x1, y1) of the CEUS image.
    names : any of "timer" (white, top left), "mi" (light grey, top right), "markers" (a yellow + and a cyan ×
        at seeded places), "calliper" (a white dotted line with + ends, seeded).
    seed : places of the markers and calliper.
    """
    x0, y0, x1, y1 = ceus_box
    rng = np.random.default_rng(seed + 7)
    w, h = x1 - x0, y1 - y0

    def spot() -> tuple[int, int]:
        return int(x0 + rng.uniform(0.15, 0.85) * w), int(y0 + rng.uniform(0.25, 0.9) * h)

    out: list[Overlay] = []
    for name in names:
        if name == "timer":
            out.append(Overlay("timer", (x0 + 4, y0 + 4)))
        elif name == "mi":
            out.append(Overlay("mi", (x1 - 4 - 7 * 8, y0 + 4), colour=(200, 200, 200)))
        elif name == "markers":
            out += [Overlay("plus", spot(), colour=(255, 255, 0)), Overlay("cross", spot(), colour=(0, 255, 255))]
        elif name == "calliper":
            out.append(Overlay("calliper", spot(), spot()))
        else:
            raise ValueError(f"overlays: unknown name {name!r}; use timer, mi, markers, calliper or Overlay objects")
    return tuple(out)


# --- the screen -------------------------------------------------------------------------------------------
def apply_display(frames: np.ndarray, times_s: np.ndarray, ceus_box: Box, *, colour_map: str | None = None,
                  colour_bar: bool = False, overlays: Sequence[str | Overlay] = (), seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Draw the scanner's screen over rendered grey frames.

    Parameters
    ----------
    frames : (n, rows, columns) uint8 grey, or (n, rows, columns, 3) uint8 with R = G = B (the renderer's
        output); not modified.
    times_s : (n,) seconds shown by the timer overlay (floored, negative shown as 00:00).
    ceus_box : (x0, y0, x1, y1) of the CEUS image; the colour map applies inside it only (B-mode and text
        stay grey).
    colour_map : a key of :data:`COLOUR_MAPS`, or None for a grey display.
    colour_bar : paint the map's bar at :func:`colour_bar_box` (a grey bar for a grey display).
    overlays : names for :func:`default_overlays` and/or :class:`Overlay` objects, drawn last.
    seed : places of named markers and calliper.

    Returns
    -------
    frames : (n, rows, columns, 3) uint8 when a colour map, a chromatic overlay or RGB input is involved,
        else (n, rows, columns) uint8.
    overlay_mask : (rows, columns) bool, the union over frames of the overlay pixels (the colour bar, outside
        the image, is not an overlay).
    """
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3):
        raise ValueError(f"frames: expected (n, rows, columns[, 3]) uint8, got {frames.shape} {frames.dtype}")
    times_s = np.asarray(times_s, dtype=float)
    if times_s.shape != (frames.shape[0],):
        raise ValueError(f"times_s: expected {frames.shape[0]} times, got shape {times_s.shape}")
    grey = frames if frames.ndim == 3 else frames[..., 0]
    if frames.ndim == 4 and not (np.array_equal(frames[..., 0], frames[..., 1])
                                 and np.array_equal(frames[..., 0], frames[..., 2])):
        raise ValueError("frames: RGB input must be grey (R = G = B); the display is drawn on grey frames")
    n, rows, columns = grey.shape
    x0, y0, x1, y1 = ceus_box
    if not (0 <= x0 < x1 <= columns and 0 <= y0 < y1 <= rows):
        raise ValueError(f"ceus_box: {ceus_box} does not lie inside {columns}×{rows} frames")
    items = [o for o in overlays if isinstance(o, Overlay)]
    items += list(default_overlays(ceus_box, [o for o in overlays if isinstance(o, str)], seed=seed))
    chromatic = any(len(set(o.colour)) > 1 for o in items)
    rgb = colour_map is not None or chromatic or frames.ndim == 4
    out = np.repeat(grey[..., None], 3, axis=3) if rgb else grey.copy()
    table = _table(colour_map) if colour_map is not None else np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, 1)
    if colour_map is not None:
        out[:, y0:y1, x0:x1] = table[grey[:, y0:y1, x0:x1]]
    if colour_bar:
        bx0, by0, bx1, by1 = colour_bar_box(ceus_box, rows, columns)
        bar = _bar_pixels(table, (bx0, by0, bx1, by1))
        out[:, by0:by1, bx0:bx1] = bar if rgb else bar[..., 0]
    truth = np.zeros((rows, columns), dtype=bool)
    static = [(o.mask(rows, columns, 0.0), o.colour) for o in items if o.static]
    timers = [o for o in items if not o.static]
    for k in range(n):
        drawn = static + [(o.mask(rows, columns, float(times_s[k])), o.colour) for o in timers]
        for mask, colour in drawn:
            out[k][mask] = colour if rgb else colour[0]
            truth |= mask
    return out, truth
