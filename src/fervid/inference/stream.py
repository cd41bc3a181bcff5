"""Frames from your own loop (a desktop app's camera callback, a WebRTC stack, a robot's camera), tracked and
classified over time as a video's are: :meth:`fervid.inference.analyzer.Analyzer.stream` makes a :class:`FaceStream`,
a thin layer over the video pipeline's :class:`~fervid.inference.video.FrameStream` that checks what it is given
and hands back each frame's faces as the rows a video's table holds (:class:`~fervid.inference.video.FrameFace`)."""

from __future__ import annotations

import dataclasses
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Iterator, TypedDict

import numpy as np
from PIL import Image

from fervid.errors import OptionError
from fervid.inference.analyzer import IMAGE_LIMIT_NAME, check_video_settings
from fervid.inference.images import load_image
from fervid.inference.options import checked_flag
from fervid.inference.temporal import labels_delay, window_notice
from fervid.inference.video import FrameFace, VideoAnalyzer, VideoOptions

# the rate the per-frame stages count in where frames come with their own times and no rate is given (as for a
# video file whose container gives none: VideoAnalyzer.run)
UNKNOWN_RATE_FPS = 30.0


class StreamChanges(TypedDict, total=False):
    """The :class:`~fervid.inference.video.VideoOptions` a stream uses, as :meth:`Analyzer.stream`'s keywords."""

    detect_every: float
    window: float
    method: str
    centred: bool
    batch_frames: int
    temporal_model: str | Path | None


# VideoOptions' other settings are a video file's (its outputs, its decoding): refused with what to do instead
NOT_FOR_STREAMS = {
    "sample_fps": "push only the frames to analyse, and give fps as the rate you push them at",
    "annotate": "a stream writes no files: draw each StreamFrame's faces on its image yourself",
    "key_frames": "a stream writes no files: each StreamFrame's image is yours to keep",
    "frames_memory_mb": "a stream holds only the frames its windows wait for (centred=True) and a CNN batch's",
    "max_frame_pixels": "the frames are yours: resize large ones before pushing them",
}


def check_fps(fps: float, alternative: str = "") -> None:
    """Refuse a rate that is not a positive number of frames a second (``alternative``: what else may be given,
    said in the error)."""
    if not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and math.isfinite(fps) and fps > 0):
        raise OptionError(f"fps must be a positive number of frames a second{alternative}, not {fps!r}")


@dataclass
class StreamFrame:
    """One pushed frame whose faces' labels are final (:meth:`FaceStream.push`, :meth:`FaceStream.finish`)."""

    time: float  # seconds, as pushed (or frames pushed before it / fps)
    index: int  # frames pushed before it: the ``frame`` of its faces' rows
    faces: list[FrameFace]  # each tracked face: track id, box, probabilities over its window, emotion
    image: np.ndarray = field(repr=False)  # the frame as pushed (the same array, in its own channel order)

    def rows(self) -> list[dict]:
        """Its faces as the rows of a video's per-frame table (``VideoResult.frame_table()``, the CSV/Parquet)."""
        return [face.table_row() for face in self.faces]


