"""The package's tasks and groups, read from the task YAMLs themselves.

Offline re-judging needs what a harness knows at run time: which slice of data a task reads (to
recover documents that a ``--predict_only`` log does not keep) and which tasks a group averages.
Reading the generated YAMLs, rather than repeating their naming rules, keeps one source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from loguru import logger

from .. import yamlio
from ..redact import clip
from .discovery import generated_tasks_dirs, lm_eval_tasks_dir, lmms_eval_tasks_dir, registered_tasks_dirs


@dataclass(frozen=True)
class TaskInfo:
    name: str
    benchmark: str  # the adapter's registry key, e.g. "safebench", "mmsafetybench", "gen_mybench"
    selector: str  # the slice of the local dataset, e.g. "image.full.default.bias"

    @property
    def variant(self) -> str:
        return self.selector.rsplit(".", 1)[0]

    @property
    def board(self) -> str:
        """The leaderboard the task belongs to: its name without the scenario part (a task over every scenario of
        a variant, such as a MiniBench task, is its own board). ``report`` and ``select`` group samples by it."""
        scenario = self.selector.rsplit(".", 1)[-1]
        return self.name if scenario == "all" else self.name.removesuffix(f"_{scenario}")


def tasks_of_board(board: str, benchmark: str | None = None) -> list[TaskInfo]:
    """The tasks whose board is ``board`` (of ``benchmark`` when given), by name."""
    tasks, _ = index()
    return [info for _, info in sorted(tasks.items())
            if info.board == board and (benchmark is None or info.benchmark == benchmark)]


def _read(path: Path) -> dict:
    """A task YAML (``!function x.y`` stays the string ``x.y``: no hook is imported); one that cannot be read
    is named and left out, so it cannot hide every other task."""
    try:
        config = yamlio.load(path.read_bytes(), functions=True) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        logger.warning(f"lmms-safebench: {path} is not a readable task YAML ({clip(str(exc))}); left out")
        return {}
    return config if isinstance(config, dict) else {}


def index() -> tuple[dict[str, TaskInfo], dict[str, tuple[str, ...]]]:
    """``(tasks, groups)``: ``{task: TaskInfo}`` and ``{group: child names}`` over both harnesses' folders
    of this package, of the usable generated benchmarks in the data folder (a broken one is left out with a
    warning: :func:`.discovery.generated_tasks_dirs`) and of the benchmarks of other packages
    (:func:`.discovery.registered_tasks_dirs`): the folders lmms-eval's TaskManager is given."""
    roots = tuple(str(p) for p in (lmms_eval_tasks_dir(), lm_eval_tasks_dir(), *generated_tasks_dirs(),
                                   *registered_tasks_dirs()))
    return _index(roots, tuple(_stamp(root) for root in roots))


def _stamp(root: str) -> float:
    try:
        return Path(root).stat().st_mtime  # a regenerated benchmark rewrites its folder
    except OSError:
        return 0.0


@lru_cache(maxsize=8)
def _index(roots: tuple[str, ...], _stamps) -> tuple[dict[str, TaskInfo], dict[str, tuple[str, ...]]]:
    tasks: dict[str, TaskInfo] = {}
    groups: dict[str, tuple[str, ...]] = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*.yaml")):
            config = _read(path)
            if "group" in config:
                groups[config["group"]] = tuple(config.get("task") or ())
            elif "task" in config:
                name = config.get("dataset_name") or (config.get("dataset_kwargs") or {}).get("selector")
                if name and "." in name:
                    benchmark, selector = name.split(".", 1)
                    tasks[config["task"]] = TaskInfo(config["task"], benchmark, selector)
    return tasks, groups


def complete_groups(present: set[str]) -> dict[str, tuple[str, ...]]:
    """The groups all of whose tasks (recursively) are in ``present``, children before parents."""
    _, groups = index()
    done: dict[str, tuple[str, ...]] = {}
    changed = True
    while changed:
        changed = False
        for group, children in groups.items():
            if group not in done and children and all(c in present or c in done for c in children):
                done[group] = children
                changed = True
    return done
