"""Attacks stay inside the eps-ball and the image range, and actually hurt a trained model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from torch import nn

from cnnopt.data.base import TensorData
from cnnopt.errors import CnnoptError
from cnnopt.robust import AdversarialTraining, AttackConfig, attack, evaluate_robustness

MEAN, STD = (0.3,), (0.4,)


def digits() -> TensorData:
    bunch = load_digits()
    images = torch.tensor(bunch.images * (255 / 16), dtype=torch.uint8).unsqueeze(1)
    return TensorData(images, torch.tensor(bunch.target), [str(i) for i in range(10)], MEAN, STD)


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 64, 10)
    )


def fit(model: nn.Module, data: TensorData, epochs: int = 6, adversary=None) -> nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x_all, y_all = data.tensors()
    for _ in range(epochs):
        for i in range(0, len(x_all), 64):
            x, y = x_all[i : i + 64], y_all[i : i + 64]
            if adversary is not None:
                x, y = adversary(model, x, y)
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained():
    data = digits()
    return fit(small_cnn(), data.subset(slice(0, 1400))), data.subset(slice(1400, None))


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    return x * STD[0] + MEAN[0]


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(["fgsm", "pgd"]), eps=st.floats(0.01, 0.5), steps=st.integers(1, 4))
def test_adversarial_examples_stay_in_the_ball_and_image_range(kind, eps, steps):
    torch.manual_seed(1)
    model = small_cnn().eval()
    x = (torch.rand(8, 1, 8, 8) - MEAN[0]) / STD[0]
    y = torch.randint(0, 10, (8,))
    x_adv = attack(model, x, y, AttackConfig(kind, eps, steps=steps), MEAN, STD)
    delta = (to_pixels(x_adv) - to_pixels(x)).abs().max()
    assert delta <= eps + 1e-5
    pixels = to_pixels(x_adv)
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5


def test_pgd_hurts_more_than_fgsm_and_both_hurt(trained):
    model, test = trained
    result = evaluate_robustness(
        model, test, [AttackConfig("fgsm", 0.1), AttackConfig("pgd", 0.1, steps=10)], limit=300
    )
    assert result["mode"] == "white-box" and result["samples"] == 300
    assert result["clean"] > 0.85
    assert result["fgsm"] < result["clean"] - 0.1
    assert result["pgd"] <= result["fgsm"]


def test_transfer_attack_on_a_gradient_free_artifact(trained):
    model, test = trained

    def artifact(x: torch.Tensor) -> torch.Tensor:  # e.g. an ONNX Runtime predictor
        with torch.no_grad():
            return model(x).numpy()

    with pytest.raises(CnnoptError, match="transfer attack"):
        evaluate_robustness(artifact, test, limit=50)
    result = evaluate_robustness(artifact, test, source=model, limit=200)
    assert result["mode"] == "transfer"
    assert result["pgd"] < result["clean"]


def test_adversarial_training_buys_robustness(trained):
    plain, test = trained
    data = digits().subset(slice(0, 1400))
    adversary = AdversarialTraining(MEAN, STD, method="fgsm_rs", eps=0.2)
    robust = fit(small_cnn(), data, epochs=6, adversary=adversary)
    attacks = [AttackConfig("pgd", 0.2, steps=7)]
    before = evaluate_robustness(plain, test, attacks, limit=300)
    after = evaluate_robustness(robust, test, attacks, limit=300)
    assert after["pgd"] > before["pgd"] + 0.1
    assert after["clean"] > 0.7


def test_bad_attack_settings_are_clear_errors():
    x, y = torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)
    for config, message in [
        (AttackConfig("cw", 0.1), "unknown attack"),
        (AttackConfig("pgd", 0.0), "eps must be"),
        (AttackConfig("pgd", 0.1, steps=0), "steps must be"),
    ]:
        with pytest.raises(CnnoptError, match=message):
            attack(small_cnn(), x, y, config, MEAN, STD)
    with pytest.raises(CnnoptError, match="channel statistics"):
        attack(small_cnn(), x, y, AttackConfig(), (0.1, 0.2, 0.3), (1, 1, 1))
    with pytest.raises(CnnoptError, match="unknown adversarial training"):
        AdversarialTraining(MEAN, STD, method="trades")
