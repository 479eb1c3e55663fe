"""A recipe's `target:` and `data:` sections, and rebuilding the artifact they describe.

Structure steps (prune, low-rank, ...) make a float model; the target says what it was lowered
to: runtime, precision, the quantize options and the exact calibration images. The data
section says how the training images the steps fine-tuned on were drawn. With both, the
recipe a search writes to best/recipe.yaml rebuilds the same artifact from the base model:

```yaml
data:                      # images drawn from the dataset's train split, all with `seed`
  train_images: 1437       # train = split.take(train_images, seed): the search's training set
  finetune_images: 1437    # fine-tuning set = train.take(finetune_images, seed)
  seed: 0
target:
  runtime: onnxruntime     # eager | compile | onnxruntime | openvino | ...
  precision: int8          # fp32 | bf16 | fp16 | int8 | qat | mixed
  batch_size: 1            # the serving batch the latency was measured at
  threads: null            # serving threads (null: all)
  quantize: {mode: int8_static, calibration: minmax, calib_size: 512, per_channel: true, ...}
  calibration: {size: 256, seed: 0, sha256: 5be1...}  # images = train.take(size, seed)
```

A recipe without `target:` is the float model in eager (nothing to lower); without `data:`
the whole train split is used. `sha256` fingerprints the calibration images, so re-applying
on changed data says so instead of silently calibrating on other images.

Quantization is kept here, at lowering, rather than among the structure steps: int8 is a
property of the runtime's graph, and this is the seam a later `lower() -> Artifact` grows from.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.fieldtypes import first_problem

# Precision name (as the search and the runtimes spell it) -> the quantize modes it allows;
# the first is the default when the target gives no quantize options.
PRECISION_MODES: dict[str, tuple[str, ...]] = {
    "fp32": (),
    "bf16": ("bf16",),
    "fp16": ("fp16",),
    "int8": ("int8_static", "int8_dynamic"),
    "qat": ("qat",),
    "mixed": ("mixed",),
}
DEFAULT_CALIBRATION_IMAGES = 256


@dataclass
class Calibration:
    """Which images calibrate int8 (and start QAT): train.take(size, seed)."""

    size: int = DEFAULT_CALIBRATION_IMAGES
    seed: int = 0
    sha256: str | None = None  # of those images' bytes; None: not checked


@dataclass
class RecipeData:
    """How the training images were drawn from the dataset's train split."""

    train_images: int | None = None  # None: the whole split
    finetune_images: int | None = None  # None: all of train
    seed: int = 0


@dataclass
class LoweringTarget:
    runtime: str = "eager"
    precision: str = "fp32"
    batch_size: int = 1
    threads: int | None = None
    quantize: Any = None  # a QuantizeConfig; None: the precision's default mode
    calibration: Calibration = field(default_factory=Calibration)

    def validate(self) -> None:
        if self.precision not in PRECISION_MODES:
            raise CnnoptError(
                f"recipe target: unknown precision {self.precision!r}",
                f"choose one of {', '.join(PRECISION_MODES)}",
            )
        allowed = PRECISION_MODES[self.precision]
        if self.quantize is not None and self.quantize.mode not in allowed:
            raise CnnoptError(
                f"recipe target: precision {self.precision} cannot be made by quantize mode "
                f"{self.quantize.mode!r}",
                f"use mode {' or '.join(allowed)}" if allowed else "drop `quantize` for fp32",
            )
        import cnnopt.runtimes  # noqa: F401  (registers the runtimes)
        from cnnopt.runtimes.base import RUNTIMES

        if self.runtime not in RUNTIMES.names():
            raise CnnoptError(
                f"recipe target: unknown runtime {self.runtime!r}",
                f"choose one of {', '.join(RUNTIMES.names())}",
            )
        for name, value in (("batch_size", self.batch_size), ("threads", self.threads or 1)):
            if value < 1:
                raise CnnoptError(f"recipe target: {name} must be >= 1, got {value}", "e.g. 1")
        if self.calibration.size < 1:
            raise CnnoptError("recipe target: calibration size must be >= 1", "e.g. 256")

    @property
    def needs_images(self) -> bool:
        """Whether lowering needs data: int8 calibration, QAT training, mixed's accuracy."""
        config = self.quantize_config
        return config is not None and config.mode in ("int8_static", "qat", "mixed")

    @property
    def quantize_config(self) -> Any:
        """The quantize step this target runs (None for fp32)."""
        if self.quantize is not None or self.precision == "fp32":
            return self.quantize
        from cnnopt.transforms.quantize import QuantizeConfig

        return QuantizeConfig(mode=PRECISION_MODES[self.precision][0])

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["calibration"] = dataclasses.asdict(self.calibration)
        if self.quantize is not None:
            options = self.quantize.to_dict()
            data["quantize"] = {k: v for k, v in options.items() if k != "transform"}
        else:
            del data["quantize"]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> LoweringTarget:
        data = _mapping(data, "target", "e.g. target: {runtime: onnxruntime, precision: int8}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise CnnoptError(
                f"recipe target has unknown key(s) {', '.join(map(str, unknown))}",
                f"known keys: {', '.join(known)}",
            )
        problem = first_problem(cls, {k: v for k, v in data.items() if k != "quantize"})
        if problem:
            raise CnnoptError(f"recipe target: {problem}", "write numbers without quotes")
        quantize = data.get("quantize")
        if quantize is not None:
            from cnnopt.transforms.quantize import QuantizeConfig

            options = _mapping(quantize, "target quantize", "e.g. quantize: {mode: int8_static}")
            try:
                quantize = QuantizeConfig.from_dict(options)
            except CnnoptError as exc:
                raise CnnoptError(f"recipe target: {exc.message}", exc.hint) from None
        target = cls(
            **{k: v for k, v in data.items() if k not in ("quantize", "calibration")},
            quantize=quantize,
            calibration=_dataclass(Calibration, data.get("calibration"), "target calibration"),
        )
        target.validate()
        return target


