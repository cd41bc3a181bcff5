"""benchmarks/centerface_int8_probe.py: the shipped CenterFace quantized to int8 still finds the faces it finds."""


import cv2
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")  # ONNX Runtime's quantization tools need it (the train extra)

from fervid.inference.detect import CenterFaceDetector  # noqa: E402
from fervid.inference.track import iou  # noqa: E402
from fervid.samples import astronaut  # noqa: E402

from benchmark_scripts import load  # noqa: E402

probe = load("centerface_int8_probe")


def test_int8_centerface_is_a_quantized_graph_that_finds_the_same_face(tmp_path):
    int8_file = probe.quantize(tmp_path / "centerface_int8.onnx")
    ops = {node.op_type for node in onnx.load(str(int8_file)).graph.node}
    assert "QLinearConv" in ops and "Conv" not in ops  # every convolution runs in int8
    # an image calibration did not see: the astronaut, mirrored and shrunk onto a larger grey frame
    frame = np.full((480, 640, 3), 120, np.uint8)
    face = cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)[:, ::-1], (320, 320))
    frame[100:420, 250:570] = face
    fp32 = CenterFaceDetector(threads=1).detect(frame)
    int8 = CenterFaceDetector(threads=1, model_file=int8_file).detect(frame)
    assert len(fp32) == len(int8) == 1
    assert iou(fp32[0].box, int8[0].box) > 0.8
    eye_distance = np.linalg.norm(np.subtract(*fp32[0].eyes))
    assert np.abs(np.subtract(fp32[0].eyes, int8[0].eyes)).max() < 0.2 * eye_distance
