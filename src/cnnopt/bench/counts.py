"""Static cost of a model: parameters, multiply-accumulates and bytes on disk."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnopt.errors import CnnoptError


def count_params(model: nn.Module) -> int:
    """Trainable and frozen parameters alike (buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, example: torch.Tensor | Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass on `example`: a tensor (its whole batch), or
    a C x H x W shape for one image (a zero image is made on the model's device).

    One function for both because callers hold one or the other and the meaning is the same.
    Counted by `torch.utils.flop_counter.FlopCounterMode`, which knows matrix ops only:
    convolution, linear/addmm, mm, bmm, baddbmm and attention. Elementwise work (ReLU, BN in
    eval mode, residual adds, pooling) and bias additions are not counted; that is the usual
    convention for "MACs" in papers. MACs = FLOPs / 2, since it counts a multiply-add as 2.
    Quantized kernels (quantized::conv2d) are unknown to the counter and count as 0. The model
    is counted in eval mode (no BN statistics update) and left in the mode it was in.
    """
    if not isinstance(example, torch.Tensor):
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        example = torch.zeros(1, *example, device=device)
    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), counter:
            model(example)
    except RuntimeError as exc:
        shape = "x".join(map(str, example.shape[1:]))
        raise CnnoptError(
            f"model does not run on input {shape}: {exc}",
            "check the input channels and use a larger image size",
        ) from None
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def _tensor_bytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of the model's state dict serialized as safetensors (weights as they ship).

    Tied weights are stored once. When safetensors cannot hold a tensor (quantized dtypes,
    packed parameters), the raw tensor bytes are summed instead, which is what such an
    artifact costs give or take its small header.
    """
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for name, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            continue
        key = (value.untyped_storage().data_ptr(), value.storage_offset())
        if value.numel() and key in seen:
            continue
        seen.add(key)
        tensors[name] = value.detach()
    try:
        return len(save({k: v.contiguous().clone() for k, v in tensors.items()}))
    except (TypeError, ValueError, RuntimeError):
        return sum(_tensor_bytes(v) for v in tensors.values())


def artifact_bytes(path: str | os.PathLike) -> int | None:
    """Size of a runtime's artifact: a file, or a directory's files (e.g. OpenVINO xml + bin)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return None


def serialized_size(model_or_predictor: Any) -> int | None:
    """Bytes on disk: the artifact file for a Predictor that has one, else safetensors size."""
    artifact = getattr(model_or_predictor, "artifact_path", None)
    if artifact:
        size = artifact_bytes(artifact)
        if size is not None:
            if Path(artifact).suffix == ".xml":  # OpenVINO keeps weights in the .bin beside it
                weights = Path(artifact).with_suffix(".bin")
                size += weights.stat().st_size if weights.is_file() else 0
            return size
    if isinstance(model_or_predictor, nn.Module):
        return state_dict_bytes(model_or_predictor)
    return None
