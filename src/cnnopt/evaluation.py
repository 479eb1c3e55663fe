"""Accuracy of a model or of any batch -> logits callable (so every runtime is judged alike).

All metrics come from one confusion matrix accumulated with torch, so precision, recall, F1
and accuracy can never disagree with each other, and no sklearn is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from cnnopt.bench.forward import check_input_channels, checked_forward
from cnnopt.bench.progress import progress_bar
from cnnopt.data.base import TensorData
from cnnopt.data.loader import iterate_batches, num_batches
from cnnopt.errors import CnnoptError
from cnnopt.outputs import OutputSpec, select_output
from cnnopt.record import Record

TOP5_MIN_CLASSES = 6  # top-5 of five classes or fewer is always 100%: not worth reporting


@dataclass
class EvalResult:
    accuracy: float  # top-1, fraction in 0..1
    top5: float | None  # only when there are more than 5 classes
    per_class: dict[str, dict[str, float]]  # class -> precision, recall, f1, support
    macro_precision: float
    macro_recall: float
    macro_f1: float
    confusion: list[list[int]]  # confusion[true][predicted]
    num_samples: int
    classes: list[str]
    # per image, in dataset order: was the top-1 prediction right? (compare two models image
    # by image: cnnopt.stats.paired_difference); not part of to_dict
    correct: list[bool] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("correct")
        return data

    def interval(self) -> tuple[float, float]:
        """95% Wilson interval of the accuracy: how much it could move on other images."""
        from cnnopt.stats import wilson_interval

        return wilson_interval(round(self.accuracy * self.num_samples), self.num_samples)

    def record_fields(self) -> dict[str, Any]:
        """Keyword arguments for `Record(...)`: the quality fields every record carries."""
        return {"accuracy": self.accuracy, "top5": self.top5, "per_class": self.per_class}

    def fill_record(self, record: Record) -> Record:
        """Copy the quality fields into `record`; macro scores and samples go to its extra."""
        for key, value in self.record_fields().items():
            setattr(record, key, value)
        record.extra.update(
            macro_precision=self.macro_precision,
            macro_recall=self.macro_recall,
            macro_f1=self.macro_f1,
            num_samples=self.num_samples,
        )
        return record


def metrics_from_confusion(
    confusion: torch.Tensor, classes: list[str], top5_correct: int | None = None
) -> EvalResult:
    """Precision/recall/F1 per class and macro averages from confusion[true][predicted].

    A class never predicted has precision 0 (not NaN), a class absent from the labels has
    recall 0; macro averages are over all classes, as sklearn's zero_division=0 does.
    """
    confusion = confusion.to(torch.int64)
    true_pos = confusion.diag().double()
    predicted = confusion.sum(dim=0).double()
    support = confusion.sum(dim=1).double()
    precision = torch.where(predicted > 0, true_pos / predicted.clamp_min(1), 0.0)
    recall = torch.where(support > 0, true_pos / support.clamp_min(1), 0.0)
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp_min(1e-300), 0.0)
    total = int(confusion.sum())
    names = _unique_names(classes, confusion.shape[0])
    return EvalResult(
        accuracy=float(true_pos.sum() / max(total, 1)),
        top5=None if top5_correct is None else top5_correct / max(total, 1),
        per_class={
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(names)
        },
        macro_precision=float(precision.mean()),
        macro_recall=float(recall.mean()),
        macro_f1=float(f1.mean()),
        confusion=confusion.tolist(),
        num_samples=total,
        classes=names,
    )


def _unique_names(classes: list[str], n: int) -> list[str]:
    names = [str(c) for c in classes[:n]] + [str(i) for i in range(len(classes), n)]
    if len(set(names)) != len(names):  # duplicate class names would collapse in a dict
        names = [f"{i}:{name}" for i, name in enumerate(names)]
    return names


def _logits(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, tta_flip: bool) -> torch.Tensor:
    logits = checked_forward(fn, x)
    if tta_flip:  # horizontal flip test-time augmentation: mean of the two logit vectors
        logits = (logits + checked_forward(fn, x.flip(-1))) / 2
    return logits


def evaluate(
    model_or_predictor: nn.Module | Callable[[torch.Tensor], Any],
    data: TensorData,
    batch_size: int = 256,
    tta_flip: bool = False,
    progress: bool = False,
    output: int | str | None = None,
) -> EvalResult:
    """Top-1 (and top-5 for > 5 classes), per-class P/R/F1 and the confusion matrix.

    An nn.Module runs in eval mode under no_grad and gets its previous mode back afterwards;
    anything else is called as `fn(batch) -> logits` (a Predictor from any runtime).
    `output` picks the prediction of a model returning a tuple/dict (default: the choice
    recorded on the model by `set_output`, else the first tensor / the "logits" key).
    """
    if batch_size < 1:
        raise CnnoptError(f"batch size must be >= 1, got {batch_size}", "use e.g. 256")
    num_classes = data.num_classes
    if data.labels.min() < 0 or data.labels.max() >= num_classes:
        raise CnnoptError(
            f"dataset {data.name!r} has labels outside 0..{num_classes - 1}",
            "the labels do not match the class list; check the dataset files",
        )
    check_input_channels(model_or_predictor, data.input_shape)
    module = model_or_predictor if isinstance(model_or_predictor, nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    fn = model_or_predictor
    if output is not None:
        spec = OutputSpec.parse(output)
        fn = lambda x: select_output(model_or_predictor(x), spec)  # noqa: E731
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    top5 = 0 if num_classes >= TOP5_MIN_CLASSES else None
    correct: list[torch.Tensor] = []
    bar = progress_bar(progress, num_batches(data, batch_size), "evaluating")
    try:
        with torch.no_grad(), bar as advance:
            for images, labels in iterate_batches(data, batch_size):
                logits = _logits(fn, images, tta_flip)
                if logits.shape[1] != num_classes:
                    raise CnnoptError(
                        f"the model outputs {logits.shape[1]} classes but dataset "
                        f"{data.name!r} has {num_classes}",
                        f"build or train the model with num_classes={num_classes}",
                    )
                predicted = logits.argmax(dim=1)
                correct.append(predicted == labels)
                confusion += torch.bincount(
                    labels * num_classes + predicted, minlength=num_classes * num_classes
                ).view(num_classes, num_classes)
                if top5 is not None:
                    best5 = logits.topk(5, dim=1).indices
                    top5 += int((best5 == labels.unsqueeze(1)).any(dim=1).sum())
                advance()
    finally:
        if module is not None:
            module.train(was_training)
    result = metrics_from_confusion(confusion, data.classes, top5)
    result.correct = torch.cat(correct).tolist() if correct else []
    return result
