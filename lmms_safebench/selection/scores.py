"""Per-sample scores and the iterative selection (VLSafetyBencher's selection agent, defined here).

For each sample of the pool, from the reference models' verdicts (``unsafe[s, m]``: 1, 0 or NaN) and ratings:

- **separability** in [0, 1]: the mean of (a) how much the models' verdicts differ on it, ``4 p (1 - p)``
  with ``p`` the share of models judged unsafe (1 for an even split, 0 when all agree), and (b) how much it
  contributes to the gaps between models: over the pairs of models ordered by their safety rate on the
  whole pool, (pairs where the safer model was safe and the less safe one unsafe, minus the reverse) / pairs,
  floored at 0;
- **harmfulness** in [0, 1]: the mean of ``p`` and of the models' consensus ratings mapped to [0, 1]
  (rating 1 -> 1, 5 -> 0); ``p`` alone where there are no ratings;
- **diversity** in [0, 1]: the cosine distance from the sample's embedding to the nearest one already chosen,
  capped at 1 (1 for the first choice), so the chosen set spreads out;
- **coverage** (with a separation matrix, :func:`separation_matrix`): keeps every distinction the pool makes.
  Take the models in the pool's order (safety rate, safest first) and each pair of neighbours in it whose
  rates differ. A sample *separates* such a pair when both models were judged on it and the safer one was
  safe and the less safe one unsafe (+1); the reverse (the safer one unsafe, the other safe) works against
  the pair (-1). A pair is *covered* when the chosen samples' net count (+1s minus -1s) reaches its need:
  ``minimum`` (default ``quality.fewest_significant()`` = 6, the fewest one-way samples McNemar's exact test
  finds significant), capped by the pool's own +1 samples for the pair. A candidate's coverage gain is the
  number of uncovered pairs it separates, minus the pairs at or below their need that it works against
  (choosing it would open or widen their shortfall); it enters the objective with weight ``coverage``
  (default 1.0: one uncovered pair weighs at least as much as the other terms together, which are at most
  ``alpha + beta + gamma`` = 1 with the default weights). Once every pair is covered, only the penalty remains.

Selection is greedy under a budget: at each step, among the samples whose category still has room in its
quota, take the one maximising ``alpha * separability + beta * harmfulness + coverage * gain + gamma *
diversity`` (ties: the earlier sample), then update the gains and diversities. Quotas are proportional to
the categories' sizes in the pool (``proportional``) or equal (``equal``); room a category cannot use goes to
the others. A refresh (:mod:`.refresh`) starts from samples already in the set (``start``: the coverage counts
and the nearest distances include them), chooses among some rows only (``allowed``: the pool's candidates) and
gives each category exactly the room it lost (``room``: nothing spills over to another category).

The greedy is lazy, and exact: diversity only shrinks as samples are chosen, so a score computed earlier is an
upper bound of the current one. Candidates sit in a priority queue keyed by such bounds; the top one is
brought up to date (its distances to the samples chosen since its last update, in batches of candidates as
one matrix product) and taken when its current score still tops the queue. Only the candidates that come near
the top are ever compared with the chosen samples, instead of every candidate after every choice. Coverage
gains are kept current for every candidate; where they rise (a pair's penalty lapses, or a pair falls short
again), the rows concerned are queued again under their new score (a row's earlier entries are then dead,
dropped when they surface; the queue is rebuilt when they outnumber the live ones). The picks are the plain
greedy's (every score recomputed after every choice) up to the rounding of dot products: products of
different shapes may round the last bit differently, which can only swap two candidates whose scores tie to
within that rounding. On 100,000 candidates x 384 dimensions and a budget of 10,000, about a tenth of the
candidate-choice distances are ever computed (``perf/selection.py``).
"""

from __future__ import annotations

import heapq

import numpy as np
from threadpoolctl import threadpool_limits

from .quality import category_quotas, fewest_significant, safety_rates

COVERAGE = 1.0  # weight of the coverage gain
REFRESH = 32  # candidates brought up to date together (one matrix product)


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


