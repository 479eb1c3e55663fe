"""Turn one CandidateSpec into a measured Record: build, run in its runtime, time it.

Accuracy is measured through the candidate's own predictor (the artifact in its runtime, not
the PyTorch model it came from), latency at the target batch size and thread count. Structure
steps come from the shared ModelCache; precision and runtime are applied fresh each time
because they cost no training.
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnopt.record import Record
from cnnopt.search.cache import ModelCache
from cnnopt.search.space import CandidateSpec

# Search precision name -> the quantize transform's mode.
QUANTIZE_MODES = {"bf16": "bf16", "int8": "int8_static", "qat": "qat", "mixed": "mixed"}


@dataclass
class Target:
    """Where the model will be served: the conditions every latency is measured under."""

    batch_size: int = 1
    threads: int | None = None
    device: str = "cpu"
    latency_max_seconds: float = 2.0  # per candidate; more runs = tighter p50
    eval_batch_size: int = 256


@dataclass
class BuiltCandidate:
    model: nn.Module  # the PyTorch model the artifact was made from
    predictor: Any
    recipe: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    structured: nn.Module | None = None  # after the structure steps, before quantization


def make_config(step: dict[str, Any]) -> Any:
    """A recipe step dict -> its TransformConfig, keeping only options that config has.

    The search space names a few knobs; dropping ones a transform does not take keeps the
    search working when a transform exposes fewer options.
    """
    from cnnopt.transforms import config_class

    cls = config_class(step["transform"])
    known = set(cls.__dataclass_fields__)
    options = {k: v for k, v in step.items() if k in known}
    if "rank_ratio" in step and "rank_ratio" not in known:
        for alias in ("ratio", "rank", "energy"):
            if alias in known:
                options[alias] = step["rank_ratio"]
                break
    config = cls(**options)
    config.validate()
    return config


class CandidateEvaluator:
    """Callable `spec -> Record`; holds what every candidate shares (baseline, data, cache)."""

    def __init__(
        self,
        base_model: nn.Module,
        model_name: str,
        train_data: Any,
        val_data: Any,
        cache: ModelCache,
        target: Target,
        workdir: Path,
        finetune_epochs: float = 1.0,
        calib_size: int = 256,
        seed: int = 0,
    ) -> None:
        self.base_model = base_model.eval()
        self.model_name = model_name
        self.train_data = train_data
        self.val_data = val_data
        self.cache = cache
        self.target = target
        self.workdir = Path(workdir)
        self.finetune_epochs = finetune_epochs
        self.calib_size = calib_size
        self.seed = seed
        shape = (target.batch_size, *val_data.input_shape)
        self.example = val_data.normalize(val_data.images[: target.batch_size])
        if self.example.shape[0] < target.batch_size:
            self.example = torch.randn(shape)

    # -- building ---------------------------------------------------------------------------
    def context(self, finetune: bool) -> Any:
        from cnnopt.transforms import Context

        return Context(
            train_data=self.train_data,
            val_data=self.val_data,
            calib_data=self.train_data.take(self.calib_size, seed=self.seed),
            teacher=self.base_model,
            example_input=self.example[:1],
            progress=False,
            seed=self.seed,
            finetune_epochs=self.finetune_epochs if finetune else 0,
        )

    def apply_step(self, model: nn.Module, step: dict[str, Any], finetune: bool) -> nn.Module:
        from cnnopt.transforms import apply

        torch.manual_seed(self.seed)
        return apply(model, make_config(step), self.context(finetune)).eval()

    def build(self, spec: CandidateSpec) -> BuiltCandidate:
        from cnnopt.runtimes.base import build_predictor

        if self.target.threads:
            torch.set_num_threads(self.target.threads)
        steps = spec.structure_steps()
        model = self.cache.get(self.base_model, steps, self.apply_step)
        recipe = list(steps)
        structured = model
        ctx = self.context(finetune=True)
        if spec.precision != "fp32":
            step = {"transform": "quantize", "mode": QUANTIZE_MODES[spec.precision]}
            model = self._quantize(model, step, ctx)
            recipe.append(step)
        workdir = self.workdir / spec.key()
        predictor = build_predictor(
            spec.runtime,
            model,
            self.example,
            threads=self.target.threads,
            precision=spec.precision,
            workdir=workdir,
        )
        return BuiltCandidate(model, predictor, recipe, list(ctx.notes), structured)

    def _quantize(self, model: nn.Module, step: dict[str, Any], ctx: Any) -> nn.Module:
        from cnnopt.transforms import apply

        torch.manual_seed(self.seed)
        return apply(copy.deepcopy(model), make_config(step), ctx).eval()

    # -- measuring --------------------------------------------------------------------------
    def __call__(self, spec: CandidateSpec) -> Record:
        built = self.build(spec)
        record = Record(
            name=spec.label(self.model_name),
            model=self.model_name,
            recipe=built.recipe,
            runtime=spec.runtime,
            precision=spec.precision,
            device=self.target.device,
            batch_size=self.target.batch_size,
            threads=self.target.threads,
        )
        record.accuracy = self.accuracy(built.predictor, self.val_data)
        stats = measure(built.predictor, self.example, self.target.latency_max_seconds)
        record.latency_ms_p50, record.latency_ms_p90, record.latency_ms_p99 = stats
        if record.latency_ms_p50:
            record.throughput = self.target.batch_size * 1000.0 / record.latency_ms_p50
        record.params = sum(p.numel() for p in built.model.parameters())
        record.file_size_bytes = artifact_size(built.predictor, built.model)
        record.extra["notes"] = built.notes
        return record

    def accuracy(self, predictor: Any, data: Any) -> float:
        return evaluate_accuracy(predictor, data, self.target.eval_batch_size)


def evaluate_accuracy(predictor: Any, data: Any, batch_size: int) -> float:
    from cnnopt.evaluate import evaluate

    return float(evaluate(predictor, data, batch_size=batch_size).accuracy)


def measure(predictor: Any, example: torch.Tensor, max_seconds: float) -> tuple[float, ...]:
    """(p50, p90, p99) in ms, from cnnopt.bench's measure_latency."""
    from cnnopt.bench import measure_latency

    stats = measure_latency(
        predictor.predict,
        example,
        warmup_runs=5,
        min_runs=10,
        max_runs=500,
        max_seconds=max_seconds,
    )
    return tuple(float(_stat(stats, q)) for q in ("p50", "p90", "p99"))


def _stat(stats: Any, name: str) -> float:
    for attr in (f"{name}_ms", name, f"latency_ms_{name}"):
        if hasattr(stats, attr):
            return getattr(stats, attr)
    return stats[name] if isinstance(stats, dict) else float("nan")


def artifact_size(predictor: Any, model: nn.Module) -> int:
    """Bytes of what would be deployed: the runtime's file, else the weights as safetensors."""
    path = getattr(predictor, "artifact_path", None)
    if path is not None and Path(path).exists():
        files = [Path(path)] + [
            p for p in Path(path).parent.glob(Path(path).stem + ".*") if p != Path(path)
        ]
        return sum(p.stat().st_size for p in files if p.is_file())
    buffer = io.BytesIO()
    torch.save({k: v for k, v in model.state_dict().items()}, buffer)
    return len(buffer.getvalue())
