"""Measure where FER2013's eyes sit, to set fervid's alignment template (fervid.inference.align.FaceTemplate).

Runs a detector on FER2013 Training crops, upscaled 4x (the detector needs more than 48 px), and prints the
median eye centres in 48x48 crop coordinates. With yuface this gave the models' template (fervid.inference.align.FaceTemplate);
with another detector it gives that detector's ``fer2013_eyes`` (where it puts FER2013's eyes), which lets fervid
frame its faces the way the models were trained.

    python benchmarks/fer2013_eye_template.py --data ../shared/data/fer2013/fer2013.csv.gz --limit 4000 \
        --detector centerface
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from fervid.evaluation.datasets import load_fer2013
from fervid.inference.detect import DEFAULT_DETECTOR, DETECTORS, make_detector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/fer2013/fer2013.csv.gz")
    parser.add_argument("--limit", type=int, default=4000)
    parser.add_argument("--upscale", type=int, default=4)
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, choices=list(DETECTORS))
    args = parser.parse_args()

    ds = load_fer2013(args.data, "Training")
    detector = make_detector(args.detector, score_threshold=0.5)
    lefts, rights = [], []
    for grey in ds.images[: args.limit]:
        big = cv2.resize(grey, None, fx=args.upscale, fy=args.upscale, interpolation=cv2.INTER_CUBIC)
        found = detector.detect(cv2.cvtColor(big, cv2.COLOR_GRAY2BGR))
        if len(found) != 1:
            continue
        left, right = found[0].eyes
        lefts.append(left)
        rights.append(right)
    lefts = np.asarray(lefts) / args.upscale
    rights = np.asarray(rights) / args.upscale
    n = min(args.limit, len(ds))
    print(f"faces with exactly one detection: {len(lefts)} of {n}")
    # Symmetrise about the vertical centre line: FER2013 faces are centred and training uses flips.
    dist = np.median(rights[:, 0] - lefts[:, 0])
    eye_y = np.median(np.concatenate([lefts[:, 1], rights[:, 1]]))
    centre_x = np.median((lefts[:, 0] + rights[:, 0]) / 2)
    print(f"median left eye  (x, y) = ({np.median(lefts[:, 0]):.2f}, {np.median(lefts[:, 1]):.2f})")
    print(f"median right eye (x, y) = ({np.median(rights[:, 0]):.2f}, {np.median(rights[:, 1]):.2f})")
    print(f"median eye distance = {dist:.2f} px, eye line y = {eye_y:.2f}, eye midpoint x = {centre_x:.2f}")
    print(f"template: left_eye=({24 - dist / 2:.1f}, {eye_y:.1f}), right_eye=({24 + dist / 2:.1f}, {eye_y:.1f})")


if __name__ == "__main__":
    main()
