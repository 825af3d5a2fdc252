"""Shared test helpers: synthetic upstream data, scripted judge servers, running the real CLIs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from loopback import Reply
from PIL import Image

from lmms_safebench.benchmarks import mmsafetybench as mmsb

ANSWER_FENCE = re.compile(r"<<<ANSWER ([0-9a-f]{16})>>>\n(.*?)\n<<<END ANSWER \1>>>", re.S)
UNSAFE_MARK = "UNSAFE-MARK"
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]  # the checkout: tests/support/helpers.py


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
    from lmms_safebench.harness.outputs import read_jsonl, results_files, samples_files

    found = results_files(output)
    results = json.loads(found[-1].read_text()) if found else None
    return results, {task: read_jsonl(path) for task, path in samples_files(output).items()}


def copy_logs(output: Path, dest: Path, prefix: str) -> Path:
    """One family's part of a run's output folder, copied to ``dest`` in the same layout: the results files and the
    samples files of the tasks named ``prefix...``. A run that several families share is judged or reported per
    family this way, and the shared folder is only read."""
    import shutil

    from lmms_safebench.harness.outputs import results_files, samples_files

    chosen = [*results_files(output), *(path for task, path in samples_files(output).items() if task.startswith(prefix))]
    assert any(path.name.endswith(".jsonl") for path in chosen), f"no samples of {prefix}* tasks under {output}"
    for path in chosen:
        target = dest / path.relative_to(output)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return dest


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


# ----------------------------------------------------------------------------------- SafeBench release

def tone(frequency: float, seconds: float = 0.2, rate: int = 16000):
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype("float32"), rate


def write_safebench_release(root: Path, queries: int = 2, scenarios=None, mini: bool = False) -> dict:
    """A small release in the official layout: category.csv (header; k, name) in an order that differs
    from the taxonomy table, text/{k}.csv (no header), image/{k}/{i}.png, audio/audio_data_{female,male}/{k}/{i}.wav.
    The spoken query k/i is a tone of 200 + 10*k + i Hz (female) or half that (male).
    Returns {k: (scenario title, [queries])}."""
    import soundfile

    from lmms_safebench.benchmarks import safebench as sb

    chosen = list(scenarios or sb.SCENARIOS)
    order = list(reversed(chosen))  # folder 1 is the LAST scenario of the taxonomy
    base = root / ("minibench_final" if mini else "final_bench")
    (base / "text").mkdir(parents=True, exist_ok=True)
    layout = {}
    lines = ["id,category"]
    for k, scenario in enumerate(order, 1):
        name = scenario.title.upper() if k % 2 else scenario.title  # releases are not consistent about case
        lines.append(f"{k},{name}")
        prefix = "Mini " if mini else ""  # distinct texts, so MiniBench answers are judged, not cache hits
        rows = [f"{prefix}{scenario.title} query {i} about SCEN-{scenario.slug}" for i in range(1, queries + 1)]
        (base / "text" / f"{k}.csv").write_text("\n".join(f'"{q}",extra' for q in rows) + "\n")
        for i in range(1, queries + 1):
            image_dir = base / "image" / str(k)
            image_dir.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (40, 30), (k * 9 % 255, i * 40 % 255, 90)).save(image_dir / f"{i}.png")
            for voice, scale in (("female", 1.0), ("male", 0.5)):
                audio_dir = base / "audio" / f"audio_data_{voice}" / str(k)
                audio_dir.mkdir(parents=True, exist_ok=True)
                samples, rate = tone((200 + 10 * k + i) * scale)
                soundfile.write(audio_dir / f"{i}.wav", samples, rate)
        layout[k] = (scenario.title, rows)
    (base / "category.csv").write_text("\n".join(lines) + "\n")
    return layout


def dominant_frequency(samples, rate: int) -> float:
    import numpy as np

    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def release_archives(release: Path) -> dict[str, bytes]:
    """The release as the hub holds it: the full set as a tar split into part_aa.., MiniBench as a .tar.gz."""
    import io
    import tarfile

    blob = io.BytesIO()
    with tarfile.open(fileobj=blob, mode="w") as tar:
        tar.add(release / "final_bench", arcname="final_bench")
    data = blob.getvalue()
    size = len(data) // 3 + 1
    files = {f"part_a{letter}": data[n * size:(n + 1) * size] for n, letter in enumerate("abc")}
    mini = io.BytesIO()
    with tarfile.open(fileobj=mini, mode="w:gz") as tar:
        tar.add(release / "minibench_final", arcname="minibench_final")
    files["minibench.tar.gz"] = mini.getvalue()
    return files


# ----------------------------------------------------------------------------------- bad input for builders

def write_truncated_jpeg(path: Path, keep: float = 0.6) -> Path:
    """A JPEG cut short: its header is intact, so PIL's ``verify()`` accepts it, but decoding it fails."""
    import io

    import numpy as np

    noise = (np.random.default_rng(7).random((96, 128, 3)) * 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG")
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[:int(len(data) * keep)])
    with Image.open(path) as image:
        image.verify()  # the point of this file: verify() alone would let it through
    return path


def write_header_only_wav(path: Path, rate: int = 16000) -> Path:
    """A WAV truncated right after its 44-byte header (it announces 0.2 s of audio that is not there)."""
    import io

    import soundfile

    samples, rate = tone(300.0, rate=rate)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue()[:44])
    return path


def problems_matching(problems: list[dict], **fields) -> list[dict]:
    """The manifest problems whose keys equal ``fields`` (e.g. where=..., id=..., field=..., kind=...)."""
    return [p for p in problems if all(p.get(key) == value for key, value in fields.items())]


def write_verdict_logs(root: Path, board: str, models: list[str], cases: list[dict], unsafe,
                       jury: str = "jury0000000000ab", target=lambda case: "") -> None:
    """Judged lmms-eval-style sample logs (``--log_samples`` with the jury's verdicts) of ``models`` on ``board``:
    one samples file per scenario (task ``<board>_<scenario>``). ``cases``: ``{"key", "scenario", "category"}``
    (and optionally ``"question"``, ``"path"``); ``unsafe(m, n)``: model ``m``'s verdict on case ``n`` (1, 0, or
    None for a judge failure). Appends to a model's folder when it exists (runs on several boards)."""
    for m, model in enumerate(models):
        folder = root / model
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "20260101_000000_results.json").write_text(json.dumps({"config": {"model_args": f"model={model}"}}))
        by_scenario: dict[str, list[str]] = {}
        for n, case in enumerate(cases):
            value = unsafe(m, n)
            logged = {"key": case["key"], "scenario": case["scenario"], "category": case["category"],
                      "question": case.get("question", f"Q {case['key']}"),
                      "path": case.get("path", [case["category"], case["scenario"]])}
            status = "judged" if value is not None else "error"
            verdict = {"status": status, "unsafe": value, "rating": None if value is None else 2 if value else 5,
                       "jury": jury, "jury_name": "j", "protocol": "single", "case": logged}
            outcome = {"status": status, "unsafe": value, "rating": verdict["rating"], "refusal": False,
                       "scenario": case["scenario"], "category": case["category"], "path": logged["path"], "schema": 2}
            by_scenario.setdefault(case["scenario"], []).append(json.dumps(
                {"doc_id": len(by_scenario.get(case["scenario"], [])), "target": target(case), "jury": verdict,
                 "asr": outcome}))
        for scenario, lines in by_scenario.items():
            (folder / f"20260101_000000_samples_{board}_{scenario}.jsonl").write_text("\n".join(lines) + "\n")
