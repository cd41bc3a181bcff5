"""Which network shapes keep the int8 inference path above 1,000 aligned faces/s on this CPU?

    python benchmarks/bench_width.py [--shapes 32,64,128,256:1,2,2,2 20,40,80,160:1,2,2,3@64 ...] [--models DIR ...]

A shape ending in ``@SIZE`` works at SIZExSIZE: the network upsamples the 48x48 face itself (NetConfig.input_size).

Speed does not depend on what the weights have learned, so each candidate is built with random weights,
exported and statically quantized to int8 exactly as `fervid export` does (calibrated on real FER2013
Training faces when ../shared/data has them, else on random pixels), and timed at batch 64 with 2 threads,
rounds interleaved with the shipped model so machine noise hits all alike. Prints multiply-adds, parameters,
faces/s and the ratio to the shipped model. ``--models`` adds trained model folders (`fervid export` output) to
the same rounds. Needs the train extra (torch) for the export step only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_image import per_second  # noqa: E402
from data_paths import DATA, data_or_exit  # noqa: E402

from fervid.emotions import NUM_CLASSES  # noqa: E402
from fervid.inference.align import CROP_SIZE  # noqa: E402
from fervid.inference.models import EmotionCNN  # noqa: E402

DEFAULT_SHAPES = [
    "32,64,128,256:1,2,2,2",  # the shipped shape, re-exported from random weights (a control for the method)
    "32,64,128,256:1,2,2,3",
    "32,64,128,256,512:1,2,2,2,2",
    "40,80,160,320:1,2,2,2",
    "48,96,192,384:1,2,2,2",
    "64,128,256,512:1,2,2,2",
]
FER2013 = DATA / "fer2013" / "fer2013.csv.gz"


def parse_shape(text: str) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """``stages:convs[@input_size]`` -> (stages, convs_per_stage, input_size)."""
    text, _, size = text.partition("@")
    stages, convs = text.split(":")
    return (tuple(int(s) for s in stages.split(",")), tuple(int(c) for c in convs.split(",")),
            int(size) if size else CROP_SIZE)


def conv_macs_and_params(stages, convs, input_size: int = CROP_SIZE, feature_dim: int = 512) -> tuple[int, int]:
    """Multiply-adds per face of the convolutions and dense layers, and the parameter count."""
    macs = params = 0
    channels, size = 1, input_size
    for width, n in zip(stages, convs):
        for _ in range(n):
            macs += channels * width * 9 * size * size
            params += channels * width * 9 + 2 * width
            channels = width
        size //= 2
    dense_in = channels * size * size
    macs += dense_in * feature_dim + feature_dim * NUM_CLASSES
    params += dense_in * feature_dim + feature_dim * NUM_CLASSES + 3 * feature_dim + NUM_CLASSES
    return macs, params


def export_random(stages, convs, input_size: int, folder: Path, calibration: np.ndarray, norm: dict) -> Path:
    import torch

    from fervid.training.export import export_onnx, quantize_int8
    from fervid.training.network import EmotionVGG, NetConfig

    torch.manual_seed(0)
    config = NetConfig(stages=stages, convs_per_stage=convs, input_size=input_size)
    net = EmotionVGG(config)
    run = folder / "run"
    run.mkdir(parents=True)
    torch.save({"model": net.state_dict(), "net": config.to_dict()}, run / "best.pt")
    (run / "normalization.json").write_text(json.dumps(norm))
    out = export_onnx(run, folder / "model")
    quantize_int8(out, calibration, samples=256)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=DEFAULT_SHAPES,
                        help="stages:convs_per_stage[@input_size], e.g. 48,96,192,384:1,2,2,2 or 20,40,80,160:1,2,2,3@64")
    parser.add_argument("--models", nargs="*", default=[], type=Path,
                        help="trained model folders (fervid export output) timed in the same rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    shipped = EmotionCNN(threads=2)
    norm = shipped.config.normalization
    if FER2013.is_file():
        from fervid.evaluation.datasets import load_fer2013

        with data_or_exit():
            calibration = load_fer2013(FER2013, "Training", limit=4096).images
    else:
        print(f"{FER2013} not found: calibrating on random pixels", file=sys.stderr)
        calibration = np.random.default_rng(0).integers(0, 256, (512, 48, 48), dtype=np.uint8)
    batch = norm(calibration[: args.batch])

    with tempfile.TemporaryDirectory() as tmp:
        models = {"shipped (trained)": shipped}
        for i, text in enumerate(args.shapes):
            stages, convs, size = parse_shape(text)
            folder = export_random(stages, convs, size, Path(tmp) / str(i), calibration, norm.to_dict())
            models[text] = EmotionCNN(folder, threads=2)
        for folder in args.models:
            models[str(folder)] = EmotionCNN(folder, threads=2)
        rates: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.rounds):
            for name, model in models.items():
                rates[name] += per_second(lambda: model(batch), len(batch), rounds=1)

    base = statistics.median(rates["shipped (trained)"])
    print(f"int8, batch {args.batch}, 2 threads, median of {args.rounds} interleaved rounds\n")
    print("| shape (stages:convs) | multiply-adds/face | parameters | faces/s | vs shipped |")
    print("|---|---|---|---|---|")
    for name, values in rates.items():
        net = models[name].config.net
        macs, params = conv_macs_and_params(tuple(net["stages"]), tuple(net["convs_per_stage"]),
                                            net.get("input_size", CROP_SIZE))
        rate = statistics.median(values)
        print(f"| {name} | {macs / 1e6:.0f} M | {params / 1e6:.2f} M | {rate:,.0f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
