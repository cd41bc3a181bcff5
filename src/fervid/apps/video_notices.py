"""The notices a video's results are to be read with, worded once for every command that analyses videos:
``fervid video`` and ``live`` print them, ``fervid batch`` keeps them in files.csv's ``note``."""

from __future__ import annotations

import sys
from pathlib import Path


def seconds_list(times: list[float], most: int = 3) -> str:
    """"4.0 s", "4.0 s and 8.0 s", "4.0 s, 8.0 s, 12.0 s and 2 more": times in a sentence."""
    return in_a_sentence([f"{t:.1f} s" for t in times], most)


def in_a_sentence(items: list[str], most: int = 3) -> str:
    """"a", "a and b", "a, b, c and 2 more"."""
    words = items[:most] + ([f"{len(items) - most} more"] if len(items) > most else [])
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def small_faces_notice(result, detector) -> str | None:
    """Where a large video's faces are near --min-face: smaller ones were not looked for (its frames are detected on
    a copy where a --min-face face is the detector's smallest), and a class's back row may be missing unsaid. Where
    no face was found at all, whether a smaller --min-face finds faces on its frames (a lecture hall of 21-36 px
    faces in 1280x720 gave no track and no word: the hint was for videos with a few faces found)."""
    from fervid.inference.detect import detection_scales

    min_face = result.settings.get("min_face")
    if not (min_face and result.width and hasattr(detector, "max_side") and hasattr(detector, "largest_face")):
        return None
    if detection_scales(result.height, result.width, min_face, detector.max_side, detector.largest_face,
                        getattr(detector, "small_image_side", 0))[0] >= 1.0:
        return None  # detected at full size: a smaller face is as findable as the detector makes it
    smaller = max(16, round(min_face / 2))
    tracks = result.track_summaries()
    frames = f"in its {result.width}x{result.height} frames faces smaller than {min_face:g} px were not looked for"
    if not tracks:
        found = _faces_at_min_face(result, detector, smaller) if smaller < min_face else None
        if found is None:
            return None
        time, heights = found
        return (f"no face was found at --min-face {min_face:g}: {frames}; on its frame at {time:.1f} s, --min-face "
                f"{smaller} finds {len(heights)} ({min(heights):.0f}-{max(heights):.0f} px tall): analyse it again "
                "with that (slower)")
    small = [t for t in tracks if t.get("mean_box") and t["mean_box"]["height"] < SMALL_FACE_RATIO * min_face]
    if not small:
        return None
    return (f"{len(small)} of its {len(tracks)} track(s) are faces under {SMALL_FACE_RATIO * min_face:.0f} px tall, "
            f"near --min-face {min_face:g}: {frames}, and may be missing (a back row); --min-face {smaller} looks "
            "for them too (slower)")


def _faces_at_min_face(result, detector, min_face: int) -> tuple[float, list[float]] | None:
    """(time, face heights) of the faces ``detector`` finds at ``min_face`` on a frame of the video ``result`` read
    (its analysed stretch's middle, else a quarter or three quarters in: a class may walk in late); None where it
    finds none, or the source is not a file to read again (a live stream). The frames are read as the analysis read
    them (:func:`~fervid.inference.video.open_video`): past a Theora video's repeated frames, which a plain read took
    for its end (no frame, no word), with non-square pixels shown as they show, an HDR video's tone-mapped."""
    import copy

    import cv2

    from fervid.inference.video import VideoError, open_video

    def frame_seconds(capture) -> float:  # the last frame grabbed's time, on the file's timeline
        return capture.get(cv2.CAP_PROP_POS_MSEC) / 1000 + capture.video_start

    source = Path(result.source)
    if not (result.frames_read and source.is_file()):
        return None
    finer = copy.copy(detector)  # the same network, looking for smaller faces
    finer.min_face = min_face
    try:  # (its frames' size was checked as the analysis opened it: the limit it ran under is not asked again)
        capture = open_video(source, max_pixels=sys.maxsize)
    except VideoError:  # (changed or removed since it was analysed)
        return None
    start, half_frame = result.settings.get("start") or 0.0, 0.5 / (result.fps or 30.0)
    try:
        for quarter in (2, 1, 3):
            # (half a frame on: the frame nearest the quarter, not a tie between two that the seek settles either way)
            seconds = start + result.analysed_seconds * quarter / 4 + half_frame
            landed = capture.seek(seconds) is not None
            grabbed = capture.grab()
            while grabbed and not landed and frame_seconds(capture) < seconds:  # read on from where it is (a pipe,
                grabbed = capture.grab()                                       # a failed seek: its start) to there
            ok, frame = capture.retrieve() if grabbed else (False, None)
            found = finer.detect(frame) if ok and frame is not None else []
            if found:  # the time of the frame read, on the file's timeline (as its tables say it)
                return frame_seconds(capture), [d.box[3] for d in found]
    finally:
        capture.release()
    return None


# faces under this many times --min-face tall: others nearby may be under it (small_faces_notice)
SMALL_FACE_RATIO = 1.5


