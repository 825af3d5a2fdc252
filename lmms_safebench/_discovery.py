"""Make ``lmms-eval`` see this package's tasks without any command-line flag.

lmms-eval 0.7.3 has no entry point for task folders, and ``LMMS_EVAL_PLUGINS`` is read only after
the TaskManager has indexed its tasks. So the package installs ``lmms_safebench_tasks.pth`` into
site-packages; Python runs its single line at start-up, which calls :func:`install`. That puts a
finder on ``sys.meta_path`` that does nothing until ``lmms_eval.tasks`` is imported; then it wraps
``TaskManager.initialize_tasks`` so every TaskManager also indexes :func:`lmms_eval_tasks_dir`.

Start-up cost is one small import and one list append. Anything unexpected (an lmms-eval whose
TaskManager changed shape, a broken install) is ignored here: discovery must never break Python.
The explicit alternative is ``lmms-eval --include_path "$(lmms-safebench tasks-dir --harness lmms-eval)"``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_TARGET = "lmms_eval.tasks"
_PATCHED_FLAG = "_lmms_safebench_patched"


def tasks_root() -> Path:
    """The folder holding the task YAMLs: ``lmms_safebench/tasks`` in a wheel, ``tasks/`` in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "tasks"
    if (packaged / "lmms_eval").is_dir():
        return packaged
    return here.parent / "tasks"


def lmms_eval_tasks_dir() -> Path:
    return tasks_root() / "lmms_eval"


def lm_eval_tasks_dir() -> Path:
    return tasks_root() / "lm_eval"


def generated_tasks_dirs(harness: str = "") -> list[Path]:
    """Task folders of generated benchmarks: ``$SAFEBENCH_DATA/generated/<name>/tasks/<harness>`` (both
    harnesses when ``harness`` is empty). This runs at start-up, so it reads the folder with the one light, pure
    function the library uses too (``settings.data_dir_of``): both always agree on where the data is."""
    from .settings import data_dir_of  # pure and light: the same folder the library uses

    root = data_dir_of(os.environ) / "generated"
    if not root.is_dir():
        return []
    harnesses = [harness] if harness else ["lmms_eval", "lm_eval"]
    return sorted(p for p in (folder / "tasks" / h for folder in root.iterdir() for h in harnesses) if p.is_dir())


def _patch_task_manager(module) -> None:
    manager_cls = getattr(module, "TaskManager", None)
    original = getattr(manager_cls, "initialize_tasks", None)
    if original is None or getattr(original, _PATCHED_FLAG, False):
        return
    def initialize_tasks(self, include_path=None, include_defaults=True):
        paths = [include_path] if isinstance(include_path, (str, os.PathLike)) else list(include_path or [])
        known = {os.path.realpath(str(p)) for p in paths}
        # Ours, and every generated benchmark's (looked up now, so a benchmark generated after start-up counts).
        for folder in [lmms_eval_tasks_dir(), *generated_tasks_dirs("lmms_eval")]:
            if os.path.realpath(str(folder)) not in known:
                paths.append(str(folder))
        return original(self, include_path=paths, include_defaults=include_defaults)

    setattr(initialize_tasks, _PATCHED_FLAG, True)
    initialize_tasks.__doc__ = original.__doc__
    manager_cls.initialize_tasks = initialize_tasks


class _LoaderProxy:
    """Runs the real loader, then patches the freshly executed module."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            _patch_task_manager(module)
        except Exception:  # never break lmms-eval because of discovery
            pass


class _TasksFinder:
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _LoaderProxy(spec.loader)
                return spec
        return None

    def invalidate_caches(self):
        pass


def install() -> None:
    """Called from the ``.pth`` file at interpreter start-up."""
    try:
        if os.environ.get("LMMS_SAFEBENCH_NO_DISCOVERY"):
            return
        if _TARGET in sys.modules:
            _patch_task_manager(sys.modules[_TARGET])
            return
        if not any(isinstance(f, _TasksFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _TasksFinder())
    except Exception:
        pass
