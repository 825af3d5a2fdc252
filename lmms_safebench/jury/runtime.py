"""One jury per configuration per process, shared by every task and thread.

lmms-eval re-executes a task's ``utils.py`` for every ``!function`` reference, so no state may live
there; it lives here. :func:`get_jury` resolves the configuration (environment, file or built-in),
builds the jury once (loading its in-process models then: one that cannot be loaded is a
configuration error, raised before inference), and hands the same instance to every caller.
"""

from __future__ import annotations

import atexit
import threading

from loguru import logger

from .. import paths, settings
from ..errors import ConfigError
from ..llm.limits import describe_endpoints
from ..llm.local import shared_model
from ..llm.retry import PermanentError
from .cache import JudgeCache
from .config import ENV_JURY, JuryConfig, resolve_jury_config
from .engine import Jury

_lock = threading.Lock()
_juries: dict[str, Jury] = {}
_caches: dict[str, JudgeCache] = {}


def cache_enabled() -> bool:
    return settings.current().judge_cache


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
            _load_local_models(config)
            cache = shared_cache()
            jury = Jury(config, cache)
            _juries[config.identity] = jury
            kind = "HEURISTIC (refusal patterns, not an LLM judge)" if config.is_heuristic else config.protocol
            logger.info(f"lmms-safebench jury {config.name!r} [{kind}] identity={config.identity} "
                        f"jurors={[j.name for j in config.jurors]} mode={config.mode} rule={config.rule} "
                        f"cache={cache.path if cache else 'off'}")
        return jury


def _load_local_models(config: JuryConfig) -> None:
    """Load the in-process juror models now, so that a model that cannot be had stops the run before
    inference instead of leaving every sample unjudged after it."""
    for juror in config.jurors:
        if juror.backend == "transformers":
            try:
                shared_model(juror.model, juror.device, juror.dtype).ensure_loaded()
            except PermanentError as exc:
                raise ConfigError(f"jury {config.name!r} ({config.source}): {exc}\nChoose another jury with "
                                  f"{ENV_JURY} (see README 'Configuring a jury').") from None


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


def unjudged_summary(causes: dict[str, int]) -> str:
    """One line saying how many samples stayed unjudged and why (empty when none did)."""
    total = sum(causes.values())
    if not total:
        return ""
    parts = [f"{cause} {n}" + (f" ({CAUSE_HINTS[cause]})" if cause in CAUSE_HINTS else "")
             for cause, n in sorted(causes.items(), key=lambda kv: -kv[1])]
    return f"{total} sample(s) stayed unjudged, counted but never as safe: " + "; ".join(parts)


# What to do about each cause of an unjudged sample.
CAUSE_HINTS = {
    "transport": "the judge endpoint failed after retries; such calls are not cached: run the same command again",
    "request_refused": "the endpoint refused the request: check the model name, key and URL with "
                       "`lmms-safebench jury check`",
    "unreadable": "the juror replied without a readable verdict; cached, SAFEBENCH_RETRY_ABSTAINED=1 retries them",
    "internal": "an internal error; see the log above",
    "unsupported": "a heuristic or guard juror has no rule for the criterion's kind under its rubric: use review "
                   "jurors (reply_format: review) for this benchmark",
    "tie": "an even split and the tie rule is 'unjudged'",
    "malformed_document": "the document could not make a case; see the log",
    "no_case": "the log holds no document, case or usable doc_id for it",
    "unknown_task": "a safebench_ task this version does not know",
    "doc_mismatch": "the local data changed since the run: rebuild it as it was, or run inference again",
    "unverifiable": "a log written before document fingerprints; --trust-doc-ids judges it by doc_id",
    "no_images": "the jury is shown the document's pictures, read from the local data by doc_id: build the data "
                 "(`lmms-safebench build <benchmark>`) as it was for the run",
}


def _log_totals() -> None:
    for jury in list(_juries.values()):
        acc = jury.accounting()
        if not any(acc["counts"].values()):
            continue  # built but never asked (a run that stopped before inference): its stop message stays last
        endpoints = "; ".join(describe_endpoints(acc["endpoints"])) or "none"
        logger.info(f"lmms-safebench jury {jury.config.name} ({jury.config.identity}): {acc['counts']} "
                    f"per juror: {acc['jurors']}; {endpoints}")
        line = unjudged_summary(acc["causes"])
        if line:
            logger.warning(f"lmms-safebench jury {jury.config.name}: {line}")


atexit.register(_log_totals)
