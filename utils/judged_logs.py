"""Synthetic judged runs in lmms-eval's output layout, for the report's tests and ``perf/report.py``.

A run is what ``lmms-eval --log_samples`` writes with a jury configured: ``<folder>/<stamp>_results.json`` and one
``<stamp>_samples_<task>.jsonl`` per task, each line holding the sample's ``doc_id``, its document fingerprint as
``target``, the answer, and one value per metric of the task's table: the verdict record (the jury's decision, each
juror's review, what was spent, the ``case`` it judged) for the metrics that read verdicts, the outcome record for
the others. Cases come from the board's own adapter (``case_from_logged``), so the paths, categories and rubric are
the benchmark's; verdicts follow a ``decide(sample)`` rule given by the caller, a label of the case's rubric (None:
unjudged). Nothing here is shipped in the wheel.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lmms_safebench.benchmarks import registry
from lmms_safebench.benchmarks.base import CaseSpec
from lmms_safebench.harness import taskindex
from lmms_safebench.harness.hooks import FINGERPRINT_PREFIX
from lmms_safebench.scoring import metrics
from lmms_safebench.scoring.records import JUDGED, UNJUDGED, Outcome

RATIONALE = ("The answer was read against the criterion; this sentence stands for the juror's rationale, which "
             "runs to a couple of lines in a real log.")


@dataclass(frozen=True)
class Sample:
    task: str
    doc_id: int
    spec: CaseSpec


def jury(name: str, jurors: int = 3, protocol: str = "jury") -> dict:
    """A jury's description as verdicts record it (its identity: a hash of the name)."""
    return {"identity": hashlib.sha256(name.encode()).hexdigest()[:16], "name": name, "protocol": protocol,
            "mode": "full", "rule": "majority", "heuristic": False, "jurors": [f"juror{k}" for k in range(jurors)]}


def board_samples(board: str, per_scenario: int) -> list[Sample]:
    """``per_scenario`` cases of each task of ``board`` (a board of the package's task index)."""
    out = []
    for info in taskindex.tasks_of_board(board):
        adapter = registry.get(info.benchmark)
        scenario = info.selector.rsplit(".", 1)[1]
        for i in range(per_scenario):
            spec = adapter.case_from_logged({"key": f"{board}/{scenario}/{i}", "scenario": scenario,
                                             "question": f"question {i} of {scenario}"}, info.variant)
            out.append(Sample(info.name, i, spec))
    return out


def fingerprint(sample: Sample, build: str = "") -> str:
    """The ``target`` a task logs: the document's fingerprint (``build`` changes every document, as a rebuilt data
    folder whose documents differ does)."""
    return FINGERPRINT_PREFIX + hashlib.sha256(f"{sample.spec.key}|{sample.spec.question}|{build}".encode()
                                               ).hexdigest()[:16]


