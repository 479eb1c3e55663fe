"""Pruning never changes what a model outputs, rounds widths without overshooting, and says
what it actually removed (tests/user_archs.py: heads summed, concatenated, pooled, tuple and
dict outputs, functional convs)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from user_archs import ARCHITECTURES

from cnnopt.errors import CnnoptError
from cnnopt.transforms import Context, apply
from cnnopt.transforms.prune import PruneConfig
from cnnopt.transforms.prune_outputs import output_signature, protected_layers
from cnnopt.transforms.prune_widths import kept_channels

MULTI_HEAD = ("two_heads_sum", "encoder_decoder_pooled", "concat_heads", "dense_se_two_heads",
              "tuple_output", "dict_output", "unet_skip_classifier")  # fmt: skip


def _prune(model: nn.Module, x: torch.Tensor, **options) -> tuple[nn.Module, Context]:
    ctx = Context(example_input=x[:1], progress=False, finetune_epochs=0)
    return apply(model, PruneConfig(**options), ctx), ctx


@pytest.mark.parametrize("name", MULTI_HEAD)
@pytest.mark.parametrize(("ratio", "importance"), [(0.3, "l2"), (0.5, "bn")])
def test_user_models_keep_every_output(name: str, ratio: float, importance: str) -> None:
    """concat_heads lost classes here before (10 -> 8 at 30%, round_to 1 or 20 classes)."""
    torch.manual_seed(0)
    model = ARCHITECTURES[name](in_channels=3, num_classes=20).eval()
    x = torch.randn(2, 3, 32, 32)
    before = output_signature(model, x)
    pruned, ctx = _prune(copy.deepcopy(model), x, ratio=ratio, importance=importance)
    assert output_signature(pruned, x) == before
    assert output_signature(pruned, x[:1]) == output_signature(model, x[:1])
    result = pruned.cnnopt_prune_result
    assert result["params_after"] <= result["params_before"]
    assert 0 <= result["ratio"] <= ratio + 1e-9
    assert f"{result['ratio']:.0%}" in ctx.notes[-1] or "no change" in ctx.notes[-1]


def test_concatenated_heads_keep_their_classes_at_any_rounding() -> None:
    """Before: neither head was found (no layer is as wide as the concatenated output), so
    both lost channels (10 classes -> 8 at 30%, round_to=1)."""
    model = ARCHITECTURES["concat_heads"](in_channels=3).eval()
    x = torch.randn(2, 3, 16, 16)
    pruned, _ = _prune(model, x, ratio=0.3, round_to=1)
    assert pruned(x).shape == (2, 10)
    assert pruned.left.out_channels == 5 and pruned.right.out_channels == 5
    assert pruned.features[3].out_channels == 23  # 32 at 30%: 22.4 -> 23 kept, never fewer


def test_output_layers_come_from_the_graph_not_from_widths() -> None:
    """A head defined before a trunk layer of the same width, behind a functional pooling:
    the old width heuristic protected the trunk layer and pruned the head."""

    class HeadFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Conv2d(32, 16, 1)
            self.stem = nn.Conv2d(3, 32, 3, padding=1)
            self.mid = nn.Conv2d(32, 16, 3, padding=1)  # as wide as the head, defined later
            self.back = nn.Conv2d(16, 32, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = self.back(torch.relu(self.mid(torch.relu(self.stem(x)))))
            scores = self.head(z)  # still alive when the pooled output is made
            return torch.nn.functional.adaptive_avg_pool2d(scores, 1).flatten(1)

    model = HeadFirst().eval()
    x = torch.randn(1, 3, 8, 8)
    assert [m for m in protected_layers(model, x).modules] == [model.head]
    pruned, _ = _prune(model, x, ratio=0.5)
    assert pruned(x).shape == (1, 16) and pruned.mid.out_channels == 8


def test_returned_features_are_outputs_too() -> None:
    model = ARCHITECTURES["tuple_output"](in_channels=1).eval()
    x = torch.randn(2, 1, 16, 16)
    found = protected_layers(model, x).modules
    assert model.fc in found and model.body[4] in found  # (logits, features): both widths kept
    pruned, _ = _prune(model, x, ratio=0.5)
    logits, features = pruned(x)
    assert logits.shape == (2, 10) and features.shape == (2, 48)
    assert pruned.body[0].out_channels == 16  # the trunk still shrinks: 24 -> 12 -> 16


def test_rounding_keeps_what_was_asked_for() -> None:
    """Before: 32 channels at 30% kept 16 (round_to=8 rounded 22 kept down to 16), so 30% and
    50% gave the same model."""
    model = ARCHITECTURES["two_heads_sum"](in_channels=3).eval()
    x = torch.randn(1, 3, 16, 16)
    p30, ctx30 = _prune(copy.deepcopy(model), x, ratio=0.3)
    p50, _ = _prune(copy.deepcopy(model), x, ratio=0.5)
    assert p30.features[0].out_channels == 24 and p50.features[0].out_channels == 16
    assert p30.cnnopt_prune_result["ratio"] == pytest.approx(0.25)
    assert "removed 25% of prunable channels" in ctx30.notes[-1]
    assert "30% requested" in ctx30.notes[-1]


@settings(max_examples=60, deadline=None)
@given(
    channels=st.integers(1, 512),
    ratio=st.floats(0.0, 0.95),
    round_to=st.sampled_from((1, 2, 4, 8, 16)),
    groups=st.sampled_from((1, 2, 4)),
)
def test_rounding_never_overshoots(channels: int, ratio: float, round_to: int, groups: int):
    kept = kept_channels(channels, ratio, round_to, groups)
    assert 1 <= kept <= channels
    assert channels - kept <= channels * ratio + 1e-6  # never more removed than asked
    step = math.lcm(round_to, groups)
    if kept < channels:
        assert kept % step == 0
        assert kept - channels * (1 - ratio) < step  # within one rounding step of the ask


def test_functional_model_gets_a_clear_note() -> None:
    model = ARCHITECTURES["functional_convs"](in_channels=1).eval()
    x = torch.randn(1, 1, 16, 16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned, ctx = _prune(model, x, ratio=0.5)
    assert ctx.notes[-1].startswith("prune: nothing to prune: no Conv2d/Linear layers")
    assert not pruned.cnnopt_prune_result["changed"]
    assert all(torch.equal(before[k], v) for k, v in pruned.state_dict().items())


def test_small_ratio_says_no_change() -> None:
    model = ARCHITECTURES["two_heads_sum"](in_channels=1).eval()
    pruned, ctx = _prune(model, torch.randn(1, 1, 16, 16), ratio=0.1)
    assert ctx.notes[-1].startswith("prune: no change")
    assert pruned.cnnopt_prune_result["ratio"] == 0 and pruned.features[0].out_channels == 32


def test_a_broken_pruning_result_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever slips past the protection (here: both heads cut behind its back) is refused."""
    import cnnopt.transforms.prune as prune_mod

    def cut_the_heads(pruner, *args, **kwargs) -> tuple[int, int]:
        for head in (pruner.DG.model.head1, pruner.DG.model.head2):
            head.weight = nn.Parameter(head.weight[:8].clone())
            head.bias = nn.Parameter(head.bias[:8].clone())
            head.out_features = 8
        return 16, 0

    monkeypatch.setattr(prune_mod, "prune_step", cut_the_heads)
    model = ARCHITECTURES["two_heads_sum"](in_channels=1).eval()
    with pytest.raises(CnnoptError) as info:
        _prune(model, torch.randn(1, 1, 16, 16), ratio=0.5)
    message = str(info.value)
    assert "pruning changed the model's outputs at batch 1: output was 1x10 float32" in message
    assert "now 1x8 float32" in message and "\n" not in message


