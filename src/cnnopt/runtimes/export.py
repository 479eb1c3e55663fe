"""Export a model to the files a runtime loads: ONNX, OpenVINO IR, safetensors + recipe YAML.

ONNX comes from torch's TorchScript exporter with the torch.export one as fallback (see
torch_onnx.py), always with a symbolic batch dimension (one file serves batch 1 and 32).
A model annotated by the quantize transform (`model.cnnopt_quant`, int8 PTQ/dynamic/mixed)
is exported as the int8 QDQ model that the transform built, so "export" always means "what
this model will run as".

Every file is written through cnnopt.fileio (temporary file + rename), and every artifact is
checked against its torch model right after it is written (`check_parity`).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.fileio import atomic_path, ensure_dir, write_bytes, write_text
from cnnopt.outputs import output_spec
from cnnopt.runtimes.torch_onnx import DEFAULT_OPSET, check_opset, torch_export

FORMATS = ("onnx", "openvino", "safetensors")
# Runtime name -> the artifact format it loads.
RUNTIME_FORMATS = {
    "onnxruntime": "onnx",
    "onnxruntime-cuda": "onnx",
    "openvino": "openvino",
    "eager": "onnx",
    "compile": "onnx",
    "cuda": "onnx",
    "onnx": "onnx",
    "safetensors": "safetensors",
}
INT8_PLANS = ("int8_static", "int8_dynamic", "mixed")


def export_onnx(
    model: nn.Module,
    example_input: torch.Tensor,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    honour_quantization: bool = True,
) -> Path:
    """Write `model` as ONNX to `path` (atomically) and return the path.

    With `honour_quantization` a model the quantize transform marked for int8 is written as
    its int8 QDQ graph; without it the float graph is written (what quantization starts from).
    """
    from cnnopt.runtimes._common import check_example

    if not isinstance(model, nn.Module):
        raise CnnoptError(
            f"export_onnx needs an nn.Module, got {type(model).__name__}",
            "load the model first (cnnopt.models.resolve_model or a checkpoint)",
        )
    example = check_example(example_input)
    plan = getattr(model, "cnnopt_quant", None)
    if honour_quantization and plan and plan.get("mode") in INT8_PLANS:
        from cnnopt.transforms.quant_calib import quantized_onnx_bytes

        return write_bytes(path, quantized_onnx_bytes(model, example))
    with atomic_path(path) as tmp:
        torch_export(model, example, tmp, opset=opset, dynamic_batch=dynamic_batch)
    return Path(path)


def onnx_fp32_bytes(
    model: nn.Module, example_input: torch.Tensor, opset: int = DEFAULT_OPSET
) -> bytes:
    """The float ONNX graph as bytes: the starting point of ONNX Runtime's quantizer."""
    with tempfile.TemporaryDirectory(prefix="cnnopt-export-") as tmp:
        path = Path(tmp) / "model.onnx"
        torch_export(model, example_input, path, opset=opset, dynamic_batch=True)
        return path.read_bytes()


