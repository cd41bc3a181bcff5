"""The LSTM's windows run together and the timelines laid out once, each against fervid's way before, in one process:
on a generated clip with several faces (bench_video.make_clip's grid of heads) and the bundled carphone sample.

    python benchmarks/bench_video_batching.py [--frames 600] [--faces 4] [--rounds 5]

LSTM: the analysis (`fervid video --no-annotate`'s, default settings) with the windows of each chunk of frames run
through ONNX Runtime together (now) and with each window run alone (before: the same LSTM behind a method with no
``batch``), the rounds alternating; the temporal stage's milliseconds per face (a track's frame), and the whole
analysis's seconds, medians. The frame tables must come out equal.

Timelines: each track's timeline made and saved by save_timeline (now) and made and saved by savefig's own tight
crop, which lays the figure out once more first (before), alternating; milliseconds per track, medians. The PNGs'
pixels must be equal. The machine is shared: quote medians of several rounds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import matplotlib.image
import numpy as np

from bench_video import make_clip
from fervid.inference.analyzer import Analyzer
from fervid.inference.video import VideoAnalyzer, VideoOptions, sample_video, save_timeline
from fervid.machine import cpu_model


class OneWindowARun:
    """The LSTM running its windows one by one, as fervid did before they ran together (a method with no
    ``batch``)."""

    def __init__(self, method):
        self.method = method
        self.name, self.smooth_outputs, self.temperature = method.name, method.smooth_outputs, method.temperature

    def __call__(self, *args, **kwargs):
        return self.method(*args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--faces", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    analyzer = Analyzer()
    lstm = analyzer.temporal_lstm()
    ways = {"before (a run per window)": OneWindowARun(lstm), "now (a chunk's windows together)": lstm}
    options = VideoOptions(annotate=False)
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", args.frames, faces=args.faces)
        videos = {f"640x480 generated clip, {args.faces} faces, {args.frames} frames": clip,
                  "carphone 176x144, 120 frames": sample_video()}
        VideoAnalyzer(analyzer, options).run(sample_video())  # warm-up: first-run allocations
        print(f"CPU: {cpu_model()}; {args.rounds} rounds, medians\n")
        print("| video | LSTM windows | temporal ms per face | analysis s |")
        print("|---|---|---|---|")
        results = {}
        for name, video in videos.items():
            temporal_ms: dict[str, list[float]] = {way: [] for way in ways}
            seconds: dict[str, list[float]] = {way: [] for way in ways}
            tables = {}
            for _ in range(args.rounds):
                for way, method in ways.items():
                    started = time.perf_counter()
                    result = VideoAnalyzer(analyzer, options, temporal=method).run(video)
                    seconds[way].append(time.perf_counter() - started)
                    temporal_ms[way].append(1000 * result.stage_seconds["temporal"] / max(len(result.faces), 1))
                    tables[way] = [face.table_row() for face in result.faces]
                    results[name] = result
            if len({repr(table) for table in tables.values()}) != 1:
                raise SystemExit(f"{name}: the frame tables differ between the two ways")
            for way in ways:
                print(f"| {name} | {way} | {statistics.median(temporal_ms[way]):.3f} | "
                      f"{statistics.median(seconds[way]):.2f} |")

        print("\n| video | timeline saved by | ms per track | tracks |")
        print("|---|---|---|---|")
        for name, result in results.items():
            per_track: dict[str, list[float]] = {"savefig's tight crop (before)": [], "save_timeline (now)": []}
            for _ in range(args.rounds):
                for track_id in result.track_ids:
                    started = time.perf_counter()
                    result.timeline(track_id).savefig(Path(tmp) / "before.png", dpi=100, bbox_inches="tight",
                                                      format="png")
                    per_track["savefig's tight crop (before)"].append(time.perf_counter() - started)
                    started = time.perf_counter()
                    save_timeline(result.timeline(track_id), Path(tmp) / "now.png")
                    per_track["save_timeline (now)"].append(time.perf_counter() - started)
                    if not np.array_equal(matplotlib.image.imread(Path(tmp) / "before.png"),
                                          matplotlib.image.imread(Path(tmp) / "now.png")):
                        raise SystemExit(f"{name}: track {track_id}'s timeline's pixels differ")
            for way, times in per_track.items():
                print(f"| {name} | {way} | {1000 * statistics.median(times):.0f} | {len(result.track_ids)} |")


if __name__ == "__main__":
    main()
