"""Model zoo: `create_model('resnet20', num_classes=10)`, `list_models('res*')`.

Every module in this package is imported here automatically, so adding a model family is
adding one file with `@register_model` factories; nobody edits this file for it.
"""

from __future__ import annotations

import importlib
import pkgutil

from cnnopt.models.registry import (
    MODELS,
    create_model,
    list_models,
    model_spec,
    register_model,
)
from cnnopt.models.resolve import model_from_spec, resolve_model

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_info.name}")
del _info

__all__ = [
    "MODELS",
    "create_model",
    "list_models",
    "model_from_spec",
    "model_spec",
    "register_model",
    "resolve_model",
]
