"""Coverage rows keyed by the op of the user's exported program, each backend's own ops as detail.

Backends decompose differently: Core ML keeps `aten.conv2d.default` where XNNPACK lowers
`aten.convolution.default`. Rows keyed by each backend's own targets would split one model op
over two rows, each "not applicable" to the other backend. So a row is `NodePlacement.source_op`
(the op of the exported program a node came from; its own target when no provenance was
recorded), and what each backend made of it is detail: `backend_ops`, on hover and in the CSV.
Structural getitems (outside the delegates) keep their "getitem" row (`row_op`).
Every node is in exactly one row, so summed over rows every count is the placement's
(`NodePlacement.kind`, `NodeCounts`, from analysis.placement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..analysis.placement import CPU_KERNEL, DELEGATED, STRUCTURAL, NodeCounts, NodePlacement
from .coverage_counts import backend_columns, iter_results

# Short words for the kinds inside one detail line (the full labels are KIND_LABELS).
_DETAIL_WORDS = ((DELEGATED, "delegated"), (CPU_KERNEL, "CPU fallback"), (STRUCTURAL, "structural"))


def row_op(node: NodePlacement) -> str:
    """The row a node counts in: its exported-program op, else its own target.

    Structural getitems keep their own row ("getitem"), as before: they run no kernel and stand
    for no model op (a lowered one's provenance names the op whose output crosses the delegate
    boundary, which differs by backend; a preview's has none)."""
    if node.kind == STRUCTURAL:
        return node.target
    return node.source_op or node.target  # "" in results placed before source ops existed


def grouped_nodes(results: Any, structural: bool = True) -> dict[tuple[str, str], list[Any]]:
    """(row op, backend) -> that backend's nodes from the row's op, over every placed result
    (models summed), in graph order; `structural=False` leaves the structural getitems out."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for result in iter_results(results):
        if result.placement is None:
            continue
        for node in result.placement.nodes:
            if structural or node.kind != STRUCTURAL:
                groups.setdefault((row_op(node), result.backend), []).append(node)
    return groups


def _by_kind(counts: NodeCounts) -> dict[str, int]:
    return {
        DELEGATED: counts.delegated,
        CPU_KERNEL: counts.cpu_kernels,
        STRUCTURAL: counts.structural,
    }


def backend_ops(nodes: list[Any]) -> str:
    """A backend's own ops for one row, most nodes first, with the count of each kind:
    'aten.convolution.default x2 delegated; aten.relu.default x1 delegated + x1 CPU fallback'.
    No commas, so a CSV cell stays one field even for naive splitting."""
    by_target: dict[str, list[Any]] = {}
    for node in nodes:
        by_target.setdefault(node.target, []).append(node)
    parts = []
    for target, members in sorted(by_target.items(), key=lambda item: -len(item[1])):
        values = _by_kind(NodeCounts.of(members))
        kinds = [f"x{values[kind]} {word}" for kind, word in _DETAIL_WORDS if values[kind]]
        parts.append(f"{target} {' + '.join(kinds)}")
    return "; ".join(parts)


@dataclass
class CoverageCell:
    op: str  # the row: the exported program's op, e.g. aten.conv2d.default
    backend: str
    delegated: int
    fallback: int  # CPU fallback nodes (run a kernel); structural nodes are not cells
    backend_ops: str = ""  # what this backend ran for the row (`backend_ops`)

    @property
    def state(self) -> str:
        if self.delegated and self.fallback:
            return "partly"
        if self.delegated:
            return "delegated"
        if self.fallback:
            return "fallback"
        return "not applicable"


def coverage_rows(results: Any) -> list[CoverageCell]:
    """One cell per (row op, placed backend), rows sorted; structural getitems are left out."""
    groups = grouped_nodes(results, structural=False)
    placed = [r.backend for r in iter_results(results) if r.placement is not None]
    cells = []
    for op in sorted({op for op, _ in groups}):
        for backend in dict.fromkeys(placed):
            nodes = groups.get((op, backend), [])
            counts = NodeCounts.of(nodes)
            cells.append(
                CoverageCell(op, backend, counts.delegated, counts.cpu_kernels, backend_ops(nodes))
            )
    return cells


def coverage_matrix(results: Any, structural: bool = True, groups: dict | None = None):
    """Row op x backend DataFrame of node counts, summed over models.

    Rows are the exported program's ops (see the module doc). Columns (backend, placement) with
    placement "delegated", "cpu_kernel" (CPU fallback: runs a kernel) and, with
    `structural=True`, "structural" (getitems outside the delegates). A backend without a
    placement (failed / unavailable) keeps its columns, all zero. Sorted by op; with
    structural=True the matrix sums to every placed node. `groups`: `grouped_nodes(results,
    structural)` when the caller has it already.
    """
    import pandas as pd

    kinds = [DELEGATED, CPU_KERNEL] + ([STRUCTURAL] if structural else [])
    if groups is None:
        groups = grouped_nodes(results, structural)
    columns = pd.MultiIndex.from_product(
        [backend_columns(results), kinds], names=["backend", "placement"]
    )
    index = pd.Index(sorted({op for op, _ in groups}), name="op")
    frame = pd.DataFrame(0, index=index, columns=columns, dtype=int)
    for (op, backend), nodes in groups.items():
        values = _by_kind(NodeCounts.of(nodes))
        for kind in kinds:
            frame.loc[op, (backend, kind)] = values[kind]
    return frame
