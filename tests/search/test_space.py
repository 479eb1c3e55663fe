"""The search space: suggestions, labels, keys and the single-technique points."""

from __future__ import annotations

import optuna
import pytest

from cnnopt.errors import CnnoptError
from cnnopt.search.space import PRECISIONS, SERVABLE_ON, CandidateSpec, SearchSpace


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


def test_label_says_what_prune_achieved() -> None:
    """Before, 30% was printed whatever was removed (50% on 32-wide layers, 0% on a model of
    functional convs)."""
    spec = CandidateSpec(0.3, "l2", 0.5)
    assert spec.label("m", {"ratio": 0.25, "changed": True}) == (
        "m pruned 25% (l2), low-rank 50% on eager"
    )
    assert spec.label("m", {"ratio": 0.0, "changed": False}) == (
        "m prune: no change, low-rank 50% on eager"
    )
    assert spec.label("m") == "m pruned 30% (l2), low-rank 50% on eager"  # nothing measured yet


def test_single_technique_points_start_with_the_baseline() -> None:
    points = SearchSpace().single_technique_points()
    tags = [tag for tag, _ in points]
    assert tags[0] == "baseline" and points[0][1] == CandidateSpec()
    assert {"int8 PTQ openvino", "int8 PTQ onnxruntime", "prune 50%", "runtime openvino"} <= set(
        tags
    )
    assert len({spec.key() for _, spec in points}) == len(points)
    specs = dict(points)
    assert specs["bf16"].runtime == "openvino", "bf16 where it is fast, not eager autocast"
    combo = specs["prune 50% + int8"]
    assert (combo.prune_ratio, combo.precision) == (0.5, "int8")
    for _, spec in points:
        assert spec.runtime in SERVABLE_ON[spec.precision]
    only_ort = SearchSpace(runtimes=("eager", "onnxruntime")).single_technique_points()
    assert "int8 PTQ" in dict(only_ort) and dict(only_ort)["bf16"].runtime == "eager"


def test_sampler_only_proposes_servable_precision_runtime_pairs() -> None:
    space = SearchSpace(precisions=PRECISIONS, runtimes=("eager", "compile", "onnxruntime",
                                                         "openvino"))  # fmt: skip
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    pairs = set()
    for _ in range(80):
        spec = space.suggest(study.ask())
        assert spec.runtime in SERVABLE_ON[spec.precision], spec
        assert space.suggest(optuna.trial.FixedTrial(spec.to_params())) == spec
        pairs.add((spec.precision, spec.runtime))
    assert ("int8", "openvino") in pairs and ("bf16", "eager") in pairs
    assert not {("int8", "eager"), ("bf16", "onnxruntime"), ("qat", "eager")} & pairs


def test_precisions_no_runtime_can_serve_are_dropped_or_explained() -> None:
    space = SearchSpace(precisions=("fp32", "int8", "qat"), runtimes=("eager",))
    restricted = space.restricted_to(["eager", "onnxruntime"])
    assert restricted.precisions == ("fp32",)
    assert any("int8" in note and "qat" in note for note in restricted.notes)
    with pytest.raises(CnnoptError, match="int8 cannot run on eager") as err:
        SearchSpace(precisions=("int8",), runtimes=("eager",)).validate()
    assert "onnxruntime" in err.value.hint


def test_bad_space_and_missing_runtimes_are_explained() -> None:
    with pytest.raises(CnnoptError, match="unknown precision"):
        SearchSpace(precisions=("int3",)).validate()
    with pytest.raises(CnnoptError, match="available here"):
        SearchSpace(runtimes=("openvino",)).restricted_to(["eager"])
    space = SearchSpace().restricted_to(["eager", "onnxruntime"])
    assert space.runtimes == ("eager", "onnxruntime") and space.notes


def test_precision_a_runtime_would_not_honour_is_not_offered() -> None:
    """OpenVINO runs a bf16 request in fp32 on CPUs without bf16: never a 'bf16' candidate."""
    import optuna

    space = SearchSpace().restricted_to(
        ["eager", "onnxruntime", "openvino"], {"bf16": ("openvino",)}
    )
    assert space.runtimes_for("bf16") == ("eager",)
    assert any("bf16 on openvino skipped" in note for note in space.notes)
    tags = dict(space.single_technique_points())
    assert tags["bf16"].runtime == "eager"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(60):
        spec = space.suggest(study.ask())
        assert (spec.precision, spec.runtime) != ("bf16", "openvino")
    # only bf16 on openvino asked for: nothing left to serve it, said in one line
    only = SearchSpace(precisions=("bf16",), runtimes=("openvino",))
    with pytest.raises(CnnoptError, match="bf16 cannot run on openvino"):
        only.restricted_to(["openvino"], {"bf16": ("openvino",)}).validate()
