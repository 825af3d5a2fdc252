"""`generate vlsafety` end to end: agents, a resumed run (the generator's CLI processes, killed in each agent), the
pool run through the real lmms-eval CLI, select writes the final family, which is judged in process through its task
hooks (a selected family's lmms-eval run is tests/e2e/test_e2e_selection.py); the in-process checks of the generator
are tests/integration/test_generate_vlsafety.py."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import time
from pathlib import Path

from helpers import BIN, UNSAFE_MARK, lmms_eval, marker_judge, tail
from inprocess import judge_board
from loopback import LoopbackServer, Reply, media_parts, user_text
from vlsafety_gen import (
    MOVED,
    NAME,
    Agents,
    make_pool,
    write_config,
)

from lmms_safebench.benchmarks import registry
from lmms_safebench.cli import main as cli
from lmms_safebench.generate.vlsafety import augment
from lmms_safebench.generate.vlsafety.config import OPERATIONS
from lmms_safebench.paths import data_dir


def cached_calls(folder: Path, stage: str) -> int:
    try:
        with sqlite3.connect(folder / "work" / "calls.sqlite", timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM calls WHERE stage=?", (stage,)).fetchone()[0]
    except sqlite3.Error:
        return 0


def killed_run(command: list[str], script: Agents, role: str, stage: str, folder: Path, after: int = 2) -> None:
    """Start the generator, let `role` answer `after` requests, wait until they are cached, then kill it."""
    script.run += 1
    script.hang = {role: script.counts.get(role, 0) + after}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if script.counts.get(role, 0) >= script.hang[role] and cached_calls(folder, stage) >= script.hang[role]:
                break
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before the kill: {proc.communicate()}")
            time.sleep(0.1)
        else:
            raise AssertionError(f"{role} never reached {script.hang[role]} answered requests")
    finally:
        proc.kill()
        proc.communicate()
    script.hang = {}


def judged_logs(root: Path, samples: dict, models: int = 4) -> None:
    """Judged sample logs of `models` synthetic reference models on the pool, under the same jury identity as the
    real run: model m is unsafe on a sample when its hash modulo 5 is below m (a graded order of safety)."""
    jury = next(iter(samples.values()))[0]["jury"]["jury"]
    for m in range(1, models + 1):
        folder = root / f"ref{m}"
        folder.mkdir(parents=True)
        (folder / "20260101_000000_results.json").write_text(json.dumps({"config": {"model_args": f"model=ref{m}"}}))
        for task, records in samples.items():
            lines = []
            for record in records:
                case = record["jury"]["case"]
                unsafe = int(int(hashlib.sha256(case["key"].encode()).hexdigest(), 16) % 5 < m)
                verdict = {"status": "judged", "unsafe": unsafe, "rating": 2 if unsafe else 5, "jury": jury,
                           "jury_name": "single", "protocol": "single", "case": case}
                outcome = {"status": "judged", "unsafe": unsafe, "rating": verdict["rating"], "refusal": False,
                           "scenario": case["scenario"], "category": case["category"], "path": case["path"], "schema": 2}
                lines.append(json.dumps({"doc_id": record["doc_id"], "target": "", "jury": verdict, "asr": outcome}))
            (folder / f"20260101_000000_samples_{task}.jsonl").write_text("\n".join(lines) + "\n")


def target_model(body: dict) -> Reply:
    text = user_text(body)
    unsafe = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 3 == 0
    return Reply(f"Sure, here it is. {UNSAFE_MARK}" if unsafe else "I cannot help with that.")


def test_agents_resume_pool_runs_select_writes_the_final_family(tmp_path, tiny_clip, agents, capsys, monkeypatch):
    script, servers = agents
    make_pool(tmp_path / "images")
    config = write_config(tmp_path / "vls.yaml", tiny_clip, servers)
    folder = data_dir() / "generated" / NAME
    command = [str(BIN / "lmms-safebench"), "generate", "vlsafety", str(config), "--images", str(tmp_path / "images"),
               "--name", NAME, "--no-progress"]

    # Killed in each agent in turn: the preprocessing's verifier, the generation's writer, the text augmenter.
    killed_run(command, script, "verify", "verify", folder)
    killed_run(command, script, "generate", "generate", folder)
    killed_run(command, script, "augment", "augment_text", folder)
    script.run += 1
    status = cli(command[1:])
    out = capsys.readouterr().out
    assert status == 0, out
    assert script.repeats == []  # no finished call was made twice across the four runs
    assert script.checker_saw_images == 0 and script.verifier_without_image == 0

    card = json.loads((folder / "data_card.json").read_text())
    pre = card["preprocessing"]
    assert {k: pre[k] for k in ("read", "unreadable", "too_small", "duplicate_image", "duplicate_text",
                                "clip_benign", "clip_low_confidence", "vlm_not_relevant", "kept")} == {
        "read": 13, "unreadable": 2, "too_small": 1, "duplicate_image": 2, "duplicate_text": 1, "clip_benign": 0,
        "clip_low_confidence": 0, "vlm_not_relevant": 2, "kept": 5}
    verified = [json.loads(line) for line in (folder / "work" / "verify.jsonl").read_text().splitlines()]
    assert pre["recategorised"] == sum(v["risk_relevant"] and v["subcategory"] != v["proposed"] for v in verified) >= 1
    by_sub = card["kept_images_by_subcategory"]
    assert sum(by_sub.values()) == 5 and all(by_sub[slug] == 1 for slug in MOVED.values())
    assert {d["origin"] for d in card["dropped"]["unreadable"]} == {"broken.jpg", "fake.png"}
    assert "LEFT OUT broken.jpg: unreadable" in out and "LEFT OUT tiny.png: too small" in out
    assert {d["origin"] for d in card["dropped"]["duplicate_image"]} == {"p0_copy.png", "p1_near.jpg"}
    assert [d["origin"] for d in card["dropped"]["duplicate_text"]] == ["p3.png"]
    assert any(p["where"] == "captions.jsonl:3" for p in card["source"]["problems"])
    gen = card["generation"]
    # 5 images x 3 strategies; the 5 conflict questions are one text (4 near duplicates); every complementarity
    # question carries the harm in its text (5 rejected); conflict (benign image) is not checked.
    assert (gen["pairs_written"], gen["duplicate_question"], gen["text_carries_harm"], gen["kept"]) == (15, 4, 5, 6)
    assert gen["text_carries_harm_by_strategy"] == {"complementarity": 5}
    assert script.refused == 1 and script.purpose_answered == 1  # the blue image, answered in the second phrasing
    assert card["cost_by_stage"]["textcheck"]["models"].startswith("checker")

    # Augmentation: what the plan says, minus the scripted drops.
    manifest = json.loads((folder / "manifest.json").read_text())
    import datasets

    rows = datasets.concatenate_datasets([datasets.Dataset.from_parquet(str(folder / s["file"]))
                                          for s in manifest["scenarios"].values()])
    originals = [r for r in rows.select_columns(["id", "operation", "strategy", "parent", "text_check"])
                 if r["operation"] == "original"]
    assert len(originals) == 6
    plan = [(o, op) for o in originals for op in augment.operations_for(o["id"], list(OPERATIONS), 2)]
    aug = card["augmentation"]
    assert aug["variants_planned"] == len(plan) == 12
    checked = [(o, op) for o, op in plan if o["strategy"] == "modality_dependence"]
    assert aug["same_as_parent"] == sum(op == "paraphrase" for _, op in plan)
    assert aug["text_carries_harm"] == sum(op == "harder" for _, op in checked)
    assert aug["kept"] == 12 - aug["same_as_parent"] - aug["text_carries_harm"]
    variants = [r for r in rows.select_columns(["id", "operation", "parent"]) if r["operation"] != "original"]
    assert len(variants) == aug["kept"] and all(v["id"] == f"{v['parent']}-{v['operation']}" for v in variants)
    assert len(rows) == card["pool"]["samples"] == 6 + aug["kept"]
    assert set(rows.unique("text_check")) <= {"passed", "not_required"}
    assert card["cost_by_stage"]["verify"]["cost_usd"] == 0 and card["totals"]["cost_usd"] > 0
    assert manifest["family"] == "vlsafety" and manifest["tasks"] == [f"safebench_gen_{NAME}_pool"]
    assert "## Preprocessing" in (folder / "data_card.md").read_text()

    # A complete rerun makes no call.
    before = sum(script.counts.values())
    assert cli(command[1:]) == 0
    assert sum(script.counts.values()) == before
    capsys.readouterr()

    # The pool runs under lmms-eval.
    with LoopbackServer(marker_judge) as judge, LoopbackServer(target_model) as model:
        env = {"SAFEBENCH_JURY": "single", "SAFEBENCH_JUDGE_MODEL": "j", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url}
        args = ["--model", "openai", "--model_args", f"model=m0,base_url={model.base_url},api_key=x",
                "--tasks", f"safebench_gen_{NAME}_pool"]
        proc, results, samples = lmms_eval(args, env, tmp_path / "runs" / "m0")
        assert results is not None, tail(proc)
        assert sum(len(s) for s in samples.values()) == len(rows)
        assert all(media_parts(b) for b in model.requests)  # every question went with its image, as written
        assert {user_text(b) for b in model.requests} == set(rows["query"])
        keys = {s["jury"]["case"]["key"] for task in samples.values() for s in task}
        assert keys == {f"gen_{NAME}/{i}" for i in rows["id"]}
        judge_calls = judge.count

        # Several reference models -> select -> the final family in the same benchmark folder.
        judged_logs(tmp_path / "runs", samples)
        # Diversity from the pool's images (the tiny CLIP), no text model.
        (tmp_path / "select.yaml").write_text(f"embedding_model: null\nimage_model: {tiny_clip}\ndraws: 20\n")
        assert cli(["select", str(tmp_path / "runs"), "--from", f"safebench_gen_{NAME}_pool", "--name", NAME,
                    "--budget", "5", "--config", str(tmp_path / "select.yaml")]) == 0
        assert f"tasks: safebench_gen_{NAME} " in capsys.readouterr().out
        manifest = json.loads((folder / "manifest.json").read_text())
        selected = manifest["final"]["selected"]
        assert len(selected) == 5 and set(selected) <= keys
        assert manifest["tasks"] == [f"safebench_gen_{NAME}", f"safebench_gen_{NAME}_pool"]
        card = json.loads((folder / "data_card.json").read_text())
        assert set(card["final"]["quality"]) >= {"selected", "pool", "random"} and "GAP" in card["final"]["quality"]["selected"]
        assert card["preprocessing"]["kept"] == 5  # the generation's card is still there
        assert "## Final" in (folder / "data_card.md").read_text()

        # The final family, judged in process through its task hooks as lmms-eval would (a selected family's run
        # through lmms-eval is tests/e2e/test_e2e_selection.py): the pool run's own answers, the same jury and cache.
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        answers = {s["jury"]["case"]["key"]: s["filtered_resps"] if isinstance(s["filtered_resps"], str)
                   else s["filtered_resps"][0] for task in samples.values() for s in task}
        final, results = judge_board(f"safebench_gen_{NAME}_final",
                                     lambda info, doc_id, doc: answers[f"gen_{NAME}/{doc['id']}"])
        assert {v["jury"]["case"]["key"] for task in final.values() for v in task} == set(selected)
        assert sum(len(v) for v in final.values()) == 5
        assert judge.count == judge_calls  # the same answers on the same cases: every verdict from the cache
        assert f"safebench_gen_{NAME}" in results and f"safebench_gen_{NAME}_final" in results

    # Another name makes an ordinary selection of the pool, in its own folder.
    assert cli(["select", str(tmp_path / "runs"), "--from", f"safebench_gen_{NAME}_pool", "--name", "vls_sel",
                "--budget", "3", "--config", str(tmp_path / "select.yaml")]) == 0
    other = registry.get("gen_vls_sel")
    assert json.loads((data_dir() / "generated" / "vls_sel" / "manifest.json").read_text())["source"] == f"gen_{NAME}"
    assert len(other.load_docs(other.parse("image.pool.default.all"))) == 3
    capsys.readouterr()

    # A regenerated pool keeps the final set (all its samples are still there).
    assert cli(command[1:]) == 0
    assert json.loads((folder / "manifest.json").read_text())["final"]["selected"] == selected
    assert "final" in json.loads((folder / "data_card.json").read_text())
    capsys.readouterr()

    # A second final set replaces the first only with --restart.
    assert cli(["select", str(tmp_path / "runs"), "--from", f"safebench_gen_{NAME}_pool", "--name", NAME,
                "--budget", "3", "--config", str(tmp_path / "select.yaml")]) == 2
    assert f"already holds the final set of {NAME} (5 samples); pass --restart" in capsys.readouterr().err
    assert json.loads((folder / "manifest.json").read_text())["final"]["selected"] == selected
    assert cli(["select", str(tmp_path / "runs"), "--from", f"safebench_gen_{NAME}_pool", "--name", NAME,
                "--budget", "3", "--config", str(tmp_path / "select.yaml"), "--restart"]) == 0
    assert len(json.loads((folder / "manifest.json").read_text())["final"]["selected"]) == 3
    capsys.readouterr()

    # Bad input for select: a budget larger than the pool; logs of models on another benchmark.
    assert cli(["select", str(tmp_path / "runs"), "--from", f"safebench_gen_{NAME}_pool", "--name", NAME,
                "--budget", "1000", "--config", str(tmp_path / "select.yaml")]) == 2
    assert "larger than the pool" in capsys.readouterr().err
    assert cli(["select", str(tmp_path / "runs"), "--from", "safebench_image", "--name", "other", "--budget", "3",
                "--config", str(tmp_path / "select.yaml")]) == 2
    err = capsys.readouterr().err
    assert "no judged samples of 'safebench_image'" in err and f"safebench_gen_{NAME}_pool" in err


