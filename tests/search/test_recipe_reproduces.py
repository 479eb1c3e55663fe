"""best/recipe.yaml rebuilds the recommended artifact: a real search (prune + int8 on ONNX
Runtime), then the saved recipe re-applied from scratch to the baseline in a fresh directory
gives the recorded accuracy and the same int8 outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from search_toys import toy_data, toy_model

from cnnopt.recipe import Recipe, load_applied
from cnnopt.search import Budget, Constraints, RobustnessSettings, SearchSpace, Target, optimize

ort = pytest.importorskip("onnxruntime")


def _onnx_outputs(path: Path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def test_best_recipe_rebuilds_the_pruned_int8_artifact(tmp_path: Path) -> None:
    train, val = toy_data(160, 1), toy_data(200, 2)
    # Wide enough that only the pruned int8 model fits the size limit: the recommendation
    # then has a fine-tuned structure step *and* int8, the case whose recipe lost its quantize.
    space = SearchSpace(
        prune_ratios=(0.0, 0.5), prune_importances=("l1",), lowrank_ratios=(0.0,),
        distill_epochs=(0.0,), precisions=("int8",), runtimes=("onnxruntime",),
    )  # fmt: skip
    optimize(
        toy_model(64), train, val, constraints=Constraints(max_size_mb=0.025),
        budget=Budget(trials=2, finetune_epochs=1.0, baseline_epochs=2),
        target=Target(batch_size=1, threads=1, latency_max_seconds=0.05), space=space,
        robustness=RobustnessSettings(enabled=False), out=tmp_path / "run", model_name="toy",
        progress=False,
    )  # fmt: skip
    best = tmp_path / "run" / "best"
    record = json.loads((best / "record.json").read_text())
    assert record["precision"] == "int8" and record["recipe"][0]["transform"] == "prune"

    recipe = Recipe.load(best / "recipe.yaml")  # (a) the recipe says everything
    assert [step.name for step in recipe.steps] == ["prune"]
    assert recipe.steps[0].ratio == 0.5 and recipe.steps[0].finetune_epochs == 1.0
    target = recipe.target
    assert (target.runtime, target.precision, target.quantize.mode) == (
        "onnxruntime",
        "int8",
        "int8_static",
    )
    assert target.calibration.size == 256 and target.calibration.sha256
    assert recipe.data.train_images == len(train)

    base = toy_model(64)  # the trained baseline, from the run's own cache, into a fresh model
    base.load_state_dict(load_file(str(tmp_path / "run" / "cache" / "baseline.safetensors")))
    rebuilt = tmp_path / "rebuilt"
    built = recipe.build(base.eval(), train, val, out=rebuilt)
    assert (rebuilt / "model.onnx").is_file() and (rebuilt / "recipe.yaml").is_file()
    assert Recipe.load(rebuilt / "recipe.yaml") == recipe
    # (b) the recorded accuracy, within calibration noise (one point)
    assert abs(built.accuracy - record["accuracy"]) <= 0.01, (built.accuracy, record["accuracy"])
    # (c) the same int8 outputs as best/'s artifact
    x = val.normalize(val.images)
    ours, theirs = _onnx_outputs(rebuilt / "model.onnx", x), _onnx_outputs(best / "model.onnx", x)
    assert (ours.argmax(1) == theirs.argmax(1)).mean() >= 0.99
    np.testing.assert_allclose(ours, theirs, atol=0.05 * float(np.abs(theirs).max()))
    # the float checkpoint beside it reloads to the rebuilt structure
    assert load_applied(rebuilt, base=toy_model(64))[3].out_channels == built.model[3].out_channels


def test_recipes_without_a_target_still_load_and_mean_eager_fp32() -> None:
    recipe = Recipe.from_yaml("model: lenet5\nsteps: [{transform: prune, ratio: 0.5}]\n")
    assert recipe.target is None and recipe.data is None
    assert "target" not in recipe.to_dict()
