"""Training the temporal LSTM for video (imports torch): ``fervid train-temporal``.

There is no large labelled face-video set here, so training clips are **simulated** from FER2013 stills: each
clip is one still seen through realistic video changes between frames (head motion as a smooth affine drift,
blur, sensor noise, brightness drift, a passing partial occlusion, JPEG artefacts), and keeps the still's label.
CK+48's real 3-frame sequences are added. Each frame goes through the shipped CNN; the LSTM learns from the
512-d feature sequences. Held-out clips are simulated from PublicTest stills, never seen in training.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from fervid.inference.align import preprocess_faces
from fervid.evaluation.datasets import FaceDataset, load_ckplus, load_fer2013, load_ferplus
from fervid.inference.models import DEFAULT_MODEL, EmotionCNN
from fervid.inference.temporal import METHODS, TemporalMethod, TrackSmoother, flicker_per_second, make_method

CLIP_FPS = 30.0  # simulated clips stand for 30 fps video


@dataclass
class TemporalTrainConfig:
    fer2013: str = ""  # the FER2013 CSV the stills come from (required)
    ckplus: str = ""  # CK+48 folder: its real sequences join the training clips ("" leaves them out)
    cnn: str = DEFAULT_MODEL
    # the stills' labels: FER2013's own (""), or FER+'s majority vote from this votes file; use the labels the CNN
    # was trained on, or the LSTM learns to undo the CNN's labelling
    ferplus: str = ""
    train_clips: int = 4000
    test_clips: int = 800
    frames: int = 16
    epochs: int = 30
    lr: float = 1e-3
    dropout: float = 0.5
    seed: int = 0


def simulate_clip(still: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, 48, 48) uint8: one still seen as video (labelled as simulation in the docs)."""
    h, w = still.shape
    # smooth random walks for pose, brightness; occasional events for occlusion and blur
    def walk(scale):
        steps = rng.normal(0, scale, frames)
        return np.cumsum(steps) - steps[0]

    angle, dx, dy = walk(1.2), walk(0.6), walk(0.6)
    zoom = 1 + walk(0.01)
    brightness = walk(3.0) + rng.normal(0, 8)
    noise_sigma = rng.uniform(0, 8)
    occl_start = rng.integers(0, frames) if rng.random() < 0.4 else frames
    occl_len = rng.integers(2, max(3, frames // 3))
    ow, oh = int(rng.integers(10, 26)), int(rng.integers(10, 26))
    ox, oy = int(rng.integers(0, w - ow)), int(rng.integers(0, h - oh))
    shade = int(rng.integers(0, 256))
    out = np.empty((frames, h, w), np.uint8)
    for t in range(frames):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(angle[t]), float(zoom[t]))
        m[:, 2] += (dx[t], dy[t])
        img = cv2.warpAffine(still, m, (w, h), borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        sigma = rng.uniform(0, 1.2) if rng.random() < 0.3 else 0.0
        if sigma > 0.2:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        img += brightness[t] + rng.normal(0, noise_sigma, img.shape)
        if occl_start <= t < occl_start + occl_len:
            img[oy : oy + oh, ox : ox + ow] = shade
        img = np.clip(img, 0, 255).astype(np.uint8)
        quality = int(rng.integers(30, 95))
        _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        out[t] = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return out


def clip_features(cnn: EmotionCNN, clips: np.ndarray, batch: int = 512, progress: bool = True):
    """(N, T, 48, 48) -> per-frame probabilities (N, T, 7) and features (N, T, 512)."""
    n, t = clips.shape[:2]
    flat = clips.reshape(n * t, 48, 48)
    probs, feats = [], []
    for i in tqdm(range(0, len(flat), batch), desc="CNN features", disable=not progress, unit="batch"):
        out = cnn(preprocess_faces(flat[i : i + batch], cnn.config.normalization)[1])
        probs.append(out.probabilities)
        feats.append(out.features)
    return np.concatenate(probs).reshape(n, t, -1), np.concatenate(feats).reshape(n, t, -1)


def simulate(ds: FaceDataset, n_clips: int, frames: int, seed: int, progress: bool = True):
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ds), size=min(n_clips, len(ds)), replace=False)
    clips = np.stack([simulate_clip(ds.images[i], frames, rng)
                      for i in tqdm(pick, desc="simulating clips", disable=not progress, unit="clip")])
    return clips, ds.labels[pick]


class TrainedLSTM:
    """The LSTM being trained, as a temporal method: what its exported ONNX copy does in the video pipeline."""

    name = "lstm"
    smooth_outputs = True

    def __init__(self, net):
        self.net = net.eval()

    def __call__(self, probabilities, features, weights=None, times=None, at=None) -> np.ndarray:
        with torch.no_grad():
            window = torch.from_numpy(np.ascontiguousarray(features[None], np.float32))
            return torch.softmax(self.net(window), 1).numpy()[0]


def windows_predictions(method: TemporalMethod, probs: np.ndarray, feats: np.ndarray, window: int,
                        fps: float = CLIP_FPS) -> np.ndarray:
    """Labels (N, T) that ``method`` gives each frame of each clip from the frames up to it (at most ``window``
    frames), through the video pipeline's own per-track component (:class:`TrackSmoother`, causal windows)."""
    n, t = probs.shape[:2]
    labels = np.empty((n, t), np.int64)
    seconds = (window - 1) / fps  # a causal window t - w .. t holding ``window`` frames
    for i in range(n):
        track = TrackSmoother(method, seconds, centred=False, fps=fps)
        for k in range(t):
            track.add(k / fps, probs[i, k], feats[i, k])
            labels[i, k] = track.classify(k / fps).argmax()
    return labels


