"""Matplotlib figures for the report, rendered to PNG bytes (saved as files and inlined).

Everything is drawn from the results dict alone, so `cnnopt report DIR` reproduces them.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # headless: no display on servers and CI

import matplotlib.pyplot as plt
from matplotlib.text import Text


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
    fig = pareto_figure(results)
    return None if fig is None else _png(fig)


def pareto_figure(results: dict[str, Any]) -> Any:
    """Accuracy vs latency (log scale): all candidates, the front, baseline, single techniques
    and the recommended point. Only the front and the marked points are labelled, each label
    placed where it overlaps no other label, so the crowded fast-and-accurate corner stays
    readable."""
    records = results.get("records", [])
    ok = [i for i, r in enumerate(records) if _ok(r)]
    if not ok:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    lat = {i: records[i]["latency_ms_p50"] for i in ok}
    acc = {i: records[i]["accuracy"] * 100 for i in ok}
    ax.scatter([lat[i] for i in ok], [acc[i] for i in ok], s=22, c="#9aa5b1", label="candidate")
    front = [i for i in results.get("front", []) if i in lat]
    if front:
        ax.plot([lat[i] for i in front], [acc[i] for i in front], "-o", color="#1f6feb", ms=5,
                label="Pareto front")  # fmt: skip
    singles = [i for i in ok if _tag(records[i]) not in (None, "baseline")]
    for i in singles:
        ax.scatter(lat[i], acc[i], marker="D", s=40, c="#d29922", zorder=3)
    if singles:
        ax.scatter([], [], marker="D", c="#d29922", label="single technique")
    base = results.get("baseline")
    if base in lat:
        ax.scatter(lat[base], acc[base], marker="*", s=220, c="#cf222e", zorder=4, label="baseline")
    best = (results.get("recommended") or {}).get("index")
    if best in lat:
        ax.scatter(lat[best], acc[best], s=200, facecolors="none", edgecolors="#2da44e",
                   linewidths=2.2, zorder=5, label="recommended")  # fmt: skip
    ax.margins(x=0.08, y=0.12)  # room for labels above the most accurate points
    low, high = ax.get_ylim()
    if high > 100:  # no tick labels above 100%: keep just the label room
        ax.set_ylim(low, 100 + 0.06 * (100 - low))
    _log_axis(ax, list(lat.values()))
    ax.set_xlabel(f"latency p50 (ms, batch {results.get('target', {}).get('batch_size', '?')})")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{results.get('model', '')} on {results.get('dataset', '')}")
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.legend(fontsize=8, loc="lower right")
    labelled = dict.fromkeys([*front, *singles, *([base] if base in lat else [])])
    _place_labels(fig, ax, [(lat[i], acc[i], _short(records[i]), i == best) for i in labelled])
    return fig


def _tag(record: dict[str, Any]) -> str | None:
    return (record.get("extra") or {}).get("single_technique")


RUNTIME_ABBREVIATIONS = {"onnxruntime": "ORT", "openvino": "OpenVINO", "compile": "compiled"}


def _short(record: dict[str, Any]) -> str:
    """A label that fits next to a point: the seeded point's tag, else the candidate's name
    without the model name, criteria and runtime spelt out."""
    tag = _tag(record)
    if tag:
        return tag
    name = str(record.get("name") or "")
    model = str(record.get("model") or "")
    if model and name.startswith(model + " "):
        name = name[len(model) + 1 :]
    name = re.sub(r" \((l1|l2|bn|taylor)\)", "", name)
    name = re.sub(r"distilled [\d.]+ ep", "KD", name)
    for runtime, short in RUNTIME_ABBREVIATIONS.items():
        name = name.replace(f"on {runtime}", f"on {short}")
    return name


def _log_axis(ax: Any, values: list[float]) -> None:
    """Log x-axis with plain-number labels on a few ticks (1-2-5 steps within three decades,
    decades beyond) and unlabelled minor ticks."""
    ax.set_xscale("log")
    low, high = min(values), max(values)
    decades = math.log10(high / low) if low > 0 and high > low else 0.0
    subs = (1.0, 2.0, 5.0) if decades <= 3 else (1.0,)
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if decades < 0.5:  # a narrow range would show one tick or none: pad it
        middle = math.sqrt(low * high) if low > 0 else 1.0
        ax.set_xlim(middle / 2.2, middle * 2.2)


# Offsets (points) tried in order for each label; the first without overlap wins.
LABEL_OFFSETS = [
    (7, 5), (7, -11), (-7, 5), (-7, -11), (7, 15), (-7, 15), (7, -21), (-7, -21),
    (14, 25), (-14, 25), (14, -31), (-14, -31),
]  # fmt: skip


def _place_labels(fig: Any, ax: Any, points: list[tuple[float, float, str, bool]]) -> None:
    """Greedy label placement: try a few offsets around each point, keep the first whose box
    overlaps no earlier label and stays inside the axes; if none fits, take the least bad."""
    fig.canvas.draw()  # settles the lazy autoscaled limits the label boxes depend on
    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    placed: list[Any] = []
    # Higher points first: the top of the plot (accurate candidates) is where labels collide.
    for x, y, text, bold in sorted(points, key=lambda p: (-p[1], p[0])):
        best = None
        for dx, dy in LABEL_OFFSETS:
            label = ax.annotate(
                text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=7,
                ha="left" if dx > 0 else "right", fontweight="bold" if bold else "normal",
                arrowprops={"arrowstyle": "-", "color": "#8c959f", "lw": 0.6, "shrinkA": 0},
            )  # fmt: skip
            # The text alone: an annotation's own extent includes its leader line.
            label.update_positions(renderer)
            box = Text.get_window_extent(label, renderer).expanded(1.04, 1.3)
            clashes = sum(box.overlaps(other) for other in placed)
            outside = not (axes_box.contains(box.x0, box.y0) and axes_box.contains(box.x1, box.y1))
            score = clashes * 2 + int(outside)
            if best is None or score < best[0]:
                if best is not None:
                    best[1].remove()
                best = (score, label, box)
            else:
                label.remove()
            if score == 0:
                break
        if best is not None:
            placed.append(best[2])


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
