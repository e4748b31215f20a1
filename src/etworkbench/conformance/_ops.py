"""The ops suite: executorch's own operator tests (backends/test/suite/operators), as cases.

Each test function is called with a recording stand-in for its `test_runner` fixture; every
`lower_and_run_model(model, inputs)` call becomes one case instead of a lowering. Parametrized
arguments (`dtype`, ...) take the first value of their `pytest.mark.parametrize` list, which is
what the suite's own `dtype_test` / `parameterize_by_dtype` wrappers use (float32).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from typing import Any

from ._cases import SEED, Case, Collection

PACKAGE = "executorch.backends.test.suite.operators"


class _Stop(Exception):
    """Raised by the recorder once the wanted call was seen, so a rebuild does no more work."""


class RecordingRunner:
    """Stands in for the suite's `TestRunner`: records (module, inputs) instead of running."""

    def __init__(self, stop_after: int | None = None) -> None:
        from executorch.backends.test.suite.flow import TestFlow

        self._flow = TestFlow("etwb-conformance", "etwb", tester_factory=None)
        self.calls: list[tuple[Any, tuple, dict]] = []
        self._stop_after = stop_after

    def lower_and_run_model(self, model, inputs, generate_random_test_inputs=True, **kwargs):
        self.calls.append((model, inputs, {}))
        if self._stop_after is not None and len(self.calls) > self._stop_after:
            raise _Stop


def _first_params(func: Any) -> dict[str, Any]:
    """First value of every `pytest.mark.parametrize` on `func`."""
    params: dict[str, Any] = {}
    for mark in getattr(func, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names, values = mark.args[0], list(mark.args[1])
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if not values:
            continue
        first = values[0]
        first = getattr(first, "values", first)  # pytest.param(...)
        if len(names) == 1:
            params[names[0]] = first[0] if hasattr(mark.args[1][0], "values") else first
        else:
            params.update(zip(names, first, strict=False))
    return params


def _call(func: Any, stop_after: int | None = None) -> RecordingRunner:
    import torch

    runner = RecordingRunner(stop_after)
    kwargs = _first_params(func)
    for name in inspect.signature(func).parameters:
        if name == "test_runner":
            kwargs[name] = runner
        elif name not in kwargs:
            raise TypeError(f"no value for parameter {name!r} (not a parametrize argument)")
    torch.manual_seed(SEED)
    try:
        func(**kwargs)
    except _Stop:
        pass
    return runner


def _test_functions(module: Any) -> list[tuple[str, Any]]:
    return [
        (name, obj)
        for name, obj in sorted(vars(module).items())
        if name.startswith("test") and inspect.isfunction(obj)
    ]


def _rebuild(module_name: str, func_name: str, index: int) -> tuple[Any, tuple, dict]:
    func = getattr(importlib.import_module(module_name), func_name)
    model, inputs, kwargs = _call(func, stop_after=index).calls[index]
    return model, inputs if isinstance(inputs, tuple) else (inputs,), kwargs


@functools.cache
def collect_ops() -> Collection:
    """Every recorded call of every operator test, in file and function order (cached: the
    cases only hold how to rebuild themselves)."""
    try:
        package = importlib.import_module(PACKAGE)
    except Exception as exc:  # executorch without its test suite
        return Collection("ops", [], {"operators": f"cannot import {PACKAGE}: {exc}"})
    cases: list[Case] = []
    problems: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("test_"):
            continue
        module_name = f"{PACKAGE}.{info.name}"
        stem = info.name.removeprefix("test_")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            problems[stem] = f"import failed: {type(exc).__name__}: {exc}"
            continue
        for func_name, func in _test_functions(module):
            try:
                calls = _call(func).calls
            except Exception as exc:
                problems[f"{stem}/{func_name}"] = f"{type(exc).__name__}: {exc}"
                continue
            for index in range(len(calls)):
                suffix = f"[{index}]" if len(calls) > 1 else ""
                cases.append(
                    Case(
                        "ops",
                        f"{stem}/{func_name}{suffix}",
                        lambda m=module_name, f=func_name, i=index: _rebuild(m, f, i),
                    )
                )
    return Collection("ops", cases, problems)
