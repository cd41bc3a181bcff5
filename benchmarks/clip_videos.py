"""Shared by bench_lag.py and temporal_calibration.py: simulated expression clips (fervid.evaluation.clips) of the
people the shipped temporal LSTM never saw, written as H.264 videos and read back through the video pipeline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fervid.evaluation.clips import Clip, by_side, people, split_people
from fervid.evaluation.datasets import load_ckplus, load_jaffe
from fervid.inference.temporal import shipped_temporal_models
from fervid.inference.video import H264Writer

FPS = 30.0
SIZE = 192  # the 48x48 faces upscaled, so the detector and the aligner run as on video


def people_by_side(data: Path, analyzer) -> dict[str, list]:
    """CK+ and JAFFE people, on the sides of the split the shipped LSTM of the analyzer's CNN recorded (its
    config's "people"), else :func:`split_people`'s default split."""
    found = people(load_ckplus(data / "ckplus48" / "CK+48"),
                   load_jaffe(data / "jaffe" / "jaffedbase", crop_faces=analyzer.crop_faces))
    lstm = shipped_temporal_models().get(analyzer.model_config.name)
    recorded = {}
    if lstm is not None:
        import json

        for side, names in json.loads((lstm / "config.json").read_text(encoding="utf-8")).get("people", {}).items():
            recorded.update({n: side for n in names})
    side = {p.subject: recorded.get(p.subject) for p in found}
    if not recorded or None in side.values():
        side = split_people([p.subject for p in found])
    return by_side(found, side)


def write_video(path: Path, clip: Clip) -> Path:
    writer = H264Writer(path, clip.frames.shape[2], clip.frames.shape[1], FPS)
    for frame in clip.frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.close()
    return path


def curves(result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, temporal probabilities, per-frame probabilities) of the clip's longest track."""
    faces = list(result.faces)
    if not faces:
        return np.zeros(0), np.zeros((0, 7)), np.zeros((0, 7))
    track = max({f.track_id for f in faces}, key=lambda k: sum(f.track_id == k for f in faces))
    faces = sorted((f for f in faces if f.track_id == track), key=lambda f: f.time)
    return (np.array([f.time for f in faces]), np.array([f.probabilities for f in faces]),
            np.array([f.frame_probabilities for f in faces]))
