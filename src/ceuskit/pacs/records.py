"""What a PACS search returns (studies → series → instances) and how ceuskit names a PACS object.

Both protocols (QIDO-RS and C-FIND) fill the same records; their ``as_dict`` uses DICOM keywords as keys, so
``ceuskit pacs find --json`` carries ``StudyInstanceUID``, ``SeriesInstanceUID`` and ``SOPInstanceUID``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from ceuskit.errors import InputError

__all__ = ["InstanceRecord", "ObjectRef", "Query", "SeriesRecord", "StoreResult", "StudyRecord", "check_uid", "parse_date_range",
           "parse_ref"]

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_PATIENT_ID = re.compile(r"^[^\\\x00-\x1f]{1,64}$")
REF_SCHEME = "dicomweb:"


def check_uid(value: str, option: str) -> str:
    """``value`` if it is a DICOM UID (PS3.5 9.1: digits and dots, at most 64 characters), else InputError.

    The message does not repeat the value: UIDs identify a patient's examination.
    """
    value = value.strip()
    if len(value) > 64 or not _UID.match(value):
        raise InputError(f"{option} is not a DICOM UID (digits and dots, no leading zeros, at most 64 characters)")
    return value


def _date(text: str) -> str:
    compact = text.replace("-", "") if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else text
    if not re.fullmatch(r"\d{8}", compact):
        raise ValueError(text)
    dt.date(int(compact[:4]), int(compact[4:6]), int(compact[6:]))  # a real calendar date
    return compact


def parse_date_range(text: str) -> str:
    """Return a DICOM date range (``YYYYMMDD``, ``YYYYMMDD-YYYYMMDD``, open ends allowed) from user input.

    Accepts the DICOM forms and ISO dates (``2026-01-31``, ``2026-01-01..2026-01-31``, ``2026-01-01..``).

    Examples
    --------
    >>> parse_date_range("2026-01-01..2026-01-31")
    '20260101-20260131'
    >>> parse_date_range("20260101-")
    '20260101-'
    """
    text = text.strip()
    try:
        if ".." in text:
            low, high = text.split("..", 1)
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) or re.fullmatch(r"\d{8}", text):
            return _date(text)
        elif "-" in text:
            low, high = text.split("-", 1)
        else:
            raise ValueError(text)
        if not (low or high):
            raise ValueError(text)
        low, high = (_date(low) if low else ""), (_date(high) if high else "")
    except ValueError:
        raise InputError("--study-date must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD (an end may be left open), "
                         "or ISO dates: 2026-01-31, 2026-01-01..2026-01-31") from None
    if low and high and low > high:
        raise InputError("--study-date: the range ends before it starts")
    return f"{low}-{high}"


@dataclass(frozen=True)
class Query:
    """A study search: patient id (``*`` and ``?`` wildcards), DICOM date range, modality, result limit."""

    patient_id: str | None = None
    study_date: str | None = None
    modality: str | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if self.patient_id is not None and not _PATIENT_ID.match(self.patient_id):
            raise InputError("--patient-id must be 1 to 64 characters without backslash or control characters")
        if self.modality is not None and not re.fullmatch(r"[A-Z0-9_]{1,16}", self.modality):
            raise InputError("--modality must be a DICOM modality code such as US")
        if not 1 <= self.limit <= 10000:
            raise InputError("--limit must be between 1 and 10000")


@dataclass(frozen=True)
class InstanceRecord:
    """One stored object: its UIDs, SOP class, instance number and frame count (None when unknown)."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str | None = None
    instance_number: int | None = None
    n_frames: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """DICOM keywords as keys."""
        return {"SOPInstanceUID": self.sop_uid, "SOPClassUID": self.sop_class_uid,
                "InstanceNumber": self.instance_number, "NumberOfFrames": self.n_frames}


@dataclass(frozen=True)
class SeriesRecord:
    """One series with its instances."""

    study_uid: str
    series_uid: str
    modality: str | None = None
    number: int | None = None
    description: str | None = None
    date: str | None = None
    instances: tuple[InstanceRecord, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """DICOM keywords as keys; ``instances`` nested."""
        return {"SeriesInstanceUID": self.series_uid, "Modality": self.modality, "SeriesNumber": self.number,
                "SeriesDescription": self.description, "SeriesDate": self.date,
                "NumberOfSeriesRelatedInstances": len(self.instances),
                "instances": [i.as_dict() for i in self.instances]}


@dataclass(frozen=True)
class StudyRecord:
    """One study with its series."""

    study_uid: str
    patient_id: str | None = None
    date: str | None = None
    time: str | None = None
    description: str | None = None
    accession_number: str | None = None
    modalities: tuple[str, ...] = ()
    series: tuple[SeriesRecord, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """DICOM keywords as keys; ``series`` nested."""
        return {"StudyInstanceUID": self.study_uid, "PatientID": self.patient_id, "StudyDate": self.date,
                "StudyTime": self.time, "StudyDescription": self.description,
                "AccessionNumber": self.accession_number, "ModalitiesInStudy": list(self.modalities),
                "series": [s.as_dict() for s in self.series]}


@dataclass(frozen=True)
class ObjectRef:
    """A PACS object as a manifest names it: ``dicomweb:STUDY/SERIES`` or ``dicomweb:STUDY/SERIES/INSTANCE``."""

    study_uid: str
    series_uid: str
    sop_uid: str | None = None

    def __str__(self) -> str:
        return REF_SCHEME + "/".join(u for u in (self.study_uid, self.series_uid, self.sop_uid) if u)


def parse_ref(text: str) -> ObjectRef | None:
    """Return the :class:`ObjectRef` that ``text`` names, None when it does not start with ``dicomweb:``.

    Raises
    ------
    InputError
        ``dicomweb:`` followed by anything but two or three UIDs separated by ``/``.
    """
    text = text.strip()
    if not text.lower().startswith(REF_SCHEME):
        return None
    parts = text[len(REF_SCHEME):].strip("/").split("/")
    if len(parts) not in (2, 3):
        raise InputError("a PACS clip is named dicomweb:STUDY_UID/SERIES_UID[/SOP_INSTANCE_UID]")
    uids = [check_uid(p, "a dicomweb: clip reference") for p in parts]
    return ObjectRef(uids[0], uids[1], uids[2] if len(uids) == 3 else None)


@dataclass(frozen=True)
class StoreResult:
    """What a store (STOW-RS or C-STORE) did: objects stored, objects refused and the refusal codes."""

    stored: int = 0
    failed: int = 0
    failure_reasons: tuple[int, ...] = ()

    def merged(self, other: StoreResult) -> StoreResult:
        """Return the sum of two results."""
        return StoreResult(self.stored + other.stored, self.failed + other.failed,
                           tuple(sorted(set(self.failure_reasons) | set(other.failure_reasons))))
