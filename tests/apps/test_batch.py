"""fervid batch on a corpus the test makes, including a run killed with SIGKILL and resumed."""

import gc
import importlib.util
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import (FACE_CLIP_FPS, FACE_CLIP_FRAMES, cnn_runs_out_of_memory, needs_sample_clip,
                      windows_without_long_paths, write_participant_behind_small_face)

from fervid.apps.batch import BatchLocked, BatchOptions, collect_inputs, output_lock, run_batch
from fervid.emotions import EMOTIONS
from fervid.inference.options import PipelineOptions

MEAN = PipelineOptions(method="mean")  # faster than the LSTM; the batch machinery is what is tested
NO_ANNOTATION = PipelineOptions(annotate=False)


def make_corpus(root: Path, astronaut_rgb, video: Path, n_images=8) -> Path:
    """``n_images`` photos of the astronaut, two_faces.png, ``video`` as clip.mp4 (face_clip: one face throughout),
    and two bad files (broken.jpg, empty.mp4)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        # every image distinct (identical files are analysed and counted once: see the hardening tests); turned by
        # 0.5 degrees at least: by 0.04 and 0.08 (img004, img008) they were img000's bytes
        Image.fromarray(astronaut_rgb).rotate(i % 4 + 0.5 + i / 100).resize((320, 320)).save(root / f"img{i:03d}.jpg")
    two = Image.new("RGB", (640, 320))
    two.paste(Image.fromarray(astronaut_rgb).resize((320, 320)), (0, 0))
    two.paste(Image.fromarray(astronaut_rgb[:, ::-1]).resize((320, 320)), (320, 0))
    two.save(root / "two_faces.png")
    shutil.copy(video, root / "clip.mp4")
    (root / "broken.jpg").write_text("not an image")
    (root / "empty.mp4").write_bytes(b"")
    return root


def test_batch_does_every_good_file_and_records_failures(tmp_path, astronaut_rgb, face_clip):
    corpus = make_corpus(tmp_path / "corpus", astronaut_rgb, face_clip, 3)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path\ncorpus/img000.jpg\ncorpus/missing.jpg\n")
    out = tmp_path / "out"
    summary = run_batch([str(corpus), str(manifest)], BatchOptions(out=out, pipeline=MEAN), progress=False)
    assert summary["done"] == 5 and summary["failed"] == 3  # broken.jpg, empty.mp4, missing.jpg
    errors = " ".join(f["error"] for f in summary["failures"])
    assert "broken.jpg: not an image" in errors and "empty.mp4: empty file" in errors and "missing.jpg" in errors
    table = pd.read_parquet(out / "dataset.parquet")
    per_file = table.groupby("file").size()
    assert per_file[str(corpus / "clip.mp4")] == FACE_CLIP_FRAMES
    assert per_file[str(corpus / "two_faces.png")] == 2
    # an image's faces are numbered from 1 as a video's tracks are (one `track` column held 0, 1 beside 1)
    assert sorted(table[table["file"] == str(corpus / "two_faces.png")]["track"]) == [1, 2]
    assert set(table[table["file"] == str(corpus / "clip.mp4")]["track"]) == {1}
    # photos' faces and video tracks counted apart, and their emotion shares too (a row is a face or a frame)
    images = table[table["kind"] == "image"]
    assert (summary["image_faces"], summary["video_tracks"]) == (len(images), 1)
    assert summary["faces"] == len(images) + 1
    assert summary["emotion_share_by_kind"]["image"]["happy"] == 1.0
    assert summary["emotion_share"]["happy"] == pytest.approx((table["emotion"] == "happy").mean(), abs=1e-4)
    assert "video tracks" in (out / "summary.md").read_text(encoding="utf-8")
    assert set(table[table["kind"] == "image"]["emotion"]) == {"happy"}
    key = summary["outputs"][str(corpus / "clip.mp4")]
    assert (out / key / "clip_annotated.mp4").is_file() and (out / key / "clip_tracks.json").is_file()
    again = run_batch([str(corpus)], BatchOptions(out=out, pipeline=MEAN), progress=False)
    assert again["this_run"]["files_analysed"] == 2  # only the two broken files are tried again
    assert len(pd.read_parquet(out / "dataset.parquet")) == len(table)


def emotion_share_cells(out: Path) -> dict[str, list[str]]:
    """summary.md's emotion table: per emotion, its share of rows, of image faces and of video frames."""
    lines = (out / "summary.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("| emotion | share of rows | of image faces | of video frames |") + 2
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")]
                                              for line in lines[start:start + 7])}


def test_a_folder_named_as_the_model_is_said_to_be_unused_once_not_by_each_worker(tmp_path, astronaut_png):
    """`fervid batch --model ferplus_vgg --workers 2` beside a folder ferplus_vgg/: the driver says it is not
    used; each worker, which loads the model again, does not say it once more (a Python warning with its path and
    source line, per worker). Without --model, the default's name, typed by no one, says nothing of it."""
    (tmp_path / "ferplus_vgg").mkdir()
    images = tmp_path / "in"
    images.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(astronaut_png, images / name)
    for out, model in (("typed", ["--model", "ferplus_vgg"]), ("default", [])):
        done = subprocess.run([sys.executable, "-m", "fervid", "batch", str(images), "--out", str(tmp_path / out),
                               "--workers", "2", *model], cwd=tmp_path, capture_output=True, text=True,
                               encoding="utf-8", timeout=300)
        assert done.returncode == 0, done.stderr
        assert [line for line in done.stderr.splitlines() if "ferplus_vgg" in line] == [
            "warning: ferplus_vgg means the shipped model; the folder ./ferplus_vgg here is not used (give it as "
            "./ferplus_vgg to use it)"][:len(model)], done.stderr


def test_summary_md_says_n_a_for_a_kind_the_run_has_none_of_and_tracks_csv_is_the_track_table(tmp_path,
                                                                                                astronaut_rgb,
                                                                                                face_clip):
    """A run of videos only said 0.0% of image faces for every emotion (and of images only, of video frames)."""
    from fervid.inference.analyzer import Analyzer

    options = MEAN.replace(annotate=False)
    run_batch([str(face_clip)], BatchOptions(out=tmp_path / "videos", pipeline=options), progress=False)
    cells = emotion_share_cells(tmp_path / "videos")
    assert list(cells) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert {image for _, image, _ in cells.values()} == {"n/a"}
    assert all(rows == video and video.endswith("%") for rows, _, video in cells.values())
    # tracks.csv holds the columns and values of the API's track table
    tracks = pd.read_csv(tmp_path / "videos" / "tracks.csv")
    expected = Analyzer().analyze_video(face_clip, options=options).track_table()
    assert tracks.columns.tolist() == ["file", *expected.columns, "partial"]
    pd.testing.assert_frame_equal(tracks[expected.columns], expected, check_dtype=False)
    # partial as R's read.csv reads a logical (Python's False it read as text) and pandas' as bool
    lines = (tmp_path / "videos" / "tracks.csv").read_text(encoding="utf-8").splitlines()
    assert [line.rsplit(",", 1)[1] for line in lines] == ["partial", "FALSE"] and tracks["partial"].dtype == bool

    Image.fromarray(astronaut_rgb).save(tmp_path / "astronaut.png")
    run_batch([str(tmp_path / "astronaut.png")], BatchOptions(out=tmp_path / "images", pipeline=options),
              progress=False)
    cells = emotion_share_cells(tmp_path / "images")
    assert {video for _, _, video in cells.values()} == {"n/a"}
    assert cells["happy"][:2] == ["100.0%", "100.0%"] and cells["sad"][:2] == ["0.0%", "0.0%"]


def test_collect_inputs_dedups_and_reports(tmp_path, astronaut_rgb, face_clip):
    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 2)
    files, problems = collect_inputs([str(corpus), str(corpus / "img000.jpg"), str(tmp_path / "nope")])
    assert len(files) == 6 and problems == [(str(tmp_path / "nope"), "no such file or folder")]


def test_manifests_from_spreadsheets(tmp_path, astronaut_rgb, face_clip):
    """A manifest saved as "CSV UTF-8" (byte-order mark, path not the first column, non-ASCII names) is read, and so
    are Excel's CSV in a German or French locale (semicolon-separated) and its older "CSV" (Windows' encoding), as
    `fervid evaluate` reads its tables: the first was "not a manifest", the second refused as not UTF-8."""
    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 3)
    (corpus / "img000.jpg").rename(corpus / "Zoë.jpg")
    (corpus / "img001.jpg").rename(corpus / "café.jpg")
    excel = tmp_path / "excel.csv"
    excel.write_bytes("\ufeffid,path\n1,c/Zoë.jpg\n".encode("utf-8"))
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_bytes("\ufeffpath;label\r\nc/clip.mp4;happy\r\nc/img002.jpg;neutral\r\n;\r\n".encode("utf-8"))
    windows = tmp_path / "windows.csv"
    windows.write_bytes("path,label\r\nc/café.jpg,happy\r\n".encode("cp1252"))
    files, problems = collect_inputs([str(excel), str(semicolons), str(windows), str(corpus / "two_faces.png")])
    assert files == [corpus / "Zoë.jpg", corpus / "clip.mp4", corpus / "img002.jpg", corpus / "café.jpg",
                     corpus / "two_faces.png"]
    assert problems == []



def test_a_japanese_excel_manifest_names_its_files(tmp_path):
    """A manifest Japanese Excel saved (cp932) was read as cp1252: `in/実験/参加者3.png` was looked for as
    "in/ŽÀŒ±/ŽQ‰ÁŽÒ3.png" ("no such file"). Where the files are there under another reading of it (a folder
    unzipped with its names so misread), that is said."""
    (tmp_path / "in" / "実験").mkdir(parents=True)
    (tmp_path / "in" / "実験" / "参加者3.png").write_bytes(b"")
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes("path\nin/実験/参加者3.png\n".encode("cp932"))
    notices: list[str] = []
    assert collect_inputs([str(manifest)], notices) == ([tmp_path / "in" / "実験" / "参加者3.png"], [])
    assert notices == []
    misread = tmp_path / "misread"
    (misread / "ŽÀŒ±").mkdir(parents=True)  # the folder's name, cp932's bytes read as cp1252
    (misread / "ŽÀŒ±" / "ŽQ‰ÁŽÒ3.png").write_bytes(b"")
    manifest = misread / "manifest.csv"
    manifest.write_bytes("path\n実験/参加者3.png\n".encode("cp932"))
    files, problems = collect_inputs([str(manifest)], notices)
    assert problems == [(str(misread / "実験" / "参加者3.png"), "no such file or folder")]
    assert notices == [f"{manifest}: 1 of the paths it lists are not there as it reads in cp932, but are as it "
                       f"reads in cp1252 (e.g. {misread}/ŽÀŒ±/ŽQ‰ÁŽÒ3.png); save it as CSV (Excel: File > Save As "
                       "> CSV UTF-8; LibreOffice: File > Save As > Text CSV)"]


def test_a_manifest_naming_files_composed_finds_them_named_decomposed_on_disk(tmp_path, astronaut_rgb, face_clip):
    """A manifest typed on Windows names "coração.jpg" composed; the photo copied from macOS is named decomposed:
    it was "no such file or folder"."""
    import unicodedata

    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 1)
    on_disk = corpus / unicodedata.normalize("NFD", "coração.jpg")
    (corpus / "img000.jpg").rename(on_disk)
    if "coração.jpg" in os.listdir(corpus):
        pytest.skip("this filesystem stores names in one normal form")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path\nc/coração.jpg\n", encoding="utf-8")
    assert collect_inputs([str(manifest)]) == ([on_disk], [])


def test_a_files_csv_given_back_as_a_manifest_names_the_files_whose_names_start_as_formulas(tmp_path,
                                                                                            astronaut_rgb, face_clip):
    """fervid's CSVs write a name starting as a formula (`=x.jpg`) with a ' before it, which a spreadsheet shows as
    text: given back to `fervid batch` as a manifest, `'=x.jpg` was looked for as a file of that name. A file whose
    own name starts with a ' stays itself."""
    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 2)
    (corpus / "img000.jpg").rename(corpus / "=x.jpg")
    (corpus / "img001.jpg").rename(corpus / "'=quoted.jpg")
    manifest = corpus / "files.csv"
    manifest.write_text("file,status\n'=x.jpg,ok\n'=quoted.jpg,ok\n", encoding="utf-8")
    files, problems = collect_inputs([str(manifest)])
    assert (files, problems) == ([corpus / "=x.jpg", corpus / "'=quoted.jpg"], [])


def test_a_folder_of_videos_whose_names_have_colons_is_analysed(tmp_path, monkeypatch, face_clip):
    """`fervid batch .` over `take:1.mp4` (or a macOS `3:4:2024 interview.mp4`) failed them as "not a video": FFmpeg
    read the names as protocols' URLs. files.csv names them as they are."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    monkeypatch.chdir(tmp_path / "in")
    shutil.copy(face_clip, "take:1.mp4")
    summary = run_batch(["."], BatchOptions(out=tmp_path / "out", pipeline=NO_ANNOTATION, end=1.0), progress=False)
    assert summary["done"] == 1 and summary["failed"] == 0, summary["failures"]
    files = pd.read_csv(tmp_path / "out" / "files.csv")
    assert files["file"].tolist() == ["take:1.mp4"] and files["rows"].tolist() == [30]


def test_killed_run_resumes_with_every_file_exactly_once(tmp_path, astronaut_rgb, face_clip):
    corpus = make_corpus(tmp_path / "corpus", astronaut_rgb, face_clip, 30)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fervid.apps.cli", "batch", str(corpus), "--out", str(out), "--method", "mean", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
        try:
            with sqlite3.connect(out / "state.sqlite") as db:
                done = db.execute("SELECT COUNT(*) FROM files WHERE status = 'done'").fetchone()[0]
        except sqlite3.Error:
            continue
        if done >= 5:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-run
            break
    proc.wait()
    assert 5 <= done < 32, "the run was not caught mid-way"
    with sqlite3.connect(out / "state.sqlite") as db:
        left = db.execute("SELECT COUNT(*) FROM files WHERE status != 'done'").fetchone()[0]
    assert left > 0
    rerun = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8")
    assert rerun.returncode == 1  # the two broken files
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done"] == 32 and summary["failed"] == 2
    assert summary["this_run"]["files_analysed"] < 34  # finished files were skipped
    table = pd.read_parquet(out / "dataset.parquet")
    per_file = table.groupby("file").size()
    assert len(per_file) == 32  # no missing file
    assert per_file[str(corpus / "clip.mp4")] == FACE_CLIP_FRAMES and per_file[str(corpus / "two_faces.png")] == 2
    assert (per_file.drop([str(corpus / "clip.mp4"), str(corpus / "two_faces.png")]) == 1).all()  # no duplicate
    assert not list((out / "files").glob(".*.tmp"))  # no half-written results left in place


@pytest.mark.skipif(importlib.util.find_spec("ray") is None and not os.environ.get("CI"), reason="ray not installed")
@pytest.mark.slow  # starts a two-node Ray cluster
def test_ray_cluster_gives_the_same_results_as_local(tmp_path, astronaut_rgb, face_clip):
    """A real local Ray cluster: a head and a second worker node process on 127.0.0.1."""
    corpus = make_corpus(tmp_path / "corpus", astronaut_rgb, face_clip, 4)
    local = run_batch([str(corpus)], BatchOptions(out=tmp_path / "local", pipeline=MEAN), progress=False)
    port = 21000 + os.getpid() % 1000  # outside the worker port range Ray reserves (10002-19999)
    # loopback-only test cluster: explicit auth mode, so a token left in ~/.ray by an earlier ray.init() cannot
    # leave the head and the worker node disagreeing
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    temp = f"/tmp/ray_{os.getpid()}"  # short: Ray's socket paths must stay under 107 bytes
    subprocess.run(ray_cli + ["start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus",
                              "1", "--include-dashboard", "false", "--temp-dir", temp, "--disable-usage-stats"],
                   check=True, env=env, capture_output=True)
    try:
        subprocess.run(ray_cli + ["start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1",
                                  "--num-cpus", "1"], check=True, env=env, capture_output=True)
        result = subprocess.run([sys.executable, "-m", "fervid.apps.cli", "batch", str(corpus), "--out", str(tmp_path / "ray"),
                                 "--engine", "ray", "--address", f"127.0.0.1:{port}", "--method", "mean", "-q"],
                                capture_output=True, text=True, encoding="utf-8", env=env, timeout=600)
    finally:
        subprocess.run(ray_cli + ["stop", "--force"], env=env, capture_output=True)
    assert result.returncode == 1, result.stderr[-2000:]  # the two broken files, recorded, not fatal
    ray_summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert ray_summary["done"] == local["done"] == 6 and ray_summary["failed"] == 2
    a = pd.read_parquet(tmp_path / "local" / "dataset.parquet").sort_values(["file", "track", "frame"])
    b = pd.read_parquet(tmp_path / "ray" / "dataset.parquet").sort_values(["file", "track", "frame"])
    assert len(a) == len(b)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), atol=1e-4)


# --- hardening (issue 15) ----------------------------------------------------------------------------------

def test_identical_files_are_analysed_once_and_every_path_is_done(tmp_path, astronaut_rgb):
    """5: identical files shared one output folder and parallel workers collided (1-9 of 26 lost per run)."""
    corpus = tmp_path / "same"
    corpus.mkdir()
    Image.fromarray(astronaut_rgb).resize((256, 256)).save(corpus / "a.jpg")
    for i in range(11):
        shutil.copy(corpus / "a.jpg", corpus / f"copy{i:02d}.jpg")
    out = tmp_path / "out"
    summary = run_batch([str(corpus)], BatchOptions(out=out, workers=2, pipeline=NO_ANNOTATION), progress=False)
    assert summary["done"] == 12 and summary["failed"] == 0
    assert summary["this_run"]["files_analysed"] == 1
    table = pd.read_parquet(out / "dataset.parquet")
    assert list(table["file"]) == [str(corpus / "a.jpg")]  # one row (face), under the first of its content's names
    assert len(summary["copies"]) == 11 and "and 6 more (files.csv's same_as)" in (out / "summary.md").read_text(
        encoding="utf-8")
    shutil.copy(corpus / "a.jpg", corpus / "new_copy.jpg")  # same content under a new name, later
    summary = run_batch([str(corpus)], BatchOptions(out=out, workers=2, pipeline=NO_ANNOTATION), progress=False)
    assert summary["done"] == 13 and summary["this_run"]["files_analysed"] == 0


def test_a_copy_of_a_file_is_counted_once_named_in_files_csv_and_its_outputs_are_the_originals(
        tmp_path, astronaut_rgb, face_clip):
    """session.mp4 and its byte-identical "session - Kopie.mp4" were one file counted twice: dataset.parquet had
    the rows under each name, summary.md counted the copy's tracks and rows, and their shared outputs were named
    after the copy (it sorts first), so session_episodes.csv did not exist."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "session.mp4")
    shutil.copy(face_clip, corpus / "session - Kopie.mp4")
    Image.fromarray(astronaut_rgb).resize((256, 256)).save(corpus / "a.jpg")
    shutil.copy(corpus / "a.jpg", corpus / "a (1).jpg")
    out = tmp_path / "out"
    summary = run_batch([str(corpus)], BatchOptions(out=out, pipeline=MEAN.replace(annotate=False)), progress=False)
    assert summary["done"] == 4 and summary["this_run"]["files_analysed"] == 2
    video, image = str(corpus / "session.mp4"), str(corpus / "a.jpg")
    copies = {str(corpus / "session - Kopie.mp4"): video, str(corpus / "a (1).jpg"): image}
    assert {c["file"]: c["same_as"] for c in summary["copies"]} == copies
    table = pd.read_parquet(out / "dataset.parquet")
    assert table.groupby("file").size().to_dict() == {video: FACE_CLIP_FRAMES, image: 1}  # once, the first's
    assert (summary["rows"], summary["video_tracks"], summary["image_faces"], summary["faces"]) == (
        FACE_CLIP_FRAMES + 1, 1, 1, 2)
    files = pd.read_csv(out / "files.csv", keep_default_na=False).set_index("file")
    assert files["same_as"].to_dict() == {**copies, video: "", image: ""}
    assert files.loc[str(corpus / "session - Kopie.mp4"), "rows"] == FACE_CLIP_FRAMES  # the file's own numbers
    assert list(pd.read_csv(out / "tracks.csv")["file"]) == [video]
    folder = out / summary["outputs"][video]
    assert (folder / "session_episodes.csv").is_file() and not list(folder.glob("session - Kopie*"))
    assert json.loads((folder / "session_tracks.json").read_text(encoding="utf-8"))["file"] == video
    said = (out / "summary.md").read_text(encoding="utf-8")
    assert f"- faces: 2 (1 in images, 1 video tracks), table rows: {FACE_CLIP_FRAMES + 1}" in said
    assert (f"- copies: 2 file(s) with the same content as a file before them, counted once, as that one (their "
            f"rows are in dataset.parquet once, under its name): {corpus / 'a (1).jpg'} (of {image}), "
            f"{corpus / 'session - Kopie.mp4'} (of {video})") in said


