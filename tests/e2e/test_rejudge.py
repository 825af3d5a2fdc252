"""`lmms-safebench judge`: re-judging logged samples gives the inline numbers; predict-only logs;
bad records; concurrency limits; interruption and resume.

Two lmms-eval runs serve the module: the inline-judged run of the first test, and one ``--predict_only`` run of
safebench_mmsb_typo and safebench_text made once per session (:func:`shared.made_once`), whose log is also split by
task (a folder of the results file and one task's samples files: ``judge`` reads whatever runs a folder holds), so
each test judges the samples of its own task alone. Its logs and data folder are only read in place; a test that
changes one works on its own copy in its tmp_path."""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import (
    BIN,
    UNSAFE_MARK,
    SlowJudge,
    copy_logs,
    lmms_eval,
    marker_judge,
    read_outputs,
    tail,
    write_mmsb_source,
    write_safebench_release,
)
from isolation import isolate
from jury_panel import PANEL, PanelScript, case_target
from loopback import LoopbackServer, Reply, user_text
from shared import made_once

from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.mmsafetybench import data as mmsb_build
from lmms_safebench.benchmarks.safebench import data as sb_build

CLI = str(BIN / "lmms-safebench")
ACCOUNTING = {"calls", "cache_hits", "prompt_tokens", "completion_tokens", "per_juror"}


