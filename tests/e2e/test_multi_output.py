"""Models that return (logits, features) or {"logits": ..., "aux": ...} through every stage,
from Python: training, evaluation, each runtime with parity, export (all outputs kept and
named), int8, distillation, attacks and checkpoints. The CLI side is test_multi_output_cli.py."""

from __future__ import annotations

import onnx
import pytest
import torch
import user_archs

from cnnopt.data import load_dataset
from cnnopt.evaluation import evaluate
from cnnopt.outputs import OutputSpec, output_spec, select_output, set_output
from cnnopt.runtimes.base import build_predictor
from cnnopt.runtimes.export import export_artifacts
from cnnopt.runtimes.parity import check_parity, parity_inputs
from cnnopt.training import TrainConfig, train

MULTI = ("tuple_output", "dict_output")
ONNX_NAMES = {"tuple_output": ["output_0", "output_1"], "dict_output": ["logits", "aux"]}


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return user_archs.ARCHITECTURES[name](in_channels=1, num_classes=10).eval()


@pytest.fixture(scope="module")
def digits():
    train_data = load_dataset("digits", "train").take(256, seed=0)
    val = load_dataset("digits", "val").take(128, seed=0)
    return train_data, val


def quick_config(**extra) -> TrainConfig:
    options = {"epochs": 0.5, "batch_size": 64, "lr": 0.05, "progress": False, "augment": None}
    return TrainConfig(**{**options, **extra})


@pytest.mark.parametrize("name", MULTI)
def test_training_uses_the_chosen_output(name, digits) -> None:
    model = build(name)
    result = train(model, digits, quick_config())
    assert result.steps > 0 and result.best_val_acc is not None
    assert all(row["train_loss"] > 0 for row in result.history)


def test_training_on_aux_leaves_the_main_head_alone(digits) -> None:
    """Only the chosen output reaches the loss: the main head gets no gradient at all."""
    model = build("dict_output")
    main_before = model.main.weight.detach().clone()
    aux_before = model.aux.weight.detach().clone()
    train(model, digits, quick_config(), output="aux")
    assert torch.equal(model.main.weight, main_before)
    assert not torch.equal(model.aux.weight, aux_before)
    assert output_spec(model) == OutputSpec("aux")


@pytest.mark.parametrize(("name", "choice"), [("tuple_output", None), ("dict_output", None),
                                              ("dict_output", "aux")])  # fmt: skip
def test_evaluate_scores_the_chosen_output(name, choice, digits) -> None:
    _, val = digits
    model = build(name)
    with torch.no_grad():
        raw = model(val.normalize(val.images))
    want = select_output(raw, choice).argmax(1)
    got = evaluate(model, val, output=choice)
    assert got.accuracy == pytest.approx(float((want == val.labels).float().mean()))


@pytest.mark.parametrize("runtime", ["eager", "onnxruntime", "openvino"])
@pytest.mark.parametrize("name", MULTI)
def test_each_runtime_predicts_the_chosen_output_with_parity(name, runtime) -> None:
    model = build(name)
    x = torch.randn(4, 1, 16, 16)
    predictor = build_predictor(runtime, model, x[:1])
    result = check_parity(model, predictor, parity_inputs(x[:1], model, n=16))
    assert result["passed"], result
    with torch.no_grad():
        torch.testing.assert_close(predictor(x), select_output(model(x)), atol=1e-4, rtol=1e-4)
    second = build_predictor(runtime, set_output(build(name), 1), x[:1])
    with torch.no_grad():
        torch.testing.assert_close(second(x), list(_values(model(x)))[1], atol=1e-4, rtol=1e-4)


def _values(raw):
    return raw.values() if isinstance(raw, dict) else raw


