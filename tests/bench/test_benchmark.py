"""benchmark(): one record per batch size with counts that agree with PyTorch's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnopt.runtimes.base as runtimes_base
from cnnopt.bench import benchmark
from cnnopt.bench.table import bench_renderable
from cnnopt.errors import CnnoptError
from cnnopt.models import create_model
from cnnopt.runtimes.base import Predictor

QUICK = {"warmup": 1, "min_runs": 2, "max_seconds": 0.02}


def small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_resnet18_counts_agree_with_pytorch() -> None:
    model = create_model("resnet18", num_classes=10, in_channels=3)
    result = benchmark(model, (3, 32, 32), batch_sizes=(1,), profile_top=3, **QUICK)
    (record,) = result.records
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, 32, 32))
    assert record.params == sum(p.numel() for p in model.parameters())
    assert record.macs == counter.get_total_flops() // 2
    assert record.model == "resnet18"
    assert 0 < record.latency_ms_p50 <= record.latency_ms_p90 <= record.latency_ms_p99


def test_one_record_per_batch_size_threads_and_mode_restored() -> None:
    before = torch.get_num_threads()
    model = small_net().train()
    result = benchmark(model, (1, 8, 8), batch_sizes=(1, 4), threads=1, **QUICK)
    assert torch.get_num_threads() == before and model.training
    assert [r.batch_size for r in result.records] == [1, 4]
    for record in result.records:
        assert record.threads == 1 and record.runtime == "eager"
        assert record.macs == 4 * 36 * 9 + 144 * 3
        assert record.file_size_bytes > 4 * record.params
        assert record.peak_memory_bytes > 0
        assert record.extra["latency"]["runs"] >= 2
    assert result.profile and result.profile_batch_size == 1
    json.dumps(result.to_dict())
    assert bench_renderable(result) is not None


class DoublingPredictor(Predictor):
    runtime = "fake"

    def __init__(self, model: nn.Module, artifact: Path | None = None) -> None:
        self.model = model
        self.artifact_path = artifact

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * 2


def test_predictor_is_timed_like_a_module(tmp_path: Path) -> None:
    artifact = tmp_path / "net.bin"
    artifact.write_bytes(b"0" * 321)
    result = benchmark(DoublingPredictor(small_net(), artifact), (1, 8, 8), (2,), **QUICK)
    (record,) = result.records
    assert record.runtime == "fake" and record.file_size_bytes == 321
    assert record.params == sum(p.numel() for p in small_net().parameters())
    assert result.profile == []  # torch.profiler ranks only eager modules


def test_runtime_builds_one_predictor_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[str, tuple[int, ...], dict]] = []

    def fake_build(runtime: str, model: nn.Module, example: torch.Tensor, **options):
        built.append((runtime, tuple(example.shape), options))
        return DoublingPredictor(model)

    monkeypatch.setattr(runtimes_base, "build_predictor", fake_build)
    result = benchmark(small_net(), (1, 8, 8), (1, 3), threads=1, runtime="ort", **QUICK)
    assert [b[1] for b in built] == [(1, 1, 8, 8), (3, 1, 8, 8)]
    assert built[0][2] == {"threads": 1, "precision": "fp32"}
    assert {r.runtime for r in result.records} == {"ort"}


@pytest.mark.parametrize(
    ("shape", "sizes", "match"),
    [
        ((1, 8), (1,), "input shape"),
        ((1, 8, 8), (0,), "batch sizes"),
        ((3, 8, 8), (1,), "1-channel"),
    ],
)
def test_bad_arguments_are_cnnopt_errors(shape: tuple, sizes: tuple, match: str) -> None:
    with pytest.raises(CnnoptError, match=match):
        benchmark(small_net(), shape, sizes, **QUICK)


def test_too_small_input_is_a_cnnopt_error() -> None:
    with pytest.raises(CnnoptError, match="failed on an input batch"):
        benchmark(small_net(), (1, 2, 2), (1,), **QUICK)
