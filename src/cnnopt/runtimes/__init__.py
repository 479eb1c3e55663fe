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
    "list_runtimes",
    "register_runtime",
]


def list_runtimes(pattern: str = "*") -> list[str]:
    """The registered runtimes (importing this package registered the built-in ones), like
    cnnopt.list_models / list_transforms; which of them run on this machine is
    cnnopt.search.optimize.available_runtimes()."""
    return RUNTIMES.names(pattern)
