"""The five-juror deliberation in process: every safebench_text document (a synthetic release, one query a scenario)
answered as the scripted panel's case says and judged through the task hooks by five scripted jurors on loopback;
ties, the quorum, deliberation and early consensus per verdict, the calls made, and the group's numbers computed
from the leaf tasks as the harness does (tests/support/inprocess.py)."""

import pytest
from helpers import write_safebench_release
from inprocess import judge_board
from jury_panel import PANEL, PanelScript, case_target
from loopback import LoopbackServer

from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.safebench import data as build_mod
from lmms_safebench.harness import hooks


def answer(task, doc_id, doc) -> str:
    """What the scripted target answers to the document's prompt (it names the panel's case for the scenario)."""
    return case_target({"messages": [{"role": "user", "content": hooks.doc_to_text(doc, {})}]}).content


@pytest.mark.parametrize("early", [True, False], ids=["fast", "strict"])
def test_five_juror_deliberation_ties_quorum_and_early_consensus(tmp_path, monkeypatch, early):
    write_safebench_release(tmp_path / "release", queries=1)
    build_mod.build(source=str(tmp_path / "release"), subset="full")
    with LoopbackServer(PanelScript()) as judge:
        jury_file = tmp_path / "panel.yaml"
        jury_file.write_text(PANEL.format(early=str(early).lower(), url=judge.base_url))
        monkeypatch.setenv("SAFEBENCH_JURY", str(jury_file))
        logged, results = judge_board("safebench_text", answer)
        calls = judge.count
    verdicts = {values["jury"]["case"]["scenario"]: values["jury"] for task in logged.values() for values in task}
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
    top = results["safebench_text"]
    judged = 23 - counts["QUORUM"]
    assert top["unjudged,none"] == counts["QUORUM"] and top["asr_pooled,none"] == pytest.approx(
        100 * (judged - counts["UNANIMOUS_SAFE"]) / judged)
    jury = top["jury,none"]
    assert jury["juror_asr"]["j1"]["valid"] == 23 and jury["juror_asr"]["j5"]["valid"] == 23 - counts["TIE"] - counts["QUORUM"]
    assert 0 < jury["agreement"]["round_one"]["unanimous_share"] < 100
    assert len(jury["identities"]) == 1
