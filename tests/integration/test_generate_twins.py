"""`generate safebench` with benign twins (the `twins` stage) against loopback stand-ins: the critic loop (accepted,
revised, rejected and named), the check with the query's picture, the twins' audio, the counts in the data card
against the requests the stand-ins received, a kill in the stage and a resume that repeats no call, pictures made
after the twins; the companion family `safebench_gen_<name>_benign_*` and its pairing. The benign family's run
through lmms-eval (the openai loader, a scripted refusal jury, rates computed by hand) is in
tests/e2e/test_e2e_generate_safebench.py."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest
from loopback import user_text
from safebench_gen import (
    CRITIC_UNREADABLE,
    PAIR_PROMPT,
    WRITER_REFUSES,
    KillSwitch,
    TwinStandIn,
    critic_class,
    folder_of,
    generate,
    pair_harmless,
    provenance,
    serve,
    twin_config,
    write_config,
)

from lmms_safebench.benchmarks import registry
from lmms_safebench.generate.core.config import parse
from lmms_safebench.generate.output import config_digest
from lmms_safebench.generate.safebench.config import SafeBenchConfig


def is_twin_request(body: dict, twin_texts: set[str]) -> bool:
    if body["_path"].endswith("/audio/speech"):
        return body["input"] in twin_texts
    if body["_path"].endswith("/chat/completions"):
        text = user_text(body)
        return "harmless counterpart" in text or PAIR_PROMPT in text
    return False


SMALL = {"categories": [{"title": "Finance", "abbr": "FI", "scenarios": [{"title": "Loan Fraud"},
                                                                          {"title": "Tax Evasion"}]}]}


def read_lines(path) -> dict:
    return {r["id"]: r for r in (json.loads(line) for line in path.read_text().splitlines() if line.strip())}


def benign_rows(folder) -> dict[str, dict]:
    import datasets

    manifest = json.loads((folder / "benign" / "manifest.json").read_text())
    rows = {}
    for meta in manifest["scenarios"].values():
        for row in datasets.Dataset.from_parquet(str(folder / "benign" / meta["file"])):
            rows[row["id"]] = row
    return rows


# ------------------------------------------------------------------------------------------ the stage


def test_the_critic_loop_accepts_revises_rejects_and_names_and_the_card_counts_the_calls(tmp_path, capsys):
    data = tmp_path / "data"
    with serve(TwinStandIn()) as server:
        config = twin_config(tmp_path, server.base_url)
        status, out, err = generate(capsys, config, "twinned", data=data)
        requests = list(server.requests)
    assert status == 1, out + err  # twins were left out (each named)
    folder = folder_of(data, "twinned")
    rows = provenance(folder)
    assert len(rows) == 24
    by_class = defaultdict(list)
    for p in rows:
        if WRITER_REFUSES in p["query"]:
            by_class["refused"].append(p)
        elif CRITIC_UNREADABLE in p["query"]:
            by_class["unreadable"].append(p)
        else:
            by_class[critic_class(p["query"])].append(p)
    assert all(by_class[c] for c in ("first", "revised", "never", "refused", "unreadable")), by_class.keys()
    manifest = json.loads((folder / "manifest.json").read_text())
    problems = manifest["problems"]

    def named(**fields):
        return [x for x in problems if all(x.get(k) == v for k, v in fields.items())]

    for p in by_class["first"]:
        twin = p["twin"]
        assert twin["accepted"] is True and len(twin["rounds"]) == 1 and twin["rounds"][0]["verdict"] == "accepted"
        assert twin["text"] == "Which warning signs help people avoid " + p["query"].rstrip("?")
    for p in by_class["revised"]:  # rejected once, revised, accepted: the accepted text is the revision
        twin = p["twin"]
        assert twin["accepted"] is True and [r["verdict"] for r in twin["rounds"]] == ["rejected", "accepted"]
        assert twin["rounds"][0]["changes"] == ["ask how to recognise it instead"]
        assert twin["text"] == twin["rounds"][0]["twin"] + " (revised)"
    for p in by_class["never"]:  # revisions: 1, so two versions, both rejected: left out and named
        twin = p["twin"]
        assert twin["accepted"] is False and [r["verdict"] for r in twin["rounds"]] == ["rejected", "rejected"]
        problem, = named(where="twins", id=p["id"], field="twin")
        assert "rejected all 2 version(s)" in problem["what"] and problem["kind"] == "left_out"
        assert f"LEFT OUT twins, id '{p['id']}', field 'twin'" in err
    for p in by_class["unreadable"]:  # an unchecked twin is never taken for harmless
        assert p["twin"]["accepted"] is None
        assert "could not judge" in named(where="twins", id=p["id"], field="twin")[0]["what"]
    for p in by_class["refused"]:  # the writer refused in every phrasing: the item failed, named by its failure
        assert p["twin"] is None
        problem, = named(where="twins", id=p["id"], field="twin")
        assert problem["what"].startswith("failed: ") and "refused" in problem["what"]

    # The companion set: only accepted twins, under their harmful query's id; the picture only when the critic found
    # the pair harmless; the twin read in both voices.
    accepted = {p["id"]: p for c in ("first", "revised") for p in by_class[c]}
    benign = benign_rows(folder)
    assert set(benign) == set(accepted)
    for qid, row in benign.items():
        p = accepted[qid]
        assert row["query"] == p["twin"]["text"] and row["scenario_slug"] == p["scenario"]
        harmless = pair_harmless(p["twin"]["text"])
        assert p["twin"]["picture"]["benign"] is harmless and row["has_image"] is harmless
        if harmless:  # the query's own picture, unchanged
            assert row["image"] is not None and p["twin"]["picture"]["file"] == p["image"]["final"]
        else:
            assert named(where="twins", id=qid, field="image")
        assert row["has_audio_female"] and row["has_audio_male"]
    assert any(not pair_harmless(p["twin"]["text"]) for p in accepted.values())
    assert manifest["benign"]["totals"] == {"queries": len(accepted),
                                            "image": sum(r["has_image"] for r in benign.values()),
                                            "audio_female": len(accepted), "audio_male": len(accepted)}
    # Insider Trading has no twin: it has no benign task; a scenario without a harmless pair has no image task.
    tasks = {p.name for p in (folder / "tasks" / "lmms_eval" / "benign").rglob("*.yaml")}
    assert "safebench_gen_twinned_benign_text_insider_trading.yaml" not in tasks
    assert "safebench_gen_twinned_benign_text_loan_fraud.yaml" in tasks
    assert {p.name for p in (folder / "tasks" / "lm_eval" / "benign").rglob("*.yaml")} >= {
        "safebench_gen_twinned_benign_text_loan_fraud.yaml", "_safebench_gen_twinned_benign_text.yaml"}
    for slug in {p["scenario"] for p in accepted.values()}:
        has_picture = any(r["has_image"] for r in benign.values() if r["scenario_slug"] == slug)
        assert (f"safebench_gen_twinned_benign_image_{slug}.yaml" in tasks) is has_picture

    # The data card counts what the stand-ins received: every twin call, and each twin read once per voice.
    card = json.loads((folder / "data_card.json").read_text())
    twin_texts = {p["twin"]["text"] for p in accepted.values()}
    made = Counter("speech" if r["_path"].endswith("/audio/speech") else "llm" for r in requests
                   if is_twin_request(r, twin_texts))
    stages = card["cost"]["per_stage"]
    assert stages["twins"]["calls"] == made["llm"] and stages["twins"]["cache_hits"] == 0
    assert stages["twin_audio"]["calls"] == made["speech"] == 2 * len(accepted)
    # writer: one per query (two phrasings when refused) and one per revision; critic: one per version (two when
    # unreadable: the repair request); one check per accepted twin with its picture.
    expected = (len(rows) + len(by_class["refused"]) + len(by_class["revised"]) + len(by_class["never"])
                + len(by_class["first"]) + 2 * len(by_class["revised"]) + 2 * len(by_class["never"])
                + 2 * len(by_class["unreadable"]) + len(accepted))
    assert made["llm"] == expected
    counts = card["counts"]["per_scenario"]
    assert sum(c.get("twins_accepted", 0) for c in counts.values()) == len(accepted)
    assert sum(c.get("twins_revised", 0) for c in counts.values()) == len(by_class["revised"])
    assert sum(c.get("twins_rejected", 0) for c in counts.values()) == len(by_class["never"])
    assert sum(c.get("twin_image", 0) for c in counts.values()) == manifest["benign"]["totals"]["image"]
    assert card["pipeline"]["twins"]["revisions"] == 1 and card["counts"]["benign"]["totals"] == \
        manifest["benign"]["totals"]
    assert f"twins: {len(accepted)} of 24 accepted by the critic ({len(by_class['revised'])} after a revision)" in out
    assert "tasks safebench_gen_twinned_benign_{image,audio_female,audio_male,text}" in out


def test_a_run_killed_in_the_twins_stage_resumes_without_repeating_a_call(tmp_path, capsys):
    kill = KillSwitch()
    data = tmp_path / "data"
    with serve(TwinStandIn(kill)) as server:
        config = twin_config(tmp_path, server.base_url, taxonomy_file=SMALL)
        reference_status = generate(capsys, config, "reference", data=data)[0]
        reference = Counter(r["_path"] for r in server.requests)
        expected = [(p["id"], p["twin"]) for p in provenance(folder_of(data, "reference"))]
        server.reset()
        kill.arm("twins", 9)
        status, out, err = generate(capsys, config, "killed", data=data)
        assert status == 130 and "run the same command again to resume" in err, out + err
        partial_twins = read_lines(folder_of(data, "killed") / "work" / "twins.jsonl")
        assert 0 < len(partial_twins) < 8 and not (folder_of(data, "killed") / "benign").exists()
        status, out, err = generate(capsys, config, "killed", data=data)
        assert status == reference_status and "resuming" in out, out + err
        assert Counter(r["_path"] for r in server.requests) == reference  # no finished call made again
    assert [(p["id"], p["twin"]) for p in provenance(folder_of(data, "killed"))] == expected
    card = json.loads((folder_of(data, "killed") / "data_card.json").read_text())
    assert card["cost"]["totals"]["calls"] == sum(reference.values())  # the calls the stand-ins received


def test_twins_are_off_by_default_and_a_picture_made_later_is_checked_with_the_twin_only(tmp_path, capsys):
    """Without a `twins` section nothing changes (no twin call, no benign folder, the same config digest as before
    the option existed). Twins written before the pictures exist have none; once the images stage has made them, the
    twins stage checks each accepted twin with its picture, its text calls from the cache."""
    assert config_digest(parse({"llm": {"model": "writer", "temperature": 0.2}, "critic": {"model": "vlm"}},
                               SafeBenchConfig)) == "9d06680893608f79"
    data = tmp_path / "data"
    with serve(TwinStandIn()) as server:
        plain = write_config(tmp_path / "plain", server.base_url, speech=None, image=None)
        status, out, err = generate(capsys, plain, "plain", "--stages", "taxonomy,queries,scoring,twins,write",
                                    data=data)
        assert status == 0 and "twins: none" in out, out + err
        assert not any("harmless counterpart" in user_text(r) for r in server.requests)
        assert not (folder_of(data, "plain") / "benign").exists() and "benign" not in json.loads(
            (folder_of(data, "plain") / "manifest.json").read_text())
        with pytest.raises(ValueError, match="has no benign twins .*twins stage"):
            registry.get("gen_plain").parse("text.benign.default.all")

        config = twin_config(tmp_path, server.base_url, speech=None)
        status, out, err = generate(capsys, config, "later", "--stages", "taxonomy,queries,scoring,twins,write",
                                    data=data)
        folder = folder_of(data, "later")
        first = read_lines(folder / "work" / "twins.jsonl")
        assert all(r["picture"] is None for r in first.values()) and "image" not in json.loads(
            (folder / "benign" / "manifest.json").read_text())["modalities"]
        # Pictures made, the twins stage not run: no twin shares a picture it was not checked with.
        status, out, err = generate(capsys, config, "later", "--stages", "images,write", data=data)
        assert "image" not in json.loads((folder / "benign" / "manifest.json").read_text())["modalities"]
        unchecked = [p for p in json.loads((folder / "manifest.json").read_text())["problems"]
                     if p["where"] == "twins" and p["field"] == "image"]
        assert len(unchecked) == sum(1 for r in first.values() if r["accepted"])
        assert all("not checked with the query's current picture" in p["what"] for p in unchecked)
        server.reset()
        status, out, err = generate(capsys, config, "later", "--stages", "twins,write", data=data)
        accepted = [r for r in first.values() if r["accepted"]]
        twin_calls = [r for r in server.requests if is_twin_request(r, set())]
        assert len(twin_calls) == len(accepted) and all(PAIR_PROMPT in user_text(r) for r in twin_calls)
    again = read_lines(folder / "work" / "twins.jsonl")
    assert [again[q]["rounds"] for q in first] == [first[q]["rounds"] for q in first]
    assert all(again[r["id"]]["picture"]["benign"] is pair_harmless(r["twin"]) for r in accepted)
    images = sum(1 for r in accepted if pair_harmless(r["twin"]))
    assert json.loads((folder / "benign" / "manifest.json").read_text())["totals"]["image"] == images > 0


@pytest.mark.parametrize("twins, field", [({"revisions": -1}, "twins.revisions"), ({"rounds": 2}, "twins.rounds"),
                                          (True, "twins"), ({"critic": {"base_url": "http://x"}}, "twins.critic.model")])
def test_a_malformed_twins_section_is_named_before_anything_is_made(tmp_path, capsys, twins, field):
    config = write_config(tmp_path / "cfg", "http://127.0.0.1:9/v1", twins=twins)
    status, out, err = generate(capsys, config, "bad_twins", data=tmp_path / "data")
    assert status == 2 and field in err and "Traceback" not in err, err
    assert not (tmp_path / "data" / "generated" / "bad_twins").exists()


# ------------------------------------------------------------------------------------------ the companion family


