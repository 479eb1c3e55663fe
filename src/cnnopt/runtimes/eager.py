"""PyTorch eager: the reference runtime, fp32 or bf16/fp16 (autocast), optionally NHWC.

int8 in eager means what torch itself can run: dynamic int8 Linear layers
(torch.ao quantize_dynamic) and QAT models, whose fake-quant ops simulate int8 in float.
Static int8 PTQ lives in the ONNX graph (see cnnopt.transforms.quantize) and runs in
'onnxruntime' or 'openvino'; asking eager for it is an error with that hint.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from typing import Any

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.outputs import output_spec, select_output, set_output
from cnnopt.runtimes._common import (
    check_example,
    check_precision,
    check_threads,
    reject_options,
    torch_threads,
)
from cnnopt.runtimes.base import Predictor, register_runtime

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Precision names the search passes for quantized candidates: the model's plan decides.
QUANTIZED_NAMES = ("int8", "qat", "mixed")


class TorchPredictor(Predictor):
    """Runs an nn.Module (or a compiled one) under pinned threads and optional autocast."""

    def __init__(
        self,
        module: Any,
        *,
        runtime: str,
        precision: str,
        threads: int,
        channels_last: bool,
        device: str = "cpu",
    ) -> None:
        self.model = module
        self.runtime = runtime
        self.precision = precision
        self.threads = threads
        self.channels_last = channels_last
        self.device = device
        self._autocast = AUTOCAST_DTYPES.get(precision)
        # Read before torch.compile wraps the module: the prediction among its outputs.
        self.output = output_spec(getattr(module, "_orig_mod", module))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = (
            torch.autocast(self.device.split(":")[0], dtype=self._autocast)
            if self._autocast is not None
            else contextlib.nullcontext()
        )
        with torch_threads(self.threads), torch.inference_mode(), autocast:
            out = select_output(self.model(x), self.output)
        return out.float().cpu()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "channels_last": self.channels_last}


def prepare_module(
    model: Any, precision: str, channels_last: bool, runtime: str
) -> tuple[nn.Module, str]:
    """A private eval-mode copy ready for `precision`, and the precision it really runs in."""
    if not isinstance(model, nn.Module):
        raise CnnoptError(
            f"runtime {runtime!r} runs nn.Module objects, got {type(model).__name__}",
            "load the model in Python, or use 'onnxruntime'/'openvino' for exported files",
        )
    precision = check_precision(runtime, precision, ("fp32", "bf16", "fp16", *QUANTIZED_NAMES))
    plan = getattr(model, "cnnopt_quant", None) or {}
    mode = plan.get("mode")
    if mode in ("int8_static", "mixed"):
        raise CnnoptError(
            f"runtime {runtime!r} cannot run a static int8 ({mode}) model: its int8 graph is ONNX",
            "use runtime 'onnxruntime' or 'openvino' for int8 PTQ, or mode 'qat' / "
            "'int8_dynamic' for PyTorch",
        )
    if precision in QUANTIZED_NAMES and mode not in ("int8_dynamic", "qat"):
        raise CnnoptError(
            f"precision {precision!r} needs a quantized model",
            "apply QuantizeConfig(mode='int8_dynamic' or 'qat') first, or use fp32/bf16",
        )
    module = copy.deepcopy(model).eval()
    if mode in ("bf16", "fp16"):
        precision = mode
    elif mode == "int8_dynamic":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao deprecation notices; it still works
            module = torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)
        precision = "int8"
    elif mode == "qat":
        precision = "int8-sim"  # fake-quant: int8 numerics, float kernels
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module, precision


@register_runtime("eager")
def build_eager(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    threads: int | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
    workdir: Any = None,
    output: Any = None,
    **options: Any,
) -> Predictor:
    """PyTorch eager on CPU. bf16/fp16 run under autocast (weights stay fp32)."""
    reject_options("eager", options)
    example = check_example(example_input)
    module, precision = prepare_module(model, precision, channels_last, "eager")
    if output is not None:
        set_output(module, output)  # a private copy: the caller's model is left alone
    predictor = TorchPredictor(
        module,
        runtime="eager",
        precision=precision,
        threads=check_threads(threads),
        channels_last=channels_last,
    )
    predictor.predict(example[:1])  # fail here, not in the first timed call
    return predictor
