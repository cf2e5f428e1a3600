"""What goes into a study database.

A lesion's examination (:class:`LesionInput` of :class:`ClipInput`), reader reads (:class:`ReadInput`), and
the JSON forms documents are stored and hashed in (:mod:`ceuskit._json`).

These are plain frozen values; making a :class:`ClipInput` from a file (hashing it, reading its header) is
the study layer's (:func:`ceuskit.study.clip_from_file`): the store reads no clip file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from ceuskit._json import canonical_sha256, json_safe
from ceuskit.errors import StoreError

__all__ = ["ClipInput", "Imported", "LesionInput", "ReadInput", "canonical_sha256", "json_safe", "no_rois"]


def no_rois() -> dict[str, Any]:
    """Return the ROI document (DESIGN's ROI JSON) of a clip whose ROIs are not drawn yet: it lists no ROI.

    Returns
    -------
    dict
        A new ``{"reference_frame": 0, "units": "px", "rois": []}``.
    """
    return {"reference_frame": 0, "units": "px", "rois": []}


@dataclass(frozen=True)
class ReadInput:
    """One reader's visual labels of one lesion (``arterial`` hyper/iso/hypo, ``washout`` yes/no, ``late``)."""

    patient: str
    lesion: str
    reader: str
    arterial: str | None = None
    washout: str | None = None
    late: str | None = None


@dataclass(frozen=True)
class ClipInput:
    """One clip of a lesion's examination with the ROI set drawn on it, ready to store.

    Attributes
    ----------
    path : str
        The clip file or frame folder (absolute).
    sha256 : str
        Its content hash (``ceuskit.io.clip.source_sha256``).
    rois : dict
        The ROI document drawn on it (:func:`no_rois` when none is drawn yet).
    size_bytes, mtime_ns : int or None
        The file's size and modification time (None for a folder), to notice a changed file cheaply.
    header : dict
        Its identity-free header summary (``ceuskit.study.clip_header_summary``), with ``pacs`` (where
        it was fetched from) for a clip of the PACS.
    offset_s : float or None
        An explicit start, s after the examination's first frame (None: by acquisition time).
    """

    path: str
    sha256: str
    rois: dict[str, Any] = field(default_factory=no_rois)
    size_bytes: int | None = None
    mtime_ns: int | None = None
    header: dict[str, Any] = field(default_factory=dict)
    offset_s: float | None = None


@dataclass(frozen=True)
class LesionInput:
    """One lesion with its examination, ready to store (a validated manifest row, a lesion made in the web app).

    Attributes
    ----------
    patient, lesion : str
        The patient's pseudonym (or id) and the lesion's label, unique per patient.
    clips : tuple of ClipInput
        Every clip of the examination, the first (the continuous loop) first, then the late-phase sweeps in
        the manifest's order; at least one.
    roi_name : str or None
        The lesion ROI to read when the ROI sets draw several.
    ki67_percent, who_grade, who_grade_source, primary_site, size_mm
        Clinical facts (``who_grade_source``: "ki67" when derived, "manifest" when given).
    injection_time_s, dynamic_range_db : float
        The injection moment (s after the examination's first frame) and the display dynamic range.
    extra : dict
        Further manifest columns, kept as given.

    Raises
    ------
    StoreError
        No clip.
    """

    patient: str
    lesion: str
    clips: tuple[ClipInput, ...]
    roi_name: str | None = None
    ki67_percent: float | None = None
    who_grade: str | None = None
    who_grade_source: str | None = None
    primary_site: str | None = None
    size_mm: float | None = None
    injection_time_s: float = 0.0
    dynamic_range_db: float = 60.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Hold the clips as a tuple; refuse a lesion without one."""
        object.__setattr__(self, "clips", tuple(self.clips))
        if not self.clips:
            raise StoreError(f"lesion {self.lesion!r} has no clip: give at least one clip of its examination")


class Imported(TypedDict):
    """What :func:`~ceuskit.store.lesions.import_lesions` stored: counts, and the ids of the rows' lesions.

    Attributes
    ----------
    patients : int
        Patients new to the study.
    lesions_new, lesions_updated : int
        Lesions made, and lesions that existed already (same patient and label) and were updated.
    reads : int
        Reader reads stored.
    study_id : int
        The study's database id.
    lesion_ids : list of int
        The database id of each row's lesion (new or updated), in the rows' order.
    """

    patients: int
    lesions_new: int
    lesions_updated: int
    reads: int
    study_id: int
    lesion_ids: list[int]
