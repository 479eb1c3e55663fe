"""The Pareto plot stays readable: plain tick labels, and labels that do not cover each other
even when many candidates crowd the fast-and-accurate corner."""

from __future__ import annotations

import matplotlib.pyplot as plt
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.text import Text

from cnnopt.record import Record
from cnnopt.report.plots import pareto_figure
from cnnopt.search.results import build_results
from cnnopt.search.select import Constraints

TAGS = ["baseline", "runtime onnxruntime", "runtime openvino", "bf16", "int8 PTQ onnxruntime",
        "int8 PTQ openvino", "prune 50%", "low-rank", "prune 50% + int8"]  # fmt: skip


def _results(points: list[tuple[float, float]]) -> dict:
    records = []
    for trial, (acc, ms) in enumerate(points):
        record = Record(
            name=f"fmnist_net pruned {trial}0% (taylor), distilled 1 ep + int8 on onnxruntime",
            model="fmnist_net", accuracy=acc, latency_ms_p50=ms,
        )  # fmt: skip
        tag = TAGS[trial] if trial < len(TAGS) else None
        record.extra = {"trial": trial, **({"single_technique": tag} if tag else {})}
        records.append(record)
    return build_results(
        records, {"model": "fmnist_net", "dataset": "fashion-mnist"}, Constraints()
    )


def _label_boxes(fig) -> list:
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    boxes = []
    for text in ax.texts:
        text.update_positions(renderer)
        boxes.append(Text.get_window_extent(text, renderer))
    return boxes


def test_crowded_front_gets_separate_labels_and_plain_ticks() -> None:
    points = [(0.935, 1.3), (0.935, 0.2), (0.934, 0.25), (0.935, 0.21), (0.933, 0.09),
              (0.932, 0.1), (0.93, 0.6), (0.92, 1.2), (0.931, 0.07), (0.9, 0.05)]  # fmt: skip
    fig = pareto_figure(_results(points))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert "prune 50% + int8" in labels and "baseline" in labels
    assert "pruned 90%, KD + int8 on ORT" in labels, "long names are shortened"
    boxes = _label_boxes(fig)
    clashes = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]
    assert not clashes, f"{len(clashes)} overlapping labels"
    fig.canvas.draw()
    minor = [t.get_text() for t in ax.xaxis.get_minorticklabels() if t.get_text()]
    major = [t.get_text() for t in ax.xaxis.get_majorticklabels() if t.get_text()]
    assert not minor, "minor ticks carry no labels"
    assert major and all("$" not in t and "^" not in t for t in major), "plain numbers"
    assert ax.get_ylim()[1] < 100.5
    plt.close(fig)


@settings(max_examples=6, deadline=None)
@given(st.lists(st.tuples(st.floats(0.5, 1.0), st.floats(0.01, 500.0)), min_size=1, max_size=14))
def test_any_set_of_points_plots(points: list[tuple[float, float]]) -> None:
    fig = pareto_figure(_results(points))
    assert fig is not None and fig.axes[0].texts, "the front is always labelled"
    plt.close(fig)
