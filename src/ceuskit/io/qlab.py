"""Philips QLAB "ROI Quantification" text exports, read as they come.

The export is UTF-16 text, tab-separated: a header block (the exported file, the patient, the plug-in),
then sections separated by lines of ``--------`` cells — among them a result block listing each ROI's area
in mm² — and a table whose columns are ``Absolute Time(sec)``, then ``ROI n Echo Std Dev(dB)`` and
``ROI n Echo Mean(dB)`` for each ROI. Only the table and the areas are read: nothing of the header block
(patient lines included) is kept, returned or quoted in a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ceuskit.errors import CurveError

__all__ = ["QlabExport", "is_qlab", "parse_qlab"]

_MEAN = re.compile(r"^(ROI\s*\d+)\s+Echo\s+Mean\s*\(\s*dB\s*\)$", re.IGNORECASE)
_TIME = re.compile(r"^absolute\s+time\s*\(\s*sec", re.IGNORECASE)
_ROI = re.compile(r"^(ROI)\s*(\d+)\b", re.IGNORECASE)
_SEPARATOR = re.compile(r"^-{3,}$")


@dataclass(frozen=True)
class QlabExport:
    """What a QLAB ROI Quantification export holds for ceuskit.

    Attributes
    ----------
    times_s : (T,) the ``Absolute Time(sec)`` column.
    mean_db : ROI name ("ROI 1", …) → (T,) ``Echo Mean(dB)``, NaN where the export has no number.
    areas_mm2 : ROI name → area in mm² from the result block (ROIs it does not list are absent).
    time_column : the time column's heading as written.
    """

    times_s: np.ndarray
    mean_db: dict[str, np.ndarray]
    areas_mm2: dict[str, float]
    time_column: str


def is_qlab(text: str) -> bool:
    """Return True when ``text`` holds a QLAB ROI Quantification table.

    Such a table has an ``ROI n Echo Mean(dB)`` heading.
    """
    return any(_MEAN.match(cell.strip()) for line in text.splitlines()[:400] for cell in line.split("\t"))


def _number(cell: str) -> float:
    text = cell.strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _roi_name(cell: str) -> str | None:
    found = _ROI.match(cell.strip())
    return None if found is None else f"ROI {int(found.group(2))}"


def _rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("\t")] for line in text.splitlines()]


def _is_separator(row: list[str]) -> bool:
    cells = [c for c in row if c]
    return bool(cells) and all(_SEPARATOR.match(c) for c in cells)


def _areas(rows: list[list[str]]) -> dict[str, float]:
    """ROI areas (mm²) from the rows before the table.

    An ``Area`` column of a small table, or a cell naming an ROI and its area followed by the number.
    """
    areas: dict[str, float] = {}
    column: int | None = None
    for row in rows:
        if _is_separator(row):
            column = None
            continue
        heading = next((i for i, c in enumerate(row) if "area" in c.lower() and _roi_name(c) is None), None)
        if heading is not None and not any(np.isfinite(_number(c)) for c in row):
            column = heading
            continue
        for i, cell in enumerate(row):
            name = _roi_name(cell)
            if name is None:
                continue
            if "area" in cell.lower():
                value = next((_number(c) for c in row[i + 1:] if np.isfinite(_number(c))), float("nan"))
            elif column is not None and column < len(row):
                value = _number(row[column])
            else:
                continue
            if np.isfinite(value) and value > 0:
                areas[name] = value
    return areas


def parse_qlab(text: str, source: str) -> QlabExport:
    """Read the curves and areas of a QLAB ROI Quantification export (decoded text).

    Parameters
    ----------
    text : the file's text (decoded from UTF-16 by the caller).
    source : the file's name, for messages.

    Returns
    -------
    QlabExport

    Raises
    ------
    CurveError
        No ``Absolute Time(sec)`` heading, no ``ROI n Echo Mean(dB)`` column, or no numeric row under them.
    """
    rows = _rows(text)
    header = next((k for k, row in enumerate(rows) if any(_MEAN.match(c) for c in row)), None)
    if header is None:
        raise CurveError(f"{source}: no 'ROI n Echo Mean(dB)' column: not a QLAB ROI Quantification table")
    cells = rows[header]
    time_at = next((i for i, c in enumerate(cells) if _TIME.match(c)), None)
    if time_at is None:
        raise CurveError(f"{source}: the QLAB table has no 'Absolute Time(sec)' column")
    means: dict[str, int] = {}
    for i, cell in enumerate(cells):
        found = _MEAN.match(cell)
        if found is not None:
            means[_roi_name(found.group(1)) or found.group(1)] = i
    data = []
    for row in rows[header + 1:]:
        if _is_separator(row) or not any(row):
            break
        time = _number(row[time_at]) if time_at < len(row) else float("nan")
        if not np.isfinite(time):
            break
        data.append([time] + [_number(row[i]) if i < len(row) else float("nan") for i in means.values()])
    if not data:
        raise CurveError(f"{source}: the QLAB table has no rows of numbers under its headings")
    table = np.asarray(data, dtype=float)
    curves = {name: table[:, k + 1] for k, name in enumerate(means)}
    return QlabExport(table[:, 0], curves, _areas(rows[:header]), cells[time_at])
