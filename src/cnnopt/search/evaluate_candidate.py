"""Turn one CandidateSpec into a measured Record: build, run in its runtime, time it.

Accuracy is measured through the candidate's own predictor (the artifact in its runtime, not
the PyTorch model it came from), latency at the target batch size and thread count. Structure
steps come from the shared ModelCache; precision and runtime are applied fresh each time
because they cost no training.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnopt.isolation import set_stage
from cnnopt.record import Record
from cnnopt.search.cache import ModelCache
from cnnopt.search.deadline import RunDeadline, finetune_deadline
from cnnopt.search.space import CandidateSpec

# Search precision name -> the quantize transform's mode.
QUANTIZE_MODES = {"bf16": "bf16", "int8": "int8_static", "qat": "qat", "mixed": "mixed"}
# Images a structure change (or QAT) is fine-tuned on by default: a random subset of a large
# training set, several passes over a small one. Starting from trained weights (and distilled
# from them) a pruned model recovers most of its accuracy within ~150 steps, while a full
# Fashion-MNIST epoch per candidate would eat the search budget; a tiny set's single epoch
# (a dozen steps) recovers nothing at all.
FINETUNE_IMAGES = 20_000
# The least fine-tuning worth starting a candidate for when none has been timed yet: with a
# time budget, a candidate whose fine-tuning would be cut to nothing is skipped instead.
MIN_FINETUNE_S = 3.0


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
    cut: list[str] = field(default_factory=list)  # what the time budget cut short in it


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
        finetune_epochs: float | None = None,
        calib_size: int = 256,
        seed: int = 0,
        finetune_images: int | None = FINETUNE_IMAGES,
        deadline: RunDeadline | None = None,
    ) -> None:
        self.base_model = base_model.eval()
        self.model_name = model_name
        self.train_data = train_data
        self.val_data = val_data
        self.cache = cache
        self.target = target
        self.workdir = Path(workdir)
        self.finetune_data, self.finetune_epochs = finetune_plan(
            train_data, finetune_epochs, finetune_images, seed
        )
        self.calib_size = calib_size
        # Quantized models by (structure, precision), with their notes and what the budget
        # cut: QAT trains, and the front is rebuilt after the search (test accuracy,
        # robustness, export) from the very same model.
        self._quantized: dict[str, tuple[nn.Module, list[str], list[str]]] = {}
        # The run's deadline: fine-tuning (structure steps, QAT) stops in time to measure.
        self.deadline = deadline
        self._step_cut: list[str] = []  # what the last fine-tuned step had cut short
        self.training_seconds: list[float] = []  # per fine-tuned step or QAT, as measured
        self.overhead_seconds: list[float] = []  # per candidate, training excluded
        self.seed = seed
        shape = (target.batch_size, *val_data.input_shape)
        self.example = val_data.normalize(val_data.images[: target.batch_size])
        if self.example.shape[0] < target.batch_size:
            self.example = torch.randn(shape)

    # -- building ---------------------------------------------------------------------------
    def context(self, finetune: bool) -> Any:
        from cnnopt.transforms import Context

        return Context(
            train_data=self.finetune_data,
            val_data=self.val_data,
            calib_data=self.train_data.take(self.calib_size, seed=self.seed),
            teacher=self.base_model,
            example_input=self.example[:1],
            progress=False,
            seed=self.seed,
            finetune_epochs=self.finetune_epochs if finetune else 0,
            deadline=finetune_deadline(self.deadline, _mean(self.overhead_seconds)),
        )

    def apply_step(self, model: nn.Module, step: dict[str, Any], finetune: bool) -> nn.Module:
        from cnnopt.transforms import apply

        torch.manual_seed(self.seed)
        started = time.perf_counter()
        ctx = self.context(finetune)
        model = apply(model, make_config(step), ctx).eval()
        if finetune:
            self.training_seconds.append(time.perf_counter() - started)
            self._step_cut = list(ctx.cut)
        return model

    def _take_cut(self) -> list[str]:
        """What the time budget cut in the step apply_step just fine-tuned (for the cache)."""
        cut, self._step_cut = self._step_cut, []
        return cut

    def build(self, spec: CandidateSpec) -> BuiltCandidate:
        from cnnopt.runtimes.base import build_predictor

        if self.target.threads:
            torch.set_num_threads(self.target.threads)
        steps = spec.structure_steps()
        set_stage("build")  # stages name where a crash in an isolated child happened
        model = self.cache.get(self.base_model, steps, self.apply_step, self._take_cut)
        recipe = list(steps)
        structured = model
        ctx = self.context(finetune=True)
        cut = self.cache.cut_notes(steps) if steps else []
        if steps and not cut:
            ctx.notes.append(
                f"fine-tuned {self.finetune_epochs:g} epoch(s) on {len(self.finetune_data)} "
                "training images, distilled from the baseline"
            )
        ctx.notes.extend(cut)
        if spec.precision != "fp32":
            step = {"transform": "quantize", "mode": QUANTIZE_MODES[spec.precision]}
            memo = json.dumps([steps, step], sort_keys=True)
            if memo not in self._quantized:
                set_stage("quantize")
                started = time.perf_counter()
                quantized = self._quantize(model, step, ctx)
                self._quantized[memo] = (quantized, list(ctx.notes), list(ctx.cut))
                if spec.precision == "qat":
                    self.training_seconds.append(time.perf_counter() - started)
            model, notes, quantize_cut = self._quantized[memo]
            ctx.notes[:] = notes
            cut += quantize_cut
            recipe.append(step)
        workdir = self.workdir / spec.key()
        set_stage("export")
        predictor = build_predictor(
            spec.runtime,
            model,
            self.example,
            threads=self.target.threads,
            precision=spec.precision,
            workdir=workdir,
        )
        return BuiltCandidate(model, predictor, recipe, list(ctx.notes), structured, cut)

    def effective_spec(self, spec: CandidateSpec) -> CandidateSpec:
        """`spec` without the structure steps that changed nothing (a prune that found no
        channel it could remove, a low-rank pass that factorized no layer): such a candidate
        is its parent, and measuring it again under another name would show timing noise
        as a difference. Builds (from the cache) what `spec` needs anyway."""
        steps = [s for s in spec.structure_steps() if s["transform"] != "distill"]
        if not steps:
            return spec
        changed, prefix, parent = {}, [], structure_signature(self.base_model)
        set_stage("build")
        for step in steps:
            prefix.append(step)
            model = self.cache.get(self.base_model, prefix, self.apply_step, self._take_cut)
            current = structure_signature(model)
            changed[step["transform"]] = current != parent
            parent = current
        return dataclasses.replace(
            spec,
            prune_ratio=spec.prune_ratio if changed.get("prune", True) else 0.0,
            lowrank_ratio=spec.lowrank_ratio if changed.get("lowrank", True) else 0.0,
        )

    def _quantize(self, model: nn.Module, step: dict[str, Any], ctx: Any) -> nn.Module:
        from cnnopt.transforms import apply

        torch.manual_seed(self.seed)
        return apply(copy.deepcopy(model), make_config(step), ctx).eval()

    # -- measuring --------------------------------------------------------------------------
    def __call__(self, spec: CandidateSpec) -> Record:
        started, trained = time.perf_counter(), sum(self.training_seconds)
        record = self._measure(spec)
        training = sum(self.training_seconds) - trained
        self.overhead_seconds.append(time.perf_counter() - started - training)
        return record

    def _measure(self, spec: CandidateSpec) -> Record:
        built = self.build(spec)
        # what the prune step achieved (not what it was asked for), for the label and record
        pruned = getattr(built.structured, "cnnopt_prune_result", None)
        pruned = pruned if spec.prune_ratio else None
        record = Record(
            name=spec.label(self.model_name, pruned),
            model=self.model_name,
            recipe=built.recipe,
            runtime=spec.runtime,
            precision=spec.precision,
            device=self.target.device,
            batch_size=self.target.batch_size,
            threads=self.target.threads,
        )
        set_stage("accuracy")
        fill_accuracy(record, self.evaluation(built.predictor, self.val_data))
        ran = getattr(built.predictor, "precision", spec.precision)  # known after a run
        if spec.precision in ("bf16", "fp16") and ran == "fp32":  # a runtime overruled it
            record.precision = ran
            record.name += f" (ran fp32: {spec.precision} not supported here)"
            built.notes.append(f"{spec.runtime} ran fp32: this CPU has no {spec.precision}")
        set_stage("measure")
        stats = measure(built.predictor, self.example, self.target.latency_max_seconds)
        fill_latency(record, stats)
        record.params = sum(p.numel() for p in built.model.parameters())
        record.file_size_bytes = artifact_size(built.predictor, built.model)
        record.extra["notes"] = built.notes
        if built.cut:
            record.extra["budget_cut"] = built.cut
        if pruned:
            record.extra["achieved"] = dict(pruned)
        return record

    def estimate_seconds(self, spec: CandidateSpec, quantized: Any = None) -> float:
        """Rough cost of measuring `spec` now, from what earlier candidates took: one
        fine-tuning per structure step not in the cache (and per new QAT; MIN_FINETUNE_S
        before any was timed, since a time budget would cut it anyway) plus the usual
        build-and-measure time. `quantized`: the memo keys held by the process that builds
        (an isolated child), if not this one."""
        steps = spec.structure_steps()
        trainings = sum(not self.cache.path(steps[:i]).exists() for i in range(1, len(steps) + 1))
        if spec.precision == "qat":
            step = {"transform": "quantize", "mode": QUANTIZE_MODES["qat"]}
            held = self._quantized if quantized is None else quantized
            trainings += json.dumps([steps, step], sort_keys=True) not in held
        per_training = _mean(self.training_seconds) or MIN_FINETUNE_S
        return trainings * per_training + _mean(self.overhead_seconds)

    def accuracy(self, predictor: Any, data: Any) -> float:
        return float(self.evaluation(predictor, data).accuracy)

    def evaluation(self, predictor: Any, data: Any) -> Any:
        """The predictor's EvalResult on `data` (accuracy, per-image correctness)."""
        from cnnopt.evaluation import evaluate

        return evaluate(predictor, data, batch_size=self.target.eval_batch_size)


