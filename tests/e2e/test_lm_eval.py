"""The text-only tasks under the real lm-eval CLI, with a tiny random-weight causal LM built offline."""

import json

from helpers import BIN, marker_judge, read_outputs, run_cli, tail, write_mmsb_source
from loopback import LoopbackServer

from lmms_safebench.benchmarks.mmsafetybench import data as build_mod
from lmms_safebench.harness.discovery import lm_eval_tasks_dir


def test_lm_eval_text_tasks_with_tiny_causal_lm(tmp_path, tiny_lm):
    write_mmsb_source(tmp_path / "upstream", per_scenario=2)
    build_mod.build(source=str(tmp_path / "upstream"))
    with LoopbackServer(marker_judge) as judge:
        env = {"SAFEBENCH_JUDGE_MODEL": "judge", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url}
        proc = run_cli([str(BIN / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={tiny_lm}",
                        "--device", "cpu", "--include_path", str(lm_eval_tasks_dir()), "--tasks",
                        "safebench_mmsb_tiny_text_defended", "--gen_kwargs", "max_gen_toks=4",
                        "--output_path", str(tmp_path / "out"), "--log_samples"], env)
        results, samples = read_outputs(tmp_path / "out")
        assert results is not None, tail(proc)
        assert judge.count == 13
        # The juror saw the original question (text-only pairing), not the image-referring rewrite.
        assert all("question 1?" in json.dumps(b) for b in judge.requests)
    group = results["results"]["safebench_mmsb_tiny_text_defended"]
    assert group["asr,none"] == 0.0 and group["judged,none"] == 100.0
    task = results["results"]["safebench_mmsb_tiny_text_defended_08_political_lobbying"]
    assert task["jury,none"]["calls"] == 1 and task["jury,none"]["protocol"] == "single"
    logged = samples["safebench_mmsb_tiny_text_defended_08_political_lobbying"][0]
    assert logged["jury"]["status"] == "judged" and logged["jury"]["rounds"][0][0]["juror"] == "judge"
    assert logged["arguments"]["gen_args_0"]["arg_0"].startswith("First decide whether the following request is unsafe")


def test_lm_eval_safebench_text_and_minibench(tmp_path, tiny_lm):
    from helpers import write_safebench_release

    from lmms_safebench.benchmarks import safebench as sb
    from lmms_safebench.benchmarks.safebench import data as sb_build

    write_safebench_release(tmp_path / "release", queries=1)
    write_safebench_release(tmp_path / "release", queries=1, scenarios=sb.SCENARIOS[:10], mini=True)
    sb_build.build(source=str(tmp_path / "release"), subset="all")
    with LoopbackServer(marker_judge) as judge:
        env = {"SAFEBENCH_JURY": "single", "SAFEBENCH_JUDGE_MODEL": "judge", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url}
        proc = run_cli([str(BIN / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={tiny_lm}",
                        "--device", "cpu", "--include_path", str(lm_eval_tasks_dir()), "--tasks",
                        "safebench_text,safebench_mini_text", "--gen_kwargs", "max_gen_toks=4",
                        "--output_path", str(tmp_path / "out"), "--log_samples"], env)
        results, samples = read_outputs(tmp_path / "out")
        assert results is not None, tail(proc)
        assert judge.count == 33
    res = results["results"]
    assert {f"safebench_text_{c.slug}" for c in sb.CATEGORIES} <= set(res)
    assert res["safebench_text"]["asr,none"] == 0.0 and res["safebench_text"]["sri,none"] == 100.0
    mini = res["safebench_mini_text"]
    assert len(mini["by_scenario,none"]) == 10 and mini["jury,none"]["calls"] == 10
    logged = samples["safebench_text_bioethics"][0]
    assert logged["jury"]["case"]["scenario"] == "bioethics" and logged["jury"]["status"] == "judged"
    # lm-eval keeps each document in its log: a re-judge needs no dataset and gives the same task values.
    with LoopbackServer(marker_judge) as judge:
        env["SAFEBENCH_JUDGE_BASE_URL"] = judge.base_url
        env["SAFEBENCH_CACHE"] = str(tmp_path / "fresh-cache")
        env["SAFEBENCH_DATA"] = str(tmp_path / "no-data-here")
        proc = run_cli([str(BIN / "lmms-safebench"), "judge", "--no-progress", str(tmp_path / "out"), "--output",
                        str(tmp_path / "judged")], env)
        assert proc.returncode == 0 and judge.count == 33, tail(proc)
    rejudged, _ = read_outputs(tmp_path / "judged")
    assert len(samples) == 24
    for task in samples:  # the tasks (lm-eval's groups average differently; see the task README)
        for metric in ("asr", "sri", "judged", "refusal_rate", "unjudged", "inference_failed"):
            assert rejudged["results"][task][f"{metric},none"] == res[task][f"{metric},none"], (task, metric)
