"""Phantom screens for the display-map and overlay tests: rendered once, decorated by ``simulate.display``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ceuskit.simulate import Phantom, render_frames
from ceuskit.simulate.display import apply_display


@dataclass(frozen=True)
class Screen:
    """A rendered phantom (grey index truth), the screen drawn over it and the overlay truth mask."""

    grey: np.ndarray  # (n, rows, columns) uint8: the grey index the renderer produced
    frames: np.ndarray  # what the screen shows
    overlay_truth: np.ndarray  # (rows, columns) bool
    times: np.ndarray
    box: tuple[int, int, int, int]
    rendered: dict[str, Any]


def runs_of(frames: np.ndarray, n_runs: int, length: int, box: tuple[int, int, int, int] | None = None
            ) -> list[np.ndarray]:
    """``n_runs`` runs of ``length`` consecutive frames spread over the clip, optionally cropped to ``box``."""
    starts = np.unique(np.round(np.linspace(0, frames.shape[0] - length, n_runs)).astype(int))
    if box is None:
        return [frames[s:s + length] for s in starts]
    x0, y0, x1, y1 = box
    return [frames[s:s + length, y0:y1, x0:x1] for s in starts]


_RENDERED: dict[Phantom, dict[str, Any]] = {}


def screen(phantom: Phantom, **display: Any) -> Screen:
    """Render ``phantom`` (cached per session) and draw ``apply_display(**display)`` over it."""
    if phantom not in _RENDERED:
        _RENDERED[phantom] = render_frames(phantom)
    rendered = _RENDERED[phantom]
    box = rendered["layout"].ceus_box
    frames, truth = apply_display(rendered["frames"], rendered["times"], box, **display)
    return Screen(rendered["frames"], frames, truth, rendered["times"], box, rendered)

