"""`exclude_ops` / `--exclude-op`: named ops go to CPU, the backend keeps the rest, the program runs."""

from __future__ import annotations

import json

import pytest
import torch
from _checks import assert_matches_delegation_info

from etworkbench import UsageError, inspect_pte, load_model, lower
from etworkbench.cli import main


def _direct(spec, ops):
    """The plain executorch API with only our partitioner wrapper added."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from etworkbench.lowering._exclude import exclude_partitioner

    program = torch.export.export(spec.module, spec.example_inputs)
    wrapped = exclude_partitioner(XnnpackPartitioner(), ops, {})
    return to_edge_transform_and_lower(program, partitioner=[wrapped])


def _runs_like_eager(result, spec, tmp_path):
    from executorch.runtime import Runtime

    path = result.save(tmp_path / f"{result.model}.pte")
    method = Runtime.get().load_program(path).load_method("forward")
    (output,) = method.execute(list(spec.example_inputs))
    with torch.no_grad():
        expected = spec.module(*spec.example_inputs)
    torch.testing.assert_close(output, expected, rtol=1e-4, atol=1e-5)
    return path


def test_excluded_relu_runs_on_cpu_with_the_user_reason(teaching_xnnpack, tmp_path):
    baseline = teaching_xnnpack["xnnpack"].placement
    result = lower("teaching_net", ["xnnpack"], exclude_ops=["aten.relu.default"], cache=False)
    result = result["xnnpack"]
    assert result.ok, result.summary_line()
    relu = [n for n in result.placement.nodes if n.target == "aten.relu.default"]
    assert [(n.delegated, n.reason) for n in relu] == [
        (False, "excluded by user (--exclude-op aten.relu.default)")
    ]
    assert result.placement.delegated_nodes == baseline.delegated_nodes - 1
    # conv and linear are still XNNPACK's
    delegated = {n.target for n in result.placement.nodes if n.delegated}
    assert delegated == {"aten.convolution.default", "aten.linear.default"}
    spec = load_model("teaching_net")
    assert_matches_delegation_info(
        _direct(spec, ["aten.relu.default"]).exported_program().graph_module, result.placement
    )
    path = _runs_like_eager(result, spec, tmp_path)
    assert inspect_pte(path).cpu_operators()["aten::relu.out"] == 1


def test_excluding_a_preserved_op_runs_its_decomposition_on_cpu(tmp_path):
    """XNNPACK keeps linear undecomposed; excluded, it runs as permute_copy + addmm on CPU."""
    report = lower("teaching_net", ["xnnpack"], exclude_ops=["aten::linear"], cache=False)
    result = report["xnnpack"]
    assert result.ok, result.summary_line()
    cpu = {n.target: n.reason for n in result.placement.fallbacks() if not n.structural}
    assert cpu["aten.addmm.default"] == "excluded by user (--exclude-op aten.linear)"
    assert cpu["aten.permute_copy.default"] == "excluded by user (--exclude-op aten.linear)"
    assert not any("linear" in n.target for n in result.placement.nodes if n.delegated)
    spec = load_model("teaching_net")
    path = _runs_like_eager(result, spec, tmp_path)
    assert inspect_pte(path).cpu_operators()["aten::addmm.out"] == 1


def test_excluding_the_middle_of_a_delegate_splits_it_without_a_cycle(tmp_path):
    """tiny_convnet is one XNNPACK delegate; without its relus, the rest must form valid parts."""
    spec = load_model("tiny_convnet")
    whole = lower(spec, ["xnnpack"], cache=False)["xnnpack"].placement
    assert whole.num_delegated_subgraphs == 1 and whole.fallback_nodes == 1  # the getitem
    result = lower(spec, ["xnnpack"], exclude_ops=["aten.relu"], cache=False)["xnnpack"]
    assert result.ok, result.summary_line()
    relus = [n for n in result.placement.nodes if n.target == "aten.relu.default"]
    assert len(relus) == 2 and not any(n.delegated for n in relus)
    assert result.placement.num_delegated_subgraphs >= 2
    assert result.placement.delegated_nodes == whole.delegated_nodes - 2
    assert_matches_delegation_info(
        _direct(spec, ["aten.relu"]).exported_program().graph_module, result.placement
    )
    _runs_like_eager(result, spec, tmp_path)


def test_excluding_an_op_the_backend_refused_keeps_its_reason_too():
    result = lower("teaching_net", ["xnnpack"], exclude_ops=["aten.mean.dim"], cache=False)
    mean = next(n for n in result["xnnpack"].placement.nodes if n.target == "aten.mean.dim")
    assert mean.reason == (
        "excluded by user (--exclude-op aten.mean.dim); "
        "not taken anyway: mean.dim only supports keepdim=True"
    )


@pytest.mark.parametrize("bad", ["mean", "aten.mean.dim.extra", "aten::", ""])
def test_malformed_op_names_are_usage_errors(bad):
    with pytest.raises(UsageError, match="write it as namespace.op"):
        lower("teaching_net", ["xnnpack"], exclude_ops=[bad])


def test_cli_exclude_op_is_repeatable(tmp_path, capsys):
    argv = ["lower", "teaching_net", "--out", str(tmp_path), "--json", "--no-cache"]
    argv += ["--exclude-op", "aten.relu.default", "--exclude-op", "aten.linear.default"]
    assert main(argv) == 0
    (result,) = json.loads(capsys.readouterr().out)["results"]
    reasons = {r["op"]: r["reason"] for r in result["fallback_reasons"]}
    assert reasons["aten.relu.default"] == "excluded by user (--exclude-op aten.relu.default)"
    assert reasons["aten.addmm.default"] == "excluded by user (--exclude-op aten.linear.default)"
    assert result["delegated_nodes"] == 1  # only the convolution is left to XNNPACK
    assert main(["lower", "teaching_net", "--exclude-op", "mean"]) == 2


def test_a_compiler_rewritten_op_is_excluded_by_the_op_the_partitioner_saw(fixtures_dir):
    """XNNPACK's compiler turns aten.max.dim into amax and then rejects it: the hint names max.dim."""
    model = f"{fixtures_dir}/compiler_rewrites.py:make"
    failed = lower(model, ["xnnpack"], cache=False)
    error = failed["xnnpack"].error
    assert error.stage == "preprocess" and error.op == "aten.amax.default"
    assert error.exclude_op == "aten.max.dim"
    assert "try --exclude-op aten.max.dim" in failed.summary()

    again = lower(model, ["xnnpack"], exclude_ops=[error.exclude_op], cache=False)["xnnpack"]
    assert again.ok, again.summary_line()
    maxes = [n for n in again.placement.nodes if n.target == "aten.max.dim"]
    assert maxes and not any(n.delegated for n in maxes)
    assert again.placement.delegated_nodes > 0  # conv and sigmoid stay on XNNPACK


def test_an_op_kept_from_decomposition_but_refused_can_be_excluded(fixtures_dir):
    """OpenVINO keeps upsample_bilinear2d.vec whole, then leaves it: to_edge fails as in executorch."""
    model = f"{fixtures_dir}/compiler_rewrites.py:upsample"
    failed = lower(model, ["openvino"], cache=False)
    error = failed["openvino"].error
    assert error.stage == "to_edge" and error.exclude_op == "aten.upsample_bilinear2d.vec"
    assert error.message.startswith("the backend asked to keep aten.upsample_bilinear2d.vec whole")
    assert "try --exclude-op aten.upsample_bilinear2d.vec" in failed.summary()

    again = lower(model, ["openvino"], exclude_ops=[error.exclude_op], cache=False)["openvino"]
    assert again.ok, again.summary_line()
    assert again.placement.delegated_nodes > 0
