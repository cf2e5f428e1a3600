"""Fuzz/property tests: deterministic (derandomized, no example database) so CI runs the same cases.

Sizes are set per test so that each reader gets several thousand cases per run while the folder stays
within a couple of minutes. ``CEUSKIT_FUZZ_SCALE=10`` multiplies them for a longer campaign.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("CEUSKIT_FUZZ_SCALE", "1"))

settings.register_profile(
    "ceuskit-fuzz", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
)


def examples(n: int) -> int:
    """``n`` cases, scaled by CEUSKIT_FUZZ_SCALE."""
    return max(1, int(n * SCALE))
