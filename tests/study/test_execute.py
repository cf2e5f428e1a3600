"""ceuskit.study.execute: a run on Dask (a LocalCluster or a scheduler's address) equals a serial run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cohort_fakes import fake_analyze_examination, write_cohort

from ceuskit import store, study


def _result_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["lesion_db_id", "analysis_id"]).reset_index(drop=True)


def test_two_dask_workers_equal_serial(tmp_path: Path) -> None:
    import cloudpickle
    import cohort_fakes

    cloudpickle.register_pickle_by_value(cohort_fakes)  # the worker processes cannot import the tests folder
    from distributed import LocalCluster

    manifest = write_cohort(tmp_path / "c", fail={"P04"})
    frames = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:  # an existing cluster, reached by its address
        for name, options in (("serial", {"workers": 0}), ("dask", {"workers": 2}),
                              ("scheduler", {"scheduler": cluster.scheduler_address})):
            with store.Store(f"sqlite:///{tmp_path / name}.db") as s:
                study.import_manifest(s, manifest)
                summary = study.run_study(s, analyze_examination=fake_analyze_examination, **options)
                assert summary.line() == "10 analysed (1 failed), 0 up to date"
                frames.append(_result_columns(study.cohort_frame(s)))
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])


@pytest.mark.slow
def test_two_dask_workers_equal_serial_with_real_pipeline(tmp_path: Path) -> None:
    from ceuskit.simulate import simulate_cohort

    manifest = simulate_cohort(tmp_path / "cohort", n_patients=3, seed=2, duration_s=100.0)
    frames = []
    for name, workers in (("serial", 0), ("dask", 2)):
        with store.Store(f"sqlite:///{tmp_path / name}.db") as s:
            study.import_manifest(s, manifest)
            assert study.run_study(s, workers=workers).line() == "3 analysed, 0 up to date"
            frames.append(_result_columns(study.cohort_frame(s)))
    pd.testing.assert_frame_equal(frames[0], frames[1])