def data_from_dict(data: Any) -> RecipeData:
    return _dataclass(RecipeData, data, "data")


def _mapping(data: Any, where: str, hint: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CnnoptError(f"recipe {where} must be a mapping, got {data!r}", hint)
    return data


def _dataclass(cls: type, data: Any, where: str) -> Any:
    if data is None:
        return cls()
    data = _mapping(data, where, f"e.g. {where.split()[-1]}: {{seed: 0}}")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise CnnoptError(
            f"recipe {where} has unknown key(s) {', '.join(map(str, unknown))}",
            f"known keys: {', '.join(known)}",
        )
    problem = first_problem(cls, data)
    if problem:
        raise CnnoptError(f"recipe {where}: {problem}", "write numbers without quotes")
    for name in ("train_images", "finetune_images", "size"):
        value = data.get(name)
        if value is not None and value < 1:
            raise CnnoptError(f"recipe {where}: {name} must be >= 1, got {value}", "e.g. 256")
    return cls(**data)


# --- drawing the images ---------------------------------------------------------------------


def images_sha256(data: Any) -> str:
    """Fingerprint of a TensorData's images (bytes and shape): same images, same digest."""
    images = data.images.detach().cpu().contiguous()
    digest = hashlib.sha256(str((tuple(images.shape), str(images.dtype))).encode())
    digest.update(images.numpy().tobytes())
    return digest.hexdigest()


@dataclass
class DrawnData:
    train: Any  # what structure steps fine-tune on
    calib: Any  # what the target's quantization calibrates on
    notes: list[str] = field(default_factory=list)


def draw_data(
    recipe: Any,
    train_split: Any,
    limit: int | None = None,
    seed: int | None = None,
    calib_images: int = DEFAULT_CALIBRATION_IMAGES,
) -> DrawnData:
    """The fine-tuning and calibration sets a recipe was made with, from the train split.

    `limit` (a user's --limit) replaces the recipe's train_images and `seed` its seed; a
    recipe without a target calibrates on `calib_images` images.
    """
    data = recipe.data or RecipeData()
    seed = data.seed if seed is None else seed
    target = recipe.target or LoweringTarget(calibration=Calibration(calib_images, seed))
    train = train_split.take(limit or data.train_images, seed=seed)
    notes = []
    if data.train_images and len(train_split) < data.train_images:
        notes.append(
            f"the recipe was made with {data.train_images} training images, this dataset has "
            f"{len(train_split)}: fine-tuning and calibration draw other images"
        )
    calib = train.take(target.calibration.size, seed=target.calibration.seed)
    expected = target.calibration.sha256
    if target.quantize_config is not None and expected and images_sha256(calib) != expected:
        notes.append(
            "the calibration images differ from the ones the recipe was made with (other "
            "data or --limit): the int8 artifact may differ slightly"
        )
    return DrawnData(train.take(data.finetune_images, seed=seed), calib, notes)


# --- lowering -------------------------------------------------------------------------------

FILE_RUNTIMES = ("onnxruntime", "onnxruntime-cuda", "openvino")  # they load the written file


@dataclass
class Lowered:
    model: nn.Module  # what the artifact was made from (quantize plan attached, or QAT)
    predictor: Any
    target: LoweringTarget
    files: list[str] = field(default_factory=list)
    parity: dict[str, Any] | None = None


def lower(
    model: nn.Module,
    target: LoweringTarget,
    ctx: Any,
    example: torch.Tensor,
    out: Path | None = None,
    recipe: Any = None,
) -> Lowered:
    """Quantize a copy of `model` as the target says, the way the search built the candidate
    (same seed, calibration set and example batch); with `out`, write the runtime's files
    there (model.onnx, model.xml/.bin, plus weights and recipe) and serve those very files."""
    from cnnopt.runtimes.base import build_predictor
    from cnnopt.transforms import apply

    lowered = model.eval()
    config = target.quantize_config
    if config is not None:
        torch.manual_seed(ctx.seed)
        run_ctx = dataclasses.replace(ctx, finetune_epochs=None)  # the config's qat_epochs
        lowered = apply(copy.deepcopy(model), config, run_ctx).eval()
    result = Lowered(lowered, None, target)
    source: Any = lowered
    if out is not None:
        from cnnopt.runtimes.export import export_artifacts

        written = export_artifacts(lowered, out, example, recipe=recipe, runtime=target.runtime)
        result.files, result.parity = list(written.files), written.parity
        if target.runtime in FILE_RUNTIMES:
            source = Path(out) / written.files[0]
    options = {"threads": target.threads, "precision": target.precision}
    result.predictor = build_predictor(target.runtime, source, example, **options)
    return result


def example_batch(val: Any, batch_size: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The search's example batch: the first validation images, normalized."""
    if val is not None and len(val) >= batch_size:
        return val.normalize(val.images[:batch_size])
    return torch.randn(batch_size, *shape, generator=torch.Generator().manual_seed(0))


# --- the whole recipe -----------------------------------------------------------------------


@dataclass
class Built:
    """What re-applying a recipe produced: the float model after the structure steps, its
    lowered form and predictor, the validation accuracy through that predictor, and notes."""

    model: nn.Module
    lowered: Lowered
    accuracy: float | None
    notes: list[str]


def build_artifact(
    model: nn.Module,
    recipe: Any,
    train_split: Any,
    val_data: Any = None,
    *,
    out: str | Path | None = None,
    limit: int | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> Built:
    """Re-apply `recipe` to the base `model` from scratch: the structure steps on the data the
    recipe names, then its target's lowering. With `out`, writes the float checkpoint
    (safetensors + state.json), recipe.yaml and the runtime's artifact there."""
    from cnnopt.evaluation import evaluate
    from cnnopt.fileio import ensure_dir
    from cnnopt.recipe import apply_recipe, save_applied
    from cnnopt.transforms import Context

    target = recipe.target or LoweringTarget()
    drawn = draw_data(recipe, train_split, limit)
    example = example_batch(val_data, target.batch_size, tuple(train_split.input_shape))
    ctx = Context(
        train_data=drawn.train,
        val_data=val_data,
        calib_data=drawn.calib,
        example_input=example[:1],
        device=device,
        progress=progress,
        seed=(recipe.data or RecipeData()).seed,
    )
    ctx.notes.extend(drawn.notes)
    structured = apply_recipe(model, recipe, ctx, progress=progress).eval()
    directory = ensure_dir(out) if out is not None else None
    if directory is not None:
        save_applied(directory, structured, recipe, example_input=example)
    lowered = lower(structured, target, ctx, example, directory, recipe)
    accuracy = None
    if val_data is not None:
        accuracy = float(evaluate(lowered.predictor, val_data, batch_size=256).accuracy)
    return Built(structured, lowered, accuracy, ctx.notes)
