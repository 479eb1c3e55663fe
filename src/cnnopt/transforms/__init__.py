"""Optimization transforms. Importing this package registers every built-in one."""

from cnnopt.transforms import (  # noqa: F401
    distill,
    fuse,
    lowrank,
    prune,
    quantize,
    rewrite,
    sparsify,
)
from cnnopt.transforms.base import (
    Context,
    TransformConfig,
    apply,
    config_class,
    list_transforms,
    register_transform,
)

__all__ = [
    "Context",
    "TransformConfig",
    "apply",
    "config_class",
    "list_transforms",
    "register_transform",
]
