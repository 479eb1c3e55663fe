"""Re-time the Pareto front against the baseline, interleaved, before anything is recommended.

During the search each candidate is timed once, minutes apart from the baseline; a busy
moment in either inflates or hides a speed-up. Here the baseline and each front candidate
are rebuilt in one process and timed turn about (cnnopt.bench.compare), which gives the
speed-up that the recommendation, the report and the closing line use, with its interval. A
candidate whose confirmed speed-up differs from its search-time ratio by more than
MOVED_FACTOR is flagged as "moved": the search-time numbers around it deserve less trust.
"""

from __future__ import annotations

import math
from typing import Any

from cnnopt.record import Record

MOVED_FACTOR = 1.25  # confirmed vs search-time ratio: beyond this either way, flag it
MAX_CONFIRMED = 8  # front members re-timed; a larger front keeps its search-time ratios
CONFIRM_S = 4.0  # about what one re-timing takes (8 pairs of 0.15 s blocks, rebuilds, start)


def search_ratio(base: Record, record: Record) -> float | None:
    if not base.latency_ms_p50 or not record.latency_ms_p50:
        return None
    return base.latency_ms_p50 / record.latency_ms_p50


def to_confirm(records: list[Record], front: list[int], base: int | None) -> list[int]:
    """Front members to re-time (not the baseline itself), most accurate first."""
    if base is None:
        return []
    chosen = [i for i in front if i != base and records[i].status == "ok"]
    chosen.sort(key=lambda i: -(records[i].accuracy or 0.0))
    return chosen[:MAX_CONFIRMED]


def confirm_one(evaluator: Any, base: Record, record: Record, pairs: int = 8) -> dict[str, Any]:
    """`record`'s speed-up over `base`, timed interleaved on the evaluator's example batch
    (structure steps come from its cache, so rebuilding both is cheap)."""
    from cnnopt.bench.compare import interleaved_speedup
    from cnnopt.search.finalize import spec_of

    baseline = evaluator.build(spec_of(base)).predictor
    candidate = evaluator.build(spec_of(record)).predictor
    speed = interleaved_speedup(baseline.predict, candidate.predict, evaluator.example, pairs=pairs)
    found = annotate(speed.to_dict(), search_ratio(base, record))
    if base.latency_ms_p50:  # on the search's scale, for the front (select.effective_latency)
        found["latency_ms"] = base.latency_ms_p50 / speed.ratio
    return found


def annotate(confirmed: dict[str, Any], searched: float | None) -> dict[str, Any]:
    """Add the search-time ratio and whether the confirmed one moved away from it."""
    moved = searched is not None and abs(math.log(confirmed["ratio"] / searched)) > math.log(
        MOVED_FACTOR
    )
    return {**confirmed, "search_ratio": searched, "moved": moved}
