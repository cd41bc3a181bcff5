"""Typed records passed between stages and returned to users."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fervid.emotions import EMOTIONS


@dataclass
class Face:
    """One analysed face.

    box: (x, y, width, height) in image pixels; landmarks: 5 (x, y) points (eye on the image's left, the other
    eye, nose tip, mouth corner on the image's left, the other corner); detection_score in [0, 1];
    probabilities: 7 values in ``EMOTIONS`` order summing to 1; emotion: the most probable class.
    ``uncertain`` is true when the top probability is below the model's ``uncertain_below`` threshold (0.5 for
    the shipped model: see its card for how often such faces are right). ``feature`` (the CNN's 512-d
    penultimate activations) and ``crop`` (the aligned grey 48x48 face) are kept
    for further analysis but left out of JSON/CSV output.
    """

    box: tuple[float, float, float, float]
    landmarks: tuple[tuple[float, float], ...]
    detection_score: float
    probabilities: tuple[float, ...]
    uncertain: bool = False
    feature: np.ndarray | None = field(default=None, repr=False, compare=False)
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def emotion(self) -> str:
        return EMOTIONS[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        return float(max(self.probabilities))

    @property
    def emotion_probabilities(self) -> dict[str, float]:
        return dict(zip(EMOTIONS, self.probabilities))

    def to_dict(self) -> dict:
        """The JSON schema documented in the README (``faces[]`` entries)."""
        return {
            "box": {"x": round(self.box[0], 1), "y": round(self.box[1], 1),
                    "width": round(self.box[2], 1), "height": round(self.box[3], 1)},
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
            "detection_score": round(self.detection_score, 4),
            "emotion": self.emotion,
            "confidence": round(self.confidence, 4),
            "uncertain": self.uncertain,
            "probabilities": {k: round(float(v), 4) for k, v in self.emotion_probabilities.items()},
        }


@dataclass
class ImageResult:
    """The outcome for one input image: its faces, or the error that stopped it."""

    source: str
    faces: list[Face] = field(default_factory=list)
    width: int = 0
    height: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        out = {"file": self.source, "ok": self.ok, "width": self.width, "height": self.height,
               "faces": [f.to_dict() for f in self.faces]}
        if self.error:
            out["error"] = self.error
        return out
