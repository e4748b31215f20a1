"""Host runs: load a lowered .pte with `executorch.runtime`, time it, and compare it to eager.

Quantized programs are compared with the *float* eager model, so the error shown is what
quantization (plus lowering) costs. Whether a program can run here at all is `_host`'s call.
"""

from __future__ import annotations

import copy
import os
import statistics
import time
from typing import Any

from ..errors import UsageError
from ._compare import compare_outputs, output_names, tensors
from ._host import registered_backends, runnability
from ._inputs import random_like
from ._memory import MemoryMeter
from ._profile import profile_program
from ._report import Latency, RunReport


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
    spec = result.model_spec
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
    memory = MemoryMeter()
    try:
        with memory:
            start = time.perf_counter()
            program = Runtime.get().load_program(result.pte_data)
            method = program.load_method("forward")
            load_ms = (time.perf_counter() - start) * 1000
            memory.sample()
            # Checked first, on the fresh program, so a model with state (a buffer it updates
            # each call) is compared with eager after the same sequence of calls.
            for batch in checks:
                outputs.append(tensors(method.execute(batch)))
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
        references = [tensors(out) for out in eager_outputs]
        names = output_names(eager_outputs[0])
        error = compare_outputs(references, outputs, spec.classifier, names)
    except Exception as exc:
        from ..lowering._triage import triage

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
        report.profile = profile_program(result.pte_data, base)
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
