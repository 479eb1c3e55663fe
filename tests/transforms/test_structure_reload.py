"""Every restructured model reloads exactly: prune / low-rank / rewrite / fuse -> save_applied ->
load_applied gives the same outputs, whatever the module types (zoo models, users' own
architectures with raw parameters, ConvTranspose, LayerNorm, ... and random topologies)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from torch import nn

from cnnopt.cli import main
from cnnopt.errors import CnnoptError
from cnnopt.models import create_model, list_models
from cnnopt.recipe import Recipe, apply_recipe, load_applied, save_applied
from cnnopt.transforms import Context
from cnnopt.transforms.fuse import FuseConfig
from cnnopt.transforms.lowrank import LowRankConfig
from cnnopt.transforms.prune import PruneConfig
from cnnopt.transforms.rewrite import RewriteConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "property"))
import user_archs  # noqa: E402
from random_cnn import EXAMPLES_RUN, build, describe, nets  # noqa: E402

USER_ARCHS = f"{ROOT / 'user_archs.py'}"
STEPS = {
    "prune": [PruneConfig(ratio=0.5)],
    "lowrank": [LowRankConfig(rank_ratio=0.5)],
    "fuse+prune": [FuseConfig(), PruneConfig(ratio=0.3)],
}


def _flat(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _flat(v)]
    return [t for v in value for t in _flat(v)]


def _restructure(model: nn.Module, steps, x: torch.Tensor) -> nn.Module:
    ctx = Context(example_input=x[:1], progress=False)
    return apply_recipe(model.eval(), Recipe(list(steps)), ctx, progress=False).eval()


def _assert_reloads(changed: nn.Module, directory: Path, x: torch.Tensor, base=None) -> None:
    save_applied(directory, changed, Recipe([]), example_input=x)
    loaded = load_applied(directory, base=base)
    with torch.no_grad():
        before, after = _flat(changed(x)), _flat(loaded(x))
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)
    saved = {k: tuple(v.shape) for k, v in changed.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in loaded.state_dict().items()} == saved


@pytest.mark.parametrize("steps", list(STEPS), ids=list(STEPS))
@pytest.mark.parametrize("name", sorted(user_archs.ARCHITECTURES))
def test_users_architectures_reload_exactly(name: str, steps: str, tmp_path: Path) -> None:
    """The issue's cases (convnext gamma, ConvTranspose, repeat 1->3) and every other one."""
    from cnnopt.models import resolve_model

    model = resolve_model(f"{USER_ARCHS}:{name}", num_classes=10, in_channels=1)
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    changed = _restructure(model, STEPS[steps], x)
    _assert_reloads(changed, tmp_path, x)


@pytest.mark.parametrize("name", list_models())
def test_every_zoo_model_reloads_after_prune_and_lowrank(name: str, tmp_path: Path) -> None:
    channels = 1 if name == "fmnist_net" else 3
    model = create_model(name, num_classes=10, in_channels=channels)
    x = torch.randn(2, channels, 16, 16)
    changed = _restructure(model, [PruneConfig(ratio=0.5), LowRankConfig(rank_ratio=0.5)], x)
    _assert_reloads(changed, tmp_path, x)


@pytest.mark.parametrize("kind", ["separable", "kernel", "pool", "width"])
def test_rewrites_reload_exactly(kind: str, tmp_path: Path) -> None:
    model = create_model("lenet5", num_classes=10, in_channels=1)
    x = torch.randn(2, 1, 28, 28)
    changed = _restructure(model, [RewriteConfig(kind=kind)], x)
    _assert_reloads(changed, tmp_path, x)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=nets)
def test_random_topologies_reload_exactly(spec, tmp_path_factory) -> None:
    """Models no spec describes reload from a fresh instance of their architecture."""
    EXAMPLES_RUN["structure reload"] += 1
    x = spec.example()
    for steps in ([PruneConfig(ratio=0.5, round_to=4)], STEPS["lowrank"]):
        try:
            changed = _restructure(build(spec), steps, x)
        except CnnoptError as exc:  # Torch-Pruning mis-tracks some concatenations: refused
            assert any(b.join == "cat" for b in spec.blocks), f"{describe(spec)}: {exc}"
            continue
        directory = tmp_path_factory.mktemp("reload")
        try:
            _assert_reloads(changed, directory, x, base=build(spec))
        except AssertionError as exc:
            raise AssertionError(f"{describe(spec)}: {exc}") from None


