"""A deadline (the end of a run's time budget) stops training and fine-tuning between batches:
the model comes back usable, as trained so far, and the fine-tuning says what it was cut to."""

from __future__ import annotations

import time

import torch

from cnnopt.training import TrainConfig, train
from cnnopt.transforms import Context, apply
from cnnopt.transforms.prune import PruneConfig

# Each batch is made to take this long, so an epoch (24 batches of 16) outlasts the deadline
# on any machine and the stop must fall inside it.
BATCH_S = 0.02


def _slow(model, inputs, labels):
    time.sleep(BATCH_S)
    return inputs, labels


def _config(**changes) -> TrainConfig:
    return TrainConfig(**{"epochs": 20, "batch_size": 16, "lr": 0.05, "progress": False,
                          "augment": None, **changes})  # fmt: skip


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_past_deadline_trains_nothing_and_returns_the_model_as_given(
    small_digits, tiny_model
) -> None:
    model = tiny_model()
    before = _state(model)
    result = train(model, small_digits, _config(), deadline=time.time() - 1)
    assert result.stop_reason == "deadline" and result.steps == 0 and result.epochs_done == 0
    after = result.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "weights untouched"


def test_a_near_deadline_stops_mid_epoch_with_usable_weights(small_digits, tiny_model) -> None:
    train_data, val_data = small_digits
    steps_per_epoch = len(train_data) // 16
    started = time.time()
    result = train(
        tiny_model(), small_digits, _config(), deadline=started + 0.2, batch_transform=_slow
    )
    # Bound: 0.2 s, one batch past it, and the closing validation pass; 10 s leaves room
    # for a CI host on 2 loaded cores (unbounded, 20 epochs take ~10 s here).
    assert time.time() - started < 10
    assert result.stop_reason == "deadline"
    assert 1 <= result.steps < steps_per_epoch, "stopped inside the first epoch"
    assert 0 < result.epochs_done < 1
    assert all(torch.isfinite(v).all() for v in result.model.state_dict().values())
    logits = result.model.eval()(val_data.normalize(val_data.images[:8]))
    assert logits.shape == (8, 10) and torch.isfinite(logits).all()


def test_pruning_fine_tuning_stops_at_the_deadline_and_says_so(small_digits, tiny_model) -> None:
    train_data, val_data = small_digits
    ctx = Context(
        train_data=train_data,
        val_data=val_data,
        teacher=tiny_model(),
        example_input=val_data.normalize(val_data.images[:1]),
        progress=False,
        deadline=time.time() + 0.5,
    )
    started = time.time()
    # 200 epochs of fine-tuning would take over a minute here; the deadline allows 0.5 s.
    model = apply(tiny_model(), PruneConfig(ratio=0.5, finetune_epochs=200), ctx)
    assert time.time() - started < 20  # 0.5 s + pruning + one validation pass, loaded CI
    assert len(ctx.cut) == 1 and ctx.cut[0] in ctx.notes
    assert ctx.cut[0].startswith("prune fine-tuning stopped at the time budget after ")
    assert ctx.cut[0].endswith(" of 200 epoch(s)")
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())
    assert model.eval()(val_data.normalize(val_data.images[:4])).shape == (4, 10)


def test_without_a_deadline_nothing_is_cut(small_digits, tiny_model) -> None:
    train_data, val_data = small_digits
    ctx = Context(train_data=train_data, val_data=val_data, progress=False)
    apply(tiny_model(), PruneConfig(ratio=0.5, finetune_epochs=0.1), ctx)
    assert ctx.cut == []
