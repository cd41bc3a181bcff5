"""Lag of the temporal methods (issue 17): how late each video method reports an expression change.

    python benchmarks/bench_lag.py --data ../shared/data --clips-per-person 2 --json docs/eval/lag.json

1. Simulated clips with a known change time (fervid.evaluation.clips, where what is simulated is listed), of the
   people on the *test* side of the shipped LSTM's subject-disjoint split (people it never saw, and whose clips
   chose nothing; with the split the shipped LSTMs record, all 17 are CK+ people: JAFFE's fell to training and
   validation): one of the person's expressions for 2 s, a cross-fade of 0.15-0.6 s, another of
   their expressions for 2 s, with head motion, talking, blur and noise, upscaled to 192x192 and H.264-encoded at
   30 fps, then read by the video pipeline. The true change time is the middle of the cross-fade. A method's
   change time is the first frame from which its probability of the second emotion stays above that of the first
   for 0.3 s. Clips whose per-frame CNN does not itself tell the two emotions apart are left out (the change
   would be undefined), and the count is reported. Each clip's error per method is printed and kept in the JSON
   (``clips``), from which the summary rows are computed.
2. The carphone sample (a real video, no labels): the shift that best aligns each method's probability curves
   with the per-frame CNN's (cross-correlation over -1.5..1.5 s; positive means the method trails), its label
   changes per second (flicker) and its mean top probability.
Also the label changes along each simulated clip (one is true; more is flicker).

Each method runs twice: windows centred on the frame (files, the default) and causal (live).
"""

from __future__ import annotations

import argparse
import tempfile
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
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)
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


def method_rows(clips: list[dict]) -> dict[str, dict]:
    """Per method, the change-time error over the used clips (each clip's ``errors_s``: seconds, late positive, None
    where the method never settled on the second emotion) and the label changes per clip."""
    rows = {}
    for key in clips[0]["errors_s"] if clips else []:
        e = np.array([np.nan if c["errors_s"][key] is None else c["errors_s"][key] for c in clips], float)
        found = e[~np.isnan(e)]
        rows[key] = {"mean_abs_error_s": float(np.abs(found).mean()) if len(found) else None,
                     "median_abs_error_s": float(np.median(np.abs(found))) if len(found) else None,
                     "median_signed_error_s": float(np.median(found)) if len(found) else None,
                     "clips_off_by_more_than_0_5_s": int((np.abs(found) > 0.5).sum()),
                     "missed": int(np.isnan(e).sum()),
                     "changes_per_clip": float(np.mean([c["label_changes"][key] for c in clips]))}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="default: %(default)s")
    parser.add_argument("--clips-per-person", type=int, default=2)
    parser.add_argument("--model", default=None, help="CNN (default: fervid's default model)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    analyzer = Analyzer(args.model) if args.model else Analyzer()
    rng = np.random.default_rng(0)
    with data_or_exit():
        test_people = people_by_side(args.data, analyzer)["test"]
    variants = [(m, c) for m in METHODS for c in (True, False)]
    clips: list[dict] = []  # each used clip: who, which change, each method's error and label changes
    skipped = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, person in enumerate(p for p in test_people for _ in range(args.clips_per_person)):
            script = one_change_script(person, rng, HOLD, float(rng.uniform(0.15, 0.6)))
            clip = write_video(Path(tmp) / f"clip{k}.mp4", render(script, rng, FPS, SIZE, jpeg=False))
            truth, (label_a, label_b), fade = script.change_times()[0], script.labels, script.fades[0]
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
            record = {"clip": k, "subject": person.subject, "from": EMOTIONS[label_a], "to": EMOTIONS[label_b],
                      "true_change_s": float(truth), "errors_s": {}, "label_changes": {}}
            for (method, centred), (t, probs, _) in runs.items():
                found = change_time(t, probs, label_a, label_b)
                key = f"{method} {'centred' if centred else 'causal'}"
                record["errors_s"][key] = None if found is None else found - truth
                labels = probs.argmax(1)
                record["label_changes"][key] = int((labels[1:] != labels[:-1]).sum())
            clips.append(record)
            print(f"clip {k} ({person.subject}: {EMOTIONS[label_a]} -> {EMOTIONS[label_b]}): " + ", ".join(
                f"{key} " + ("missed" if err is None else f"{err:+.2f}") for key, err in record["errors_s"].items()))
        shifts, flicker, confidence = {}, {}, {}
        for method, centred in variants:
            opts = VideoOptions(method=method, centred=centred, annotate=False)
            t, probs, per_frame = curves(VideoAnalyzer(analyzer, opts).run(carphone()))
            key = f"{method} {'centred' if centred else 'causal'}"
            shifts[key] = xcorr_shift(t, probs, per_frame)
            flicker[key] = flicker_per_second(probs.argmax(1), FPS)
            confidence[key] = float(probs.max(1).mean())

    report = {"cpu": cpu_model(), "model": analyzer.model_config.name, "detector": analyzer.detector_name,
              "test_people": len(test_people), "clips_used": len(clips), "clips_skipped": skipped, "methods": {},
              "clips": clips}
    print(f"\n{len(clips)} clips used, {skipped} left out (the per-frame CNN does not separate their two emotions)\n")
    print("| method, window | change-time error, mean absolute (s) | median absolute (s) | median signed (s) | "
          "clips off by more than 0.5 s | missed | changes per clip (truth: 1) | carphone shift (s) | "
          "carphone label changes / s | carphone mean top probability |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key, row in method_rows(clips).items():
        row.update({"carphone_shift_s": shifts[key], "carphone_changes_per_s": flicker[key],
                    "carphone_mean_top_probability": confidence[key]})
        report["methods"][key] = row
        errors = [format(row[name], spec) if row[name] is not None else "-" for name, spec in
                  (("mean_abs_error_s", ".3f"), ("median_abs_error_s", ".3f"), ("median_signed_error_s", "+.3f"))]
        print(f"| {key} | {' | '.join(errors)} | {row['clips_off_by_more_than_0_5_s']} | {row['missed']} | "
              f"{row['changes_per_clip']:.2f} | {row['carphone_shift_s']:+.3f} | {row['carphone_changes_per_s']:.2f} "
              f"| {row['carphone_mean_top_probability']:.2f} |")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
