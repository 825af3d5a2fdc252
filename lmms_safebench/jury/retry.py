"""Retries with exponential backoff that honour ``Retry-After``, and per-endpoint in-flight limits."""

from __future__ import annotations

import random
import threading
import time
from email.utils import parsedate_to_datetime

MAX_BACKOFF = 60.0  # seconds, for exponential backoff
MAX_RETRY_AFTER = 300.0  # seconds; a server asking for longer is capped here


class TransientError(Exception):
    """A request failed in a way that may succeed later (429, 5xx, timeout, dropped connection)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """A request failed in a way that retrying will not fix (bad request, authentication, missing key)."""


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
        value = headers.get("retry-after")
    except Exception:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def backoff_delay(attempt: int, base: float, retry_after: float | None = None) -> float:
    """Delay before retry number ``attempt + 1``: the server's Retry-After if given, else jittered 2^n."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    delay = min(MAX_BACKOFF, base * (2 ** attempt))
    return delay * (0.5 + random.random() / 2)


def call_with_retries(request, *, max_attempts: int, base_delay: float, on_retry=None, sleep=time.sleep):
    """Run ``request()`` until it succeeds, raises :class:`PermanentError`, or attempts run out.

    ``on_retry(attempt, error, delay)`` is called before each wait. The last :class:`TransientError`
    is re-raised when every attempt failed.
    """
    for attempt in range(max_attempts):
        try:
            return request()
        except TransientError as error:
            if attempt == max_attempts - 1:
                raise
            delay = backoff_delay(attempt, base_delay, error.retry_after)
            if on_retry is not None:
                on_retry(attempt, error, delay)
            sleep(delay)
    raise AssertionError("unreachable")


class EndpointLimiter:
    """At most ``limit`` requests in flight per endpoint and, when ``total`` is set, at most ``total``
    across all endpoints (``lmms-safebench judge --concurrency``), across all threads."""

    def __init__(self, total: int | None = None):
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._limits: dict[str, int] = {}
        self.total = total
        self._total = threading.BoundedSemaphore(total) if total else None

    def slot(self, endpoint: str, limit: int) -> _Slot:
        """A context manager holding one request slot of ``endpoint`` (and of the total)."""
        with self._lock:
            semaphore = self._semaphores.get(endpoint)
            if semaphore is None:
                semaphore = threading.BoundedSemaphore(limit)
                self._semaphores[endpoint] = semaphore
                self._limits[endpoint] = limit
        return _Slot(semaphore, self._total)

    def limit(self, endpoint: str) -> int | None:
        return self._limits.get(endpoint)


class _Slot:
    def __init__(self, endpoint: threading.BoundedSemaphore, total: threading.BoundedSemaphore | None):
        self._endpoint, self._total = endpoint, total

    def __enter__(self):
        self._endpoint.acquire()
        if self._total is not None:
            self._total.acquire()
        return self

    def __exit__(self, *exc):
        if self._total is not None:
            self._total.release()
        self._endpoint.release()
