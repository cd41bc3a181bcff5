"""The ablation table in docs/results.md: what each change to the training recipe bought, from the run folders.

    fervid train --config configs/fer2013_vgg.toml --out runs/fer2013_vgg           # stage 1 (the base model)
    for c in configs/ablation/*.toml; do fervid train --config $c --out runs/ablation/$(basename $c .toml); done
    python benchmarks/ablation_table.py --runs runs/ablation --base ft_base

Every row of the second stage starts from the same checkpoint with the same budget (epochs, schedule, seed), so
the differences are the recipe's. Accuracy is on FER2013 PublicTest: "final" is the last epoch (no selection),
"best" the best epoch (selected on the same PublicTest, as FER2013 work usually reports it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def describe(cfg: dict) -> str:
    parts = []
    if cfg.get("labels", "fer2013") == "ferplus-soft":
        parts.append(f"FER+ soft votes (weight {cfg.get('ferplus_weight')})")
    elif cfg.get("labels") == "ferplus":
        parts.append("FER+ majority labels")
    if cfg.get("mix", "none") != "none":
        parts.append(f"{cfg['mix']} (p {cfg.get('mix_prob')}, alpha {cfg.get('mix_alpha')})")
    return " + ".join(parts) or "FER2013 labels, no mixing"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--base", default="ft_base", help="The row the others are compared with.")
    parser.add_argument("--stage1", type=Path, default=Path("runs/fer2013_vgg"))
    args = parser.parse_args()

    def load(run: Path):
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
        return json.loads((run / "config.json").read_text()), metrics

    runs = sorted(p for p in args.runs.iterdir() if (p / "metrics.jsonl").is_file())
    if not runs:
        raise SystemExit(f"{args.runs}: no run folders with metrics.jsonl")
    table = {run.name: load(run) for run in runs}
    base_final = table[args.base][1][-1]["val_acc"] if args.base in table else None
    print("| run | change | epochs | final acc | best acc | final vs base | wall |")
    print("|---|---|---|---|---|---|---|")
    if (args.stage1 / "metrics.jsonl").is_file():
        cfg, metrics = load(args.stage1)
        print(f"| {args.stage1.name} (stage 1, from scratch) | {describe(cfg)} | {len(metrics)} | "
              f"{metrics[-1]['val_acc']:.4f} | {max(m['val_acc'] for m in metrics):.4f} | | "
              f"{sum(m['seconds'] for m in metrics) / 60:.0f} min |")
    for name, (cfg, metrics) in table.items():
        final = metrics[-1]["val_acc"]
        delta = "" if base_final is None or name == args.base else f"{100 * (final - base_final):+.2f} pt"
        print(f"| {name} | {describe(cfg)} | {len(metrics)}/{cfg['epochs']} | {final:.4f} | "
              f"{max(m['val_acc'] for m in metrics):.4f} | {delta} | {sum(m['seconds'] for m in metrics) / 60:.0f} min |")


if __name__ == "__main__":
    main()
