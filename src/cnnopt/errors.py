"""One exception type for every mistake a user can fix.

The CLI turns a `CnnoptError` into exit code 2 and one line on stderr ("what is wrong; what to
do"), so every module raises this for bad input instead of letting a library traceback escape.
"""

from __future__ import annotations


class CnnoptError(Exception):
    """A problem with the user's input, with a hint that says how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message.rstrip(". ")
        if self.hint:
            text += f"; {self.hint.rstrip('. ')}"
        return text.replace("\n", " ")

    def __str__(self) -> str:
        # Library users see the hint too, not only CLI users.
        return self.one_line()


def check(condition: bool, message: str, hint: str | None = None) -> None:
    """Raise CnnoptError unless `condition`: keeps validation one line at the call site."""
    if not condition:
        raise CnnoptError(message, hint)
