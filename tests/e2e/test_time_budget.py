"""`--time-budget` is hard: a run whose candidate fine-tuning alone would take minutes ends
within the budget plus a small margin, exports best/ anyway, and says what it cut short in
results.json, the report and its closing line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cnnopt import cli

BUDGET_S = 30.0
# The margin the run may overshoot by, measured around the whole command (loading digits, the
# isolated child's start and end, writing the report) on a loaded 2-core CI host: +25% or
# +15 s, whichever is larger. Unbounded, the pruned candidate's 400 fine-tuning epochs alone
# take over a minute; the baseline (600 images) takes seconds.
ALLOWED_S = BUDGET_S + max(0.25 * BUDGET_S, 15.0)
ARGS = [
    "optimize", "--dataset", "digits", "--train-subset", "600", "--model", "fmnist_net",
    "--width", "0.25", "--trials", "3", "--time-budget", f"{BUDGET_S:g}", "--runtime", "eager",
    "--precision", "fp32", "--prune-ratios", "0,0.5", "--finetune-epochs", "400",
    "--threads", "1", "--no-progress",
]  # fmt: skip


def test_a_tiny_budget_is_kept_and_what_was_cut_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    started = time.time()
    code = cli.main([*ARGS, "--out", str(out)])
    took = time.time() - started
    assert took <= ALLOWED_S, f"a {BUDGET_S:g} s budget took {took:.0f} s"
    assert code == 0 and (out / "best" / "recipe.yaml").is_file(), "best/ is still exported"

    budget = json.loads((out / "results.json").read_text())["budget"]
    assert budget["limit_s"] == BUDGET_S and budget["used_s"] <= ALLOWED_S
    assert budget["overshoot_s"] == pytest.approx(max(0.0, budget["used_s"] - BUDGET_S), abs=0.2)
    tuned = [c for c in budget["cut"] if "fine-tuning stopped at the time budget after" in c]
    assert len(tuned) == 1 and tuned[0].endswith(" of 400 epoch(s)"), budget["cut"]
    assert tuned[0].startswith("trial 1 (fmnist_net pruned"), "names the candidate"

    lines = [line for line in capsys.readouterr().out.splitlines() if "time budget" in line]
    assert len(lines) == 1 and tuned[0] in lines[0], "one closing line says it"
    assert tuned[0] in (out / "report.md").read_text()
    assert 'id="budget"' in (out / "report.html").read_text()
