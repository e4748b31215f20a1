"""Lowering in worker processes: parallel across programs, with timeout, memory limit and cancel.

A backend that crashes the interpreter (a segfault in a native compiler), hangs, or eats all
memory takes down only its own worker: its result says so and the kernel or CLI goes on. Each
worker runs the in-process engine for one program (`_worker_protocol.lower_one`) and sends
its result back; progress messages stream back the same way. Each worker has a pipe of its own: a worker killed
halfway through a message (timeout, cancel, crash) can only cut its own pipe short, never hold a
lock or garble the stream another worker writes to (as a shared multiprocessing.Queue would).
On Linux the workers are forked from a hub that exported the model once (_fork_workers);
elsewhere each is a fresh `spawn` process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..progress import Progress, ProgressCallback, ignore
from . import _worker_protocol as protocol
from ._fork_workers import can_fork, run_forked
from ._programs import program_groups, pte_filename, scheme_for
from ._results import BackendResult, LoweringReport
from ._worker_protocol import (
    CANCELLED,
    Job,
    LowerRequest,
    crash_message,
    dispatch,
    failed_result,
    read_to_end,
    receive,
    timeout_message,
)


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
    progress: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
    cache: bool = True,
    exclude_ops: Sequence[str] | None = None,
    calibration: Any = None,
    on_result: Callable[[BackendResult], None] | None = None,
    options: Any = None,
    dynamic_shapes: Any = None,
    float_modules: Any = None,
) -> LoweringReport:
    """Like `lower()`, but each program runs in its own worker process.

    `jobs` bounds parallel workers (default: cores, at most 2 GiB-per-worker of free memory);
    `timeout` (seconds) and `memory_limit` (bytes) apply to each worker; `cancelled()` is polled
    and stops running workers when it returns True. `on_result(result)` is called as each
    program ends, before the others finish (a sweep writes its cell then, so an interrupt loses
    nothing that was done). `options`: backend compile options, as `lower()` takes them.
    """
    from ..backends import get_backend, normalize_options
    from ..backends._options import for_program
    from ..models import load_model

    # Validates the model in the parent: usage errors stay usage errors.
    spec = load_model(
        model, example_inputs, name, example_kwargs=example_kwargs, dynamic_shapes=dynamic_shapes
    )
    checked = None  # loaded here once: a bad calibration file is a usage error, not N failures
    if calibration is not None:
        from ._calibration import load_calibration

        checked = load_calibration(calibration, spec.example_inputs, spec.example_kwargs)
    by_name = isinstance(model, str)  # a spawned worker builds a named model itself
    request = LowerRequest(
        label="",
        model=model if by_name else spec.module,
        backends=[],
        quantization=quantization,
        example_inputs=None if by_name else spec.example_inputs,
        example_kwargs=None if by_name else spec.example_kwargs,
        priority=priority,
        out_dir=str(out_dir) if out_dir else None,
        cache=cache,
        exclude_ops=exclude_ops,
        dynamic_shapes=spec.dynamic_shapes,  # normalized: plain, picklable
        calibration=checked,
        memory_limit=memory_limit,
        options=normalize_options(options, backends),
    )
    for group in program_groups(backends, priority):  # option/scheme clashes: usage, up front
        for_program(request.options, group, scheme_for(group, quantization))
    request.float_modules = _checked_float_modules(
        float_modules, backends, priority, quantization, spec
    )
    groups = [[b.name for b in group] for group in program_groups(backends, priority)]
    jobs_list = [Job("+".join(g), g) for g in groups]
    # Slowest first (see Backend.relative_cost): the last job to start should be a short one.
    start_order = sorted(
        jobs_list, key=lambda j: -sum(get_backend(b).relative_cost for b in j.backends)
    )
    limit = max(1, jobs or _default_jobs())
    notify = progress or ignore
    context = mp.get_context("spawn")
    pending = list(start_order)
    running: list[Job] = []
    report = LoweringReport(spec.name, spec.describe_inputs(), spec.parameter_bytes, [])

    def finish(job: Job, result: BackendResult) -> None:
        result.attach_model(spec)
        job.result = result
        if job in running:
            running.remove(job)
        if on_result is not None:
            on_result(result)

    def failed(job: Job, stage: str, kind: str, message: str) -> BackendResult:
        return failed_result(job, spec.name, stage, kind, message)

    if can_fork():  # one export in a hub process, inherited by forked workers
        run_forked(
            dataclasses.replace(request, model=spec, example_inputs=None, example_kwargs=None),
            start_order,
            limit=limit,
            timeout=timeout,
            cancelled=cancelled,
            notify=notify,
            finish=finish,
            failed=failed,
            remove_partial=lambda label: _remove_partial(out_dir, spec.name, label),
        )
        pending = []
    while pending or running:
        while pending and len(running) < limit and not (cancelled and cancelled()):
            job = pending.pop(0)
            job.reader, writer = context.Pipe(duplex=False)
            job.process = context.Process(
                target=protocol.lower_one,
                args=(dataclasses.replace(request, label=job.label, backends=job.backends), writer),
                daemon=True,
            )
            job.started = time.monotonic()
            job.process.start()
            writer.close()  # the worker holds the only writer: its death ends the pipe
            running.append(job)
            notify(Progress(job.label, "started worker"))
        if cancelled and cancelled():
            for job in running + pending:
                _stop(job, out_dir, spec.name)
                finish(job, failed(job, "cancel", "Cancelled", CANCELLED))
            pending.clear()
            break
        for message in receive([job.reader for job in running if job.reader], 0.2):
            dispatch(message, running, finish, notify, spec.name)
        for job in list(running):
            if timeout and time.monotonic() - job.started > timeout:
                _stop(job, out_dir, spec.name)
                finish(job, failed(job, "timeout", "TimeoutError", timeout_message(timeout)))
            elif not job.process.is_alive() and job.result is None:
                for message in read_to_end(job.reader):
                    dispatch(message, running, finish, notify, spec.name)
                if job.result is None:
                    _stop(job, out_dir, spec.name)
                    crashed = crash_message(job.process.exitcode, memory_limit)
                    finish(job, failed(job, "worker", "WorkerCrashed", crashed))
    report.results = [job.result for job in jobs_list if job.result is not None]
    return report


def _checked_float_modules(float_modules, backends, priority, quantization, spec) -> tuple:
    """The keep-float entries, checked here (usage errors stay usage errors), canonical."""
    from ._keep_float import normalize_float_modules, resolve_keep_float

    groups = program_groups(backends, priority)
    schemes = [scheme_for(group, quantization) for group in groups]
    entries = normalize_float_modules(float_modules)
    return resolve_keep_float(entries, groups, schemes, spec).entries


def _stop(job: Job, out_dir: str | Path | None, model: str) -> None:
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


def _default_jobs() -> int:
    cores = os.cpu_count() or 1
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return cores
    return max(1, min(cores, available // (2 << 30)))
