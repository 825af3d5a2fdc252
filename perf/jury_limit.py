"""The jury against its physical limit: how close judging gets to ceil(calls / concurrency) x latency.

    python perf/jury_limit.py                 # the full run (about 6 minutes on 2 cores)
    python perf/jury_limit.py --quick         # a smaller smoke run
    python perf/jury_limit.py --json out.json # also write the figures as JSON

A loopback OpenAI-compatible judge server runs in its own process with a fixed latency per call. Its
five scripted jurors see a realistic mix of answers: most are refusals (unanimous "safe"), some are
harmful (unanimous "unsafe"), some are contested (2-3 in round one, 3-2 after deliberation). The
script measures, in one run:

1. ``lmms-safebench judge`` with the strict 5-juror panel (every juror, every round): wall time,
   calls per second, the bound ceil(calls / concurrency) x latency and the efficiency bound / time;
2. the sequential baseline: the same judging one call at a time, as the original scripts do, timed on
   a subset and scaled to the same number of calls (reported as a speed-up ratio);
3. a cached rerun (calls made, time);
4. the fast mode (early consensus): the share of calls it saves on the mix;
5. the inline path: ``lmms-eval --process_docs_parallel`` on the SafeBench text tasks, the jury
   judging inside the harness (judging time read from the cache's write times);
6. with zero added latency, calls per second of ``lmms-safebench judge`` (one juror) against the same
   server, next to a minimal raw HTTP client (keep-alive ``http.client``, no SDK) as the ceiling;
7. against an endpoint that serves at most 8 calls at once and answers 429 (``Retry-After: 0``) above
   that: where each endpoint's adaptive limit settles, the share of requests refused, and the judging
   time against the bound ceil(calls / 8) x latency.

Juries use default settings (no ``max_in_flight``): each endpoint's limit is adaptive and starts at
``--concurrency``. Results are printed as a table; ``docs/performance.md`` records a run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "utils"))  # loopback.py: test tooling, not shipped

BIN = Path(sys.executable).parent
CONTESTED_ROUND_ONE = {"j1": 1, "j2": 1, "j3": 0, "j4": 0, "j5": 0}
FENCE = re.compile(r"<<<ANSWER [0-9a-f]{16}>>>\n(.*?)\n<<<END ANSWER", re.S)


# ------------------------------------------------------------------------------------------ server

def juror_reply(body: dict):
    """Scripted jurors: the answer's marker decides; contested answers split and j3 flips on deliberation."""
    from loopback import Reply

    text = "\n".join(m["content"] for m in body.get("messages", []) if isinstance(m.get("content"), str))
    found = FENCE.search(text)
    answer = found.group(1) if found else ""
    juror = body.get("model", "j1")
    if "HARMFUL" in answer:
        unsafe = 1
    elif "CONTESTED" in answer:
        unsafe = CONTESTED_ROUND_ONE.get(juror, 0) or int(juror == "j3" and "deliberating" in text)
    else:
        unsafe = 0
    return Reply(json.dumps({"unsafe": unsafe, "rating": 2 if unsafe else 5, "rationale": "scripted"}))


def target_reply(body: dict):
    """The evaluated model for the inline run: the mix, chosen by the query's number."""
    from loopback import Reply, user_text

    number = int(re.search(r"query (\d+)", user_text(body)).group(1))
    return Reply(answer_for(number))


def answer_for(i: int) -> str:
    """70% refusals, 20% harmful, 10% contested."""
    kind = i % 10
    if kind < 7:
        return f"I cannot help with that request ({i})."
    if kind < 9:
        return f"Sure, here is how (HARMFUL {i}): step one, step two."
    return f"It depends; some general context (CONTESTED {i})."


class Capped:
    """The scripted jurors behind an endpoint that serves at most ``cap`` calls at once (each taking
    ``latency``) and answers 429 with ``Retry-After: 0`` to any call above that."""

    def __init__(self, cap: int, latency: float):
        self.cap, self.latency, self.active = cap, latency, 0
        self.lock = threading.Lock()

    def __call__(self, body: dict):
        from loopback import Reply

        with self.lock:
            if self.active >= self.cap:
                return Reply(status=429, headers={"Retry-After": "0"})
            self.active += 1
        try:
            time.sleep(self.latency)
            return juror_reply(body)
        finally:
            with self.lock:
                self.active -= 1


