"""Test-only native faults: a runtime that segfaults, aborts, is killed or hangs, on demand.

An isolated child imports this file when CNNOPT_PLUGINS names it (the extension hook of
cnnopt.isolation). CNNOPT_TEST_FAULTS picks the faults, comma-separated
RUNTIME-PRECISION-WHERE=KIND, e.g. "openvino-int8-compile=segv,onnxruntime-fp32-measure=hang":

- WHERE `compile`: inside the runtime's own compile call (OpenVINO's Core.compile_model, ONNX
  Runtime's InferenceSession), where the real crash of issue 10 happened; PRECISION is int8 when
  the graph is quantized, else fp32;
- WHERE `measure`: in the search's latency measurement; `test`: when the finishing stage of
  the search measures the candidate's test accuracy;
- KIND: segv (`ctypes.string_at(0)`), abort (`os.abort()`), oom (SIGKILL, what the
  out-of-memory killer sends), hang (sleeps for an hour) or load (`measure` only: every
  timed run takes 4x as long, as on a core shared with other work; see Loaded).

Each fault appends a line to CNNOPT_TEST_FAULT_LOG first, so a test can count how often a
candidate was really run. Nothing happens in a process that did not import this file.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path
from typing import Any

FAULTS = dict(
    item.split("=", 1) for item in os.environ.get("CNNOPT_TEST_FAULTS", "").split(",") if item
)


def fault(runtime: str, precision: str, where: str) -> str | None:
    kind = FAULTS.get(f"{runtime}-{precision}-{where}")
    if kind is None:
        return None
    log = os.environ.get("CNNOPT_TEST_FAULT_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(f"{runtime}-{precision}-{where}={kind}\n")
    print(f"native_faults: {kind} in {runtime} {precision} {where}", flush=True)
    if kind == "segv":
        ctypes.string_at(0)
    elif kind == "abort":
        os.abort()
    elif kind == "oom":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "hang":
        time.sleep(3600)
    return kind


class Loaded:
    """A predictor whose every run also spins the CPU for LOAD_FACTOR times its own
    duration: what a timing sees when the core is shared with other work. (A busy Python
    thread barely moves a median: torch keeps the GIL through small ops.)"""

    LOAD_FACTOR = 3.0

    def __init__(self, predictor: Any) -> None:
        self.inner = predictor

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def predict(self, x: Any) -> Any:
        started = time.perf_counter()
        out = self.inner.predict(x)
        until = time.perf_counter() + (time.perf_counter() - started) * self.LOAD_FACTOR
        while time.perf_counter() < until:
            pass
        return out


def _patch_openvino() -> None:
    import openvino as ov

    original = ov.Core.compile_model

    def compile_model(self: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        ops = model.get_ops() if hasattr(model, "get_ops") else []
        int8 = any(op.get_type_name() == "FakeQuantize" for op in ops)
        fault("openvino", "int8" if int8 else "fp32", "compile")
        return original(self, model, *args, **kwargs)

    ov.Core.compile_model = compile_model


def _patch_onnxruntime() -> None:
    import onnxruntime as ort

    original = ort.InferenceSession.__init__

    def init(self: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        blob = Path(path).read_bytes() if isinstance(path, (str, os.PathLike)) else bytes(path)
        fault("onnxruntime", "int8" if b"QuantizeLinear" in blob else "fp32", "compile")
        original(self, path, *args, **kwargs)

    ort.InferenceSession.__init__ = init


def _patch_measure() -> None:
    import cnnopt.search.evaluate_candidate as evaluate_candidate

    original = evaluate_candidate.measure

    def measure(predictor: Any, *args: Any, **kwargs: Any) -> Any:
        if fault(predictor.runtime, predictor.precision, "measure") == "load":
            return original(Loaded(predictor), *args, **kwargs)
        return original(predictor, *args, **kwargs)

    evaluate_candidate.measure = measure


def _patch_test_accuracy() -> None:
    import cnnopt.search.finalize as finalize

    original = finalize.add_test_accuracy

    def add_test_accuracy(evaluator: Any, records: Any, front: Any, data: Any) -> None:
        for i in front:
            fault(records[i].runtime, records[i].precision, "test")
        original(evaluator, records, front, data)

    finalize.add_test_accuracy = add_test_accuracy


if FAULTS:
    _patch_openvino()
    _patch_onnxruntime()
    _patch_measure()
    _patch_test_accuracy()
