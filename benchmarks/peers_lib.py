"""The work behind benchmarks/peers.py: build every candidate once, then measure them all alike.

`prepare` does the slow, load-insensitive part (pruning, fine-tuning, calibration, export) and
caches its results under one directory as safetensors checkpoints and ONNX files, so `measure`
can run later on a quiet machine without training anything. `measure` rebuilds each candidate
in its runtime, scores it on the official test split through that runtime and times it with
the same pinned thread count at every batch size.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnopt.bench.counts import count_macs, count_params, serialized_size
from cnnopt.bench.latency import measure_latency
from cnnopt.bench.machine import machine_info
from cnnopt.data import TensorData, load_dataset
from cnnopt.errors import CnnoptError
from cnnopt.evaluate import evaluate
from cnnopt.fileio import ensure_dir, write_json
from cnnopt.recipe import Recipe, apply_recipe, load_applied, save_applied
from cnnopt.runtimes import build_predictor, export_onnx
from cnnopt.train import load_model
from cnnopt.transforms.base import Context, apply
from cnnopt.transforms.fuse import FuseConfig
from cnnopt.transforms.prune import PruneConfig
from cnnopt.transforms.quantize import QuantizeConfig

PEERS = "abcdef"  # the rows (g) must beat; "g-*" rows are cnnopt's recipe on each fast runtime
CALIB_SIZE = 512


@dataclass
class PeerData:
    train: TensorData  # fine-tuning only
    val: TensorData  # checkpoint selection during fine-tuning
    test: TensorData  # only ever reported


def load_data(
    dataset: str = "fashion-mnist",
    test_limit: int | None = None,
    train_limit: int | None = None,
    **options: Any,
) -> PeerData:
    """Official test split (optionally a seeded subset); train/val for everything learned."""
    train = load_dataset(dataset, "train", **options).take(train_limit, seed=1)
    val = load_dataset(dataset, "val", **options)
    if train_limit is not None:
        val = val.take(max(64, train_limit // 10), seed=2)
    test = load_dataset(dataset, "test", **options).take(test_limit, seed=3)
    return PeerData(train, val, test)


def peer_f_recipe(finetune_epochs: float) -> Recipe:
    """(f): the plain Torch-Pruning peer: 50% L2 channel pruning, hard-label fine-tuning."""
    step = PruneConfig(ratio=0.5, importance="l2", finetune_epochs=finetune_epochs)
    return Recipe(steps=[step], name="torch-pruning 50% + fine-tune")


def best_recipe(
    finetune_epochs: float, ratio: float = 0.6, calibration: str = "percentile"
) -> Recipe:
    """(g): prune harder than (f) but fine-tune against the unpruned teacher (apply_recipe
    distils whenever a step needs fine-tuning), fold BN, then int8 static PTQ for the fast
    runtimes. Percentile calibration ignores the rare outlier activations min-max would let
    stretch the int8 grid."""
    return Recipe(
        steps=[
            PruneConfig(ratio=ratio, importance="l2", finetune_epochs=finetune_epochs),
            FuseConfig(),
            QuantizeConfig(mode="int8_static", calibration=calibration, calib_size=CALIB_SIZE),
        ],
        name="cnnopt best: prune + distill + BN fold + int8 PTQ",
    )


def _example(data: TensorData, batch: int = 1) -> torch.Tensor:
    return data.normalize(data.images[:batch])


def read_json_or_none(path: Path) -> Any:
    """A finished marker file's content; None when absent or torn (then the step reruns)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _stale(directory: Path, options: dict[str, Any]) -> bool:
    """True unless `directory` holds a finished artifact built with exactly these options."""
    done = read_json_or_none(directory / "peers.json")
    return done is None or done.get("options") != options


def _mark_done(directory: Path, options: dict[str, Any], **info: Any) -> None:
    write_json(directory / "peers.json", {"options": options, **info})  # written last


