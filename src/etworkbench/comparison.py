"""One model, several (backend, scheme) programs side by side: size, delegated share, speed, error.

Each program is lowered with the normal engine (and so the program cache) and, with
`run=True`, run on this host against the float eager model. Pairs that cannot be lowered or
run here stay in the table with their status and reason, so the comparison never silently
drops a row.

It sits above `views` (it lowers, runs and renders), beside `sweep`, which does the same for
many models.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import UsageError


@dataclass
class ComparisonRow:
    """One (backend, scheme[, float modules]) program. Run fields are None when it did not run."""

    backend: str
    scheme: str
    status: str  # lowering: ok | failed | unavailable | invalid
    run_status: str | None = None  # ok | failed | not runnable here | not run; None: run=False
    pte_bytes: int | None = None
    # Node counts and share as analysis.placement defines them (NodeCounts).
    delegated_share: float | None = None  # delegated / (delegated + cpu_kernel) nodes
    delegated_nodes: int | None = None
    cpu_kernel_nodes: int | None = None  # CPU fallback nodes that run a kernel
    structural_nodes: int | None = None  # getitems outside the delegates; no kernel
    latency_ms: float | None = None  # median
    latency_p90_ms: float | None = None
    max_abs_error: float | None = None
    mean_abs_error: float | None = None
    top1: float | None = None  # top-1 agreement with float eager (classifiers)
    top5: float | None = None
    peak_memory_bytes: int | None = None
    reason: str = ""  # why a row has no numbers
    float_modules: tuple[str, ...] = ()  # kept in float in a quantized program (mixed)

    @property
    def variant(self) -> str:
        """The scheme as a table or chart labels it: "int8", or "int8 + float block" (mixed)."""
        kept = ",".join(self.float_modules)
        return f"{self.scheme} + float {kept}" if kept else self.scheme


@dataclass
class Comparison:
    """The rows of one `compare()` call, plus the lowering results behind them."""

    model: str
    inputs: str
    rows: list[ComparisonRow]
    results: list[Any] = field(default_factory=list, repr=False)  # BackendResult per row or None

    def to_dicts(self) -> list[dict[str, Any]]:
        return [asdict(row) for row in self.rows]

    def to_dataframe(self) -> Any:
        """A pandas DataFrame, one row per (backend, scheme)."""
        import pandas as pd

        return pd.DataFrame(self.to_dicts())

    def summary(self) -> str:
        """The rows as a text table, with what the node counts mean (`views.compare_table`)."""
        from .views.compare_table import comparison_text

        return comparison_text(self)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython
        printer.text(self.summary())


def default_pairs() -> list[tuple[str, str]]:
    """Every scheme of every backend that can lower here (can be many lowerings)."""
    from .backends import backend_names, get_backend

    pairs = []
    for name in backend_names():
        backend = get_backend(name)
        if backend.lowers_here and backend.availability.available:
            pairs += [(name, key) for key, s in backend.schemes.items() if s.lowers_here]
    return pairs


def runnable_pairs() -> list[tuple[str, str]]:
    """The pairs of `default_pairs()` whose programs this host's runtime can execute.

    Decided before lowering: the backend runs on the host and the installed runtime has one
    of its delegate ids registered (a delegate-free backend such as portable always can).
    """
    from .backends import get_backend
    from .runtime import registered_backends

    registered = set(registered_backends())
    pairs = []
    for name, scheme in default_pairs():
        backend = get_backend(name)
        ids = set(backend.delegate_ids)
        if backend.runs_on_host and (not ids or ids & registered):
            pairs.append((name, scheme))
    return pairs


def compare(
    model: Any,
    pairs: Iterable[tuple[str, str | None] | tuple[str, str | None, Sequence[str]]] | None = None,
    *,
    run: bool = True,
    example_inputs: tuple | None = None,
    repeats: int = 20,
    random_inputs: int = 4,
    cache: bool = True,
    progress: Any = None,
) -> Comparison:
    """Lower (and with `run=True` run) `model` for each (backend, scheme) pair.

    `backend` may be a priority list written "vulkan+xnnpack"; `scheme=None` means that
    backend's default. A pair may carry a third item, the modules to keep in float
    (`lower(float_modules=...)`): `("xnnpack", "int8", ["features.18"])` is a mixed program,
    its own row beside ("xnnpack", "int8") (see `keep_float_tradeoff`); an entry the model or
    scheme cannot take makes that row "invalid" with the reason. Pairs sharing a scheme are
    lowered in one call, so the float model is exported once per scheme.
    """
    from .lowering import lower
    from .lowering._keep_float import normalize_float_modules
    from .models import load_model

    spec = load_model(model, example_inputs)
    wanted = [
        (p[0], p[1], normalize_float_modules(p[2] if len(p) > 2 else None))
        for p in (pairs if pairs is not None else default_pairs())
    ]
    if not wanted:
        raise UsageError("no (backend, scheme) pairs to compare")
    results: list[Any] = [None] * len(wanted)
    rows: list[ComparisonRow | None] = [None] * len(wanted)

    groups: dict[tuple[str | None, bool, tuple[str, ...]], list[int]] = {}
    for index, (backend, scheme, keep) in enumerate(wanted):
        problem = _invalid(backend, scheme)
        if problem:
            rows[index] = ComparisonRow(
                backend, scheme or "", "invalid", reason=problem, float_modules=keep
            )
            continue
        groups.setdefault((scheme, "+" in backend, keep), []).append(index)

    for (scheme, priority, keep), indices in groups.items():
        batches = [[i] for i in indices] if priority else [indices]
        for batch in batches:
            names = [wanted[i][0] for i in batch]
            backends: Sequence[str] = names[0].split("+") if priority else names
            try:
                report = lower(
                    spec,
                    backends,
                    scheme,
                    priority=priority,
                    cache=cache,
                    progress=progress,
                    float_modules=keep or None,
                )
            except UsageError as exc:
                if not keep:
                    raise
                for i in batch:  # a bad keep-float entry: that variant's rows say why
                    rows[i] = ComparisonRow(
                        names[0], scheme or "", "invalid", reason=str(exc), float_modules=keep
                    )
                continue
            for i, result in zip(batch, _match(report, names), strict=True):
                results[i] = result
                if run:
                    result.run(repeats=repeats, random_inputs=random_inputs)
                rows[i] = row_of(result, run)
    return Comparison(spec.name, spec.describe_inputs(), rows, results)


def keep_float_tradeoff(
    model: Any,
    float_modules: Sequence[str] | str,
    backend: str = "xnnpack",
    scheme: str = "int8",
    **kwargs: Any,
) -> Comparison:
    """Float, full `scheme` and `scheme` with `float_modules` kept in float, side by side:
    what leaving those modules float buys back (error) and costs (size, latency)."""
    from .lowering._keep_float import normalize_float_modules

    keep = normalize_float_modules(float_modules)
    if not keep:
        raise UsageError("keep_float_tradeoff needs at least one module to keep in float")
    pairs = [(backend, "fp32"), (backend, scheme), (backend, scheme, keep)]
    return compare(model, pairs, **kwargs)


def _invalid(backend: str, scheme: str | None) -> str:
    """Why a pair cannot be lowered at all (bad names), or ''. Unavailable is not invalid."""
    from .backends import get_backend

    try:
        parts = [get_backend(name) for name in backend.split("+")]
    except UsageError as exc:
        return str(exc)
    lead = parts[0]
    if scheme is not None and lead.availability.available and scheme not in lead.schemes:
        return f"{lead.title} has no scheme {scheme!r}; it has {', '.join(lead.schemes)}"
    return ""


def _match(report: Any, names: list[str]) -> list[Any]:
    """Results in the order of `names` (the engine resolves aliases and drops duplicates)."""
    from .backends import get_backend

    by_name = {r.backend: r for r in report.results}
    out = []
    for name in names:
        key = "+".join(dict.fromkeys(get_backend(part).name for part in name.split("+")))
        out.append(by_name[key])
    return out


def row_of(result: Any, ran: bool = True) -> ComparisonRow:
    """A table row from a `BackendResult` (and its `run_report`, if it ran)."""
    row = ComparisonRow(
        backend=result.backend,
        scheme=result.scheme,
        status=result.status,
        pte_bytes=result.pte_bytes,
        float_modules=tuple(result.float_modules),
    )
    if result.placement is not None:
        counts = result.placement.counts
        row.delegated_share = counts.share
        row.delegated_nodes = counts.delegated
        row.cpu_kernel_nodes = counts.cpu_kernels
        row.structural_nodes = counts.structural
    if not result.ok:
        row.reason = result.reason or (result.error.one_line if result.error else "")
    run = result.run_report
    if ran and run is not None:
        row.run_status = run.status
        if run.ok:
            row.latency_ms = run.latency_ms.median
            row.latency_p90_ms = run.latency_ms.p90
            row.max_abs_error = run.error.max_abs
            row.mean_abs_error = run.error.mean_abs
            row.top1 = run.error.top1_agreement
            row.top5 = run.error.top5_agreement
            row.peak_memory_bytes = run.peak_memory_bytes
        elif result.ok:
            row.reason = run.failure.one_line if run.failure else run.reason
    return row
