"""The one group rule: how per-task values combine up a benchmark's tree (inline, in ``judge`` and in ``report``).

Every per-sample outcome carries its ``path``: where its scenario sits in the benchmark's tree, from the variant
down (SafeBench: ``(variant, category, scenario)``; MiniBench and MM-SafetyBench: ``(variant, scenario)``). One rule
gives every macro value, of a task and of a group alike: **a node is the mean of its children, down to the
scenarios**. A child with no judged sample is left out of its parent's mean.

Each task value is a :class:`Stat`, a float that remembers its path and how it combines with its siblings, so a
group needs one generic aggregation (:func:`combine`): ``macro`` values follow the rule above, ``pooled`` values sum
numerators and denominators, ``sum`` values add up; record values (a jury report, a table per scenario) merge.
"""

from __future__ import annotations

import math
from collections import defaultdict

from .agreement import merge_reports

MACRO, POOLED, SUM = "macro", "pooled", "sum"


class Stat(float):
    """A metric value carrying what a group needs to combine it exactly."""

    combine: str
    numerator: float
    denominator: float
    path: tuple[str, ...]  # where the value sits in the benchmark's tree (the common path of its samples)

    def __new__(cls, value, combine: str, numerator: float = 0.0, denominator: float = 0.0,
                path: tuple[str, ...] | str | None = ()):
        obj = super().__new__(cls, value)
        if isinstance(path, str):
            path = (path,)
        obj.combine, obj.numerator, obj.denominator, obj.path = combine, numerator, denominator, tuple(path or ())
        return obj

    def __reduce__(self):  # keep the extra fields through copy/pickle
        return (Stat, (float(self), self.combine, self.numerator, self.denominator, self.path))


def rate(numerator: float, denominator: float, scale: float = 100.0) -> float:
    return scale * numerator / denominator if denominator else math.nan


# ---------------------------------------------------------------- the tree rule

def common_path(paths) -> tuple[str, ...]:
    paths = list(paths)
    if not paths:
        return ()
    first = paths[0]
    depth = 0
    while depth < len(first) and all(len(p) > depth and p[depth] == first[depth] for p in paths):
        depth += 1
    return first[:depth]


def tree_mean(nodes: list[tuple[tuple[str, ...], float]]):
    """The rule: below the nodes' common path, each node is the mean of its children; NaN nodes are empty
    and left out; a node that ends where others go on counts as a child itself. A node's value may also be
    a numpy array (the report's bootstrap resamples): then the same means are taken elementwise."""
    return _tree_mean(nodes, len(common_path(path for path, _ in nodes)))


def _empty(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _tree_mean(nodes, depth: int):
    values = [v for path, v in nodes if len(path) == depth and not _empty(v)]
    below: dict[str, list] = defaultdict(list)
    for path, value in nodes:
        if len(path) > depth:
            below[path[depth]].append((path, value))
    values += [m for m in (_tree_mean(child, depth + 1) for child in below.values()) if not _empty(m)]
    if not values:
        return math.nan
    return sum(values) / len(values)  # floats, or arrays elementwise


# ---------------------------------------------------------------- group-level aggregation

def combine(values: list, sizes: list | None = None, weight_by_size: bool = False):
    """Group aggregation for every metric above (lmms-eval calls it with the leaf tasks' values)."""
    values = [v for v in values if v is not None]
    if not values:
        return math.nan
    if all(isinstance(v, dict) for v in values):
        if all("identities" in v for v in values):
            return merge_reports(values)
        merged = {}
        for value in values:  # by_scenario tables of different tasks
            merged.update(value)
        return dict(sorted(merged.items()))
    kinds = {getattr(v, "combine", None) for v in values}
    if len(kinds) != 1 or None in kinds:
        raise ValueError(f"cannot combine metric values of different kinds: {kinds}")
    kind = kinds.pop()
    path = common_path(v.path for v in values)
    if kind == SUM:
        total = sum(float(v) for v in values)
        return Stat(total, SUM, total, 0, path)
    num = sum(v.numerator for v in values)
    den = sum(v.denominator for v in values)
    if kind == POOLED:
        return Stat(rate(num, den), POOLED, num, den, path)
    nodes = [(v.path or (f"#{i}",), float(v)) for i, v in enumerate(values)]
    return Stat(tree_mean(nodes), MACRO, num, den, path)
