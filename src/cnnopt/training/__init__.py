"""Training: `train(model, data, TrainConfig(...))`, optimizers/schedules and flip-TTA.

The package is `cnnopt.training` so that `cnnopt.train` can be the plain function (a package
of that name would replace it the moment anything imported one of its modules). Checkpoints
are written and read by cnnopt.serialize, the one on-disk format.
"""

from cnnopt.training.config import TrainConfig
from cnnopt.training.optim import build_optimizer, build_scheduler, lr_factor
from cnnopt.training.trainer import TrainResult, train
from cnnopt.training.tta import evaluate_accuracy, predict_with_flip

__all__ = [
    "TrainConfig",
    "TrainResult",
    "build_optimizer",
    "build_scheduler",
    "evaluate_accuracy",
    "lr_factor",
    "predict_with_flip",
    "train",
]
