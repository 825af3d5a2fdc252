"""`lmms-safebench report` end to end: two models run through the real lmms-eval CLI, judged by two juries, then
reported (the statistics in process are tests/integration/test_report.py).

Why two lmms-eval processes: the report reads what lmms-eval itself writes, one run per model (a run evaluates one
model), its results file naming the model (so its published counterpart) and its sample logs giving the intervals."""

import csv
import os
import re
import subprocess

import pytest
from helpers import (
    BIN,
    UNSAFE_MARK,
    lmms_eval,
    marker_judge,
    read_outputs,
    tail,
    write_mmsb_source,
    write_safebench_release,
)
from loopback import LoopbackServer, Reply, user_text
from PIL import Image

from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.mmsafetybench import data as mmsb_build
from lmms_safebench.benchmarks.safebench import data as sb_build
from lmms_safebench.benchmarks.safebench import published as paper

CLI = str(BIN / "lmms-safebench")


SLUGS = [s.slug for s in sb.SCENARIOS]


def image_target(comply_every: int):
    """SafeBench: complies with query 1 of every ``comply_every``-th scenario. MM-SafetyBench: with id 1."""
    def respond(body):
        text = user_text(body)
        found = re.search(r"query (\d) about SCEN-(\w+)", text)
        if found is None:
            return Reply(f"Sure. {UNSAFE_MARK}" if text.strip().endswith(" 1") else "I can't help.")
        comply = found.group(1) == "1" and SLUGS.index(found.group(2)) % comply_every == 0
        return Reply(f"Sure. {UNSAFE_MARK}" if comply else "I can't help.")
    return respond


def run_model(tmp_path, name, target, tasks, env, out):
    with LoopbackServer(target) as model:
        args = ["--model", "openai", "--model_args", f"model={name},base_url={model.base_url},api_key=x",
                "--tasks", tasks]
        proc, results, _ = lmms_eval(args, env, out)
        assert results is not None, tail(proc)
    return results


def test_report_from_two_models_and_two_juries(tmp_path):
    write_safebench_release(tmp_path / "release", queries=2)
    sb_build.build(source=str(tmp_path / "release"), subset="full")
    write_mmsb_source(tmp_path / "upstream", per_scenario=2)
    mmsb_build.build(source=str(tmp_path / "upstream"))
    with LoopbackServer(marker_judge) as judge:
        env = {"SAFEBENCH_JURY": "single", "SAFEBENCH_JUDGE_MODEL": "j", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url}
        llava = run_model(tmp_path, "llava-hf/llava-v1.6-mistral-7b-hf", image_target(2),
                          "safebench_image,safebench_mmsb_typo", env, tmp_path / "llava")
        run_model(tmp_path, "careful-model", image_target(1000), "safebench_image", env, tmp_path / "careful")
    # The same answers judged by a second jury: its numbers must get their own table.
    rejudge = subprocess.run([CLI, "judge", "--no-progress", str(tmp_path / "llava"), "--jury", "heuristic",
                              "--output", str(tmp_path / "heuristic")], capture_output=True, text=True,
                             env={**os.environ})
    assert rejudge.returncode == 0, tail(rejudge)
    proc = subprocess.run([CLI, "report", str(tmp_path / "llava"), str(tmp_path / "careful"),
                           str(tmp_path / "heuristic"), "--output", str(tmp_path / "rep")],
                          capture_output=True, text=True, env={**os.environ})
    assert proc.returncode == 0, tail(proc)
    rep = tmp_path / "rep"

    rows = list(csv.DictReader((rep / "safebench_image.csv").open()))
    by_model = {r["model"]: r for r in rows if r["heuristic"] == "False"}
    assert len(rows) == 3 and sum(r["heuristic"] == "True" for r in rows) == 1
    assert set(by_model) == {"llava-hf/llava-v1.6-mistral-7b-hf", "careful-model"}
    ours = by_model["llava-hf/llava-v1.6-mistral-7b-hf"]
    inline = llava["results"]["safebench_image"]["asr,none"]
    assert float(ours["asr"]) == pytest.approx(inline) and 0 < inline < 100
    assert float(ours["asr_ci_low"]) <= inline <= float(ours["asr_ci_high"])
    assert float(ours["asr_ci_low"]) < float(ours["asr_ci_high"])
    assert ours["paper_model"] == "LLaVA-v1.6-Mistral-7B"
    assert float(ours["paper_asr_avg"]) == paper.main_table()["LLaVA-v1.6-Mistral-7B"]["ASR"]["AVG"]
    # Only medical advice (1 of Consultation's 3 scenarios) complied, once in 2: (50 / 3) / 8 categories.
    assert float(by_model["careful-model"]["asr"]) == pytest.approx(50 / 3 / 8)
    assert by_model["careful-model"]["paper_model"] == ""
    scenarios = list(csv.DictReader((rep / "safebench_image_scenarios.csv").open()))
    assert len(scenarios) == 3 * 23  # two models under the single judge, one under the heuristic

    # MM-SafetyBench: one model, two juries -> two tables, the heuristic one labelled as such.
    mmsb_rows = list(csv.DictReader((rep / "safebench_mmsb_typo.csv").open()))
    assert len({r["jury_identity"] for r in mmsb_rows}) == 2
    assert {r["heuristic"] for r in mmsb_rows} == {"True", "False"}
    board_md = (rep / "safebench_mmsb_typo.md").read_text()
    assert board_md.count(": leaderboard") == 2 and "HEURISTIC" in board_md

    page = (rep / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "src=\"http" not in page
    assert "published numbers beside this run" in page and "LLaVA-v1.6-Mistral-7B" in page
    radar = next(rep.glob("safebench_image_*_radar.png"))
    assert Image.open(radar).size[0] > 500
    _, samples = read_outputs(tmp_path / "heuristic")
    assert samples and all(s["jury"]["heuristic"] for task in samples.values() for s in task)


