"""The non-convolution layers of a CNN: fully connected, ReLU, batch norm, softmax.

Batch norm at inference is an affine map per channel, so it can be folded into the preceding
convolution's weights and bias (`fold_batchnorm`): the engine does that at export and pays
nothing for BN at run time.
"""

from __future__ import annotations

import numpy as np

from cnnopt.errors import CnnoptError
from cnnopt.kernels._common import as_float_array


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """torch.nn.functional.linear: x (N, in) @ weight (out, in)^T + bias."""
    x = as_float_array(x, "input", 2)
    weight = np.asarray(weight, dtype=x.dtype)
    if weight.ndim != 2 or weight.shape[1] != x.shape[1]:
        raise CnnoptError(
            f"linear layer expects {weight.shape[-1]} input features, got {x.shape[1]}",
            "flatten the input to (N, features) and check the layer sizes",
        )
    out = x @ weight.T
    if bias is not None:
        out += np.asarray(bias, dtype=x.dtype)
    return out


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, dtype=np.asarray(x).dtype)


def relu_(x: np.ndarray) -> np.ndarray:
    """In place: the engine owns its activations, so it saves an allocation per layer."""
    return np.maximum(x, 0, out=x)


def batchnorm2d(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float = 1e-5,
) -> np.ndarray:
    """Inference-mode batch norm with running statistics, per channel of an NCHW batch."""
    x = as_float_array(x, "input", 4)
    scale, shift = _bn_affine(gamma, beta, mean, var, eps)
    if scale.shape != (x.shape[1],):
        raise CnnoptError(
            f"batch norm has {scale.shape[0]} channels, input has {x.shape[1]}",
            "the statistics do not belong to this layer",
        )
    return x * scale.astype(x.dtype).reshape(1, -1, 1, 1) + shift.astype(x.dtype).reshape(
        1, -1, 1, 1
    )


def fold_batchnorm(
    weight: np.ndarray,
    bias: np.ndarray | None,
    gamma: np.ndarray,
    beta: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray]:
    """Conv followed by BN == one conv with w' = w * s and b' = (b - mean) * s + beta,
    where s = gamma / sqrt(var + eps). Computed in float64, returned in the weight's dtype."""
    scale, shift = _bn_affine(gamma, beta, mean, var, eps)
    if scale.shape[0] != weight.shape[0]:
        raise CnnoptError(
            f"batch norm has {scale.shape[0]} channels, the conv has {weight.shape[0]} filters",
            "fold a batch norm only into the conv that feeds it",
        )
    w64 = np.asarray(weight, dtype=np.float64)
    b64 = np.zeros(weight.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
    new_w = w64 * scale.reshape(-1, *([1] * (w64.ndim - 1)))
    new_b = b64 * scale + shift
    dtype = np.asarray(weight).dtype
    return new_w.astype(dtype), new_b.astype(dtype)


def _bn_affine(gamma, beta, mean, var, eps: float) -> tuple[np.ndarray, np.ndarray]:
    if eps < 0 or np.any(np.asarray(var) < 0):
        raise CnnoptError("batch norm variance and eps must be >= 0", "check the statistics")
    scale = np.asarray(gamma, dtype=np.float64) / np.sqrt(np.asarray(var, dtype=np.float64) + eps)
    shift = np.asarray(beta, dtype=np.float64) - np.asarray(mean, dtype=np.float64) * scale
    return scale, shift


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable: subtracting the max keeps exp() from overflowing on large logits."""
    x = np.asarray(x)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def flatten(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, C*H*W), like torch.flatten(x, 1)."""
    return np.asarray(x).reshape(x.shape[0], -1)
