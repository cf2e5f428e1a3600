"""Migration 0003 (several clips per lesion) on SQLite and on a real PostgreSQL server: nothing lost, nothing redone.

The old database is written with plain SQL into the 0002 tables (``old_databases.py``), with the input hashes
ceuskit 0.1.0 recorded; the facts after the migration are read back with plain SQL and through the API.
"""

from __future__ import annotations

import json
from pathlib import Path

from cohort_fakes import fake_analyze_examination, roi_document, write_cohort
from old_databases import downgrade_to, migrate_to, table_rows, write_old_study
from sqlalchemy import create_engine, inspect, text

from ceuskit import store, study

OLD_TABLES = ("studies", "patients", "clips", "lesions", "rois", "analyses", "reader_reads", "users", "audit_events")


def _old_columns(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {table: [c["name"] for c in inspect(conn).get_columns(table)] for table in OLD_TABLES}
    finally:
        engine.dispose()


def test_migration_0003_keeps_a_0002_database_whole(db_url: str, tmp_path: Path) -> None:
    migrate_to(db_url, "0002")
    lesions, _ = study.read_manifest(write_cohort(tmp_path / "cohort"))
    write_old_study(db_url, lesions, study.read_reads(tmp_path / "cohort" / "reads.csv"))
    columns = _old_columns(db_url)
    before = table_rows(db_url, OLD_TABLES, columns)
    assert len(before["lesions"]) == 10 and len(before["analyses"]) == 10 and len(before["reader_reads"]) == 20
    with store.Store(db_url) as db:  # opening migrates to 0003
        assert table_rows(db_url, OLD_TABLES, columns) == before  # every old row and value as it was
        engine = create_engine(db_url)
        with engine.connect() as conn:
            linked = conn.execute(text("SELECT lesion_id, position, clip_id, offset_s FROM lesion_clips "
                                       "ORDER BY lesion_id")).all()
            first_clips = conn.execute(text("SELECT id, clip_id FROM lesions ORDER BY id")).all()
            positions = {row[0] for row in conn.execute(text("SELECT position FROM rois"))}
        engine.dispose()
        assert [tuple(r) for r in linked] == [(lesion, 0, clip, None) for lesion, clip in first_clips]
        assert positions == {0}
        for row, lesion in zip(lesions, sorted(store.get_study(db)["patients"], key=lambda p: p["patient"]),
                               strict=True):
            found = store.get_lesion(db, lesion["lesions"][0]["id"])
            assert [c["path"] for c in found["clips"]] == [row.clips[0].path]
            assert found["clips"][0]["rois"] == found["rois"] == row.clips[0].rois
        # the analyses ceuskit 0.1.0 stored are still current: nothing is analysed again
        summary = study.run_study(db, workers=0, analyze_examination=fake_analyze_examination)
        assert summary.line() == "0 analysed, 10 up to date"
        assert len(store.reader_reads(db)) == 20
        frame = study.cohort_frame(db)
        assert (frame["n_clips"] == 1).all() and (frame["analysis_status"] == "ok").all()


def test_downgrade_to_0002_keeps_the_first_clips(db_url: str, tmp_path: Path) -> None:
    with store.Store(db_url) as db:
        study.import_manifest(db, write_cohort(tmp_path / "cohort"))
        lesion_id = int(study.cohort_frame(db)["lesion_db_id"][0])
        sweep = tmp_path / "cohort" / "clips" / "sweep.dcm"
        sweep.write_text(json.dumps({"late": "hypo"}))
        store.add_lesion_clip(db, lesion_id, store.ClipInput(path=str(sweep), sha256="b" * 64, rois=roi_document()))
        assert store.get_lesion(db, lesion_id)["n_clips"] == 2
        first_rois = table_rows(db_url, ["rois"], {"rois": ["id", "lesion_id", "document", "sha256"]})
    version, unique = downgrade_to(db_url, "0002")
    assert version == "0002" and "lesion_clips" not in unique
    assert unique["rois"] == [["lesion_id"]]
    kept = table_rows(db_url, ["rois"], {"rois": ["id", "lesion_id", "document", "sha256"]})
    assert kept["rois"] == [row for row in first_rois["rois"] if row[0] != max(r[0] for r in first_rois["rois"])]
    with store.Store(db_url) as db:  # and up again
        assert store.get_lesion(db, lesion_id)["n_clips"] == 1
