"""The canary: a fixed subset of the calibration set, re-judged later to tell whether the judge still
behaves as it did when calibrated (an API model may change behind the same name).

:func:`select_canary` picks the subset. Strata are (gold label, category). With ``balance_labels`` (the
default) the size is split evenly between the gold classes (a class with too few items gives its
unused share to the others), so a rare unsafe class still gets enough items to show a change in
sensitivity; without it, each class gets its share of the set. Within a class, items are spread over
the categories in proportion to their sizes (largest remainders, ties by category name). Within a
stratum the items with the smallest hash of (seed, id) are taken: the subset depends on the ids,
labels, categories and seed only, never on the input's order, and adding items elsewhere moves it little.

:func:`compare_verdicts` compares the stored verdicts (``before``) and the new ones (``after``) on the
same items: flips in each direction (unsafe->safe, safe->unsafe, and verdicts lost or gained to
unjudged), kappa against the gold labels before and after, and the change ``after - before`` with a
paired bootstrap interval (the same resampled items for both). The verdict:

- ``drifted``: the interval excludes 0 and the change is larger than ``threshold`` in size;
- ``stable``: the whole interval lies within [-threshold, threshold];
- ``inconclusive``: neither (too few items to tell); ``undefined``: a kappa is undefined (reason given).

A change either way counts: a calibration whose judge has since improved misstates Se and Sp too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence

import numpy as np

from .agreement import cohen_kappa, kappa_reason
from .inputs import BINARY, MISSING, check_lengths, check_unique_ids, encode
from .resample import LEVEL, RESAMPLES, SEED, bootstrap_tables, interval, rng_for, tabulate

CANARY_SIZE = 100
DRIFT_THRESHOLD = 0.1


def _rank(seed: int, item_id) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}\x1f{item_id}".encode()).digest()[:8], "big")


def _proportional(quota: int, sizes: dict) -> dict:
    """Split ``quota`` over keys in proportion to ``sizes`` (largest remainders; ties by key name)."""
    total = sum(sizes.values())
    if not total:
        return dict.fromkeys(sizes, 0)
    exact = {k: quota * n / total for k, n in sizes.items()}
    share = {k: int(v) for k, v in exact.items()}
    order = sorted(sizes, key=lambda k: (-(exact[k] - share[k]), str(k)))
    for k in order[:quota - sum(share.values())]:
        share[k] += 1
    return share


def _even(quota: int, sizes: dict) -> dict:
    """Split ``quota`` evenly over keys, none above its size; what a small key cannot use goes to the rest."""
    share = dict.fromkeys(sizes, 0)
    left = min(quota, sum(sizes.values()))
    while left:
        open_keys = sorted((k for k in sizes if share[k] < sizes[k]), key=str)
        each, extra = divmod(left, len(open_keys))
        for i, k in enumerate(open_keys):
            take = min(each + (i < extra), sizes[k] - share[k])
            share[k] += take
            left -= take
    return share


def select_canary(ids: Sequence, gold: Sequence, categories: Sequence | None = None, *, size: int = CANARY_SIZE,
                  seed: int = SEED, balance_labels: bool = True, labels: Sequence[Hashable] = BINARY) -> list:
    """The ids of the canary subset (see the module docstring), in hash order; every id when ``size`` is
    at least the set's size."""
    check_lengths("the canary's source set", ids=ids, gold=gold, categories=categories)
    check_unique_ids(ids, "the canary's source set")
    codes = encode(gold, labels, what="gold label", ids=ids, source="the canary's source set").tolist()
    categories = [str(c) for c in categories] if categories is not None else [""] * len(ids)
    strata: dict[tuple, list] = {}
    for item_id, cls, category in zip(ids, codes, categories, strict=True):
        strata.setdefault((cls, category), []).append(item_id)
    class_sizes: dict[int, int] = {}
    for (cls, _), members in strata.items():
        class_sizes[cls] = class_sizes.get(cls, 0) + len(members)
    size = min(size, len(ids))
    per_class = _even(size, class_sizes) if balance_labels else _proportional(size, class_sizes)
    chosen = []
    for cls, quota in per_class.items():
        within = _proportional(quota, {cat: len(m) for (c, cat), m in strata.items() if c == cls})
        for category, count in within.items():
            chosen += sorted(strata[(cls, category)], key=lambda i: _rank(seed, i))[:count]
    return sorted(chosen, key=lambda i: (_rank(seed, i), str(i)))


