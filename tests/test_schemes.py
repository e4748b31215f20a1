"""Every scheme that lowers here lowers a tiny model; the rest say why (etwb schemes)."""

from __future__ import annotations

import json

import pytest

from etworkbench import lower
from etworkbench.backends import backend_names, get_backend
from etworkbench.cli import main

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