def test_a_copy_a_later_run_finds_takes_its_first_results_whole_and_leaves_it_the_first(
        tmp_path, astronaut_rgb, face_clip):
    """b.jpg, b.mp4 and a video that broke mid-way analysed, then a.jpg, a.mp4 and a.avi of the same bytes added: the
    copies took only faces, rows and seconds (summary.json's made_with counted them as made by an unrecorded fervid,
    the partial video's copy was done with no note), and a copy sorting first became the first: dataset.parquet's
    rows moved from b.jpg's name to a.jpg's, never analysed, while b.mp4's outputs and tracks JSON stayed b's."""
    import fervid
    import onnxruntime

    corpus = tmp_path / "c"
    corpus.mkdir()
    Image.fromarray(astronaut_rgb).resize((256, 256)).save(corpus / "b.jpg")
    shutil.copy(face_clip, corpus / "b.mp4")
    cut = _cut_avi(corpus, astronaut_rgb)
    out, options = tmp_path / "out", BatchOptions(out=tmp_path / "out", pipeline=MEAN.replace(annotate=False))
    before = run_batch([str(corpus)], options, progress=False)
    table_before = pd.read_parquet(out / "dataset.parquet")
    notes_before = pd.read_csv(out / "files.csv", keep_default_na=False).set_index("file")["note"]
    firsts = {"a.jpg": "b.jpg", "a.mp4": "b.mp4", "a.avi": cut.name}
    for copy, first in firsts.items():
        shutil.copy(corpus / first, corpus / copy)
    summary = run_batch([str(corpus)], options, progress=False)
    assert summary["this_run"]["files_analysed"] == 0 and summary["done"] == 6
    copies = {str(corpus / copy): str(corpus / first) for copy, first in firsts.items()}
    assert {c["file"]: c["same_as"] for c in summary["copies"]} == copies
    files = pd.read_csv(out / "files.csv", keep_default_na=False).set_index("file")
    assert {f: s for f, s in files["same_as"].items() if s} == copies
    # the rows are the analysed files', under their names, as before the copies came
    pd.testing.assert_frame_equal(pd.read_parquet(out / "dataset.parquet"), table_before)
    assert set(table_before["file"]) == {str(corpus / "b.jpg"), str(corpus / "b.mp4"), str(cut)}
    folder = out / summary["outputs"][str(corpus / "b.mp4")]
    assert json.loads((folder / "b_tracks.json").read_text(encoding="utf-8"))["file"] == str(corpus / "b.mp4")
    # made by this fervid, the 3 files analysed: no entry of an unrecorded one
    versions = {"fervid": fervid.__version__, "onnxruntime": onnxruntime.__version__}
    assert before["made_with"] == summary["made_with"] == [{**versions, "files": 3}]
    assert "(not recorded)" not in (out / "summary.md").read_text(encoding="utf-8")
    # the copy of the partial video is partial, its error and notices naming it
    copy_of_cut = files.loc[str(corpus / "a.avi")]
    assert (copy_of_cut["status"], files.loc[str(cut), "status"]) == ("partial", "partial")
    assert "truncated or corrupt" in copy_of_cut["note"]
    assert copy_of_cut["note"] == notes_before[str(cut)].replace(str(cut), str(corpus / "a.avi"))
    assert [p["file"] for p in summary["partial"]] == [str(corpus / "a.avi"), str(cut)]
    assert files.loc[str(corpus / "a.jpg"), "rows"] == 1 and files.loc[str(corpus / "a.mp4"), "rows"] == FACE_CLIP_FRAMES


def test_a_copy_found_by_a_run_before_copies_were_recorded_is_given_its_firsts_results(tmp_path, astronaut_rgb):
    """A folder whose later-found copy took only its first's counts (its made_with NULL; no copy_of column): its
    summary.json went on counting it as made by an unrecorded fervid, and a.jpg went on taking b.jpg's place."""
    import fervid

    corpus = tmp_path / "c"
    corpus.mkdir()
    Image.fromarray(astronaut_rgb).resize((256, 256)).save(corpus / "b.jpg")
    out, options = tmp_path / "out", BatchOptions(out=tmp_path / "out", pipeline=NO_ANNOTATION)
    run_batch([str(corpus)], options, progress=False)
    shutil.copy(corpus / "b.jpg", corpus / "a.jpg")
    run_batch([str(corpus)], options, progress=False)
    with sqlite3.connect(out / "state.sqlite") as db:  # as the copy was recorded before
        db.execute("UPDATE files SET made_with = NULL WHERE path = ?", (str(corpus / "a.jpg"),))
        db.execute("ALTER TABLE files DROP COLUMN copy_of")
    db.close()
    summary = run_batch([str(corpus)], options, progress=False)
    assert summary["copies"] == [{"file": str(corpus / "a.jpg"), "same_as": str(corpus / "b.jpg")}]
    assert [m["fervid"] for m in summary["made_with"]] == [fervid.__version__]
    assert set(pd.read_parquet(out / "dataset.parquet")["file"]) == {str(corpus / "b.jpg")}


def test_one_run_per_output_folder(tmp_path, astronaut_rgb, face_clip):
    """5: two runs on one --out interfered (no lock; the second deleted the first's temporary folders)."""
    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 1)
    out = tmp_path / "out"
    with output_lock(out):
        with pytest.raises(BatchLocked, match=f"pid {os.getpid()}"):
            run_batch([str(corpus)], BatchOptions(out=out), progress=False)
        cli = subprocess.run([sys.executable, "-m", "fervid.apps.cli", "batch", str(corpus), "--out", str(out), "-q"],
                             capture_output=True, text=True, encoding="utf-8", timeout=120)
        # its own exit code (EX_TEMPFAIL): a scheduler retries it later, where it would not retry a wrong input
        assert cli.returncode == 75 and "another fervid batch run" in cli.stderr
        assert len(cli.stderr.strip().splitlines()) == 1
    summary = run_batch([str(corpus / "img000.jpg")], BatchOptions(out=out), progress=False)  # released
    assert summary["done"] == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_devices_and_fifos_are_reported_not_read(tmp_path, astronaut_rgb):
    """6: /dev/zero or a FIFO made `fervid batch` hang (the hashing step read without end); a FIFO inside a folder
    given as input was left out without a word."""
    folder = tmp_path / "in"
    folder.mkdir()
    fifo = folder / "pipe.jpg"
    os.mkfifo(fifo)
    Image.fromarray(astronaut_rgb).resize((256, 256)).save(folder / "ok.jpg")
    for inputs, failed in ((["/dev/zero", str(fifo), str(folder / "ok.jpg")], 2), ([str(folder)], 1)):
        out = tmp_path / f"out{len(inputs)}"
        cli = subprocess.run([sys.executable, "-m", "fervid.apps.cli", "batch", *inputs, "--out", str(out), "-q"],
                             capture_output=True, text=True, encoding="utf-8", timeout=120)
        assert cli.returncode == 1, cli.stderr
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert summary["done"] == 1 and summary["failed"] == failed
        assert all("not a regular file" in f["error"] for f in summary["failures"])
        assert str(fifo) in [f["file"] for f in summary["failures"]]


@pytest.mark.parametrize("bad, message", [({"workers": 0}, "workers must be at least 1, not 0"),
                                          ({"engine": "spark"}, "engine must be one of local, ray")])
def test_bad_batch_options_are_refused_before_any_work(bad, message, tmp_path):
    """--workers 0 used to run as 1 without a word; the API and the CLI now say what is wrong."""
    with pytest.raises(ValueError, match=message):
        BatchOptions(out=tmp_path / "o", **bad)
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    flag, value = next(iter(bad.items()))
    result = CliRunner().invoke(app, ["batch", str(tmp_path), "--out", str(tmp_path / "o"), f"--{flag}", str(value)])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "o").exists()  # nothing was started


def test_an_output_folder_too_long_for_sqlite_is_refused_naming_the_limit(tmp_path, astronaut_png):
    """`fervid batch --out` over ~490 bytes failed with "state.sqlite: unable to open database file" (exit 1), made
    the folders first: SQLite opens paths of at most 512 bytes, its "-journal" included."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    deep = tmp_path.joinpath(*["d" * 200] * 2)
    fits = deep / ("o" * (504 - len(os.fsencode(deep)) - len("/") - len("/state.sqlite")))  # SQLite's most: 504
    run_batch([str(astronaut_png)], BatchOptions(out=fits, pipeline=NO_ANNOTATION), progress=False)
    assert len(os.fsencode(fits / "state.sqlite")) == 504 and (fits / "state.sqlite").is_file()
    too_long = fits.with_name(fits.name + "o")
    result = CliRunner().invoke(app, ["batch", str(astronaut_png), "--out", str(too_long)])
    assert result.exit_code == 2 and result.output == (
        f"error: --out must be a shorter path: the run's state, {too_long / 'state.sqlite'} (505 bytes as an absolute "
        "path), is kept by SQLite, which opens paths of at most 504 bytes\n")
    assert not too_long.exists()  # nothing was started


def test_a_group_shared_folder_can_be_resumed_by_a_colleague(tmp_path, astronaut_png):
    """Under `umask 002` (a folder a group shares), `.lock` was 0600 and state.sqlite 0644 (SQLite's own mode,
    whatever the umask): a colleague could not resume the run, though the README says outputs follow the umask."""
    old = os.umask(0o002)
    try:
        run_batch([str(astronaut_png)], BatchOptions(out=tmp_path / "out", pipeline=NO_ANNOTATION), progress=False)
    finally:
        os.umask(old)
    modes = {name: oct((tmp_path / "out" / name).stat().st_mode & 0o777)
             for name in (".lock", "state.sqlite", "dataset.parquet", "files")}
    assert modes == {".lock": "0o664", "state.sqlite": "0o664", "dataset.parquet": "0o664", "files": "0o775"}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="hands the folder's files to another user (chown): root only")
def test_a_colleagues_folder_that_may_not_be_written_is_said_whose_and_left_as_it_was(tmp_path, astronaut_png,
                                                                                     unprivileged):
    """A colleague's run under `umask 022` in a folder the group shares (2775): resuming it said "error: b2/.lock:
    Permission denied", then (the lock deleted) "b2/state.sqlite: attempt to write a readonly database", and SQLite
    had left state.sqlite-wal and -shm of the resuming user's, mode 0644, so that the owner's own resume failed in
    turn. The file is named with its owner and mode, and what to do; SQLite never opens it."""
    stranger = 54321
    out = tmp_path / "b2"
    run_batch([str(astronaut_png)], BatchOptions(out=out, pipeline=NO_ANNOTATION), progress=False)
    gc.collect()  # the run's SQLite connection closed (its -wal and -shm files gone), as at a process's end
    assert not list(out.glob("state.sqlite-*"))
    for path in [out, *out.rglob("*")]:
        os.chown(path, stranger, 0)
        path.chmod(0o2775 if path.is_dir() else 0o644)

    def resume() -> subprocess.CompletedProcess:
        return subprocess.run([*unprivileged, sys.executable, "-m", "fervid", "batch", str(astronaut_png), "--out",
                               str(out), "-q", "--no-annotate"], capture_output=True, text=True,
                               encoding="utf-8", timeout=300)

    advice = ("ask its owner to let the group write it (`chmod g+w`, and to run fervid under `umask 002` in a folder a "
              "group shares), or use a folder of your own")
    locked = resume()
    assert locked.returncode == 1 and locked.stderr == (
        f"error: {out / '.lock'}: Permission denied (owned by uid {stranger}, mode 0644; {advice})\n")
    (out / ".lock").unlink()
    state = resume()
    assert state.returncode == 1 and state.stderr == (
        f"error: {out / 'state.sqlite'}: this user may not write the run's state (owned by uid {stranger}, mode "
        f"0644; {advice})\n")
    assert not list(out.glob("state.sqlite-*"))  # nothing of this user's that its owner could not open in turn
    # a -shm file left by another user's run (an earlier fervid's): named, not a "readonly database"
    os.chown(out / "state.sqlite", 0, 0)
    (out / "state.sqlite-shm").write_bytes(b"")
    os.chown(out / "state.sqlite-shm", stranger, 0)
    shm = resume()
    assert shm.returncode == 1 and shm.stderr == (
        f"error: {out / 'state.sqlite-shm'}: this user may not write the run's state (owned by uid {stranger}, mode "
        f"0644; {advice})\n")


def test_a_resumed_run_with_other_settings_is_refused_not_mixed(tmp_path, astronaut_rgb, face_clip):
    """A second run into the same folder with another model skipped every finished file and reported the first
    model's results as its own."""
    from fervid.apps.batch import BatchSettingsChanged

    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, n_images=2)
    out = tmp_path / "out"
    first = run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION), progress=False)
    assert first["settings"]["model"] == "ferplus_vgg" and first["settings"]["method"] == "lstm"
    with pytest.raises(BatchSettingsChanged, match=r"made with model='ferplus_vgg'.*asks for model='fer2013_vgg'"):
        run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION.replace(model="fer2013_vgg")),
                  progress=False)
    # how it runs and whether annotated copies are written change no number: such a run goes on
    again = run_batch([str(corpus)], BatchOptions(out=out, workers=2, pipeline=PipelineOptions()), progress=False)
    assert again["this_run"]["files_analysed"] == first["failed"]  # only the failed files are tried again
    assert again["settings"] == first["settings"]
    # a model folder is the same model wherever it is: a copy of the default's folder resumes the run
    from fervid.inference.models import MODELS

    copy = Path(shutil.copytree(MODELS["ferplus_vgg"], tmp_path / "elsewhere" / "ferplus_vgg"))
    moved = run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION.replace(model=str(copy))),
                      progress=False)
    assert moved["settings"] == first["settings"]
    # the folder records what ran (as each result file does), so naming the defaults asks for the same thing
    assert first["settings"]["precision"] == "int8" and first["settings"]["score_threshold"] == 0.4
    named = run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION.replace(
        precision="int8", score_threshold=0.4)), progress=False)
    assert named["settings"] == first["settings"]
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    result = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--window", "0.5", "-q"])
    assert result.exit_code == 2 and "window=1.0" in result.output and "window=0.5" in result.output
    # a folder made before max_faces was recorded was made with every face: --max-faces 1 is another setting
    import sqlite3

    with sqlite3.connect(out / "state.sqlite") as db:
        db.execute("DELETE FROM settings WHERE name = 'max_faces'")
    db.close()
    result = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--max-faces", "1", "-q"])
    assert result.exit_code == 2 and "max_faces=every face" in result.output and "max_faces=1" in result.output
    assert run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION), progress=False)["settings"] == \
        first["settings"]


def test_a_frame_method_folder_that_recorded_a_window_goes_on(tmp_path, astronaut_rgb, face_clip):
    """A folder an earlier fervid made with --method frame --window 2 could not be resumed: without --window the run
    asked for window=1.0, and --window 2 is refused with --method frame. Method frame runs no window: batch records
    null for it, as each video's tracks JSON does, and compares no window where either run's method is frame."""
    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, n_images=1)
    out = tmp_path / "out"
    frame = NO_ANNOTATION.replace(method="frame")
    first = run_batch([str(corpus)], BatchOptions(out=out, pipeline=frame), progress=False)
    assert first["settings"]["method"] == "frame" and first["settings"]["window"] is None
    with sqlite3.connect(out / "state.sqlite") as db:  # as the earlier fervid recorded it
        db.execute("UPDATE settings SET value = '2.0' WHERE name = 'window'")
    db.close()
    again = run_batch([str(corpus)], BatchOptions(out=out, pipeline=frame), progress=False)
    assert again["settings"]["window"] is None
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["settings"]["method"] == "frame" and summary["settings"]["window"] is None


def test_key_frames_caps_each_videos_key_frames_and_may_change_when_a_run_goes_on(tmp_path, face_clip):
    """batch could not cap key frames (a corpus of 20 classes of 26 filmed for 90 minutes: about 600,000 PNGs). The
    cap changes no number in the tables, so a run that filled the disk goes on under a cap, as it may without
    annotated copies: each video's tracks JSON records the cap its key frames were chosen by."""
    import subprocess

    import imageio_ffmpeg
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "clip.mp4")
    out = tmp_path / "out"
    first = run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION.replace(method="mean")),
                      progress=False)
    assert first["done"] == 1 and "key_frames" not in first["settings"]
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(face_clip), "-vf", "hflip",
                    str(corpus / "mirrored.mp4")], check=True)
    result = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--method", "mean", "--no-annotate",
                                      "--key-frames", "1", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["done"] == 2 and summary["this_run"]["files_analysed"] == 1
    (earlier,) = (out / "files").glob("*/clip_tracks.json")
    (capped,) = (out / "files").glob("*/mirrored_tracks.json")
    assert json.loads(earlier.read_text(encoding="utf-8"))["key_frames"] is None
    doc = json.loads(capped.read_text(encoding="utf-8"))
    assert doc["key_frames"] == 1
    for track in doc["tracks"]:  # one key frame a track at most, every episode listed
        kept = [ep["key_frame"] for ep in track["episodes"] if ep["key_frame"]]
        assert len(kept) <= 1 and all((capped.parent / name).is_file() for name in kept)
        assert len(track["episodes"]) >= len(kept)
    assert len(list(capped.parent.glob("mirrored_track*_0*.png"))) <= len(doc["tracks"])


def test_an_output_folder_among_the_inputs_is_not_analysed(tmp_path, astronaut_rgb, face_clip):
    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, n_images=2)
    out = corpus / "results"  # inside the folder being analysed: its annotated copies must not become inputs
    first = run_batch([str(corpus)], BatchOptions(out=out, pipeline=MEAN), progress=False)
    again = run_batch([str(corpus)], BatchOptions(out=out, pipeline=MEAN), progress=False)
    assert list(out.glob("files/*/annotated.png")) and again["files"] == first["files"]
    assert again["this_run"]["files_analysed"] == first["failed"]  # only the failed files are tried again


def test_a_table_with_no_rows_keeps_its_column_types(tmp_path):
    """A batch of faceless photos wrote dataset.parquet (and each file's rows.parquet) with every column of Arrow
    type null, so a later concatenation or a reader expecting bool/int64 columns broke."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "in").mkdir()
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(tmp_path / "in" / "blank.png")
    run_batch([str(tmp_path / "in")], BatchOptions(out=tmp_path / "out", pipeline=NO_ANNOTATION), progress=False)
    for table in [tmp_path / "out" / "dataset.parquet", *(tmp_path / "out" / "files").glob("*/rows.parquet")]:
        schema = pq.read_schema(table)
        assert schema.field("track").type == pa.int64() and schema.field("uncertain").type == pa.bool_()
        assert schema.field("emotion").type == pa.string() and schema.field("happy").type == pa.float64()


def test_the_datasets_columns_are_described_for_a_photos_rows_and_a_videos_alike(tmp_path, astronaut_rgb, face_clip):
    """dataset.parquet's column descriptions chose the video wording only where a `detected` column was there, which
    the dataset leaves out: its video rows' 7 probabilities and `confidence` were described as the model's for a
    photo, not the temporal method's over a window, and `track`/`time`/`frame` in video words on photos' rows."""
    import pyarrow.parquet as pq

    from fervid.inference.records import FIELD_DESCRIPTIONS

    (tmp_path / "in").mkdir()
    Image.fromarray(astronaut_rgb).save(tmp_path / "in" / "astronaut.png")
    shutil.copy(face_clip, tmp_path / "in" / "clip.mp4")
    out = tmp_path / "out"
    summary = run_batch([str(tmp_path / "in")], BatchOptions(out=out, pipeline=PipelineOptions(
        method="mean", annotate=False, key_frames=0)), progress=False)
    table = pd.read_parquet(out / "dataset.parquet")
    assert set(table["kind"]) == {"image", "video"}
    for written in [out / "dataset.parquet", *out.glob("files/*/rows.parquet")]:
        said = {field.name: (field.metadata or {}).get(b"description", b"").decode()
                for field in pq.read_schema(written)}
        for column in [*EMOTIONS, "confidence"]:  # a photo's: the model's; a video's: the temporal method's
            assert "on an image row the model's" in said[column] or column == "confidence", said[column]
            assert "temporal method's over its window" in said[column], said[column]
        for column in ("track", "time", "frame"):
            assert said[column].startswith("A video row: ") and ". An image row: " in said[column], said[column]
        for column in ("x", "detection_score", "emotion", "uncertain"):  # the same on both kinds' rows
            assert said[column] == FIELD_DESCRIPTIONS[column]
        assert all(said.values()), written  # `file` and `kind` too
    # what the descriptions say of the rows: a photo's at time and frame 0, its faces numbered from 1; a video's
    # probabilities those of its frames table (the temporal method's)
    photo, video = table[table["kind"] == "image"], table[table["kind"] == "video"]
    assert photo[["time", "frame"]].eq(0).all().all() and photo["track"].tolist() == [1]
    frames = pd.read_parquet(out / summary["outputs"][str(tmp_path / "in" / "clip.mp4")] / "clip_frames.parquet")
    assert video[[*EMOTIONS, "confidence"]].reset_index(drop=True).equals(frames[[*EMOTIONS, "confidence"]])


def test_a_worker_that_dies_fails_its_file_and_the_run_goes_on():
    """A worker killed mid-file (out of memory) left multiprocessing.Pool waiting for ever: the run hung."""
    import batch_workers  # tests/apps, on the path as test modules' folders are

    from fervid.apps.batch import _run_local

    todo = [(name, name, "image") for name in ("a.jpg", "b.jpg", "boom.jpg", "c.jpg", "d.jpg")]
    results = {}
    _run_local(todo, BatchOptions(out=Path("unused"), pipeline=NO_ANNOTATION), workers=2, threads=1,
               record=lambda res: results.setdefault(res["path"], res), analyse=batch_workers.dies_on_boom)
    assert set(results) == {name for name, *_ in todo}
    assert {p for p, r in results.items() if r["status"] == "done"} == {"a.jpg", "b.jpg", "c.jpg", "d.jpg"}
    assert "worker process analysing it died" in results["boom.jpg"]["error"]


def _cut_avi(folder: Path, astronaut_rgb) -> Path:
    """An MJPEG AVI of the astronaut cut in half: its first frames decode, then it ends early."""
    import cv2
    import imageio_ffmpeg

    from conftest import clip_writer

    mp4 = folder / "whole.mp4"
    writer = clip_writer(mp4, 320, 240, 30.0)
    for i in range(60):
        frame = np.full((240, 320, 3), 90, np.uint8)
        frame[20:220, 60 + i:260 + i] = cv2.resize(np.ascontiguousarray(astronaut_rgb[:, :, ::-1]), (200, 200))
        writer.write(frame)
    writer.close()
    avi = folder / "cut.avi"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(mp4), "-c:v", "mjpeg", "-q:v",
                    "5", str(avi)], check=True)
    mp4.unlink()
    avi.write_bytes(avi.read_bytes()[: avi.stat().st_size // 2])
    return avi


def test_a_video_that_breaks_mid_way_is_reported_as_partial(tmp_path, astronaut_rgb):
    """It was recorded as done without a word (exit 0, "Failures: none") where `fervid video` says why, exit 1."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "c"
    corpus.mkdir()
    avi = _cut_avi(corpus, astronaut_rgb)
    result = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(tmp_path / "o"), "--method", "mean"])
    assert result.exit_code == 1 and "1 partial" in result.output and "truncated or corrupt" in result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["done"] == 1 and [p["file"] for p in summary["partial"]] == [str(avi)]
    assert 0 < summary["rows"] < 60  # the rows up to the break are in the table
    assert "## Partial results" in (tmp_path / "o" / "summary.md").read_text()


