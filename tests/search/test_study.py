"""The trial loop on a real SQLite study with a fake, instant evaluator: counting, failures,
duplicates, and resume after a run died mid-trial."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from cnnopt.errors import CnnoptError
from cnnopt.record import Record
from cnnopt.search import study as study_mod
from cnnopt.search.space import CandidateSpec, SearchSpace

SPACE = SearchSpace(
    prune_ratios=(0.0, 0.5),
    prune_importances=("l2",),
    lowrank_ratios=(0.0,),
    distill_epochs=(0.0,),
    precisions=("fp32", "int8"),
    runtimes=("eager", "onnxruntime"),
)


class FakeEvaluator:
    """Deterministic numbers from the spec; pruned int8 'fails' like a real broken candidate."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, spec: CandidateSpec) -> Record:
        self.calls.append(spec.key())
        if spec.precision == "int8" and spec.prune_ratio > 0:
            raise RuntimeError("int8 kernels not available for this graph")
        speed = (1 - spec.prune_ratio) * (0.4 if spec.precision == "int8" else 1.0)
        speed *= 0.8 if spec.runtime == "onnxruntime" else 1.0
        return Record(
            name=spec.label("fake"),
            accuracy=0.9 - 0.05 * spec.prune_ratio - (0.01 if spec.precision == "int8" else 0),
            latency_ms_p50=10 * speed,
        )


def _open(tmp_path: Path, n: int, resume: bool = False):
    settings = study_mod.StudySettings(n_trials=n, sampler="random")
    return study_mod.open_study(settings, tmp_path, resume), settings


def test_runs_exactly_n_distinct_candidates_and_records_failures(tmp_path: Path) -> None:
    study, settings = _open(tmp_path, 6)
    study_mod.enqueue_single_techniques(study, SPACE, settings.n_trials)
    fake = FakeEvaluator()
    seen: list[Record] = []
    study_mod.run_trials(study, SPACE, fake, settings, on_trial=seen.append)
    records = study_mod.records_from_study(study)
    assert len(records) == 6 == len(seen) == len(fake.calls)
    assert len(set(fake.calls)) == 6, "an identical candidate is never measured twice"
    assert records[0].extra["single_technique"] == "baseline"
    failed = [r for r in records if r.status == "failed"]
    assert failed and all("int8 kernels" in r.error for r in failed)


def test_resume_fails_interrupted_trial_and_runs_only_the_rest(tmp_path: Path) -> None:
    study, settings = _open(tmp_path, 5)
    study_mod.enqueue_single_techniques(study, SPACE, settings.n_trials)
    fake = FakeEvaluator()
    study_mod.run_trials(study, SPACE, fake, study_mod.StudySettings(n_trials=2))
    before = {r.extra["trial"]: r.to_dict() for r in study_mod.records_from_study(study)}
    interrupted = study.ask()  # like a SIGKILL mid-trial: left RUNNING in the database
    SPACE.suggest(interrupted)
    del study

    with pytest.raises(CnnoptError, match="--resume"):
        _open(tmp_path, 5)
    study, settings = _open(tmp_path, 5, resume=True)
    assert study.trials[interrupted.number].state == TrialState.FAIL
    study_mod.run_trials(study, SPACE, fake, settings)
    records = study_mod.records_from_study(study)
    assert len(records) == 5
    after = {r.extra["trial"]: r.to_dict() for r in records}
    for number, record in before.items():
        assert after[number] == record, "finished trials survive a resume unchanged"
    assert len({r.extra["candidate"] for r in records}) == 5


def test_time_budget_stops_the_loop(tmp_path: Path) -> None:
    study, settings = _open(tmp_path, 50)
    measured = study_mod.run_trials(study, SPACE, FakeEvaluator(), settings, deadline=0.0)
    assert measured == 0


class CostlyPruning(FakeEvaluator):
    """Says a pruned candidate needs a long fine-tuning, as the real evaluator estimates."""

    def estimate_seconds(self, spec: CandidateSpec) -> float:
        return 1000.0 if spec.prune_ratio > 0 else 0.1


def test_a_candidate_that_would_overrun_the_deadline_is_not_started(tmp_path: Path) -> None:
    import time

    study, settings = _open(tmp_path, 10)
    study_mod.enqueue_single_techniques(study, SPACE, settings.n_trials)
    fake = CostlyPruning()
    study_mod.run_trials(study, SPACE, fake, settings, deadline=time.time() + 100)
    assert len(fake.calls) == 3
    records = study_mod.records_from_study(study)
    assert [r.extra["single_technique"] for r in records] == [
        "baseline", "runtime onnxruntime", "int8 PTQ"
    ], "cheap points ran; the search ended at the first pruned one"  # fmt: skip
    skipped = study.get_trials(states=(TrialState.FAIL,))
    assert len(skipped) == 1 and "budget is spent" in skipped[0].user_attrs["error"]


def test_exhausted_space_ends_instead_of_looping(tmp_path: Path) -> None:
    tiny = SearchSpace(
        prune_ratios=(0.0,), lowrank_ratios=(0.0,), precisions=("fp32",), runtimes=("eager",)
    )
    study, settings = _open(tmp_path, 10)
    assert study_mod.run_trials(study, tiny, FakeEvaluator(), settings) == 1
    assert len(study_mod.records_from_study(study)) == 1


def test_unknown_storage_is_explained(tmp_path: Path) -> None:
    with pytest.raises(CnnoptError, match="storage"):
        study_mod.storage_for("redis://nowhere", tmp_path)


def test_two_worker_processes_share_one_study(tmp_path: Path) -> None:
    import importlib

    from cnnopt.search.live import SearchDisplay

    optimize_mod = importlib.import_module("cnnopt.search.optimize")
    settings = study_mod.StudySettings(n_trials=6, sampler="random")
    study = study_mod.open_study(settings, tmp_path, resume=False)
    display = SearchDisplay(6, console=None, enabled=False)  # type: ignore[arg-type]
    refreshed: list[int] = []
    # Room for 12 distinct candidates: two workers rarely draw the same one at once.
    wide = SearchSpace(**{**SPACE.__dict__, "prune_ratios": (0.0, 0.3, 0.5, 0.7)})
    optimize_mod._run_workers(
        settings, tmp_path, wide, FakeEvaluator(), None, 2, display,
        lambda _display: refreshed.append(1),
    )  # fmt: skip
    records = study_mod.records_from_study(study)
    assert 6 <= len(records) <= 7, "two workers may overshoot by at most the one in flight"
    assert len({r.extra["candidate"] for r in records}) == len(records)
