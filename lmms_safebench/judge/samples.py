"""Reading what runs logged: every sample of this package's tasks, with the case to judge it by, or why there is none.

Each logged sample becomes a :class:`~lmms_safebench.benchmarks.base.CaseSpec` through its benchmark's adapter: from
the document when the log keeps it (lm-eval), from the ``case`` record an inline verdict carries, or else from the
local dataset (the task's YAML names its slice; the log's ``doc_id`` picks the row, checked against the logged
document fingerprint). When the jury judging a benchmark whose documents carry the pictures the jury is shown
(``jury_columns``: MOSSBench, MSSBench) has a juror whose model takes images, its samples always take the last route,
since no log keeps a picture: the case is the one the inline run built, pictures included, or the sample is unjudged
(``no_images``, ``doc_mismatch``, ``unverifiable``), never judged without them. A jury of text jurors reads no
picture; its case counts the pictures the inline case carried (``unseen_images``), so a text juror gets the inline
run's very prompt (told a picture was shown that it cannot see) and a re-judge of an inline run is a cache hit.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Callable

from .. import __version__
from ..benchmarks import registry
from ..benchmarks.base import CaseSpec
from ..data.store import media_columns
from ..errors import SafebenchError
from ..harness import hooks, outputs, taskindex
from ..harness.hooks import same_document


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
    table: dict | None = None  # the metric table its values are for (the task's; every metric for an unknown task)

    @property
    def where(self) -> str:
        return f"{self.run.samples[self.task]}:{self.line}"


class _Documents:
    """Rows of the local datasets by task, loaded once, without decoding images or audio: the media are left out,
    but for the adapter's ``jury_columns`` when ``pictures`` (kept as the stored bytes)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_task: dict[tuple[str, bool], object] = {}

    def get(self, task: str, doc_id: int, pictures: bool = False) -> dict:
        with self._lock:
            if (task, pictures) not in self._by_task:
                self._by_task[task, pictures] = self._load(task, pictures)
        docs = self._by_task[task, pictures]
        if not 0 <= doc_id < len(docs):
            raise ValueError(f"doc_id {doc_id} is out of range: the local data of {task} has {len(docs)} documents")
        return docs[doc_id]

    @staticmethod
    def _load(task: str, pictures: bool):
        import datasets  # heavy: only a re-judge from the local data gets here

        info = taskindex.index()[0][task]
        adapter = registry.get(info.benchmark)
        docs = adapter.load_docs(adapter.parse(info.selector))
        keep = adapter.jury_columns() if pictures else ()
        docs = docs.remove_columns([name for name in media_columns(docs) if name not in keep])
        for name in keep:  # an image-typed column would be decoded on every row read: keep its bytes instead
            if isinstance(docs.features.get(name), datasets.Image):
                docs = docs.cast_column(name, datasets.Image(decode=False))
        return docs


# Causes of samples that `judge` cannot judge (beside the jury's own, see jury.engine.CAUSES).
NO_CASE = "no_case"  # the record holds no document, no logged case and no usable doc_id
UNKNOWN_TASK = "unknown_task"  # a task of this package's logs that this version does not know
DOC_MISMATCH = "doc_mismatch"  # the local document at the logged doc_id is not the one the model answered
UNVERIFIABLE = "unverifiable"  # the log predates document fingerprints, so the doc_id cannot be checked
NO_IMAGES = "no_images"  # the jury is shown the document's pictures, and the local data cannot give them


class CaseProblem(ValueError):
    def __init__(self, message: str, cause: str = NO_CASE):
        super().__init__(message)
        self.cause = cause


