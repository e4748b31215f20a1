"""etworkbench: see what each ExecuTorch backend takes from your model, what falls back and why.

    from etworkbench import lower
    report = lower("mobilenet_v2", ["xnnpack", "coreml"])
    print(report.summary())
    report["xnnpack"].save("mv2_xnnpack.pte")

The notebook app is `etworkbench.Workbench()`; the CLI is `etwb`.
"""

from __future__ import annotations

import logging as _logging

from ._compat import PYTREE_LOGGER as _PYTREE_LOGGER

# torch warns once per process that torchao registers an Enum with pytree (a deprecation that is
# theirs, not the user's); it would otherwise be the first thing every notebook cell shows.
_logging.getLogger(_PYTREE_LOGGER).setLevel(_logging.ERROR)

from .analysis.memory_plan import MemoryPlan, memory_plan
from .analysis.pte_file import PteReport, inspect_pte
from .backends import get_backend, list_backends
from .comparison import Comparison, compare
from .errors import PteFormatError, UsageError, WorkbenchError
from .lowering import BackendResult, Failure, LoweringReport, lower, preview
from .models import ModelSpec, list_models, load_model
from .progress import Progress

__version__ = "0.1.0"

__all__ = [
    "BackendResult",
    "Comparison",
    "Failure",
    "LoweringReport",
    "MemoryPlan",
    "ModelSpec",
    "PteFormatError",
    "Progress",
    "PteReport",
    "UsageError",
    "WorkbenchError",
    "Workbench",
    "compare",
    "get_backend",
    "inspect_pte",
    "list_backends",
    "list_models",
    "load_model",
    "lower",
    "memory_plan",
    "preview",
]


def __getattr__(name: str):
    # The UI pulls in ipywidgets; import it only when asked for.
    if name == "Workbench":
        from .ui import Workbench

        return Workbench
    raise AttributeError(name)
