"""The rich Console every cnnopt output goes through, set up for terminals and for log files.

On a terminal rich measures the window. Redirected to a file or a CI log it assumes 80
columns and wraps or cuts long lines and tables ("1338/…", a path on a line of its own), so
there lines are never wrapped and tables get room to stay whole.
"""

from __future__ import annotations

import os

from rich.console import Console

LOG_WIDTH = 160  # columns for tables when the output is not a terminal


def make_console(stderr: bool = True, quiet: bool = False) -> Console:
    """A Console on stderr (stdout stays clean for --json) that reads well in logs too."""
    console = Console(stderr=stderr, quiet=quiet, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = LOG_WIDTH
    return console
