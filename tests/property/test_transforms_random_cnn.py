"""Fuse, prune and low-rank on random CNNs (residual adds, concatenations, depthwise convs):
outputs keep their shape, and the exact transforms keep the outputs themselves."""

from __future__ import annotations

import copy

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from random_cnn import EXAMPLES_RUN, build, describe, nets

from cnnopt.errors import CnnoptError
from cnnopt.transforms import Context, apply
from cnnopt.transforms.fuse import FuseConfig
from cnnopt.transforms.lowrank import LowRankConfig
from cnnopt.transforms.prune import PruneConfig

EXACT_ATOL = 1e-4  # float32 reassociation only: folding BN / SVD at full rank change no math


def _outputs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def _context(x: torch.Tensor) -> Context:
    return Context(example_input=x[:1], progress=False, finetune_epochs=0)


@settings(max_examples=80, deadline=None)
@given(nets)
def test_fuse_keeps_outputs(spec) -> None:
    EXAMPLES_RUN["fuse"] += 1
    model, x = build(spec), spec.example()
    fused = apply(copy.deepcopy(model), FuseConfig(), _context(x))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules()), describe(spec)
    torch.testing.assert_close(_outputs(fused, x), _outputs(model, x), atol=EXACT_ATOL, rtol=0)


@settings(max_examples=80, deadline=None)
@given(nets, st.floats(0.3, 0.6), st.sampled_from((4, 8)))
def test_prune_keeps_shape_and_runs(spec, ratio: float, round_to: int) -> None:
    """Pruned models keep their output shape and run, or pruning refuses with a CnnoptError;
    refusing is allowed only for concatenations, which Torch-Pruning mis-tracks (nested
    torch.cat, or a cat feeding a depthwise conv) and which once produced broken models."""
    EXAMPLES_RUN["prune"] += 1
    model, x = build(spec), spec.example()
    before = sum(p.numel() for p in model.parameters())
    config = PruneConfig(ratio=ratio, round_to=round_to)
    try:
        pruned = apply(copy.deepcopy(model), config, _context(x))
    except CnnoptError as exc:
        assert any(b.join == "cat" for b in spec.blocks), f"{describe(spec)}: {exc}"
        assert "ignore" in str(exc)
        EXAMPLES_RUN["prune_refused_cat"] += 1
        return
    out = _outputs(pruned, x)
    assert out.shape == (2, spec.classes), describe(spec)
    assert torch.isfinite(out).all()
    assert sum(p.numel() for p in pruned.parameters()) <= before, describe(spec)


@settings(max_examples=50, deadline=None)
@given(nets)
def test_full_rank_lowrank_is_exact(spec) -> None:
    EXAMPLES_RUN["lowrank_full"] += 1
    model, x = build(spec), spec.example()
    config = LowRankConfig(rank_ratio=1.0, round_to=1, skip_if_no_gain=False)
    factorized = apply(copy.deepcopy(model), config, _context(x))
    torch.testing.assert_close(_outputs(factorized, x), _outputs(model, x), atol=EXACT_ATOL, rtol=0)


@settings(max_examples=50, deadline=None)
@given(nets, st.floats(0.1, 0.75), st.sampled_from((1, 4, 8)))
def test_lower_rank_keeps_shape(spec, ratio: float, round_to: int) -> None:
    EXAMPLES_RUN["lowrank"] += 1
    model, x = build(spec), spec.example()
    config = LowRankConfig(rank_ratio=ratio, round_to=round_to)
    out = _outputs(apply(copy.deepcopy(model), config, _context(x)), x)
    assert out.shape == (2, spec.classes) and torch.isfinite(out).all(), describe(spec)
