"""DICOMweb (PS3.18): search, retrieve and store.

Search with QIDO-RS through ``dicomweb-client``, retrieve with WADO-RS and store with STOW-RS streamed
through the same session (a clip of hundreds of MB never sits in memory).

dicomweb-client's own log records stay at WARNING and above: at INFO it names studies by UID.

Retrieval asks for the stored transfer syntax (``transfer-syntax=*``), so the file that arrives is the file
the PACS holds, byte for byte where the PACS keeps files as received (Orthanc does).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from ceuskit.errors import PacsError, PacsNotFoundError
from ceuskit.pacs.config import PacsTarget
from ceuskit.pacs.http import TransferBroken, check_status, make_session, with_retries
from ceuskit.pacs.multipart import MultipartBody, boundary_of, iter_parts
from ceuskit.pacs.records import InstanceRecord, Query, SeriesRecord, StoreResult, StudyRecord

__all__ = ["DicomWebPacs"]

_ACCEPT_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
_STUDY_FIELDS = ("StudyInstanceUID", "PatientID", "StudyDate", "StudyTime", "StudyDescription", "AccessionNumber",
                 "ModalitiesInStudy")
_SERIES_FIELDS = ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription", "SeriesDate")
_INSTANCE_FIELDS = ("SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "InstanceNumber", "NumberOfFrames")
_TAGS = {"StudyInstanceUID": "0020000D", "SeriesInstanceUID": "0020000E", "SOPInstanceUID": "00080018",
         "SOPClassUID": "00080016", "PatientID": "00100020", "StudyDate": "00080020", "StudyTime": "00080030",
         "StudyDescription": "00081030", "AccessionNumber": "00080050", "ModalitiesInStudy": "00080061",
         "Modality": "00080060", "SeriesNumber": "00200011", "SeriesDescription": "0008103E",
         "SeriesDate": "00080021", "InstanceNumber": "00200013", "NumberOfFrames": "00280008",
         "FailureReason": "00081197"}
_NOT_FINGERPRINTED = ("BulkDataURI", "00081190")  # server-specific URLs, not content
_PAGE, _MAX_PAGES = 1000, 100  # QIDO instance pages: at most 100 000 instances per study
_MAX_BATCH_BYTES = 256 << 20
_MAX_BATCH_FILES = 100
NOT_FOUND = "the PACS has no such study, series or instance"


def _values(item: dict[str, Any], keyword: str) -> list[Any]:
    return list((item.get(_TAGS[keyword]) or {}).get("Value") or [])


def _text(item: dict[str, Any], keyword: str) -> str | None:
    values = _values(item, keyword)
    if not values or values[0] is None:
        return None
    value = values[0]
    if isinstance(value, dict):  # a person name
        return str(value.get("Alphabetic", ""))
    return str(value)


def _int(item: dict[str, Any], keyword: str) -> int | None:
    text = _text(item, keyword)
    try:
        return int(float(text)) if text not in (None, "") else None
    except ValueError:
        return None


def fingerprint(item: dict[str, Any]) -> str:
    """SHA-256 of an instance's DICOM JSON metadata, without server-specific URLs: changes when it changes."""
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in sorted(value.items()) if k not in _NOT_FINGERPRINTED}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    return hashlib.sha256(json.dumps(clean(item), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class DicomWebPacs:
    """A DICOMweb server (base URL of QIDO-RS, WADO-RS and STOW-RS, e.g. Orthanc's ``…/dicom-web``)."""

    def __init__(self, target: PacsTarget) -> None:
        from dicomweb_client.api import DICOMwebClient

        if target.url is None:
            raise ValueError("a DICOMweb target needs a URL")
        logger = logging.getLogger("dicomweb_client")  # it logs study UIDs at INFO
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
        self.target = target
        self.session = make_session(target)
        self._timeout = (target.transport.connect_timeout_s, target.transport.timeout_s)
        self.client = DICOMwebClient(url=target.url, session=self.session, timeout=self._timeout)
        self.client.set_http_retry_params(retry=False)  # ours (with_retries) are bounded and classified

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __enter__(self) -> DicomWebPacs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, call: Callable[[], Any], not_found: str = NOT_FOUND) -> Any:
        return with_retries(call, self.target, not_found=not_found)

    # -------------------------------------------------------------------------------------------- search
    def echo(self) -> None:
        """Check that the server answers a search and accepts our credentials (the DICOMweb C-ECHO)."""
        self._call(lambda: self.client.search_for_studies(limit=1, fields=["StudyInstanceUID"]))

    def find(self, query: Query) -> tuple[list[StudyRecord], bool]:
        """Studies matching ``query`` with their series and instances; and whether more studies matched."""
        filters: dict[str, Any] = {}
        if query.patient_id:
            filters["PatientID"] = query.patient_id
        if query.study_date:
            filters["StudyDate"] = query.study_date
        if query.modality:
            filters["ModalitiesInStudy"] = query.modality
        found = self._call(lambda: self.client.search_for_studies(
            limit=query.limit + 1, fields=list(_STUDY_FIELDS), search_filters=filters))
        more = len(found) > query.limit
        studies = []
        for item in found[:query.limit]:
            uid = _text(item, "StudyInstanceUID")
            if not uid:
                continue
            studies.append(StudyRecord(
                study_uid=uid, patient_id=_text(item, "PatientID"), date=_text(item, "StudyDate"),
                time=_text(item, "StudyTime"), description=_text(item, "StudyDescription"),
                accession_number=_text(item, "AccessionNumber"),
                modalities=tuple(str(v) for v in _values(item, "ModalitiesInStudy")),
                series=tuple(self._series(uid, query.modality))))
        return studies, more

    def _series(self, study_uid: str, modality: str | None) -> list[SeriesRecord]:
        filters = {"Modality": modality} if modality else {}
        series = self._call(lambda: self.client.search_for_series(
            study_instance_uid=study_uid, fields=list(_SERIES_FIELDS), search_filters=filters))
        by_series: dict[str, list[InstanceRecord]] = {}
        for inst in self.instances(study_uid, must_exist=False):
            by_series.setdefault(inst.series_uid, []).append(inst)
        out = []
        for item in series:
            uid = _text(item, "SeriesInstanceUID")
            if uid:
                out.append(SeriesRecord(study_uid=study_uid, series_uid=uid, modality=_text(item, "Modality"),
                                        number=_int(item, "SeriesNumber"),
                                        description=_text(item, "SeriesDescription"),
                                        date=_text(item, "SeriesDate"), instances=tuple(by_series.get(uid, ()))))
        return sorted(out, key=lambda s: (s.number is None, s.number or 0, s.series_uid))

    def instances(self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None, *,
                  must_exist: bool = True) -> list[InstanceRecord]:
        """Return the instances of a study, series or single instance, sorted by series and instance number.

        Raises
        ------
        PacsNotFoundError
            Nothing there (when ``must_exist``).
        """
        filters = {"SOPInstanceUID": sop_uid} if sop_uid else {}
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        for page in range(_MAX_PAGES):  # bounded: a server that ignores offset must not loop us forever
            items = self._call(partial(self.client.search_for_instances, study_instance_uid=study_uid,
                                       series_instance_uid=series_uid, fields=list(_INSTANCE_FIELDS),
                                       search_filters=filters, limit=_PAGE, offset=page * _PAGE))
            new = [i for i in items if _text(i, "SOPInstanceUID") not in seen]
            seen.update(str(_text(i, "SOPInstanceUID")) for i in new)
            found.extend(new)
            if len(items) < _PAGE or not new:
                break
        records = []
        for item in found:
            sop, series = _text(item, "SOPInstanceUID"), _text(item, "SeriesInstanceUID") or series_uid
            if sop and series and (sop_uid is None or sop == sop_uid):
                records.append(InstanceRecord(study_uid=study_uid, series_uid=series, sop_uid=sop,
                                              sop_class_uid=_text(item, "SOPClassUID"),
                                              instance_number=_int(item, "InstanceNumber"),
                                              n_frames=_int(item, "NumberOfFrames")))
        if must_exist and not records:
            raise PacsNotFoundError(NOT_FOUND)
        return sorted(records, key=lambda r: (r.series_uid, r.instance_number is None, r.instance_number or 0,
                                              r.sop_uid))

    def fingerprints(self, instances: Sequence[InstanceRecord]) -> dict[str, str]:
        """SOP Instance UID → :func:`fingerprint` of its metadata (one WADO-RS metadata request per series)."""
        out: dict[str, str] = {}
        for study_uid, series_uid in sorted({(i.study_uid, i.series_uid) for i in instances}):
            items = self._call(partial(self.client.retrieve_series_metadata, study_uid, series_uid))
            for item in items:
                sop = _text(item, "SOPInstanceUID")
                if sop:
                    out[sop] = fingerprint(item)
        return out

    # ------------------------------------------------------------------------------------------ retrieve
    def fetch(self, instance: InstanceRecord, path: Path, progress: Callable[[int], None] | None = None) -> int:
        """Stream one instance, as stored, into ``path`` (overwritten); return its size in bytes.

        A broken transfer is tried again from the start (bounded); the caller owns ``path`` and removes it
        on failure.
        """
        url = (f"{self.target.url}/studies/{instance.study_uid}/series/{instance.series_uid}"
               f"/instances/{instance.sop_uid}")
        return int(self._call(lambda: self._download(url, path, progress)))

    def _download(self, url: str, path: Path, progress: Callable[[int], None] | None) -> int:
        # identity: pixel data hardly compresses, and a server gzipping hundreds of MB on the fly is 5x slower
        headers = {"Accept": _ACCEPT_DICOM, "Accept-Encoding": "identity"}
        with self.session.get(url, headers=headers, stream=True, timeout=self._timeout) as answer:
            check_status(answer)
            chunks = answer.iter_content(chunk_size=1 << 20)
            boundary = boundary_of(answer.headers.get("Content-Type", ""))
            written = 0
            with open(path, "wb") as out:
                if boundary is None:  # a single application/dicom body
                    for chunk in chunks:
                        out.write(chunk)
                        written += len(chunk)
                        if progress:
                            progress(written)
                    return written
                parts = 0
                for headers, body in iter_parts(chunks, boundary):
                    parts += 1
                    if parts > 1:
                        raise PacsError(f"the PACS at {self.target.label} sent several objects for one instance")
                    for chunk in body:
                        out.write(chunk)
                        written += len(chunk)
                        if progress:
                            progress(written)
                    declared = headers.get("content-length", "")
                    if declared.isdigit() and int(declared) != written:
                        raise TransferBroken("part shorter than announced")
                if parts == 0:
                    raise PacsNotFoundError(NOT_FOUND)
        return written

    # --------------------------------------------------------------------------------------------- store
    def store(self, paths: Sequence[Path], progress: Callable[[int], None] | None = None) -> StoreResult:
        """STOW-RS the DICOM files ``paths`` (in batches of at most 256 MB / 100 files); counts per outcome."""
        result = StoreResult()
        sent_before = 0
        for batch in _batches(paths):
            def report(sent: int, base: int = sent_before) -> None:
                if progress:
                    progress(base + sent)

            def post(files: list[Path] = batch, report: Callable[[int], None] = report) -> StoreResult:
                return self._post(files, report)

            result = result.merged(self._call(post))
            sent_before += sum(p.stat().st_size for p in batch)
        return result

    def _post(self, batch: list[Path], progress: Callable[[int], None]) -> StoreResult:
        body = MultipartBody(batch, progress=progress)
        try:
            answer = self.session.post(f"{self.target.url}/studies", data=body, timeout=self._timeout,
                                       headers={"Content-Type": body.content_type,
                                                "Accept": "application/dicom+json"})
        finally:
            body.close()
        if answer.status_code not in (200, 202, 409):
            check_status(answer)
        try:
            document = answer.json() if answer.content else {}
        except ValueError:
            document = {}
        if isinstance(document, list):
            document = document[0] if document else {}
        stored = len((document.get("00081199") or {}).get("Value") or [])
        failed_items = (document.get("00081198") or {}).get("Value") or []
        reasons = tuple(sorted({int(_int(item, "FailureReason") or 0) for item in failed_items}))
        if answer.status_code == 409 and not failed_items:
            failed_items, reasons = list(batch), (0,)
        if not document and answer.status_code == 200:
            stored = len(batch)
        return StoreResult(stored=stored, failed=len(failed_items), failure_reasons=reasons)


def _batches(paths: Sequence[Path]) -> list[list[Path]]:
    batches: list[list[Path]] = []
    current: list[Path] = []
    size = 0
    for path in paths:
        length = path.stat().st_size
        if current and (size + length > _MAX_BATCH_BYTES or len(current) >= _MAX_BATCH_FILES):
            batches.append(current)
            current, size = [], 0
        current.append(path)
        size += length
    if current:
        batches.append(current)
    return batches
