"""The adaptive per-endpoint limit on juror calls in flight: its rules, step by step with a fake clock, and
the jury against loopback endpoints (a panel reaching the run's concurrency; an endpoint that answers 429
above 8 calls in flight). Counts are asserted, never times."""

import json
import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import BIN, SlowJudge, tail, verdict_json
from loguru import logger
from loopback import LoopbackServer, Reply

from lmms_safebench.jury import runtime
from lmms_safebench.jury.case import HARMFUL_CONTENT, Case, Criterion
from lmms_safebench.jury.config import build_juror, build_jury
from lmms_safebench.jury.engine import Jury
from lmms_safebench.llm.client import OpenAIBackend
from lmms_safebench.llm.limits import DEFAULT_CEILING, PROBE_ROUNDS, AdaptiveLimit, EndpointLimiter
from lmms_safebench.llm.retry import MAX_RETRY_AFTER, PermanentError, TransientError

RATE_LIMITED = TransientError("rate limited (429)", status=429)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def fill(limit: AdaptiveLimit, n: int) -> list:
    """Send ``n`` requests (all must get a slot)."""
    tokens = []
    for _ in range(n):
        token = limit.try_acquire()
        assert token is not None
        limit.sent(token)
        tokens.append(token)
    return tokens


def finish(limit: AdaptiveLimit, token) -> None:
    """``token``'s request succeeds while the limit is in full use (the free slots taken by requests that
    have not gone out yet), as when more calls wait than the limit lets through."""
    waiting = []
    while (other := limit.try_acquire()) is not None:
        waiting.append(other)
    limit.release(token)
    for other in waiting:
        limit.release(other)  # never sent: no effect on the limit


def succeed(limit: AdaptiveLimit, times: int) -> None:
    for _ in range(times):
        finish(limit, fill(limit, 1)[0])


def settled_at_8() -> AdaptiveLimit:
    """A limit of 64 whose endpoint served 8 of 20 requests sent at once and refused 12 (so it has seen 8
    successes since it came down)."""
    limit = AdaptiveLimit(64, Clock())
    tokens = fill(limit, 20)
    for token in tokens[8:]:
        limit.release(token, RATE_LIMITED)
    for token in tokens[:8]:
        finish(limit, token)
    return limit


# ---------------------------------------------------------------------------------------------- the rules

def test_starts_at_its_ceiling_and_never_hands_out_more():
    limit = AdaptiveLimit(5, Clock())
    tokens = fill(limit, 5)
    assert limit.limit == 5 and limit.try_acquire() is None
    for token in tokens:
        limit.release(token)
    succeed(limit, 500)  # successes never raise it past the ceiling
    assert limit.limit == 5 and limit.report()["peak_in_flight"] == 5


def test_an_overload_brings_the_limit_down_to_what_the_endpoint_served():
    limit = AdaptiveLimit(64, Clock())
    tokens = fill(limit, 20)
    # The first refusal: 19 are still in flight, so at most 19 were being served.
    limit.release(tokens[-1], RATE_LIMITED)
    assert limit.limit == 19 and limit.edge == 20
    # Each further refusal of a request that was already in flight: one fewer was served.
    for token in tokens[8:-1]:
        limit.release(token, RATE_LIMITED)
    assert limit.limit == 8 and limit.edge == 9
    # The served ones finish; no new slot opens beyond 8.
    for token in tokens[:8]:
        limit.release(token)
    assert len(fill(limit, 8)) == 8 and limit.try_acquire() is None
    report = limit.report()
    assert report["rate_limited"] == 12 and report["decreases"] == 1 and report["peak_in_flight"] == 20


@pytest.mark.parametrize("error", [
    TransientError("server error (503)", status=503),
    TransientError("server error (529)", status=529),
    TransientError("server error (500, overloaded)", status=500, overloaded=True),
])
def test_503_529_and_overloaded_errors_are_overloads(error):
    limit = AdaptiveLimit(64, Clock())
    tokens = fill(limit, 10)
    limit.release(tokens[0], error)
    assert limit.limit == 9 and limit.report()["overloaded"] == 1 and limit.report()["rate_limited"] == 0


@pytest.mark.parametrize("error", [TransientError("timed out after 60 s"), TransientError("server error (500)",
                                                                                          status=500),
                                   PermanentError("request refused (401)")])
def test_other_failures_leave_the_limit_alone(error):
    limit = AdaptiveLimit(64, Clock())
    tokens = fill(limit, 10)
    limit.release(tokens[0], error)
    assert limit.limit == 64 and limit.edge is None


