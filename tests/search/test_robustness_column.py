"""The robustness column of `cnnopt optimize`: every Pareto-front candidate is attacked, eager
fp32 white-box and exported artifacts by transfer from their float model, and results.json,
results.csv, report.html and report.md all say which."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from search_toys import toy_data, toy_model
from torch import nn

from cnnopt.data.base import TensorData
from cnnopt.errors import CnnoptError
from cnnopt.record import Record
from cnnopt.runtimes.base import RUNTIMES, build_predictor
from cnnopt.search import Budget, RobustnessSettings, SearchSpace, Target, optimize
from cnnopt.search.evaluate_candidate import BuiltCandidate
from cnnopt.search.robustness import candidate_robustness, is_white_box

pytestmark = pytest.mark.skipif(
    "onnxruntime" not in RUNTIMES.names(), reason="the onnxruntime runtime is not registered"
)
SETTINGS = RobustnessSettings(eps=0.1, pgd_steps=3, samples=48)


def _data(n: int, seed: int) -> TensorData:
    return toy_data(n, seed)


def _model() -> nn.Module:
    return toy_model(8)


def _trained() -> nn.Module:
    model, data = _model(), _data(120, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    x = data.normalize(data.images)
    for _ in range(60):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), data.labels).backward()
        optimizer.step()
    return model.eval()


def _built(model: nn.Module, runtime: str, tmp_path: Path) -> BuiltCandidate:
    example = torch.randn(2, 1, 8, 8)
    predictor = build_predictor(runtime, model, example, threads=1, workdir=tmp_path / runtime)
    return BuiltCandidate(model, predictor, [], structured=model)


def test_white_box_for_eager_fp32_and_transfer_for_exported(tmp_path: Path) -> None:
    model, val = _trained(), _data(60, 2)
    eager = Record(runtime="eager", precision="fp32")
    ort = Record(runtime="onnxruntime", precision="fp32")
    white = candidate_robustness(_built(model, "eager", tmp_path), eager, val, SETTINGS)
    transfer = candidate_robustness(_built(model, "onnxruntime", tmp_path), ort, val, SETTINGS)
    assert white["mode"] == "white-box" and transfer["mode"] == "transfer"
    assert white["samples"] == transfer["samples"] == 48 and white["eps"] == 0.1
    assert white["clean"] > 0.6, "the toy model learned something"
    assert white["pgd"] < white["clean"] and white["fgsm"] < white["clean"]
    # The ONNX graph computes the same function, so a transfer from the very same float model
    # is as strong as white-box: the numbers agree up to a borderline sample or two.
    for kind in ("clean", "fgsm", "pgd"):
        assert abs(white[kind] - transfer[kind]) <= 2 / 48, kind
    assert is_white_box("eager", "fp32") and not is_white_box("eager", "int8")
    assert not is_white_box("openvino", "fp32") and not is_white_box("compile", "fp32")


def test_settings_reject_bad_values() -> None:
    with pytest.raises(CnnoptError, match="eps"):
        RobustnessSettings(eps=0).validate()
    with pytest.raises(CnnoptError, match=">= 1"):
        RobustnessSettings(samples=0).validate()


def _run(out: Path, robustness: RobustnessSettings):
    space = SearchSpace(
        prune_ratios=(0.0, 0.5), prune_importances=("l1",), lowrank_ratios=(0.0,),
        distill_epochs=(0.0,), precisions=("fp32",), runtimes=("eager", "onnxruntime"),
    )  # fmt: skip
    return optimize(
        _trained(), _data(120, 1), _data(60, 2), test_data=_data(60, 3),
        budget=Budget(trials=4, finetune_epochs=0.5),
        target=Target(batch_size=2, threads=1, latency_max_seconds=0.05),
        space=space, robustness=robustness, out=out, train_baseline=False, model_name="toy",
        progress=False,
    )  # fmt: skip


def test_optimize_attacks_every_front_candidate_and_reports_the_mode(tmp_path: Path) -> None:
    result = _run(tmp_path, SETTINGS)
    assert result.front, "a finished search has a front"
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["robustness"]["eps"] == 0.1 and "PGD-3" in data["robustness"]["description"]
    modes = set()
    for i, record in enumerate(data["records"]):
        robust = record["robustness"]
        if i not in data["front"]:
            assert robust is None, "only the front is attacked"
            continue
        expected = "white-box" if record["runtime"] == "eager" else "transfer"
        assert robust["mode"] == expected, (record["name"], robust)
        assert 0 <= robust["pgd"] <= 1 and robust["samples"] == 48 and "error" not in robust
        modes.add(robust["mode"])
    assert modes, "at least one front candidate was attacked"
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    front_rows = [row for row in rows if row["pareto"] == "True"]
    assert front_rows and all(row["robust_mode"] in ("white-box", "transfer") for row in front_rows)
    html = (tmp_path / "report.html").read_text()
    markdown = (tmp_path / "report.md").read_text()
    assert "robust acc (attack)" in html and "robust acc (attack)" in markdown
    assert 'id="robustness-note"' in html and "transfer =" in html
    for mode in modes:
        assert f"({mode})" in html and f"({mode})" in markdown


def test_no_robustness_leaves_the_column_empty(tmp_path: Path) -> None:
    _run(tmp_path, RobustnessSettings(enabled=False))
    data = json.loads((tmp_path / "results.json").read_text())
    assert all(record["robustness"] is None for record in data["records"])
    assert "not measured" in (tmp_path / "report.html").read_text()
