import json
import os

import numpy as np
import pandas as pd
import pytest

from fervid.emotions import EMOTIONS
from fervid.evaluation.datasets import DatasetError
from fervid.evaluation.segments import (Annotations, FrameIndex, Segment, parse_time,
                                        read_annotations, read_time_segments, score_segments, segment_summary)
from fervid.errors import OptionError
from fervid.inference.video import TimeSegment, VideoOptions
from conftest import needs_sample_clip


@pytest.fixture
def videos(tmp_path):
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"")  # read_annotations only checks that they are there
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_times_in_seconds_and_clock_forms():
    assert parse_time("12.5") == 12.5 and parse_time(" 3 ") == 3.0
    assert parse_time("1:02.5") == 62.5 and parse_time("0:01:02.5") == 62.5 and parse_time("1:00:00") == 3600
    for bad in ("", "abc", "1:2:3:4", "nan", "inf"):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_annotations_are_read_with_their_lines_and_what_is_left_out(videos):
    (videos / "ann.csv").write_text("video,start,end,emotion\n"
                                    "a.mp4,0,1.5,Happiness\n"  # an alias, in another case
                                    "a.mp4,0:01.5,0:03,neutral\n"
                                    "a.mp4,3,4,contempt\n"  # not one of the 7
                                    "c.mp4,0,1,sad\n"  # no such video
                                    "b.mp4,0,2,surprised\n"
                                    "b.mp4,2,3, \n", encoding="utf-8")  # no emotion ("emotion '' is not one ...")
    annotations = read_annotations(videos / "ann.csv")
    assert [(s.video.name, s.start, s.end, EMOTIONS[s.label], s.line) for s in annotations.segments] == [
        ("a.mp4", 0.0, 1.5, "happy", 2), ("a.mp4", 1.5, 3.0, "neutral", 3), ("b.mp4", 0.0, 2.0, "surprise", 6)]
    assert annotations.left_out == {4: "emotion 'contempt' is not one of fervid's 7",
                                    5: f"video {videos / 'c.mp4'} not found", 7: "no emotion given"}
    assert annotations.videos == [videos / "a.mp4", videos / "b.mp4"]
    assert annotations.missing_videos == [videos / "c.mp4"]


def test_a_line_naming_no_video_or_a_folder_says_so_and_is_no_video(videos):
    """An empty video cell read as the table's own folder, and a folder named passed as a video: both were left out
    as "<folder> not found" and counted among the videos named and missing."""
    (videos / "ann.csv").write_text("video,start,end,emotion\n"
                                    "a.mp4,0,2,happy\n"
                                    ",2,4,surprise\n"
                                    "sub,4,6,sad\n", encoding="utf-8")
    annotations = read_annotations(videos / "ann.csv")
    assert annotations.left_out == annotations.no_video == {3: "no video named",
                                                            4: f"{videos / 'sub'} is a folder, not a video"}
    assert annotations.missing_videos == [] and annotations.videos == [videos / "a.mp4"]


def test_an_elan_style_tab_separated_export_with_tracks_is_read(videos):
    (videos / "ann.txt").write_text("File\tBegin Time - ss.msec\tEnd Time - ss.msec\tLabel\tTrack\n"
                                    "a.mp4\t0.0\t2.0\tfear\t1\n"
                                    "a.mp4\t1.0\t2.0\tsad\t2\n", encoding="utf-8")  # another face, same time
    segments = read_annotations(videos / "ann.txt").segments
    assert [(s.start, s.end, EMOTIONS[s.label], s.track) for s in segments] == [(0.0, 2.0, "fear", 1),
                                                                                (1.0, 2.0, "sad", 2)]


@pytest.mark.parametrize("rows, message", [
    ("a.mp4,0,2,happy,\na.mp4,1.5,3,sad,\n", "lines 2 and 3: segments of one face overlap"),
    ("a.mp4,0,2,happy,\nsub/../a.mp4,1.5,3,sad,\n", "lines 2 and 3: segments of one face overlap"),  # one file
    ("a.mp4,0,2,happy,\na.mp4,2,1,sad,\n", "line 3: a segment from 2 s to 1 s"),
    ("a.mp4,0,two,happy,\n", "line 2: end 'two': not a time (seconds, m:ss or h:mm:ss)"),
    ("a.mp4,0:02,0:60,happy,\n", "line 2: end '0:60': not a time: a clock's seconds, and the minutes of h:mm:ss, "
                                "run 0-59"),
    ("a.mp4,,2,happy,\n", "line 2: no start given"),
    ("a.mp4,0,2,happy,,surplus\n", "line 2: 6 cells, and the header names 5"),
    ("a.mp4,0,2,happy,x\n", "line 2: track 'x': not a track number"),
    ("a.mp4,0,2,contempt,\n", "no segment to score (1 line(s) left out: e.g. line 2: emotion 'contempt'"),
])
def test_bad_annotations_name_the_file_and_line(videos, rows, message):
    (videos / "ann.csv").write_text(f"video,start,end,emotion,track\n{rows}", encoding="utf-8")
    with pytest.raises(DatasetError, match="ann.csv") as error:
        read_annotations(videos / "ann.csv")
    assert message in str(error.value)


def test_a_table_without_a_needed_column_says_which_and_what_it_has(videos):
    (videos / "ann.csv").write_text("item,from,to,emotion\na.mp4,0,1,happy\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no video column .*; its columns are item, from, to, emotion"):
        read_annotations(videos / "ann.csv")


@pytest.mark.parametrize("table", [
    "video_file,start_time,end_time,emotion_label\na.mp4,1,2.5,fear\n",
    "filename,Start-Time,End Time,Label\na.mp4,1,2.5,fear\n",
    "Clip\tBegin Time - ss.msec\tEnd Time - ss.msec\tAnnotation\na.mp4\t1.0\t2.5\tfear\n",  # ELAN's export
    "clip,start_time_ms,end_time_ms,emotion\na.mp4,1000,2500,fear\n",  # a unit after the name is still read
    "clip,start_frame,start_s,end_frame,end_sec,emotion\na.mp4,30,1,75,2.5,fear\n",  # seconds, not frame numbers
    "clip,video,onset,offset,annotation,emotion\nc7,a.mp4,1,2.5,smile,fear\n",  # video and emotion come first
])
def test_annotations_take_the_common_spellings_of_their_columns(videos, table):
    """`start_time`, `filename`, `video_file`, `clip`, `emotion_label` and ELAN's `Annotation` were refused ("no
    start column"), where `Start Time` and `File Name` were read."""
    (videos / "ann.txt").write_text(table, encoding="utf-8")
    (segment,) = read_annotations(videos / "ann.txt").segments
    assert (segment.video.name, segment.start, segment.end, EMOTIONS[segment.label]) == ("a.mp4", 1.0, 2.5, "fear")


def frame_rows(track, times, emotion, size=100, probability=0.8):
    rows = []
    for t in times:
        probs = dict.fromkeys(EMOTIONS, (1 - probability) / 6) | {emotion: probability}
        rows.append({"time": t, "track": track, "width": size, "height": size, **probs, "emotion": emotion})
    return rows


def test_each_segment_is_scored_on_its_main_face_and_cut_at_the_videos_end(tmp_path):
    video = tmp_path / "a.mp4"
    times = np.arange(0, 4, 0.2)  # 5 frames a second for 4 s
    table = pd.DataFrame(frame_rows(1, times[times < 3], "happy")  # the person the video is about, gone at 3 s
                         + frame_rows(2, times[(times >= 1) & (times < 1.4)], "sad", size=300))  # someone passing
    annotations = Annotations(tmp_path / "ann.csv", [
        Segment(video, 0.0, 2.0, EMOTIONS.index("happy"), line=2),
        Segment(video, 2.0, 5.0, EMOTIONS.index("neutral"), line=3),  # runs past the video's end (4 s)
        Segment(video, 1.0, 1.4, EMOTIONS.index("sad"), line=4, track=2),
        Segment(video, 4.5, 6.0, EMOTIONS.index("sad"), line=5)])
    scores = score_segments(annotations, {video: (table, 5.0, 4.0)})
    segments = scores.segments.set_index("line")
    assert segments.loc[2, ["track", "predicted", "frames", "found"]].tolist() == [1, "happy", 10, 1.0]
    assert segments.loc[3, ["end", "predicted", "frames", "found"]].tolist() == [4.0, "happy", 5, 0.5]
    assert segments.loc[4, ["track", "predicted", "frames"]].tolist() == [2, "sad", 2]
    assert scores.not_scored == {5: "starts after the analysed video's end (4.00 s)"}
    assert scores.warnings == [f"{tmp_path / 'ann.csv'}, line 3: the segment 2-5 s ends 1.00 s after the video's end "
                               "(4.00 s); cut there"]
    assert scores.several_faces == [2]  # someone passed: scored on the face seen most
    # the annotated time inside the video: 2 + 2 + 0.4 s, the face found in 2 + 1 + 0.4 of it
    assert scores.found_share == pytest.approx(3.4 / 4.4)
    assert len(scores.frames) == 10 + 5 + 2 and set(scores.frames.columns) >= {"video", "line", "time", "track",
                                                                                "label", "predicted", *EMOTIONS}
    assert (scores.frames.query("line == 3")["label"] == "neutral").all()


