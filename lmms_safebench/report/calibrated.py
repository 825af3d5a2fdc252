"""The jury's calibration beside its numbers, and the judge-corrected ASR.

Lookup (:class:`Calibrations`): each jury identity's calibration under the protocol of the board's rubric
(:func:`lmms_safebench.calibration.record.latest_calibration`: a record of a whole set before a ``--limit`` sample,
then the newest), read once per identity and protocol. Its status: ``ok``; ``stale`` (older than ``max_age_days``:
still used, and marked); ``none`` (no record for this jury: its numbers are marked); ``not_applicable`` (the board's
rubric has no calibration protocol).

Correction (:func:`corrected_asr`): the Rogan-Gladen estimate of :mod:`lmms_safebench.calibration.correction` on the
board's flagged rate (its ASR), with the jury's sensitivity and specificity measured on the calibration set (the
jury's decisions against the gold labels). The board is resampled with the unit structure of its ASR (its answers
within each scenario path, combined by the project's tree rule, :func:`lmms_safebench.scoring.metrics.tree_mean`),
so its observed rate is the ASR the report shows; the calibration set is resampled within each gold class; the
interval is over both. Values are in percent. It is an estimate that assumes the jury's error rates on the
calibration set hold on the board (same kind of prompts, answers and modality; errors that depend on the true
class only): the report says so wherever it shows one. Instead of a number it says ``no calibration for this
jury`` or ``sensitivity + specificity <= 1`` (the jury does no better than chance on the set).
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..calibration import correction
from ..calibration.record import Calibration, latest_calibration
from ..scoring import metrics
from .collect import Entry

DEFAULT_MAX_AGE_DAYS = 90.0
OK, STALE, NONE, NOT_APPLICABLE = "ok", "stale", "none", "not_applicable"
NO_RECORD = "no_record"  # a corrected ASR's status when the jury has no calibration record
NO_CALIBRATION = "no calibration for this jury"
NOT_BETTER_THAN_CHANCE = "sensitivity + specificity <= 1"
ESTIMATE = ("an estimate that assumes the jury's error rates on the calibration set hold on this board "
            "(see 'Judge-corrected ASR' in docs/judge-and-report.md)")


@dataclass(frozen=True)
class JuryCalibration:
    """A jury's calibration as the report shows it."""

    identity: str
    protocol: str | None
    status: str
    calibration: Calibration | None = None
    max_age_days: float | None = None

    def metric(self, name: str) -> dict:
        return self.calibration.metric(name) if self.calibration else {"value": None, "low": None, "high": None}

    def mark(self) -> str:
        """What a number judged by this jury is marked with: empty when its calibration is fresh."""
        if self.status == NONE:
            return "no calibration"
        if self.status == STALE:
            return f"stale calibration ({self.calibration.age_days:.0f} days old)"
        return ""

    def text(self) -> str:
        """One sentence: set, size, prevalence, kappa, sensitivity, specificity, age; or why there is none."""
        if self.status == NOT_APPLICABLE:
            return "Calibration: none applies (this board's rubric has no calibration protocol)."
        if self.calibration is None:
            return (f"Calibration: {NO_CALIBRATION} ({self.identity}, {self.protocol} protocol): run `lmms-safebench "
                    "jury calibrate` with this jury to measure how far its verdicts agree with human labels.")
        s = self.calibration.set
        prevalence = s.get("prevalence")
        flagged = s.get("prevalence_of") or "flagged"
        parts = [f"{self.metric_text(name)}" for name in ("kappa", "sensitivity", "specificity")]
        text = (f"Calibration of this jury: {s.get('name')}@{str(s.get('revision'))[:12]} "
                f"({s.get('judged_items', s.get('size'))} items"
                + (f", {100 * prevalence:.1f}% {flagged}" if isinstance(prevalence, (int, float)) else "")
                + f"): {', '.join(parts)}; {self.calibration.age_days:.0f} days old")
        if self.status == STALE:
            text += f", STALE (older than {self.max_age_days:g} days: calibrate again)"
        return text + "."

    def metric_text(self, name: str) -> str:
        m = self.metric(name)
        if m.get("value") is None:
            return f"{name} undefined"
        return f"{name} {m['value']:.2f} [{_two(m.get('low'))}, {_two(m.get('high'))}]"

    def summary(self) -> dict:
        """What a score and the exports carry: status, protocol and the record's summary."""
        out = {"status": self.status, "protocol": self.protocol, "jury_identity": self.identity,
               "stale": self.status == STALE, "max_age_days": self.max_age_days}
        if self.calibration is not None:
            s = self.calibration.set
            out.update({"set": s.get("name"), "revision": s.get("revision"), "items": s.get("judged_items"),
                        "complete": s.get("complete"), "prevalence": s.get("prevalence"),
                        "created": self.calibration.record.get("created"),
                        "age_days": round(self.calibration.age_days, 2), "record": str(self.calibration.path),
                        **{name: self.metric(name) for name in ("kappa", "sensitivity", "specificity")}})
        return out


