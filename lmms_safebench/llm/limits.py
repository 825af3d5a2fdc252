"""Adaptive per-endpoint limits on model calls in flight (and the run-wide total), for jurors and generators alike.

Each endpoint (base URL) has an :class:`AdaptiveLimit` on the calls in flight to it. It starts at
its ceiling (the model's option ``max_in_flight`` when set, else the run's total concurrency, else
:data:`DEFAULT_CEILING`) and adapts to what the endpoint signals, per request:

* an overload (429, 503, 529 or an "overloaded" error) lowers the limit to the number of requests
  still in flight when it arrives, and each later rejection of a request that was already in flight
  then lowers it by one more: what remains is what the endpoint served at once. (The order in which
  threads send is not the order in which requests reach the server, so the count at sending time
  would not say where the server drew the line.) One above the result is the edge: the level that
  failed;
* ``Retry-After`` holds back every new request to the endpoint until the time the server asked for;
* successes raise it again, one call at a time: the first step (to the edge) only after
  :data:`PROBE_ROUNDS` x limit successes, each further step after half as many as the one before, down
  to one round (limit successes, i.e. about one step per round trip). So the level that failed is
  tried again rarely, and a limit far below what the endpoint now takes climbs back steadily. Only
  successes while the limit holds requests back count: when fewer calls are wanted (as at the end of
  a run) nothing is learnt about a higher limit.

Against an endpoint that refuses above N concurrent calls, the limit thus settles at N and pays about one
rejected request per probe. Everything is thread-safe (jurors and generator stages run in threads).
"""

from __future__ import annotations

import threading
import time

from ..redact import redact_url
from .retry import MAX_RETRY_AFTER, TransientError

DEFAULT_CEILING = 64  # calls in flight per endpoint when neither the model's spec nor the run sets a limit
PROBE_ROUNDS = 10  # after an overload, successes (x limit) before trying one more call in flight


class _Token:
    """One request's hold on a slot: under which decrease it was taken, and whether it went out."""

    __slots__ = ("epoch", "sent")

    def __init__(self, epoch: int):
        self.epoch, self.sent = epoch, False


