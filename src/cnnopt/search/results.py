"""results.json / results.csv: the search's output that the report (and users) read.

Regenerated atomically after every trial from the study, so it is always complete for what
has finished, and `cnnopt report DIR` needs nothing else.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from cnnopt.errors import CnnoptError
from cnnopt.fileio import write_json, write_text
from cnnopt.record import Record
from cnnopt.search.pareto import KNEE_METHOD
from cnnopt.search.select import Constraints, front_indices, recommend

RESULTS_VERSION = 1
CSV_COLUMNS = [
    "trial", "name", "runtime", "precision", "accuracy", "test_accuracy", "latency_ms_p50",
    "latency_ms_p90", "throughput", "params", "file_size_bytes", "status", "pareto",
    "single_technique", "robust_mode", "robust_clean", "robust_fgsm", "robust_pgd", "error",
]  # fmt: skip


def baseline_index(records: list[Record]) -> int | None:
    for i, record in enumerate(records):
        if record.extra.get("single_technique") == "baseline" and record.status == "ok":
            return i
    return None


def build_results(
    records: list[Record], meta: dict[str, Any], constraints: Constraints | None
) -> dict[str, Any]:
    """The whole results document: meta, every record, the front and the recommendation."""
    front = front_indices(records)
    base = baseline_index(records)
    choice = recommend(records, base, constraints)
    for i, record in enumerate(records):
        record.extra["pareto"] = i in front
    return {
        "version": RESULTS_VERSION,
        **meta,
        "constraints": (constraints or Constraints()).__dict__,
        "records": [r.to_dict() for r in records],
        "front": front,
        "baseline": base,
        "recommended": choice,
        "knee_method": KNEE_METHOD,
    }


def write_results(out_dir: Path, results: dict[str, Any]) -> None:
    write_json(out_dir / "results.json", results)
    write_text(out_dir / "results.csv", to_csv(results))


def to_csv(results: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in results["records"]:
        extra = row.get("extra") or {}
        robust = row.get("robustness") or {}
        writer.writerow(
            {
                **row,
                **{f"robust_{k}": robust.get(k) for k in ("mode", "clean", "fgsm", "pgd")},
                "trial": extra.get("trial"),
                "test_accuracy": extra.get("test_accuracy"),
                "pareto": extra.get("pareto", False),
                "single_technique": extra.get("single_technique", ""),
            }
        )
    return buffer.getvalue()


def load_results(out_dir: Path | str) -> dict[str, Any]:
    """Read results.json (a directory or the file itself) with a useful error."""
    import json

    path = Path(out_dir)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise CnnoptError(
            f"no results.json in {path.parent}", "run `cnnopt optimize --out DIR` first"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CnnoptError(f"cannot read {path}: {exc}", "rerun `cnnopt optimize`") from None
    if not isinstance(data, dict) or "records" not in data:
        raise CnnoptError(f"{path} is not a cnnopt results file", "rerun `cnnopt optimize`")
    return data


def summary_line(results: dict[str, Any]) -> str:
    """'recommended: <name>: 3.1x faster (2.9-3.3x), -0.3 pt (-1.2 to +0.6, 397 images)', with
    a warning when the speed-up is not certain or moved when re-timed (or why nothing is
    recommended)."""
    choice = results.get("recommended") or {}
    index = choice.get("index")
    if index is None:
        return f"no recommendation: {choice.get('reason', 'no finished candidates')}"
    best = Record.from_dict(results["records"][index])
    base_index = results.get("baseline")
    if base_index is None:
        return f"recommended: {best.name} ({best.latency_ms_p50:.3g} ms, no baseline)"
    if base_index == index:
        return (
            f"recommended: {best.name}, the baseline itself: no candidate was faster or more "
            "accurate beyond measurement noise"
        )
    base = Record.from_dict(results["records"][base_index])
    return f"recommended: {best.name}: {speedup_text(best, base)}, {accuracy_text(best, base)}"


def speedup_text(record: Record, base: Record) -> str:
    """'3.1x faster (2.9-3.3x)' from the interleaved re-timing, with its warnings; the
    search-time ratio, said to be one, where there was no re-timing."""
    confirmed = record.extra.get("speedup")
    if not isinstance(confirmed, dict) or "ratio" not in confirmed:
        ratio = base.latency_ms_p50 / max(record.latency_ms_p50 or 0.0, 1e-9)
        why = "re-timing failed" if isinstance(confirmed, dict) else "not re-timed"
        return f"{ratio:.1f}x faster (search-time timing, {why})"
    text = f"{confirmed['ratio']:.1f}x faster ({confirmed['low']:.1f}-{confirmed['high']:.1f}x)"
    if not confirmed.get("certain"):
        text += " [not certain: the interval includes 1x]"
    if confirmed.get("moved") and confirmed.get("search_ratio"):
        text += (
            f" [moved: {confirmed['search_ratio']:.1f}x in the search, "
            f"{confirmed['ratio']:.1f}x when re-timed beside the baseline]"
        )
    return text


def accuracy_text(record: Record, base: Record) -> str:
    """'-0.3 pt (-1.2 to +0.6, 397 images)': the paired difference from the baseline."""
    from cnnopt.search.select import accuracy_difference

    if record.accuracy is None or base.accuracy is None:
        return "accuracy not measured"
    delta = (record.accuracy - base.accuracy) * 100
    diff = accuracy_difference(record, base)
    if diff is None:
        return f"{delta:+.1f} pt"
    noise = "" if diff.significant else ", within noise"
    return (
        f"{delta:+.1f} pt ({diff.low * 100:+.1f} to {diff.high * 100:+.1f}, "
        f"{diff.images} images{noise})"
    )


def chance_line(results: dict[str, Any]) -> str:
    """A warning when the baseline is no better than always answering the commonest class
    (its accuracy interval reaches that rate): it did not learn, so every accuracy in the
    run is noise around chance and the recommendation says nothing. '' otherwise."""
    chance = results.get("chance_accuracy")
    base_index = results.get("baseline")
    if chance is None or base_index is None:
        return ""
    base = Record.from_dict(results["records"][base_index])
    if base.accuracy is None or not base.accuracy_ci or base.accuracy_ci[0] > chance:
        return ""
    return (
        f"warning: the baseline's validation accuracy ({base.accuracy:.1%}) is at chance level "
        f"({chance:.1%}, always answering the commonest class): it did not learn, so these "
        "accuracies are noise; give the run more time (--time-budget) or pass a trained "
        "model (cnnopt train)"
    )
