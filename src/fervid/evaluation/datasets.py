"""Dataset loaders: FER2013 and FER+ CSVs, CK+48, JAFFE, and your own labelled images: a folder-per-class layout or
a label table (path,label).

Every loader returns a :class:`FaceDataset`: grey uint8 images already in fervid's 48x48 framing,
integer labels in :data:`fervid.emotions.EMOTIONS` order, and where the images came from.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fervid.inference.align import FaceTemplate, crop_face
from fervid.inference.images import (IMAGE_SUFFIXES, ImageLoadError, as_on_disk, check_input_file, load_grey,
                                     load_image)
from fervid.emotions import EMOTIONS, EMOTION_ALIASES, accepted_emotion_names, emotion_hint, emotion_of
from fervid.evaluation import DEFAULT_USAGE, FER2013_USAGES
from fervid.evaluation.tables import (TableEncodingError, find_column, not_a_text_table, table_header, table_rows,
                                      table_text)
from fervid.registry import Registry


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
    subjects: list[str] = field(default_factory=list)  # person ids, for subject-independent splits
    sequences: list[str] = field(default_factory=list)  # e.g. CK+ ``S010_006``: frames of one sequence
    soft_labels: np.ndarray | None = None  # (N, 7) label distributions, e.g. FER+ annotator votes
    # What the loader found but could not use, path -> why (an unreadable file, a photo with no face, a folder
    # that is not an emotion): a score over the rest must say what it left out.
    left_out: dict[str, str] = field(default_factory=dict)
    # how many images each left-out folder held (a left-out file or CSV row is one): the totals count images
    left_out_images: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if len(self.labels) != n:
            raise ValueError(f"{n} images but {len(self.labels)} labels")
        for what in ("sources", "subjects", "sequences"):
            if getattr(self, what) and len(getattr(self, what)) != n:
                raise ValueError(f"{n} images but {len(getattr(self, what))} {what}")
        if self.soft_labels is not None and self.soft_labels.shape != (n, len(EMOTIONS)):
            raise ValueError(f"soft_labels must be ({n}, {len(EMOTIONS)}), got {self.soft_labels.shape}")

    def subset(self, index) -> FaceDataset:
        """The rows at ``index`` (an index array or boolean mask), all fields kept aligned."""
        idx = np.arange(len(self))[index]
        pick = lambda values: [values[i] for i in idx] if values else []  # noqa: E731
        return FaceDataset(self.images[idx], self.labels[idx], pick(self.sources), self.name, pick(self.subjects),
                           pick(self.sequences), None if self.soft_labels is None else self.soft_labels[idx],
                           dict(self.left_out), dict(self.left_out_images))

    @staticmethod
    def concat(parts: list[FaceDataset], name: str = "") -> FaceDataset:
        def joined(what):
            lists = [getattr(p, what) or [""] * len(p) for p in parts]
            return [v for lst in lists for v in lst]

        soft = None
        if all(p.soft_labels is not None for p in parts):
            soft = np.concatenate([p.soft_labels for p in parts])
        return FaceDataset(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]),
                           joined("sources"), name or "+".join(p.name for p in parts), joined("subjects"),
                           joined("sequences"), soft, {k: v for p in parts for k, v in p.left_out.items()},
                           {k: v for p in parts for k, v in p.left_out_images.items()})

    def rows_of(self, other: FaceDataset) -> np.ndarray:
        """Where each of ``other``'s faces is in this dataset, matched by source (e.g. FER+'s relabelled faces
        among FER2013's)."""
        row = {src: i for i, src in enumerate(self.sources)}
        return np.array([row[src] for src in other.sources], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def left_out_groups(self) -> dict[str, tuple[int, list[str]]]:
        """What was left out, grouped by why, most images first: reason -> (images, the entries left out for it).
        A folder left out counts its images; reasons that differ only in a folder's image count, or in an entry's
        own note (a folder's name, a table's line), are one, and the note is said beside its entry."""
        groups: dict[str, tuple[int, list[str]]] = {}
        for path, why in self.left_out.items():
            note = _ENTRY_NOTE.search(why)  # the entry's own (a folder's name, a table's line): said beside it
            entry = f"{path} ({note.group(1)})" if note else path
            reason = _FOLDER_COUNT.sub("in a folder ", why[: note.start()] if note else why)
            images, paths = groups.get(reason, (0, []))
            groups[reason] = (images + self.left_out_images.get(path, 1), [*paths, entry])
        return dict(sorted(groups.items(), key=lambda item: -item[1][0]))

    def totals(self) -> dict:
        """What was read, in images: seen (scored + left out), scored, left out, and left out by reason (as
        :meth:`left_out_groups`)."""
        by_reason = {reason: images for reason, (images, _) in self.left_out_groups().items()}
        left = sum(by_reason.values())
        return {"images_seen": len(self) + left, "scored": len(self), "left_out": left,
                "left_out_by_reason": by_reason}

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(EMOTIONS))
        return {name: int(c) for name, c in zip(EMOTIONS, counts)}


