"""Do fervid's int8 models give the same answers on every CPU? (docs/results.md, section 5b)

    python benchmarks/int8_portability.py --models ferplus_vgg fer2013_vgg [--limit 0] [--json FILE]

ONNX Runtime's uint8 x int8 kernel on x86 CPUs without VNNI (AVX2 only) adds pairs of products in 16 bits, which
8-bit weights can overflow. This script scores each model's int8 graph on FER2013 PublicTest (FER+ majority and
FER2013 labels) natively and on a CPU that QEMU's user-mode emulator presents as a Haswell (AVX2, no AVX-512, no
VNNI), one thread each, and counts the faces whose label differs. Needs x86-64 and ``qemu-x86_64``
(``apt-get install qemu-user``); emulation is slow: about 12 minutes per model for all 3,589 faces. A model is a
shipped name or a model folder; ``--int8-file`` scores another int8 graph of the first model (e.g. an older one).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from fervid.evaluation.datasets import load_fer2013, load_ferplus
from fervid.inference.align import preprocess_faces
from fervid.inference.models import EmotionCNN
from fervid.machine import cpu_model
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)
from report import shown_path, write_json  # benchmarks/, the script's folder

RUN = ("import sys, numpy as np, onnxruntime as ort\n"
       "o = ort.SessionOptions(); o.intra_op_num_threads = 1\n"
       "s = ort.InferenceSession(sys.argv[1], o, providers=['CPUExecutionProvider'])\n"
       "np.save(sys.argv[3], s.run(['logits'], {s.get_inputs()[0].name: np.load(sys.argv[2])})[0])\n")


def logits(onnx_file: Path, faces: Path, out: Path, emulate_avx2: bool) -> np.ndarray:
    command = [sys.executable, "-c", RUN, str(onnx_file), str(faces), str(out)]
    if emulate_avx2:
        command = ["qemu-x86_64", "-cpu", "Haswell", *command]
    subprocess.run(command, check=True)
    return np.load(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["ferplus_vgg", "fer2013_vgg"])
    parser.add_argument("--int8-file", type=Path, help="score this int8 graph for the first model instead")
    parser.add_argument("--data", type=Path, default=DATA, help="default: %(default)s")
    parser.add_argument("--limit", type=int, default=0, help="first N PublicTest faces (0: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if shutil.which("qemu-x86_64") is None:
        sys.exit("needs qemu-x86_64 (apt-get install qemu-user) to emulate an AVX2-only CPU")

    fer_csv = args.data / "fer2013" / "fer2013.csv.gz"
    with data_or_exit():
        fer = load_fer2013(fer_csv, "PublicTest")
        plus = load_ferplus(fer_csv, args.data / "ferplus" / "fer2013new.csv", "PublicTest")
    n = args.limit or len(fer)
    plus_rows = fer.rows_of(plus)
    keep = plus_rows < n
    report = {"native_cpu": cpu_model(), "emulated_cpu": "qemu-x86_64 -cpu Haswell (AVX2, no AVX-512, no VNNI)",
              "faces": n, "models": {}}
    for k, model in enumerate(args.models):
        cnn = EmotionCNN(model, precision="int8")
        int8_file = args.int8_file if (args.int8_file and k == 0) else cnn.folder / cnn.config.int8_file
        _, batch = preprocess_faces(fer.images[:n], cnn.config.normalization, template=cnn.config.template)
        with tempfile.TemporaryDirectory() as tmp:
            faces = Path(tmp) / "faces.npy"
            np.save(faces, batch.astype(np.float32))
            native = logits(int8_file, faces, Path(tmp) / "native.npy", emulate_avx2=False).argmax(1)
            avx2 = logits(int8_file, faces, Path(tmp) / "avx2.npy", emulate_avx2=True).argmax(1)
        row = {"int8_file": shown_path(int8_file)}
        for cpu, pred in (("native", native), ("avx2", avx2)):
            row[cpu] = {"fer2013_accuracy": float((pred == fer.labels[:n]).mean()),
                        "ferplus_accuracy": float((pred[plus_rows[keep]] == plus.labels[keep]).mean())}
        row["labels_differ"] = float((native != avx2).mean())
        report["models"][cnn.config.name] = row
        print(f"{cnn.config.name} ({int8_file.name}): native FER+ {row['native']['ferplus_accuracy']:.4f}, FER2013 "
              f"{row['native']['fer2013_accuracy']:.4f}; emulated AVX2 FER+ {row['avx2']['ferplus_accuracy']:.4f}, "
              f"FER2013 {row['avx2']['fer2013_accuracy']:.4f}; labels differ on {100 * row['labels_differ']:.2f}% "
              f"of {n} faces")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
