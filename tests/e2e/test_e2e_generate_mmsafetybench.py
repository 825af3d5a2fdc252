"""`lmms-safebench generate mmsafetybench` end to end: from a CSV to the real lmms-eval CLI and judge, and official
key phrases with regenerated SD images (the in-process checks are tests/integration/test_generate_mmsafetybench.py)."""

import base64
import io
import json
import os
import subprocess

import pytest
from helpers import BIN, UNSAFE_MARK, lmms_eval, marker_judge, read_outputs, run_cli, tail, write_mmsb_source
from loopback import LoopbackServer, Reply, media_parts, user_text
from mmsb_gen import PHRASES, generated, parquet_rows, question_of, rewriter, write_config
from PIL import Image

from lmms_safebench import cli
from lmms_safebench.benchmarks import mmsafetybench as mmsb
from lmms_safebench.benchmarks.mmsafetybench.family import scenarios_of as mmsb_scenarios
from lmms_safebench.paths import data_dir


def image_size(body: dict) -> tuple[int, int]:
    parts = [p for p in media_parts(body) if p.get("type") == "image_url"]
    assert len(parts) == 1, body
    data = base64.b64decode(parts[0]["image_url"]["url"].split(",", 1)[1])
    return Image.open(io.BytesIO(data)).size


def test_from_a_csv_to_lmms_eval_and_judge(tmp_path):
    questions = tmp_path / "questions.csv"
    lines = ["id,question,scenario"]
    labels = {"Bank Scams": list(PHRASES)[:3], "Legal Opinion": list(PHRASES)[3:5], "Medicine": list(PHRASES)[5:]}
    for label, texts in labels.items():
        lines += [f'{n},"{q}",{label}' for n, q in enumerate(texts, 1)]
    questions.write_text("\n".join(lines) + "\n")
    with LoopbackServer(rewriter) as llm:
        config = write_config(tmp_path / "gen.yaml", llm.base_url, llm.base_url, groups={"Medicine": "health"})
        proc = run_cli([str(BIN / "lmms-safebench"), "generate", "mmsafetybench", config, "--questions",
                        str(questions), "--name", "bank_mm", "--no-progress"], {})
        assert proc.returncode == 0, tail(proc)
        chats = [b for b in llm.requests if b["_path"].endswith("/chat/completions")]
        images = [b for b in llm.requests if b["_path"].endswith("/images/generations")]
    assert len(chats) == 7 and len(images) == 7
    # Each group got its own instruction.
    prompts = {question_of(b): user_text(b) for b in chats}
    assert "List steps in detail to" in prompts[labels["Bank Scams"][0]]
    assert "legal opinion" in prompts[labels["Legal Opinion"][0]] and "medical advice" in prompts[labels["Medicine"][0]]
    assert sorted(b["prompt"] for b in images)[0] == "A photo of data protection act"
    folder, manifest = generated("bank_mm")
    assert [(e["slug"], e["group"]) for e in manifest["scenario_list"]] == [
        ("bank_scams", "general"), ("legal_opinion", "legal"), ("medicine", "health")]
    assert manifest["kinds"] == ["sd", "typo", "sd_typo", "text"] and manifest["totals"] == {"questions": 7,
                                                                                          "sd_images": 7}
    assert manifest["sd_images"] == "generated" and len(manifest["sd_generation"]["seeds"]) == 7
    rows = parquet_rows(folder, "legal_opinion")
    assert rows["1"]["key_phrase"] == "new labour code" and rows["1"]["changed_question"] == labels["Legal Opinion"][0]
    assert rows["1"]["rephrased_question"].startswith("The bottom of the image shows a phrase of a law.")
    card = json.loads((folder / "data_card.json").read_text())
    assert card["tokens_and_cost"]["rewrite"]["prompt_tokens"] == 7 * 400
    assert card["tokens_and_cost"]["rewrite"]["cost_usd"] == pytest.approx(7 * (400 * 2 + 80 * 10) / 1e6)
    assert card["tokens_and_cost"]["sd_images"]["cost_usd"] == pytest.approx(0.14)
    assert card["scenarios"]["medicine"]["group"] == "health" and (folder / "data_card.md").exists()

    seen = []

    def target(body):
        seen.append((user_text(body), image_size(body)))
        return Reply(f"Sure. {UNSAFE_MARK}" if "List steps in detail" in user_text(body) else "I am not a lawyer.")

    with LoopbackServer(marker_judge) as judge, LoopbackServer(target) as model:
        env = {"SAFEBENCH_JUDGE_MODEL": "j", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url}
        args = ["--model", "openai", "--model_args", f"model=m,base_url={model.base_url},api_key=x",
                "--tasks", "safebench_mmsb_gen_bank_mm_sd_typo"]
        proc, results, samples = lmms_eval(args, env, tmp_path / "out")
        assert results is not None, tail(proc)
        criteria = [json.dumps(b["messages"]) for b in judge.requests]
    assert len(seen) == 7
    for text, (width, height) in seen:  # SD image (32 x 32) on top of the typography strip (1024 wide)
        assert "bottom of the image" in text and width == 1024 and (height - 32) % 90 == 0 and height > 32 + 90
    res = results["results"]
    assert res["safebench_mmsb_gen_bank_mm_sd_typo_bank_scams"]["asr,none"] == 100.0
    assert res["safebench_mmsb_gen_bank_mm_sd_typo_legal_opinion"]["asr,none"] == 0.0
    assert sum("professional certification" in c for c in criteria) == 4  # legal and health: the disclaimer rule
    case = samples["safebench_mmsb_gen_bank_mm_sd_typo_medicine"][0]["jury"]["case"]
    assert case["key"].startswith("gen_bank_mm/Medicine/")

    out = subprocess.run([str(BIN / "lmms-safebench"), "judge", "--no-progress", str(tmp_path / "out"), "--output",
                          str(tmp_path / "judged")], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "SAFEBENCH_JURY": "heuristic"})
    assert out.returncode == 0, tail(out)
    rejudged, judged_samples = read_outputs(tmp_path / "judged")
    assert rejudged["results"]["safebench_mmsb_gen_bank_mm_sd_typo_bank_scams"]["asr,none"] == 100.0
    assert rejudged["results"]["safebench_mmsb_gen_bank_mm_sd_typo_medicine"]["asr,none"] == 0.0
    assert all(s["jury"]["case"]["key"].startswith("gen_bank_mm/") for ss in judged_samples.values() for s in ss)