def test_a_video_that_failed_or_a_segment_without_its_face_is_not_scored(tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    table = pd.DataFrame(frame_rows(1, [0.0, 0.5], "happy"))
    annotations = Annotations(tmp_path / "ann.csv", [Segment(a, 1.0, 2.0, 3, line=2), Segment(a, 0.0, 1.0, 3, 3, 7),
                                                     Segment(b, 0.0, 1.0, 3, line=4)])
    scores = score_segments(annotations, {a: (table, 2.0, 2.0)}, failed={b: "video failed: not a video"})
    assert scores.not_scored == {2: "no face found in it", 3: "track 7 is not in it", 4: "video failed: not a video"}
    assert scores.segments.empty and scores.found_share == 0.0


def test_a_segments_label_is_its_emotion_of_most_time_and_a_tie_goes_to_the_surer_emotion():
    rows = pd.DataFrame(frame_rows(1, [0, 1], "sad", probability=0.9) + frame_rows(1, [2, 3], "fear", probability=0.5)
                        + frame_rows(1, [4], "happy"))

    def label(start, end):  # one frame a second
        return segment_summary(FrameIndex.of(rows), 1, start, end, 1.0)["dominant_emotion"]

    assert label(0, 5) == "sad"  # 2 s each of sad and fear: the surer
    assert label(2, 5) == "fear"  # 2 s fear, 1 s happy
    assert label(0.5, 2.5) == "sad"  # the frame at 0 s stands for its 0.5-1 s: 1.5 s sad, 0.5 s fear


def write_run(folder, stem, named, table, **summary):
    folder.mkdir(parents=True, exist_ok=True)
    table.to_parquet(folder / f"{stem}_frames.parquet")
    (folder / f"{stem}_tracks.json").write_text(json.dumps({"file": named, "fps": 30.0, "sample_fps": None,
                                                            "duration": 4.0, **summary}), encoding="utf-8")


def test_an_earlier_runs_tables_are_found_in_video_and_batch_folders_by_path_or_by_a_unique_name(tmp_path,
                                                                                               monkeypatch):
    from fervid.evaluation.segments import frames_from_results

    table = pd.DataFrame(frame_rows(1, [0.0, 0.1], "happy"))
    (tmp_path / "data").mkdir()
    videos = [tmp_path / "data" / name for name in ("p1.mp4", "p2.mp4", "p3.mp4", "cam.mp4")]
    run = tmp_path / "run"
    write_run(run, "p1", str(videos[0]), table, sample_fps=5.0)  # `fervid video` named it by its full path
    write_run(run / "files" / "3f2a", "p2", "p2.mp4", table, fps=25.0)  # `fervid batch`, run from data/
    write_run(run / "files" / "9c1b", "cam", "a/cam.mp4", table)  # two videos named cam.mp4, neither this one
    write_run(run / "files" / "0d4e", "cam", "b/cam.mp4", table)
    # another session's clip of the same name, 4 s long: this one is 1 s
    from conftest import clip_writer

    writer = clip_writer(tmp_path / "data" / "p5.mp4", 64, 64, 10.0)
    for _ in range(10):
        writer.write(np.zeros((64, 64, 3), np.uint8))
    writer.close()
    videos.append(tmp_path / "data" / "p5.mp4")
    write_run(run / "files" / "77aa", "p5", "session1/p5.mp4", table)
    monkeypatch.chdir(tmp_path)  # not where the batch ran: p2.mp4 is found by its name
    tables, failed, summaries = frames_from_results(run, videos)
    assert set(tables) == {videos[0], videos[1]}
    assert summaries[videos[1]]["matched_by_name"] == "p2.mp4" and "matched_by_name" not in summaries[videos[0]]
    assert failed.pop(videos[4]) == (f"video {videos[4]}: the p5.mp4 analysed in {run} (session1/p5.mp4) is 4.0 s "
                                     "long and this one 1.0 s: another file of the same name")
    assert tables[videos[0]][1:] == (5.0, 4.0, 0.0, True, 0.0)
    assert tables[videos[1]][1:] == (25.0, 4.0, 0.0, True, 0.0)
    assert tables[videos[1]][0]["emotion"].tolist() == ["happy", "happy"]
    assert failed == {videos[2]: f"video {videos[2]}: no fervid video outputs for it in {run}",
                      videos[3]: f"video {videos[3]}: 2 videos named cam.mp4 were analysed in {run}, none at this "
                                 "path and b/cam.mp4, a/cam.mp4 as near it as each other (give the annotations' video "
                                 "paths as the analysis did)"}
    assert summaries[videos[0]]["sample_fps"] == 5.0
    # read from where the batch ran, its relative name is this very file: matched, and no "by its name" said
    monkeypatch.chdir(tmp_path / "data")
    _, _, summaries = frames_from_results(run, videos[:2])
    assert "matched_by_name" not in summaries[videos[1]]


def write_clip(path, seconds, fps=10.0):
    from conftest import clip_writer

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = clip_writer(path, 64, 64, fps)
    for _ in range(round(seconds * fps)):
        writer.write(np.zeros((64, 64, 3), np.uint8))
    writer.close()
    return path


def test_same_named_videos_of_two_folders_are_told_apart_by_the_paths_the_analysis_gave(tmp_path, monkeypatch):
    """`cd study; fervid video p1/session.mp4 p2/session.mp4 --out res` (or `fervid batch p1 p2`), then `fervid
    evaluate --data ann.csv --results res` naming p1/session.mp4 and p2/session.mp4: both were refused as "2 videos
    named session.mp4 were analysed in res, none at this path", the relative names matched by file name alone."""
    from fervid.evaluation.segments import frames_from_results

    study = tmp_path / "study"
    p1, p2 = write_clip(study / "p1" / "session.mp4", 1.0), write_clip(study / "p2" / "session.mp4", 2.0)
    happy, sad = pd.DataFrame(frame_rows(1, [0.0, 0.1], "happy")), pd.DataFrame(frame_rows(1, [0.0, 0.1], "sad"))
    video_run, batch_run = study / "res", study / "bres"
    write_run(video_run, "p1_session", "p1/session.mp4", happy, duration=1.0)
    write_run(video_run, "p2_session", "p2/session.mp4", sad, duration=2.0)
    write_run(batch_run / "files" / "0b33", "session", "p1/session.mp4", happy, duration=1.0)
    write_run(batch_run / "files" / "8c52", "session", "p2/session.mp4", sad, duration=2.0)
    for run in (video_run, batch_run):
        monkeypatch.chdir(study)  # where the analysis ran, and the annotations' folder
        tables, failed, summaries = frames_from_results(run, [p1, p2])
        assert failed == {}
        assert tables[p1][0]["emotion"].tolist() == ["happy"] * 2 and tables[p2][0]["emotion"].tolist() == ["sad"] * 2
        assert not any("matched_by_name" in summary for summary in summaries.values())  # the paths it was given
        monkeypatch.chdir(tmp_path)  # elsewhere: read from the annotations' folder, as their paths are
        tables, failed, summaries = frames_from_results(run, [p1, p2], annotations_folder=study)
        assert failed == {} and tables[p2][0]["emotion"].tolist() == ["sad"] * 2
        assert not any("matched_by_name" in summary for summary in summaries.values())
    # the study moved since: p1/session.mp4 ends as its path does, p2/session.mp4 does not
    moved = tmp_path / "moved"
    study.rename(moved)
    p1, p2 = moved / "p1" / "session.mp4", moved / "p2" / "session.mp4"
    tables, failed, summaries = frames_from_results(moved / "res", [p1, p2])
    assert failed == {} and tables[p1][0]["emotion"].tolist() == ["happy"] * 2
    assert summaries[p1]["matched_by_name"] == "p1/session.mp4"  # said: it is a guess by its name
    # a third session.mp4, as near one as the other: still refused, naming both
    p3 = write_clip(moved / "p3" / "session.mp4", 1.0)
    _, failed, _ = frames_from_results(moved / "res", [p3])
    assert failed == {p3: f"video {p3}: 2 videos named session.mp4 were analysed in {moved / 'res'}, none at this "
                          "path and p1/session.mp4, p2/session.mp4 as near it as each other (give the annotations' "
                          "video paths as the analysis did)"}


def test_segments_outside_the_stretch_an_analysis_was_asked_for_are_not_scored_as_no_face(tmp_path,
                                                                                           monkeypatch):
    """`fervid video clip.mp4 --start 3 --end 7`, then `evaluate --results`: the segments before 3 s were scored as
    "no face found" (the tracks JSON's duration, 7, read as the seconds analysed from 0), lowering the found share,
    and a video matched by its name was refused as another file ("is 7.0 s long and this one 14.0 s")."""
    from fervid.evaluation.segments import AnalysedFrames, frames_from_results

    video, other = tmp_path / "clips" / "a.mp4", tmp_path / "b.mp4"
    times = np.arange(3, 7, 0.2)  # 5 frames a second, from 3 s to 7 s
    table = pd.DataFrame(frame_rows(1, times, "happy"))
    annotations = Annotations(tmp_path / "ann.csv", [
        Segment(video, 0.0, 2.0, 3, line=2), Segment(video, 2.0, 4.0, 3, line=3), Segment(video, 4.0, 6.0, 3, line=4),
        Segment(video, 6.0, 8.0, 3, line=5), Segment(video, 8.0, 10.0, 3, line=6),
        Segment(other, 2.0, 3.1, 3, line=7)])  # 0.1 s of it in the stretch, its face not seen there
    stretch = AnalysedFrames(table, 5.0, 7.0, start=3.0, to_video_end=False)
    scores = score_segments(annotations, {video: stretch, other: stretch._replace(table=table[table["time"] > 4])})
    assert scores.not_scored == {2: "outside the stretch analysed (3.00-7.00 s)",
                                 6: "outside the stretch analysed (3.00-7.00 s)",
                                 7: "only 0.10 s of it is in the stretch analysed (3.00-7.00 s): no frame may fall "
                                    "in it"}
    segments = scores.segments.set_index("line")
    assert segments[["start", "end", "frames"]].values.tolist() == [[3.0, 4.0, 5], [4.0, 6.0, 10], [6.0, 7.0, 5]]
    assert scores.found_share == 1.0  # the face was there all the time analysed
    assert scores.warnings == [
        f"{tmp_path / 'ann.csv'}, line 3: 2-3 s of the segment 2-4 s is outside the stretch analysed (3.00-7.00 s), "
        "not scored",
        f"{tmp_path / 'ann.csv'}, line 5: 7-8 s of the segment 6-8 s is outside the stretch analysed (3.00-7.00 s), "
        "not scored"]

    # read from the run's folder: its stretch, and a video matched by name is not another file for being longer
    write_clip(video, 10.0, fps=5.0)
    write_clip(other, 5.0, fps=5.0)
    run = tmp_path / "run"
    write_run(run, "a", "clips/a.mp4", table, fps=5.0, duration=7.0, end_reached=7.0, start=3.0, end=7.0)
    write_run(run, "b", "elsewhere/b.mp4", table, fps=5.0, duration=7.0, end_reached=7.0, start=3.0, end=7.0)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # not where the analysis ran: matched by name
    tables, failed, _ = frames_from_results(run, [video, other])
    assert tables[video][1:] == (5.0, 7.0, 3.0, False, 0.0)
    assert failed == {other: f"video {other}: the b.mp4 analysed in {run} (elsewhere/b.mp4) was analysed up to 7.0 "
                             "s and this one is 5.0 s long: another file of the same name"}
    # an --end past the video's end: it ran to the end, and the lengths must agree
    write_run(run, "a", "clips/a.mp4", table, fps=5.0, duration=10.0, end_reached=10.0, start=3.0, end=60.0)
    tables, _, _ = frames_from_results(run, [video])
    assert tables[video][1:] == (5.0, 10.0, 3.0, True, 0.0)


def test_an_annotations_table_is_told_from_fer2013_and_from_binary_files(tmp_path):
    """--dataset auto: a table with video, start and end columns is annotations. Python 3.10's csv raised "line
    contains NUL" on FER2013's .csv.gz."""
    import gzip

    from fervid.evaluation.segments import looks_like_annotations

    fer = "emotion,pixels,Usage\n3,1 2 3,PublicTest\n"
    (tmp_path / "fer.csv").write_text(fer, encoding="utf-8")
    (tmp_path / "fer.csv.gz").write_bytes(gzip.compress(fer.encode(), mtime=0))
    (tmp_path / "ann.csv").write_text("Video, Start ,End,emotion\na.mp4,0,1,happy\n", encoding="utf-8")
    (tmp_path / "elan.txt").write_text("File\tBegin Time - ss.msec\tEnd Time - ss.msec\tLabel\n", encoding="utf-8")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    assert [looks_like_annotations(tmp_path / name) for name in ("ann.csv", "elan.txt")] == [True, True]
    assert not any(looks_like_annotations(tmp_path / name)
                   for name in ("fer.csv", "fer.csv.gz", "empty.csv", "missing.csv"))
    assert b"\0" in (tmp_path / "fer.csv.gz").read_bytes()[:20]  # what made the old code fail on 3.10


def test_an_annotations_table_saved_as_unicode_text_is_told_from_fer2013(tmp_path):
    """Excel's "Unicode Text" (UTF-16 with a byte-order mark, tab-separated): its NUL bytes were taken for a binary
    file's, so --dataset auto read it as FER2013 ("'utf-8' codec can't decode byte 0xff")."""
    from fervid.evaluation.segments import looks_like_annotations

    for encoding in ("utf-16-le", "utf-16-be"):  # (Excel writes little-endian; the mark says which)
        table = tmp_path / f"ann_{encoding}.txt"
        table.write_bytes(("\ufeffvideo\tstart\tend\temotion\r\nclip.mp4\t0\t0.3\tneutral\r\n").encode(encoding))
        assert looks_like_annotations(table)
    (tmp_path / "fer.txt").write_text("emotion,pixels,Usage\n3,1 2 3,PublicTest\n", encoding="utf-16")
    assert not looks_like_annotations(tmp_path / "fer.txt")


def test_what_spreadsheets_and_elan_write_is_read_and_lines_are_the_files_lines(videos):
    """Excel's "CSV UTF-8" starts with a byte-order mark (the first column was "\\ufeffvideo"); its European CSV has
    semicolons, decimal commas, empty ;;; rows and Windows' encoding; ELAN can export milliseconds (read as seconds,
    0-2000 s scored as a perfect match); a blank line or a cell with a line break shifted every line number."""
    (videos / "excel.csv").write_bytes("\ufeffvideo;start;end;emotion;notes\n"
                                       "a.mp4;0;1,5;happy;\"smiles,\nthen laughs\"\n"  # a cell over two lines
                                       ";;;;\n"
                                       "\n"
                                       "a.mp4;00:00:01,500;00:00:03;Neutral ;Gr\u00fc\u00dfe\n"
                                       "a.mp4;3;4;contempt;\n"
                                       "a.mp4;4;5;Scared;\n".encode("utf-8"))  # a word for fear: suggested
    annotations = read_annotations(videos / "excel.csv")
    assert [(s.start, s.end, EMOTIONS[s.label], s.line) for s in annotations.segments] == [
        (0.0, 1.5, "happy", 2), (1.5, 3.0, "neutral", 6)]
    assert annotations.left_out == {7: "emotion 'contempt' is not one of fervid's 7",
                                    8: "emotion 'scared' is not one of fervid's 7 (did you mean fear?)"}
    (videos / "windows.csv").write_bytes("video;start;end;emotion;notes\na.mp4;0;1;sad;Gr\u00fc\u00dfe\n"
                                         .encode("cp1252"))
    assert [EMOTIONS[s.label] for s in read_annotations(videos / "windows.csv").segments] == ["sad"]
    (videos / "msec.txt").write_text("Tier\tBegin Time - msec\tEnd Time - msec\tFile\tLabel\n"
                                     "face\t0\t2000\ta.mp4\thappy\n", encoding="utf-8")
    annotations = read_annotations(videos / "msec.txt")
    assert [(s.start, s.end) for s in annotations.segments] == [(0.0, 2.0)]
    assert annotations.notes == ["'Begin Time - msec' read as milliseconds", "'End Time - msec' read as milliseconds"]
    (videos / "seconds.txt").write_text("File\tBegin Time - ss.msec\tEnd Time - hh:mm:ss.ms\tLabel\n"
                                        "a.mp4\t1.5\t00:00:02.500\tsad\n", encoding="utf-8")
    assert [(s.start, s.end) for s in read_annotations(videos / "seconds.txt").segments] == [(1.5, 2.5)]


def test_an_exact_column_name_comes_before_one_that_only_starts_with_it(videos):
    (videos / "ann.csv").write_text("video id,video,start,end,emotion confidence,emotion\n17,a.mp4,0,1,0.9,fear\n",
                                    encoding="utf-8")
    (segment,) = read_annotations(videos / "ann.csv").segments
    assert segment.video.name == "a.mp4" and EMOTIONS[segment.label] == "fear"


def test_a_segment_shorter_than_the_frames_spacing_is_not_counted_as_a_face_not_found(tmp_path):
    video = tmp_path / "a.mp4"
    table = pd.DataFrame(frame_rows(1, [0.0, 0.2, 0.4], "happy"))  # analysed at 5 frames a second
    annotations = Annotations(tmp_path / "ann.csv", [Segment(video, 0.05, 0.15, 3, line=2),
                                                     Segment(video, 0.0, 0.6, 3, line=3)])
    scores = score_segments(annotations, {video: (table, 5.0, 0.6)})
    assert scores.not_scored == {2: "shorter than the spacing of the frames analysed (0.20 s): no frame may fall in it"}
    assert scores.found_share == 1.0


def test_a_segment_running_past_the_videos_end_is_said_naming_its_line(tmp_path):
    """`10,60,fear` on a 14 s video was scored as 10-14 s without a word, and 13.99-14.5 was said "shorter than the
    spacing of the frames", when what left no frame in it was the cut at the video's end."""
    video, other = tmp_path / "a.mp4", tmp_path / "b.mp4"
    table = pd.DataFrame(frame_rows(1, np.arange(0, 14, 0.2), "fear"))  # 5 frames a second for 14 s
    annotations = Annotations(tmp_path / "ann.csv", [Segment(video, 10.0, 60.0, 2, line=2),
                                                     Segment(video, 13.99, 14.5, 2, line=3, track=2),
                                                     Segment(video, 0.0, 1.0, 2, line=4),
                                                     Segment(other, 2.0, 14.1, 2, line=5)])
    scores = score_segments(annotations, {video: (table, 5.0, 14.0), other: (table, 5.0, 14.0)})
    assert scores.warnings == [f"{tmp_path / 'ann.csv'}, line 2: the segment 10-60 s ends 46.00 s after the video's "
                               "end (14.00 s); cut there"]  # not line 5: 0.1 s, less than the frames' spacing
    assert scores.not_scored == {3: "only 0.01 s of it is before the video's end (14.00 s): no frame may fall in it"}
    assert scores.segments.set_index("line").loc[2, ["end", "frames"]].tolist() == [14.0, 20]


def test_a_face_scored_by_two_segments_is_an_error_naming_them(tmp_path):
    """A segment without a track resolves to the face seen most, which another line names by its track: its frames
    were scored twice, against two labels."""
    video = tmp_path / "a.mp4"
    table = pd.DataFrame(frame_rows(2, np.arange(0, 2, 0.2), "happy"))
    annotations = Annotations(tmp_path / "ann.csv", [Segment(video, 0.0, 2.0, 3, line=2),
                                                     Segment(video, 1.0, 2.0, 4, line=3, track=2)])
    with pytest.raises(DatasetError, match=r"ann.csv, lines 2 and 3: both score track 2's frame at 1.00 s of a.mp4"):
        score_segments(annotations, {video: (table, 5.0, 2.0)})


def test_one_file_under_two_names_and_windows_paths_and_spreadsheet_track_numbers(videos):
    """A symlink (or a case-insensitive disk's Clip.mp4 for clip.mp4) named the same file twice, so its overlapping
    segments went unchecked; a table written on Windows named clips\\p01.mp4; a track column with blanks is written
    "2.0" by pandas and spreadsheets, and "²" passed isdigit() and then failed int() with a traceback."""
    (videos / "alias.mp4").symlink_to(videos / "a.mp4")
    (videos / "sub" / "c.mp4").write_bytes(b"")
    (videos / "ann.csv").write_text("video,start,end,emotion,track\na.mp4,0,2,happy,\nalias.mp4,1,3,sad,\n",
                                    encoding="utf-8")
    with pytest.raises(DatasetError, match="lines 2 and 3: segments of one face overlap"):
        read_annotations(videos / "ann.csv")
    (videos / "ann.csv").write_text("video,start,end,emotion,track\nsub\\c.mp4,0,2,happy,2.0\nalias.mp4,2,3,sad,\n",
                                    encoding="utf-8")
    first, second = read_annotations(videos / "ann.csv").segments
    assert (first.video, first.track) == (videos / "sub" / "c.mp4", 2)
    assert second.video == videos / "a.mp4"  # the name its file was first given (here: by its alias's target)
    (videos / "ann.csv").write_text("video,start,end,emotion,track\na.mp4,0,2,happy,\u00b2\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 2: track '\u00b2': not a track number"):
        read_annotations(videos / "ann.csv")


def test_a_margin_leaves_out_the_frames_near_a_segments_ends_but_not_the_face_found_there(tmp_path):
    video = tmp_path / "a.mp4"
    table = pd.DataFrame(frame_rows(1, np.arange(0, 3, 0.2), "happy"))  # 5 frames a second for 3 s
    annotations = Annotations(tmp_path / "ann.csv", [Segment(video, 0.0, 2.0, 3, line=2),
                                                     Segment(video, 2.0, 2.4, 3, line=3)])
    scores = score_segments(annotations, {video: (table, 5.0, 3.0)}, margin=0.3)
    assert scores.frames["time"].round(1).tolist() == [0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6]
    assert scores.not_scored == {3: "no frame of its face more than 0.3 s from its ends (--margin)"}
    assert scores.found_share == 1.0  # the face was there all along
    with pytest.raises(ValueError, match="margin must be 0 or more seconds"):
        score_segments(annotations, {video: (table, 5.0, 3.0)}, margin=-1)


def test_results_written_before_times_were_the_files_are_moved_onto_its_timeline(tmp_path):
    """fervid before 2026-12-06 counted a video's times from its pictures' start: for a file whose pictures start
    0.5 s after its sound, its old results scored annotations made on the file (ELAN) 0.5 s off (per-frame accuracy
    1.00 -> 0.80 in a probe), without a word. Old results (their tracks JSON records no fervid version) are moved
    onto the file's timeline; new ones are read as they are."""
    import shutil
    import subprocess

    import imageio_ffmpeg

    from fervid.evaluation.segments import frames_from_results
    from fervid.inference.analyzer import Analyzer
    from conftest import clip_writer
    from fervid.samples import astronaut

    face = astronaut()[20:240, 120:330, ::-1]
    clip = tmp_path / "pictures.mp4"
    writer = clip_writer(clip, 320, 240, 10.0)
    for _ in range(20):
        frame = np.full((240, 320, 3), 90, np.uint8)
        frame[10:230, 50:260] = face
        writer.write(frame)
    writer.close()
    late = tmp_path / "late.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=duration=3",
                    "-itsoffset", "0.5", "-i", str(clip), "-map", "1:v", "-map", "0:a", "-c:v", "copy", "-c:a",
                    "aac", str(late)], check=True)
    new = tmp_path / "new"
    Analyzer().analyze_video(late, new, method="frame", annotate=False)
    old = tmp_path / "old"  # as the fervid of 2026-12-05 wrote it: times from the pictures' start, no version
    shutil.copytree(new, old)
    doc = json.loads((old / "late_tracks.json").read_text(encoding="utf-8"))
    doc = {k: v for k, v in doc.items() if k not in ("fervid", "onnxruntime")} | {"duration": doc["duration"] - 0.5}
    (old / "late_tracks.json").write_text(json.dumps(doc), encoding="utf-8")
    rows = pd.read_parquet(old / "late_frames.parquet")
    rows.assign(time=rows["time"] - 0.5).to_parquet(old / "late_frames.parquet", index=False)
    moved, _, old_summaries = frames_from_results(old, [late])
    read, _, new_summaries = frames_from_results(new, [late])
    assert read[late][0]["time"].iloc[0] == pytest.approx(0.5, abs=0.01)  # today's: the file's timeline
    assert moved[late][0]["time"].tolist() == pytest.approx(read[late][0]["time"].tolist(), abs=1e-4)
    assert moved[late][2] == pytest.approx(read[late][2], abs=1e-3)  # the seconds analysed, too
    assert old_summaries[late]["times_moved_by"] == pytest.approx(0.5, abs=0.01)
    assert "times_moved_by" not in new_summaries[late]


