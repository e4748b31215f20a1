"""What a sweep says across models: coverage matrix, blocking ops, delegated share. Data only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class SweepSummary:
    cells: int
    ok: int
    # (model, backend) -> delegated share of call_function nodes (0..1)
    delegated_share: dict[tuple[str, str], float] = field(default_factory=dict)
    # (op target, backend) -> [delegated, fallback] summed over models
    coverage: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    # backend -> [(op target, fallback count, models it blocked in)] most frequent first
    blocking: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)


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
        total = (record["delegated_nodes"] or 0) + (record["fallback_nodes"] or 0)
        summary.delegated_share[(model, backend)] = (
            (record["delegated_nodes"] / total) if total else 0.0
        )
        for row in record["ops"]:
            cell = summary.coverage.setdefault((row["target"], backend), [0, 0])
            cell[0] += row["delegated"]
            cell[1] += row["fallback"]
        for reason in record["fallback_reasons"]:
            if (reason.get("reason") or "").startswith("structural"):
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
