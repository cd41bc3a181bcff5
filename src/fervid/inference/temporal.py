"""Classifying a face over time (no torch): per-frame argmax, a triangle-weighted moving average, a sticky HMM, or
the paper's LSTM.

Each method looks at the frames of one track's window around a frame (centred on it for files; for live sources
the window ends at it) and returns 7 probabilities for that frame. The LSTM runs as ONNX (exported by ``fervid train-temporal``) over the
CNN's 512-d features; it only understands the features of the CNN it was trained on, so its folder's config
names that CNN (``"cnn"``), and the shipped LSTM for a CNN is found by that name.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from functools import cached_property
from pathlib import Path
from typing import NamedTuple, Protocol, Sequence, runtime_checkable

import numpy as np

from fervid.errors import OptionNaming, said_option
from fervid.inference.models import (WEIGHTS_DIR, ModelError, ModelNotFound, file_sha256, softmax,
                                     warn_of_folder_not_used, written_as_path)
from fervid.machine import session_options
from fervid.registry import Registry



def shipped_temporal_models() -> dict[str, Path]:
    """{CNN name: folder} of the temporal LSTMs shipped inside the package, keyed by the CNN they read."""
    found = {}
    for config_file in sorted(WEIGHTS_DIR.glob("*/config.json")):
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):  # a broken folder: the emotion models' scan warns of it
            continue
        if isinstance(config, dict) and config.get("kind") == "lstm" and config.get("cnn"):
            found[config["cnn"]] = config_file.parent
    return found


def temporal_model_for(cnn: str, naming: OptionNaming) -> Path:
    """The shipped temporal LSTM trained on the features of the CNN named ``cnn``; ModelError where none is, its
    advice naming the options as ``naming`` says (:func:`fervid.errors.said_option`)."""
    models = shipped_temporal_models()
    if cnn not in models:
        raise ModelError(f"no shipped temporal LSTM reads the features of CNN {cnn!r} (shipped for: "
                         f"{', '.join(models) or 'none'}); use {said_option('method', naming, 'mean')} or "
                         f"{said_option('method', naming, 'frame')}, or train one with `fervid train-temporal "
                         f"--model {cnn}` and pass its folder as {said_option('temporal_model', naming)}")
    return models[cnn]


class TemporalMethod(Protocol):
    name: str
    # True: the video pipeline averages the method's outputs over the window around each frame (an ensemble of
    # the overlapping windows); worth it where one window's output flickers, as the LSTM's does
    smooth_outputs: bool
    # applied to the track's final output (after any averaging over windows): a temperature fitted on held-out
    # clips, so that a 0.8 means right 80% of the time (1: none)
    temperature: float

    def __call__(self, probabilities: np.ndarray, features: np.ndarray, weights: np.ndarray | None = None,
                 times: np.ndarray | None = None, at: int | None = None) -> np.ndarray:
        """(T, 7) per-frame probabilities and (T, 512) features of one track's window -> (7,) probabilities for
        the frame ``at`` (an index into the window; None: the last, as in a causal window). ``weights`` (T,): how
        much each frame counts, for methods that average (None: equally); ``times`` (T,): the frames' times (s)."""


class Window(NamedTuple):
    """One track's window around a frame, as a :class:`TemporalMethod` is called with it."""

    probabilities: np.ndarray
    features: np.ndarray
    weights: np.ndarray | None
    times: np.ndarray
    at: int


@runtime_checkable
class BatchedMethod(Protocol):
    """A temporal method that classifies many windows in one go (the LSTM: one ONNX Runtime run for a chunk's
    windows), each as its ``__call__`` would."""

    def batch(self, windows: Sequence[Window]) -> list[np.ndarray]:
        """Each window's (7,) output, as ``method(*window)`` gives it."""


