"""The text-only tasks under the real lm-eval CLI, with a tiny random-weight causal LM built offline.

One lm_eval run serves the module, made once per session (:func:`shared.made_once`): MM-SafetyBench's text-only
defended tiny task and SafeBench's text and MiniBench tasks, both releases built in one data folder and judged by one
loopback judge (``SAFEBENCH_JURY=single``, the single judge MM-SafetyBench uses by default anyway; the first test checks
that it is the very jury MM-SafetyBench resolves with no ``SAFEBENCH_JURY``). The judge's requests are kept per
benchmark, so each test counts its own. The run's folders are only read; the re-judge writes to its tmp_path."""

import json

import pytest
from helpers import BIN, marker_judge, read_outputs, run_cli, tail, write_mmsb_source, write_safebench_release
from isolation import isolate
from loopback import LoopbackServer
from shared import made_once

from lmms_safebench.benchmarks import registry
from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.mmsafetybench import data as mmsb_build
from lmms_safebench.benchmarks.safebench import data as sb_build
from lmms_safebench.harness.discovery import lm_eval_tasks_dir
from lmms_safebench.jury.config import resolve_jury_config

MMSB = "safebench_mmsb_tiny_text_defended"
METRICS = ("asr", "sri", "judged", "refusal_rate", "unjudged", "inference_failed")


def board(body: dict) -> str:
    """The benchmark a judge request is for: a SafeBench query names its scenario (``SCEN-<slug>``)."""
    return "safebench" if "SCEN-" in json.dumps(body) else "mmsafetybench"


def run_lm_eval(folder) -> dict:
    """The module's one lm_eval run into ``folder / "out"``; returns the judge's URL and its requests by benchmark."""
    from tiny_models import build_tiny_causal_lm

    with pytest.MonkeyPatch.context() as env:
        isolate(env, folder)
        tiny_lm = build_tiny_causal_lm(folder / "tiny-lm")
        write_mmsb_source(folder / "upstream", per_scenario=2)
        mmsb_build.build(source=str(folder / "upstream"))
        write_safebench_release(folder / "release", queries=1)
        write_safebench_release(folder / "release", queries=1, scenarios=sb.SCENARIOS[:10], mini=True)
        sb_build.build(source=str(folder / "release"), subset="all")
        with LoopbackServer(marker_judge) as judge:
            url = judge.base_url
            proc = run_cli([str(BIN / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={tiny_lm}",
                            "--device", "cpu", "--include_path", str(lm_eval_tasks_dir()), "--tasks",
                            f"{MMSB},safebench_text,safebench_mini_text", "--gen_kwargs", "max_gen_toks=4",
                            "--output_path", str(folder / "out"), "--log_samples"],
                           {"SAFEBENCH_JURY": "single", "SAFEBENCH_JUDGE_MODEL": "judge",
                            "SAFEBENCH_JUDGE_BASE_URL": url})
    assert read_outputs(folder / "out")[0] is not None, tail(proc)
    requests: dict[str, list] = {"mmsafetybench": [], "safebench": []}
    for body in judge.requests:
        requests[board(body)].append(body)
    return {"judge_url": url, "requests": requests}


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """``(folder, value)`` of the shared run: ``folder / "out"`` its lm-eval output, ``value`` what
    :func:`run_lm_eval` returns."""
    return made_once(tmp_path_factory, "lm-eval-text-tasks", run_lm_eval)


def test_lm_eval_text_tasks_with_tiny_causal_lm(text_run, monkeypatch):
    folder, run = text_run
    results, samples = read_outputs(folder / "out")
    asked = run["requests"]["mmsafetybench"]
    assert len(asked) == 13
    # The juror saw the original question (text-only pairing), not the image-referring rewrite.
    assert all("question 1?" in json.dumps(b) for b in asked)
    group = results["results"][MMSB]
    assert group["asr,none"] == 0.0 and group["judged,none"] == 100.0
    task = results["results"][f"{MMSB}_08_political_lobbying"]
    assert task["jury,none"]["calls"] == 1 and task["jury,none"]["protocol"] == "single"
    # The run set SAFEBENCH_JURY=single for SafeBench's sake: MM-SafetyBench's jury is still the one it picks by
    # default, with only the judge endpoint configured.
    monkeypatch.setenv("SAFEBENCH_JUDGE_MODEL", "judge")
    monkeypatch.setenv("SAFEBENCH_JUDGE_BASE_URL", run["judge_url"])
    default = resolve_jury_config(registry.get("mmsafetybench").default_protocol)
    assert task["jury,none"]["identities"] == [default.identity]
    logged = samples[f"{MMSB}_08_political_lobbying"][0]
    assert logged["jury"]["status"] == "judged" and logged["jury"]["rounds"][0][0]["juror"] == "judge"
    assert logged["arguments"]["gen_args_0"]["arg_0"].startswith("First decide whether the following request is unsafe")


def test_lm_eval_safebench_text_and_minibench(tmp_path, text_run):
    folder, run = text_run
    results, logs = read_outputs(folder / "out")
    assert len(run["requests"]["safebench"]) == 33
    res = results["results"]
    assert {f"safebench_text_{c.slug}" for c in sb.CATEGORIES} <= set(res)
    assert res["safebench_text"]["asr,none"] == 0.0 and res["safebench_text"]["sri,none"] == 100.0
    mini = res["safebench_mini_text"]
    assert len(mini["by_scenario,none"]) == 10 and mini["jury,none"]["calls"] == 10
    samples = {task: logged for task, logged in logs.items() if not task.startswith(MMSB)}
    logged = samples["safebench_text_bioethics"][0]
    assert logged["jury"]["case"]["scenario"] == "bioethics" and logged["jury"]["status"] == "judged"
    # lm-eval keeps each document in its log: a re-judge needs no dataset and gives the same task values.
    with LoopbackServer(marker_judge) as judge:
        env = {"SAFEBENCH_JURY": "single", "SAFEBENCH_JUDGE_MODEL": "judge", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url,
               "SAFEBENCH_CACHE": str(tmp_path / "fresh-cache"), "SAFEBENCH_DATA": str(tmp_path / "no-data-here")}
        proc = run_cli([str(BIN / "lmms-safebench"), "judge", "--no-progress", str(folder / "out"), "--output",
                        str(tmp_path / "judged")], env)
        assert proc.returncode == 0, tail(proc)
        # The run's log holds MM-SafetyBench's 13 samples too: they are re-judged beside SafeBench's 33.
        rejudged_by = [board(body) for body in judge.requests]
        assert rejudged_by.count("safebench") == 33 and rejudged_by.count("mmsafetybench") == 13
    rejudged, _ = read_outputs(tmp_path / "judged")
    assert len(samples) == 24
    # Every task (lm-eval's groups average differently; see the task README): SafeBench's by every metric below,
    # MM-SafetyBench's by those of them it has.
    for task in logs:
        for metric in METRICS if task in samples else [m for m in METRICS if f"{m},none" in res[task]]:
            assert rejudged["results"][task][f"{metric},none"] == res[task][f"{metric},none"], (task, metric)