def test_the_same_file_named_another_way_is_one_file(tmp_path, astronaut_rgb, monkeypatch, face_clip):
    """A second run naming the corpus by its absolute path (or through a manifest) added every file again."""
    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 2)
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    first = run_batch(["c"], BatchOptions(out=out, pipeline=MEAN), progress=False)
    (tmp_path / "m.csv").write_text("path\nc/../c/img000.jpg\n")
    again = run_batch([str(corpus), "m.csv"], BatchOptions(out=out, pipeline=MEAN), progress=False)
    assert again["files"] == first["files"] and again["rows"] == first["rows"]
    assert set(again["outputs"]) == set(first["outputs"]) and "c/img000.jpg" in again["outputs"]


def test_a_deleted_results_folder_is_made_again(tmp_path, astronaut_rgb, face_clip):
    """Every later run failed with "error: <out>/files/<key>/rows.parquet" and the file was never redone."""
    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 1)
    out = tmp_path / "out"
    first = run_batch([str(corpus / "img000.jpg")], BatchOptions(out=out, pipeline=MEAN), progress=False)
    shutil.rmtree(out / first["outputs"][str(corpus / "img000.jpg")])
    again = run_batch([str(corpus / "img000.jpg")], BatchOptions(out=out, pipeline=MEAN), progress=False)
    assert again["this_run"]["files_analysed"] == 1 and again["rows"] == first["rows"] == 1


class _Killed(BaseException):
    """A kill (SIGKILL, the power) at one step of a worker's: nothing after it runs."""


def test_a_file_whose_analysis_was_killed_replacing_its_results_keeps_them(tmp_path, astronaut_rgb, monkeypatch,
                                                                           face_clip):
    """A worker killed between moving a file's earlier results aside and moving the new ones in lost them: the next
    run deleted the hidden folder with the half-written ones, and analysed the file again (a 45-minute video's
    worth). The next run puts them back: the file is done, and not analysed again."""
    import fervid.apps.batch as batch

    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 1)
    image = str(corpus / "img000.jpg")
    options = BatchOptions(out=tmp_path / "out", pipeline=MEAN)
    results = options.out / run_batch([image], options, progress=False)["outputs"][image]
    before = {p.name: p.read_bytes() for p in results.iterdir()}
    # the same file analysed again into its folder (as one whose results were cut short is), in this process
    monkeypatch.setitem(batch._worker, "options", options)
    monkeypatch.setitem(batch._worker, "analyzer", options.pipeline.analyzer(threads=1))
    real_replace = os.replace

    def killed_moving_the_new_results_in(source, target, **kwargs):
        if Path(target) == results:
            raise _Killed
        return real_replace(source, target, **kwargs)

    monkeypatch.setattr(os, "replace", killed_moving_the_new_results_in)
    with pytest.raises(_Killed):
        batch.analyse_one((image, results.name, "image"))
    monkeypatch.undo()
    assert not results.exists()  # set aside, the new ones not yet in
    again = run_batch([image], options, progress=False)
    assert again["this_run"]["files_analysed"] == 0 and again["done"] == 1
    assert {p.name: p.read_bytes() for p in results.iterdir()} == before
    assert sorted(p.name for p in results.parent.iterdir()) == [results.name]  # nothing hidden left beside it


@pytest.mark.parametrize("refusals", [2, None], ids=["for-a-moment", "for-good"])
def test_results_windows_will_not_move_for_a_moment_go_in_and_for_good_fail_that_file_alone(
        tmp_path, astronaut_rgb, monkeypatch, refusals, face_clip):
    """Windows' virus scanner, indexer or OneDrive holds a file just written for a moment, and the rename of a file's
    results into files/ was refused (WinError 5, "Access is denied"): the batch stopped, blaming the output folder
    ("make room (or make the folder writable)"). Refused twice, the rename is tried again and the results go in;
    refused for good, that file fails, said to be held by another program, and the run goes on."""
    import fervid.apps.batch as batch
    from conftest import refuse, retry_waits
    from fervid.inference import set_aside

    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 1)
    image = str(corpus / "img000.jpg")
    options = BatchOptions(out=tmp_path / "out", pipeline=MEAN)
    monkeypatch.setitem(batch._worker, "options", options)
    monkeypatch.setitem(batch._worker, "analyzer", options.pipeline.analyzer(threads=1))
    results = options.out / "files" / "key"
    # ERROR_ACCESS_DENIED: Windows' word for a folder holding a file another process has open
    refused = refuse(monkeypatch, "replace", lambda source, target: Path(target) == results, times=refusals,
                     winerror=5)
    retry_waits(monkeypatch)
    result = batch.analyse_one((image, "key", "image"))
    if refusals:
        assert result["status"] == "done" and len(refused) == refusals
        assert (results / "rows.parquet").is_file() and (results / "source.txt").read_text(encoding="utf-8") == image
    else:
        assert result["status"] == "failed"  # this file's: the batch goes on with the next
        assert result["error"].startswith(f"{image}: ") and str(results) in result["error"]
        assert ("cannot move this run's output into place; it or a file in it may be open in another program (File "
                "Explorer, a viewer?): close it there (or make it writable) and run this again") in result["error"]
        assert "make room" not in result["error"].lower()
        assert not results.exists() and list(results.parent.iterdir()) == []  # nothing hidden left
    assert len(refused) == (refusals or len(set_aside.REPLACE_RETRY_WAITS_S) + 1)


def test_failures_whose_cause_is_gone_are_forgotten(tmp_path, astronaut_rgb, face_clip):
    """A mistyped argument or a bad file since deleted stayed a failure of the folder for good (exit 1 ever after)."""
    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 1)
    out = tmp_path / "out"
    first = run_batch([str(corpus), str(tmp_path / "typo"), str(tmp_path / "*.none")], BatchOptions(out=out, pipeline=MEAN),
                      progress=False)
    assert first["failed"] == 4  # broken.jpg, empty.mp4, the typo, the pattern
    (corpus / "broken.jpg").unlink()
    again = run_batch([str(corpus)], BatchOptions(out=out, pipeline=MEAN), progress=False)
    assert [f["file"] for f in again["failures"]] == [str(corpus / "empty.mp4")]


def test_patterns_search_the_folders_they_match_and_skip_the_batchs_own_files(tmp_path, astronaut_rgb, face_clip):
    """`batch "coll/*"` (folders) said "pattern matches no file"; `batch "nest/**/*" --out nest/results`
    analysed the run's own state.sqlite, summary.json and dataset.parquet as images, failures kept for good."""
    make_corpus(tmp_path / "nest" / "a", astronaut_rgb, face_clip, 1)
    make_corpus(tmp_path / "nest" / "b", astronaut_rgb, face_clip, 1)
    folders = run_batch([str(tmp_path / "nest" / "*")], BatchOptions(out=tmp_path / "o", pipeline=MEAN),
                        progress=False)
    assert folders["done"] == 6  # 2 x (an image, two_faces.png, clip.mp4)
    out = tmp_path / "nest" / "results"
    run_batch([str(tmp_path / "nest" / "a")], BatchOptions(out=out, pipeline=MEAN), progress=False)
    again = run_batch([str(tmp_path / "nest" / "**" / "*")], BatchOptions(out=out, pipeline=MEAN), progress=False)
    assert not [f for f in again["failures"] if Path(f["file"]).parent == out]


@pytest.mark.parametrize("header", ["Path", "filename", "FILE"])
def test_a_manifests_path_column_is_found_by_its_usual_names(tmp_path, astronaut_rgb, header, face_clip):
    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 1)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"label,{header}\nhappy,c/img000.jpg\n")
    assert collect_inputs([str(manifest)]) == ([corpus / "img000.jpg"], [])


def test_a_file_name_that_is_not_utf8_fails_alone(tmp_path, astronaut_rgb, face_clip):
    """It crashed the whole run with a UnicodeEncodeError traceback."""
    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, 1)
    odd = os.fsdecode(bytes(corpus) + b"/caf\xe9.jpg")
    shutil.copy(corpus / "img000.jpg", odd)
    summary = run_batch([str(corpus)], BatchOptions(out=tmp_path / "o", pipeline=MEAN), progress=False)
    assert summary["done"] == 3 and any("not valid UTF-8" in f["error"] for f in summary["failures"])


def test_an_address_without_the_ray_engine_is_refused(tmp_path):
    """--address with the local engine was ignored without a word."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    result = CliRunner().invoke(app, ["batch", str(tmp_path), "--out", str(tmp_path / "o"), "--address", "h:6379"])
    assert result.exit_code == 2 and "needs --engine ray" in result.output


def test_naming_the_shipped_lstm_is_the_same_setting_as_not_naming_it(tmp_path):
    """A resumed run with --temporal-model <the shipped LSTM's folder> was refused as another setting."""
    from fervid.apps.batch import result_settings
    from fervid.inference.models import DEFAULT_MODEL
    from fervid.inference.temporal import shipped_temporal_models

    shipped = shipped_temporal_models()[DEFAULT_MODEL]
    assert result_settings(PipelineOptions(temporal_model=str(shipped))) == result_settings(PipelineOptions())
    own = tmp_path / "mine"
    shutil.copytree(shipped, own)
    (own / "model.onnx").write_bytes((own / "model.onnx").read_bytes() + b"\0")  # other weights: another setting
    assert result_settings(PipelineOptions(temporal_model=str(own)))["temporal_model_sha256"] != \
        result_settings(PipelineOptions())["temporal_model_sha256"]


def test_a_batch_records_the_graph_a_model_named_by_its_file_runs(tmp_path):
    """`fervid batch --model x/model.onnx` runs the float graph it names (precision "auto"), and its folder records
    that graph and precision, as each file's results do: it recorded the int8 copy, which did not run."""
    from fervid.apps.batch import result_settings
    from fervid.inference.models import MODELS, file_sha256

    folder = Path(shutil.copytree(MODELS["fer2013_vgg"], tmp_path / "mine"))
    named = result_settings(PipelineOptions(model=str(folder / "model.onnx")))
    assert (named["precision"], named["weights_file"]) == ("fp32", "model.onnx")
    assert named["weights_sha256"] == file_sha256(folder / "model.onnx")
    ran = PipelineOptions(model=str(folder / "model.onnx")).analyzer(threads=1).settings
    assert (ran["precision"], ran["weights_file"]) == (named["precision"], named["weights_file"])
    as_folder = result_settings(PipelineOptions(model=str(folder)))
    assert (as_folder["precision"], as_folder["weights_file"]) == ("int8", "model_int8.onnx")
    asked = result_settings(PipelineOptions(model=str(folder / "model.onnx"), precision="int8"))
    assert (asked["precision"], asked["weights_file"]) == ("int8", "model_int8.onnx")


def test_a_batch_records_the_weights_files_that_ran_and_the_versions_that_made_each_file(tmp_path, astronaut_rgb,
                                                                                         face_clip):
    """summary.json's model digest was of the float model.onnx although the int8 graph ran, the shipped LSTM's was
    null (a later fervid's retrained LSTM under its name was the same setting), no version was recorded, and
    dataset.parquet said nothing of what made its rows. A fervid upgrade neither redoes nor refuses a folder: its
    results' versions are counted."""
    import onnxruntime
    import pyarrow.parquet as pq

    import fervid
    from fervid.apps.schemas import ImagesOut
    from fervid.inference.models import file_sha256, resolve_model_dir
    from fervid.inference.temporal import shipped_temporal_models

    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, n_images=2)
    for video in ("clip.mp4", "empty.mp4", "broken.jpg"):
        (corpus / video).unlink()
    out = tmp_path / "out"
    first = run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION), progress=False)
    settings = first["settings"]
    folder = resolve_model_dir("ferplus_vgg")
    assert settings["weights_file"] == "model_int8.onnx" and settings["precision"] == "int8"
    assert settings["weights_sha256"] == file_sha256(folder / "model_int8.onnx")
    assert settings["temporal_model_sha256"] == file_sha256(shipped_temporal_models()["ferplus_vgg"] / "model.onnx")
    assert "model_weights_sha256" not in settings
    made_with = {"fervid": fervid.__version__, "onnxruntime": onnxruntime.__version__}
    assert first["made_with"] == [{**made_with, "files": 3}]
    assert json.loads(pq.read_schema(out / "dataset.parquet").metadata[b"fervid"]) == {
        **settings, "made_with": first["made_with"]}
    # each file's own JSON says the same, and is the document `fervid image --json` writes (the API's ImagesOut)
    image = json.loads((out / first["outputs"][str(corpus / "img000.jpg")] / "result.json").read_text("utf-8"))
    ImagesOut.model_validate(image)
    assert image["face_crops"] is False and image["failed"] == 0
    assert image["files"][0]["file"] == str(corpus / "img000.jpg") and image["files"][0]["faces"]
    assert {k: image[k] for k in ("weights_sha256", "fervid", "onnxruntime")} == {
        "weights_sha256": settings["weights_sha256"], **made_with}
    # a folder made by an earlier fervid (as if: its files' recorded version rewritten) goes on, redoing nothing
    with sqlite3.connect(out / "state.sqlite") as db:
        db.execute("UPDATE files SET made_with = ? WHERE path LIKE '%img000.jpg'",
                   (json.dumps({"fervid": "0.0.9", "onnxruntime": "1.0.0"}),))
    db.close()
    again = run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION), progress=False)
    assert again["this_run"]["files_analysed"] == 0 and again["settings"] == settings
    assert again["made_with"] == [{"fervid": "0.0.9", "onnxruntime": "1.0.0", "files": 1}, {**made_with, "files": 2}]
    assert "fervid 0.0.9, ONNX Runtime 1.0.0: 1 file(s)" in (out / "summary.md").read_text(encoding="utf-8")


def test_a_folder_recorded_before_the_weights_files_that_ran_goes_on_if_its_model_is_the_same(tmp_path,
                                                                                              astronaut_rgb, face_clip):
    """A folder made before fervid recorded the digest of the weights file that ran holds the float model's digest
    prefix (``model_weights_sha256``) and null for the shipped LSTM: it is compared as it was recorded, goes on with
    the same model, then records what runs; another model's folder is still refused."""
    from fervid.apps.batch import BatchSettingsChanged
    from fervid.inference.models import file_sha256, resolve_model_dir

    corpus = make_corpus(tmp_path / "c", astronaut_rgb, face_clip, n_images=1)
    for other in ("clip.mp4", "empty.mp4", "broken.jpg", "two_faces.png"):
        (corpus / other).unlink()
    out = tmp_path / "out"
    first = run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION), progress=False)

    def record_as_before(model_digest: str) -> None:
        with sqlite3.connect(out / "state.sqlite") as db:
            db.execute("DELETE FROM settings WHERE name IN ('weights_file', 'weights_sha256', 'model_weights_sha256')")
            db.executemany("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", [
                ("model_weights_sha256", json.dumps(model_digest)), ("temporal_model_sha256", "null")])
        db.close()

    fp32 = file_sha256(resolve_model_dir("ferplus_vgg") / "model.onnx")
    record_as_before(fp32[:16])
    again = run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION), progress=False)
    assert again["this_run"]["files_analysed"] == 0 and again["settings"] == first["settings"]
    # recorded anew: the int8 graph that ran, and the shipped LSTM by its digest
    assert "model_weights_sha256" not in again["settings"] and again["settings"]["temporal_model_sha256"]
    # and says so: a script reading the old key would meet a KeyError after this run
    assert any("recorded model_weights_sha256" in n and "read those instead" in n
               for n in again["this_run"]["notices"]), again["this_run"]["notices"]
    assert again["settings"]["weights_sha256"] == file_sha256(resolve_model_dir("ferplus_vgg") / "model_int8.onnx")
    record_as_before(file_sha256(resolve_model_dir("fer2013_vgg") / "model.onnx")[:16])  # made with other weights
    with pytest.raises(BatchSettingsChanged, match=f"model_weights_sha256='{fp32[:16]}'"):
        run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION), progress=False)


def test_the_same_bytes_named_as_a_video_and_an_image_are_each_tried_as_named(tmp_path, face_clip):
    """clip.mp4 and a copy named a_copy.jpg made one task, run as the image it sorted as: the video failed."""
    corpus = tmp_path / "t"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "clip.mp4")
    shutil.copy(face_clip, corpus / "a_copy.jpg")
    summary = run_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=MEAN), progress=False)
    assert summary["done"] == 1 and summary["failed"] == 1
    assert "a_copy.jpg: a video (MP4/MOV), not an image" in summary["failures"][0]["error"]
    table = pd.read_parquet(tmp_path / "out" / "dataset.parquet")
    assert set(table["file"]) == {str(corpus / "clip.mp4")} and set(table["kind"]) == {"video"}


def test_a_participant_is_erased_by_deleting_their_file_and_its_results_folder_then_running_again(
        tmp_path, astronaut_rgb, monkeypatch):
    """A data-protection officer asked how to erase one participant from a corpus: nothing said. The summary names a
    deleted input's results folder; deleted too, the next run leaves no trace of them in any table, summary or
    state.sqlite (README, "Corpora"), even where SQLite is built to leave deleted rows in its free pages."""
    connect = sqlite3.connect

    def connect_leaving_deleted_rows(*args, **kwargs):  # as python.org's builds of SQLite do
        db = connect(*args, **kwargs)
        db.execute("PRAGMA secure_delete=OFF")
        return db
    monkeypatch.setattr(sqlite3, "connect", connect_leaving_deleted_rows)
    corpus = tmp_path / "d"
    corpus.mkdir()
    Image.fromarray(astronaut_rgb).save(corpus / "P01.png")
    Image.fromarray(astronaut_rgb[:, ::-1]).save(corpus / "P02_withdrawn.png")
    options = BatchOptions(out=tmp_path / "out", pipeline=MEAN)
    run_batch([str(corpus)], options, progress=False)
    out = tmp_path / "out"
    digest, key = sqlite3.connect(out / "state.sqlite").execute(
        "SELECT hash, key FROM files WHERE path = ?", (str(corpus / "P02_withdrawn.png"),)).fetchone()
    (corpus / "P02_withdrawn.png").unlink()
    run_batch([str(corpus)], options, progress=False)
    said = (out / "summary.md").read_text(encoding="utf-8")
    assert f"- {corpus / 'P02_withdrawn.png'} (results: files/{key}/)" in said and '"Corpora"' in said
    shutil.rmtree(out / "files" / key)
    summary = run_batch([str(corpus)], options, progress=False)
    assert summary["files"] == summary["done"] == 1 and summary["missing"] == []
    assert set(pd.read_parquet(out / "dataset.parquet")["file"]) == {str(corpus / "P01.png")}
    for name in ("files.csv", "tracks.csv", "summary.json", "summary.md", "state.sqlite"):
        kept = (out / name).read_bytes()
        assert b"P02_withdrawn" not in kept and digest.encode() not in kept and key.encode() not in kept, name
    assert sorted(p.name for p in (out / "files").iterdir()) != [] and not (out / "files" / key).exists()


