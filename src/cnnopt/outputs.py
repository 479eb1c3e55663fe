"""Which of a model's outputs is the prediction: the one rule every stage uses.

Users' models often return more than one tensor: `(logits, features)` or
`{"logits": ..., "aux": ...}`. cnnopt keeps all of them in what it deploys (an exported ONNX
file has one named output per tensor) but judges, trains and times the model on one: by
default the first tensor of a tuple/list and the `"logits"` key of a dict; `--output INDEX|KEY`
(or `output=` in Python) picks another.

The choice travels with the model as `model.cnnopt_output` (set by `set_output`), like the
quantize plan does, because the model is deep-copied, pruned in place, quantized and exported
by many stages that should not each grow an `output=` argument; the state_dict, and so every
checkpoint's keys, stay untouched. Files (ONNX, OpenVINO IR) carry their output names, and
`output_position(names, spec)` applies the same rule to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnnopt.errors import CnnoptError

DEFAULT_KEY = "logits"  # the dict key taken when no output is chosen
SINGLE_NAME = "logits"  # the ONNX output name of a model that returns one tensor
ATTRIBUTE = "cnnopt_output"


@dataclass(frozen=True)
class OutputSpec:
    """The chosen output: an index into a tuple/list (or a dict's keys in order), a dict key,
    or None for the default rule (first tensor / the "logits" key)."""

    select: int | str | None = None

    @classmethod
    def parse(cls, value: OutputSpec | int | str | None) -> OutputSpec:
        """`1` and "1" are indices, any other text is a dict key, None is the default."""
        if isinstance(value, OutputSpec):
            return value
        if value is None or (isinstance(value, str) and not value.strip()):
            return cls()
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise CnnoptError(
                f"output must be an index or a key, got {type(value).__name__}",
                "use e.g. --output 0 or --output logits",
            )
        if isinstance(value, str):
            text = value.strip()
            return cls(int(text)) if text.lstrip("-").isdigit() else cls(text)
        return cls(value)

    @property
    def is_default(self) -> bool:
        return self.select is None

    def to_json(self) -> int | str | None:
        return self.select


def set_output(model: nn.Module, output: OutputSpec | int | str | None) -> nn.Module:
    """Record on `model` which output is the prediction; returns the model for chaining."""
    spec = OutputSpec.parse(output)
    if spec.is_default:
        if hasattr(model, ATTRIBUTE):
            delattr(model, ATTRIBUTE)
    else:
        setattr(model, ATTRIBUTE, spec)
    return model


def output_spec(source: Any) -> OutputSpec:
    """The spec a model (or anything carrying one) asks for; the default rule otherwise."""
    if source is None or isinstance(source, OutputSpec | int | str):
        return OutputSpec.parse(source)
    spec = getattr(source, ATTRIBUTE, None)
    return spec if isinstance(spec, OutputSpec) else OutputSpec()


def flatten_outputs(raw: Any) -> tuple[list[str], list[torch.Tensor]]:
    """(names, tensors) of a model's return value: "logits" for a single tensor, the keys of
    a dict, output_0, output_1, ... for a tuple/list. Also the ONNX output names."""
    if isinstance(raw, torch.Tensor):
        return [SINGLE_NAME], [raw]
    if isinstance(raw, Mapping):
        names, tensors = [str(k) for k in raw], list(raw.values())
    elif isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) > 0:
        names, tensors = [f"output_{i}" for i in range(len(raw))], list(raw)
    else:
        raise CnnoptError(
            f"the model returned {type(raw).__name__}; cnnopt needs a tensor, a tuple/list of "
            "tensors or a dict of tensors",
            "make forward() return the logits (or a tuple/dict that holds them)",
        )
    bad = [n for n, t in zip(names, tensors, strict=True) if not isinstance(t, torch.Tensor)]
    if bad:
        raise CnnoptError(
            f"the model's output {bad[0]!r} is not a tensor; cnnopt needs a flat tuple/list or "
            "dict of tensors",
            "return nested values as separate entries",
        )
    return names, tensors


def output_position(names: Sequence[str], spec: Any = None, *, is_dict: bool | None = None) -> int:
    """Index of the chosen output among `names` (in the model's/file's order).

    `is_dict` says whether the names are a dict's keys; None guesses it from the names
    (output_N names come from a tuple), which is what a file read back from disk needs.
    """
    spec = output_spec(spec)
    names = list(names)
    if is_dict is None:
        is_dict = len(names) > 1 and names != [f"output_{i}" for i in range(len(names))]
    if spec.is_default:
        if DEFAULT_KEY in names and (is_dict or names == [SINGLE_NAME]):
            return names.index(DEFAULT_KEY)
        if not is_dict or len(names) == 1:
            return 0
        raise CnnoptError(
            f"the model returns a dict without a {DEFAULT_KEY!r} key (keys: {', '.join(names)}); "
            "cnnopt cannot tell which is the prediction",
            f"choose one with --output KEY (or output=...), e.g. --output {names[0]}",
        )
    choice = spec.select
    if isinstance(choice, int):
        if -len(names) <= choice < len(names):
            return choice % len(names)
        raise CnnoptError(
            f"--output {choice} does not exist: the model has {len(names)} output(s) "
            f"({', '.join(names)})",
            f"use an index from 0 to {len(names) - 1}" + (" or a key" if is_dict else ""),
        )
    if choice in names:
        return names.index(choice)
    kind = "keys" if is_dict else "outputs"
    raise CnnoptError(
        f"--output {choice!r} does not exist: the model's {kind} are {', '.join(names)}",
        "use one of those names" + ("" if is_dict else f" or an index from 0 to {len(names) - 1}"),
    )


def select_output(raw: Any, spec: Any = None) -> torch.Tensor:
    """The prediction tensor among a model's raw outputs (`spec`: an OutputSpec, a value for
    OutputSpec.parse, or a model carrying one)."""
    if isinstance(raw, torch.Tensor):
        return raw  # one output: nothing to choose (a spec was checked by validate_output)
    if not isinstance(raw, Mapping | list | tuple):
        return torch.as_tensor(raw)  # a runtime's array
    names, tensors = flatten_outputs(raw)
    return tensors[output_position(names, spec, is_dict=isinstance(raw, Mapping))]


def describe_output(raw: Any, spec: Any = None) -> str:
    """What a report says about the chosen output, e.g. 'logits (dict key)', 'output 0 of 2'."""
    if isinstance(raw, torch.Tensor):
        return "logits (single output)"
    names, _ = flatten_outputs(raw)
    is_dict = isinstance(raw, Mapping)
    position = output_position(names, spec, is_dict=is_dict)
    if is_dict:
        return f"{names[position]} (dict key)"
    return f"output {position} of {len(names)} (tuple)"


class FlatOutputs(nn.Module):
    """Export-only view of a model whose forward returns its outputs as a flat tuple, in
    `flatten_outputs` order (ONNX exporters take tensors or tuples, not dicts). Built around
    the very model, so it adds nothing to the model's own state_dict or checkpoints."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(flatten_outputs(self.model(x))[1])


def validate_output(
    model: nn.Module, example: torch.Tensor, output: OutputSpec | int | str | None = None
) -> str:
    """One forward pass on `example`: raise one clear line when the chosen output does not
    exist or is no (batch, classes) tensor; record the choice on the model and return its
    description for reports."""
    spec = OutputSpec.parse(output) if output is not None else output_spec(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            raw = model(example)
    except (RuntimeError, ValueError, TypeError, IndexError):
        set_output(model, spec)  # a wrong input shape: the caller's own check says so
        return "unchecked"
    finally:
        model.train(was_training)
    if isinstance(raw, torch.Tensor) and spec.select not in (None, 0, -1, SINGLE_NAME):
        raise CnnoptError(
            f"--output {spec.select!r} does not exist: the model returns a single tensor",
            "leave --output out for a model with one output",
        )
    chosen = select_output(raw, spec)
    if chosen.ndim != 2 or chosen.shape[0] != example.shape[0]:
        raise CnnoptError(
            f"the chosen output ({describe_output(raw, spec)}) has shape {tuple(chosen.shape)}; "
            "cnnopt needs (batch, classes) logits",
            "pick the logits with --output INDEX|KEY",
        )
    set_output(model, spec)
    return describe_output(raw, spec)
