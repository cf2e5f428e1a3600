"""Databases as older ceuskit versions left them, written with plain SQL into the tables of that revision.

The current ORM cannot write an older schema, so these helpers migrate an empty database to an old revision
with Alembic, reflect its tables and insert a study the way that version stored it: one clip and one ROI set
per lesion, reader reads, and an analysis per lesion whose input hash is the one ceuskit 0.1.0 computed
before examinations existed (``study/runner.py`` at that time: SHA-256 of the canonical JSON of the clip's
SHA-256, the ROI document's SHA-256, the ROI name and the parameters' SHA-256).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import MetaData, create_engine, inspect, text

from ceuskit.store import LesionInput, ReadInput, canonical_sha256

OLD_PARAMETERS = {"model": "auto", "motion": True, "fps": None}
"""The run options of the analyses stored in an old database (``RunOptions()`` then and now)."""


def migrate_to(url: str, revision: str) -> None:
    """Create the schema of ``revision`` in the (empty) database at ``url``."""
    from alembic import command

    from ceuskit.store.database import _alembic_config

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), revision)
    finally:
        engine.dispose()


def downgrade_to(url: str, revision: str) -> tuple[str, dict[str, list[list[str]]]]:
    """Downgrade the database at ``url`` to ``revision``; return its Alembic version afterwards and, per
    table, the column lists of its unique constraints."""
    from alembic import command

    from ceuskit.store.database import _alembic_config

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), revision)
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            schema = inspect(conn)
            unique = {table: [c["column_names"] for c in schema.get_unique_constraints(table)]
                      for table in schema.get_table_names()}
    finally:
        engine.dispose()
    return version, unique


def old_input_hash(clip_sha256: str, rois: dict[str, Any], roi_name: str | None, injection_time_s: float,
                   dynamic_range_db: float) -> str:
    """The input hash ceuskit 0.1.0 recorded with a lesion's analysis."""
    parameters = {"injection_time_s": injection_time_s, "dynamic_range_db": dynamic_range_db, **OLD_PARAMETERS}
    return canonical_sha256({"clip_sha256": clip_sha256, "rois": canonical_sha256(rois), "roi_name": roi_name,
                             "parameters": canonical_sha256(parameters)})


def write_old_study(url: str, lesions: Sequence[LesionInput], reads: Sequence[ReadInput] = (), *,
                    analysed: bool = True) -> None:
    """Insert a study (``default``) into a database at an old revision, one clip per lesion, as it stored it.

    With ``analysed`` every lesion gets an "ok" analysis record with a small document and the old input hash.
    """
    engine = create_engine(url)
    now = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
    try:
        with engine.begin() as conn:
            meta = MetaData()
            meta.reflect(conn)
            t = meta.tables
            study_id = conn.execute(t["studies"].insert().values(name="default", created_at=now)).inserted_primary_key[0]
            patients: dict[str, int] = {}
            by_lesion: dict[tuple[str, str], int] = {}
            for row in lesions:
                if row.patient not in patients:
                    patients[row.patient] = conn.execute(t["patients"].insert().values(
                        study_id=study_id, pseudonym=row.patient)).inserted_primary_key[0]
                clip = row.clips[0]
                clip_id = conn.execute(t["clips"].insert().values(
                    path=clip.path, sha256=clip.sha256, size_bytes=clip.size_bytes,
                    mtime_ns=clip.mtime_ns, header=clip.header, created_at=now)).inserted_primary_key[0]
                lesion_id = conn.execute(t["lesions"].insert().values(
                    patient_id=patients[row.patient], label=row.lesion, primary_site=row.primary_site,
                    ki67_percent=row.ki67_percent, who_grade=row.who_grade, who_grade_source=row.who_grade_source,
                    size_mm=row.size_mm, injection_time_s=row.injection_time_s,
                    dynamic_range_db=row.dynamic_range_db, extra=row.extra, clip_id=clip_id)).inserted_primary_key[0]
                by_lesion[(row.patient, row.lesion)] = lesion_id
                conn.execute(t["rois"].insert().values(lesion_id=lesion_id, document=clip.rois, roi_name=row.roi_name,
                                                       sha256=canonical_sha256(clip.rois), updated_at=now))
                if analysed:
                    parameters = {"injection_time_s": row.injection_time_s,
                                  "dynamic_range_db": row.dynamic_range_db, **OLD_PARAMETERS}
                    conn.execute(t["analyses"].insert().values(
                        lesion_id=lesion_id, status="ok", error=None, software_version="0.1.0",
                        document={"lesions": [{"roi": "lesion", "arterial_phase": {"enhancement": "hyper"}}]},
                        parameters=parameters, parameter_hash=canonical_sha256(parameters),
                        input_hash=old_input_hash(clip.sha256, clip.rois, row.roi_name, row.injection_time_s,
                                                  row.dynamic_range_db),
                        started_at=now, finished_at=now))
            for read in reads:
                conn.execute(t["reader_reads"].insert().values(
                    lesion_id=by_lesion[(read.patient, read.lesion)], reader=read.reader, arterial=read.arterial,
                    washout=read.washout, late=read.late, created_at=now))
    finally:
        engine.dispose()


def table_rows(url: str, tables: Sequence[str], columns: dict[str, list[str]] | None = None
               ) -> dict[str, list[tuple]]:
    """Every row of ``tables`` ordered by id (only ``columns[table]`` where given), read with plain SQL."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for table in tables:
                selected = ", ".join(f'"{c}"' for c in (columns or {}).get(table, [])) or "*"
                out[table] = [tuple(row) for row in conn.execute(text(f'SELECT {selected} FROM "{table}" ORDER BY id'))]
            return out
    finally:
        engine.dispose()
