"""Does an artifact compute what its torch model computes? Checked after every export.

Float artifacts must match closely (they are the same math in another runtime); int8 ones
differ by design, so for them only the decisions (top-1) are held to a threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.outputs import select_output

# Minimum share of inputs whose top-1 class must agree, by the predictor's precision.
MIN_TOP1 = {"fp32": 0.999, "bf16": 0.95, "fp16": 0.97, "int8": 0.97}
# Max abs logit difference allowed for float, relative to the largest logit magnitude.
FP32_REL_TOL = 1e-3


def check_parity(
    torch_model: nn.Module,
    predictor: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    *,
    min_top1: float | None = None,
    raise_on_fail: bool = False,
) -> dict[str, Any]:
    """{max_abs_diff, mean_abs_diff, top1_agreement, n, precision, passed} for `inputs`.

    `min_top1` defaults to the threshold for the predictor's precision; fp32 also needs the
    logits within FP32_REL_TOL. With `raise_on_fail` a failure is a CnnoptError.
    """
    precision = str(getattr(predictor, "precision", "fp32"))
    threshold = min_top1 if min_top1 is not None else MIN_TOP1.get(precision, MIN_TOP1["int8"])
    was_training = torch_model.training
    torch_model.eval()
    try:
        with torch.no_grad():
            reference = select_output(torch_model(inputs), torch_model).float()
    finally:
        torch_model.train(was_training)
    with torch.no_grad():
        output = torch.as_tensor(predictor(inputs)).detach().float().cpu()
    if output.shape != reference.shape:
        raise CnnoptError(
            f"artifact output shape {tuple(output.shape)} differs from the model's "
            f"{tuple(reference.shape)}",
            "the file does not belong to this model; export it again",
        )
    diff = (output - reference).abs()
    agreement = float((output.argmax(1) == reference.argmax(1)).float().mean())
    max_abs = float(diff.max())
    passed = agreement >= threshold
    if precision == "fp32":
        passed = passed and max_abs <= FP32_REL_TOL * max(1.0, float(reference.abs().max()))
    result = {
        "max_abs_diff": max_abs,
        "mean_abs_diff": float(diff.mean()),
        "top1_agreement": agreement,
        "n": int(inputs.shape[0]),
        "precision": precision,
        "min_top1": threshold,
        "passed": bool(passed),
    }
    if raise_on_fail and not passed:
        raise CnnoptError(
            f"parity check failed for {getattr(predictor, 'runtime', 'the artifact')} "
            f"({precision}): top-1 agreement {agreement:.3f} (need {threshold}), "
            f"max abs diff {max_abs:.3g}",
            "the exported model does not compute what the torch model does; try another "
            "opset, runtime or precision and report the model",
        )
    return result


def parity_inputs(
    example: torch.Tensor, model: nn.Module | None = None, n: int = 64
) -> torch.Tensor:
    """Real images when the model carries calibration data (int8 is judged on data it will
    see), else the example batch plus seeded noise of the same shape."""
    plan = getattr(model, "cnnopt_quant", None) or {}
    data = plan.get("calib_data")
    if data is not None:
        return data.normalize(data.images[:n])
    noise = torch.randn(
        max(0, n - len(example)), *example.shape[1:], generator=torch.Generator().manual_seed(0)
    )
    return torch.cat([example.float(), noise])
