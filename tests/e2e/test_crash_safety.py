"""SIGKILL at several points of `cnnopt train` and `cnnopt optimize`, then --resume: nothing
that finished is lost or repeated, and no file in the run directory is ever half-written.

The train run is also compared with an uninterrupted one: the resumed history and weights
must be the very same, which is the strongest form of "nothing lost".
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file
from test_optimize import ARGS as OPTIMIZE_ARGS
from test_optimize import TRIALS, _env, _records

EPOCHS = 6
TRAIN_ARGS = [
    "--dataset", "digits", "--model", "fmnist_net", "--width", "1", "--epochs", str(EPOCHS),
    "--batch-size", "32", "--threads", "1", "--seed", "0", "--json",
]  # fmt: skip
KILLS_SURVIVED: list[str] = []  # what the kill points were; printed for the report


def _train_cli(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cnnopt.cli", "train", *TRAIN_ARGS, "--out", str(out), *extra]


def _optimize_cli(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cnnopt.cli", "optimize", *OPTIMIZE_ARGS, "--out", str(out),
            "--robust-samples", "64", *extra]  # fmt: skip


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _epoch(out: Path) -> float:
    state = _json(out / "state.json")
    return float(state["epoch"]) if state else 0.0


def _kill_when(cmd: list[str], ready: Callable[[], bool], label: str, delay: float = 0.0) -> None:
    """Start `cmd`, wait until `ready()`, optionally `delay` more seconds, then SIGKILL it."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 150
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    log = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert proc.returncode == -signal.SIGKILL, f"{label}: ended on its own\n{log[-3000:]}"
    KILLS_SURVIVED.append(label)


def _measured(record: dict) -> tuple:
    return record["extra"]["trial"], record["accuracy"], record["latency_ms_p50"]


def _assert_complete_files(directory: Path) -> None:
    """Every file parses or loads; no temporary file of an interrupted write is left over."""
    leftovers = [p for p in directory.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left: {leftovers}"
    for path in directory.rglob("*"):
        if path.suffix == ".json":
            assert _json(path) is not None, f"{path} is not complete JSON"
        elif path.suffix == ".safetensors":
            load_file(str(path))
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)
        elif path.suffix == ".db":
            with sqlite3.connect(path) as db:
                assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_train_survives_kills_and_resumes_exactly(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    full = subprocess.run(_train_cli(reference), env=_env(), capture_output=True, timeout=240)
    assert full.returncode == 0, full.stderr.decode()[-3000:]
    epoch_seconds = json.loads((reference / "state.json").read_text())["history"][0]["seconds"]

    out = tmp_path / "killed"
    _kill_when(_train_cli(out), lambda: _epoch(out) >= 1, "train: right after the 1st checkpoint")
    resume = _train_cli(out, "--resume")
    after = _epoch(out)
    _kill_when(
        resume, lambda: _epoch(out) > after, "train: mid-epoch", delay=epoch_seconds / 2
    )  # fmt: skip
    after = _epoch(out)
    _kill_when(resume, lambda: _epoch(out) > after, "train: right after a save")
    # A write killed half-way leaves a hidden temporary file: --resume must clear it.
    (out / ".model.safetensors.killed.tmp").write_bytes(b"half a tensor")
    assert 0 < _epoch(out) < EPOCHS, "the kills happened before the end"

    done = subprocess.run(resume, env=_env(), capture_output=True, timeout=240)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    state = json.loads((out / "state.json").read_text())
    expected = json.loads((reference / "state.json").read_text())
    epochs = [row["epoch"] for row in state["history"]]
    assert epochs == [float(e) for e in range(1, EPOCHS + 1)], "no epoch lost or repeated"
    for got, want in zip(state["history"], expected["history"], strict=True):
        assert (got["train_loss"], got["val_acc"]) == (want["train_loss"], want["val_acc"])
    weights, reference_weights = (
        load_file(out / "model.safetensors"),
        load_file(reference / "model.safetensors"),
    )
    for name, tensor in reference_weights.items():
        torch.testing.assert_close(weights[name], tensor, rtol=0, atol=1e-6, msg=name)
    _assert_complete_files(out)
    print(f"kill points survived: {len(KILLS_SURVIVED)}: {KILLS_SURVIVED}")


def test_optimize_survives_kills_between_and_inside_trials(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cache = out / "cache" / "baseline.safetensors"
    kills_before = len(KILLS_SURVIVED)
    _kill_when(
        _optimize_cli(out), lambda: (out / "study.db").exists(), "optimize: baseline training",
        delay=0.05,
    )  # fmt: skip
    assert not cache.exists(), "killed before the baseline was cached"
    finished: list[dict] = []
    for label, delay in (("optimize: between trials", 0.0), ("optimize: mid-trial", 0.3)):
        count = len(_records(out))
        _kill_when(
            _optimize_cli(out, "--resume"), lambda c=count: len(_records(out)) > c, label, delay
        )
        records = _records(out)
        kept = {_measured(r) for r in records}
        for old in finished:  # every earlier finished trial is still there, unchanged
            assert _measured(old) in kept, f"lost trial {old['extra']['trial']}"
        finished = records
    assert 0 < len(finished) < TRIALS and cache.exists()

    done = subprocess.run(
        _optimize_cli(out, "--resume"), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    records = results["records"]
    assert len(records) == TRIALS, "total = requested"
    assert len({r["extra"]["candidate"] for r in records}) == TRIALS, "no candidate repeated"
    by_trial = {r["extra"]["trial"]: r for r in records}
    for old in finished:
        new = by_trial[old["extra"]["trial"]]
        assert (new["accuracy"], new["latency_ms_p50"]) == (old["accuracy"], old["latency_ms_p50"])
    assert all(records[i]["robustness"] for i in results["front"]), "robustness column filled"
    _assert_complete_files(out)
    assert len(KILLS_SURVIVED) - kills_before == 3
    print(f"kill points survived: {len(KILLS_SURVIVED)}: {KILLS_SURVIVED}")
