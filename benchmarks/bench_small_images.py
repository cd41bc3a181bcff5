"""Small images (face crops, thumbnails): what detecting them on an enlarged copy changes, to choose
fervid.inference.detect.SMALL_IMAGE_SIDE (the detector's ``small_image_side``).

    python benchmarks/bench_small_images.py --data ../shared/data --limit 3000 --json docs/eval/small_images.json

FER2013 *Training* faces (48 x 48, every 7th row FER+ keeps as one of the 7 emotions; not PublicTest, a test set)
and CK+48's crops (every 3rd), each analysed as `fervid image` analyses a 48 x 48 picture, with the picture
detected enlarged to each side swept (48: as it is, as fervid did before): faces found, accuracy against FER+'s
majority label (a face not found counts as wrong; the model was trained on these faces, so the accuracy is high
for all, and only its differences tell), agreement with classifying the whole picture (`--face-crops`, what
`fervid evaluate --data crops/` does), and detection time per image. ``--interpolation`` compares how the copy is
enlarged.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

import fervid.inference.detect as detect
from fervid.evaluation.datasets import load_ckplus, load_ferplus
from fervid.inference.analyzer import Analyzer
from fervid.machine import cpu_model
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA}


def sweep(analyzer: Analyzer, greys: np.ndarray, labels: np.ndarray, sides: list[int], desc: str) -> list[dict]:
    whole = analyzer.classify_crops(greys).probabilities.argmax(1)
    print(f"{desc:14s} whole image (--face-crops): accuracy {(whole == labels).mean():.3f}", flush=True)
    rows = []
    for side in sides:
        analyzer.detector.small_image_side = side  # the shorter side a small image is enlarged to (48: not)
        predicted, seconds = np.full(len(greys), -1), 0.0
        for i, grey in enumerate(tqdm(greys, desc=f"{desc} {side} px", leave=False, mininterval=5)):
            bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
            started = time.perf_counter()
            faces = analyzer.analyze_bgr(bgr)
            seconds += time.perf_counter() - started
            if len(faces):
                predicted[i] = int(np.argmax(max(faces, key=lambda f: f.box[2] * f.box[3]).probabilities))
        found = predicted >= 0
        rows.append({"side": side, "images": len(greys), "found": int(found.sum()),
                     "found_share": round(float(found.mean()), 4),
                     "accuracy": round(float((predicted == labels).mean()), 4),
                     "accuracy_where_found": round(float((predicted[found] == labels[found]).mean()), 4),
                     "agreement_with_whole_image": round(float((predicted[found] == whole[found]).mean()), 4),
                     "whole_image_accuracy": round(float((whole == labels).mean()), 4),
                     "ms_per_image": round(1000 * seconds / len(greys), 2)})
        print(f"{desc:14s} {side:4d} px: found {rows[-1]['found']}/{len(greys)} ({rows[-1]['found_share']:.3f}), "
              f"accuracy {rows[-1]['accuracy']:.3f} (where found {rows[-1]['accuracy_where_found']:.3f}), "
              f"agreement with the whole image {rows[-1]['agreement_with_whole_image']:.3f}, "
              f"{rows[-1]['ms_per_image']:.1f} ms/image", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="default: %(default)s")
    parser.add_argument("--limit", type=int, default=3000)
    parser.add_argument("--sides", type=int, nargs="+", default=[48, 96, 112, 128, 144, 160, 192, 224, 256])
    parser.add_argument("--detector", default=detect.DEFAULT_DETECTOR, choices=list(detect.DETECTORS))
    parser.add_argument("--interpolation", default="linear", choices=list(INTERPOLATIONS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    interpolation = INTERPOLATIONS[args.interpolation]
    enlarge = detect._resized

    def resized(image_bgr, scale):
        if scale <= 1:
            return enlarge(image_bgr, scale)
        h, w = image_bgr.shape[:2]
        return cv2.resize(image_bgr, (round(w * scale), round(h * scale)), interpolation=interpolation)

    detect._resized = resized
    analyzer = Analyzer(detector=args.detector)
    chosen = analyzer.detector.small_image_side
    with data_or_exit():
        train = load_ferplus(args.data / "fer2013" / "fer2013.csv.gz", args.data / "ferplus" / "fer2013new.csv",
                             "Training")
        ck = load_ckplus(args.data / "ckplus48" / "CK+48")
    picked = np.arange(0, len(train), 7)[: args.limit]
    ck_picked = np.arange(0, len(ck), 3)
    report = {"cpu": cpu_model(), "detector": analyzer.detector_name, "interpolation": args.interpolation,
              "chosen_side": chosen,
              "fer2013_training": sweep(analyzer, train.images[picked], train.labels[picked], args.sides,
                                        "FER2013 train"),
              "ckplus48": sweep(analyzer, ck.images[ck_picked], ck.labels[ck_picked], args.sides, "CK+48")}
    write_json(args.json, report)


if __name__ == "__main__":
    main()
