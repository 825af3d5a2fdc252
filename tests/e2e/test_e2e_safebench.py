"""End to end: SafeBench tasks under the real lmms-eval CLI on a synthetic release in the official layout."""

import base64
import io
import re

import pytest
import soundfile
from helpers import (
    UNSAFE_MARK,
    dominant_frequency,
    lmms_eval,
    marker_judge,
    tail,
    write_safebench_release,
)
from jury_panel import PANEL, PanelScript, case_target
from loopback import LoopbackServer, Reply, media_parts, user_text

from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.safebench import data as build_mod


def judge_env(server, **extra):
    return {"SAFEBENCH_JUDGE_MODEL": "judge", "SAFEBENCH_JUDGE_BASE_URL": server.base_url, **extra}


def test_image_tasks_with_tiny_llava_and_the_default_five_juror_panel(tmp_path, tiny_llava):
    write_safebench_release(tmp_path / "release", queries=1)
    build_mod.build(source=str(tmp_path / "release"), subset="full")
    with LoopbackServer(marker_judge) as judge:
        args = ["--model", "llava_hf", "--model_args", f"pretrained={tiny_llava},device=cpu,device_map=cpu",
                "--tasks", "safebench_image", "--gen_kwargs", "max_new_tokens=5"]
        proc, results, samples = lmms_eval(args, judge_env(judge), tmp_path / "out")
        assert results is not None, tail(proc)
        personas = {b["messages"][0]["content"].split(".")[0] for b in judge.requests}
    res = results["results"]
    assert len(samples) == 23 and {f"safebench_image_{c.slug}" for c in sb.CATEGORIES} <= set(res)
    top = res["safebench_image"]
    jury = top["jury,none"]
    assert jury["protocol"] == "jury" and jury["mode"] == "fast" and jury["name"] == "panel"
    assert set(jury["per_juror"]) == {"elder", "citizen", "guardian", "expert", "ethicist"} and len(personas) == 5
    judged = [s["jury"] for task in samples.values() for s in task if s["jury"]["status"] == "judged"]
    # Random weights never write the marker: unanimous "safe" in round one, so deliberation is skipped.
    assert judged and all(v["early_consensus"] and len(v["rounds"]) == 1 and v["unsafe"] == 0 for v in judged)
    assert top["asr,none"] == 0.0 and top["sri,none"] == 100.0
    assert jury["agreement"]["round_one"]["unanimous_share"] == 100.0
    assert judge.count == 5 * len(judged)
    # The llava prompt carried the paper's instruction around the query.
    first = samples["safebench_image_bias"][0]
    assert first["jury"]["case"]["question"].endswith("SCEN-bias") and "closely related" in first["input"]


