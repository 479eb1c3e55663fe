"""Smoke test of benchmarks/peers.py: both phases on a tiny ResNet-18 and a digits subset.

The real benchmark takes an hour on a trained full-width model; this checks in seconds that
every row is built, scored through its runtime and timed, and that the outputs are complete.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import peers  # noqa: E402
import peers_measure  # noqa: E402

from cnnopt.data import load_dataset  # noqa: E402
from cnnopt.models import create_model  # noqa: E402
from cnnopt.recipe import Recipe  # noqa: E402
from cnnopt.training import TrainConfig, train  # noqa: E402

ROWS = {"a", "b", "c", "d", "e", "f", "g-onnxruntime", "g-openvino"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A briefly trained narrow ResNet-18 checkpoint, as `cnnopt train` writes it."""
    directory = tmp_path_factory.mktemp("ckpt")
    data = load_dataset("digits", "train").take(256, seed=0)
    model = create_model("resnet18", num_classes=10, in_channels=1, width=0.125)
    config = TrainConfig(
        epochs=1, batch_size=32, lr=0.05, checkpoint_dir=str(directory), progress=False
    )
    train(model, (data, None), config)
    return directory


@pytest.fixture(scope="module")
def run_dir(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("peers")
    code = peers.main(_args(checkpoint, out))
    assert code == 0
    return out


def _args(checkpoint: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--checkpoint", str(checkpoint),
        "--cache", str(out / "cache"),
        "--dataset", "digits",
        "--train-limit", "256",
        "--test-limit", "96",
        "--finetune-epochs", "0.2",
        "--batch-sizes", "1,4",
        "--max-seconds", "0.02",
        "--threads", "1",
        "--out", str(out / "peers.json"),
        "--no-progress",
        # (g) must prune harder than (f)'s 50%: on this 1/8-width ResNet (widths 8-64) widths
        # round toward keeping channels, so the default 60% keeps what 50% keeps
        "--g-ratio", "0.75",
        *extra,
    ]  # fmt: skip


def test_every_row_has_accuracy_latency_and_cost(run_dir: Path) -> None:
    result = json.loads((run_dir / "peers.json").read_text())
    rows = {row["key"]: row for row in result["rows"]}
    assert set(rows) == ROWS
    for row in rows.values():
        assert 0.0 <= row["accuracy"] <= 1.0
        assert set(row["latency"]) == {"1", "4"}
        for stats in row["latency"].values():
            assert 0 < stats["p50_ms"] <= stats["p90_ms"]
            assert stats["throughput"] > 0
        assert row["params"] > 0 and row["macs"] > 0 and row["file_bytes"] > 0
    # pruning really shrank (f) and (g); int8 rows really are int8 graphs
    assert rows["f"]["params"] < rows["a"]["params"]
    assert rows["g-openvino"]["macs"] < rows["f"]["macs"]
    assert {rows[k]["precision"] for k in ("c", "e", "g-onnxruntime", "g-openvino")} == {"int8"}
    assert result["openvino_default_precision"] in ("fp32", "bf16", "fp16")
    assert rows["d"]["precision"] == result["openvino_default_precision"]


def test_summary_and_side_outputs(run_dir: Path) -> None:
    result = json.loads((run_dir / "peers.json").read_text())
    summary = result["summary"]
    assert summary["g"] in ("g-onnxruntime", "g-openvino")
    assert set(summary["speedup_vs_best_peer"]) == {"1", "4"}
    assert all(peer in "abcdef" for peer in summary["best_peer"].values())
    assert isinstance(summary["target_met"], bool)
    assert result["threads"] == 1 and result["machine"]["cpu"]
    # (f) and (g) were fine-tuned alike, and the result says how
    tuned = {key: result["prepared_with"][key]["options"] for key in ("f", "g")}
    assert tuned["f"]["finetune_precision"] == tuned["g"]["finetune_precision"]
    assert tuned["g"]["finetune_precision"] in ("fp32", "bf16") and tuned["g"]["train"] == 256
    markdown = (run_dir / "peers.md").read_text()
    assert "resnet18 (width 0.125) on digits" in markdown
    assert "(g-openvino)" in markdown and "[dim]" not in markdown
    recipe = Recipe.load(run_dir / "peers_best_recipe.yaml")
    assert [step.name for step in recipe.steps] == ["prune", "fuse", "quantize"]


def test_prepare_reuses_its_cache(run_dir: Path, checkpoint: Path) -> None:
    marker = run_dir / "cache" / "g" / "peers.json"
    before = marker.stat().st_mtime_ns
    assert peers.main([*_args(checkpoint, run_dir), "--phase", "prepare"]) == 0
    assert marker.stat().st_mtime_ns == before


def test_measure_without_prepare_fails_with_a_hint(checkpoint: Path, tmp_path: Path) -> None:
    args = [*_args(checkpoint, tmp_path), "--phase", "measure"]
    assert peers.main(args) == 2
    assert not (tmp_path / "peers.json").exists()


def test_missing_checkpoint_is_a_user_error(tmp_path: Path, capsys) -> None:
    assert peers.main(_args(tmp_path / "nope", tmp_path)) == 2
    assert "--checkpoint" in capsys.readouterr().out


def test_g_wins_only_when_both_conditions_hold() -> None:
    def row(key: str, acc: float, p50: float) -> dict:
        return {"key": key, "accuracy": acc, "latency": {"1": {"p50_ms": p50}}}

    rows = [row("a", 0.90, 4.0), row("e", 0.90, 1.0), row("g-openvino", 0.898, 0.5)]
    summary = peers_measure.summarize(rows, [1])
    assert summary["speedup_vs_best_peer"]["1"] == pytest.approx(2.0)
    assert summary["best_peer"]["1"] == "e" and summary["target_met"]
    assert summary["g_per_batch_size"]["runtime"] == {"1": "g-openvino"}
    rows[-1]["accuracy"] = 0.894  # 0.6 points lost
    assert not peers_measure.summarize(rows, [1])["target_met"]
