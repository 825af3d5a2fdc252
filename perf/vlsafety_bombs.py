"""Peak memory of VLSafetyBencher's ingest stage on a pool holding decompression bombs.

    python perf/vlsafety_bombs.py                 # default budget, then the budget lifted (for comparison)
    python perf/vlsafety_bombs.py --json out.json # also write the figures as JSON

The pool: three 1-bit PNGs of 12500 x 12500 pixels (about 19 KB each on disk, 156 million pixels: below Pillow's own
refusal at about 179 million) and five ordinary 640 x 480 pictures. Each measurement runs in a fresh process: the
source is opened and the ingest stage (read, header check, decode, pHash, store) runs at the default concurrency (8, so
the three bombs are in flight at once), and the process's peak resident memory (``ru_maxrss``) is reported, along with
the peak before the stage (after the imports) and what became of the bombs. The second measurement lifts
``source.max_pixels`` above the bombs' size: the behaviour before the budget existed. ``docs/performance.md`` records a
run.
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path


def png_bomb(path: Path, side: int = 12500) -> None:
    squeeze = zlib.compressobj(9)
    row = b"\0" + bytes((side + 7) // 8)
    data = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)) +
                     chunk(b"IDAT", data) + chunk(b"IEND", b""))


def make_pool(folder: Path) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    for n in range(3):
        png_bomb(folder / f"bomb{n}.png")
    rng = np.random.default_rng(0)
    for n in range(5):
        Image.fromarray((rng.random((480, 640, 3)) * 255).astype("uint8")).save(folder / f"photo{n}.jpg")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def child(pool: Path, work: Path, max_pixels: int) -> dict:
    from lmms_safebench.generate.core.config import parse
    from lmms_safebench.generate.core.workspace import Workspace
    from lmms_safebench.generate.vlsafety import preprocess
    from lmms_safebench.generate.vlsafety.config import VLSafetyConfig
    from lmms_safebench.generate.vlsafety.source import open_source

    config = parse({"llm": {"model": "w"}, "vlm": {"model": "v"}, "source": {"max_pixels": max_pixels}}, VLSafetyConfig)
    before = peak_mb()
    started = time.perf_counter()
    ws = Workspace(work)
    try:
        _, records = preprocess.ingest(ws, open_source(str(pool), config.source), config, False)
    finally:
        ws.close()
    statuses: dict[str, int] = {}
    for record in records.values():
        statuses[record["status"]] = statuses.get(record["status"], 0) + 1
    return {"max_pixels": max_pixels, "concurrency": config.concurrency, "peak_before_mb": round(before, 1),
            "peak_mb": round(peak_mb(), 1), "seconds": round(time.perf_counter() - started, 2), "statuses": statuses}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=3, metavar=("POOL", "WORK", "MAX_PIXELS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))))
        return 0
    from lmms_safebench.generate.vlsafety.config import SourceSpec

    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        pool = Path(tmp) / "pool"
        make_pool(pool)
        print(f"pool: 3 bombs of {(pool / 'bomb0.png').stat().st_size:,} bytes (12500 x 12500, 1-bit) and 5 photos")
        for label, budget in (("default budget", SourceSpec().max_pixels), ("budget lifted", 200_000_000)):
            done = subprocess.run([sys.executable, __file__, "--child", str(pool), str(Path(tmp) / label), str(budget)],
                                  capture_output=True, text=True, check=True)
            figure = {"run": label, **json.loads(done.stdout.strip().splitlines()[-1])}
            figures.append(figure)
            print(f"{label} (source.max_pixels {budget:,}): peak {figure['peak_mb']} MB (after imports "
                  f"{figure['peak_before_mb']} MB), {figure['seconds']} s, {figure['statuses']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