def compare_methods(probs, feats, labels, window: int, lstm: TemporalMethod, fps: float = CLIP_FPS) -> dict:
    """Accuracy over all frames and flicker (label changes per second) of every temporal method, the LSTM being
    the one just trained."""
    methods = {name: (lstm if name == "lstm" else make_method(name)) for name in METHODS}
    out = {}
    for name, method in methods.items():
        pred = windows_predictions(method, probs, feats, window, fps)
        out[name] = {
            "accuracy": round(float((pred == labels[:, None]).mean()), 4),
            "flicker_per_s": round(float(np.mean([flicker_per_second(p, fps) for p in pred])), 4),
        }
    return out


def stills(cfg: TemporalTrainConfig, usage: str) -> FaceDataset:
    """The labelled stills clips are simulated from: FER2013's labels, or FER+'s majority where configured."""
    return load_ferplus(cfg.fer2013, cfg.ferplus, usage) if cfg.ferplus else load_fer2013(cfg.fer2013, usage)


def train_temporal(cfg: TemporalTrainConfig, out_dir: str | Path, progress: bool = True) -> dict:
    """Simulate clips, extract features, train the LSTM, export ONNX + config + comparison to ``out_dir``."""
    from fervid.evaluation.datasets import to_sequences
    from fervid.training.network import PaperLSTM

    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    cnn = EmotionCNN(cfg.cnn)
    train_clips, train_y = simulate(stills(cfg, "Training"), cfg.train_clips, cfg.frames, cfg.seed,
                                    progress)
    test_clips, test_y = simulate(stills(cfg, "PublicTest"), cfg.test_clips, cfg.frames,
                                  cfg.seed + 1, progress)
    _, train_f = clip_features(cnn, train_clips, progress=progress)
    test_p, test_f = clip_features(cnn, test_clips, progress=progress)
    sequences = [(f, int(y)) for f, y in zip(train_f, train_y)]
    if cfg.ckplus and Path(cfg.ckplus).is_dir():
        ck = to_sequences(load_ckplus(cfg.ckplus))
        _, ck_f = clip_features(cnn, ck.frames, progress=progress)
        sequences += [(f, int(y)) for f, y in zip(ck_f, ck.labels)]

    net = PaperLSTM(train_f.shape[-1], cfg.dropout)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    gen = np.random.default_rng(cfg.seed)
    history = []
    for epoch in range(cfg.epochs):
        net.train()
        order = gen.permutation(len(sequences))
        total, correct, seen = 0.0, 0, 0
        for i in range(0, len(order), 64):
            batch = [sequences[j] for j in order[i : i + 64]]
            # random window lengths and ends, so the model handles any window up to cfg.frames
            length = int(gen.integers(1, cfg.frames + 1))
            xs = []
            for f, _ in batch:
                end = int(gen.integers(min(length, len(f)), len(f) + 1))
                w = f[max(0, end - length) : end]
                xs.append(np.concatenate([np.repeat(w[:1], length - len(w), 0), w]) if len(w) < length else w)
            x = torch.from_numpy(np.stack(xs)).float()
            y = torch.tensor([lab for _, lab in batch])
            logits = net(x)
            loss = F.cross_entropy(logits, y, label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        net.eval()
        with torch.no_grad():
            acc = float((net(torch.from_numpy(test_f).float()).argmax(1).numpy() == test_y).mean())
        history.append({"epoch": epoch + 1, "train_loss": total / seen, "train_acc": correct / seen,
                        "heldout_clip_acc": acc})
        if progress:
            tqdm.write(f"epoch {epoch + 1}: loss {total / seen:.3f} train acc {correct / seen:.3f} "
                       f"held-out clip acc {acc:.3f}")

    comparison = compare_methods(test_p, test_f, test_y, cfg.frames, TrainedLSTM(net))
    export_temporal(net, out_dir, train_f.shape[-1], cfg.frames, cnn.config.name, cnn.weights_sha256)
    report = {"config": asdict(cfg), "history": history, "heldout_simulated_clips": comparison,
              "train_sequences": len(sequences), "wall_seconds": round(time.perf_counter() - started, 1)}
    (out_dir / "training.json").write_text(json.dumps(report, indent=2))
    return report


def export_temporal(net, out_dir: Path, input_dim: int, max_frames: int, cnn: str, cnn_weights_sha256: str = ""
                    ) -> None:
    """Write the LSTM's ``model.onnx`` and ``config.json``; the config names the CNN whose features it reads, and
    the digest of that CNN's weights (a CNN retrained under the same name gives other features)."""
    net.eval()
    dummy = torch.zeros(1, 4, input_dim)
    torch.onnx.export(net, (dummy,), str(out_dir / "model.onnx"), input_names=["features"], output_names=["logits"],
                      dynamic_axes={"features": {0: "batch", 1: "time"}, "logits": {0: "batch"}}, opset_version=17,
                      dynamo=False)
    (out_dir / "config.json").write_text(json.dumps({
        "kind": "lstm", "input": "cnn_features", "cnn": cnn, "cnn_weights_sha256": cnn_weights_sha256,
        "input_dim": input_dim, "max_frames": max_frames, "architecture": "LSTM 128 -> dropout -> LSTM 64 -> dropout -> dense 7 (last step)"}))
