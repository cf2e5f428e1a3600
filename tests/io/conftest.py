"""Fixtures for the clip readers' tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session folder where zipped test-data files are extracted once."""
    return tmp_path_factory.mktemp("us_extracted")
