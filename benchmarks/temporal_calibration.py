"""Calibration of the video methods' probabilities (issue 17): expected calibration error of frame / mean / LSTM
on held-out clips, before and after a temperature fitted on other people's clips.

    python benchmarks/temporal_calibration.py --data ../shared/data --clips 40 --json docs/eval/temporal_calibration.json

The clips are bench_lag.py's: one CK+ person each, one expression for 2 s, a 0.3 s cross-fade, another for 2 s,
with head motion, noise and H.264 compression (what is simulated is said there). A frame's label is the first
expression before the cross-fade and the second after it (0.3 s either side of the change left out). People are
split in two: the temperature of each method is fitted (negative log-likelihood) on one half's clips and the
error measured on the other half's, so no person is in both. Windows are centred (files).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

sys.path.insert(0, str(Path(__file__).parent))
from bench_lag import FADE, HOLD, curves, make_clip, transition_pairs  # noqa: E402

from fervid.inference.analyzer import Analyzer  # noqa: E402
from fervid.evaluation.datasets import load_ckplus  # noqa: E402
from fervid.evaluation.evaluate import expected_calibration_error  # noqa: E402
from fervid.machine import cpu_model  # noqa: E402
from fervid.inference.temporal import METHODS  # noqa: E402
from fervid.inference.video import VideoAnalyzer, VideoOptions  # noqa: E402
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    logp = np.log(np.clip(probs, 1e-7, 1.0))

    def nll(t: float) -> float:
        return float(-log_softmax(logp / t, axis=1)[np.arange(len(labels)), labels].mean())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def with_temperature(probs: np.ndarray, t: float) -> np.ndarray:
    return np.exp(log_softmax(np.log(np.clip(probs, 1e-7, 1.0)) / t, axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    analyzer = Analyzer()
    rng = np.random.default_rng(1)
    pairs = transition_pairs(load_ckplus(args.data / "ckplus48" / "CK+48"), args.clips, rng)
    subjects = sorted({p[4] for p in pairs})
    calibration_people = set(subjects[::2])
    frames = {m: {"fit": ([], []), "test": ([], [])} for m in METHODS}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (face_a, label_a, face_b, label_b, subject) in enumerate(pairs):
            clip = Path(tmp) / f"clip{k}.mp4"
            truth = make_clip(clip, face_a, face_b, rng)
            part = "fit" if subject in calibration_people else "test"
            for method in METHODS:
                t, probs, _ = curves(VideoAnalyzer(analyzer, VideoOptions(method=method, annotate=False)).run(clip))
                keep = (np.abs(t - truth) > 0.3) & (t <= 2 * HOLD + FADE)
                frames[method][part][0].append(probs[keep])
                frames[method][part][1].append(np.where(t[keep] < truth, label_a, label_b))
            print(f"clip {k} ({subject}, {part})", flush=True)
    report = {"cpu": cpu_model(), "model": analyzer.model_config.name, "detector": analyzer.detector_name,
              "people": {"fit": len(calibration_people), "test": len(subjects) - len(calibration_people)},
              "methods": {}}
    print("\n| method | temperature | held-out frames | accuracy | ECE before | ECE after |")
    print("|---|---|---|---|---|---|")
    for method in METHODS:
        fit_p, fit_y = (np.concatenate(x) for x in frames[method]["fit"])
        test_p, test_y = (np.concatenate(x) for x in frames[method]["test"])
        temperature = fit_temperature(fit_p, fit_y)
        before = expected_calibration_error(test_p, test_y)
        after = expected_calibration_error(with_temperature(test_p, temperature), test_y)
        accuracy = float((test_p.argmax(1) == test_y).mean())
        report["methods"][method] = {"temperature": temperature, "test_frames": int(len(test_y)),
                                     "accuracy": accuracy, "ece_before": before, "ece_after": after,
                                     "mean_confidence": float(test_p.max(1).mean())}
        print(f"| {method} | {temperature:.3f} | {len(test_y)} | {accuracy:.3f} | {before:.3f} | {after:.3f} |")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
