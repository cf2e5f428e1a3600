"""ceuskit: contrast-enhanced ultrasound (CEUS) of focal liver lesions.

From the scanner's cine loop to cohort statistics.

The public API (everything else is internal)::

    clip = ceuskit.open_clip("clip.dcm")            # frames, true frame times, spacing, layout
    result = ceuskit.analyze("clip.dcm", "rois.json", out_dir="out")   # analysis.json and tic.csv
    options = ceuskit.AnalysisOptions(injection_time_s=4.0, motion=False)  # how to read: one object …
    result = ceuskit.analyze("clip.dcm", "rois.json", options)          # … or its fields as keywords
    result = ceuskit.analyze_curves("curves.csv", units="db")           # curves without a clip, read alike
    ceuskit.report.write_analysis(result, "out")    # … and tic.png beside them (import ceuskit.report)
    fits = ceuskit.fit_curves(t, Y, model="auto")   # many bolus fits in one call
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ceuskit._version import __version__

__all__ = [
    "Analysis",
    "AnalysisOptions",
    "CeusError",
    "Clip",
    "FitResult",
    "RoiSet",
    "__version__",
    "analyze",
    "analyze_curves",
    "fit_curves",
    "load_rois",
    "open_clip",
    "simulate_clip",
]

_LAZY = {
    "Analysis": "ceuskit.pipeline",
    "AnalysisOptions": "ceuskit.pipeline",
    "analyze": "ceuskit.pipeline",
    "analyze_curves": "ceuskit.curve_analysis",
    "Clip": "ceuskit.io.clip",
    "open_clip": "ceuskit.io",
    "FitResult": "ceuskit.models",
    "fit_curves": "ceuskit.models",
    "RoiSet": "ceuskit.roi",
    "load_rois": "ceuskit.io.rois",
    "simulate_clip": "ceuskit.simulate",
    "CeusError": "ceuskit.errors",
}

if TYPE_CHECKING:
    from ceuskit.curve_analysis import analyze_curves
    from ceuskit.errors import CeusError
    from ceuskit.io import open_clip
    from ceuskit.io.clip import Clip
    from ceuskit.io.rois import load_rois
    from ceuskit.models import FitResult, fit_curves
    from ceuskit.pipeline import Analysis, AnalysisOptions, analyze
    from ceuskit.roi import RoiSet
    from ceuskit.simulate import simulate_clip


def __getattr__(name: str) -> Any:
    """Import the public API lazily, so ``import ceuskit`` stays fast for the command line."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ceuskit' has no attribute {name!r}")
