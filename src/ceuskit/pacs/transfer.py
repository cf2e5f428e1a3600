"""Pull from and push to a PACS, whatever the protocol.

Files are streamed to disk, written atomically, and skipped when already there unchanged.

A pull writes ``OUT/STUDY_UID/SERIES_UID/SOP_INSTANCE_UID.dcm`` (with de-identification: the keyed new
UIDs, so a pull with the same key file finds its earlier files) and keeps ``OUT/.ceuskit-pacs.json``: per
file its SHA-256, size and, where the protocol offers one (DICOMweb), a fingerprint of the PACS's metadata.
A file is fetched again when it is missing, its hash no longer matches (damaged or edited), or the PACS's
fingerprint changed; a download identical to the file already there leaves that file untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ceuskit._atomic import atomic_path
from ceuskit.errors import InputError, PacsError
from ceuskit.io.clip import file_sha256
from ceuskit.io.deid import deidentify_file, keyed_uid
from ceuskit.pacs.config import PacsTarget
from ceuskit.pacs.records import InstanceRecord, Query, StoreResult, StudyRecord

__all__ = ["INDEX_NAME", "Pacs", "PullResult", "connect", "dicom_files", "pull", "push"]

INDEX_NAME = ".ceuskit-pacs.json"
Progress = Callable[[int, int, int], None]
"""``progress(instances_done, instances_total, bytes_of_current_transfer)``."""


class Pacs(Protocol):
    """What :func:`pull` and :func:`push` need from a protocol (DICOMweb or DIMSE)."""

    target: PacsTarget

    def echo(self) -> None:
        """Check that the PACS answers (C-ECHO or an equivalent request)."""
        ...

    def find(self, query: Query) -> tuple[list[StudyRecord], bool]:
        """Return the studies matching ``query`` and whether more studies matched than were returned."""
        ...

    def instances(self, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None, *,
                  must_exist: bool = True) -> list[InstanceRecord]:
        """Return the instances of a study, series or single instance."""
        ...

    def fingerprints(self, instances: Sequence[InstanceRecord]) -> dict[str, str]:
        """Return a fingerprint of the PACS's metadata per SOP instance UID (empty where the protocol has none)."""
        ...

    def fetch(self, instance: InstanceRecord, path: Path, progress: Callable[[int], None] | None = None) -> int:
        """Write ``instance`` to ``path`` and return its size in bytes."""
        ...

    def store(self, paths: Sequence[Path], progress: Callable[[int], None] | None = None) -> StoreResult:
        """Send the DICOM files ``paths`` to the PACS."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...

    def __enter__(self) -> Pacs: ...
    def __exit__(self, *exc: object) -> None: ...


def connect(target: PacsTarget, *, move_port: int | None = None) -> Pacs:
    """Return a client for ``target``: DICOMweb for a URL, DIMSE for host:port (C-MOVE when ``move_port`` is given).

    Raises
    ------
    InputError
        The optional PACS dependencies are not installed.
    """
    try:
        if target.kind == "dicomweb":
            from ceuskit.pacs.dicomweb import DicomWebPacs

            if move_port is not None:
                raise InputError("--move-port is for DIMSE (--dimse), not DICOMweb")
            return DicomWebPacs(target)
        from ceuskit.pacs.dimse import DimsePacs

        return DimsePacs(target, move_port=move_port)
    except ModuleNotFoundError as exc:
        raise InputError(f"PACS support needs the optional package {exc.name}: pip install 'ceuskit[pacs]'") from None


@dataclass
class PullResult:
    """What a pull did: every file of the object (instance order), how many were fetched or already there."""

    files: list[Path] = field(default_factory=list)
    instances: list[InstanceRecord] = field(default_factory=list)
    fetched: int = 0
    skipped: int = 0
    bytes_fetched: int = 0


class _Index:
    """``OUT/.ceuskit-pacs.json``: relative path → {sha256, size_bytes, fingerprint}."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / INDEX_NAME
        self.files: dict[str, dict[str, Any]] = {}
        with suppress(OSError, ValueError, AttributeError):
            loaded = json.loads(self.path.read_text(encoding="utf-8")).get("files", {})
            if isinstance(loaded, dict):
                self.files = {k: v for k, v in loaded.items() if isinstance(v, dict)}

    def fresh(self, relative: str, target: Path, fingerprint: str | None) -> bool:
        entry = self.files.get(relative)
        if entry is None or not target.is_file():
            return False
        if fingerprint is not None and entry.get("fingerprint") != fingerprint:
            return False
        return bool(entry.get("sha256") == file_sha256(target))

    def record(self, relative: str, target: Path, fingerprint: str | None) -> None:
        self.files[relative] = {"sha256": file_sha256(target), "size_bytes": target.stat().st_size,
                                "fingerprint": fingerprint}
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps({"version": 1, "files": self.files}, indent=1, sort_keys=True),
                           encoding="utf-8")


