"""`timm:NAME` and `hf:MODEL_TYPE` references: built offline, lowered like the plain API."""

from __future__ import annotations

import socket

import pytest
import torch
from _checks import assert_matches_delegation_info

import etworkbench
from etworkbench import load_model
from etworkbench.errors import UsageError
from etworkbench.models import _refs

pytest.importorskip("timm")
pytest.importorskip("transformers")

TINY = "num_hidden_layers=2,hidden_size=64,intermediate_size=128,num_attention_heads=2"
BERT = f"hf:bert?{TINY}"


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt during the test fails loudly."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"network touched: connect{args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _lower_directly(spec):
    """The plain executorch API, so the comparison does not go through our pipeline."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    program = torch.export.export(spec.module, spec.example_inputs)
    return to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])


@pytest.mark.slow
@pytest.mark.parametrize("reference", ["timm:test_efficientnet", BERT])
def test_reference_lowers_like_the_plain_api(reference, no_network):
    report = etworkbench.lower(reference, ["xnnpack"], cache=False)
    result = report.results[0]
    assert result.ok, result.error
    spec = load_model(reference)  # seeded: the same weights and inputs again
    gm = _lower_directly(spec).exported_program().graph_module
    assert_matches_delegation_info(gm, result.placement)
    assert result.placement.delegated_nodes > 0


def test_timm_model_from_its_pretrained_config(no_network):
    spec = load_model("timm:test_vit")
    assert spec.name == "timm:test_vit"
    assert spec.classifier and not spec.module.training
    assert tuple(spec.example_inputs[0].shape) == (1, *spec.module.pretrained_cfg["input_size"])
    again = load_model("timm:test_vit")
    first = next(iter(spec.module.state_dict().values()))
    assert torch.equal(first, next(iter(again.module.state_dict().values())))  # fixed seed


def test_timm_overrides_are_create_model_kwargs(no_network):
    spec = load_model("timm:test_vit?num_classes=7")
    assert spec.module(*spec.example_inputs).shape == (1, 7)


def test_hf_reference_string_and_config_dict_agree(no_network):
    from_string = load_model(BERT)
    from_dict = load_model(
        "hf:bert",
        config={
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 2,
        },
    )
    assert from_string.name == from_dict.name == BERT.replace(",", "&")
    config = from_string.module.model.config
    assert (config.num_hidden_layers, config.hidden_size, config.model_type) == (2, 64, "bert")
    assert from_string.describe_inputs() == "input_ids: int64[1, 16], attention_mask: int64[1, 16]"
    ids = from_string.example_inputs[0]
    assert ids.max() < config.vocab_size and torch.equal(ids, from_dict.example_inputs[0])
    outputs = from_string.module(*from_string.example_inputs)
    assert isinstance(outputs, tuple) and all(isinstance(t, torch.Tensor) for t in outputs)


@pytest.mark.parametrize(
    "reference",
    [
        "hf:gpt2?num_hidden_layers=2&hidden_size=64&num_attention_heads=2",
        f"hf:llama?{TINY}",
        f"hf:vit?{TINY}",
        "hf:t5?num_layers=2,d_model=64,d_ff=128,num_heads=2,d_kv=32",
    ],
)
def test_hf_references_export(reference, no_network):
    spec = load_model(reference)
    torch.export.export(spec.module, spec.example_inputs)


def test_values_are_typed():
    assert _refs.parse_value("2") == 2
    assert _refs.parse_value("0.5") == 0.5
    assert _refs.parse_value("True") is True
    assert _refs.parse_value("none") is None
    assert _refs.parse_value("gelu") == "gelu"
    assert _refs.parse_value("'12'") == "12"
    assert _refs.with_overrides("hf:bert", ["a=1", "b=x"]) == "hf:bert?a=1&b=x"
    assert _refs.with_overrides("hf:bert?a=1", ["b=2"]) == "hf:bert?a=1&b=2"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("timm:resnet181", "did you mean: resnet18"),
        ("hf:bertt", "did you mean: bert"),
        ("hf:bert?num_hiden_layers=2", "did you mean: num_hidden_layers"),
        ("hf:bert?hidden_size=abc", "hidden_size must be an int"),
        ("hf:bert?hidden_size=63", "not a multiple of the number of attention heads"),
        ("hf:bert?num_hidden_layers", "is not key=value"),
        ("hf:llama", "over the 1 B limit"),
        ("hf:whisper", "takes 'input_features'"),
        ("timm:test_vit?no_such_kwarg=1", "does not take these overrides"),
        ("hf:", "names no model"),
    ],
)
def test_bad_references_are_usage_errors(reference, message, no_network):
    with pytest.raises(UsageError, match=message):
        load_model(reference)


def test_config_only_for_references():
    with pytest.raises(UsageError, match="timm:/hf:"):
        load_model("tiny_convnet", config={"a": 1})


def test_missing_library_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_transformers(name, *args, **kwargs):
        if name == "transformers" or name.startswith("transformers."):
            raise ImportError("No module named 'transformers'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_transformers)
    monkeypatch.setattr("importlib.import_module", lambda name: no_transformers(name))
    with pytest.raises(UsageError, match=r"pip install 'etworkbench\[models\]'"):
        load_model("hf:bert")


def test_cli_config_flag_and_models_listing(capsys, no_network):
    from etworkbench.cli import main

    assert main(["models"]) == 0
    assert "timm:NAME" in capsys.readouterr().out
    assert main(["models", "--json"]) == 0
    assert '"timm:NAME"' in capsys.readouterr().out
    code = main(
        [
            "lower",
            "hf:bert?num_hidden_layers=2",
            "--config",
            "hidden_size=64",
            "--config",
            "intermediate_size=128",
            "--config",
            "num_attention_heads=2",
            "--preview",
            "--json",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "num_hidden_layers=2&hidden_size=64" in out
