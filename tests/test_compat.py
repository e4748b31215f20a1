"""Private torch / executorch / coremltools / openvino names live in `etworkbench._compat` only.

The rule, checked on the AST of every module under src/etworkbench outside `_compat`:

1. no import of a module path of those libraries with an `_`-prefixed segment
   (`torch.utils._pytree`, `executorch.exir._serialize._program`), and no such dotted path as
   a string (`"executorch.exir._serialize._program"` handed to an importer);
2. no `from <library module> import _name`;
3. no `x._attr` (dunders aside) where `x` is a name bound by an import from those libraries,
   through attributes, calls and subscripts (`torch.utils._pytree.tree_leaves`,
   `cp._OperatorsSupportedForCoreMLBackend`, `OperatorSupport([])._support_dict`), and no
   `_keyword=` in a call of such a name (`EdgeCompileConfig(_skip_dim_order=False)`);
   operator namespaces are not private API (`torch.ops.aten._to_copy` is an op's name);
4. no `._attr` / `getattr(x, "_attr")` with a name from `KNOWN_PRIVATE`, whatever `x` is: the
   private attributes of library objects the workbench is known to touch (`tensor._version`,
   `manager._edge_programs`, `config._core_aten_ops_exception_list`, `overload._schema`).

A private attribute of the workbench's own objects (`result._answer`) is fine.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "etworkbench"
LIBRARIES = frozenset({"torch", "executorch", "coremltools", "openvino"})
KNOWN_PRIVATE = frozenset(
    {
        "_version",
        "_edge_programs",
        "_core_aten_ops_exception_list",
        "_check_ir_validity",
        "_skip_dim_order",
        "_support_dict",
        "_schema",
        "_overloadname",
        "_op",
        "_OperatorsSupportedForCoreMLBackend",
        "_rejected_nodes",
        "_pytree",
        "_serialize",
        "_passes",
    }
)
_MODULE_PATH = re.compile(r"(" + "|".join(sorted(LIBRARIES)) + r")(\.\w+)+")

# Uses in modules owned elsewhere, each marked "to move into _compat"; empty now.
ALLOWED: set[tuple[str, str]] = set()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _library(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in LIBRARIES


def _root(node: ast.AST) -> tuple[ast.AST, list[str]]:
    """The name an expression starts from, and the attribute names passed on the way."""
    passed: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            passed.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return node, passed[::-1]


def private_uses(source: str) -> set[str]:
    """The private library names `source` uses, by the rule in the module docstring."""
    tree = ast.parse(source)
    bound: set[str] = set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _library(alias.name):
                    bound.add(alias.asname or alias.name.split(".")[0])
                    if any(_private(part) for part in alias.name.split(".")):
                        found.add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _library(node.module):
            if any(_private(part) for part in node.module.split(".")):
                found.add(node.module)
            for alias in node.names:
                bound.add(alias.asname or alias.name)
                if _private(alias.name):
                    found.add(f"{node.module}.{alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if _MODULE_PATH.fullmatch(text) and any(_private(p) for p in text.split(".")):
                found.add(text)
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            root, passed = _root(node)
            from_library = isinstance(root, ast.Name) and root.id in bound
            if from_library and "ops" not in passed[:-1]:
                found.add(ast.unparse(node))
            elif node.attr in KNOWN_PRIVATE:
                found.add("." + node.attr)
        elif isinstance(node, ast.Call):
            func = node.func
            root, _ = _root(func)
            if isinstance(root, ast.Name) and root.id in bound:
                for keyword in node.keywords:
                    if keyword.arg and _private(keyword.arg):
                        found.add(f"{ast.unparse(func)}({keyword.arg}=)")
            if (
                isinstance(func, ast.Name)
                and func.id in ("getattr", "hasattr", "setattr", "delattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in KNOWN_PRIVATE
            ):
                found.add("." + node.args[1].value)
    return found


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "_compat" not in p.relative_to(SRC).parts)


def test_the_rule_catches_each_kind_of_use():
    source = """
import torch
from torch.utils import _pytree as pytree
from executorch.exir._serialize._program import deserialize_pte_binary
from executorch.backends.apple.coreml.partition import coreml_partitioner as cp
from executorch.exir import EdgeCompileConfig
from openvino.frontend.pytorch.torchdynamo.op_support import OperatorSupport

torch.utils._pytree.tree_leaves(x)
cp._OperatorsSupportedForCoreMLBackend
OperatorSupport([])._support_dict
value._version
getattr(target, "_schema", None)
EdgeCompileConfig(_skip_dim_order=False)
preload = "executorch.exir._serialize._program"
torch.ops.aten._to_copy.default  # an operator's name, not private API
result._answer  # the workbench's own object
os._exit(0)  # not one of the libraries
"""
    assert private_uses(source) == {
        "torch.utils._pytree",
        "executorch.exir._serialize._program",
        "cp._OperatorsSupportedForCoreMLBackend",
        "OperatorSupport([])._support_dict",
        "._version",
        "._schema",
        "EdgeCompileConfig(_skip_dim_order=)",
    }


def test_private_library_names_only_in_compat():
    uses = {
        (path.relative_to(SRC).as_posix(), name)
        for path in _modules()
        for name in private_uses(path.read_text(encoding="utf-8"))
    }
    outside = sorted(uses - ALLOWED)
    assert not outside, (
        "private torch/executorch/coremltools/openvino names outside etworkbench._compat "
        f"(add a small named function there instead): {outside}"
    )
    moved = sorted(ALLOWED - uses)
    assert not moved, f"no longer used there: remove from ALLOWED in {__file__}: {moved}"


@pytest.mark.parametrize("path", sorted((SRC / "_compat").glob("*.py")), ids=lambda p: p.name)
def test_compat_imports_nothing_of_the_workbench_but_errors(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            outside = node.level >= 2 or (node.module or "").startswith("etworkbench")
            if outside:
                module = (node.module or "").removeprefix("etworkbench.")
                assert module == "errors", f"{path.name} imports {node.module} (level {node.level})"


def test_other_library_versions_switch_the_internals_off_with_one_warning(monkeypatch):
    import threading
    import warnings

    import etworkbench._compat as compat

    monkeypatch.delenv(compat.PUBLIC_ONLY_ENV, raising=False)
    assert compat.internals_supported()  # the versions installed here are the ones written for
    monkeypatch.setattr(compat, "_warned", threading.Event())
    monkeypatch.setattr(
        compat, "installed_versions", lambda: {"executorch": "1.6.0", "torch": "2.15.0+cpu"}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not compat.internals_supported()
        assert not compat.internals_supported()
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "executorch 1.5.1" in message and "torch 2.14" in message
    assert "executorch 1.6.0" in message and "torch 2.15.0+cpu" in message
