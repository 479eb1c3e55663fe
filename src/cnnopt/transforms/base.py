"""Every optimization is `apply(model, config, ctx) -> model`, dispatched on type(config).

Configs are small dataclasses with a `name` (the key used in recipe YAML) and a VERSION, so a
recipe saved today still loads when a config grows a field. Handlers register with
`@register_transform(SomeConfig)`; `apply` looks the handler up by the config's type and an
unknown config fails with the list of known ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from cnnopt.errors import CnnoptError

C = TypeVar("C", bound="TransformConfig")


@dataclass
class TransformConfig:
    """Base of every transform config. Subclasses set `name` and add typed fields."""

    name: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    # True when the transform changes what the model computes enough that it must be
    # fine-tuned or distilled afterwards (prune, low-rank, rewrite); the report says so.
    needs_finetune: ClassVar[bool] = False

    def validate(self) -> None:
        """Raise CnnoptError for out-of-range values. Subclasses override."""

    def to_dict(self) -> dict[str, Any]:
        return {"transform": self.name, "version": self.VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        data = {k: v for k, v in data.items() if k not in ("transform", "version")}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CnnoptError(
                f"transform {cls.name!r} has no option(s) {', '.join(unknown)}",
                f"known options: {', '.join(sorted(known)) or 'none'}",
            )
        from cnnopt.fieldtypes import first_problem

        problem = first_problem(cls, data)
        if problem:  # checked before construction: a wrong type would fail deep inside later
            raise CnnoptError(
                f"transform {cls.name!r}: {problem}", "write numbers and true/false unquoted"
            )
        try:
            config = cls(**data)
        except TypeError as exc:
            raise CnnoptError(f"transform {cls.name!r}: {exc}", "check the recipe") from None
        config.validate()
        return config


@dataclass
class Context:
    """What data-hungry transforms need; transforms that need nothing ignore it.

    Data is a cnnopt.data.TensorData (train for fine-tuning, calib for quantization
    calibration); `teacher` is the uncompressed model for distillation.
    """

    train_data: Any = None
    val_data: Any = None
    calib_data: Any = None
    teacher: nn.Module | None = None
    example_input: torch.Tensor | None = None
    device: str = "cpu"
    progress: bool = True
    seed: int = 0
    # Budget for fine-tuning steps inside transforms (prune's iterative schedule, QAT,
    # distill); None = the transform's own default.
    finetune_epochs: float | None = None
    # How those fine-tuning steps run: "bf16" autocast plus channels-last is about 2x faster
    # on CPUs with avx512_bf16 (see cnnopt.defaults); fp32 is exact everywhere.
    finetune_precision: str = "fp32"
    finetune_channels_last: bool = False
    notes: list[str] = field(default_factory=list)  # honest remarks that end up in the report
    # A `time.time()` instant at which fine-tuning steps stop between batches and the model is
    # kept as it is (a run's time budget); None = no limit. What it cut short goes in `cut`.
    deadline: float | None = None
    cut: list[str] = field(default_factory=list)

    def require(self, attr: str, transform: str) -> Any:
        value = getattr(self, attr)
        if value is None:
            raise CnnoptError(
                f"transform {transform!r} needs {attr.replace('_', ' ')}",
                "pass a dataset (e.g. --dataset fashion-mnist) or give it in the Context",
            )
        return value


Handler = Callable[[nn.Module, Any, Context], nn.Module]
_HANDLERS: dict[type, Handler] = {}
_CONFIGS: dict[str, type[TransformConfig]] = {}


def register_transform(
    config_type: type[C],
) -> Callable[
    [Callable[[nn.Module, C, Context], nn.Module]], Callable[[nn.Module, C, Context], nn.Module]
]:
    """Decorator: `fn(model, config, ctx) -> model` becomes the handler for `config_type`."""
    if not config_type.name:
        raise ValueError(f"{config_type.__name__} needs a class attribute `name`")

    def decorator(fn: Callable[[nn.Module, C, Context], nn.Module]):
        _HANDLERS[config_type] = fn
        _CONFIGS[config_type.name] = config_type
        return fn

    return decorator


def _ensure_loaded() -> None:
    # Importing the package registers every built-in transform.
    import cnnopt.transforms  # noqa: F401


def config_class(name: str) -> type[TransformConfig]:
    _ensure_loaded()
    if name not in _CONFIGS:
        raise CnnoptError(
            f"unknown transform {name!r}", f"known transforms: {', '.join(sorted(_CONFIGS))}"
        )
    return _CONFIGS[name]


def list_transforms() -> list[str]:
    _ensure_loaded()
    return sorted(_CONFIGS)


def apply(model: nn.Module, config: TransformConfig, ctx: Context | None = None) -> nn.Module:
    """Apply one transform. The input model may be modified; use the returned one."""
    _ensure_loaded()
    handler = _HANDLERS.get(type(config))
    if handler is None:
        raise CnnoptError(
            f"no transform handles {type(config).__name__}",
            f"known transforms: {', '.join(sorted(_CONFIGS))}",
        )
    config.validate()
    return handler(model, config, ctx or Context())
