"""One rich progress bar on stderr for long measurements, or a no-op when not wanted.

Stderr keeps stdout clean for `--json` output and result tables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(
    enabled: bool, total: int, description: str
) -> Iterator[Callable[[str | None], None]]:
    """Yield `advance(text=None)`: one step done, optionally with a new description."""
    if not enabled:
        yield lambda _text=None: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(text: str | None = None) -> None:
            if text is None:
                bar.update(task, advance=1)
            else:
                bar.update(task, advance=1, description=text)

        yield advance
