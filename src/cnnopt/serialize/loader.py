"""`load_model(source)`: the one way to turn what a user names into a model, in eval mode.

A source is a zoo name, `path/file.py:factory`, a checkpoint directory (or its .safetensors
file), a bare `.safetensors` weights file, or a torch.save file (`.pt/.pth/.pkl/.ckpt`). The
CLI's `--model` and Python's `cnnopt.load_model` are this one function, so both accept the
same spellings, apply the same pickle policy and fail with the same messages (the CLI names
its flags in them, Python its keywords: see `Spelling`).

Pickle policy: a torch.save file is read with torch's weights-only loader, which cannot run
code. A file that needs full pickle (a whole pickled nn.Module) is refused unless the caller
trusts it (`trust_pickle=True`, `--trust-pickle`), because unpickling an untrusted file runs
whatever it names. A state dict needs no trust; it only needs an architecture (`arch`),
and is also found inside the usual wrappers ({"state_dict": ...}, {"model": ...}).
"""

from __future__ import annotations

import copy
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.models import resolve_model
from cnnopt.models.user import is_file_spec
from cnnopt.serialize.checkpoint import STATE, first_detail, load_directory, read_safetensors

PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".ckpt")
WEIGHT_SUFFIXES = (*PICKLE_SUFFIXES, ".safetensors")
PICKLE_REFUSED = "this file needs pickle, which can run code"
_NEEDS_PICKLE = object()  # what the weights-only loader "returns" for a file it refuses
_STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")  # common training wrappers

SourceKind = Literal["checkpoint", "weights", "file", "zoo"]


@dataclass(frozen=True)
class Spelling:
    """How error messages name the loader's inputs: Python's keywords, or the CLI's flags.

    One loader serves both, and a hint must say what *this* user can type.
    """

    source: str = "model"
    arch: str = "arch"
    trust: str = "trust_pickle=True"
    arch_example: str = (
        "pass arch='NAME' (see cnnopt.list_models()), arch='file.py:factory' or a fresh "
        "instance of the model"
    )


PYTHON = Spelling()
CLI = Spelling(
    source="--model",
    arch="--model-arch",
    trust="--trust-pickle",
    arch_example="name it with --model-arch NAME (see `cnnopt models`) or "
    "--model-arch file.py:factory",
)


def source_kind(source: str | os.PathLike) -> SourceKind:
    """What `source` names: a checkpoint directory (or a file inside one), a bare weights
    file, a Python file factory, or else a zoo name. Callers use it to tell trained models
    (checkpoint, weights) from fresh architectures (file, zoo)."""
    path = Path(source)
    in_checkpoint = path.is_file() and (path.parent / STATE).is_file()
    if path.is_dir() or (in_checkpoint and path.suffix == ".safetensors"):
        return "checkpoint"
    if path.suffix.lower() in WEIGHT_SUFFIXES:
        return "weights"
    return "file" if is_file_spec(str(source)) else "zoo"


def load_model(
    source: str | os.PathLike,
    *,
    arch: str | nn.Module | None = None,
    trust_pickle: bool = False,
    num_classes: int = 10,
    in_channels: int = 3,
    width: float = 1.0,
    which: str = "best",
    spelling: Spelling = PYTHON,
) -> nn.Module:
    """The model `source` names, in eval mode; nothing the caller passed is modified.

    - zoo name / `file.py:factory`: a fresh (untrained) architecture built for `num_classes`,
      `in_channels` and `width`;
    - checkpoint directory (or its `.safetensors`): the trained model, pruned/factorized
      structure included, with `which="best"` its best-validation weights when it has them;
      `arch` gives the architecture of a checkpoint that does not name one;
    - `.safetensors` / `.pt` / `.pth` weights: loaded into `arch` (a zoo name, a
      `file.py:factory` or a fresh nn.Module, built for `num_classes` and `in_channels`);
    - a torch.save file of a whole pickled model: only with `trust_pickle=True`.

    A checkpoint brings its own classes and channels, so `num_classes`/`in_channels` only
    shape what is built here; whether the model fits the data is checked by running it
    (cnnopt.models.fit), not guessed here.
    """
    spec = os.fspath(source)
    path = Path(spec)
    kind = source_kind(spec)
    if arch is not None and kind in ("file", "zoo"):
        raise CnnoptError(
            f"{spelling.arch} only applies to a weights file (.pt/.pth/.safetensors) or a "
            f"checkpoint, not to {spelling.source} {spec}",
            f"drop {spelling.arch}",
        )
    build = {"num_classes": num_classes, "in_channels": in_channels, "width": width}
    if kind == "checkpoint":
        base = _build(arch, build) if arch is not None else None
        which = _which_file(path, which)
        return load_directory(path, base, which)
    if path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES:
        return _load_torch_file(path, arch, build, trust_pickle, spelling).eval()
    if path.is_file() and path.suffix == ".safetensors":
        tensors, _ = read_safetensors(path)
        return _into_arch(tensors, path, arch, build, spelling).eval()
    if path.is_file() and path.suffix != ".py":
        raise CnnoptError(
            f"{spelling.source} {spec} is neither a checkpoint nor a Python model file",
            "pass a checkpoint directory (with state.json), its .safetensors file, "
            "path/file.py:factory, or a .pt/.pth/.safetensors state dict",
        )
    if _looks_like_missing_path(spec):
        raise CnnoptError(
            f"{spelling.source} {spec}: no such checkpoint directory or file",
            "check the path (relative to this folder), or pass a zoo name (see `cnnopt models`)",
        )
    return resolve_model(spec, **build).eval()


