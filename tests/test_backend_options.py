"""Backend compile options: declared per backend, validated before any work, handed to the
partitioners (read back from the .pte's delegate compile specs, or seen in the placement),
part of the cache key only when they differ from the defaults, reported, and offered by the
CLI and the app."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from etworkbench import lower
from etworkbench.analysis.compile_specs import delegate_compile_specs
from etworkbench.backends import BackendOption, backend_names, get_backend, normalize_options
from etworkbench.errors import UsageError
from etworkbench.lowering import preview
from etworkbench.lowering._cache import program_key
from etworkbench.lowering._engine import cache_key


def _specs(result, backend_id: str):
    specs = [d for d in delegate_compile_specs(result.pte_data) if d.backend_id == backend_id]
    assert specs, f"no {backend_id} delegate in {result.summary_line()}"
    return specs[0]


# -- declarations and validation ----------------------------------------------------------------


def test_every_backend_declares_options_as_plain_data():
    declared = {name: get_backend(name).options for name in backend_names()}
    assert {"compute_unit", "minimum_deployment_target", "compute_precision"} <= set(
        declared["coreml"]
    )
    assert {"per_op_mode", "config_precisions"} <= set(declared["xnnpack"])
    assert set(declared["openvino"]) == {"device"}
    assert {"storage_type", "force_fp16"} <= set(declared["vulkan"])
    assert {"target", "memory_mode"} <= set(declared["ethosu"])
    assert "tosa_spec" in declared["tosa"]
    for name, options in declared.items():
        for key, option in options.items():
            assert isinstance(option, BackendOption) and option.name == key and option.doc
            assert option.parse(option.default, name) == option.default  # defaults are valid


def test_declaring_options_imports_no_torch():
    code = (
        "import sys; from etworkbench.backends import backend_facts, normalize_options; "
        "facts = backend_facts(); "
        "normalize_options({'coreml.compute_unit': 'cpu_only'}, ['coreml']); "
        "print(sum(len(f.options) for f in facts), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, imported = out.stdout.split()
    assert int(count) > 15 and imported == "False"


def test_nested_and_flat_spellings_normalize_alike():
    nested = {"coreml": {"compute_unit": "cpu_only", "lower_full_graph": "yes"}}
    flat = {"coreml.lower_full_graph": True, "coreml.compute_unit": "CPU_ONLY"}
    expected = (("coreml", "compute_unit", "CPU_ONLY"), ("coreml", "lower_full_graph", "true"))
    assert normalize_options(nested, ["coreml"]) == expected
    assert normalize_options(flat, "coreml") == expected
    assert normalize_options(expected, ["coreml"]) == expected  # its own output passes through
    defaults = {"coreml.compute_unit": "ALL", "coreml.minimum_deployment_target": "auto"}
    assert normalize_options(defaults, ["coreml"]) == ()


@pytest.mark.parametrize(
    ("options", "backends", "words"),
    [
        ({"coreml.compute_unit": "GPU"}, ["coreml"], ["coreml.compute_unit", "CPU_AND_NE"]),
        ({"coreml": {"units": "ALL"}}, ["coreml"], ["coreml", "'units'", "compute_unit"]),
        ({"coreml.compute_unit": "ALL"}, ["xnnpack"], ["coreml", "not among", "xnnpack"]),
        ({"nosuch.key": 1}, ["xnnpack"], ["nosuch", "xnnpack, coreml"]),
        ({"xnnpack.per_op_mode": "maybe"}, ["xnnpack"], ["per_op_mode", "true, false"]),
        ({"compute_unit": "ALL"}, ["coreml"], ["BACKEND.KEY"]),
        ({"portable.x": 1}, ["portable"], ["portable", "none"]),
    ],
)
def test_bad_options_are_usage_errors_before_the_model_is_built(options, backends, words):
    with pytest.raises(UsageError) as raised:  # the model reference would fail if it were built
        lower("no_such_file.py:build", backends, options=options, cache=False)
    for word in words:
        assert word in str(raised.value)
    with pytest.raises(UsageError):
        preview("no_such_file.py:build", backends, options=options)


def test_a_deployment_target_below_the_schemes_floor_names_both():
    with pytest.raises(UsageError) as raised:
        lower(
            "teaching_net",
            ["coreml"],
            "int8",
            options={"coreml": {"minimum_deployment_target": "iOS16"}},
        )
    assert "iOS16" in str(raised.value) and "iOS17" in str(raised.value)


def test_a_tosa_spec_without_the_schemes_profile_is_refused():
    with pytest.raises(UsageError, match=r"tosa.tosa_spec=TOSA-1.0\+FP has no INT profile"):
        lower("teaching_net", ["tosa"], "int8", options={"tosa.tosa_spec": "TOSA-1.0+FP"})


# -- what each option changes --------------------------------------------------------------------


def test_coreml_options_land_in_the_delegates_compile_specs():
    default = lower("teaching_net", ["coreml"], cache=False)["coreml"]
    chosen = lower(
        "teaching_net",
        ["coreml"],
        cache=False,
        options={
            "coreml": {
                "compute_unit": "CPU_ONLY",
                "minimum_deployment_target": "iOS17",
                "compute_precision": "FLOAT32",
            }
        },
    )["coreml"]
    assert default.ok and chosen.ok, (default.summary_line(), chosen.summary_line())
    before, after = _specs(default, "CoreMLBackend"), _specs(chosen, "CoreMLBackend")
    assert before.text("compute_units") == "all" and after.text("compute_units") == "cpu_only"
    assert before.text("min_deployment_target") == "" and after.text("min_deployment_target") == "8"
    assert before.text("model_compute_precision") == "float16"
    assert after.text("model_compute_precision") == "float32"
    assert chosen.options == (
        "coreml.compute_precision=FLOAT32",
        "coreml.compute_unit=CPU_ONLY",
        "coreml.minimum_deployment_target=iOS17",
    )
    assert default.options == ()
    assert "options coreml.compute_precision=FLOAT32" in chosen.summary_line()
    data = chosen.to_dict()
    assert data["options"]["coreml.compute_unit"] == "CPU_ONLY"
    assert default.to_dict()["options"] == {}
    json.dumps(data)


class _Accumulator(torch.nn.Module):
    """A stateful model: a buffer updated in place each call (Core ML state: iOS18+)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("total", torch.zeros(1, 4))

    def forward(self, x):
        self.total.add_(x)
        return self.total * 2


