"""A part of a video analysed: a region of its frames (a participant's webcam in a corner of a screen recording),
a stretch of its time, and stretches summarised on their own; and every episode as a table. On screen recordings
the tests make: a synthetic app page with a still face in its content and the carphone sample playing in a
picture-in-picture corner."""

import csv
import json
import subprocess

import cv2
import imageio_ffmpeg
import numpy as np
import pandas as pd
import pytest

from conftest import clip_writer, needs_sample_clip
from fervid.emotions import EMOTIONS
from fervid.errors import OptionError
from fervid.inference import video as video_module
from fervid.inference.analyzer import Analyzer
from fervid.inference.video import (EPISODE_COLUMNS, SEGMENT_COLUMNS, TimeSegment, VideoAnalyzer,
                                    VideoError, VideoOptions, sample_video)

SCREEN = (480, 300)  # width, height of the recordings made here
FPS = 15.0
PIP = (SCREEN[0] - 176 - 8, SCREEN[1] - 144 - 8, 176, 144)  # the webcam's x, y, width, height: carphone's size
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def carphone_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(sample_video()))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def screen_recording_frames(seconds: float = 5.0) -> list[np.ndarray]:
    """An app page (a header bar, form fields, a team photo: carphone's first frame, still) with the carphone
    sample playing in the bottom-right corner, as a usability test's screen recording shows the participant."""
    webcam = carphone_frames()
    width, height = SCREEN
    x, y, w, h = PIP
    frames = []
    for i in range(round(seconds * FPS)):
        frame = np.full((height, width, 3), 240, np.uint8)
        cv2.rectangle(frame, (0, 0), (width, 24), (70, 60, 60), -1)
        for row in range(4):
            cv2.rectangle(frame, (16, 40 + 36 * row), (150, 64 + 36 * row), (230, 210, 200), -1)
        frame[30:174, 170:346] = webcam[0]  # a face in the page's content
        frame[y:y + h, x:x + w] = webcam[(2 * i) % len(webcam)]  # the participant
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer()


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    frames = screen_recording_frames()
    path = tmp_path_factory.mktemp("recordings") / "session.mp4"
    writer = clip_writer(path, SCREEN[0], SCREEN[1], FPS)
    for frame in frames:
        writer.write(frame)
    writer.close()
    return path


@pytest.fixture(scope="module")
def whole(analyzer, recording):
    return analyzer.analyze_video(recording, key_frames=0, annotate=False)


@needs_sample_clip
def test_a_region_is_analysed_as_the_video_cropped_to_it_with_boxes_in_the_whole_frame(analyzer):
    """The documented workaround was a copy cropped by ffmpeg: the region gives its rows exactly, placed back in
    the whole frame's pixels, and the face in the page's content is not looked for."""
    frames = screen_recording_frames(3.0)
    x, y, w, h = PIP
    cropped = VideoAnalyzer(analyzer, VideoOptions()).run(
        "crop", frames=((i / FPS, f[y:y + h, x:x + w].copy()) for i, f in enumerate(frames)), fps=FPS)
    region = VideoAnalyzer(analyzer, VideoOptions(region=PIP)).run(
        "whole", frames=((i / FPS, f) for i, f in enumerate(frames)), fps=FPS)
    assert region.ok and region.track_ids == [1] == cropped.track_ids
    assert len(region.faces) == len(cropped.faces) == len(frames)
    for mine, theirs in zip(region.faces, cropped.faces):
        assert mine.time == theirs.time and mine.probabilities == theirs.probabilities
        assert mine.box == pytest.approx((theirs.box[0] + x, theirs.box[1] + y, *theirs.box[2:]))
        assert np.asarray(mine.landmarks) == pytest.approx(np.asarray(theirs.landmarks) + (x, y))  # (no nesting)
    # the whole frame (what the annotated MP4 and key frames show) is what comes out, not the crop
    whole_frames = VideoAnalyzer(analyzer, VideoOptions()).run(
        "whole", frames=((i / FPS, f) for i, f in enumerate(frames)), fps=FPS)
    assert whole_frames.track_ids == [1, 2]  # without the region, the page's face is a track too


@needs_sample_clip
def test_a_region_in_fractions_is_recorded_in_pixels_and_keeps_faces_inside_it(analyzer, recording, tmp_path):
    width, height = SCREEN
    fractions = (0.5, 0.4, 0.5, 0.6)
    result = analyzer.analyze_video(recording, tmp_path, region=fractions, key_frames=0, annotate=False)
    assert result.ok and result.track_ids == [1]
    saved = json.loads((tmp_path / "session_tracks.json").read_text(encoding="utf-8"))
    assert saved["region"] == [240, 120, 240, 180]
    table = result.frame_table()
    assert (table.x >= 240).all() and (table.y >= 120).all()
    assert ((table.x + table.width) <= width).all() and ((table.y + table.height) <= height).all()


