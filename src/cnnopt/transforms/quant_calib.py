"""int8 post-training quantization on the ONNX graph with onnxruntime.quantization.

Why ONNX and not torch: both fast CPU runtimes (ONNX Runtime, OpenVINO) execute QDQ graphs
(QuantizeLinear/DequantizeLinear around Conv/Gemm) with real int8 kernels, so quantizing the
graph they load is what makes the int8 numbers measured here the ones a user gets. The format:
QDQ, weights int8 symmetric per output channel, activations per tensor (uint8 asymmetric by
default, which ONNX Runtime's x86 int8 kernels run fastest; int8 symmetric optional),
calibrated on normalized batches of the calibration set by min-max, percentile or entropy.
Calibrated ranges are cached per model so mixed precision re-quantizes with other excluded
layers without re-running calibration.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnopt.errors import CnnoptError

CALIBRATIONS = ("minmax", "percentile", "entropy")
ACTIVATION_TYPES = ("int8", "uint8")
CALIB_BATCH = 32
LINEAR_OPS = ["MatMul", "Gemm"]


def _methods() -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationMethod

    return {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }


class BatchReader:
    """onnxruntime's CalibrationDataReader over a TensorData, one normalized batch per call,
    advancing a progress bar so a long entropy calibration shows it is alive."""

    def __init__(self, data: Any, input_name: str, advance: Any = None) -> None:
        self.data = data
        self.input_name = input_name
        self.advance = advance or (lambda _text=None: None)
        self.rewind()

    def rewind(self) -> None:
        from cnnopt.data.loader import iterate_batches

        self._batches = iterate_batches(self.data, CALIB_BATCH)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        if batch is None:
            return None
        self.advance()
        return {self.input_name: batch[0].numpy().astype(np.float32, copy=False)}

    def __iter__(self) -> Any:
        return iter(self.get_next, None)


def preprocess(fp32_path: Path, out_path: Path) -> Path:
    """Shape inference + graph cleanup that onnxruntime's quantizer recommends first; the raw
    graph is used when preprocessing fails (it is an optimization, not a requirement)."""
    import os

    from onnxruntime.quantization.shape_inference import quant_pre_process

    # quant_pre_process writes scratch files (sym_shape_infer_temp.onnx, <uuid>.data) into the
    # current directory and leaves them there when it fails: run it in the output's folder, so
    # a user's working directory never collects them.
    workdir = Path(out_path).resolve().parent
    try:
        with contextlib.chdir(workdir):
            quant_pre_process(str(Path(fp32_path).resolve()), str(Path(out_path).resolve()),
                              skip_symbolic_shape=False)  # fmt: skip
        return out_path
    except Exception:  # fall back to the unprocessed graph
        for name in ("sym_shape_infer_temp.onnx",):
            with contextlib.suppress(OSError):
                os.remove(workdir / name)
        return fp32_path


def quantize_onnx(
    fp32_onnx: bytes,
    calib_data: Any,
    *,
    mode: str = "int8_static",
    calibration: str = "minmax",
    per_channel: bool = True,
    activation_type: str = "int8",
    nodes_to_exclude: list[str] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
    reduce_range: bool = False,
) -> bytes:
    """fp32 ONNX bytes -> int8 ONNX bytes. mode 'int8_dynamic' quantizes MatMul/Gemm weights
    only (activations at run time); 'int8_static' quantizes every Conv/Gemm/... as QDQ.
    reduce_range: 7-bit weights (see default_reduce_range)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    with tempfile.TemporaryDirectory(prefix="cnnopt-quant-") as tmp:
        src = Path(tmp) / "fp32.onnx"
        src.write_bytes(fp32_onnx)
        model_in = preprocess(src, Path(tmp) / "pre.onnx")
        out = Path(tmp) / "int8.onnx"
        if mode == "int8_dynamic":
            with quiet_root_logger():
                quantize_dynamic(
                    str(model_in),
                    str(out),
                    op_types_to_quantize=LINEAR_OPS,
                    per_channel=per_channel,
                    reduce_range=reduce_range,
                    weight_type=QuantType.QInt8,
                    nodes_to_exclude=nodes_to_exclude or [],
                )
            return out.read_bytes()
        symmetric = activation_type == "int8"
        cache = Path(cache_dir or tmp) / f"calib-{calibration}-{activation_type}.json"
        if not cache.exists():
            calibrate(model_in, calib_data, calibration, symmetric, cache, progress)
        with quiet_root_logger():
            quantize_static(
                str(model_in),
                str(out),
                None,
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                reduce_range=reduce_range,
                activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=_methods()[calibration],
                nodes_to_exclude=nodes_to_exclude or [],
                extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True},
                calibration_cache_path=str(cache),
            )
        return out.read_bytes()


# x86 instructions that multiply int8 pairs into 32-bit sums without an int16 step
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
REDUCE_RANGE_WHY = (
    "7-bit int8 weights (reduce_range): this x86 CPU has no VNNI, and ONNX Runtime's AVX2 "
    "int8 kernels (vpmaddubsw) saturate their 16-bit sums with 8-bit weights"
)


