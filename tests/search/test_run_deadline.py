"""RunDeadline, the one clock of an optimize run: how long each stage may take, what an
isolated call may run, what a cached truncated model and a shortened attack say, and the line
that reports it all."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from search_toys import toy_data, toy_model
from torch import nn

from cnnopt.record import Record
from cnnopt.robust import AttackConfig, evaluate_robustness
from cnnopt.search import Budget
from cnnopt.search import finish as finish_mod
from cnnopt.search.cache import ModelCache
from cnnopt.search.deadline import (
    CHILD_MARGIN_S,
    EXPORT_RESERVE_S,
    FIRST_MEASURE_S,
    RunDeadline,
    budget_line,
    finetune_deadline,
)


def test_windows_and_call_limits_follow_the_budget() -> None:
    deadline = RunDeadline.for_budget(Budget(time_budget_s=100), started=1000.0)
    assert deadline.at == 1100.0 and deadline.search_ends == pytest.approx(1090.0)
    assert finetune_deadline(deadline, 3.0) == pytest.approx(1087.0)
    assert finetune_deadline(deadline, 0.0) == pytest.approx(1090.0 - FIRST_MEASURE_S)

    now = RunDeadline(60.0)  # started now: 60 s left
    assert now.call_limit(1800.0) == pytest.approx(60 + CHILD_MARGIN_S, abs=1)
    assert now.call_limit(5.0) == 5.0, "a shorter per-candidate limit stays"
    spent = RunDeadline(10.0, started=time.time() - 100)
    assert spent.call_limit(None) == pytest.approx(CHILD_MARGIN_S)
    assert spent.call_limit(None, reserve_s=60) == pytest.approx(60 + CHILD_MARGIN_S)

    tiny = RunDeadline.for_budget(Budget(time_budget_s=20), started=0.0)
    assert tiny.search_ends == pytest.approx(20 - EXPORT_RESERVE_S), "room to export best/"

    unlimited = RunDeadline(None)
    assert unlimited.call_limit(1800.0) == 1800.0 and unlimited.left() == float("inf")
    assert finetune_deadline(unlimited, 3.0) is None and finetune_deadline(None, 3.0) is None


def test_summary_and_line_say_what_was_cut() -> None:
    deadline = RunDeadline(10.0, started=time.time() - 12.5)
    deadline.note("attacks skipped for 2 of 2 front candidate(s): budget spent")
    deadline.note("attacks skipped for 2 of 2 front candidate(s): budget spent")  # once only
    summary = deadline.summary(["trial 3 (net): prune fine-tuning stopped ..."])
    assert summary["limit_s"] == 10.0 and summary["used_s"] == pytest.approx(12.5, abs=0.5)
    assert summary["overshoot_s"] == pytest.approx(2.5, abs=0.5)
    assert len(summary["cut"]) == 2 and summary["cut"][0].startswith("trial 3")
    line = budget_line({"budget": summary})
    assert line.startswith("time budget 10 s: used 1") and "(2 s over)" in line
    assert "cut short: trial 3 (net)" in line and "attacks skipped" in line
    assert budget_line({"budget": {"time_budget_s": None}}) == ""  # no budget, nothing cut
    assert "nothing cut short" in budget_line({"budget": RunDeadline(60.0).summary()})
    capped = RunDeadline(None)  # no budget, but the baseline's own time cap stopped it
    capped.note("baseline training stopped at its time limit after 12 of 20 epochs")
    assert budget_line({"budget": capped.summary()}).startswith("no time budget: used 0 s; cut")


def test_isolated_calls_end_with_the_budget_but_best_is_still_exported(tmp_path: Path) -> None:
    from cnnopt.search.isolated import EXPORT_LIMIT_S, IsolatedRunner

    spent = RunDeadline(10.0, started=time.time() - 100)
    runner = IsolatedRunner(object(), 1800.0, tmp_path / "child.log", spent)  # never started
    assert runner.limit() == pytest.approx(CHILD_MARGIN_S), "a candidate or attack: margin only"
    assert runner.limit(EXPORT_LIMIT_S) == pytest.approx(EXPORT_LIMIT_S + CHILD_MARGIN_S)
    assert IsolatedRunner(object(), 1800.0, tmp_path / "c.log").limit() == 1800.0, "no budget"


def test_a_truncated_fine_tuning_is_cached_with_its_note(tmp_path: Path) -> None:
    base = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    steps = [{"transform": "prune", "ratio": 0.5}, {"transform": "prune", "ratio": 0.25}]
    cuts = [["prune fine-tuning stopped at the time budget after 0.4 of 2 epoch(s)"], []]

    def apply_step(model: nn.Module, step: dict, finetune: bool) -> nn.Module:
        keep = int(model[0].out_features * (1 - step["ratio"]))
        return nn.Sequential(nn.Linear(8, keep), nn.ReLU(), nn.Linear(keep, 3))

    ModelCache(tmp_path, "base").get(base, steps, apply_step, lambda: cuts.pop(0))
    again = ModelCache(tmp_path, "base")  # a later candidate, the finishing stage, --resume
    assert again.cut_notes(steps) == [
        "prune fine-tuning stopped at the time budget after 0.4 of 2 epoch(s)"
    ]
    assert again.cut_notes([{"transform": "prune", "ratio": 0.9}]) == [], "not cached"


def test_an_attack_past_its_deadline_stops_after_one_batch() -> None:
    data, model = toy_data(96, 1), toy_model(4).eval()
    attacks = (AttackConfig("fgsm", 0.1),)
    full = evaluate_robustness(model, data, attacks, limit=96, batch_size=32)
    assert full["samples"] == 96 and "cut" not in full
    short = evaluate_robustness(
        model, data, attacks, limit=96, batch_size=32, deadline=time.time() - 1
    )
    assert short["samples"] == 32 and 0 <= short["fgsm"] <= 1
    assert short["cut"] == "stopped at the time budget after 32 of 96 images"


class _Recorder:
    """The runner's finishing-stage calls, recorded (what each does is tested elsewhere)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def add_test_accuracy(self, records, front, test_data) -> None:
        self.calls += [("test", i) for i in front]

    def add_robustness(self, records, front, data, settings, progress, deadline=None) -> None:
        self.calls += [("attack", i) for i in front]


