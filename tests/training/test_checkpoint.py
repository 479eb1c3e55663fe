"""Checkpoints: exact round trips, architecture checks, crash-safe ordering, exact resume."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from cnnopt.errors import CnnoptError
from cnnopt.models import create_model
from cnnopt.serialize import load_checkpoint, load_model, save_checkpoint, save_weights
from cnnopt.training import TrainConfig, train


def quick(tmp_path, **changes) -> TrainConfig:
    base = {"epochs": 4, "batch_size": 50, "lr": 0.05, "augment": None, "progress": False,
            "checkpoint_dir": str(tmp_path)}  # fmt: skip
    return TrainConfig(**{**base, **changes})


def test_round_trip_gives_identical_outputs(tiny_model, tmp_path):
    model = tiny_model().eval()
    with torch.no_grad():
        model(torch.randn(8, 1, 8, 8))  # nothing changes in eval; outputs must match exactly
    save_checkpoint(tmp_path, model, state={"step": 3})
    loaded = load_model(tmp_path)
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert loaded.cnnopt_spec == model.cnnopt_spec


def test_wrong_architecture_is_refused_by_name(tiny_model, tmp_path):
    save_checkpoint(tmp_path, tiny_model(), state={"step": 0})
    other = create_model("fmnist_net", num_classes=10, in_channels=1, width=0.5)
    with pytest.raises(CnnoptError, match=r"checkpoint is for fmnist_net .*width 0.34.*not"):
        load_checkpoint(tmp_path, other)
    foreign = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3))
    with pytest.raises(CnnoptError, match="checkpoint is for fmnist_net"):
        load_checkpoint(tmp_path, foreign)


def test_state_json_only_names_files_that_exist(small_digits, tiny_model, tmp_path):
    train(tiny_model(), small_digits, quick(tmp_path, epochs=2))
    state = json.loads((tmp_path / "state.json").read_text())
    for key in ("weights", "best_weights", "trainer_state"):
        assert (tmp_path / state[key]).is_file()
    assert state["step"] == 18 and state["finished"] is True
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_weights_from_another_save_are_detected(tiny_model, tmp_path):
    model = tiny_model()
    save_checkpoint(tmp_path, model, state={"step": 5})
    save_weights(tmp_path / "model.safetensors", model, step=9)  # crash before state.json
    with pytest.raises(CnnoptError, match="interrupted"):
        load_model(tmp_path, which="last")


def test_shared_and_noncontiguous_tensors_save(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    model[1].weight = model[0].weight  # tied
    model[0].bias.data = torch.arange(8.0)[::2]  # a strided view
    save_checkpoint(tmp_path, model, state={"step": 0})
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    load_checkpoint(tmp_path, fresh)
    assert torch.equal(fresh[1].weight, model[0].weight)
    assert torch.equal(fresh[0].bias, torch.tensor([0.0, 2, 4, 6]))


def test_missing_checkpoint_has_a_hint(tmp_path):
    with pytest.raises(CnnoptError) as info:
        load_model(tmp_path)
    assert "state.json" in info.value.message and info.value.hint


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6, rtol=0), key


def test_resume_after_ctrl_c_matches_uninterrupted_run(small_digits, tiny_model, tmp_path):
    augment_config = {"augment": lambda x, g: x + 0.01 * torch.randn(x.shape, generator=g)}
    reference = train(tiny_model(), small_digits, quick(tmp_path / "a", **augment_config))
    calls = {"n": 0}

    def ctrl_c_mid_epoch_3(model, inputs, labels):
        calls["n"] += 1
        if calls["n"] == 22:  # 9 steps per epoch: step 22 is inside epoch 3
            os.kill(os.getpid(), signal.SIGINT)
        return inputs, labels

    config = quick(tmp_path / "b", **augment_config)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_model(), small_digits, config, batch_transform=ctrl_c_mid_epoch_3)
    assert json.loads((tmp_path / "b" / "state.json").read_text())["step"] == 22
    resumed = train(tiny_model(seed=1), small_digits, config, resume=True)
    _assert_same(_weights(reference.model), _weights(resumed.model))
    assert resumed.best_val_acc == reference.best_val_acc


def test_resume_after_two_epochs_matches_four(small_digits, tiny_model, tmp_path):
    reference = train(tiny_model(), small_digits, quick(tmp_path / "a"))
    config = quick(tmp_path / "b")
    calls = {"n": 0}

    def crash_in_epoch_3(model, inputs, labels):
        calls["n"] += 1
        if calls["n"] == 20:
            raise RuntimeError("power cut")  # not handled: only the epoch-2 checkpoint survives
        return inputs, labels

    with pytest.raises(RuntimeError):
        train(tiny_model(), small_digits, config, batch_transform=crash_in_epoch_3)
    assert json.loads((tmp_path / "b" / "state.json").read_text())["step"] == 18
    resumed = train(tiny_model(seed=3), small_digits, config, resume=True)
    _assert_same(_weights(reference.model), _weights(resumed.model))
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]


def test_time_limit_stops_cleanly_and_resume_finishes(small_digits, tiny_model, tmp_path):
    limited = train(tiny_model(), small_digits, quick(tmp_path, time_limit_s=1e-6))
    assert limited.stop_reason == "time_limit" and limited.steps == 1
    finished = train(tiny_model(), small_digits, quick(tmp_path), resume=True)
    assert finished.steps == 36 and finished.stop_reason == "completed"


def test_load_model_rebuilds_a_pruned_checkpoint(tmp_path):
    """A recipe-reshaped model is not described by its zoo spec; load_model must still work."""
    from cnnopt.recipe import Recipe, apply_recipe, save_applied
    from cnnopt.transforms import Context
    from cnnopt.transforms.prune import PruneConfig

    model = create_model("resnet20", in_channels=1).eval()
    recipe = Recipe([PruneConfig(ratio=0.5)])
    ctx = Context(example_input=torch.randn(1, 1, 16, 16))
    pruned = apply_recipe(model, recipe, ctx, progress=False).eval()
    save_applied(tmp_path, pruned, recipe)
    loaded = load_model(tmp_path)
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(loaded(x), pruned(x))
    assert sum(p.numel() for p in loaded.parameters()) < sum(p.numel() for p in model.parameters())
