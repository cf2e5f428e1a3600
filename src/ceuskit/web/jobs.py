"""Long work (an analysis, a map) in a background thread, with progress the browser polls."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ceuskit.errors import CeusError

__all__ = ["Job", "JobRunner"]

Progress = Callable[[int, int], None]


@dataclass
class Job:
    """One piece of background work: ``status`` queued → running → done | failed."""

    id: str
    kind: str
    status: str = "queued"
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)

    def view(self) -> dict[str, Any]:
        """Return the job as the API shows it: id, kind, status, progress (0…1), result and error."""
        fraction = self.done / self.total if self.total else (1.0 if self.status == "done" else 0.0)
        return {"id": self.id, "kind": self.kind, "status": self.status, "progress": round(fraction, 4),
                "result": self.result, "error": self.error}


class JobRunner:
    """Runs jobs one at a time (the CPU is the limit), keeps the last ones for polling."""

    def __init__(self, keep: int = 200) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ceuskit-job")
        self._jobs: dict[str, Job] = {}
        self._keep = keep
        self._lock = threading.Lock()

    def submit(self, kind: str, work: Callable[[Progress], dict[str, Any]]) -> Job:
        """Queue ``work(progress)``; its dict becomes the job's result, a CeusError its error."""
        job = Job(id=secrets.token_hex(8), kind=kind)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                self._jobs.pop(next(iter(self._jobs)))

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        def run() -> None:
            job.status = "running"
            try:
                job.result = work(progress)
                job.status = "done"
            except CeusError as exc:
                job.error, job.status = str(exc).splitlines()[0], "failed"
            except Exception as exc:  # a bug: the job says so, the server goes on
                job.error, job.status = f"internal error: {type(exc).__name__}", "failed"

        self._pool.submit(run)
        return job

    def get(self, job_id: str) -> Job | None:
        """Return the job ``job_id``, or None when unknown."""
        with self._lock:
            return self._jobs.get(job_id)

    def close(self) -> None:
        """Stop the worker pool: queued jobs are cancelled, a running one is not waited for."""
        self._pool.shutdown(wait=False, cancel_futures=True)
