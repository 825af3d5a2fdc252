"""The family parts of writing a generated benchmark: its manifest, its task folders and its parquet files (used by
the family writers, each generated kind's ``family.py`` in ``lmms_safebench/benchmarks/<name>/``). Whatever generated
it, a benchmark written here runs through the same tasks, jury, ``judge`` and ``report`` as the official ones.

The rest of the benchmark folder (its layout, preparing and resuming it, whole-file writes, the data card) and the
taxonomy type are every generator's: :mod:`.core.output` and :mod:`.core.taxonomy`. Their names are imported here
too, so that the family writers find every part of a generated benchmark here.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..benchmarks.registry import GENERATED_PREFIX
from ..data import store
from ..harness.taskwriter import write_all
from .core.output import (  # noqa: F401 - re-exported for the family writers
    SCRIPT,
    VERSION,
    atomic_write,
    config_digest,
    earlier_run,
    prepare,
    write_card,
)
from .core.taxonomy import Category as TaxCategory  # noqa: F401 - re-exported for the family writers
from .core.taxonomy import Scenario as TaxScenario  # noqa: F401
from .core.taxonomy import from_dict as taxonomy_from_dict  # noqa: F401
from .core.taxonomy import to_dict as taxonomy_to_dict  # noqa: F401


def key_of(name: str) -> str:
    return f"{GENERATED_PREFIX}{name}"


def write_manifest(folder: Path, manifest: dict) -> None:
    store.write_manifest(folder, {"format": 1, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **manifest})


def write_tasks(folder: Path, files_by_harness: dict[str, dict[str, str]]) -> None:
    """Replace the benchmark's task folders (``{"lmms_eval": files, "lm_eval": files}``)."""
    for harness, files in files_by_harness.items():
        write_all(folder / "tasks" / harness, files)


def write_parquet(path: Path, columns: dict[str, list], features) -> None:
    import datasets  # heavy: only when a benchmark is written

    with store.quiet_datasets():
        datasets.Dataset.from_dict(columns, features=features).to_parquet(str(path))
