"""How a run spends its time: fine-tuning data/epochs, the baseline's epoch plan, deadlines."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnopt.data.base import TensorData
from cnnopt.errors import CnnoptError
from cnnopt.search.baseline_training import affordable_epochs, measure_images_per_s, min_epochs
from cnnopt.search.budget import Budget
from cnnopt.search.evaluate_candidate import finetune_plan


def _data(n: int) -> TensorData:
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (n,), generator=gen)
    images = torch.randint(0, 255, (n, 1, 8, 8), generator=gen, dtype=torch.uint8)
    return TensorData(images, labels, ["a", "b", "c"], (0.5,), (0.25,), name="tiny")


def test_finetune_plan_subsets_big_sets_and_repeats_small_ones() -> None:
    big, small = _data(3000), _data(200)
    data, epochs = finetune_plan(big, None, 1000, seed=0)
    assert len(data) == 1000 and epochs == 1.0
    data, epochs = finetune_plan(small, None, 1000, seed=0)
    assert len(data) == 200 and epochs == 5.0, "a tiny set gets several passes, not 2 steps"
    data, epochs = finetune_plan(big, 0.5, 1000, seed=0)
    assert len(data) == 1000 and epochs == 0.5, "explicit epochs are kept"
    data, epochs = finetune_plan(big, None, None, seed=0)
    assert len(data) == 3000 and epochs == 1.0


@settings(max_examples=40, deadline=None)
@given(
    default=st.sampled_from([1.0, 16.0, 20.0]),
    seconds=st.floats(1, 1000),
    rate=st.floats(10, 10_000),
    n=st.integers(100, 60_000),
)
def test_planned_epochs_fit_the_time_and_never_exceed_the_recipe(
    default: float, seconds: float, rate: float, n: int
) -> None:
    epochs = affordable_epochs(default, seconds, rate, n)
    assert min_epochs(n) <= epochs <= default
    if epochs > min_epochs(n):
        assert epochs * n / rate <= seconds, "the planned schedule fits the time"


def test_probe_measures_a_positive_training_rate() -> None:
    from torch import nn

    from cnnopt.training import TrainConfig

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    rate = measure_images_per_s(model, _data(512), TrainConfig(batch_size=64, progress=False))
    assert rate > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "on a copy"


def test_budget_split_and_validation() -> None:
    budget = Budget(time_budget_s=600)
    assert budget.baseline_seconds() == pytest.approx(210)
    assert budget.trials_deadline(1000.0) == pytest.approx(1540.0)
    assert Budget(time_budget_s=None).baseline_seconds() == 240.0
    assert Budget(time_budget_s=None).trials_deadline(0.0) is None
    with pytest.raises(CnnoptError, match="fine-tuning epochs"):
        Budget(finetune_epochs=0).validate()
    with pytest.raises(CnnoptError, match="baseline_share"):
        Budget(baseline_share=1.5).validate()


def test_python_and_cli_defaults_are_the_same_run() -> None:
    """`cnnopt optimize` with no flags and `cnnopt.optimize(...)` with no budget/space/target
    run the same search: the command's defaults are read from the same classes."""
    import inspect

    import cnnopt
    from cnnopt.cli import build_parser

    args = build_parser().parse_args(["optimize"])
    budget, space = cnnopt.Budget(), cnnopt.SearchSpace()
    robust, target = cnnopt.RobustnessSettings(), cnnopt.Target()
    assert (budget.trials, budget.time_budget_s) == (40, 480.0)  # the demo's, said in the README
    assert (args.trials, args.time_budget) == (budget.trials, budget.time_budget_s)
    assert args.finetune_epochs == budget.finetune_epochs
    assert args.finetune_images == budget.finetune_images
    assert args.baseline_epochs == budget.baseline_epochs
    assert (args.workers, args.candidate_timeout) == (budget.workers, budget.candidate_timeout_s)
    assert tuple(args.prune_ratios) == space.prune_ratios
    assert tuple(args.precision) == space.precisions and args.runtime == ("auto",)
    assert (args.batch_size, args.threads, args.device) == (
        target.batch_size, target.threads, target.device,
    )  # fmt: skip
    assert (args.robustness, args.robust_eps, args.robust_samples) == (
        robust.enabled, robust.eps, robust.samples,
    )  # fmt: skip
    python = inspect.signature(cnnopt.optimize).parameters
    for flag, keyword in (("sampler", "sampler"), ("seed", "seed"), ("out", "out"),
                          ("isolate", "isolate"), ("resume", "resume")):  # fmt: skip
        assert getattr(args, flag) == python[keyword].default, flag
