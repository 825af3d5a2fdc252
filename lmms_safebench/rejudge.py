"""``lmms-safebench judge``: judge the answers a run logged, without running the model again.

Input: the folders ``lmms-eval --log_samples`` (also with ``--predict_only``) or lm-eval write, for
any task of this package (official or generated). Each logged sample becomes a
:class:`~lmms_safebench.benchmarks.base.CaseSpec` through its benchmark's adapter, from the document
when the log keeps it (lm-eval), from the ``case`` record an inline verdict carries, or else from the
local dataset (the task's YAML names its slice; the log's ``doc_id`` picks the row, checked against the
logged document fingerprint). Verdicts and metrics go through the very functions the tasks use
(:func:`hooks.judge_case`, the :data:`metrics.TABLES`, :func:`metrics.combine`), so an inline run and a
re-judge of its log with the same jury give the same numbers. Every finished juror call is in the cache at once, so an
interrupted re-judge resumes where it stopped.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from tqdm import tqdm

from . import __version__, hooks, jury_metrics, metrics, outputs, taskindex
from .benchmarks import registry
from .benchmarks.base import CaseSpec
from .errors import SafebenchError
from .jury import runtime
from .jury.config import resolve_jury_config
from .jury.engine import Jury
from .llm.limits import EndpointLimiter
from .redact import redact_config


@dataclass
class Saved:
    """One logged sample and what judging it needs."""

    run: outputs.Run
    task: str
    line: int
    record: dict
    answer: str
    info: taskindex.TaskInfo | None = None  # the task as this package knows it (None: an unknown task)
    spec: CaseSpec | None = None
    problem: str | None = None  # why no case could be built (the sample is then counted unjudged)
    cause: str | None = None  # the problem's cause (NO_CASE, UNKNOWN_TASK, DOC_MISMATCH, UNVERIFIABLE)
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

        info = taskindex.index()[0][task]
        adapter = registry.get(info.benchmark)
        docs = adapter.load_docs(adapter.parse(info.selector))
        media = [name for name, feature in docs.features.items()
                 if isinstance(feature, datasets.Image) or getattr(feature, "dtype", None) == "binary"]
        return docs.remove_columns(media)


# Causes of samples that `judge` cannot judge (beside the jury's own, see jury.engine.CAUSES).
NO_CASE = "no_case"  # the record holds no document, no logged case and no usable doc_id
UNKNOWN_TASK = "unknown_task"  # a safebench_* task this version does not know
DOC_MISMATCH = "doc_mismatch"  # the local document at the logged doc_id is not the one the model answered
UNVERIFIABLE = "unverifiable"  # the log predates document fingerprints, so the doc_id cannot be checked


class CaseProblem(ValueError):
    def __init__(self, message: str, cause: str = NO_CASE):
        super().__init__(message)
        self.cause = cause


def read_samples(runs: list[outputs.Run], trust_doc_ids: bool = False) -> tuple[list[Saved], list[str]]:
    """Every logged sample of this package's tasks, with its case or the problem that prevents one; and
    the tasks left aside because they are not this package's (other benchmarks logged in the same run)."""
    documents = _Documents()
    known, _ = taskindex.index()
    saved: list[Saved] = []
    foreign: list[str] = []
    for run in runs:
        for task, path in sorted(run.samples.items()):
            if not task.startswith("safebench_"):
                foreign.append(str(path))
                continue
            try:
                records = outputs.read_jsonl(path)
            except (OSError, ValueError) as exc:
                raise SafebenchError(f"cannot read {path}: {exc}") from None
            for line, record in enumerate(records, 1):
                item = Saved(run, task, line, record, hooks.answer_text(record.get("filtered_resps",
                                                                                   record.get("resps"))),
                             info=known.get(task))
                try:
                    if item.info is None:
                        raise CaseProblem(f"{task!r} is not a task of lmms-safebench {__version__} (nor of a "
                                          "generated benchmark in the data folder)", UNKNOWN_TASK)
                    item.spec = _case(item.info, record, documents, trust_doc_ids)
                except CaseProblem as exc:
                    item.problem, item.cause = f"{item.where}: {exc}", exc.cause
                except (ValueError, KeyError, SafebenchError) as exc:
                    item.problem, item.cause = f"{item.where}: {exc}", NO_CASE
                saved.append(item)
    return saved, foreign


def same_document(target: str | None, other: str | None) -> bool | None:
    """Whether two logged ``target`` values name the same document: True or False when both are document
    fingerprints (``safebench-doc:<hash>``, see :func:`hooks.doc_to_target`), None when either is not (a log
    written before fingerprints: it cannot be checked). ``judge`` compares a log with the local data, ``select``
    the logs of different runs, by this one rule."""
    if not (str(target or "").startswith(hooks.FINGERPRINT_PREFIX)
            and str(other or "").startswith(hooks.FINGERPRINT_PREFIX)):
        return None
    return target == other


