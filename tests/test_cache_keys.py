"""A user module's cache key comes from what is lowered (its exported program), so a cached
program can only be served for a module that lowers to the same program.

Property tests (hypothesis) over module families that a key on the module's looks confused:
two modules share a key exactly when they are built the same way; any difference in a Python
attribute read by forward, a helper's code, a closure's value, a 0-d buffer, a dtype or the
nesting of the inputs gives another key. Then the default path (cache on, file factory).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etworkbench import lower
from etworkbench.lowering._fingerprint import program_fingerprint

FIXTURES = Path(__file__).parent / "fixtures"
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def _key(module: torch.nn.Module, args: tuple, kwargs: dict | None = None) -> str:
    exported = torch.export.export(module.eval(), args, kwargs=kwargs)
    return program_fingerprint(exported, args, kwargs)


class _Attr(torch.nn.Module):
    def __init__(self, alpha):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return x * self.alpha


_HELPERS = [torch.relu, torch.sigmoid, lambda x: x * 2, lambda x: x + 2, lambda x: x.flip(-1)]


class _Helper(torch.nn.Module):
    def __init__(self, index):
        super().__init__()
        self.index = index

    def forward(self, x):
        return _HELPERS[self.index](x)


def _closure(k):
    def scale(x):
        return x * k

    return scale


class _Closure(torch.nn.Module):
    def __init__(self, k):
        super().__init__()
        self.fn = _closure(k)

    def forward(self, x):
        return self.fn(x)


class _ZeroDimBuffer(torch.nn.Module):
    def __init__(self, value, dtype):
        super().__init__()
        self.register_buffer("b", torch.tensor(value, dtype=dtype))

    def forward(self, x):
        return x + self.b


class _Sum(torch.nn.Module):
    def forward(self, inputs):
        leaves = torch.utils._pytree.tree_leaves(inputs)
        return sum(leaf.sum() for leaf in leaves)


X = (torch.ones(2, 3),)
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.bool]


def _same_key_iff(a_key, b_key, same: bool) -> None:
    assert (a_key == b_key) == same


@SETTINGS
@given(st.sampled_from([0.5, 1.0, 2.0, 3.0]), st.sampled_from([0.5, 1.0, 2.0, 3.0]))
def test_python_attribute(a, b):
    _same_key_iff(_key(_Attr(a), X), _key(_Attr(b), X), a == b)


@SETTINGS
@given(st.integers(0, len(_HELPERS) - 1), st.integers(0, len(_HELPERS) - 1))
def test_helper_code(a, b):
    _same_key_iff(_key(_Helper(a), X), _key(_Helper(b), X), a == b)


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 4))
def test_closure_value(a, b):
    _same_key_iff(_key(_Closure(a), X), _key(_Closure(b), X), a == b)


@SETTINGS
@given(st.integers(0, 3), st.integers(0, 3), st.sampled_from(DTYPES[:5]))
def test_zero_dim_buffer(a, b, dtype):
    _same_key_iff(_key(_ZeroDimBuffer(a, dtype), X), _key(_ZeroDimBuffer(b, dtype), X), a == b)


@SETTINGS
@given(st.sampled_from(DTYPES), st.sampled_from(DTYPES))
def test_input_dtype(a, b):
    module = _Attr(1)
    _same_key_iff(_key(module, (X[0].to(a),)), _key(module, (X[0].to(b),)), a == b)


_leaf = st.builds(lambda n: torch.ones(n), st.integers(1, 3))
_nests = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.tuples(inner, inner),
        st.lists(inner, min_size=1, max_size=2),
        st.dictionaries(st.sampled_from("ab"), inner, min_size=1, max_size=2),
    ),
    max_leaves=4,
)


def _shape_of(tree):
    leaves, spec = torch.utils._pytree.tree_flatten(tree)
    return str(spec), [tuple(leaf.shape) for leaf in leaves]


@SETTINGS
@given(_nests, _nests)
def test_nested_input_structure(a, b):
    _same_key_iff(_key(_Sum(), (a,)), _key(_Sum(), (b,)), _shape_of(a) == _shape_of(b))


def test_tensors_of_every_kind_are_hashed():
    """0-d, bool, half, bf16, quantized and non-contiguous values change the key by value."""
    base = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    values = [
        torch.tensor(3),
        torch.tensor([True, False]),
        base.half(),
        base.bfloat16(),
        base.t(),  # non-contiguous
        torch.quantize_per_tensor(base, 0.1, 0, torch.qint8),
    ]
    from etworkbench.lowering._fingerprint import _update_value

    def digest(value):
        import hashlib

        h = hashlib.blake2b()
        _update_value(h, value)
        return h.hexdigest()

    for value in values:
        changed = value.clone() if not value.is_quantized else value.dequantize() + 1
        if value.is_quantized:
            changed = torch.quantize_per_tensor(changed, 0.1, 0, torch.qint8)
        elif value.dtype == torch.bool:
            changed = ~value
        else:
            changed = value + 1
        assert digest(value) == digest(value.clone())
        assert digest(value) != digest(changed), value


def _cli(*args: str, env_cache: Path) -> dict:
    import os

    env = dict(os.environ, ETWB_CACHE_DIR=str(env_cache))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "etwb"), *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_two_attribute_values_lower_to_two_programs(tmp_path, monkeypatch):
    """The default path: cache on, a file factory each; the second is not the first's program."""
    monkeypatch.setenv("ETWB_CACHE_DIR", str(tmp_path / "cache"))
    first = lower(f"{FIXTURES / 'keyed_models.py'}:scaled_a", ["xnnpack"])["xnnpack"]
    second = lower(f"{FIXTURES / 'keyed_models.py'}:scaled_b", ["xnnpack"])["xnnpack"]
    again = lower(f"{FIXTURES / 'keyed_models.py'}:scaled_a", ["xnnpack"])["xnnpack"]
    assert not first.cached and not second.cached and again.cached
    assert first.buffer != second.buffer and again.buffer == first.buffer
    from executorch.runtime import Runtime

    def output(buffer):
        method = Runtime.get().load_program(buffer).load_method("forward")
        return method.execute([torch.ones(1, 4)])[0]

    assert torch.allclose(output(second.buffer), 2 * output(first.buffer))


