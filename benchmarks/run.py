"""Benchmarks: the workbench against the plain executorch API, in one process and one run.

    .venv/bin/python benchmarks/run.py [--json] [--models mobilenet_v2 resnet18] [--backends ...]
                                       [--sets xnnpack,coreml xnnpack,coreml,vulkan,openvino]

For each model it times the plain script a user would write (torch.export ->
to_edge_transform_and_lower -> to_executorch -> write file) for each backend and the workbench
doing the same work (single lowerings: each side RUNS times, alternating, the fastest counts),
and prints ratios (workbench / plain; lower is better). It also checks that both produce
byte-identical .pte files wherever the plain API is itself deterministic (the same bytes in all
its runs). Each multi-backend set is one workbench `lower(..., jobs=0)` (as the CLI and the app
lower several backends: forked workers sharing one export) against the sum of the separate plain
lowerings, and also timed all in one process (`jobs=None`). Defaults: mobilenet_v2 and
resnet18; XNNPACK, Core ML, Vulkan, OpenVINO; the sets xnnpack+coreml and all four. With
`--backends` and no `--sets`, the one set is those backends.
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

DEFAULT_BACKENDS = ["xnnpack", "coreml", "vulkan", "openvino"]
DEFAULT_SETS = ["xnnpack,coreml", "xnnpack,coreml,vulkan,openvino"]
RUNS = 3  # timed runs per single lowering and per first preview, on both sides

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


def _timed_lowering(run) -> tuple[float, dict[str, bytes]]:
    """Wall-clock seconds of `run()` (a LoweringReport) and each backend's .pte bytes."""
    start = time.perf_counter()
    report = run()
    seconds = time.perf_counter() - start
    failed = [r.summary_line() for r in report.results if not r.ok]
    if failed:
        raise RuntimeError("; ".join(failed))
    return seconds, {r.backend: r.buffer for r in report.results}


def workbench_lowering(
    spec, backends: list[str], out: Path, jobs: int | None = None
) -> tuple[float, dict[str, bytes]]:
    """`lower()` as the CLI and the app call it (jobs=0: several backends in forked workers
    that share one export) or, with jobs=None, everything in this process."""
    from etworkbench import lower

    return _timed_lowering(lambda: lower(spec, backends, out_dir=out, cache=False, jobs=jobs))


def bench_preview(model: str, backends: list[str], full_s: float) -> dict:
    """Preview first time (nothing in memory; fastest of RUNS) and after a selection change."""
    from etworkbench import preview
    from etworkbench.lowering import _preview

    first = float("inf")
    for _ in range(RUNS):  # as for the full lowerings it is compared with: the fastest run counts
        _preview._exports.clear()
        _preview._decomposed.clear()
        start = time.perf_counter()
        preview(model, [backends[0]])
        first = min(first, time.perf_counter() - start)
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


def bench_cache(model: str, backend: str, out: Path) -> dict:
    """A repeated request by zoo name, served from the on-disk cache (as the CLI or UI asks)."""
    from etworkbench import lower
    from etworkbench.lowering import _cache

    lower(model, [backend])  # fills the cache (or hits it already)
    _cache._facts.clear()  # model facts from disk, as in a new process
    start = time.perf_counter()
    result = lower(model, [backend])[backend]
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    saved = lower(model, [backend], out_dir=out)[backend]
    with_save = time.perf_counter() - start
    return {
        "hit": result.cached and saved.cached,
        "seconds": round(seconds, 4),
        "load_s": result.timings_s.get("cache_load"),
        "with_save_s": round(with_save, 4),
        "save_s": saved.timings_s.get("save"),
        "pte_bytes": len(saved.buffer),
    }


