"""Face detectors side by side (issue 14): recall on faces known to be there, false detections on face-free
images, landmark agreement, speed, and the end-to-end effect on emotion accuracy.

    python benchmarks/bench_detectors.py --data ../shared/data --json docs/eval/detectors.json

Every detector registered in ``fervid.inference.detect.DETECTORS`` that is installed runs on the same inputs, in one
process, at its default score threshold (a sweep of thresholds is printed too, since two detectors' scores do not
mean the same thing):

- recall: JAFFE full heads (256x256), CK+48 crops upscaled 4x, the astronaut, every carphone frame, and JAFFE
  heads pasted onto scikit-image's face-free photos at 640x480, at 4 scales and rotations of -15..15 degrees
  (a face counts as found when a box's centre falls inside it);
- false detections: boxes on scikit-image's face-free samples, each at 0.5x, 1x and 2x;
- landmarks: each detector against the first (the default), where both find one face: eye distance between
  them over the inter-ocular distance, and box IoU;
- speed: median ms per 640x480 frame (one face), detectors interleaved;
- end to end: FER2013 PublicTest faces upscaled 4x (192x192), detected, aligned and classified by the default
  model (FER+ majority labels) and by fer2013_vgg (FER2013 labels); a face with no detection counts as wrong.
  The faces' own crops, classified without detection, are the reference; each detector's faces are also scored
  all framed on their eyes, as fervid framed them before it framed faces with implausible landmarks on their box;
- large photos (``--large-photos-only`` runs just this; ``--end-to-end-only`` runs just the row above): JAFFE
  faces pasted at 8 heights (48 to 2400 px) on 12-megapixel (4032x3024) tilings of face-free photos, detected
  with ``min_face`` 48 (the default), 100 and with the coarse copy alone (fervid before 2026-12-05): recall by
  height, boxes off the face, ms per photo.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fervid.inference.align import crop_face, face_alignment, landmarks_frame_a_face, preprocess_faces
from fervid.evaluation.datasets import load_ckplus, load_fer2013, load_ferplus, load_jaffe
from fervid.inference.detect import DETECTORS, DetectorUnavailable, iou, make_detector

from fervid.inference.models import DEFAULT_MODEL, PAPER_MODEL, EmotionCNN
from fervid.machine import cpu_model
from fervid.samples import astronaut, carphone
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

# scikit-image samples with no human face (the astronaut and the cameraman have one)
NO_FACE_IMAGES = ["coffee", "chelsea", "rocket", "coins", "hubble_deep_field", "immunohistochemistry", "moon",
                  "page", "text", "retina", "brick", "grass", "gravel", "cell", "horse", "clock", "colorwheel",
                  "logo", "cat", "checkerboard", "microaneurysms"]
PASTED_SIZES = (64, 112, 180, 280)  # face heights, px
PASTED = "JAFFE heads pasted at 640x480"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
LARGE_PHOTO = (3024, 4032)  # a 12-megapixel phone photo, landscape
LARGE_PHOTO_FACES = (48, 64, 96, 128, 192, 384, 1200, 2400)  # pasted face heights, px
# min_face settings compared; 10**6 leaves only the coarse copy (640 px; yuface 800), as fervid detected before
# 2026-12-05
LARGE_PHOTO_MIN_FACE = {"48 (default)": 48, "100": 100, "coarse copy alone (before)": 10 ** 6}


def skimage_bgr(name: str) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    if img.dtype != np.uint8:
        img = (255 * (img.astype(float) / img.max())).astype(np.uint8)
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    return np.ascontiguousarray(img[:, :, 2::-1])


def grey_bgr(grey: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def jaffe_images(root: Path) -> list[np.ndarray]:
    """JAFFE's full heads (256x256 grey), as they are."""
    return list(load_jaffe(root, crop_faces=lambda greys: (np.stack(greys), np.ones(len(greys), bool))).images)


def pasted_faces(heads: list[np.ndarray], rng: np.random.Generator) -> list[tuple[np.ndarray, tuple]]:
    """JAFFE heads (the middle of the 256x256 image, where the face is) pasted onto face-free photos at 640x480:
    returns (image, (x0, y0, x1, y1) of the pasted face)."""
    backgrounds = [cv2.resize(skimage_bgr(n), (640, 480)) for n in ("coffee", "rocket", "brick", "grass", "horse",
                                                                      "chelsea", "page", "coins")]
    out = []
    for i, head in enumerate(heads):
        for size in PASTED_SIZES:
            face = cv2.resize(head[40:220, 50:210], (round(size * 160 / 180), size), interpolation=cv2.INTER_AREA)
            angle = float(rng.uniform(-15, 15))
            h, w = face.shape
            rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            face = cv2.warpAffine(face, rot, (w, h), borderMode=cv2.BORDER_REPLICATE)
            img = backgrounds[(i + size) % len(backgrounds)].copy()
            x, y = int(rng.integers(0, 640 - w)), int(rng.integers(0, 480 - h))
            img[y:y + h, x:x + w] = grey_bgr(face)
            out.append((img, (x, y, x + w, y + h)))
    return out


