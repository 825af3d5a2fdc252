"""``lmms-safebench report RESULT_FOLDER...``: safety beside over-refusal and capability, leaderboards, confidence
intervals, agreement, the juries' calibration and judge-corrected ASRs, charts, one HTML page, and leaderboard exports
(see :mod:`lmms_safebench.report`)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..errors import SafebenchError

EXPORT_FORMATS = ("lm-eval", "hf")  # the report's own list, without importing it for `--help`
DEFAULT_MAX_AGE_DAYS = 90.0  # report.calibrated.DEFAULT_MAX_AGE_DAYS (a test checks they agree)


def add_parser(sub) -> None:
    report = sub.add_parser("report", help="safety, over-refusal and capability: leaderboards, intervals, calibration, "
                                           "charts, HTML, exports")
    report.add_argument("results", nargs="+", metavar="RESULT_FOLDER",
                        help="judged runs (lmms-eval/lm-eval output with --log_samples, or `judge` output) and any "
                             "other lmms-eval or lm-eval results (capability tasks)")
    report.add_argument("--output", default="report", help="output folder (default: ./report)")
    report.add_argument("--name", action="append", metavar="RUN_MODEL=SHOWN",
                        help="show a run's model under another name (repeatable)")
    report.add_argument("--paper-name", action="append", metavar="MODEL=PAPER_MODEL",
                        help="which published model a run's model is, when the names do not match (repeatable)")
    report.add_argument("--capability-metric", action="append", metavar="TASK=METRIC",
                        help="the metric shown for a capability task (default: the first metric of its results "
                             "entry); repeatable")
    report.add_argument("--calibration-max-age", type=_days, default=DEFAULT_MAX_AGE_DAYS, metavar="DAYS",
                        help=f"a jury calibration older than DAYS is marked stale (default: {DEFAULT_MAX_AGE_DAYS:g}; "
                             "'none': never)")
    report.add_argument("--export", nargs=2, action="append", metavar=("FORMAT", "DIR"),
                        help="also write the numbers for a leaderboard: 'lm-eval DIR' (an lm-eval results file per "
                             "model) or 'hf DIR' (model-index YAML per model and a flat CSV); repeatable")
    report.add_argument("--export-jury", metavar="NAME_OR_IDENTITY",
                        help="export only this jury's safety numbers (needed when several juries judged one board)")
    report.add_argument("--source-url", metavar="URL", help="with --export hf: where the results are published")
    report.set_defaults(func=run)


def _days(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number of days, or 'none'")
    return value


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

    exports = [tuple(pair) for pair in args.export or []]
    for kind, _ in exports:
        if kind not in EXPORT_FORMATS:
            raise SafebenchError(f"--export {kind!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    if args.source_url and not any(kind == "hf" for kind, _ in exports):
        raise SafebenchError("--source-url: only with --export hf DIR")
    try:
        summary = build_report(args.results, args.output, names=_pairs(args.name, "--name"),
                               paper_names=_pairs(args.paper_name, "--paper-name"),
                               capability_metrics=args.capability_metric,
                               calibration_max_age=args.calibration_max_age, exports=exports,
                               export_jury=args.export_jury, source_url=args.source_url)
    except (ValueError, FileNotFoundError) as exc:
        raise SafebenchError(str(exc)) from None
    print(f"{summary['entries']} leaderboard entries; wrote {len(summary['written'])} files to {args.output}")
    print(f"open {Path(args.output) / 'report.html'}")
    for kind, done in summary["exports"].items():
        folder = next(folder for k, folder in exports if k == kind)
        print(f"export {kind}: {len(done['written'])} files in {folder}"
              + (f" ({len(done['skipped'])} numbers with nothing measured left out)" if done["skipped"] else ""))
    for note in summary["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return 0
