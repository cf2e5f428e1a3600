"""Bolus models and their batched fits.

``shapes`` holds the pure model functions and their registry, ``fit`` the compiled batched fit engine and
``parameters`` the perfusion parameters (AT, TTP, PE, mTT, …) from fitted or smoothed curves.
"""

from __future__ import annotations

from ceuskit.models.fit import FitResult, fit_curves
from ceuskit.models.shapes import MODEL_NAMES, MODELS, evaluate

__all__ = ["MODELS", "MODEL_NAMES", "FitResult", "evaluate", "fit_curves"]
