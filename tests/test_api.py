"""The Python API end to end: lower, save, and run the saved program in executorch.runtime."""

from __future__ import annotations

import torch

from etworkbench import load_model, lower


def test_saved_xnnpack_pte_runs_close_to_eager(teaching_xnnpack, tmp_path):
    from executorch.runtime import Runtime

    result = teaching_xnnpack["xnnpack"]
    path = result.save(tmp_path / "sub" / "teaching.pte")
    assert path.read_bytes() == result.buffer
    spec = load_model("teaching_net")
    program = Runtime.get().load_program(path)
    (output,) = program.load_method("forward").execute(list(spec.example_inputs))
    with torch.no_grad():
        expected = spec.module(*spec.example_inputs)
    torch.testing.assert_close(output, expected, rtol=1e-4, atol=1e-5)


def test_module_and_inputs_given_directly():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    report = lower(model, "xnnpack", example_inputs=(torch.randn(1, 4),), name="mlp")
    result = report["xnnpack"]
    assert report.model == "mlp" and result.ok
    assert result.placement.delegated_nodes == 2  # linear + relu in one XNNPACK delegate
    assert result.sizes.pte_bytes == len(result.buffer)
    assert result.sizes.delegate_payload_bytes > 0


def test_export_failure_is_recorded_per_backend(fixtures_dir):
    class Branchy(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.export refuses it
                return x + 1
            return x - 1

    report = lower(Branchy(), ["xnnpack"], example_inputs=(torch.randn(3),))
    (result,) = report.results
    assert result.status == "failed"
    assert result.error.stage == "export"
    assert "test_api.py" in (result.error.source or "")
    assert "x.sum() > 0" in result.error.source
