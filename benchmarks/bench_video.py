"""Video speed: end-to-end fps and a per-stage breakdown on a generated clip with one face (640x480 unless
``--size`` says otherwise; ``--faces N``: a grid of N heads, as a class or a call's gallery), and on the bundled
carphone sample (176x144, 120 frames, 29.97 fps).

    python benchmarks/bench_video.py [--frames 300] [--model ferplus_vgg] [--method lstm] [--detector centerface yuface]
        [--size 640x480 1920x1080]
        [--min-face 48 1000000] [--faces 1 16 30]
        [--no-annotate-too] [--cpu-time] [--threads 2]

The clip is made here: the astronaut's head drifting and growing over a grey background (H.264, 30 fps); at
other sizes the scene is scaled, so the face keeps its share of the frame.
Default settings (detection every 0.3 s, 1 s window); timings include writing the annotated MP4 and all
other outputs. Run with nothing else busy: the machine has 2 cores.

``--cpu-time`` measures CPU time instead of wall time, for a machine shared with other work, where wall-clock fps
is noise: the process's CPU seconds per frame (all its threads, ONNX Runtime's workers included) plus those of its
child processes (the ffmpeg encoding the annotated MP4), from getrusage; and each stage's CPU time, read from the
process's CPU clock where fervid reads the wall clock (the stages' timers in fervid.inference.video and .temporal),
the encoder's own CPU added to "encode". It does not work on Windows (no getrusage).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import tempfile
import time
import types
from pathlib import Path

import cv2
import numpy as np

import fervid.inference.temporal
import fervid.inference.video
from fervid.inference.analyzer import Analyzer
from fervid.inference.detect import DEFAULT_DETECTOR
from fervid.inference.options import PipelineOptions
from fervid.machine import cpu_model, inference_threads, thread_count
from fervid.samples import astronaut
from fervid.inference.video import H264Writer, VideoAnalyzer, VideoOptions, sample_video


def make_clip(path: Path, frames: int, width: int = 640, height: int = 480, faces: int = 1) -> Path:
    face = cv2.cvtColor(astronaut()[20:240, 120:330], cv2.COLOR_RGB2BGR)
    k = min(width / 640, height / 480)  # the 640x480 scene, scaled
    # several faces: a grid of cells (a class, a call's gallery), each head drifting a little in its own
    columns = math.ceil(math.sqrt(faces * width / height))
    rows = math.ceil(faces / columns)
    cell_w, cell_h = width // columns, height // rows
    writer = H264Writer(path, width, height, 30.0)
    for i in range(frames):
        frame = np.full((height, width, 3), 90, np.uint8)
        phase = i / frames * 2 * np.pi
        if faces == 1:
            zoom = k * (0.9 + 0.2 * np.sin(phase))
            f = cv2.resize(face, None, fx=zoom, fy=zoom)
            x, y = int(k * (200 + 150 * np.sin(phase))), int(k * (100 + 40 * np.cos(phase)))
            frame[y : y + f.shape[0], x : x + f.shape[1]] = f
        for n in range(faces if faces > 1 else 0):
            zoom = 0.7 * min(cell_w / face.shape[1], cell_h / face.shape[0])
            f = cv2.resize(face, None, fx=zoom, fy=zoom)
            drift = 0.08 * np.sin(phase + n)
            x = (n % columns) * cell_w + int((cell_w - f.shape[1]) * (0.5 + drift))
            y = (n // columns) * cell_h + int((cell_h - f.shape[0]) * (0.5 - drift))
            frame[y : y + f.shape[0], x : x + f.shape[1]] = f
        writer.write(frame)
    writer.close()
    return path


def frame_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 1920x1080")
    return int(width), int(height)


# the modules whose stage timers (time.perf_counter) --cpu-time points at the process's CPU clock
TIMED_MODULES = (fervid.inference.video, fervid.inference.temporal)


@contextlib.contextmanager
def stages_on_cpu_clock():
    """fervid's stage timers read the process's CPU time (time.process_time: every thread of it) instead of the
    wall clock, for as long as this lasts: time.perf_counter as those modules see it, which times nothing else a
    file's analysis does (a live source's pacing reads it too)."""
    cpu_clock = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")})
    cpu_clock.perf_counter = time.process_time
    for module in TIMED_MODULES:
        module.time = cpu_clock
    try:
        yield
    finally:
        for module in TIMED_MODULES:
            module.time = time


def process_and_children_cpu() -> float:
    """CPU seconds (user and system) of this process and of its child processes that have ended (ffmpeg)."""
    import resource

    return sum(usage.ru_utime + usage.ru_stime
               for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def run(analyzer: Analyzer, path: Path, method: str, out: Path, annotate: bool = True, cpu_time: bool = False) -> dict:
    analysis = VideoAnalyzer(analyzer, VideoOptions(method=method, annotate=annotate))
    if cpu_time:
        cpu0 = process_and_children_cpu()
        with stages_on_cpu_clock():
            result = analysis.run(path, out)
        total = process_and_children_cpu() - cpu0
        stages = dict(result.stage_seconds)
        stages["encode"] = stages.get("encode", 0.0) + (result.encoder_cpu_seconds or 0.0)
    else:
        t0 = time.perf_counter()
        result = analysis.run(path, out)
        total = time.perf_counter() - t0
        stages = result.stage_seconds
    return {"frames": result.frames_analysed, "seconds": total, "fps": result.frames_analysed / total,
            "realtime": result.duration / total, "stages": stages, "tracks": len(result.track_ids),
            "encoder_cpu_seconds": result.encoder_cpu_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--model", default=str(PipelineOptions.model),
                        help="the CNN (and, for --method lstm, its shipped LSTM): a shipped name or a model folder "
                             "(default: %(default)s)")
    parser.add_argument("--method", default="lstm")
    parser.add_argument("--detector", nargs="+", default=[DEFAULT_DETECTOR],
                        help="one row per detector, all in this process")
    parser.add_argument("--size", nargs="+", type=frame_size, default=[(640, 480)],
                        help="the generated clip's WIDTHxHEIGHT; one row per size")
    parser.add_argument("--min-face", nargs="+", type=float, default=[48.0],
                        help="one row per smallest face looked for (px), all in this process; 1000000 detects on "
                             "the 640 px copy alone, as fervid did before 2026-12-05")
    parser.add_argument("--faces", nargs="+", type=int, default=[1],
                        help="faces in the generated clip (a grid of heads, as a class or a call's gallery); one row "
                             "per count")
    parser.add_argument("--no-annotate-too", action="store_true",
                        help="also a row per video without the annotated MP4 (`fervid video --no-annotate`)")
    parser.add_argument("--threads", type=int, default=None,
                        help="ONNX Runtime threads per network (default: fervid's, at most 2)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="CPU time instead of wall time (this process and ffmpeg), in total and per stage: "
                             "for a machine that other work shares")
    args = parser.parse_args()
    carphone = sample_video()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        clips = {(w, h, n): make_clip(Path(tmp) / f"clip{w}x{h}_{n}.mp4", args.frames, w, h, n)
                 for w, h in args.size for n in args.faces}
        for detector, min_face in [(d, m) for d in args.detector for m in args.min_face]:
            analyzer = Analyzer(args.model, detector=detector, min_face=min_face, threads=args.threads)
            run(analyzer, carphone, args.method, Path(tmp) / "warm")  # warm-up: loads, first-run allocations
            videos = {f"{w}x{h} generated clip" + (f", {n} faces" if n > 1 else ""): clip
                      for (w, h, n), clip in clips.items()}
            videos["carphone 176x144"] = carphone
            setup = detector if len(args.min_face) == 1 else f"{detector}, min_face {min_face:g}"
            for name, clip in videos.items():
                rows[f"{name}, {setup}"] = run(analyzer, clip, args.method, Path(tmp) / "a", cpu_time=args.cpu_time)
                if args.no_annotate_too:
                    rows[f"{name}, {setup}, no annotated MP4"] = run(analyzer, clip, args.method, Path(tmp) / "b",
                                                                     annotate=False, cpu_time=args.cpu_time)
    threads = thread_count(inference_threads(args.threads))
    print(f"model: {args.model}; method: {args.method}; CPU: {cpu_model()}, {threads} per network\n")
    clock = "CPU" if args.cpu_time else "wall-clock"
    if args.cpu_time:  # fps from CPU time: frames per CPU second (one core's), not what a run would show
        print("| video, detector | frames | CPU ms per frame (fervid and ffmpeg) | tracks |")
        print("|---|---|---|---|")
        for name, r in rows.items():
            print(f"| {name} | {r['frames']} | {1000 * r['seconds'] / r['frames']:.2f} | {r['tracks']} |")
    else:
        print("| video, detector | frames | fps end-to-end | x real time | tracks |")
        print("|---|---|---|---|---|")
        for name, r in rows.items():
            print(f"| {name} | {r['frames']} | {r['fps']:.1f} | {r['realtime']:.1f}x | {r['tracks']} |")
    print(f"\nper-stage {clock} milliseconds per frame:\n")
    stages = list(next(iter(rows.values()))["stages"])
    print("| video | " + " | ".join(stages) + " | other |")
    print("|---" * (len(stages) + 2) + "|")
    for name, r in rows.items():
        per = {k: 1000 * v / r["frames"] for k, v in r["stages"].items()}
        other = 1000 * r["seconds"] / r["frames"] - sum(per.values())
        print(f"| {name} | " + " | ".join(f"{per.get(k, 0.0):.2f}" for k in stages) + f" | {other:.2f} |")


if __name__ == "__main__":
    main()