def compare_verdicts(gold: Sequence, before: Sequence, after: Sequence, *, ids: Sequence | None = None,
                     threshold: float = DRIFT_THRESHOLD, resamples: int = RESAMPLES, seed: int = SEED,
                     level: float = LEVEL, source: str = "the canary") -> dict:
    """Flips and the kappa change between two verdict sets on the same items (see the module docstring):
    ``items``, ``flips`` ({unsafe_to_safe, safe_to_unsafe, judged_to_unjudged, unjudged_to_judged}),
    ``flipped_ids`` (the same keys, when ``ids`` are given), ``kappa_before``, ``kappa_after``,
    ``change`` ({value, low, high}), ``verdict``, ``reason``, ``threshold``."""
    check_lengths(source, gold=gold, before=before, after=after, ids=ids)
    gold = encode(gold, BINARY, what="gold label", ids=ids, source=source)
    before = encode(before, BINARY, what="stored verdict", ids=ids, missing_ok=True, source=source)
    after = encode(after, BINARY, what="new verdict", ids=ids, missing_ok=True, source=source)
    kinds = {"unsafe_to_safe": (before == 1) & (after == 0), "safe_to_unsafe": (before == 0) & (after == 1),
             "judged_to_unjudged": (before != MISSING) & (after == MISSING),
             "unjudged_to_judged": (before == MISSING) & (after != MISSING)}
    out = {"items": len(gold), "flips": {k: int(mask.sum()) for k, mask in kinds.items()}}
    if ids is not None:
        out["flipped_ids"] = {k: [ids[i] for i in np.flatnonzero(mask)] for k, mask in kinds.items()}
    columns, classes = [gold, before, after], [2, 2, 2]
    observed = tabulate(columns, classes)[1:]  # gold is never missing
    table_before, table_after = observed.sum(axis=2)[:, 1:], observed.sum(axis=1)[:, 1:]
    kappa_before, kappa_after = float(cohen_kappa(table_before)), float(cohen_kappa(table_after))
    out.update(kappa_before=kappa_before, kappa_after=kappa_after, threshold=threshold)
    reasons = [f"kappa {when}: {r}" for when, t in (("before", table_before), ("after", table_after))
               if (r := kappa_reason(t))]
    if reasons:
        return {**out, "change": {"value": float("nan"), "low": float("nan"), "high": float("nan")},
                "verdict": "undefined", "reason": "; ".join(reasons)}
    draws = bootstrap_tables(columns, classes, strata=gold, resamples=resamples, rng=rng_for(seed))[:, 1:]
    change_draws = cohen_kappa(draws.sum(axis=2)[..., 1:]) - cohen_kappa(draws.sum(axis=3)[..., 1:])
    low, high = (float(x) for x in interval(change_draws, level))
    change = kappa_after - kappa_before
    if (low > 0 or high < 0) and abs(change) > threshold:
        verdict, reason = "drifted", f"kappa moved by {change:+.3f}, beyond ±{threshold} and outside chance"
    elif -threshold <= low and high <= threshold:
        verdict, reason = "stable", None
    else:
        verdict, reason = "inconclusive", (f"the {100 * level:g}% interval of the kappa change [{low:+.3f}, {high:+.3f}] "
                                           f"neither stays within ±{threshold} nor shows a change beyond it")
    return {**out, "change": {"value": change, "low": low, "high": high}, "verdict": verdict, "reason": reason}
