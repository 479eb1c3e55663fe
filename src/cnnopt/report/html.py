"""report.html: one self-contained file (inline CSS, plots as base64 PNG), built from
results.json only, so it can be mailed, archived, or rebuilt with `cnnopt report DIR`.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Any

from cnnopt.fileio import write_bytes, write_text
from cnnopt.report import plots
from cnnopt.report.markdown import (
    accuracy_cell,
    markdown_report,
    measurement_note,
    record_list,
    robustness_cell,
    robustness_note,
    speedup_cell,
)

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328}
h1{font-size:1.6rem} h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:right}
th{background:#f6f8fa} td.name,th.name{text-align:left}
tr.pareto{background:#ddf4ff} tr.recommended{background:#dafbe1;font-weight:600}
tr.failed{color:#8c959f} .summary{font-size:1.15rem;padding:.6rem 1rem;background:#f6f8fa}
img{max-width:100%} .note{color:#57606a;font-size:12px}
"""


PER_LAYER_ROWS = 12  # the slowest layers are the ones worth reading; results.json has all


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _pct(value: Any) -> str:
    return f"{value * 100:.2f}%" if isinstance(value, int | float) else "-"


def _num(value: Any, fmt: str = ".3g") -> str:
    return format(value, fmt) if isinstance(value, int | float) else "-"


def _img(png: bytes | None, element_id: str, alt: str) -> str:
    if png is None:
        return f'<p id="{element_id}" class="note">no data to plot</p>'
    data = base64.b64encode(png).decode()
    return f'<img id="{element_id}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _table(element_id: str, headers: list[str], rows: list[tuple[str, list[str]]]) -> str:
    head = "".join(
        f'<th class="{"name" if i == 0 else ""}">{_e(h)}</th>' for i, h in enumerate(headers)
    )
    body = "".join(
        f'<tr class="{cls}">'
        + "".join(f'<td class="{"name" if i == 0 else ""}">{c}</td>' for i, c in enumerate(cells))
        + "</tr>"
        for cls, cells in rows
    )
    return f'<table id="{element_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def candidates_table(results: dict[str, Any]) -> str:
    records = results.get("records", [])
    best = (results.get("recommended") or {}).get("index")
    headers = ["candidate", "trial", "runtime", "precision", "val acc",
               "vs baseline (pt, 95%)", "test acc", "robust acc (attack)", "p50 ms", "p90 ms",
               "speed-up", "img/s", "params", "size MB", "status"]  # fmt: skip
    typed, base = record_list(results)
    rows = []
    for i, r in enumerate(records):
        extra = r.get("extra") or {}
        classes = ["candidate"]
        classes += ["pareto"] if extra.get("pareto") else []
        classes += ["recommended"] if i == best else []
        classes += ["failed"] if r.get("status") != "ok" else []
        tag = f' <span class="note">[{_e(extra["single_technique"])}]</span>' if extra.get(
            "single_technique"
        ) else ""  # fmt: skip
        status = _e(r.get("status")) if r.get("status") == "ok" else f"failed: {_e(r.get('error'))}"
        size = r.get("file_size_bytes")
        rows.append(
            (
                " ".join(classes),
                [_e(r.get("name") or "(failed)") + tag, _e(extra.get("trial")),
                 _e(r.get("runtime")),
                 _e(r.get("precision")), _pct(r.get("accuracy")),
                 _e(accuracy_cell(typed[i], base)), _pct(extra.get("test_accuracy")),
                 _e(robustness_cell(r.get("robustness"))), _num(r.get("latency_ms_p50")),
                 _num(r.get("latency_ms_p90")), _e(speedup_cell(typed[i], base)),
                 _num(r.get("throughput"), ".0f"), _num(r.get("params"), ","),
                 _num(size / 1e6 if size else None, ".2f"), status],
            )
        )  # fmt: skip
    return _table("candidates", headers, rows)


def summary_table(results: dict[str, Any]) -> str:
    best = (results.get("recommended") or {}).get("index")
    base = results.get("baseline")
    if best is None or base is None:
        return '<p id="before-after" class="note">no baseline or no recommendation</p>'
    b, a = results["records"][base], results["records"][best]

    def row(label: str, key: str, fmt: Any) -> tuple[str, list[str]]:
        before, after = b.get(key), a.get(key)
        change = "-"
        if isinstance(before, int | float) and isinstance(after, int | float) and before:
            change = f"{after / before:.3g}x"  # 0.00x says nothing about a 3000x gain
        return ("", [label, fmt(before), fmt(after), change])

    rows = [
        row("validation accuracy", "accuracy", _pct),
        row("latency p50 (ms)", "latency_ms_p50", _num),
        row("latency p90 (ms)", "latency_ms_p90", _num),
        row("throughput (img/s)", "throughput", lambda v: _num(v, ".0f")),
        row("parameters", "params", lambda v: _num(v, ",")),
        row("file size (bytes)", "file_size_bytes", lambda v: _num(v, ",")),
    ]
    return _table("before-after", ["", "baseline", "recommended", "ratio"], rows)