def test_a_stateful_model_on_coreml_says_which_option_to_pass():
    x = (torch.ones(1, 4),)
    failed = lower(_Accumulator(), ["coreml"], example_inputs=x, cache=False)["coreml"]
    assert failed.status == "failed"
    assert "--option coreml.minimum_deployment_target=iOS18" in failed.error.one_line
    fixed = lower(
        _Accumulator(),
        ["coreml"],
        example_inputs=x,
        cache=False,
        options={"coreml.minimum_deployment_target": "iOS18"},
    )["coreml"]
    assert fixed.ok, fixed.summary_line()
    assert _specs(fixed, "CoreMLBackend").text("min_deployment_target") == "9"


def _conv_relu_linear():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 8),
        torch.nn.Tanh(),
    )
    return net.eval(), (torch.randn(1, 3, 8, 8),)


def test_xnnpack_per_op_mode_makes_more_smaller_delegates():
    net, x = _conv_relu_linear()
    per_op_mode = {"xnnpack.per_op_mode": "true"}
    merged = lower(net, ["xnnpack"], example_inputs=x, cache=False)["xnnpack"]
    per_op = lower(net, ["xnnpack"], example_inputs=x, options=per_op_mode)["xnnpack"]
    assert merged.ok and per_op.ok
    assert merged.placement.delegated_nodes == per_op.placement.delegated_nodes
    assert [d.nodes for d in merged.placement.delegates] == [5]  # one subgraph
    sizes = [d.nodes for d in per_op.placement.delegates]
    assert len(sizes) > 1 and max(sizes) < 5
    # the preview places with the same options (and keeps its decompositions apart)
    shown = preview(net, ["xnnpack"], example_inputs=x, options=per_op_mode)["xnnpack"]
    plain = preview(net, ["xnnpack"], example_inputs=x)["xnnpack"]
    assert [d.nodes for d in shown.placement.delegates] == sizes
    assert [d.nodes for d in plain.placement.delegates] == [5]
    assert shown.options == ("xnnpack.per_op_mode=true",) and plain.options == ()


def test_vulkan_options_land_in_the_delegates_compile_specs():
    options = {"vulkan": {"force_fp16": "on", "storage_type": "buffer"}}
    result = lower("teaching_net", ["vulkan"], options=options, cache=False)["vulkan"]
    default = lower("teaching_net", ["vulkan"], cache=False)["vulkan"]
    assert result.ok and default.ok
    specs = _specs(result, "VulkanBackend").specs
    assert specs["force_fp16"] == b"\x01"
    assert int.from_bytes(specs["storage_type_override"], "little") == 0  # VkStorageType.BUFFER
    assert "force_fp16" not in _specs(default, "VulkanBackend").specs


