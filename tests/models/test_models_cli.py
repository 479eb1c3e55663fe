"""`cnnopt models`: the table, the JSON and the errors a user sees."""

from __future__ import annotations

import json

import pytest

from cnnopt.cli import main


def test_json_lists_params_and_macs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "resnet2*", "--json", "--input", "1x28x28"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["resnet20"]
    row = rows[0]
    assert row["params"] == 272_186  # 1 input channel: 288 fewer stem weights than RGB
    # 3x3 convs at 28/14/7 plus the 1x1 shortcuts and the head, counted by hand.
    convs = 28 * 28 * 9 * (1 * 16 + 6 * 16 * 16)
    convs += 14 * 14 * (9 * (16 * 32 + 5 * 32 * 32) + 16 * 32)
    convs += 7 * 7 * (9 * (32 * 64 + 5 * 64 * 64) + 32 * 64)
    assert row["macs"] == convs + 64 * 10
    assert row["description"].startswith("ResNet-20")


def test_table_shows_every_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("lenet5", "resnet18", "mobilenet_v2", "dwsep_cnn", "vgg16_bn"):
        assert name in out


def test_no_match_is_an_error_with_known_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "transformer*"]) == 2
    err = capsys.readouterr().err
    assert "no model matches" in err and "resnet20" in err


def test_too_small_input_is_reported_per_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "lenet5", "--json", "--input", "1x4x4"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert "does not run on input 1x4x4" in row["error"]


def test_bad_input_shape_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["models", "--input", "32x32"])
    assert info.value.code == 2
