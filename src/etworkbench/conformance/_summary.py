"""Case records -> per (suite, backend) agreement rows and per-backend op tables.

Kept apart from the renderers: the HTML report, the markdown for docs/CONFORMANCE.md and the
summary JSON all read the same `ConformanceSummary`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Row:
    """Agreement of one suite on one backend."""

    suite: str
    backend: str
    cases: int = 0
    agree: int = 0
    agree_both_failed: int = 0  # of `agree`: both sides failed, in the same stage
    mismatch: int = 0
    error: int = 0
    plain_export_fails: int = 0
    pte_compared: int = 0
    pte_equal: int = 0
    both_failed_by_stage: dict[str, int] = field(default_factory=dict)
    errors_by_stage: dict[str, int] = field(default_factory=dict)  # workbench api / worker / build
    mismatch_by_kind: dict[str, int] = field(default_factory=dict)
    fallback_nodes: int = 0
    fallback_with_reason: int = 0
    fallback_generic_reason: int = 0
    fallback_without_reason: int = 0
    previews_equal: int = 0  # preview() placed like the plain lowering
    previews: int = 0
    runs: int = 0  # workbench programs run here against eager
    run_max_error: float | None = None

    @property
    def reason_coverage(self) -> float | None:
        if not self.fallback_nodes:
            return None
        return (self.fallback_nodes - self.fallback_without_reason) / self.fallback_nodes


@dataclass
class OpUse:
    """One op on one backend across the cases that lowered (plain side: executorch's answer)."""

    op: str
    delegated: int = 0
    fallback: int = 0
    cases: int = 0

    @property
    def verdict(self) -> str:
        if self.delegated and not self.fallback:
            return "taken"
        return "partly" if self.delegated else "not taken"


@dataclass
class ConformanceSummary:
    rows: list[Row]
    ops: dict[str, list[OpUse]]  # backend -> ops
    mismatches: list[dict]  # the mismatched records (case, backend, differences, op_diff)
    errors: list[dict]
    run: dict = field(default_factory=dict)  # what was run: suites, backends, limit, seconds

    def to_dict(self) -> dict:
        return {
            "run": self.run,
            "rows": [
                dataclasses.asdict(r) | {"reason_coverage": r.reason_coverage} for r in self.rows
            ],
            "ops": {
                b: [dataclasses.asdict(o) | {"verdict": o.verdict} for o in ops]
                for b, ops in self.ops.items()
            },
            "mismatches": self.mismatches,
            "errors": self.errors,
        }


def _brief(record: dict) -> dict:
    keys = ("suite", "case", "backend", "outcome", "differences", "op_diff", "note")
    brief = {k: record.get(k) for k in keys}
    for side in ("plain", "workbench"):
        s = record.get(side) or {}
        brief[side] = {
            k: s.get(k)
            for k in (
                "status",
                "stage",
                "message",
                "delegated",
                "non_delegated",
                "subgraphs",
                "pte_bytes",
            )
        }
    return brief


def summarize(records: list[dict], run: dict | None = None) -> ConformanceSummary:
    rows: dict[tuple[str, str], Row] = {}
    ops: dict[str, dict[str, OpUse]] = {}
    mismatches, errors = [], []
    for record in records:
        row = rows.setdefault(
            (record["suite"], record["backend"]), Row(record["suite"], record["backend"])
        )
        plain, work = record.get("plain") or {}, record.get("workbench") or {}
        row.cases += 1
        outcome = record["outcome"]
        setattr(row, outcome, getattr(row, outcome) + 1)
        if plain.get("stage") == "export":
            row.plain_export_fails += 1
        if outcome == "agree" and plain.get("status") == "failed":
            row.agree_both_failed += 1
            row.both_failed_by_stage[plain["stage"]] = (
                row.both_failed_by_stage.get(plain["stage"], 0) + 1
            )
        if outcome == "error":
            stage = work.get("stage") if work.get("status") == "error" else plain.get("stage")
            key = f"{'workbench ' if stage == 'api' else ''}{stage}"
            row.errors_by_stage[key] = row.errors_by_stage.get(key, 0) + 1
            errors.append(_brief(record))
        if outcome == "mismatch":
            kinds = Counter(d.split(":")[0].split(",")[0] for d in record["differences"])
            for kind in kinds:
                row.mismatch_by_kind[kind] = row.mismatch_by_kind.get(kind, 0) + 1
            mismatches.append(_brief(record))
        if record.get("pte_compared"):
            row.pte_compared += 1
            row.pte_equal += bool(record.get("pte_equal"))
        if work.get("status") == "ok":
            row.fallback_nodes += work.get("fallback_nodes", 0)
            row.fallback_with_reason += work.get("fallback_with_reason", 0)
            row.fallback_generic_reason += work.get("fallback_generic_reason", 0)
            row.fallback_without_reason += len(work.get("fallback_without_reason") or [])
        if work.get("preview") is not None and plain.get("status") == "ok":
            row.previews += 1
            row.previews_equal += work["preview"] == [plain["delegated"], plain["non_delegated"]]
        if work.get("run_error") is not None:
            row.runs += 1
            row.run_max_error = max(row.run_max_error or 0.0, work["run_error"])
        if plain.get("status") == "ok":
            table = ops.setdefault(record["backend"], {})
            for op, (delegated, fallback) in plain.get("ops", {}).items():
                use = table.setdefault(op, OpUse(op))
                use.delegated += delegated
                use.fallback += fallback
                use.cases += 1
    return ConformanceSummary(
        [rows[k] for k in sorted(rows)],
        {b: [t[o] for o in sorted(t)] for b, t in sorted(ops.items())},
        mismatches,
        errors,
        dict(run or {}),
    )