def budget_paragraph(results: dict[str, Any]) -> str:
    """The time budget, how much of it was used and what was cut short to keep it."""
    from cnnopt.search.deadline import budget_line

    line = budget_line(results)
    return f'<p id="budget">{_e(line[0].upper() + line[1:])}.</p>' if line else ""


def build_html(results: dict[str, Any], images: dict[str, bytes | None]) -> str:
    from cnnopt.report.markdown import output_line
    from cnnopt.search.results import chance_line, summary_line

    choice = results.get("recommended") or {}
    details = choice.get("details") or {}
    layers = details.get("per_layer") if isinstance(details.get("per_layer"), list) else []
    layer_rows = [("", [_e(r.get("layer")), _e(r.get("type")), _num(r.get("ms")),
                        _num(r.get("percent"), ".1f")])
                  for r in layers[:PER_LAYER_ROWS]]  # fmt: skip
    matrix = details.get("confusion_matrix")
    classes = details.get("classes") or []
    confusion = (
        _img(images.get("confusion"), "confusion", "confusion matrix")
        if matrix
        else '<p id="confusion" class="note">no confusion matrix recorded</p>'
    )
    machine = results.get("machine") or {}
    machine_rows = [("", [_e(k), _e(v)]) for k, v in machine.items()]
    notes = (results.get("space") or {}).get("notes") or []
    export = details.get("export") or {}
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cnnopt report: {_e(results.get("model"))}</title>
<style>{CSS}</style></head><body>
<h1>cnnopt optimize: {_e(results.get("model"))} on {_e(results.get("dataset"))}</h1>
<p class="summary" id="summary-line">{_e(summary_line(results))}</p>
{f'<p class="summary" id="chance">{_e(chance_line(results))}</p>' if chance_line(results) else ""}
<p>How it was chosen ({_e(choice.get("method"))}): {_e(choice.get("reason"))}.</p>
{budget_paragraph(results)}
{f'<p id="output">{_e(output_line(results))}</p>' if output_line(results) else ""}
<p class="note">{
        ""
        if choice.get("method") == "knee"
        else f"Without constraints the knee is used: {_e(results.get('knee_method'))}. "
    }Accuracy is measured on the validation split through each candidate's own runtime; test
accuracy is measured for the Pareto front only. Latency: median of many timed runs after
warm-up at batch {_e((results.get("target") or {}).get("batch_size"))},
{_e((results.get("target") or {}).get("threads") or "default")} thread(s).</p>
{"".join(f'<p class="note">{_e(n)}</p>' for n in notes)}
<h2>Accuracy vs latency</h2>
{_img(images.get("pareto"), "pareto-plot", "Pareto plot of accuracy vs latency")}
<h2>Before / after</h2>
{summary_table(results)}
<p class="note">Deployable files in <code>best/</code>: {
        _e(", ".join(export.get("files") or []))
    }</p>
<h2>All candidates ({len(results.get("records", []))})</h2>
<p class="note">Blue rows: Pareto front. Green: recommended. [tags]: single-technique points.</p>
<p class="note" id="measurement-note">{_e(measurement_note(results))}</p>
<p class="note" id="robustness-note">{_e(robustness_note(results))}</p>
{candidates_table(results)}
<h2>Recommended model: per-layer latency (slowest {min(len(layers), PER_LAYER_ROWS)})</h2>
{
        _table("per-layer", ["layer", "type", "ms", "%"], layer_rows)
        if layer_rows
        else '<p id="per-layer" class="note">no per-layer profile recorded</p>'
    }
<h2>Recommended model: confusion matrix ({_e(details.get("split"))}, {len(classes)} classes)</h2>
{confusion}
<h2>Machine</h2>
{_table("machine", ["key", "value"], machine_rows)}
<p class="note">Generated {time.strftime("%Y-%m-%d %H:%M:%S")} by cnnopt from results.json.</p>
</body></html>
"""


def write_report(out_dir: str | Path, results: dict[str, Any]) -> Path:
    """Write report.html, report.md and the plot PNGs into out_dir; return the HTML path."""
    out_dir = Path(out_dir)
    details = (results.get("recommended") or {}).get("details") or {}
    images: dict[str, bytes | None] = {"pareto": plots.pareto_png(results)}
    if details.get("confusion_matrix"):
        images["confusion"] = plots.confusion_png(
            details["confusion_matrix"], details.get("classes") or []
        )
    if isinstance(details.get("per_layer"), list):
        images["per_layer"] = plots.per_layer_png(details["per_layer"])
    # Everything is rendered before the first file is written: results that cannot be
    # rendered leave the folder as it was, not with a new plot and no report.
    markdown, html = markdown_report(results), build_html(results, images)
    for name, png in images.items():
        if png is not None:
            write_bytes(out_dir / f"{name}.png", png)
    write_text(out_dir / "report.md", markdown)
    return write_text(out_dir / "report.html", html)
