"""Reading time–intensity curves that come without a clip: tables and vendor exports → :class:`CurveTable`.

Researchers often hold curves rather than clips. :func:`read_curves` reads

* CSV, TSV and XLSX **wide** tables: a time column and one column per ROI (``ROI_mean`` columns are taken
  when ``_min``/``_max``/``_std`` columns sit beside them);
* **long** tables: one row per ROI and time (a text column naming the ROI, a time column, a value column);
* a **folder** of one file per ROI (the ROI named by the file, or by its QuantUS segmentation);
* Philips QLAB's "ROI Quantification" text export (:mod:`ceuskit.io.qlab`), in dB;
* Blood-Flow-Analyzer CSV (``Frame,Time_s,Intensity``, one ROI per file);
* QuantUS CSV (``Scan Name``, ``Segmentation Name``, ``Time Array`` and curve columns such as ``TIC``, the
  mean of exp-linearised intensities: linear power).

Time columns are recognised by their usual names (``time``, ``Time_s``, ``Time Array``, ``Absolute
Time(sec)``, ``t``, ``seconds``; ``… (ms)`` in milliseconds); ``time_column`` overrides the guess, and
``columns`` ((role, name) pairs) picks the curves and their roles. Units are what the file says (QLAB and
``(dB)`` columns: dB; QuantUS: linear power) or what ``units`` states; intensities all between 0 and 1 are
refused unless stated (min–max normalised curves have lost the level a reading needs). The values stay in
the file's units here: turning them into linear power is the pipeline's (grey needs the display's dynamic
range).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ceuskit.errors import CurveError
from ceuskit.io.clip import source_sha256
from ceuskit.io.qlab import is_qlab, parse_qlab

__all__ = ["CURVE_SUFFIXES", "UNITS", "CurveTable", "is_curve_file", "read_curves"]

CURVE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx")
"""File suffixes read as curve tables (and the files a curve folder may hold)."""

UNITS = ("grey", "power", "db")
"""Intensity scales: display grey 0–255, linear echo power, or dB (10·log10 power)."""

MAX_ROWS = 2_000_000
"""More rows than this is not a curve table."""

_TIME_NAMES = ("time", "times", "t", "timearray", "absolutetime", "seconds", "sec", "s", "timepoint", "timestamp",
               "elapsedtime", "acquisitiontime")
_FRAME_NAMES = ("frame", "frames", "frameno", "framenumber", "frameindex", "index", "no", "n", "unnamed0")
_LABEL_NAMES = ("roi", "roiname", "region", "name", "label", "segmentation", "segmentationname", "structure")
_QUANTUS = ("Scan Name", "Segmentation Name", "Time Array")
_PARENCHYMA = re.compile(r"liver|parenchym|reference|\bref\b|background|normal|healthy|tissue|leber|foie|fegato",
                         re.IGNORECASE)
_LESION = re.compile(r"lesion|tumou?r|metast|\bmet\b|nodul|mass|hcc|\bnet\b|target|focal|cyst|adenoma", re.IGNORECASE)


@dataclass(frozen=True)
class CurveTable:
    """Curves read from a file or folder, in the file's own units.

    Attributes
    ----------
    source : the path read.
    sha256 : its SHA-256 (a folder: of its files' names and digests).
    format : "table", "long", "folder", "qlab", "blood-flow-analyzer" or "quantus".
    times_s : (T,) increasing sample times, s from the file's time zero.
    names : ROI names, the rows of ``values``.
    values : (n, T) intensities in ``units``; NaN where a curve has no sample.
    units : "grey", "power" or "db".
    roles : ROI name → "lesion" or "parenchyma".
    roles_from : "columns" (given), "names" (recognised in the names) or "order" (lesion first).
    areas_mm2 : ROI name → area, mm², where the file gives one (QLAB).
    time_column : the time column's name as written.
    """

    source: str
    sha256: str
    format: str
    times_s: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray = field(repr=False)
    units: str
    roles: dict[str, str]
    roles_from: str
    areas_mm2: dict[str, float] = field(default_factory=dict)
    time_column: str = ""


@dataclass
class _Raw:
    """One file's curves before the roles and units are settled."""

    format: str
    times: np.ndarray
    curves: dict[str, np.ndarray]
    time_column: str
    units: str | None = None
    areas: dict[str, float] = field(default_factory=dict)


def _key(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def is_curve_file(path: str | Path) -> bool:
    """Return True when ``path`` is a curve table (by suffix) or a folder holding only curve tables."""
    path = Path(path)
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
        return bool(files) and all(p.suffix.lower() in CURVE_SUFFIXES for p in files)
    return path.suffix.lower() in CURVE_SUFFIXES


def _text(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if len(data) >= 4 and data[1:4:2] == b"\x00\x00" and data[0:1] != b"\x00":
        return data.decode("utf-16-le")
    if len(data) >= 4 and data[0:3:2] == b"\x00\x00" and data[1:2] != b"\x00":
        return data.decode("utf-16-be")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _frame_from_text(text: str, source: str) -> pd.DataFrame:
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: first.count(sep) for sep in ("\t", ",", ";")}
    sep = max(counts, key=lambda k: counts[k])
    if counts[sep] == 0:
        raise CurveError(f"{source}: not a table of curves (no tab, comma or semicolon between columns)")
    decimal = "," if sep == ";" else "."
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, nrows=MAX_ROWS + 1)
    except (ValueError, pd.errors.ParserError) as exc:
        raise CurveError(f"{source}: the table cannot be parsed ({str(exc).splitlines()[0]})") from None


def _time_column(frame: pd.DataFrame, given: str | None, source: str) -> tuple[str, float]:
    """Return the time column's name and its factor to seconds (0.001 for milliseconds)."""
    names = [str(c) for c in frame.columns]
    if given is not None and given not in names:
        raise CurveError(f"{source}: no column {given!r} (--time-column); the columns are {', '.join(names)}")
    by_key = {_key(re.sub(r"\(.*?\)|\[.*?\]", "", n)): n for n in names}
    guessed = next((by_key[k] for k in _TIME_NAMES if k in by_key), None)
    found = given or guessed or next((n for n in names if _key(n).startswith("time")), None)
    if found is None:
        raise CurveError(f"{source}: no time column among {', '.join(names)}; name it with --time-column")
    unit = re.search(r"\(\s*(ms|msec|s|sec)\s*\)|_(ms|s)$|\[\s*(ms|s)\s*\]", found, re.IGNORECASE)
    millis = unit is not None and any(g and g.lower().startswith("m") for g in unit.groups())
    return found, 0.001 if millis else 1.0


def _numeric(series: pd.Series) -> np.ndarray:
    return np.asarray(pd.to_numeric(series, errors="coerce"), dtype=float)


def _units_in(names: Sequence[str]) -> str | None:
    return "db" if names and all(re.search(r"\(\s*db\s*\)|[_ ]db$", n, re.IGNORECASE) for n in names) else None


def _from_frame(frame: pd.DataFrame, source: str, time_column: str | None) -> _Raw:
    """Return the curves of one parsed table: Blood-Flow-Analyzer, QuantUS, long or wide."""
    if len(frame) > MAX_ROWS:
        raise CurveError(f"{source}: more than {MAX_ROWS} rows is not a table of curves")
    frame = frame.rename(columns=lambda c: str(c).strip())
    columns = list(frame.columns)
    time_name, factor = _time_column(frame, time_column, source)
    times = _numeric(frame[time_name]) * factor
    if all(name in columns for name in _QUANTUS):
        segment = str(frame["Segmentation Name"].iloc[0]).strip() or "roi"
        name = "TIC" if "TIC" in columns else next(
            (c for c in columns if c not in (*_QUANTUS, "Window Index") and np.isfinite(_numeric(frame[c])).any()), None)
        if name is None:
            raise CurveError(f"{source}: the QuantUS table holds no curve column")
        return _Raw("quantus", times, {segment: _numeric(frame[name])}, time_name, units="power")
    label = next((c for c in columns if _key(c) in _LABEL_NAMES and not pd.api.types.is_numeric_dtype(frame[c])),
                 None)
    rest = [c for c in columns if c not in (time_name, label) and _key(c) not in _FRAME_NAMES]
    numeric = [c for c in rest if np.isfinite(_numeric(frame[c])).any()]
    if label is not None:  # long: one row per ROI and time
        if len(numeric) != 1:
            raise CurveError(f"{source}: a long table (ROI column {label!r}) needs one value column, found "
                             f"{len(numeric)}: {', '.join(numeric) or 'none'}")
        curves, grid = {}, np.unique(times[np.isfinite(times)])
        for roi, part in frame.groupby(label, sort=False):
            t, v = _numeric(part[time_name]) * factor, _numeric(part[numeric[0]])
            if np.unique(t[np.isfinite(t)]).size != np.isfinite(t).sum():
                raise CurveError(f"{source}: ROI {roi!r} has two rows for one time")
            curve = np.full(grid.size, np.nan)
            ok = np.isfinite(t)
            curve[np.searchsorted(grid, t[ok])] = v[ok]
            curves[str(roi).strip()] = curve
        return _Raw("long", grid, curves, time_name, _units_in([str(numeric[0])]))
    means = [c for c in numeric if re.search(r"[_ ]mean$", c, re.IGNORECASE)]
    if means and any(re.search(r"[_ ](min|max|std|sd)$", c, re.IGNORECASE) for c in numeric):
        numeric = means
    curves = {re.sub(r"[_ ]mean$", "", c, flags=re.IGNORECASE) if c in means else c: _numeric(frame[c])
              for c in numeric}
    kind = "blood-flow-analyzer" if [_key(c) for c in columns] == ["frame", "times", "intensity"] else "table"
    return _Raw(kind, times, curves, time_name, _units_in(numeric))


def _read_file(path: Path, time_column: str | None) -> _Raw:
    source = path.name
    if path.suffix.lower() == ".xlsx":
        try:
            frame = pd.read_excel(path, sheet_name=0)
        except ImportError:
            raise CurveError("reading .xlsx needs openpyxl: pip install 'ceuskit[study]'") from None
        except (ValueError, OSError) as exc:
            raise CurveError(f"{source}: not a readable Excel workbook ({str(exc).splitlines()[0]})") from None
        return _from_frame(frame, source, time_column)
    try:
        text = _text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise CurveError(f"{source}: cannot be read as text ({exc.__class__.__name__})") from None
    if is_qlab(text):
        export = parse_qlab(text, source)
        return _Raw("qlab", export.times_s, export.mean_db, export.time_column, "db", export.areas_mm2)
    return _from_frame(_frame_from_text(text, source), source, time_column)


def _merge(parts: Sequence[tuple[str, _Raw]]) -> _Raw:
    """Files of one ROI each (a folder) on the union of their times."""
    grid = np.unique(np.concatenate([raw.times[np.isfinite(raw.times)] for _, raw in parts]))
    curves: dict[str, np.ndarray] = {}
    units = {raw.units for _, raw in parts}
    for stem, raw in parts:
        if len(raw.curves) != 1:
            raise CurveError(f"{stem}: a folder holds one file per ROI, this one has {len(raw.curves)} curves "
                             f"({', '.join(raw.curves)})")
        (column, values), = raw.curves.items()
        name = column if raw.format == "quantus" else stem
        if name in curves:
            raise CurveError(f"two files of the folder name the ROI {name!r}")
        ok = np.isfinite(raw.times)
        curve = np.full(grid.size, np.nan)
        curve[np.searchsorted(grid, raw.times[ok])] = values[ok]
        curves[name] = curve
    formats = {raw.format for _, raw in parts}
    kind = formats.pop() if len(formats) == 1 else "folder"
    return _Raw(kind if kind != "table" else "folder", grid, curves, parts[0][1].time_column,
                units.pop() if len(units) == 1 else None)


def _roles(names: Sequence[str], columns: Sequence[tuple[str, str]] | None, source: str
           ) -> tuple[dict[str, str], str]:
    if columns:
        roles: dict[str, str] = {}
        for role, name in columns:
            if role not in ("lesion", "parenchyma"):
                raise CurveError(f"--column {role}={name}: the role must be lesion or parenchyma")
            if name not in names:
                raise CurveError(f"{source}: no curve {name!r} (--column {role}={name}); the curves are "
                                 f"{', '.join(names)}")
            roles[name] = role
        return roles, "columns"
    marked = {n: ("parenchyma" if _PARENCHYMA.search(n) else "lesion" if _LESION.search(n) else "") for n in names}
    if sum(r == "parenchyma" for r in marked.values()) == 1 and all(marked.values()):
        return dict(marked), "names"
    if len(names) == 2:
        return {names[0]: "lesion", names[1]: "parenchyma"}, "order"
    raise CurveError(f"{source}: cannot tell the lesion from its liver reference among {', '.join(names)}; "
                     "say which is which with --column lesion=NAME --column parenchyma=NAME")


def _check_units(values: np.ndarray, units: str | None, source: str) -> str:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise CurveError(f"{source}: the curves hold no number")
    low, high = float(finite.min()), float(finite.max())
    if units is None:
        if low >= 0.0 and high <= 1.0:
            raise CurveError(f"{source}: the intensities all lie between 0 and 1: they look min–max normalised, "
                             "which loses the baseline level the reading needs; export them unnormalised, or "
                             "state what they are with --units grey|power|db")
        raise CurveError(f"{source}: say what the intensities are with --units grey (display grey 0–255, with "
                         "--dynamic-range), power (linear echo power) or db")
    if units not in UNITS:
        raise CurveError(f"--units {units!r} is not one of {', '.join(UNITS)}")
    if units == "grey" and (low < 0.0 or high > 255.0 or high <= 1.0):
        hint = " (min–max normalised?)" if low >= 0.0 and high <= 1.0 else ""
        raise CurveError(f"{source}: display grey lies between 0 and 255, these between {low:g} and {high:g}{hint}; "
                         "give --units power or db if they are not grey")
    if units == "power" and low <= 0.0:
        raise CurveError(f"{source}: linear echo power is positive, these reach {low:g} (min–max normalised or "
                         "baseline-subtracted curves have lost their level); give the original values, or "
                         "--units db or grey if they are those")
    return units


def read_curves(path: str | Path, *, time_column: str | None = None,
                columns: Sequence[tuple[str, str]] | None = None, units: str | None = None) -> CurveTable:
    """Read a table of time–intensity curves, a vendor export, or a folder of one file per ROI.

    Parameters
    ----------
    path : a .csv/.tsv/.txt/.xlsx file or a folder of them.
    time_column : the time column's name (default: recognised by its usual names).
    columns : (role, name) pairs: the curves to read and their roles ("lesion" or "parenchyma"); default:
        every curve, roles recognised in the names (liver, parenchyma, reference… / lesion, tumour…), else
        the first curve the lesion and the second its reference.
    units : "grey", "power" or "db"; default: what the file states (QLAB, ``(dB)`` headings: dB; QuantUS:
        linear power), else required.

    Returns
    -------
    CurveTable
        Times sorted, in s; one row of ``values`` per ROI read.

    Raises
    ------
    CurveError
        Unknown layout, no time column, times that repeat, intensities without stated units or min–max
        normalised, roles that cannot be told.
    """
    path = Path(path)
    source = path.name
    if not path.exists():
        raise CurveError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in CURVE_SUFFIXES
                       and not p.name.startswith("."))
        if not files:
            raise CurveError(f"{source}: the folder holds no curve file ({', '.join(CURVE_SUFFIXES)})")
        raw = _merge([(p.stem, _read_file(p, time_column)) for p in files])
    else:
        raw = _read_file(path, time_column)
    names = list(raw.curves)
    if not names:
        raise CurveError(f"{source}: no curve column beside the time column {raw.time_column!r}")
    roles, roles_from = _roles(names, columns, source)
    names = [n for n in names if n in roles]
    times = raw.times
    order = np.argsort(times, kind="stable")
    keep = order[np.isfinite(times[order])]
    times = times[keep]
    if times.size < 2 or np.any(np.diff(times) <= 0):
        raise CurveError(f"{source}: the times in {raw.time_column!r} must be distinct numbers (at least two)")
    values = np.vstack([raw.curves[n][keep] for n in names])
    chosen = _check_units(values, units or raw.units, source)
    return CurveTable(str(path), source_sha256(path), raw.format, times, tuple(names), values, chosen, roles,
                      roles_from, {n: a for n, a in raw.areas.items() if n in roles}, raw.time_column)