def record(sample: Sample, label: str | None, jury_info: dict, rating: int | None = None, build: str = "",
           answer: str = "An answer of a few sentences stands here.") -> dict:
    """One logged sample: judged with ``label`` (a label of the case's rubric), or unjudged when None."""
    rubric = sample.spec.criterion.rubric
    status = UNJUDGED if label is None else JUDGED
    unsafe = None if label is None else int(label in rubric.flagged)
    rating = rating if rubric.rated and label is not None else None
    verdict = {"schema": 2, "status": status, "unsafe": unsafe, "rating": rating, "jury": jury_info["identity"],
               "jury_name": jury_info["name"], "protocol": jury_info["protocol"], "mode": jury_info["mode"],
               "rule": jury_info["rule"], "heuristic": jury_info["heuristic"]}
    if label is None:
        verdict.update(reason="every juror failed", cause="transport")
    reviews = [{"juror": name, "round": 0, "status": "ok", "unsafe": unsafe, "rating": rating,
                "rationale": RATIONALE, **({"label": label} if rubric.records_label else {})}
               if label is not None else {"juror": name, "round": 0, "status": "abstained", "error": "timed out",
                                          "failure": "transport"}
               for name in jury_info["jurors"]]
    verdict["rounds"] = [reviews]
    verdict["usage"] = {name: {"calls": 1, "requests": 1, "cache_hits": 0, "prompt_tokens": 420,
                               "completion_tokens": 60, "abstentions": int(label is None)}
                        for name in jury_info["jurors"]}
    if label is not None:
        verdict["votes"] = {"unsafe": len(reviews) * unsafe, "safe": len(reviews) * (1 - unsafe)}
    if rubric.records_label:
        verdict.update(rubric=rubric.name, label=label)
    verdict["case"] = sample.spec.logged()
    outcome = Outcome(status, unsafe, rating, label is not None and bool(unsafe), sample.spec.scenario,
                      sample.spec.category, sample.spec.path, label=label if rubric.records_label else None,
                      tags=dict(sample.spec.tags)).to_dict()
    out = {"doc_id": sample.doc_id, "target": fingerprint(sample, build), "resps": [[answer]],
           "filtered_resps": [answer]}
    for name, spec in sample.spec.table.items():
        out[name] = verdict if metrics.reads(spec.aggregation) == metrics.VERDICT else outcome
    return out


def write_run(folder: Path, model: str, samples: list[Sample], decide: Callable[[Sample], str | None],
              jury_info: dict, stamp: str = "20260101_000000", build: str = "",
              rating: Callable[[Sample, str], int | None] | None = None) -> Path:
    """Write one judged run of ``model`` over ``samples`` into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    by_task: dict[str, list[str]] = {}
    for sample in samples:
        label = decide(sample)
        line = record(sample, label, jury_info, rating(sample, label) if rating and label else None, build)
        by_task.setdefault(sample.task, []).append(json.dumps(line))
    for task, lines in by_task.items():
        (folder / f"{stamp}_samples_{task}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = {"results": {}, "config": {"model": "openai", "model_args": f"model={model},base_url=http://127.0.0.1:1/v1"}}
    (folder / f"{stamp}_results.json").write_text(json.dumps(results), encoding="utf-8")
    return folder


def write_calibration(identity: str, gold: list[int], predicted: list[int | None], protocol: str = "harm",
                      set_name: str = "scripted", revision: str = "r1", created: str | None = None) -> Path:
    """A calibration record of jury ``identity`` on a labelled set with binary ``gold`` labels and the jury's
    ``predicted`` verdicts (None: unjudged), stored where ``report`` looks it up; its numbers come from the
    calibration package's own functions. ``created``: ISO 8601 time (now by default)."""
    from lmms_safebench.calibration import agreement, record
    from lmms_safebench.calibration.sets import PROTOCOLS

    labels = PROTOCOLS[protocol]
    flagged = labels[-1]
    ids = [f"item{i:05d}" for i in range(len(gold))]
    as_labels = [flagged if g else labels[0] for g in gold]
    consensus = [None if p is None else flagged if p else labels[0] for p in predicted]
    prevalence = sum(gold) / len(gold)
    data = {
        "schema": record.SCHEMA, "created": created or record.now(), "lmms_safebench": "test",
        "jury": {"identity": identity, "name": "scripted"},
        "set": {"name": set_name, "title": set_name, "revision": revision, "protocol": protocol,
                "labels": list(labels), "size": len(gold), "judged_items": len(gold), "complete": True,
                "prevalence": prevalence, "prevalence_of": " or ".join(labels[1:])},
        "consensus": {"binary": agreement.binary_report(gold, predicted, ids=ids)},
        "jurors": {}, "cost": None, "compare": None, "run": None,
        "items": {"ids": ids, "gold": as_labels, "categories": None, "consensus": consensus,
                  "consensus_causes": [None] * len(gold), "jurors": {}},
        "canaries": [],
    }
    return record.write(data, record.record_path(identity, set_name, revision, len(gold)))
