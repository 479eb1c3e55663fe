"""Checkpoints as plain files: weights in safetensors, trainer state via torch.save, JSON meta.

Layout of a checkpoint directory:
    model.safetensors   the latest weights (what a resumed run continues from)
    best.safetensors    the best-validation weights, when a validation split was used
    trainer.pt          optimizer, scheduler and RNG state (tensors and plain containers only,
                        so it loads with `weights_only=True`: no pickled code ever runs)
    state.json          epoch, step, history, model spec, config

Every file is written atomically, weights first and state.json last, so a crash never leaves
a state.json that points at weights that do not exist. Each weights file also carries the
step it was saved at, so a crash between two renames is detected instead of silently mixing
weights and state from different epochs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.fileio import atomic_path, ensure_dir, safe_join, write_json
from cnnopt.outputs import output_spec, set_output

WEIGHTS = "model.safetensors"
BEST_WEIGHTS = "best.safetensors"
TRAINER_STATE = "trainer.pt"
STATE = "state.json"


def save_weights(
    path: str | Path, model: nn.Module | dict[str, torch.Tensor], step: int = 0
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
    path_dir: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
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
        # rebuilds it, so the checkpoint carries its structure like `save_applied` does.
        from cnnopt.structure import describe_structure

        state["base_spec"], state["structure"] = base_spec, describe_structure(model)
    write_json(directory / STATE, state)
    return directory


def read_state(path_dir: str | Path) -> dict[str, Any]:
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


def load_checkpoint(
    path_dir: str | Path,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    *,
    which: str = "last",
) -> dict[str, Any]:
    """Load a checkpoint into the given objects; returns state.json plus `rng` (if saved).

    `which="best"` loads the best-validation weights when there are any (else the last).
    `model=None` rebuilds the architecture from the stored spec; the model is returned
    under the key "model" either way.
    """
    directory = Path(path_dir)
    if directory.is_file():
        directory = directory.parent
    state = read_state(directory)
    spec = state.get("model_spec")
    if model is None:
        model = _model_from_spec(spec, directory)
    else:
        _check_same_architecture(spec, model)
    name = WEIGHTS
    if which == "best" and state.get("best_weights"):
        name = state["best_weights"]
    # state.json names its files; safe_join keeps a crafted one from reaching outside the dir.
    _load_weights(safe_join(directory, str(name)), model, spec, int(state.get("step", 0)))
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


def load_model(path: str | Path, which: str = "best") -> nn.Module:
    """Rebuild a trained model from a checkpoint directory (or its .safetensors file).

    Defaults to the best-validation weights, i.e. the model `train` returned.
    """
    target = Path(path)
    if target.is_file() and target.suffix == ".safetensors":
        which = "best" if target.name == BEST_WEIGHTS else "last"
    directory = target.parent if target.is_file() else target
    if (directory / STATE).is_file() and read_state(directory).get("structure"):
        # Pruned/reshaped by a recipe: the zoo spec alone no longer describes its shapes.
        from cnnopt.recipe import load_applied

        return set_output(load_applied(directory, which=which), read_state(directory).get("output"))
    model = load_checkpoint(target, which=which)["model"]
    model.eval()
    return set_output(model, read_state(directory).get("output"))


def _model_from_spec(spec: Any, directory: Path) -> nn.Module:
    if not isinstance(spec, dict):
        raise CnnoptError(
            f"checkpoint {directory} does not say which architecture it holds",
            "it was saved from a model not built by create_model; pass model= to load_checkpoint",
        )
    from cnnopt.models import model_from_spec

    return model_from_spec(spec)


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


def load_weights(
    path: str | Path, model: nn.Module, spec: Any = None, expected_step: int | None = None
) -> None:
    """Strictly load a safetensors file into `model`; damage or a mismatch is a CnnoptError."""
    _load_weights(Path(path), model, spec, expected_step)


def _load_weights(path: Path, model: nn.Module, spec: Any, expected_step: int | None) -> None:
    if not path.is_file():
        raise CnnoptError(f"checkpoint weights {path} are missing", "re-run training")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CnnoptError(
            f"cannot read {path}: {exc}", "the file is damaged; re-run training"
        ) from None
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
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0] if first else ""
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
