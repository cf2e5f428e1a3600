"""Registers the ``ceuskit-fuzz`` hypothesis profile (see :mod:`fuzz_settings`)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import fuzz_settings  # noqa: E402, F401
