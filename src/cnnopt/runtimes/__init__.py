"""Runtimes behind one interface (see base.py). Importing this package registers them all:
eager, compile, onnxruntime, openvino, cuda, onnxruntime-cuda.
"""

from cnnopt.runtimes import compiled, cuda, eager, onnxrt, openvino_rt  # noqa: F401
from cnnopt.runtimes.base import RUNTIMES, Predictor, build_predictor, register_runtime
from cnnopt.runtimes.export import export_artifacts, export_onnx
from cnnopt.runtimes.parity import check_parity

__all__ = [
    "RUNTIMES",
    "Predictor",
    "build_predictor",
    "check_parity",
    "export_artifacts",
    "export_onnx",
    "register_runtime",
]
