"""Every scheme that lowers here lowers a tiny model; the rest say why (etwb schemes)."""

from __future__ import annotations

import json
import sys
import types
from collections import Counter
from pathlib import Path

import pytest

from etworkbench import load_model, lower
from etworkbench.backends import backend_names, get_backend
from etworkbench.backends._base import Availability
from etworkbench.backends._documented import DOCUMENTED_ONLY, is_documented_only
from etworkbench.cli import main
from etworkbench.errors import UsageError

# (backend, scheme, model): tiny models; 8da4w needs linears whose width is a multiple of 32.
FAST = [
    ("xnnpack", "int8", "tiny_convnet"),
    ("xnnpack", "int8-dynamic", "tiny_convnet"),
    ("xnnpack", "int8-per-tensor", "tiny_convnet"),
    ("coreml", "fp32", "tiny_convnet"),
    ("coreml", "int8-weight", "tiny_convnet"),
    ("coreml", "int4-weight", "tiny_convnet"),
    ("vulkan", "fp16", "tiny_convnet"),
    ("tosa", "int8", "tiny_convnet"),
]
SLOW = [
    ("xnnpack", "8da4w", "transformer_block"),
    ("vulkan", "int8-weight", "tiny_convnet"),
    ("openvino", "int8", "tiny_convnet"),
    ("ethosu", "int8", "tiny_convnet"),
    ("coreml", "int8", "tiny_convnet"),  # CoreMLQuantizer prepare is slow
]


def _check(backend, scheme, model):
    result = lower(model, [backend], scheme, cache=False)[backend]
    assert result.ok, (result.status, result.error and result.error.one_line)
    assert result.scheme == scheme
    assert result.placement.delegated_nodes > 0


@pytest.mark.parametrize(("backend", "scheme", "model"), FAST)
def test_scheme_lowers(backend, scheme, model):
    _check(backend, scheme, model)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "scheme", "model"), SLOW)
def test_slow_scheme_lowers(backend, scheme, model):
    _check(backend, scheme, model)


def test_every_lowering_scheme_is_covered():
    covered = {(b, s) for b, s, _ in FAST + SLOW}
    for name in ("xnnpack", "coreml", "vulkan", "openvino", "ethosu", "tosa"):
        for scheme in get_backend(name).schemes.values():
            if scheme.name != get_backend(name).default_scheme or scheme.quantizer:
                assert (name, scheme.name) in covered or scheme.name in ("fp32", "fp16"), (
                    name,
                    scheme.name,
                )


def test_required_scheme_names():
    for name in ("xnnpack", "openvino"):
        assert "int8" in get_backend(name).schemes
    assert {"fp32", "int8", "int8-dynamic", "int8-per-tensor", "8da4w"} <= set(
        get_backend("xnnpack").schemes
    )
    assert {"fp32", "fp16", "int8", "int8-weight", "int4-weight"} <= set(
        get_backend("coreml").schemes
    )


def test_unknown_scheme_error_names_valid_ones():
    from etworkbench.errors import UsageError

    with pytest.raises(UsageError) as err:
        lower("tiny_convnet", ["openvino"], "int3")
    assert "fp32" in str(err.value) and "int8" in str(err.value)


