"""The hospital connection: find, pull and push DICOM objects over DICOMweb or DIMSE.

::

    config.py     where the PACS is; credentials (environment or config file), TLS, timeouts, retries
    records.py    search results (studies → series → instances), ``dicomweb:STUDY/SERIES[/INSTANCE]`` names
    http.py       one requests session, bounded retries, errors as one line without identifiers
    multipart.py  multipart/related streamed both ways (WADO-RS answers, STOW-RS requests)
    dicomweb.py   QIDO-RS (dicomweb-client), WADO-RS, STOW-RS
    association.py  DICOM associations (pynetdicom): AE, presentation contexts, one-line failures
    dimse.py      C-ECHO, C-FIND, C-GET / C-MOVE, C-STORE
    transfer.py   pull (atomic, hash-indexed, de-identification on the way in) and push, either protocol
    cache.py      PACS clips of a study manifest: fetched into a local cache, provenance recorded

Example
-------
>>> from ceuskit.pacs import connect, pull, resolve_target  # doctest: +SKIP
>>> with connect(resolve_target(url="https://pacs.example.org/dicom-web")) as pacs:  # doctest: +SKIP
...     pull(pacs, study_uid, series_uid, out=Path("clips"))
"""

from __future__ import annotations

from ceuskit.pacs.config import Credentials, PacsTarget, Transport, resolve_target
from ceuskit.pacs.records import (
    InstanceRecord,
    ObjectRef,
    Query,
    SeriesRecord,
    StoreResult,
    StudyRecord,
    parse_date_range,
    parse_ref,
)
from ceuskit.pacs.transfer import Pacs, PullResult, connect, dicom_files, pull, push

__all__ = ["Credentials", "InstanceRecord", "ObjectRef", "Pacs", "PacsTarget", "PullResult", "Query",
           "SeriesRecord", "StoreResult", "StudyRecord", "Transport", "connect", "dicom_files", "parse_date_range",
           "parse_ref", "pull", "push", "resolve_target"]
