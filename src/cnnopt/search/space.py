"""The search space: which recipes the optimizer may try, and how a trial picks one.

A candidate is the trained baseline plus *structure* steps (prune, low-rank, distillation:
they change weights and need fine-tuning, so they are cached) plus a *precision* and a
*runtime* (cheap to vary: no training). Keeping those two halves apart is what lets many
candidates share one pruned-and-fine-tuned intermediate.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cnnopt.errors import CnnoptError

PRECISIONS = ("fp32", "bf16", "int8", "qat", "mixed")
RUNTIMES = ("eager", "compile", "onnxruntime", "openvino")
IMPORTANCES = ("l1", "l2", "bn", "taylor")

# Which runtimes can serve a precision. Static int8 (PTQ, mixed) is an ONNX QDQ graph that
# only ONNX Runtime and OpenVINO execute; QAT on eager merely simulates int8 with float
# kernels (slower than fp32, never a deployment); ONNX Runtime's CPU provider has no bf16.
# Sampling other pairs would only burn trials on errors or misleading points.
SERVABLE_ON = {
    "fp32": RUNTIMES,
    "bf16": ("eager", "compile", "openvino"),
    "int8": ("onnxruntime", "openvino"),
    "mixed": ("onnxruntime", "openvino"),
    "qat": ("onnxruntime", "openvino"),
}


def runtime_param(precision: str) -> str:
    """The Optuna parameter that holds the runtime for `precision`.

    Optuna needs one fixed choice list per parameter name, and the valid runtimes depend on
    the precision, so each precision gets its own runtime parameter.
    """
    return "runtime" if precision == "fp32" else f"runtime_{precision}"


@dataclass(frozen=True)
class CandidateSpec:
    """One point of the search space; 0 means "technique off" for the numeric knobs."""

    prune_ratio: float = 0.0
    prune_importance: str = "l2"
    lowrank_ratio: float = 0.0  # fraction of each layer's rank that is kept; 0 = off
    distill_epochs: float = 0.0  # knowledge distillation from the baseline; 0 = off
    precision: str = "fp32"
    runtime: str = "eager"

    def structure_steps(self) -> list[dict[str, Any]]:
        """The weight-changing recipe steps, in the order they are applied (and cached)."""
        steps: list[dict[str, Any]] = []
        if self.prune_ratio > 0:
            steps.append(
                {
                    "transform": "prune",
                    "ratio": self.prune_ratio,
                    "importance": self.prune_importance,
                }
            )
        if self.lowrank_ratio > 0:
            steps.append({"transform": "lowrank", "rank_ratio": self.lowrank_ratio})
        if self.distill_epochs > 0 and steps:
            # Distillation only helps a model that differs from its teacher.
            steps.append({"transform": "distill", "epochs": self.distill_epochs})
        return steps

    def key(self) -> str:
        """Identical candidates (however the sampler reached them) share this key."""
        data = asdict(self)
        if self.prune_ratio == 0:
            data["prune_importance"] = ""
        if not self.structure_steps() or self.structure_steps()[-1]["transform"] != "distill":
            data["distill_epochs"] = 0.0
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def label(self, model_name: str = "model", pruned: dict[str, Any] | None = None) -> str:
        """Human name, e.g. 'resnet18 pruned 50% (l2) + int8 on openvino'. `pruned` is the
        prune step's achieved result (`model.cnnopt_prune_result`): the label then says
        what was removed, not what was asked for ("prune: no change" when nothing was)."""
        parts = []
        if self.prune_ratio > 0 and pruned is not None and not pruned.get("changed", True):
            parts.append("prune: no change")
        elif self.prune_ratio > 0:
            ratio = pruned.get("ratio", self.prune_ratio) if pruned else self.prune_ratio
            parts.append(f"pruned {ratio:.0%} ({self.prune_importance})")
        if self.lowrank_ratio > 0:
            parts.append(f"low-rank {self.lowrank_ratio:.0%}")
        if any(s["transform"] == "distill" for s in self.structure_steps()):
            parts.append(f"distilled {self.distill_epochs:g} ep")
        text = f"{model_name} {', '.join(parts)}" if parts else model_name
        if self.precision != "fp32":
            text += f" + {self.precision}"
        return f"{text} on {self.runtime}"

    def to_params(self) -> dict[str, Any]:
        """Optuna parameters that make a trial reproduce exactly this candidate."""
        params: dict[str, Any] = {
            "prune_ratio": self.prune_ratio,
            "lowrank_ratio": self.lowrank_ratio,
            "precision": self.precision,
            runtime_param(self.precision): self.runtime,
        }
        if self.prune_ratio > 0:
            params["prune_importance"] = self.prune_importance
        if self.prune_ratio > 0 or self.lowrank_ratio > 0:
            params["distill_epochs"] = self.distill_epochs
        return params

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CandidateSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class SearchSpace:
    """The choices per knob. Categorical on purpose: small, enumerable, easy to enqueue."""

    prune_ratios: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7)
    prune_importances: tuple[str, ...] = ("l1", "l2", "bn", "taylor")
    lowrank_ratios: tuple[float, ...] = (0.0, 0.5)
    distill_epochs: tuple[float, ...] = (0.0, 1.0)
    precisions: tuple[str, ...] = ("fp32", "bf16", "int8", "qat")
    runtimes: tuple[str, ...] = ("eager", "onnxruntime", "openvino")
    notes: list[str] = field(default_factory=list)
    # precision -> runtimes that would quietly run something else on this machine (OpenVINO
    # runs a bf16 request in fp32 on CPUs without bf16): such a candidate would repeat fp32
    # under a bf16 label, so it is not offered (set by restricted_to)
    cannot_run: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def validate(self) -> None:
        for name, values, allowed in (
            ("precision", self.precisions, PRECISIONS),
            ("runtime", self.runtimes, RUNTIMES),
            ("pruning criterion", self.prune_importances, IMPORTANCES),
        ):
            unknown = [v for v in values if v not in allowed]
            if unknown or not values:
                raise CnnoptError(
                    f"search space: unknown {name} {', '.join(unknown) or '(none given)'}",
                    f"choose from {', '.join(allowed)}",
                )
        for precision in self.precisions:
            if not self.runtimes_for(precision):
                raise CnnoptError(
                    f"search space: precision {precision} cannot run on {', '.join(self.runtimes)}",
                    f"{precision} runs on {', '.join(SERVABLE_ON[precision])}: add one of them "
                    "to the runtimes, or drop the precision",
                )
        for name, values in (("prune ratio", self.prune_ratios), ("low-rank", self.lowrank_ratios)):
            if not values or any(not 0 <= v < 1 for v in values):
                raise CnnoptError(
                    f"search space: {name} values must be in [0, 1), got {values}",
                    "e.g. 0, 0.3, 0.5",
                )

    def suggest(self, trial: Any) -> CandidateSpec:
        """Ask an Optuna trial for a candidate; conditional knobs are only asked when used."""
        prune = float(trial.suggest_categorical("prune_ratio", list(self.prune_ratios)))
        importance = "l2"
        if prune > 0:
            importance = trial.suggest_categorical("prune_importance", list(self.prune_importances))
        lowrank = float(trial.suggest_categorical("lowrank_ratio", list(self.lowrank_ratios)))
        distill = 0.0
        if prune > 0 or lowrank > 0:
            distill = float(trial.suggest_categorical("distill_epochs", list(self.distill_epochs)))
        precision = str(trial.suggest_categorical("precision", list(self.precisions)))
        runtimes = list(self.runtimes_for(precision))
        return CandidateSpec(
            prune_ratio=prune,
            prune_importance=str(importance),
            lowrank_ratio=lowrank,
            distill_epochs=distill,
            precision=precision,
            runtime=str(trial.suggest_categorical(runtime_param(precision), runtimes)),
        )

    def runtimes_for(self, precision: str) -> tuple[str, ...]:
        """The runtimes of this space that can serve `precision`, in the space's order."""
        blocked = self.cannot_run.get(precision, ())
        return tuple(
            r for r in self.runtimes if r in SERVABLE_ON.get(precision, ()) and r not in blocked
        )

    def single_technique_points(self) -> list[tuple[str, CandidateSpec]]:
        """Baseline and one-technique-at-a-time candidates, tried first so the report can
        show what each technique buys on its own before the sampler combines them; plus one
        "prune + int8" combination, the usual winner, so even a short search has it."""
        # fp32 unless the space leaves it out (e.g. --precision int8): then its first precision
        base_precision = "fp32" if "fp32" in self.precisions else self.precisions[0]
        runtimes = self.runtimes_for(base_precision) or self.runtimes
        base_runtime = "eager" if "eager" in runtimes else runtimes[0]
        base = CandidateSpec(precision=base_precision, runtime=base_runtime)
        points = [("baseline", base)]
        for runtime in runtimes:
            if runtime != base_runtime:
                points.append((f"runtime {runtime}", replace(base, runtime=runtime)))
        if "bf16" in self.precisions and self.runtimes_for(
            "bf16"
        ):  # OpenVINO's bf16 hint is the fast bf16 on a CPU
            runtime = _preferred(self.runtimes_for("bf16"), ("openvino", "eager"))
            points.append(("bf16", CandidateSpec(precision="bf16", runtime=runtime)))
        int8_runtimes = self.runtimes_for("int8") if "int8" in self.precisions else ()
        for runtime in int8_runtimes:
            tag = "int8 PTQ" if len(int8_runtimes) == 1 else f"int8 PTQ {runtime}"
            points.append((tag, CandidateSpec(precision="int8", runtime=runtime)))
        ratio = 0.5 if 0.5 in self.prune_ratios else max(self.prune_ratios)
        importance = "l2" if "l2" in self.prune_importances else self.prune_importances[0]
        pruned = CandidateSpec(prune_ratio=ratio, prune_importance=importance)
        if ratio > 0:
            points.append(
                (
                    f"prune {ratio:.0%}",
                    replace(base, prune_ratio=ratio, prune_importance=importance),
                )
            )
        lowrank = max(self.lowrank_ratios)
        if lowrank > 0:
            points.append(("low-rank", replace(base, lowrank_ratio=lowrank)))
        if ratio > 0 and int8_runtimes:  # reuses the cached pruned model: no extra fine-tuning
            runtime = _preferred(int8_runtimes, ("openvino", "onnxruntime"))
            combo = replace(pruned, precision="int8", runtime=runtime)
            points.append((f"prune {ratio:.0%} + int8", combo))
        return points

    def restricted_to(
        self,
        available_runtimes: list[str],
        cannot_run: dict[str, tuple[str, ...]] | None = None,
    ) -> SearchSpace:
        """Drop runtimes this machine cannot run (e.g. OpenVINO not installed) and the
        precision/runtime pairs it would not honour (`cannot_run`, see the field)."""
        kept = tuple(r for r in self.runtimes if r in available_runtimes)
        if not kept:
            raise CnnoptError(
                f"none of the requested runtimes ({', '.join(self.runtimes)}) is available",
                f"available here: {', '.join(available_runtimes)}",
            )
        dropped = [r for r in self.runtimes if r not in kept]
        space = SearchSpace(**{**asdict(self), "runtimes": kept})
        if dropped:
            space.notes.append(f"runtimes not available here, skipped: {', '.join(dropped)}")
        for precision, runtimes in (cannot_run or {}).items():
            blocked = tuple(r for r in runtimes if r in kept)
            if precision in space.precisions and blocked:
                space.cannot_run[precision] = blocked
                space.notes.append(
                    f"{precision} on {', '.join(blocked)} skipped: this CPU cannot run "
                    f"{precision} there (it would run fp32 under a {precision} label)"
                )
        # Unknown names stay, for validate() to explain.
        servable = tuple(
            p for p in space.precisions if p not in SERVABLE_ON or space.runtimes_for(p)
        )
        if servable and servable != space.precisions:
            skipped = [p for p in space.precisions if p not in servable]
            space.precisions = servable
            space.notes.append(
                f"precisions no runtime here can serve, skipped: {', '.join(skipped)}"
            )
        return space


def _preferred(options: tuple[str, ...], order: tuple[str, ...]) -> str:
    return next((r for r in order if r in options), options[0])
