"""What a backend declares: its facts, how to probe it here, and how to build its partitioners.

A backend is one module with one `Backend` subclass. Everything the engine needs to know about
it lives there, so adding a backend touches one file (plus one line in the registry).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ._options import BackendOption


@dataclass(frozen=True)
class Availability:
    """Whether a backend can lower on this machine and, if not, exactly why."""

    available: bool
    reason: str = ""
    hint: str = ""


@dataclass(frozen=True)
class Scheme:
    """A quantization scheme as a backend understands it.

    `quantizer` builds a PT2E quantizer (None for float schemes). `calibrate` says whether the
    scheme observes activations (static) and so needs calibration data.
    """

    name: str
    description: str
    quantizer: Callable[..., Any] | None = None
    calibrate: bool = False
    # True when `quantizer(options)` takes the backend's resolved options: an Arm quantizer is
    # built from the same compile spec (target, TOSA spec) as the partitioner it feeds
    quantizer_takes_options: bool = False
    transform: Callable[[Any, tuple], Any] | None = None  # eager-module transform (e.g. torchao)
    # keyword arguments for `ExportedProgram.module()` before the quantizer sees the graph
    # as (name, value) pairs, e.g. (("check_guards", False),) for Arm quantizers on torch 2.14
    capture_kwargs: tuple[tuple[str, Any], ...] = ()
    # keyword arguments for `convert_pt2e`, e.g. (("fold_quantize", False),) for OpenVINO
    convert_kwargs: tuple[tuple[str, Any], ...] = ()
    # A backend's own PT2E driver, (captured module, calibration batches) -> converted module,
    # when its quantizer needs more than prepare/calibrate/convert (e.g. nncf's bias correction).
    pt2e: Callable[[Any, list], Any] | None = None
    lowers_here: bool = True  # False when this scheme needs something this host lacks
    note: str = ""  # why, when lowers_here is False

    def make_quantizer(self, options: Mapping[str, Any] | None = None) -> Any:
        """The PT2E quantizer, built for the backend's resolved `options` when it needs them."""
        if self.quantizer_takes_options:
            return self.quantizer(dict(options or {}))
        return self.quantizer()

    @property
    def float_export(self) -> bool:
        """Lowered from the plain (shared) export: no quantizer and no eager transform."""
        return self.quantizer is None and self.transform is None


@dataclass(frozen=True)
class BackendInfo:
    """The public row of the backend table (`etwb backends --json`)."""

    name: str
    title: str
    available: bool
    reason: str
    hint: str
    hardware: str
    platforms: list[str]
    runs_on_host: bool
    lowers_here: bool
    delegate_ids: list[str]
    schemes: list[str]
    notes: str = ""


def probe_imports(*modules: str, hint: str) -> Availability:
    """Available when every module imports; otherwise the import error is the reason."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # any import-time failure makes the backend unusable here
            return Availability(False, f"cannot import {module}: {type(exc).__name__}: {exc}", hint)
    return Availability(True)


class Reasons:
    """Why-not-delegated reasons captured during one lowering, keyed by node name."""

    def __init__(self) -> None:
        self.by_node: dict[str, list[tuple[str, str]]] = {}

    def add(self, node_name: str, backend: str, reason: str) -> None:
        entries = self.by_node.setdefault(node_name, [])
        if (backend, reason) not in entries:
            entries.append((backend, reason))

    def for_node(self, node_name: str) -> list[tuple[str, str]]:
        return list(self.by_node.get(node_name, []))

    def per_backend(self, node: Any, group: list[Backend]) -> list[tuple[Backend, list[str], bool]]:
        """(backend, its words, derived) per backend of `group`: what its partitioner said of
        `node`, else its `derived_reason` (derived=True; [] when it has none either)."""
        captured = self.for_node(node.name)
        rows = []
        for backend in group:
            own = [text for name, text in captured if name == backend.name]
            derived = None if own else backend.derived_reason(node)
            rows.append((backend, own or ([derived] if derived else []), not own))
        return rows


def _why_no_partition_sink(reasons: Reasons, backend: str) -> Callable[[logging.LogRecord], None]:
    """Records `WhyNoPartition` messages that partitioners log at DEBUG level as reasons."""

    def sink(record: logging.LogRecord) -> None:
        from executorch.exir.backend.utils import WhyNoPartition

        msg = record.msg
        if isinstance(msg, WhyNoPartition) and msg.node is not None:
            reasons.add(msg.node.name, backend, msg.reason)

    return sink


def capture_logger(
    logger_name: str, sink: Callable[[logging.LogRecord], None], level: int
) -> contextlib.AbstractContextManager:
    """`sink(record)` for this thread's records to a logger while the block runs, kept out of
    the user's output (thread-safe: `_compat.output.capture_log_records`)."""
    from .._compat.output import capture_log_records

    return capture_log_records(logger_name, sink, level)


def capture_reporter(reasons: Reasons, backend: str) -> contextlib.AbstractContextManager:
    """Record every `WhyNoPartitionReporter.report_reject` (Arm and others) while active, under
    `backend` when its partitioner is the one running (a priority group's other backends enter
    this too; see `_compat.patches.current_backend`)."""
    from .._compat.patches import capture_rejections

    def sink(node: Any, reason: Any) -> None:
        reasons.add(node.name, backend, str(reason))

    return capture_rejections(backend, sink)


