"""Gather judged samples from result folders, by leaderboard ("board"), jury and model.

A board is one benchmark variant: a task group such as ``safebench_image`` or
``safebench_mmsb_tiny_typo``, or a MiniBench task. Every logged sample of a judged run carries its
outcome (``asr``: status, unsafe, rating, scenario, category) and the full verdict (``jury``, with the
jury identity), so the report recomputes every number from samples with the tasks' own metric
functions, and can resample them for confidence intervals.

Builds. Every sample logs its document's fingerprint as its ``target``. Two runs of one board whose logs give one
case key different fingerprints (:func:`lmms_safebench.harness.hooks.same_document`, the rule ``judge`` and
``select`` apply) were run on different builds of the data (another source, release or option). They are never
merged and never compared: each entry carries its board's ``build`` (1, 2... in the order the runs were made) and
the build's ``dataset`` identity, the newest-run rule applies within a build only, and a note says which runs
differ. Logs without fingerprints (written before them) cannot be told apart and join the first build.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..benchmarks import registry
from ..harness import hooks, outputs, taskindex
from ..harness.hooks import FINGERPRINT_PREFIX, same_document
from ..harness.judged import no_cyclic_gc, read_judged
from ..scoring import metrics
from ..scoring.records import Outcome, VerdictRecord


@dataclass
class Entry:
    """One model on one board under one jury: its per-sample outcomes and verdicts."""

    board: str
    benchmark: str  # the adapter's registry key
    model: str
    jury: str  # identity
    jury_info: dict
    run: str  # where the samples came from
    stamp: str  # the run's time stamp: the newest run of a model, board and jury is the one shown
    outcomes: list[Outcome] = field(default_factory=list)
    verdicts: list[VerdictRecord] = field(default_factory=list)  # without usage and rationales (harness.judged)
    targets: list[str] = field(default_factory=list)  # each sample's logged `target`: its document's fingerprint
    build: int = 1  # which build of the board's data (module docstring)
    dataset: dict = field(default_factory=dict)  # the build's identity: {"id": benchmark, "fingerprint": ...}
    variant: str = ""  # the board's variant in the task index: what the adapter rebuilds its logged cases with

    def documents(self) -> dict[str, str]:
        """``{case key: document fingerprint}`` of the samples that log both."""
        return {v.case["key"]: t for v, t in zip(self.verdicts, self.targets, strict=True)
                if t.startswith(FINGERPRINT_PREFIX) and v.case.get("key")}


def collect(folders: list[str | Path], names: dict[str, str] | None = None) -> tuple[list[Entry], list[str]]:
    """Entries of every judged run under ``folders`` and notes on what was left out. When several runs
    hold the same model, board, jury and build, the newest one is used (and the others noted)."""
    names = names or {}
    notes: list[str] = []
    for folder in folders:
        if not Path(folder).exists():
            raise FileNotFoundError(f"{folder}: no such folder")
    runs = [(run, names.get(run.model_name(), run.model_name())) for folder in folders
            for run in outputs.find_runs(folder)]
    plans = [(run, model, _logs(run, notes)) for run, model in runs]
    with no_cyclic_gc():
        found: list[Entry] = []
        for run, model, logs in plans:
            found += _entries(run, model, logs, notes).values()
        notes += assign_builds(found)
        chosen: dict[tuple[str, str, str, int], Entry] = {}
        for entry in found:
            key = (entry.board, entry.jury, entry.model, entry.build)
            kept = chosen.get(key)
            if kept is not None:
                older, entry = sorted((kept, entry), key=lambda e: e.stamp)
                notes.append(f"{older.run}: older than {entry.run} for {entry.model} on {key[0]}; not used")
            chosen[key] = entry
        return sorted(chosen.values(), key=lambda e: (e.board, e.jury, e.build, e.model)), notes


def assign_builds(entries: list[Entry]) -> list[str]:
    """Set each entry's ``build`` and ``dataset`` (module docstring); notes on boards run on several builds. An
    entry joins the first build of its board (oldest run first) none of whose documents differs from its own."""
    builds: dict[str, list[tuple[dict[str, str], list[Entry]]]] = defaultdict(list)
    for entry in sorted(entries, key=lambda e: (e.stamp, e.run)):
        documents = entry.documents()
        for known, members in builds[entry.board]:
            if all(same_document(known.get(k, t), t) is not False for k, t in documents.items()):
                known.update(documents)
                members.append(entry)
                break
        else:
            builds[entry.board].append((dict(documents), [entry]))
    notes = []
    for board, found in sorted(builds.items()):
        for number, (documents, members) in enumerate(found, 1):
            digest = hashlib.sha256(json.dumps(sorted(documents.items())).encode()).hexdigest()[:16]
            dataset = {"id": members[0].benchmark, **({"fingerprint": digest} if documents else {})}
            for entry in members:
                entry.build, entry.dataset = number, dataset
        if len(found) > 1:
            runs = "; ".join(f"build {n} ({members[0].dataset.get('fingerprint', 'no fingerprints')}): "
                             + ", ".join(sorted({e.run for e in members})) for n, (_, members) in enumerate(found, 1))
            notes.append(f"{board}: runs on {len(found)} different builds of its data (the same case keys logged with "
                         f"different document fingerprints); each build is reported apart, never in one table: {runs}")
    return notes


def _record_keys(adapter, variant: str) -> tuple[str | None, str | None]:
    """Under which metric names a logged sample of ``adapter``'s tasks of ``variant`` carries its verdict and its
    outcome (the first metric of that variant's table that reads each: ``jury`` and ``asr`` for the harm benchmarks;
    a benchmark whose variants report different tables, such as a generated one with benign twins, logs each)."""
    table = adapter.metric_table(variant)
    verdict = next((n for n, spec in table.items() if metrics.reads(spec.aggregation) == metrics.VERDICT), None)
    outcome = next((n for n, spec in table.items() if metrics.reads(spec.aggregation) == metrics.OUTCOME), None)
    return verdict, outcome


def _logs(run: outputs.Run, notes: list[str]) -> list[tuple]:
    """``[(task, info, adapter, path, (verdict key, outcome key))]``: the run's sample logs of this package's tasks
    (a log of ours whose task is no longer known is noted; another package's task is left aside)."""
    known, _ = taskindex.index()
    logs = []
    for task, path in sorted(run.samples.items()):
        info = known.get(task)
        try:
            adapter = registry.get(info.benchmark) if info else None
        except KeyError:
            adapter = None
        if adapter is None:
            if hooks.logged_by_this_package(path):  # ours, but not (or no longer) a task we know
                notes.append(f"{path}: {task} is not a task of this package or of a generated benchmark in the data "
                             "folder; left out")
            continue  # another package's task, logged in the same run
        logs.append((task, info, adapter, path, _record_keys(adapter, info.variant)))
    return logs


def _entries(run: outputs.Run, model: str, logs: list[tuple], notes: list[str]) -> dict[tuple[str, str, str], Entry]:
    """The run's entries from its ``logs`` (:func:`_logs`)."""
    entries: dict[tuple[str, str, str], Entry] = {}
    unjudged_tasks = []
    for task, info, adapter, path, (verdict_key, outcome_key) in logs:
        samples, skipped = read_judged(path, verdict_key, outcome_key)  # a torn line is named and skipped
        notes += skipped
        if samples is None:
            unjudged_tasks.append(task)
            continue
        for verdict, outcome, target in samples:
            identity = verdict.jury or "none"
            key = (info.board, identity, model)
            entry = entries.get(key)
            if entry is None:
                jury_info = {"jury_name": verdict.jury_name, "protocol": verdict.protocol, "mode": verdict.mode,
                             "rule": verdict.rule, "heuristic": verdict.heuristic}
                entry = entries[key] = Entry(info.board, adapter.key, model, identity, jury_info, run.where,
                                             run.stamp, variant=info.variant)
            entry.outcomes.append(outcome)
            entry.verdicts.append(verdict)
            entry.targets.append(target)
    if unjudged_tasks:
        notes.append(f"{run.where}: {len(unjudged_tasks)} task(s) without verdicts (a --predict_only run?); "
                     "judge them with `lmms-safebench judge` and report the judged folder")
    return entries


def by_board(entries: list[Entry]) -> dict[str, dict[tuple[str, int], list[Entry]]]:
    """``{board: {(jury identity, build): [entries]}}``: the entries that may share a table."""
    out: dict[str, dict[tuple[str, int], list[Entry]]] = defaultdict(lambda: defaultdict(list))
    for entry in entries:
        out[entry.board][entry.jury, entry.build].append(entry)
    return {b: dict(sorted(j.items())) for b, j in sorted(out.items())}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"
