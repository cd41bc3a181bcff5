"""fervid: offline facial emotion recognition in images and videos.

    >>> import fervid
    >>> faces = fervid.Analyzer().analyze_image("photo.jpg")
    >>> [(f.emotion, f.confidence) for f in faces]
"""

from fervid.emotions import EMOTIONS
from fervid.inference.records import Face, ImageResult

__version__ = "0.1.0"
__all__ = ["EMOTIONS", "Analyzer", "Face", "ImageResult", "__version__"]


def __getattr__(name: str):
    # Importing the Analyzer loads OpenCV and ONNX Runtime; defer that until it is used.
    if name == "Analyzer":
        from fervid.inference.analyzer import Analyzer

        return Analyzer
    raise AttributeError(f"module 'fervid' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the lazily loaded Analyzer listed too: tab completion in a notebook offers the main class
    return sorted(set(globals()) | set(__all__))
