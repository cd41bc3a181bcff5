"""The ablation table in docs/results.md: what each change to the training recipe bought, from the run folders.

    fervid train --config configs/fer2013_vgg.toml --out runs/fer2013_vgg           # stage 1 (the base model)
    for c in configs/ablation/*.toml; do fervid train --config $c --out runs/ablation/$(basename $c .toml); done
    python benchmarks/ablation_table.py --runs runs/ablation --base ft_base \
        --also runs/fer2013_vgg_stage2 runs/fer2013_vgg_40ep runs/fer2013_vgg_distill runs/fer2013_vgg_distill_lowlr \
        runs/fer2013_vgg_finetune_lowlr runs/fer2013_vgg_deep \
        --ensemble runs/fer2013_vgg_stage2 runs/fer2013_vgg_40ep --ensemble runs/fer2013_vgg_stage2 runs/fer2013_vgg_deep

    # the short from-scratch ablation (one change per row against scratch_base):
    for c in configs/ablation_scratch/*.toml; do fervid train --config $c --out runs/ablation_scratch/$(basename $c .toml); done
    python benchmarks/ablation_table.py --runs runs/ablation_scratch --base scratch_base --diff --soup --stage1 none

Every row of the second stage starts from the same checkpoint with the same budget (epochs, schedule, seed), so
the differences are the recipe's. Accuracy is on FER2013 PublicTest: "final" is the last epoch (no selection),
"best" the best epoch (selected on the same PublicTest, as FER2013 work usually reports it). With --ferplus, each
run's last epoch is also scored on FER+'s majority labels of the same PublicTest faces (needs torch).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)


def describe(cfg: dict) -> str:
    parts = []
    if cfg.get("init_from"):
        parts.append(f"from {cfg['init_from']}")
    if cfg.get("teachers"):
        parts.append(f"distilled from {len(cfg['teachers'])} teachers (weight {cfg.get('teacher_weight')})")
    if cfg.get("labels", "fer2013") == "ferplus-soft":
        parts.append(f"FER+ soft votes (weight {cfg.get('ferplus_weight')})")
    elif cfg.get("labels") == "ferplus":
        parts.append("FER+ majority labels")
    if cfg.get("mix", "none") != "none":
        parts.append(f"{cfg['mix']} (p {cfg.get('mix_prob')}, alpha {cfg.get('mix_alpha')})")
    return " + ".join(parts) or "FER2013 labels, no mixing"


def train_acc(metrics: list[dict]) -> str:
    """Last epoch's accuracy on the (augmented) training batches; its gap to validation shows overfitting."""
    return f"{metrics[-1]['train_acc']:.4f}" if "train_acc" in metrics[-1] else ""


def changes(cfg: dict, base_cfg: dict) -> str:
    """The settings in which a run differs from the base run, e.g. ``label_smoothing 0.1 -> 0.0``."""

    def flat(c: dict) -> dict:
        out = {k: v for k, v in c.items() if k != "net"}
        out.update({f"net.{k}": v for k, v in c.get("net", {}).items()})
        return out

    ours, theirs = flat(cfg), flat(base_cfg)
    diffs = [f"{k} {theirs.get(k)} -> {v}" for k, v in ours.items() if theirs.get(k) != v]
    return "; ".join(diffs) or "(the base)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--base", default="ft_base", help="The row the others are compared with.")
    parser.add_argument("--stage1", type=Path, default=Path("runs/fer2013_vgg"),
                        help="Stage-1 run shown as the first row (skipped when its folder has no metrics).")
    parser.add_argument("--diff", action="store_true",
                        help="Describe each run of --runs by the settings it changes against --base "
                             "(for from-scratch ablations, e.g. --runs runs/ablation_scratch --base scratch_base).")
    parser.add_argument("--ferplus", help="FER+ votes (fer2013new.csv): add a FER+ PublicTest column.")
    parser.add_argument("--data", type=Path, default=DATA / "fer2013" / "fer2013.csv.gz",
                        help="FER2013 CSV, for --ferplus, --soup and --ensemble (default: %(default)s)")
    parser.add_argument("--soup", nargs="*", default=["ft_base", "ft_cutmix"],
                        help="Runs whose last weights are averaged into one model (a uniform 'model soup'); "
                             "needs torch. --soup with no names skips it.")
    parser.add_argument("--also", nargs="*", type=Path, default=[],
                        help="Further run folders (e.g. the shipped stage 2, longer or distilled runs) as rows.")
    parser.add_argument("--ensemble", nargs="+", type=Path, action="append", default=[],
                        help="Run folders whose best checkpoints' mirror-averaged probabilities are averaged "
                             "(an ensemble: 2 passes per model per face), one row; repeat the flag for more "
                             "ensembles; needs torch.")
    args = parser.parse_args()

    def load(run: Path):
        lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        metrics = [json.loads(line) for line in lines if line]
        return json.loads((run / "config.json").read_text(encoding="utf-8")), metrics

    if not args.runs.is_dir():  # before FER2013 is loaded for a soup or an ensemble (seconds)
        raise SystemExit(f"error: {args.runs}: no such folder (the run folders `fervid train --out` wrote; --runs)")
    runs = sorted(p for p in args.runs.iterdir() if (p / "metrics.jsonl").is_file() and (p / "metrics.jsonl").stat().st_size)
    if not runs:
        raise SystemExit(f"error: {args.runs}: no run folders with metrics.jsonl")
    with data_or_exit():
        scorer = Scorer(args.data, args.ferplus) if args.ferplus or len(args.soup) >= 2 or args.ensemble else None
    table = {run.name: load(run) for run in runs}
    base_cfg, base_metrics = table.get(args.base, (None, None))
    base_final = base_metrics[-1]["val_acc"] if base_metrics else None
    extra = " FER+ acc (final) |" if args.ferplus else ""
    print("| run | change | epochs | final acc | best acc | final vs base | wall | train acc (final, augmented) |" + extra)
    print("|---|---|---|---|---|---|---|---|" + ("---|" if args.ferplus else ""))

    def vs_base(acc: float) -> str:
        return "" if base_final is None else f"{100 * (acc - base_final):+.2f} pt"

    def plus_cell(acc: float | None) -> str:
        return "" if acc is None else f" {acc:.4f} |"

    def plus(run: Path, checkpoint: str = "last.pt") -> str:
        return plus_cell(scorer.ferplus_accuracy(run, checkpoint) if scorer else None)

    if (args.stage1 / "metrics.jsonl").is_file():
        cfg, metrics = load(args.stage1)
        print(f"| {args.stage1.name} (stage 1, from scratch) | {describe(cfg)} | {len(metrics)} | "
              f"{metrics[-1]['val_acc']:.4f} | {max(m['val_acc'] for m in metrics):.4f} | | "
              f"{sum(m['seconds'] for m in metrics) / 60:.0f} min | {train_acc(metrics)} |" + plus(args.stage1, "best.pt"))
    table.update({run.name: load(run) for run in args.also})
    folders = {run.name: run for run in [*runs, *args.also]}
    for name, (cfg, metrics) in table.items():
        final = metrics[-1]["val_acc"]
        delta = "" if name == args.base else vs_base(final)
        change = changes(cfg, base_cfg) if args.diff and base_cfg and folders[name].parent == args.runs \
            else describe(cfg)
        print(f"| {name} | {change} | {len(metrics)}/{cfg['epochs']} | {final:.4f} | "
              f"{max(m['val_acc'] for m in metrics):.4f} | {delta} | {sum(m['seconds'] for m in metrics) / 60:.0f} min | {train_acc(metrics)} |" + plus(folders[name]))
    for members in args.ensemble:
        fer_acc, plus_acc = scorer.ensemble(members)
        print(f"| ensemble of {' + '.join(r.name for r in members)} (best checkpoints) | mean mirror-averaged "
              f"probabilities | | | {fer_acc:.4f} | {vs_base(fer_acc)} | | |" + plus_cell(plus_acc))
    if len(args.soup) >= 2:
        fer_acc, plus_acc = scorer.soup([args.runs / name for name in args.soup])
        print(f"| soup of {' + '.join(args.soup)} | uniform weight average | | {fer_acc:.4f} | | {vs_base(fer_acc)} | | |"
              + plus_cell(plus_acc))


