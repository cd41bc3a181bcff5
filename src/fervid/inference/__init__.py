"""Inference: detect, align, classify, track, video (ONNX Runtime and OpenCV; never imports torch)."""
