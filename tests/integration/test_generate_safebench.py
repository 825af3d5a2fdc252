"""`lmms-safebench generate safebench`: SafeBench's pipeline against loopback stand-ins (writer, scorer,
vision-language critic, images and speech endpoints): killed in each stage and resumed without repeating a
finished call; risk identification by a panel; bad input named, left out, or refused. The run from the CLI through
lmms-eval, `judge` and `report` is tests/e2e/test_e2e_generate_safebench.py."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from loopback import user_text
from safebench_gen import (
    TAXONOMY,
    VOCAB,
    KillSwitch,
    StandIn,
    description_of,
    fenced,
    folder_of,
    generate,
    image_fault,
    provenance,
    requests_by_kind,
    serve,
    speech_fails,
    write_config,
)

from lmms_safebench.generate.safebench.taxonomy import merge_by_similarity


def stage_of(request: dict) -> str:
    """Which pipeline stage a request at the stand-in belongs to."""
    if request["_path"].endswith("/audio/speech"):
        return "audio"
    text = user_text(request)
    if "Risk scenario:" in text:
        return "queries"
    return "scoring" if "Rate the request" in text else "images"


def outcome(folder: Path) -> list[tuple]:
    """What a run produced, independent of how it got there."""
    return [(p["id"], p["query"], p["rank"], p["score"], json.dumps(p["image"]["rounds"]) if p["image"] else None,
             sorted(p["audio"] or {})) for p in provenance(folder)]


# ------------------------------------------------------------------------------------------ end to end


# ------------------------------------------------------------------------------------------ kill and resume

def test_a_run_killed_in_each_stage_resumes_without_repeating_a_finished_call(tmp_path, capsys):
    kill = KillSwitch()
    stand_in = StandIn(kill)
    data = tmp_path / "data"
    with serve(stand_in) as server:
        config = write_config(tmp_path / "cfg", server.base_url)
        status, out, err = generate(capsys, config, "reference", data=data)
        assert status == 0, out + err
        reference = requests_by_kind(server)
        reference_stages = Counter(stage_of(r) for r in server.requests)
        expected = outcome(folder_of(data, "reference"))
        assert reference["llm"] > 50 and reference["image"] > 24 and reference["speech"] == 48
        for stage, n in (("queries", 3), ("scoring", 5), ("images", 7), ("audio", 5)):
            server.reset()
            kill.arm(stage, n)
            status, out, err = generate(capsys, config, f"killed_{stage}", data=data)
            assert status == 130 and "run the same command again to resume" in err, (stage, out, err)
            assert not (folder_of(data, f"killed_{stage}") / "manifest.json").exists()
            first = requests_by_kind(server)
            # It stopped inside that stage: part of its requests made, none of a later stage's.
            stages = Counter(stage_of(r) for r in server.requests)
            order = ["queries", "scoring", "images", "audio"]
            assert 0 < stages[stage] < reference_stages[stage], (stage, stages)
            assert not any(stages[later] for later in order[order.index(stage) + 1:]), (stage, stages)
            status, out, err = generate(capsys, config, f"killed_{stage}", data=data)
            assert status == 0, (stage, out, err)
            assert "resuming" in out
            total = requests_by_kind(server)
            assert total == reference, (stage, first, total, reference)  # nothing finished was made again
            assert 0 < sum(first.values()) < sum(reference.values())
            assert outcome(folder_of(data, f"killed_{stage}")) == expected


def test_pictures_and_audio_written_before_a_crash_are_not_made_again(tmp_path, capsys):
    """A hard crash between writing a file and recording its item: the rerun finds the file."""
    with serve(StandIn()) as server:
        config = write_config(tmp_path / "cfg", server.base_url)
        assert generate(capsys, config, "crashy", data=tmp_path / "data")[0] == 0
        folder = folder_of(tmp_path / "data", "crashy")
        expected = outcome(folder)
        for stage in ("images", "audio"):
            (folder / "work" / f"{stage}.jsonl").write_text("")  # the records are lost, the files are there
        server.reset()
        status, out, err = generate(capsys, config, "crashy", "--stages", "images,audio,write", data=tmp_path / "data")
        assert status == 0, out + err
        assert server.requests == []  # descriptions and verdicts from the call cache, media from their files
        assert outcome(folder) == expected
        # --redo applies the current configuration to finished items; what it does not change is reused.
        fewer = write_config(tmp_path / "cfg", server.base_url, images={"rounds": 1})
        status, out, err = generate(capsys, fewer, "crashy", "--stages", "images,write", "--redo", "images",
                                    data=tmp_path / "data")
        assert status == 0 and server.requests == [], out + err
        rows = provenance(folder)
        assert {len(p["image"]["rounds"]) for p in rows} == {1}
        assert {p["image"]["approved"] for p in rows} == {True, False}  # round one's verdicts, from the cache


def build_bag_of_words_model(path: Path, words: list[str]) -> Path:
    """A tiny sentence-transformers model built offline: a BERT without layers whose embedding is the mean of
    random word vectors, so texts sharing most words are close and others are not."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *sorted(set(words))])}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=0, num_attention_heads=1,
                                 intermediate_size=64, max_position_embeddings=128), add_pooling_layer=False)
    with torch.no_grad():
        model.embeddings.word_embeddings.weight.copy_(torch.randn(len(vocab), 64, generator=torch.Generator().manual_seed(0)))
        model.embeddings.position_embeddings.weight.zero_()
        model.embeddings.token_type_embeddings.weight.zero_()
    model.save_pretrained(path / "hf")
    fast.save_pretrained(path / "hf")
    SentenceTransformer(modules=[models.Transformer(str(path / "hf")), models.Pooling(64, pooling_mode="mean")],
                        device="cpu").save(str(path / "st"))
    return path / "st"


