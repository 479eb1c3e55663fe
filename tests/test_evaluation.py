"""evaluate(): exact metrics on models whose predictions the test controls."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from torch import nn

from cnnopt.data.base import TensorData
from cnnopt.errors import CnnoptError
from cnnopt.evaluation import evaluate, metrics_from_confusion
from cnnopt.record import Record


def logit_data(logits: torch.Tensor, labels: list[int]) -> TensorData:
    """Images that *are* the logits (N, 1, 1, K): float input with mean 0/std 1 is unchanged."""
    k = logits.shape[1]
    return TensorData(
        images=logits.float().view(len(logits), 1, 1, k),
        labels=torch.tensor(labels),
        classes=[f"c{i}" for i in range(k)],
        mean=(0.0,),
        std=(1.0,),
        name="logits",
    )


def one_hot_rows(predictions: list[int], k: int) -> torch.Tensor:
    return nn.functional.one_hot(torch.tensor(predictions), k).float()


def test_known_predictions_give_exact_metrics() -> None:
    labels = [0, 0, 1, 1, 2, 2]
    predictions = [0, 1, 1, 1, 2, 0]
    result = evaluate(nn.Flatten(), logit_data(one_hot_rows(predictions, 3), labels), batch_size=4)
    assert result.confusion == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.num_samples == 6
    assert result.top5 is None
    expected = {
        "c0": (1 / 2, 1 / 2, 1 / 2),
        "c1": (2 / 3, 1.0, 0.8),
        "c2": (1.0, 1 / 2, 2 / 3),
    }
    for name, (precision, recall, f1) in expected.items():
        metrics = result.per_class[name]
        assert metrics["precision"] == pytest.approx(precision)
        assert metrics["recall"] == pytest.approx(recall)
        assert metrics["f1"] == pytest.approx(f1)
        assert metrics["support"] == 2
    assert result.macro_precision == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert result.macro_f1 == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    json.dumps(result.to_dict())  # plain JSON types only


@settings(max_examples=25, deadline=None)
@given(
    st.integers(2, 7).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1),
        )
    )
)
def test_metrics_match_sklearn(case: tuple[int, list[tuple[int, int]]]) -> None:
    k, pairs = case
    labels = [a for a, _ in pairs]
    predictions = [b for _, b in pairs]
    confusion = torch.tensor(confusion_matrix(labels, predictions, labels=list(range(k))))
    result = metrics_from_confusion(confusion, [str(i) for i in range(k)])
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=list(range(k)), zero_division=0
    )
    for i in range(k):
        assert result.per_class[str(i)]["precision"] == pytest.approx(precision[i])
        assert result.per_class[str(i)]["recall"] == pytest.approx(recall[i])
        assert result.per_class[str(i)]["f1"] == pytest.approx(f1[i])
        assert result.per_class[str(i)]["support"] == support[i]
    assert result.macro_f1 == pytest.approx(f1.mean())


def test_top5_only_above_five_classes() -> None:
    five = evaluate(nn.Flatten(), logit_data(torch.randn(8, 5), [0] * 8))
    assert five.top5 is None
    # scores rank class k-1 highest, so label 0 is last (out of top-5) and label 5 is 2nd
    scores = torch.arange(7.0).repeat(4, 1)  # 7 classes
    result = evaluate(nn.Flatten(), logit_data(scores, [6, 5, 2, 0]))
    assert result.accuracy == pytest.approx(1 / 4)
    assert result.top5 == pytest.approx(3 / 4)  # 6, 5, 2 are in the top five; 0 is not


def test_tta_flip_averages_logits() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 4))
    images = torch.randn(64, 1, 2, 3)
    with torch.no_grad():
        plain = model(images)
        averaged = (plain + model(images.flip(-1))) / 2
    assert (plain.argmax(1) != averaged.argmax(1)).any(), "precondition: flipping matters"
    data = TensorData(images, averaged.argmax(1), list("abcd"), (0.0,), (1.0,))
    assert evaluate(model, data, tta_flip=True).accuracy == 1.0
    assert evaluate(model, data).accuracy == pytest.approx(
        float((plain.argmax(1) == averaged.argmax(1)).float().mean())
    )


@pytest.mark.parametrize("training", [True, False])
def test_restores_mode_and_uses_eval(training: bool) -> None:
    seen: list[bool] = []

    class Probe(nn.Flatten):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(self.training or torch.is_grad_enabled())
            return super().forward(x)

    model = Probe().train(training)
    evaluate(model, logit_data(torch.eye(3), [0, 1, 2]))
    assert model.training is training
    assert seen and not any(seen)


def test_callable_predictor_matches_module() -> None:
    data = logit_data(torch.randn(20, 6), [i % 6 for i in range(20)])
    from_module = evaluate(nn.Flatten(), data, batch_size=7)
    from_callable = evaluate(lambda x: x.flatten(1).numpy(), data, batch_size=3)
    assert from_callable.to_dict() == from_module.to_dict()


def test_record_fields_fill_a_record() -> None:
    result = evaluate(nn.Flatten(), logit_data(one_hot_rows([0, 1], 2), [0, 0]))
    record = Record(**result.record_fields())
    assert record.accuracy == 0.5 and record.per_class["c1"]["precision"] == 0.0
    result.fill_record(record)
    assert record.extra["num_samples"] == 2 and "macro_f1" in record.extra


def test_class_count_mismatch_is_a_clear_error() -> None:
    data = logit_data(torch.randn(4, 3), [0, 1, 2, 0])
    with pytest.raises(CnnoptError, match="outputs 2 classes"):
        evaluate(lambda x: x.flatten(1)[:, :2], data)


def test_channel_mismatch_is_a_clear_error() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    data = TensorData(
        torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(2), ["a"], (0.5,), (0.5,)
    )
    with pytest.raises(CnnoptError, match="3-channel"):
        evaluate(model, data)


def test_wrong_input_size_becomes_cnnopt_error() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(10, 3))
    with pytest.raises(CnnoptError, match="failed on an input batch"):
        evaluate(model, logit_data(torch.randn(4, 3), [0, 1, 2, 0]))
