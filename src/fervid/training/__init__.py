"""Training (torch): the CNN, its training loop, the temporal LSTM, export to ONNX."""
