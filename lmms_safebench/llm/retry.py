"""Retries with exponential backoff that honour ``Retry-After``, and how failures are classified
(transient or permanent; an overload asks for fewer calls in flight, see :mod:`.limits`). Shared by every
model call: jurors, generator text models and media endpoints."""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

MAX_BACKOFF = 60.0  # seconds, for exponential backoff
MAX_RETRY_AFTER = 300.0  # seconds; a server asking for longer is capped here


OVERLOAD_STATUSES = (429, 503, 529)  # too many requests, service unavailable, overloaded (Anthropic-style)


class TransientError(Exception):
    """A request failed in a way that may succeed later (429, 5xx, timeout, dropped connection).

    ``status`` is the HTTP status when there was one; ``overloaded`` marks a server saying it is
    overloaded whatever the status (a body saying "overloaded")."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None,
                 overloaded: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
        self.overloaded = overloaded

    @property
    def overload(self) -> bool:
        """The endpoint asks for fewer requests: the in-flight limit should come down."""
        return self.overloaded or self.status in OVERLOAD_STATUSES


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
