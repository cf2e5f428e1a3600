"""The studies of a database: their ids, a list with counts, one study with its patients and lesions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ceuskit.store._rows import analysis_dict, iso, lesion_dict, lesions_with_latest, resolve_study
from ceuskit.store.database import Store
from ceuskit.store.schema import Lesion, Patient, Study

__all__ = ["get_study", "list_studies", "study_id_of"]


def study_id_of(store: Store, study: int | str | None = None) -> int:
    """Id of the study named ``study`` (None: the only or the default study).

    Parameters
    ----------
    store : Store
        The database.
    study : int, str or None
        A study id or name.

    Returns
    -------
    int
        The study's database id.

    Raises
    ------
    StoreError
        No such study, or several and none named.
    """
    with store.transaction() as session:
        return resolve_study(session, study).id


def list_studies(store: Store) -> list[dict[str, Any]]:
    """Every study: ``id``, ``name``, ``created_at``, ``n_patients``, ``n_lesions``.

    Parameters
    ----------
    store : Store
        The database.

    Returns
    -------
    list of dict
        One per study, by id.
    """
    with store.transaction() as session:
        out = []
        for study in session.scalars(select(Study).order_by(Study.id)):
            n_patients = session.scalar(select(func.count(Patient.id)).where(Patient.study_id == study.id))
            n_lesions = session.scalar(select(func.count(Lesion.id)).join(Patient)
                                       .where(Patient.study_id == study.id))
            out.append({"id": study.id, "name": study.name, "created_at": iso(study.created_at),
                        "n_patients": int(n_patients or 0), "n_lesions": int(n_lesions or 0)})
        return out


def get_study(store: Store, study: int | str | None = None) -> dict[str, Any]:
    """Return a study with its patients and their lesions (each lesion with its newest analysis's status).

    Parameters
    ----------
    store : Store
        The database.
    study : int, str or None
        A study id or name (None: the only or the default study).

    Returns
    -------
    dict
        ``id``, ``name``, ``created_at`` and ``patients`` (``id``, ``patient``, ``lesions``: each as
        :func:`~ceuskit.store.lesions.get_lesion` without clips, with ``analysis`` without its document).

    Raises
    ------
    StoreError
        No such study.
    """
    with store.transaction() as session:
        found = resolve_study(session, study)
        pairs, newest = lesions_with_latest(session, found)
        patients: dict[int, dict[str, Any]] = {}
        for lesion, patient in pairs:
            entry = patients.setdefault(patient.id, {"id": patient.id, "patient": patient.pseudonym, "lesions": []})
            item = lesion_dict(lesion, patient)
            item["analysis"] = analysis_dict(newest.get(lesion.id), document=False)
            entry["lesions"].append(item)
        return {"id": found.id, "name": found.name, "created_at": iso(found.created_at),
                "patients": list(patients.values())}
