"""The one on-disk model format and the one loader, shared by the CLI and Python.

`checkpoint` owns the format (safetensors weights, state.json, the structure of a reshaped
model, recipe.yaml) and `loader` turns anything a user names (zoo name, file.py:factory,
checkpoint directory, .safetensors / .pt / .pth weights) into a model with one pickle policy.
Training, recipes, the search and every command save and load through here and nowhere
else, so a model saved by one reloads in all the others.
"""

from cnnopt.serialize.checkpoint import (
    BEST_WEIGHTS,
    RECIPE,
    STATE,
    TRAINER_STATE,
    WEIGHTS,
    load_checkpoint,
    load_directory,
    load_weights,
    read_state,
    save_checkpoint,
    save_model,
    save_weights,
)
from cnnopt.serialize.loader import (
    CLI,
    PICKLE_SUFFIXES,
    PYTHON,
    Spelling,
    load_model,
    source_kind,
    state_dict_of,
)

__all__ = [
    "BEST_WEIGHTS",
    "CLI",
    "PICKLE_SUFFIXES",
    "PYTHON",
    "RECIPE",
    "STATE",
    "TRAINER_STATE",
    "WEIGHTS",
    "Spelling",
    "load_checkpoint",
    "load_directory",
    "load_model",
    "load_weights",
    "read_state",
    "save_checkpoint",
    "save_model",
    "save_weights",
    "source_kind",
    "state_dict_of",
]
