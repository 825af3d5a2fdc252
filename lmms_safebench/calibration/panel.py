"""A panel of binary jurors on a labelled set: their majority vote, how independent their errors are,
and which configuration to pick.

- :func:`majority_vote` applies the jury engine's own majority rule (:func:`lmms_safebench.jury.protocol.vote`,
  with its tie rules) to each item's valid votes, so a simulated panel votes exactly as a real one.
- :func:`effective_jurors`: n jurors whose errors are correlated are worth fewer independent ones. With
  rho_bar the mean over juror pairs of the correlation of their error indicators (1 where the juror's
  verdict differs from the gold label), the effective number is n / (1 + (n - 1) * rho_bar): n when the
  errors are uncorrelated, 1 when they coincide. The correlation is taken *within* each gold class and
  averaged over the classes weighted by the items they hold: two jurors that err independently but both
  mostly on unsafe items would otherwise look correlated just because unsafe items are harder for both.
  A pair's correlation is undefined (left out, listed) when, within every class, one of them never or
  always errs on the items both judged; rho_bar below 0 (errors that cancel) counts as 0, since more
  independent jurors than jurors is no meaningful answer.
- :func:`cheapest_within_best`: the cheapest configuration whose kappa lies within the interval of the
  best kappa, i.e. not distinguishable from the best on this set.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import DataError
from ..jury.config import TIE_RULES
from ..jury.protocol import vote
from .inputs import BINARY, MISSING, encode


def _votes(votes, what: str = "juror verdict") -> np.ndarray:
    """(items, jurors) codes, MISSING for an unjudged vote."""
    table = np.asarray(votes, dtype=object)
    if table.ndim != 2:
        raise DataError(f"votes must be a table of items x jurors, not an array of shape {table.shape}")
    return encode(table.ravel().tolist(), BINARY, what=what, missing_ok=True).reshape(table.shape)


def majority_vote(votes, tie: str = "unsafe", quorum: int = 1) -> list[int | None]:
    """Each item's majority over its jurors' valid votes (``votes``: items x jurors, 0/1, None/NaN for
    no vote). A tie follows ``tie`` (one of ``TIE_RULES``: unsafe, safe, unjudged); an item with fewer
    than ``quorum`` valid votes is unjudged (None)."""
    if tie not in TIE_RULES:
        raise ValueError(f"tie must be one of {TIE_RULES}, not {tie!r}")
    out: list[int | None] = []
    for row in _votes(votes).tolist():
        valid = [v for v in row if v != MISSING]
        out.append(vote(valid, "majority", tie) if valid and len(valid) >= quorum else None)
    return out


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def effective_jurors(gold: Sequence, votes, names: Sequence[str] | None = None) -> dict:
    """``{"jurors": n, "pairs": {"a|b": rho}, "undefined_pairs": [...], "mean_error_correlation": rho_bar,
    "effective_jurors": n_eff, "reason": None or why n_eff is NaN}`` (see the module docstring)."""
    gold = encode(gold, BINARY, what="gold label")
    codes = _votes(votes)
    if codes.shape[0] != len(gold):
        raise DataError(f"votes has {codes.shape[0]} items, the gold labels {len(gold)}")
    n = codes.shape[1]
    names = list(names) if names is not None else [f"juror{j}" for j in range(n)]
    pairs, undefined = {}, []
    for a, b in itertools.combinations(range(n), 2):
        both = (codes[:, a] != MISSING) & (codes[:, b] != MISSING)
        weighted, weight = 0.0, 0
        for cls in (0, 1):
            rows = both & (gold == cls)
            rho = _correlation((codes[rows, a] != cls).astype(float), (codes[rows, b] != cls).astype(float))
            if not math.isnan(rho):
                weighted += rho * rows.sum()
                weight += int(rows.sum())
        key = f"{names[a]}|{names[b]}"
        if weight:
            pairs[key] = float(weighted / weight)
        else:
            undefined.append(key)
    rho_bar = float(np.mean(list(pairs.values()))) if pairs else math.nan
    reason = None
    if n < 2:
        reason = "fewer than two jurors"
    elif not pairs:
        reason = ("no pair of jurors has a defined error correlation (within each gold class, one of them never "
                  "or always errs on the items both judged)")
    n_eff = n / (1 + (n - 1) * max(rho_bar, 0.0)) if reason is None else math.nan
    return {"jurors": n, "pairs": pairs, "undefined_pairs": undefined, "mean_error_correlation": rho_bar,
            "effective_jurors": n_eff, "reason": reason}


def cheapest_within_best(configurations: Sequence[Mapping]) -> dict:
    """From configurations ``{"name", "kappa", "low", "high", "cost"}`` (kappa with its interval; cost in any
    unit, e.g. calls or dollars per item): ``best`` (highest kappa), ``threshold`` (the best's lower bound),
    ``within`` (names whose kappa reaches the threshold, cheapest first) and ``cheapest`` (the first of
    them; equal costs go to the higher kappa). Configurations with an undefined kappa are left out;
    when none is left, ``best`` and ``cheapest`` are None and ``reason`` says why."""
    defined = [c for c in configurations if c.get("kappa") is not None and not math.isnan(c["kappa"])]
    if not defined:
        return {"best": None, "threshold": math.nan, "within": [], "cheapest": None,
                "reason": "no configuration has a defined kappa"}
    best = max(defined, key=lambda c: c["kappa"])
    threshold = best["low"]
    if threshold is None or math.isnan(threshold):
        threshold = best["kappa"]  # no interval: only configurations as good as the best qualify
    within = sorted((c for c in defined if c["kappa"] >= threshold), key=lambda c: (c["cost"], -c["kappa"]))
    return {"best": best["name"], "threshold": threshold, "within": [c["name"] for c in within],
            "cheapest": within[0]["name"], "reason": None}
