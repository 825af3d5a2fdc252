"""``lmms-safebench report RESULT_FOLDER...``: leaderboards, confidence intervals, agreement, radar charts and one
HTML page (see :mod:`lmms_safebench.report`)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import SafebenchError


def add_parser(sub) -> None:
    report = sub.add_parser("report", help="leaderboards, confidence intervals, agreement, radar charts, HTML")
    report.add_argument("results", nargs="+", metavar="RESULT_FOLDER",
                        help="judged runs: lmms-eval/lm-eval output with --log_samples, or `judge` output")
    report.add_argument("--output", default="report", help="output folder (default: ./report)")
    report.add_argument("--name", action="append", metavar="RUN_MODEL=SHOWN",
                        help="show a run's model under another name (repeatable)")
    report.add_argument("--paper-name", action="append", metavar="MODEL=PAPER_MODEL",
                        help="which published model a run's model is, when the names do not match (repeatable)")
    report.set_defaults(func=run)


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        key, sep, shown = value.partition("=")
        if not sep or not key.strip() or not shown.strip():
            raise SafebenchError(f"{option} {value!r}: expected NAME=VALUE")
        out[key.strip()] = shown.strip()
    return out


def run(args) -> int:
    from ..report import build_report  # numpy and the adapters: not needed for `--help`

    try:
        summary = build_report(args.results, args.output, names=_pairs(args.name, "--name"),
                               paper_names=_pairs(args.paper_name, "--paper-name"))
    except (ValueError, FileNotFoundError) as exc:
        raise SafebenchError(str(exc)) from None
    print(f"{summary['entries']} leaderboard entries; wrote {len(summary['written'])} files to {args.output}")
    print(f"open {Path(args.output) / 'report.html'}")
    for note in summary["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return 0