def test_a_forgotten_files_row_is_overwritten_in_the_state_file_not_left_in_its_free_pages(tmp_path, monkeypatch):
    """SQLite built with secure_delete off (python.org's builds) leaves a deleted row's bytes in the file: an erased
    participant's path and content hash stayed readable in state.sqlite."""
    from fervid.apps.batch import StateStore

    connect = sqlite3.connect

    def connect_leaving_deleted_rows(*args, **kwargs):  # this machine's SQLite may be built either way
        db = connect(*args, **kwargs)
        db.execute("PRAGMA secure_delete=OFF")
        return db
    monkeypatch.setattr(sqlite3, "connect", connect_leaving_deleted_rows)
    store = StateStore(tmp_path / "state.sqlite")
    for number in range(20):
        store.db.execute("INSERT INTO files (path, hash, kind, status) VALUES (?, ?, 'image', 'done')",
                         (str(tmp_path / f"P{number:02}_participant.png"), f"{number:02}" * 32))
    store.reopen(str(tmp_path / "P07_participant.png"), None, "its results were deleted")  # its file is gone too
    store.db.close()
    kept = (tmp_path / "state.sqlite").read_bytes()
    assert b"P06_participant" in kept and b"P07_participant" not in kept and b"07" * 32 not in kept


def test_a_renamed_file_counts_once_and_a_deleted_one_is_named(tmp_path, astronaut_rgb, face_clip):
    corpus = tmp_path / "d"
    corpus.mkdir()
    Image.fromarray(astronaut_rgb).save(corpus / "x.png")
    shutil.copy(face_clip, corpus / "v.mp4")
    options = BatchOptions(out=tmp_path / "out", pipeline=MEAN)
    run_batch([str(corpus)], options, progress=False)
    (corpus / "x.png").unlink()
    (corpus / "v.mp4").rename(corpus / "v2.mp4")
    summary = run_batch([str(corpus)], options, progress=False)
    assert summary["this_run"]["files_analysed"] == 0  # the renamed video's results are its content's
    files = set(pd.read_parquet(tmp_path / "out" / "dataset.parquet")["file"])
    assert files == {str(corpus / "v2.mp4"), str(corpus / "x.png")}  # not v.mp4 too: counted twice
    assert summary["missing"] == [str(corpus / "x.png")] and summary["files"] == 2
    assert "no longer where they were" in (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    # its results folder deleted too: the run goes on (it stopped on a missing rows.parquet), the file forgotten
    key = sqlite3.connect(tmp_path / "out" / "state.sqlite").execute(
        "SELECT key FROM files WHERE path = ?", (str(corpus / "x.png"),)).fetchone()[0]
    shutil.rmtree(tmp_path / "out" / "files" / key)
    summary = run_batch([str(corpus)], options, progress=False)
    assert summary["files"] == summary["done"] == 1 and summary["missing"] == []


def test_failures_of_files_not_given_this_time_are_not_this_runs(tmp_path, astronaut_rgb):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.jpg").write_text("not an image")
    (tmp_path / "b").mkdir()
    Image.fromarray(astronaut_rgb).save(tmp_path / "b" / "ok.png")
    options = BatchOptions(out=tmp_path / "out", pipeline=MEAN)
    assert run_batch([str(tmp_path / "a")], options, progress=False)["this_run"]["failures"]
    summary = run_batch([str(tmp_path / "b")], options, progress=False)
    assert summary["failed"] == 1 and summary["this_run"]["failures"] == []  # the folder's, listed; not this run's


def test_manifests_with_other_headers_and_data_tables(tmp_path, face_clip):
    shutil.copy(face_clip, tmp_path / "w1.mp4")
    (tmp_path / "manifest.csv").write_text("recording,participant\nw1.mp4,p01\n", encoding="utf-8")
    (tmp_path / "ratings.csv").write_text("session,rating\nmorning,3\nafternoon,4\n", encoding="utf-8")
    files, problems = collect_inputs([str(tmp_path / "manifest.csv"), str(tmp_path / "ratings.csv")])
    assert files == [tmp_path / "w1.mp4"]  # "recording" is a header, not a missing file
    assert problems == [(str(tmp_path / "ratings.csv"), problems[0][1])] and "not a manifest" in problems[0][1]


def test_folders_are_searched_as_a_person_sees_them(tmp_path, astronaut_rgb, face_clip):
    """Linked folders were not searched, hidden junk (macOS ._ twins, .thumbnails) failed or counted, and a
    batch results folder or fervid outputs inside the corpus were analysed as new recordings."""
    corpus, elsewhere = tmp_path / "corpus", tmp_path / "session_a"
    (corpus / ".thumbnails").mkdir(parents=True)
    elsewhere.mkdir()
    Image.fromarray(astronaut_rgb).save(corpus / "photo.jpg")
    Image.fromarray(astronaut_rgb).save(corpus / ".thumbnails" / "photo.png")
    (corpus / "._photo.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    shutil.copy(face_clip, elsewhere / "cam.mp4")
    (corpus / "session_a").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(corpus, target_is_directory=True)  # entered once
    Image.fromarray(astronaut_rgb).save(corpus / "photo_fervid.png")
    (corpus / "cam_track1_0001.20s_happy.png").write_bytes((corpus / "photo_fervid.png").read_bytes())
    shutil.copy(face_clip, corpus / "cam_annotated.mp4")
    run_batch([str(corpus / "session_a")], BatchOptions(out=corpus / "results", pipeline=MEAN), progress=False)
    files, problems = collect_inputs([str(corpus)])
    assert sorted(p.name for p in files) == ["cam.mp4", "photo.jpg"] and problems == []
    assert collect_inputs([str(corpus / "cam_annotated.mp4")])[0] == [corpus / "cam_annotated.mp4"]  # named: taken


def test_ctrl_c_leaves_the_table_and_summary_of_what_finished(tmp_path, astronaut_rgb, monkeypatch, face_clip):
    import fervid.apps.batch as batch

    corpus = make_corpus(tmp_path / "corpus", astronaut_rgb, face_clip, 2)
    options = BatchOptions(out=tmp_path / "out", pipeline=MEAN)
    run_batch([str(corpus / "img000.jpg")], options, progress=False)
    stale = (tmp_path / "out" / "summary.json").read_text(encoding="utf-8")

    def interrupted(todo, options, workers, threads, record, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "_run_local", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_batch([str(corpus)], options, progress=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary != json.loads(stale) and summary["done"] == 1 and summary["pending"] >= 4


def test_more_workers_than_windows_pools_hold_run_as_many_as_they_hold(tmp_path, astronaut_rgb, monkeypatch):
    """Windows' ProcessPoolExecutor refuses more than 61 workers: `fervid batch --workers 64` on 62 files or more
    ended in its traceback. 61 run there, said; the run records them."""
    import types

    import fervid.apps.batch as batch

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    image = Image.fromarray(astronaut_rgb).resize((64, 64))
    for i in range(62):
        image.rotate(i).save(corpus / f"img{i:03d}.png")
    pools = []

    def pool_of(todo, options, workers, threads, record, **kwargs):
        pools.append(workers)
        if workers > 61 and batch.sys.platform == "win32":  # as ProcessPoolExecutor does there
            raise ValueError("max_workers must be <= 61")

    monkeypatch.setattr(batch, "_run_local", pool_of)
    # batch's view of the platform alone (the folder lock would take Windows' msvcrt)
    monkeypatch.setattr(batch, "sys", types.SimpleNamespace(platform="win32", stderr=sys.stderr))
    summary = run_batch([str(corpus)], BatchOptions(out=tmp_path / "out", workers=64, pipeline=MEAN), progress=False)
    assert pools == [61] and summary["this_run"]["workers"] == 61
    assert summary["this_run"]["notices"] == ["--workers 64: Windows runs at most 61 worker processes in one pool; 61 "
                                              "ran"]
    monkeypatch.setattr(batch, "sys", sys)  # elsewhere, as many as asked
    assert run_batch([str(corpus)], BatchOptions(out=tmp_path / "out", workers=64, pipeline=MEAN),
                     progress=False)["this_run"]["workers"] == 64


# a pool's spawned worker (watching its parent's sentinel), and a process of another kind (a Ray worker: its id)
DRIVERS = {
    "pool": ("import multiprocessing as mp, os, time\n"
             "def work():\n"
             "    from fervid.apps.child_process import end_with_parent\n"
             "    end_with_parent(); time.sleep(60)\n"
             "if __name__ == '__main__':\n"
             "    p = mp.get_context('spawn').Process(target=work); p.start(); print(p.pid, flush=True)\n"
             "    time.sleep(3); os._exit(0)  # killed: no clean-up, the worker not joined\n"),
    "other": ("import subprocess, sys, time\n"
              "child = 'import time; from fervid.apps.child_process import end_with_parent; end_with_parent(); "
              "time.sleep(60)'\n"
              "p = subprocess.Popen([sys.executable, '-c', child]); print(p.pid, flush=True); time.sleep(1.5)\n"),
}


@pytest.mark.parametrize("kind", DRIVERS)
def test_a_worker_whose_driver_was_killed_ends_itself(tmp_path, kind):
    """After a SIGKILL of `fervid batch`, its worker waited on its task pipe for ever, holding its memory."""
    (tmp_path / "driver.py").write_text(DRIVERS[kind], encoding="utf-8")
    pid = int(subprocess.run([sys.executable, str(tmp_path / "driver.py")], capture_output=True, encoding="utf-8",
                             timeout=60).stdout)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        state = Path(f"/proc/{pid}/stat")
        if state.exists() and state.read_text(encoding="utf-8").split()[2] == "Z":  # ended; reaped by init later
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("the orphaned worker was still running 10 s after its parent ended")


def test_a_twin_registered_after_the_other_kind_shares_its_twins_results(tmp_path, astronaut_rgb):
    """a.jpg, a.mp4 (the same bytes) and b.jpg: b.jpg got a key of its own but was finished with a.jpg's task, so
    it was left out of the table as "results deleted"."""
    corpus = tmp_path / "in"
    corpus.mkdir()
    Image.fromarray(astronaut_rgb).save(corpus / "a.jpg")
    for twin in ("a.mp4", "b.jpg"):
        shutil.copy(corpus / "a.jpg", corpus / twin)
    summary = run_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=MEAN), progress=False)
    assert (summary["done"], summary["failed"], summary["pending"]) == (2, 1, 0)
    # b.jpg is a copy of a.jpg: its rows are a.jpg's, in the table once
    assert set(pd.read_parquet(tmp_path / "out" / "dataset.parquet")["file"]) == {str(corpus / "a.jpg")}
    assert summary["copies"] == [{"file": str(corpus / "b.jpg"), "same_as": str(corpus / "a.jpg")}]


def test_a_manifest_row_taken_for_a_header_is_said(tmp_path, face_clip):
    shutil.copy(face_clip, tmp_path / "w1.mp4")
    (tmp_path / "m.csv").write_text("gone_session_folder\nw1.mp4\n", encoding="utf-8")
    notices = []
    assert collect_inputs([str(tmp_path / "m.csv")], notices=notices) == ([tmp_path / "w1.mp4"], [])
    assert notices and "'gone_session_folder', names no file or folder here and was taken for a header" in notices[0]
    (tmp_path / "m2.csv").write_text("photo.heic\nw1.mp4\n", encoding="utf-8")  # a file name is never a header
    files, problems = collect_inputs([str(tmp_path / "m2.csv")])
    assert files == [tmp_path / "w1.mp4"] and problems and "photo.heic" in problems[0][0]


# --- long recordings (issue: 40 classroom videos of 45 minutes) --------------------------------------------------

def _no_face_video(path: Path, frames: int = 30) -> Path:
    """A short H.264 clip of an empty room (grey wall, a dark desk): a video in which no face is found."""
    from conftest import clip_writer

    writer = clip_writer(path, 320, 240, 15.0)
    for _ in range(frames):
        frame = np.full((240, 320, 3), 140, np.uint8)
        frame[170:230, 40:280] = (60, 90, 130)
        writer.write(frame)
    writer.close()
    return path


def _state(out: Path) -> dict:
    with sqlite3.connect(out / "state.sqlite") as db:
        return dict(db.execute("SELECT path, status FROM files"))


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("stop,status", [("SIGINT to the driver", 130), ("SIGTERM to the job", 143)])
def test_sigint_to_the_driver_alone_stops_the_video_in_hand_and_keeps_what_finished(tmp_path, astronaut_rgb, stop,
                                                                                     status, face_clip):
    """`kill -INT <pid>` (timeout -s INT, a job scheduler) waited out the video in hand without a word, then threw
    its finished result away: files/<key>/ complete, state.sqlite still pending, the next run did it again. A
    scheduler's time limit (SLURM's SIGTERM to every process of the job) killed the driver and its workers at once,
    with no word and no summary; it now stops the run as Ctrl-C does (exit 143)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    Image.fromarray(astronaut_rgb).resize((320, 320)).save(corpus / "a_photo.jpg")
    _looped_clip(corpus / "b_clip.mp4", face_clip, 2)  # 4 s: the stop comes while it is analysed
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fervid.apps.cli", "batch", str(corpus), "--out", str(out), "--method", "mean", "-q"]
    # SIGINT as a shell gives it to a foreground command (a background job's children may inherit it ignored)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8", start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    started = "files/.*.tmp/b_clip_frames.partial.csv"  # the clip's frames are analysed once its table is started
    while time.time() < deadline and proc.poll() is None and not list(out.glob(started)):
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    interrupted = time.time()
    if stop == "SIGINT to the driver":
        os.kill(proc.pid, signal.SIGINT)  # the driver alone: its workers are not told by the terminal
    else:
        os.killpg(proc.pid, signal.SIGTERM)  # every process of the job, workers too
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == status and time.time() - interrupted < 30, stderr[-2000:]
    state = _state(out)
    assert state[str(corpus / "a_photo.jpg")] == "done"
    assert state[str(corpus / "b_clip.mp4")] == "pending"
    # stopped, not finished and forgotten: no complete results left unrecorded (nor half-written ones)
    assert [p.name for p in (out / "files").iterdir()] == [json.loads((out / "summary.json").read_text())[
        "outputs"][str(corpus / "a_photo.jpg")].split("/")[1]]
    # the interrupt says which file's work is lost, what remains and how to go on
    assert f"Stopped while analysing {corpus / 'b_clip.mp4'}: its work so far is lost" in stderr
    assert "1 file(s) of this run not analysed yet" in stderr and "run the same command again" in stderr
    rerun = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["this_run"]["files_analysed"] == 1 and summary["done"] == 2


def _spawned_workers(pid: int) -> list[int]:
    """The pool workers a process has started (multiprocessing's spawned interpreters, not its resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
                    reason="Linux's list of a process's children")
def test_ctrl_c_while_the_workers_start_prints_no_traceback(tmp_path, astronaut_rgb):
    """Ctrl-C early in a run (the workers still importing fervid and its libraries) printed a 40-line traceback
    from every worker: they ignored SIGINT only once their imports were done."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    Image.fromarray(astronaut_rgb).resize((320, 320)).save(corpus / "a_photo.jpg")
    cmd = [sys.executable, "-m", "fervid.apps.cli", "batch", str(corpus), "--out", str(tmp_path / "out"), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8", start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not _spawned_workers(proc.pid):
        time.sleep(0.005)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    time.sleep(0.2)  # the worker is importing (numpy, OpenCV, ONNX Runtime: a second or more)
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: to every process of the foreground job
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    assert "interrupted." in stderr


@pytest.mark.parametrize("platform", ["win32", "linux", "darwin"])
def test_the_workers_start_ignoring_the_consoles_ctrl_c_on_windows(monkeypatch, platform):
    """On Windows a signal ignored is not passed on to the processes started (CreateProcess), and the workers share
    the driver's console, whose Ctrl-C reaches them all: a Ctrl-C while they started printed every worker's
    traceback. There the console's Ctrl-C is ignored while they start (SetConsoleCtrlHandler(NULL, TRUE), which they
    inherit), and taken again after, an error in between too; Linux and macOS ignore the signals alone, as before."""
    import ctypes
    import types

    from fervid.apps.batch import _stop_signals_ignored

    calls = []

    def set_console_ctrl_handler(routine, add):
        calls.append((routine, add))
        return 1

    kernel32 = types.SimpleNamespace(SetConsoleCtrlHandler=set_console_ctrl_handler)
    monkeypatch.setattr(ctypes, "windll", types.SimpleNamespace(kernel32=kernel32), raising=False)
    monkeypatch.setattr(sys, "platform", platform)
    on_windows = [(None, True)] if platform == "win32" else []
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(OSError):
        with _stop_signals_ignored():
            assert calls == on_windows
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            raise OSError("a worker could not start")
    assert calls == ([(None, True), (None, False)] if platform == "win32" else [])
    assert signal.getsignal(signal.SIGINT) is handler


def stop_test_task(task):
    """A stand-in for analyse_one in the pool's workers: reports itself started on the board, then, once the driver
    sets the stop flag, one finishes its file (it was writing its outputs), one stops mid-file, one never looks."""
    from fervid.apps.batch import _worker

    board, slot = _worker["board"], _worker["slot"]
    board.report(slot, 1, 2)
    name = task[0]
    while name != "stuck.mp4" and not board.stop.value:
        time.sleep(0.05)
    if name == "stuck.mp4":
        time.sleep(120)
    status = "done" if name == "finishing.jpg" else "interrupted"
    return {"path": name, "status": status, "error": None, "faces": 1, "rows": 1, "seconds": 0.0}


def test_an_interrupt_stops_the_workers_and_records_what_finishes_meanwhile(monkeypatch):
    """The driver's KeyboardInterrupt left the pool's block, whose shutdown waited for every file in hand (a whole
    45-min video) and never recorded them. Now: no new file starts, the workers stop, a file that finishes
    meanwhile is recorded, a worker that does not stop is ended after the grace period."""
    import multiprocessing as mp

    import fervid.apps.batch as batch

    monkeypatch.setattr(batch, "STOP_GRACE_SECONDS", 3.0)
    todo = [(name, name, "video") for name in ("finishing.jpg", "stopped.mp4", "stuck.mp4", "queued.jpg")]
    results, seen = {}, []

    def progress(fractions, in_hand):
        seen.append(len(fractions))
        if len(fractions) == 3:  # every worker in its file: the user presses Ctrl-C
            raise KeyboardInterrupt

    started = time.time()
    with pytest.raises(batch.BatchInterrupted) as caught:
        batch._run_local(todo, BatchOptions(out=Path("unused"), pipeline=NO_ANNOTATION), workers=3, threads=1,
                         record=lambda res: results.setdefault(res["path"], res), analyse=stop_test_task,
                         progress=progress)
    assert time.time() - started < 90
    assert list(results) == ["finishing.jpg"] and results["finishing.jpg"]["status"] == "done"
    assert sorted(caught.value.in_progress) == ["stopped.mp4", "stuck.mp4"]  # queued.jpg never started
    assert not mp.active_children()  # the stuck worker was ended, the others left


def _looped_clip(path: Path, source: Path, times: int) -> Path:
    """``source`` (face_clip) played ``times`` times over, as one H.264 clip (a longer video that stays small)."""
    import cv2

    from conftest import clip_writer

    capture = cv2.VideoCapture(str(source))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    height, width = frames[0].shape[:2]
    writer = clip_writer(path, width, height, 30.0)
    for _ in range(times):
        for frame in frames:
            writer.write(frame)
    writer.close()
    return path


def test_the_bar_moves_within_a_video(tmp_path, capfd, monkeypatch, face_clip):
    """The bar counted files: frozen for a whole video (no refresh, its clock stuck at the last file's end). (It
    was checked on a 4 s clip, analysed in well under a second: a slow start of the driver's polls missed it.)"""
    import fervid.apps.batch as batch
    import fervid.progress

    monkeypatch.setattr(batch, "PROGRESS_SECONDS", 0.05)
    monkeypatch.setattr(fervid.progress, "LOG_SECONDS", 0.05)  # stderr is no terminal: a line every poll, here
    seen = []  # what the board reported to the driver's bar, at each refresh
    fractions = batch.WorkerBoard.fractions
    monkeypatch.setattr(batch.WorkerBoard, "fractions", lambda board: seen.append(fractions(board)) or seen[-1])
    corpus = tmp_path / "c"
    corpus.mkdir()
    _looped_clip(corpus / "clip.mp4", face_clip, 8)  # 16 s, 480 frames: seconds of analysis, dozens of refreshes
    run_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=MEAN.replace(annotate=False)), progress=True)
    err = capfd.readouterr().err
    within = [f[0] for f in seen if f and 0 < f[0] < 0.99]  # (task 0's: the one video)
    assert len(within) >= 2 and within == sorted(within), seen  # the worker's share of the frames, growing
    shares = {int(n) for n in re.findall(r"(\d+)%\|", err)} - {0, 100}
    assert shares, err[-1500:]  # the bar stood between 0 and 100 % while the video was analysed
    assert {int(n) for n in re.findall(r"now=clip\.mp4 (\d+)%", err)} - {0, 99}  # and said how far the file was


class _FlippingSlots:
    """One worker's slot on a board, as the driver reads it while the worker hands in its file: the frames in the
    video are there at the first read, and 0 at the next (``progress(0, 0)`` written in between)."""

    def __init__(self):
        self.total_reads = 0

    def __getitem__(self, index):
        if index == 1:
            self.total_reads += 1
            return 200.0 if self.total_reads == 1 else 0.0
        return 100.0


