"""Dataset loaders: FER2013 CSV and a generic folder-per-class layout.

Every loader returns a :class:`FaceDataset`: grey uint8 images already in fervid's 48x48 framing,
integer labels in :data:`fervid.emotions.EMOTIONS` order, and where the images came from.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fervid.emotions import EMOTIONS, EMOTION_ALIASES

FER2013_USAGES = ("Training", "PublicTest", "PrivateTest")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm"}


class DatasetError(ValueError):
    """A dataset file or folder that cannot be read as the format it claims to be."""


@dataclass
class FaceDataset:
    """Grey face crops with their labels.

    images: uint8 array (N, H, W); labels: int64 array (N,) indexing ``EMOTIONS``;
    sources: one string per image (file path, or ``file#row`` for CSV rows).
    """

    images: np.ndarray
    labels: np.ndarray
    sources: list[str] = field(default_factory=list)
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        if self.sources and len(self.sources) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.sources)} sources")

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(EMOTIONS))
        return {name: int(c) for name, c in zip(EMOTIONS, counts)}


def load_fer2013(path: str | Path, usage: str | list[str] = "Training") -> FaceDataset:
    """Load FER2013 rows of the given ``Usage`` (Training, PublicTest, PrivateTest) from ``.csv``/``.csv.gz``."""
    path = Path(path)
    usages = [usage] if isinstance(usage, str) else list(usage)
    for u in usages:
        if u not in FER2013_USAGES:
            raise DatasetError(f"{path}: unknown Usage {u!r}; expected one of {', '.join(FER2013_USAGES)}")
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype={"emotion": "int64", "pixels": str, "Usage": str})
    except (OSError, ValueError, gzip.BadGzipFile, pd.errors.ParserError) as exc:
        raise DatasetError(f"{path}: not a readable FER2013 CSV ({exc})") from exc
    missing = {"emotion", "pixels", "Usage"} - set(frame.columns)
    if missing:
        raise DatasetError(f"{path}: missing FER2013 column(s) {', '.join(sorted(missing))}")
    rows = frame.index[frame["Usage"].isin(usages)]
    if len(rows) == 0:
        raise DatasetError(f"{path}: no rows with Usage in {usages}")
    selected = frame.loc[rows]
    try:
        flat = np.loadtxt(io.StringIO("\n".join(selected["pixels"])), dtype=np.uint8, ndmin=2)
    except ValueError as exc:
        raise DatasetError(f"{path}: malformed pixels column ({exc})") from exc
    if flat.shape[1] != 48 * 48:
        raise DatasetError(f"{path}: rows hold {flat.shape[1]} pixels, expected 2304 (48x48)")
    labels = selected["emotion"].to_numpy(dtype=np.int64)
    if labels.min() < 0 or labels.max() >= len(EMOTIONS):
        raise DatasetError(f"{path}: emotion labels outside 0..6")
    sources = [f"{path.name}#{i}" for i in rows]
    return FaceDataset(flat.reshape(-1, 48, 48), labels, sources, name=f"fer2013:{'+'.join(usages)}")


def load_image_folder(root: str | Path, size: int = 48, skip_unknown: bool = True) -> FaceDataset:
    """Load ``root/<class>/<image>`` where ``<class>`` is an emotion name or alias (``anger``, ``happiness``...).

    Images are read as grey and resized to ``size`` x ``size``: they are assumed already cropped to the face
    (use :class:`fervid.Analyzer` for full photos). Folders whose name is not a fervid emotion (e.g. CK+'s
    ``contempt``) are skipped when ``skip_unknown`` is true, otherwise rejected.
    """
    from PIL import Image

    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    images, labels, sources = [], [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        key = class_dir.name.lower()
        if key not in EMOTION_ALIASES:
            if skip_unknown:
                continue
            raise DatasetError(f"{class_dir}: folder name is not one of {', '.join(EMOTIONS)}")
        label = EMOTIONS.index(EMOTION_ALIASES[key])
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as im:
                    grey = im.convert("L").resize((size, size), Image.BILINEAR)
                    images.append(np.asarray(grey, dtype=np.uint8))
            except OSError as exc:
                raise DatasetError(f"{file}: cannot read image ({exc})") from exc
            labels.append(label)
            sources.append(str(file))
    if not images:
        raise DatasetError(f"{root}: no images in any emotion folder")
    return FaceDataset(np.stack(images), np.asarray(labels, dtype=np.int64), sources, name=str(root))
