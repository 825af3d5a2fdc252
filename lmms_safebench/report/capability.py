"""Capability scores (MMMU, MMBench, any task that is not this package's) from lmms-eval and lm-eval results files.

Which files: every run :func:`lmms_safebench.harness.outputs.find_runs` finds under the folders given, i.e. lmms-eval's
``<ts>_results.json`` and lm-eval's ``results_<ts>.json``. A file that is not in the harnesses' results schema (no
``results`` mapping of task -> metrics) raises :class:`~lmms_safebench.errors.DataError` naming the file and what
is missing; nothing is guessed from it.

Which tasks: every entry of ``results`` whose name does not start with ``safebench_`` (this package's boards are
read from their judged samples instead) and that has a numeric metric. A task under a group that has numbers of its
own is left out: the group is the score (lm-eval's ``mmlu``, not its 57 subjects). A group without numbers (no
aggregation) leaves its tasks in.

Which number (the primary metric): the first key of ``results[task]``, in the file's order, of the form
``metric,filter`` whose metric does not end in ``_stderr`` and whose value is a number (``alias``, ``name``,
``sample_len`` and record-valued metrics are skipped). ``overrides`` (``TASK=METRIC``, see :func:`parse_overrides`)
choose another: ``METRIC`` is a metric name (its first filter) or ``metric,filter``. A score's ``metric`` is the
metric's name, with ``,filter`` kept when the filter is not ``none``.

What else: ``metric_stderr,filter`` (a number) gives the 95% interval value +- 1.96 stderr (the harness's
standard error: a normal approximation); ``n-samples[task].effective`` (else ``sample_len``) gives ``n``, for a
group the sum over its tasks when each is known; ``higher_is_better[task][metric]`` the direction; ``versions`` the
version; ``configs[task]`` the dataset (``dataset_path``, ``dataset_name``, split, ``dataset_kwargs.revision``)
and ``task_hashes[task]`` (lm-eval, written with ``--log_samples``: a hash of the documents and prompts) its
fingerprint. When several runs hold one model and task, the newest is used and the others noted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import DataError
from ..harness import outputs
from ..redact import shown
from .scores import CAPABILITY, Score

OWN_PREFIX = "safebench_"
Z95 = 1.96
_NOT_METRICS = {"alias", "name", "sample_len", "sample_count"}


def parse_overrides(items: Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``["mmmu_val=mmmu_acc", ...]`` -> ``{task: metric}``; a malformed item raises naming it."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    out = {}
    for item in items:
        task, sep, metric = str(item).partition("=")
        if not sep or not task.strip() or not metric.strip():
            raise ValueError(f"capability metric {shown(item)}: expected TASK=METRIC (e.g. mmmu_val=mmmu_acc)")
        out[task.strip()] = metric.strip()
    return out


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _metric_keys(entry: Mapping) -> list[str]:
    return [key for key, value in entry.items()
            if key not in _NOT_METRICS and "," in key and not key.partition(",")[0].endswith("_stderr")
            and _number(value)]


def primary_metric(path: Path, task: str, entry: Mapping, override: str | None = None) -> str:
    """The ``metric,filter`` key of ``entry`` (``results[task]``) that is the task's score (module docstring)."""
    keys = _metric_keys(entry)
    if override is None:
        return keys[0]
    chosen = [k for k in keys if k == override] or [k for k in keys if k.partition(",")[0] == override]
    if not chosen:
        raise DataError(f"{path}: task {task!r} has no numeric metric {override!r} (chosen with {task}={override}); "
                        f"its metrics: {', '.join(keys)}")
    return chosen[0]


def check_schema(path: Path, data) -> dict:
    """``data``'s ``results`` mapping, or a DataError saying what of the results schema is missing."""
    if not isinstance(data, dict):
        raise DataError(f"{path}: not an lm-eval or lmms-eval results file: a JSON {type(data).__name__}, "
                        "not an object with a 'results' mapping")
    results = data.get("results")
    if not isinstance(results, dict):
        keys = ", ".join(list(data)[:12]) or "none"
        raise DataError(f"{path}: not an lm-eval or lmms-eval results file: no 'results' mapping of task -> metrics "
                        f"(top-level keys: {keys})")
    for task, entry in results.items():
        if not isinstance(entry, dict):
            raise DataError(f"{path}: results[{task!r}] is a {type(entry).__name__}, not a mapping of metrics "
                            "('metric,filter': value)")
    for key in ("group_subtasks", "n-samples", "higher_is_better", "versions", "configs", "task_hashes"):
        if key in data and not isinstance(data[key], dict):
            raise DataError(f"{path}: '{key}' is a {type(data[key]).__name__}, not a mapping by task")
    return results


def _leaves(task: str, group_subtasks: Mapping) -> list[str]:
    children = group_subtasks.get(task) or []
    if not children:
        return [task]
    return [leaf for child in children for leaf in _leaves(child, group_subtasks)]


def _n(task: str, data: dict, results: dict) -> int | None:
    def one(name):
        count = (data.get("n-samples") or {}).get(name)
        if isinstance(count, dict) and isinstance(count.get("effective"), int):
            return count["effective"]
        sample_len = (results.get(name) or {}).get("sample_len")
        return sample_len if isinstance(sample_len, int) else None
    counts = [one(leaf) for leaf in _leaves(task, data.get("group_subtasks") or {})]
    return None if any(c is None for c in counts) else sum(counts)