def _two(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


class Calibrations:
    """The calibrations of the juries behind a report, looked up once each (module docstring)."""

    def __init__(self, max_age_days: float | None = DEFAULT_MAX_AGE_DAYS, at: datetime.datetime | None = None):
        self.max_age_days, self.at = max_age_days, at
        self._found: dict[tuple[str, str | None], JuryCalibration] = {}

    def get(self, identity: str, protocol: str | None) -> JuryCalibration:
        key = (identity, protocol)
        if key not in self._found:
            if protocol is None:
                found = JuryCalibration(identity, None, NOT_APPLICABLE)
            else:
                record = latest_calibration(identity, protocol, at=self.at)
                status = NONE if record is None else STALE if record.stale(self.max_age_days) else OK
                found = JuryCalibration(identity, protocol, status, record, self.max_age_days)
            self._found[key] = found
        return self._found[key]


def board_units(entry: Entry) -> correction.Board:
    """The entry's flagged verdicts by scenario path, combined by the tree rule: the unit structure of its ASR."""
    units: dict[tuple[str, ...], list] = defaultdict(list)
    for outcome in entry.outcomes:
        value = metrics.flagged(outcome)
        units[outcome.unit].append(math.nan if value is None else value)
    return correction.Board({unit: np.asarray(values, dtype=float) for unit, values in units.items()},
                            combine=lambda values: metrics.tree_mean(list(values.items())))


def corrected_asr(entry: Entry, jury: JuryCalibration) -> dict:
    """The corrected ASR of ``entry`` (percent) for :attr:`~.scores.Score.corrected`: ``status``, ``reason``, and
    when there is a number ``value``, ``ci``, the observed rate and the error rates it used (module docstring)."""
    if jury.calibration is None:
        return {"status": NO_RECORD, "reason": NO_CALIBRATION}
    ids, gold, predicted = jury.calibration.verdicts()
    result = correction.corrected_rate(board_units(entry), gold, predicted, ids=ids,
                                       source=f"calibration record {jury.calibration.path}")
    out = {"status": result.status, "reason": result.reason, "observed": 100 * result.observed,
           "sensitivity": result.sensitivity, "specificity": result.specificity, "youden": result.youden,
           "clipped": result.clipped, "board_judged": result.board_judged,
           "calibration_positives": result.calibration_positives,
           "calibration_negatives": result.calibration_negatives, "note": ESTIMATE}
    if result.status == correction.UNDEFINED:
        out["reason"] = (f"{NOT_BETTER_THAN_CHANCE} (sensitivity {result.sensitivity:.2f} + specificity "
                         f"{result.specificity:.2f}): the jury does no better than chance on the calibration set, so "
                         "its ASR cannot be corrected")
    if result.status in (correction.OK, correction.UNSTABLE):
        out.update(value=100 * result.estimate, ci=(100 * result.low, 100 * result.high))
    return out


def corrected_text(corrected: dict | None) -> str:
    """A corrected ASR as a table cell: ``value [low, high]`` (a trailing ``*``: an estimate), or why there is none."""
    if not corrected:
        return "n/a"
    if "value" not in corrected:
        if corrected["status"] == NO_RECORD:
            return NO_CALIBRATION
        if corrected["status"] == correction.UNDEFINED:
            return NOT_BETTER_THAN_CHANCE
        return corrected.get("reason") or "n/a"
    low, high = corrected["ci"]
    text = f"{corrected['value']:.1f} [{low:.1f}, {high:.1f}]*"
    if corrected["status"] == correction.UNSTABLE:
        text += " (unstable: the calibration cannot rule out a chance-level jury)"
    return text
