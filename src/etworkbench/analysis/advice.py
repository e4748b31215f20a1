"""Advice: a partitioner's terse reason turned into what to change, from the node's own facts.

XNNPACK says "invalid dtype"; the node's metadata says it is an unsqueeze of an int64 tensor.
Advice puts the two together ("XNNPACK takes float32 or float16 here; this unsqueeze_copy reads
int64 ...") and keeps the partitioner's words beside it ("XNNPACK said: invalid dtype").
`NodePlacement.reason` stays exactly the partitioner's words (conformance compares them and the
cache stores them); the advice is `NodePlacement.advice`, text only: no count depends on it.

Each backend has one rule table (`advice_rules`): a rule is a reason pattern and a small
function of (node facts, match) -> text or None. Rules only state what the node's metadata
shows and what the backend's own check requires (read from its partitioner configs); the
first rule whose pattern matches and that returns text wins. A node without a matching rule
keeps `advice=None` and every view shows its reason as before.
"""

from __future__ import annotations

import logging
from typing import Any

from .advice_facts import NodeFacts, facts_of
from .advice_rules import RULES

log = logging.getLogger(__name__)


def advise(backend: str, reason: str, facts: NodeFacts) -> str | None:
    """The first matching rule's text for one backend's reason, else None."""
    for candidate in RULES.get(backend, ()):
        match = candidate.pattern.search(reason)
        if match is None:
            continue
        text = candidate.advise(facts, match)
        if text:
            return text
    return None


def node_advice(
    node: Any, per_backend: list[tuple[Any, list[str], bool]], row: Any = None
) -> str | None:
    """One node's advice over the backends of its program, each with its original words."""
    facts = facts_of(node, getattr(row, "module_path", ""), getattr(row, "source_op", ""))
    parts = []
    for backend, own, derived in per_backend:  # one advice per backend: its first with a rule
        advice = next((a for text in own if (a := advise(backend.name, text, facts))), None)
        if advice:
            said = "support table" if derived else "said"
            parts.append(f"{advice} ({backend.title} {said}: {'; '.join(own)})")
    return " | ".join(parts) or None


def attach_advice(
    placement: Any, graph_module: Any, group: list[Any], reasons: Any, excluded: Any = None
) -> None:
    """Set `advice` on every CPU fallback node of `placement` a rule has words for. Best effort:
    a rule that fails leaves that node's advice None and never fails the lowering."""
    rows = {row.name: row for row in placement.nodes if row.kind == "cpu_kernel"}
    for node in graph_module.graph.nodes:
        row = rows.get(node.name)
        if row is None or node.op != "call_function" or (excluded and node.name in excluded):
            continue
        try:
            row.advice = node_advice(node, reasons.per_backend(node, group), row)
        except Exception:  # advice is text; a surprise in one rule must not cost the result
            log.debug("no advice for %s", node.name, exc_info=True)