def test_near_duplicates_by_an_embedding_model(tmp_path, capsys):
    titles = [s["title"] for c in TAXONOMY["categories"] for s in c["scenarios"]]
    model = build_bag_of_words_model(tmp_path / "model", VOCAB + " ".join(titles).lower().split() +
                                     ["regarding", "please", "?", "!"])
    with serve(StandIn()) as server:
        config = write_config(tmp_path / "cfg", server.base_url,
                              queries={"embedding_model": str(model), "embedding_device": "cpu"})
        status, out, err = generate(capsys, config, "embedded", "--stages", "taxonomy,queries", data=tmp_path / "data")
    assert status == 0, out + err
    # The planted near duplicate of each batch (one word added) is found by cosine, the rest are distinct.
    assert "60 candidates, 12 exact and 12 near duplicates removed, 36 unique" in out


def test_the_paper_taxonomy_with_definitions_reaches_the_writer(tmp_path, capsys):
    with serve(StandIn()) as server:
        config = write_config(tmp_path / "cfg", server.base_url, taxonomy_file=None, taxonomy="paper",
                              queries={"calls_per_scenario": 1})
        status, out, err = generate(capsys, config, "paper", "--stages", "taxonomy,queries", data=tmp_path / "data")
        assert status == 0 and "taxonomy: 8 categories, 23 scenarios (paper)" in out, out + err
        prompts = [user_text(b) for b in server.requests]
    assert len(prompts) == 23
    assert any("Risk scenario: Hardware Security (tampering with" in p for p in prompts)
    assert any("Risk scenario: Hate Speech (attacks on people" in p for p in prompts)


# ------------------------------------------------------------------------------------------ risk identification

