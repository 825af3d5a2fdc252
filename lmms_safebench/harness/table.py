"""What the harnesses print for this package's metrics: short summaries of the record-valued ones.

lmms-eval and lm-eval print a table of every metric of every task (their ``utils.make_table``). Some metrics are
records, not numbers: ``jury`` (:class:`~lmms_safebench.scoring.agreement.JuryReport`) and breakdowns such as
``by_scenario``; printed whole they make lines of hundreds of characters. The table writer (pytablewriter) turns any dict
into a plain dict before printing it, so a record cannot print itself short. The harnesses' ``make_table`` is
therefore wrapped (:func:`wrap`) so that it prints a copy of the results in which every record (a dict value) is a
one-line summary, once this package's tasks have loaded (:mod:`.hooks` imported; a run of other tasks prints as the
harness prints it). The results dict it is given is not changed, so the results file (written from it) keeps
every record whole.

Two moments wrap it. Task discovery (:mod:`.discovery`) wraps ``make_table`` as ``lm_eval.utils`` and
``lmms_eval.utils`` are first imported, so a command line that binds the function before any task loads (lm-eval's
``run`` does ``from lm_eval.utils import make_table`` first) binds the wrapper; and :func:`install`, run when the
hooks load, wraps it wherever a module already holds the original (discovery off, or the harness imported before
this package's finder was in place).
"""

from __future__ import annotations

import functools
import sys

_WRAPPED = "_lmms_safebench_short_records"
_OUR_TASKS = "lmms_safebench.harness.hooks"  # imported by every task folder's utils.py


def summary(metric: str, value: dict) -> str:
    """The one line printed for a record-valued metric: a jury report's own summary; for a breakdown
    (``by_<thing>``: one entry per thing), how many there are."""
    if "identities" in value:
        from ..scoring.agreement import JuryReport  # imported here: discovery imports this module early

        return JuryReport(value).summary()
    what = f"{metric.removeprefix('by_')}s" if metric.startswith("by_") else "entries"
    return f"{len(value)} {what} (see the results file)"


def shorten(results: dict) -> dict:
    """A copy of a harness's results in which every record-valued metric is its :func:`summary`."""
    short = dict(results)
    for column in ("results", "groups"):
        rows = results.get(column)
        if isinstance(rows, dict):
            short[column] = {task: _shorten_row(row) for task, row in rows.items()}
    return short


def _shorten_row(row):
    if not isinstance(row, dict):
        return row
    out = {}
    for key, value in row.items():
        metric = key.partition(",")[0]
        out[key] = summary(metric, value) if isinstance(value, dict) else value
    return out


def wrap(original):
    """``make_table`` that prints the records of this package's tasks short (:func:`shorten`), once they have
    loaded; the function itself when it is already wrapped."""
    if getattr(original, _WRAPPED, False):
        return original

    @functools.wraps(original)
    def make_table(result_dict, *args, **kwargs):
        if _OUR_TASKS in sys.modules and isinstance(result_dict, dict):
            result_dict = shorten(result_dict)
        return original(result_dict, *args, **kwargs)

    setattr(make_table, _WRAPPED, True)
    return make_table


def install() -> None:
    """Wrap ``make_table`` of each harness already imported, wherever a module holds the original by name
    (lmms-eval's ``__main__`` imports it before our tasks load). Idempotent."""
    for harness in ("lmms_eval", "lm_eval"):
        original = getattr(sys.modules.get(f"{harness}.utils"), "make_table", None)
        if original is None or getattr(original, _WRAPPED, False):
            continue
        wrapped = wrap(original)
        for name, module in list(sys.modules.items()):
            if name == "__main__" or name == harness or name.startswith(harness + "."):
                if getattr(module, "__dict__", {}).get("make_table") is original:
                    module.make_table = wrapped
