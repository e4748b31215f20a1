"""Every backend row tells the truth here; every lowering backend really lowers a tiny model.

Counts are checked against `executorch.devtools.backend_debug.get_delegation_info` on an
independent lowering through the plain executorch API (not through our pipeline).
"""

from __future__ import annotations

import json
import time

import pytest
import torch
from _checks import assert_matches_delegation_info

from etworkbench import load_model, lower
from etworkbench.backends import backend_names, get_backend, list_backends
from etworkbench.errors import UsageError

UNAVAILABLE_HERE = ("vgf", "qnn", "mediatek", "nxp", "samsung", "cadence", "mps")


def _plain_partitioners(name):
    """The partitioners written out with executorch's own API, as its docs show them."""
    from executorch.exir.backend.compile_spec_schema import CompileSpec

    if name == "coreml":
        import coremltools as ct
        from executorch.backends.apple.coreml.compiler import CoreMLBackend
        from executorch.backends.apple.coreml.partition import CoreMLPartitioner

        specs = CoreMLBackend.generate_compile_specs(compute_precision=ct.precision.FLOAT16)
        return [CoreMLPartitioner(compile_specs=specs)]
    if name == "openvino":
        from executorch.backends.openvino.partitioner import OpenvinoPartitioner

        return [OpenvinoPartitioner([CompileSpec("device", b"CPU")])]
    if name == "tosa":
        from executorch.backends.arm.tosa.compile_spec import TosaCompileSpec
        from executorch.backends.arm.tosa.partitioner import TOSAPartitioner

        return [TOSAPartitioner(TosaCompileSpec("TOSA-1.0+FP"))]
    if name == "vulkan":
        from executorch.backends.vulkan.partitioner.vulkan_partitioner import VulkanPartitioner

        return [VulkanPartitioner({})]
    raise AssertionError(name)


def _plain_graph(name, model="tiny_convnet"):
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

    spec = load_model(model)
    program = torch.export.export(spec.module, spec.example_inputs)
    kwargs = (
        {"compile_config": EdgeCompileConfig(_skip_dim_order=False)} if name == "vulkan" else {}
    )
    edge = to_edge_transform_and_lower(program, partitioner=_plain_partitioners(name), **kwargs)
    return edge.exported_program().graph_module


# -- the table ---------------------------------------------------------------------------------


def test_every_row_has_facts_and_is_available_or_says_why():
    rows = list_backends()
    assert [r.name for r in rows] == backend_names()
    assert len(rows) == 14
    for row in rows:
        assert row.hardware and row.platforms, row.name
        if not row.available:
            assert row.reason.strip() and row.hint.strip(), row.name
            assert not row.lowers_here, row.name


@pytest.mark.parametrize("name", UNAVAILABLE_HERE)
def test_unavailable_rows_probe_fast_and_keep_documented_schemes(name):
    backend = type(get_backend(name))()  # a fresh instance: probe again, uncached
    start = time.perf_counter()
    availability = backend.probe()
    assert time.perf_counter() - start < 1.0
    assert not availability.available  # none of these SDKs is installed on this machine
    assert availability.reason and availability.hint
    assert backend.schemes  # documented even when it cannot lower here


def test_qnn_needs_qnn_sdk_root_and_never_fetches_it(monkeypatch, tmp_path):
    qnn = type(get_backend("qnn"))()
    monkeypatch.delenv("QNN_SDK_ROOT", raising=False)
    assert "QNN_SDK_ROOT is not set" in qnn.probe().reason
    monkeypatch.setenv("QNN_SDK_ROOT", str(tmp_path / "missing"))
    assert "is not a directory" in qnn.probe().reason


def test_specific_reasons():
    assert "removed from executorch" in get_backend("mps").availability.reason
    assert "not a delegate" in get_backend("cadence").availability.reason
    assert not get_backend("cadence").lowers_here
    assert "not on PyPI" in get_backend("mediatek").availability.reason
    assert "not on PyPI" in get_backend("nxp").availability.reason
    assert "model-converter" in get_backend("vgf").availability.reason


def test_unavailable_backend_reports_its_reason_in_lowering():
    result = lower("tiny_convnet", ["qnn"], cache=False)["qnn"]
    assert result.status == "unavailable"
    assert result.reason == "Qualcomm QNN: " + get_backend("qnn").availability.reason
    assert result.hint


