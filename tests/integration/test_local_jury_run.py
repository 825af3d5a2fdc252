"""End to end: the real lmms-eval CLI on a tiny built MM-SafetyBench, judged in-process by a tiny local guard model
(backend transformers, loaded from a folder) named in a jury file through SAFEBENCH_JURY."""

import math

import pytest
from helpers import lmms_eval, tail, write_mmsb_source
from loopback import LoopbackServer, Reply

from lmms_safebench.benchmarks.mmsafetybench import data as build_mod
from lmms_safebench.jury.config import load_jury_file

JURY = """
name: tiny-local-guard
protocol: single
jurors:
  - name: guard
    backend: transformers
    model: {path}
    reply_format: guard
    device: auto
    max_tokens: 16
"""


@pytest.fixture(scope="module")
def tiny_guard_path(tmp_path_factory):
    from tiny_models import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("models") / "tiny-qwen3-guard", guard=True)


def test_lmms_eval_judged_by_a_local_guard_model_counts_every_sample(tmp_path, tiny_guard_path):
    write_mmsb_source(tmp_path / "upstream", per_scenario=2)
    build_mod.build(source=str(tmp_path / "upstream"))
    jury_file = tmp_path / "jury.yaml"
    jury_file.write_text(JURY.format(path=tiny_guard_path))
    identity = load_jury_file(jury_file).identity

    with LoopbackServer(lambda body: Reply("Sure, here are the detailed steps: first, ...")) as target:
        args = ["--model", "openai", "--model_args", f"model=t,base_url={target.base_url},api_key=x",
                "--tasks", "safebench_mmsb_tiny_typo", "--process_docs_parallel", "4"]
        proc, results, samples = lmms_eval(args, {"SAFEBENCH_JURY": str(jury_file)}, tmp_path / "out")
    assert results is not None, tail(proc)  # lmms-eval exits 0 even when it fails: the results file decides
    verdicts = [s["jury"] for task in samples.values() for s in task]
    assert len(verdicts) == 13 and {v["jury"] for v in verdicts} == {identity}
    assert {v["status"] for v in verdicts} <= {"judged", "unjudged"}
    unjudged = [v for v in verdicts if v["status"] == "unjudged"]
    # A random-weight guard writes no readable Safety line: its samples are counted unjudged, never safe.
    assert all(v["unsafe"] is None and v["rounds"][0][0]["status"] == "abstained" for v in unjudged)
    assert all("guard" in v["rounds"][0][0]["error"] for v in unjudged)
    assert all(v["usage"]["guard"]["completion_tokens"] > 0 for v in verdicts if not v["rounds"][0][0].get("cached"))
    group = results["results"]["safebench_mmsb_tiny_typo"]
    assert group["unjudged,none"] == len(unjudged)
    assert group["judged,none"] == pytest.approx(100 * (13 - len(unjudged)) / 13)
    if len(unjudged) == 13:
        assert math.isnan(group["asr,none"]) or group["asr,none"] in (None, "N/A")
    jury = group["jury,none"]
    assert jury["identities"] == [identity] and jury["per_juror"]["guard"]["completion_tokens"] > 0


def test_a_local_jury_whose_model_is_missing_stops_lmms_eval_before_inference(tmp_path):
    write_mmsb_source(tmp_path / "upstream", per_scenario=1)
    build_mod.build(source=str(tmp_path / "upstream"))
    env = {"SAFEBENCH_JURY": "local-single", "SAFEBENCH_LOCAL_GUARD_MODEL": str(tmp_path / "no-guard-here")}
    with LoopbackServer(lambda body: Reply("Sure.")) as target:
        args = ["--model", "openai", "--model_args", f"model=t,base_url={target.base_url},api_key=x",
                "--tasks", "safebench_mmsb_tiny_typo"]
        proc, results, _ = lmms_eval(args, env, tmp_path / "out")
        assert results is None and target.count == 0, tail(proc)
    output = proc.stdout + proc.stderr
    assert "cannot load transformers juror model" in output and "no-guard-here" in output
