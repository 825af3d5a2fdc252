"""The jury benchmark script runs end to end (a small run; its timings are not asserted here, they are
measured by the script itself and recorded in docs/performance.md; a shorter judge latency than its default keeps
this run short, the counts do not depend on it). It starts lmms-eval (the inline path), so it is an e2e test."""

import json
import subprocess
import sys

from helpers import REPO

SCRIPT = REPO / "perf" / "jury_limit.py"


def test_quick_benchmark_counts_calls_the_way_the_protocol_predicts(tmp_path):
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--latency", "0.05", "--json", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    # 70 samples x 5 jurors x 2 rounds; the cached rerun makes no call.
    assert figures["strict_panel"]["calls"] == 700 and figures["cached_rerun"]["calls"] == 0
    # Early consensus: only the contested tenth of the answers is deliberated.
    assert figures["fast_panel"]["calls"] == 70 * 5 + 7 * 5
    assert figures["inline_lmms_eval"]["calls"] == 23 * 3 * 10
    assert figures["sequential"]["calls"] == 100 and figures["zero_latency"]["calls"] == 400
    assert 0 < figures["strict_panel"]["efficiency"] <= 1.05
    # Default settings: the endpoint's adaptive limit starts at --concurrency and nothing pushes it down.
    assert figures["strict_panel"]["endpoint"]["settled_limit"] == figures["strict_panel"]["endpoint"]["ceiling"] == 64
    assert figures["strict_panel"]["endpoint"]["rate_limited"] == 0
    # The endpoint refusing above 8 in flight: every call got through, each refusal was one more request.
    limited = figures["rate_limited"]
    assert limited["calls"] == 30 * 10 and limited["requests"] == limited["server_requests"] == 300 + limited["rate_limited"]
    assert limited["rate_limited"] > 0 and 1 <= limited["settled_limit"] < 64
