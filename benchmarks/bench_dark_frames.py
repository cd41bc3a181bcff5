"""Dark pictures: what stretching a dark picture's levels (fervid.inference.align.stretch_dark_levels) changes.

    python benchmarks/bench_dark_frames.py --data ../shared/data --json docs/eval/dark_frames.json

- JAFFE's full heads (256x256) at 1, 1/2, 1/4, 1/8, 1/16 and 1/32 of their brightness, with sensor noise (sigma
  1.5 grey levels) and rounded to whole levels, as a dim room gives them: faces found and accuracy against JAFFE's
  labels, read as they are and with their levels stretched (the default model through the detector, as
  ``fervid evaluate --dataset jaffe`` reads them; a face not found counts as wrong);
- FER2013's own crops, which are not dark pictures: how many have their levels stretched (Training and
  PublicTest, the first 4,000 of each), and the accuracy of those few read either way against FER+;
- false boxes: scikit-image's 21 face-free samples (benchmarks/bench_detectors.py's list) at the same
  brightnesses, detected as they are and stretched.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from fervid.evaluation.datasets import load_ferplus, load_jaffe
from fervid.inference.align import DARK_TOP, stretch_dark_levels
from fervid.inference.analyzer import Analyzer
from fervid.machine import cpu_model
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

BRIGHTNESS = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125)


def read_heads(analyzer: Analyzer, heads: list[np.ndarray], labels: np.ndarray, stretch: bool) -> tuple[float, float]:
    """Faces found and accuracy on single-face grey images, the detector run on them as they are or stretched."""
    found_all, predicted = np.zeros(len(heads), bool), np.full(len(heads), -1)
    for i, grey in enumerate(heads):
        seen = stretch_dark_levels(grey) if stretch else grey
        detections = analyzer.detect(cv2.cvtColor(seen, cv2.COLOR_GRAY2BGR), min_score=0.3)
        best = max(detections, key=lambda d: d.score, default=None)
        if best is not None:
            found_all[i] = True
            crop = analyzer.crop_detection(seen, best)
            predicted[i] = analyzer.classify_crops(crop[None]).probabilities.argmax(1)[0]
    return float(found_all.mean()), float((predicted == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="default: %(default)s")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with data_or_exit():  # all read before the first measurement: a missing file stops it at once
        jaffe = load_jaffe(args.data / "jaffe" / "jaffedbase",
                           crop_faces=lambda greys: (np.stack(greys), np.ones(len(greys), bool)))
        fer2013_crops = {usage: load_ferplus(args.data / "fer2013" / "fer2013.csv.gz",
                                             args.data / "ferplus" / "fer2013new.csv", usage)
                         for usage in ("Training", "PublicTest")}
    analyzer = Analyzer()
    report = {"cpu": cpu_model(), "model": analyzer.model_config.name, "detector": analyzer.detector_name,
              "dark_top": DARK_TOP, "jaffe": {}, "fer2013_crops": {}}
    labels = np.asarray(jaffe.labels)
    rng = np.random.default_rng(0)
    print("| JAFFE brightness | found, as they are | accuracy, as they are | found, stretched | accuracy, stretched |")
    print("|---|---|---|---|---|")
    for brightness in BRIGHTNESS:
        dim = [np.clip(h * brightness + rng.normal(0, 1.5, h.shape), 0, 255).round().astype(np.uint8)
               for h in jaffe.images]
        row = dict(zip(("found_as_they_are", "accuracy_as_they_are"), read_heads(analyzer, dim, labels, False)))
        row |= dict(zip(("found_stretched", "accuracy_stretched"), read_heads(analyzer, dim, labels, True)))
        report["jaffe"][str(brightness)] = row
        print(f"| {brightness:g} | {row['found_as_they_are']:.3f} | {row['accuracy_as_they_are']:.3f} | "
              f"{row['found_stretched']:.3f} | {row['accuracy_stretched']:.3f} |")
    from bench_detectors import NO_FACE_IMAGES, skimage_bgr  # noqa: E402 (benchmarks/, the script's folder)

    report["no_face_false_boxes"] = {}
    for brightness in BRIGHTNESS:
        boxes = {"as_they_are": 0, "stretched": 0}
        for image in map(skimage_bgr, NO_FACE_IMAGES):
            dim = np.clip(image * brightness + rng.normal(0, 1.5, image.shape), 0, 255).round().astype(np.uint8)
            boxes["as_they_are"] += len(analyzer.detector.detect(dim))
            boxes["stretched"] += len(analyzer.detector.detect(stretch_dark_levels(dim)))
        report["no_face_false_boxes"][str(brightness)] = boxes
    print(f"false boxes on face-free images, by brightness: {report['no_face_false_boxes']}")
    for usage, faces in fer2013_crops.items():
        crops, truth = faces.images[:4000], np.asarray(faces.labels[:4000])
        stretched = np.stack([stretch_dark_levels(c) for c in crops])
        touched = np.flatnonzero((stretched != crops).any(axis=(1, 2)))
        row = {"faces": len(crops), "stretched": len(touched)}
        if len(touched):
            for name, images in (("as_they_are", crops), ("stretched", stretched)):
                guess = analyzer.classify_crops(images[touched]).probabilities.argmax(1)
                row[f"accuracy_{name}"] = float((guess == truth[touched]).mean())
        report["fer2013_crops"][usage] = row
        print(f"FER2013 {usage}: {row}")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
