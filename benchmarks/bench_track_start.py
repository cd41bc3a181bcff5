"""A track's first second: label changes and accuracy of each temporal method at --sample-fps 5 and at every frame.

    python benchmarks/bench_track_start.py --data ../shared/data --side val --json docs/eval/track_start_val.json

A probe reported that the LSTM at ``--sample-fps 5`` changes label in a track's first second where the face holds
one expression. Simulated clips (fervid.evaluation.clips, where what is simulated is listed) of the CK+ and JAFFE
people on one side of the shipped LSTM's subject-disjoint split (``--side``: tune on ``val``, report ``test`` once
at the end), upscaled to 192x192, H.264-encoded at 30 fps and read by the video pipeline, centred windows (files):
- held: one expression of the person for 3.2 s (no change: every label change is spurious);
- early change: one expression for 0.6 s, a cross-fade of 0.15-0.6 s, another for 2 s (a true change inside the
  first second, which a fix must not hide);
- change: one expression for 2 s, a cross-fade, another for 2 s (bench_lag.py's clip: the change's timing away from
  the track's start).
Measured per method and rate: label changes in the track's first second (frames before its first frame + 1 s)
and, on held clips, in its second second (1-2 s: no window there, nor any window whose output is averaged into
it, reads a padded track edge: the same clips' rate away from the start); accuracy of the first second's labels
and over the whole clip; label changes per clip; and the change clips' change-time error (bench_lag.py's rule: the
first frame from which the second emotion stays ahead of the first for 0.3 s; clips whose per-frame CNN does not
tell the two apart are left out of it, as there).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_lag import change_time  # noqa: E402 (benchmarks/)
from clip_videos import FPS, SIZE, curves, people_by_side, write_video  # noqa: E402
from data_paths import DATA, data_or_exit  # noqa: E402
from report import write_json  # noqa: E402

from fervid.evaluation.clips import one_change_script, render, still_script  # noqa: E402
from fervid.inference.analyzer import Analyzer  # noqa: E402
from fervid.inference.temporal import METHODS  # noqa: E402
from fervid.inference.video import VideoAnalyzer, VideoOptions  # noqa: E402

FIRST_SECOND = 1.0
HELD_SECONDS = 3.2  # the second second's windows (and the windows their outputs average) end before the last frame
RATES = (5.0, None)  # --sample-fps 5, and every frame of the 30 fps clip


def clip_scripts(person, rng, held_clips: int):
    """(kind, script) of one person's clips: ``held_clips`` held ones, an early change and a change."""
    for _ in range(held_clips):
        label = int(rng.choice(person.labels))
        yield "held", still_script(person.pick(label, rng), label, HELD_SECONDS)
    early = one_change_script(person, rng, 2.0, float(rng.uniform(0.15, 0.6)))
    early.holds[0] = 0.6
    yield "early change", early
    yield "change", one_change_script(person, rng, 2.0, float(rng.uniform(0.15, 0.6)))


