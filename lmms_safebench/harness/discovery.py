"""Make ``lmms-eval`` see this package's tasks without any command-line flag.

lmms-eval 0.7 has no entry point for task folders, and ``LMMS_EVAL_PLUGINS`` is read only after
the TaskManager has indexed its tasks. So the package installs ``lmms_safebench_tasks.pth`` into
site-packages; Python runs its single line at start-up, which calls :func:`install`. That puts a
finder on ``sys.meta_path`` that does nothing until ``lmms_eval.tasks`` is imported; then it wraps
``TaskManager.initialize_tasks`` so every TaskManager also indexes :func:`lmms_eval_tasks_dir`, the usable
generated benchmarks' folders and the folders that benchmarks of other packages name
(:meth:`~lmms_safebench.benchmarks.base.Benchmark.task_folders`). The same finder wraps ``make_table`` as
``lmms_eval.utils`` and ``lm_eval.utils`` load, so the printed table shows this package's records as one line
even where a command line binds the function before any task loads (lm-eval's; see :mod:`.table`).

Start-up cost is one small import and one list append. Discovery must never break Python or lmms-eval, and it
relies on two private lmms-eval methods (:data:`PATCHED`). So it patches only a TaskManager whose methods have
the signatures of the releases it is tested with; anything else (a newer lmms-eval whose TaskManager changed, a
failure of discovery itself) leaves lmms-eval as it is and logs ONE warning per process naming the explicit
alternative, which always works: ``lmms-eval --include_path "$(lmms-safebench tasks-dir --harness lmms-eval)"``.

A generated benchmark's folder is a user's file: it may be hand-edited, half-deleted or written by an older
version. One broken folder must never hide the other tasks (lmms-eval stops at the first YAML it cannot read,
and so every run would fail). So a generated folder is used only when :func:`folder_problem` finds nothing
wrong (its name, its manifest, every task YAML and what it includes), its generated ``utils.py`` is the current
template's (one an older version wrote is rewritten: :func:`refresh_support_files`) and lmms-eval indexes it
without an error; otherwise it is left out with one warning naming it, and everything else loads. A folder of another
package's benchmark is likewise left out, with one warning, when its adapter cannot say where it is or lmms-eval
cannot index it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_TARGET = "lmms_eval.tasks"
_PATCHED_FLAG = "_lmms_safebench_patched"
HARNESSES = ("lmms_eval", "lm_eval")  # the keys of a task-folder map, and the folders under tasks/
# The lmms-eval internals the patch relies on, with their parameters as in every release it is tested with (the
# lmms-eval range of setup.cfg): a TaskManager whose methods differ is not patched.
PATCHED = {"initialize_tasks": ("self", "include_path", "include_defaults"),
           "_get_task_and_group": ("self", "task_dir")}
INCLUDE_FLAG = '--include_path "$(lmms-safebench tasks-dir --harness lmms-eval)"'


def tasks_root() -> Path:
    """The folder holding the task YAMLs: ``lmms_safebench/tasks`` in a wheel, ``tasks/`` in a checkout."""
    here = Path(__file__).resolve().parents[1]  # the package folder
    packaged = here / "tasks"
    if (packaged / "lmms_eval").is_dir():
        return packaged
    return here.parent / "tasks"


def lmms_eval_tasks_dir() -> Path:
    return tasks_root() / "lmms_eval"


def lm_eval_tasks_dir() -> Path:
    return tasks_root() / "lm_eval"


def generated_tasks_dirs(harness: str = "") -> list[Path]:
    """Task folders of the usable generated benchmarks: ``$SAFEBENCH_DATA/generated/<name>/tasks/<harness>``
    (both harnesses when ``harness`` is empty); a broken benchmark is left out with one warning
    (:func:`folder_problem`). The data folder is found with the one light, pure function the library uses too
    (``settings.data_dir_of``): both always agree on where the data is."""
    from ..settings import data_dir_of  # pure and light: the same folder the library uses

    root = data_dir_of(os.environ) / "generated"
    if not root.is_dir():
        return []
    harnesses = [harness] if harness else HARNESSES
    found = []
    for folder in sorted(root.iterdir()):
        dirs = [folder / "tasks" / h for h in harnesses if (folder / "tasks" / h).is_dir()]
        if dirs and _usable(folder):
            found += dirs
    return sorted(found)


def registered_tasks_dirs(harness: str = "") -> list[Path]:
    """The task folders that benchmarks of other installed packages name (the entry-point group of
    :mod:`lmms_safebench.benchmarks.registry`, :meth:`Benchmark.task_folders`), for ``harness`` (both when
    empty). A benchmark whose adapter cannot be loaded, or that names something other than folders of the known
    harnesses, is left out with one warning; the other tasks load."""
    # Here, not at the top: the registry (and through it the adapters of other packages) is imported only when a
    # TaskManager or the task index asks, never at interpreter start.
    from ..benchmarks import registry
    from ..redact import clip

    found = []
    for key in registry.plugins():
        try:
            folders = registry.get(key).task_folders()
            problem = _task_folders_problem(folders)
        except Exception as exc:  # another package's code: whatever it raises costs its tasks, nothing else
            problem = f"its adapter cannot be loaded: {type(exc).__name__}: {clip(str(exc))}"
        if problem:
            _warn_once(("benchmark", key, problem),
                       f"lmms-safebench: the tasks of benchmark {key!r} ({registry.registered()[key]}) are left out "
                       f"({problem}); every other task is available")
            continue
        found += [Path(folders[h]) for h in ([harness] if harness else HARNESSES) if h in folders]
    return sorted(found)


def _task_folders_problem(folders) -> str | None:
    """What is wrong with what an adapter's ``task_folders()`` gave, or None."""
    from ..redact import clip  # start-up cost, as above

    if not isinstance(folders, dict):
        return f"task_folders() gave a {type(folders).__name__}, not a dict {{harness: folder}}"
    for harness, folder in folders.items():
        if harness not in HARNESSES:
            return f"task_folders() names the harness {clip(repr(harness))}; known: {', '.join(HARNESSES)}"
        if not isinstance(folder, (str, os.PathLike)) or not Path(folder).is_dir():
            return f"its {harness} task folder {clip(repr(folder))} is not a folder"
    return None