def load_fer2013(path: str | Path, usage: str | list[str] = "Training", limit: int | None = None) -> FaceDataset:
    """Load FER2013 rows of the given ``Usage`` (Training, PublicTest, PrivateTest) from ``.csv``/``.csv.gz``;
    with ``limit``, only the first ``limit`` of them, the file read no further than they go."""
    path = Path(path)
    usages = [usage] if isinstance(usage, str) else list(usage)
    for u in usages:
        if u not in FER2013_USAGES:
            raise DatasetError(f"{path}: unknown Usage {u!r}; expected one of {', '.join(FER2013_USAGES)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit: at least 1 row, not {limit}")
    check_input_file(path, "FER2013 CSV", DatasetError)
    # (a .gz is FER2013's own, its reader's to refuse)
    what = not_a_text_table(path) if path.suffix.lower() != ".gz" else None
    if what is not None:
        raise DatasetError(f"{path}: {what} (a FER2013 CSV: emotion,pixels,Usage)")
    try:
        frame = _read_fer2013(path, usages, limit)
    except (OSError, ValueError, EOFError, zlib.error, pd.errors.ParserError) as exc:
        # EOFError: a .gz cut short (click would report it as "Aborted!", as if the user had pressed Ctrl-D)
        raise DatasetError(f"{path}: not a readable FER2013 CSV ({exc or type(exc).__name__})") from None
    missing = {"emotion", "pixels", "Usage"} - set(frame.columns)
    if missing:
        raise DatasetError(f"{path}: missing FER2013 column(s) {', '.join(sorted(missing))}: fervid reads a FER2013 "
                           f"CSV (emotion,pixels,Usage) or a label table ({LABEL_TABLE_FORM})")
    rows = frame.index[frame["Usage"].isin(usages)][:limit]
    if len(rows) == 0:
        raise DatasetError(f"{path}: no rows with Usage in {usages}")
    selected = frame.loc[rows]
    empty = np.flatnonzero(selected["pixels"].isna().to_numpy())
    if len(empty):
        raise DatasetError(f"{path}: row {rows[empty[0]]} has no pixels ({len(empty)} such row(s))")
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


def _read_fer2013(path: Path, usages: list[str], limit: int | None) -> pd.DataFrame:
    """The FER2013 CSV's rows (indexed by their row in the file); with ``limit``, read in chunks up to the one that
    holds the ``limit``-th row of ``usages`` (the whole 35,887-row file takes seconds to parse)."""
    dtypes: dict[str, str | type[str]] = {"emotion": "int64", "pixels": str, "Usage": str}
    if limit is None:
        return pd.read_csv(path, dtype=dtypes)
    chunks, found = [], 0
    with pd.read_csv(path, dtype=dtypes, chunksize=max(limit, 1024)) as reader:
        for chunk in reader:
            chunks.append(chunk)
            if "Usage" not in chunk:  # not FER2013: the caller names the missing columns
                break
            found += int(chunk["Usage"].isin(usages).sum())
            if found >= limit:
                break
    return pd.concat(chunks)  # a header-only file still gives one (empty) chunk


def load_image_folder(root: str | Path, size: int = 48, skip_unknown: bool = True, crop_faces=None) -> FaceDataset:
    """Load ``root/<class>/<image>`` where ``<class>`` is an emotion name or alias (``anger``, ``happiness``...), or
    a label table (:func:`load_label_table`) where ``root`` is one.

    Without ``crop_faces`` the images are taken as face crops already and only resized to ``size`` x ``size``
    (grey). With ``crop_faces`` (see :func:`load_jaffe`) they are photos, read in colour as ``fervid image`` reads
    them: each one's most confident face is found and framed like FER2013. Photos with no face are left out, and
    so are photos with several where ``crop_faces`` counts them (:meth:`fervid.Analyzer.labelled_faces`; a bool
    mask counts one): which face the label describes is not known. Folders whose name is not a fervid emotion
    (e.g. CK+'s ``contempt``) are skipped when ``skip_unknown`` is true, otherwise rejected. Skipped folders,
    unreadable images and photos left out go in the dataset's ``left_out``; files that are not images are
    ignored.
    """
    if Path(root).is_file():
        return load_label_table(root, size, crop_faces)
    root = _folder(root)
    images, left_out, left_out_images = [], {}, {}
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    for class_dir in folders:
        emotion = emotion_of(class_dir.name)
        if emotion is None:
            if not skip_unknown:
                raise DatasetError(f"{class_dir.parent}/{class_dir.name!r}: folder name is not one of "
                                   f"{accepted_emotion_names()}" + _hint(class_dir.name, ": "))
            left_out_images[str(class_dir)] = n = _images_in(class_dir)
            left_out[str(class_dir)] = _noted(f"a folder of {n} image(s) whose name is {NOT_AN_EMOTION}",
                                              f"{class_dir.name!r}{_hint(class_dir.name, ': ')}")
            continue
        for file in sorted(class_dir.iterdir()):
            nested = _images_in(file, nested=True) if file.is_dir() else 0
            if nested:  # not read: a class is one folder of images
                left_out_images[str(file)] = nested
                left_out[str(file)] = (f"a folder of {nested} image(s) inside the emotion folder {class_dir.name}: "
                                       "only images directly in it are read")
                continue
            if file.suffix.lower() in IMAGE_SUFFIXES:
                images.append(LabelledImage(file, EMOTIONS.index(emotion)))
    found = ", ".join(repr(folder.name) + _folder_note(folder) for folder in folders) or "none"
    nothing = (f"{root}: no readable images in any emotion folder (expected {root}/<emotion>/<image>, <emotion> one "
               f"of {accepted_emotion_names()}; folders found: {found})" + _dataset_hint(root))
    return _read_labelled_images(images, str(root), size, crop_faces, left_out, left_out_images, nothing)


def _folder_note(folder: Path) -> str:
    """What a folder found where emotion folders are looked for is said with, in brackets: what its name may have
    meant where it is no emotion's; that an emotion's folder is empty, or holds no image files (an empty "happy/"
    was said as "'happy' (did you mean happy?)")."""
    if emotion_of(folder.name) is None:
        return _hint(folder.name, " (", ")")
    if not any(folder.iterdir()):
        return " (empty)"
    return "" if _images_in(folder) else " (no image files in it)"


# CK+48's file names: S<subject>_<sequence>_<frame>.png
CKPLUS_NAME = re.compile(r"^S\d+_\d+_\d+$")


