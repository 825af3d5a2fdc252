"""What the generators' unhappy paths cost: calls for an unreadable or refused reply; one failed model load."""

import pytest
from loopback import LoopbackServer, Reply

from lmms_safebench.generate.config import LLMSpec
from lmms_safebench.generate.ledger import CallCache, Ledger
from lmms_safebench.generate.llm import OK, REFUSED, UNREADABLE, TextLLM, chat, json_in, make_limiter

PHRASINGS = [chat(None, f"Phrasing {n}: reply with a JSON object.") for n in range(3)]


def ask(tmp_path, responder):
    ledger = Ledger(tmp_path / "ledger.json")
    with LoopbackServer(responder) as server:
        spec = LLMSpec(model="writer", base_url=server.base_url, max_attempts=1, retry_base_delay=0)
        llm = TextLLM(spec, CallCache(tmp_path / "calls.sqlite"), ledger, make_limiter())
        answer = llm.ask("stage", PHRASINGS[0], json_in, rephrasings=PHRASINGS[1:])
        phrasings_asked = [next(m["content"] for m in b["messages"] if m["role"] == "user")[:10]
                           for b in server.requests]
    return answer, phrasings_asked, ledger.to_dict()["stage"]


@pytest.mark.parametrize("reply, status, calls", [
    # Never readable: the question, one repair request, and no other phrasing (they are for refusals).
    ("Here you are: name = value.", UNREADABLE, ["Phrasing 0"] * 2),
    # Refused every time: each phrasing once, no repair request.
    ("I'm sorry, but I can't help with that.", REFUSED, ["Phrasing 0", "Phrasing 1", "Phrasing 2"]),
])
def test_calls_made_for_a_reply_that_never_parses(tmp_path, reply, status, calls):
    answer, asked, account = ask(tmp_path, lambda body: Reply(reply))
    assert answer.status == status and asked == calls
    assert account["calls"] == len(calls)
    assert account["unreadable"] == (status == UNREADABLE) and account["refusals"] == (3 if status == REFUSED else 0)


def test_a_refusal_then_an_unreadable_reply_then_a_repair(tmp_path):
    replies = iter(["I'm sorry, but I can't help with that.", "not JSON", '{"ok": true}'])
    answer, asked, account = ask(tmp_path, lambda body: Reply(next(replies)))
    assert answer.status == OK and answer.value == {"ok": True} and answer.phrasing == 1
    assert asked == ["Phrasing 0", "Phrasing 1", "Phrasing 1"] and account["calls"] == 3
