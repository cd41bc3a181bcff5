"""Degraded and occluded faces: do accuracy, the `uncertain` flag and the confidence move together?

    python benchmarks/degraded_faces.py --json docs/eval/degraded_faces.json

Every CK+48 crop (contempt dropped; classified whole, as ``Analyzer.analyze_image(image, face_crop=True)`` reads a
face crop) and every JAFFE full head (256x256; the detector finds the face, as ``analyze_image(image)`` reads a
photo, and the largest face is kept), as they are and:
- dark x0.1: every grey level times 0.1 (a dark room; fervid stretches a dark picture's levels back);
- downsampled 4x: shrunk to a quarter of its width and height and enlarged back, bilinear (a CK+48 face 12 px
  across; a JAFFE head 64 px, its face about 30);
- eyes blacked out (sunglasses) and mouth blacked out (a mask): a black band over 70% of the width, at the rows
  where the dataset's faces have their eyes or mouth (the dataset's framing: CK+48's crops are the face alone,
  JAFFE's heads have the face in their middle);
- noise sd 40: Gaussian noise of standard deviation 40 grey levels added (drawn with ``--seed``), clipped to 0-255.
For each model and condition: accuracy (a JAFFE face not found counts as wrong), the share of faces flagged
`uncertain` (top probability under the model's ``uncertain_below``), the mean confidence, the errors made at
confidence 0.9 or more, and the label given most often. If the flag told a user when not to trust a label, its
share would rise as accuracy falls. A model card's Limitations take its line from the JSON
(``fervid.evaluation.evaluate.degraded_faces_from_benchmark``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from fervid.emotions import EMOTIONS
from fervid.evaluation.datasets import FaceDataset, load_ckplus, load_jaffe
from fervid.inference.analyzer import Analyzer
from fervid.inference.models import runtime_versions
from fervid.machine import cpu_model
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

# rows (fractions of the image's height) where the eyes and the mouth are, by dataset; the band covers 15%-85% of
# the width. CK+48's crops are the face alone; JAFFE's 256x256 heads have the face in their middle
FEATURE_ROWS = {"ckplus": {"eyes": (0.25, 0.48), "mouth": (0.65, 0.92)},
                "jaffe": {"eyes": (0.44, 0.58), "mouth": (0.66, 0.82)}}
CONDITIONS = ("original", "dark x0.1", "downsampled 4x", "eyes blacked out", "mouth blacked out", "noise sd 40")
CONFIDENT = 0.9


def blacked(grey: np.ndarray, rows: tuple[float, float]) -> np.ndarray:
    out = grey.copy()
    height, width = grey.shape
    out[int(rows[0] * height):int(rows[1] * height), int(0.15 * width):int(0.85 * width)] = 0
    return out


def downsampled(grey: np.ndarray, factor: int = 4) -> np.ndarray:
    height, width = grey.shape
    small = cv2.resize(grey, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def degrade(condition: str, grey: np.ndarray, dataset: str, rng: np.random.Generator) -> np.ndarray:
    """``grey`` (uint8, H x W) as ``condition`` leaves it."""
    if condition == "original":
        return grey
    if condition == "dark x0.1":
        return (grey * 0.1).astype(np.uint8)
    if condition == "downsampled 4x":
        return downsampled(grey)
    if condition == "eyes blacked out":
        return blacked(grey, FEATURE_ROWS[dataset]["eyes"])
    if condition == "mouth blacked out":
        return blacked(grey, FEATURE_ROWS[dataset]["mouth"])
    if condition == "noise sd 40":
        return np.clip(grey + rng.normal(0, 40, grey.shape), 0, 255).astype(np.uint8)
    raise ValueError(f"unknown condition {condition!r}")


def measure(analyzer: Analyzer, faces: FaceDataset, dataset: str, condition: str, seed: int) -> dict:
    """One model on one dataset under one condition."""
    rng = np.random.default_rng(seed)
    right = flagged = confident_errors = found = 0
    confidences: list[float] = []
    labels: Counter[str] = Counter()
    for grey, label in zip(faces.images, faces.labels):
        result = analyzer.analyze_image(degrade(condition, grey, dataset, rng), face_crop=dataset == "ckplus")
        if not len(result):
            continue
        face = max(result, key=lambda f: f.box[2] * f.box[3])
        found += 1
        correct = face.emotion == EMOTIONS[label]
        right += correct
        flagged += face.uncertain
        confidences.append(face.confidence)
        confident_errors += (not correct) and face.confidence >= CONFIDENT
        labels[face.emotion] += 1
    n = len(faces.labels)
    top, top_count = labels.most_common(1)[0] if labels else ("-", 0)
    return {"n": n, "found": found, "accuracy": round(right / n, 3),
            "uncertain_share": round(flagged / max(found, 1), 3),
            "mean_confidence": round(float(np.mean(confidences)), 3) if confidences else None,
            "errors_at_0.9": confident_errors, "most_given": top, "most_given_count": top_count}


def table(results: dict) -> str:
    lines = ["| dataset | model | condition | faces found | accuracy | flagged uncertain | mean confidence | "
             "errors at confidence >= 0.9 | label given most |", "|---|---|---|---|---|---|---|---|---|"]
    for dataset, by_model in results.items():
        for model, by_condition in by_model.items():
            for condition, r in by_condition.items():
                confidence = "-" if r["mean_confidence"] is None else f"{r['mean_confidence']:.3f}"
                lines.append(f"| {dataset} | {model} | {condition} | {r['found']}/{r['n']} | {r['accuracy']:.3f} | "
                             f"{r['uncertain_share']:.1%} | {confidence} | {r['errors_at_0.9']} | "
                             f"{r['most_given']} ({r['most_given_count']}) |")
    return "\n".join(lines)


def per_class_subset(faces: FaceDataset, per_class: int, seed: int) -> FaceDataset:
    """At most ``per_class`` faces of each label, drawn with ``seed``; all of them where ``per_class`` is 0."""
    if not per_class:
        return faces
    rng = np.random.default_rng(seed)
    keep = sorted(i for label in np.unique(faces.labels)
                  for i in rng.permutation(np.flatnonzero(faces.labels == label))[:per_class])
    return faces.subset(keep)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (default: %(default)s)")
    parser.add_argument("--models", nargs="+", default=["ferplus_vgg", "fer2013_vgg"])
    parser.add_argument("--datasets", nargs="+", choices=tuple(FEATURE_ROWS), default=list(FEATURE_ROWS))
    parser.add_argument("--per-class", type=int, default=0,
                        help="at most this many faces of each label, drawn with --seed (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="the noise's and the draw's seed (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args(argv)
    loaders: dict[str, Callable[[], FaceDataset]] = {
        "ckplus": lambda: load_ckplus(args.data / "ckplus48" / "CK+48"),
        # the full heads as they are: the analyzer finds each face under every condition
        "jaffe": lambda: load_jaffe(args.data / "jaffe" / "jaffedbase",
                                    crop_faces=lambda greys: (np.stack(greys), np.ones(len(greys), bool)))}
    with data_or_exit():  # all read before the first measurement: a missing folder stops it at once
        datasets = {key: per_class_subset(loaders[key](), args.per_class, args.seed) for key in args.datasets}
    analyzers = {name: Analyzer(name, threads=2) for name in args.models}
    results: dict[str, dict[str, dict]] = {}
    for key, faces in datasets.items():
        results[key] = {}
        for name, analyzer in analyzers.items():
            results[key][name] = {c: measure(analyzer, faces, key, c, args.seed) for c in CONDITIONS}
    print(f"CPU: {cpu_model()}; seed {args.seed}\n")
    print(table(results))
    write_json(args.json, {"command": shlex.join(["python", "benchmarks/degraded_faces.py",
                                                       *(sys.argv[1:] if argv is None else argv)]),
                           "cpu": cpu_model(), **runtime_versions(), "seed": args.seed,
                           # which weights made the numbers: a model card takes them only for these
                           "models": {n: {"model": a.cnn.config.name, "uncertain_below": a.cnn.config.uncertain_below,
                                          **a.cnn.weights_identity} for n, a in analyzers.items()},
                           "results": results})


if __name__ == "__main__":
    main()
