"""`to_edge_transform_and_lower` with the work that does not depend on the backend done once.

executorch 1.5.1's `to_edge_transform_and_lower` starts every call by functionalizing the
exported program (`run_decompositions({})`, several seconds on mobilenet_v2) before it asks the
partitioners which ops to keep. That step depends only on the exported program, so when N
backends lower one model it is computed once here and deep-copied for each.

The rest mirrors executorch's `_gen_edge_manager_for_partitioners` and the tail of
`to_edge_transform_and_lower` step for step (same calls, same order), with one more skip:
executorch already skips a decomposition whose table matches no op in the graph on its
`check_op_support is None` path; the same rule is applied on the EDGE_DO_NOT_DECOMP path. After
the first functionalization such a call only re-traces the graph. The produced .pte is tested to
be byte-identical to the plain API's (tests/test_shared_lowering.py). Programs whose partitioners
transform before decomposition go through executorch's own function unchanged.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

METHOD = "forward"


class SharedExport:
    """One exported program and, computed on first use, its functionalized form.

    `functional()` hands out deep copies, so no lowering can disturb another. With `uses` (an
    upper bound on the calls to come) the last call gets the original instead of a copy; the
    default keeps it for any number of calls (the preview's in-memory store).
    """

    def __init__(self, exported: Any, uses: int | None = None) -> None:
        self.exported = exported
        self._functional: Any = None
        self._uses = uses
        self._lock = threading.Lock()
        self.functionalize_s = 0.0
        self.export_s = 0.0

    def use_once(self) -> None:
        """This process lowers one program from it (a forked worker): no copy is needed."""
        self._uses = 1

    def prepare(self) -> SharedExport:
        """Functionalize now (before forking workers that inherit it); returns self."""
        import time

        with self._lock:
            if self._functional is None:
                start = time.perf_counter()
                self._functional = copy.deepcopy(self.exported).run_decompositions({})
                self.functionalize_s = time.perf_counter() - start
        return self

    def functional(self) -> Any:
        self.prepare()
        with self._lock:
            if self._uses is not None:
                self._uses -= 1
                if self._uses == 0:  # the last user: no copy needed, none is kept
                    program, self._functional = self._functional, None
                    return program
            return copy.deepcopy(self._functional)


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
    config)` returns, starting from the shared functionalized program."""
    from executorch.exir import EdgeCompileConfig
    from executorch.exir import to_edge_transform_and_lower as plain

    config = config or EdgeCompileConfig()
    if not can_share(partitioners):
        return plain(
            copy.deepcopy(shared.exported), partitioner=partitioners, compile_config=config
        )
    manager = edge_manager(shared, partitioners, config)
    return lower_manager(manager, partitioners, config)


def edge_manager(shared: SharedExport, partitioners: list[Any], config: Any) -> Any:
    """Mirror of `_gen_edge_manager_for_partitioners` for one method (see the module docstring)."""
    from executorch.exir.program._program import (
        EdgeProgramManager,
        _can_skip_using_EDGE_DO_NOT_DECOMP,
        _default_decomposition_table,
        _generate_edge_program,
        _remove_invalid_ops_for_not_decompose,
        _replace_aten_ops_with_transformed_ops,
        _restore_transformed_ops_to_aten_ops,
    )

    program = shared.functional()
    final_ops_to_preserve: set = set()
    if not partitioners:
        table = _default_decomposition_table()
        for op in config.preserve_ops:
            table.pop(op, None)
        program = program.run_decompositions(table)
    for partitioner in partitioners:
        ops_no_decomp, _ = partitioner.ops_to_not_decompose(program)
        if _can_skip_using_EDGE_DO_NOT_DECOMP(partitioner, program):
            table = _default_decomposition_table()
            needing = [op for op in ops_no_decomp if table.pop(op, None) is not None]
            program = _decompose_if_needed(program, table)
            final_ops_to_preserve.update(needing)
        else:
            ops_no_decomp = _remove_invalid_ops_for_not_decompose(ops_no_decomp)
            table = _default_decomposition_table()
            for op in ops_no_decomp:
                table.pop(op, None)
            program = _decompose_if_needed(program, table)
            preserved = (
                _replace_aten_ops_with_transformed_ops(METHOD, program, {METHOD: [partitioner]})
                or []
            )
            final_ops_to_preserve.update(preserved)
            program = _decompose_if_needed(program, _default_decomposition_table())
            _restore_transformed_ops_to_aten_ops(program)
    preserve = list(final_ops_to_preserve)
    edge = _generate_edge_program(config, program, preserve_ops=preserve)
    config._core_aten_ops_exception_list = list(
        set(config._core_aten_ops_exception_list) | set(preserve)
    )
    return EdgeProgramManager({METHOD: edge}, None, config, preserve)


def _decompose_if_needed(program: Any, table: dict) -> Any:
    """`program.run_decompositions(table)` unless no op in the graph is in `table`.

    The program is already functionalized, so the call could only re-trace it; executorch
    skips it by this very test on its other path.
    """
    from executorch.exir.graph_module import contains_any_call_fn_target_op

    if contains_any_call_fn_target_op(program.graph_module, table):
        return program.run_decompositions(table)
    return program


def lower_manager(manager: Any, partitioners: list[Any], config: Any) -> Any:
    """The tail of `to_edge_transform_and_lower`: partition + preprocess, then its checks."""
    from executorch.exir.program._program import (
        _can_skip_using_EDGE_DO_NOT_DECOMP,
        _remove_invalid_ops_for_not_decompose,
        _sanity_check_graph_for_non_decomp_ops,
    )
    from executorch.exir.verification.verifier import EXIREdgeDialectVerifier

    for partitioner in partitioners:
        manager = manager.to_backend({METHOD: partitioner})
    program = manager._edge_programs[METHOD]
    ops_set: set = set()
    for partitioner in partitioners:
        ops, check_op_support = partitioner.ops_to_not_decompose(program)
        if not _can_skip_using_EDGE_DO_NOT_DECOMP(partitioner, program):
            ops = _remove_invalid_ops_for_not_decompose(ops)
        ops_set = ops_set.union(ops)
        _sanity_check_graph_for_non_decomp_ops(
            METHOD,
            program,
            ops_set,
            check_op_support,
            partitioner_name=partitioner.__class__.__name__,
            generate_error=True,
        )
    if config._check_ir_validity:
        EXIREdgeDialectVerifier(
            edge_compile_config=config,
            class_only=True,
            preserve_ops=config.preserve_ops + list(ops_set),
        )()(program.graph_module)
    return manager
