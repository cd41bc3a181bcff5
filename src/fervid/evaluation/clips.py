"""Clips that look like video, built from labelled faces of one person (issue 17): for training the temporal
model and for measuring lag and calibration on people it never saw.

No labelled face video is available here, so a clip is **simulated**. What is real: the faces, each person's own
labelled expressions (CK+ apex frames from different sequences; JAFFE's posed expressions, neutral included).
What is simulated:
- expression changes are cross-fades between two faces of the same person (one expression giving way to another,
  or to and from neutral where the person has a neutral face), lasting 0.15-0.6 s (fast and slower onsets and
  offsets), with stretches of 0.6-2.5 s of one expression between them;
- head motion: smooth rotation (up to about 4 degrees), shift and scale drift at 0.1-0.5 Hz;
- talking: in some stretches the lower face opens and closes at 3-6 Hz (a vertical stretch below the nose;
  real speech moves lips, not only the jaw);
- blur events (motion or focus), sensor noise, a slow brightness drift, and JPEG compression per frame where the
  clip does not go through a video encoder.
A frame's label is the expression with more weight in it (the first before the middle of a cross-fade, the second
after it); each change's time is the middle of its cross-fade.

People are split subject-disjoint (:func:`split_people`): the temporal model trains on one side, its temperature
and model choice use another, the benchmarks report on the third.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from fervid.emotions import EMOTIONS
from fervid.evaluation.datasets import FaceDataset

NEUTRAL = EMOTIONS.index("neutral")
SPLITS = ("train", "val", "test")


def split_people(subjects, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 0
                 ) -> dict[str, str]:
    """{person: "train" | "val" | "test"}, each person on one side: the sorted ids shuffled by ``seed`` and cut by
    ``fractions`` (every side gets at least one person where there are three or more)."""
    people = sorted(set(subjects))
    order = [people[i] for i in np.random.default_rng(seed).permutation(len(people))]
    n = len(order)
    n_train = max(1, int(round(fractions[0] * n))) if n >= 3 else n
    n_val = max(1, int(round(fractions[1] * n))) if n >= 3 else 0
    n_train = min(n_train, n - n_val - (1 if n >= 3 else 0))
    return {p: ("train" if i < n_train else "val" if i < n_train + n_val else "test") for i, p in enumerate(order)}


def by_side(persons: list[Person], side: dict[str, str]) -> dict[str, list[Person]]:
    """{"train" | "val" | "test": the people on that side}, ``side`` being a split (:func:`split_people`)."""
    return {s: [p for p in persons if side[p.subject] == s] for s in SPLITS}


@dataclass
class Person:
    """One person's labelled faces: {label: [48x48 grey faces]}."""

    subject: str
    faces: dict[int, list[np.ndarray]] = field(default_factory=dict)

    @property
    def labels(self) -> list[int]:
        return sorted(self.faces)

    def pick(self, label: int, rng: np.random.Generator) -> np.ndarray:
        """One of the person's faces with this label, at random."""
        options = self.faces[int(label)]
        return options[int(rng.integers(len(options)))]


def people(*datasets: FaceDataset, min_expressions: int = 2) -> list[Person]:
    """The people of ``datasets`` (subject ids prefixed with the dataset's name, so ids never collide) with at
    least ``min_expressions`` different labelled expressions."""
    found: dict[str, Person] = {}
    for ds in datasets:
        if not ds.subjects:
            raise ValueError(f"{ds.name or 'dataset'}: no subject ids, so its people cannot be told apart")
        for img, label, subject in zip(ds.images, ds.labels, ds.subjects):
            key = f"{ds.name}:{subject}"
            found.setdefault(key, Person(key)).faces.setdefault(int(label), []).append(img)
    return [p for _, p in sorted(found.items()) if len(p.faces) >= min_expressions]


@dataclass
class Script:
    """What a clip shows: faces[i] (label labels[i]) held for holds[i] s, then a cross-fade of fades[i] s into
    faces[i + 1]."""

    faces: list[np.ndarray]
    labels: list[int]
    holds: list[float]
    fades: list[float]

    @property
    def duration(self) -> float:
        return float(sum(self.holds) + sum(self.fades))

    def change_times(self) -> list[float]:
        """The middle of each cross-fade: where the label changes."""
        times, t = [], 0.0
        for hold, fade in zip(self.holds, self.fades):
            times.append(t + hold + fade / 2)
            t += hold + fade
        return times

    def mix_at(self, t: float) -> tuple[int, int, float]:
        """(face index a, face index b, weight of b) at time t."""
        start = 0.0
        for i, (hold, fade) in enumerate(zip(self.holds, self.fades)):
            if t < start + hold:
                return i, i, 0.0
            if t < start + hold + fade:
                return i, i + 1, (t - start - hold) / fade
            start += hold + fade
        last = len(self.faces) - 1
        return last, last, 0.0


