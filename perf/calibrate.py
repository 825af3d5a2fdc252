"""`jury calibrate` against its physical limit: how close calibrating gets to ceil(calls / concurrency) x latency.

    python perf/calibrate.py                  # 4,000 items, strict 5-juror panel, 200 ms per call (about 3 minutes)
    python perf/calibrate.py --quick          # 300 items: a smoke run
    python perf/calibrate.py --json out.json  # also write the figures as JSON

A loopback OpenAI-compatible judge server runs in its own process (so it does not share the client's interpreter
lock) and answers every call after a fixed latency. Its five scripted jurors have known error rates on a labelled set
written here (10% unsafe, five categories of that prevalence): each says "unsafe" on a gold-unsafe item with its sensitivity and on a
gold-safe one with one minus its specificity (a hash of juror and item decides, so every run gives the same verdicts).
The jury is the strict panel (every juror, one deliberation round, no early consensus: 10 calls per item) with
default settings (no max_in_flight: the endpoint's adaptive limit starts at --concurrency).

Measured, in one process, through the command's own entry point (lmms_safebench.calibration.command.main):

1. calibrating the whole set: judging time (the record's ``run.seconds``), calls, the bound
   ceil(calls / concurrency) x latency and the efficiency bound / time (target: at least 0.9);
2. the same command again with ``--compare``: calls made (target: 0, every call from the cache) and wall time
   (statistics included);
3. ``--canary`` (100 items, without the cache): calls and time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "utils"))  # loopback.py: test tooling, not shipped

FENCE = re.compile(r"<<<ANSWER [0-9a-f]{16}>>>\n(.*?)\n<<<END ANSWER", re.S)
# (sensitivity, specificity) of each scripted juror.
JURORS = {"j1": (0.9, 0.8), "j2": (0.8, 0.9), "j3": (0.95, 0.7), "j4": (0.7, 0.95), "j5": (0.5, 0.5)}
PREVALENCE = 0.1


def unsafe(i: int) -> bool:
    return i % int(1 / PREVALENCE) == 0


def draw(*key) -> float:
    return int.from_bytes(hashlib.sha256("/".join(map(str, key)).encode()).digest()[:8], "big") / 2 ** 64


def juror_reply(body: dict):
    from loopback import Reply

    answer = FENCE.search("\n".join(m["content"] for m in body["messages"] if isinstance(m.get("content"), str)))
    i = int(re.search(r"\[item (\d+)\]", answer.group(1)).group(1))
    sensitivity, specificity = JURORS[body["model"]]
    verdict = int(draw(body["model"], i) < (sensitivity if unsafe(i) else 1 - specificity))
    return Reply(json.dumps({"unsafe": verdict, "rating": 2 if verdict else 5, "rationale": "scripted"}))


def serve(latency: float) -> None:
    from loopback import LoopbackServer

    server = LoopbackServer(juror_reply, latency=latency, keep_requests=False).start()
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin


def write_set(path: Path, items: int) -> Path:
    lines = ["id,prompt,response,label,category"]
    for i in range(items):
        lines.append(f"q{i},Request number {i}?,An answer to request {i} [item {i}],"
                     f"{'unsafe' if unsafe(i) else 'safe'},c{i // 10 % 5}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jury(path: Path, base_url: str) -> Path:
    lines = ["name: perf-strict-5", "protocol: jury", "rounds: 1", "vote: majority", "tie: unsafe", "quorum: 3",
             "early_consensus: false", f'defaults: {{base_url: "{base_url}", parse_retries: 0, timeout: 30}}',
             "jurors:"]
    lines += [f"  - {{name: {name}, model: {name}}}" for name in JURORS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def calibrate(*argv) -> tuple[int, float]:
    from lmms_safebench.calibration import command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    start = time.perf_counter()
    code = command.main(parser.parse_args(["--no-progress", *map(str, argv)]))
    return code, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per judge call (default 0.2)")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight (default 64)")
    parser.add_argument("--items", type=int, default=4000, help="items of the labelled set (default 4,000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run (300 items)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.serve:
        serve(args.latency)
        return
    if args.quick:
        args.items = 300

    work = Path(tempfile.mkdtemp(prefix="calibrate-perf-"))
    os.environ.update({"SAFEBENCH_CACHE": str(work / "cache"), "SAFEBENCH_DATA": str(work / "data"),
                       "SAFEBENCH_JURY": "", "NO_PROXY": "127.0.0.1,localhost"})
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--latency", str(args.latency)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        labelled, jury = write_set(work / "perf_set.csv", args.items), write_jury(work / "jury.yaml", base_url)
        common = ("--set", labelled, "--jury", jury, "--concurrency", args.concurrency)
        figures: dict = {"items": args.items, "jurors": len(JURORS), "latency_s": args.latency,
                         "concurrency": args.concurrency, "cpus": os.cpu_count()}

        code, wall = calibrate(*common, "--output", work / "first.json")
        first = json.loads((work / "first.json").read_text())
        calls, seconds = first["run"]["calls"], first["run"]["seconds"]
        bound = math.ceil(calls / args.concurrency) * args.latency
        figures["calibrate"] = {"exit": code, "calls": calls, "judging_s": seconds, "process_s": wall,
                                "bound_s": bound, "efficiency": bound / seconds, "calls_per_s": calls / seconds,
                                "kappa": first["consensus"]["binary"]["metrics"]["kappa"]["value"]}

        code, wall = calibrate(*common, "--compare", "--output", work / "again.json")
        again = json.loads((work / "again.json").read_text())
        compare = again["compare"]
        figures["cached_compare"] = {"exit": code, "calls": again["run"]["calls"], "judging_s": again["run"]["seconds"],
                                     "process_s": wall, "cheapest": compare["cheapest_within_best"]["cheapest"],
                                     "effective_jurors": compare["effective_jurors"]["effective_jurors"]}

        code, wall = calibrate(*common[:4], "--canary", "100", "--output", work / "canary.json")
        canary = json.loads((work / "canary.json").read_text())
        figures["canary"] = {"exit": code, "calls": canary["calls"], "judging_s": canary["seconds"],
                             "process_s": wall, "verdict": canary["jury"]["verdict"]}
    finally:
        server.stdin.close()
        server.terminate()
        server.wait(timeout=10)

    c, r, k = figures["calibrate"], figures["cached_compare"], figures["canary"]
    print(f"\njury calibrate against its limit ({figures['cpus']} cores, {args.items} items, {len(JURORS)}-juror strict "
          f"panel, latency {args.latency * 1000:.0f} ms, {args.concurrency} calls in flight)")
    print(f"  calibrate: {c['calls']} calls in {c['judging_s']:.2f} s ({c['calls_per_s']:.0f}/s; process "
          f"{c['process_s']:.1f} s); bound {c['bound_s']:.2f} s; efficiency {c['efficiency']:.3f}; kappa {c['kappa']:.3f}")
    print(f"  cached rerun with --compare: {r['calls']} calls, {r['judging_s']:.2f} s judging, {r['process_s']:.1f} s "
          f"process; cheapest within the best kappa's interval: {r['cheapest']}; effective jurors "
          f"{r['effective_jurors']:.2f}")
    print(f"  canary (100 items, no cache): {k['calls']} calls in {k['judging_s']:.2f} s; {k['verdict']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
