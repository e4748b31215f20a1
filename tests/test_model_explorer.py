"""Model Explorer export: the files load with Model Explorer's own code and agree with placement.

Model Explorer reads a graph JSON file in its front end, so the loader checked here is its own:
its web worker (`web_app/worker-*.js`, the code the browser runs on an opened graph, turning
namespaces into layers and summing node data per layer) run under node, where node is installed;
and, in Python, `dacite.from_dict(graph_builder.Graph, ...)`, which is how its server parses a
graph JSON (`ndp_runner`), plus its config and server for the notebook embedding. No network,
no browser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import dacite
import model_explorer
from model_explorer import graph_builder

from etworkbench.analysis.placement import CPU_KERNEL, DELEGATED
from etworkbench.views import model_explorer as me

WEB_APP = Path(model_explorer.__file__).parent / "web_app"

# Model Explorer's web worker in node: the message the app posts when a graph is opened
# (PROCESS_GRAPH_REQ, eventType 0), its answer's model graph, and G0, the per-layer summary of
# string node data it draws on collapsed layers. OffscreenCanvas only measures label widths.
HARNESS = r"""
const fs = require('fs');
const [workerPath, graphPath, dataPath] = process.argv.slice(2);
let handler = null, answer = null;
globalThis.self = globalThis;
globalThis.OffscreenCanvas = class { getContext() {
  return {font: '', measureText: (s) => ({width: 7 * String(s).length})}; } };
globalThis.addEventListener = (type, fn) => { if (type === 'message') handler = fn; };
globalThis.postMessage = (m) => { answer = m; };
(0, eval)(fs.readFileSync(workerPath, 'utf8'));
const collection = JSON.parse(fs.readFileSync(graphPath, 'utf8'));
const data = JSON.parse(fs.readFileSync(dataPath, 'utf8'));
const out = {};
for (const graph of collection.graphs) {
  handler({data: {eventType: 0, paneId: 'p', graph, showOnNodeItemTypes: {},
    nodeDataProviderRuns: {}, config: {}, groupNodeChildrenCountThreshold: 1000,
    flattenLayers: false, keepLayersWithASingleChild: false}});
  const mg = answer.modelGraph;
  const ops = mg.nodes.filter(n => n.nodeType === 0);
  const groups = mg.nodes.filter(n => n.nodeType === 1);
  const results = data[graph.id].results;
  out[graph.id] = {
    ops: Object.fromEntries(ops.map(n => [n.id, n.fullNamespace])),
    edges: ops.reduce((k, n) => k + (n.incomingEdges || []).length, 0),
    groups: Object.fromEntries(groups.map(g => [g.id, G0(g, mg, results)])),
    summary: G0(undefined, mg, results),
  };
}
console.log(JSON.stringify(out));
"""


def _front_end(tmp_path: Path, graph: Path, data: Path) -> dict:
    node = shutil.which("node")
    workers = sorted(WEB_APP.glob("worker-*.js"))
    # a dependency (scripts/setup.sh installs nodejs; the worker ships in the wheel): fail, not skip
    assert node is not None, "node is missing: run `make setup` (it installs nodejs)"
    assert workers, f"Model Explorer's web worker is missing from {WEB_APP}"
    script = tmp_path / "harness.js"
    script.write_text(HARNESS)
    done = subprocess.run(
        [node, str(script), str(workers[0]), str(graph), str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def _graphs(path: Path) -> list:
    """The graph file as Model Explorer's server parses one (dacite into graph_builder.Graph),
    after the front end's shape check: a collection is `{"label", "graphs"}`."""
    content = json.loads(path.read_text())
    assert set(content) >= {"label", "graphs"}
    strict = dacite.Config(strict=True)
    return [dacite.from_dict(graph_builder.Graph, g, config=strict) for g in content["graphs"]]


def _categories(placement) -> Counter:
    return Counter(label for label, _ in me.placement_values(placement).values())


