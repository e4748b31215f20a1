"""The backend registry: one module per backend, one row per backend the ExecuTorch docs name."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError, choices_hint
from ._base import Availability, Backend, BackendInfo, Reasons, Scheme
from ._options import BackendOption, NormalizedOptions, normalize

# Order is the table order: the backends that lower here first, then those that cannot.
_MODULES = (
    "xnnpack",
    "coreml",
    "vulkan",
    "openvino",
    "ethosu",
    "tosa",
    "vgf",
    "qnn",
    "mediatek",
    "nxp",
    "samsung",
    "cadence",
    "mps",
    "portable",
)

_ALIASES = {
    "ethos-u": "ethosu",
    "ethos_u": "ethosu",
    "arm": "ethosu",
    "qualcomm": "qnn",
    "exynos": "samsung",
    "none": "portable",
    "cpu": "portable",
}

_loaded: dict[str, Backend] = {}


def _load(module_name: str) -> Backend:
    if module_name not in _loaded:
        module = importlib.import_module(f"{__name__}.{module_name}")
        classes = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, Backend)
            and obj.__module__ == module.__name__
        ]
        _loaded[module_name] = classes[0]()
    return _loaded[module_name]


def backend_names() -> list[str]:
    """Every backend's CLI name, in table order."""
    return [name for name in _MODULES if _module_exists(name)]


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(f"{__name__}.{name}") is not None


def get_backend(name: str) -> Backend:
    """The backend called `name` (case-insensitive, common aliases accepted)."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in backend_names():
        raise UsageError(choices_hint("backend", name, backend_names()))
    return _load(key)


def normalize_options(options: Any, backends: Sequence[str] | str) -> NormalizedOptions:
    """Backend compile options as `lower(..., options=...)` takes them (nested or flat mapping,
    strings or native values), checked against the chosen `backends`: the sorted non-default
    `(backend, key, value)` strings, or a `UsageError` naming the bad backend, key or value."""
    return normalize(options, backends, get_backend)


@dataclass(frozen=True)
class BackendFacts:
    """What a backend declares, known without probing (no SDK import): enough for the app's
    first paint, which must not wait seconds for every probe."""

    name: str
    title: str
    hardware: str
    schemes: tuple[str, ...]  # declared; a probe may find the backend cannot lower here
    options: tuple[BackendOption, ...] = ()  # declared compile options (plain data)


def backend_facts() -> list[BackendFacts]:
    """Every backend's static facts, in table order; imports only the workbench's own modules."""
    facts = []
    for name in backend_names():
        backend = _load(name)
        facts.append(
            BackendFacts(
                backend.name,
                backend.title,
                backend.hardware,
                tuple(backend.schemes),
                tuple(backend.options.values()),
            )
        )
    return facts


def backend_info(name: str) -> BackendInfo:
    """One backend's table row, probed here (may import its SDK: up to seconds)."""
    return get_backend(name).info()


def list_backends() -> list[BackendInfo]:
    """The full backend table, each row with availability and reason probed on this machine."""
    return [backend_info(name) for name in backend_names()]


__all__ = [
    "Availability",
    "Backend",
    "BackendFacts",
    "BackendInfo",
    "BackendOption",
    "Reasons",
    "Scheme",
    "backend_facts",
    "backend_info",
    "backend_names",
    "get_backend",
    "list_backends",
    "normalize_options",
]