def onnx_precision(path: str | os.PathLike) -> str | None:
    """'int8' when the ONNX graph holds quantized ops (QDQ or dynamic int8), else None."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:
        raise CnnoptError(
            f"{path} is not a readable ONNX file: {exc}", "re-export it with `cnnopt export`"
        ) from None
    int8_ops = {"QuantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "MatMulInteger"}
    return "int8" if any(node.op_type in int8_ops for node in graph.node) else None


@dataclass
class ExportResult:
    files: list[str] = field(default_factory=list)  # file names written in the output dir
    format: str = "onnx"
    parity: dict[str, Any] | None = None  # check_parity's result for the runtime artifact
    notes: list[str] = field(default_factory=list)

    def tolist(self) -> list[str]:
        """What a caller that only wants the file list gets (e.g. the search's summary)."""
        return list(self.files)


def export_artifacts(
    model: nn.Module,
    out_dir: str | os.PathLike,
    example_input: torch.Tensor,
    recipe: Any = None,
    runtime: str = "onnxruntime",
    *,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
) -> ExportResult:
    """Write what `runtime` needs into `out_dir`: model.onnx or model.xml/.bin (OpenVINO IR),
    plus weights.safetensors and recipe.yaml, then check the artifact against the model.

    `runtime` may also be a format name ('onnx', 'openvino', 'safetensors'). `recipe` is a
    cnnopt.recipe.Recipe, a list of step dicts/TransformConfigs, or YAML text.
    """
    fmt = RUNTIME_FORMATS.get(str(runtime).lower())
    if fmt is None:
        raise CnnoptError(
            f"cannot export for {runtime!r}",
            f"choose a runtime or format: {', '.join(sorted(RUNTIME_FORMATS))}",
        )
    check_opset(opset)  # before creating anything
    out = ensure_dir(out_dir)
    from cnnopt.runtimes._common import check_example

    example = check_example(example_input)
    result = ExportResult(format=fmt)
    model.eval()
    if fmt == "onnx":
        export_onnx(model, example, out / "model.onnx", opset=opset)
        result.files.append("model.onnx")
    elif fmt == "openvino":
        result.files.extend(_export_openvino(model, example, out, opset))
    save_safetensors(model, out / "weights.safetensors")
    result.files.append("weights.safetensors")
    write_text(out / "recipe.yaml", recipe_yaml(recipe, model))
    result.files.append("recipe.yaml")
    if check and fmt != "safetensors":
        result.parity = _check_artifact(model, example, out / result.files[0], fmt)
    return result


def _export_openvino(model: nn.Module, example: torch.Tensor, out: Path, opset: int) -> list[str]:
    """OpenVINO IR via the ONNX graph, so int8 QDQ models keep their quantization."""
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix=".ov-", dir=out) as tmp:
        onnx_path = export_onnx(model, example, Path(tmp) / "model.onnx", opset=opset)
        ov_model = ov.convert_model(str(onnx_path))
        # compress_to_fp16 would halve the file but change fp32 results; keep weights exact.
        ov.save_model(ov_model, str(Path(tmp) / "model.xml"), compress_to_fp16=False)
        for name in ("model.bin", "model.xml"):  # .bin first: an .xml never points at nothing
            os.replace(Path(tmp) / name, out / name)
    return ["model.xml", "model.bin"]


def save_safetensors(model: nn.Module, path: str | os.PathLike) -> Path:
    from safetensors.torch import save_file

    state = {
        name: tensor.detach().cpu().contiguous().clone()
        for name, tensor in model.state_dict().items()
        if isinstance(tensor, torch.Tensor) and not tensor.is_quantized
    }
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
    return Path(path)


def recipe_yaml(recipe: Any, model: nn.Module | None = None) -> str:
    """YAML for whatever form the recipe came in; the quantize plan is added if missing."""
    import yaml

    if isinstance(recipe, str):
        return recipe if recipe.endswith("\n") else recipe + "\n"
    if recipe is not None and hasattr(recipe, "to_yaml"):
        return recipe.to_yaml()
    steps = [step.to_dict() if hasattr(step, "to_dict") else dict(step) for step in recipe or []]
    plan = getattr(model, "cnnopt_quant", None)
    if plan and not any(step.get("transform") == "quantize" for step in steps):
        steps.append(dict(plan.get("config", {"transform": "quantize", "mode": plan["mode"]})))
    return yaml.safe_dump({"steps": steps}, sort_keys=False)


def _check_artifact(model: nn.Module, example: torch.Tensor, path: Path, fmt: str) -> dict:
    from cnnopt.runtimes.base import build_predictor
    from cnnopt.runtimes.parity import check_parity, parity_inputs

    runtime = "openvino" if fmt == "openvino" else "onnxruntime"
    predictor = build_predictor(runtime, path, example, output=output_spec(model))
    # A float artifact that disagrees is a bug: stop. An int8 one is judged by the caller.
    strict = predictor.precision == "fp32" and not getattr(model, "cnnopt_quant", None)
    return check_parity(model, predictor, parity_inputs(example, model), raise_on_fail=strict)