@pytest.mark.parametrize("fmt", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("name", MULTI)
def test_export_keeps_every_output_named(name, fmt, tmp_path) -> None:
    model = build(name)
    keys = list(model.state_dict())
    result = export_artifacts(model, tmp_path, torch.randn(1, 1, 16, 16), runtime=fmt)
    assert result.parity["passed"]
    assert list(model.state_dict()) == keys  # the export view adds no weights
    onnx_path = tmp_path / "model.onnx"
    if fmt == "onnxruntime":
        graph = onnx.load(str(onnx_path)).graph
        assert [o.name for o in graph.output] == ONNX_NAMES[name]
        batch = [o.type.tensor_type.shape.dim[0].dim_param for o in graph.output]
        assert batch == ["batch", "batch"]  # every output has the symbolic batch dimension
    else:
        import openvino as ov

        ir = ov.Core().read_model(str(tmp_path / "model.xml"))
        assert [p.get_any_name() for p in ir.outputs] == ONNX_NAMES[name]
    # A file read back alone (no model at hand) follows the same rule and honours a choice.
    runtime = "openvino" if fmt == "openvino" else "onnxruntime"
    path = tmp_path / ("model.xml" if fmt == "openvino" else "model.onnx")
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        outputs = list(_values(model(x)))
    for choice, want in ((None, outputs[0]), (1, outputs[1])):
        predictor = build_predictor(runtime, path, x[:1], output=choice)
        torch.testing.assert_close(predictor(x), want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", MULTI)
def test_int8_on_onnxruntime_keeps_outputs_and_agrees(name, digits, tmp_path) -> None:
    from cnnopt.transforms import Context, apply
    from cnnopt.transforms.quantize import QuantizeConfig

    train_data, val = digits
    model = build(name)
    train(model, digits, quick_config(epochs=1.0))
    example = val.normalize(val.images[:1])
    ctx = Context(calib_data=train_data.take(64, seed=0), example_input=example, progress=False)
    quantized = apply(model, QuantizeConfig(mode="int8_static", calib_size=64), ctx)
    result = export_artifacts(quantized, tmp_path, example, runtime="onnxruntime")
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    assert [o.name for o in graph.output] == ONNX_NAMES[name]
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    assert result.parity["top1_agreement"] >= 0.9


def test_distillation_from_a_dict_teacher(digits) -> None:
    from cnnopt.transforms import Context, apply
    from cnnopt.transforms.distill import DistillConfig

    teacher = build("dict_output")
    student = set_output(build("dict_output"), "aux")  # the student learns on its aux head
    ctx = Context(train_data=digits[0], val_data=digits[1], teacher=teacher, progress=False)
    main_before = student.main.weight.detach().clone()
    out = apply(student, DistillConfig(epochs=0.5), ctx)
    assert torch.equal(out.main.weight, main_before)  # only the chosen output was trained
    assert output_spec(out) == OutputSpec("aux")


@pytest.mark.parametrize("name", MULTI)
def test_attacks_on_a_several_output_model(name, digits) -> None:
    from cnnopt.robust.evaluate import evaluate_robustness

    result = evaluate_robustness(build(name), digits[1], limit=16, batch_size=16)
    assert 0 <= result["fgsm"] <= 1 and result["samples"] == 16


@pytest.mark.parametrize("saver", ["trainer", "recipe"])
def test_a_checkpoint_remembers_the_choice_and_keeps_its_keys(saver, tmp_path) -> None:
    from pathlib import Path

    from cnnopt.models import resolve_model
    from cnnopt.recipe import Recipe, save_applied
    from cnnopt.serialize import load_model, save_checkpoint

    factory = f"{Path(user_archs.__file__)}:dict_output"
    model = set_output(resolve_model(factory, num_classes=10, in_channels=1), "aux").eval()
    keys = list(model.state_dict())
    if saver == "trainer":
        save_checkpoint(tmp_path, model)
    else:
        save_applied(tmp_path, model, Recipe([]))
    loaded = load_model(tmp_path)
    assert output_spec(loaded) == OutputSpec("aux")
    assert list(loaded.state_dict()) == keys
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["aux"], model(x)["aux"])


def test_rewrite_compares_every_output_shape_of_a_dict_model() -> None:
    """The pool rewrite checks that a smaller window keeps every output's shape."""
    from cnnopt.transforms.rewrite import _shape_after

    model = build("dict_output")
    shapes = _shape_after(model, torch.randn(2, 1, 16, 16), model.stage1[0])
    assert shapes == [(2, 16, 16, 16), (2, 10), (2, 10)]
