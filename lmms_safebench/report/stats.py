"""Numbers for one board entry: the tasks' metric functions, plus bootstrap confidence intervals.

The interval resamples answers with replacement within each scenario (the benchmark fixes how many
queries each scenario has; where one scenario path holds several categories, within each of them), recomputes the statistic exactly as the point estimate is computed (the tree
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
    """One macro rate's per-sample values, grouped in one pass over the samples into cells (scenario path, category,
    scenario): its value, 95% interval and sample count for any set of cells (a category's, a scenario's, all), by the
    tree rule. A path's rate pools its cells in the set, so the value of a set is what the metric function gives for
    its samples, also where a path holds several categories (XSTest's prompt types share one path); the intervals of
    all sets come from one set of resamples of each cell (within a path that holds one category and scenario, as
    most do, a cell is the path). A metric over pairs of answers (``unit_values``) has one cell per path and no
    category or scenario sets: its breakdowns are its function on each group (:func:`summarize`)."""

    def __init__(self, outcomes: list[Outcome], metric, resamples: int = RESAMPLES, seed: int = SEED):
        self.metric = _metric(metric)
        self.resamples, self.seed = resamples, seed
        values: dict[tuple, list] = defaultdict(list)
        self.scenarios: dict[str, set] = defaultdict(set)
        self.categories: dict[str, set] = defaultdict(set)
        if hasattr(self.metric, "unit_values"):  # a metric over pairs of answers gives its own per-unit values
            for unit, unit_values in self.metric.unit_values(outcomes).items():
                if unit_values:
                    values[tuple(unit), None, None] += [float(v) for v in unit_values]
        else:
            value = self.metric.sample_value
            for o in metrics.outcomes(outcomes):
                v = value(o)
                if v is not None:
                    cell = (o.unit, o.category, o.scenario)
                    values[cell].append(float(v))
                    self.scenarios[o.scenario].add(cell)
                    self.categories[o.category].add(cell)
        self.per_cell = {cell: np.asarray(v) for cell, v in values.items()}
        self._draws: dict | None = None

    @property
    def units(self) -> set:
        """Every cell: the set the overall value is of."""
        return set(self.per_cell)

    def _pooled(self, cells, of) -> list:
        """``[(path, scale x the mean of the path's cells in cells)]``, with ``of(cell)`` a cell's (sum, count)."""
        sums: dict[tuple, list] = defaultdict(lambda: [0.0, 0])
        for cell in sorted(cells, key=str):
            total, count = of(cell)
            sums[cell[0]][0] += total
            sums[cell[0]][1] += count
        return [(path, self.metric.scale * total / count) for path, (total, count) in sorted(sums.items())]

    def value(self, cells) -> float:
        if not cells:
            return math.nan
        return float(metrics.tree_mean(self._pooled(cells, lambda c: (self.per_cell[c].sum(), len(self.per_cell[c])))))

    def n(self, cells) -> int:
        return sum(len(self.per_cell[c]) for c in cells)

    def interval(self, cells) -> tuple[float, float]:
        if self._draws is None:
            rng = np.random.default_rng(self.seed)
            self._draws = {cell: resampled_means(self.per_cell[cell], rng, self.resamples)
                           for cell in sorted(self.per_cell, key=str)}
        if not cells:
            return math.nan, math.nan
        draws = self._pooled(cells, lambda c: (self._draws[c] * len(self.per_cell[c]), len(self.per_cell[c])))
        return _interval(dict(draws))


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
    # A pair metric's units follow its pairs, not the answers' categories and scenarios: its breakdowns are its
    # function (and, per scenario, its own resamples) on each group of answers.
    paired = {c.name for c in columns if hasattr(c.metric, "unit_values")}
    macro = {c.name: MacroSamples(items, c.metric) for c in columns
             if hasattr(c.metric, "sample_value") or c.name in paired}
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
            if samples is None or column.name in paired:
                values[column.name] = float(column.metric(group))
                if samples is not None and with_interval and column.interval:
                    own = MacroSamples(group, column.metric)
                    values[f"{column.name}_ci"], values[f"{column.name}_n"] = own.interval(own.units), own.n(own.units)
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
