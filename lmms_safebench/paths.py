"""Where data and caches live. Both are plain folders the user can move with an environment variable
(``SAFEBENCH_DATA``, ``SAFEBENCH_CACHE``; see :mod:`lmms_safebench.settings`)."""

from __future__ import annotations

import re
from pathlib import Path

from .settings import current


def cache_dir() -> Path:
    return current().cache_dir


def data_dir() -> Path:
    return current().data_dir


def downloads_dir() -> Path:
    return cache_dir() / "downloads"


def judge_cache_path() -> Path:
    return cache_dir() / "judge_cache.sqlite"


def offline() -> bool:
    """True when the user asked for no network access (the same switches the Hugging Face stack uses)."""
    return current().offline


def is_benchmark_name(name) -> bool:
    """A generated benchmark's name, and so its folder's under ``<data>/generated/``: 1-48 lower-case letters, digits
    and '_', starting with a letter (it becomes part of task names). Matched whole: ``"nl\\n"`` is not a name."""
    return isinstance(name, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,47}", name) is not None