def serve(latency: float, kind: str, cap: int) -> None:
    from loopback import LoopbackServer

    if kind == "capped":
        server = LoopbackServer(Capped(cap, latency), keep_requests=False)
    else:
        server = LoopbackServer(juror_reply if kind == "judge" else target_reply, latency=latency,
                                keep_requests=False)
    server.start()
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin


class Server:
    """A loopback server in its own process (so it does not share the client's interpreter lock)."""

    def __init__(self, latency: float, kind: str = "judge", cap: int = 8):
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--latency", str(latency),
                                      "--cap", str(cap)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.base_url = self.proc.stdout.readline().strip()
        host_port = self.base_url.split("//")[1].split("/")[0]
        self.host, self.port = host_port.split(":")[0], int(host_port.split(":")[1])

    def count(self) -> int:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        conn.request("GET", "/v1/stats")
        value = json.loads(conn.getresponse().read())["requests"]
        conn.close()
        return value

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


# ------------------------------------------------------------------------------------------ inputs

def write_log(folder: Path, samples: int) -> None:
    """An lm-eval-style log (documents kept) of ``samples`` SafeBench text answers over 23 scenarios."""
    from lmms_safebench.benchmarks import safebench as sb

    folder.mkdir(parents=True, exist_ok=True)
    handles = {}
    for i in range(samples):
        scenario = sb.SCENARIOS[i % len(sb.SCENARIOS)]
        task = f"safebench_text_{scenario.slug}"
        if task not in handles:
            handles[task] = open(folder / f"samples_{task}_2026-01-01T00-00-00.000000.jsonl", "w")
        doc = {"id": f"{i}", "set": "full", "modality": "text", "mode": "default", "query": f"Request number {i}?",
               "scenario_slug": scenario.slug}
        handles[task].write(json.dumps({"doc_id": i // len(sb.SCENARIOS), "doc": doc,
                                        "filtered_resps": [answer_for(i)]}) + "\n")
    for handle in handles.values():
        handle.close()


def write_jury(path: Path, base_url: str, strict: bool, jurors: int = 5) -> Path:
    """A jury on one endpoint with default limits (no max_in_flight: the endpoint's limit is adaptive)."""
    personas = ["elder", "citizen", "guardian", "expert", "ethicist"]
    lines = [f"name: bench-{'strict' if strict else 'fast'}-{jurors}", f"protocol: {'jury' if jurors > 1 else 'single'}",
             f"rounds: {1 if jurors > 1 else 0}", "vote: majority", "tie: unsafe", f"quorum: {min(3, jurors)}",
             f"early_consensus: {'false' if strict else 'true'}",
             f'defaults: {{base_url: "{base_url}", parse_retries: 0, timeout: 30}}',
             "jurors:"]
    lines += [f"  - {{name: j{k + 1}, model: j{k + 1}, persona: {personas[k]}}}" for k in range(jurors)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_release(root: Path, per_scenario: int) -> None:
    """A text-only SafeBench release (category.csv and text/{k}.csv) for the inline run."""
    from lmms_safebench.benchmarks import safebench as sb

    base = root / "final_bench" / "text"
    base.mkdir(parents=True, exist_ok=True)
    lines = ["id,category"]
    for k, scenario in enumerate(sb.SCENARIOS, 1):
        lines.append(f"{k},{scenario.title}")
        rows = [f'"{scenario.title} query {(k - 1) * per_scenario + i} SCEN-{scenario.slug}"'
                for i in range(per_scenario)]
        (base / f"{k}.csv").write_text("\n".join(rows) + "\n")
    (root / "final_bench" / "category.csv").write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------ measuring

def judge(env: dict, log: Path, out: Path, jury: Path, concurrency: int, server: Server) -> dict:
    before = server.count()
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "lmms-safebench"), "judge", "--no-progress", str(log), "--output", str(out),
                           "--jury", str(jury), "--concurrency", str(concurrency)],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"judge failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    judging = float(re.search(r"samples in ([\d.]+) s", proc.stdout).group(1))
    limit = ENDPOINT_LINE.search(proc.stdout)  # absent when every call came from the cache
    endpoint = limit and {"settled_limit": int(limit.group(1)), "ceiling": int(limit.group(2)),
                          "peak_in_flight": int(limit.group(3)), "rate_limited": int(limit.group(4)),
                          "requests": int(limit.group(5))}
    return {"calls": server.count() - before, "process_s": wall, "judging_s": judging, "endpoint": endpoint}


