"""The on-disk program cache: same inputs served from disk, anything different lowered again."""

from __future__ import annotations

import pytest
import torch

from etworkbench import load_model, lower
from etworkbench.lowering._cache import ProgramCache, model_fingerprint, program_key


def _mlp(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.ReLU())


def test_second_lowering_is_served_from_cache_with_identical_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("ETWB_CACHE_DIR", str(tmp_path / "cache"))
    inputs = (torch.ones(1, 6),)
    first = lower(_mlp(0), "xnnpack", example_inputs=inputs)["xnnpack"]
    again = lower(_mlp(0), "xnnpack", example_inputs=inputs, out_dir=tmp_path / "out")["xnnpack"]
    assert not first.cached and again.cached
    assert again.buffer == first.buffer
    assert again.placement == first.placement
    assert (tmp_path / "out" / "Sequential_xnnpack.pte").read_bytes() == first.buffer
    assert "cached (" in again.summary_line()
    uncached = lower(_mlp(0), "xnnpack", example_inputs=inputs, cache=False)["xnnpack"]
    assert not uncached.cached and uncached.buffer == first.buffer


def test_a_hit_is_served_from_its_pte_and_a_lost_pte_is_a_miss(tmp_path, monkeypatch):
    import pickle

    monkeypatch.setenv("ETWB_CACHE_DIR", str(tmp_path / "cache"))
    inputs = (torch.ones(1, 6),)
    first = lower(_mlp(0), "xnnpack", example_inputs=inputs)["xnnpack"]
    (stored,) = (tmp_path / "cache").glob("*/*.pte")
    assert stored.read_bytes() == first.buffer
    assert ProgramCache().info().bytes > len(first.buffer)  # the .pte counts toward the limit
    again = lower(_mlp(0), "xnnpack", example_inputs=inputs)["xnnpack"]
    assert again.cached  # read and run once: it must still answer what it did (_cache_check)
    assert pickle.loads(pickle.dumps(again)).buffer == first.buffer  # to a worker or the cache
    assert again.buffer == first.buffer
    stored.unlink()
    third = lower(_mlp(0), "xnnpack", example_inputs=inputs)["xnnpack"]
    assert not third.cached and third.buffer == first.buffer


def _key(spec, backends=("xnnpack",), scheme="fp32") -> str:
    exported = torch.export.export(spec.module, spec.example_inputs)
    return program_key(model_fingerprint(spec, exported), list(backends), scheme)


def test_key_changes_with_weights_inputs_backends_and_scheme():
    inputs = (torch.ones(1, 6),)
    spec = load_model(_mlp(0), inputs)
    base = _key(spec)
    assert base == _key(load_model(_mlp(0), inputs))
    assert base != _key(load_model(_mlp(1), inputs))
    assert base != _key(load_model(_mlp(0), (torch.zeros(1, 6),)))
    assert base != _key(spec, ["xnnpack", "vulkan"])
    assert base != _key(spec, ["xnnpack"], "int8")
    assert model_fingerprint(load_model("teaching_net")) == "zoo:teaching_net"


class Blob:
    _model_spec = None

    def __init__(self, size):
        self.data = b"x" * size


def test_size_limit_evicts_least_recently_used(tmp_path):
    cache = ProgramCache(tmp_path, limit=10_000)
    cache.put("a" * 64, Blob(6000))
    cache.put("b" * 64, Blob(6000))  # over the limit: "a" goes
    assert cache.get("a" * 64) is None
    assert cache.get("b" * 64).data == b"x" * 6000
    assert cache.info().entries == 1
    assert cache.clear() == 1 and cache.info().entries == 0


def test_corrupt_entry_is_a_miss(tmp_path):
    cache = ProgramCache(tmp_path)
    path = tmp_path / "cc" / ("c" * 64 + ".pkl")
    path.parent.mkdir()
    path.write_bytes(b"not a pickle")
    assert cache.get("c" * 64) is None
    assert not path.exists()


def _forbid_building(monkeypatch, model: str) -> None:
    """Replace the zoo entry of `model` with one whose build fails the test."""
    import dataclasses

    from etworkbench.lowering import _cache
    from etworkbench.models import _spec

    def build():
        raise AssertionError(f"{model} was built")

    monkeypatch.setitem(_spec._ZOO, model, dataclasses.replace(_spec._ZOO[model], build=build))
    monkeypatch.setattr(_cache, "_facts", {})  # as in a new process


def test_zoo_model_served_from_cache_is_not_built(tmp_path, monkeypatch):
    monkeypatch.setenv("ETWB_CACHE_DIR", str(tmp_path / "cache"))
    first = lower("tiny_convnet", "xnnpack")
    _forbid_building(monkeypatch, "tiny_convnet")
    again = lower("tiny_convnet", "xnnpack", out_dir=tmp_path / "out")
    assert again["xnnpack"].cached and again["xnnpack"].buffer == first["xnnpack"].buffer
    assert (again.inputs, again.parameter_bytes) == (first.inputs, first.parameter_bytes)
    assert (tmp_path / "out" / "tiny_convnet_xnnpack.pte").read_bytes() == first["xnnpack"].buffer
    with pytest.raises(AssertionError, match="was built"):  # a miss must build it
        lower("tiny_convnet", "portable")


def test_user_models_are_keyed_by_their_exported_program(fixtures_dir):
    spec = load_model(f"{fixtures_dir / 'user_model.py'}:make")
    with pytest.raises(ValueError, match="exported program"):
        model_fingerprint(spec)
    exported = torch.export.export(spec.module, spec.example_inputs)
    assert model_fingerprint(spec, exported).startswith("program:")
    assert model_fingerprint(load_model("tiny_convnet", lazy=True)) == "zoo:tiny_convnet"


def test_model_facts_known_only_in_memory_still_reach_the_disk(tmp_path, monkeypatch):
    from etworkbench import preview

    monkeypatch.setenv("ETWB_CACHE_DIR", str(tmp_path / "cache"))
    preview("tiny_convnet", ["xnnpack"])  # facts remembered in memory, not on disk
    lower("tiny_convnet", "xnnpack")
    _forbid_building(monkeypatch, "tiny_convnet")  # a new process: memory is empty
    assert lower("tiny_convnet", "xnnpack")["xnnpack"].cached
