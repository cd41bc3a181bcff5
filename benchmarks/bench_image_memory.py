"""Memory of one photo's analysis against its size: peak and held resident memory per pixel.

    python benchmarks/bench_image_memory.py [--sides 2000 4200 7000] [--baseline-src OLD_CHECKOUT/src]
                                            [--json docs/eval/image_memory.json]

Each photo is the astronaut enlarged to a square of the given side (7000: 49 MP, about the server's default
``--max-image-megapixels`` 50), saved as PNG and analysed by ``Analyzer().analyze_image(path)`` in a fresh process
after a 640x480 warm-up. The child reports its peak resident set size above the warm-up (``ru_maxrss``) and what it
still holds once the result is returned (the whole process's resident memory, ``/proc/self/statm``: Linux only),
peak in bytes per pixel of the photo: what the server's and batch's memory use is planned by. ``--baseline-src`` runs the same children on another source tree (e.g. a
``git worktree`` of an older commit) for a before/after in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

CHILD = """
import json, resource, sys
import numpy as np
import fervid
analyzer = fervid.Analyzer()
analyzer.analyze_image(np.zeros((480, 640, 3), np.uint8))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
result = analyzer.analyze_image(sys.argv[1])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
held = int(open("/proc/self/statm").read().split()[1]) * 4096
pixels = result.width * result.height
print(json.dumps({"faces": len(result), "pixels": pixels, "peak_bytes_per_pixel": round((peak - before) / pixels, 1),
                  "held_mb": round(held / 2**20)}))
"""


def make_photo(side: int, folder: Path) -> Path:
    import cv2

    from fervid.samples import astronaut

    path = folder / f"astronaut_{side}.png"
    cv2.imwrite(str(path), cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR), (side, side),
                                      interpolation=cv2.INTER_LINEAR))
    return path


def measure(photo: Path, src: str | None) -> dict:
    env = dict(os.environ, PYTHONPATH=src) if src else None
    done = subprocess.run([sys.executable, "-c", CHILD, str(photo)], capture_output=True, text=True,
                          encoding="utf-8", env=env,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[2000, 4200, 7000])
    parser.add_argument("--baseline-src", help="another checkout's src folder, measured the same way")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for side in args.sides:
            photo = make_photo(side, Path(tmp))
            for name, src in (("baseline", args.baseline_src), ("this tree", None)):
                if name == "baseline" and not src:
                    continue
                row = {"tree": name, "side": side, **measure(photo, src)}
                rows.append(row)
                print(f"{name:9s} {side} x {side} ({row['pixels'] / 1e6:.1f} MP): {row['faces']} face(s), peak "
                      f"+{row['peak_bytes_per_pixel']} bytes/pixel, {row['held_mb']} MB held after", flush=True)
    if args.json:
        from fervid.machine import cpu_model

        write_json(args.json, {"command": f"python {' '.join(sys.argv)}", "cpu": cpu_model(),
                               "python": platform.python_version(), "rows": rows})


if __name__ == "__main__":
    main()
