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
    "load_dataset": "cnnopt.data",
    "list_datasets": "cnnopt.data",
    "TensorData": "cnnopt.data",
    "benchmark": "cnnopt.bench",
    "apply": "cnnopt.transforms",
    "Context": "cnnopt.transforms",
    "Recipe": "cnnopt.recipe",
    "apply_recipe": "cnnopt.recipe",
    "optimize": "cnnopt.search",
}

# `train` and `evaluate` share their names with the modules that define them: import them
# eagerly so `cnnopt.train` is always the function, whichever submodule was imported first.
from cnnopt.evaluate import evaluate  # noqa: E402
from cnnopt.train import TrainConfig, train  # noqa: E402

__all__ = ["TrainConfig", "__version__", "evaluate", "train", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cnnopt' has no attribute {name!r}")
