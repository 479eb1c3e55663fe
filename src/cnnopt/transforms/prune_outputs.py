"""What pruning must never change: the layers whose channels reach a model output, and the
outputs themselves (structure, shape and dtype).

A layer's output channels "reach" an output when some chain of ops that keep or reduce the
channel axis (activations, norms, pooling, flatten, add, mul, concatenation, view/reshape,
mean, interpolate, depthwise convs...) leads from it to a returned tensor: removing one of
its channels removes a class score, a feature or a segmentation map. The chain is read from
the autograd graph of one forward pass, the same graph Torch-Pruning traces, so it follows
any Python control flow, functional calls, and tuple, list and dict outputs. A returned
tensor without an autograd history falls back to a torch.fx trace, and when that fails too,
to the last conv/linear as wide as that output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

from cnnopt.errors import CnnoptError

# Modules whose output width is their own choice (so a walk back from an output stops there).
CHANNEL_DEFINING = (nn.modules.conv._ConvNd, nn.Linear, nn.RNNBase, nn.Embedding,
                    nn.MultiheadAttention)  # fmt: skip
# Autograd nodes of functional ops that mix channels (F.conv2d, F.linear, matmul...).
_MIXING_NAMES = ("convolution", "mm", "mv", "embedding", "linear")


@dataclass
class Protected:
    """Modules and raw parameters whose output channels reach a model output."""

    modules: list[nn.Module] = field(default_factory=list)
    params: list[nn.Parameter] = field(default_factory=list)

    def add_module(self, module: nn.Module) -> None:
        if not any(m is module for m in self.modules):
            self.modules.append(module)

    def add_param(self, param: nn.Parameter) -> None:
        if isinstance(param, nn.Parameter) and not any(p is param for p in self.params):
            self.params.append(param)


def passes_channels_through(module: nn.Module) -> bool:
    """Depthwise convs (and ones with a channel multiplier) tie their output channels to their
    input's: the producer of that input reaches the output as well."""
    return (
        isinstance(module, nn.modules.conv._ConvNd)
        and module.groups > 1
        and module.groups == module.in_channels
    )


def protected_layers(model: nn.Module, example: torch.Tensor) -> Protected:
    """Every layer (and raw parameter) whose output channels reach one of the model's outputs."""
    grad_fn_module: dict[Any, nn.Module] = {}

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        first = output[0] if isinstance(output, tuple | list) else output
        if isinstance(first, torch.Tensor) and first.grad_fn is not None:
            grad_fn_module[first.grad_fn] = module

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, CHANNEL_DEFINING)
    ]
    traced = example.detach().clone()
    if traced.is_floating_point():
        traced.requires_grad_(True)  # outputs keep a history even when every weight is frozen
    try:
        with torch.enable_grad():
            leaves = tensor_leaves(model(traced))
    finally:
        for handle in handles:
            handle.remove()
    found = Protected()
    untraced = [t for t in leaves if t.grad_fn is None]
    _walk_autograd([t.grad_fn for t in leaves if t.grad_fn is not None], grad_fn_module, found)
    if untraced:
        _walk_fx_or_guess(model, untraced, found)
    return found


def _walk_autograd(roots: list[Any], grad_fn_module: dict[Any, nn.Module], found: Protected):
    stack, seen = list(roots), set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        module = grad_fn_module.get(fn)
        if module is not None:
            found.add_module(module)
            if not passes_channels_through(module):
                continue  # its width is its own: what feeds it does not reach the output
        if hasattr(fn, "variable"):  # AccumulateGrad: a parameter added/multiplied in
            found.add_param(fn.variable)
            continue
        if module is None and any(k in fn.name().lower() for k in _MIXING_NAMES):
            _protect_weights(fn, found)  # a functional conv/linear: its weights set the width
            continue
        stack.extend(nxt for nxt, _ in fn.next_functions if nxt is not None)