def read_samples(runs: list[outputs.Run], trust_doc_ids: bool = False,
                 sees_images: Callable[[str], bool] = lambda protocol: False) -> tuple[list[Saved], list[str]]:
    """Every logged sample of this package's tasks, with its case or the problem that prevents one; and
    the tasks left aside because they are not this package's (other benchmarks logged in the same run).
    ``sees_images(protocol)``: whether the jury of that protocol has a juror whose model takes images (its cases
    then carry the documents' pictures, read from the local data)."""
    documents = _Documents()
    known, _ = taskindex.index()
    saved: list[Saved] = []
    foreign: list[str] = []
    for run in runs:
        for task, path in sorted(run.samples.items()):
            if task not in known and not hooks.logged_by_this_package(path):
                foreign.append(str(path))  # another package's task, logged in the same run
                continue
            pictures = task in known and _shows_pictures(known[task], sees_images)  # a config error stops here
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
                    item.spec = _case(item.info, record, documents, trust_doc_ids, pictures)
                except CaseProblem as exc:
                    item.problem, item.cause = f"{item.where}: {exc}", exc.cause
                except (ValueError, KeyError, SafebenchError) as exc:
                    item.problem, item.cause = f"{item.where}: {exc}", NO_CASE
                saved.append(item)
    return saved, foreign


def _shows_pictures(info: taskindex.TaskInfo, sees_images: Callable[[str], bool]) -> bool:
    """Whether a task's jury is shown its documents' pictures: they carry some, and a juror's model takes images."""
    try:
        adapter = registry.get(info.benchmark)
    except KeyError:  # an unknown benchmark: its samples are unjudged (UNKNOWN_TASK)
        return False
    return bool(adapter.jury_columns()) and sees_images(adapter.default_protocol)


def _case(info: taskindex.TaskInfo, record: dict, documents: _Documents, trust_doc_ids: bool,
          pictures: bool = False) -> CaseSpec:
    spec = _rebuilt_case(info, record, documents, trust_doc_ids, pictures)
    columns = registry.get(info.benchmark).jury_columns()
    if columns and not spec.images:
        # A text jury needs no picture, but the inline case carried one per picture column (a build leaves out any
        # item without its picture), and a text juror is told of it: so is this one, with the very same prompt.
        spec = dataclasses.replace(spec, unseen_images=len(columns))
    return spec


def _rebuilt_case(info: taskindex.TaskInfo, record: dict, documents: _Documents, trust_doc_ids: bool,
                  pictures: bool) -> CaseSpec:
    try:
        adapter = registry.get(info.benchmark)
    except KeyError as exc:
        raise CaseProblem(str(exc).strip("'\""), UNKNOWN_TASK) from None
    if not pictures:
        doc = record.get("doc")
        if isinstance(doc, dict) and doc.get("scenario_slug"):
            return adapter.case(doc)  # lm-eval logs keep the document itself
        logged = (record.get("jury") or {}).get("case") if isinstance(record.get("jury"), dict) else None
        if logged:
            return adapter.case_from_logged(logged, info.variant)  # an inline verdict carries its case
        if "doc_id" not in record:
            raise CaseProblem("the record has neither a document, a logged case, nor a doc_id")
        local = documents.get(info.name, int(record["doc_id"]))
    else:
        local = _pictured(info, record, documents)
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
    try:
        spec = adapter.case(local)
    except OSError as exc:  # a stored picture that no image library reads
        raise CaseProblem(f"the picture of doc_id {record['doc_id']} in the local data of {info.name} cannot be "
                          f"read: {exc}", NO_IMAGES) from None
    if pictures and not spec.images:
        raise CaseProblem(f"the jury is shown this benchmark's pictures, and document {spec.key} (doc_id "
                          f"{record['doc_id']}) has none in the local data of {info.name}", NO_IMAGES)
    return spec


def _pictured(info: taskindex.TaskInfo, record: dict, documents: _Documents) -> dict:
    """The local document of a sample whose jury is shown the document's pictures (read by ``doc_id``; the caller
    checks its fingerprint), or NO_IMAGES saying why the pictures cannot be had."""
    why = "the jury is shown this benchmark's pictures, which no log keeps"
    if "doc_id" not in record:
        raise CaseProblem(f"{why}, and the record has no doc_id to find it in the local data", NO_IMAGES)
    try:
        return documents.get(info.name, int(record["doc_id"]), pictures=True)
    except (ValueError, TypeError, KeyError, SafebenchError) as exc:
        raise CaseProblem(f"{why}, and the local data cannot give them: {exc}", NO_IMAGES) from None
