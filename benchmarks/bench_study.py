"""Cohort throughput: `study run` serially in one process vs a 2-worker Dask LocalCluster.

Simulates a seed-like cohort (real DICOM clips through the real pipeline), imports it twice into SQLite,
and times both runs.  Two figures: the speed-up of the whole run (serial time / parallel time, cluster
start-up and worker imports included, which dominate a small cohort) and the steady-state speed-up (lesions
per second between the first and the last result, what a large cohort sees; ideally close to 2 on two free
cores).  Both runs must give identical results.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

N_PATIENTS = 36


def run() -> dict[str, object]:
    from ceuskit import store, study
    from ceuskit.simulate import simulate_cohort

    with tempfile.TemporaryDirectory(prefix="ceuskit-bench-study-") as tmp:
        folder = Path(tmp)
        manifest = simulate_cohort(folder / "cohort", n_patients=N_PATIENTS, seed=3, duration_s=150.0)
        timings, steady, frames, failed = {}, {}, {}, {}
        for name, workers in (("serial", 0), ("dask2", 2)):
            with store.Store(f"sqlite:///{folder / name}.db") as s:
                study.import_manifest(s, manifest)
                stamps: list[float] = []
                start = time.perf_counter()
                summary = study.run_study(s, workers=workers,
                                          progress=lambda *_, at=stamps: at.append(time.perf_counter()))
                timings[name] = time.perf_counter() - start
                results = stamps[-N_PATIENTS:]  # one call per recorded lesion, after an initial call
                steady[name] = (N_PATIENTS - 1) / (results[-1] - results[0])
                failed[name] = summary.failed
                frames[name] = study.cohort_frame(s).drop(columns=["lesion_db_id", "analysis_id"])
        identical = bool(frames["serial"].equals(frames["dask2"]))
    return {
        "lesions": N_PATIENTS,
        "failed": failed["serial"],
        "serial_s": round(timings["serial"], 2),
        "dask_2_workers_s": round(timings["dask2"], 2),
        "serial_lesions_per_min": round(60 * N_PATIENTS / timings["serial"], 1),
        "dask_2_workers_lesions_per_min": round(60 * N_PATIENTS / timings["dask2"], 1),
        "speedup_2_workers": round(timings["serial"] / timings["dask2"], 2),
        "steady_state_speedup_2_workers": round(steady["dask2"] / steady["serial"], 2),
        "identical_results": identical,
    }
