"""The per-node overlay every producer hands to every view."""

from __future__ import annotations

from etworkbench.analysis.overlays import NodeOverlay


def test_worst_nodes_follow_the_direction_of_the_measure():
    error = NodeOverlay("error", "abs", {"a": 0.1, "b": 0.5, "c": 0.5, "d": 0.0})
    assert error.worst(3) == [("b", 0.5), ("c", 0.5), ("a", 0.1)]
    snr = NodeOverlay("snr", "dB", {"a": 40.0, "b": 12.0, "c": 80.0}, higher_is_worse=False)
    assert [name for name, _ in snr.worst(2)] == ["b", "a"]


def test_to_dict_copies_values_and_details():
    overlay = NodeOverlay("latency", "ms", {"conv": 1.5}, {"conv": {"count": 5}}, note="5 runs")
    data = overlay.to_dict()
    data["values"]["conv"] = 0.0
    data["details"]["conv"]["count"] = 0
    assert overlay.values == {"conv": 1.5} and overlay.details == {"conv": {"count": 5}}
    assert data["unit"] == "ms" and data["note"] == "5 runs" and data["higher_is_worse"]