def test_grows_back_slowly_at_the_edge_then_one_step_per_round():
    limit = settled_at_8()
    assert limit.limit == 8 and limit.edge == 9
    succeed(limit, PROBE_ROUNDS * 8 - 8 - 1)  # with the 8 served ones: one short of PROBE_ROUNDS x 8
    assert limit.limit == 8  # not yet: many successes before trying the level that failed
    succeed(limit, 1)
    assert limit.limit == 9  # the probe
    # The endpoint still refuses a ninth call: back to 8, and the count starts over.
    tokens = fill(limit, 9)
    limit.release(tokens[-1], RATE_LIMITED)
    for token in tokens[:-1]:
        finish(limit, token)
    assert limit.limit == 8 and limit.edge == 9
    succeed(limit, PROBE_ROUNDS * 8 - 8 - 1)
    assert limit.limit == 8
    succeed(limit, 1)
    # This time the probe holds: each further step waits half as long as the one before ...
    rounds = PROBE_ROUNDS // 2
    for level in (9, 10):
        succeed(limit, rounds * level - 1)
        assert limit.limit == level
        succeed(limit, 1)
        assert limit.limit == level + 1
        rounds //= 2
    # ... down to one round (limit successes) per step, up to the ceiling and no further.
    for level in range(11, 64):
        succeed(limit, level)
        assert limit.limit == level + 1
    succeed(limit, 1000)
    assert limit.limit == 64


def test_successes_while_the_limit_holds_nobody_back_teach_nothing():
    limit = settled_at_8()
    for _ in range(1000):  # one call at a time, as at the end of a run
        limit.release(fill(limit, 1)[0])
    assert limit.limit == 8
    succeed(limit, PROBE_ROUNDS * 8 - 8)
    assert limit.limit == 9


def test_only_the_first_refusal_after_a_decrease_measures_anew():
    limit = settled_at_8()
    tokens = fill(limit, 8)
    limit.release(tokens[0], RATE_LIMITED)  # a new decrease: 7 are still in flight
    assert limit.limit == 7
    limit.release(tokens[1], RATE_LIMITED)  # sent before that decrease: one fewer was served
    assert limit.limit == 6 and limit.try_acquire() is None
    limit.release(tokens[2])
    fresh = fill(limit, 1)[0]
    limit.release(fresh, RATE_LIMITED)  # sent after the decrease: measured again, 5 in flight
    assert limit.limit == 5 and limit.edge == 6 and limit.report()["decreases"] == 3


def test_retry_after_holds_back_every_new_request_until_the_time_is_up():
    clock = Clock()
    limit = AdaptiveLimit(64, clock)
    tokens = fill(limit, 4)
    limit.release(tokens[0], TransientError("rate limited (429)", retry_after=2.0, status=429))
    assert limit.limit == 3 and limit.try_acquire() is None  # 3 in flight, limit 3, and paused
    limit.release(tokens[1])
    assert limit.try_acquire() is None  # a slot is free, but the server asked for 2 s
    clock.now += 1.99
    assert limit.try_acquire() is None
    clock.now += 0.02
    token = limit.try_acquire()
    assert token is not None
    limit.release(token)  # never sent: changes nothing
    # A later refusal asking for a huge wait is capped at MAX_RETRY_AFTER.
    limit.release(tokens[2], TransientError("rate limited (429)", retry_after=1e6, status=429))
    assert limit.limit == 2  # it came down to the 3 in flight, and one of those was refused
    clock.now += MAX_RETRY_AFTER - 1
    assert limit.try_acquire() is None
    limit.release(tokens[3])
    assert limit.try_acquire() is None
    clock.now += 2
    assert limit.try_acquire() is not None


def test_blocking_acquire_waits_for_the_pause_and_for_slots():
    limit = AdaptiveLimit(2)
    tokens = fill(limit, 2)
    limit.release(tokens[0], TransientError("rate limited (429)", retry_after=0.3, status=429))
    got = []
    waiter = threading.Thread(target=lambda: got.append(limit.acquire()))
    waiter.start()
    waiter.join(timeout=0.1)
    assert not got  # limit 1, one in flight, and paused
    limit.release(tokens[1])
    waiter.join(timeout=30)
    assert len(got) == 1


