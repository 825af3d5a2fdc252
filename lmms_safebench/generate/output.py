"""Writing a generated benchmark: the official build's schema, a manifest its adapter is built from, its task
folders, and a data card. Whatever generated it, a benchmark written here runs through the same tasks, jury,
``judge`` and ``report`` as the official ones (each kind's ``family.py`` in ``lmms_safebench/benchmarks/<name>/``).

Layout of ``$SAFEBENCH_DATA/generated/<name>/``::

    manifest.json            family, taxonomy / scenarios, counts, problems, generator, provenance
    <scenario>.parquet       one file per scenario, in the schema of the official build of the family
    data_card.json, data_card.md
    tasks/lmms_eval/...      the task family (scenario YAMLs, groups, utils.py), found by lmms-eval
    tasks/lm_eval/...        its text-only tasks, for lm-eval (--include_path)
    work/                    the run's resumable state (see .workspace)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..benchmarks.registry import GENERATED_PREFIX
from ..data import store
from ..data.store import atomic_write  # noqa: F401  (the generators' writer, re-exported)

SCRIPT = "lmms-safebench generate"
LOCK_FILE = ".lock"  # the folder lock of a run (.workspace.FolderLock), which a restart leaves in place
VERSION = "0.1"


# ------------------------------------------------------------------------------------------ taxonomy

@dataclass(frozen=True)
class TaxScenario:
    slug: str
    title: str
    definition: str = ""


@dataclass(frozen=True)
class TaxCategory:
    slug: str
    abbr: str
    title: str
    definition: str = ""
    scenarios: tuple[TaxScenario, ...] = ()


def taxonomy_to_dict(categories: list[TaxCategory]) -> dict:
    return {"categories": [{"slug": c.slug, "abbr": c.abbr, "title": c.title, "definition": c.definition,
                            "scenarios": [{"slug": s.slug, "title": s.title, "definition": s.definition}
                                          for s in c.scenarios]} for c in categories]}


def taxonomy_from_dict(data: dict) -> list[TaxCategory]:
    return [TaxCategory(c["slug"], c.get("abbr") or c["slug"][:2].upper(), c["title"], c.get("definition", ""),
                        tuple(TaxScenario(s["slug"], s["title"], s.get("definition", "")) for s in c["scenarios"]))
            for c in data["categories"]]


def key_of(name: str) -> str:
    return f"{GENERATED_PREFIX}{name}"


# ------------------------------------------------------------------------------------------ writing

def write_manifest(folder: Path, manifest: dict) -> None:
    store.write_manifest(folder, {"format": 1, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **manifest})


def write_tasks(folder: Path, files_by_harness: dict[str, dict[str, str]]) -> None:
    """Replace the benchmark's task folders (``{"lmms_eval": files, "lm_eval": files}``)."""
    from ..harness.taskwriter import write_all

    for harness, files in files_by_harness.items():
        write_all(folder / "tasks" / harness, files)


def write_parquet(path: Path, columns: dict[str, list], features) -> None:
    import datasets

    with store.quiet_datasets():
        datasets.Dataset.from_dict(columns, features=features).to_parquet(str(path))


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
            if isinstance(item, (dict, list)):
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
    from ..errors import DataError

    earlier = earlier_run(folder, kind)
    if earlier is not None:
        if restart:
            for path in folder.iterdir():
                if path.name != LOCK_FILE:
                    _remove(path)
        else:
            if earlier.get("config") != config_digest:
                from loguru import logger

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
    from ..errors import DataError

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
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def config_digest(config) -> str:
    import hashlib

    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]
