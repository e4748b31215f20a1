"""Lowering in worker processes: parallel across programs, with timeout, memory limit and cancel.

A backend that crashes the interpreter (a segfault in a native compiler), hangs, or eats all
memory takes down only its own worker: its result says so and the kernel or CLI goes on. Each
worker runs the ordinary in-process `lower()` for one program and sends the result back;
progress messages stream back the same way. Each worker has a pipe of its own: a worker killed
halfway through a message (timeout, cancel, crash) can only cut its own pipe short, never hold a
lock or garble the stream another worker writes to (as a shared multiprocessing.Queue would).
On Linux the workers are forked from a hub that exported the model once (_fork_workers);
elsewhere each is a fresh `spawn` process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._fork_workers import can_fork, run_forked
from ._pipeline import program_groups, pte_filename
from ._results import BackendResult, LoweringReport
from ._shared_edge import SharedExport
from ._triage import Failure


@dataclass
class _Job:
    label: str
    backends: list[str]
    process: Any = None
    reader: Connection | None = None  # the parent's end of this worker's pipe
    started: float = 0.0
    result: BackendResult | None = None


def _worker(
    label: str,
    model: Any,
    example_inputs: Any,
    backends: list[str],
    quantization: str | None,
    priority: bool,
    out_dir: str | None,
    memory_limit: int | None,
    cache: bool,
    exclude_ops: Any,
    calibration: Any,  # a Calibration loaded by the parent, or None
    channel: Connection,
    shared: Any = None,  # forked workers: the hub's shared_float_export
    example_kwargs: dict | None = None,
) -> None:
    """Child process body: lower one program, send ("progress", ...) then ("result", ...)."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    if isinstance(shared, SharedExport):  # not a _StageFailure to report
        shared.use_once()
    if memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (memory_limit, memory_limit))
    from ._pipeline import lower

    try:
        report = lower(
            model,
            backends,
            quantization,
            example_inputs=example_inputs,
            example_kwargs=example_kwargs,
            priority=priority,
            out_dir=out_dir,
            cache=cache,
            exclude_ops=exclude_ops,
            calibration=calibration,
            progress=lambda label, stage: channel.send(("progress", label, stage)),
            _shared=shared,
        )
        for result in report.results:
            result._model_spec = None  # the parent has its own; modules need not cross processes
            result._answer = None  # tensors, for the cache entry the worker wrote; not sent
        channel.send(("result", label, report))
    except MemoryError:
        channel.send(
            (
                "error",
                label,
                Failure(
                    "lower",
                    "MemoryError",
                    f"worker exceeded the memory limit of {memory_limit} bytes",
                ),
            )
        )
    except UsageError as exc:
        channel.send(("usage", label, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never lost
        from ._triage import triage

        channel.send(("error", label, triage("lower", exc)))


def lower_in_workers(
    model: Any,
    backends: Sequence[str],
    quantization: str | None = None,
    *,
    example_inputs: tuple | None = None,
    example_kwargs: dict | None = None,
    name: str | None = None,
    priority: bool = False,
    out_dir: str | Path | None = None,
    jobs: int | None = None,
    timeout: float | None = None,
    memory_limit: int | None = None,
    progress: Callable[[str, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    cache: bool = True,
    exclude_ops: Sequence[str] | None = None,
    calibration: Any = None,
    on_result: Callable[[BackendResult], None] | None = None,
) -> LoweringReport:
    """Like `lower()`, but each program runs in its own worker process.

    `jobs` bounds parallel workers (default: cores, at most 2 GiB-per-worker of free memory);
    `timeout` (seconds) and `memory_limit` (bytes) apply to each worker; `cancelled()` is polled
    and stops running workers when it returns True. `on_result(result)` is called as each
    program ends, before the others finish (a sweep writes its cell then, so an interrupt loses
    nothing that was done).
    """
    from ..backends import get_backend
    from ..models import load_model

    # Validates the model in the parent: usage errors stay usage errors.
    spec = load_model(model, example_inputs, name, example_kwargs=example_kwargs)
    checked = None  # loaded here once: a bad calibration file is a usage error, not N failures
    if calibration is not None:
        from ._calibration import load_calibration

        checked = load_calibration(calibration, spec.example_inputs, spec.example_kwargs)
    transport = model if isinstance(model, str) else spec.module
    transport_inputs = None if isinstance(model, str) else spec.example_inputs
    transport_kwargs = None if isinstance(model, str) else spec.example_kwargs
    groups = [[b.name for b in group] for group in program_groups(backends, priority)]
    jobs_list = [_Job("+".join(g), g) for g in groups]
    # Slowest first (see Backend.relative_cost): the last job to start should be a short one.
    start_order = sorted(
        jobs_list, key=lambda j: -sum(get_backend(b).relative_cost for b in j.backends)
    )
    limit = max(1, jobs or _default_jobs())
    notify = progress or (lambda label, stage: None)
    context = mp.get_context("spawn")
    pending = list(start_order)
    running: list[_Job] = []
    report = LoweringReport(spec.name, spec.describe_inputs(), spec.parameter_bytes, [])

    def finish(job: _Job, result: BackendResult) -> None:
        result._model_spec = spec
        job.result = result
        if job in running:
            running.remove(job)
        if on_result is not None:
            on_result(result)

    if can_fork():  # one export in a hub process, inherited by forked workers
        run_forked(
            spec,
            start_order,
            limit=limit,
            options={
                "quantization": quantization,
                "priority": priority,
                "out_dir": str(out_dir) if out_dir else None,
                "cache": cache,
                "exclude_ops": exclude_ops,
                "calibration": checked,
            },
            timeout=timeout,
            memory_limit=memory_limit,
            cancelled=cancelled,
            notify=notify,
            finish=finish,
            failed=lambda job, stage, kind, text: _failed(job, spec.name, stage, kind, text),
            remove_partial=lambda label: _remove_partial(out_dir, spec.name, label),
        )
        pending = []
    while pending or running:
        while pending and len(running) < limit and not (cancelled and cancelled()):
            job = pending.pop(0)
            job.reader, writer = context.Pipe(duplex=False)
            job.process = context.Process(
                target=_worker,
                args=(
                    job.label,
                    transport,
                    transport_inputs,
                    job.backends,
                    quantization,
                    priority,
                    str(out_dir) if out_dir else None,
                    memory_limit,
                    cache,
                    exclude_ops,
                    checked,
                    writer,
                ),
                kwargs={"example_kwargs": transport_kwargs},
                daemon=True,
            )
            job.started = time.monotonic()
            job.process.start()
            writer.close()  # the worker holds the only writer: its death ends the pipe
            running.append(job)
            notify(job.label, "started worker")
        if cancelled and cancelled():
            for job in running + pending:
                _stop(job, out_dir, spec.name)
                finish(job, _failed(job, spec.name, "cancel", "Cancelled", CANCELLED))
            pending.clear()
            break
        for message in receive([job.reader for job in running if job.reader], 0.2):
            _dispatch(message, running, finish, notify, spec.name)
        for job in list(running):
            if timeout and time.monotonic() - job.started > timeout:
                _stop(job, out_dir, spec.name)
                finish(
                    job,
                    _failed(job, spec.name, "timeout", "TimeoutError", timeout_message(timeout)),
                )
            elif not job.process.is_alive() and job.result is None:
                for message in read_to_end(job.reader):
                    _dispatch(message, running, finish, notify, spec.name)
                if job.result is None:
                    _stop(job, out_dir, spec.name)
                    crashed = crash_message(job.process.exitcode, memory_limit)
                    finish(job, _failed(job, spec.name, "worker", "WorkerCrashed", crashed))
    report.results = [job.result for job in jobs_list if job.result is not None]
    return report


CANCELLED = "cancelled by the user before this program finished; no file was written"


def timeout_message(timeout: float) -> str:
    return (
        f"lowering took longer than {timeout:g} s and was stopped; "
        "raise --timeout or pick a smaller model"
    )


def crash_message(code: int | None, memory_limit: int | None, where: str = "") -> str:
    """What a worker that died without a result (`where`: during which step) is reported as."""
    what = f"killed by signal {-code}" if code and code < 0 else f"exited with code {code}"
    limit = f"; its memory limit was {memory_limit / 2**20:.0f} MB" if memory_limit else ""
    return (
        f"the worker process {what}{where} without a result (a crash or out-of-memory in the "
        f"backend{limit}); other backends are unaffected"
    )


def _dispatch(message: tuple, running: list[_Job], finish, notify, model: str) -> None:
    kind, label, payload = message
    if kind == "progress":
        notify(label, payload)
        return
    job = next((j for j in running if j.label == label), None)
    if job is None:
        return
    if kind == "usage":
        raise UsageError(payload)
    if kind == "result":
        finish(job, payload.results[0])
    else:
        finish(job, _failed(job, model, payload.stage, payload.type, payload.message))


def receive(readers: list[Connection], timeout: float) -> list[tuple]:
    """The messages waiting on these pipes (one per ready pipe), after at most `timeout` s.

    A pipe that ends, or ends halfway through a message because its worker was killed, just
    gives nothing more; the worker's exit is what reports it.
    """
    ready = wait([r for r in readers if not r.closed], timeout)
    return [message for reader in ready for message in _recv(reader)]


def read_to_end(reader: Connection | None) -> list[tuple]:
    """Everything a finished worker left in its pipe (its result may still be in there)."""
    messages: list[tuple] = []
    while reader is not None and not reader.closed and reader.poll(0.5):
        messages += _recv(reader)
    return messages


def _recv(reader: Connection) -> list[tuple]:
    """The next message, or none (and the pipe closed) when it ended, even mid-message."""
    try:
        return [reader.recv()]
    except (EOFError, OSError):
        reader.close()
        return []


def _stop(job: _Job, out_dir: str | Path | None, model: str) -> None:
    """Kill a worker and remove any temp file its interrupted save left behind."""
    if job.process is not None and job.process.is_alive():
        job.process.kill()
        job.process.join(5)
    if job.reader is not None:
        job.reader.close()
    _remove_partial(out_dir, model, job.label)


def _remove_partial(out_dir: str | Path | None, model: str, label: str) -> None:
    if out_dir is not None:
        stem = pte_filename(model, label, "fp32")[: -len(".pte")]
        for partial in Path(out_dir).glob(f".{stem}*.tmp"):
            partial.unlink(missing_ok=True)


def _failed(job: _Job, model: str, stage: str, kind: str, message: str) -> BackendResult:
    return BackendResult(
        job.label, job.backends, "", "failed", model=model, error=Failure(stage, kind, message)
    )


def _default_jobs() -> int:
    cores = os.cpu_count() or 1
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return cores
    return max(1, min(cores, available // (2 << 30)))
