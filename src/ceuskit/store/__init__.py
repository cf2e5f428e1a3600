"""The study database: schema, Alembic migrations and the repository API used by the CLI and web app.

``Store(url)`` opens (creating or migrating) a database; the functions of
:mod:`ceuskit.store.repository` read and write it, each in one transaction, returning plain dicts.
"""

from __future__ import annotations

from ceuskit.store.database import DEFAULT_URL, Store, open_store, redacted, upgrade
from ceuskit.store.repository import (
    DEFAULT_STUDY,
    ClipInput,
    LesionInput,
    ReadInput,
    add_lesion_clip,
    canonical_sha256,
    cohort_records,
    get_analysis,
    get_clip,
    get_lesion,
    get_study,
    import_lesions,
    json_safe,
    latest_analysis,
    list_studies,
    reader_reads,
    record_analysis,
    record_reads,
    remove_lesion_clip,
    set_lesion_rois,
    study_id_of,
    update_clip_file,
    work_items,
)

__all__ = [
    "DEFAULT_STUDY",
    "DEFAULT_URL",
    "ClipInput",
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
    "list_studies",
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
