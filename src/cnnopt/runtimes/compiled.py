"""torch.compile (inductor) with freezing: weights become constants, so inductor can fold BN
into convolutions and pre-pack weights for oneDNN, which is where its CPU speed comes from.

Compilation happens at build time on the example batch, so the first timed call is not a
multi-second compile. Inductor generates C++ and needs a C compiler; without one the build
fails with that hint instead of a compiler traceback.
"""

from __future__ import annotations

import shutil
from typing import Any

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.runtimes._common import check_example, check_threads, reject_options
from cnnopt.runtimes.base import Predictor, register_runtime
from cnnopt.runtimes.eager import TorchPredictor, prepare_module

MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@register_runtime("compile")
def build_compiled(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    threads: int | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
    workdir: Any = None,
    mode: str = "default",
    freezing: bool = True,
    dynamic: bool | None = None,
    **options: Any,
) -> Predictor:
    """torch.compile(backend='inductor'); `dynamic=None` recompiles once a second batch size
    shows up, then stays shape-generic."""
    reject_options("compile", options, ("mode", "freezing", "dynamic"))
    if mode not in MODES:
        raise CnnoptError(
            f"unknown torch.compile mode {mode!r}", f"choose one of {', '.join(MODES)}"
        )
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        raise CnnoptError(
            "torch.compile (inductor) needs a C compiler and none was found",
            "install gcc, or use runtime 'eager' / 'onnxruntime'",
        )
    example = check_example(example_input)
    threads = check_threads(threads)
    module, precision = prepare_module(model, precision, channels_last, "compile")
    # torch.compile takes a mode or options, not both: spell the mode out as its options.
    inductor_options = dict(torch._inductor.list_mode_options(mode)) if mode != "default" else {}
    inductor_options["freezing"] = freezing
    compiled = torch.compile(module, backend="inductor", dynamic=dynamic, options=inductor_options)
    predictor = TorchPredictor(
        compiled,
        runtime="compile",
        precision=precision,
        threads=threads,
        channels_last=channels_last,
    )
    try:
        predictor.predict(example)  # compile now, for the batch size that will be timed
    except CnnoptError:
        raise
    except Exception as exc:
        raise CnnoptError(
            f"torch.compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
            "use runtime 'eager' for this model, or 'onnxruntime'/'openvino' for speed",
        ) from exc
    return predictor