def test_unknown_scheme_names_the_valid_ones():
    with pytest.raises(UsageError) as err:
        lower("tiny_convnet", ["coreml"], "int3")
    for scheme in get_backend("coreml").schemes:
        assert scheme in str(err.value)
    with pytest.raises(UsageError, match="8da4w"):
        lower("tiny_convnet", ["xnnpack"], "nope")


def test_default_schemes():
    assert get_backend("coreml").default_scheme == "fp16"
    assert set(get_backend("ethosu").schemes) == {"int8"}
    assert get_backend("ethosu").default_scheme == "int8"
    assert {"fp32", "int8"} <= set(get_backend("openvino").schemes)
    assert {"fp32", "int8"} <= set(get_backend("tosa").schemes)


# -- portable ----------------------------------------------------------------------------------


def test_portable_delegates_nothing():
    portable = get_backend("portable")
    assert portable.availability.available and portable.runs_on_host
    assert portable.partitioners("fp32") == []
    result = lower("teaching_net", ["portable"], cache=False)["portable"]
    assert result.ok
    assert result.placement.delegated_nodes == 0
    assert result.placement.fallback_nodes > 0
    assert all(n.reason for n in result.placement.fallbacks())


# -- lowering backends -------------------------------------------------------------------------


def _lowered(name, scheme=None):
    result = lower("tiny_convnet", [name], scheme, cache=False)[name]
    assert result.ok, (result.status, result.error and result.error.one_line)
    return result


@pytest.fixture(scope="module")
def coreml_result():
    return _lowered("coreml")


@pytest.fixture(scope="module")
def openvino_result():
    return _lowered("openvino")


@pytest.fixture(scope="module")
def tosa_result():
    return _lowered("tosa")


@pytest.fixture(scope="module")
def vulkan_result():
    return _lowered("vulkan")


@pytest.mark.parametrize("name", ["coreml", "openvino", "tosa"])
def test_lowers_tiny_convnet_and_counts_match_get_delegation_info(name, request):
    result = request.getfixturevalue(f"{name}_result")
    assert result.placement.delegated_nodes > 0
    assert result.pte_bytes
    assert_matches_delegation_info(_plain_graph(name), result.placement)


@pytest.mark.slow
def test_vulkan_lowers_and_counts_match_get_delegation_info(vulkan_result):
    assert vulkan_result.placement.delegated_nodes > 0
    assert_matches_delegation_info(_plain_graph("vulkan"), vulkan_result.placement)


@pytest.mark.slow
def test_vulkan_reasons_come_from_its_log_skip():
    placement = lower("teaching_net", ["vulkan"], cache=False)["vulkan"].placement
    reasons = {n.target: n.reason for n in placement.fallbacks()}
    assert reasons["aten.cumsum.default"] == "no operator implementation"
    assert reasons["aten.mean.dim"] == "op args not supported"


@pytest.mark.slow
def test_ethosu_int8_lowers():
    result = _lowered("ethosu")
    assert result.scheme == "int8"
    assert result.placement.delegated_nodes > 0


@pytest.mark.slow
def test_priority_list_gives_one_program_and_both_backends_reasons():
    """teaching_net's cumsum is taken by neither backend: its reason names both, in order."""
    report = lower("teaching_net", ["vulkan", "xnnpack"], priority=True, cache=False)
    assert len(report.results) == 1
    result = report.results[0]
    assert result.ok and result.backends == ["vulkan", "xnnpack"]
    assert "VulkanBackend" in {d.backend_id for d in result.placement.delegates}
    reasons = {n.target: n.reason for n in result.placement.fallbacks()}
    assert reasons["aten.cumsum.default"] == (
        "Vulkan: no operator implementation | "
        "XNNPACK: no XNNPACK implementation of aten.cumsum.default"
    )


def test_backends_cli_json(capsys):
    from etworkbench.cli import main

    assert main(["backends", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(backend_names())
    for row in rows:
        for key in ("name", "available", "reason", "hardware", "platforms", "runs_on_host"):
            assert key in row, (row.get("name"), key)
    on_host = {r["name"] for r in rows if r["runs_on_host"]}
    assert on_host == {"xnnpack", "openvino", "portable"}


class _AcoshNet(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.acosh(torch.relu(x) + 2.0) * 3.0


def test_coreml_reasons_are_its_own_skip_messages():
    inputs = (torch.randn(2, 8),)
    result = lower(_AcoshNet(), ["coreml"], example_inputs=inputs, cache=False)["coreml"]
    assert result.ok and result.placement.delegated_nodes > 0
    reasons = {n.target: n.reason for n in result.placement.fallbacks()}
    assert "is not supported by CoreML" in reasons["aten.acosh.default"]
