"""The `cnnopt` command. Thin on purpose: each sub-command lives in cnnopt/commands/<name>.py
with `register(subparsers)`, and this file only finds them, parses and maps errors to exit codes.
Only the module of the command being run is imported, so `cnnopt --help` starts without torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Collection, Sequence

from cnnopt.errors import CnnoptError


class _Parser(argparse.ArgumentParser):
    """argparse's own errors: one line and exit 2, like ours."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"cnnopt: error: {message}; see '{self.prog} --help'\n")


def build_parser(load: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The full parser, or (with `load`) one that imports only the named commands' modules.

    Every command module imports torch or more (seconds), so `cnnopt --help` and `cnnopt
    train ...` must not import all of them: the others get a stub parser with their one-line
    help from cnnopt.commands.COMMANDS. load=None imports every command (tests, docs).
    """
    from cnnopt import __version__
    from cnnopt.commands import COMMANDS

    parser = _Parser(
        prog="cnnopt",
        description="Make CNNs fast while keeping them accurate: train, optimize, measure, report.",
    )
    parser.add_argument("--version", action="version", version=f"cnnopt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_line in sorted(COMMANDS.items()):
        if load is None or name in load:
            importlib.import_module(f"cnnopt.commands.{name}").register(sub)
        else:
            sub.add_parser(name, help=help_line)
    return parser


def command_in(argv: Sequence[str]) -> str | None:
    """The sub-command `argv` runs: the first word that is not an option (cnnopt's own
    options, --help and --version, take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(load=[command_in(argv) or ""])
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CnnoptError as exc:
        print(f"cnnopt: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cnnopt: interrupted; finished work is saved, rerun with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