def test_the_bar_reads_each_workers_slot_once():
    """fractions() read a slot's total twice, to test it and to divide by it: a worker writing (0, 0) at the end of
    its file in between raised ZeroDivisionError in the driver, out of the run (no table, no summary)."""
    import multiprocessing as mp

    from fervid.apps.batch import WorkerBoard

    board = WorkerBoard(mp.get_context("spawn"), 1)
    board.slots = _FlippingSlots()
    assert board.fractions() == {0: 0.5}  # task 0's video, half read
    assert board.fractions() == {}  # between files: no share
    # and with a real board, a worker flipping its slot as fast as it can while the driver reads
    import threading

    board = WorkerBoard(mp.get_context("spawn"), 2)
    done = threading.Event()

    def flip():
        while not done.is_set():
            board.report(0, 5, 10)
            board.report(0, 0, 0)

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        for _ in range(20_000):
            assert all(0 <= f <= 0.99 for f in board.fractions().values())
    finally:
        done.set()
        flipper.join()


def test_an_interrupt_before_the_workers_loaded_their_models_loses_no_started_file(monkeypatch):
    """Interrupted as the workers were still loading their models, the run said "Stopped while analysing a.mp4,
    b.mp4: its work so far is lost" of files no worker had started. They are counted as not analysed, not as
    stopped."""
    import fervid.apps.batch as batch

    monkeypatch.setattr(batch, "PROGRESS_SECONDS", 0.001)  # the first refresh: long before a worker has started

    def progress(fractions, in_hand):
        raise KeyboardInterrupt

    todo = [(name, name, "video") for name in ("a.mp4", "b.mp4")]
    results = {}
    with pytest.raises(batch.BatchInterrupted) as caught:
        batch._run_local(todo, BatchOptions(out=Path("unused"), pipeline=NO_ANNOTATION), workers=2, threads=1,
                         record=lambda res: results.setdefault(res["path"], res), analyse=stop_test_task,
                         progress=progress)
    assert caught.value.in_progress == [] and results == {}


def _labelled_rows(emotions, tracks, sure=0.6):
    """A table of rows as a file's rows.parquet holds them: each row's label, its probability ``sure`` (a number,
    or one per row), its track, and whether it is uncertain (under the shipped models' 0.5)."""
    import pyarrow as pa

    sure = [sure] * len(emotions) if np.isscalar(sure) else sure
    return pa.table({"emotion": emotions, "track": tracks,
                     **{e: [p if e == label else (1 - p) / 6 for label, p in zip(emotions, sure)] for e in EMOTIONS},
                     "uncertain": [p < 0.5 for p in sure]})


def test_merged_counts_count_every_files_tracks():
    """Merging a file's counts into its kind's and the whole table's dropped its tracks: the merged counts held an
    empty set, and a union of the files' sets would count one track per number (every file's start at 1)."""
    from fervid.apps.batch import _Counts

    def counts(tracks):
        c = _Counts()
        c.add(_labelled_rows(["happy"] * len(tracks), tracks))
        return c

    one, other = counts([1, 1, 2]), counts([1])
    videos = _Counts()
    videos.merge(one)
    videos.merge(other)
    every = _Counts()
    every.merge(videos)
    every.merge(counts([1, 2]))  # the images' faces
    assert (one.n_tracks, other.n_tracks, videos.n_tracks, every.n_tracks) == (2, 1, 3, 5)
    assert (videos.rows, every.rows) == (4, 6)


def test_a_files_dominant_emotion_is_of_its_rows_a_tie_the_surer_then_the_first_emotion():
    """files.csv's dominant_emotion: the emotion of most rows, counted (not of its shares, rounded to 4 decimals:
    15,001 sad frames against 14,999 happy ones are 0.5 each); a tie goes to the tied emotion with the higher mean
    probability, as a track's and a segment's do (it went to the first in EMOTIONS), and where those are equal too
    (two photos, each of one happy and one sad face) to the first in EMOTIONS, happy, whichever was counted first."""
    from fervid.apps.batch import _Counts

    def counts(emotions, sure=0.6):
        c = _Counts()
        c.add(_labelled_rows(emotions, list(range(1, len(emotions) + 1)), sure))
        return c

    video = counts(["sad"] * 15001 + ["happy"] * 14999)
    assert video.shares()["sad"] == video.shares()["happy"] == 0.5 and video.dominant() == "sad"
    photos = _Counts()
    photos.merge(counts(["sad", "happy"]))
    photos.merge(counts(["happy", "sad"]))
    assert photos.dominant() == counts(["sad", "happy"]).dominant() == "happy"
    assert counts(["sad", "happy"], sure=[0.9, 0.5]).dominant() == "sad"  # sad's mean 0.57, happy's 0.52
    photos.merge(counts(["sad", "happy"], sure=[0.9, 0.5]))  # merged counts keep the probabilities
    assert photos.dominant() == "sad"


def test_a_files_uncertain_share_is_of_its_rows_and_merged_counts_keep_it():
    """files.csv gave each file's emotion shares but not how many of its rows the model was unsure of, which a
    track's uncertain_share (tracks.csv) says: a file's uncertain_share is its rows' share flagged uncertain, to 4
    decimals as a track's, empty where it has no row; a kind's and the run's counts merge them."""
    from fervid.apps.batch import _Counts

    def counts(sure):
        c = _Counts()
        c.add(_labelled_rows(["happy"] * len(sure), [1] * len(sure), sure))
        return c

    video = counts([0.45, 0.9, 0.3, 0.8, 0.7, 0.6])  # 2 of 6 under 0.5
    assert video.uncertain_share() == round(2 / 6, 4) == 0.3333
    assert counts([0.9]).uncertain_share() == 0.0 and _Counts().uncertain_share() is None
    every = _Counts()
    every.merge(video)
    every.merge(counts([0.2, 0.49]))
    assert every.uncertain_share() == 0.5  # 4 of 8


def test_a_resumed_run_with_a_recalibrated_model_is_refused(tmp_path):
    """fervid calibrate rewrites a model's temperature in config.json beside the same weights: a resumed batch went
    on, and its table held probabilities at two temperatures. A folder recorded before the temperature was kept
    resumes, and records it."""
    from fervid.apps.batch import BatchSettingsChanged
    from fervid.inference.models import MODELS

    model = Path(shutil.copytree(MODELS["ferplus_vgg"], tmp_path / "model"))
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    options = BatchOptions(out=out, pipeline=NO_ANNOTATION.replace(model=str(model)))
    first = run_batch([str(empty)], options, progress=False)
    assert first["settings"]["temperature"] == config["temperature"]
    (model / "config.json").write_text(json.dumps({**config, "temperature": 1.25}), encoding="utf-8")
    with pytest.raises(BatchSettingsChanged, match=rf"made with temperature={config['temperature']!r}.*asks for "
                                                   r"temperature=1\.25"):
        run_batch([str(empty)], options, progress=False)
    with sqlite3.connect(out / "state.sqlite") as db:  # a folder from before the temperature was recorded
        db.execute("DELETE FROM settings WHERE name = 'temperature'")
    assert run_batch([str(empty)], options, progress=False)["settings"]["temperature"] == 1.25


def test_a_batch_says_when_the_memory_capped_the_rate_and_advises_no_sample_fps_that_cannot_help(tmp_path, face_clip):
    """With --frames-memory-mb 0.5 a video was analysed at 2 fps, and batch said only the window notice, which
    advised --sample-fps 4 or more: it cannot raise a rate the memory capped. Batch says the cap (once a run) and
    records it, as `fervid video` does, and the window notice advises more memory instead."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "clip.mp4")
    out = tmp_path / "out"
    ran = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--no-annotate", "--key-frames", "0",
                                   "--end", "2", "--frames-memory-mb", "0.5"])
    assert ran.exit_code == 0, ran.output
    notices = json.loads((out / "summary.json").read_text(encoding="utf-8"))["this_run"]["notices"]
    capped = [n for n in notices if "--frames-memory-mb 0.5" in n]
    assert len(capped) == 1 and "frames a second were analysed" in capped[0], notices
    assert ran.output.count(capped[0]) == 1
    (window,) = [n for n in notices if "the LSTM learnt" in n]
    assert "--sample-fps" not in window and "a higher --frames-memory-mb" in window, window


def _big_frames_parquet(path: Path, rows: int) -> Path:
    """A video's streamed frames table of ``rows`` rows (a 45-min classroom video, 6 faces at 25 fps: 405,000),
    with the types fervid writes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fervid.emotions import EMOTIONS
    from fervid.inference.records import table_schema
    from fervid.inference.video import TABLE_COLUMNS

    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(7), rows)
    columns = {"time": np.arange(rows) / 150.0, "frame": np.arange(rows) // 6, "track": np.arange(rows) % 6 + 1,
               **{c: rng.uniform(0, 300, rows) for c in ("x", "y", "width", "height")},
               "detection_score": rng.uniform(0.4, 1, rows),
               **{e: probabilities[:, i] for i, e in enumerate(EMOTIONS)},
               "emotion": np.array(EMOTIONS)[probabilities.argmax(1)], "confidence": probabilities.max(1),
               "uncertain": probabilities.max(1) < 0.5, "detected": np.arange(rows) % 3 == 0}
    table = pa.table({c: columns[c] for c in TABLE_COLUMNS}).cast(table_schema(TABLE_COLUMNS))
    pq.write_table(table, path, row_group_size=4096)  # as FrameTableWriter writes it: a row group per chunk
    return path


def test_pyarrow_reads_no_parquet_file_through_python_in_its_own_threads(tmp_path, monkeypatch):
    """`fervid batch` exited 134 (SIGABRT, "terminate called without an active exception") about one run in ten,
    its work done: pyarrow read the Parquet files fervid opens in Python (for a Latin-1 locale's names) in its IO
    threads, each read there taking the GIL, and one's buffer let go there as the interpreter shut down ended the
    process (apache/arrow#34314). Now the files are opened in Python still, and no read or write of one goes through
    Python off the main thread: not a video's frames table read into its rows, nor a file's rows read into the
    dataset."""
    import io
    import threading

    import fervid.apps.batch as batch
    import fervid.inference.video as video

    main, opened, off_main = threading.get_ident(), [], []

    class Noted(io.FileIO):  # a read or write in Python on a thread other than the main one, noted
        def _note(self):
            if threading.get_ident() != main:
                off_main.append(Path(self.name).name)

        def read(self, size=-1):
            self._note()
            return super().read(size)

        def readinto(self, buffer):
            self._note()
            return super().readinto(buffer)

        def readall(self):
            self._note()
            return super().readall()

        def write(self, data):  # (pyarrow writes on the caller's thread: a file written stays a Python one)
            self._note()
            return super().write(data)

    def noted_open(path, mode="r", buffering=-1):
        opened.append(Path(path).name)
        return Noted(path, mode)

    monkeypatch.setattr(video, "open", noted_open, raising=False)  # what open_parquet opens files with
    frames = _big_frames_parquet(tmp_path / "frames.parquet", 3 * 4096)  # three row groups
    monkeypatch.setattr(video.VideoAnalyzer, "__init__", lambda self, *a, **k: None)
    monkeypatch.setattr(video.VideoAnalyzer, "run",
                        lambda self, path, out, **k: video.VideoResult(source=path, table_path=frames))
    monkeypatch.setattr(batch, "_worker", {"analyzer": None, "options": BatchOptions(out=tmp_path / "out")})
    (tmp_path / "out" / "files").mkdir(parents=True)
    result = batch.analyse_one(("class.mp4", "k1", "video"))
    assert result["status"] == "done" and result["rows"] == 3 * 4096, result
    parts = batch._parts(tmp_path / "out" / "files" / "k1" / "rows.parquet", "class.mp4")
    assert sum(part.num_rows for part in parts) == 3 * 4096
    assert {"frames.parquet", "rows.parquet"} <= set(opened)
    assert off_main == []


PEAK_RSS = """
import json, resource, sys
from pathlib import Path
import pandas, pyarrow, pyarrow.parquet
import fervid.apps.batch as batch
from fervid.inference.video import VideoResult, VideoAnalyzer
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux: KB)
before = peak()
{body}
print(json.dumps({{"grew_mb": peak() - before}}))
"""


def _peak_growth(tmp_path: Path, body: str) -> float:
    script = tmp_path / "peak.py"
    script.write_text(PEAK_RSS.format(body=body), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         encoding="utf-8", timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])["grew_mb"]


@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS in MB as Linux reports it")
def test_a_long_videos_rows_are_streamed_by_the_worker(tmp_path):
    """The worker read a 45-min video's whole table back and went through Python dicts to write its rows: 268 MB
    grew to a 994 MB peak per worker. The rows now go from the streamed table to rows.parquet a row group at a time."""
    import pyarrow.parquet as pq

    _big_frames_parquet(tmp_path / "frames.parquet", 405_000)
    (tmp_path / "out" / "files").mkdir(parents=True)
    grew = _peak_growth(tmp_path, """
frames = Path("frames.parquet")
VideoAnalyzer.__init__ = lambda self, *a, **k: None
VideoAnalyzer.run = lambda self, path, out, **k: VideoResult(source=path, table_path=frames)  # analysed: its table
batch._worker.update(analyzer=None, options=batch.BatchOptions(out=Path("out")))
result = batch.analyse_one(("class.mp4", "k1", "video"))
assert result["status"] == "done" and result["rows"] == 405000 and result["faces"] == 6, result
""")
    rows = pq.read_table(tmp_path / "out" / "files" / "k1" / "rows.parquet")
    assert rows.num_rows == 405_000 and rows.column_names[:5] == ["file", "kind", "track", "time", "frame"]
    assert set(rows["file"].to_pylist()) == {"class.mp4"} and "detected" not in rows.column_names
    assert grew < 200, f"peak RSS grew by {grew:.0f} MB"


@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS in MB as Linux reports it")
def test_the_dataset_of_many_long_videos_is_streamed(tmp_path):
    """write_outputs concatenated every finished file's rows in memory: 3 GB for 20 classroom videos (at the end of
    every run and at Ctrl-C). The parts now stream into dataset.parquet, the shares are running counts."""
    import pyarrow.parquet as pq

    from fervid.apps.batch import StateStore, write_outputs

    _big_frames_parquet(tmp_path / "frames.parquet", 200_000)
    frames = pd.read_parquet(tmp_path / "frames.parquet")
    part = frames.drop(columns="detected").assign(file="x", kind="video")[
        ["file", "kind", "track", "time", "frame", *frames.columns[3:-1]]]
    out = tmp_path / "out"
    (out / "files").mkdir(parents=True)
    store = StateStore(out / "state.sqlite")
    for i in range(8):  # 1.6 M rows
        (out / "files" / f"k{i}").mkdir()
        part.to_parquet(out / "files" / f"k{i}" / "rows.parquet", index=False)
        store.db.execute("INSERT INTO files (path, hash, kind, status, key, faces, rows, location) VALUES "
                         "(?, ?, 'video', 'done', ?, 6, ?, ?)", (f"v{i}.mp4", f"h{i}", f"k{i}", len(part),
                                                                 str(tmp_path / f"v{i}.mp4")))
    store.db.close()
    grew = _peak_growth(tmp_path, """
summary = batch.write_outputs(Path("out"), batch.StateStore(Path("out") / "state.sqlite"))
assert summary["rows"] == 1600000 and summary["video_tracks"] == 48, summary
""")
    assert grew < 250, f"peak RSS grew by {grew:.0f} MB"
    summary = write_outputs(out, StateStore(out / "state.sqlite"))
    assert pq.read_metadata(out / "dataset.parquet").num_rows == 1_600_000
    shares = frames["emotion"].value_counts(normalize=True)
    assert summary["emotion_share"] == {e: round(float(shares.get(e, 0.0)), 4) for e in summary["emotion_share"]}
    assert summary["emotion_share_by_kind"]["video"] == summary["emotion_share"]
    assert summary["emotion_share_by_kind"]["image"] == dict.fromkeys(EMOTIONS)  # no image rows: no shares (null)
    assert set(pd.read_parquet(out / "dataset.parquet", columns=["file"])["file"]) == {f"v{i}.mp4" for i in range(8)}


def test_a_run_with_no_rows_has_no_uncertain_share(tmp_path):
    """A run of an empty room only: no row to share, so no share (null, and n/a in summary.md), not 0.0 read as
    a measured absence of uncertainty."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    _no_face_video(corpus / "empty_room.mp4", frames=10)
    summary = run_batch([str(corpus)], BatchOptions(out=tmp_path / "o", pipeline=MEAN.replace(annotate=False)),
                        progress=False)
    assert summary["rows"] == 0 and summary["no_faces"] == [str(corpus / "empty_room.mp4")]
    written = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))
    assert written["uncertain_share"] is None and written["uncertain_share_by_kind"] == {"image": None, "video": None}
    assert "- rows flagged uncertain: n/a (n/a of image faces, n/a of video frames)" in (
        tmp_path / "o" / "summary.md").read_text(encoding="utf-8")


@needs_sample_clip
def test_per_file_and_per_track_tables_and_videos_with_no_face(tmp_path, astronaut_rgb):
    """Only corpus-wide numbers were written: no per-video or per-track summary, and a video in which no face was
    found was done with no row and no word. (carphone: a third of its track's rows are uncertain, so a share of
    them, neither 0 nor 1, is checked; face_clip's astronaut is sure in every frame)"""
    from typer.testing import CliRunner

    from fervid.apps.cli import app
    from fervid.samples import carphone

    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(carphone(), corpus / "clip.mp4")
    _no_face_video(corpus / "empty_room.mp4")
    avi = _cut_avi(corpus, astronaut_rgb)
    Image.fromarray(astronaut_rgb).resize((320, 320)).save(corpus / "photo.jpg")
    (corpus / "broken.jpg").write_text("not an image")
    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--method", "mean", "-q",
                                      "--no-annotate"])
    assert result.exit_code == 1  # broken.jpg, and the cut AVI (partial)
    assert f"no faces found in 1 video(s): {corpus / 'empty_room.mp4'}" in result.output
    assert f"- {corpus / 'empty_room.mp4'}" in (out / "summary.md").read_text().split("## No faces found")[1]
    files = pd.read_csv(out / "files.csv").set_index("file")
    assert list(files.columns) == ["kind", "status", "duration", "tracks", "rows", "dominant_emotion", "angry",
                                   "disgust", "fear", "happy", "sad", "surprise", "neutral", "note", "output",
                                   "uncertain_share", "same_as"]
    clip, room, cut = files.loc[str(corpus / "clip.mp4")], files.loc[str(corpus / "empty_room.mp4")], files.loc[str(avi)]
    table = pd.read_parquet(out / "dataset.parquet")
    in_clip = table[table["file"] == str(corpus / "clip.mp4")]
    assert (clip["status"], clip["tracks"], clip["rows"]) == ("done", 1, len(in_clip)) and clip["duration"] > 3.9
    assert clip["happy"] == pytest.approx((in_clip["emotion"] == "happy").mean(), abs=1e-4)
    assert clip["dominant_emotion"] == in_clip["emotion"].mode()[0]
    # the share of its rows flagged uncertain, as the table has them (and as its track's in tracks.csv: one track)
    assert clip["uncertain_share"] == round(in_clip["uncertain"].mean(), 4) and 0 < clip["uncertain_share"] < 1
    in_photo = table[table["file"] == str(corpus / "photo.jpg")]
    assert files.loc[str(corpus / "photo.jpg"), "uncertain_share"] == float(in_photo["uncertain"].iloc[0])
    assert pd.isna(room["uncertain_share"]) and pd.isna(files.loc[str(corpus / "broken.jpg"), "uncertain_share"])
    # the run's, of all its rows, and of each kind's (summary.json; summary.md says them too)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["uncertain_share"] == round(table["uncertain"].mean(), 4)
    assert summary["uncertain_share_by_kind"] == {
        kind: round(table[table["kind"] == kind]["uncertain"].mean(), 4) for kind in ("image", "video")}
    assert summary["uncertain_share_by_kind"]["image"] == float(in_photo["uncertain"].iloc[0])
    assert (f"- rows flagged uncertain: {summary['uncertain_share']:.1%} ("
            f"{summary['uncertain_share_by_kind']['image']:.1%} of image faces, "
            f"{summary['uncertain_share_by_kind']['video']:.1%} of video frames)") in (
        out / "summary.md").read_text(encoding="utf-8")
    assert (room["status"], room["rows"], room["note"]) == ("done", 0, "no faces found") and room["duration"] == 2.0
    assert cut["status"] == "partial" and "truncated or corrupt" in cut["note"]
    assert files.loc[str(corpus / "photo.jpg"), "kind"] == "image" and files.loc[str(corpus / "photo.jpg"), "rows"] == 1
    assert files.loc[str(corpus / "broken.jpg"), "status"] == "failed"
    assert "not an image" in files.loc[str(corpus / "broken.jpg"), "note"]
    tracks = pd.read_csv(out / "tracks.csv")
    assert list(tracks.columns[:7]) == ["file", "track", "start", "end", "frames", "seen_seconds", "dominant_emotion"]
    one = tracks[tracks["file"] == str(corpus / "clip.mp4")].iloc[0]
    assert one["track"] == 1 and one["frames"] == len(in_clip) and 0 <= one["start"] < one["end"] <= clip["duration"]
    assert one["seen_seconds"] > 3 and not one["partial"]
    assert one["uncertain_share"] == clip["uncertain_share"]  # the clip's one track: its rows are the file's
    assert tracks[tracks["file"] == str(avi)]["partial"].all() and len(tracks[tracks["file"] == str(avi)])
    assert str(corpus / "empty_room.mp4") not in set(tracks["file"])


