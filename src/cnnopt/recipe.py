"""Recipes: the structure steps and the lowering target that make an artifact, as YAML.

```yaml
model: resnet20          # optional metadata: what it was written for, never enforced
dataset: cifar10
steps:                   # structure transforms, applied in order (each a TransformConfig)
  - {transform: fuse}
  - {transform: prune, ratio: 0.5, importance: l1, finetune_epochs: 1}
  - {transform: distill, epochs: 2}
target:                  # optional: what the model is lowered to (default: eager fp32)
  runtime: onnxruntime
  precision: int8
  quantize: {mode: int8_static, calibration: minmax}
  calibration: {size: 256, seed: 0}
data: {train_images: 1437, finetune_images: 1437, seed: 0}   # optional, see cnnopt.lowering
```

`apply_recipe` runs the steps; `Recipe.build` (and `cnnopt apply`) runs the steps and then the
target's lowering and writes the artifact; cnnopt.lowering documents `target:` and `data:`.
`cnnopt optimize` writes its recommendation's full recipe to best/recipe.yaml, so re-applying
it to the base model rebuilds the same artifact.

Every problem in a recipe (bad YAML, unknown transform or option, a value of the wrong type or
range) is a CnnoptError naming the step, so a long recipe is fixed without guessing. Models
that a recipe reshaped are saved with a full description of their modules (cnnopt.structure)
so they reload with `load_applied` without rerunning the recipe (pruning is data-dependent:
replaying it could choose other widths).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.fieldtypes import first_problem
from cnnopt.fileio import write_text
from cnnopt.lowering import LoweringTarget, RecipeData, data_from_dict
from cnnopt.serialize import load_directory, save_model
from cnnopt.terminal import make_console
from cnnopt.transforms.base import Context, TransformConfig, config_class
from cnnopt.transforms.base import apply as apply_transform

TOP_LEVEL_KEYS = ("steps", "model", "dataset", "name", "description")
SECTIONS = ("target", "data")  # mappings, parsed by cnnopt.lowering


@dataclass
class Recipe:
    steps: list[TransformConfig] = field(default_factory=list)
    model: str | None = None  # what the recipe was written for; informative, never enforced
    dataset: str | None = None
    name: str | None = None
    description: str | None = None
    target: LoweringTarget | None = None  # None: the float model in eager, nothing lowered
    data: RecipeData | None = None  # None: the whole train split, the caller's seed

    @classmethod
    def from_yaml(cls, source: str | os.PathLike) -> Recipe:
        """Parse a recipe from a file path or from YAML text."""
        text, origin = _read_source(source)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise CnnoptError(
                f"recipe {origin} is not valid YAML{line}: {getattr(exc, 'problem', exc)}",
                "check indentation and that each step is a mapping like {transform: fuse}",
            ) from None
        return cls.from_dict(data, origin)

    @classmethod
    def from_dict(cls, data: Any, origin: str = "recipe") -> Recipe:
        if isinstance(data, list):
            data = {"steps": data}
        if not isinstance(data, dict) or "steps" not in data:
            raise CnnoptError(
                f"{origin} has no 'steps' list", "write it as: steps: [{transform: fuse}, ...]"
            )
        unknown = sorted(set(data) - set(TOP_LEVEL_KEYS) - set(SECTIONS))
        if unknown:
            raise CnnoptError(
                f"{origin} has unknown key(s) {', '.join(map(str, unknown))}",
                f"known keys: {', '.join(TOP_LEVEL_KEYS + SECTIONS)}",
            )
        steps = data["steps"] or []
        if not isinstance(steps, list):
            raise CnnoptError(f"'steps' in {origin} must be a list", "prefix each step with '- '")
        configs = [_parse_step(i, step) for i, step in enumerate(steps, start=1)]
        meta = {k: data.get(k) for k in TOP_LEVEL_KEYS if k != "steps"}
        for key, value in meta.items():
            if value is not None and not isinstance(value, str):
                raise CnnoptError(f"'{key}' in {origin} must be text, got {value!r}", "quote it")
        target = LoweringTarget.from_dict(data["target"]) if data.get("target") else None
        recipe_data = data_from_dict(data["data"]) if data.get("data") else None
        return cls(steps=configs, **meta, target=target, data=recipe_data)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            k: getattr(self, k) for k in TOP_LEVEL_KEYS[1:] if getattr(self, k) is not None
        }
        data["steps"] = [step.to_dict() for step in self.steps]
        if self.target is not None:
            data["target"] = self.target.to_dict()
        if self.data is not None:
            data["data"] = dataclasses.asdict(self.data)
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def save(self, path: str | os.PathLike) -> Path:
        return write_text(path, self.to_yaml())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recipe:
        if not Path(path).is_file():
            raise CnnoptError(f"recipe file {path} does not exist", "check the path")
        return cls.from_yaml(Path(path))

    @property
    def needs_finetune(self) -> bool:
        return any(type(step).needs_finetune for step in self.steps)

    def build(self, model: nn.Module, train_split: Any, val_data: Any = None, **options: Any):
        """Rebuild the artifact this recipe describes from the base `model`: the steps, then
        the target's lowering (see cnnopt.lowering.build_artifact for `options`)."""
        from cnnopt.lowering import build_artifact

        return build_artifact(model, self, train_split, val_data, **options)