def _dataset_hint(root: Path) -> str:
    """Where a folder read as folder-per-class holds none, the dataset its files' names say it is: JAFFE's
    (KA.AN1.39.tiff, in the folder itself) or CK+48's (<emotion>/S005_001_00000011.png, a folder down)."""
    if any(JAFFE_NAME.match(p.stem) for p in root.iterdir() if p.is_file()):
        return "; its files are named as JAFFE's (KA.AN1.39.tiff): give --dataset jaffe"
    for inner in sorted(p for p in root.iterdir() if p.is_dir()):
        if any(CKPLUS_NAME.match(f.stem) for d in inner.iterdir() if d.is_dir() for f in d.iterdir()):
            return (f"; {inner} is laid out as CK+48 (<emotion>/S005_001_00000011.png): give --data {inner} "
                    "--dataset ckplus")
    return ""


@dataclass(frozen=True)
class LabelledImage:
    """An image file to read, with its label (an index into ``EMOTIONS``), the person pictured where that is known,
    and where it was listed (a label table's line) for what says it was left out."""

    file: Path
    label: int
    subject: str = ""
    listed: str = ""


# a label table's columns, each by any of these names (without case or surrounding spaces); subject is optional
LABEL_TABLE_COLUMNS = {"path": ("path", "file", "image"), "label": ("label", "emotion"),
                       "subject": ("subject", "participant", "person")}
LABEL_TABLE_FORM = "path,label (and optionally subject): one image a line, paths relative to the table's folder"


def is_label_table(path: str | Path) -> bool:
    """Whether a file is a label table: its header names a path and a label column (:data:`LABEL_TABLE_COLUMNS`)."""
    header = table_header(path) if Path(path).is_file() else []
    return all(find_column(header, LABEL_TABLE_COLUMNS[name]) is not None for name in ("path", "label"))


def is_labelled_images(path: str | Path) -> bool:
    """Whether ``path`` holds your own labelled images, as :func:`load_image_folder` reads them: a folder (of
    ``<emotion>/<image>``) or a label table; not a FER2013 CSV."""
    return Path(path).is_dir() or is_label_table(path)


def training_data_kind(data: str | Path | None) -> str:
    """The kind of training data a training config's ``data`` names, where its ``data_kind`` is "auto": "folder"
    for your own labelled images (:func:`is_labelled_images`), else "fer2013"."""
    return "folder" if data and is_labelled_images(data) else "fer2013"


def load_label_table(table: str | Path, size: int = 48, crop_faces=None) -> FaceDataset:
    """Load the images a label table lists: a CSV (or tab- or semicolon-separated table, as spreadsheets save it)
    with a ``path`` and a ``label`` column and optionally ``subject`` (the person pictured: with it, evaluation's
    interval resamples people, as for CK+). Paths are relative to the table's folder; labels are emotions or aliases
    as folder names are (:func:`fervid.emotions.emotion_of`). Images are read as :func:`load_image_folder` reads a
    folder's (``crop_faces`` alike). A line whose label is not an emotion, whose image is not there or cannot be
    read goes in the dataset's ``left_out``, named with its line."""
    table = Path(table)
    images, left_out, unknown, lines = _label_table_images(table)
    left_out_images = {}
    for label, label_lines in unknown.items():  # one entry a label, as a folder of that name is one: its lines
        entry = f"{table} label {label!r}"
        lines_named = f"line{'s' * (len(label_lines) > 1)} {_line_ranges(label_lines)}"
        left_out[entry] = _noted(f"a label that is {NOT_AN_EMOTION}", f"{lines_named}{_hint(label, ': ')}")
        left_out_images[entry] = len(label_lines)
    named = ", ".join(repr(label) + _hint(label, " (", ")") for label in unknown)
    nothing = (f"{table}: no readable image listed ({lines} line(s); expected {LABEL_TABLE_FORM}"
               + (f"; labels that are not emotions: {named}" if named else "") + ")")
    return _read_labelled_images(images, str(table), size, crop_faces, left_out, left_out_images, nothing)


def label_table_files(table: str | Path) -> list[Path]:
    """The image files a label table lists that are there: what its faces are read from."""
    return [image.file for image in _label_table_images(Path(table))[0]]


def _label_table_images(table: Path) -> tuple[list[LabelledImage], dict[str, str], dict[str, list[int]], int]:
    """A label table's images to read, the lines left out for their path (entry -> why), the labels that are not
    emotions (label -> its lines), and how many lines the table has."""
    check_input_file(table, "label table", DatasetError)
    what = not_a_text_table(table)
    if what is not None:
        raise DatasetError(f"{table}: {what} (a label table: {LABEL_TABLE_FORM})")
    try:
        header, rows = table_rows(table_text(table))
    except TableEncodingError as exc:
        raise DatasetError(str(exc)) from None
    except (OSError, csv.Error) as exc:
        raise DatasetError(f"{table}: not a readable label table ({exc})") from None
    columns = {name: find_column(header, accepted) for name, accepted in LABEL_TABLE_COLUMNS.items()}
    if columns["path"] is None or columns["label"] is None:
        raise DatasetError(f"{table}: not a label table ({LABEL_TABLE_FORM}); its columns are "
                           f"{', '.join(map(str, header)) or 'none'}")
    images, left_out = [], {}
    unknown: dict[str, list[int]] = {}  # label -> its lines
    for line, row in rows:
        cell = {name: row[index].strip() if index is not None and index < len(row) else ""
                for name, index in columns.items()}
        where = f"{table.name} line {line}"
        if not cell["path"]:
            left_out[where] = "no path given"
            continue
        named = cell["path"]
        if os.sep == "/" and "\\" in named and not (table.parent / named).exists():
            named = named.replace("\\", "/")  # a table written on Windows (faces\\happy\\01.png)
        file = Path(as_on_disk(str(table.parent / named)))
        emotion = emotion_of(cell["label"])
        if emotion is None:
            unknown.setdefault(cell["label"], []).append(line)
        elif not file.is_file():
            left_out[str(file)] = _noted("no such file", where)
        else:
            images.append(LabelledImage(file, EMOTIONS.index(emotion), cell["subject"], where))
    if columns["subject"] is not None and any(not image.subject for image in images):
        missing = next(image.listed for image in images if not image.subject)
        raise DatasetError(f"{table}: a subject column with empty cells (e.g. {missing}): give every image's person, "
                           "or leave the column out")
    return images, left_out, unknown, len(rows)


