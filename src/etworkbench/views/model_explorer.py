"""Partitioned graphs for Google's Model Explorer, the viewer for graphs too big for graphviz.

A program's `Placement` (the rows every other view counts) becomes Model Explorer's own
dataclasses (`model_explorer.graph_builder`, `node_data_builder`), kept apart from the files:

- one `GraphCollection` per program, with two graphs of the same nodes and edges. The first,
  named after the program, nests nodes by nn.Module path (`features.3.conv` -> namespace
  `features/3/conv`): Model Explorer opens big graphs as collapsed layers, and the node data
  below colours every layer with how much of it each delegate took, as the graphviz module view
  does. The second (`... partitions`) puts each delegate instance in a layer of its own,
  `xnnpack_partition_0/<module path>`, boxed in the backend's colour, with CPU nodes outside
  them: the graphviz delegate boxes. A layer per partition in the first graph would split every
  module across partitions, so the partition is a node attribute there.
- node data (`ModelNodeData`, one entry per graph id): `placement`, each node's backend or
  "CPU fallback" / "structural" as a category in the colours graphviz uses, which Model
  Explorer sums per layer (e.g. "xnnpack 92% (12)"). Results carry no per-node numerics or
  latency today (a run's profile is per ETDump event), so `overlays` is the hook: name ->
  {node name: number}, drawn as a gradient.

`export(result)` builds it, `ModelExplorerExport.write(dir)` writes `<model>_<backend>.json`
(what Model Explorer's JSON loader reads: `{"label", "graphs"}`) and
`<model>_<backend>_nodedata.json`. `show(...)` serves them with Model Explorer's server in a
background thread and embeds its page in the notebook.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_write_text, check_writable_dir
from ..analysis.placement import CPU_KERNEL, DELEGATED, STRUCTURAL, NodeCounts, Placement
from ..errors import UsageError
from .graph import _output_source, is_parameter
from .graph_dot import FALLBACK, backend_colour
from .graph_modules import module_paths

PLACEMENT_DATA = "placement"
STRUCTURAL_COLOUR = "#bdbdbd"
CPU_LABEL = "CPU fallback"
STRUCTURAL_LABEL = "structural (no kernel)"
_TENSOR = re.compile(r"(\w+)\[([^\]]*)\]")


@dataclass
class ModelExplorerExport:
    """One program for Model Explorer: its graphs and node data, and the file stem to use."""

    stem: str  # <model>_<backend>[_<scheme>], as the .pte
    collection: Any  # graph_builder.GraphCollection
    node_data: Any  # node_data_builder.ModelNodeData (graph id -> GraphNodeData): placement
    counts: NodeCounts  # the placement's, which the node data's categories add up to
    overlays: dict[str, Any] = dataclasses.field(default_factory=dict)  # name -> ModelNodeData

    @property
    def graph_ids(self) -> list[str]:
        return [g.id for g in self.collection.graphs]

    def graph_json(self) -> dict[str, Any]:
        """The graph file's content: a graph collection, one of the shapes Model Explorer's
        JSON loader accepts (a bare `{"graphs": ...}` adapter response is not one)."""
        return _without_none(dataclasses.asdict(self.collection))

    def write(self, directory: str | Path) -> list[Path]:
        """Write `<stem>.json`, `<stem>_nodedata.json` and `<stem>_<overlay>_nodedata.json`
        for each overlay into `directory` (atomically); graph file first."""
        check_writable_dir(directory, "Model Explorer directory")
        folder = Path(directory).expanduser()
        written = [atomic_write_text(folder / f"{self.stem}.json", json.dumps(self.graph_json()))]
        for suffix, data in [("", self.node_data)] + [
            (f"_{_ns(name)}", data) for name, data in self.overlays.items()
        ]:
            path = folder / f"{self.stem}{suffix}_nodedata.json"
            written.append(atomic_write_text(path, data.to_json_string()))
        return written


def export(
    result: Any, overlays: Mapping[str, Mapping[str, float]] | None = None
) -> ModelExplorerExport:
    """A `BackendResult` (with a placement) as Model Explorer graphs and node data.

    `overlays`: name -> {node name: number}, per-node values to colour by (none are recorded
    by a lowering or a run today; ETDump profiles are per event, not per graph node)."""
    if result.placement is None:
        raise UsageError(f"{result.backend}: no graph to export ({result.status})")
    from ..lowering._programs import pte_filename

    stem = pte_filename(result.model or "model", result.backend, result.scheme)[: -len(".pte")]
    label = f"{result.model or 'model'} · {result.backend}" + (
        " (preview)" if result.preview else ""
    )
    placement = result.placement
    collection = build_graphs(placement, result.backend, label)
    ids = [g.id for g in collection.graphs]
    return ModelExplorerExport(
        stem,
        collection,
        build_node_data(placement, ids),
        placement.counts,
        {
            name: build_node_data(placement, ids, _node_values(values, placement))
            for name, values in (overlays or {}).items()
        },
    )


def _node_values(values: Any, placement: Placement) -> dict[str, float]:
    """A `NodeOverlay` or a mapping, as {node name: number} (a delegate call measured only
    as a whole has no node of its own here)."""
    values = values if isinstance(values, Mapping) else values.values  # a NodeOverlay
    names = {n.name for n in placement.nodes}
    return {k: v for k, v in values.items() if k in names}


def exports(
    results: Any, overlays: Mapping[str, Mapping] | None = None
) -> list[ModelExplorerExport]:
    """Every program of a `LoweringReport` (or one `BackendResult`) that has a placement;
    `overlays`: backend -> {name: NodeOverlay or {node: number}} for its node data."""
    items = [results] if hasattr(results, "placement") else list(results)
    extra = overlays or {}
    return [export(r, extra.get(r.backend)) for r in items if r.placement is not None]


def write(results: Any, directory: str | Path, overlays: Mapping | None = None) -> list[Path]:
    """Write the files of every program with a placement (graph file, then its node data)."""
    check_writable_dir(directory, "Model Explorer directory")
    return [path for item in exports(results, overlays) for path in item.write(directory)]


# -- graphs --------------------------------------------------------------------------------------


def build_graphs(placement: Placement, backend: str, label: str) -> Any:
    """The collection: the nn.Module graph (id `backend`) and the partition graph."""
    from model_explorer import graph_builder as gb

    partition = {d.id: f"{_ns(d.backend)}_partition_{i}" for i, d in enumerate(placement.delegates)}
    by_module = gb.Graph(id=backend, nodes=_nodes(placement, partition, by_partition=False))
    by_partition = gb.Graph(
        id=f"{backend} partitions", nodes=_nodes(placement, partition, by_partition=True)
    )
    counts = placement.counts
    summary = {
        "program": label,
        "nodes": counts.describe(),
        "delegates": str(len(placement.delegates)),
    }
    by_module.groupNodeAttributes = {"": summary}
    by_partition.groupNodeAttributes = {"": summary} | {
        partition[d.id]: {
            "backend": d.backend,
            "delegate": d.id,
            "nodes": str(d.nodes),
            "payload bytes": str(d.payload_bytes),
            "weights stored by the delegate (bytes)": str(d.data_bytes),
        }
        for d in placement.delegates
    }
    by_partition.groupNodeConfigs = [
        gb.GroupNodeConfig(
            namespaceRegex=f"^{re.escape(partition[d.id])}$",
            backgroundColor=_tint(backend_colour(d.backend)),
            borderColor=backend_colour(d.backend),
        )
        for d in placement.delegates
    ]
    return gb.GraphCollection(
        label=label, graphs=[by_module, by_partition], graphSorting="name_asc"
    )


def _nodes(placement: Placement, partition: dict[str, str], by_partition: bool) -> list[Any]:
    from model_explorer import graph_builder as gb

    paths = module_paths(placement)  # q/dq nodes join the module they serve, as in graphviz
    inputs = [n for n in placement.graph_inputs if not is_parameter(n)]
    nodes = [
        gb.GraphNode(id=name, label="input", attrs=[gb.KeyValue("name", name)]) for name in inputs
    ]
    known = set(inputs) | {n.name for n in placement.nodes}
    for node in placement.nodes:
        namespace = paths[node.name].replace(".", "/")
        if by_partition and node.delegated:
            namespace = "/".join(filter(None, [partition.get(node.delegate or "", ""), namespace]))
        nodes.append(
            gb.GraphNode(
                id=node.name,
                label=node.target if node.kind != STRUCTURAL else "getitem",
                namespace=namespace,
                attrs=[gb.KeyValue(k, v) for k, v in _attributes(node, partition) if v],
                incomingEdges=[
                    gb.IncomingEdge(source, "0", str(index))
                    for index, source in enumerate(node.inputs)
                    if source in known
                ],
                outputsMetadata=_outputs(node.shape),
            )
        )
    identity = {n.name: n.name for n in placement.nodes}
    for index, name in enumerate(placement.graph_outputs):
        source = name if name in known else _output_source(placement, name, identity)
        edges = [gb.IncomingEdge(source)] if source else []
        nodes.append(gb.GraphNode(id=f"output {index}", label="output", incomingEdges=edges))
    return nodes


def _attributes(node: Any, partition: dict[str, str]) -> list[tuple[str, str]]:
    where = {
        DELEGATED: f"{node.backend} ({partition.get(node.delegate or '', node.delegate)})",
        CPU_KERNEL: "CPU fallback (runs a kernel)",
        STRUCTURAL: "nothing: structural (getitem, no kernel)",
    }[node.kind]
    return [
        ("runs on", where),
        ("op", node.target),
        ("backend", node.backend or ""),
        ("delegate", node.delegate or ""),
        ("why not delegated", "" if node.delegated else node.reason or "no reason given"),
        ("source", node.source),
        ("module", f"{node.module_path} ({node.module_type})" if node.module_path else ""),
        ("source op", node.source_op if node.source_op != node.target else ""),
        ("node", node.name),
    ]


def _outputs(shape: str) -> list[Any]:
    """`float32[1, 8], int64[1]` -> one metadata item per output: shape and dtype."""
    from model_explorer import graph_builder as gb

    return [
        gb.MetadataItem(str(i), [gb.KeyValue("shape", f"[{dims}]"), gb.KeyValue("dtype", dtype)])
        for i, (dtype, dims) in enumerate(_TENSOR.findall(shape or ""))
    ]


# -- node data -----------------------------------------------------------------------------------


def placement_values(placement: Placement) -> dict[str, tuple[str, str]]:
    """node name -> (category, colour): the backend, CPU fallback or structural."""
    values = {}
    for node in placement.nodes:
        kind = node.kind
        if kind == DELEGATED:
            values[node.name] = (node.backend or "?", backend_colour(node.backend))
        elif kind == CPU_KERNEL:
            values[node.name] = (CPU_LABEL, FALLBACK["border"])
        else:
            values[node.name] = (STRUCTURAL_LABEL, STRUCTURAL_COLOUR)
    return values


def build_node_data(
    placement: Placement, graph_ids: Iterable[str], overlay: Mapping[str, float] | None = None
) -> Any:
    """Model Explorer node data for every graph of a program: the placement per node (strings
    with colours, which group layers summarise by share), or `overlay` (node name -> number,
    e.g. latency in ms) as a white-to-orange gradient."""
    from model_explorer import node_data_builder as nd

    def graph_data(graph_id: str) -> Any:
        if overlay is not None:
            return nd.GraphNodeData(
                results={k: nd.NodeDataResult(float(v)) for k, v in overlay.items()},
                gradient=[nd.GradientItem(0, "#ffffff"), nd.GradientItem(1, "#d35400")],
            )
        return nd.GraphNodeData(
            results={
                name: nd.NodeDataResult(value=label, bgColor=colour)
                for name, (label, colour) in placement_values(placement).items()
            },
            name=PLACEMENT_DATA,
            showExpandedSummaryOnGroupNode=True,
            showLabelCountColumnsInChildrenStatsTable=True,
        )

    return nd.ModelNodeData(graphsData={graph_id: graph_data(graph_id) for graph_id in graph_ids})


def _ns(text: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text or "delegate")


def _tint(colour: str, keep: float = 0.18) -> str:
    """`colour` mixed with white (a layer's background, light enough for its nodes to show)."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * keep):02x}" for c in rgb)


def _without_none(value: Any) -> Any:
    """What Model Explorer's own writer leaves out (`utils.remove_none`): unset fields."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value if v is not None]
    return value


# Model Explorer itself (its config and server), re-exported here beside `show`.
from ._model_explorer_server import (  # noqa: E402
    explorer_config,
    explorer_url,
    serve,
    stop_servers,
)


def show(
    results: Any,
    directory: str | Path | None = None,
    height: int = 800,
    port: int | None = None,
    overlays: Mapping | None = None,
) -> Any:
    """Model Explorer in the notebook: write the files (to a temporary directory unless
    `directory`), serve them and return an IFrame of its page (display it, or leave it last
    in a cell). `overlays`: backend -> {name: NodeOverlay}, written as node data too."""
    import tempfile

    from IPython.display import IFrame

    folder = directory or tempfile.mkdtemp(prefix="etwb-model-explorer-")
    paths = write(results, folder, overlays)
    if not paths:
        raise UsageError("nothing to show in Model Explorer: no program has a graph")
    return IFrame(serve(paths, port=port), width="100%", height=height)


__all__ = ["explorer_config", "explorer_url", "export", "serve", "show", "stop_servers", "write"]
