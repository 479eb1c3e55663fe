"""The on-disk description of a restructured model, and rebuilding a model from it.

A pruned, factorized or rewritten model is its starting architecture (a zoo or user factory,
rebuilt from its spec) with layers resized, swapped or removed. Weights alone (safetensors)
cannot say which, and unpickling whole modules is not something cnnopt does. So beside the
weights we record, for every module by path:

* its class (rebuilt only if it is a torch.nn/cnnopt class, or a class the freshly built
  architecture itself uses: a state.json can never make cnnopt import arbitrary code);
* its plain attributes (everything in the module's __dict__ that is a number, text, bool or a
  tuple/list/dict of those: Conv in/out channels and groups, norms' num_features and
  normalized_shape, Linear in/out features, a user module's own `self.groups` ...);
* the shape and dtype of each of its own parameters and buffers (raw `nn.Parameter`s such as a
  ConvNeXt layer-scale `gamma` included), and which parameters are tied;
* its children, in order.

Rebuilding resizes the fresh architecture to exactly that, whatever the module types, then the
weights load strictly. Generic on purpose: a per-type table of constructor arguments (what an
earlier version kept) misses every type nobody listed (ConvTranspose, LayerNorm, raw
parameters) and the model then does not load back.

`check_record` / `verify_outputs` add the proof: at save time the model's outputs on a seeded
input are stored; at load time the rebuilt model must reproduce them.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import torch
from torch import nn

from cnnopt.errors import CnnoptError

FORMAT = 2  # 1: {"type", constructor args} for a few layer types (still loads, see _legacy)
# Attributes every nn.Module has (hooks, registries): never part of a description.
_MODULE_INTERNALS = frozenset(vars(nn.Module())) | {"training"}
_STAMPS = ("cnnopt_",)  # cnnopt's own annotations (spec, quantize plan): stored elsewhere
CHECK_SEED = 0
CHECK_VALUES = 64  # output values kept per tensor: enough to catch any wrong weight


# --- describing ---------------------------------------------------------------------------


def describe_structure(model: nn.Module) -> dict[str, Any]:
    """Everything needed to resize a fresh base model into `model`, as JSON-ready data."""
    modules: dict[str, Any] = {}
    for path, module in model.named_modules():
        modules[path] = {
            "class": _class_name(type(module)),
            "attrs": _plain_attrs(module),
            "params": {n: _tensor_info(p) for n, p in module._parameters.items()},
            "buffers": {n: _tensor_info(b) for n, b in module._buffers.items()},
            "nonpersistent": sorted(module._non_persistent_buffers_set),
            "children": list(module._modules),
        }
    return {"format": FORMAT, "modules": modules, "tied": _tied_parameters(model)}


def _class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _tensor_info(tensor: torch.Tensor | None) -> dict[str, Any] | None:
    if tensor is None:
        return None
    info: dict[str, Any] = {"shape": list(tensor.shape), "dtype": str(tensor.dtype)[6:]}
    if isinstance(tensor, nn.Parameter) and not tensor.requires_grad:
        info["requires_grad"] = False
    return info


def _plain_attrs(module: nn.Module) -> dict[str, Any]:
    attrs = {}
    for name, value in vars(module).items():
        if name in _MODULE_INTERNALS or name.startswith(_STAMPS):
            continue
        encoded = _encode(value)
        if encoded is not _SKIP:
            attrs[name] = encoded
    return attrs


_SKIP = object()


def _encode(value: Any) -> Any:
    """JSON for plain values; tuples are tagged so they come back as tuples (F.layer_norm
    wants normalized_shape as a tuple, and `==` against a tuple fails for a list)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _SKIP
    if isinstance(value, tuple | list):
        items = [_encode(v) for v in value]
        if any(item is _SKIP for item in items):
            return _SKIP
        return {"tuple": items} if isinstance(value, tuple) else items
    if type(value) is dict and all(isinstance(k, str) for k in value):
        items = {k: _encode(v) for k, v in value.items()}
        return _SKIP if any(v is _SKIP for v in items.values()) else {"dict": items}
    return _SKIP


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict) and "tuple" in value:
        return tuple(_decode(v) for v in value["tuple"])
    if isinstance(value, dict) and "dict" in value:
        return {k: _decode(v) for k, v in value["dict"].items()}
    return value