class FaceStream:
    """Tracks and classifies the faces of frames you push one by one, in time order, as ``analyze_video`` does a
    file's: detection every ``detect_every`` s, optical flow between, each track classified over its ``window``
    with the temporal ``method``. Made by :meth:`fervid.inference.analyzer.Analyzer.stream`.

    :meth:`push` returns the frames whose labels are final: a causal window's (the default) as they are pushed, a
    centred window's :attr:`lookahead` seconds later; :meth:`finish` returns the rest. Memory is bounded by the
    window, not by how long the stream runs. Used as a context manager, leaving the block ends the stream (call
    :meth:`finish` inside it for the last frames' labels).

    A stream takes its frames from one thread at a time: a :meth:`push`, :meth:`finish` or :meth:`close` while
    another of them runs raises RuntimeError (frames pushed from several threads at once have no time order).
    Several streams of one analyzer may each run in their own thread."""

    def __init__(self, analyzer, fps: float | None = None, **changes):
        for name in changes:
            if name in NOT_FOR_STREAMS:
                raise TypeError(f"{name} is a setting of analyze_video, not of a stream: {NOT_FOR_STREAMS[name]}")
        check_video_settings(changes, list(StreamChanges.__annotations__), caller="stream(fps)")
        if fps is not None:
            check_fps(fps, " (or None, each frame pushed with its time)")
        # a live loop cannot wait for the frames after one: causal windows, each frame through the CNN as it comes
        options = dataclasses.replace(VideoOptions(centred=False, batch_frames=1), **changes)
        runner = VideoAnalyzer(analyzer, options)
        self.fps = None if fps is None else float(fps)
        self.options = options
        self._max_image_pixels = analyzer.max_image_pixels  # (frames over it refused as analyze_image refuses them)
        self.method: str = runner.temporal.name  # the temporal method that runs (the LSTM's fallback: "mean")
        self.notices = [n for n in (runner.notice, runner.graph_notice) if n]
        if self.fps is not None:  # (a stream timed by its frames has no rate to judge the window by)
            # the frames come at fps, the most there are: no advice to sample faster
            notice = window_notice(self.method, options.window, self.fps, options.centred, "keywords",
                                   most_rate=self.fps)
            if notice:
                self.notices.append(notice)
        self._frames = runner.stream(self.fps or UNKNOWN_RATE_FPS)
        self._images: dict[int, np.ndarray] = {}  # index -> the frame as pushed, until its labels are final
        self._pushed = 0
        self._last_time = -math.inf
        self._ended = ""  # why no more frames are taken: "finished", "closed"
        # held by the push, finish or close running: pushes from two threads at once broke the tracks and the CNN
        # batch silently (IndexError, KeyError, frames lost); refused, not queued, as their order would be chance
        self._busy = threading.Lock()

    @property
    def lookahead(self) -> float:
        """Seconds of later frames a frame waits for before :meth:`push` returns it (0 for causal windows)."""
        return self._frames.lookahead

    @property
    def labels_delay(self) -> float:
        """About how far a label trails a change of expression, in seconds (:func:`fervid.inference.temporal
        .labels_delay`): half the window for a causal one (the HMM's 0.15 s, the frame method's 0), 0 centred."""
        return labels_delay(self.method, self.options.window, self.options.centred)

    def push(self, frame: np.ndarray | Image.Image, time: float | None = None, *, bgr: bool = False
             ) -> list[StreamFrame]:
        """Analyse the next frame: a numpy array, RGB unless ``bgr=True`` (OpenCV's frames; grey, RGBA and float
        arrays are read as :meth:`Analyzer.analyze_image` reads them), or a PIL image. ``time``: its time in
        seconds, after the frame before's (default: frames pushed before it / fps). Returns the frames whose labels
        are now final, oldest first (often this one alone; none while a centred window or a CNN batch waits).
        Raises RuntimeError while another thread's push, finish or close of this stream runs."""
        with self._one_at_a_time("push"):
            return self._push(frame, time, bgr)

    def _push(self, frame: np.ndarray | Image.Image, time: float | None, bgr: bool) -> list[StreamFrame]:
        if self._ended:
            raise RuntimeError(f"this stream is {self._ended}: make another with analyzer.stream()")
        if not isinstance(frame, (np.ndarray, Image.Image)):
            raise TypeError(f"push takes a frame as a numpy array or a PIL image, not {type(frame).__name__}")
        bgr = checked_flag("bgr", bgr)  # bgr="no" read as true: the channels silently swapped
        if time is None:
            if self.fps is None:
                raise OptionError("this stream was made without fps: push each frame with its time (push(frame, "
                                  "time=seconds)), or make it with analyzer.stream(fps)")
            time = self._pushed / self.fps
        elif isinstance(time, bool) or not isinstance(time, (int, float, np.number)) or not math.isfinite(time):
            raise OptionError(f"time must be a finite number of seconds, not {time!r}")
        time = float(time)
        if time <= self._last_time:
            raise OptionError(f"frame {self._pushed} at {time:g} s is not after the frame before it, at "
                              f"{self._last_time:g} s: push frames in time order, each later than the last")
        image_bgr = load_image(frame, bgr=bgr, max_pixels=self._max_image_pixels,
                               limit_name=IMAGE_LIMIT_NAME)
        index = self._pushed
        self._images[index] = frame if isinstance(frame, np.ndarray) else np.asarray(frame)
        self._pushed += 1
        self._last_time = time
        return self._final(self._frames.push(time, index, image_bgr))

    def finish(self) -> list[StreamFrame]:
        """The frames still waiting, labelled (their windows end with the stream); the stream then takes no more."""
        with self._one_at_a_time("finish"):
            if self._ended:
                return []
            self._ended = "finished"
            return self._final(self._frames.finish())

    def close(self) -> None:
        """End the stream, dropping the frames still waiting for their labels (:meth:`finish` returns them)."""
        with self._one_at_a_time("close"):
            if not self._ended:
                self._ended = "closed"
                self._frames.abandon()
                self._images.clear()

    def __enter__(self) -> FaceStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def _one_at_a_time(self, call: str) -> Iterator[None]:
        if not self._busy.acquire(blocking=False):
            raise RuntimeError(f"FaceStream.{call} called while another push, finish or close of this stream is "
                               "running: a stream takes its frames in time order from one thread at a time (push "
                               "from the one thread that reads the frames, or give each thread its own "
                               "analyzer.stream())")
        try:
            yield
        finally:
            self._busy.release()

    def _final(self, analysed: list) -> list[StreamFrame]:
        return [StreamFrame(done.time, done.index, done.faces, self._images.pop(done.index)) for done in analysed]