def test_ceilings_per_endpoint():
    limiter = EndpointLimiter(total=None)
    assert limiter.endpoint("a").ceiling == DEFAULT_CEILING == 64  # inline runs: no run-wide option
    limiter = EndpointLimiter(total=32)
    assert limiter.endpoint("a").ceiling == 32  # judge --concurrency 32
    assert limiter.endpoint("b", 100).ceiling == 32  # never more than the total
    assert limiter.endpoint("c", 3).ceiling == 3
    assert limiter.endpoint("c", 5).ceiling == 3 and limiter.endpoint("c", 2).ceiling == 2  # the lowest wins
    assert set(limiter.report()) == {"a", "b", "c"} and limiter.report()["c"]["limit"] == 2


def test_max_in_flight_is_an_optional_ceiling():
    assert build_juror({"name": "j", "model": "m"}, "t").max_in_flight is None
    assert build_juror({"name": "j", "model": "m", "max_in_flight": None}, "t").max_in_flight is None
    assert build_juror({"name": "j", "model": "m", "max_in_flight": 3}, "t").max_in_flight == 3
    from lmms_safebench.errors import ConfigError

    with pytest.raises(ConfigError, match="max_in_flight"):
        build_juror({"name": "j", "model": "m", "max_in_flight": 0}, "t")


# ---------------------------------------------------------------------------------------------- backends

@pytest.mark.parametrize("reply, status, overload", [
    (Reply(status=429, headers={"Retry-After": "0"}), 429, True),
    (Reply(status=503), 503, True),
    (Reply(status=529, raw_body='{"error": {"type": "overloaded_error", "message": "Overloaded"}}'), 529, True),
    (Reply(status=500, raw_body='{"error": {"message": "The engine is currently overloaded"}}'), 500, True),
    (Reply(status=500), 500, False),
    (Reply(status=502), 502, False),
])
def test_the_openai_backend_marks_overloads(reply, status, overload):
    with LoopbackServer(lambda body: reply) as server:
        backend = OpenAIBackend(build_juror({"name": "j", "model": "m", "base_url": server.base_url}, "t"))
        with pytest.raises(TransientError) as caught:
            backend.complete([{"role": "user", "content": "hi"}])
    assert caught.value.status == status and caught.value.overload is overload


# ---------------------------------------------------------------------------------------------- the jury

def cases(n):
    return [Case(f"t/{i}", f"question {i}", f"answer {i}", Criterion(HARMFUL_CONTENT, "c")) for i in range(n)]


def panel(base_url: str, **defaults):
    jurors = [{"name": p, "model": "m", "persona": p} for p in ("elder", "citizen", "guardian", "expert", "ethicist")]
    return build_jury({"name": "p", "protocol": "jury", "rounds": 1, "quorum": 3, "early_consensus": False,
                       "defaults": {"base_url": base_url, "structured_output": False, "retry_base_delay": 0.01,
                                    **defaults}, "jurors": jurors})


def judge_concurrently(jury: Jury, todo: list[Case], threads: int = 64) -> list:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(jury.judge, todo))


def test_a_panel_on_one_endpoint_reaches_the_runs_concurrency():
    """Five jurors, one endpoint, no max_in_flight: 64 calls in flight (it used to stop at 16)."""
    slow = SlowJudge(0.05)
    with LoopbackServer(slow) as server:
        url = server.base_url
        jury = Jury(panel(url), cache=None, max_in_flight=64)
        results = judge_concurrently(jury, cases(40))
        jury.close()
    assert all(r.status == "judged" for r in results) and server.count == 400
    assert 16 < slow.peak <= 64
    assert jury._pool._max_workers >= 64  # the jury's threads allow the whole total
    endpoint = jury.accounting()["endpoints"][url]
    assert endpoint["limit"] == endpoint["ceiling"] == 64 and endpoint["rate_limited"] == 0
    assert endpoint["peak_in_flight"] >= slow.peak  # counted from before the request is written


class CappedJudge:
    """An endpoint that serves at most ``cap`` calls at once and answers 429 (Retry-After: 0) above that.
    ``refused_later`` counts the refusals after the first ``settle`` calls were served."""

    def __init__(self, cap: int, seconds: float, settle: int = 200):
        self.cap, self.seconds, self.settle = cap, seconds, settle
        self.active = self.peak = self.served = self.refused = self.refused_later = self.requests_later = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict) -> Reply:
        with self.lock:
            later = self.served >= self.settle
            self.requests_later += later
            if self.active >= self.cap:
                self.refused += 1
                self.refused_later += later
                return Reply(status=429, headers={"Retry-After": "0"})
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.seconds)
        with self.lock:
            self.active -= 1
            self.served += 1
        return Reply(verdict_json(0))


