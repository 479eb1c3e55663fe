"""`cnnopt data list|fetch|info` in-process: output, JSON and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_files import make_mnist_dir

from cnnopt.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_fetch_prints_location_and_counts(tmp_path: Path, capsys) -> None:
    make_mnist_dir(tmp_path / "mnist", gz=True)
    code, out, _ = run(["data", "fetch", "mnist", "--data-dir", str(tmp_path)], capsys)
    assert code == 0 and "24 training + 8 test" in out and str(tmp_path / "mnist") in out


def test_info_json_with_options(capsys) -> None:
    code, out, _ = run(["data", "info", "digits", "-o", "size=28", "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["input_shape"] == [1, 28, 28] and info["num_classes"] == 10
    assert info["splits"]["train"] + info["splits"]["val"] == info["splits"]["trainval"]
    code, out, _ = run(["data", "info", "digits"], capsys)
    assert code == 0 and "mean" in out and "trainval 1438" in out


def test_list_json(capsys) -> None:
    code, out, _ = run(["data", "list", "--json"], capsys)
    assert code == 0 and "fashion-mnist" in {row["name"] for row in json.loads(out)}


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["data", "fetch", "fashion-mnist", "--data-dir", "/nonexistent"], "apt install"),
        (["data", "info", "digitz"], "did you mean 'digits'"),
        (["data", "info", "digits", "-o", "size"], "KEY=VALUE"),
    ],
)
def test_errors_exit_2_with_one_line(argv: list[str], words: str, capsys) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2 and out == "" and words in err and len(err.strip().splitlines()) == 1
