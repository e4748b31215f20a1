"""Conformance corpus: the workbench's answers checked against the plain executorch API.

Cases come from executorch's own operator test suite, torchvision / timm / transformers models
and hand-written tricky models; each (case, backend) compares delegated / non-delegated node
counts, per-op counts, delegate subgraphs, .pte bytes (deterministic backends) and failure
stages. `etwb conformance` runs it resumably into a directory of per-case JSON files;
`--dynamic-batch` runs each case with its batch dim dynamic instead (`_dynamic_batch`).
"""

from ._cases import Case, Collection
from ._collect import collect
from ._compare import compare_case
from ._run import Plan, make_plan, run_conformance
from ._sides import CaseResult, Side
from ._summary import ConformanceSummary, summarize

__all__ = [
    "Case",
    "CaseResult",
    "Collection",
    "ConformanceSummary",
    "Plan",
    "Side",
    "collect",
    "compare_case",
    "make_plan",
    "run_conformance",
    "summarize",
]
