"""What each side of a comparison produced, and the record of one (case, target) pair."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

# The stages both sides are compared in (the workbench's finer stages map onto these).
STAGES = ("build", "export", "quantize", "to_edge+partition", "preprocess", "to_executorch")
WORKBENCH_STAGE = {"to_edge": "to_edge+partition", "partition": "to_edge+partition"}
GENERIC_REASON = "no reason given"


@dataclass
class Side:
    """What one side produced: counts, or the stage it failed in."""

    status: str  # ok | failed (a lowering stage raised) | error (the API itself raised)
    stage: str | None = None
    message: str | None = None
    delegated: int | None = None
    non_delegated: int | None = None
    subgraphs: int | None = None
    delegate_calls: int | None = None  # executorch_call_delegate nodes (plain side)
    ops: dict[str, list[int]] = field(default_factory=dict)  # op -> [delegated, non-delegated]
    pte_bytes: int | None = None
    pte_sha256: str | None = None
    seconds: float = 0.0
    cached: bool = False
    fallback_nodes: int = 0  # workbench only: reason coverage of its fallback nodes
    fallback_with_reason: int = 0
    fallback_generic_reason: int = 0  # "no reason given by <backend>"
    fallback_without_reason: list[str] = field(default_factory=list)  # node names
    preview: list[int] | None = None  # workbench only: [delegated, non-delegated] of preview()
    preview_error: str | None = None
    run_error: float | None = None  # workbench only: max abs error of the .pte vs eager
    run_note: str | None = None  # why it was not run here


@dataclass
class CaseResult:
    suite: str
    case: str
    backend: str
    scheme: str
    outcome: str  # agree | mismatch | error
    differences: list[str] = field(default_factory=list)
    op_diff: list[dict] = field(default_factory=list)  # {op, plain: [d, n], workbench: [d, n]}
    pte_compared: bool = False
    pte_equal: bool | None = None
    plain: Side | None = None
    workbench: Side | None = None
    note: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def record_failed_lowering(side: Any, result: Any) -> None:
    """A workbench result that did not lower, on `side` (a `Side` or any record with status,
    stage and message): its stage named as the plain side names it, or "unavailable"."""
    side.status = "failed"
    if result.error is not None:
        side.stage = WORKBENCH_STAGE.get(result.error.stage, result.error.stage)
        side.message = f"{result.error.type}: {result.error.message.strip()[:400]}"
    else:
        side.stage, side.message = "unavailable", result.reason


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:400] if text else ''}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
