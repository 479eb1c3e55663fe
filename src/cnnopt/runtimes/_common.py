"""Helpers the runtime builders share: argument checks, thread pinning, ONNX sources.

ONNX Runtime and OpenVINO both run ONNX files, so "turn whatever the user gave me into an
.onnx path" lives here once: a path is checked and used as is, an nn.Module is exported (and
int8-quantized when a quantize transform annotated it, see cnnopt.transforms.quantize).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnopt.errors import CnnoptError

ModelSource = nn.Module | str | os.PathLike

# Kept alive for the life of the process: a predictor built from a module without a workdir
# loads its ONNX from here, and some runtimes mmap the file.
_TEMP_DIRS: list[tempfile.TemporaryDirectory] = []


def check_example(example_input: Any) -> torch.Tensor:
    """The example batch fixes the input shape every runtime compiles for."""
    if not isinstance(example_input, torch.Tensor) or example_input.ndim != 4:
        shape = tuple(example_input.shape) if isinstance(example_input, torch.Tensor) else None
        raise CnnoptError(
            f"example input must be a 4-D N x C x H x W tensor, got "
            f"{shape if shape is not None else type(example_input).__name__}",
            "pass e.g. torch.randn(1, 3, 32, 32)",
        )
    return example_input.detach().float().cpu()


def check_threads(threads: int | None) -> int:
    """None means 'what torch uses now', so every runtime in one comparison gets the same."""
    if threads is None:
        return torch.get_num_threads()
    if not isinstance(threads, int) or threads < 1:
        raise CnnoptError(f"threads must be a whole number >= 1, got {threads!r}", "e.g. threads=1")
    return threads


def check_precision(runtime: str, precision: str, allowed: tuple[str, ...]) -> str:
    precision = str(precision).lower()
    if precision not in allowed:
        raise CnnoptError(
            f"runtime {runtime!r} does not support precision {precision!r}",
            f"choose one of {', '.join(allowed)}",
        )
    return precision


def reject_options(runtime: str, options: dict[str, Any], known: tuple[str, ...] = ()) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise CnnoptError(
            f"runtime {runtime!r} has no option(s) {', '.join(unknown)}",
            f"known options: {', '.join(known) or 'none beyond threads/precision/workdir'}",
        )


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Pin torch's intra-op threads for one call and restore them, so predictors with
    different thread counts can live in one process."""
    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads != before:
            torch.set_num_threads(before)


def work_directory(workdir: str | os.PathLike | None) -> Path:
    if workdir is not None:
        from cnnopt.fileio import ensure_dir

        return ensure_dir(workdir)
    tmp = tempfile.TemporaryDirectory(prefix="cnnopt-runtime-")
    _TEMP_DIRS.append(tmp)
    return Path(tmp.name)


def existing_file(path: str | os.PathLike, suffixes: tuple[str, ...], runtime: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CnnoptError(
            f"model file {path} does not exist",
            "pass an nn.Module or the path of an exported model (cnnopt export)",
        )
    if path.suffix.lower() not in suffixes:
        raise CnnoptError(
            f"runtime {runtime!r} cannot load {path.name}",
            f"it loads {', '.join(suffixes)} files or an nn.Module",
        )
    return path


def onnx_source(
    model: ModelSource, example_input: torch.Tensor, runtime: str, workdir: Any
) -> tuple[Path, str | None]:
    """(path of an .onnx file, precision it carries: 'int8' for QDQ, else None)."""
    from cnnopt.runtimes.export import export_onnx, onnx_precision

    if isinstance(model, nn.Module):
        path = work_directory(workdir) / "model.onnx"
        export_onnx(model, example_input, path)
        return path, onnx_precision(path)
    if isinstance(model, (str, os.PathLike)):
        path = existing_file(model, (".onnx",), runtime)
        return path, onnx_precision(path)
    raise CnnoptError(
        f"runtime {runtime!r} needs an nn.Module or an .onnx path, got {type(model).__name__}",
        "pass the model itself or the file written by `cnnopt export`",
    )


def planned_precision(model: ModelSource, precision: str) -> str:
    """The precision a model annotated by the quantize transform asks for, else `precision`."""
    plan = getattr(model, "cnnopt_quant", None) if isinstance(model, nn.Module) else None
    if plan and plan.get("mode") in ("bf16", "fp16"):
        return plan["mode"]
    return precision


def model_output(model: ModelSource, output: Any = None) -> Any:
    """The output a predictor reads: `output` when given, else the one the nn.Module carries.
    A file path is no output name (output_spec would read "best/model.onnx" as a dict key),
    so a model file gets the default rule."""
    from cnnopt.outputs import output_spec

    if output is not None:
        return output
    return output_spec(model if isinstance(model, nn.Module) else None)
