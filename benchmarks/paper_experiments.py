"""Every experiment of the published paper, plus subject-independent protocols, in one run.

    python benchmarks/paper_experiments.py --cnn-checkpoint runs/fer2013_vgg_stage2/best.pt --out runs/experiments

For JAFFE, CK+ and JAFFE+CK+: the paper's model (LSTM on CNN features), the LSTM on raw pixels, and the CNN
fine-tuned; under the paper's random splits (5 repeats) and subject-independent ones (CK+ and the combined set
10-fold by subject, JAFFE leave-one-subject-out). Prints the markdown table of docs/results.md and writes one
JSON + confusion PNG + learning-curve PNG per experiment. Same as running `fervid experiment` for each cell.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fervid.inference.analyzer import Analyzer
from fervid.evaluation.datasets import load_dataset
from fervid.inference.detect import DEFAULT_DETECTOR
from fervid.evaluation.datasets import to_sequences
from fervid.research.experiments import run_experiment, save_result
from fervid.inference.models import PAPER_MODEL
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)

PAPER = {("jaffe", "lstm-cnn"): 0.83, ("ckplus", "lstm-cnn"): 0.39, ("jaffe+ckplus", "lstm-cnn"): 0.44,
         ("jaffe", "lstm-pixels"): 0.21, ("ckplus", "lstm-pixels"): 0.16}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckplus", type=Path, default=DATA / "ckplus48" / "CK+48", help="default: %(default)s")
    parser.add_argument("--jaffe", type=Path, default=DATA / "jaffe" / "jaffedbase", help="default: %(default)s")
    parser.add_argument("--cnn-checkpoint", type=Path, default=Path("runs/fer2013_vgg_stage2/best.pt"))
    parser.add_argument("--out", type=Path, default=Path("runs/experiments"))
    parser.add_argument("--models", nargs="+", default=["lstm-cnn", "lstm-pixels", "cnn-finetune"])
    parser.add_argument("--datasets", nargs="+", default=["jaffe", "ckplus", "jaffe+ckplus"])
    parser.add_argument("--finetune-epochs", type=int, default=6)
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, help="face detector (JAFFE heads, video); the numbers in docs/results.md sections 0-6 were measured with yuface")
    args = parser.parse_args()
    if "cnn-finetune" in args.models and not args.cnn_checkpoint.is_file():
        raise SystemExit(f"error: {args.cnn_checkpoint}: no such file (cnn-finetune fine-tunes this checkpoint of "
                         "fervid train's; --cnn-checkpoint)")
    analyzer = Analyzer(PAPER_MODEL, detector=args.detector)  # the published design's CNN, trained on FER2013's labels
    rows = []
    for name in args.datasets:
        with data_or_exit():
            ds = load_dataset(name, args.jaffe if name == "jaffe" else args.ckplus, jaffe_path=args.jaffe,
                              crop_faces=analyzer.crop_faces)
        seq = to_sequences(ds)
        for model in args.models:
            for protocol in ("random", "subject"):
                finetune = model == "cnn-finetune"  # run_experiment refuses a checkpoint another model would ignore
                r = run_experiment(seq, model, protocol, analyzer.cnn, args.cnn_checkpoint if finetune else None,
                                   epochs=args.finetune_epochs if finetune else None)
                save_result(r, args.out)
                acc = np.array(r.fold_accuracies)
                rows.append((name, model, protocol, r.evaluation.accuracy, acc.mean(), acc.std(ddof=1), len(acc),
                             r.evaluation.macro_f1, PAPER.get((name, model)) if protocol == "random" else None,
                             r.seconds, len(seq.labels)))
                print(f"{name} {model} {protocol}: {r.evaluation.accuracy:.3f} ({r.seconds:.0f} s)", flush=True)
    print("\n| dataset (samples) | model | split | accuracy (pooled) | per split/fold mean ± sample sd | macro-F1 | paper |")
    print("|---|---|---|---|---|---|---|")
    for name, model, protocol, pooled, mean, sd, k, f1, paper, _, n in rows:
        split = {"random": "random 80/20, 5 repeats" if name != "jaffe+ckplus" else "random 70/10/20, 5 repeats",
                 "subject": "leave one subject out" if name == "jaffe" else "10-fold by subject"}[protocol]
        print(f"| {name} ({n}) | {model} | {split} | {pooled:.3f} | {mean:.3f} ± {sd:.3f} (k={k}) | {f1:.3f} | "
              f"{paper if paper is not None else '-'} |")
    (args.out / "table.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
