"""One number of one model on one board: the plain, typed input of the trade-off report and of the exports.

A :class:`Score` is what every other part of the trade-off report reads (:mod:`.tradeoff`: summary tables,
charts, correlations; :mod:`.export`: lm-eval results files, Hugging Face model-index). It is built by whoever
computes the number: the report's safety and over-refusal summaries, or :mod:`.capability` for any other lmms-eval
or lm-eval task. Contract:

- ``kind``: :data:`HARM` (a safety board: lower ASR is safer), :data:`OVER_REFUSAL` (a benign companion: how often a
  model refuses what it should answer) or :data:`CAPABILITY` (any other task, e.g. MMMU);
- ``value``: rates in percent (0-100); a capability value as its harness wrote it (lm-eval's ``acc`` is a
  fraction); NaN when nothing could be measured (nothing judged);
- ``ci``: the 95% interval ``(low, high)`` in the unit of ``value``, or None;
- ``dataset``: what identifies the build of the data the number was measured on. Known keys: ``id`` (hub id or
  source), ``revision``, ``config``, ``split``, ``fingerprint`` (of the built documents) and ``manifest`` (digest of
  a build's manifest). Two scores of one board whose ``dataset`` differs in any key come from different builds and
  are never compared in one table (:attr:`Score.build`);
- ``terms``: the licence or terms of use shown wherever the number is (MOSSBench: test use only);
- ``corrected`` and ``calibration``: the slot for a judge-corrected number and the calibration it came from.
  ``corrected`` holds at least ``value`` and ``ci`` in the unit of ``value`` (plus e.g. ``status``, ``reason``);
  ``calibration`` is the calibration record's summary (set, revision, created, kappa...), recorded as given;
- ``headline``: the number's place among its board's report columns (the adapter's ``report_columns``; 0 is the
  column that ranks the models), which picks a board's axis on the trade-off chart; None for other numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

HARM, OVER_REFUSAL, CAPABILITY = "harm", "over_refusal", "capability"
KINDS = (HARM, OVER_REFUSAL, CAPABILITY)  # also the order of the summary table's columns
SAFETY_KINDS = (HARM, OVER_REFUSAL)


@dataclass(frozen=True)
class Score:
    """See the module docstring. Mapping fields are plain dicts: a Score is not hashable."""

    model: str
    board: str
    kind: str
    metric: str
    value: float
    title: str = ""  # shown name of the board; the board's name when empty
    ci: tuple[float, float] | None = None
    n: int | None = None
    higher_is_better: bool | None = None
    jury: str | None = None  # the jury's name
    jury_identity: str | None = None
    dataset: Mapping[str, Any] = field(default_factory=dict)
    per_scenario: Mapping[str, float] = field(default_factory=dict)
    notes: str = ""
    terms: str = ""
    version: str | float | None = None  # the task's version, as lm-eval records it
    corrected: Mapping[str, Any] | None = None
    calibration: Mapping[str, Any] | None = None
    headline: int | None = None  # place among the board's report columns (0 ranks the models); None: not one of them

    def __post_init__(self):
        where = f"score of {self.model!r} on {self.board!r} ({self.metric!r})"
        if not self.model or not self.board or not self.metric:
            raise ValueError(f"{where}: model, board and metric must be non-empty")
        if self.kind not in KINDS:
            raise ValueError(f"{where}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        try:
            object.__setattr__(self, "value", float(self.value))
        except (TypeError, ValueError):
            raise ValueError(f"{where}: value {self.value!r} is not a number") from None
        if self.ci is not None:
            try:
                low, high = (float(v) for v in self.ci)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: ci {self.ci!r} is not a (low, high) pair of numbers") from None
            if low > high:
                raise ValueError(f"{where}: ci low {low} is above high {high}")
            object.__setattr__(self, "ci", (low, high))
        if self.n is not None and (not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 0):
            raise ValueError(f"{where}: n {self.n!r} is not a count of samples")
        if not self.title:
            object.__setattr__(self, "title", self.board)
        object.__setattr__(self, "dataset", dict(self.dataset or {}))
        try:
            per_scenario = {str(k): float(v) for k, v in (self.per_scenario or {}).items()}
        except (TypeError, ValueError):
            raise ValueError(f"{where}: per_scenario {self.per_scenario!r} is not a mapping of scenario -> number"
                             ) from None
        object.__setattr__(self, "per_scenario", per_scenario)

    @property
    def measured(self) -> bool:
        return not math.isnan(self.value)

    @property
    def build(self) -> str:
        """The dataset build as one comparable string (its ``dataset`` mapping, keys sorted)."""
        return json.dumps(self.dataset, sort_keys=True, default=str)

    def build_label(self) -> str:
        """A short human description of the build: fingerprint or manifest digest (cut), else revision."""
        parts = []
        for key in ("fingerprint", "manifest", "revision"):
            value = self.dataset.get(key)
            if value:
                text = str(value)
                parts.append(f"{key} {text[:12]}" + ("..." if len(text) > 12 else ""))
        return ", ".join(parts) or ("dataset " + self.build if self.dataset else "no dataset identity")
