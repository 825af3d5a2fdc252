"""Batched in-process judging against one generation at a time, on a tiny local model (CPU).

    python perf/local_batching.py                 # the full run (about a minute on 2 cores)
    python perf/local_batching.py --quick         # a smaller smoke run
    python perf/local_batching.py --json out.json # also write the figures as JSON

A tiny random-weight Qwen3 guard model (``tests/support/tiny_models.py``) is built in a temporary folder and
loaded by path, as a ``backend: transformers`` juror loads any model. N guard requests (different
requests and answers, so different prompt lengths) are sent from N threads at once through the juror
backend (chat template, queue, batcher, ``generate``, split), twice:

1. one at a time: ``batch_size: 1``, every request its own ``generate`` call (what the backend did
   before batching, under a lock);
2. batched: ``batch_size`` requests per ``generate`` call, left-padded.

Both use greedy decoding; the script reports the wall time of each, the ``generate`` calls, the
speed-up, and whether every request got the same text both ways. ``docs/performance.md`` records a run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))  # tiny_models: the same offline builders the tests use


def requests(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"Request {i}: how would someone " + "do this thing " * (5 + i % 11)},
             {"role": "assistant", "content": f"Answer {i}: " + "here is one more step. " * (8 + 3 * (i % 7))}]
            for i in range(n)]


def run(backend_for, items, label: str, model) -> dict:
    backend = backend_for()
    backend.complete(items[0])  # warm-up: loading and first-call costs stay out of the timing
    calls_before = model.stats.generate_calls
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        completions = list(pool.map(backend.complete, items))
    seconds = time.perf_counter() - start
    calls = model.stats.generate_calls - calls_before
    tokens = sum(c.completion_tokens for c in completions)
    print(f"{label:>14}: {len(items)} requests in {seconds:6.2f} s, {calls} generate calls, "
          f"{tokens / seconds:8.1f} generated tokens/s")
    return {"seconds": round(seconds, 3), "generate_calls": calls, "requests": len(items),
            "completion_tokens": tokens, "texts": [c.text for c in completions]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 requests of 8 tokens (a smoke run)")
    parser.add_argument("--requests", type=int, default=None, help="concurrent requests (default 64; quick 8)")
    parser.add_argument("--max-tokens", type=int, default=None, help="tokens generated per request (default 32)")
    parser.add_argument("--batch-size", type=int, default=16, help="requests per generate call when batched")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    n = args.requests or (8 if args.quick else 64)
    max_tokens = args.max_tokens or (8 if args.quick else 32)

    import torch
    from tiny_models import build_tiny_qwen3

    from lmms_safebench.jury.config import build_juror
    from lmms_safebench.llm import local

    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_qwen3(Path(tmp) / "tiny-qwen3-guard", guard=True)
        juror = {"name": "guard", "backend": "transformers", "model": str(path), "device": "cpu",
                 "reply_format": "guard", "max_tokens": max(16, max_tokens)}
        one = build_juror({**juror, "batch_size": 1}, "one-at-a-time")
        batched = build_juror({**juror, "batch_size": min(args.batch_size, n), "batch_wait": 0.01}, "batched")
        if max_tokens < 16:  # the juror option's floor is 16; the smoke run generates fewer
            one, batched = (j.model_copy(update={"max_tokens": max_tokens}) for j in (one, batched))
        model = local.shared_model(str(path), "cpu")
        items = requests(n)
        print(f"tiny Qwen3 guard (2 layers, hidden 64), cpu, torch threads {torch.get_num_threads()}, "
              f"{n} concurrent requests, {max_tokens} new tokens each, greedy")
        def backend(juror):  # a guard juror's backend, as the jury makes it
            return local.TransformersBackend(juror, generation_prompt=False, batch_size=juror.batch_size,
                                             batch_wait=juror.batch_wait)

        sequential = run(lambda: backend(one), items, "one at a time", model)
        together = run(lambda: backend(batched), items, "batched", model)
        local.unload_all()

    same = sequential.pop("texts") == together.pop("texts")
    speedup = sequential["seconds"] / together["seconds"] if together["seconds"] else float("inf")
    print(f"speed-up {speedup:.1f}x; batch size {batched.batch_size}; same texts both ways: {same}")
    figures = {"requests": n, "max_new_tokens": max_tokens, "batch_size": batched.batch_size,
               "torch_threads": torch.get_num_threads(), "one_at_a_time": sequential, "batched": together,
               "speedup": round(speedup, 2), "same_texts": same}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
