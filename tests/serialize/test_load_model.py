"""`cnnopt.load_model`: one test per kind of source, through the public name Python users
call (the CLI's `--model` is the same function; tests/e2e/test_bad_inputs.py covers its flags)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import cnnopt
from cnnopt.errors import CnnoptError
from cnnopt.models import create_model
from cnnopt.recipe import Recipe, apply_recipe, save_applied
from cnnopt.serialize import save_checkpoint
from cnnopt.transforms import Context
from cnnopt.transforms.prune import PruneConfig

X = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
NET_PY = """
from torch import nn

def build(num_classes, in_channels=3):
    return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, num_classes))
"""


def trained_lenet() -> nn.Module:
    """A lenet5 whose weights differ from a fresh build's, so a reload that silently kept
    fresh weights would fail the comparison."""
    model = create_model("lenet5", num_classes=10, in_channels=1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1)
    return model.eval()


def assert_same_outputs(loaded: nn.Module, original: nn.Module) -> None:
    assert not loaded.training, "a loaded model is in eval mode"
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), original(X), rtol=0, atol=1e-6)


def test_zoo_name_builds_a_fresh_architecture() -> None:
    model = cnnopt.load_model("lenet5", num_classes=7, in_channels=1)
    assert model(X).shape == (2, 7) and not model.training
    assert model.cnnopt_spec["name"] == "lenet5"


def test_file_factory_builds_the_users_architecture(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(NET_PY)
    model = cnnopt.load_model(f"{tmp_path / 'net.py'}:build", num_classes=3, in_channels=1)
    assert model(X).shape == (2, 3)
    assert model.cnnopt_spec["name"].endswith("net.py:build")


def test_checkpoint_directory_and_its_weights_file(tmp_path: Path) -> None:
    original = trained_lenet()
    save_checkpoint(tmp_path, original, state={"step": 4})
    assert_same_outputs(cnnopt.load_model(tmp_path), original)
    assert_same_outputs(cnnopt.load_model(tmp_path / "model.safetensors"), original)


def test_pruned_checkpoint_directory_rebuilds_its_structure(tmp_path: Path) -> None:
    base = trained_lenet()
    recipe = Recipe([PruneConfig(ratio=0.5)])
    pruned = apply_recipe(base, recipe, Context(example_input=X[:1]), progress=False).eval()
    save_applied(tmp_path, pruned, recipe, example_input=X)
    loaded = cnnopt.load_model(str(tmp_path))
    assert_same_outputs(loaded, pruned)
    assert sum(p.numel() for p in loaded.parameters()) < sum(p.numel() for p in base.parameters())


def test_pt_state_dict_needs_an_arch_and_is_unwrapped(tmp_path: Path) -> None:
    original = trained_lenet()
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": original.state_dict(), "epoch": 3}, path)
    with pytest.raises(CnnoptError, match="holds only weights") as info:
        cnnopt.load_model(path)
    assert "arch=" in str(info.value) and "--model-arch" not in str(info.value)
    loaded = cnnopt.load_model(path, arch="lenet5", num_classes=10, in_channels=1)
    assert_same_outputs(loaded, original)


def test_pickled_module_is_refused_then_allowed_with_trust_pickle(tmp_path: Path) -> None:
    original = trained_lenet()
    path = tmp_path / "whole.pt"
    torch.save(original, path)
    with pytest.raises(CnnoptError, match="needs pickle") as info:
        cnnopt.load_model(path)
    assert "trust_pickle=True" in str(info.value)
    assert_same_outputs(cnnopt.load_model(path, trust_pickle=True), original)


def test_safetensors_with_arch_by_name_or_instance(tmp_path: Path) -> None:
    original = trained_lenet()
    path = tmp_path / "weights.safetensors"  # no state.json beside it: weights only
    save_file({k: v.contiguous() for k, v in original.state_dict().items()}, str(path))
    with pytest.raises(CnnoptError, match="holds only weights"):
        cnnopt.load_model(path)
    assert_same_outputs(cnnopt.load_model(path, arch="lenet5", in_channels=1), original)
    fresh = create_model("lenet5", num_classes=10, in_channels=1)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    assert_same_outputs(cnnopt.load_model(path, arch=fresh), original)
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items()), "copied"


def test_arch_with_a_zoo_name_is_refused_in_python_words() -> None:
    with pytest.raises(CnnoptError, match="arch only applies") as info:
        cnnopt.load_model("lenet5", arch="lenet5")
    assert info.value.hint == "drop arch"
