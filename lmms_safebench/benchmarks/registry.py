"""Where adapters are found: by key (every document's ``benchmark``) and by a task's ``dataset_name``.

Every source is a lazy map to ``"module:attr"`` strings, imported the first time a key is asked for:

- :data:`BUILTINS`: this package's benchmarks (adding one is one line here);
- the entry-point group :data:`ENTRY_POINT_GROUP` (name -> ``"module:attr"``): another installed package's
  benchmarks, found without an edit of this one (a built-in key wins over an entry point of the same name);
- generated benchmarks: ``$SAFEBENCH_DATA/generated/<name>/`` under the key ``gen_<name>``; the adapter is built
  from that folder's ``manifest.json`` by the factory of the family it names (:data:`FAMILIES`:
  ``factory(key, folder, manifest)``). It is kept while the manifest file is unchanged (its modification time, size
  and inode: manifests are written whole, by a rename, so every rewrite changes them), so a regenerated benchmark
  is seen at once and nobody has to tell the registry.

A registered ``attr`` is a :class:`~.base.Benchmark` instance or a zero-argument callable returning one (a
subclass with the benchmark's defaults). Importing an adapter never imports the registry back, so there is no
import cycle and no lock for import order.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path

from .. import paths
from ..errors import DataError
from ..redact import shown
from .base import Benchmark

GENERATED_PREFIX = "gen_"
ENTRY_POINT_GROUP = "lmms_safebench.benchmarks"

BUILTINS = {
    "mmsafetybench": "lmms_safebench.benchmarks.mmsafetybench:MMSafetyBench",
    "mossbench": "lmms_safebench.benchmarks.mossbench:MOSSBench",
    "mssbench": "lmms_safebench.benchmarks.mssbench:MSSBench",
    "safebench": "lmms_safebench.benchmarks.safebench:SafeBench",
    "xstest": "lmms_safebench.benchmarks.xstest:XSTest",
}
FAMILIES = {
    "safebench": "lmms_safebench.benchmarks.safebench.family:from_manifest",
    "mmsafetybench": "lmms_safebench.benchmarks.mmsafetybench.family:from_manifest",
    "vlsafety": "lmms_safebench.benchmarks.vlsafety:VLSafety",
    "selection": "lmms_safebench.selection.family:from_manifest",
}

_adapters: dict[str, Benchmark] = {}  # registered key -> adapter
_generated: dict[str, tuple[tuple, Benchmark]] = {}  # generated key -> (manifest stamp, adapter)


def load(target: str):
    """The object a ``"module:attr"`` string names (``attr`` may be dotted)."""
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


@functools.lru_cache(maxsize=4)
def _entry_points(_path: tuple[str, ...]) -> dict[str, str]:
    # Keyed by sys.path: a distribution put on the path later (a plugin folder, a test's) is found then.
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def registered() -> dict[str, str]:
    """``{key: "module:attr"}`` of every benchmark that is not generated: entry points, then the built-ins."""
    return {**_entry_points(tuple(sys.path)), **BUILTINS}


def plugins() -> list[str]:
    """The keys of the benchmarks other packages register (an entry point a built-in shadows is not one)."""
    return sorted(key for key in _entry_points(tuple(sys.path)) if key not in BUILTINS)


def builtins() -> list[Benchmark]:
    """The adapters of every registered (not generated) benchmark, built-ins first."""
    return [get(key) for key in sorted(registered(), key=lambda k: (k not in BUILTINS, k))]


def check_name(name: str) -> str:
    """A generated benchmark's name: lower-case letters, digits and underscores (it becomes task names)."""
    if not paths.is_benchmark_name(name):
        raise DataError(f"benchmark name {shown(name)}: use 1-48 lower-case letters, digits and underscores, starting "
                        "with a letter (it becomes part of task names)")
    return name


def generated_dir(name: str, data_root: Path | None = None) -> Path:
    return Path(data_root or paths.data_dir()) / "generated" / check_name(name)


def get(key: str) -> Benchmark:
    """The adapter registered under ``key``; raises KeyError naming what is known."""
    if key in _adapters:
        return _adapters[key]
    known = registered()
    if key in known:
        target = load(known[key])
        adapter = target if isinstance(target, Benchmark) else target()
        if not isinstance(adapter, Benchmark):
            raise KeyError(f"benchmark {key!r}: {known[key]} gives a {type(adapter).__name__}, not a Benchmark")
        _adapters[key] = adapter
        return adapter
    if isinstance(key, str) and key.startswith(GENERATED_PREFIX):
        return _generated_adapter(key)
    raise KeyError(f"unknown benchmark {key!r}; registered: {sorted(known)}; generated ones are named "
                   f"{GENERATED_PREFIX}<name>")


def _stamp(path: Path) -> tuple:
    info = path.stat()
    return info.st_mtime_ns, info.st_size, info.st_ino


def _generated_adapter(key: str) -> Benchmark:
    name = key[len(GENERATED_PREFIX):]
    folder = generated_dir(name)
    manifest_path = folder / "manifest.json"
    try:
        stamp = _stamp(manifest_path)
    except OSError:
        raise KeyError(f"generated benchmark {name!r} is not in {folder} (no manifest.json); generate it first, "
                       "or set SAFEBENCH_DATA to the data folder that holds it") from None
    cached = _generated.get(key)
    if cached and cached[0] == stamp:
        return cached[1]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise KeyError(f"{manifest_path}: unreadable ({exc})") from None
    family = manifest.get("family") if isinstance(manifest, dict) else None
    if family not in FAMILIES:
        raise KeyError(f"{manifest_path}: unknown benchmark family {family!r}; known: {sorted(FAMILIES)}")
    adapter = load(FAMILIES[family])(key, folder, manifest)
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
