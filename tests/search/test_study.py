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
    """Deterministic numbers from the spec; int8 on eager 'fails' like a real unsupported pair."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, spec: CandidateSpec) -> Record:
        self.calls.append(spec.key())
        if spec.precision == "int8" and spec.runtime == "eager":
            raise RuntimeError("int8 kernels not available on eager")
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
    study.enqueue_trial(CandidateSpec(precision="int8", runtime="eager").to_params())
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
    optimize_mod._run_workers(
        settings, tmp_path, SPACE, FakeEvaluator(), None, 2, display,
        lambda _display: refreshed.append(1),
    )  # fmt: skip
    records = study_mod.records_from_study(study)
    assert 6 <= len(records) <= 7, "two workers may overshoot by at most the one in flight"
    assert len({r.extra["candidate"] for r in records}) == len(records)
