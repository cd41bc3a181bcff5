"""ONNX Runtime's spinning threads against sleeping ones (fervid's setting, :func:`fervid.machine.session_options`),
in one process, rounds alternating: a video (the generated 640x480 clip of bench_video.py, LSTM, no annotated MP4),
photos analysed back to back, and photos analysed one every 50 ms (an app or a server that is not saturated).
Wall time and the process's CPU time (all its threads) are both reported: spinning shows as CPU time spent
waiting.

    python benchmarks/bench_spinning.py [--rounds 3] [--frames 300] [--busy 1]

``--busy N`` runs N other processes that keep a core busy each (a browser, another analysis), as a user's machine
often has: spinning workers then compete with them, and with fervid's own main thread.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import tempfile
import time
from pathlib import Path

from bench_video import make_clip

import fervid.inference.detect
import fervid.inference.models
import fervid.inference.temporal
from fervid.inference.analyzer import Analyzer
from fervid.inference.video import VideoAnalyzer, VideoOptions
from fervid.machine import cpu_model, session_options
from fervid.samples import ASTRONAUT_FILE

SESSION_MODULES = (fervid.inference.detect, fervid.inference.models, fervid.inference.temporal)


def spinning(spin: bool) -> None:
    """The sessions made from now on spin (ONNX Runtime's default) or sleep (fervid's)."""
    for module in SESSION_MODULES:
        module.session_options = functools.partial(session_options, spin=spin)


def busy_loop() -> None:
    while True:
        pass


def measure(clip: Path, out: Path) -> dict:
    analyzer = Analyzer()
    runner = VideoAnalyzer(analyzer, VideoOptions(method="lstm", annotate=False))
    wall, cpu = time.perf_counter(), time.process_time()
    result = runner.run(clip, out)
    video_wall, video_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(100):
        analyzer.analyze_image(ASTRONAUT_FILE)
    photos_wall, photos_cpu = time.perf_counter() - wall, time.process_time() - cpu
    cpu = time.process_time()
    for _ in range(20):
        analyzer.analyze_image(ASTRONAUT_FILE)
        time.sleep(0.05)
    spaced_cpu = time.process_time() - cpu
    frames = result.frames_analysed
    return {"video fps": frames / video_wall, "video CPU ms/frame": 1000 * video_cpu / frames,
            "photos/s": 100 / photos_wall, "photo CPU ms": 10 * photos_cpu, "spaced photo CPU ms": 50 * spaced_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--busy", type=int, default=0, help="other processes keeping a core busy each")
    args = parser.parse_args()
    hogs = [multiprocessing.Process(target=busy_loop, daemon=True) for _ in range(args.busy)]
    for hog in hogs:
        hog.start()
    rows: dict[str, list[dict]] = {"spinning (ONNX Runtime's default)": [], "sleeping (fervid)": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            clip = make_clip(Path(tmp) / "clip.mp4", args.frames)
            spinning(False)
            measure(clip, Path(tmp) / "warm")  # warm-up: first-run allocations, page cache
            for _ in range(args.rounds):
                for name, spin in zip(rows, (True, False)):
                    spinning(spin)
                    rows[name].append(measure(clip, Path(tmp) / "out"))
    finally:
        for hog in hogs:
            hog.terminate()
    print(f"CPU: {cpu_model()}; other busy processes: {args.busy}; medians of {args.rounds} rounds\n")
    keys = list(next(iter(rows.values()))[0])
    print("| threads | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, runs in rows.items():
        medians = [sorted(r[k] for r in runs)[len(runs) // 2] for k in keys]
        print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in medians) + " |")


if __name__ == "__main__":
    main()
