"""``lmms-safebench``: one module per command (:mod:`.build`, :mod:`.judge`, :mod:`.report`, :mod:`.select`,
:mod:`.generate`, :mod:`.tasks_dir`, :mod:`.jury`), each adding its parser with ``add_parser``; :func:`main` is the
console entry point.

    lmms-safebench build BENCHMARK [--source SRC] [--data-dir DIR] [the benchmark's own options]
    lmms-safebench judge RUN_FOLDER... [--jury SPEC] [--output DIR] [--concurrency N] [--endpoint-limit N]
    lmms-safebench report RESULT_FOLDER... [--output DIR] [--name RUN_MODEL=SHOWN] [--paper-name MODEL=PAPER]
    lmms-safebench generate GENERATOR CONFIG --name NAME [...]
    lmms-safebench select RUN_FOLDER... --from BOARD --name NAME --budget N [...]
    lmms-safebench tasks-dir [--harness lm-eval|lmms-eval]
    lmms-safebench jury check [--jury SPEC] [--no-call]
    lmms-safebench jury show [--jury SPEC]
    lmms-safebench jury calibrate --set SET [...]
"""

from __future__ import annotations

import argparse
import re
import sys

from .. import __version__
from ..errors import SafebenchError
from . import build, generate, judge, jury, report, select, tasks_dir

COMMANDS = """\
Safety benchmarks for lmms-eval and lm-eval, judged by an LLM jury.

commands:
  build BENCHMARK       normalise a benchmark ({buildable}) into the local data folder
  judge RUN_FOLDER...   judge the answers that runs logged (--log_samples), without the model
{generators}
  select RUN_FOLDER... --from BOARD --name NAME --budget N
                        keep the samples of a benchmark that best separate safe from unsafe models
  report RESULT_FOLDER...
                        leaderboards, confidence intervals, agreement, radar charts, HTML
  tasks-dir             print the task folder to pass as --include_path
  jury check            validate the jury configuration and make one call per juror
  jury show             print the resolved jury configuration and its identity
  jury calibrate --set SET
                        measure the jury against human labels (kappa, sensitivity, specificity), check drift

`lmms-safebench COMMAND --help` describes each command's options.
"""


def plain(doc: str | None) -> str | None:
    """A module docstring as command help: its Sphinx markup (``x``, :mod:`x`) as plain backquoted text."""
    if doc is None:
        return None
    return re.sub(r":[a-z]+:`~?\.?([^`]+)`", r"`\1`", doc).replace("``", "`")


def build_parser() -> argparse.ArgumentParser:
    found = generate.modules()
    parser = argparse.ArgumentParser(prog="lmms-safebench", formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description=COMMANDS.format(generators=generate.listing(found), buildable=", ".join(
                                         a.key for a in build.buildable())),
                                     usage="%(prog)s [-h] [--version] COMMAND [OPTIONS]")
    parser.add_argument("--version", action="version", version=f"lmms-safebench {__version__}")
    # prog: the commands' usage lines start "lmms-safebench <command>" (argparse would prefix the usage above)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS,
                                prog="lmms-safebench")
    build.add_parser(sub)
    judge.add_parser(sub)
    report.add_parser(sub)
    generate.add_parser(sub, found, plain)
    select.add_parser(sub, plain)
    tasks_dir.add_parser(sub)
    jury.add_parser(sub, plain)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SafebenchError as exc:
        print(f"lmms-safebench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
