"""Per-node latency from ETDump: events charged to graph nodes by instruction order (.pte)
and by debug handles (ETRecord), which must agree on the same recorded file."""

from __future__ import annotations

import json
import warnings

import pytest

from etworkbench.analysis.placement import CPU_KERNEL


@pytest.fixture(scope="module")
def profiled(teaching_xnnpack):
    result = teaching_xnnpack["xnnpack"]
    report = result.run(repeats=3, warmup=1, random_inputs=0, profile=True)
    return result, report.profile


def test_delegate_blocks_carry_their_calls_median(profiled):
    result, profile = profiled
    overlay = profile.overlay(result)
    calls = [r for r in profile.rows if r.kind == "delegate call"]
    assert len(calls) == len(result.placement.delegates) == 2
    for delegate, row in zip(result.placement.delegates, calls, strict=True):
        assert overlay.values[delegate.id] == row.median_ms
        assert overlay.details[delegate.id]["instruction"] == row.instruction
        members = [n.name for n in result.placement.nodes if n.delegate == delegate.id]
        for name in members:  # XNNPACK names its ops, no debug handles: block total only
            assert name not in overlay.values
            assert overlay.details[name]["delegate call"] == delegate.id


def test_every_cpu_kernel_node_gets_its_operator_call(profiled):
    result, profile = profiled
    overlay = profile.overlay(result)
    cpu = [n for n in result.placement.nodes if n.kind == CPU_KERNEL]
    assert {n.name for n in cpu} == {"aten_mean_dim", "aten_cumsum_default"}
    calls = {r.instruction: r for r in profile.rows if r.kind == "operator call"}
    for node in cpu:
        assert overlay.values[node.name] > 0
        row = calls[overlay.details[node.name]["instruction"]]
        assert overlay.values[node.name] == row.median_ms
        assert overlay.details[node.name]["event"].startswith(
            "native_call_" + node.target.split(".")[1]
        )
    # the charged events account for the method's time, up to the runtime's own overhead
    method = next(r for r in profile.rows if r.kind == "method")
    assert 0.3 * method.median_ms < sum(overlay.values.values()) < 1.5 * method.median_ms


def test_a_pte_of_another_program_is_refused(profiled, tmp_path):
    from etworkbench import lower

    result, profile = profiled
    other = lower("tiny_convnet", ["xnnpack"], out_dir=tmp_path)["xnnpack"]
    with pytest.raises(ValueError, match="not the program of this placement"):
        profile.overlay(placement=result.placement, pte=other.pte_data)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """teaching_net lowered with the plain executorch API and an ETRecord, run here with the
    ETDump on: the files a device run would give back."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    from etworkbench.analysis.placement import analyze_placement
    from etworkbench.backends._base import op_name
    from etworkbench.models import load_model
    from etworkbench.models._inputs import flat_inputs

    folder = tmp_path_factory.mktemp("etdump")
    spec = load_model("teaching_net")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(spec.module, tuple(spec.example_inputs))
        edge = to_edge_transform_and_lower(
            program, partitioner=[XnnpackPartitioner()], generate_etrecord=True
        )
        placement = analyze_placement(
            edge.exported_program().graph_module,
            {"XnnpackBackend": "xnnpack"},
            lambda node: None,
            op_name,
        )
        et = edge.to_executorch()
        et.get_etrecord().save(str(folder / "tn.etrecord"))
    (folder / "tn.pte").write_bytes(et.buffer)
    loaded = Runtime.get().load_program(et.buffer, enable_etdump=True, debug_buffer_size=0)
    method = loaded.load_method("forward")
    for _ in range(5):
        method.execute(flat_inputs(tuple(spec.example_inputs), {}))
    loaded.write_etdump_result_to_file(str(folder / "tn.etdp"), str(folder / "debug.bin"))
    return folder, placement, et.buffer


def test_etwb_profile_matches_the_in_process_mapping_of_the_same_file(recorded, capsys):
    from etworkbench.cli import main
    from etworkbench.runtime import read_etdump

    folder, placement, pte = recorded
    in_process = read_etdump(folder / "tn.etdp", pte=pte).overlay(placement=placement, pte=pte)
    code = main(["profile", str(folder / "tn.etdp"), "--etrecord", str(folder / "tn.etrecord"),
                 "--pte", str(folder / "tn.pte"), "--json"])  # fmt: skip
    assert code == 0
    device = json.loads(capsys.readouterr().out)
    assert "by debug handles (ETRecord)" in device["note"]
    assert "by instruction order" in in_process.note
    assert device["values"] == in_process.values  # same names, same medians
    assert set(device["values"]) == {
        "lowered_module_0", "aten_mean_dim", "aten_cumsum_default", "lowered_module_1"
    }  # fmt: skip
    assert device["method_execute_median_ms"] > 0
    # with the placement at hand the ETRecord path gives the same too
    with_record = read_etdump(folder / "tn.etdp", etrecord=folder / "tn.etrecord")
    assert with_record.overlay(placement=placement).values == in_process.values


def test_etwb_profile_prints_the_slowest_nodes(recorded, capsys):
    from etworkbench.cli import main

    folder, _, _ = recorded
    assert main(["profile", str(folder / "tn.etdp"), "--etrecord", str(folder / "tn.etrecord"),
                 "--top", "2"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "slowest 2 (median ms):" in text and "Method::execute" in text
    assert len([line for line in text.splitlines() if line.startswith("  ")]) == 2
