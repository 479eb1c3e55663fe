"""Accuracy-aware mixed precision: find which layers int8 hurts, keep those in float.

1. Measure validation accuracy of the float graph and of the fully int8 graph, both through
   ONNX Runtime (the runtime that will serve it, not a torch simulation).
2. If the drop is within the budget, done. Otherwise quantize one layer at a time (every other
   layer excluded) and record the accuracy it costs: its sensitivity.
3. Exclude layers from int8, most sensitive first, until the drop is within the budget.
Calibration runs once; every re-quantization reuses the cached ranges.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnopt.outputs import output_spec
from cnnopt.transforms.quant_calib import quantizable_nodes, quantize_onnx


@dataclass
class MixedResult:
    float_accuracy: float
    int8_accuracy: float  # every layer int8
    final_accuracy: float  # with `excluded` layers in float
    excluded: list[str] = field(default_factory=list)
    sensitivity: dict[str, float] = field(default_factory=dict)  # layer -> accuracy points lost
    within_budget: bool = True


def ort_accuracy(onnx_bytes: bytes, data: Any, workdir: Path, output: Any = None) -> float:
    from cnnopt.evaluation import evaluate
    from cnnopt.runtimes.onnxrt import OrtPredictor

    path = workdir / "candidate.onnx"
    path.write_bytes(onnx_bytes)
    predictor = OrtPredictor(path, threads=torch.get_num_threads(), precision="int8", output=output)
    return float(evaluate(predictor, data, batch_size=256).accuracy)


def mixed_precision(
    model: nn.Module,
    example: torch.Tensor,
    calib_data: Any,
    val_data: Any,
    *,
    budget_points: float,
    calibration: str = "minmax",
    per_channel: bool = True,
    activation_type: str = "int8",
    progress: bool = False,
    reduce_range: bool = False,
) -> MixedResult:
    """Choose the layers to keep in float so val accuracy drops by at most `budget_points`."""
    from cnnopt.bench.progress import progress_bar
    from cnnopt.runtimes.export import onnx_fp32_bytes

    fp32 = onnx_fp32_bytes(model, example[:1])
    nodes = quantizable_nodes(fp32)
    with tempfile.TemporaryDirectory(prefix="cnnopt-mixed-") as tmp:
        work = Path(tmp)

        def int8_accuracy(exclude: list[str]) -> float:
            graph = quantize_onnx(
                fp32,
                calib_data,
                calibration=calibration,
                per_channel=per_channel,
                activation_type=activation_type,
                nodes_to_exclude=exclude,
                cache_dir=work,
                progress=progress,
                reduce_range=reduce_range,
            )
            return ort_accuracy(graph, val_data, work, output_spec(model))

        float_acc = ort_accuracy(fp32, val_data, work, output_spec(model))
        full = int8_accuracy([])
        result = MixedResult(float_acc, full, full)
        if _drop(float_acc, full) <= budget_points:
            return result
        with progress_bar(progress, len(nodes), "layer sensitivity") as advance:
            for node in nodes:
                others = [n for n in nodes if n != node]
                result.sensitivity[node] = _drop(float_acc, int8_accuracy(others))
                advance()
        ranked = sorted(nodes, key=lambda n: result.sensitivity[n], reverse=True)
        for node in ranked:
            result.excluded.append(node)
            result.final_accuracy = int8_accuracy(result.excluded)
            if _drop(float_acc, result.final_accuracy) <= budget_points:
                break
        result.within_budget = _drop(float_acc, result.final_accuracy) <= budget_points
    return result


def _drop(reference: float, accuracy: float) -> float:
    """Accuracy lost, in percentage points."""
    return (reference - accuracy) * 100.0