def _read_source(source: str | os.PathLike) -> tuple[str, str]:
    """A path (existing, or named *.yaml/*.yml) is read; any other string is YAML text."""
    text = os.fspath(source)
    is_path = isinstance(source, os.PathLike) or (
        "\n" not in text and (text.endswith((".yaml", ".yml")) or os.path.isfile(text))
    )
    if not is_path:
        return text, "recipe"
    path = Path(text)
    if not path.is_file():
        raise CnnoptError(f"recipe file {path} does not exist", "check the path")
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise CnnoptError(f"cannot read recipe {path}: {exc}", "check the file") from None


def _parse_step(number: int, step: Any) -> TransformConfig:
    if isinstance(step, str):
        step = {"transform": step}
    if not isinstance(step, dict) or "transform" not in step:
        raise CnnoptError(
            f"recipe step {number} must be a mapping with a 'transform' key, got {step!r}",
            "e.g. - {transform: prune, ratio: 0.5}",
        )
    try:
        cls = config_class(str(step["transform"]))
        version = step.get("version", cls.VERSION)
        if not isinstance(version, int) or version > cls.VERSION:
            raise CnnoptError(
                f"version {version!r} is newer than this cnnopt knows ({cls.VERSION})",
                "upgrade cnnopt or drop the version key",
            )
    except CnnoptError as exc:
        raise CnnoptError(f"recipe step {number}: {exc.message}", exc.hint) from None
    problem = first_problem(cls, {k: v for k, v in step.items() if k != "transform"})
    if problem:
        raise CnnoptError(
            f"recipe step {number} ({cls.name}): {problem}",
            "write numbers and true/false without quotes, e.g. finetune_epochs: 2",
        )
    try:
        return cls.from_dict(step)
    except CnnoptError as exc:
        raise CnnoptError(f"recipe step {number}: {exc.message}", exc.hint) from None


RecipeSource = Recipe | Sequence[TransformConfig | Mapping[str, Any] | str] | str | os.PathLike
"""What `apply_recipe` and `apply` take as a recipe: a Recipe, a list of steps (configs,
mappings like {"transform": "prune", "ratio": 0.5}, or bare names like "fuse"), a YAML file
path, or YAML text."""


def as_recipe(source: RecipeSource) -> Recipe:
    """A Recipe from any `RecipeSource`, with the same step-numbered errors as a YAML file."""
    if isinstance(source, Recipe):
        return source
    if isinstance(source, str | os.PathLike):
        return Recipe.from_yaml(source)
    if isinstance(source, Sequence):
        steps = [
            step if isinstance(step, TransformConfig) else _parse_step(number, step)
            for number, step in enumerate(source, start=1)
        ]
        return Recipe(steps=steps)
    raise CnnoptError(
        f"a recipe must be a Recipe, a list of steps, a YAML path or YAML text, not "
        f"{type(source).__name__}",
        "e.g. [PruneConfig(ratio=0.5), FuseConfig()] or 'steps: [{transform: fuse}]'",
    )


