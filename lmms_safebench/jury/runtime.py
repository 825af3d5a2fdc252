"""One jury per configuration per process, shared by every task and thread.

lmms-eval re-executes a task's ``utils.py`` for every ``!function`` reference, so no state may live
there; it lives here. :func:`get_jury` resolves the configuration (environment, file or built-in),
builds the jury once, and hands the same instance to every caller.
"""

from __future__ import annotations

import atexit
import os
import threading

from loguru import logger

from .. import paths
from .cache import JudgeCache
from .config import JuryConfig, resolve_jury_config
from .engine import Jury
from .limits import describe_endpoints

_lock = threading.Lock()
_juries: dict[str, Jury] = {}
_caches: dict[str, JudgeCache] = {}


def cache_enabled() -> bool:
    return os.environ.get("SAFEBENCH_JUDGE_CACHE", "1").strip().lower() not in {"0", "false", "no", "off"}


def shared_cache() -> JudgeCache | None:
    if not cache_enabled():
        return None
    path = str(paths.judge_cache_path())
    if path not in _caches:
        _caches[path] = JudgeCache(path)
    return _caches[path]


def jury_for(config: JuryConfig) -> Jury:
    with _lock:
        jury = _juries.get(config.identity)
        if jury is None:
            cache = shared_cache()
            jury = Jury(config, cache)
            _juries[config.identity] = jury
            kind = "HEURISTIC (refusal patterns, not an LLM judge)" if config.is_heuristic else config.protocol
            logger.info(f"lmms-safebench jury {config.name!r} [{kind}] identity={config.identity} "
                        f"jurors={[j.name for j in config.jurors]} mode={config.mode} rule={config.rule} "
                        f"cache={cache.path if cache else 'off'}")
        return jury


def get_jury(default_protocol: str = "single") -> Jury:
    """The configured jury; raises :class:`~lmms_safebench.errors.ConfigError` when there is none."""
    return jury_for(resolve_jury_config(default_protocol))


def reset() -> None:
    """Forget built juries (tests; a changed environment)."""
    with _lock:
        for jury in _juries.values():
            jury.close()
        _juries.clear()
        for cache in _caches.values():
            cache.close()
        _caches.clear()


def _log_totals() -> None:
    for jury in list(_juries.values()):
        acc = jury.accounting()
        endpoints = "; ".join(describe_endpoints(acc["endpoints"])) or "none"
        logger.info(f"lmms-safebench jury {jury.config.name} ({jury.config.identity}): {acc['counts']} "
                    f"per juror: {acc['jurors']}; {endpoints}")


atexit.register(_log_totals)
