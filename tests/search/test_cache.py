"""ModelCache: a fine-tuned intermediate is computed once, reloaded with the same structure and
weights, and a cache file that no longer fits is recomputed rather than trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnopt.search.cache import ModelCache


def _shrink(model: nn.Module, step: dict[str, Any], finetune: bool, log: list[bool]) -> nn.Module:
    """A deterministic 'prune': keep the hidden units with the largest L2 norm; 'fine-tune'
    perturbs the weights so a reload can be told apart from a re-derivation."""
    log.append(finetune)
    lin1, lin2 = model[0], model[2]
    keep = max(1, int(lin1.out_features * (1 - step["ratio"])))
    index = lin1.weight.norm(dim=1).argsort(descending=True)[:keep].sort().values
    new1, new2 = nn.Linear(lin1.in_features, keep), nn.Linear(keep, lin2.out_features)
    with torch.no_grad():
        new1.weight.copy_(lin1.weight[index])
        new1.bias.copy_(lin1.bias[index])
        new2.weight.copy_(lin2.weight[:, index])
        new2.bias.copy_(lin2.bias)
        if finetune:
            for p in (*new1.parameters(), *new2.parameters()):
                p.add_(torch.randn_like(p) * 0.01)
    return nn.Sequential(new1, nn.ReLU(), new2)


def test_prefixes_are_computed_once_and_reloaded_exactly(tmp_path: Path) -> None:
    base = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    log: list[bool] = []

    def apply_step(m, s, f):
        return _shrink(m, s, f, log)

    steps = [{"transform": "prune", "ratio": 0.5}, {"transform": "prune", "ratio": 0.5}]
    cache = ModelCache(tmp_path, "base", {"epochs": 1})
    first = cache.get(base, steps, apply_step)
    assert log == [True, True] and cache.misses == 2
    assert base[0].out_features == 16, "the baseline is never modified"

    log.clear()
    again = ModelCache(tmp_path, "base", {"epochs": 1}).get(base, steps, apply_step)
    assert log == [False, False], "a hit re-derives structure without fine-tuning"
    x = torch.randn(4, 8)
    torch.testing.assert_close(again(x), first(x))
    assert again[0].out_features == 4

    log.clear()
    ModelCache(tmp_path, "base", {"epochs": 2}).get(base, steps[:1], apply_step)
    assert log == [True], "a different fine-tune budget is a different entry"


def test_mismatched_cache_file_is_recomputed(tmp_path: Path) -> None:
    base = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    log: list[bool] = []
    cache = ModelCache(tmp_path, "base")
    steps = [{"transform": "prune", "ratio": 0.5}]
    path = cache.path(steps)
    path.write_bytes(b"not a safetensors file")
    model = cache.get(base, steps, lambda m, s, f: _shrink(m, s, f, log))
    assert log == [False, True] and model[0].out_features == 8
