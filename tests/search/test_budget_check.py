"""`check_budget`: a --time-budget too small for the baseline is refused up front, and the
budget it suggests instead is one it accepts."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnopt.search.baseline_training as bt
from cnnopt.errors import CnnoptError
from cnnopt.search import Budget


@dataclass
class Images:
    """Only what the plan reads: a size and a dataset name (for its recipe)."""

    n: int
    name: str = "digits"

    def __len__(self) -> int:
        return self.n


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(5, 50_000),
    n=st.integers(16, 100_000),
    budget_s=st.floats(0.01, 2_000),
)
def test_a_refusal_suggests_a_budget_that_is_then_accepted(
    rate: float, n: int, budget_s: float
) -> None:
    data = Images(n)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bt, "measure_images_per_s", lambda *_: rate)  # a probe that costs ~0 s
        budget = Budget(time_budget_s=budget_s)
        try:
            probe = bt.check_budget(None, data, budget)
        except CnnoptError as exc:
            line = str(exc)
            assert f"--time-budget {budget_s:g} is too small" in line
            suggested = re.search(r"at least --time-budget (\d+)", line)
            if suggested is None:  # beyond the baseline's own 240 s cap: no budget helps
                assert "--train-subset" in line
                return
            bt.check_budget(None, data, Budget(time_budget_s=float(suggested.group(1))))
            return
        assert probe is not None and probe.images_per_s == rate
        share = budget.baseline_seconds()
        assert (share - probe.seconds) * rate / n / bt.EPOCH_OVERHEAD >= bt.min_epochs(n)


def test_no_check_without_a_time_budget_or_with_fixed_epochs() -> None:
    data = Images(16)
    assert bt.check_budget(None, data, Budget(time_budget_s=None)) is None
    assert bt.check_budget(None, data, Budget(time_budget_s=0.01, baseline_epochs=1)) is None


def test_a_slow_machine_trains_on_part_of_a_large_set_instead_of_refusing() -> None:
    """make demo on a busy 2-core host: 53 images/s, Fashion-MNIST's 55,000 images, the
    demo's 480 s budget. A quarter epoch does not fit the baseline's share; a few thousand
    images do, and the demo must run rather than refuse its own defaults."""
    data = Images(55_000, "fashion-mnist")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bt, "measure_images_per_s", lambda *_: 53.0)
        probe = bt.check_budget(None, data, Budget(time_budget_s=480))
    assert probe is not None
    epochs = bt.affordable_epochs(20.0, 480 * 0.35, 53.0, 55_000)
    assert bt.min_epochs(55_000) <= epochs < bt.MIN_EPOCHS
    assert epochs * 55_000 / 53.0 <= 480 * 0.35
