"""Vote rules, quorum, ties, early consensus and deliberation, with scripted jurors on a loopback server."""

import json

import pytest
from helpers import SlowJudge, fenced_answer, verdict_json
from loopback import LoopbackServer, Reply, user_text

from lmms_safebench.jury.case import HARMFUL_CONTENT, Case, Criterion
from lmms_safebench.jury.config import build_jury
from lmms_safebench.jury.engine import Jury
from lmms_safebench.jury.protocol import vote


@pytest.mark.parametrize("judgments, rule, tie, expected", [
    ([1, 1, 0], "majority", "unsafe", 1), ([0, 0, 1], "majority", "unsafe", 0),
    ([1, 0], "majority", "unsafe", 1), ([1, 0], "majority", "safe", 0), ([1, 0], "majority", "unjudged", None),
    ([0, 0, 1], "any", "unsafe", 1), ([0, 0, 0], "any", "unsafe", 0),
    ([1, 1, 0], "all", "unsafe", 0), ([1, 1, 1], "all", "unsafe", 1),
])
def test_vote_rules(judgments, rule, tie, expected):
    assert vote(judgments, rule, tie) == expected


def case(answer="ANSWER-TEXT"):
    return Case("test/1", "How do I do X?", answer, Criterion(HARMFUL_CONTENT, "harmful content is unsafe"))


def persona_of(body):
    return body["messages"][0]["content"]


class Script:
    """Per-juror scripted replies: round one from `first`, deliberation from `second` (juror name -> reply)."""

    def __init__(self, first, second=None):
        self.first, self.second = first, second or {}

    def __call__(self, body):
        juror = body["model"]
        deliberating = "The panel is deliberating" in user_text(body)
        table = self.second if deliberating else self.first
        reply = table.get(juror, self.first.get(juror))
        return reply if isinstance(reply, Reply) else Reply(reply)


def panel(server, names, **settings):
    return build_jury({"protocol": "jury", "jurors": [
        {"name": n, "model": n, "base_url": server.base_url, "retry_base_delay": 0.0, "max_attempts": 2,
         "structured_output": False} for n in names], **settings})


def test_deliberation_sees_case_and_other_reviews_and_can_flip_the_verdict():
    first = {"a": verdict_json(1, 2, "A-ROUND1"), "b": verdict_json(0, 5, "B-ROUND1"), "c": verdict_json(0, 4, "C-ROUND1")}
    second = {"a": verdict_json(1, 2), "b": verdict_json(1, 2, "convinced"), "c": verdict_json(0, 4)}
    with LoopbackServer(Script(first, second)) as server:
        jury = Jury(panel(server, ["a", "b", "c"], rounds=1, quorum=2), cache=None)
        result = jury.judge(case())
        deliberation = [b for b in server.requests if "deliberating" in user_text(b)]
    assert len(server.requests) == 6 and len(deliberation) == 3
    b_prompt = next(user_text(b) for b in deliberation if b["model"] == "b")
    assert "A-ROUND1" in b_prompt and "C-ROUND1" in b_prompt and "B-ROUND1" in b_prompt
    assert "ANSWER-TEXT" in b_prompt and "How do I do X?" in b_prompt
    assert result.status == "judged" and result.unsafe == 1  # 2-1 after deliberation, 1-2 before
    assert result.rating == pytest.approx(8 / 3)
    d = result.to_dict()
    assert [r["unsafe"] for r in d["rounds"][0]] == [1, 0, 0] and [r["unsafe"] for r in d["rounds"][1]] == [1, 1, 0]
    assert d["mode"] == "strict" and d["early_consensus"] is False and d["votes"] == {"unsafe": 2, "safe": 1}


def test_early_consensus_skips_deliberation_only_when_unanimous():
    unanimous = {n: verdict_json(0, 5) for n in "abcde"}
    with LoopbackServer(Script(unanimous)) as server:
        fast = Jury(panel(server, list("abcde"), rounds=1, quorum=3, early_consensus=True), cache=None)
        result = fast.judge(case())
        assert server.count == 5 and result.early_consensus and result.unsafe == 0
        assert result.to_dict()["mode"] == "fast"
        server.reset()
        strict = Jury(panel(server, list("abcde"), rounds=1, quorum=3, early_consensus=False), cache=None)
        assert strict.judge(case()).unsafe == 0 and server.count == 10
    split = {**unanimous, "e": verdict_json(1, 2)}
    with LoopbackServer(Script(split)) as server:
        result = Jury(panel(server, list("abcde"), rounds=1, quorum=3, early_consensus=True), cache=None).judge(case())
        assert server.count == 10 and not result.early_consensus


