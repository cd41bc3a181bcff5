"""How accurate would an average of these networks be? A quick probe before exporting an ensemble graph.

    python benchmarks/ensemble_probe.py --models ferplus_vgg runs/models/A runs/models/B ...

Each model (a shipped name or a model folder; its default int8 graph, its own temperature) predicts FER+
PublicTest and CK+48; their probabilities are averaged with equal weights. Prints each model's accuracy and the
average's. The average is what `fervid export RUN RUN ... --out FOLDER` builds as one ONNX graph, up to int8
rounding; its speed is about 1/N of one network's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from data_paths import DATA, data_or_exit  # noqa: E402

from fervid.evaluation.datasets import load_ckplus, load_ferplus  # noqa: E402
from fervid.evaluation.evaluate import predict_dataset  # noqa: E402
from fervid.inference.models import EmotionCNN  # noqa: E402
from fervid.machine import cpu_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="shipped model names or model folders")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="the shared data folder, see its README (default: %(default)s)")
    args = parser.parse_args()

    with data_or_exit():
        sets = {"FER+ PublicTest": load_ferplus(args.data / "fer2013" / "fer2013.csv.gz",
                                                args.data / "ferplus" / "fer2013new.csv", "PublicTest"),
                "CK+48": load_ckplus(args.data / "ckplus48" / "CK+48")}
    totals = {name: 0.0 for name in sets}
    print(f"CPU: {cpu_model()}; int8 models\n\n| model | {' | '.join(sets)} |\n|---|{'---|' * len(sets)}")
    for model in args.models:
        cnn = EmotionCNN(model, threads=2, precision="auto")
        cells = []
        for name, ds in sets.items():
            probs = predict_dataset(cnn, ds)
            totals[name] = totals[name] + probs
            cells.append(f"{(probs.argmax(1) == ds.labels).mean():.4f}")
        print(f"| {model} | {' | '.join(cells)} |")
    average = [f"{(totals[name].argmax(1) == ds.labels).mean():.4f}" for name, ds in sets.items()]
    print(f"| **average of all {len(args.models)}** | {' | '.join(average)} |")


if __name__ == "__main__":
    main()