def default_reduce_range() -> bool:
    """Whether int8 weights should use 7 bits on this machine.

    On x86 without VNNI, ONNX Runtime multiplies u8 activations by s8 weights with
    vpmaddubsw, which adds two products into a saturating int16: 2 x 255 x 127 overflows it.
    Measured on an AVX2-only EPYC: a small ResNet's int8 graph agreed with float on 37% of
    images (7% with int8 activations); with 7-bit weights, 94-96% (OpenVINO 96%, which does
    not saturate, either way). VNNI (and AMX) sum in 32 bits: full 8-bit weights there.
    """
    import platform

    from cnnopt.bench.machine import cpu_flags

    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    flags = cpu_flags()
    return bool(flags) and not any(flag in flags for flag in VNNI_FLAGS)


@contextlib.contextmanager
def quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization logs advice on the root logger; users cannot act on it."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def calibrate(
    model_path: Path, data: Any, method: str, symmetric: bool, cache: Path, progress: bool
) -> None:
    """Activation ranges for every tensor the quantizer touches, saved to `cache`.

    Done here rather than inside quantize_static because quantize_static cannot pass the
    entropy histogram size: with its default of 128 bins for 128 quantized bins the KL search
    has a single candidate and entropy silently equals min-max. TensorRT's recipe (2048 bins
    -> 128) makes it a real search.
    """
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    from cnnopt.bench.progress import progress_bar

    check_calib_data(data)
    options: dict[str, Any] = {"symmetric": symmetric}
    if method == "entropy":
        options.update(num_bins=2048, num_quantized_bins=128)
    batches = -(-len(data) // CALIB_BATCH)
    with tempfile.TemporaryDirectory(prefix="cnnopt-calib-") as tmp:
        calibrator = create_calibrator(
            model_path,
            sorted(set(QLinearOpsRegistry) | set(QDQRegistry)),
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=_methods()[method],
            extra_options=options,
        )
        with (
            progress_bar(progress, batches, f"calibrating ({method})") as advance,
            contextlib.redirect_stdout(io.StringIO()),  # the calibrators print their settings
        ):
            calibrator.collect_data(BatchReader(data, input_name(model_path), advance))
            ranges = calibrator.compute_data()
        save_tensors_data(ranges, cache)


def input_name(path: Path) -> str:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    return next(i.name for i in graph.input if i.name not in initializers)


def check_calib_data(data: Any) -> None:
    if data is None or not hasattr(data, "images") or len(data) == 0:
        raise CnnoptError(
            "int8 static quantization needs calibration images",
            "pass a dataset (--dataset) or Context(calib_data=...) with a few hundred images",
        )


def quantizable_nodes(onnx_bytes: bytes) -> list[str]:
    """Names of the nodes static quantization would quantize (the layers of mixed precision),
    in graph order, from the same preprocessed graph quantize_onnx works on."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="cnnopt-quant-") as tmp:
        src = Path(tmp) / "fp32.onnx"
        src.write_bytes(onnx_bytes)
        graph = onnx.load(str(preprocess(src, Path(tmp) / "pre.onnx"))).graph
    kinds = {"Conv", "Gemm", "MatMul", "ConvTranspose"}
    return [node.name for node in graph.node if node.op_type in kinds]


def weights_fingerprint(model: nn.Module, example: torch.Tensor) -> str:
    """Identifies the weights and input shape an int8 graph was built from, so a cached graph
    is never reused after the model changed (e.g. fine-tuned after quantize)."""
    digest = hashlib.sha1(str(tuple(example.shape[1:])).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        if isinstance(tensor, torch.Tensor):
            digest.update(tensor.detach().cpu().contiguous().float().numpy().tobytes())
    return digest.hexdigest()


def quantized_onnx_bytes(model: nn.Module, example: torch.Tensor, progress: bool = False) -> bytes:
    """The int8 graph the model's quantize plan describes (built once, then cached on the plan)."""
    from cnnopt.runtimes.export import onnx_fp32_bytes

    plan = model.cnnopt_quant
    fingerprint = weights_fingerprint(model, example)
    if plan.get("onnx") is not None and plan.get("fingerprint") == fingerprint:
        return plan["onnx"]
    config = plan["config"]
    graph = quantize_onnx(
        onnx_fp32_bytes(model, example[:1]),
        plan.get("calib_data"),
        mode="int8_dynamic" if plan["mode"] == "int8_dynamic" else "int8_static",
        calibration=config["calibration"],
        per_channel=config["per_channel"],
        activation_type=config["activation_type"],
        nodes_to_exclude=list(plan.get("exclude", [])),
        progress=progress,
        reduce_range=bool(config.get("reduce_range")),
    )
    plan["onnx"], plan["fingerprint"] = graph, fingerprint
    return graph
