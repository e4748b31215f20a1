"""Parallel lowering by fork: one export shared by every worker, each backend still isolated.

How `lower_in_workers` runs on Linux. A hub process forked from the caller exports and
functionalizes the model once (`shared_float_export`), then forks one worker per program, at most
`jobs` at a time. Workers inherit the functionalized program instead of importing torch and
exporting again as spawned workers must (about 8 s of imports plus the export, per worker). The
caller only watches: it kills a worker that exceeds the timeout, the hub's whole process group
on cancel, and reports a worker (or the hub, during the export) that died without a result as
that program's failure only. Each worker writes to its own pipe (see _workers), the hub to
another.

Forked processes cannot use the OpenMP thread pool the caller may have started (libgomp waits
forever for threads that were not copied), so hub and workers run torch single-threaded. The
lowering is mostly Python; the workers use the cores instead.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from .._forked import forked_process_setup
from ..progress import Progress, ProgressCallback
from . import _worker_protocol as protocol
from ._results import BackendResult
from ._worker_protocol import (
    CANCELLED,
    Exited,
    Exported,
    HubDone,
    LowerRequest,
    Started,
    crash_message,
    dispatch,
    read_to_end,
    receive,
    timeout_message,
)


def can_fork() -> bool:
    """Fork is used where it is safe for these libraries: Linux (macOS system frameworks are not)."""
    if os.environ.get("ETWB_WORKER_START", "").lower() == "spawn":
        return False
    return sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()


def _hub(request: LowerRequest, jobs: list, limit: int, channel: Connection, writers: dict) -> None:
    """Export once, then fork a worker per job (writing to `writers[label]`); report each start
    and exit on `channel`."""
    os.setpgid(0, 0)  # the caller cancels everything with one killpg
    forked_process_setup(request.memory_limit)
    import warnings

    warnings.filterwarnings("ignore")
    from ._engine import shared_float_export

    names = [name for job in jobs for name in job.backends]
    try:
        shared = shared_float_export(
            request.model,
            names,
            request.quantization,
            priority=request.priority,
            cache=request.cache,
            exclude_ops=request.exclude_ops,
            calibration=request.calibration,
            options=request.options,
        )
    except BaseException:  # noqa: BLE001 - e.g. a usage error: every worker reports it itself
        shared = None
    channel.send(Exported())
    context = mp.get_context("fork")
    pending, running = list(jobs), {}
    while pending or running:
        while pending and len(running) < limit:
            job = pending.pop(0)
            own = dataclasses.replace(
                request,
                label=job.label,
                backends=job.backends,
                shared=shared,
                memory_limit=None,  # the hub's is inherited
            )
            process = context.Process(target=_forked_worker, args=(own, writers), daemon=True)
            process.start()
            writers[job.label].close()  # the worker holds the only writer: its death ends the pipe
            running[process.sentinel] = (job.label, process)
            channel.send(Started(job.label, process.pid))
        for sentinel in wait(list(running)):
            label, process = running.pop(sentinel)
            process.join()
            channel.send(Exited(label, process.exitcode))
    channel.send(HubDone())
    channel.close()


def _forked_worker(request: LowerRequest, writers: dict) -> None:
    forked_process_setup()
    for other, writer in writers.items():  # inherited from the hub; only our own is ours
        if other != request.label and not writer.closed:
            writer.close()
    protocol.lower_one(request, writers[request.label])


def run_forked(
    request: LowerRequest,
    jobs: list,
    *,
    limit: int,
    timeout: float | None,
    cancelled: Callable[[], bool] | None,
    notify: ProgressCallback,
    finish: Callable[[Any, BackendResult], None],
    failed: Callable[[Any, str, str, str], BackendResult],
    remove_partial: Callable[[str], None],
) -> None:
    """Run `jobs` through a hub; every job ends with `finish(job, result)`.

    `request` is what every job shares (its model the loaded `ModelSpec`); each worker gets it
    with its own label and backends."""
    memory_limit = request.memory_limit
    context = mp.get_context("fork")
    hub_reader, hub_writer = context.Pipe(duplex=False)
    pipes = {job.label: context.Pipe(duplex=False) for job in jobs}
    writers = {label: writer for label, (_, writer) in pipes.items()}
    readers = {label: reader for label, (reader, _) in pipes.items()}
    hub = context.Process(
        target=_hub, args=(request, jobs, limit, hub_writer, writers), daemon=False
    )
    by_label = {job.label: job for job in jobs}
    pids: dict[str, int] = {}
    hub_started = time.monotonic()
    exported = False
    too_long = timeout_message(timeout) if timeout else ""

    def open_jobs() -> list:
        return [job for job in jobs if job.result is None]

    def end(job: Any, stage: str, kind: str, message: str) -> None:
        if job.label in pids:
            _kill(pids[job.label])
        remove_partial(job.label)
        finish(job, failed(job, stage, kind, message))

    def handle(message: Any) -> None:
        nonlocal exported
        if isinstance(message, Exported):
            exported = True
        elif isinstance(message, HubDone):
            pass
        elif isinstance(message, Started):
            job = by_label.get(message.label)
            if job is not None:
                pids[message.label], job.started = message.pid, time.monotonic()
                notify(Progress(message.label, "started worker"))
        elif isinstance(message, Exited):
            job = by_label.get(message.label)
            if job is not None and job.result is None:
                for left in read_to_end(readers[message.label]):
                    handle(left)
                if job.result is None:
                    crashed = crash_message(message.code, memory_limit)
                    end(job, "worker", "WorkerCrashed", crashed)
        else:
            dispatch(message, open_jobs(), finish, notify, request.model.name)

    def drain() -> None:
        for reader in [hub_reader, *readers.values()]:
            for message in read_to_end(reader):
                handle(message)

    notify(Progress(jobs[0].label, "export"))
    hub.start()
    for writer in [hub_writer, *writers.values()]:  # the hub and its workers hold them now
        writer.close()
    try:
        while open_jobs():
            if cancelled and cancelled():
                _kill_group(hub)
                for job in open_jobs():
                    end(job, "cancel", "Cancelled", CANCELLED)
                break
            for message in receive([hub_reader, *readers.values()], 0.2):
                handle(message)
            now = time.monotonic()
            if timeout and not exported and now - hub_started > timeout:
                _kill_group(hub)
                for job in open_jobs():
                    end(job, "timeout", "TimeoutError", too_long + " (it was still exporting)")
            for job in open_jobs():
                if timeout and job.label in pids and now - job.started > timeout:
                    end(job, "timeout", "TimeoutError", too_long)
            if not hub.is_alive() and open_jobs():
                drain()
                for job in open_jobs():
                    where = "" if exported else " while exporting the model"
                    end(
                        job,
                        "worker",
                        "WorkerCrashed",
                        crash_message(hub.exitcode, memory_limit, where),
                    )
    finally:
        if hub.is_alive():
            _kill_group(hub)
        hub.join(5)
        for reader in [hub_reader, *readers.values()]:
            reader.close()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill_group(hub: Any) -> None:
    try:
        os.killpg(hub.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        hub.kill()
