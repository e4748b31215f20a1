"""What a lowering worker is asked, what it answers, and how the answers travel.

The caller (`_workers`, `_fork_workers`) hands a worker one `LowerRequest`; the worker
(`lower_one`) runs the in-process engine for that one program and writes typed messages to a
pipe of its own: `ProgressMessage`s, then one `ResultMessage`, `FailedMessage` or
`UsageMessage`. A fork hub writes `Exported`, `Started`, `Exited` and `HubDone` on another
pipe. A pipe that ends, even halfway through a message, only means its writer died; the
caller turns that into the program's failure (`crash_message`).
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from .._compat import PYTREE_LOGGER
from ..errors import UsageError
from ..progress import Progress
from ._results import BackendResult, LoweringReport
from ._triage import Failure


@dataclass
class LowerRequest:
    """One program for one worker: the `lower()` arguments that reach it."""

    label: str
    model: Any  # a reference string, or the module (spawned) / the ModelSpec (forked)
    backends: list[str]
    quantization: str | None = None
    example_inputs: Any = None
    example_kwargs: dict | None = None
    priority: bool = False
    out_dir: str | None = None
    cache: bool = True
    exclude_ops: Any = None
    dynamic_shapes: tuple = ()  # the spec's normalized DynamicDims (models._dynamic)
    calibration: Any = None  # a Calibration the caller loaded (and so checked), or None
    memory_limit: int | None = None  # bytes; forked workers inherit the hub's instead
    options: tuple = ()  # normalized backend options: (backend, key, value) strings
    float_modules: tuple = ()  # keep-float entries, canonical strings (see _keep_float)
    shared: Any = None  # forked workers: the hub's shared_float_export (never pickled)


@dataclass
class Job:
    """The caller's record of one program's worker."""

    label: str
    backends: list[str]
    process: Any = None
    reader: Connection | None = None  # the caller's end of this worker's pipe
    started: float = 0.0
    result: BackendResult | None = None


# -- worker -> caller ---------------------------------------------------------------------------


@dataclass
class ProgressMessage:
    progress: Progress

    @property
    def label(self) -> str:
        return self.progress.backend


@dataclass
class ResultMessage:
    label: str
    report: LoweringReport


@dataclass
class FailedMessage:
    label: str
    failure: Failure


@dataclass
class UsageMessage:
    label: str
    text: str


# -- fork hub -> caller -------------------------------------------------------------------------


@dataclass
class Exported:
    """The hub's shared export is made (or failed: each worker then reports it)."""


@dataclass
class Started:
    label: str
    pid: int


@dataclass
class Exited:
    label: str
    code: int | None


@dataclass
class HubDone:
    pass


WorkerMessage = ProgressMessage | ResultMessage | FailedMessage | UsageMessage


def lower_one(request: LowerRequest, channel: Connection) -> None:
    """A worker's body: lower one program, send its progress then its outcome."""
    import logging
    import warnings

    from ._shared_edge import SharedExport

    warnings.filterwarnings("ignore")
    logging.getLogger(PYTREE_LOGGER).setLevel(logging.ERROR)
    if isinstance(request.shared, SharedExport):  # not a StageFailure to report
        request.shared.use_once()
    if request.memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (request.memory_limit, request.memory_limit))
    from ._engine import lower_here

    try:
        report = lower_here(
            request.model,
            request.backends,
            request.quantization,
            example_inputs=request.example_inputs,
            example_kwargs=request.example_kwargs,
            priority=request.priority,
            out_dir=request.out_dir,
            cache=request.cache,
            exclude_ops=request.exclude_ops,
            dynamic_shapes=request.dynamic_shapes,
            calibration=request.calibration,
            options=[o for o in request.options if o[0] in request.backends],  # its own only
            float_modules=request.float_modules,
            progress=lambda progress: channel.send(ProgressMessage(progress)),
            shared=request.shared,
        )
        for result in report.results:
            result.detach_for_transfer()  # no model, no answer tensors: not sent
        channel.send(ResultMessage(request.label, report))
    except MemoryError:
        limit = f"worker exceeded the memory limit of {request.memory_limit} bytes"
        channel.send(FailedMessage(request.label, Failure("lower", "MemoryError", limit)))
    except UsageError as exc:
        channel.send(UsageMessage(request.label, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the caller, never lost
        from ._triage import triage

        channel.send(FailedMessage(request.label, triage("lower", exc)))


# -- the caller's side --------------------------------------------------------------------------

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


def failed_result(job: Job, model: str, stage: str, kind: str, message: str) -> BackendResult:
    return BackendResult(
        job.label, job.backends, "", "failed", model=model, error=Failure(stage, kind, message)
    )


def dispatch(message: WorkerMessage, running: list[Job], finish, notify, model: str) -> None:
    """Act on one worker message: pass progress on, end the job its outcome belongs to."""
    if isinstance(message, ProgressMessage):
        notify(message.progress)
        return
    job = next((j for j in running if j.label == message.label), None)
    if job is None:
        return
    if isinstance(message, UsageMessage):
        raise UsageError(message.text)
    if isinstance(message, ResultMessage):
        finish(job, message.report.results[0])
    elif isinstance(message, FailedMessage):
        failure = message.failure
        finish(job, failed_result(job, model, failure.stage, failure.type, failure.message))


def receive(readers: list[Connection], timeout: float) -> list[Any]:
    """The messages waiting on these pipes (one per ready pipe), after at most `timeout` s.

    A pipe that ends, or ends halfway through a message because its worker was killed, just
    gives nothing more; the worker's exit is what reports it.
    """
    ready = wait([r for r in readers if not r.closed], timeout)
    return [message for reader in ready for message in _recv(reader)]


def read_to_end(reader: Connection | None) -> list[Any]:
    """Everything a finished worker left in its pipe (its result may still be in there)."""
    messages: list[Any] = []
    while reader is not None and not reader.closed and reader.poll(0.5):
        messages += _recv(reader)
    return messages


def _recv(reader: Connection) -> list[Any]:
    """The next message, or none (and the pipe closed) when it ended, even mid-message."""
    try:
        return [reader.recv()]
    except (EOFError, OSError):
        reader.close()
        return []
