"""Typed records passed between stages and returned to users."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, overload

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from fervid.emotions import EMOTIONS
from fervid.errors import OptionError
from fervid.inference.images import recorded_name

# The decimals of every time and duration of a video fervid writes (a row's time; the JSON's track and episode
# starts, ends and key frame times, changes, cuts; the live and web APIs' times), so that one joins another exactly
# (an episode's key_frame_time is its key frame's row's time). A tenth of a millisecond, as the rows always had it
# (tables written before stay joinable with new ones): the frames of a 29.97 or 59.94 fps video, 33.4 and 16.7 ms
# apart, stay distinct, as do a 1000 fps camera's, and time * fps rounds back to the frame's number (3 decimals
# would do for those rates too, but cut every table fervid had written).
TIME_DECIMALS = 4
# half the written precision: a time given back (--start, --end, a segment's edge) as a table wrote it names that
# row's frame (frame 31 of a 29.97 fps video is at 1.034367 s, written 1.0344: `--start 1.0344` began at frame 32)
TIME_TOLERANCE = 0.5 * 10.0 ** -TIME_DECIMALS


def written_seconds(start: float, end: float) -> float:
    """The seconds from ``start`` to ``end`` as the outputs write them: the written end less the written start
    (times to TIME_DECIMALS), so that a script's ``end - start`` gives the duration written beside them: the
    unrounded difference, rounded, wrote 1.7684-2.0354 as lasting 0.2669."""
    return round(round(end, TIME_DECIMALS) - round(start, TIME_DECIMALS), TIME_DECIMALS)


# One face as a table row, the same in every table fervid writes: `fervid image --csv`, a video's
# <name>_frames.csv/.parquet and a batch run's dataset.parquet (each adds its own leading columns: file, face;
# time, frame, track; file, kind, track, time, frame).
ROW_COLUMNS = ["x", "y", "width", "height", "detection_score", *EMOTIONS, "emotion", "confidence", "uncertain"]

# Several images' table (images_table): `fervid image --csv`/`--parquet`'s, and a study's made in Python
IMAGE_TABLE_COLUMNS = ["file", "face", *ROW_COLUMNS, "error"]

# What each column of the tables below means (and a face's landmarks, which the JSON and the live API have), once: the
# API's schema (/docs, fervid.apps.schemas) describes its fields with these, the JSON's ``box`` and
# ``probabilities`` included (the same values under the same names). The 7 emotion columns are a face row's
# probabilities here; a table of tracks or of files has shares under those names (TIME_SHARE_DESCRIPTIONS)
FIELD_DESCRIPTIONS = {
    "x": "The face box's left edge, in pixels from the image's left edge (a video frame as players show it); the box "
         "is clipped to the image.",
    "y": "The face box's top edge, in pixels from the image's top edge.",
    "width": "The face box's width, in pixels.",
    "height": "The face box's height, in pixels.",
    "landmarks": "5 (x, y) points in image pixels, in the detector's order: for an upright face the eye on the "
                 "image's left, the other eye, the nose tip, the mouth corner on the image's left, the other corner "
                 "(none for an image classified whole, --face-crops; null where left out on request, "
                 "--no-landmarks: the document's `landmarks` is false).",
    "detection_score": "The face detector's score, 0 to 1 (in a video row where optical flow placed the box: the "
                       "track's latest detection's; null for an image classified whole, --face-crops).",
    **{emotion: f"The probability of {emotion}, 0 to 1, to 4 decimals (the 7 sum to 1 within 0.00035)."
       for emotion in EMOTIONS},
    "emotion": "The most probable of the 7 emotions: the facial expression shown, not what the person felt.",
    "confidence": "The probability of `emotion`, 0 to 1.",
    "uncertain": "Whether `confidence` is below the model's threshold (0.5 for the shipped models; its model card says "
                 "how often such faces are right).",
    # a video's rows
    "time": "Seconds from the start of the file, on its own timeline (as players show it), 4 decimals.",
    "frame": "The frame's number in the video, from 0 (every frame read counts, analysed or not).",
    "track": "The face's track number, from 1: one face followed without a break (a face lost and found again, or "
             "after a scene cut, is a new track).",
    "detected": "False where optical flow, not the face detector, placed the box.",
    # a video's tracks
    "start": "Seconds (on the file's timeline) of the track's first row.",
    "end": "Seconds (on the file's timeline) where the track's last row ends: a row lasts until the track's next "
           "analysed row, its last one for one analysed spacing (not past the video's end, or the first frame "
           "without the face).",
    "frames": "The track's rows: analysed frames in which the face was seen.",
    "seen_seconds": "Seconds the face was seen (an absence longer than 0.5 s, 2.5 analysed frames or --detect-every "
                    "plus one analysed frame, whichever is longest, is not counted: a face flow lost is looked for "
                    "again at the next detection only).",
    "dominant_emotion": "The emotion shown for the largest share of the time seen (of the unrounded seconds: shares "
                        "equal to 4 decimals need not be a tie); an exact tie goes to the tied emotion with the "
                        "higher mean probability, then to the first in angry, disgust, fear, happy, sad, surprise, "
                        "neutral. Empty for a segment no analysed frame fell in (frames 0).",
    "uncertain_share": "The share of the track's rows (analysed frames) flagged `uncertain`, 0 to 1: how much of "
                       "its emotions the model was unsure of; empty for a segment no analysed frame fell in "
                       "(frames 0).",
}

# What the 7 emotion columns (and confidence) hold in a video's frames table (its columns end with "detected"): the
# temporal method's probability over its window, which the annotated video labels faces with, not the frame's own
VIDEO_ROW_DESCRIPTIONS = {
    **{emotion: f"The probability of {emotion}, 0 to 1, to 4 decimals, by the temporal method over its window (the "
                "tracks JSON's method and window; the frame's alone for method frame); the 7 sum to 1 within 0.00035."
       for emotion in EMOTIONS},
    "confidence": "The probability of `emotion`, 0 to 1, by the temporal method over its window.",
}

# What the columns hold in a table of photos' faces and video frames together (batch's dataset.parquet: its `kind`
# column says which a row is; it has no `detected`), where a column means one thing on a photo's row and another on
# a video's
MIXED_ROW_DESCRIPTIONS = {
    "file": "The file the row is from, as the run was given it (files.csv's and tracks.csv's file, where a name "
            "starting with =, +, -, @, a tab or a carriage return has a ' before it: "
            "fervid.inference.records.csv_text takes it off); a copy's rows (the same bytes under another name: "
            "files.csv's same_as) are here once, under the first's name.",
    "kind": "image: the row is a face of a photo; video: a face in one frame of a video.",
    "track": "A video row: the face's track number, from 1 (one face followed without a break: a face lost and found "
             "again, or after a scene cut, is a new track). An image row: the face's number in the image, from 1 "
             "(from its left, as its JSON lists them).",
    "time": "A video row: seconds from the start of the file, on its own timeline (as players show it), 4 decimals. "
            "An image row: 0.",
    "frame": "A video row: the frame's number in the video, from 0 (every frame read counts, analysed or not). An "
             "image row: 0.",
    **{emotion: f"The probability of {emotion}, 0 to 1, to 4 decimals (the 7 sum to 1 within 0.00035): on an image "
                "row the model's for the face; on a video row the temporal method's over its window (summary.json's "
                "settings: method and window; the frame's alone for method frame)." for emotion in EMOTIONS},
    "confidence": "The probability of `emotion`, 0 to 1 (on a video row, the temporal method's over its window).",
}

# What the 7 emotion columns hold in a table of tracks (TRACK_COLUMNS: batch's tracks.csv, a video's
# <name>_segments.csv, VideoResult.track_table(); the tracks JSON's emotion_share): each emotion's share of the time
# the face was seen, not a probability (batch's files.csv has shares of each file's rows: README, "Corpora")
TIME_SHARE_DESCRIPTIONS = {emotion: f"The share of the time the face was seen that {emotion} was its emotion, 0 to 1 "
                                    "(each row lasting until the track's next); empty for a segment no analysed "
                                    "frame fell in (frames 0)." for emotion in EMOTIONS}


def face_row(box, probabilities, uncertain: bool, detection_score: float | None, **leading) -> dict:
    """``leading`` columns first, then :data:`ROW_COLUMNS`. ``emotion`` is the most probable class and
    ``confidence`` its probability, as in the JSON."""
    x, y, w, h = box
    probs = np.asarray(probabilities, np.float64)
    return {**leading, "x": round(float(x), 1), "y": round(float(y), 1), "width": round(float(w), 1),
            "height": round(float(h), 1),
            "detection_score": None if detection_score is None else round(float(detection_score), 4),
            **{e: round(float(p), 4) for e, p in zip(EMOTIONS, probs)},
            "emotion": EMOTIONS[int(np.argmax(probs))], "confidence": round(float(probs.max()), 4),
            "uncertain": bool(uncertain)}


# A video track as a table row: `fervid batch`'s tracks.csv (after ``file``) and VideoResult.track_table(); the
# tracks JSON's entry (fervid.inference.video.TrackLog.summary) holds them, each emotion as its share of the time
# seen, where the face was: its rows' mean box (mean_x, ...: the JSON's mean_box), and the share of its rows flagged
# uncertain (last: added in 0.3.0, after the columns scripts may read by position)
MEAN_BOX_COLUMNS = ["mean_x", "mean_y", "mean_width", "mean_height"]
TRACK_COLUMNS = ["track", "start", "end", "frames", "seen_seconds", "dominant_emotion", *EMOTIONS, *MEAN_BOX_COLUMNS,
                 "uncertain_share"]


def track_row(summary: Mapping[str, Any], **leading) -> dict:
    """``leading`` columns first, then :data:`TRACK_COLUMNS` from a track's summary (the tracks JSON's entry; one
    written by an older fervid may lack a column, left empty: None, as the mean box is where the summary has none:
    a segment's part of a track with no row inside it, as its shares are)."""
    shares, box = summary.get("emotion_share") or {}, summary.get("mean_box") or {}
    return {**leading, **{k: summary.get(k) for k in TRACK_COLUMNS[:6]},
            **{e: shares.get(e) for e in EMOTIONS},
            **{column: box.get(column.removeprefix("mean_")) for column in MEAN_BOX_COLUMNS},
            "uncertain_share": summary.get("uncertain_share")}


