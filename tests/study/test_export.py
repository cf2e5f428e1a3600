"""ceuskit.study.export: the cohort table round-trips through CSV, Parquet and Excel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cohort_fakes import COHORT

from ceuskit import store, study
from ceuskit.errors import InputError


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_export_round_trip(analysed: store.Store, tmp_path: Path, suffix: str) -> None:
    frame = study.cohort_frame(analysed)
    out = study.export_table(frame, tmp_path / f"lesions{suffix}")
    back = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".xlsx": pd.read_excel}[suffix](out)
    assert len(back) == 10 and list(back.columns) == list(frame.columns)
    assert list(back["patient_id"]) == [r[0] for r in COHORT]
    assert np.allclose(back["arterial_onset_s"], [r[6] for r in COHORT])
    assert {"ki67", "who_grade", "time_to_peak_s", "late_enhancement", "read_reader1_arterial"} <= set(back.columns)
    assert not list(tmp_path.glob(".lesions-*"))  # no temporary file left behind


def test_export_rejects_unknown_suffix(analysed: store.Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="use a .csv, .parquet or .xlsx"):
        study.export_table(study.cohort_frame(analysed), tmp_path / "lesions.txt")