def test_unchanged_files_are_not_read_again(tmp_path, astronaut_rgb, monkeypatch):
    """Every start read every input in full to hash it (40 videos of 45 minutes: minutes of disk reading before a
    finished corpus said so). Files whose size and modification time are unchanged keep their recorded hash."""
    import fervid.apps.batch as batch

    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(3):
        Image.fromarray(astronaut_rgb).rotate(i).resize((256, 256)).save(corpus / f"p{i}.jpg")
    hashed = []
    real = batch.file_sha256

    def counting(path):
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(batch, "file_sha256", counting)
    options = BatchOptions(out=tmp_path / "out", pipeline=NO_ANNOTATION)
    run_batch([str(corpus)], options, progress=False)
    assert sorted(name for name in hashed if name.endswith(".jpg")) == ["p0.jpg", "p1.jpg", "p2.jpg"]
    hashed.clear()
    again = run_batch([str(corpus)], options, progress=False)
    assert [name for name in hashed if name.endswith(".jpg")] == [] and again["this_run"]["files_analysed"] == 0
    Image.fromarray(astronaut_rgb).rotate(30).resize((256, 256)).save(corpus / "p1.jpg")  # changed
    os.utime(corpus / "p2.jpg", ns=(0, os.stat(corpus / "p2.jpg").st_mtime_ns + 10**9))  # touched, same bytes
    hashed.clear()
    changed = run_batch([str(corpus)], options, progress=False)
    assert sorted(name for name in hashed if name.endswith(".jpg")) == ["p1.jpg", "p2.jpg"]
    assert changed["this_run"]["files_analysed"] == 1 and changed["done"] == 3
    hashed.clear()
    run_batch([str(corpus)], options, progress=False)
    assert [name for name in hashed if name.endswith(".jpg")] == []  # the touched file's new time was recorded


def test_transport_streams_and_every_image_kind_pillow_reads_are_analysed_and_heic_is_said(tmp_path, astronaut_rgb,
                                                                                         without_heif_decoder,
                                                                                         face_clip):
    """A folder's .ts transport stream and .avif photo were dropped without a word (decoded fine when named), and so
    were its HEIC photos; TypeScript's .ts files and notes stay out, unsaid."""
    import imageio_ffmpeg
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "c"
    corpus.mkdir()
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(face_clip), "-t", "1", "-c:v",
                    "libx264", "-f", "mpegts", str(corpus / "stream.ts")], check=True)
    Image.fromarray(astronaut_rgb).resize((320, 320)).save(corpus / "photo.avif")
    Image.fromarray(astronaut_rgb).resize((320, 320)).save(corpus / "scan.tga")
    (corpus / "app.ts").write_text("export const a = 1;\n")
    (corpus / "notes.txt").write_text("session notes\n")
    (corpus / "IMG_1.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--method", "mean", "-q",
                                      "--no-annotate"])
    assert result.exit_code == 0, result.output
    assert f"notice: {corpus}: left out 1 image(s) of a kind fervid cannot read here (e.g. IMG_1.HEIC)" in result.output
    files = pd.read_csv(out / "files.csv").set_index("file")
    assert sorted(files.index) == [str(corpus / name) for name in ("photo.avif", "scan.tga", "stream.ts")]
    assert files.loc[str(corpus / "stream.ts"), "kind"] == "video" and files.loc[str(corpus / "stream.ts"), "rows"] > 0
    assert (files.loc[[str(corpus / "photo.avif"), str(corpus / "scan.tga")], "rows"] == 1).all()
    # a recording joined end to end: its clock's restart is in files.csv, not only in its own tracks JSON
    (corpus / "joined.ts").write_bytes((corpus / "stream.ts").read_bytes() * 2)
    # and a 4:3 recording joined to a 16:9 one, which OpenCV scaled to the first one's size unsaid
    for name, size in (("four_three", "192:144"), ("wide", "256:144")):
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(face_clip), "-t", "1", "-vf",
                        f"scale={size},setsar=1", "-c:v", "libx264", "-f", "mpegts", str(tmp_path / f"{name}.ts")],
                       check=True)
    (corpus / "mixed.ts").write_bytes((tmp_path / "four_three.ts").read_bytes() + (tmp_path / "wide.ts").read_bytes())
    again = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--method", "mean", "-q",
                                     "--no-annotate"])
    assert again.exit_code == 0, again.output
    files = pd.read_csv(out / "files.csv").set_index("file")
    assert re.fullmatch(r"its own clock starts again at 1\.[01] s \(times go on from the frame before\)",
                        files.loc[str(corpus / "joined.ts"), "note"])
    assert pd.isna(files.loc[str(corpus / "stream.ts"), "note"])
    assert re.fullmatch(r"its own clock starts again at 1\.[01] s \(times go on from the frame before\); its frame "
                        r"size changes \(recordings joined\?\), analysed scaled to 192x144: 256x144 from 1\.[01] s",
                        files.loc[str(corpus / "mixed.ts"), "note"])


def test_an_hdr_phone_video_is_noted_in_files_csv(tmp_path, face_clip):
    """HDR video (here HLG, as iPhones record) is analysed tone-mapped to SDR: files.csv's note says so, as the
    tracks JSON and `fervid video`'s notice do."""
    import imageio_ffmpeg
    from typer.testing import CliRunner

    from fervid.apps.cli import app
    from fervid.inference import video

    corpus = tmp_path / "c"
    corpus.mkdir()
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(face_clip), "-t", "1", "-vf",
                    "format=yuv420p10le,setparams=color_primaries=bt2020:color_trc=arib-std-b67:colorspace=bt2020nc",
                    "-c:v", "libx264", "-profile:v", "high10", str(corpus / "phone.mp4")], check=True)
    shutil.copy(face_clip, corpus / "sdr.mp4")
    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--method", "mean", "-q",
                                      "--no-annotate"])
    assert result.exit_code == 0, result.output
    files = pd.read_csv(out / "files.csv").set_index("file")
    assert files.loc[str(corpus / "phone.mp4"), "note"] == (
        "HDR (HLG), tone-mapped to SDR" if video._can_tone_map() else
        "HDR (HLG) read without tone-mapping (no zscale/tonemap in this ffmpeg): highlights clipped, colours shifted")
    assert pd.isna(files.loc[str(corpus / "sdr.mp4"), "note"])


def test_a_rerun_says_how_many_files_are_already_done_before_it_starts(tmp_path, astronaut_rgb):
    """A rerun after an interruption said nothing of the files kept: only its bar's total had shrunk."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("a", "b"):
        Image.fromarray(astronaut_rgb).save(corpus / f"{name}.png")
    out = tmp_path / "out"
    first = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out)])
    assert first.exit_code == 0 and "already done" not in first.output, first.output
    Image.fromarray(astronaut_rgb[:, ::-1]).save(corpus / "c.png")
    again = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert f"fervid batch: 2 of 3 file(s) already done in {out} are kept; 1 to analyse" in again.output
    quiet = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "-q"])
    assert "already done" not in quiet.output


def test_estimate_times_samples_of_each_frame_size_and_writes_nothing(tmp_path, astronaut_rgb, face_clip):
    """An overnight corpus was timed only once it ran (the README said: time a minute of one recording first).
    `--estimate` analyses samples in a temporary folder, reads the videos' lengths from their files, and says how
    long the run would take, writing nothing to --out."""
    from typer.testing import CliRunner

    from fervid.apps.batch import estimate_batch
    from fervid.apps.cli import app
    from conftest import clip_writer

    corpus = make_corpus(tmp_path / "corpus", astronaut_rgb, face_clip, 3)  # face_clip (176x144, 2 s), 4 images, 2 bad
    face = astronaut_rgb[20:240, 120:330, ::-1]
    writer = clip_writer(corpus / "large.mp4", 640, 480, 15.0)
    for _ in range(90):  # 6 s at 640x480: another frame size, another cost
        frame = np.full((480, 640, 3), 90, np.uint8)
        frame[100:320, 200:410] = face
        writer.write(frame)
    writer.close()
    out = tmp_path / "out"
    ran = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--method", "mean", "--estimate"])
    assert ran.exit_code == 0, ran.output
    assert not out.exists()
    said = " ".join(ran.output.split())
    assert "8 file(s): 3 video(s), 0 h 00 min 08 s of video by their files, and 5 image(s)" in said
    assert re.search(r"clip\.mp4 \(176x144\): 2(\.\d)? s analysed at [\d.]+x real time", said), said
    assert re.search(r"large\.mp4 \(640x480\): 6(\.\d)? s analysed at [\d.]+x real time", said), said
    assert re.search(r"images: [\d.]+ s each", said) and "empty.mp4" in said  # no length: not counted, named
    assert re.search(r"estimated: about \d+ min \d\d s with one worker", said), said
    # each video at the rate of the sample of its size, the images at theirs
    found = estimate_batch([str(corpus)], BatchOptions(out=out, pipeline=MEAN), sample_seconds=2.0)
    rates = {Path(s["file"]).name: s for s in found["samples"]}
    assert rates["large.mp4"]["seconds_analysed"] == pytest.approx(2.0, abs=0.2)  # the first 2 s only
    lengths = {"clip.mp4": FACE_CLIP_FRAMES / FACE_CLIP_FPS, "large.mp4": 6.0}
    expected = sum(rates[name]["seconds_per_video"] + length / rates[name]["real_time"]
                   for name, length in lengths.items()) + 5 * found["seconds_per_image"]
    assert found["estimated_seconds"] == pytest.approx(expected, rel=0.02, abs=0.1)


def test_estimate_says_the_disk_the_videos_outputs_take_as_a_run_writes_them(tmp_path, face_clip):
    """An hour's interview wrote about 3,300 key frames beside its annotated MP4, and nothing said so before the
    disk filled. `--estimate` sizes the videos' outputs from what its samples wrote per second of video: where the
    sample is the whole video, the outputs a run writes (annotated MP4, key frames, tables, JSON and timelines).
    A copy of a video is analysed once by a run (one output folder): the estimate sampled it and counted its disk
    twice."""
    from typer.testing import CliRunner

    from fervid.apps.batch import estimate_batch
    from fervid.apps.cli import app
    from fervid.inference.video import VideoAnalyzer

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "a.mp4")
    (corpus / "b.mp4").write_bytes(face_clip.read_bytes() + b"\0" * 16)  # another file, the same frames: twice the disk
    shutil.copy(face_clip, corpus / "c.mp4")  # a copy of a.mp4: analysed once, with it
    found = estimate_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=MEAN))
    assert found["files"] == 2 and found["videos"] == 2
    assert found["copies"] == [f"{corpus / 'c.mp4'}: the same file as {corpus / 'a.mp4'}, analysed once"]
    assert sorted(Path(sample["file"]).name for sample in found["samples"]) == ["a.mp4", "b.mp4"]
    options = BatchOptions(out=tmp_path / "out", pipeline=MEAN)
    result = VideoAnalyzer(MEAN.analyzer(threads=1), options.video()).run(face_clip, tmp_path / "one")
    written = {p.name: p.stat().st_size for p in (tmp_path / "one").iterdir() if not p.name.startswith(".")}
    key_frames = [name for name in written if name.endswith(".png") and not name.endswith("_timeline.png")]
    assert key_frames and len(key_frames) == sum(1 for ep in result.episodes if ep.key_frame)
    real = {"annotated": written[f"{face_clip.stem}_annotated.mp4"], "key_frames": sum(written[n] for n in key_frames),
            "tables": sum(size for name, size in written.items() if name.endswith((".csv", ".parquet")))}
    real["other"] = sum(written.values()) - sum(real.values())
    disk = found["disk_bytes"]
    for kind, size in real.items():  # (the same frames, faces and settings: the same bytes, or nearly)
        assert disk[kind] == pytest.approx(2 * size, rel=0.05), (kind, disk, real)
    assert disk["key_frames_count"] == 2 * len(key_frames)
    ran = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(tmp_path / "out"), "--method", "mean",
                                   "--estimate", "--no-annotate"])
    said = " ".join(ran.output.split())
    assert ran.exit_code == 0, said
    assert re.search(rf"disk: about [\d.]+ kB for the videos' outputs: [\d.]+ kB of key frames \(about "
                     rf"{2 * len(key_frames)} PNGs\), [\d.]+ kB of tables, [\d.]+ kB of tracks JSONs and timelines",
                     said), said
    assert "annotated" not in said.split("disk:")[1].split("(the samples'")[0]  # --no-annotate: none written
    assert f"1 copy(ies) of another file's content, analysed once, not counted: {corpus / 'c.mp4'}: the same" in said


def test_audio_files_are_said_to_have_no_picture_in_a_folder_and_named(tmp_path, face_clip):
    """A participant's voice memo beside their videos: a folder run left it out without a word (18 of 18 files for
    19 uploads), and named on its own it was taken for an image that was 'a video (MP4/MOV), not an image (use
    fervid video)'."""
    import imageio_ffmpeg

    corpus = tmp_path / "p01"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "clip.mp4")
    memo = corpus / "voice_memo.m4a"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=duration=1",
                    "-c:a", "aac", str(memo)], check=True)
    summary = run_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=MEAN), progress=False)
    assert summary["done"] == 1 and any("left out 1 audio file(s) (e.g. voice_memo.m4a)" in n
                                        for n in summary["this_run"]["notices"]), summary["this_run"]["notices"]
    summary = run_batch([str(memo)], BatchOptions(out=tmp_path / "out2", pipeline=MEAN), progress=False)
    (failure,) = summary["failures"]
    assert "voice_memo.m4a: audio only, no picture" in failure["error"] and "use `fervid video`" not in failure["error"]


def test_videos_of_every_extension_ffmpeg_reads_and_an_ogg_with_pictures_are_analysed_as_videos(tmp_path, face_clip):
    """`fervid batch` told a video by its extension alone: a raw .dv, a .y4m, .asf, .nut, .mod or .h264 failed as "not
    an image", a .3g2, .f4v, .qt or .divx as "a video (MP4/MOV), not an image (use `fervid video`)" (it knew), and a
    Theora .ogg as "audio only, no picture"; a folder search left them all out unsaid. A recording under an extension
    of its own is analysed as the video it holds where it is named, and named in a notice where a folder holds it."""
    import imageio_ffmpeg

    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(face_clip), "-t", "1"]
    corpus = tmp_path / "tapes"
    corpus.mkdir()
    made = {"tape.dv": ["-target", "pal-dv", "-an"], "clip.y4m": ["-pix_fmt", "yuv420p"],
            "clip.asf": [], "clip.nut": [], "camcorder.mod": ["-c:v", "mpeg2video", "-f", "vob"],
            "raw.h264": ["-c:v", "libx264", "-f", "h264"], "clip.3g2": ["-c:v", "libx264", "-an"],
            "clip.f4v": ["-c:v", "libx264", "-f", "mp4"], "clip.qt": ["-c:v", "libx264", "-f", "mov"],
            "clip.divx": ["-c:v", "mpeg4", "-f", "avi"], "clip.bin": ["-c:v", "libx264", "-f", "mp4"],
            # as it is: flat grey around the face, its first two frames alike (Theora's repeat packets, which OpenCV
            # says False at: the batch failed it, "no video frames could be decoded (corrupt?)")
            "theora.ogg": ["-c:v", "libtheora", "-an"]}
    for name, options in made.items():
        subprocess.run([*ffmpeg, *options, str(corpus / name)], check=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=duration=1",
                    "-c:a", "libvorbis", str(corpus / "voice.ogg")], check=True)
    summary = run_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=MEAN), progress=False)
    assert summary["failed"] == 0, summary["failures"]
    files = pd.read_csv(tmp_path / "out" / "files.csv").set_index("file")
    videos = sorted(set(made) - {"clip.bin"})
    assert sorted(files.index) == [str(corpus / name) for name in videos]
    assert (files["kind"] == "video").all() and (files["rows"] > 0).all() and (files["status"] == "done").all()
    notices = summary["this_run"]["notices"]
    assert any("left out 1 audio file(s) (e.g. voice.ogg)" in n for n in notices), notices
    assert any("left out 1 video(s) under an extension fervid does not search for (e.g. clip.bin): name one on its "
               "own to analyse it" in n for n in notices), notices
    named = run_batch([str(corpus / "clip.bin"), str(corpus / "voice.ogg")],
                      BatchOptions(out=tmp_path / "out2", pipeline=MEAN), progress=False)
    files = pd.read_csv(tmp_path / "out2" / "files.csv").set_index("file")
    assert files.loc[str(corpus / "clip.bin"), "kind"] == "video" and files.loc[str(corpus / "clip.bin"), "rows"] > 0
    (failure,) = named["failures"]
    assert "voice.ogg: audio only, no picture" in failure["error"]


def test_a_file_of_two_video_streams_is_noted_in_files_csv(tmp_path, face_clip):
    """The second camera's stream of a two-stream recording was left out with an empty note."""
    import imageio_ffmpeg

    corpus = tmp_path / "c"
    corpus.mkdir()
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(face_clip), "-i", str(face_clip), "-t",
                    "1", "-map", "0:v", "-map", "1:v", "-c:v", "libx264", str(corpus / "two.mkv")], check=True)
    run_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=NO_ANNOTATION), progress=False)
    files = pd.read_csv(tmp_path / "out" / "files.csv").set_index("file")
    assert files.loc[str(corpus / "two.mkv"), "note"] == "the first of its 2 video streams analysed"


def test_a_face_followed_giving_way_to_a_larger_one_is_noted_in_files_csv(tmp_path, astronaut_rgb):
    """With --max-faces 1 a face found first gave way to a larger one under the same number, unsaid; the newcomer
    is a new track now, and files.csv's note says so as `fervid video`'s notice does."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    write_participant_behind_small_face(corpus / "webcam.mp4", astronaut_rgb, frames=30)
    run_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=PipelineOptions(
        annotate=False, method="frame", max_faces=1)), progress=False)
    files = pd.read_csv(tmp_path / "out" / "files.csv").set_index("file")
    assert files.loc[str(corpus / "webcam.mp4"), "note"] == ("a face followed gave way to a larger one: track 1 to "
                                                            "track 2 at 0.3 s (replaced_faces in its tracks JSON)")


def test_an_animated_gifs_first_frame_alone_is_noted_in_files_csv(tmp_path, astronaut_rgb):
    """`fervid image` says it analysed an animated GIF's first frame alone; `fervid batch` left files.csv's note
    empty."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    frames = [Image.fromarray(astronaut_rgb).resize((320, 320)).rotate(angle) for angle in (0, 5, 10)]
    frames[0].save(corpus / "wave.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    Image.fromarray(astronaut_rgb).resize((320, 320)).save(corpus / "still.png")
    run_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=MEAN), progress=False)
    files = pd.read_csv(tmp_path / "out" / "files.csv").set_index("file")
    assert files.loc[str(corpus / "wave.gif"), "note"] == ("an animated GIF: analysed frame 1 of 3 (`fervid video` "
                                                          "reads every frame)")
    assert files.loc[str(corpus / "wave.gif"), "rows"] == 1 and pd.isna(files.loc[str(corpus / "still.png"), "note"])


def _done_files(out: Path, parts: dict[str, pd.DataFrame]):
    """A batch folder whose state lists ``parts`` (path: its rows) as done files, each with its rows.parquet."""
    from fervid.apps.batch import StateStore

    (out / "files").mkdir(parents=True)
    store = StateStore(out / "state.sqlite")
    for i, (path, rows) in enumerate(parts.items()):
        (out / "files" / f"k{i}").mkdir()
        rows.to_parquet(out / "files" / f"k{i}" / "rows.parquet", index=False)
        store.db.execute("INSERT INTO files (path, hash, kind, status, key, faces, rows, location) VALUES "
                         "(?, ?, ?, 'done', ?, 1, ?, ?)", (path, f"h{i}", rows["kind"].iloc[0], f"k{i}", len(rows),
                                                           str(out / path)))
    return store


