"""Scoring fervid's video labels against your own annotations of the videos: segments, each a stretch of one video
with the emotion an annotator saw there (``video,start,end,emotion``; optional ``track``).

Each segment is scored on one face: the track its ``track`` column names (fervid's track number, from an earlier
``fervid video`` of the same file), or else the track seen in most of the segment's analysed frames (the person the
video is about). Two scores come out, both against the segment's label:

- per frame: every analysed frame of that face inside the segment, with the label fervid gives that frame (its
  temporal method's, as in ``<name>_frames.csv``);
- per segment: the label fervid gives the segment as a whole, the most frequent of its frames' labels (a tie goes to
  the tied emotion with the higher mean probability).

Frames of one segment are not independent draws, so the per-frame accuracy's interval is a bootstrap over segments,
not the binomial interval the photo datasets get. A segment where the face is never found counts as not scored, and
the share of the annotated time in which it was found is reported beside the scores.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fervid.emotions import EMOTION_ALIASES, EMOTIONS
from fervid.evaluation.datasets import DatasetError

# the column names accepted for each field, compared without case or surrounding spaces (ELAN's tab-delimited
# export says "Begin Time - ss.msec", hence the prefixes)
COLUMNS = {"video": ("video", "file", "path"), "start": ("start", "begin", "onset"),
           "end": ("end", "stop", "offset"), "emotion": ("emotion", "label"), "track": ("track",)}
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")


@dataclass(frozen=True)
class Segment:
    """One annotated stretch of a video; ``line`` is its line in the annotations file (the header is line 1)."""

    video: Path
    start: float
    end: float
    label: int  # index into EMOTIONS
    line: int
    track: int | None = None


@dataclass
class Annotations:
    """The segments read from an annotations file, and the lines left out with why (line number -> reason)."""

    source: Path
    segments: list[Segment]
    left_out: dict[int, str] = field(default_factory=dict)

    @property
    def videos(self) -> list[Path]:
        return sorted({s.video for s in self.segments})


def parse_time(value) -> float:
    """Seconds from ``12.5``, ``1:02.5`` (m:ss) or ``0:01:02.5`` (h:mm:ss)."""
    text = str(value).strip()
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    seconds = float(text)  # ValueError for anything else, caught by the caller with the line
    if not np.isfinite(seconds):
        raise ValueError(text)
    return seconds


def _column(frame: pd.DataFrame, name: str, path: Path, required: bool = True) -> str | None:
    for column in frame.columns:
        words = str(column).strip().lower()
        if any(words == accepted or words.startswith(f"{accepted} ") for accepted in COLUMNS[name]):
            return column
    if required:
        raise DatasetError(f"{path}: no {name} column (one of {', '.join(COLUMNS[name])}); its columns are "
                           f"{', '.join(map(str, frame.columns))}")
    return None


def looks_like_annotations(path: str | Path) -> bool:
    """Whether a table's header names a video, a start and an end (``--dataset auto`` tells it from FER2013's CSV,
    whose columns are emotion, pixels and Usage)."""
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            first = f.readline(10_000)
        if "\0" in first:  # binary, such as FER2013's .csv.gz (Python 3.10's csv raises on it)
            return False
        header = pd.DataFrame(columns=next(csv.reader([first], csv.Sniffer().sniff(first, delimiters=",\t;"))))
    except (OSError, csv.Error, StopIteration):
        return False
    return all(_column(header, name, Path(path), required=False) is not None for name in ("video", "start", "end"))


def read_annotations(path: str | Path) -> Annotations:
    """The segments of an annotations table (CSV, or tab- or semicolon-separated: the separator is sniffed).
    Video paths are read relative to the table's folder. A line whose emotion is not one of fervid's 7 (contempt,
    say) or whose video is not there is left out with its reason; a time that is not a time, an end before its
    start or two segments of one face that overlap raise DatasetError naming the lines."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such annotations file")
    try:
        table = pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: not a table of segments ({exc})") from None
    columns = {name: _column(table, name, path, required=name != "track") for name in COLUMNS}
    segments, left_out = [], {}
    for row_number, row in enumerate(table.itertuples(index=False), start=2):
        values = dict(zip(table.columns, row))
        try:
            start, end = (parse_time(values[columns[name]]) for name in ("start", "end"))
        except ValueError:
            raise DatasetError(f"{path}, line {row_number}: start {values[columns['start']]!r} / end "
                               f"{values[columns['end']]!r}: not times (seconds, m:ss or h:mm:ss)") from None
        if not 0 <= start < end:
            raise DatasetError(f"{path}, line {row_number}: a segment from {start} s to {end} s (the end must come "
                               "after the start, and neither before 0)")
        word = values[columns["emotion"]].strip().lower()
        if word not in EMOTION_ALIASES:
            left_out[row_number] = f"emotion {word!r} is not one of fervid's 7"
            continue
        track_text = values[columns["track"]].strip() if columns["track"] else ""
        if track_text and not track_text.isdigit():
            raise DatasetError(f"{path}, line {row_number}: track {track_text!r}: not a track number")
        video = Path(values[columns["video"]].strip())
        video = video if video.is_absolute() else path.parent / video
        if not video.is_file():
            left_out[row_number] = f"video {video} not found"
            continue
        segments.append(Segment(video, start, end, EMOTIONS.index(EMOTION_ALIASES[word]), row_number,
                                int(track_text) if track_text else None))
    _check_overlaps(segments, path)
    if not segments:
        raise DatasetError(f"{path}: no segment to score" + (f" ({len(left_out)} line(s) left out: e.g. line "
                                                             f"{next(iter(left_out))}: {next(iter(left_out.values()))})"
                                                             if left_out else ""))
    return Annotations(path, segments, left_out)


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


