"""Structured pruning: remove whole channels, so the smaller model is faster on any runtime.

Torch-Pruning's dependency graph finds every layer coupled to a channel (residual adds,
concatenations, depthwise and grouped convs, squeeze-excitation, several heads) and removes
the channel from all of them at once, so the model keeps working on any topology it can
trace. Layers whose channels reach a model output (classifier heads, heads summed or
concatenated, pooled segmentation heads, returned features) are never pruned, and every
output is checked afterwards for the same structure, shape and dtype at two batch sizes
(prune_outputs). Widths are rounded toward keeping channels and what was actually removed is
reported (prune_widths): in ctx.notes and on `model.cnnopt_prune_result`.
"""

from __future__ import annotations

import fnmatch
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.transforms.base import Context, TransformConfig, register_transform
from cnnopt.transforms.finetune import example_input, finetune, mark_restructured, resolve_epochs
from cnnopt.transforms.prune_outputs import (
    check_outputs,
    output_signature,
    protected_layers,
    second_batch,
    tensor_leaves,
)
from cnnopt.transforms.prune_widths import (
    achieved,
    costs_of,
    describe_result,
    prunable_widths,
    prune_step,
)

IMPORTANCES = ("l1", "l2", "bn", "taylor")
PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@dataclass
class PruneConfig(TransformConfig):
    name = "prune"
    needs_finetune = True

    ratio: float = 0.5  # fraction of channels removed: per layer, or overall when global
    importance: str = "l1"  # l1 | l2 | bn (BN scale) | taylor (first-order, needs data)
    global_pruning: bool = False  # rank channels across layers: redundant layers lose more
    steps: int = 1  # >1: prune gradually, fine-tuning between steps (recovers accuracy better)
    finetune_epochs: float | None = None  # per step; None: the context's budget (often 0)
    lr: float = 0.01  # fine-tuning starts near a good solution, so a small lr
    round_to: int = 8  # keep channel counts multiples of 8: odd widths leave SIMD lanes idle
    layer_ratios: dict[str, float] = field(default_factory=dict)  # module name/glob -> ratio
    ignore: list[str] = field(default_factory=list)  # module names/globs never pruned
    max_layer_ratio: float = 0.75  # global mode: no layer loses more, so none collapses
    taylor_batches: int = 4  # gradient batches for taylor importance: enough to rank channels
    batch_size: int = 64

    def validate(self) -> None:
        _check_ratio("ratio", self.ratio)
        if self.importance not in IMPORTANCES:
            raise CnnoptError(
                f"unknown importance {self.importance!r}", f"use one of {', '.join(IMPORTANCES)}"
            )
        for key, value in self.layer_ratios.items():
            _check_ratio(f"layer_ratios[{key!r}]", value)
        if not 0 < self.max_layer_ratio < 1:
            raise CnnoptError(
                f"max_layer_ratio must be in (0, 1), got {self.max_layer_ratio}", "e.g. 0.75"
            )
        for label, value in (("steps", self.steps), ("round_to", self.round_to)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CnnoptError(f"{label} must be a whole number >= 1, got {value!r}", "e.g. 1")
        if self.taylor_batches < 1 or self.batch_size < 1:
            raise CnnoptError("taylor_batches and batch_size must be >= 1", "e.g. 4 and 64")
        if self.finetune_epochs is not None and self.finetune_epochs < 0:
            raise CnnoptError(f"finetune_epochs must be >= 0, got {self.finetune_epochs}", "e.g. 1")


def _check_ratio(label: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise CnnoptError(
            f"prune {label} must be in [0, 1), got {value!r}",
            "it is the fraction of channels removed: 0.5 keeps half",
        )


@register_transform(PruneConfig)
def prune(model: nn.Module, config: PruneConfig, ctx: Context) -> nn.Module:
    was_training = model.training
    model.eval()  # tracing must not update BN running statistics
    example = example_input(model, ctx).to(next(model.parameters()).device)
    checks, expected = _output_checks(model, example)
    protected = protected_layers(model, example)
    skipped = protected.modules + _match(model, config.ignore, "ignore")
    ratios = {
        module: r
        for pattern, r in config.layer_ratios.items()
        for module in _match(model, [pattern], "layer_ratios")
    }
    skipped += _narrow_layers(model, config, skipped)
    widths = prunable_widths(model, skipped)
    costs = costs_of(model, example, "before")
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    for name in frozen:  # Torch-Pruning traces autograd: a frozen trunk would be invisible
        model.get_parameter(name).requires_grad_(True)
    with warnings.catch_warnings():  # raw parameters are handled (kept, or pruned with
        # their channel group); Torch-Pruning's advice to pass unwrapped_parameters is noise
        warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
        pruner = _pruner(model, example, config, ratios, skipped + protected.params)
    _freeze(model, frozen)
    epochs = resolve_epochs(config.finetune_epochs, ctx)
    removed = skipped_groups = 0
    for _ in range(config.steps):
        if config.importance == "taylor":
            _accumulate_gradients(model, ctx, config)
        step_removed, step_skipped = _step(
            pruner, model, checks, expected, config, protected.modules
        )
        removed += step_removed
        skipped_groups += step_skipped
        _freeze(model, frozen)  # pruned parameters are new tensors: frozen again by name
        model.zero_grad(set_to_none=True)
        if epochs > 0 and step_removed:
            tuned = finetune(model, ctx, epochs, transform="prune", lr=config.lr)
            if tuned is not model:  # the trainer may hand back its best copy: same shapes
                model.load_state_dict(tuned.state_dict())
            model.eval()
    model.train(was_training)
    result = achieved(widths, model, config.ratio, config.importance, costs)
    result.update(costs_of(model, example, "after"))
    result["output_layers"] = [n for n, m in model.named_modules() if _has(protected.modules, m)]
    result["groups_kept_whole"] = skipped_groups
    model.cnnopt_prune_result = result  # type: ignore[assignment]
    if removed:
        mark_restructured(model, "prune")
        model.cnnopt_channel_config = channel_config(model)  # type: ignore[assignment]
    ctx.notes.append(describe_result(result, config.ratio, config.round_to, epochs > 0))
    return model


def _freeze(model: nn.Module, names: list[str]) -> None:
    for name in names:
        model.get_parameter(name).requires_grad_(False)


def _output_checks(
    model: nn.Module, example: torch.Tensor
) -> tuple[list[torch.Tensor], list[list[tuple[str, str]]]]:
    """Inputs to re-run after pruning and the output signatures they must still give: the
    example, and the example at another batch size unless the model never ran on one."""
    checks, expected = [example], [output_signature(model, example)]
    other = second_batch(example)
    try:
        expected.append(output_signature(model, other))
        checks.append(other)
    except (RuntimeError, ValueError, IndexError):
        pass  # a model built for one batch size: the example alone is checked
    return checks, expected


def _pruner(
    model: nn.Module,
    example: torch.Tensor,
    config: PruneConfig,
    ratios: dict[nn.Module, float],
    ignored: list[Any],
) -> Any:
    return tp.pruner.BasePruner(
        model,
        example,
        output_transform=tensor_leaves,  # nested dicts/lists, non-tensor leaves
        importance=_importance(config.importance),
        global_pruning=config.global_pruning,
        pruning_ratio=config.ratio,
        pruning_ratio_dict=ratios or None,
        max_pruning_ratio=config.max_layer_ratio if config.global_pruning else 1.0,
        iterative_steps=config.steps,
        ignored_layers=ignored,
        round_to=None,  # prune_step rounds, toward keeping channels
    )


def _has(modules: list[nn.Module], module: nn.Module) -> bool:
    return any(m is module for m in modules)


TOPOLOGY_HINT = (
    "Torch-Pruning mis-tracks some concatenations (a torch.cat of an earlier torch.cat, or one "
    "feeding a depthwise conv; VainF/Torch-Pruning#146, #481): put the layers right after the "
    "concatenation in `ignore`, or use lowrank instead"
)


def _step(
    pruner: Any,
    model: nn.Module,
    checks: list[torch.Tensor],
    expected: list[list[tuple[str, str]]],
    config: PruneConfig,
    protected: list[nn.Module],
) -> tuple[int, int]:
    """One pruning step; every cut that stops the model running on the example, or changes
    an output, is undone. What escapes (Torch-Pruning failing outside a cut) is refused."""

    def still_works() -> bool:
        try:
            return output_signature(model, checks[0]) == expected[0]
        except (RuntimeError, ValueError, IndexError):
            return False

    try:
        done = prune_step(
            pruner, config.round_to, not config.global_pruning, protected, still_works
        )
    except (IndexError, RuntimeError, ValueError) as exc:
        raise CnnoptError(
            f"pruning cannot handle this model's topology ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160]})",
            TOPOLOGY_HINT,
        ) from None
    check_outputs(model, checks, expected)
    return done


def channel_config(model: nn.Module) -> dict[str, dict[str, int]]:
    """Widths of every conv/linear/BN by module path: what a pruned checkpoint must rebuild."""
    config: dict[str, dict[str, int]] = {}
    for name, module in model.named_modules():
        if isinstance(module, PRUNABLE):
            config[name] = {"in": _in_channels(module), "out": _out_channels(module)}
            if not isinstance(module, nn.Linear):
                config[name]["groups"] = module.groups
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            config[name] = {"features": module.num_features}
    return config


def _importance(name: str) -> tp.importance.Importance:
    if name == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1)
    if name == "l2":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if name == "bn":
        return _WithFallback(tp.importance.BNScaleImportance())
    return _WithFallback(tp.importance.GroupTaylorImportance())


class _WithFallback(tp.importance.Importance):
    """BN-scale/Taylor scores, with L1 magnitude where they give none.

    Groups without a BatchNorm (linear layers) have no BN scale, and Torch-Pruning 1.6's
    BN-scale scorer fails on groups that cross a torch.cat; ranking those by weight magnitude
    keeps them prunable instead of silently skipping or crashing.
    """

    def __init__(self, primary: tp.importance.Importance) -> None:
        self.primary = primary
        self.fallback = tp.importance.GroupMagnitudeImportance(p=1)

    def __call__(self, group: Any) -> torch.Tensor:
        try:
            scores = self.primary(group)
        except (RuntimeError, IndexError, AttributeError):
            scores = None
        return self.fallback(group) if scores is None else scores


def _accumulate_gradients(model: nn.Module, ctx: Context, config: PruneConfig) -> None:
    """First-order Taylor importance is |w * dL/dw|: it needs the loss gradient on real data."""
    from cnnopt.data.loader import iterate_batches

    data = ctx.train_data if ctx.train_data is not None else ctx.calib_data
    if data is None:
        raise CnnoptError(
            "taylor importance needs training or calibration data for gradients",
            "pass a dataset, or use importance l1/l2/bn which need none",
        )
    device = next(model.parameters()).device
    model.zero_grad(set_to_none=True)
    batches = iterate_batches(data, config.batch_size, shuffle=True, device=device)
    for i, (images, labels) in enumerate(batches):
        if i >= config.taylor_batches:
            break
        outputs = tp.utils.flatten_as_list(model(images))
        # multi-head models: every head with one logit per dataset class adds to the loss
        heads = [o for o in outputs if o.dim() == 2 and o.shape[1] == data.num_classes]
        if not heads:
            raise CnnoptError(
                f"taylor importance needs an (N, {data.num_classes}) output for the dataset's "
                "classes; the model has none",
                "use importance l1, l2 or bn, which need no data",
            )
        loss = sum(F.cross_entropy(o, labels) for o in heads)
        loss.backward()


def _narrow_layers(
    model: nn.Module, config: PruneConfig, skipped: list[nn.Module]
) -> list[nn.Module]:
    """Layers no wider than `round_to`: rounding keeps them whole anyway, and leaving them out
    lets global ranking spend the budget on layers that can shrink."""
    if config.round_to <= 1:
        return []
    return [
        m
        for m in model.modules()
        if isinstance(m, PRUNABLE) and not _has(skipped, m) and _out_channels(m) <= config.round_to
    ]


def _match(model: nn.Module, patterns: list[str], option: str) -> list[nn.Module]:
    names = [n for n, m in model.named_modules() if n and isinstance(m, PRUNABLE)]
    found: list[nn.Module] = []
    for pattern in patterns:
        hits = [n for n in names if n == pattern or fnmatch.fnmatchcase(n, pattern)]
        hits += [n for n in names if n.startswith(pattern + ".")]  # a block: all layers in it
        if not hits:
            raise CnnoptError(
                f"prune {option}: {pattern!r} matches no conv/linear layer",
                f"layer names look like: {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}",
            )
        found += [model.get_submodule(n) for n in hits if model.get_submodule(n) not in found]
    return found


def _is_depthwise(module: nn.Module) -> bool:
    return not isinstance(module, nn.Linear) and module.groups == module.in_channels > 1


def _out_channels(module: nn.Module) -> int:
    return module.out_features if isinstance(module, nn.Linear) else module.out_channels


def _in_channels(module: nn.Module) -> int:
    return module.in_features if isinstance(module, nn.Linear) else module.in_channels