def video_notices(result, name: str, out: Path, detector=None) -> dict[str, str]:
    """What a video's (or a live session's) results should be read with, each under what it is about, in this
    order: a temporal window holding too few analysed frames for its method, faces
    near the smallest looked for (``detector``: the one that ran), a dark picture brightened, an HDR video
    tone-mapped (or not), a clock that started again, frame sizes changing, video streams left out, frames left
    out for memory, one track across scene cuts (--max-faces 1), a face followed replaced by a larger one, an
    --end past the video's end, segments outside the stretch analysed or holding no frame, outputs that replaced
    another source's. ``fervid video`` prints them; ``fervid batch`` puts them in files.csv's ``note``."""
    from fervid.inference.align import DARK_TOP
    from fervid.inference.track import ESTABLISHED_ROUNDS

    notices: dict[str, str] = {}
    if window := result.window_notice_in("flags"):
        notices["window"] = window
    if small := small_faces_notice(result, detector):
        notices["small_faces"] = f"{name}: {small}"
    if result.frames_brightened:
        notices["dark"] = (f"{name} is dark in {result.frames_brightened} of its {result.frames_analysed} analysed "
                           f"frames (their brightest pixels under {DARK_TOP} of 255): faces were found and read on its "
                           "levels stretched; expect fewer faces and less certain labels than in a well-lit video")
    if result.hdr and result.tone_mapped:
        notices["hdr"] = (
            f"{name} is HDR video ({result.hdr}, as phones record by default): its frames were tone-mapped to SDR "
            "(BT.709) by the ffmpeg binary and analysed as an ordinary screen shows them (hdr and tone_mapped in the "
            "tracks JSON)")
    elif result.hdr:
        notices["hdr"] = (
            f"{name} is HDR video ({result.hdr}) and was read without tone-mapping (the ffmpeg binary has no zscale "
            "and tonemap filters, or they could not convert it): its highlights and bright skin are clipped to white "
            "and its colours shifted, and labels may differ from an SDR copy's; export it as SDR (a phone's or "
            "editor's \"most compatible\"/SDR export) for reliable results")
    if result.clock_resets:
        notices["clock_resets"] = (
            f"{name}'s own clock starts again at {seconds_list(result.clock_resets)} (recordings joined end to "
            "end?): the times in its tables go on from the frame before each, and may differ from a player's clock "
            "after it (clock_resets in the tracks JSON)")
    if result.frame_size_changes:
        size = f"{result.width}x{result.height}"
        changes = in_a_sentence([f"{c['width']}x{c['height']} from {c['time']:.1f} s"
                                 for c in result.frame_size_changes])
        notices["frame_size_changes"] = (
            f"{name} changes frame size from its first frame's {size} ({changes}; recordings joined end to end?): "
            f"the decoder scaled those frames to {size}, so faces in a picture of another shape were analysed "
            f"stretched, and boxes there are in {size} pixels (frame_size_changes in the tracks JSON); to read each "
            "at its own size, analyse the recordings one by one or convert the file to one size first")
    if result.video_streams > 1:
        notices["video_streams"] = (
            f"{name} holds {result.video_streams} video streams: the first was analysed (video_streams in the "
            "tracks JSON); to analyse another, copy it out first (`ffmpeg -i FILE -map 0:v:1 -c copy second.mkv` "
            "for the second)")
    if result.analysed_fps_cap:
        notices["analysed_fps_cap"] = (
            f"{name}'s {result.width}x{result.height} frames come faster than the frames its analysis may hold for "
            "their temporal windows allow (--frames-memory-mb): at most "
            f"{result.analysed_fps_cap:g} frames a second were analysed, the others left out (analysed_fps_cap in "
            "the tracks JSON); --sample-fps analyses fewer")
    # cuts that kept the face followed (a webcam picture-in-picture over a screen's page change) joined no shots
    ending = [cut["time"] for cut in result.scene_cut_tracks if cut["ended"]]
    if result.settings.get("max_faces") == 1 and ending and result.track_ids:
        notices["scene_cuts"] = (
            f"{name} has scene cuts at {seconds_list(ending)}, and with --max-faces 1 each shot's largest face is "
            "track 1: an edited video of several people is one track here (analyse it without --max-faces to "
            "number each shot's faces apart)")
    if result.replaced_faces:
        changes = in_a_sentence([f"track {r['track']} to track {r['new_track']} at {r['time']:.1f} s ("
                                 f"{r['area_ratio']:g} times its area)" for r in result.replaced_faces])
        notices["replaced_faces"] = (
            f"{name}: a face followed gave way to a larger one ({changes}): it was new, found in fewer than "
            f"{ESTABLISHED_ROUNDS} detection rounds, and --max-faces {result.settings.get('max_faces')} follows that "
            "many faces at most (replaced_faces in the tracks JSON)")
    end = result.settings.get("end")
    if end is not None and result.ok and result.fps and result.duration + 1 / result.fps < end:
        notices["end_past_video"] = (
            f"{name} ends at {result.duration:.2f} s, before --end {end:g} s: it was analysed to its end "
            "(end_reached in the tracks JSON; end records what was asked)")
    if result.segments_notice:
        notices["segments_outside"] = f"{name}: {result.segments_notice}"
    if result.frameless_segments_notice:
        notices["frameless_segments"] = f"{name}: {result.frameless_segments_notice}"
    if result.replaced:
        notices["replaced_outputs"] = (f"{name}'s outputs replaced those of {result.replaced} in {out}/ (same "
                                       "names; use another --out to keep both)")
    return notices
