"""The model registry: `@register_model`, `create_model`, `list_models`, like timm.

`create_model` stamps every model with `cnnopt_spec` (name + constructor arguments) so a
checkpoint can store plain weights (safetensors) and still rebuild the exact architecture,
without pickling Python objects.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.registry import Registry

ModelFactory = Callable[..., nn.Module]
MODELS: Registry[ModelFactory] = Registry("model")
SPEC_ATTR = "cnnopt_spec"


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Register a factory `f(num_classes, in_channels, width, **options) -> nn.Module`."""
    return MODELS.register(name)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching an fnmatch pattern, e.g. 'resnet*'."""
    return MODELS.names(pattern)


def get_factory(name: str) -> ModelFactory:
    """The factory behind a name; unknown names fail with the list of known ones."""
    return MODELS.get(name)


def check_model_args(num_classes: Any, in_channels: Any, width: Any) -> None:
    """The three arguments every factory takes, checked once here with useful hints."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise CnnoptError(
            f"num_classes must be a whole number >= 1, got {num_classes!r}",
            "use the number of labels in your dataset",
        )
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise CnnoptError(
            f"in_channels must be a whole number >= 1, got {in_channels!r}",
            "use 1 for grayscale images and 3 for RGB",
        )
    if (
        isinstance(width, bool)
        or not isinstance(width, int | float)
        or not math.isfinite(width)
        or not 0 < width <= 8
    ):
        raise CnnoptError(
            f"width must be a number in (0, 8], got {width!r}",
            "1.0 is the reference size; 0.5 halves every layer's channels",
        )


def _check_options(name: str, factory: ModelFactory, options: dict[str, Any]) -> None:
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    reserved = {"num_classes", "in_channels", "width"}
    unknown = sorted(set(options) - set(params))
    if unknown:
        known = sorted(set(params) - reserved)
        raise CnnoptError(
            f"model {name!r} has no option(s) {', '.join(unknown)}",
            f"its options are: {', '.join(known)}" if known else "it takes no extra options",
        )


def create_model(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    width: float = 1.0,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model and stamp it with the spec needed to rebuild it."""
    factory = get_factory(name)
    check_model_args(num_classes, in_channels, width)
    _check_options(name, factory, kwargs)
    model = factory(num_classes=num_classes, in_channels=in_channels, width=width, **kwargs)
    attach_spec(model, name.lower(), num_classes, in_channels, width, kwargs)
    return model


def attach_spec(
    model: nn.Module,
    name: str,
    num_classes: int,
    in_channels: int,
    width: float,
    kwargs: dict[str, Any] | None = None,
) -> None:
    """Record how `model` was built; a plain dict so it goes into JSON checkpoint metadata."""
    spec = {
        "name": name,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "width": float(width),
        "kwargs": dict(kwargs or {}),
    }
    setattr(model, SPEC_ATTR, spec)


def model_spec(model: nn.Module) -> dict[str, Any] | None:
    """A copy of the spec stamped by create_model/resolve_model, or None for foreign models."""
    spec = getattr(model, SPEC_ATTR, None)
    if not isinstance(spec, dict):
        return None
    return {**spec, "kwargs": dict(spec.get("kwargs", {}))}


def factory_summary(factory: Callable[..., Any]) -> str:
    """First docstring line: the one-line description shown by `cnnopt models`."""
    doc = inspect.getdoc(factory) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""
