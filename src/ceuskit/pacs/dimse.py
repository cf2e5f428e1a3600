"""DIMSE (PS3.7, PS3.4 Annex C) through ``pynetdicom``, for the PACS without DICOMweb.

C-ECHO checks the association; C-FIND (Study Root) searches studies → series → images; an instance comes
back by C-GET on our own association (default) or by C-MOVE to a storage SCP that we start for the pull
(``move_port``: the PACS must know our AE title, host and that port); C-STORE sends files.  Received and sent
datasets stream through files (pynetdicom's chunked modes, see :mod:`ceuskit.pacs.association`), never whole
in memory.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from ceuskit.errors import InputError, PacsError, PacsNotFoundError
from ceuskit.pacs.association import (
    ECHO,
    FIND,
    GET,
    IMAGE_SYNTAXES,
    MOVE,
    PLAIN_SYNTAXES,
    Link,
    drop_partial,
    storage_contexts,
)
from ceuskit.pacs.config import PacsTarget
from ceuskit.pacs.http import TransferBroken, with_retries
from ceuskit.pacs.records import InstanceRecord, Query, SeriesRecord, StoreResult, StudyRecord

__all__ = ["DimsePacs"]

NOT_FOUND = "the PACS has no such study, series or instance"
_PENDING = (0xFF00, 0xFF01)


def _str(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value in (None, ""):
        return None
    return str(value)


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _file_classes(path: Path) -> tuple[str, str]:
    """(SOP class UID, transfer syntax UID) from a file's meta information; InputError if not DICOM."""
    try:
        meta = dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"]).file_meta
        return str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)
    except (InvalidDicomError, AttributeError, OSError, EOFError, ValueError, KeyError):
        raise InputError(f"{path.name}: not a DICOM file with file meta information; nothing was sent") from None


