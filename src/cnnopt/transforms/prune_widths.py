"""How many channels each layer keeps, and what a prune actually achieved.

Torch-Pruning rounds the *kept* width down to a multiple of `round_to`, so on small layers
"prune 30%" of 32 channels keeps 16 (50% removed), and on a grouped conv it rounds the
per-group count against the whole width (48 channels in 4 groups at 30% kept 16). Here
Torch-Pruning still decides which groups to prune and how much (its coupling, its global
ranking), and this module then rounds each group's kept width *up* to a multiple of both
`round_to` and the channel-group count: a layer never loses more than it was asked to, and
widths stay SIMD-friendly. The lowest-importance channels go first, as in Torch-Pruning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.transforms.prune_outputs import passes_channels_through

# float slack when turning a ratio into a channel count: 20 * (1 - 0.35) is 12.999999999999998
_EPS = 1e-6


def kept_channels(channels: int, ratio: float, round_to: int = 1, groups: int = 1) -> int:
    """Channels kept when `ratio` of `channels` is to go: never fewer than asked, rounded up to
    a multiple of round_to and of the channel-group count, never more than there are."""
    return round_kept(math.ceil(channels * (1 - ratio) - _EPS), channels, round_to, groups)


def round_kept(wanted: int, channels: int, round_to: int = 1, groups: int = 1) -> int:
    """`wanted` rounded up to a multiple of round_to and groups, at most `channels`."""
    step = math.lcm(max(round_to, 1), max(groups, 1))
    return min(channels, -(-max(wanted, 1) // step) * step)


def prune_step(
    pruner: Any,
    round_to: int,
    local: bool,
    protected: list[nn.Module],
    still_works: Callable[[], bool],
) -> tuple[int, int]:
    """One pruning step with rounding toward keeping channels: (channels removed, groups
    skipped).

    `pruner` is a Torch-Pruning BasePruner built with round_to=None; its interactive step
    yields each group it would prune, which is re-cut here to the rounded width. Each cut is
    undone when it breaks the model (`still_works` false, or Torch-Pruning failing midway):
    Torch-Pruning 1.6 mis-maps some concatenations (VainF/Torch-Pruning#146, #481), and one
    such group must cost that group, not the whole prune.
    """
    graph = pruner.DG
    model = graph.model
    removed = skipped = 0
    for proposal in pruner.step(interactive=True):
        dep = proposal[0].dep
        module, handler = dep.target.module, dep.handler
        if not graph.is_out_channel_pruning_fn(handler) or _touches(graph, proposal, protected):
            continue
        current = graph.get_out_channels(module)
        groups = _channel_groups(pruner, proposal)
        kept = current - len(proposal[0].idxs)
        if local:
            ratio = pruner.get_target_pruning_ratio(module)
            initial = pruner.layer_init_out_ch.get(module, current)
            kept = max(kept, math.ceil(initial * (1 - ratio) - _EPS))
        kept = round_kept(kept, current, round_to, groups)
        if kept >= current:
            continue
        idxs = _least_important(pruner, module, handler, current, groups, current - kept, local)
        if idxs is None:
            continue
        group = graph.get_pruning_group(module, handler, idxs)
        if not graph.check_pruning_group(group) or _touches(graph, group, protected):
            continue
        saved = _snapshot(model)
        try:
            group.prune()
            works = still_works()
        except (RuntimeError, IndexError, ValueError, KeyError):
            works = False
        if works:
            removed += current - graph.get_out_channels(module)
        else:
            _restore(saved)
            skipped += 1
    return removed, skipped


def _snapshot(model: nn.Module) -> list[tuple[nn.Module, dict[str, Any]]]:
    """Every module's attributes, parameters and buffers by reference: Torch-Pruning replaces
    pruned tensors (and width attributes) instead of editing them, so this is enough to undo
    a cut, and costs no copy of any weight."""
    saved = []
    for module in model.modules():
        state = {k: v for k, v in vars(module).items() if k != "_modules"}
        state["_parameters"] = dict(module._parameters)
        state["_buffers"] = dict(module._buffers)
        saved.append((module, state))
    return saved


def _restore(saved: list[tuple[nn.Module, dict[str, Any]]]) -> None:
    for module, state in saved:
        for key, value in state.items():
            if key in ("_parameters", "_buffers"):
                getattr(module, key).clear()
                getattr(module, key).update(value)
            else:
                module.__dict__[key] = value


def _touches(graph: Any, group: Any, protected: list[nn.Module]) -> bool:
    """Whether the group removes output channels of a layer that feeds a model output."""
    return any(
        graph.is_out_channel_pruning_fn(dep.handler)
        and any(dep.target.module is m for m in protected)
        for dep, _ in group
    )


def _channel_groups(pruner: Any, group: Any) -> int:
    get = getattr(pruner, "_get_channel_groups", None)  # Torch-Pruning 1.6's own rule
    return int(get(group)) if get is not None else 1


def _least_important(
    pruner: Any,
    module: nn.Module,
    handler: Any,
    channels: int,
    groups: int,
    count: int,
    local: bool,
) -> list[int] | None:
    """Up to `count` channels of lowest importance that no layer of the group pays for beyond
    its own share; with channel groups (grouped convs, group norms) the same positions in
    every group, as Torch-Pruning does.

    A group rooted after a concatenation removes channels from every layer concatenated
    there, and Torch-Pruning's ranking may take most of them from one source (4 -> 1 at
    62.5%); each source is capped at what its own ratio allows, and a channel that would
    exceed a cap is passed over for the next least important one.
    """
    graph = pruner.DG
    full = graph.get_pruning_group(module, handler, list(range(channels)))
    scores = pruner.estimate_importance(full)
    if scores is None:
        return None
    per_group = channels // groups
    if groups > 1:
        scores = scores.view(groups, -1).mean(dim=0)
    owners, room = _layers_hit(pruner, full, channels, local)
    used: dict[int, int] = dict.fromkeys(room, 0)
    slots: list[int] = []
    for slot in torch.argsort(scores.cpu()).tolist():
        if len(slots) == count // groups:
            break
        hits: dict[int, int] = {}
        for g in range(groups):
            for layer in owners.get(slot + g * per_group, ()):
                hits[layer] = hits.get(layer, 0) + 1
        if all(used[layer] + n <= room[layer] for layer, n in hits.items()):
            slots.append(slot)
            for layer, n in hits.items():
                used[layer] += n
    if not slots:
        return None
    return sorted(s + g * per_group for g in range(groups) for s in slots)


def _layers_hit(
    pruner: Any, group: Any, channels: int, local: bool
) -> tuple[dict[int, set[int]], dict[int, int]]:
    """For each root channel, the conv/linear layers (by id) whose own output channels it
    removes; and for each such layer how many more it may lose: down to its initial width
    times (1 - ratio), where the ratio is the larger of the root's and the layer's own
    (layer_ratios) in local mode, and max_layer_ratio in global mode. Depthwise convs and
    norms follow their input's width and are not capped themselves."""
    graph = pruner.DG
    root = group[0].dep.target.module
    owners: dict[int, set[int]] = {}
    room: dict[int, int] = {}
    for item in group:
        layer = item.dep.target.module
        if not graph.is_out_channel_pruning_fn(item.dep.handler) or not _is_weighted(layer):
            continue
        current = graph.get_out_channels(layer)
        if local:
            limit = max(
                pruner.get_target_pruning_ratio(root), pruner.get_target_pruning_ratio(layer)
            )
        else:
            limit = pruner.max_pruning_ratio
        initial = pruner.layer_init_out_ch.get(layer, current)
        floor = max(1, math.ceil(initial * (1 - limit) - _EPS))
        room[id(layer)] = max(0, current - floor)
        roots = getattr(item, "root_idxs", None) or item.idxs  # Torch-Pruning >= 1.3 maps them
        for index in roots:
            if 0 <= index < channels:
                owners.setdefault(index, set()).add(id(layer))
    return owners, room


