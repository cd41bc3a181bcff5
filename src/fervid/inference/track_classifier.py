"""Your own detector's and tracker's faces classified over time as a video's are: :class:`TrackClassifier` takes each
track's :class:`~fervid.inference.records.Face` records (what :meth:`Analyzer.classify
<fervid.inference.analyzer.Analyzer.classify>` gives for your boxes and landmarks) and returns their labels over the
window, by the code that labels ``analyze_video``'s tracks (:class:`~fervid.inference.temporal.TrackWindows`), as the
rows a video's table holds (:class:`~fervid.inference.video.FrameFace`)."""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from pathlib import Path
from typing import TypedDict

import numpy as np

from fervid.emotions import EMOTIONS
from fervid.errors import OptionError
from fervid.inference.records import Face
from fervid.inference.stream import check_fps
from fervid.inference.temporal import LSTMTemporal, TrackWindows, window_notice
from fervid.inference.video import FrameFace, VideoAnalyzer, VideoOptions

# how far a face's probabilities may sum from 1 (the CNN's float32 softmax is within 1e-6): logits, or scores of
# another model, are refused rather than averaged as if they were probabilities
PROBABILITIES_SUM_TOLERANCE = 1e-3


class TrackClassifierChanges(TypedDict, total=False):
    """The :class:`~fervid.inference.video.VideoOptions` a track classifier uses, as
    :meth:`Analyzer.track_classifier <fervid.inference.analyzer.Analyzer.track_classifier>`'s keywords."""

    method: str
    window: float
    centred: bool
    temporal_model: str | Path | None


