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
from ..harness import outputs
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


def board_of(task: str, scenario: str | None) -> str:
    """``safebench_image_bias`` -> ``safebench_image``; a MiniBench task is its own board."""
    if scenario and task.endswith(f"_{scenario}"):
        return task[: -len(scenario) - 1]
    return task


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


def _entries(run: outputs.Run, model: str, notes: list[str]) -> dict[tuple[str, str, str], Entry]:
    entries: dict[tuple[str, str, str], Entry] = {}
    unjudged_tasks = []
    for task, path in sorted(run.samples.items()):
        if not task.startswith("safebench_"):
            continue
        adapter = registry.for_task(task)
        if adapter is None:
            notes.append(f"{path}: {task} is not a task of this package or of a generated benchmark in the data "
                         "folder; left out")
            continue
        try:
            records = outputs.read_jsonl(path, skipped=notes)  # a torn line is named and skipped, not the file
        except (OSError, UnicodeDecodeError) as exc:
            notes.append(f"{path}: unreadable ({exc}); left out")
            continue
        for record in records:
            if not isinstance(record.get("jury"), dict) or not isinstance(record.get("asr"), dict):
                unjudged_tasks.append(task)
                break
            verdict, outcome = VerdictRecord.from_dict(record["jury"]), Outcome.from_dict(record["asr"])
            board = board_of(task, outcome.scenario)
            identity = verdict.jury or "none"
            key = (board, identity, model)
            entry = entries.get(key)
            if entry is None:
                info = {"jury_name": verdict.jury_name, "protocol": verdict.protocol, "mode": verdict.mode,
                        "rule": verdict.rule, "heuristic": verdict.heuristic}
                entry = entries[key] = Entry(board, adapter.key, model, identity, info, run.where, run.stamp)
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
