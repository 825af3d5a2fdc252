"""Reading what the harnesses write with ``--output_path`` (and ``--log_samples``).

lmms-eval: ``<out>/<model>/<ts>_results.json`` and ``<ts>_samples_<task>.jsonl``.
lm-eval:   ``<out>/<model>/results_<ts>.json`` and ``samples_<task>_<ts>.jsonl``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson

_LMMS_SAMPLES = re.compile(r"^(?P<ts>\d{8}_\d{6})_samples_(?P<task>.+)\.jsonl$")
_LM_SAMPLES = re.compile(r"^samples_(?P<task>.+)_(?P<ts>\d{4}-\d{2}-\d{2}T[\d\-.]+)\.jsonl$")


def results_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    found = list(folder.rglob("*_results.json")) + list(folder.rglob("results_*.json"))
    return sorted(set(found), key=lambda p: (p.stat().st_mtime, p.name))


def samples_files(folder: str | Path) -> dict[str, Path]:
    """``{task: newest samples file}`` under ``folder``."""
    out: dict[str, tuple[str, Path]] = {}
    for path in Path(folder).rglob("*.jsonl"):
        match = _LMMS_SAMPLES.fullmatch(path.name) or _LM_SAMPLES.fullmatch(path.name)
        if match:
            task, stamp = match.group("task"), match.group("ts")
            if task not in out or stamp > out[task][0]:
                out[task] = (stamp, path)
    return {task: path for task, (_, path) in sorted(out.items())}


def _loads(line: bytes):
    """One JSON line. orjson parses the logs of a large report about three times faster than the standard library;
    a line it refuses (the NaN and Infinity tokens Python's own ``json.dumps`` writes, which lmms-eval logs can hold)
    is read by the standard library, which takes them (and raises ``UnicodeDecodeError`` on bytes that are not UTF-8,
    as reading the file as text did)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line.decode("utf-8"))


def read_jsonl(path: str | Path, skipped: list[str] | None = None) -> list[dict]:
    """The JSON objects of a ``.jsonl`` file, one a line (blank lines ignored). A line that is not a JSON object
    (a torn line of a killed run, say) raises ``ValueError`` naming ``path:line``; with ``skipped`` given, it is
    left out and named there instead, as is an empty file, so that one bad line costs one sample, not a log."""
    records, torn = [], 0
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = _loads(line)
                if not isinstance(record, dict):
                    raise ValueError(f"a JSON {type(record).__name__}, not an object")
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                problem = f"{path}:{number}: not a JSON line ({exc})"
                if skipped is None:
                    raise ValueError(problem) from None
                skipped.append(f"{problem}; line skipped")
                torn += 1
                continue
            records.append(record)
    if skipped is not None and not records and not torn:
        skipped.append(f"{path}: an empty file (no samples); skipped")
    return records


# ------------------------------------------------------------------------------------------ runs

_LMMS_RESULTS = re.compile(r"^(?P<ts>\d{8}_\d{6})_results\.json$")
_LM_RESULTS = re.compile(r"^results_(?P<ts>\d{4}-\d{2}-\d{2}T[\d\-.]+)\.json$")


@dataclass
class Run:
    """One evaluation: the results file and per-task sample files that share a folder and a time stamp."""

    directory: Path
    stamp: str
    results_path: Path | None = None
    samples: dict[str, Path] = field(default_factory=dict)
    _results: dict | None = field(default=None, repr=False, compare=False)  # read once

    @property
    def where(self) -> str:
        return f"{self.directory}/{self.stamp}"

    def results(self) -> dict:
        if self._results is None:
            if self.results_path is None:
                return {}
            try:
                self._results = json.loads(self.results_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"{self.results_path}: unreadable results file ({exc})") from None
        return self._results

    def model_name(self) -> str:
        """The model as the run names it: ``pretrained=``/``model=`` of its model_args, else the folder."""
        results = self.results()
        if results.get("lmms_safebench", {}).get("model"):
            return results["lmms_safebench"]["model"]
        args = (results.get("config") or {}).get("model_args") or ""
        if isinstance(args, dict):
            args = ",".join(f"{k}={v}" for k, v in args.items())
        for part in str(args).split(","):
            key, _, value = part.partition("=")
            value = value.strip().rstrip("/")
            if key.strip() in ("pretrained", "model", "model_version", "model_id") and value:
                return Path(value).name if Path(value).is_dir() else value  # a local folder: its name
        return results.get("model_name") or self.directory.name


def find_runs(folder: str | Path) -> list[Run]:
    """Every run under ``folder`` (lmms-eval, lm-eval or ``lmms-safebench judge`` output), oldest first."""
    runs: dict[tuple[Path, str], Run] = {}
    folder = Path(folder)
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        name = path.name
        match = _LMMS_RESULTS.fullmatch(name) or _LM_RESULTS.fullmatch(name)
        if match:
            run = runs.setdefault((path.parent, match.group("ts")), Run(path.parent, match.group("ts")))
            run.results_path = path
            continue
        match = _LMMS_SAMPLES.fullmatch(name) or _LM_SAMPLES.fullmatch(name)
        if match:
            run = runs.setdefault((path.parent, match.group("ts")), Run(path.parent, match.group("ts")))
            run.samples[match.group("task")] = path
    return sorted(runs.values(), key=lambda r: (str(r.directory), r.stamp))
