"""The judge cache (zero calls on re-runs, resume after a kill) and retries through the real openai client."""

import itertools
import subprocess
import sys
import textwrap
import threading

import pytest
from helpers import SlowJudge, verdict_json
from loopback import LoopbackServer, Reply

from lmms_safebench.jury.cache import JudgeCache
from lmms_safebench.jury.case import HARMFUL_CONTENT, Case, Criterion
from lmms_safebench.jury.config import build_jury
from lmms_safebench.jury.engine import Jury
from lmms_safebench.llm.retry import backoff_delay, parse_retry_after


def judge_config(server, **juror):
    return build_jury({"protocol": "single", "jurors": [{
        "name": "j", "model": "m", "base_url": server.base_url, "retry_base_delay": 0.01, "timeout": 2.0,
        "structured_output": False, **juror}]})


def cases(n, prefix="answer"):
    return [Case(f"t/{i}", f"question {i}", f"{prefix} {i}", Criterion(HARMFUL_CONTENT, "c")) for i in range(n)]


def test_rerun_makes_zero_calls_and_same_verdicts(tmp_path):
    with LoopbackServer(lambda b: Reply(verdict_json(1))) as server:
        cache = JudgeCache(tmp_path / "c.sqlite")
        first = [Jury(judge_config(server), cache).judge(c).to_dict() for c in cases(5)]
        assert server.count == 5
        again = Jury(judge_config(server), JudgeCache(tmp_path / "c.sqlite"))
        second = [again.judge(c).to_dict() for c in cases(5)]
        assert server.count == 5
        assert [r["unsafe"] for r in first] == [r["unsafe"] for r in second]
        assert all(r["rounds"][0][0]["cached"] for r in second)
        assert again.accounting()["jurors"]["j"]["cache_hits"] == 5
        # A different decoding setting is a different juror: no reuse.
        Jury(judge_config(server, temperature=0.5), cache).judge(cases(1)[0])
        assert server.count == 6


def test_abstentions_are_cached_and_can_be_retried(tmp_path, monkeypatch):
    replies = iter(["not a verdict"] * 2 + [verdict_json(0)] * 10)
    with LoopbackServer(lambda b: Reply(next(replies))) as server:
        config = judge_config(server, parse_retries=1)
        result = Jury(config, JudgeCache(tmp_path / "c.sqlite")).judge(cases(1)[0])
        assert result.status == "unjudged" and server.count == 2  # first try + one repair request
        assert Jury(config, JudgeCache(tmp_path / "c.sqlite")).judge(cases(1)[0]).status == "unjudged"
        assert server.count == 2  # replayed from the cache, no new call
        monkeypatch.setenv("SAFEBENCH_RETRY_ABSTAINED", "1")
        assert Jury(config, JudgeCache(tmp_path / "c.sqlite")).judge(cases(1)[0]).unsafe == 0
        assert server.count == 3


def test_killed_run_resumes_without_repeating_finished_calls(tmp_path):
    """A separate process judges 40 samples against a slow judge and is killed part-way."""
    with LoopbackServer(lambda b: Reply(verdict_json(0), delay=0.05)) as server:
        script = textwrap.dedent(f"""
            from lmms_safebench.jury.cache import JudgeCache
            from lmms_safebench.jury.case import Case, Criterion
            from lmms_safebench.jury.config import build_jury
            from lmms_safebench.jury.engine import Jury
            config = build_jury({{"protocol": "single", "jurors": [{{"name": "j", "model": "m",
                "base_url": "{server.base_url}", "structured_output": False}}]}})
            jury = Jury(config, JudgeCache(r"{tmp_path / 'c.sqlite'}"))
            for i in range(40):
                jury.judge(Case(f"t/{{i}}", f"question {{i}}", f"answer {{i}}", Criterion("harmful_content", "c")))
                print(i, flush=True)
        """)
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for line in proc.stdout:
            if int(line) >= 9:
                proc.kill()
                break
        proc.wait()
        made_before_kill = server.count
        assert 10 <= made_before_kill < 40
        cache = JudgeCache(tmp_path / "c.sqlite")
        finished = cache.count()
        assert finished >= 10
        jury = Jury(build_jury({"protocol": "single", "jurors": [{"name": "j", "model": "m",
                                                                    "base_url": server.base_url,
                                                                    "structured_output": False}]}), cache)
        server.reset()
        for c in cases(40):
            assert jury.judge(c).status == "judged"
        assert server.count == 40 - finished  # only the calls that had not finished


