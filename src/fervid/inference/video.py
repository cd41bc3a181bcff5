"""Video analysis: decode -> detect every ``detect_every`` s -> track (optical flow between detections) -> align
-> CNN features in batches -> temporal classification per track over a sliding ``window`` -> outputs.

Outputs (``VideoResult.save``): an annotated H.264/yuv420p MP4 that plays in browsers, a per-frame table
(CSV + Parquet), a per-track JSON summary, a timeline PNG per track, and key frames: the most expressive frame
of each emotion episode of each track (with ``key_frames=N``, of its N longest episodes).
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import functools
import io
import itertools
import json
import math
import os
import re
import signal
import statistics
import sys
import threading
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator, NamedTuple, Sequence, TypedDict, cast

import cv2
import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from fervid.errors import (FervidError, FervidWarning, OptionError, OptionNaming, OutOfMemory, PathTooLongError,
                           file_in_the_way, said_option)
from fervid.folder_lock import VIDEO_OUTPUTS, FolderLocked, stem_lock
from fervid.inference.align import dark_levels_table
from fervid.inference.annotate import (annotate, face_label, naming_file, replacing, temporary_name, with_caption,
                                       write_image)
from fervid.emotions import EMOTIONS, dominant_emotion
from fervid.inference.images import (as_local_file, megapixels_text, check_input_file, fitted_stem, is_url, not_media_said,
                                     not_utf8_reason, memory_failure, opencv_name,
                                     not_this_users, printable_name, recorded_name, recorded_path, stem_not_taken,
                                     utf8_name)
from fervid.inference.options import (FRAMES_MEMORY_MB, MAX_FRAME_PIXELS, PipelineOptions, check_field_types,
                                      check_key_frames, check_positive, check_temporal_model, check_video_timing)
from fervid.inference.records import (ROW_COLUMNS, SETTINGS_METADATA_KEY, TIME_DECIMALS, TIME_TOLERANCE,
                                      TRACK_COLUMNS, Face, abridged, dataframe, face_row, html_view, rounded,
                                      table_schema, track_row, write_csv, written_seconds)
from fervid.inference.temporal import (METHODS, LSTMTemporal, TemporalMethod, TrackWindows, frames_per_window,
                                      labels_delay, lookahead, make_method, shipped_temporal_models, window_notice)
from fervid.inference.detect import Detection, region_around
from fervid.inference.set_aside import recover_set_aside, replace_outputs, set_aside_names
from fervid.inference.stream_urls import is_stream_url, masked_source, source_stem, why_no_stream
from fervid.inference.track import FaceTracker, TrackedFace, miss_seconds
from fervid.json_files import write_json
from fervid.machine import long_paths_limited, path_too_long, program_creationflags, program_environment
from fervid.ownership import other_users_file
from fervid.plotting import prepare_matplotlib

# (not .ts: TypeScript sources beside a study's recordings failed as videos; nor .ogg, mostly sound: a search takes
# either where it holds video, images.video_by_content, and one named on its own is read)
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".mts",
                  ".m2ts", ".m2t", ".ogv", ".vob", ".mxf",
                  # tape and camcorder files (raw DV, JVC's MPEG-PS), phones' and Flash's MP4 kin, QuickTime's old
                  # name, Windows Media and DivX files, FFmpeg's own and raw formats, RealMedia
                  ".dv", ".dif", ".mod", ".tod", ".3g2", ".f4v", ".qt", ".asf", ".divx", ".nut", ".y4m", ".h264",
                  ".264", ".h265", ".hevc", ".m2v", ".ogm", ".rm", ".rmvb"}
MIN_EPISODE_SECONDS = 0.5  # shorter emotion episodes get no key frame
KEY_FRAME_SIDE = 160  # a key frame smaller than this (its longer side, px) is enlarged by a whole factor to reach it
# A track unseen (frames came without it: TrackLog) for longer than this many of its frame spacings, and at least
# UNSEEN_SECONDS, was not there: its episode ends, its timeline breaks, and the time is not counted as seen. Shorter
# dropouts (flow lost the face until the next detection round) are not gaps, nor are frames that never came (a live
# stream's dropped frames, a variable-frame-rate recording's still stretches).
GAP_SPACINGS = 2.5
UNSEEN_SECONDS = 0.5
# emotions' seconds seen this close are the same (a tie, for dominant_emotion): the same frames' spacings summed in
# another order differ in their last bits, and no two frames come a microsecond apart
SAME_SECONDS = 1e-6
MIN_ANNOTATED_HEIGHT = 432  # the annotated MP4 of a smaller video is scaled up to this height
# x264's settings for the annotated MP4 (H264Writer): its encoder was the largest single cost of `fervid video`
# (half of all CPU at 1080p). Against veryfast at CRF 23, these take 40-46% less encoder CPU for files of about the
# same size, SSIM against the frames drawn 0.003-0.004 lower (0.969-0.984), the labels legible; ultrafast lost 0.035
# and made files up to 40% larger (benchmarks/bench_annotated_encoding.py, docs/eval/annotated_encoding.json)
ANNOTATED_PRESET = "superfast"
ANNOTATED_CRF = 26
TRACKS_JSON_SUFFIX = "_tracks.json"  # a video's per-track JSON: <stem>_tracks.json (OutputNames)
PARTIAL_INFIX = ".partial"  # before an output's extension while it is written (OutputNames.partial)
FRAME_LEADING = ["time", "frame", "track"]  # a video row's own columns, before fervid.inference.records.ROW_COLUMNS
STAGES = ("decode", "detect", "track", "align", "cnn", "temporal", "encode")  # timed in stage_seconds


@dataclass(frozen=True)
class OutputNames:
    """The file names of one video's outputs, derived from its stem in this one place (the writers, the server's
    links and the CLI's messages all use them)."""

    stem: str

    @property
    def annotated(self) -> str:
        return f"{self.stem}_annotated.mp4"

    @property
    def frames_csv(self) -> str:
        return f"{self.stem}_frames.csv"

    @property
    def frames_parquet(self) -> str:
        return f"{self.stem}_frames.parquet"

    @property
    def tracks_json(self) -> str:
        return f"{self.stem}{TRACKS_JSON_SUFFIX}"

    @property
    def episodes_csv(self) -> str:
        return f"{self.stem}_episodes.csv"

    @property
    def segments_csv(self) -> str:
        return f"{self.stem}_segments.csv"

    def timeline(self, track: int) -> str:
        return f"{self.stem}_track{track}_timeline.png"

    def key_frame(self, track: int, start: float, emotion: str) -> str:
        return f"{self.stem}_track{track}_{start:07.2f}s_{emotion}.png"

    def is_key_frame(self, name: str) -> bool:
        """Whether ``name`` is one of this stem's key frames (as :meth:`key_frame` names them), whole or
        :meth:`partial`: a face's picture, where a timeline is a chart of numbers."""
        found = self._per_track(re.escape(self.stem)).fullmatch(self._whole(name))
        return found is not None and found[1] != "timeline"

    @staticmethod
    def _per_track(stem_pattern: str) -> re.Pattern:
        """A stem's timelines and key frames (as :meth:`timeline` and :meth:`key_frame` name them)."""
        return re.compile(rf"{stem_pattern}_track\d+_(timeline|\d{{4,}}\.\d\ds_({'|'.join(EMOTIONS)}))\.png")

    @staticmethod
    def partial(name: str) -> str:
        """The name an output is written under until the analysis has ended and its files are closed (``cam_frames.
        partial.csv``): one killed (SIGKILL, a crash, the power) or that failed writing (a full disk) leaves files
        that say they are not whole, where its tables ended cleanly and its MP4 played under their own names."""
        stem, _, suffix = name.rpartition(".")
        return f"{stem}{PARTIAL_INFIX}.{suffix}"

    @staticmethod
    def is_partial(name: str) -> bool:
        """Whether ``name`` is a :meth:`partial` one."""
        return name.rpartition(".")[0].endswith(PARTIAL_INFIX)

    @staticmethod
    def _whole(name: str) -> str:
        """The name a :meth:`partial` name stands for (any other name as it is)."""
        stem, _, suffix = name.rpartition(".")
        return f"{stem.removesuffix(PARTIAL_INFIX)}.{suffix}" if stem.endswith(PARTIAL_INFIX) else name

    def written_before(self, out_dir: Path) -> list[Path]:
        """This stem's outputs already in ``out_dir`` from an earlier run, whole or :meth:`partial` (a run killed
        mid-way): a re-run replaces them, and key frames and timelines it does not write again must not stay beside
        its tables as if they were its own."""
        return sorted(p for p in out_dir.iterdir() if p.is_file() and self.owns(p.name))

    def owns(self, name: str) -> bool:
        """Whether ``name`` is one of this stem's outputs, whole or :meth:`partial`."""
        fixed = {self.annotated, self.frames_csv, self.frames_parquet, self.tracks_json, self.episodes_csv,
                 self.segments_csv}
        name = self._whole(name)
        return name in fixed or bool(self._per_track(re.escape(self.stem)).fullmatch(name))

    @property
    def longest(self) -> str:
        """The longest name this stem's outputs take as they are written: a key frame's (of a track numbered up to
        99999, at up to 99999.99 s: 27 hours), :meth:`partial`, under :func:`fervid.inference.annotate.replacing`'s
        temporary name (:func:`output_paths_error`)."""
        return temporary_name(self.partial(self.key_frame(99999, 99999.99, max(EMOTIONS, key=len))))

    @classmethod
    def of_any(cls, name: str) -> bool:
        """A file name these names give some video: its annotated MP4, a timeline or a key frame, whole or
        :meth:`partial` (the images and videos among them, which a search for inputs must not take for
        recordings)."""
        name = cls._whole(name)
        annotated = cls("").annotated  # "_annotated.mp4", as any stem ends it
        return name.endswith(annotated) and len(name) > len(annotated) or bool(cls._per_track(".+").fullmatch(name))

    @classmethod
    def stem_of(cls, name: str) -> str | None:
        """The stem of the video whose output ``name`` is (whole or :meth:`partial`; :meth:`owns` says it is that
        stem's), None for a name no video's output takes."""
        name, any_stem = cls._whole(name), cls("")
        for suffix in (any_stem.annotated, any_stem.frames_csv, any_stem.frames_parquet, any_stem.tracks_json,
                       any_stem.episodes_csv, any_stem.segments_csv):
            if name.endswith(suffix) and len(name) > len(suffix):
                return name[: -len(suffix)]
        found = cls._per_track("(?P<stem>.+?)").fullmatch(name)
        return found["stem"] if found else None


def output_paths_error(out_dir: str | Path, stem: str, option: str = "out_dir", rename: str = "the video",
                       under: str = "") -> PathTooLongError | None:
    """Where this machine limits paths (Windows without long paths: :func:`fervid.machine.long_paths_limited`), the
    error to raise before analysing a video whose outputs, named ``stem``, would not fit as they are written
    (:attr:`OutputNames.longest`) in ``out_dir``, or in its subfolder ``under`` (`fervid demo`'s carphone/, a server
    job's folder); ``option``: what names ``out_dir``, in its advice; ``rename``: what a shorter name would be of,
    where the outputs are named after a file its user can rename ("": none, a camera's session, the bundled sample).
    None where they fit."""
    if not long_paths_limited():
        return None
    return path_too_long(out_dir, os.path.join(under, OutputNames(stem).longest), os.path.join(under, f"{stem}_*"),
                         "a key frame's temporary file", option, rename)


class VideoError(FervidError, ValueError):
    """A video that cannot be analysed; the message names the file and the problem."""


class VideoFramesTooLargeError(VideoError):
    """A video whose frames are over a pixel limit: ``megapixels`` a frame has, ``limit_megapixels`` it may have (for a
    plain message beside the technical one, as the web page shows it). The video may be readable otherwise."""

    def __init__(self, message: str, megapixels: float, limit_megapixels: float):
        super().__init__(message)
        self.megapixels, self.limit_megapixels = megapixels, limit_megapixels


class OutputsBusy(FolderLocked):
    """Another analysis is writing this video's outputs (the same stem) into that folder: another thread's, another
    notebook's, ``fervid video``'s. Nothing was read or written; analyse it again once that one is done, or into
    another folder or under another ``stem``. (``fervid video`` exits 75 for it.)"""


class StillImageError(VideoError):
    """A still image given as a video (``fervid video "frames/*.png"``: a sequence of frames is said once, with how to
    join them): ``what`` names it and says so, ``reader`` what reads images (`fervid image`; Analyzer.analyze_image
    where the API raised it; "": none, an image too large to read)."""

    def __init__(self, what: str, reader: str = "`fervid image`"):
        super().__init__(f"{what} (use {reader})" if reader else what)
        self.what, self.reader = what, reader

    def __reduce__(self):  # made again from its parts (from its message, a copy or a pickle said the reader twice)
        return type(self), (self.what, self.reader)


def sample_video() -> Path:
    """The bundled sample clip, carphone_pristine.mp4 (a man talking on a phone, 176x144, 120 frames at 29.97
    fps), shipped inside fervid (:mod:`fervid.samples`; ``.is_file()`` is false where a distribution left it
    out)."""
    from fervid.samples import carphone

    return carphone()


_DEFAULTS = PipelineOptions()


class VideoChanges(TypedDict, total=False):
    """:class:`VideoOptions`' fields as keywords, any of them (``analyze_video(path, method="mean", window=0.5)``,
    ``PipelineOptions.video(centred=False)``), for type checkers: a misspelt or mistyped one is their error too."""

    detect_every: float
    window: float
    sample_fps: float | None
    method: str
    centred: bool
    batch_frames: int
    annotate: bool
    key_frames: int | None
    temporal_model: str | Path | None
    frames_memory_mb: float
    max_frame_pixels: int
    region: tuple[float, float, float, float] | None
    start: float
    end: float | None
    segments: tuple[TimeSegment, ...]
    segment_every: float | None


# what joins the names of the segments an episode starts in, in its ``segment`` cell (<name>_episodes.csv): a name
# holding ";" is refused, or "a; b" + "a" read as three segments
SEGMENT_NAMES_JOINED_BY = "; "


