"""A backend registered only for tests: its partitioner or its compiler fails on purpose.

executorch finds a delegate's compiler by the `BackendDetails` subclass's name, so the class
below must be imported (it is, by importing this module) before a lowering uses it.
"""

from __future__ import annotations

from executorch.exir.backend.backend_details import BackendDetails, PreprocessResult


def register_failing_backend(monkeypatch, name: str, stage: str) -> None:
    """Register backend `name` that takes every op and fails in `stage`.

    `stage` is "partition" (its partitioner raises), "preprocess" (its compiler always raises),
    "preprocess-relu" (its compiler raises while processing a relu node, so the failure
    names that op, and succeeds on graphs without one), "preprocess-crash" (its compiler kills
    the process, as a segfault would) or "preprocess-hang" (its compiler never returns).
    """
    from executorch.exir.backend.partitioner import DelegationSpec, Partitioner, PartitionResult

    from etworkbench import backends
    from etworkbench.backends import Availability, Backend

    compiler = {
        "preprocess-relu": "FailingOnReluPreprocess",
        "preprocess-crash": "CrashingPreprocess",
        "preprocess-hang": "HangingPreprocess",
    }.get(stage, "FailingPreprocess")

    class Tagging(Partitioner):
        def partition(self, program):
            if stage == "partition":
                raise RuntimeError("simulated compiler crash in partition()")
            for node in program.graph_module.graph.nodes:
                if node.op == "call_function":
                    node.meta["delegation_tag"] = "tag0"
            return PartitionResult(program, {"tag0": DelegationSpec(compiler, [])})

    class Failing(Backend):
        title, delegate_ids = "Failing", (compiler,)

        def probe(self):
            return Availability(True)

        def partitioners(self, scheme):
            return [Tagging()]

    Failing.name = name
    names = backends.backend_names()
    monkeypatch.setattr(backends, "backend_names", lambda: [*names, name])
    monkeypatch.setitem(backends._loaded, name, Failing())


class FailingPreprocess(BackendDetails):
    """This compiler always fails."""

    @staticmethod
    def preprocess(program, compile_specs):
        raise RuntimeError("simulated compiler crash in preprocess()")


class FailingOnReluPreprocess(BackendDetails):
    """This compiler cannot handle relu: it fails with the relu node in hand, as real ones do."""

    @staticmethod
    def preprocess(program, compile_specs):
        for node in program.graph.nodes:
            if node.op == "call_function" and "relu" in str(node.target):
                raise RuntimeError(f"simulated compiler: no kernel for {node.target}")
        return PreprocessResult(processed_bytes=b"compiled")


class CrashingPreprocess(BackendDetails):
    """This compiler kills its process, as a native segfault or the OOM killer would."""

    @staticmethod
    def preprocess(program, compile_specs):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


class HangingPreprocess(BackendDetails):
    """This compiler never returns."""

    @staticmethod
    def preprocess(program, compile_specs):
        import time

        time.sleep(3600)
