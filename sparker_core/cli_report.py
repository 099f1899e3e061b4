"""``sparker report DIR [--out FILE.html] [--inputs FOLDER]``: one self-contained HTML file that shares a
result bundle (see ``sparker_core.report``)."""

from __future__ import annotations

import argparse
import sys

from .report import write_report


def add_parser(sub, inputs_help: str) -> None:
    """The ``report`` subcommand on the ``sparker`` parser's subparsers."""
    p = sub.add_parser("report", help="write a self-contained HTML report of a result bundle (opens offline)")
    p.add_argument("bundle")
    p.add_argument("--out", help="the HTML file to write (default: BUNDLE-report.html beside the bundle folder)")
    p.add_argument("--inputs", help=inputs_help)
    p.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    path, note = write_report(args.bundle, args.out, args.inputs)
    if note:
        print(f"note: {note}".splitlines()[0], file=sys.stderr)
    print(f"report written to {path}")
    return 0
