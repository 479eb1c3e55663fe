"""ONNX Runtime: fp32 graphs and int8 QDQ graphs (from PTQ, mixed precision or QAT).

Tuned for single-stream latency: all graph optimizations (conv+BN+ReLU fusion, QDQ -> QLinear
kernels), a pinned intra-op thread pool, no inter-op pool and sequential execution. An
nn.Module is exported first (int8 when the quantize transform annotated it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnopt.errors import CnnoptError
from cnnopt.isolation.child import stage
from cnnopt.outputs import output_position
from cnnopt.runtimes._common import (
    ModelSource,
    check_example,
    check_precision,
    check_threads,
    model_output,
    onnx_source,
    planned_precision,
    reject_options,
)
from cnnopt.runtimes.base import Predictor, register_runtime

GRAPH_LEVELS = ("disable", "basic", "extended", "all")
QUANTIZED_NAMES = ("int8", "qat", "mixed")


class OrtPredictor(Predictor):
    runtime = "onnxruntime"

    def __init__(
        self,
        path: Path,
        *,
        threads: int,
        precision: str,
        graph_optimization: str = "all",
        providers: list[str] | None = None,
        runtime: str = "onnxruntime",
        device: str = "cpu",
        output: Any = None,
    ) -> None:
        import onnxruntime as ort

        levels = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        options = ort.SessionOptions()
        options.graph_optimization_level = levels[graph_optimization]
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # warnings about unused initializers are noise here
        try:
            with stage("compile"):  # names the stage if it crashes in an isolated child
                self.session = ort.InferenceSession(
                    str(path), options, providers=providers or ["CPUExecutionProvider"]
                )
        except Exception as exc:
            raise CnnoptError(
                f"ONNX Runtime cannot load {path}: {str(exc).splitlines()[0][:300]}",
                "re-export the model with `cnnopt export` (opset >= 17)",
            ) from exc
        self.input_name = self.session.get_inputs()[0].name
        # The file keeps every output (deployment); accuracy and parity use the chosen one.
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.output_index = output_position(self.output_names, output)
        self.runtime = runtime
        self.device = device
        self.threads = threads
        self.precision = precision
        self.artifact_path = Path(path)
        self.graph_optimization = graph_optimization

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        outputs = self.session.run(None, {self.input_name: array})
        return torch.from_numpy(outputs[self.output_index])

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "graph_optimization": self.graph_optimization,
            "output": self.output_names[self.output_index],
            "providers": self.session.get_providers(),
        }


def ort_precision(
    requested: str, model: ModelSource, graph_precision: str | None, runtime: str
) -> str:
    """What the session really runs: the graph decides int8; float requests must be fp32."""
    requested = check_precision(
        runtime, planned_precision(model, requested), ("fp32", "bf16", "fp16", *QUANTIZED_NAMES)
    )
    if requested in ("bf16", "fp16"):
        raise CnnoptError(
            f"ONNX Runtime's CPU kernels have no {requested} convolutions",
            "use runtime 'openvino' (precision hint) or 'eager' for bf16, or int8 here",
        )
    if graph_precision == "int8":
        return "int8"
    if requested in QUANTIZED_NAMES:
        raise CnnoptError(
            f"precision {requested!r} needs an int8 model, but this one is float",
            "apply QuantizeConfig(mode='int8_static') first (cnnopt quantize), or load its "
            "int8 .onnx file",
        )
    return "fp32"


@register_runtime("onnxruntime")
def build_onnxruntime(
    model: ModelSource,
    example_input: torch.Tensor,
    *,
    threads: int | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
    workdir: Any = None,
    graph_optimization: str = "all",
    output: Any = None,
    **options: Any,
) -> Predictor:
    """ONNX Runtime on CPU; `graph_optimization` is disable|basic|extended|all.

    `channels_last` is accepted for a uniform signature and ignored: ORT picks its own layout.
    """
    reject_options("onnxruntime", options)
    if graph_optimization not in GRAPH_LEVELS:
        raise CnnoptError(
            f"unknown graph optimization level {graph_optimization!r}",
            f"choose one of {', '.join(GRAPH_LEVELS)}",
        )
    example = check_example(example_input)
    threads = check_threads(threads)
    path, graph_precision = onnx_source(model, example, "onnxruntime", workdir)
    predictor = OrtPredictor(
        path,
        threads=threads,
        precision=ort_precision(precision, model, graph_precision, "onnxruntime"),
        graph_optimization=graph_optimization,
        output=model_output(model, output),
    )
    check_input(predictor, example)
    return predictor


def check_input(predictor: Predictor, example: torch.Tensor) -> None:
    """Run the example once so a shape mismatch fails at build time with a clear message."""
    try:
        predictor.predict(example)
    except Exception as exc:
        raise CnnoptError(
            f"{predictor.runtime} cannot run an input of shape {tuple(example.shape)}: "
            f"{str(exc).splitlines()[0][:200]}",
            "pass an example input with the channels and size the model was exported for",
        ) from exc