def _dataset(task: str, data: dict) -> dict:
    group_subtasks = data.get("group_subtasks") or {}
    if group_subtasks.get(task):
        return {"tasks": {leaf: _dataset(leaf, data) for leaf in sorted(_leaves(task, group_subtasks))}}
    config = (data.get("configs") or {}).get(task) or {}
    kwargs = config.get("dataset_kwargs") if isinstance(config.get("dataset_kwargs"), dict) else {}
    found = {"id": config.get("dataset_path"), "config": config.get("dataset_name"),
             "split": config.get("test_split") or config.get("validation_split"), "revision": kwargs.get("revision"),
             "fingerprint": (data.get("task_hashes") or {}).get(task)}
    return {k: v for k, v in found.items() if v}


def _reported(results: dict, group_subtasks: Mapping) -> list[str]:
    """Tasks with numbers that are not under a group with numbers (module docstring)."""
    parents: dict[str, set[str]] = {}
    for group, children in group_subtasks.items():
        for child in children or []:
            parents.setdefault(child, set()).add(group)

    def ancestors(task: str) -> set[str]:
        found, todo = set(), list(parents.get(task, ()))
        while todo:
            group = todo.pop()
            if group not in found:
                found.add(group)
                todo += parents.get(group, ())
        return found

    return [t for t, entry in results.items()
            if not t.startswith(OWN_PREFIX) and _metric_keys(entry)
            and not any(_metric_keys(results.get(g) or {}) for g in ancestors(t))]


def scores_of_file(path: Path, data, model: str, overrides: Mapping[str, str] | None = None) -> list[Score]:
    """The capability scores of one loaded results file (``data``) of ``model``."""
    overrides = overrides or {}
    results = check_schema(path, data)
    out = []
    for task in _reported(results, data.get("group_subtasks") or {}):
        entry = results[task]
        key = primary_metric(path, task, entry, overrides.get(task))
        name, _, filt = key.partition(",")
        value = float(entry[key])
        stderr = entry.get(f"{name}_stderr,{filt}")
        ci = (value - Z95 * stderr, value + Z95 * stderr) if _number(stderr) and stderr >= 0 else None
        direction = ((data.get("higher_is_better") or {}).get(task) or {}).get(name)
        alias = str(entry.get("alias") or "").strip().lstrip("- ").strip()
        out.append(Score(model=model, board=task, kind=CAPABILITY, metric=name if filt == "none" else key,
                         value=value, title=alias or task, ci=ci, n=_n(task, data, results),
                         higher_is_better=direction if isinstance(direction, bool) else None,
                         dataset=_dataset(task, data), version=(data.get("versions") or {}).get(task),
                         notes="95% CI = value +- 1.96 x the harness's stderr" if ci else ""))
    return out


def _when(stamp: str) -> str:
    """A run's time stamp in one comparable form: lmms-eval's ``20240101_120000`` and lm-eval's
    ``2024-01-01T12-00-00.123`` both become their digits."""
    return re.sub(r"\D", "", stamp)


def read_capability(folders: Iterable[str | Path], names: Mapping[str, str] | None = None,
                    overrides: Iterable[str] | Mapping[str, str] | None = None,
                    skipped: list[str] | None = None) -> tuple[list[Score], list[str]]:
    """Capability scores of every results file under ``folders`` and notes on what was left out.
    ``names`` renames models (run name -> shown name); ``overrides`` pick metrics (:func:`parse_overrides`).
    An override naming a task that no file has is noted. A file that is not a results file raises a DataError
    naming it; with ``skipped`` given, that message (with "; left out") goes there instead and the other files are
    read (as :func:`lmms_safebench.harness.outputs.read_jsonl` does with a torn line)."""
    names, chosen_metric = dict(names or {}), parse_overrides(overrides)
    chosen: dict[tuple[str, str], tuple[str, str, Score]] = {}
    notes, seen_tasks = [], set()
    for folder in folders:
        if not Path(folder).exists():
            raise FileNotFoundError(f"{folder}: no such folder")
        for run in outputs.find_runs(folder):
            if run.results_path is None:
                continue
            try:
                try:
                    data = run.results()
                except ValueError as exc:
                    raise DataError(str(exc)) from None
                check_schema(run.results_path, data)  # before model_name() reads it
            except DataError as exc:
                if skipped is None:
                    raise
                skipped.append(f"{exc}; left out")
                continue
            model = names.get(run.model_name(), run.model_name())
            for score in scores_of_file(run.results_path, data, model, chosen_metric):
                seen_tasks.add(score.board)
                key, here = (model, score.board), (_when(run.stamp), str(run.results_path), score)
                kept = chosen.get(key)
                if kept is not None:
                    older, here = sorted((kept, here), key=lambda c: c[:2])
                    notes.append(f"{older[1]}: older than {here[1]} for {model} on {score.board}; not used")
                chosen[key] = here
    notes += [f"capability metric {task}={metric}: no results file has task {task!r}"
              for task, metric in chosen_metric.items() if task not in seen_tasks]
    return sorted((c[2] for c in chosen.values()), key=lambda s: (s.board, s.model)), notes


def model_configs(folders: Iterable[str | Path], names: Mapping[str, str] | None = None) -> dict[str, dict]:
    """``{model: config}``: the ``config`` (model, model_args...) of each model's newest run with a results file, as
    the harness wrote it (secrets included: :func:`lmms_safebench.redact.redact_config` before showing it)."""
    names, out = dict(names or {}), {}
    for folder in folders:
        for run in sorted(outputs.find_runs(folder), key=lambda r: _when(r.stamp)):
            if run.results_path is None:
                continue
            try:
                data = run.results()
            except ValueError:
                continue  # read_capability names it
            if isinstance(data, dict) and isinstance(data.get("config"), dict):
                out[names.get(run.model_name(), run.model_name())] = data["config"]
    return out
