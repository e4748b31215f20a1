"""Any input structure torch.export accepts works end to end: nested args, kwargs, plain values.

References are the plain executorch API (`torch.export.export(m, args, kwargs=kw)` ->
`to_edge_transform_and_lower` -> `get_delegation_info`, and `executorch.runtime` called
directly), never our own earlier output.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from _checks import assert_matches_delegation_info

from etworkbench import UsageError, load_model, lower, preview
from etworkbench import runtime as _run
from etworkbench.lowering._calibration import load_calibration

REPO = Path(__file__).resolve().parent.parent
FIX = "tests/fixtures/pytree_models.py"


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(REPO)  # the fixture references are relative, as users type them


def _factory(name: str):
    """The fixture factory itself, imported without our loader."""
    spec = importlib.util.spec_from_file_location("pytree_models_ref", REPO / FIX)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    produced = getattr(module, name)()
    return produced[0].eval(), produced[1], (produced[2] if len(produced) == 3 else {})


def _plain_graph(module, args, kwargs):
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    program = torch.export.export(module, args, kwargs=kwargs)
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    return edge.exported_program().graph_module


@pytest.fixture(scope="module")
def lstm_result():
    report = lower(f"{FIX}:lstm_factory", ["xnnpack"], cache=False)
    return report["xnnpack"]


# -- placement equals the plain API ------------------------------------------------------------


def test_lstm_with_state_tuple_places_like_the_plain_api(lstm_result):
    assert lstm_result.ok, lstm_result.summary_line()
    assert lstm_result.placement.delegated_nodes > 0
    assert_matches_delegation_info(_plain_graph(*_factory("lstm_factory")), lstm_result.placement)


@pytest.mark.parametrize(
    "factory", ["kwargs_factory", "dict_factory", "index_put_factory"], ids=str
)
def test_kwargs_dicts_plain_values_and_index_tuples_place_like_the_plain_api(factory):
    module, args, kwargs = _factory(factory)
    if factory == "dict_factory":  # through a file reference (the factory's own return)
        result = lower(f"{FIX}:{factory}", ["xnnpack"], cache=False)["xnnpack"]
    else:  # a module passed from Python, kwargs given to lower()
        result = lower(
            module, ["xnnpack"], example_inputs=args, example_kwargs=kwargs, cache=False
        )["xnnpack"]
    assert result.ok, result.summary_line()
    assert result.placement.delegated_nodes > 0
    assert_matches_delegation_info(_plain_graph(*_factory(factory)), result.placement)


def test_preview_and_workbench_take_kwargs():
    from etworkbench import Workbench

    module, args, kwargs = _factory("kwargs_factory")
    reference = _plain_graph(module, args, kwargs)
    previewed = preview(module, ["xnnpack"], example_inputs=args, example_kwargs=kwargs)
    assert (
        previewed["xnnpack"].ok
        and previewed.inputs == "x: float32[2, 8], mask=float32[2, 8], scale=0.5"
    )
    wb = Workbench(model=module, example_inputs=args, example_kwargs=kwargs, backends=["xnnpack"])
    report = wb.lower()
    assert report is not None and report["xnnpack"].ok, wb.message.value
    for result in (previewed["xnnpack"], report["xnnpack"]):
        assert_matches_delegation_info(reference, result.placement)


def test_worker_processes_get_the_kwargs():
    module, args, kwargs = _factory("kwargs_factory")
    report = lower(
        module,
        ["xnnpack", "portable"],
        example_inputs=args,
        example_kwargs=kwargs,
        jobs=2,
        cache=False,
    )
    assert all(r.ok for r in report.results), report.summary()
    assert_matches_delegation_info(_plain_graph(module, args, kwargs), report["xnnpack"].placement)
    assert report["portable"].placement.fallback_nodes > 0


def test_export_without_the_kwargs_fails_so_they_are_really_passed():
    module, args, _ = _factory("kwargs_factory")
    result = lower(module, ["xnnpack"], example_inputs=args, cache=False)["xnnpack"]
    assert result.status == "failed" and result.error.stage == "export"
    assert "mask" in result.error.message


# -- ModelSpec: checking and describing ---------------------------------------------------------


def test_factory_may_return_kwargs_and_spec_has_them():
    spec = load_model(f"{FIX}:kwargs_factory")
    assert set(spec.example_kwargs) == {"mask", "scale"} and spec.example_kwargs["scale"] == 0.5
    assert load_model(f"{FIX}:lstm_factory").example_kwargs == {}
    assert load_model("tiny_convnet", lazy=True).example_kwargs == {}


def test_describe_inputs_uses_forward_names_and_stays_short():
    assert (
        load_model(f"{FIX}:lstm_factory").describe_inputs()
        == "x: float32[1, 3, 8], state: (float32[1, 1, 16], float32[1, 1, 16])"
    )
    assert (
        load_model(f"{FIX}:dict_factory").describe_inputs()
        == "features: {image: float32[1, 6], text: float32[1, 6]}, steps: 2, bias: None"
    )
    assert (
        load_model(f"{FIX}:kwargs_factory").describe_inputs()
        == "x: float32[2, 8], mask=float32[2, 8], scale=0.5"
    )

    class Many(torch.nn.Module):
        def forward(self, layers, table):
            return layers[0]

    same = tuple(torch.zeros(1, 4) for _ in range(12))
    mixed = [torch.zeros(i + 1) for i in range(30)]
    deep = {"a": {"b": {"c": {"d": torch.zeros(1)}}}}
    text = load_model(Many(), (same, mixed), example_kwargs={"deep": deep}).describe_inputs()
    assert text.startswith("layers: (12× float32[1, 4]), table: [float32[1], float32[2]")
    assert "… +26 more" in text and "deep={a: {b: {c: dict of 1}}}" in text
    assert len(text) <= 240


BAD_LEAVES = [
    ((torch.zeros(2), {"h": np.zeros(2)}), None, "example_inputs[1]['h'] is a ndarray"),
    (
        (torch.zeros(2),),
        {"cfg": [torch.zeros(1), object()]},
        "example_kwargs['cfg'][1] is a object",
    ),
    ((torch.zeros(2), ("mode",)), None, "example_inputs[1][0] is a str"),
]


@pytest.mark.parametrize(("args", "kwargs", "needle"), BAD_LEAVES, ids=lambda v: str(v)[:20])
def test_a_bad_leaf_is_a_usage_error_naming_its_path(args, kwargs, needle):
    with pytest.raises(UsageError) as info:
        lower(torch.nn.Identity(), ["xnnpack"], example_inputs=args, example_kwargs=kwargs)
    message = str(info.value)
    assert needle in message and "tensors, ints, floats, bools and None" in message


# -- host runs --------------------------------------------------------------------------------


def test_run_flattens_nested_inputs_like_the_runtime_and_compares_every_output(lstm_result):
    from executorch.runtime import Runtime

    module, (x, (h0, c0)), _ = _factory("lstm_factory")
    method = Runtime.get().load_program(lstm_result.buffer).load_method("forward")
    y, h, c = method.execute([x, h0, c0])  # the runtime's own flat form: every leaf in order
    with torch.no_grad():
        eager_y, (eager_h, eager_c) = module(x, (h0, c0))
    for got, want in ((y, eager_y), (h, eager_h), (c, eager_c)):
        assert torch.allclose(got, want, atol=1e-5)

    report = lstm_result.run(random_inputs=2, repeats=2, warmup=0)
    assert report.ok, report.reason
    assert report.inputs_checked == 3 and report.error.max_abs < 1e-4


def test_random_inputs_keep_the_structure_and_plain_values():
    args = ({"image": torch.randn(1, 6), "ids": torch.tensor([3, 5])}, 2, None)
    (again,) = _run.random_like((args, {"scale": 0.5}), 1, seed=1)
    (features, steps, bias), kwargs = again
    assert (steps, bias, kwargs["scale"]) == (2, None, 0.5)
    assert features["image"].shape == (1, 6) and not torch.equal(
        features["image"], args[0]["image"]
    )
    assert features["ids"].dtype == torch.int64 and 3 <= int(features["ids"].min()) <= 5


def test_run_with_int_and_none_leaves():
    result = lower(f"{FIX}:dict_factory", ["xnnpack"], cache=False)["xnnpack"]
    report = result.run(random_inputs=1, repeats=1, warmup=0)
    assert report.ok, report.reason
    assert report.error.max_abs < 1e-4 and report.inputs_checked == 2


def test_cli_lowers_and_runs_the_lstm_factory(capsys):
    from etworkbench.cli import main

    argv = ["lower", f"{FIX}:lstm_factory", "--backends", "xnnpack", "--json", "--no-cache"]
    code = main([*argv, "--run", "--repeats", "2"])
    data = json.loads(capsys.readouterr().out)
    (result,) = data["results"]
    assert code == 0 and result["status"] == "ok", result
    assert data["inputs"] == "x: float32[1, 3, 8], state: (float32[1, 1, 16], float32[1, 1, 16])"
    assert result["run"]["status"] == "ok"
    assert result["run"]["error"]["max_abs"] < 1e-4


# -- calibration --------------------------------------------------------------------------------


def _lstm_batch(hidden: int = 16, extra: bool = False):
    state = tuple(torch.randn(1, 1, hidden) for _ in range(3 if extra else 2))
    return (torch.randn(1, 3, 8), state)


def test_calibration_batches_are_checked_against_the_nested_structure():
    module, args, _ = _factory("lstm_factory")
    good = [_lstm_batch(), _lstm_batch()]
    assert len(load_calibration(good, args).batches) == 2

    with pytest.raises(UsageError) as info:
        lower(
            module,
            ["xnnpack"],
            "int8",
            example_inputs=args,
            calibration=[_lstm_batch(), _lstm_batch(extra=True)],
        )
    message = str(info.value)
    assert "calibration data: batch 1 is structured differently from the example inputs" in message
    assert "input[1] is (3× float32[1, 1, 16]) but the example has" in message

    with pytest.raises(UsageError, match=r"batch 0, input\[1\]\[1\] is float32\[1, 1, 4\]"):
        load_calibration(
            [(torch.randn(1, 3, 8), (torch.randn(1, 1, 16), torch.randn(1, 1, 4)))], args
        )


def test_calibration_with_kwargs_batches_quantizes_and_checks_plain_values():
    module, args, kwargs = _factory("kwargs_factory")
    batches = [((torch.randn(2, 8),), {"mask": torch.rand(2, 8), "scale": 0.5}) for _ in range(3)]
    checked = load_calibration(batches, args, kwargs)
    assert [set(b.kwargs) for b in checked.batches] == [{"mask", "scale"}] * 3
    assert pickle.loads(pickle.dumps(checked.batches[0])).kwargs.keys() == {"mask", "scale"}
    result = lower(
        module,
        ["xnnpack"],
        "int8",
        example_inputs=args,
        example_kwargs=kwargs,
        calibration=batches,
        cache=False,
    )["xnnpack"]
    assert result.ok and result.calibration_batches == 3, result.summary_line()
    with pytest.raises(
        UsageError, match=r"batch 0, kwargs\['scale'\] is 0.7 but the model was exported with 0.5"
    ):
        load_calibration(
            [((torch.randn(2, 8),), {"mask": torch.ones(2, 8), "scale": 0.7})], args, kwargs
        )
