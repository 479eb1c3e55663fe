"""Checkpoint directories: safetensors weights, state.json, and the structure of a reshaped model.

Layout of a checkpoint directory:
    model.safetensors   the latest weights (what a resumed run continues from)
    best.safetensors    the best-validation weights, when a validation split was used
    trainer.pt          optimizer, scheduler and RNG state (tensors and plain containers only,
                        so it loads with `weights_only=True`: no pickled code ever runs)
    state.json          epoch, step, history, config; the model spec (which zoo name or
                        file.py:factory builds the architecture); for a pruned/factorized model
                        its base spec and structure (cnnopt.structure); which output is the
                        prediction; for a saved recipe result, the outputs that prove a reload
    recipe.yaml         the recipe that made the model, when one did

Every file is written atomically, weights first and state.json last, so a crash never leaves
a state.json that points at weights that do not exist. Each weights file also carries the
step it was saved at, so a crash between two renames is detected instead of silently mixing
weights and state from different epochs.

This module sits below training, recipes and the CLI: all of them write and read through it,
so there is one format and one way to rebuild a model from it.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.fileio import atomic_path, ensure_dir, safe_join, write_json, write_text
from cnnopt.models import model_from_spec
from cnnopt.outputs import output_spec, set_output
from cnnopt.structure import check_record, describe_structure, rebuild_structure, verify_outputs

WEIGHTS = "model.safetensors"
BEST_WEIGHTS = "best.safetensors"
TRAINER_STATE = "trainer.pt"
STATE = "state.json"
RECIPE = "recipe.yaml"


class RecipeLike(Protocol):
    """What `save_model` needs of a cnnopt.recipe.Recipe (this module sits below recipes)."""

    def to_dict(self) -> dict[str, Any]: ...

    def to_yaml(self) -> str: ...


# --- writing ------------------------------------------------------------------------------


def save_weights(
    path: str | os.PathLike, model: nn.Module | dict[str, torch.Tensor], step: int = 0
) -> Path:
    """Write a model's (or a state dict's) tensors as safetensors.

    Cloning each tensor makes it contiguous and unties shared storage (tied weights, views),
    which safetensors refuses to write; load_state_dict restores both names from the copies.
    """
    state_dict = model.state_dict() if isinstance(model, nn.Module) else model
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"step": str(step), "format": "pt"})
    return Path(path)


def save_checkpoint(
    path_dir: str | os.PathLike,
    model: nn.Module,
    optimizer: Any = None,
    scheduler: Any = None,
    state: dict[str, Any] | None = None,
    *,
    best: nn.Module | dict[str, torch.Tensor] | None = None,
    rng: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Save everything needed to rebuild the model, and with optimizer/scheduler to resume.

    `state` is free-form JSON (epoch, step, history, config ...); the model spec stamped by
    create_model is added so `load_model` can rebuild the architecture without code. `best`
    (model or state dict) is stored as the best-validation weights; `rng` holds generator
    states for an exact resume.
    """
    directory = ensure_dir(path_dir)
    state = dict(state or {})
    step = int(state.get("step", 0))
    save_weights(directory / WEIGHTS, model, step)
    if best is not None:
        save_weights(directory / BEST_WEIGHTS, best, step)
        state["best_weights"] = BEST_WEIGHTS
    if optimizer is not None or scheduler is not None or rng:
        trainer_state = {
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": dict(rng or {}),
        }
        with atomic_path(directory / TRAINER_STATE) as tmp:
            torch.save(trainer_state, tmp)
        state["trainer_state"] = TRAINER_STATE
    state["weights"] = WEIGHTS
    state.setdefault("model_spec", getattr(model, "cnnopt_spec", None))
    if not output_spec(model).is_default:  # which of several outputs is the prediction
        state.setdefault("output", output_spec(model).to_json())
    base_spec = getattr(model, "cnnopt_base_spec", None)
    if state["model_spec"] is None and isinstance(base_spec, dict) and "structure" not in state:
        # A pruned/factorized model (e.g. fine-tuned after a recipe): its spec alone no longer
        # rebuilds it, so the checkpoint carries its structure like `save_model` does.
        state["base_spec"], state["structure"] = base_spec, describe_structure(model)
    write_json(directory / STATE, state)
    return directory


