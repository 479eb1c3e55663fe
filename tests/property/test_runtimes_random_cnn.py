"""Every runtime on random CNNs: the exported artifact keeps the output shape (at a batch size
it was not exported with, too) and agrees with the PyTorch model within the stated tolerance.

Tolerances: eager is the model itself (float32 reassociation only); ONNX Runtime fp32 1e-4;
OpenVINO 1e-3 with INFERENCE_PRECISION_HINT=f32 (this CPU would otherwise choose bf16);
torch.compile 1e-4 (inductor folds BN and reorders sums).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from random_cnn import EXAMPLES_RUN, build, describe, nets

import cnnopt.runtimes  # noqa: F401  (registers the built-in runtimes)
from cnnopt.errors import CnnoptError
from cnnopt.runtimes.base import RUNTIMES, build_predictor
from cnnopt.transforms import Context, apply
from cnnopt.transforms.fuse import FuseConfig
from cnnopt.transforms.lowrank import LowRankConfig
from cnnopt.transforms.prune import PruneConfig

TOLERANCE = {"eager": 1e-5, "onnxruntime": 1e-4, "openvino": 1e-3, "compile": 1e-4}
EXAMPLES = {"eager": 40, "onnxruntime": 60, "openvino": 40, "compile": 1, "pipeline": 30}


def _needs(runtime: str) -> None:
    if runtime not in RUNTIMES.names():
        pytest.skip(f"runtime {runtime!r} is not registered in cnnopt.runtimes")


def _check_runtime(runtime: str, spec, model: torch.nn.Module | None = None) -> None:
    EXAMPLES_RUN[runtime if model is None else f"transformed+{runtime}"] += 1
    model, x = model if model is not None else build(spec), spec.example(batch=2)
    with torch.no_grad():
        expected = model(x)
        expected_one = model(x[:1])
    with tempfile.TemporaryDirectory(prefix="cnnopt-prop-") as workdir:
        predictor = build_predictor(
            runtime, model, x, threads=1, precision="fp32", workdir=Path(workdir)
        )
        got, got_one = predictor.predict(x), predictor.predict(x[:1])
    assert got.shape == expected.shape and got_one.shape == expected_one.shape, describe(spec)
    tol = TOLERANCE[runtime]
    torch.testing.assert_close(got, expected, atol=tol, rtol=tol, msg=describe(spec))
    torch.testing.assert_close(got_one, expected_one, atol=tol, rtol=tol, msg=describe(spec))


@settings(max_examples=EXAMPLES["eager"], deadline=None)
@given(nets)
def test_eager_predictor_matches_the_model(spec) -> None:
    _needs("eager")
    _check_runtime("eager", spec)


@settings(max_examples=EXAMPLES["onnxruntime"], deadline=None)
@given(nets)
def test_onnx_export_and_onnxruntime_match_torch(spec) -> None:
    _needs("onnxruntime")
    _check_runtime("onnxruntime", spec)


@settings(max_examples=EXAMPLES["openvino"], deadline=None)
@given(nets)
def test_openvino_fp32_matches_torch(spec) -> None:
    _needs("openvino")
    _check_runtime("openvino", spec)


@settings(max_examples=EXAMPLES["compile"], deadline=None)
@given(nets)
def test_torch_compile_matches_torch(spec) -> None:
    _needs("compile")
    _check_runtime("compile", spec)


@settings(max_examples=EXAMPLES["pipeline"], deadline=None)
@given(nets)
def test_fused_pruned_factorized_model_exports_faithfully(spec) -> None:
    """The search's real chain: prune, low-rank and fuse, then ONNX Runtime serves the result
    and agrees with the transformed PyTorch model (prune is skipped where it refuses)."""
    _needs("onnxruntime")
    model, ctx = build(spec), Context(example_input=spec.example(1), progress=False)
    try:
        model = apply(model, PruneConfig(ratio=0.4, round_to=4), ctx)
    except CnnoptError:
        model = build(spec)  # a refused topology (see the prune property): go on unpruned
    model = apply(model, LowRankConfig(rank_ratio=0.5, round_to=4), ctx)
    model = apply(model, FuseConfig(), ctx).eval()
    _check_runtime("onnxruntime", spec, model)
