"""One folder per benchmark (``safebench/``, ``mmsafetybench/``, ``vlsafety/``, ...), the adapter interface every one
implements (:mod:`.base`) and where adapters are found (:mod:`.registry`). The registry's public API:
:func:`get` (by key), :func:`split` (a task's ``dataset_name``), :func:`builtins` and :func:`plugins` (the
benchmarks of other packages)."""

from .registry import builtins, get, plugins, split  # noqa: F401
