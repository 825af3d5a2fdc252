"""A harness run made once for the whole test session, however pytest-xdist spreads the tests that read it.

A module-scoped fixture runs once per worker that gets one of the module's tests, and ``--dist worksteal`` may
hand a module's tests to both workers: a shared lmms-eval run would then start twice. :func:`made_once` makes the
folder under a file lock in the temp folder all workers share; the first worker to ask makes it, the others wait
and read it. What the maker returns (counts, requests a loopback server saw) is kept as JSON beside the folder,
since the worker that reads it may not be the one that made it.
"""

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temp folder every worker of this session sees (the session's own one without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], object]) -> tuple[Path, object]:
    """``(folder, value)``: ``make(folder)`` fills an empty ``folder`` and returns a JSON-serialisable ``value``,
    once per session under ``name``. A make that raised leaves no folder behind, so the next worker to ask
    tries again (and fails the same way, with its own traceback)."""
    root = shared_root(tmp_path_factory) / "made-once"
    root.mkdir(parents=True, exist_ok=True)
    folder, record = root / name, root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if not record.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                value = make(folder)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            record.write_text(json.dumps(value))
    return folder, json.loads(record.read_text())
