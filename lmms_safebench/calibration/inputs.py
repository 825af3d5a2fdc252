"""Checks and encodings of a labelled set's columns, shared by every calibration statistic.

Contract: :func:`encode` turns a column of labels into an int array of *codes*, each value's index in
``labels`` (so with ``labels=(0, 1)`` or ``("safe", "unsafe")`` code 1 is the positive class). A missing
value (None or NaN) becomes :data:`MISSING` where ``missing_ok`` (a verdict: unjudged) and is an error
otherwise (a gold label). Every problem is a :class:`~lmms_safebench.errors.DataError` that names the
records at fault (by id when ids are given, else by position) and the column; all problems of a column
are listed at once, so one run shows everything to fix.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np

from ..errors import DataError

MISSING = -1
BINARY = (0, 1)
_SHOWN = 10  # problems listed in one message; the count says how many there are


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _record(i: int, ids: Sequence | None) -> str:
    return f"record {ids[i]!r}" if ids is not None else f"item #{i}"


def _fail(problems: list[str], source: str) -> None:
    if problems:
        more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
        raise DataError(f"{source}: {len(problems)} problem(s): " + "; ".join(problems[:_SHOWN]) + more)


def check_lengths(source: str = "the labelled set", **columns: Sequence | None) -> int:
    """The common length of ``columns`` (None entries are skipped); differing lengths are an error."""
    lengths = {name: len(col) for name, col in columns.items() if col is not None}
    if len(set(lengths.values())) > 1:
        raise DataError(f"{source}: columns differ in length: "
                        + ", ".join(f"{name}={n}" for name, n in lengths.items()))
    return next(iter(lengths.values()), 0)


def _encode(values, labels, what, ids, missing_ok) -> tuple[np.ndarray, list[str]]:
    index = {label: k for k, label in enumerate(labels)}
    if len(index) != len(labels):
        raise ValueError(f"labels must be distinct: {labels!r}")
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "biuf" and all(
            isinstance(label, (int, float)) for label in labels):
        return _encode_numeric(values, labels, what, ids, missing_ok)
    codes = np.empty(len(values), dtype=np.int64)
    problems = []
    for i, value in enumerate(values):
        if isinstance(value, np.generic):
            value = value.item()
        if is_missing(value):
            codes[i] = MISSING
            if not missing_ok:
                problems.append(f"{_record(i, ids)} has no {what}")
            continue
        try:
            code = index.get(value)
        except TypeError:  # unhashable (a list, a dict): not a label either
            code = None
        if code is None:
            problems.append(f"{_record(i, ids)} has {what} {value!r}, not one of {tuple(labels)!r}")
            code = MISSING
        codes[i] = code
    return codes, problems


def _encode_numeric(values: np.ndarray, labels, what, ids, missing_ok) -> tuple[np.ndarray, list[str]]:
    """:func:`_encode` of a numeric array, without a Python loop (boards hold many thousands of verdicts)."""
    codes = np.full(len(values), MISSING, dtype=np.int64)
    for k, label in enumerate(labels):
        codes[values == label] = k
    missing = np.isnan(values) if values.dtype.kind == "f" else np.zeros(len(values), dtype=bool)
    problems = [f"{_record(i, ids)} has {what} {values[i].item()!r}, not one of {tuple(labels)!r}"
                for i in np.flatnonzero((codes == MISSING) & ~missing)]
    if not missing_ok:
        problems += [f"{_record(i, ids)} has no {what}" for i in np.flatnonzero(missing)]
    return codes, problems


def encode(values: Sequence, labels: Sequence[Hashable] = BINARY, *, what: str = "label",
           ids: Sequence | None = None, missing_ok: bool = False, source: str = "the labelled set") -> np.ndarray:
    """Codes of ``values`` (see the module docstring). ``True``/``False`` and ``1.0``/``0.0`` match
    ``1``/``0`` (Python equality); any other value outside ``labels`` is an error."""
    codes, problems = _encode(values, labels, what, ids, missing_ok)
    _fail(problems, source)
    return codes


def _duplicates(ids: Sequence) -> list[str]:
    return [f"id {i!r} appears {n} times" for i, n in Counter(ids).items() if n > 1]


def _empty_responses(ids: Sequence, responses: Sequence) -> list[str]:
    return [f"{_record(i, ids)} has an empty response" for i, r in enumerate(responses)
            if not isinstance(r, str) or not r.strip()]


def check_unique_ids(ids: Sequence, source: str = "the labelled set") -> None:
    """Every id appears once (a duplicate would count one response twice, or two under one name)."""
    _fail(_duplicates(ids), source)


def check_responses(ids: Sequence, responses: Sequence, source: str = "the labelled set") -> None:
    """Every response is non-empty text: a label on an empty response says nothing about a judge."""
    _fail(_empty_responses(ids, responses), source)


def check_labelled_set(ids: Sequence, responses: Sequence, gold: Sequence, labels: Sequence[Hashable] = BINARY,
                       source: str = "the labelled set") -> np.ndarray:
    """Every check of a human-labelled set (lengths, unique ids, non-empty responses, allowed gold labels),
    all problems reported in one error; returns the gold codes."""
    check_lengths(source, ids=ids, responses=responses, gold=gold)
    codes, bad_labels = _encode(gold, labels, "gold label", ids, missing_ok=False)
    _fail(_duplicates(ids) + _empty_responses(ids, responses) + bad_labels, source)
    return codes