def separation_matrix(unsafe: np.ndarray) -> np.ndarray:
    """``(samples, pairs)`` int8: +1 where a sample separates a pair of neighbouring models in the pool's order
    (both judged, the safer one safe, the less safe one unsafe), -1 where it works against it, 0 otherwise.
    Pairs are the neighbours (safest first) whose pool rates differ; tied neighbours have nothing to keep."""
    rates = safety_rates(unsafe)
    order = sorted((m for m in range(unsafe.shape[1]) if not np.isnan(rates[m])), key=lambda m: (-rates[m], m))
    pairs = [(i, j) for i, j in zip(order, order[1:], strict=False) if rates[i] > rates[j]]
    out = np.zeros((len(unsafe), len(pairs)), dtype=np.int8)
    for k, (i, j) in enumerate(pairs):
        out[:, k] = (unsafe[:, i] == 0) & (unsafe[:, j] == 1)
        out[(unsafe[:, i] == 1) & (unsafe[:, j] == 0), k] = -1
    return out


class _Coverage:
    """The coverage gain of every candidate, kept current as samples are chosen (see the module docstring)."""

    def __init__(self, separation: np.ndarray, minimum: int):
        self.need = np.minimum(minimum, (separation == 1).sum(axis=0))
        self.net = np.zeros(separation.shape[1], dtype=np.int64)
        self.separation = separation
        self.helps = [np.flatnonzero(separation[:, k] == 1) for k in range(separation.shape[1])]
        self.hurts = [np.flatnonzero(separation[:, k] == -1) for k in range(separation.shape[1])]
        self.gain = np.zeros(len(separation))
        self.uncovered, self.exposed = self._state()
        for k in range(separation.shape[1]):
            self.gain[self.helps[k]] += self.uncovered[k]
            self.gain[self.hurts[k]] -= self.exposed[k]

    def _state(self) -> tuple[np.ndarray, np.ndarray]:
        # uncovered: short of its need; exposed: a -1 sample would leave it (or keep it) short
        return self.net < self.need, (self.net <= self.need) & (self.need > 0)

    def choose(self, row: int) -> list[np.ndarray]:
        """Count ``row`` as chosen; returns the rows whose gain went up."""
        touched = np.flatnonzero(self.separation[row])
        self.net[touched] += self.separation[row, touched]
        uncovered, exposed = self._state()
        raised = []
        for k in touched:
            if uncovered[k] != self.uncovered[k]:
                self.gain[self.helps[k]] += 1 if uncovered[k] else -1
                if uncovered[k]:
                    raised.append(self.helps[k])
            if exposed[k] != self.exposed[k]:
                self.gain[self.hurts[k]] -= 1 if exposed[k] else -1
                if not exposed[k]:
                    raised.append(self.hurts[k])
        self.uncovered, self.exposed = uncovered, exposed
        return raised


