"""Host runs: load a lowered .pte with `executorch.runtime`, time it, and compare it to eager.

The truth about what can run here is the installed runtime itself: a program runs only if
every backend in it declares `runs_on_host`, every delegate id in the .pte is registered in
this runtime, and every CPU kernel it calls is in the runtime's operator registry. Quantized
programs are compared with the *float* eager model, so the error shown is what quantization
(plus lowering) costs.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._triage import Failure

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


@dataclass
class Profile:
    """Per-operator / per-delegate times from an ETDump of a separate, untimed load."""

    executions: int
    rows: list[ProfileRow] = field(default_factory=list)
    note: str = ""


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
            f"  peak +{self.peak_memory_bytes / 1e6:.1f} MB"
            if self.peak_memory_bytes is not None
            else ""
        )
        return (
            f"run: {lat.median:.3f} ms median (p90 {lat.p90:.3f}, {lat.repeats} runs)  "
            f"max abs err {err.max_abs:.2e}{rel}  mean {err.mean_abs:.2e}{top1}{mem}  "
            f"({self.inputs_checked} inputs)"
            + (f"  computed in {self.precision} ({self.precision_note})" if self.precision else "")
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["failure"] = (
            {k: v for k, v in data["failure"].items() if k != "traceback"} if self.failure else None
        )
        return data


# -- what can run here ------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def registered_backends() -> tuple[str, ...]:
    """Delegate ids the installed ExecuTorch runtime has registered (e.g. XnnpackBackend)."""
    from executorch.runtime import Runtime

    return tuple(Runtime.get().backend_registry.registered_backend_names)


@functools.lru_cache(maxsize=1)
def registered_operators() -> frozenset[str]:
    from executorch.runtime import Runtime

    return frozenset(Runtime.get().operator_registry.operator_names)


def runnability(result: Any) -> tuple[str, str] | None:
    """None when `result`'s program can run on this host, else (status, reason)."""
    from ..analysis.pte_file import inspect_pte
    from ..backends import get_backend

    if not result.ok or result.preview or result._buffer is None:
        what = "a preview has no .pte" if result.preview else f"the lowering {result.status}"
        return "not run", f"nothing to run: {what}"
    for name in result.backends:
        backend = get_backend(name)
        if not backend.runs_on_host:
            where = backend.hardware or "other hardware"
            return NOT_RUNNABLE, f"{backend.title} programs run on {where}, not on this host"
    pte = inspect_pte(result._buffer, isolate=False)  # our own buffer: no need to fork
    registered = registered_backends()
    for delegate in pte.delegates:
        if delegate.backend_id not in registered:
            return NOT_RUNNABLE, f"runtime has no {delegate.backend_id} backend registered"
    missing = sorted(op for op in pte.cpu_operators() if op not in registered_operators())
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        return NOT_RUNNABLE, f"runtime has no kernel for {', '.join(missing[:5])}{more}"
    return None


# -- inputs and comparison --------------------------------------------------------------------