# What was found, per process. No lock: at worst two threads check a folder twice (dict and set operations are
# atomic), and this module stays free of imports at start-up.
_checked: dict[str, tuple[tuple, str | None]] = {}  # folder -> (stamp of its files, problem or None)
_warned: set[tuple] = set()  # what was warned about (a folder and its state, a benchmark, "degraded")


def _stamp(folder: Path) -> tuple:
    """What the check of ``folder`` depends on: the manifest's and every task file's mtime and size."""
    files = [folder / "manifest.json"]
    for base, _dirs, names in os.walk(folder / "tasks"):
        files += [Path(base) / name for name in names]
    out = []
    for path in sorted(files):
        try:
            info = path.stat()
            out.append((str(path), info.st_mtime_ns, info.st_size))
        except OSError:
            out.append((str(path), None, None))
    return tuple(out)


def _usable(folder: Path) -> bool:
    stamp = _stamp(folder)
    cached = _checked.get(str(folder))
    if cached is None or cached[0] != stamp:
        problem = folder_problem(folder) or refresh_support_files(folder)
        cached = _checked[str(folder)] = (_stamp(folder), problem)  # after a refresh, the stamp of the new files
    if cached[1] is not None:
        _leave_out(folder, cached[1], stamp)
    return cached[1] is None


def _leave_out(folder: Path, why: str, stamp: tuple = ()) -> None:
    """One warning per broken folder (and state of it) per process."""
    _warn_once((str(folder), stamp), f"lmms-safebench: the generated benchmark folder {str(folder)!r} is left out "
                                     f"({why}); its tasks are not available, every other task is. Fix the folder, "
                                     "generate it again, or delete it")


def _warn_once(key: tuple, message: str) -> None:
    if key in _warned:
        return
    _warned.add(key)
    from loguru import logger  # start-up cost: this module loads at every interpreter start

    logger.warning(message)


