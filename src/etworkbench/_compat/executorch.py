"""executorch internals: the steps of `to_edge_transform_and_lower`, written for executorch 1.5.1.

`edge_manager_for_partitioners` mirrors `executorch.exir.program._program.
_gen_edge_manager_for_partitioners` for one method, and `lower_edge_manager` the tail of
`to_edge_transform_and_lower`, step for step (same calls, same order), so that the workbench
can start them from a program functionalized once for several backends (see
`lowering._shared_edge`). Both use `_program`'s private helpers and `EdgeCompileConfig`'s
private fields as they are in executorch 1.5.1; on any other version the engine does not call
them (`etworkbench._compat.internals_supported`).
"""

from __future__ import annotations

from typing import Any

METHOD = "forward"


def edge_manager_for_partitioners(program: Any, partitioners: list[Any], config: Any) -> Any:
    """`_gen_edge_manager_for_partitioners({METHOD: partitioners}, {METHOD: program}, config)`
    for a program already functionalized (`run_decompositions({})`), executorch 1.5.1.

    One skip more than executorch: a decomposition whose table matches no op in the graph is
    not run on the EDGE_DO_NOT_DECOMP path either (executorch skips it by the same test on its
    `check_op_support is None` path); on a functionalized program it would only re-trace.
    """
    from executorch.exir.program._program import (
        EdgeProgramManager,
        _can_skip_using_EDGE_DO_NOT_DECOMP,
        _default_decomposition_table,
        _generate_edge_program,
        _remove_invalid_ops_for_not_decompose,
        _replace_aten_ops_with_transformed_ops,
        _restore_transformed_ops_to_aten_ops,
    )

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
            program = decompose_if_needed(program, table)
            final_ops_to_preserve.update(needing)
        else:
            ops_no_decomp = _remove_invalid_ops_for_not_decompose(ops_no_decomp)
            table = _default_decomposition_table()
            for op in ops_no_decomp:
                table.pop(op, None)
            program = decompose_if_needed(program, table)
            preserved = (
                _replace_aten_ops_with_transformed_ops(METHOD, program, {METHOD: [partitioner]})
                or []
            )
            final_ops_to_preserve.update(preserved)
            program = decompose_if_needed(program, _default_decomposition_table())
            _restore_transformed_ops_to_aten_ops(program)
    preserve = list(final_ops_to_preserve)
    edge = _generate_edge_program(config, program, preserve_ops=preserve)
    config._core_aten_ops_exception_list = list(
        set(config._core_aten_ops_exception_list) | set(preserve)
    )
    return EdgeProgramManager({METHOD: edge}, None, config, preserve)


def decompose_if_needed(program: Any, table: dict) -> Any:
    """`program.run_decompositions(table)` unless no op in the graph is in `table`."""
    from executorch.exir.graph_module import contains_any_call_fn_target_op

    if contains_any_call_fn_target_op(program.graph_module, table):
        return program.run_decompositions(table)
    return program


def lower_edge_manager(manager: Any, partitioners: list[Any], config: Any) -> Any:
    """The tail of `to_edge_transform_and_lower` (executorch 1.5.1): partition + preprocess
    per partitioner, then its non-decomposition and IR-validity checks."""
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


def gen_edge_manager_for_partitioners(program: Any, partitioners: list[Any], config: Any) -> Any:
    """executorch's own `_gen_edge_manager_for_partitioners` for one method, from an export as
    `torch.export` gives it (the first step of `to_edge_transform_and_lower`, executorch
    1.5.1). The preview uses it where the mirror cannot start from a shared program."""
    from executorch.exir.program._program import _gen_edge_manager_for_partitioners

    return _gen_edge_manager_for_partitioners(
        {METHOD: partitioners}, {METHOD: program}, config, None
    )


def edge_compile_config(skip_dim_order: bool | None = None) -> Any:
    """An `EdgeCompileConfig`; `skip_dim_order` sets its private `_skip_dim_order` field
    (executorch 1.5.1: False keeps dim-order ops in the edge program, as Vulkan needs)."""
    from executorch.exir import EdgeCompileConfig

    if skip_dim_order is None:
        return EdgeCompileConfig()
    return EdgeCompileConfig(_skip_dim_order=skip_dim_order)


def event_instruction_id(event: Any) -> int | None:
    """The chain instruction an Inspector `Event` ran in: its `_instruction_id` field
    (executorch 1.5.1 keeps it private; the ETDump records it on every event)."""
    return getattr(event, "_instruction_id", None)
