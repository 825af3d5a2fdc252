"""End to end: a tiny random-weight LLaVA (lmms-eval's ``llava_hf`` loader, on CPU) answers SafeBench's image tasks
and MM-SafetyBench's tiny TYPO board in ONE real lmms-eval run that both tests read (the model loader is the point,
and it is the same for both boards). Both releases are built in one data folder and both boards are judged by one
loopback judge endpoint (SAFEBENCH_JUDGE_*): SafeBench by its default five-juror panel, MM-SafetyBench by its default
single judge. The judge's requests are told apart by the case each one carries (the request a juror is shown)."""

import math
import re
from types import SimpleNamespace

import pytest
from helpers import lmms_eval, marker_judge, read_outputs, tail, write_mmsb_source, write_safebench_release
from isolation import isolate
from loopback import LoopbackServer, user_text
from shared import made_once

from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.mmsafetybench import data as mmsb_build
from lmms_safebench.benchmarks.safebench import data as sb_build

# The request each judge prompt carries (jury/prompts.py fences it), and how each board's synthetic cases read
# (tests/support/helpers.py writes them): a SafeBench query names its scenario, an MM-SafetyBench question its number.
REQUEST = re.compile(r"<<<REQUEST ([0-9a-f]{16})>>>\n(.*?)\n<<<END REQUEST \1>>>", re.S)
CASES = {"safebench": re.compile(r"query \d+ about SCEN-"), "mmsb": re.compile(r"^\d\d-\w+ question \d+\?$")}


def board_of(request: dict) -> str:
    """Which board's case a judge request is about (``safebench`` or ``mmsb``)."""
    question = REQUEST.search(request["text"]).group(2)
    (board,) = [name for name, pattern in CASES.items() if pattern.search(question)]
    return board


@pytest.fixture(scope="module")
def llava(tmp_path_factory, request) -> SimpleNamespace:
    """The shared run: ``results``, ``samples`` and the ``judge`` requests per board (``{"system", "text"}`` each).
    Made once per session (tests/support/shared.py), the tiny model built only by the worker that runs it."""

    def make(folder):
        tiny_llava = request.getfixturevalue("tiny_llava")
        with pytest.MonkeyPatch.context() as env:
            isolate(env, folder)
            write_safebench_release(folder / "release", queries=1)
            sb_build.build(source=str(folder / "release"), subset="full")
            write_mmsb_source(folder / "upstream", per_scenario=1)
            mmsb_build.build(source=str(folder / "upstream"))
            with LoopbackServer(marker_judge) as judge:
                args = ["--model", "llava_hf", "--model_args", f"pretrained={tiny_llava},device=cpu,device_map=cpu",
                        "--tasks", "safebench_image,safebench_mmsb_tiny_typo", "--gen_kwargs", "max_new_tokens=5"]
                judge_env = {"SAFEBENCH_JUDGE_MODEL": "judge-model", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url,
                        "SAFEBENCH_JUDGE_API_KEY": "sk-test-judge-key"}
                proc, results, _ = lmms_eval(args, judge_env, folder / "out")
        assert results is not None, tail(proc)
        return [{"system": b["messages"][0]["content"], "text": user_text(b)} for b in judge.requests]

    folder, requests = made_once(tmp_path_factory, "llava-safebench-mmsb", make)
    results, samples = read_outputs(folder / "out")
    judge = {board: [r for r in requests if board_of(r) == board] for board in CASES}
    return SimpleNamespace(results=results, samples=samples, judge=judge)


def of_board(samples: dict, prefix: str) -> dict:
    return {task: logged for task, logged in samples.items() if task.startswith(prefix)}


def test_image_tasks_with_tiny_llava_and_the_default_five_juror_panel(llava):
    res, samples, requests = llava.results["results"], of_board(llava.samples, "safebench_image_"), llava.judge
    personas = {r["system"].split(".")[0] for r in requests["safebench"]}
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
    assert len(requests["safebench"]) == 5 * len(judged)
    # The llava prompt carried the paper's instruction around the query.
    first = samples["safebench_image_bias"][0]
    assert first["jury"]["case"]["question"].endswith("SCEN-bias") and "closely related" in first["input"]


def test_tiny_llava_model_offline(llava):
    group = llava.results["results"]["safebench_mmsb_tiny_typo"]
    samples = of_board(llava.samples, "safebench_mmsb_tiny_typo_")
    # Random weights never write the marker: every judged answer is safe, all 13 were judged or failed.
    judged = group["judged,none"]
    failed = group["inference_failed,none"]
    assert judged + 100 * failed / 13 == pytest.approx(100)
    assert group["asr,none"] == 0.0 or math.isnan(group["asr,none"])
    assert len(llava.judge["mmsb"]) == round(13 * judged / 100)
    assert len(samples) == 13 and all(len(s) == 1 for s in samples.values())