def test_a_reload_with_other_outputs_is_refused(tmp_path: Path) -> None:
    """The outputs stored at save time prove the reload: a changed weight is caught."""
    model = create_model("lenet5", num_classes=10, in_channels=1)
    x = torch.randn(2, 1, 28, 28)
    save_applied(tmp_path, _restructure(model, STEPS["prune"], x), Recipe([]), example_input=x)
    state = json.loads((tmp_path / "state.json").read_text())
    state["check"]["outputs"][0]["values"][0] += 0.5
    (tmp_path / "state.json").write_text(json.dumps(state))
    with pytest.raises(CnnoptError, match="does not reproduce its saved outputs"):
        load_applied(tmp_path)


def test_tied_parameters_stay_tied(tmp_path: Path) -> None:
    base = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    base[2].weight = base[0].weight
    changed = copy.deepcopy(base)
    _assert_reloads(changed, tmp_path, torch.randn(2, 4), base=copy.deepcopy(base))
    loaded = load_applied(tmp_path, base=base)
    assert loaded[2].weight is loaded[0].weight


def test_cli_eval_loads_a_pruned_layer_scale_model(tmp_path: Path, capsys) -> None:
    """`cnnopt eval --model DIR` on a pruned ConvNeXt-style model (raw gamma parameters)."""
    out = tmp_path / "pruned"
    model = f"{USER_ARCHS}:convnext_layerscale"
    argv = ["prune", "--model", model, "--dataset", "digits", "--limit", "64", "--json"]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", "--model", str(out), "--dataset", "digits", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] >= 0


def test_checkpoints_in_the_first_structure_format_still_load(tmp_path: Path) -> None:
    """Format 1 listed constructor arguments of a few layer types; such files still load."""
    model = create_model("lenet5", num_classes=10, in_channels=1)
    x = torch.randn(2, 1, 28, 28)
    pruned = _restructure(model, STEPS["prune"], x)
    save_applied(tmp_path, pruned, Recipe([]))
    args = {
        nn.Conv2d: ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                    "dilation", "groups", "bias", "padding_mode"),
        nn.Linear: ("in_features", "out_features", "bias"),
    }  # fmt: skip
    legacy = {}
    for path, module in pruned.named_modules():
        if type(module) in args:
            entry = {"type": type(module).__name__}
            for arg in args[type(module)]:
                value = getattr(module, arg)
                value = value is not None if arg == "bias" else value
                entry[arg] = list(value) if isinstance(value, tuple) else value
            legacy[path] = entry
    state = json.loads((tmp_path / "state.json").read_text())
    state["structure"], state["check"] = legacy, None
    (tmp_path / "state.json").write_text(json.dumps(state))
    torch.testing.assert_close(load_applied(tmp_path)(x), pruned(x), rtol=0, atol=1e-6)


def test_a_pruned_model_trained_further_reloads_from_its_training_checkpoint(tmp_path: Path):
    """train(pruned, checkpoint_dir=...) writes a checkpoint that load_model rebuilds."""
    from transform_helpers import synthetic_data

    from cnnopt.serialize import load_model
    from cnnopt.training import TrainConfig, train

    x = torch.randn(2, 3, 16, 16)
    pruned = _restructure(create_model("resnet20", in_channels=3), STEPS["prune"], x)
    data = synthetic_data(32, 16, 10)
    config = TrainConfig(epochs=1, batch_size=16, checkpoint_dir=str(tmp_path), progress=False)
    trained = train(pruned, (data, data), config).model.eval()
    loaded = load_model(tmp_path)
    torch.testing.assert_close(loaded(x), trained(x), rtol=0, atol=1e-6)