def carphone_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(carphone()))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    return frames


def detect_all(detector, images) -> list[list]:
    """Detections at the lowest threshold of the sweep, once; each threshold then keeps those above it."""
    return [detector.detect(img, min_score=min(THRESHOLDS)) for img in images]


def recall(found_per_image, threshold, regions=None) -> float:
    hits = 0
    for k, found in enumerate(found_per_image):
        found = [d for d in found if d.score >= threshold]
        if regions is None:
            hits += bool(found)
        else:
            x0, y0, x1, y1 = regions[k]
            hits += any(x0 <= d.box[0] + d.box[2] / 2 <= x1 and y0 <= d.box[1] + d.box[3] / 2 <= y1 for d in found)
    return hits / max(len(found_per_image), 1)


def face_free_images() -> list[np.ndarray]:
    out = []
    for name in NO_FACE_IMAGES:
        base = skimage_bgr(name)
        for scale in (0.5, 1.0, 2.0):
            out.append(cv2.resize(base, None, fx=scale, fy=scale,
                                  interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC))
    return out


def false_detections(found_per_image, threshold) -> tuple[int, int]:
    counts = [sum(d.score >= threshold for d in found) for found in found_per_image]
    return int(sum(counts)), int(sum(c > 0 for c in counts))


def ms_per_frame(detectors: dict, rounds: int = 7, reps: int = 10) -> dict[str, float]:
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[100:320, 200:410] = cv2.cvtColor(astronaut()[20:240, 120:330], cv2.COLOR_RGB2BGR)
    times = {name: [] for name in detectors}
    for d in detectors.values():
        d.detect(frame)
    for _ in range(rounds):  # interleaved, so a busy moment of the machine hits every detector alike
        for name, d in detectors.items():
            t0 = time.perf_counter()
            for _ in range(reps):
                d.detect(frame)
            times[name].append(1000 * (time.perf_counter() - t0) / reps)
    return {name: float(np.median(t)) for name, t in times.items()}


def landmark_agreement(detectors: dict, images: list[np.ndarray]) -> list[dict]:
    """Each detector against the first (the default): where both find one face, how far apart their eyes are
    (over the inter-ocular distance) and how much their boxes overlap."""
    (reference_name, reference), *others = detectors.items()
    reference_found = [reference.detect(img) for img in images]
    rows = []
    for name, det in others:
        errors, overlaps = [], []
        for img, fa in zip(images, reference_found):
            fb = det.detect(img)
            if len(fa) == 1 and len(fb) == 1:
                (al, ar), (bl, br) = fa[0].eyes, fb[0].eyes
                iod = np.hypot(ar[0] - al[0], ar[1] - al[1])
                errors.append((np.hypot(al[0] - bl[0], al[1] - bl[1]) + np.hypot(ar[0] - br[0], ar[1] - br[1]))
                              / 2 / iod)
                overlaps.append(iou(fa[0].box, fb[0].box))
        rows.append({"pair": f"{name} vs {reference_name}", "faces": len(errors),
                     "median_eye_error_iod": float(np.median(errors)),
                     "p90_eye_error_iod": float(np.percentile(errors, 90)),
                     "median_box_iou": float(np.median(overlaps)), "min_box_iou": float(np.min(overlaps))})
    return rows


def public_test(data: Path) -> tuple:
    """FER2013 PublicTest with its FER2013 labels, and with FER+'s."""
    fer_csv, ferplus_csv = data / "fer2013" / "fer2013.csv.gz", data / "ferplus" / "fer2013new.csv"
    return load_fer2013(fer_csv, "PublicTest"), load_ferplus(fer_csv, ferplus_csv, "PublicTest")