@needs_sample_clip
def test_a_region_outside_the_frames_is_refused_naming_the_video_and_its_size(analyzer, recording, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(VideoError, match=r"session\.mp4: region 400,200,176,144 .* 480 x 300 pixels"):
        analyzer.analyze_video(recording, out, region=(400, 200, 176, 144))
    assert not out.exists()  # refused before its outputs' folder was made
    with pytest.raises(OptionError, match="reaches past the frame"):
        VideoOptions(region=(0.6, 0.5, 0.5, 0.5))
    with pytest.raises(OptionError, match="positive width"):
        VideoOptions(region=(10, 10, 0, 20))


@needs_sample_clip
def test_a_stretch_is_sought_and_keeps_the_recordings_times_and_frame_numbers(analyzer, recording, whole,
                                                                              monkeypatch):
    reads = []
    read = video_module._CheckedCapture.read
    monkeypatch.setattr(video_module._CheckedCapture, "read", lambda self: reads.append(1) or read(self))
    part = analyzer.analyze_video(recording, start=2.5, end=4.0, key_frames=0, annotate=False)
    assert part.ok  # not said to end short of the file's length
    rows, everything = part.frame_table(), whole.frame_table()
    inside = everything[(everything.time >= 2.5) & (everything.time < 4.0)]
    assert sorted(zip(rows.time, rows.frame)) == sorted(zip(inside.time, inside.frame))
    assert rows.time.min() == 2.5333 and rows.frame.min() == 38  # 2.5 s falls between frames 37 and 38
    # sought: the frames before the start were not read (75 frames in all, 22 from 2.5 s to 4 s)
    assert len(reads) <= 24
    assert part.run_settings["start"] == 2.5 and part.run_settings["end"] == 4.0


def _stretch_as_in_the_whole(analyzer, path, start, end):
    """The (time, frame) of the rows of ``path`` analysed from ``start`` to ``end``, and those of its whole run
    inside that stretch."""
    options = dict(method="frame", key_frames=0, annotate=False)
    part = analyzer.analyze_video(path, start=start, end=end, **options).frame_table()
    everything = analyzer.analyze_video(path, **options).frame_table()
    inside = everything[(everything.time >= start) & (everything.time < end)]
    return sorted(zip(part.time, part.frame)), sorted(zip(inside.time, inside.frame))


@needs_sample_clip
def test_a_stretch_of_an_mpeg_ts_is_analysed(analyzer, tmp_path):
    """--start on an MPEG-TS analysed 0 frames and exited 0, saying the file ended before --end: OpenCV's seek
    said True and the next read failed, taken for the file's end."""
    remux = tmp_path / "cut.m2ts"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(sample_video()), "-t", "2.5", "-c", "copy", "-f", "mpegts",
                    str(remux)], check=True)
    part, whole_inside = _stretch_as_in_the_whole(analyzer, remux, 1.0, 2.0)
    assert len(part) == 30 and part == whole_inside


@needs_sample_clip
def test_a_stretch_of_a_variable_frame_rate_video_starts_at_its_start(analyzer, tmp_path):
    """OpenCV's seek times frames by the average rate: on a video at 10 fps for 3 s and then 29.97 fps,
    --start 2 landed past 3 s and the frames between were silently left out."""
    vfr = tmp_path / "vfr.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(sample_video()), "-vf",
                    "setpts='if(lt(N,30),3*N,60+N)*1001/30000/TB'", "-fps_mode", "vfr", "-c:v", "libx264",
                    str(vfr)], check=True)
    part, whole_inside = _stretch_as_in_the_whole(analyzer, vfr, 2.0, 4.0)
    assert part[0] == (2.002, 20) and len(part) == 10 + 30 and part == whole_inside


@needs_sample_clip
def test_a_time_copied_from_the_frames_table_names_its_row(analyzer):
    """Times are written to 4 decimals: frame 31's row says 1.0344 (it is at 1.034367 s). --start 1.0344 began at
    frame 32, a stretch 1.0344-1.05 holding that row was refused as holding none, --end 1.0344 kept the row, and a
    segment from 1.0344 counted 28 frames, not 29."""
    options = dict(method="frame", key_frames=0, annotate=False)
    part = analyzer.analyze_video(sample_video(), start=1.0344, end=2.0, segments=((1.0344, 2.0, "x"),), **options)
    table = part.frame_table()
    assert (table.time.min(), table.frame.min()) == (1.0344, 31)
    (entry,) = part.segment_summaries()[0]["tracks"]
    assert entry["frames"] == len(table) == 29 and entry["start"] == 1.0344
    assert list(analyzer.analyze_video(sample_video(), start=1.0344, end=1.05, **options).frame_table().frame) == [31]
    assert analyzer.analyze_video(sample_video(), start=1.0, end=1.0344, **options).frame_table().frame.max() == 30


@needs_sample_clip
def test_a_start_past_the_end_or_after_the_end_is_refused(analyzer, recording):
    with pytest.raises(VideoError, match=r"session\.mp4: start 9 s is at or past its end \(5\.00 s\)"):
        analyzer.analyze_video(recording, start=9.0)
    with pytest.raises(OptionError, match=r"end \(2 s\) must come after start \(3 s\)"):
        VideoOptions(start=3.0, end=2.0)


@needs_sample_clip
def test_a_segment_over_the_whole_video_is_summarised_as_its_track_is(analyzer, recording):
    """One rule for a track's shares of time, in a segment as in the tracks JSON (TrackLog.summary): a segment
    holding the whole video gives the track's own numbers, and two that split it share its seen seconds."""
    result = analyzer.analyze_video(recording, key_frames=0, annotate=False, region=PIP,
                                    segments=((0, 10, "all"), (0, 2.5, "task 1"), (2.5, 10)))
    track = result.track_summaries()[0]
    every, first, second = result.segment_summaries()
    assert [every["segment"], first["segment"], second["segment"]] == ["all", "task 1", 3]
    assert second["start"] == 2.5 and isinstance(second["start"], float)
    (entry,) = every["tracks"]
    for key in ("seen_seconds", "dominant_emotion", "emotion_share", "mean_probabilities", "frames", "start"):
        assert entry[key] == track[key]
    assert entry["episodes"] == track["episodes"]
    seen = first["tracks"][0]["seen_seconds"] + second["tracks"][0]["seen_seconds"]
    assert seen == pytest.approx(track["seen_seconds"], abs=1e-3)
    # a row lasts until the next analysed one: the first segment's track ends at its end, the second's starts there
    assert first["tracks"][0]["end"] <= 2.5 <= second["tracks"][0]["start"]
    # an episode is listed in each segment it overlaps
    listed = {(ep["start"], ep["end"]) for ep in first["tracks"][0]["episodes"] + second["tracks"][0]["episodes"]}
    assert listed == {(ep["start"], ep["end"]) for ep in track["episodes"]}


