"""Generation throughput of the SafeBench-style pipeline's text stages, concurrent against one call at a time.

    python perf/generation_throughput.py                 # the full run (about 3.5 minutes)
    python perf/generation_throughput.py --quick         # a small smoke run
    python perf/generation_throughput.py --json out.json # also write the figures as JSON

A loopback OpenAI-compatible server stands in for the writer and the scorer; it answers every call after a
fixed latency (500 ms by default) and records how many calls it had in flight at most. The same generation
(``lmms-safebench generate safebench --stages taxonomy,queries,scoring``: S scenarios x B batches of N
queries, then every query scored) runs twice in one process, each into a fresh folder (no cache):

1. concurrent: ``concurrency: 32`` (32 calls in flight);
2. sequential: ``concurrency: 1``, one call at a time, as the original scripts work.

It reports wall time, calls, the most calls in flight, the bound (ceil(batches / 32) + ceil(queries / 32))
x latency (the queries stage must finish before scoring starts), the efficiency bound / time, and the
ratio sequential / concurrent. ``docs/performance.md`` records a run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "utils"))  # loopback.py: test tooling, not shipped

WORDS = ("amber basin cobalt delta ember fjord garnet harbor island jasper kelp lagoon meadow nickel orchard pepper "
         "quartz raven saffron tundra umber velvet walnut xenon yarrow zephyr anchor beacon canyon dune falcon glacier "
         "hollow ivory juniper kettle lantern marble nectar opal prairie quiver ridge summit timber upland valley "
         "willow yonder zinc archive bramble cipher drift echo forge grove hinge inlet jigsaw knoll").split()


class StandIn:
    """The writer and the scorer: distinct random-word queries per batch, scores from the query's text."""

    def __init__(self, latency: float):
        self.latency = latency
        self.active = self.peak = self.calls = 0
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.active = self.peak = self.calls = 0

    def __call__(self, body: dict):
        from loopback import Reply, user_text

        with self.lock:
            self.active += 1
            self.calls += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.latency)
            text = user_text(body)
            rng = random.Random(text)
            if "Risk scenario:" in text:
                n = int(re.search(r"exactly (\d+) requests", text).group(1))
                queries = [" ".join(rng.choice(WORDS) for _ in range(9)) + "?" for _ in range(n)]
                return Reply(json.dumps({"queries": queries}), completion_tokens=20 * n)
            scores = {axis: rng.randrange(10) for axis in ("feasibility", "harmfulness", "applicability")}
            return Reply(json.dumps({"reasoning": "scripted", **scores}), completion_tokens=30)
        finally:
            with self.lock:
                self.active -= 1


def write_inputs(folder: Path, url: str, scenarios: int, batches: int, per_call: int, concurrency: int) -> Path:
    titles = [f"Scenario {i + 1}" for i in range(scenarios)]
    categories = [{"title": f"Category {c + 1}", "abbr": f"C{c + 1}", "scenarios": [{"title": t} for t in group]}
                  for c, group in enumerate((titles[0::2], titles[1::2])) if group]
    (folder / f"taxonomy_{scenarios}.yaml").write_text(yaml.safe_dump({"categories": categories}))
    config = {"llm": {"model": "writer", "base_url": url, "max_in_flight": 64, "timeout": 60},
              "taxonomy": f"taxonomy_{scenarios}.yaml", "queries": {"per_call": per_call, "calls_per_scenario": batches},
              "scoring": {"top_k": per_call * batches}, "concurrency": concurrency}
    path = folder / f"config_{scenarios}_{concurrency}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def generate(config: Path, name: str, data: Path) -> tuple[int, float, str]:
    from lmms_safebench import cli

    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = cli.main(["generate", "safebench", str(config), "--name", name, "--data-dir", str(data),
                           "--stages", "taxonomy,queries,scoring", "--no-progress"])
    return status, time.perf_counter() - start, out.getvalue()


def measure(stand_in: StandIn, config: Path, name: str, data: Path, batches_total: int, queries_total: int,
            in_flight: int) -> dict:
    stand_in.reset()
    status, seconds, output = generate(config, name, data)
    if status != 0:
        sys.exit(f"generation {name} failed ({status}):\n{output}")
    ledger = json.loads((data / "generated" / name / "work" / "ledger.json").read_text())
    bound = (math.ceil(batches_total / in_flight) + math.ceil(queries_total / in_flight)) * stand_in.latency
    return {"seconds": round(seconds, 3), "requests": stand_in.calls, "peak_in_flight": stand_in.peak,
            "calls_per_second": round(stand_in.calls / seconds, 2), "bound_seconds": round(bound, 3),
            "efficiency": round(bound / seconds, 3),
            "stage_seconds": {stage: round(ledger[stage]["seconds"], 3) for stage in ("queries", "scoring")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per call (default 0.5)")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight, concurrent run (default 32)")
    parser.add_argument("--scenarios", type=int, default=4)
    parser.add_argument("--batches", type=int, default=8, help="batches per scenario (default 8)")
    parser.add_argument("--per-call", type=int, default=10, help="queries per batch (default 10)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (2 x 2 x 3, 50 ms)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.quick:
        args.latency, args.scenarios, args.batches, args.per_call = 0.05, 2, 2, 3

    from loopback import LoopbackServer

    batches_total = args.scenarios * args.batches
    queries_total = batches_total * args.per_call
    stand_in = StandIn(args.latency)
    figures = {"latency": args.latency, "concurrency": args.concurrency, "scenarios": args.scenarios,
               "batches": args.batches, "per_call": args.per_call, "calls": batches_total + queries_total}
    with tempfile.TemporaryDirectory() as tmp, LoopbackServer(stand_in, keep_requests=False) as server:
        folder = Path(tmp)
        data = folder / "data"
        concurrent = write_inputs(folder, server.base_url, args.scenarios, args.batches, args.per_call,
                                  args.concurrency)
        sequential = write_inputs(folder, server.base_url, args.scenarios, args.batches, args.per_call, 1)
        # Warm-up (imports, first client), so that neither timed run pays for it.
        warm = write_inputs(folder, server.base_url, 1, 1, 1, 1)
        if generate(warm, "warmup", data)[0] != 0:
            sys.exit("the warm-up generation failed")
        figures["concurrent"] = measure(stand_in, concurrent, "concurrent", data, batches_total, queries_total,
                                        args.concurrency)
        figures["sequential"] = measure(stand_in, sequential, "sequential", data, batches_total, queries_total, 1)
    figures["ratio"] = round(figures["sequential"]["seconds"] / figures["concurrent"]["seconds"], 2)

    print(f"text stages (queries + scoring): {args.scenarios} scenarios x {args.batches} batches x {args.per_call} "
          f"queries = {figures['calls']} calls, latency {args.latency * 1000:.0f} ms")
    print(f"{'run':<12}{'seconds':>10}{'calls':>8}{'peak':>6}{'calls/s':>10}{'bound s':>10}{'efficiency':>12}")
    for run in ("concurrent", "sequential"):
        f = figures[run]
        print(f"{run:<12}{f['seconds']:>10.2f}{f['requests']:>8}{f['peak_in_flight']:>6}{f['calls_per_second']:>10.2f}"
              f"{f['bound_seconds']:>10.2f}{f['efficiency']:>12.3f}")
    print(f"ratio sequential / concurrent: {figures['ratio']:.1f}x (target >= 20x)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
