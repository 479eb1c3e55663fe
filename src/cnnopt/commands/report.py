"""`cnnopt report DIR`: rebuild report.html, report.md and the plots from results.json alone."""

from __future__ import annotations

import argparse
from typing import Any

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import add_json_flag, print_json


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help=COMMANDS["report"],
        description=__doc__,
    )
    p.add_argument("dir", help="the --out directory of `cnnopt optimize` (or its results.json)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnnopt.commands._common import console
    from cnnopt.report import write_report
    from cnnopt.search.results import load_results, summary_line

    results = load_results(args.dir)
    out_dir = Path(args.dir) if Path(args.dir).is_dir() else Path(args.dir).parent
    path = write_report(out_dir, results)
    if args.json:
        print_json({"report": str(path), "summary": summary_line(results)})
    else:
        console.print(f"wrote {path}")
        print(summary_line(results))
    return 0
