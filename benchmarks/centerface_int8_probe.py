"""Would an int8 CenterFace make video faster? A probe for issue 14's 60 fps bar (detection is the largest stage).

    python benchmarks/centerface_int8_probe.py [--out /tmp/centerface_int8.onnx] [--rounds 10]

Quantizes the shipped CenterFace graph with ONNX Runtime's static quantization (QOperator format: the graph's
opset predates per-channel QDQ; int8 weights per channel, uint8 activations), calibrated on the astronaut pasted
on grey 640x480 frames at several sizes. Then, on every carphone frame enlarged to 640x480 (images calibration did
not see), it compares the int8 detector with the shipped one (faces found by each; box IoU and eye shift over the
eye distance where both find one face), and times both at 640x480 in interleaved rounds. Nothing is shipped: an
int8 detector would also have to pass benchmarks/bench_detectors.py (recall on small faces, false boxes).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from fervid.inference.detect import CENTERFACE_FILE, CenterFaceDetector
from fervid.inference.track import iou
from fervid.machine import cpu_model
from fervid.samples import astronaut

from bench_detectors import carphone_frames  # benchmarks/, the script's folder


def calibration_frames() -> list[np.ndarray]:
    face = cv2.cvtColor(astronaut()[20:240, 120:330], cv2.COLOR_RGB2BGR)
    frames = []
    for size, (x, y) in ((60, (40, 30)), (110, (300, 200)), (180, (200, 100)), (300, (150, 60))):
        frame = np.full((480, 640, 3), 90, np.uint8)
        f = cv2.resize(face, (size * face.shape[1] // face.shape[0], size))
        frame[y : y + f.shape[0], x : x + f.shape[1]] = f
        frames.append(frame)
    frames.append(cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR), (640, 480)))
    return frames


def quantize(out: Path) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Frames(CalibrationDataReader):
        def __init__(self):
            # the detector's own preprocessing: RGB, 0..255, NCHW (CenterFaceDetector.detect)
            self.batches = iter({"input.1": f[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)}
                                for f in calibration_frames())

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(CENTERFACE_FILE), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), Frames(), quant_format=QuantFormat.QOperator,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "centerface_int8.onnx")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    fp32, int8 = CenterFaceDetector(threads=2), CenterFaceDetector(threads=2, model_file=quantize(args.out))

    frames = [cv2.resize(f, (640, 480)) for f in carphone_frames()]
    found, ious, eye_shift = {"fp32": 0, "int8": 0}, [], []
    for frame in frames:
        a, b = fp32.detect(frame), int8.detect(frame)
        found["fp32"] += bool(a)
        found["int8"] += bool(b)
        if len(a) == 1 and len(b) == 1:
            ious.append(iou(a[0].box, b[0].box))
            (ra, la), (rb, lb) = np.asarray(a[0].eyes), np.asarray(b[0].eyes)
            eye_shift.append(max(np.linalg.norm(ra - rb), np.linalg.norm(la - lb)) / np.linalg.norm(ra - la))

    frame = calibration_frames()[2]
    times = {"fp32": [], "int8": []}
    for _ in range(args.rounds):
        for name, det in (("fp32", fp32), ("int8", int8)):
            t0 = time.perf_counter()
            det.detect(frame)
            times[name].append(time.perf_counter() - t0)
    ms = {k: 1000 * float(np.median(v)) for k, v in times.items()}
    print(f"CPU: {cpu_model()}, 2 threads; int8 graph: {args.out}")
    print(f"carphone frames at 640x480 ({len(frames)}): a face found by fp32 {found['fp32']}, by int8 {found['int8']}")
    if ious:
        print(f"where both find one face ({len(ious)}): box IoU median {np.median(ious):.3f}, min {min(ious):.3f}; "
              f"eye shift / eye distance median {np.median(eye_shift):.3f}, max {max(eye_shift):.3f}")
    print(f"ms per 640x480 frame (median of {args.rounds}, interleaved): fp32 {ms['fp32']:.1f}, int8 {ms['int8']:.1f} "
          f"({ms['fp32'] / ms['int8']:.2f}x)")


if __name__ == "__main__":
    main()