def _degrade(why: str) -> None:
    """Discovery is off for this process: one warning naming the flag that works without it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = f"lmms-eval {version('lmms-eval')}"
    except PackageNotFoundError:
        release = "this lmms-eval"
    _warn_once(("degraded",), f"lmms-safebench: automatic task discovery is off for {release} ({why}), so lmms-eval "
                              f"does not find this package's tasks by itself. Pass them explicitly: {INCLUDE_FLAG}")


def folder_problem(folder: Path) -> str | None:
    """What makes a generated benchmark folder unusable, or None: a name that is not a benchmark name, a
    manifest that is not a readable JSON object naming its family, or a task YAML (or a file it includes)
    that is not a readable YAML mapping within the alias budget."""
    # Here, not at the top: this module loads at every interpreter start, and these serve only the folder check.
    import json

    import yaml

    from .. import yamlio
    from ..paths import is_benchmark_name
    from ..redact import clip

    if not is_benchmark_name(folder.name):
        return "its name is not a benchmark name: 1-48 lower-case letters, digits and '_', starting with a letter"
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"manifest.json is not readable JSON: {clip(str(exc))}"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("family"), str):
        return "manifest.json is not an object naming the benchmark's family"
    seen: set[Path] = set()
    todo = sorted((folder / "tasks").rglob("*.yaml"))
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        where = path.relative_to(folder) if path.is_relative_to(folder) else path
        try:
            config = yamlio.load(path.read_bytes(), functions=True)
        except (OSError, yaml.YAMLError) as exc:
            return f"{where}: not a readable YAML file: {clip(str(exc))}"
        if not isinstance(config, dict):
            return f"{where}: not a YAML mapping"
        includes = config.get("include") or []
        includes = [includes] if isinstance(includes, str) else includes
        for include in includes if isinstance(includes, list) else [includes]:
            if not isinstance(include, str):
                return f"{where}: include {clip(repr(include))} is not a file name"
            target = Path(include) if os.path.isfile(include) else path.parent / include
            if not target.is_file():
                return f"{where}: its include {clip(include)!r} does not exist"
            todo.append(target)
    return None


def refresh_support_files(folder: Path) -> str | None:
    """Bring a generated benchmark folder's ``tasks/<harness>/utils.py`` up to the current template.

    The file is fully determined by :data:`.taskwriter.UTILS_PY` (its first line says it was generated and is not to
    be edited), and one written by an older lmms-safebench imports modules that are gone, so none of its tasks would
    load. A file that starts with that line and differs from what the template gives now is replaced whole (a rename:
    a reader never sees half of it); a file without the line is the user's and is left as it is. Returns what
    prevented a rewrite (a read-only data folder, say), or None."""
    # Here, not at the top: this module loads at every interpreter start, and these serve only the folder check.
    from ..benchmarks.registry import GENERATED_PREFIX
    from ..data.store import atomic_write
    from ..redact import clip
    from .taskwriter import UTILS_PY, support_files

    prefix, _, suffix = UTILS_PY.split("\n", 1)[0].partition("{script}")
    for harness in HARNESSES:
        path = folder / "tasks" / harness / "utils.py"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # none, or not this package's
        first = text.split("\n", 1)[0]
        if not (first.startswith(prefix) and first.endswith(suffix) and len(first) > len(prefix) + len(suffix)):
            continue
        script = first[len(prefix):-len(suffix)]
        current = support_files(script, GENERATED_PREFIX + folder.name, lmms_eval=harness == "lmms_eval")["utils.py"]
        if text != current:
            try:
                atomic_write(path, current)
            except OSError as exc:
                return (f"{path.relative_to(folder)} was written by an older lmms-safebench and cannot be brought up "
                        f"to date: {type(exc).__name__}: {clip(str(exc))}")
    return None


def _shape_problem(manager_cls) -> str | None:
    """What differs in ``TaskManager`` from the methods the patch relies on (:data:`PATCHED`), or None."""
    import inspect  # here: only once lmms_eval.tasks is imported

    if not isinstance(manager_cls, type):
        return "lmms_eval.tasks has no TaskManager class"
    for name, expected in PATCHED.items():
        method = getattr(manager_cls, name, None)
        if not callable(method):
            return f"its TaskManager has no {name}"
        try:
            found = tuple(inspect.signature(method).parameters)
        except (TypeError, ValueError):
            found = ("?",)
        if found != expected:
            return f"its TaskManager.{name} takes ({', '.join(found)}), not ({', '.join(expected)})"
    return None


def _extra_folders() -> list[tuple]:
    """``(task folder, how to leave it out)`` of the generated benchmarks and of the benchmarks of other packages
    (looked up now, so a benchmark generated after start-up counts)."""
    generated = [(str(p), lambda why, owner=p.parent.parent: _leave_out(owner, why))
                 for p in generated_tasks_dirs("lmms_eval")]
    return generated + [(str(p), lambda why, p=p: _warn_once((str(p),), (
        f"lmms-safebench: the task folder {str(p)!r} of another package's benchmark is left out ({why}); every other "
        "task is available"))) for p in registered_tasks_dirs("lmms_eval")]


def _patch_task_manager(module) -> None:
    manager_cls = getattr(module, "TaskManager", None)
    if getattr(getattr(manager_cls, "initialize_tasks", None), _PATCHED_FLAG, False):
        return
    problem = _shape_problem(manager_cls)
    if problem is not None:
        _degrade(problem)
        return
    original = manager_cls.initialize_tasks

    def initialize_tasks(self, include_path=None, include_defaults=True):
        try:
            paths = [include_path] if isinstance(include_path, (str, os.PathLike)) else list(include_path or [])
            known = {os.path.realpath(str(p)) for p in paths}
            if os.path.realpath(str(lmms_eval_tasks_dir())) not in known:
                paths.append(str(lmms_eval_tasks_dir()))
            extra = [(folder, leave_out) for folder, leave_out in _extra_folders()
                     if os.path.realpath(folder) not in known]
        except Exception as exc:  # a failure of discovery itself: lmms-eval indexes what it was asked for
            from ..redact import clip  # start-up cost, as above

            _degrade(f"{type(exc).__name__}: {clip(str(exc))}")
            return original(self, include_path=include_path, include_defaults=include_defaults)
        index = original(self, include_path=paths, include_defaults=include_defaults)
        for folder, leave_out in extra:
            # Each folder on its own, so that one lmms-eval cannot read leaves the others (and every other task)
            # in. Earlier folders win a name, as in lmms-eval's own loop.
            try:
                index = {**self._get_task_and_group(folder), **index}
            except Exception as exc:
                from ..redact import clip  # start-up cost, as above

                leave_out(f"lmms-eval cannot index it: {type(exc).__name__}: {clip(str(exc))}")
        return index

    setattr(initialize_tasks, _PATCHED_FLAG, True)
    initialize_tasks.__doc__ = original.__doc__
    manager_cls.initialize_tasks = initialize_tasks


def _wrap_table(module) -> None:
    """Wrap the harness's ``make_table`` as its ``utils`` module loads, before a command line binds it (see
    :mod:`.table`)."""
    try:
        from . import table  # start-up cost only in a harness's process, and a small module

        if hasattr(module, "make_table"):
            module.make_table = table.wrap(module.make_table)
    except Exception:  # the table then prints records whole, or short once the hooks' table.install runs
        pass


# The modules the finder patches as they load, and how.
_PATCHES = {_TARGET: _patch_task_manager, "lmms_eval.utils": _wrap_table, "lm_eval.utils": _wrap_table}


class _LoaderProxy:
    """Runs the real loader, then patches the freshly executed module."""

    def __init__(self, loader, patch):
        self._loader, self._patch = loader, patch

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            self._patch(module)
        except Exception as exc:  # never break a harness because of discovery
            try:
                _degrade(f"{type(exc).__name__} while patching {module.__name__}")
            except Exception:
                pass


class _TasksFinder:
    def find_spec(self, fullname, path=None, target=None):
        patch = _PATCHES.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _LoaderProxy(spec.loader, patch)
                return spec
        return None

    def invalidate_caches(self):
        pass


def install() -> None:
    """Called from the ``.pth`` file at interpreter start-up: patches what is already imported, and puts the finder
    on ``sys.meta_path`` for the rest."""
    try:
        if os.environ.get("LMMS_SAFEBENCH_NO_DISCOVERY"):
            return
        for name, patch in _PATCHES.items():
            if name in sys.modules:
                patch(sys.modules[name])
        if not all(name in sys.modules for name in _PATCHES) and not any(isinstance(f, _TasksFinder)
                                                                         for f in sys.meta_path):
            sys.meta_path.insert(0, _TasksFinder())
    except Exception:
        pass
