"""Params, MACs and serialized size agree with PyTorch's own counts and with hand formulas."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnopt.bench.counts import count_macs, count_params, serialized_size, state_dict_bytes


def tiny_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)
    )


def test_tiny_net_macs_match_the_formula_and_flop_counter() -> None:
    model = tiny_net()
    x = torch.zeros(1, 3, 8, 8)
    conv = 8 * 8 * 8 * (3 * 3 * 3)  # output elements x (kernel area x input channels)
    linear = 512 * 10
    assert count_macs(model, x) == conv + linear == 18_944
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    assert count_macs(model, x) == counter.get_total_flops() // 2
    assert count_macs(model, torch.zeros(4, 3, 8, 8)) == 4 * 18_944


def test_params_match_numel_and_formula() -> None:
    model = tiny_net()
    assert count_params(model) == sum(p.numel() for p in model.parameters())
    assert count_params(model) == (8 * 27 + 8) + (512 * 10 + 10)


def test_macs_leave_train_mode_alone() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).train()
    count_macs(model, torch.randn(1, 1, 5, 5))
    assert model.training
    assert int(model[1].num_batches_tracked) == 0  # counted in eval mode: no BN update


def test_state_dict_bytes_is_the_safetensors_size() -> None:
    model = tiny_net()
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    assert state_dict_bytes(model) == len(save(tensors))
    raw = sum(p.numel() * 4 for p in model.parameters())
    assert raw < state_dict_bytes(model) < raw + 4096  # weights plus a small JSON header


def test_tied_weights_are_stored_once() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(64, 64, bias=False)
            self.b = nn.Linear(64, 64, bias=False)
            self.b.weight = self.a.weight

    assert state_dict_bytes(Tied()) < 64 * 64 * 4 + 2048


def test_predictor_artifact_size(tmp_path: Path) -> None:
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"x" * 1234)

    class FakePredictor:
        artifact_path = artifact

    assert serialized_size(FakePredictor()) == 1234
    xml = tmp_path / "model.xml"
    xml.write_bytes(b"x" * 10)
    xml.with_suffix(".bin").write_bytes(b"y" * 90)
    FakePredictor.artifact_path = xml
    assert serialized_size(FakePredictor()) == 100
    assert serialized_size(lambda x: x) is None
