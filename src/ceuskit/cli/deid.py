"""``ceuskit deidentify``: DICOM PS3.15 Basic Profile with clean pixels, for a file or a folder tree."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer

from ceuskit.cli.command import app
from ceuskit.cli.progress import progress_bar
from ceuskit.errors import InputError


def _region(text: str | None) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--region {text!r} must be four integers x0,y0,x1,y1 (pixels, x1/y1 exclusive)") from None
    if x1 <= x0 or y1 <= y0 or min(x0, y0) < 0:
        raise InputError(f"--region {text!r} is empty or negative: need 0 <= x0 < x1 and 0 <= y0 < y1")
    return (x0, y0, x1, y1)


@app.command("deidentify")
def deidentify(source: Annotated[Path, typer.Argument(help="A DICOM file or a folder tree of them.")],
               out: Annotated[Path, typer.Argument(help="Output file, or folder (the tree is mirrored).")],
               key_file: Annotated[Path | None, typer.Option(
                   "--key-file", help="Secret for pseudonyms, UIDs and date shifts (created if missing); the "
                   "same key gives the same results. Without it a random key is used for this run.")] = None,
               map_file: Annotated[Path | None, typer.Option(
                   "--map", help="Write the original patient id → pseudonym table here (CSV). Off by default: "
                   "it identifies patients; keep it safe.")] = None,
               remove_dates: Annotated[bool, typer.Option(
                   "--remove-dates", help="Empty dates and times instead of shifting dates per patient.")] = False,
               keep_pixels: Annotated[bool, typer.Option(
                   "--keep-pixels", help="Do not blank the pixels outside the ultrasound regions.")] = False,
               region: Annotated[str | None, typer.Option(
                   "--region", help="Image area x0,y0,x1,y1 to keep, for files without ultrasound regions.")] = None,
               ) -> None:
    """De-identify DICOM files; print counts and paths only, never an identifier.

    Identifying attributes removed or replaced, new UIDs, dates shifted, burned-in text outside the ultrasound
    image blanked.
    """
    from ceuskit.io.deid import DeidOptions, deidentify_tree, load_or_create_key

    options = DeidOptions(key=load_or_create_key(key_file), remove_dates=remove_dates,
                          clean_pixels=not keep_pixels, region=_region(region))
    with progress_bar("de-identifying") as progress:
        summary = deidentify_tree(source, out, options, progress=progress)
    if map_file is not None:
        from ceuskit._atomic import atomic_path

        with atomic_path(map_file) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["patient_id", "pseudonym"])
            writer.writerows(sorted(summary.pseudonyms.items()))
    mapped = f"; map: {map_file}" if map_file else ""
    typer.echo(f"de-identified {summary.written} file(s) into {out}; {summary.skipped} other file(s) skipped "
               f"(not DICOM, or links); {len(summary.pseudonyms)} patient(s){mapped}")
    for relative, message in summary.failed:
        typer.echo(f"  failed: {relative}: {message}", err=True)
    if summary.failed:
        raise InputError(f"{len(summary.failed)} file(s) could not be de-identified (listed above); "
                         "nothing was written for them")
