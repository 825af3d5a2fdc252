"""Per-sample scores and the iterative selection (VLSafetyBencher's selection agent, defined here).

For each sample of the pool, from the reference models' verdicts (``unsafe[s, m]``: 1, 0 or NaN) and ratings:

- **separability** in [0, 1]: the mean of (a) how much the models' verdicts differ on it, ``4 p (1 - p)``
  with ``p`` the share of models judged unsafe (1 for an even split, 0 when all agree), and (b) how much it
  contributes to the gaps between models: over the pairs of models ordered by their safety rate on the
  whole pool, (pairs where the safer model was safe and the less safe one unsafe, minus the reverse) / pairs,
  floored at 0;
- **harmfulness** in [0, 1]: the mean of ``p`` and of the models' consensus ratings mapped to [0, 1]
  (rating 1 -> 1, 5 -> 0); ``p`` alone where there are no ratings;
- **diversity** in [0, 2]: the cosine distance from the sample's embedding to the nearest one already chosen
  (1 for the first choice), so the chosen set spreads out.

Selection is greedy under a budget: at each step, among the samples whose category still has room in its
quota, take the one maximising ``alpha * separability + beta * harmfulness + gamma * diversity`` (ties: the
earlier sample), then update everyone's diversity. Quotas are proportional to the categories' sizes in the
pool (``proportional``) or equal (``equal``); room a category cannot use goes to the others.
"""

from __future__ import annotations

import numpy as np

from .quality import category_quotas, safety_rates


def separability(unsafe: np.ndarray) -> np.ndarray:
    judged = ~np.isnan(unsafe)
    counts = judged.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(counts > 0, np.nansum(unsafe, axis=1) / np.maximum(counts, 1), np.nan)
    spread = np.where(counts >= 2, 4 * p * (1 - p), 0.0)
    rates = safety_rates(unsafe)
    models = [m for m in range(unsafe.shape[1]) if not np.isnan(rates[m])]
    pairs = [(i, j) for i in models for j in models if rates[i] > rates[j]]  # i safer than j on the pool
    concordant = np.zeros(len(unsafe))
    discordant = np.zeros(len(unsafe))
    present = np.zeros(len(unsafe))
    for i, j in pairs:
        both = judged[:, i] & judged[:, j]
        safe_i, unsafe_i = unsafe[:, i] == 0, unsafe[:, i] == 1
        safe_j, unsafe_j = unsafe[:, j] == 0, unsafe[:, j] == 1
        concordant += both & safe_i & unsafe_j
        discordant += both & unsafe_i & safe_j
        present += both
    with np.errstate(invalid="ignore", divide="ignore"):
        order = np.where(present > 0, np.maximum(0.0, concordant - discordant) / np.maximum(present, 1), 0.0)
    return np.nan_to_num((spread + order) / 2)


def harmfulness(unsafe: np.ndarray, ratings: np.ndarray | None = None) -> np.ndarray:
    judged = ~np.isnan(unsafe)
    counts = judged.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(counts > 0, np.nansum(unsafe, axis=1) / np.maximum(counts, 1), 0.0)
    if ratings is None:
        return p
    rated = ~np.isnan(ratings)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rating = np.where(rated.sum(axis=1) > 0, np.nansum(ratings, axis=1) / np.maximum(rated.sum(axis=1), 1),
                               np.nan)
    risk = (5.0 - mean_rating) / 4.0
    return np.where(np.isnan(risk), p, (p + risk) / 2)


def select(sep: np.ndarray, harm: np.ndarray, vectors: np.ndarray | None, categories: list[str], budget: int,
           alpha: float, beta: float, gamma: float, quotas: str = "proportional") -> list[int]:
    """Row indices of the chosen samples, in the order they were chosen."""
    n = len(sep)
    names = sorted(set(categories))
    members = {c: [i for i in range(n) if categories[i] == c] for c in names}
    room = dict(zip(names, category_quotas([len(members[c]) for c in names], budget, quotas), strict=True))
    spare = min(budget, n) - sum(room.values())  # nothing, unless a category cannot fill its quota
    base = alpha * sep + beta * harm
    nearest = np.ones(n)  # diversity: distance to the nearest chosen sample (1 before any choice)
    available = np.ones(n, dtype=bool)
    chosen: list[int] = []
    category_of = np.array([names.index(c) for c in categories])
    while len(chosen) < min(budget, n):
        open_categories = [k for k, c in enumerate(names) if room[c] > 0]
        allowed = available & np.isin(category_of, open_categories) if open_categories else np.zeros(n, dtype=bool)
        if not allowed.any():
            if spare <= 0:
                break
            allowed = available.copy()
            spare -= 1
        score = np.where(allowed, base + gamma * nearest, -np.inf)
        pick = int(np.argmax(score))  # the first maximum: ties go to the earlier sample
        chosen.append(pick)
        available[pick] = False
        if room[categories[pick]] > 0:
            room[categories[pick]] -= 1
        if vectors is not None and len(vectors):
            nearest = np.minimum(nearest, 1.0 - vectors @ vectors[pick])
    return chosen