def _is_weighted(module: nn.Module) -> bool:
    """A conv or linear layer whose width is its own choice (not a depthwise conv's)."""
    return isinstance(module, nn.modules.conv._ConvNd | nn.Linear) and not passes_channels_through(
        module
    )


# --- what was done ---------------------------------------------------------------------------


def prunable_widths(model: nn.Module, skip: list[nn.Module]) -> dict[str, int]:
    """Output widths of the layers prune may narrow: convs and linears that are not skipped
    (output layers, ignored ones) and whose width is not just their input's (depthwise)."""
    widths = {}
    for name, module in model.named_modules():
        if not isinstance(module, nn.modules.conv._ConvNd | nn.Linear):
            continue
        if any(module is m for m in skip) or passes_channels_through(module):
            continue
        widths[name] = module.out_features if isinstance(module, nn.Linear) else module.out_channels
    return widths


def achieved(
    before: dict[str, int],
    model: nn.Module,
    requested: float,
    importance: str,
    costs: dict[str, int | None],
) -> dict[str, Any]:
    """The JSON-ready summary a Record and a report label are made from."""
    after = {}
    for name in before:
        module = model.get_submodule(name)
        after[name] = module.out_features if isinstance(module, nn.Linear) else module.out_channels
    total = sum(before.values())
    removed = total - sum(after.values())
    return {
        "transform": "prune",
        "requested_ratio": requested,
        "importance": importance,
        "ratio": removed / total if total else 0.0,
        "channels_prunable": total,
        "channels_removed": removed,
        "layers_changed": sum(after[n] != before[n] for n in before),
        "changed": removed > 0,
        **costs,
    }


