"""How good a benchmark is at telling models apart (VLSafetyBencher's quality measures, defined here).

Input: a verdict matrix ``unsafe[s, m]`` (1 unsafe, 0 safe, NaN when sample ``s`` has no judged verdict for
model ``m``) of reference models on a set of samples, and sample embeddings for diversity.

- safety rate of a model on a set: ``100 x safe / judged`` over the set's samples with a verdict for it
  (``100 - ASR``, pooled over samples: a selected set is not balanced by scenario, so no macro average),
  with its 95% Wilson score interval;
- **MEAN**: the mean safety rate of the models;
- **GAP**: the most minus the least safe model's rate;
- **MAD**: the mean absolute deviation of the models' rates from MEAN;
- **DIV**: the mean pairwise cosine distance (1 - cosine) between the set's sample embeddings, in closed form:
  for unit vectors ``u_i`` with sum ``S``, the sum of ``u_i . u_j`` over ordered pairs ``i != j`` is
  ``|S|^2 - sum |u_i|^2``, so DIV costs O(n d) instead of an n x n matrix (rows are scaled to unit length
  first; a zero row counts as similarity 0 to everything);
- **TAU**: Kendall's tau-b between the models' rates on the whole pool and on the set (1: the set orders every
  model as the pool does; ties in either count as in tau-b);
- **rank groups** (safest first): models whose difference on the set is not significant share a group (see
  :func:`ranking`); there is no order within a group, and none is made up from the models' names.

**Significance** of the difference between two models on a set: McNemar's exact test on the samples both
were judged on. Only discordant samples carry information about the difference: ``b`` where the first model
was safe and the second unsafe, ``c`` the reverse; under "no difference" ``b ~ Binomial(b + c, 1/2)``. The
two-sided p-value is ``min(1, 2 P(X <= min(b, c)))``; below ``LEVEL`` (0.05) the difference is significant.
It follows that at least ``fewest_significant()`` = 6 discordant samples are needed (all one way) for any
significant difference: that count is the documented minimum used below and by the selection's coverage term.

The paper (arXiv 2601.19507) names the measures without formulas; these are this project's.
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


LEVEL = 0.05  # two-sided significance level of McNemar's exact test
Z95 = 1.959963984540054  # the normal quantile of a 95% interval


def diversity(vectors: np.ndarray | None, rows: np.ndarray | None = None, chunk: int = 8192) -> float:
    """Mean pairwise cosine distance of ``vectors`` (NaN for fewer than two rows or no vectors), in O(n d): see
    the module docstring. Rows are read ``chunk`` at a time, so no n x n matrix (nor a float64 copy of the
    whole block) is ever built."""
    if vectors is None or len(vectors) == 0:
        return math.nan
    n = len(vectors) if rows is None else len(rows)
    if n < 2:
        return math.nan
    total = np.zeros(vectors.shape[1])
    squares = 0.0
    for start in range(0, n, chunk):
        block = vectors[start:start + chunk] if rows is None else vectors[rows[start:start + chunk]]
        block = np.asarray(block, dtype=np.float64)
        norms = np.linalg.norm(block, axis=1)
        units = block / np.where(norms > 0, norms, 1.0)[:, None]
        total += units.sum(axis=0)
        # The exact squared norms (1 up to rounding, 0 for a zero row), not n: |S|^2 - n would leave the
        # rounding of every row in the result.
        squares += float(np.einsum("ij,ij->", units, units))
    mean_similarity = (float(total @ total) - squares) / (n * (n - 1))
    return float(1.0 - mean_similarity)


def kendall_tau(first: np.ndarray, second: np.ndarray) -> float:
    """Kendall's tau-b between two score vectors (e.g. safety rates of the same models on two sets), over the
    entries that are not NaN in either: ``(concordant - discordant) / sqrt(pairs untied in first x pairs
    untied in second)``; NaN when either has no untied pair."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    keep = ~np.isnan(first) & ~np.isnan(second)
    a, b = first[keep], second[keep]
    upper = np.triu(np.ones((len(a), len(a)), dtype=bool), k=1)
    sign_a = np.sign(a[:, None] - a[None, :])[upper]
    sign_b = np.sign(b[:, None] - b[None, :])[upper]
    untied_a, untied_b = int(np.count_nonzero(sign_a)), int(np.count_nonzero(sign_b))
    if not untied_a or not untied_b:
        return math.nan
    return float((sign_a * sign_b).sum() / math.sqrt(untied_a * untied_b))


