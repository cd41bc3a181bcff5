"""How much accuracy does int8 cost, and can the quantization settings win it back without costing speed?

    python benchmarks/quant_probe.py [--model ferplus_vgg] [--json docs/eval/quant_probe.json]

Re-quantizes a model folder's ``model.onnx`` several ways (each into a scratch folder; the model folder is not
touched) and measures each int8 graph against the float one:

- fidelity, the measure the choice is made on: on 4,096 FER2013 Training faces that none of the variants
  calibrated on, the share whose int8 label equals the float label, and the mean absolute logit difference.
  Training faces, not the test set, so picking a variant does not tune to PublicTest;
- FER+ PublicTest majority accuracy (reported, not chosen on) and int8 faces/s at batch 64 on 2 threads,
  all graphs timed in interleaved rounds.

Variants: fervid's default (MinMax ranges from 1,024 faces, 7-bit weights per channel), MinMax from 4,096 faces,
Percentile (99.999%) and Entropy ranges, and the default with the first convolution and the classifier layer
left in float (the two layers whose inputs are rawest and whose outputs are the logits).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_image import per_second  # noqa: E402
from compare_models import predict_input  # noqa: E402
from data_paths import DATA, data_or_exit  # noqa: E402
from report import shown_path, write_json  # noqa: E402

from fervid.evaluation.datasets import load_fer2013, load_ferplus  # noqa: E402
from fervid.evaluation.evaluate import predict_dataset  # noqa: E402
from fervid.inference.models import DEFAULT_MODEL, EmotionCNN, resolve_model_dir  # noqa: E402
from fervid.machine import cpu_model  # noqa: E402
from fervid.training.export import quantize_int8  # noqa: E402

FIRST_AND_LAST = ("/body/body.0/Conv", "/head/head.1/Gemm")
VARIANTS = {  # name: quantize_int8 keyword arguments
    "minmax, 1,024 faces (fervid's default)": {},
    "minmax, 4,096 faces": {"samples": 4096},
    "percentile 99.999%, 1,024 faces": {"method": "percentile"},
    "entropy, 1,024 faces": {"method": "entropy"},
    "minmax, first conv and classifier in float": {"float_nodes": FIRST_AND_LAST},
}


def faces_per_second(cnns: dict[str, EmotionCNN], batch: np.ndarray, rounds: int) -> dict[str, float]:
    """Median faces/s per graph, rounds interleaved across graphs as in compare_models.py."""
    rates: dict[str, list[float]] = {name: [] for name in cnns}
    for _ in range(rounds):
        for name, cnn in cnns.items():
            rates[name] += per_second(lambda: cnn(batch), len(batch), rounds=1)
    return {name: statistics.median(r) for name, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a shipped model name or model folder")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="the shared data folder, see its README (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()

    fer_csv = args.data / "fer2013" / "fer2013.csv.gz"
    with data_or_exit():
        training = load_fer2013(fer_csv, "Training")
        plus = load_ferplus(fer_csv, args.data / "ferplus" / "fer2013new.csv", "PublicTest")
    # fidelity faces: the last 4,096 in a fixed shuffle; calibration draws only from the rest
    order = np.random.default_rng(1).permutation(len(training))
    held, calibration = training.subset(order[-4096:]), training.images[order[:-4096]]

    source = resolve_model_dir(args.model)
    reference = EmotionCNN(source, precision="fp32")
    float_logits = predict_dataset(reference, held, logits=True)
    float_labels = float_logits.argmax(1)
    rows: dict[str, dict] = {"float (model.onnx)": {
        "agreement": 1.0, "mean_abs_logit_diff": 0.0,
        "ferplus_accuracy": float((predict_dataset(reference, plus).argmax(1) == plus.labels).mean())}}
    cnns = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, kwargs in VARIANTS.items():
            folder = Path(tmp) / f"v{len(cnns)}"
            folder.mkdir()
            for file in ("model.onnx", "config.json"):
                shutil.copy(source / file, folder / file)
            t0 = time.perf_counter()
            quantize_int8(folder, calibration, **kwargs)
            cnn = cnns[name] = EmotionCNN(folder, precision="int8")
            logits = predict_dataset(cnn, held, logits=True)
            rows[name] = {
                "agreement": float((logits.argmax(1) == float_labels).mean()),
                "mean_abs_logit_diff": float(np.abs(logits - float_logits).mean()),
                "ferplus_accuracy": float((predict_dataset(cnn, plus).argmax(1) == plus.labels).mean()),
                "quantize_seconds": round(time.perf_counter() - t0, 1)}
            print(f"{name}: {rows[name]}", flush=True)
        batch = predict_input(reference, plus.images[:64])
        speeds = faces_per_second(cnns, batch, args.rounds)
    base = speeds[next(iter(VARIANTS))]
    for name, fps in speeds.items():
        rows[name]["faces_per_second"] = round(fps)
        rows[name]["speed_vs_default"] = round(fps / base, 3)

    print(f"\nCPU: {cpu_model()}; model {source.name}; fidelity on 4,096 held-out FER2013 Training faces\n")
    print("| graph | int8 label = float label | mean abs logit diff | FER+ PublicTest accuracy | int8 faces/s |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        speed = f"{r['faces_per_second']:,} ({r['speed_vs_default']:.2f}x)" if "faces_per_second" in r else "-"
        print(f"| {name} | {r['agreement']:.4f} | {r['mean_abs_logit_diff']:.3f} | {r['ferplus_accuracy']:.4f} "
              f"| {speed} |")
    write_json(args.json, {"cpu": cpu_model(), "model": shown_path(source), "variants": rows})


if __name__ == "__main__":
    main()
