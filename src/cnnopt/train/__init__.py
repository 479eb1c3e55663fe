"""Training: `train(model, data, TrainConfig(...))`, checkpoints, and flip-TTA evaluation."""

import sys
import types
from typing import Any

from cnnopt.train.checkpoint import load_checkpoint, load_model, save_checkpoint
from cnnopt.train.config import TrainConfig
from cnnopt.train.optim import build_optimizer, build_scheduler, lr_factor
from cnnopt.train.trainer import TrainResult, train
from cnnopt.train.tta import evaluate_accuracy, predict_with_flip

__all__ = [
    "TrainConfig",
    "TrainResult",
    "build_optimizer",
    "build_scheduler",
    "evaluate_accuracy",
    "load_checkpoint",
    "load_model",
    "lr_factor",
    "predict_with_flip",
    "save_checkpoint",
    "train",
]


class _CallableModule(types.ModuleType):
    """`cnnopt.train` is both this package and the function users call: make it callable, so
    `cnnopt.train(model, data, config)` and `import cnnopt.train as t` both work."""

    def __call__(self, *args: Any, **kwargs: Any) -> TrainResult:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