def prepare(
    checkpoint: str | os.PathLike,
    cache: str | os.PathLike,
    data: PeerData,
    *,
    f_epochs: float = 2.0,
    g_recipe: Recipe | None = None,
    force: bool = False,
    progress: bool = True,
    finetune_precision: str = "fp32",
) -> dict[str, Any]:
    """Build (b)-(g)'s artifacts under `cache`, skipping those already built alike.

    `finetune_precision="bf16"` fine-tunes (f) and (g) with bf16 autocast and channels-last,
    about 2x faster on a CPU with avx512_bf16; both get the same setting, so it is fair.
    """
    cache = ensure_dir(cache)
    base = load_model(checkpoint)
    example = _example(data.train)
    g_recipe = g_recipe or best_recipe(2.0)
    source = {"checkpoint": str(Path(checkpoint).resolve()), "train": len(data.train)}
    notes: list[str] = []

    base_dir = ensure_dir(cache / "base")
    base_opts = {**source, "calibration": "minmax", "calib_size": CALIB_SIZE}
    if force or _stale(base_dir, base_opts):
        export_onnx(base, example, base_dir / "fp32.onnx")
        quantized = apply(
            copy.deepcopy(base),
            QuantizeConfig(mode="int8_static", calib_size=CALIB_SIZE),  # runtime defaults
            Context(calib_data=data.train, example_input=example, progress=progress, notes=notes),
        )
        export_onnx(quantized, example, base_dir / "int8.onnx")
        _mark_done(base_dir, base_opts)

    f_dir = cache / "f"
    f_recipe = peer_f_recipe(f_epochs)
    tuning = {"finetune_precision": finetune_precision,
              "finetune_channels_last": finetune_precision == "bf16"}  # fmt: skip
    f_opts = {**source, "recipe": f_recipe.to_dict(), **tuning}
    if force or _stale(f_dir, f_opts):
        # apply() without a teacher: plain hard-label fine-tuning, as a Torch-Pruning user does
        ctx = Context(
            data.train, data.val, example_input=example, progress=progress, notes=notes, **tuning
        )
        pruned = apply(copy.deepcopy(base), f_recipe.steps[0], ctx)
        save_applied(f_dir, pruned, f_recipe)
        _mark_done(f_dir, f_opts)

    g_dir = cache / "g"
    g_opts = {**source, "recipe": g_recipe.to_dict(), **tuning}
    if force or _stale(g_dir, g_opts):
        ctx = Context(
            data.train,
            data.val,
            data.train,
            example_input=example,
            progress=progress,
            notes=notes,
            **tuning,
        )
        best = apply_recipe(base, g_recipe, ctx, progress=progress)
        save_applied(g_dir, best, g_recipe)  # the float weights (pruned, BN folded)
        export_onnx(best, example, g_dir / "int8.onnx")  # the int8 graph quantize built
        _mark_done(g_dir, g_opts)
    return {"cache": str(cache), "notes": notes, "g_recipe": g_recipe.to_dict()}


def openvino_default_precision(onnx_path: Path, threads: int) -> str:
    """The float precision OpenVINO's CPU plugin picks with no INFERENCE_PRECISION_HINT.

    cnnopt's builder always sets the hint (so fp32 means fp32), hence (d) asks OpenVINO
    directly what its own default would be and then requests exactly that.
    """
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(str(onnx_path)), "CPU", {"INFERENCE_NUM_THREADS": threads}
    )
    chosen = compiled.get_property("INFERENCE_PRECISION_HINT")
    name = getattr(chosen, "get_type_name", lambda: str(chosen))()
    return {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}.get(name, "fp32")


@dataclass
class Candidate:
    key: str  # a..f peers, g-<runtime> for cnnopt's recipe
    label: str
    runtime: str
    source: nn.Module | Path
    model: nn.Module  # float torch model: params and MACs
    precision: str = "fp32"


def candidates(checkpoint: str | os.PathLike, cache: str | os.PathLike, threads: int) -> list:
    cache = Path(cache)
    for part in ("base", "f", "g"):
        if read_json_or_none(cache / part / "peers.json") is None:
            raise CnnoptError(
                f"{cache / part} is missing or unfinished", "run with --phase prepare first"
            )
    base = load_model(checkpoint)
    pruned, best = load_applied(cache / "f"), load_applied(cache / "g")
    fp32, int8, g_int8 = cache / "base/fp32.onnx", cache / "base/int8.onnx", cache / "g/int8.onnx"
    ov_default = openvino_default_precision(fp32, threads)
    return [
        Candidate("a", "PyTorch eager fp32", "eager", base, base),
        Candidate("b", "ONNX Runtime fp32", "onnxruntime", fp32, base),
        Candidate("c", "ONNX Runtime int8 PTQ", "onnxruntime", int8, base, "int8"),
        Candidate("d", "OpenVINO default", "openvino", fp32, base, ov_default),
        Candidate("e", "OpenVINO int8 PTQ", "openvino", int8, base, "int8"),
        Candidate("f", "torch-pruning 50% + fine-tune (eager)", "eager", pruned, pruned),
        Candidate(
            "g-onnxruntime", "cnnopt best on ONNX Runtime", "onnxruntime", g_int8, best, "int8"
        ),
        Candidate("g-openvino", "cnnopt best on OpenVINO", "openvino", g_int8, best, "int8"),
    ]


