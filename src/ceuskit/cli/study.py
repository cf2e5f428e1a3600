"""``ceuskit study …``: a cohort study in a database (init, import, run, stats, export, report)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ceuskit.cli.command import app

if TYPE_CHECKING:
    from ceuskit.store import Store

study_app = typer.Typer(help="Cohort studies: import a manifest, analyse every lesion, statistics, export, report.",
                        no_args_is_help=True)
app.add_typer(study_app, name="study")

DbOption = Annotated[str, typer.Option("--db", help="Database URL: sqlite:///FILE or postgresql+psycopg://USER@HOST/DB "
                                       "(default sqlite:///ceuskit.db, in the current folder; only init and import "
                                       "create a missing database).")]
StudyOption = Annotated[str | None, typer.Option("--study", help="Study name (default: the only or 'default').")]
DEFAULT_DB = "sqlite:///ceuskit.db"
PacsOption = Annotated[str | None, typer.Option("--pacs", help="PACS for dicomweb:STUDY/SERIES[/INSTANCE] clips: a "
                                                "DICOMweb URL or a PACS config entry name (credentials: "
                                                "environment or config file).")]


def _resolver(pacs: str, cache: Path | None) -> Any:
    from ceuskit.pacs.cache import ClipResolver
    from ceuskit.pacs.config import resolve_destination

    return ClipResolver(resolve_destination(pacs), cache)


def _warn_without_key(deidentify: bool) -> None:
    """Say once, on stderr, that pseudonyms made without ``CEUSKIT_PSEUDONYM_KEY`` can be recomputed."""
    from ceuskit.study.manifest import PSEUDONYM_KEY_VARIABLE, pseudonym_key_is_set

    if deidentify and not pseudonym_key_is_set():
        typer.echo(f"ceuskit: warning: {PSEUDONYM_KEY_VARIABLE} is not set, so the pseudonyms are keyed by the "
                   "study's name and anyone with the patient ids can recompute them; for real data set a secret "
                   f"first (export {PSEUDONYM_KEY_VARIABLE}=$(openssl rand -hex 32)) and keep it for every later "
                   "import of this study", err=True)


def _store(db: str, *, create: bool = False) -> Store:
    """Open the study database; only ``init`` and ``import`` create a missing one (the others say to run init)."""
    from ceuskit.store import Store

    return Store(db, create=create)


@study_app.command("init")
def init(db: DbOption = DEFAULT_DB) -> None:
    """Create the study database (or migrate it to the newest schema)."""
    from ceuskit.store import redacted

    with _store(db, create=True):  # creates the file's folder too, then migrates
        pass
    typer.echo(f"database ready: {redacted(db)}")


@study_app.command("import")
def import_(manifest: Annotated[Path, typer.Argument(help="Manifest CSV: patient_id, lesion_id, clip, roi, ki67, …")],
            deidentify: Annotated[bool, typer.Option("--deidentify", help="Store keyed pseudonyms, not patient ids, "
                                                     "and de-identified copies of the DICOM clips (PS3.15 Basic "
                                                     "Profile, clean pixels); key: CEUSKIT_PSEUDONYM_KEY.")] = False,
            deid_dir: Annotated[Path | None, typer.Option("--deid-dir", help="Folder for the de-identified clips "
                                                          "(default: deidentified/ beside the manifest).")] = None,
            study: Annotated[str, typer.Option("--study", help="Study name.")] = "default",
            pacs: PacsOption = None,
            pacs_cache: Annotated[Path | None, typer.Option("--pacs-cache", help="Folder for clips fetched from "
                                                            "the PACS (default: CEUSKIT_PACS_CACHE or "
                                                            "~/.cache/ceuskit/pacs).")] = None,
            db: DbOption = DEFAULT_DB) -> None:
    """Validate every manifest row, then store all lesions (nothing is stored if any row is bad)."""
    from contextlib import nullcontext

    from ceuskit.study import import_manifest

    _warn_without_key(deidentify)
    with _resolver(pacs, pacs_cache) if pacs else nullcontext() as resolver, _store(db, create=True) as store:
        counts = import_manifest(store, manifest, deidentify=deidentify, study=study, deid_dir=deid_dir,
                                 pacs=resolver)
    typer.echo(f"imported {counts['lesions_new']} new and {counts['lesions_updated']} updated lesion(s) of "
               f"{counts['patients']} new patient(s)" + (f", {counts['reads']} reader read(s)" if counts["reads"] else ""))


@study_app.command("import-reads")
def import_reads(reads: Annotated[Path, typer.Argument(help="CSV: patient_id, lesion_id, reader, arterial, washout, late.")],
                 deidentify: Annotated[bool, typer.Option("--deidentify", help="Patient ids were pseudonymised on import.")] = False,
                 study: StudyOption = None, db: DbOption = DEFAULT_DB) -> None:
    """Store readers' visual labels (for reader-vs-software and reader-vs-reader kappa)."""
    from ceuskit.study import import_reads as run_import

    _warn_without_key(deidentify)
    with _store(db) as store:
        n = run_import(store, reads, deidentify=deidentify, study=study)
    typer.echo(f"imported {n} reader read(s)")


