"""Resolving a model name, a factory reference or a module into a `ModelSpec`."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._compat.torch import is_batch_norm
from ..errors import UsageError, choices_hint
from ._dynamic import normalize_dynamic
from ._inputs import check_example, describe_value
from ._model_spec import SEED, ModelSpec

if TYPE_CHECKING:  # torch, torchvision and the zoo's nets load when a model is built
    from torch import nn

# `timm:` / `hf:` references (the loaders in `_refs` import torch, so they load on use)
REFERENCE_PREFIXES = ("timm:", "hf:")


class LazyZooSpec(ModelSpec):
    """A zoo model that is built on first use of its module or inputs.

    A zoo model's cache key is its name (fixed seed, no weights), so a request served from the
    program cache never needs the module; building mobilenet_v2 alone costs 0.3-0.9 s.
    """

    def __init__(self, entry: ZooEntry) -> None:
        self.name, self.source, self.classifier = entry.name, "zoo", entry.classifier
        self._entry = entry
        self.example_kwargs = {}  # zoo models take positional inputs only
        self.dynamic_shapes = ()  # a zoo name with dynamic dims is built at once (checked)
        self._built: tuple[nn.Module, tuple] | None = None

    @property
    def built(self) -> bool:
        return self._built is not None

    def _build(self) -> tuple[nn.Module, tuple]:
        if self._built is None:
            import torch

            torch.manual_seed(SEED)
            module, inputs = self._entry.build()
            self._built = (module.eval(), inputs)
        return self._built

    @property
    def module(self) -> nn.Module:  # type: ignore[override]
        return self._build()[0]

    @property
    def example_inputs(self) -> tuple:  # type: ignore[override]
        return self._build()[1]


@dataclass(frozen=True)
class ZooEntry:
    name: str
    description: str
    build: Callable[[], tuple[nn.Module, tuple]]
    classifier: bool = False
    size: str = "small"  # "tiny" | "small" | "large": how long lowering takes


_describe = describe_value  # one input's description (calibration messages use it)


def _torchvision(arch: str, shape=(1, 3, 224, 224)) -> Callable[[], tuple[nn.Module, tuple]]:
    def build() -> tuple[nn.Module, tuple]:
        import torch
        import torchvision.models as tvm

        module = getattr(tvm, arch)(weights=None)
        _settle_batchnorm(module, shape)
        return module, (torch.randn(*shape),)

    return build


def _settle_batchnorm(module: nn.Module, shape: tuple[int, ...]) -> None:
    """Give BatchNorm layers running statistics from one seeded random batch.

    With `weights=None` the running statistics are mean 0 / variance 1, which shrinks
    activations through deep nets until the logits are ~1e-9 (mobilenet_v2, efficientnet_b0):
    any quantization error is then 100 % of the output. One training-mode pass gives the layers
    realistic statistics, so error and top-1 agreement mean something. No weights are learned.
    """
    import torch

    norms = [m for m in module.modules() if is_batch_norm(m)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: one pass sets the batch statistics
    generator = torch.Generator().manual_seed(SEED + 1)
    module.train()
    with torch.no_grad():
        module(torch.randn(4, *shape[1:], generator=generator))
    module.eval()
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum


def _custom(class_name: str, *shape: int) -> Callable[[], tuple[nn.Module, tuple]]:
    """A zoo net of `_nets` (imported, with torch, when the model is built)."""

    def build() -> tuple[nn.Module, tuple]:
        import torch

        from . import _nets

        return getattr(_nets, class_name)(), (torch.randn(*shape),)

    return build


_ZOO: dict[str, ZooEntry] = {
    entry.name: entry
    for entry in [
        ZooEntry(
            "mobilenet_v2", "torchvision MobileNetV2, 3x224x224", _torchvision("mobilenet_v2"), True
        ),
        ZooEntry(
            "mobilenet_v3_small",
            "torchvision MobileNetV3-Small, 3x224x224",
            _torchvision("mobilenet_v3_small"),
            True,
        ),
        ZooEntry("resnet18", "torchvision ResNet-18, 3x224x224", _torchvision("resnet18"), True),
        ZooEntry(
            "efficientnet_b0",
            "torchvision EfficientNet-B0, 3x224x224",
            _torchvision("efficientnet_b0"),
            True,
        ),
        ZooEntry(
            "vit_b_16",
            "torchvision ViT-B/16, 3x224x224 (86M parameters)",
            _torchvision("vit_b_16"),
            True,
            "large",
        ),
        ZooEntry(
            "tiny_convnet",
            "conv-bn-relu-pool-linear, 3x32x32: fully delegable",
            _custom("TinyConvNet", 1, 3, 32, 32),
            True,
            "tiny",
        ),
        ZooEntry(
            "teaching_net",
            "conv/relu/linear that XNNPACK takes, mean/cumsum that it rejects",
            _custom("TeachingNet", 1, 3, 16, 16),
            False,
            "tiny",
        ),
        ZooEntry(
            "transformer_block",
            "one transformer encoder layer, d=64, 4 heads, seq 16",
            _custom("TransformerBlock", 1, 16, 64),
            False,
            "tiny",
        ),
        ZooEntry(
            "small_lstm",
            "one-layer LSTM (16->32) + linear head, seq 8",
            _custom("SmallLSTM", 1, 8, 16),
            True,
            "tiny",
        ),
        ZooEntry(
            "small_gru",
            "one-layer GRU (16->32) + linear head, seq 8",
            _custom("SmallGRU", 1, 8, 16),
            True,
            "tiny",
        ),
    ]
}


def list_models() -> list[ZooEntry]:
    """The built-in models, in a stable order."""
    return list(_ZOO.values())


def load_model(
    model: Any,
    example_inputs: tuple | None = None,
    name: str | None = None,
    *,
    lazy: bool = False,
    example_kwargs: dict | None = None,
    config: dict | None = None,
    dynamic_shapes: Any = None,
) -> ModelSpec:
    """Resolve a zoo name, a `file.py:factory` / `module:factory` string, or a module.

    A module comes with `example_inputs` (forward()'s positional arguments) and/or
    `example_kwargs`; either may nest tuples, lists and dicts (see `_inputs.check_example`).

    With `lazy=True` a zoo name (with its own example inputs) gives a `LazyZooSpec`, built only
    when its module or inputs are used. `timm:NAME` / `hf:MODEL_TYPE[?key=value,...]` build
    those libraries' models offline with random weights (see _refs); `config` adds overrides to
    such a reference. Raises `UsageError` with a message that names the bad value and what to do.

    `dynamic_shapes` (torch.export's form with `Dim`s, or `{"x": {0: (1, 8)}}`; see `_dynamic`)
    makes those input dims dynamic; it is checked against the example inputs here, so a zoo
    name with dynamic dims is built now even with `lazy=True`.
    """
    if dynamic_shapes:  # None, {} and () are all "no dynamic dims"
        spec = load_model(model, example_inputs, name, example_kwargs=example_kwargs, config=config)
        return with_dynamic_shapes(spec, dynamic_shapes)
    return _load_model(model, example_inputs, name, lazy, example_kwargs, config)


def with_dynamic_shapes(spec: ModelSpec, dynamic_shapes: Any) -> ModelSpec:
    """`spec` with `dynamic_shapes` checked and normalized (a copy; `spec` is not changed)."""
    dims = normalize_dynamic(
        dynamic_shapes, spec.module, tuple(spec.example_inputs), dict(spec.example_kwargs)
    )
    if tuple(getattr(spec, "dynamic_shapes", ())) == dims:
        return spec
    return ModelSpec(
        spec.name,
        spec.module,
        tuple(spec.example_inputs),
        spec.source,
        spec.classifier,
        dict(spec.example_kwargs),
        dims,
    )


def _load_model(model, example_inputs, name, lazy, example_kwargs, config) -> ModelSpec:
    import torch

    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, torch.nn.Module):
        if example_inputs is None and not example_kwargs:
            raise UsageError(
                f"model {type(model).__name__} was given without example_inputs; pass "
                "example_inputs=(tensor, ...) matching its forward() arguments"
            )
        args, kwargs = check_example(example_inputs, example_kwargs, "example_inputs")
        return ModelSpec(name or type(model).__name__, model.eval(), args, example_kwargs=kwargs)
    if not isinstance(model, str) or not model.strip():
        raise UsageError(
            f"model must be a zoo name, 'file.py:factory', 'module:factory' or an nn.Module, not {model!r}"
        )
    text = model.strip()
    if text.startswith(REFERENCE_PREFIXES):  # timm:NAME, hf:MODEL_TYPE (models/_refs.py)
        from . import _refs

        spec = _refs.load_reference(text, config)
        spec.name = name or spec.name
        return spec
    if config is not None:
        raise UsageError("config= applies to timm:/hf: model references only")
    if text in _ZOO:
        entry = _ZOO[text]
        if lazy and example_inputs is None:
            return LazyZooSpec(entry)
        torch.manual_seed(SEED)
        module, inputs = entry.build()
        return ModelSpec(entry.name, module.eval(), inputs, "zoo", entry.classifier)
    if ":" in text:
        return _load_factory(text, name)
    raise UsageError(
        choices_hint("model", text, list(_ZOO))
        + "; or give a user model as path/to/file.py:factory or package.module:factory"
    )


def _load_factory(reference: str, name: str | None) -> ModelSpec:
    location, _, attr = reference.rpartition(":")
    if not attr.isidentifier():
        raise UsageError(
            f"model reference {reference!r}: {attr!r} is not a function name; write it as file.py:factory"
        )
    if location.endswith(".py") or "/" in location or location.startswith("."):
        module = _import_file(Path(location), reference)
        source = f"file:{location}"
    else:
        try:
            module = importlib.import_module(location)
        except ModuleNotFoundError as exc:
            raise UsageError(
                f"model reference {reference!r}: module {location!r} cannot be imported ({exc}); check the name or use path/to/file.py:{attr}"
            ) from exc
        except Exception as exc:
            raise UsageError(
                f"model reference {reference!r}: importing {location!r} raised {type(exc).__name__}: {exc}\n{_last_frame(exc)}"
            ) from exc
        source = f"module:{location}"
    factory = getattr(module, attr, None)
    if factory is None:
        available = sorted(
            n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
        )
        raise UsageError(
            f"model reference {reference!r}: {location!r} has no {attr!r}; callables there: {', '.join(available) or 'none'}"
        )
    import torch

    try:
        produced = factory()
    except Exception as exc:
        raise UsageError(
            f"model factory {reference!r} raised {type(exc).__name__}: {exc}\n{_last_frame(exc)}"
        ) from exc
    if not (
        isinstance(produced, tuple)
        and len(produced) in (2, 3)
        and isinstance(produced[0], torch.nn.Module)
    ):
        raise UsageError(
            f"model factory {reference!r} must return (nn.Module, example_inputs_tuple) or "
            "(nn.Module, example_inputs_tuple, example_kwargs_dict), "
            f"but returned {type(produced).__name__}; e.g. `return MyNet(), (torch.randn(1, 3, 224, 224),)`"
        )
    module_obj, inputs, kwargs = (*produced, {})[:3]
    label = (
        name
        or f"{Path(location).stem if location.endswith('.py') else location.rsplit('.', 1)[-1]}_{attr}"
    )
    args, kwargs = check_example(inputs, kwargs, f"example inputs of {reference!r}")
    return ModelSpec(label, module_obj.eval(), args, source, example_kwargs=kwargs)


def _import_file(path: Path, reference: str):
    if not path.exists():
        raise UsageError(
            f"model reference {reference!r}: file {str(path)!r} does not exist; check the path "
            f"(relative paths start at {str(Path.cwd())!r})"
        )
    if path.is_dir():
        raise UsageError(
            f"model reference {reference!r}: {str(path)!r} is a directory; name a .py file"
        )
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"etwb_user_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[module_name]
        raise UsageError(
            f"model file {str(path)!r} has a syntax error at line {exc.lineno}: {exc.msg}\n    {(exc.text or '').rstrip()}"
        ) from exc
    except Exception as exc:
        del sys.modules[module_name]
        raise UsageError(
            f"model file {str(path)!r} raised {type(exc).__name__} while importing: {exc}\n{_last_frame(exc)}"
        ) from exc
    return module


def _last_frame(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    return f"  at {frame.filename}:{frame.lineno}: {(frame.line or '').strip()}"
