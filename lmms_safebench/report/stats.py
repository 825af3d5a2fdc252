"""Numbers for one board entry: the tasks' metric functions, plus bootstrap confidence intervals.

The interval resamples answers with replacement within each scenario (the benchmark fixes how many
queries each scenario has), recomputes the statistic exactly as the point estimate is computed (the tree
rule of :mod:`lmms_safebench.scoring.tree`: per scenario, then the mean of children up the tree), and takes
the 2.5th and 97.5th percentiles.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..scoring import metrics
from ..scoring.records import JUDGED, Outcome
from .collect import Entry

RESAMPLES = 1000
SEED = 0


def _metric(metric):
    """A metric function, or its name in :mod:`lmms_safebench.scoring.metrics` (``"asr"``, ``"sri"``)."""
    return getattr(metrics, metric) if isinstance(metric, str) else metric


def _unit_values(outcomes: list[Outcome], value) -> dict[tuple[str, ...], np.ndarray]:
    """``{scenario path: values}``: the per-sample values the metric averages (e.g. 0/1 unsafe, 1-5 ratings)."""
    out: dict[tuple[str, ...], list] = defaultdict(list)
    for o in metrics.outcomes(outcomes):
        v = value(o)
        if v is not None:
            out[o.unit].append(float(v))
    return {unit: np.asarray(values) for unit, values in out.items()}


def bootstrap_ci(outcomes: list[Outcome], metric, resamples: int = RESAMPLES, seed: int = SEED) -> tuple[float, float]:
    """95% percentile interval of a macro rate (``metric``: a function of :func:`metrics.macro_rate` or its name;
    NaN, NaN when no sample has a value). A metric whose unit of resampling is not one answer (a pair of answers)
    gives its own per-unit values: ``metric.unit_values(outcomes)`` -> ``{scenario path: values}``."""
    metric = _metric(metric)
    if hasattr(metric, "unit_values"):
        per_unit = {unit: np.asarray(values, dtype=float) for unit, values in metric.unit_values(outcomes).items()
                    if len(values)}
    else:
        per_unit = _unit_values(outcomes, metric.sample_value)
    if not per_unit:
        return math.nan, math.nan
    scale = metric.scale
    rng = np.random.default_rng(seed)
    nodes = []
    for unit in sorted(per_unit):
        values = per_unit[unit]
        draws = values[rng.integers(0, len(values), size=(resamples, len(values)))]
        nodes.append((unit, scale * draws.mean(axis=1)))
    overall = metrics.tree_mean(nodes)  # the estimate's own rule, on every resample at once
    low, high = np.percentile(overall, [2.5, 97.5])
    return float(low), float(high)


def summarize(entry: Entry, columns) -> dict:
    """Every number the report shows for one model on one board under one jury: each of the board's ``columns``
    (:class:`~lmms_safebench.benchmarks.base.ReportColumn`), with its interval, per category and per scenario; the
    coverage and the jury's agreement."""
    items = entry.outcomes
    jury = metrics.jury_report(entry.verdicts)
    out = {
        "samples": len(items),
        "judged": float(metrics.judged_coverage(items)),
        "unjudged": int(metrics.unjudged_count(items)),
        "inference_failed": int(metrics.inference_failed_count(items)),
        "refusal_rate": float(metrics.refusal_rate(items)),
        "juror_asr": jury["juror_asr"],
        "agreement": jury["agreement"],
    }
    for column in columns:
        out[column.name] = float(column.metric(items))
        if column.interval:
            out[f"{column.name}_ci"] = bootstrap_ci(items, column.metric)
    broken_down = [c for c in columns if c.breakdown]
    categories: dict[str, list[Outcome]] = defaultdict(list)
    scenarios: dict[str, list[Outcome]] = defaultdict(list)
    for o in items:
        categories[o.category].append(o)
        scenarios[o.scenario].append(o)
    out["by_category"] = {c: {col.name: float(col.metric(v)) for col in broken_down} for c, v in sorted(categories.items())}
    out["by_scenario"] = {}
    for scenario, group in sorted(scenarios.items()):
        names = {o.category for o in group}
        out["by_scenario"][scenario] = {**{col.name: float(col.metric(group)) for col in broken_down},
                                        "category": names.pop() if len(names) == 1 else None,
                                        "judged": sum(1 for o in group if o.status == JUDGED), "samples": len(group)}
    return out