def test_the_dataset_is_written_in_full_row_groups_however_small_the_files(tmp_path, monkeypatch):
    """write_outputs wrote a row group per done file: 500 images made 491 groups (1.95 MB for 26 KB of rows), and
    the writer kept each group's metadata in memory (the driver grew ~40 KB an image, 731 MB for 15,000, at the end
    of every run and at every Ctrl-C). The files' rows are now gathered into groups of ROW_GROUP_ROWS."""
    import pyarrow.parquet as pq

    import fervid.apps.batch as batch

    monkeypatch.setattr(batch, "ROW_GROUP_ROWS", 256)
    frames = pd.read_parquet(_big_frames_parquet(tmp_path / "frames.parquet", 250))
    part = frames.drop(columns="detected").assign(file="x", kind="video")[
        ["file", "kind", "track", "time", "frame", *frames.columns[3:-1]]]
    parts = {f"img{i:03d}.jpg": part.head(1).assign(kind="image", time=0.0, frame=0) for i in range(400)}
    parts.update({f"v{i}.mp4": part for i in range(3)})
    out = tmp_path / "out"
    summary = batch.write_outputs(out, _done_files(out, parts))
    metadata = pq.read_metadata(out / "dataset.parquet")
    groups = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert groups == [256, 256, 256, 256, 126] and summary["rows"] == 1150
    table = pd.read_parquet(out / "dataset.parquet")
    assert list(table["file"].drop_duplicates()) == sorted(parts)  # every file's rows, in the files' order
    assert table.groupby("file").size().to_dict() == {path: len(rows) for path, rows in parts.items()}
    assert summary["image_faces"] == 400 and summary["video_tracks"] == 18


def test_an_interrupt_as_a_file_is_recorded_counts_what_remains_from_the_state(tmp_path, astronaut_rgb, monkeypatch):
    """Ctrl-C between a file's update in state.sqlite and the driver's count of it said "162 file(s) of this run
    not analysed yet" where the state held 161 pending: the count now comes from the state."""
    from fervid.apps.batch import BatchInterrupted, StateStore

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(4):
        Image.fromarray(astronaut_rgb).rotate(i).resize((160, 160)).save(corpus / f"img{i}.jpg")
    real_finish, finished = StateStore.finish, []

    def finish_then_interrupted(self, path, *args, **kwargs):
        real_finish(self, path, *args, **kwargs)
        finished.append(path)
        if len(finished) == 2:
            raise KeyboardInterrupt  # recorded in the state, not yet counted by the driver

    monkeypatch.setattr(StateStore, "finish", finish_then_interrupted)
    out = tmp_path / "out"
    with pytest.raises(BatchInterrupted) as caught:
        run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION), progress=False)
    pending = [r["path"] for r in StateStore(out / "state.sqlite").rows() if r["status"] == "pending"]
    assert pending and caught.value.remaining == len(pending) == 4 - len(finished)


def test_a_full_disk_ends_the_run_keeping_what_finished_and_says_where(tmp_path, astronaut_rgb, small_disk):
    """A full disk failed every remaining file (466 of 504 recorded as failed, errno 28), then ended with `error:
    Error writing bytes to file. Detail: [errno 28] No space left on device`, naming no file, and left
    .dataset.parquet.tmp and no summary. Now the first file that cannot be written ends the run as Ctrl-C does: the
    files done are kept in the table and the summary, the rest stay pending, and the error names the file."""
    import errno

    from fervid.apps.batch import CannotWriteOutputs, StateStore

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):  # a noisy 800x800 photo: its annotated PNG takes ~1.5 MB, so the second does not fit
        photo = np.asarray(Image.fromarray(astronaut_rgb).rotate(i).resize((800, 800)), np.int16)
        noisy = np.clip(photo + rng.integers(-20, 20, photo.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(corpus / f"img{i}.png")
    out = small_disk / "out"
    with pytest.raises(CannotWriteOutputs) as caught:
        run_batch([str(corpus)], BatchOptions(out=out, pipeline=MEAN), progress=False)
    stopped = caught.value
    store = StateStore(out / "state.sqlite")
    rows = store.rows()
    store.db.close()  # (the disk is unmounted after)
    done = [r["path"] for r in rows if r["status"] == "done"]
    pending = [r["path"] for r in rows if r["status"] == "pending"]
    assert stopped.errno == errno.ENOSPC and str(out) in stopped.filename
    assert done and not [r for r in rows if r["status"] == "failed"]  # no file blamed for the disk
    assert stopped.file in pending and stopped.remaining == len(pending) == 6 - len(done)
    assert f"{len(pending)} file(s) of this run are not analysed yet" in stopped.strerror
    assert "No space left on device" in str(stopped) and f"writing the results of {stopped.file}" in str(stopped)
    assert set(pd.read_parquet(out / "dataset.parquet")["file"]) == set(done)  # the table holds what finished
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["pending"] == len(pending)
    assert not list(out.glob(".*.tmp")) and not list((out / "files").glob(".*"))


def test_estimate_counts_the_files_a_run_analyses_and_says_their_copies_apart(tmp_path, astronaut_rgb, face_clip):
    """`batch --estimate` said "3 file(s): 1 video(s) ... and 1 image(s)" where a copy of the video was among the
    files: the files counted the copies a run skips, the videos and images did not. The three counts now agree, and
    the copies are said on a line of their own."""
    from typer.testing import CliRunner

    from fervid.apps.batch import estimate_batch
    from fervid.apps.cli import app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "a.mp4")
    shutil.copy(face_clip, corpus / "b.mp4")  # a copy: analysed once, with a.mp4
    Image.fromarray(astronaut_rgb).resize((160, 160)).save(corpus / "face.png")
    shutil.copy(corpus / "face.png", corpus / "face_again.png")  # and an image's
    found = estimate_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=MEAN), sample_seconds=1.0)
    assert (found["files"], found["videos"], found["images"]) == (2, 1, 1), found
    assert found["files"] == found["videos"] + found["images"]
    assert sorted(found["copies"]) == [f"{corpus / 'b.mp4'}: the same file as {corpus / 'a.mp4'}, analysed once",
                                       f"{corpus / 'face_again.png'}: the same file as {corpus / 'face.png'}, "
                                       "analysed once"]
    ran = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(tmp_path / "out"), "--method", "mean",
                                   "--estimate", "-q"])
    assert ran.exit_code == 0, ran.output
    said = " ".join(ran.stdout.split())
    assert re.search(r"^2 file\(s\): 1 video\(s\), 0 h 00 min 02 s of video by their files, and 1 image\(s\) 2 "
                     r"copy\(ies\) of another file's content, analysed once, not counted: ", said), said
    assert not (tmp_path / "out").exists()


def test_estimate_times_the_stretch_from_start_to_end(tmp_path, face_clip):
    """`--start`/`--end` analyse a stretch of each video, and the estimate timed and sized the whole of it (a
    minute of an hour's recording was estimated at the hour's time and disk): it counts the stretch now, for
    `fervid batch` and `fervid video` alike."""
    from fervid.apps.batch import estimate_batch

    found = estimate_batch([str(face_clip)], BatchOptions(out=tmp_path / "out", pipeline=MEAN, start=0.5, end=1.5))
    sample = found["samples"][0]
    assert sample["seconds_analysed"] == pytest.approx(1.0, abs=0.1)
    # the stretch's 1 s at the sample's rate, not the file's 2 s
    assert found["estimated_seconds"] == pytest.approx(sample["seconds_per_video"] + 1.0 / sample["real_time"],
                                                       abs=0.1)
    for kind in ("annotated", "tables"):  # those that grow with the video's length
        assert found["disk_bytes"][kind] == pytest.approx(sample["bytes_per_second"][kind] * 1.0, rel=0.1), found
    assert found["video_seconds"] == pytest.approx(2.0, abs=0.05)  # the files' lengths, as said before
    assert found["analysed_seconds"] == pytest.approx(1.0, abs=0.05)


def _black_then(face: Path | None, path: Path, black_seconds: float) -> Path:
    """A clip of ``black_seconds`` of black frames (an empty chair before the participant sits down), then
    ``face``'s frames where given, at their size and rate (176x144, 30 fps)."""
    import imageio_ffmpeg

    black = ["-f", "lavfi", "-i", f"color=c=black:s=176x144:r=30:d={black_seconds}"]
    joined = (["-i", str(face), "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p"] if face
              else ["-pix_fmt", "yuv420p"])
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", *black, *joined, "-c:v", "libx264", str(path)],
                   check=True)
    return path


def test_estimate_samples_stretches_spread_through_a_video_not_its_first_seconds(tmp_path, capsys, long_face_clip):
    """A session recording opening on an empty chair (90 s of black, then a face) was estimated from its first
    20 s alone: no key frame and 90 kB of outputs, where the run wrote 19 MB and ~110 key frames. A video longer
    than the sample is sampled in stretches spread through it, and one whose sample saw no face is said so."""
    from fervid.apps.batch import estimate_batch
    from fervid.apps.cli import _say_estimate_text
    from fervid.inference.video import VideoAnalyzer

    clip = _black_then(long_face_clip, tmp_path / "session.mp4", 8)  # 8 s of black, then 4 s of a face
    options = BatchOptions(out=tmp_path / "out", pipeline=MEAN)
    found = estimate_batch([str(clip)], options, sample_seconds=6.0)
    VideoAnalyzer(MEAN.analyzer(threads=1), options.video()).run(clip, tmp_path / "run")
    written = sum(p.stat().st_size for p in (tmp_path / "run").iterdir() if not p.name.startswith("."))
    disk = found["disk_bytes"]
    # the first 6 s, all black, had no key frame and a third of the bytes the run wrote
    assert disk["key_frames"] > 0 and disk["total"] == pytest.approx(written, rel=0.25), (disk, written)
    (sample,) = found["samples"]
    assert len(sample["stretches"]) == 3 and sample["stretches"][0][0] > 0, sample  # (each centred in its third)
    assert sample["stretches"][-1][1] <= 12.05 and sample["seconds_analysed"] == pytest.approx(6.0, abs=0.2)
    assert sample["face_tracks"] >= 1 and not found["no_face_in_samples"]
    _say_estimate_text(found, tmp_path / "out", True, "batch")  # the text says where it sampled
    said = " ".join(capsys.readouterr().out.split())
    starts = ", ".join(f"{first:g}" for first, _ in sample["stretches"])
    assert f"session.mp4 (176x144): 6 s analysed in 3 stretches, from {starts} s at " in said, said
    assert "no face" not in said
    # the face's 4 s of 12 at the rate its stretch wrote them: a third of the video's length, not none
    # (estimated_seconds is rounded to the tenth: 0.8 for 0.844 on a fast machine)
    assert found["estimated_seconds"] == pytest.approx(sample["seconds_per_video"] + 12.0 / sample["real_time"],
                                                       rel=0.05, abs=0.05)
    empty = estimate_batch([str(_black_then(None, tmp_path / "empty.mp4", 3))],
                           BatchOptions(out=tmp_path / "out", pipeline=MEAN))
    assert empty["no_face_in_samples"] and empty["samples"][0]["face_tracks"] == 0, empty


def test_estimate_counts_a_videos_start_and_end_once_and_leaves_out_the_first_images_warm_up(tmp_path, astronaut_rgb,
                                                                                               monkeypatch, face_clip):
    """A 20 s sample's time held the models' first run and the writing at the end (timelines, key frames: 1.3-2 s),
    so its rate was half a whole video's (estimated 2:48 for 86-93 s), and the first image's warm-up doubled an
    image's time. Now the frames are timed past their warm-up, and what a video costs at its start and end is
    counted once per video."""
    import fervid.apps.batch as batch
    from fervid.inference.video import VideoResult

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "clip.mp4")
    for i in range(5):
        Image.fromarray(astronaut_rgb).rotate(i).resize((160, 160)).save(corpus / f"img{i}.jpg")
    real_save, real_image = VideoResult.save, batch._analyse_image
    images_timed = []

    def slow_end(self, out_dir):  # as the timelines and key frames of a long video take
        time.sleep(3.0)
        return real_save(self, out_dir)

    def slow_first(*args, **kwargs):  # as the models' first run does
        images_timed.append(args[1])
        if len(images_timed) == 1:
            time.sleep(2.0)
        return real_image(*args, **kwargs)

    monkeypatch.setattr(VideoResult, "save", slow_end)
    monkeypatch.setattr(batch, "_analyse_image", slow_first)
    found = batch.estimate_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=MEAN))
    sample = found["samples"][0]
    assert 3.0 <= sample["seconds_per_video"] < 6.0, sample  # once per video, not in its rate
    frames_seconds = FACE_CLIP_FRAMES / FACE_CLIP_FPS / sample["real_time"]
    assert found["estimated_seconds"] == pytest.approx(sample["seconds_per_video"] + frames_seconds
                                                       + 5 * found["seconds_per_image"], abs=0.1)
    assert len(images_timed) == 5 and found["seconds_per_image"] < 0.3, found  # the 2 s first one left out


def test_the_bar_weighs_a_video_by_its_length_against_the_images(tmp_path, capfd, monkeypatch, astronaut_rgb,
                                                                face_clip):
    """The bar counted files: with a 12-minute video after 500 images it stood at 99 % (00:00 remaining) for the
    80 s the video took, and with the videos first it said 34 min for a 35 s run. A video now weighs its length
    (from its file), an image a fraction of a second of video."""
    import fervid.apps.batch as batch

    import fervid.progress

    monkeypatch.setattr(batch, "PROGRESS_SECONDS", 0.05)
    monkeypatch.setattr(fervid.progress, "LOG_SECONDS", 0.05)  # (stderr is no terminal here: a line a redraw)
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(6):
        Image.fromarray(astronaut_rgb).rotate(i).resize((160, 160)).save(corpus / f"a{i}.jpg")
    _looped_clip(corpus / "z.mp4", face_clip, 8)  # 16 s, analysed after the images
    run_batch([str(corpus)], BatchOptions(out=tmp_path / "out", pipeline=MEAN.replace(annotate=False)), progress=True)
    err = capfd.readouterr().err
    at_video = re.findall(r"(\d+)%\|[^\r\n]*now=z\.mp4", err)  # the images done, the video in hand
    expected = 6 * batch.IMAGE_WORK / (6 * batch.IMAGE_WORK + batch.VIDEO_START_AND_END_WORK + 16.0)
    assert at_video and int(at_video[0]) <= round(100 * expected) + 1, err[-1500:]  # not 6/7 = 86 %
    assert "fervid batch 7/7 files: 100%" in err


def test_a_small_images_annotated_copy_is_enlarged_so_its_label_can_be_read(tmp_path, astronaut_rgb):
    """As `fervid image --annotate`'s: a 48x48 face crop's annotated.png had its label cut off, in text a few pixels
    tall. Enlarged by a whole factor (6: 288 px), each pixel a block; its rows stay in the image's own pixels."""
    import cv2

    face = np.ascontiguousarray(cv2.resize(astronaut_rgb[40:200, 160:310], (48, 48), interpolation=cv2.INTER_AREA))
    Image.fromarray(face).save(tmp_path / "face.png")
    summary = run_batch([str(tmp_path / "face.png")], BatchOptions(out=tmp_path / "out", pipeline=MEAN),
                        progress=False)
    assert summary["done"] == 1
    (copy,) = (tmp_path / "out" / "files").glob("*/annotated.png")
    copy = np.asarray(Image.open(copy).convert("RGB"))
    assert copy.shape == (288, 288, 3)
    np.testing.assert_array_equal(copy[27 * 6:28 * 6, 24 * 6:25 * 6], np.broadcast_to(face[27, 24], (6, 6, 3)))
    (result,) = (tmp_path / "out" / "files").glob("*/result.json")
    box = json.loads(result.read_text(encoding="utf-8"))["files"][0]["faces"][0]["box"]
    assert box["x"] + box["width"] <= 48 and box["y"] + box["height"] <= 48


def test_a_file_that_runs_out_of_memory_says_so(tmp_path, astronaut_rgb, monkeypatch):
    """Its error was `big.png: ` and nothing more (str(MemoryError()) is empty), in files.csv and on the terminal."""
    from fervid.apps import batch

    class RunsOut:
        def analyze_bgr(self, *args, **kwargs):
            raise MemoryError()

    photo = tmp_path / "big.png"
    Image.fromarray(astronaut_rgb).save(photo)
    monkeypatch.setattr(batch, "_worker", {"analyzer": RunsOut(), "options": BatchOptions(out=tmp_path / "out")})
    (tmp_path / "out" / "files").mkdir(parents=True)
    done = batch.analyse_one((str(photo), "0123456789abcdef", "image"))
    assert done["status"] == "failed"
    assert done["error"] == (f"{photo}: out of memory while decoding and analysing it (512 x 512 pixels: 1 MB "
                             "decoded, before any copy the analysis makes)")


def test_a_video_that_runs_out_of_memory_in_onnx_runtime_fails_saying_so_and_leaves_no_results(tmp_path,
                                                                                                  monkeypatch,
                                                                                                  face_clip):
    """ONNX Runtime's std::bad_alloc at a video's frame was a broken video's error: the video was "partial" (its
    rows up to there in dataset.parquet as if the file ended there, its message "[ONNXRuntimeError] : 1 : FAIL :
    std::bad_alloc"). Memory running out is the machine's: the file failed, said so, and nothing of it is kept (a
    run again, with memory to spare, analyses it whole)."""
    from fervid.apps import batch

    cnn_runs_out_of_memory(monkeypatch, fails_at=3)
    options = BatchOptions(out=tmp_path / "out", pipeline=NO_ANNOTATION.replace(method="mean"))
    monkeypatch.setattr(batch, "_worker", {"analyzer": options.pipeline.analyzer(threads=1), "options": options})
    (tmp_path / "out" / "files").mkdir(parents=True)
    done = batch.analyse_one((str(face_clip), "0123456789abcdef", "video"))
    assert done["status"] == "failed", done
    assert re.fullmatch(rf"{re.escape(str(face_clip))}: out of memory at frame \d+ \(\S+ s; ONNX Runtime: "
                        r"std::bad_alloc\); the results cover the frames before", done["error"]), done["error"]
    assert list((tmp_path / "out" / "files").iterdir()) == []


def test_a_batch_analyses_each_videos_region_and_stretch_and_a_run_with_others_is_refused(tmp_path, face_clip):
    """--region, --start and --end apply to every video of a corpus, are recorded in each one's tracks JSON, and
    change its numbers: a run going on with other ones is refused, as one with another model is."""
    from typer.testing import CliRunner

    from fervid.apps.batch import BatchSettingsChanged
    from fervid.apps.cli import app

    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "clip.mp4")
    out = tmp_path / "out"
    options = BatchOptions(out=out, pipeline=NO_ANNOTATION.replace(method="mean"), region=(0.25, 0.0, 0.75, 1.0),
                           start=0.5, end=1.5)
    summary = run_batch([str(corpus)], options, progress=False)
    assert summary["done"] == 1 and summary["settings"]["region"] == [0.25, 0.0, 0.75, 1.0]
    (tracks,) = (out / "files").glob("*/clip_tracks.json")
    doc = json.loads(tracks.read_text(encoding="utf-8"))
    # (x, y, width, height in face_clip's 176x144 frames)
    assert doc["region"] == [44, 0, 132, 144] and (doc["start"], doc["end"]) == (0.5, 1.5)
    rows = pd.read_parquet(out / "dataset.parquet")
    assert rows.time.min() >= 0.5 and rows.time.max() < 1.5 and (rows.x >= 44).all()
    with pytest.raises(BatchSettingsChanged, match=r"made with region=\[0\.25, 0\.0, 0\.75, 1\.0\].*asks for "
                                                   r"region=none"):
        run_batch([str(corpus)], BatchOptions(out=out, pipeline=NO_ANNOTATION.replace(method="mean")),
                  progress=False)
    ran = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--method", "mean", "--no-annotate",
                                   "--region", "0.25,0,0.75,1", "--start", "0:00.5", "--end", "1.5", "-q"])
    assert ran.exit_code == 0, ran.output  # the same region and stretch: it goes on


def test_a_batch_summarises_every_videos_segments_and_a_run_with_others_is_refused(tmp_path, face_clip):
    """--segments (a usability study's tasks, one recording per participant) applies to every video of a corpus:
    each gets its <name>_segments.csv as `fervid video --segments` writes it; the table is among the run's settings,
    so a run going on with another one is refused (exit 2)."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "p01.mp4")
    tasks = tmp_path / "tasks.csv"
    tasks.write_text("start,end,name\n0,1,first\n0:01,0:02,second\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["batch", str(corpus), "--out", str(out), "--method", "mean", "--no-annotate", "-q"]
    ran = CliRunner().invoke(app, [*args, "--segments", str(tasks)])
    assert ran.exit_code == 0, ran.output
    tables = sorted((out / "files").glob("*/*_segments.csv"))
    assert [path.name for path in tables] == ["p01_segments.csv"]
    for table in tables:
        segments = pd.read_csv(table)
        assert list(segments.segment) == ["first", "second"]
        assert list(segments.segment_start) == [0.0, 1.0] and list(segments.segment_end) == [1.0, 2.0]
        assert (segments.seen_seconds > 0.9).all()
    other = CliRunner().invoke(app, args)
    assert other.exit_code == 2 and "made with segments=[[0.0, 1.0, 'first'], [1.0, 2.0, 'second']]" in other.output


def test_a_batch_keeps_each_videos_notices_and_writes_the_corpus_episodes_and_segments(tmp_path, face_clip,
                                                                                       long_face_clip):
    """files.csv's note carried a video's window and memory notices only: a segment past its end (or an --end
    past it) was said by `fervid video` and not by `fervid batch`. And the episodes and segments were in a table
    per file with no file column: the corpus's episodes.csv and segments.csv are those tables' rows, each after
    the file it is of. summary.md's settings read "max_faces None, sample_fps None, segments []"."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "p01.mp4")  # 2 s
    shutil.copy(long_face_clip, corpus / "p02.mp4")  # 4 s
    tasks = tmp_path / "tasks.csv"
    tasks.write_text("start,end,name\n0,1,first\n0:01,0:02,second\n0:05,0:06,late\n", encoding="utf-8")
    out = tmp_path / "out"
    ran = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--method", "mean", "--no-annotate",
                                   "--segments", str(tasks), "--end", "10", "-q"])
    assert ran.exit_code == 0, ran.output
    notes = pd.read_csv(out / "files.csv").set_index("file")["note"]
    for video, length in (("p01.mp4", 2.0), ("p02.mp4", 4.0)):
        note = notes[str(corpus / video)]
        assert f"{corpus / video}: 1 segment(s) lie partly or wholly outside the stretch analysed" in note
        assert "late (5-6 s: 0 s analysed)" in note
        assert f"{corpus / video} ends at {length:.2f} s, before --end 10 s" in note
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for table in ("episodes", "segments"):
        combined = pd.read_csv(out / f"{table}.csv", keep_default_na=False, dtype=str)
        assert list(combined["file"].unique()) == [str(corpus / "p01.mp4"), str(corpus / "p02.mp4")]
        for video, stem in (("p01.mp4", "p01"), ("p02.mp4", "p02")):
            own = pd.read_csv(out / summary["outputs"][str(corpus / video)] / f"{stem}_{table}.csv",
                              keep_default_na=False, dtype=str)
            rows = combined[combined["file"] == str(corpus / video)].drop(columns="file").reset_index(drop=True)
            assert len(own) > 0
            pd.testing.assert_frame_equal(rows, own)
    said = (out / "summary.md").read_text(encoding="utf-8")
    settings = said.split("settings: ")[1].splitlines()[0]
    assert "max faces: all" in settings and "sample rate: every frame" in settings
    assert "segments: 3 (first, second, late)" in settings and "to 10 s" in settings
    assert "None" not in settings and "[]" not in settings and "segment every" not in settings
    assert "per emotion episode: episodes.csv; per segment and track: segments.csv" in said


