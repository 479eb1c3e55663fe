"""cnnopt: make convolutional neural networks fast while keeping them accurate.

The public API, curated: the verbs (load_model, load_dataset, train, evaluate, apply, lower
and load artifacts, benchmark, optimize) and the nouns they take (every *Config, Recipe,
Context, the lowering and search targets, Constraints, Budget), so `help(cnnopt)` and an IDE
show everything a user needs without knowing the package layout. Like torchao's list of
configs beside `quantize_`, each transform's config is here by name.

Names are re-exported lazily, so `import cnnopt` (and the CLI's start-up) does not pay for
importing torch, ONNX Runtime, OpenVINO or Optuna until they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # errors
    "CnnoptError": "cnnopt.errors",
    # models: the zoo and the one loader
    "create_model": "cnnopt.models",
    "list_models": "cnnopt.models",
    "register_model": "cnnopt.models",
    "load_model": "cnnopt.serialize",
    # data
    "load_dataset": "cnnopt.data",
    "list_datasets": "cnnopt.data",
    "TensorData": "cnnopt.data",
    # training and evaluation
    "train": "cnnopt.training",
    "TrainConfig": "cnnopt.training",
    "evaluate": "cnnopt.evaluation",
    "AttackConfig": "cnnopt.robust",
    # transforms: one verb, one config per technique
    "apply": "cnnopt.recipe",
    "list_transforms": "cnnopt.transforms",
    "Context": "cnnopt.transforms",
    "TransformConfig": "cnnopt.transforms",
    "DistillConfig": "cnnopt.transforms.distill",
    "FuseConfig": "cnnopt.transforms.fuse",
    "LowRankConfig": "cnnopt.transforms.lowrank",
    "PruneConfig": "cnnopt.transforms.prune",
    "QuantizeConfig": "cnnopt.transforms.quantize",
    "RewriteConfig": "cnnopt.transforms.rewrite",
    "SparsifyConfig": "cnnopt.transforms.sparsify",
    # recipes, lowering and saved artifacts
    "Recipe": "cnnopt.recipe",
    "apply_recipe": "cnnopt.recipe",
    "load_applied": "cnnopt.recipe",
    "LoweringTarget": "cnnopt.lowering",
    "build_artifact": "cnnopt.lowering",
    "load": "cnnopt.artifact_dir",
    "list_runtimes": "cnnopt.runtimes",
    # measuring and searching
    "benchmark": "cnnopt.bench",
    "optimize": "cnnopt.search",
    "Budget": "cnnopt.search",
    "Constraints": "cnnopt.search",
    "RobustnessSettings": "cnnopt.search",
    "SearchSpace": "cnnopt.search",
    "Target": "cnnopt.search",
    # models with several outputs
    "OutputSpec": "cnnopt.outputs",
    "set_output": "cnnopt.outputs",
    "select_output": "cnnopt.outputs",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cnnopt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
