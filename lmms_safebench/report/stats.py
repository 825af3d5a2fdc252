"""Numbers for one board entry: the tasks' metric functions, plus bootstrap confidence intervals.

The interval resamples answers with replacement within each scenario (the benchmark fixes how many
queries each scenario has), recomputes the statistic exactly as the point estimate is computed (the tree
rule of :mod:`lmms_safebench.scoring.tree`: per scenario, then the mean of children up the tree), and takes
the 2.5th and 97.5th percentiles. A scenario's resample is drawn as counts: n answers drawn with replacement from
answers whose values take k distinct values are a Multinomial(n, shares of the k values) draw, the same bootstrap
as drawing the answers one by one at a cost that does not grow with n (2,000 answers x 1,000 resamples are a few
multinomial draws, not two million indices).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..scoring import agreement, metrics
from ..scoring.records import JUDGED, Outcome
from .collect import Entry

RESAMPLES = 1000
SEED = 0


def _metric(metric):
    """A metric function, or its name in :mod:`lmms_safebench.scoring.metrics` (``"asr"``, ``"sri"``)."""
    return getattr(metrics, metric) if isinstance(metric, str) else metric


class MacroSamples:
    """One macro rate's per-sample values, grouped by scenario path (one pass over the samples): its value, 95%
    interval and sample count for any set of paths (a category's, a scenario's, all), by the tree rule. The value
    of a set of paths is what the metric function gives for the samples on them (the same per-path rates, the same
    rule); the intervals of all sets come from one set of resamples of each path."""

    def __init__(self, outcomes: list[Outcome], metric, resamples: int = RESAMPLES, seed: int = SEED):
        self.metric = _metric(metric)
        self.resamples, self.seed = resamples, seed
        values: dict[tuple[str, ...], list] = defaultdict(list)
        self.scenarios: dict[str, set] = defaultdict(set)
        self.categories: dict[str, set] = defaultdict(set)
        if hasattr(self.metric, "unit_values"):  # a metric over pairs of answers gives its own per-unit values
            for unit, unit_values in self.metric.unit_values(outcomes).items():
                if unit_values:
                    values[tuple(unit)] += [float(v) for v in unit_values]
                    self.scenarios[unit[-1]].add(tuple(unit))
                    self.categories[unit[0]].add(tuple(unit))
        else:
            value = self.metric.sample_value
            for o in metrics.outcomes(outcomes):
                v = value(o)
                if v is not None:
                    values[o.unit].append(float(v))
                    self.scenarios[o.scenario].add(o.unit)
                    self.categories[o.category].add(o.unit)
        self.per_unit = {unit: np.asarray(v) for unit, v in values.items()}
        self.rates = {unit: self.metric.scale * sum(v) / len(v) for unit, v in values.items()}
        self._draws: dict | None = None

    @property
    def units(self) -> set:
        return set(self.per_unit)

    def value(self, units) -> float:
        return float(metrics.tree_mean([(u, self.rates[u]) for u in sorted(units)])) if units else math.nan

    def n(self, units) -> int:
        return sum(len(self.per_unit[u]) for u in units)

    def interval(self, units) -> tuple[float, float]:
        if self._draws is None:
            rng = np.random.default_rng(self.seed)
            self._draws = {unit: self.metric.scale * resampled_means(self.per_unit[unit], rng, self.resamples)
                           for unit in sorted(self.per_unit)}
        return _interval({u: self._draws[u] for u in sorted(units)})


def resampled_means(values: np.ndarray, rng: np.random.Generator, resamples: int = RESAMPLES) -> np.ndarray:
    """The means of ``resamples`` bootstrap resamples of ``values`` (module docstring)."""
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) == 1:
        return np.full(resamples, float(distinct[0]))
    return rng.multinomial(len(values), counts / len(values), size=resamples) @ distinct / len(values)


def _interval(draws: dict[tuple[str, ...], np.ndarray]) -> tuple[float, float]:
    """The 95% percentile interval of the tree rule over ``draws`` (NaN, NaN without any)."""
    if not draws:
        return math.nan, math.nan
    overall = metrics.tree_mean(list(draws.items()))  # the estimate's own rule, on every resample at once
    low, high = np.percentile(overall, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_ci(outcomes: list[Outcome], metric, resamples: int = RESAMPLES, seed: int = SEED) -> tuple[float, float]:
    """95% percentile interval of a macro rate (``metric``: a function of :func:`metrics.macro_rate` or its name;
    NaN, NaN when no sample has a value). A metric whose unit of resampling is not one answer (a pair of answers)
    gives its own per-unit values: ``metric.unit_values(outcomes)`` -> ``{scenario path: values}``."""
    samples = MacroSamples(outcomes, metric, resamples, seed)
    return samples.interval(samples.units)


def summarize(entry: Entry, columns) -> dict:
    """Every number the report shows for one model on one board under one jury: each of the board's ``columns``
    (:class:`~lmms_safebench.benchmarks.base.ReportColumn`), with its interval and the number of samples it averages
    (``<name>_ci``, ``<name>_n``; the same per scenario), per category and per scenario; the coverage and the jury's
    agreement. The overall value is the column's metric function on the samples; a macro rate's breakdowns and
    intervals come from its :class:`MacroSamples`, any other column's breakdowns from its function on each group."""
    items = entry.outcomes
    out = {
        "samples": len(items),
        "judged": float(metrics.judged_coverage(items)),
        "unjudged": int(metrics.unjudged_count(items)),
        "inference_failed": int(metrics.inference_failed_count(items)),
        "refusal_rate": float(metrics.refusal_rate(items)),
        "juror_asr": agreement.juror_asr(entry.verdicts),
        "agreement": agreement.agreement_report(entry.verdicts),
    }
    macro = {c.name: MacroSamples(items, c.metric) for c in columns if hasattr(c.metric, "sample_value")}
    for column in columns:
        out[column.name] = float(column.metric(items))
        if column.interval:
            samples = macro[column.name]
            out[f"{column.name}_ci"], out[f"{column.name}_n"] = samples.interval(samples.units), samples.n(samples.units)
    broken_down = [c for c in columns if c.breakdown]
    categories: dict[str, list[Outcome]] = defaultdict(list)
    scenarios: dict[str, list[Outcome]] = defaultdict(list)
    for o in items:
        categories[o.category].append(o)
        scenarios[o.scenario].append(o)

    def breakdown(group: list[Outcome], grouping: str, key: str, with_interval: bool) -> dict:
        values = {}
        for column in broken_down:
            samples = macro.get(column.name)
            if samples is None:
                values[column.name] = float(column.metric(group))
                continue
            units = getattr(samples, grouping).get(key, set())
            values[column.name] = samples.value(units)
            if with_interval and column.interval:
                values[f"{column.name}_ci"], values[f"{column.name}_n"] = samples.interval(units), samples.n(units)
        return values

    out["by_category"] = {c: breakdown(group, "categories", c, False) for c, group in sorted(categories.items())}
    out["by_scenario"] = {}
    for scenario, group in sorted(scenarios.items()):
        names = {o.category for o in group}
        out["by_scenario"][scenario] = {**breakdown(group, "scenarios", scenario, True),
                                        "category": names.pop() if len(names) == 1 else None,
                                        "judged": sum(1 for o in group if o.status == JUDGED), "samples": len(group)}
    return out
