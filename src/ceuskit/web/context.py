"""What every router of the workstation shares: settings, the study database, open clips, background jobs.

One :class:`Context` per app, kept on ``app.state.context``; routers receive it through the
:func:`context` dependency, so no module keeps global state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, Request

from ceuskit.store.accounts import list_users
from ceuskit.store.reading import reader_clip_ids
from ceuskit.web.files import ClipCache, inside
from ceuskit.web.frames import Expiring, FrameCache
from ceuskit.web.hashing import HashPool
from ceuskit.web.jobs import JobRunner
from ceuskit.web.principal import Principal
from ceuskit.web.throttle import SignInGuard, ThrottlePolicy

if TYPE_CHECKING:
    from ceuskit.store import Store

__all__ = ["Context", "ReaderClips", "Settings", "context"]


@dataclass(frozen=True)
class Settings:
    """Server settings.

    Parameters
    ----------
    db_url : str
        Study database URL.
    data_dir : Path
        The only folder clips are read from (uploads land in its ``uploads/``).
    token : str
        The bootstrap administrator's bearer token (``CEUSKIT_TOKEN``, or generated once and kept in
        ``DATA/.ceuskit/token``).
    max_upload_bytes : int
        Largest upload, in bytes.
    map_block_px : int
        Block size of parametric maps, in pixels.
    session_idle_s : float
        A browser session ends after this many seconds without a request (default 30 min).
    session_max_s : float
        ... and this many seconds after sign-in, whatever (default 12 h).
    throttle : ThrottlePolicy
        The limits of sign-in attempts (:mod:`ceuskit.web.throttle`).
    hash_workers : int, optional
        Threads that check passwords (default: one per four CPUs, at least one; :mod:`ceuskit.web.hashing`).
    hash_queue : int
        Password checks that may wait for one of them; more get 503 at once.
    frame_cache_mb : int
        MiB of encoded frames kept for players (:mod:`ceuskit.web.frames`).
    pacs : str, optional
        DICOMweb URL or PACS configuration entry of the hospital PACS (:mod:`ceuskit.web.pacs`).
    """

    db_url: str
    data_dir: Path
    token: str
    max_upload_bytes: int = 2 << 30
    map_block_px: int = 4
    session_idle_s: float = 1800.0
    session_max_s: float = 12 * 3600.0
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    hash_workers: int | None = None
    hash_queue: int = 8
    frame_cache_mb: int = 256
    pacs: str | None = None


class ReaderClips:
    """Which clips each reader may see (their open sessions'), remembered for a few seconds.

    A player asks for many frames in a burst, and closing a session takes effect within ``ttl_s``.
    """

    def __init__(self, ttl_s: float = 5.0) -> None:
        self._known: Expiring[int, frozenset[int]] = Expiring(ttl_s)

    def known(self, user_id: int) -> frozenset[int] | None:
        """Return the reader's clip ids if remembered, else None (without asking the database)."""
        return self._known.get(user_id)

    def allowed(self, db: Store, user_id: int) -> frozenset[int]:
        """Return the reader's clip ids now."""
        found = self._known.get(user_id)
        return found if found is not None else self._known.put(user_id, frozenset(reader_clip_ids(db, user_id)))

    def forget(self) -> None:
        """Drop what is remembered (after a session is opened, closed or reopened)."""
        self._known.clear()


@dataclass
class Context:
    """The app's shared state.

    Settings, store, open clips and their encoded frames, job runner, sign-in guard, password-check pool.
    """

    settings: Settings
    db: Store
    clips: ClipCache = field(default_factory=ClipCache)
    jobs: JobRunner = field(default_factory=JobRunner)
    reader_clips: ReaderClips = field(default_factory=ReaderClips)
    clip_files: Expiring[int, Path] = field(default_factory=Expiring)
    viewers: Expiring[tuple[str, str], Principal] = field(default_factory=Expiring)
    guard: SignInGuard = field(init=False)
    hashing: HashPool = field(init=False)
    frames: FrameCache = field(init=False)

    def __post_init__(self) -> None:
        self.guard = SignInGuard(self.settings.throttle)
        self.hashing = HashPool(self.settings.hash_workers, max_waiting=self.settings.hash_queue)
        self.frames = FrameCache(self.settings.frame_cache_mb << 20)

    @property
    def data_dir(self) -> Path:
        """The data folder, resolved."""
        return self.settings.data_dir.resolve()

    @property
    def uploads(self) -> Path:
        """Where uploads land."""
        return self.data_dir / "uploads"

    @property
    def work(self) -> Path:
        """The server's own files (maps, reports) inside the data folder."""
        return self.data_dir / ".ceuskit"

    def clip_path(self, path: str) -> Path:
        """Return a stored clip's path, if it lies in the data folder (PathRefused otherwise, 404 when missing)."""
        resolved = inside(self.data_dir, path)
        if not resolved.exists():
            raise HTTPException(404, "the clip file is missing from the data folder")
        return resolved

    def public_clip(self, clip: dict[str, Any] | None) -> dict[str, Any] | None:
        """Return a stored clip as the API shows it: its path relative to the data folder (None outside it)."""
        if clip is None:
            return None
        try:
            relative: str | None = str(Path(clip["path"]).resolve().relative_to(self.data_dir))
        except ValueError:
            relative = None  # outside the data folder: not served
        return {"id": clip["id"], "path": relative, "sha256": clip["sha256"], "size_bytes": clip["size_bytes"]}

    def has_users(self) -> bool:
        """Whether any account exists (else only the bootstrap token can get in)."""
        return bool(list_users(self.db))

    def close(self) -> None:
        """Stop the jobs and password checks, close the clips, release the database."""
        self.jobs.close()
        self.hashing.close()
        self.frames.close()
        self.clips.close()
        self.db.close()


async def context(request: Request) -> Context:
    """FastAPI dependency: the app's :class:`Context` (async: no worker thread needed to fetch it)."""
    found: Context = request.app.state.context
    return found