def random_like(inputs: Any, count: int, seed: int) -> list[Any]:
    """`count` copies of `inputs` (any pytree: an args tuple, `(args, kwargs)`, nested) with
    each tensor leaf redrawn at its shape and dtype from a seeded generator.

    Floats are standard normal; integers are drawn within the example's own [min, max] (so
    token ids stay in range); booleans are fair coins; plain values (fixed into the program at
    export) are kept as given.
    """
    import torch
    from torch.utils._pytree import tree_map

    generator = torch.Generator().manual_seed(seed)

    def redraw(value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        if value.dtype.is_floating_point:
            return torch.randn(value.shape, generator=generator).to(value.dtype)
        if value.dtype == torch.bool:
            return torch.randint(0, 2, value.shape, generator=generator).bool()
        low = int(value.min()) if value.numel() else 0
        high = int(value.max()) + 1 if value.numel() else 1
        return torch.randint(low, high, value.shape, generator=generator, dtype=value.dtype)

    return [tree_map(redraw, inputs) for _ in range(count)]


def _tensors(outputs: Any) -> list[Any]:
    """The tensor leaves of an output pytree, in the order the runtime returns them."""
    import torch
    from torch.utils._pytree import tree_leaves

    return [t for t in tree_leaves(outputs) if isinstance(t, torch.Tensor)]


def _output_names(outputs: Any) -> list[str]:
    """`output[1][0]` for each tensor leaf of eager's (nested) output, for error messages."""
    import torch
    from torch.utils._pytree import keystr, tree_flatten_with_path

    if isinstance(outputs, torch.Tensor):
        return ["output"]
    leaves = tree_flatten_with_path(outputs)[0]
    return ["output" + keystr(path) for path, leaf in leaves if isinstance(leaf, torch.Tensor)]


def compare_outputs(
    references: list[list[Any]],
    outputs: list[list[Any]],
    classifier: bool,
    names: list[str] | None = None,
) -> OutputError:
    """Error over the output tensors leaf by leaf (nested outputs flattened in pytree order, as
    the runtime returns them); top-k agreement on the first output. `names` label the leaves."""

    max_abs, abs_sum, count, ref_max = 0.0, 0.0, 0, 0.0
    top1_hits = top5_hits = rows = 0
    has_top5 = False
    for ref_list, out_list in zip(references, outputs, strict=True):
        if len(ref_list) != len(out_list):
            raise ValueError(
                f"the program returned {len(out_list)} tensors, eager returned {len(ref_list)}"
            )
        for index, (ref, out) in enumerate(zip(ref_list, out_list, strict=True)):
            if tuple(ref.shape) != tuple(out.shape):
                where = names[index] if names and index < len(names) else f"output {index}"
                raise ValueError(
                    f"{where} shape {list(out.shape)} differs from eager {list(ref.shape)}"
                )
            diff = (out.double() - ref.double()).abs()
            if diff.numel():
                max_abs = max(max_abs, float(diff.max()))
                ref_max = max(ref_max, float(ref.double().abs().max()))
            abs_sum += float(diff.sum())
            count += diff.numel()
        if classifier and ref_list and ref_list[0].dim() >= 1 and ref_list[0].shape[-1] > 1:
            ref_logits = ref_list[0].reshape(-1, ref_list[0].shape[-1]).float()
            out_logits = out_list[0].reshape(-1, out_list[0].shape[-1]).float()
            ref_top = ref_logits.argmax(dim=-1)
            top1_hits += int((out_logits.argmax(dim=-1) == ref_top).sum())
            if out_logits.shape[-1] >= 5:
                has_top5 = True
                top5 = out_logits.topk(5, dim=-1).indices
                top5_hits += int((top5 == ref_top.unsqueeze(-1)).any(dim=-1).sum())
            rows += ref_logits.shape[0]
    return OutputError(
        max_abs=max_abs,
        mean_abs=abs_sum / count if count else 0.0,
        reference_max_abs=ref_max,
        relative_max_abs=max_abs / ref_max if ref_max > 0 else None,
        top1_agreement=top1_hits / rows if rows else None,
        top5_agreement=top5_hits / rows if rows and has_top5 else None,
        rows=rows,
    )


# -- memory -----------------------------------------------------------------------------------


class _MemoryMeter:
    """Native memory a run takes: two Linux measurements, the larger one reported.

    * heap: bytes glibc's malloc has handed out (mallinfo2, all arenas) above the start,
      sampled after load and after each phase of executions. It sees native allocations
      (XNNPACK packed weights, runtime arenas, delegate workspaces) that tracemalloc would
      not, and it counts reused free memory; it misses transients inside one execute and
      memory mapped outside malloc.
    * rss: the resident high-water mark (VmHWM, reset via /proc/self/clear_refs) above the
      starting RSS. It sees everything resident, but not pages the process had already
      freed and reuses, so after a lowering in the same process it under-counts badly.
    """

    method = (
        "max of: glibc heap in use (mallinfo2) sampled after load and after each run phase, "
        "and peak RSS (VmHWM) over load + runs; each minus its value before loading"
    )

    def __init__(self) -> None:
        self.heap_peak: int | None = None
        self.rss_peak: int | None = None
        self.notes: list[str] = []
        self._heap = _heap_reader()
        if self._heap is None:
            self.notes.append("heap not measured: no glibc mallinfo2 here")

    @property
    def bytes(self) -> int | None:
        values = [v for v in (self.heap_peak, self.rss_peak) if v is not None]
        return max(values) if values else None

    @property
    def description(self) -> str:
        return "; ".join([self.method, *self.notes])

    def sample(self) -> None:
        if self._heap is not None and self._heap_start is not None:
            used = self._heap() - self._heap_start
            self.heap_peak = max(self.heap_peak or 0, used)

    def __enter__(self) -> _MemoryMeter:
        self._heap_start = self._heap() if self._heap is not None else None
        self._rss_start = _status_kb("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError as exc:
            self._rss_start = None
            self.notes.append(f"RSS not measured: cannot reset its high-water mark ({exc})")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sample()
        peak = _status_kb("VmHWM")
        if self._rss_start is not None and peak is not None:
            self.rss_peak = max(0, peak - self._rss_start) * 1024


def _heap_reader():
    """A function returning glibc's in-use heap bytes, or None off glibc."""
    import ctypes
    import ctypes.util

    class _Mallinfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
            )
        ]  # fmt: skip

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _Mallinfo2

    def in_use() -> int:
        info = mallinfo2()
        return int(info.uordblks + info.hblkhd)  # small/medium chunks + mmapped chunks

    return in_use


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# -- the run ----------------------------------------------------------------------------------