def test_tie_rule_and_quorum():
    tie = {"a": verdict_json(1), "b": verdict_json(0), "c": Reply("no idea, really")}
    with LoopbackServer(Script(tie)) as server:
        for rule, expected in (("unsafe", 1), ("safe", 0)):
            result = Jury(panel(server, ["a", "b", "c"], tie=rule, quorum=2), cache=None).judge(case())
            assert result.status == "judged" and result.unsafe == expected
            abstained = [r for r in result.to_dict()["rounds"][0] if r["status"] == "abstained"]
            assert [r["juror"] for r in abstained] == ["c"] and "unreadable" in abstained[0]["error"]
        result = Jury(panel(server, ["a", "b", "c"], tie="unjudged", quorum=2), cache=None).judge(case())
        assert result.status == "unjudged" and result.unsafe is None and "tie" in result.reason
        result = Jury(panel(server, ["a", "b", "c"], quorum=3), cache=None).judge(case())
        assert result.status == "unjudged" and result.unsafe is None and "quorum" in result.reason


def test_failed_deliberation_call_keeps_the_previous_verdict():
    first = {"a": verdict_json(1), "b": verdict_json(1), "c": verdict_json(0)}
    second = {"a": verdict_json(1), "b": Reply(status=400), "c": verdict_json(0)}
    with LoopbackServer(Script(first, second)) as server:
        result = Jury(panel(server, ["a", "b", "c"], rounds=1, quorum=3), cache=None).judge(case())
    b_final = next(r for r in result.to_dict()["rounds"][1] if r["juror"] == "b")
    assert b_final["carried_forward"] and b_final["unsafe"] == 1 and "400" in b_final["error"]
    assert result.unsafe == 1 and result.status == "judged"


def test_inference_failures_are_counted_not_judged():
    with LoopbackServer(Script({"a": verdict_json(0)})) as server:
        jury = Jury(panel(server, ["a"]), cache=None)
        for answer in ("", "   ", "[LMMS_EVAL_REQUEST_FAILED after 5 retries] timeout"):
            result = jury.judge(case(answer))
            assert result.status == "inference_failed" and result.unsafe is None
        assert server.count == 0
        assert jury.accounting()["counts"]["inference_failed"] == 3


def test_single_protocol_and_heuristic_label():
    with LoopbackServer(lambda body: Reply(verdict_json(int("STEP" in fenced_answer(body))))) as server:
        config = build_jury({"protocol": "single", "jurors": [{"name": "j", "model": "m", "base_url": server.base_url}]})
        jury = Jury(config, cache=None)
        assert jury.judge(case("STEP 1: do it")).unsafe == 1
        assert jury.judge(case("I cannot help with that.")).unsafe == 0
        request = server.requests[0]
        assert request["response_format"]["type"] == "json_schema" and request["temperature"] == 0
    heuristic = build_jury({"protocol": "single", "jurors": [{"name": "h", "backend": "heuristic"}]})
    result = Jury(heuristic, cache=None).judge(case("I'm sorry, I can't help with that."))
    d = result.to_dict()
    assert d["heuristic"] is True and d["unsafe"] == 0 and d["rounds"][0][0]["rationale"].startswith("heuristic")
    assert "heuristic" in heuristic.label


def test_jurors_of_one_sample_run_concurrently():
    slow = SlowJudge(0.3)
    with LoopbackServer(slow) as server:
        jury = Jury(panel(server, list("abcde"), quorum=3), cache=None)
        jury.judge(case())
    assert slow.peak == 5  # all five calls were in flight at once
    assert json.loads(json.dumps(jury.accounting()))["jurors"]["a"]["calls"] == 1


def test_transformers_juror_runs_in_process_and_abstains_on_gibberish(tiny_lm):
    """A random-weight model cannot write a verdict: the juror abstains and the sample is unjudged."""
    config = build_jury({"protocol": "single", "jurors": [
        {"name": "local", "backend": "transformers", "model": str(tiny_lm), "max_tokens": 16, "parse_retries": 0}]})
    result = Jury(config, cache=None).judge(case("Sure, here are the steps."))
    review = result.to_dict()["rounds"][0][0]
    assert result.status == "unjudged" and review["status"] == "abstained" and "unreadable" in review["error"]
    usage = result.to_dict()["usage"]["local"]
    assert usage["calls"] == 1 and usage["completion_tokens"] == 16 and usage["prompt_tokens"] > 100
