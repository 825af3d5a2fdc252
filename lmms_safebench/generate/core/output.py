"""The benchmark folder of a generation run, whatever the generator: made ready (new, resumed or restarted),
written whole-file-or-nothing, and described by a data card.

Layout of ``$SAFEBENCH_DATA/generated/<name>/``::

    manifest.json            family, taxonomy / scenarios, counts, problems, generator, provenance
    <scenario>.parquet       one file per scenario, in the schema of the official build of the family
    data_card.json, data_card.md
    tasks/lmms_eval/...      the task family (scenario YAMLs, groups, utils.py), found by lmms-eval
    tasks/lm_eval/...        its text-only tasks, for lm-eval (--include_path)
    work/                    the run's resumable state (see .workspace)

The family parts (parquet schema, manifest, task folders) are written by each generated kind's writer
(``lmms_safebench/benchmarks/<name>/family.py``, with :mod:`lmms_safebench.generate.output`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from loguru import logger

from ...data.store import atomic_write  # noqa: F401  (whole-file writes: the data store's, for every generator)
from ...errors import DataError

SCRIPT = "lmms-safebench generate"
VERSION = "0.1"
LOCK_FILE = ".lock"  # the folder's lock (:class:`.workspace.FolderLock`): never part of a run's content


def write_card(folder: Path, card: dict) -> None:
    """``data_card.json`` (everything) and ``data_card.md`` (the same, readable)."""
    (folder / "data_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False, default=str) + "\n",
                                           encoding="utf-8")
    lines = [f"# Data card: {card.get('title', card.get('name'))}", ""]
    for section, value in card.items():
        if section in ("title",):
            continue
        lines.append(f"## {section.replace('_', ' ').capitalize()}")
        lines.append("")
        lines += _markdown(value)
        lines.append("")
    (folder / "data_card.md").write_text("\n".join(lines), encoding="utf-8")


def _markdown(value, depth: int = 0) -> list[str]:
    pad = "  " * depth
    if isinstance(value, dict):
        if value and all(isinstance(v, dict) and not any(isinstance(x, (dict, list)) for x in v.values())
                         for v in value.values()):
            columns = sorted({k for v in value.values() for k in v})
            rows = [f"| | {' | '.join(columns)} |", f"|---|{'---|' * len(columns)}"]
            rows += [f"| {key} | " + " | ".join(_cell(v.get(c)) for c in columns) + " |" for key, v in value.items()]
            return [pad + row for row in rows]
        out = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}- **{key}**:")
                out += _markdown(item, depth + 1)
            else:
                out.append(f"{pad}- **{key}**: {_cell(item)}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, list) and not any(isinstance(x, (dict, list)) for x in item):
                out.append(f"{pad}- {', '.join(_cell(x) for x in item)}")  # one line: a group stays a group
            elif isinstance(item, (dict, list)):
                out += _markdown(item, depth)
            else:
                out.append(f"{pad}- {_cell(item)}")
        return out
    return [pad + _cell(value)]


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


# ------------------------------------------------------------------------------------------ the output folder

def prepare(folder: Path, kind: str, config_digest: str, restart: bool = False) -> str:
    """Make ``folder`` ready for a ``kind`` generation run; returns ``"new"``, ``"resume"`` or ``"restart"``.

    A folder of an earlier run of the same generator is resumed (finished items and calls are kept);
    ``restart`` deletes it first. A folder that is not such a run is refused, never overwritten. The caller holds
    the folder's lock (:class:`.workspace.FolderLock`), whose file is kept."""
    earlier = earlier_run(folder, kind)
    if earlier is not None:
        if restart:
            for path in folder.iterdir():
                if path.name != LOCK_FILE:
                    _remove(path)
        else:
            if earlier.get("config") != config_digest:
                logger.warning(f"{folder}: the configuration changed since this benchmark was started; finished "
                               "items are kept (use --restart to start over)")
            return "resume"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot create the benchmark folder ({exc.strerror or exc})") from None
    run_file = folder / "work" / "run.json"
    run_file.parent.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps({"kind": kind, "config": config_digest,
                                    "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}), encoding="utf-8")
    return "restart" if restart else "new"


def earlier_run(folder: Path, kind: str) -> dict | None:
    """The record (``work/run.json``) of an earlier ``kind`` run in ``folder``, None when the folder is absent or
    empty (a lock file aside); a folder holding anything else, or another kind of run, is a :class:`DataError`."""
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: a file is in the way of the benchmark folder")
    if not folder.exists() or all(path.name == LOCK_FILE for path in folder.iterdir()):
        return None
    try:
        earlier = json.loads((folder / "work" / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DataError(f"{folder} exists and does not hold a generation run; choose another --name or move "
                        "it away (nothing was changed)") from None
    if not isinstance(earlier, dict) or earlier.get("kind") != kind:
        found = earlier.get("kind") if isinstance(earlier, dict) else None
        raise DataError(f"{folder} holds a {found!r} benchmark, not {kind!r}; choose another --name (nothing was "
                        "changed)")
    return earlier


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def config_digest(config) -> str:
    """What an earlier run's configuration is compared by (pinned: tests/integration/test_compat_pins.py)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]