def test_openvino_device_lands_in_the_spec_and_a_missing_one_names_this_hosts():
    from etworkbench.backends.openvino import host_devices

    result = lower("teaching_net", ["openvino"], cache=False)["openvino"]
    assert result.ok and _specs(result, "OpenvinoBackend").text("device") == "CPU"
    devices = host_devices()
    missing = next((d for d in ("NPU", "GPU") if not any(h.startswith(d) for h in devices)), None)
    if missing is None:
        pytest.skip(f"this host has every OpenVINO device ({devices})")
    for report in (
        lower("teaching_net", ["openvino"], options={"openvino.device": missing}),
        preview("teaching_net", ["openvino"], options={"openvino.device": missing}),
    ):
        failed = report["openvino"]
        assert failed.status == "failed"
        assert f"OpenVINO device {missing} is not present on this host" in failed.error.message
        assert ", ".join(devices) in failed.error.message


def test_arm_target_memory_mode_and_tosa_spec_land_in_the_compile_specs():
    options = {
        "ethosu": {"target": "ethos-u85-256", "memory_mode": "Sram_Only"},
        "tosa.tosa_spec": "TOSA-1.0+FP+INT",
    }
    report = lower("teaching_net", ["ethosu", "tosa"], options=options, cache=False)
    if not report["ethosu"].ok:  # vela missing here: still validated, reported unavailable
        assert report["ethosu"].status == "unavailable", report["ethosu"].summary_line()
    else:
        flags = _specs(report["ethosu"], "EthosUBackend").text("compile_flags")
        assert "--accelerator-config=ethos-u85-256" in flags and "--memory-mode=Sram_Only" in flags
    if report["tosa"].ok:
        assert _specs(report["tosa"], "TOSABackend").text("tosa_spec") == "TOSA-1.0+FP+INT"


@pytest.mark.slow
def test_options_reach_forked_workers_and_the_plain_api_side():
    from etworkbench.conformance._cases import Case
    from etworkbench.conformance._compare import compare_case
    from etworkbench.conformance._targets import Target
    from etworkbench.lowering._worker_protocol import LowerRequest

    options = {"coreml.compute_unit": "CPU_AND_NE", "xnnpack.per_op_mode": True}
    report = lower("teaching_net", ["xnnpack", "coreml"], options=options, jobs=2, cache=False)
    assert _specs(report["coreml"], "CoreMLBackend").text("compute_units") == "cpu_and_ne"
    assert report["xnnpack"].options == ("xnnpack.per_op_mode=true",)
    normalized = normalize_options(options, ["xnnpack", "coreml"])
    request = LowerRequest("x", "teaching_net", ["xnnpack"], options=normalized)
    assert pickle.loads(pickle.dumps(request)).options == request.options  # spawnable

    def build():
        return (*_conv_relu_linear(), {})

    target = Target(("xnnpack",), "fp32", (("xnnpack", "per_op_mode", "true"),))
    result = compare_case(Case("tricky", "conv_relu_linear", build), target, deterministic=True)
    assert result.outcome == "agree", result.differences
    assert result.plain.subgraphs == result.workbench.subgraphs == 4  # 1 without the option


# -- cache keys ---------------------------------------------------------------------------------

_BACKENDS = ("coreml", "xnnpack", "vulkan")


def _spellings(option: BackendOption, value):
    """Every way a user may write `value` for `option`."""
    if value is None:
        return ["auto", "AUTO", None]
    if isinstance(value, bool):
        return [value, str(value).lower(), str(value).upper(), "1" if value else "0"]
    return [value, value.lower(), f" {value} "]


@st.composite
def _assignments(draw):
    """{(backend, key): effective value} over a few options of three backends."""
    chosen = {}
    for backend in _BACKENDS:
        for option in list(get_backend(backend).options.values())[:3]:
            values = ([None] if option.default is None else []) + (
                list(option.choices) if option.choices else [False, True]
            )
            if draw(st.booleans()):
                chosen[(backend, option.name)] = draw(st.sampled_from(values))
    return chosen


def _spelled(draw, assignment, nested: bool):
    items = list(assignment.items())
    items = draw(st.permutations(items))
    out: dict = {}
    for (backend, key), value in items:
        spelling = draw(st.sampled_from(_spellings(get_backend(backend).options[key], value)))
        if nested:
            out.setdefault(backend, {})[key] = spelling
        else:
            out[f"{backend}.{key}"] = spelling
    return out


def _key(options) -> str:
    normalized = normalize_options(options, list(_BACKENDS))
    return cache_key("zoo:teaching_net", list(_BACKENDS), "fp32", [], None, normalized)


def _effective(assignment) -> dict:
    return {(b, k): v for (b, k), v in assignment.items() if get_backend(b).options[k].default != v}


