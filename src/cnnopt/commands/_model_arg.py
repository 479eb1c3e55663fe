"""The `--model` argument every measuring command shares: NAME | CHECKPOINT_DIR | file.py:factory
| weights.pt.

One resolver, so `eval`, `bench` and later commands accept exactly the same spellings and fail
with the same messages. A `.pt`/`.pth` file is read with torch's weights-only loader, which
cannot run code; a file that needs full pickle (a whole pickled nn.Module) is refused unless the
user passes `--trust-pickle`, because unpickling an untrusted file runs whatever it names.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from torch import nn

from cnnopt.commands._common import add_output_argument
from cnnopt.errors import CnnoptError
from cnnopt.models.fit import shape_text

MODEL_HELP = (
    "zoo name (see `cnnopt models`), a checkpoint directory, path/file.py:factory, or a "
    ".pt/.pth state dict (with --model-arch)"
)
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".ckpt")
PICKLE_REFUSED = "this file needs pickle, which can run code"
PICKLE_HINT = "convert it to safetensors or pass --trust-pickle if you trust its source"
_NEEDS_PICKLE = object()  # what the weights-only loader "returns" for a file it refuses


def add_model_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--model", required=required, metavar="NAME|CKPT_DIR|FILE.py:FN|FILE.pt", help=MODEL_HELP
    )
    add_pickle_arguments(parser)
    add_output_argument(parser)


def add_pickle_arguments(parser: argparse.ArgumentParser) -> None:
    """--model-arch and --trust-pickle, for commands whose --model may be a .pt/.pth file."""
    parser.add_argument(
        "--model-arch",
        metavar="NAME|FILE.py:FN",
        help="architecture for a --model .pt/.pth file that holds only a state dict",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow a --model .pt/.pth file that needs full pickle (can run code: only for "
        "files from a source you trust)",
    )


def model_label(spec: str) -> str:
    """A short name for tables and records: the checkpoint's folder name, not its full path."""
    path = Path(spec)
    if path.is_dir():
        return path.resolve().name
    if path.suffix in PICKLE_SUFFIXES:
        return path.stem
    return path.resolve().parent.name if path.suffix == ".safetensors" else spec


def load_model_from_args(
    args: argparse.Namespace, num_classes: int = 10, in_channels: int = 3
) -> nn.Module:
    """`load_model_arg` with the pickle options of `add_model_argument` taken from `args`."""
    return load_model_arg(
        args.model,
        num_classes,
        in_channels,
        trust_pickle=bool(getattr(args, "trust_pickle", False)),
        arch=getattr(args, "model_arch", None),
    )


def load_model_arg(
    spec: str,
    num_classes: int = 10,
    in_channels: int | None = 3,
    *,
    trust_pickle: bool = False,
    arch: str | None = None,
) -> nn.Module:
    """Build the model `--model` names, in eval mode.

    A checkpoint directory brings its own classes and channels, so `num_classes` and
    `in_channels` only shape zoo and file models. Whether the model then fits the data is
    checked by running it (`cnnopt.models.fit`), not guessed here from its first layer.
    `arch` builds the architecture a bare state dict (.pt/.pth) is loaded into.
    `in_channels=None` (no data to match) builds zoo models for RGB.
    """
    path = Path(spec)
    is_pickle = path.suffix.lower() in PICKLE_SUFFIXES
    if arch and not is_pickle:
        raise CnnoptError(
            f"--model-arch only applies to a .pt/.pth state dict, not to --model {spec}",
            "drop --model-arch",
        )
    if path.is_dir() or (path.is_file() and path.suffix == ".safetensors"):
        from cnnopt.train.checkpoint import load_model

        model = load_model(path)
    elif path.is_file() and is_pickle:
        model = load_pickled_model(path, num_classes, in_channels, trust_pickle, arch)
    elif path.is_file() and path.suffix != ".py":
        raise CnnoptError(
            f"--model {spec} is neither a checkpoint nor a Python model file",
            "pass a checkpoint directory (with state.json), its .safetensors file, "
            "path/file.py:factory, or a .pt/.pth state dict",
        )
    elif _looks_like_missing_path(spec):
        raise CnnoptError(
            f"--model {spec}: no such checkpoint directory or file",
            "check the path (relative to this folder), or pass a zoo name (see `cnnopt models`)",
        )
    else:
        from cnnopt.models import resolve_model

        model = resolve_model(spec, num_classes=num_classes, in_channels=in_channels or 3)
        return model.eval()
    return model.eval()


