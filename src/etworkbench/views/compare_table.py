"""`compare()`'s rows as a text table: one line per (backend, scheme), and the count legend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._io import human_bytes
from ..analysis.placement import CPU_KERNEL, KIND_LABELS, SHARE_DEFINITION, STRUCTURAL, share_text
from .tables import text_table

HEADERS = [
    "backend",
    "scheme",
    "status",
    "size",
    "delegated share",
    "nodes deleg/CPU/struct",
    "ms",
    "max err",
    "top-1",
]


def comparison_text(comparison: Any) -> str:
    """An `etworkbench.comparison.Comparison` as text: model, table, what the node counts mean."""
    body = []
    for r in comparison.rows:
        status = r.status if r.status != "ok" or r.run_status in (None, "ok") else r.run_status
        body.append(
            [
                r.backend,
                getattr(r, "variant", r.scheme),  # "int8 + float block": a mixed program
                status + (f": {r.reason}" if r.reason else ""),
                _fmt(r.pte_bytes, human_bytes),
                share_text(r.delegated_share) if r.delegated_nodes is not None else "",
                ""
                if r.delegated_nodes is None
                else f"{r.delegated_nodes}/{r.cpu_kernel_nodes}/{r.structural_nodes}",
                _fmt(r.latency_ms, lambda v: f"{v:.3f}"),
                _fmt(r.max_abs_error, lambda v: f"{v:.2e}"),
                _fmt(r.top1, lambda v: f"{v:.0%}"),
            ]
        )
    legend = (
        f"nodes: delegated / {KIND_LABELS[CPU_KERNEL]} / {KIND_LABELS[STRUCTURAL]}; "
        f"{SHARE_DEFINITION}"
    )
    title = f"{comparison.model} ({comparison.inputs})"
    return title + "\n" + text_table(HEADERS, body) + "\n" + legend


def _fmt(value: Any, how: Callable[[Any], str]) -> str:
    return "" if value is None else how(value)