def _tied_parameters(model: nn.Module) -> dict[str, str]:
    """'b.weight' -> 'a.weight' for every parameter object that appears under two names."""
    first: dict[int, str] = {}
    tied = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in first:
            tied[name] = first[id(param)]
        else:
            first[id(param)] = name
    return tied


# --- rebuilding ---------------------------------------------------------------------------


def rebuild_structure(base: nn.Module, structure: dict[str, Any]) -> nn.Module:
    """Resize/replace the modules of a freshly built `base` until it matches `structure`."""
    if "modules" not in structure:
        return _legacy(base, structure)
    modules = structure["modules"]
    allowed = {_class_name(type(m)): type(m) for m in base.modules()}
    for path, entry in modules.items():  # parents come before their children
        current = _get(base, path)
        if current is None or _class_name(type(current)) != entry["class"]:
            if not path:
                raise CnnoptError(
                    f"the saved model is a {entry['class']}, the architecture built from its "
                    f"spec a {_class_name(type(base))}",
                    "load it with the architecture it was saved from",
                )
            current = _shell(_resolve_class(entry["class"], allowed, path))
            _set(base, path, current)
        _restore(current, entry, path)
    for path, entry in modules.items():
        _order_children(_get(base, path), entry["children"])
    for name, source in structure.get("tied", {}).items():
        owner, _, attr = name.rpartition(".")
        _get(base, owner)._parameters[attr] = base.get_parameter(source)
    return base


def _get(model: nn.Module, path: str) -> nn.Module | None:
    try:
        return model.get_submodule(path) if path else model
    except AttributeError:
        return None


