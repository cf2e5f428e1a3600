"""Display grey → linear echo power (undo the scanner's log compression).

DESIGN: log-compressed display grey g ∈ [0, 255] with dynamic range DR dB maps to
``power = 10 ** ((g / 255 − 1) · DR / 10)``: grey 255 is power 1 (0 dB), grey 0 is −DR dB.
"""

from __future__ import annotations

import numpy as np

from ceuskit.errors import InputError

__all__ = ["DEFAULT_DYNAMIC_RANGE_DB", "check_dynamic_range", "grey_to_power", "power_to_grey"]

DEFAULT_DYNAMIC_RANGE_DB = 60.0


def check_dynamic_range(dynamic_range_db: float) -> float:
    """Validate a display dynamic range (dB); scanners use 30–90 dB, we accept 10–120."""
    value = float(dynamic_range_db)
    if not np.isfinite(value) or not 10.0 <= value <= 120.0:
        raise InputError(f"dynamic range {dynamic_range_db!r} dB is not plausible; give a value between 10 and 120 "
                         "(the scanner's display dynamic range, default 60)")
    return value


def grey_to_power(grey: np.ndarray, dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB) -> np.ndarray:
    """Linear echo power (dimensionless, 1 = full white) of display grey 0–255; float32, same shape."""
    scale = np.float32(dynamic_range_db / 10.0 * np.log(10.0) / 255.0)
    offset = np.float32(-dynamic_range_db / 10.0 * np.log(10.0))
    power: np.ndarray = np.exp(np.asarray(grey, dtype=np.float32) * scale + offset)
    return power


def power_to_grey(power: np.ndarray, dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB) -> np.ndarray:
    """Display grey (float, clipped to 0–255) of linear power: the scanner's log compression."""
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(np.maximum(np.asarray(power, dtype=np.float64), 1e-30))
    return np.clip(255.0 * (1.0 + db / dynamic_range_db), 0.0, 255.0)
