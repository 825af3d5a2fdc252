"""Where data and caches live. Both are plain folders the user can move with an environment variable
(``SAFEBENCH_DATA``, ``SAFEBENCH_CACHE``; see :mod:`lmms_safebench.settings`)."""

from __future__ import annotations

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
