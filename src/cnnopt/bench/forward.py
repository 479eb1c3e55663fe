"""Run a model once on a probe batch and turn shape errors into one clear CnnoptError line.

A wrong `--input` (3 channels into a grayscale net, 8x8 into a net that pools to 1x1 five
times) otherwise surfaces as a deep PyTorch/ONNX Runtime traceback about some inner layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from cnnopt.errors import CnnoptError
from cnnopt.models.fit import check_runs_on, first_conv_in_channels
from cnnopt.outputs import select_output

# Whether a model runs on an input shape is answered by a forward pass (cnnopt.models.fit).
check_input_channels = check_runs_on
__all__ = ["check_input_channels", "checked_forward", "first_conv_in_channels"]


def checked_forward(fn: Callable[[torch.Tensor], Any], x: torch.Tensor) -> torch.Tensor:
    """`fn(x)` as a float tensor; a failure caused by the input becomes a CnnoptError."""
    try:
        with torch.inference_mode():
            out = fn(x)
    except CnnoptError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        shape = "x".join(str(d) for d in x.shape)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CnnoptError(
            f"the model failed on an input batch of shape {shape}: {detail[:300]}",
            "check that the input shape (channels, height, width) matches what the model was "
            "built for, e.g. --input 1x28x28 for a grayscale 28x28 model",
        ) from None
    out = select_output(out, fn)  # (logits, features), {"logits": ...}: see cnnopt.outputs
    if out.ndim != 2 or out.shape[0] != x.shape[0]:
        raise CnnoptError(
            f"the model returned shape {tuple(out.shape)} for a batch of {x.shape[0]}; expected "
            "(batch, classes) logits",
            "make the model end in a classifier that outputs one row of logits per image",
        )
    return out.float()
