"""Parameter and MAC counts for the model table, without running real arithmetic.

MACs come from torch's FlopCounterMode (MACs = FLOPs / 2: convs and matmuls, the work that
dominates a CNN; BN, ReLU and pooling are not counted, as in most papers). The model is
built on the meta device, so counting VGG-16 at 224x224 takes milliseconds and no memory.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnopt.errors import CnnoptError
from cnnopt.models.registry import create_model, factory_summary, get_factory


def count_parameters(model: nn.Module) -> int:
    """Learnable parameters (buffers such as BN running stats are not parameters)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass on a single C x H x W image."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    example = torch.zeros(1, *input_shape, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example)
    except RuntimeError as exc:
        raise CnnoptError(
            f"model does not run on input {'x'.join(map(str, input_shape))}: {exc}",
            "check the input channels and use a larger image size",
        ) from None
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def describe_model(
    name: str, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10
) -> dict[str, Any]:
    """Name, one-line description, params and MACs of a registered model at an input size."""
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, in_channels=input_shape[0])
    return {
        "name": name,
        "description": factory_summary(get_factory(name)),
        "params": count_parameters(model),
        "macs": count_macs(model, input_shape),
        "input": list(input_shape),
        "num_classes": num_classes,
    }