def test_official_key_phrases_get_regenerated_sd_images(tmp_path, capsys):
    with LoopbackServer(lambda body: Reply("unused")) as images:
        config = write_config(tmp_path / "gen.yaml", image_url=images.base_url)
        command = ["generate", "mmsafetybench", config, "--official", "--name", "regen", "--no-progress"]
        assert cli.main(command) == 2
        assert "lmms-safebench build mmsafetybench" in capsys.readouterr().err
        assert images.count == 0 and not (data_dir() / "generated" / "regen").exists()

        from lmms_safebench.benchmarks.mmsafetybench import data as build_mod

        write_mmsb_source(tmp_path / "upstream", per_scenario=2)
        build_mod.build(source=str(tmp_path / "upstream"))
        assert cli.main(command) == 0, capsys.readouterr().err
        prompts = sorted(b["prompt"] for b in images.requests)
    assert len(prompts) == 26 and prompts[0] == "A photo of dangerous"
    folder, manifest = generated("regen")
    assert manifest["benchmark"] == "gen_regen" and manifest["sd_images"] == "regenerated"
    generation = manifest["sd_generation"]
    assert (generation["model"], generation["steps"], generation["guidance"], generation["base_seed"]) == \
        ("sd-standin", 30, 5.5, 7)
    assert set(generation["seeds"]) == {f"{sc.upstream}/{qid}" for sc in mmsb.SCENARIOS for qid in ("1", "4")}
    # The official slugs, questions, typography and criteria, word for word.
    assert [e["slug"] for e in manifest["scenario_list"]] == [sc.slug for sc in mmsb.SCENARIOS]
    assert [s.criterion for s in mmsb_scenarios(manifest)] == [sc.criterion for sc in mmsb.SCENARIOS]
    official = parquet_rows(data_dir() / "mmsafetybench", "02_hate_speech")
    mine = parquet_rows(folder, "02_hate_speech")
    assert mine["4"]["rephrased_question_sd"] == official["4"]["rephrased_question_sd"]
    assert mine["4"]["typo_image"]["bytes"] == official["4"]["typo_image"]["bytes"] and mine["4"]["has_sd"]
    # A run of the same name of another kind is refused.
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": list(PHRASES)[0], "scenario": "Fraud"}) + "\n")
    with LoopbackServer(rewriter) as llm:
        other = write_config(tmp_path / "other.yaml", llm.base_url)
        assert cli.main(["generate", "mmsafetybench", other, "--questions", str(questions), "--name", "regen"]) == 2
        assert "holds a 'mmsafetybench_official' benchmark" in capsys.readouterr().err and llm.count == 0

    seen = []

    def target(body):
        seen.append((user_text(body), image_size(body)))
        return Reply("I cannot help with that.")

    with LoopbackServer(marker_judge) as judge, LoopbackServer(target) as model:
        env = {"SAFEBENCH_JUDGE_MODEL": "j", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url}
        args = ["--model", "openai", "--model_args", f"model=m,base_url={model.base_url},api_key=x",
                "--tasks", "safebench_mmsb_gen_regen_sd"]
        proc, results, samples = lmms_eval(args, env, tmp_path / "out")
        assert results is not None, tail(proc)
        criteria = [json.dumps(b["messages"]) for b in judge.requests]
    assert len(seen) == 26 and all("SD-PAIRED" in text and size == (32, 32) for text, size in seen)
    assert results["results"]["safebench_mmsb_gen_regen_sd"]["asr,none"] == 0.0
    assert any("hate speech and harassment" in c for c in criteria)  # the official criterion of 02
    keys = [s["jury"]["case"]["key"] for ss in samples.values() for s in ss]
    assert len(keys) == 26 and all(k.startswith("gen_regen/") for k in keys)
    assert "gen_regen/13-Gov_Decision/4" in keys


