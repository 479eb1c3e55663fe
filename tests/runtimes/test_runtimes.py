"""Every runtime builds from a small residual CNN and computes what PyTorch computes."""

from __future__ import annotations

import shutil

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnopt.errors import CnnoptError
from cnnopt.runtimes import RUNTIMES, build_predictor, check_parity, export_onnx

CPU_RUNTIMES = ("eager", "onnxruntime", "openvino")


def test_all_runtimes_are_registered() -> None:
    for name in ("eager", "compile", "onnxruntime", "openvino", "cuda", "onnxruntime-cuda"):
        assert name in RUNTIMES


@pytest.mark.parametrize("runtime", CPU_RUNTIMES)
def test_fp32_matches_torch(runtime, trained_net, val_inputs, example, tmp_path) -> None:
    predictor = build_predictor(runtime, trained_net, example, threads=1, workdir=tmp_path)
    parity = check_parity(trained_net, predictor, val_inputs)
    assert parity["max_abs_diff"] < 1e-4
    assert parity["top1_agreement"] == 1.0 and parity["passed"]
    info = predictor.describe()
    assert info["runtime"] == runtime and info["precision"] == "fp32" and info["threads"] == 1


@pytest.mark.parametrize("runtime", ("onnxruntime", "openvino"))
def test_dynamic_batch(runtime, trained_net, example) -> None:
    predictor = build_predictor(runtime, trained_net, example)
    for batch in (1, 7, 1):
        x = torch.randn(batch, 1, 16, 16)
        with torch.no_grad():
            expected = trained_net(x)
        assert torch.allclose(predictor(x), expected, atol=1e-4)


def test_exported_files_load_directly(trained_net, example, val_inputs, tmp_path) -> None:
    from cnnopt.runtimes.export import export_artifacts

    onnx_path = export_onnx(trained_net, example, tmp_path / "net.onnx")
    ort = build_predictor("onnxruntime", onnx_path, example)
    assert ort.artifact_path == onnx_path
    export_artifacts(trained_net, tmp_path / "ir", example, runtime="openvino")
    ov = build_predictor("openvino", tmp_path / "ir" / "model.xml", example)
    for predictor in (ort, ov):
        assert check_parity(trained_net, predictor, val_inputs)["passed"]


@pytest.mark.parametrize("runtime", ("eager", "openvino"))
def test_bf16_roughly_agrees(runtime, trained_net, val_inputs, example) -> None:
    from cnnopt.runtimes.openvino_rt import cpu_runs_bf16

    predictor = build_predictor(runtime, trained_net, example, precision="bf16")
    parity = check_parity(trained_net, predictor, val_inputs)
    if runtime == "openvino" and not cpu_runs_bf16():  # it runs fp32 here, and says so
        assert predictor.precision == "fp32"
        assert parity["max_abs_diff"] < 1e-4
        return
    assert predictor.precision == "bf16"
    assert parity["top1_agreement"] >= 0.9
    assert 0 < parity["max_abs_diff"] < 1.0  # bf16 really ran: not bit-identical


def test_eager_channels_last(trained_net, val_inputs, example) -> None:
    predictor = build_predictor("eager", trained_net, example, channels_last=True)
    assert predictor.describe()["channels_last"]
    assert check_parity(trained_net, predictor, val_inputs)["max_abs_diff"] < 1e-4
    assert trained_net.stem[0].weight.is_contiguous()  # the caller's model is untouched


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gcc") is None, reason="inductor needs a C compiler")
def test_torch_compile(trained_net, val_inputs, example) -> None:
    predictor = build_predictor("compile", trained_net, val_inputs[:8])
    parity = check_parity(trained_net, predictor, val_inputs[:8])
    assert parity["max_abs_diff"] < 1e-3 and parity["top1_agreement"] == 1.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
@pytest.mark.parametrize("runtime", ("cuda", "onnxruntime-cuda"))
def test_cuda_runtimes_refuse_without_gpu(runtime, trained_net, example) -> None:
    with pytest.raises(CnnoptError) as info:
        build_predictor(runtime, trained_net, example)
    assert "GPU" in str(info.value) or "CUDA" in str(info.value)
    assert info.value.hint


def test_clear_errors(trained_net, example, tmp_path) -> None:
    cases = [
        lambda: build_predictor("onnxrt", trained_net, example),  # typo
        lambda: build_predictor("onnxruntime", tmp_path / "missing.onnx", example),
        lambda: build_predictor("openvino", trained_net, torch.randn(16, 16)),  # not 4-D
        lambda: build_predictor("onnxruntime", trained_net, torch.randn(1, 3, 16, 16)),
        lambda: build_predictor("eager", trained_net, example, precision="int4"),
        lambda: build_predictor("eager", trained_net, example, precision="int8"),
        lambda: build_predictor("onnxruntime", trained_net, example, precision="bf16"),
        lambda: build_predictor("onnxruntime", trained_net, example, threads=0),
        lambda: build_predictor("openvino", trained_net, example, turbo=True),
    ]
    for case in cases:
        with pytest.raises(CnnoptError) as info:
            case()
        assert info.value.hint, info.value


def test_unknown_runtime_suggests_name(trained_net, example) -> None:
    with pytest.raises(CnnoptError, match="did you mean 'onnxruntime'"):
        build_predictor("onnxruntim", trained_net, example)


@settings(max_examples=5, deadline=None)
@given(batch=st.integers(1, 9), threads=st.sampled_from([1, 2]))
def test_ort_any_batch_and_threads(trained, batch: int, threads: int) -> None:
    model = trained[0]
    x = torch.randn(batch, 1, 16, 16, generator=torch.Generator().manual_seed(batch))
    predictor = build_predictor("onnxruntime", model, x, threads=threads)
    with torch.no_grad():
        assert torch.allclose(predictor(x), model(x), atol=1e-4)
    assert predictor.threads == threads
