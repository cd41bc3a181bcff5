"""Video analysis: decode -> detect every ``detect_every`` s -> track (optical flow between detections) -> align
-> CNN features in batches -> temporal classification per track over a sliding ``window`` -> outputs.

Outputs (``VideoResult.save``): an annotated H.264/yuv420p MP4 that plays in browsers, a per-frame table
(CSV + Parquet), a per-track JSON summary, a timeline PNG per track, and key frames: the most expressive frame
of each emotion episode of each track.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from fervid.align import crop_face
from fervid.annotate import annotate
from fervid.emotions import EMOTIONS
from fervid.images import check_input_file
from fervid.records import ROW_COLUMNS, Face, face_row
from fervid.temporal import TemporalMethod, make_method
from fervid.track import FaceTracker, TrackedFace

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}
MIN_EPISODE_SECONDS = 0.5  # shorter emotion episodes get no key frame
MIN_ANNOTATED_HEIGHT = 432  # the annotated MP4 of a smaller video is scaled up to this height
FRAME_LEADING = ["time", "frame", "track"]  # a video row's own columns, before fervid.records.ROW_COLUMNS


class VideoError(ValueError):
    """A video that cannot be analysed; the message names the file and the problem."""


def sample_video() -> Path:
    """The bundled sample clip, carphone_pristine.mp4 (a man talking on a phone, 176x144, 120 frames at 29.97
    fps), shipped inside fervid (:mod:`fervid.samples`)."""
    from fervid.samples import carphone

    return carphone()


@dataclass
class VideoOptions:
    detect_every: float = 0.3  # seconds between face detections; optical flow tracks in between
    window: float = 1.0  # seconds of frames the temporal model looks at
    sample_fps: float | None = None  # analyse at most this many frames per second (None: every frame)
    method: str = "lstm"  # lstm, mean (moving average) or frame (per-frame argmax)
    # True (files): each frame's label comes from a window centred on it, no lag; False (live): the window ends
    # at the frame (causal), and labels trail the face by about half the window
    centred: bool = True
    batch_frames: int = 16  # frames whose faces go through the CNN together
    annotate: bool = True


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

    @property
    def emotion(self) -> str:
        return EMOTIONS[int(np.argmax(self.probabilities))]

    def row(self, **leading) -> dict:
        """This face as a table row (fervid.records.ROW_COLUMNS), after ``leading`` and time, frame, track."""
        return face_row(self.box, self.probabilities, self.uncertain, self.detection_score, **leading,
                        time=round(self.time, 4), frame=self.frame, track=self.track_id)


@dataclass
class Episode:
    track_id: int
    emotion: str
    start: float
    end: float
    best_time: float = 0.0
    best_probability: float = -1.0
    best_image: np.ndarray | None = field(default=None, repr=False)
    key_frame: str | None = None


@dataclass
class VideoResult:
    source: str
    fps: float = 0.0
    width: int = 0
    height: int = 0
    frames_read: int = 0
    frames_analysed: int = 0
    duration: float = 0.0
    faces: list[FrameFace] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    error: str | None = None  # set when the video broke mid-way: the results up to there are kept
    seconds: float = 0.0
    method: str = ""
    model: str = ""  # the emotion CNN and face detector that ran
    detector: str = ""
    annotated_path: Path | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def track_ids(self) -> list[int]:
        return sorted({f.track_id for f in self.faces})

    def frame_table(self):
        import pandas as pd

        rows = [{**f.row(), "detected": f.detected} for f in self.faces]
        return pd.DataFrame(rows, columns=[*FRAME_LEADING, *ROW_COLUMNS, "detected"])

    def track_summaries(self) -> list[dict]:
        out = []
        for tid in self.track_ids:
            faces = [f for f in self.faces if f.track_id == tid]
            labels = [f.emotion for f in faces]
            shares = {e: round(labels.count(e) / len(labels), 4) for e in EMOTIONS}
            changes = [{"time": round(b.time, 3), "from": a.emotion, "to": b.emotion}
                       for a, b in zip(faces, faces[1:]) if a.emotion != b.emotion]
            out.append({
                "track": tid, "start": round(faces[0].time, 3), "end": round(faces[-1].time, 3),
                "frames": len(faces), "dominant_emotion": max(shares, key=shares.get), "emotion_share": shares,
                "mean_probabilities": {e: round(float(np.mean([f.probabilities[i] for f in faces])), 4)
                                       for i, e in enumerate(EMOTIONS)},
                "changes": changes,
                "episodes": [{"emotion": ep.emotion, "start": round(ep.start, 3), "end": round(ep.end, 3),
                              "key_frame": ep.key_frame, "key_frame_time": round(ep.best_time, 3)}
                             for ep in self.episodes if ep.track_id == tid],
            })
        return out

    def summary(self) -> dict:
        return {"file": self.source, "ok": self.ok, "error": self.error, "fps": round(self.fps, 3),
                "width": self.width, "height": self.height, "duration": round(self.duration, 3),
                "frames_read": self.frames_read, "frames_analysed": self.frames_analysed, "method": self.method,
                "model": self.model, "detector": self.detector,
                "analysis_seconds": round(self.seconds, 2), "tracks": self.track_summaries()}

    def save(self, out_dir: str | Path) -> dict[str, list[Path]]:
        """Write the per-frame table, per-track JSON, timelines and key frames (the MP4 is written while
        analysing). Returns the paths by kind."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = Path(self.source).stem
        table = self.frame_table()
        written: dict[str, list[Path]] = {"video": [self.annotated_path] if self.annotated_path else []}
        table.to_csv(out_dir / f"{stem}_frames.csv", index=False)
        table.to_parquet(out_dir / f"{stem}_frames.parquet", index=False)
        written["table"] = [out_dir / f"{stem}_frames.csv", out_dir / f"{stem}_frames.parquet"]
        written["key_frames"] = []
        for ep in self.episodes:
            if ep.best_image is not None and ep.end - ep.start >= MIN_EPISODE_SECONDS:
                path = out_dir / f"{stem}_track{ep.track_id}_{ep.start:07.2f}s_{ep.emotion}.png"
                cv2.imwrite(str(path), ep.best_image)
                ep.key_frame = path.name
                written["key_frames"].append(path)
        written["timelines"] = [plot_timeline(self, tid, out_dir / f"{stem}_track{tid}_timeline.png")
                                for tid in self.track_ids]
        (out_dir / f"{stem}_tracks.json").write_text(json.dumps(self.summary(), indent=2))
        written["json"] = [out_dir / f"{stem}_tracks.json"]
        return written


