"""The commands cnnopt prints must work: a small `cnnopt optimize` run (int8 on ONNX Runtime,
digits resized to 20x20), then every shell command and every Python snippet in the Markdown it
wrote (best/README.md, report.md) is executed from the run's folder, as a user would paste it.

Before, best/README.md told the user to bench `--model best/` without an input shape, to
rebuild with `--dataset DATASET`, and its snippet used an undefined INPUT_SHAPE. The cases one
run does not produce (an eager winner with no artifact file, data read from a folder, a
baseline that could not be saved) are checked at the end: each printed command parses with
the real CLI and each snippet compiles.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cnnopt.cli import build_parser, main
from cnnopt.data import TensorData
from cnnopt.record import Record
from cnnopt.search.best_readme import readme

pytest.importorskip("onnxruntime")

FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block; an untagged block holds shell commands."""
    return [(lang or "shell", code) for lang, code in FENCE.findall(markdown)]


def shell_commands(code: str) -> list[list[str]]:
    """Each command line as argv, `cnnopt` meaning this Python's `python -m cnnopt.cli`."""
    commands = []
    for line in code.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        argv = shlex.split(line)
        assert argv[0] == "cnnopt", f"not a cnnopt command: {line}"
        commands.append([sys.executable, "-m", "cnnopt.cli", *argv[1:]])
    return commands


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CNNOPT_OFFLINE": "1"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One recommended int8 candidate, as in test_recipe_reproduces_cli, at 20x20."""
    out = tmp_path_factory.mktemp("optimize") / "run"
    argv = [
        "optimize", "--model", "lenet5", "--dataset", "digits", "--image-size", "20",
        "--train-subset", "300", "--runtime", "onnxruntime", "--precision", "int8",
        "--prune-ratios", "0", "--trials", "1", "--no-robustness", "--baseline-epochs", "2",
        "--threads", "1", "--no-progress", "--json", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    return out


def test_every_command_and_snippet_in_best_readme_runs(finished_run: Path) -> None:
    readme = (finished_run / "best" / "README.md").read_text()
    record = json.loads((finished_run / "best" / "record.json").read_text())
    assert "INPUT_SHAPE" not in readme and "DATASET" not in readme
    assert "--input 1x20x20" in readme and "--image-size 20x20" in readme
    blocks = code_blocks(readme)
    shell = [argv for lang, code in blocks if lang == "shell" for argv in shell_commands(code)]
    python = [code for lang, code in blocks if lang == "python"]
    assert len(shell) >= 2 and len(python) == 1, blocks

    for argv in shell:
        result = run(argv, finished_run)
        assert result.returncode == 0, f"{shlex.join(argv[3:])}:\n{result.stderr[-2000:]}"
        if argv[3] == "bench":  # the artifact itself, at the recorded batch and precision
            assert "int8" in result.stdout and "p50" in result.stdout
    rebuilt = json.loads((finished_run / "rebuilt" / "metrics.json").read_text())
    assert rebuilt["artifact"]["precision"] == "int8" and rebuilt["input_shape"] == [1, 20, 20]
    assert abs(rebuilt["artifact"]["accuracy"] - record["accuracy"]) <= 0.01

    result = run([sys.executable, "-c", python[0]], finished_run)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == f"({record['batch_size']}, 10)"


def test_every_markdown_file_cnnopt_wrote_has_only_working_commands(finished_run: Path) -> None:
    """report.md (and any other Markdown) prints no command that is not covered above."""
    for path in finished_run.rglob("*.md"):
        if path.name == "README.md":
            continue
        for lang, code in code_blocks(path.read_text()):
            assert lang == "shell", f"{path.name}: a {lang} block nobody runs"
            for argv in shell_commands(code):
                result = run(argv, finished_run)
                assert result.returncode == 0, f"{path.name}: {shlex.join(argv[3:])}"


def _data(source: str, image_size: list[int] | None = None) -> TensorData:
    import torch

    extra = {"source": source, **({"image_size": image_size} if image_size else {})}
    images = torch.zeros(4, 3, 24, 24, dtype=torch.uint8)
    return TensorData(images, torch.zeros(4), list("abcde"), (0.5,) * 3, (0.25,) * 3, "cifar10",
                      extra)  # fmt: skip


def _check(text: str) -> list[list[str]]:
    parser, commands = build_parser(), []
    for lang, code in code_blocks(text):
        if lang == "python":
            compile(code, "README.md", "exec")
            continue
        for line in filter(str.strip, code.splitlines()):
            argv = shlex.split(line)
            assert argv[0] == "cnnopt"
            parser.parse_args(argv[1:])  # an unknown flag or bad value exits here
            commands.append(argv)
    return commands


def test_an_eager_winner_is_benched_as_the_checkpoint(tmp_path: Path) -> None:
    record = Record(name="net bf16", runtime="eager", precision="bf16", batch_size=8,
                    threads=2, accuracy=0.9, latency_ms_p50=1.5)  # fmt: skip
    text = readme(record, None, _data(str(tmp_path), [24, 24]), 8, has_baseline=True)
    bench, apply = _check(text)
    assert bench[1:] == shlex.split(
        "bench --model best --runtime eager --precision bf16 --input 3x24x24 --batch-sizes 8 "
        "--threads 2"
    )
    assert apply[-6:] == ["--image-size", "24x24", "--data-dir", str(tmp_path), "--out", "rebuilt"]
    assert 'build_predictor(\n    "eager", model, example' in text
    assert "torch.randn(8, 3, 24, 24)" in text and "(8, 5)" in text


@pytest.mark.parametrize("source", ["bundled", "/no/such/folder"])
def test_no_data_dir_for_data_that_came_from_no_folder(source: str) -> None:
    record = Record(name="n", runtime="openvino", precision="int8", accuracy=0.5,
                    latency_ms_p50=1.0)  # fmt: skip
    text = readme(record, "model.xml", _data(source), 1, has_baseline=False)
    (bench,) = _check(text)  # no fenced apply: the baseline was not saved
    assert bench[2:4] == ["--model", "best/model.xml"] and "--data-dir" not in text
    assert "YOUR_MODEL --dataset cifar10 --out rebuilt" in text
