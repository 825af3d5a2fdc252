"""``lmms-safebench judge``: judge the answers a run logged, without running the model again.

Input: the folders ``lmms-eval --log_samples`` (also with ``--predict_only``) or lm-eval write, for
any task of this package. Each logged sample becomes a :class:`~lmms_safebench.hooks.CaseSpec`, from
the document when the log keeps it (lm-eval), from the ``case`` record an inline verdict carries, or
else from the local dataset (the task's YAML names its slice; the log's ``doc_id`` picks the row).
Verdicts and metrics go through the very functions the tasks use (:func:`hooks.judge_case`, the
:data:`hooks.METRICS` tables, :func:`metrics.combine`), so an inline run and a re-judge of its log
with the same jury give the same numbers. Every finished juror call is in the cache at once, so an
interrupted re-judge resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from tqdm import tqdm

from . import hooks, metrics, outputs, taskindex
from .errors import SafebenchError
from .jury import runtime
from .jury.config import resolve_jury_config
from .jury.engine import Jury
from .jury.limits import EndpointLimiter


@dataclass
class Saved:
    """One logged sample and what judging it needs."""

    run: outputs.Run
    task: str
    line: int
    record: dict
    answer: str
    spec: hooks.CaseSpec | None = None
    problem: str | None = None  # why no case could be built (the sample is then counted unjudged)
    values: dict | None = None  # {metric: per-sample value} once judged

    @property
    def where(self) -> str:
        return f"{self.run.samples[self.task]}:{self.line}"


class _Documents:
    """Rows of the local datasets by task, loaded once, without decoding images or audio."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_task: dict[str, object] = {}

    def get(self, task: str, doc_id: int) -> dict:
        with self._lock:
            if task not in self._by_task:
                self._by_task[task] = self._load(task)
        docs = self._by_task[task]
        if not 0 <= doc_id < len(docs):
            raise ValueError(f"doc_id {doc_id} is out of range: the local data of {task} has {len(docs)} documents")
        return docs[doc_id]

    @staticmethod
    def _load(task: str):
        import datasets

        tasks, _ = taskindex.index()
        info = tasks.get(task)
        if info is None:
            raise ValueError(f"{task!r} is not a task of this package, and its log keeps no document to judge")
        if info.benchmark == "mmsafetybench":
            from .benchmarks import mmsafetybench as bench
            from .data import mmsafetybench as data
        else:
            from .benchmarks import safebench as bench
            from .data import safebench as data
        docs = data.load_docs(bench.Selector.parse(info.selector))
        media = [name for name, feature in docs.features.items()
                 if isinstance(feature, datasets.Image) or getattr(feature, "dtype", None) == "binary"]
        return docs.remove_columns(media)


def read_samples(runs: list[outputs.Run]) -> list[Saved]:
    documents = _Documents()
    saved: list[Saved] = []
    for run in runs:
        for task, path in sorted(run.samples.items()):
            try:
                records = outputs.read_jsonl(path)
            except (OSError, ValueError) as exc:
                raise SafebenchError(f"cannot read {path}: {exc}") from None
            for line, record in enumerate(records, 1):
                item = Saved(run, task, line, record, hooks.answer_text(record.get("filtered_resps",
                                                                                   record.get("resps"))))
                try:
                    item.spec = _case(task, record, documents)
                except (ValueError, KeyError, SafebenchError) as exc:
                    item.problem = f"{item.where}: {exc}"
                saved.append(item)
    return saved


def _case(task: str, record: dict, documents: _Documents) -> hooks.CaseSpec:
    doc = record.get("doc")
    if isinstance(doc, dict) and doc.get("scenario_slug"):
        return hooks.case_for_doc(doc)
    logged = (record.get("jury") or {}).get("case") if isinstance(record.get("jury"), dict) else None
    if logged:
        return hooks.case_from_logged(logged)
    if "doc_id" not in record:
        raise ValueError("the record has neither a document, a logged case, nor a doc_id")
    return hooks.case_for_doc(documents.get(task, int(record["doc_id"])))


# ------------------------------------------------------------------------------------------ judging

class Juries:
    """The jury of each default protocol (``single`` for MM-SafetyBench, ``jury`` for SafeBench), or one
    jury for all when ``spec`` names one. Calls in flight are limited in total (``max_in_flight``) and per
    endpoint (adaptive, up to ``endpoint_limit`` when given), by limits all the juries share."""

    def __init__(self, spec: str | None, max_in_flight: int, endpoint_limit: int | None):
        self.spec, self.max_in_flight, self.endpoint_limit = spec, max_in_flight, endpoint_limit
        self.limiter = EndpointLimiter(max_in_flight)
        self._juries: dict[str, Jury] = {}
        self._lock = threading.Lock()

    def for_protocol(self, protocol: str) -> Jury:
        with self._lock:
            if protocol not in self._juries:
                config = resolve_jury_config(protocol, self.spec)
                if self.endpoint_limit:
                    jurors = tuple(dataclasses.replace(j, max_in_flight=self.endpoint_limit) for j in config.jurors)
                    config = dataclasses.replace(config, jurors=jurors)
                same = next((j for j in self._juries.values() if j.config.identity == config.identity), None)
                self._juries[protocol] = same or Jury(config, runtime.shared_cache(), limiter=self.limiter)
            return self._juries[protocol]

    def all(self) -> list[Jury]:
        return list({id(j): j for j in self._juries.values()}.values())

    def close(self) -> None:
        for jury in self.all():
            jury.close()