@settings(max_examples=60, deadline=None, database=None)
@given(st.data())
def test_cache_keys_follow_the_effective_option_values(data):
    first, second = data.draw(_assignments()), data.draw(_assignments())
    key_a = _key(_spelled(data.draw, first, data.draw(st.booleans())))
    key_a_again = _key(_spelled(data.draw, first, data.draw(st.booleans())))
    key_b = _key(_spelled(data.draw, second, data.draw(st.booleans())))
    assert key_a == key_a_again  # any spelling, any order, nested or flat
    assert (key_a == key_b) == (_effective(first) == _effective(second))
    if not _effective(first):  # defaults written out: the key options never changed
        legacy = program_key("zoo:teaching_net", list(_BACKENDS), "fp32", "")
        assert key_a == legacy


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_option_errors_exit_2_and_backends_lists_the_options(capsys):
    from etworkbench.cli import main

    assert main(["lower", "teaching_net", "--option", "xnnpack.per_op_mode=maybe"]) == 2
    assert "xnnpack.per_op_mode: 'maybe' is not a valid value" in capsys.readouterr().err
    assert main(["lower", "teaching_net", "--option", "coreml.compute_unit=ALL"]) == 2
    assert "not among the chosen backends" in capsys.readouterr().err
    assert main(["lower", "teaching_net", "--option", "xnnpack.per_op_mode"]) == 2
    assert "BACKEND.KEY=VALUE" in capsys.readouterr().err
    assert main(["backends", "--options", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    unit = next(r for r in rows if r["backend"] == "coreml" and r["option"] == "compute_unit")
    assert unit["default"] == "ALL" and "CPU_AND_NE" in unit["values"] and unit["doc"]
    assert main(["backends", "--options"]) == 0
    assert "--option openvino.device=VALUE  default CPU" in capsys.readouterr().out


def test_cli_lower_with_an_option_reports_it(tmp_path, capsys):
    from etworkbench.cli import main

    argv = ["lower", "teaching_net", "--out", str(tmp_path), "--json"]
    assert main([*argv, "--option", "xnnpack.per_op_mode=1"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert result["options"] == {"xnnpack.per_op_mode": "true"}
    assert result["delegated_subgraphs"] >= 2


# -- the app ------------------------------------------------------------------------------------


def test_option_dropdowns_follow_the_ticked_backends_and_reach_lower(monkeypatch):
    from etworkbench import Workbench
    from etworkbench.ui import _app

    wb = Workbench()
    wb.background = False
    rows = wb.controls.backend_options
    assert rows.children == ()  # nothing ticked: no option rows
    wb.select(model="teaching_net", backends=["xnnpack", "portable"])
    assert [row for row in rows.children] == [rows.rows["xnnpack"]]  # portable declares none
    per_op = rows.dropdowns["xnnpack"]["per_op_mode"]
    assert per_op.value is False and per_op.options[0] == ("false (default)", False)

    calls = []
    real_lower = _app.lower

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return real_lower(*args, **kwargs)

    monkeypatch.setattr(_app, "lower", recording)
    wb.select(backends=["xnnpack"])
    per_op.value = True
    assert wb.state.selection.options == (("xnnpack", "per_op_mode", "true"),)
    report = wb.lower()
    assert calls[-1]["options"] == (("xnnpack", "per_op_mode", "true"),)
    assert report["xnnpack"].options == ("xnnpack.per_op_mode=true",)
    assert not wb.state.stale
    per_op.value = False  # a changed option makes what is shown stale, like any control
    assert wb.state.stale and "xnnpack.per_op_mode=true" in wb.state.note()
    wb.select(options={"xnnpack": {"config_precisions": "fp32"}})
    assert rows.dropdowns["xnnpack"]["config_precisions"].value == "FP32"
    with pytest.raises(UsageError):
        wb.select(options={"coreml.compute_unit": "ALL"})  # coreml is not ticked


@pytest.mark.parametrize(
    ("backend", "chosen", "flag"),
    [
        ("ethosu", {"target": "ethos-u85-256"}, "--accelerator-config=ethos-u85-256"),
        ("tosa", {"tosa_spec": "TOSA-1.0+INT+int16"}, "TOSA-1.0+INT+int16"),
    ],
)
def test_an_arm_quantizer_is_built_for_the_chosen_target(backend, chosen, flag):
    """The int8 quantizer and the partitioner share one compile spec: quantizing for the
    default target while partitioning for another would give a program for neither."""
    arm = get_backend(backend)
    quantizer = arm.schemes["int8"].make_quantizer(arm.resolve_options(chosen))
    assert flag in str(quantizer.compile_spec)
    default = arm.schemes["int8"].make_quantizer(arm.resolve_options({}))
    assert flag not in str(default.compile_spec)
