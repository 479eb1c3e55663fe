"""`cnnopt bench` and `cnnopt eval` end to end, in-process, on tiny zoo and file models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import cnnopt.data
from cnnopt.cli import main
from cnnopt.data.base import TensorData
from cnnopt.models import create_model
from cnnopt.serialize import save_checkpoint

QUICK = ["--max-seconds", "0.02", "--min-runs", "2", "--warmup", "1", "--profile-top", "3"]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors exit directly
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_bench_json_has_latency_macs_params(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "--model", "lenet5", "--input", "1x28x28", "--batch-sizes", "1,2", "--json"]
    code, out, _ = run_cli([*argv, *QUICK], capsys)
    assert code == 0
    payload = json.loads(out)
    assert set(payload) >= {"records", "machine", "profile", "input_shape"}
    model = create_model("lenet5", num_classes=10, in_channels=1)
    for record, batch in zip(payload["records"], (1, 2), strict=True):
        assert record["batch_size"] == batch
        assert record["params"] == sum(p.numel() for p in model.parameters())
        assert record["macs"] > 0 and record["latency_ms_p50"] > 0 and record["throughput"] > 0


def test_bench_table_and_out_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "sub" / "bench.json"
    argv = ["bench", "--model", "lenet5", "--input", "1x28x28", "--batch-sizes", "1"]
    code, out, _ = run_cli([*argv, "--out", str(out_file), *QUICK], capsys)
    assert code == 0 and "p50" in out and "MACs" in out
    assert json.loads(out_file.read_text())["records"][0]["batch_size"] == 1


@pytest.mark.parametrize("shape", ["3x32", "axbxc", "0x32x32"])
def test_bad_input_exits_2_with_one_line(shape: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["bench", "--model", "lenet5", "--input", shape], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "CxHxW" in err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_out_to_unwritable_dir_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    # /proc refuses new directories even for root, unlike a chmod-ed temp dir
    argv = ["bench", "--model", "lenet5", "--input", "1x28x28", "--out", "/proc/cnnopt/b.json"]
    code, out, err = run_cli([*argv, *QUICK], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "cannot create output directory" in err


def test_out_under_a_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = ["bench", "--model", "lenet5", "--input", "1x28x28", "--out", str(blocker / "b.json")]
    code, _, err = run_cli([*argv, *QUICK], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_checkpoint_channel_mismatch_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = save_checkpoint(tmp_path / "ckpt", create_model("lenet5", 10, in_channels=1))
    argv = ["bench", "--model", str(checkpoint), "--input", "3x28x28", *QUICK]
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "1-channel" in err and "1x" in err
    code, out, _ = run_cli([*argv[:4], "1x28x28", *QUICK, "--json"], capsys)
    assert code == 0 and json.loads(out)["records"][0]["model"] == "ckpt"


def test_file_model_and_wrong_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "net.py"
    source.write_text(
        "from torch import nn\n"
        "def build(num_classes, in_channels):\n"
        "    return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.Flatten(),\n"
        "                         nn.Linear(4 * 6 * 6, num_classes))\n"
    )
    spec = f"{source}:build"
    code, out, _ = run_cli(["bench", "--model", spec, "--input", "2x8x8", "--json", *QUICK], capsys)
    assert code == 0 and json.loads(out)["records"][0]["macs"] == 4 * 36 * 18 + 144 * 10
    code, _, err = run_cli(["bench", "--model", spec, "--input", "2x9x9", *QUICK], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "input shape" in err


def fake_dataset(
    name: str, split: str = "test", root: str = "data", image_size: object = None
) -> TensorData:
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.arange(40) % 10
    return TensorData(images, labels, [str(i) for i in range(10)], (0.5,), (0.25,), name)


def test_eval_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cnnopt.data, "load_dataset", fake_dataset, raising=False)
    argv = ["eval", "--model", "lenet5", "--dataset", "fake", "--batch-size", "16", "--json"]
    code, out, _ = run_cli(argv, capsys)
    assert code == 0
    payload = json.loads(out)
    assert payload["num_samples"] == 40 and payload["split"] == "test"
    assert sum(map(sum, payload["confusion"])) == 40 and payload["top5"] is not None
    code, out, _ = run_cli([*argv[:-1], "--tta-flip", "--limit", "8"], capsys)
    assert code == 0 and "macro F1" in out


def test_eval_class_mismatch_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cnnopt.data, "load_dataset", fake_dataset, raising=False)
    checkpoint = save_checkpoint(tmp_path / "c", create_model("lenet5", 3, in_channels=1))
    code, _, err = run_cli(["eval", "--model", str(checkpoint), "--dataset", "fake"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "3 classes" in err
