"""Settings of the fuzz/property tests: deterministic (derandomized, no example database) so CI runs the
same cases.  A module with its own name (not ``conftest``), so test modules can import it whatever other
conftest.py pytest loaded first.

Sizes are set per test so that each reader gets several thousand cases per run while the folder stays
within a couple of minutes.  ``CEUSKIT_FUZZ_SCALE=10`` multiplies them for a longer campaign;
``CEUSKIT_FUZZ_RANDOM=1`` draws new random cases on every run instead of the fixed ones.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("CEUSKIT_FUZZ_SCALE", "1"))

settings.register_profile(
    "ceuskit-fuzz", derandomize=not os.environ.get("CEUSKIT_FUZZ_RANDOM"), database=None, deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
)


def examples(n: int) -> int:
    """``n`` cases, scaled by CEUSKIT_FUZZ_SCALE."""
    return max(1, int(n * SCALE))


def time_limit_s(seconds: int) -> int:
    """A test's time limit for pytest-timeout, scaled like its case count: a hang fails the test."""
    return examples(seconds)