def select(sep: np.ndarray, harm: np.ndarray, vectors: np.ndarray | None, categories: list[str], budget: int,
           alpha: float, beta: float, gamma: float, quotas: str = "proportional",
           separation: np.ndarray | None = None, coverage: float = COVERAGE, minimum: int | None = None,
           start: list[int] | tuple = (), allowed: np.ndarray | None = None,
           room: dict[str, int] | None = None) -> list[int]:
    """Row indices of the chosen samples, in the order they were chosen. ``separation`` (from
    :func:`separation_matrix`) turns the coverage term on, with weight ``coverage`` and per-pair ``minimum``
    (default ``quality.fewest_significant()``). ``start``: rows already in the set (counted by coverage and
    diversity, never chosen, charged to no quota); ``allowed``: a boolean mask of the rows that may be chosen
    (default every row); ``room``: each category's exact quota instead of ``quotas`` of ``budget``."""
    n = len(sep)
    start = [int(row) for row in start]
    available = np.ones(n, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool).copy()
    available[start] = False
    target = min(budget, int(available.sum()))
    names = sorted(set(categories))
    category_of = np.array([names.index(c) for c in categories], dtype=np.int64)
    if room is None:
        sizes = np.bincount(category_of[available], minlength=len(names)).tolist()  # of the rows it may choose
        room = np.array(category_quotas(sizes, budget, quotas))
        spare = target - int(room.sum())  # nothing, unless a category cannot fill its quota
    else:
        room = np.array([int(room.get(name, 0)) for name in names], dtype=np.int64)
        target, spare = min(target, int(room.sum())), 0  # exact quotas: no room moves between categories
    static = alpha * sep + beta * harm
    cover = None
    if separation is not None and separation.shape[1] and coverage:
        cover = _Coverage(separation, fewest_significant() if minimum is None else minimum)
    gain = cover.gain if cover is not None else np.zeros(n)
    spread = vectors is not None and len(vectors) > 0 and gamma != 0
    nearest = np.ones(n)  # distance to the nearest chosen sample, as of ``seen[i]`` choices (1 before any)
    seen = np.zeros(n, dtype=np.int64)
    chosen_vectors = np.empty((len(start) + target, vectors.shape[1]), dtype=vectors.dtype) if spread else None
    version = np.zeros(n, dtype=np.int64)  # of each row's live entry in the queue
    chosen: list[int] = list(start)  # the rows in the set, the starting ones first (returned without them)
    if spread and start:
        chosen_vectors[:len(start)] = vectors[start]
    for row in start if cover is not None else ():
        cover.choose(row)  # the queue is built after this: it holds the gains as they stand with these rows
    anywhere = False  # past the quotas: spare room, open to every category

    def score(rows):
        return static[rows] + coverage * gain[rows] + gamma * nearest[rows]

    def eligible(rows):
        return available[rows] & (anywhere | (room[category_of[rows]] > 0))

    def push(heap: list, rows: np.ndarray) -> None:
        """Queue ``rows`` under their current scores; their earlier entries become dead (dropped when popped)."""
        version[rows] += 1
        for value, row, entry in zip((-score(rows)).tolist(), rows.tolist(), version[rows].tolist(), strict=True):
            heapq.heappush(heap, (value, row, entry))  # smallest first: the highest score, then the earlier row

    def queue() -> list[tuple[float, int, int]]:
        """Every eligible row under its current score (dead entries gone)."""
        rows = np.flatnonzero(eligible(np.arange(n)))
        version[rows] += 1
        heap = list(zip((-score(rows)).tolist(), rows.tolist(), version[rows].tolist(), strict=True))
        heapq.heapify(heap)
        return heap

    def refresh(rows: np.ndarray) -> None:
        """Bring ``rows``' nearest distances up to date, grouped by how far behind they are."""
        for since in np.unique(seen[rows]):
            group = rows[seen[rows] == since]
            closest = (vectors[group] @ chosen_vectors[since:len(chosen)].T).max(axis=1)
            nearest[group] = np.minimum(nearest[group], 1.0 - closest)
            seen[group] = len(chosen)

    # The products are small (a batch of candidates against the latest choices): BLAS threads would spend more
    # time waiting on each other than computing, the more so on a busy machine.
    with threadpool_limits(limits=1, user_api="blas"):
        heap = queue()
        while len(chosen) - len(start) < target:
            if not heap:
                if anywhere or spare <= 0:
                    break
                anywhere = True
                heap = queue()
                continue
            key, row, entry = heap[0]
            if entry != version[row] or not eligible(row):  # dead, chosen already, or its category is full
                heapq.heappop(heap)
            elif spread and seen[row] < len(chosen):  # a stale bound: update it and the next ones, queue again
                batch = []
                while heap and len(batch) < REFRESH:
                    _, other, entry = heapq.heappop(heap)
                    if entry == version[other] and eligible(other):
                        batch.append(other)
                batch = np.array(batch)
                refresh(batch[seen[batch] < len(chosen)])
                push(heap, batch)
            elif float(score(row)) != -key:  # its coverage gain fell since it was queued
                heapq.heapreplace(heap, (-float(score(row)), row, entry))
            else:  # its score is current and no bound in the queue is higher: the plain greedy's choice
                heapq.heappop(heap)
                chosen.append(row)
                available[row] = False
                if anywhere:
                    spare -= 1
                else:
                    room[category_of[row]] -= 1
                if spread:
                    chosen_vectors[len(chosen) - 1] = vectors[row]
                for rows in cover.choose(row) if cover is not None else []:
                    push(heap, rows[eligible(rows)])  # their gain rose above their queued bound
                if len(heap) > 4 * (n - len(chosen)) + 1024:  # mostly dead entries: start afresh
                    heap = queue()
    return chosen[len(start):]
