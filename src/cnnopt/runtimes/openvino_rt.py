"""OpenVINO on CPU: ONNX files (fp32 or int8 QDQ) and its own IR (.xml/.bin).

Latency setup: PERFORMANCE_HINT=LATENCY (one stream), INFERENCE_NUM_THREADS pinned, the model
reshaped to a static batch and compiled per batch size (static shapes let the CPU plugin pick
its best kernels), one reused infer request per compiled model. INFERENCE_PRECISION_HINT is
always set: on CPUs with bf16 support OpenVINO would otherwise silently run fp32 models in bf16.
QDQ pairs in an ONNX graph become FakeQuantize ops that the CPU plugin executes as int8.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.isolation.child import stage
from cnnopt.outputs import output_position
from cnnopt.runtimes._common import (
    ModelSource,
    check_example,
    check_precision,
    check_threads,
    existing_file,
    model_output,
    onnx_source,
    planned_precision,
    reject_options,
)
from cnnopt.runtimes.base import Predictor, register_runtime
from cnnopt.runtimes.onnxrt import check_input
from cnnopt.runtimes.signal_stack import keep_signal_stack

PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
QUANTIZED_NAMES = ("int8", "qat", "mixed")
HINTS = ("LATENCY", "THROUGHPUT")


def cpu_runs_bf16() -> bool:
    """Whether OpenVINO's CPU plugin can honour a bf16 hint here (avx512_bf16 or AMX); on
    other CPUs it quietly runs fp32, so a "bf16 on openvino" candidate would be fp32 again."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoPredictor(Predictor):
    runtime = "openvino"

    def __init__(
        self,
        path: Path,
        *,
        threads: int,
        precision: str,
        hint: str,
        float_hint: str,
        output: Any = None,
    ) -> None:
        import openvino as ov

        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(path))
        except Exception as exc:
            raise CnnoptError(
                f"OpenVINO cannot read {path}: {str(exc).splitlines()[0][:300]}",
                "re-export the model with `cnnopt export --format openvino` or as ONNX",
            ) from exc
        if len(self.model.inputs) != 1:
            raise CnnoptError(
                f"{path} has {len(self.model.inputs)} inputs; cnnopt runs single-input models",
                "export a model that takes one image batch",
            )
        # The file keeps every output (deployment); accuracy and parity use the chosen one.
        self.output_names = [_port_name(port, i) for i, port in enumerate(self.model.outputs)]
        self.output_index = output_position(self.output_names, output)
        self.config = {
            "PERFORMANCE_HINT": hint,
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": float_hint,
        }
        self._requests: dict[tuple[int, ...], Any] = {}
        self.effective_hint: str | None = None
        self.threads = threads
        self.precision = precision
        self.artifact_path = Path(path)

    def _request(self, shape: tuple[int, ...]) -> Any:
        """Compile for this exact shape once; later calls reuse its infer request."""
        request = self._requests.get(shape)
        if request is None:
            model = self.model.clone()
            model.reshape({model.inputs[0].get_any_name(): list(shape)})
            # stage: names the stage if it crashes in an isolated child; keep_signal_stack:
            # compile_model swaps in a signal stack it frees later (a Ctrl-C would segfault).
            with stage("compile"), keep_signal_stack():
                compiled = self.core.compile_model(model, "CPU", self.config)
            # What the plugin really chose (it may overrule a hint the CPU cannot honour).
            chosen = compiled.get_property("INFERENCE_PRECISION_HINT")
            self.effective_hint = getattr(chosen, "get_type_name", lambda: str(chosen))()
            if self.precision in PRECISION_HINTS:  # report what runs, e.g. fp16 -> bf16 here
                names = {hint: name for name, hint in PRECISION_HINTS.items()}
                self.precision = names.get(self.effective_hint, self.precision)
            with keep_signal_stack():
                request = compiled.create_infer_request()
            self._requests[shape] = request
        return request

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        request = self._request(tuple(array.shape))
        request.infer({0: array})
        return torch.from_numpy(request.get_output_tensor(self.output_index).data.copy())

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "performance_hint": self.config["PERFORMANCE_HINT"],
            "inference_precision_hint": self.config["INFERENCE_PRECISION_HINT"],
            "effective_precision_hint": self.effective_hint,
            "output": self.output_names[self.output_index],
        }


def _port_name(port: Any, index: int) -> str:
    """An output's tensor name (as exported: logits, output_0, a dict key)."""
    try:
        return str(port.get_any_name())
    except RuntimeError:  # an unnamed output
        return f"output_{index}"


def _is_ir_int8(path: Path) -> bool:
    import openvino as ov

    model = ov.Core().read_model(str(path))
    int8 = (ov.Type.i8, ov.Type.u8)
    return any(
        op.get_type_name() == "FakeQuantize"
        or (op.get_output_size() and op.get_output_element_type(0) in int8)
        for op in model.get_ops()
    )


@register_runtime("openvino")
def build_openvino(
    model: ModelSource,
    example_input: torch.Tensor,
    *,
    threads: int | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
    workdir: Any = None,
    performance_hint: str = "LATENCY",
    output: Any = None,
    **options: Any,
) -> Predictor:
    """OpenVINO CPU. `precision` fp32|bf16|fp16 sets INFERENCE_PRECISION_HINT; int8 comes from
    a QDQ model (a module quantized by cnnopt.transforms.quantize, or its exported .onnx).

    `channels_last` is accepted for a uniform signature and ignored: the plugin picks layouts.
    """
    reject_options("openvino", options)
    hint = str(performance_hint).upper()
    if hint not in HINTS:
        raise CnnoptError(
            f"unknown performance hint {performance_hint!r}", "use LATENCY or THROUGHPUT"
        )
    example = check_example(example_input)
    threads = check_threads(threads)
    requested = check_precision(
        "openvino", planned_precision(model, precision), (*PRECISION_HINTS, *QUANTIZED_NAMES)
    )
    if isinstance(model, (str, os.PathLike)) and Path(model).suffix.lower() == ".xml":
        path = existing_file(model, (".xml",), "openvino")
        graph_precision = "int8" if _is_ir_int8(path) else None
    elif isinstance(model, (nn.Module, str, os.PathLike)):
        path, graph_precision = onnx_source(model, example, "openvino", workdir)
    else:
        raise CnnoptError(
            "runtime 'openvino' needs an nn.Module, .onnx or .xml path, "
            f"got {type(model).__name__}",
            "pass the model itself or the file written by `cnnopt export`",
        )
    if requested in QUANTIZED_NAMES and graph_precision != "int8":
        raise CnnoptError(
            f"precision {requested!r} needs an int8 model, but this one is float",
            "apply QuantizeConfig(mode='int8_static') first (cnnopt quantize)",
        )
    float_hint = PRECISION_HINTS.get(requested, "f32")
    predictor = OpenVinoPredictor(
        path,
        threads=threads,
        precision="int8" if graph_precision == "int8" else requested,
        hint=hint,
        float_hint=float_hint,
        output=model_output(model, output),
    )
    check_input(predictor, example)
    return predictor