def segment_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a segment (None where it can): one holding ";" would make an episodes table's
    ``segment`` cell, which joins the names of the segments an episode starts in by "; ", ambiguous."""
    return (f"a segment named {name!r}: a name cannot hold ';', which joins the names of the segments an episode "
            "starts in (the episodes table's segment column: 'a; b')" if ";" in name else None)


class TimeSegment(NamedTuple):
    """A stretch of a recording to summarise on its own (a usability test's task): from ``start`` to ``end``
    (seconds on the recording's own clock), named ``name`` in the outputs (unique: its rows are told apart by it).
    ``tier`` and ``annotation``: a coder's tier and code for it (ELAN's columns), which repeat, carried into the
    outputs beside its name."""

    start: float
    end: float
    name: str = ""
    tier: str = ""
    annotation: str = ""

    def recorded(self) -> list:
        """As a run's settings record it: [start, end, name], and its tier and annotation where it has either (a
        folder of a fervid before them recorded three, and going on with it is no other table)."""
        return list(self) if self.tier or self.annotation else list(self[:3])


def check_region(region: tuple[float, float, float, float] | None) -> None:
    """A region to look for faces in: x, y, width, height, in pixels of the frame as it shows, or every value 1 or
    less: fractions of its width and height (one region for videos of several sizes)."""
    if region is None:
        return
    x, y, width, height = region
    if not (all(math.isfinite(v) for v in region) and x >= 0 and y >= 0 and width > 0 and height > 0):
        raise OptionError(f"region must be x, y, width, height with x and y 0 or more and a positive width and "
                          f"height, not {region_text(region)}")
    if max(region) <= 1 and (x + width > 1 + 1e-9 or y + height > 1 + 1e-9):
        raise OptionError(f"region {region_text(region)}: as fractions of the frame (every value 1 or less), it "
                          "reaches past the frame's right or bottom edge")


def region_text(region: tuple[float, ...]) -> str:
    """A region as `--region` takes it: ``1000,500,280,220``."""
    return ",".join(f"{v:g}" for v in region)


def region_box(region: tuple[float, float, float, float], width: int, height: int,
               source: str, min_face: float | None = None) -> tuple[int, int, int, int]:
    """``region`` (:func:`check_region`) in whole pixels of a frame of ``width`` x ``height`` (as it shows): (x0, y0,
    x1, y1). A region not inside the frame, or narrower or shorter than ``min_face`` (the smallest face looked for:
    no face could be found in it), raises :class:`VideoError` naming ``source`` and its size."""
    x, y, w, h = region
    if max(region) <= 1:  # fractions of the frame
        x, y, w, h = x * width, y * height, w * width, h * height
    x0, y0, x1, y1 = round(x), round(y), round(x + w), round(y + h)
    if x1 > width or y1 > height or x1 - x0 < 1 or y1 - y0 < 1:
        raise VideoError(f"{source}: region {region_text(region)} (x, y, width, height) is not inside its frames, "
                         f"{width} x {height} pixels as it shows (give pixels inside them, or fractions of the "
                         "frame: every value 1 or less)")
    if min_face and min(x1 - x0, y1 - y0) < min_face:
        # 0,0,1,1.5 meant fractions, and was read as pixels (one value over 1): a 1 x 2 pixel region, silently
        raise VideoError(f"{source}: region {region_text(region)} is {x1 - x0} x {y1 - y0} pixels of its {width} x "
                         f"{height} frames, smaller than the smallest face looked for (--min-face {min_face:g}), so "
                         "no face could be found in it; values are pixels unless all four are 1 or less (fractions "
                         "of the frame: 0,0,1,0.5)")
    return x0, y0, x1, y1


def check_time_range(start: float, end: float | None, segments: tuple[TimeSegment, ...] = (),
                     segment_every: float | None = None) -> None:
    """The stretch of a video analysed (``start`` to ``end``, seconds; None: its end) and the segments summarised:
    those named, or windows of ``segment_every`` seconds (not both: a table's segments and windows in one table of
    segments could not be told apart)."""
    if not (math.isfinite(start) and start >= 0):
        raise OptionError(f"start must be 0 or more seconds, not {start}")
    if end is not None and not (math.isfinite(end) and end > start):
        raise OptionError(f"end ({end:g} s) must come after start ({start:g} s)")
    for segment in segments:
        if not (math.isfinite(segment.start) and segment.start >= 0 and math.isfinite(segment.end)
                and segment.end > segment.start):
            named = f"segment {segment.name!r}" if segment.name else "a segment"
            raise OptionError(f"{named} from {segment.start:g} s to {segment.end:g} s: the end must come after the "
                              "start, and neither before 0")
        problem = segment_name_problem(segment.name)
        if problem is not None:
            raise OptionError(problem)
    if segment_every is not None:
        check_positive("segment_every", segment_every, "seconds")
        if segments:
            raise OptionError("segments and segment_every: give one (a table's stretches, or windows of equal "
                              "length)")


def equal_window(start: float, every: float, number: int) -> TimeSegment:
    """The ``number``-th (from 0) window of ``every`` seconds from ``start`` (``VideoOptions.segment_every``),
    unnamed: the outputs number it from 1. Its bounds are reckoned from ``start``, not added up window by window
    (an hour of 0.1-s steps summed drifts off the grid)."""
    return TimeSegment(round(start + number * every, TIME_DECIMALS), round(start + (number + 1) * every, TIME_DECIMALS))


@dataclass
class VideoOptions:
    """The video pipeline's settings: ``analyze_video(path, options=VideoOptions(...))``, or any of them as
    ``analyze_video``'s keywords. The settings it shares with :class:`fervid.PipelineOptions` default to its
    defaults (the signature shows them). A bad value (or one of the wrong type) raises
    :class:`fervid.OptionError` at once.

    Attributes:
        detect_every: seconds between face detections; optical flow follows the faces in between.
        window: seconds of frames the temporal method looks at.
        sample_fps: analyse at most this many frames per second; None: every frame.
        method: the temporal method, one of ``fervid.inference.temporal.METHODS``: "lstm" (an LSTM over the CNN's
            features), "mean" (a triangle-weighted moving average), "hmm" (a sticky hidden-Markov smoother over the
            frames' probabilities) or "frame" (each frame's own label, no smoothing).
        centred: True (files): each frame's label comes from a window centred on it, no lag; False (live): the
            window ends at the frame (causal), and labels trail the face by about half the window.
        batch_frames: frames whose faces go through the CNN together.
        annotate: write the annotated MP4 where outputs are written.
        key_frames: key frames kept per track at most, those of its longest episodes (``key_frame_rank``); 0:
            none; None: every episode's of 0.5 s or more.
        temporal_model: method "lstm": a temporal LSTM folder (``fervid train-temporal``) trained on the CNN's
            features; None: the one shipped for the CNN.
        frames_memory_mb: MB of decoded frames an analysis may hold at once (those its centred windows wait for,
            and a CNN batch's); a video whose rate and frame size need more is analysed at the rate that fits
            (``VideoResult.analysed_fps_cap``).
        max_frame_pixels: a video of larger frames is refused before one is decoded, naming its size.
        region: x, y, width, height (pixels of the frame as it shows, or fractions of it: every value 1 or less):
            faces are looked for, followed and scene cuts told only there (a participant's webcam in a corner of a
            screen recording), as in a video cropped to it; boxes, landmarks and the annotated MP4 stay in the
            whole frame's pixels. None: the whole frame.
        start: the second of the recording the analysis starts at: a file is sought there, not decoded from its
            beginning, and times (and frame numbers) stay the recording's own.
        end: the second it ends at (None: the recording's end).
        segments: stretches of the recording (:class:`TimeSegment`: start, end, name, and optionally a coder's
            tier and annotation) summarised on their own,
            per track (:meth:`VideoResult.segment_summaries`, ``<name>_segments.csv``).
        segment_every: instead of ``segments``, windows of this many seconds from ``start`` (a minute's: 60)
            summarised so, up to where the analysis ends: the last one ends there, and is as long as is left of
            the video (its ``end`` and ``analysed_seconds`` say so).
    """

    detect_every: float = _DEFAULTS.detect_every
    window: float = _DEFAULTS.window
    sample_fps: float | None = _DEFAULTS.sample_fps
    method: str = _DEFAULTS.method
    centred: bool = True
    batch_frames: int = 16
    annotate: bool = _DEFAULTS.annotate
    key_frames: int | None = _DEFAULTS.key_frames
    temporal_model: str | Path | None = _DEFAULTS.temporal_model
    frames_memory_mb: float = FRAMES_MEMORY_MB
    max_frame_pixels: int = MAX_FRAME_PIXELS
    region: tuple[float, float, float, float] | None = None
    start: float = 0.0
    end: float | None = None
    segments: tuple[TimeSegment, ...] = ()
    segment_every: float | None = None

    def __post_init__(self):
        check_field_types(self)
        self.segments = tuple(TimeSegment(float(start), float(end), *name)  # plain tuples named, in seconds
                              for start, end, *name in self.segments)
        check_region(self.region)
        check_time_range(self.start, self.end, self.segments, self.segment_every)
        METHODS[self.method]  # an unknown name raises UnknownName listing the methods, here as PipelineOptions does
        check_video_timing(self.detect_every, self.window, self.sample_fps)
        check_key_frames(self.key_frames)
        check_temporal_model(self.method, self.temporal_model)
        if self.batch_frames < 1:
            raise OptionError(f"batch_frames must be at least 1, not {self.batch_frames}")
        check_positive("frames_memory_mb", self.frames_memory_mb, "MB")
        check_positive("max_frame_pixels", self.max_frame_pixels, "pixels")


@dataclass
class FrameFace:
    """One track on one analysed frame."""

    time: float
    frame: int
    track_id: int
    box: tuple[float, float, float, float]
    probabilities: tuple[float, ...]  # after temporal classification over the window
    frame_probabilities: tuple[float, ...]  # this frame alone
    uncertain: bool
    detected: bool  # False: the box came from optical flow between detections
    detection_score: float | None = None  # the track's latest detection
    landmarks: tuple[tuple[float, float], ...] = field(default=(), repr=False)  # drawn, not tabled

    @property
    def emotion(self) -> str:
        return EMOTIONS[int(np.argmax(self.probabilities))]

    def __repr__(self) -> str:
        # a row of a video's result: its label and place, rounded (the 14 probabilities are attributes)
        return (f"FrameFace(time={self.time:.3f}, frame={self.frame}, track_id={self.track_id}, "
                f"emotion={self.emotion!r}, confidence={max(self.probabilities):.3f}, box={rounded(self.box)}, "
                f"detected={self.detected})")

    def row(self, **leading) -> dict:
        """This face as a table row (fervid.inference.records.ROW_COLUMNS), after ``leading`` and time, frame, track."""
        return face_row(self.box, self.probabilities, self.uncertain, self.detection_score, **leading,
                        time=round(self.time, TIME_DECIMALS), frame=self.frame, track=self.track_id)

    def table_row(self) -> dict:
        """This face's row in the per-frame table (:data:`TABLE_COLUMNS`): :meth:`row` + ``detected``."""
        return {**self.row(), "detected": self.detected}

    def as_face(self) -> Face:
        return Face(self.box, self.landmarks, self.detection_score, self.probabilities, self.uncertain)


@dataclass
class AnalysedFrame:
    """A frame whose faces have their final labels: what every output writer consumes."""

    time: float
    index: int
    image: np.ndarray = field(repr=False)
    faces: list[FrameFace]


class EpisodeSummary(TypedDict):
    """An emotion episode as a track's summary lists it (:meth:`Episode.to_dict`): times in seconds."""

    emotion: str
    start: float
    end: float
    duration: float
    peak_confidence: float | None
    key_frame: str | None
    key_frame_time: float
    uncertain_share: float | None


# a change of a track's emotion: at ``time`` (s), ``from`` one ``to`` another, after ``unseen_before`` seconds
# unseen (0: seen throughout). ("from" is a keyword: a class cannot declare it)
EmotionChange = TypedDict("EmotionChange", {"time": float, "from": str, "to": str, "unseen_before": float})


class TrackSummary(TypedDict):
    """A track's summary, as :meth:`VideoResult.track_summaries` and the tracks JSON give it: its span (s), frames,
    seconds seen, dominant emotion, each emotion's share of the time seen, the share of its rows flagged uncertain,
    each emotion's mean probability, its mean box (x, y, width, height), its emotion changes and episodes. The
    dominant emotion, the shares of time and the means are of its ``frames`` rows: None where it has none (a
    segment's part of a track that no analysed frame inside the segment holds, seen for the row in effect only, as
    a window of the README's per-second recipe with no row has no numbers). A whole track always has rows, so its
    dominant emotion and shares are typed as always there (``summary["emotion_share"]["happy"]`` type-checks, as
    the README's API example does); only :meth:`VideoResult.segment_summaries`, typed loosely, gives the None."""

    track: int
    start: float
    end: float
    frames: int
    seen_seconds: float
    dominant_emotion: str
    emotion_share: dict[str, float]
    uncertain_share: float | None
    mean_probabilities: dict[str, float] | None
    mean_box: dict[str, float] | None
    changes: list[EmotionChange]
    episodes: list[EpisodeSummary]


@dataclass
class Episode:
    track_id: int
    emotion: str
    start: float
    end: float
    best_time: float = 0.0
    # the CNN's probability of the emotion in that frame alone: what chooses the most expressive frame (the key
    # frame's face), not what any output gives (an 8% "fear" beside a row of fear 0.565 read as impossible)
    best_probability: float = -1.0
    # the temporal method's probability of the emotion at that frame, as its row in the frames table and the annotated
    # video have it: the episode's peak_confidence and what its key frame's caption says (None: not known)
    best_row_probability: float | None = None
    best_row_uncertain: bool = False  # that row's ``uncertain``: its key frame's caption marks it as the video does
    # its rows (analysed frames; not a row carried into a segment, counted as the track's ``frames`` are) and those of
    # them flagged uncertain: its uncertain_share, which a study filters episodes by
    rows: int = 0
    uncertain_rows: int = 0
    best_image: np.ndarray | None = field(default=None, repr=False)
    key_frame: str | None = None

    def __repr__(self) -> str:
        return (f"Episode(track_id={self.track_id}, emotion={self.emotion!r}, start={self.start:.3f}, "
                f"end={self.end:.3f}, key_frame={self.key_frame!r})")

    @property
    def duration(self) -> float:
        """Its seconds as the tracks JSON and the episodes table give them: their ``end - start``."""
        return written_seconds(self.start, self.end)

    @property
    def lasting(self) -> bool:
        """Long enough to get a key frame."""
        return self.end - self.start >= MIN_EPISODE_SECONDS

    @property
    def peak_confidence(self) -> float | None:
        """The probability of its emotion at ``best_time`` (the tracks JSON's ``key_frame_time``) as the frames
        table's row gives it (the temporal method's, as the annotated video labels it), to the tables' 4 decimals;
        None where not known. What the tracks JSON, the episodes table and the key frame's caption give."""
        return None if self.best_row_probability is None else round(float(self.best_row_probability), 4)

    @property
    def uncertain_share(self) -> float | None:
        """The share of its rows flagged uncertain, to 4 decimals as a track's ``uncertain_share``; None where it
        holds no analysed frame (a segment's row carried in alone)."""
        return round(self.uncertain_rows / self.rows, 4) if self.rows else None

    def to_dict(self) -> EpisodeSummary:
        """The tracks JSON's entry and ``<name>_episodes.csv``'s row (:meth:`VideoResult.episode_rows`): its
        duration, its most expressive frame's time (``key_frame_time``, where the key frame is taken) and the
        probability of its emotion there as the frames table's row gives it (``peak_confidence``: the temporal
        method's, as the annotated video labels it; None where not known); ``key_frame`` is None for an episode too
        short for one, and for one whose key frame a cap (``key_frames``) left out; its ``key_frame_time`` is where
        it would have been; ``uncertain_share``: the share of its rows flagged uncertain (None where it has none)."""
        return {"emotion": self.emotion, "start": round(self.start, TIME_DECIMALS),
                "end": round(self.end, TIME_DECIMALS), "duration": self.duration,
                "peak_confidence": self.peak_confidence, "key_frame": self.key_frame,
                "key_frame_time": round(self.best_time, TIME_DECIMALS), "uncertain_share": self.uncertain_share}


class TrackLog:
    """One track's running summary, updated face by face so that memory does not grow with the rows of a long
    video: label counts, summed probabilities, label changes, emotion episodes (each keeping only its most
    expressive frame), the time it was seen and the compact (time, 7 probabilities) series its timeline is drawn
    from. ``spacing``: seconds between analysed frames (the rate asked for; the track's own recent spacing where
    that is longer, as a live stream's slow analysis makes it), ``detect_every``: seconds between detection rounds.

    An absence is analysed frames coming without the face (:meth:`missed` is told of the first): as each row lasts
    until the next frame, it runs from that frame to the face's return. One longer than :func:`gap_seconds` allows
    is a gap (the face was hidden or away): episodes end there, its time is not counted as seen, and a change across
    it says how long it was unseen. A stretch in which no frame came at all (a variable-frame-rate recording: Zoom,
    Teams and browsers send no frame while the picture is still) is no absence: the face's last row lasts across it.
    Where the first frame after such a stretch (longer than a gap) comes without the face, the face may have gone
    at any time in it: its last row lasts its spacing (:meth:`_last_row_end`), as at the end of a video.
    """

    def __init__(self, track_id: int, spacing: float = 1 / 30, detect_every: float = 0.0):
        self.track_id = track_id
        self.nominal_spacing, self.detect_every = spacing, detect_every
        self._recent: deque[float] = deque(maxlen=15)  # the last intervals between its rows
        self.counts = np.zeros(len(EMOTIONS), np.int64)
        self.uncertain_rows = 0  # its rows flagged uncertain (counted as ``counts`` are)
        # seconds each emotion was seen: a row lasts until the next (a variable-frame-rate phone video's rows do
        # not last alike, and a share of rows is not a share of time); the last row's is added by summary()
        self.emotion_seconds = np.zeros(len(EMOTIONS))
        self.probability_sum = np.zeros(len(EMOTIONS))
        # where it was (x, y, width, height summed over its rows): which tile of a call's gallery, which student
        # of a class a track is, without opening its key frames
        self.box_sum = np.zeros(4)
        # rows logged for their time alone (a segment's first, carried in from the frame before it): not counted
        # in frames, label counts or means
        self.rows_carried = 0
        self.changes: list[EmotionChange] = []
        self.episodes: list[Episode] = []  # closed ones; ``episode`` is the open one
        self.episode: Episode | None = None
        self._times = array("d")
        self._probabilities = array("f")
        self.start = self.end = 0.0
        # the time of the frame whose row was logged last: ``end``, but for a row carried into a segment (logged at
        # its start from the frame before it), which lasts as that frame's row does
        self._row_time = 0.0
        self._last_emotion: str | None = None
        self.absent_from: float | None = None  # the first frame since its last row that came without it
        self.gaps: list[tuple[float, float]] = []  # (absent from, back at) of each gap, for its timeline

    def __repr__(self) -> str:
        if not self.frames:  # no face logged yet: no emotion to name
            return f"TrackLog(track_id={self.track_id}, frames=0)"
        # every name shown is an attribute: code reads what it saw printed
        return (f"TrackLog(track_id={self.track_id}, start={self.start:.3f}, end={self.end:.3f}, frames={self.frames}, "
                f"dominant_emotion={self.dominant_emotion!r}, dominant_share={self.dominant_share:.2f})")

    @property
    def dominant_emotion(self) -> str | None:
        """The emotion it showed for the largest share of the time seen (None before its first face, and for a
        segment's log holding only the row carried in); a tie goes to the tied emotion with the higher mean
        probability, then the first in EMOTIONS (:func:`fervid.emotions.dominant_emotion`)."""
        return self.summary()["dominant_emotion"] if self.frames else None

    @property
    def dominant_share(self) -> float:
        """The share of the time seen that :attr:`dominant_emotion` held (0.0 where it has none)."""
        summary = self.summary()
        emotion, shares = summary["dominant_emotion"], summary["emotion_share"]
        return shares[emotion] if emotion is not None and shares is not None else 0.0

    @property
    def frames(self) -> int:
        return len(self._times)

    @property
    def spacing(self) -> float:
        """Seconds between its analysed frames: the rate asked for, or its recent median where that is longer."""
        # statistics.median: no numpy array made for every row of every track
        return max(self.nominal_spacing, statistics.median(self._recent)) if self._recent else self.nominal_spacing

    @property
    def gap(self) -> float:
        """How long it must go unseen for its absence to be a gap (:func:`gap_seconds`)."""
        return gap_seconds(self.spacing, self.detect_every)

    def missed(self, time: float) -> None:
        """An analysed frame at ``time`` came without this face (its last row lasts until the first such frame)."""
        if self.absent_from is None:
            self.absent_from = time

    def gone_by(self, time: float) -> bool:
        """Whether its absence, still on at a frame at ``time`` (or ended by the face's return there), is a gap: the
        frames came without it for longer than a dropout (flow lost it until the next detection round)."""
        return self.absent_from is not None and time - self.absent_from + self.spacing > self.gap

    def _last_row_end(self, absent_from: float, spacing: float | None = None) -> float:
        """Once a frame came without the face (``absent_from``), until when its last row lasts: until that frame,
        or, where no frame came for longer than a gap before it, its spacing after it. A track split where frames
        stopped for 0.6 s had its last row stretched across them: seen 1.63 s between 0.0 and 0.97 s. A row carried
        into a segment is measured from its own frame's time, and ends no earlier than where it was logged."""
        lasting = absent_from - self._row_time
        return max(self.end, self._row_time + (min(spacing or self.spacing, lasting) if lasting > self.gap
                                               else lasting))

    def _last_row_seconds(self, until: float | None = None, spacing: float | None = None) -> float:
        """How long its last row lasts: until the first frame that came without it (:meth:`_last_row_end`); where
        none did, its spacing; not past ``until`` (the video's end: a variable-frame-rate video's last rows are
        further apart than its nominal rate; a segment's end). ``spacing``: another log's (a segment's part of a
        track lasts as the whole track's does). A row carried into a segment lasts as its own frame's row does, from
        where it was logged."""
        spacing = spacing or self.spacing
        if self.absent_from is not None:
            end = self._last_row_end(self.absent_from, spacing)
        else:
            end = self._row_time + spacing
        return max(min(end, until) - self.end, 0.0) if until is not None else end - self.end

    def add(self, face: FrameFace, image: np.ndarray, carried_from: float | None = None) -> Episode | None:
        """Log one face; returns the episode this face closed, if it started a new one. ``carried_from``: the time
        of the frame whose row this face is, logged at another time (a segment's start or end): a row in effect
        there, counted for its time but not as a frame."""
        emotion = face.emotion
        unseen = 0.0
        if not self.frames:
            self.start = face.time
        else:
            since = face.time - self.end
            # (the time since a row carried into a segment, logged at its start rather than at its own frame's
            # time, is no spacing between frames)
            if self._row_time == self.end:
                self._recent.append(since)
            last_row_end = face.time  # a row lasts until the next, across a frame or two without the face
            if self.absent_from is not None and self.gone_by(face.time):
                last_row_end = self._last_row_end(self.absent_from)
                unseen = face.time - last_row_end
                since -= unseen  # the last row lasts until the first frame without it (_last_row_end)
                self.gaps.append((last_row_end, face.time))
            self.emotion_seconds[EMOTIONS.index(self._last_emotion)] += since
        self.absent_from = None
        self.end = face.time
        self._row_time = face.time if carried_from is None else carried_from
        if carried_from is not None:
            self.rows_carried += 1
        else:
            self.counts[EMOTIONS.index(emotion)] += 1
            self.uncertain_rows += bool(face.uncertain)
            self.probability_sum += face.probabilities
            self.box_sum += face.box
        self._times.append(face.time)
        self._probabilities.extend(face.probabilities)
        if self._last_emotion is not None and emotion != self._last_emotion:
            self.changes.append({"time": round(face.time, TIME_DECIMALS), "from": self._last_emotion, "to": emotion,
                                 "unseen_before": round(unseen, TIME_DECIMALS)})
        self._last_emotion = emotion
        closed = None
        ep = self.episode
        if ep is None or ep.emotion != emotion or unseen:
            if ep is not None:  # it ends where its last row does (emotion_share's rule): at this row, or at the gap
                ep.end = last_row_end
                self.episodes.append(ep)
                closed = ep
            ep = self.episode = Episode(self.track_id, emotion, face.time, face.time)
        ep.end = face.time  # its last row so far: where that row ends is known at the next row or at the close
        if carried_from is None:
            ep.rows += 1
            ep.uncertain_rows += bool(face.uncertain)
        p = max(face.frame_probabilities[EMOTIONS.index(emotion)], 0.0)
        if p > ep.best_probability:  # the most expressive frame of the episode, by its own probability
            x, y, w, h = face.box
            m = 0.4 * max(w, h)
            y0, y1 = max(0, int(y - m)), min(image.shape[0], int(y + h + m))
            x0, x1 = max(0, int(x - m)), min(image.shape[1], int(x + w + m))
            ep.best_probability, ep.best_time = p, face.time
            ep.best_row_probability = face.probabilities[EMOTIONS.index(emotion)]
            ep.best_row_uncertain = bool(face.uncertain)
            ep.best_image = image[y0:y1, x0:x1].copy() if y1 > y0 and x1 > x0 else None
        return closed

    def close(self, until: float | None = None) -> Episode | None:
        """End of the video (at ``until``, where known): the open episode is closed, ending where its last row does
        (:meth:`_last_row_seconds`), and returned."""
        ep, self.episode = self.episode, None
        if ep is not None:
            ep.end = self.end + self._last_row_seconds(until)
            self.episodes.append(ep)
        return ep

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """(times (T,), probabilities (T, 7)) of this track's faces."""
        return (np.frombuffer(self._times, np.float64),
                np.frombuffer(self._probabilities, np.float32).reshape(-1, len(EMOTIONS)))

    def summary(self, until: float | None = None, spacing: float | None = None,
                within: float = SAME_SECONDS) -> TrackSummary:
        """The tracks JSON's entry. ``until``: where the video ends. Each row lasts until the next; its last row
        until the first frame that came without it, and where none did, its spacing, but not past the end
        (:meth:`_last_row_seconds`): its ``end`` and its last episode's are where that row ends, so the span
        holds the time seen. ``spacing``: as :meth:`_last_row_seconds` takes it. ``within``: emotions' seconds
        this close are a tie for ``dominant_emotion`` (rows read back from a table, their times rounded, are off
        by more than :data:`SAME_SECONDS`)."""
        last = self._last_row_seconds(until, spacing)
        seconds = self.emotion_seconds.copy()
        if self.frames:
            seconds[EMOTIONS.index(self._last_emotion)] += last
        total = float(seconds.sum())
        # shares of the time seen (of the rows where the track was seen for no time at all: a one-row track at the
        # video's very end); none where no row was counted (a segment no analysed frame fell in: the row carried in
        # is the frame before's, whose own row already gives its label)
        counted = self.frames - self.rows_carried
        shares = ({e: round(float(v) / total if total else int(n) / counted, 4)
                   for e, v, n in zip(EMOTIONS, seconds, self.counts)} if counted else None)
        episodes = self.episodes + ([dataclasses.replace(self.episode, end=self.end + last)]
                                    if self.episode is not None else [])
        end = self.end + last if self.frames else self.end
        # each row lasts until the next, but for the gaps: seen from its start to its end less them, counted from
        # the start and end written (a track without a gap is seen its end - start)
        unseen = sum(back - away for away, back in self.gaps)
        return {
            "track": self.track_id, "start": round(self.start, TIME_DECIMALS), "end": round(end, TIME_DECIMALS),
            "frames": counted,
            "seen_seconds": round(written_seconds(self.start, end) - unseen, TIME_DECIMALS) if self.frames else 0.0,
            # of the unrounded seconds (counts): shares to 4 decimals tie where seconds do not
            # (None only for a segment's part of a track without rows, which segment_summaries gives typed loosely:
            # TrackSummary types a whole track's, which always has rows)
            "dominant_emotion": (dominant_emotion(seconds if total else self.counts, self.probability_sum,  # type: ignore[typeddict-item]
                                                  within=within) if counted else None),
            "emotion_share": shares,  # type: ignore[typeddict-item]
            # the share and means of the rows counted: a segment's part of a track with none inside it (its time the
            # row carried in) has none; 0s read as a face at the corner, no emotion at all, never uncertain
            "uncertain_share": round(self.uncertain_rows / counted, 4) if counted else None,
            "mean_probabilities": ({e: round(float(s / counted), 4) for e, s in zip(EMOTIONS, self.probability_sum)}
                                   if counted else None),
            "mean_box": (dict(zip(("x", "y", "width", "height"), (round(float(v) / counted, 1) for v in self.box_sum)))
                         if counted else None),
            "changes": self.changes, "episodes": [ep.to_dict() for ep in episodes],
        }


def next_due(due: float, t: float, step: float) -> float:
    """When the next of a series of steps ``step`` apart is due, one having been taken at ``t`` for the time ``due``:
    the series' next time where ``t`` came within half a step of ``due`` (its times stay where they were, whatever
    the frames' jitter), else one step after ``t``: a stream that fell behind (a late start, no frames for a while,
    a cut) starts counting again from now. Counted from ``due`` alone, the frame after a gap was due at once too:
    two steps a frame apart."""
    return due + step if t < due + step / 2 else t + step


def analysis_rate(fps: float, sample_fps: float | None) -> float:
    """Frames analysed per second of a video of ``fps`` sampled at most ``sample_fps`` a second (None: every
    frame)."""
    return min(fps, sample_fps or fps)


def recorded_analysis_rate(summary: dict) -> float:
    """The frames analysed a second that a tracks JSON records (:meth:`VideoResult.analysed_rate` of the run that
    wrote it): its ``fps``, sampled at ``sample_fps`` or capped at ``analysed_fps_cap`` where the memory for the
    windows lowered it."""
    return analysis_rate(float(summary.get("fps") or 30.0),
                         summary.get("analysed_fps_cap") or summary.get("sample_fps"))


def frames_memory_limits(source: str, options: VideoOptions, ahead: float, fps: float,
                         frame_shape: tuple[int, ...]) -> tuple[float | None, int]:
    """(the most frames a second that may be analysed, None for no limit; the frames per CNN batch) that keep the
    decoded frames of size ``frame_shape`` a :class:`FrameStream` holds within ``options.frames_memory_mb``: those
    of the ``ahead`` seconds its windows wait for (:func:`fervid.inference.temporal.lookahead`), a batch's and the
    one being read. The rate is a limit on the frames' own times, whatever rate the container says (a 1000 fps file
    said none, and was timed as 30 fps): 62 frames a second of 4K with the LSTM, 300 of 1080p, so an ordinary video
    (4K at 60 fps) is analysed frame by frame as asked; 1080p at 1000 fps (6 GB of frames held: it ran out of
    memory) at 300. Where ``fps`` (and ``options.sample_fps``) would not fit, batches are smaller too. Raises
    :class:`VideoError` naming ``source`` where not even one frame of look-ahead fits."""
    frame_bytes = max(1, int(np.prod(frame_shape)))
    allowed = int(options.frames_memory_mb * 1e6 // frame_bytes)
    batch = options.batch_frames
    if math.ceil(ahead * min(fps, options.sample_fps or math.inf) - 1e-6) + batch + 2 > allowed:
        batch = max(1, min(batch, (allowed - 2) // 2))  # half of what fits for the CNN's batch, half for the window
    room = allowed - batch - 2
    if room < (1 if ahead > 0 else 0):
        raise VideoError(f"{source}: frames of {frame_shape[1]} x {frame_shape[0]} take {frame_bytes / 1e6:.3g} MB "
                         f"each decoded, and {options.frames_memory_mb:g} MB (--frames-memory-mb, "
                         "VideoOptions.frames_memory_mb) hold too few of them to analyse: raise it, or convert the "
                         "video to a smaller size")
    return (room / ahead if ahead > 0 else None), batch


def gap_seconds(spacing: float, detect_every: float = 0.0) -> float:
    """How long a track, analysed every ``spacing`` seconds and detected every ``detect_every``, must go unseen for
    its absence to be a gap: a face flow lost comes back at the next detection round, which is no gap."""
    return max(GAP_SPACINGS * spacing, UNSEEN_SECONDS, detect_every + spacing)


TABLE_COLUMNS = [*FRAME_LEADING, *ROW_COLUMNS, "detected"]
# <name>_episodes.csv (VideoResult.episode_rows) and <name>_segments.csv (VideoResult.segment_rows); an episode's
# uncertain_share last (added in 0.3.0: after the columns scripts may read by position, none of which moves)
EPISODE_COLUMNS = ["track", "emotion", "start", "end", "duration", "peak_confidence", "key_frame_time", "key_frame",
                   "segment", "uncertain_share"]
SEGMENT_COLUMNS = ["segment", "segment_start", "segment_end", "analysed_seconds", *TRACK_COLUMNS, "episodes"]
TIMELINE_DPI = 100  # the timeline's pixels an inch, as laid out and as saved
BAND_COLUMNS = 1000  # the timeline's label band: about one column per pixel of its 10-inch, 100-dpi figure
# The timeline's marker per emotion (in EMOTIONS' order), beside its dashes (annotate.EMOTION_DASHES)
TIMELINE_MARKERS = ("o", "s", "^", "v", "D", "P", "X")
TIMELINE_MARKS_PER_CURVE = 12  # markers a curve carries, spread over its time (not over its drawn length)
# A track longer than this is drawn as its probabilities' means over time bins: a 10-minute track's rows, one a
# frame, drew a hedge of lines nobody could follow. The bin is the first of TIMELINE_BIN_SECONDS giving at most
# TIMELINE_MAX_BINS bins (5 s for 10 minutes, 30 s for an hour), and the axis says it.
TIMELINE_BINNED_AFTER_SECONDS = 180.0
TIMELINE_BIN_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
TIMELINE_MAX_BINS = 150
TABLE_CHUNK_ROWS = 4096  # rows held before they go to disk (one Parquet row group each)
# The frames CSV's rows go to the OS at least this often (wall time), not only each chunk: a run killed outright
# (SIGKILL, the OOM killer) 80 s into a video left a CSV 4,094 rows behind, and one killed 20 s in an empty file.
# A Parquet file is readable only once closed (its footer), so it stays written a chunk at a time.
CSV_FLUSH_SECONDS = 1.0


# the Parquet file-level metadata key under which a video's frame table records how its analysis ended, as JSON:
# ok, error, cancelled, interrupted, frames_read, stopped_at, started_at (README, "Output formats")
OUTCOME_METADATA_KEY = b"fervid_outcome"


def open_parquet(path: str | Path, mode: str = "rb"):
    """``path`` opened by Python for pyarrow to read (``"rb"``) or write (``"wb"``) a Parquet file in: given a path,
    pyarrow encodes it as UTF-8 whatever the filesystem's encoding, so under a Latin-1 locale
    (LC_ALL=de_DE.ISO-8859-1) `fervid video ... --out uo-ünï/vid` failed ("Failed to open local file"): the folder
    Python had made was another name to it. Every Parquet file fervid writes or reads itself is opened so.

    To read, pyarrow gets a native Arrow file, not the Python file object: it reads row groups in its own IO
    threads, a Python object's read there took the GIL, and a buffer let go there as the interpreter shut down ended
    the process with SIGABRT ("terminate called without an active exception", apache/arrow#34314): `fervid batch`
    exited 134 now and then (1 in 8 to 12 runs, under load), its work done. The native file is the open file's
    descriptor where pyarrow's OSFile takes one (25 and newer), else the file's bytes read here into a buffer of
    Arrow's (:func:`_read_into_arrow_memory`). pyarrow writes on the caller's thread alone, so a file written stays a
    Python one, whose errors are Python's ("No space left on device", not pyarrow's "Error writing bytes to file.
    Detail: [errno 28] ..."). The caller's to close."""
    import pyarrow as pa

    if mode != "rb":
        return open(path, mode)  # noqa: SIM115 (the caller's to close, after pyarrow's writer)
    with open(path, mode, buffering=0) as fh:  # Python's own error where it cannot be opened, naming the file
        descriptor = os.dup(fh.fileno())
        try:
            return pa.OSFile(descriptor, mode)
        except TypeError:  # pyarrow 17-24: OSFile takes a path only ("expected bytes, int found")
            os.close(descriptor)
        return _read_into_arrow_memory(fh)


def _read_into_arrow_memory(fh):
    """The whole of the open file ``fh`` (unbuffered), read on this thread into memory that Arrow allocated and
    frees, as a native Arrow file: pyarrow reads it in its IO threads without Python, where its OSFile takes no
    descriptor (:func:`open_parquet`). It holds the file's size in memory while it is open (the tests' frames table
    of a 45-minute video, 405,000 rows: 54 MB). Arrow's system allocator: its default pool keeps what it once held."""
    import pyarrow as pa

    buffer = pa.allocate_buffer(os.fstat(fh.fileno()).st_size, memory_pool=pa.system_memory_pool())
    view, filled = memoryview(buffer), 0
    while filled < len(view):  # (one read() returns at most about 2 GB on Linux)
        got = fh.readinto(view[filled:])
        if not got:  # shorter now than when its size was taken
            break
        filled += got
    return pa.BufferReader(buffer.slice(0, filled))


def table_outcome(path: str | Path) -> dict | None:
    """How the analysis that wrote a video's frame table ended (:data:`OUTCOME_METADATA_KEY`): ``ok``, ``error``,
    ``cancelled`` and ``interrupted`` (as the tracks JSON has them when the table was closed), ``frames_read`` and ``stopped_at``, the
    time of the last frame read where the analysis ended before the video did (Ctrl-C, SIGTERM, a break, a stop asked
    for), else None, and ``started_at`` (:attr:`VideoResult.started_at`). None for a table that does not say (written
    before fervid recorded it)."""
    import pyarrow.parquet as pq

    with open_parquet(path) as fh:
        found = (pq.read_metadata(fh).metadata or {}).get(OUTCOME_METADATA_KEY)
    return None if found is None else json.loads(found)


def table_settings(path: str | Path) -> dict | None:
    """What made a Parquet table fervid wrote (:func:`table_schema`'s ``settings``); None for one that does not say
    (written before fervid recorded it)."""
    import pyarrow.parquet as pq

    with open_parquet(path) as fh:
        found = (pq.read_schema(fh).metadata or {}).get(SETTINGS_METADATA_KEY)
    return None if found is None else json.loads(found)


class FrameTableWriter:
    """Streams a video's rows to ``<name>_frames.csv`` and ``.parquet`` as they come, so the table of an
    hours-long video never sits in memory: the Parquet file a chunk (row group) at a time, the CSV at least every
    :data:`CSV_FLUSH_SECONDS` too, so that the CSV of a run killed outright holds its rows up to about a second
    before. Arrow arrays come from the system allocator: Arrow's own pool keeps what it once held, and the rows of
    each chunk are garbage a moment later."""

    def __init__(self, csv_path: Path, parquet_path: Path, chunk_rows: int | None = None,
                 settings: dict | None = None):
        """``settings``: what made the rows, kept in the Parquet file's metadata (:func:`table_schema`)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.paths = [csv_path, parquet_path]
        self._schema = table_schema(TABLE_COLUMNS, settings=settings)
        self._pool = pa.system_memory_pool()
        self._csv_file = open(csv_path, "w", newline="", encoding="utf-8")
        self._parquet_file = open_parquet(parquet_path, "wb")
        self._parquet = pq.ParquetWriter(self._parquet_file, self._schema, memory_pool=self._pool)
        self._rows: list[list] = []  # the chunk's rows, not yet in the Parquet file
        self._rows_in_csv = 0  # how many of them the CSV has
        self._chunk_rows = chunk_rows or TABLE_CHUNK_ROWS
        with naming_file(csv_path):
            write_csv(self._csv_file, TABLE_COLUMNS, [])
            self._csv_file.flush()  # the header at once: a table killed before its first rows is an empty table
        self._csv_due = time.monotonic() + CSV_FLUSH_SECONDS

    def add(self, face: FrameFace) -> None:
        self._rows.append(list(face.table_row().values()))
        if len(self._rows) >= self._chunk_rows:
            self._flush()
        else:
            self.flush_if_due()

    def flush_if_due(self) -> None:
        """The CSV's rows handed to the OS where :data:`CSV_FLUSH_SECONDS` have passed since they last were: called
        for each frame too, so that the rows before a stretch without faces do not wait for the next face."""
        if self._rows_in_csv < len(self._rows) and time.monotonic() >= self._csv_due:
            self._flush_csv()

    def _flush_csv(self) -> None:
        """The chunk's rows not yet in the CSV written to it and handed to the OS (which keeps them if the process
        is killed; not an fsync: the power going is another matter)."""
        with naming_file(self.paths[0]):
            write_csv(self._csv_file, TABLE_COLUMNS, self._rows[self._rows_in_csv:], header=False)
            self._csv_file.flush()
        self._rows_in_csv = len(self._rows)
        self._csv_due = time.monotonic() + CSV_FLUSH_SECONDS

    def _flush(self) -> None:
        import pyarrow as pa

        self._flush_csv()
        columns: list[Sequence[Any]] = list(zip(*self._rows)) if self._rows else [[] for _ in TABLE_COLUMNS]
        arrays = [pa.array(col, type=field.type, memory_pool=self._pool) for col, field in zip(columns, self._schema)]
        with naming_file(self.paths[1]):
            self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
        self._rows, self._rows_in_csv = [], 0

    def close(self, outcome: dict | None = None) -> None:
        """``outcome``: how the analysis ended, kept in the Parquet file's metadata (:func:`table_outcome`)."""
        if self._rows:
            self._flush()
        with naming_file(self.paths[0]):
            self._csv_file.close()
        with naming_file(self.paths[1]):
            if outcome is not None:
                self._parquet.add_key_value_metadata({OUTCOME_METADATA_KEY: json.dumps(outcome)})
            self._parquet.close()
            self._parquet_file.close()


def reached_text(duration: float) -> str:
    """Where an analysis cut short ended, as its error in the tracks JSON and `fervid video`'s lines say it: from
    :attr:`VideoResult.duration` as the tracks JSON writes it (``end_reached``), to a tenth of a second. One value
    and one rounding: the error said the last frame's start (78.4 s) where the command said its end (78.5 s)."""
    return f"{round(duration, TIME_DECIMALS):.1f} s"


@dataclass
class VideoResult:
    """What one video gave. Its rows are ``faces`` when analysed in memory (no output folder); analysed into a
    folder, they were streamed to the per-frame table there, and :meth:`frame_table` reads them back."""

    source: str
    fps: float = 0.0
    width: int = 0
    height: int = 0
    frames_read: int = 0
    frames_analysed: int = 0
    # where the analysis stopped on the file's timeline (the tracks JSON's duration and end_reached): the last frame's
    # time + its 1/fps (a live session's: up to its last frame); not the seconds read, from a start: analysed_seconds
    duration: float = 0.0
    # when the frames' time 0 was, by the wall clock (ISO 8601 with its UTC offset, wall_clock_now): a camera's or a
    # live stream's session, whose times count from its start; None for a recording, whose times are its own
    started_at: str | None = None
    faces: list[FrameFace] = field(default_factory=list)
    tracks: dict[int, TrackLog] = field(default_factory=dict)
    error: str | None = None  # set when the video broke mid-way: the results up to there are kept
    # stopped by Ctrl-C or SIGTERM before the video's end (outputs_partial too)
    interrupted: bool = False
    # ended by the caller's stop callback before the video's end (VideoAnalyzer.run's stop; a GUI's Cancel button):
    # its outputs keep their partial names as an interrupted run's (outputs_partial), ``error`` says where it stopped
    # (``ok`` false) and the tracks JSON says ``cancelled``. A live session's user ending it is its normal end, not
    # a cancel (run's stop_is_end)
    cancelled: bool = False
    # the video's own length in seconds as its container gives it (the tracks JSON's video_seconds), to set beside
    # where the analysis stopped (``duration``); None where it gives none (a camera, a live stream)
    video_seconds: float | None = None
    # the run stopped before the video's end for a reason not the video's: interrupted or cancelled, or raised once
    # the outputs were saved: memory ran out, an error raised by the progress or stop callback, an output that could
    # not be written. Its outputs keep their partial names (OutputNames.partial, cam_frames.partial.csv), the tracks
    # JSON, the episodes table and the timelines too, so that a file sent on alone says it is not the whole video's
    # (under its own name, a CSV cut at 45% read as complete; a 2-row table of a 20 s video whose analysis ran out of
    # memory at frame 19, as finished as any)
    outputs_partial: bool = False
    # seconds the analysis took: the frames decoded, detected and classified, the streamed table and annotated
    # video written (the tracks JSON's analysis_seconds); run_seconds: the whole run, the outputs written at its end
    # too (timelines, key frames, the tracks JSON), as `fervid video` says it (0.0 where no run timed it: a live
    # session's)
    seconds: float = 0.0
    run_seconds: float = 0.0
    method: str = ""
    model: str = ""  # the emotion CNN and face detector that ran
    detector: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # the rest of what made the results (precision, threshold, timing)
    annotated_path: Path | None = None
    table_path: Path | None = None  # the streamed Parquet table, when analysed into a folder
    stem: str = ""  # the outputs' file names start with it (default: the source's stem; OutputNames)
    replaced: str | None = None  # another video whose outputs of the same names this one's replaced
    # where the outputs of the stem asked for are another user's or unreadable ones, kept: what they are and the stem
    # these were named instead ("res/ holds uid 54321's outputs of u1/cam.mp4 named cam_*, which are kept; this
    # video's are named u2_cam_*"; VideoAnalyzer.run without keep_others)
    kept_apart: str | None = None
    # seconds (wall clock) each stage of the analysis took (STAGES; the tracks JSON's stage_seconds), and the CPU
    # seconds of the ffmpeg process that encoded the annotated video, which runs beside them (None: none written, or
    # not known on this platform)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    encoder_cpu_seconds: float | None = None
    scene_cuts: list[float] = field(default_factory=list)  # times of the cuts found
    # at each cut, {"time", "ended", "kept"}: the tracks it ended, and those whose face's surroundings stayed as they
    # were (a webcam shown picture-in-picture over a screen recording whose page changed), which go on
    scene_cut_tracks: list[dict] = field(default_factory=list)
    # with max_faces: each time a face followed gave way to a larger one, {"time", "track" (ended), "new_track",
    # "area_ratio", "why"} (FaceTracker.replaced_faces)
    replaced_faces: list[dict] = field(default_factory=list)
    frames_brightened: int = 0  # frames analysed with their levels stretched, being dark (align.DARK_TOP)
    # times where the file's own clock started again (recordings joined end to end): frames after one are placed
    # on from the frame before it (RisingClock)
    clock_resets: list[float] = field(default_factory=list)
    # where recordings joined in the file change frame size, each {"time", "width", "height"}: the size they were
    # recorded at from there; the decoder (OpenCV's, or the ffmpeg binary's for interlaced files) handed them out
    # scaled to the first's (width x height), the size analysed (_frame_size_changes)
    frame_size_changes: list[dict] = field(default_factory=list)
    # an HDR video (PQ or HLG: what iPhones and Samsung phones record by default): "PQ" or "HLG", else None; and
    # whether its frames were tone-mapped to SDR (BT.709) by the ffmpeg binary (_tone_map_filter). False for an HDR
    # video means it was read as OpenCV converts it: highlights and bright skin clipped, colours shifted
    hdr: str | None = None
    tone_mapped: bool = False
    # the video streams the file holds (cover art apart): the first is analysed (a second camera's, or a second
    # angle's, was left out unsaid)
    video_streams: int = 1
    # the most frames a second analysed where the video's rate and frame size would have its look-ahead hold more
    # than VideoOptions.frames_memory_mb of frames (1080p at 1000 fps), else None: every frame asked for
    analysed_fps_cap: float | None = None
    # the streamed table's (size, mtime) when its writer closed: a later run writing the same names replaces the file
    table_stamp: tuple[int, int] | None = field(default=None, repr=False)
    # the stretches summarised on their own (VideoOptions.segments, or segment_every's windows, added by SegmentLogs
    # as the frames reach them), and their track logs (segment_summaries)
    segments: list[TimeSegment] = field(default_factory=list)
    segment_logs: SegmentLogs | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.stem = fitted_stem(self.stem or Path(self.source).stem)  # a 244-byte name's outputs: "too long"

    def __repr__(self) -> str:
        # counts and one line per track: the rows (a minute of a 16-person call: ~15 MB printed) are frame_table()'s
        rows = (f"table_path={str(self.table_path)!r}" if self.table_path is not None
                else f"faces=<{len(self.faces)} rows>")
        tracks = abridged([f"{tid}: {self.tracks[tid]!r}" for tid in self.track_ids], most=10, brackets="{}")
        broke = f", error={self.error!r}" if self.error is not None else ""
        return (f"VideoResult(source={self.source!r}, duration={self.duration:.3f}, fps={self.fps:.3f}, "
                f"width={self.width}, height={self.height}, frames_analysed={self.frames_analysed}, "
                f"method={self.method!r}, {rows}, tracks={tracks}{broke})")

    def _repr_html_(self) -> str:
        # a notebook's view: the video and what was analysed of it, then a row per track (track_table), not the
        # frames' rows (a minute of a 16-person call: ~29,000)
        broke = f"; error: {self.error}" if self.error is not None else ""
        return html_view(f"{self.source}: {self.duration:.1f} s, {self.width} x {self.height}, {self.frames_analysed} "
                         f"frames analysed ({self.method}), {len(self.tracks)} track(s){broke}", self.track_table())

    @property
    def ok(self) -> bool:
        """Whether the whole video was analysed and its outputs written: False where it broke mid-way, was cancelled
        (:attr:`cancelled`) or an output went missing (``error`` says where and why; what was analysed before is
        kept)."""
        return self.error is None

    @property
    def track_ids(self) -> list[int]:
        """The ids of the faces followed, in order (the keys of ``tracks``; numbered from 1)."""
        return sorted(self.tracks)

    @property
    def episodes(self) -> list[Episode]:
        """Every track's emotion episodes (stretches of one emotion), by track and start: each with its span and,
        for one of 0.5 s or more, its key frame's file name (``key_frame``)."""
        found = [ep for log in self.tracks.values() for ep in log.episodes]
        found += [log.episode for log in self.tracks.values() if log.episode is not None]
        return sorted(found, key=lambda e: (e.track_id, e.start))

    @property
    def analysed_seconds(self) -> float:
        """The length of the stretch analysed: from the start asked for (``start``, 0 for the whole video) to the
        end reached (:attr:`duration`, the position on the file's timeline), as the tracks JSON writes them: its
        ``end_reached - start``."""
        start = self.settings.get("start") or 0.0
        return max(0.0, written_seconds(start, self.duration)) if self.frames_read else 0.0

    @property
    def realtime_factor(self) -> float:
        """Seconds of video analysed (:attr:`analysed_seconds`) per second of the whole run (:attr:`run_seconds`:
        the outputs written at its end included), the "x real time" `fervid video` says; 0.0 where no run timed it.
        The analysis alone: :attr:`analysis_realtime_factor`."""
        return self.analysed_seconds / self.run_seconds if self.run_seconds > 0 else 0.0

    @property
    def analysis_realtime_factor(self) -> float:
        """Seconds of video analysed per second of the analysis alone (:attr:`seconds`: the timelines, key frames
        and tracks JSON written at the end left out); at least :attr:`realtime_factor`."""
        return self.analysed_seconds / max(self.seconds, 1e-9)

    def frame_table(self) -> pd.DataFrame:
        """The per-frame table: ``FRAME_LEADING`` + ``ROW_COLUMNS`` + ``detected``, one row per track per frame."""
        import pandas as pd

        if self.table_path is not None:
            if self.table_stamp is not None and _file_stamp(self.table_path) != self.table_stamp:
                raise VideoError(f"{self.table_path}: replaced since this result was made (a later analysis wrote "
                                 f"outputs of the same names into {self.table_path.parent}); give each analysis its "
                                 "own folder or stem (analyze_video(..., stem=...))")
            with open_parquet(self.table_path) as fh:  # (a Latin-1 folder's name: see open_parquet)
                return pd.read_parquet(fh)
        if not self.faces:
            return table_schema(TABLE_COLUMNS).empty_table().to_pandas()
        return pd.DataFrame([f.table_row() for f in self.faces], columns=TABLE_COLUMNS)

    def track_summaries(self) -> list[TrackSummary]:
        """Per track, in id order: ``track``, ``start``/``end`` (s), ``frames``, ``dominant_emotion``,
        ``emotion_share`` (of the time it was seen), ``mean_probabilities``, ``changes`` (time, from, to) and
        ``episodes`` (every stretch of one emotion, however short: ``key_frame`` names its key frame where it
        lasted 0.5 s or more and the ``key_frames`` cap kept it, and is None otherwise, ``key_frame_time`` saying
        where its most expressive frame was) - the tracks JSON's ``tracks``."""
        until = self.duration or None  # 0 until the video's length is known (a live session in progress)
        return [self.tracks[tid].summary(until) for tid in self.track_ids]

    def track_table(self) -> pd.DataFrame:
        """:meth:`track_summaries` as a pandas table, one row per track: ``TRACK_COLUMNS`` (track, start, end,
        frames, seen_seconds, dominant_emotion, each emotion's share of the time seen, the mean box), the columns
        of ``fervid batch``'s tracks.csv; the columns and their types are there for a video with no face too."""
        return dataframe([track_row(summary) for summary in self.track_summaries()], TRACK_COLUMNS)

    def segment_summaries(self) -> list[dict[str, Any]]:
        """Per segment (:attr:`segments`), in their order: ``segment`` (its name, a str; or, unnamed, its number
        from 1, an int, as the segments table's cell reads in pandas and R), ``tier`` and ``annotation`` (a
        coder's, from the segments table; None where it gives none), ``start``,
        ``end`` and ``tracks``: per track seen in it, its summary over the segment alone (as
        :meth:`track_summaries` gives the whole track's: span, frames, seconds seen, dominant emotion, each
        emotion's share of the time seen by the same rule, mean probabilities and box) and ``episodes``: the whole
        track's episodes (as the tracks JSON lists them) that overlap the segment - the tracks JSON's
        ``segments``."""
        episodes = {summary["track"]: summary["episodes"] for summary in self.track_summaries()}
        logs = self.segment_logs.logs if self.segment_logs is not None else [{} for _ in self.segments]
        summaries = []
        for number, (segment, tracks) in enumerate(zip(self.segments, logs), 1):
            until = min(segment.end, self.duration) if self.duration else segment.end
            entries = []
            for track_id in sorted(tracks):
                # its last row lasts as the whole track's does (the track's spacing, not the segment's own)
                whole = self.tracks.get(track_id)
                summary = {k: v for k, v in tracks[track_id].summary(
                    until, whole.spacing if whole is not None else None).items() if k not in ("changes", "episodes")}
                if not summary["frames"] and not summary["seen_seconds"]:
                    continue  # a row carried in that had ended before the segment's start: the face not seen in it
                summary["episodes"] = [ep for ep in episodes.get(track_id, [])
                                       if ep["start"] < segment.end and (ep["start"] >= segment.start
                                                                         or ep["end"] > segment.start)]
                entries.append(summary)
            summaries.append({"segment": segment.name or number, "tier": segment.tier or None,
                              "annotation": segment.annotation or None, "start": segment.start,
                              "end": segment.end, "analysed_seconds": self._analysed_within(segment),
                              "tracks": entries})
        return summaries

    @property
    def segment_codes(self) -> list[str]:
        """Which of ``tier`` and ``annotation`` the segments carry (:class:`TimeSegment`): those any of them has a
        value of, the columns of ``<name>_segments.csv`` they are (empty for a segment without); the tracks JSON's
        ``segments`` have both, null where a segment has none."""
        return [key for key in ("tier", "annotation") if any(getattr(s, key) for s in self.segments)]

    @property
    def segment_columns(self) -> list[str]:
        """``<name>_segments.csv``'s columns: :data:`SEGMENT_COLUMNS`, with :attr:`segment_codes` after
        ``segment``."""
        return [SEGMENT_COLUMNS[0], *self.segment_codes, *SEGMENT_COLUMNS[1:]]

    def _analysed_within(self, segment: TimeSegment) -> float:
        """Seconds of ``segment`` inside the stretch analysed (from ``start`` to the end reached): a segment
        outside it, or past the video's end, has 0 seconds seen for want of frames, not of faces."""
        start = self.settings.get("start") or 0.0
        return max(0.0, written_seconds(max(segment.start, start), min(segment.end, self.duration)))

    @property
    def segments_notice(self) -> str | None:
        """A line naming the segments that lie (partly) outside the stretch analysed (:meth:`_analysed_within`),
        whose seconds seen count only the part analysed; None where every one lies inside it."""
        start = self.settings.get("start") or 0.0
        outside = [f"{s.name or n} ({s.start:g}-{s.end:g} s: {self._analysed_within(s):g} s analysed)"
                   for n, s in enumerate(self.segments, 1) if self._analysed_within(s) < s.end - s.start - 1e-3]
        if not outside or not self.frames_read:
            return None
        return (f"{len(outside)} segment(s) lie partly or wholly outside the stretch analysed ({start:g}-"
                f"{self.duration:g} s): {', '.join(outside)}; their seconds seen count the part analysed only "
                "(analysed_seconds in the segments table)")

    @property
    def frameless_segments_notice(self) -> str | None:
        """A line naming the segments inside the stretch analysed that no analysed frame fell in (shorter than the
        frames' spacing, or between two frames of a variable-frame-rate video): each has the row in effect at its
        start, from the frame before it, for its time, frames 0, and no emotion, shares or means; None where every
        one holds a frame."""
        if self.segment_logs is None or not self.frames_read:
            return None
        frameless = [f"{s.name or n} ({s.start:g}-{s.end:g} s)" for n, (s, framed)
                     in enumerate(zip(self.segments, self.segment_logs.framed), 1)
                     if not framed and self._analysed_within(s) > 0]
        if not frameless:
            return None
        named = ", ".join(frameless[:5]) + (f" and {len(frameless) - 5} more" if len(frameless) > 5 else "")
        return (f"{len(frameless)} of {len(self.segments)} segment(s) hold no analysed frame (the frames analysed "
                f"are about {1 / self.analysed_rate:.3g} s apart): {named}; each has the row in effect at its start, "
                "from the frame before it, for its time, frames 0, and no emotion, shares or mean box (empty cells) "
                "in the segments table")

    def segment_rows(self) -> list[dict[str, Any]]:
        """``<name>_segments.csv``'s rows (:attr:`segment_columns`): per segment and track seen in it, its
        :meth:`segment_summaries` entry as ``fervid batch``'s tracks.csv gives a track, and how many episodes
        overlap it; a segment in which no face was seen has one row, its track empty and 0 seconds seen."""
        rows = []
        for segment in self.segment_summaries():
            leading = {"segment": segment["segment"], **{key: segment[key] for key in self.segment_codes},
                       "segment_start": segment["start"], "segment_end": segment["end"],
                       "analysed_seconds": segment["analysed_seconds"]}
            for summary in segment["tracks"]:
                rows.append({**track_row(summary, **leading), "episodes": len(summary["episodes"])})
            if not segment["tracks"]:
                rows.append({**leading, "seen_seconds": 0.0, "episodes": 0})
        return rows

    def episode_rows(self) -> list[dict[str, Any]]:
        """``<name>_episodes.csv``'s rows (:data:`EPISODE_COLUMNS`): every track's episodes (:attr:`episodes`), each
        as the tracks JSON lists it (:meth:`Episode.to_dict`), after its track and with the segments its start is in
        (empty where none): one, or of overlapping segments (two coders' tiers) each, in the table's order, their
        names joined by "; "."""
        rows = []
        for ep in self.episodes:
            inside = [s.name or str(n) for n, s in enumerate(self.segments, 1)
                      if s.start - TIME_TOLERANCE <= ep.start < s.end - TIME_TOLERANCE]
            rows.append({"track": ep.track_id, **ep.to_dict(),
                         "segment": SEGMENT_NAMES_JOINED_BY.join(inside) or None})
        return rows

    @property
    def analysed_rate(self) -> float:
        """The frames analysed a second, as asked for (the video's rate, or ``sample_fps``, or the cap the memory
        for its windows set: :attr:`analysed_fps_cap`)."""
        return analysis_rate(self.fps, self.analysed_fps_cap or self.settings.get("sample_fps"))

    @property
    def frames_per_window(self) -> int | None:
        """The analysed frames the temporal window around a frame holds, the frame included
        (:func:`fervid.inference.temporal.frames_per_window`); None where no window is read (method ``frame``)
        or the rate is not known yet."""
        window = self.settings.get("window")
        if window is None or not self.fps:
            return None
        return frames_per_window(window, self.analysed_rate, self.settings.get("centred_window", True))

    @property
    def window_notice(self) -> str | None:
        """A line saying what the window leaves the temporal method at the rate analysed, where that is not what
        the method is for (:func:`fervid.inference.temporal.window_notice`: one frame in it, or frames farther
        apart than the LSTM learnt from), its advice in Python's words (``sample_fps=4``); None otherwise."""
        return self.window_notice_in("keywords")

    def window_notice_in(self, naming: OptionNaming) -> str | None:
        """:attr:`window_notice`, its advice naming the options as ``naming`` says: "flags" for the command line
        (``--sample-fps 4``), "keywords" for Python (:func:`fervid.errors.said_option`)."""
        window = self.settings.get("window")
        if window is None or not self.fps:
            return None
        return window_notice(self.method, window, self.analysed_rate, self.settings.get("centred_window", True),
                             naming, most_rate=self.fps, memory_capped=bool(self.analysed_fps_cap))

    @property
    def analysis_text(self) -> str:
        """The temporal method and its window, as the summary line and the timelines' titles say them: "lstm, 1 s
        centred window (31 analysed frames)", "frame (no window)"."""
        window, frames = self.settings.get("window"), self.frames_per_window
        if window is None:
            return f"{self.method} (no window)"
        return (f"{self.method}, {window:g} s {'centred' if self.settings.get('centred_window', True) else 'causal'} "
                f"window" + (f" ({frames} analysed frame{'s' if frames != 1 else ''})" if frames else ""))

    @property
    def run_settings(self) -> dict[str, Any]:
        """What made the results: the temporal method, the model and the detector, and :attr:`settings` (the
        weights' digests, the versions, precision, thresholds, timing, and beside the window the analysed frames
        it holds, :attr:`frames_per_window`); the tracks JSON's and the frame table's Parquet metadata."""
        settings: dict[str, Any] = {"method": self.method, "model": self.model, "detector": self.detector}
        for name, value in self.settings.items():
            settings[name] = value
            if name == "window":
                settings["frames_per_window"] = self.frames_per_window
        return settings

    def summary(self) -> dict[str, Any]:
        """The tracks JSON (``<name>_tracks.json``) as a dict: the file, ``ok``, ``error``, ``cancelled`` and
        ``interrupted``, the
        video's size and rate, where the analysis stopped and the video's own length, the frames read and analysed,
        what made the results (:attr:`run_settings`), the time the analysis took, scene cuts, clock resets and the
        like, and ``tracks`` (:meth:`track_summaries`)."""
        return {"file": recorded_name(self.source), "ok": self.ok, "error": self.error, "cancelled": self.cancelled,
                # Ctrl-C or SIGTERM, as a field a program reads (``error`` says it in words only)
                "interrupted": self.interrupted,
                "fps": round(self.fps, 3),
                "width": self.width, "height": self.height, "duration": round(self.duration, TIME_DECIMALS),
                "started_at": self.started_at,
                # where the analysis stopped (an end past the video's is recorded as asked, in the settings) and
                # the length of the stretch analysed
                "end_reached": round(self.duration, TIME_DECIMALS),
                "analysed_seconds": round(self.analysed_seconds, TIME_DECIMALS),
                "video_seconds": (round(self.video_seconds, TIME_DECIMALS) if self.video_seconds is not None
                                  else None),
                "frames_read": self.frames_read, "frames_analysed": self.frames_analysed, **self.run_settings,
                "analysis_seconds": round(self.seconds, 2),
                "stage_seconds": {stage: round(seconds, 2) for stage, seconds in self.stage_seconds.items()},
                "encoder_cpu_seconds": (round(self.encoder_cpu_seconds, 2) if self.encoder_cpu_seconds is not None
                                        else None),
                "scene_cuts": self.scene_cuts,
                "scene_cut_tracks": self.scene_cut_tracks, "replaced_faces": self.replaced_faces,
                "frames_brightened": self.frames_brightened, "hdr": self.hdr, "tone_mapped": self.tone_mapped,
                "clock_resets": self.clock_resets, "frame_size_changes": self.frame_size_changes,
                "video_streams": self.video_streams, "analysed_fps_cap": self.analysed_fps_cap,
                "tracks": self.track_summaries(), "segments": self.segment_summaries()}

    def timeline(self, track_id: int):
        """Track ``track_id``'s timeline as :meth:`save` writes it (``<name>_track<N>_timeline.png``), a matplotlib
        Figure: on the stretch analysed (from ``start`` to :attr:`duration`), in the video's times as the tables
        give them. A track not in the result raises KeyError naming those that are."""
        if track_id not in self.tracks:  # (a bare KeyError: 2 said nothing of the tracks there are)
            there = ", ".join(map(str, self.track_ids)) or "none"
            raise KeyError(f"{self.source} has no track {track_id!r}: its tracks are {there}")
        return timeline_figure(self.tracks[track_id], self.source, self.duration, self.analysis_text,
                               self.settings.get("start") or 0.0)

    def save(self, out_dir: str | Path) -> dict[str, list[Path]]:
        """Write the outputs not yet written: the per-frame table (unless streamed there while analysing), key
        frames still held, the per-track JSON, the episodes (and segments) table and a timeline per track, under their
        partial names where the run stopped short (:attr:`outputs_partial`). Returns the paths by kind. The
        timelines are drawn before the tracks JSON is written: drawing them (matplotlib) is what fails first where
        memory ran out, and one that fails after a whole analysis is left out, the tables and the JSON written all
        the same, the JSON saying which is missing and why (``ok`` false, ``error``: "track 1's timeline could not
        be drawn (...)"), as :attr:`error` does. Where the analysis had failed first (:attr:`error` set already),
        that stays what the JSON says, and the drawing's error is raised once it is written."""
        out_dir = make_output_dir(out_dir)
        stem = self.stem
        written: dict[str, list[Path]] = {"video": [self.annotated_path] if self.annotated_path else []}
        names = OutputNames(stem)

        def named(name: str) -> str:
            return OutputNames.partial(name) if self.outputs_partial else name

        csv_path, parquet_path = out_dir / named(names.frames_csv), out_dir / named(names.frames_parquet)
        if self.table_path != parquet_path:
            table = self.frame_table()
            with replacing(csv_path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as fh:
                write_csv(fh, list(table.columns), table.itertuples(index=False, name=None))
            with replacing(parquet_path) as temporary:
                table.to_parquet(temporary, index=False,
                                 schema=table_schema(TABLE_COLUMNS, settings=self.run_settings))
        written["table"] = [csv_path, parquet_path]
        analysed_into = self.table_path.parent if self.table_path is not None else None
        # those not written while analysing (in memory, no folder then), as many a track as its cap keeps
        for ep in best_episodes(self.episodes, self.settings.get("key_frames")):
            save_key_frame(ep, out_dir, stem, release=False, partial=self.outputs_partial)
            if ep.key_frame and self.outputs_partial:  # (those streamed were named so as their writer closed)
                ep.key_frame = OutputNames.partial(ep.key_frame)
        for ep in self.episodes:  # written into the folder analysed into, and its image let go of since: copied
            if ep.key_frame and ep.best_image is None and analysed_into is not None:
                _copy_into(analysed_into / ep.key_frame, out_dir)
        if self.annotated_path is not None and analysed_into is not None:
            written["video"] = [_copy_into(self.annotated_path, out_dir)]
        written["key_frames"] = [out_dir / ep.key_frame for ep in self.episodes if ep.key_frame]
        written["tables"] = [_write_rows(out_dir / named(names.episodes_csv), EPISODE_COLUMNS, self.episode_rows())]
        if self.segments:
            written["tables"].append(_write_rows(out_dir / named(names.segments_csv), self.segment_columns,
                                                 self.segment_rows()))
        written["timelines"], not_drawn = [], {}  # (not_drawn: track id -> its drawing's error)
        for tid in self.track_ids:
            try:
                written["timelines"].append(save_timeline(self.timeline(tid), out_dir / named(names.timeline(tid))))
            except Exception as exc:  # matplotlib's (its import, where memory ran out); not the folder's
                if isinstance(exc, OSError) and memory_failure(exc) is None:
                    raise  # a full disk, a folder gone: every later output fails alike
                not_drawn[tid] = exc
        drawing_failed = None
        if not_drawn:
            reasons: dict[str, list[int]] = {}  # the same reason for every track said once
            for tid, failure in not_drawn.items():
                if isinstance(failure, MemoryError):
                    reason = "out of memory"
                elif (words := memory_failure(failure)) is not None:
                    reason = f"out of memory: {words}"
                else:
                    reason = f"{type(failure).__name__}: {failure}"
                reasons.setdefault(reason, []).append(tid)
            said = "; ".join(
                f"track {tids[0]}'s timeline could not be drawn ({reason})" if len(tids) == 1 else
                f"the timelines of tracks {', '.join(map(str, tids))} could not be drawn ({reason})"
                for reason, tids in reasons.items())
            if self.error is None:  # the analysis was whole: it stays, the missing timeline said
                self.error = (f"{self.source}: {said}; the analysis is whole, and its tables, key frames and tracks "
                              "JSON are written")
            else:
                drawing_failed = next(iter(not_drawn.values()))
        with replacing(out_dir / named(names.tracks_json)) as temporary:
            write_json(temporary, self.summary())
        written["json"] = [out_dir / named(names.tracks_json)]
        if drawing_failed is not None:
            raise drawing_failed
        return written


def _write_rows(path: Path, columns: list[str], rows: list[dict]) -> Path:
    """``rows`` as a CSV of ``columns`` at ``path`` (fervid.inference.records.write_csv; a column a row lacks is
    empty)."""
    with replacing(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as fh:
        write_csv(fh, columns, ([row.get(column) for column in columns] for row in rows))
    return path


def check_output_dir(out_dir: str | Path) -> None:
    """Refuse an output folder whose name a file holds, before anything is read or written (found when the
    first output was written, it left the video open and named no folder)."""
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise file_in_the_way(out_dir)


def make_output_dir(out_dir: str | Path) -> Path:
    """``out_dir`` made (with its parents) where it is not there; a file in its way raises
    :class:`fervid.errors.OutputDirError`, a FileExistsError as ``mkdir``'s own was."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise file_in_the_way(out_dir) from None
    return out_dir


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _copy_into(path: Path, out_dir: Path) -> Path:
    """``path`` copied into ``out_dir`` (itself when already there): a result saved into another folder than the one
    it was analysed into takes the files streamed there with it, so its JSON's key-frame names are found beside it."""
    import shutil

    target = out_dir / path.name
    if target.resolve() != path.resolve():
        with replacing(target) as temporary:
            shutil.copy2(path, temporary)
    return target


def key_frame_rank(episode: Episode) -> tuple[float, float, float]:
    """How a track's episodes are ranked for a cap on its key frames (``key_frames``): the longer episode first
    (the emotion shown longest is what the track was, more than a passing one), then the more expressive key frame,
    then the earlier. Durations as the tracks JSON gives them (two episodes of as many frames are as long)."""
    return episode.duration, episode.best_probability, -episode.start


def _has_key_frame_image(episode: Episode) -> bool:
    return episode.lasting and episode.best_image is not None


def best_episodes(episodes: list[Episode], limit: int | None) -> list[Episode]:
    """Of ``episodes`` (any tracks'), those still holding a key frame's image that a cap of ``limit`` a track
    keeps: every one for None, else each track's ``limit`` first by :func:`key_frame_rank`."""
    candidates = [ep for ep in episodes if _has_key_frame_image(ep)]
    if limit is None:
        return candidates
    by_track: dict[int, list[Episode]] = {}
    for ep in sorted(candidates, key=key_frame_rank, reverse=True):
        by_track.setdefault(ep.track_id, []).append(ep)
    return [ep for ranked in by_track.values() for ep in ranked[:limit]]


class KeyFrameWriter:
    """Writes key frames as their episodes end, at most ``limit`` a track (None: every lasting episode's), and lets
    go of each image once decided. Episodes end as the video streams, so a capped track holds its best so far
    (:func:`key_frame_rank`): an episode that ends better than the weakest one held takes its place, whose PNG is
    deleted and whose ``key_frame`` becomes None (the tracks JSON, written at the end, lists both). As the rank is
    each episode's own, what is held at the end is what :func:`best_episodes` picks from the whole video."""

    def __init__(self, out_dir: Path, stem: str, limit: int | None, partial: bool = False):
        """``partial``: key frames are written under their :meth:`OutputNames.partial` names (``key_frame`` is the
        whole one), which :meth:`ResultWriter.into_place` moves into place."""
        self.out_dir, self.stem, self.limit, self.partial = out_dir, stem, limit, partial
        self._held: dict[int, list[Episode]] = {}  # per track, the episodes whose key frames are on disk

    def add(self, episode: Episode) -> None:
        if self.limit is not None and _has_key_frame_image(episode):
            held = self._held.setdefault(episode.track_id, [])
            if len(held) < self.limit:
                held.append(episode)
            else:
                weakest = min(range(len(held)), key=lambda i: key_frame_rank(held[i]), default=None)
                if weakest is None or key_frame_rank(episode) <= key_frame_rank(held[weakest]):
                    episode.best_image = None
                    return
                self._delete(held[weakest])
                held[weakest] = episode
        save_key_frame(episode, self.out_dir, self.stem, partial=self.partial)

    def _delete(self, episode: Episode) -> None:
        name = episode.key_frame
        assert name is not None, "a held episode's key frame is written (save_key_frame)"
        path = self.out_dir / (OutputNames.partial(name) if self.partial else name)
        with naming_file(path):
            path.unlink(missing_ok=True)
        episode.key_frame = None


def save_key_frame(episode: Episode, out_dir: Path, stem: str, release: bool = True, partial: bool = False) -> None:
    """Write a lasting episode's most expressive frame (its face's crop), captioned below with its emotion, the
    probability of it that frame's row in the table has (the temporal method's, as the annotated video labels it;
    left out where not known), its track and its time (:func:`fervid.inference.annotate.with_caption`);
    ``release``: let go of the image (streaming); ``partial``: under its :meth:`OutputNames.partial` name
    (``key_frame`` is the whole one)."""
    image = episode.best_image
    if release:
        episode.best_image = None
    if image is None or not episode.lasting:
        return
    name = OutputNames(stem).key_frame(episode.track_id, episode.start, episode.emotion)
    side = max(image.shape[:2])
    if side < KEY_FRAME_SIDE:  # a small face's crop (a classroom's back row: 40 px) opened as a speck
        zoom = math.ceil(KEY_FRAME_SIDE / side)
        image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)  # its pixels, larger
    # the picture says what it is, for one looked at in a folder or a viewer, away from the JSON: its emotion and
    # the probability the table and the annotated video give it at that frame (peak_confidence; not the CNN's for
    # the frame alone: "fear 20%" beside a row and a label of fear 0.565), its track and its time in the video
    said = face_label(episode.emotion, episode.peak_confidence, episode.best_row_uncertain)
    image = with_caption(image, [said, f"track {episode.track_id} {clock_text(episode.best_time)}"],
                         episode.emotion)
    write_image(out_dir / (OutputNames.partial(name) if partial else name), image)
    episode.key_frame = name


def clock_text(seconds: float) -> str:
    """A frame's time in the video as hh:mm:ss.ss (``00:01:03.71``), cut (not rounded) to the hundredth, as a
    player's clock shows that frame: typed into its seek (``ffmpeg -ss``, mpv), it lands on that frame, the first
    at or after it (frames are more than a hundredth apart). Rounded to the tenth, 2.8695 read 2.9, a frame later."""
    hundredths = math.floor(max(seconds, 0.0) * 100 + 1e-6)  # (1e-6: a float a hair under a hundredth's multiple)
    minutes, hundredths = divmod(hundredths, 6000)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{hundredths // 100:02d}.{hundredths % 100:02d}"


def save_timeline(fig, path: Path) -> Path:
    """Save a track's timeline (:func:`timeline_figure`) as a PNG at ``path``, cropped to what it draws."""
    from matplotlib import rcParams

    # the crop savefig's bbox_inches="tight" makes, taken from the layout timeline_figure left: asked for "tight",
    # savefig first lays the whole figure out once more, to the same places (a fifth of a timeline's time)
    crop = fig.get_tightbbox(fig.canvas.get_renderer()).padded(rcParams["savefig.pad_inches"])
    with replacing(path) as temporary:  # (a full disk leaves no part-written timeline)
        fig.savefig(temporary, dpi=TIMELINE_DPI, bbox_inches=crop, format="png")
    return path


def _font_characters() -> frozenset[int]:
    """The characters matplotlib can draw with its fonts as configured: each family in ``font.family``, with the
    fallbacks it lists (a generic name stands for its rcParams list), as matplotlib falls back through them."""
    prepare_matplotlib()
    from matplotlib import rcParams

    names = []
    for family in rcParams["font.family"]:
        generic = f"font.{family}"
        # (matplotlib's stubs know rcParams' keys by their literal names, not one made at run time)
        names += list(rcParams[generic]) if generic in rcParams else [family]  # type: ignore[index]
    return _characters_of(tuple(names))


@functools.lru_cache(maxsize=8)
def _characters_of(families: tuple[str, ...]) -> frozenset[int]:
    from matplotlib import font_manager

    characters: set[int] = set()
    for family in families:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:  # not installed
            continue
        characters.update(font_manager.get_font(path).get_charmap())
    if not characters:  # none of them found: matplotlib draws with its default font
        characters.update(font_manager.get_font(font_manager.findfont(font_manager.FontProperties())).get_charmap())
    return frozenset(characters)


def _drawable(text: str) -> str:
    """``text`` with what matplotlib's fonts cannot draw as "?": a CJK file name drew empty boxes and printed a
    warning per character into `fervid video`'s output (the name itself is in the files' names and the JSON)."""
    characters = _font_characters()
    return "".join(c if ord(c) in characters or c.isspace() else "?" for c in text)


def _isolated(name: str) -> str:
    """A file name as a title embeds it: between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE (U+2068, U+2069),
    where matplotlib lays text out by Unicode's bidirectional algorithm (3.11 on, with libraqm: the isolates are
    drawn as nothing), so that a right-to-left name is one unit in its own direction and the title's words keep
    theirs: "ראיון_مقابلة.mp4: track 1, lstm" was drawn as "mp4: track 1, lstm.ראיון_مقابلة". Earlier versions
    draw each character left to right, and an isolate as a missing glyph's box; a name without a right-to-left
    letter (Hebrew's, Arabic's: bidirectional class R or AL) reads the same either way. Those are left as they are."""
    import unicodedata

    import matplotlib

    major, minor = (int(number) for number in re.findall(r"\d+", matplotlib.__version__)[:2])
    right_to_left = any(unicodedata.bidirectional(character) in ("R", "AL") for character in name)
    return f"\u2068{name}\u2069" if right_to_left and (major, minor) >= (3, 11) else name


def _timeline_bin_seconds(times: np.ndarray) -> int | None:
    """The width of the time bins a track's timeline draws its probabilities' means over (None: drawn row by row,
    a track of :data:`TIMELINE_BINNED_AFTER_SECONDS` or less)."""
    if len(times) < 2 or times[-1] - times[0] <= TIMELINE_BINNED_AFTER_SECONDS:
        return None
    span = times[-1] - times[0]
    return next((width for width in TIMELINE_BIN_SECONDS if span / width <= TIMELINE_MAX_BINS),
                TIMELINE_BIN_SECONDS[-1])


def _binned_means(times: np.ndarray, probabilities: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(the bins' middles, the mean probabilities of the rows in each): bins ``width`` seconds wide on the clock's
    multiples of it (0-5 s, 5-10 s, ...), those with no row (the track unseen) NaN, where its curves break."""
    first = math.floor(times[0] / width) * width
    which = ((times - first) // width).astype(np.int64)
    counts = np.bincount(which)
    sums = np.stack([np.bincount(which, weights=probabilities[:, i], minlength=len(counts))
                     for i in range(probabilities.shape[1])], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts[:, None] > 0, sums / counts[:, None], np.nan)
    return first + (np.arange(len(counts)) + 0.5) * width, means


def _marked_points(xs: np.ndarray, ys: np.ndarray, offset: float) -> list[int] | None:
    """The indices of the points of a timeline's curve that get a marker: :data:`TIMELINE_MARKS_PER_CURVE`, evenly
    spread over its time, ``offset`` (0-1) of a spacing in (each emotion's its own, so that the curves' markers do not
    stack); None (every point) for a curve of fewer than 3. Matplotlib's markevery as a fraction spaced them along
    the line's drawn length, which a curve's wiggles lengthen: a 10-minute track drew hundreds."""
    drawn = np.flatnonzero(np.isfinite(xs) & np.isfinite(ys))
    if len(drawn) < 3:
        return None
    start, end = xs[drawn[0]], xs[drawn[-1]]
    wanted = start + (np.arange(TIMELINE_MARKS_PER_CURVE) + offset) / TIMELINE_MARKS_PER_CURVE * (end - start)
    nearest = np.clip(np.searchsorted(xs[drawn], wanted), 0, len(drawn) - 1)
    return sorted({int(index) for index in drawn[nearest]})


def timeline_figure(log: TrackLog, source: str, duration: float | None = None, analysis: str = "",
                    start: float = 0.0):
    """One track's emotion probabilities over time, and a band of its labels, each row lasting until the next (its
    last one as the tracks JSON has it: :meth:`TrackLog._last_row_seconds`); with ``duration``, on the time axis of
    the stretch analysed (``start``, where the analysis began, to ``duration``), in the video's own times as the
    tables give them, so that a video's timelines line up with each other. ``analysis``: the method and window
    that made the labels (:attr:`VideoResult.analysis_text`), for the title. A track over
    :data:`TIMELINE_BINNED_AFTER_SECONDS` long draws its probabilities' means over time bins (the axis says how wide);
    each curve carries :data:`TIMELINE_MARKS_PER_CURVE` markers whatever its length."""
    # matplotlib's Figure, not pyplot: no global backend switch in the caller's notebook, and safe in the
    # server's worker threads
    prepare_matplotlib()  # a read-only home: matplotlib's warnings in the command's output
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patheffects import Normal, Stroke

    from fervid.inference.annotate import EMOTION_COLORS_BGR, EMOTION_DASHES, ink_bgr, needs_edge

    t, probs = log.series()
    fig = Figure(figsize=(10, 4), dpi=TIMELINE_DPI)
    FigureCanvasAgg(fig)  # laid out and drawn by Agg, as saved (save_timeline)
    ax, band = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 0.6]})
    gap_starts, gap_ends = np.array(log.gaps, float).reshape(-1, 2).T
    bin_seconds = _timeline_bin_seconds(t)
    if bin_seconds:  # a long track: each curve the means over its bins, an empty bin (the track unseen) a break
        shown_t, shown_p = _binned_means(t, probs, bin_seconds)
    else:
        step = max(1, len(t) // (4 * BAND_COLUMNS))  # a few points per pixel are enough for the curves
        # where the track was not seen (hidden, out of frame) for a gap (TrackLog.gaps), the curves break and the
        # band is left blank: a line across the gap drew labels for frames that have none. A stretch with no
        # frames at all is no gap: the row before it lasts across it.
        shown_t, shown_p = t[::step].astype(float), probs[::step].astype(float)
        ended = np.searchsorted(gap_ends, shown_t, side="right")  # the gaps over by each point shown
        breaks = np.flatnonzero(np.diff(ended)) + 1
        shown_t, shown_p = np.insert(shown_t, breaks, np.nan), np.insert(shown_p, breaks, np.nan, axis=0)
    for i, e in enumerate(EMOTIONS):
        b, g, r = EMOTION_COLORS_BGR[e]
        # colour is not the only cue: each emotion has its dashes and markers (staggered, so that the 7 curves' do
        # not stack at the same times); a point or two get a marker each, or nothing shows. A light colour (under
        # 3:1 on white) gets a dark edge, or its line fades into the background.
        ax.plot(shown_t, shown_p[:, i], label=e, color=(r / 255, g / 255, b / 255), lw=1.5,
                linestyle=(0, EMOTION_DASHES[e]) if EMOTION_DASHES[e] else "-", marker=TIMELINE_MARKERS[i], ms=4,
                markevery=_marked_points(shown_t, shown_p[:, i], (i + 0.5) / len(EMOTIONS)),
                path_effects=[Stroke(linewidth=2.5, foreground="0.3"), Normal()] if needs_edge((b, g, r)) else None)
    ax.set_ylabel(f"probability\n(mean per {bin_seconds} s)" if bin_seconds else "probability")
    ax.set_ylim(0, 1)
    ax.legend(ncol=7, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 1.18))
    ax.grid(alpha=0.3)
    # the label band, one image whatever the length: a column per pixel of the figure, each the label of the
    # frame shown there (one artist per run of labels grew with the flicker of hours of video)
    if len(t):
        last_row_end = t[-1] + log._last_row_seconds(duration)
        # one row lasting no time (a track seen on the video's last frame alone) is drawn its spacing wide: a band
        # of no width showed nothing, and matplotlib warned of "identical low and high xlims"
        if last_row_end <= t[0]:
            last_row_end = t[0] + log.spacing
        columns = np.linspace(t[0], last_row_end, BAND_COLUMNS, endpoint=False)
        shown = np.clip(np.searchsorted(t, columns, side="right") - 1, 0, len(t) - 1)
        labels = probs.argmax(1)[shown]
        within = np.searchsorted(gap_starts, columns, side="right") - 1  # the last gap started by each column
        unseen = within >= 0
        unseen[unseen] = columns[unseen] < gap_ends[within[unseen]]
        labels[unseen] = len(EMOTIONS)  # white
        palette = np.array([[EMOTION_COLORS_BGR[e][c] / 255 for c in (2, 1, 0)] for e in EMOTIONS] + [[1, 1, 1]])
        band.imshow(palette[labels][None], aspect="auto", interpolation="nearest",
                    extent=(t[0], last_row_end, 0, 1))
    band.set_yticks([])
    if duration:  # from --start's time, not 0: an axis from 0 left the stretch before it blank
        band.set_xlim(min(start, t[0]) if len(t) else start, max(duration, last_row_end if len(t) else 0))
    if len(t):  # each run of a label wide enough to hold its name says it: the band is read by more than colour
        column_seconds = columns[1] - columns[0]
        left, right = band.get_xlim()
        run_starts = np.flatnonzero(np.r_[True, np.diff(labels) != 0])
        for run_start, run_end in zip(run_starts, np.r_[run_starts[1:], len(labels)]):
            if labels[run_start] == len(EMOTIONS):  # unseen
                continue
            name = EMOTIONS[labels[run_start]]
            # about 6 px a character at 7 points and 100 dpi, in a band about 850 px wide
            if (run_end - run_start) * column_seconds / (right - left) * 850 >= 6 * len(name) + 10:
                ink = "white" if ink_bgr(EMOTION_COLORS_BGR[name]) == (255, 255, 255) else "black"
                band.text(columns[run_start] + (run_end - run_start) * column_seconds / 2, 0.5, name, ha="center",
                          va="center", fontsize=7, color=ink)
    _label_time_axis(band)
    fig.suptitle(f"{_isolated(_drawable(Path(source).name))}: track {log.track_id}"
                 + (f", {analysis}" if analysis else ""), y=1.02)
    fig.tight_layout()
    # laid out: no engine left to lay it out again as it is saved (save_timeline; tight_layout leaves one that
    # does nothing, and savefig draws the whole figure once more for any engine)
    fig.set_layout_engine(None)
    return fig


# Tick spacings a time axis in minutes reads well at, in seconds
CLOCK_TICKS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


def _label_time_axis(ax) -> None:
    """Seconds on a short axis; minutes and seconds (m:ss, or h:mm:ss) at whole-minute-friendly ticks on one of
    over two minutes: a 45-minute recording's axis read 0 to 2700 s."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    start, end = ax.get_xlim()
    if end - start <= 120:
        ax.set_xlabel("time (s)")
        return
    ax.xaxis.set_major_locator(MultipleLocator(next((s for s in CLOCK_TICKS if (end - start) / s <= 10),
                                                    CLOCK_TICKS[-1])))
    hours = end >= 3600

    def clock(seconds, _position):
        minutes, secs = divmod(int(round(seconds)), 60)
        return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

    ax.xaxis.set_major_formatter(FuncFormatter(clock))
    ax.set_xlabel("time (h:mm:ss)" if hours else "time (min:s)")


@contextlib.contextmanager
def _interrupt_held():
    """Ctrl-C (SIGINT) or SIGTERM during the block is delivered when the block ends (also when it raised); a second
    one at once (a stuck write can still be left). Only the main thread receives signals: elsewhere the block runs
    as it is; so does a signal the process ignores (a batch worker's) or whose handler Python did not set (an
    embedding program's: signal.signal could not put it back)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[tuple[int, object]] = []

    def hold(signum, frame):
        if received:
            raise KeyboardInterrupt(*(("SIGTERM",) if signum != signal.SIGINT else ()))
        received.append((signum, frame))

    previous = {}
    for number in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if number is not None and (callable(signal.getsignal(number)) or signal.getsignal(number) is signal.SIG_DFL):
            previous[number] = signal.signal(number, hold)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if received:
            signum, frame = received[0]
            handler = previous[signum]
            if callable(handler):  # Python's own raises KeyboardInterrupt; fervid's SIGTERM one too; others theirs
                handler(signum, frame)
            elif signum == signal.SIGINT:
                raise KeyboardInterrupt
            else:  # SIG_DFL: what the signal would have done, end the process
                signal.raise_signal(signum)


def check_encoder(source: str | Path) -> None:
    """Raise :class:`VideoError` where the ffmpeg binary that writes the annotated MP4 is not there (a frozen
    desktop build without it, ``IMAGEIO_FFMPEG_EXE`` naming a file gone), saying that ``annotate=False`` needs none.

    Checked before the first frame is read, rather than writing the other outputs and leaving the MP4 out: the copy
    was asked for (``annotate`` is on by default), and found missing only after the analysis was a failure met
    mid-video (its rows cut off there) or an hour's work without the file an application goes on to open; said at
    once, it costs nothing and the one setting that does without the binary is in the message."""
    import shutil

    import imageio_ffmpeg

    named = os.environ.get("IMAGEIO_FFMPEG_EXE")
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()  # IMAGEIO_FFMPEG_EXE as it is, else the binary it ships or finds
    except RuntimeError:  # none shipped for this platform, none installed
        exe = None
    if exe is not None and shutil.which(exe) is not None:  # (a path, or a name looked up on PATH)
        return
    missing = (f"IMAGEIO_FFMPEG_EXE names {named}, which is not there (or not a program)" if named else
               f"the ffmpeg binary {exe} is not there" if exe else
               "imageio-ffmpeg found no ffmpeg binary (install ffmpeg, or set IMAGEIO_FFMPEG_EXE to one)")
    raise VideoError(f"{source}: the annotated video is written by an ffmpeg binary, and {missing}; analyse with "
                     "annotate=False (fervid video --no-annotate), which writes every other output without it")


def ffmpeg_path(path: str | Path) -> str:
    """A file's path as the ffmpeg binary's command line takes it: one starting with "-" (``--out -res``) is read as
    an option where an output goes, and "-" as standard input, so it gets "./" before it, as one read as a
    protocol's URL does (:func:`fervid.inference.images.as_local_file`)."""
    text = str(path)
    return f"./{text}" if text.startswith("-") else as_local_file(text)


def _ended_children_cpu_seconds() -> float | None:
    """CPU seconds (user and system) of the child processes of this process that have ended, None where the
    platform does not count them (Windows). Taken before and after the encoder ends, the difference is its CPU time
    (the ffmpeg process that imageio-ffmpeg runs is not handed out), and another child ending in that moment (the
    server analysing two videos at once) is counted in it too."""
    try:
        import resource
    except ImportError:
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


ENCODER_MESSAGES_KEPT = 2  # the annotated MP4's encoder's first and last distinct messages carried into its error
ENCODER_END_WAIT_S = 5.0  # how long a failure's error waits for the ended encoder's last words


class H264Writer:
    """Browser-playable MP4 (H.264, yuv420p, faststart) through the ffmpeg binary shipped by imageio-ffmpeg (or the
    one IMAGEIO_FFMPEG_EXE names), run by fervid with the frames on its standard input. Not through
    imageio-ffmpeg's write_frames, which takes no environment for it: in an app frozen by PyInstaller the encoder
    inherited the bundle's LD_LIBRARY_PATH (:func:`fervid.machine.program_environment`)."""

    def __init__(self, path: Path, width: int, height: int, fps: float, audio_from: Path | None = None,
                 preset: str = ANNOTATED_PRESET, crf: int = ANNOTATED_CRF):
        """``audio_from``: a file whose (first) audio stream the MP4 carries too, from the file's start, as long as
        the frames written. ``preset``, ``crf``: x264's (speed against size, and quality)."""
        import subprocess
        from fractions import Fraction

        import imageio_ffmpeg

        self.path, self.fps = path, fps
        self.audio_from = audio_from
        self.frames = 0
        self.encoder_cpu_seconds: float | None = None  # the ffmpeg encoder's CPU time, once closed (where known)
        self.size = (width + width % 2, height + height % 2)  # yuv420p needs even sides
        # the rate as a fraction (29.97 as 2997/100), not rounded
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{self.size[0]}x{self.size[1]}",
                   "-r", str(Fraction(fps).limit_denominator()), "-i", "-", "-an",
                   "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf), "-preset", preset,
                   "-movflags", "+faststart", ffmpeg_path(path)]
        self._encoder = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, env=program_environment(), **_ffmpeg_popen_options())
        assert self._encoder.stdin is not None and self._encoder.stderr is not None  # (PIPE)
        self._frames_in = self._encoder.stdin
        self._failure_said = False  # (an encoder that ended early is said once, at the frame it did not take)
        # its messages still go to this process's standard error as they come, and its last ones into the error of
        # a failed encode: "its message, if any, is above" was no help in a server job's JSON `error`
        # its first distinct messages (the cause: "Error setting preset") and its last (the outcome)
        self._first_messages: list[str] = []
        self._last_messages: deque[str] = deque(maxlen=ENCODER_MESSAGES_KEPT)
        self._messages_left_out = False
        self._messages_read = threading.Thread(target=self._read_messages, args=(self._encoder.stderr,), daemon=True)
        self._messages_read.start()

    def _read_messages(self, messages: IO[bytes]) -> None:
        with messages:
            for raw in messages:
                with contextlib.suppress(Exception):  # (no standard error: a windowed app's; or closed)
                    if sys.stderr is not None:
                        sys.stderr.write(raw.decode("utf-8", "replace"))
                        sys.stderr.flush()
                line = re.sub(r" @ 0x[0-9a-fA-F]+\]", "]", raw.decode("utf-8", "replace").strip())
                if not line or line.startswith("Last message repeated") \
                        or line in self._first_messages or line in self._last_messages:
                    continue
                line = line if len(line) <= 300 else line[:299] + "…"
                if len(self._first_messages) < ENCODER_MESSAGES_KEPT:
                    self._first_messages.append(line)
                else:
                    self._messages_left_out |= len(self._last_messages) == self._last_messages.maxlen
                    self._last_messages.append(line)

    def _said(self) -> str:
        """What the ended encoder said, for a failure's message: its last lines, or that it said nothing."""
        with contextlib.suppress(Exception):
            self._encoder.wait(ENCODER_END_WAIT_S)  # (ending: it closed its input)
        self._messages_read.join(ENCODER_END_WAIT_S)
        if self._encoder.returncode is None:
            status = "still running"
        elif self._encoder.returncode < 0:
            status = f"ended by signal {-self._encoder.returncode}"
        else:
            status = f"exit status {self._encoder.returncode}"
        messages = [*self._first_messages, *(["…"] if self._messages_left_out else []), *self._last_messages]
        return f"{status}; ffmpeg said: {' | '.join(messages)}" if messages else f"{status}, with no message"

    def write(self, frame_bgr: np.ndarray) -> None:
        h, w = frame_bgr.shape[:2]
        if (w, h) != self.size:
            frame_bgr = cv2.copyMakeBorder(frame_bgr, 0, self.size[1] - h, 0, self.size[0] - w, cv2.BORDER_CONSTANT)
        # A Ctrl-C raised while a frame goes into ffmpeg's pipe (most often while waiting for room there) would leave
        # part of a frame in it, and every frame after it shifted: the interrupt is held until the frame is written,
        # and the video in hand is then closed properly
        with _interrupt_held():
            try:
                self._frames_in.write(np.ascontiguousarray(frame_bgr))
            except BrokenPipeError as error:
                self._failure_said = True
                raise OSError(f"{self.path}: the ffmpeg encoder ended before frame {self.frames} was written "
                              f"({self._said()})") from error
        self.frames += 1

    def close(self) -> None:
        with _interrupt_held():  # ffmpeg finishes encoding and writes the index: killed then, nothing plays the file
            before = _ended_children_cpu_seconds()
            try:
                self._frames_in.close()  # the end of the frames: ffmpeg encodes what it holds, and ends
            except BrokenPipeError:  # it ended already (its messages read meanwhile): reaped below
                pass
            try:
                self._encoder.wait()
            finally:  # a second Ctrl-C, which is not held: not waited for
                if self._encoder.poll() is None:
                    self._encoder.kill()
                    self._encoder.wait()
            self._messages_read.join(ENCODER_END_WAIT_S)  # its last messages said before the video is said written
            after = _ended_children_cpu_seconds()
            if before is not None and after is not None:  # (None: no getrusage, on Windows)
                self.encoder_cpu_seconds = after - before
            # an encoder failing as it finishes (a full disk as it writes the index) leaves an MP4 nothing plays,
            # which was said written
            if self._encoder.returncode != 0 and not self._failure_said:
                self._failure_said = True
                raise OSError(f"{self.path}: the ffmpeg encoder failed as it finished the video ({self._said()})")
            if self.audio_from is not None and self.frames:
                self._add_sound()

    def _add_sound(self) -> None:
        """The sound goes in once the frames are written, cut to their span: given to the encoder with them, a
        run stopped 10 s into a 45-min recording encoded 45 minutes of sound on closing (a cut at the shorter
        stream would instead cut frames where the sound ends first). Where it fails, the video stays silent."""
        import subprocess

        import imageio_ffmpeg

        try:
            ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
        except RuntimeError:  # no ffmpeg binary (imageio-ffmpeg ships none for this platform)
            return
        audio_from = self.audio_from
        assert audio_from is not None  # (close() adds sound only where there is some to take)
        silent = self.path.with_name(f".{self.path.name}.silent.mp4")
        self.path.replace(silent)
        command = [ffmpeg, "-v", "error", "-y", "-i", ffmpeg_path(silent),
                   "-t", f"{self.frames / self.fps:.3f}", "-i", ffmpeg_path(audio_from),
                   "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k",
                   "-movflags", "+faststart", ffmpeg_path(self.path)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=600, env=program_environment(),
                                  creationflags=program_creationflags()).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            done = False
        if done:
            silent.unlink()
        else:
            silent.replace(self.path)


# Non-square pixels (anamorphic video: DV, DVD, HDV's 1440x1080, the carphone sample's 128:117): a frame is analysed,
# annotated and its boxes reported as players show it, as rotation metadata is applied. The side the sample aspect
# ratio (SAR) squeezes is stretched (the width where pixels are wider than tall, else the height), so no coded
# pixel is thrown away; a SAR within 1% of square is left as it is.
SQUARE_PIXELS_TOLERANCE = 0.01


def _ratio(numerator: str, denominator: str) -> float:
    """A sample aspect ratio as showinfo writes it (its two parts); 1 where it gives none (0/1, 0/0)."""
    return int(numerator) / int(denominator) if int(numerator) > 0 and int(denominator) > 0 else 1.0


def _display_size(width: int, height: int, sar: float) -> tuple[int, int]:
    """The (width, height) at which a frame of ``width`` x ``height`` pixels of sample aspect ratio ``sar`` (a
    pixel's width over its height) shows (:data:`SQUARE_PIXELS_TOLERANCE`)."""
    if not (math.isfinite(sar) and sar > 0) or max(sar, 1 / sar) <= 1 + SQUARE_PIXELS_TOLERANCE:
        return width, height
    return (max(1, round(width * sar)), height) if sar > 1 else (width, max(1, round(height / sar)))


def _square_pixels(frame: np.ndarray, sar: float) -> np.ndarray:
    """``frame`` as it shows (:func:`_display_size`)."""
    h, w = frame.shape[:2]
    size = _display_size(w, h, sar)
    return frame if size == (w, h) else cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)


def _opencv_sar(cap: cv2.VideoCapture) -> float:
    """The sample aspect ratio of the frames OpenCV hands out: the stream's, turned with the picture where OpenCV
    applies a quarter-turn rotation (its frames are then turned, its SAR not); 1.0 where unknown or square."""
    num, den = cap.get(cv2.CAP_PROP_SAR_NUM), cap.get(cv2.CAP_PROP_SAR_DEN)
    if not (num > 0 and den > 0):
        return 1.0
    sar = num / den
    if cap.get(cv2.CAP_PROP_ORIENTATION_AUTO) and round(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 180 == 90:
        sar = 1 / sar
    return 1.0 if _display_size(1000, 1000, sar) == (1000, 1000) else sar


# how far after the time sought the frame a seek landed on may be: timestamps kept to the millisecond (Matroska,
# WebM) read up to half of one late; a frame later than that may have left frames out (_CheckedCapture.seek)
SEEK_SLACK_SECONDS = 1e-3


# OpenCV's grab() says False at the end of a video and also at a packet FFmpeg's decoder refuses: an empty one
# (avcodec_send_packet refuses an empty packet that has data, as a demuxer's are), which Theora in Ogg holds for each
# frame unchanged from the one before (a still picture, a dropped frame). Each costs one False, and the next grab
# goes on with the frames after it, at their own times. Taken for the end, a Theora video whose second frame repeats
# its first read no frame at all ("no video frames could be decoded (corrupt?)": the decoder gives a frame one packet
# late), and one that moved first stopped at its first still moment ("truncated or corrupt"). A False is taken for
# the end only after as many grabs as the container has frames left, and a second's more, all failed too (a grab at
# the end costs 40 us: a millisecond a video); where the container gives no length (a Matroska written to a pipe: a
# frame count of 0 or below), after STILL_SECONDS_UNTIMED's.
STILL_SECONDS_UNTIMED = 60.0


def holds_repeat_packets(header: str) -> bool:
    """Whether a video's stream is one whose unchanged frames are empty packets (Theora's, ``header`` FFmpeg's
    description of the file): only there is a failed grab tried again (:func:`_grab_past_refused`). Any other
    codec's False is its end or a break: an H.264 MP4 with a zeroed stretch (30% of its data) was read past it, as
    whole ("ok", its last emotion lasting through the gap), where it is said "truncated or corrupt"."""
    return re.search(r"\bVideo: theora\b", header) is not None


def _grab_past_refused(cap: cv2.VideoCapture, after_seconds: float) -> tuple[bool, int]:
    """``cap.grab()`` (OpenCV's reader) past the packets its decoder refuses, ``after_seconds`` the time (on the
    video stream's clock) of the frame before; and how many grabs failed before the one that did not (or all)."""
    if cap.grab():
        return True, 0
    fps = usable_fps(cap.get(cv2.CAP_PROP_FPS)) or 30.0
    length = container_seconds(cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT))
    left = max(0.0, length - after_seconds) if length is not None else STILL_SECONDS_UNTIMED
    tries = math.ceil((left + 1.0) * fps)
    for refused in range(1, tries + 1):
        if cap.grab():
            return True, refused
    return False, tries + 1


class _CheckedCapture:
    """An opened ``cv2.VideoCapture`` (or :class:`_FFmpegCapture`) whose first frame was decoded to check the file;
    its first ``read()`` hands that frame out. Seeking back to frame 0 instead lost the only frame of a one-frame
    video (OpenCV's FFmpeg reader cannot rewind past its end), and a container that cannot seek at all would lose
    it too. Until the second read the decoder's position (``CAP_PROP_POS_MSEC``) is still the first frame's.
    Frames of non-square pixels (``sar``) are handed out as they show (:func:`_square_pixels`). ``hdr``: "PQ" or
    "HLG" for an HDR video (None otherwise), ``tone_mapped``: whether its frames are tone-mapped to SDR."""

    def __init__(self, cap, first_frame: np.ndarray, sar: float = 1.0, header: str = "", hdr: str | None = None,
                 tone_mapped: bool = False, path: Path | None = None, refused_packets: int = 0):
        self._cap, self._sar, self._path = cap, sar, path
        self._sought_grabbed = False  # the frame a seek landed on, grabbed to check it: the next grab hands it out
        self.header = header  # FFmpeg's description of the file (its streams), "" where it gave none
        self._repeat_packets = holds_repeat_packets(header)
        self.hdr, self.tone_mapped = hdr, tone_mapped
        self._first_frame: np.ndarray | None = _square_pixels(first_frame, sar) if sar != 1.0 else first_frame
        self._first_grabbed: np.ndarray | None = None  # the first frame, grabbed and not yet retrieved
        # the time (on the video stream's clock) of the frame OpenCV's reader gave last, and how many packets it
        # refused before a frame (:func:`_grab_past_refused`; the ones at the end are not told from the end's)
        self._last_seconds, self.refused_packets = 0.0, refused_packets
        self.frame_shape = self._first_frame.shape  # (height, width, 3) of the frames it hands out
        # a file OpenCV reads (path given) is watched for frames that stop changing (_FrozenFrames)
        self._frozen = _FrozenFrames(path, first_frame) if path is not None else None

    def grab(self) -> bool:
        """Decode the next frame, not yet converted to BGR (:meth:`retrieve` hands it out); False at the end. Its
        time (``CAP_PROP_POS_MSEC``) is known from here: frames passed over by --sample-fps are grabbed only, as
        converting each cost the decoding a seventh of its time at 640x480 and a quarter at 1080p."""
        if self._first_frame is not None:
            self._first_grabbed, self._first_frame = self._first_frame, None
            return True
        self._first_grabbed = None
        if self._sought_grabbed:
            self._sought_grabbed = False
            return True
        # (ffmpeg's pipe ends at the video's end: it skips empty packets.) A camera's or a stream's failed grab is
        # not tried again: each may wait out the read timeout, and STILL_SECONDS_UNTIMED's tries of a stream that
        # dropped would hang for hours before its reconnect
        if isinstance(self._cap, _FFmpegCapture) or self._path is None:
            return self._cap.grab()
        return self._grab_opencv()

    def _grab_opencv(self) -> bool:
        """OpenCV's next frame, past the packets its decoder refuses where its codec holds repeats so
        (:func:`holds_repeat_packets`, :func:`_grab_past_refused`)."""
        if not self._repeat_packets:
            return self._cap.grab()
        ok, refused = _grab_past_refused(self._cap, self._last_seconds)
        if ok:
            self._last_seconds = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            self.refused_packets += refused
        return ok

    def retrieve(self) -> tuple[bool, np.ndarray | None]:
        """The frame last grabbed, in BGR, as it shows."""
        if self._first_grabbed is not None:
            frame, self._first_grabbed = self._first_grabbed, None
            return True, frame
        ok, frame = self._cap.retrieve()
        if ok and self._frozen is not None and self._frozen.still(frame):
            self._frozen.check(self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 + self.video_start, frame)
        if ok and self._sar != 1.0:
            frame = _square_pixels(frame, self._sar)
        return ok, frame

    def read(self) -> tuple[bool, np.ndarray | None]:
        return self.retrieve() if self.grab() else (False, None)

    def get(self, prop: int) -> float:
        return self._cap.get(prop)

    def seek(self, seconds: float) -> int | None:
        """Go to the last frame at or before ``seconds`` on the file's timeline (OpenCV's reader: to the keyframe
        before it, then decoding up to it), so that the next read is that frame; its number in the file is returned.
        None where the reader cannot: the next read is the file's first frame, and the frames up to ``seconds`` are
        read and passed over (the ffmpeg binary's pipe, a container that cannot seek, a Theora stream whose repeated
        frames stopped OpenCV's seek, and a seek that did not land where asked: its first frame is checked, as
        OpenCV's set() says True regardless. On an MPEG-TS the next read failed, taken for the file's end: nothing
        was analysed; on a variable-frame-rate video its seek, timed by the average rate, landed seconds past the
        start and the frames between were silently left out)."""
        if isinstance(self._cap, _FFmpegCapture) or self._path is None:
            return None
        fps = self.frame_rate or 30.0
        # half a frame early: the frame nearest the time set is the one at or before ``seconds``
        if not self._cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, seconds - 0.5 / fps - self.video_start) * 1000.0):
            return None
        self._first_frame = self._first_grabbed = None  # (the frame at 0, held since the file was opened)
        index = round(self._cap.get(cv2.CAP_PROP_POS_FRAMES))
        # A Theora stream whose frames repeat (empty packets) between its key frame and the time asked: OpenCV's
        # seek decodes on from the key frame, stops at the first empty packet and no longer knows its frame number
        # (a negative one); the reader is then back at the stream's start, its repeats ahead. Grabbed past them as
        # if it were at the time asked (too few tries), the seek failed, and the read from the start did too: a
        # clip whose first picture is held 2 s of its 3 s said "no frame in the stretch from 2.4 s"
        if not (self._repeat_packets and index < 0):
            self._last_seconds = max(0.0, seconds - self.video_start)
            landed = self._grab_opencv()
            if landed and (self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 + self.video_start
                           <= seconds + SEEK_SLACK_SECONDS):
                self._sought_grabbed = True
                return max(0, index)
        # read from the start instead, on the file opened again (the reader's state after a failed seek is unknown),
        # its repeated frames counted from there
        self._cap.release()
        self._cap = video_capture(opencv_name(self._path) or str(self._path))  # (opened by that name before)
        self._last_seconds = 0.0
        return None

    @property
    def video_start(self) -> float:
        """Seconds from the file's start to its video stream's (the timeline its sound is cut on, FFmpeg's
        ``-ss``): OpenCV's frame times count from the video stream's own start, which an MPEG-TS or an MP4 edit
        list puts after the audio's; the ffmpeg decoder's count from the file's (0 here)."""
        return 0.0 if isinstance(self._cap, _FFmpegCapture) else _picture_start(self.header)

    @property
    def decoded_by_ffmpeg_for_interlacing(self) -> bool:
        """Read through the ffmpeg binary because it is interlaced (not only to tone-map an HDR video)."""
        return isinstance(self._cap, _FFmpegCapture) and self._cap.deinterlace

    @property
    def frame_rate(self) -> float | None:
        """The rate to time the video's frames by: its container's (:func:`usable_fps`), else FFmpeg's guess of the
        stream's base rate ("tbr") where that is usable; None where neither is. A raw DV file's container reports its
        60000 time base as its rate, its header "25 tbr": it was timed at the 30 fps fallback."""
        return usable_fps(self._cap.get(cv2.CAP_PROP_FPS)) or usable_fps(self._base_rate)

    @property
    def seconds_expected(self) -> float:
        """The video's length as its container gives it (:func:`container_seconds`); 0 where it gives none (a camera,
        a live stream)."""
        return container_seconds(self._cap.get(cv2.CAP_PROP_FPS), self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0.0

    @property
    def _base_rate(self) -> float:
        """FFmpeg's guess of the video stream's base rate ("tbr" in its header), 0 where it gives none."""
        base = re.search(r", ([0-9.]+) tbr", _video_stream_line(self.header))
        return float(base.group(1)) if base else 0.0

    def motion_rate(self, fps: float) -> float:
        """The rate to write a copy of the video at: ``fps`` (its container's average), or FFmpeg's guess of its base
        rate ("tbr") where that is higher. A variable-frame-rate recording (a phone under load, a screen or call
        recording: no frame while the picture is still) averages below the rate of its busy stretches, and a copy
        at the average left a third of a probe's frames out there."""
        rate = self._base_rate
        return rate if fps * 1.05 < rate <= 120.0 else fps

    @property
    def frame_size_changes(self) -> list[dict] | None:
        """Where the recordings' frame size changes ({"time", "width", "height"}, as it shows), as the ffmpeg
        binary's decoding found it; None from OpenCV's reader, which cannot tell (:func:`_frame_size_changes`)."""
        return self._cap.size_changes if isinstance(self._cap, _FFmpegCapture) else None

    def release(self) -> None:
        self._first_frame = self._first_grabbed = None
        self._cap.release()


# FFmpeg's log level for the captures OpenCV opens, unless the environment sets one: -8 (AV_LOG_QUIET). OpenCV reads
# OPENCV_FFMPEG_LOGLEVEL once, as its first FFmpeg capture opens
FFMPEG_LOG_LEVEL_VARIABLE, FFMPEG_LOG_QUIET = "OPENCV_FFMPEG_LOGLEVEL", "-8"


@functools.cache
def quiet_ffmpeg_log() -> None:
    """FFmpeg's own log lines ("[mov,mp4,...] moov atom not found", "[h264 @ 0x...] error while decoding MB") kept
    off the process's stderr, where an application embedding fervid had them among its own output (the command line
    alone silenced them): fervid says what is wrong with a video itself, naming it (:class:`VideoError`, a result's
    ``error``). A level set in the environment (``OPENCV_FFMPEG_LOGLEVEL=16``: errors) is kept. Called before each
    capture is opened (:func:`video_capture`); OpenCV reads the level as its first FFmpeg capture opens, so a capture
    the application opened before fervid's keeps FFmpeg's default."""
    os.environ.setdefault(FFMPEG_LOG_LEVEL_VARIABLE, FFMPEG_LOG_QUIET)


def video_capture(*args) -> cv2.VideoCapture:
    """``cv2.VideoCapture(*args)``, FFmpeg's own log lines silenced first (:func:`quiet_ffmpeg_log`): every capture
    fervid opens is opened so."""
    quiet_ffmpeg_log()
    return cv2.VideoCapture(*args)


@dataclass(frozen=True)
class ContainerFacts:
    """What a video's container says of it, no frame decoded: ``seconds`` (:func:`container_seconds`; None where it
    gives none), ``fps`` (:func:`usable_fps`, 0 where unknown) and ``width`` x ``height``."""

    seconds: float | None
    fps: float
    width: int
    height: int


def usable_fps(fps: float | None) -> float | None:
    """A container's frame rate where it is one to time frames by, else None: FFmpeg reports 0 or NaN where a
    container gives none, and 1000 (the time base of Matroska/WebM and FLV) where the rate varies."""
    return fps if fps is not None and math.isfinite(fps) and 0 < fps < 1000 else None


def container_seconds(fps: float, count: float) -> float | None:
    """A video's length as its container gives it, from OpenCV's frame rate and count: the count over that rate,
    whatever the rate is (OpenCV makes the count from the stream's length and its rate: 120000 for a 2 s raw DV at its
    "60000 fps", which is no rate to time frames by, :func:`usable_fps`; counted at the 30 fps fallback it made
    4000 s); None where either is missing. Not FFmpeg's "Duration": that is the longest stream's, and sound going on
    after the pictures is no truncated video."""
    usable = math.isfinite(fps) and fps > 0 and math.isfinite(count) and count > 0
    return count / fps if usable else None


def container_facts(path: str | Path) -> ContainerFacts:
    name = opencv_name(path)
    if name is None or not utf8_name(str(path)):  # OpenCV cannot be given it: nothing is known of it
        return ContainerFacts(None, 0.0, 0, 0)
    cap = video_capture(name)
    try:
        fps, count = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    return ContainerFacts(container_seconds(fps, count), usable_fps(fps) or 0.0, width, height)


def _picture_start(header: str) -> float:
    """Seconds from a file's start to its video stream's, from FFmpeg's ``header``: where OpenCV's frame times
    start on the file's timeline (0 where the header does not say)."""
    stream = re.search(r", start (-?[0-9.]+)", _video_stream_line(header))
    container = _CONTAINER_START.search(header)
    return max(0.0, float(stream.group(1)) - (float(container.group(1)) if container else 0.0)) if stream else 0.0


def times_offset_before_2026_12_06(path: str | Path) -> float:
    """How much earlier than the file's timeline the times fervid wrote for ``path`` before 2026-12-06 (its outputs
    record no ``fervid`` version) are: its video stream's start, where OpenCV read it (the ffmpeg binary's reading,
    of interlaced files, counted from the file's start already). 0 for most files; an MP4 edit list's or an MPEG-TS's
    sound before the pictures."""
    cap = open_video(path)
    try:
        return 0.0 if cap.decoded_by_ffmpeg_for_interlacing else _picture_start(cap.header)
    finally:
        cap.release()


def open_video(path: str | Path, max_pixels: int = MAX_FRAME_PIXELS, limit_name: str = "") -> _CheckedCapture:
    """The video ``path`` opened, its first frame decoded and checked; a :class:`VideoError` naming the file and
    why it cannot be read. ``max_pixels``: frames larger than this are refused before one is decoded, by the size
    FFmpeg's header (or OpenCV's reader) gives (``limit_name``: the setting it comes from, named in the refusal)."""
    if isinstance(path, str) and is_url(path) and not Path(path).exists():  # Path("http://x") is "http:/x"
        raise VideoError(f"{masked_source(path)}: a URL: fervid reads video files (it works offline): download it "
                         "and give its path; `fervid live --source URL` analyses a stream or a video served over the "
                         "network as it plays")
    path = Path(path)
    if not utf8_name(str(path)):  # OpenCV's VideoCapture crashes the whole process (SIGSEGV) on such a name
        raise VideoError(f"{printable_name(str(path))}: {not_utf8_reason(str(path))} (OpenCV cannot open it)")
    name = opencv_name(path)
    if name is None:  # bytes of the locale's encoding (Latin-1), not UTF-8: OpenCV cannot be given them
        raise VideoError(f"{path}: OpenCV, which reads videos, opens only names whose bytes are UTF-8, and this "
                         f"one's are {sys.getfilesystemencoding()} (the locale's); rename the file")
    check_input_file(path, "video", VideoError)
    still = _still_image_format(path)
    if still:  # FFmpeg would open it as a one-frame "video" and the analysis would "succeed" on nothing
        raise StillImageError(f"{path}: a {still} image, not a video")
    probe = _FirstFrameProbe(path)  # runs while OpenCV opens the file
    cap = None
    try:
        cap = video_capture(name)
        probe.read()
    except BaseException:  # Ctrl-C while the probe runs: neither the probe nor the capture is left open
        probe.close()
        if cap is not None:
            cap.release()
        raise
    if sound := _sound_only(probe.header):  # OpenCV read cover art as a one-frame video
        cap.release()
        raise VideoError(f"{path}: {sound}")
    declared = _declared_frame_size(probe.header) or (
        (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) if cap.isOpened() else None)
    if declared and declared[0] * declared[1] > max_pixels:
        cap.release()
        raise _frames_too_large(path, *declared, max_pixels, limit_name)
    colours = _hdr_colours(probe.header)
    hdr = HDR_TRANSFERS[colours[0]] if colours else None
    tone_map = _tone_map_filter(*colours) if colours and _can_tone_map() else ""
    interlaced = probe.interlaced
    fps, count = (cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else (0, 0)
    if interlaced or tone_map:
        if tone_map:
            try:
                mapped = _open_through_ffmpeg(path, fps, count, interlaced, tone_map)
            except BaseException:
                cap.release()
                raise
            if mapped is not None:
                cap.release()
                return _CheckedCapture(*mapped, header=probe.header, hdr=hdr, tone_mapped=True)
            # the tone-mapping gave no frame (colour tags zscale cannot follow, or a broken file): read as before
        if interlaced:
            cap.release()
            return _open_deinterlaced(path, fps, count, probe.header, hdr)
    if not cap.isOpened():
        why = _why_unreadable(path, probe.header) or _not_a_video(path) or (
            "not a video fervid can read (OpenCV's FFmpeg, which decodes videos, cannot read its format or codec)")
        raise VideoError(f"{path}: {why}")
    # (read once ffmpeg has said the video is not interlaced: OpenCV's read of an interlaced frame prints swscale's
    # error on the terminal)
    grabbed, refused = _grab_past_refused(cap, 0.0) if holds_repeat_packets(probe.header) else (cap.grab(), 0)
    ok, first_frame = cap.retrieve() if grabbed else (False, None)
    if not ok or first_frame is None:  # (one and the same: a frame comes with ok)
        cap.release()
        why = (_why_unreadable(path, probe.header) or _not_a_video(path)
               or "no video frames could be decoded (corrupt?)")
        raise VideoError(f"{path}: {why}")
    if first_frame.shape[0] * first_frame.shape[1] > max_pixels:  # where neither header gave the size
        cap.release()
        raise _frames_too_large(path, first_frame.shape[1], first_frame.shape[0], max_pixels, limit_name)
    if _another_picture(first_frame, probe.thumbnail):  # OpenCV's buffer was not written: ffmpeg reads it
        cap.release()
        return _open_deinterlaced(path, fps, count, probe.header, hdr)
    return _CheckedCapture(cap, first_frame, _opencv_sar(cap), probe.header, hdr, path=path, refused_packets=refused)


# Interlaced video (MPEG-2 .mpg/.vob, camcorders' .mts/.m2ts, DV): OpenCV's FFmpeg (swscale of FFmpeg 8 and later)
# refuses to convert an interlaced frame ("Cannot convert interlaced to progressive frames") yet `read()` says ok
# and hands out its conversion buffer untouched: black, noise, or another video's frame (freed memory of an earlier
# capture that OpenCV's buffer was given again). Such a video is decoded by the ffmpeg binary instead, deinterlaced
# (bwdif: each frame marked interlaced becomes one progressive frame at the video's rate; progressive frames pass
# untouched). A video is taken as interlaced when FFmpeg's header gives its stream a field order ("top first", ...)
# or its first frame is marked interlaced. The header alone is not enough: a container's field order is whatever
# the muxer wrote (interlaced H.264 or MPEG-2 remuxed into Matroska with -field_order progressive, DV in a .mov or
# .mkv of a progressive source) and says "progressive" over interlaced frames, which were analysed as noise, or as
# the video before's last frame with a frozen box in every row.
_FIELD_ORDER = re.compile(r"\b(?:top|bottom) (?:coded )?first\b")
# showinfo's line of one frame: its time, sample aspect ratio, size and interlacing (P, T or B)
_SHOWINFO = re.compile(r"\bn:\s*\d+\s+pts:\s*\S+\s+pts_time:(\S+).*?\bsar:(\d+)/(\d+)\s+s:(\d+)x(\d+)\s+i:([PTB])")


def _ffmpeg_popen_options() -> dict:
    """Popen options that keep a Ctrl-C or SIGTERM sent to fervid's process group from ending ffmpeg under it:
    fervid decides when its decoder stops (`fervid live` ends a file source cleanly on Ctrl-C); and no console
    window of its own (:func:`fervid.machine.program_creationflags`)."""
    import subprocess
    import sys

    if sys.platform.startswith("win"):
        return {"creationflags": program_creationflags(subprocess.CREATE_NEW_PROCESS_GROUP)}
    return {"start_new_session": True, "creationflags": program_creationflags()}


def _video_stream_lines(header: str) -> list[str]:
    """The lines of FFmpeg's header that describe the file's video streams, cover art (attached pictures) apart."""
    return [line for line in header.split("Stream mapping:")[0].splitlines()
            if re.search(r"Stream #\d+:\d+.*: Video: ", line) and "(attached pic)" not in line]


def _declared_frame_size(header: str) -> tuple[int, int] | None:
    """(width, height) of the decoded video stream's frames as FFmpeg's header gives them, None where it does not."""
    size = re.search(r", (\d+)x(\d+)\b", _video_stream_line(header))
    return (int(size[1]), int(size[2])) if size else None


def _frames_too_large(path: Path, width: int, height: int, max_pixels: int,
                      limit_name: str = "") -> VideoFramesTooLargeError:
    """The refusal of a video whose frames are over ``max_pixels`` (:data:`MAX_FRAME_PIXELS`), said as an image's
    over its limit is."""
    megapixels, limit = width * height / 1e6, max_pixels / 1e6
    return VideoFramesTooLargeError(
        f"{path}: frames too large: {width} x {height} ({megapixels_text(megapixels, limit)} megapixels; the limit is "
        f"{limit:g}" + (f", {limit_name})" if limit_name else ")"), megapixels, limit)


def _video_stream_line(header: str) -> str:
    """The line of FFmpeg's header that describes the video stream decoded (the first that is not cover art)."""
    return next(iter(_video_stream_lines(header)), "")


# OpenCV's first frame is checked against the ffmpeg binary's (a grey copy of each, FIRST_FRAME_THUMBNAIL pixels a
# side): where they differ by more than FIRST_FRAME_DIFFERENCE grey levels on average, OpenCV handed out something
# other than the picture (its buffer left unwritten, whatever the cause) and the video is read through ffmpeg. On 80
# probe files of every kind (codecs, containers, rotations, non-square pixels, 10-bit, GIF) the same picture differed
# by at most 1.3; OpenCV's unwritten buffer of an interlaced file (black, noise or another video's frame) by 70 and
# more. Decoding that frame (for its interlacing mark and this check) costs a video, on a 2-core AMD EPYC under load,
# 12 ms of CPU for the carphone sample, 40 ms for a 1080p H.264 and 170 ms for a 4K HEVC (0.02, 0.1 and 0.35 s of
# wall time): once per file, against seconds to minutes of analysis.
FIRST_FRAME_THUMBNAIL = 32
FIRST_FRAME_DIFFERENCE = 16.0


def _one_frame_command(path: Path, seconds: float | None = None) -> list[str]:
    """The ffmpeg command that decodes one frame of ``path``'s video stream (its first, or the first from
    ``seconds`` on the file's timeline), describes it on its log (showinfo: interlaced or not) and writes a grey copy
    of it, FIRST_FRAME_THUMBNAIL pixels a side, to its output (:func:`_described_frame`). One decoding thread: the
    frame comes no later, and a frame-threaded decoder decodes as many frames as it has threads to give it."""
    import imageio_ffmpeg

    side = FIRST_FRAME_THUMBNAIL
    return [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-threads", "1",
            *(["-ss", f"{seconds:.4f}"] if seconds is not None else []), "-i", ffmpeg_path(path),
            "-map", "0:V:0", "-frames:v", "1", "-an", "-sn", "-dn", "-fps_mode", "passthrough",
            "-vf", f"showinfo,scale={side}:{side}:flags=area,format=gray", "-f", "rawvideo", "-"]


def _described_frame(picture: bytes, log: str) -> tuple[bool, np.ndarray | None]:
    """What :func:`_one_frame_command` said of its frame: (marked interlaced, its grey copy; None where it decoded
    none)."""
    described = _SHOWINFO.search(log)
    side = FIRST_FRAME_THUMBNAIL
    thumbnail = np.frombuffer(picture, np.uint8).reshape(side, side) if len(picture) == side * side else None
    return bool(described and described.group(6) != "P"), thumbnail


def _another_picture(frame: np.ndarray, thumbnail: np.ndarray | None) -> bool:
    """Whether OpenCV's BGR ``frame`` is another picture than the one ffmpeg decoded there (its grey ``thumbnail``);
    False where ffmpeg decoded none."""
    if thumbnail is None:
        return False
    side = FIRST_FRAME_THUMBNAIL
    ours = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (side, side), interpolation=cv2.INTER_AREA)
    return float(np.abs(ours.astype(np.int16) - thumbnail).mean()) > FIRST_FRAME_DIFFERENCE


class _FirstFrameProbe:
    """What the ffmpeg binary says of a video, from one process started at once so that it runs while OpenCV opens
    the file: its header (``ffmpeg -i``), whether its first frame is marked interlaced, and a grey copy of that frame
    to check OpenCV's first frame against (:func:`_one_frame_command`)."""

    def __init__(self, path: Path):
        import subprocess

        self.header = ""  # FFmpeg's header, once read() has waited for it
        self.first_frame_interlaced = False
        self.thumbnail: np.ndarray | None = None  # ffmpeg's first frame, grey, FIRST_FRAME_THUMBNAIL a side
        self._proc: subprocess.Popen[bytes] | None
        try:
            command = _one_frame_command(path)
            self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=program_environment(),
                                          **_ffmpeg_popen_options())
        except (OSError, RuntimeError):  # no ffmpeg binary to run (RuntimeError: imageio-ffmpeg found none): OpenCV
            # reads the video, as it did before this probe
            self._proc = None
        else:
            self._ffmpeg = command[0]

    def read(self) -> None:
        """Wait for ffmpeg (at most 30 s) and keep what it said; where it cannot run or tell, the header stays ""
        and OpenCV reads the video unchecked, as before."""
        import subprocess

        if self._proc is None:
            return
        try:
            picture, said = self._proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.close()
            return
        log = said.decode("utf-8", "replace")
        # the input's description: what follows ("Stream mapping:", the output's streams) is the probe's own
        self.header = re.split(r"^(?:Stream mapping:|Output #0)", log, maxsplit=1, flags=re.M)[0]
        self.first_frame_interlaced, self.thumbnail = _described_frame(picture, log)
        if not _INPUT_DESCRIBED.search(self.header):  # this file's fault, or the binary's: told once where it is
            _warn_if_ffmpeg_cannot_probe(self._ffmpeg)

    @property
    def interlaced(self) -> bool:
        """True where the header gives the video stream a field order or its first frame is marked interlaced."""
        return bool(_FIELD_ORDER.search(_video_stream_line(self.header))) or self.first_frame_interlaced

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()


# the header's first line where ffmpeg opened the input ("Input #0, mov,mp4,...")
_INPUT_DESCRIBED = re.compile(r"^Input #0\b", re.M)


@functools.cache
def _warn_if_ffmpeg_cannot_probe(ffmpeg: str) -> None:
    """Warn (once for each binary) where the ffmpeg binary ``ffmpeg`` cannot describe even fervid's own sample
    video (or photo) as the probe asks it to: an ffmpeg older than the probe's options (4.x has no -fps_mode:
    imageio-ffmpeg before 0.6, or one IMAGEIO_FFMPEG_EXE names). Every video was then read without its header,
    without a word."""
    import subprocess
    import warnings

    from fervid.samples import ASTRONAUT_FILE, CARPHONE_FILE

    # the photo where a distribution left the clip out (its terms are not stated): a missing file is no fault of
    # the binary's, and the photo takes the same options
    known_good = CARPHONE_FILE if CARPHONE_FILE.is_file() else ASTRONAUT_FILE
    command = [ffmpeg, *_one_frame_command(known_good)[1:]]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                              env=program_environment(), creationflags=program_creationflags())
        version = subprocess.run([ffmpeg, "-version"], stdin=subprocess.DEVNULL, capture_output=True,
                                 encoding="utf-8", errors="replace", timeout=30, env=program_environment(),
                                 creationflags=program_creationflags()).stdout
    except (OSError, subprocess.TimeoutExpired):  # (no binary to run: told where one is needed, to write a video)
        return
    said = done.stderr.decode("utf-8", "replace")
    if done.returncode == 0 and _INPUT_DESCRIBED.search(said):
        return
    why = (f"it ended on signal {-done.returncode}" if done.returncode < 0 else
           next((line.strip().rstrip(".") for line in said.splitlines() if line.strip()),
                f"exit status {done.returncode}"))
    named = re.match(r"ffmpeg version (\S+)", version)
    warnings.warn(f"{ffmpeg} (ffmpeg {named.group(1) if named else 'of an unknown version'}) cannot describe a video "
                  f"as fervid asks it to ({why}): videos are read without its description, so an annotated copy "
                  "keeps no sound, and HDR (tone-mapping), interlacing (deinterlacing) and a video stream that "
                  "starts after the file's sound go unseen. imageio-ffmpeg 0.8 or newer bundles an ffmpeg that "
                  "can; IMAGEIO_FFMPEG_EXE names another", FervidWarning)


# OpenCV's frames that stop changing: a stretch its conversion refused (interlaced frames after progressive ones,
# which the first frame does not show; or a first frame the checks above passed because the buffer held a frame
# much like it) is handed out as its buffer's last frame again and again, the face in it labelled on as if it were
# there. A run of FROZEN_FRAMES byte-identical frames is compared, once per video, with the ffmpeg binary's decoding
# of the frame there: where ffmpeg's is marked interlaced or shows another picture, the reading stops with a
# VideoError (the results cover the frames before). A still stretch (a slide, a paused screen recording) is
# ffmpeg's picture too, and is read on. Watching costs a comparison of 16 rows with the frame before's (7 us a 1080p
# frame, against 10 ms to decode it), the whole frame only where those are equal, and the check one process start
# once in a video that stands still.
FROZEN_FRAMES = 3


class _FrozenFrames:
    """Watches the frames OpenCV hands out of ``path`` for a run that stops changing (:data:`FROZEN_FRAMES`); with
    --sample-fps, the frames analysed (those passed over are not converted, :meth:`_CheckedCapture.grab`)."""

    def __init__(self, path: Path, first_frame: np.ndarray):
        self._path, self._last, self._repeats, self._checked = path, first_frame, 0, False

    def still(self, frame: np.ndarray) -> bool:
        """Whether ``frame`` ends a run of FROZEN_FRAMES byte-identical frames, not yet checked."""
        last, self._last = self._last, frame
        if self._checked:
            return False
        rows = slice(None, None, max(1, frame.shape[0] // 16))  # 16 rows first: 7 us of a 1080p frame, all 0.9 ms
        same = frame.shape == last.shape and np.array_equal(frame[rows], last[rows]) and np.array_equal(frame, last)
        self._repeats = self._repeats + 1 if same else 0
        return self._repeats >= FROZEN_FRAMES - 1

    def check(self, seconds: float, frame: np.ndarray) -> None:
        """Raise a VideoError where ffmpeg's frame at ``seconds`` (on the file's timeline) is marked interlaced or is
        another picture than OpenCV's ``frame``; once per video."""
        import subprocess

        self._checked = True
        try:
            decoded = subprocess.run(_one_frame_command(self._path, seconds), stdin=subprocess.DEVNULL,
                                     capture_output=True, timeout=30, env=program_environment(),
                                     **_ffmpeg_popen_options())
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            return
        interlaced, thumbnail = _described_frame(decoded.stdout, decoded.stderr.decode("utf-8", "replace"))
        if thumbnail is not None and (interlaced or _another_picture(frame, thumbnail)):
            # (said after the file's name and the frame reached: VideoAnalyzer.run, LiveSource)
            raise VideoError(
                f"its frames stop changing at {seconds:.1f} s where ffmpeg's do not"
                + (" (they are interlaced from there, though the file's header and first frame say progressive)"
                   if interlaced else "")
                + ": OpenCV could not convert them and handed out its last frame again. Deinterlace it first "
                "(ffmpeg's bwdif filter: `ffmpeg -i IN -vf bwdif OUT.mp4`) and analyse that")


@functools.cache
def _showinfo_filter() -> str:
    """showinfo without its per-frame checksums (a cost on every frame) where this ffmpeg can leave them out."""
    import subprocess

    import imageio_ffmpeg

    try:
        help_text = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-h", "filter=showinfo"],
                                   capture_output=True, encoding="utf-8", errors="replace", timeout=30,
                                   env=program_environment(), creationflags=program_creationflags()).stdout
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        help_text = ""
    return "showinfo=checksum=0" if re.search(r"^\s*checksum\b", help_text, re.M) else "showinfo"


class _FFmpegCapture:
    """A video's frames (BGR) decoded and deinterlaced by the ffmpeg binary, read as a ``cv2.VideoCapture`` is:
    ``read()``, ``get()`` (``CAP_PROP_FPS`` and ``CAP_PROP_FRAME_COUNT`` as OpenCV reads them from the container,
    ``CAP_PROP_POS_MSEC``: the last frame's own time, so variable frame rates stay right) and ``release()``.

    ffmpeg writes the raw frames to a pipe and describes each (showinfo: its time, size and sample aspect ratio)
    on its log, read by a thread; each frame is read at the first one's size (the pipe's) and handed out as it
    shows (rotation applied by ffmpeg, non-square pixels by :func:`_square_pixels`). ``deinterlace``: frames marked
    interlaced are deinterlaced (bwdif); ``tone_map``: an HDR video's filter chain to SDR (:func:`_tone_map_filter`)."""

    def __init__(self, path: Path, fps: float = 0.0, frame_count: float = 0.0, deinterlace: bool = True,
                 tone_map: str = ""):
        import queue
        import subprocess

        import imageio_ffmpeg

        self._fps, self._frame_count, self._pos_msec = fps, frame_count, 0.0
        self._grabbed: tuple | None = None  # the frame grabbed: its bytes, sample aspect ratio and size
        self.deinterlace = deinterlace
        self._raw: tuple | None = None  # the first frame's sample aspect ratio and size: the pipe's frames'
        self._sizes = _FrameSizes()  # the sizes the frames were recorded at: see _CheckedCapture.frame_size_changes
        self._frames: queue.Queue = queue.Queue()
        self.log: deque[str] = deque(maxlen=8)  # ffmpeg's last lines other than frame descriptions
        self._proc = subprocess.Popen(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-i", ffmpeg_path(path),
             "-map", "0:V:0", "-an", "-sn", "-dn",
             "-vf", ",".join(filter(None, ["bwdif=mode=send_frame:deint=interlaced" if deinterlace else "",
                                           tone_map, _showinfo_filter()])),
             "-fps_mode", "passthrough", "-pix_fmt", "bgr24", "-f", "rawvideo", "-"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=program_environment(),
            **_ffmpeg_popen_options())
        # both piped, so never None; the frames' pipe is a buffered reader (Popen's default bufsize), typed as IO
        self._stdout, self._stderr = cast(io.BufferedReader, self._proc.stdout), cast(IO[bytes], self._proc.stderr)
        self._log_reader = threading.Thread(target=self._read_log, name=f"fervid ffmpeg log {path.name}",
                                            daemon=True)
        self._log_reader.start()

    def _read_log(self) -> None:
        try:
            for raw in self._stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                found = _SHOWINFO.search(line)
                if found:
                    self._frames.put(found.groups()[:5])
                elif line and "side data" not in line and not line.startswith("[Parsed_showinfo"):
                    self.log.append(line)
        except (OSError, ValueError):  # the pipe closed by release()
            pass
        finally:
            self._frames.put(None)

    def grab(self) -> bool:
        """The next frame read off the pipe (every frame must be), handed out by :meth:`retrieve`."""
        self._grabbed = None
        described = self._frames.get()
        if described is None:
            self._frames.put(None)  # later reads end too
            return False
        # The pipe carries every frame at the first one's size: where recordings of another size are joined after
        # it, ffmpeg scales them to it (as OpenCV's reader does) while showinfo describes them at their own, which
        # read them a frame and a quarter at a time: garbage frames, then a crash writing the annotated copy
        self._raw = self._raw or described[1:]
        self._sizes.see(*described)
        pts_time, (sar_num, sar_den, width, height) = described[0], self._raw
        buffer = bytearray(int(width) * int(height) * 3)
        view, got = memoryview(buffer), 0
        while got < len(buffer):
            try:
                n = self._stdout.readinto(view[got:])
            except (OSError, ValueError):  # closed by release() from another thread (LiveSource.close)
                n = 0
            if not n:
                return False
            got += n
        try:
            self._pos_msec = float(pts_time) * 1000.0
        except ValueError:  # NOPTS: no timestamp (RisingClock.frame_time places it one frame on)
            self._pos_msec = math.nan
        self._grabbed = (buffer, sar_num, sar_den, width, height)
        return True

    def retrieve(self) -> tuple[bool, np.ndarray | None]:
        if self._grabbed is None:
            return False, None
        buffer, sar_num, sar_den, width, height = self._grabbed
        frame = np.frombuffer(buffer, np.uint8).reshape(int(height), int(width), 3)
        return True, _square_pixels(frame, _ratio(sar_num, sar_den))

    def read(self) -> tuple[bool, np.ndarray | None]:
        return self.retrieve() if self.grab() else (False, None)

    @property
    def size_changes(self) -> list[dict]:
        return self._sizes.changes

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: self._fps, cv2.CAP_PROP_FRAME_COUNT: self._frame_count,
                cv2.CAP_PROP_POS_MSEC: self._pos_msec}.get(prop, 0.0)

    def release(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._stdout.close()
        self._proc.wait()
        self._log_reader.join(timeout=2)
        self._stderr.close()


def _open_deinterlaced(path: Path, fps: float, frame_count: float, header: str = "",
                       hdr: str | None = None) -> _CheckedCapture:
    """An interlaced video (or one whose first frame OpenCV did not decode as ffmpeg does) opened through ffmpeg
    (:class:`_FFmpegCapture`), its first frame decoded to check it (``hdr``: an HDR video's transfer, "PQ" or "HLG",
    read here without tone-mapping)."""
    try:
        cap = _FFmpegCapture(path, fps, frame_count)
    except (OSError, RuntimeError) as exc:
        raise VideoError(f"{path}: an interlaced video, and the ffmpeg binary that deinterlaces it could not run "
                         f"({exc})") from None
    ok, first_frame = cap.read()
    if not ok or first_frame is None:  # (one and the same: a frame comes with ok)
        cap.release()
        why = _why_unreadable(path, header) or ("no video frames could be decoded (corrupt?)"
                                                + (f"; ffmpeg: {cap.log[-1]}" if cap.log else ""))
        raise VideoError(f"{path}: {why}")
    return _CheckedCapture(cap, first_frame, header=header, hdr=hdr)


# HDR video (10-bit HEVC, BT.2020 primaries, a PQ or HLG transfer: what iPhones and Samsung phones record by
# default). OpenCV's FFmpeg converts it to 8-bit BGR without tone-mapping: HDR reference white becomes SDR white and
# everything brighter is clipped (bright skin, a lit face: 23% (HLG) to 48% (PQ) of face-box pixels at 255 in the
# probe's phone clips) and colours shift, and the labels followed. Such a video is read through the ffmpeg binary's
# pipe (_FFmpegCapture, deinterlaced too where it is interlaced), tone-mapped to SDR BT.709 by zscale and tonemap:
# linear light with HDR reference white (BT.2408: 203 cd/m2, where a phone puts a lit face and a white wall) at 1.0,
# BT.709 primaries, mobius (linear below 0.3; above, rolled off smoothly to white at the tonemap filter's peak: the
# metadata's MaxCLL, else its mastering display's peak, over 100 cd/m2, else 10; nothing below it is clipped)
# applied to each pixel's largest component, so hues stay. On the probe's clips it left 16% (PQ) and 0% (HLG) of
# face-box pixels at 255; hable at 100 cd/m2 (the common recipe) left 25% (PQ) and read reference white darker.
# Where this ffmpeg lacks those filters, or they give no frame, the video is read as before, and the result says
# it was not tone-mapped.
HDR_TRANSFERS = {"smpte2084": "PQ", "arib-std-b67": "HLG"}
HDR_REFERENCE_WHITE = 203  # cd/m2 (ITU-R BT.2408): the light level read as SDR white, before the roll-off
# the colour part of FFmpeg's stream line: "yuv420p10le(tv, bt2020nc/bt2020/smpte2084, progressive)"
_HDR_COLOURS = re.compile(r"\b(?:([\w-]+)/([\w-]+)/)?(smpte2084|arib-std-b67)\b")
# the names zscale takes for an input's primaries and matrix, as FFmpeg's header writes them
_ZSCALE_PRIMARIES = {"bt709", "bt2020", "bt470m", "bt470bg", "smpte170m", "smpte240m", "smpte431", "smpte432"}
_ZSCALE_MATRICES = {"bt709", "bt2020nc", "bt2020c", "bt470bg", "smpte170m", "fcc"}


def _hdr_colours(header: str) -> tuple[str, str, str] | None:
    """(transfer, primaries, matrix) of the video stream FFmpeg's ``header`` describes where its transfer is HDR's
    (:data:`HDR_TRANSFERS`); primaries and matrix BT.2020's where the header gives none zscale knows. None for SDR."""
    found = _HDR_COLOURS.search(_video_stream_line(header))
    if not found:
        return None
    matrix, primaries, transfer = found.group(1), found.group(2), found.group(3)
    return (transfer, primaries if primaries in _ZSCALE_PRIMARIES else "bt2020",
            matrix if matrix in _ZSCALE_MATRICES else "bt2020nc")


def _tone_map_filter(transfer: str, primaries: str, matrix: str) -> str:
    """FFmpeg's filter chain from an HDR video's frames (``transfer``: smpte2084 or arib-std-b67) to 8-bit SDR
    BT.709 BGR. The input's colours are named (where a frame's own tags are missing, zscale could not convert it);
    the first zscale keeps the primaries so that it has a path."""
    return (f"zscale=tin={transfer}:pin={primaries}:min={matrix}:t=linear:p={primaries}:npl={HDR_REFERENCE_WHITE},"
            "format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=mobius:desat=0,zscale=t=bt709:m=bt709:r=tv,"
            "format=bgr24")


@functools.cache
def _can_tone_map() -> bool:
    """Whether the ffmpeg binary has the zscale and tonemap filters (imageio-ffmpeg's builds have; another build,
    named by IMAGEIO_FFMPEG_EXE, may not)."""
    import subprocess

    import imageio_ffmpeg

    try:
        listed = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-filters"], capture_output=True,
                                encoding="utf-8", errors="replace", timeout=30, env=program_environment(),
                                creationflags=program_creationflags()).stdout
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        return False
    return all(re.search(rf"^\s*\S+\s+{name}\s", listed, re.M) for name in ("zscale", "tonemap"))


def _open_through_ffmpeg(path: Path, fps: float, frame_count: float, deinterlace: bool,
                         tone_map: str) -> tuple[_FFmpegCapture, np.ndarray] | None:
    """An HDR video opened through ffmpeg with ``tone_map`` (deinterlaced too where ``deinterlace``) and its first
    frame; None where that gives no frame (the caller reads it as it would without tone-mapping, and says why it
    cannot if it cannot)."""
    try:
        cap = _FFmpegCapture(path, fps, frame_count, deinterlace=deinterlace, tone_map=tone_map)
    except (OSError, RuntimeError):
        return None
    try:
        ok, first_frame = cap.read()
    except BaseException:
        cap.release()
        raise
    if not ok or first_frame is None:  # (one and the same: a frame comes with ok)
        cap.release()
        return None
    return cap, first_frame


# Recordings of different frame sizes joined end to end: OpenCV's FFmpeg reader hands every frame out at the size
# the stream had when it was opened (CAP_PROP_FRAME_WIDTH/HEIGHT stay at it too), the later recordings' pictures
# scaled to it (and so does the ffmpeg binary's raw pipe for interlaced files, _FFmpegCapture), unsaid: a 16:9
# recording after a 4:3 one is read stretched. Nothing in the frames OpenCV hands out tells; the ffmpeg binary's
# reading of the file's keyframes does (each recording starts on one). It is a pass over the whole file, asked for
# only where the file's clock started again (RisingClock): a join. (The interlaced reader's showinfo tells as it
# reads: _CheckedCapture.frame_size_changes.)
FRAME_SIZES_TIMEOUT = 600.0


def _frame_size_changes(path: Path, first: tuple[int, int]) -> list[dict]:
    """Where the frame size (as it shows: :func:`_display_size`) of ``path``'s keyframes changes from ``first``
    (width, height) and after, each {"time" (s, on FFmpeg's timeline of the file, which goes on across a join as
    RisingClock's does), "width", "height"}; [] where there is no change or ffmpeg cannot tell. Only keyframes are
    decoded."""
    import subprocess

    import imageio_ffmpeg

    try:
        scan = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats",
                               "-skip_frame", "nokey", "-i", ffmpeg_path(path), "-map", "0:V:0", "-an", "-sn", "-dn",
                               "-vf", _showinfo_filter(), "-f", "null", "-"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=FRAME_SIZES_TIMEOUT, env=program_environment(), **_ffmpeg_popen_options())
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        return []
    sizes = _FrameSizes(first)
    for line in scan.stderr.decode("utf-8", "replace").splitlines():
        described = _SHOWINFO.search(line)
        if described is not None:
            sizes.see(*described.groups()[:5])
    return sizes.changes


class _FrameSizes:
    """Follows the size frames show at (:func:`_display_size`) as showinfo describes them one after another, from
    ``first`` (width, height; None: the first frame's), and records where it changes: ``changes``, each {"time",
    "width", "height"}."""

    def __init__(self, first: tuple[int, int] | None = None):
        self.shown = first
        self.changes: list[dict] = []

    def see(self, pts_time: str, sar_num: str, sar_den: str, width: str, height: str) -> None:
        shown = _display_size(int(width), int(height), _ratio(sar_num, sar_den))
        if shown == self.shown:
            return
        if self.shown is not None:
            try:
                time_there = float(pts_time)
            except ValueError:  # NOPTS: a frame without a time cannot place the change; the next timed one does
                return
            self.changes.append({"time": round(time_there, TIME_DECIMALS), "width": shown[0], "height": shown[1]})
        self.shown = shown


def recorded_size_changes(cap: _CheckedCapture, path: Path, first: tuple[int, int],
                          clock_resets: list[float]) -> list[dict]:
    """Where the frame size of the file ``cap`` reads (``path``) changes from ``first`` (width, height), as
    :func:`_frame_size_changes` gives them: the interlaced reader tells as it reads; OpenCV's cannot, and the file's
    keyframes are scanned where its clock started again (``clock_resets``: recordings joined), else []."""
    changes = cap.frame_size_changes
    if changes is None and clock_resets:  # OpenCV's reader: the joins are where to look
        changes = _frame_size_changes(path, first)
    return changes or []


def _ffmpeg_header(path: Path) -> str:
    """What FFmpeg says of the file's container and streams (``ffmpeg -i``: the header only); "" if it cannot
    run. Asked only where OpenCV cannot tell: it is a process start."""
    import subprocess

    import imageio_ffmpeg

    try:
        probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", ffmpeg_path(path)],
                               capture_output=True, encoding="utf-8", errors="replace", timeout=30,
                               env=program_environment(), creationflags=program_creationflags())
    except (OSError, RuntimeError, subprocess.TimeoutExpired):  # RuntimeError: imageio-ffmpeg found no binary
        return ""
    return probe.stderr


