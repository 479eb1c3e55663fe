"""What a person watching a training run sees, and how Ctrl-C is turned into a clean stop.

Kept apart from the training loop so the loop reads as maths, not terminal handling.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cnnopt.terminal import make_console


class TrainProgress:
    """A rich bar over all optimizer steps with loss, accuracy, images/s and LR; or nothing.

    On a terminal the bar redraws in place. Redirected to a file or a CI log it would leave
    its last frame cut to 80 columns ("1338/…"), so there only the per-epoch lines are printed,
    one plain line each.
    """

    def __init__(self, total_steps: int, enabled: bool, console: Console | None = None) -> None:
        self._progress: Progress | None = None
        self._task = None
        self._console = (console or make_console()) if enabled else None
        if self._console is not None and self._console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self._console,
                transient=False,
            )
            self._task = self._progress.add_task("train", total=total_steps, stats="")

    def __enter__(self) -> TrainProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(
        self, step: int, epoch: int, epochs: int, loss: float, acc: float, ips: float, lr: float
    ) -> None:
        if self._progress is None:
            return
        stats = f"loss {loss:.3f}  acc {acc:6.2%}  {ips:,.0f} img/s  lr {lr:.3g}"
        self._progress.update(
            self._task, completed=step, description=f"epoch {epoch}/{epochs}", stats=stats
        )

    def log(self, message: str) -> None:
        if self._console is not None:
            self._console.print(message, soft_wrap=True, highlight=False)


class InterruptFlag:
    """Set by the first Ctrl-C; the loop finishes its step, saves, then raises."""

    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def graceful_interrupt() -> Iterator[InterruptFlag]:
    """First SIGINT only sets a flag (so the checkpoint is consistent); a second one aborts.

    Signal handlers can only be installed from the main thread; elsewhere Ctrl-C keeps its
    default behaviour and the last per-epoch checkpoint is what survives.
    """
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
