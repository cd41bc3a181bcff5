"""fervid: offline facial emotion recognition in images and videos.

    >>> import fervid
    >>> faces = fervid.Analyzer().analyze_image("photo.jpg")
    >>> [(f.emotion, f.confidence) for f in faces]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fervid import onnx_runtime_telemetry

# first: ONNX Runtime's usage telemetry off before any of fervid's modules imports onnxruntime (and a warning where
# the application imported it first, with its telemetry on)
onnx_runtime_telemetry.turn_off()

from fervid.emotions import EMOTIONS as EMOTIONS
from fervid.errors import (FervidError as FervidError, FervidWarning as FervidWarning, OptionError as OptionError,
                           OutputDirError as OutputDirError)
from fervid.inference.records import Face as Face, ImageResult as ImageResult, images_table as images_table

# what a type checker and an IDE see; at run time these load on first use (below). The `import X as X` form is
# what marks an import as re-exported: `mypy --strict` refused `fervid.Analyzer` in a user's script without it
if TYPE_CHECKING:
    from fervid.inference.analyzer import Analyzer as Analyzer
    from fervid.inference.catalog import ModelInfo as ModelInfo, list_models as list_models
    from fervid.inference.detect import Detection as Detection, DetectorUnavailable as DetectorUnavailable
    from fervid.inference.images import ImageLoadError as ImageLoadError
    from fervid.inference.models import ModelError as ModelError, ModelNotFound as ModelNotFound
    from fervid.inference.options import PipelineOptions as PipelineOptions
    from fervid.inference.stream import FaceStream as FaceStream, StreamFrame as StreamFrame
    from fervid.inference.track_classifier import TrackClassifier as TrackClassifier
    from fervid.inference.video import (Episode as Episode, FrameFace as FrameFace, OutputsBusy as OutputsBusy,
                                        TrackLog as TrackLog, VideoError as VideoError, VideoOptions as VideoOptions,
                                        VideoResult as VideoResult)
    from fervid.registry import UnknownName as UnknownName

# the one place the version is set (pyproject.toml reads it); every output records it. A development version
# between releases, so that its outputs, which differ from the last release's, are not taken for that release's
__version__ = "0.3.0.dev0"

# Importing these loads OpenCV and ONNX Runtime: deferred until one is used (`import fervid` stays fast)
_LAZY = {"Analyzer": "fervid.inference.analyzer", "PipelineOptions": "fervid.inference.options",
         # a face your own detector found, for Analyzer.classify
         "Detection": "fervid.inference.detect",
         # analyze_video's options, its result and the rows the result holds
         "VideoOptions": "fervid.inference.video", "VideoResult": "fervid.inference.video",
         "FrameFace": "fervid.inference.video", "TrackLog": "fervid.inference.video",
         "Episode": "fervid.inference.video",
         # Analyzer.stream's frames from your own loop, and what each push returns
         "FaceStream": "fervid.inference.stream", "StreamFrame": "fervid.inference.stream",
         # your own detector's and tracker's faces, classified over time (Analyzer.track_classifier)
         "TrackClassifier": "fervid.inference.track_classifier",
         # the shipped models, described (what `fervid models` lists)
         "list_models": "fervid.inference.catalog", "ModelInfo": "fervid.inference.catalog",
         # the errors the API raises, to catch by name: an unreadable image, a model not there or not loadable, a
         # name (detector, method) not registered, a detector whose package is not installed, a video that cannot
         # be analysed, a video's outputs another analysis is writing into that folder
         "ImageLoadError": "fervid.inference.images", "ModelError": "fervid.inference.models",
         "ModelNotFound": "fervid.inference.models", "UnknownName": "fervid.registry",
         "DetectorUnavailable": "fervid.inference.detect", "VideoError": "fervid.inference.video",
         "OutputsBusy": "fervid.inference.video"}
# The public names, written out: a type checker reads a literal list, not one built from _LAZY
# (tests/test_init.py checks that the two agree). FervidError: the base of every error here, and of OptionError
# (a setting fervid cannot use) and OutputDirError (an output folder a file is in the way of). FervidWarning: the base
# of every warning fervid gives, to filter them by (warnings.filterwarnings("ignore", category=fervid.FervidWarning))
__all__ = ["EMOTIONS", "Face", "ImageResult", "images_table", "FervidError", "FervidWarning", "OptionError",
           "OutputDirError",
           "__version__", "Analyzer", "Detection", "PipelineOptions", "VideoOptions", "VideoResult", "FrameFace", "TrackLog",
           "Episode", "ImageLoadError", "ModelError", "ModelNotFound", "UnknownName", "DetectorUnavailable",
           "VideoError", "OutputsBusy", "FaceStream", "StreamFrame", "TrackClassifier", "list_models",
           "ModelInfo"]


if not TYPE_CHECKING:  # a type checker that saw it would take any name, a misspelt one too, as fervid's (Any)
    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            return getattr(importlib.import_module(_LAZY[name]), name)
        raise AttributeError(f"module 'fervid' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the public names, the lazily loaded ones too: tab completion in a notebook offers the main class, not this
    # module's own helpers (importlib, Any, TYPE_CHECKING)
    return sorted(set(__all__) | {name for name in globals() if name.startswith("__")})
