"""Optimizers and LR schedules: each one learns, and the LR curve has the promised shape."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnopt.training import TrainConfig, build_optimizer, build_scheduler, lr_factor, train
from cnnopt.training.config import OPTIMIZERS, SCHEDULES


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_and_schedule_learns(small_digits, tiny_model, optimizer, schedule):
    train_data, _ = small_digits
    lr = 0.05 if optimizer == "sgd" else 3e-3
    config = TrainConfig(
        epochs=3, batch_size=50, optimizer=optimizer, schedule=schedule, lr=lr,
        step_size=1, gamma=0.5, augment=None, progress=False,
    )  # fmt: skip
    result = train(tiny_model(), (train_data, None), config)
    losses = [row["train_loss"] for row in result.history]
    assert len(losses) == 3
    assert losses[-1] < losses[0] * 0.8, losses


def test_onecycle_ramps_to_peak_then_decays_to_zero():
    total, per_epoch = 100, 10
    factors = [lr_factor(s, total, per_epoch, "onecycle", warmup_epochs=2) for s in range(total)]
    assert factors[0] == pytest.approx(0.04)
    assert factors[20] == pytest.approx(1.0)
    assert all(a < b for a, b in itertools.pairwise(factors[:21]))
    assert all(a > b for a, b in itertools.pairwise(factors[20:]))
    assert lr_factor(total, total, per_epoch, "onecycle") == 0.0


def test_onecycle_without_warmup_peaks_at_a_quarter():
    factors = [lr_factor(s, 200, 10, "onecycle") for s in range(200)]
    assert max(range(200), key=factors.__getitem__) == 50


def test_warmup_then_step_decay_values():
    config = TrainConfig(lr=0.4, schedule="step", warmup_epochs=1, step_size=2, gamma=0.1)
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch=4, total_steps=24)
    lrs = []
    for _ in range(24):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:4] == pytest.approx([0.08, 0.16, 0.24, 0.32])  # linear warm-up over 1 epoch
    assert lrs[4:8] == pytest.approx([0.4] * 4)
    assert lrs[8:16] == pytest.approx([0.04] * 8)  # decayed at epoch 2, again at epoch 4
    assert lrs[16:24] == pytest.approx([0.004] * 8)


def test_cosine_reaches_zero_and_starts_at_peak_after_warmup():
    assert lr_factor(10, 110, 10, "cosine", warmup_epochs=1) == pytest.approx(1.0)
    assert lr_factor(60, 110, 10, "cosine", warmup_epochs=1) == pytest.approx(0.5)
    assert lr_factor(110, 110, 10, "cosine", warmup_epochs=1) == pytest.approx(0.0)


def test_weight_decay_skips_bn_and_bias(tiny_model):
    optimizer = build_optimizer(tiny_model(), TrainConfig(weight_decay=1e-3))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 1e-3 and all(p.ndim > 1 for p in decayed["params"])
    assert plain["weight_decay"] == 0.0 and all(p.ndim == 1 for p in plain["params"])


@settings(max_examples=40, deadline=None)
@given(
    schedule=st.sampled_from(SCHEDULES),
    total=st.integers(1, 500),
    per_epoch=st.integers(1, 50),
    warmup=st.floats(0, 3),
    step=st.integers(0, 600),
)
def test_lr_factor_stays_in_unit_interval(schedule, total, per_epoch, warmup, step):
    value = lr_factor(step, total, per_epoch, schedule, warmup_epochs=warmup, step_size=2)
    assert 0.0 <= value <= 1.0
