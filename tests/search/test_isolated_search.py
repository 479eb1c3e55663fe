"""Native crashes in a candidate's runtime do not take the search down (issue 10, part 1).

A test-only plugin (tests/native_faults.py, imported by the isolated child through
CNNOPT_PLUGINS) makes OpenVINO segfault while compiling the int8 graph (the crash users hit),
ONNX Runtime abort while compiling its int8 graph, and ONNX Runtime fp32 hang while measuring.
The search must finish with exactly those three failed, each naming the signal or limit and
the stage, the other two measured, a report written, and --resume must not run them again.
A segfault in the finishing stage (the front's test accuracy) is stored next to the candidate.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from search_toys import toy_data, toy_model
from torch import nn

from cnnopt.runtimes.base import RUNTIMES
from cnnopt.search import Budget, RobustnessSettings, SearchSpace, Target, optimize

PLUGIN = Path(__file__).resolve().parents[1] / "native_faults.py"
FAULTS = "openvino-int8-compile=segv,onnxruntime-int8-compile=abort,onnxruntime-fp32-measure=hang"
FINISH_FAULTS = "eager-fp32-test=segv,openvino-fp32-test=segv"  # the front's test accuracy
pytestmark = pytest.mark.skipif(
    not {"onnxruntime", "openvino"} <= set(RUNTIMES.names()), reason="needs both runtimes"
)


def _run(out: Path, trials: int, resume: bool = False):
    space = SearchSpace(
        prune_ratios=(0.0,), lowrank_ratios=(0.0,), distill_epochs=(0.0,),
        precisions=("fp32", "int8"), runtimes=("eager", "onnxruntime", "openvino"),
    )  # fmt: skip
    return optimize(
        toy_model(8), toy_data(120, 1), toy_data(60, 2), test_data=toy_data(60, 3),
        budget=Budget(trials=trials, finetune_epochs=0.5, candidate_timeout_s=15),
        target=Target(batch_size=2, threads=1, latency_max_seconds=0.05),
        space=space, robustness=RobustnessSettings(samples=16, pgd_steps=1), out=out,
        resume=resume, train_baseline=False, model_name="toy", progress=False,
    )  # fmt: skip


def test_crashing_and_hanging_candidates_fail_alone_and_are_not_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault_log = tmp_path / "faults.log"
    monkeypatch.setenv("CNNOPT_PLUGINS", str(PLUGIN))
    monkeypatch.setenv("CNNOPT_TEST_FAULTS", f"{FAULTS},{FINISH_FAULTS}")
    monkeypatch.setenv("CNNOPT_TEST_FAULT_LOG", str(fault_log))
    out = tmp_path / "run"
    started = time.time()
    result = _run(out, trials=5)
    print(f"search with 3 native faults: {time.time() - started:.1f} s")

    by_point = {(r.runtime, r.precision): r for r in result.records}
    assert len(by_point) == 5, [r.name for r in result.records]
    segv, abort, hang = (
        by_point["openvino", "int8"], by_point["onnxruntime", "int8"],
        by_point["onnxruntime", "fp32"],
    )  # fmt: skip
    assert segv.status == "failed" and "SIGSEGV" in segv.error, segv.error
    assert "while compiling the model" in segv.error and segv.extra["stage"] == "compile"
    assert "native_faults.py" in segv.error, "the child's faulthandler stack is in the error"
    assert abort.status == "failed" and "SIGABRT" in abort.error, abort.error
    assert abort.extra["stage"] == "compile"
    assert hang.status == "failed" and "time limit" in hang.error and "15 s" in hang.error
    assert "while measuring latency" in hang.error and "native_faults.py" in hang.error
    for ok in (by_point["eager", "fp32"], by_point["openvino", "fp32"]):
        assert ok.status == "ok" and ok.latency_ms_p50 > 0, ok.error
    assert {r.name for r in (segv, abort, hang)} and segv.name.endswith("+ int8 on openvino")

    results = json.loads((out / "results.json").read_text())
    assert len(results["records"]) == 5 and results["recommended"]["index"] is not None
    assert (out / "report.html").exists() and (out / "best" / "record.json").exists()
    assert results["front"]
    for i in results["front"]:
        extra = results["records"][i]["extra"]
        assert "test_accuracy" not in extra and "SIGSEGV" in extra["test_error"], extra
        assert "measuring test accuracy" in extra["test_error"]
    assert "SIGSEGV" in (out / "report.html").read_text()
    assert len(fault_log.read_text().splitlines()) == 3 + len(results["front"])
    fault_log.unlink()

    monkeypatch.setenv("CNNOPT_TEST_FAULTS", FAULTS)
    started = time.time()
    again = _run(out, trials=6, resume=True)  # more trials, but every point is measured
    print(f"resume: {time.time() - started:.1f} s")
    assert not fault_log.exists(), "a crashed candidate ran again"
    assert all("test_accuracy" in again.records[i].extra for i in again.front)
    measured = [(r.extra["trial"], r.status, r.error, r.latency_ms_p50) for r in result.records]
    assert [(r.extra["trial"], r.status, r.error, r.latency_ms_p50) for r in again.records] == (
        measured
    )


def test_a_model_no_child_can_load_runs_in_process_with_a_note(tmp_path: Path) -> None:
    class Local(nn.Module):  # a local class pickles by name, which no other process has
        def __init__(self) -> None:
            super().__init__()
            self.body = toy_model(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

    space = SearchSpace(
        prune_ratios=(0.0,), lowrank_ratios=(0.0,), distill_epochs=(0.0,), precisions=("fp32",),
        runtimes=("eager",),
    )  # fmt: skip
    result = optimize(
        Local(), toy_data(60, 1), toy_data(30, 2), budget=Budget(trials=1),
        target=Target(batch_size=1, threads=1, latency_max_seconds=0.02), space=space,
        robustness=RobustnessSettings(enabled=False), out=tmp_path, train_baseline=False,
        model_name="local", progress=False,
    )  # fmt: skip
    assert [r.status for r in result.records] == ["ok"]
    isolation = result.results["isolation"]
    assert not isolation["isolated"] and "not isolated" in isolation["note"]
    assert "Local" in isolation["note"], isolation["note"]
