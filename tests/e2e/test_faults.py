"""Fault injection: the judge endpoint throws 429s, 500s, timeouts, garbage bodies and unreadable replies. One real
lmms-eval run (what it logs and writes); the rerun replays its answers through the task hooks in process, on the
same judge cache.

Why an lmms-eval process: the failing endpoint is hit from lmms-eval's own scoring threads
(``--process_docs_parallel``), and the closing "stayed unjudged" warning must reach lmms-eval's own log and its sample
logs the verdicts."""

import itertools
import threading

import pytest
from helpers import UNSAFE_MARK, fenced_answer, lmms_eval, tail, verdict_json, write_mmsb_source
from inprocess import judge_board
from loopback import LoopbackServer, Reply

from lmms_safebench.benchmarks.mmsafetybench import data as build_mod

JURY = """
name: faulty-endpoint
protocol: single
jurors:
  - name: judge
    model: judge-model
    base_url: {url}
    timeout: 1.0
    max_attempts: 3
    retry_base_delay: 0.01
    parse_retries: 1
    structured_output: false
"""


class FaultyJudge:
    """Every other request fails in a rotating way; answers containing ALWAYS-FAIL always get a 500.
    Its valid verdicts are all 'unsafe', so any 'safe' outcome would be a failure counted as safe."""

    def __init__(self):
        self.counter = itertools.count()
        self.lock = threading.Lock()
        self.faults = [Reply(status=429, headers={"Retry-After": "0"}), Reply(status=500), Reply(delay=2.0),
                       Reply(raw_body="<html>502 Bad Gateway</html>"), Reply("hmm, hard to say"), Reply(drop=True)]

    def __call__(self, body):
        if "ALWAYS-FAIL" in fenced_answer(body):
            return Reply(status=500)
        with self.lock:
            n = next(self.counter)
        if n % 2:
            fault = self.faults[(n // 2) % len(self.faults)]
            return Reply(verdict_json(1), delay=fault.delay) if fault.delay else fault
        return Reply(verdict_json(1))


def target(body):
    from loopback import user_text

    text = user_text(body)
    if text.rstrip().endswith(" 1"):
        return Reply(f"ALWAYS-FAIL {UNSAFE_MARK}")
    return Reply(f"Here you go: {UNSAFE_MARK}")


def test_faulty_judge_every_sample_judged_or_counted_none_silently_safe(tmp_path, monkeypatch):
    write_mmsb_source(tmp_path / "upstream", per_scenario=3)
    build_mod.build(source=str(tmp_path / "upstream"))
    faulty = FaultyJudge()
    with LoopbackServer(faulty) as judge, LoopbackServer(target) as model:
        jury_file = tmp_path / "jury.yaml"
        jury_file.write_text(JURY.format(url=judge.base_url))
        env = {"SAFEBENCH_JURY": str(jury_file)}
        args = ["--model", "openai", "--model_args", f"model=t,base_url={model.base_url},api_key=x",
                "--tasks", "safebench_mmsb_typo", "--process_docs_parallel", "4"]
        proc, results, samples = lmms_eval(args, env, tmp_path / "out")
        assert results is not None, tail(proc)
        first_calls = judge.count
        verdicts = [s["jury"] for task in samples.values() for s in task]
        assert len(verdicts) == 39
        statuses = {v["status"] for v in verdicts}
        assert statuses <= {"judged", "unjudged"}
        assert not [v for v in verdicts if v["status"] == "judged" and v["unsafe"] != 1]  # none silently safe
        unjudged = [v for v in verdicts if v["status"] == "unjudged"]
        assert len(unjudged) >= 13  # every ALWAYS-FAIL answer (id 1 of each scenario), maybe a few unlucky others
        assert all(v["unsafe"] is None and v["rounds"][0][0]["status"] == "abstained" for v in unjudged)
        group = results["results"]["safebench_mmsb_typo"]
        assert group["unjudged,none"] == len(unjudged)
        assert group["asr,none"] == 100.0 and group["judged,none"] == pytest.approx(100 * (39 - len(unjudged)) / 39)
        errors = " ".join(v["rounds"][0][0].get("error", "") for v in unjudged)
        assert "server error (500)" in errors
        causes = group["jury,none"]["unjudged_causes"]
        assert causes.get("transport", 0) >= 13 and sum(causes.values()) == len(unjudged)
        log = proc.stdout + proc.stderr  # lmms-eval sends its log to stdout
        assert "stayed unjudged" in log and "run the same command again" in log
        outages = {s["filtered_resps"] if isinstance(s["filtered_resps"], str) else s["filtered_resps"][0]
                   for task in samples.values() for s in task if s["jury"].get("cause") == "transport"}

        # The rerun (the run's own answers through the hooks, same jury and cache) asks again exactly for the
        # samples the outage left unjudged (outages are not cached); everything the jurors did say comes from the cache.
        judge.reset()
        answers = {task: {s["doc_id"]: s["filtered_resps"] if isinstance(s["filtered_resps"], str)
                          else s["filtered_resps"][0] for s in logged} for task, logged in samples.items()}
        monkeypatch.setenv("SAFEBENCH_JURY", str(jury_file))
        samples2, again = judge_board("safebench_mmsb_typo", lambda info, doc_id, doc: answers[info.name][doc_id])
        assert sum(map(len, samples2.values())) == 39
        assert first_calls > 39 and judge.count >= 13 * 3  # ALWAYS-FAIL answers: 3 attempts each, again
        assert {fenced_answer(body) for body in judge.requests} <= outages
        verdicts2 = [s["jury"] for task in samples2.values() for s in task]
        assert not [v for v in verdicts2 if v["status"] == "judged" and v["unsafe"] != 1]
        assert again["safebench_mmsb_typo"]["jury,none"]["unjudged_causes"].get("transport", 0) >= 13
