"""Writing the cohort table to a file: CSV, Parquet or Excel, atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ceuskit._atomic import atomic_path
from ceuskit.errors import InputError

__all__ = ["export_table"]


def export_table(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write the cohort table to ``out`` (.csv, .parquet or .xlsx by suffix), atomically."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet", ".xlsx"):
        raise InputError(f"cannot export to {out.name}: use a .csv, .parquet or .xlsx file name")
    with atomic_path(out) as tmp:
        table = frame.copy()
        for column in table.columns:  # mixed None/str/bool columns: plain strings for parquet and Excel
            if table[column].dtype == object:
                table[column] = table[column].map(lambda v: None if v is None else str(v) if not isinstance(
                    v, str) else v)
        if suffix == ".csv":
            table.to_csv(tmp, index=False)
        elif suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_excel(tmp, index=False, sheet_name="lesions")
    return out
