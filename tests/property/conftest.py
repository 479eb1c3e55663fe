"""Print how many random CNNs each property saw: the evidence the issue asks for."""

from __future__ import annotations

from typing import Any

from random_cnn import EXAMPLES_RUN


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not EXAMPLES_RUN:
        return
    rows = ", ".join(f"{name} {count}" for name, count in sorted(EXAMPLES_RUN.items()))
    total = sum(n for name, n in EXAMPLES_RUN.items() if "refused" not in name)
    terminalreporter.write_line(f"hypothesis random CNNs run: {total} ({rows})")