def test_identify_with_a_panel_of_two_and_an_llm_merge_then_continue_from_the_edited_file(tmp_path, capsys):
    kill = KillSwitch()
    stand_in = StandIn(kill)
    data = tmp_path / "data"
    with serve(stand_in) as server:
        panel = [{"model": "panel-a", "base_url": server.base_url, "retry_base_delay": 0},
                 {"model": "panel-b", "base_url": server.base_url, "retry_base_delay": 0}]
        config = write_config(tmp_path / "cfg", server.base_url, taxonomy_file=None, taxonomy="identify",
                              identify={"panel": panel, "proposals": 2, "merge": "llm"}, concurrency=1)
        kill.arm("taxonomy", 1)
        status, out, err = generate(capsys, config, "found", data=data)
        assert status == 130
        status, out, err = generate(capsys, config, "found", data=data)
        assert status == 0 and "Review and edit it, then run the same command again" in out, out + err
        proposals = [b for b in server.requests if "Organise them into" in user_text(b)]
        merges = [b for b in server.requests if "Merge their proposals" in user_text(b)]
        assert Counter(b["model"] for b in proposals) == {"panel-a": 2, "panel-b": 2} and len(merges) == 1
        # The merge step saw both models' proposals.
        assert "Cyber security" in user_text(merges[0]) and "Cybersecurity" in user_text(merges[0])
        folder = folder_of(data, "found")
        path = folder / "taxonomy.yaml"
        written = yaml.safe_load(path.read_text())
        assert [c["title"] for c in written["categories"]] == ["Cybersecurity", "Fraud"]
        assert [c["slug"] for c in written["categories"]] == ["cybersecurity", "fraud"]
        assert not (folder / "manifest.json").exists() and not (folder / "work" / "queries.jsonl").exists()
        identify = json.loads((folder / "work" / "identify.json").read_text())
        assert identify["panel"] == ["1:panel-a", "2:panel-b"] and identify["usable_proposals"] == 4

        # The user edits the file: one scenario removed, a title changed. The next run uses it as it is.
        written["categories"][0]["scenarios"] = written["categories"][0]["scenarios"][:1]
        written["categories"][1]["title"] = "Financial Fraud"
        path.write_text(yaml.safe_dump(written, sort_keys=False))
        server.reset()
        status, out, err = generate(capsys, config, "found", "--stages", "taxonomy,queries", data=data)
        assert status == 0, out + err
        asked = {re.search(r"Risk scenario: ([^(\n]+)", user_text(b)).group(1).strip() for b in server.requests}
        assert asked == {"Malware", "Investment Scams"} and len(server.requests) == 4
        assert "Risk category: Financial Fraud" in "".join(user_text(b) for b in server.requests)
        assert not any("Organise them into" in user_text(b) for b in server.requests)  # no new identification


def test_identify_with_the_similarity_merge(tmp_path, capsys):
    with serve(StandIn()) as server:
        panel = [{"model": "panel-a", "base_url": server.base_url}, {"model": "panel-b", "base_url": server.base_url}]
        config = write_config(tmp_path / "cfg", server.base_url, taxonomy_file=None, taxonomy="identify",
                              identify={"panel": panel, "merge": "embeddings", "threshold": 0.85})
        status, out, err = generate(capsys, config, "lexical", data=tmp_path / "data")
        assert status == 0, out + err
        written = yaml.safe_load((folder_of(tmp_path / "data", "lexical") / "taxonomy.yaml").read_text())
    # "Cybersecurity" / "Cyber security" and "Malware" / "Malware." merge; both models back Cybersecurity,
    # so it comes first; "Phishing" proposed again under Self Harm is kept once, under Cybersecurity.
    titles = [(c["title"], [s["title"] for s in c["scenarios"]]) for c in written["categories"]]
    assert titles == [("Cybersecurity", ["Malware", "Phishing", "Ransomware"]), ("Fraud", ["Investment Scams"])]
    assert [c["abbr"] for c in written["categories"]] == ["CY", "FR"]


def test_the_similarity_merge_keeps_only_what_enough_models_proposed():
    proposals = [{"model": "a", "categories": [{"title": "Weapons", "definition": "", "scenarios": [
                     {"title": "Explosives"}]}, {"title": "Privacy", "definition": "", "scenarios": [{"title": "Doxxing"}]}]},
                 {"model": "b", "categories": [{"title": "weapons!", "definition": "", "scenarios": [
                     {"title": "Firearms"}]}]}]
    merged, record = merge_by_similarity(proposals, 0.9, min_support=2)
    assert merged == [{"title": "Weapons", "definition": "", "scenarios": [
        {"title": "Explosives", "definition": ""}, {"title": "Firearms", "definition": ""}]}]
    assert [d["title"] for d in record["dropped"]] == ["Privacy"]