def test_schemes_cli_json(capsys):
    assert main(["schemes", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["backend"] for r in rows} == set(backend_names())
    for row in rows:
        assert row["lowers_here"] or row["note"].startswith("cannot lower here: "), row
    qnn = [r for r in rows if r["backend"] == "qnn"]
    assert qnn and not any(r["lowers_here"] for r in qnn)


# -- every scheme is real, float, or documented-only -------------------------------------------

FLOAT_SCHEMES = {"fp32", "fp16"}  # precisions the partitioner's compile spec picks, no quantizer
# Quantized schemes slow enough to run only with the slow tests (a quantizer prepare of minutes).
SLOW_QUANTIZE = {("coreml", "int8")}


def _all_schemes():
    return [(name, s.name) for name in backend_names() for s in get_backend(name).schemes.values()]


def _quantized_schemes():
    return [
        pytest.param(b, s, marks=[pytest.mark.slow] if (b, s) in SLOW_QUANTIZE else [])
        for b, s in _all_schemes()
        if not get_backend(b).schemes[s].float_export
    ]


def _documented_schemes():
    return [(b, s) for b, s in _all_schemes() if is_documented_only(get_backend(b).schemes[s])]


def test_scheme_lists_are_not_empty():
    assert len(_quantized_schemes()) >= 15 and len(_documented_schemes()) >= 1


@pytest.mark.parametrize(("backend", "scheme"), _all_schemes())
def test_every_scheme_is_real_float_or_documented_only(backend, scheme):
    declared = get_backend(backend).schemes[scheme]
    if is_documented_only(declared):
        assert declared.float_export and declared.pt2e is None  # nothing that would quantize
        assert len(declared.note) > len(DOCUMENTED_ONLY) + 20, declared.note  # a real reason
    elif declared.float_export:
        # A scheme with nothing that quantizes lowers the float program: it must say so.
        assert scheme in FLOAT_SCHEMES, f"{backend}/{scheme} would lower a float program"
        assert declared.lowers_here and declared.pt2e is None
    else:  # test_quantized_scheme_changes_the_program checks it
        assert declared.quantizer is not None or declared.transform is not None


@pytest.fixture
def sdk_free(monkeypatch):
    """Let quantizers whose import needs a vendor SDK load without it, and never download one.

    QNN: an empty QNN_SDK_ROOT tells executorch the caller manages the SDK (unset, it would
    download it). MediaTek: the package's __init__ imports the partitioner, which needs the
    SDK's mtk_converter; the quantizer code does not, so it is loaded without that __init__.
    """
    import executorch.backends as backends_pkg

    monkeypatch.setenv("QNN_SDK_ROOT", "")
    before = set(sys.modules)
    package = types.ModuleType("executorch.backends.mediatek")
    package.__path__ = [str(Path(backends_pkg.__path__[0]) / "mediatek")]
    real = sys.modules.get("executorch.backends.mediatek")
    if real is None:
        monkeypatch.setitem(sys.modules, "executorch.backends.mediatek", package)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("executorch.backends.mediatek"):
            del sys.modules[name]
    if real is None and getattr(backends_pkg, "mediatek", None) is package:
        delattr(backends_pkg, "mediatek")


def _targets(program) -> Counter:
    return Counter(str(n.target) for n in program.graph.nodes if n.op == "call_function")


@pytest.mark.parametrize(("backend", "scheme"), _quantized_schemes())
def test_quantized_scheme_changes_the_program(backend, scheme, sdk_free):
    """The scheme's quantizer (or eager transform) really quantizes: q/dq ops appear, or the
    transform changes the exported graph (torchao weight-only / 8da4w)."""
    import torch

    from etworkbench.lowering._quantize import quantize

    declared = get_backend(backend).schemes[scheme]
    spec = load_model(MODEL_FOR.get(scheme, "tiny_convnet"))
    batches = [tuple(spec.example_inputs)]
    quantized = _targets(quantize(spec, declared, batches))
    plain = _targets(torch.export.export(spec.module, tuple(spec.example_inputs)))
    if declared.quantizer is not None or declared.pt2e is not None:
        qdq = {t for t in quantized if "quantize" in t}
        assert qdq, f"{backend}/{scheme}: no quantize/dequantize op in {dict(quantized)}"
    assert quantized != plain, f"{backend}/{scheme} left the program as exported"


MODEL_FOR = {"8da4w": "transformer_block"}  # 8da4w needs linears of a width divisible by 32


@pytest.mark.parametrize(("backend", "scheme"), [("qnn", "16a8w"), ("mediatek", "16a8w")])
def test_16_bit_activation_schemes_quantize_activations_to_16_bits(backend, scheme, sdk_free):
    import torch

    from etworkbench.lowering._quantize import quantize

    spec = load_model("tiny_convnet")
    program = quantize(spec, get_backend(backend).schemes[scheme], [tuple(spec.example_inputs)])
    # (input, scale, zero_point, quant_min, quant_max, dtype): QNN keeps 16-bit values in int32
    spans = {
        (node.args[3], node.args[4], node.args[5])
        for node in program.graph.nodes
        if str(node.target).startswith("quantized_decomposed.quantize_per_tensor")
    }
    assert spans and all(high - low == 65535 for low, high, _ in spans), spans
    assert all(dtype in (torch.int16, torch.uint16, torch.int32) for *_, dtype in spans), spans


@pytest.mark.parametrize(("backend", "scheme"), _documented_schemes())
def test_lowering_a_documented_only_scheme_is_refused(backend, scheme, monkeypatch):
    """With the backend's SDK (availability patched) the lowering fails with the reason instead
    of lowering the float program under a quantized label."""
    target = get_backend(backend)
    monkeypatch.setattr(target, "availability", Availability(True))
    result = lower("tiny_convnet", [backend], scheme, cache=False)[backend]
    assert result.status == "failed" and result.error is not None, result.status
    message = result.error.message
    assert result.error.type == "UsageError", (result.error.type, message)
    assert backend in message and repr(scheme) in message, message
    assert target.schemes[scheme].note in message, message
    with pytest.raises(UsageError, match=scheme):  # the plain API path refuses the same way
        target.partitioners(scheme)


def test_cli_lists_documented_only_schemes_with_their_reason(capsys):
    assert main(["schemes", "--json"]) == 0
    rows = {(r["backend"], r["scheme"]): r for r in json.loads(capsys.readouterr().out)}
    for backend, scheme in _documented_schemes():
        row = rows[(backend, scheme)]
        assert not row["lowers_here"]
