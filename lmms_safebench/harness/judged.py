"""Judged sample logs read into typed records: the bulk of what ``report`` and ``select`` read.

:func:`read_judged` reads one log: per sample its verdict (a :class:`~lmms_safebench.scoring.records.VerdictRecord`
without what no reader of it uses: what each juror spent and the jurors' rationales, which the results files and the
logs keep; a report of 300,000 samples then takes half the memory), its outcome and its logged ``target`` (the
document's fingerprint); None instead of the list when a sample has no verdict (a ``--predict_only`` run). A torn
line is named in the notes and skipped; an unreadable file is named and left out. (Reading in worker processes was
measured and dropped: pickling the records back costs more than parsing saves on two cores.)

Reading allocates millions of small objects, none in a reference cycle: Python's cyclic collector is off while it
runs (:func:`no_cyclic_gc`), else it would rescan the growing set at every threshold (time quadratic in the samples).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

from ..scoring.records import Outcome, VerdictRecord
from . import outputs


@contextmanager
def no_cyclic_gc():
    """Python's cyclic garbage collector off for a bulk read (module docstring), back on afterwards if it was on.
    Reference counting still frees everything. On the way out, the objects alive then (the records read) are moved
    out of the collector's sight (``gc.freeze``): they hold no cycle and live as long as their reader keeps them, and
    the first collection after would otherwise walk every one of them (a second per 100,000 samples). A caller done
    with them may call ``gc.unfreeze()`` (``report`` does at its end)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _slim(verdict: dict) -> dict:
    verdict.pop("usage", None)
    for reviews in verdict.get("rounds") or ():
        for review in reviews if isinstance(reviews, list) else ():
            if isinstance(review, dict):
                review.pop("rationale", None)
    return verdict


def read_judged(path: str, verdict_key: str, outcome_key: str) -> tuple[list | None, list[str]]:
    """``([(verdict, outcome, target)] or None, notes)`` of one log (module docstring); ``verdict_key`` and
    ``outcome_key``: the metric names its samples carry their verdict and outcome under."""
    notes: list[str] = []
    with no_cyclic_gc():
        try:
            records = outputs.read_jsonl(path, skipped=notes)
        except (OSError, UnicodeDecodeError) as exc:
            return [], [f"{path}: unreadable ({exc}); left out"]
        out = []
        for record in records:
            verdict, outcome = record.get(verdict_key), record.get(outcome_key)
            if not isinstance(verdict, dict) or not isinstance(outcome, dict):
                return None, notes
            out.append((VerdictRecord.from_dict(_slim(verdict)), Outcome.from_dict(outcome),
                        str(record.get("target") or "")))
        return out, notes
