"""Parameter and MAC counts for the model table, without running real arithmetic.

MACs come from torch's FlopCounterMode (MACs = FLOPs / 2: convs and matmuls, the work that
dominates a CNN; BN, ReLU and pooling are not counted, as in most papers). The model is
built on the meta device, so counting VGG-16 at 224x224 takes milliseconds and no memory.
"""

from __future__ import annotations

from typing import Any

import torch

from cnnopt.bench.counts import count_macs, count_params
from cnnopt.models.registry import create_model, factory_summary, get_factory


def describe_model(
    name: str, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10
) -> dict[str, Any]:
    """Name, one-line description, params and MACs of a registered model at an input size."""
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, in_channels=input_shape[0])
    return {
        "name": name,
        "description": factory_summary(get_factory(name)),
        "params": count_params(model),
        "macs": count_macs(model, input_shape),
        "input": list(input_shape),
        "num_classes": num_classes,
    }
