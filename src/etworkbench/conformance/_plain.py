"""The plain executorch API on one case: what a user following executorch's docs gets.

`torch.export.export` -> (quantized schemes: `prepare_pt2e` with the backend's quantizer,
one pass over the example inputs, `convert_pt2e`, export again) -> `to_edge_transform_and_lower`
with the partitioners of every backend of the target in order -> `get_delegation_info` ->
`to_executorch`, on a freshly built module. The quantizer, partitioner objects and
`EdgeCompileConfig` are the backends' own (`get_backend(b).schemes/partitioners/
edge_compile_config()`, partitioners built with the target's backend options), so both sides
make the same executorch calls; everything between
them (shared export, caching, workers, reason capture) is what the comparison checks.
"""

from __future__ import annotations

import io
import time
import traceback
from typing import Any

from .._compat.output import route_stderr
from ..backends._options import of_backend
from ._cases import Case
from ._sides import Side, first_line, sha256
from ._targets import Target


def plain_stage(exc: BaseException) -> str:
    """preprocess when the innermost lowering frame is a backend's compiler, else partition."""
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        name, path = frame.f_code.co_name, frame.f_code.co_filename
        if name == "preprocess" or name.endswith("lower_all_submodules_to_backend"):
            return "preprocess"
        if name == "partition" and "executorch" in path:
            return "to_edge+partition"
    return "to_edge+partition"


def _export(module: Any, args: tuple, kwargs: dict) -> Any:
    import torch

    # torch prints the partial graph of a failed export; the message says enough
    with route_stderr(io.StringIO()):
        return torch.export.export(module, args, kwargs=kwargs)


def plain_quantize(
    scheme: Any, module: Any, args: tuple, kwargs: dict, quantizer_options: Any = None
) -> Any:
    """The PT2E flow of executorch's quantization docs, calibrated once on the example inputs."""
    import copy

    import torch

    if scheme.transform is not None:  # an eager-module transform (e.g. torchao weight-only)
        module = scheme.transform(copy.deepcopy(module), args)
    if scheme.quantizer is None and scheme.pt2e is None:
        return _export(module, args, kwargs)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    captured = _export(module, args, kwargs).module(**dict(scheme.capture_kwargs))
    if scheme.pt2e is not None:  # the backend's own driver (e.g. nncf for OpenVINO)
        converted = scheme.pt2e(captured, [args])
    else:
        prepared = prepare_pt2e(captured, scheme.make_quantizer(quantizer_options))
        with torch.no_grad():
            prepared(*args, **kwargs)
        converted = convert_pt2e(prepared, **dict(scheme.convert_kwargs))
    return _export(converted, args, kwargs)


def plain_lower(case: Case, target: Target) -> tuple[Side, bytes | None]:
    """The plain executorch API on a fresh build of `case` for `target`."""
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    from ..backends import get_backend

    group = [get_backend(name) for name in target.backends]
    scheme = group[0].schemes[target.scheme]
    start = time.perf_counter()
    side = Side("failed")

    def fail(stage: str, exc: BaseException) -> tuple[Side, None]:
        side.stage, side.message = stage, first_line(exc)
        side.seconds = round(time.perf_counter() - start, 3)
        return side, None

    try:
        module, args, kwargs = case.build()
    except Exception as exc:
        return fail("build", exc)
    if scheme.float_export:
        try:
            program = _export(module, args, kwargs)
        except Exception as exc:
            return fail("export", exc)
    else:
        try:
            _export(module, args, kwargs)  # a model that does not export fails there, as in lower()
        except Exception as exc:
            return fail("export", exc)
        try:
            resolved = group[0].resolve_options(of_backend(target.options, group[0].name))
            program = plain_quantize(scheme, module, args, kwargs, resolved)
        except Exception as exc:
            return fail("quantize", exc)
    options: dict[str, Any] = {
        "partitioner": [
            p
            for backend in group
            for p in backend.partitioners(target.scheme, of_backend(target.options, backend.name))
        ]
    }
    config = next((c for c in (b.edge_compile_config() for b in group) if c is not None), None)
    if config is not None:
        options["compile_config"] = config
    try:
        edge = to_edge_transform_and_lower(program, **options)
    except Exception as exc:
        return fail(plain_stage(exc), exc)
    graph_module = edge.exported_program().graph_module
    info = get_delegation_info(graph_module)
    side.delegated, side.non_delegated = info.num_delegated_nodes, info.num_non_delegated_nodes
    side.subgraphs = info.num_delegated_subgraphs
    side.delegate_calls = sum(
        1
        for n in graph_module.graph.nodes
        if n.op == "call_function" and "executorch_call_delegate" in str(n.target)
    )
    side.ops = {
        op: [b.delegated, b.non_delegated] for op, b in sorted(info.delegation_by_operator.items())
    }
    try:
        buffer = bytes(edge.to_executorch().buffer)
    except Exception as exc:
        return fail("to_executorch", exc)
    side.status, side.pte_bytes, side.pte_sha256 = "ok", len(buffer), sha256(buffer)
    side.seconds = round(time.perf_counter() - start, 3)
    return side, buffer
