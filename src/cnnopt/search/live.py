"""Terminal view of a running search: a progress bar and a live table of the current front."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cnnopt.record import Record
from cnnopt.search.results import baseline_index
from cnnopt.search.select import accuracy_difference, front_indices


def front_table(records: list[Record], limit: int = 12) -> Table:
    """The Pareto front so far, fastest first, with speed-up and accuracy change vs baseline."""
    table = Table(title="Pareto front so far (accuracy vs latency)", title_justify="left")
    for column in ("trial", "candidate", "val acc", "p50 ms", "speed-up", "Δ acc"):
        table.add_column(column, justify="left" if column == "candidate" else "right")
    base = baseline_index(records)
    base_record = records[base] if base is not None else None
    for i in front_indices(records)[:limit]:
        r = records[i]
        speedup = delta = "-"
        if base_record is not None:  # '~': search-time timing, re-timed at the end
            ratio = base_record.latency_ms_p50 / max(r.latency_ms_p50 or 1e-9, 1e-9)
            speedup = f"~{ratio:.1f}x"
            delta = f"{((r.accuracy or 0) - (base_record.accuracy or 0)) * 100:+.1f} pt"
            diff = accuracy_difference(r, base_record) if r is not base_record else None
            delta += " (noise)" if diff is not None and not diff.significant else ""
        table.add_row(
            str(r.extra.get("trial", "")),
            r.name,
            f"{(r.accuracy or 0) * 100:.2f}%",
            f"{r.latency_ms_p50:.3g}",
            speedup,
            delta,
        )
    failed = sum(r.status != "ok" for r in records)
    if failed:
        table.caption = f"{failed} candidate(s) failed; see results.json for their errors"
    return table


class SearchDisplay:
    """Owns the rich Live region; `update(done, records)` after each finished trial.

    A log file or CI console is not a terminal: a Live region there leaves blank lines and
    frames cut to 80 columns. So off a terminal each finished trial is one plain line, and the
    front table is printed once, at the end, at a width that fits it.
    """

    def __init__(self, total: int, console: Console, enabled: bool = True) -> None:
        self.enabled = enabled
        self.console = console
        self.progress = Progress(
            TextColumn("search"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("trials"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.progress.add_task("search", total=total)
        self.table: Any = Table()
        self.live: Live | None = None
        self.total = total
        self._logged = -1  # records already announced as plain lines

    @contextlib.contextmanager
    def running(self) -> Iterator[SearchDisplay]:
        if not self.enabled:
            yield self
            return
        if not self.console.is_terminal:
            yield self
            if self._logged >= 0:
                self.console.print(self.table, width=max(self.console.width, 140))
            return
        with Live(self._render(), console=self.console, refresh_per_second=4) as live:
            self.live = live
            yield self
        self.live = None

    def update(self, done: int, records: list[Record]) -> None:
        self.progress.update(self.task, completed=done)
        self.table = front_table(records)
        if self.live is not None:
            self.live.update(self._render())
        elif self.enabled and not self.console.is_terminal:
            self._log_new(done, records)

    def _log_new(self, done: int, records: list[Record]) -> None:
        """One line per record not yet announced: trial count, candidate, accuracy, latency."""
        for record in records[max(self._logged, 0) :]:
            if record.status == "ok":
                text = (
                    f"{(record.accuracy or 0) * 100:.2f}% val, "
                    f"{record.latency_ms_p50 or 0:.3g} ms p50"
                )
            else:
                text = f"failed: {(record.error or '')[:160]}"
            self.console.print(
                f"trial {record.extra.get('trial', '?')} ({done}/{self.total} done): "
                f"{record.name}: {text}",
                soft_wrap=True,
                highlight=False,
            )
        self._logged = len(records)

    def _render(self) -> Group:
        return Group(self.progress, self.table)
