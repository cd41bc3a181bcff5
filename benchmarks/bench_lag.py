"""Lag of the temporal methods (issue 17): how late each video method reports an expression change.

    python benchmarks/bench_lag.py --data ../shared/data --clips 20 --json docs/eval/lag.json

1. Generated clips with a known change time. Each clip is one CK+ person: the apex frame of one of their
   sequences for 2 s, a 0.3 s cross-fade, then the apex of a sequence with another emotion for 2 s (the same face,
   so only the expression changes), at 30 fps, with slow head motion (rotation, shift, scale drift), sensor noise
   and H.264 compression. The true change time is the middle of the cross-fade. A method's change time is the
   first frame from which its probability of the second emotion stays above that of the first for 0.3 s.
   Clips whose per-frame CNN does not itself tell the two emotions apart are left out (the change would be
   undefined), and the count is reported.
2. The carphone sample (a real video, no labels): the shift that best aligns each method's probability curves
   with the per-frame CNN's (cross-correlation over -1.5..1.5 s; positive means the method trails), its label
   changes per second (flicker) and its mean top probability.
Also the label changes along each generated clip (one is true; more is flicker).

Each method runs twice: windows centred on the frame (files, the default) and causal (live).
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from fervid.inference.analyzer import Analyzer
from fervid.evaluation.datasets import load_ckplus
from fervid.emotions import EMOTIONS
from fervid.machine import cpu_model
from fervid.samples import carphone
from fervid.inference.temporal import METHODS, flicker_per_second
from fervid.inference.video import H264Writer, VideoAnalyzer, VideoOptions
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

FPS = 30.0
HOLD, FADE = 2.0, 0.3


def transition_pairs(ck, limit: int, rng) -> list[tuple[np.ndarray, int, np.ndarray, int, str]]:
    """(face A, label A, face B, label B, subject): two sequences of one person with different emotions."""
    apex: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    for img, label, subject, seq, src in zip(ck.images, ck.labels, ck.subjects, ck.sequences, ck.sources):
        apex[subject].setdefault(int(label), img)  # one apex frame per emotion per person
    pairs = []
    for subject in sorted(apex):
        labels = sorted(apex[subject])
        if len(labels) >= 2:
            a, b = rng.choice(labels, 2, replace=False)
            pairs.append((apex[subject][a], int(a), apex[subject][b], int(b), subject))
    rng.shuffle(pairs)
    return pairs[:limit]


def make_clip(path: Path, face_a: np.ndarray, face_b: np.ndarray, rng) -> float:
    """Writes the clip; returns the true change time."""
    size = 192
    a = cv2.resize(face_a, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    b = cv2.resize(face_b, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    n = int(round((2 * HOLD + FADE) * FPS))
    phase = rng.uniform(0, 2 * np.pi, 3)
    writer = H264Writer(path, size, size, FPS)
    for i in range(n):
        t = i / FPS
        mix = float(np.clip((t - HOLD) / FADE, 0.0, 1.0))
        img = (1 - mix) * a + mix * b
        angle = 3.0 * np.sin(2 * np.pi * 0.3 * t + phase[0])  # slow head motion
        shift = 4.0 * np.sin(2 * np.pi * 0.2 * t + phase[1])
        scale = 1.0 + 0.03 * np.sin(2 * np.pi * 0.25 * t + phase[2])
        m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        m[0, 2] += shift
        img = cv2.warpAffine(img, m, (size, size), borderMode=cv2.BORDER_REPLICATE)
        img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    writer.close()
    return HOLD + FADE / 2


def curves(result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, temporal probabilities, per-frame probabilities) of the clip's longest track."""
    faces = [f for f in result.faces]
    if not faces:
        return np.zeros(0), np.zeros((0, 7)), np.zeros((0, 7))
    track = max({f.track_id for f in faces}, key=lambda k: sum(f.track_id == k for f in faces))
    faces = sorted((f for f in faces if f.track_id == track), key=lambda f: f.time)
    return (np.array([f.time for f in faces]), np.array([f.probabilities for f in faces]),
            np.array([f.frame_probabilities for f in faces]))


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
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--model", default=None, help="CNN (default: fervid's default model)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    analyzer = Analyzer(args.model) if args.model else Analyzer()
    rng = np.random.default_rng(0)
    pairs = transition_pairs(load_ckplus(args.data / "ckplus48" / "CK+48"), args.clips, rng)
    variants = [(m, c) for m in METHODS for c in (True, False)]
    errors: dict[str, list[float]] = defaultdict(list)
    changes: dict[str, list[int]] = defaultdict(list)  # label changes along each clip (one is true)
    used = skipped = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, (face_a, label_a, face_b, label_b, subject) in enumerate(pairs):
            clip = Path(tmp) / f"clip{k}.mp4"
            truth = make_clip(clip, face_a, face_b, rng)
            runs = {}
            for method, centred in variants:
                opts = VideoOptions(method=method, centred=centred, annotate=False)
                runs[(method, centred)] = curves(VideoAnalyzer(analyzer, opts).run(clip))
            times, _, per_frame = runs[("frame", True)]
            if len(times) < 0.9 * (2 * HOLD + FADE) * FPS:
                skipped += 1
                continue
            seg_a = (times > 0.5) & (times < HOLD - 0.3)
            seg_b = times > HOLD + FADE + 0.5
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
              "clips_used": used, "clips_skipped": skipped, "methods": {}}
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