def _line_ranges(lines: list[int]) -> str:
    """Line numbers as runs: "3-5, 9"."""
    runs: list[list[int]] = []
    for line in sorted(lines):
        if runs and line == runs[-1][1] + 1:
            runs[-1][1] = line
        else:
            runs.append([line, line])
    return ", ".join(f"{first}-{last}" if last > first else str(first) for first, last in runs)


def _read_labelled_images(images: list[LabelledImage], name: str, size: int, crop_faces, left_out: dict[str, str],
                          left_out_images: dict[str, int], nothing_read: str) -> FaceDataset:
    """The faces of labelled image files, as :func:`load_image_folder` describes (a folder's images and a label
    table's alike); ``left_out`` gets the files left out. ``nothing_read``: the error where no image could be read."""
    faces, kept = [], []
    read = no_face = several = 0
    for image in images:
        file = image.file
        try:
            # a photo in colour, as `fervid image` reads it: on a grey copy the detector finds other faces and
            # landmarks (8 of 108 photos were labelled otherwise than by `fervid image`)
            pixels = load_image(file) if crop_faces else load_grey(file)
        except ImageLoadError as exc:
            left_out[str(file)] = _noted(f"cannot read image ({str(exc).removeprefix(f'{file}: ')})", image.listed)
            continue
        read += 1
        if crop_faces is None:
            faces.append(crop_face(pixels, None, FaceTemplate(size=size)))
        else:  # one photo at a time: a folder of 12-megapixel photos is never held in memory
            crop, found = crop_faces([pixels])
            count = int(np.asarray(found)[0])
            if count != 1:
                no_face, several = no_face + (count == 0), several + (count > 1)
                left_out[str(file)] = _noted("no face found" if count == 0 else
                                             f"{count} faces found: which one is labelled is unknown", image.listed)
                continue
            faces.append(np.asarray(crop)[0])
        kept.append(image)
    if not read:
        raise DatasetError(nothing_read)
    if not faces:  # every photo left out: nothing to score (sklearn failed on the empty arrays)
        raise DatasetError(f"{name}: no face found in any of the {read} photo(s)" if not several else
                           f"{name}: no photo with one face among the {read} photo(s) ({no_face} with none, "
                           f"{several} with several, where which one is labelled is unknown)")
    subjects = [image.subject for image in kept] if all(image.subject for image in kept) else []
    return FaceDataset(np.stack(faces), np.asarray([image.label for image in kept], dtype=np.int64),
                       [str(image.file) for image in kept], name=name, subjects=subjects, left_out=left_out,
                       left_out_images=left_out_images)


# why a folder or a label table's line is left out for its name, whatever it names (the rest of the message is the
# same for every such folder, so that they are said as one group)
NOT_AN_EMOTION = f"not one of fervid's emotions, {accepted_emotion_names()}"


def _hint(name: str, before: str, after: str = "") -> str:
    """:func:`fervid.emotions.emotion_hint`'s suggestion for a name, between ``before`` and ``after``; "" for none."""
    hint = emotion_hint(name)
    return f"{before}{hint}{after}" if hint else ""


def _noted(reason: str, note: str) -> str:
    """A left-out reason with what is its entry's own (a folder's name, a table's line) after it in brackets: the
    entries of one reason are said as one group, each with its note (:meth:`FaceDataset.left_out_groups`)."""
    return f"{reason} [{note}]" if note else reason


# an entry's own note at the end of its left-out reason (see _noted)
_ENTRY_NOTE = re.compile(r" \[([^\[\]]*)\]$")


# the start of a left-out folder's reason, whose image count makes each folder's reason differ
_FOLDER_COUNT = re.compile(r"^a folder of \d+ image\(s\) ")


# a folder's images this large (median of the longer sides) are more likely photos than face crops
PHOTO_SIDE = 300
# how to make face crops of photos, for what reads a folder of images as face crops
MAKE_CROPS = "`fervid image PHOTOS --crops CROPS` writes each face's aligned 48x48 crop"


