"""Knowledge distillation: fine-tune the compressed student against the original teacher.

The teacher's softened probabilities (temperature T) say which wrong classes are *almost*
right, which carries far more information per image than a hard label; that is why a short
distillation recovers most of what pruning, low-rank or QAT took away (Hinton et al. 2015).
In a recipe the teacher is the model before the first step, unless the context names one.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.transforms.base import Context, TransformConfig, register_transform
from cnnopt.transforms.finetune import finetune


@dataclass
class DistillConfig(TransformConfig):
    name = "distill"

    epochs: float = 2.0  # a compressed student starts close: a few epochs recover most accuracy
    temperature: float = 4.0  # 2-5 is usual: softer targets expose the teacher's dark knowledge
    soft_weight: float = 1.0  # loss = hard cross-entropy + soft_weight * T^2 * KL(teacher||student)
    lr: float = 0.01  # fine-tuning lr, well below a from-scratch lr

    def validate(self) -> None:
        if not self.epochs > 0:
            raise CnnoptError(f"distill epochs must be > 0, got {self.epochs}", "e.g. 2")
        if not self.temperature > 0:
            raise CnnoptError(f"temperature must be > 0, got {self.temperature}", "e.g. 4")
        if self.soft_weight < 0:
            raise CnnoptError(f"soft_weight must be >= 0, got {self.soft_weight}", "e.g. 1.0")
        if not self.lr > 0:
            raise CnnoptError(f"distill lr must be > 0, got {self.lr}", "e.g. 0.01")


@register_transform(DistillConfig)
def distill(model: nn.Module, config: DistillConfig, ctx: Context) -> nn.Module:
    ctx.require("teacher", "distill")
    ctx.require("train_data", "distill")
    ctx.notes.append(
        f"distill: {config.epochs:g} epoch(s) against the teacher at temperature "
        f"{config.temperature:g}"
    )
    return finetune(
        model,
        ctx,
        config.epochs,
        transform="distill",
        lr=config.lr,
        temperature=config.temperature,
        soft_weight=config.soft_weight,
        distill=True,
    )