def save_model(
    directory: str | os.PathLike,
    model: nn.Module,
    recipe: RecipeLike | None = None,
    state: dict[str, Any] | None = None,
    example_input: torch.Tensor | None = None,
) -> Path:
    """A checkpoint of any model, reshaped or not, that `load_model(directory)` rebuilds.

    The structure is always stored (a recipe may have pruned or swapped layers, which the
    spec alone cannot say); with `recipe` its YAML goes beside the weights and into
    state.json. With `example_input` (any batch size; only its shape is used) the model's
    outputs on a seeded input of that shape are stored too, and the reload is proved with them.
    """
    base_spec = getattr(model, "cnnopt_spec", None) or getattr(model, "cnnopt_base_spec", None)
    full_state = {
        **(state or {}),
        "model_spec": getattr(model, "cnnopt_spec", None),
        "base_spec": base_spec,
        "structure": describe_structure(model),
        "check": check_record(model, example_input),
    }
    if recipe is not None:
        full_state["recipe"] = recipe.to_dict()
    out = save_checkpoint(directory, model, state=full_state)
    if recipe is not None:
        write_text(out / RECIPE, recipe.to_yaml())
    return out


# --- reading ------------------------------------------------------------------------------


def read_state(path_dir: str | os.PathLike) -> dict[str, Any]:
    """state.json of a checkpoint directory, with clear errors for missing or broken files."""
    directory = Path(path_dir)
    if directory.is_file() and directory.suffix == ".safetensors":
        directory = directory.parent
    state_path = directory / STATE
    if not state_path.is_file():
        raise CnnoptError(
            f"no checkpoint in {directory} (state.json is missing)",
            "point to a directory written by `cnnopt train` or save_checkpoint",
        )
    try:
        state = json.loads(state_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CnnoptError(f"{state_path} is not valid JSON: {exc}", "re-run training") from None
    if not isinstance(state, dict):
        raise CnnoptError(f"{state_path} does not hold a checkpoint state", "re-run training")
    return state


def load_directory(
    path_dir: str | os.PathLike, base: nn.Module | None = None, which: str = "best"
) -> nn.Module:
    """Rebuild the model a checkpoint directory holds, in eval mode, whatever wrote it.

    The architecture comes from the saved spec (or `base`, a freshly built instance for models
    no spec describes; it is copied, not modified), is resized to the saved structure when a
    recipe reshaped it, then the weights load strictly. `which="best"` takes the
    best-validation weights when there are any, else the last ones.
    """
    directory = Path(path_dir)
    if directory.is_file():
        directory = directory.parent
    state = read_state(directory)
    model = _architecture(state, directory, base)
    weights = _weights_name(state, which)
    load_weights(safe_join(directory, weights), model, state.get("model_spec"), _step(state))
    if weights == state.get("weights", WEIGHTS):  # the stored outputs are the last weights'
        verify_outputs(model, state.get("check"), str(directory))
    if state.get("model_spec") is None:  # reshaped: its base spec no longer rebuilds it alone
        model.cnnopt_spec = None  # type: ignore[assignment]
        model.cnnopt_base_spec = state.get("base_spec")  # type: ignore[assignment]
    return set_output(model, state.get("output")).eval()


def load_checkpoint(
    path_dir: str | os.PathLike,
    model: nn.Module | None = None,
    optimizer: Any = None,
    scheduler: Any = None,
    *,
    which: str = "last",
) -> dict[str, Any]:
    """Load a checkpoint into the given objects (to resume training); returns state.json plus
    `model` and `rng` (if saved).

    `which="best"` loads the best-validation weights when there are any (else the last).
    `model=None` rebuilds the architecture as `load_directory` does; a given model must be
    the architecture the checkpoint names and is loaded in place.
    """
    directory = Path(path_dir)
    if directory.is_file():
        directory = directory.parent
    state = read_state(directory)
    if model is None:
        model = load_directory(directory, which=which)
    else:
        spec = state.get("model_spec")
        _check_same_architecture(spec, model)
        weights = safe_join(directory, _weights_name(state, which))
        load_weights(weights, model, spec, _step(state))
    result = dict(state)
    result["model"] = model
    if optimizer is not None or scheduler is not None:
        trainer_state = _load_trainer_state(directory, state)
        if optimizer is not None and trainer_state.get("optimizer") is not None:
            optimizer.load_state_dict(trainer_state["optimizer"])
        if scheduler is not None and trainer_state.get("scheduler") is not None:
            scheduler.load_state_dict(trainer_state["scheduler"])
        result["rng"] = trainer_state.get("rng") or {}
    return result


def _weights_name(state: dict[str, Any], which: str) -> str:
    """state.json names its files; callers pass it through safe_join (never outside the dir)."""
    if which == "best" and state.get("best_weights"):
        return str(state["best_weights"])
    return str(state.get("weights", WEIGHTS))


def _step(state: dict[str, Any]) -> int:
    return int(state.get("step", 0))


def _architecture(state: dict[str, Any], directory: Path, base: nn.Module | None) -> nn.Module:
    """A fresh instance of the architecture the checkpoint started from, reshaped as saved."""
    spec = state.get("base_spec") or state.get("model_spec")
    if base is not None:
        model = copy.deepcopy(base)
    elif isinstance(spec, dict):
        model = model_from_spec(spec)
    else:
        raise CnnoptError(
            f"checkpoint {directory} does not say which architecture it holds",
            "it was saved from a model that neither the zoo nor a file.py:factory built: "
            "pass a fresh instance, load_model(path, arch=model) (--model-arch on the CLI)",
        )
    structure = state.get("structure")
    return rebuild_structure(model, structure) if structure else model


def _check_same_architecture(spec: Any, model: nn.Module) -> None:
    mine = getattr(model, "cnnopt_spec", None)
    if not isinstance(spec, dict) or not isinstance(mine, dict):
        return
    keys = ("name", "num_classes", "in_channels", "width", "kwargs")
    if any(spec.get(k) != mine.get(k) for k in keys):
        raise CnnoptError(
            f"checkpoint is for {_describe(spec)}, not {_describe(mine)}",
            "build the model with the same name, width and options, or use load_model(path)",
        )


def _describe(spec: dict[str, Any]) -> str:
    text = f"{spec.get('name')} (width {spec.get('width')}, {spec.get('num_classes')} classes"
    if spec.get("kwargs"):
        text += f", {spec['kwargs']}"
    return text + ")"


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a safetensors file; damage is a CnnoptError, not a traceback."""
    path = Path(path)
    if not path.is_file():
        raise CnnoptError(f"checkpoint weights {path} are missing", "re-run training")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError) as exc:
        raise CnnoptError(
            f"cannot read {path}: {exc}", "the file is damaged; re-run training"
        ) from None


def load_weights(
    path: str | os.PathLike, model: nn.Module, spec: Any = None, expected_step: int | None = None
) -> None:
    """Strictly load a safetensors file into `model`; damage or a mismatch is a CnnoptError."""
    path = Path(path)
    tensors, metadata = read_safetensors(path)
    saved_step = metadata.get("step")
    if saved_step is not None and expected_step is not None and int(saved_step) != expected_step:
        raise CnnoptError(
            f"{path.name} is from step {saved_step} but state.json from step {expected_step} "
            "(a save was interrupted)",
            "train again without --resume, or into a new directory",
        )
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        got = getattr(model, "cnnopt_spec", None)
        what = _describe(spec) if isinstance(spec, dict) else "another architecture"
        mine = _describe(got) if isinstance(got, dict) else type(model).__name__
        detail = first_detail(exc)
        if isinstance(spec, dict) and spec == got:
            # state.json and the model agree, so the weights file itself is the odd one out.
            raise CnnoptError(
                f"{path} does not hold the weights of the {what} that state.json describes "
                f"(the file was replaced or copied from another run): {detail[:300]}",
                "restore the original file or re-run training",
            ) from None
        raise CnnoptError(
            f"checkpoint is for {what}, not {mine}: {detail}",
            "load it with load_model(path), which rebuilds the right architecture",
        ) from None


def first_detail(exc: Exception) -> str:
    """The line of a load_state_dict error that names the keys or shapes (its second)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else lines[0] if lines else ""


def _load_trainer_state(directory: Path, state: dict[str, Any]) -> dict[str, Any]:
    path = safe_join(directory, str(state.get("trainer_state", TRAINER_STATE)))
    if not path.is_file():
        raise CnnoptError(
            f"{path} is missing: this checkpoint cannot resume training",
            "train again without --resume",
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged or unsafe files
        raise CnnoptError(f"cannot read {path}: {exc}", "train again without --resume") from None