def test_a_batch_summarises_every_videos_windows_as_fervid_video_does(tmp_path, face_clip):
    """--segment-every applies to every video of a corpus, as --segments does: each gets its <name>_segments.csv
    of windows, the last ending with its video; the length is among the run's settings."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "p01.mp4")
    out = tmp_path / "out"
    args = ["batch", str(corpus), "--out", str(out), "--method", "mean", "--no-annotate", "-q"]
    ran = CliRunner().invoke(app, [*args, "--segment-every", "1:00"])
    assert ran.exit_code == 0, ran.output
    (table,) = (out / "files").glob("*/p01_segments.csv")
    segments = pd.read_csv(table)
    assert list(segments.segment_start) == [0.0] and list(segments.segment_end) == [2.0]  # a minute of 2 s
    assert list(segments.analysed_seconds) == [2.0]
    other = CliRunner().invoke(app, args)
    assert other.exit_code == 2 and "made with segment_every=60.0" in other.output


def test_a_batch_says_once_a_run_that_its_window_holds_too_few_frames_for_the_method(tmp_path, face_clip):
    """`fervid video --sample-fps 1 --method mean` says that a 1 s window then holds the frame alone (nothing to
    smooth); `fervid batch` recorded frames_per_window 1 in every video's JSON and said nothing. It says it once a
    run, however many videos it applies to, and keeps it among the run's notices."""
    import subprocess

    import imageio_ffmpeg
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "clip.mp4")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(face_clip), "-vf", "hflip",
                    str(corpus / "mirrored.mp4")], check=True)
    out = tmp_path / "out"
    args = ["batch", str(corpus), "--out", str(out), "--method", "mean", "--no-annotate", "--key-frames", "0", "-q"]
    ran = CliRunner().invoke(app, [*args, "--sample-fps", "1"])
    assert ran.exit_code == 0, ran.output
    said = "a 1 s centred window holds 1 analysed frame: --method mean has nothing to smooth"
    assert " ".join(ran.output.split()).count(said) == 1, ran.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["done"] == 2 and [said in notice for notice in summary["this_run"]["notices"]] == [True]
    for tracks in (out / "files").glob("*/*_tracks.json"):
        assert json.loads(tracks.read_text(encoding="utf-8"))["frames_per_window"] == 1
    full_rate = CliRunner().invoke(app, [*args[:3], str(tmp_path / "full"), *args[4:]])
    assert full_rate.exit_code == 0 and "nothing to smooth" not in full_rate.output, full_rate.output


def test_frames_memory_mb_is_among_a_batchs_settings_as_it_changes_the_frames_analysed(tmp_path, face_clip):
    """--frames-memory-mb was not among the settings a run going on is compared with, though a video whose frames do
    not fit in it is analysed at fewer frames a second (unlike --max-video-megapixels, which refuses a video, tried
    again by the next run, and analyses none otherwise): one folder mixed the two rates. A folder made before it
    was recorded, whose value is not known, takes this run's."""
    import sqlite3

    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(face_clip, corpus / "clip.mp4")
    args = ["batch", str(corpus), "--method", "mean", "--no-annotate", "--key-frames", "0", "--end", "2", "-q"]
    analysed = {}
    for memory in ("2000", "2"):
        ran = CliRunner().invoke(app, [*args, "--out", str(tmp_path / memory), "--frames-memory-mb", memory])
        assert ran.exit_code == 0, ran.output
        (tracks,) = (tmp_path / memory / "files").glob("*/clip_tracks.json")
        analysed[memory] = json.loads(tracks.read_text(encoding="utf-8"))["frames_analysed"]
        summary = json.loads((tmp_path / memory / "summary.json").read_text(encoding="utf-8"))
        assert summary["settings"]["frames_memory_mb"] == float(memory)
    assert analysed["2"] < analysed["2000"] == 60  # the same video, another result
    other = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "2000"), "--frames-memory-mb", "2"])
    assert other.exit_code == 2 and "made with frames_memory_mb=2000.0" in other.output and \
        "asks for frames_memory_mb=2.0" in other.output, other.output
    assert CliRunner().invoke(app, [*args, "--out", str(tmp_path / "2000")]).exit_code == 0  # the same: it goes on
    with sqlite3.connect(tmp_path / "2000" / "state.sqlite") as db:  # as a folder made before it was recorded
        db.execute("DELETE FROM settings WHERE name = 'frames_memory_mb'")
    db.close()
    before = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "2000"), "--frames-memory-mb", "500"])
    assert before.exit_code == 0, before.output
    summary = json.loads((tmp_path / "2000" / "summary.json").read_text(encoding="utf-8"))
    assert summary["settings"]["frames_memory_mb"] == 500.0


def test_where_windows_limits_paths_a_long_named_videos_results_are_named_to_fit(tmp_path, monkeypatch, face_clip):
    """Windows (without long paths) opens no path of more than 259 characters: a video of a long name had its
    results' key frames and tables named after it in files/<key>/, and failed mid-way with its analysis lost. Its
    outputs there are now named by its name cut to fit (and a digest of the whole), as they are written; its path is
    kept whole where it was."""
    from fervid.apps import batch
    from fervid.inference.annotate import temporary_name
    from fervid.inference.video import OutputNames
    from fervid.machine import WINDOWS_MAX_PATH, windows_path_length

    windows_without_long_paths(monkeypatch)
    video = tmp_path / f"{'interview_' * 18}.mp4"  # a stem of 180 characters
    shutil.copy(face_clip, video)
    out = tmp_path / "out"
    (out / "files").mkdir(parents=True)
    monkeypatch.setattr(batch, "_worker", {"analyzer": MEAN.analyzer(),
                                           "options": BatchOptions(out=out, pipeline=MEAN)})
    done = batch.analyse_one((str(video), "0123456789abcdef", "video"))
    assert done["status"] == "done" and done["faces"] == 1, done
    folder = out / "files" / "0123456789abcdef"
    stem = batch.results_stem(str(video), out)
    assert re.fullmatch(r"(interview_)+[a-z_]*-[0-9a-f]{8}", stem) and len(stem) < len(video.stem)
    written = sorted(p.name for p in folder.iterdir() if p.name.startswith(stem))
    assert f"{stem}_tracks.json" in written and f"{stem}_annotated.mp4" in written
    assert any(re.fullmatch(rf"{stem}_track1_\d{{4}}\.\d\ds_\w+\.png", name) for name in written), written
    assert len(written) == len(list(folder.iterdir())) - 2  # all but rows.parquet and source.txt
    # as each was written: in a temporary folder of a process id as long as Windows' get, partial, and through a
    # temporary name
    writing = folder.with_name(f".{folder.name}-video.{2**32 - 1}.tmp")
    assert max(windows_path_length(writing / temporary_name(OutputNames.partial(name))) for name in written) \
        <= WINDOWS_MAX_PATH
    assert json.loads((folder / f"{stem}_tracks.json").read_text(encoding="utf-8"))["file"] == str(video)
    assert (folder / "source.txt").read_text(encoding="utf-8") == str(video)


def test_where_windows_limits_paths_a_batch_into_a_folder_too_deep_for_its_results_is_refused_first(tmp_path,
                                                                                                   monkeypatch,
                                                                                                   face_clip):
    """An --out so long that no video's results fit under it, however short their names, is refused before any file
    is read or any folder made, naming where, how long and what to do."""
    from fervid.errors import PathTooLongError

    windows_without_long_paths(monkeypatch)
    out = tmp_path / ("o" * 100) / ("u" * 60)
    with pytest.raises(PathTooLongError) as refused:
        run_batch([str(face_clip)], BatchOptions(out=out, pipeline=MEAN), progress=False)
    assert not out.parent.exists()
    message = str(refused.value)
    assert message.startswith(f"{out / 'files' / '<key>'}{os.sep}: written as paths of up to ")
    most = int(re.search(r"a shorter --out \(of at most (\d+) characters as a full path\)", message)[1])
    assert len(str(out)) > most > 100 and r"Control\FileSystem\LongPathsEnabled set to 1" in message
    assert not (tmp_path / "short").exists()
    run_batch([str(face_clip)], BatchOptions(out=tmp_path / "short", pipeline=MEAN), progress=False)  # (one that fits)
    assert len(list((tmp_path / "short" / "files").iterdir())) == 1


def test_where_windows_limits_paths_an_estimate_times_a_long_named_video(tmp_path, monkeypatch, face_clip):
    """`--estimate` analyses a sample of each video in a temporary folder, its outputs named short there: named after
    a long-named video, in a deep TEMP, they would pass the 259 characters Windows (without long paths) opens."""
    import tempfile

    from fervid.apps.batch import estimate_batch

    windows_without_long_paths(monkeypatch)
    deep = tmp_path / ("t" * 40) / ("e" * 40)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    video = tmp_path / f"{'interview_' * 15}.mp4"
    shutil.copy(face_clip, video)
    found = estimate_batch([str(video)], BatchOptions(out=tmp_path / "out", pipeline=MEAN), sample_seconds=1.0)
    assert [sample["file"] for sample in found["samples"]] == [str(video)], found


def test_a_batchs_images_are_read_up_to_its_pipelines_pixel_limit(tmp_path, astronaut_png, monkeypatch):
    """`PipelineOptions.max_image_pixels` limits the images `analyze_image` reads; a batch read its images with the
    commands' own 250 MP limit whatever its pipeline said (a setting that did nothing). Now a batch's pipeline limits
    it too, and `fervid batch` and `fervid image` give theirs the commands' limit (images.MAX_PIXELS, 250 MP), the
    one they read files with before."""
    from typer.testing import CliRunner

    from fervid.apps import cli

    small = run_batch([str(astronaut_png)], BatchOptions(out=tmp_path / "small", pipeline=NO_ANNOTATION.replace(
        max_image_pixels=100_000)), progress=False)
    assert [failure["file"] for failure in small["failures"]] == [str(astronaut_png)], small
    assert "image too large: 512 x 512 (0.262 megapixels; the limit is 0.1)" in small["failures"][0]["error"]
    assert run_batch([str(astronaut_png)], BatchOptions(out=tmp_path / "default", pipeline=NO_ANNOTATION),
                     progress=False)["failures"] == []
    monkeypatch.setattr(cli, "MAX_PIXELS", 100_000)  # the commands' limit, made small: both commands keep to it
    for command in (["batch", str(astronaut_png), "--out", str(tmp_path / "cli"), "--no-annotate"],
                    ["image", str(astronaut_png)]):
        ran = CliRunner().invoke(cli.app, command)
        assert ran.exit_code == 1 and "image too large: 512 x 512 (0.262 megapixels; the limit is 0.1)" in ran.output, \
            (command, ran.output)


@pytest.mark.parametrize("set_by_user", [None, "1"])
def test_the_ray_engine_turns_rays_usage_reports_off_unless_the_user_set_them(tmp_path, monkeypatch, set_by_user):
    """`fervid batch --engine ray` started a local Ray cluster with its usage reports to usage-stats.ray.io on
    (Ray's default; seen with strace, with its probes of the cloud metadata addresses), where the README promises no
    connection but the cluster's. The cluster ray.init starts reads RAY_USAGE_STATS_ENABLED from the environment:
    it is 0 then, unless the user set it."""
    import types

    import fervid.apps.batch as batch

    seen = {}

    class Started(Exception):
        pass

    def init(**kwargs):
        seen["setting"] = os.environ.get("RAY_USAGE_STATS_ENABLED")
        raise Started

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(init=init))
    if set_by_user is None:  # (set first: monkeypatch restores only what it recorded, and the run sets it)
        monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "unset")
        monkeypatch.delenv("RAY_USAGE_STATS_ENABLED")
    else:
        monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", set_by_user)
    with pytest.raises(Started):
        batch._run_ray([], BatchOptions(out=tmp_path / "out", engine="ray"), 1, lambda result: None)
    assert seen["setting"] == ("0" if set_by_user is None else set_by_user)


def test_a_rerun_that_writes_no_face_pictures_removes_those_an_earlier_run_wrote(tmp_path, astronaut_rgb, face_clip):
    """`fervid batch data/ --out b3`, then again with `--no-annotate --key-frames 0`, kept every done file's
    annotated copy and key frames (README "Privacy and data protection": numbers only), where `fervid video` removes
    them on the same re-run. The files keep their numbers; their pictures go, and their tables point at none."""
    import csv

    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "data"
    corpus.mkdir()
    Image.fromarray(astronaut_rgb).save(corpus / "astronaut.png")
    shutil.copyfile(face_clip, corpus / "clip.mp4")
    out = tmp_path / "b3"
    first = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--method", "mean", "-q"])
    assert first.exit_code == 0, first.output
    pictures = lambda: sorted(p.name for p in (out / "files").glob("*/*")  # noqa: E731
                              if p.name == "annotated.png" or p.name.endswith("_annotated.mp4")
                              or re.fullmatch(r"clip_track\d+_\d{4}\.\d\ds_\w+\.png", p.name))
    written = pictures()
    key_frames = [name for name in written if name.startswith("clip_track")]
    assert "annotated.png" in written and "clip_annotated.mp4" in written and key_frames, written
    dataset = pd.read_parquet(out / "dataset.parquet")

    again = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--method", "mean", "--no-annotate",
                                     "--key-frames", "0", "-q"])
    assert again.exit_code == 0, again.output
    assert (f"removed 2 annotated copies and {len(key_frames)} key frame{'s' * (len(key_frames) > 1)} an earlier "
            "run wrote (this run writes none)") in again.output
    assert pictures() == []
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["this_run"]["files_analysed"] == 0  # kept, numbers and all
    pd.testing.assert_frame_equal(pd.read_parquet(out / "dataset.parquet"), dataset)
    video = out / summary["outputs"][str(corpus / "clip.mp4")]
    assert (video / "clip_track1_timeline.png").is_file()  # a chart of numbers, not a face
    tracks = json.loads((video / "clip_tracks.json").read_text(encoding="utf-8"))
    episodes = [ep for track in tracks["tracks"] for ep in track["episodes"]]
    assert episodes and all(ep["key_frame"] is None for ep in episodes) and tracks["key_frames"] == 0
    with open(video / "clip_episodes.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(row["key_frame"] == "" for row in rows) and rows[0]["emotion"] == "happy"

    # nothing left to remove: nothing said
    third = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--method", "mean", "--no-annotate",
                                     "--key-frames", "0", "-q"])
    assert third.exit_code == 0 and "removed" not in third.output, third.output


@needs_sample_clip  # (its track has several emotion episodes, each with a key frame)
@pytest.mark.parametrize("stem", ["carphone", "-take"])
def test_a_rerun_with_a_lower_key_frames_cap_removes_the_key_frames_beyond_it(tmp_path, stem):
    """`fervid batch data/ --out b`, then again with `--key-frames 1`, kept every key frame the first run wrote:
    only `--key-frames 0` removed them. A lower cap now removes each track's key frames beyond it, keeping those
    `fervid video --key-frames N` keeps (the longest episodes'), and the tracks JSON and episodes CSV say so. A stem
    starting as a formula (`-take`): its episodes CSV's key-frame cells have a ' before them (write_csv), and were
    all blanked, the kept ones too."""
    import csv

    from typer.testing import CliRunner

    from fervid.apps.cli import app
    from fervid.inference.records import csv_text
    from fervid.samples import carphone

    corpus = tmp_path / "data"
    corpus.mkdir()
    shutil.copyfile(carphone(), corpus / f"{stem}.mp4")
    out = tmp_path / "b"
    first = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--no-annotate", "-q"])
    assert first.exit_code == 0, first.output
    video = out / json.loads((out / "summary.json").read_text(encoding="utf-8"))["outputs"][str(corpus / f"{stem}.mp4")]
    key_frames = lambda: sorted(p.name for p in video.glob(f"{stem}_track*s_*.png"))  # noqa: E731
    written = key_frames()
    assert len(written) >= 3, written

    alone = tmp_path / "alone"  # what `fervid video` keeps under a cap of 2
    ran = CliRunner().invoke(app, ["video", str(corpus / f"{stem}.mp4"), "--out", str(alone), "--no-annotate",
                                   "--key-frames", "2", "-q"])
    assert ran.exit_code == 0, ran.output
    kept_alone = sorted(p.name for p in alone.glob(f"{stem}_track*s_*.png"))
    assert len(kept_alone) == 2 and set(kept_alone) < set(written), (kept_alone, written)

    again = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--no-annotate", "--key-frames", "2",
                                     "-q"])
    assert again.exit_code == 0, again.output
    assert (f"removed {len(written) - 2} key frame{'s' * (len(written) > 3)} an earlier run "
            "wrote (this run writes at most 2 key frames a track)") in again.output
    assert key_frames() == kept_alone
    tracks = json.loads((video / f"{stem}_tracks.json").read_text(encoding="utf-8"))
    named = sorted(ep["key_frame"] for track in tracks["tracks"] for ep in track["episodes"] if ep["key_frame"])
    assert named == kept_alone and tracks["key_frames"] == 2
    with open(video / f"{stem}_episodes.csv", newline="", encoding="utf-8") as fh:
        assert sorted(csv_text(row["key_frame"]) for row in csv.DictReader(fh) if row["key_frame"]) == kept_alone

    # a cap as high as before, or none, removes nothing more
    for cap in (["--key-frames", "2"], []):
        more = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--no-annotate", *cap, "-q"])
        assert more.exit_code == 0 and "removed" not in more.output, more.output
    assert key_frames() == kept_alone


def test_no_landmarks_leaves_them_out_of_each_images_result_json_and_of_those_an_earlier_run_wrote(tmp_path,
                                                                                                  astronaut_rgb):
    """`fervid batch --no-landmarks`: each image's result.json gives its faces' landmarks as null and says
    "landmarks": false; re-run so over a folder an earlier run wrote with them, the files kept lose theirs too (as
    a re-run with --key-frames 0 removes the key frames), their numbers kept."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    corpus = tmp_path / "data"
    corpus.mkdir()
    Image.fromarray(astronaut_rgb).save(corpus / "astronaut.png")

    def result_json(out: Path) -> dict:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        return json.loads((out / summary["outputs"][str(corpus / "astronaut.png")] / "result.json").read_text(
            encoding="utf-8"))

    fresh = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(tmp_path / "fresh"), "--no-landmarks", "-q"])
    assert fresh.exit_code == 0, fresh.output
    left_out = result_json(tmp_path / "fresh")
    (face,) = left_out["files"][0]["faces"]
    assert left_out["landmarks"] is False and face["landmarks"] is None

    out = tmp_path / "b"
    first = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "-q"])
    assert first.exit_code == 0, first.output
    given = result_json(out)
    assert given["landmarks"] is True and len(given["files"][0]["faces"][0]["landmarks"]) == 5
    dataset = pd.read_parquet(out / "dataset.parquet")
    again = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--no-landmarks", "-q"])
    assert again.exit_code == 0, again.output
    assert "removed the landmarks of 1 image an earlier run recorded (this run leaves them out)" in again.output
    kept = result_json(out)
    assert kept["landmarks"] is False and kept["files"][0]["faces"][0] == {**given["files"][0]["faces"][0],
                                                                           "landmarks": None}
    pd.testing.assert_frame_equal(pd.read_parquet(out / "dataset.parquet"), dataset)
    third = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(out), "--no-landmarks", "-q"])
    assert third.exit_code == 0 and "removed" not in third.output, third.output
