"""Draw docs/architecture.svg: the packages of src/etworkbench and the imports between them.

Read off the code by the same AST walk as tests/test_architecture.py, so the picture cannot
drift from the layering the test enforces. Rows are the declared layers, the public surface on top and arrows (imports) pointing down; a red edge
is an import that goes up a layer (the test's KNOWN_UPWARD list). Imports of the bottom two rows
(`_compat` and the leaves) are left out: every layer may use them. Needs graphviz's `dot`.

    .venv/bin/python scripts/architecture_graph.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_architecture import LAYERS, import_graph, layer_of  # noqa: E402


def package_of(module: str) -> str:
    """The declared layer name that holds `module` (e.g. `lowering`, `_compat`, `progress`)."""
    name = module.removeprefix("etworkbench").lstrip(".")
    best = ""
    for layer in LAYERS:
        for declared in layer:
            if declared and (name == declared or name.startswith(declared + ".")):
                best = max(best, declared, key=len)
    return best or "etworkbench"


def main() -> None:
    edges: dict[tuple[str, str], bool] = {}
    for module, imported in import_graph().items():
        for target in imported:
            a, b = package_of(module), package_of(target)
            if a != b and layer_of(target) > 1:  # leaves and _compat: every layer uses them
                edges[(a, b)] = edges.get((a, b), False) or layer_of(target) > layer_of(module)
    lines = [
        "digraph packages {",
        '  rankdir=TB; newrank=true; node [shape=box, style="rounded,filled", fillcolor="#eef3fb",'
        ' fontname="Helvetica", fontsize=11]; edge [color="#7f8c9d", arrowsize=0.6];',
    ]
    for index, layer in enumerate(LAYERS):
        names = [n or "etworkbench" for n in layer]
        lines.append(
            f"  subgraph layer{index} {{ rank=same; " + "; ".join(f'"{n}"' for n in names) + " }"
        )
    firsts = [layer[0] or "etworkbench" for layer in LAYERS]
    for upper, lower in zip(firsts[::-1], firsts[-2::-1], strict=False):  # stack the rows
        lines.append(f'  "{upper}" -> "{lower}" [style=invis];')
    for (a, b), upward in sorted(edges.items()):
        style = ' [color="#c0392b", penwidth=1.5]' if upward else ""
        lines.append(f'  "{a}" -> "{b}"{style};')
    lines.append("}")
    dot = ROOT / "docs" / "architecture.dot"
    dot.write_text("\n".join(lines) + "\n")
    subprocess.run(["dot", "-Tsvg", str(dot), "-o", str(dot.with_suffix(".svg"))], check=True)
    print(f"wrote {dot.with_suffix('.svg')} ({len(edges)} package imports)")


if __name__ == "__main__":
    main()
