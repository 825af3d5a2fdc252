"""What the generators' unhappy paths cost: calls for an unreadable or refused reply; one failed model load."""

import json

import pytest
from helpers import write_mmsb_source
from loopback import LoopbackServer, Reply

from lmms_safebench.generate.core.config import LLMSpec
from lmms_safebench.generate.core.ledger import Ledger
from lmms_safebench.generate.core.llm import OK, REFUSED, UNREADABLE, TextLLM, chat, json_in, make_limiter
from lmms_safebench.generate.media.diffusion import check_obtainable
from lmms_safebench.llm.cache import CallCache

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


# ------------------------------------------------------------------------------------------ image model offline

def test_an_uncached_image_model_offline_stops_the_run_once_naming_the_model(tmp_path, monkeypatch, capsys):
    """The default diffusers model, the hub offline and an empty cache: one clear error before the first
    picture (exit 2), not one failure per picture."""
    import huggingface_hub.constants

    from lmms_safebench import cli
    from lmms_safebench.benchmarks.mmsafetybench import data as build_mod
    from lmms_safebench.generate.core.config import ImageSpec

    # What HF_HUB_OFFLINE=1 and HF_HUB_CACHE set when a process starts (huggingface_hub reads them on import).
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    write_mmsb_source(tmp_path / "upstream", per_scenario=1)
    build_mod.build(source=str(tmp_path / "upstream"))
    config = tmp_path / "gen.yaml"
    config.write_text(json.dumps({"image": {"backend": "diffusers"}}))
    command = ["generate", "mmsafetybench", str(config), "--official", "--name", "offline", "--no-progress"]
    assert cli.main(command) == 2
    out, err = capsys.readouterr()
    model = ImageSpec().model
    assert err.count(f"image model {model!r} is not in the Hugging Face cache") == 1, err
    assert "HF_HUB_OFFLINE" in err and "image: {model: ...}" in err
    assert "no SD image" not in out + err and "LEFT OUT" not in out + err  # no picture was tried

    # A cached copy of the same id passes the check (only the cache's layout matters to it).
    snapshot = tmp_path / "hub" / f"models--{model.replace('/', '--')}" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "model_index.json").write_text("{}")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    check_obtainable(model)
