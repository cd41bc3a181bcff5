"""Scoring fervid's video labels against your own annotations of the videos: segments, each a stretch of one video
with the emotion an annotator saw there (``video,start,end,emotion``; optional ``track`` and ``participant``).

Each segment is scored on one face: the track its ``track`` column names (fervid's track number, from an earlier
``fervid video`` of the same file), or else the track seen in most of the segment's analysed frames (the person the
video is about). Two scores come out, both against the segment's label:

- per frame: every analysed frame of that face inside the segment, with the label fervid gives that frame (its
  temporal method's, as in ``<name>_frames.csv``);
- per segment: the label fervid gives the segment as a whole, ``fervid video --segments``'s ``dominant_emotion``
  by the same code (:func:`segment_summary`): the emotion of the most time (each frame lasting until the next, the
  one before the segment's start from its start), a tie going to the tied emotion with the higher mean probability,
  then the first in EMOTIONS.

Frames of one segment, and segments of one person or one video, are not independent draws, so the intervals are over
the participants or videos (:class:`IntervalGroups`; over segments, said so, where there are too few of them), a t
interval under 30 groups and a bootstrap from 30 (:mod:`fervid.evaluation.intervals`), not the binomial interval
the photo datasets get. A segment where the face is never found counts as not scored, and the share of the annotated time in
which it was found is reported beside the scores.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple, cast, overload

import numpy as np
import pandas as pd

from fervid.emotions import EMOTIONS, emotion_hint, emotion_of
from fervid.evaluation.datasets import DatasetError
from fervid.evaluation.times import parse_time
from fervid.evaluation.tables import (TableEncodingError, find_column, not_a_text_table, table_header, table_rows,
                                      table_text)
from fervid.evaluation.intervals import MIN_INTERVAL_GROUPS
from fervid.inference.images import as_on_disk, recorded_name
from fervid.inference.records import TIME_DECIMALS, TIME_TOLERANCE
from fervid.inference.video import (AnalysedFrame, FrameFace, SegmentLogs, TimeSegment, TrackSummary,
                                    segment_name_problem)

# the column names accepted for each field, in order of preference, compared as find_column does (without case,
# spaces, underscores and hyphens alike); a name that only starts with one of them counts where none is exact (ELAN's
# tab-delimited export says "Begin Time - ss.msec", its German one "Anfangszeit - msec", its annotations' column
# "Annotation"; BORIS's aggregated events "Media file" (or "Media file path", "Media file name"), "Start (s)",
# "Stop (s)" and "Behavior", none of which another of its columns starts with: "Behavioral category" is one word)
COLUMNS = {"video": ("video", "file", "path", "filename", "clip", "media file"),
           "start": ("start", "begin", "onset", "anfangszeit"), "end": ("end", "stop", "offset", "endzeit"),
           "emotion": ("emotion", "label", "annotation", "behavior", "behaviour"), "track": ("track",),
           # the person a line's face is of (BORIS's "Subject"): the scores' intervals resample people where named
           "participant": ("participant", "subject", "person")}
# names a missing column could have, said with it (each field's own: "no start column" gave 'Video File')
_COLUMN_EXAMPLES = {"video": "'Video File', 'Media file'", "start": "'start_ms', 'Begin Time - msec'",
                    "end": "'end_ms', 'Stop (s)'", "emotion": "'emotion_label', 'Behavior'", "track": "'track_id'",
                    "participant": "'participant_id', 'Subject'"}
# what BORIS writes in its Subject column where no person was chosen: no participant named
_NO_PARTICIPANT = ("no focal subject",)
# words after start or end that say a column holds no time ("start_frame": a frame number)
_NOT_SECONDS = ("frame", "frames", "sample", "samples")
# a time column in milliseconds: "Begin Time - msec" (ELAN), "start_ms", "onset (ms)" (find_column takes them for
# start and onset); not "ss.msec" or "hh:mm:ss.ms", whose values are seconds
_MILLISECONDS = re.compile(r"(?:^|[\s\-_(\[])(?:msec|ms|milliseconds?)\b")


@dataclass(frozen=True)
class Segment:
    """One annotated stretch of a video; ``line`` is its line in the annotations file (the header is line 1)."""

    video: Path
    start: float
    end: float
    label: int  # index into EMOTIONS
    line: int
    track: int | None = None
    participant: str = ""  # the person pictured, where the table has a participant column ("" where not)


@dataclass
class Annotations:
    """The segments read from an annotations file, the lines left out with why (line number -> reason), and what
    a reader of the scores should know of how it was read (``notes``)."""

    source: Path
    segments: list[Segment]
    left_out: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    missing_videos: list[Path] = field(default_factory=list)  # named by lines left out for it: not there
    # lines left out whose video cell names no video file: empty, or a folder (line -> why)
    no_video: dict[int, str] = field(default_factory=dict)
    # every start and end read written as a whole number, in columns of seconds (milliseconds, where they all lie
    # past their video's end: said with the scores)
    whole_seconds: bool = False

    @property
    def videos(self) -> list[Path]:
        return sorted({s.video for s in self.segments})


@overload
def _column(header: list[str], name: str, path: Path, required: Literal[True] = True) -> int: ...


@overload
def _column(header: list[str], name: str, path: Path, required: bool) -> int | None: ...


def _column(header: list[str], name: str, path: Path, required: bool = True) -> int | None:
    """The index of ``name``'s column in ``header`` (:func:`~fervid.evaluation.tables.find_column`)."""
    index = find_column(header, COLUMNS[name], unless=_NOT_SECONDS if name in ("start", "end") else ())
    if index is None and required:
        raise DatasetError(f"{path}: no {name} column (one of {', '.join(COLUMNS[name])}, in any case, or one of "
                           f"them and more words: {_COLUMN_EXAMPLES[name]}); its columns are "
                           f"{', '.join(map(str, header))}")
    return index


def _file_identity(path: Path) -> tuple:
    """What tells one file from another: its device and inode (the same file under two spellings of its name has
    one), or its resolved path where the system gives no inode."""
    stat = path.stat()
    return (stat.st_dev, stat.st_ino) if stat.st_ino else (str(path),)


