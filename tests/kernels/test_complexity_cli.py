"""Formula costs, the measurement rows and the `cnnopt kernels` command end to end."""

from __future__ import annotations

import json

import pytest
import torch

from cnnopt.cli import main
from cnnopt.errors import CnnoptError
from cnnopt.kernels.complexity import ConvSpec, layer_set
from cnnopt.kernels.measure import measure_layer


def test_formulas_match_a_real_torch_layer():
    spec = ConvSpec("x", 16, 32, 14, kernel=3, stride=2, padding=1)
    conv = torch.nn.Conv2d(16, 32, 3, 2, 1)
    out = conv(torch.zeros(2, 16, 14, 14))
    assert spec.out_size == out.shape[-1]
    assert spec.params == sum(p.numel() for p in conv.parameters())
    assert spec.macs(2) == out.numel() * 16 * 9
    assert spec.activation_bytes(2) == 4 * (2 * 16 * 14 * 14 + out.numel())
    assert spec.im2col_bytes(1) == 4 * 16 * 9 * out.shape[-1] ** 2
    three = ConvSpec("y", 8, 8, 8)
    assert three.winograd_macs(1) * 2.25 == three.macs(1)
    assert three.winograd_macs(1, tile=4) * 4 == three.macs(1)


def test_scaled_spec_shrinks_to_budget_keeping_kind():
    spec = ConvSpec("big", 256, 256, 16, stride=2)
    small = spec.scaled(100_000)
    assert small.macs() <= 100_000 and small.stride == 2 and small.kernel == 3


def test_measure_layer_reports_every_algorithm_and_speedups():
    row = measure_layer(ConvSpec("t", 4, 4, 6), batch=2, repeats=1)
    assert set(row["ms"]) == {"naive", "im2col", "winograd", "winograd4", "fft", "torch"}
    assert row["winograd4_macs"] * 4 < row["macs"] * 1.8  # 6x6 tiles overhang a 6x6 map
    assert row["naive_extrapolated"] is True  # batch 2 scaled from batch 1
    assert row["speedup_vs_naive"]["im2col"] > 1
    assert row["gflops"]["im2col"] > 0


def test_unknown_layer_set_lists_the_known_ones():
    with pytest.raises(CnnoptError, match="unknown layer set") as info:
        layer_set("alexnet")
    assert "resnet18" in info.value.hint


def test_cli_writes_json_and_plot(tmp_path, capsys):
    code = main(
        ["kernels", "--layer-set", "tiny", "--batch", "1", "--threads", "1", "--repeats", "1",
         "--out", str(tmp_path), "--json"]
    )  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["layer"] for r in result["rows"]] == [s.name for s in layer_set("tiny")]
    assert result["matmul_peak_gflops"]["1"] > 0
    saved = json.loads((tmp_path / "kernels.json").read_text())
    assert saved["rows"][0]["macs"] == result["rows"][0]["macs"]
    assert (tmp_path / "kernels_time_vs_size.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_rejects_bad_thread_list(capsys):
    with pytest.raises(SystemExit) as info:
        main(["kernels", "--threads", "many"])
    assert info.value.code == 2
    assert "threads" in capsys.readouterr().err
