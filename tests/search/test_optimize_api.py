"""`cnnopt.search.optimize` end to end in-process: real prune/low-rank transforms, the real
cache and report, with a stand-in runtime so the test does not depend on ONNX/OpenVINO."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from search_toys import ModulePredictor, toy_data, toy_model
from torch import nn

import cnnopt.runtimes.base as runtimes_base
from cnnopt.data.base import TensorData
from cnnopt.search import Budget, Constraints, SearchSpace, Target, optimize

# The package re-exports the function `optimize`, which shadows the module of the same name.
optimize_mod = importlib.import_module("cnnopt.search.optimize")
pytest.importorskip("cnnopt.transforms.prune")
pytest.importorskip("cnnopt.transforms.lowrank")


def _data(n: int, seed: int) -> TensorData:
    return toy_data(n, seed)


def _model() -> nn.Module:
    return toy_model(16)


@pytest.fixture
def fake_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        runtimes_base,
        "build_predictor",
        lambda runtime, model, example, **kw: ModulePredictor(model),
    )
    monkeypatch.setattr(optimize_mod, "available_runtimes", lambda: ["eager"])


def _run(out: Path, trials: int, resume: bool = False):
    space = SearchSpace(
        # low-rank changes nothing after pruning this toy (prune + low-rank is the pruned
        # candidate again): a second criterion keeps a fourth distinct one for --resume
        prune_ratios=(0.0, 0.5), prune_importances=("l1", "l2"), lowrank_ratios=(0.0, 0.5),
        distill_epochs=(0.0,), precisions=("fp32",), runtimes=("eager",),
    )  # fmt: skip
    return optimize(
        _model(), _data(120, 1), _data(60, 2), test_data=_data(60, 3),
        budget=Budget(trials=trials, finetune_epochs=0.5),
        target=Target(batch_size=2, threads=1, latency_max_seconds=0.05),
        space=space, out=out, resume=resume, train_baseline=False, model_name="toy",
        sampler="random",  # TPE re-proposes the 3 measured points; --resume must find a 4th
        progress=False, isolate=False,  # the stand-in runtime is patched into this process only
    )  # fmt: skip


def test_optimize_writes_everything_and_resumes(tmp_path: Path, fake_runtime: None) -> None:
    result = _run(tmp_path, trials=3)
    assert len(result.records) == 3 and result.baseline == 0
    assert all(r.status == "ok" for r in result.records), [r.error for r in result.records]
    assert result.best is not None and result.summary.startswith("recommended: toy")
    data = json.loads((tmp_path / "results.json").read_text())
    assert len(data["records"]) == 3 and data["front"] == result.front
    for i in result.front:
        assert "test_accuracy" in data["records"][i]["extra"], "test accuracy for the front"
    details = data["recommended"]["details"]
    assert len(details["confusion_matrix"]) == 3 and details["per_layer"]
    best = tmp_path / "best"
    for name in ("weights.safetensors", "recipe.yaml", "README.md", "record.json"):
        assert (best / name).exists(), name
    assert (tmp_path / "report.html").exists() and (tmp_path / "pareto.png").exists()
    pruned = [r for r in result.records if r.extra["spec"]["prune_ratio"] > 0]
    assert pruned and pruned[0].params < result.records[0].params

    cached = sorted(p.name for p in (tmp_path / "cache").glob("*.safetensors"))
    again = _run(tmp_path, trials=4, resume=True)
    assert len(again.records) == 4
    for old, new in zip(result.records, again.records[:3], strict=True):
        assert (
            old.to_dict()["accuracy"] == new.accuracy and old.extra["trial"] == new.extra["trial"]
        )
    assert set(cached) <= {p.name for p in (tmp_path / "cache").glob("*.safetensors")}


def test_constraints_and_used_out_dir(tmp_path: Path, fake_runtime: None) -> None:
    _run(tmp_path, trials=1)
    with pytest.raises(Exception, match="--resume"):
        _run(tmp_path, trials=2)
    with pytest.raises(Exception, match="constraint"):
        Constraints(max_latency_ms=-1).validate()
