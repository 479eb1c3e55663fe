"""Export a torch CNN to the dependency-free NumPy format: graph.json + weights.safetensors.

torch.fx traces the model into a flat list of ops; each becomes one JSON node with its
attributes and the names of its tensors. Batch norm that directly follows a conv (its only
user) is folded into that conv here, so the engine never runs BN. Anything the engine cannot
run is refused at export with the op's name, rather than failing later on a device.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file
from torch import fx, nn

from cnnopt.errors import CnnoptError
from cnnopt.fileio import atomic_path, ensure_dir, write_json
from cnnopt.kernels.layers import fold_batchnorm

FORMAT = "cnnopt-numpy"
VERSION = 1
_RELU = (F.relu, torch.relu, torch.relu_)
_ADD = (operator.add, operator.iadd, torch.add)
_PASS_THROUGH = (nn.Dropout, nn.Dropout2d, nn.Identity)


def export_numpy(
    model: nn.Module, directory: str | Path, input_shape: tuple[int, ...] | None = None
) -> Path:
    """Write `graph.json` and `weights.safetensors` under `directory`; returns the directory."""
    model = model.eval()
    try:
        traced = fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many types for data-dependent control flow
        raise CnnoptError(
            f"cannot trace {type(model).__name__} with torch.fx: {exc}",
            "the NumPy engine needs a model without data-dependent Python control flow",
        ) from None
    builder = _GraphBuilder(traced)
    for node in traced.graph.nodes:
        builder.visit(node)
    directory = ensure_dir(directory)
    graph = {
        "format": FORMAT,
        "version": VERSION,
        "model": type(model).__name__,
        "input_shape": list(input_shape) if input_shape else None,
        "input": builder.input_name,
        "output": builder.output_name,
        "nodes": builder.nodes,
    }
    with atomic_path(directory / "weights.safetensors") as tmp:
        save_file(builder.tensors, str(tmp))
    write_json(directory / "graph.json", graph)
    return directory


class _GraphBuilder:
    def __init__(self, traced: fx.GraphModule) -> None:
        self.modules = dict(traced.named_modules())
        self.nodes: list[dict[str, Any]] = []
        self.tensors: dict[str, np.ndarray] = {}
        self.alias: dict[str, str] = {}  # fx node -> engine value it is equal to
        self.folded: set[str] = set()  # BN modules already folded into their conv
        self.input_name = "input"
        self.output_name = ""

    def ref(self, arg: Any) -> str:
        if not isinstance(arg, fx.Node):
            raise CnnoptError(f"unsupported constant operand {arg!r}", "use module layers")
        return self.alias.get(arg.name, arg.name)

    def emit(self, node: fx.Node, op: str, inputs: list[Any], **attrs: Any) -> None:
        self.nodes.append(
            {"name": node.name, "op": op, "inputs": [self.ref(i) for i in inputs], **attrs}
        )

    def tensor(self, key: str, value: torch.Tensor | np.ndarray) -> str:
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        self.tensors[key] = np.ascontiguousarray(array, dtype=np.float32)
        return key

    def visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            self.input_name = node.name
        elif node.op == "output":
            self.output_name = self.ref(node.args[0])
        elif node.op == "call_module":
            self.visit_module(node, self.modules[node.target])
        elif node.op == "call_function":
            self.visit_function(node)
        elif node.op == "call_method":
            self.visit_method(node)
        else:
            raise _unsupported(node.op, node.name)

    def visit_module(self, node: fx.Node, module: nn.Module) -> None:
        x = node.args[0]
        if isinstance(module, nn.Conv2d):
            self.emit_conv(node, module)
        elif isinstance(module, nn.BatchNorm2d):
            if node.target in self.folded:
                self.alias[node.name] = self.ref(x)
                return
            mean, var = module.running_mean, module.running_var
            weight = module.weight if module.affine else torch.ones_like(mean)
            bias = module.bias if module.affine else torch.zeros_like(mean)
            scale_t = weight.detach() / torch.sqrt(var + module.eps)
            scale = self.tensor(f"{node.name}.scale", scale_t)
            shift = self.tensor(f"{node.name}.shift", bias.detach() - mean * scale_t)
            self.emit(node, "affine_channel", [x], scale=scale, shift=shift)
        elif isinstance(module, nn.ReLU):
            self.emit(node, "relu", [x])
        elif isinstance(module, nn.Linear):
            weight = self.tensor(f"{node.target}.weight", module.weight)
            bias = (
                self.tensor(f"{node.target}.bias", module.bias) if module.bias is not None else None
            )
            self.emit(node, "linear", [x], weight=weight, bias=bias)
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            self.emit_pool(node, module)
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            self.emit(node, "adaptive_avgpool2d", [x], output_size=_pair(module.output_size))
        elif isinstance(module, nn.Flatten):
            if module.start_dim != 1 or module.end_dim != -1:
                raise _unsupported("Flatten other than flatten(x, 1)", node.name)
            self.emit(node, "flatten", [x])
        elif isinstance(module, _PASS_THROUGH):  # inference no-ops
            self.alias[node.name] = self.ref(x)
        else:
            raise _unsupported(type(module).__name__, node.name)

    def emit_conv(self, node: fx.Node, conv: nn.Conv2d) -> None:
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise _unsupported(f"Conv2d padding={conv.padding!r}/{conv.padding_mode}", node.name)
        weight = conv.weight.detach().double().numpy()
        bias = None if conv.bias is None else conv.bias.detach().double().numpy()
        users = list(node.users)
        if len(users) == 1 and users[0].op == "call_module":
            bn = self.modules[users[0].target]
            if isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                gamma = bn.weight.detach() if bn.affine else torch.ones(weight.shape[0])
                beta = bn.bias.detach() if bn.affine else torch.zeros(weight.shape[0])
                weight, bias = fold_batchnorm(
                    weight, bias, gamma.double().numpy(), beta.double().numpy(),
                    bn.running_mean.double().numpy(), bn.running_var.double().numpy(), bn.eps,
                )  # fmt: skip
                self.folded.add(users[0].target)
        self.emit(
            node,
            "conv2d",
            [node.args[0]],
            weight=self.tensor(f"{node.target}.weight", weight),
            bias=None if bias is None else self.tensor(f"{node.target}.bias", bias),
            stride=list(conv.stride),
            padding=list(conv.padding),
            dilation=list(conv.dilation),
            groups=conv.groups,
        )

    def emit_pool(self, node: fx.Node, pool: nn.MaxPool2d | nn.AvgPool2d) -> None:
        if getattr(pool, "dilation", 1) not in (1, (1, 1)):
            raise _unsupported("dilated pooling", node.name)
        if isinstance(pool, nn.AvgPool2d) and not pool.count_include_pad and pool.padding:
            raise _unsupported("AvgPool2d(count_include_pad=False) with padding", node.name)
        op = "maxpool2d" if isinstance(pool, nn.MaxPool2d) else "avgpool2d"
        stride = pool.stride if pool.stride is not None else pool.kernel_size
        self.emit(
            node,
            op,
            [node.args[0]],
            kernel_size=_pair(pool.kernel_size),
            stride=_pair(stride),
            padding=_pair(pool.padding),
            ceil_mode=bool(pool.ceil_mode),
        )

    def visit_function(self, node: fx.Node) -> None:
        target, args = node.target, node.args
        if target in _RELU:
            self.emit(node, "relu", [args[0]])
        elif target in _ADD and len(args) == 2 and all(isinstance(a, fx.Node) for a in args):
            self.emit(node, "add", list(args))
        elif target is torch.flatten and (args[1:] or [node.kwargs.get("start_dim", 0)])[0] == 1:
            self.emit(node, "flatten", [args[0]])
        elif target is F.adaptive_avg_pool2d:
            size = args[1] if len(args) > 1 else node.kwargs["output_size"]
            self.emit(node, "adaptive_avgpool2d", [args[0]], output_size=_pair(size))
        elif (target is getattr and args[1] == "shape") or target is operator.getitem:
            self.alias[node.name] = "<shape>"  # only ever feeds a view/reshape (checked there)
        else:
            raise _unsupported(getattr(target, "__name__", str(target)), node.name)

    def visit_method(self, node: fx.Node) -> None:
        method, args = node.target, node.args
        if method in ("relu", "relu_"):
            self.emit(node, "relu", [args[0]])
        elif method == "size":
            self.alias[node.name] = "<shape>"
        elif method in ("view", "reshape", "flatten") and (
            (method == "flatten" and args[1:] == (1,)) or (method != "flatten" and args[-1] == -1)
        ):
            self.emit(node, "flatten", [args[0]])  # x.view(x.size(0), -1) and friends
        else:
            raise _unsupported(f"Tensor.{method}", node.name)


def _pair(value: Any) -> list[int]:
    return [int(value), int(value)] if isinstance(value, int) else [int(v) for v in value]


def _unsupported(what: str, where: str) -> CnnoptError:
    return CnnoptError(
        f"the NumPy engine cannot run {what} (at {where!r})",
        "supported: Conv2d, BatchNorm2d, ReLU, Linear, Max/Avg/AdaptiveAvgPool2d, Flatten, "
        "Dropout, residual add; use another runtime for this model",
    )
