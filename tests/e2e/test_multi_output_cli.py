"""`--model tests/user_archs.py:tuple_output|dict_output` through the commands a user runs,
`--output INDEX|KEY` picking another output, a bad one as one line, and a short optimize
whose results and report name the chosen output."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import user_archs

from cnnopt.cli import main

ARCHS = Path(user_archs.__file__)
DATA = ["--dataset", "digits"]


def factory(name: str) -> str:
    return f"{ARCHS}:{name}"


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return int(exc.code)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """Each several-output model trained for a fraction of an epoch by `cnnopt train`."""
    runs = {}
    for name in ("tuple_output", "dict_output"):
        out = tmp_path_factory.mktemp(name) / "run"
        argv = ["train", "--model", factory(name), *DATA, "--epochs", "0.3", "--limit", "256"]
        assert run_cli([*argv, "--no-augment", "--out", str(out), "--json"]) == 0
        runs[name] = out
    return runs


def eval_json(model: Path, capsys, *extra: str) -> dict:
    capsys.readouterr()
    assert run_cli(["eval", "--model", str(model), *DATA, "--limit", "200", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def one_line_error(argv: list[str], capsys) -> str:
    capsys.readouterr()
    assert run_cli(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("name", ["tuple_output", "dict_output"])
def test_eval_bench_export_quantize_prune(name, trained, tmp_path, capsys) -> None:
    run = str(trained[name])
    assert 0 <= eval_json(trained[name], capsys)["accuracy"] <= 1
    for runtime in ("eager", "onnxruntime", "openvino"):
        argv = ["bench", "--model", run, "--input", "1x16x16", "--runtime", runtime]
        argv += ["--batch-sizes", "1", "--max-seconds", "0.2", "--no-memory", "--json"]
        assert run_cli(argv) == 0, runtime
    export = tmp_path / "onnx"
    assert run_cli(["export", "--model", run, "--input", "1x16x16", "--out", str(export)]) == 0
    names = [o.name for o in onnx.load(str(export / "model.onnx")).graph.output]
    assert names == (["output_0", "output_1"] if name == "tuple_output" else ["logits", "aux"])
    quantized = tmp_path / "int8"
    argv = ["quantize", "--model", run, *DATA, "--runtime", "onnxruntime", "--calib-size", "64"]
    assert run_cli([*argv, "--limit", "100", "--out", str(quantized), "--json"]) == 0
    assert len(onnx.load(str(quantized / "model.onnx")).graph.output) == 2
    pruned = tmp_path / "pruned"
    assert run_cli(["prune", "--model", run, "--ratio", "0.3", "--out", str(pruned), "--json"]) == 0
    assert 0 <= eval_json(pruned, capsys)["accuracy"] <= 1


def test_output_picks_another_output(trained, capsys) -> None:
    """--output aux scores the aux head (as Python computes it), and --output 1 on
    (logits, features) is the 48-wide feature vector, refused against 10 classes."""
    import torch

    from cnnopt.commands._model_arg import load_model_arg
    from cnnopt.data import load_dataset

    val = load_dataset("digits", "val").take(200)
    model = load_model_arg(str(trained["dict_output"]), 10, 1)
    with torch.no_grad():
        raw = model(val.normalize(val.images))
    for key in ("aux", "logits"):
        want = float((raw[key].argmax(1) == val.labels).float().mean())
        got = eval_json(trained["dict_output"], capsys, "--split", "val", "--output", key)
        assert got["accuracy"] == pytest.approx(want)
    argv = ["eval", "--model", str(trained["tuple_output"]), *DATA, "--output", "1"]
    assert "outputs 48 classes" in one_line_error(argv, capsys)


@pytest.mark.parametrize(
    ("command", "choice", "words"),
    [
        (["eval", *DATA], "nope", ["'nope'", "logits, aux"]),
        (["bench", "--input", "1x16x16", "--runtime", "onnxruntime"], "5", ["--output 5"]),
        (["export", "--input", "1x16x16", "--out", "OUT"], "feat", ["'feat'", "logits, aux"]),
        (["prune", "--ratio", "0.3", "--out", "OUT"], "9", ["--output 9"]),
        (["quantize", *DATA, "--out", "OUT"], "x", ["'x'"]),
        (["attack", *DATA], "x", ["'x'"]),
    ],
)
def test_a_bad_output_is_one_line(command, choice, words, tmp_path, capsys) -> None:
    command = [str(tmp_path / "o") if part == "OUT" else part for part in command]
    argv = [command[0], "--model", factory("dict_output"), *command[1:], "--output", choice]
    line = one_line_error(argv, capsys)
    assert "does not exist" in line and all(w in line for w in words), line
    assert not (tmp_path / "o" / "state.json").exists()


def test_train_output_aux_is_saved_with_the_checkpoint(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["train", "--model", factory("dict_output"), *DATA, "--epochs", "0.2", "--limit"]
    assert run_cli([*argv, "128", "--output", "aux", "--out", str(out), "--json"]) == 0
    assert json.loads((out / "state.json").read_text())["output"] == "aux"
    line = one_line_error(["train", "--model", factory("dict_output"), *DATA, "--output",
                           "main", "--out", str(tmp_path / "bad")], capsys)  # fmt: skip
    assert "'main'" in line and "logits, aux" in line


def test_short_optimize_names_the_output(tmp_path, capsys) -> None:
    out = tmp_path / "opt"
    argv = ["optimize", "--model", factory("tuple_output"), *DATA, "--trials", "4"]
    argv += ["--time-budget", "60", "--baseline-epochs", "1", "--no-robustness", "--no-progress"]
    assert run_cli([*argv, "--prune-ratios", "0,0.3", "--out", str(out)]) in (0, 1)
    results = json.loads((out / "results.json").read_text())
    assert results["output"] == "output 0 of 2 (tuple)"
    ok = [r for r in results["records"] if r.get("accuracy") is not None]
    assert ok, results["records"]
    assert "output 0 of 2 (tuple)" in (out / "report.html").read_text()
    assert "output 0 of 2 (tuple)" in (out / "report.md").read_text()
    best = out / "best" / "model.onnx"
    if best.exists():  # the deployed file keeps both outputs
        assert len(onnx.load(str(best)).graph.output) == 2