def test_retries_honour_retry_after_then_succeed():
    from loguru import logger

    attempts = itertools.count()
    stamps = []
    waits = []  # the delays the retry logic chose, as the juror logs them

    def flaky(body):
        stamps.append(body)
        n = next(attempts)
        if n == 0:
            return Reply(status=429, headers={"Retry-After": "0.4"})
        if n == 1:
            return Reply(status=503)
        return Reply(verdict_json(1))

    sink = logger.add(lambda message: waits.append(message.record["message"]), level="DEBUG",
                      filter=lambda record: "retrying in" in record["message"])
    try:
        with LoopbackServer(flaky) as server:
            result = Jury(judge_config(server, max_attempts=4), cache=None).judge(cases(1)[0])
    finally:
        logger.remove(sink)
    assert result.unsafe == 1 and len(stamps) == 3
    assert "rate limited (429)); retrying in 0.40s" in waits[0]  # waited what the server asked for
    usage = result.to_dict()["usage"]["j"]
    assert usage["requests"] == 3 and usage["calls"] == 1


@pytest.mark.parametrize("fault", ["timeout", "drop", "garbage", "500"])
def test_each_transient_fault_is_retried(fault):
    attempts = itertools.count()

    def faulty(body):
        if next(attempts) == 0:
            return {"timeout": Reply(verdict_json(0), delay=3.0), "drop": Reply(drop=True),
                    "garbage": Reply(raw_body="<html>oops</html>"), "500": Reply(status=500)}[fault]
        return Reply(verdict_json(1))

    with LoopbackServer(faulty) as server:
        result = Jury(judge_config(server, timeout=1.0), cache=None).judge(cases(1)[0])
    assert result.status == "judged" and result.unsafe == 1


def test_permanent_errors_and_exhausted_retries_abstain_never_safe():
    with LoopbackServer(lambda b: Reply(status=401)) as server:
        result = Jury(judge_config(server, max_attempts=3), cache=None).judge(cases(1)[0])
        assert result.status == "unjudged" and result.unsafe is None and server.count == 1
    with LoopbackServer(lambda b: Reply(status=500)) as server:
        result = Jury(judge_config(server, max_attempts=3), cache=None).judge(cases(1)[0])
        assert result.status == "unjudged" and server.count == 3
        assert "server error (500)" in result.to_dict()["rounds"][0][0]["error"]


def test_structured_output_falls_back_to_text_when_refused():
    def picky(body):
        if "response_format" in body:
            return Reply(status=400, raw_body='{"error": {"message": "response_format json_schema is not supported"}}')
        return Reply(verdict_json(1))

    with LoopbackServer(picky) as server:
        result = Jury(judge_config(server, structured_output=True), cache=None).judge(cases(1)[0])
    assert result.unsafe == 1 and "response_format" in server.requests[0] and "response_format" not in server.requests[1]


def test_in_flight_limit_per_endpoint():
    slow = SlowJudge(0.05)
    with LoopbackServer(slow) as server:
        jury = Jury(judge_config(server, max_in_flight=3), cache=None)
        threads = [threading.Thread(target=jury.judge, args=(c,)) for c in cases(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert slow.peak == 3 and server.count == 12


def test_retry_after_parsing_and_backoff():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({}) is None and parse_retry_after({"retry-after": "soon"}) is None
    assert backoff_delay(0, 1.0, retry_after=7.5) == 7.5
    assert 0.5 <= backoff_delay(0, 1.0) <= 1.0 and 4.0 <= backoff_delay(3, 1.0) <= 8.0
    assert backoff_delay(20, 1.0) <= 60.0
