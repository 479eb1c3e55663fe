"""The `cnnopt` command. Thin on purpose: each sub-command lives in cnnopt/commands/<name>.py
with `register(subparsers)`, and this file only finds them, parses and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from cnnopt.errors import CnnoptError


class _Parser(argparse.ArgumentParser):
    """argparse's own errors: one line and exit 2, like ours."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"cnnopt: error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    import cnnopt.commands as commands

    parser = _Parser(
        prog="cnnopt",
        description="Make CNNs fast while keeping them accurate: train, optimize, measure, report.",
    )
    from cnnopt import __version__

    parser.add_argument("--version", action="version", version=f"cnnopt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cnnopt.commands.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