def segment_frames(table: pd.DataFrame, segment: Segment) -> tuple[pd.DataFrame, int | None]:
    """The rows of ``table`` (a video's per-frame table) that score ``segment``, and the track they are of (None
    where no face is found in it): the segment's own track, or the one in most of its frames (ties: the larger
    face)."""
    inside = table[(table["time"] >= segment.start) & (table["time"] < segment.end)]
    if segment.track is not None:
        inside = inside[inside["track"] == segment.track]
        return inside, (segment.track if len(inside) else None)
    if inside.empty:
        return inside, None
    sizes = inside.assign(area=inside["width"] * inside["height"]).groupby("track").agg(
        frames=("time", "size"), area=("area", "mean"))
    track = int(sizes.sort_values(["frames", "area"], ascending=False).index[0])
    return inside[inside["track"] == track], track


def segment_label(rows: pd.DataFrame) -> int:
    """The label of a segment as a whole: its frames' most frequent label; a tie goes to the tied emotion with the
    higher mean probability."""
    counts = rows["emotion"].value_counts()
    tied = counts[counts == counts.max()].index
    return max((EMOTIONS.index(e) for e in tied), key=lambda i: rows[EMOTIONS[i]].mean())


@dataclass
class VideoScores:
    """Frame and segment rows of every scored segment, and what was not scored."""

    frames: pd.DataFrame  # video, line, time, track, label, predicted, then the 7 probabilities
    # video, line, start, end (cut at the video's end), track, label, predicted, frames, found (share of its time)
    segments: pd.DataFrame
    not_scored: dict[int, str] = field(default_factory=dict)  # line -> why (no face found, the video failed)
    annotated_seconds: float = 0.0  # the segments' time in the videos analysed
    found_seconds: float = 0.0  # the part of it in which the segment's face was found

    @property
    def found_share(self) -> float:
        """Share of the annotated time (in the videos analysed) in which the face was found."""
        return self.found_seconds / self.annotated_seconds if self.annotated_seconds else 0.0