def _why_unreadable(path: Path, header: str = "") -> str:
    """Why OpenCV got no frame from ``path``, where FFmpeg's header (``header``, or read now) tells: an audio-only
    file, or an MP4/MOV recording that was never finished (the usual state of a session whose recorder or laptop
    stopped); else "". Asked only once OpenCV has failed on the file (it cannot tell why)."""
    header = header or _ffmpeg_header(path)
    if sound := _sound_only(header):
        return sound
    if "moov atom not found" in header and _starts_like_mp4(path):  # (FFmpeg says it of any file named .mp4)
        return ("an MP4/MOV recording that was never finished: it has no index (FFmpeg: 'moov atom not found'; "
                "the recorder stopped before closing the file), so no frame can be read until it is repaired "
                "(untrunc, for one, rebuilds it from a finished recording of the same camera)")
    return ""


def _not_a_video(path: Path) -> str:
    """What a file OpenCV read no frame of is where its first bytes tell it is no video ("a ZIP archive of a.mp4:
    unzip it first", "a Word document": :func:`not_media_said`), said so; else "". (FFmpeg opens a text file named
    .png as an image sequence, and finds no frame in it.)"""
    document = not_media_said(path)
    return f"not a video fervid can read ({document})" if document else ""


def _sound_only(header: str) -> str:
    """Why a file FFmpeg's ``header`` describes has no video to analyse where it is sound alone: "audio only, no
    video stream", or "audio with cover art, no video stream" where its only pictures are cover art (an attached
    picture: a podcast's or a song's, which OpenCV read as a one-frame video "ended at 0.0 s of 9000.0 s"); else
    ""."""
    if not _has_stream(header, "Audio") or _video_stream_line(header):
        return ""
    return "audio with cover art, no video stream" if _has_stream(header, "Video") else "audio only, no video stream"


