"""Matplotlib figures for the report, rendered to PNG bytes (saved as files and inlined).

Everything is drawn from the results dict alone, so `cnnopt report DIR` reproduces them.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # headless: no display on servers and CI

import matplotlib.pyplot as plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _ok(record: dict[str, Any]) -> bool:
    return (
        record.get("status") == "ok"
        and record.get("accuracy") is not None
        and bool(record.get("latency_ms_p50"))
    )


def pareto_png(results: dict[str, Any]) -> bytes | None:
    """Accuracy vs latency (log scale): all candidates, the front, baseline, single techniques
    and the recommended point."""
    records = results.get("records", [])
    ok = [i for i, r in enumerate(records) if _ok(r)]
    if not ok:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    lat = {i: records[i]["latency_ms_p50"] for i in ok}
    acc = {i: records[i]["accuracy"] * 100 for i in ok}
    ax.scatter([lat[i] for i in ok], [acc[i] for i in ok], s=22, c="#9aa5b1", label="candidate")
    front = [i for i in results.get("front", []) if i in lat]
    if front:
        ax.plot([lat[i] for i in front], [acc[i] for i in front], "-o", color="#1f6feb", ms=5,
                label="Pareto front")  # fmt: skip
    singles = [
        i
        for i in ok
        if records[i].get("extra", {}).get("single_technique") not in (None, "baseline")
    ]
    for i in singles:
        ax.scatter(lat[i], acc[i], marker="D", s=40, c="#d29922", zorder=3)
        tag = records[i]["extra"]["single_technique"]
        ax.annotate(tag, (lat[i], acc[i]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if singles:
        ax.scatter([], [], marker="D", c="#d29922", label="single technique")
    base = results.get("baseline")
    if base in lat:
        ax.scatter(lat[base], acc[base], marker="*", s=220, c="#cf222e", zorder=4, label="baseline")
    best = (results.get("recommended") or {}).get("index")
    if best in lat:
        ax.scatter(lat[best], acc[best], s=200, facecolors="none", edgecolors="#2da44e",
                   linewidths=2.2, zorder=5, label="recommended")  # fmt: skip
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda value, _pos: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel(f"latency p50 (ms, batch {results.get('target', {}).get('batch_size', '?')})")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{results.get('model', '')} on {results.get('dataset', '')}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def confusion_png(matrix: list[list[int]], classes: list[str]) -> bytes:
    size = max(4.0, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _png(fig)


def per_layer_png(rows: list[dict[str, Any]], top: int = 15) -> bytes | None:
    rows = [r for r in rows if isinstance(r, dict) and r.get("ms")][:top]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(rows) + 1.2))
    ax.barh([r["layer"] for r in rows][::-1], [r["ms"] for r in rows][::-1], color="#1f6feb")
    ax.set_xlabel("ms per forward pass (PyTorch, hooks)")
    return _png(fig)
