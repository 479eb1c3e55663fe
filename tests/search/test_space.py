"""The search space: suggestions, labels, keys and the single-technique points."""

from __future__ import annotations

import optuna
import pytest

from cnnopt.errors import CnnoptError
from cnnopt.search.space import CandidateSpec, SearchSpace


def test_to_params_reproduces_the_candidate_through_a_trial() -> None:
    space = SearchSpace()
    spec = CandidateSpec(0.5, "taylor", 0.5, 1.0, "int8", "openvino")
    assert space.suggest(optuna.trial.FixedTrial(spec.to_params())) == spec
    plain = CandidateSpec(runtime="onnxruntime")
    assert space.suggest(optuna.trial.FixedTrial(plain.to_params())) == plain


def test_irrelevant_knobs_do_not_change_the_key() -> None:
    a = CandidateSpec(prune_ratio=0.0, prune_importance="l1", distill_epochs=1.0)
    b = CandidateSpec(prune_ratio=0.0, prune_importance="taylor", distill_epochs=0.0)
    assert a.key() == b.key()
    assert CandidateSpec(prune_ratio=0.5).key() != CandidateSpec(prune_ratio=0.3).key()


def test_structure_steps_and_label() -> None:
    spec = CandidateSpec(0.5, "l2", 0.0, 1.0, "int8", "openvino")
    assert [s["transform"] for s in spec.structure_steps()] == ["prune", "distill"]
    assert spec.label("resnet18") == "resnet18 pruned 50% (l2), distilled 1 ep + int8 on openvino"
    assert CandidateSpec().label("m") == "m on eager"


def test_single_technique_points_start_with_the_baseline() -> None:
    points = SearchSpace().single_technique_points()
    tags = [tag for tag, _ in points]
    assert tags[0] == "baseline" and points[0][1] == CandidateSpec()
    assert "int8 PTQ" in tags and "prune 50%" in tags and "runtime openvino" in tags
    assert len({spec.key() for _, spec in points}) == len(points)


def test_bad_space_and_missing_runtimes_are_explained() -> None:
    with pytest.raises(CnnoptError, match="unknown precision"):
        SearchSpace(precisions=("int3",)).validate()
    with pytest.raises(CnnoptError, match="available here"):
        SearchSpace(runtimes=("openvino",)).restricted_to(["eager"])
    space = SearchSpace().restricted_to(["eager", "onnxruntime"])
    assert space.runtimes == ("eager", "onnxruntime") and space.notes
