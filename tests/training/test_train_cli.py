"""`cnnopt train` end to end on the bundled digits set, and its one-line errors."""

from __future__ import annotations

import json

import pytest

from cnnopt.cli import main

data = pytest.importorskip("cnnopt.data")
if not hasattr(data, "load_dataset"):
    pytest.skip("cnnopt.data.load_dataset is not available yet", allow_module_level=True)


def test_train_digits_one_epoch_writes_metrics_and_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--model", "fmnist_net", "--dataset", "digits", "--data-dir",
            str(tmp_path / "data"), "--epochs", "1", "--width", "0.5", "--out", str(out),
            "--json"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["test_acc"] <= 1 and 0 <= metrics["test_acc_flip"] <= 1
    assert metrics["history"][0]["epoch"] == 1
    assert json.loads(capsys.readouterr().out)["test_acc"] == metrics["test_acc"]
    assert (out / "model.safetensors").is_file() and (out / "state.json").is_file()
    # the same --out again is refused rather than silently overwritten ...
    assert main(argv) == 2
    # ... and --resume of a finished run just reports it again
    assert main([*argv, "--resume"]) == 0


@pytest.mark.parametrize(
    "extra",
    [["--epochs", "-1"], ["--lr", "abc"], ["--optimizer", "lion"], ["--batch-size", "0"],
     ["--model", "no_such_net"], ["--label-smoothing", "2"]],
)  # fmt: skip
def test_bad_values_exit_2_with_one_line(tmp_path, capsys, extra):
    argv = ["train", "--dataset", "digits", "--data-dir", str(tmp_path / "data"),
            "--out", str(tmp_path / "run"), "--epochs", "1", *extra]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        code = main(argv)
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cnnopt") and len(err.splitlines()) == 1, err
