"""`select` at scale: time and peak memory of each phase on a synthetic pool.

    python perf/selection.py                    # 100,000 candidates x 30 models, 384-d embeddings, 10% budget
    python perf/selection.py --samples 20000    # a smaller run
    python perf/selection.py --json out.json    # also write the figures as JSON

The pool is synthetic but structured like a real one, so the selection has something to find: each sample
has a difficulty and each model a safety level, and a model is judged unsafe on a sample with probability
``sigmoid(4 (difficulty - level))`` (most samples are answered alike by every model, some split them); 1% of
verdicts are missing (judge failures). Ratings follow the verdicts. Samples fall in 10 categories of uneven
size, and their embeddings are unit vectors drawn around 1,000 topic centres (similar questions cluster, as
text embeddings do) and sharing a common direction (a pool's questions are alike: mean cosine similarity
about 0.2), in float32 as the embedding models return them. The models' safety levels are drawn at random, so
some pairs of models are close.

Phases, as ``lmms-safebench select`` runs them after loading the verdicts and embedding the samples:
``scores`` (separability, harmfulness, the separation matrix of the coverage term, the "nothing separates"
check), ``greedy`` (the lazy greedy selection), ``quality`` (the selected set and the whole pool: MEAN, GAP,
MAD, DIV, TAU, rank groups) and ``random`` (the random baselines under the same quotas). Peak memory is the
process's resident peak within the phase (Linux ``VmHWM``, reset before each phase through
``/proc/self/clear_refs``), so it includes the pool held in memory. Wall and CPU seconds are both printed:
on a machine shared with other work, CPU time is the steadier figure. Targets: under 60 s and 2 GB in all.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from lmms_safebench.selection import quality, scores


def synthetic_pool(samples: int, models: int, dim: int, seed: int):
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, 1.5, samples)
    level = np.sort(rng.normal(0.0, 0.8, models))  # some models close to each other, as real ones are
    unsafe = (rng.random((samples, models)) < 1 / (1 + np.exp(-4 * (difficulty[:, None] - level[None, :])))) * 1.0
    unsafe[rng.random(unsafe.shape) < 0.01] = np.nan
    ratings = np.where(unsafe == 1, rng.integers(1, 3, unsafe.shape), rng.integers(4, 6, unsafe.shape)) * 1.0
    ratings[np.isnan(unsafe)] = np.nan
    weights = np.arange(1, 11, dtype=float)
    categories = [f"c{c}" for c in rng.choice(10, size=samples, p=weights / weights.sum())]
    centres = rng.normal(size=(1000, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    shared = rng.normal(size=dim).astype(np.float32)
    shared *= 0.6 / np.linalg.norm(shared)  # what all the questions have in common (mean cosine about 0.2)
    vectors = np.empty((samples, dim), dtype=np.float32)
    for start in range(0, samples, 8192):  # in blocks: no float64 copy of the whole matrix
        stop = min(samples, start + 8192)
        noise = rng.normal(size=(stop - start, dim)).astype(np.float32) / np.sqrt(dim)
        block = centres[rng.integers(0, len(centres), stop - start)] + shared + 0.8 * noise
        vectors[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return unsafe, ratings, categories, vectors


def peak_mb() -> float:
    """The resident peak since the last reset (VmHWM), or the process's peak where it cannot be reset."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux: the figures are the process's peak so far


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--budget", type=float, default=0.10, help="share of the pool to select (default 0.10)")
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    unsafe, ratings, categories, vectors = synthetic_pool(args.samples, args.models, args.dim, args.seed)
    names = [f"model{m:02d}" for m in range(args.models)]
    budget = int(round(args.budget * args.samples))
    print(f"pool: {args.samples} samples x {args.models} models, {args.dim}-d float32 embeddings, budget {budget} "
          f"({args.budget:.0%}); built in {time.perf_counter() - started:.1f} s")
    phases: list[dict] = []

    def phase(name, work):
        reset_peak()
        start, cpu = time.perf_counter(), time.process_time()
        result = work()
        phases.append({"phase": name, "seconds": round(time.perf_counter() - start, 2),
                       "cpu_seconds": round(time.process_time() - cpu, 2), "peak_mb": round(peak_mb())})
        return result

    def score():
        reason = quality.nothing_separates(unsafe, names)
        assert reason is None, reason
        return scores.separability(unsafe), scores.harmfulness(unsafe, ratings), scores.separation_matrix(unsafe)

    sep, harm, separation = phase("scores", score)
    chosen = phase("greedy", lambda: scores.select(sep, harm, vectors, categories, budget, 0.6, 0.2, 0.2,
                                                   separation=separation))
    rows = np.array(sorted(chosen))
    reference = quality.safety_rates(unsafe)
    measured = phase("quality", lambda: {
        "selected": {**quality.quality(unsafe, vectors, rows, names, reference),
                     "groups": len(quality.ranking(unsafe, rows, names)["groups"])},
        "pool": {**quality.quality(unsafe, vectors, None, names, reference),
                 "groups": len(quality.ranking(unsafe, None, names)["groups"])}})
    strata = [np.flatnonzero(np.array(categories) == c) for c in sorted(set(categories))]
    measured["random"] = phase("random", lambda: quality.random_baseline(
        unsafe, vectors, len(rows), names, args.draws, args.seed, strata, "proportional", reference))

    total = {"phase": "total", "seconds": round(sum(p["seconds"] for p in phases), 2),
             "cpu_seconds": round(sum(p["cpu_seconds"] for p in phases), 2),
             "peak_mb": max(p["peak_mb"] for p in phases)}
    print(f"\n{'phase':<10}{'wall s':>10}{'CPU s':>10}{'peak MB':>10}")
    for row in [*phases, total]:
        print(f"{row['phase']:<10}{row['seconds']:>10.2f}{row['cpu_seconds']:>10.2f}{row['peak_mb']:>10.0f}")
    print(f"\n{'set':<10}" + "".join(f"{k:>16}" for k in ("MEAN", "GAP", "MAD", "DIV", "TAU", "rank groups")))
    for name, values in measured.items():
        cells = []
        for key in ("MEAN", "GAP", "MAD", "DIV", "TAU", "groups"):
            value = values.get(key, "")
            cells.append(f"{value['mean']:.3f} ± {value['std']:.3f}" if isinstance(value, dict)
                         else f"{value:.3f}" if isinstance(value, float) else str(value))
        print(f"{name:<10}" + "".join(f"{c:>16}" for c in cells))
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "budget": budget, "phases": [*phases, total],
                                               "quality": {k: {m: v for m, v in q.items() if m not in
                                                               ("safety_rate",)} for k, q in measured.items()}},
                                              indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