def audio_target(expected: dict):
    """Checks every request carries one WAV whose tone names a known query; complies on odd folders."""
    def respond(body):
        parts = media_parts(body)
        assert len(parts) == 1 and parts[0]["type"] == "audio_url", parts
        url = parts[0]["audio_url"]["url"]
        assert url.startswith("data:audio/wav;base64,")
        samples, rate = soundfile.read(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        frequency = round(dominant_frequency(samples, rate) / 5) * 5
        k = expected[frequency]
        respond.heard.append((k, user_text(body)))
        return Reply(f"Sure. {UNSAFE_MARK}" if k % 2 else "I cannot help with that.")

    respond.heard = []
    return respond


def test_audio_tasks_reach_an_openai_compatible_model_as_wav(tmp_path):
    layout = write_safebench_release(tmp_path / "release", queries=2, scenarios=sb.SCENARIOS[:10], mini=True)
    build_mod.build(source=str(tmp_path / "release"), subset="mini")
    expected = {round((200 + 10 * k + i) / 5) * 5: k for k in layout for i in (1, 2)}
    target = audio_target(expected)
    with LoopbackServer(marker_judge) as judge, LoopbackServer(target) as model:
        args = ["--model", "openai", "--model_args", f"model=audio-model,base_url={model.base_url},api_key=x",
                "--tasks", "safebench_mini_audio_female,safebench_mini_audio_female_affirmative"]
        proc, results, samples = lmms_eval(args, judge_env(judge, SAFEBENCH_JURY="single"), tmp_path / "out")
        assert results is not None, tail(proc)
    assert len(target.heard) == 40 and {k for k, _ in target.heard} == set(layout)
    texts = [text for _, text in target.heard]
    assert texts.count("") == 20  # audio only: no text at all
    assert texts.count(sb.AFFIRMATIVE_INSTRUCTION) == 20
    for task in ("safebench_mini_audio_female", "safebench_mini_audio_female_affirmative"):
        res = results["results"][task]
        assert res["asr,none"] == 50.0  # odd folders comply: 5 of the 10 scenarios, every query
        table = res["by_scenario,none"]
        assert len(table) == 10 and sorted(v["asr"] for v in table.values()) == [0.0] * 5 + [100.0] * 5
    # The jury judged the text form of the spoken query.
    assert all(re.search(r"query \d about SCEN-", user_text(b)) for b in judge.requests)


@pytest.mark.parametrize("early", [True, False], ids=["fast", "strict"])
def test_five_juror_deliberation_ties_quorum_and_early_consensus(tmp_path, early):
    write_safebench_release(tmp_path / "release", queries=1)
    build_mod.build(source=str(tmp_path / "release"), subset="full")
    with LoopbackServer(PanelScript()) as judge, LoopbackServer(case_target) as model:
        jury_file = tmp_path / "panel.yaml"
        jury_file.write_text(PANEL.format(early=str(early).lower(), url=judge.base_url))
        args = ["--model", "openai", "--model_args", f"model=m,base_url={model.base_url},api_key=x",
                "--tasks", "safebench_text", "--process_docs_parallel", "3"]
        proc, results, samples = lmms_eval(args, {"SAFEBENCH_JURY": str(jury_file)}, tmp_path / "out")
        assert results is not None, tail(proc)
        calls = judge.count
    verdicts = {s["jury"]["case"]["scenario"]: s["jury"] for task in samples.values() for s in task}
    assert len(verdicts) == 23
    by_case = {}
    for index, scenario in enumerate(sb.SCENARIOS):
        by_case.setdefault(PanelScript.CASES[index % 5], []).append(verdicts[scenario.slug])
    mode = "fast" if early else "strict"
    for v in verdicts.values():
        assert v["mode"] == mode and v["rule"] == "majority(tie=unsafe)" and v["protocol"] == "jury"
    for v in by_case["UNANIMOUS_SAFE"]:
        assert v["unsafe"] == 0 and v["early_consensus"] is early and len(v["rounds"]) == (1 if early else 2)
    for v in by_case["UNANIMOUS_UNSAFE"]:
        assert v["unsafe"] == 1 and v["rating"] == 1.0
    for v in by_case["FLIP"]:  # 2-3 in round one, 3-2 after deliberation
        assert [r["unsafe"] for r in v["rounds"][0]] == [1, 1, 0, 0, 0]
        assert [r["unsafe"] for r in v["rounds"][1]] == [1, 1, 1, 0, 0] and v["unsafe"] == 1
        j3_prompt_saw_others = v["rounds"][1][2]["status"] == "ok"
        assert j3_prompt_saw_others and not v["early_consensus"]
    for v in by_case["TIE"]:  # j5 abstains, 2-2 -> the tie rule says unsafe
        assert v["votes"] == {"unsafe": 2, "safe": 2} and v["unsafe"] == 1 and v["status"] == "judged"
    for v in by_case["QUORUM"]:
        assert v["status"] == "unjudged" and v["unsafe"] is None and "quorum" in v["reason"]
    counts = {case: len(vs) for case, vs in by_case.items()}
    expected_calls = 10 * 23 - (5 * (counts["UNANIMOUS_SAFE"] + counts["UNANIMOUS_UNSAFE"]) if early else 0)
    assert calls == expected_calls
    top = results["results"]["safebench_text"]
    judged = 23 - counts["QUORUM"]
    assert top["unjudged,none"] == counts["QUORUM"] and top["asr_pooled,none"] == pytest.approx(
        100 * (judged - counts["UNANIMOUS_SAFE"]) / judged)
    jury = top["jury,none"]
    assert jury["juror_asr"]["j1"]["valid"] == 23 and jury["juror_asr"]["j5"]["valid"] == 23 - counts["TIE"] - counts["QUORUM"]
    assert 0 < jury["agreement"]["round_one"]["unanimous_share"] < 100
    assert len(jury["identities"]) == 1