@needs_sample_clip
def test_segments_and_episodes_are_written_as_tables(analyzer, recording, tmp_path):
    result = analyzer.analyze_video(recording, tmp_path, region=PIP, key_frames=2, annotate=False,
                                    segments=(TimeSegment(0.0, 2.0, "sign up"), TimeSegment(2.0, 4.0, "checkout"),
                                              TimeSegment(6.0, 8.0, "after the end")))
    saved = json.loads((tmp_path / "session_tracks.json").read_text(encoding="utf-8"))
    assert saved["segments"] == json.loads(json.dumps(result.segment_summaries()))
    with open(tmp_path / "session_segments.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == SEGMENT_COLUMNS
    assert [(r["segment"], r["track"]) for r in rows] == [("sign up", "1"), ("checkout", "1"), ("after the end", "")]
    assert rows[2]["seen_seconds"] == "0.0" and rows[2]["episodes"] == "0"
    entry = saved["segments"][0]["tracks"][0]
    assert float(rows[0]["seen_seconds"]) == entry["seen_seconds"]
    assert float(rows[0]["neutral"]) == entry["emotion_share"]["neutral"]
    assert int(rows[0]["episodes"]) == len(entry["episodes"])

    with open(tmp_path / "session_episodes.csv", newline="", encoding="utf-8") as fh:
        episodes = list(csv.DictReader(fh))
    assert list(episodes[0]) == EPISODE_COLUMNS
    listed = saved["tracks"][0]["episodes"]
    assert len(episodes) == len(listed) > 1
    for row, episode in zip(episodes, listed):
        # one description of an episode: the table's row is the tracks JSON's entry, after its track and with its
        # segment (the JSON lacked the duration and peak_confidence the table had)
        assert set(episode) == set(EPISODE_COLUMNS) - {"track", "segment"}
        assert float(row["duration"]) == episode["duration"]
        assert float(row["peak_confidence"]) == episode["peak_confidence"]
        assert row["track"] == "1" and row["emotion"] == episode["emotion"]
        assert float(row["start"]) == episode["start"] and float(row["end"]) == episode["end"]
        assert float(row["duration"]) == pytest.approx(episode["end"] - episode["start"], abs=1e-4)
        assert float(row["key_frame_time"]) == episode["key_frame_time"]
        assert 0 < float(row["peak_confidence"]) <= 1
        assert row["key_frame"] == (episode["key_frame"] or "")
        assert row["segment"] == ("sign up" if episode["start"] < 2 else "checkout" if episode["start"] < 4 else "")
    kept = [row["key_frame"] for row in episodes if row["key_frame"]]
    assert len(kept) == 2 and all((tmp_path / name).is_file() for name in kept)


@needs_sample_clip
def test_sampling_from_a_start_keeps_to_a_grid_from_the_start(analyzer):
    """--start 1.5 --sample-fps 2 analysed 1.5015 and 1.5349 (the next_sample grid began at 0)."""
    part = analyzer.analyze_video(sample_video(), start=1.5, end=3.5, sample_fps=2, method="frame", key_frames=0,
                                  annotate=False)
    assert sorted(set(part.frame_table().time)) == [1.5015, 2.002, 2.5025, 3.003]


@needs_sample_clip
def test_a_stretch_ends_at_its_end_and_its_real_time_factor_counts_the_stretch(analyzer):
    """--end 2 gave a track ending at 2.002, and the real-time factor divided the position reached (2 s) by the run
    time for 1 s analysed."""
    part = analyzer.analyze_video(sample_video(), start=1.0, end=2.0, key_frames=0, annotate=False,
                                  segments=((1.5, 3.0, "B"),))
    assert part.duration == 2.0 and part.analysed_seconds == pytest.approx(1.0)
    assert part.track_summaries()[0]["end"] == 2.0
    assert part.summary()["end_reached"] == 2.0 and part.summary()["analysed_seconds"] == 1.0
    assert part.realtime_factor == pytest.approx(1.0 / part.run_seconds)
    assert part.analysis_realtime_factor == pytest.approx(1.0 / part.seconds)
    (entry,) = part.segment_summaries()[0]["tracks"]
    assert entry["end"] == 2.0 and entry["seen_seconds"] == 0.5


@needs_sample_clip
def test_a_segment_counts_its_own_frames_and_lasts_as_its_track_does(analyzer):
    """Segment B (1.5-3.0 s) said 46 frames where the frame table has 45 rows in it (the row carried in from
    1.4848 s counted); its seconds still follow the row rule. Sampled, a segment holding the track's end ended
    0.0005 s before the track did (1/sample_fps against the track's observed spacing)."""
    result = analyzer.analyze_video(sample_video(), key_frames=0, annotate=False,
                                    segments=((0, 1.5, "A"), (1.5, 3.0, "B")))
    table = result.frame_table()
    first, second = result.segment_summaries()
    (entry,) = second["tracks"]
    inside = table[(table.time >= 1.5) & (table.time < 3.0)]
    assert entry["frames"] == len(inside) == 45
    assert entry["seen_seconds"] == 1.5 and entry["start"] == 1.5
    for emotion, mean in entry["mean_probabilities"].items():
        assert mean == pytest.approx(inside[emotion].mean(), abs=1e-4)
    assert first["tracks"][0]["frames"] + entry["frames"] == len(table[table.time < 3.0])
    sampled = analyzer.analyze_video(sample_video(), sample_fps=2, method="frame", key_frames=0, annotate=False,
                                     segments=((3.0, 10.0, "end"),))
    assert sampled.segment_summaries()[0]["tracks"][0]["end"] == sampled.track_summaries()[0]["end"]


@needs_sample_clip
def test_segments_outside_the_stretch_analysed_say_so(analyzer, tmp_path):
    """A segment outside --start/--end or past the video's end read "seen_seconds 0" as if no face was there."""
    result = analyzer.analyze_video(sample_video(), tmp_path, start=1.0, end=2.0, key_frames=0, annotate=False,
                                    segments=((0, 1.5, "A"), (1.2, 1.8, "B"), (5, 8, "C")))
    assert [s["analysed_seconds"] for s in result.segment_summaries()] == [0.5, 0.6, 0.0]
    with open(tmp_path / "carphone_pristine_segments.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["segment"], r["analysed_seconds"]) for r in rows] == [("A", "0.5"), ("B", "0.6"), ("C", "0.0")]
    notice = result.segments_notice
    assert "2 segment(s)" in notice and "(1-2 s)" in notice
    assert "A (0-1.5 s: 0.5 s analysed)" in notice and "C (5-8 s: 0 s analysed)" in notice and "B (" not in notice


@needs_sample_clip
def test_a_region_smaller_than_the_smallest_face_is_refused_in_pixels(analyzer):
    """--region 0,0,1,1.5 (fractions meant; one value over 1 makes them pixels) was a 1 x 2 px region, silently."""
    with pytest.raises(VideoError, match=r"carphone_pristine\.mp4: region 0,0,1,1\.5 is 1 x 2 pixels of its 193 x 144 "
                                         r"frames, smaller than the smallest face looked for \(--min-face \d+\).*"
                                         r"all four are 1 or less"):
        analyzer.analyze_video(sample_video(), region=(0, 0, 1, 1.5), annotate=False)
    assert analyzer.analyze_video(sample_video(), region=(0, 0, 1, 1), end=0.2, annotate=False, key_frames=0).ok


@needs_sample_clip
def test_a_stretch_holding_no_frame_is_refused_naming_the_frames_times(analyzer):
    """--start 3.99 (after the last frame, 3.9706 s, before the container's end, 4.004 s) and --start 1.002 --end
    1.03 (between two frames) gave 0 frames, exit 0, no word."""
    with pytest.raises(VideoError, match=r"carphone_pristine\.mp4: no frame in the stretch from 3\.99 s: its last "
                                         r"frame is at 3\.9706 s \(29\.97 frames a second, 4\.00 s long\)"):
        analyzer.analyze_video(sample_video(), start=3.99, annotate=False)
    with pytest.raises(VideoError, match=r"no frame in the stretch 1\.002-1\.03 s: its frames are at 1\.0010 s and "
                                         r"1\.0344 s"):
        analyzer.analyze_video(sample_video(), start=1.002, end=1.03, annotate=False)
    assert len(analyzer.analyze_video(sample_video(), start=1.0, end=1.03, annotate=False,
                                      key_frames=0).frame_table()) == 1


@needs_sample_clip
def test_a_stretch_in_a_variable_frame_rate_gap_is_refused_by_the_frames_read(analyzer, tmp_path):
    """carphone with 0.5-1.5 s cut out (a variable-frame-rate file: no frames there), --start 0.6 --end 1.4: the
    check judged by the container's rate (22.48 frames a second), so it gave 0 frames, exit 0, "ends at 0.00 s"
    and end_reached 0.0 before start 0.6. It is refused naming the frames either side; an --end in the gap is
    reached (end_reached 1.4: `fervid video` said the 4 s file "ends at 0.51 s")."""
    vfr = tmp_path / "vfr.mp4"
    subprocess.run([FFMPEG, "-loglevel", "error", "-i", str(sample_video()), "-vf",
                    "select='not(between(t,0.5,1.5))'", "-fps_mode", "vfr", str(vfr)], check=True)
    with pytest.raises(VideoError, match=r"vfr\.mp4: no frame in the stretch 0\.6-1\.4 s: its frames are at "
                                         r"0\.4\d+ s and 1\.5\d+ s"):
        analyzer.analyze_video(vfr, tmp_path / "out", start=0.6, end=1.4, annotate=False)
    assert not (tmp_path / "out").exists()  # refused before any output: no folder made for it
    to_gap = analyzer.analyze_video(vfr, start=0.2, end=1.4, annotate=False, key_frames=0)
    assert to_gap.duration == 1.4 and to_gap.frame_table()["time"].between(0.2, 0.5).all()


@needs_sample_clip
def test_a_timeline_from_a_start_is_drawn_from_the_start_in_the_videos_times(analyzer, tmp_path, monkeypatch):
    """With --start 2 the timeline's axis began at 0, its first 2 s blank: it is drawn over the stretch analysed, in
    the video's times as the tables have them (2.0 to 4.0 s for carphone's last 2 s)."""
    drawn = []
    draw = video_module.timeline_figure
    monkeypatch.setattr(video_module, "timeline_figure", lambda *args: drawn.append(draw(*args)) or drawn[-1])
    part = analyzer.analyze_video(sample_video(), tmp_path, start=2.0, method="frame", key_frames=0, annotate=False)
    assert (tmp_path / "carphone_pristine_track1_timeline.png").is_file()
    (figure,) = drawn  # the one saved as the PNG
    rows = pd.read_csv(tmp_path / "carphone_pristine_frames.csv")
    curves, band = figure.axes
    assert band.get_xlim() == pytest.approx((2.0, 4.0), abs=0.01)
    first_times = [line.get_xdata()[0] for line in curves.get_lines()]
    assert first_times == pytest.approx([rows["time"].min()] * len(EMOTIONS)) and rows["time"].min() >= 2.0
    assert part.timeline(1).axes[1].get_xlim() == band.get_xlim()  # the figure the API gives is the one saved


@needs_sample_clip
def test_windows_of_equal_length_cover_the_stretch_and_the_last_ends_with_the_video(analyzer, tmp_path):
    """A spreadsheet of emotions per minute per person needed a hand-written table of minutes, or pandas, whose last
    window of a video's 0.12 s read as a minute. segment_every makes the windows; the last one ends where the
    analysis does, and says how long it is."""
    result = analyzer.analyze_video(sample_video(), tmp_path, segment_every=1.5, method="mean", key_frames=0,
                                    annotate=False)
    # the carphone clip: 4.004 s
    assert [segment[:3] for segment in result.segments] == [(0.0, 1.5, ""), (1.5, 3.0, ""), (3.0, 4.004, "")]
    summaries = result.segment_summaries()
    assert [s["segment"] for s in summaries] == [1, 2, 3]
    assert [s["analysed_seconds"] for s in summaries] == [1.5, 1.5, 1.004]
    seen = sum(s["tracks"][0]["seen_seconds"] for s in summaries)
    assert seen == pytest.approx(result.track_summaries()[0]["seen_seconds"], abs=1e-3)
    rows = pd.read_csv(tmp_path / "carphone_pristine_segments.csv")
    assert list(rows.columns) == SEGMENT_COLUMNS
    assert list(rows.segment_end) == [1.5, 3.0, 4.004] and list(rows.analysed_seconds) == [1.5, 1.5, 1.004]
    saved = json.loads((tmp_path / "carphone_pristine_tracks.json").read_text(encoding="utf-8"))
    assert saved["segment_every"] == 1.5 and [s["end"] for s in saved["segments"]] == [1.5, 3.0, 4.004]
    # from the start asked, to the end asked
    part = analyzer.analyze_video(sample_video(), segment_every=1.5, start=1.0, end=3.2, method="mean",
                                  key_frames=0, annotate=False)
    assert [segment[:3] for segment in part.segments] == [(1.0, 2.5, ""), (2.5, 3.2, "")]
    assert [s["analysed_seconds"] for s in part.segment_summaries()] == [1.5, 0.7] and part.segments_notice is None


@pytest.fixture(scope="module")
def carphone_seconds(analyzer, tmp_path_factory):
    """carphone (4.004 s) in windows of 1 s: the fifth, 4.0-4.004 s, holds no frame; and one of its episodes starting
    in two overlapping segments."""
    out = tmp_path_factory.mktemp("seconds")
    analyzer.analyze_video(sample_video(), out / "every", segment_every=1, method="frame", key_frames=0,
                           annotate=False)
    analyzer.analyze_video(sample_video(), out / "named", method="frame", key_frames=0, annotate=False,
                           segments=((0, 2, "first half"), (0, 4.004), (2, 4.004, "second half")))
    return out


@needs_sample_clip
def test_a_window_no_frame_fell_in_has_no_emotion_as_the_per_second_recipe_has_none(carphone_seconds):
    """`--segment-every 1` on the 4.004 s carphone clip: its last window, 4.0-4.004 s, holds no frame, and it gave
    the row in effect's dominant emotion with a share of 1.0, where the README's per-second recipe (the mean of the
    window's rows) gives NaN. A segment with no frame has no emotion: empty cells in the segments CSV, null in the
    tracks JSON, the same windows empty in both."""
    out = carphone_seconds / "every"
    rows = pd.read_csv(out / "carphone_pristine_segments.csv")
    saved = json.loads((out / "carphone_pristine_tracks.json").read_text(encoding="utf-8"))
    frames = pd.read_parquet(out / "carphone_pristine_frames.parquet")
    assert list(rows.segment_end) == [1.0, 2.0, 3.0, 4.0, 4.004]
    last = rows.iloc[-1]
    assert last.frames == 0 and last.seen_seconds == 0.004 and last[["dominant_emotion", *EMOTIONS]].isna().all()
    (entry,) = saved["segments"][-1]["tracks"]
    assert (entry["frames"], entry["dominant_emotion"], entry["emotion_share"]) == (0, None, None)
    # the recipe's means per second: the windows without a row are those without an emotion, and the others agree
    per_second = frames.groupby(frames.time // 1)[list(EMOTIONS)].mean().reindex(range(5))
    assert per_second.isna().all(axis=1).tolist() == rows.dominant_emotion.isna().tolist() == [False] * 4 + [True]
    assert rows.iloc[:4][list(EMOTIONS)].notna().all().all()


@needs_sample_clip
def test_the_tracks_json_gives_each_segment_as_the_segments_csv_reads(carphone_seconds):
    """The tracks JSON's `segments[].segment` was text ('1') where the segments CSV's cell reads as a number (1): a
    join of the two on it failed. A numbered segment is a number in both, a named one text; read as text
    (dtype=str), the episodes CSV's cells ("1; 2" where an episode starts in two) join the segments CSV's."""
    for run, expected in (("every", [1, 2, 3, 4, 5]), ("named", ["first half", 2, "second half"])):
        out = carphone_seconds / run
        saved = json.loads((out / "carphone_pristine_tracks.json").read_text(encoding="utf-8"))
        written = pd.read_csv(out / "carphone_pristine_segments.csv").drop_duplicates("segment")
        in_json = [s["segment"] for s in saved["segments"]]
        assert in_json == expected
        if run == "every":  # (a column of names and numbers reads as text: 2 is "2" there)
            assert written.segment.tolist() == in_json and written.segment.dtype == "int64"
        as_text = pd.read_csv(out / "carphone_pristine_segments.csv", dtype={"segment": str})
        assert as_text.drop_duplicates("segment").segment.tolist() == [str(s) for s in in_json]
        episodes = pd.read_csv(out / "carphone_pristine_episodes.csv", dtype={"segment": str})
        joined = episodes.segment.dropna().str.split("; ").explode()
        assert set(joined) <= set(as_text.segment) and len(joined) >= len(episodes.segment.dropna())
    named = pd.read_csv(carphone_seconds / "named" / "carphone_pristine_episodes.csv", dtype={"segment": str})
    assert named.segment.iloc[0] == "first half; 2"


def test_windows_are_asked_alone_and_last_some_time():
    with pytest.raises(OptionError, match="segments and segment_every: give one"):
        VideoOptions(segments=((0, 1, "A"),), segment_every=60.0)
    for bad in (0.0, -60.0, float("nan")):
        with pytest.raises(OptionError, match="segment_every must be a positive number of seconds"):
            VideoOptions(segment_every=bad)


def carphone_clip(path, frames: int = 44, blank_from: int | None = None):
    """carphone's first ``frames`` frames as a clip of their own (44: 1.47 s, release QA's clip.mp4), those from
    ``blank_from`` on grey: the face gone."""
    images = carphone_frames()[:frames]
    writer = clip_writer(path, images[0].shape[1], images[0].shape[0], 30000 / 1001)
    for i, image in enumerate(images):
        writer.write(image if blank_from is None or i < blank_from else np.full_like(image, 128))
    writer.close()
    return path


@needs_sample_clip
def test_windows_no_frame_fell_in_have_the_row_in_effect_and_reach_the_videos_end(analyzer, tmp_path):
    """Release QA: a 1.47 s clip with the face throughout, sampled at 4 frames a second, in windows of 0.1 s:
    windows 2, 4, 5, 7, 9, 10 and 12 (no analysed frame inside) had the track empty and 0 s seen, though a row lasts
    until the next, and the table stopped at 1.3 s (the last frame's window): the windows added up to 0.6 s seen of
    the track's 1.47 s. Every frame analysed in windows of 0.03 s (one falls between two frames) and of 0.001 s,
    the same. Each window now has the row in effect for its time, the last ending with the video; one no frame fell
    in has no emotion (its cells empty, as the README's per-second recipe gives a window without rows none)."""
    clip = carphone_clip(tmp_path / "clip.mp4")
    for sample_fps, every in ((4.0, 0.1), (None, 0.03), (None, 0.001)):
        out = tmp_path / f"every {every}"
        result = analyzer.analyze_video(clip, out, sample_fps=sample_fps, segment_every=every, method="frame",
                                        key_frames=0, annotate=False)
        (track,) = result.track_summaries()
        assert result.duration == pytest.approx(1.4681, abs=1e-4)
        rows = pd.read_csv(out / "clip_segments.csv")
        assert len(rows) == int(np.ceil(round(result.duration / every, 6))), every
        assert rows.segment_end.iloc[-1] == round(result.duration, 4)
        assert (rows.track == 1).all(), every
        assert rows.seen_seconds.tolist() == pytest.approx((rows.segment_end - rows.segment_start).tolist(), abs=1e-4)
        assert rows.seen_seconds.sum() == pytest.approx(track["seen_seconds"], abs=1e-3)
        # a window no frame fell in counts none, and gives no emotion: its time is the row in effect's
        table = pd.read_parquet(out / "clip_frames.parquet")
        assert rows.frames.sum() == len(table) and (rows.frames == 0).sum() > 0
        frameless = rows[rows.frames == 0]
        assert frameless[["dominant_emotion", *EMOTIONS]].isna().all().all(), every
        assert rows[rows.frames > 0][["dominant_emotion", *EMOTIONS]].notna().all().all(), every


@needs_sample_clip
def test_a_segment_between_two_analysed_frames_has_the_row_in_effect_for_its_time(analyzer, tmp_path):
    """Release QA: segments 0.3-0.45 s (between the frames analysed at 0.27 and 0.5 s) and 1.3-1.46 s (after the
    last, 1.27 s; the clip ends at 1.47 s) of a clip sampled at 4 frames a second had 0 s seen and the track empty.
    Each is now seen for its whole length, with frames 0 and no emotion (the frame before it has its own row), and a
    notice names them."""
    clip = carphone_clip(tmp_path / "clip.mp4")
    result = analyzer.analyze_video(clip, tmp_path, sample_fps=4, method="frame", key_frames=0, annotate=False,
                                    segments=((0.3, 0.45, "gap"), (0.3, 0.6, "spans"), (1.3, 1.46, "tail")))
    gap, spans, tail = result.segment_summaries()
    for segment in (gap, tail):
        (entry,) = segment["tracks"]
        assert (entry["start"], entry["end"], entry["frames"]) == (segment["start"], segment["end"], 0)
        assert entry["seen_seconds"] == round(segment["end"] - segment["start"], 4)
        assert entry["dominant_emotion"] is None and entry["emotion_share"] is None
    (entry,) = spans["tracks"]
    assert (entry["frames"], entry["seen_seconds"]) == (1, 0.3)
    assert result.frameless_segments_notice.startswith("2 of 3 segment(s) hold no analysed frame (the frames "
                                                       "analysed are about 0.25 s apart): gap (0.3-0.45 s), tail "
                                                       "(1.3-1.46 s); each has the row in effect at its start")


@needs_sample_clip
def test_a_segment_no_frame_fell_in_has_no_means_where_it_had_zeros(analyzer, tmp_path):
    """Release QA: a segment between the frames analysed at 0.27 and 0.5 s (4 a second) is seen for the row in
    effect, frames 0, and its mean box and probabilities were 0 (a face at the corner, no emotion at all): its
    segments table row said mean_x 0.0, its tracks JSON's mean_probabilities 0 for every emotion. Means are over the
    rows inside it, and there are none: empty cells, null in the JSON, None in segment_summaries(); a segment holding
    one frame has that frame's box and probabilities."""
    from fervid.apps.schemas import SegmentTrack

    clip = carphone_clip(tmp_path / "clip.mp4")
    result = analyzer.analyze_video(clip, tmp_path, sample_fps=4, method="frame", key_frames=0, annotate=False,
                                    segments=((0.3, 0.45, "gap"), (0.3, 0.6, "spans")))
    table = pd.read_parquet(tmp_path / "clip_frames.parquet")
    (frame,) = table[(table.time >= 0.3) & (table.time < 0.6)].itertuples()
    gap, spans = result.segment_summaries()
    written = json.loads((tmp_path / "clip_tracks.json").read_text())["segments"]
    for summaries in (gap, written[0]):
        (entry,) = summaries["tracks"]
        assert entry["frames"] == 0 and entry["seen_seconds"] == 0.15
        assert entry["mean_probabilities"] is None and entry["mean_box"] is None
    SegmentTrack.model_validate({**written[0]["tracks"][0], "episodes": []})  # (the server links episodes)
    for summaries in (spans, written[1]):
        (entry,) = summaries["tracks"]
        assert entry["mean_box"] == {k: round(getattr(frame, k), 1) for k in ("x", "y", "width", "height")}
        assert entry["mean_probabilities"] == {e: round(getattr(frame, e), 4) for e in EMOTIONS}
    with open(tmp_path / "clip_segments.csv", newline="", encoding="utf-8") as fh:
        gap_row, spans_row = csv.DictReader(fh)
    boxes = ["mean_x", "mean_y", "mean_width", "mean_height"]
    assert gap_row["frames"] == "0" and [gap_row[c] for c in boxes] == ["", "", "", ""]
    assert [float(spans_row[c]) for c in boxes] == list(spans["tracks"][0]["mean_box"].values())


@needs_sample_clip
def test_windows_after_the_face_left_have_no_track_and_those_before_share_its_seconds(analyzer, tmp_path):
    """The face on a clip's first second, grey frames after it, sampled at 4 frames a second, in windows of 0.1 s:
    the windows up to where the track's last row ends share its seen seconds; each one after has one row, the
    track empty and 0 s seen (a row carried into a window lasts no longer than the whole track's)."""
    clip = carphone_clip(tmp_path / "leaves.mp4", blank_from=30)
    result = analyzer.analyze_video(clip, tmp_path, sample_fps=4, segment_every=0.1, method="frame", key_frames=0,
                                    annotate=False)
    (track,) = result.track_summaries()
    rows = pd.read_csv(tmp_path / "leaves_segments.csv")
    assert len(rows) == 15 and rows.segment_end.iloc[-1] == 1.4681
    assert rows.seen_seconds.sum() == pytest.approx(track["seen_seconds"], abs=1e-3)
    seen, after = rows[rows.segment_start < track["end"]], rows[rows.segment_start >= track["end"]]
    assert (seen.track == 1).all() and len(after) >= 3
    assert after.track.isna().all() and (after.seen_seconds == 0).all() and (after.frames.isna()).all()


@needs_sample_clip
def test_windows_in_a_variable_frame_rate_gap_share_the_seconds_the_track_was_seen(analyzer, tmp_path):
    """carphone with 0.5-1.5 s cut out (a variable-frame-rate file: no frame there, the face on both sides), in
    windows of 0.25 s: the row before the gap lasts across it (a stretch with no frame is no absence), so each
    window in it is seen whole, with no emotion (no row of its own), and the windows add up to the track's
    seconds."""
    vfr = tmp_path / "vfr.mp4"
    subprocess.run([FFMPEG, "-loglevel", "error", "-i", str(sample_video()), "-vf",
                    "select='not(between(t,0.5,1.5))'", "-fps_mode", "vfr", str(vfr)], check=True)
    result = analyzer.analyze_video(vfr, tmp_path, segment_every=0.25, method="frame", key_frames=0, annotate=False)
    (track,) = result.track_summaries()
    rows = pd.read_csv(tmp_path / "vfr_segments.csv")
    inside = rows[(rows.segment_start >= 0.5) & (rows.segment_end <= 1.5)]
    assert len(inside) == 4 and (inside.frames == 0).all() and (inside.seen_seconds == 0.25).all()
    assert inside[["dominant_emotion", *EMOTIONS]].isna().all().all()
    assert rows.seen_seconds.sum() == pytest.approx(track["seen_seconds"], abs=1e-3)


@needs_sample_clip
def test_a_coders_tiers_and_codes_are_carried_into_the_segments_outputs(analyzer, tmp_path):
    """Two coders' tiers of the carphone clip (ELAN's Tier and Annotation): the codes were dropped, the segments
    only numbered; and the episodes table named only the first segment an episode starts in, so the second tier's
    never appeared."""
    segments = (TimeSegment(0.0, 1.0, "", "coderA", "neutral"), TimeSegment(1.0, 2.0, "", "coderA", "happy"),
                TimeSegment(0.0, 1.5, "", "coderB", "neutral"), TimeSegment(1.5, 4.0, "", "coderB", "neutral"))
    result = analyzer.analyze_video(sample_video(), tmp_path, key_frames=0, annotate=False, segments=segments)
    with open(tmp_path / "carphone_pristine_segments.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["segment", "tier", "annotation", *SEGMENT_COLUMNS[1:]]
    assert [(r["segment"], r["tier"], r["annotation"]) for r in rows] == [
        ("1", "coderA", "neutral"), ("2", "coderA", "happy"), ("3", "coderB", "neutral"), ("4", "coderB", "neutral")]
    saved = json.loads((tmp_path / "carphone_pristine_tracks.json").read_text(encoding="utf-8"))
    assert [(str(s["segment"]), s["tier"], s["annotation"]) for s in saved["segments"]] == [
        (r["segment"], r["tier"], r["annotation"]) for r in rows]
    # every segment an episode starts in, of each tier: the first episode starts at 0 s, in segments 1 and 3
    with open(tmp_path / "carphone_pristine_episodes.csv", newline="", encoding="utf-8") as fh:
        episodes = list(csv.DictReader(fh))
    assert episodes[0]["start"] == "0.0" and episodes[0]["segment"] == "1; 3"
    for row in episodes:
        start = float(row["start"])
        assert row["segment"] == "; ".join(str(n) for n, s in enumerate(segments, 1) if s.start <= start < s.end)
    # segments without codes keep the table as it was; a run's settings record them as before (a folder going on)
    plain = analyzer.analyze_video(sample_video(), key_frames=0, annotate=False, segments=((0, 2, "a"),))
    assert plain.segment_columns == SEGMENT_COLUMNS
    assert plain.segment_summaries()[0]["tier"] is plain.segment_summaries()[0]["annotation"] is None
    assert TimeSegment(0.0, 2.0, "a").recorded() == [0.0, 2.0, "a"]
    assert result.segments[0].recorded() == [0.0, 1.0, "", "coderA", "neutral"]


def dropout_clip(path, absent: range, frames: int = 30):
    """Two faces on grey at 15 fps, the astronaut photo on the left (track 1) and its mirror image on the right
    (track 2, throughout: the frames table has rows while the left one is gone), the left one gone on the frames
    in ``absent``."""
    from fervid.samples import astronaut

    face = np.ascontiguousarray(astronaut()[20:240, 120:330, ::-1])
    writer = clip_writer(path, 560, 240, 15.0)
    for i in range(frames):
        frame = np.full((240, 560, 3), 90, np.uint8)
        frame[10:230, 300:510] = face[:, ::-1]
        if i not in absent:
            frame[10:230, 30:240] = face
        writer.write(frame)
    writer.close()
    return path


def _segment_entries(summaries: list[dict], track: int) -> dict[str, dict]:
    """Per segment's name, ``track``'s entry in it (segment_summaries()'s), where it has one."""
    return {s["segment"]: entry for s in summaries for entry in s["tracks"] if entry["track"] == track}


def _pushed_as_live(analyzer, clip, segments) -> tuple[video_module.VideoResult, pd.DataFrame]:
    """``clip``'s frames pushed one by one through a stream into a result, as a live session (the server's
    /v1/live, `fervid video` of a camera) feeds them: its result and its faces as a frames table."""
    cap = cv2.VideoCapture(str(clip))
    runner = VideoAnalyzer(analyzer, VideoOptions(method="frame", segments=segments, annotate=False))
    result = runner.new_result("live.mp4", fps=15.0)
    stream = runner.stream(15.0)
    writer = video_module.ResultWriter(result, None, annotate=False, fps=15.0)
    index = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        writer.write(stream.push(index / 15.0, index, image))
        index += 1
    writer.write(stream.finish())
    result.duration = index / 15.0
    writer.close()
    return result, pd.DataFrame([{"track": f.track_id, "time": round(f.time, 4)} for f in result.faces])


def test_a_segment_starting_in_a_dropout_has_the_face_from_its_start_on_every_path(analyzer, tmp_path):
    """The left face gone for 5 frames (0.8-1.07 s; back in the table at 1.2 s): less than a gap, so its track
    goes on and is seen throughout. A segment starting in that dropout (0.9 s, or 1.0 s on a frame without it) had
    the track from its return only, 0.3 s less than it was seen (start 1.2, the two segments at 0.9 s adding up to
    1.7 of its 2.0 s), and one wholly inside the dropout had none of it: in `fervid video --segments` (a file, and
    frames pushed as a live session's) and in `fervid evaluate`'s label of a segment alike. Its row before the
    dropout now begins the segment and lasts until the face is back, as across a dropout inside a segment: counted
    for its time, not as a frame. Gone for longer than a gap (0.8-1.67 s), the face is still had from its return."""
    from fervid.evaluation.segments import FrameIndex, segment_summary

    segments = ((0.0, 0.9, "before"), (0.9, 1.8, "after"), (0.9, 1.0, "inside"), (1.0, 1.8, "on a frame"))
    clip = dropout_clip(tmp_path / "dropout.mp4", range(12, 17))
    result = analyzer.analyze_video(clip, tmp_path / "file", method="frame", key_frames=0, annotate=False,
                                    segments=segments)
    (whole, _) = result.track_summaries()
    assert whole["track"] == 1 and whole["seen_seconds"] == round(whole["end"] - whole["start"], 4)  # no gap
    table = pd.read_parquet(tmp_path / "file" / "dropout_frames.parquet")
    live, live_table = _pushed_as_live(analyzer, clip, segments)
    for summaries, rows in ((result.segment_summaries(), table), (live.segment_summaries(), live_table)):
        own = rows[rows.track == 1]
        assert own[own.time > 0.8].time.min() > 1.0  # back after the segments' starts
        entries = _segment_entries(summaries, 1)
        for name, start, end in (("after", 0.9, 1.8), ("on a frame", 1.0, 1.8), ("inside", 0.9, 1.0)):
            entry = entries[name]
            assert (entry["start"], entry["end"], entry["seen_seconds"]) == (start, end, round(end - start, 4))
            assert entry["frames"] == ((own.time >= start) & (own.time < end)).sum(), name
        assert entries["inside"]["frames"] == 0 and entries["inside"]["mean_box"] is None
        assert entries["before"]["seen_seconds"] + entries["after"]["seen_seconds"] == 1.8
    written = pd.read_csv(tmp_path / "file" / "dropout_segments.csv")
    inside = written[(written.segment == "inside") & (written.track == 1)].iloc[0]
    # its time is the row before the dropout's, whose own emotion is that row's: it has none of its own
    assert (inside.frames, inside.seen_seconds) == (0, 0.1) and inside[["dominant_emotion", *EMOTIONS]].isna().all()
    # fervid evaluate reads the frames table back through the same rule
    frames = FrameIndex.of(table)
    for name, entry in _segment_entries(result.segment_summaries(), 1).items():
        start, end, _ = next(s for s in segments if s[2] == name)
        label = segment_summary(frames, 1, start, end, 15.0)
        assert label is not None, name
        assert {k: label[k] for k in ("start", "end", "frames", "seen_seconds", "dominant_emotion")} == {
            k: entry[k] for k in ("start", "end", "frames", "seen_seconds", "dominant_emotion")}, name
    # windows of 0.25 s share the track's seconds, those in the dropout included
    windows = analyzer.analyze_video(clip, tmp_path / "windows", method="frame", key_frames=0, annotate=False,
                                     segment_every=0.25)
    rows = pd.read_csv(tmp_path / "windows" / "dropout_segments.csv")
    assert list(rows[rows.track == 1].seen_seconds) == [0.25] * len(windows.segments) == [0.25] * 8

    # gone for a gap: the segment has the face from its return, and one inside the absence none of it
    clip = dropout_clip(tmp_path / "gap.mp4", range(12, 25))
    result = analyzer.analyze_video(clip, tmp_path / "gap", method="frame", key_frames=0, annotate=False,
                                    segments=((0.9, 2.0, "after"), (0.9, 1.0, "inside")))
    table = pd.read_parquet(tmp_path / "gap" / "gap_frames.parquet")
    own = table[table.track == 1]
    back = float(own[own.time > 0.8].time.min())
    entries = _segment_entries(result.segment_summaries(), 1)
    assert set(entries) == {"after"} and (entries["after"]["start"], entries["after"]["seen_seconds"]) == (
        back, round(2.0 - back, 4))
    assert segment_summary(FrameIndex.of(table), 1, 0.9, 1.0, 15.0) is None
    assert segment_summary(FrameIndex.of(table), 1, 0.9, 2.0, 15.0)["start"] == back


def test_without_its_lead_in_a_stretchs_annotated_mp4_starts_at_its_first_frame(tmp_path, analyzer, long_face_clip):
    """A run from --start holds the annotated MP4's first frame from the recording's start (a player's time is the
    tables'). An estimate's sample of a stretch at 50 min so encoded 50 min of one held frame: its runner leaves the
    lead-in out (``annotated_lead_in``), and the MP4 holds the stretch's frames alone."""
    def annotated_frames(lead_in: bool) -> int:
        runner = VideoAnalyzer(analyzer, VideoOptions(method="mean", start=3.0, key_frames=0))
        runner.annotated_lead_in = lead_in
        out = tmp_path / str(lead_in)
        runner.run(long_face_clip, out)
        capture = cv2.VideoCapture(str(out / "long_face_clip_annotated.mp4"))
        try:
            return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()

    assert annotated_frames(True) == 120  # (its first 90 slots hold the frame at 3 s)
    assert annotated_frames(False) == 30
