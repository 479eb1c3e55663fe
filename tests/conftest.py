"""Shared test setup: one thread per test process (CI has 2 cores) and small fixed seeds."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# The suite runs on two xdist workers that take whole files (--dist loadfile) in collection
# order. The end-to-end and search files hold the long tests (a search with a hanging
# candidate, crash-and-resume runs, real optimizes); collected last, one of them ran alone at
# the end while the other worker idled for two minutes. Collected first, the short files fill
# in behind them. The order within a file is unchanged.
LONG_FIRST = ("e2e", "search")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        parts = item.path.parts
        for i, folder in enumerate(LONG_FIRST):
            if folder in parts:
                return i
        return len(LONG_FIRST)

    items.sort(key=rank)  # stable: files and tests keep their order within a rank