def judge_cli(*args, env=None, timeout=600):
    return subprocess.run([CLI, "judge", "--no-progress", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def same(a, b, path="") -> list[str]:
    """Differences between two metric values (NaN equals NaN; jury accounting is not a metric)."""
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = [f"{path}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
        return diffs + [d for k in set(a) & set(b) if k not in ACCOUNTING for d in same(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def metric_view(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k.endswith(",none") and "_stderr" not in k}


def test_rejudging_an_inline_run_gives_identical_metrics_and_a_cached_rerun_makes_no_call(tmp_path):
    write_safebench_release(tmp_path / "release", queries=2)
    write_safebench_release(tmp_path / "release", queries=1, scenarios=sb.SCENARIOS[:10], mini=True)
    sb_build.build(source=str(tmp_path / "release"), subset="all")
    with LoopbackServer(PanelScript()) as judge, LoopbackServer(case_target) as model:
        jury_file = tmp_path / "panel.yaml"
        jury_file.write_text(PANEL.format(early="true", url=judge.base_url))
        env = {"SAFEBENCH_JURY": str(jury_file)}
        args = ["--model", "openai", "--model_args", f"model=m,base_url={model.base_url},api_key=x",
                "--tasks", "safebench_text,safebench_mini_text", "--process_docs_parallel", "3"]
        proc, inline, _ = lmms_eval(args, env, tmp_path / "out")
        assert inline is not None, tail(proc)
        inline_calls = judge.count

        # A fresh cache: the re-judge really asks the jurors again.
        fresh = {**env, "SAFEBENCH_CACHE": str(tmp_path / "other-cache")}
        out = judge_cli(str(tmp_path / "out"), "--output", str(tmp_path / "judged"), "--concurrency", "8", env=fresh)
        # The script leaves some samples unjudged (quorum not met): said, and the exit status says so too.
        assert out.returncode == 1 and "stayed unjudged" in out.stderr, tail(out)
        assert judge.count - inline_calls == inline_calls  # the same calls as the inline run
        rejudged, samples = read_outputs(tmp_path / "judged")
        assert "jury scripted-panel" in out.stdout and "56 samples" in out.stdout

        # Same cache again: zero calls.
        before = judge.count
        again = judge_cli(str(tmp_path / "out"), "--output", str(tmp_path / "judged2"), env=fresh)
        assert again.returncode == 1 and judge.count == before, tail(again)
        assert "juror calls 0" in again.stdout

    names = [n for n in inline["results"] if n.startswith("safebench_")]
    assert len(names) == 23 + 8 + 1 + 1
    for name in names:
        assert not same(metric_view(inline["results"][name]), metric_view(rejudged["results"][name]), name)
    # The source run's model_args held api_key=x: it is masked in what we write.
    assert "api_key=***" in rejudged["config"]["model_args"] and "api_key=x" not in json.dumps(rejudged)
    top = rejudged["results"]["safebench_text"]
    assert 0 < top["asr,none"] < 100 and top["unjudged,none"] > 0
    assert rejudged["lmms_safebench"]["juries"][0]["identity"] == top["jury,none"]["identities"][0]
    assert set(rejudged["group_subtasks"]["safebench_text"]) == {f"safebench_text_{c.slug}" for c in sb.CATEGORIES}
    logged = samples["safebench_text_bias"][0]
    assert logged["jury"]["case"]["scenario"] == "bias" and len(logged["jury"]["rounds"][0]) == 5


def mmsb_target(body):
    """Complies with question id 1 of each scenario (ids are 1, 4, 7), refuses the others."""
    qid = re.search(r"PAIRED \S+ (\d+)$", user_text(body).strip()).group(1)
    return Reply(f"Sure. {UNSAFE_MARK}" if qid == "1" else "I cannot help with that.")


def predicted_target(body):
    """The model of the predict-only run: complies with every SafeBench query (each names its scenario,
    ``SCEN-<slug>``); answers MM-SafetyBench's as :func:`mmsb_target` does."""
    return Reply(f"Sure: {UNSAFE_MARK}") if "SCEN-" in user_text(body) else mmsb_target(body)


LOGS = {"mmsb": "safebench_mmsb_typo", "text": "safebench_text"}  # the run's log of each task, on its own


def predict_only(root: Path) -> dict:
    """A --predict_only lmms-eval run of safebench_mmsb_typo and safebench_text against :func:`predicted_target`
    into ``root/out``, on MM-SafetyBench (``upstream``, 3 questions a scenario) and SafeBench (``release``, 4 queries
    a scenario) built in ``root/data`` (isolated as a test is: no jury is configured). ``judge`` judges every run
    under the folders it is given, so each task's log is also copied on its own, ``root/<name>`` for each name of
    LOGS: the run's results file and that task's samples files, which is all a test judges."""
    with pytest.MonkeyPatch.context() as env:
        isolate(env, root)
        write_mmsb_source(root / "upstream", per_scenario=3)
        mmsb_build.build(source=str(root / "upstream"))
        write_safebench_release(root / "release", queries=4)
        sb_build.build(source=str(root / "release"), subset="full")
        with LoopbackServer(predicted_target) as model:
            args = ["--model", "openai", "--model_args", f"model=m,base_url={model.base_url},api_key=x",
                    "--tasks", ",".join(LOGS.values()), "--predict_only"]
            proc = subprocess.run([str(BIN / "lmms-eval"), *args, "--output_path", str(root / "out"),
                                   "--log_samples"], capture_output=True, text=True, timeout=600, env={**os.environ})
    for name, task in LOGS.items():
        copy_logs(root / "out", root / name, f"{task}_")
    return {"log": tail(proc)}


@pytest.fixture(scope="module")
def predicted(tmp_path_factory) -> tuple[Path, dict]:
    """The predict-only run (:func:`predict_only`), made once per session whichever worker asks first."""
    return made_once(tmp_path_factory, "rejudge-predicted", predict_only)


@pytest.fixture
def predicted_mmsb(predicted) -> Path:
    """``root`` with ``upstream``, ``data`` and ``mmsb``: the predict-only log of safebench_mmsb_typo alone
    (13 tasks x 3 samples)."""
    root, made = predicted
    _, samples = read_outputs(root / "mmsb")
    assert len(samples) == 13, made["log"]  # no jury was needed to predict
    return root


def test_predict_only_logs_are_judged_from_the_local_data_and_bad_records_are_named(tmp_path, predicted_mmsb,
                                                                                   monkeypatch):
    monkeypatch.setenv("SAFEBENCH_DATA", str(predicted_mmsb / "data"))
    shutil.copytree(predicted_mmsb / "mmsb", tmp_path / "out")  # a bad record is appended to this copy
    _, samples = read_outputs(tmp_path / "out")
    assert len(samples) == 13
    assert all("jury" not in s and "doc" not in s for task in samples.values() for s in task)
    path = next(p for p in (tmp_path / "out").rglob("*_samples_safebench_mmsb_typo_02_hate_speech.jsonl"))
    with open(path, "a") as handle:
        handle.write(json.dumps({"doc_id": 99, "filtered_resps": "an answer"}) + "\n")
    with LoopbackServer(marker_judge) as judge:
        env = {"SAFEBENCH_JUDGE_MODEL": "j", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url}
        out = judge_cli(str(tmp_path / "out"), "--output", str(tmp_path / "judged"), env=env)
        assert judge.count == 13 * 3
    assert out.returncode == 1 and f"{path}:4: doc_id 99 is out of range" in out.stderr, tail(out)
    results, judged = read_outputs(tmp_path / "judged")
    for scenario in ("01_illegal_activity", "13_gov_decision"):
        assert results["results"][f"safebench_mmsb_typo_{scenario}"]["asr,none"] == pytest.approx(100 / 3)
    hate = results["results"]["safebench_mmsb_typo_02_hate_speech"]
    assert hate["unjudged,none"] == 1 and hate["judged,none"] == 75.0
    assert results["results"]["safebench_mmsb_typo"]["asr,none"] == pytest.approx(100 / 3)
    assert judged["safebench_mmsb_typo_02_hate_speech"][3]["jury"]["reason"].startswith(str(path))


TEXT_SAMPLES = 23 * 4


@pytest.fixture
def text_log(predicted, monkeypatch) -> Path:
    """The predict-only log of safebench_text alone (23 x 4 samples, every answer complying), with the run's data
    folder as the test's SAFEBENCH_DATA. Read in place by the tests (the judge writes only to --output)."""
    root, made = predicted
    _, samples = read_outputs(root / "text")
    assert sum(map(len, samples.values())) == TEXT_SAMPLES, made["log"]
    monkeypatch.setenv("SAFEBENCH_DATA", str(root / "data"))
    return root / "text"


def test_concurrency_limits_calls_in_flight(tmp_path, text_log):
    slow = SlowJudge(0.05)
    with LoopbackServer(slow) as judge:
        env = {"SAFEBENCH_JURY": "single", "SAFEBENCH_JUDGE_MODEL": "j", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url}
        out = judge_cli(str(text_log), "--output", str(tmp_path / "j1"), "--concurrency", "6", env=env)
        assert out.returncode == 0, tail(out)
        assert slow.peak == 6 and judge.count == TEXT_SAMPLES
        slow.peak = 0
        env["SAFEBENCH_CACHE"] = str(tmp_path / "c2")
        out = judge_cli(str(text_log), "--output", str(tmp_path / "j2"), "--concurrency", "6",
                        "--endpoint-limit", "2", env=env)
        assert out.returncode == 0 and slow.peak == 2, tail(out)


def test_interrupted_judging_resumes_without_repeating_a_finished_call(tmp_path, text_log):
    slow = SlowJudge(0.1)
    with LoopbackServer(slow) as judge:
        env = {**os.environ, "SAFEBENCH_JURY": "single", "SAFEBENCH_JUDGE_MODEL": "j",
               "SAFEBENCH_JUDGE_BASE_URL": judge.base_url}
        proc = subprocess.Popen([CLI, "judge", "--no-progress", str(text_log), "--output",
                                 str(tmp_path / "judged"), "--concurrency", "4"], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while judge.count < 20 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130 and "run the same command again to resume" in err
        first = judge.count
        assert 20 <= first < TEXT_SAMPLES
        assert not list((tmp_path / "judged").rglob("*_results.json"))
        done = subprocess.run([CLI, "judge", "--no-progress", str(text_log), "--output",
                               str(tmp_path / "judged")], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, tail(done)
        assert judge.count == TEXT_SAMPLES  # every sample judged exactly once across both runs
        prompts = [user_text(b) for b in judge.requests]
        assert len(set(prompts)) == TEXT_SAMPLES


def test_two_runs_in_one_model_folder_are_written_apart(tmp_path):
    """lmms-eval appends runs to one model folder; each judged run keeps its own files."""
    from lmms_safebench import judge as rejudge

    folder = tmp_path / "out" / "model"
    folder.mkdir(parents=True)
    for stamp, answer in (("20260101_000000", "I cannot help."), ("20260102_000000", "Sure, here it is.")):
        doc = {"id": "1", "set": "full", "modality": "text", "query": "Q?", "scenario_slug": "bias"}
        (folder / f"{stamp}_samples_safebench_text_bias.jsonl").write_text(
            json.dumps({"doc_id": 0, "doc": doc, "filtered_resps": answer}) + "\n")
    summary = rejudge.judge_folders([str(tmp_path / "out")], str(tmp_path / "judged"), jury="heuristic",
                                    progress=False)
    assert len(summary["written"]) == len(set(summary["written"])) == 2
    asr = sorted(json.loads(p.read_text())["results"]["safebench_text_bias"]["asr,none"] for p in summary["written"])
    assert asr == [0.0, 100.0]


OUTAGE_JURY = """
name: outage
protocol: single
jurors:
  - {{name: judge, model: j, base_url: "{url}", max_attempts: 2, retry_base_delay: 0.01, timeout: 5,
     structured_output: false}}
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_outage_is_not_a_verdict_and_a_rerun_judges_what_it_left(tmp_path, text_log):
    port = free_port()
    jury = tmp_path / "jury.yaml"
    jury.write_text(OUTAGE_JURY.format(url=f"http://127.0.0.1:{port}/v1"))
    args = [str(text_log), "--output", str(tmp_path / "judged"), "--jury", str(jury)]
    down = judge_cli(*args)  # nothing listens on the port: every call is refused
    assert down.returncode == 1, tail(down)
    n = TEXT_SAMPLES
    assert f"{n} samples" in down.stdout and f"unjudged {n}" in down.stdout
    assert f"{n} sample(s) stayed unjudged" in down.stderr and f"transport {n}" in down.stderr
    assert "run the same command again" in down.stderr
    results, samples = read_outputs(tmp_path / "judged")
    assert results["results"]["safebench_text"]["jury,none"]["unjudged_causes"] == {"transport": n}
    assert all(s["jury"]["cause"] == "transport" for task in samples.values() for s in task)
    # The endpoint comes back: the same command judges every sample (the outage was not cached).
    with LoopbackServer(marker_judge, port=port) as judge:
        back = judge_cli(*args)
        assert back.returncode == 0, tail(back)
        assert judge.count == n and f"judged {n}, unjudged 0" in back.stdout


def test_a_predict_only_log_is_checked_against_the_local_data(tmp_path, predicted_mmsb):
    """A --predict_only log keeps only doc_id; its document fingerprint (the logged `target`) must match the
    local document at that doc_id, or the answer would be judged against another question."""
    # This test rebuilds the data and rewrites the log: its own copies (the test's SAFEBENCH_DATA is tmp_path/data).
    upstream = tmp_path / "upstream"
    for name, copy in (("upstream", "upstream"), ("data", "data"), ("mmsb", "out")):
        shutil.copytree(predicted_mmsb / name, tmp_path / copy)
    _, logged = read_outputs(tmp_path / "out")
    total = sum(map(len, logged.values()))
    assert total == 13 * 3
    assert all(s["target"].startswith("safebench-doc:") for task in logged.values() for s in task)
    # The data is rebuilt with one question of 02 changed: doc_id 1 of that task now asks something else.
    path = upstream / "data" / "processed_questions" / "02-HateSpeech.json"
    questions = json.loads(path.read_text())
    questions["4"]["Rephrased Question"] = "A different question altogether."
    path.write_text(json.dumps(questions))
    mmsb_build.build(source=str(upstream))
    with LoopbackServer(marker_judge) as judge:
        env = {"SAFEBENCH_JUDGE_MODEL": "j", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url}
        out = judge_cli(str(tmp_path / "out"), "--output", str(tmp_path / "judged"), env=env)
        assert judge.count == total - 1  # the changed document's answer was never sent to the jury
    assert out.returncode == 1, tail(out)
    assert "doc_id 1 names another document in the local data of safebench_mmsb_typo_02_hate_speech" in out.stderr
    assert "doc_mismatch 1" in out.stderr
    results, judged = read_outputs(tmp_path / "judged")
    assert judged["safebench_mmsb_typo_02_hate_speech"][1]["jury"]["cause"] == "doc_mismatch"
    assert results["results"]["safebench_mmsb_typo_02_hate_speech"]["unjudged,none"] == 1

    # A log without fingerprints (an older version's): refused unless the user trusts the doc_ids.
    for path in (tmp_path / "out").rglob("*_samples_*.jsonl"):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({**r, "target": ""}) + "\n" for r in lines))
    refused = judge_cli(str(tmp_path / "out"), "--output", str(tmp_path / "j2"), "--jury", "heuristic")
    assert refused.returncode == 1 and f"unverifiable {total}" in refused.stderr, tail(refused)
    trusted = judge_cli(str(tmp_path / "out"), "--output", str(tmp_path / "j3"), "--jury", "heuristic",
                        "--trust-doc-ids")
    assert trusted.returncode == 0, tail(trusted)
