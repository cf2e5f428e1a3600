"""The seed-like demo cohort (``ceuskit demo``): simulated, imported, analysed, compared with the seed study."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ceuskit.store import Store
from ceuskit.study.manifest import import_manifest, import_reads
from ceuskit.study.runner import run_study
from ceuskit.study.statistics import cohort_stats
from ceuskit.study.tables import cohort_frame

__all__ = ["run_demo"]


def run_demo(out_dir: str | Path, *, n_patients: int = 18, seed: int = 0, workers: int | None = None,
             echo: Callable[[str], None] = print) -> Path:
    """Simulate the seed-like cohort, import it, analyse it, compute statistics, write the report.

    Prints (through ``echo``) the seed-vs-ceuskit table and returns the path of ``report.html``.
    """
    from ceuskit.report import seed_comparison, write_report
    from ceuskit.simulate import simulate_cohort

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = simulate_cohort(out / "cohort", n_patients=n_patients, seed=seed)
    db_path = out / "demo.db"
    for stale in (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
        stale.unlink(missing_ok=True)
    with Store(f"sqlite:///{db_path}") as store:
        import_manifest(store, manifest)
        reads_path = manifest.with_name("reads.csv")
        if reads_path.is_file():
            import_reads(store, reads_path)
        summary = run_study(store, workers=workers)
        echo(summary.line())
        frame = cohort_frame(store)
        result = cohort_stats(frame)
        for line in seed_comparison(result):
            echo(line)
        report = write_report(store, out / "report", frame=frame, result=result)
    echo(f"report: {report}")
    return report
