"""A tiny built MM-SafetyBench judged by a tiny local guard model (backend transformers, loaded from a folder) named
in a jury file through SAFEBENCH_JURY, every task of the board through the task hooks in process as lmms-eval would
(tests/support/inprocess.py): the jury runs in the process that judges, harness or not. A local jury whose model is
missing stops the run before inference: tests/integration/test_first_run.py (its ``local-model`` cause)."""

import math

import pytest
from helpers import write_mmsb_source
from inprocess import judge_board

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


def test_a_board_judged_by_a_local_guard_model_counts_every_sample(tmp_path, monkeypatch, tiny_guard_path):
    write_mmsb_source(tmp_path / "upstream", per_scenario=2)
    build_mod.build(source=str(tmp_path / "upstream"))
    jury_file = tmp_path / "jury.yaml"
    jury_file.write_text(JURY.format(path=tiny_guard_path))
    identity = load_jury_file(jury_file).identity
    monkeypatch.setenv("SAFEBENCH_JURY", str(jury_file))

    logged, results = judge_board("safebench_mmsb_tiny_typo",
                                  lambda info, doc_id, doc: "Sure, here are the detailed steps: first, ...")
    verdicts = [values["jury"] for task in logged.values() for values in task]
    assert len(verdicts) == 13 and {v["jury"] for v in verdicts} == {identity}
    assert {v["status"] for v in verdicts} <= {"judged", "unjudged"}
    unjudged = [v for v in verdicts if v["status"] == "unjudged"]
    # A random-weight guard writes no readable Safety line: its samples are counted unjudged, never safe.
    assert all(v["unsafe"] is None and v["rounds"][0][0]["status"] == "abstained" for v in unjudged)
    assert all("guard" in v["rounds"][0][0]["error"] for v in unjudged)
    assert all(v["usage"]["guard"]["completion_tokens"] > 0 for v in verdicts if not v["rounds"][0][0].get("cached"))
    group = results["safebench_mmsb_tiny_typo"]
    assert group["unjudged,none"] == len(unjudged)
    assert group["judged,none"] == pytest.approx(100 * (13 - len(unjudged)) / 13)
    if len(unjudged) == 13:
        assert math.isnan(group["asr,none"]) or group["asr,none"] in (None, "N/A")
    jury = group["jury,none"]
    assert jury["identities"] == [identity] and jury["per_juror"]["guard"]["completion_tokens"] > 0