def median_image_side(files: list[str], sample: int = 50) -> int:
    """The median longer side of up to ``sample`` of the images (their headers only)."""
    from PIL import Image

    sides = []
    for file in files[:: max(1, len(files) // sample)][:sample]:
        try:
            with Image.open(file) as im:
                sides.append(max(im.size))
        except (OSError, ValueError):
            continue
    return int(sorted(sides)[len(sides) // 2]) if sides else 0


def photos_notice(ds: FaceDataset) -> str:
    """Why a folder read as face crops looks like photos ("" where it does not): each whole photo would be
    squashed to 48x48 and read as a face."""
    side = median_image_side(ds.sources) if ds.sources else 0
    if side <= PHOTO_SIDE:
        return ""
    return (f"the images in {ds.name} are about {side} px, more likely photos than face crops: a folder of face "
            f"crops is read with each image resized to 48x48 as a face; for photos, {MAKE_CROPS}")


# an image of a folder read as face crops is unlike the others where its longer side is this many times theirs
# (median), or its shape (width / height) this many times wider or narrower: a whole photo, or a picture that is no
# face, filed among crops. A face detector's crops vary less (one face each, framed alike)
UNLIKE_SIDE = 4.0
UNLIKE_SHAPE = 1.3


def image_sizes(files: list[str]) -> dict[str, tuple[int, int]]:
    """Each image's (width, height), from its header alone; a file whose header cannot be read is not listed."""
    from PIL import Image

    sizes = {}
    for file in files:
        try:
            with Image.open(file) as im:
                sizes[file] = im.size
        except (OSError, ValueError, SyntaxError):
            continue
    return sizes


def unlike_crops(ds: FaceDataset) -> tuple[dict[str, str], tuple[int, int] | None]:
    """The images of a dataset read as face crops whose size or shape is far from most of its images' (path -> how:
    "512x512, 10.7x their size"), the most unlike first; and the usual (median) image size. No image is unlike in a
    folder of photos (:func:`photos_notice` says that) or of alike images (CK+48, JAFFE)."""
    sizes = image_sizes([source for source in ds.sources if Path(source).is_file()])
    if len(sizes) < 3:  # no "most" to compare with
        return {}, None
    usual = sorted(sizes.values(), key=max)[len(sizes) // 2]
    shapes = sorted(w / h for w, h in sizes.values() if h)
    side, shape = max(usual), shapes[len(shapes) // 2]
    if side > PHOTO_SIDE:
        return {}, usual
    unlike = {}  # path -> (how far, how)
    for file, (w, h) in sizes.items():
        larger = max(w, h) / side
        wider = max(w / h / shape, shape * h / w) if w and h else float("inf")
        if larger > UNLIKE_SIDE:
            unlike[file] = (larger, f"{w}x{h}, {larger:.1f}x their size")
        elif wider > UNLIKE_SHAPE:
            unlike[file] = (wider, f"{w}x{h}, not their shape")
    return {file: how for file, (_, how) in sorted(unlike.items(), key=lambda item: -item[1][0])}, usual


def unlike_crops_notice(ds: FaceDataset, found: tuple | None = None, most: int = 10) -> str:
    """Which images of a folder read as face crops look like whole photos or no face at all, beside its others
    (:func:`unlike_crops`, or what it ``found`` already), by name ("" where none does): each would be resized to
    48x48 and read as a face."""
    unlike, usual = unlike_crops(ds) if found is None else found
    if not unlike:
        return ""
    named = "; ".join(f"{file} ({how})" for file, how in list(unlike.items())[:most])
    more = f"; and {len(unlike) - most} more" if len(unlike) > most else ""
    return (f"{len(unlike)} of the {len(ds)} images in {ds.name} are unlike its others (most are {usual[0]}x"
            f"{usual[1]} or about), more likely whole photos or pictures of no face than face crops, and each is read "
            f"as a face resized to 48x48: {named}{more}; for photos, {MAKE_CROPS}")


def left_out_reasons(dataset: FaceDataset, most: int = 10) -> list[str]:
    """What a dataset left out, one line per reason, most images first: "  N x reason: paths" (a folder left out
    counts the images it holds), and how many more past ``most`` reasons; as `fervid evaluate` and `fervid train`
    say it."""
    groups = list(dataset.left_out_groups().items())
    lines = []
    for reason, (images, paths) in groups[:most]:
        where = ", ".join(paths) if len(paths) <= 3 else f"e.g. {paths[0]} ({len(paths)} in all)"
        lines.append(f"  {images} x {reason}: {where}")
    if len(groups) > most:
        lines.append(f"  ... and {sum(images for _, (images, _) in groups[most:])} more")
    return lines


def file_key(path: str | Path) -> tuple[int, str]:
    """What makes two image files the same: their size and content digest (a copy under another name too)."""
    import hashlib

    data = Path(path).read_bytes()
    return len(data), hashlib.sha1(data).hexdigest()


def _keys_of(files: list[Path], sizes: set[int] | None = None) -> dict[Path, tuple[int, str]]:
    """:func:`file_key` of each file; with ``sizes``, only of the files of one of those sizes (the others cannot be a
    copy of anything asked about, and are not read)."""
    keys = {}
    for file in files:
        try:
            if sizes is None or file.stat().st_size in sizes:
                keys[file] = file_key(file)
        except OSError:  # gone or unreadable since it was listed: nothing it could be a copy of
            continue
    return keys


def copies_in(sources: list[str], folder: str | Path) -> list[str]:
    """The ``sources`` (image files) byte-identical to an image file anywhere under ``folder`` (or listed by it, a
    label table), e.g. the folder a model was trained on: a copy of its training faces, by any name, is not a face
    it has not seen."""
    files = [Path(s) for s in sources if Path(s).is_file()]
    ours = _keys_of(files)
    listed = (label_table_files(folder) if Path(folder).is_file() else
              [p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES])
    theirs = _keys_of(listed, sizes={size for size, _ in ours.values()})
    known = set(theirs.values())
    return [str(f) for f, key in ours.items() if key in known]


def relabelled_copies(ds: FaceDataset) -> list[tuple[int, int]]:
    """Pairs of a dataset's images (their indices) that are one file (byte-identical copies) under two different
    labels: a face that is scored as wrong whatever is predicted for one of them."""
    files = [Path(s) for s in ds.sources]
    sizes: set[int] = set()
    repeated: set[int] = set()  # only files whose size another file shares are read
    for file in files:
        try:
            size = file.stat().st_size
        except OSError:
            continue
        (repeated if size in sizes else sizes).add(size)
    keys = _keys_of(files, repeated)
    first: dict[tuple[int, str], int] = {}
    pairs = []
    for i, file in enumerate(files):
        key = keys.get(file)
        if key is None:
            continue
        j = first.setdefault(key, i)
        if j != i and ds.labels[j] != ds.labels[i]:
            pairs.append((j, i))
    return pairs


def _images_in(folder: Path, nested: bool = False) -> int:
    files = folder.rglob("*") if nested else folder.iterdir()
    return sum(1 for f in files if f.suffix.lower() in IMAGE_SUFFIXES)


def _folder(root: str | Path) -> Path:
    """``root`` as a Path, or DatasetError saying whether it is missing or a file."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: no such folder")
    if not root.is_dir():
        raise DatasetError(f"{root}: a file, not a folder")
    return root


def _faces_found(crop_faces, greys: list[np.ndarray], sources: list[str], left_out: dict[str, str]):
    """Frame each photo's face with ``crop_faces``; the photos without one go in ``left_out``. Returns the crops
    found and their indices among ``greys``."""
    crops, found = crop_faces(greys)
    found = np.asarray(found, bool)
    left_out.update({sources[i]: "no face found" for i in np.flatnonzero(~found)})
    idx = np.flatnonzero(found)
    if not len(idx):  # nothing to score (sklearn failed on the empty arrays)
        raise DatasetError(f"{Path(sources[0]).parent}: no face found in any of the {len(greys)} image(s)")
    return np.asarray(crops)[idx], idx


# FER+ vote columns, in the file's order, and where each goes among fervid's classes (None: not a fervid class).
FERPLUS_VOTES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
FERPLUS_ANSWERS = {"contempt": "contempt", "unknown": "unknown", "NF": "not a face"}  # the answers fervid leaves out


def load_ferplus(fer_csv: str | Path, ferplus_csv: str | Path, usage: str | list[str] = DEFAULT_USAGE) -> FaceDataset:
    """FER2013 images with FER+ labels (Barsoum et al. 2016; ``fer2013new.csv``, one row per FER2013 row).

    ``labels`` is the majority vote among the 7 fervid emotions; rows FER+ dropped (empty image name), and rows
    whose most-voted answer is contempt, unknown or not-a-face, are left out (fervid has no such class).
    ``soft_labels`` holds the vote distribution over the 7 emotions, for soft-label training.
    """
    usages = [usage] if isinstance(usage, str) else list(usage)
    votes = _read_ferplus_votes(ferplus_csv)  # checked before the (slower) FER2013 CSV is parsed
    return ferplus_relabel(load_fer2013(fer_csv, usages), ferplus_csv, votes)


def ferplus_relabel(fer: FaceDataset, ferplus_csv: str | Path, votes: pd.DataFrame | None = None,
                    min_votes: int = 1) -> FaceDataset:
    """Already-loaded FER2013 faces (from ``load_fer2013``) relabelled by FER+ votes, as ``load_ferplus`` does;
    lets training relabel its faces without parsing the FER2013 CSV a second time.

    ``min_votes``: an answer given by fewer annotators than this counts as no vote (Barsoum et al.'s own reader
    drops single votes as outliers: 2). Evaluation keeps every vote (1)."""
    picked = _votes_of(fer, ferplus_csv, votes)
    counts = _vote_counts(picked, min_votes)
    to_fervid = [EMOTIONS.index(EMOTION_ALIASES[n]) if n in EMOTION_ALIASES else None for n in FERPLUS_VOTES]
    seven = np.zeros((len(picked), len(EMOTIONS)))
    for col, target in enumerate(to_fervid):
        if target is not None:
            seven[:, target] += counts[:, col]
    named = picked["Image name"].fillna("").astype(str).str.strip() != ""
    keep = named.to_numpy() & (counts.argmax(axis=1) < 7) & (seven.sum(axis=1) > 0)
    keep &= np.array([to_fervid[c] is not None for c in counts.argmax(axis=1)], dtype=bool)
    soft = seven[keep] / seven[keep].sum(axis=1, keepdims=True)
    idx = np.flatnonzero(keep)
    usages = fer.name.split(":", 1)[-1]
    answers = [FERPLUS_ANSWERS.get(FERPLUS_VOTES[c], "an emotion") for c in counts.argmax(axis=1)]
    left_out = {fer.sources[i]: f"FER+'s most-voted answer is {answers[i]}" if named.iloc[i]
                else "FER+ dropped the image" for i in np.flatnonzero(~keep)}
    return FaceDataset(fer.images[idx], seven[keep].argmax(axis=1).astype(np.int64), [fer.sources[i] for i in idx],
                       f"ferplus:{usages}", soft_labels=soft.astype(np.float32), left_out=left_out)


def ferplus_clear_majority(faces: FaceDataset, ferplus_csv: str | Path) -> np.ndarray:
    """Which of ``faces`` (FER2013 faces, e.g. from ``load_ferplus``) Barsoum et al.'s own test protocol keeps:
    with single votes dropped as outliers, one answer has more than half of the remaining votes (their released
    reader, microsoft/FERPlus src/ferplus.py, marks every other face unknown and leaves it out of their reported
    accuracy). fervid's FER+ accuracy counts all faces; this names the easier subset papers report on."""
    counts = _vote_counts(_votes_of(faces, ferplus_csv), min_votes=2)
    return counts.max(axis=1) > 0.5 * counts.sum(axis=1)


def _vote_counts(picked: pd.DataFrame, min_votes: int) -> np.ndarray:
    """(N, 10) vote counts in ``FERPLUS_VOTES`` order, answers fewer than ``min_votes`` annotators gave zeroed."""
    counts = picked[list(FERPLUS_VOTES)].to_numpy(dtype=np.float64)
    counts[counts < min_votes] = 0.0
    return counts


def _votes_of(fer: FaceDataset, ferplus_csv: str | Path, votes: pd.DataFrame | None = None) -> pd.DataFrame:
    """The FER+ rows of FER2013 faces (matched by the #row of their source)."""
    ferplus_csv = Path(ferplus_csv)
    if votes is None:
        votes = _read_ferplus_votes(ferplus_csv)
    try:
        rows = np.array([int(src.rsplit("#", 1)[1]) for src in fer.sources], dtype=np.int64)
    except (IndexError, ValueError) as exc:
        raise DatasetError(f"{fer.name}: faces do not come from a FER2013 CSV (no #row in their source)") from exc
    if len(rows) and rows.max() >= len(votes):
        raise DatasetError(f"{ferplus_csv}: {len(votes)} rows, fewer than the FER2013 CSV ({rows.max() + 1})")
    picked = votes.iloc[rows]
    # FER+ relabels FER2013's rows in order; its own Usage column is the check that the two files list the same
    # faces (a shifted or re-sorted file scored 0.24), and its image names, numbered in that order (fer0000000.png
    # on: 99.99% of the kept rows of the published file number higher than the kept row before), catch rows
    # re-sorted within one Usage
    _check_ferplus_order(votes.iloc[np.unique(rows)], ferplus_csv)  # the file's own order, whatever the faces
    usages = fer.name.split(":", 1)[1].split("+") if ":" in fer.name else None
    wrong = np.flatnonzero(~picked["Usage"].isin(usages).to_numpy()) if usages else np.array([], int)
    if usages and len(wrong):
        first = wrong[0]
        raise DatasetError(f"{ferplus_csv}: does not match the FER2013 CSV row for row: its row {rows[first]} is "
                           f"{picked['Usage'].iloc[first]}, where the FER2013 face is {'/'.join(usages)} "
                           f"({len(wrong)} of {len(rows)} rows disagree); FER+ labels fer2013.csv's rows in order")
    return picked


def _check_ferplus_order(picked: pd.DataFrame, ferplus_csv: Path) -> None:
    """Refuse FER+ rows (in FER2013's row order) whose image names run out of order: a file re-sorted within a
    Usage still passes the Usage check, and scored the wrong labels (0.24 where the true figure is 0.85)."""
    numbers = pd.to_numeric(picked["Image name"].astype("string").str.extract(r"(\d+)", expand=False),
                            errors="coerce").dropna().to_numpy()
    if len(numbers) > 20:
        backwards = float((np.diff(numbers) < 0).mean())
        if backwards > 0.01:
            raise DatasetError(f"{ferplus_csv}: its rows are not in fer2013.csv's order: {backwards:.0%} of its image "
                               "names (fer0000000.png, ...) come before the row above's; FER+ labels fer2013.csv's "
                               "rows in order, so use the file as published")


def _read_ferplus_votes(ferplus_csv: str | Path) -> pd.DataFrame:
    ferplus_csv = Path(ferplus_csv)
    check_input_file(ferplus_csv, "FER+ CSV", DatasetError)
    try:
        votes = pd.read_csv(ferplus_csv)
    except (OSError, ValueError, EOFError, zlib.error, pd.errors.ParserError) as exc:
        raise DatasetError(f"{ferplus_csv}: not a readable FER+ CSV ({exc or type(exc).__name__})") from None
    missing = {"Usage", "Image name", *FERPLUS_VOTES} - set(votes.columns)
    if missing:
        raise DatasetError(f"{ferplus_csv}: missing FER+ column(s) {', '.join(sorted(missing))}")
    return votes


CKPLUS_NAME = re.compile(r"^S(\d{3})_(\d{3})_(\d{8})$")


def load_ckplus(root: str | Path, contempt: str = "drop") -> FaceDataset:
    """CK+48 (``root/<class>/S<subject>_<sequence>_<frame>.png``, 48x48 grey).

    CK+ has a ``contempt`` class that fervid's 7 classes lack: ``contempt="drop"`` leaves it out (the default),
    ``"error"`` refuses the folder. CK+ has no ``neutral`` folder. Subject (``S010``) and sequence
    (``S010_006``) are parsed from each file name, so splits can keep a person's images on one side.
    """
    if contempt not in ("drop", "error"):
        raise ValueError("contempt must be 'drop' or 'error'")
    root = _folder(root)
    if contempt == "error" and (root / "contempt").is_dir():
        raise DatasetError(f"{root / 'contempt'}: contempt is not one of fervid's 7 classes")
    ds = load_image_folder(root, skip_unknown=True)
    # a file whose name is not CK+'s has no subject, so no subject-independent split can place it: left out
    names = [CKPLUS_NAME.match(Path(src).stem) for src in ds.sources]
    for src, m in zip(ds.sources, names):
        if not m:
            ds.left_out[src] = "name is not CK+'s S<subject>_<sequence>_<frame>: no subject to split by"
    keep = [i for i, m in enumerate(names) if m]
    if not keep:
        raise DatasetError(f"{root}: no CK+ images (<emotion>/S<subject>_<sequence>_<frame>.png)")
    if len(keep) < len(names):
        ds = ds.subset(keep)
    matches = [m for m in names if m is not None]
    ds.subjects = [f"S{m.group(1)}" for m in matches]
    ds.sequences = [f"S{m.group(1)}_{m.group(2)}" for m in matches]
    ds.name = "ckplus"
    if (root / "contempt").is_dir():
        ds.left_out_images[str(root / "contempt")] = _images_in(root / "contempt")
        ds.left_out[str(root / "contempt")] = (f"a folder of {_images_in(root / 'contempt')} image(s) of contempt, "
                                               "which is not one of fervid's 7 classes")
    return ds


JAFFE_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d+)\.(\d+)$")
JAFFE_CODES = {"AN": "angry", "DI": "disgust", "FE": "fear", "HA": "happy", "SA": "sad", "SU": "surprise",
               "NE": "neutral"}


def load_jaffe(root: str | Path, crop_faces=None) -> FaceDataset:
    """JAFFE (``root/KA.AN1.39.tiff``: subject KA, emotion AN = angry, 256x256 full-head grey images).

    ``crop_faces(list of grey images) -> (crops, found mask)`` frames each full-head image like FER2013 (the
    analyzer's detector + eye alignment; see :func:`fervid.inference.analyzer.Analyzer.crop_faces`). Unreadable
    images and images where no face is found are left out and listed in the dataset's ``left_out``.
    """
    root = _folder(root)
    greys, labels, sources, subjects, left_out = [], [], [], [], {}
    for file in sorted(root.iterdir()):
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        m = JAFFE_NAME.match(file.stem)
        if not m or file.suffix.lower() not in (".tiff", ".tif"):
            left_out[str(file)] = "name is not JAFFE's <subject>.<EMO><n>.<id>.tiff"
            continue
        if m.group(2) not in JAFFE_CODES:
            left_out[str(file)] = f"unknown JAFFE emotion code {m.group(2)} (expected {', '.join(JAFFE_CODES)})"
            continue
        try:
            greys.append(load_grey(file))
        except ImageLoadError as exc:
            left_out[str(file)] = f"cannot read image ({str(exc).removeprefix(f'{file}: ')})"
            continue
        labels.append(EMOTIONS.index(JAFFE_CODES[m.group(2)]))
        sources.append(str(file))
        subjects.append(m.group(1))
    if not greys:
        raise DatasetError(f"{root}: no JAFFE images (<subject>.<EMO><n>.<id>.tiff)")
    if crop_faces is None:
        crops, idx = np.stack([crop_face(g, None) for g in greys]), np.arange(len(greys))
    else:
        crops, idx = _faces_found(crop_faces, greys, sources, left_out)
    return FaceDataset(crops, np.asarray(labels, np.int64)[idx], [sources[i] for i in idx],
                       "jaffe", [subjects[i] for i in idx], [sources[i] for i in idx], left_out=left_out)



def _ferplus(path, usage, ferplus_csv, jaffe_path, crop_faces) -> FaceDataset:
    if ferplus_csv is None:
        raise DatasetError("ferplus needs the FER+ votes file (fer2013new.csv)")
    return load_ferplus(path, ferplus_csv, usage)


def _jaffe_ckplus(path, usage, ferplus_csv, jaffe_path, crop_faces) -> FaceDataset:
    if jaffe_path is None:
        raise DatasetError("jaffe+ckplus needs the JAFFE folder as well")
    return FaceDataset.concat([load_jaffe(jaffe_path, crop_faces), load_ckplus(path)], "jaffe+ckplus")


# Dataset loaders by kind, each called (path, usage, ferplus_csv, jaffe_path, crop_faces)
DATASETS: Registry = Registry("dataset kind", {
    "fer2013": lambda path, usage, *_: load_fer2013(path, usage),
    "ferplus": _ferplus,
    "ckplus": lambda path, *_: load_ckplus(path),
    "jaffe": lambda path, usage, ferplus_csv, jaffe_path, crop_faces: load_jaffe(path, crop_faces),
    "jaffe+ckplus": _jaffe_ckplus,
    "folder": lambda path, *_: load_image_folder(path),
    "photos": lambda path, usage, ferplus_csv, jaffe_path, crop_faces: load_image_folder(path, crop_faces=crop_faces),
})


def load_dataset(kind: str, path: str | Path, usage: str = DEFAULT_USAGE, ferplus_csv: str | Path | None = None,
                 jaffe_path: str | Path | None = None, crop_faces=None) -> FaceDataset:
    """Load a dataset by kind (:data:`DATASETS`) from a user's copy. ``path`` is: the FER2013 CSV (fer2013,
    ferplus), the CK+48 folder (ckplus, jaffe+ckplus), the JAFFE folder (jaffe), or a folder-per-class root (or a
    label table) of face crops (folder) or of photos whose faces ``crop_faces`` finds (photos). ``jaffe+ckplus``
    takes the JAFFE folder as ``jaffe_path``."""
    if kind not in DATASETS:
        raise DatasetError(f"unknown dataset kind {kind!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[kind](path, usage, ferplus_csv, jaffe_path, crop_faces)


@dataclass
class Sequences:
    """Samples for the temporal models: frames (N, T, 48, 48) uint8, labels (N,), subject per sample."""

    frames: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    name: str
    keys: list[str] = field(default_factory=list)  # each sample's sequence (CK+: S005_001; JAFFE: its file)


def to_sequences(ds: FaceDataset, length: int | None = None) -> Sequences:
    """Group a dataset's frames by ``ds.sequences`` (in file-name order); images without one are length 1."""
    keys = ds.sequences or [str(i) for i in range(len(ds))]
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    t = length or max(len(v) for v in groups.values())
    frames, labels, subjects = [], [], []
    for key, idx in groups.items():
        idx = sorted(idx, key=lambda i: ds.sources[i] if ds.sources else i)[-t:]
        idx = [idx[0]] * (t - len(idx)) + idx  # pad short sequences by repeating their first frame
        if len({int(ds.labels[i]) for i in idx}) != 1:
            raise ValueError(f"sequence {key} mixes labels")
        frames.append(ds.images[idx])
        labels.append(int(ds.labels[idx[0]]))
        subjects.append(ds.subjects[idx[0]] if ds.subjects else key)
    return Sequences(np.stack(frames), np.asarray(labels), np.asarray(subjects), ds.name,
                     [key if ds.sequences else (ds.sources[int(key)] if ds.sources else key) for key in groups])
