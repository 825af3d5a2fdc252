"""The bootstrap of the calibration statistics: items resampled with replacement, drawn as cell counts.

Every statistic here depends on the items only through a *table*: how many items fall in each cell, a
cell being one combination of the item's codes (gold label, verdict, a second verdict...). Drawing n
items with replacement from a set whose cells hold c_1..c_m items gives cell counts distributed
Multinomial(n, c_1/n, ..., c_m/n); drawing those counts directly is therefore the same bootstrap as
drawing items, at a cost that does not grow with n (1,000 resamples of any set take milliseconds).

Stratified: each stratum (e.g. the gold class) keeps its own size and is resampled from its own items,
so every resample has the set's class balance (a rare class cannot vanish from a resample).

Tables: a column with ``k`` classes gets ``k + 1`` slots, slot 0 for MISSING (unjudged) and slot
``code + 1`` for each class; :func:`tabulate` returns the observed table of shape ``(k1 + 1, k2 + 1, ...)``,
:func:`bootstrap_tables` the resampled tables with a leading axis of length ``resamples``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95


def _cells(columns: Sequence[np.ndarray], classes: Sequence[int]) -> tuple[np.ndarray, tuple[int, ...]]:
    shape = tuple(k + 1 for k in classes)
    if not columns or len(columns[0]) == 0:
        return np.zeros(0, dtype=np.int64), shape
    return np.ravel_multi_index(tuple(np.asarray(c) + 1 for c in columns), shape), shape


def tabulate(columns: Sequence[np.ndarray], classes: Sequence[int]) -> np.ndarray:
    """Observed table of item counts per cell (see the module docstring)."""
    flat, shape = _cells(columns, classes)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)


def bootstrap_tables(columns: Sequence[np.ndarray], classes: Sequence[int], *, strata: np.ndarray | None = None,
                     resamples: int = RESAMPLES, rng: np.random.Generator) -> np.ndarray:
    """``resamples`` bootstrap tables, shape ``(resamples, *table shape)``; ``strata`` (one key per item)
    resamples each stratum apart, keeping its size."""
    flat, shape = _cells(columns, classes)
    size = int(np.prod(shape))
    draws = np.zeros((resamples, size), dtype=np.int64)
    groups = [flat] if strata is None else [flat[strata == s] for s in np.unique(strata)]
    for cells in groups:
        observed = np.bincount(cells, minlength=size)
        n = int(observed.sum())
        if n:
            draws += rng.multinomial(n, observed / n, size=resamples)
    return draws.reshape((resamples, *shape))


def interval(draws: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring NaN resamples (a statistic undefined in a resample, e.g.
    precision when a resample has no positive verdict); all-NaN gives NaN."""
    tail = 100 * (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN is the answer
        low, high = np.nanpercentile(np.asarray(draws, dtype=float), [tail, 100 - tail], axis=0)
    return low, high


def rng_for(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
