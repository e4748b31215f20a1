"""Results of a lowering: one `BackendResult` per program, gathered in a `LoweringReport`."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes, human_bytes
from ..analysis._counts import advice_listing, fallback_listing, fallback_record
from ..analysis.placement import OpCoverage, Placement
from ..errors import UsageError
from ._etrecord import numerics_method, save_etrecord
from ._triage import Failure

# Part of every cache key: bumped whenever what a stored BackendResult records changes, so an
# entry written by an older workbench (same package version) is never served without it.
# 2: Sizes.planned_arena_bytes (the memory plan). 3: NodePlacement.source_op (coverage rows).
RESULT_FORMAT = 3


@dataclass
class Sizes:
    """Bytes of a .pte and where they go."""

    pte_bytes: int
    delegate_payload_bytes: int  # the delegates' processed blobs
    delegate_data_bytes: int  # weights the delegates stored as named data
    constant_bytes: int  # weights/constants left outside any delegate (run by CPU kernels)
    # The memory plan: bytes of each planned activation arena, by memory id, as the program's
    # execution plan lists them (executorch's `non_const_buffer_sizes`; id 0 is reserved, 0).
    planned_arena_bytes: tuple[int, ...] = ()

    @property
    def activation_bytes(self) -> int:
        """The planned activation memory a host must provide to run the program."""
        return sum(self.planned_arena_bytes)

    @property
    def other_bytes(self) -> int:
        return max(
            0,
            self.pte_bytes
            - self.delegate_payload_bytes
            - self.delegate_data_bytes
            - self.constant_bytes,
        )


@dataclass
class BackendResult:
    """One program: a single backend, or an ordered priority list of backends."""

    backend: str  # "xnnpack", or "vulkan+xnnpack" for a priority list
    backends: list[str]
    scheme: str
    status: str  # ok | failed | unavailable
    model: str = ""
    placement: Placement | None = None
    sizes: Sizes | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    error: Failure | None = None
    reason: str = ""  # unavailable: why
    hint: str = ""  # unavailable: how to get it
    pte_path: str | None = None
    cached: bool = False  # served from the on-disk cache (timings are the original lowering's)
    preview: bool = False  # placement only: partitioned, not compiled; no .pte
    run_report: Any = None  # a RunReport after .run(); None when not run
    dynamic_checks: list | None = None  # DynamicCheck rows after .check_dynamic(); None: not run
    calibration_batches: int | None = None  # static schemes: how many batches were observed
    calibration_source: str | None = None  # "example inputs", "iterable" or the file path
    # The backend compile options in effect that differ from the defaults, as
    # "backend.key=value" (e.g. "coreml.compute_unit=CPU_ONLY"); () is the default lowering.
    # Options left at their default ("auto": the scheme decides) are not listed.
    options: tuple[str, ...] = ()
    float_modules: tuple[str, ...] = ()  # left float in a quantized program (see _keep_float)
    _pte_data: bytes | None = field(default=None, repr=False)
    _pte_file: Any = field(default=None, repr=False, compare=False)  # a cache hit's open .pte
    _model_spec: Any = field(default=None, repr=False)
    _answer: Any = field(default=None, repr=False, compare=False)  # _cache_check.StoredAnswer
    numerics, save_etrecord = numerics_method, save_etrecord  # bodies: lowering._etrecord

    @property
    def _buffer(self) -> bytes | None:
        """The .pte bytes; a cache hit reads its file on first use, so a hit costs milliseconds."""
        if self._pte_data is None and self._pte_file is not None:
            with self._pte_file as handle:
                self._pte_data = handle.read()
            self._pte_file = None
        return self._pte_data

    @_buffer.setter
    def _buffer(self, value: bytes | None) -> None:
        self._pte_data, self._pte_file = value, None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_pte_data"], state["_pte_file"] = self._buffer, None
        return state

    # -- the program, the model and the stored answer: set only through these ------------------

    @property
    def pte_data(self) -> bytes | None:
        """The .pte bytes, or None without a program (`buffer` raises instead); read on first use."""
        return self._buffer

    @property
    def has_program(self) -> bool:
        """Whether a .pte is held or opened, without reading a cache hit's file to find out."""
        return self._pte_data is not None or self._pte_file is not None

    @property
    def model_spec(self) -> Any:
        """The `ModelSpec` lowered (what `run` compares against); None once sent or stored."""
        return self._model_spec

    @property
    def stored_answer(self) -> Any:
        """The program's outputs on the example inputs (`_cache_check`), that a hit must repeat."""
        return self._answer

    def attach_program(self, buffer: bytes) -> None:
        """Hold the .pte just made by `to_executorch`, as immutable bytes."""
        self._buffer = bytes(buffer)

    def drop_program(self) -> None:
        """Forget the .pte: a lowering that failed after it was made has nothing to save or run."""
        self._buffer = None

    def take_program_of(self, other: BackendResult) -> None:
        """Serve `other`'s .pte (a cache hit's) as this result's, still unread if it was unread."""
        self._pte_data, self._pte_file = other._pte_data, other._pte_file

    def attach_stored_program(self, path: str | os.PathLike) -> None:
        """A cache entry's .pte lives beside it (`for_cache`): open it now, read it on first use.

        A missing file raises FileNotFoundError, which makes the entry a miss.
        """
        if self._pte_data is None and self.sizes:
            self._pte_file = open(path, "rb")  # noqa: SIM115 - closed by `_buffer` on first read

    def attach_model(self, spec: Any) -> None:
        """Remember the model this program was lowered from, so `run` can compare with eager."""
        self._model_spec = spec

    def attach_answer(self, answer: Any) -> None:
        """Keep the program's answer on the example inputs, stored with its cache entry."""
        self._answer = answer

    def for_cache(self) -> BackendResult:
        """A copy to pickle as a cache entry: no model (modules need not persist) and no .pte
        bytes (the cache writes them beside the entry; `attach_stored_program` reopens them)."""
        return dataclasses.replace(self, _model_spec=None, _pte_data=None, _pte_file=None)

    def detach_for_transfer(self) -> None:
        """Before a worker sends this result: drop the model (the caller has its own) and the
        answer's tensors (they belong to the cache entry the worker wrote)."""
        self._model_spec = None
        self._answer = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def pte_bytes(self) -> int | None:
        return self.sizes.pte_bytes if self.sizes else None

    @property
    def buffer(self) -> bytes:
        if self._buffer is None:
            raise UsageError(
                f"{self.backend}: no .pte to use because the lowering {self.status}: {self.summary_line()}"
            )
        return self._buffer

    def coverage(self) -> list[OpCoverage]:
        return self.placement.coverage() if self.placement else []

    def save(self, path: str | os.PathLike) -> Path:
        """Write the .pte atomically; returns the path written."""
        import time

        start = time.perf_counter()
        written = atomic_write_bytes(path, self.buffer)
        self.timings_s["save"] = round(time.perf_counter() - start, 4)
        self.pte_path = str(written)
        return written

    def run(self, **kwargs: Any) -> Any:
        """Run the .pte on this host (see `runtime.run_program`); stores `run_report`."""
        from ..runtime import run_program

        self.run_report = run_program(self, **kwargs)
        return self.run_report

    def to_model_explorer(self, directory: str | os.PathLike) -> list[Path]:
        """Write this program's graph and node data for Google's Model Explorer (the viewer for
        graphs too big for graphviz; `views.model_explorer`): the paths written."""
        from ..views.model_explorer import write

        return write(self, directory)

    def check_dynamic(self, seed: int = 0) -> list:
        """Run the .pte at the min, middle and max of the model's dynamic dims and compare each
        with eager (see `runtime.check_dynamic`): `DynamicCheck` rows, stored as
        `dynamic_checks`; [] when the model has no dynamic dims."""
        from ..runtime import check_dynamic

        self.dynamic_checks = check_dynamic(self, seed=seed)
        return self.dynamic_checks

    def summary_line(self) -> str:
        if self.status == "ok" and self.preview:
            seconds = sum(self.timings_s.values())
            return (
                f"{self.backend}: preview  {self.placement.counts.describe()}  "
                f"{seconds:.2f} s  (not compiled){self._options_note()}"
            )
        if self.status == "ok":
            total = sum(v for k, v in self.timings_s.items() if k != "cache_load")
            took = (
                f"cached ({self.timings_s.get('cache_load', 0) * 1000:.0f} ms)"
                if self.cached
                else f"{total:.1f} s"
            )
            size = human_bytes(self.sizes.pte_bytes if self.sizes else None)
            where = self.pte_path or "(not saved)"
            calibrated = (
                f"  calibrated on {self.calibration_batches} batch"
                f"{'es' if self.calibration_batches != 1 else ''} ({self.calibration_source})"
                if self.calibration_batches
                else ""
            )
            return (
                f"{self.backend}: ok  {size}  {self.placement.counts.describe()}  "
                f"{took}{calibrated}{self._options_note()}  -> {where}"
            )
        if self.status == "unavailable":
            return f"{self.backend}: unavailable: {self.reason}" + (
                f" (hint: {self.hint})" if self.hint else ""
            )
        what = self.error.one_line if self.error else "unknown error"
        return f"{self.backend}: failed{self._options_note(', ')}: {what}"

    def _options_note(self, lead: str = "  ") -> str:
        note = f"{lead}options {' '.join(self.options)}" if self.options else ""
        return note + (f"{lead}float: {','.join(self.float_modules)}" if self.float_modules else "")

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape `etwb lower --json` prints for each backend.

        Node counts (see analysis.placement): delegated_nodes and fallback_nodes are
        get_delegation_info's delegated / non-delegated totals; fallback_nodes splits into
        cpu_kernel_nodes (run a CPU kernel) and structural_nodes (getitems, no kernel);
        delegated_share is delegated / (delegated + cpu_kernel), None without kernel nodes.
        """
        placement = self.placement
        counts = placement.counts if placement else None
        return {
            "backend": self.backend,
            "backends": self.backends,
            "scheme": self.scheme,
            "status": self.status,
            "pte_path": self.pte_path,
            "pte_bytes": self.sizes.pte_bytes if self.sizes else None,
            "delegated_nodes": placement.delegated_nodes if placement else None,
            "fallback_nodes": placement.fallback_nodes if placement else None,
            "cpu_kernel_nodes": counts.cpu_kernels if counts else None,
            "structural_nodes": counts.structural if counts else None,
            "delegated_share": counts.share if counts else None,
            "delegated_subgraphs": placement.num_delegated_subgraphs if placement else None,
            "ops": [dataclasses.asdict(c) for c in placement.coverage()] if placement else [],
            "fallback_reasons": [fallback_record(n) for n in placement.fallbacks()]
            if placement
            else [],
            "delegates": [
                dataclasses.asdict(d) | {"bytes": d.payload_bytes + d.data_bytes}
                for d in placement.delegates
            ]
            if placement
            else [],
            "sizes": dataclasses.asdict(self.sizes)
            | {
                "other_bytes": self.sizes.other_bytes,
                "activation_bytes": self.sizes.activation_bytes,
            }
            if self.sizes
            else None,
            "options": dict(entry.split("=", 1) for entry in self.options),
            "float_modules": list(self.float_modules),
            "timings_s": dict(self.timings_s),
            "cached": self.cached,
            "calibration": {
                "batches": self.calibration_batches,
                "source": self.calibration_source,
            }
            if self.calibration_batches
            else None,
            "error": _failure_dict(self.error),
            "reason": self.reason or None,
            "hint": self.hint or None,
            "run": self.run_report.to_dict() if self.run_report is not None else None,
            "dynamic": [dataclasses.asdict(row) for row in self.dynamic_checks]
            if self.dynamic_checks is not None
            else None,
        }


def _failure_dict(failure: Failure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {k: v for k, v in dataclasses.asdict(failure).items() if k != "traceback"}


@dataclass(eq=False)  # one run's report: two runs are two reports, even when they agree
class LoweringReport:
    """Everything one `lower()` call produced."""

    model: str
    inputs: str
    parameter_bytes: int
    results: list[BackendResult]
    timings_s: dict[str, float] = field(default_factory=dict)
    not_started: list[str] = field(default_factory=list)  # backends skipped by a cancel

    def __getitem__(self, backend: str) -> BackendResult:
        for result in self.results:
            if result.backend == backend:
                return result
        raise KeyError(
            f"no result for backend {backend!r}; have: {', '.join(r.backend for r in self.results)}"
        )

    def __iter__(self):
        return iter(self.results)

    @property
    def ok(self) -> list[BackendResult]:
        return [r for r in self.results if r.ok]

    def summary(self) -> str:
        verb = "Previewed" if self.results and all(r.preview for r in self.results) else "Lowered"
        lines = [
            f"{verb} {len(self.ok)}/{len(self.results)} backends for {self.model} ({self.inputs})"
        ]
        for r in self.results:
            lines.append("  " + r.summary_line())
            fallbacks = fallback_listing(r.placement.nodes) if r.placement else ""
            if fallbacks:
                lines.append("    cpu: " + fallbacks)
                lines += ["    advice: " + line for line in advice_listing(r.placement.nodes)]
            if r.status == "failed" and r.error is not None and r.error.exclude_hint:
                lines.append("    " + r.error.exclude_hint)
            if r.run_report is not None:
                lines.append("    " + r.run_report.summary_line())
            for row in r.dynamic_checks or ():
                lines.append("    dynamic " + row.line())
        if self.not_started:
            lines.append("  cancelled; not started: " + ", ".join(self.not_started))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "inputs": self.inputs,
            "parameter_bytes": self.parameter_bytes,
            "timings_s": dict(self.timings_s),
            "results": [r.to_dict() for r in self.results],
            "not_started": list(self.not_started),
        }

    def check_dynamic(self, seed: int = 0) -> list:
        """Every program's `check_dynamic()` rows, in result order."""
        return [row for r in self.results for row in r.check_dynamic(seed=seed)]

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_model_explorer(self, directory: str | os.PathLike) -> list[Path]:
        """Model Explorer files of every program with a graph (`BackendResult.to_model_explorer`)."""
        from ..views.model_explorer import write

        return write(self, directory)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython
        printer.text(self.summary())