def run_program(
    result: Any,
    inputs: tuple | None = None,
    *,
    kwargs: dict | None = None,
    random_inputs: int = 4,
    repeats: int = 20,
    warmup: int = 3,
    seed: int = 0,
    profile: bool = False,
    precision: str | None = None,
) -> RunReport:
    """Run `result`'s .pte here: latency on `inputs`, error against eager, peak memory.

    `inputs` (positional args) and `kwargs` default to the model's example inputs and kwargs;
    `random_inputs` more seeded random inputs of the same structure are checked for error too.
    The program takes every leaf of `(args, kwargs)` as one flat list (plain ints and None
    included), eager is called as `module(*args, **kwargs)`. With `profile=True` the program is
    loaded a second time with ETDump enabled (kept out of the timed runs) and per-event times
    are attached as `report.profile`. `precision` ("f32" | "bf16" | "f16") asks OpenVINO
    programs for that compute precision (None: f32, unless the process chose otherwise; see
    `backends.openvino.set_host_precision`); `report.precision` says what was really used.
    """
    import torch

    if repeats < 1 or warmup < 0 or random_inputs < 0:
        raise UsageError(
            f"repeats must be >= 1 and warmup, random_inputs >= 0; got repeats={repeats}, "
            f"warmup={warmup}, random_inputs={random_inputs}"
        )
    host = {"cpu_count": os.cpu_count(), "runtime_backends": list(registered_backends())}
    verdict = runnability(result)
    if verdict is not None:
        return RunReport(verdict[0], reason=verdict[1], host=host)
    spec = result._model_spec
    if spec is None:
        return RunReport("not run", reason="no eager model on this result to compare against")
    from ..models._inputs import flat_inputs

    base_kwargs = dict(spec.example_kwargs if kwargs is None else kwargs)
    # The program's inputs follow the example kwargs' order (pytree order of export).
    order = {key: index for index, key in enumerate(spec.example_kwargs)}
    base_kwargs = dict(sorted(base_kwargs.items(), key=lambda kv: order.get(kv[0], len(order))))
    base_pair = (tuple(inputs) if inputs is not None else tuple(spec.example_inputs), base_kwargs)
    pairs = [base_pair, *random_like(base_pair, random_inputs, seed)]
    checks = [flat_inputs(args, kw) for args, kw in pairs]
    base = checks[0]
    compute, compute_note, refusal = _compute_precision(result, precision)
    if refusal:
        return RunReport("not run", reason=refusal, host=host, precision=compute,
                         precision_note=compute_note)  # fmt: skip

    from executorch.runtime import Runtime

    outputs: list[list[Any]] = []
    memory = _MemoryMeter()
    try:
        with memory:
            start = time.perf_counter()
            program = Runtime.get().load_program(result._buffer)
            method = program.load_method("forward")
            load_ms = (time.perf_counter() - start) * 1000
            memory.sample()
            # Checked first, on the fresh program, so a model with state (a buffer it updates
            # each call) is compared with eager after the same sequence of calls.
            for batch in checks:
                outputs.append(_tensors(method.execute(batch)))
            memory.sample()
            for _ in range(warmup):
                method.execute(base)
            memory.sample()
            times = []
            for _ in range(repeats):
                start = time.perf_counter_ns()
                method.execute(base)
                times.append((time.perf_counter_ns() - start) / 1e6)
            memory.sample()
        eager = copy.deepcopy(spec.module)  # eager calls must not change the user's module
        with torch.no_grad():
            eager_outputs = [eager(*args, **kw) for args, kw in pairs]
        references = [_tensors(out) for out in eager_outputs]
        names = _output_names(eager_outputs[0])
        error = compare_outputs(references, outputs, spec.classifier, names)
    except Exception as exc:
        from ._triage import triage

        failure = triage("run", exc)
        return RunReport("failed", reason=failure.one_line, failure=failure, host=host)
    report = RunReport(
        "ok",
        latency_ms=_latency(times, warmup),
        error=error,
        peak_memory_bytes=memory.bytes,
        memory_method=memory.description,
        memory_detail={"heap_bytes": memory.heap_peak, "rss_hwm_bytes": memory.rss_peak},
        load_ms=round(load_ms, 3),
        inputs_checked=len(checks),
        host=host,
        precision=compute,
        precision_note=compute_note,
    )
    if profile:
        report.profile = profile_program(result._buffer, base)
    return report