def _has_stream(header: str, kind: str) -> bool:
    """Whether FFmpeg's header of a file (:func:`_ffmpeg_header`) lists a stream of ``kind`` ("Audio", "Video")."""
    return any("Stream #" in line and f": {kind}:" in line for line in header.splitlines())


def _starts_like_mp4(path: Path) -> bool:
    """Whether the file begins with an MP4/MOV (ISO base media) box: its type is the second 4 bytes."""
    try:
        with open(path, "rb") as f:
            return f.read(8)[4:] in (b"ftyp", b"mdat", b"wide", b"free", b"skip")
    except OSError:
        return False


# the container's start time in FFmpeg's header
_CONTAINER_START = re.compile(r"Duration: [^,]*, start: (-?[0-9.]+)")


def _container_start(header: str) -> float:
    """The container's start time in seconds, from FFmpeg's header of the file (0 if it gives none). A recording
    cut into parts by FFmpeg's segment muxer starts each part where the last ended; OpenCV's frame count of a
    Matroska part then counts the seconds before its start too, and the part looked truncated."""
    found = _CONTAINER_START.search(header)
    return max(0.0, float(found.group(1))) if found else 0.0


def _still_image_format(path: Path) -> str | None:
    """The format name when Pillow recognises the file as a still image (it reads only the header). An animated
    WebP or AVIF, of which OpenCV's FFmpeg decodes no frame (WebP) or the first alone (AVIF), and a multi-page
    TIFF (a camera's image stack; OpenCV reads its first page as a one-frame video), are refused saying so."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt, frames = im.format, getattr(im, "n_frames", 1)
    except Image.DecompressionBombError as exc:  # (a ValueError's sibling: it escaped, a server's upload was a 500)
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        raise StillImageError(f"{path}: an image whose header declares "
                              + (f"{int(declared[1]):,} pixels" if declared else "more pixels than Pillow decodes")
                              + " (over the limit Pillow decodes: a decompression bomb?), not a video",
                              reader="") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    if frames > 1 and fmt == "WEBP":  # the ffmpeg binary fervid runs decodes it (OpenCV's FFmpeg does not)
        import shlex

        import imageio_ffmpeg

        convert = shlex.join([imageio_ffmpeg.get_ffmpeg_exe(), "-i", ffmpeg_path(path), "-vf",
                              "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                              ffmpeg_path(path.with_suffix(".mp4"))])
        raise VideoError(f"{path}: an animated WebP, whose frames OpenCV cannot decode: convert it to MP4 with the "
                         f"ffmpeg binary fervid runs ({convert}) to analyse every frame, or run `fervid image` on it "
                         "for its first frame")
    if frames > 1 and fmt == "AVIF":
        raise VideoError(f"{path}: an animated AVIF, whose frames OpenCV cannot decode: convert it to GIF or MP4 "
                         f"(e.g. ImageMagick's `magick {path.name} {path.stem}.gif`) to analyse every frame, or run "
                         "`fervid image` on it for its first frame")
    if frames > 1 and fmt == "TIFF":
        raise VideoError(f"{path}: a multi-page TIFF ({frames} pages), of which OpenCV reads the first page alone: "
                         "convert it to a video at its pages' frame rate (e.g. ImageMagick's `magick -delay 4 "
                         f"{path.name} {path.stem}.gif` for 25 pages a second) to analyse every page, or run "
                         "`fervid image` on it for its first page")
    return None if frames > 1 else fmt


# Scene cuts, from a small grey copy of each frame against the last one that shows something: a cut changes the
# picture (mean absolute grey difference above CUT_DIFFERENCE) and its structure (the correlation of the two copies'
# pixels, each scaled to zero mean and unit spread, below CUT_STRUCTURE_CORRELATION side by side and where the
# picture's own motion is allowed for: moved_structure), and either its grey histogram too (correlation below
# CUT_HISTOGRAM_CORRELATION) or its structure entirely (moved_structure below CUT_STRUCTURE_GONE) with its grey levels
# not all as they were (histogram below CUT_HISTOGRAM_ALIKE: the same levels rearranged, 1.0, were a face that moved
# on a plain wall between two recordings joined, as flipped and shifted as no motion allows). Measured on built clips
# (difference / structure side by side, allowing for motion / histogram): hard cuts between two camera angles 30-68 /
# 0.5 or less, 0.25 or less / below 0.08; cuts to another room of about one brightness 34-40 / 0.33 or less, 0.32 or
# less / 0.70-0.80 (the three side by side were required, and these were not found); within shots at most 16 /
# 0.96 or more (a face appearing at once, a hand, passers-by; the carphone sample 7.6, a 1080p classroom 2.3); the
# camera's motion over a photograph: pans of 25-50 px a frame (640 px wide) up to 38 / down to 0.12, 0.99 or more /
# 0.95 or more, a whip pan (100 px a frame, blurred) -0.19, 0.53 / 0.71, zooms of 10-20% a frame up to 48 / 0.34, 0.65
# / 0.83, a shaking camera (at random, up to 20 px and 3 degrees each way a frame) up to 53 / down to 0.20, 0.82 /
# 0.97; shaken twice as hard (40 px, 5 degrees) photographs kept 0.42 / 0.92, but a finely textured room fell to 0.02
# / 0.86-0.99, read as cuts now and then; the lights switched on keep the structure (1.0). A frame of almost one grey
# (a flash, black between shots) is skipped. Not found: dissolves, fades, and cuts between shots of the same
# background (the tracker then behaves as without cut detection). A false cut only ends tracks early; it never joins
# two people.
CUT_DIFFERENCE = 20.0
CUT_HISTOGRAM_CORRELATION = 0.5
CUT_STRUCTURE_CORRELATION = 0.6
CUT_STRUCTURE_GONE = 0.35
CUT_HISTOGRAM_ALIKE = 0.95
CUT_BLANK_SPREAD = 8.0  # grey levels: a copy with less spread than this shows nothing to compare
CUT_THUMBNAIL = (128, 72)
# At a cut, a face whose own surroundings did not change goes on (SceneCuts.unchanged_around): a webcam shown
# picture-in-picture over a screen recording, whose every page change is a cut. Its region is its box widened by
# CUT_REGION_MARGIN of its size on each side, compared on copies CUT_REGION_SIZE pixels square: unchanged where
# neither its picture (mean absolute grey difference at most CUT_DIFFERENCE) nor its structure (moved_structure at
# least CUT_STRUCTURE_CORRELATION) changed. Measured: the probe's webcam over page changes 3.9-7.9 / 0.96 or more;
# the carphone sample's face from one frame to the next at most 11.4 / 0.95 or more (5 frames on, as --sample-fps 6
# takes them: 85% unchanged); another person framed where the face was 31 or more / up to 0.87 (JAFFE's ten people
# at one spot, on one backdrop), the regression test's cut to someone else 55 / 0.41.
CUT_REGION_MARGIN = 0.25
CUT_REGION_SIZE = 48


def _correlation_at(before: np.ndarray, after: np.ndarray, shift: Sequence[float]) -> float | None:
    """The correlation of ``before`` and ``after`` where they overlap once ``after`` is shifted back by ``shift``
    (x, y); None where that leaves little to compare (a quarter of the copy or less, or a plain patch)."""
    dx, dy = (int(round(v)) for v in shift)
    height, width = before.shape
    if 4 * max(height - abs(dy), 0) * max(width - abs(dx), 0) <= before.size:
        return None
    a = before[max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0)]
    b = after[max(dy, 0):height - max(-dy, 0), max(dx, 0):width - max(-dx, 0)]
    a, b = a - a.mean(), b - b.mean()
    spread = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / spread) if spread > 1e-3 * a.size else None


def moved_structure(before: np.ndarray, after: np.ndarray) -> float:
    """How much of ``before``'s structure ``after`` keeps once the picture's motion is allowed for: the correlation
    of the two copies (standardised, float32) where they overlap with ``after`` shifted back by as far as the whole
    picture moved (phase correlation: a pan, a camera shaken tens of pixels), or the median over 3x3 tiles of the
    same, each tile shifted by its own motion (a zoom, a camera turned as it shook), whichever is higher; -1 where
    neither leaves anything to compare. Near 1 for a camera's motion, whose copies side by side may correlate
    little (0.12 on a pan of 50 px a frame); 0.33 or less at a cut."""
    shift, _ = cv2.phaseCorrelate(before, after)
    kept = [_correlation_at(before, after, shift)]
    height, width = before.shape[0] // 3, before.shape[1] // 3
    window = cv2.createHanningWindow((width, height), cv2.CV_32F)
    tiles: list[float | None] = []
    for i in range(3):
        for j in range(3):
            a, b = (np.ascontiguousarray(c[i * height:(i + 1) * height, j * width:(j + 1) * width])
                    for c in (before, after))
            tiles.append(_correlation_at(a, b, cv2.phaseCorrelate(a, b, window)[0]))
    found = [c for c in tiles if c is not None]
    kept.append(float(np.median(found)) if found else None)
    return max((c for c in kept if c is not None), default=-1.0)


class SceneCuts:
    """Tells scene cuts in a stream of grey frames (:data:`CUT_DIFFERENCE`), and at one which faces' surroundings
    stayed as they were (:meth:`unchanged_around`)."""

    def __init__(self):
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # the last two frames compared (each a frame that shows something): at a cut, the frames before and after it
        self._before: np.ndarray | None = None
        self._after: np.ndarray | None = None

    def is_cut(self, grey: np.ndarray) -> bool:
        # every 4th pixel first: averaging the whole frame down cost 0.37 ms of a 640x480 frame's 9.4
        small = cv2.resize(grey[::4, ::4], CUT_THUMBNAIL, interpolation=cv2.INTER_AREA)
        mean, spread = cv2.meanStdDev(small)
        if spread[0, 0] < CUT_BLANK_SPREAD:
            return False  # a flash or a black frame: compared with nothing, and nothing compared with it
        histogram = cv2.calcHist([small], [0], None, [32], [0, 256])
        structure = (small.astype(np.float32) - np.float32(mean[0, 0])) / np.float32(spread[0, 0])
        last, self._last = self._last, (small, histogram, structure)
        self._before, self._after = self._after, grey
        if last is None:
            return False
        if (float(cv2.absdiff(small, last[0]).mean()) <= CUT_DIFFERENCE
                or float((structure * last[2]).mean()) >= CUT_STRUCTURE_CORRELATION):
            return False
        kept = moved_structure(last[2], structure)  # only here: the picture and its structure side by side changed
        levels = cv2.compareHist(last[1], histogram, cv2.HISTCMP_CORREL)
        return ((kept < CUT_STRUCTURE_GONE and levels < CUT_HISTOGRAM_ALIKE)
                or (kept < CUT_STRUCTURE_CORRELATION and levels < CUT_HISTOGRAM_CORRELATION))

    def unchanged_around(self, box: tuple) -> bool:
        """At the cut :meth:`is_cut` just found: whether the picture around a face's ``box`` (x, y, w, h on the frame
        before the cut) is the one it was, as a whole frame is judged, allowing for the face's own motion
        (:data:`CUT_REGION_MARGIN`). A webcam shown picture-in-picture over a screen recording whose page changed,
        a news ticker changing under a presenter: yes; a person framed where another was, the same spot of another
        room: no."""
        frame_before, frame_after = self._before, self._after
        if frame_before is None or frame_after is None or frame_before.shape != frame_after.shape:
            return False
        x, y, w, h = box
        height, width = frame_after.shape
        x0, y0 = max(int(x - CUT_REGION_MARGIN * w), 0), max(int(y - CUT_REGION_MARGIN * h), 0)
        x1 = min(int(np.ceil(x + (1 + CUT_REGION_MARGIN) * w)), width)
        y1 = min(int(np.ceil(y + (1 + CUT_REGION_MARGIN) * h)), height)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return False
        before, after = (cv2.resize(g[y0:y1, x0:x1], (CUT_REGION_SIZE, CUT_REGION_SIZE), interpolation=cv2.INTER_AREA)
                         for g in (frame_before, frame_after))
        if float(cv2.absdiff(before, after).mean()) > CUT_DIFFERENCE:
            return False
        structures = []
        for region in (before, after):
            mean, spread = cv2.meanStdDev(region)
            if spread[0, 0] < CUT_BLANK_SPREAD:
                return False  # a plain patch says nothing of what is there
            structures.append((region.astype(np.float32) - np.float32(mean[0, 0])) / np.float32(spread[0, 0]))
        return moved_structure(*structures) >= CUT_STRUCTURE_CORRELATION


# --max-faces 1: a face followed that has been away this long is forgotten, and whoever comes is followed (until
# then, a much smaller face is taken for someone behind the participant: track.AWAY_SMALLER)
FORGET_FACE_SECONDS = 30.0


class FrameStream:
    """The per-frame stages of one video or live stream: detect every ``detect_every`` s, track (optical flow
    in between), align, classify the crops in batches through the analyzer's CNN path
    (:meth:`fervid.inference.analyzer.Analyzer.classify_crops`, the one images use), then classify each track over its
    window with the temporal method.

    :meth:`push` takes frames in time order and returns those whose labels are final: for centred windows that is
    ``lookahead`` seconds later (the frames the window needs must have been seen), for causal ones at once.
    :meth:`finish` returns the rest. Memory is bounded by the window, not by the video's length.
    """

    def __init__(self, analyzer, options: VideoOptions, temporal: TemporalMethod, fps: float,
                 stages: dict[str, float] | None = None, clock_resets: list[float] | None = None):
        """``clock_resets``: the times where the source's own clock started again (:attr:`RisingClock.resets`,
        filled as its frames are read)."""
        self.analyzer, self.options, self.temporal = analyzer, options, temporal
        self.fps = fps
        self.stages = stages if stages is not None else dict.fromkeys(STAGES, 0.0)
        # a face unseen for up to track.MISS_SECONDS keeps its id, however often detection runs (counted in rounds,
        # a 1 s occlusion split a track in two at --detect-every 0.1)
        self.tracker = FaceTracker(miss_seconds=miss_seconds(options.detect_every),
                                   max_faces=analyzer.max_faces,
                                   forget_rounds=math.ceil(FORGET_FACE_SECONDS / options.detect_every), fps=fps)
        # each track's window and temporal outputs; windows centred on each frame for files, causal for live
        # sources. At the rate the track's frames come: sampled (--sample-fps), the kernel's frame spacing is the
        # sampling step (with the video's, the outer samples of a 5 fps window weighed 0.25, not 0.43)
        self.windows = TrackWindows(temporal, options.window, options.centred, analysis_rate(fps, options.sample_fps))
        self._pending: list[tuple[float, int, np.ndarray, list[TrackedFace], np.ndarray]] = []
        self._ready: deque = deque()  # frames through the CNN, waiting for their windows
        # Detection runs on the frame nearest each step of detect_every (a frame within half a frame of the time it
        # is due counts): waiting for the first frame past it made 0.3 s every 0.32 s at 25 fps, 0.43 s at 7 fps.
        self._next_detect = -math.inf
        self._looking = 0.0  # seconds spent in this round's closer looks (_look_again)
        # at a cut every track ends whose face's surroundings changed, and the new shot is detected at once: a face
        # framed where the last shot's face was took that person's track number (one "person" who was two in an
        # edited interview); a webcam shown picture-in-picture over a screen recording was a new track at every page
        # change, and goes on (SceneCuts.unchanged_around)
        self._cuts = SceneCuts()
        self.cut_times: list[float] = []
        self.cut_tracks: list[dict] = []  # at each cut, {"time", "ended": [track ids], "kept": [track ids]}
        self._clock_resets = clock_resets if clock_resets is not None else []
        self._resets_passed = 0
        self._levels: np.ndarray | None = None  # the stretch of a dark picture's levels (align.dark_levels_table)
        self.frames_brightened = 0
        # a frame is final once the frames its window needs have been analysed, ``lookahead`` seconds later
        self.lookahead = self.windows.lookahead
        # options.region in the frames' pixels (x0, y0, x1, y1), from the first frame's size: the frames are cropped
        # to it before anything is looked for, and the faces found placed back in the whole frame (_label)
        self._region: tuple[int, int, int, int] | None = None

    def push(self, t: float, index: int, frame: np.ndarray) -> list[AnalysedFrame]:
        stages, template = self.stages, self.analyzer.template
        whole = frame  # what the outputs show: the whole frame
        if self.options.region is not None:
            if self._region is None:
                self._region = region_box(self.options.region, frame.shape[1], frame.shape[0], "the source",
                                          getattr(self.analyzer.detector, "min_face", None))
            x0, y0, x1, y1 = self._region
            frame = np.ascontiguousarray(frame[y0:y1, x0:x1])
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        t0 = time.perf_counter()
        cut = self._cuts.is_cut(grey)
        if cut:
            ended, kept = self.tracker.cut(self._cuts.unchanged_around)
            self.cut_times.append(round(t, TIME_DECIMALS))
            self.cut_tracks.append({"time": round(t, TIME_DECIMALS), "ended": ended, "kept": kept})
        # The next recording of a join (the source's clock started again) is detected at once too, its tracks kept
        # (a recording split into files goes on where it left off): one whose faces are elsewhere had them lost by
        # flow, and their rows missing until the next round
        if cut or self._passed_reset(t):
            self._next_detect = -math.inf
        half_frame = 0.49 / max(self.fps, 1e-6)
        detecting = t >= self._next_detect - half_frame
        if detecting:  # how dark the picture is, measured once a round (light changes slowly)
            self._levels = dark_levels_table(grey)
        if self._levels is not None:  # a dark picture: faces are found, followed and read on its levels stretched,
            # and shown so (the annotated video and key frames of a dim room were near black)
            grey, frame = cv2.LUT(grey, self._levels), cv2.LUT(frame, self._levels)
            if self._region is None:
                whole = frame
            else:  # the region brightened in the whole frame: the screen around it was not dark
                whole = whole.copy()
                whole[y0:y1, x0:x1] = frame
            self.frames_brightened += 1
        if detecting:
            self._next_detect = next_due(self._next_detect, t, self.options.detect_every)
            detections = self.analyzer.detect(frame)
            stages["detect"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            self._looking = 0.0
            tracked = self.tracker.update(index, grey, detections, look_again=lambda box: self._look_again(frame, box),
                                          time=t)
            stages["detect"] += self._looking  # the closer looks are detection, not tracking
            t0 += self._looking
        else:
            tracked = self.tracker.propagate(index, grey, time=t)
        stages["track"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        crops = (np.stack([self.analyzer.crop_detection(grey, tf.detection) for tf in tracked])
                 if tracked else np.zeros((0, template.size, template.size), np.uint8))
        stages["align"] += time.perf_counter() - t0
        self._pending.append((t, index, whole, tracked, crops))
        return self._flush() if len(self._pending) >= self.options.batch_frames else []

    def _passed_reset(self, t: float) -> bool:
        """Whether the source's clock started again since the frame pushed before, one at ``t``."""
        passed = bisect.bisect_right(self._clock_resets, t + 5e-4)  # (the resets' times are rounded to the ms)
        new, self._resets_passed = passed > self._resets_passed, passed
        return new

    @property
    def brightening(self) -> bool:
        """Whether the picture is dark now: the last frame was analysed on its levels stretched."""
        return self._levels is not None

    def _look_again(self, frame: np.ndarray, box: tuple) -> list[Detection]:
        """Detections in the region twice a track's box around it, in frame pixels: a small image, so detected at
        full size (the frame's own pass may have run on a shrunk copy), as a closer look at one face."""
        region = region_around(box, frame.shape)
        if region is None:
            return []
        x0, y0, x1, y1 = region
        t0 = time.perf_counter()
        found = self.analyzer.detect(np.ascontiguousarray(frame[y0:y1, x0:x1]))
        self._looking += time.perf_counter() - t0
        return [Detection((d.box[0] + x0, d.box[1] + y0, d.box[2], d.box[3]),
                          tuple((px + x0, py + y0) for px, py in d.landmarks), d.score, d.turns) for d in found]

    def finish(self) -> list[AnalysedFrame]:
        """The frames still waiting (end of the video)."""
        return self._flush(final=True)

    def abandon(self) -> list[AnalysedFrame]:
        """After a failure: drop the frames not yet through the CNN, finish the others."""
        self._pending.clear()
        return self._flush(final=True)

    def _flush(self, final: bool = False) -> list[AnalysedFrame]:
        if self._pending:
            self._classify_pending()
        newest = self._ready[-1][0] if self._ready else 0.0
        done = []
        while self._ready and (final or self.windows.final(self._ready[0][0], newest)):
            done.append(self._ready.popleft())
        labelled = self._label(done)
        if done:  # the windows of the tracks that ended, all their rows labelled, let go of
            self.windows.end_passed(done[-1][0], newest)
        return labelled

    def _classify_pending(self) -> None:
        """The pending frames' faces through the CNN in one batch, their tracks' smoothers fed, the frames ready."""
        t0 = time.perf_counter()
        out = self.analyzer.classify_crops(np.concatenate([c for *_, c in self._pending]))
        self.stages["cnn"] += time.perf_counter() - t0
        k = 0
        for t, index, frame, tracked, _ in self._pending:
            faces = []
            for tf in tracked:
                probs, feature = out.probabilities[k], out.features[k]
                k += 1
                self.windows.add(tf.track_id, t, probs, feature)
                faces.append((tf, probs))
            self._ready.append((t, index, frame, faces))
        self._pending.clear()

    def _label(self, frames: list[tuple[float, int, np.ndarray, list]]) -> list[AnalysedFrame]:
        """Frames whose labels are final, (time, index, frame, [(tracked face, probabilities)]) each, labelled: the
        windows of all their faces classified together (:meth:`TrackWindows.classify_many`)."""
        uncertain_below = self.analyzer.model_config.uncertain_below
        dx, dy = self._region[:2] if self._region is not None else (0, 0)  # the region's place in the whole frame
        spent = self.windows.seconds
        outputs = iter(self.windows.classify_many([(tf.track_id, t) for t, _, _, faces in frames for tf, _ in faces]))
        self.stages["temporal"] += self.windows.seconds - spent
        labelled_frames = []
        for t, index, frame, faces in frames:
            labelled = []
            for tf, probs in faces:
                smoothed = next(outputs)
                det = tf.detection
                x, y, w, h = det.box
                labelled.append(FrameFace(t, index, tf.track_id, (x + dx, y + dy, w, h),
                                          tuple(float(p) for p in smoothed), tuple(float(p) for p in probs),
                                          bool(smoothed.max() < uncertain_below), tf.detected,
                                          None if det.score is None else float(det.score),
                                          tuple((px + dx, py + dy) for px, py in det.landmarks)))
            labelled_frames.append(AnalysedFrame(t, index, frame, labelled))
        return labelled_frames