class _NestedFrozen(nn.Module):
    """A frozen trunk, and a nested dict holding a map, a list and a plain int."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 32, 3, padding=1)
        self.b = nn.Conv2d(32, 48, 3, padding=1)
        self.seg = nn.Conv2d(48, 24, 1)
        self.cls = nn.Linear(48, 16)
        for p in [*self.a.parameters(), *self.b.parameters()]:
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> dict:
        f = torch.relu(self.b(torch.relu(self.a(x))))
        return {"out": {"seg": self.seg(f), "cls": [self.cls(f.mean((2, 3)))]}, "n": 3}


def test_nested_outputs_and_frozen_weights() -> None:
    """Before: Torch-Pruning failed on the int leaf ('int' object is not iterable), and saw
    no channel groups at all behind frozen weights."""
    model = _NestedFrozen().eval()
    x = torch.randn(2, 3, 8, 8)
    before = output_signature(model, x)
    pruned, _ = _prune(model, x, ratio=0.5)
    assert output_signature(pruned, x) == before
    assert pruned.a.out_channels == 16 and pruned.b.out_channels == 24
    assert not pruned.a.weight.requires_grad and pruned.seg.weight.requires_grad


def test_a_cut_torch_pruning_mis_maps_is_undone_not_fatal() -> None:
    """dense_se_two_heads: a channel group crossing torch.cat into a grouped conv makes
    Torch-Pruning index out of bounds; that one cut is undone and the rest is pruned."""
    torch.manual_seed(0)
    model = ARCHITECTURES["dense_se_two_heads"](in_channels=3).eval()
    x = torch.randn(2, 3, 16, 16)
    before = output_signature(model, x)
    pruned, ctx = _prune(model, x, ratio=0.5, importance="bn")
    assert output_signature(pruned, x) == before
    result = pruned.cnnopt_prune_result
    assert result["groups_kept_whole"] >= 1 and result["changed"]
    assert "could not cut consistently were kept whole" in ctx.notes[-1]
