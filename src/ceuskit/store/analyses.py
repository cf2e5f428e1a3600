"""A study's analyses.

What each lesion's analysis needs (:func:`work_items`), recording a result, reading results back (one, a
lesion's newest, a whole cohort's).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ceuskit.errors import StoreError
from ceuskit.store._rows import (
    analysis_dict,
    by_id,
    latest,
    lesion_dict,
    lesion_with_examination,
    lesions_with_latest,
    resolve_study,
)
from ceuskit.store.database import Store
from ceuskit.store.schema import AnalysisRecord, Lesion, utcnow

__all__ = ["cohort_records", "get_analysis", "latest_analysis", "record_analysis", "work_items"]


def record_analysis(store: Store, lesion_id: int, *, status: str, document: dict[str, Any] | None,
                    error: str | None, software_version: str, parameters: dict[str, Any],
                    parameter_hash: str, input_hash: str, started_at: datetime | None = None,
                    finished_at: datetime | None = None) -> int:
    """Append one analysis result of a lesion.

    Parameters
    ----------
    store : Store
        The database.
    lesion_id : int
        The lesion's database id.
    status : str
        "ok" or "failed".
    document : dict or None
        analysis.json (JSON-safe), None for a failure.
    error : str or None
        Why it failed (one line), None when ok.
    software_version, parameters, parameter_hash, input_hash
        Provenance: the ceuskit version, the analysis parameters, their hash and the hash of every input.
    started_at, finished_at : datetime or None
        When the analysis ran (``finished_at`` None: now).

    Returns
    -------
    int
        The new record's id.

    Raises
    ------
    ValueError
        ``status`` is neither "ok" nor "failed".
    StoreError
        No such lesion.
    """
    if status not in ("ok", "failed"):
        raise ValueError(f"status must be 'ok' or 'failed', got {status!r}")
    with store.transaction() as session:
        if by_id(session, Lesion, lesion_id) is None:
            raise StoreError(f"no lesion with id {lesion_id}")
        record = AnalysisRecord(lesion_id=lesion_id, status=status, document=document, error=error,
                                software_version=software_version, parameters=parameters,
                                parameter_hash=parameter_hash, input_hash=input_hash, started_at=started_at,
                                finished_at=finished_at or utcnow())
        session.add(record)
        session.flush()
        return record.id


def get_analysis(store: Store, analysis_id: int) -> dict[str, Any]:
    """One analysis record with its full ``document`` (analysis.json).

    Parameters
    ----------
    store : Store
        The database.
    analysis_id : int
        The record's id.

    Returns
    -------
    dict
        ``id``, ``lesion_id``, ``status``, ``error``, provenance, times and ``document``.

    Raises
    ------
    StoreError
        No such analysis.
    """
    with store.transaction() as session:
        result = analysis_dict(by_id(session, AnalysisRecord, analysis_id))
        if result is None:
            raise StoreError(f"no analysis with id {analysis_id}")
        return result


def latest_analysis(store: Store, lesion_id: int) -> dict[str, Any] | None:
    """Return the newest analysis of a lesion, as :func:`get_analysis`, or None when never analysed.

    Parameters
    ----------
    store : Store
        The database.
    lesion_id : int
        The lesion's database id.

    Returns
    -------
    dict or None
        The newest record.
    """
    with store.transaction() as session:
        return analysis_dict(latest(session, [lesion_id]).get(lesion_id))


def work_items(store: Store, study: int | str | None = None) -> list[dict[str, Any]]:
    """Every lesion of a study with what its analysis needs and its newest analysis's hash and status.

    Parameters
    ----------
    store : Store
        The database.
    study : int, str or None
        A study id or name (None: the only or the default study).

    Returns
    -------
    list of dict
        The lesion dict plus ``clip`` (the first clip, with ``mtime_ns``), ``rois`` (its document),
        ``clips`` (every clip of the examination in manifest order: ``id``, ``path``, ``sha256``,
        ``size_bytes``, ``mtime_ns``, ``header``, ``position``, ``offset_s``, ``rois``, ``rois_sha256``),
        ``latest_input_hash`` and ``latest_status`` (None when never analysed).
    """
    with store.transaction() as session:
        pairs, newest = lesions_with_latest(session, resolve_study(session, study))
        items = []
        for lesion, patient in pairs:
            item = lesion_with_examination(lesion, patient)
            if item["clip"] is not None and lesion.clip is not None:
                item["clip"]["mtime_ns"] = lesion.clip.mtime_ns
            record = newest.get(lesion.id)
            item["latest_input_hash"] = None if record is None else record.input_hash
            item["latest_status"] = None if record is None else record.status
            items.append(item)
        return items


def cohort_records(store: Store, study: int | str | None = None) -> list[dict[str, Any]]:
    """Every lesion of a study with its newest analysis.

    Parameters
    ----------
    store : Store
        The database.
    study : int, str or None
        A study id or name (None: the only or the default study).

    Returns
    -------
    list of dict
        The lesion dict plus ``clip_sha256`` (its first clip's) and ``analysis`` (the full record, or None).
    """
    with store.transaction() as session:
        pairs, newest = lesions_with_latest(session, resolve_study(session, study))
        out = []
        for lesion, patient in pairs:
            item = lesion_dict(lesion, patient)
            item["clip_sha256"] = None if lesion.clip is None else lesion.clip.sha256
            item["analysis"] = analysis_dict(newest.get(lesion.id))
            out.append(item)
        return out
