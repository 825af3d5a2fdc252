"""`lmms-safebench report` at scale: time and peak memory on 30 models x 5 boards x 2,000 judged samples.

    python perf/report.py                      # 30 models x 5 boards x 2,000 samples (the target case)
    python perf/report.py --models 6           # a smaller run
    python perf/report.py --json out.json      # also write the figures as JSON
    python perf/report.py --profile prof.out   # run the report in this process under cProfile instead

The script writes synthetic judged runs (utils/judged_logs.py: lmms-eval's layout, one value per metric per sample
as a real run logs them, a three-juror panel's verdict records with each juror's review, usage and the case) of
``--models`` models on five harm boards (SafeBench image, text and female audio: 23 scenarios in 8 categories;
MM-SafetyBench typography and SD: 13 scenarios), ``--samples`` answers per board, each model unsafe on a sample with a
probability set by its safety level and the scenario, 1% unjudged, 1-5 ratings (so SRI is computed). Each model also
has an lm-eval capability results file, and the panel has a calibration record (4,000 items), so the report computes
every section: summary, heatmaps, correlations, per-board tables with per-scenario intervals, radar charts, the
judge-corrected ASR. Then it runs the real command, ``lmms-safebench report``, in a child process and measures its
wall time and peak resident memory (``ru_maxrss`` of the child). Targets: under 30 s and under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "utils"))  # judged_logs.py: test tooling, not shipped

BOARDS = ["safebench_image", "safebench_text", "safebench_audio_female", "safebench_mmsb_typo", "safebench_mmsb_sd"]


def write_inputs(root: Path, models: int, samples: int) -> None:
    import judged_logs

    rng = np.random.default_rng(0)
    panel = judged_logs.jury("perf-panel", jurors=3)
    levels = np.sort(rng.uniform(0.05, 0.6, models))
    boards = {}
    for board in BOARDS:
        found = judged_logs.board_samples(board, per_scenario=1)
        per_scenario = -(-samples // len(found))
        boards[board] = judged_logs.board_samples(board, per_scenario)[:samples]
    for m in range(models):
        model = f"org/perf-model-{m:02d}"

        def decide(sample, m=m):
            bias = (zlib.crc32(sample.spec.scenario.encode()) % 7) / 20  # some scenarios are harder than others
            if rng.random() < 0.01:
                return None  # unjudged
            return "unsafe" if rng.random() < min(0.95, levels[m] + bias) else "safe"

        for board, found in boards.items():
            judged_logs.write_run(root / "runs" / f"m{m:02d}" / board, model, found, decide, panel,
                                  rating=lambda sample, label: 2 if label == "unsafe" else 5)
        results = {"results": {"mmmu_val": {"alias": "mmmu_val", "acc,none": float(0.7 - levels[m] / 2),
                                            "acc_stderr,none": 0.015}},
                   "n-samples": {"mmmu_val": {"original": 900, "effective": 900}},
                   "higher_is_better": {"mmmu_val": {"acc": True}}, "versions": {"mmmu_val": 1.0},
                   "config": {"model": "hf", "model_args": f"pretrained={model}"}}
        folder = root / "capability" / model.replace("/", "__")
        folder.mkdir(parents=True)
        (folder / "results_2026-01-01T00-00-00.000001.json").write_text(json.dumps(results))
    gold = (rng.random(4000) < 0.1).astype(int)
    predicted = np.where(gold == 1, rng.random(4000) < 0.9, rng.random(4000) < 0.2).astype(int)
    judged_logs.write_calibration(panel["identity"], gold.tolist(), predicted.tolist(), set_name="perf-set")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--samples", type=int, default=2000, help="judged samples per model and board")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--profile", help="run the report in this process under cProfile, stats to this file")
    parser.add_argument("--keep", help="write the inputs and the report under this folder and keep them (a folder "
                                       "that has them already: measure the same inputs again)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.keep or scratch)
        env = {**os.environ, "SAFEBENCH_DATA": str(root / "data"), "SAFEBENCH_CACHE": str(root / "cache"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        os.environ.update({k: env[k] for k in ("SAFEBENCH_DATA", "SAFEBENCH_CACHE")})
        started = time.perf_counter()
        if not (root / "runs").exists():  # --keep FOLDER a second time measures the same inputs again
            write_inputs(root, args.models, args.samples)
        written = time.perf_counter() - started
        size = sum(p.stat().st_size for p in (root / "runs").rglob("*") if p.is_file())
        print(f"inputs: {args.models} models x {len(BOARDS)} boards x {args.samples} samples, "
              f"{size / 1e6:.0f} MB of logs, written in {written:.1f} s")
        shutil.rmtree(root / "report", ignore_errors=True)
        command = [sys.executable, "-m", "lmms_safebench.cli", "report", str(root / "runs"), str(root / "capability"),
                   "--output", str(root / "report")]
        if args.profile:
            import cProfile

            from lmms_safebench.report import build_report

            cProfile.runctx("build_report([str(root / 'runs'), str(root / 'capability')], root / 'report')",
                            globals(), {"build_report": build_report, "root": root}, args.profile)
            print(f"profile written to {args.profile}")
            return 0
        load_before = os.getloadavg()[0]  # the machine may be shared: the figures say how busy it was
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(command, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        peak_mb = after.ru_maxrss / 1024
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, file=sys.stderr)
            return proc.returncode
        html = (root / "report" / "report.html").stat().st_size
        figures = {"models": args.models, "boards": len(BOARDS), "samples_per_board": args.samples,
                   "log_megabytes": round(size / 1e6, 1), "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
                   "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
                   "peak_megabytes": round(peak_mb), "report_html_megabytes": round(html / 1e6, 2),
                   "files_written": len(list((root / "report").iterdir())),
                   "targets": {"seconds": 30, "peak_megabytes": 2048},
                   "met": seconds < 30 and peak_mb < 2048}
        print(proc.stdout.strip())
        print(f"report: {seconds:.1f} s wall ({cpu:.1f} s CPU, load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after, on "
              f"{os.cpu_count()} cores), peak {peak_mb:.0f} MB (targets: 30 s, 2,048 MB): "
              f"{'met' if figures['met'] else 'MISSED'}")
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
