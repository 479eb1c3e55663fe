"""Every registered model gets the same checks, so a new model file is tested for free."""

from __future__ import annotations

import pytest
import torch
import torch.fx
from torch import nn

from cnnopt.bench.counts import count_params
from cnnopt.models import create_model, list_models, model_spec

ALL_MODELS = list_models()


def test_the_promised_zoo_is_registered() -> None:
    expected = {"lenet5", "vgg11_bn", "vgg16_bn", "resnet20", "resnet56", "resnet18"}
    expected |= {"resnet34", "mobilenet_v2", "dwsep_cnn"}
    assert expected <= set(ALL_MODELS)


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize("shape", [(1, 12, 12), (1, 28, 28), (3, 32, 32)])
def test_forward_and_backward_are_finite(name: str, shape: tuple[int, int, int]) -> None:
    model = create_model(name, num_classes=7, in_channels=shape[0])
    out = model(torch.randn(2, *shape))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    out.logsumexp(dim=1).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_large_input_runs(name: str) -> None:
    model = create_model(name, num_classes=3).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 3)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_half_width_is_smaller(name: str) -> None:
    full = count_params(create_model(name, width=1.0))
    half = count_params(create_model(name, width=0.5))
    assert half < full


@pytest.mark.parametrize("name", ALL_MODELS)
def test_fx_trace_matches_eager(name: str) -> None:
    model = create_model(name, in_channels=1).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_spec_is_attached_and_rebuilds_same_architecture(name: str) -> None:
    from cnnopt.models import model_from_spec

    model = create_model(name, num_classes=5, in_channels=1, width=0.5)
    spec = model_spec(model)
    assert spec == {
        "name": name,
        "num_classes": 5,
        "in_channels": 1,
        "width": 0.5,
        "kwargs": {},
    }
    rebuilt = model_from_spec(spec)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes


@pytest.mark.parametrize("name", ALL_MODELS)
def test_weights_load_across_instances(name: str) -> None:
    """The checkpoint path: state_dict of one instance loads strictly into a fresh one."""
    source = create_model(name, num_classes=4, in_channels=1).eval()
    target = create_model(name, num_classes=4, in_channels=1).eval()
    target.load_state_dict(source.state_dict(), strict=True)
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(target(x), source(x))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_uses_relu_modules_not_inplace(name: str) -> None:
    """In-place activations break BN folding checks and some tracers; we promise modules."""
    model = create_model(name)
    activations = [m for m in model.modules() if isinstance(m, nn.ReLU | nn.ReLU6)]
    assert activations
    assert not any(m.inplace for m in activations)


def _basic_block(cin: int, cout: int, stride: int) -> int:
    params = 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout
    if stride != 1 or cin != cout:
        params += cin * cout + 2 * cout
    return params


def test_resnet18_parameter_count_matches_torchvision_layout() -> None:
    # torchvision resnet18 minus its 7x7 stem and 1000-class head, plus a 3x3 stem and 10
    # classes: 11,689,512 - 9,408 + 1,728 - 513,000 + 5,130 = 11,173,962.
    expected = 3 * 64 * 9 + 2 * 64  # stem conv + BN
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        expected += _basic_block(cin, cout, stride) + _basic_block(cout, cout, 1)
        cin = cout
    expected += 512 * 10 + 10
    assert expected == 11_173_962
    assert count_params(create_model("resnet18", num_classes=10, in_channels=3)) == expected


def test_lenet5_has_the_classic_parameter_count() -> None:
    assert count_params(create_model("lenet5", num_classes=10, in_channels=1)) == 61_706


def test_width_rounds_channels_to_multiples_of_eight() -> None:
    model = create_model("resnet20", width=0.7)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.out_channels % 8 == 0 for c in convs)


def test_zero_init_residual_zeroes_last_bn_of_each_block() -> None:
    from cnnopt.models._layers import BasicBlock

    model = create_model("resnet20", zero_init_residual=True)
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 9
    assert all(b.bn2.weight.abs().sum() == 0 for b in blocks)
    assert model_spec(model)["kwargs"] == {"zero_init_residual": True}


@pytest.mark.parametrize("name", ALL_MODELS)
def test_torch_pruning_can_halve_channels(name: str) -> None:
    """Structured pruning must find every channel dependency (residual adds, depthwise)."""
    import torch_pruning as tp

    model = create_model(name, in_channels=1).eval()
    x = torch.randn(1, 1, 28, 28)
    head = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == 10]
    pruner = tp.pruner.MetaPruner(
        model,
        x,
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=0.5,
        ignored_layers=head,
    )
    before = count_params(model)
    pruner.step()
    assert count_params(model) < 0.5 * before
    with torch.no_grad():
        assert model(x).shape == (1, 10)
