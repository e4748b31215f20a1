"""Benchmarks: the workbench against the plain executorch API, in one process and one run.

    .venv/bin/python benchmarks/run.py [--json] [--models mobilenet_v2 resnet18] [--backends ...]

For each model it times the plain script a user would write (torch.export ->
to_edge_transform_and_lower -> to_executorch -> write file) and the workbench doing the same
work, and prints ratios (workbench / plain; lower is better). It also checks that both produce
byte-identical .pte files wherever the plain API is itself deterministic (run twice).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)


def plain_lowering(spec, backend, out: Path) -> tuple[float, bytes]:
    """What a user writes by hand with executorch's API (partitioner settings as the backend's)."""
    import torch
    from executorch.exir import to_edge_transform_and_lower

    start = time.perf_counter()
    program = torch.export.export(spec.module, spec.example_inputs)
    kwargs = {"partitioner": backend.partitioners(backend.default_scheme)}
    config = backend.edge_compile_config()
    if config is not None:
        kwargs["compile_config"] = config
    executorch_program = to_edge_transform_and_lower(program, **kwargs).to_executorch()
    with open(out, "wb") as handle:
        executorch_program.write_to_file(handle)
    return time.perf_counter() - start, out.read_bytes()


def workbench_lowering(spec, backends: list[str], out: Path) -> tuple[float, dict[str, bytes]]:
    from etworkbench import lower

    start = time.perf_counter()
    report = lower(spec, backends, out_dir=out, cache=False)
    seconds = time.perf_counter() - start
    failed = [r.summary_line() for r in report.results if not r.ok]
    if failed:
        raise RuntimeError("; ".join(failed))
    return seconds, {r.backend: r.buffer for r in report.results}


def bench_preview(model: str, backends: list[str], full_s: float) -> dict:
    """Preview first time (fresh model object, nothing in memory) and after a selection change."""
    from etworkbench import preview
    from etworkbench.lowering import _preview

    _preview._exports.clear()
    _preview._decomposed.clear()
    start = time.perf_counter()
    preview(model, [backends[0]])
    first = time.perf_counter() - start
    retag = None
    if len(backends) > 1:
        preview(model, backends[1:])  # decompose for the others once
        start = time.perf_counter()
        preview(model, [backends[0]])  # only the selection changed back
        retag = time.perf_counter() - start
    else:
        start = time.perf_counter()
        preview(model, [backends[0]])
        retag = time.perf_counter() - start
    return {
        "first_s": round(first, 3),
        "first_ratio": round(first / full_s, 3),
        "reselect_s": round(retag, 3),
        "reselect_ratio": round(retag / full_s, 3),
    }


def bench_cache(spec, backend: str, out: Path) -> dict:
    """A repeated request: lowered once, then served from the on-disk cache."""
    from etworkbench import lower

    lower(spec, [backend])  # fills the cache (or hits it already)
    start = time.perf_counter()
    result = lower(spec, [backend], out_dir=out)[backend]
    seconds = time.perf_counter() - start
    return {
        "hit": result.cached,
        "seconds": round(seconds, 4),
        "load_s": result.timings_s.get("cache_load"),
    }


def bench_model(model: str, backends: list[str], work: Path) -> dict:
    from etworkbench import get_backend, load_model

    spec = load_model(model)
    row: dict = {"model": model, "single": {}, "multi": None}
    plain_total = 0.0
    for name in backends:
        backend = get_backend(name)
        if not backend.availability.available:
            row["single"][name] = {"skipped": backend.availability.reason}
            continue
        plain_s, plain_bytes = plain_lowering(spec, backend, work / f"{model}_{name}_plain.pte")
        _, plain_again = plain_lowering(spec, backend, work / f"{model}_{name}_plain2.pte")
        wb_s, wb_bytes = workbench_lowering(spec, [name], work / "wb")
        deterministic = plain_bytes == plain_again
        plain_total += plain_s
        row["single"][name] = {
            "plain_s": round(plain_s, 2),
            "workbench_s": round(wb_s, 2),
            "ratio": round(wb_s / plain_s, 3),
            "plain_deterministic": deterministic,
            "byte_identical": (wb_bytes[name] == plain_bytes) if deterministic else None,
            "pte_bytes": len(plain_bytes),
        }
    ran = [n for n in backends if "plain_s" in row["single"].get(n, {})]
    if ran:
        row["preview"] = bench_preview(model, ran, row["single"][ran[0]]["plain_s"])
        row["cache"] = bench_cache(spec, ran[0], work / "cache_out")
    if len(ran) > 1:
        multi_s, _ = workbench_lowering(spec, ran, work / "wb_multi")
        row["multi"] = {
            "backends": ran,
            "plain_separate_s": round(plain_total, 2),
            "workbench_s": round(multi_s, 2),
            "ratio": round(multi_s / plain_total, 3),
        }
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["mobilenet_v2", "resnet18"])
    parser.add_argument(
        "--backends", nargs="+", default=["xnnpack", "coreml", "vulkan", "openvino"]
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    os.environ["ETWB_CACHE_DIR"] = tempfile.mkdtemp(
        prefix="etwb-bench-cache-"
    )  # cold, private cache
    from etworkbench import load_model, lower

    lower(
        load_model("tiny_convnet"), ["xnnpack"], cache=False
    )  # warm-up: imports and first-call costs
    results = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "models": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            results["models"].append(bench_model(model, args.backends, Path(tmp)))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for row in results["models"]:
            for name, cell in row["single"].items():
                if "skipped" in cell:
                    print(f"{row['model']:<14} {name:<9} skipped: {cell['skipped']}")
                else:
                    print(
                        f"{row['model']:<14} {name:<9} plain {cell['plain_s']:6.2f}s  workbench "
                        f"{cell['workbench_s']:6.2f}s  ratio {cell['ratio']:.3f}  "
                        f"byte-identical {cell['byte_identical']}"
                    )
            if row.get("preview"):
                pv = row["preview"]
                print(
                    f"{row['model']:<14} preview first {pv['first_s']:.2f}s (ratio {pv['first_ratio']:.3f}), "
                    f"after a selection change {pv['reselect_s']:.3f}s (ratio {pv['reselect_ratio']:.3f})"
                )
            if row.get("cache"):
                print(
                    f"{row['model']:<14} cache hit {row['cache']['hit']}: {1000 * row['cache']['seconds']:.1f} ms"
                )
            if row["multi"]:
                multi = row["multi"]
                print(
                    f"{row['model']:<14} {len(multi['backends'])} backends: separate plain "
                    f"{multi['plain_separate_s']:.2f}s, workbench {multi['workbench_s']:.2f}s, "
                    f"ratio {multi['ratio']:.3f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
