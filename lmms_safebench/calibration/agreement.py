"""How well a judge's verdicts agree with gold labels: confusion counts, Cohen's kappa and the binary
rates, each with a bootstrap interval, overall and per category.

Inputs are aligned sequences: ``gold`` (required for every item, values in ``labels``) and ``predicted``
(values in ``labels``, or None/NaN: unjudged). Unjudged items are left out of every rate and counted
apart, per gold class and, when ``causes`` are given, per cause: a judge failure is never a safe verdict.

Definitions, over the judged items (m of them), with the table t[gold][verdict]:

- accuracy: share of items whose verdict equals the gold label;
- Cohen's kappa: (p_o - p_e) / (1 - p_e), where p_o is the accuracy and p_e the agreement two raters
  would reach by chance with the same label frequencies, the sum over classes of
  (gold share of the class) x (verdict share of the class). Undefined (NaN, with a reason) when the
  judged items' gold labels have one class only: then p_e equals p_o whatever the judge does, so kappa
  cannot tell a good judge from a bad one (and when the verdicts have that one class too, p_e is 1);
- binary (code 1 = positive, "unsafe"): sensitivity = TP / (TP + FN) (recall on unsafe items),
  specificity = TN / (TN + FP), precision = TP / (TP + FP), F1 = 2 TP / (2 TP + FP + FN); each is NaN
  with a reason when its denominator is 0;
- prevalence: the positive share of the gold labels of all items (judged or not): a property of the set,
  given without an interval.

Intervals: percentile bootstrap (:mod:`.resample`), by default stratified by gold class, so each
resample keeps the set's class sizes: the interval measures the judge's variability on a set like this
one. Resamples in which a rate is undefined are left out of its interval.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from .inputs import BINARY, MISSING, check_lengths, encode
from .resample import LEVEL, RESAMPLES, SEED, bootstrap_tables, interval, rng_for, tabulate

BINARY_METRICS = ("kappa", "accuracy", "sensitivity", "specificity", "precision", "f1")
MULTICLASS_METRICS = ("kappa", "accuracy")
ONE_CLASS = ("the gold labels of the judged items have one class only: kappa measures agreement beyond "
             "chance, which is undefined without both classes")
NO_JUDGED = "no judged item"


def _ratio(numerator, denominator) -> np.ndarray:
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def cohen_kappa(table) -> np.ndarray:
    """Cohen's kappa of K x K tables (rows gold, columns verdicts), over any leading axes; NaN when undefined
    (see :func:`kappa_reason`)."""
    t = np.asarray(table, dtype=float)
    m = t.sum(axis=(-2, -1))
    rows, cols = t.sum(axis=-1), t.sum(axis=-2)
    p_o = _ratio(np.trace(t, axis1=-2, axis2=-1), m)
    p_e = _ratio((rows * cols).sum(axis=-1), m * m)
    defined = (m > 0) & ((rows > 0).sum(axis=-1) >= 2) & (p_e < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(defined, (p_o - p_e) / np.where(defined, 1 - p_e, 1), np.nan)


def kappa_reason(table) -> str | None:
    """Why the kappa of one table is undefined, or None when it is defined."""
    t = np.asarray(table)
    if t.sum() == 0:
        return NO_JUDGED
    if (t.sum(axis=1) > 0).sum() < 2:
        return ONE_CLASS
    return None


def binary_metrics(table) -> dict[str, np.ndarray]:
    """:data:`BINARY_METRICS` of 2 x 2 tables (rows gold, columns verdicts; index 1 positive), over any
    leading axes."""
    t = np.asarray(table, dtype=float)
    tn, fp, fn, tp = t[..., 0, 0], t[..., 0, 1], t[..., 1, 0], t[..., 1, 1]
    return {"kappa": cohen_kappa(t), "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
            "sensitivity": _ratio(tp, tp + fn), "specificity": _ratio(tn, tn + fp),
            "precision": _ratio(tp, tp + fp), "f1": _ratio(2 * tp, 2 * tp + fp + fn)}


def binary_reasons(table) -> dict[str, str]:
    """Why each undefined binary metric of one 2 x 2 table is undefined."""
    t = np.asarray(table)
    (tn, fp), (fn, tp) = t
    reasons = {"kappa": kappa_reason(t), "accuracy": NO_JUDGED if t.sum() == 0 else None,
               "sensitivity": "no judged item is gold-positive" if tp + fn == 0 else None,
               "specificity": "no judged item is gold-negative" if tn + fp == 0 else None,
               "precision": "the judge gave no positive verdict" if tp + fp == 0 else None,
               "f1": "no gold-positive item and no positive verdict" if 2 * tp + fp + fn == 0 else None}
    return {name: reason for name, reason in reasons.items() if reason}


def multiclass_metrics(table) -> dict[str, np.ndarray]:
    """:data:`MULTICLASS_METRICS` of K x K tables, over any leading axes."""
    t = np.asarray(table, dtype=float)
    return {"kappa": cohen_kappa(t), "accuracy": _ratio(np.trace(t, axis1=-2, axis2=-1), t.sum(axis=(-2, -1)))}


def multiclass_reasons(table) -> dict[str, str]:
    t = np.asarray(table)
    reasons = {"kappa": kappa_reason(t), "accuracy": NO_JUDGED if t.sum() == 0 else None}
    return {name: reason for name, reason in reasons.items() if reason}


@dataclass(frozen=True)
class Confusion:
    """Counts of one labelled set: ``table[g][v]`` judged items with gold class g and verdict v, and
    ``unjudged[g]`` items of gold class g without a verdict (classes in the order of ``labels``)."""

    labels: tuple
    table: np.ndarray
    unjudged: np.ndarray

    @property
    def items(self) -> int:
        return int(self.table.sum() + self.unjudged.sum())

    @property
    def judged(self) -> int:
        return int(self.table.sum())

    def counts(self) -> dict[str, int]:
        """``tp``, ``fp``, ``fn``, ``tn`` of a binary table."""
        (tn, fp), (fn, tp) = self.table.tolist()
        return {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def _codes(gold, predicted, labels, ids, source) -> tuple[np.ndarray, np.ndarray]:
    check_lengths(source, gold=gold, predicted=predicted, ids=ids)
    return (encode(gold, labels, what="gold label", ids=ids, source=source),
            encode(predicted, labels, what="verdict", ids=ids, missing_ok=True, source=source))


def _confusion(gold: np.ndarray, predicted: np.ndarray, labels: tuple) -> Confusion:
    observed = tabulate([gold, predicted], [len(labels)] * 2)
    return Confusion(labels, observed[1:, 1:], observed[1:, 0])


def confusion(gold: Sequence, predicted: Sequence, labels: Sequence[Hashable] = BINARY, *,
              ids: Sequence | None = None, source: str = "the labelled set") -> Confusion:
    """Confusion counts of ``predicted`` against ``gold`` (unjudged counted apart)."""
    labels = tuple(labels)
    return _confusion(*_codes(gold, predicted, labels, ids, source), labels)


def _summary(gold, predicted, labels, causes, metrics_fn, reasons_fn, stratify, resamples, seed, level) -> dict:
    counts = _confusion(gold, predicted, labels)
    values = metrics_fn(counts.table)
    draws = bootstrap_tables([gold, predicted], [len(labels)] * 2, strata=gold if stratify else None,
                             resamples=resamples, rng=rng_for(seed))
    low, high = interval(np.stack(list(metrics_fn(draws[:, 1:, 1:]).values()), axis=1), level)
    shares = _ratio(counts.table.sum(axis=1) + counts.unjudged, counts.items)
    out = {"items": counts.items, "judged": counts.judged, "unjudged": int(counts.unjudged.sum()),
           "unjudged_by_gold": dict(zip(labels, counts.unjudged.tolist(), strict=True)),
           "gold_share": dict(zip(labels, shares.tolist(), strict=True)),
           "confusion": counts.table.tolist(),
           "metrics": {name: {"value": float(values[name]), "low": float(lo), "high": float(hi)}
                       for name, lo, hi in zip(values, low, high, strict=True)},
           "undefined": reasons_fn(counts.table)}
    if causes is not None:
        out["unjudged_by_cause"] = dict(sorted(Counter(
            str(causes[i]) if causes[i] is not None else "unknown" for i in np.flatnonzero(predicted == MISSING)
        ).items()))
    if len(labels) == 2:
        out["prevalence"] = float(shares[1])
        out["counts"] = counts.counts()
    return out


def _report(gold, predicted, labels, ids, categories, causes, metrics_fn, reasons_fn, stratify, resamples, seed,
            level, source) -> dict:
    labels = tuple(labels)
    check_lengths(source, gold=gold, predicted=predicted, ids=ids, categories=categories, causes=causes)
    gold, predicted = _codes(gold, predicted, labels, ids, source)
    causes = list(causes) if causes is not None else None
    args = (metrics_fn, reasons_fn, stratify, resamples, seed, level)
    report = _summary(gold, predicted, labels, causes, *args)
    report["ci"] = {"level": level, "resamples": resamples, "seed": seed,
                    "stratified_by": "gold label" if stratify else None}
    if categories is not None:
        categories = np.asarray([str(c) for c in categories])
        report["by_category"] = {}
        for category in sorted(set(categories.tolist())):
            mask = categories == category
            sub_causes = [c for c, keep in zip(causes, mask, strict=True) if keep] if causes is not None else None
            report["by_category"][category] = _summary(gold[mask], predicted[mask], labels, sub_causes, *args)
    return report


def binary_report(gold: Sequence, predicted: Sequence, *, labels: Sequence[Hashable] = BINARY,
                  ids: Sequence | None = None, categories: Sequence | None = None, causes: Sequence | None = None,
                  stratify: bool = True, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL,
                  source: str = "the labelled set") -> dict:
    """Every number of a judge on a binary labelled set (``labels[1]`` positive), as a JSON-ready dict:
    ``items``, ``judged``, ``unjudged``, ``unjudged_by_gold``, ``unjudged_by_cause`` (when ``causes`` are
    given; None counts as "unknown"), ``prevalence``, ``gold_share``, ``counts`` (tp/fp/fn/tn),
    ``confusion`` (rows gold, columns verdicts), ``metrics`` ({name: {value, low, high}} for
    :data:`BINARY_METRICS`), ``undefined`` ({name: reason}), ``ci`` (how the intervals were made) and,
    when ``categories`` are given, ``by_category`` ({category: the same without ``ci``})."""
    return _report(gold, predicted, labels, ids, categories, causes, binary_metrics, binary_reasons, stratify,
                   resamples, seed, level, source)


def agreement_report(gold: Sequence, predicted: Sequence, labels: Sequence[Hashable], *,
                     ids: Sequence | None = None, categories: Sequence | None = None,
                     causes: Sequence | None = None, stratify: bool = True, resamples: int = RESAMPLES,
                     seed: int = SEED, level: float = LEVEL, source: str = "the labelled set") -> dict:
    """Agreement of two raters over any number of classes (e.g. a 3-class refusal protocol, or two human
    annotators: their kappa is the ceiling a judge can be expected to reach): the keys of
    :func:`binary_report` with ``metrics`` limited to :data:`MULTICLASS_METRICS` and no ``counts`` or
    ``prevalence`` unless there are two labels."""
    return _report(gold, predicted, labels, ids, categories, causes, multiclass_metrics, multiclass_reasons,
                   stratify, resamples, seed, level, source)


def collapse(values: Sequence, positive: Sequence[Hashable], labels: Sequence[Hashable], *, what: str = "label",
             ids: Sequence | None = None, source: str = "the labelled set") -> list[int | None]:
    """Binary view of a multi-class column: 1 for a value in ``positive``, 0 for any other allowed value,
    None stays None (unjudged). E.g. a refusal protocol (full compliance / partial refusal / full refusal)
    collapsed to "complied at all" with ``positive=("full_compliance", "partial_refusal")``."""
    labels = tuple(labels)
    unknown = [p for p in positive if p not in labels]
    if unknown:
        raise ValueError(f"positive labels {unknown!r} are not among {tuple(labels)!r}")
    codes = encode(values, labels, what=what, ids=ids, missing_ok=True, source=source)
    positive_codes = {labels.index(p) for p in positive}
    return [None if c == MISSING else int(c in positive_codes) for c in codes.tolist()]
