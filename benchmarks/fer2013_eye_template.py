"""Measure where FER2013's eyes sit, to set fervid's alignment template (fervid.inference.align.FaceTemplate).

Runs a detector on FER2013 Training crops, upscaled 4x (the detector needs more than 48 px), and prints the
median eye centres in 48x48 crop coordinates. With yuface this gave the models' template (fervid.inference.align.FaceTemplate);
with another detector it gives that detector's ``fer2013_eyes`` (where it puts FER2013's eyes), which lets fervid
frame its faces the way the models were trained. It also prints the detector's median box, its ``fer2013_box``
(how fervid frames a face whose landmarks are not a face's: fervid.inference.align.face_alignment), and where the
mouth lands below the eyes, in eye distances, on faces the eyes frame (the window face_alignment accepts).

    python benchmarks/fer2013_eye_template.py --data ../shared/data/fer2013/fer2013.csv.gz --limit 4000 \
        --detector centerface
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from fervid.evaluation.datasets import load_fer2013
from fervid.inference.detect import DEFAULT_DETECTOR, DETECTORS, make_detector
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA / "fer2013" / "fer2013.csv.gz", help="default: %(default)s")
    parser.add_argument("--limit", type=int, default=4000, help="the first N Training faces (default: %(default)s)")
    parser.add_argument("--upscale", type=int, default=4)
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, choices=list(DETECTORS))
    args = parser.parse_args()
    if args.limit < 1:
        parser.error("--limit: at least 1 face")

    with data_or_exit():
        ds = load_fer2013(args.data, "Training", limit=args.limit)
    detector = make_detector(args.detector, score_threshold=0.5)
    lefts, rights, boxes, mouths = [], [], [], []
    for grey in ds.images:
        big = cv2.resize(grey, None, fx=args.upscale, fy=args.upscale, interpolation=cv2.INTER_CUBIC)
        found = detector.detect(cv2.cvtColor(big, cv2.COLOR_GRAY2BGR))
        if len(found) != 1:
            continue
        left, right = found[0].eyes
        lefts.append(left)
        rights.append(right)
        x, y, w, h = found[0].box
        boxes.append((x, y, x + w, y + h))
        mouths.append(np.mean(found[0].landmarks[3:5], axis=0))
    lefts = np.asarray(lefts) / args.upscale
    rights = np.asarray(rights) / args.upscale
    boxes = np.asarray(boxes) / args.upscale
    mouths = np.asarray(mouths) / args.upscale
    print(f"faces with exactly one detection: {len(lefts)} of {len(ds)}")
    # Symmetrise about the vertical centre line: FER2013 faces are centred and training uses flips.
    dist = np.median(rights[:, 0] - lefts[:, 0])
    eye_y = np.median(np.concatenate([lefts[:, 1], rights[:, 1]]))
    centre_x = np.median((lefts[:, 0] + rights[:, 0]) / 2)
    print(f"median left eye  (x, y) = ({np.median(lefts[:, 0]):.2f}, {np.median(lefts[:, 1]):.2f})")
    print(f"median right eye (x, y) = ({np.median(rights[:, 0]):.2f}, {np.median(rights[:, 1]):.2f})")
    print(f"median eye distance = {dist:.2f} px, eye line y = {eye_y:.2f}, eye midpoint x = {centre_x:.2f}")
    print(f"template: left_eye=({24 - dist / 2:.1f}, {eye_y:.1f}), right_eye=({24 + dist / 2:.1f}, {eye_y:.1f})")
    # the box, symmetrised like the eyes
    x0, y0, x1, y1 = np.median(boxes, axis=0)
    half_width = (x1 - x0) / 2
    print(f"median box (x0, y0, x1, y1) = ({x0:.2f}, {y0:.2f}, {x1:.2f}, {y1:.2f}); "
          f"fer2013_box=({24 - half_width:.1f}, {y0:.1f}, {24 + half_width:.1f}, {y1:.1f})")
    # the mouth's drop below the eye line and its shift from the eyes' midpoint, in eye distances, measured
    # along and across each face's own eye line
    axis = rights - lefts
    iod = np.hypot(axis[:, 0], axis[:, 1])
    along = axis / iod[:, None]
    offset = mouths - (lefts + rights) / 2
    shift = (offset * along).sum(1) / iod
    drop = (offset[:, 1] * along[:, 0] - offset[:, 0] * along[:, 1]) / iod
    pct = (0.1, 1, 50, 99, 99.9)
    print(f"mouth drop below the eyes (eye distances), percentiles {pct}: {np.percentile(drop, pct).round(3)}")
    print(f"mouth shift from the eyes' midpoint (eye distances), same percentiles: {np.percentile(shift, pct).round(3)}")


if __name__ == "__main__":
    main()
