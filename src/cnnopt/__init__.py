"""cnnopt: make convolutional neural networks fast while keeping them accurate.

The public API is re-exported here lazily, so `import cnnopt` (and the CLI's start-up) does not
pay for importing ONNX Runtime, OpenVINO or Optuna until they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "CnnoptError": "cnnopt.errors",
    "create_model": "cnnopt.models",
    "list_models": "cnnopt.models",
    "register_model": "cnnopt.models",
    "load_model": "cnnopt.serialize",
    "load_dataset": "cnnopt.data",
    "list_datasets": "cnnopt.data",
    "TensorData": "cnnopt.data",
    "benchmark": "cnnopt.bench",
    "train": "cnnopt.training",
    "TrainConfig": "cnnopt.training",
    "evaluate": "cnnopt.evaluation",
    "apply": "cnnopt.transforms",
    "Context": "cnnopt.transforms",
    "Recipe": "cnnopt.recipe",
    "apply_recipe": "cnnopt.recipe",
    "load_applied": "cnnopt.recipe",
    "build_artifact": "cnnopt.lowering",
    "LoweringTarget": "cnnopt.lowering",
    "optimize": "cnnopt.search",
    "OutputSpec": "cnnopt.outputs",
    "set_output": "cnnopt.outputs",
    "select_output": "cnnopt.outputs",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cnnopt' has no attribute {name!r}")
