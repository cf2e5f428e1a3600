"""Cohort studies: import a manifest, analyse every lesion (locally or on Dask), tabulate, test, export.

A *study* lives in a database (:mod:`ceuskit.store`).  ``import_manifest`` validates every manifest row
before storing anything; ``run_study`` analyses only lesions whose inputs changed (clip SHA-256, ROI
document or analysis parameters), committing each result as it arrives, so an interrupted run resumes
where it stopped; ``cohort_frame`` flattens the newest analyses into one row per lesion; ``cohort_stats``
computes the statistics of :mod:`ceuskit.stats` over that table; ``export_table`` writes it.

One module per concern, each importing only those listed above it:

- :mod:`~ceuskit.study.proposed`: manifest ROI cells that ask for a proposal (``click:X,Y``) or a carry;
- :mod:`~ceuskit.study.files`: a clip file as a clip of an examination (:func:`~ceuskit.study.files.clip_from_file`),
  a manifest row's clip and ROI files (an examination's, ``;``-separated);
- :mod:`~ceuskit.study.lesions`: the one way a lesion is made from its clips
  (:func:`~ceuskit.study.lesions.lesion_input`), and stored alone (:func:`~ceuskit.study.lesions.add_lesion`);
- :mod:`~ceuskit.study.manifest`: manifests and reader CSVs read, validated, de-identified and imported;
- :mod:`~ceuskit.study.execute`: tasks run serially, on a local Dask cluster or on a scheduler;
- :mod:`~ceuskit.study.runner`: which lesions need analysing, one lesion's analysis, results recorded;
- :mod:`~ceuskit.study.tables`: the cohort table, one row per lesion;
- :mod:`~ceuskit.study.statistics`: cohort statistics and reader agreement over that table;
- :mod:`~ceuskit.study.export`: the table written as CSV, Parquet or Excel.

The seed-like demo cohort, end to end, is ``ceuskit.demo.run_demo``.
"""

from __future__ import annotations

from ceuskit.study.export import export_table
from ceuskit.study.files import clip_from_file, clip_header_summary
from ceuskit.study.lesions import add_lesion, check_new_lesion, lesion_input
from ceuskit.study.manifest import (
    import_manifest,
    import_reads,
    read_manifest,
    read_reads,
)
from ceuskit.study.runner import RunOptions, RunSummary, analyse_lesion, run_study, software_version
from ceuskit.study.statistics import CORRELATION_PARAMETERS, PATTERN_NAMES, cohort_stats, study_stats
from ceuskit.study.tables import cohort_frame

__all__ = [
    "CORRELATION_PARAMETERS",
    "PATTERN_NAMES",
    "RunOptions",
    "RunSummary",
    "add_lesion",
    "analyse_lesion",
    "check_new_lesion",
    "clip_from_file",
    "clip_header_summary",
    "cohort_frame",
    "cohort_stats",
    "export_table",
    "import_manifest",
    "import_reads",
    "lesion_input",
    "read_manifest",
    "read_reads",
    "run_study",
    "software_version",
    "study_stats",
]