def test_attacks_are_skipped_first_when_little_is_left() -> None:
    records = [Record(name=f"c{i}", status="ok") for i in range(2)]
    console = type("Quiet", (), {"quiet": True})()
    # Enough to start test accuracy, not enough beyond the export reserve for an attack.
    spare = finish_mod.MIN_ATTACK_S / 2
    deadline = RunDeadline(100.0, started=time.time() - 100 + EXPORT_RESERVE_S + spare)
    runner = _Recorder()
    finish_mod._test_accuracy(runner, records, [0, 1], object(), deadline)
    finish_mod._attacks(runner, records, [0, 1], object(), object(), deadline, console)
    assert runner.calls == [("test", 0), ("test", 1)]
    assert deadline.cut == ["attacks skipped for 2 of 2 front candidate(s): budget spent"]

    spent = RunDeadline(100.0, started=time.time() - 100)
    finish_mod._test_accuracy(runner, records, [0, 1], object(), spent)
    assert spent.cut == ["test accuracy skipped for 2 of 2 front candidate(s): budget spent"]
    assert len(runner.calls) == 2, "nothing started once the budget is spent"


def test_a_candidate_that_fine_tunes_is_not_started_for_nothing(tmp_path: Path) -> None:
    from cnnopt.search.evaluate_candidate import MIN_FINETUNE_S, CandidateEvaluator, Target
    from cnnopt.search.space import CandidateSpec

    evaluator = CandidateEvaluator(
        toy_model(4), "toy", toy_data(64, 1), toy_data(32, 2), ModelCache(tmp_path, "k"),
        Target(), tmp_path,
    )  # fmt: skip
    assert evaluator.estimate_seconds(CandidateSpec()) == 0.0
    # Before any fine-tuning was timed, one still costs MIN_FINETUNE_S: with too little time
    # left the search skips the candidate rather than measure an untuned pruned model.
    assert evaluator.estimate_seconds(CandidateSpec(prune_ratio=0.5)) == MIN_FINETUNE_S
