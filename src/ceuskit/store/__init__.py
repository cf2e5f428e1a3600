"""The study database: schema, Alembic migrations and the API the CLI, the study runner and the web app use.

``Store(url)`` opens (creating or migrating) a database; the functions below read and write it, each in one
transaction, returning plain dicts.  Module map:

- ``database``: :class:`~ceuskit.store.database.Store`, opening and migrating; ``schema``: the tables;
- ``inputs``: what goes in (:class:`~ceuskit.store.inputs.LesionInput` of
  :class:`~ceuskit.store.inputs.ClipInput`, :class:`~ceuskit.store.inputs.ReadInput`) and the JSON forms
  documents are stored and hashed in;
- ``studies``: the studies; ``lesions``: lesions and their examinations (clips, ROI sets), storing them;
- ``reads``: reader reads; ``analyses``: what an analysis needs, its results;
- ``reading``: blinded reading sessions; ``accounts`` and ``audit``: users, sessions, the audit log.
"""

from __future__ import annotations

from ceuskit.store._rows import DEFAULT_STUDY
from ceuskit.store.analyses import cohort_records, get_analysis, latest_analysis, record_analysis, work_items
from ceuskit.store.database import DEFAULT_URL, Store, open_store, redacted, upgrade
from ceuskit.store.inputs import (
    ClipInput,
    Imported,
    LesionInput,
    ReadInput,
    canonical_sha256,
    json_safe,
    no_rois,
)
from ceuskit.store.lesions import (
    add_lesion_clip,
    get_clip,
    get_lesion,
    import_lesions,
    lesion_id_of,
    remove_lesion_clip,
    set_lesion_rois,
    update_clip_file,
)
from ceuskit.store.reads import reader_reads, record_reads
from ceuskit.store.studies import get_study, list_studies, study_id_of

__all__ = [
    "DEFAULT_STUDY",
    "DEFAULT_URL",
    "ClipInput",
    "Imported",
    "LesionInput",
    "ReadInput",
    "Store",
    "add_lesion_clip",
    "canonical_sha256",
    "cohort_records",
    "get_analysis",
    "get_clip",
    "get_lesion",
    "get_study",
    "import_lesions",
    "json_safe",
    "latest_analysis",
    "lesion_id_of",
    "list_studies",
    "no_rois",
    "open_store",
    "reader_reads",
    "record_analysis",
    "record_reads",
    "redacted",
    "remove_lesion_clip",
    "set_lesion_rois",
    "study_id_of",
    "update_clip_file",
    "upgrade",
    "work_items",
]
