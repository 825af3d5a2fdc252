"""Reading what the harnesses write with ``--output_path`` (and ``--log_samples``).

lmms-eval: ``<out>/<model>/<ts>_results.json`` and ``<ts>_samples_<task>.jsonl``.
lm-eval:   ``<out>/<model>/results_<ts>.json`` and ``samples_<task>_<ts>.jsonl``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

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
        match = _LMMS_SAMPLES.match(path.name) or _LM_SAMPLES.match(path.name)
        if match:
            task, stamp = match.group("task"), match.group("ts")
            if task not in out or stamp > out[task][0]:
                out[task] = (stamp, path)
    return {task: path for task, (_, path) in sorted(out.items())}


def read_jsonl(path: str | Path) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON line ({exc})") from None
    return records
