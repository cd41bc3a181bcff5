"""Corpus throughput of `fervid batch`: files/s and faces/s for 1 and 2 local workers and Ray on this one node,
peak memory per worker process.

    python benchmarks/bench_batch.py [--clips 200] [--images 2000] [--engines local:1 local:2 ray]

The corpus is generated here: images of 1-4 astronaut faces on a grey background (some mirrored, scaled) and
short 640x360 clips (1 s at 30 fps) of one or two moving faces. Each engine setting gets a fresh output folder.
Run it with nothing else busy (2 cores). Use smaller --clips/--images to see how cost grows with corpus size.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from fervid.samples import astronaut
from fervid.inference.video import H264Writer


def make_corpus(root: Path, clips: int, images: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    face = cv2.cvtColor(astronaut()[20:240, 120:330], cv2.COLOR_RGB2BGR)
    root.mkdir(parents=True, exist_ok=True)
    expected_faces = 0
    for i in range(images):
        n = int(rng.integers(1, 5))
        canvas = np.full((360, 240 * n, 3), int(rng.integers(40, 200)), np.uint8)
        for k in range(n):
            f = face[:, ::-1] if rng.random() < 0.5 else face
            f = cv2.resize(f, None, fx=rng.uniform(0.7, 1.0), fy=rng.uniform(0.7, 1.0))
            canvas[20 : 20 + f.shape[0], 240 * k + 10 : 240 * k + 10 + f.shape[1]] = f
        cv2.imwrite(str(root / f"img{i:05d}.jpg"), canvas)
        expected_faces += n
    for i in range(clips):
        two = i % 3 == 0
        writer = H264Writer(root / f"clip{i:04d}.mp4", 640, 360, 30.0)
        for t in range(30):
            frame = np.full((360, 640, 3), 90, np.uint8)
            x = 20 + 4 * t
            frame[40 : 40 + face.shape[0], x : x + face.shape[1]] = face
            if two:
                frame[60 : 60 + face.shape[0], 400 : 400 + face.shape[1]] = face[:, ::-1]
            writer.write(frame)
        writer.close()
        expected_faces += 2 if two else 1
    return expected_faces


def run(corpus: Path, out: Path, engine: str) -> dict:
    """engine: "local:N" (N worker processes) or "ray" (Ray started on this machine, one task per file)."""
    extra = ["--engine", "ray"] if engine == "ray" else ["--workers", engine.split(":")[1]]
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "fervid.apps.cli", "batch", str(corpus), "--out", str(out), *extra, "-q",
                    "--no-annotate"], check=True)
    seconds = time.perf_counter() - t0
    peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    import json

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {"seconds": seconds, "files": summary["done"], "faces": summary["faces"], "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--engines", nargs="+", default=["local:1", "local:2", "ray"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        expected = make_corpus(corpus, args.clips, args.images)
        print(f"corpus: {args.images} images + {args.clips} clips (1 s, 640x360), {expected} faces placed\n")
        print("| engine | files | faces found | seconds | files/s | faces/s | peak RSS per process |")
        print("|---|---|---|---|---|---|---|")
        for i, engine in enumerate(args.engines):
            r = run(corpus, Path(tmp) / f"out{i}", engine)
            print(f"| {engine} | {r['files']} | {r['faces']} | {r['seconds']:.1f} | "
                  f"{r['files'] / r['seconds']:.1f} | {r['faces'] / r['seconds']:.1f} | {r['peak_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
