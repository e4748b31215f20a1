"""The lowering engine: export once, lower per backend, observe every stage."""

from ..progress import Progress
from ._pipeline import lower, pte_filename
from ._preview import preview
from ._results import BackendResult, LoweringReport, Sizes
from ._triage import Failure

__all__ = [
    "BackendResult",
    "Failure",
    "LoweringReport",
    "Progress",
    "Sizes",
    "lower",
    "preview",
    "pte_filename",
]
