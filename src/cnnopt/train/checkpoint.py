"""Checkpoints: the format and its loaders moved to cnnopt.serialize; these names stay for
code that imported them from here."""

from __future__ import annotations

import os

from torch import nn

from cnnopt.serialize import load_model as _load_model
from cnnopt.serialize.checkpoint import (
    BEST_WEIGHTS,
    STATE,
    TRAINER_STATE,
    WEIGHTS,
    load_checkpoint,
    load_weights,
    read_state,
    save_checkpoint,
    save_weights,
)

__all__ = [
    "BEST_WEIGHTS",
    "STATE",
    "TRAINER_STATE",
    "WEIGHTS",
    "load_checkpoint",
    "load_model",
    "load_weights",
    "read_state",
    "save_checkpoint",
    "save_weights",
]


def load_model(path: str | os.PathLike, which: str = "best") -> nn.Module:
    """Deprecated: `cnnopt.load_model(path)` (a checkpoint directory or its .safetensors)."""
    return _load_model(path, which=which)