def test_against_an_endpoint_that_refuses_above_8_the_limit_settles_near_8():
    capped = CappedJudge(8, 0.02)
    with LoopbackServer(capped) as server:
        url = server.base_url
        config = build_jury({"name": "one", "protocol": "single", "jurors": [{
            "name": "j", "model": "m", "base_url": url, "structured_output": False}]})
        jury = Jury(config, cache=None, max_in_flight=64)
        results = judge_concurrently(jury, cases(1500))
        jury.close()
    assert all(r.status == "judged" for r in results)  # every refused call was retried and got through
    assert capped.served == 1500 and capped.peak <= 8
    endpoint = jury.accounting()["endpoints"][url]
    assert 7 <= endpoint["limit"] <= 9, endpoint
    assert endpoint["rate_limited"] == capped.refused and endpoint["requests"] == 1500 + capped.refused
    # Starting at 64 against 8 costs up to 56 refusals at once; once settled, about one per probe.
    assert capped.refused_later < 0.05 * capped.requests_later, (capped.refused_later, capped.requests_later)
    assert capped.refused < 0.1 * endpoint["requests"], endpoint


def test_a_configured_ceiling_is_never_exceeded_even_by_a_panel():
    slow = SlowJudge(0.05)
    with LoopbackServer(slow) as server:
        url = server.base_url
        jury = Jury(panel(url, max_in_flight=3), cache=None, max_in_flight=64)
        judge_concurrently(jury, cases(6))
        jury.close()
    assert slow.peak == 3 and jury.accounting()["endpoints"][url]["ceiling"] == 3


def test_the_end_of_run_log_line_names_each_endpoints_limit(monkeypatch):
    lines = []
    sink = logger.add(lambda message: lines.append(str(message)), level="INFO")
    try:
        with LoopbackServer(lambda body: Reply(verdict_json(0))) as server:
            plain = server.base_url
            url = plain.replace("http://", "http://user:hunter22@")
            monkeypatch.setenv("SAFEBENCH_JUDGE_MODEL", "m")
            monkeypatch.setenv("SAFEBENCH_JUDGE_BASE_URL", url)
            jury = runtime.get_jury("single")
            assert jury.judge(cases(1)[0]).status == "judged"
            runtime._log_totals()
    finally:
        logger.remove(sink)
    totals = [line for line in lines if "limit settled at" in line]
    assert totals and f"endpoint {plain}: limit settled at 64 (ceiling 64" in totals[0]
    assert "0 rate-limited responses of 1 requests" in totals[0]
    assert "hunter22" not in "".join(lines)


def test_judge_concurrency_64_keeps_64_calls_in_flight_and_says_where_each_endpoint_settled(tmp_path):
    """`lmms-safebench judge --concurrency 64` with the built-in five-juror panel on one endpoint."""
    log = tmp_path / "run"
    log.mkdir()
    with open(log / "samples_safebench_text_bias_2026-01-01T00-00-00.000000.jsonl", "w") as handle:
        for i in range(30):
            doc = {"id": str(i), "set": "full", "modality": "text", "query": f"Request {i}?", "scenario_slug": "bias"}
            handle.write(json.dumps({"doc_id": i, "doc": doc, "filtered_resps": [f"I cannot help ({i})."]}) + "\n")
    slow = SlowJudge(0.1)
    with LoopbackServer(slow) as server:
        plain = server.base_url
        url = plain.replace("http://", "http://user:hunter22@")
        env = {**os.environ, "SAFEBENCH_JURY": "panel-strict", "SAFEBENCH_JUDGE_MODEL": "m",
               "SAFEBENCH_JUDGE_BASE_URL": url}
        proc = subprocess.run([str(BIN / "lmms-safebench"), "judge", "--no-progress", str(log), "--output",
                               str(tmp_path / "judged"), "--concurrency", "64"], capture_output=True, text=True,
                              env=env, timeout=600)
    assert proc.returncode == 0, tail(proc)
    assert server.count == 300 and 16 < slow.peak <= 64
    line = re.search(r"endpoint (\S+): limit settled at (\d+) \(ceiling (\d+), peak (\d+) in flight\), "
                     r"(\d+) rate-limited responses of (\d+) requests", proc.stdout)
    assert line, proc.stdout
    assert line.group(1) == plain and line.groups()[1:] == ("64", "64", line.group(4), "0", "300")
    assert int(line.group(4)) >= slow.peak
    assert "hunter22" not in proc.stdout + proc.stderr
