"""The API's response models (OpenAPI at /docs), the same schema every writer uses: a face is described by
:meth:`fervid.inference.records.Face.to_dict` (JSON) and :func:`fervid.inference.records.face_row` (tables), and
these models validate exactly those (tests/apps/test_schemas.py). What a face's fields mean is written once, in
:data:`fervid.inference.records.FIELD_DESCRIPTIONS`; every model here that has them takes its descriptions from
there."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from fervid.emotions import EMOTIONS
from fervid.inference.records import FIELD_DESCRIPTIONS, TIME_SHARE_DESCRIPTIONS
from fervid.inference.video import TABLE_COLUMNS

Emotion = Literal[tuple(EMOTIONS)]  # one of the 7, in the schema as an enum
JobStatus = Literal["queued", "running", "done", "failed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def described(name: str, annotation, default=...) -> tuple:
    """A field of ``create_model`` (or, unpacked, of a class) described as :data:`FIELD_DESCRIPTIONS` says."""
    return annotation, Field(default, description=FIELD_DESCRIPTIONS[name])


def _field(name: str, default=...):
    return described(name, None, default)[1]


def _recorded(description: str):
    """A field of the tracks JSON that one written by an earlier fervid may lack (then absent from the answer)."""
    return Field(None, description=description)


class _Recorded(BaseModel):
    """A part of a tracks JSON, answered as the job's file holds it: one a later fervid wrote may hold keys this one
    does not know, which are passed on (refused, they made the job's result a 500)."""

    model_config = ConfigDict(extra="allow")


Box = create_model("Box", __base__=_Strict,
                   __doc__="A face's box, in image pixels from the image's top-left corner (x right, y down).",
                   **{c: described(c, float) for c in ("x", "y", "width", "height")})

Probabilities = create_model("Probabilities", __base__=_Strict, __doc__="The 7 emotions' probabilities (sum 1).",
                             **{e: described(e, float) for e in EMOTIONS})


class FaceOut(_Strict):
    """One face in an image: box, 5 landmarks (eyes, nose, mouth corners), detection score, the most probable
    emotion, its probability (confidence), whether it is below the model's ``uncertain`` threshold, and all 7. A
    face crop classified whole (`fervid image --face-crops`) has the whole image as its box, no landmarks and a
    null detection score: no detector ran."""

    box: Box
    landmarks: list[list[float]] | None = _field("landmarks")
    detection_score: float | None = _field("detection_score")
    emotion: Emotion = _field("emotion")
    confidence: float = _field("confidence")
    uncertain: bool = _field("uncertain")
    probabilities: Probabilities


class FileOut(_Strict):
    file: str = Field(description="The uploaded file's name.")
    ok: bool = Field(description="Whether the file was read as an image (one with no face is ok, with no faces).")
    width: int = Field(description="The image's width in pixels, turned upright by its EXIF orientation (0 where "
                                   "it was not read).")
    height: int = Field(description="The image's height in pixels (0 where it was not read).")
    faces: list[FaceOut] = Field(description="Its faces, in the order they are numbered (a face's number, the "
                                 "tables' `face`, is its place here from 1): from the image's left, and faces one "
                                 "above the other from the top, column by column.")
    error: str | None = Field(None, description="Why the file could not be read; null where it was.")


class ImagesOut(_Strict):
    """``fervid image --json`` and ``POST /v1/images``."""

    model: str = Field(description="The emotion model that ran.")
    weights_file: str = Field(description="The model's ONNX file that ran (its int8 graph by default).")
    weights_sha256: str = Field(description="That file's SHA-256.")
    precision: str = Field(description="The precision it ran in: int8 or fp32.")
    temperature: float = Field(description="The model's softmax temperature (a recalibrated copy's probabilities "
                                           "differ).")
    detector: str = Field(description="The face detector.")
    score_threshold: float | None = Field(description="The smallest detection score kept.")
    min_face: float | None = Field(description="The smallest face looked for, in pixels.")
    max_faces: int | None = Field(description="The largest N faces of each image were kept; null: every face.")
    face_crops: bool = Field(description="Each image was classified whole as one face, not detected "
                                         "(`fervid image --face-crops`; false from the server and the demo).")
    landmarks: bool = Field(description="Whether each face's 5 landmarks are given; false: left out on request "
                                        "(`--no-landmarks`), each face's `landmarks` null.")
    fervid: str = Field(description="The fervid version that made the results.")
    onnxruntime: str = Field(description="The ONNX Runtime version that ran the model.")
    files: list[FileOut] = Field(description="One entry per file, in the order posted.")
    failed: int = Field(description="How many of the files could not be read as images.")


class ImagesWithCsvOut(ImagesOut):
    """``POST /v1/images?csv=true``: :class:`ImagesOut` and the table ``?format=csv`` answers, of one analysis."""

    csv: str = Field(description="The CSV table `fervid image --csv` writes (what ?format=csv answers), of the same "
                                 "analysis: a row per face, one with its file alone for an image without one.")


class ErrorOut(_Strict):
    """Every error the server answers (any 4xx or 5xx): what went wrong, naming the file where there is one."""

    error: str = Field(description="What went wrong, in words.")
    status: int = Field(description="The HTTP status, as in the answer's status line.")
    message: str | None = Field(None, description="Where the error names the server's options (a limit): the "
                                "same, in words for a person using the web page (\"ask whoever runs the server\").")


_JOB_ID = Field(description="The job's id: 32 hex digits.")


class VideoJobOut(_Strict):
    """``POST /v1/videos``: the queued job and where to follow it."""

    job_id: str = _JOB_ID
    status: Literal["queued"] = Field(description="A new job waits for a worker.")
    status_url: str = Field(description="GET it for the job's status and progress (JobOut).")
    result_url: str = Field(description="GET it once the job is done (ResultOut).")


class JobOut(_Strict):
    """``GET /v1/jobs/{id}``: queued, running, done or failed; ``partial`` when the video broke mid-way and the
    results cover what was read up to the break (``error`` says why)."""

    id: str = _JOB_ID
    status: JobStatus = Field(description="queued: waiting for a worker; running: being analysed; done: the result "
                                          "is ready (see partial); failed: error says why.")
    progress: float = Field(description="The share of the video analysed so far, 0 to 1.")
    error: str | None = Field(description="Why the job failed, or why its video broke off (a partial result); "
                                          "null otherwise.")
    filename: str | None = Field(description="The uploaded video's file name.")
    created: float | None = Field(description="When the job was queued: Unix time, in seconds.")
    partial: bool = Field(description="The video broke mid-way: the results cover what was read up to the break.")
    restarts: int = Field(description="How many times the job's analysis was cut off (the server stopped or was "
                                      "killed, or the analysis was signalled) and began again from the start, "
                                      "progress from 0; 0 for one that ran once.")
    waiting_for: int | None = Field(description="A queued job: how many other videos must end before it starts "
                                                "(those queued before it and those being analysed, fervid serve "
                                                "--workers at once); null once it runs.")
    expires_at: str | None = Field(description="A finished (done or failed) job: when the server deletes it and "
                                               "its results (ISO 8601 with the server's UTC offset; fervid serve "
                                               "--job-ttl-hours after it ended); null until it ends.")


class Change(_Recorded):
    """A change of a track's emotion."""

    model_config = ConfigDict(populate_by_name=True)

    time: float = Field(description="Seconds (on the file's timeline) of the first row with the new emotion.")
    from_: Emotion = Field(alias="from", description="The emotion before.")
    to: Emotion = Field(description="The emotion from then on.")
    unseen_before: float = Field(description="Seconds the face was unseen just before (0 for a change in view).")


class Episode(_Recorded):
    """A stretch of one emotion in a track, with its most expressive frame."""

    emotion: Emotion = Field(description="The emotion shown throughout.")
    start: float = Field(description="Seconds (on the file's timeline) of its first row.")
    end: float = Field(description="Seconds where its last row ends: where the next episode starts, at the first "
                                   "frame without the face before a gap, or one analysed spacing after its last row "
                                   "at the track's end.")
    # (None: a tracks JSON written by an earlier fervid lacks them, and its job's result is still answered)
    duration: float | None = Field(None, description="Seconds from its start to its end.")
    peak_confidence: float | None = Field(None, description="The probability of its emotion at key_frame_time, as "
                                                            "that row of the frames table gives it (the temporal "
                                                            "method's, as the annotated video labels it), 0 to 1.")
    uncertain_share: float | None = Field(None, description="The share of its rows (analysed frames) flagged "
                                                            "`uncertain`, 0 to 1, to 4 decimals: how much of it the "
                                                            "model was unsure of.")
    key_frame: str | None = Field(description="The key frame's file name; null for an episode shorter than 0.5 s, "
                                              "or left out by --key-frames.")
    key_frame_time: float = Field(description="Seconds of its most expressive row (where its key frame is, or would "
                                              "have been).")
    key_frame_url: str | None = Field(description="Where to download the key frame; null where there is none.")


EmotionShares = create_model(
    "EmotionShares", __base__=_Strict, __doc__="Each emotion's share of the time the face was seen (sum 1).",
    **{e: (float, Field(description=meaning)) for e, meaning in TIME_SHARE_DESCRIPTIONS.items()})


class _TrackSummary(_Recorded):
    """A track's summary: its span, rows, seconds seen, emotions and box (a track's, and a segment's part of one)."""

    track: int = _field("track")
    start: float = _field("start")
    end: float = _field("end")
    frames: int = _field("frames")
    seen_seconds: float = _field("seen_seconds")
    dominant_emotion: Emotion = _field("dominant_emotion")
    emotion_share: EmotionShares
    # (None: a tracks JSON written by an earlier fervid lacks it, and its job's result is still answered)
    uncertain_share: float | None = _field("uncertain_share", None)
    mean_probabilities: Probabilities = Field(description="The mean of its rows' probabilities.")
    mean_box: Box = Field(description="The mean of its rows' boxes: where the face was.")


class TrackOut(_TrackSummary):
    """One track of a video: a face followed without a break, summarised (the tracks JSON's entry)."""

    changes: list[Change] = Field(description="Each change of its emotion, in time order.")
    episodes: list[Episode] = Field(description="Its emotions' stretches, in time order.")
    timeline_url: str = Field(description="Where to download its timeline (PNG).")


class SceneCut(_Recorded):
    """A scene cut, and the tracks it ended and those it kept (a cut ends a track whose face's surroundings
    changed)."""

    time: float = Field(description="Seconds (on the file's timeline) of the first frame after the cut.")
    ended: list[int] = Field(description="The tracks it ended: their face's surroundings changed (another person or "
                                         "room). A face after it is a new track (with max_faces 1: the same number, "
                                         "one face being followed throughout).")
    kept: list[int] = Field(description="The tracks that went on across it: their face's surroundings stayed (a "
                                        "webcam shown picture-in-picture over a screen recording's page change).")


class ReplacedFace(_Recorded):
    """With max_faces: a face followed that gave way to a larger one found while it was new."""

    time: float = Field(description="Seconds (on the file's timeline) of the detection round that found the larger "
                                    "face.")
    track: int = Field(description="The track that gave way: it ends there.")
    new_track: int = Field(description="The larger face's track, new from there.")
    area_ratio: float = Field(description="The larger face's box area over the one it replaced (1.5 or more).")
    why: str = Field(description="Why, in words: how many detection rounds the face given up had been found in, "
                                 "and max_faces.")


class FrameSizeChange(_Recorded):
    """Where recordings of another frame size joined in the file begin: the decoder handed their frames out scaled
    to the first's size (width x height of the result), the size analysed and the boxes' pixels."""

    time: float = Field(description="Seconds (on the file's timeline) from which the frames were recorded at this "
                                    "size.")
    width: int = Field(description="The frame's width in pixels from there, as players show it.")
    height: int = Field(description="The frame's height in pixels from there.")


class SegmentTrack(_TrackSummary):
    """A track's summary over one segment alone: its rows in the segment (the row in effect at the segment's start
    beginning it), as a track's summary is over the whole track."""

    dominant_emotion: Emotion | None = _field("dominant_emotion")
    emotion_share: EmotionShares | None = Field(
        description="Each emotion's share of the time the face was seen in the segment; null where it has no row "
                    "(frames 0: no analysed frame fell in the segment, and the face was seen there for the row in "
                    "effect, whose label is the frame's before it).")
    mean_probabilities: Probabilities | None = Field(
        description="The mean of its rows' probabilities inside the segment; null where it has none (frames 0: no "
                    "analysed frame fell in the segment, and the face was seen there for the row in effect).")
    mean_box: Box | None = Field(
        description="The mean of its rows' boxes inside the segment: where the face was; null where it has none "
                    "(frames 0).")
    episodes: list[Episode] = Field(description="The whole track's episodes that overlap the segment, as the track "
                                                "lists them (whole: they may start before it and end after it).")


class Segment(_Recorded):
    """A stretch of the video summarised on its own (--segments, or a window of --segment-every)."""

    segment: str | int = Field(description="Its name (text), or where the segments table names none (a window of "
                                           "--segment-every) its number from 1 (a number, as the segments CSV's "
                                           "cell reads).")
    tier: str | None = _recorded("Its tier in the segments table (a `tier` column: ELAN's `Tier`), null where it "
                                 "gives none.")
    annotation: str | None = _recorded("Its code in the segments table (an `annotation` or `label` column: "
                                       "ELAN's `Annotation`), null where it gives none.")
    start: float = Field(description="Seconds (on the file's timeline) where it starts, as the segments table "
                                     "gave it.")
    end: float = Field(description="Seconds where it ends, as the table gave it; a window's at most where the "
                                   "analysis ended (the last one is shorter).")
    analysed_seconds: float | None = _recorded("Seconds of it inside the stretch analysed (from start to "
                                               "end_reached): less than its length where it lies (partly) outside "
                                               "it, whose seconds seen count the part analysed only.")
    tracks: list[SegmentTrack] = Field(description="Each track seen in it, in number order.")


class ResultLinks(_Strict):
    """Where to download a job's outputs."""

    frames_csv: str = Field(description="The per-frame table: a row per track per analysed frame (FaceRow's "
                                        "columns, without landmarks).")
    frames_parquet: str = Field(description="The same table as Parquet.")
    tracks_json: str = Field(description="The tracks JSON, this result without the job's fields and links.")
    frames_json: str = Field(description="Each track's series (FramesOut).")
    episodes_csv: str | None = Field(None, description="Each track's emotion episodes, a row each (as the tracks "
                                                       "JSON lists them); absent for a job an earlier fervid ran.")
    segments_csv: str | None = Field(None, description="Each segment's part of each track; absent where the job "
                                                       "had no segments.")
    annotated_video: str | None = Field(None, description="The annotated MP4; absent where the job wrote none "
                                                          "(?annotate=false, a live session).")


class ResultOut(_Recorded):
    """``GET /v1/jobs/{id}/result``: the tracks JSON (``fervid video``'s ``<name>_tracks.json``) with links to every
    output: the video, what made the results (as the tracks JSON records it), the tracks and the segments. A field
    a tracks JSON written by an earlier fervid lacks is absent."""

    file: str | None = Field(description="The uploaded video's file name.")
    ok: bool = Field(description="False where the video broke mid-way (then partial is true).")
    partial: bool = Field(description="The video broke mid-way: the results cover what was read up to the break.")
    error: str | None = Field(description="Why the video broke off; null otherwise.")
    cancelled: bool | None = _recorded("Whether the analysis was cancelled before the video's end (the Python API's "
                                       "stop callback); a server job is never cancelled so.")
    interrupted: bool | None = _recorded("Whether the analysis was stopped before the video's end by Ctrl-C or "
                                         "SIGTERM (error says where).")
    fps: float = Field(description="The video's frame rate.")
    width: int = Field(description="The frame's width in pixels, as players show it.")
    height: int = Field(description="The frame's height in pixels.")
    duration: float = Field(description="Seconds (on the file's timeline, from its start) where the analysis "
                                        "stopped, as end_reached: not the seconds read, which with a start "
                                        "are analysed_seconds.")
    end_reached: float | None = _recorded("Seconds (on the file's timeline) where the analysis stopped.")
    analysed_seconds: float | None = _recorded("Seconds of the stretch analysed, from start to end_reached.")
    video_seconds: float | None = _recorded("The video's own length in seconds, as its container gives it; null "
                                            "where it gives none.")
    frames_read: int = Field(description="Frames decoded.")
    frames_analysed: int = Field(description="Frames analysed (fewer than read with --sample-fps).")
    method: str = Field(description="The temporal method: lstm, mean, hmm or frame.")
    model: str = Field(description="The emotion model.")
    detector: str = Field(description="The face detector.")
    weights_file: str | None = _recorded("The model's ONNX file that ran (its int8 graph by default).")
    weights_sha256: str | None = _recorded("That file's SHA-256.")
    precision: str | None = _recorded("The precision it ran in: int8 or fp32.")
    temperature: float | None = _recorded("The model's softmax temperature.")
    score_threshold: float | None = _recorded("The smallest detection score kept.")
    min_face: float | None = _recorded("The smallest face looked for, in pixels.")
    max_faces: int | None = _recorded("At most this many faces followed at once; null: every face.")
    detect_every: float | None = _recorded("Seconds between face detections (optical flow tracks in between).")
    window: float | None = _recorded("Seconds of frames the temporal method looks at; null for method frame.")
    frames_per_window: int | None = _recorded("The analysed frames a window holds, the frame included; null where "
                                              "no window is read.")
    sample_fps: float | None = _recorded("The most frames a second analysed, as asked for; null: every frame.")
    centred_window: bool | None = _recorded("Whether each frame's window is centred on it (false: causal, the "
                                            "frames before it only).")
    labels_delay_seconds: float | None = _recorded("How long a label trails a change of expression: 0 for a centred "
                                                   "window.")
    key_frames: int | None = _recorded("The cap on a track's key frames; null: no cap.")
    region: list[float] | None = _recorded("The region analysed (x, y, width, height in the frame's pixels); null: "
                                           "the whole frame.")
    started_at: str | None = _recorded("A camera's or stream's session: its time 0 by the wall clock (ISO 8601 with "
                                       "the UTC offset), to align its rows with an event log; null for a file.")
    start: float | None = _recorded("Seconds (on the file's timeline) where the analysis started.")
    end: float | None = _recorded("Seconds where the analysis was asked to stop; null: the video's end.")
    segment_every: float | None = _recorded("With --segment-every: the seconds of each window summarised on its own "
                                            "(segments), from start; null otherwise.")
    temporal_temperature: float | None = _recorded("The temporal method's softmax temperature.")
    temporal_model: str | None = _recorded("The temporal LSTM that ran (method lstm only).")
    temporal_model_sha256: str | None = _recorded("Its weights file's SHA-256 (method lstm only).")
    fervid: str | None = _recorded("The fervid version that made the results.")
    onnxruntime: str | None = _recorded("The ONNX Runtime version that ran the models.")
    analysis_seconds: float | None = _recorded("Seconds the analysis took.")
    stage_seconds: dict[str, float] | None = _recorded(
        "Seconds (wall clock) of analysis_seconds each stage took: decode, detect, track, align, cnn, temporal, "
        "encode (the annotated video; its ffmpeg encoder runs beside the others, its CPU in encoder_cpu_seconds).")
    encoder_cpu_seconds: float | None = _recorded("CPU seconds the ffmpeg process encoding the annotated video used; "
                                                  "null without one, or where the platform does not tell (Windows).")
    scene_cuts: list[float] | None = _recorded("Seconds (on the file's timeline) of each scene cut found.")
    scene_cut_tracks: list[SceneCut] | None = _recorded("At each cut, the tracks it ended and those that went on.")
    replaced_faces: list[ReplacedFace] | None = _recorded("With max_faces: each time a face followed gave way to a "
                                                          "larger one.")
    frames_brightened: int | None = _recorded("Frames analysed with their levels stretched, being dark.")
    hdr: str | None = _recorded("PQ or HLG for an HDR video; null for SDR.")
    tone_mapped: bool | None = _recorded("Whether an HDR video's frames were tone-mapped to SDR.")
    clock_resets: list[float] | None = _recorded("Seconds where the file's own clock started again (recordings "
                                                 "joined end to end).")
    frame_size_changes: list[FrameSizeChange] | None = _recorded("Where recordings joined in the file change frame "
                                                                 "size.")
    video_streams: int | None = _recorded("The video streams the file holds (cover art apart); the first is "
                                          "analysed.")
    analysed_fps_cap: float | None = _recorded("The most frames a second analysed where the memory for the "
                                               "temporal windows set a cap; null otherwise.")
    tracks: list[TrackOut] = Field(description="Each track, in number order.")
    segments: list[Segment] | None = _recorded("With --segments or --segment-every: each segment, with each track's "
                                               "summary within it; empty without.")
    links: ResultLinks


FRAME_SERIES = ["time", *EMOTIONS, "emotion", "uncertain"]  # what GET /v1/jobs/{id}/frames gives of each row
_ROW_TYPES = {"frame": int, "track": int, "detection_score": float | None, "emotion": Emotion, "uncertain": bool,
              "detected": bool}

TrackSeries = create_model(
    "TrackSeries", __base__=_Strict,
    __doc__="One track's rows as series, one value per analysed frame in which the face was seen, in time order.",
    **{c: described(c, list[_ROW_TYPES.get(c, float)]) for c in FRAME_SERIES})


class FramesOut(_Strict):
    """``GET /v1/jobs/{id}/frames``: each track's time series (what the web page's timeline draws)."""

    emotions: list[Emotion] = Field(description="The 7 emotions, in the order fervid lists them everywhere.")
    tracks: dict[str, TrackSeries] = Field(description="Each track's series, by its number.")


class DeletedOut(_Strict):
    deleted: str = Field(description="The id of the job deleted: its upload and every output are gone.")


class HealthOut(_Strict):
    """``GET /healthz``."""

    status: Literal["ok"] = Field(description="The server answers.")
    queued_jobs: int = Field(description="Video jobs waiting for a worker.")
    running_jobs: int = Field(description="Video jobs being analysed.")
    disk_free_mb: int | None = Field(description="Free space on the data folder's disk, in MB.")
    warnings: list[str] = Field(description="What may make requests fail: a data or temporary folder with less "
                                            "free space than one upload of --max-upload-mb (uploads then 507).")


FaceRow = create_model(
    "FaceRow", __base__=_Strict,
    __doc__="A face in a live frame: the video table's row (time, frame, track, the face row, detected) + landmarks.",
    **{c: described(c, _ROW_TYPES.get(c, float)) for c in TABLE_COLUMNS},
    landmarks=described("landmarks", list[list[float]] | None))