def describe_result(result: dict[str, Any], ratio: float, round_to: int, finetuned: bool) -> str:
    """One honest line: what was removed (not what was asked for) and what it cost."""
    kept_whole = result.get("groups_kept_whole", 0)
    suffix = (
        f"; {kept_whole} channel group(s) Torch-Pruning could not cut consistently were kept whole"
        if kept_whole
        else ""
    )
    if not result["channels_prunable"]:
        return (
            "prune: nothing to prune: no Conv2d/Linear layers whose channels can be removed "
            "(functional F.conv2d/F.linear calls on raw parameters cannot be pruned, and "
            "layers that feed an output or are ignored are kept); the model is unchanged"
        )
    if not result["changed"]:
        return (
            f"prune: no change: at ratio {ratio:.0%} no layer could lose channels (widths "
            f"round up to multiples of {round_to}; layers feeding an output are kept)" + suffix
        )
    line = (
        f"prune: removed {result['ratio']:.0%} of prunable channels "
        f"({result['channels_removed']} of {result['channels_prunable']}, "
        f"{ratio:.0%} requested, widths multiples of {round_to}); params "
        f"{result['params_before']} -> {result['params_after']}"
    )
    if result.get("macs_before") and result.get("macs_after") is not None:
        line += f", MACs {result['macs_before']} -> {result['macs_after']}"
    if not finetuned:
        line += "; not fine-tuned: accuracy usually drops until it is fine-tuned or distilled"
    return line + suffix


def costs_of(model: nn.Module, example: torch.Tensor, when: str) -> dict[str, int | None]:
    from cnnopt.bench.counts import count_macs

    try:
        macs: int | None = int(count_macs(model, tuple(example.shape[1:])))
    except (CnnoptError, RuntimeError, TypeError):
        macs = None  # e.g. an integer-input model: params still say what changed
    return {f"params_{when}": sum(p.numel() for p in model.parameters()), f"macs_{when}": macs}