class TrackClassifier:
    """Classifies the faces of your own tracks over time, as ``analyze_video`` does the tracks of fervid's tracker:
    each track's frames over its ``window`` with the temporal ``method``, the window centred on each frame (the
    default, for frames you have all of) or ending at it (``centred=False``, live). Made by
    :meth:`fervid.inference.analyzer.Analyzer.track_classifier`.

    :meth:`add` each face of each frame, in time order within each track; :meth:`ready` returns the rows whose
    window is complete (:attr:`lookahead` seconds of the track's frames later; at once for causal windows);
    :meth:`finish` returns the rest, their windows ending with the track (as a video's last frames' do). The same
    faces at the same times give ``analyze_video``'s rows. Memory is bounded by the window per track still going:
    finish a track your tracker has ended with ``finish(track_id)``. Feed it from one thread."""

    def __init__(self, analyzer, fps: float, **changes):
        """``fps``: the rate your frames come at (a centred window weighs its frames by their distance in frames;
        the rows' ``frame`` is round(time * fps)). ``changes``: :class:`TrackClassifierChanges`."""
        from fervid.inference.analyzer import check_video_settings

        check_video_settings(changes, list(TrackClassifierChanges.__annotations__), caller="track_classifier(fps)")
        check_fps(fps)
        self.fps = float(fps)
        self.options = dataclasses.replace(VideoOptions(), **changes)
        runner = VideoAnalyzer(analyzer, self.options)  # the method analyze_video would run, checked as it checks it
        self.method: str = runner.temporal.name  # the temporal method that runs (the LSTM's fallback: "mean")
        # the frames come at fps, the most there are: no advice to sample faster
        self.notices = [n for n in (runner.notice, runner.graph_notice,
                                    window_notice(self.method, self.options.window, self.fps, self.options.centred,
                                                  "keywords", most_rate=self.fps))
                        if n]
        # the LSTM reads the CNN's features; the other methods the probabilities alone
        self._feature_dim = analyzer.cnn.config.feature_dim if isinstance(runner.temporal, LSTMTemporal) else None
        self._uncertain_below = analyzer.model_config.uncertain_below
        self._windows = TrackWindows(runner.temporal, self.options.window, self.options.centred, self.fps)
        self._waiting: dict[int, deque[tuple[float, Face]]] = {}  # track id -> its faces not labelled yet
        self._last_time: dict[int, float] = {}  # track id -> its latest face's time
        self._finished_tracks: set[int] = set()
        self._finished = False

    @property
    def lookahead(self) -> float:
        """Seconds of a track's later frames a row waits for before :meth:`ready` returns it (0 for causal
        windows; a second for the LSTM's centred 1 s window)."""
        return self._windows.lookahead

    def add(self, track_id: int, time: float, face: Face) -> None:
        """The face of track ``track_id`` at ``time`` seconds (after its face before): a :class:`fervid.Face`, as
        :meth:`Analyzer.classify <fervid.inference.analyzer.Analyzer.classify>` or ``analyze_image`` give it, with
        its 7 probabilities and, for the LSTM, its CNN feature (an analyzer made with ``keep_features=False``
        keeps none). Raises :class:`fervid.OptionError` for a face or time it cannot use."""
        if self._finished:
            raise RuntimeError("this track classifier is finished: make another with analyzer.track_classifier()")
        if isinstance(track_id, (bool, np.bool_)) or not isinstance(track_id, (int, np.integer)):
            raise TypeError(f"track_id must be an int (your tracker's id of the face), not {track_id!r}")
        track_id = int(track_id)
        if track_id in self._finished_tracks:
            raise OptionError(f"track {track_id} was finished (finish({track_id})): give a face of someone new "
                              "another id")
        if isinstance(time, (bool, np.bool_)) or not isinstance(time, (int, float, np.number)) \
                or not math.isfinite(time):
            raise OptionError(f"time must be a finite number of seconds, not {time!r}")
        time = float(time)
        before = self._last_time.get(track_id, -math.inf)
        if time <= before:
            raise OptionError(f"track {track_id}'s face at {time:g} s is not after its face before, at {before:g} s: "
                              "add each track's faces in time order, each later than the last")
        if not isinstance(face, Face):
            raise TypeError(f"add takes a fervid.Face (what Analyzer.classify and analyze_image give), not "
                            f"{type(face).__name__}")
        probabilities = self._probabilities(track_id, time, face)
        feature = self._feature(track_id, time, face)
        self._windows.add(track_id, time, probabilities, feature)
        self._waiting.setdefault(track_id, deque()).append((time, face))
        self._last_time[track_id] = time

    def ready(self) -> list[FrameFace]:
        """The rows whose windows are complete since the last call, in time order (then by track id): each a
        :class:`fervid.FrameFace` whose ``probabilities`` are the method's over the window, ``frame_probabilities``
        the face's own."""
        final: list[tuple[int, float, Face]] = []
        for track_id, waiting in self._waiting.items():
            newest = self._last_time[track_id]
            while waiting and self._windows.final(waiting[0][0], newest):
                final.append((track_id, *waiting.popleft()))
        return self._rows(final)

    def finish(self, track_id: int | None = None) -> list[FrameFace]:
        """The rows still waiting, labelled from the frames there are (the windows end with the track, as a
        video's do at its end), in time order: of the track ``track_id`` (your tracker ended it; its id is then
        refused), or of every track, after which nothing more is added."""
        if track_id is None:
            ending = list(self._waiting)
            self._finished = True
        elif track_id in self._waiting:
            ending = [track_id]
        else:
            raise OptionError(f"no track {track_id!r} is going on (tracks going on: "
                              f"{', '.join(map(str, self._waiting)) or 'none'})")
        rows = self._rows([(ending_id, *waiting) for ending_id in ending for waiting in self._waiting.pop(ending_id)])
        for ending_id in ending:
            self._windows.end(ending_id)
            del self._last_time[ending_id]  # (its id refused from here: _finished_tracks)
            self._finished_tracks.add(ending_id)
        return rows

    def _probabilities(self, track_id: int, time: float, face: Face) -> np.ndarray:
        probabilities = np.asarray(face.probabilities, dtype=np.float64)
        if probabilities.shape != (len(EMOTIONS),) or not np.isfinite(probabilities).all() \
                or probabilities.min() < 0 or abs(probabilities.sum() - 1) > PROBABILITIES_SUM_TOLERANCE:
            raise OptionError(f"track {track_id}'s face at {time:g} s: its probabilities must be {len(EMOTIONS)} "
                              f"probabilities summing to 1, one per emotion in fervid.EMOTIONS order "
                              f"({', '.join(EMOTIONS)}), not {np.round(probabilities, 4).tolist()}")
        return probabilities.astype(np.float32)  # as the video path feeds the CNN's (a Face holds them widened)

    def _feature(self, track_id: int, time: float, face: Face) -> np.ndarray:
        if self._feature_dim is None:  # read by the LSTM only
            return np.zeros(0, np.float32)
        if face.feature is None:
            raise OptionError(f"track {track_id}'s face at {time:g} s has no feature: the LSTM reads the CNN's "
                              f"{self._feature_dim}-d features, which an analyzer made with keep_features=False "
                              "does not keep; classify the faces with an analyzer made with keep_features=True (the "
                              "default), or use method='mean', 'hmm' or 'frame'")
        feature = np.array(face.feature, dtype=np.float32)  # a copy: your array may be reused for the next face
        if feature.shape != (self._feature_dim,) or not np.isfinite(feature).all():
            raise OptionError(f"track {track_id}'s face at {time:g} s: its feature must be the {self._feature_dim} "
                              f"finite values of this analyzer's CNN's features, not an array of shape "
                              f"{feature.shape}{'' if np.isfinite(feature).all() else ' holding NaN or inf'}")
        return feature

    def _rows(self, faces: list[tuple[int, float, Face]]) -> list[FrameFace]:
        """The rows of ``faces`` (track id, time, face; each track's in time order), their windows classified
        together (:meth:`TrackWindows.classify_many`), in time order (then by track id)."""
        outputs = self._windows.classify_many([(track_id, time) for track_id, time, _ in faces])
        rows = [FrameFace(time, round(time * self.fps), track_id, face.box, tuple(float(p) for p in smoothed),
                          face.probabilities, bool(smoothed.max() < self._uncertain_below), True,
                          face.detection_score, face.landmarks)
                for (track_id, time, face), smoothed in zip(faces, outputs)]
        return sorted(rows, key=lambda row: (row.time, row.track_id))
