"""Recipes round-trip through YAML for every registered transform; mistakes name the step."""

from __future__ import annotations

import copy

import pytest
import torch
from transform_helpers import small_cnn, synthetic_data

from cnnopt.cli import main
from cnnopt.errors import CnnoptError
from cnnopt.recipe import Recipe, apply_recipe, load_applied
from cnnopt.transforms import Context, config_class, list_transforms
from cnnopt.transforms.fuse import FuseConfig
from cnnopt.transforms.prune import PruneConfig


@pytest.mark.parametrize("name", list_transforms())
def test_every_registered_config_round_trips(name: str, tmp_path) -> None:
    config = config_class(name)()
    recipe = Recipe(steps=[config], model="resnet20", dataset="cifar10")
    assert Recipe.from_yaml(recipe.to_yaml()) == recipe
    recipe.save(tmp_path / "r.yaml")
    assert Recipe.load(tmp_path / "r.yaml") == recipe
    assert Recipe.from_yaml(str(tmp_path / "r.yaml")) == recipe


def test_short_forms_and_metadata() -> None:
    recipe = Recipe.from_yaml(
        "model: lenet5\nsteps:\n  - fuse\n  - {transform: prune, ratio: 0.25}"
    )
    assert recipe.model == "lenet5"
    assert recipe.steps == [FuseConfig(), PruneConfig(ratio=0.25)]
    assert recipe.needs_finetune


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("steps: [fuse, {transform: prune, ratio: 1.5}]", "step 2"),
        ("steps: [{transform: shrink}]", "step 1: unknown transform"),
        ("steps: [{transform: prune, speed: 3}]", "step 1: transform 'prune' has no option"),
        ("steps: [{transform: lowrank, rank_ratio: 0}]", "step 1"),
        ("steps: [fuse\n  - : :", "not valid YAML"),
        ("steps: 3", "must be a list"),
        ("steps: []\nflavour: x", "unknown key"),
        ("hello: world", "no 'steps'"),
        ("steps: [{ratio: 0.5}]", "step 1 must be a mapping"),
        ("steps: [{transform: fuse, version: 99}]", "newer"),
        (
            "steps: [fuse, {transform: prune, finetune_epochs: '2'}]",
            r"^recipe step 2 \(prune\): finetune_epochs must be a number, got '2'",
        ),
        ("steps: [{transform: prune, steps: 2.5}]", r"steps must be a whole number, got 2.5"),
        ("steps: [{transform: prune, ignore: conv1}]", r"ignore must be a list of texts"),
        ("steps: [{transform: fuse, fold_bn: 'no'}]", r"fold_bn must be true or false"),
        ("steps: [{transform: quantize, calibration: 3}]", r"calibration must be text, got 3"),
    ],
)
def test_bad_recipes_name_the_problem(text: str, match: str) -> None:
    with pytest.raises(CnnoptError, match=match):
        Recipe.from_yaml(text)


def test_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(CnnoptError, match="does not exist"):
        Recipe.load(tmp_path / "nope.yaml")


def test_apply_recipe_leaves_the_callers_model_alone() -> None:
    model = small_cnn().eval()
    original = copy.deepcopy(model.state_dict())
    recipe = Recipe(steps=[FuseConfig(), PruneConfig(ratio=0.5)])
    ctx = Context(example_input=torch.randn(1, 3, 8, 8))
    out = apply_recipe(model, recipe, ctx, progress=False)
    assert out[3].out_channels == 16 and model[3].out_channels == 32
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in original.items())
    assert ctx.notes  # notes of every step reach the caller's context


def test_apply_recipe_distills_from_the_original_by_default() -> None:
    data = synthetic_data(64, 8, 4)
    recipe = Recipe.from_yaml(
        "steps: [{transform: prune, ratio: 0.5}, {transform: distill, epochs: 1}]"
    )
    ctx = Context(train_data=data, val_data=data, progress=False)
    out = apply_recipe(small_cnn(), recipe, ctx, progress=False)
    assert out(torch.randn(1, 3, 8, 8)).shape == (1, 4)
    with pytest.raises(CnnoptError, match="recipe step 1 \\(distill\\)"):
        apply_recipe(small_cnn(), Recipe(steps=recipe.steps[1:]), Context(progress=False))


def test_cli_apply_and_prune_save_reloadable_models(tmp_path, capsys) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - fuse\n  - {transform: lowrank, rank_ratio: 0.25}\n")
    out = tmp_path / "applied"
    assert (
        main(["apply", "--model", "resnet20", "--recipe", str(recipe), "--out", str(out), "--json"])
        == 0
    )
    assert {"model.safetensors", "state.json", "recipe.yaml", "metrics.json"} <= {
        p.name for p in out.iterdir()
    }
    model = load_applied(out)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 10)
    assert Recipe.load(out / "recipe.yaml").steps[1].rank_ratio == 0.25
    pruned = tmp_path / "pruned"
    assert (
        main(["prune", "--model", "resnet20", "--ratio", "0.5", "--out", str(pruned), "--json"])
        == 0
    )
    assert load_applied(pruned).fc.in_features == 32
    assert (
        main(
            [
                "apply",
                "--model",
                "resnet20",
                "--recipe",
                str(tmp_path / "x.yaml"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err


RECIPE_TEXT = "steps:\n  - fuse\n  - {transform: prune, ratio: 0.5}\n"
SOURCES = {
    "recipe": lambda path: Recipe([FuseConfig(), PruneConfig(ratio=0.5)]),
    "list of configs": lambda path: [FuseConfig(), PruneConfig(ratio=0.5)],
    "list of names and mappings": lambda path: ["fuse", {"transform": "prune", "ratio": 0.5}],
    "yaml path": lambda path: path,
    "yaml path as text": lambda path: str(path),
    "yaml text": lambda path: RECIPE_TEXT,
}


@pytest.mark.parametrize("kind", SOURCES)
def test_apply_recipe_and_apply_take_every_recipe_source(kind: str, tmp_path) -> None:
    """A Recipe, a list of steps, a YAML path or YAML text: the same result, and the given
    model is copied, never modified."""
    import cnnopt

    path = tmp_path / "r.yaml"
    path.write_text(RECIPE_TEXT)
    model = small_cnn().eval()
    before = copy.deepcopy(model.state_dict())
    ctx = Context(example_input=torch.randn(1, 3, 16, 16), progress=False)
    for run in (apply_recipe, cnnopt.apply):
        out = run(model, SOURCES[kind](path), ctx)
        assert out is not model and out[3].out_channels < model[3].out_channels
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_recipe_of_the_wrong_type_says_what_is_accepted() -> None:
    with pytest.raises(CnnoptError, match="list of steps, a YAML path or YAML text"):
        apply_recipe(small_cnn(), PruneConfig(ratio=0.5))  # one config goes to cnnopt.apply
    with pytest.raises(CnnoptError, match=r"recipe step 2: prune ratio"):
        apply_recipe(small_cnn(), ["fuse", {"transform": "prune", "ratio": 1.5}])