def _case(info: taskindex.TaskInfo, record: dict, documents: _Documents, trust_doc_ids: bool) -> CaseSpec:
    try:
        adapter = registry.get(info.benchmark)
    except KeyError as exc:
        raise CaseProblem(str(exc).strip("'\""), UNKNOWN_TASK) from None
    doc = record.get("doc")
    if isinstance(doc, dict) and doc.get("scenario_slug"):
        return adapter.case(doc)  # lm-eval logs keep the document itself
    logged = (record.get("jury") or {}).get("case") if isinstance(record.get("jury"), dict) else None
    if logged:
        return adapter.case_from_logged(logged, info.variant)  # an inline verdict carries its case
    if "doc_id" not in record:
        raise CaseProblem("the record has neither a document, a logged case, nor a doc_id")
    local = documents.get(info.name, int(record["doc_id"]))
    logged_target = str(record.get("target") or "")
    same = same_document(logged_target, hooks.doc_to_target(local))
    if same is False:
        raise CaseProblem(f"doc_id {record['doc_id']} names another document in the local data of {info.name} "
                          f"(logged {logged_target}, local {hooks.doc_to_target(local)}): the data changed "
                          "since the run; rebuild it as it was, or run inference again", DOC_MISMATCH)
    if same is None and not trust_doc_ids:
        raise CaseProblem("the log carries no document fingerprint (written before lmms-safebench 0.2), so its "
                          "doc_id cannot be checked against the local data; pass --trust-doc-ids to judge it anyway",
                          UNVERIFIABLE)
    return adapter.case(local)


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
                    jurors = tuple(j.model_copy(update={"max_in_flight": self.endpoint_limit}) for j in config.jurors)
                    config = config.model_copy(update={"jurors": jurors})
                same = next((j for j in self._juries.values() if j.config.identity == config.identity), None)
                self._juries[protocol] = same or Jury(config, runtime.shared_cache(), limiter=self.limiter)
            return self._juries[protocol]

    def all(self) -> list[Jury]:
        return list({id(j): j for j in self._juries.values()}.values())

    def close(self) -> None:
        for jury in self.all():
            jury.close()


def _table(item: Saved) -> str:
    """The metric table of the sample's task (every metric when the task is unknown)."""
    if item.info is None:
        return metrics.ALL
    try:
        return registry.get(item.info.benchmark).table_for(item.info.variant)
    except KeyError:
        return metrics.ALL


def judge_all(saved: list[Saved], juries: Juries, workers: int, progress: bool = True) -> None:
    """Fill ``values`` of every sample; samples are judged concurrently (``workers`` at a time)."""
    for item in saved:
        if item.spec is None:
            item.values = hooks.unjudged_values(_table(item), item.problem or "no case", "unknown",
                                                item.cause or NO_CASE)
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
    aggregations = metrics.task_aggregations()
    return {name: aggregations[name](values) for name, values in per_metric.items()}


def group_metrics(leaves: list[dict]) -> dict:
    """A group's values from its leaf tasks' values, as lmms-eval computes them (it aggregates a group over
    its leaf tasks, not its direct children), with the aggregation the group YAMLs use."""
    shared = set.intersection(*(set(c) for c in leaves)) - {"by_scenario"}
    return {name: metrics.combine([c[name] for c in leaves]) for name in sorted(shared)}


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
    for group in groups:
        leaves = _leaves(group, groups)
        values[group] = group_metrics([values[leaf] for leaf in leaves])
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


def write_run(run: outputs.Run, saved: list[Saved], folder: Path, juries: Juries, stamp: str,
              seconds: float) -> Path:
    """The judged run in lmms-eval's layout: ``<folder>/<stamp>_results.json`` and
    ``<stamp>_samples_<task>.jsonl`` (the logged records with this jury's verdicts)."""
    results, group_subtasks = compute_results(saved)
    source = run.results()
    folder.mkdir(parents=True, exist_ok=True)
    metric_names = set(metrics.task_aggregations())
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


def judge_folders(inputs: list[str], output: str, jury: str | None = None, concurrency: int = 64,
                  endpoint_limit: int | None = None, progress: bool = True, trust_doc_ids: bool = False) -> dict:
    """Judge every run under ``inputs``; returns a summary (written paths, per-status counts, unjudged
    samples by cause, problems, accounting)."""
    runs = [run for folder in inputs for run in _runs(folder)]
    saved, foreign = read_samples(runs, trust_doc_ids)
    if not saved:
        raise SafebenchError(f"no samples of lmms-safebench tasks under {', '.join(inputs)} "
                             f"({len(foreign)} sample file(s) of other tasks)")
    runs = [run for run in runs if any(item.run is run for item in saved)]
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
    verdicts = [item.values["jury"] for item in saved]
    counts = {status: sum(1 for v in verdicts if v["status"] == status)
              for status in ("judged", "unjudged", "inference_failed")}
    return {"written": written, "samples": len(saved), "counts": counts,
            "unjudged_causes": jury_metrics.unjudged_causes(verdicts), "problems": problems, "foreign": foreign,
            "seconds": seconds, "accounting": accounting, "endpoints": juries.limiter.report()}


def _runs(folder: str) -> list[outputs.Run]:
    path = Path(folder)
    if not path.exists():
        raise SafebenchError(f"{folder}: no such folder")
    runs = [run for run in outputs.find_runs(path) if run.samples]
    if not runs:
        raise SafebenchError(f"{folder}: no per-sample files (lmms-eval/lm-eval write them with --log_samples)")
    return runs
