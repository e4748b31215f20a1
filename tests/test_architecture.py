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