def looks_like_annotations(path: str | Path) -> bool:
    """Whether a table is one of annotated segments: its header names a start and an end (a video column too, or
    not: one video's ELAN or BORIS export has none), or it has no header and its first line holds times
    (``--dataset auto`` tells it from FER2013's CSV, whose columns are emotion, pixels and Usage, and from a label
    table's path and label; :func:`read_annotations` then says what it lacks)."""
    header = table_header(path)
    return _has_times(header) or _looks_like_data(header) or _boris_events(header)


def _has_times(header: list[str]) -> bool:
    """Whether ``header`` names a start and an end column."""
    return all(find_column(header, COLUMNS[name], unless=_NOT_SECONDS) is not None for name in ("start", "end"))


def _boris_events(header: list[str]) -> bool:
    """Whether ``header`` is BORIS's events table's: a line per event at its ``Time``, a state's START and STOP
    (``Status``) two lines, not one segment."""
    return all(find_column(header, (name,)) is not None for name in ("time", "status", "behavior"))


def _looks_like_data(header: list[str]) -> bool:
    """Whether a table's first line is a row of data, not a header: two or more of its cells are times (an ELAN
    export saved without its column names: "Emotion  00:00:01.000  1.000  1000 ..."; a name is seldom one)."""
    times = 0
    for cell in header:
        try:
            parse_time(cell)
        except ValueError:
            continue
        times += 1
    return times >= 2


