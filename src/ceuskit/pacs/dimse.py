"""DIMSE (PS3.7, PS3.4 Annex C) through ``pynetdicom``, for the PACS without DICOMweb.

C-ECHO checks the association; C-FIND (Study Root) searches studies → series → images; an instance comes
back by C-GET on our own association (default) or by C-MOVE to a storage SCP that we start for the pull
(``move_port``: the PACS must know our AE title, host and that port); C-STORE sends files.  Received and sent
datasets stream through files (pynetdicom's chunked modes), never whole in memory.

pynetdicom's own log records stay at WARNING and above: at INFO and DEBUG it prints identifiers.
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    JPEG2000,
    MPEG4HP41,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from ceuskit.errors import InputError, PacsError, PacsNotFoundError
from ceuskit.pacs.config import PacsTarget
from ceuskit.pacs.http import TransferBroken, with_retries
from ceuskit.pacs.records import InstanceRecord, Query, SeriesRecord, StoreResult, StudyRecord

__all__ = ["DimsePacs", "RECEIVED_SOP_CLASSES"]

NOT_FOUND = "the PACS has no such study, series or instance"
_FIND, _GET, _MOVE, _ECHO = ("1.2.840.10008.5.1.4.1.2.2.1", "1.2.840.10008.5.1.4.1.2.2.3",
                             "1.2.840.10008.5.1.4.1.2.2.2", "1.2.840.10008.1.1")
_IMAGE_CLASSES = ("1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image
                  "1.2.840.10008.5.1.4.1.1.6.1")  # Ultrasound Image
_OTHER_CLASSES = ("1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume
                  "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
                  "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.4",  # multi-frame SC
                  "1.2.840.10008.5.1.4.1.1.88.11", "1.2.840.10008.5.1.4.1.1.88.22",  # Basic Text SR, Enhanced SR
                  "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive (3D) SR
                  "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
                  "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
                  "1.2.840.10008.5.1.4.1.1.77.1.4.1")  # Video Photographic
RECEIVED_SOP_CLASSES = _IMAGE_CLASSES + _OTHER_CLASSES
"""Storage SOP classes ceuskit accepts on a C-GET or C-MOVE (ultrasound, secondary capture, SR, SEG, …)."""
_IMAGE_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
                   JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless,
                   JPEG2000Lossless, JPEG2000, RLELossless, MPEG4HP41)
_PLAIN_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)
_PENDING = (0xFF00, 0xFF01)
_QUIET_LOGGERS = ("pynetdicom",)


def _quiet_pynetdicom() -> None:
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


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
        from pynetdicom import _config

        if target.host is None or target.port is None:
            raise ValueError("a DIMSE target needs a host and port")
        if move_port is not None and not 0 < move_port < 65536:
            raise InputError("--move-port must be a TCP port (1-65535)")
        _config.STORE_RECV_CHUNKED_DATASET = True  # received datasets go to a file, not memory
        _config.STORE_SEND_CHUNKED_DATASET = True  # sent files are read in chunks, not decoded
        _quiet_pynetdicom()
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

    # ------------------------------------------------------------------------------------- associations
    def _ae(self) -> Any:
        from pynetdicom import AE

        ae = AE(ae_title=self.target.aet)
        transport = self.target.transport
        ae.connection_timeout = transport.connect_timeout_s
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = transport.timeout_s
        ae.maximum_pdu_size = 1 << 18
        return ae

    @contextmanager
    def _association(self, contexts: Sequence[tuple[str, Sequence[str]]], *, scp_classes: Sequence[str] = (),
                     handlers: Sequence[Any] = ()) -> Iterator[Any]:
        from pynetdicom import build_role

        self._check_reachable()  # pynetdicom leaks its socket when the connection is refused
        ae = self._ae()
        for abstract, syntaxes in contexts:
            ae.add_requested_context(abstract, list(syntaxes))
        roles = [build_role(uid, scp_role=True) for uid in scp_classes]
        assoc = ae.associate(self.target.host, self.target.port, ae_title=self.target.aec, ext_neg=roles or None,
                             evt_handlers=list(handlers))
        if not assoc.is_established:
            raise self._not_associated(assoc, contexts)
        try:
            yield assoc
        finally:
            _drop_partial(assoc)
            if assoc.is_established:
                assoc.release()
            ae.shutdown()

    def _check_reachable(self) -> None:
        """A TCP connection to the peer opens, else PacsError saying why (refused, no answer, unknown host)."""
        try:
            with socket.create_connection((self.target.host, self.target.port),
                                          timeout=self.target.transport.connect_timeout_s):
                pass
        except OSError as exc:
            reason = {ConnectionRefusedError: "connection refused", TimeoutError: "no answer",
                      socket.timeout: "no answer", socket.gaierror: "host name not found"}.get(
                type(exc), type(exc).__name__)
            raise PacsError(f"cannot reach the PACS at {self.target.label} ({reason}); check HOST:PORT and that "
                            "the server is running") from None

    def _not_associated(self, assoc: Any, contexts: Sequence[tuple[str, Sequence[str]]]) -> PacsError:
        where = f"the PACS at {self.target.label}"
        if assoc.is_rejected:
            return PacsError(f"{where} rejected the association: check its AE title (--aec, here "
                             f"{self.target.aec}) and that it knows ours (--aet, here {self.target.aet})")
        rejected = list(getattr(assoc, "rejected_contexts", None) or [])
        if rejected and not assoc.accepted_contexts:  # the peer answered, but took none of our proposals
            sop = str(rejected[0].abstract_syntax)
            syntax = next((syntaxes[0] for abstract, syntaxes in contexts if abstract == sop), "")
            more = f" (nor the {len(rejected) - 1} other proposal(s))" if len(rejected) > 1 else ""
            return PacsError(f"{where} does not accept {UID(sop).name} in {UID(syntax).name}{more}")
        return PacsError(f"{where} accepts connections but no DICOM association (aborted or timed out); "
                         "check that HOST:PORT is its DICOM port")

    def _call(self, call: Callable[[], Any]) -> Any:
        return with_retries(call, self.target, not_found=NOT_FOUND)

    # ---------------------------------------------------------------------------------------- echo, find
    def echo(self) -> None:
        """C-ECHO: the association works and the peer answers."""
        def run() -> None:
            with self._association([(_ECHO, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])]) as assoc:
                status = assoc.send_c_echo()
                if not status:
                    raise TransferBroken("no C-ECHO answer")
                if status.Status != 0x0000:
                    raise PacsError(f"the PACS at {self.target.label} answered C-ECHO with status "
                                    f"0x{status.Status:04X}")
        self._call(run)

    def _find(self, assoc: Any, identifier: Dataset) -> list[Dataset]:
        found = []
        for status, answer in assoc.send_c_find(identifier, _FIND):
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
            with self._association([(_FIND, _PLAIN_SYNTAXES)]) as assoc:
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
        """The instances of a study, series or single instance (C-FIND), sorted by series and number.

        Raises
        ------
        PacsNotFoundError
            Nothing there (when ``must_exist``).
        """
        def run() -> list[InstanceRecord]:
            with self._association([(_FIND, _PLAIN_SYNTAXES)]) as assoc:
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
        source = Path(event.dataset_path)
        try:
            shutil.copyfile(source, destination)
        except OSError:
            return 0xA700  # out of resources (disk full, …)
        finally:
            source.unlink(missing_ok=True)
        with self._lock:
            self._received[sop] = destination.stat().st_size
        return 0x0000

    def _storage_contexts(self) -> list[tuple[str, Sequence[str]]]:
        contexts: list[tuple[str, Sequence[str]]] = []
        for uid in _IMAGE_CLASSES:  # one context per syntax: the stored encoding comes back as it is
            contexts.extend((uid, [syntax]) for syntax in _IMAGE_SYNTAXES)
        contexts.extend((uid, _PLAIN_SYNTAXES) for uid in _OTHER_CLASSES)
        return contexts

    def _ensure_server(self) -> None:
        from pynetdicom import evt

        if self._server is not None:
            return
        ae = self._ae()
        for abstract in sorted({uid for uid, _ in self._storage_contexts()}):
            ae.add_supported_context(abstract, list(_IMAGE_SYNTAXES))
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
                with self._association([(_MOVE, _PLAIN_SYNTAXES)]) as assoc:
                    final = self._final(assoc.send_c_move(ask, self.target.aet, _MOVE))
            else:
                storage = self._storage_contexts()
                with self._association([(_GET, _PLAIN_SYNTAXES), *storage],
                                       scp_classes=sorted({uid for uid, _ in storage}),
                                       handlers=[(evt.EVT_C_STORE, self._on_store)]) as assoc:
                    final = self._final(assoc.send_c_get(ask, _GET))
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
                return status
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
                with self._association(contexts) as assoc:
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
    _drop_partial(event.assoc)


def _drop_partial(assoc: Any) -> None:
    """Remove the temporary file of a dataset whose reception was cut off (pynetdicom leaves it)."""
    message = getattr(getattr(assoc, "dimse", None), "message", None)
    handle = getattr(message, "_data_set_file", None)
    partial = getattr(message, "_data_set_path", None)
    if handle is not None:
        try:
            handle.close()
        except OSError:
            pass
    if isinstance(partial, Path):
        partial.unlink(missing_ok=True)

