"""A command that fails *after* its inputs were checked (a model that cannot be exported, a
transform that needs data, a dataset or runtime found wrong once --out was prepared, a baseline
that diverges) leaves no --out folder, no file and no temporary anywhere: the contract of
docs/bad-inputs.md, which before held only for refusals caught before --out was made.
A folder the user already had stays, with what it held.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from bad_input_files import nan_model_file
from test_bad_inputs import (
    assert_nothing_left,
    assert_one_line_error,
    files_under,
    run_in_process,
    run_subprocess,
)

# A model that runs in PyTorch but fails inside the ONNX exporters (as a layer without an
# ONNX conversion does): every check before export passes, the export itself fails.
NO_ONNX = """
import torch
from torch import nn


class NoOnnx(nn.Module):
    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        if torch.jit.is_tracing() or torch.compiler.is_exporting():
            raise RuntimeError("this layer has no ONNX conversion")
        return self.head(self.conv(x).relu().mean((2, 3)))


def build(in_channels=1, num_classes=10):
    return NoOnnx(in_channels, num_classes)
"""
NO_ONNX_MODEL = ["--model", "no_onnx.py:build"]
USER_ARCHS = Path(__file__).resolve().parents[1] / "user_archs.py"

# (argv, fragment of the one-line error); each failed after --out was created, before.
LATE_FAILURES = {
    "export-fails-mid-export": (
        ["export", *NO_ONNX_MODEL, "--input", "1x16x16", "--out", "out/exported"],
        "ONNX export failed",
    ),
    "quantize-export-fails": (
        ["quantize", *NO_ONNX_MODEL, "--dataset", "digits", "--limit", "50", "--out", "q"],
        "ONNX export failed",
    ),
    "prune-taylor-without-data": (
        [
            "prune",
            "--model",
            "lenet5",
            "--input",
            "1x16x16",
            "--importance",
            "taylor",
            "--out",
            "pruned",
        ],
        "taylor importance needs training or calibration data",
    ),
    "eval-json-dataset-unknown": (
        ["eval", "--model", "lenet5", "--dataset", "nosuch", "--out", "results/eval.json"],
        "unknown dataset",
    ),
    "bench-json-runtime-unknown": (
        [
            "bench",
            "--model",
            "lenet5",
            "--input",
            "1x16x16",
            "--runtime",
            "nosuch",
            "--out",
            "results/bench.json",
        ],
        "unknown runtime",
    ),
    "attack-json-dataset-unknown": (
        ["attack", "--model", "lenet5", "--dataset", "nosuch", "--out", "results/attack.json"],
        "unknown dataset",
    ),
}


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "no_onnx.py").write_text(NO_ONNX)
    monkeypatch.chdir(work)
    monkeypatch.setenv("CNNOPT_OFFLINE", "1")
    return work


@pytest.mark.parametrize("name", list(LATE_FAILURES))
def test_a_late_failure_leaves_nothing(name: str, work: Path, capsys) -> None:
    argv, expect = LATE_FAILURES[name]
    before = files_under(work)
    code, _, err = run_in_process([*argv, "--json"], capsys)
    assert_one_line_error(code, err, expect)
    assert_nothing_left(work, before)


def test_a_folder_the_user_had_stays_with_its_files(work: Path, capsys) -> None:
    """A failed export into an existing folder removes only what it wrote."""
    mine = work / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    before = files_under(work)
    argv = ["export", *NO_ONNX_MODEL, "--input", "1x16x16", "--out", "mine", "--json"]
    code, _, err = run_in_process(argv, capsys)
    assert_one_line_error(code, err, "ONNX export failed")
    assert_nothing_left(work, before)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_a_diverging_optimize_baseline_leaves_no_run_folder(work: Path, capsys) -> None:
    """The baseline turns NaN in its second epoch: nothing finished, nothing to resume."""
    model = nan_model_file(work, after=30)
    argv = [
        "optimize", "--model", f"{model.name}:build", "--dataset", "digits", "--trials", "2",
        "--time-budget", "120", "--threads", "1", "--json", "--out", "run",
    ]  # fmt: skip
    before = files_under(work)
    code, _, err = run_in_process(argv, capsys)
    last = err.strip().splitlines()[-1:]  # the baseline's epoch lines come first
    assert_one_line_error(code, "\n".join(last), "training diverged")
    assert_nothing_left(work, before)


def test_a_report_that_cannot_be_rendered_writes_no_file(work: Path) -> None:
    """An edited results.json whose recommended accuracy is text: rendering fails part way;
    before, pareto.png was written and then the command failed."""
    from cnnopt.cli import main

    run = work / "run"
    run.mkdir()
    base = {"name": "base", "accuracy": 0.9, "latency_ms_p50": 2.0, "status": "ok"}
    edited = {"name": "fast", "accuracy": "n/a", "latency_ms_p50": 1.0, "status": "ok"}
    results = {"records": [base, edited], "front": [0, 1], "baseline": 0,
               "recommended": {"index": 1}}  # fmt: skip
    (run / "results.json").write_text(json.dumps(results))
    before = files_under(work)
    with pytest.raises((TypeError, ValueError)):  # a bug, with its traceback: no file
        main(["report", str(run)])
    assert_nothing_left(work, before)


def test_quantize_in_a_read_only_working_directory_leaves_nothing_there(tmp_path: Path) -> None:
    """ONNX Runtime's quant_pre_process writes sym_shape_infer_temp.onnx and <uuid>.data into
    the current directory when its symbolic shape inference is incomplete, as it is for this
    encoder-decoder. Tests run as root, who may write into a 0o555 folder anyway, so the
    folder is also checked to stay empty."""
    cwd = tmp_path / "readonly"
    cwd.mkdir()
    out = tmp_path / "int8"
    model = f"{USER_ARCHS}:encoder_decoder_pooled"
    cwd.chmod(0o555)
    try:
        argv = ["quantize", "--model", model, "--dataset", "digits", "--limit", "100"]
        argv += ["--calib-size", "64", "--out", str(out), "--json"]
        result = run_subprocess(argv, cwd, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(result.stdout)["config"]["mode"] == "int8_static"
        assert (out / "model.onnx").is_file()
        assert list(cwd.iterdir()) == [], "quantize wrote into the working directory"
    finally:
        cwd.chmod(stat.S_IRWXU)
        shutil.rmtree(cwd, ignore_errors=True)