@contextmanager
def _staging(folder: Path) -> Iterator[Path]:
    """Yield a temporary file in ``folder`` (hidden, ``.part``), removed afterwards whatever happened."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".ceuskit-pull-", suffix=".part", dir=folder)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _relative(instance: InstanceRecord, key: bytes | None) -> str:
    uids = (instance.study_uid, instance.series_uid, instance.sop_uid)
    if key is not None:
        uids = tuple(keyed_uid(uid, key) for uid in uids)  # type: ignore[assignment]
    return f"{uids[0]}/{uids[1]}/{uids[2]}.dcm"


def _check_received(path: Path, instance: InstanceRecord, target: PacsTarget) -> None:
    """Check that the file is DICOM and the instance asked for (a server that sends something else is refused)."""
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
    except Exception:  # noqa: BLE001 - any decoding failure means the same: not a DICOM file
        raise PacsError(f"the PACS at {target.label} sent something that is not a DICOM file") from None
    if str(ds.get("SOPInstanceUID", "")) != instance.sop_uid:
        raise PacsError(f"the PACS at {target.label} sent another instance than the one asked for")


def pull(pacs: Pacs, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None, *, out: Path,
         deidentify: Any = None, progress: Progress | None = None) -> PullResult:
    """Fetch a study, series or instance into ``out`` (see the module docstring for layout and skipping).

    ``deidentify``: :class:`ceuskit.io.deid.DeidOptions` to de-identify every file on its way in (only the
    de-identified file reaches ``out``).

    Raises
    ------
    PacsNotFoundError
        The PACS has nothing under these UIDs.
    PacsError
        Unreachable, refused, or a transfer that kept breaking off; no incomplete file is left in ``out``.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; --out must be a folder")
    instances = pacs.instances(study_uid, series_uid, sop_uid)
    fingerprints = pacs.fingerprints(instances)
    index = _Index(out)
    result = PullResult(instances=list(instances))
    key = getattr(deidentify, "key", None)
    total = len(instances)
    for number, instance in enumerate(instances):
        relative = _relative(instance, key)
        target = out / relative
        remote = fingerprints.get(instance.sop_uid)
        if progress:
            progress(number, total, 0)
        if index.fresh(relative, target, remote):
            result.skipped += 1
        else:
            try:
                _fetch_one(pacs, instance, target, deidentify=deidentify, result=result,
                           progress=_bytes_progress(progress, number, total))
                index.record(relative, target, remote)
            except OSError as exc:  # the local disk: full, read-only, … (the path would name the UIDs)
                raise InputError(f"cannot write into {out}: {exc.strerror or type(exc).__name__}; nothing "
                                 "incomplete was kept") from None
        result.files.append(target)
    if progress:
        progress(total, total, 0)
    return result


def _fetch_one(pacs: Pacs, instance: InstanceRecord, target: Path, *, deidentify: Any,
               result: PullResult, progress: Callable[[int], None] | None) -> None:
    """Download one instance beside ``target`` and put it (or its de-identified copy) there atomically."""
    with _staging(target.parent) as staging:
        size = pacs.fetch(instance, staging, progress)
        _check_received(staging, instance, pacs.target)
        result.bytes_fetched += size
        if deidentify is not None:
            deidentify_file(staging, target, deidentify)
            result.fetched += 1
        elif target.is_file() and file_sha256(target) == file_sha256(staging):
            result.skipped += 1  # the same bytes are there already: leave them be
        else:
            with atomic_path(target) as tmp:
                os.replace(staging, tmp)
            result.fetched += 1


def _bytes_progress(progress: Progress | None, number: int, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda done: progress(number, total, done)


def dicom_files(paths: Sequence[Path]) -> list[Path]:
    """Return the DICOM files among ``paths`` (folders searched recursively for Part 10 files, hidden ones skipped).

    Raises
    ------
    InputError
        A path that does not exist, a named file that is not DICOM, or nothing to send.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not any(p.startswith(".") for p in child.relative_to(path).parts) \
                        and _is_part10(child):
                    found.append(child)
        elif path.is_file():
            if not _is_part10(path):
                raise InputError(f"{path.name}: not a DICOM file (no DICM preamble); nothing was sent")
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    if not found:
        raise InputError("no DICOM file to send in the paths given")
    return found


def _is_part10(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def push(pacs: Pacs, paths: Sequence[Path], *, progress: Callable[[int, int], None] | None = None) -> StoreResult:
    """Store the DICOM files (or folders of them) ``paths``; ``progress(bytes_sent, bytes_total)``.

    Raises
    ------
    InputError
        Not DICOM files.
    PacsError
        Unreachable or refused; or the PACS refused some of the objects (the message counts them and gives
        the DICOM failure codes).
    """
    files = dicom_files(paths)
    total = sum(p.stat().st_size for p in files)
    result = pacs.store(files, None if progress is None else (lambda sent: progress(sent, total)))
    if result.failed:
        codes = ", ".join(f"0x{code:04X}" for code in result.failure_reasons) or "none given"
        raise PacsError(f"the PACS at {pacs.target.label} refused {result.failed} of {len(files)} object(s) "
                        f"(failure codes: {codes}); {result.stored} stored")
    return result
