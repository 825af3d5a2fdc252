"""The local data folder: one directory per benchmark holding per-scenario parquet files (images
embedded) and a ``manifest.json`` that says what was built, from which source, with which options."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .. import paths
from ..errors import DataError, DataNotBuiltError

MANIFEST = "manifest.json"


def benchmark_dir(benchmark: str, root: Path | None = None) -> Path:
    return Path(root or paths.data_dir()) / benchmark


def read_manifest(directory: Path) -> dict | None:
    path = directory / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is unreadable ({exc}); rebuild the dataset") from None


class StagingDir:
    """Build into a temporary sibling folder and swap it in at the end, so a failed or interrupted
    build never leaves a half-written dataset where tasks would read it."""

    def __init__(self, target: Path):
        self.target = Path(target)
        self.path: Path | None = None

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}-", dir=self.target.parent))
        return self.path

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return False
        backup = None
        if self.target.exists():
            backup = self.target.with_name(f".{self.target.name}-old-{os.getpid()}")
            os.replace(self.target, backup)
        os.replace(self.path, self.target)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
        return False


def ensure_built(directory: Path, what: str, source: str, build, how: str) -> dict:
    """The manifest in ``directory``. When it is missing and the network may be used, ``build()`` from
    ``source`` first; otherwise (or when that fails) raise :class:`DataNotBuiltError` with ``how`` to build it."""
    from loguru import logger

    manifest = read_manifest(directory)
    if manifest is not None:
        return manifest
    if not paths.offline():
        logger.info(f"{what} is not built in {directory}; building it from {source}")
        try:
            build()
            return read_manifest(directory)
        except DataError as exc:
            reason = f"building it from {source} failed: {exc}"
    else:
        reason = "offline mode is on, so it was not downloaded"
    raise DataNotBuiltError(f"{what} is not built in {directory} ({reason}).\nBuild it with:  {how}\n"
                            "(SAFEBENCH_DATA chooses the data folder.)")


@contextlib.contextmanager
def quiet_datasets():
    """One progress bar per build, not one per parquet file written by ``datasets``."""
    import datasets

    was_enabled = datasets.utils.logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def write_manifest(directory: Path, manifest: dict) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def download(url: str, target: Path, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``target`` (atomically); an existing file is reused."""
    if target.exists() and target.stat().st_size > 0:
        return target
    if paths.offline():
        raise DataError(f"offline mode is on (SAFEBENCH_OFFLINE / HF_HUB_OFFLINE), cannot download {url}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from None
    os.replace(tmp, target)
    return target
