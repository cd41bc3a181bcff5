"""The web and live pages word a face's label and a track's summary as fervid's images, videos and command line do:
their JavaScript (common.js, after the server's /constants.js) run by Node, where it is installed."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from fervid.apps.cli import _dominant_text
from fervid.apps.server import STATIC_DIR, web_constants_script
from fervid.inference.annotate import face_label

NODE = shutil.which("node")


def run_page_script(expression: str, tmp_path: Path):
    """``expression``'s value (as JSON) with the pages' constants and common.js loaded, as the pages load them."""
    if NODE is None:
        pytest.skip("node is not installed")
    script = tmp_path / "page.js"
    script.write_text(web_constants_script() + (STATIC_DIR / "common.js").read_text(encoding="utf-8")
                      + f"\nprocess.stdout.write(JSON.stringify({expression}));\n", encoding="utf-8")
    return json.loads(subprocess.run([NODE, str(script)], capture_output=True, text=True,
                                     encoding="utf-8", check=True).stdout)


def test_the_pages_label_a_face_and_summarise_a_track_as_fervids_outputs_do(tmp_path):
    """The web page's photo labels said "1 happy" with no confidence, its status "#1 mostly neutral" of a track a
    third of whose rows were uncertain, and the live page alone marked an uncertain face ("?"): the pages label a
    face as the annotated image, video and key frames do (face_label: "neutral 49%?") and say a track's dominant
    emotion with its share and its uncertain share as `fervid video` does."""
    faces = [("neutral", 0.4913, True), ("happy", 0.9963, False), ("surprise", 0.4421, True), ("fear", None, True),
             ("sad", None, False)]
    tracks = [{"dominant_emotion": "neutral", "emotion_share": {"neutral": 0.5, "surprise": 0.3},
               "uncertain_share": 0.35},
              {"dominant_emotion": "happy", "emotion_share": {"happy": 0.87}, "uncertain_share": 0.0}]
    said = run_page_script(f"[{json.dumps(faces)}.map(([e, c, u]) => faceLabel(e, c, u)), "
                           f"{json.dumps(tracks)}.map(dominantText)]", tmp_path)
    assert said == [[face_label(*face) for face in faces], [_dominant_text(track) for track in tracks]]
    assert said[0][0] == "neutral 49%?" and said[1][0] == "most often neutral (50%), uncertain in 35% of frames"
    # a job's tracks JSON written by an earlier fervid (no uncertain_share; the API answers it null): its share alone
    older = run_page_script('[{dominant_emotion: "sad", emotion_share: {sad: 0.61}}, '
                            '{dominant_emotion: "sad", emotion_share: {sad: 0.61}, uncertain_share: null}]'
                            ".map(dominantText)", tmp_path)
    assert older == ["mostly sad (61%)"] * 2


def test_the_pages_use_the_shared_label_wherever_they_label_a_face():
    """Each page labelled faces its own way (the live page "#1 neutral 31%?", the web page's photo "1 neutral"):
    every label goes through faceLabel, the video's summaries through dominantText."""
    app = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    live = (STATIC_DIR / "live.js").read_text(encoding="utf-8")
    assert "faceLabel(" in app and "faceLabel(" in live and "dominantText(" in app
    assert "mostly ${" not in app and "face.emotion} ${Math.round" not in live  # no label of their own left
    assert '"?"' not in app + live  # the mark is the server's (UNCERTAIN_MARK), not a copy
    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert index.count('"?" after a label marks an uncertain face') == 2  # what it means, by the photo and the video


def test_the_pages_round_a_percentage_as_the_command_line_and_tables_do(tmp_path):
    """The pages' JavaScript took an exact half up (toFixed(0), Math.round) where Python's "{:.0%}" (face_label,
    `fervid video`'s lines, the annotated images) takes it to the even number: a confidence of 0.125 read "13%" on
    the page and "12%" from `fervid image`. Every probability written to 4 decimals (as the tables and the API give
    them) now reads the same on both, and so do the labels and summaries made of them."""
    fractions = [k / 10_000 for k in range(10_001)]
    said = run_page_script(f"{json.dumps(fractions)}.map(percentText)", tmp_path)
    python = [f"{fraction:.0%}" for fraction in fractions]
    assert said == python
    ties = [f for f in fractions if (f * 100) % 1 == 0.5]  # x.5 exactly, where the two roundings part
    assert len(ties) > 50 and python[fractions.index(0.125)] == "12%" and python[fractions.index(0.375)] == "38%"
    faces = [("neutral", 0.125, True), ("happy", 0.625, False), ("sad", 0.005, False)]
    tracks = [{"dominant_emotion": "fear", "emotion_share": {"fear": 0.345}, "uncertain_share": 0.125}]
    assert run_page_script(f"[{json.dumps(faces)}.map(([e, c, u]) => faceLabel(e, c, u)), "
                           f"{json.dumps(tracks)}.map(dominantText)]", tmp_path) == [
        [face_label(*face) for face in faces], [_dominant_text(track) for track in tracks]]


def test_the_pages_lists_show_the_uncertain_mark_once_and_say_uncertain_once(tmp_path):
    """The photo's faces table and the live page's faces list showed "neutral 49%? (uncertain)": the mark and the
    word for one flag. A list's label shows face_label's text (the mark once) and gives a screen reader the word
    "uncertain" once, in place of the "?" it reads as nothing or as "question mark"; a sure face's is its text."""
    import html
    import re

    faces = [("neutral", 0.4913, True), ("happy", 0.9963, False), ("fear", None, True)]
    labels = run_page_script(f"{json.dumps(faces)}.map(([e, c, u]) => faceLabelHtml(e, c, u))", tmp_path)
    for face, label in zip(faces, labels):
        shown = html.unescape(re.sub(r"<[^>]*>", "", label))  # what the page shows
        assert shown == face_label(*face), label
        assert label.count("uncertain") == (1 if face[2] else 0), label
        assert 'aria-label="uncertain"' in label if face[2] else "<" not in label
    app = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    live = (STATIC_DIR / "live.js").read_text(encoding="utf-8")
    assert "(uncertain)" not in app + live
    assert "faceLabelHtml(face.emotion" in app and "faceLabelHtml(face.emotion" in live  # the lists
    # and no percentage of their own, rounded the other way
    assert not re.search(r"\* 100\)\.toFixed\(0\)|Math\.round\([^)]*\* 100\)}%", app + live)


def test_the_status_says_a_job_started_again_after_a_server_restart(tmp_path):
    """A job the server queued again after a restart runs from the start (its `restarts` counts them): its progress
    fell from 7% back to 3% on the page with nothing said."""
    states = [{"status": "running", "progress": 0.029, "restarts": 1},
              {"status": "queued", "waiting_for": 2, "restarts": 2},
              {"status": "running", "progress": 0.5, "restarts": 0}, {"status": "running", "progress": 0},
              {"status": "queued", "waiting_for": 0}, {"status": "done", "progress": 1.0, "restarts": 1}]
    assert run_page_script(f"{json.dumps(states)}.map(progressText)", tmp_path) == [
        "3% (started again after a server restart)",
        "waiting for 2 other videos to finish first (started again after 2 server restarts)",
        "50%", "starting", "waiting to start", "done"]
