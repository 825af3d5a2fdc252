"""Dawid-Skene: the true classes of items and each rater's error rates, estimated together from the
raters' labels alone (no gold), by expectation-maximisation.

Model: item i has a hidden class z_i drawn with probabilities ``priors``; rater j, given class k, says
class l with probability ``confusion[j, k, l]``, independently of the other raters (given the class).

EM alternates two steps until no parameter moves by more than ``tol``:

- E: each item's posterior over classes, proportional to priors[k] x the product over the raters who
  rated it of confusion[j, k, their label];
- M: priors = mean posterior; confusion[j, k, l] = (posterior mass of class k over the items rater j
  labelled l) / (posterior mass of class k over the items rater j labelled), with ``smoothing``
  pseudo-counts in every cell so that a never-seen combination keeps a small, non-zero probability.

It starts from the majority vote (each item's posterior = its raters' vote shares; an item nobody rated
starts uniform), which also fixes which hidden class is called which (the raters must be better than
chance on the whole for that to hold). Missing ratings are allowed: a rater contributes only to the items
it rated. The result is a local optimum of the likelihood; with raters this informative it is the one
the majority vote points to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError


@dataclass(frozen=True)
class DawidSkene:
    """``posteriors[i, k]``: P(item i is of class k); ``priors[k]``; ``confusion[j, k, l]``: P(rater j says l |
    class k); ``log_likelihood`` of the ratings at the final parameters; ``iterations``; ``converged``;
    ``rated[i]``: item i has at least one rating (an unrated item's posterior is just the priors)."""

    posteriors: np.ndarray
    priors: np.ndarray
    confusion: np.ndarray
    log_likelihood: float
    iterations: int
    converged: bool
    rated: np.ndarray

    def labels(self) -> np.ndarray:
        """The most probable class of each item (ties to the lower class)."""
        return self.posteriors.argmax(axis=1)

    def verdicts(self) -> list[int | None]:
        """The aggregate as verdicts: the most probable class, None (unjudged) for an item nobody rated."""
        return [int(k) if r else None for k, r in zip(self.labels().tolist(), self.rated.tolist(), strict=True)]

    def sensitivity(self) -> np.ndarray:
        """Binary: each rater's P(says 1 | class 1)."""
        return self.confusion[:, 1, 1]

    def specificity(self) -> np.ndarray:
        """Binary: each rater's P(says 0 | class 0)."""
        return self.confusion[:, 0, 0]


def _one_hot(ratings, n_classes: int) -> np.ndarray:
    """(items, raters, classes) indicators of the ratings; a missing rating (NaN, None, or -1) is all zeros."""
    table = np.asarray(ratings, dtype=object)
    if table.ndim != 2:
        raise DataError(f"ratings must be a table of items x raters, not an array of shape {table.shape}")
    try:
        values = np.array([np.nan if v is None else v for v in table.ravel()], dtype=float).reshape(table.shape)
    except (TypeError, ValueError) as error:
        raise DataError(f"ratings must be class codes 0..{n_classes - 1} or missing: {error}") from None
    missing = np.isnan(values) | (values == -1)
    bad = ~missing & ~np.isin(values, np.arange(n_classes))
    if bad.any():
        cells = [f"item #{i} rater #{j}: {values[i, j]:g}" for i, j in zip(*np.nonzero(bad), strict=True)]
        raise DataError(f"{len(cells)} rating(s) are not a class in 0..{n_classes - 1} (or missing): "
                        + "; ".join(cells[:10]))
    codes = np.where(missing, 0, values).astype(np.int64)
    return (codes[..., None] == np.arange(n_classes)) & ~missing[..., None]


def dawid_skene(ratings, n_classes: int = 2, *, max_iter: int = 500, tol: float = 1e-6,
                smoothing: float = 0.01) -> DawidSkene:
    """Fit the model to ``ratings`` (items x raters: class codes 0..n_classes-1, missing as NaN, None or -1)."""
    votes = _one_hot(ratings, n_classes).astype(float)  # (I, J, K)
    counts = votes.sum(axis=1)  # (I, K)
    rated = counts.sum(axis=1, keepdims=True)
    posteriors = np.where(rated > 0, counts / np.where(rated > 0, rated, 1), 1.0 / n_classes)
    priors = confusion = None
    log_likelihood, converged, iterations = float("nan"), False, 0
    while iterations < max_iter:
        iterations += 1
        new_priors = posteriors.mean(axis=0) if len(posteriors) else np.full(n_classes, 1.0 / n_classes)
        mass = np.einsum("ik,ijl->jkl", posteriors, votes) + smoothing
        new_confusion = mass / mass.sum(axis=2, keepdims=True)
        log_joint = np.log(np.maximum(new_priors, 1e-300)) + np.einsum("ijl,jkl->ik", votes, np.log(new_confusion))
        top = log_joint.max(axis=1, keepdims=True)
        joint = np.exp(log_joint - top)
        total = joint.sum(axis=1, keepdims=True)
        posteriors = joint / total
        log_likelihood = float((top + np.log(total)).sum())
        if priors is not None and max(np.abs(new_priors - priors).max(), np.abs(new_confusion - confusion).max()) < tol:
            priors, confusion, converged = new_priors, new_confusion, True
            break
        priors, confusion = new_priors, new_confusion
    return DawidSkene(posteriors, priors, confusion, log_likelihood, iterations, converged, rated[:, 0] > 0)
