"""The judged run's numbers and files: each task's metrics from its samples' values, each group's from its leaf tasks'
(as the harness computes them), written in lmms-eval's layout."""

from __future__ import annotations

import json
from pathlib import Path

from ..harness import hooks, outputs, taskindex
from ..redact import redact_config
from ..scoring import metrics
from .samples import Saved

# ------------------------------------------------------------------------------------------ metrics

def task_metrics(items: list[Saved]) -> dict:
    """One task's values: each metric's aggregation over the per-sample values, as the harness does."""
    tables = {name for item in items for name in item.values}
    per_metric = {name: [item.values[name] for item in items if name in item.values] for name in tables}
    aggregations = {name: spec.aggregation for item in items for name, spec in (item.table or {}).items()}
    return {name: aggregations[name](values) for name, values in per_metric.items()}


def group_metrics(leaves: list[dict], per_task: set[str] = frozenset()) -> dict:
    """A group's values from its leaf tasks' values, as lmms-eval computes them (it aggregates a group over
    its leaf tasks, not its direct children), with the aggregation the group YAMLs use; ``per_task``: the metrics
    no group combines (a per-task record such as ``by_scenario``)."""
    shared = set.intersection(*(set(c) for c in leaves))
    return {name: metrics.combine([c[name] for c in leaves]) for name in sorted(shared) if name not in per_task}


def _leaves(name: str, groups: dict[str, tuple[str, ...]]) -> list[str]:
    if name not in groups:
        return [name]
    return [leaf for child in groups[name] for leaf in _leaves(child, groups)]


def compute_results(saved: list[Saved]) -> tuple[dict, dict]:
    """``(results, group_subtasks)`` of one run, keyed like the harness's results file."""
    by_task: dict[str, list[Saved]] = {}
    for item in saved:
        by_task.setdefault(item.task, []).append(item)
    values = {task: task_metrics(items) for task, items in sorted(by_task.items())}
    sizes = {task: len(items) for task, items in by_task.items()}
    groups = taskindex.complete_groups(set(values))
    per_task = {name for item in saved for name, spec in (item.table or {}).items()
                if not getattr(spec.aggregation, "in_groups", True)}
    for group in groups:
        leaves = _leaves(group, groups)
        values[group] = group_metrics([values[leaf] for leaf in leaves], per_task)
        sizes[group] = sum(sizes[leaf] for leaf in leaves)
    results = {}
    for name, table in values.items():
        entry = {"alias": name, "sample_len": sizes[name]}
        for metric, value in table.items():
            entry[f"{metric},none"] = _plain(value)
            entry[f"{metric}_stderr,none"] = "N/A"
        results[name] = entry
    return results, {group: list(children) for group, children in groups.items()}


def _plain(value):
    if isinstance(value, metrics.Stat):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------ writing

def output_folders(runs: list[outputs.Run], out_root: Path) -> list[Path]:
    """``<out>/<model folder>`` per run; a second run of the same folder name (lmms-eval appends runs to
    one model folder) gets ``<model folder>_<its stamp>``, so no judged run overwrites another."""
    folders, taken = [], set()
    for run in runs:
        folder = out_root / run.directory.name
        if folder in taken:
            folder = out_root / f"{run.directory.name}_{run.stamp}"
        taken.add(folder)
        folders.append(folder)
    return folders


def write_run(run: outputs.Run, saved: list[Saved], folder: Path, juries, stamp: str,
              seconds: float) -> Path:
    """The judged run in lmms-eval's layout: ``<folder>/<stamp>_results.json`` and ``<stamp>_samples_<task>.jsonl``
    (the logged records with this jury's verdicts). ``juries``: the :class:`~lmms_safebench.judge.Juries` that judged
    them."""
    results, group_subtasks = compute_results(saved)
    source = run.results()
    folder.mkdir(parents=True, exist_ok=True)
    # Drop the metric values the log carries (an inline run's verdicts): this judge's values replace them.
    metric_names = {name for item in saved for name in (item.table or {})} | set(hooks.any_table())
    for task in sorted({item.task for item in saved}):
        with open(folder / f"{stamp}_samples_{task}.jsonl", "w", encoding="utf-8") as handle:
            for item in (i for i in saved if i.task == task):
                record = {k: v for k, v in item.record.items() if k not in metric_names}  # drop old verdicts
                record.update(item.values)
                handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    juries_used = [j.config.describe() for j in juries.all()]
    payload = {
        "results": results,
        "group_subtasks": group_subtasks,
        "config": redact_config(source.get("config", {})),
        "model_name": source.get("model_name"),
        "lmms_safebench": {
            "kind": "judge",
            "model": run.model_name(),
            "judged_from": run.where,
            "source_results": str(run.results_path) if run.results_path else None,
            "juries": juries_used,
            "samples": len(saved),
            "problems": [item.problem for item in saved if item.problem],
            "wall_time_s": round(seconds, 3),
        },
    }
    path = folder / f"{stamp}_results.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return path


