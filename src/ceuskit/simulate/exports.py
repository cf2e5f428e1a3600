"""Writing simulated curves in the layouts researchers export them in (for tests and demonstrations).

Each writer takes sample times and named curves in linear power (1 = display white) and writes one layout:
a wide table (CSV, TSV, XLSX) in grey, power or dB; a long table; a folder of one file per ROI; a Philips
QLAB "ROI Quantification" text export (UTF-16, tab-separated, a header block with file, patient and plug-in
lines — fake ones —, sections between ``--------`` lines, ROI areas, and ``Absolute Time(sec)`` / ``ROI n Echo
Std Dev(dB)`` / ``ROI n Echo Mean(dB)`` columns); Blood-Flow-Analyzer (``Frame,Time_s,Intensity``, one file per
ROI); QuantUS (``TIC``, ``Scan Name``, ``Segmentation Name``, ``Time Array``, one file per ROI). Grey is the
display's rounded 8-bit value, as a replayed clip shows it (:func:`ceuskit.simulate.replay.replay_curves`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ceuskit._atomic import atomic_path
from ceuskit.errors import InputError
from ceuskit.preprocess.linearize import power_to_grey
from ceuskit.simulate.curve_cases import CurveCase
from ceuskit.simulate.dicom import write_json

__all__ = ["FAKE_PATIENT", "as_units", "write_blood_flow_analyzer", "write_curve_case", "write_long", "write_qlab",
           "write_quantus", "write_roi_folder", "write_wide"]

FAKE_PATIENT = {"name": "TESTPERSON^ALICE", "id": "FAKE-0001", "birth": "01/01/1950"}
"""The fake patient the QLAB export's header names (a test checks it never reaches an output)."""


def as_units(power: np.ndarray, units: str, dynamic_range_db: float = 60.0) -> np.ndarray:
    """Linear power as ``units``: "grey" (the display's rounded 8-bit grey), "power" or "db"."""
    values = np.asarray(power, dtype=float)
    if units == "grey":
        return np.round(power_to_grey(values, dynamic_range_db))
    if units == "db":
        level_db: np.ndarray = 10.0 * np.log10(values)
        return level_db
    if units == "power":
        return values
    raise InputError(f"units {units!r} is not grey, power or db")


def _write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(text.encode(encoding))
    return path


def _frame(times_s: np.ndarray, columns: Mapping[str, np.ndarray], time_column: str) -> pd.DataFrame:
    return pd.DataFrame({time_column: np.asarray(times_s, dtype=float), **{k: np.asarray(v) for k, v in columns.items()}})


def write_wide(path: str | Path, times_s: np.ndarray, curves: Mapping[str, np.ndarray], *, units: str = "grey",
               time_column: str = "Time_s", dynamic_range_db: float = 60.0) -> Path:
    """Return a wide table (``.csv``, ``.tsv`` or ``.xlsx`` by suffix).

    A time column and one column per ROI.
    """
    path = Path(path)
    frame = _frame(times_s, {k: as_units(v, units, dynamic_range_db) for k, v in curves.items()}, time_column)
    if path.suffix.lower() == ".xlsx":
        with atomic_path(path) as tmp:
            frame.to_excel(tmp, index=False, engine="openpyxl")
        return path
    return _write_text(path, frame.to_csv(index=False, sep="\t" if path.suffix.lower() == ".tsv" else ","))


def write_long(path: str | Path, times_s: np.ndarray, curves: Mapping[str, np.ndarray], *, units: str = "power",
               dynamic_range_db: float = 60.0) -> Path:
    """Return a long CSV table: ``roi, time_s, intensity``, one row per ROI and time."""
    rows = [pd.DataFrame({"roi": name, "time_s": np.asarray(times_s, dtype=float),
                          "intensity": as_units(values, units, dynamic_range_db)}) for name, values in curves.items()]
    return _write_text(Path(path), pd.concat(rows).to_csv(index=False))


def write_roi_folder(folder: str | Path, times_s: np.ndarray, curves: Mapping[str, np.ndarray], *,
                     units: str = "db", dynamic_range_db: float = 60.0) -> Path:
    """Return a folder of one CSV per ROI (``NAME.csv``: ``time``, ``mean``)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, values in curves.items():
        frame = _frame(times_s, {"mean": as_units(values, units, dynamic_range_db)}, "time")
        _write_text(out / f"{name}.csv", frame.to_csv(index=False))
    return out


def write_blood_flow_analyzer(folder: str | Path, times_s: np.ndarray, curves: Mapping[str, np.ndarray]) -> Path:
    """Blood-Flow-Analyzer exports, one ``NAME.csv`` per ROI: ``Frame,Time_s,Intensity`` (linear power)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, values in curves.items():
        frame = pd.DataFrame({"Frame": np.arange(1, len(times_s) + 1), "Time_s": np.asarray(times_s, dtype=float),
                              "Intensity": np.asarray(values, dtype=float)})
        _write_text(out / f"{name}.csv", frame.to_csv(index=False))
    return out


