"""Model references users already have: `timm:NAME` and `hf:MODEL_TYPE`.

`timm:resnet18` is `timm.create_model("resnet18", pretrained=False)` with the input size of its
pretrained config; `hf:bert` is `AutoModel.from_config(AutoConfig.for_model("bert"))`, the base
model of that transformers model type, fed `input_ids` [1, 16] (and an all-ones attention mask,
and `decoder_input_ids` for encoder-decoders) or, for vision models, `pixel_values` of the
config's image size. Both are built with random weights under the zoo's fixed seed, in eval mode,
and never touch the network: nothing is loaded by name from a hub, only constructed from code
and a config.

Overrides go after a `?`, as `key=value` pairs separated by `,` or `&` (use `&` inside a sweep's
comma-separated `--models`): `hf:bert?num_hidden_layers=2,hidden_size=64`. Values are typed
(int, float, true/false, none, else a string) and checked against the config's own attribute
(`hf:`) or passed to `timm.create_model` as keyword arguments (`timm:resnet18?num_classes=10`).
`load_model(ref, config={...})` adds overrides from Python.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import UsageError

PREFIXES = ("timm:", "hf:")
INSTALL_HINT = "pip install 'etworkbench[models]'"
SEQUENCE_LENGTH = 16
# Models bigger than this are refused before their weights are allocated (llama's defaults are
# 6.6 B parameters, 26 GB in float32): shrink them with overrides, or raise the limit.
DEFAULT_MAX_PARAMETERS = 1_000_000_000

# Listed by `etwb models` (a line each; an entry each with --json) and the app's reference field.
REFERENCES = (
    {
        "name": "timm:NAME",
        "description": "a timm model, random weights, input size from its pretrained config "
        "(needs etworkbench[models])",
        "example": "timm:resnet18",
    },
    {
        "name": "hf:MODEL_TYPE",
        "description": "a transformers base model from its default config, random weights; "
        "override config attributes after '?' (needs etworkbench[models])",
        "example": "hf:bert?num_hidden_layers=2,hidden_size=64,num_attention_heads=2",
    },
)


def is_reference(text: str) -> bool:
    return isinstance(text, str) and text.strip().startswith(PREFIXES)


def with_overrides(reference: str, pairs: Iterable[str]) -> str:
    """`reference` with `key=value` pairs appended after `?` (the CLI's repeated `--config`)."""
    pairs = [p.strip() for p in pairs if p.strip()]
    if not pairs:
        return reference
    if not is_reference(reference):
        raise UsageError(
            f"--config applies to timm:NAME / hf:MODEL_TYPE references, not {reference!r}"
        )
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--config {pair!r}: write it as key=value, e.g. num_hidden_layers=2")
    return reference + ("&" if "?" in reference else "?") + "&".join(pairs)


def load_reference(reference: str, config: Mapping[str, Any] | None = None) -> Any:
    """The `ModelSpec` of a `timm:` / `hf:` reference, built offline with random weights."""
    from ._model_spec import SEED, ModelSpec

    text = reference.strip()
    prefix, _, rest = text.partition(":")
    target, overrides = _parse(text, rest)
    if config is not None:
        if not isinstance(config, Mapping):
            raise UsageError(f"config must be a dict of overrides, not {type(config).__name__}")
        overrides.update({str(k): (v, None) for k, v in config.items()})
    if not target:
        raise UsageError(
            f"model reference {text!r} names no model; e.g. {prefix}:"
            + ("resnet18" if prefix == "timm" else "bert")
        )
    torch.manual_seed(SEED)
    if prefix == "timm":
        module, inputs, classifier = _build_timm(text, target, overrides)
    else:
        module, inputs, classifier = _build_hf(text, target, overrides)
    canonical = _canonical(prefix, target, overrides)  # the name and the source
    return ModelSpec(canonical, module, inputs, canonical, classifier)


def _parse(text: str, rest: str) -> tuple[str, dict[str, tuple[Any, str | None]]]:
    """(target, {key: (typed value, raw text)}) of `NAME?k=v,k=v`."""
    target, _, query = rest.partition("?")
    overrides: dict[str, tuple[Any, str | None]] = {}
    for pair in query.replace("&", ",").split(","):
        if not pair.strip():
            continue
        key, eq, raw = pair.partition("=")
        key, raw = key.strip(), raw.strip()
        if not eq or not key.isidentifier():
            raise UsageError(
                f"model reference {text!r}: override {pair.strip()!r} is not key=value; write "
                "e.g. hf:bert?num_hidden_layers=2,hidden_size=64"
            )
        overrides[key] = (parse_value(raw), raw)
    return target.strip(), overrides


def parse_value(raw: str) -> Any:
    """`2` -> 2, `0.1` -> 0.1, `true` -> True, `none` -> None, `'x'` / anything else -> str."""
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw


def _canonical(prefix: str, target: str, overrides: Mapping[str, tuple[Any, Any]]) -> str:
    query = "&".join(f"{k}={_show(v)}" for k, (v, _) in overrides.items())
    return f"{prefix}:{target}" + (f"?{query}" if query else "")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _max_parameters() -> int:
    raw = os.environ.get("ETWB_MAX_MODEL_PARAMETERS")
    try:
        return int(raw) if raw else DEFAULT_MAX_PARAMETERS
    except ValueError:
        return DEFAULT_MAX_PARAMETERS


def _import(package: str, reference: str) -> Any:
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise UsageError(
            f"model reference {reference!r} needs {package}, which is not installed here "
            f"({exc}); install it with: {INSTALL_HINT}"
        ) from exc


def _close(value: str, choices: Iterable[str], n: int = 5) -> str:
    matches = difflib.get_close_matches(value, list(choices), n=n, cutoff=0.5)
    return f"; did you mean: {', '.join(matches)}" if matches else ""


def _too_big(reference: str, count: int, hint: str) -> None:
    limit = _max_parameters()
    if count > limit:
        raise UsageError(
            f"model reference {reference!r} has {count / 1e9:.2f} B parameters "
            f"({count * 4 / 2**30:.1f} GiB in float32), over the {limit / 1e9:g} B limit; "
            f"make it smaller, e.g. {hint}, or raise ETWB_MAX_MODEL_PARAMETERS"
        )


# --------------------------------------------------------------------------------------- timm


def _build_timm(
    reference: str, name: str, overrides: Mapping[str, tuple[Any, Any]]
) -> tuple[nn.Module, tuple, bool]:
    timm = _import("timm", reference)
    base = name.split(".", 1)[0]  # resnet18.a1_in1k: a pretrained tag picks the config only
    if not timm.is_model(base):
        raise UsageError(
            f"unknown timm model {name!r} in {reference!r}"
            + (_close(base, timm.list_models()) or "; list them with timm.list_models('*pattern*')")
        )
    kwargs = {k: v for k, (v, _) in overrides.items()}
    try:
        module = timm.create_model(name, pretrained=False, **kwargs)
    except TypeError as exc:
        raise UsageError(
            f"model reference {reference!r}: timm.create_model({name!r}) does not take these "
            f"overrides ({', '.join(kwargs)}): {exc}"
        ) from exc
    except Exception as exc:
        raise UsageError(
            f"model reference {reference!r}: timm.create_model({name!r}) raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    _too_big(reference, sum(p.numel() for p in module.parameters()), "a smaller timm variant")
    cfg = getattr(module, "pretrained_cfg", None) or getattr(module, "default_cfg", None) or {}
    channels, height, width = tuple(cfg.get("input_size") or (3, 224, 224))
    channels = kwargs.get("in_chans", channels)
    size = kwargs.get("img_size")
    if isinstance(size, int):
        height = width = size
    module.eval()
    generator = torch.Generator().manual_seed(_input_seed())
    example = torch.randn(1, channels, height, width, generator=generator)
    return module, (example,), bool(getattr(module, "num_classes", 0))


def _input_seed() -> int:
    from ._model_spec import SEED

    return SEED + 2


# ----------------------------------------------------------------------------------------- hf


class HFModel(nn.Module):
    """A transformers text model called with named inputs and flattened to a tuple of tensors.

    torch.export passes example inputs positionally, but transformers' forward() orders its
    arguments per model (gpt2 has past_key_values second); this wrapper names them, turns off
    the KV cache and the ModelOutput dataclass, and returns the output tensors as a plain tuple.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        params = inspect.signature(model.forward).parameters
        self._extra = {"return_dict": False}
        if "use_cache" in params:
            self._extra["use_cache"] = False

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        named = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "decoder_input_ids": decoder_input_ids,
        }
        return self._call({k: v for k, v in named.items() if v is not None})

    def _call(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        out = self.model(**inputs, **self._extra)
        from .._compat.torch import tree_leaves

        leaves = tree_leaves(out)
        return tuple(x for x in leaves if isinstance(x, torch.Tensor))


class HFVisionModel(HFModel):
    """A transformers vision model (`pixel_values`), flattened like `HFModel`."""

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        return self._call({"pixel_values": pixel_values})


def _build_hf(
    reference: str, model_type: str, overrides: Mapping[str, tuple[Any, Any]]
) -> tuple[nn.Module, tuple, bool]:
    transformers = _import("transformers", reference)
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    known = list(CONFIG_MAPPING.keys())
    if model_type not in CONFIG_MAPPING:
        raise UsageError(
            f"unknown transformers model type {model_type!r} in {reference!r}"
            + (
                _close(model_type, known)
                or f"; there are {len(known)}, e.g. bert, gpt2, llama, vit"
            )
        )
    defaults = transformers.AutoConfig.for_model(model_type)
    kwargs = {
        key: _checked(reference, defaults, key, value, raw)
        for key, (value, raw) in overrides.items()
    }
    try:
        config = transformers.AutoConfig.for_model(model_type, **kwargs)
    except Exception as exc:
        raise UsageError(
            f"model reference {reference!r}: the {model_type} config rejects these overrides: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    auto = transformers.AutoModel
    if type(config) not in auto._model_mapping:
        raise UsageError(
            f"model reference {reference!r}: transformers has no base model (AutoModel) for "
            f"{model_type!r}; build it in a file.py:factory instead"
        )
    try:
        with torch.device("meta"):  # count parameters without allocating them
            count = sum(p.numel() for p in auto.from_config(config).parameters())
        _too_big(
            reference,
            count,
            f"{reference.split('?')[0]}?num_hidden_layers=2,hidden_size=64,num_attention_heads=2",
        )
        model = auto.from_config(config)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(
            f"model reference {reference!r}: building {model_type} from its config raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    model.eval()
    names, inputs = _hf_inputs(reference, model, config)
    wrapper = HFVisionModel(model) if names == ("pixel_values",) else HFModel(model)
    return wrapper.eval(), inputs, False


def _checked(reference: str, defaults: Any, key: str, value: Any, raw: str | None) -> Any:
    """`value` for config attribute `key`, typed like its default; UsageError if no such key."""
    if not hasattr(defaults, key):
        attributes = [k for k in defaults.to_dict() if not k.startswith("_")]
        attributes += list(getattr(defaults, "attribute_map", {}))
        raise UsageError(
            f"model reference {reference!r}: {key!r} is not a {defaults.model_type} config "
            f"attribute"
            + (_close(key, attributes) or f"; they are: {', '.join(sorted(attributes))}")
        )
    default = getattr(defaults, key)
    if default is None or value is None:
        return value
    if isinstance(default, str) and not isinstance(value, str) and raw is not None:
        return raw  # e.g. a numeric-looking string value
    ok = (
        isinstance(value, bool)
        if isinstance(default, bool)
        else isinstance(value, int) and not isinstance(value, bool)
        if isinstance(default, int)
        else isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(default, float)
        else isinstance(value, str)
        if isinstance(default, str)
        else True
    )
    if not ok:
        raise UsageError(
            f"model reference {reference!r}: {key} must be {_article(type(default).__name__)} "
            f"(default {default!r}), got {value!r}"
        )
    return float(value) if isinstance(default, float) else value


def _article(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _hf_inputs(reference: str, model: nn.Module, config: Any) -> tuple[tuple[str, ...], tuple]:
    """Input names and seeded example inputs for the model's main input (ids or pixels)."""
    params = inspect.signature(model.forward).parameters
    main = getattr(model, "main_input_name", "input_ids")
    generator = torch.Generator().manual_seed(_input_seed())
    if main == "pixel_values":
        vision = getattr(config, "vision_config", None) or config
        size = getattr(vision, "image_size", 224)
        height, width = (size, size) if isinstance(size, int) else tuple(size)[:2]
        channels = getattr(vision, "num_channels", 3)
        return ("pixel_values",), (torch.randn(1, channels, height, width, generator=generator),)
    if main != "input_ids":
        raise UsageError(
            f"model reference {reference!r}: {type(model).__name__} takes {main!r}, which "
            "hf: references do not generate (they make input_ids or pixel_values); build it in "
            "a file.py:factory that returns (module, example_inputs)"
        )
    text = getattr(config, "text_config", None) or config
    vocab = getattr(text, "vocab_size", None) or getattr(config, "vocab_size", None) or 1000
    ids = torch.randint(0, vocab, (1, SEQUENCE_LENGTH), generator=generator)
    names, inputs = ["input_ids"], [ids]
    if "attention_mask" in params:
        names.append("attention_mask")
        inputs.append(torch.ones(1, SEQUENCE_LENGTH, dtype=torch.long))
    if "decoder_input_ids" in params and "attention_mask" in params:  # HFModel's order
        names.append("decoder_input_ids")
        inputs.append(torch.randint(0, vocab, (1, SEQUENCE_LENGTH), generator=generator))
    return tuple(names), tuple(inputs)
