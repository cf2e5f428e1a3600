"""Replaying measured time–intensity curves as a clip, so the whole reading can be run on real curves.

Each named curve fills one rectangular region of the frame with the display grey of its power (the scanner's
log compression over ``dynamic_range_db``), optionally with multiplicative speckle; the ROI file outlines
those regions (the first curve is the lesion, the second its parenchyma reference, further curves further
lesions). The regions lie on one image of constant tissue grey (:data:`BACKGROUND_GREY`), so the clip reads as
a single display whose image holds every region, never as a dual display of two halves. The clip is written
as an ``.npz`` with the curves' own sample times, gaps and all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ceuskit._atomic import atomic_path
from ceuskit.errors import InputError
from ceuskit.preprocess.linearize import power_to_grey
from ceuskit.simulate.dicom import write_json

__all__ = ["replay_curves"]

REGION_PX = 24
"""Side of each curve's square region, px."""

BACKGROUND_GREY = 40
"""Grey of the image around the regions: brighter than the black background a layout detection looks for."""


def _roi(name: str, index: int, box: tuple[int, int, int, int]) -> dict[str, Any]:
    role = "parenchyma" if index == 1 else "lesion"
    roi: dict[str, Any] = {"name": name, "role": role, "shape": "rectangle", "box": list(box)}
    return roi


def replay_curves(out_dir: str | Path, times_s: np.ndarray, curves: Mapping[str, np.ndarray], *,
                  dynamic_range_db: float = 60.0, speckle_looks: float | None = None, seed: int = 0,
                  name: str = "replay") -> tuple[Path, Path]:
    """Write ``NAME.npz`` (frames and ``times_s``) and ``NAME.roi.json`` replaying ``curves``.

    Parameters
    ----------
    out_dir : folder to write into.
    times_s : (T,) increasing sample times, s (the clip's frame times; gaps stay gaps).
    curves : name → (T,) linear power (1 = display white); two at least: lesion, then its reference.
    dynamic_range_db : the display's dynamic range used for the log compression.
    speckle_looks : None for uniform regions, else the number of independent looks of gamma-distributed
        multiplicative speckle per pixel (1: fully developed speckle).
    seed : speckle generator seed.

    Returns
    -------
    (npz path, ROI file path).
    """
    t = np.asarray(times_s, dtype=float)
    names = list(curves)
    if len(names) < 2:
        raise InputError("give at least two curves: a lesion and its parenchyma reference")
    if t.ndim != 1 or t.size < 2 or not np.all(np.diff(t) > 0):
        raise InputError("times_s must be increasing sample times")
    rng = np.random.default_rng(seed)
    side = REGION_PX
    rows, columns = 2 * side + 16, (side + 8) * len(names) + 8
    frames = np.full((t.size, rows, columns), BACKGROUND_GREY, dtype=np.uint8)
    rois = []
    for index, key in enumerate(names):
        power = np.asarray(curves[key], dtype=float)
        if power.shape != t.shape:
            raise InputError(f"curve {key!r} has {power.size} samples for {t.size} times")
        if not np.all(np.isfinite(power)) or np.any(power < 0):
            raise InputError(f"curve {key!r} holds missing or negative samples: leave missing frames out of "
                             "times_s instead (gaps stay gaps)")
        x0, y0 = 8 + index * (side + 8), side // 2 + 8
        box = (x0, y0, x0 + side - 1, y0 + side - 1)  # corners inclusive: the region's pixels, no more
        rois.append(_roi(key, index, box))
        block = np.broadcast_to(power[:, None, None], (t.size, side, side))
        if speckle_looks is not None:
            block = block * rng.gamma(speckle_looks, 1.0 / speckle_looks, size=block.shape)
        frames[:, y0:y0 + side, x0:x0 + side] = np.round(power_to_grey(block, dynamic_range_db)).astype(np.uint8)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clip, roi_path = out / f"{name}.npz", out / f"{name}.roi.json"
    with atomic_path(clip) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, frames=frames, times_s=t)
    rois[0]["reference"] = names[1]
    write_json(roi_path, {"reference_frame": int(np.argmax(np.asarray(curves[names[0]], dtype=float))),
                          "units": "px", "rois": rois})
    return clip, roi_path
