"""Every knob of a training run in one dataclass, validated before any work starts.

A typo such as `schedule="cosin"` or `lr=-1` should fail in the first millisecond with a hint,
not after the data is loaded or, worse, silently train a useless model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from cnnopt.errors import CnnoptError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    epochs: float = 10  # fractional epochs allowed: 0.5 trains on half the batches
    batch_size: int = 128
    optimizer: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.1  # peak learning rate (one-cycle reaches it at the end of warm-up)
    momentum: float = 0.9  # SGD momentum; beta1 for adam/adamw
    nesterov: bool = True
    weight_decay: float = 5e-4  # not applied to BN weights and biases (no benefit, hurts)
    schedule: str = "onecycle"  # constant | step | cosine | onecycle
    warmup_epochs: float = 0.0  # linear ramp from ~0; onecycle without it ramps for 25%
    step_size: float = 30  # epochs between decays, for schedule="step"
    gamma: float = 0.1  # decay factor, for schedule="step"
    label_smoothing: float = 0.0
    grad_clip: float | None = None  # max global grad norm; None: no clipping
    precision: str = "fp32"  # fp32 | bf16 (autocast, fast on CPUs with avx512_bf16) | fp16 (CUDA)
    channels_last: bool = False  # NHWC: what oneDNN's fast conv kernels want, esp. with bf16
    # "auto": cnnopt.data.augment.default_augment(dataset name); None: no augmentation; or any
    # callable (normalized batch, torch.Generator) -> batch, e.g. an Augment instance.
    augment: Any = "auto"
    early_stop_patience: int | None = None  # epochs without val-accuracy gain before stopping
    seed: int = 0
    device: str = "cpu"
    checkpoint_dir: str | None = None  # save every epoch here; needed for resume
    time_limit_s: float | None = None  # stop cleanly (and checkpoint) when exceeded
    progress: bool = True
    eval_every: float = 1.0  # epochs between validation passes; the last epoch always evaluates

    def validate(self) -> TrainConfig:
        """Raise CnnoptError naming the bad field and a sane value; returns self for chaining."""
        _positive("epochs", self.epochs, "e.g. epochs=10 (fractions like 0.5 are fine)")
        _whole("batch_size", self.batch_size, "e.g. batch_size=128")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _positive("lr", self.lr, "e.g. lr=0.1 for sgd or lr=1e-3 for adam")
        _in_range("momentum", self.momentum, 0, 1, "e.g. momentum=0.9")
        _in_range("weight_decay", self.weight_decay, 0, 1, "e.g. weight_decay=5e-4")
        _choice("schedule", self.schedule, SCHEDULES)
        _in_range("warmup_epochs", self.warmup_epochs, 0, math.inf, "e.g. warmup_epochs=1")
        if self.warmup_epochs >= self.epochs:
            raise CnnoptError(
                f"warmup_epochs ({self.warmup_epochs}) must be shorter than epochs ({self.epochs})",
                "use a warm-up of about 5-25% of the run",
            )
        _positive("step_size", self.step_size, "e.g. step_size=30 (epochs between decays)")
        _in_range("gamma", self.gamma, 0, 1, "e.g. gamma=0.1")
        _in_range("label_smoothing", self.label_smoothing, 0, 0.99, "e.g. label_smoothing=0.1")
        if self.grad_clip is not None:
            _positive("grad_clip", self.grad_clip, "e.g. grad_clip=5, or None for no clipping")
        _choice("precision", self.precision, PRECISIONS)
        if self.precision == "fp16" and not self.device.startswith("cuda"):
            raise CnnoptError(
                "fp16 training needs a CUDA device",
                "use precision='bf16' on CPU (autocast) or 'fp32'",
            )
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise CnnoptError(f"unknown device {self.device!r}", "use 'cpu' or 'cuda[:N]'")
        if self.augment is not None and not (self.augment == "auto" or callable(self.augment)):
            raise CnnoptError(
                f"augment must be 'auto', None or a callable, got {self.augment!r}",
                "pass cnnopt.data.augment.Augment(...) or 'auto'",
            )
        if self.early_stop_patience is not None:
            _whole("early_stop_patience", self.early_stop_patience, "e.g. 3, or None to disable")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise CnnoptError(f"seed must be a whole number >= 0, got {self.seed!r}", "e.g. 0")
        if self.time_limit_s is not None:
            _positive("time_limit_s", self.time_limit_s, "e.g. time_limit_s=300, or None")
        _positive("eval_every", self.eval_every, "e.g. eval_every=1 (epochs)")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: a callable augmentation is written as its repr (it cannot round-trip)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if dataclasses.is_dataclass(self.augment):
            data["augment"] = {
                "type": type(self.augment).__name__,
                **dataclasses.asdict(self.augment),
            }
        elif callable(self.augment):
            data["augment"] = repr(self.augment)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CnnoptError(
                f"unknown training option(s): {', '.join(unknown)}",
                f"known options: {', '.join(sorted(known))}",
            )
        return cls(**data).validate()


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise CnnoptError(f"{name} must be a number, got {value!r}", f"set {name} to a number")
    return float(value)


def _positive(name: str, value: Any, hint: str) -> None:
    number = _number(name, value)
    if not 0 < number < math.inf:
        raise CnnoptError(f"{name} must be > 0, got {value!r}", hint)


def _in_range(name: str, value: Any, low: float, high: float, hint: str) -> None:
    number = _number(name, value)
    if not low <= number <= high:
        raise CnnoptError(f"{name} must be between {low} and {high}, got {value!r}", hint)


def _whole(name: str, value: Any, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CnnoptError(f"{name} must be a whole number >= 1, got {value!r}", hint)


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise CnnoptError(f"unknown {name} {value!r}", f"choose one of: {', '.join(options)}")
