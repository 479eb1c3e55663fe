"""`cnnopt.load(directory)`: serve a saved artifact directory again, without rebuilding it.

`cnnopt optimize` writes best/ and `cnnopt apply --out` a directory with the same layout: the
float checkpoint after the structure steps (cnnopt.serialize), recipe.yaml whose `target:`
says runtime, precision, batch size and threads, and the runtime's file (model.onnx,
model.xml/.bin). Reloading is the checkpoint plus its recipe's target, served by the runtime
from that very file, so what runs is what was measured. A thin layer on purpose: lowering
and the runtimes own how an artifact is built and served.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from cnnopt.errors import CnnoptError
from cnnopt.lowering import FILE_RUNTIMES, Lowered, LoweringTarget
from cnnopt.recipe import Recipe
from cnnopt.runtimes.base import build_predictor
from cnnopt.serialize import RECIPE, load_directory, read_state

# The file each file-serving runtime loads, as cnnopt.runtimes.export names it.
RUNTIME_FILES = {"onnxruntime": "model.onnx", "onnxruntime-cuda": "model.onnx",
                 "openvino": "model.xml"}  # fmt: skip


def load(directory: str | os.PathLike, example_input: torch.Tensor | None = None) -> Lowered:
    """The artifact a directory holds: `.model` (the PyTorch model, structure included),
    `.predictor` (the artifact in its runtime; call it on a normalized NCHW batch) and
    `.target` (runtime, precision, batch size, threads from recipe.yaml).

    `example_input` is only needed when the directory records no input shape (best/ and
    `cnnopt apply` record it).
    """
    directory = Path(directory)
    model = load_directory(directory, which="last")  # the weights the artifact was made from
    recipe_path = directory / RECIPE
    recipe = Recipe.load(recipe_path) if recipe_path.is_file() else None
    target = (recipe.target if recipe is not None else None) or LoweringTarget()
    example = example_input if example_input is not None else _example(directory, target)
    source: torch.nn.Module | Path = model
    files = []
    if target.runtime in FILE_RUNTIMES:
        source = directory / RUNTIME_FILES.get(target.runtime, "model.onnx")
        if not source.is_file():
            raise CnnoptError(
                f"{directory} has no {source.name} for its target runtime {target.runtime}",
                "load it from the directory `cnnopt optimize` (best/) or `cnnopt apply` wrote",
            )
        files = [source.name]
    elif target.quantize_config is not None:
        raise CnnoptError(
            f"{directory} holds a float model; its {target.precision} form on {target.runtime} "
            "is made from calibration images, which a directory does not keep",
            "rebuild it: cnnopt apply --recipe DIR/recipe.yaml --model BASE --dataset NAME",
        )
    options = {"threads": target.threads, "precision": target.precision}
    predictor = build_predictor(target.runtime, source, example, **options)
    return Lowered(model, predictor, target, files)


def _example(directory: Path, target: LoweringTarget) -> torch.Tensor:
    shape = read_state(directory).get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3):
        raise CnnoptError(
            f"{directory} does not record the input shape its artifact was built for",
            "pass example_input=torch.randn(1, C, H, W)",
        )
    return torch.zeros(target.batch_size, *shape)