class DimsePacs:
    """A DIMSE peer (``target.host:target.port``, AE title ``target.aec``; ours ``target.aet``).

    ``move_port``: retrieve by C-MOVE to a storage SCP on that port (all interfaces) instead of by C-GET.
    """

    def __init__(self, target: PacsTarget, *, move_port: int | None = None) -> None:
        if move_port is not None and not 0 < move_port < 65536:
            raise InputError("--move-port must be a TCP port (1-65535)")
        if move_port is not None and target.tls:
            raise InputError("C-MOVE to us over TLS is not supported: leave out --move-port to retrieve by C-GET")
        self.link = Link(target)
        self.target = target
        self.move_port = move_port
        self._server: Any = None
        self._expected: dict[str, Path] = {}
        self._received: dict[str, int] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Stop the C-MOVE storage SCP, if one was started."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> DimsePacs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, call: Callable[[], Any]) -> Any:
        return with_retries(call, self.target, not_found=NOT_FOUND)

    # ---------------------------------------------------------------------------------------- echo, find
    def echo(self) -> None:
        """C-ECHO: the association works and the peer answers."""
        def run() -> None:
            with self.link.open([(ECHO, PLAIN_SYNTAXES)]) as assoc:
                status = assoc.send_c_echo()
                if not status:
                    raise TransferBroken("no C-ECHO answer")
                if status.Status != 0x0000:
                    raise PacsError(f"the PACS at {self.target.label} answered C-ECHO with status "
                                    f"0x{status.Status:04X}")
        self._call(run)

    def _find(self, assoc: Any, identifier: Dataset) -> list[Dataset]:
        found = []
        for status, answer in assoc.send_c_find(identifier, FIND):
            if not status:
                raise TransferBroken("C-FIND answer missing")
            if status.Status in _PENDING:
                found.append(answer)
            elif status.Status in (0x0000, 0xFE00):
                break
            else:
                raise PacsError(f"the PACS at {self.target.label} refused the search (status 0x{status.Status:04X})")
        return found

    def find(self, query: Query) -> tuple[list[StudyRecord], bool]:
        """Studies matching ``query`` with their series and instances; and whether more studies matched."""
        def run() -> tuple[list[StudyRecord], bool]:
            with self.link.open([(FIND, PLAIN_SYNTAXES)]) as assoc:
                ask = Dataset()
                ask.QueryRetrieveLevel = "STUDY"
                ask.PatientID = query.patient_id or ""
                ask.StudyDate = query.study_date or ""
                ask.ModalitiesInStudy = query.modality or ""
                for keyword in ("StudyInstanceUID", "StudyTime", "StudyDescription", "AccessionNumber"):
                    setattr(ask, keyword, "")
                found = self._find(assoc, ask)
                studies = []
                for answer in found[:query.limit]:
                    uid = _str(answer, "StudyInstanceUID")
                    if not uid:
                        continue
                    modalities = answer.get("ModalitiesInStudy") or []
                    modalities = [modalities] if isinstance(modalities, str) else list(modalities)
                    studies.append(StudyRecord(
                        study_uid=uid, patient_id=_str(answer, "PatientID"), date=_str(answer, "StudyDate"),
                        time=_str(answer, "StudyTime"), description=_str(answer, "StudyDescription"),
                        accession_number=_str(answer, "AccessionNumber"),
                        modalities=tuple(str(m) for m in modalities if m),
                        series=tuple(self._series(assoc, uid, query.modality))))
                return studies, len(found) > query.limit
        studies, more = self._call(run)
        return studies, more

    def _series(self, assoc: Any, study_uid: str, modality: str | None = None) -> list[SeriesRecord]:
        ask = Dataset()
        ask.QueryRetrieveLevel = "SERIES"
        ask.StudyInstanceUID = study_uid
        ask.Modality = modality or ""
        for keyword in ("SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "SeriesDate"):
            setattr(ask, keyword, "")
        out = []
        for answer in self._find(assoc, ask):
            uid = _str(answer, "SeriesInstanceUID")
            if uid:
                out.append(SeriesRecord(study_uid=study_uid, series_uid=uid, modality=_str(answer, "Modality"),
                                        number=_int(answer, "SeriesNumber"),
                                        description=_str(answer, "SeriesDescription"),
                                        date=_str(answer, "SeriesDate"),
                                        instances=tuple(self._images(assoc, study_uid, uid))))
        return sorted(out, key=lambda s: (s.number is None, s.number or 0, s.series_uid))

    def _images(self, assoc: Any, study_uid: str, series_uid: str, sop_uid: str | None = None
                ) -> list[InstanceRecord]:
        ask = Dataset()
        ask.QueryRetrieveLevel = "IMAGE"
        ask.StudyInstanceUID = study_uid
        ask.SeriesInstanceUID = series_uid
        ask.SOPInstanceUID = sop_uid or ""
        for keyword in ("SOPClassUID", "InstanceNumber", "NumberOfFrames"):
            setattr(ask, keyword, "")
        records = []
        for answer in self._find(assoc, ask):
            sop = _str(answer, "SOPInstanceUID")
            if sop and (sop_uid is None or sop == sop_uid):
                records.append(InstanceRecord(study_uid=study_uid, series_uid=series_uid, sop_uid=sop,
                                              sop_class_uid=_str(answer, "SOPClassUID"),
                                              instance_number=_int(answer, "InstanceNumber"),
                                              n_frames=_int(answer, "NumberOfFrames")))
        return sorted(records, key=lambda r: (r.instance_number is None, r.instance_number or 0, r.sop_uid))

    def instances(self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None, *,
                  must_exist: bool = True) -> list[InstanceRecord]:
        """Return the instances of a study, series or single instance (C-FIND), sorted by series and number.

        Raises
        ------
        PacsNotFoundError
            Nothing there (when ``must_exist``).
        """
        def run() -> list[InstanceRecord]:
            with self.link.open([(FIND, PLAIN_SYNTAXES)]) as assoc:
                if series_uid is not None:
                    return self._images(assoc, study_uid, series_uid, sop_uid)
                return [inst for series in self._series(assoc, study_uid) for inst in series.instances
                        if sop_uid is None or inst.sop_uid == sop_uid]
        records = self._call(run)
        if must_exist and not records:
            raise PacsNotFoundError(NOT_FOUND)
        return sorted(records, key=lambda r: (r.series_uid, r.instance_number is None, r.instance_number or 0,
                                              r.sop_uid))

    def fingerprints(self, instances: Sequence[InstanceRecord]) -> dict[str, str]:
        """DIMSE offers no cheap content fingerprint: {} (an instance is known by its SOP Instance UID)."""
        return {}

    # ------------------------------------------------------------------------------------------ retrieve
    def _on_store(self, event: Any) -> int:
        """EVT_C_STORE: copy an expected instance into its destination; anything else is refused."""
        sop = str(event.request.AffectedSOPInstanceUID)
        with self._lock:
            destination = self._expected.get(sop)
        if destination is None:
            return 0xA900  # not what we asked for
        source = Path(event.dataset_path)  # pynetdicom's spool file, complete
        try:
            try:
                os.replace(source, destination)  # same file system: a rename, no second copy
            except OSError:
                shutil.copyfile(source, destination)
        except OSError:
            return 0xA700  # out of resources (disk full, …)
        finally:
            source.unlink(missing_ok=True)
        with self._lock:
            self._received[sop] = destination.stat().st_size
        return 0x0000

    def _ensure_server(self) -> None:
        from pynetdicom import evt

        if self._server is not None:
            return
        ae = self.link.ae()
        for abstract in sorted({uid for uid, _ in storage_contexts()}):
            ae.add_supported_context(abstract, list(IMAGE_SYNTAXES))
        try:
            self._server = ae.start_server(("", self.move_port), block=False,
                                           evt_handlers=[(evt.EVT_C_STORE, self._on_store),
                                                         (evt.EVT_ABORTED, _on_ended),
                                                         (evt.EVT_CONN_CLOSE, _on_ended)])
        except OSError as exc:
            raise PacsError(f"cannot listen on port {self.move_port} for C-MOVE ({type(exc).__name__}); choose "
                            "another --move-port") from None

    def fetch(self, instance: InstanceRecord, path: Path, progress: Callable[[int], None] | None = None) -> int:
        """Retrieve one instance (C-GET, or C-MOVE with ``move_port``) into ``path``; return its size.

        A broken transfer is tried again (bounded); the caller owns ``path`` and removes it on failure.
        """
        size = int(self._call(lambda: self._fetch_once(instance, path)))
        if progress:
            progress(size)
        return size

    def _fetch_once(self, instance: InstanceRecord, path: Path) -> int:
        from pynetdicom import evt

        ask = Dataset()
        ask.QueryRetrieveLevel = "IMAGE"
        ask.StudyInstanceUID = instance.study_uid
        ask.SeriesInstanceUID = instance.series_uid
        ask.SOPInstanceUID = instance.sop_uid
        with self._lock:
            self._expected[instance.sop_uid] = path
            self._received.pop(instance.sop_uid, None)
        try:
            if self.move_port is not None:
                self._ensure_server()
                with self.link.open([(MOVE, PLAIN_SYNTAXES)]) as assoc:
                    final = self._final(assoc.send_c_move(ask, self.target.aet, MOVE))
            else:
                storage = storage_contexts()
                with self.link.open([(GET, PLAIN_SYNTAXES), *storage], scp_classes=sorted({u for u, _ in storage}),
                                    handlers=[(evt.EVT_C_STORE, self._on_store)]) as assoc:
                    final = self._final(assoc.send_c_get(ask, GET))
        finally:
            with self._lock:
                self._expected.pop(instance.sop_uid, None)
                size = self._received.pop(instance.sop_uid, None)
        if size is not None:
            return size
        where, code = f"the PACS at {self.target.label}", f"0x{final.Status:04X}"
        if self.move_port is not None and (final.Status == 0xA801
                                           or not _int(final, "NumberOfCompletedSuboperations")):
            raise PacsError(f"{where} did not send the instance to us (status {code}): it must know our AE title "
                            f"({self.target.aet}) as a C-MOVE destination, with our host and --move-port; or "
                            "retrieve by C-GET")
        raise PacsError(f"{where} did not deliver the instance (status {code})")

    def _final(self, responses: Any) -> Dataset:
        for status, _identifier in responses:
            if not status:
                raise TransferBroken("association ended during the retrieve")
            if status.Status not in _PENDING:
                final: Dataset = status
                return final
        raise TransferBroken("no final retrieve status")

    # --------------------------------------------------------------------------------------------- store
    def store(self, paths: Sequence[Path], progress: Callable[[int], None] | None = None) -> StoreResult:
        """C-STORE the DICOM files ``paths`` (each in its own encoding); counts per outcome."""
        classes = {path: _file_classes(path) for path in paths}  # all checked before anything is sent
        done: dict[Path, int] = {}
        sent = [0]

        def run() -> None:
            remaining = [p for p in paths if p not in done]
            pairs = sorted({classes[p] for p in remaining})
            for start in range(0, len(pairs), 100):
                chunk = set(pairs[start:start + 100])
                contexts = [(sop, [syntax]) for sop, syntax in sorted(chunk)]
                with self.link.open(contexts) as assoc:
                    for path in [p for p in remaining if classes[p] in chunk]:
                        try:
                            status = assoc.send_c_store(path)
                        except ValueError:  # pynetdicom: no accepted presentation context for this file
                            sop, syntax = (UID(uid).name for uid in classes[path])
                            raise PacsError(f"the PACS at {self.target.label} does not accept {sop} in {syntax}; "
                                            "nothing more was sent") from None
                        if not status:
                            raise TransferBroken("association ended during the store")
                        done[path] = int(status.Status)
                        sent[0] += path.stat().st_size
                        if progress:
                            progress(sent[0])

        self._call(run)
        failed = sorted({code for code in done.values() if code & 0xF000 in (0xA000, 0xC000)})
        n_failed = sum(1 for code in done.values() if code & 0xF000 in (0xA000, 0xC000))
        return StoreResult(stored=len(done) - n_failed, failed=n_failed, failure_reasons=tuple(failed))


def _on_ended(event: Any) -> None:
    drop_partial(event.assoc)
