"""`etwb lower --numerics [--json] --etrecord`: the per-node gap and the ETRecord from the CLI."""

from __future__ import annotations

import json

from etworkbench.cli import main


def _lower_numerics(tmp_path, *extra: str) -> int:
    """`etwb lower teaching_net --backends xnnpack --numerics EXTRA --out TMP`."""
    args = ["lower", "teaching_net", "--backends", "xnnpack", "--numerics", *extra]
    return main([*args, "--out", str(tmp_path)])


def test_lower_numerics_json_and_etrecord_beside_the_pte(tmp_path, capsys):
    code = _lower_numerics(tmp_path, "--json", "--etrecord")
    out = capsys.readouterr().out
    assert code == 0, out
    entry = json.loads(out)["results"][0]
    gaps = entry["numerics"]
    assert gaps["status"] == "ok" and gaps["rows"], gaps
    assert gaps["first_diverging"] is None  # fp32: float noise only
    assert all(row["relative"] <= 1e-5 for row in gaps["rows"])
    pte = tmp_path / entry["pte_path"].split("/")[-1]
    assert pte.is_file() and pte.with_suffix(".etrecord").stat().st_size > 0, sorted(
        tmp_path.iterdir()
    )


def test_lower_numerics_text_names_the_threshold(tmp_path, capsys):
    code = _lower_numerics(tmp_path, "--threshold", "1e-9")
    out = capsys.readouterr().out
    assert code == 0, out
    assert (
        "first diverging (relative > 1e-09):" in out
        and "first diverging (relative > 1e-09): none" not in out
    )


def test_bad_threshold_is_a_usage_error(tmp_path, capsys):
    code = _lower_numerics(tmp_path, "--threshold", "0")
    assert code == 2
    assert "threshold" in capsys.readouterr().err