# The Arrow type of each column of the tables above (with their leading columns); the rest are float64
_TYPES = {"frame": "int64", "track": "int64", "face": "int64", "frames": "int64", "emotion": "string",
          "dominant_emotion": "string", "uncertain": "bool", "detected": "bool", "partial": "bool",
          "file": "string", "kind": "string", "error": "string"}


# the Parquet file-level metadata key under which a table records what made it, as JSON (README, "Output formats")
SETTINGS_METADATA_KEY = b"fervid"


def table_schema(columns: list[str], examples: dict[str, object] | None = None, *, settings: dict | None = None):
    """The Arrow schema of a table's ``columns`` (every table fervid writes as Parquet or makes as pandas): a table
    with no rows keeps their types (pandas would give an empty table object columns, and Parquet null ones).
    ``examples``: a value of columns of no type here, whose type they take (a caller's own leading columns:
    ``ImageResult.to_dataframe(photo_id=7)``). A face row's columns carry their :data:`FIELD_DESCRIPTIONS` in their
    fields' metadata (``description``; a video's frames table, whose columns end with ``detected``, those of
    :data:`VIDEO_ROW_DESCRIPTIONS`, and a table with a ``kind`` column, of photos' and videos' rows together,
    those of :data:`MIXED_ROW_DESCRIPTIONS`), which a Parquet file keeps (every Parquet table fervid writes is of face
    rows; a table of tracks, whose emotion columns are shares, is written as CSV and gets none). ``settings``: what
    made the rows (the model, its weights' digest, the versions: as the JSON beside them records it), kept in the
    file's metadata under :data:`SETTINGS_METADATA_KEY`, so that a table copied away from its JSON still says where
    it came from."""
    import pyarrow as pa

    examples = examples or {}

    def arrow_type(column: str):
        if column not in _TYPES and column in examples:
            return pa.scalar(examples[column]).type
        return pa.type_for_alias(_TYPES.get(column, "float64"))

    described = FIELD_DESCRIPTIONS if set(ROW_COLUMNS) <= set(columns) else {}  # a table of face rows
    if described and "kind" in columns:  # photos' faces and video frames together (batch's dataset.parquet)
        described = {**described, **MIXED_ROW_DESCRIPTIONS}
    elif described and "detected" in columns:  # a video's frames table
        described = {**described, **VIDEO_ROW_DESCRIPTIONS}
    schema = pa.schema([pa.field(c, arrow_type(c), metadata={"description": described[c]} if c in described else None)
                        for c in columns])
    return schema if settings is None else schema.with_metadata({SETTINGS_METADATA_KEY: json.dumps(settings)})