def score_segments(annotations: Annotations, tables: dict[Path, tuple[pd.DataFrame, float, float]],
                   failed: dict[Path, str] | None = None) -> VideoScores:
    """Each segment against its video's per-frame table. ``tables``: video -> (per-frame table, the rate in frames
    per second at which it was analysed, the seconds analysed); ``failed``: video -> why it gave no table. A
    segment is cut at the end of what was analysed (an annotation running past a video's end does not count as
    time in which no face was found)."""
    failed = failed or {}
    frame_rows, segment_rows, not_scored = [], [], {}
    annotated_seconds = found_seconds = 0.0
    for segment in annotations.segments:
        if segment.video in failed:
            not_scored[segment.line] = failed[segment.video]
            continue
        table, rate, duration = tables[segment.video]
        if segment.start >= duration:
            not_scored[segment.line] = f"starts after the analysed video's end ({duration:.2f} s)"
            continue
        end = min(segment.end, duration)
        rows, track = segment_frames(table, segment)
        expected = max(1, round((end - segment.start) * rate))
        found = min(1.0, len(rows) / expected)
        annotated_seconds += end - segment.start
        found_seconds += (end - segment.start) * found
        if track is None:
            not_scored[segment.line] = ("no face found in it" if segment.track is None
                                        else f"track {segment.track} is not in it")
            continue
        predicted = rows["emotion"].map(EMOTIONS.index).to_numpy()
        frame_rows.append(pd.DataFrame({"video": str(segment.video), "line": segment.line, "time": rows["time"],
                                        "track": track, "label": EMOTIONS[segment.label],
                                        "predicted": [EMOTIONS[i] for i in predicted]})
                          .join(rows[list(EMOTIONS)]))
        segment_rows.append({"video": str(segment.video), "line": segment.line, "start": segment.start,
                             "end": end, "track": track, "label": EMOTIONS[segment.label],
                             "predicted": EMOTIONS[segment_label(rows)], "frames": len(rows),
                             "found": round(found, 4)})
    frames = (pd.concat(frame_rows, ignore_index=True) if frame_rows else
              pd.DataFrame(columns=["video", "line", "time", "track", "label", "predicted", *EMOTIONS]))
    segments = pd.DataFrame(segment_rows, columns=["video", "line", "start", "end", "track", "label", "predicted",
                                                   "frames", "found"])
    return VideoScores(frames, segments, not_scored, annotated_seconds, found_seconds)


def bootstrap_frame_accuracy(frames: pd.DataFrame, resamples: int = 2000, seed: int = 0) -> list[float] | None:
    """95% interval of the per-frame accuracy, resampling whole segments (their frames move together)."""
    if frames.empty:
        return None
    per_segment = (frames.assign(hit=frames["label"] == frames["predicted"]).groupby("line")["hit"]
                   .agg(["sum", "size"]).to_numpy())
    picks = np.random.default_rng(seed).integers(0, len(per_segment), size=(resamples, len(per_segment)))
    hits, sizes = per_segment[:, 0][picks].sum(1), per_segment[:, 1][picks].sum(1)
    low, high = np.percentile(hits / sizes, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def frames_from_results(results: Path, videos: list[Path]
                        ) -> tuple[dict[Path, tuple[pd.DataFrame, float, float]], dict[Path, str], dict[Path, dict]]:
    """The per-frame tables that an earlier ``fervid video`` (``results``: its output folder) or ``fervid batch``
    (its ``files/*/``) wrote for ``videos``, each with its analysis rate and the seconds analysed, as
    :func:`score_segments` takes them; the videos with none, with why; and each video's tracks JSON (its settings,
    and ``error`` where its analysis stopped early or the file was cut short: the table covers what was analysed).

    A tracks JSON names its video as the command line gave it (often relative to where that command ran): a video is
    matched by its resolved path, or else by its file name where one video of that name was analysed."""
    suffix = "_tracks.json"
    written: list[tuple[str, Path, dict]] = []  # (the video as named, tracks JSON, its contents)
    for tracks_json in [*sorted(results.glob(f"*{suffix}")), *sorted(results.glob(f"files/*/*{suffix}"))]:
        try:
            summary = json.loads(tracks_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict) and isinstance(summary.get("file"), str):
            written.append((summary["file"], tracks_json, summary))
    tables, failed, summaries = {}, {}, {}
    for video in videos:
        same = [item for item in written if Path(item[0]).resolve() == video.resolve()]
        if not same:
            same = [item for item in written if Path(item[0]).name == video.name]
            if len(same) > 1:
                failed[video] = (f"video {video}: {len(same)} videos named {video.name} were analysed in {results}, "
                                 "none at this path (give the annotations' video paths as the analysis did)")
                continue
        if not same:
            failed[video] = f"video {video}: no fervid video outputs for it in {results}"
            continue
        _, tracks_json, summary = same[0]
        try:
            table = pd.read_parquet(tracks_json.with_name(tracks_json.name[: -len(suffix)] + "_frames.parquet"))
        except (OSError, ValueError) as exc:  # a table deleted or cut short since
            failed[video] = f"video {video}: its frames table in {tracks_json.parent} cannot be read ({exc})"
            continue
        fps = float(summary.get("fps") or 30.0)
        tables[video] = (table, min(fps, summary.get("sample_fps") or fps), float(summary.get("duration") or 0.0))
        summaries[video] = summary
    return tables, failed, summaries
