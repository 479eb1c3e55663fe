"""`cnnopt optimize` as a user runs it: a subprocess on the bundled digits set, killed with
SIGKILL mid-search, resumed with --resume: no finished trial lost, none repeated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TRIALS = 5
ARGS = [
    "--dataset", "digits", "--model", "fmnist_net", "--width", "0.25",
    "--trials", str(TRIALS), "--time-budget", "240", "--baseline-epochs", "1",
    "--finetune-epochs", "0.2", "--prune-ratios", "0,0.5", "--threads", "1", "--no-progress",
]  # fmt: skip


def _cli(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cnnopt.cli", "optimize", *ARGS, "--out", str(out), *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _records(out: Path) -> list[dict]:
    try:
        return json.loads((out / "results.json").read_text())["records"]
    except (OSError, ValueError, KeyError):
        return []


def test_killed_search_resumes_without_losing_or_repeating_trials(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _cli(out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + 150
    while len(_records(out)) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    finished_before = _records(out)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    log = proc.communicate(timeout=30)[0]
    assert proc.returncode == -signal.SIGKILL, f"the run ended on its own:\n{log[-3000:]}"
    assert len(finished_before) >= 2, log[-3000:]

    again = subprocess.run(
        _cli(out, "--resume"), env=_env(), capture_output=True, text=True, timeout=240
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "recommended:" in again.stdout and "x faster" in again.stdout

    results = json.loads((out / "results.json").read_text())
    records = results["records"]
    assert len(records) == TRIALS, "total = requested"
    assert len({r["extra"]["candidate"] for r in records}) == TRIALS, "no candidate repeated"
    by_trial = {r["extra"]["trial"]: r for r in records}
    for old in finished_before:
        new = by_trial[old["extra"]["trial"]]
        assert (new["accuracy"], new["latency_ms_p50"]) == (old["accuracy"], old["latency_ms_p50"])
    assert records[0]["extra"]["single_technique"] == "baseline" and records[0]["status"] == "ok"

    best = out / "best"
    assert (best / "recipe.yaml").exists() and (best / "README.md").exists()
    assert (best / "weights.safetensors").exists()
    assert (out / "report.html").exists() and (out / "results.csv").exists()
    assert (out / "pareto.png").exists()
    (out / "report.html").unlink()
    rebuilt = subprocess.run(
        [sys.executable, "-m", "cnnopt.cli", "report", str(out)],
        env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert rebuilt.returncode == 0 and (out / "report.html").exists(), rebuilt.stderr