def op_name(target: Any) -> str:
    """`aten.mean.dim` / `aten.relu.default` for edge and aten overloads; else the plain name."""
    from .._compat.torch import op_overload_name

    return op_overload_name(target) or str(getattr(target, "__name__", target))


class Backend:
    """Base class of every backend module's single class. Override the facts and factories."""

    name: str = ""
    title: str = ""
    hardware: str = ""
    platforms: tuple[str, ...] = ()
    runs_on_host: bool = False
    lowers_here: bool = True  # False for rows that can never lower here (SDK-only, removed)
    delegate_ids: tuple[str, ...] = ()
    hint: str = ""
    notes: str = ""
    loggers: tuple[str, ...] = ()  # module loggers whose WhyNoPartition records are reasons
    default_scheme: str = "fp32"  # what `quantization=None` means (int8-only NPUs override it)
    # Lowering time relative to XNNPACK (mobilenet_v2 / resnet18, benchmarks/RESULTS.md): parallel
    # workers start the slowest first, so the longest job does not start last.
    relative_cost: float = 1.0
    # What a user may choose beyond the backend's name (`_options`): plain data, so the app
    # draws its dropdowns without importing torch; the factories get the resolved values.
    options: ClassVar[dict[str, BackendOption]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass's `partitioners` tags what it builds with the backend's name, so the
        reasons a partitioner gives are recorded under its own backend (priority groups)."""
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("partitioners")
        if build is not None and not getattr(build, "tags_partitioners", False):
            cls.partitioners = _tagging(build)

    # -- availability ----------------------------------------------------------------------
    def probe(self) -> Availability:
        """Check, without side effects or downloads, whether lowering can work here."""
        raise NotImplementedError

    @functools.cached_property
    def availability(self) -> Availability:
        return self.probe()

    # -- factories ---------------------------------------------------------------------------
    def partitioners(self, scheme: str, options: Mapping[str, Any] | None = None) -> list[Any]:
        """The partitioners for `scheme`; `options` are this backend's resolved option values
        (every declared key; a subclass that declares none may take `scheme` only)."""
        raise NotImplementedError

    def resolve_options(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every declared option's native value: `given` (strings or native) over defaults."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            from ..errors import UsageError

            raise UsageError(
                f"{self.name} has no option {unknown[0]!r}; its options: "
                f"{', '.join(self.options) or 'none'}"
            )
        return {
            name: option.parse(given.get(name, option.default), self.name)
            for name, option in self.options.items()
        }

    def check_options(self, scheme: str, options: Mapping[str, Any]) -> None:
        """Raise a `UsageError` when resolved `options` cannot go with `scheme` (before any
        lowering starts). Default: every combination is allowed."""

    def edge_compile_config(self) -> Any | None:
        """An `EdgeCompileConfig` when the backend needs a non-default one."""
        return None

    # -- keep in float (lowering/_keep_float) ----------------------------------------------------
    keep_float_ops: ClassVar[bool] = False  # True when `keep_float` can skip ATen ops too

    def keep_float(self, quantizer: Any, keep: Any, graph: Any) -> Any:
        """The PT2E `quantizer` set to leave `keep` (a `_keep_float.KeepFloat`) in float, for
        the captured `graph`; returns the quantizer to use. Not overridden: refused up front."""
        raise NotImplementedError

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {"fp32": Scheme("fp32", "float32, no quantization")}

    # -- why-not-delegated -------------------------------------------------------------------
    @contextlib.contextmanager
    def capture_reasons(self, reasons: Reasons) -> Iterator[None]:
        """Collect the partitioner's own reasons while it runs."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(capture_reporter(reasons, self.name))
            for logger_name in self.loggers:
                sink = _why_no_partition_sink(reasons, self.name)
                stack.enter_context(capture_logger(logger_name, sink, logging.DEBUG))
            yield

    def lowering_output(self) -> contextlib.AbstractContextManager:
        """Entered for a whole lowering, preprocess included (`capture_reasons` only around
        partitioning): e.g. to keep a compiler's prints off stdout. Default: nothing."""
        return contextlib.nullcontext()

    def derived_reason(self, node: Any) -> str | None:
        """A reason from the backend's support table when its partitioner said nothing."""
        return None

    # -- table row ---------------------------------------------------------------------------
    def info(self) -> BackendInfo:
        avail = self.availability
        return BackendInfo(
            name=self.name,
            title=self.title,
            available=avail.available,
            reason=avail.reason,
            hint=avail.hint if not avail.available else "",
            hardware=self.hardware,
            platforms=list(self.platforms),
            runs_on_host=self.runs_on_host,
            lowers_here=self.lowers_here and avail.available,
            delegate_ids=list(self.delegate_ids),
            schemes=list(self.schemes) if avail.available else [],
            notes=self.notes,
        )


def _tagging(build: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    takes_options = len(inspect.signature(build).parameters) >= 3  # (self, scheme, options)

    @functools.wraps(build)
    def partitioners(
        self: Backend, scheme: str, options: Mapping[str, Any] | None = None
    ) -> list[Any]:
        from .._compat.patches import tag_partitioner

        resolved = self.resolve_options(options)
        built = build(self, scheme, resolved) if takes_options else build(self, scheme)
        for partitioner in built:
            tag_partitioner(partitioner, self.name)
        return built

    partitioners.tags_partitioners = True  # type: ignore[attr-defined]
    return partitioners
