"""One folder per benchmark (``safebench/``, ``mmsafetybench/``, ``vlsafety/``, ...), the adapter interface every one
implements (:mod:`.base`) and where adapters are found (:mod:`.registry`). The registry's public API:
:func:`get` (by key), :func:`split` (a task's ``dataset_name``), :func:`for_task` and :func:`builtins`."""

from .registry import builtins, for_task, get, split  # noqa: F401