def structure_signature(model: nn.Module) -> list[tuple[str, str, tuple[int, ...]]]:
    """Every parameter's owner type, name and shape: equal exactly when no layer was
    narrowed or replaced."""
    owners = dict(model.named_modules())
    return [
        (type(owners.get(name.rpartition(".")[0], model)).__name__, name, tuple(p.shape))
        for name, p in model.named_parameters()
    ]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def finetune_plan(
    train_data: Any, epochs: float | None, images: int | None, seed: int
) -> tuple[Any, float]:
    """(data, epochs) for fine-tuning. `images` caps the data to a fixed random subset; with
    epochs=None the model sees about `images` images in all (several passes over a small
    set), so a tiny dataset is not "fine-tuned" by a dozen steps."""
    data = train_data
    if images and len(train_data) > images:
        data = train_data.take(images, seed=seed)
    if epochs is not None:
        return data, float(epochs)
    if not images:
        return data, 1.0
    return data, round(max(1.0, images / max(len(data), 1)), 2)


def fill_accuracy(record: Record, result: Any) -> None:
    """Accuracy with how many images it comes from, its interval, and which images were
    right (so the report can tell a real gain over the baseline from noise)."""
    from cnnopt.stats import pack_correct

    record.accuracy = float(result.accuracy)
    record.accuracy_images = int(result.num_samples)
    record.accuracy_ci = [round(x, 6) for x in result.interval()]
    record.extra["correct"] = pack_correct(result.correct)


def measure(predictor: Any, example: torch.Tensor, max_seconds: float) -> Any:
    """cnnopt.bench's LatencyStats: blocks of runs, re-timed once if they disagree (the
    front is re-timed beside the baseline at the end anyway, search/confirm.py, so a second
    retry would only spend the budget)."""
    from cnnopt.bench import measure_latency

    return measure_latency(
        predictor.predict, example, warmup_runs=5, min_runs=10, max_runs=500,
        max_seconds=max_seconds, retries=1,
    )  # fmt: skip


def fill_latency(record: Record, stats: Any) -> None:
    record.latency_ms_p50, record.latency_ms_p90 = stats.p50_ms, stats.p90_ms
    record.latency_ms_p99 = stats.p99_ms
    record.throughput = record.batch_size * 1000.0 / stats.p50_ms if stats.p50_ms else None
    record.timing = {
        "runs": stats.runs,
        "block_medians_ms": [round(x, 5) for x in stats.block_medians_ms],
        "spread": round(stats.spread, 4),
        "stable": stats.stable,
        "retimed": stats.retimed,
        "state": stats.state,
    }


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