def changes(labels: np.ndarray) -> int:
    return int((labels[1:] != labels[:-1]).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="default: %(default)s")
    parser.add_argument("--side", choices=("val", "test"), default="val",
                        help="whose clips: the validation people (tune on these) or the test people (report)")
    parser.add_argument("--held-clips", type=int, default=2, help="held clips per person")
    parser.add_argument("--model", default=None, help="CNN (default: fervid's default model; its shipped LSTM)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    analyzer = Analyzer(args.model) if args.model else Analyzer()
    with data_or_exit():
        persons = people_by_side(args.data, analyzer)[args.side]
    rng = np.random.default_rng(args.seed)
    variants = [(m, r) for r in RATES for m in METHODS]
    # one analyzer per variant: the LSTM's session is loaded once, each run gets fresh tracks
    runners = {v: VideoAnalyzer(analyzer, VideoOptions(method=v[0], sample_fps=v[1], annotate=False))
               for v in variants}
    rows: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    clips = lag_clips = 0
    with tempfile.TemporaryDirectory() as tmp:
        for person in persons:
            for kind, script in clip_scripts(person, rng, args.held_clips):
                clip = render(script, rng, FPS, SIZE, jpeg=False)
                path = write_video(Path(tmp) / f"clip{clips}.mp4", clip)
                clips += 1
                per_frame_separates = None
                for (method, rate), runner in runners.items():
                    times, probs, per_frame = curves(runner.run(path))
                    if len(times) == 0:
                        continue
                    labels = probs.argmax(1)
                    truth = clip.labels[np.clip(np.round(times * FPS).astype(int), 0, len(clip.labels) - 1)]
                    first = times < times[0] + FIRST_SECOND
                    row = rows[(kind, method, rate)]
                    row["first_second_changes"].append(changes(labels[first]))
                    second = (times >= times[0] + FIRST_SECOND) & (times < times[0] + 2 * FIRST_SECOND)
                    row["second_second_changes"].append(changes(labels[second]))
                    row["first_second_correct"].append(float((labels[first] == truth[first]).mean()))
                    row["correct"].append(float((labels == truth).mean()))
                    row["changes"].append(changes(labels))
                    if kind != "change":
                        continue
                    a, b = script.labels
                    if per_frame_separates is None:  # decided once per clip, on the first run's per-frame CNN
                        hold, fade = script.holds[0], script.fades[0]
                        seg_a, seg_b = (times > 0.5) & (times < hold - 0.3), times > hold + fade + 0.5
                        per_frame_separates = bool(per_frame[seg_a, a].mean() > per_frame[seg_a, b].mean()
                                                   and per_frame[seg_b, b].mean() > per_frame[seg_b, a].mean())
                        lag_clips += per_frame_separates
                    if per_frame_separates:
                        found = change_time(times, probs, a, b)
                        row["change_error_s"].append(np.nan if found is None else found - script.change_times()[0])
            print(f"{person.subject}: {clips} clips", flush=True)

    report = {"model": analyzer.model_config.name, "side": args.side, "people": len(persons), "clips": clips,
              "change_clips_timed": lag_clips, "rows": []}
    print(f"\n{args.side} people: {len(persons)}, clips: {clips}, change clips timed: {lag_clips}\n")
    print("| clips | method | sample fps | first-second changes per clip | clips with any | second-second changes "
          "per clip | clips with any | first-second accuracy "
          "| accuracy | changes per clip | change-time error, mean abs (s) | median signed (s) | missed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (kind, method, rate), row in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][2] is None, kv[0][1])):
        first = np.asarray(row["first_second_changes"])
        second = np.asarray(row["second_second_changes"])
        errors = np.asarray(row.get("change_error_s", []), float)
        found = errors[~np.isnan(errors)]
        out = {"clips": kind, "method": method, "sample_fps": rate,
               "first_second_changes_per_clip": float(first.mean()), "clips_with_first_second_changes": int((first > 0).sum()),
               # a change clip's second second may hold its true change
               "second_second_changes_per_clip": float(second.mean()) if kind == "held" else None,
               "clips_with_second_second_changes": int((second > 0).sum()) if kind == "held" else None,
               "first_second_accuracy": float(np.mean(row["first_second_correct"])),
               "accuracy": float(np.mean(row["correct"])), "changes_per_clip": float(np.mean(row["changes"])),
               "change_error_mean_abs_s": float(np.abs(found).mean()) if len(found) else None,
               "change_error_median_signed_s": float(np.median(found)) if len(found) else None,
               "change_missed": int(np.isnan(errors).sum())}
        report["rows"].append(out)
        timing = (f"{out['change_error_mean_abs_s']:.3f} | {out['change_error_median_signed_s']:+.3f} | "
                  f"{out['change_missed']}" if len(found) else " | | ")
        print(f"| {kind} | {method} | {rate or 'all (30)'} | {out['first_second_changes_per_clip']:.2f} | "
              f"{out['clips_with_first_second_changes']}/{len(first)} | "
              + (f"{out['second_second_changes_per_clip']:.2f} | {out['clips_with_second_second_changes']}/{len(second)}"
                 if kind == "held" else " | ") + f" | {out['first_second_accuracy']:.3f} | "
              f"{out['accuracy']:.3f} | {out['changes_per_clip']:.2f} | {timing} |")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
