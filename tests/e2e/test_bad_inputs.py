"""The bad-input catalogue, run through the real CLI: every mistake in bad_input_cases.CASES
exits 2 with exactly one `cnnopt: error: what; how to fix` line, no traceback and no new file.

Most cases run in-process (`cnnopt.cli.main`, the code path of the console script) to keep the
file fast; the exit-code-sensitive ones (a representative set, NaN loss, Ctrl-C) run
`python -m cnnopt.cli` in a subprocess exactly as a user's shell would.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from bad_input_cases import CASES, Case
from bad_input_files import (
    argparse_required_model,
    exiting_factory,
    nan_model_file,
    out_under_a_file,
    pickled_module,
    pickled_state_dict,
)

from cnnopt.cli import main

TRAIN = ["train", "--json", "--model", "lenet5", "--dataset", "digits", "--threads", "1"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lenet5 trained for one short epoch on 16x16 digits (1 channel): what cases break."""
    out = tmp_path_factory.mktemp("trained") / "lenet5-digits"
    assert main([*TRAIN, "--limit", "128", "--epochs", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory that sees no dataset copies and never downloads."""
    import cnnopt.data.locate

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("CNNOPT_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # outside: caches are no output
    monkeypatch.delenv("CNNOPT_DATA", raising=False)
    monkeypatch.setattr(cnnopt.data.locate, "SYSTEM_DATASETS", tmp_path / "no-system-data")
    return work


def run_in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `cnnopt ARGV` run through the console script's main."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors exit from inside parse_args
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_subprocess(argv: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CNNOPT_OFFLINE": "1"}
    command = [sys.executable, "-m", "cnnopt.cli", *argv]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_error(code: int, err: str, expect: str) -> str:
    """Exit 2 and exactly one 'cnnopt: error: <what>; <how to fix>' line on stderr."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}, stderr: {err}"
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    line = lines[0]
    assert line.startswith("cnnopt: error: "), line
    assert "; " in line, f"no hint saying what to do: {line}"
    assert expect.lower() in line.lower(), f"{expect!r} not in: {line}"
    return line


def files_under(root: Path) -> set[Path]:
    """Files and folders: a refused command must not leave even an empty --out folder."""
    return set(root.rglob("*"))


def assert_nothing_left(root: Path, before: set[Path]) -> None:
    """No temporary file anywhere and no new (half-written) output from the failed command."""
    leftovers = sorted(str(p) for p in root.rglob("*.tmp"))
    assert not leftovers, f"temporary files left: {leftovers}"
    new = sorted(str(p.relative_to(root)) for p in files_under(root) - before)
    assert not new, f"a failed command left files or folders: {new}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, work: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if case.setup is not None:
        case.setup(work, ckpt)
    before = files_under(work)
    argv = [arg.replace("{ckpt}", str(ckpt)) for arg in case.argv]
    code, _, err = run_in_process(argv, capsys)
    assert_one_line_error(code, err, case.expect)
    assert_nothing_left(work, before)
    assert not (work / "PWNED").exists(), "a pickle ran code"
    assert not list(work.parent.glob("ESCAPED")), "an archive wrote outside its folder"


SUBPROCESS_CASES = {
    "unknown-model": (["eval", "--model", "nosuch", "--dataset", "digits"], None, "unknown model"),
    "threads-zero": ([*TRAIN, "--threads", "0"], None, "--threads"),
    "pickle-refused": (
        ["eval", "--model", "whole.pt", "--dataset", "digits"],
        pickled_module,
        "needs pickle",
    ),
    "out-under-a-file": (
        [*TRAIN, "--limit", "64", "--epochs", "1", "--out", "afile/run"],
        out_under_a_file,
        "cannot create output directory",
    ),
    # rc 1 and no message before (the factory's sys.exit() ended cnnopt itself)
    "model-file-sys-exit": (
        ["eval", "--model", "net.py:build", "--dataset", "digits"],
        exiting_factory,
        "build() in 'net.py' called sys.exit()",
    ),
    # argparse's usage text and "unrecognized arguments: eval --model ..." before
    "model-file-argparse": (
        ["eval", "--model", "net.py:build", "--dataset", "digits"],
        argparse_required_model,
        "the following arguments are required: --data",
    ),
}


@pytest.mark.parametrize("name", list(SUBPROCESS_CASES))
def test_bad_input_exit_code_in_a_real_process(name: str, work: Path, ckpt: Path) -> None:
    argv, setup, expect = SUBPROCESS_CASES[name]
    if setup is not None:
        setup(work, ckpt)
    before = files_under(work)
    result = run_subprocess(argv, work)
    assert_one_line_error(result.returncode, result.stderr, expect)
    assert_nothing_left(work, before)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only directories")
def test_unwritable_output_directory(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = work / "locked"
    locked.mkdir(mode=0o555)
    code, _, err = run_in_process([*TRAIN, "--limit", "64", "--out", str(locked / "run")], capsys)
    assert_one_line_error(code, err, "output directory")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(work: Path) -> None:
    """64 images in batches of 32: 2 steps per epoch, so epoch 1 is saved before step 4 NaNs."""
    model = nan_model_file(work, after=3)
    argv = [
        "train",
        "--json",
        "--model",
        f"{model}:build",
        "--dataset",
        "digits",
        "--limit",
        "64",
        "--batch-size",
        "32",
        "--epochs",
        "3",
        "--threads",
        "1",
        "--out",
        "run",
    ]
    result = run_subprocess(argv, work)
    line = assert_one_line_error(result.returncode, result.stderr, "loss became nan")
    assert "last good checkpoint in run is kept" in line
    assert "--grad-clip" in line
    assert not list(work.rglob("*.tmp"))
    state = json.loads((work / "run" / "state.json").read_text())
    assert state["step"] == 2 and len(state["history"]) == 1

    from cnnopt.serialize import load_model

    restored = load_model(work / "run", which="last")
    assert all(torch.isfinite(p).all() for p in restored.state_dict().values())
    assert torch.isfinite(restored(torch.zeros(2, 1, 16, 16))).all()
    assert not (work / "run" / "metrics.json").exists(), "no results for a failed run"


def test_ctrl_c_during_training_stops_cleanly_and_resumes(work: Path) -> None:
    argv = [*TRAIN, "--limit", "256", "--epochs", "8", "--out", "run"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "cnnopt.cli", *argv]
    proc = subprocess.Popen(
        command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 120
    while not (work / "run" / "state.json").exists() and proc.poll() is None:
        assert time.time() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnopt: interrupted"), err
    assert "--resume" in lines[0] and "Traceback" not in err
    assert not list(work.rglob("*.tmp"))
    stopped = json.loads((work / "run" / "state.json").read_text())
    assert not stopped["finished"]
    assert not (work / "run" / "metrics.json").exists()

    resumed = subprocess.run(
        [*command, "--resume"], cwd=work, env=env, capture_output=True, text=True, timeout=180
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = json.loads(resumed.stdout)
    assert metrics["history"][-1]["epoch"] == 8
    assert metrics["history"][0]["epoch"] == stopped["history"][0]["epoch"], "history kept"
    assert json.loads((work / "run" / "state.json").read_text())["finished"]


# --- safe files: what is accepted, and only when it is safe ------------------------------


def test_state_dict_loads_without_trust_because_it_needs_no_code(
    work: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pickled_state_dict(work, ckpt)
    argv = ["eval", "--json", "--dataset", "digits", "--model-arch", "lenet5"]
    code, out, err = run_in_process([*argv, "--model", "weights.pth"], capsys)
    assert code == 0, err
    code, reference, err = run_in_process(
        ["eval", "--json", "--dataset", "digits", "--model", str(ckpt)], capsys
    )
    assert code == 0, err
    assert json.loads(out)["accuracy"] == pytest.approx(json.loads(reference)["accuracy"])


def test_whole_pickled_model_loads_only_with_trust_pickle(
    work: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pickled_module(work, ckpt)
    argv = ["eval", "--json", "--dataset", "digits", "--model", "whole.pt", "--limit", "50"]
    code, _, err = run_in_process(argv, capsys)
    assert_one_line_error(code, err, "--trust-pickle")
    code, out, err = run_in_process([*argv, "--trust-pickle"], capsys)
    assert code == 0, err
    assert json.loads(out)["num_samples"] == 50


def test_every_torch_load_in_the_source_is_weights_only() -> None:
    """Only the --trust-pickle path may pass weights_only as a variable (read from the AST, so
    docstrings that mention torch.load do not count)."""
    src = Path(__file__).resolve().parents[2] / "src" / "cnnopt"
    calls = []
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            func = getattr(node, "func", None)
            if (
                isinstance(node, ast.Call)
                and isinstance(func, ast.Attribute)
                and func.attr == "load"
                and isinstance(func.value, ast.Name)
                and func.value.id == "torch"
            ):
                flag = next((k.value for k in node.keywords if k.arg == "weights_only"), None)
                where = path.relative_to(src).as_posix()
                calls.append((where, ast.unparse(flag) if flag is not None else "missing"))
    assert calls, "the scan found no torch.load at all"
    for name, flag in calls:
        allowed = flag == "True" or (name == "serialize/loader.py" and flag == "weights_only")
        assert allowed, f"{name}: torch.load(..., weights_only={flag})"


def test_the_docs_table_lists_every_case() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "bad-inputs.md").read_text()
    missing = [case.id for case in CASES if f"`{case.id}`" not in docs]
    assert not missing, f"docs/bad-inputs.md has no row for: {missing}"
    assert len({case.id for case in CASES}) == len(CASES), "case ids must be unique"
