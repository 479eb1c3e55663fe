"""torch -> ONNX: the TorchScript exporter first, torch.export's as the fallback, quietly.

The TorchScript exporter (`dynamo=False`) is the robust one for plain CNNs, keeps a symbolic
batch dimension and writes QAT's fake-quant ops as QuantizeLinear/DequantizeLinear. It refuses
a few ops (e.g. adaptive pooling to a size that does not divide the input), which the
torch.export-based exporter decomposes, so that one is tried next. Both print graphs, logs and
deprecation notices no user can act on; those are silenced and a failure becomes one
CnnoptError.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.outputs import FlatOutputs, flatten_outputs

MIN_OPSET = 17
DEFAULT_OPSET = 17


def torch_export(
    model: nn.Module, example: torch.Tensor, path: Path, *, opset: int, dynamic_batch: bool
) -> None:
    check_opset(opset)
    was_training = model.training
    model.eval()
    try:
        model, names = _named_outputs(model, example)
        try:
            _legacy_export(model, example, path, opset, dynamic_batch, names)
        except Exception as legacy_error:  # e.g. adaptive pooling the legacy exporter lacks
            try:
                _dynamo_export(model, example, path, max(opset, 18), dynamic_batch, names)
            except Exception:
                raise _export_error(legacy_error) from legacy_error
    finally:
        model.train(was_training)


def _named_outputs(model: nn.Module, example: torch.Tensor) -> tuple[nn.Module, list[str]]:
    """The module to export and its ONNX output names: the model itself for one tensor
    ("logits"), a flat-tuple view for a tuple/dict (names output_N / the dict's keys), so
    the file keeps every output for deployment."""
    try:
        with torch.no_grad():
            raw = model(example)
    except Exception:  # the exporter below fails on it too, with its one-line message
        return model, ["logits"]
    names, _ = flatten_outputs(raw)
    if isinstance(raw, torch.Tensor):
        return model, names
    return FlatOutputs(model).eval(), names


def _legacy_export(
    model: nn.Module,
    example: torch.Tensor,
    path: Path,
    opset: int,
    dynamic_batch: bool,
    names: list[str],
) -> None:
    """TorchScript exporter: robust for CNNs, and it maps fake-quant ops to QDQ."""
    axes = {name: {0: "batch"} for name in ["input", *names]} if dynamic_batch else None
    with _quiet(), torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=names,
            dynamic_axes=axes,
            do_constant_folding=True,
        )


def _dynamo_export(
    model: nn.Module,
    example: torch.Tensor,
    path: Path,
    opset: int,
    dynamic_batch: bool,
    names: list[str],
) -> None:
    """torch.export-based exporter: the fallback, it decomposes ops the legacy one refuses."""
    shapes = ({0: torch.export.Dim("batch", min=1, max=65536)},) if dynamic_batch else None
    with _quiet(), torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=True,
            opset_version=opset,
            input_names=["input"],
            output_names=names,
            dynamic_shapes=shapes,
            optimize=True,
            external_data=False,  # one self-contained file, like the legacy exporter writes
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters print graphs, deprecation notices and registry logs; users need none."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
            _native_output_silenced(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _native_output_silenced() -> Iterator[None]:
    """The TorchScript exporter dumps whole graphs from C++ on failure, past sys.stdout."""
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no real stdout/stderr (embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            for fd in (1, 2):
                os.dup2(null.fileno(), fd)
            yield
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


def _export_error(exc: Exception) -> CnnoptError:
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return CnnoptError(
        f"ONNX export failed: {type(exc).__name__}: {first}",
        "check that the model runs on the example input (same channels and size) and uses "
        "standard layers; the runtimes 'eager' and 'compile' need no export",
    )


def check_opset(opset: int) -> None:
    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise CnnoptError(
            f"ONNX opset must be >= {MIN_OPSET}, got {opset!r}",
            "use opset 17 or 18 (older opsets lack ops both runtimes need)",
        )