def test_a_segments_table_says_what_it_did_not_read_and_refuses_names_twice(tmp_path):
    """A misspelt name column (`nmae`) was passed over unsaid, two segments of one name gave rows no one could tell
    apart, and `start_ms`/`end_ms` (which a comment here cited) were no start and end columns."""
    table = tmp_path / "tasks.csv"
    table.write_text("start,end,nmae\n0,1,A\n1,2,B\n", encoding="utf-8")
    notes = []
    assert [s.name for s in read_time_segments(table, notes)] == ["", ""]
    assert notes == [f"{table}: column(s) 'nmae' not read (a segment's name is read from a column named name, "
                     "segment, task; a coder's codes, which may repeat, from columns named tier and "
                     "annotation or label)"]
    table.write_text("start,end,name,notes\n0,1,A,x\n1,2,B,y\n", encoding="utf-8")
    notes = []
    read_time_segments(table, notes)
    assert notes == [f"{table}: column(s) 'notes' not read (a segment's name is read from a column named name, "
                     "segment, task; 'name' is it; a coder's codes, which may repeat, from columns "
                     "named tier and annotation or label)"]
    table.write_text("start,end,name\n0,1,A\n1,2,B\n2,3,A\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"tasks\.csv, lines 2 and 4: two segments named 'A'"):
        read_time_segments(table)
    table.write_text("start_ms,end_ms,name\n0,1000,A\n1000,2500,B\n", encoding="utf-8")
    notes = []
    assert read_time_segments(table, notes)[1] == TimeSegment(1.0, 2.5, "B")
    assert notes == [f"{table}: 'start_ms' read as milliseconds", f"{table}: 'end_ms' read as milliseconds"]
    table.write_text("start_s,end_s\n0,1.5\n", encoding="utf-8")
    assert read_time_segments(table)[0] == TimeSegment(0.0, 1.5, "")


def test_a_segment_name_holding_a_semicolon_is_refused_naming_the_file_line_and_name(tmp_path):
    """An episode starting in several segments names them joined by "; " in the episodes table: segments
    "Lesen; Schreiben" and "Lesen" gave "Lesen; Schreiben; Lesen", three segments to anyone splitting the cell. Such
    a name is refused as the table is read (as two of one name are), and by VideoOptions."""
    table = tmp_path / "tasks.csv"
    table.write_text('start,end,name\n0,2,Lesen\n1,3,"Lesen; Schreiben"\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"tasks\.csv, line 3: a segment named 'Lesen; Schreiben': a name cannot "
                                           r"hold ';'.*: rename it"):
        read_time_segments(table)
    table.write_text("start,end,name\n0,2,Lesen;Schreiben\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"line 2: a segment named 'Lesen;Schreiben'"):
        read_time_segments(table)
    # a coder's codes may hold one: they are carried beside the name, never joined
    table.write_text("start,end,name,annotation\n0,2,Lesen,happy; tense\n", encoding="utf-8")
    assert read_time_segments(table)[0].annotation == "happy; tense"
    with pytest.raises(OptionError, match="a segment named 'a; b': a name cannot hold ';'"):
        VideoOptions(segments=((0, 1, "a; b"),))


def test_annotations_read_a_start_ms_column_as_milliseconds_and_say_so(videos):
    (videos / "ann.csv").write_text("video,start_ms,end_ms,emotion\na.mp4,500,1500,happy\n", encoding="utf-8")
    annotations = read_annotations(videos / "ann.csv")
    assert (annotations.segments[0].start, annotations.segments[0].end) == (0.5, 1.5)
    assert annotations.notes == ["'start_ms' read as milliseconds", "'end_ms' read as milliseconds"]


def test_a_clock_time_of_60_seconds_or_minutes_is_no_time():
    """`--start 0:60` was taken as 60 s."""
    for text in ("0:60", "1:60.5", "1:60:00", "0:00:60"):
        with pytest.raises(ValueError):
            parse_time(text)
    assert parse_time("0:59.9") == pytest.approx(59.9) and parse_time("75") == 75.0


def _labels_both_ways(tmp_path, times, emotions, probabilities, segment_start, segment_end):
    """(fervid video --segments's dominant_emotion, fervid evaluate's predicted label) of the same frames of one
    face: the track log fed as the video's are, and the frames table written from them (times and probabilities to
    4 decimals, as <name>_frames.csv has them)."""
    from fervid.inference.video import AnalysedFrame, FrameFace, SegmentLogs, TimeSegment

    spacing = float(np.min(np.diff(times)))
    segments = SegmentLogs([TimeSegment(segment_start, segment_end, "s")], spacing, 0.0)
    image = np.zeros((10, 10, 3), np.uint8)
    rows = []
    for i, (t, emotion, p) in enumerate(zip(times, emotions, probabilities)):
        face = FrameFace(time=float(t), frame=i, track_id=1, box=(1, 1, 5, 5), probabilities=tuple(p),
                         frame_probabilities=tuple(p), uncertain=False, detected=True)
        segments.add(AnalysedFrame(float(t), i, image, [face]))
        rows.append({"time": round(float(t), 4), "track": 1, "width": 5, "height": 5,
                     **{e: round(float(v), 4) for e, v in zip(EMOTIONS, p)}, "emotion": emotion})
    video_label = segments.logs[0][1].summary(until=segment_end, spacing=spacing)["dominant_emotion"]
    video = tmp_path / "a.mp4"
    annotations = Annotations(tmp_path / "ann.csv", [Segment(video, segment_start, segment_end, 0, line=2)])
    scores = score_segments(annotations, {video: (pd.DataFrame(rows), 1 / spacing, times[-1] + spacing)})
    return video_label, scores.segments["predicted"].iloc[0]


def _probabilities(**chosen):
    rest = (1 - sum(chosen.values())) / (len(EMOTIONS) - len(chosen))
    return [chosen.get(e, rest) for e in EMOTIONS]


def test_video_segments_and_evaluate_give_the_same_frames_the_same_label(tmp_path):
    """carphone.mp4 from 1.6016 to 1.7351 s (4 frames at 29.97 fps: 2 neutral, 2 surprise, each lasting as long):
    `fervid video --segments` said surprise (a tie went to the first in EMOTIONS), `fervid evaluate` neutral (the
    frames' most frequent label, a tie to the higher mean probability). Both now take the most time, a tie the
    higher mean probability: neutral, whose mean is 0.42 against 0.41."""
    times = np.arange(48, 52) / 29.97
    emotions = ["neutral", "neutral", "surprise", "surprise"]
    probabilities = [_probabilities(neutral=n, surprise=s)
                     for n, s in ((0.4723, 0.3712), (0.4348, 0.3984), (0.3975, 0.4234), (0.361, 0.4452))]
    assert _labels_both_ways(tmp_path, times, emotions, probabilities, 1.6016, 1.7351) == ("neutral", "neutral")
    # a variable-rate stretch (a still picture sends no frames): one neutral frame lasting 0.3 s, then 3 sad 0.03 s
    # apart: the most time is neutral's (evaluate counted frames: sad)
    times = np.array([0.0, 0.3, 0.33, 0.36])
    probabilities = [_probabilities(neutral=0.6)] + [_probabilities(sad=0.6)] * 3
    assert _labels_both_ways(tmp_path, times, ["neutral"] + ["sad"] * 3, probabilities, 0.0, 0.39) == (
        "neutral", "neutral")


def test_dominant_emotion_takes_the_most_time_then_the_surer_emotion_then_emotions_order():
    from fervid.emotions import dominant_emotion

    assert dominant_emotion([{"sad": 2.0, "happy": 1.0}.get(e, 0.0) for e in EMOTIONS]) == "sad"
    tie = [{"sad": 1.0, "happy": 1.0}.get(e, 0.0) for e in EMOTIONS]
    surer_sad = [{"sad": 0.6, "happy": 0.5}.get(e, 0.0) for e in EMOTIONS]
    assert dominant_emotion(tie, surer_sad) == "sad"  # a tie: the higher mean probability
    assert dominant_emotion(tie) == "happy"  # none at hand: first in EMOTIONS
    assert dominant_emotion(tie, [0.5] * len(EMOTIONS)) == "happy"  # equal too: first in EMOTIONS
    # within: amounts that close are a tie; more time wins whatever the probabilities
    near = [{"sad": 1.0, "happy": 1.0 + 1e-7}.get(e, 0.0) for e in EMOTIONS]
    assert dominant_emotion(near, surer_sad, within=1e-6) == "sad"
    assert dominant_emotion(near, surer_sad) == "happy"


def test_a_signed_clock_time_is_a_time():
    """`-0:01` was "not a time" where `-1` is -1 s: a negative time is refused by what takes it, for being
    negative."""
    assert parse_time("-0:01") == -1.0 and parse_time("-0:00:01,5") == -1.5 and parse_time("+1:00") == 60.0
    with pytest.raises(ValueError, match="run 0-59"):
        parse_time("-0:60")


def test_every_bad_line_of_an_annotations_table_is_said_in_one_error(videos):
    """A table with an empty end on one line and 0:60 on another failed on the first alone: fixed, it failed on
    the next."""
    (videos / "ann.csv").write_text("video,start,end,emotion,track\n"
                                    "a.mp4,0,,happy,\n"  # no end
                                    "a.mp4,1,2,sad,\n"
                                    "a.mp4,0:60,3,fear,\n"  # a clock's seconds run 0-59
                                    "a.mp4,5,4,sad,\n"  # the end before the start
                                    "a.mp4,6,7,sad,one\n")  # no track number
    with pytest.raises(DatasetError) as error:
        read_annotations(videos / "ann.csv")
    # one line, as the command line says an error
    heading, said = str(error.value).split(" cannot be read: ")
    assert heading == f"{videos / 'ann.csv'}: 4 lines"
    lines = said.split("; ")
    assert [line.split(":")[0] for line in lines] == ["line 2", "line 4", "line 5", "line 6"]
    assert "no end given" in lines[0] and "start '0:60'" in lines[1] and "from 5 s to 4 s" in lines[2]
    assert "track 'one': not a track number" in lines[3]
    # one bad line: its error as before, the file and the line named
    (videos / "ann.csv").write_text("video,start,end,emotion\na.mp4,0,,happy\na.mp4,1,2,sad\n")
    with pytest.raises(DatasetError, match=r"ann\.csv, line 2: no end given$"):
        read_annotations(videos / "ann.csv")


def test_a_segment_starting_between_frames_weighs_the_frame_before_it_in_video_and_evaluate_alike(tmp_path):
    """Frames a second apart, happy at 0 s then sad; a segment from 0.2 to 1.5 s. `fervid video --segments` counted
    the frame at 0 s for the 0.8 s of the segment it stands for (happy 0.8 s, sad 0.5 s: happy); `fervid evaluate`
    measured from the first frame inside (sad 0.5 s: sad). Both now weigh each frame by its time in the segment."""
    probabilities = [_probabilities(happy=0.6)] + [_probabilities(sad=0.6)] * 3
    times = np.arange(4.0)
    assert _labels_both_ways(tmp_path, times, ["happy"] + ["sad"] * 3, probabilities, 0.2, 1.5) == ("happy", "happy")
    # the seconds seen and the shares too, the carried-in frame counted for its time only (not a frame, not a mean)
    rows = pd.DataFrame(frame_rows(1, [0.0], "happy") + frame_rows(1, [1.0, 2.0, 3.0], "sad"))
    summary = segment_summary(FrameIndex.of(rows), 1, 0.2, 1.5, 1.0)
    assert (summary["seen_seconds"], summary["frames"], summary["emotion_share"]["happy"]) == (1.3, 1, 0.6154)
    assert summary["mean_probabilities"]["sad"] == 0.8
    # a segment between two frames: the row in effect for its time, no frame and so no label (there was no
    # summary, as the analysis's segments had no track)
    summary = segment_summary(FrameIndex.of(rows), 1, 1.2, 1.5, 1.0)
    assert (summary["seen_seconds"], summary["frames"], summary["dominant_emotion"]) == (0.3, 0, None)
    # an analysed frame without the face before the start: nothing carried in (the face came at 1 s)
    rows = pd.DataFrame(frame_rows(1, [1.0, 2.0, 3.0], "sad") + frame_rows(2, [0.0], "happy"))
    assert segment_summary(FrameIndex.of(rows), 1, 0.2, 1.5, 1.0)["seen_seconds"] == 0.5
    # a frame with no face at all is not in the table: one more than a spacing before is not carried in either
    rows = pd.DataFrame(frame_rows(1, [0.0], "happy") + frame_rows(1, [3.0, 4.0], "sad"))
    assert segment_summary(FrameIndex.of(rows), 1, 2.2, 3.5, 1.0)["seen_seconds"] == 0.5


def test_a_segment_no_frame_fell_in_has_no_mean_probabilities_or_box_where_it_had_zeros():
    """Frames a second apart, each with its box; a segment from 1.2 to 1.5 s holds none of them: it is seen for the
    row in effect (sad, from 1 s), frames 0, and its means were 0 (a box at the corner, no emotion at all). Means,
    shares and the label are over the rows inside it: there are none. A segment holding a frame has that frame's box
    and probabilities, where segment_summary gave every box as 0s."""
    rows = pd.DataFrame([{**row, "x": 10.0 * n, "y": 20.0} for n, row in
                         enumerate(frame_rows(1, [0.0], "happy") + frame_rows(1, [1.0, 2.0, 3.0], "sad"))])
    empty = segment_summary(FrameIndex.of(rows), 1, 1.2, 1.5, 1.0)
    assert (empty["frames"], empty["seen_seconds"], empty["dominant_emotion"]) == (0, 0.3, None)
    assert empty["mean_probabilities"] is None and empty["mean_box"] is None and empty["emotion_share"] is None
    held = segment_summary(FrameIndex.of(rows), 1, 1.5, 2.5, 1.0)
    assert held["frames"] == 1 and held["mean_box"] == {"x": 20.0, "y": 20.0, "width": 100.0, "height": 100.0}
    assert held["mean_probabilities"]["sad"] == 0.8


@needs_sample_clip
@pytest.mark.slow
def test_video_segments_and_evaluate_give_a_recordings_segments_the_same_seconds_and_labels(tmp_path):
    """`fervid video --segments` of carphone (5 frames a second) with segments that start and end between analysed
    frames, then `fervid evaluate --results` of that run with those segments annotated: each segment's stretch
    (analysed_seconds), seconds seen, shares and label are the same from the frames table as the analysis gave
    them. Its label turns from neutral to surprise at 1.80 s (back at 2.40 s, again at 3.40 s): from 1.62 to 1.95 s
    the analysis said neutral (its frame at 1.60 s standing for 0.18 s of it, surprise 0.15 s), evaluate surprise."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app
    from fervid.inference.video import sample_video

    runner = CliRunner()
    # (1.65-1.75 s: between two frames analysed)
    bounds = [(0.05, 1.13), (1.62, 1.95), (2.25, 2.5), (3.25, 3.5), (3.5, 3.77), (1.65, 1.75)]
    tasks = tmp_path / "tasks.csv"
    tasks.write_text("start,end,name\n" + "".join(f"{a},{b},s{n}\n" for n, (a, b) in enumerate(bounds)),
                     encoding="utf-8")
    run = tmp_path / "run"
    ran = runner.invoke(app, ["video", str(sample_video()), "--out", str(run), "--sample-fps", "5", "--method", "mean",
                              "--no-annotate", "--segments", str(tasks), "-q"])
    assert ran.exit_code == 0, ran.output
    stem = sample_video().stem
    segments = pd.read_csv(run / f"{stem}_segments.csv").dropna(subset=["track"])
    assert len(segments) >= len(bounds)
    between = segments[segments.segment == "s5"]
    assert (between.frames.tolist(), between.seen_seconds.tolist()) == ([0], [0.1])
    frames = FrameIndex.of(pd.read_parquet(run / f"{stem}_frames.parquet"))
    for row in segments.itertuples():
        summary = segment_summary(frames, int(row.track), row.segment_start, row.segment_end, 5.0)
        assert summary["seen_seconds"] == pytest.approx(row.seen_seconds, abs=1e-3), row
        if not row.frames:  # (no row inside: no label, no shares)
            assert summary["dominant_emotion"] is summary["emotion_share"] is None and pd.isna(row.dominant_emotion)
            continue
        assert summary["dominant_emotion"] == row.dominant_emotion, row
        for emotion in EMOTIONS:
            assert summary["emotion_share"][emotion] == pytest.approx(getattr(row, emotion), abs=2e-3), row
    # evaluate, scoring that run against the segments annotated with its labels: every segment right, on its stretch
    annotations = tmp_path / "ann.csv"
    segments = segments[segments.frames > 0]  # (one with no frame of its face is not scored)
    annotations.write_text("video,start,end,emotion,track\n" + "".join(
        f"{sample_video()},{row.segment_start},{row.segment_end},{row.dominant_emotion},{int(row.track)}\n"
        for row in segments.itertuples()), encoding="utf-8")
    scored = runner.invoke(app, ["evaluate", "--dataset", "video", "--data", str(annotations), "--results", str(run),
                                 "--out", str(tmp_path / "eval")])
    assert scored.exit_code == 0, scored.output
    evaluated = pd.read_csv(tmp_path / "eval" / "segments.csv")
    assert evaluated["predicted"].tolist() == segments["dominant_emotion"].tolist()
    assert (evaluated["end"] - evaluated["start"]).tolist() == pytest.approx(segments["analysed_seconds"].tolist())


def test_an_analysis_capped_by_the_memory_for_its_windows_is_read_at_the_rate_it_was_analysed(tmp_path):
    """A 30 fps video whose frames were analysed at most 10 a second (analysed_fps_cap: the frames its windows held
    would not fit in --frames-memory-mb) was read back at 30: a segment with its face on every frame analysed was
    'found' in a third of its time."""
    from fervid.evaluation.segments import frames_from_results

    video = tmp_path / "a.mp4"
    table = pd.DataFrame(frame_rows(1, np.arange(0, 2, 0.1).round(4), "happy"))
    write_run(tmp_path / "run", "a", str(video), table, fps=30.0, analysed_fps_cap=10.0, duration=2.0)
    tables, failed, _ = frames_from_results(tmp_path / "run", [video])
    assert failed == {} and tables[video].rate == 10.0
    annotations = Annotations(tmp_path / "ann.csv", [Segment(video, 0.0, 2.0, EMOTIONS.index("happy"), line=2)])
    scores = score_segments(annotations, tables)
    assert scores.found_share == 1.0 and scores.segments["found"].tolist() == [1.0]
    # a cap and a --sample-fps below it: the rate asked for
    write_run(tmp_path / "run", "a", str(video), table, fps=30.0, sample_fps=10.0, duration=2.0)
    assert frames_from_results(tmp_path / "run", [video])[0][video].rate == 10.0


def test_two_annotated_videos_matching_one_analysis_by_name_are_not_both_scored_on_it(tmp_path, monkeypatch):
    """Annotations naming a/session.mp4 and b/session.mp4, and a results folder with one session.mp4 analysed
    (from another folder): both were scored against its frames. An analysis is one video's: the one nearer its
    recorded path takes it, the other is refused naming it; where neither is nearer, both are."""
    from fervid.evaluation.segments import frames_from_results

    a, b = write_clip(tmp_path / "a" / "session.mp4", 1.0), write_clip(tmp_path / "b" / "session.mp4", 1.0)
    table = pd.DataFrame(frame_rows(1, [0.0, 0.1], "happy"))
    run = tmp_path / "run"
    write_run(run, "session", "session.mp4", table, duration=1.0)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    tables, failed, _ = frames_from_results(run, [a, b])
    assert tables == {}
    assert failed == {a: f"video {a}: the session.mp4 analysed in {run} (session.mp4, session_tracks.json) may be "
                         f"this video's or {b}'s, its recorded path no nearer one than another (give the "
                         "annotations' video paths as the analysis did)",
                      b: f"video {b}: the session.mp4 analysed in {run} (session.mp4, session_tracks.json) may be "
                         f"this video's or {a}'s, its recorded path no nearer one than another (give the "
                         "annotations' video paths as the analysis did)"}
    # recorded as b/session.mp4: b's (matched by name, said), a refused naming b
    write_run(run, "session", "b/session.mp4", table, duration=1.0)
    tables, failed, summaries = frames_from_results(run, [a, b])
    assert set(tables) == {b} and summaries[b]["matched_by_name"] == "b/session.mp4"
    assert failed == {a: f"video {a}: the session.mp4 analysed in {run} (b/session.mp4, session_tracks.json) is "
                         f"{b}'s, whose path is nearer its recorded one; this video has no analysis of its own in "
                         f"{run}"}
    # recorded by a's absolute path: a's
    write_run(run, "session", str(a), table, duration=1.0)
    tables, failed, _ = frames_from_results(run, [a, b])
    assert set(tables) == {a} and set(failed) == {b} and f"is {a}'s" in failed[b]


def _carphone_frames_table():
    """The bundled carphone sample's frames table as `fervid video` writes it: 120 frames at 29.97 fps, their times
    to 4 decimals, one face throughout."""
    return pd.DataFrame(frame_rows(1, [round(i / 29.97, 4) for i in range(120)], "neutral"))


@needs_sample_clip
def test_millisecond_boundaries_fall_on_the_frames_written_there(tmp_path):
    """`video,start_ms,end_ms,emotion` rows 0-1001, 1001-2002, 2002-4004 on carphone (29.97 fps) were scored on 31,
    30 and 59 frames (seconds: 30, 30, 60): 1001 ms was read as 1001 * 0.001 = 1.0010000000000001 s, and the frame
    written at 1.001 s fell in the segment before; `--segments` wrote the end 4.0040000000000004."""
    from fervid.samples import carphone

    (tmp_path / "ev_ms.csv").write_text(f"video,start_ms,end_ms,emotion\n{carphone()},0,1001,neutral\n"
                                        f"{carphone()},1001,2002,happy\n{carphone()},2002,4004,neutral\n",
                                        encoding="utf-8")
    annotations = read_annotations(tmp_path / "ev_ms.csv")
    assert [(s.start, s.end) for s in annotations.segments] == [(0.0, 1.001), (1.001, 2.002), (2.002, 4.004)]
    scores = score_segments(annotations, {carphone(): (_carphone_frames_table(), 29.97, 4.004)})
    assert scores.segments["frames"].tolist() == [30, 30, 60]
    # `fervid video --segments` reads its table by the same code
    (tmp_path / "tasks.csv").write_text("start_ms,end_ms,name\n0,1001,a\n1001,2002,b\n2002,4004,c\n", encoding="utf-8")
    assert [(s.start, s.end) for s in read_time_segments(tmp_path / "tasks.csv")] == [(0.0, 1.001), (1.001, 2.002),
                                                                                      (2.002, 4.004)]
    # seconds are rounded alike, to the frames table's 4 decimals
    (tmp_path / "seconds.csv").write_text("start,end\n0.10000000001,1.00049999\n", encoding="utf-8")
    assert read_time_segments(tmp_path / "seconds.csv")[0][:2] == (0.1, 1.0005)


ELAN_EXPORT = ("Tier\tBegin Time - hh:mm:ss.ms\tBegin Time - ss.msec\tBegin Time - msec\tEnd Time - hh:mm:ss.ms\t"
               "End Time - ss.msec\tEnd Time - msec\tAnnotation\n"
               "Emotion\t00:00:00.000\t0.000\t0\t00:00:01.000\t1.000\t1000\tneutral\n"
               "Emotion\t00:00:01.000\t1.000\t1000\t00:00:04.004\t4.004\t4004\thappy\n"
               "Activity\t00:00:00.000\t0.000\t0\t00:00:01.500\t1.500\t1500\ttalking\n")


@needs_sample_clip
def test_a_one_video_export_without_a_video_column_says_so_and_takes_the_video_given(tmp_path, monkeypatch):
    """ELAN's export of one video's tiers has no video column: `fervid evaluate` took it for FER2013 ("--results is
    for --dataset video, not fer2013"), and --dataset video said only "no video column"."""
    from fervid.evaluation.segments import looks_like_annotations
    from fervid.samples import carphone

    table = tmp_path / "elan_export.txt"
    table.write_text(ELAN_EXPORT, encoding="utf-8")
    assert looks_like_annotations(table)
    with pytest.raises(DatasetError, match=r"elan_export.txt: an annotations table without a video column .*give the "
                                           r"video it annotates \(fervid evaluate --video FILE\)"):
        read_annotations(table)
    annotations = read_annotations(table, carphone())
    assert [(s.video, s.start, s.end, EMOTIONS[s.label]) for s in annotations.segments] == [
        (carphone(), 0.0, 1.0, "neutral"), (carphone(), 1.0, 4.004, "happy")]
    assert annotations.left_out == {4: "emotion 'talking' is not one of fervid's 7"}
    # a relative --video is the command line's: read from the working folder, not the table's
    (tmp_path / "tables").mkdir()
    table.rename(tmp_path / "tables" / table.name)
    monkeypatch.chdir(carphone().parent)
    assert read_annotations(tmp_path / "tables" / table.name, carphone().name).videos == [carphone()]
    # a table that names its videos refuses one for all its lines
    (tmp_path / "named.txt").write_text("File Name\t" + ELAN_EXPORT.replace("\n", f"\n{carphone()}\t", 3)
                                        .removesuffix(f"\n{carphone()}\t"), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"named.txt: its 'File Name' column names each line's video: leave out "):
        read_annotations(tmp_path / "named.txt", carphone())


@needs_sample_clip
def test_borises_aggregated_events_are_read_and_its_events_table_is_refused_saying_what_to_export(tmp_path):
    """BORIS's aggregated events ("Media file", "Behavior", "Start (s)", "Stop (s)") were refused: no video column;
    and, without --dataset, "missing FER2013 column(s) Usage, emotion, pixels"."""
    from fervid.evaluation.datasets import is_label_table
    from fervid.evaluation.segments import looks_like_annotations
    from fervid.samples import carphone

    for video_column in ("Media file", "Media file path", "Media file name"):
        table = tmp_path / "boris_agg.tsv"
        table.write_text(f"Observation id\t{video_column}\tSubject\tBehavior\tBehavioral category\tBehavior type\t"
                         "Start (s)\tStop (s)\tDuration (s)\n"
                         f"obs1\t{carphone()}\tteacher\thappy\temotion\tSTATE\t0.000\t1.000\t1.000\n"
                         f"obs1\t{carphone()}\tteacher\tneutral\temotion\tSTATE\t1.000\t4.004\t3.004\n",
                         encoding="utf-8")
        assert looks_like_annotations(table) and not is_label_table(table)
        assert [(s.video, s.start, s.end, EMOTIONS[s.label]) for s in read_annotations(table).segments] == [
            (carphone(), 0.0, 1.0, "happy"), (carphone(), 1.0, 4.004, "neutral")]
    # "Behavior" before "Behavior type"; an "emotion" column before either
    (tmp_path / "both.csv").write_text(f"Behavior type,Behavior,emotion,Media file,Start (s),Stop (s)\n"
                                       f"STATE,happy,sad,{carphone()},0,1\n", encoding="utf-8")
    assert EMOTIONS[read_annotations(tmp_path / "both.csv").segments[0].label] == "sad"
    (tmp_path / "both.csv").write_text(f"Behavior type,Behaviour,Media file,Start (s),Stop (s)\n"
                                       f"STATE,happy,{carphone()},0,1\n", encoding="utf-8")
    assert EMOTIONS[read_annotations(tmp_path / "both.csv").segments[0].label] == "happy"
    # its events table gives a state's START and STOP on two lines
    events = tmp_path / "boris_events.tsv"
    events.write_text(f"Time\tMedia file path\tSubject\tBehavior\tBehavioral category\tComment\tStatus\n"
                      f"0.000\t{carphone()}\tteacher\thappy\temotion\t\tSTART\n"
                      f"1.000\t{carphone()}\tteacher\thappy\temotion\t\tSTOP\n", encoding="utf-8")
    assert looks_like_annotations(events)
    with pytest.raises(DatasetError, match=r"boris_events.tsv: BORIS's events table .* export BORIS's aggregated "
                                           r"events instead, a line per state with its Start \(s\) and Stop \(s\)"):
        read_annotations(events)


@needs_sample_clip
def test_a_table_without_its_header_row_says_so_and_a_missing_columns_examples_are_its_own(tmp_path):
    """An ELAN export saved without its column names: "no start column (... 'Video File', 'start_ms'); its columns
    are Emotion, , 00:00:00.000, ..." (its first segment taken for names, and a video file given as a start
    column's name); German ELAN's "Anfangszeit - msec" was no start column."""
    from fervid.evaluation.segments import looks_like_annotations
    from fervid.samples import carphone

    headerless = tmp_path / "elan_noheader.txt"
    headerless.write_text("".join(ELAN_EXPORT.splitlines(keepends=True)[1:]), encoding="utf-8")
    assert looks_like_annotations(headerless)
    for read in (read_annotations, read_time_segments):
        with pytest.raises(DatasetError, match=r"elan_noheader.txt: no header row \(its first line, Emotion, "
                                               r"00:00:00.000, 0.000, 0, 00:00:01.000, 1.000, \.\.\., holds times: "
                                               r"a segment, not the columns' names\): add one above it naming each "
                                               r"column \(e.g. (video,start,end,emotion|start,end,name)\)"):
            read(headerless)
    (tmp_path / "ms.csv").write_text("0,1000,a\n1000,2000,b\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="ms.csv: no header row"):
        read_time_segments(tmp_path / "ms.csv")
    # a header without a start column: the names it could have are a start column's
    (tmp_path / "ann.csv").write_text(f"video,from,end,emotion\n{carphone()},0,1,happy\n", encoding="utf-8")
    with pytest.raises(DatasetError) as error:
        read_annotations(tmp_path / "ann.csv")
    assert "no start column (one of start, begin, onset, anfangszeit, in any case, or one of them and more words: " \
           "'start_ms', 'Begin Time - msec'); its columns are video, from, end, emotion" in str(error.value)
    german = tmp_path / "elan_de.txt"
    german.write_text("Anfangszeit - msec\tEndzeit - msec\tAnnotation\n0\t1000\tneutral\n1000\t4004\thappy\n",
                      encoding="utf-8")
    annotations = read_annotations(german, carphone())
    assert [(s.start, s.end) for s in annotations.segments] == [(0.0, 1.0), (1.0, 4.004)]
    assert annotations.notes == ["'Anfangszeit - msec' read as milliseconds", "'Endzeit - msec' read as milliseconds"]


@needs_sample_clip
def test_whole_number_times_all_past_the_videos_end_ask_whether_they_are_milliseconds(tmp_path):
    """fervid's labels exported for ELAN in milliseconds under "Begin" and "End", scored against carphone (4 s):
    read as seconds, 0-1668 s, 1668-2102 s..., its first segment was scored, cut at 4 s, and the rest not scored
    as starting after the video's end, with nothing said of the unit."""
    from fervid.samples import carphone

    table = tmp_path / "fervid_for_elan.txt"
    frames = {carphone(): (_carphone_frames_table(), 29.97, 4.004)}
    hint = (f"{table}: every time in it is a whole number, read as seconds, and every segment of "
            f"{carphone().name} ends after the video's end (4.00 s): did you mean milliseconds? name the columns "
            "start_ms and end_ms")
    table.write_text("Tier\tBegin\tEnd\temotion\nfervid\t0\t1668\tneutral\nfervid\t1668\t2102\tsurprise\n"
                     "fervid\t2102\t4004\tneutral\n", encoding="utf-8")
    warnings = score_segments(read_annotations(table, carphone()), frames).warnings
    assert warnings[0] == hint and len(warnings) == 2  # (then line 2's: cut at the video's end)
    # not where a segment ends inside the video, nor where a time is no whole number or the columns are ms
    for rows in ("fervid\t0\t2\tneutral\nfervid\t1668\t2102\tsurprise\n",
                 "fervid\t0\t1668.5\tneutral\nfervid\t1668.5\t2102\tsurprise\n"):
        table.write_text(f"Tier\tBegin\tEnd\temotion\n{rows}", encoding="utf-8")
        assert hint not in score_segments(read_annotations(table, carphone()), frames).warnings
    table.write_text("Tier\tBegin - msec\tEnd - msec\temotion\nfervid\t5000\t6000\tneutral\n", encoding="utf-8")
    assert not any("milliseconds?" in w for w in score_segments(read_annotations(table, carphone()), frames).warnings)


def test_a_coders_tier_and_repeated_codes_are_carried_beside_unique_names(tmp_path):
    """A two-tier ELAN export (Tier, Begin Time - msec, End Time - msec, Annotation) had its Tier and Annotation
    columns dropped with a notice and its segments only numbered; named by their codes, which repeat in any real
    coding ("neutral" twice), the table was refused."""
    table = tmp_path / "elan.txt"
    table.write_text("Tier\tBegin Time - msec\tEnd Time - msec\tAnnotation\n"
                     "Emotion_coderA\t0\t1000\tneutral\nEmotion_coderA\t1000\t2000\thappy\n"
                     "Emotion_coderA\t2000\t4000\tneutral\nActivity\t0\t1500\ttalking\n", encoding="utf-8")
    notes: list[str] = []
    segments = read_time_segments(table, notes)
    assert segments == [TimeSegment(0.0, 1.0, "", "Emotion_coderA", "neutral"),
                        TimeSegment(1.0, 2.0, "", "Emotion_coderA", "happy"),
                        TimeSegment(2.0, 4.0, "", "Emotion_coderA", "neutral"),
                        TimeSegment(0.0, 1.5, "", "Activity", "talking")]
    assert not any("not read" in note for note in notes)
    # a label column, in any case, is the code too; a name column stays unique beside it
    table.write_text("start,end,NAME,LABEL\n0,1,a,happy\n1,2,b,happy\n", encoding="utf-8")
    assert [(s.name, s.tier, s.annotation) for s in read_time_segments(table)] == [("a", "", "happy"),
                                                                                   ("b", "", "happy")]
    table.write_text("start,end,name\n0,1,neutral\n1,2,neutral\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"lines 2 and 3: two segments named 'neutral' \(give each its own name; "
                                           r"a code that repeats, as a coder's do, goes in a column named annotation "
                                           r"or label"):
        read_time_segments(table)


def test_an_annotated_video_named_composed_is_the_one_named_decomposed_on_disk(tmp_path):
    """A table typed on Windows or Linux names "reunião.mp4" composed; copied from macOS, the video's name is
    decomposed ("a", then a combining tilde): its lines were left out as "video ... not found"."""
    import unicodedata

    on_disk = unicodedata.normalize("NFD", "reunião.mp4")
    (tmp_path / on_disk).write_bytes(b"")
    if "reunião.mp4" in os.listdir(tmp_path):
        pytest.skip("this filesystem stores names in one normal form")
    (tmp_path / "ann.csv").write_text("video,start,end,emotion\nreunião.mp4,0,2,neutral\nreunião.mp4,2,4,surprise\n",
                                      encoding="utf-8")
    annotations = read_annotations(tmp_path / "ann.csv")
    assert annotations.left_out == {} and annotations.missing_videos == []
    assert annotations.videos == [(tmp_path / on_disk).resolve()]


def test_a_video_named_in_bytes_the_locale_cannot_read_is_recorded_as_its_utf8_name(tmp_path):
    """Under LC_ALL=C with Python's UTF-8 mode off, `émoção.mp4` comes as "\\udcc3\\udca9moção"-style surrogates:
    `fervid evaluate --dataset video --results` put them in the scores' video column and pyarrow's writer failed
    with a UnicodeEncodeError traceback. The column holds the name as every table records it (its UTF-8 reading)."""
    from pathlib import Path

    video = Path("émoção.mp4".encode("utf-8").decode("ascii", "surrogateescape"))  # as an ASCII locale reads it
    assert video.name != "émoção.mp4"
    annotations = Annotations(tmp_path / "ann.csv", [Segment(video, 0.0, 1.001, EMOTIONS.index("neutral"), 2)])
    scores = score_segments(annotations, {video: (_carphone_frames_table(), 29.97, 4.004)})
    assert scores.segments["video"].tolist() == ["émoção.mp4"]
    assert set(scores.frames["video"]) == {"émoção.mp4"}
    scores.frames.to_parquet(tmp_path / "frames.parquet")  # (what failed)


def test_a_participant_column_names_each_segments_person_and_borises_no_focal_subject_names_none(tmp_path):
    """The person a line's face is of is read from a participant (subject, person) column, BORIS's "Subject"
    included, whose "No focal subject" names nobody: the intervals of `evaluate --dataset video` resample people
    only where every segment's is named."""
    from fervid.evaluation.segments import IntervalGroups

    for name in "ab":
        (tmp_path / f"{name}.mp4").write_bytes(b"")
    (tmp_path / "ann.csv").write_text("video,start,end,emotion,Participant ID\na.mp4,0,1,happy,P7\nb.mp4,0,1,sad,P8\n",
                                      encoding="utf-8")
    assert [s.participant for s in read_annotations(tmp_path / "ann.csv").segments] == ["P7", "P8"]
    (tmp_path / "boris.tsv").write_text("Media file\tSubject\tBehavior\tStart (s)\tStop (s)\n"
                                        "a.mp4\tNo focal subject\thappy\t0\t1\na.mp4\tteacher\tsad\t1\t2\n",
                                        encoding="utf-8")
    assert [s.participant for s in read_annotations(tmp_path / "boris.tsv").segments] == ["", "teacher"]
    rows = pd.DataFrame({"video": list("aabbccddef"), "participant": ["P1"] * 5 + ["P2"] * 4 + [""]})
    by_video = IntervalGroups.of(rows)  # one line names nobody: videos are resampled
    assert (by_video.groups, by_video.groups_are, by_video.participants) == (list("aabbccddef"), "videos", None)
    rows.loc[9, "participant"] = "P3"
    few = IntervalGroups.of(rows)
    assert (few.groups, few.groups_are, few.videos, few.participants) == (None, "segments", 6, 3)
    assert few.method("bootstrap over 10 segments") == "bootstrap over 10 segments, of 3 participants only"
    assert few.method("none: 4 segment(s), too few: an interval needs 5") == (
        "none: 4 segment(s), too few: an interval needs 5")
