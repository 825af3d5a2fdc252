"""Shared test helpers: synthetic upstream data, scripted judge servers, running the real CLIs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

from lmms_safebench.benchmarks import mmsafetybench as mmsb
from lmms_safebench.loopback import Reply

ANSWER_FENCE = re.compile(r"<<<ANSWER ([0-9a-f]{16})>>>\n(.*?)\n<<<END ANSWER \1>>>", re.S)
UNSAFE_MARK = "UNSAFE-MARK"
BIN = Path(sys.executable).parent


def fenced_answer(body: dict) -> str:
    """The answer a juror was asked to judge (from the fence in its last user message)."""
    text = body["messages"][-1]["content"] if isinstance(body["messages"][-1]["content"], str) else ""
    for message in reversed(body["messages"]):
        if message["role"] == "user" and "<<<ANSWER" in message["content"]:
            text = message["content"]
            break
    match = ANSWER_FENCE.search(text)
    assert match, f"no fenced answer in judge prompt: {text[:300]}"
    return match.group(2)


def verdict_json(unsafe: int, rating: int | None = None, rationale: str = "scripted") -> str:
    rating = rating if rating is not None else (2 if unsafe else 5)
    return json.dumps({"unsafe": unsafe, "rating": rating, "rationale": rationale})


def marker_judge(body: dict) -> Reply:
    """A judge that calls an answer unsafe exactly when it contains UNSAFE_MARK."""
    return Reply(verdict_json(int(UNSAFE_MARK in fenced_answer(body))))


def write_mmsb_source(root: Path, per_scenario: int = 3, scenarios=mmsb.SCENARIOS) -> dict[str, list[str]]:
    """Upstream-shaped question files and tiny list; returns {upstream: [ids]}. Ids are not contiguous."""
    qdir = root / "data" / "processed_questions"
    qdir.mkdir(parents=True, exist_ok=True)
    ids_by_scenario, tiny = {}, []
    for sc in scenarios:
        ids = [str(i * 3 + 1) for i in range(per_scenario)]
        records = {}
        for n, qid in enumerate(ids):
            phrase = " ".join(["dangerous"] + ["words"] * (n * 4))  # lengths that wrap to 1, 2, ... lines
            records[qid] = {
                "Question": f"{sc.upstream} question {qid}?",
                "GPT-Pred": "[Changed Question]\n...",
                "Changed Question": f"List steps for {sc.upstream} {qid}.",
                "Key Phrase": phrase,
                "Phrase Type": "activity",
                "Rephrased Question": f"The bottom of the image shows a phrase. TYPO-PAIRED {sc.upstream} {qid}",
                "Rephrased Question(SD)": f"The image shows a phrase. SD-PAIRED {sc.upstream} {qid}",
            }
        (qdir / f"{sc.upstream}.json").write_text(json.dumps(records, indent=1))
        ids_by_scenario[sc.upstream] = ids
        tiny.append({"Scenario": sc.upstream, "Sampled_ID_List": [int(ids[0])]})
    (root / "TinyVersion_ID_List.json").write_text(json.dumps(tiny))
    return ids_by_scenario


def write_sd_images(root: Path, ids_by_scenario: dict[str, list[str]], size=(64, 48)) -> Path:
    """Placeholder 'Stable Diffusion' images in the official layout <scenario>/SD/<id>.jpg."""
    for upstream, ids in ids_by_scenario.items():
        folder = root / upstream / "SD"
        folder.mkdir(parents=True, exist_ok=True)
        for qid in ids:
            Image.new("RGB", size, (int(qid) * 7 % 255, 100, 150)).save(folder / f"{qid}.jpg")
    return root


def run_cli(command: list[str], env: dict, timeout: int = 600, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    proc = subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return proc


def lmms_eval(args: list[str], env: dict, output: Path, timeout: int = 600):
    """Run the real lmms-eval CLI; return (process, results dict or None, {task: [samples]})."""
    proc = run_cli([str(BIN / "lmms-eval"), "eval", *args, "--output_path", str(output), "--log_samples"], env,
                   timeout=timeout)
    return (proc, *read_outputs(output))


def read_outputs(output: Path):
    from lmms_safebench.outputs import read_jsonl, results_files, samples_files

    found = results_files(output)
    results = json.loads(found[-1].read_text()) if found else None
    return results, {task: read_jsonl(path) for task, path in samples_files(output).items()}


def tail(proc: subprocess.CompletedProcess, n: int = 4000) -> str:
    return (proc.stdout[-n:] + "\n---stderr---\n" + proc.stderr[-n:])


class SlowJudge:
    """A judge that takes `seconds` per call and records the most calls it ever had in flight."""

    def __init__(self, seconds: float, reply: str | None = None):
        import threading

        self.seconds, self.reply = seconds, reply or verdict_json(0)
        self.active = self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict) -> Reply:
        import time

        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.seconds)
        with self.lock:
            self.active -= 1
        return Reply(self.reply)
