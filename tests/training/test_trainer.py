"""The training loop on real (tiny) data: precision, clipping, early stop, divergence, hooks."""

from __future__ import annotations

import pytest
import torch

from cnnopt.data.base import TensorData
from cnnopt.errors import CnnoptError
from cnnopt.models import create_model
from cnnopt.serialize import load_model
from cnnopt.training import TrainConfig, evaluate_accuracy, predict_with_flip, train


def quick(**changes) -> TrainConfig:
    base = {"epochs": 2, "batch_size": 64, "lr": 0.05, "augment": None, "progress": False}
    return TrainConfig(**{**base, **changes})


def test_training_learns_digits_and_reports_history(digits, tiny_model):
    result = train(tiny_model(), digits, quick(epochs=3))
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert result.best_val_acc is not None and result.best_val_acc > 0.8
    assert evaluate_accuracy(result.model, digits[1]) == pytest.approx(result.best_val_acc)
    keys = {"epoch", "train_loss", "train_acc", "val_acc", "lr", "images_per_s", "seconds"}
    assert keys <= set(result.history[0])


def test_bf16_autocast_with_channels_last_trains(small_digits, tiny_model):
    result = train(tiny_model(), small_digits, quick(precision="bf16", channels_last=True))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert all(p.dtype == torch.float32 for p in result.model.parameters())  # master weights


def test_fractional_epochs_train_part_of_an_epoch(small_digits, tiny_model):
    result = train(tiny_model(), small_digits, quick(epochs=0.5, batch_size=50))
    assert result.steps == 5  # 450 images / 50 = 9 steps per epoch, half rounded up
    assert result.history[-1]["epoch"] == pytest.approx(5 / 9, abs=1e-3)


def test_grad_clip_caps_the_update(small_digits, tiny_model):
    train_data, _ = small_digits
    one_step = {"epochs": 1, "batch_size": len(train_data), "lr": 1.0, "momentum": 0.0,
                "weight_decay": 0.0, "schedule": "constant"}  # fmt: skip

    def update_norm(clip):
        model = tiny_model()
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        train(model, (train_data, None), quick(**one_step, grad_clip=clip))
        after = torch.cat([p.detach().flatten() for p in model.parameters()])
        return float((after - before).norm())

    assert update_norm(None) > 0.05
    assert update_norm(0.01) == pytest.approx(0.01, rel=1e-3)  # lr 1 x clipped norm


def test_early_stopping_stops_when_val_stalls(small_digits, tiny_model):
    config = quick(epochs=20, lr=1e-9, schedule="constant", early_stop_patience=2)
    result = train(tiny_model(), small_digits, config)
    assert result.stop_reason == "early_stop"
    # BN statistics still move a little, so the best epoch varies; the stop does not
    assert len(result.history) == result.best_epoch + 2 < 20


def test_nan_loss_raises_and_last_good_checkpoint_still_loads(small_digits, tiny_model, tmp_path):
    steps = {"n": 0}

    def poison_after_first_epoch(model, inputs, labels, logits):
        steps["n"] += 1
        return torch.tensor(float("nan") if steps["n"] > 9 else 0.0)

    config = quick(epochs=3, batch_size=50, checkpoint_dir=str(tmp_path))
    with pytest.raises(CnnoptError, match=r"NaN|nan") as info:
        train(tiny_model(), small_digits, config, extra_loss=poison_after_first_epoch)
    assert "last good checkpoint" in info.value.message
    model = load_model(tmp_path)
    assert evaluate_accuracy(model, small_digits[1]) > 0.1


def test_hooks_see_every_batch_and_extra_loss_counts(small_digits, tiny_model):
    seen = []

    def record_batch(model, inputs, labels):
        seen.append(len(labels))
        return inputs, labels

    base = train(tiny_model(), small_digits, quick(epochs=1))
    hooked = train(
        tiny_model(),
        small_digits,
        quick(epochs=1),
        batch_transform=record_batch,
        extra_loss=lambda model, x, y, logits: torch.tensor(1.0),
    )
    assert sum(seen) == 448  # 7 full batches of 64 out of 450 (the short one is dropped)
    assert hooked.history[0]["train_loss"] == pytest.approx(base.history[0]["train_loss"] + 1)


def test_predict_with_flip_is_flip_invariant(tiny_model):
    model = tiny_model().eval()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(predict_with_flip(model, x), predict_with_flip(model, x.flip(-1)),
                              atol=1e-5)  # fmt: skip


@pytest.mark.parametrize(
    "changes",
    [{"lr": -1}, {"epochs": 0}, {"optimizer": "sgdd"}, {"schedule": "cosin"},
     {"precision": "fp16"}, {"batch_size": 0}, {"label_smoothing": 1.5},
     {"warmup_epochs": 5, "epochs": 2}, {"augment": 3}, {"grad_clip": 0}],
)  # fmt: skip
def test_bad_config_values_raise_with_hint(changes):
    with pytest.raises(CnnoptError) as info:
        TrainConfig(**changes).validate()
    assert info.value.hint


def test_bad_data_raises(tiny_model):
    with pytest.raises(CnnoptError, match="cannot train"):
        train(tiny_model(), torch.zeros(3), quick())
    single = TensorData(torch.zeros(40, 1, 8, 8, dtype=torch.uint8), torch.zeros(40),
                        ["a"], (0.5,), (0.5,), "x")  # fmt: skip
    one_output = create_model("fmnist_net", num_classes=1, in_channels=1, width=0.34)
    assert len(train(one_output, single, quick(epochs=1, batch_size=8)).history) == 1
    with pytest.raises(CnnoptError, match="outputs 10 classes but dataset 'x' has 1"):
        train(tiny_model(), single, quick(epochs=1, batch_size=8))  # would train silently
