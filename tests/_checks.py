"""Assertions shared by test modules."""

from __future__ import annotations


def assert_matches_delegation_info(graph_module, placement):
    """A placement counts nodes and ops exactly as executorch's get_delegation_info does."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    assert placement.delegated_nodes == info.num_delegated_nodes
    assert placement.fallback_nodes == info.num_non_delegated_nodes
    assert placement.num_delegated_subgraphs == info.num_delegated_subgraphs
    ours = {row.op: (row.delegated, row.fallback) for row in placement.coverage()}
    theirs = {op: (b.delegated, b.non_delegated) for op, b in info.delegation_by_operator.items()}
    assert ours == theirs


def delegation_info_counts(info) -> dict:
    """get_delegation_info's totals, subgraphs and per-op counts, comparable with placement_counts."""
    return {
        "delegated": info.num_delegated_nodes,
        "cpu": info.num_non_delegated_nodes,
        "subgraphs": info.num_delegated_subgraphs,
        "ops": {
            op: (b.delegated, b.non_delegated) for op, b in info.delegation_by_operator.items()
        },
    }


def placement_counts(placement) -> dict:
    """The same counts read off a workbench placement."""
    return {
        "delegated": placement.delegated_nodes,
        "cpu": placement.fallback_nodes,
        "subgraphs": placement.num_delegated_subgraphs,
        "ops": {row.op: (row.delegated, row.fallback) for row in placement.coverage()},
    }