def test_the_lexical_near_duplicate_check_keeps_the_matrix_rule():
    """near_duplicates() skips pairs by difflib's upper bounds of ratio; the result must be what the rule over
    the full similarity matrix gives (each text against the earlier kept ones, the first of a group kept)."""
    import numpy as np

    from lmms_safebench.generate.media.embeddings import near_duplicates, normalise, similarity

    def by_matrix(texts, threshold):
        drop, seen = set(), set()
        for i, text in enumerate(map(normalise, texts)):
            if text in seen:
                drop.add(i)
            seen.add(text)
        keep = [i for i in range(len(texts)) if i not in drop]
        sims, kept = similarity([texts[i] for i in keep]), []
        for position, index in enumerate(keep):
            if kept and float(np.max(sims[position, kept])) >= threshold:
                drop.add(index)
            else:
                kept.append(position)
        return sorted(drop)

    rng = random.Random(5)
    common = "the a how can i make get find steal hack fake money bank card phone account password".split()
    for trial in range(25):
        base = [" ".join(rng.choice(common + VOCAB[:trial]) for _ in range(rng.randint(1, 9))) for _ in range(20)]
        texts = base + [b + rng.choice(["", " please", "?", " now", "!!"]) for b in rng.sample(base, 6)] + ["?"]
        for threshold in (0.3, 0.6, 0.85, 0.95, 1.0):
            assert near_duplicates(texts, threshold) == by_matrix(texts, threshold), (trial, threshold)


# ------------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("change, field", [
    (lambda t: t["categories"][1]["scenarios"].append({"title": "Loan fraud!"}), "categories.1.scenarios.3.slug"),
    (lambda t: t["categories"][0]["scenarios"][0].pop("title"), "categories.0.scenarios.0.title"),
    (lambda t: t["categories"][0].update(abbr="finance"), "categories.0.abbr"),
    (lambda t: t["categories"][1].update(scenarios=[]), "categories.1.scenarios"),
    (lambda t: t["categories"][0]["scenarios"][1].update(colour="red"), "categories.0.scenarios.1.colour"),
    (lambda t: t["categories"][0].update(slug="Has Spaces"), "categories.0.slug"),
])
def test_a_malformed_taxonomy_is_named_before_anything_is_made(tmp_path, capsys, change, field):
    taxonomy = json.loads(json.dumps(TAXONOMY))
    change(taxonomy)
    config = write_config(tmp_path / "cfg", "http://127.0.0.1:9/v1", taxonomy_file=taxonomy)
    status, out, err = generate(capsys, config, "bad_tax", data=tmp_path / "data")
    assert status == 2 and str(tmp_path / "cfg" / "taxonomy.yaml") in err and field in err, err
    assert not (tmp_path / "data" / "generated" / "bad_tax").exists()


@pytest.mark.parametrize("overrides, field", [
    ({"scoring": {"weights": {"harmfulness": -1}}}, "scoring.weights.harmfulness"),
    ({"scoring": {"weights": {"harmfulness": 0, "feasibility": 0, "applicability": 0}}}, "scoring.weights"),
    ({"speech": {"voices": {"child": "x"}}}, "speech"),
    ({"queries": {"per_calls": 3}}, "queries.per_calls"),
    ({"images": {"rounds": 0}}, "images.rounds"),
    ({"llm": None}, "llm"),
    ({"llm": {"api_key_env": "sk-abcdefabcdefabcdef"}}, "llm.api_key_env"),
    ({"taxonomy": "missing.yaml"}, "missing.yaml"),
])
def test_a_malformed_config_is_named(tmp_path, capsys, overrides, field):
    config = write_config(tmp_path / "cfg", "http://127.0.0.1:9/v1", **overrides)
    status, out, err = generate(capsys, config, "bad_cfg", data=tmp_path / "data")
    assert status == 2 and field in err and "Traceback" not in err, err
    assert not (tmp_path / "data" / "generated" / "bad_cfg").exists()


def test_bad_stage_names_and_benchmark_names_are_refused(tmp_path, capsys):
    config = write_config(tmp_path / "cfg", "http://127.0.0.1:9/v1")
    assert generate(capsys, config, "ok", "--stages", "queries,dance", data=tmp_path / "data")[0] == 2
    status, out, err = generate(capsys, config, "Bad-Name", data=tmp_path / "data")
    assert status == 2 and "Bad-Name" in err


