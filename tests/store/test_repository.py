"""The study database on SQLite and on a real PostgreSQL server: same API, same results, all-or-nothing writes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from cohort_fakes import COHORT, fake_analyze_examination, roi_document, write_cohort
from sqlalchemy import create_engine, inspect, text

from ceuskit import store, study
from ceuskit.errors import ManifestError, StoreError


def _imported(db_url: str, tmp_path: Path) -> store.Store:
    s = store.Store(db_url)
    study.import_manifest(s, write_cohort(tmp_path / "cohort"))
    return s


def test_upgrade_creates_every_table_and_is_idempotent(db_url: str) -> None:
    store.upgrade(db_url)
    store.upgrade(db_url)  # a second run changes nothing and does not fail
    engine = create_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert {"studies", "patients", "lesions", "lesion_clips", "clips", "rois", "analyses", "reader_reads", "users", "api_tokens",
            "web_sessions", "audit_events", "reading_sessions", "reading_items", "reading_assignments",
            "reading_reads"} <= tables
    assert version == "0003"


def test_import_and_read_back_study(db_url: str, tmp_path: Path) -> None:
    with _imported(db_url, tmp_path) as s:
        studies = store.list_studies(s)
        assert [(x["name"], x["n_patients"], x["n_lesions"]) for x in studies] == [("default", 10, 10)]
        detail = store.get_study(s, studies[0]["id"])
        lesions = [lesion for p in detail["patients"] for lesion in p["lesions"]]
        by_patient = {lesion["patient"]: lesion for lesion in lesions}
        for pid, ki67, primary, *_ in COHORT:
            assert by_patient[pid]["ki67_percent"] == ki67
            assert by_patient[pid]["primary_site"] == primary
            # WHO 2019: G1 < 3 %, G2 3–20 %, G3 > 20 %
            assert by_patient[pid]["who_grade"] == ("G1" if ki67 < 3 else "G2" if ki67 <= 20 else "G3")
            assert by_patient[pid]["analysis"] is None
        clip = store.get_clip(s, by_patient["P01"]["clip_id"])
        assert clip["path"].endswith("P01.dcm") and len(clip["sha256"]) == 64
        lesion = store.get_lesion(s, by_patient["P01"]["id"])
        assert lesion["rois"] == roi_document()


def test_import_lesions_returns_each_rows_lesion_id(db_url: str, tmp_path: Path) -> None:
    lesions, _ = study.read_manifest(write_cohort(tmp_path / "cohort"))
    reads = study.read_reads(tmp_path / "cohort" / "reads.csv")  # two readers per lesion
    with store.Store(db_url) as s:
        first = store.import_lesions(s, lesions, reads=reads)
        stored = {(p["patient"], lesion["lesion"]): lesion["id"] for p in store.get_study(s)["patients"]
                  for lesion in p["lesions"]}  # the ids as the database holds them, read back
        assert first["lesion_ids"] == [stored[(row.patient, row.lesion)] for row in lesions]
        assert (first["patients"], first["lesions_new"], first["lesions_updated"], first["reads"]) == (10, 10, 0, 20)
        again = store.import_lesions(s, lesions[::-1])  # updated in place: the same ids, in the rows' order
        assert again["lesion_ids"] == first["lesion_ids"][::-1]
        assert (again["lesions_new"], again["lesions_updated"], again["study_id"]) == (0, 10, first["study_id"])


def test_a_lesion_without_a_clip_is_refused() -> None:
    with pytest.raises(StoreError, match="has no clip"):
        store.LesionInput(patient="P01", lesion="L1", clips=())


def test_rois_and_analyses_round_trip(db_url: str, tmp_path: Path) -> None:
    with _imported(db_url, tmp_path) as s:
        lesion_id = store.get_study(s)["patients"][0]["lesions"][0]["id"]
        new_rois = roi_document("met1")
        assert store.set_lesion_rois(s, lesion_id, new_rois, roi_name="met1")["roi_name"] == "met1"
        assert store.get_lesion(s, lesion_id)["rois"] == new_rois
        document = {"lesions": [{"roi": "met1", "arterial_phase": {"onset_s": 12.345678901234}}], "nested": [1, None]}
        analysis_id = store.record_analysis(s, lesion_id, status="ok", document=document, error=None,
                                            software_version="9.9", parameters={"model": "auto"},
                                            parameter_hash="a" * 64, input_hash="b" * 64)
        got = store.get_analysis(s, analysis_id)
        assert got["document"] == document and got["status"] == "ok" and got["software_version"] == "9.9"
        assert store.latest_analysis(s, lesion_id)["id"] == analysis_id
        with pytest.raises(StoreError, match="no lesion"):
            store.record_analysis(s, 10_000, status="ok", document={}, error=None, software_version="x",
                                  parameters={}, parameter_hash="", input_hash="")
        with pytest.raises(StoreError, match="no analysis"):
            store.get_analysis(s, 10_000)


def test_failed_write_leaves_nothing(db_url: str, tmp_path: Path) -> None:
    with _imported(db_url, tmp_path) as s:
        before = store.get_study(s)
        reads = [store.ReadInput("P01", "L1", "r1", arterial="hyper"),
                 store.ReadInput("P99", "L1", "r1", arterial="hyper")]  # unknown lesion: the whole call fails
        with pytest.raises(StoreError, match="unknown lesion"):
            store.record_reads(s, reads)
        assert store.reader_reads(s) == []
        assert store.get_study(s) == before


def test_bad_manifest_imports_nothing(db_url: str, tmp_path: Path) -> None:
    manifest = write_cohort(tmp_path / "cohort")
    lines = manifest.read_text().splitlines()
    lines[5] = lines[5].replace(",5.0,", ",five,")  # line 6 of the file: P05's Ki-67
    manifest.write_text("\n".join(lines) + "\n")
    with store.Store(db_url) as s:
        with pytest.raises(ManifestError, match="line 6: ki67 'five' is not a number"):
            study.import_manifest(s, manifest)
        assert store.list_studies(s) == []


def _comparable(result: dict) -> dict:
    def clean(value):  # noqa: ANN001, ANN202
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        return value

    return clean(result)


@pytest.mark.postgres
def test_sqlite_and_postgresql_give_identical_results(pg_server: str, tmp_path: Path) -> None:
    from conftest import fresh_pg_database

    results = []
    for url in (f"sqlite:///{tmp_path / 'a.db'}", fresh_pg_database(pg_server)):
        with store.Store(url) as s:
            study.import_manifest(s, write_cohort(tmp_path / "cohort", fail={"P03"}))
            study.import_reads(s, tmp_path / "cohort" / "reads.csv")
            summary = study.run_study(s, workers=0, analyze_examination=fake_analyze_examination)
            frame = study.cohort_frame(s).drop(columns=["lesion_db_id", "analysis_id"])
            results.append((summary.line(), frame, _comparable(study.cohort_stats(frame))))
    (line_a, frame_a, stats_a), (line_b, frame_b, stats_b) = results
    assert line_a == line_b == "10 analysed (1 failed), 0 up to date"
    assert frame_a.equals(frame_b)
    assert stats_a == stats_b


def test_server_down_is_a_one_line_store_error() -> None:
    with pytest.raises(StoreError, match=r"cannot open database postgresql\+psycopg://nobody:\*\*\*@127.0.0.1:1/x") as info:
        store.Store("postgresql+psycopg://nobody:secret@127.0.0.1:1/x")
    assert "secret" not in str(info.value) and "\n" not in str(info.value)


def test_not_a_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        store.Store("ceuskit.db")


def test_migrations_match_the_orm_schema(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ceuskit.store.schema import Base

    store.upgrade(db_url)
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []  # Alembic's own comparison: the migrations create exactly the declared tables