def _protect_weights(fn: Any, found: Protected, depth: int = 3) -> None:
    """Raw parameters feeding a functional conv/linear directly or through a view/transpose."""
    for nxt, _ in fn.next_functions:
        if nxt is None:
            continue
        if hasattr(nxt, "variable"):
            found.add_param(nxt.variable)
        elif depth > 0 and len(nxt.next_functions) == 1:
            _protect_weights(nxt, found, depth - 1)


def _walk_fx_or_guess(model: nn.Module, untraced: list[torch.Tensor], found: Protected) -> None:
    """Outputs with no autograd history (detached, integer, computed without weights)."""
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # fx cannot trace data-dependent control flow: guess by width
        _guess_by_width(model, untraced, found)
        return
    modules = dict(model.named_modules())
    params = dict(model.named_parameters())
    stack = [n for n in graph.nodes if n.op == "output"]
    seen: set[Any] = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.op == "call_module" and isinstance(modules.get(node.target), CHANNEL_DEFINING):
            found.add_module(modules[node.target])
            if not passes_channels_through(modules[node.target]):
                continue
        if node.op == "get_attr" and node.target in params:
            found.add_param(params[node.target])
        stack.extend(node.all_input_nodes)


def _guess_by_width(model: nn.Module, untraced: list[torch.Tensor], found: Protected) -> None:
    layers = [m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd | nn.Linear)]
    for out in untraced:
        width = out.shape[1] if out.dim() > 1 else (out.shape[0] if out.dim() else 1)
        for module in reversed(layers):
            wide = module.out_features if isinstance(module, nn.Linear) else module.out_channels
            if wide == width:
                found.add_module(module)
                break


# --- what the outputs look like --------------------------------------------------------------


def tensor_leaves(output: Any) -> list[torch.Tensor]:
    return [leaf for leaf in pytree.tree_leaves(output) if isinstance(leaf, torch.Tensor)]


def output_signature(model: nn.Module, x: torch.Tensor) -> list[tuple[str, str]]:
    """(where, what) per output leaf: its path in the returned structure and its
    shape and dtype, or the type of a non-tensor leaf. Comparing two signatures compares
    structure (tuple/list/dict keys), shapes and dtypes at once."""
    with torch.no_grad():
        output = model(x)
    flat, _ = pytree.tree_flatten_with_path(output)
    signature = []
    for path, leaf in flat:
        where = "output" + pytree.keystr(path) if path else "output"
        if isinstance(leaf, torch.Tensor):
            shape = "x".join(str(d) for d in leaf.shape) or "scalar"
            signature.append((where, f"{shape} {str(leaf.dtype).removeprefix('torch.')}"))
        else:
            signature.append((where, type(leaf).__name__))
    return signature


def second_batch(example: torch.Tensor) -> torch.Tensor:
    """The example at another batch size, so a batch dimension folded into a channel axis
    (a reshape with a hard-coded size) shows up too."""
    return torch.cat([example, example[:1], example[:1]])


def check_outputs(
    model: nn.Module, inputs: list[torch.Tensor], expected: list[list[tuple[str, str]]]
) -> None:
    """Refuse (one line) when pruning changed an output's structure, shape or dtype."""
    for x, before in zip(inputs, expected, strict=True):
        try:
            after = output_signature(model, x)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise CnnoptError(
                f"pruning broke the model: it no longer runs on a batch of {x.shape[0]} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})",
                PROTECT_HINT,
            ) from None
        if after != before:
            raise CnnoptError(
                f"pruning changed the model's outputs at batch {x.shape[0]}: "
                f"{_describe_change(before, after)}",
                PROTECT_HINT,
            )


PROTECT_HINT = (
    "the layers that feed this output must be kept: name them in prune's `ignore` option, "
    "or use lowrank, which keeps every width"
)


def _describe_change(before: list[tuple[str, str]], after: list[tuple[str, str]]) -> str:
    if [w for w, _ in before] != [w for w, _ in after]:
        return f"{len(before)} output(s) {[w for w, _ in before]} became {[w for w, _ in after]}"
    where, was, now = next(
        (w, b, a) for (w, b), (_, a) in zip(before, after, strict=True) if b != a
    )
    return f"{where} was {was}, now {now}"
