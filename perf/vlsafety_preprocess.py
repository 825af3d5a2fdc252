"""Preprocessing throughput of ``lmms-safebench generate vlsafety``, in images per second, stage by stage.

    python perf/vlsafety_preprocess.py                  # 200 photos of 1024 x 768, verifier latency 200 ms
    python perf/vlsafety_preprocess.py --images 100     # a smaller run
    python perf/vlsafety_preprocess.py --json out.json  # also write the figures as JSON

The pool: N synthetic photos (JPEG, quality 90; random colour blocks under noise and a shape, so no two share a
perceptual hash and the decoder has real work), written to a folder as a user's source would be. The stages run as
``generate vlsafety`` runs them (:mod:`lmms_safebench.generate.vlsafety.preprocess`), each timed on its own, in a
fresh workspace, at the config's default ``concurrency`` (8):

- ``ingest``: read, header check, full decode, size check, pHash, the stored PNG (scaled to ``source.max_side``);
- ``dedup``: the pHash multi-index and the caption check (the photos have no captions);
- ``clip``: zero-shot classification over the built-in taxonomy's 20 prompts, batched (``clip.batch_size`` 16),
  with the tiny random-weight CLIP of the tests (``tests/support/tiny_models.py``; no model is downloaded). A real CLIP
  ViT-B/32 does far more work per image: this figure is the stage's own cost (reading the stored PNGs, the
  processor, the pipeline, the records), an upper bound on its rate with a real model;
- ``verify``: one VLM call per proposed image (the image as a PNG data URL at ``vlm_image_side``, the taxonomy
  menu), against a loopback OpenAI-compatible server in its own process that answers after a fixed latency
  (``--latency``). The bound is ceil(N / concurrency) x latency: no client can be faster.

Wall and CPU seconds are both printed: on a machine shared with other work, CPU time is the steadier figure.
``docs/performance.md`` records a run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "utils"))  # loopback.py: test tooling, not shipped
sys.path.insert(0, str(ROOT / "tests" / "support"))  # tiny_models.py: the tests' offline model builders


def verifier_reply(body: dict):
    """A VLM that confirms the proposed subcategory and finds the image risk-relevant."""
    from loopback import Reply, user_text

    proposed = re.search(r"placed this image in the subcategory '([a-z_]+)'", user_text(body)).group(1)
    return Reply(json.dumps({"description": "A synthetic photo.", "subcategory": proposed, "category_confirmed": True,
                             "risk_relevant": True, "reason": "scripted"}))


def serve(latency: float) -> None:
    from loopback import LoopbackServer

    server = LoopbackServer(verifier_reply, latency=latency, keep_requests=False).start()
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin


def make_photos(folder: Path, count: int, width: int, height: int) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for n in range(count):
        blocks = (rng.random((6, 8, 3)) * 255).astype("uint8")
        image = Image.fromarray(blocks).resize((width, height), Image.BILINEAR)
        noise = rng.integers(-20, 21, (height, width, 3), dtype=np.int16)  # a photo's grain: PNG cannot squeeze it
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype("uint8"))
        x, y = (int(v) for v in rng.integers(0, min(width, height) // 2, 2))
        ImageDraw.Draw(image).ellipse([x, y, x + width // 4, y + height // 4], fill=tuple(rng.integers(0, 255, 3).tolist()))
        image.save(folder / f"photo{n:05d}.jpg", quality=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=200, help="photos in the pool (default 200)")
    parser.add_argument("--size", default="1024x768", help="their size (default 1024x768)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per verifier call (default 0.2)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.serve:
        serve(args.latency)
        return 0

    work = Path(tempfile.mkdtemp(prefix="vlsafety-perf-"))
    os.environ.update({"SAFEBENCH_CACHE": str(work / "cache"), "SAFEBENCH_DATA": str(work / "data"),
                       "NO_PROXY": "127.0.0.1,localhost", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    from tiny_models import build_tiny_clip

    from lmms_safebench.generate.core.config import parse
    from lmms_safebench.generate.core.run import Run
    from lmms_safebench.generate.vlsafety import preprocess
    from lmms_safebench.generate.vlsafety.config import VLSafetyConfig
    from lmms_safebench.generate.vlsafety.source import open_source
    from lmms_safebench.generate.vlsafety.taxonomy import resolve

    width, height = (int(v) for v in args.size.lower().split("x"))
    started = time.perf_counter()
    make_photos(work / "photos", args.images, width, height)
    clip_model = build_tiny_clip(work / "tiny-clip")
    print(f"pool: {args.images} JPEG photos of {width} x {height} ({sum(p.stat().st_size for p in (work / 'photos').iterdir()) / 1e6:.1f} MB); "
          f"made in {time.perf_counter() - started:.1f} s")

    server = subprocess.Popen([sys.executable, __file__, "--serve", "--latency", str(args.latency)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        config = parse({"llm": {"model": "writer", "base_url": base_url},
                        "vlm": {"model": "verifier", "base_url": base_url, "retry_base_delay": 0},
                        "clip": {"model": str(clip_model), "device": "cpu", "benign_prompts": []},
                        "thresholds": {"clip_confidence": 0.0}}, VLSafetyConfig)
        taxonomy = resolve(None)
        source = open_source(str(work / "photos"), config.source)
        run, _ = Run.open("vlsafety", "perf", work / "data" / "generated" / "perf", config, progress=False)
        ws = run.ws
        stages: list[dict] = []

        def timed(name: str, items: int, work_fn, bound: float | None = None):
            start, cpu = time.perf_counter(), time.process_time()
            result = work_fn()
            seconds = time.perf_counter() - start
            row = {"stage": name, "images": items, "seconds": round(seconds, 2),
                   "cpu_seconds": round(time.process_time() - cpu, 2),
                   "images_per_s": round(items / seconds, 1) if seconds else None}
            if bound is not None:
                row |= {"bound_seconds": round(bound, 2), "efficiency": round(bound / seconds, 3)}
            stages.append(row)
            return result

        try:
            _, records = timed("ingest", args.images, lambda: preprocess.ingest(ws, source, config, False))
            good = [item.id for item in source.items if records[item.id]["status"] == "ok"]
            kept, _ = timed("dedup", len(good), lambda: preprocess.deduplicate(good, records, config))
            clip = preprocess.Clip(config.clip.model, config.clip.device)
            clip.pipe()  # the model loads once per run: not an image's cost
            scored = timed("clip", len(kept), lambda: preprocess.classify(ws, kept, config, taxonomy, clip, False))
            _, label_to_slug, _ = preprocess.clip_labels(config, taxonomy)
            proposals = {i: preprocess.clip_decision(scored[i]["scores"], label_to_slug, 0.0)[0] for i in kept}
            vlm = run.llm("verifier", config.vlm)
            bound = math.ceil(len(proposals) / config.concurrency) * args.latency
            result, verdicts = timed("verify", len(proposals),
                                     lambda: preprocess.verify(ws, vlm, proposals, taxonomy, config, False), bound)
        finally:
            ws.close()
    finally:
        server.stdin.close()
        server.wait(timeout=30)

    if len(verdicts) != len(proposals) or result.problems:
        sys.exit(f"the verifier answered {len(verdicts)} of {len(proposals)} images ({len(result.problems)} problems)")
    figures = {"images": args.images, "size": [width, height], "latency_s": args.latency,
               "concurrency": config.concurrency, "clip_batch_size": config.clip.batch_size, "cpus": os.cpu_count(),
               "kept_after_dedup": len(kept), "stages": stages}
    print(f"\n{'stage':<8}{'images':>8}{'wall s':>9}{'CPU s':>8}{'images/s':>10}{'bound s':>9}{'efficiency':>12}")
    for row in stages:
        print(f"{row['stage']:<8}{row['images']:>8}{row['seconds']:>9.2f}{row['cpu_seconds']:>8.2f}"
              f"{row['images_per_s'] or 0:>10.1f}{row.get('bound_seconds', ''):>9}{row.get('efficiency', ''):>12}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
