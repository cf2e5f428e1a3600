"""A manifest row's files: its clips (local, or fetched from the PACS) and the ROI document drawn on each.

The ``clip`` and ``roi`` cells may list an examination's files separated by ``;`` (a continuous loop, then
late-phase sweeps), in the same order (an ROI entry may be a click, ``click:X,Y[@FRAME]``, or ``carry``:
:mod:`~ceuskit.study.proposed`); a ``clip`` cell may instead name one curve table (its ``roi`` cell
empty, ``curve_units``, ``curve_time_column`` and ``curve_columns`` cells as ``ceuskit analyze CURVES``'s
options); an optional ``clip_offset_s`` cell lists, the same way, an explicit
start for clips whose files state no acquisition time (empty entries: by acquisition time).  Paths are
relative to the manifest.  Every problem is a :class:`~ceuskit.errors.ManifestError` naming the line.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from ceuskit.errors import CeusError, InputError, ManifestError, RoiError
from ceuskit.io.clip import source_sha256
from ceuskit.io.dicom import read_header_summary
from ceuskit.store import ClipInput, no_rois
from ceuskit.study.proposed import CARRY, carried_document, expand_cells, is_click, proposed_document

__all__ = ["CURVE_COLUMNS", "clip_from_file", "clip_header_summary", "curve_document", "injection_from_clips",
           "roi_document", "row_clips", "split_cell"]

CURVE_COLUMNS = ("curve_units", "curve_time_column", "curve_columns")
"""Manifest cells for a ``clip`` that names a curve table: ``--units``, ``--time-column`` and ``--column``
(``lesion=NAME;parenchyma=NAME``) of ``ceuskit analyze CURVES``."""


def clip_header_summary(path: Path) -> dict[str, Any]:
    """Summarise a clip file without identifying anyone, for storing with its lesion.

    The summary is the file's ``name`` and ``format`` (its suffix, or ``"folder"``), its ``size_bytes``,
    and for a readable DICOM file ``format = "dicom"`` with the header's identity-free technical facts
    (``ceuskit.io.dicom.header_summary``, keyed by DICOM keyword).

    Parameters
    ----------
    path : Path
        The clip: a file or a folder of frames.

    Returns
    -------
    dict
        JSON-ready facts; a file that is not DICOM, or is damaged, gets what can be said without its header.
    """
    summary: dict[str, Any] = {"name": path.name, "format": "folder" if path.is_dir() else path.suffix.lower().lstrip(".")}
    if path.is_dir():
        return summary
    summary["size_bytes"] = path.stat().st_size
    header = read_header_summary(path)
    if header is not None:
        summary["format"] = "dicom"
        summary.update(header)
    return summary


def clip_from_file(path: str | Path, *, rois: dict[str, Any] | None = None, offset_s: float | None = None,
                   provenance: dict[str, Any] | None = None) -> ClipInput:
    """Make a clip file (or folder of frames) into one clip of a lesion's examination, ready to store.

    The store's :class:`~ceuskit.store.inputs.ClipInput` is a plain value and the store reads no file, so
    the clip is made here, in the study layer, which reads files (``io``) and stores (``store``).

    Parameters
    ----------
    path : str or Path
        The clip, as it will be stored (resolve it first if it should be absolute).
    rois : dict, optional
        The ROI document drawn on it (DESIGN's ROI JSON); None: no ROI drawn yet
        (:func:`~ceuskit.store.inputs.no_rois`).
    offset_s : float, optional
        Its start, s after the examination's first frame, for a clip whose file states no acquisition time
        (None: placed by its acquisition time).
    provenance : dict, optional
        Where the clip was fetched from (a PACS: server, ``dicomweb:`` reference, time), kept as the header
        summary's ``pacs``.

    Returns
    -------
    ClipInput
        Its SHA-256 (``ceuskit.io.clip.source_sha256``), size and modification time (None for a folder)
        and identity-free header summary (:func:`clip_header_summary`).

    Raises
    ------
    OSError
        The file cannot be read.
    """
    path = Path(path)
    stat = path.stat()
    header = clip_header_summary(path)
    if provenance is not None:
        header["pacs"] = provenance
    folder = path.is_dir()
    return ClipInput(path=str(path), sha256=source_sha256(path), rois=no_rois() if rois is None else rois,
                     size_bytes=None if folder else stat.st_size, mtime_ns=None if folder else stat.st_mtime_ns,
                     header=header, offset_s=offset_s)


def roi_document(line: int, path: Path, roi_name: str | None) -> dict[str, Any]:
    """Return the ROI document of an ROI file (JSON, or a PNG/NIfTI label mask), checked.

    ``roi_name`` must name one of its lesion ROIs.
    """
    from ceuskit.io.rois import load_rois
    from ceuskit.roi import parse_rois

    try:
        if path.suffix.lower() == ".json":
            document = json.loads(path.read_text(encoding="utf-8"))
            roi_set = parse_rois(document, pixel_spacing_mm=(1.0, 1.0), source=path.name)
        else:
            roi_set = load_rois(path)
            document = roi_set.to_json()
    except (RoiError, UnicodeDecodeError, ValueError, RecursionError, OSError) as exc:  # ValueError: JSON, huge ints
        raise ManifestError(f"line {line}: roi {path.name}: {str(exc).splitlines()[0]}") from None
    names = [r.name for r in roi_set.lesions]
    if roi_name is not None and roi_name not in names:
        raise ManifestError(f"line {line}: roi_name {roi_name!r} is not a lesion ROI of {path.name} "
                            f"(lesion ROIs: {', '.join(names)})")
    return dict(document)


def _pacs_clip(line: int, cell: str, pacs: Any) -> Any:
    """Return the PACS clip a ``dicomweb:`` cell names, fetched (None for a local path).

    ManifestError naming the line for a bad reference or an object the PACS lacks.  A PACS that cannot be
    reached stops the import.
    """
    from ceuskit.errors import PacsNotFoundError
    from ceuskit.pacs.records import parse_ref

    try:
        ref = parse_ref(cell)
        if ref is not None and pacs is None:
            raise InputError("the clip is a PACS object: give the PACS with --pacs URL (or a config entry name)")
        return None if ref is None else pacs.resolve(ref)
    except (InputError, PacsNotFoundError) as exc:
        raise ManifestError(f"line {line}: {exc}") from None


def split_cell(line: int, column: str, text: str, *, empty_entries: bool = False) -> list[str]:
    """Return the ``;``-separated entries of a cell, stripped (one entry when there is no ``;``).

    An empty entry is a ManifestError unless ``empty_entries``.
    """
    entries = [entry.strip() for entry in text.split(";")]
    if not empty_entries and any(not entry for entry in entries):
        raise ManifestError(f"line {line}: {column} lists an empty entry; separate an examination's files with "
                            "';' and leave none empty")
    return entries


def _offsets(line: int, text: str, n: int) -> list[float | None]:
    if not text.strip():
        return [None] * n
    entries = split_cell(line, "clip_offset_s", text, empty_entries=True)
    if len(entries) != n:
        raise ManifestError(f"line {line}: clip_offset_s lists {len(entries)} offset(s) for {n} clip(s); give one "
                            "per clip in the same order (empty: by acquisition time)")
    offsets: list[float | None] = []
    for entry in entries:
        try:
            value = None if not entry else float(entry)
        except ValueError:
            raise ManifestError(f"line {line}: clip_offset_s {entry!r} is not a number of seconds") from None
        if value is not None and not math.isfinite(value):
            raise ManifestError(f"line {line}: clip_offset_s {entry!r} is not a number of seconds")
        offsets.append(value)
    return offsets


def _one_clip(line: int, clip_cell: str, roi_cell: str, base: Path, roi_name: str | None, offset: float | None,
              pacs: Any, dynamic_range_db: float = 60.0) -> ClipInput:
    fetched = _pacs_clip(line, clip_cell, pacs)
    proposed = is_click(roi_cell) or roi_cell.strip().lower() == CARRY
    try:  # a NUL byte or an over-long name is not a path; a device or FIFO is not a clip (reading it hangs)
        clip_path = fetched.path if fetched is not None else (base / clip_cell).resolve()
        roi_path = (base / roi_cell).resolve()
        clip_found, roi_found = clip_path.is_file() or clip_path.is_dir(), proposed or roi_path.is_file()
    except (OSError, ValueError) as exc:
        raise ManifestError(f"line {line}: clip {clip_cell!r} or roi {roi_cell!r} is not a usable path "
                            f"({exc})") from None
    if not clip_found:
        raise ManifestError(f"line {line}: clip {clip_cell} not found as a file or folder (paths are relative "
                            "to the manifest)")
    if not roi_found:
        raise ManifestError(f"line {line}: roi {roi_cell} not found as a file (paths are relative to the "
                            "manifest)")
    if is_click(roi_cell):
        document = proposed_document(line, str(clip_path), roi_cell, dynamic_range_db=dynamic_range_db)
        if roi_name is not None and roi_name != "lesion":
            raise ManifestError(f"line {line}: roi_name {roi_name!r}: a proposed lesion ROI is named 'lesion'")
    elif proposed:
        document = {}  # carried from the first clip by row_clips
    else:
        document = roi_document(line, roi_path, roi_name)
    return clip_from_file(clip_path, rois=document, offset_s=offset,
                          provenance=None if fetched is None else fetched.provenance)


def curve_document(table: Any, *, units: str | None, time_column: str | None,
                   columns: list[tuple[str, str]] | None) -> dict[str, Any]:
    """Return the ROI document stored for a lesion read from a curve table.

    Its curves as ROIs (shape "curve") and, under ``curves``, the options that read it again
    (:func:`ceuskit.curve_analysis.analyze_curves`).
    """
    return {"reference_frame": 0, "units": "px",
            "rois": [{"name": name, "role": table.roles[name], "shape": "curve"} for name in table.names],
            "curves": {"units": units, "time_column": time_column,
                       "columns": None if not columns else [list(pair) for pair in columns]}}


def _curve_clip(line: int, row: dict[str, str], base: Path, roi_name: str | None) -> ClipInput | None:
    """Return the ClipInput of a row whose ``clip`` names a curve table (its ``roi`` cell empty), else None."""
    from ceuskit.io.curves import is_curve_file, read_curves

    cell = row["clip"].strip()
    try:
        path = (base / cell).resolve()
        curves = ";" not in cell and path.exists() and is_curve_file(path)
    except (OSError, ValueError):
        return None
    if not curves:
        if any(row.get(column) for column in CURVE_COLUMNS):
            raise ManifestError(f"line {line}: {', '.join(CURVE_COLUMNS)} are for a clip cell naming one curve "
                                "table (.csv, .tsv, .txt, .xlsx or a folder of them)")
        return None
    if row.get("roi"):
        raise ManifestError(f"line {line}: a curve table needs no roi file; leave the roi cell empty")
    columns = []
    for entry in split_cell(line, "curve_columns", row["curve_columns"]) if row.get("curve_columns") else []:
        role, sep, name = entry.partition("=")
        if not sep or role.strip() not in ("lesion", "parenchyma") or not name.strip():
            raise ManifestError(f"line {line}: curve_columns {entry!r} must be ROLE=NAME, ROLE lesion or parenchyma")
        columns.append((role.strip(), name.strip()))
    units, time_column = row.get("curve_units") or None, row.get("curve_time_column") or None
    try:
        table = read_curves(path, time_column=time_column, columns=columns or None, units=units)
    except CeusError as exc:
        raise ManifestError(f"line {line}: {str(exc).splitlines()[0]}") from None  # it names the file
    lesions = [name for name in table.names if table.roles[name] == "lesion"]
    if roi_name is not None and roi_name not in lesions:
        raise ManifestError(f"line {line}: roi_name {roi_name!r} is not a lesion curve of {cell} (lesion curves: "
                            f"{', '.join(lesions)})")
    return clip_from_file(path, rois=curve_document(table, units=units, time_column=time_column,
                                                    columns=columns or None))


def row_clips(line: int, row: dict[str, str], base: Path, *, roi_name: str | None, pacs: Any = None
              ) -> list[ClipInput]:
    """Return the clips of a manifest row (its ``clip``, ``roi`` and ``clip_offset_s`` cells), in the listed order.

    Raises
    ------
    ManifestError
        Naming the line: lists of different lengths, an empty entry, a clip listed twice, a file not found,
        a bad ROI document, a bad offset.
    """
    curve = _curve_clip(line, row, base, roi_name)
    if curve is not None:
        return [curve]
    if not row.get("roi"):
        raise ManifestError(f"line {line}: roi is empty")
    clips = split_cell(line, "clip", row["clip"])
    rois = expand_cells(line, split_cell(line, "roi", row["roi"]), len(clips))
    if len(clips) != len(rois):
        raise ManifestError(f"line {line}: clip lists {len(clips)} file(s) but roi lists {len(rois)}; give one ROI "
                            "file per clip, in the same order, separated by ';'")
    offsets = _offsets(line, row.get("clip_offset_s", ""), len(clips))
    try:
        dynamic_range = float(row.get("dynamic_range_db") or 60.0)
    except ValueError:
        dynamic_range = 60.0  # the row's own check names the bad value
    out = [_one_clip(line, clip, roi, base, roi_name, offset, pacs, dynamic_range)
           for clip, roi, offset in zip(clips, rois, offsets, strict=True)]
    for k, roi in enumerate(rois):  # sweeps whose ROIs are the first clip's, found again
        if k and roi.strip().lower() == CARRY:
            out[k] = replace(out[k], rois=carried_document(line, out[0].path, out[0].rois, out[k].path,
                                                           dynamic_range_db=dynamic_range))
    paths = [item.path for item in out]
    for k, path in enumerate(paths):
        if path in paths[:k]:
            raise ManifestError(f"line {line}: clip {clips[k]} is listed twice")
    return out


def injection_from_clips(line: int, clips: list[ClipInput]) -> float:
    """Return the injection moment for ``injection_time_s`` = ``auto``.

    Taken from the clips' Contrast/Bolus Start Time, in seconds after the earliest clip's first frame
    (:func:`ceuskit.io.examination.injection_from_header`).
    """
    from ceuskit.io import open_clip
    from ceuskit.io.examination import injection_from_header

    opened = []
    try:
        for item in clips:
            opened.append(open_clip(item.path))
        injection, _agent = injection_from_header(opened, [item.offset_s for item in clips])
    except CeusError as exc:
        raise ManifestError(f"line {line}: injection_time_s auto: {str(exc).splitlines()[0]}") from None
    finally:
        for clip in opened:
            clip.close()
    return injection
