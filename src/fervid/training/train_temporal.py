"""Training the temporal LSTM for video (imports torch): ``fervid train-temporal``.

There is no labelled face video here, so training clips are **simulated** (:mod:`fervid.evaluation.clips`):
- people's clips: CK+ and JAFFE people's own expressions, one giving way to another at realistic speeds, with
  neutral stretches, head motion, talking, blur and compression; the people are split subject-disjoint, and only
  the training side's people are trained on (the validation side fits the temperature and gives the report; the
  test side is left to the benchmarks);
- stills' clips: FER2013 Training stills seen through the same video changes (one expression each), so the model
  also sees the web faces the CNN learnt from.
Each frame goes through the CNN; the LSTM learns, from the 512-d features of the frames around a frame, that
frame's expression (the window's middle frame: no lag on files), as
:func:`fervid.inference.temporal.centred_window` gives it the frames in the video pipeline.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from fervid.folder_lock import run_folder_lock
from fervid.json_files import write_json
from fervid.progress import progress_bar
from fervid.evaluation.clips import Clip, by_side, expression_script, people, render, split_people, still_script
from fervid.evaluation.datasets import (DatasetError, FaceDataset, load_ckplus, load_fer2013, load_ferplus,
                                       load_jaffe)
from fervid.evaluation.evaluate import expected_calibration_error, fit_temperature, write_temporal_card
from fervid.inference.align import preprocess_faces
from fervid.inference.models import DEFAULT_MODEL, EmotionCNN, resolve_model_dir
from fervid.inference.options import check_positive, check_seed
from fervid.machine import cpu_model, thread_count
from fervid.inference.temporal import METHODS, MIN_HALF_WINDOW, TemporalMethod, TrackSmoother, centred_window, \
    flicker_per_second, make_method, tempered
from fervid.training.export import check_model_folder, prepare_model_folder

CLIP_FPS = 30.0  # simulated clips stand for 30 fps video
WINDOW_SECONDS = 1.0  # the video pipeline's default window: the span windows are trained and compared at
# frames between a window's samples: every frame of 30 fps video, every 2nd or 3rd, and about every 0.3 s
# (the video pipeline's --sample-fps); per batch one is drawn. The widest, over CLIP_FPS, is the spacing video
# outside it is said to be beyond (fervid.inference.temporal.LSTM_TRAINED_SPACING)
STRIDES = (1, 2, 3, 9)
# the range fervid.evaluation.evaluate.fit_temperature searches: a fit at either end is the search's bound, not a
# minimum it found
TEMPERATURE_BOUNDS = (0.05, 20.0)


@dataclass
class TemporalTrainConfig:
    fer2013: str = ""  # the FER2013 CSV the stills come from (needed unless still_clips is 0)
    ckplus: str = ""  # CK+48 folder: its people's expression changes ("" leaves them out)
    jaffe: str = ""  # JAFFE folder: its people's expression changes, neutral included ("" leaves them out)
    cnn: str = DEFAULT_MODEL
    # the stills' labels: FER2013's own (""), or FER+'s majority vote from this votes file; use the labels the CNN
    # was trained on, or the LSTM learns to undo the CNN's labelling
    ferplus: str = ""
    still_clips: int = 3000  # clips of FER2013 Training stills (1.5 s each); 0: none, people's clips only
    person_clips: int = 30  # clips per training person (4 s each)
    heldout_clips: int = 10  # clips per validation person, and a tenth of still_clips from PublicTest
    frames: int = 17  # the most frames the LSTM reads (odd: the frame it labels is the middle one)
    epochs: int = 30
    lr: float = 1e-3
    dropout: float = 0.5
    seed: int = 0
    split_seed: int = 0  # which people are train / val / test (evaluation.clips.split_people)

    def __post_init__(self) -> None:
        for name in ("heldout_clips", "epochs", "lr"):
            check_positive(name, getattr(self, name))
        for name in ("seed", "split_seed"):
            check_seed(name, getattr(self, name))
        for name in ("still_clips", "person_clips"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)}")
        if self.still_clips == 0:  # the published design's data: CK+ and JAFFE people, no FER2013 stills
            for name in ("fer2013", "ferplus"):  # read for the stills only: unused, yet recorded as if used
                if getattr(self, name):
                    raise ValueError(f"{name} labels the stills' clips, and still_clips is 0 (none): leave it out")
            if not (self.ckplus or self.jaffe) or self.person_clips == 0:
                raise ValueError("still_clips 0 leaves the LSTM people's clips only: it needs ckplus or jaffe and "
                                 f"person_clips above 0 (person_clips {self.person_clips})")
        if self.frames < 3 or self.frames % 2 == 0:
            raise ValueError(f"frames must be odd and at least 3 (the LSTM labels the middle one), not {self.frames}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")


@dataclass
class ClipSet:
    """Clips' per-frame CNN outputs, frame labels and where each clip's frames start, concatenated."""

    probabilities: np.ndarray  # (frames, 7)
    features: np.ndarray  # (frames, D)
    labels: np.ndarray  # (frames,)
    starts: np.ndarray  # (clips + 1,) offsets into the frame arrays

    def clip(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = self.starts[i], self.starts[i + 1]
        return self.probabilities[a:b], self.features[a:b], self.labels[a:b]

    def __len__(self) -> int:
        return len(self.starts) - 1

    @staticmethod
    def of(cnn: EmotionCNN, clips: list[Clip], progress: bool = True, desc: str = "CNN features") -> ClipSet:
        frames = np.concatenate([c.frames for c in clips])
        probs, feats = [], []
        for i in progress_bar(range(0, len(frames), 512), show=progress, desc=desc, unit="batch"):
            out = cnn(preprocess_faces(frames[i : i + 512], cnn.config.normalization)[1])
            probs.append(out.probabilities)
            feats.append(out.features)
        starts = np.concatenate([[0], np.cumsum([len(c.frames) for c in clips])])
        return ClipSet(np.concatenate(probs), np.concatenate(feats), np.concatenate([c.labels for c in clips]),
                       starts)


def stills(cfg: TemporalTrainConfig, usage: str) -> FaceDataset:
    """The labelled stills clips are simulated from: FER2013's labels, or FER+'s majority where configured."""
    return load_ferplus(cfg.fer2013, cfg.ferplus, usage) if cfg.ferplus else load_fer2013(cfg.fer2013, usage)


def still_clips(ds: FaceDataset, n: int, rng: np.random.Generator, progress: bool = True) -> list[Clip]:
    pick = rng.choice(len(ds), size=min(n, len(ds)), replace=False)
    return [render(still_script(ds.images[i], ds.labels[i], 1.5), rng, CLIP_FPS)
            for i in progress_bar(pick, show=progress, desc="stills' clips", unit="clip")]


def person_clips(persons, per_person: int, rng: np.random.Generator, progress: bool = True) -> list[Clip]:
    # no bar for no people (an empty "people's clips: 0person" line was all it showed)
    return [render(expression_script(p, rng, 4.0), rng, CLIP_FPS)
            for p in progress_bar(persons, show=progress and len(persons) > 0, desc="people's clips", unit="person")
            for _ in range(per_person)]


def lab_people(cfg: TemporalTrainConfig, notices: list[str] | None = None) -> dict[str, list]:
    """CK+ and JAFFE people with two or more expressions, by side of the subject-disjoint split (JAFFE's faces
    found and cropped as ``cfg.cnn``, a shipped name or a model folder, crops them). What is left out of every
    side (people with one expression, files the datasets skipped) and a side left empty are appended to
    ``notices`` as lines to say (they went without a word)."""
    datasets = []
    if cfg.ckplus:
        datasets.append(load_ckplus(cfg.ckplus))
    if cfg.jaffe:
        from fervid.inference.options import PipelineOptions

        # (the CNN's name from its default or the user: the command line says a typed --cnn's folder not used)
        datasets.append(load_jaffe(cfg.jaffe, crop_faces=PipelineOptions(model=cfg.cnn).analyzer().crop_faces))
    found = people(*datasets) if datasets else []
    sides = by_side(found, split_people([p.subject for p in found], seed=cfg.split_seed))
    if notices is not None:
        notices += people_notices(datasets, found, sides, stills=cfg.still_clips > 0)
    return sides


def people_notices(datasets: list[FaceDataset], found: list, sides: dict[str, list], stills: bool = True
                   ) -> list[str]:
    """Lines saying what of ``datasets`` is on no side of the split ``sides`` of the people ``found``, and which
    sides are empty (``stills``: whether stills' clips are held out, to fit the temperature on in their place)."""
    notes = []
    kept = {p.subject for p in found}
    for ds in datasets:
        expressions: dict[str, set[int]] = {}
        for subject, label in zip(ds.subjects, ds.labels):
            expressions.setdefault(f"{ds.name}:{subject}", set()).add(int(label))
        single = sorted(s.split(":", 1)[1] for s in expressions if s not in kept)
        if single:
            notes.append(f"notice: {len(single)} of {len(expressions)} {ds.name} subject(s) left out of every split "
                         f"({', '.join(single[:8])}{', ...' if len(single) > 8 else ''}): each shows one expression, "
                         "so no change of expression can be simulated from them")
        if ds.left_out:
            listed = [f"{path}: {why}" for path, why in list(ds.left_out.items())[:3]]
            notes.append(f"notice: {len(ds.left_out)} {ds.name} file(s) or folder(s) left out: " + "; ".join(listed)
                         + ("; ..." if len(ds.left_out) > 3 else ""))
    if datasets:
        counts = ", ".join(f"{len(sides[k])} {k}" for k in ("train", "val", "test"))
        if not sides["val"]:
            notes.append(f"notice: no validation people ({len(found)} people with two or more expressions: {counts}; "
                         "three or more give every side one): " + (
                             "the temperature is fitted on stills' clips and there is no held-out report on people"
                             if stills else "no stills either (still_clips 0), so no temperature is fitted "
                             "(temperature 1) and there is no held-out report"))
        if not sides["test"]:
            notes.append(f"notice: no test people ({counts}): the benchmarks have no unseen people of these "
                         "datasets to measure the model on")
    return notes


def temperature_notice(report: dict) -> str | None:
    """A line to say where the fitted temperature is at a bound of its search (19.9999 was reported as if fitted)."""
    low, high = TEMPERATURE_BOUNDS
    fitted = report["fitted"]
    if fitted <= low * 1.01 or fitted >= high * 0.99:
        return (f"notice: the fitted temperature {fitted:.4f} is at the bound of its search ({low} to {high}): the "
                "held-out clips did not pin it down (too few of them, or the LSTM's outputs far too "
                f"{'uncertain' if fitted <= low * 1.01 else 'confident'} on them); it was "
                + ("applied" if report["applied"] else "not applied" + (
                    " (it did not pay cross-fitted)" if report.get("cross_fitted_ece_untempered") is not None else "")))
    return None


class TrainedLSTM:
    """The LSTM being trained, as a temporal method: what its exported ONNX copy does in the video pipeline."""

    name = "lstm"
    smooth_outputs = True

    def __init__(self, net, max_frames: int, temperature: float = 1.0):
        self.net, self.max_frames, self.temperature = net.eval(), max_frames, temperature

    def __call__(self, probabilities, features, weights=None, times=None, at=None) -> np.ndarray:
        window = centred_window(features, len(features) - 1 if at is None else at, self.max_frames)
        with torch.no_grad():
            logits = self.net(torch.from_numpy(np.ascontiguousarray(window[None], np.float32)))
            return torch.softmax(logits, 1).numpy()[0]


def sample_windows(data: ClipSet, n: int, frames: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` windows of one shape (a stride from :data:`STRIDES`, as many frames as fit in a 1 s window, at most
    ``frames``): the features around a random frame of a random clip, the frame in the middle, and its label.
    Indices beyond a clip's ends repeat its edge frame (a track's start or end); a quarter of the windows are
    causal, their future repeating the labelled frame, as in ``fervid live``."""
    stride = int(rng.choice(STRIDES))
    half = int(np.clip(round(WINDOW_SECONDS / 2 * CLIP_FPS / stride * rng.uniform(0.5, 1.0)), MIN_HALF_WINDOW,
                       (frames - 1) // 2))
    clips = rng.integers(len(data), size=n)
    offsets = np.arange(-half, half + 1) * stride
    x, y = [], []
    for i in clips:
        a, b = data.starts[i], data.starts[i + 1]
        centre = int(rng.integers(a, b))
        idx = np.clip(centre + offsets, a, b - 1)
        if rng.random() < 0.25:
            idx = np.minimum(idx, centre)
        x.append(data.features[idx])
        y.append(data.labels[centre])
    return np.stack(x), np.asarray(y)


def frame_predictions(method: TemporalMethod, data: ClipSet, centred: bool = True) -> np.ndarray:
    """Every frame's output (frames, 7) from ``method`` through the video pipeline's own per-track component
    (:class:`TrackSmoother`), centred windows (files) or causal ones (live), 1 s."""
    out = np.empty_like(data.probabilities)
    for i in range(len(data)):
        probs, feats, _ = data.clip(i)
        track = TrackSmoother(method, WINDOW_SECONDS, centred=centred, fps=CLIP_FPS)
        for k in range(len(probs)):
            track.add(k / CLIP_FPS, probs[k], feats[k])
        out[data.starts[i] : data.starts[i + 1]] = [track.classify(k / CLIP_FPS) for k in range(len(probs))]
    return out


def compare_methods(data: ClipSet, lstm: TemporalMethod, centred: bool = True) -> dict:
    """Accuracy over all frames, flicker (label changes per second) and expected calibration error of every
    temporal method, the LSTM being the one just trained."""
    out = {}
    for name in METHODS:
        method = lstm if name == "lstm" else make_method(name)
        probs = frame_predictions(method, data, centred)
        labels = probs.argmax(1)
        flicker = [flicker_per_second(labels[data.starts[i] : data.starts[i + 1]], CLIP_FPS) for i in range(len(data))]
        out[name] = {"accuracy": round(float((labels == data.labels).mean()), 4),
                     "flicker_per_s": round(float(np.mean(flicker)), 4),
                     "ece": round(expected_calibration_error(probs, data.labels), 4)}
    return out


def choose_temperature(lstm: TrainedLSTM, heldout: dict[str, ClipSet], clips_per_person: int, seed: int) -> dict:
    """The temperature for the LSTM's final outputs (centred windows, averaged as in the video pipeline), fitted
    (negative log-likelihood) on the ``heldout`` clips, and applied only if it pays on people it was not fitted on:
    cross-fitted over two halves of the held-out people (or stills), each half's temperature scored on the other
    half, its expected calibration error must come out below the untempered one's. (A temperature fitted on one
    set of people can make another set's calibration worse; the benchmarks measure it on the test people.)"""
    probs, labels, groups = [], [], []
    for name, data in heldout.items():
        out = frame_predictions(lstm, data, centred=True)
        per = clips_per_person if name == "people" else 1  # people's clips come person by person
        for i in range(len(data)):
            a, b = data.starts[i], data.starts[i + 1]
            probs.append(out[a:b])
            labels.append(data.labels[a:b])
            groups.append(f"{name}{i // per}")
    names = sorted(set(groups))
    logp, y = np.log(np.clip(np.concatenate(probs), 1e-7, 1.0)), np.concatenate(labels)
    if len(names) < 2:  # one held-out person or still: no other half to score a fit on (it fitted on no clips)
        return {"temperature": 1.0, "fitted": fit_temperature(logp, y), "applied": False,
                "cross_fitted_ece_untempered": None, "cross_fitted_ece_tempered": None}
    half = dict(zip(names, np.random.default_rng(seed).permutation(len(names)) % 2))
    side = np.concatenate([np.full(len(y), half[g]) for y, g in zip(labels, groups)])
    raw, crossed = [], []
    for fit_side in (0, 1):
        fit, score = side == fit_side, side != fit_side
        t = fit_temperature(logp[fit], y[fit])
        raw.append(expected_calibration_error(np.exp(logp[score]), y[score]))
        crossed.append(expected_calibration_error(tempered(np.exp(logp[score]), t), y[score]))
    fitted = fit_temperature(logp, y)
    pays = float(np.mean(crossed)) < float(np.mean(raw))
    return {"temperature": fitted if pays else 1.0, "fitted": fitted, "applied": pays,
            "cross_fitted_ece_untempered": round(float(np.mean(raw)), 4),
            "cross_fitted_ece_tempered": round(float(np.mean(crossed)), 4)}


def check_same_labels(cfg: TemporalTrainConfig) -> None:
    """The LSTM learns the stills' labels from the CNN's features: FER+'s for a CNN that learnt FER+'s, FER2013's
    otherwise (where the CNN's folder records its training; a mismatch trained an LSTM that disagrees with its own
    CNN by design). Read from the CNN's folder alone, so that it is said before any data is loaded. Without stills
    (still_clips 0) there is nothing to check: the people's labels are their datasets' own, whichever labels the
    CNN learnt."""
    if not cfg.still_clips:
        return
    path = resolve_model_dir(cfg.cnn) / "training_config.json"
    if not path.is_file():
        return
    cnn_labels = json.loads(path.read_text(encoding="utf-8")).get("labels", "fer2013")
    cnn_ferplus = cnn_labels != "fer2013"
    if cnn_ferplus != bool(cfg.ferplus):
        learnt = "FER+'s votes" if cnn_ferplus else "FER2013's labels"
        fix = "pass --ferplus (FER+'s votes file)" if cnn_ferplus else "leave out --ferplus"
        raise DatasetError(f"{cfg.cnn}: this CNN learnt {learnt} ({path.name}: labels = {cnn_labels!r}); {fix} so "
                           "that its LSTM learns the same labels")


def train_temporal(cfg: TemporalTrainConfig, out_dir: str | Path, progress: bool = True,
                   overwrite: bool = False, command: str = "") -> dict:
    """Simulate clips, extract features, train the LSTM, fit its temperature on held-out people, and export ONNX
    + config + report + model card to ``out_dir`` (``command``: the command line, for the card). A folder that
    already holds a temporal model is refused unless ``overwrite`` (``fervid train-temporal --force``). What is left
    out or comes out empty (people on no side, an empty side, a temperature at its bound) is said as it is found, on
    stderr, and listed in the report's ``notices``.

    One run at a time writes a folder, as :func:`fervid.training.train.train`: it holds the folder's lock from
    before its data is read to its end, and a second run into it raises :class:`~fervid.folder_lock.FolderLocked`
    (two trained side by side, each passing the folder as empty, and wrote their files over each other's)."""
    out_dir = Path(out_dir)
    # every input is read, and the output folder checked, before anything is simulated or written: a bad file
    # fails at once and leaves no folder
    check_model_folder(out_dir, "a temporal model", replace=overwrite)  # one it held was replaced without a word
    with run_folder_lock(out_dir, "another fervid train-temporal run", "wait for it to finish, or write into "
                         "another folder (--out)", doing="is training a temporal model in this folder"):
        # again, the folder now this run's: a run that held it between the check and the lock may have finished a
        # model there, which this one wrote over without --force
        check_model_folder(out_dir, "a temporal model", replace=overwrite)
        return _train_temporal_holding_the_folder(cfg, out_dir, progress, command)


def _train_temporal_holding_the_folder(cfg: TemporalTrainConfig, out_dir: Path, progress: bool, command: str
                                       ) -> dict:
    """:func:`train_temporal`, once its folder is its own."""
    from fervid.training.network import PaperLSTM

    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if cfg.still_clips and not cfg.fer2013:
        raise ValueError(f"still_clips {cfg.still_clips} needs fer2013, the FER2013 CSV the stills come from (or "
                         "still_clips 0: CK+ and JAFFE people's clips only)")
    notices: list[str] = []

    def notify(lines: list[str]) -> None:  # said as found, without progress too (`fervid train-temporal -q`): on
        # stderr, as every command's notices, so that stdout holds the command's JSON alone
        notices.extend(lines)
        for line in lines:
            tqdm.write(line, file=sys.stderr)

    cnn = EmotionCNN(cfg.cnn)
    check_same_labels(cfg)  # before FER2013 is read (about 20 s)
    found: list[str] = []
    sides = lab_people(cfg, found)
    if not sides["train"] and not cfg.still_clips:
        raise DatasetError(f"no training people in {' and '.join(d for d in (cfg.ckplus, cfg.jaffe) if d)} (people "
                           "with two or more expressions) and no stills (still_clips 0): nothing to learn from")
    if not sides["train"]:  # (a card saying "30 per training person of no lab people" was all that told it)
        found.append("notice: the LSTM learns from FER2013 stills' clips only, each of one expression held: "
                     + ("no --ckplus or --jaffe people given" if not (cfg.ckplus or cfg.jaffe) else
                        "no training people in --ckplus/--jaffe")
                     + ", so it sees no change of expression and no person's face over time")
    if cfg.still_clips:
        train_stills, heldout_stills = stills(cfg, "Training"), stills(cfg, "PublicTest")
    notify(found)
    train_set = ClipSet.of(cnn, (still_clips(train_stills, cfg.still_clips, rng, progress) if cfg.still_clips else [])
                           + person_clips(sides["train"], cfg.person_clips, rng, progress), progress)
    heldout_clips = {"people": person_clips(sides["val"], cfg.heldout_clips, rng, progress),
                     "stills": still_clips(heldout_stills, max(1, cfg.still_clips // 10), rng, progress)
                     if cfg.still_clips else []}
    heldout = {k: ClipSet.of(cnn, v, progress, f"CNN features ({k}, held out)") for k, v in heldout_clips.items()
               if v}

    net = PaperLSTM(train_set.features.shape[-1], cfg.dropout)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    # an epoch: as many windows as the training clips have frames / 8 (neighbouring windows nearly repeat)
    steps = max(1, len(train_set.labels) // 8 // 64)
    history = []
    for epoch in range(cfg.epochs):
        net.train()
        total, correct, seen = 0.0, 0, 0
        for _ in progress_bar(range(steps), show=progress, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False):
            xs, ys = sample_windows(train_set, 64, cfg.frames, rng)
            x, y = torch.from_numpy(xs).float(), torch.from_numpy(ys)
            logits = net(x)
            loss = F.cross_entropy(logits, y, label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        history.append({"epoch": epoch + 1, "train_loss": total / seen, "train_acc": correct / seen})
        if progress:
            tqdm.write(f"epoch {epoch + 1}: loss {total / seen:.3f} train window acc {correct / seen:.3f}",
                       file=sys.stderr)

    lstm = TrainedLSTM(net, cfg.frames)
    # fitted on the validation people's clips, the ones that look like video (changes of expression); the
    # stills' clips only where there are no people
    fit_on = {"people": heldout["people"]} if "people" in heldout else heldout
    if fit_on:
        temperature_report = choose_temperature(lstm, fit_on, cfg.heldout_clips, cfg.seed)
        notify([line for line in [temperature_notice(temperature_report)] if line])
        if temperature_report["cross_fitted_ece_untempered"] is None:
            who = "person" if "people" in fit_on else "still"
            notify([f"notice: the temperature is fitted on the clips of one held-out {who} only, so it cannot be "
                    f"checked on another {who}'s: it is not applied (temperature 1)"])
    else:  # no validation people and no stills (still_clips 0; said as the people were split): none fitted
        temperature_report = {"temperature": 1.0, "fitted": None, "applied": False,
                              "cross_fitted_ece_untempered": None, "cross_fitted_ece_tempered": None}
    lstm.temperature = temperature = temperature_report["temperature"]
    # what each report covers: a report on 2 clips reads like one on 200
    comparison = {k: {"clips": len(v), "frames": int(len(v.labels)), "centred": compare_methods(v, lstm, True),
                      "causal": compare_methods(v, lstm, False)} for k, v in heldout.items()}
    prepare_model_folder(out_dir, "a temporal model")
    export_temporal(net, out_dir, train_set.features.shape[-1], cfg.frames, cnn.config.name, cnn.weights_sha256,
                    temperature, {k: [p.subject for p in v] for k, v in sides.items()},
                    cnn.graph_identity)
    report = {"config": asdict(cfg), "history": history, "temperature": temperature,
              "temperature_choice": temperature_report,
              "heldout": comparison, "people": {k: len(v) for k, v in sides.items()},
              "train_frames": int(len(train_set.labels)), "notices": notices,
              "wall_seconds": round(time.perf_counter() - started, 1), "command": command,
              # the folder it ran in: the command's relative paths are read from there (as fervid train records)
              "directory": os.getcwd(),
              "device": f"{cpu_model()}, {thread_count(torch.get_num_threads())}", "torch": torch.__version__}
    write_json(out_dir / "training.json", report)
    write_temporal_card(out_dir)
    return report


def export_temporal(net, out_dir: Path, input_dim: int, max_frames: int, cnn: str, cnn_weights_sha256: str = "",
                    temperature: float = 1.0, people: dict[str, list[str]] | None = None,
                    cnn_graph: dict[str, str] | None = None) -> None:
    """Write the LSTM's ``model.onnx`` and ``config.json``; the config names the CNN whose features it reads, and
    the digest of that CNN's weights (a CNN retrained under the same name gives other features), the graph the
    training features came from (``cnn_graph``: file, precision, digest; int8 by default), its temperature,
    and which people were on which side of the split (so benchmarks can keep to the test side)."""
    net.eval()
    dummy = torch.zeros(1, 4, input_dim)
    with warnings.catch_warnings():  # torch's note that an LSTM exported with batch 1 may not run on other batch
        # sizes: fervid runs it on one track's window at a time, and the test suite checks the graph's outputs
        warnings.filterwarnings("ignore", message=".*LSTM.*batch", category=UserWarning)
        torch.onnx.export(net, (dummy,), str(out_dir / "model.onnx"), input_names=["features"],
                          output_names=["logits"], dynamic_axes={"features": {0: "batch", 1: "time"},
                                                                 "logits": {0: "batch"}},
                          opset_version=17, dynamo=False)
    write_json(out_dir / "config.json", {
        "kind": "lstm", "input": "cnn_features", "cnn": cnn, "cnn_weights_sha256": cnn_weights_sha256,
        "cnn_graph": cnn_graph or {},
        "input_dim": input_dim, "max_frames": max_frames, "target": "centre", "temperature": round(temperature, 4),
        "people": people or {},
        "architecture": "LSTM 128 -> dropout -> LSTM 64 -> dropout -> dense 7 (last step)"}, indent=1)
