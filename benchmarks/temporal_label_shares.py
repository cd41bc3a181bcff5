"""Does a video method invent labels on web faces? Label shares and per-class precision of frame / mean / HMM / LSTM
on clips of FER+ PublicTest stills (web faces, one expression each, FER+'s majority label), talking or not.

    python benchmarks/temporal_label_shares.py --data ../shared/data [--clips 600] [--json FILE]

The shipped LSTM learnt from FER2013 Training stills' clips and from posed CK+/JAFFE people (docs/results.md
section 8). This asks the question the carphone clip raises (its LSTM labels include fear where the per-frame CNN
shows none) on faces with labels that nothing was tuned on: each still becomes a 1.5 s clip with head motion,
blur, noise and JPEG (fervid.evaluation.clips), half of them with a stretch of talking, the lower face opening and
closing at 3-6 Hz (``--talking``); every method reads the same int8 CNN outputs through the video pipeline's own
per-track smoother (centred 1 s windows, as for files). Reported per method: accuracy over all frames, each label's
share of the outputs against its share of the truth, and precision / recall per class (fear's especially).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

sys.path.insert(0, str(Path(__file__).parent))
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

from fervid.emotions import EMOTIONS  # noqa: E402
from fervid.evaluation.clips import render, still_script  # noqa: E402
from fervid.evaluation.datasets import load_ferplus  # noqa: E402
from fervid.inference.models import DEFAULT_MODEL, EmotionCNN  # noqa: E402
from fervid.inference.temporal import METHODS, make_method  # noqa: E402
from fervid.machine import cpu_model  # noqa: E402
from fervid.training.train_temporal import CLIP_FPS, ClipSet, frame_predictions  # noqa: E402


def label_report(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    predicted = probabilities.argmax(1)
    classes = list(range(len(EMOTIONS)))
    # None where a ratio has nothing to count (a label never said, a class the truth lacks): a 0 read as a failure
    precision, recall, _, _ = precision_recall_fscore_support(labels, predicted, labels=classes, zero_division=np.nan)
    ratio = lambda v: None if np.isnan(v) else round(float(v), 3)  # noqa: E731
    return {
        "accuracy": round(float((predicted == labels).mean()), 4),
        "share": {e: round(float((predicted == k).mean()), 4) for k, e in enumerate(EMOTIONS)},
        "precision": {e: ratio(p) for e, p in zip(EMOTIONS, precision)},
        "recall": {e: ratio(r) for e, r in zip(EMOTIONS, recall)},
    }


def _ratio_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="default: %(default)s")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the CNN (shipped name); its shipped LSTM is used")
    parser.add_argument("--clips", type=int, default=600, help="stills' clips (PublicTest faces drawn at random)")
    parser.add_argument("--talking", type=float, default=0.5, help="the share of clips with a stretch of talking")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with data_or_exit():
        faces = load_ferplus(args.data / "fer2013" / "fer2013.csv.gz", args.data / "ferplus" / "fer2013new.csv",
                             "PublicTest")
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(faces), size=min(args.clips, len(faces)), replace=False)
    talking = rng.random(len(pick)) < args.talking
    clips = [render(still_script(faces.images[i], faces.labels[i], 1.5), rng, CLIP_FPS, talking=float(talk))
             for i, talk in zip(pick, talking)]
    cnn = EmotionCNN(args.model)
    data = ClipSet.of(cnn, clips, desc="CNN features")
    talk_frames = np.repeat(talking, np.diff(data.starts))
    report = {"model": args.model, "cpu": cpu_model(), "clips": len(clips), "talking_clips": int(talking.sum()),
              "frames": len(data.labels), "truth_share": {e: round(float((data.labels == k).mean()), 4)
                                                           for k, e in enumerate(EMOTIONS)}, "methods": {}}
    for name in METHODS:
        method = make_method(name, cnn=cnn.config.name, feature_dim=cnn.config.feature_dim,
                             cnn_weights_sha256=cnn.weights_sha256) if name == "lstm" else make_method(name)
        probabilities = frame_predictions(method, data, centred=True)
        report["methods"][name] = {"all": label_report(probabilities, data.labels),
                                   "talking": label_report(probabilities[talk_frames], data.labels[talk_frames]),
                                   "still": label_report(probabilities[~talk_frames], data.labels[~talk_frames])}
    print(f"{report['clips']} PublicTest stills' clips ({report['talking_clips']} talking), {report['frames']} frames, "
          f"model {args.model}, {report['cpu']}")
    print("| method, clips | accuracy | " + " | ".join(f"{e} share" for e in EMOTIONS) + " | fear precision / recall |")
    print("|---|---|" + "---|" * len(EMOTIONS) + "---|")
    print("| truth | | " + " | ".join(f"{report['truth_share'][e]:.3f}" for e in EMOTIONS) + " | |")
    for name, parts in report["methods"].items():
        for part, r in parts.items():
            print(f"| {name}, {part} | {r['accuracy']:.3f} | " + " | ".join(f"{r['share'][e]:.3f}" for e in EMOTIONS)
                  + f" | {_ratio_text(r['precision']['fear'])} / {_ratio_text(r['recall']['fear'])} |")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