def test_files_load_and_agree_with_the_placement(teaching_xnnpack, tmp_path):
    result = teaching_xnnpack["xnnpack"]
    placement = result.placement
    graph_file, data_file = result.to_model_explorer(tmp_path)
    assert graph_file.name == "teaching_net_xnnpack.json"
    assert data_file.name == "teaching_net_xnnpack_nodedata.json"

    by_module, by_partition = _graphs(graph_file)
    assert [by_module.id, by_partition.id] == ["xnnpack", "xnnpack partitions"]
    names = {n.name for n in placement.nodes}
    for graph in (by_module, by_partition):
        ops = [n for n in graph.nodes if n.id in names]
        assert len(ops) == len(placement.nodes)
        assert [n.label for n in graph.nodes].count("output") == len(placement.graph_outputs)
        assert {n.id for n in graph.nodes if n.label == "input"} == {"x"}  # no weights
        ids = {n.id for n in graph.nodes}
        assert all(e.sourceNodeId in ids for n in graph.nodes for e in n.incomingEdges)

    conv = next(n for n in placement.nodes if n.target == "aten.convolution.default")
    module_node = next(n for n in by_module.nodes if n.id == conv.name)
    partition_node = next(n for n in by_partition.nodes if n.id == conv.name)
    assert module_node.namespace == "conv"  # the nn.Module path
    assert partition_node.namespace == "xnnpack_partition_0/conv"  # its delegate's layer first
    assert module_node.outputsMetadata[0].attrs[0].value == "[1, 8, 16, 16]"
    attrs = {a.key: a.value for a in module_node.attrs}
    assert attrs["runs on"] == "xnnpack (xnnpack_partition_0)"
    assert "_nets.py" in attrs["source"]
    for node in placement.cpu_fallbacks():  # mean.dim and cumsum: reason shown on the node
        shown = next(n for n in by_module.nodes if n.id == node.name)
        assert {a.key: a.value for a in shown.attrs}["why not delegated"] == node.reason
        assert shown.namespace == node.module_path.replace(".", "/")

    data = json.loads(data_file.read_text())
    assert set(data) == {"xnnpack", "xnnpack partitions"}  # ModelNodeData: one per graph id
    values = data["xnnpack"]["results"]
    assert set(values) == names
    counts = placement.counts
    assert (counts.delegated, counts.cpu_kernels, counts.structural) == (3, 2, 2)
    found = Counter(v["value"] for v in values.values())
    assert found == {"xnnpack": counts.delegated, me.CPU_LABEL: counts.cpu_kernels} | {
        me.STRUCTURAL_LABEL: counts.structural
    }
    assert {values[n.name]["bgColor"] for n in placement.nodes if n.kind == CPU_KERNEL} == {
        "#c0392b"
    }


def test_model_explorers_front_end_draws_the_placement(teaching_xnnpack, tmp_path):
    placement = teaching_xnnpack["xnnpack"].placement
    graph_file, data_file = me.write(teaching_xnnpack, tmp_path)
    seen = _front_end(tmp_path, graph_file, data_file)
    counts = placement.counts
    expected = {"xnnpack": counts.delegated, me.CPU_LABEL: counts.cpu_kernels}
    expected[me.STRUCTURAL_LABEL] = counts.structural
    for graph in _graphs(graph_file):
        drawn = seen[graph.id]
        assert {s["label"]: s["count"] for s in drawn["summary"]} == expected
        assert len(drawn["ops"]) == len(placement.nodes) + 1 + len(placement.graph_outputs)
        assert drawn["edges"] == sum(len(n.incomingEdges) for n in graph.nodes)
    conv = next(n.name for n in placement.nodes if n.target == "aten.convolution.default")
    assert seen["xnnpack"]["ops"][conv] == "conv"
    # the first delegate is a layer of its own, all xnnpack; single-node layers are flattened
    first = seen["xnnpack partitions"]["groups"]["xnnpack_partition_0___group___"]
    assert first == [{"label": "xnnpack", "bgColor": "#4c9be8", "count": 2}]