def _which_file(path: Path, which: str) -> str:
    """A checkpoint's .safetensors file names which weights it means."""
    if path.is_file() and path.suffix == ".safetensors":
        return "best" if path.name == "best.safetensors" else "last"
    return which


def _build(arch: str | nn.Module, build: dict[str, Any]) -> nn.Module:
    """A fresh architecture: the caller's instance is deep-copied (it stays untouched)."""
    if isinstance(arch, nn.Module):
        return copy.deepcopy(arch)
    return resolve_model(arch, **build)


def _looks_like_missing_path(spec: str) -> bool:
    """A spec that names a path (a separator, a file suffix) but nothing exists there.

    Zoo names never contain a separator, so saying "no such file" is more helpful than
    "unknown model 'runs/x'" listing the zoo.
    """
    if is_file_spec(spec) or os.path.exists(spec):
        return False
    suffix = Path(spec).suffix.lower()
    return "/" in spec or os.sep in spec or suffix in WEIGHT_SUFFIXES


# --- weights files ------------------------------------------------------------------------


def _load_torch_file(
    path: Path,
    arch: str | nn.Module | None,
    build: dict[str, Any],
    trust_pickle: bool,
    spelling: Spelling,
) -> nn.Module:
    """A model from a torch.save file: a state dict (safe) or, when trusted, a whole module.

    The weights-only loader accepts tensors and plain containers and refuses everything else,
    so a state dict never needs the user's trust; only when it refuses is full pickle needed.
    """
    _check_torch_file(path)
    content = _torch_load(path, weights_only=True)
    if content is _NEEDS_PICKLE:
        if not trust_pickle:
            raise CnnoptError(
                f"{spelling.source} {path}: {PICKLE_REFUSED}",
                f"convert it to safetensors or pass {spelling.trust} if you trust its source",
            )
        content = _torch_load(path, weights_only=False)
    if isinstance(content, nn.Module):
        if arch is not None:
            raise CnnoptError(
                f"{path} holds a whole model, so {spelling.arch} {_label(arch)} is not needed",
                f"drop {spelling.arch}",
            )
        return content
    return _into_arch(state_dict_of(content, path), path, arch, build, spelling)


def _into_arch(
    state_dict: dict[str, torch.Tensor],
    path: Path,
    arch: str | nn.Module | None,
    build: dict[str, Any],
    spelling: Spelling,
) -> nn.Module:
    """Build `arch` and load a bare state dict into it, strictly."""
    if arch is None:
        raise CnnoptError(
            f"{path} holds only weights (a state dict of {len(state_dict)} tensors), not which "
            "architecture they belong to",
            spelling.arch_example,
        )
    model = _build(arch, build)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        shape = f"{build['num_classes']} classes, {build['in_channels']} channel(s)"
        raise CnnoptError(
            f"the weights in {path} do not fit {spelling.arch} {_label(arch)} ({shape}): "
            f"{first_detail(exc)[:300]}",
            "pass the architecture (and dataset) the weights were trained with",
        ) from None
    return model


def _label(arch: str | nn.Module) -> str:
    return arch if isinstance(arch, str) else type(arch).__name__


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


def state_dict_of(content: Any, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a state dict, also when wrapped as {"state_dict": ...} or {"model": ...}
    (what training scripts and Lightning-style checkpoints save)."""
    if isinstance(content, dict):
        for key in _STATE_DICT_KEYS:
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