def _compute_precision(result: Any, requested: str | None) -> tuple[str | None, str, str | None]:
    """(precision, why, refusal): OpenVINO fixes its CPU precision per process, not per .pte."""
    if "openvino" not in result.backends:
        return None, "", None  # runs as lowered; `precision` steers OpenVINO programs only
    from ..backends.openvino import run_precision

    return run_precision(requested)


def _latency(times: list[float], warmup: int) -> Latency:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, max(0, round(0.9 * len(ordered)) - 1))]
    return Latency(
        median=round(statistics.median(ordered), 4),
        p90=round(p90, 4),
        min=round(ordered[0], 4),
        repeats=len(ordered),
        warmup=warmup,
    )


# -- ETDump -----------------------------------------------------------------------------------


def profile_program(buffer: bytes, inputs: list, executions: int = 5) -> Profile:
    """Per-event times from an ETDump: delegate calls, ops inside delegates, CPU kernels.

    Needs a runtime built with the event tracer (the pip wheel is). Delegate-internal events
    are whatever the delegate reports (XNNPACK: each XNNPACK operator, microsecond ticks).
    """
    import warnings

    from executorch.runtime import Runtime

    profile = Profile(executions=executions)
    try:
        program = Runtime.get().load_program(buffer, enable_etdump=True, debug_buffer_size=0)
        method = program.load_method("forward")
        for _ in range(executions):
            method.execute(inputs)
        with tempfile.TemporaryDirectory(prefix="etwb-etdump-") as tmp:
            etdump = Path(tmp) / "run.etdp"
            program.write_etdump_result_to_file(str(etdump), str(Path(tmp) / "debug.bin"))
            if not etdump.exists() or etdump.stat().st_size == 0:
                profile.note = "the runtime wrote no ETDump (built without the event tracer?)"
                return profile
            from executorch.devtools import Inspector

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                inspector = Inspector(etdump_path=str(etdump))
    except Exception as exc:  # profiling is optional; say why it is missing
        profile.note = f"no profile: {type(exc).__name__}: {exc}"
        return profile
    seen: dict[str, int] = {}
    # The ETDump does not name the backend of delegate events; when the program has one
    # delegate backend, every delegate event is its.
    from ..analysis.pte_file import inspect_pte

    ids = {d.backend_id for d in inspect_pte(buffer, isolate=False).delegates}
    only = ids.pop() if len(ids) == 1 else None
    for block in inspector.event_blocks:
        if block.name != "Execute":
            continue  # the "Default" block is load-time events (Method::init, load_method)
        for event in block.events:
            raw = list(event.perf_data.raw) if event.perf_data is not None else []
            if not raw:
                continue
            name = event.name
            seen[name] = seen.get(name, 0) + 1
            label = f"{name} #{seen[name]}" if name in ("DELEGATE_CALL", "OPERATOR_CALL") else name
            profile.rows.append(
                ProfileRow(
                    name=label,
                    kind=_event_kind(event),
                    backend=event.delegate_backend_name
                    or (only if _event_kind(event) in ("delegate op", "delegate call") else None),
                    median_ms=round(statistics.median(raw), 6),
                    mean_ms=round(statistics.fmean(raw), 6),
                    count=len(raw),
                )
            )
    if not profile.rows:
        profile.note = "the ETDump holds no execution events"
    return profile


_KINDS = {
    "Method::execute": "method",
    "DELEGATE_CALL": "delegate call",
    "OPERATOR_CALL": "operator call",
}


def _event_kind(event: Any) -> str:
    if event.is_delegated_op:
        return "delegate op"
    if event.name.startswith("native_call_"):
        return "CPU kernel"
    return _KINDS.get(event.name, "other")
