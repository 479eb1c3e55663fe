"""Pick the one model to recommend from the finished candidates.

Rule: with constraints, the fastest candidate that meets all of them; without any, the knee of
the Pareto front. The reason is returned as a sentence because the report must say why.

Both rules weigh evidence, not point estimates, where the search gathered it: an accuracy
difference from the baseline whose paired 95% interval includes 0 counts as a tie, a
speed-up whose interleaved re-timing interval includes 1x counts as none, and a candidate
measurably slower than the baseline is never recommended. So a slower model never wins on 2
lucky images out of 120, and a timing hiccup never becomes a recommendation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from cnnopt.errors import CnnoptError
from cnnopt.record import Record
from cnnopt.search.pareto import KNEE_METHOD, POINTS_PER_DOUBLING, knee_point, pareto_front
from cnnopt.stats import PairedDifference, paired_difference, unpack_correct


@dataclass
class Constraints:
    max_latency_ms: float | None = None
    max_accuracy_drop: float | None = None  # in accuracy points (0.5 = half a percent point)
    max_size_mb: float | None = None

    def validate(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and not value >= 0:
                raise CnnoptError(
                    f"constraint {name} must be >= 0, got {value}",
                    f"pass e.g. --{name.replace('_', '-')} 1.0 or leave it out",
                )

    @property
    def any(self) -> bool:
        return any(v is not None for v in asdict(self).values())

    def violations(self, record: Record, baseline_accuracy: float | None) -> list[str]:
        """Why `record` fails the constraints (empty list: it meets them)."""
        problems = []
        latency = record.latency_ms_p50
        if self.max_latency_ms is not None and (latency is None or latency > self.max_latency_ms):
            problems.append(f"latency {latency} ms > {self.max_latency_ms} ms")
        if self.max_accuracy_drop is not None and baseline_accuracy is not None:
            drop = (baseline_accuracy - (record.accuracy or 0.0)) * 100
            if drop > self.max_accuracy_drop + 1e-9:
                problems.append(f"accuracy drop {drop:.2f} pt > {self.max_accuracy_drop} pt")
        if self.max_size_mb is not None:
            size = (record.file_size_bytes or 0) / 1e6
            if record.file_size_bytes is None or size > self.max_size_mb:
                problems.append(f"size {size:.2f} MB > {self.max_size_mb} MB")
        return problems


def objective_points(records: list[Record]) -> list[tuple[float, float]]:
    return [(r.accuracy or 0.0, effective_latency(r)) for r in records]


def effective_latency(record: Record) -> float:
    """The latency the front is drawn with: the re-timed one (the baseline's search-time
    latency over the re-timed speed-up, so it sits on the same scale) where there is one."""
    confirmed = record.extra.get("speedup")
    if isinstance(confirmed, dict) and confirmed.get("latency_ms"):
        return float(confirmed["latency_ms"])
    return record.latency_ms_p50 or float("inf")


def ok_records(records: list[Record]) -> list[int]:
    return [
        i
        for i, r in enumerate(records)
        if r.status == "ok" and r.accuracy is not None and r.latency_ms_p50 is not None
    ]


def front_indices(records: list[Record]) -> list[int]:
    """Pareto front over the successful records, as indices into `records`."""
    usable = ok_records(records)
    points = objective_points([records[i] for i in usable])
    return [usable[k] for k in pareto_front(points)]


def accuracy_difference(record: Record, base: Record) -> PairedDifference | None:
    """record's accuracy minus the baseline's, image by image; None without the evidence
    (records from before per-image correctness was kept, or on different images)."""
    n = record.accuracy_images
    bits, base_bits = record.extra.get("correct"), base.extra.get("correct")
    if not (n and bits and base_bits) or n != base.accuracy_images:
        return None
    return paired_difference(unpack_correct(base_bits, n), unpack_correct(bits, n))


def speedup(record: Record, base: Record) -> tuple[float | None, bool]:
    """(baseline latency / record latency, whether that is certain). Certain: an interleaved
    re-timing whose interval excludes 1x, or the baseline itself. A search-time ratio alone
    is not (it compares two moments of the machine), except in records from before the
    search timed in blocks (no `timing`), which are taken at face value."""
    if record is base:
        return 1.0, True
    confirmed = record.extra.get("speedup")
    if isinstance(confirmed, dict):
        if "ratio" not in confirmed:
            return None, False
        return float(confirmed["ratio"]), bool(confirmed.get("certain"))
    if not base.latency_ms_p50 or not record.latency_ms_p50:
        return None, False
    return base.latency_ms_p50 / record.latency_ms_p50, record.timing is None


def measurably_slower(record: Record, base: Record) -> bool:
    ratio, certain = speedup(record, base)
    return ratio is not None and certain and ratio < 1.0


def credited_score(record: Record, base: Record) -> tuple[float, float, float]:
    """The knee's trade (accuracy points + log2 speed-up at POINTS_PER_DOUBLING) counting only
    what is beyond noise; then measured accuracy and speed-up as tie-breaks."""
    diff = accuracy_difference(record, base)
    accuracy = record.accuracy or 0.0
    credited = accuracy if diff is None or diff.significant else base.accuracy or 0.0
    ratio, certain = speedup(record, base)
    gain = math.log2(ratio) if ratio and certain else 0.0
    return (100 * credited + POINTS_PER_DOUBLING * gain, accuracy, ratio or 0.0)


def noise_note(base: Record) -> str:
    """How many validation images decided, and the smallest difference that counted."""
    n = base.accuracy_images
    if not n:
        return ""
    return (
        f"; decided on {n} validation images: accuracy differences whose paired 95% interval "
        "includes 0 count as ties, speed-ups whose re-timed interval includes 1x count as none, "
        "and candidates measurably slower than the baseline are never recommended"
    )


def recommend(
    records: list[Record], baseline_index: int | None, constraints: Constraints | None = None
) -> dict[str, Any]:
    """{"index": int | None, "reason": str, "method": "constraints" | "knee" | "none"}."""
    constraints = constraints or Constraints()
    usable = ok_records(records)
    if not usable:
        return {"index": None, "reason": "no candidate finished successfully", "method": "none"}
    base = records[baseline_index] if baseline_index is not None else None
    if base is not None:
        usable = [i for i in usable if not measurably_slower(records[i], base)]
    if constraints.any:
        return _by_constraints(records, usable, base, constraints)
    if base is None or base.status != "ok":
        return _plain_knee(records)
    front = set(front_indices(records)) | {baseline_index}
    choices = [i for i in usable if i in front]
    best = max(choices, key=lambda i: (*credited_score(records[i], base), i == baseline_index))
    best = _faster_tie(records, choices, best, base)
    return {
        "index": best,
        "method": "knee",
        "reason": KNEE_METHOD + noise_note(base),
    }


def _faster_tie(records: list[Record], choices: list[int], best: int, base: Record) -> int:
    """Move to a candidate that is certainly faster than `best` and not measurably less
    accurate than it (image by image): the knee's exchange rate must not buy real speed
    back with a noise-level accuracy difference between two candidates."""
    moved = True
    while moved:
        moved = False
        for i in choices:
            if i != best and _certainly_faster(records[i], records[best], base):
                diff = accuracy_difference(records[i], records[best])
                if diff is not None and not (diff.significant and diff.difference < 0):
                    best, moved = i, True
                    break
    return best


def _certainly_faster(a: Record, b: Record, base: Record) -> bool:
    """a's re-timed speed-up interval lies wholly above b's (the baseline's is exactly 1x)."""

    def interval(r: Record) -> tuple[float, float] | None:
        if r is base:
            return (1.0, 1.0)
        confirmed = r.extra.get("speedup")
        if isinstance(confirmed, dict) and "low" in confirmed:
            return (float(confirmed["low"]), float(confirmed["high"]))
        return None

    ia, ib = interval(a), interval(b)
    return ia is not None and ib is not None and ia[0] > ib[1]


def _plain_knee(records: list[Record]) -> dict[str, Any]:
    """Without a baseline there is nothing to be sure against: the knee of the raw front."""
    front = front_indices(records)
    points = objective_points([records[i] for i in front])
    knee = knee_point(points, list(range(len(front))))
    return {
        "index": front[knee] if knee is not None else None,
        "method": "knee",
        "reason": KNEE_METHOD,
    }


def _by_constraints(
    records: list[Record], usable: list[int], base: Record | None, constraints: Constraints
) -> dict[str, Any]:
    baseline_acc = base.accuracy if base is not None else None
    meeting = [i for i in usable if not constraints.violations(records[i], baseline_acc)]
    if not meeting:
        return {
            "index": None,
            "method": "constraints",
            "reason": "no candidate meets the constraints; relax them or raise --trials",
        }

    def latency(i: int) -> float:
        """The baseline's latency over the re-timed speed-up where there is one."""
        ratio = speedup(records[i], base)[0] if base is not None else None
        if ratio and base is not None and base.latency_ms_p50:
            return base.latency_ms_p50 / ratio
        return records[i].latency_ms_p50 or float("inf")

    best = min(meeting, key=lambda i: (latency(i), -(records[i].accuracy or 0)))
    return {
        "index": best,
        "method": "constraints",
        "reason": f"fastest of the {len(meeting)} candidate(s) that meet the constraints",
    }
