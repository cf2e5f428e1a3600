"""Fixtures of the study tests: a SQLite study database, empty or holding the fake cohort analysed.

The fake cohort and the stand-in for ``ceuskit.pipeline.analyze`` are ``tests/store/cohort_fakes.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "store"))
from cohort_fakes import fake_analyze_examination, write_cohort  # noqa: E402

from ceuskit import store, study  # noqa: E402


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[store.Store]:
    with store.Store(f"sqlite:///{tmp_path / 'study.db'}") as s:
        yield s


@pytest.fixture()
def analysed(db: store.Store, tmp_path: Path) -> store.Store:
    """``db`` with the fake cohort and its reads imported and analysed."""
    study.import_manifest(db, write_cohort(tmp_path / "c"))
    study.import_reads(db, tmp_path / "c" / "reads.csv")
    study.run_study(db, workers=0, analyze_examination=fake_analyze_examination)
    return db