def test_batchnorm_file_factory_with_the_cache_on_matches_get_delegation_info(tmp_path):
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    sys.path.insert(0, str(FIXTURES))
    import keyed_models

    module, inputs = keyed_models.batchnorm_net()
    edge = to_edge_transform_and_lower(
        torch.export.export(module, inputs), partitioner=[XnnpackPartitioner()]
    )
    info = get_delegation_info(edge.exported_program().graph_module)
    reference = f"{FIXTURES / 'keyed_models.py'}:batchnorm_net"
    for expect_cached in (False, True):
        (result,) = _cli("lower", reference, "--backends", "xnnpack", env_cache=tmp_path)["results"]
        assert result["status"] == "ok"
        assert (result["delegated_nodes"], result["fallback_nodes"]) == (
            info.num_delegated_nodes,
            info.num_non_delegated_nodes,
        )
        assert result.get("cached", expect_cached) == expect_cached


@pytest.mark.slow
def test_a_key_made_in_worker_processes_is_the_parents(tmp_path, monkeypatch):
    monkeypatch.setenv("ETWB_CACHE_DIR", str(tmp_path / "cache"))
    reference = f"{FIXTURES / 'keyed_models.py'}:batchnorm_net"
    workers = lower(reference, ["xnnpack", "portable"], jobs=2)
    assert all(r.ok and not r.cached for r in workers.results), workers.summary()
    here = lower(reference, ["xnnpack", "portable"])
    assert all(r.cached for r in here.results)
    assert here["xnnpack"].buffer == workers["xnnpack"].buffer
    monkeypatch.setenv("ETWB_WORKER_START", "spawn")
    spawned = lower(reference, ["xnnpack", "portable"], jobs=2)
    assert all(r.cached for r in spawned.results), spawned.summary()


def test_a_stored_program_that_answers_differently_is_discarded(tmp_path, monkeypatch):
    monkeypatch.setenv("ETWB_CACHE_DIR", str(tmp_path / "cache"))
    reference = f"{FIXTURES / 'keyed_models.py'}:scaled_a"
    first = lower(reference, ["xnnpack"])["xnnpack"]
    other = lower(f"{FIXTURES / 'keyed_models.py'}:scaled_b", ["xnnpack"])["xnnpack"]
    (stored,) = [p for p in (tmp_path / "cache").glob("*/*.pte") if p.read_bytes() == first.buffer]
    stored.write_bytes(other.buffer)  # a swapped file: loads fine, computes 2x
    again = lower(reference, ["xnnpack"])["xnnpack"]
    assert not again.cached and again.buffer == first.buffer
    assert lower(reference, ["xnnpack"])["xnnpack"].cached  # stored again, correctly
