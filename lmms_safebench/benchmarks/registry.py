"""Where adapters are found: by key (every document's ``benchmark``), by a task's ``dataset_name``, by task.

Built-in benchmarks are registered here. A generated benchmark lives in ``$SAFEBENCH_DATA/generated/<name>/``
under the key ``gen_<name>``; its adapter is built from that folder's ``manifest.json`` by the factory of
the family the manifest names (families register themselves with :func:`register_family`), so a new
benchmark needs no code edit.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Callable

from ..errors import DataError
from ..harness.discovery import is_benchmark_name
from ..redact import shown
from .base import Benchmark

GENERATED_PREFIX = "gen_"

_lock = threading.RLock()  # re-entrant: a selection's adapter looks up its (generated) source
_builtins: dict[str, Benchmark] = {}
_generated: dict[str, tuple[float, Benchmark]] = {}  # key -> (manifest mtime, adapter)
_families: dict[str, Callable[[str, Path, dict], Benchmark]] = {}


def _load_builtins() -> dict[str, Benchmark]:
    if not _builtins:
        from .mmsafetybench import MMSafetyBench
        from .safebench import SafeBench

        for adapter in (MMSafetyBench(), SafeBench()):
            _builtins[adapter.key] = adapter
    return _builtins


def register_family(family: str, factory: Callable[[str, Path, dict], Benchmark]) -> None:
    """``factory(key, folder, manifest)`` builds the adapter of a generated benchmark of ``family``."""
    _families[family] = factory


def _load_families() -> None:
    # Importing a family's module registers it.
    from ..selection import family  # noqa: F401
    from .mmsafetybench import family as _mmsb  # noqa: F401
    from .safebench import family as _sb  # noqa: F401
    from .vlsafety import family as _vlsafety  # noqa: F401


def check_name(name: str) -> str:
    """A generated benchmark's name: lower-case letters, digits and underscores (it becomes task names)."""
    if not is_benchmark_name(name):
        raise DataError(f"benchmark name {shown(name)}: use 1-48 lower-case letters, digits and underscores, starting "
                        "with a letter (it becomes part of task names)")
    return name


def generated_dir(name: str, data_root: Path | None = None) -> Path:
    from .. import paths

    return Path(data_root or paths.data_dir()) / "generated" / check_name(name)


def get(key: str) -> Benchmark:
    """The adapter registered under ``key``; raises KeyError naming what is known."""
    builtins = _load_builtins()
    if key in builtins:
        return builtins[key]
    if isinstance(key, str) and key.startswith(GENERATED_PREFIX):
        return _generated_adapter(key)
    raise KeyError(f"unknown benchmark {key!r}; built in: {sorted(builtins)}; generated ones are named "
                   f"{GENERATED_PREFIX}<name>")


def _generated_adapter(key: str) -> Benchmark:
    name = key[len(GENERATED_PREFIX):]
    folder = generated_dir(name)
    manifest_path = folder / "manifest.json"
    try:
        stamp = manifest_path.stat().st_mtime
    except OSError:
        raise KeyError(f"generated benchmark {name!r} is not in {folder} (no manifest.json); generate it first, "
                       "or set SAFEBENCH_DATA to the data folder that holds it") from None
    with _lock:
        cached = _generated.get(key)
        if cached and cached[0] == stamp:
            return cached[1]
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise KeyError(f"{manifest_path}: unreadable ({exc})") from None
        _load_families()
        family = manifest.get("family")
        if family not in _families:
            raise KeyError(f"{manifest_path}: unknown benchmark family {family!r}; known: {sorted(_families)}")
        adapter = _families[family](key, folder, manifest)
        _generated[key] = (stamp, adapter)
        return adapter


def split(dataset_name: str):
    """``(adapter, selector)`` of a task's ``dataset_name`` (``<key>.<selector>``); ValueError when malformed."""
    key, sep, rest = (dataset_name or "").partition(".")
    if not sep:
        raise ValueError(f"bad task dataset_name {dataset_name!r}: expected <benchmark>.<selector>")
    try:
        adapter = get(key)
    except KeyError as exc:
        raise ValueError(str(exc).strip("'\"")) from None
    return adapter, adapter.parse(rest)


def for_task(task: str) -> Benchmark | None:
    """The adapter of a task of this package (None for a task it does not know)."""
    from ..harness import taskindex

    info = taskindex.index()[0].get(task)
    if info is None:
        return None
    try:
        return get(info.benchmark)
    except KeyError:
        return None


def reset() -> None:
    """Forget generated adapters (tests; a regenerated benchmark)."""
    with _lock:
        _generated.clear()