@study_app.command("run")
def run(workers: Annotated[int | None, typer.Option("--workers", min=0, help="Local Dask worker processes (0: serial, in this process).")] = None,
        scheduler: Annotated[str | None, typer.Option("--scheduler", help="Address of a running Dask scheduler.")] = None,
        model: Annotated[str, typer.Option("--model", help="auto, lognormal, gamma, ldrw or fpt.")] = "auto",
        kinetics: Annotated[str, typer.Option("--kinetics", help="bolus, replenishment or auto (replenishment "
                                              "fits after destructions that refill).")] = "auto",
        no_motion: Annotated[bool, typer.Option("--no-motion", help="Switch motion compensation off.")] = False,
        fps: Annotated[float | None, typer.Option("--fps", help="Frame rate for clips without timing.")] = None,
        retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Analyse failed lesions again.")] = False,
        pacs: PacsOption = None, study: StudyOption = None, db: DbOption = DEFAULT_DB) -> None:
    """Analyse every new or changed lesion, in parallel; each result is committed as it arrives."""
    from ceuskit.errors import InputError
    from ceuskit.study import RunOptions, run_study

    if workers is not None and scheduler is not None:
        raise InputError("give either --workers or --scheduler, not both")
    if pacs:  # PACS clips first: fetched again where changed on the PACS, missing or damaged in the cache
        from ceuskit.pacs.cache import refresh_clips
        from ceuskit.pacs.config import resolve_destination

        with _store(db) as store:
            refreshed = refresh_clips(store, resolve_destination(pacs), study=study)
        typer.echo(f"PACS clips: {refreshed.checked} checked, {refreshed.fetched} fetched again", err=True)
    with _store(db) as store, _bar() as progress:
        summary = run_study(store, study=study, workers=workers, scheduler=scheduler, retry_failed=retry_failed,
                            options=RunOptions(model=model, motion=not no_motion, fps=fps, kinetics=kinetics),
                            progress=progress)
        if summary.analysed:
            _audit(store, "analysis", study, {"analysed": summary.analysed, "failed": summary.failed})
    typer.echo(summary.line())


@study_app.command("stats")
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
          study: StudyOption = None, db: DbOption = DEFAULT_DB) -> None:
    """Pattern proportions, correlations with Ki-67, grade/site comparisons, ROC and reader agreement."""
    from ceuskit.report import stats_lines
    from ceuskit.study import study_stats

    with _store(db) as store:
        result = study_stats(store, study)
    typer.echo(json.dumps(result, indent=1) if as_json else "\n".join(stats_lines(result)))


@study_app.command("export")
def export(out: Annotated[Path, typer.Option("--out", help="lesions.csv, .parquet or .xlsx.")],
           study: StudyOption = None, db: DbOption = DEFAULT_DB) -> None:
    """One row per lesion: ids, clinical fields, every parameter and label."""
    from ceuskit.study import cohort_frame, export_table

    with _store(db) as store:
        frame = cohort_frame(store, study)
        written = export_table(frame, out)
        _audit(store, "export", study, {"format": written.suffix.lstrip(".")})
    typer.echo(f"wrote {len(frame)} lesion(s) to {written}")


@study_app.command("report")
def report(out: Annotated[Path, typer.Option("--out", help="Folder for report.html and report.pdf.")],
           study: StudyOption = None, db: DbOption = DEFAULT_DB) -> None:
    """Write the cohort report (HTML, self-contained, and its PDF by Chromium) beside the seed study's figures."""
    from ceuskit.report import write_report
    from ceuskit.study import cohort_frame, cohort_stats

    with _store(db) as store:
        frame = cohort_frame(store, study)
        path = write_report(store, out, frame=frame, result=cohort_stats(frame), study=study)
        pdf = path.with_suffix(".pdf")
        _audit(store, "report", study, {"format": "html+pdf" if pdf.exists() else "html"})
    if pdf.exists():
        typer.echo(f"wrote {path} and {pdf}")
    else:
        typer.echo(f"wrote {path} (no PDF: it is printed by Chromium, which is not installed; apt install chromium "
                   "or set CEUSKIT_CHROMIUM)")


def _audit(store: Store, action: str, study: str | None, detail: dict[str, object]) -> None:
    """Record a command-line export, report or analysis run in the audit log (actor ``cli:OSUSER``)."""
    from ceuskit.cli.accounts import cli_actor
    from ceuskit.store import study_id_of
    from ceuskit.store.audit import record_event

    record_event(store, cli_actor(), action, target=f"study:{study_id_of(store, study)}", detail=detail)


class _bar:
    """A rich progress bar on stderr driven by ``progress(done, total, label)`` (silent when not a terminal)."""

    def __enter__(self) -> Callable[[int, int, str], None]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from ceuskit.cli.progress import stderr_console

        self._progress = None
        if not sys.stderr.isatty():
            return lambda done, total, label: None
        self._progress = Progress(TextColumn("analysing lesions"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), TextColumn("{task.description}"),
                                  console=stderr_console, transient=True)
        self._progress.__enter__()
        task = self._progress.add_task("", total=None)

        def update(done: int, total: int, label: str) -> None:
            assert self._progress is not None
            self._progress.update(task, completed=done, total=total, description=label)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
