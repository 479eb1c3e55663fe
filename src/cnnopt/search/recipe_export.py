"""The full recipe of a searched candidate: what best/recipe.yaml holds.

A record lists the candidate's steps as the search space named them (`{transform: prune,
ratio: 0.3}` plus a quantize step), but the candidate also depended on settings the evaluator
held: the fine-tuning budget and images, the calibration images, the seed, the runtime and its
serving batch/threads. All of them go into the recipe, so `cnnopt apply --recipe
best/recipe.yaml` on the same base model and dataset rebuilds the same artifact.
"""

from __future__ import annotations

from typing import Any

from cnnopt.lowering import Calibration, LoweringTarget, RecipeData, images_sha256
from cnnopt.recipe import Recipe
from cnnopt.record import Record
from cnnopt.search.evaluate_candidate import make_config


def candidate_recipe(record: Record, evaluator: Any) -> Recipe:
    """Structure steps with the fine-tuning epochs they ran with, the quantize options as a
    lowering target, and the data draws, for the candidate `record` describes."""
    steps, quantize = [], None
    for step in record.recipe:
        config = make_config(step)
        if step["transform"] == "quantize":
            quantize = config
            if config.mode == "qat":  # the evaluator's fine-tuning budget overrides qat_epochs
                config.qat_epochs = float(evaluator.finetune_epochs)
            if config.reduce_range is None:  # as resolved on the machine that measured it
                from cnnopt.transforms.quant_calib import default_reduce_range

                config.reduce_range = default_reduce_range()
            continue
        if getattr(config, "finetune_epochs", 0) is None:  # the evaluator's budget applied
            config.finetune_epochs = float(evaluator.finetune_epochs)
        steps.append(config)
    calib = evaluator.train_data.take(evaluator.calib_size, seed=evaluator.seed)
    target = LoweringTarget(
        runtime=record.runtime,
        precision=record.precision,
        batch_size=evaluator.target.batch_size,
        threads=evaluator.target.threads,
        quantize=quantize,
        calibration=Calibration(
            size=evaluator.calib_size,
            seed=evaluator.seed,
            sha256=images_sha256(calib) if quantize is not None else None,
        ),
    )
    data = RecipeData(
        train_images=len(evaluator.train_data),
        finetune_images=len(evaluator.finetune_data),
        seed=evaluator.seed,
    )
    return Recipe(
        steps=steps,
        model=record.model or None,
        dataset=getattr(evaluator.val_data, "name", None) or None,
        description=f"{record.name}; runtime {record.runtime}, precision {record.precision}",
        target=target,
        data=data,
    )