def judge_all(saved: list[Saved], juries: Juries, workers: int, progress: bool = True) -> None:
    """Fill ``values`` of every sample; samples are judged concurrently (``workers`` at a time)."""
    for item in saved:
        if item.spec is None:
            table = "mmsafetybench" if item.task.startswith("safebench_mmsb") else "safebench"
            item.values = hooks.unjudged_values(table, item.problem or "no case", "unknown")
    todo = [item for item in saved if item.spec is not None]
    for protocol in sorted({item.spec.protocol for item in todo}):
        juries.for_protocol(protocol)  # resolve every configuration before the first call: errors come first
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="safebench-judge")
    futures = {pool.submit(hooks.judge_case, item.spec, item.answer, juries.for_protocol(item.spec.protocol)): item
               for item in todo}
    try:
        with tqdm(total=len(todo), desc="Judging", unit="sample", disable=not progress) as bar:
            for future in as_completed(futures):
                futures[future].values = future.result()
                bar.update(1)
    except KeyboardInterrupt:
        # Calls in flight finish and land in the cache; samples not started are dropped.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


# ------------------------------------------------------------------------------------------ metrics

def task_metrics(items: list[Saved]) -> dict:
    """One task's values: each metric's aggregation over the per-sample values, as the harness does."""
    tables = {name for item in items for name in item.values}
    per_metric = {name: [item.values[name] for item in items if name in item.values] for name in tables}
    aggregations = hooks.task_aggregations()
    return {name: aggregations[name](values) for name, values in per_metric.items()}


def group_metrics(children: list[dict]) -> dict:
    """A group's values from its children's, with the aggregation the lmms-eval group YAMLs use."""
    shared = set.intersection(*(set(c) for c in children)) - {"by_scenario"}
    return {name: metrics.combine([c[name] for c in children]) for name in sorted(shared)}


def compute_results(saved: list[Saved]) -> tuple[dict, dict]:
    """``(results, group_subtasks)`` of one run, keyed like the harness's results file."""
    by_task: dict[str, list[Saved]] = {}
    for item in saved:
        by_task.setdefault(item.task, []).append(item)
    values = {task: task_metrics(items) for task, items in sorted(by_task.items())}
    sizes = {task: len(items) for task, items in by_task.items()}
    groups = taskindex.complete_groups(set(values))
    for group, children in groups.items():
        values[group] = group_metrics([values[c] for c in children])
        sizes[group] = sum(sizes[c] for c in children)
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


def write_run(run: outputs.Run, saved: list[Saved], folder: Path, juries: Juries, stamp: str,
              seconds: float) -> Path:
    """The judged run in lmms-eval's layout: ``<folder>/<stamp>_results.json`` and
    ``<stamp>_samples_<task>.jsonl`` (the logged records with this jury's verdicts)."""
    results, group_subtasks = compute_results(saved)
    source = run.results()
    folder.mkdir(parents=True, exist_ok=True)
    metric_names = set(hooks.task_aggregations())
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
        "config": _without_secrets(source.get("config", {})),
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


_SECRET_ARG = re.compile(r"((?:api_key|apikey|token|secret|password)[^=,]*=)[^,]*", re.I)


def _without_secrets(config: dict) -> dict:
    """The source run's config with key-like ``model_args`` values masked (harnesses write them as given)."""
    config = dict(config or {})
    if isinstance(config.get("model_args"), str):
        config["model_args"] = _SECRET_ARG.sub(r"\1***", config["model_args"])
    elif isinstance(config.get("model_args"), dict):
        config["model_args"] = {k: ("***" if _SECRET_ARG.match(f"{k}=") else v) for k, v in config["model_args"].items()}
    return config


def judge_folders(inputs: list[str], output: str, jury: str | None = None, concurrency: int = 64,
                  endpoint_limit: int | None = None, progress: bool = True) -> dict:
    """Judge every run under ``inputs``; returns a summary (written paths, counts, problems, accounting)."""
    runs = [run for folder in inputs for run in _runs(folder)]
    saved = read_samples(runs)
    problems = [item.problem for item in saved if item.problem]
    for problem in problems:
        logger.warning(f"cannot judge {problem}")
    juries = Juries(jury, concurrency, endpoint_limit)
    start = time.perf_counter()
    try:
        judge_all(saved, juries, workers=concurrency, progress=progress)
        seconds = time.perf_counter() - start
        stamp = time.strftime("%Y%m%d_%H%M%S")
        written = [write_run(run, [s for s in saved if s.run is run], folder, juries, stamp, seconds)
                   for run, folder in zip(runs, output_folders(runs, Path(output)), strict=True)]
        accounting = {j.config.name: j.accounting() for j in juries.all()}
    finally:
        juries.close()
    return {"written": written, "samples": len(saved), "problems": problems, "seconds": seconds,
            "accounting": accounting, "endpoints": juries.limiter.report()}


def _runs(folder: str) -> list[outputs.Run]:
    path = Path(folder)
    if not path.exists():
        raise SafebenchError(f"{folder}: no such folder")
    runs = [run for run in outputs.find_runs(path) if run.samples]
    if not runs:
        raise SafebenchError(f"{folder}: no per-sample files (lmms-eval/lm-eval write them with --log_samples)")
    return runs