def test_refusals_unreadable_scores_and_failing_media_are_named_and_left_out(tmp_path, capsys):
    """Tax Evasion: the writer refuses in every phrasing (not padded: the scenario is left out). Fake Cures:
    the first phrasing is refused, another is answered. Some scorer replies cannot be read: those queries are
    left unscored. The image endpoint fails or sends bytes that are not a picture on some descriptions, the
    speech endpoint fails on some texts in one voice; the critic cannot be read on Insider Trading: those
    pictures are kept, unjudged."""
    stand_in = StandIn(refuse={"Tax Evasion"}, refuse_first={"Fake Cures"}, unreadable_score={"amber"},
                       critic_unreadable={"Insider Trading"}, media_faults=True)
    data = tmp_path / "data"
    with serve(stand_in) as server:
        config = write_config(tmp_path / "cfg", server.base_url, concurrency=4)
        status, out, err = generate(capsys, config, "faulty", data=data)
    assert status == 1, out + err
    folder = folder_of(data, "faulty")
    manifest = json.loads((folder / "manifest.json").read_text())
    card = json.loads((folder / "data_card.json").read_text())
    problems = manifest["problems"]
    rows = provenance(folder)

    def named(**fields):
        return [p for p in problems if all(p.get(k) == v for k, v in fields.items())]

    # Refused in every phrasing: both batches named, the scenario has nothing and is not in the tasks.
    assert len(named(where="queries", scenario="tax_evasion", what="the writer refused in every phrasing")) == 2
    assert named(where="scoring", scenario="tax_evasion", kind="short")
    assert "SHORT scoring, scenario 'tax_evasion': 0 of 4 queries" in err
    assert "tax_evasion" not in manifest["scenarios"] and named(where="write", scenario="tax_evasion")
    assert not list((folder / "tasks").rglob("*tax_evasion*")) and (folder / "tasks").exists()
    # Rephrased: answered, counted, not a problem. Every refused reply is counted.
    assert card["counts"]["per_scenario"]["fake_cures"]["batches_rephrased"] == 2
    assert not named(scenario="fake_cures", where="queries")
    assert card["cost"]["per_stage"]["queries"]["refusals"] == 2 * 3 + 2
    assert "2 answered after a rephrasing, 2 refused in every phrasing" in out
    # Unreadable scores (after a repair request): counted; the queries named, left unscored, not ranked.
    scored = [json.loads(line) for line in (folder / "work" / "scoring.jsonl").read_text().splitlines()]
    unreadable = [r["query"] for r in scored if r["status"] == "unreadable"]
    # One repair request, then unreadable (no other phrasing: those are for refusals): 2 calls, counted once.
    assert unreadable and card["cost"]["per_stage"]["scoring"]["unreadable"] == len(unreadable)
    asked = [b for b in server.requests if "Rate the request" in user_text(b) and
             "amber" in fenced(user_text(b))]
    assert len(asked) == 2 * len(unreadable)
    for query in unreadable:
        assert named(where="scoring", id=query, field="score", kind="left_out")
        assert query not in {p["id"] for p in rows}
    # Media: exactly the planted failures are named, and left out of their modality only.
    expected_images = {p["id"]: image_fault(description_of(p["query"])) for p in rows}
    assert "error" in expected_images.values() and "garbage" in expected_images.values()
    for p in rows:
        fault = expected_images[p["id"]]
        assert (p["image"] is None) == (fault is not None), p
        if fault:
            problem, = named(where="images", id=p["id"], field="image", kind="left_out")
            assert ("not a picture" in problem["what"]) == (fault == "garbage"), problem
        assert sorted(p["audio"]) == (["female"] if speech_fails(p["query"], "onyx") else ["female", "male"])
    assert any(speech_fails(p["query"], "onyx") for p in rows)
    assert manifest["totals"]["image"] == sum(1 for f in expected_images.values() if f is None)
    assert manifest["totals"]["audio_female"] == len(rows) == manifest["totals"]["queries"]
    victim = next(p["id"] for p in rows if p["image"] is None)
    assert f"LEFT OUT images, id '{victim}', field 'image'" in err
    # The critic that could not be read: the picture is kept, unjudged, and noted (not a failure).
    insider = [p for p in rows if p["scenario"] == "insider_trading" and p["image"]]
    assert insider and all(p["image"]["approved"] is None for p in insider)
    assert len(named(where="images", kind="note", scenario="insider_trading")) == len(insider)
    assert card["counts"]["per_scenario"]["insider_trading"]["image_unjudged"] == len(insider)


