"""Making a lesion from its clip files: the one way a lesion is made, for a manifest row, an upload, a PACS fetch.

:func:`lesion_input` builds the lesion (its examination's clips, made by
:func:`~ceuskit.study.files.clip_from_file`, and its clinical facts, the WHO grade derived from Ki-67 or
checked against it); a manifest stores many in one transaction
(:func:`~ceuskit.study.manifest.import_manifest`), :func:`add_lesion` stores one now and returns its id.  A clip added to an existing lesion's examination (a
late-phase sweep) is made by ``clip_from_file`` too and stored by ``ceuskit.store.add_lesion_clip``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ceuskit.errors import ConflictError, InputError
from ceuskit.stats import who_grade as grade_of
from ceuskit.store import ClipInput, LesionInput, Store, import_lesions, lesion_id_of

__all__ = ["add_lesion", "check_new_lesion", "lesion_input", "who_grade_of"]

WHO_GRADES = ("G1", "G2", "G3", "NEC")


def who_grade_of(ki67_percent: float | None, given: str | None) -> tuple[str | None, str | None]:
    """Return a lesion's WHO grade and where it comes from.

    It is as given, checked against Ki-67, or derived from Ki-67.

    Parameters
    ----------
    ki67_percent : float or None
        Ki-67 index, %.
    given : str or None
        G1, G2, G3 or NEC (any case); None or blank: not given.

    Returns
    -------
    grade : str or None
        The given grade (upper case), else the WHO 2019 grade of ``ki67_percent``
        (:func:`ceuskit.stats.who_grade`), None without either.
    source : str or None
        "manifest" (given), "ki67" (derived) or None.

    Raises
    ------
    InputError
        A grade that is not G1–G3/NEC, or one that disagrees with Ki-67 (NEC counts as G3).
    """
    derived = grade_of(ki67_percent)
    given = (given or "").strip().upper()
    if not given:
        return derived, None if derived is None else "ki67"
    if given not in WHO_GRADES:
        raise InputError(f"who_grade {given!r} must be G1, G2, G3 or NEC")
    expected = "G3" if given == "NEC" else given
    if derived is not None and derived != expected:
        raise InputError(f"who_grade {given} disagrees with ki67 {ki67_percent:g} % ({derived} by WHO 2019); "
                         "correct one of them or leave who_grade empty")
    return given, "manifest"


def lesion_input(patient: str, lesion: str, clips: Sequence[ClipInput], *, ki67_percent: float | None = None,
                 who_grade: str | None = None, primary_site: str | None = None, size_mm: float | None = None,
                 injection_time_s: float = 0.0, dynamic_range_db: float = 60.0, roi_name: str | None = None,
                 extra: dict[str, Any] | None = None) -> LesionInput:
    """Return a lesion of its examination's clips and its clinical facts, ready to store.

    Parameters
    ----------
    patient, lesion : str
        The patient's pseudonym (or id) and the lesion's label.
    clips : sequence of ClipInput
        The examination's clips, the continuous loop first (:func:`~ceuskit.study.files.clip_from_file`).
    ki67_percent : float, optional
        Ki-67 index, %.
    who_grade : str, optional
        G1, G2, G3 or NEC as given (checked against ``ki67_percent``); None or empty: derived from Ki-67
        (WHO 2019).
    primary_site : str, optional
        Where the primary tumour is.
    size_mm : float, optional
        Lesion size, mm.
    injection_time_s : float
        Injection moment, s after the examination's first frame.
    dynamic_range_db : float
        The display dynamic range, dB.
    roi_name : str, optional
        The lesion ROI to read when the ROI sets draw several.
    extra : dict, optional
        Further facts kept as given (a manifest's free columns).

    Returns
    -------
    LesionInput
        With ``who_grade_source`` "manifest" (given) or "ki67" (derived), None without a grade.

    Raises
    ------
    InputError
        A grade that is not G1–G3/NEC or that disagrees with Ki-67.
    StoreError
        No clip.
    """
    grade, source = who_grade_of(ki67_percent, who_grade)
    return LesionInput(patient=patient, lesion=lesion, clips=tuple(clips), roi_name=roi_name,
                       ki67_percent=ki67_percent, who_grade=grade, who_grade_source=source,
                       primary_site=primary_site, size_mm=size_mm, injection_time_s=injection_time_s,
                       dynamic_range_db=dynamic_range_db, extra={} if extra is None else dict(extra))


def check_new_lesion(store: Store, study: int | str, patient: str, lesion: str) -> None:
    """Refuse a lesion label the patient has already in the study (before fetching or reading its clip).

    Parameters
    ----------
    store : Store
        The database.
    study : int or str
        The study's id or name.
    patient, lesion : str
        The patient's pseudonym and the new lesion's label.

    Raises
    ------
    ConflictError
        The patient has a lesion of that label.
    StoreError
        No such study.
    """
    if lesion_id_of(store, patient, lesion, study=study) is not None:
        raise ConflictError("this patient already has a lesion with that name; choose another name")


def add_lesion(store: Store, row: LesionInput, *, study: int | str) -> int:
    """Store one new lesion in a study now (a lesion made in the web app, from a file or the PACS).

    Parameters
    ----------
    store : Store
        The database.
    row : LesionInput
        The lesion (:func:`lesion_input`).
    study : int or str
        The study's id or name.

    Returns
    -------
    int
        The new lesion's database id.

    Raises
    ------
    ConflictError
        The patient has a lesion of that label already (it is left as it was).
    StoreError
        No such study.
    """
    check_new_lesion(store, study, row.patient, row.lesion)
    return import_lesions(store, [row], study=study)["lesion_ids"][0]