def _segments_table(path: Path, kind: str, columns: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A table of segments' header and rows (:func:`table_rows`); DatasetError where there is no such ``kind`` of
    file (a folder, say), it is not a table (a workbook, a video: :func:`not_a_text_table`) or it is empty
    (``columns``: the header it should have, as said then)."""
    if path.is_dir():
        raise DatasetError(f"{path}: a folder, not {'an' if kind[0] in 'aeiou' else 'a'} {kind} (a CSV: {columns})")
    if not path.is_file():
        raise DatasetError(f"{path}: no such {kind}")
    try:
        what = not_a_text_table(path)
        if what is not None:
            raise DatasetError(f"{path}: {what} ({kind}: a table of {columns})")
        header, rows = table_rows(table_text(path))
    except TableEncodingError as exc:
        raise DatasetError(str(exc)) from None
    except (OSError, csv.Error) as exc:
        raise DatasetError(f"{path}: not a table of segments ({exc})") from None
    if not header:
        raise DatasetError(f"{path}: empty (a header line, then one line per segment: {columns})")
    if not _has_times(header) and _looks_like_data(header):  # (its cells were said as "its columns")
        first = [cell.strip() for cell in header]
        raise DatasetError(f"{path}: no header row (its first line, {', '.join(first[:6])}"
                           f"{', ...' if len(first) > 6 else ''}, holds times: a segment, not the columns' names): add "
                           f"one above it naming each column (e.g. {columns})")
    return header, rows


def _per_second(header: list[str], columns: dict[str, int]) -> dict[str, float]:
    """How many of each time column's units make a second: 1000 where its name says milliseconds, else 1."""
    return {name: 1000.0 if _MILLISECONDS.search(header[index].strip().lower()) else 1.0
            for name, index in columns.items()}


def _segment_times(cells: dict[str, str], per_second: dict[str, float], path: Path, line: int
                   ) -> tuple[float, float]:
    """A line's start and end in seconds (``per_second``: 1000 for a column of milliseconds), to the frames
    table's TIME_DECIMALS: a frame written at 1.001 s is one a segment starting at 1001 ms holds (times 0.001,
    1001 ms was 1.0010000000000001 s, and the frame fell in the segment before); DatasetError naming the cell that
    is no time, and why. The one reader of `fervid video --segments` and `fervid evaluate` alike."""
    times = []
    for name in ("start", "end"):
        if not cells[name]:
            raise DatasetError(f"{path}, line {line}: no {name} given")
        try:
            times.append(round(parse_time(cells[name]) / per_second[name], TIME_DECIMALS))
        except ValueError as exc:
            raise DatasetError(f"{path}, line {line}: {name} {cells[name]!r}: {exc}") from None
    return times[0], times[1]


def read_annotations(path: str | Path, video: str | Path | None = None) -> Annotations:
    """The segments of an annotations table (CSV, or tab- or semicolon-separated: the separator is sniffed; UTF-8
    with or without a byte-order mark, or Windows' Western encoding). Times are seconds, m:ss or h:mm:ss, or
    milliseconds where the column's name says so ("Begin Time - msec"). Video paths are read relative to the
    table's folder. ``video``: the one video a table without a video column annotates (one video's ELAN or BORIS
    export; relative to the working folder, as a command line's path is); a table with one refuses it. A line whose
    emotion is not one of fervid's 7 (contempt, say), whose video is not there, or that names no video file (an
    empty cell, a folder: also in ``no_video``) is left out with its reason; a time that is not a time, an end
    before its start, a row of more cells than the header or two segments of one face that overlap raise
    DatasetError naming the lines (every such line of the table in one error, each named with its problem)."""
    path = Path(path)
    header, rows = _segments_table(path, "annotations file", "video,start,end,emotion")
    if not _has_times(header) and _boris_events(header):
        raise DatasetError(f"{path}: BORIS's events table (a state's START and STOP on lines of their own, at their "
                           "Time): export BORIS's aggregated events instead, a line per state with its Start (s) "
                           "and Stop (s)")
    video_column = _column(header, "video", path, required=video is None and not _has_times(header))
    if video is not None and video_column is not None:
        raise DatasetError(f"{path}: its {header[video_column].strip()!r} column names each line's video: leave out "
                           f"the one video given for the whole table (--video {video})")
    if video is None and video_column is None:  # (a start and an end found: a table of segments)
        raise DatasetError(f"{path}: an annotations table without a video column (one video's export, as ELAN's "
                           f"and BORIS's can be): give the video it annotates (fervid evaluate --video FILE), or add "
                           f"a column naming each line's video ({', '.join(COLUMNS['video'])}); its columns are "
                           f"{', '.join(map(str, header))}")
    time_columns = {name: _column(header, name, path) for name in ("start", "end")}
    columns = {name: _column(header, name, path, required=name not in ("video", "track", "participant"))
               for name in COLUMNS}
    per_second = _per_second(header, time_columns)
    notes = [f"{header[time_columns[name]].strip()!r} read as milliseconds" for name in ("start", "end")
             if per_second[name] != 1.0]
    # every time a whole number of seconds: milliseconds under a plain name, maybe (said where they all lie past
    # their video's end)
    whole_seconds = all(unit == 1.0 for unit in per_second.values())
    segments, left_out, missing, no_video = [], {}, set(), {}
    same_file: dict[tuple, Path] = {}  # a file's identity -> the path its first line named it by
    # every line that cannot be read, said together: fixed one at a time, a table of several met them one run each
    bad_lines: list[DatasetError] = []
    for line, row in rows:
        try:
            start, end, cell = _annotation_line(row, header, columns, per_second, path, line)
        except DatasetError as exc:
            bad_lines.append(exc)
            continue
        whole_seconds = whole_seconds and all(cell[name].isdigit() for name in ("start", "end"))
        emotion = emotion_of(cell["emotion"])
        if emotion is None:
            hint = emotion_hint(cell["emotion"])
            left_out[line] = ("no emotion given" if not cell["emotion"] else
                              f"emotion {cell['emotion'].lower()!r} is not one of fervid's 7" + (f" ({hint})" if hint
                                                                                                 else ""))
            continue
        track_text = cell.get("track", "")
        # "2", or "2.0" as a spreadsheet or pandas writes a number column with blanks in it
        if track_text and not re.fullmatch(r"[0-9]+(?:\.0*)?", track_text):
            bad_lines.append(DatasetError(f"{path}, line {line}: track {track_text!r}: not a track number"))
            continue
        # (the video given: relative to the working folder, where the command line's paths are)
        named = cell["video"] if video is None else str(Path(video).absolute())
        if not named:  # (it read as the table's own folder)
            left_out[line] = no_video[line] = "no video named"
            continue
        if os.sep == "/" and "\\" in named and not (path.parent / named).exists():
            named = named.replace("\\", "/")  # a table written on Windows (clips\\p01.mp4)
        file = Path(named)
        # one file by one name, however the table spells it (a/../b.mp4, an absolute path, Clip.mp4 for clip.mp4
        # on a disk that ignores case): its frames are scored against one set of segments
        file = Path(as_on_disk(str(file if file.is_absolute() else path.parent / file))).resolve()
        if file.is_dir():
            left_out[line] = no_video[line] = f"{file} is a folder, not a video"
            continue
        if not file.is_file():
            left_out[line] = f"video {file} not found"
            missing.add(file)
            continue
        participant = cell.get("participant", "")
        segments.append(Segment(same_file.setdefault(_file_identity(file), file), start, end,
                                EMOTIONS.index(emotion), line,
                                int(float(track_text)) if track_text else None,
                                "" if participant.lower() in _NO_PARTICIPANT else participant))
    if len(bad_lines) == 1:
        raise bad_lines[0]
    if bad_lines:
        raise DatasetError(f"{path}: {len(bad_lines)} lines cannot be read: " + "; ".join(
            str(exc).removeprefix(f"{path}, ") for exc in bad_lines))
    _check_overlaps(segments, path)
    if not segments:
        raise DatasetError(f"{path}: no segment to score" + (f" ({len(left_out)} line(s) left out: e.g. line "
                                                             f"{next(iter(left_out))}: {next(iter(left_out.values()))})"
                                                             if left_out else ""))
    return Annotations(path, segments, left_out, notes, sorted(missing), no_video, whole_seconds)


def _annotation_line(row: list[str], header: list[str], columns: dict[str, int | None],
                     per_second: dict[str, float], path: Path, line: int) -> tuple[float, float, dict[str, str]]:
    """(start, end, the cells by field) of one line of an annotations table; DatasetError naming the line where it
    cannot be read: more cells than the header names, a time that is none, an end not after its start."""
    if len(row) > len(header) and any(cell.strip() for cell in row[len(header):]):
        raise DatasetError(f"{path}, line {line}: {len(row)} cells, and the header names {len(header)} (a "
                           "separator inside a cell must be quoted)")
    row = row + [""] * (len(header) - len(row))
    cell = {name: row[index].strip() for name, index in columns.items() if index is not None}
    start, end = _segment_times(cell, per_second, path, line)
    if not 0 <= start < end:
        raise DatasetError(f"{path}, line {line}: a segment from {start:g} s to {end:g} s (the end must come "
                           "after the start, and neither before 0)")
    return start, end, cell


# an unlabelled segments table's name column (`fervid video --segments`): a usability test's tasks, a lesson's parts
SEGMENT_NAME_COLUMNS = ("name", "segment", "task")
# a coder's columns, carried into the outputs beside the name (TimeSegment's tier and annotation): ELAN's export
# names them so; their values repeat, as codes do, where a name must not
SEGMENT_CODE_COLUMNS = {"tier": ("tier",), "annotation": ("annotation", "label")}


def read_time_segments(path: str | Path, notes: list[str] | None = None) -> list[TimeSegment]:
    """The stretches of a recording a table names, to summarise on their own (`fervid video --segments`): columns
    ``start`` and ``end`` (as :func:`read_annotations` reads them: seconds, m:ss or h:mm:ss, or milliseconds where
    the column's name says so) and, optionally, ``name`` (or segment, task), and a coder's ``tier`` and
    ``annotation`` (or label), which may repeat. A time that is not one, an end not after its start, or two segments
    of one name raise DatasetError naming the lines. ``notes`` is given what a
    reader should know of how it was read: columns read as milliseconds, columns not read (a misspelt ``nmae``)."""
    path = Path(path)
    header, rows = _segments_table(path, "segments file", "start,end,name")
    columns = {name: _column(header, name, path) for name in ("start", "end")}
    name_column = find_column(header, SEGMENT_NAME_COLUMNS)
    per_second = _per_second(header, columns)
    code_columns = {key: find_column(header, names) for key, names in SEGMENT_CODE_COLUMNS.items()}
    said = [f"{path}: {header[columns[name]].strip()!r} read as milliseconds" for name in ("start", "end")
            if per_second[name] != 1.0]
    ignored = [str(column).strip() for index, column in enumerate(header)
               if index not in (*columns.values(), name_column, *code_columns.values()) and str(column).strip()]
    if ignored:
        said.append(f"{path}: column(s) {', '.join(map(repr, ignored))} not read (a segment's name is read from a "
                    f"column named {', '.join(SEGMENT_NAME_COLUMNS)}" + ("" if name_column is None else
                                                                         f"; {header[name_column].strip()!r} is it")
                    + "; a coder's codes, which may repeat, from columns named tier and annotation or label)")
    if notes is not None:
        notes.extend(said)
    segments: list[TimeSegment] = []
    named: dict[str, int] = {}  # a name -> the line that gave it first
    for line, row in rows:
        cells = {name: row[index].strip() if index < len(row) else "" for name, index in columns.items()}
        start, end = _segment_times(cells, per_second, path, line)
        if not 0 <= start < end:
            raise DatasetError(f"{path}, line {line}: a segment from {start:g} s to {end:g} s (the end must come "
                               "after the start, and neither before 0)")
        name = row[name_column].strip() if name_column is not None and name_column < len(row) else ""
        problem = segment_name_problem(name)
        if problem is not None:
            raise DatasetError(f"{path}, line {line}: {problem}: rename it")
        if name and named.setdefault(name, line) != line:  # its rows in the outputs could not be told apart
            raise DatasetError(f"{path}, lines {named[name]} and {line}: two segments named {name!r} (give each its "
                               "own name; a code that repeats, as a coder's do, goes in a column named annotation "
                               "or label, carried into the outputs beside the name)")
        codes = {key: row[index].strip() if index is not None and index < len(row) else ""
                 for key, index in code_columns.items()}
        segments.append(TimeSegment(start, end, name, **codes))
    if not segments:
        raise DatasetError(f"{path}: no segments (a header line, then one line per segment: start,end,name)")
    return segments


def _check_overlaps(segments: list[Segment], path: Path) -> None:
    """Two segments of one face at the same time would score its frames twice, against two labels."""
    by_face: dict[tuple, list[Segment]] = {}
    for segment in segments:
        by_face.setdefault((segment.video, segment.track), []).append(segment)
    for stretch in by_face.values():
        stretch.sort(key=lambda s: s.start)
        for before, after in zip(stretch, stretch[1:]):
            if after.start < before.end:
                raise DatasetError(f"{path}, lines {before.line} and {after.line}: segments of one face overlap "
                                   f"({before.start}-{before.end} s and {after.start}-{after.end} s); give each "
                                   "stretch one label (or the faces' track numbers in a track column)")


def segment_frames(table: pd.DataFrame, segment: Segment) -> tuple[pd.DataFrame, int | None, int]:
    """The rows of ``table`` (a video's per-frame table) that score ``segment``, the track they are of (None where
    no face is found in it) and how many tracks were seen in it: the segment's own track, or the one in most of its
    frames (ties: the larger face)."""
    inside = table[(table["time"] >= segment.start) & (table["time"] < segment.end)]
    seen = int(inside["track"].nunique())
    if segment.track is not None:
        inside = inside[inside["track"] == segment.track]
        return inside, (segment.track if len(inside) else None), seen
    if inside.empty:
        return inside, None, 0
    sizes = inside.assign(area=inside["width"] * inside["height"]).groupby("track").agg(
        frames=("time", "size"), area=("area", "mean"))
    track = int(sizes.sort_values(["frames", "area"], ascending=False).index[0])
    return inside[inside["track"] == track], track, seen


@dataclass
class _TableFace(FrameFace):
    """A face read back from a frames table: its label is the table's ``emotion`` (the most probable of the
    unrounded probabilities), not that of the probabilities as the table rounds them."""

    label: str = EMOTIONS[0]

    @property
    def emotion(self) -> str:
        return self.label


# a frames table's times are written to 4 decimals: each run of one label's seconds is off by up to one such step
_ROUNDED_SECONDS = 10.0 ** -TIME_DECIMALS


class FrameIndex(NamedTuple):
    """A video's per-frame table as :func:`segment_summary` reads it for each of its segments, sorted once per video
    (sorted again for every segment, an hour's table took seconds): the times of its frames, each once and in
    order, and each track's rows in time order."""

    times: np.ndarray
    tracks: dict[int, pd.DataFrame]

    @classmethod
    def of(cls, table: pd.DataFrame) -> FrameIndex:
        tracks = table.groupby("track", sort=False)  # (its keys, track numbers, typed as any scalar)
        return cls(np.unique(table["time"].to_numpy(float)),
                   {int(cast(int, track)): rows.sort_values("time") for track, rows in tracks})


def segment_summary(frames: FrameIndex, track: int, start: float, until: float, rate: float,
                    detect_every: float = 0.0) -> TrackSummary | None:
    """``track``'s summary over ``start`` to ``until`` (a segment, cut to the stretch analysed), by the very code
    that gives ``fervid video --segments``'s (:class:`fervid.inference.video.SegmentLogs`), fed the frames of
    ``frames`` (a video's per-frame table) as the analysis fed it: each row lasting until the next, the row in
    effect at the segment's start (the face on the frame before it, or its row before a dropout the start falls in,
    where it is back before a gap) beginning it, its last row lasting to the end
    where the frames after it say the whole track's does, a gap (the face unseen longer
    than :func:`~fervid.inference.video.gap_seconds` allows) not counted as seen; its ``dominant_emotion`` is the
    segment's label (the emotion of the most time, a tie the higher mean probability, then the first in EMOTIONS).
    ``rate``: the frames analysed a second. A frame with no face is not in the table: where its times are further
    apart than the spacing, the frames between are taken to have come without one (a variable-frame-rate stretch in
    which none came counts as one in which the face was not seen). Its ``dominant_emotion``, ``emotion_share``,
    ``mean_probabilities`` and ``mean_box`` are over the face's rows inside it, None where none is (``frames`` 0:
    seen there for the row in effect only), as the analysis's are. None where the face was not seen in it (as the
    analysis's segments leave out such a track)."""
    own = frames.tracks.get(track)
    if own is None:
        return None
    spacing = 1 / rate
    own_times = own["time"].to_numpy(float)
    own_probabilities, own_labels = own[list(EMOTIONS)].to_numpy(float), own["emotion"].to_numpy()
    # where the face was: a frames table's boxes (a table without them has no mean box, rather than 0s read as one)
    box_columns = ["x", "y", "width", "height"]
    boxed = set(box_columns) <= set(own.columns)
    own_boxes = own[box_columns].to_numpy(float) if boxed else np.zeros((len(own), 4))
    # (its uncertain_share: a table a study made itself may have no such column)
    own_uncertain = own["uncertain"].to_numpy(bool) if "uncertain" in own else np.zeros(len(own), bool)
    # (the whole track's spacing, as TrackLog.spacing has it at the end: a segment's last row lasts as the whole
    # track's does, as the analysis gives it)
    recent = np.diff(own_times[-16:])
    whole_spacing = max(spacing, float(np.median(recent))) if len(recent) else spacing
    logs = SegmentLogs([TimeSegment(start, until)], spacing, detect_every)
    no_image = np.zeros((0, 0, 3), np.uint8)
    fed = []
    # from the last frame before the start (its face, if any, is the row in effect there), or the face's last row
    # before it where the frames since came without it for less than a gap (a dropout: that row is in effect at the
    # start if the face is back in time), to the frames after the end that say how the face's last row in it ends
    first_time = frames.times[max(int(np.searchsorted(frames.times, start - TIME_TOLERANCE)) - 1, 0)]
    before = int(np.searchsorted(own_times, start - TIME_TOLERANCE))
    if before and start - own_times[before - 1] <= logs.gap + 2 * spacing:  # (longer ago: a gap at the start)
        first_time = min(first_time, own_times[before - 1])
    for t in _frame_times(frames.times, int(np.searchsorted(frames.times, first_time)), spacing):
        at = int(np.searchsorted(own_times, t))
        face = None
        if at < len(own_times) and own_times[at] == t:
            probabilities = tuple(float(p) for p in own_probabilities[at])
            x, y, width, height = (float(v) for v in own_boxes[at])
            face = _TableFace(t, 0, track, (x, y, width, height), probabilities, probabilities,
                              bool(own_uncertain[at]), True, label=own_labels[at])
        logs.add(AnalysedFrame(t, 0, no_image, [face] if face is not None else []))
        if face is not None and t < until - TIME_TOLERANCE:  # (the row carried in too: a run of its time)
            fed.append(face.label)
        if logs.settled:
            break
    runs = 1 + sum(a != b for a, b in zip(fed, fed[1:]))
    log = logs.logs[0].get(track)
    summary = log.summary(until, whole_spacing, within=(runs + 1) * _ROUNDED_SECONDS) if log is not None else None
    if summary is None or not (summary["frames"] or summary["seen_seconds"]):
        return None
    return summary if boxed else {**summary, "mean_box": None}


def _frame_times(times: np.ndarray, first: int, spacing: float) -> Iterator[float]:
    """The times of a video's analysed frames from ``times[first]`` on, ``times`` being its frames table's: a frame
    with no face is not in the table, so where two are further apart than the ``spacing``, the frames between are
    taken to have come without one."""
    for before, after in zip(times[first:], times[first + 1:]):
        yield float(before)
        if after - before > 1.5 * spacing:
            yield from (float(t) for t in np.arange(before + spacing, after - spacing / 2, spacing))
    if first < len(times):
        yield float(times[-1])


class AnalysedFrames(NamedTuple):
    """A video's per-frame table as :func:`score_segments` scores it: the rate in frames per second at which it
    was analysed, and the stretch analysed on the file's timeline, ``start`` to ``end`` (a whole video's: 0 to its
    end). ``to_video_end``: whether ``end`` is the video's own end, not an ``--end`` asked of the analysis (or
    where it broke off). A plain ``(table, rate, end)`` is a whole video's."""

    table: pd.DataFrame
    rate: float
    end: float
    start: float = 0.0
    to_video_end: bool = True
    detect_every: float = 0.0  # seconds between its detection rounds (a track's absence that long is no gap)

    @property
    def stretch(self) -> str:
        return f"{self.start:.2f}-{self.end:.2f} s"


@dataclass
class VideoScores:
    """Frame and segment rows of every scored segment, what was not scored, and what a reader of the scores should
    know of a line that was (``warnings``: a segment cut where the analysis did not cover it)."""

    frames: pd.DataFrame  # video, line, time, track, label, predicted, then the 7 probabilities
    # video, line, start, end (both cut to the stretch analysed), track, label, predicted, frames, found (share of
    # its time)
    segments: pd.DataFrame
    not_scored: dict[int, str] = field(default_factory=dict)  # line -> why (no face found, the video failed)
    annotated_seconds: float = 0.0  # the segments' time in the videos analysed
    found_seconds: float = 0.0  # the part of it in which the segment's face was found
    # lines without a track scored on one of several faces (tracks) seen in them: two people, or one who left and
    # came back (a new track)
    several_faces: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def found_share(self) -> float:
        """Share of the annotated time (in the videos analysed) in which the face was found."""
        return self.found_seconds / self.annotated_seconds if self.annotated_seconds else 0.0


def score_segments(annotations: Annotations,
                   tables: Mapping[Path, AnalysedFrames | tuple[pd.DataFrame, float, float]],
                   failed: dict[Path, str] | None = None, margin: float = 0.0) -> VideoScores:
    """Each segment against its video's per-frame table. ``tables``: video -> its :class:`AnalysedFrames` (or
    ``(per-frame table, rate, seconds analysed)`` of a whole video); ``failed``: video -> why it gave no table. A
    segment is cut to the stretch analysed (an annotation running past a video's end, or outside an analysis's
    ``--start``/``--end``, does not count as time in which no face was found): one wholly outside it is not scored,
    and a part outside it of more than a frame's spacing is said in ``warnings``, naming the line. A segment (or
    what is left of it) shorter than the analysed frames' spacing may hold no analysed frame and is not scored (nor
    counted in the found share). Two segments that score one face's frame (a segment with no track and one naming
    the track it resolves to) raise DatasetError naming their lines. ``margin``: seconds at each end of a segment
    whose frames are not scored (an annotator's boundary is approximate, and a temporal method lags a change); the
    face is still looked for there, for the found share."""
    if not (np.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be 0 or more seconds, not {margin}")
    failed = failed or {}
    frame_rows, segment_rows, not_scored, several, warnings = [], [], {}, [], []
    annotated_seconds = found_seconds = 0.0
    scored_by: dict[tuple, int] = {}  # (video, track, time) -> the line that scored it
    indexed: dict[Path, FrameIndex] = {}  # video -> its table, as segment_summary reads it
    hinted: set[Path] = set()  # the videos whose times were looked at for milliseconds read as seconds
    for segment in annotations.segments:
        if segment.video in failed:
            not_scored[segment.line] = failed[segment.video]
            continue
        analysed = AnalysedFrames(*tables[segment.video])
        table, rate = analysed.table, analysed.rate
        if segment.video not in hinted:  # (at its first segment: said once a video, before its lines' warnings)
            hinted.add(segment.video)
            hint = _milliseconds_hint(annotations, segment.video, analysed)
            if hint:
                warnings.append(hint)
        if segment.start >= analysed.end and analysed.to_video_end:
            not_scored[segment.line] = f"starts after the analysed video's end ({analysed.end:.2f} s)"
            continue
        if segment.start >= analysed.end or segment.end <= analysed.start:
            not_scored[segment.line] = f"outside the stretch analysed ({analysed.stretch})"
            continue
        start, end = max(segment.start, analysed.start), min(segment.end, analysed.end)
        rows, track, seen = segment_frames(table, segment)
        if track is None and (end - start) * rate < 1:
            if start > segment.start or end < segment.end and not analysed.to_video_end:
                why = f"only {end - start:.2f} s of it is in the stretch analysed ({analysed.stretch})"
            elif end < segment.end:  # (13.99-14.5 s of a 14 s video: not the segment's length)
                why = f"only {end - start:.2f} s of it is before the video's end ({end:.2f} s)"
            else:
                why = f"shorter than the spacing of the frames analysed ({1 / rate:.2f} s)"
            not_scored[segment.line] = f"{why}: no frame may fall in it"
            continue
        # a part outside the stretch asked of the analysis that could hold an analysed frame: the annotated time
        # it leaves out is said
        cut = [(segment.start, start)] + ([] if analysed.to_video_end else [(end, segment.end)])
        outside = [f"{a:g}-{b:g} s" for a, b in cut if b - a > 1 / rate]
        # past the end by more than a frame's spacing: not an end put at the video's last moment
        if analysed.to_video_end and segment.end - end > 1 / rate:
            warnings.append(f"{annotations.source}, line {segment.line}: the segment {segment.start:g}-"
                            f"{segment.end:g} s ends {segment.end - end:.2f} s after the video's end ({end:.2f} s); "
                            "cut there")
        if outside:
            warnings.append(f"{annotations.source}, line {segment.line}: {' and '.join(outside)} of the segment "
                            f"{segment.start:g}-{segment.end:g} s is outside the stretch analysed "
                            f"({analysed.stretch}), not scored")
        expected = max(1, round((end - start) * rate))
        found = min(1.0, len(rows) / expected)
        annotated_seconds += end - start
        found_seconds += (end - start) * found
        if track is None:
            not_scored[segment.line] = ("no face found in it" if segment.track is None
                                        else f"track {segment.track} is not in it")
            continue
        if segment.track is None and seen > 1:
            several.append(segment.line)
        if margin:
            rows = rows[(rows["time"] >= start + margin) & (rows["time"] < end - margin)]
        # its label: over the time scored, as `fervid video --segments` would summarise that stretch
        if segment.video not in indexed:
            indexed[segment.video] = FrameIndex.of(table)
        summary = segment_summary(indexed[segment.video], track, start + margin, end - margin, rate,
                                  analysed.detect_every)
        if rows.empty or summary is None:
            not_scored[segment.line] = f"no frame of its face more than {margin:g} s from its ends (--margin)"
            continue
        for t in rows["time"]:
            other = scored_by.setdefault((segment.video, track, t), segment.line)
            if other != segment.line:
                raise DatasetError(f"{annotations.source}, lines {other} and {segment.line}: both score track "
                                   f"{track}'s frame at {t:.2f} s of {segment.video.name} (a segment without a "
                                   "track is scored on the face seen most in it); give each stretch of a face one "
                                   "label")
        predicted = rows["emotion"].map(EMOTIONS.index).to_numpy()
        # (the video's name as every table records it: its bytes read as UTF-8, whatever the locale)
        frame_rows.append(pd.DataFrame({"video": recorded_name(segment.video), "line": segment.line,
                                        "time": rows["time"], "track": track, "label": EMOTIONS[segment.label],
                                        "predicted": [EMOTIONS[i] for i in predicted]})
                          .join(rows[list(EMOTIONS)]))
        segment_rows.append({"video": recorded_name(segment.video), "participant": segment.participant,
                             "line": segment.line,
                             "start": round(start, TIME_DECIMALS), "end": round(end, TIME_DECIMALS),
                             "track": track, "label": EMOTIONS[segment.label],
                             "predicted": summary["dominant_emotion"],
                             "frames": len(rows),
                             "found": round(found, 4)})
    frames = (pd.concat(frame_rows, ignore_index=True) if frame_rows else
              pd.DataFrame(columns=["video", "line", "time", "track", "label", "predicted", *EMOTIONS]))
    segments = pd.DataFrame(segment_rows, columns=["video", "participant", "line", "start", "end", "track", "label",
                                                   "predicted", "frames", "found"])
    return VideoScores(frames, segments, not_scored, annotated_seconds, found_seconds, several, warnings)


def _milliseconds_hint(annotations: Annotations, video: Path, analysed: AnalysedFrames) -> str | None:
    """What to say where a table's times may be milliseconds read as seconds (a column named "Begin", "start"):
    every one a whole number, every segment of ``video`` ending after its end and one wholly after it, and all of
    them inside it read as milliseconds; else None."""
    own = [segment for segment in annotations.segments if segment.video == video]
    if not (annotations.whole_seconds and analysed.to_video_end and own):
        return None
    if not (all(segment.end > analysed.end for segment in own) and any(segment.start >= analysed.end for segment in own)
            and max(segment.end for segment in own) / 1000 <= analysed.end + 1 / analysed.rate):
        return None
    return (f"{annotations.source}: every time in it is a whole number, read as seconds, and every segment of "
            f"{video.name} ends after the video's end ({analysed.end:.2f} s): did you mean milliseconds? name the "
            "columns start_ms and end_ms")


# Fewer segments than this give no interval (see intervals.MIN_INTERVAL_GROUPS)
MIN_INTERVAL_SEGMENTS = MIN_INTERVAL_GROUPS


@dataclass(frozen=True)
class IntervalGroups:
    """What the intervals of a video evaluation resample. Segments of one person, or of one video, are no
    independent draws: the intervals resample participants where the table names every scored segment's, else
    videos, each with all its segments and frames. Under :data:`MIN_INTERVAL_GROUPS` of them (10 segments of one
    video were "bootstrap over 10 segments", as if of ten people) they resample segments, and say that they
    describe those segments only."""

    # each scored segment's group (its participant or video), in the segments table's order; None: the segments
    # are resampled one by one (too few groups)
    groups: list[str] | None
    groups_are: str  # "participants" or "videos"; "segments" where ``groups`` is None
    videos: int
    participants: int | None  # None: the table names no participant (for some scored segment)
    note: str  # what the intervals resample, and what they describe, in words

    @classmethod
    def of(cls, segments: pd.DataFrame) -> IntervalGroups:
        """The groups of ``segments`` (:attr:`VideoScores.segments`)."""
        videos = int(segments["video"].nunique())
        named = bool(len(segments)) and bool(segments["participant"].astype(bool).all())
        participants = int(segments["participant"].nunique()) if named else None
        column, count = ("participant", participants) if participants is not None else ("video", videos)
        if count >= MIN_INTERVAL_GROUPS:
            return cls(segments[column].astype(str).tolist(), f"{column}s", videos, participants,
                       f"the intervals resample the {count} participants, each with all their segments and frames"
                       if participants is not None else
                       f"the intervals resample the {count} videos, each with all its segments and frames (no "
                       "participant column names each line's person: one person's videos count as independent)")
        whose = f"{count} {column}{'s' if count != 1 else ''}"
        these = (f"this {'person' if participants is not None else 'video'}'s" if count == 1 else
                 f"these {column}s'")
        return cls(None, "segments", videos, participants,
                   f"the intervals are over the segments of {whose} ({column}s too few for an interval over them: "
                   f"{MIN_INTERVAL_GROUPS} are needed): they describe {these} segments only, and cannot be carried "
                   "to other people")

    def method(self, method: str) -> str:
        """An interval's ``method`` ("bootstrap over 10 segments", "Wilson") with what it is over where that is
        segments of too few videos or people: "bootstrap over 10 segments, of 1 video only"."""
        if self.groups is not None or not method or method.startswith("none: "):
            return method
        count, what = ((self.participants, "participant") if self.participants is not None else
                       (self.videos, "video"))
        return f"{method}, of {count} {what}{'s' if count != 1 else ''} only"

    def to_dict(self) -> dict:
        """As metrics.json records it."""
        return {"resampled": self.groups_are, "videos": self.videos, "participants": self.participants,
                "note": self.note}


def _nearness(named: str, video: Path, read_from: tuple[Path, ...]) -> tuple[int, int]:
    """How near an analysis's recorded name of a video (``named``) is to ``video``, for ordering: (2, 0) where it is
    its absolute path; (1, 0) where, a relative name read from one of ``read_from`` (here, the annotations'
    folder), it is this very file; else (0, how many of its path's last parts the name ends in: ``p1/session.mp4``
    is nearer ``.../p1/session.mp4`` than ``p2/session.mp4`` is; a name is often relative to where its analysis
    ran)."""
    if Path(named).is_absolute():
        if Path(named).resolve() == video:
            return 2, 0
    elif any((folder / named).resolve() == video for folder in read_from):
        return 1, 0
    common = 0
    for own, theirs in zip(reversed(video.parts), reversed(Path(os.path.normpath(named)).parts)):
        if own != theirs:
            break
        common += 1
    return 0, common


def _closest_names(candidates: list[tuple[str, Path, dict]], video: Path, read_from: tuple[Path, ...]
                   ) -> list[tuple[str, Path, dict]]:
    """Of several analyses of videos named as ``video`` is (the video as named, tracks JSON, its contents), those
    that may be of it: the nearest by :func:`_nearness` (several: none nearer than another, or this file analysed
    more than once)."""
    nearest = max(_nearness(item[0], video, read_from) for item in candidates)
    return [item for item in candidates if _nearness(item[0], video, read_from) == nearest]


def frames_from_results(results: Path, videos: list[Path], annotations_folder: Path | None = None
                        ) -> tuple[dict[Path, AnalysedFrames], dict[Path, str], dict[Path, dict]]:
    """The per-frame tables that an earlier ``fervid video`` (``results``: its output folder) or ``fervid batch``
    (its ``files/*/``) wrote for ``videos``, each with its analysis rate and the stretch analysed (its ``start``
    to its ``end_reached``), as :func:`score_segments` takes them; the videos with none, with why; and each
    video's tracks JSON (its settings, and ``error`` where its analysis stopped early or the file was cut short:
    the table covers what was analysed).

    A tracks JSON names its video as the command line gave it (often relative to where that command ran): a video is
    matched by its absolute path, or else (a relative name too: relative to where that analysis ran) by its file
    name where its length agrees (another file of the same name, in another session's folder, is not taken for it).
    Of several analysed videos of its name (``p1/session.mp4`` and ``p2/session.mp4``) it takes the one whose name,
    read from here or from ``annotations_folder``, is this very file, else the one whose name ends in the most of
    its path's last parts; where none is nearer than another it is refused. A video matched by name has
    ``matched_by_name`` set in its summary, unless its relative name read from here or ``annotations_folder`` is it.
    An analysis is of one video: where several of ``videos`` match one by name (``a/session.mp4`` and
    ``b/session.mp4``, one ``session.mp4`` analysed), it is the nearest one's (its absolute path, else this very
    file read from here or ``annotations_folder``, else the one whose path ends in the most of its name's parts)
    and the others are refused, naming it; where none is nearer than another, all are.

    Outputs written before 2026-12-06 (their tracks JSON records no ``fervid`` version) counted a video's times
    from its pictures' start, not its file's: where the pictures start later (an MP4 edit list, an MPEG-TS whose
    sound comes first), their times are moved onto the file's timeline, as annotations are made on it and as
    fervid now writes them, and the summary's ``times_moved_by`` says by how much."""
    from fervid.inference.images import recorded_path
    from fervid.inference.video import (TRACKS_JSON_SUFFIX, VideoError, container_facts, open_parquet,
                                        recorded_analysis_rate, times_offset_before_2026_12_06, written_tracks)

    suffix = TRACKS_JSON_SUFFIX
    # (the video as named, tracks JSON, its contents), from `fervid video`'s folder and `fervid batch`'s files/*/;
    # named as this locale opens it (the JSON records its name's UTF-8 bytes as text)
    written = [(recorded_path(summary["file"]), tracks_json, summary)
               for tracks_json, summary in written_tracks(results, f"*{suffix}", f"files/*/*{suffix}")]
    tables, failed, summaries = {}, {}, {}
    # where a relative name may be read from: here, and the annotations table's folder (its own paths' base)
    read_from = (Path.cwd(), *((annotations_folder,) if annotations_folder is not None else ()))
    # video -> (the video as the analysis named it, its tracks JSON, its summary, the stretch analysed)
    matched: dict[Path, tuple[str, Path, dict, float, float, bool]] = {}
    for video in videos:
        # a relative name was relative to where that analysis ran, not to here: matched as by name
        same = [item for item in written if Path(item[0]).is_absolute() and Path(item[0]).resolve() == video]
        by_name = not same
        if by_name:
            of_its_name = [item for item in written if Path(item[0]).name == video.name]
            same = _closest_names(of_its_name, video, read_from) if len(of_its_name) > 1 else of_its_name
            if len(same) > 1:
                failed[video] = (f"video {video}: {len(of_its_name)} videos named {video.name} were analysed in "
                                 f"{results}, none at this path and " + ", ".join(item[0] for item in same)
                                 + " as near it as each other (give the annotations' video paths as the analysis "
                                 "did)")
                continue
        if not same:
            failed[video] = f"video {video}: no fervid video outputs for it in {results}"
            continue
        named, tracks_json, summary = same[0]
        fps = float(summary.get("fps") or 30.0)  # (a frame's length, as the analysis timed its end)
        # the stretch analysed: from the start asked (--start) to where the analysis stopped, the video's end unless
        # it stopped at the --end asked or broke off
        start = float(summary.get("start") or 0.0)
        end = float(summary.get("duration") or 0.0)  # (end_reached, as written since --end)
        asked_end = summary.get("end")
        to_video_end = not summary.get("error") and (asked_end is None or end < float(asked_end) - 1 / fps)
        if by_name:
            # the file's length, not the stretch's: another file where it differs from a whole video's end, or
            # where it is shorter than a stretch's
            here = container_facts(video).seconds
            off = max(1.0, 0.05 * here) if here is not None else 0.0
            if here is not None and (abs(here - end) > off if to_video_end else here < end - off):
                failed[video] = (f"video {video}: the {video.name} analysed in {results} ({named}) "
                                 + (f"is {end:.1f} s long and this one {here:.1f} s" if to_video_end else
                                    f"was analysed up to {end:.1f} s and this one is {here:.1f} s long")
                                 + ": another file of the same name")
                continue
            if Path(named).is_absolute() or all((folder / named).resolve() != video for folder in read_from):
                # said, unless the relative name read from here (or from the annotations' folder) is this very
                # file (analysed from this folder)
                summary = {**summary, "matched_by_name": named}
        matched[video] = (named, tracks_json, summary, start, end, to_video_end)
    for video, why in _claimed_by_another(matched, results, read_from).items():
        del matched[video]
        failed[video] = why
    for video, (_, tracks_json, summary, start, end, to_video_end) in matched.items():
        try:
            # (opened by Python: a Latin-1 folder's name, see open_parquet)
            with open_parquet(tracks_json.with_name(tracks_json.name[: -len(suffix)] + "_frames.parquet")) as fh:
                table = pd.read_parquet(fh)
        except (OSError, ValueError) as exc:  # a table deleted or cut short since
            failed[video] = f"video {video}: its frames table in {tracks_json.parent} cannot be read ({exc})"
            continue
        if "fervid" not in summary:  # written before times were the file's
            try:
                moved = times_offset_before_2026_12_06(video)
            except VideoError:  # it cannot be opened now: its table is scored as it was written
                moved = 0.0
            if moved:
                table = table.assign(time=table["time"] + moved)
                start, end = (start + moved if start else 0.0), end + moved
                summary = {**summary, "times_moved_by": round(moved, 4)}
        tables[video] = AnalysedFrames(table, recorded_analysis_rate(summary), end, start, to_video_end,
                                       float(summary.get("detect_every") or 0.0))
        summaries[video] = summary
    return tables, failed, summaries


def _claimed_by_another(matched: dict[Path, tuple[str, Path, dict, float, float, bool]], results: Path,
                        read_from: tuple[Path, ...]) -> dict[Path, str]:
    """The videos of ``matched`` (video -> the name its analysis recorded, its tracks JSON, ...) refused for the
    analysis they matched being another's, with why: of the videos that matched one analysis (two annotated
    ``session.mp4`` of different folders, one analysed), all but the nearest to its recorded name
    (:func:`_nearness`), or all where none is nearer than another."""
    by_analysis: dict[Path, list[Path]] = {}
    for video, (_, tracks_json, *_rest) in matched.items():
        by_analysis.setdefault(tracks_json, []).append(video)
    refused = {}
    for tracks_json, claimants in by_analysis.items():
        if len(claimants) < 2:
            continue
        named = matched[claimants[0]][0]
        nearness = {video: _nearness(named, video, read_from) for video in claimants}
        nearest = [video for video in claimants if nearness[video] == max(nearness.values())]
        analysis = f"the {Path(named).name} analysed in {results} ({named}, {tracks_json.name})"
        for video in claimants:
            if len(nearest) > 1 and video in nearest:
                others = ", ".join(str(other) for other in nearest if other != video)
                refused[video] = (f"video {video}: {analysis} may be this video's or {others}'s, its recorded path "
                                  "no nearer one than another (give the annotations' video paths as the analysis "
                                  "did)")
            elif video not in nearest:
                refused[video] = (f"video {video}: {analysis} is {nearest[0]}'s, whose path is nearer its recorded "
                                  f"one; this video has no analysis of its own in {results}")
    return refused


