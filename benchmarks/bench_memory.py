"""Peak memory of video analysis against video length: the same generated content, 30 s and 10 min long.

    python benchmarks/bench_memory.py [--minutes 10] [--baseline-src OLD_CHECKOUT/src] [--json docs/eval/memory.json]

The 30 s clip (640x360, 30 fps, H.264) is made here: two heads (the astronaut and her mirror image) drifting and
growing over a grey background. The long video is the same clip repeated (stream copy), so only the length
differs. Each video is analysed by ``fervid video`` defaults (detection every 0.3 s, LSTM over 1 s, every output
written) in a fresh process, which reports its own peak resident set size (``ru_maxrss``; the ffmpeg encoder
subprocess is not counted). ``--baseline-src`` runs the same children on another source tree (e.g. a
``git worktree`` of an older commit), for a before/after in one run. Target (issue 16): the long video's peak
at most 10% above the short one's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

CLIP_SECONDS = 30


def make_clip(path: Path) -> Path:
    import cv2

    from fervid.samples import astronaut
    from fervid.inference.video import H264Writer

    face = cv2.cvtColor(astronaut()[20:240, 120:330], cv2.COLOR_RGB2BGR)
    faces = [cv2.resize(face, None, fx=0.7, fy=0.7), cv2.resize(face[:, ::-1], None, fx=0.6, fy=0.6)]
    writer = H264Writer(path, 640, 360, 30.0)
    frames = CLIP_SECONDS * 30
    for i in range(frames):
        frame = np.full((360, 640, 3), 90, np.uint8)
        phase = i / frames * 2 * np.pi
        for k, f in enumerate(faces):
            s = 0.9 + 0.15 * np.sin(phase + k)
            f = cv2.resize(f, None, fx=s, fy=s)
            x = int(80 + 300 * k + 60 * np.sin(phase * 2 + k))
            y = int(60 + 30 * np.cos(phase + k))
            frame[y : y + f.shape[0], x : x + f.shape[1]] = f
        writer.write(frame)
    writer.close()
    return path


def loop_clip(clip: Path, path: Path, seconds: float) -> Path:
    import imageio_ffmpeg

    repeats = int(np.ceil(seconds / CLIP_SECONDS)) - 1
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-stream_loop", str(repeats),
                    "-i", str(clip), "-c", "copy", str(path)], check=True)
    return path


def child(video: str, out: str) -> None:
    """In a fresh process: analyse one video as `fervid video` would and report peak RSS."""
    from fervid.inference.analyzer import Analyzer
    from fervid.inference.video import VideoAnalyzer, VideoOptions

    started = time.perf_counter()
    result = VideoAnalyzer(Analyzer(), VideoOptions()).run(video, out)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"peak_rss_mb": round(peak_kb / 1024, 1), "frames": result.frames_analysed,
                      "duration_s": round(result.duration, 1), "tracks": len(result.track_ids),
                      "seconds": round(time.perf_counter() - started, 1), "ok": result.ok}))


def measure(video: Path, out: Path, src: str | None) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = str(Path(src).resolve())
    done = subprocess.run([sys.executable, __file__, "--child", str(video), str(out)], env=env,
                          capture_output=True, text=True, encoding="utf-8", check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long video")
    parser.add_argument("--baseline-src", default=None, help="also measure this source tree (a `src` folder)")
    parser.add_argument("--json", type=Path, default=None, help="write the measurements here")
    parser.add_argument("--child", nargs=2, metavar=("VIDEO", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from fervid.machine import cpu_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        short = make_clip(tmp / "short.mp4")
        long = loop_clip(short, tmp / "long.mp4", args.minutes * 60)
        trees = [("this tree", None)] + ([("baseline", args.baseline_src)] if args.baseline_src else [])
        for name, src in trees:
            for video in (short, long):
                r = measure(video, tmp / f"out_{name}_{video.stem}", src)
                rows.append({"code": name, "video": video.stem, **r})
                print(json.dumps(rows[-1]), flush=True)
    print(f"\nCPU: {cpu_model()}; 640x360, 30 fps, two faces; `fervid video` defaults, all outputs written\n")
    print("| code | video | analysed | frames | peak RSS (MB) | long / short |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        base = next(s for s in rows if s["code"] == r["code"] and s["video"] == "short")
        print(f"| {r['code']} | {r['video']} | {r['duration_s']:.0f} s | {r['frames']} | {r['peak_rss_mb']:.0f} | "
              f"{r['peak_rss_mb'] / base['peak_rss_mb']:.3f} |")
    write_json(args.json, {"cpu": cpu_model(), "minutes": args.minutes, "rows": rows})


if __name__ == "__main__":
    main()