def measure_candidate(
    cand: Candidate,
    test: TensorData,
    threads: int,
    batch_sizes: list[int],
    max_seconds: float,
) -> dict[str, Any]:
    """Accuracy through the runtime itself, then p50/p90 latency per batch size."""
    example = _example(test)
    predictor = build_predictor(
        cand.runtime, cand.source, example, threads=threads, precision=cand.precision
    )
    result = evaluate(predictor, test, batch_size=max(batch_sizes))
    latency = {}
    for batch in batch_sizes:
        batch_input = _example(test, batch).repeat(-(-batch // len(test)), 1, 1, 1)[:batch]
        stats = measure_latency(predictor, batch_input, warmup_runs=10, max_seconds=max_seconds)
        latency[str(batch)] = {
            "p50_ms": stats.p50_ms,
            "p90_ms": stats.p90_ms,
            "throughput": stats.throughput,
            "runs": stats.runs,
        }
    size = serialized_size(predictor) or serialized_size(cand.model)
    return {
        "key": cand.key,
        "name": cand.label,
        "runtime": cand.runtime,
        "precision": predictor.precision,
        "accuracy": result.accuracy,
        "latency": latency,
        "params": count_params(cand.model),
        "macs": count_macs(cand.model, example),
        "file_bytes": size,
        "describe": predictor.describe(),
    }


def summarize(rows: list[dict[str, Any]], batch_sizes: list[int]) -> dict[str, Any]:
    """(g) = the cnnopt runtime with the best worst-case speed-up over the fastest peer.

    Also reported: serving each batch size on its own fastest runtime (same recipe and int8
    graph), with the worse of the two runtimes' accuracies, since the runtimes round apart.
    """
    peers = [r for r in rows if r["key"] in PEERS]
    reference = next(r for r in rows if r["key"] == "a")
    best_peer = {
        str(b): min(peers, key=lambda r: r["latency"][str(b)]["p50_ms"]) for b in batch_sizes
    }

    def speedups(row: dict[str, Any]) -> dict[str, float]:
        return {
            b: best_peer[b]["latency"][b]["p50_ms"] / row["latency"][b]["p50_ms"] for b in best_peer
        }

    def loss(chosen: list[dict[str, Any]]) -> float:
        return (min(r["accuracy"] for r in chosen) - reference["accuracy"]) * 100

    ours = [r for r in rows if r["key"].startswith("g-")]
    chosen = max(ours, key=lambda r: min(speedups(r).values()))
    gains = speedups(chosen)
    delta = loss([chosen])
    fastest = {b: max(ours, key=lambda r, b=b: speedups(r)[b]) for b in best_peer}
    return {
        "g": chosen["key"],
        "best_peer": {b: row["key"] for b, row in best_peer.items()},
        "speedup_vs_best_peer": gains,
        "accuracy_delta_points": delta,
        "target": {"speedup": 2.0, "max_accuracy_loss_points": 0.5},
        "target_met": min(gains.values()) >= 2.0 and delta >= -0.5,
        "g_per_batch_size": {
            "runtime": {b: row["key"] for b, row in fastest.items()},
            "speedup_vs_best_peer": {b: speedups(row)[b] for b, row in fastest.items()},
            "accuracy_delta_points": loss(list(fastest.values())),
        },
    }


def model_name(model: nn.Module) -> str:
    """e.g. 'resnet18' or 'resnet18 (width 0.25)', from the zoo spec the checkpoint carries."""
    spec = getattr(model, "cnnopt_spec", None) or {}
    name = str(spec.get("name", type(model).__name__))
    width = spec.get("width", 1.0)
    return name if width in (None, 1, 1.0) else f"{name} (width {width:g})"


def measure(
    checkpoint: str | os.PathLike,
    cache: str | os.PathLike,
    test: TensorData,
    *,
    threads: int = 2,
    batch_sizes: list[int] | None = None,
    max_seconds: float = 5.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Every row, measured in one process with the same thread count, plus the verdict."""
    from cnnopt.bench.progress import progress_bar

    batch_sizes = batch_sizes or [1, 32]
    load_before = os.getloadavg()
    torch.set_num_threads(threads)
    cands = candidates(checkpoint, cache, threads)
    rows = []
    with progress_bar(progress, len(cands), "measuring") as advance:
        for cand in cands:
            rows.append(measure_candidate(cand, test, threads, batch_sizes, max_seconds))
            advance(cand.label)
    recipe = Recipe.load(Path(cache) / "g" / "recipe.yaml")
    return {
        "benchmark": "peers",
        "machine": machine_info(),
        "threads": threads,
        "batch_sizes": batch_sizes,
        "max_seconds": max_seconds,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "checkpoint": str(checkpoint),
        "model": model_name(cands[0].model),
        "dataset": test.name,
        "test_images": len(test),
        "openvino_default_precision": next(r for r in rows if r["key"] == "d")["precision"],
        "rows": rows,
        "summary": summarize(rows, batch_sizes),
        "g_recipe": recipe.to_dict(),
        # how (f) and (g) were built: training data size and fine-tuning precision
        "prepared_with": {
            key: read_json_or_none(Path(cache) / key / "peers.json") or {} for key in ("f", "g")
        },
    }
