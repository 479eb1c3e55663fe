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
