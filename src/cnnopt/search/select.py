"""Pick the one model to recommend from the finished candidates.

Rule: with constraints, the fastest candidate that meets all of them; without any, the knee of
the Pareto front. The reason is returned as a sentence because the report must say why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cnnopt.errors import CnnoptError
from cnnopt.record import Record
from cnnopt.search.pareto import KNEE_METHOD, knee_point, pareto_front


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
    return [(r.accuracy or 0.0, r.latency_ms_p50 or float("inf")) for r in records]


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


def recommend(
    records: list[Record], baseline_index: int | None, constraints: Constraints | None = None
) -> dict[str, Any]:
    """{"index": int | None, "reason": str, "method": "constraints" | "knee"}."""
    constraints = constraints or Constraints()
    usable = ok_records(records)
    if not usable:
        return {"index": None, "reason": "no candidate finished successfully", "method": "none"}
    baseline_acc = records[baseline_index].accuracy if baseline_index is not None else None
    if constraints.any:
        meeting = [i for i in usable if not constraints.violations(records[i], baseline_acc)]
        if not meeting:
            return {
                "index": None,
                "method": "constraints",
                "reason": "no candidate meets the constraints; relax them or raise --trials",
            }
        best = min(meeting, key=lambda i: (records[i].latency_ms_p50, -(records[i].accuracy or 0)))
        return {
            "index": best,
            "method": "constraints",
            "reason": f"fastest of the {len(meeting)} candidate(s) that meet the constraints",
        }
    front = front_indices(records)
    points = objective_points([records[i] for i in front])
    knee = knee_point(points, list(range(len(front))))
    return {
        "index": front[knee] if knee is not None else None,
        "method": "knee",
        "reason": KNEE_METHOD,
    }
