"""The quiet half of benchmarks/peers.py: measure every prepared candidate alike.

`measure` rebuilds each candidate (from peers_lib.prepare's cache) in its runtime, scores it
on the official test split through that runtime and times it with the same pinned thread
count at every batch size; `summarize` gives the verdict against the issue's target.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peers_lib import example_batch, read_json_or_none
from torch import nn

from cnnopt.bench.counts import count_macs, count_params, serialized_size
from cnnopt.bench.latency import measure_latency
from cnnopt.bench.machine import machine_info
from cnnopt.data import TensorData
from cnnopt.errors import CnnoptError
from cnnopt.evaluation import evaluate
from cnnopt.recipe import Recipe, load_applied
from cnnopt.runtimes import build_predictor
from cnnopt.serialize import load_model

PEERS = "abcdef"  # the rows (g) must beat; "g-*" rows are cnnopt's recipe on each fast runtime


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
    example = example_batch(test)
    predictor = build_predictor(
        cand.runtime, cand.source, example, threads=threads, precision=cand.precision
    )
    result = evaluate(predictor, test, batch_size=max(batch_sizes))
    latency = {}
    for batch in batch_sizes:
        batch_input = example_batch(test, batch).repeat(-(-batch // len(test)), 1, 1, 1)[:batch]
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
