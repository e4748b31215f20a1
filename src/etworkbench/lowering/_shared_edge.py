"""`to_edge_transform_and_lower` with the work that does not depend on the backend done once.

executorch 1.5.1's `to_edge_transform_and_lower` starts every call by functionalizing the
exported program (`run_decompositions({})`, several seconds on mobilenet_v2) before it asks the
partitioners which ops to keep. That step depends only on the exported program, so when N
backends lower one model it is computed once here and handed to each program.

Handing it out must not change what any backend lowers. Two ways a copy can, both measured:
- a deep copy of the export *before* functionalization copies its lifted tensor constants, and
  the re-trace then no longer folds `.item()` of a constant (a tensor attribute used as a
  number): the graph keeps `_local_scalar_dense` nodes that a fresh export has folded away, so
  XNNPACK and Core ML take other nodes and Vulkan fails. So the export is functionalized as it
  is (as executorch does), never a copy of it, and copies keep the constants' identity.
- deep copies share the export's fake mode: when the program has symbols (a data-dependent
  `.item()`, a dynamic dim) one lowering's re-trace leaves them pending for the next, which then
  fails. Such programs are never copied: the first program gets the functionalized original and
  every other one a fresh `torch.export` (`reexport`), exactly what the plain API lowers.
`copies_are_faithful` is that structural check, made at run time on the program itself.

The rest mirrors executorch's `_gen_edge_manager_for_partitioners` and the tail of
`to_edge_transform_and_lower` step for step (same calls, same order; the mirror itself is in
`etworkbench._compat.executorch`, the one place that touches executorch internals), with one
more skip:
executorch already skips a decomposition whose table matches no op in the graph on its
`check_op_support is None` path; the same rule is applied on the EDGE_DO_NOT_DECOMP path. After
the first functionalization such a call only re-traces the graph. Placements and .pte bytes are
tested against the plain API (tests/test_shared_lowering.py, tests/test_shared_faithful.py).
Programs whose partitioners transform before decomposition go through executorch's own function
unchanged, from a fresh export; so does every program when the installed torch / executorch are
not the versions the mirror was written for (`_compat.internals_supported()`, which warns once).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any

from .._compat import internals_supported
from .._compat.executorch import METHOD  # noqa: F401 - the one method lowered, re-exported
from .._compat.executorch import decompose_if_needed as _decompose_if_needed  # noqa: F401


class SharedExport:
    """One exported program and, computed on first use, its functionalized form.

    `functional()` hands out one program per lowering, each what executorch would work on after
    a fresh export (see the module docstring): deep copies that keep the constants' identity
    when that is provably the same, else the original once and fresh exports after it. With
    `uses` (an upper bound on the calls to come) the last call gets the original instead of a
    copy; the default keeps it for any number of calls (the preview's in-memory store).
    `reexport` makes a fresh export of the same module with the same inputs.
    """

    def __init__(
        self, exported: Any, uses: int | None = None, reexport: Callable[[], Any] | None = None
    ) -> None:
        self.exported = exported
        self._functional: Any = None
        self._uses = uses
        self._reexport = reexport
        self._original_given = False
        self._constants: list[tuple[int, int, int]] = []
        self.copy_safe = False
        self._lock = threading.Lock()
        self.functionalize_s = 0.0
        self.export_s = 0.0
        self.fresh_exports = 0  # how many programs needed their own export (symbols in the graph)
        self.fingerprint: str | None = None  # a user module's cache key part (the pipeline's)

    def use_once(self) -> None:
        """This process lowers one program from it (a forked worker): no copy is needed."""
        self._uses = 1

    def prepare(self, always: bool = False) -> SharedExport:
        """Functionalize now (before forking workers that inherit it); returns self. Not on
        the public path (`_compat.internals_supported()` False, which never uses it) unless
        `always`."""
        if not (always or internals_supported()):
            return self
        with self._lock:
            if self._functional is None and not self._original_given:
                start = time.perf_counter()
                self._functional = self.exported.run_decompositions({})
                self.functionalize_s = time.perf_counter() - start
                self.copy_safe = copies_are_faithful(self._functional)
                self._constants = _constant_state(self._functional)
        return self

    def functional(self) -> Any:
        """A functionalized program for one lowering."""
        self.prepare(always=True)
        with self._lock:
            last = False
            if self._uses is not None:
                self._uses -= 1
                last = self._uses <= 0
            if self._original_given:
                return self._fresh()
            copyable = self.copy_safe and _constant_state(self._functional) == self._constants
            if copyable and not last:
                return copy_program(self._functional)
            # The last user needs no copy; where copies are not faithful the first user takes
            # the original and later ones export afresh.
            self._original_given = True
            program, self._functional = self._functional, None
            return program

    def raw(self) -> Any:
        """An export as `torch.export` gives it, for executorch's own function."""
        with self._lock:
            if self._functional is None and not self._original_given:
                self._original_given = True
                return self.exported
        return self._export_again()

    def _fresh(self) -> Any:
        return self._export_again().run_decompositions({})

    def _export_again(self) -> Any:
        if self._reexport is None:
            raise RuntimeError(
                "this shared export cannot be handed out again (no reexport); it has symbols "
                "in its graph, so a copy would not lower like a fresh export"
            )
        self.fresh_exports += 1
        return self._reexport()


def copies_are_faithful(program: Any) -> bool:
    """True when a deep copy of `program` lowers exactly like `program` itself.

    Copies share the fake mode and its shape environment; a program with no symbol in it
    (static shapes, no data-dependent values) leaves nothing there for one lowering to disturb
    another with. Checked on every graph of the program (control-flow bodies included).
    """
    import torch

    from .._compat.torch import tree_leaves

    symbolic = (torch.SymInt, torch.SymFloat, torch.SymBool)
    for module in program.graph_module.modules():
        graph = getattr(module, "graph", None)
        if graph is None:
            continue
        for node in graph.nodes:
            if node.meta.get("unbacked_bindings"):
                return False
            for leaf in tree_leaves(node.meta.get("val")):
                if isinstance(leaf, symbolic):
                    return False
                if isinstance(leaf, torch.Tensor) and any(
                    isinstance(size, symbolic) for size in leaf.shape
                ):
                    return False
    return True


def copy_program(program: Any) -> Any:
    """A deep copy that shares the lifted tensor constants (their identity matters to the
    re-trace; they are never written, which `_constant_state` checks before each copy)."""
    memo = {id(value): value for value in program.constants.values()}
    return copy.deepcopy(program, memo)


def _constant_state(program: Any) -> list[tuple[int, int, int]]:
    """Identity, storage and version counter of each tensor constant: any write changes one."""
    import torch

    from .._compat.torch import tensor_version

    return [
        (id(value), value.data_ptr(), tensor_version(value))
        for value in program.constants.values()
        if isinstance(value, torch.Tensor)
    ]


def can_share(partitioners: list[Any]) -> bool:
    """True when no partitioner transforms the program before decomposition (all in-tree ones).

    The functionalized program is computed before any partitioner sees it, which is only what
    executorch does when those transforms are the base class's no-op. `exclude_ops` wrappers
    delegate the hook to the partitioner they wrap.
    """
    from executorch.exir.backend.partitioner import Partitioner

    from ._exclude import _exclude_class

    base = Partitioner.transform_for_pre_decomposition
    wrapper = _exclude_class()
    for partitioner in partitioners:
        while type(partitioner) is wrapper:
            partitioner = partitioner.inner
        if type(partitioner).transform_for_pre_decomposition is not base:
            return False
    return True


def to_edge_transform_and_lower(shared: SharedExport, partitioners: list[Any], config: Any) -> Any:
    """What `executorch.exir.to_edge_transform_and_lower(program, partitioner=..., compile_config=
    config)` returns, starting from the shared functionalized program.

    The step-by-step path is taken only on the library versions it mirrors
    (`_compat.internals_supported()`); elsewhere, and for partitioners that transform before
    decomposition, executorch's own function lowers a fresh export.
    """
    from executorch.exir import EdgeCompileConfig
    from executorch.exir import to_edge_transform_and_lower as plain

    config = config or EdgeCompileConfig()
    if not (internals_supported() and can_share(partitioners)):
        return plain(shared.raw(), partitioner=partitioners, compile_config=config)
    manager = edge_manager(shared, partitioners, config)
    return lower_manager(manager, partitioners, config)


def edge_manager(shared: SharedExport, partitioners: list[Any], config: Any) -> Any:
    """Mirror of `_gen_edge_manager_for_partitioners` for one method (see the module docstring),
    from the shared functionalized program (`_compat.executorch`)."""
    from .._compat.executorch import edge_manager_for_partitioners

    return edge_manager_for_partitioners(shared.functional(), partitioners, config)


def lower_manager(manager: Any, partitioners: list[Any], config: Any) -> Any:
    """The tail of `to_edge_transform_and_lower`: partition + preprocess, then its checks."""
    from .._compat.executorch import lower_edge_manager

    return lower_edge_manager(manager, partitioners, config)
