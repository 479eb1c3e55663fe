"""Structured pruning on every zoo model and on a model mixing every awkward topology."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from transform_helpers import MixedNet, small_cnn, synthetic_data

from cnnopt.bench.counts import count_macs, count_params
from cnnopt.errors import CnnoptError
from cnnopt.models import create_model, list_models
from cnnopt.structure import describe_structure, rebuild_structure
from cnnopt.transforms import Context, apply
from cnnopt.transforms.prune import PruneConfig


def _widths(model: nn.Module) -> dict[str, int]:
    return {
        n: (m.out_features if isinstance(m, nn.Linear) else m.out_channels)
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    }


@pytest.mark.parametrize("name", list_models())
def test_prune_half_on_every_zoo_model(name: str) -> None:
    channels = 1 if name == "fmnist_net" else 3
    model = create_model(name, num_classes=10, in_channels=channels).eval()
    shape = (channels, 16, 16)
    before = _widths(model)
    pruned = apply(copy.deepcopy(model), PruneConfig(ratio=0.5), Context(progress=False))
    assert pruned(torch.randn(2, *shape)).shape == (2, 10)
    assert count_params(pruned) < count_params(model)
    assert count_macs(pruned, shape) < count_macs(model, shape)
    after = _widths(pruned)
    changed = [n for n in after if after[n] != before[n]]
    assert changed
    assert all(after[n] % 8 == 0 for n in changed)
    assert pruned.cnnopt_spec is None and pruned.cnnopt_base_spec["name"] == name
    rebuilt = rebuild_structure(
        create_model(name, in_channels=channels), describe_structure(pruned)
    )
    rebuilt.load_state_dict(pruned.state_dict())  # the saved structure reproduces every shape


@pytest.mark.parametrize("importance", ["l1", "l2", "bn", "taylor"])
def test_mixed_topology_prunes_consistently(importance: str) -> None:
    model = MixedNet().eval()
    x = torch.randn(2, 3, 16, 16)
    ctx = Context(example_input=x, train_data=synthetic_data(32, 16, 10), progress=False)
    config = PruneConfig(ratio=0.5, importance=importance, batch_size=16, taylor_batches=2)
    pruned = apply(copy.deepcopy(model), config, ctx)
    main, aux = pruned(x)
    assert main.shape == (2, 10) and aux.shape == (2, 3)  # both heads keep their width
    assert count_params(pruned) < count_params(model) / 2
    assert pruned.branch_b[0].groups == pruned.branch_b[0].out_channels  # still depthwise
    assert pruned.grouped[0].groups == 4
    assert pruned.se.expand.out_channels == pruned.grouped[0].out_channels
    torch.fx.symbolic_trace(pruned)  # export-friendly: traces and exports
    torch.onnx.export(pruned, (x,), dynamo=False, f=__import__("io").BytesIO())


def test_per_layer_ratio_and_ignored_layers() -> None:
    model = small_cnn().eval()
    config = PruneConfig(ratio=0.5, layer_ratios={"3": 0.75}, ignore=["0"])
    pruned = apply(model, config, Context(example_input=torch.randn(1, 3, 8, 8)))
    assert pruned[0].out_channels == 16  # ignored
    assert pruned[3].out_channels == 8  # 32 at 75%
    assert pruned[8].out_features == 4  # classifier never pruned


def test_global_pruning_keeps_every_layer_alive() -> None:
    model = create_model("vgg11_bn").eval()
    config = PruneConfig(ratio=0.5, global_pruning=True)
    pruned = apply(model, config, Context(progress=False))
    assert all(w >= 8 for w in _widths(pruned).values())
    assert pruned(torch.randn(1, 3, 16, 16)).shape == (1, 10)


def test_iterative_pruning_with_finetuning() -> None:
    data = synthetic_data(128, 8, 4)
    model = small_cnn().eval()
    ctx = Context(train_data=data, val_data=data, progress=False)
    config = PruneConfig(ratio=0.5, steps=2, finetune_epochs=1, batch_size=32)
    pruned = apply(model, config, ctx)
    assert pruned[3].out_channels == 16
    assert pruned(torch.randn(1, 3, 8, 8)).shape == (1, 4)


@settings(max_examples=6, deadline=None)
@given(ratio=st.floats(0.05, 0.9))
def test_any_ratio_keeps_the_model_working(ratio: float) -> None:
    model = small_cnn().eval()
    pruned = apply(model, PruneConfig(ratio=ratio), Context(example_input=torch.randn(1, 3, 8, 8)))
    assert pruned(torch.randn(2, 3, 8, 8)).shape == (2, 4)
    assert all(w % 8 == 0 for n, w in _widths(pruned).items() if n != "8")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ratio": 1.0},
        {"ratio": -0.1},
        {"importance": "magic"},
        {"steps": 0},
        {"layer_ratios": {"x": 1.5}},
        {"max_layer_ratio": 1.0},
    ],
)
def test_invalid_configs_are_refused(kwargs: dict) -> None:
    with pytest.raises(CnnoptError):
        PruneConfig(**kwargs).validate()


def test_unknown_layer_name_and_missing_data_explain_themselves() -> None:
    with pytest.raises(CnnoptError, match="matches no conv/linear"):
        apply(small_cnn(), PruneConfig(ignore=["nope"]), Context())
    with pytest.raises(CnnoptError, match="taylor"):
        apply(small_cnn(), PruneConfig(importance="taylor"), Context())
