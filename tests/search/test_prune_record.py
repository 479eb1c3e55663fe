"""A searched prune candidate's Record says what the prune achieved: in its name (the report's
candidate label) and in `extra["achieved"]`; a model prune cannot touch is "no change"."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_toys import ModulePredictor, toy_data, toy_model
from user_archs import ARCHITECTURES

import cnnopt.runtimes.base as runtimes_base
from cnnopt.search.cache import ModelCache
from cnnopt.search.evaluate_candidate import CandidateEvaluator, Target
from cnnopt.search.space import CandidateSpec


@pytest.mark.parametrize(
    ("model", "label", "ratio"),
    [
        (lambda: toy_model(32), "toy pruned 25% (l2) on eager", 0.25),  # 32 -> 24, not 16
        (lambda: ARCHITECTURES["functional_convs"](1, 3), "toy prune: no change on eager", 0.0),
    ],
)
def test_record_names_the_achieved_prune(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model, label: str, ratio: float
) -> None:
    monkeypatch.setattr(
        runtimes_base, "build_predictor", lambda runtime, m, example, **kw: ModulePredictor(m)
    )
    evaluator = CandidateEvaluator(
        model(), "toy", toy_data(64, 1), toy_data(32, 2), ModelCache(tmp_path / "cache", "k"),
        Target(batch_size=2, threads=1, latency_max_seconds=0.02), tmp_path, finetune_epochs=0,
    )  # fmt: skip
    record = evaluator(CandidateSpec(prune_ratio=0.3, prune_importance="l2"))
    assert record.name == label
    assert record.extra["achieved"]["ratio"] == pytest.approx(ratio)
    assert record.extra["achieved"]["requested_ratio"] == 0.3


def test_a_prune_that_changed_nothing_is_its_parent_and_not_measured_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11: 'pruned 30% (l2) on onnxruntime: 1.2x faster' for a model of F.conv2d calls,
    where prune changed nothing: the candidate is the baseline, measured once."""
    import optuna

    from cnnopt.search.space import SearchSpace
    from cnnopt.search.study import StudySettings, records_from_study, run_trials

    monkeypatch.setattr(
        runtimes_base, "build_predictor", lambda runtime, m, example, **kw: ModulePredictor(m)
    )
    evaluator = CandidateEvaluator(
        ARCHITECTURES["functional_convs"](1, 3), "toy", toy_data(64, 1), toy_data(32, 2),
        ModelCache(tmp_path / "cache", "k"),
        Target(batch_size=2, threads=1, latency_max_seconds=0.02), tmp_path, finetune_epochs=0,
    )  # fmt: skip
    noop = CandidateSpec(prune_ratio=0.3, prune_importance="l2")
    assert evaluator.effective_spec(noop) == CandidateSpec()
    real = CandidateEvaluator(
        toy_model(32), "toy", toy_data(64, 1), toy_data(32, 2),
        ModelCache(tmp_path / "cache2", "k"),
        Target(batch_size=2, threads=1, latency_max_seconds=0.02), tmp_path, finetune_epochs=0,
    )  # fmt: skip
    assert real.effective_spec(noop) == noop

    measured = []

    class Counting:
        def __call__(self, spec: CandidateSpec):
            measured.append(spec)
            return evaluator(spec)

        def effective_spec(self, spec: CandidateSpec) -> CandidateSpec:
            return evaluator.effective_spec(spec)

    space = SearchSpace(
        prune_ratios=(0.0, 0.3), prune_importances=("l2",), lowrank_ratios=(0.0,),
        distill_epochs=(0.0,), precisions=("fp32",), runtimes=("eager",),
    )  # fmt: skip
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.enqueue_trial(CandidateSpec().to_params())
    study.enqueue_trial(noop.to_params())
    run_trials(study, space, Counting(), StudySettings(n_trials=2), deadline=None)
    assert measured == [CandidateSpec()], measured  # the no-op prune was not measured
    records = records_from_study(study)
    assert [r.name for r in records] == ["toy on eager"]
    assert study.trials[1].user_attrs["requested"] == noop.key()
