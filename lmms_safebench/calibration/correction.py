"""The judge-corrected rate (Rogan-Gladen) and its interval.

A judge with sensitivity Se (share of truly unsafe answers it calls unsafe) and specificity Sp (share of
truly safe answers it calls safe) sees an unsafe share of o = Se * p + (1 - Sp) * (1 - p) on a board whose
true unsafe share is p. Solving for p gives the Rogan-Gladen estimate

    p = (o + Sp - 1) / (Se + Sp - 1),

clipped to [0, 1] (sampling error can put it just outside). The denominator, Youden's J = Se + Sp - 1, is
how much better than chance the judge separates the classes: at J <= 0 the observed rate says nothing
about the true one and there is no correction (status ``undefined``). Rates are fractions: multiply by
100 for an ASR in percent.

The interval combines both sources of error, drawn independently (the board and the calibration set are
different answers): the board's (its judged verdicts resampled, see :class:`Board`) and the
calibration's (the calibration set's judged items resampled within each gold class, giving Se and Sp).
Each of ``resamples`` draws corrects one board rate with one (Se, Sp) pair; the interval is the draws'
percentile interval (a few draws with J <= 0 are left out of it). When more than the interval's tail share (2.5% at 95%) of the draws have J <= 0,
the data cannot rule out a judge no better than chance, so any rate is possible: the status is
``unstable`` and the interval is [0, 1].

When to trust it: the correction assumes the judge's Se and Sp on the board equal those measured on the
calibration set, i.e. the calibration set's answers are like the board's (same kind of prompts and
models, same judge configuration and prompt), and the judge's errors depend only on the true class, not
on the prevalence. It holds for the rate it is given: a per-category rate needs the category's own Se
and Sp. The calibration's unjudged items are left out, as the board's are: if the judge fails more
often on one class, both rates shift. A calibration set with few items of a class gives a wide interval,
which is the honest answer.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .inputs import BINARY, MISSING, check_lengths, encode
from .resample import LEVEL, RESAMPLES, SEED, interval, rng_for

OK, UNSTABLE, UNDEFINED, NO_CALIBRATION, NO_BOARD = "ok", "unstable", "undefined", "no_calibration", "no_board"


def rogan_gladen(observed, sensitivity, specificity) -> np.ndarray:
    """Corrected rate(s), elementwise, clipped to [0, 1]; NaN where Se + Sp <= 1."""
    observed, sensitivity, specificity = (np.asarray(x, dtype=float) for x in (observed, sensitivity, specificity))
    youden = sensitivity + specificity - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = (observed + specificity - 1) / np.where(youden > 0, youden, 1)
    return np.where(youden > 0, np.clip(raw, 0.0, 1.0), np.nan)


def mean_of_units(values: Mapping[Hashable, np.ndarray | float]):
    """The board rate as the plain mean of its units' rates (e.g. scenarios); works elementwise on arrays."""
    return sum(values.values()) / len(values)


class Board:
    """A board's judged verdicts, grouped into units, and the rule that turns the units' rates into the
    board's rate.

    ``units`` maps a unit key (a scenario, a scenario path...) to its verdicts (1 unsafe, 0 safe, None/NaN
    unjudged: left out). ``combine`` receives ``{key: rate}`` of the units with at least one judged verdict
    and returns the board rate; it must work elementwise when the rates are arrays of resamples (the
    project's tree rule ``metrics.tree_mean`` does, given ``list(values.items())`` with paths as keys).
    The default is the mean of the units' rates; :meth:`pooled` is the share over all verdicts.
    A unit's resample draws its n judged verdicts with replacement: its unsafe count is Binomial(n, rate).
    """

    def __init__(self, units: Mapping[Hashable, Sequence], combine: Callable = mean_of_units):
        self.combine = combine
        self.units: dict[Hashable, tuple[int, int]] = {}  # key -> (unsafe, judged)
        for key, verdicts in units.items():
            codes = encode(verdicts, BINARY, what="board verdict", missing_ok=True, source=f"board unit {key!r}")
            judged = int((codes != MISSING).sum())
            if judged:
                self.units[key] = (int((codes == 1).sum()), judged)

    @classmethod
    def pooled(cls, verdicts: Sequence) -> Board:
        """One unit holding every verdict: the board rate is the unsafe share of all judged verdicts."""
        return cls({"all": verdicts})

    @property
    def judged(self) -> int:
        return sum(n for _, n in self.units.values())

    def rate(self) -> float:
        if not self.units:
            return float("nan")
        return float(self.combine({key: unsafe / n for key, (unsafe, n) in self.units.items()}))

    def draws(self, rng: np.random.Generator, resamples: int = RESAMPLES) -> np.ndarray:
        """``resamples`` bootstrap board rates."""
        return np.asarray(self.combine({key: rng.binomial(n, unsafe / n, size=resamples) / n
                                        for key, (unsafe, n) in self.units.items()}), dtype=float)