class AnnotatedVideoWriter:
    """The annotated MP4: each frame with its faces' boxes and labels; small videos are enlarged so that labels
    and bars stay legible.

    The MP4 has a constant rate (``fps``) and each frame is placed in the slot nearest its own time, on the tables'
    clock: a variable-frame-rate video's frames, written one after another at the average rate, drifted up to a
    second from the times in the tables. A gap holds the frame before it; a frame due in a slot already written is
    left out. Pictures that start after the file does (after its sound: an MP4 edit list, an MPEG-TS), or from a
    ``start`` past 0, are held on their first frame until then, so that a time read off the copy's player is the
    time in the tables within half a slot: at ``sample_fps``, the copy's rate, within half a sampling step."""

    def __init__(self, path: Path, fps: float, audio_from: Path | None = None, lead_in: bool = True):
        """``audio_from``: the video file whose sound the MP4 carries too (None: silent). ``lead_in`` False: the MP4
        starts at the first frame, its slots counted from it, not held on it from the recording's start (an
        estimate's sample of a stretch at 50 min encoded 50 min of one held frame)."""
        self.path, self.fps, self.audio_from, self.lead_in = path, fps, audio_from, lead_in
        self._writer: H264Writer | None = None
        self._written = 0  # frames in the MP4 so far
        self._first_slot: int | None = None  # the first frame's slot, where the MP4 starts at it (no lead-in)
        self._last: np.ndarray | None = None

    def write(self, frame: AnalysedFrame) -> None:
        image = frame.image
        zoom = max(1.0, MIN_ANNOTATED_HEIGHT / image.shape[0])
        if self._writer is None:
            h, w = (round(v * zoom) for v in image.shape[:2])
            self._writer = H264Writer(self.path, w, h, self.fps, self.audio_from)
        slot = round(frame.time * self.fps)
        if not self.lead_in:
            self._first_slot = slot if self._first_slot is None else self._first_slot
            slot -= self._first_slot
        if slot < self._written:
            return  # its slot holds an earlier frame already
        faces = [f.as_face() for f in frame.faces]
        if zoom > 1.0:
            image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
            faces = [_zoom_face(f, zoom) for f in faces]
        labels = [f"#{f.track_id} {face_label(f.emotion, max(f.probabilities), f.uncertain)}" for f in frame.faces]
        annotated = annotate(image, faces, labels)
        while self._written < slot:  # a gap holds the frame before it (the first frame: the pictures' late start)
            self._writer.write(annotated if self._last is None else self._last)
            self._written += 1
        self._last = annotated
        self._writer.write(self._last)
        self._written += 1

    @property
    def started(self) -> bool:
        return self._writer is not None

    @property
    def encoder_cpu_seconds(self) -> float | None:
        return self._writer.encoder_cpu_seconds if self._writer is not None else None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class KeptOutputs(NamedTuple):
    """Outputs in a folder that a run of this user is not to replace (:func:`kept_outputs`)."""

    said: str  # what they are, in words: "uid 54321's outputs of p01/cam.mp4", "the outputs of p01/cam.mp4"
    video: str  # the video file their tracks JSON records ("": it could not be read, or records none)


