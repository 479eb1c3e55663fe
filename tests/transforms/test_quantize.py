"""The quantize transform: int8 PTQ/dynamic/QAT/mixed and bf16, run in the real runtimes."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import onnx
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtimes"))
from runtime_helpers import train_quickly, trained_tiny_resnet

from cnnopt.errors import CnnoptError
from cnnopt.runtimes import build_predictor, check_parity, export_onnx
from cnnopt.transforms import Context, apply
from cnnopt.transforms.quantize import QuantizeConfig


@pytest.fixture(scope="module")
def trained():
    return trained_tiny_resnet()


@pytest.fixture
def net(trained) -> nn.Module:
    return copy.deepcopy(trained[0])


@pytest.fixture
def ctx(trained) -> Context:
    _, train, val = trained
    return Context(train_data=train, val_data=val, calib_data=train, progress=False)


def val_inputs(trained, n: int = 200) -> torch.Tensor:
    return trained[2].tensors()[0][:n]


def op_types(path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_int8_static_runs_in_ort_and_openvino(trained, net, ctx, tmp_path) -> None:
    float_net = copy.deepcopy(net)
    quantized = apply(net, QuantizeConfig(calib_size=256), ctx)
    x = val_inputs(trained)
    # 7-bit weights (CPUs without VNNI) carry twice the rounding noise of 8-bit ones
    seven_bit = quantized.cnnopt_quant["config"]["reduce_range"]
    for runtime in ("onnxruntime", "openvino"):
        predictor = build_predictor(runtime, quantized, x[:1], workdir=tmp_path / runtime)
        assert predictor.precision == "int8"
        assert "QuantizeLinear" in op_types(predictor.artifact_path)
        parity = check_parity(float_net, predictor, x)
        assert parity["top1_agreement"] >= (0.93 if seven_bit else 0.97), parity
        assert parity["max_abs_diff"] > 0  # really int8, not the float graph


def test_each_calibration_method(trained, ctx, tmp_path) -> None:
    scales = {}
    for calibration in ("minmax", "percentile", "entropy"):
        config = QuantizeConfig(calibration=calibration, calib_size=128)
        quantized = apply(copy.deepcopy(trained[0]), config, ctx)
        path = export_onnx(quantized, val_inputs(trained, 1), tmp_path / f"{calibration}.onnx")
        graph = onnx.load(str(path)).graph
        scales[calibration] = [
            float(onnx.numpy_helper.to_array(i))
            for i in graph.initializer
            if i.name.endswith("_scale") and not i.dims
        ]
        assert scales[calibration] and all(s > 0 for s in scales[calibration])
    # percentile and entropy clip outliers, so some activation ranges must shrink vs min-max
    for method in ("percentile", "entropy"):
        assert scales[method] != scales["minmax"]
        assert min(a / b for a, b in zip(scales[method], scales["minmax"], strict=True)) < 0.99


class LinearHeavy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(4 * 16 * 16, 256), nn.ReLU(), nn.Linear(256, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.relu(self.conv(x)))


def test_dynamic_int8_on_linear_layers(trained) -> None:
    torch.manual_seed(0)
    model = LinearHeavy().eval()
    x = val_inputs(trained, 64)
    quantized = apply(copy.deepcopy(model), QuantizeConfig(mode="int8_dynamic"), Context())
    with torch.no_grad():
        logits = model(x)
    # an untrained model's top-2 logits can differ by 1e-4: agreement on those is a coin
    # toss, so the error is measured against the logits' spread
    spread = float(logits.std())
    for runtime in ("eager", "onnxruntime", "openvino"):
        predictor = build_predictor(runtime, quantized, x[:1])
        assert predictor.precision == "int8"
        parity = check_parity(model, predictor, x)
        assert 0 < parity["mean_abs_diff"] < 0.05 * spread, (runtime, parity, spread)
        assert parity["max_abs_diff"] < 0.25 * spread, (runtime, parity, spread)
        assert parity["top1_agreement"] >= 0.9, (runtime, parity)
    assert {"DynamicQuantizeLinear", "MatMulInteger"} & op_types(predictor.artifact_path)


def test_qat_trains_and_exports_qdq(trained, net, ctx) -> None:
    ctx.finetune_epochs = 0.5
    quantized = apply(net, QuantizeConfig(mode="qat", qat_lr=0.002), ctx)
    assert any("qat" in note for note in ctx.notes)
    x = val_inputs(trained)
    predictor = build_predictor("onnxruntime", quantized, x[:1])
    assert predictor.precision == "int8"
    assert {"QuantizeLinear", "DequantizeLinear"} <= op_types(predictor.artifact_path)
    assert "BatchNormalization" not in op_types(predictor.artifact_path)  # folded after QAT
    assert check_parity(quantized, predictor, x)["top1_agreement"] >= 0.97
    from cnnopt.evaluation import evaluate

    float_acc = evaluate(trained[0], trained[2]).accuracy
    assert evaluate(predictor, trained[2]).accuracy >= float_acc - 0.03
    eager = build_predictor("eager", quantized, x[:1], precision="qat")
    assert eager.precision == "int8-sim"


def outlier_net(train) -> nn.Module:
    """A trained plain CNN rescaled so one activation channel spans 1000x the others.

    ReLU commutes with positive scaling, so the function is unchanged, but one per-tensor int8
    scale for that activation wipes out the small channels: the layer reading it is the
    sensitive one.
    """
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    model = train_quickly(model, train, steps=300)
    with torch.no_grad():
        model[0].weight[0].mul_(1000.0)
        model[0].bias[0].mul_(1000.0)
        model[2].weight[:, 0].div_(1000.0)
    return model


def test_mixed_precision_respects_the_budget(trained, ctx) -> None:
    model = outlier_net(trained[1])
    config = QuantizeConfig(mode="mixed", accuracy_budget=1.0, eval_size=300)
    quantized = apply(model, config, ctx)
    result = quantized.cnnopt_quant["mixed"]
    assert (result.float_accuracy - result.int8_accuracy) * 100 > 1.0  # int8 alone hurts
    assert (result.float_accuracy - result.final_accuracy) * 100 <= 1.0
    assert result.within_budget and result.excluded
    assert len(result.excluded) < len(result.sensitivity)  # the rest stays int8
    assert result.sensitivity[result.excluded[0]] == max(result.sensitivity.values())
    assert any("mixed" in note for note in ctx.notes)
    predictor = build_predictor("onnxruntime", quantized, val_inputs(trained, 1))
    from cnnopt.evaluation import evaluate

    measured = evaluate(predictor, trained[2].take(300, seed=0)).accuracy
    assert measured == pytest.approx(result.final_accuracy)


def test_bf16_mode_is_applied_by_the_runtime(trained, net, ctx) -> None:
    quantized = apply(net, QuantizeConfig(mode="bf16"), ctx)
    predictor = build_predictor("eager", quantized, val_inputs(trained, 1))
    assert predictor.precision == "bf16"
    assert check_parity(trained[0], predictor, val_inputs(trained))["top1_agreement"] >= 0.9


def test_static_int8_refused_in_eager(net, ctx, trained) -> None:
    quantized = apply(net, QuantizeConfig(calib_size=64), ctx)
    with pytest.raises(CnnoptError, match="onnxruntime"):
        build_predictor("eager", quantized, val_inputs(trained, 1))
    with pytest.raises(CnnoptError, match="already quantized"):
        apply(quantized, QuantizeConfig(), ctx)


@pytest.mark.parametrize(
    "options",
    [
        {"mode": "int4"},
        {"calibration": "kl"},
        {"calib_size": 0},
        {"accuracy_budget": -1},
        {"activation_type": "fp8"},
        {"qat_epochs": -1},
    ],
)
def test_bad_config_is_explained(options) -> None:
    with pytest.raises(CnnoptError) as info:
        QuantizeConfig.from_dict({"transform": "quantize", **options})
    assert info.value.hint


def test_static_without_calibration_data_is_explained(net) -> None:
    with pytest.raises(CnnoptError, match="calib data"):
        apply(net, QuantizeConfig(), Context())


def test_config_round_trips() -> None:
    config = QuantizeConfig(mode="mixed", calibration="entropy", accuracy_budget=0.5)
    assert QuantizeConfig.from_dict(config.to_dict()) == config
