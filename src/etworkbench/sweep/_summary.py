"""What a sweep says across models: coverage matrix, blocking ops, delegated share. Data only.

Counts are analysis.placement's (`NodeCounts`), read back from each cell's JSON record.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ..analysis.placement import NodeCounts


@dataclass
class SweepSummary:
    cells: int
    ok: int
    # (model, backend) -> delegated / (delegated + CPU fallback) nodes; None: no kernel nodes
    delegated_share: dict[tuple[str, str], float | None] = field(default_factory=dict)
    # (model, backend) -> delegated / CPU fallback / structural node counts
    counts: dict[tuple[str, str], NodeCounts] = field(default_factory=dict)
    # (op target, backend) -> [delegated, CPU fallback (runs a kernel), structural] over models
    coverage: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    # backend -> [(op target, CPU fallback count, models it blocked in)] most frequent first
    blocking: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)


def _structural(row: dict) -> int:
    """The structural part of an op row; rows written before it was stored: top-level
    getitems (the only non-delegated getitems) are all structural."""
    if "structural" in row:
        return row["structural"]
    return row["fallback"] if row.get("target") == "getitem" else 0


def summarize(records: list[dict]) -> SweepSummary:
    summary = SweepSummary(cells=len(records), ok=sum(r["status"] == "ok" for r in records))
    blocked: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [0, set()]))
    for record in records:
        backend, model = record["backend"], record["model"]
        if record["status"] != "ok":
            error = record.get("error") or {}
            summary.failures.append(
                {
                    "model": model,
                    "backend": backend,
                    "status": record["status"],
                    "why": error.get("message") or record.get("reason") or "",
                }
            )
            continue
        counts = NodeCounts.from_dict(record)
        summary.counts[(model, backend)] = counts
        summary.delegated_share[(model, backend)] = counts.share
        for row in record["ops"]:
            cell = summary.coverage.setdefault((row["target"], backend), [0, 0, 0])
            structural = _structural(row)
            cell[0] += row["delegated"]
            cell[1] += row["fallback"] - structural
            cell[2] += structural
        for reason in record["fallback_reasons"]:
            if reason.get("structural") or (reason.get("reason") or "").startswith("structural"):
                continue
            entry = blocked[backend][reason["op"]]
            entry[0] += 1
            entry[1].add(model)
    for backend, ops in blocked.items():
        ranked = sorted(
            ((op, n, len(models)) for op, (n, models) in ops.items()), key=lambda t: (-t[1], t[0])
        )
        summary.blocking[backend] = ranked
    return summary
