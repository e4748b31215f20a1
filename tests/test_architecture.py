"""The package's shape: no import cycles between its modules, no module over 400 lines.

The import graph
----------------
Nodes are the modules under `src/etworkbench` (a package is its `__init__`). Every `import`
statement counts, at module level or inside a function, class or `if TYPE_CHECKING:` block:
a lazy import only postpones a cycle, it does not remove it. An edge goes to the module an
import names:

* `import etworkbench.a.b` and `from etworkbench.a.b import Name`: to `etworkbench.a.b`;
* `from etworkbench.a import b` where `b` is a submodule of `a`: to `etworkbench.a.b`
  (`from etworkbench.a import Name` of anything else: to the package `etworkbench.a`);
* relative imports are resolved against the importing module's package first.

Python also runs the `__init__` of every enclosing package when it imports a submodule; that is
not an edge. So a package `__init__` may re-export names from its own submodules (the usual
public surface), and it joins a cycle only when one of the modules it reaches imports names
from the package itself (`from ..lowering import lower` inside something `lowering/__init__`
imports). Such an import must name the submodule instead (`from ..lowering._pipeline import ...`).

A cycle is a strongly connected component of more than one module; each is listed with the
import lines that close it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "etworkbench"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_package(modules: dict[str, Path], name: str) -> bool:
    return modules[name].name == "__init__.py"


def _resolve(modules: dict[str, Path], importer: str, node: ast.ImportFrom) -> str:
    """The absolute module a `from X import ...` names as X."""
    if not node.level:
        return node.module or ""
    package = importer if _is_package(modules, importer) else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: line of the first such import}, within the package."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, path in modules.items():
        edges = graph[name]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(modules, name, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                while target and target not in modules:  # `import a.b.Name`-like spellings
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith(PACKAGE):
                    edges.setdefault(target, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _describe(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    members = set(component)
    lines = [f"cycle of {len(component)} modules:"]
    for module in component:
        for target, line in sorted(graph[module].items()):
            if target in members:
                lines.append(f"  {module}:{line} imports {target}")
    return "\n".join(lines)


def test_graph_sees_relative_function_level_and_submodule_imports() -> None:
    graph = import_graph()
    # `from ._pipeline import lower` in lowering/__init__ (relative, module level)
    assert "etworkbench.lowering._pipeline" in graph["etworkbench.lowering"]
    # `from .. import errors`-style and absolute imports resolve to the submodule
    assert all(target.startswith(PACKAGE) for edges in graph.values() for target in edges)
    # the top-level package's lazy `from .ui import Workbench` is inside a function
    assert "etworkbench.ui" in graph["etworkbench"]


def test_cycle_finder_reports_a_cycle() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "\n\n".join(_describe(graph, component) for component in found)


def test_no_module_over_400_lines() -> None:
    long = {
        name: count
        for name, path in _modules().items()
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, "\n".join(
        f"{name}: {count} lines (split it; at most {MAX_LINES})"
        for name, count in sorted(long.items())
    )


# -- layers --------------------------------------------------------------------------------------
#
# docs/architecture.md, bottom up: a module may import its own layer and the layers below it,
# never one above. A module belongs to the longest declared name that is it or a package holding
# it ("" is the package's own `__init__`, the public surface); an undeclared module fails the
# test, so a new package has to be placed here.

LAYERS: list[tuple[str, ...]] = [
    ("_compat",),
    ("progress", "errors", "_io", "_stdout", "_forked"),  # leaves every layer may use
    ("models",),
    ("backends",),
    ("analysis",),  # placement, pte_file, _counts
    ("lowering",),
    ("runtime",),
    ("views",),
    ("comparison", "sweep", "conformance"),
    ("ui",),
    ("cli",),
    ("",),
]

# Imports that go up today, (importer, imported) -> why; any other upward import fails.
# Delete an entry when its import goes (a stale entry fails too, so the list stays true).
KNOWN_UPWARD: dict[tuple[str, str], str] = {
    # A cache hit proves itself by running (`runnability`): lowering uses runtime's host checks.
    ("etworkbench.lowering._cache_check", "etworkbench.runtime"): "runnability",
    # `BackendResult.run()`, the public shortcut for `runtime.run_program(result)`.
    ("etworkbench.lowering._results", "etworkbench.runtime"): "BackendResult.run",
    # `BackendResult.numerics()` (its body lives in `_etrecord`, beside the ETRecord it needs):
    # the shortcut for `runtime._numerics.numerics(result)`, like `run`.
    ("etworkbench.lowering._etrecord", "etworkbench.runtime._numerics"): "BackendResult.numerics",
    # `result.to_model_explorer(dir)` / `report.to_model_explorer(dir)`: shortcuts for
    # `views.model_explorer.write(...)`, beside `save` where users look for them.
    ("etworkbench.lowering._results", "etworkbench.views.model_explorer"): "to_model_explorer",
}


def layer_of(module: str) -> int:
    """The index in LAYERS of `module` (a dotted name inside the package)."""
    relative = module.removeprefix(PACKAGE).removeprefix(".")
    best: tuple[int, int] | None = None  # (length of the matching name, layer)
    for index, names in enumerate(LAYERS):
        for name in names:
            if name == "" and relative != "":
                continue
            if relative == name or relative.startswith(name + "."):
                if best is None or len(name) > best[0]:
                    best = (len(name), index)
    if best is None:
        raise AssertionError(f"{module}: in no layer; declare it in LAYERS")
    return best[1]


def upward_imports(graph: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    """(importer, imported) -> line, for every import of a module in a higher layer."""
    return {
        (module, target): line
        for module, edges in graph.items()
        for target, line in edges.items()
        if layer_of(target) > layer_of(module)
    }


def _where(module: str, line: int) -> str:
    return f"{_modules()[module].relative_to(ROOT.parent)}:{line}"


def test_layer_of_follows_the_declared_order() -> None:
    assert layer_of("etworkbench.analysis.placement") < layer_of("etworkbench.lowering._engine")
    assert layer_of("etworkbench.lowering") < layer_of("etworkbench.comparison")
    assert layer_of("etworkbench.views.tables") < layer_of("etworkbench.comparison")
    assert layer_of("etworkbench.sweep") == layer_of("etworkbench.conformance._run")
    assert layer_of("etworkbench.cli") < layer_of("etworkbench")
    assert upward_imports({"etworkbench.models": {"etworkbench.views": 3}}) == {
        ("etworkbench.models", "etworkbench.views"): 3
    }


def test_every_module_is_in_a_layer() -> None:
    for module in _modules():
        layer_of(module)


def test_no_module_imports_a_layer_above_its_own() -> None:
    found = upward_imports(import_graph())
    new = {edge: line for edge, line in found.items() if edge not in KNOWN_UPWARD}
    stale = sorted(set(KNOWN_UPWARD) - set(found))
    problems = [
        f"{_where(module, line)} imports {target} (a layer above {module})"
        for (module, target), line in sorted(new.items())
    ] + [f"KNOWN_UPWARD entry no longer found, delete it: {a} -> {b}" for a, b in stale]
    assert not problems, "\n".join(problems)


# -- BackendResult's private state ---------------------------------------------------------------
#
# The .pte bytes (held, or a cache hit's open file read on first use), the model and the stored
# answer are BackendResult's own: other modules use its methods (`attach_program`, `pte_data`,
# `model_spec`, `for_cache`, ...), never the fields, so the lazy read and what crosses a process
# or goes into the cache are decided in one place.

RESULTS_MODULE = Path(PACKAGE, "lowering", "_results.py")
PRIVATE_RESULT_FIELDS = frozenset({"_buffer", "_pte_data", "_pte_file", "_model_spec", "_answer"})
_BY_NAME = frozenset({"getattr", "setattr", "hasattr", "delattr"})

# Uses outside the files that own this refactor, (file, field) -> how many; any other fails.
KNOWN_PRIVATE_USES: dict[tuple[str, str], int] = {}


def private_result_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, field) for each use of a BackendResult private field on anything but `self`:
    `obj._field` read or written, `getattr(obj, "_field")`-style, and `_field=` keywords."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE_RESULT_FIELDS:
            if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in _BY_NAME and len(node.args) > 1:
                name = node.args[1]
                if isinstance(name, ast.Constant) and name.value in PRIVATE_RESULT_FIELDS:
                    found.append((node.lineno, name.value))
            found += [
                (k.value.lineno, k.arg) for k in node.keywords if k.arg in PRIVATE_RESULT_FIELDS
            ]
    return sorted(found)


def test_private_result_uses_sees_reads_writes_and_names() -> None:
    source = (
        "x = r._buffer\nr._answer = 1\nself._pte_data = 2\ngetattr(r, '_pte_file')\n"
        "BackendResult(_model_spec=s)\nr.buffer\n"
    )
    assert private_result_uses(ast.parse(source)) == [
        (1, "_buffer"),
        (2, "_answer"),
        (4, "_pte_file"),
        (5, "_model_spec"),
    ]


def test_only_results_touches_backend_result_private_fields() -> None:
    counts: dict[tuple[str, str], int] = {}
    where: dict[tuple[str, str], list[str]] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative == RESULTS_MODULE:
            continue
        for line, name in private_result_uses(ast.parse(path.read_text(), str(path))):
            key = (relative.as_posix(), name)
            counts[key] = counts.get(key, 0) + 1
            where.setdefault(key, []).append(f"src/{relative.as_posix()}:{line} uses .{name}")
    problems = [
        "\n".join(where[key])
        for key, count in sorted(counts.items())
        if count > KNOWN_PRIVATE_USES.get(key, 0)
    ] + [
        f"KNOWN_PRIVATE_USES {key}: {known} known, {counts.get(key, 0)} found; lower the entry"
        for key, known in sorted(KNOWN_PRIVATE_USES.items())
        if counts.get(key, 0) < known
    ]
    assert not problems, (
        "BackendResult's private fields are set and read only in lowering/_results.py; use its "
        "methods (attach_program, pte_data, model_spec, ...):\n" + "\n".join(problems)
    )
