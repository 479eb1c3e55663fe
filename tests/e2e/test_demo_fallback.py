"""The demo on a machine without Fashion-MNIST: `cnnopt optimize` with no --dataset says in one
line that it runs on the bundled digits set, finishes, and the report names digits. Its log,
redirected (not a terminal), reads cleanly: no frames cut to 80 columns, no runs of blank lines,
and the closing "recommended:" line exactly once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cnnopt import cli
from cnnopt.data import locate

QUICK = [
    "--model", "fmnist_net", "--width", "0.25", "--trials", "3", "--time-budget", "90",
    "--baseline-epochs", "1", "--finetune-epochs", "0.2", "--prune-ratios", "0",
    "--runtime", "eager,onnxruntime", "--precision", "fp32", "--threads", "1",
    "--no-robustness",
]  # fmt: skip


@pytest.fixture
def no_fashion_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Debian package, no cache, no $CNNOPT_DATA, no network: as on a fresh machine."""
    monkeypatch.setattr(locate, "SYSTEM_DATASETS", tmp_path / "usr-share-datasets")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CNNOPT_DATA", raising=False)
    monkeypatch.setenv("CNNOPT_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)


def test_demo_runs_on_digits_and_says_so(
    tmp_path: Path, no_fashion_mnist: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    assert cli.main(["optimize", *QUICK, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    log = captured.err + captured.out
    fallback = [line for line in log.splitlines() if "bundled digits set instead" in line]
    assert len(fallback) == 1, log
    assert "fashion-mnist" in fallback[0] and "apt install dataset-fashion-mnist" in fallback[0]
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"] == "digits"
    assert "on digits</h1>" in (out / "report.html").read_text()
    # A log file, not a terminal: each line whole, and the closing line once.
    assert sum(line.startswith("recommended:") for line in log.splitlines()) == 1, log
    assert "…" not in log, log
    assert not re.search(r"\n\s*\n\s*\n", log), log
    assert re.search(r"^trial \d+ \(\d+/3 done\): ", log, re.MULTILINE), log


def test_an_explicit_missing_dataset_still_fails(
    tmp_path: Path, no_fashion_mnist: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "explicit"
    assert cli.main(["optimize", *QUICK, "--dataset", "fashion-mnist", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fashion-mnist" in err[0]
    assert "digits set instead" not in err[0]
