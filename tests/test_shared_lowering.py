"""Backends of one model share the export and its functionalization, and the .pte does not change.

The reference is the plain executorch API (`torch.export` -> `to_edge_transform_and_lower` ->
`to_executorch`), called directly, not through our pipeline.
"""

from __future__ import annotations

import sys

import pytest
import torch

from etworkbench import get_backend, load_model, lower
from etworkbench.lowering import _shared_edge


def _plain_bytes(spec, backend_name: str) -> bytes:
    from executorch.exir import to_edge_transform_and_lower

    backend = get_backend(backend_name)
    kwargs = {"partitioner": backend.partitioners(backend.default_scheme)}
    config = backend.edge_compile_config()
    if config is not None:
        kwargs["compile_config"] = config
    program = torch.export.export(spec.module, spec.example_inputs)
    return bytes(to_edge_transform_and_lower(program, **kwargs).to_executorch().buffer)


@pytest.mark.parametrize("model", ["tiny_convnet", "teaching_net"])
def test_xnnpack_pte_from_a_multi_backend_lowering_equals_the_plain_api(model):
    spec = load_model(model)
    plain = _plain_bytes(spec, "xnnpack")
    # OpenVINO first, so XNNPACK gets a copy of the already functionalized program.
    report = lower(spec, ["openvino", "xnnpack"], cache=False)
    assert all(r.ok for r in report.results), report.summary()
    assert report["xnnpack"].buffer == plain
    single = lower(spec, ["xnnpack"], cache=False)["xnnpack"]
    assert single.buffer == plain


def test_functionalization_runs_once_for_several_backends(monkeypatch):
    calls = []
    original = torch.export.ExportedProgram.run_decompositions

    def counting(self, decomp_table=None, *args, **kwargs):
        # Only the functionalization that starts a lowering (ours, or executorch's own), not
        # the ones backends run inside their preprocess.
        caller = sys._getframe(1).f_code.co_name
        if decomp_table == {} and caller in ("prepare", "_gen_edge_manager_for_partitioners"):
            calls.append(caller)
        return original(self, decomp_table, *args, **kwargs)

    monkeypatch.setattr(torch.export.ExportedProgram, "run_decompositions", counting)
    report = lower("teaching_net", ["xnnpack", "openvino", "portable"], cache=False)
    assert all(r.ok for r in report.results), report.summary()
    assert calls == ["prepare"]


def test_a_decomposition_with_nothing_to_decompose_is_skipped():
    from executorch.exir.program._program import _default_decomposition_table

    spec = load_model("teaching_net")
    shared = _shared_edge.SharedExport(torch.export.export(spec.module, spec.example_inputs))
    program = shared.functional()
    table = _default_decomposition_table()
    decomposed = _shared_edge._decompose_if_needed(program, table)
    assert decomposed is not program  # teaching_net has ops in the default table (e.g. linear)
    assert _shared_edge._decompose_if_needed(decomposed, table) is decomposed
