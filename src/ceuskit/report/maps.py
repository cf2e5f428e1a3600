"""Parametric maps written to files: ``maps.npz``, ``maps.json``, one NIfTI file per map and PNG overlays.

The maps are computed by :func:`ceuskit.maps.parametric_maps` (which writes nothing); ``ceuskit map`` writes
them here, into a folder, atomically.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ceuskit._atomic import atomic_folder
from ceuskit._version import __version__
from ceuskit.io.clip import Clip
from ceuskit.io.nifti import save_frame_image
from ceuskit.maps import MAP_UNITS, MAX_PEAK_POWER, MIN_SAMPLED_PEAK, MIN_SEEN_FRACTION, ParametricMaps
from ceuskit.models.fit import MIN_R2
from ceuskit.models.parameters import MAX_TRANSIT_SPANS
from ceuskit.roi import RoiSet

__all__ = ["write_maps"]


def _overlay_png(path: Path, name: str, image: np.ndarray, reference: np.ndarray, rois: RoiSet) -> None:
    finite = image[np.isfinite(image)]
    fig = Figure(figsize=(7.0, 7.0 * reference.shape[0] / max(reference.shape[1], 1) + 0.6), dpi=110)
    ax = fig.add_subplot()
    ax.imshow(reference, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    if finite.size:
        lo, hi = np.percentile(finite, [2, 98])
        if hi <= lo:
            lo, hi = float(finite.min()), float(finite.min()) + 1.0
        shown = ax.imshow(np.ma.masked_invalid(image), cmap="viridis" if name != "r2" else "magma",
                          vmin=lo, vmax=hi, alpha=0.75, interpolation="nearest")
        unit = MAP_UNITS.get(name, "")
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label=f"{name} ({unit})" if unit else name)
    masks = rois.masks(*reference.shape)
    for roi in rois.rois:
        colour = "#ff5050" if roi.role == "lesion" else "#50c8ff"
        ax.contour(masks[roi.name].astype(float), levels=[0.5], colors=[colour], linewidths=1.2)
        ys, xs = np.nonzero(masks[roi.name])
        if xs.size:
            ax.text(xs.mean(), ys.min() - 3, roi.name, color=colour, fontsize=8, ha="center", va="bottom")
    ax.set_title(name)
    ax.set_axis_off()
    fig.savefig(path, bbox_inches="tight")


def _maps_json(maps: ParametricMaps, clip: Clip) -> dict[str, Any]:
    """``maps.json``: what each map holds, its unit and share of pixels without a value, and the provenance."""
    return {
        "ceuskit_version": __version__,
        "clip": {"source": str(clip.source), "sha256": clip.sha256()},
        "times": "s after injection",
        "maps": {name: {"unit": MAP_UNITS[name], "no_value_share": maps.no_value_share[name]} for name in maps},
        "limits": {"min_sampled_peak": MIN_SAMPLED_PEAK, "max_peak_power": MAX_PEAK_POWER, "min_seen_fraction": MIN_SEEN_FRACTION,
                   "max_transit_spans": MAX_TRANSIT_SPANS, "min_r2": MIN_R2},
        "provenance": {"software": f"ceuskit {__version__}", "options": maps.options,
                       "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       "python": platform.python_version()},
    }


def write_maps(maps: Mapping[str, np.ndarray], clip: Clip, rois: RoiSet, out_dir: str | Path, *,
               nifti: bool = True, png: bool = True) -> Path:
    """Write ``maps.npz``, ``<map>.nii.gz`` and ``<map>.png`` overlays into ``out_dir`` atomically.

    Parameters
    ----------
    maps : name → (rows, columns) map; a :class:`ParametricMaps` also gets ``maps.json`` (units, each map's
        share of pixels without a value, the settings, software version and the clip's SHA-256).
    clip : the clip the maps are of.  rois : its ROIs (outlines and reference frame of the overlays).
    out_dir : folder, created if needed.  nifti, png : also write NIfTI maps and PNG overlays.

    Returns
    -------
    The path of ``maps.npz``.  Overlays are drawn on the ROIs' reference frame with a colour bar (2nd–98th
    percentile) and the ROI outlines.
    """
    with atomic_folder(out_dir, last=("maps.npz",)) as tmp:  # maps.npz last: a reader waiting for it sees all
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in maps.items()}
        np.savez_compressed(tmp / "maps.npz", **arrays)
        if isinstance(maps, ParametricMaps):
            (tmp / "maps.json").write_text(json.dumps(_maps_json(maps, clip), indent=1))
        reference = clip.frame(rois.reference_frame) if png else None
        for name, image in maps.items():
            if nifti:
                save_frame_image(tmp / f"{name}.nii.gz", image, clip.pixel_spacing_mm)
            if png and reference is not None:
                _overlay_png(tmp / f"{name}.png", name, image, reference, rois)
    return Path(out_dir) / "maps.npz"
