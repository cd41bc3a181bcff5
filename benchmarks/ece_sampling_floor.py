"""The 15-bin ECE a perfectly calibrated model would still score on a test set, from sampling alone.

    python benchmarks/ece_sampling_floor.py [--model ferplus_vgg] [--draws 2000]

Perfect calibration means a face answered with top probability p is right with chance p. So the model's own top
probabilities on FER+ PublicTest (at its shipped temperature, as `fervid evaluate` measures them) are kept, each
face's right or wrong is drawn from them, and the ECE of each draw is computed by fervid's own
``expected_calibration_error`` (15 equal-width bins): its mean over the draws is the ECE that finite sampling gives
a model with no calibration error at all, on faces and confidences like these. The normal approximation gives about
the same: sqrt(2/pi) / n * sum over bins of sqrt(sum of p(1 - p) over the bin's faces).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fervid.emotions import EMOTIONS
from fervid.evaluation.datasets import load_ferplus
from fervid.evaluation.evaluate import expected_calibration_error, predict_dataset
from fervid.inference.models import EmotionCNN
from fervid.inference.options import PipelineOptions
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)

BINS = 15


def sampled_ece(confidence: np.ndarray, draws: int, seed: int = 0) -> np.ndarray:
    """ECE of ``draws`` outcomes of a perfectly calibrated model with these top probabilities."""
    rng = np.random.default_rng(seed)
    probs = np.zeros((len(confidence), len(EMOTIONS)))
    probs[:, 0] = confidence  # the answer is class 0; the rest of the mass elsewhere (it does not enter the ECE)
    probs[:, 1:] = ((1 - confidence) / (len(EMOTIONS) - 1))[:, None]
    out = np.empty(draws)
    for k in range(draws):
        right = rng.random(len(confidence)) < confidence
        out[k] = expected_calibration_error(probs, np.where(right, 0, 1), BINS)
    return out


def normal_approximation(confidence: np.ndarray) -> float:
    """E|accuracy - confidence| per bin as sqrt(2/pi) x its standard deviation, weighted by the bin's share."""
    edges = np.linspace(0, 1, BINS + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        p = confidence[(confidence > lo) & (confidence <= hi)]
        total += np.sqrt((p * (1 - p)).sum())
    return float(np.sqrt(2 / np.pi) * total / len(confidence))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(PipelineOptions.model), help="default: %(default)s")
    parser.add_argument("--data", type=Path, default=DATA, help="default: %(default)s")
    parser.add_argument("--draws", type=int, default=2000)
    args = parser.parse_args()
    with data_or_exit():
        faces = load_ferplus(args.data / "fer2013" / "fer2013.csv.gz", args.data / "ferplus" / "fer2013new.csv",
                             "PublicTest")
    cnn = EmotionCNN(args.model, threads=2)
    probs = predict_dataset(cnn, faces)
    confidence = probs.max(1)
    eces = sampled_ece(confidence, args.draws)
    print(f"{cnn.config.name} ({cnn.precision}, temperature {cnn.config.temperature:g}) on FER+ PublicTest, "
          f"{len(faces)} faces: measured ECE {expected_calibration_error(probs, faces.labels, BINS):.4f}; a perfectly "
          f"calibrated model with these confidences: ECE {eces.mean():.4f} on average over {args.draws} draws "
          f"(95% of draws {np.percentile(eces, 2.5):.4f}-{np.percentile(eces, 97.5):.4f}); normal approximation "
          f"{normal_approximation(confidence):.4f}")


if __name__ == "__main__":
    main()