def test_priority_list_gives_each_backend_its_partitions(tmp_path):
    from etworkbench import preview

    report = preview("teaching_net", ["xnnpack", "openvino"], priority=True)
    result = report.results[0]
    placement = result.placement
    backends = {d.backend for d in placement.delegates}
    assert backends == {"xnnpack", "openvino"}
    item = me.export(result)
    assert item.stem == "teaching_net_xnnpack-openvino"
    by_module, by_partition = item.collection.graphs
    layers = {n.namespace.split("/")[0] for n in by_partition.nodes}
    assert {f"{d.backend}_partition_{i}" for i, d in enumerate(placement.delegates)} <= layers
    configs = {c.namespaceRegex: c.borderColor for c in by_partition.groupNodeConfigs}
    assert configs["^openvino_partition_1$"] == "#16a085"
    values = item.node_data.graphsData[by_module.id].results
    kinds = Counter(n.kind for n in placement.nodes)
    labels = Counter(values[n.name].value for n in placement.nodes)
    assert labels["xnnpack"] + labels["openvino"] == kinds[DELEGATED]
    assert labels[me.STRUCTURAL_LABEL] == placement.counts.structural
    paths = item.write(tmp_path)
    assert [p.name for p in paths] == [
        "teaching_net_xnnpack-openvino.json",
        "teaching_net_xnnpack-openvino_nodedata.json",
    ]
    _graphs(paths[0])


def test_overlay_hook_writes_a_numeric_node_data_file(teaching_xnnpack, tmp_path):
    result = teaching_xnnpack["xnnpack"]
    names = [n.name for n in result.placement.nodes]
    item = me.export(result, overlays={"latency ms": {name: 0.5 for name in names}})
    paths = item.write(tmp_path)
    assert [p.name for p in paths][-1] == "teaching_net_xnnpack_latency_ms_nodedata.json"
    data = json.loads(paths[-1].read_text())
    assert data["xnnpack"]["results"][names[0]] == {"value": 0.5}
    assert data["xnnpack"]["gradient"][1]["stop"] == 1


def test_config_and_server_serve_the_files(teaching_xnnpack, tmp_path):
    paths = teaching_xnnpack.to_model_explorer(tmp_path)
    config = me.explorer_config(paths)
    assert config.model_sources == [{"url": str(paths[0].resolve())}]
    assert config.node_data_sources == [str(paths[1].resolve())]
    assert config.node_data_target_models == [paths[0].name]
    encoded = json.loads(urllib.parse.unquote(config.to_url_param_value()))
    assert encoded["models"][0]["url"].endswith("teaching_net_xnnpack.json")

    # Model Explorer's server, started as `show` starts it: its own process, offline
    url = me.serve(paths, host="127.0.0.1")
    try:
        base = url.split("/?")[0]
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b"<html" in page.read().lower()
        query = urllib.parse.urlencode({"path": str(paths[0])})
        with urllib.request.urlopen(f"{base}/api/v1/read_text_file?{query}", timeout=10) as got:
            assert json.loads(json.loads(got.read())["content"]) == json.loads(paths[0].read_text())
        # the page's version check is answered locally (no PyPI request)
        with urllib.request.urlopen(f"{base}/api/v1/check_new_version", timeout=10) as got:
            assert json.loads(got.read())["version"] == ""
    finally:
        me.stop_servers()
    banner = (tmp_path / "model_explorer_server.log").read_text()
    assert "Starting Model Explorer server" in banner  # its terminal banner, not in the cell


def test_cli_writes_files_and_refuses_an_unwritable_directory(teaching_xnnpack, tmp_path, capsys):
    from etworkbench.cli import main

    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["lower", "nonexistent_model", "--model-explorer", str(blocked / "x")]) == 2
    assert "--model-explorer" in capsys.readouterr().err

    out = tmp_path / "me"
    code = main(["lower", "teaching_net", "--out", str(tmp_path), "--model-explorer", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "teaching_net_xnnpack.json",
        "teaching_net_xnnpack_nodedata.json",
    ]
    assert f"Model Explorer: {out / 'teaching_net_xnnpack.json'}" in capsys.readouterr().out
