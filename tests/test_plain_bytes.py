"""`lower()` writes the same .pte as executorch's plain API, byte for byte where the backend allows.

Plain API: `torch.export.export` -> `to_edge_transform_and_lower(partitioner=..., compile_config=...)`
-> `.to_executorch().buffer`, with the backend's own partitioners and compile config, on a fresh
seeded module. The workbench: `lower(module, [backend], example_inputs=..., cache=False)`.

Measured here (tiny_convnet, the same model lowered twice in one process with the plain API):
- XNNPACK, Vulkan, TOSA: identical bytes; compared byte for byte.
- OpenVINO: identical in two fresh processes, different within one (20884 vs 20904 bytes): the
  compiled blob holds names numbered by a process-wide counter, so each further compile in the
  process shifts them. No seed or option resets it, so the two sides each lower first in a fresh
  process and are compared byte for byte.
- Core ML: never identical, same length: executorch's preprocess names the model
  "executorch_<uuid4>" and the .mlpackage manifest keys its items by fresh UUIDs (in
  coremltools' C++ ModelPackage), which also reorders the manifest. Nothing seeds them, so Core ML
  is held to the per-op placement counts, the delegate count and the .pte length.
- XNNPACK: identical bytes (also tested on more models in tests/test_shared_lowering.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _checks import delegation_info_counts, placement_counts

from etworkbench import get_backend, load_model, lower

MODEL = "tiny_convnet"


def _build() -> tuple[torch.nn.Module, tuple]:
    """A fresh, seeded instance and its example inputs (the same on every call)."""
    torch.manual_seed(0)
    spec = load_model(MODEL)
    return spec.module, tuple(spec.example_inputs)


def _plain(backend_name: str):
    """(get_delegation_info, .pte bytes) of the plain API on a fresh module."""
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    module, inputs = _build()
    backend = get_backend(backend_name)
    kwargs = {"partitioner": backend.partitioners(backend.default_scheme)}
    config = backend.edge_compile_config()
    if config is not None:
        kwargs["compile_config"] = config
    edge = to_edge_transform_and_lower(torch.export.export(module, inputs), **kwargs)
    info = get_delegation_info(edge.exported_program().graph_module)
    return info, bytes(edge.to_executorch().buffer)


def _workbench(backend_name: str):
    module, inputs = _build()
    result = lower(module, [backend_name], example_inputs=inputs, cache=False)[backend_name]
    assert result.ok, result.summary_line()
    return result


def _available(name: str) -> None:
    if not get_backend(name).availability.available:
        pytest.skip(f"{name}: {get_backend(name).availability.reason}")


@pytest.mark.parametrize(
    "backend",
    ["xnnpack", "tosa", pytest.param("vulkan", marks=pytest.mark.slow)],  # ~70 s here
)
def test_deterministic_backend_bytes_equal_the_plain_api(backend):
    _available(backend)
    info, plain = _plain(backend)
    ours = _workbench(backend)
    assert placement_counts(ours.placement) == delegation_info_counts(info)
    assert info.num_delegated_nodes > 0
    assert ours.buffer == plain, f"{backend}: {len(ours.buffer)} vs {len(plain)} bytes"


def test_coreml_places_like_the_plain_api():
    """Bytes cannot match (fresh UUIDs, see the module docstring): counts and length do."""
    _available("coreml")
    info, plain = _plain("coreml")
    ours = _workbench("coreml")
    assert info.num_delegated_nodes > 0
    assert placement_counts(ours.placement) == delegation_info_counts(info)
    assert len(ours.buffer) == len(plain)
    assert ours.buffer[:8] == plain[:8]  # same flatbuffer identifier and header start


_FRESH = """
import sys, torch
from etworkbench import get_backend, load_model, lower
from executorch.exir import to_edge_transform_and_lower
torch.manual_seed(0)
spec = load_model(sys.argv[1])
module, inputs = spec.module, tuple(spec.example_inputs)
backend = get_backend(sys.argv[2])
if sys.argv[3] == "plain":
    kwargs = {"partitioner": backend.partitioners(backend.default_scheme)}
    config = backend.edge_compile_config()
    if config is not None:
        kwargs["compile_config"] = config
    edge = to_edge_transform_and_lower(torch.export.export(module, inputs), **kwargs)
    data = bytes(edge.to_executorch().buffer)
else:
    data = lower(module, [sys.argv[2]], example_inputs=inputs, cache=False)[sys.argv[2]].buffer
open(sys.argv[4], "wb").write(data)
"""


def _fresh_process_bytes(side: str, tmp_path: Path) -> bytes:
    out = tmp_path / f"{side}.pte"
    done = subprocess.run(
        [sys.executable, "-c", _FRESH, MODEL, "openvino", side, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out.read_bytes()


@pytest.mark.slow  # two fresh interpreters importing torch, executorch and OpenVINO
def test_openvino_bytes_equal_the_plain_api_in_fresh_processes(tmp_path):
    """Each side lowers first in its own process (names count per process, see above)."""
    _available("openvino")
    plain = _fresh_process_bytes("plain", tmp_path)
    ours = _fresh_process_bytes("workbench", tmp_path)
    assert len(plain) > 0
    assert ours == plain, f"openvino: {len(ours)} vs {len(plain)} bytes"


def test_openvino_places_like_the_plain_api():
    _available("openvino")
    info, _ = _plain("openvino")
    ours = _workbench("openvino")
    assert info.num_delegated_nodes > 0
    assert placement_counts(ours.placement) == delegation_info_counts(info)
