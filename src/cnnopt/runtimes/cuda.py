"""CUDA runtimes: PyTorch eager on the GPU (fp32 or AMP autocast) and ONNX Runtime's CUDA
provider. Both refuse clearly on machines without a GPU (or without onnxruntime-gpu) instead of
silently falling back to the CPU, which would make every number in a comparison wrong.
"""

from __future__ import annotations

from typing import Any

import torch

from cnnopt.errors import CnnoptError
from cnnopt.runtimes._common import (
    ModelSource,
    check_example,
    model_output,
    onnx_source,
    reject_options,
)
from cnnopt.runtimes.base import Predictor, register_runtime
from cnnopt.runtimes.eager import TorchPredictor, prepare_module
from cnnopt.runtimes.onnxrt import OrtPredictor, check_input, ort_precision


def _require_gpu(runtime: str) -> None:
    if not torch.cuda.is_available():
        raise CnnoptError(
            f"runtime {runtime!r} needs an NVIDIA GPU and none is visible to PyTorch",
            "use runtime 'eager', 'onnxruntime' or 'openvino' on this machine",
        )


@register_runtime("cuda")
def build_cuda(
    model: ModelSource,
    example_input: torch.Tensor,
    *,
    threads: int | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
    workdir: Any = None,
    **options: Any,
) -> Predictor:
    """PyTorch eager on cuda:0; precision fp16/bf16 = AMP autocast, weights stay fp32."""
    reject_options("cuda", options)
    _require_gpu("cuda")
    example = check_example(example_input)
    module, precision = prepare_module(model, precision, channels_last, "cuda")
    predictor = TorchPredictor(
        module.to("cuda"),
        runtime="cuda",
        precision=precision,
        threads=torch.get_num_threads(),
        channels_last=channels_last,
        device="cuda",
    )
    predictor.predict(example[:1])
    return predictor


@register_runtime("onnxruntime-cuda")
def build_onnxruntime_cuda(
    model: ModelSource,
    example_input: torch.Tensor,
    *,
    threads: int | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
    workdir: Any = None,
    **options: Any,
) -> Predictor:
    """ONNX Runtime with CUDAExecutionProvider (needs the onnxruntime-gpu package)."""
    import onnxruntime as ort

    reject_options("onnxruntime-cuda", options)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise CnnoptError(
            "ONNX Runtime here has no CUDA execution provider "
            f"(available: {', '.join(ort.get_available_providers())})",
            "install onnxruntime-gpu on a machine with an NVIDIA GPU, or use 'onnxruntime'",
        )
    example = check_example(example_input)
    path, graph_precision = onnx_source(model, example, "onnxruntime-cuda", workdir)
    predictor = OrtPredictor(
        path,
        threads=threads or torch.get_num_threads(),
        precision=ort_precision(precision, model, graph_precision, "onnxruntime-cuda"),
        providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
        runtime="onnxruntime-cuda",
        device="cuda",
        output=model_output(model),
    )
    check_input(predictor, example)
    return predictor