def dataframe(rows: list[dict], columns: list[str], nullable: bool = False,
              examples: dict[str, object] | None = None) -> pd.DataFrame:
    """``rows`` as a pandas table of ``columns`` of :func:`table_schema`'s types (``examples``: as there), with rows
    or none (pandas made a table with none all object columns, and pd.concat of it with a typed one every column
    object); a column a row lacks is empty in it. ``nullable``: whole numbers and booleans as pandas' Int64 and
    boolean, which hold an empty value (an image table's row of an image with no face, or one that failed), where
    int64 and bool cannot (pandas made them float64 and object: ``table[~table.uncertain]`` raised TypeError)."""
    import pandas as pd
    import pyarrow as pa

    mapper = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get if nullable else None
    return pa.Table.from_pylist(rows, schema=table_schema(columns, examples)).to_pandas(types_mapper=mapper)


# what a spreadsheet takes a cell starting with for a formula (OWASP's "CSV injection"): =, +, - and @, and a tab
# or carriage return before one
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(cell: str) -> str:
    """A text cell of a CSV fervid wrote, as it was before :func:`write_csv` put a ``'`` before a formula's start
    (a ``files.csv`` given back to ``fervid batch`` as a manifest: ``'=x.png`` is the file ``=x.png``)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


class WrittenCell(str):
    """A cell read back from a CSV fervid wrote: :func:`write_csv` writes it again as it is (a ``'`` it put before a
    formula's start is there already, and "-0.5" read back is the number it wrote, not a formula)."""


def write_csv(fh, columns: list[str], rows, header: bool = True) -> None:
    """A table to the open text file ``fh`` as every CSV fervid writes it: ``columns`` (unless ``header`` is false:
    more rows of a table being streamed), then ``rows`` (sequences in their order: a DataFrame's
    ``itertuples(index=False, name=None)``), lines ending in LF, as pandas writes them. A
    boolean is TRUE or FALSE: R's read.csv reads those as logical (Python's True/False as text, so that
    ``sum(d$detected == TRUE)`` was 0), pandas' read_csv as bool. An empty value (None, NaN, pandas' NA) is an empty
    field: NA to R, NaN to pandas. A field holding a carriage return is quoted, as one holding a newline is. A text
    starting as a formula does (:data:`FORMULA_STARTS`: a file named
    ``=HYPERLINK(...).png``, ``+SUM(1+1).png``, and the errors naming it) gets a ``'`` before it, which a
    spreadsheet shows as text and does not run (OWASP's advice); numbers are written as they are (-0.5 stays a
    number), and the JSON and Parquet outputs keep the text as it is."""
    import csv

    # pandas' missing value (rows taken from a pandas table): there only where pandas is loaded, which writing a
    # video's tables does not need (loading it cost every `fervid video` a fifth of a second)
    pandas_na = getattr(sys.modules.get("pandas"), "NA", None)

    def field(value):
        if isinstance(value, (bool, np.bool_)):
            return "TRUE" if value else "FALSE"
        if isinstance(value, WrittenCell):
            return str(value)
        if isinstance(value, str):
            return f"'{value}" if value.startswith(FORMULA_STARTS) else value
        return "" if value is None or value is pandas_na or (isinstance(value, float) and np.isnan(value)) else value

    class EndsInLF:  # the writer ends rows in CRLF, so that it quotes a field holding a lone CR too (a file name
        # can: written bare, it split the row in two for every reader); each row is written ending in LF
        def write(self, row: str) -> int:
            return fh.write(row[:-2] + "\n")

    writer = csv.writer(EndsInLF(), lineterminator="\r\n")
    if header:
        writer.writerow(columns)
    writer.writerows([field(value) for value in row] for row in rows)


def rounded(values, digits: int = 1) -> tuple:
    """Numbers rounded for a repr: a box's pixels to a tenth, not the 16 digits a float prints."""
    return tuple(round(float(v), digits) for v in values)


def abridged(reprs: list[str], most: int = 5, brackets: str = "[]") -> str:
    """A repr's list (or, with ``brackets="{}"``, dict) of at most ``most`` items, the rest counted: a group
    photo's or a long video's result prints a few lines in a notebook, not every face."""
    shown = ", ".join(reprs[:most]) + (f", ... {len(reprs) - most} more" if len(reprs) > most else "")
    return f"{brackets[0]}{shown}{brackets[1]}"


def html_view(heading: str, table: pd.DataFrame, most_rows: int = 20) -> str:
    """A result as a notebook shows it (``_repr_html_``): ``heading`` over ``table`` as pandas writes it in HTML, at
    most ``most_rows`` of its rows (the rest elided by pandas); none where it has no rows. Both escaped: a file
    named ``<img src=x onerror=...>.png`` is text in the page, not markup."""
    import html

    shown = table.to_html(index=False, max_rows=most_rows, border=0, escape=True) if len(table) else ""
    return f"<div><p><b>{html.escape(heading)}</b></p>{shown}</div>"


@dataclass
class Face:
    """One analysed face.

    box: (x, y, width, height) in image pixels; landmarks: 5 (x, y) points in the detector's order (for an upright
    face: eye on the image's left, the other eye, nose tip, mouth corner on the image's left, the other corner;
    a face upside down has them the other way round); detection_score in [0, 1]. A face crop classified whole
    (``analyze_image(..., face_crop=True)``) was not detected: its box is the whole image, it has no landmarks
    and its detection_score is None;
    probabilities: 7 values in ``EMOTIONS`` order summing to 1; emotion: the most probable class.
    ``uncertain`` is true when the top probability is below the model's ``uncertain_below`` threshold (0.5 for
    the shipped model: see its card for how often such faces are right). ``feature`` (the CNN's 512-d
    penultimate activations) and ``crop`` (the aligned grey 48x48 face) are kept
    for further analysis but left out of JSON/CSV output: :meth:`to_dict` is a face as JSON (a web API's response).
    """

    box: tuple[float, float, float, float]
    landmarks: tuple[tuple[float, float], ...]
    detection_score: float | None
    probabilities: tuple[float, ...]
    uncertain: bool = False
    feature: np.ndarray | None = field(default=None, repr=False, compare=False)
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        # what a face is (its emotion, how sure) and where, rounded; the landmarks and 7 probabilities are attributes
        score = "None" if self.detection_score is None else f"{float(self.detection_score):.3f}"
        return (f"Face(emotion={self.emotion!r}, confidence={self.confidence:.3f}, box={rounded(self.box)}, "
                f"detection_score={score}, uncertain={self.uncertain})")

    @property
    def emotion(self) -> str:
        """The most probable of the 7 emotions (one of ``EMOTIONS``)."""
        return EMOTIONS[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        """The probability of :attr:`emotion` (0-1; the model's card says how often faces this sure are right)."""
        return float(max(self.probabilities))

    @property
    def emotion_probabilities(self) -> dict[str, float]:
        """``{emotion: probability}`` for the 7 emotions, in ``EMOTIONS`` order."""
        return dict(zip(EMOTIONS, self.probabilities))

    def row(self, **leading) -> dict:
        """This face as a table row (:data:`ROW_COLUMNS` after the ``leading`` columns)."""
        return face_row(self.box, self.probabilities, self.uncertain, self.detection_score, **leading)

    def to_dict(self, landmarks: bool = True) -> dict:
        """The JSON schema documented in the README (``faces[]`` entries). ``landmarks`` false: ``"landmarks"`` is
        null (left out on request: :attr:`fervid.inference.options.PipelineOptions.landmarks`), where a face crop
        classified whole has ``[]``."""
        return {
            # float(): a detector of the user's own may give numpy scalars, which json cannot write
            "box": dict(zip(("x", "y", "width", "height"), (round(float(v), 1) for v in self.box))),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks] if landmarks else None,
            "detection_score": None if self.detection_score is None else round(float(self.detection_score), 4),
            "emotion": self.emotion,
            "confidence": round(self.confidence, 4),
            "uncertain": self.uncertain,
            "probabilities": {k: round(float(v), 4) for k, v in self.emotion_probabilities.items()},
        }


@dataclass
class ImageResult:
    """What one image gave: its faces (numbered from the left: :func:`~fervid.inference.detect.left_to_right`), or
    the error that stopped it.

    It reads as the list of its faces (``result[0].emotion``, ``len(result)``, ``for face in result``), gives its
    table rows (:meth:`rows`) and its JSON entry (:meth:`to_dict`); :func:`images_document` wraps several. A web
    API's response is :meth:`to_dict` (or :meth:`rows`): the result itself holds numpy arrays (each face's
    ``feature`` and ``crop``), which FastAPI's and Flask's JSON encoders fail on."""

    source: str
    faces: list[Face] = field(default_factory=list)
    width: int = 0
    height: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the image was read (an image with no face is ok, with no faces)."""
        return self.error is None

    def __repr__(self) -> str:
        read = f"error={self.error!r}" if self.error is not None else f"width={self.width}, height={self.height}"
        return f"ImageResult(source={self.source!r}, {read}, faces={abridged([repr(face) for face in self.faces])})"

    def _repr_html_(self) -> str:
        # a notebook's view: the image and what it gave, then its faces' table (to_dataframe)
        read = f"error: {self.error}" if self.error is not None else (
            f"{self.width} x {self.height}, {len(self.faces)} face(s)")
        return html_view(f"{self.source}: {read}", self.to_dataframe())

    def __len__(self) -> int:
        return len(self.faces)

    def __iter__(self) -> Iterator[Face]:
        return iter(self.faces)

    @overload
    def __getitem__(self, index: int) -> Face: ...

    @overload
    def __getitem__(self, index: slice) -> list[Face]: ...

    def __getitem__(self, index: int | slice) -> Face | list[Face]:
        return self.faces[index]

    def to_dataframe(self, **leading: object) -> pd.DataFrame:
        """:meth:`rows` as a pandas table: the ``leading`` columns, ``face``, then :data:`ROW_COLUMNS`, the columns
        and their types there for an image with no face too (no rows), so ``table["emotion"]`` works on any image
        and pd.concat of many images' tables stays typed. Typed as `fervid image --parquet` writes them (``face``
        Int64, ``uncertain`` boolean: that file's faceless images leave them empty). A table of its faces: the
        images with none are not in a concatenation of such tables; :func:`images_table` keeps them, as `fervid
        image --csv` does.

        ``leading``: columns holding one value on every row, to say which image the rows are from once many
        images' tables are concatenated: ``to_dataframe(file=path)`` (a path as its text, a string column as
        `fervid image --csv`'s ``file``), or any name and value of your own (``photo_id=7``: typed as the value)."""
        import os

        leading = {name: os.fspath(value) if isinstance(value, os.PathLike) else value
                   for name, value in leading.items()}
        return dataframe(self.rows(**leading), [*leading, "face", *ROW_COLUMNS], nullable=True, examples=leading)

    def rows(self, **leading: object) -> list[dict]:
        """One :data:`ROW_COLUMNS` row per face, after ``leading`` and the face's number (``face``: 1, 2, ... left
        to right, as :attr:`faces` holds them and a video's tracks are numbered from 1); none for an image with no
        face (:func:`images_table`, `fervid image --csv`'s, gives such a file one row with an empty ``face``)."""
        taken = sorted(set(leading) & {"face", *ROW_COLUMNS})
        if taken:  # (the row's own value would replace it, or be replaced, unsaid)
            raise OptionError(f"{taken[0]!r} is a column of the face row itself; give the leading column another "
                              "name")
        return [face.row(**leading, face=number) for number, face in enumerate(self.faces, start=1)]

    def to_dict(self, landmarks: bool = True) -> dict:
        """The JSON entry; ``error`` is null for a file that was read (the API's schema says so too).
        ``landmarks`` false: each face's are null (:meth:`Face.to_dict`)."""
        return {"file": recorded_name(self.source), "ok": self.ok, "width": self.width, "height": self.height,
                "faces": [f.to_dict(landmarks) for f in self.faces], "error": self.error}


def images_table(results: Iterable[ImageResult]) -> pd.DataFrame:
    """Several images' table, :data:`IMAGE_TABLE_COLUMNS`: what `fervid image --csv` and `--parquet` write, and a
    study's in Python (``images_table(analyzer.analyze_image(p) for p in paths)``). A row per face
    (:meth:`ImageResult.rows` after ``file``, the image's ``source``), and one with its ``file`` alone (an empty
    ``face`` and face row) for an image with no face, or one that failed, whose ``error`` says why (empty for an
    image that was read, as its JSON's is null): a photo without a face is counted, where a concatenation of
    :meth:`ImageResult.to_dataframe` tables, which are of faces, leaves it out. Typed as that table is."""
    # a path, iterated, would be its characters: it is said as the one item it is
    given: Iterable[object] = [results] if isinstance(results, (str, os.PathLike)) else results
    rows: list[dict] = []
    for result in given:
        if not isinstance(result, ImageResult):  # a path given for its result: say so, not "has no attribute faces"
            raise TypeError(f"images_table takes ImageResult objects (from Analyzer.analyze_image), not "
                            f"{type(result).__name__} {result!r}")
        if not result.faces:
            rows.append({"file": recorded_name(result.source), "error": result.error})
        rows += result.rows(file=recorded_name(result.source))
    return dataframe(rows, IMAGE_TABLE_COLUMNS, nullable=True)


def images_csv(results: Iterable[ImageResult]) -> str:
    """:func:`images_table` as the CSV text `fervid image --csv` writes (:func:`write_csv`): what ``POST
    /v1/images?format=csv`` answers, and the web page's download of a photo's faces."""
    import io

    made = io.StringIO()
    write_csv(made, IMAGE_TABLE_COLUMNS, images_table(results).itertuples(index=False, name=None))
    return made.getvalue()


def images_document(results: list[ImageResult], settings: dict, landmarks: bool = True) -> dict:
    """The JSON document of `fervid image --json`, ``POST /v1/images``, the demo and batch's ``result.json`` of an
    image: what ran (``settings``: :attr:`fervid.Analyzer.settings`: model, precision, detector, score threshold,
    ``face_crops``: whether each image was classified whole as one face), whether the faces' landmarks are given
    (``landmarks``: :attr:`fervid.inference.options.PipelineOptions.landmarks`; false, each face's are null), one
    entry per file, and how many failed."""
    return {**settings, "landmarks": landmarks, "files": [r.to_dict(landmarks) for r in results],
            "failed": sum(not r.ok for r in results)}
