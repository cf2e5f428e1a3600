"""PACS clips of a study manifest, fetched into a local cache.

A ``clip`` cell ``dicomweb:STUDY/SERIES[/INSTANCE]`` is fetched from the
PACS given with ``--pacs`` into a local cache and the study records where the clip came from.

The cache (``--pacs-cache``, else ``CEUSKIT_PACS_CACHE``, else ``$XDG_CACHE_HOME/ceuskit/pacs``) holds one
folder per server, laid out and indexed as :func:`ceuskit.pacs.pull` does: a file is hash-checked and
fetched again only when it is missing, damaged or changed on the PACS.  Provenance goes into the clip's
header summary in the study database, key ``pacs``: ``{"server", "reference", "fetched_at"}``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ceuskit import store as st
from ceuskit.errors import InputError
from ceuskit.pacs.config import PacsTarget
from ceuskit.pacs.records import InstanceRecord, ObjectRef, parse_ref
from ceuskit.pacs.transfer import Pacs, connect, pull

if TYPE_CHECKING:
    from ceuskit.store import Store

__all__ = ["ClipResolver", "RefreshSummary", "Resolved", "clip_instances", "default_cache_dir", "refresh_clips"]

_NOT_CLIPS = ("1.2.840.10008.5.1.4.1.1.88.", "1.2.840.10008.5.1.4.1.1.66.", "1.2.840.10008.5.1.4.1.1.104.",
              "1.2.840.10008.5.1.4.1.1.11.")  # SR, SEG and other derived objects, documents, presentation states


def clip_instances(instances: list[InstanceRecord]) -> list[InstanceRecord]:
    """Return the instances that can be clips: images and videos, not reports, segmentations or documents."""
    return [i for i in instances if not (i.sop_class_uid or "").startswith(_NOT_CLIPS)]


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``CEUSKIT_PACS_CACHE``, else ``$XDG_CACHE_HOME/ceuskit/pacs`` (``~/.cache`` by default)."""
    env = os.environ if env is None else env
    if env.get("CEUSKIT_PACS_CACHE"):
        return Path(env["CEUSKIT_PACS_CACHE"])
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "ceuskit" / "pacs"


@dataclass(frozen=True)
class Resolved:
    """A PACS clip in the local cache: its path, whether it was fetched now, and its provenance record."""

    path: Path
    fetched: bool
    provenance: dict[str, Any] = field(default_factory=dict)


class ClipResolver:
    """Resolve ``dicomweb:`` references against one PACS into ``cache``/<server>/ (one connection for all)."""

    def __init__(self, target: PacsTarget, cache: Path | None = None) -> None:
        self.target = target
        root = (cache if cache is not None else default_cache_dir()).expanduser()
        self.folder = root / hashlib.sha256(target.label.encode()).hexdigest()[:16]
        self._pacs: Pacs | None = None

    def _client(self) -> Pacs:
        if self._pacs is None:
            self._pacs = connect(self.target)
        return self._pacs

    def close(self) -> None:
        """Close the connection, if one was opened."""
        if self._pacs is not None:
            self._pacs.close()
            self._pacs = None

    def __enter__(self) -> ClipResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resolve(self, ref: ObjectRef, folder: Path | None = None) -> Resolved:
        """Return the one clip ``ref`` names, fetched into the cache (or ``folder``) unless already there unchanged.

        Raises
        ------
        InputError
            The series holds several clips (name one instance) or none.
        PacsError
            Unreachable, refused, not found, broken transfer (one line, no identifier).
        """
        client = self._client()
        clips = clip_instances(client.instances(ref.study_uid, ref.series_uid, ref.sop_uid))
        if len(clips) != 1:
            raise InputError("the PACS series holds no clip" if not clips else
                             f"the PACS series holds {len(clips)} clips: name one as "
                             "dicomweb:STUDY/SERIES/INSTANCE")
        chosen = clips[0]
        result = pull(client, chosen.study_uid, chosen.series_uid, chosen.sop_uid, out=folder or self.folder)
        reference = ObjectRef(chosen.study_uid, chosen.series_uid, chosen.sop_uid)
        return Resolved(path=result.files[0], fetched=result.fetched > 0,
                        provenance={"server": self.target.label, "reference": str(reference),
                                    "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})


@dataclass
class RefreshSummary:
    """What :func:`refresh_clips` did.

    PACS clips checked, fetched again, and lesions whose clip is not from a PACS.
    """

    checked: int = 0
    fetched: int = 0
    local: int = 0


def refresh_clips(store: Store, target: PacsTarget, *, study: int | str | None = None) -> RefreshSummary:
    """Bring every PACS clip of a study up to date in its cache folder, before a run analyses them.

    A clip fetched again (changed on the PACS, or missing or damaged locally) gets a new hash, which makes
    the run analyse its lesion again.
    """
    summary = RefreshSummary()
    with ClipResolver(target) as resolver:
        for item in st.work_items(store, study):
            clip = item.get("clip") or {}
            recorded = (clip.get("header") or {}).get("pacs") or {}
            ref = parse_ref(str(recorded.get("reference", "")))
            if ref is None:
                summary.local += 1
                continue
            path = Path(clip["path"])
            folder = path.parents[2] if len(path.parents) > 2 else resolver.folder  # CACHE/STUDY/SERIES/SOP.dcm
            summary.checked += 1
            summary.fetched += resolver.resolve(ref, folder).fetched
    return summary
