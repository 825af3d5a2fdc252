"""Where data and caches live. Both are plain folders the user can move with an environment variable.

- ``SAFEBENCH_DATA``: built datasets (default ``~/.cache/lmms_safebench/data``).
- ``SAFEBENCH_CACHE``: the judge-call cache and downloads (default ``~/.cache/lmms_safebench``).
"""

from __future__ import annotations

import os
from pathlib import Path


def _user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lmms_safebench"


def cache_dir() -> Path:
    value = os.environ.get("SAFEBENCH_CACHE")
    return Path(value).expanduser() if value else _user_cache_root()


def data_dir() -> Path:
    value = os.environ.get("SAFEBENCH_DATA")
    return Path(value).expanduser() if value else _user_cache_root() / "data"


def downloads_dir() -> Path:
    return cache_dir() / "downloads"


def judge_cache_path() -> Path:
    return cache_dir() / "judge_cache.sqlite"


def offline() -> bool:
    """True when the user asked for no network access (the same switches the Hugging Face stack uses)."""
    return any(os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
               for name in ("SAFEBENCH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
