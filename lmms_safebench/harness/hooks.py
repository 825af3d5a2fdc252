"""What the task YAMLs call (through each task folder's thin ``utils.py``), for every benchmark alike.

Flow per sample: ``process_docs`` (lmms-eval) / ``custom_dataset`` (lm-eval) finds the benchmark's
adapter from the task's ``dataset_name`` and loads its documents (after checking that a jury is
configured, so a run without one stops before inference) -> the harness asks the model ->
``process_results`` finds the adapter from the document and hands the answer to the jury -> the metric
aggregations of the adapter's metric table sum them up. ``process_results`` never raises: lmms-eval aborts a
whole run when it does. A task that cannot start (no jury, data not built, a bad setting) ends the whole
run before inference with :class:`CannotStart`: a non-zero exit whose last line says what to do.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys

from loguru import logger

from .. import settings
from ..benchmarks import registry
from ..benchmarks.base import Benchmark, CaseSpec
from ..errors import SafebenchError
from ..jury import runtime
from ..jury.case import Case
from ..jury.engine import JudgedSample
from ..jury.heuristic import is_refusal
from ..scoring import metrics
from ..scoring.records import INFERENCE_FAILED, UNJUDGED, Outcome
from . import outputs, table

MALFORMED_DOCUMENT = "malformed_document"  # cause of a sample whose document cannot make a case
FINGERPRINT_PREFIX = "safebench-doc:"

# The harness imports this module when it loads our tasks, before it prints its results table: from then on
# the table shows the jury record as one short line (the results file keeps it whole).
table.install()


# ------------------------------------------------------------------------------------------ before inference

def predict_only() -> bool:
    """True when the harness will not score (``--predict_only``): then no jury is needed.

    Asked where the harness knows it: the ``predict_only`` argument of the ``simple_evaluate`` call that is
    building the tasks (lmms-eval and lm-eval both build tasks inside it, command line or Python API);
    else ``SAFEBENCH_PREDICT_ONLY``; else the command line.
    """
    if settings.current().predict_only:
        return True
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "simple_evaluate" and "predict_only" in frame.f_locals:
            return bool(frame.f_locals["predict_only"])
        frame = frame.f_back
    return any(arg == "--predict_only" or arg.startswith("--predict_only=") for arg in sys.argv)


def require_jury(default_protocol: str) -> None:
    """Fail early (before inference) when no jury is configured or its configuration is invalid."""
    if not predict_only():
        runtime.get_jury(default_protocol)


class CannotStart(SystemExit):
    """A task that cannot start ends the run, its message the last thing printed.

    The document loaders run before inference. lmms-eval retries a loader that raises an ``Exception`` five
    times (``tenacity``) and then prints two tracebacks ending in ``RetryError[...]`` and exits 0; lm-eval
    prints a traceback. A ``SystemExit`` is not an ``Exception``: neither harness retries or catches it, and
    Python prints its message to stderr and exits with status 1, so the user's last line is what to do.
    """


def _stops_early(load):
    """Turn an error the user can act on (:class:`~lmms_safebench.errors.SafebenchError`: no jury, data not
    built, bad settings) into :class:`CannotStart`."""

    @functools.wraps(load)
    def wrapper(*args, **kwargs):
        try:
            return load(*args, **kwargs)
        except SafebenchError as exc:
            sys.stdout.flush()  # what the harness wrote so far comes before the message, in a pipe too
            raise CannotStart(f"lmms-safebench cannot start this task: {exc}") from exc

    return wrapper


def _task_docs(dataset_name: str):
    adapter, selector = registry.split(dataset_name)
    adapter.check_settings()  # bad overrides stop the run here, before inference
    require_jury(adapter.default_protocol)
    return adapter.load_docs(selector)


@_stops_early
def process_docs(dataset):
    """lmms-eval: the YAML's one-row placeholder dataset is named by ``dataset_name``
    (``<benchmark>.<selector>``); return the real documents of that slice from the local data folder."""
    return _task_docs(dataset.info.config_name)


@_stops_early
def custom_dataset(selector: str = "", **_ignored):
    """lm-eval: ``custom_dataset`` receives the same ``<benchmark>.<selector>`` from ``dataset_kwargs``."""
    import datasets  # heavy: the hooks module loads with every task; lm-eval alone gets here

    return datasets.DatasetDict({"test": _task_docs(selector)})


# ------------------------------------------------------------------------------------------ prompts

def _adapter(doc: dict) -> Benchmark:
    return registry.get(doc.get("benchmark"))


def doc_to_visual(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> list:
    return _adapter(doc).doc_to_visual(doc, lmms_eval_specific_kwargs or {})


def doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    return _adapter(doc).doc_to_text(doc, lmms_eval_specific_kwargs or {})


def doc_to_messages(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> list:
    return _adapter(doc).doc_to_messages(doc, lmms_eval_specific_kwargs or {})


# ------------------------------------------------------------------------------------------ fingerprints

def doc_fingerprint(doc: dict) -> str:
    """A stable hash of ``doc``'s identifying text (the adapter's ``fingerprint_fields``)."""
    fields_ = Benchmark.fingerprint_fields
    try:
        fields_ = _adapter(doc).fingerprint_fields
    except Exception:  # an unknown or broken benchmark: the default fields (the hash is still stable)
        pass
    fields = {name: doc[name] for name in fields_ if name in doc}
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def doc_to_target(doc: dict) -> str:
    """What the harnesses log as a sample's ``target``: the document's fingerprint. A log then says which
    document each answer answered, so ``lmms-safebench judge`` can refuse to judge it against another one
    (a ``--predict_only`` log keeps only the ``doc_id``). Generation tasks use no target otherwise."""
    return FINGERPRINT_PREFIX + doc_fingerprint(doc)


def logged_by_this_package(path) -> bool:
    """Whether a harness's sample log holds this package's samples, whatever its task is named: a record carries a
    document fingerprint as its ``target`` or a verdict with the ``case`` it judged. ``judge`` and ``report`` tell
    a task of ours they no longer know (named) from another package's task logged in the same run (left aside)."""
    try:
        records = outputs.read_jsonl(path, skipped=[])
    except (OSError, UnicodeDecodeError):
        return False
    return any(str(record.get("target") or "").startswith(FINGERPRINT_PREFIX)
               or any(isinstance(value, dict) and isinstance(value.get("case"), dict) for value in record.values())
               for record in records)


