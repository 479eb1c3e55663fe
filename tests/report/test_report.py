"""The report is built from results JSON alone; headless Chromium renders its plot and table."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cnnopt.cli import main
from cnnopt.record import Record
from cnnopt.report import write_report
from cnnopt.search.results import build_results, to_csv, write_results
from cnnopt.search.select import Constraints

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _results() -> dict:
    rows = [
        ("baseline", 0.95, 20.0, "eager"),
        ("runtime onnxruntime", 0.95, 12.0, "onnxruntime"),
        (None, 0.94, 4.0, "openvino"),
        ("int8 PTQ", 0.90, 3.0, "onnxruntime"),
    ]
    records = []
    for trial, (tag, acc, ms, runtime) in enumerate(rows):
        record = Record(
            name=f"net <{trial}> on {runtime}", accuracy=acc, latency_ms_p50=ms, runtime=runtime,
            file_size_bytes=1_000_000 // (trial + 1), params=1000,
        )  # fmt: skip
        record.extra = {"trial": trial, **({"single_technique": tag} if tag else {})}
        records.append(record)
    records.append(
        Record(status="failed", error="RuntimeError: no int8 kernel", extra={"trial": 9})
    )
    results = build_results(records, {"model": "net", "dataset": "digits"}, Constraints())
    results["recommended"]["details"] = {
        "confusion_matrix": [[5, 1], [0, 6]],
        "classes": ["a", "b"],
        "per_layer": [{"layer": "conv1", "type": "Conv2d", "ms": 0.2, "percent": 80.0}],
        "split": "test",
    }
    results["machine"] = {"cpu": "test cpu", "cores": 2}
    return results


def test_report_files_and_content(tmp_path: Path) -> None:
    results = _results()
    assert results["recommended"]["index"] == 2  # the knee: 5x faster for 1 point
    write_results(tmp_path, results)
    path = write_report(tmp_path, results)
    text = path.read_text()
    for element in ('id="pareto-plot"', 'id="candidates"', 'id="before-after"', 'id="per-layer"',
                    'id="confusion"', 'id="machine"'):  # fmt: skip
        assert element in text
    assert "net &lt;2&gt; on openvino" in text, "names are HTML-escaped"
    assert "no int8 kernel" in text, "failed candidates are listed with their error"
    assert "<script" not in text and "http" not in text.split("<body>")[1].split("data:")[0]
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "confusion.png").exists() and (tmp_path / "report.md").exists()
    assert (
        "recommended: net <2> on openvino: 5.0x faster (search-time timing, not re-timed), -1.0 pt"
        in (tmp_path / "report.md").read_text()
    )
    assert len(to_csv(results).strip().splitlines()) == 1 + len(results["records"])


def test_report_command_rebuilds_from_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_results(tmp_path, _results())
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").exists()
    assert "5.0x faster" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    (tmp_path / "results.json").write_text(json.dumps({"something": 1}))
    assert main(["report", str(tmp_path)]) == 2


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    results = _results()
    path = write_report(tmp_path, results)
    flags = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    dom = subprocess.run(
        [*flags, "--dump-dom", path.resolve().as_uri()],
        capture_output=True, text=True, timeout=90, check=True,
    ).stdout  # fmt: skip
    assert 'id="pareto-plot"' in dom and "data:image/png;base64," in dom
    assert dom.count('class="candidate') == len(results["records"])
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1000,900", path.resolve().as_uri()],
        capture_output=True, timeout=90, check=True,
    )  # fmt: skip
    from PIL import Image

    image = Image.open(shot).convert("L")
    lo, hi = image.getextrema()
    assert hi - lo > 100, "the screenshot shows content, not a blank page"
    colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colors is not None and len(colors) > 50, "plot pixels, not just text on white"


def test_report_says_what_the_time_budget_cut(tmp_path: Path) -> None:
    results = _results()
    write_report(tmp_path, results)
    assert 'id="budget"' not in (tmp_path / "report.html").read_text(), "no budget: no line"
    cut = "trial 3 (net pruned 50%): prune fine-tuning stopped at the time budget after 0.4 of 2"
    results["budget"] = {"limit_s": 60.0, "used_s": 63.2, "overshoot_s": 3.2, "cut": [cut]}
    write_report(tmp_path, results)
    line = f"time budget 60 s: used 63 s (3 s over); cut short: {cut}"
    assert f"Time: {line}." in (tmp_path / "report.md").read_text()
    assert f'<p id="budget">T{line[1:]}.</p>' in (tmp_path / "report.html").read_text()