def run_method(method: TemporalMethod, windows: Sequence[Window]) -> list[np.ndarray]:
    """Each window's output from ``method``: together where it can (:class:`BatchedMethod`), else one by one."""
    if isinstance(method, BatchedMethod):
        return method.batch(windows)
    return [method(w.probabilities, w.features, w.weights, times=w.times, at=w.at) for w in windows]


class TrackSmoother:
    """One track's temporal classification over a sliding window: the one component the video pipeline, the live
    view and the temporal trainer's comparison share.

    Frames are :meth:`add`-ed in time order; :meth:`classify` gives the output for the frame at time t from the
    track's frames in its window: centred on t (t - w/2 .. t + w/2, frames weighted by a triangular kernel
    peaking at t, for files: no lag) or causal (t - w .. t, equal weights, for live sources). A method with
    ``smooth_outputs`` (the LSTM) has its outputs averaged once more over the windows around t. A centred window
    needs the frames up to ``lookahead`` seconds after t before t can be classified."""

    def __init__(self, method: TemporalMethod, window: float, centred: bool = True, fps: float = 30.0):
        self.method, self.centred, self.fps = method, centred, fps
        self.half = 0.0 if method.name == "frame" else window / 2
        self.lookahead = lookahead(method, window, centred)
        self.frames: deque = deque()  # (time, probabilities, feature) of the frames later windows still need
        self.outputs: dict[float, np.ndarray] = {}  # time -> the method's output for the window around it
        self.seconds = 0.0  # spent in the method

    def add(self, t: float, probabilities: np.ndarray, feature: np.ndarray) -> None:
        self.frames.append((t, probabilities, feature))

    @property
    def newest(self) -> float:
        """The time of the track's latest frame (kept: :meth:`label` lets go only of frames before a window)."""
        return self.frames[-1][0]

    def classify(self, t: float) -> np.ndarray:
        """The output for the frame at time t; frames no later window needs are then let go of."""
        return self.classify_many([t])[0]

    def classify_many(self, times: Sequence[float]) -> list[np.ndarray]:
        """The outputs for the frames at ``times`` (in time order), as :meth:`classify` gives them one after
        another, the windows they need run through the method together (:func:`run_method`)."""
        missing = self.missing(times)
        started = time.perf_counter()
        self.outputs.update(zip(missing, run_method(self.method, [self.window(u) for u in missing])))
        self.seconds += time.perf_counter() - started
        return [self.label(t) for t in times]

    def missing(self, times: Sequence[float]) -> list[float]:
        """The times of the windows whose outputs the frames at ``times`` need and that are not run yet, each once.
        Run before any of those frames is classified, a window holds the same frames as run when first needed:
        its frames all came in before its frame was final, and none is let go of before a later frame's
        window."""
        needed = [r[0] for t in times for r in self._around(t)] if self.method.smooth_outputs else times
        return [u for u in dict.fromkeys(needed) if u not in self.outputs]

    def window(self, t: float) -> Window:
        """The window around the frame at time t, as the method reads it."""
        frames = self._around(t)
        times = np.array([r[0] for r in frames])
        return Window(np.stack([r[1] for r in frames]), np.stack([r[2] for r in frames]), self._weights(times, t),
                      times, int(np.argmin(np.abs(times - t))))

    def label(self, t: float) -> np.ndarray:
        """The output for the frame at time t from the outputs of the windows it needs, all run (:meth:`missing`
        none); frames no later window needs are then let go of."""
        if self.method.smooth_outputs:  # the mean of the outputs of the windows around t: an ensemble
            times = [r[0] for r in self._around(t)]
            out = np.average([self.outputs[u] for u in times], axis=0, weights=self._weights(times, t))
        else:
            out = self.outputs[t]
        out = tempered(out, self.method.temperature)
        forget = t - 4 * self.half - 1e-6  # nothing earlier is in any later frame's window
        while self.frames and self.frames[0][0] < forget:
            self.outputs.pop(self.frames.popleft()[0], None)
        return out

    def _around(self, t: float) -> list[tuple]:
        lo, hi = (t - self.half, t + self.half) if self.centred else (t - 2 * self.half, t)
        return [r for r in self.frames if lo - 1e-6 <= r[0] <= hi + 1e-6]

    def _weights(self, times, t: float) -> np.ndarray | None:
        """Centred: a triangular kernel peaking at the frame, so a change of expression flips the label when the
        face changes, not when a more confident emotion fills part of the window. Causal: equal."""
        if not self.centred or self.half == 0.0:
            return None
        return np.maximum(1.0 - np.abs(np.asarray(times) - t) / (self.half + 1.0 / self.fps), 1e-3)


