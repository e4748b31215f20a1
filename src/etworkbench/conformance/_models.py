"""The models suite: torchvision (every classification, segmentation, detection and video
model, weights=None), and timm / transformers architectures with random weights.

Every torchvision model is a case, including those torch.export rejects: they are the
"plain export fails" cases, where both sides must fail at export. timm and transformers models
go through `etworkbench.models.load_model("timm:..." / "hf:...")`; a category that cannot be
collected here (library or reference support missing) is reported with its reason.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._cases import Case, Collection

# Small inputs where the architecture allows them (adaptive pooling); fixed-size ones keep theirs.
_CLASSIFY_SIZE = 96
_FIXED_224 = ("vit_", "maxvit", "swin")
_VIDEO = {"mvit_v1_b": (16, 224), "mvit_v2_s": (16, 224), "s3d": (16, 224)}

TIMM = (
    "resnet18",
    "mobilenetv3_small_100",
    "efficientnet_b0",
    "convnext_atto",
    "regnetx_002",
    "ghostnet_100",
    "mobilevit_xxs",
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "levit_128s",
    "edgenext_xx_small",
    "test_vit",
)

_SMALL_BERT = {
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "num_attention_heads": 2,
    "intermediate_size": 128,
}
HF: dict[str, dict[str, Any]] = {
    "bert": _SMALL_BERT,
    "distilbert": {"n_layers": 2, "dim": 64, "n_heads": 2, "hidden_dim": 128},
    "roberta": _SMALL_BERT,
    "albert": _SMALL_BERT | {"embedding_size": 32},
    "electra": _SMALL_BERT | {"embedding_size": 32},
    "gpt2": {"n_layer": 2, "n_embd": 64, "n_head": 2},
    "llama": _SMALL_BERT | {"num_key_value_heads": 2},
    "vit": _SMALL_BERT | {"image_size": 32, "patch_size": 8},
    "mobilebert": _SMALL_BERT | {"embedding_size": 32, "intra_bottleneck_size": 32},
}


def _torchvision(kind: str, arch: str) -> tuple[Any, tuple, dict]:
    import torch
    import torchvision.models as tvm

    if kind == "classification":
        size = 224 if arch.startswith(_FIXED_224) else (299 if arch == "inception_v3" else 96)
        module = tvm.get_model(arch, weights=None)
        return module, (torch.randn(1, 3, size, size),), {}
    if kind == "segmentation":
        module = tvm.get_model(arch, weights=None, weights_backbone=None)
        return module, (torch.randn(1, 3, 64, 64),), {}
    if kind == "detection":
        module = tvm.get_model(arch, weights=None, weights_backbone=None)
        return module, ([torch.rand(3, 128, 128)],), {}
    frames, size = _VIDEO.get(arch, (4, 64))
    module = tvm.get_model(arch, weights=None)
    return module, (torch.randn(1, 3, frames, size, size),), {}


def _reference(ref: str, config: dict | None) -> tuple[Any, tuple, dict]:
    from ..models import load_model

    spec = load_model(ref, config=config) if config else load_model(ref)
    return spec.module, tuple(spec.example_inputs), dict(getattr(spec, "example_kwargs", {}) or {})


def _reference_support(library: str) -> str | None:
    """None when `library:` references can be built here, else why not."""
    try:
        importlib.import_module("etworkbench.models._refs")
    except ImportError:
        return "etworkbench.models.load_model has no timm:/hf: references in this build"
    try:
        importlib.import_module(library)
    except Exception as exc:
        return f"{library} is not installed here ({type(exc).__name__}: {exc})"
    return None


def collect_models() -> Collection:
    cases: list[Case] = []
    missing: dict[str, str] = {}
    try:
        import torchvision.models as tvm
    except Exception as exc:
        missing["torchvision"] = f"cannot import torchvision.models: {exc}"
    else:
        for kind, module in (
            ("classification", tvm),
            ("segmentation", tvm.segmentation),
            ("detection", tvm.detection),
            ("video", tvm.video),
        ):
            for arch in tvm.list_models(module=module):
                cases.append(
                    Case(
                        "models",
                        f"torchvision/{arch}",
                        lambda k=kind, a=arch: _torchvision(k, a),
                        note=f"torchvision {kind}",
                    )
                )
    reason = _reference_support("timm")
    if reason:
        missing["timm"] = reason
    else:
        for name in TIMM:
            cases.append(
                Case("models", f"timm/{name}", lambda n=name: _reference(f"timm:{n}", None))
            )
    reason = _reference_support("transformers")
    if reason:
        missing["transformers"] = reason
    else:
        for kind, config in HF.items():
            cases.append(
                Case("models", f"hf/{kind}", lambda k=kind, c=config: _reference(f"hf:{k}", c))
            )
    return Collection("models", cases, missing)
