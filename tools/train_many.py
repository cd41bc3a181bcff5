"""Train several ``fervid train`` runs at once on one machine, inside a time budget: how the twenty-third session
used its 15 minutes of one NVIDIA H200 (docs/results.md section 0).

Two steps, for a machine that receives at most a size-limited copy of the working tree (64 MiB there) and has no
access to ``../shared/data``:

    # here: FER2013 as a compact bundle (pixels as lzma-compressed bytes, 55 MB, with a checksum) + FER+ votes
    python tools/train_many.py pack --data ../shared/data/fer2013/fer2013.csv.gz \
        --ferplus ../shared/data/ferplus/fer2013new.csv --out .gpu
    # there (OUT: the folder that comes back): every run at once, epochs chosen to end inside the budget
    python tools/train_many.py run --bundle .gpu --budget 530 --cap 250 --out $OUT \
        gpu_long_s1=configs/ferplus/experiments/ferplus_vgg_gpu_long.toml:1 \
        gpu_long_reg_s1=configs/ferplus/experiments/ferplus_vgg_gpu_long_reg.toml:1 ...

With this workplace's device tool, the bundle goes in a folder git ignores (``echo /.gpu/ >> .git/info/exclude``),
named in ``carry``; the tracked tree travels too, and the shipped weights (39 MB) would push it over the limit, so
the twenty-third session untracked them for the call (``git rm -r -q --cached src/fervid/weights`` with the folder
in ``.git/info/exclude``, then ``git reset -q`` and the exclude line removed): training needs none of them.

``run`` first trains every run for two epochs at once (the concurrency of the real runs), takes the slowest second
epoch as the epoch time, and gives every run the same epoch count that fits the budget (``--epochs`` skips this).
Each run is ``fervid train --config CONFIG --seed SEED --epochs N``, on the GPU where torch sees one, with the CPU
cores shared between the runs. The runs' folders come back as ``NAME.tar.gz``, each ``last.pt`` keeping the weights
only (the optimiser's state would not fit 16 MiB per file): ``fervid export`` reads them; ``--resume`` cannot.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FER2013_NAME, FERPLUS_NAME = "fer2013.csv", "fer2013new.csv"


def pack(data: Path, ferplus: Path, out: Path) -> None:
    """The FER2013 CSV as ``pixels.xz`` (uint8, row-major), ``meta.csv`` (emotion, Usage), ``pixels.sha256``."""
    frame = pd.read_csv(data, dtype={"emotion": "int64", "pixels": str, "Usage": str})
    pixels = np.stack([np.asarray(row.split(), dtype=np.uint8) for row in frame["pixels"]])
    out.mkdir(parents=True, exist_ok=True)
    (out / "pixels.xz").write_bytes(lzma.compress(pixels.tobytes(), preset=9))
    (out / "pixels.sha256").write_text(hashlib.sha256(pixels.tobytes()).hexdigest(), encoding="utf-8")
    frame[["emotion", "Usage"]].to_csv(out / "meta.csv", index=False)
    shutil.copy(ferplus, out / FERPLUS_NAME)


def unpack(bundle: Path, out: Path) -> tuple[Path, Path]:
    """The bundle back as a FER2013 CSV and the FER+ votes; the pixels are checked against their checksum."""
    meta = pd.read_csv(bundle / "meta.csv")
    pixels = np.frombuffer(lzma.decompress((bundle / "pixels.xz").read_bytes()), np.uint8).reshape(len(meta), -1)
    if hashlib.sha256(pixels.tobytes()).hexdigest() != (bundle / "pixels.sha256").read_text(encoding="utf-8").strip():
        raise SystemExit(f"{bundle / 'pixels.xz'}: pixels differ from the packed ones")
    names = np.array([str(i) for i in range(256)], dtype=object)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"emotion": meta["emotion"], "pixels": [" ".join(names[row]) for row in pixels],
                  "Usage": meta["Usage"]}).to_csv(out / FER2013_NAME, index=False)
    shutil.copy(bundle / FERPLUS_NAME, out / FERPLUS_NAME)
    return out / FER2013_NAME, out / FERPLUS_NAME


def parse_run(spec: str) -> tuple[str, Path, int]:
    """NAME=CONFIG:SEED"""
    try:
        name, rest = spec.split("=", 1)
        config, seed = rest.rsplit(":", 1)
        return name, Path(config), int(seed)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{spec!r}: expected NAME=CONFIG:SEED") from None


class Runs:
    def __init__(self, runs: list[tuple[str, Path, int]], fer2013: Path, ferplus: Path):
        self.runs, self.fer2013, self.ferplus = runs, fer2013, ferplus
        self.threads = str(max(1, (os.cpu_count() or 1) // len(runs)))

    def start(self, epochs: int, root: Path) -> dict[str, subprocess.Popen]:
        root.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS=self.threads, PYTHONUNBUFFERED="1")
        procs = {}
        for name, config, seed in self.runs:
            cmd = [sys.executable, "-m", "fervid.apps.cli", "train", "--config", str(config), "--out", str(root / name),
                   "--data", str(self.fer2013), "--ferplus", str(self.ferplus), "--seed", str(seed),
                   "--epochs", str(epochs)]
            with open(root / f"{name}.log", "w", encoding="utf-8") as log:
                procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        return procs


def metrics(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line] if path.exists() else []


def run(args) -> int:
    started = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / "train_many.log", "a", encoding="utf-8")

    def say(*parts):
        line = f"[{time.time() - started:6.1f}s] " + " ".join(str(p) for p in parts)
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    work = args.work
    fer2013, ferplus = unpack(args.bundle, work / "data")
    say("data ready:", fer2013)
    runs = Runs(args.runs, fer2013, ferplus)
    epochs = args.epochs
    if not epochs:
        probe = work / "probe"
        t0 = time.time()
        for proc in runs.start(2, probe).values():
            proc.wait()
        wall = time.time() - t0
        history = {name: metrics(probe / name) for name, _, _ in args.runs}
        for name, rows in history.items():
            say("probe", name, [(m["epoch"], m["seconds"], round(m["val_acc"], 4)) for m in rows])
        if not all(len(rows) == 2 for rows in history.values()):
            for name in history:
                say(name, (probe / f"{name}.log").read_text(encoding="utf-8")[-3000:])
            say("the probe failed")
            return 1
        epoch_s = max(rows[-1]["seconds"] for rows in history.values())
        startup = max(0.0, wall - 2 * epoch_s * 1.15)
        left = args.budget - (time.time() - started) - startup - 40  # 40 s: packing and margin
        epochs = min(args.cap, int(left / (epoch_s * 1.15 + 0.4)))  # 0.4 s: plotting and saving each epoch
        say(f"probe {wall:.1f} s, epoch {epoch_s:.1f} s, start-up ~{startup:.1f} s, {left:.0f} s left: {epochs} epochs")
        if epochs < args.min_epochs:
            say(f"fewer than {args.min_epochs} epochs fit; not training")
            return 1
    root = work / "runs"
    procs = runs.start(epochs, root)
    deadline, last_note = started + args.budget - 25, 0.0
    while any(p.poll() is None for p in procs.values()):
        time.sleep(1)
        if time.time() - last_note > 60:
            last_note = time.time()
            say("progress", {n: (metrics(root / n)[-1]["epoch"], round(metrics(root / n)[-1]["val_acc"], 4))
                             if metrics(root / n) else 0 for n in procs})
        if time.time() > deadline:
            say("budget spent: stopping the runs")
            for proc in procs.values():
                proc.kill()
            break
    say("exit codes", {n: p.wait() for n, p in procs.items()})

    import torch  # only here: slimming the checkpoints

    failed = 0
    for name, _, _ in args.runs:
        folder = root / name
        rows = metrics(folder)
        say("last epoch", name, rows[-1] if rows else None)
        if not (folder / "summary.json").exists():  # killed or failed: nothing worth exporting
            failed += 1
            continue
        state = torch.load(folder / "last.pt", map_location="cpu", weights_only=False)
        torch.save({k: state[k] for k in ("model", "net", "epoch", "best_acc", "elapsed")}, folder / "last.pt")
        (folder / "best.pt").unlink(missing_ok=True)
        shutil.copy(root / f"{name}.log", folder / "train.log")
        with tarfile.open(args.out / f"{name}.tar.gz", "w:gz") as tar:
            tar.add(folder, arcname=name)
        say("packed", name, (args.out / f"{name}.tar.gz").stat().st_size, "bytes")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="FER2013 CSV + FER+ votes -> a compact bundle folder")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--ferplus", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run", help="train every NAME=CONFIG:SEED at once within --budget seconds")
    r.add_argument("runs", nargs="+", type=parse_run, metavar="NAME=CONFIG:SEED")
    r.add_argument("--bundle", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True, help="the runs' NAME.tar.gz and train_many.log")
    r.add_argument("--work", type=Path, default=Path("/tmp/train_many"), help="data and run folders")
    r.add_argument("--budget", type=float, default=540.0, help="seconds from start to packed results")
    r.add_argument("--cap", type=int, default=250, help="most epochs")
    r.add_argument("--min-epochs", type=int, default=40, help="train only if at least this many fit")
    r.add_argument("--epochs", type=int, default=0, help="this many epochs, no probe")
    args = parser.parse_args(argv)
    if args.command == "pack":
        pack(args.data, args.ferplus, args.out)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
