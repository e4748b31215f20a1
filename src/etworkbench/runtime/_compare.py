"""Program outputs against eager outputs: errors leaf by leaf, top-k agreement."""

from __future__ import annotations

from typing import Any

from ._report import OutputError


def tensors(outputs: Any) -> list[Any]:
    """The tensor leaves of an output pytree, in the order the runtime returns them."""
    import torch

    from .._compat.torch import tree_leaves

    return [t for t in tree_leaves(outputs) if isinstance(t, torch.Tensor)]


def output_names(outputs: Any) -> list[str]:
    """`output[1][0]` for each tensor leaf of eager's (nested) output, for error messages."""
    import torch

    from .._compat.torch import keystr, tree_flatten_with_path

    if isinstance(outputs, torch.Tensor):
        return ["output"]
    leaves = tree_flatten_with_path(outputs)[0]
    return ["output" + keystr(path) for path, leaf in leaves if isinstance(leaf, torch.Tensor)]


def compare_outputs(
    references: list[list[Any]],
    outputs: list[list[Any]],
    classifier: bool,
    names: list[str] | None = None,
) -> OutputError:
    """Error over the output tensors leaf by leaf (nested outputs flattened in pytree order, as
    the runtime returns them); top-k agreement on the first output. `names` label the leaves."""

    max_abs, abs_sum, count, ref_max = 0.0, 0.0, 0, 0.0
    top1_hits = top5_hits = rows = 0
    has_top5 = False
    for ref_list, out_list in zip(references, outputs, strict=True):
        if len(ref_list) != len(out_list):
            raise ValueError(
                f"the program returned {len(out_list)} tensors, eager returned {len(ref_list)}"
            )
        for index, (ref, out) in enumerate(zip(ref_list, out_list, strict=True)):
            if tuple(ref.shape) != tuple(out.shape):
                where = names[index] if names and index < len(names) else f"output {index}"
                raise ValueError(
                    f"{where} shape {list(out.shape)} differs from eager {list(ref.shape)}"
                )
            diff = (out.double() - ref.double()).abs()
            if diff.numel():
                max_abs = max(max_abs, float(diff.max()))
                ref_max = max(ref_max, float(ref.double().abs().max()))
            abs_sum += float(diff.sum())
            count += diff.numel()
        if classifier and ref_list and ref_list[0].dim() >= 1 and ref_list[0].shape[-1] > 1:
            ref_logits = ref_list[0].reshape(-1, ref_list[0].shape[-1]).float()
            out_logits = out_list[0].reshape(-1, out_list[0].shape[-1]).float()
            ref_top = ref_logits.argmax(dim=-1)
            top1_hits += int((out_logits.argmax(dim=-1) == ref_top).sum())
            if out_logits.shape[-1] >= 5:
                has_top5 = True
                top5 = out_logits.topk(5, dim=-1).indices
                top5_hits += int((top5 == ref_top.unsqueeze(-1)).any(dim=-1).sum())
            rows += ref_logits.shape[0]
    return OutputError(
        max_abs=max_abs,
        mean_abs=abs_sum / count if count else 0.0,
        reference_max_abs=ref_max,
        relative_max_abs=max_abs / ref_max if ref_max > 0 else None,
        top1_agreement=top1_hits / rows if rows else None,
        top5_agreement=top5_hits / rows if rows and has_top5 else None,
        rows=rows,
    )