def kept_outputs(tracks_json: Path, source: str | Path | None = None) -> KeptOutputs | None:
    """The outputs ``tracks_json`` stands for, where a run of ``source`` is not to replace them: another user's
    ("student1's outputs of p01/cam.mp4"), ones this user cannot read, or (``source`` given) another video's
    ("the outputs of p01/cam.mp4"). None where there are none, or they are this user's of ``source`` (or of any
    video: ``source`` None). A colleague's outputs in a folder a group shares are kept: under `umask 077` they
    could not be read, were passed over as if the name were free, and a run of another video of the same name
    deleted them without a word. The one reading of whose outputs these are: which to name apart from
    (:func:`outputs_kept_apart`), which a run refuses to write over (:func:`outputs_lock`), and which video's a
    library caller's run replaced (:attr:`VideoResult.replaced`)."""
    try:
        summary = json.loads(tracks_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # one this user cannot read (said below), or cut short (a crash while it was
        summary = None  # written): then this user's stem to write again
    earlier = summary.get("file") if isinstance(summary, dict) else None
    earlier = earlier if isinstance(earlier, str) else ""
    of = f" of {earlier}" if earlier else ""
    if (whose := not_this_users(tracks_json, of)) is not None:  # (the rule a photo's outputs are kept by)
        return KeptOutputs(whose, earlier)
    if (source is None or not earlier or earlier == recorded_name(source)
            or Path(recorded_path(earlier)).resolve() == Path(source).resolve()):
        return None
    return KeptOutputs(f"the outputs{of}", earlier)


def kept_apart_notice(out_dir: str | Path, kept: str, stem: str, own: str) -> str:
    """What a video's outputs named apart from ``kept`` (:attr:`KeptOutputs.said`) under ``stem`` are named
    (``own``), as `fervid video` and :attr:`VideoResult.kept_apart` say it."""
    return f"{out_dir}/ holds {kept} named {stem}_*, which are kept; this video's are named {own}_*"


def own_stem(out_dir: str | Path, stem: str, source: str | Path) -> tuple[str, str | None]:
    """The stem a run of ``source`` writes its outputs under in ``out_dir``: ``stem``, or where the outputs of
    that name are another user's or unreadable ones (:func:`kept_outputs`), a stem of its own as `fervid video`
    chooses one (:func:`fervid.inference.images.stem_not_taken`: p02_cam, then a counter), apart from every
    output there that is not this user's of ``source``; with it, the notice that says so (None: ``stem``). The
    outputs that runs killed replacing them set aside are settled first (:func:`recover_killed_replacements`)."""
    recover_killed_replacements(out_dir)
    kept = kept_outputs(Path(out_dir) / OutputNames(stem).tracks_json)
    if kept is None:
        return stem, None
    own = stem_not_taken(Path(source), stem, set(outputs_kept_apart(out_dir, source)))
    return own, kept_apart_notice(out_dir, kept.said, stem, own)


def outputs_kept_apart(out_dir: str | Path, source: str | Path | None = None) -> dict[str, str]:
    """The stems (lower case) of the outputs in ``out_dir`` that no run of this user replaces, another user's or
    unreadable ones (and with ``source``, another video's: :func:`kept_outputs`), each with what they are in words:
    a video's outputs are named apart from them."""
    return {tracks_json.name[: -len(TRACKS_JSON_SUFFIX)].lower(): kept.said
            for tracks_json in sorted(Path(out_dir).glob(f"*{TRACKS_JSON_SUFFIX}"))
            if (kept := kept_outputs(tracks_json, source)) is not None}


def written_tracks(folder: str | Path, *patterns: str) -> Iterator[tuple[Path, dict]]:
    """The tracks JSONs that earlier analyses wrote in ``folder`` (``patterns``: where, by default its own
    ``*_tracks.json``), each with its contents; one that cannot be read, or names no video file, is passed over."""
    for pattern in patterns or (f"*{TRACKS_JSON_SUFFIX}",):
        for tracks_json in sorted(Path(folder).glob(pattern)):
            try:
                summary = json.loads(tracks_json.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(summary, dict) and isinstance(summary.get("file"), str) and summary["file"]:
                yield tracks_json, summary


def stems_used_before(out_dir: str | Path) -> dict[Path, str]:
    """The stem each video's outputs got in ``out_dir`` in earlier runs, by the video's resolved path: names depend
    on which videos are analysed together (p02/cam.mp4 with p01/cam.mp4 writes p02_cam_*, alone cam_*), and a video
    analysed again on its own left its first outputs beside the new ones instead of replacing them."""
    stems: dict[Path, str] = {}
    for tracks_json, summary in written_tracks(out_dir):
        if other_users_file(tracks_json) is not None:  # kept, not replaced (outputs_kept_apart)
            continue
        stems.setdefault(Path(recorded_path(summary["file"])).resolve(), tracks_json.name[: -len(TRACKS_JSON_SUFFIX)])
    return stems


def recover_killed_replacements(out_dir: str | Path) -> None:
    """Settle the outputs in ``out_dir`` that runs killed replacing them set aside under hidden names
    (:func:`fervid.inference.set_aside.recover_set_aside`), each stem's holding its lock: before a stem is chosen,
    as the outputs in place say whose each name is. Settled only as the run of that stem locked it, p01/cam.mp4's
    set aside were not there when a run of p02/cam.mp4 chose its stem: it took cam_* as free, then put p01's back
    and replaced them. A stem whose lock another run holds (one still replacing its outputs) is left to it, and
    one that cannot be locked (a folder this user cannot write) to the run that writes it."""
    for stem in sorted({stem for name in set_aside_names(Path(out_dir)) if (stem := OutputNames.stem_of(name))}):
        with contextlib.suppress(FolderLocked, OSError), stem_lock(Path(out_dir), stem, OutputsBusy):
            recover_set_aside(Path(out_dir), OutputNames(stem).owns)


@contextlib.contextmanager
def outputs_lock(out_dir: str | Path, stem: str, source: str | Path | None = None) -> Iterator[None]:
    """One analysis at a time writes the outputs named ``stem`` in ``out_dir``, whichever process or thread runs it
    (two analyses of a video into one folder at once deleted each other's partial files as they started: both
    said ok, and no table was left; two `fervid video` runs mixed one's CSV with the other's JSON); one of another
    video there goes on. Raises :class:`OutputsBusy` where another run holds them, or where another user's or
    unreadable outputs were written under that name since its stem was chosen apart from them, and (``source``:
    the video they are for, whose stem was chosen apart from the other videos' outputs there) another video's
    (:func:`kept_outputs`), judged once what a run killed replacing them set aside is settled
    (:func:`fervid.inference.set_aside.recover_set_aside`). The lock file (``.<stem>.lock``) is there only while it
    is held."""
    out_dir = make_output_dir(out_dir)  # (its error names the folder asked for, not the lock's inside it)
    with stem_lock(out_dir, stem, OutputsBusy, kind=VIDEO_OUTPUTS):
        # (hidden, the outputs in place were no one's: this run replaced them, kept_outputs said of another's)
        recover_set_aside(out_dir, OutputNames(stem).owns)
        kept = kept_outputs(out_dir / OutputNames(stem).tracks_json, source)
        if kept is not None:
            raise OutputsBusy(f"{out_dir}: another fervid run wrote {kept.said} as {stem}_* while this one ran; run "
                              f"it again to name {source if source is not None else 'this video'}'s apart")
        yield


class SegmentLogs:
    """Each :class:`TimeSegment`'s own track logs, fed the frames inside it (from its start up to its end) as the
    video's are: its summary per track (:meth:`TrackLog.summary`, up to the segment's end) gives the seconds seen,
    the emotions' shares of them and the dominant one by the same rule as the whole track's. A row lasts until the
    next: the faces of the last frame before a segment's start are its first row, at its start, lasting as their
    own rows do (into a segment no analysed frame fell in, over the whole of it), and a face's last row in it lasts
    to its end where the whole track's row lasts past it (the face on the first frame after the end, or back soon
    enough to be no gap), so that segments side by side share a track's seen seconds as the whole track has them.
    A face missing at a segment's start for less than a gap (a dropout: a few frames without it) is seen from the
    start as its whole track is: its last row before the dropout begins the segment and lasts until the face is
    back, as a dropout inside a segment does; where it stays away for a gap, the segment has it from its return
    (a segment starting in a dropout had the face from its return only: seen 0.3 s less than the track was). Those
    rows count for their time only (a segment's frames and means are over the rows whose time is inside it, as the
    frame table's).

    With ``every`` (``VideoOptions.segment_every``), the segments are windows of that many seconds from ``start``,
    added to ``segments`` (the result's own list) as the frames reach them, a window no frame fell in included:
    how long the video is may be known only once it is read; :meth:`end_at` adds the windows up to the video's end
    and ends the last one where the video does."""

    # the frame a segment's log is given: an episode's key frame is the whole track's, and none is cropped here
    _NO_IMAGE = np.zeros((0, 0, 3), np.uint8)

    def __init__(self, segments: list[TimeSegment], spacing: float, detect_every: float,
                 every: float | None = None, start: float = 0.0):
        self.segments, self.spacing, self.detect_every = segments, spacing, detect_every
        self.every, self.start = every, start
        # how long a track may go unseen with its last row lasting until it is back (TrackLog.gap at this spacing)
        self.gap = gap_seconds(spacing, detect_every)
        self.logs: list[dict[int, TrackLog]] = []
        self._present: list[set[int] | None] = []  # the tracks in each one's last row (None: not begun)
        # per segment, the tracks in a dropout at its start: their last face before it and the time their absence
        # began; whether that row lasts into the segment is known once the face is back or gone for a gap
        self._awaited: list[dict[int, tuple[FrameFace, float]]] = []
        self.framed: list[bool] = []  # whether an analysed frame fell inside each one
        self._ended: list[bool] = []  # whether a frame came at or after each one's end
        for _ in segments:
            self._new_log()
        # segments ended whose tracks' last rows may yet last to their end: track numbers by segment, those whose
        # face was missing from the frames since (whether its absence is a gap is known once it is back or long gone)
        self._settling: dict[int, set[int]] = {}
        self._open_from = 0  # with ``every``: the first window not ended
        self._before: AnalysedFrame | None = None  # the last frame added
        # each track's last face, and the time its absence began where the frames since came without it; dropped
        # once that absence is a gap
        self._last_faces: dict[int, FrameFace] = {}
        self._absent_from: dict[int, float] = {}

    def _new_log(self) -> None:
        self.logs.append({})
        self._present.append(None)
        self._awaited.append({})
        self.framed.append(False)
        self._ended.append(False)

    @property
    def settled(self) -> bool:
        """Every segment ended by a frame, and its tracks' last rows where the whole tracks' end: frames after
        this change none of their summaries."""
        return all(self._ended) and not self._settling

    def add(self, frame: AnalysedFrame) -> None:
        self._settle(frame)
        while self.every and (not self.segments or frame.time >= self.segments[-1].end - TIME_TOLERANCE):
            self.segments.append(equal_window(self.start, self.every, len(self.segments)))
            self._new_log()
        # windows follow one another: a frame is in one of the last made (not looked for in each of an hour's
        # 3,600 1-s windows, every frame)
        for number in range(self._open_from, len(self.segments)) if self.every else range(len(self.segments)):
            segment = self.segments[number]
            if self._ended[number] or frame.time < segment.start - TIME_TOLERANCE:
                continue
            self._begin(number, frame.time)
            if frame.time >= segment.end - TIME_TOLERANCE:
                self._ended[number] = True
                self._settling[number] = set(self.logs[number])
                self._settle(frame, number)
            else:
                self.framed[number] = True
                self._log(number, frame)
        while self._open_from < len(self.segments) and self.every and self._ended[self._open_from]:
            self._open_from += 1
        self._before = frame
        faces = {face.track_id: face for face in frame.faces}
        for track_id in self._last_faces.keys() - faces.keys():
            self._absent_from.setdefault(track_id, frame.time)
        self._last_faces.update(faces)
        for track_id in faces:
            self._absent_from.pop(track_id, None)
        for track_id, absent_from in list(self._absent_from.items()):
            if self._gone_by(absent_from, frame.time):
                del self._absent_from[track_id], self._last_faces[track_id]

    def _gone_by(self, absent_from: float, time: float) -> bool:
        """Whether an absence from ``absent_from``, on at a frame at ``time`` (or ended there), is a gap
        (:meth:`TrackLog.gone_by`, at this spacing)."""
        return time - absent_from + self.spacing > self.gap

    def _begin(self, number: int, time: float) -> None:
        """Segment ``number`` reached by a frame at ``time`` (inside it or past it): the row in effect at its start
        (the last frame's before it) begins it."""
        if self._present[number] is not None:
            return
        self._present[number] = set()
        segment = self.segments[number]
        if self._before is not None and time > segment.start + TIME_TOLERANCE:
            self._log(number, AnalysedFrame(segment.start, self._before.index, self._before.image,
                                            [dataclasses.replace(face, time=segment.start)
                                             for face in self._before.faces]), self._before.time)
        # (a frame at its start has no row carried in, but a face in a dropout there still has its last row)
        self._awaited[number] = {track_id: (self._last_faces[track_id], absent_from)
                                 for track_id, absent_from in self._absent_from.items()}

    def _await(self, number: int, frame: AnalysedFrame) -> set[int]:
        """``frame`` (inside segment ``number`` or after its end) says of the tracks in a dropout at its start
        whether their last row lasts into it: a face back on it soon enough to be no gap does, from the segment's
        start (that row is logged there, carried from its own frame); one gone for a gap does not (its whole
        track's last row ends where its absence began, before the start). The tracks whose row was carried in."""
        awaited = self._awaited[number]
        if not awaited:
            return set()
        present = {face.track_id for face in frame.faces}
        carried = set()
        for track_id, (face, absent_from) in list(awaited.items()):
            if self._gone_by(absent_from, frame.time):
                del awaited[track_id]
            elif track_id in present:
                del awaited[track_id]
                log = self.logs[number][track_id] = TrackLog(track_id, self.spacing, self.detect_every)
                log.add(dataclasses.replace(face, time=self.segments[number].start), self._NO_IMAGE, face.time)
                carried.add(track_id)
        return carried

    def _settle(self, frame: AnalysedFrame, only: int | None = None) -> None:
        """``frame``, after the end of the segments ended (``only``: of that one), says how their tracks' last rows
        end, as the whole tracks' do: a face on it, or back on it before its absence makes a gap, was seen up to
        the segment's end (a row at the end, carried from this frame, ends its last one there); one missing has
        its absence start here, and one gone for a gap's length ends its last row where the whole track's does."""
        faces = {face.track_id: face for face in frame.faces}
        for number in [only] if only is not None else list(self._settling):
            logs, settling = self.logs[number], self._settling[number]
            settling |= self._await(number, frame)  # (a segment that ended in the dropout it started in)
            for track_id in list(settling):
                log, face = logs[track_id], faces.get(track_id)
                if face is None:
                    log.missed(frame.time)
                gone = log.gone_by(frame.time)
                if face is not None and not gone:
                    log.add(dataclasses.replace(face, time=self.segments[number].end), self._NO_IMAGE, frame.time)
                if face is not None or gone:
                    settling.discard(track_id)
            if not settling and not self._awaited[number]:
                del self._settling[number]

    def _log(self, number: int, frame: AnalysedFrame, carried_from: float | None = None) -> None:
        if carried_from is None:
            self._await(number, frame)
        logs, present = self.logs[number], {face.track_id for face in frame.faces}
        for track_id in (self._present[number] or set()) - present:  # as ResultWriter.write: an absence starts
            logs[track_id].missed(frame.time)
        self._present[number] = present
        for face in frame.faces:
            log = logs.get(face.track_id) or logs.setdefault(
                face.track_id, TrackLog(face.track_id, self.spacing, self.detect_every))
            log.add(face, self._NO_IMAGE, carried_from)

    def end_at(self, seconds: float) -> None:
        """The video ended at ``seconds``: the windows (``every``) reach it, the last one ending there, not a whole
        window later (a minute's window holding the video's last 0.12 s was written as a minute), and the segments
        that start before it and no frame reached begin with the row of its last frame."""
        if self._before is None:
            return
        while self.every and self.segments[-1].end < seconds - TIME_TOLERANCE:
            self.segments.append(equal_window(self.start, self.every, len(self.segments)))
            self._new_log()
        if self.every and seconds < self.segments[-1].end:
            self.segments[-1] = self.segments[-1]._replace(end=round(seconds, TIME_DECIMALS))
        for number, segment in enumerate(self.segments):
            if segment.start < seconds - TIME_TOLERANCE:
                self._begin(number, seconds)


class ResultWriter:
    """Feeds a :class:`VideoResult` with final frames: its track logs, and with ``out_dir`` the streamed frame
    table, the key frames (written as their episodes end, as many a track as ``result.settings["key_frames"]``
    keeps) and the annotated MP4; without, the rows are kept in ``result.faces``. Used for files and for live
    streams alike.

    The streamed files are written under their :meth:`OutputNames.partial` names and moved into place once closed
    (:meth:`close`, :meth:`into_place`): killed mid-way (SIGKILL, a crash) or failing to write (a full disk), an
    analysis left a CSV that ended cleanly, an MP4 that played and dozens of key frames under their own names,
    nothing saying they were cut short. This stem's outputs of an earlier run are replaced only then."""

    def __init__(self, result: VideoResult, out_dir: str | Path | None, annotate: bool = True, fps: float = 30.0,
                 audio_from: Path | None = None, annotated_lead_in: bool = True):
        """``audio_from``: the video file whose sound the annotated MP4 carries (None: silent);
        ``annotated_lead_in``: :class:`AnnotatedVideoWriter`'s ``lead_in``."""
        self.result, self.fps = result, fps
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.stem = result.stem
        self.table = self.video = self.key_frame_writer = None
        self._in_last_frame: set[int] = set()  # the tracks in the last frame written
        self.segment_logs = result.segment_logs = SegmentLogs(result.segments, 1 / fps,
                                                              result.settings.get("detect_every", 0.0),
                                                              result.settings.get("segment_every"),
                                                              result.settings.get("start") or 0.0)
        if self.out_dir is not None:
            make_output_dir(self.out_dir)
            names = OutputNames(self.stem)
            # a killed run's earlier outputs, set aside as it replaced them: back in place, or gone, before this
            # run reads the tracks JSON that says whose they are (done already where the stem's outputs_lock is
            # held: here for a writer without it, a server's live session in its own folder)
            recover_set_aside(self.out_dir, names.owns)
            # (another user's and unreadable outputs are kept: VideoAnalyzer.run names this run's apart from them)
            earlier = kept_outputs(self.out_dir / names.tracks_json, result.source)
            result.replaced = (earlier.video or None) if earlier is not None else None
            for left in names.written_before(self.out_dir):  # a killed run's partial files
                if left.name != OutputNames._whole(left.name):
                    left.unlink()
            self.table = FrameTableWriter(self.out_dir / names.partial(names.frames_csv),
                                          self.out_dir / names.partial(names.frames_parquet),
                                          settings=result.run_settings)
            result.table_path = self.table.paths[1]
            # the cap the result records: its save() keeps to it too, for key frames not written here
            self.key_frame_writer = KeyFrameWriter(self.out_dir, self.stem, result.settings.get("key_frames"),
                                                   partial=True)
            if annotate:
                self.video = AnnotatedVideoWriter(self.out_dir / names.partial(names.annotated), fps, audio_from,
                                                  lead_in=annotated_lead_in)

    def write(self, frames: list[AnalysedFrame]) -> None:
        result = self.result
        for frame in frames:
            present = {face.track_id for face in frame.faces}
            for track_id in self._in_last_frame - present:  # an absence starts: frames come without it
                result.tracks[track_id].missed(frame.time)
            self._in_last_frame = present
            for face in frame.faces:
                log = result.tracks.get(face.track_id) or result.tracks.setdefault(
                    face.track_id, TrackLog(face.track_id, 1 / self.fps, result.settings.get("detect_every", 0.0)))
                closed = log.add(face, frame.image)
                if self.table is not None:
                    self.table.add(face)
                    if closed is not None and self.key_frame_writer is not None:  # (made with the table)
                        self.key_frame_writer.add(closed)
                else:
                    result.faces.append(face)
            if self.table is not None:
                self.table.flush_if_due()
            self.segment_logs.add(frame)
            if self.video is not None:
                t0 = time.perf_counter()
                self.video.write(frame)
                result.stage_seconds["encode"] = result.stage_seconds.get("encode", 0.0) + time.perf_counter() - t0

    def close(self, into_place: bool = True, stopped_at: float | None = None) -> None:
        """End of the stream: files closed, the table's metadata saying how the analysis ended
        (:func:`table_outcome`; ``stopped_at``: the time of the last frame read where it ended before the video
        did), open episodes closed (their key frames written), and with ``into_place`` the
        files moved into place (:meth:`into_place`); left under their partial names, they say the analysis did not
        finish writing them (or, :attr:`VideoResult.outputs_partial`, the video), and its episodes' ``key_frame`` names
        the partial files."""
        if self.video is not None:
            t0 = time.perf_counter()
            self.video.close()  # (the encoder finishing the frames written to it)
            self.result.stage_seconds["encode"] = (self.result.stage_seconds.get("encode", 0.0)
                                                   + time.perf_counter() - t0)
            self.result.encoder_cpu_seconds = self.video.encoder_cpu_seconds
            self.result.annotated_path = self.video.path if self.video.started else None
        if self.table is not None:
            result = self.result
            self.table.close({"ok": result.ok, "error": result.error, "cancelled": result.cancelled,
                              "interrupted": result.interrupted,
                              "frames_read": result.frames_read, "stopped_at": stopped_at,
                              "started_at": result.started_at})
        if self.result.duration:
            self.segment_logs.end_at(self.result.duration)
        for log in self.result.tracks.values():
            last = log.close(self.result.duration or None)
            if last is not None and self.key_frame_writer is not None:
                self.key_frame_writer.add(last)
        if into_place:
            self.into_place()
        elif self.out_dir is not None:
            for ep in self.result.episodes:
                if ep.key_frame:
                    ep.key_frame = OutputNames.partial(ep.key_frame)

    def into_place(self) -> None:
        """The closed files moved to their own names (renamed: instant, whole or not at all), replacing this stem's
        outputs of an earlier run; the result's paths follow them. A file written that is gone (deleted by another
        program meanwhile) fails the result (``error``), naming it: passed over, it left a result that said ok
        and a folder without its table."""
        if self.out_dir is None or self.table is None:  # (the table is written wherever there is a folder)
            return
        names, result = OutputNames(self.stem), self.result
        written = [self.out_dir / names.partial(ep.key_frame) for ep in result.episodes if ep.key_frame]
        written += [path for path in (result.table_path, result.annotated_path) if path is not None]
        written += [self.table.paths[0]]
        written = [path for path in written if path.name != names._whole(path.name)]
        gone = [path for path in written if not path.is_file()]
        if gone:
            missing = (f"{gone[0]}{f' and {len(gone) - 1} more of its outputs' if len(gone) > 1 else ''}: gone "
                       f"before the analysis could move {'it' if len(gone) == 1 else 'them'} into place (deleted "
                       f"while it ran?); the outputs in {self.out_dir} are incomplete")
            result.error = f"{result.error}; {missing}" if result.error else missing
        replace_outputs([(path, path.with_name(names._whole(path.name))) for path in written if path not in gone],
                        [old for old in names.written_before(self.out_dir) if old.name == names._whole(old.name)])
        result.table_path = self.out_dir / names.frames_parquet
        result.table_stamp = _file_stamp(result.table_path)
        if result.annotated_path is not None:
            result.annotated_path = self.out_dir / names.annotated


def method_for(cnn, method: str, temporal_model: str | Path | None,
               naming: OptionNaming) -> tuple[str, str | None]:
    """The temporal method that runs for ``method`` over the features of CNN ``cnn`` (a ModelConfig), and a notice
    when it is not the one asked for, naming the options as ``naming`` says (:func:`fervid.errors.said_option`):
    "lstm" needs an LSTM trained on that CNN's features (``temporal_model``, or the one shipped for a shipped
    CNN); without one, the moving average runs."""
    if method == "lstm" and not temporal_model and cnn.features_of not in shipped_temporal_models():
        return "mean", (f"no temporal LSTM reads the features of CNN {cnn.features_of!r}; using the moving average "
                        f"({said_option('method', naming, 'mean')}) instead (train one with `fervid train-temporal "
                        f"--model ...` and pass it as {said_option('temporal_model', naming)})")
    return method, None


def lstm_graph_notice(lstm: LSTMTemporal, running: dict[str, str], naming: OptionNaming) -> str | None:
    """A line saying that ``lstm`` learnt from the features of another graph of its CNN (``cnn_graph`` in its
    config: the int8 one, say) than the one running (``running``: :attr:`EmotionCNN.graph_identity`, fp32 with
    ``--precision fp32``); None where they are one graph, or where its config records none (an older LSTM). The
    features differ slightly, and a shift of the int8 graph alone moved an LSTM's accuracy by about 2 points
    (docs/results.md section 8): it runs, said, its advice naming the options as ``naming`` says
    (:func:`fervid.errors.said_option`)."""
    learnt = lstm.config.get("cnn_graph") or {}
    if not learnt.get("sha256") or learnt["sha256"] == running["sha256"]:
        return None
    same_file = learnt.get("file") == running["file"] and learnt.get("precision") == running["precision"]
    described = [f"{graph.get('precision', '?')} graph {graph.get('file', '?')}"
                 + (f" ({graph['sha256'][:12]})" if same_file else "") for graph in (learnt, running)]
    advice = (f"; {said_option('precision', naming, learnt['precision'])} runs the graph it learnt from"
              if learnt.get("precision") in ("int8", "fp32") and learnt.get("precision") != running["precision"]
              else "; retrain it on this graph with `fervid train-temporal`")
    return (f"the temporal LSTM {lstm.model_name} learnt from the features of CNN {lstm.cnn}'s {described[0]}, and "
            f"this analysis runs its {described[1]}: the features differ slightly, and a shift of the graph alone "
            f"moved an LSTM's accuracy by about 2 points (docs/results.md section 8){advice}")


class VideoAnalyzer:
    """Runs the video pipeline with an :class:`fervid.inference.analyzer.Analyzer`'s detector and CNN: a
    :class:`FrameStream` whose final frames feed the output writers (annotated MP4, streamed frame table, track
    logs with their key frames)."""

    def __init__(self, analyzer, options: VideoOptions = VideoOptions(), temporal: TemporalMethod | None = None,
                 naming: OptionNaming = "keywords"):
        """``temporal``: a temporal method object; None builds ``options.method``. A CNN with no temporal LSTM
        of its own (a model folder of yours, say) falls back from "lstm" to "mean", and ``notice`` says so; an LSTM
        fed features of another graph of its CNN than the one it learnt from (``precision="fp32"`` for an LSTM
        trained on int8 features) runs, and ``graph_notice`` says so. ``naming``: how those notices name the
        options, as the caller gives them: "keywords" (``method="mean"``, Python's) or "flags" (``--method mean``,
        the command line's; :func:`fervid.errors.said_option`)."""
        self.analyzer = analyzer
        self.options = options
        self.notice: str | None = None
        # False: the annotated MP4 starts at the first frame analysed, not held on it from the recording's start
        # to a start past 0 (an estimate's samples, whose outputs are measured and thrown away)
        self.annotated_lead_in = True
        cnn = analyzer.cnn.config
        # an ensemble's features are its first member's, whose weights are not the ensemble's file
        own_features = cnn.features_of == cnn.name
        weights = analyzer.cnn.weights_sha256 if options.method == "lstm" and own_features else None
        if temporal is None:
            method, self.notice = method_for(cnn, options.method, options.temporal_model, naming)
            # the analyzer's LSTM session, loaded once and shared by its videos and streams, at its threads
            temporal = analyzer.temporal_lstm(options.temporal_model) if method == "lstm" else make_method(method)
        if isinstance(temporal, LSTMTemporal):  # it must read this CNN's features
            temporal.check_cnn(cnn.features_of, cnn.feature_dim, weights)
        self.temporal = temporal
        self.graph_notice = (lstm_graph_notice(self.temporal, analyzer.cnn.graph_identity, naming)
                             if isinstance(self.temporal, LSTMTemporal) and own_features else None)

    def stream(self, fps: float, stages: dict[str, float] | None = None,
               clock_resets: list[float] | None = None, options: VideoOptions | None = None) -> FrameStream:
        """A fresh :class:`FrameStream` (its own tracks) over this analyzer, e.g. one per live viewer (``options``:
        instead of this analyzer's, e.g. its rate capped by :func:`frames_memory_limits`)."""
        return FrameStream(self.analyzer, options or self.options, self.temporal, fps, stages, clock_resets)

    def new_result(self, source: str, **fields) -> VideoResult:
        """An empty result that records what will make it: model, detector, method and the other settings."""
        opts, ran = self.options, self.analyzer.settings
        temporal = self.temporal
        return VideoResult(source=source, segments=list(opts.segments), method=self.temporal.name, model=ran["model"], detector=ran["detector"],
                           settings={"weights_file": ran["weights_file"], "weights_sha256": ran["weights_sha256"],
                                     "precision": ran["precision"], "temperature": ran["temperature"],
                                     "score_threshold": ran["score_threshold"], "min_face": ran["min_face"],
                                     "max_faces": ran["max_faces"], "detect_every": opts.detect_every,
                                     # per-frame labels read no window: none is recorded
                                     "window": None if self.temporal.name == "frame" else opts.window,
                                     "sample_fps": opts.sample_fps, "centred_window": opts.centred,
                                     "labels_delay_seconds": labels_delay(self.temporal.name, opts.window,
                                                                          opts.centred),
                                     "key_frames": opts.key_frames,
                                     # the region (in the frames' pixels once a file is opened) and the stretch
                                     # analysed
                                     "region": list(opts.region) if opts.region is not None else None,
                                     "start": opts.start, "end": opts.end, "segment_every": opts.segment_every,
                                     "temporal_temperature": float(self.temporal.temperature),
                                     **({"temporal_model": temporal.model_name,
                                         "temporal_model_sha256": temporal.weights_sha256}
                                        if isinstance(temporal, LSTMTemporal) else {}),
                                     "fervid": ran["fervid"], "onnxruntime": ran["onnxruntime"]}, **fields)

    def run(self, source: str | Path, out_dir: str | Path | None = None,
            progress: Callable[[int, int], None] | None = None, frames=None, fps: float | None = None,
            stop: Callable[[], bool] | None = None, stem: str = "", total: int = 0,
            clock: RisingClock | None = None,
            size_changes: Callable[[tuple[int, int]], list[dict]] | None = None,
            hdr: tuple[str | None, bool] = (None, False), keep_others: bool = False,
            frame_shape: tuple[int, ...] | None = None,
            started_at: Callable[[], str | None] | None = None, stop_is_end: bool = False) -> VideoResult:
        """Analyse a video file (or any iterable of (time, BGR frame) or (time, BGR frame, the frame's index in its
        source) given as ``frames`` with its ``fps``, and ``total``: the frames the source is expected to hold,
        0 if not known; a live source that skips frames gives their indices; ``clock``: the :class:`RisingClock`
        that timed them, whose resets the result records; ``size_changes``: where the source's frame size changes
        from the (width, height) analysed, asked once the frames are read, as :func:`recorded_size_changes`;
        ``hdr``: ("PQ" or "HLG", whether tone-mapped) of an HDR source read as ``frames``, as the result records it;
        ``frame_shape``: the (height, width) of the ``frames``, where known before they are read (a
        :class:`LiveSource`'s): the region is checked against it as a file's is, before any output is written);
        ``started_at``: when the ``frames``' time 0 was by the wall clock, asked once they are read (a
        :class:`LiveSource`'s :attr:`~LiveSource.started_at`), as :attr:`VideoResult.started_at` records it).

        ``stop()`` is asked as each frame is read, and ``progress(frames_done, frames_total)`` then told of it where
        it goes on: the last ``frames_done`` before a stop is the result's ``frames_read``. Once ``stop()`` returns
        true the analysis ends there: the frames analysed keep their labels, and the result is returned, cancelled
        (:attr:`VideoResult.cancelled`: its ``error`` says where it stopped, ``ok`` is false, and the outputs keep
        their partial names, as an interrupted run's). ``stop_is_end``: ``stop`` returning true is where the source
        ends for this run, not a cancel (a live session's user ending it, a sample's planned length): the result is
        not cancelled, and its outputs take their own names. With ``out_dir`` every output is written there as the
        video is analysed (the rows are streamed, not kept: memory stays flat in the video's length), and the rest
        when done (also after a mid-way failure); without, the rows are kept in ``result.faces``. ``stem`` starts the
        outputs' file names (default: the source's stem; several videos of one name written to one folder need
        distinct stems, :func:`fervid.inference.images.output_stems`).

        A video that breaks mid-way (a decoder's or the analysis's failure) gives a result whose ``error`` says
        where and why, with what was analysed before. Exceptions that are not the video's are raised instead, once
        the outputs up to there are saved (as Ctrl-C's KeyboardInterrupt is), their frames labelled: those raised
        by ``progress`` or ``stop`` (the caller's code: a bug, or its own way to cancel), and the machine's
        (:data:`RAISED_ERRORS`: memory, an output folder that cannot be written; memory running out, ONNX
        Runtime's ``std::bad_alloc`` too, as :class:`fervid.errors.OutOfMemory`, saying at which frame). Those, and
        an interrupt (KeyboardInterrupt: Ctrl-C, SIGTERM), leave the outputs up to there under their partial names
        (:attr:`VideoResult.outputs_partial`). A save that fails after the analysis did keeps the analysis's error
        the one said (its ``error``, or the exception raised), the save's beside it.

        With ``out_dir``, one analysis at a time writes a stem's outputs there (:func:`outputs_lock`): where another
        (another thread's or process's) is writing them, :class:`OutputsBusy` is raised before any frame is read.
        Another user's outputs there, and ones this user cannot read, are never replaced: where ``stem``'s are,
        this run's are named apart, as `fervid video` names them (p02_cam, then a counter: :func:`own_stem`), and
        :attr:`VideoResult.kept_apart` says so. ``keep_others``: ``stem`` was chosen apart from other videos' and
        other users' outputs in ``out_dir`` (as the CLI chooses), and where some were written under it since,
        OutputsBusy is raised, rather than replacing them. Without, this user's outputs of another video under
        ``stem`` are replaced (:attr:`VideoResult.replaced` names that video). Where Windows
        limits paths (:func:`fervid.machine.long_paths_limited`) and the outputs would not fit in ``out_dir``,
        :class:`fervid.errors.PathTooLongError` is raised before any frame is read (:func:`output_paths_error`).
        """
        opts = self.options
        if stem and (Path(stem).name != stem or stem in (".", "..")):  # "../x" wrote outside out_dir, "a/b" failed
            raise OptionError(f"stem {stem!r}: the start of the outputs' file names, not a path")
        if out_dir is not None:
            check_output_dir(out_dir)
            if opts.annotate:
                check_encoder(source)
        started = time.perf_counter()
        result = self.new_result(str(source), stem=stem)
        if out_dir is not None and not keep_others:
            # another user's or unreadable outputs under this stem (a colleague's, under `umask 077`, in a folder a
            # group shares) are kept and this run's named apart, as `fervid video` names them, rather than refused:
            # the analysis is not lost over files its caller may not even see, a run of the API and one of the CLI
            # into one folder agree on the name (each run again replaces its own outputs, not a copy beside them),
            # and the name is on the result (stem, kept_apart; analyze_video warns it)
            result.stem, result.kept_apart = own_stem(out_dir, result.stem, source)
        if out_dir is not None and (too_long := output_paths_error(out_dir, result.stem)) is not None:
            raise too_long  # (where Windows limits paths: before any frame is read)
        # opened before the lock is taken: a file that is no video leaves no output folder made for it
        cap = open_video(source, max_pixels=self.options.max_frame_pixels,
                         limit_name="--max-video-megapixels, VideoOptions.max_frame_pixels") if frames is None else None
        try:
            if cap is not None:
                self._check_within(cap, result)
            elif frame_shape is not None:
                self._check_region(frame_shape, result)
            made = out_dir is not None and not Path(out_dir).is_dir()
            try:
                with (outputs_lock(out_dir, result.stem, source if keep_others else None) if out_dir is not None
                      else contextlib.nullcontext()):
                    try:
                        return self._analyse(result, started, source, out_dir, cap, progress, frames, fps, stop,
                                             total, clock, size_changes, hdr, started_at, stop_is_end)
                    except (ImportError, OSError) as exc:
                        # a library loaded before the frames (pyarrow, for the tables) that could not be mapped
                        # for want of memory: said as memory, not as the video's error (those met on a frame are
                        # told in _analyse, at which frame)
                        if (reason := memory_failure(exc)) is None:
                            raise
                        when = "saving its outputs" if result.frames_read else "before its analysis began"
                        raise OutOfMemory(f"{source}: out of memory {when} ({reason})") from exc
            except VideoError:  # refused before any output was written (a stretch holding no frame): no folder left
                if made and out_dir is not None:
                    with contextlib.suppress(OSError):  # (one holding anything stays)
                        Path(out_dir).rmdir()
                raise
        finally:
            if cap is not None:  # (released as the frames end too; again where the lock was refused)
                cap.release()

    def _check_within(self, cap: _CheckedCapture, result: VideoResult) -> None:
        """The region and the start asked for (``options``) checked against the opened video, before its outputs'
        folder is made: a region not inside its frames, or a start at or past its end, raise :class:`VideoError`
        naming it (a stretch holding none of its frames, as they are read: :func:`_frames_from_start`). The region
        is recorded in the frames' pixels (x, y, width, height)."""
        opts = self.options
        self._check_region(cap.frame_shape, result)
        length = cap.seconds_expected
        if opts.start and length and opts.start >= cap.video_start + length:
            raise VideoError(f"{result.source}: start {opts.start:g} s is at or past its end "
                             f"({cap.video_start + length:.2f} s)")

    def _check_region(self, frame_shape: tuple[int, ...], result: VideoResult) -> None:
        """The region asked for (``options``) checked against frames of ``frame_shape`` (height, width, ...):
        one not inside them raises :class:`VideoError` naming the source; it is recorded in their pixels (x, y,
        width, height)."""
        if self.options.region is not None:
            height, width = frame_shape[:2]
            x0, y0, x1, y1 = region_box(self.options.region, width, height, result.source,
                                        getattr(self.analyzer.detector, "min_face", None))
            result.settings["region"] = [x0, y0, x1 - x0, y1 - y0]

    def _analyse(self, result: VideoResult, started: float, source: str | Path, out_dir: str | Path | None,
                 cap: _CheckedCapture | None, progress: Callable[[int, int], None] | None, frames, fps: float | None,
                 stop: Callable[[], bool] | None, total: int, clock: RisingClock | None,
                 size_changes: Callable[[tuple[int, int]], list[dict]] | None,
                 hdr: tuple[str | None, bool], started_at: Callable[[], str | None] | None,
                 stop_is_end: bool) -> VideoResult:
        """:meth:`run`'s analysis, its checks passed, the video opened (``cap``, or ``frames`` given) and its
        outputs' lock held."""
        opts = self.options
        stages = result.stage_seconds = dict.fromkeys(STAGES, 0.0)
        first_index = 0  # the number in the file of the first frame read (sought to options.start)
        progress_total = total  # the frames progress() counts to: those of the stretch analysed
        if cap is not None:
            hdr = (cap.hdr, cap.tone_mapped)
            result.video_streams = max(1, len(_video_stream_lines(cap.header)))
            # a container without a usable rate: timestamps still come from the decoder
            fps = cap.frame_rate or 30.0
            total = round(cap.seconds_expected * fps)
            result.video_seconds = cap.seconds_expected or None  # (a camera's, a live stream's: not known)
            clock = RisingClock(fps, start=cap.video_start)
            # the frame sought to (its number in the file); where the reader cannot seek, the frames before start
            # are read and passed over
            if opts.start and (sought := cap.seek(opts.start)) is not None:
                first_index = sought
            frames = _read_frames(cap, stages, clock, first_index)
            if opts.start or opts.end is not None:
                frames, first_index = _frames_from_start(frames, first_index, opts.start, opts.end, result.source,
                                                         cap.frame_rate, cap.video_start + cap.seconds_expected)
            if total:
                last = min(total, round((opts.end - cap.video_start) * fps)) if opts.end is not None else total
                progress_total = max(0, last - round((opts.start - cap.video_start) * fps))
        if clock is not None:
            result.clock_resets = clock.resets  # filled as the frames are read
        result.hdr, result.tone_mapped = hdr
        result.fps = float(fps or 30.0)
        if cap is None and total:  # frames handed in (a live session's file), the frames it holds known
            result.video_seconds = total / result.fps
        ahead = lookahead(self.temporal, opts.window, opts.centred)
        frame_shape = cap.frame_shape if cap is not None else None
        if frame_shape is None and ahead > 0:  # frames handed in, held for their centred windows: sized by the first
            frames = iter(frames)
            first = next(frames, None)
            if first is not None:
                frame_shape, frames = first[1].shape, itertools.chain([first], frames)
        memory_rate = None  # frames a second analysed at most, for the frames held to fit (frames_memory_limits)
        if frame_shape is not None:
            try:
                memory_rate, batch = frames_memory_limits(str(source), opts, ahead, result.fps, frame_shape)
            except VideoError:
                if cap is not None:
                    cap.release()
                raise
            if memory_rate is not None and memory_rate < analysis_rate(result.fps, opts.sample_fps):
                # known to hold: the windows' and the annotated copy's rate is that one
                result.analysed_fps_cap = memory_rate
                opts = dataclasses.replace(opts, sample_fps=memory_rate)
            opts = dataclasses.replace(opts, batch_frames=batch)
        stream = self.stream(result.fps, stages, result.clock_resets, options=opts)
        result.scene_cuts, result.scene_cut_tracks = stream.cut_times, stream.cut_tracks
        result.replaced_faces = stream.tracker.replaced_faces
        # the annotated copy keeps the file's sound: an interview or a lesson reviewed without it loses half of what
        # the labels are about
        audio = Path(source) if cap is not None and out_dir is not None and opts.annotate and _has_stream(
            cap.header, "Audio") else None
        copy_rate = cap.motion_rate(result.fps) if cap is not None else result.fps
        writer = ResultWriter(result, out_dir, opts.annotate, fps=analysis_rate(copy_rate, opts.sample_fps),
                              audio_from=audio, annotated_lead_in=self.annotated_lead_in)
        write = writer.write
        # sampled on a grid from the start asked for (start, start + 1/sample_fps, ...): from 0 it took the first
        # frame after the start and the next one too; after a late start or a pause, from that frame (next_due)
        next_sample, next_within_memory, last_time, stopped = opts.start - TIME_TOLERANCE, 0.0, 0.0, False
        reached_end = False  # the frames reached options.end: the rest of the video is not read
        frames_ran_out = False  # the decoder had no frame more: the video was read to its end
        stopped_by: KeyboardInterrupt | None = None  # Ctrl-C or SIGTERM: raised again once the outputs are saved
        raised: Exception | None = None  # the caller's or the machine's error: raised once the outputs are saved
        writing_failed = False  # an output could not be written (a full disk): they are left under partial names
        try:
            for decoded, (t, frame, *index) in enumerate(frames):
                if opts.end is not None and t >= opts.end - TIME_TOLERANCE:
                    reached_end = True
                    break
                if t < opts.start - TIME_TOLERANCE:  # before the start sought (or read up to, where it cannot seek)
                    continue
                frames_read = result.frames_read + 1
                # the frame's number in the file (a live source gives it: it skips frames)
                frame_index = index[0] if index else first_index + decoded
                # asked before progress is told of the frame: told of it and then stopped, progress's last count was
                # one more than the frames_read returned
                calling = "stop"
                try:
                    asked_to_stop = stop is not None and stop()
                    calling = "progress"
                    if progress and not asked_to_stop:
                        progress(frames_read, progress_total)
                except Exception as exc:  # the caller's own code: its error is its to see, not a broken video's
                    raised = exc
                    result.error = (f"{source}: stopped at {t:.1f} s (frame {frames_read}) by "
                                    f"{type(exc).__name__} raised in the {calling} callback ({exc}); the results "
                                    "cover the frames before")
                    break
                if asked_to_stop:
                    stopped = True  # asked to: the frames not read are not missing (not a truncated video)
                    break
                # counted once it is to be analysed (or passed over by the sampling): a frame a stop came with (a
                # live source's newest, after Ctrl-C or SIGTERM) is neither analysed nor written, and counted it
                # made the counts and the length disagree with the table and the annotated copy
                result.frames_read = index[0] + 1 if index else frames_read
                last_time = t
                if opts.sample_fps and t + 1e-6 < next_sample:
                    continue
                if opts.sample_fps:
                    next_sample = next_due(next_sample, t, 1.0 / opts.sample_fps)
                if memory_rate is not None:  # frames coming faster than their container's rate says
                    if t + 1e-6 < next_within_memory:
                        result.analysed_fps_cap = memory_rate
                        continue
                    next_within_memory = next_due(next_within_memory, t, 1.0 / memory_rate)
                if isinstance(frame, _GrabbedFrame):  # (a file's frame, converted only now that it is analysed)
                    frame = frame()
                if result.width == 0:
                    result.height, result.width = frame.shape[:2]
                write(stream.push(t, frame_index, frame))
                result.frames_analysed += 1
            else:
                frames_ran_out = True
            write(stream.finish())
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: what was analysed is kept and saved, marked so; then stop
            stopped_by = exc
            try:  # the frames read so far are labelled as at a video's end
                write(stream.finish())
            except Exception:
                pass
        except Exception as exc:  # keep what was analysed before the video broke
            allocation_failure = memory_failure(exc)
            if isinstance(exc, MemoryError) or allocation_failure:  # the machine's, however it says so: raised
                reason = allocation_failure or str(exc)
                result.error = (f"{source}: out of memory at frame {result.frames_read} ({last_time:.2f} s"
                                f"{f'; {reason}' if reason else ''}); the results cover the frames before")
                raised = OutOfMemory(result.error)
                raised.__cause__ = exc
            else:
                result.error = (f"{source}: analysis stopped at frame {result.frames_read}: "
                                f"{exc if str(exc) else type(exc).__name__}")
                if isinstance(exc, RAISED_ERRORS):  # not the video's failure: the caller must see it
                    raised = exc
                    writing_failed = isinstance(exc, OSError)
            try:  # the frames already through the CNN still get their labels
                write(stream.abandon())
            except Exception:
                pass
        finally:
            if cap is not None:
                cap.release()
            # the length read: the last frame lasts 1/fps too (its timestamp alone left a video one frame short,
            # and a sampled one up to a sampling step), but not past the end asked for (the tracks' ends, their
            # episodes' and the segments' seconds stop there); known before the writer closes the last episodes. A
            # frame at or past that end reached it: the last one before lasts until it (a variable-frame-rate
            # video's gap over the end said "ends at 0.51 s, before --end 1.4 s" of a 4 s video)
            last_shown = last_time + 1.0 / result.fps
            if frames_ran_out and cap is not None and cap.refused_packets and result.video_seconds:
                # a stream of repeat packets (a Theora .ogg's: _grab_past_refused) shows its last picture until the
                # container's end: a still ending was "video ended at 0.8 s of 1.0 s (truncated or corrupt)"
                last_shown = max(last_shown, cap.video_start + result.video_seconds)
            result.duration = ((opts.end if reached_end and opts.end is not None else min(last_shown,
                                                                 opts.end if opts.end is not None else math.inf))
                               if result.frames_read else 0.0)
            result.cancelled = stopped and not stop_is_end
            if stopped_by is not None:  # said where the results end, as `fervid video` says it (reached_text)
                result.error = (f"{source}: interrupted ({stopped_by.args[0] if stopped_by.args else 'Ctrl-C'}) at "
                                f"{reached_text(result.duration)} (frame {result.frames_read}); the results cover "
                                "the frames before")
            elif result.cancelled:  # as an interrupted run's: a file sent on alone does not pass for the whole
                result.error = (f"{source}: cancelled (its stop callback) at {reached_text(result.duration)} (frame "
                                f"{result.frames_read}); the results cover the frames before")
            ended_early = stopped_by is not None or stopped or result.error is not None
            if started_at is not None:
                result.started_at = started_at()
            # interrupted, cancelled, or failed for a reason not the video's (raised below), what was analysed keeps
            # its partial names: a table or key frame of a video cut short does not pass for the whole video's, and
            # the same video's outputs of an earlier run stay as they were
            result.interrupted = stopped_by is not None
            result.outputs_partial = result.interrupted or result.cancelled or raised is not None
            try:  # an interrupt now waits for the files to be closed: killed half-way, nothing could read them
                with _interrupt_held():
                    writer.close(into_place=not result.outputs_partial,
                                 stopped_at=round(last_time, TIME_DECIMALS) if ended_early and result.frames_read
                                 else None)
            except KeyboardInterrupt as exc:
                stopped_by = stopped_by or exc
        result.frames_brightened = stream.frames_brightened
        if cap is not None:
            size_changes = functools.partial(recorded_size_changes, cap, Path(source),
                                             clock_resets=result.clock_resets)
        if size_changes is not None and stopped_by is None and raised is None:  # (a pass over the whole file)
            t0 = time.perf_counter()
            changes = size_changes((result.width, result.height))
            result.frame_size_changes = [c for c in changes if c["time"] <= last_time]  # the frames read
            stages["decode"] += time.perf_counter() - t0
        expected_seconds = total / result.fps if total and result.fps else 0.0
        checked = (result.frames_read and expected_seconds and result.error is None
                   and not (stopped_by is not None or stopped or reached_end))
        if checked and _ends_short(result.duration, expected_seconds, result.fps) and cap is not None:
            # a part of a longer recording may count its offset as frames (Matroska; MP4 does not: where the
            # offset is longer than the count, it cannot be inside it)
            start = _container_start(cap.header or _ffmpeg_header(Path(source)))  # the header read on opening
            if 0 < start < expected_seconds:
                expected_seconds -= start
        short = checked and _ends_short(result.duration, expected_seconds, result.fps)
        if short and result.frames_read == 1 and cap is not None and _has_stream(cap.header, "Audio"):
            # a still picture muxed as a one-frame video stream (Matroska keeps no attached-picture mark): not cut
            result.error = (f"{source}: one picture and {expected_seconds:.1f} s of sound: audio with cover art, "
                            "not a video; results cover the picture")
        elif short:
            result.error = (f"{source}: video ended at {result.duration:.1f} s of {expected_seconds:.1f} s "
                            f"({result.frames_read} frames; truncated or corrupt); results cover the frames read")
        result.seconds = time.perf_counter() - started
        if out_dir is not None and not writing_failed:  # (nothing more is written where a write failed)
            try:
                with _interrupt_held():
                    result.save(out_dir)
            except KeyboardInterrupt as exc:
                stopped_by = stopped_by or exc
            except Exception as exc:  # (where memory ran out: drawing the timelines, whose import failed)
                if raised is None and result.error is None:  # the analysis was whole: its saving is what failed
                    raise
                # the analysis had failed first: that stays what is said, this one beside it
                also = f"the outputs in {out_dir} could not all be saved either: {exc!r}"
                if raised is None:
                    result.error = f"{result.error}; {also}"
                elif hasattr(raised, "add_note"):  # (Python 3.11+)
                    raised.add_note(also)
                else:  # Python 3.10: the same list of notes, which the command line reads (the 3.10 run lost it)
                    setattr(raised, "__notes__", [*getattr(raised, "__notes__", []), also])
        result.run_seconds = time.perf_counter() - started
        if stopped_by is not None:
            raise stopped_by
        if raised is not None:
            raise raised  # with its own traceback: where in the caller's code, or where memory ran out
        return result


# Errors during a video's analysis that are not the video's: raised by VideoAnalyzer.run (after saving what was
# analysed) rather than kept as a failed result's message, which an application would show as "this video is
# broken" and go on to the next, failing alike. Memory running out is the machine's; an OSError is an output
# written or the encoder's pipe failing (a full disk, a folder gone or made read-only: every later video would fail
# the same way; `fervid video` says so once and stops), as the decoders' own OSErrors are caught where they read.
# ONNX Runtime's allocation failures (std::bad_alloc, a RuntimeException, no MemoryError) and a library that could
# not be loaded for want of memory (an ImportError: "failed to map segment from shared object") are memory too:
# raised as fervid.errors.OutOfMemory. Anything else (OpenCV's and ONNX Runtime's other errors on a frame, a decoder's) is a
# broken video's: kept as a message.
RAISED_ERRORS = (MemoryError, OSError)


def _ends_short(duration: float, expected: float, fps: float) -> bool:
    """Whether a video read for ``duration`` seconds ended before the ``expected`` length its container gives. That
    length comes from an estimate (a frame count is duration x nominal rate: a variable-frame-rate phone video has
    fewer frames than it says), so only frames missing from the *time* it covers count: a frame and a tenth of it."""
    return duration + 1.0 / fps < 0.9 * expected


def _zoom_face(face: Face, zoom: float) -> Face:
    x, y, w, h = face.box
    return Face((x * zoom, y * zoom, w * zoom, h * zoom), tuple((px * zoom, py * zoom) for px, py in face.landmarks),
                face.detection_score, face.probabilities, face.uncertain)


def _frames_from_start(frames: Iterator, index: int, start: float, end: float | None, source: str,
                       fps: float | None, length: float) -> tuple[Iterator, int]:
    """``frames`` (:func:`_read_frames`'s, ``index`` the number in the file of the next) from the first at or after
    ``start``, and that one's number: those before it are read and passed over. A stretch holding none of the
    frames' times raises :class:`VideoError` naming them: after the last frame, or between two (by the times read:
    judged by the container's rate, a variable-frame-rate video's gap gave no rows, exit 0, and "ends at 0.00 s")."""
    before = here = None
    for here in frames:
        if here[0] >= start - TIME_TOLERANCE:
            break
        before, here, index = here[0], None, index + 1
    if here is None or (end is not None and here[0] >= end - TIME_TOLERANCE):
        stretch = f"{start:g}-{end:g} s" if end is not None else f"from {start:g} s"
        frames_said = (f"its last frame is at {before:.4f} s" if here is None and before is not None else
                       "it holds no frame" if here is None else
                       f"its frames are at {before:.4f} s and {here[0]:.4f} s" if before is not None else
                       f"its first frame is at {here[0]:.4f} s")
        rate = f"{fps:.4g} frames a second, " if fps else ""
        raise VideoError(f"{source}: no frame in the stretch {stretch}: {frames_said} ({rate}{length:.2f} s long)")
    return itertools.chain([here], frames), index


def _read_frames(cap: _CheckedCapture, stages: dict, clock: RisingClock, index: int = 0):
    """(time in seconds, frame) from the decoder's own timestamps, so variable frame rates stay right; kept
    rising where the file's clock starts again (``clock``, :class:`RisingClock`). ``index``: the number in the file
    of the frame read next (where it was sought to). The frame is decoded but not converted: a function that
    returns it in BGR (:class:`_GrabbedFrame`), called for the frames analysed only, before the next is read."""
    while True:
        t0 = time.perf_counter()
        ok = cap.grab()
        stages["decode"] += time.perf_counter() - t0
        if not ok:
            return
        t = clock.frame_time(cap, index)
        index += 1
        yield t, _GrabbedFrame(cap, stages, t)


class _GrabbedFrame:
    """A frame grabbed by :func:`_read_frames`, converted to BGR when called (its time in the decode stage)."""

    def __init__(self, cap: _CheckedCapture, stages: dict, seconds: float):
        self._cap, self._stages, self._seconds = cap, stages, seconds

    def __call__(self) -> np.ndarray:
        t0 = time.perf_counter()
        ok, frame = self._cap.retrieve()
        self._stages["decode"] += time.perf_counter() - t0
        if not ok or frame is None:  # decoded, yet not converted (OpenCV's converter refused it)
            raise VideoError(f"the frame at {self._seconds:.2f} s was decoded but could not be converted to BGR")
        return frame


class RisingClock:
    """A video's frame times, made to rise where its own clock goes back: recordings joined end to end (``cat
    a.ts b.ts``, a camcorder's split .mts files) start their timestamps again, and a camera's restart resets
    them. Read as they were, the second part's frames went back in time: they were dropped from the tables, and a
    track's emotion shares came out in the quadrillions of per cent. A frame whose time is not after the last one's
    is placed one frame after it, and the frames after it are shifted alike. ``resets``: the times (on the rising
    clock) where this happened.

    ``start``: where the pictures start on the file's timeline (:attr:`_CheckedCapture.video_start`). The decoder
    counts from the pictures' own start; a player, an annotation tool (ELAN) and the file's sound count from the
    file's, and a video stream that starts after it (an MP4 edit list, an MPEG-TS whose sound starts first) put
    every row that much early against annotations made on the file."""

    def __init__(self, fps: float, start: float = 0.0):
        self.spacing = 1.0 / (fps if math.isfinite(fps) and fps > 0 else 30.0)
        self.offset, self.last = start, -math.inf
        self.resets: list[float] = []
        self._timed = False  # the source has given a timestamp: from then on 0 is one, not "none"

    def frame_time(self, cap, index: int) -> float:
        """The time (s) of the frame ``cap`` just read (``index``: its number from 0): the decoder's own timestamp,
        so variable frame rates stay right, or index / fps where the file has none; kept rising. A timestamp of 0
        after others is a part's first frame where its clock starts again: read as "no timestamp" (index / fps),
        it put a made-up gap as long as the parts before it at every join after the first."""
        ms = cap.get(cv2.CAP_PROP_POS_MSEC)
        if ms and ms > 0:
            self._timed = True
            return self(ms / 1000.0)
        if ms == 0 and (self._timed or index == 0):
            return self(0.0)
        # no timestamp (none in the file, or a frame without one)
        return self(index * self.spacing if not self._timed else self.last - self.offset + self.spacing)

    def __call__(self, t: float) -> float:
        t += self.offset
        if t <= self.last:
            if t < self.last - self.spacing / 2:  # a clock that started again, not a timestamp repeated
                self.resets.append(round(self.last + self.spacing, TIME_DECIMALS))
            self.offset += self.last + self.spacing - t
            t = self.last + self.spacing
        self.last = t
        return t


# A network source's open and read timeout: a stream that does not answer, or stops sending, is reported after this
# long (OpenCV's own default, 30 s, left `fervid live` silent that long, Ctrl-C unheard)
STREAM_TIMEOUT_SECONDS = 10.0


# where a Mac's camera cannot be opened: macOS gives a camera to a program run from a terminal only once the
# terminal's app is allowed it (its prompt comes the first time, and that open fails), and OpenCV asks for it unless
# told not to
MACOS_CAMERA_PERMISSION = (
    ". On a Mac, the app fervid runs in (Terminal, iTerm, Visual Studio Code, ...) needs the camera's permission: "
    "the first time, macOS asks for it (allow it, then run again); where it was refused, allow that app in System "
    "Settings > Privacy & Security > Camera and restart it. An app that asks for the permission itself sets "
    "OPENCV_AVFOUNDATION_SKIP_AUTH=1, where OpenCV would ask again")


def _open_live_capture(target: str | int, name: str, timeout: float) -> _CheckedCapture:
    """A camera (index) or stream URL opened and its first frame read, on a worker thread waited on in short
    slices: OpenCV's open and first read block (up to ``timeout`` for a stream) and hold off Ctrl-C until they
    return; here Ctrl-C ends the wait at once (the worker lets go of its capture when it returns). A source that
    opens but gives no frame (an MP4 whose index is at its end, served without range requests) is refused: it
    "analysed" 0 frames and exited 0. On a Mac a camera is opened on the main thread (where this runs there), where
    macOS can ask for its permission."""
    state: dict = {}
    lock = threading.Lock()

    def open_it() -> None:
        cap = None
        try:
            if isinstance(target, int):
                cap = video_capture(target)
            else:  # FFmpeg only: OpenCV's other backends, tried after it, printed the URL (its password) in warnings
                ms = int(timeout * 1000)
                cap = video_capture(target, cv2.CAP_FFMPEG,
                                       [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
            opened = cap.isOpened()
            ok, frame = cap.read() if opened else (False, None)
            found = {"cap": cap, "opened": opened, "frame": frame if ok else None}
        except Exception as exc:  # cv2.error
            found = {"cap": cap, "opened": False, "frame": None, "exception": exc}
        with lock:
            abandoned = state.get("abandoned")
            state.update(found, done=True)
        if abandoned and cap is not None:
            cap.release()

    started = time.monotonic()
    if isinstance(target, int) and sys.platform == "darwin" and threading.current_thread() is threading.main_thread():
        # macOS asks for a camera's permission only from the main thread (OpenCV's AVFoundation shows the prompt by
        # running the main thread's event loop; from another it cannot, and the camera was refused unasked). A
        # camera's open waits on no network: nothing for Ctrl-C to cut short
        open_it()
    else:
        worker = threading.Thread(target=open_it, name=f"fervid open {name}", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.1)  # short slices: a Ctrl-C is handled between them
        except BaseException:
            with lock:
                state["abandoned"] = True
                cap = state.get("cap") if state.get("done") else None
            if cap is not None:
                cap.release()
            raise
    waited = time.monotonic() - started
    cap = state["cap"]
    if state["frame"] is not None:
        return _CheckedCapture(cap, state["frame"], _opencv_sar(cap))
    if cap is not None:
        cap.release()
    if isinstance(target, int):
        if missing_camera(target):
            raise VideoError(missing_camera(target))
        if not state["opened"]:
            raise VideoError(f"no camera {target}, or it cannot be opened (in use by another program, or no "
                             f"permission?){MACOS_CAMERA_PERMISSION if sys.platform == 'darwin' else ''}")
        raise VideoError(f"camera {target}: opened, but gave no frame")
    timed_out = waited >= 0.9 * timeout
    if not state["opened"]:
        why = ("no answer within the open timeout of " if timed_out else "cannot open it") + (
            f"{timeout:g} s" if timed_out else "")
    else:
        why = (f"connected, but no video frame came within the read timeout of {timeout:g} s" if timed_out else
               "connected, but no video frame could be read from it")
        if not timed_out and Path(target.split("?")[0]).suffix.lower() in {".mp4", ".mov", ".m4v", ".3gp"}:
            why += (" (an MP4 whose index, its moov atom, is at its end cannot be read over HTTP from a server "
                    "without range requests: serve it from one that has them, or remux it with "
                    "`-movflags +faststart`)")
    cause = why_no_stream(target) if not state["opened"] else ""
    raise VideoError(f"{name}: {why}" + (f": {cause}" if cause else ""))


def missing_camera(source: str | int) -> str | None:
    """Why camera ``source`` (an index, or its device /dev/videoN) is not there, where that is cheaply known (Linux,
    where each camera is a /dev/videoN): "no camera 5 (/dev/video5 does not exist)"; else None."""
    found = re.fullmatch(r"(?:/dev/video)?(\d+)", str(source))
    if found is None or not sys.platform.startswith("linux"):
        return None
    device = Path(f"/dev/video{int(found.group(1))}")
    return None if device.exists() else f"no camera {int(found.group(1))} ({device} does not exist)"


def wall_clock_now() -> str:
    """Now by the wall clock, as a result's ``started_at`` records it: ISO 8601 to the millisecond with the local
    UTC offset ("2026-12-06T15:42:33.120+01:00")."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")


class LiveSource:
    """Frames from a camera index, a stream URL or a file, delivered in real time: a reader thread keeps only
    the newest frame, so a slow consumer skips frames instead of falling behind. A recording (a file, or one served
    over the network: a video file over HTTP, an HLS playlist that ends) is read on its own clock at its own frame
    rate, as a camera would deliver it, and its end is its end. ``dropped`` counts the frames skipped. Use it in a
    ``with`` block (or call :meth:`close`): a reader left running keeps decoding, and a daemon thread inside OpenCV
    when Python exits can abort the interpreter ("FATAL: exception not rethrown").

    ``name`` is the source as fervid prints and writes it (a URL's password and tokens masked, :func:`masked_source`)
    and ``stem`` the start of its output file names (:func:`source_stem`; a camera's or live stream's with the local
    time it was opened, ``camera0_20261206-154233``: a session cannot be had again, and the next one into the same
    folder replaced it). A camera or stream opens with its first
    frame read, or raises :class:`VideoError` naming the cause; a stream waits at most ``timeout`` seconds to open
    and for each frame. One that stops delivering before ``max_seconds`` (or before :meth:`stop`), or a recording
    served over the network before its length, ends the iteration with a :class:`VideoError` ("stream lost after
    N s: ..."), the frames before it delivered."""

    def __init__(self, source: str | int, max_seconds: float | None = None,
                 timeout: float = STREAM_TIMEOUT_SECONDS):
        if max_seconds == math.inf:  # --seconds inf: no limit (it crashed computing the frames expected)
            max_seconds = None
        if max_seconds is not None and not max_seconds > 0:  # NaN too: it used to mean no limit, 0 one frame
            raise OptionError(f"max_seconds must be positive (None: no limit), not {max_seconds}")
        if not str(source).strip():  # "" became the path ".": "is a directory, not a video"
            raise VideoError("the source is empty: give a camera index (0), a video file or a stream URL")
        self.name = masked_source(source)
        self.stem = source_stem(source)
        target = int(source) if str(source).isdigit() else str(source)
        self._path: Path | None
        if isinstance(target, str) and not is_stream_url(target):
            self.is_file, self._path = True, Path(target)
            self.cap = open_video(target)
        else:
            self.is_file, self._path = False, None
            self.cap = _open_live_capture(target, self.name, timeout)
        self.fps = self.cap.frame_rate or 30.0
        # the frames a recording holds, up to max_seconds' worth (0: a camera or live stream): a file that ends
        # before is reported as truncated, as `fervid video` reports it. A live stream's length is unknown: FFmpeg's
        # count is 0, or negative (made up from no duration).
        count = round(self.cap.seconds_expected * self.fps) if isinstance(target, str) else 0
        # A URL whose container gives its length is a recording (a video file over HTTP, an HLS playlist that ends):
        # it arrives in bursts far faster than it plays, and reading it as a live stream dropped most of its frames,
        # timed the rest by their arrival and reported its end as a lost stream
        self.recorded = self.is_file or count > 0
        if not self.recorded:  # each session of a camera or stream is a recording of its own: its names say when
            self.stem = f"{self.stem}_{time.strftime('%Y%m%d-%H%M%S')}"
        self.total = count if max_seconds is None else min(count, math.ceil(max_seconds * self.fps))
        self.max_seconds, self.timeout = max_seconds, timeout
        self.dropped = 0
        self.delivered = 0
        self.lost: str | None = None  # why a camera or stream stopped delivering before its end, if it did
        # a recording's frame times, on its file's timeline; resets: where its own clock started again
        self.clock = RisingClock(self.fps, start=self.cap.video_start if self.recorded else 0.0)
        self._latest: tuple[float, np.ndarray, int] | None = None
        self._last: tuple[float, np.ndarray, int] | None = None  # the newest frame delivered
        self._stopped = False  # the consumer is done (stop, close): the reader stops, its counts stay
        self._ended = False  # the reader has finished
        self._reader_releases = False  # close() left the capture to the reader, still inside a read
        self._finished_at: float | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name=f"fervid LiveSource {self.name}", daemon=True)
        # The session starts when its first frame is asked for (start()), its consumer set up (its outputs' writers
        # made, their libraries imported: 0.7-2.2 s on a busy machine, whose frames were counted as dropped to keep
        # up). A recording waits for it, read on its own clock from then. A camera or live stream is read from now
        # on, its frames let go of until then: its device's or connection's buffer stays fresh, not handed out
        # seconds late as the session's first frames.
        self._start: float | None = None
        # the wall clock at time 0 of a camera's or live stream's frames, for a lab to place them among its own
        # events; a recording's times are its own (from its start), not the session's
        self.started_at: str | None = None
        if not self.recorded:
            self._thread.start()

    def start(self) -> None:
        """Time 0 of the session: frames are delivered (a recording's read on its clock) from now on. The first
        frame asked for starts it, if not started before."""
        with self._cond:
            if self._start is not None or self._stopped:  # (stopped while the consumer was set up: no session)
                return
            self._start = time.perf_counter()
            if not self.recorded:
                self.started_at = wall_clock_now()
        if self.recorded:
            self._thread.start()

    @property
    def seconds(self) -> float:
        """Seconds from the start to the end of delivery (the stream's end, its loss or :meth:`stop`): not the
        time the outputs take to be written after it."""
        if self._start is None:
            return 0.0
        return (self._finished_at or time.perf_counter()) - self._start

    def _read(self) -> None:
        index = 0
        t = 0.0
        # how long the last reads waited: a read that hits the timeout still hands out the frames OpenCV holds
        # decoded, and only a later one fails at once; the long wait among them is what tells a silent stream
        # from a closed one
        waits: deque[float] = deque(maxlen=32)
        clock = self.clock  # a file's clock that starts again (files joined end to end) goes on rising
        length = self.total / self.fps  # a recording's seconds (0: a live source's, unknown)
        try:
            while not self._stopped:
                asked = time.perf_counter()
                try:
                    ok, frame = self.cap.read()
                except VideoError as exc:  # a file's frames that stopped changing (_FrozenFrames): said at its end
                    self.lost = str(exc)
                    break
                arrived = time.perf_counter()
                waits.append(arrived - asked)
                if not ok or frame is None:  # (one and the same: a frame comes with ok)
                    # A live stream has no end: one that stops was lost. A recording ends at its length: one served
                    # that stops short of it was lost too, and one read well past it has a length not its own (a
                    # live stream copied from a file keeps the file's) and no end either. A local file cut short is
                    # the analysis's to report: truncated, as `fervid video` reports it.
                    read = t + 1.0 / self.fps
                    short = self.recorded and _ends_short(read, length, self.fps)
                    ended = self.is_file or (self.recorded and not short and not _ends_short(length, read, self.fps))
                    if not ended and not self._stopped:
                        waited = max(waits)
                        self.lost = (f"stream lost after {t:.1f} s" + (f" of {length:.1f} s" if short else "") + (
                            f": no frame for {waited:.1f} s (the read timeout is {self.timeout:g} s)"
                            if waited >= 0.5 * self.timeout else
                            ": it ended (the connection closed or the device went away)"))
                    break
                with self._cond:
                    start = self._start
                if start is None or arrived < start:  # before the session: let go of, not counted (a recording's
                    continue  # reader starts with the session: its frames are all the session's)
                # a recording's own timestamps, as `fervid video` reads them; a camera's are the times they come
                t = clock.frame_time(self.cap, index) if self.recorded else arrived - start
                if self.recorded:  # pace a recording like a camera: its frames come in bursts over a network
                    delay = t - (time.perf_counter() - start)
                    if delay > 0:
                        time.sleep(delay)
                with self._cond:
                    if self._stopped:  # read after the consumer stopped: neither delivered nor dropped
                        break
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = (t, frame, index)  # the index in the source: the `frame` column, as for a file
                    self._cond.notify()
                index += 1
                if self.max_seconds is not None and t >= self.max_seconds:
                    break
        finally:
            with self._cond:
                self._ended = True
                release = self._reader_releases
                self._cond.notify()
            if release:
                self.cap.release()

    def frame_size_changes(self, first: tuple[int, int]) -> list[dict]:
        """Where a file's frame size changes from ``first`` (width, height): recordings of other sizes joined, read
        scaled to the first's (:func:`recorded_size_changes`); [] for a camera or a stream, which cannot tell."""
        if self._path is None:
            return []
        return recorded_size_changes(self.cap, self._path, first, self.clock.resets)

    def stop(self) -> None:
        """The consumer is done (Ctrl-C, SIGTERM; safe in a signal handler: it takes no lock): the reader stops
        and its counts stay as they are now, ``seconds`` stops, and the iteration ends. It hands out one more
        item first (the newest frame, or the last one again), so that a consumer waiting for a frame that is
        not coming (a frozen stream) gets one in which to check its own stop flag; VideoAnalyzer.run's ``stop``
        is checked before a frame is analysed."""
        if self._finished_at is None:  # delivery may have ended before (the source's end): close() stops it too
            self._finished_at = time.perf_counter()
        self._stopped = True

    def __iter__(self):
        """(time, BGR frame, the frame's index in the source) of the newest frame each time one is asked for; the
        first ask starts the session (:meth:`start`)."""
        self.start()
        try:
            while True:
                with self._cond:
                    # short waits: stop() comes from a signal handler, which cannot notify
                    while self._latest is None and not self._ended and not self._stopped:
                        self._cond.wait(0.1)
                    item, self._latest = self._latest, None
                    stopped = self._stopped
                if stopped:
                    item = item or self._last
                    if item is not None:
                        yield item
                    return
                if item is None:  # the reader has finished and every frame was handed out
                    break
                self.delivered += 1
                self._last = item
                yield item
            if self.lost:
                raise VideoError(self.lost)
        finally:
            if self._finished_at is None:
                self._finished_at = time.perf_counter()

    def close(self) -> None:
        self.stop()
        # a file's reader stops within a frame's pacing; a stream's within a frame, unless frozen (below)
        reading = self._thread.ident is not None  # (a recording's reader starts with the session)
        if reading:
            self._thread.join(timeout=2 if self.is_file else 0.5)
        with self._cond:
            # a camera's or stream's reader still inside a read (a frozen stream's, until its read timeout) lets
            # go of the capture itself: released under it, OpenCV's capture is freed while in use
            leave = reading and not self._ended and not self.is_file
            self._reader_releases = leave
        if not leave:
            self.cap.release()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