class TrackWindows:
    """Each track's :class:`TrackSmoother`, made on its first frame, and when a frame's label is final: the one
    driver of the video pipeline's tracks (:class:`fervid.inference.video.FrameStream`, fervid's tracker's) and of
    yours (:class:`fervid.inference.track_classifier.TrackClassifier`), so that the same frames of a track get the
    same labels by either."""

    def __init__(self, method: TemporalMethod, window: float, centred: bool, fps: float):
        """``fps``: the rate the tracks' frames come at (the centred kernel's frame spacing)."""
        self.method, self.window, self.centred, self.fps = method, window, centred, fps
        self.lookahead = lookahead(method, window, centred)
        self.reach = reach(method, window, centred)
        self.tracks: dict[int, TrackSmoother] = {}
        self.seconds = 0.0  # spent in the method, all tracks together

    def add(self, track_id: int, t: float, probabilities: np.ndarray, feature: np.ndarray) -> None:
        """A frame of the track ``track_id`` (its frames in time order)."""
        if track_id not in self.tracks:
            self.tracks[track_id] = TrackSmoother(self.method, self.window, self.centred, self.fps)
        self.tracks[track_id].add(t, probabilities, feature)

    def final(self, t: float, newest: float) -> bool:
        """Whether the label of a frame at ``t`` is final once the frames up to ``newest`` are added: those its
        window needs, up to :attr:`lookahead` seconds after it, are in (a track's frames after ``newest`` would be
        in its window otherwise)."""
        return t <= newest - self.lookahead + 1e-6

    def classify(self, track_id: int, t: float) -> np.ndarray:
        """The track's output for its frame at ``t`` (:meth:`TrackSmoother.classify`)."""
        return self.classify_many([(track_id, t)])[0]

    def classify_many(self, frames: Sequence[tuple[int, float]]) -> list[np.ndarray]:
        """The outputs for ``frames``, (track id, time) each, every track's in time order, as :meth:`classify`
        gives them one after another: the windows they need, of all their tracks, are run through the method
        together (the LSTM: one ONNX Runtime run for them all, where a run per window cost 2 to 3 times as
        much)."""
        times_of: dict[int, list[float]] = {}
        for track_id, t in frames:
            times_of.setdefault(track_id, []).append(t)
        missing = [(self.tracks[track_id], u) for track_id, times in times_of.items()
                   for u in self.tracks[track_id].missing(times)]
        started = time.perf_counter()
        outputs = run_method(self.method, [track.window(u) for track, u in missing])
        self.seconds += time.perf_counter() - started
        for (track, u), output in zip(missing, outputs):
            track.outputs[u] = output
        return [self.tracks[track_id].label(t) for track_id, t in frames]

    def end(self, track_id: int) -> None:
        """Forget a track whose frames are all labelled (its window and outputs)."""
        self.tracks.pop(track_id, None)

    def end_passed(self, labelled_until: float, newest: float) -> None:
        """Forget the tracks whose frames are all labelled, the latest at or before ``labelled_until``, and lie
        farther back than any later frame's label reads (:attr:`reach` before ``newest``, the latest frame of all
        tracks), where every track's frames come in time order together (a video's, a stream's): the tracks that
        ended. Their windows (up to twice the window of features and outputs each) were kept until the video
        ended, and hours of people walking past grew them without bound. A track under one of their ids later (a
        face lost and found again, a tracker that numbers every face it follows alike) starts a window of its
        own and gets the labels it got when every window was kept: no later label reads the frames forgotten."""
        # (beyond the 1e-6 s that each of a label's windows, and the LSTM's window of windows, reaches past its edge)
        for track_id in [track_id for track_id, track in self.tracks.items()
                         if track.newest <= labelled_until and track.newest < newest - self.reach - 1e-5]:
            del self.tracks[track_id]


