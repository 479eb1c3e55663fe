"""Turn whatever the user passed as `--model` into an nn.Module.

One entry point for registry names, user files ('net.py:build') and ready modules, plus the
inverse of `model_spec`, so training, checkpoints and the CLI never branch on the kind.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.models.registry import attach_spec, check_model_args, create_model
from cnnopt.models.user import is_file_spec, load_user_model


def resolve_model(
    spec: nn.Module | str,
    num_classes: int = 10,
    in_channels: int = 3,
    width: float = 1.0,
    **kwargs: Any,
) -> nn.Module:
    """A module as is, a registry name via create_model, or 'path/file.py:factory'."""
    if isinstance(spec, nn.Module):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise CnnoptError(
            f"model must be a name, 'file.py:factory' or an nn.Module, got {spec!r}",
            "see `cnnopt models` for the built-in names",
        )
    spec = spec.strip()
    if not is_file_spec(spec):
        return create_model(spec, num_classes, in_channels, width, **kwargs)
    check_model_args(num_classes, in_channels, width)
    args = {"num_classes": num_classes, "in_channels": in_channels, "width": width, **kwargs}
    model, absolute_spec = load_user_model(spec, **args)
    attach_spec(model, absolute_spec, num_classes, in_channels, width, kwargs)
    return model


def model_from_spec(spec: dict[str, Any]) -> nn.Module:
    """Rebuild an architecture from the dict `model_spec` returned (e.g. checkpoint metadata)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise CnnoptError(
            f"not a model spec: {spec!r}",
            "expected a dict with name, num_classes, in_channels, width, kwargs",
        )
    return resolve_model(
        spec["name"],
        num_classes=spec.get("num_classes", 10),
        in_channels=spec.get("in_channels", 3),
        width=spec.get("width", 1.0),
        **dict(spec.get("kwargs") or {}),
    )
