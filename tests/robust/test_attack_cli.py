"""`cnnopt attack` and `cnnopt train --adv` as a user runs them, on a lenet5 trained on digits."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from cnnopt.cli import main
from cnnopt.commands.attack import KNOWN_ATTACKS, attack_list

TRAIN = ["train", "--json", "--model", "lenet5", "--dataset", "digits", "--threads", "1"]
ATTACK = ["attack", "--dataset", "digits", "--threads", "1", "--steps", "3"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lenet5 after 3 epochs on 16x16 digits: well above chance, so attacks have work to do."""
    out = tmp_path_factory.mktemp("attack") / "lenet5"
    assert main([*TRAIN, "--epochs", "3", "--out", str(out)]) == 0
    return out


def test_attack_reports_clean_and_adversarial_accuracy(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([*ATTACK, "--model", str(trained), "--limit", "96", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["samples"] == 96 and result["mode"] == "white-box"
    assert [a["kind"] for a in result["attacks"]] == ["fgsm", "pgd"]
    assert result["untrained"] is False
    assert result["clean"] > 0.6, "the fixture model should have learned digits"
    assert result["fgsm"] < result["clean"] - 0.1, "eps=0.1 FGSM must hurt a standard model"
    assert result["pgd"] <= result["fgsm"] + 0.05, "PGD is at least about as strong as FGSM"


def test_tiny_eps_barely_changes_accuracy_and_large_eps_breaks_it(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [*ATTACK, "--model", str(trained), "--limit", "64", "--json", "--attack", "pgd"]
    _, tiny, _ = run([*base, "--eps", "0.002"], capsys)
    _, large, _ = run([*base, "--eps", "0.3"], capsys)
    tiny, large = json.loads(tiny), json.loads(large)
    assert tiny["clean"] == large["clean"], "same seeded subset"
    assert tiny["pgd"] >= tiny["clean"] - 0.05
    assert large["pgd"] < 0.2


def test_attack_table_and_json_file(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "reports" / "robust.json"
    argv = [*ATTACK, "--model", str(trained), "--limit", "32", "--attack", "fgsm"]
    code, _, err = run([*argv, "--out", str(target)], capsys)
    assert code == 0, err
    assert "clean" in err and "FGSM" in err and "PGD" not in err
    saved = json.loads(target.read_text())
    assert saved["samples"] == 32 and "pgd" not in saved
    assert not list(target.parent.glob("*.tmp"))


def test_untrained_zoo_model_is_attacked_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([*ATTACK, "--model", "lenet5", "--limit", "16", "--attack", "fgsm"], capsys)
    assert code == 0
    assert "random weights" in err


@pytest.mark.parametrize(
    ("extra", "expect"),
    [
        (["--eps", "0"], "eps must be in (0, 1]"),
        (["--eps", "1.5"], "eps must be in (0, 1]"),
        (["--attack", "cw"], "unknown attack 'cw'"),
        (["--attack", "fgsm,"], "unknown attack ''"),
        (["--steps", "0"], "--steps: expected a number > 0"),
        (["--step-size", "-0.1"], "step size must be > 0"),
        (["--seed", "-1"], "--seed must be >= 0"),
        (["--split", "train"], "invalid choice: 'train'"),
    ],
)
def test_attack_rejects_bad_settings(
    extra: list[str], expect: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([*ATTACK, "--model", "lenet5", *extra], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnopt: error: "), err
    assert expect in lines[0]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from((*KNOWN_ATTACKS, "FGSM", " pgd ")), min_size=1, max_size=5))
def test_attack_list_keeps_first_occurrences_in_order(names: list[str]) -> None:
    parsed = attack_list(",".join(names))
    expected = list(dict.fromkeys(n.strip().lower() for n in names))
    assert parsed == expected


@given(
    st.text(min_size=1, max_size=8).filter(
        lambda t: "," not in t and t.strip().lower() not in KNOWN_ATTACKS
    )
)
@settings(max_examples=25, deadline=None)
def test_attack_list_refuses_anything_else(name: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        attack_list(f"fgsm,{name}")


@pytest.mark.parametrize(("method", "steps"), [("fgsm_rs", None), ("pgd", "2")])
def test_adversarial_training_runs_and_changes_the_weights(
    method: str, steps: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [*TRAIN, "--limit", "192", "--epochs", "1"]
    adv = ["--adv", method, "--adv-eps", "0.1"] + (["--adv-steps", steps] if steps else [])
    code, out, err = run([*common, *adv, "--out", str(tmp_path / "adv")], capsys)
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["adversarial"] == {"method": method, "eps": 0.1, "steps": int(steps or 7)}
    assert metrics["history"][-1]["epoch"] == 1
    code, out, err = run([*common, "--out", str(tmp_path / "plain")], capsys)
    assert code == 0 and json.loads(out)["adversarial"] is None
    adv_w = load_file(tmp_path / "adv" / "model.safetensors")
    plain_w = load_file(tmp_path / "plain" / "model.safetensors")
    assert any(not adv_w[k].equal(plain_w[k]) for k in plain_w), "the attack hook never ran"