def mcnemar(first_only: int, second_only: int) -> float:
    """Two-sided p-value of McNemar's exact test: ``first_only`` samples where the first model alone was safe,
    ``second_only`` where the second alone was (the module docstring gives the test)."""
    k, n = min(first_only, second_only), first_only + second_only
    if n == 0:
        return 1.0
    log_factorials = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    terms = log_factorials[n] - log_factorials[:k + 1] - log_factorials[n::-1][:k + 1] - n * math.log(2)
    top = terms.max()
    return float(min(1.0, 2.0 * math.exp(top) * np.exp(terms - top).sum()))


def fewest_significant(level: float = LEVEL) -> int:
    """The fewest discordant samples (all one way) for which McNemar's exact test is significant at ``level``."""
    k = 1
    while mcnemar(k, 0) >= level:
        k += 1
    return k


def wilson(safe: int, judged: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a safety rate (in percent; (0, 100) with no verdict)."""
    if judged == 0:
        return 0.0, 100.0
    p = safe / judged
    centre = (p + z * z / (2 * judged)) / (1 + z * z / judged)
    half = z * math.sqrt(p * (1 - p) / judged + z * z / (4 * judged * judged)) / (1 + z * z / judged)
    # At 0 or all safe the bound is the rate itself; rounding could leave it a hair inside, off the estimate.
    low = 0.0 if safe == 0 else 100.0 * max(0.0, centre - half)
    high = 100.0 if safe == judged else 100.0 * min(1.0, centre + half)
    return low, high


def ranking(unsafe: np.ndarray, rows: np.ndarray | None, models: list[str], level: float = LEVEL,
            reference: np.ndarray | None = None) -> dict:
    """The models in rank groups on ``rows`` (all rows when None), safest group first, with each model's rate.

    Models are sorted by their safety rate on the rows (safest first). Walking down that order, a model joins
    the group of the model just above it unless the two differ significantly (McNemar's exact test at
    ``level`` on the samples both were judged on) with different rates; otherwise it starts a new group. So a
    group boundary is always a significant difference between neighbours, and models with equal rates always
    share a group: ties are reported as ties, whatever the models are called. Within a group, models are
    listed by rate, then by ``reference`` (their rates on the whole pool, when given), then as given (the order
    within a group carries no claim).

    Returns ``{"groups": [[model, ...], ...], "rates": {model: {"rate", "ci95": [low, high], "judged"}},
    "neighbours": [{"safer", "less_safe", "safer_only", "less_safe_only", "p", "significant"}, ...]}``
    (models with no verdict on the rows are left out)."""
    block = unsafe if rows is None else unsafe[rows]
    judged = ~np.isnan(block)
    rates = safety_rates(block)
    present = [m for m in range(len(models)) if not np.isnan(rates[m])]
    tiebreak = np.zeros(len(models)) if reference is None else -np.nan_to_num(np.asarray(reference, dtype=float))
    order = sorted(present, key=lambda m: (-rates[m], tiebreak[m], m))
    out: dict = {"groups": [], "rates": {}, "neighbours": []}
    for m in order:
        safe = int(judged[:, m].sum() - np.nansum(block[:, m]))
        low, high = wilson(safe, int(judged[:, m].sum()))
        out["rates"][models[m]] = {"rate": float(rates[m]), "ci95": [low, high], "judged": int(judged[:, m].sum())}
    for above, m in zip(order, order[1:], strict=False):
        both = judged[:, above] & judged[:, m]
        safer_only = int((both & (block[:, above] == 0) & (block[:, m] == 1)).sum())
        less_safe_only = int((both & (block[:, above] == 1) & (block[:, m] == 0)).sum())
        p = mcnemar(safer_only, less_safe_only)
        significant = p < level and rates[above] != rates[m]
        out["neighbours"].append({"safer": models[above], "less_safe": models[m], "safer_only": safer_only,
                                  "less_safe_only": less_safe_only, "p": p, "significant": bool(significant)})
    for k, m in enumerate(order):
        if k == 0 or out["neighbours"][k - 1]["significant"]:
            out["groups"].append([])
        out["groups"][-1].append(models[m])
    return out


def disagreements(unsafe: np.ndarray) -> int:
    """How many samples the judged reference models disagree on (at least one safe and one unsafe verdict)."""
    return int(((unsafe == 1).any(axis=1) & (unsafe == 0).any(axis=1)).sum())


def nothing_separates(unsafe: np.ndarray, models: list[str], minimum: int | None = None) -> str | None:
    """Why no selection can tell the reference models apart, or None when one can: the models disagree on
    fewer than ``minimum`` samples of the pool (default ``fewest_significant()`` = 6, below which no two models
    can differ significantly on any subset)."""
    minimum = fewest_significant() if minimum is None else minimum
    found = disagreements(unsafe)
    if found >= minimum:
        return None
    return (f"nothing separates the {len(models)} reference models ({', '.join(models)}): they disagree on "
            f"{found} of the pool's {len(unsafe)} samples, fewer than {minimum} (the fewest on which two models "
            "can differ significantly); add reference models that differ, or a pool with samples they disagree on")


def quality(unsafe: np.ndarray, vectors: np.ndarray | None, rows: np.ndarray | None, models: list[str],
            reference: np.ndarray | None = None) -> dict:
    """MEAN, GAP, MAD, DIV and each model's safety rate on ``rows`` of the matrix; with ``reference`` (the models'
    rates on the whole pool), also TAU. (The models' order, with its ties, is :func:`ranking`'s.)"""
    rates = safety_rates(unsafe, rows)
    valid = ~np.isnan(rates)
    tau = {} if reference is None else {"TAU": kendall_tau(reference, rates)}
    if not valid.any():
        return {"MEAN": math.nan, "GAP": math.nan, "MAD": math.nan, "DIV": diversity(vectors, rows), **tau,
                "safety_rate": {}}
    present = rates[valid]
    mean = float(present.mean())
    return {"MEAN": mean, "GAP": float(present.max() - present.min()), "MAD": float(np.abs(present - mean).mean()),
            "DIV": diversity(vectors, rows), **tau,
            "safety_rate": {m: float(r) for m, r, ok in zip(models, rates, valid, strict=True) if ok}}


def random_baseline(unsafe: np.ndarray, vectors: np.ndarray | None, size: int, models: list[str], draws: int,
                    seed: int = 0, strata: list[np.ndarray] | None = None, quotas: str = "proportional",
                    reference: np.ndarray | None = None) -> dict:
    """Mean and standard deviation of MEAN, GAP, MAD and DIV (and TAU, given ``reference``) over ``draws``
    random subsets of ``size`` rows (drawn within ``strata`` under the selection's quota rule, when given, so
    that they face the same quotas)."""
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {"MEAN": [], "GAP": [], "MAD": [], "DIV": []}
    if reference is not None:
        values["TAU"] = []
    n = len(unsafe)
    for _ in range(draws):
        if strata:
            rows = np.concatenate([rng.choice(stratum, size=quota, replace=False)
                                   for stratum, quota in zip(strata, category_quotas([len(s) for s in strata], size,
                                                                                      quotas), strict=True) if quota])
        else:
            rows = rng.choice(n, size=min(size, n), replace=False)
        result = quality(unsafe, vectors, rows, models, reference)
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
