"""Faces lying on their side or upside down: what standing them upright (fervid.inference.detect.stand_upright)
changes, on faces turned a known way and on faces that are not turned.

    python benchmarks/bench_rotated_faces.py --data ../shared/data --json docs/eval/rotated_faces.json

- turned faces: JAFFE's full heads (256x256) and CK+48's crops (upscaled 4x to 192x192, CK+'s 7 emotions,
  contempt left out), each turned 0, 1, 2 and 3 quarter turns; per turn: faces found, faces stood upright by the
  right turn, and accuracy against the dataset's labels with and without standing them upright (the default
  model; a face with no detection counts as wrong);
- faces that are not turned: FER2013 Training faces (upscaled 4x), upright or tilted as people hold their heads,
  where any turn found is a false one: how many would be turned at each candidate score (the evidence for
  ``UPRIGHT_MIN_SCORE``, set on these and on JAFFE before PublicTest was scored);
- end to end: FER2013 PublicTest faces upscaled 4x, FER+ majority labels, accuracy with and without.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fervid.evaluation.datasets import load_ckplus, load_fer2013, load_ferplus, load_jaffe
from fervid.inference.analyzer import Analyzer
from fervid.inference.detect import UPRIGHT_MIN_SCORE, stand_upright
from fervid.machine import cpu_model
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

CANDIDATE_SCORES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def score_faces(analyzer: Analyzer, greys: list[np.ndarray], labels: np.ndarray, desc: str) -> dict:
    """Accuracy with and without standing faces upright, and the turns found, on single-face images."""
    predicted = {"upright": np.full(len(greys), -1), "as found": np.full(len(greys), -1)}
    turns = np.full(len(greys), -1)
    for i, grey in enumerate(tqdm(greys, desc=desc, leave=False)):
        bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        found = max(analyzer.detector.detect(bgr, min_score=0.3), key=lambda d: d.score, default=None)
        if found is None:
            continue
        stood = stand_upright(analyzer.detector, bgr, found)
        turns[i] = stood.turns
        crops = np.stack([analyzer.crop_detection(grey, stood), analyzer.crop_detection(grey, found)])
        predicted["upright"][i], predicted["as found"][i] = analyzer.classify_crops(crops).probabilities.argmax(1)
    return {"faces": len(greys), "found": int((turns >= 0).sum()),
            "turns_found": {str(k): int((turns == k).sum()) for k in range(4)},
            "accuracy_stood_upright": float((predicted["upright"] == labels).mean()),
            "accuracy_as_found": float((predicted["as found"] == labels).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="default: %(default)s")
    parser.add_argument("--training-faces", type=int, default=4000, help="FER2013 Training faces for false turns")
    parser.add_argument("--limit", type=int, help="only the first N faces of JAFFE, CK+, PublicTest and Training "
                                                  "(at most --training-faces) each: a quick check (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.limit is not None and args.limit < 1:
        parser.error("--limit: at least 1 face")
    if args.training_faces < 1:
        parser.error("--training-faces: at least 1 face")
    first = slice(args.limit)  # slice(None): all
    training_faces = min(args.training_faces, args.limit or args.training_faces)
    analyzer = Analyzer()
    report = {"cpu": cpu_model(), "model": analyzer.model_config.name, "detector": analyzer.detector_name,
              "upright_min_score": UPRIGHT_MIN_SCORE, "limit": args.limit, "turned": {}}

    with data_or_exit():
        jaffe = load_jaffe(args.data / "jaffe" / "jaffedbase", crop_faces=lambda greys: (np.stack(greys),
                                                                                        np.ones(len(greys), bool)))
        ckplus = load_ckplus(args.data / "ckplus48" / "CK+48")
        training = load_fer2013(args.data / "fer2013" / "fer2013.csv.gz", "Training", limit=training_faces)
        public = load_ferplus(args.data / "fer2013" / "fer2013.csv.gz", args.data / "ferplus" / "fer2013new.csv",
                              "PublicTest")
    jaffe, ckplus, public = (ds.subset(first) for ds in (jaffe, ckplus, public))
    big = [cv2.resize(g, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC) for g in ckplus.images]
    print("| faces | quarter turns | found | stood upright by the right turn | accuracy, stood upright | as found |")
    print("|---|---|---|---|---|---|")
    for name, greys, labels in (("JAFFE heads", list(jaffe.images), jaffe.labels),
                                ("CK+48 upscaled 4x", big, ckplus.labels)):
        for k in range(4):
            row = score_faces(analyzer, [np.ascontiguousarray(np.rot90(g, k)) for g in greys], np.asarray(labels),
                              f"{name}, {k} turns")
            report["turned"][f"{name}, {k} quarter turns"] = row
            print(f"| {name} | {k} | {row['found']} of {row['faces']} | {row['turns_found'][str((4 - k) % 4)]} | "
                  f"{row['accuracy_stood_upright']:.3f} | {row['accuracy_as_found']:.3f} |")

    false_turns, found = dict.fromkeys(CANDIDATE_SCORES, 0), 0
    for grey in tqdm(training.images, desc="FER2013 Training", leave=False):
        bgr = cv2.cvtColor(cv2.resize(grey, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
        best = max(analyzer.detector.detect(bgr, min_score=0.3), key=lambda d: d.score, default=None)
        if best is None:
            continue
        found += 1
        for score in CANDIDATE_SCORES:
            false_turns[score] += stand_upright(analyzer.detector, bgr, best, min_score=score).turns > 0
    report["fer2013_training_false_turns"] = {"faces": len(training), "faces_found": found,
                                              **{f"min_score {s}": int(n) for s, n in false_turns.items()}}
    print(f"\nFER2013 Training, {found} faces found: turned (all falsely) at a candidate score of at least "
          + ", ".join(f"{s}: {n}" for s, n in false_turns.items()))

    big = [cv2.resize(g, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC) for g in public.images]
    row = score_faces(analyzer, big, np.asarray(public.labels), "FER2013 PublicTest")
    report["ferplus_publictest_upscaled"] = row
    print(f"FER2013 PublicTest upscaled 4x, FER+ labels: {row['found']} of {row['faces']} found, "
          f"{row['faces'] - row['turns_found']['0'] - (row['faces'] - row['found'])} turned; accuracy stood upright "
          f"{row['accuracy_stood_upright']:.4f}, as found {row['accuracy_as_found']:.4f}")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