ENDPOINT_LINE = re.compile(r"limit settled at (\d+) \(ceiling (\d+), peak (\d+) in flight\), (\d+) rate-limited "
                           r"responses.* of (\d+) requests")


def throughput(call, calls: int, threads: int, connect=lambda: None) -> float:
    """Calls per second of ``call(connection)`` made ``calls`` times from ``threads`` threads."""
    counter = iter(range(calls))
    lock = threading.Lock()

    def worker():
        connection = connect()
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            call(connection)

    start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return calls / (time.perf_counter() - start)


def raw_client(host: str, port: int, body: bytes, calls: int, threads: int) -> float:
    """A bare keep-alive HTTP client posting ``body`` (the client's own ceiling)."""
    def call(conn):
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        conn.getresponse().read()

    return throughput(call, calls, threads, lambda: http.client.HTTPConnection(host, port, timeout=30))


def sdk_client(base_url: str, body: dict, calls: int, threads: int) -> float:
    """The openai SDK alone (the jurors' transport), the same request, the same threads."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)

    def call(_):
        client.chat.completions.with_raw_response.create(model="j1", messages=[], extra_body=body).http_response.json()

    return throughput(call, calls, threads)


def cache_span(path: Path) -> float:
    """Seconds between the first and the last juror call written to a judge cache."""
    with sqlite3.connect(path) as conn:
        first, last = conn.execute("SELECT MIN(created), MAX(created) FROM juror_calls").fetchone()
    return (last - first) if first is not None else math.nan


def bound(calls: int, concurrency: int, latency: float) -> float:
    return math.ceil(calls / concurrency) * latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", choices=["judge", "target", "capped"], help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per judge call (default 0.2)")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight (default 64)")
    parser.add_argument("--samples", type=int, default=552, help="samples for the strict panel (x10 calls)")
    parser.add_argument("--inline-per-scenario", type=int, default=100, help="queries per scenario, inline run")
    parser.add_argument("--zero-latency-calls", type=int, default=3000, help="calls for the zero-latency runs")
    parser.add_argument("--cap", type=int, default=8, help="calls the rate-limited endpoint serves at once (8)")
    parser.add_argument("--capped-samples", type=int, default=None,
                        help="samples for the rate-limited run (x10 calls; default: --samples)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.serve:
        serve(args.latency, args.serve, args.cap)
        return
    if args.quick:
        args.samples, args.inline_per_scenario, args.zero_latency_calls = 70, 3, 400
        args.capped_samples = args.capped_samples or 30
    args.capped_samples = args.capped_samples or args.samples

    work = Path(tempfile.mkdtemp(prefix="jury-limit-"))
    base_env = {**os.environ, "SAFEBENCH_DATA": str(work / "data"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "NO_PROXY": "127.0.0.1,localhost", "SAFEBENCH_JURY": ""}
    figures: dict = {"latency_s": args.latency, "concurrency": args.concurrency, "cpus": os.cpu_count()}
    log = work / "log"
    write_log(log, args.samples)

    server = Server(args.latency)
    try:
        strict, fast = write_jury(work / "strict.yaml", server.base_url, True), write_jury(
            work / "fast.yaml", server.base_url, False)
        env = {**base_env, "SAFEBENCH_CACHE": str(work / "cache-strict")}
        run = judge(env, log, work / "out-strict", strict, args.concurrency, server)
        run["bound_s"] = bound(run["calls"], args.concurrency, args.latency)
        run["efficiency"] = run["bound_s"] / run["judging_s"]
        run["calls_per_s"] = run["calls"] / run["judging_s"]
        figures["strict_panel"] = run

        cached = judge(env, log, work / "out-cached", strict, args.concurrency, server)
        figures["cached_rerun"] = cached

        subset = work / "log-subset"
        write_log(subset, 10)
        env_seq = {**base_env, "SAFEBENCH_CACHE": str(work / "cache-seq")}
        seq = judge(env_seq, subset, work / "out-seq", strict, 1, server)
        per_call = seq["judging_s"] / seq["calls"]
        figures["sequential"] = {"calls": seq["calls"], "judging_s": seq["judging_s"], "per_call_s": per_call,
                                 "projected_s_for_strict_run": per_call * run["calls"],
                                 "speedup": per_call * run["calls"] / run["judging_s"]}

        env_fast = {**base_env, "SAFEBENCH_CACHE": str(work / "cache-fast")}
        fast_run = judge(env_fast, log, work / "out-fast", fast, args.concurrency, server)
        fast_run["bound_s"] = bound(fast_run["calls"], args.concurrency, args.latency)
        fast_run["efficiency"] = fast_run["bound_s"] / fast_run["judging_s"]
        fast_run["calls_saved_share"] = 1 - fast_run["calls"] / run["calls"]
        figures["fast_panel"] = fast_run

        # The inline path: lmms-eval asks a loopback model, the jury judges inside process_results.
        write_release(work / "release", args.inline_per_scenario)
        env_inline = {**base_env, "SAFEBENCH_CACHE": str(work / "cache-inline"), "SAFEBENCH_JURY": str(strict)}
        build = subprocess.run([str(BIN / "lmms-safebench"), "build", "safebench", "--set", "full", "--source",
                                str(work / "release")], capture_output=True, text=True, env=env_inline)
        if build.returncode not in (0, 1):  # 1: the text-only release's missing image and audio are left out
            raise SystemExit(build.stderr[-3000:])
        target = Server(0.0, "target")
        try:
            before = server.count()
            start = time.perf_counter()
            proc = subprocess.run([str(BIN / "lmms-eval"), "--model", "openai", "--model_args",
                                   f"model=target,base_url={target.base_url},api_key=x", "--tasks", "safebench_text",
                                   "--process_docs_parallel", str(args.concurrency), "--output_path",
                                   str(work / "out-inline")], capture_output=True, text=True, env=env_inline)
            wall = time.perf_counter() - start
        finally:
            target.close()
        if not list((work / "out-inline").rglob("*_results.json")):
            raise SystemExit(f"inline run failed:\n{proc.stderr[-3000:]}")
        calls = server.count() - before
        span = cache_span(work / "cache-inline" / "judge_cache.sqlite") + args.latency
        figures["inline_lmms_eval"] = {"samples": 23 * args.inline_per_scenario, "calls": calls, "wall_s": wall,
                                       "judging_s": span, "bound_s": bound(calls, args.concurrency, args.latency),
                                       "efficiency": bound(calls, args.concurrency, args.latency) / span}
    finally:
        server.close()

    # Zero added latency: our client against a raw one, same server, same concurrency.
    server = Server(0.0)
    try:
        single = write_jury(work / "single.yaml", server.base_url, True, jurors=1)
        zlog = work / "log-zero"
        write_log(zlog, args.zero_latency_calls)
        env_zero = {**base_env, "SAFEBENCH_CACHE": str(work / "cache-zero")}
        ours = judge(env_zero, zlog, work / "out-zero", single, args.concurrency, server)
        request = {"messages": [
            {"role": "system", "content": "You are a safety juror."},
            {"role": "user", "content": "<<<ANSWER 0123456789abcdef>>>\nI cannot help.\n<<<END ANSWER 0123456789abcdef>>>"}],
            "temperature": 0}
        raw = raw_client(server.host, server.port, json.dumps({"model": "j1", **request}).encode(),
                         args.zero_latency_calls, args.concurrency)
        sdk = sdk_client(server.base_url, request, args.zero_latency_calls, args.concurrency)
        figures["zero_latency"] = {"calls": ours["calls"], "ours_calls_per_s": ours["calls"] / ours["judging_s"],
                                   "sdk_calls_per_s": sdk, "raw_calls_per_s": raw,
                                   "ratio": ours["calls"] / ours["judging_s"] / raw,
                                   "ratio_to_sdk": ours["calls"] / ours["judging_s"] / sdk}
    finally:
        server.close()

    # An endpoint that refuses (429) any call above --cap in flight: the strict panel with default settings.
    server = Server(args.latency, "capped", args.cap)
    try:
        capped_log = work / "log-capped"
        write_log(capped_log, args.capped_samples)
        env_capped = {**base_env, "SAFEBENCH_CACHE": str(work / "cache-capped")}
        jury = write_jury(work / "capped.yaml", server.base_url, True)
        run = judge(env_capped, capped_log, work / "out-capped", jury, args.concurrency, server)
        endpoint = run.pop("endpoint")
        calls = endpoint["requests"] - endpoint["rate_limited"]
        figures["rate_limited"] = {
            **run, **endpoint, "cap": args.cap, "calls": calls, "server_requests": run["calls"],
            "rate_limited_share": endpoint["rate_limited"] / endpoint["requests"],
            "bound_s": bound(calls, args.cap, args.latency),
            "efficiency": bound(calls, args.cap, args.latency) / run["judging_s"]}
    finally:
        server.close()

    s, q, f, i, z, r = (figures[k] for k in ("strict_panel", "sequential", "fast_panel", "inline_lmms_eval",
                                             "zero_latency", "rate_limited"))
    print(f"\njury against its limit ({figures['cpus']} cores, latency {args.latency * 1000:.0f} ms, "
          f"{args.concurrency} calls in flight)")
    print(f"  strict panel (judge CLI): {s['calls']} calls in {s['judging_s']:.2f} s ({s['calls_per_s']:.0f}/s; process "
          f"{s['process_s']:.1f} s); bound {s['bound_s']:.2f} s; efficiency {s['efficiency']:.3f}")
    print(f"  sequential baseline: {q['per_call_s'] * 1000:.0f} ms per call over {q['calls']} calls -> "
          f"{q['projected_s_for_strict_run']:.0f} s for the same work; speed-up x{q['speedup']:.1f}")
    print(f"  cached rerun: {figures['cached_rerun']['calls']} calls, {figures['cached_rerun']['judging_s']:.2f} s "
          f"judging ({figures['cached_rerun']['process_s']:.1f} s process)")
    print(f"  fast panel (early consensus): {f['calls']} calls ({100 * f['calls_saved_share']:.1f}% saved), "
          f"{f['judging_s']:.2f} s, efficiency {f['efficiency']:.3f}")
    print(f"  inline lmms-eval --process_docs_parallel {args.concurrency}: {i['calls']} calls, judging "
          f"{i['judging_s']:.2f} s (bound {i['bound_s']:.2f} s, efficiency {i['efficiency']:.3f}); run {i['wall_s']:.1f} s")
    print(f"  zero latency: ours {z['ours_calls_per_s']:.0f} calls/s, raw client {z['raw_calls_per_s']:.0f} calls/s "
          f"(ratio {z['ratio']:.2f}), openai SDK alone {z['sdk_calls_per_s']:.0f} calls/s (ratio {z['ratio_to_sdk']:.2f})")
    print(f"  endpoint refusing above {r['cap']} in flight (429, Retry-After: 0): limit settled at "
          f"{r['settled_limit']} (ceiling {r['ceiling']}); {r['rate_limited']} of {r['requests']} requests rate-limited "
          f"({100 * r['rate_limited_share']:.1f}%); {r['calls']} calls in {r['judging_s']:.2f} s, bound at {r['cap']} "
          f"in flight {r['bound_s']:.2f} s, efficiency {r['efficiency']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
