"""The quantize transform: bf16/fp16, int8 PTQ (static or dynamic), QAT and mixed precision.

How each mode reaches a runtime:
* bf16 / fp16: the weights stay fp32; the model is marked (`model.cnnopt_quant`) and each
  runtime applies the precision natively (eager: autocast; OpenVINO: INFERENCE_PRECISION_HINT).
* int8_static / int8_dynamic / mixed: int8 lives in the ONNX graph that ONNX Runtime and
  OpenVINO load. The transform exports the fp32 graph, quantizes it with
  onnxruntime.quantization (QDQ, per-channel weights, calibrated on ctx.calib_data) and keeps
  the result on `model.cnnopt_quant` together with its config and calibration set. The torch
  model itself is unchanged; `export_onnx` and the ONNX/OpenVINO builders use the int8 graph
  (rebuilt automatically if the weights changed since). Eager runs int8_dynamic natively
  (torch quantize_dynamic on Linear layers) and refuses static int8 with a hint.
* qat: fake-quant modules are inserted in torch and the model is fine-tuned with
  cnnopt.train; its ONNX export already is a QDQ graph (see quant_qat.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.transforms.base import Context, TransformConfig, register_transform
from cnnopt.transforms.quant_calib import ACTIVATION_TYPES, CALIBRATIONS

MODES = ("bf16", "fp16", "int8_static", "int8_dynamic", "qat", "mixed")


@dataclass
class QuantizeConfig(TransformConfig):
    name = "quantize"

    mode: str = "int8_static"  # bf16 | fp16 | int8_static | int8_dynamic | qat | mixed
    calibration: str = "minmax"  # minmax | percentile (99.999th) | entropy (KL histogram)
    calib_size: int = 512  # calibration images; a few hundred is enough for min-max ranges
    per_channel: bool = True  # per-output-channel weight scales: much better for depthwise/BN
    # uint8 asymmetric: ONNX Runtime's fast x86 U8S8 kernels (S8S8 measured ~9x slower on
    # ResNet-18 here), OpenVINO equally fast either way | int8 symmetric
    activation_type: str = "uint8"
    accuracy_budget: float = 1.0  # mixed: max val-accuracy drop, in percentage points
    eval_size: int = 1000  # mixed: val images per accuracy measurement (speed vs noise)
    qat_epochs: float = 1.0  # qat: fine-tuning epochs (ctx.finetune_epochs overrides)
    qat_lr: float = 0.005  # qat: small, the weights are already trained
    # 7-bit int8 weights. None: on where this CPU has no VNNI, whose int8 kernels in ONNX
    # Runtime saturate 8-bit weights (quant_calib.default_reduce_range); the resolved value
    # is what a saved recipe records, so the artifact rebuilds the same on any machine
    reduce_range: bool | None = None

    def validate(self) -> None:
        for field_name, value, allowed in (
            ("mode", self.mode, MODES),
            ("calibration", self.calibration, CALIBRATIONS),
            ("activation_type", self.activation_type, ACTIVATION_TYPES),
        ):
            if value not in allowed:
                raise CnnoptError(
                    f"quantize: unknown {field_name} {value!r}",
                    f"choose one of {', '.join(allowed)}",
                )
        for field_name, value in (("calib_size", self.calib_size), ("eval_size", self.eval_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise CnnoptError(
                    f"quantize: {field_name} must be a whole number >= 1, got {value!r}",
                    "e.g. calib_size=512 (a few hundred images)",
                )
        if not 0 <= self.accuracy_budget <= 100:
            raise CnnoptError(
                f"quantize: accuracy_budget is in percentage points (0-100), got "
                f"{self.accuracy_budget}",
                "e.g. accuracy_budget=0.5 for at most half a point of accuracy lost",
            )
        if self.qat_epochs < 0 or not self.qat_lr > 0:
            raise CnnoptError(
                f"quantize: qat_epochs must be >= 0 and qat_lr > 0, got {self.qat_epochs}, "
                f"{self.qat_lr}",
                "e.g. qat_epochs=1, qat_lr=0.005",
            )


@register_transform(QuantizeConfig)
def quantize(model: nn.Module, config: QuantizeConfig, ctx: Context) -> nn.Module:
    if getattr(model, "cnnopt_quant", None):
        raise CnnoptError(
            f"model is already quantized ({model.cnnopt_quant['mode']})",
            "apply quantize once, to the float model",
        )
    model.eval()
    plan: dict[str, Any] = {"mode": config.mode, "config": config.to_dict()}
    if config.mode not in ("bf16", "fp16"):
        plan["config"]["reduce_range"] = _reduce_range(config, ctx)
    if config.mode in ("bf16", "fp16"):
        model.cnnopt_quant = plan
        ctx.notes.append(f"quantize: {config.mode} is applied by the runtime (weights stay fp32)")
        return model
    if config.mode == "qat":
        return _qat(model, config, ctx, plan)
    if config.mode != "int8_dynamic":
        calib = ctx.require("calib_data", "quantize").take(config.calib_size, seed=ctx.seed)
        plan["calib_data"] = calib
    example = _example(ctx, plan.get("calib_data"))
    if config.mode == "mixed":
        _mixed(model, config, ctx, plan, example)
    model.cnnopt_quant = plan
    if example is not None:  # build the int8 graph now: errors and progress show up here
        from cnnopt.transforms.quant_calib import quantized_onnx_bytes

        quantized_onnx_bytes(model, example, progress=ctx.progress)
    return model


def _reduce_range(config: QuantizeConfig, ctx: Context) -> bool:
    from cnnopt.transforms.quant_calib import REDUCE_RANGE_WHY, default_reduce_range

    if config.reduce_range is not None:
        return bool(config.reduce_range)
    if default_reduce_range():
        ctx.notes.append(f"quantize: {REDUCE_RANGE_WHY}")
        return True
    return False


def _example(ctx: Context, data: Any) -> torch.Tensor | None:
    if ctx.example_input is not None:
        return ctx.example_input[:1].float()
    return data.normalize(data.images[:1]) if data is not None else None


def _mixed(
    model: nn.Module, config: QuantizeConfig, ctx: Context, plan: dict, example: torch.Tensor
) -> None:
    from cnnopt.transforms.sensitivity import mixed_precision

    val = ctx.require("val_data", "quantize (mixed)").take(config.eval_size, seed=ctx.seed)
    result = mixed_precision(
        model,
        example,
        plan["calib_data"],
        val,
        budget_points=config.accuracy_budget,
        calibration=config.calibration,
        per_channel=config.per_channel,
        activation_type=config.activation_type,
        progress=ctx.progress,
        reduce_range=plan["config"]["reduce_range"],
    )
    plan["exclude"] = result.excluded
    plan["mixed"] = result
    status = "within" if result.within_budget else "NOT within"
    ctx.notes.append(
        f"quantize mixed: float {result.float_accuracy:.2%}, all-int8 {result.int8_accuracy:.2%}, "
        f"final {result.final_accuracy:.2%} with {len(result.excluded)} layer(s) kept in float "
        f"({status} the {config.accuracy_budget} point budget)"
    )


def _qat(model: nn.Module, config: QuantizeConfig, ctx: Context, plan: dict) -> nn.Module:
    from cnnopt.transforms.quant_qat import calibrate_ranges, fold_batchnorm, insert_fake_quant

    data = ctx.calib_data if ctx.calib_data is not None else ctx.train_data
    if data is None:
        raise CnnoptError(
            "quantize (qat) needs training or calibration data",
            "pass a dataset (--dataset) or Context(train_data=...)",
        )
    count = insert_fake_quant(model, weight_qmax=63 if plan["config"]["reduce_range"] else 127)
    if count == 0:
        raise CnnoptError(
            "quantize (qat): the model has no Conv2d or Linear layer", "nothing to do"
        )
    calibrate_ranges(model, data)
    epochs = trained = config.qat_epochs if ctx.finetune_epochs is None else ctx.finetune_epochs
    if epochs > 0 and ctx.train_data is not None:
        from cnnopt.training import TrainConfig, train
        from cnnopt.transforms.finetune import note_cut

        train_config = TrainConfig(
            epochs=epochs,
            lr=config.qat_lr,
            optimizer="sgd",
            schedule="cosine",
            weight_decay=0.0,
            progress=ctx.progress,
            seed=ctx.seed,
            device=ctx.device,
        )
        result = train(model, (ctx.train_data, ctx.val_data), train_config, deadline=ctx.deadline)
        note_cut(ctx, result, epochs, "qat")
        model = result.model
        if result.stop_reason == "deadline":
            trained = round(result.epochs_done, 2)
    elif epochs > 0:
        ctx.notes.append("quantize qat: no training data, fake-quant calibrated but not trained")
    model, note = fold_batchnorm(model.cpu(), ctx)
    if note:
        ctx.notes.append(note)
    model.cnnopt_quant = plan
    ctx.notes.append(f"quantize qat: {count} layers fake-quantized, {trained} epoch(s) fine-tuned")
    return model