def apply_recipe(
    model: nn.Module, recipe: RecipeSource, ctx: Context | None = None, progress: bool = True
) -> nn.Module:
    """Apply every step to a copy of `model` and return the copy; the caller's model stays
    untouched (so it can be the teacher, the baseline, or the start of another recipe).

    The untouched original is the distillation teacher unless the context names one, so
    `distill` (and fine-tuning inside prune/low-rank/rewrite) learns from the model the recipe
    started from. `recipe` is any `RecipeSource`.
    """
    recipe = as_recipe(recipe)
    ctx = ctx or Context()
    work = copy.deepcopy(model)
    teacher = ctx.teacher
    if teacher is None and (recipe.needs_finetune or _has_distill(recipe)):
        teacher = copy.deepcopy(model).eval()
    run_ctx = dataclasses.replace(ctx, teacher=teacher)  # shares the caller's ctx.notes
    for number, step in _steps_with_progress(recipe, progress and ctx.progress):
        torch.manual_seed(ctx.seed)  # as the search does per step: a recipe replays exactly
        try:
            work = apply_transform(work, step, run_ctx)
        except CnnoptError as exc:
            raise CnnoptError(
                f"recipe step {number} ({step.name}): {exc.message}", exc.hint
            ) from None
    return work


def apply(
    model: nn.Module, what: TransformConfig | RecipeSource, ctx: Context | None = None
) -> nn.Module:
    """`cnnopt.apply`: one transform config, or a whole recipe (any `RecipeSource`).

    One config runs like torchao's `quantize_`: the model may be modified in place, so use
    the returned one (a pruned model is a new object). A recipe runs on a copy, as
    `apply_recipe` does, and the given model is left untouched.
    """
    if isinstance(what, TransformConfig):
        return apply_transform(model, what, ctx)
    return apply_recipe(model, what, ctx)


def _has_distill(recipe: Recipe) -> bool:
    return any(step.name == "distill" for step in recipe.steps)


def _steps_with_progress(recipe: Recipe, progress: bool):
    steps = list(enumerate(recipe.steps, start=1))
    if not progress or not steps:
        yield from steps
        return
    from rich.progress import Progress

    # The library's own console (stderr, log-friendly), never the CLI's: nothing below the
    # command line imports it.
    with Progress(console=make_console(), transient=True) as bar:
        task = bar.add_task("applying recipe", total=len(steps))
        for number, step in steps:
            bar.update(task, description=f"step {number}/{len(steps)}: {step.name}")
            yield number, step
            bar.advance(task)


# --- saving and reloading reshaped models -------------------------------------------------
# The format (weights, state.json, the structure of a pruned/factorized model) and its loader
# live in cnnopt.serialize; these keep the recipe-flavoured names.


def save_applied(
    directory: str | os.PathLike,
    model: nn.Module,
    recipe: Recipe,
    extra_state: dict[str, Any] | None = None,
    example_input: torch.Tensor | None = None,
) -> Path:
    """A checkpoint directory (safetensors + state.json) plus recipe.yaml, written atomically.

    With `example_input` (any batch size; only its shape is used) the model's outputs on a
    seeded input of that shape are stored too, and the reload proves itself with them.
    """
    return save_model(directory, model, recipe, extra_state, example_input)


def load_applied(
    directory: str | os.PathLike, base: nn.Module | None = None, which: str = "last"
) -> nn.Module:
    """Rebuild a model written by `save_applied` (or `cnnopt apply`), in eval mode: the same
    as `cnnopt.load_model(directory, arch=base, which=which)`.

    The starting architecture comes from the saved spec, or from `base` (a freshly built
    instance of it, for models no spec describes); it is not modified. `which="best"` loads
    a training checkpoint's best-validation weights when it has them.
    """
    return load_directory(directory, base, which)
