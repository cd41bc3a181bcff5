"""Is the average of two networks' *weights* as good as the average of their outputs? A probe before an SWA run.

    python benchmarks/weight_average_probe.py --config configs/ferplus/experiments/ferplus_vgg_second_cycle.toml \
        --start ferplus_vgg --end runs/ferplus_vgg_second_cycle/last.pt

``--start`` and ``--end``: what ``init_from`` accepts (a checkpoint, or an exported or shipped model, rebuilt from
its ONNX graph). The two must share one BatchNorm parameterisation, as a run and the model it started from do
(a model rebuilt from ONNX and a checkpoint of an unrelated run do not). Their parameters are averaged with equal
weights, BatchNorm's statistics recomputed on the config's training faces (as ``swa`` does), and FER+ PublicTest
majority accuracy printed for the two and the average (fp32, torch; the config names the data).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from fervid.inference.align import Normalization
from fervid.machine import cpu_model
from fervid.training.network import EmotionVGG
from fervid.training.train import (TrainConfig, batchnorm_faces, predict_logits, refresh_batchnorm, starting_weights,
                                   training_data)
from data_paths import data_or_exit  # noqa: E402 (benchmarks/, the script's folder)


def average_state(start: dict[str, torch.Tensor], end: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The midpoint of two state dicts' floating-point entries (integer counters taken from ``end``)."""
    return {k: (v + end[k]) / 2 if v.is_floating_point() else end[k] for k, v in start.items()}


def probe(cfg: TrainConfig, start: str, end: str) -> list[tuple[str, float]]:
    """(name, validation accuracy) for ``start``, ``end`` and their weight average, fp32."""
    train_ds, _, val_ds = training_data(cfg)
    norm = Normalization.fit(train_ds.images)
    x_train = torch.from_numpy(norm(train_ds.images))
    x_val, y_val = torch.from_numpy(norm(val_ds.images)), torch.from_numpy(val_ds.labels.copy())
    states = [starting_weights(replace(cfg, init_from=source), x_train) for source in (start, end)]
    nets = [EmotionVGG(cfg.net) for _ in range(3)]
    for net, state in zip(nets, states + [average_state(*states)]):
        net.load_state_dict(state)
    refresh_batchnorm(nets[2], batchnorm_faces(x_train, cfg), torch.device("cpu"))  # averaged weights, own statistics
    names = (start, end, "their average (BatchNorm recomputed)")
    return [(name, float((predict_logits(net.eval(), x_val).argmax(1) == y_val).float().mean()))
            for name, net in zip(names, nets)]

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a training config naming the data and the network shape")
    parser.add_argument("--start", required=True, help="checkpoint (.pt), model folder or shipped name")
    parser.add_argument("--end", required=True, help="checkpoint (.pt), model folder or shipped name")
    args = parser.parse_args()
    try:
        cfg = TrainConfig.from_toml(args.config)
    except OSError as exc:
        raise SystemExit(f"error: {args.config}: {exc.strerror or exc}") from None
    print(f"CPU: {cpu_model()}; fp32, {cfg.val_usage} against {cfg.val_labels} labels\n")
    with data_or_exit(" (a config's relative data paths are read from the current directory: run from the "
                      "repository root, as for fervid train)"):
        rows = probe(cfg, args.start, args.end)
    print("| weights | accuracy |\n|---|---|")
    for name, accuracy in rows:
        print(f"| {name} | {accuracy:.4f} |")


if __name__ == "__main__":
    main()
