"""Rewrites keep output shapes; distillation moves the student towards the teacher."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from transform_helpers import small_cnn, synthetic_data

from cnnopt.bench.counts import count_macs
from cnnopt.errors import CnnoptError
from cnnopt.models import create_model
from cnnopt.transforms import Context, apply
from cnnopt.transforms.distill import DistillConfig
from cnnopt.transforms.finetune import kl_to_teacher
from cnnopt.transforms.rewrite import RewriteConfig


@pytest.mark.parametrize("kind", ["width", "separable", "kernel", "pool"])
@pytest.mark.parametrize("name", ["lenet5", "resnet20"])
def test_every_rewrite_keeps_output_shape(kind: str, name: str) -> None:
    model = create_model(name).eval()
    ctx = Context()
    out = apply(copy.deepcopy(model), RewriteConfig(kind=kind), ctx)
    assert out(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    assert RewriteConfig.needs_finetune
    if kind in ("width", "separable"):
        assert count_macs(out, (3, 16, 16)) < count_macs(model, (3, 16, 16))
        assert any("re-train or distill" in note for note in ctx.notes)


def test_separable_init_is_exact_for_separable_weights() -> None:
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=True)
    with torch.no_grad():  # rank-1 per input channel: a separable conv represents it exactly
        conv.weight.copy_(torch.randn(6, 4, 1, 1) * torch.randn(1, 4, 3, 3))
    model = nn.Sequential(conv)
    x = torch.randn(1, 4, 8, 8)
    expected = model(x)
    out = apply(model, RewriteConfig(kind="separable"), Context())
    assert out[0][0].groups == 4
    torch.testing.assert_close(out(x), expected, atol=1e-5, rtol=1e-4)


def test_kernel_and_pool_shrink_where_shapes_allow() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 5, padding=2),
        nn.Conv2d(8, 8, 5),
        nn.MaxPool2d(3, 1, 1),
        nn.AvgPool2d(3, 2),
        nn.Flatten(),
    ).eval()
    x = torch.randn(1, 3, 16, 16)
    shape = model(x).shape
    apply(model, RewriteConfig(kind="kernel"), Context())
    apply(model, RewriteConfig(kind="pool"), Context(example_input=x))
    assert model[0].kernel_size == (3, 3) and model[0].padding == (1, 1)
    assert model[1].kernel_size == (5, 5)  # no padding to give back: kept
    assert model[2].kernel_size == 2 or model(x).shape == shape
    assert model(x).shape == shape


def test_rewrite_refuses_bad_options() -> None:
    with pytest.raises(CnnoptError):
        RewriteConfig(kind="magic").validate()
    with pytest.raises(CnnoptError):
        RewriteConfig(kind="kernel", kernel_from=5, kernel_to=4).validate()


def test_distill_reduces_kl_to_teacher() -> None:
    data = synthetic_data(256, 8, 4)
    torch.manual_seed(1)
    teacher = small_cnn().eval()
    student = small_cnn()
    x, _ = data.tensors()
    with torch.no_grad():
        before = kl_to_teacher(student.eval()(x), teacher(x)).item()
    ctx = Context(train_data=data, val_data=data, teacher=teacher, progress=False)
    config = DistillConfig(epochs=3, temperature=2.0, soft_weight=5.0, lr=0.05)
    student = apply(student, config, ctx).eval()
    with torch.no_grad():
        after = kl_to_teacher(student(x), teacher(x)).item()
    assert after < before


def test_bf16_channels_last_finetuning_learns_and_returns_nchw_weights() -> None:
    """The fast CPU fine-tuning mode still moves the student, and hands back weights that
    safetensors and ONNX export accept (contiguous NCHW, not channels-last)."""
    data = synthetic_data(256, 8, 4)
    torch.manual_seed(1)
    teacher, student = small_cnn().eval(), small_cnn()
    x, _ = data.tensors()
    with torch.no_grad():
        before = kl_to_teacher(student.eval()(x), teacher(x)).item()
    ctx = Context(
        train_data=data,
        val_data=data,
        teacher=teacher,
        progress=False,
        finetune_precision="bf16",
        finetune_channels_last=True,
    )
    student = apply(student, DistillConfig(epochs=3, soft_weight=5.0, lr=0.05), ctx).eval()
    with torch.no_grad():
        assert kl_to_teacher(student(x), teacher(x)).item() < before
    assert all(p.is_contiguous() for p in student.parameters())


def test_distill_needs_teacher_and_data() -> None:
    with pytest.raises(CnnoptError, match="teacher"):
        apply(small_cnn(), DistillConfig(), Context())
    with pytest.raises(CnnoptError):
        DistillConfig(temperature=0).validate()
