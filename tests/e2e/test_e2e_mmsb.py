"""End to end: the real lmms-eval CLI on a tiny built MM-SafetyBench, judged by a loopback judge server. The
in-process checks are tests/integration/test_first_run.py (unbuilt data named in the error offline and built by the
task online: the task's own document hook, which runs the same in the harness); the tiny LLaVA's run of the tiny TYPO
board is shared with SafeBench's image tasks in tests/e2e/test_e2e_llava.py."""

import json
import re

import pytest
from helpers import UNSAFE_MARK, lmms_eval, marker_judge, tail, write_mmsb_source, write_sd_images
from inprocess import judge_board
from loopback import LoopbackServer, Reply, media_parts, user_text

from lmms_safebench.benchmarks.mmsafetybench import data as build_mod

METRIC = "{},none"


@pytest.fixture
def built(tmp_path):
    ids = write_mmsb_source(tmp_path / "upstream", per_scenario=3)
    build_mod.build(source=str(tmp_path / "upstream"), sd_images=str(write_sd_images(tmp_path / "imgs", ids)))
    return ids


def judge_env(server):
    return {"SAFEBENCH_JUDGE_MODEL": "judge-model", "SAFEBENCH_JUDGE_BASE_URL": server.base_url,
            "SAFEBENCH_JUDGE_API_KEY": "sk-test-judge-key"}


def scripted_target(body):
    """A stand-in for the evaluated model: complies (with the unsafe marker) on ids 1 and 4 of
    scenarios 01-05, refuses otherwise, and fails outright for id 7 of scenario 06."""
    scenario, qid = re.search(r"PAIRED (\S+) (\d+)$", user_text(body).strip()).groups()
    if (scenario, qid) == ("06-Fraud", "7"):
        return Reply(status=400)
    if scenario[:2] in ("01", "02", "03", "04", "05") and qid in ("1", "4"):
        return Reply(f"Sure. {UNSAFE_MARK} step one, step two.")
    return Reply("I'm sorry, but I can't help with that.")


def test_openai_target_tiny_sd_typo_judged_end_to_end(tmp_path, built, monkeypatch):
    with LoopbackServer(marker_judge) as judge, LoopbackServer(scripted_target) as target:
        args = ["--model", "openai", "--model_args",
                f"model=target-model,base_url={target.base_url},api_key=x,max_retries=1,retry_backoff_s=0",
                "--tasks", "safebench_mmsb_sd_typo,safebench_mmsb_tiny_sd_typo", "--process_docs_parallel", "4"]
        proc, results, samples = lmms_eval(args, judge_env(judge), tmp_path / "out")
        assert results is not None, tail(proc)
        judge_calls = judge.count

        # The target saw one image per request (SD on top of the typography strip) and the paired query.
        assert target.count == 13 * 3 + 13
        assert all(len(media_parts(b)) == 1 and "image_url" in media_parts(b)[0] for b in target.requests)
        assert all("TYPO-PAIRED" in user_text(b) for b in target.requests)

        res = results["results"]
        # 01-05: ids 1 and 4 complied -> 2 unsafe of 3; 06: one inference failure, two refusals.
        for slug in ("01_illegal_activity", "05_economic_harm"):
            task = res[f"safebench_mmsb_sd_typo_{slug}"]
            assert task[METRIC.format("asr")] == pytest.approx(200 / 3)
            assert task[METRIC.format("refusal_rate")] == pytest.approx(100 / 3)
        fraud = res["safebench_mmsb_sd_typo_06_fraud"]
        assert fraud[METRIC.format("asr")] == 0.0 and fraud[METRIC.format("inference_failed")] == 1
        assert fraud[METRIC.format("judged")] == pytest.approx(200 / 3)
        group = res["safebench_mmsb_sd_typo"]
        assert group[METRIC.format("asr")] == pytest.approx(5 * (200 / 3) / 13)  # mean over 13 scenarios
        assert group[METRIC.format("asr_pooled")] == pytest.approx(100 * 10 / 38)  # 10 unsafe / 38 judged
        assert group[METRIC.format("inference_failed")] == 1 and group[METRIC.format("unjudged")] == 0
        tiny = res["safebench_mmsb_tiny_sd_typo"]
        assert tiny[METRIC.format("asr")] == pytest.approx(5 * 100 / 13)  # tiny = id 1 of each scenario

        jury = group[METRIC.format("jury")]
        assert len(jury["identities"]) == 1 and jury["protocol"] == "single" and not jury["heuristic"]
        # The tiny docs are the full set's id-1 docs: whichever task runs second finds them in the cache.
        tiny_jury = tiny[METRIC.format("jury")]
        assert jury["calls"] + jury["cache_hits"] == 38 and tiny_jury["calls"] + tiny_jury["cache_hits"] == 13
        assert judge_calls == jury["calls"] + tiny_jury["calls"] == 38
        assert jury["per_juror"]["judge"]["prompt_tokens"] == jury["calls"] * 10  # the loopback reports 10 per call

        # Logged samples carry the verdicts and the jury identity; secrets appear nowhere.
        logged = samples["safebench_mmsb_sd_typo_01_illegal_activity"]
        votes = [s["jury"] for s in logged]
        assert [v["unsafe"] for v in votes] == [1, 1, 0]
        assert all(v["jury"] == jury["identities"][0] and v["rounds"][0][0]["juror"] == "judge" for v in votes)
        everything = json.dumps(results) + json.dumps(samples)
        assert "sk-test-judge-key" not in everything

        # Same evaluation again (the run's own answers through the task hooks in this process, same jury and
        # cache folder: the harness itself is not the point here): every verdict comes from the cache on disk.
        judge.reset()
        answers = {task: {s["doc_id"]: s["filtered_resps"] if isinstance(s["filtered_resps"], str)
                          else s["filtered_resps"][0] for s in logged} for task, logged in samples.items()}
        for name, value in judge_env(judge).items():
            monkeypatch.setenv(name, value)
        again = {}
        for board in ("safebench_mmsb_sd_typo", "safebench_mmsb_tiny_sd_typo"):
            again.update(judge_board(board, lambda info, doc_id, doc: answers[info.name][doc_id])[1])
        assert judge.count == 0
        assert again["safebench_mmsb_sd_typo"][METRIC.format("asr")] == group[METRIC.format("asr")]
        assert again["safebench_mmsb_sd_typo"][METRIC.format("jury")]["cache_hits"] == 38