def _set(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, child = path.rpartition(".")
    parent = _get(model, parent_path)
    if parent is None:
        raise CnnoptError(f"saved structure names {path} but not its parent", "re-run apply")
    parent._modules[child] = module


def _resolve_class(name: str, allowed: dict[str, type], path: str) -> type:
    if name in allowed:
        return allowed[name]
    module_name, _, qualname = name.partition(":")
    if module_name.split(".")[0] in ("torch", "cnnopt"):
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            obj = None
        if isinstance(obj, type) and issubclass(obj, nn.Module):
            return obj
    raise CnnoptError(
        f"saved structure has layer type {name} at {path}, which neither torch, cnnopt nor "
        "the model's own architecture defines",
        "load it where the model's code is importable, or re-run the recipe",
    )


def _shell(cls: type) -> nn.Module:
    """An instance with nn.Module's bookkeeping only: attributes, parameters, buffers and
    children all come from the description (the constructor's arguments are unknown)."""
    module = cls.__new__(cls)
    nn.Module.__init__(module)
    return module


def _restore(module: nn.Module, entry: dict[str, Any], path: str) -> None:
    for name, value in entry.get("attrs", {}).items():
        value = _decode(value)
        if module.__dict__.get(name, _SKIP) != value:
            module.__dict__[name] = value
    params = entry.get("params", {})
    for name in [n for n in module._parameters if n not in params]:
        del module._parameters[name]
    for name, info in params.items():
        old = module._parameters.get(name)
        if info is None:
            module._parameters[name] = None
        elif old is None or not _matches(old, info):
            grad = info.get("requires_grad", True)
            module._parameters[name] = nn.Parameter(_empty(info), requires_grad=grad)
    buffers = entry.get("buffers", {})
    nonpersistent = set(entry.get("nonpersistent", []))
    for name in [n for n in module._buffers if n not in buffers]:
        del module._buffers[name]
    for name, info in buffers.items():
        old = module._buffers.get(name)
        if info is None:
            old = None
        elif old is None or not _matches(old, info):
            if name in nonpersistent:  # not in the weights file: its values would be lost
                raise CnnoptError(
                    f"{path or 'the model'}.{name} is a non-persistent buffer whose shape "
                    "changed; its values are not saved",
                    "register it as a persistent buffer, or re-run the recipe",
                )
            old = _empty(info)
        module._buffers[name] = old
    module._non_persistent_buffers_set = nonpersistent


def _matches(tensor: torch.Tensor, info: dict[str, Any]) -> bool:
    return list(tensor.shape) == info["shape"] and str(tensor.dtype)[6:] == info["dtype"]


def _empty(info: dict[str, Any]) -> torch.Tensor:
    dtype = getattr(torch, info["dtype"], None)
    if not isinstance(dtype, torch.dtype):
        raise CnnoptError(f"saved structure names an unknown dtype {info['dtype']}", "re-save")
    return torch.zeros(info["shape"], dtype=dtype)


def _order_children(module: nn.Module | None, children: list[str]) -> None:
    if module is None:
        return
    kept = {name: module._modules[name] for name in children if name in module._modules}
    module._modules.clear()
    module._modules.update(kept)


# --- proving a reload ---------------------------------------------------------------------


def check_record(model: nn.Module, example: torch.Tensor | None) -> dict[str, Any] | None:
    """The model's outputs on a seeded input shaped like `example` (batch 2), for
    `verify_outputs` at load time; None when there is no shape or the model does not run."""
    if example is None:
        return None
    shape = [2, *example.shape[1:]]
    try:
        outputs = _outputs(model, shape)
    except Exception:  # a model that needs other inputs: the strict shape check still holds
        return None
    return {"input_shape": shape, "seed": CHECK_SEED, "outputs": outputs}


def verify_outputs(model: nn.Module, record: dict[str, Any] | None, where: str) -> None:
    """Refuse a reload whose outputs differ from those stored at save time."""
    if not record:
        return
    got = _outputs(model, record["input_shape"])
    for index, (saved, now) in enumerate(zip(record["outputs"], got, strict=False)):
        same_shape = saved["shape"] == now["shape"] and len(record["outputs"]) == len(got)
        diff = max(
            (abs(a - b) for a, b in zip(saved["values"], now["values"], strict=True)), default=0
        )
        scale = max((abs(v) for v in saved["values"]), default=1.0)
        # Loose enough for another CPU's kernels (other summation order), far below what a
        # wrong or damaged weight changes.
        if not same_shape or diff > 1e-4 * max(1.0, scale):
            raise CnnoptError(
                f"the model rebuilt from {where} does not reproduce its saved outputs "
                f"(output {index}: shape {now['shape']} vs {saved['shape']}, max diff {diff:.3g})",
                "the checkpoint is damaged or its architecture's code changed; re-run the recipe",
            )


@torch.no_grad()
def _outputs(model: nn.Module, shape: list[int]) -> list[dict[str, Any]]:
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(CHECK_SEED)).to(device)
    try:
        result = model(x)
    finally:
        model.train(was_training)
    return [
        {"shape": list(t.shape), "values": t.detach().flatten()[:CHECK_VALUES].double().tolist()}
        for t in _tensors(result)
    ]


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value.float()]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _tensors(v)]
    return []


# --- format 1 (a few layer types by constructor arguments), still read -------------------

_LEGACY_TYPES = {
    "Conv2d": nn.Conv2d, "Conv1d": nn.Conv1d, "Linear": nn.Linear, "BatchNorm1d": nn.BatchNorm1d,
    "BatchNorm2d": nn.BatchNorm2d, "MaxPool2d": nn.MaxPool2d, "AvgPool2d": nn.AvgPool2d,
    "Identity": nn.Identity, "Sequential": nn.Sequential,
}  # fmt: skip


def _legacy(base: nn.Module, structure: dict[str, dict[str, Any]]) -> nn.Module:
    for path, entry in structure.items():
        cls = _LEGACY_TYPES.get(entry.get("type", ""))
        if cls is None:
            raise CnnoptError(f"saved structure has unknown layer type at {path}", "re-run apply")
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items() if k != "type"}
        current = _get(base, path)
        if type(current) is cls and all(_legacy_value(current, k) == v for k, v in args.items()):
            continue
        _set(base, path, cls(**args))
    return base


def _legacy_value(module: nn.Module, arg: str) -> Any:
    value = getattr(module, arg)
    return (value is not None) if arg == "bias" else value
