"""How `cnnopt optimize` spends its time: the baseline, the trials, and what follows them.

`Budget()` is the one set of defaults: `cnnopt.optimize(...)` without a budget and the
`cnnopt optimize` command without flags run the same search (the command reads its flag
defaults from this class), so a result from one reproduces with the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnopt.errors import CnnoptError
from cnnopt.search.deadline import EXPORT_RESERVE_S
from cnnopt.search.evaluate_candidate import FINETUNE_IMAGES

# Long enough for a candidate that fine-tunes a pruned model and trains QAT on a CPU; a hung
# runtime costs this much once, then the search goes on.
DEFAULT_CANDIDATE_TIMEOUT_S = 1800.0
# An upper bound: the time budget usually ends the search first (the demo ran 14 of 40).
DEFAULT_TRIALS = 40
# 8 minutes for the whole run, finishing stage (test accuracy, attacks, export) included:
# start-up and loading the data come on top, and `make demo` must end within 10 minutes on
# hosts slower than ours (one took 9 min 37 s at 600 s when the finishing stage still came on
# top). A bound by default, for Python too: an unbounded search on a big model runs for hours.
DEFAULT_TIME_BUDGET_S = 480.0


@dataclass
class Budget:
    """How a run spends its time: baseline training first (capped), then the trials, and a
    reserve for what follows them (test accuracy, robustness and export of the front).
    time_budget_s is hard: cnnopt.search.deadline.RunDeadline holds every stage to it."""

    trials: int = DEFAULT_TRIALS
    # The whole run incl. baseline training; None = no limit (then `trials` ends the search).
    time_budget_s: float | None = DEFAULT_TIME_BUDGET_S
    # Per pruned/low-rank intermediate and per QAT: epochs over the fine-tuning images.
    # None: about `finetune_images` images in all (a subset of a big set, passes over a small).
    finetune_epochs: float | None = None
    finetune_images: int | None = FINETUNE_IMAGES  # None: the whole training set
    baseline_epochs: float | None = None  # None: the dataset's default, fewer if time is short
    baseline_time_limit_s: float | None = 240.0
    baseline_share: float = 0.35  # of time_budget_s at most for the baseline
    finish_share: float = 0.1  # of time_budget_s kept for after the trials
    workers: int = 1
    # Per candidate, in its isolated child process: one that runs longer is killed and
    # recorded as failed (a hung runtime). None: no limit.
    candidate_timeout_s: float | None = DEFAULT_CANDIDATE_TIMEOUT_S

    def validate(self) -> None:
        if self.trials < 1 or self.workers < 1:
            raise CnnoptError("trials and workers must be >= 1", "e.g. --trials 16 --workers 1")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise CnnoptError("time budget must be > 0 seconds", "e.g. --time-budget 600")
        if self.candidate_timeout_s is not None and self.candidate_timeout_s <= 0:
            raise CnnoptError(
                "candidate timeout must be > 0 seconds", "e.g. --candidate-timeout 600"
            )
        if self.finetune_epochs is not None and self.finetune_epochs <= 0:
            raise CnnoptError("fine-tuning epochs must be > 0", "e.g. --finetune-epochs 1")
        if self.finetune_images is not None and self.finetune_images < 1:
            raise CnnoptError("fine-tuning images must be >= 1", "e.g. --finetune-images 20000")
        for name, share in (("baseline", self.baseline_share), ("finish", self.finish_share)):
            if not 0 < share < 1:
                raise CnnoptError(f"{name}_share must be in (0, 1), got {share}", "e.g. 0.35")

    def baseline_seconds(self) -> float | None:
        """The most the baseline training may take: its own cap, and a share of the run."""
        limits = [self.baseline_time_limit_s]
        if self.time_budget_s:
            limits.append(self.baseline_share * self.time_budget_s)
        return min((x for x in limits if x is not None), default=None)

    def trials_deadline(self, started: float) -> float | None:
        """When to stop starting trials, leaving time to finish the front: finish_share of
        the budget, and never less than exporting best/ needs (a tiny budget's 10% is not)."""
        if not self.time_budget_s:
            return None
        finish = max(self.time_budget_s * self.finish_share, EXPORT_RESERVE_S)
        return started + self.time_budget_s - finish
