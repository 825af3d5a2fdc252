"""Gather judged samples from result folders, by leaderboard ("board"), jury and model.

A board is one benchmark variant: a task group such as ``safebench_image`` or
``safebench_mmsb_tiny_typo``, or a MiniBench task. Every logged sample of a judged run carries its
outcome (``asr``: status, unsafe, rating, scenario, category) and the full verdict (``jury``, with the
jury identity), so the report recomputes every number from samples with the tasks' own metric
functions, and can resample them for confidence intervals.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..benchmarks import registry
from ..harness import hooks, outputs, taskindex
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
    verdicts: list[VerdictRecord] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # each sample's logged `target`: its document's fingerprint


def collect(folders: list[str | Path], names: dict[str, str] | None = None) -> tuple[list[Entry], list[str]]:
    """Entries of every judged run under ``folders`` and notes on what was left out. When several runs
    hold the same model, board and jury, the newest one is used (and the others noted)."""
    names = names or {}
    notes: list[str] = []
    chosen: dict[tuple[str, str, str], Entry] = {}
    for folder in folders:
        if not Path(folder).exists():
            raise FileNotFoundError(f"{folder}: no such folder")
        for run in outputs.find_runs(folder):
            model = names.get(run.model_name(), run.model_name())
            for key, entry in _entries(run, model, notes).items():
                kept = chosen.get(key)
                if kept is not None:
                    older, entry = sorted((kept, entry), key=lambda e: e.stamp)
                    notes.append(f"{older.run}: older than {entry.run} for {model} on {key[0]}; not used")
                chosen[key] = entry
    return sorted(chosen.values(), key=lambda e: (e.board, e.jury, e.model)), notes


def _record_keys(adapter, variant: str) -> tuple[str | None, str | None]:
    """Under which metric names a logged sample of ``adapter``'s tasks of ``variant`` carries its verdict and its
    outcome (the first metric of that variant's table that reads each: ``jury`` and ``asr`` for the harm benchmarks;
    a benchmark whose variants report different tables, such as a generated one with benign twins, logs each)."""
    table = adapter.metric_table(variant)
    verdict = next((n for n, spec in table.items() if metrics.reads(spec.aggregation) == metrics.VERDICT), None)
    outcome = next((n for n, spec in table.items() if metrics.reads(spec.aggregation) == metrics.OUTCOME), None)
    return verdict, outcome


def _entries(run: outputs.Run, model: str, notes: list[str]) -> dict[tuple[str, str, str], Entry]:
    entries: dict[tuple[str, str, str], Entry] = {}
    unjudged_tasks = []
    known, _ = taskindex.index()
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
        try:
            records = outputs.read_jsonl(path, skipped=notes)  # a torn line is named and skipped, not the file
        except (OSError, UnicodeDecodeError) as exc:
            notes.append(f"{path}: unreadable ({exc}); left out")
            continue
        verdict_key, outcome_key = _record_keys(adapter, info.variant)
        for record in records:
            if not isinstance(record.get(verdict_key), dict) or not isinstance(record.get(outcome_key), dict):
                unjudged_tasks.append(task)
                break
            verdict, outcome = VerdictRecord.from_dict(record[verdict_key]), Outcome.from_dict(record[outcome_key])
            board = info.board
            identity = verdict.jury or "none"
            key = (board, identity, model)
            entry = entries.get(key)
            if entry is None:
                jury_info = {"jury_name": verdict.jury_name, "protocol": verdict.protocol, "mode": verdict.mode,
                         "rule": verdict.rule, "heuristic": verdict.heuristic}
                entry = entries[key] = Entry(board, adapter.key, model, identity, jury_info, run.where, run.stamp)
            entry.outcomes.append(outcome)
            entry.verdicts.append(verdict)
            entry.targets.append(str(record.get("target") or ""))
    if unjudged_tasks:
        notes.append(f"{run.where}: {len(unjudged_tasks)} task(s) without verdicts (a --predict_only run?); "
                     "judge them with `lmms-safebench judge` and report the judged folder")
    return entries


def by_board(entries: list[Entry]) -> dict[str, dict[str, list[Entry]]]:
    """``{board: {jury identity: [entries]}}``."""
    out: dict[str, dict[str, list[Entry]]] = defaultdict(lambda: defaultdict(list))
    for entry in entries:
        out[entry.board][entry.jury].append(entry)
    return {b: dict(j) for b, j in sorted(out.items())}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"
