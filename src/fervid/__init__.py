"""fervid: offline facial emotion recognition in images and videos.

    >>> import fervid
    >>> faces = fervid.Analyzer().analyze_image("photo.jpg")
    >>> [(f.emotion, f.confidence) for f in faces]
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# ONNX Runtime 1.29+ sends usage telemetry to Microsoft on Linux and macOS too (a device id kept under ~/.cache, a
# ProcessInfo event with the CPU, the OS and Python's path, uploads from a few seconds in): fervid's promise is that
# nothing leaves the machine. Read once, when ONNX Runtime starts, so it is set before any of fervid's modules
# loads it; a user's own setting is kept.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from fervid.emotions import EMOTIONS
from fervid.errors import FervidError, OptionError, OutputDirError
from fervid.inference.records import Face, ImageResult

if TYPE_CHECKING:  # what a type checker and an IDE see; at run time these load on first use (below)
    from fervid.inference.analyzer import Analyzer
    from fervid.inference.detect import DetectorUnavailable
    from fervid.inference.images import ImageLoadError
    from fervid.inference.models import ModelError, ModelNotFound
    from fervid.inference.options import PipelineOptions
    from fervid.inference.video import FrameFace, VideoError, VideoOptions, VideoResult
    from fervid.registry import UnknownName

__version__ = "0.1.0"

# Importing these loads OpenCV and ONNX Runtime: deferred until one is used (`import fervid` stays fast)
_LAZY = {"Analyzer": "fervid.inference.analyzer", "PipelineOptions": "fervid.inference.options",
         # analyze_video's options, its result and the rows the result holds
         "VideoOptions": "fervid.inference.video", "VideoResult": "fervid.inference.video",
         "FrameFace": "fervid.inference.video",
         # the errors the API raises, to catch by name: an unreadable image, a model not there or not loadable, a
         # name (detector, method) not registered, a detector whose package is not installed, a video that cannot
         # be analysed
         "ImageLoadError": "fervid.inference.images", "ModelError": "fervid.inference.models",
         "ModelNotFound": "fervid.inference.models", "UnknownName": "fervid.registry",
         "DetectorUnavailable": "fervid.inference.detect", "VideoError": "fervid.inference.video"}
# FervidError: the base of every error below, and of OptionError (a setting fervid cannot use) and
# OutputDirError (an output folder a file is in the way of)
__all__ = ["EMOTIONS", "Face", "ImageResult", "FervidError", "OptionError", "OutputDirError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fervid' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the public names, the lazily loaded ones too: tab completion in a notebook offers the main class, not this
    # module's own helpers (importlib, Any, TYPE_CHECKING)
    return sorted(set(__all__) | {name for name in globals() if name.startswith("__")})
