"""7-bit int8 weights on x86 CPUs without VNNI, where ONNX Runtime's int8 kernels saturate.

On an AVX2-only EPYC, ONNX Runtime ran a small ResNet's 8-bit int8 graph with 37% top-1
agreement with float (vpmaddubsw's int16 sums overflow); 7-bit weights restore ~95%.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtimes"))
from runtime_helpers import trained_tiny_resnet

from cnnopt.runtimes import export_onnx
from cnnopt.transforms import Context, apply, quant_calib
from cnnopt.transforms.quant_qat import _QatLayer
from cnnopt.transforms.quantize import QuantizeConfig


@pytest.mark.parametrize(
    ("machine", "flags", "expected"),
    [
        ("x86_64", {"avx2", "fma"}, True),  # AVX2 only: saturates
        ("x86_64", {"avx2", "avx512f", "avx512_vnni"}, False),
        ("x86_64", {"avx2", "avx_vnni"}, False),  # Alder Lake and later
        ("x86_64", {"avx2", "amx_tile", "amx_int8"}, False),
        ("aarch64", {"asimd"}, False),  # not x86: no vpmaddubsw
        ("x86_64", set(), False),  # flags unreadable: leave the user's weights alone
    ],
)
def test_default_reduce_range_follows_the_cpu(monkeypatch, machine, flags, expected) -> None:
    import platform

    import cnnopt.bench.machine as machine_mod

    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(machine_mod, "cpu_flags", lambda: set(flags))
    assert quant_calib.default_reduce_range() is expected


@pytest.fixture(scope="module")
def trained():
    return trained_tiny_resnet()


def _int8_weights(path: Path) -> list[np.ndarray]:
    graph = onnx.load(str(path)).graph
    return [
        numpy_helper.to_array(init)
        for init in graph.initializer
        if init.data_type == onnx.TensorProto.INT8 and len(init.dims) > 1
    ]


@pytest.mark.parametrize("reduce_range", [True, False])
def test_explicit_setting_decides_the_weight_range(trained, tmp_path, reduce_range) -> None:
    net, train, val = trained
    ctx = Context(calib_data=train, progress=False)
    config = QuantizeConfig(calib_size=64, reduce_range=reduce_range)
    quantized = apply(copy.deepcopy(net), config, ctx)
    assert quantized.cnnopt_quant["config"]["reduce_range"] is reduce_range
    assert not any("reduce_range" in note for note in ctx.notes)  # asked for: no advice
    weights = _int8_weights(export_onnx(quantized, val.tensors()[0][:1], tmp_path / "q.onnx"))
    assert weights
    widest = max(int(np.abs(w.astype(np.int32)).max()) for w in weights)
    assert widest <= 64 if reduce_range else widest > 64


def test_default_is_resolved_and_said(trained, monkeypatch) -> None:
    monkeypatch.setattr(quant_calib, "default_reduce_range", lambda: True)
    net, train, _ = trained
    ctx = Context(calib_data=train, progress=False)
    quantized = apply(copy.deepcopy(net), QuantizeConfig(calib_size=64), ctx)
    assert quantized.cnnopt_quant["config"]["reduce_range"] is True
    assert any("no VNNI" in note for note in ctx.notes)


def test_qat_trains_seven_bit_weights(trained, monkeypatch) -> None:
    monkeypatch.setattr(quant_calib, "default_reduce_range", lambda: True)
    net, train, val = trained
    ctx = Context(train_data=train, val_data=val, calib_data=train, progress=False)
    ctx.finetune_epochs = 0
    quantized = apply(copy.deepcopy(net), QuantizeConfig(mode="qat"), ctx)
    layers = [m for m in quantized.modules() if isinstance(m, _QatLayer)]
    assert layers and all(m.weight_qmax == 63 for m in layers)
    for layer in layers:  # the stored scale puts every weight within +-63 steps
        weight = layer.inner.weight.detach()
        absmax = weight.abs().amax(dim=tuple(range(1, weight.ndim)))
        assert torch.all(absmax / layer.weight_scale <= 63.5)
