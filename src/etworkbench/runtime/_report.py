"""What a host run reports: latency, output error, memory, an optional ETDump profile."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .._io import human_bytes
from ..lowering._triage import Failure

NOT_RUNNABLE = "not runnable here"


@dataclass
class Latency:
    """Wall-clock milliseconds of `Method.execute` on the example inputs, after warm-up."""

    median: float
    p90: float
    min: float
    repeats: int
    warmup: int


@dataclass
class OutputError:
    """Program outputs against float eager outputs over every input checked.

    `top1_agreement` is the share of rows whose arg-max class matches eager's;
    `top5_agreement` the share whose eager top-1 class is in the program's top 5
    (classifiers only; None otherwise).
    """

    max_abs: float
    mean_abs: float
    reference_max_abs: float  # the scale of eager outputs, to read max_abs against
    relative_max_abs: float | None  # max_abs / reference_max_abs (None when eager is all 0)
    top1_agreement: float | None = None
    top5_agreement: float | None = None
    rows: int = 0  # classifier rows compared (inputs x batch)


@dataclass
class ProfileRow:
    """One ETDump event, aggregated over the profiled executions (milliseconds)."""

    name: str
    kind: str  # method | delegate call | delegate op | CPU kernel | operator call
    backend: str | None
    median_ms: float
    mean_ms: float
    count: int
    # what ties the event to graph nodes (runtime._latency): the chain instruction it ran in,
    # the debug handles an ETRecord resolves it to, its raw name (`name` may carry " #n")
    instruction: int | None = None
    debug_handles: list[int] = field(default_factory=list)
    event: str = ""


@dataclass
class Profile:
    """Per-operator / per-delegate times from an ETDump of a separate, untimed load."""

    executions: int
    rows: list[ProfileRow] = field(default_factory=list)
    note: str = ""
    # debug handle -> edge node names, from an ETRecord (empty without one)
    handle_names: dict[int, list[str]] = field(default_factory=dict, repr=False)

    def overlay(self, result: Any = None, *, placement: Any = None, pte: bytes | None = None):
        """Per-node latency (`NodeOverlay("latency", "ms")`) of `result`'s graph: see
        runtime._latency.overlay_of."""
        from ._latency import overlay_of

        return overlay_of(self, result, placement=placement, pte=pte)


@dataclass
class RunReport:
    """What running one program on this host showed (or why it could not run)."""

    status: str  # ok | failed | not runnable here | not run
    reason: str = ""
    latency_ms: Latency | None = None
    error: OutputError | None = None
    peak_memory_bytes: int | None = None
    memory_method: str = ""
    memory_detail: dict[str, int | None] = field(default_factory=dict)
    load_ms: float | None = None
    inputs_checked: int = 0
    failure: Failure | None = None
    profile: Profile | None = None
    host: dict[str, Any] = field(default_factory=dict)
    # Float compute precision the runtime really used when a backend picks it at run time
    # (OpenVINO CPU: f32 | bf16 | f16), and why; None when the program runs as lowered.
    precision: str | None = None
    precision_note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def summary_line(self) -> str:
        if self.failure is not None:
            return f"run {self.failure.one_line}"  # "run failed: <type>: <message>"
        if self.status != "ok":
            return f"run: {self.status}: {self.reason}"
        lat, err = self.latency_ms, self.error
        rel = f" (rel {err.relative_max_abs:.1e})" if err.relative_max_abs is not None else ""
        top1 = f"  top-1 {err.top1_agreement:.0%}" if err.top1_agreement is not None else ""
        mem = (
            f"  peak +{human_bytes(self.peak_memory_bytes)}"
            if self.peak_memory_bytes is not None
            else ""
        )
        return (
            f"run: {lat.median:.3f} ms median (p90 {lat.p90:.3f}, {lat.repeats} runs)  "
            f"max abs err {err.max_abs:.2e}{rel}  mean {err.mean_abs:.2e}{top1}{mem}  "
            f"(errors over {self.inputs_checked} input sets: the example + random ones)"
            + (f"  computed in {self.precision} ({self.precision_note})" if self.precision else "")
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["failure"] = (
            {k: v for k, v in data["failure"].items() if k != "traceback"} if self.failure else None
        )
        return data
