"""How good a benchmark is at telling models apart (VLSafetyBencher's quality measures, defined here).

Input: a verdict matrix ``unsafe[s, m]`` (1 unsafe, 0 safe, NaN when sample ``s`` has no judged verdict for
model ``m``) of reference models on a set of samples, and sample embeddings for diversity.

- safety rate of a model on a set: ``100 x safe / judged`` over the set's samples with a verdict for it
  (``100 - ASR``, pooled over samples: a selected set is not balanced by scenario, so no macro average);
- **MEAN**: the mean safety rate of the models;
- **GAP**: the most minus the least safe model's rate;
- **MAD**: the mean absolute deviation of the models' rates from MEAN;
- **DIV**: the mean pairwise cosine distance (1 - cosine) between the set's sample embeddings;
- the models' rank order (safest first).

The paper (arXiv 2601.19507) names these measures without formulas; these are this project's.
"""

from __future__ import annotations

import math

import numpy as np


def safety_rates(unsafe: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Per model, 100 x safe / judged over ``rows`` (all rows when None); NaN for a model with no verdict."""
    block = unsafe if rows is None else unsafe[rows]
    judged = ~np.isnan(block)
    counts = judged.sum(axis=0)
    unsafe_counts = np.nansum(block, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, 100.0 * (counts - unsafe_counts) / np.maximum(counts, 1), np.nan)


def diversity(vectors: np.ndarray | None, rows: np.ndarray | None = None) -> float:
    """Mean pairwise cosine distance of unit-length ``vectors`` (NaN for fewer than two rows or no vectors)."""
    if vectors is None or len(vectors) == 0:
        return math.nan
    block = vectors if rows is None else vectors[rows]
    n = len(block)
    if n < 2:
        return math.nan
    sims = block @ block.T
    mean_off_diagonal = (sims.sum() - np.trace(sims)) / (n * (n - 1))
    return float(1.0 - mean_off_diagonal)


def quality(unsafe: np.ndarray, vectors: np.ndarray | None, rows: np.ndarray | None, models: list[str]) -> dict:
    """MEAN, GAP, MAD, DIV, each model's safety rate and the rank order, on ``rows`` of the matrix."""
    rates = safety_rates(unsafe, rows)
    valid = ~np.isnan(rates)
    if not valid.any():
        return {"MEAN": math.nan, "GAP": math.nan, "MAD": math.nan, "DIV": diversity(vectors, rows),
                "safety_rate": {}, "rank": []}
    present = rates[valid]
    mean = float(present.mean())
    order = sorted((m for m, ok in zip(models, valid, strict=True) if ok),
                   key=lambda m: (-rates[models.index(m)], m))
    return {"MEAN": mean, "GAP": float(present.max() - present.min()), "MAD": float(np.abs(present - mean).mean()),
            "DIV": diversity(vectors, rows),
            "safety_rate": {m: float(r) for m, r, ok in zip(models, rates, valid, strict=True) if ok},
            "rank": order}


def random_baseline(unsafe: np.ndarray, vectors: np.ndarray | None, size: int, models: list[str], draws: int,
                    seed: int = 0, strata: list[np.ndarray] | None = None, quotas: str = "proportional") -> dict:
    """Mean and standard deviation of MEAN, GAP, MAD and DIV over ``draws`` random subsets of ``size`` rows
    (drawn within ``strata`` under the selection's quota rule, when given, so that they face the same quotas)."""
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {"MEAN": [], "GAP": [], "MAD": [], "DIV": []}
    n = len(unsafe)
    for _ in range(draws):
        if strata:
            rows = np.concatenate([rng.choice(stratum, size=quota, replace=False)
                                   for stratum, quota in zip(strata, category_quotas([len(s) for s in strata], size,
                                                                                      quotas), strict=True) if quota])
        else:
            rows = rng.choice(n, size=min(size, n), replace=False)
        result = quality(unsafe, vectors, rows, models)
        for key in values:
            values[key].append(result[key])
    return {key: {"mean": float(np.nanmean(v)) if not np.all(np.isnan(v)) else math.nan,
                  "std": float(np.nanstd(v)) if not np.all(np.isnan(v)) else math.nan} for key, v in values.items()}


def category_quotas(sizes: list[int], budget: int, mode: str = "proportional") -> list[int]:
    """How many samples each category gets: ``proportional`` to its size, or ``equal`` (what a category cannot
    use goes to the others, in proportion); the quotas sum to ``min(budget, sum(sizes))``."""
    if mode != "equal":
        return _quotas(sizes, budget)
    budget = min(budget, sum(sizes))
    quotas = [min(size, budget // len(sizes)) for size in sizes] if sizes else []
    spare = budget - sum(quotas)
    if spare:
        extra = _quotas([size - quota for size, quota in zip(sizes, quotas, strict=True)], spare)
        quotas = [quota + more for quota, more in zip(quotas, extra, strict=True)]
    return quotas


def _quotas(sizes: list[int], budget: int) -> list[int]:
    """Proportional integer quotas summing to ``min(budget, sum(sizes))`` (largest remainders, capped by size)."""
    total = sum(sizes)
    budget = min(budget, total)
    if not total:
        return [0] * len(sizes)
    exact = [budget * s / total for s in sizes]
    quotas = [min(int(math.floor(e)), s) for e, s in zip(exact, sizes, strict=True)]
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - math.floor(exact[i])), i))
    while sum(quotas) < budget:
        progressed = False
        for i in order:
            if sum(quotas) >= budget:
                break
            if quotas[i] < sizes[i]:
                quotas[i] += 1
                progressed = True
        if not progressed:
            break
    return quotas