def test_a_later_run_that_does_not_redo_a_stage_still_names_why_its_items_failed(tmp_path, capsys):
    """Pictures that failed (a server error, bytes that are not a picture) are named by their failure; a later run
    of the write stage alone names them the same way (the workspace keeps each stage's failures), not as items
    never tried."""
    data = tmp_path / "data"
    with serve(StandIn(media_faults=True)) as server:
        config = write_config(tmp_path / "cfg", server.base_url, speech=None, critic=None)

        def image_problems() -> dict:
            manifest = json.loads((folder_of(data, "later") / "manifest.json").read_text())
            return {p["id"]: p["what"] for p in manifest["problems"] if p["where"] == "images"}

        assert generate(capsys, config, "later", data=data)[0] == 1
        first = image_problems()
        server.reset()
        status, out, err = generate(capsys, config, "later", "--stages", "write", data=data)
    assert status == 1 and server.requests == []
    assert first and image_problems() == first
    assert all(what.startswith("failed: ") and "a rerun tries it again" in what for what in first.values()), first
    assert any("not a picture" in what for what in first.values()) and "not done yet" not in err


def test_an_existing_folder_is_resumed_restarted_or_refused(tmp_path, capsys):
    data = tmp_path / "data"
    with serve(StandIn()) as server:
        config = write_config(tmp_path / "cfg", server.base_url, image=None, speech=None, critic=None)
        status, out, err = generate(capsys, config, "mine", data=data)
        assert status == 0 and "images: none" in out and "audio: none" in out
        manifest = json.loads((folder_of(data, "mine") / "manifest.json").read_text())
        assert manifest["modalities"] == ["text"]
        card = json.loads((folder_of(data, "mine") / "data_card.json").read_text())
        assert card["cost"]["totals"]["calls"] == len(server.requests) == 12 + 36  # the calls the endpoint received
        server.reset()
        status, out, err = generate(capsys, config, "mine", data=data)
        assert status == 0 and "resuming" in out and server.requests == []
        status, out, err = generate(capsys, config, "mine", "--restart", data=data)
        assert status == 0 and len(server.requests) == 12 + 36  # started over: every call made again
        card = json.loads((folder_of(data, "mine") / "data_card.json").read_text())
        assert card["cost"]["totals"]["calls"] == len(server.requests)
    other = folder_of(data, "theirs")
    other.mkdir(parents=True)
    (other / "notes.txt").write_text("keep me")
    status, out, err = generate(capsys, config, "theirs", data=data)
    assert status == 2 and "does not hold a generation run" in err and (other / "notes.txt").read_text() == "keep me"
    (folder_of(data, "mm") / "work").mkdir(parents=True)
    (folder_of(data, "mm") / "work" / "run.json").write_text(json.dumps({"kind": "mmsafetybench", "config": "x"}))
    status, out, err = generate(capsys, config, "mm", data=data)
    assert status == 2 and "'mmsafetybench' benchmark" in err


# ------------------------------------------------------------------------------------------ the benchmark script

def test_the_throughput_benchmark_runs_quick_and_counts_its_calls(tmp_path):
    script = REPO / "perf" / "generation_throughput.py"
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, str(script), "--quick", "--json", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    expected = figures["scenarios"] * figures["batches"] * (1 + figures["per_call"])  # a batch, then its scores
    assert figures["concurrent"]["requests"] == figures["sequential"]["requests"] == expected
    assert figures["concurrent"]["peak_in_flight"] > 1 and figures["sequential"]["peak_in_flight"] == 1
