"""The ablation table in docs/results.md: what each change to the training recipe bought, from the run folders.

    fervid train --config configs/fer2013_vgg.toml --out runs/fer2013_vgg           # stage 1 (the base model)
    for c in configs/ablation/*.toml; do fervid train --config $c --out runs/ablation/$(basename $c .toml); done
    python benchmarks/ablation_table.py --runs runs/ablation --base ft_base

Every row of the second stage starts from the same checkpoint with the same budget (epochs, schedule, seed), so
the differences are the recipe's. Accuracy is on FER2013 PublicTest: "final" is the last epoch (no selection),
"best" the best epoch (selected on the same PublicTest, as FER2013 work usually reports it). With --ferplus, each
run's last epoch is also scored on FER+'s majority labels of the same PublicTest faces (needs torch).
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
    parser.add_argument("--ferplus", help="FER+ votes (fer2013new.csv): add a FER+ PublicTest column.")
    parser.add_argument("--data", default="../shared/data/fer2013/fer2013.csv.gz")
    parser.add_argument("--soup", nargs="+", default=["ft_base", "ft_cutmix"],
                        help="Runs whose last weights are averaged into one model (a uniform 'model soup'); "
                             "needs torch. --soup with no names skips it.")
    args = parser.parse_args()
    ferplus_acc = (lambda run, checkpoint="last.pt": None)
    if args.ferplus:
        ferplus_acc = ferplus_scorer(args.data, args.ferplus)

    def load(run: Path):
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
        return json.loads((run / "config.json").read_text()), metrics

    runs = sorted(p for p in args.runs.iterdir() if (p / "metrics.jsonl").is_file() and (p / "metrics.jsonl").stat().st_size)
    if not runs:
        raise SystemExit(f"{args.runs}: no run folders with metrics.jsonl")
    table = {run.name: load(run) for run in runs}
    base_final = table[args.base][1][-1]["val_acc"] if args.base in table else None
    extra = " FER+ acc (final) |" if args.ferplus else ""
    print("| run | change | epochs | final acc | best acc | final vs base | wall |" + extra)
    print("|---|---|---|---|---|---|---|" + ("---|" if args.ferplus else ""))

    def plus(run: Path, checkpoint: str = "last.pt") -> str:
        acc = ferplus_acc(run, checkpoint)
        return "" if acc is None else f" {acc:.4f} |"

    if (args.stage1 / "metrics.jsonl").is_file():
        cfg, metrics = load(args.stage1)
        print(f"| {args.stage1.name} (stage 1, from scratch) | {describe(cfg)} | {len(metrics)} | "
              f"{metrics[-1]['val_acc']:.4f} | {max(m['val_acc'] for m in metrics):.4f} | | "
              f"{sum(m['seconds'] for m in metrics) / 60:.0f} min |" + plus(args.stage1, "best.pt"))
    for name, (cfg, metrics) in table.items():
        final = metrics[-1]["val_acc"]
        delta = "" if base_final is None or name == args.base else f"{100 * (final - base_final):+.2f} pt"
        print(f"| {name} | {describe(cfg)} | {len(metrics)}/{cfg['epochs']} | {final:.4f} | "
              f"{max(m['val_acc'] for m in metrics):.4f} | {delta} | {sum(m['seconds'] for m in metrics) / 60:.0f} min |" + plus(args.runs / name))
    if len(args.soup) >= 2:
        fer_acc, plus_acc = soup_scores(args.data, args.ferplus, [args.runs / name for name in args.soup])
        plus_cell = "" if plus_acc is None else f" {plus_acc:.4f} |"
        print(f"| soup of {' + '.join(args.soup)} | uniform weight average | | {fer_acc:.4f} | | "
              + ("" if base_final is None else f"{100 * (fer_acc - base_final):+.2f} pt") + " | |" + plus_cell)


def soup_scores(data: str, ferplus_csv: str | None, runs: list[Path]) -> tuple[float, float | None]:
    """FER2013 (and FER+) PublicTest accuracy of the uniform average of the runs' last weights (Wortsman et al.
    2022); batch-norm running statistics are averaged like the weights."""
    import torch

    from fervid.align import Normalization
    from fervid.datasets import load_fer2013, load_ferplus
    from fervid.network import EmotionVGG, NetConfig
    from fervid.train import predict_logits

    states = [torch.load(run / "last.pt", map_location="cpu", weights_only=False)["model"] for run in runs]
    net = EmotionVGG(NetConfig.from_dict(json.loads((runs[0] / "config.json").read_text())["net"]))
    net.load_state_dict({k: sum(s[k] for s in states) / len(states) if states[0][k].is_floating_point() else states[0][k]
                         for k in states[0]})
    net.eval()
    norm = Normalization.from_dict(json.loads((runs[0] / "normalization.json").read_text()))

    def accuracy(ds) -> float:
        return float((predict_logits(net, torch.from_numpy(norm(ds.images))).argmax(1).numpy() == ds.labels).mean())

    plus = accuracy(load_ferplus(data, ferplus_csv, "PublicTest")) if ferplus_csv else None
    return accuracy(load_fer2013(data, "PublicTest")), plus


def ferplus_scorer(data: str, ferplus_csv: str):
    """Accuracy of a run's checkpoint on FER+ majority labels of PublicTest (torch, the run's normalisation)."""
    import torch

    from fervid.align import Normalization
    from fervid.datasets import load_ferplus
    from fervid.network import EmotionVGG, NetConfig
    from fervid.train import predict_logits

    ds = load_ferplus(data, ferplus_csv, "PublicTest")

    def score(run: Path, checkpoint: str = "last.pt") -> float:
        norm = Normalization.from_dict(json.loads((run / "normalization.json").read_text()))
        net = EmotionVGG(NetConfig.from_dict(json.loads((run / "config.json").read_text())["net"]))
        net.load_state_dict(torch.load(run / checkpoint, map_location="cpu", weights_only=False)["model"])
        logits = predict_logits(net.eval(), torch.from_numpy(norm(ds.images)))
        return float((logits.argmax(1).numpy() == ds.labels).mean())

    return score


if __name__ == "__main__":
    main()
