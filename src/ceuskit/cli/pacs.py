"""``ceuskit pacs echo|find|pull|push``: the hospital PACS over DICOMweb (``--url``) or DIMSE (``--dimse``).

Credentials never go on the command line: CEUSKIT_PACS_USERNAME + CEUSKIT_PACS_PASSWORD, CEUSKIT_PACS_TOKEN,
or a config file entry (see ``ceuskit.pacs.config``).  Output names objects by UID; errors never do.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ceuskit.cli.command import app
from ceuskit.errors import InputError

if TYPE_CHECKING:
    from ceuskit.pacs import PacsTarget, StudyRecord

pacs_app = typer.Typer(help="Hospital PACS: search, pull clips, push results (DICOMweb --url or DIMSE --dimse). "
                            "Credentials: CEUSKIT_PACS_USERNAME/CEUSKIT_PACS_PASSWORD or CEUSKIT_PACS_TOKEN, or a "
                            "config file (~/.config/ceuskit/pacs.toml, mode 600).", no_args_is_help=True)
app.add_typer(pacs_app, name="pacs")

UrlOption = Annotated[str | None, typer.Option("--url", help="DICOMweb base URL (e.g. https://pacs/dicom-web), "
                                                              "or the name of a PACS config entry.")]
DimseOption = Annotated[str | None, typer.Option("--dimse", help="DIMSE peer HOST:PORT, or the name of a PACS "
                                                                  "config entry.")]
AetOption = Annotated[str | None, typer.Option("--aet", help="Our AE title (DIMSE; default CEUSKIT).")]
AecOption = Annotated[str | None, typer.Option("--aec", help="The PACS's AE title (DIMSE).")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="PACS config file (TOML; default "
                                                                     "CEUSKIT_PACS_CONFIG or ~/.config/ceuskit/pacs.toml).")]
CaOption = Annotated[Path | None, typer.Option("--ca-bundle", help="PEM file of the site's CA certificates "
                                                                    "(TLS is always verified).")]
TimeoutOption = Annotated[float | None, typer.Option("--timeout", help="Seconds to wait for an answer (default 60).")]
RetriesOption = Annotated[int | None, typer.Option("--retries", help="Tries again after a transient failure "
                                                                     "(default 2, at most 10).")]
TlsOption = Annotated[bool, typer.Option("--tls", help="DIMSE over TLS (the PACS's certificate is verified; "
                                                       "--ca-bundle for a site CA).")]


def target_from_options(url: str | None, dimse: str | None, aet: str | None = None, aec: str | None = None,
                        config: Path | None = None, ca_bundle: Path | None = None, timeout: float | None = None,
                        retries: int | None = None, tls: bool = False) -> PacsTarget:
    """Return the PACS the options name (see :func:`ceuskit.pacs.resolve_target`)."""
    from ceuskit.pacs import resolve_target

    if (aet or aec) and url is not None:
        raise InputError("--aet and --aec are for DIMSE (--dimse), not DICOMweb (--url)")
    return resolve_target(url=url, dimse=dimse, aet=aet, aec=aec, config=config, ca_bundle=ca_bundle,
                          timeout_s=timeout, retries=retries, tls=tls or None)


@contextmanager
def transfer_progress(description: str) -> Iterator[Callable[[int, int, int], None]]:
    """Return a ``progress(done, total, bytes)`` callback drawing a bar on stderr (nothing when not a terminal)."""
    if not sys.stderr.isatty():
        yield lambda done, total, size: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ceuskit.cli.progress import stderr_console

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("instance(s)"),
                  console=stderr_console, transient=True) as bar:
        instances = bar.add_task(description, total=None)

        def update(done: int, total: int, size: int) -> None:
            current = f", current {size / 1e6:.1f} MB" if size else ""
            bar.update(instances, completed=done, total=total, description=f"{description}{current}")

        yield update


@contextmanager
def bytes_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """Return a ``progress(bytes_done, bytes_total)`` callback drawing a bar on stderr (nothing when not a terminal)."""
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from ceuskit.cli.progress import stderr_console

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=stderr_console, transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _human(studies: list[StudyRecord], more: bool) -> str:
    from pydicom.uid import UID

    lines = []
    for study in studies:
        when = " ".join(x for x in (study.date, study.time) if x)
        lines.append(f"study {study.study_uid}  {when or '(no date)'}  {'/'.join(study.modalities) or '-'}  "
                     f"patient {study.patient_id or '-'}  {study.description or ''}".rstrip())
        for series in study.series:
            lines.append(f"  series {series.series_uid}  {series.modality or '-'}  #{series.number or '-'}  "
                         f"{len(series.instances)} instance(s)  {series.description or ''}".rstrip())
            for inst in series.instances:
                kind = UID(inst.sop_class_uid).name if inst.sop_class_uid else "unknown SOP class"
                frames = f"{inst.n_frames} frame(s)" if inst.n_frames else "single frame"
                lines.append(f"    instance {inst.sop_uid}  {frames}  {kind}")
    if not studies:
        lines.append("no study matches")
    if more:
        lines.append(f"more studies match than the {len(studies)} shown: narrow the search or raise --limit")
    return "\n".join(lines)


@pacs_app.command("echo")
def echo(url: UrlOption = None, dimse: DimseOption = None, aet: AetOption = None, aec: AecOption = None,
         config: ConfigOption = None, ca_bundle: CaOption = None, timeout: TimeoutOption = None,
         retries: RetriesOption = None, tls: TlsOption = False) -> None:
    """Check the connection: C-ECHO over DIMSE, a minimal search over DICOMweb (credentials included)."""
    from ceuskit.pacs import connect

    target = target_from_options(url, dimse, aet, aec, config, ca_bundle, timeout, retries, tls)
    with connect(target) as pacs:
        pacs.echo()
    typer.echo(f"the PACS at {target.label} answered ({'C-ECHO' if target.kind == 'dimse' else 'QIDO-RS'})")


@pacs_app.command("find")
def find(url: UrlOption = None, dimse: DimseOption = None,
         patient_id: Annotated[str | None, typer.Option("--patient-id", help="Patient ID (* and ? wildcards).")] = None,
         study_date: Annotated[str | None, typer.Option("--study-date", help="YYYYMMDD, a range YYYYMMDD-YYYYMMDD "
                                                        "(open ends allowed) or ISO 2026-01-01..2026-01-31.")] = None,
         modality: Annotated[str | None, typer.Option("--modality", help="Only studies and series of this "
                                                      "modality, e.g. US.")] = None,
         limit: Annotated[int, typer.Option("--limit", help="At most this many studies.")] = 100,
         as_json: Annotated[bool, typer.Option("--json", help="A JSON list of studies with their series and "
                                               "instances (DICOM keywords as keys).")] = False,
         aet: AetOption = None, aec: AecOption = None, config: ConfigOption = None, ca_bundle: CaOption = None,
         timeout: TimeoutOption = None, retries: RetriesOption = None, tls: TlsOption = False) -> None:
    """Search studies (QIDO-RS or C-FIND) and list them with their series and instances."""
    from ceuskit.pacs import Query, connect, parse_date_range

    query = Query(patient_id=patient_id, study_date=None if study_date is None else parse_date_range(study_date),
                  modality=modality.upper() if modality else None, limit=limit)
    target = target_from_options(url, dimse, aet, aec, config, ca_bundle, timeout, retries, tls)
    with connect(target) as pacs:
        studies, more = pacs.find(query)
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in studies], indent=1))
    else:
        typer.echo(_human(studies, more))


@pacs_app.command("pull")
def pull(out: Annotated[Path, typer.Option("--out", help="Folder for the files (OUT/STUDY/SERIES/INSTANCE.dcm).")],
         study: Annotated[str, typer.Option("--study", help="Study Instance UID.")],
         series: Annotated[str | None, typer.Option("--series", help="Series Instance UID (default: the whole "
                                                    "study).")] = None,
         instance: Annotated[str | None, typer.Option("--instance", help="SOP Instance UID (needs --series).")] = None,
         url: UrlOption = None, dimse: DimseOption = None,
         deidentify: Annotated[bool, typer.Option("--deidentify", help="De-identify every file on its way in "
                                                  "(as `ceuskit deidentify`); only the clean file is written.")] = False,
         key_file: Annotated[Path | None, typer.Option("--key-file", help="De-identification secret (created if "
                                                       "missing): with it a repeated pull finds its files again.")] = None,
         move_port: Annotated[int | None, typer.Option("--move-port", help="DIMSE: retrieve by C-MOVE to us on "
                                                       "this port (the PACS must know our AE title) instead of "
                                                       "C-GET.")] = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
         aet: AetOption = None, aec: AecOption = None, config: ConfigOption = None, ca_bundle: CaOption = None,
         timeout: TimeoutOption = None, retries: RetriesOption = None, tls: TlsOption = False) -> None:
    """Retrieve a study, series or instance (WADO-RS, C-GET or C-MOVE).

    Files are streamed to disk, written atomically, and skipped when already there with the same hash.
    """
    from ceuskit.pacs import connect
    from ceuskit.pacs import pull as run_pull
    from ceuskit.pacs.records import check_uid

    study = check_uid(study, "--study")
    series = None if series is None else check_uid(series, "--series")
    if instance is not None and series is None:
        raise InputError("--instance needs --series (the series it belongs to)")
    instance = None if instance is None else check_uid(instance, "--instance")
    if key_file is not None and not deidentify:
        raise InputError("--key-file is for --deidentify")
    options = None
    if deidentify:
        from ceuskit.io.deid import DeidOptions, load_or_create_key

        options = DeidOptions(key=load_or_create_key(key_file))
    target = target_from_options(url, dimse, aet, aec, config, ca_bundle, timeout, retries, tls)
    with connect(target, move_port=move_port) as pacs, transfer_progress("pulling") as progress:
        result = run_pull(pacs, study, series, instance, out=out, deidentify=options, progress=progress)
    if as_json:
        typer.echo(json.dumps({"files": [str(p) for p in result.files], "fetched": result.fetched,
                               "skipped": result.skipped, "bytes_fetched": result.bytes_fetched}, indent=1))
        return
    for path in result.files:
        typer.echo(str(path))
    typer.echo(f"pulled {result.fetched} file(s), {result.bytes_fetched / 1e6:.1f} MB, into {out}; "
               f"{result.skipped} already there unchanged", err=True)


@pacs_app.command("push")
def push(files: Annotated[list[Path], typer.Argument(help="DICOM files, or folders of them.")],
         url: UrlOption = None, dimse: DimseOption = None, aet: AetOption = None, aec: AecOption = None,
         config: ConfigOption = None, ca_bundle: CaOption = None, timeout: TimeoutOption = None,
         retries: RetriesOption = None, tls: TlsOption = False) -> None:
    """Store DICOM files in the PACS (STOW-RS or C-STORE), each in its own encoding."""
    from ceuskit.pacs import connect
    from ceuskit.pacs import push as run_push

    target = target_from_options(url, dimse, aet, aec, config, ca_bundle, timeout, retries, tls)
    with connect(target) as pacs, bytes_progress("pushing") as progress:
        result = run_push(pacs, files, progress=progress)
    typer.echo(f"stored {result.stored} object(s) in the PACS at {target.label}")
