"""Lag of the temporal methods (issue 17): how late each video method reports an expression change.

    python benchmarks/bench_lag.py --data ../shared/data --clips-per-person 2 --json docs/eval/lag.json

1. Simulated clips with a known change time (fervid.evaluation.clips, where what is simulated is listed), of the
   CK+ and JAFFE people on the *test* side of the shipped LSTM's subject-disjoint split (people it never saw,
   and whose clips chose nothing): one of the person's expressions for 2 s, a cross-fade of 0.15-0.6 s, another of
   their expressions for 2 s, with head motion, talking, blur and noise, upscaled to 192x192 and H.264-encoded at
   30 fps, then read by the video pipeline. The true change time is the middle of the cross-fade. A method's
   change time is the first frame from which its probability of the second emotion stays above that of the first
   for 0.3 s. Clips whose per-frame CNN does not itself tell the two emotions apart are left out (the change
   would be undefined), and the count is reported.
2. The carphone sample (a real video, no labels): the shift that best aligns each method's probability curves
   with the per-frame CNN's (cross-correlation over -1.5..1.5 s; positive means the method trails), its label
   changes per second (flicker) and its mean top probability.
Also the label changes along each simulated clip (one is true; more is flicker).

Each method runs twice: windows centred on the frame (files, the default) and causal (live).
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from fervid.evaluation.clips import one_change_script, render
from fervid.inference.analyzer import Analyzer
from fervid.emotions import EMOTIONS
from fervid.machine import cpu_model
from fervid.samples import carphone
from fervid.inference.temporal import METHODS, flicker_per_second
from fervid.inference.video import VideoAnalyzer, VideoOptions
from clip_videos import FPS, SIZE, curves, people_by_side, write_video  # noqa: E402 (benchmarks/)
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

HOLD = 2.0


def change_time(times, probs, a: int, b: int, hold: float = 0.3) -> float | None:
    ahead = probs[:, b] > probs[:, a]
    for i in range(len(times)):
        if times[i] < 0.5 or not ahead[i]:
            continue
        j = np.searchsorted(times, times[i] + hold)
        if ahead[i:j].all():
            return float(times[i])
    return None


def xcorr_shift(times, probs, reference, max_shift: float = 1.5) -> float:
    """Seconds by which ``probs`` trails ``reference`` (both (T, 7) on the same times)."""
    dt = float(np.median(np.diff(times)))
    x = probs - probs.mean(0)
    y = reference - reference.mean(0)
    best, best_lag = -np.inf, 0
    for lag in range(-int(max_shift / dt), int(max_shift / dt) + 1):
        if lag >= 0:
            score = (x[lag:] * y[: len(y) - lag]).sum()
        else:
            score = (x[:lag] * y[-lag:]).sum()
        if score > best:
            best, best_lag = score, lag
    return best_lag * dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clips-per-person", type=int, default=2)
    parser.add_argument("--model", default=None, help="CNN (default: fervid's default model)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    analyzer = Analyzer(args.model) if args.model else Analyzer()
    rng = np.random.default_rng(0)
    test_people = people_by_side(args.data, analyzer)["test"]
    variants = [(m, c) for m in METHODS for c in (True, False)]
    errors: dict[str, list[float]] = defaultdict(list)
    changes: dict[str, list[int]] = defaultdict(list)  # label changes along each clip (one is true)
    used = skipped = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, person in enumerate(p for p in test_people for _ in range(args.clips_per_person)):
            script = one_change_script(person, rng, HOLD, float(rng.uniform(0.15, 0.6)))
            clip = write_video(Path(tmp) / f"clip{k}.mp4", render(script, rng, FPS, SIZE, jpeg=False))
            truth, (label_a, label_b), fade = script.change_times()[0], script.labels, script.fades[0]
            subject = person.subject
            runs = {}
            for method, centred in variants:
                opts = VideoOptions(method=method, centred=centred, annotate=False)
                runs[(method, centred)] = curves(VideoAnalyzer(analyzer, opts).run(clip))
            times, _, per_frame = runs[("frame", True)]
            if len(times) < 0.9 * script.duration * FPS:
                skipped += 1
                continue
            seg_a = (times > 0.5) & (times < HOLD - 0.3)
            seg_b = times > HOLD + fade + 0.5
            if not (per_frame[seg_a, label_a].mean() > per_frame[seg_a, label_b].mean()
                    and per_frame[seg_b, label_b].mean() > per_frame[seg_b, label_a].mean()):
                skipped += 1
                continue
            used += 1
            for (method, centred), (t, probs, _) in runs.items():
                found = change_time(t, probs, label_a, label_b)
                key = f"{method} {'centred' if centred else 'causal'}"
                errors[key].append(np.nan if found is None else found - truth)
                labels = probs.argmax(1)
                changes[key].append(int((labels[1:] != labels[:-1]).sum()))
            print(f"clip {k} ({subject}: {EMOTIONS[label_a]} -> {EMOTIONS[label_b]}): " + ", ".join(
                f"{key} {errors[key][-1]:+.2f}" for key in errors))
        shifts, flicker, confidence = {}, {}, {}
        for method, centred in variants:
            opts = VideoOptions(method=method, centred=centred, annotate=False)
            t, probs, per_frame = curves(VideoAnalyzer(analyzer, opts).run(carphone()))
            key = f"{method} {'centred' if centred else 'causal'}"
            shifts[key] = xcorr_shift(t, probs, per_frame)
            flicker[key] = flicker_per_second(probs.argmax(1), FPS)
            confidence[key] = float(probs.max(1).mean())

    report = {"cpu": cpu_model(), "model": analyzer.model_config.name, "detector": analyzer.detector_name,
              "test_people": len(test_people), "clips_used": used, "clips_skipped": skipped, "methods": {}}
    print(f"\n{used} clips used, {skipped} left out (the per-frame CNN does not separate their two emotions)\n")
    print("| method, window | change-time error, mean absolute (s) | median signed (s) | missed | changes per clip "
          "(truth: 1) | carphone shift (s) | carphone label changes / s | carphone mean top probability |")
    print("|---|---|---|---|---|---|---|---|")
    for key, errs in errors.items():
        e = np.asarray(errs, float)
        found = e[~np.isnan(e)]
        row = {"mean_abs_error_s": float(np.abs(found).mean()) if len(found) else None,
               "median_signed_error_s": float(np.median(found)) if len(found) else None,
               "missed": int(np.isnan(e).sum()), "changes_per_clip": float(np.mean(changes[key])),
               "carphone_shift_s": shifts[key], "carphone_changes_per_s": flicker[key],
               "carphone_mean_top_probability": confidence[key]}
        report["methods"][key] = row
        print(f"| {key} | {row['mean_abs_error_s']:.3f} | {row['median_signed_error_s']:+.3f} | {row['missed']} | "
              f"{row['changes_per_clip']:.2f} | {row['carphone_shift_s']:+.3f} | {row['carphone_changes_per_s']:.2f} "
              f"| {row['carphone_mean_top_probability']:.2f} |")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