def tempered(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities with a temperature applied (to their logarithms, as to logits)."""
    if temperature == 1.0:
        return probabilities
    return softmax(np.log(np.clip(probabilities, 1e-7, 1.0)) / temperature, axis=-1).astype(np.float32)


def labels_delay(method: str, window: float, centred: bool = False) -> float:
    """About how far a label trails a change of expression, in seconds: 0 for a centred window (files); for a causal
    one (live), half the window for the methods that average over it, the HMM's set by its switching rate
    (measured by benchmarks/bench_lag.py at a 1 s window, median, docs/eval/lag.json: LSTM 0.56 s, moving average
    0.42 s, HMM 0.12 s, frame 0.02 s)."""
    if centred:
        return 0.0
    return {"frame": 0.0, "hmm": 0.15}.get(method, window / 2)


def frames_per_window(window: float, rate: float, centred: bool) -> int:
    """The analysed frames a window of ``window`` seconds holds, the labelled one included, at ``rate`` frames a
    second: those within half the window each side of it (centred), or within the window before it (causal), as
    :meth:`TrackSmoother._around` takes them."""
    reach = window / 2 if centred else window
    others = math.floor(reach * rate + 1e-6)  # the frames on one side (on its only side, causal)
    return (2 * others if centred else others) + 1


def window_notice(method: str, window: float, rate: float, centred: bool, naming: OptionNaming,
                  most_rate: float | None = None, memory_capped: bool = False) -> str | None:
    """What a window of ``window`` seconds at ``rate`` analysed frames a second leaves a temporal method, where
    that is not what it is for: the moving average and the HMM need other frames in the window to smooth over (with
    none they give each frame's own labels, as ``frame`` does), and the LSTM learnt from windows of frames at most
    :data:`LSTM_TRAINED_SPACING` apart (:func:`within_trained_spacing`) with at least :data:`MIN_HALF_WINDOW` other
    frame before (and, centred, after) the labelled one (with fewer it reads copies of one frame, and can name an
    emotion the CNN gave none of the frames). None where the window suits the method. ``naming``: how the advice
    names the options, as its reader gives them (:func:`fervid.errors.said_option`: ``--sample-fps 4`` on the
    command line, ``sample_fps=4`` in Python). ``most_rate``: the most frames a second the video has (a rate the
    advice to sample faster must not pass; the rate itself where frames come as they come, to a stream).
    ``memory_capped``: the rate is what the memory for the windows allows (``frames_memory_mb``), not what
    ``sample_fps`` asked for: a faster ``sample_fps`` cannot help, more memory can."""
    if method == "frame":
        return None
    frames = frames_per_window(window, rate, centred)
    others = (frames - 1) // 2 if centred else frames - 1  # on the labelled frame's side(s)
    holds = (f"at {rate:.3g} analysed frame{'s' if rate != 1 else ''} a second ({1 / rate:.2g} s apart), a "
             f"{window:g} s {'centred' if centred else 'causal'} window holds {frames} analysed "
             f"frame{'s' if frames != 1 else ''}")
    faster = most_rate is None or rate < most_rate - 1e-6  # the video has more frames to sample
    longer_window = f"a longer {said_option('window', naming)}"
    if method != "lstm":
        if frames > 1:
            return None
        faster_by = f" or a higher {said_option('frames_memory_mb' if memory_capped else 'sample_fps', naming)}"
        return (f"{holds}: {said_option('method', naming, method)} has nothing to smooth and gives each frame's own "
                f"labels, as {said_option('method', naming, 'frame')} does; {longer_window}"
                f"{faster_by if faster else ''} lets it smooth")
    learnt = []
    if not within_trained_spacing(rate):
        learnt.append(f"frames at most {LSTM_TRAINED_SPACING:g} s apart")
    if others < MIN_HALF_WINDOW:
        learnt.append(f"windows of {2 * MIN_HALF_WINDOW + 1 if centred else MIN_HALF_WINDOW + 1} frames or more (it "
                      "reads copies of the one frame instead)")
    if not learnt:
        return None
    ways = [said_option("method", naming, "frame")]
    needed = math.ceil(1 / min(LSTM_TRAINED_SPACING, (window / 2 if centred else window) / MIN_HALF_WINDOW) - 1e-6)
    if most_rate is None or needed <= most_rate + 1e-6:
        ways.append(f"a higher {said_option('frames_memory_mb', naming)} (for {needed} frames a second or more)"
                    if memory_capped else f"{said_option('sample_fps', naming, needed)} or more")
    if within_trained_spacing(rate):  # only too few frames: a longer window holds more
        ways.append(longer_window)
    return (f"{holds}: the LSTM learnt from {' and from '.join(learnt)}, so its labels here are outside what it "
            f"learnt (they can name an emotion the CNN gave none of the frames); use "
            + (f"{', '.join(ways[:-1])} or {ways[-1]}" if len(ways) > 1 else ways[0]))


def reach(method: TemporalMethod, window: float, centred: bool) -> float:
    """Seconds before a frame whose frames its label reads (:meth:`TrackSmoother._around`): half the window
    (centred) or all of it (causal), twice that for a method whose outputs are averaged over a window of windows
    (the LSTM)."""
    half = 0.0 if method.name == "frame" else window / 2
    before = half if centred else 2 * half
    return 2 * before if method.smooth_outputs else before


def lookahead(method: TemporalMethod, window: float, centred: bool) -> float:
    """Seconds after a frame whose frames its centred window needs (0 for causal windows): half the window,
    twice that for a method whose outputs are averaged over a window of windows (the LSTM)."""
    half = 0.0 if method.name == "frame" else window / 2
    return (2 * half if method.smooth_outputs else half) if centred else 0.0


class PerFrame:
    """No smoothing: the frame's own probabilities."""

    name = "frame"
    smooth_outputs = False
    temperature = 1.0

    def __call__(self, probabilities: np.ndarray, features: np.ndarray, weights: np.ndarray | None = None,
                 times: np.ndarray | None = None, at: int | None = None) -> np.ndarray:
        return probabilities[-1 if at is None else at]


class MovingAverage:
    """The weighted mean of the window's per-frame probabilities: a triangle-weighted moving average in a centred
    window, an equal one in a causal window (:meth:`TrackSmoother._weights` gives the weights)."""

    name = "mean"
    smooth_outputs = False
    temperature = 1.0

    def __call__(self, probabilities: np.ndarray, features: np.ndarray, weights: np.ndarray | None = None,
                 times: np.ndarray | None = None, at: int | None = None) -> np.ndarray:
        return np.average(probabilities, axis=0, weights=weights)


def temporal_model_path(model: str | Path) -> Path:
    """Where the temporal LSTM ``model`` is, there or not: a shipped LSTM's name means its folder in the package
    (a folder of that name in the working folder too), another name a folder of that name where there is one, a
    path (:func:`fervid.inference.models.written_as_path`) that folder."""
    shipped = WEIGHTS_DIR / str(model)
    if not written_as_path(model) and (shipped.is_dir() or not Path(model).is_dir()):
        warn_of_folder_not_used(str(model))
        return shipped
    return Path(model)


def temporal_folder(model: str | Path | None = None, cnn: str | None = None) -> Path:
    """The folder of a temporal LSTM: ``model``, a folder or a shipped LSTM's name (which means the shipped LSTM
    alone, as a CNN's name does: :func:`fervid.inference.models.written_as_path`); None: the shipped LSTM for the
    CNN named ``cnn``. Raises ModelNotFound where it holds no ``model.onnx``."""
    if model is None:
        if cnn is None:
            raise ValueError("LSTMTemporal needs a temporal model or the name of the CNN it reads")
        # reached from Python (LSTMTemporal, make_method, Analyzer.temporal_lstm): a command's video falls back to
        # the moving average before it asks for an LSTM none ships (video.method_for)
        model = temporal_model_for(cnn, "keywords")
    folder = temporal_model_path(model)
    if not (folder / "model.onnx").is_file():
        raise ModelNotFound(f"temporal model {model!r} not found (no model.onnx in {folder})")
    return folder


class LSTMTemporal:
    """The paper's 2-layer LSTM over the window's CNN features (``model.onnx`` in a temporal model folder),
    trained to label its window's middle frame (:func:`centred_window` builds the window it reads).

    ``smooth_outputs``: the video pipeline averages the LSTM's outputs over the same window (an ensemble of the
    overlapping windows), which keeps its accuracy and removes most label flicker."""

    name = "lstm"
    smooth_outputs = True

    def __init__(self, model: str | Path | None = None, cnn: str | None = None, threads: int | None = None,
                 feature_dim: int | None = None, cnn_weights_sha256: str | None = None):
        """``model``: a temporal model folder or shipped name; None: the shipped LSTM for ``cnn`` (a CNN name).
        With both, the model must have been trained on ``cnn``'s features; with ``feature_dim`` (the CNN's
        feature size), the LSTM must read features of that size; with ``cnn_weights_sha256``, the LSTM must have
        been trained on those very weights (where its config records them)."""
        import onnxruntime as ort

        folder = temporal_folder(model, cnn)
        self.folder = folder
        self.config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.cnn = self.config.get("cnn")
        if cnn is not None:
            self.check_cnn(cnn, feature_dim, cnn_weights_sha256)
        # no state between calls (each track's frames are its TrackSmoother's): one session serves any number of
        # videos and streams, from several threads (ONNX Runtime's run() is safe to call concurrently)
        options = session_options(threads)
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self.max_frames = int(self.config.get("max_frames", 17))
        # fitted by `fervid train-temporal` on held-out clips' final outputs (1: none)
        self.temperature = float(self.config.get("temperature", 1.0))
        if self.config.get("target") != "centre":
            raise ModelError(f"{folder}: this LSTM was trained to label its window's last frame (an older fervid); "
                             f"fervid now reads the window around the frame it labels; retrain it with "
                             f"`fervid train-temporal --model {self.cnn}`")

    @property
    def model_name(self) -> str:
        """What results record: a shipped LSTM by its name (not the path fervid is installed at), yours as given."""
        return self.folder.name if self.folder.resolve().parent == WEIGHTS_DIR.resolve() else str(self.folder)

    @cached_property  # read once per loaded model, not per video
    def weights_sha256(self) -> str:
        """Digest of the LSTM's weights (its ``model.onnx``), which results record beside its name: a shipped LSTM
        retrained in a later fervid keeps its name."""
        return file_sha256(self.folder / "model.onnx")

    def check_cnn(self, cnn: str, feature_dim: int | None = None, cnn_weights_sha256: str | None = None) -> None:
        """Raise ModelError unless this LSTM was trained on the features of CNN ``cnn`` (its name, feature size
        and, where both are known, its weights): on other features its predictions would be meaningless."""
        folder = self.folder
        if self.cnn != cnn:
            raise ModelError(f"{folder}: this LSTM was trained on the features of CNN {self.cnn!r}, not {cnn!r}; "
                             f"its predictions on other features would be meaningless")
        input_dim = self.config.get("input_dim")
        if feature_dim is not None and input_dim is not None and int(input_dim) != int(feature_dim):
            raise ModelError(f"{folder}: this LSTM reads {input_dim}-d features, but CNN {cnn!r} gives "
                             f"{feature_dim}-d ones")
        trained_on = self.config.get("cnn_weights_sha256")
        if cnn_weights_sha256 and trained_on and trained_on != cnn_weights_sha256:
            raise ModelError(f"{folder}: this LSTM was trained on the features of CNN {self.cnn!r} with weights "
                             f"{trained_on[:12]}, but the CNN given has weights {cnn_weights_sha256[:12]} (retrained?); "
                             f"retrain the LSTM with `fervid train-temporal --model ...`")

    def __call__(self, probabilities: np.ndarray, features: np.ndarray, weights: np.ndarray | None = None,
                 times: np.ndarray | None = None, at: int | None = None) -> np.ndarray:
        return self._outputs([centred_window(features, len(features) - 1 if at is None else at, self.max_frames)])[0]

    def batch(self, windows: Sequence[Window]) -> list[np.ndarray]:
        """Each window's output, as :meth:`__call__` gives it, the windows of each length in one ONNX Runtime run
        (its LSTM gives each row of a batch what it gives that row alone)."""
        return self._outputs([centred_window(w.features, w.at, self.max_frames) for w in windows])

    def _outputs(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        """The probabilities for LSTM input windows (T, features) each: one run per length of window (a track's
        first and last frames' windows, a sparse --sample-fps's, are shorter than the others)."""
        outputs: list[np.ndarray] = [np.empty(0)] * len(windows)
        rows_of: dict[int, list[int]] = {}
        for row, window in enumerate(windows):
            rows_of.setdefault(len(window), []).append(row)
        for rows in rows_of.values():
            (logits,) = self.session.run(None, {"features": np.stack([windows[r] for r in rows]).astype(np.float32)})
            for row, probabilities in zip(rows, softmax(logits, axis=1).astype(np.float32)):
                outputs[row] = probabilities
        return outputs


# the fewest frames each side of the labelled one in any window the LSTM is trained on
# (fervid.training.train_temporal.sample_windows)
MIN_HALF_WINDOW = 1
# the farthest apart (s) the frames of any window the LSTM is trained on are: its widest stride, 9 frames of 30 fps
# video (fervid.training.train_temporal.STRIDES), the spacing of --sample-fps 3.33
LSTM_TRAINED_SPACING = 0.3
# how much farther apart than LSTM_TRAINED_SPACING frames may be and still be what the LSTM learnt from: the same
# 9-frame stride of 29.97 fps video (NTSC's 1000/1001 of 30) is 0.3003 s, --sample-fps 3.33 or 3.3 (the 0.3 s of
# the published design, rounded) 0.3003 or 0.303 s; 6 ms is no change to an expression. Beyond it the spacing said
# (two significant digits, 0.31 s or more) differs from the 0.3 s said learnt.
LSTM_SPACING_TOLERANCE = 0.02


def within_trained_spacing(rate: float) -> bool:
    """Whether frames analysed ``rate`` a second are as close as those the LSTM learnt from
    (:data:`LSTM_TRAINED_SPACING`, within :data:`LSTM_SPACING_TOLERANCE` of it)."""
    return 1 / rate <= LSTM_TRAINED_SPACING * (1 + LSTM_SPACING_TOLERANCE)


def centred_window(features: np.ndarray, at: int, max_frames: int) -> np.ndarray:
    """The frames around frame ``at``, with ``at`` in the middle, as the LSTM reads them: the shorter side is
    padded with copies of its edge frame (a track's first or last frames, or a causal window's missing future),
    then a window longer than ``max_frames`` is evenly thinned, keeping the middle frame. The trainer builds its
    windows with the same function."""
    before, after = at, len(features) - 1 - at
    if before < after:
        features = np.concatenate([np.repeat(features[:1], after - before, 0), features])
    elif after < before:
        features = np.concatenate([features, np.repeat(features[-1:], before - after, 0)])
    half = max(before, after)
    if half < MIN_HALF_WINDOW:  # one frame alone (a sparse --sample-fps): the LSTM never learnt so short a window
        features = np.concatenate([np.repeat(features[:1], MIN_HALF_WINDOW - half, 0), features,
                                   np.repeat(features[-1:], MIN_HALF_WINDOW - half, 0)])
        half = MIN_HALF_WINDOW
    if 2 * half + 1 > max_frames:
        keep = (max_frames - 1) // 2
        features = features[half + np.round(np.linspace(-half, half, 2 * keep + 1)).astype(int)]
    return features


class StickyHMM:
    """An HMM smoother over the window's per-frame probabilities: the hidden state is the expression, which
    changes ``switches_per_second`` times a second on average (a "sticky" transition matrix), and each frame's
    CNN probabilities are its evidence (the posterior read as a scaled likelihood; clipped at 1e-6, so that one
    frame's zero cannot rule an expression out for good). Forward-backward over the
    window gives the expression's probability at the frame ``at``: evidence from both sides in a centred window
    (so a change is placed where the frames change, not half a window late), from the past only in a causal one.
    A single odd frame cannot flip the label; a lasting change does, at once."""

    name = "hmm"
    smooth_outputs = False
    temperature = 1.0

    def __init__(self, switches_per_second: float = 1.0, independent_every: float = 0.2):
        """``independent_every``: seconds of video that count as one independent observation (neighbouring
        frames of one face are nearly the same picture; counting each as new evidence makes the posterior
        far surer than the frames are)."""
        self.rate = switches_per_second
        self.independent_every = independent_every

    def __call__(self, probabilities: np.ndarray, features: np.ndarray, weights: np.ndarray | None = None,
                 times: np.ndarray | None = None, at: int | None = None) -> np.ndarray:
        evidence = np.clip(np.asarray(probabilities, np.float64), 1e-6, 1.0)
        n, k = evidence.shape
        at = n - 1 if at is None else at
        steps = np.diff(times) if times is not None and n > 1 else np.full(max(n - 1, 0), 1 / 30)
        steps = np.maximum(steps, 1e-3)
        switch = 1.0 - np.exp(-self.rate * steps)  # P(another expression) per step
        evidence = evidence ** min(1.0, float(np.median(steps)) / self.independent_every) if n > 1 else evidence

        def move(belief: np.ndarray, p: float) -> np.ndarray:  # one step of the sticky chain
            return (1 - p) * belief + p * (belief.sum() - belief) / (k - 1)

        forward = evidence[0] / evidence[0].sum()
        for i in range(1, at + 1):
            forward = move(forward, switch[i - 1]) * evidence[i]
            forward /= forward.sum()
        backward = np.ones(k)
        for i in range(n - 1, at, -1):
            backward = move(backward * evidence[i], switch[i - 1])
            backward /= backward.sum()
        posterior = forward * backward
        return (posterior / posterior.sum()).astype(np.float32)


METHODS: Registry[type] = Registry("temporal method", {"lstm": LSTMTemporal, "mean": MovingAverage, "frame": PerFrame,
                                                       "hmm": StickyHMM})


def make_method(name: str = "lstm", cnn: str | None = None, model: str | Path | None = None,
                feature_dim: int | None = None, cnn_weights_sha256: str | None = None) -> TemporalMethod:
    """A temporal method by name (:data:`METHODS`); "lstm" loads ``model``, or the shipped LSTM for the CNN named
    ``cnn``, and checks that it reads that CNN's features (name and ``feature_dim``)."""
    method = METHODS[name]
    if method is LSTMTemporal:
        return LSTMTemporal(model, cnn=cnn, feature_dim=feature_dim, cnn_weights_sha256=cnn_weights_sha256)
    return method()


def flicker_per_second(labels: np.ndarray, fps: float) -> float:
    """Label changes per second along one track's frames."""
    labels = np.asarray(labels)
    if len(labels) < 2:
        return 0.0
    return float((labels[1:] != labels[:-1]).sum() / (len(labels) / fps))