@dataclass(frozen=True)
class Correction:
    """The corrected rate with its interval (``estimate``, ``low``, ``high``), and what went into it.
    ``status``: ``ok``; ``unstable`` (interval [0, 1], see the module docstring); ``undefined``
    (Se + Sp <= 1); ``no_calibration`` (no judged gold-positive or gold-negative calibration item);
    ``no_board`` (no judged board verdict). ``reason`` says why whenever the status is not ``ok``.
    ``clipped``: the point estimate was outside [0, 1] before clipping. ``undefined_share``: share of
    the draws with Se + Sp <= 1."""

    status: str
    reason: str | None
    estimate: float
    low: float
    high: float
    observed: float
    observed_low: float
    observed_high: float
    sensitivity: float
    specificity: float
    youden: float
    clipped: bool
    undefined_share: float
    board_judged: int
    calibration_positives: int
    calibration_negatives: int

    def to_dict(self) -> dict:
        return asdict(self)


def corrected_rate(board: Board, gold: Sequence, predicted: Sequence, *, ids: Sequence | None = None,
                   resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL,
                   source: str = "the calibration set") -> Correction:
    """Rogan-Gladen correction of ``board``'s rate with the judge's Se and Sp measured from its verdicts
    ``predicted`` on a calibration set with labels ``gold`` (1 unsafe, 0 safe; see the module docstring)."""
    check_lengths(source, gold=gold, predicted=predicted, ids=ids)
    gold = encode(gold, BINARY, what="gold label", ids=ids, source=source)
    predicted = encode(predicted, BINARY, what="verdict", ids=ids, missing_ok=True, source=source)
    judged = predicted != MISSING
    positives, negatives = int((judged & (gold == 1)).sum()), int((judged & (gold == 0)).sum())
    true_positives = int((judged & (gold == 1) & (predicted == 1)).sum())
    true_negatives = int((judged & (gold == 0) & (predicted == 0)).sum())
    nan = float("nan")
    se = true_positives / positives if positives else nan
    sp = true_negatives / negatives if negatives else nan
    rng = rng_for(seed)
    observed = board.rate()
    observed_draws = board.draws(rng, resamples) if board.units else np.full(resamples, nan)
    observed_low, observed_high = (float(x) for x in interval(observed_draws, level))
    base = dict(observed=observed, observed_low=observed_low, observed_high=observed_high, sensitivity=se,
                specificity=sp, youden=se + sp - 1, board_judged=board.judged, calibration_positives=positives,
                calibration_negatives=negatives)

    def result(status, reason, estimate=nan, low=nan, high=nan, clipped=False, undefined_share=nan):
        return Correction(status, reason, estimate, low, high, clipped=clipped, undefined_share=undefined_share,
                          **base)

    if not board.units:
        return result(NO_BOARD, "the board has no judged verdict")
    if not positives or not negatives:
        missing = "gold-unsafe" if not positives else "gold-safe"
        return result(NO_CALIBRATION, f"{source} has no judged {missing} item, so the judge's "
                                      f"{'sensitivity' if not positives else 'specificity'} is unknown")
    if se + sp <= 1:
        return result(UNDEFINED, f"sensitivity + specificity = {se + sp:.3f} <= 1: the judge does no better than "
                                 "chance on the calibration set, so its observed rate cannot be corrected")
    raw = (observed + sp - 1) / (se + sp - 1)
    estimate = float(rogan_gladen(observed, se, sp))
    se_draws = rng.binomial(positives, se, size=resamples) / positives
    sp_draws = rng.binomial(negatives, sp, size=resamples) / negatives
    corrected = rogan_gladen(observed_draws, se_draws, sp_draws)
    undefined_share = float(np.isnan(corrected).mean())
    if undefined_share > (1 - level) / 2:
        return result(UNSTABLE, f"in {100 * undefined_share:.1f}% of the resamples sensitivity + specificity <= 1: "
                                "the calibration cannot rule out a judge no better than chance, so the corrected "
                                "rate may be anything in [0, 1]", estimate, 0.0, 1.0, not 0 <= raw <= 1,
                      undefined_share)
    low, high = interval(corrected, level)
    return result(OK, None, estimate, float(low), float(high), not 0 <= raw <= 1, undefined_share)
