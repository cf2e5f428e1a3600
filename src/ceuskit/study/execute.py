"""Where a run's lesions are analysed: serially in this process, on a local Dask cluster, or on a scheduler."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from ceuskit.errors import InputError
from ceuskit.store.schema import utcnow

__all__ = ["TaskFn", "execute"]

TaskFn = Callable[[dict[str, Any], Callable[..., Any] | None], dict[str, Any]]
"""``work(task, analyze)`` → result dict with ``lesion_id`` and ``status`` (never raises)."""


def execute(work: TaskFn, tasks: list[dict[str, Any]], *, workers: int | None, scheduler: str | None,
            analyze: Callable[..., Any] | None) -> Iterable[dict[str, Any]]:
    """Yield ``work(task, analyze)`` for each task as it finishes (in task order when serial).

    ``workers`` 0 (and no ``scheduler``) runs serially in this process; otherwise a Dask LocalCluster of
    ``workers`` processes on 127.0.0.1 (default: CPU count, at most one per task), or the scheduler at
    ``scheduler``.  A task whose worker dies yields a "failed" result and the others go on.
    """
    if scheduler is None and workers == 0:
        for task in tasks:
            yield work(task, analyze)
        return
    try:
        import dask
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError("parallel runs need dask[distributed]: pip install 'ceuskit[study]', "
                         "or run serially with --workers 0") from None
    cluster = None
    try:
        if scheduler is not None:
            try:
                # distributed leaves Client, LocalCluster and as_completed unannotated (no stubs);
                # unused-ignore: without --strict mypy does not flag untyped calls
                client = Client(scheduler, timeout="20s")  # type: ignore[no-untyped-call, unused-ignore]
            except (OSError, TimeoutError) as exc:
                raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); check the address "
                                 "or drop --scheduler to use a local cluster") from None
        else:
            n = workers if workers is not None else max(1, min(os.cpu_count() or 1, len(tasks)))
            # Dask's nanny makes glibc hand freed memory back at 64 KiB; the analysis allocates and frees
            # frame-sized arrays all the time, and that trimming cost ~20 % of a worker's speed.
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 128 << 20}):
                cluster = LocalCluster(  # type: ignore[no-untyped-call, unused-ignore]
                    n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address="127.0.0.1:0", silence_logs=50)
            client = Client(cluster)  # type: ignore[no-untyped-call, unused-ignore]
        with client:
            futures = [client.submit(work, task, analyze, key=f"ceuskit-lesion-{task['lesion_id']}-"
                                     f"{task['input_hash'][:12]}", pure=False) for task in tasks]
            for future in as_completed(futures):  # type: ignore[no-untyped-call, unused-ignore]
                try:
                    yield future.result()
                except Exception as exc:  # worker died: record the lesion as failed, keep going
                    task = tasks[futures.index(future)]
                    now = utcnow()
                    yield {"lesion_id": task["lesion_id"], "status": "failed", "document": None,
                           "started_at": now, "finished_at": now,
                           "error": f"worker failed: {type(exc).__name__}: {exc}".splitlines()[0]}
    finally:
        if cluster is not None:
            cluster.close()

