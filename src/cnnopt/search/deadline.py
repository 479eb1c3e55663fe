"""One wall clock for a whole `cnnopt optimize` run, consulted by every stage.

`--time-budget` is a promise about the whole run, not about the search loop alone: a
fine-tuning that has no deadline turned a 180 s budget into 378 s. So the run holds one
`RunDeadline` (wall clock, `time.time()`, so an isolated child and worker processes read the
same instant) and each stage asks it how long it may take: the baseline and every candidate's
fine-tuning stop between batches at the end of the search window, an isolated call is killed
at the end of the run plus a margin, and the finishing stage shortens or skips the attacks
and test accuracy so that exporting best/ still fits. What a stage cut short is written down
(`note`) and lands in results.json, the report and the closing line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# How long an isolated call may run past the end of the budget before it is killed: a stage
# that honours the deadline ends within a batch or a measurement of it, so only a hung runtime
# is ever killed for this; killing costs a child restart.
CHILD_MARGIN_S = 10.0
# Kept at the end for exporting best/ and writing the report, which must happen however
# little time is left: about 2 s for a small model on 2 loaded cores, more for a big one
# (ONNX export, OpenVINO conversion); test accuracy and attacks only start with this much spare.
EXPORT_RESERVE_S = 4.0
# Building and measuring a candidate (export, accuracy, latency) before any was timed: its
# fine-tuning stops this long before the end of the search window.
FIRST_MEASURE_S = 4.0


@dataclass
class RunDeadline:
    """The end of a run (None: no limit), its search window, and what was cut to meet it."""

    limit_s: float | None
    started: float = field(default_factory=time.time)
    finish_s: float = 0.0  # kept after the search for test accuracy, attacks and best/
    cut: list[str] = field(default_factory=list)

    @classmethod
    def for_budget(cls, budget: Any, started: float) -> RunDeadline:
        """The deadline of a run with `budget` (a cnnopt.search.Budget) begun at `started`."""
        ends = budget.trials_deadline(started)
        limit = budget.time_budget_s
        return cls(limit, started, started + limit - ends if limit else 0.0)

    @property
    def at(self) -> float | None:
        """When the run must end, as a time.time() instant."""
        return None if self.limit_s is None else self.started + self.limit_s

    @property
    def search_ends(self) -> float | None:
        """When the search stops starting (and fine-tuning) candidates."""
        return None if self.at is None else self.at - self.finish_s

    def left(self, reserve_s: float = 0.0) -> float:
        """Seconds from now until `reserve_s` before the end (negative once past; inf: none)."""
        if self.at is None:
            return math.inf
        return self.at - reserve_s - time.time()

    def call_limit(self, timeout_s: float | None, reserve_s: float = 0.0) -> float | None:
        """An isolated call's time limit: its own `timeout_s`, but no later than the end of
        the run (or `reserve_s` from now, for what must happen anyway) plus CHILD_MARGIN_S."""
        if self.at is None:
            return timeout_s
        limit = max(self.left(), reserve_s, 0.0) + CHILD_MARGIN_S
        return limit if timeout_s is None else min(timeout_s, limit)

    def note(self, text: str) -> None:
        """Record something the budget cut short (one line for results.json and the report)."""
        if text not in self.cut:
            self.cut.append(text)

    def summary(self, cut_in_candidates: Sequence[str] = ()) -> dict[str, Any]:
        """{limit_s, used_s, overshoot_s, cut} for results.json, measured now (writing the
        report and ending the isolated child come after it: about a second)."""
        used = time.time() - self.started
        overshoot = None if self.limit_s is None else max(0.0, used - self.limit_s)
        return {
            "limit_s": self.limit_s,
            "used_s": round(used, 1),
            "overshoot_s": None if overshoot is None else round(overshoot, 1),
            "cut": [*cut_in_candidates, *self.cut],
        }


def finetune_deadline(deadline: RunDeadline | None, measure_s: float) -> float | None:
    """When a candidate's fine-tuning must stop: the end of the search window, less the time
    measuring the candidate will take (`measure_s`, from earlier candidates)."""
    if deadline is None or deadline.search_ends is None:
        return None
    return deadline.search_ends - (measure_s or FIRST_MEASURE_S)


def budget_line(results: dict[str, Any]) -> str:
    """'time budget 40 s: used 42 s (2 s over); cut short: ...' ('' with nothing to say)."""
    budget = results.get("budget") or {}
    limit, used, cut = budget.get("limit_s"), budget.get("used_s"), budget.get("cut") or []
    if limit is None and not cut:
        return ""
    head = "no time budget" if limit is None else f"time budget {limit:g} s"
    if used is not None:
        over = budget.get("overshoot_s") or 0.0
        head += f": used {used:.0f} s" + (f" ({over:.0f} s over)" if over >= 0.5 else "")
    return head + (f"; cut short: {'; '.join(cut)}" if cut else "; nothing cut short")