def end_to_end(detectors: dict, fer, plus, limit: int) -> dict:
    plus_rows = fer.rows_of(plus)
    n = min(limit, len(fer)) if limit else len(fer)
    models = {"ferplus": EmotionCNN(DEFAULT_MODEL), "fer2013": EmotionCNN(PAPER_MODEL)}
    keep_plus = plus_rows < n
    results = {}

    def score(crops_by_row: np.ndarray, found: np.ndarray) -> dict:
        out = {"detected": float(found[:n].mean())}
        for labels, cnn in models.items():
            _, batch = preprocess_faces(crops_by_row[:n], cnn.config.normalization, template=cnn.config.template)
            pred = cnn(batch).probabilities.argmax(1)
            if labels == "fer2013":
                out["fer2013_accuracy"] = float(((pred == fer.labels[:n]) & found[:n]).mean())
            else:
                rows = plus_rows[keep_plus]
                out["ferplus_accuracy"] = float(((pred[rows] == plus.labels[keep_plus]) & found[rows]).mean())
        return out

    results["no detection (the 48x48 crops)"] = score(fer.images, np.ones(len(fer), bool))
    for name, det in detectors.items():
        template = models["ferplus"].config.template.for_detector(getattr(det, "fer2013_eyes", None),
                                                                  getattr(det, "fer2013_box", None))
        crops = np.zeros((n, 48, 48), np.uint8)
        found, on_box, on_eyes = np.zeros(len(fer), bool), np.zeros(len(fer), bool), {}
        for i in tqdm(range(n), desc=f"FER2013 through {name}", leave=False):
            big = cv2.resize(fer.images[i], None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
            best = max(det.detect(grey_bgr(big)), key=lambda d: d.score, default=None)
            if best is not None:
                # framed as fervid frames it: on the eyes, or on the box where the landmarks are not a face's
                crops[i] = crop_face(big, template=template, matrix=face_alignment(best.landmarks, best.box, template))
                found[i] = True
                if template.face_box is not None and not landmarks_frame_a_face(best.landmarks):
                    on_box[i] = True
                    # as fervid framed it before 2026-12-05 (on the eyes), to measure what the box framing buys
                    on_eyes[i] = crop_face(big, best.eyes, template)
        full = np.zeros_like(fer.images)
        full[:n] = crops
        results[name] = score(full, found)
        results[name]["framed_on_box"] = float(on_box[:n].mean())
        eyes_only = full.copy()
        for i, crop in on_eyes.items():
            eyes_only[i] = crop
        results[f"{name}, every face framed on its eyes (before)"] = score(eyes_only, found)
    return results


def large_photo(heads: list[np.ndarray], k: int, size: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, tuple]:
    """Photo ``k``: a JAFFE face ``size`` px tall on a 12 MP tiling of a face-free photo; (photo, face region)."""
    h, w = LARGE_PHOTO
    names = ("coffee", "rocket", "brick", "grass", "horse", "page")
    tile = skimage_bgr(names[k % len(names)])
    photo = np.ascontiguousarray(np.tile(tile, (h // tile.shape[0] + 1, w // tile.shape[1] + 1, 1))[:h, :w])
    face = cv2.resize(heads[k % len(heads)][40:220, 50:210], (round(size * 160 / 180), size),
                      interpolation=cv2.INTER_AREA if size < 180 else cv2.INTER_CUBIC)
    fh, fw = face.shape
    x, y = int(rng.integers(0, w - fw)), int(rng.integers(0, h - fh))
    photo[y:y + fh, x:x + fw] = grey_bgr(face)
    return photo, (x, y, x + fw, y + fh)


def large_photos(detectors: dict, heads: list[np.ndarray], photos_per_size: int = 6) -> dict:
    """Recall by face height, boxes off the face and median ms per 12 MP photo, per detector and min_face."""
    out = {}
    for name, det in detectors.items():
        for label, min_face in LARGE_PHOTO_MIN_FACE.items():
            det.min_face = min_face
            rng = np.random.default_rng(0)  # the same photos for every detector and setting
            found, off_face, ms = dict.fromkeys(LARGE_PHOTO_FACES, 0), 0, []
            for size in tqdm(LARGE_PHOTO_FACES, desc=f"{name}, min_face {label}", leave=False):
                for k in range(photos_per_size):
                    photo, (x0, y0, x1, y1) = large_photo(heads, k, size, rng)
                    started = time.perf_counter()
                    boxes = det.detect(photo)
                    ms.append(1000 * (time.perf_counter() - started))
                    on = [x0 <= d.box[0] + d.box[2] / 2 <= x1 and y0 <= d.box[1] + d.box[3] / 2 <= y1 for d in boxes]
                    found[size] += any(on)
                    off_face += len(on) - sum(on) + max(0, sum(on) - 1)  # elsewhere, or a second box on it
            out.setdefault(name, {})[label] = {
                "recall_by_face_height_px": {s: n / photos_per_size for s, n in found.items()},
                "extra_boxes": off_face, "photos": photos_per_size * len(LARGE_PHOTO_FACES),
                "median_ms_per_photo": round(float(np.median(ms)), 1)}
            print(f"large photos, {name}, min_face {label}: {out[name][label]}")
        det.min_face = 48
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="default: %(default)s")
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS))
    parser.add_argument("--fer-limit", type=int, default=0, help="PublicTest faces for the end-to-end row (0: all)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--large-photos-only", action="store_true", help="only the 12-megapixel photo rows")
    parser.add_argument("--end-to-end-only", action="store_true",
                        help="only the end-to-end rows (FER2013 PublicTest upscaled, detected and classified)")
    args = parser.parse_args()

    detectors = {}
    for name in args.detectors:
        try:
            detectors[name] = make_detector(name)
        except DetectorUnavailable as exc:
            print(f"skipping {name}: {exc}")
    with data_or_exit():  # what the rows asked for read, before the first measurement
        heads = None if args.end_to_end_only else jaffe_images(args.data / "jaffe" / "jaffedbase")
        ck = None if args.end_to_end_only or args.large_photos_only else load_ckplus(args.data / "ckplus48" / "CK+48")
        fer, plus = (None, None) if args.large_photos_only else public_test(args.data)
    if args.end_to_end_only:
        report = {"cpu": cpu_model(), "machine": platform.machine(),
                  "end_to_end": end_to_end(detectors, fer, plus, args.fer_limit)}
        for name, row in report["end_to_end"].items():
            print(f"end to end, {name}: {row}")
        write_json(args.json, report)
        return
    rng = np.random.default_rng(0)
    if args.large_photos_only:
        write_json(args.json, {"cpu": cpu_model(), "machine": platform.machine(),
                               "large_photos": large_photos(detectors, heads)})
        return
    ck_big = [grey_bgr(cv2.resize(g, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)) for g in ck.images]
    pasted = pasted_faces(heads, rng)
    frames = carphone_frames()
    sets = {"JAFFE full heads": ([grey_bgr(h) for h in heads], None),
            "CK+48 upscaled 4x": (ck_big, None),
            "astronaut": ([np.ascontiguousarray(astronaut()[:, :, ::-1])], None),
            "carphone frames": (frames, None),
            PASTED: ([p[0] for p in pasted], [p[1] for p in pasted])}
    report: dict = {"cpu": cpu_model(), "machine": platform.machine(), "sizes": {k: len(v[0]) for k, v in sets.items()},
                    "detectors": {}}
    no_faces = face_free_images()
    for name, det in detectors.items():
        found = {k: detect_all(det, imgs) for k, (imgs, _) in tqdm(sets.items(), desc=name, leave=False)}
        found_free = detect_all(det, no_faces)
        rows = {}
        for threshold in sorted(set(THRESHOLDS) | {det.score_threshold}):
            rec = {k: recall(found[k], threshold, regions) for k, (_, regions) in sets.items()}
            boxes, with_boxes = false_detections(found_free, threshold)
            # each head is pasted at every size in turn, so every len(PASTED_SIZES)-th image has one size
            step = len(PASTED_SIZES)
            by_size = {size: recall(found[PASTED][k::step], threshold, sets[PASTED][1][k::step])
                       for k, size in enumerate(PASTED_SIZES)}
            rows[str(threshold)] = {"recall": rec, "pasted_recall_by_height_px": by_size, "false_boxes": boxes,
                                    "images_with_false_boxes": with_boxes}
            print(f"{name} @ {threshold}: " + ", ".join(f"{k} {v:.3f}" for k, v in rec.items())
                  + f" (by height {by_size}); false boxes {boxes} on {with_boxes} of {len(no_faces)} images")
        report["detectors"][name] = {"default_threshold": det.score_threshold, "sweep": rows}
    report["ms_per_640x480_frame"] = ms_per_frame(detectors)
    print("ms per 640x480 frame:", report["ms_per_640x480_frame"])
    report["landmarks"] = landmark_agreement(detectors, [grey_bgr(h) for h in heads] + frames)
    print("landmarks:", report["landmarks"])
    report["end_to_end"] = end_to_end(detectors, fer, plus, args.fer_limit)
    for name, row in report["end_to_end"].items():
        print(f"end to end, {name}: {row}")
    report["large_photos"] = large_photos(detectors, heads)
    write_json(args.json, report)


if __name__ == "__main__":
    main()
