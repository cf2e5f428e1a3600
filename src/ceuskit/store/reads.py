"""Reader reads of a study's lesions.

Visual labels imported from a manifest or a reads file, merged with the blinded reads of reading sessions
(:mod:`ceuskit.store.reading`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceuskit.errors import StoreError
from ceuskit.store._rows import resolve_study, study_lesions
from ceuskit.store.database import Store
from ceuskit.store.inputs import ReadInput
from ceuskit.store.schema import Lesion, Patient, ReaderRead, ReadingItem, ReadingRead, Study, User, utcnow

__all__ = ["put_reads", "reader_reads", "record_reads"]


def put_reads(session: Session, study: Study, reads: Sequence[ReadInput]) -> int:
    """Insert or replace ``reads`` of lesions of ``study`` in ``session``; returns how many.

    Raises
    ------
    StoreError
        A read of a lesion the study does not hold.
    """
    if not reads:
        return 0
    index = {(p.pseudonym, lesion.label): lesion for lesion, p in study_lesions(session, study)}
    for read in reads:
        lesion = index.get((read.patient, read.lesion))
        if lesion is None:
            raise StoreError(f"reader read for unknown lesion {read.lesion!r} of patient {read.patient!r}; "
                             "import the manifest first")
        record = session.scalars(select(ReaderRead).where(ReaderRead.lesion_id == lesion.id,
                                                          ReaderRead.reader == read.reader)).first()
        if record is None:
            record = ReaderRead(lesion_id=lesion.id, reader=read.reader, created_at=utcnow())
            session.add(record)
        record.arterial, record.washout, record.late = read.arterial, read.washout, read.late
    return len(reads)


def record_reads(store: Store, reads: Sequence[ReadInput], *, study: int | str | None = None) -> int:
    """Insert or replace reader reads in one transaction.

    Parameters
    ----------
    store : Store
        The database.
    reads : sequence of ReadInput
        The reads, of lesions the study holds.
    study : int, str or None
        A study id or name (None: the only or the default study).

    Returns
    -------
    int
        How many reads were stored.

    Raises
    ------
    StoreError
        No such study, or a read of a lesion it does not hold (then none is stored).
    """
    with store.transaction() as session:
        return put_reads(session, resolve_study(session, study), reads)


def _manifest_washout(washout: str | None, timing: str | None) -> str | None:
    """Return a blinded read's wash-out in the manifest's words.

    One of early / late, yes (timing not given) or none.
    """
    if washout is None:
        return None
    if washout == "no":
        return "none"
    return timing if timing in ("early", "late") else "yes"


def reader_reads(store: Store, study: int | str | None = None) -> list[dict[str, Any]]:
    """Every reader read of a study, manifest reads and blinded reads merged.

    Reads imported from a manifest come first; a reader's blinded read of the same lesion (reading
    sessions, under their user name) replaces it, and of several blinded reads the newest counts.

    Parameters
    ----------
    store : Store
        The database.
    study : int, str or None
        A study id or name (None: the only or the default study).

    Returns
    -------
    list of dict
        ``lesion_id``, ``reader``, ``arterial``, ``washout``, ``late``, ``onset_s`` (s after injection, None
        when not read) and ``source`` ("manifest" or "session").
    """
    with store.transaction() as session:
        found = resolve_study(session, study)
        rows = session.scalars(select(ReaderRead).join(Lesion).join(Patient)
                               .where(Patient.study_id == found.id).order_by(ReaderRead.id)).all()
        merged: dict[tuple[int, str], dict[str, Any]] = {}
        for r in rows:
            merged[(r.lesion_id, r.reader)] = {"lesion_id": r.lesion_id, "reader": r.reader, "arterial": r.arterial,
                                               "washout": r.washout, "late": r.late, "onset_s": None,
                                               "source": "manifest"}
        blinded = session.execute(
            select(ReadingRead, ReadingItem.lesion_id, User.username)
            .join(ReadingItem, ReadingRead.item_id == ReadingItem.id).join(User, ReadingRead.user_id == User.id)
            .join(Lesion, ReadingItem.lesion_id == Lesion.id).join(Patient, Lesion.patient_id == Patient.id)
            .where(Patient.study_id == found.id).order_by(ReadingRead.created_at, ReadingRead.id)).all()
        for read, lesion_id, username in blinded:
            merged[(lesion_id, username)] = {"lesion_id": lesion_id, "reader": username, "arterial": read.arterial,
                                             "washout": _manifest_washout(read.washout, read.washout_timing),
                                             "late": read.late, "onset_s": read.onset_s, "source": "session"}
        return list(merged.values())