class AdaptiveLimit:
    """The in-flight limit of one endpoint (see the module docstring for the rules).

    :meth:`acquire` blocks until a slot is free and no ``Retry-After`` pause is running; :meth:`sent`
    marks the request as on the wire; :meth:`release` reports how it ended. ``clock`` is injectable so
    that the rules can be tested without waiting.
    """

    def __init__(self, ceiling: int, clock=time.monotonic):
        if ceiling < 1:
            raise ValueError(f"ceiling must be >= 1, got {ceiling}")
        self.ceiling = ceiling
        self.limit = ceiling
        self.edge: int | None = None  # the lowest number of calls in flight known to overload the endpoint
        self._clock = clock
        self._cond = threading.Condition()
        self._epoch = 0  # bumped by every decrease; older requests no longer count
        self._successes = 0  # since the limit last changed
        self._rounds = PROBE_ROUNDS  # rounds of successes (x limit) before the next step up
        self._held = 0  # slots taken (some may still wait for the total limit)
        self._waiting = 0  # threads blocked in acquire()
        self._on_wire = 0
        self._paused_until = 0.0
        self.peak = 0
        self.requests = self.rate_limited = self.overloaded = self.decreases = 0

    # ---------------------------------------------------------------- slots
    def try_acquire(self) -> _Token | None:
        """A slot if one is free now, else None (never blocks)."""
        with self._cond:
            return self._take()

    def acquire(self) -> _Token:
        with self._cond:
            while True:
                token = self._take()
                if token is not None:
                    return token
                pause = self._paused_until - self._clock()
                self._waiting += 1
                try:
                    self._cond.wait(timeout=pause if pause > 0 else None)
                finally:
                    self._waiting -= 1

    def _take(self) -> _Token | None:
        if self._held >= self.limit or self._clock() < self._paused_until:
            return None
        self._held += 1
        return _Token(self._epoch)

    def sent(self, token: _Token) -> None:
        with self._cond:
            self._on_wire += 1
            token.sent = True
            self.requests += 1
            self.peak = max(self.peak, self._on_wire)

    def release(self, token: _Token, error: BaseException | None = None) -> None:
        """Free the slot; a success may raise the limit, an overload lowers it (see the rules)."""
        with self._cond:
            binding = self._held >= self.limit or self._waiting > 0  # was the limit holding anyone back?
            self._held -= 1
            if token.sent:
                self._on_wire -= 1
            if error is None and token.sent:
                if binding:
                    self._success()
            elif isinstance(error, TransientError) and error.overload:
                self._overload(token, error)
            free = self.limit - self._held
            if free > 0 and self._waiting:
                self._cond.notify(free)  # as many waiters as there are slots, not all of them

    # ---------------------------------------------------------------- rules
    def _success(self) -> None:
        self._successes += 1
        if self.limit < self.ceiling and self._successes >= self._rounds * self.limit:
            self._set(self.limit + 1)
            self._rounds = max(1, self._rounds // 2)

    def _overload(self, token: _Token, error: TransientError) -> None:
        if error.status == 429:
            self.rate_limited += 1
        else:
            self.overloaded += 1
        if error.retry_after:
            self._paused_until = max(self._paused_until, self._clock() + min(error.retry_after, MAX_RETRY_AFTER))
        if not token.sent:
            return
        if token.epoch == self._epoch:  # the first rejection since the last decrease
            self._epoch += 1
            self.decreases += 1
            self._set(max(1, min(self.limit, self._on_wire)))
        else:  # it was counted among those in flight at that decrease, but the endpoint did not serve it
            self._set(max(1, self.limit - 1))
        self.edge = self.limit + 1
        self._rounds = PROBE_ROUNDS

    def _set(self, limit: int) -> None:
        self.limit, self._successes = min(limit, self.ceiling), 0

    def lower_ceiling(self, ceiling: int) -> None:
        """Another juror of the endpoint configured a lower ``max_in_flight``: the lowest wins."""
        with self._cond:
            if ceiling < self.ceiling:
                self.ceiling = ceiling
                self.limit = min(self.limit, ceiling)

    def report(self) -> dict:
        with self._cond:
            return {"limit": self.limit, "ceiling": self.ceiling, "peak_in_flight": self.peak,
                    "requests": self.requests, "rate_limited": self.rate_limited, "overloaded": self.overloaded,
                    "decreases": self.decreases}


class EndpointLimiter:
    """An :class:`AdaptiveLimit` per endpoint and, when ``total`` is set, at most ``total`` calls in
    flight across all endpoints (``lmms-safebench judge --concurrency``), across all threads.

    An endpoint's ceiling is the lowest ``max_in_flight`` its jurors configure (``judge --endpoint-limit``
    sets it for every juror), else ``total``, else :data:`DEFAULT_CEILING`; never more than ``total``.
    """

    def __init__(self, total: int | None = None, clock=time.monotonic):
        self._lock = threading.Lock()
        self._limits: dict[str, AdaptiveLimit] = {}
        self.total = total
        self.default_ceiling = total or DEFAULT_CEILING
        self._total = threading.BoundedSemaphore(total) if total else None
        self._clock = clock

    def endpoint(self, endpoint: str, ceiling: int | None = None) -> AdaptiveLimit:
        """The limit of ``endpoint``, made on first use; ``ceiling``: the juror's ``max_in_flight``."""
        if ceiling is not None and self.total:
            ceiling = min(ceiling, self.total)
        with self._lock:
            limit = self._limits.get(endpoint)
            if limit is None:
                limit = self._limits[endpoint] = AdaptiveLimit(ceiling or self.default_ceiling, self._clock)
        if ceiling is not None:
            limit.lower_ceiling(ceiling)
        return limit

    def slot(self, endpoint: str, ceiling: int | None = None) -> _Slot:
        """A context manager holding one request slot of ``endpoint`` (and of the total); how the request
        ends (returns, raises an overload, raises something else) feeds the endpoint's limit."""
        return _Slot(self.endpoint(endpoint, ceiling), self._total)

    def report(self) -> dict[str, dict]:
        """Per endpoint: the limit it settled at, its ceiling, the peak in flight, requests, 429s, overloads."""
        with self._lock:
            limits = dict(self._limits)
        return {endpoint: limit.report() for endpoint, limit in sorted(limits.items())}


def describe_endpoints(report: dict[str, dict]) -> list[str]:
    """One line per endpoint of :meth:`EndpointLimiter.report`, credentials stripped from the URLs."""
    lines = []
    for endpoint, r in report.items():
        line = (f"endpoint {redact_url(endpoint)}: limit settled at {r['limit']} (ceiling {r['ceiling']}, peak "
                f"{r['peak_in_flight']} in flight), {r['rate_limited']} rate-limited responses")
        if r["overloaded"]:
            line += f", {r['overloaded']} overloaded responses"
        lines.append(line + f" of {r['requests']} requests")
    return lines


class _Slot:
    def __init__(self, limit: AdaptiveLimit, total: threading.BoundedSemaphore | None):
        self._limit, self._total = limit, total
        self._token: _Token | None = None

    def __enter__(self):
        self._token = self._limit.acquire()
        if self._total is not None:
            try:
                self._total.acquire()
            except BaseException:
                self._limit.release(self._token)
                raise
        self._limit.sent(self._token)
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._total is not None:
            self._total.release()
        self._limit.release(self._token, exc)
        return False