def bench_user_cache(model: str, backend: str) -> dict:
    """A repeated request for a user module (keyed by its exported program) against one
    `torch.export` of it: a hit costs an export, a digest and one check run (goal <= 1.2x)."""
    import torch

    from etworkbench import load_model, lower

    spec = load_model(model)
    lower(spec.module, [backend], example_inputs=spec.example_inputs)  # fills the cache
    export_s, hit_s, hit = float("inf"), float("inf"), True
    for _ in range(RUNS):
        start = time.perf_counter()
        torch.export.export(spec.module, spec.example_inputs)
        export_s = min(export_s, time.perf_counter() - start)
        start = time.perf_counter()
        result = lower(spec.module, [backend], example_inputs=spec.example_inputs)[backend]
        hit_s = min(hit_s, time.perf_counter() - start)
        hit = hit and result.cached
    return {
        "hit": hit,
        "export_s": round(export_s, 3),
        "hit_s": round(hit_s, 3),
        "ratio": round(hit_s / export_s, 3),
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _default_jobs() -> int:
    from etworkbench.lowering._workers import _default_jobs as jobs

    return jobs()


def bench_model(model: str, backends: list[str], sets: list[list[str]], work: Path) -> dict:
    from etworkbench import get_backend, load_model

    spec = load_model(model)
    row: dict = {"model": model, "single": {}, "multi": []}
    plain_s: dict[str, float] = {}
    for name in backends:
        backend = get_backend(name)
        if not backend.availability.available:
            row["single"][name] = {"skipped": backend.availability.reason}
            continue
        # Each side RUNS times, alternating, the fastest run counts (one run is ±25 % here).
        plain, wb_s = float("inf"), float("inf")
        plain_outputs: list[bytes] = []
        for run in range(RUNS):
            seconds, data = plain_lowering(spec, backend, work / f"{model}_{name}_plain{run}.pte")
            plain, plain_outputs = min(plain, seconds), [*plain_outputs, data]
            seconds, wb_bytes = workbench_lowering(spec, [name], work / "wb")
            wb_s = min(wb_s, seconds)
        plain_bytes = plain_outputs[0]
        deterministic = len(set(plain_outputs)) == 1
        plain_s[name] = plain
        row["single"][name] = {
            "plain_s": round(plain, 2),
            "workbench_s": round(wb_s, 2),
            "ratio": round(wb_s / plain, 3),
            "plain_deterministic": deterministic,
            "byte_identical": (wb_bytes[name] == plain_bytes) if deterministic else None,
            "pte_bytes": len(plain_bytes),
        }
    ran = [n for n in backends if n in plain_s]
    if ran:
        row["preview"] = bench_preview(model, ran, plain_s[ran[0]])
        row["cache"] = bench_cache(model, ran[0], work / "cache_out")
        row["user_cache"] = bench_user_cache(model, ran[0])
    for chosen in sets:
        missing = [n for n in chosen if n not in plain_s]
        if missing or len(chosen) < 2:
            row["multi"].append({"backends": chosen, "skipped": f"not lowered alone: {missing}"})
            continue
        plain_total = sum(plain_s[n] for n in chosen)
        multi_s, multi_bytes = workbench_lowering(spec, chosen, work / "wb_multi", jobs=0)
        one_s, one_bytes = workbench_lowering(spec, chosen, work / "wb_one")
        deterministic = [n for n in chosen if row["single"][n]["plain_deterministic"]]
        plain_bytes = {n: (work / f"{model}_{n}_plain0.pte").read_bytes() for n in deterministic}
        row["multi"].append(
            {
                "backends": chosen,
                "plain_separate_s": round(plain_total, 2),
                "workbench_s": round(multi_s, 2),
                "ratio": round(multi_s / plain_total, 3),
                "byte_identical": {n: multi_bytes[n] == plain_bytes[n] for n in deterministic},
                "jobs": min(len(chosen), _default_jobs()),
                "one_process_s": round(one_s, 2),
                "one_process_ratio": round(one_s / plain_total, 3),
                "one_process_byte_identical": {
                    n: one_bytes[n] == plain_bytes[n] for n in deterministic
                },
            }
        )
    return row


def bench_numerics(model: str = "mobilenet_v2", backend: str = "xnnpack") -> dict:
    """Per-node numerics of an int8 program against one plain host run (`result.run()`, as
    `--run` does), same process. Cold: the ETRecord is made (one more lowering); warm: it is
    on disk and only the numerics are measured again (in-memory result cache cleared)."""
    os.environ.setdefault("ETWB_CACHE_DIR", tempfile.mkdtemp(prefix="etwb-bench-cache-"))
    from etworkbench import lower
    from etworkbench.runtime import _numerics

    result = lower(model, [backend], "int8")[backend]
    result.run(repeats=1, warmup=0, random_inputs=0)  # runtime warm-up, untimed
    start = time.perf_counter()
    run = result.run()
    run_s = time.perf_counter() - start
    start = time.perf_counter()
    cold = result.numerics()
    cold_s = time.perf_counter() - start
    _numerics._CACHE.clear()
    start = time.perf_counter()
    warm = result.numerics()
    warm_s = time.perf_counter() - start
    first = warm.first_diverging
    return {
        "model": model,
        "backend": backend,
        "run_s": round(run_s, 3),
        "numerics_cold_s": round(cold_s, 3),
        "numerics_warm_s": round(warm_s, 3),
        "ratio_cold": round(cold_s / run_s, 2),
        "ratio_warm": round(warm_s / run_s, 2),
        "numerics_seconds": {"cold": cold.seconds, "warm": warm.seconds},
        "nodes": len(warm.rows),
        "first_diverging": first.name if first else None,
        "last_node_max_abs": warm.last.max_abs if warm.last else None,
        "run_max_abs_example_and_random": run.error.max_abs if run.error else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["mobilenet_v2", "resnet18"])
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument(
        "--sets", nargs="*", default=None, help="comma-separated backend sets lowered together"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--numerics", action="store_true", help="only the numerics entry (bench_numerics)"
    )
    args = parser.parse_args(argv)
    if args.numerics:
        print(json.dumps(bench_numerics(args.models[0]), indent=2))
        return 0
    if args.sets is None:
        args.sets = [",".join(args.backends)] if args.backends else list(DEFAULT_SETS)
    sets = [s.split(",") for s in args.sets]
    backends = args.backends or list(DEFAULT_BACKENDS)
    backends += [n for chosen in sets for n in chosen if n not in backends]

    os.environ["ETWB_CACHE_DIR"] = tempfile.mkdtemp(
        prefix="etwb-bench-cache-"
    )  # cold, private cache
    from etworkbench import load_model, lower

    # Warm-up of every backend: imports and first-call costs (pattern graphs built once per
    # process) are paid before any timing, by neither side.
    lower(load_model("tiny_convnet"), backends, cache=False)
    results = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": _version("torch"),
            "executorch": _version("executorch"),
        },
        "models": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            load_before = os.getloadavg()
            row = bench_model(model, backends, sets, Path(tmp))
            row["loadavg_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
            results["models"].append(row)
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
                cache = row["cache"]
                print(
                    f"{row['model']:<14} cache hit {cache['hit']}: {1000 * cache['seconds']:.1f} ms "
                    f"({1000 * cache['with_save_s']:.1f} ms with the .pte written)"
                )
            if row.get("user_cache"):
                user = row["user_cache"]
                print(
                    f"{row['model']:<14} user-module cache hit {user['hit']}: {user['hit_s']:.3f}s "
                    f"vs torch.export {user['export_s']:.3f}s, ratio {user['ratio']:.3f}"
                )
            for multi in row["multi"]:
                if "skipped" in multi:
                    print(f"{row['model']:<14} {'+'.join(multi['backends'])}: {multi['skipped']}")
                    continue
                print(
                    f"{row['model']:<14} {len(multi['backends'])} backends: separate plain "
                    f"{multi['plain_separate_s']:.2f}s, workbench ({multi['jobs']} forked workers) "
                    f"{multi['workbench_s']:.2f}s, ratio {multi['ratio']:.3f}, byte-identical "
                    f"{multi['byte_identical']}; in one process {multi['one_process_s']:.2f}s, "
                    f"ratio {multi['one_process_ratio']:.3f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