def plot_timeline(result: VideoResult, track_id: int, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fervid.annotate import EMOTION_COLORS_BGR

    faces = [f for f in result.faces if f.track_id == track_id]
    t = [f.time for f in faces]
    probs = np.array([f.probabilities for f in faces])
    fig, (ax, band) = plt.subplots(2, 1, figsize=(10, 4), sharex=True, gridspec_kw={"height_ratios": [4, 0.6]})
    for i, e in enumerate(EMOTIONS):
        b, g, r = EMOTION_COLORS_BGR[e]
        ax.plot(t, probs[:, i], label=e, color=(r / 255, g / 255, b / 255), lw=1.5)
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    ax.legend(ncol=7, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 1.18))
    ax.grid(alpha=0.3)
    labels = probs.argmax(1)
    # the label band: one bar per run of equal labels (one artist per frame cost 0.3 s per 300 frames)
    ends = np.append(np.asarray(t[1:], float), t[-1] + 1 / max(result.fps, 1)) if len(t) else np.zeros(0)
    starts = np.flatnonzero(np.diff(labels, prepend=-1)) if len(t) else np.zeros(0, int)
    for k, first in enumerate(starts):
        last = (starts[k + 1] if k + 1 < len(starts) else len(t)) - 1
        b, g, r = EMOTION_COLORS_BGR[EMOTIONS[labels[first]]]
        band.axvspan(t[first], ends[last], color=(r / 255, g / 255, b / 255), lw=0)
    band.set_yticks([])
    band.set_xlabel("time (s)")
    fig.suptitle(f"{Path(result.source).name}: track {track_id}", y=1.02)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