def expression_script(person: Person, rng: np.random.Generator, duration: float = 4.0) -> Script:
    """Stretches of the person's expressions, one giving way to another: through neutral where they have a
    neutral face (onset, offset), otherwise straight to another expression."""
    label = int(rng.choice(person.labels))
    faces, labels, holds, fades = [person.pick(label, rng)], [label], [], []
    elapsed = 0.0
    while True:
        hold, fade = float(rng.uniform(0.6, 2.5)), float(rng.uniform(0.15, 0.6))
        if elapsed + hold + fade + 0.3 >= duration:  # no room for another change and a stretch after it
            holds.append(duration - elapsed)
            break
        holds.append(hold)
        fades.append(fade)
        elapsed += hold + fade
        others = [k for k in person.labels if k != label]
        if NEUTRAL in others and label != NEUTRAL and rng.random() < 0.5:
            label = NEUTRAL  # an offset back to neutral
        else:
            label = int(rng.choice(others))
        faces.append(person.pick(label, rng))
        labels.append(label)
    return Script(faces, labels, holds, fades)


def one_change_script(person: Person, rng: np.random.Generator, hold: float = 2.0, fade: float = 0.3) -> Script:
    """One expression for ``hold`` s, a ``fade`` s cross-fade, another for ``hold`` s (the lag benchmark's clip)."""
    a, b = rng.choice(person.labels, 2, replace=False)
    return Script([person.pick(a, rng), person.pick(b, rng)], [int(a), int(b)], [hold, hold], [fade])


def still_script(face: np.ndarray, label: int, duration: float) -> Script:
    """A clip of one face that keeps its expression (a still seen as video)."""
    return Script([face], [int(label)], [duration], [])


@dataclass
class Clip:
    frames: np.ndarray  # (T, size, size) uint8
    labels: np.ndarray  # (T,) the expression with more weight in each frame
    times: np.ndarray  # (T,) seconds
    change_times: list[float]


def render(script: Script, rng: np.random.Generator, fps: float = 30.0, size: int = 48, jpeg: bool = True,
           talking: float = 0.5, motion: float = 1.0) -> Clip:
    """The script as video frames of ``size`` x ``size``; see the module's docstring for what is simulated.
    ``talking``: the chance that a stretch of talking runs through the clip; ``motion``: scales head motion;
    ``jpeg``: compress each frame (leave it off where the frames go through a video encoder)."""
    n = max(1, int(round(script.duration * fps)))
    faces = [cv2.resize(f, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32)
             if f.shape != (size, size) else f.astype(np.float32) for f in script.faces]
    times = np.arange(n) / fps
    phase = rng.uniform(0, 2 * np.pi, 3)
    freq = rng.uniform(0.1, 0.5, 3)
    amp = rng.uniform(0.3, 1.0, 3) * motion
    brightness = rng.uniform(-10, 10) + rng.uniform(-8, 8) * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * times)
    noise = rng.uniform(0, 5)
    talk_from, talk_to = (sorted(rng.uniform(0, script.duration, 2)) if rng.random() < talking else (0.0, 0.0))
    talk_rate, talk_open = rng.uniform(3, 6), rng.uniform(0.02, 0.07)
    blur_at = {int(i) for i in rng.choice(n, size=int(rng.integers(0, max(1, n // 30) + 1)), replace=False)}
    rows = np.arange(size, dtype=np.float32)[:, None].repeat(size, 1)
    cols = np.arange(size, dtype=np.float32)[None, :].repeat(size, 0)
    mouth_from = 0.62 * size  # below the nose in FER2013's geometry
    below = np.clip((rows - mouth_from) / (size - mouth_from), 0, 1)
    frames = np.empty((n, size, size), np.uint8)
    labels = np.empty(n, np.int64)
    for i, t in enumerate(times):
        a, b, w = script.mix_at(float(t))
        img = faces[a] if w == 0.0 else (1 - w) * faces[a] + w * faces[b]
        labels[i] = script.labels[b if w >= 0.5 else a]
        if talk_from <= t < talk_to:  # the jaw opens: rows below the nose sampled from higher up
            opening = talk_open * size * 0.5 * (1 - np.cos(2 * np.pi * talk_rate * (t - talk_from)))
            img = cv2.remap(img, cols, (rows - opening * below).astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        angle = 4.0 * amp[0] * np.sin(2 * np.pi * freq[0] * t + phase[0])
        shift = 0.05 * size * amp[1] * np.sin(2 * np.pi * freq[1] * t + phase[1])
        scale = 1.0 + 0.03 * amp[2] * np.sin(2 * np.pi * freq[2] * t + phase[2])
        m = cv2.getRotationMatrix2D((size / 2, size / 2), float(angle), float(scale))
        m[0, 2] += shift
        img = cv2.warpAffine(img, m, (size, size), borderMode=cv2.BORDER_REPLICATE)
        if i in blur_at:
            k = int(rng.integers(1, 3)) * 2 + 1
            img = cv2.blur(img, (k, 1)) if rng.random() < 0.5 else cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 1.5))
        img = np.clip(img + brightness[i] + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
        if jpeg:
            _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 95))])
            decoded = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
            assert decoded is not None, "the JPEG cv2 has just encoded"
            img = decoded
        frames[i] = img
    return Clip(frames, labels, times, script.change_times())