class Scorer:
    """PublicTest accuracy of networks rebuilt from run folders (torch); each test set is loaded once."""

    def __init__(self, data: Path, ferplus_csv: str | None):
        from fervid.evaluation.datasets import load_fer2013, load_ferplus

        self.fer2013 = load_fer2013(data, "PublicTest")
        self.ferplus = load_ferplus(data, ferplus_csv, "PublicTest") if ferplus_csv else None

    @staticmethod
    def net(run: Path, weights: dict):
        from fervid.training.network import EmotionVGG, NetConfig

        net = EmotionVGG(NetConfig.from_dict(json.loads((run / "config.json").read_text(encoding="utf-8"))["net"]))
        net.load_state_dict(weights)
        return net.eval()

    @staticmethod
    def accuracy(net, run: Path, ds) -> float:
        import torch

        from fervid.inference.align import Normalization
        from fervid.training.train import predict_logits

        norm = Normalization.from_dict(json.loads((run / "normalization.json").read_text(encoding="utf-8")))
        return float((predict_logits(net, torch.from_numpy(norm(ds.images))).argmax(1).numpy() == ds.labels).mean())

    @staticmethod
    def weights(run: Path, checkpoint: str = "last.pt") -> dict:
        import torch

        return torch.load(run / checkpoint, map_location="cpu", weights_only=False)["model"]

    def ferplus_accuracy(self, run: Path, checkpoint: str = "last.pt") -> float | None:
        """A run's checkpoint on FER+ majority labels of PublicTest (None without FER+ votes)."""
        if self.ferplus is None:
            return None
        return self.accuracy(self.net(run, self.weights(run, checkpoint)), run, self.ferplus)

    def soup(self, runs: list[Path]) -> tuple[float, float | None]:
        """FER2013 (and FER+) accuracy of the uniform average of the runs' last weights (Wortsman et al. 2022);
        batch-norm running statistics are averaged like the weights."""
        states = [self.weights(run) for run in runs]
        net = self.net(runs[0], {k: sum(s[k] for s in states) / len(states) if states[0][k].is_floating_point()
                                 else states[0][k] for k in states[0]})
        plus = None if self.ferplus is None else self.accuracy(net, runs[0], self.ferplus)
        return self.accuracy(net, runs[0], self.fer2013), plus

    def ensemble(self, runs: list[Path]) -> tuple[float, float | None]:
        """FER2013 (and FER+) accuracy of the runs' best checkpoints together: their mirror-averaged class
        probabilities, averaged (the same probabilities distillation's teachers give)."""
        from fervid.training.train import teacher_probabilities

        predicted = teacher_probabilities([str(run / "best.pt") for run in runs], self.fer2013.images).argmax(1)
        fer_acc = float((predicted == self.fer2013.labels).mean())
        if self.ferplus is None:
            return fer_acc, None
        # FER+ relabels a subset of the same PublicTest faces: reuse their predictions
        plus_predicted = predicted[self.fer2013.rows_of(self.ferplus)]
        return fer_acc, float((plus_predicted == self.ferplus.labels).mean())


if __name__ == "__main__":
    main()