class H264Writer:
    """Browser-playable MP4 (H.264, yuv420p, faststart) through the ffmpeg binary shipped by imageio-ffmpeg."""

    def __init__(self, path: Path, width: int, height: int, fps: float):
        import imageio_ffmpeg

        self.path = path
        self.size = (width + width % 2, height + height % 2)  # yuv420p needs even sides
        self._gen = imageio_ffmpeg.write_frames(
            str(path), self.size, fps=fps, codec="libx264", pix_fmt_in="bgr24", pix_fmt_out="yuv420p",
            quality=None, bitrate=None, macro_block_size=2, ffmpeg_log_level="error",
            output_params=["-crf", "23", "-preset", "veryfast", "-movflags", "+faststart"])
        self._gen.send(None)

    def write(self, frame_bgr: np.ndarray) -> None:
        h, w = frame_bgr.shape[:2]
        if (w, h) != self.size:
            frame_bgr = cv2.copyMakeBorder(frame_bgr, 0, self.size[1] - h, 0, self.size[0] - w, cv2.BORDER_CONSTANT)
        self._gen.send(np.ascontiguousarray(frame_bgr))

    def close(self) -> None:
        self._gen.close()


def open_video(path: str | Path) -> cv2.VideoCapture:
    path = Path(path)
    check_input_file(path, "video", VideoError)
    still = _still_image_format(path)
    if still:  # FFmpeg would open it as a one-frame "video" and the analysis would "succeed" on nothing
        raise VideoError(f"{path}: a {still} image, not a video (use `fervid image`)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(f"{path}: not a video, or a format/codec OpenCV's FFmpeg cannot read")
    ok, _ = cap.read()
    if not ok:
        cap.release()
        raise VideoError(f"{path}: no video frames could be decoded (audio-only, or corrupt)")
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return cap


def _still_image_format(path: Path) -> str | None:
    """The format name when Pillow recognises the file as a still image (it reads only the header)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return None if getattr(im, "n_frames", 1) > 1 else im.format
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


class _TrackState:
    def __init__(self):
        self.window: deque = deque()  # (time, probabilities, feature) of the frames around the ones not yet emitted
        self.outputs: dict[float, np.ndarray] = {}  # time -> the temporal model's output for the window around it
        self.episode: Episode | None = None


class VideoAnalyzer:
    """Runs the video pipeline with an :class:`fervid.analyzer.Analyzer`'s detector and CNN."""

    def __init__(self, analyzer, options: VideoOptions = VideoOptions(), temporal: TemporalMethod | None = None):
        self.analyzer = analyzer
        self.options = options
        self.temporal = temporal or make_method(options.method, cnn=analyzer.cnn.config.features_of)

    def run(self, source: str | Path, out_dir: str | Path | None = None,
            progress: Callable[[int, int], None] | None = None, frames=None, fps: float | None = None,
            stop: Callable[[], bool] | None = None) -> VideoResult:
        """Analyse a video file (or any iterable of (time, BGR frame) given as ``frames`` with its ``fps``).

        ``progress(frames_done, frames_total)`` is called as frames are read. With ``out_dir`` the annotated
        MP4 is written there while analysing, and the other outputs when done (also after a mid-way failure).
        """
        started = time.perf_counter()
        opts = self.options
        result = VideoResult(source=str(source), method=self.temporal.name, model=self.analyzer.model_config.name,
                             detector=self.analyzer.detector_name)
        stages = {k: 0.0 for k in ("decode", "detect", "track", "align", "cnn", "temporal", "encode")}
        result.stage_seconds = stages
        cap = None
        total = 0
        if frames is None:
            cap = open_video(source)
            fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
            if not math.isfinite(fps) or fps <= 0 or fps > 1000:
                fps = 30.0  # container without a usable rate: timestamps still come from the decoder
            total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            frames = _read_frames(cap, stages)
        result.fps = float(fps or 30.0)
        writer: H264Writer | None = None
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        tracker = FaceTracker()
        states: dict[int, _TrackState] = {}
        pending: list[tuple[float, int, np.ndarray, list[TrackedFace], np.ndarray]] = []
        last_detect, next_sample, last_time = -math.inf, 0.0, 0.0
        cnn, template = self.analyzer.cnn, self.analyzer.template

        # Windows: centred on each frame for files (the label at t sees t - w/2 .. t + w/2, so it does not lag),
        # causal for live sources (t - w .. t). A frame is classified, annotated and written once the frames its
        # window needs have been analysed: ``lookahead`` seconds later (more for the LSTM, whose outputs are
        # averaged over a window of windows).
        w = opts.window
        half = 0.0 if self.temporal.name == "frame" else w / 2
        smooth = bool(getattr(self.temporal, "smooth_outputs", False))
        lookahead = (2 * half if smooth else half) if opts.centred else 0.0
        ready: deque = deque()  # frames through the CNN, waiting for their windows: (t, idx, frame, faces)

        def around(state: _TrackState, t: float) -> list[tuple]:
            """The track's frames in the window of time t."""
            lo, hi = (t - half, t + half) if opts.centred else (t - 2 * half, t)
            return [r for r in state.window if lo - 1e-6 <= r[0] <= hi + 1e-6]

        def weights(times: list[float], t: float) -> np.ndarray | None:
            """Centred: a triangular kernel peaking at the frame, so a change of expression flips the label when
            the face changes, not when a more confident emotion fills part of the window. Causal: equal."""
            if not opts.centred or half == 0.0:
                return None
            return np.maximum(1.0 - np.abs(np.asarray(times) - t) / (half + 1.0 / result.fps), 1e-3)

        def raw_output(state: _TrackState, t: float) -> np.ndarray:
            if t not in state.outputs:
                window = around(state, t)
                t1 = time.perf_counter()
                state.outputs[t] = self.temporal(np.stack([r[1] for r in window]), np.stack([r[2] for r in window]),
                                                 weights([r[0] for r in window], t))
                stages["temporal"] += time.perf_counter() - t1
            return state.outputs[t]

        def classify(state: _TrackState, t: float) -> np.ndarray:
            if not smooth:
                return raw_output(state, t)
            # the mean of the outputs of the windows around t: an ensemble, less flicker
            times = [r[0] for r in around(state, t)]
            return np.average([raw_output(state, u) for u in times], axis=0, weights=weights(times, t))

        def emit(t: float, idx: int, frame: np.ndarray, faces: list) -> None:
            nonlocal writer
            faces_here: list[Face] = []
            labels = []
            for tf, probs in faces:
                state = states[tf.track_id]
                smoothed = classify(state, t)
                uncertain = bool(smoothed.max() < cnn.config.uncertain_below)
                ff = FrameFace(t, idx, tf.track_id, tf.detection.box, tuple(float(p) for p in smoothed),
                               tuple(float(p) for p in probs), uncertain, tf.detected, float(tf.detection.score))
                result.faces.append(ff)
                self._episode(state, ff, frame, result)
                faces_here.append(Face(tf.detection.box, tf.detection.landmarks, tf.detection.score,
                                       ff.probabilities, uncertain))
                labels.append(f"#{tf.track_id} {ff.emotion} {max(ff.probabilities):.0%}")
                forget = t - 4 * half - 1e-6  # nothing earlier is in any later frame's window
                while state.window and state.window[0][0] < forget:
                    state.outputs.pop(state.window.popleft()[0], None)
            if out_dir is not None and opts.annotate:
                t2 = time.perf_counter()
                # small videos are enlarged for the annotated copy, so labels and bars stay legible
                zoom = max(1.0, MIN_ANNOTATED_HEIGHT / frame.shape[0])
                if writer is None:
                    h, w_ = (round(v * zoom) for v in frame.shape[:2])
                    writer = H264Writer(Path(out_dir) / f"{Path(str(source)).stem}_annotated.mp4", w_, h,
                                        min(result.fps, opts.sample_fps or result.fps))
                    result.annotated_path = writer.path
                if zoom > 1.0:
                    frame = cv2.resize(frame, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
                    faces_here = [_zoom_face(f, zoom) for f in faces_here]
                writer.write(annotate(frame, faces_here, labels))
                stages["encode"] += time.perf_counter() - t2

        def flush(final: bool = False) -> None:
            crops = [c for *_, c in pending if len(c)]
            t0 = time.perf_counter()
            if crops:
                out = cnn(cnn.config.normalization(np.concatenate(crops)))
            stages["cnn"] += time.perf_counter() - t0
            k = 0
            for t, idx, frame, tracked, frame_crops in pending:
                faces = []
                for tf in tracked:
                    probs, feat = out.probabilities[k], out.features[k]
                    k += 1
                    states.setdefault(tf.track_id, _TrackState()).window.append((t, probs, feat))
                    faces.append((tf, probs))
                ready.append((t, idx, frame, faces))
            pending.clear()
            newest = ready[-1][0] if ready else 0.0
            while ready and (final or ready[0][0] <= newest - lookahead + 1e-6):
                emit(*ready.popleft())

        try:
            for t, frame in frames:
                result.frames_read += 1
                last_time = t
                if progress:
                    progress(result.frames_read, total)
                if stop is not None and stop():
                    break
                if opts.sample_fps and t + 1e-6 < next_sample:
                    continue
                if opts.sample_fps:
                    next_sample = max(next_sample + 1.0 / opts.sample_fps, t)
                if result.width == 0:
                    result.height, result.width = frame.shape[:2]
                idx = result.frames_read - 1
                grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
                if t - last_detect >= opts.detect_every - 1e-6:
                    t0 = time.perf_counter()
                    detections = self.analyzer.detector.detect(frame)
                    stages["detect"] += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    tracked = tracker.update(idx, grey, detections)
                    last_detect = t
                else:
                    t0 = time.perf_counter()
                    tracked = tracker.propagate(idx, grey)
                stages["track"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                crops = (np.stack([crop_face(grey, tf.detection.eyes, template) for tf in tracked])
                         if tracked else np.zeros((0, template.size, template.size), np.uint8))
                stages["align"] += time.perf_counter() - t0
                pending.append((t, idx, frame, tracked, crops))
                result.frames_analysed += 1
                result.duration = t
                if len(pending) >= opts.batch_frames:
                    flush()
            flush(final=True)
        except Exception as exc:  # keep what was analysed before the video broke
            result.error = f"{source}: analysis stopped at frame {result.frames_read}: {exc}"
            pending.clear()
            try:  # the frames already through the CNN still get their labels
                flush(final=True)
            except Exception:
                pass
        finally:
            if cap is not None:
                cap.release()
            if writer is not None:
                writer.close()
        for state in states.values():
            if state.episode is not None:
                result.episodes.append(state.episode)
        result.episodes.sort(key=lambda e: (e.track_id, e.start))
        # A container's frame count is an estimate (duration x nominal rate): a variable-frame-rate phone video
        # has fewer frames than it says. Only frames missing from the *time* the container covers mean truncation.
        expected_seconds = total / result.fps if total and result.fps else 0.0
        if (result.frames_read and expected_seconds and result.error is None
                and last_time + 2.0 / result.fps < 0.9 * expected_seconds):
            result.error = (f"{source}: video ended at {last_time:.1f} s of {expected_seconds:.1f} s "
                            f"({result.frames_read} frames; truncated or corrupt); results cover the frames read")
        result.seconds = time.perf_counter() - started
        if out_dir is not None:
            result.save(out_dir)
        return result

    @staticmethod
    def _episode(state: _TrackState, ff: FrameFace, frame: np.ndarray, result: VideoResult) -> None:
        ep = state.episode
        if ep is None or ep.emotion != ff.emotion:
            if ep is not None:
                result.episodes.append(ep)
            ep = state.episode = Episode(ff.track_id, ff.emotion, ff.time, ff.time)
        ep.end = ff.time
        p = max(ff.frame_probabilities[EMOTIONS.index(ff.emotion)], 0.0)
        if p > ep.best_probability:  # the most expressive frame of the episode, by its own probability
            x, y, w, h = ff.box
            m = 0.4 * max(w, h)
            y0, y1 = max(0, int(y - m)), min(frame.shape[0], int(y + h + m))
            x0, x1 = max(0, int(x - m)), min(frame.shape[1], int(x + w + m))
            ep.best_probability, ep.best_time = p, ff.time
            ep.best_image = frame[y0:y1, x0:x1].copy() if y1 > y0 and x1 > x0 else None


def _zoom_face(face: Face, zoom: float) -> Face:
    x, y, w, h = face.box
    return Face((x * zoom, y * zoom, w * zoom, h * zoom), tuple((px * zoom, py * zoom) for px, py in face.landmarks),
                face.detection_score, face.probabilities, face.uncertain)


def _read_frames(cap: cv2.VideoCapture, stages: dict):
    """(time in seconds, BGR frame) from the decoder's own timestamps, so variable frame rates stay right."""
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    index = 0
    while True:
        t0 = time.perf_counter()
        ok, frame = cap.read()
        stages["decode"] += time.perf_counter() - t0
        if not ok:
            return
        ms = cap.get(cv2.CAP_PROP_POS_MSEC)
        t = ms / 1000.0 if ms and ms > 0 else index / fps
        index += 1
        yield t, frame


class LiveSource:
    """Frames from a camera index, a stream URL or a file, delivered in real time: a reader thread keeps only
    the newest frame, so a slow consumer skips frames instead of falling behind. A file is read at its own
    frame rate, as a camera would deliver it. ``dropped`` counts the frames skipped."""

    def __init__(self, source: str | int, max_seconds: float | None = None):
        import threading

        self.name = str(source)
        target = int(source) if str(source).isdigit() else str(source)
        if isinstance(target, str) and "://" not in target:
            self.cap = open_video(target)
            self.is_file = True
        else:
            self.cap = cv2.VideoCapture(target)
            self.is_file = False
            if not self.cap.isOpened():
                raise VideoError(f"{source}: cannot open camera or stream")
        fps = self.cap.get(cv2.CAP_PROP_FPS) or 0.0
        self.fps = fps if math.isfinite(fps) and 0 < fps < 1000 else 30.0
        self.max_seconds = max_seconds
        self.dropped = 0
        self.delivered = 0
        self._latest: tuple[float, np.ndarray] | None = None
        self._done = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._start = time.perf_counter()
        self._thread.start()

    def _read(self) -> None:
        index = 0
        while not self._done:
            ok, frame = self.cap.read()
            if not ok:
                break
            t = index / self.fps if self.is_file else time.perf_counter() - self._start
            if self.is_file:  # pace a file like a camera
                delay = t - (time.perf_counter() - self._start)
                if delay > 0:
                    time.sleep(delay)
            index += 1
            with self._cond:
                if self._latest is not None:
                    self.dropped += 1
                self._latest = (t, frame)
                self._cond.notify()
            if self.max_seconds is not None and t >= self.max_seconds:
                break
        with self._cond:
            self._done = True
            self._cond.notify()

    def __iter__(self):
        while True:
            with self._cond:
                while self._latest is None and not self._done:
                    self._cond.wait(0.5)
                if self._latest is None and self._done:
                    break
                item, self._latest = self._latest, None
            self.delivered += 1
            yield item

    def close(self) -> None:
        self._done = True
        self._thread.join(timeout=2)
        self.cap.release()