def input_shape_for(
    given: tuple[int, int, int] | None, data: Any, spec: str | None
) -> tuple[int, int, int] | None:
    """The shape to build and run the model for: --input, the dataset's, or the one the
    checkpoint `spec` recorded; None when nothing says. --input must agree with the data."""
    if data is not None:
        if given is not None and tuple(given) != data.input_shape:
            hint = "drop --input (the dataset sets the shape)"
            if given[0] == data.input_shape[0]:
                hint += f", or resize the dataset with --image-size {given[1]}x{given[2]}"
            raise CnnoptError(
                f"--input {shape_text(given)} does not match dataset {data.name!r}, whose "
                f"images are {shape_text(data.input_shape)}",
                hint,
            )
        return data.input_shape
    if given is not None:
        return (given[0], given[1], given[2])
    return recorded_input_shape(spec)


def recorded_input_shape(spec: str | None) -> tuple[int, int, int] | None:
    """The input shape a checkpoint directory recorded (train, apply, prune and optimize's
    best/ write it), or None; for a file (weights, an exported model) its folder's."""
    import json

    if not spec:
        return None
    path = Path(spec)
    directory = path.parent if path.is_file() else path
    try:
        shape = json.loads((directory / "state.json").read_text()).get("input_shape")
    except (OSError, ValueError, AttributeError):
        return None  # no or unreadable state: loading the model reports that properly
    if (
        isinstance(shape, list)
        and len(shape) == 3
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        return (shape[0], shape[1], shape[2])
    return None


def _looks_like_missing_path(spec: str) -> bool:
    """A spec that names a path (a separator, a file suffix) but nothing exists there.

    Zoo names never contain a separator, so saying "no such file" is more helpful than
    "unknown model 'runs/x'" listing the zoo.
    """
    from cnnopt.models.user import is_file_spec

    if is_file_spec(spec) or os.path.exists(spec):
        return False
    suffix = Path(spec).suffix.lower()
    return "/" in spec or os.sep in spec or suffix in (*PICKLE_SUFFIXES, ".safetensors")


def load_pickled_model(
    path: Path, num_classes: int, in_channels: int | None, trust_pickle: bool, arch: str | None
) -> nn.Module:
    """A model from a torch.save file: a state dict (safe) or, when trusted, a whole module.

    The weights-only loader accepts tensors and plain containers and refuses everything else,
    so a state dict never needs the user's trust; only when it refuses is full pickle needed.
    """
    _check_torch_file(path)
    content = _torch_load(path, weights_only=True)
    if content is _NEEDS_PICKLE:
        if not trust_pickle:
            raise CnnoptError(f"--model {path}: {PICKLE_REFUSED}", PICKLE_HINT)
        content = _torch_load(path, weights_only=False)
    if isinstance(content, nn.Module):
        if arch:
            raise CnnoptError(
                f"{path} holds a whole model, so --model-arch {arch} is not needed",
                "drop --model-arch",
            )
        return content
    state_dict = _state_dict_of(content, path)
    if not arch:
        raise CnnoptError(
            f"{path} holds only weights (a state dict of {len(state_dict)} tensors), not which "
            "architecture they belong to",
            "name it with --model-arch NAME (see `cnnopt models`) or --model-arch file.py:factory",
        )
    from cnnopt.models import resolve_model

    in_channels = in_channels or 3
    model = resolve_model(arch, num_classes=num_classes, in_channels=in_channels)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else ""
        raise CnnoptError(
            f"the weights in {path} do not fit --model-arch {arch} ({num_classes} classes, "
            f"{in_channels} channel(s)): {detail[:300]}",
            "pass the architecture (and dataset) the weights were trained with",
        ) from None
    return model


def _check_torch_file(path: Path) -> None:
    """torch.save writes a zip (or, before torch 1.6, a protocol-2 pickle); anything else is
    damaged or foreign, and saying so beats "needs pickle" for a file that is no pickle at all."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise CnnoptError(f"cannot read {path}: {exc.strerror}", "check the file") from None
    if head != b"PK\x03\x04" and head[:1] != b"\x80":
        raise CnnoptError(
            f"cannot read {path}: it is not a torch.save file (no zip or pickle header)",
            "the file is damaged or of another kind; save it again with torch.save",
        )


def _torch_load(path: Path, weights_only: bool) -> Any:
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError as exc:
        if weights_only and "Weights only load failed" in str(exc):
            return _NEEDS_PICKLE
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    except Exception as exc:  # torch raises many types for truncated or foreign files
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    raise CnnoptError(
        f"cannot read {path} as a torch.save file ({reason})",
        "the file is damaged or not a PyTorch checkpoint; save it again with torch.save",
    )


def _state_dict_of(content: Any, path: Path) -> dict[str, Any]:
    """The tensors of a state dict, also when wrapped as {"state_dict": ...} or {"model": ...}."""
    import torch

    if isinstance(content, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(content.get(key), dict):
                content = content[key]
                break
    if (
        isinstance(content, dict)
        and content
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in content.items())
    ):
        return content
    raise CnnoptError(
        f"{path} holds a {type(content).__name__}, not a model or a state dict of tensors",
        "save the model with torch.save(model.state_dict(), path) or as safetensors",
    )
