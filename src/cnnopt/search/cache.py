"""Cache of fine-tuned intermediates, so candidates that share a recipe prefix share the work.

A pruned or low-rank model cannot be rebuilt from the zoo name, and unpickling whole modules
(`torch.load(weights_only=False)`) is not something we do. So only *weights* are stored, as
safetensors, keyed by a hash of (baseline, recipe prefix, fine-tune budget). To load an entry
the structure is re-derived: the cached parent prefix is loaded, the last step is re-applied
*without fine-tuning* (pruning and SVD are deterministic given the same parent weights), and the
cached fine-tuned weights are loaded into it. If the shapes do not match (a data-dependent
criterion chose differently) the entry is treated as a miss and recomputed, never trusted.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from cnnopt.fileio import atomic_path, ensure_dir

# Steps that only change weights, never structure: nothing to re-apply when rebuilding.
WEIGHTS_ONLY_STEPS = frozenset({"distill"})

# apply_step(model, step_dict, finetune) -> model
ApplyStep = Callable[[nn.Module, dict[str, Any], bool], nn.Module]
# After a fine-tuning the cache ran: what a time budget cut short in it (usually nothing).
TakeCut = Callable[[], list[str]]


def prefix_key(base_key: str, steps: list[dict[str, Any]], salt: dict[str, Any]) -> str:
    blob = json.dumps({"base": base_key, "steps": steps, "salt": salt}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class ModelCache:
    root: Path
    base_key: str  # identifies the trained baseline (e.g. hash of its weights file)
    salt: dict[str, Any] = field(default_factory=dict)  # fine-tune budget, dataset, seed
    hits: int = 0
    misses: int = 0

    def __post_init__(self) -> None:
        self.root = ensure_dir(Path(self.root))

    def path(self, steps: list[dict[str, Any]]) -> Path:
        return self.root / f"{prefix_key(self.base_key, steps, self.salt)}.safetensors"

    def get(
        self,
        base: nn.Module,
        steps: list[dict[str, Any]],
        apply_step: ApplyStep,
        take_cut: TakeCut | None = None,
    ) -> nn.Module:
        """The baseline with `steps` applied and fine-tuned, from cache where possible.

        `base` is never modified. Every prefix computed on the way is cached too, with what
        `take_cut()` says the time budget cut short in its fine-tuning (see `cut_notes`).
        """
        if not steps:
            return copy.deepcopy(base)
        parent = self.get(base, steps[:-1], apply_step, take_cut)
        last = steps[-1]
        target = self.path(steps)
        if target.exists():
            rebuilt = self._rebuild(parent, last, target, apply_step)
            if rebuilt is not None:
                self.hits += 1
                return rebuilt
        self.misses += 1
        model = apply_step(parent, dict(last), True)
        self._save(model, target, steps, take_cut() if take_cut else [])
        return model

    def cut_notes(self, steps: list[dict[str, Any]]) -> list[str]:
        """What the time budget cut short in the fine-tunings behind `steps`, as saved with
        each cached prefix: a model reloaded from the cache (by a later candidate, the
        finishing stage or --resume) is the truncated one, and must say so."""
        from safetensors import safe_open

        notes: list[str] = []
        for i in range(1, len(steps) + 1):
            try:
                with safe_open(str(self.path(steps[:i])), "pt") as handle:
                    notes += json.loads((handle.metadata() or {}).get("cut", "[]"))
            except Exception:  # not cached (yet), or unreadable (then recomputed): nothing known
                continue
        return notes

    def _rebuild(
        self, parent: nn.Module, step: dict[str, Any], target: Path, apply_step: ApplyStep
    ) -> nn.Module | None:
        from safetensors.torch import load_file

        model = (
            parent if step["transform"] in WEIGHTS_ONLY_STEPS else apply_step(parent, step, False)
        )
        try:
            state = load_file(str(target))
        except Exception:
            return None  # unreadable cache file: recompute
        own = model.state_dict()
        if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
            return None
        model.load_state_dict(state)
        return model

    def _save(
        self, model: nn.Module, target: Path, steps: list[dict[str, Any]], cut: list[str]
    ) -> None:
        from safetensors.torch import save_file

        # safetensors refuses shared storage; clone so tied or strided tensors save cleanly.
        state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
        metadata = {"steps": json.dumps(steps), "cut": json.dumps(cut)}
        with atomic_path(target) as tmp:
            save_file(state, str(tmp), metadata=metadata)