def same_document(target: str | None, other: str | None) -> bool | None:
    """Whether two logged ``target`` values name the same document: True or False when both are document
    fingerprints (``safebench-doc:<hash>``, see :func:`doc_to_target`), None when either is not (a log
    written before fingerprints: it cannot be checked). ``judge`` compares a log with the local data, ``select``
    the logs of different runs, by this one rule."""
    if not (str(target or "").startswith(FINGERPRINT_PREFIX)
            and str(other or "").startswith(FINGERPRINT_PREFIX)):
        return None
    return target == other


# ------------------------------------------------------------------------------------------ judging

def answer_text(results) -> str:
    """The model's answer from what a harness hands over or logs (a string, or nested one-item lists)."""
    answer = results
    while isinstance(answer, (list, tuple)):
        answer = answer[0] if answer else ""
    return answer if isinstance(answer, str) else ("" if answer is None else str(answer))


def _values(table: dict, judged: dict, outcome: Outcome) -> dict:
    """``{metric name: per-sample value}`` for ``table``: the verdict for a metric that reads verdicts (the ``jury``
    record), the outcome for the others."""
    record = outcome.to_dict()
    return {name: (judged if metrics.reads(spec.aggregation) == metrics.VERDICT else record)
            for name, spec in table.items()}


def judge_case(spec: CaseSpec, answer: str, jury=None) -> dict:
    """``{metric name: per-sample value}`` for ``spec``'s table. Never raises."""
    try:
        jury = jury or runtime.get_jury(spec.protocol)
        judged = jury.judge(Case(key=spec.key, question=spec.question, answer=answer, criterion=spec.criterion,
                                 scenario=spec.scenario, images=spec.images,
                                 unseen_images=spec.unseen_images)).to_dict()
    except Exception as exc:  # configuration vanished mid-run, or a bug: count it, never raise
        logger.exception(f"could not judge {spec.key}")
        judged = JudgedSample(UNJUDGED, reason=f"{type(exc).__name__}: {exc}", cause="internal").to_dict()
    # lmms-eval's sample logs drop the document, so the verdict carries what identifies the case: enough to
    # re-judge the logged answer later (lmms-safebench judge) without the dataset.
    judged["case"] = spec.logged()
    refusal = None if judged["status"] == INFERENCE_FAILED else is_refusal(answer)
    outcome = Outcome(judged["status"], judged.get("unsafe"), judged.get("rating"), refusal, spec.scenario,
                      spec.category, spec.path, label=judged.get("label"), tags=dict(spec.tags))
    return _values(spec.table, judged, outcome)


def unjudged_values(table: dict, reason: str, scenario: str, cause: str = MALFORMED_DOCUMENT,
                    path: tuple[str, ...] = ()) -> dict:
    """``{metric name: per-sample value}`` of a sample that could not be judged (counted, never safe)."""
    judged = JudgedSample(UNJUDGED, reason=reason, cause=cause).to_dict()
    return _values(table, judged, Outcome(UNJUDGED, None, None, None, scenario, scenario, path or (scenario,)))


def any_table() -> dict:
    """Every metric of every registered benchmark: the values of a sample whose benchmark is unknown (whatever its
    task's metric list, each metric finds its value; the sample is counted unjudged)."""
    table: dict = {}
    for adapter in registry.builtins():
        for name, spec in adapter.metrics().items():
            table.setdefault(name, spec)
    return table


def aggregation(benchmark: str, name: str):
    """The aggregation of metric ``name`` in ``benchmark``'s tasks: what a task folder's ``utils.<name>`` is. An
    unknown metric is an AttributeError (the folder's module has no such attribute)."""
    try:
        return registry.get(benchmark).metrics()[name].aggregation
    except KeyError:
        raise AttributeError(f"benchmark {benchmark!r} reports no metric {name!r}") from None


def process_results(doc: dict, results) -> dict:
    """Judge one answer. A malformed document is counted unjudged (lmms-eval aborts a run that raises)."""
    try:
        adapter = _adapter(doc)
    except Exception as exc:  # unknown, misnamed or broken (e.g. a manifest that no longer loads)
        logger.error(f"lmms-safebench: no benchmark for a document ({type(exc).__name__}: {exc})")
        return unjudged_values(any_table(), f"unknown benchmark: {type(exc).__name__}: {exc}",
                               str(doc.get("scenario_slug")))
    try:
        spec = adapter.case(doc)
    except Exception as exc:
        table = adapter.metric_table(str(doc.get("variant") or ""))
        return unjudged_values(table, f"malformed document: {type(exc).__name__}: {exc}",
                               str(doc.get("scenario_slug")))
    return judge_case(spec, answer_text(results))