def write_quantus(folder: str | Path, times_s: np.ndarray, curves: Mapping[str, np.ndarray], *,
                  scan_name: str = "scan01") -> Path:
    """QuantUS curve exports, one CSV per segmentation.

    ``TIC`` (linear power), ``Scan Name``, ``Segmentation Name``, ``Time Array`` (the column order QuantUS's
    writer gives).
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, values in curves.items():
        frame = pd.DataFrame({"TIC": np.asarray(values, dtype=float), "Scan Name": scan_name,
                              "Segmentation Name": name, "Time Array": np.asarray(times_s, dtype=float)})
        _write_text(out / f"{scan_name}_{name}.csv", frame.to_csv(index=False))
    return out


def write_qlab(path: str | Path, times_s: np.ndarray, curves: Mapping[str, np.ndarray], *,
               areas_mm2: Mapping[str, float] | None = None, std_db: float = 5.6) -> Path:
    """Write a QLAB "ROI Quantification" export of the curves (ROI 1, ROI 2, … in order), UTF-16 with CRLF.

    The header block names a fake file and patient (:data:`FAKE_PATIENT`); ``Echo Mean(dB)`` is 10·log10 of
    each curve, ``Echo Std Dev(dB)`` the constant ``std_db`` (fully developed speckle: 5.6 dB).
    """
    names = list(curves)
    areas = areas_mm2 or {}
    separator = "\t".join(["--------"] * (1 + 2 * len(names)))
    lines = [f"File Name:\tC:\\QLAB\\Export\\{FAKE_PATIENT['id']}_loop.dcm",
             f"Patient Name:\t{FAKE_PATIENT['name']}", f"Patient ID:\t{FAKE_PATIENT['id']}",
             f"Date of Birth:\t{FAKE_PATIENT['birth']}", "Plug-in:\tROI Quantification", "Plug-in Version:\t10.8",
             separator, "Results", "ROI\tArea(mm²)\tEcho Mean(dB)\tEcho Std Dev(dB)"]
    for k, name in enumerate(names):
        mean_db = float(np.nanmean(10 * np.log10(curves[name])))
        lines.append(f"ROI {k + 1}\t{areas.get(name, 100.0 * (k + 1)):.2f}\t{mean_db:.2f}\t{std_db:.2f}")
    lines.append(separator)
    lines.append("\t".join(["Absolute Time(sec)"] + [f"ROI {k + 1} Echo {what}(dB)" for k in range(len(names))
                                                     for what in ("Std Dev", "Mean")]))
    for i, t in enumerate(np.asarray(times_s, dtype=float)):
        cells = [f"{t:.3f}"]
        for name in names:
            cells += [f"{std_db:.2f}", f"{10 * np.log10(curves[name][i]):.3f}"]
        lines.append("\t".join(cells))
    return _write_text(Path(path), "\r\n".join(lines) + "\r\n", encoding="utf-16")


def write_curve_case(folder: str | Path, case: CurveCase) -> list[Path]:
    """Write a simulated curve case in every layout, with its truth (``ceuskit simulate OUT --curves CASE``).

    Writes ``curves.csv`` (dB, time column ``time_s``), ``curves.xlsx`` (60 dB display grey, ``Time_s``),
    ``qlab_export.txt`` (QLAB, fake patient), ``tics/`` (Blood-Flow-Analyzer, one file per ROI, linear power),
    ``quantus/`` (QuantUS, one file per ROI) and ``truth.json``; returns their paths.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    t, curves = case.times_s, case.power
    written = [write_wide(out / "curves.csv", t, curves, units="db", time_column="time_s"),
               write_wide(out / "curves.xlsx", t, curves, units="grey", time_column="Time_s"),
               write_qlab(out / "qlab_export.txt", t, curves),
               write_blood_flow_analyzer(out / "tics", t, curves), write_quantus(out / "quantus", t, curves)]
    truth = {"generator": "ceuskit.simulate.curve_cases", "case": case.name, **case.truth,
             "files": {"curves.csv": "db", "curves.xlsx": "grey (60 dB)", "qlab_export.txt": "db",
                       "tics": "power", "quantus": "power"}}
    write_json(out / "truth.json", truth)
    return [*written, out / "truth.json"]
