import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import (FACE_CLIP_FRAMES, REPO, cnn_runs_out_of_memory, needs_repository,
                      needs_sample_clip, refuse, retry_waits, wait_until_listening, windows_without_long_paths,
                      write_participant_behind_small_face)

from fervid.apps.cli import app
from fervid.evaluation.datasets import NOT_AN_EMOTION
from fervid.samples import carphone

runner = CliRunner()


def test_batch_goes_past_bad_files_and_reports_them(tmp_path, astronaut_png, astronaut_rgb):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(astronaut_rgb).save(folder / "a_good.png")
    (folder / "b_text.jpg").write_text("not a jpeg")
    (folder / "c_empty.png").write_bytes(b"")
    from skimage import data

    Image.fromarray(data.coffee()).save(folder / "d_noface.jpg")
    out_json, out_csv, ann = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "ann"
    out_parquet = tmp_path / "r.parquet"
    result = runner.invoke(app, ["image", str(folder), str(tmp_path / "missing.png"), "--json", str(out_json),
                                 "--csv", str(out_csv), "--parquet", str(out_parquet), "--annotate", str(ann)])
    assert result.exit_code == 1, result.output
    doc = json.loads(out_json.read_text())
    by_name = {f["file"].split("/")[-1]: f for f in doc["files"]}
    assert doc["failed"] == 3
    assert by_name["a_good.png"]["ok"] and by_name["a_good.png"]["faces"][0]["emotion"] == "happy"
    assert by_name["d_noface.jpg"]["ok"] and by_name["d_noface.jpg"]["faces"] == []
    assert "not an image" in by_name["b_text.jpg"]["error"] and "b_text.jpg" in by_name["b_text.jpg"]["error"]
    assert "empty file" in by_name["c_empty.png"]["error"]
    assert "no such file" in by_name["missing.png"]["error"]
    assert "b_text.jpg: not an image" in result.output  # errors are told to the user, naming the file
    assert "missing.png: no such file" in result.output
    rows = list(csv.DictReader(out_csv.open()))
    happy = [r for r in rows if r["face"] == "1"]
    assert len(happy) == 1 and happy[0]["emotion"] == "happy" and float(happy[0]["happy"]) > 0.5
    assert {r["file"].split("/")[-1] for r in rows} == set(by_name)
    # the same rows in Parquet, typed (face numbers stay whole numbers beside a faceless image's empty one)
    import pandas as pd

    table = pd.read_parquet(out_parquet)
    assert list(table.columns) == list(rows[0]) and len(table) == len(rows)
    assert table["face"].dtype == "Int64" and table["happy"].dtype == float
    assert table.loc[table["face"] == 1, "emotion"].tolist() == ["happy"]
    assert table["error"].str.contains("b_text.jpg: not an image").any()
    # and what made them, as the JSON records it, in the file's own metadata (a table shared without its JSON)
    import pyarrow.parquet as pq

    made = json.loads(pq.read_schema(out_parquet).metadata[b"fervid"])
    assert made == {k: v for k, v in doc.items() if k not in ("files", "failed")}
    assert made["model"] == "ferplus_vgg" and made["weights_file"] == "model_int8.onnx" and made["fervid"]
    assert (ann / "a_good_fervid.png").is_file()


def _image_tables(tmp_path, astronaut_png):
    """`fervid image --csv --parquet` of a photo with a face, one without and a file that is no image."""
    Image.fromarray(np.full((200, 200, 3), 120, np.uint8)).save(tmp_path / "wall.png")
    (tmp_path / "text.png").write_text("not an image")
    result = runner.invoke(app, ["image", str(astronaut_png), str(tmp_path / "wall.png"), str(tmp_path / "text.png"),
                                 "--csv", str(tmp_path / "r.csv"), "--parquet", str(tmp_path / "r.parquet"), "-q"])
    assert result.exit_code == 1, result.output  # text.png
    return tmp_path / "r.csv", tmp_path / "r.parquet"


def test_image_csv_and_parquet_hold_one_typed_table(tmp_path, astronaut_png):
    """With a faceless or failed image, uncertain was object in both files (table[~table.uncertain] raised
    TypeError), face float64 in the CSV and Int64 in the Parquet, error NaN in the CSV and '' in the Parquet for a
    file that was read, and the CSV's lines ended in CRLF (the video and batch CSVs' in LF)."""
    import pandas as pd

    csv_path, parquet_path = _image_tables(tmp_path, astronaut_png)
    text = csv_path.read_bytes().decode()
    assert "\r" not in text
    header, face, wall, broken = text.splitlines()
    assert face.split(",")[-2:] == ["FALSE", ""]  # uncertain as R reads a logical; no error
    assert wall == f"{tmp_path / 'wall.png'}," + "," * (len(header.split(",")) - 2)  # every other field empty
    table = pd.read_parquet(parquet_path)
    assert table["face"].dtype == "Int64" and table["uncertain"].dtype == "boolean"
    assert table[~table["uncertain"]]["emotion"].tolist() == ["happy"]  # the empty rows are left out
    assert table["error"].isna().tolist() == [True, True, False]  # as the JSON's error: null
    # the CSV read with the two nullable types README names is the Parquet
    _assert_same_table(pd.read_csv(csv_path, dtype={"face": "Int64", "uncertain": "boolean"}), table)
    # with pandas' defaults, an empty face makes face float64 and uncertain object, the values the same
    plain = pd.read_csv(csv_path)
    assert plain["face"].dtype == np.float64 and plain["uncertain"].tolist()[0] is False
    _assert_same_table(plain.astype({"face": "Int64", "uncertain": "boolean"}), table)


def _assert_same_table(left, right) -> None:
    """assert_frame_equal, a text column's missing values alike: pandas 2 reads an empty CSV field as NaN and a
    Parquet null as None in an object column (equal today, with a FutureWarning that they will not be), pandas 3
    both as NaN in its str dtype."""
    import pandas as pd

    def text_as_string(table):
        return table.astype({name: "string" for name in table.columns if table[name].dtype == object
                             or pd.api.types.is_string_dtype(table[name].dtype)})

    pd.testing.assert_frame_equal(text_as_string(left), text_as_string(right))


def test_a_study_table_made_in_python_is_the_one_fervid_image_writes(tmp_path, astronaut_png):
    """README said pd.concat of each photo's to_dataframe(file=...) gave the rows "as `fervid image --csv` writes
    them": it left a photo with no face out, which the command writes one row with its file alone. The command's
    table is fervid.images_table's, in Python too; the faces' own tables are its rows that have a face."""
    import pandas as pd

    import fervid

    folder = tmp_path / "shots"
    folder.mkdir()
    shutil.copy(astronaut_png, folder / "astronaut.png")
    Image.fromarray(np.full((200, 200, 3), 120, np.uint8)).save(folder / "wall.png")  # no face in it
    out_csv, out_parquet = tmp_path / "r.csv", tmp_path / "r.parquet"
    result = runner.invoke(app, ["image", str(folder), "--csv", str(out_csv), "--parquet", str(out_parquet), "-q"])
    assert result.exit_code == 0, result.output
    analyzer, paths = fervid.Analyzer(), sorted(folder.glob("*.png"))
    study = fervid.images_table(analyzer.analyze_image(path) for path in paths)
    assert study["file"].tolist() == [str(path) for path in paths] and study["face"].tolist() == [1, pd.NA]
    _assert_same_table(study, pd.read_parquet(out_parquet))
    _assert_same_table(study, pd.read_csv(out_csv, dtype={"face": "Int64", "uncertain": "boolean", "error": "str"}))
    faces_found = pd.concat([analyzer.analyze_image(path).to_dataframe(file=str(path)) for path in paths],
                            ignore_index=True)
    pd.testing.assert_frame_equal(faces_found, study[study["face"].notna()].drop(columns="error"))


def _readme_csv_mapping() -> dict:
    """The dtype mapping README gives for reading `fervid image --csv` as its Parquet."""
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    said = re.search(r'`pd\.read_csv\("faces\.csv", dtype=(\{[^}]*\})\)` reads the CSV as the same table', readme)
    assert said, "README no longer says how to read the image CSV as its Parquet"
    return eval(said[1], {"__builtins__": {}}, {"str": str})


@needs_repository
@pytest.mark.parametrize("failed", [False, True])
def test_the_image_csv_read_as_readme_says_is_its_parquet_whether_or_not_a_file_failed(tmp_path, astronaut_png,
                                                                                        failed):
    """README's `dtype={"face": "Int64", "uncertain": "boolean"}` read the CSV as the Parquet only where a file had
    failed: with no failure `error` is an empty column, float64 in the CSV and text in the Parquet."""
    import pandas as pd

    Image.fromarray(np.full((200, 200, 3), 120, np.uint8)).save(tmp_path / "wall.png")  # no face: an empty row
    inputs = [str(astronaut_png), str(tmp_path / "wall.png")]
    if failed:
        (tmp_path / "text.png").write_text("not an image")
        inputs.append(str(tmp_path / "text.png"))
    result = runner.invoke(app, ["image", *inputs, "--csv", str(tmp_path / "r.csv"), "--parquet",
                                 str(tmp_path / "r.parquet"), "-q"])
    assert result.exit_code == int(failed), result.output
    table = pd.read_parquet(tmp_path / "r.parquet")
    assert table["error"].notna().sum() == int(failed)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "r.csv", dtype=_readme_csv_mapping()), table)


@needs_repository
def test_a_video_frames_csv_read_with_pandas_defaults_is_its_parquet_unless_it_has_no_rows(tmp_path, face_clip):
    """README said a frames CSV read with pandas' defaults "is its Parquet"; a video in which no face was seen has a
    CSV of its header alone, which pandas reads as text columns: README says so now."""
    import pandas as pd

    from conftest import clip_writer

    writer = clip_writer(tmp_path / "wall.mp4", 64, 48, 10.0)
    for _ in range(5):
        writer.write(np.full((48, 64, 3), 120, np.uint8))
    writer.close()
    for video in (face_clip, tmp_path / "wall.mp4"):
        result = runner.invoke(app, ["video", str(video), "--out", str(tmp_path / "out"), "--method", "frame",
                                     "--no-annotate", "--key-frames", "0", "-q"])
        assert result.exit_code == 0, result.output
    faces = tmp_path / "out" / f"{face_clip.stem}_frames"
    pd.testing.assert_frame_equal(pd.read_csv(f"{faces}.csv"), pd.read_parquet(f"{faces}.parquet"))
    wall_csv, wall = pd.read_csv(tmp_path / "out" / "wall_frames.csv"), pd.read_parquet(tmp_path / "out" /
                                                                                         "wall_frames.parquet")
    assert wall_csv.empty and list(wall_csv.columns) == list(wall.columns)
    assert set(wall_csv.dtypes.astype(str)) == {"object"} and wall["time"].dtype == np.float64
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert ("A video's frames CSV, read with pandas' defaults, is its Parquet where it has rows; that of a video in "
            "which no face was seen is its header alone, which pandas reads as columns of text (`object`)") in readme


@pytest.mark.skipif(not shutil.which("Rscript"), reason="R is not installed")
def test_r_reads_the_image_and_video_csvs_booleans_as_logical(tmp_path, astronaut_png, face_clip):
    """R's read.csv read True/False as text: sum(d$detected == TRUE) was 0."""
    csv_path, _ = _image_tables(tmp_path, astronaut_png)
    video = runner.invoke(app, ["video", str(face_clip), "--out", str(tmp_path / "v"), "--method", "frame",
                                "--no-annotate", "-q"])
    assert video.exit_code == 0, video.output
    frames = tmp_path / "v" / "face_clip_frames.csv"
    script = (f'i <- read.csv("{csv_path}"); v <- read.csv("{frames}"); '
              'cat(class(i$uncertain), class(i$face), sum(is.na(i$uncertain)), class(v$uncertain), '
              'class(v$detected), sum(v$detected == TRUE), nrow(v), sep = " ")')
    done = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, done.stderr
    image_uncertain, face, empty, uncertain, detected, n_detected, n = done.stdout.split()
    assert (image_uncertain, face, empty, uncertain, detected) == ("logical", "integer", "2", "logical", "logical")
    assert 0 < int(n_detected) < int(n) == 120  # detected on detection rounds, followed by flow between


def test_json_to_stdout_and_success_exit_code(astronaut_png):
    result = runner.invoke(app, ["image", str(astronaut_png), "--json", "-", "--quiet"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    face = doc["files"][0]["faces"][0]
    assert face["emotion"] == "happy"
    assert set(face["probabilities"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert set(face["box"]) == {"x", "y", "width", "height"}


@pytest.mark.skipif(sys.platform != "linux", reason="a file name of bytes that are not UTF-8: Linux's file systems")
def test_image_json_names_files_in_their_own_letters(tmp_path, astronaut_png):
    """The JSON said "in/emo\\u00e7\\u00e3o.png"; a name that is not UTF-8 (Latin-1's "café") is named as fervid
    prints it, in a file that is UTF-8 throughout."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(astronaut_png, folder / "emoção.png")
    shutil.copyfile(astronaut_png, os.fsdecode(bytes(folder) + b"/caf\xe9.png"))
    out_json = tmp_path / "r.json"
    result = runner.invoke(app, ["image", str(folder), "--json", str(out_json), "--quiet"])
    assert result.exit_code == 1, result.output  # (the Latin-1 name is refused: "file name is not valid UTF-8")
    written = out_json.read_bytes()
    assert f'"{folder}/emoção.png"'.encode() in written
    assert {Path(f["file"]).name for f in json.loads(written.decode("utf-8"))["files"]} == {"emoção.png",
                                                                                           "caf\\udce9.png"}
    to_stdout = runner.invoke(app, ["image", str(folder / "emoção.png"), "--json", "-", "--quiet"])
    assert to_stdout.exit_code == 0 and f'"{folder}/emoção.png"' in to_stdout.stdout


def test_every_image_json_records_whether_the_images_were_face_crops(astronaut_png, tmp_path):
    """The README says the image JSON records face_crops: `fervid image` wrote it, `fervid demo`'s astronaut.json
    left it out."""
    image = runner.invoke(app, ["image", str(astronaut_png), "--json", "-", "--quiet"])
    assert image.exit_code == 0, image.output
    demo = runner.invoke(app, ["demo", "--no-video", "--out", str(tmp_path)])
    assert demo.exit_code == 0, demo.output
    for doc in (json.loads(image.stdout), json.loads((tmp_path / "astronaut.json").read_text(encoding="utf-8"))):
        assert doc["face_crops"] is False
        assert list(doc)[-4:] == ["face_crops", "landmarks", "files", "failed"]  # the settings, in one order


def test_no_landmarks_leaves_the_landmarks_out_of_every_output_and_says_so(astronaut_png, tmp_path):
    """A data-protection officer asked for the five facial landmarks to be left out of the outputs (data
    minimisation): no option did. With --no-landmarks the JSON's faces have none (null) and the document, as the
    Parquet file's metadata, records "landmarks": false; the CSV and Parquet tables have none either way. The
    default still gives them, and the faces' numbers are the same: the landmarks still frame each face."""
    import pyarrow.parquet as pq

    from fervid.inference.records import SETTINGS_METADATA_KEY

    def outputs(*flag: str) -> tuple[dict, list[dict], object]:
        folder = tmp_path / (flag[0] if flag else "default")
        ran = runner.invoke(app, ["image", str(astronaut_png), "--json", str(folder / "faces.json"), "--csv",
                                  str(folder / "faces.csv"), "--parquet", str(folder / "faces.parquet"), "-q", *flag])
        assert ran.exit_code == 0, ran.output
        with open(folder / "faces.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        return (json.loads((folder / "faces.json").read_text(encoding="utf-8")), rows,
                pq.read_table(folder / "faces.parquet"))

    given, given_rows, given_table = outputs()
    left_out, rows, table = outputs("--no-landmarks")
    (face,), (face_given,) = left_out["files"][0]["faces"], given["files"][0]["faces"]
    assert given["landmarks"] is True and len(face_given["landmarks"]) == 5
    assert left_out["landmarks"] is False and face["landmarks"] is None
    assert {k: v for k, v in face.items() if k != "landmarks"} == {k: v for k, v in face_given.items()
                                                                    if k != "landmarks"}
    for landmark in face_given["landmarks"]:  # no landmark's coordinates anywhere in the JSON written
        assert not re.search(rf"{re.escape(str(landmark[0]))}, {re.escape(str(landmark[1]))}\b",
                             json.dumps(left_out))
    assert rows == given_rows and not any("landmark" in column for column in rows[0])
    assert table.column_names == given_table.column_names and "landmarks" not in table.column_names
    recorded = lambda t: json.loads(t.schema.metadata[SETTINGS_METADATA_KEY])["landmarks"]  # noqa: E731
    assert recorded(table) is False and recorded(given_table) is True


def test_min_face_is_recorded_and_bad_choices_exit_2_naming_the_option(astronaut_png, tmp_path):
    """README: exit 2 for a wrong command line. An unknown --model exited 1 (--detector 2), and value errors
    named the Python field (score_threshold) instead of the option."""
    result = runner.invoke(app, ["image", str(astronaut_png), "--json", "-", "--quiet", "--min-face", "64"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["min_face"] == 64
    for args, message in ((["--model", "nope"], "model 'nope' not found"),
                          (["--model", str(tmp_path)], "missing model.onnx"),
                          (["--score-threshold", "2"], "--score-threshold must be between 0 and 1"),
                          (["--min-face", "0"], "--min-face must be a number of pixels of at least 1")):
        result = runner.invoke(app, ["image", str(astronaut_png), *args])
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    video = runner.invoke(app, ["video", str(astronaut_png), "--temporal-model", str(tmp_path / "none")])
    assert video.exit_code == 2 and "not found" in video.output, video.output


def test_csv_to_stdout_keeps_the_summary_out_of_the_table(tmp_path, astronaut_png, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `--csv -` once wrote a file named "-" here
    result = runner.invoke(app, ["image", str(astronaut_png), "--csv", "-"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [r["emotion"] for r in rows] == ["happy"] and rows[0]["file"] == str(astronaut_png)
    assert "1 face(s)" in result.stderr and not (tmp_path / "-").exists()
    both = runner.invoke(app, ["image", str(astronaut_png), "--csv", "-", "--json", "-"])
    assert both.exit_code == 2 and "only one of them" in both.output


def test_parquet_to_stdout_is_the_table_and_never_a_file_named_dash(tmp_path, astronaut_png, monkeypatch):
    """`--parquet -` wrote a file named "-", where --json - and --csv - mean stdout."""
    import io

    import pandas as pd

    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["image", str(astronaut_png), "--parquet", "-"])
    assert result.exit_code == 0 and not (tmp_path / "-").exists(), result.stderr
    table = pd.read_parquet(io.BytesIO(result.stdout_bytes))
    assert table["emotion"].tolist() == ["happy"] and "1 face(s)" in result.stderr  # the summary kept off stdout
    both = runner.invoke(app, ["image", str(astronaut_png), "--csv", "-", "--parquet", "-"])
    assert both.exit_code == 2 and "--csv - and --parquet -: only one of them can go to stdout" in both.output


def test_a_results_file_that_cannot_be_written_is_refused_before_any_analysis(tmp_path, read_only_dir,
                                                                              astronaut_png, monkeypatch):
    """`fervid image many/ --json ro/x.json` analysed every image, then failed "Permission denied" with all of it
    lost; an experiment's --out was found unwritable only after its training."""
    from fervid.inference.analyzer import Analyzer

    analysed = []
    monkeypatch.setattr(Analyzer, "analyze_bgr", lambda self, *a, **k: analysed.append(1))
    (tmp_path / "notes.txt").write_text("", encoding="utf-8")
    for option, target, why in (("--json", read_only_dir / "x.json", f"cannot write in {read_only_dir}"),
                                ("--csv", read_only_dir / "new" / "x.csv", f"cannot write in {read_only_dir}"),
                                ("--parquet", tmp_path / "notes.txt" / "x.parquet",
                                 f"{tmp_path / 'notes.txt'} is a file, not a folder")):
        result = runner.invoke(app, ["image", str(astronaut_png), option, str(target)])
        assert result.exit_code == 1 and result.output == f"error: {option} {target}: {why}\n", result.output
    assert not analysed
    ck = tmp_path / "ck" / "happy"
    ck.mkdir(parents=True)
    result = runner.invoke(app, ["experiment", "--dataset", "ckplus", "--ckplus", str(tmp_path / "ck"), "--out",
                                 str(read_only_dir / "runs")])
    assert result.exit_code == 1 and f"--out {read_only_dir / 'runs'}: cannot write in {read_only_dir}" in result.output
    result = runner.invoke(app, ["train-temporal", "--fer2013", str(astronaut_png), "--out", str(read_only_dir / "t")])
    assert result.exit_code == 1 and f"--out {read_only_dir / 't'}: cannot write in {read_only_dir}" in result.output


def test_train_temporal_names_its_default_folder_after_a_model_named_by_its_file(tmp_path, monkeypatch,
                                                                                   astronaut_png):
    """`fervid train-temporal --model mine/model.onnx` trains on the model mine, and its LSTM's default folder is
    named after it: runs/temporal_lstm_mine, not runs/temporal_lstm_model.onnx. (A file "runs" in the way refuses
    the default folder by its name before any data is read.)"""
    from fervid.inference.models import resolve_model_dir

    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("model.onnx", "config.json"):
        shutil.copy(resolve_model_dir("fer2013_vgg") / name, mine / name)
    monkeypatch.chdir(tmp_path)
    Path("runs").write_text("not a folder", encoding="utf-8")
    result = CliRunner().invoke(app, ["train-temporal", "--fer2013", str(astronaut_png), "--model",
                                      str(mine / "model.onnx")])
    expected = Path("runs") / "temporal_lstm_mine"
    assert result.exit_code == 1 and f"--out {expected}: runs is a file, not a folder" in result.output, result.output


def test_a_reader_that_closes_stdout_early_ends_the_command_quietly(astronaut_png):
    """`fervid image ... --csv - | head -1` printed "error: -: Broken pipe" and exited 1, as if an output had
    failed; it now ends as a Unix tool killed by SIGPIPE is reported (141), saying nothing."""
    import sys

    for option in ("--csv", "--json"):
        proc = subprocess.Popen([sys.executable, "-m", "fervid", "image", str(astronaut_png), option, "-", "-q"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
        proc.stdout.close()  # `| head -0`: gone before the first line is written
        stderr = proc.stderr.read()
        assert proc.wait(timeout=120) == 141 and stderr == "", (option, stderr)


@pytest.mark.skipif(os.name == "nt", reason="no RLIMIT_NOFILE on Windows")
def test_running_out_of_open_files_says_the_limit_and_what_to_do():
    """`prlimit --nofile=16 fervid batch ...` said only "error: Too many open files" (its worker pool's pipe: no
    file to name); a file that is known is named, as every OSError's."""
    import errno
    import resource

    from fervid.apps.cli import _os_error_line

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    advice = f"Too many open files (this process may have {soft} open at once, `ulimit -n`: raise the limit and run " \
             "it again)"
    assert _os_error_line(OSError(errno.EMFILE, "Too many open files")) == advice
    assert _os_error_line(OSError(errno.EMFILE, "Too many open files", "out/state.sqlite")) == f"out/state.sqlite: {advice}"


def test_no_color_and_a_dumb_terminal_get_no_colour(astronaut_png):
    """NO_COLOR=1 (https://no-color.org) and TERM=dumb were ignored on a terminal: errors and notices came in colour
    escape codes."""
    args = ["image", str(astronaut_png), "/nonexistent.png", "-q", "--json", os.devnull]
    assert "\x1b[" in runner.invoke(app, args, color=True).output  # a terminal's colours, as before
    for env in ({"NO_COLOR": "1"}, {"TERM": "dumb"}):
        result = runner.invoke(app, args, color=True, env=env)
        assert result.exit_code == 1 and "error: /nonexistent.png" in result.output
        assert "\x1b[" not in result.output, env


@needs_sample_clip
def test_demo_writes_annotated_image_and_json(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "astronaut.json").read_text())
    assert [f["emotion"] for f in doc["files"][0]["faces"]] == ["happy"]
    assert Image.open(tmp_path / "astronaut_fervid.png").size == (512, 512)
    # it names every output it wrote: the episodes table too
    episodes = tmp_path / "carphone" / "carphone_pristine_episodes.csv"
    assert episodes.is_file() and f"  episodes: {episodes}\n" in result.output


def test_demo_without_the_sample_clip_does_the_photo_and_says_the_video_part_is_skipped(tmp_path, monkeypatch):
    """A distribution may leave the carphone clip out (its terms are not stated): `fervid demo` did the photo,
    then ended on a traceback ("no such file"). It says in one line that the clip is not installed, and succeeds."""
    import fervid.samples

    stripped = tmp_path / "samples" / "carphone_pristine.mp4"  # a samples folder without the clip
    monkeypatch.setattr(fervid.samples, "CARPHONE_FILE", stripped)
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [f["emotion"] for f in json.loads((out / "astronaut.json").read_text())["files"][0]["faces"]] == ["happy"]
    assert result.output.endswith(f"carphone video: skipped, the sample clip is not installed ({stripped})\n")
    assert not (out / "carphone").exists() and result.exception is None


def test_version_names_fervid_model_runtime_and_cpu():
    from importlib.metadata import distribution

    import onnxruntime

    import fervid

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith(f"fervid {fervid.__version__} (default model ferplus_vgg; Python ")
    assert f"ONNX Runtime {onnxruntime.__version__}" in result.output
    # one place sets the version: the package's metadata reads fervid.__version__
    checkout = Path(fervid.__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():  # (a source tree: CI runs it on 3.11; tomllib came in 3.11)
        import tomllib

        project = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))
        assert project["project"]["dynamic"] == ["version"]
        assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "fervid.__version__"}
    # and where the fervid imported is the one installed (a wheel, or an editable install of this checkout), the
    # installed metadata says the same; an editable install of another checkout has that checkout's version
    installed = distribution("fervid")
    editable_from = json.loads(installed.read_text("direct_url.json") or "{}").get("url")
    if (editable_from == checkout.as_uri()
            or Path(installed.locate_file("fervid/__init__.py")).resolve() == Path(fervid.__file__).resolve()):
        assert installed.version == fervid.__version__


def test_every_command_has_help():
    for command in ("image", "video", "live", "demo", "batch", "serve", "train", "train-temporal", "export",
                    "evaluate", "calibrate", "experiment"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0 and "Usage" in result.output, command
        # ordinary metavars; flags show none; arguments are named as Click names them (not {paths}..., nor
        # paths... <list[str]>)
        assert not re.search(r"<(str|int|float|path|bool|list\[\w+\])>|\{\w+\}", result.output), (command,
                                                                                           result.output)
        assert runner.invoke(app, [command, "-h"], env={"COLUMNS": "200"}).output == result.output
        if command in ("image", "video", "live", "batch", "serve"):  # every analysing command picks its detector
            words = " ".join(result.output.split())  # the help column wraps wherever its width says
            assert "--detector" in words and 'pip install "fervid[yuface]"' in words, command
    # and every option of every command says what it does
    from typer.main import get_command

    bare = [(name, p.name) for name, sub in get_command(app).commands.items() for p in sub.params
            if p.param_type_name == "option" and not getattr(p, "help", None)]
    assert not bare
    usage = runner.invoke(app, ["image", "--help"]).output.splitlines()[0]
    assert usage.endswith(" image [OPTIONS] PATHS..."), usage


def test_an_unknown_option_or_command_is_one_error_line_with_its_suggestion(astronaut_png):
    """`fervid image --bogus` printed Click's usage, a "Try 'fervid image -h'" line and "Error: No such option",
    where the README says every error is one `error:` line."""
    for args, message in (
            (["image", "--bogus", str(astronaut_png)], "no such option: --bogus (see fervid image -h)"),
            (["image", "--jsn", str(astronaut_png)],
             "no such option: --jsn; did you mean --csv or --json? (see fervid image -h)"),
            (["video", "--methd", "mean", "x.mp4"], "no such option: --methd; did you mean --end or --method? (see "
                                                    "fervid video -h)"),
            (["imgae", str(astronaut_png)], "no such command 'imgae'; did you mean 'image'? (see fervid -h)"),
            (["--bogus"], "no such option: --bogus (see fervid -h)"),
            (["image", str(astronaut_png), "--max-faces"],
             "option '--max-faces' requires an argument (see fervid image -h)"),
            (["demo", "extra"], "got unexpected extra argument(s) (extra) (see fervid demo -h)")):
        result = runner.invoke(app, args, prog_name="fervid")
        assert result.exit_code == 2 and result.output == f"error: {message}\n", (args, result.output)
    assert runner.invoke(app, [], prog_name="fervid").output.startswith("Usage: fervid [OPTIONS] COMMAND")  # help


def test_a_file_given_as_a_command_is_told_the_command_that_reads_it(tmp_path, astronaut_png, monkeypatch, face_clip):
    """`fervid "Interviews/Interview 2.MP4"` said "no such command 'Interviews/Interview 2.MP4'", and nothing of the
    command that would read it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Interviews").mkdir()
    shutil.copy(face_clip, tmp_path / "Interviews" / "Interview 2.MP4")
    shutil.copy(astronaut_png, tmp_path / "Interviews" / "cat.png")
    (tmp_path / "Interviews" / "notes.txt").write_text("smiled at 0:41")
    video = 'it is a video: analyse it with `fervid video "Interviews/Interview 2.MP4"`'
    for args, message in (
            (["Interviews/Interview 2.MP4"], f"no such command 'Interviews/Interview 2.MP4': {video}"),
            (["Interviews/Interview", "2.MP4"], f"no such command 'Interviews/Interview': {video}"),  # not quoted
            (["Interviews/cat.png"], "no such command 'Interviews/cat.png': it is an image: analyse it with `fervid "
                                     "image Interviews/cat.png`"),
            (["Interviews"], "no such command 'Interviews': it is a folder: analyse its videos with `fervid video "
                             "Interviews`, its images with `fervid image Interviews`"),
            (["Interviews/notes.txt"], "no such command 'Interviews/notes.txt': it is a text file, not a command: "
                                       "`fervid video FILE` analyses a video, `fervid image FILE` an image"),
            (["gone/clip.mp4"], "no such command 'gone/clip.mp4': no such file either; to analyse a file, name the "
                                "command first: `fervid video FILE`, `fervid image FILE`"),
            (["imgae"], "no such command 'imgae'; did you mean 'image'?")):
        result = runner.invoke(app, args, prog_name="fervid")
        assert result.exit_code == 2 and result.output == f"error: {message} (see fervid -h)\n", (args, result.output)


def test_a_file_named_composed_is_the_one_named_decomposed_on_disk(tmp_path, astronaut_png, monkeypatch):
    """`fervid image in/coração.png` said "no such file or folder" beside the file copied from macOS, named
    decomposed ("c", a cedilla, "a", a tilde); `fervid in/coração.png` said "no such file either"."""
    import unicodedata

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    on_disk = Path("in", unicodedata.normalize("NFD", "coração.png"))
    shutil.copy(astronaut_png, on_disk)
    if "coração.png" in os.listdir("in"):
        pytest.skip("this filesystem stores names in one normal form")
    result = runner.invoke(app, ["image", "in/coração.png", "--json", "-", "--quiet"])
    assert result.exit_code == 0, result.output
    assert [Path(f["file"]) for f in json.loads(result.stdout)["files"]] == [on_disk]
    hint = runner.invoke(app, ["in/coração.png"], prog_name="fervid")
    assert hint.exit_code == 2 and f'it is an image: analyse it with `fervid image "{on_disk}"`' in hint.output


def test_a_path_given_as_a_command_is_offered_only_the_commands_that_would_find_files(tmp_path, monkeypatch, face_clip):
    """`fervid docs`, a folder of notes, a PDF and a zip, was told "analyse its videos with `fervid video docs`, its
    images with `fervid image docs`", and both failed ("folder holds no video/image files"); `fervid docs/report.pdf`
    was told "it is a file, not a command"."""
    import zipfile

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("P3 laughed\n")
    (tmp_path / "docs" / "report.pdf").write_bytes(b"%PDF-1.4\n")
    with zipfile.ZipFile(tmp_path / "docs" / "photos.zip", "w") as archive:
        archive.writestr("p0.jpg", b"\xff\xd8\xff")
    (tmp_path / "clips").mkdir()
    shutil.copy(face_clip, tmp_path / "clips" / "a.mp4")
    (tmp_path / "empty").mkdir()
    for args, message in (
            (["docs"], "it is a folder that holds no image or video files; it holds 3 file(s) that are neither images "
                       "nor videos: photos.zip, notes.txt, report.pdf (photos.zip is an archive: unzip it first, and "
                       "analyse the folder it makes)"),
            (["clips"], "it is a folder: analyse its videos with `fervid video clips`"),
            (["empty"], "it is a folder that holds no image or video files"),
            (["docs/report.pdf"], "it is a PDF document, which fervid does not read"),
            (["docs/photos.zip"], "it is a ZIP archive of p0.jpg: unzip it first")):
        result = runner.invoke(app, args, prog_name="fervid")
        assert result.exit_code == 2 and result.output == f"error: no such command {args[0]!r}: {message} (see " \
                                                          "fervid -h)\n", (args, result.output)


def test_a_novices_inputs_are_said_with_what_to_do(tmp_path, monkeypatch, face_clip):
    """A path with a space, not quoted, and a folder holding only an archive and a Word document: each error says
    what was meant or what to do, and the run exits 1 as before."""
    import zipfile

    monkeypatch.chdir(tmp_path)
    (tmp_path / "Interviews").mkdir()
    shutil.copy(face_clip, tmp_path / "Interviews" / "Interview 1.MOV")
    (tmp_path / "Z").mkdir()
    with zipfile.ZipFile(tmp_path / "Z" / "videos.zip", "w") as archive:
        archive.write(face_clip, "Interview 3.mp4")
    result = runner.invoke(app, ["video", "Interviews/Interview", "1.MOV", "Z", "Z/videos.zip"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        'error: Interviews/Interview: no such file or folder; did you mean "Interviews/Interview 1.MOV"? Put quotes '
        "around a path with spaces",
        'error: 1.MOV: no such file or folder (part of "Interviews/Interview 1.MOV": put quotes around a path with '
        "spaces)",
        "error: Z: folder holds no video files; it holds 1 file(s) that are neither images nor videos: videos.zip "
        "(videos.zip is an archive: unzip it first, and analyse the folder it makes)",
        "error: Z/videos.zip: not a video fervid can read (a ZIP archive of Interview 3.mp4: unzip it first)"]


def test_exit_codes_are_one_rule_said_in_the_help(tmp_path):
    """A file an option names that is not there exited 2 for train and export but 1 for evaluate, train-temporal,
    live and experiment; a value out of range printed Click's three lines where fervid's own errors are one; and
    the codes were written nowhere a user could read them."""
    missing = tmp_path / "nothing"
    for args in (["evaluate", "--data", str(missing)], ["train-temporal", "--data", str(missing)],
                 ["live", "--source", str(missing)], ["experiment", "--dataset", "ckplus", "--ckplus", str(missing)],
                 ["calibrate", "--data", str(missing), "--model", str(tmp_path)],
                 ["train", "--data", str(missing)]):
        option = args[args.index(str(missing)) - 1]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output == f"error: {option} {missing}: no such file or folder\n", (args, result.output)
    for args, message in ((["video", "x.mp4", "--max-faces", "0"], "--max-faces: input should be greater than or "
                                                                    "equal to 1"),
                          (["video", "x.mp4", "--key-frames", "-1"], "--key-frames: input should be greater than "
                                                                     "or equal to 0"),
                          (["serve", "--port", "0"], "--port: input should be greater than or equal to 1"),
                          (["batch", "x.mp4"], "missing --out"), (["image"], "missing PATHS...")):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and result.output == f"error: {message}\n", (args, result.output)
    result = runner.invoke(app, ["train", "--config", str(tmp_path)])  # it said "no such config file"
    assert result.exit_code == 2 and f"--config {tmp_path}: a folder; --config takes a TOML file" in result.output
    words = " ".join(runner.invoke(app, ["--help"]).output.split())
    assert "Exit codes: 0 done; 1 an input could not be analysed" in words
    assert all(f" {code} " in words for code in (2, 75, 130, 143))


def test_an_interrupted_image_or_evaluate_run_says_what_it_kept(tmp_path, astronaut_png, monkeypatch):
    """Ctrl-C in `fervid image` or `fervid evaluate` exited 130 (143 for SIGTERM) without a word."""
    from fervid.inference.analyzer import Analyzer

    def pressed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Analyzer, "analyze_bgr", pressed)
    result = runner.invoke(app, ["image", str(astronaut_png), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 130 and not (tmp_path / "r.json").exists()
    assert result.output.strip() == ("interrupted: nothing was written to --json, --csv or --parquet (they are "
                                     "written at the end); the --annotate copies and --crops written so far are kept")
    monkeypatch.setattr("fervid.evaluation.evaluate.predict_dataset", pressed)
    folder = tmp_path / "faces" / "happy"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((48, 48), 128, np.uint8)).save(folder / "a.png")
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "faces"), "--out", str(tmp_path / "e")])
    assert result.exit_code == 130 and result.output.strip().endswith("interrupted: nothing was scored or written")


def test_paths_can_be_read_from_stdin(tmp_path, astronaut_png):
    """`find ... | fervid image -` (or batch, video): a list of files too long for a command line."""
    result = runner.invoke(app, ["image", "-", "--csv", "-", "-q"],
                           input=f"{astronaut_png}\n\n{tmp_path / 'no.png'}\n")
    assert result.exit_code == 1  # no.png
    rows = {r["file"]: r for r in csv.DictReader(result.stdout.splitlines())}
    assert rows.keys() == {str(astronaut_png), str(tmp_path / "no.png")}
    assert rows[str(astronaut_png)]["emotion"] == "happy" and "no such file" in rows[str(tmp_path / "no.png")]["error"]


@pytest.mark.parametrize("command", ["image", "video", "batch"])
def test_stdin_paths_may_be_nul_separated_as_find_print0_writes_them(tmp_path, astronaut_png, command):
    """`find ... -print0 | fervid image -` was one joined path ("no such file"); and a NUL in a pattern
    (`printf 'a\\0b/*.png\\n'`) ended in a traceback from glob ("embedded null byte")."""
    weird = tmp_path / "line\nbreak.png"  # a name only a NUL-separated list can give
    weird.write_bytes(astronaut_png.read_bytes())
    listed = b"\0".join(os.fsencode(p) for p in (astronaut_png, weird)) + b"\0"
    if command == "image":
        result = runner.invoke(app, ["image", "-", "--csv", "-", "-q"], input=listed)
        assert result.exit_code == 0, result.output
        files = [row["file"] for row in csv.DictReader(io.StringIO(result.stdout))]  # (its line break quoted)
        assert files == [str(astronaut_png), str(weird)]
    extra = ["--out", str(tmp_path / "out")] if command != "image" else []
    result = runner.invoke(app, [command, "-", *extra], input=b"a\0b/*.png\n")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "error: a: no such file or folder" in result.output
    assert "error: b/*.png: pattern matches no file" in result.output  # (echo's line break after the last NUL)
    assert "NUL-separated" in " ".join(runner.invoke(app, [command, "-h"]).output.split())


@pytest.mark.parametrize("command, piped", [("image", "astronaut"), ("video", "carphone")])
def test_an_image_piped_to_stdin_is_said_not_to_be_paths(astronaut_png, command, piped, face_clip):
    """`cat a.jpg | fervid image -` read the JPEG's bytes as lines of paths: garbled names, or a traceback."""
    data = (astronaut_png if piped == "astronaut" else face_clip).read_bytes()
    result = runner.invoke(app, [command, "-"], input=data)
    assert result.exit_code == 2, result.output
    kind = "PNG image" if piped == "astronaut" else "MP4/MOV video"
    assert f"-: stdin holds {kind} data: `-` reads paths, one a line, not image or video data" in result.output


def test_python_m_fervid_runs_the_command():
    import sys

    done = subprocess.run([sys.executable, "-m", "fervid", "-h"], capture_output=True, text=True,
                          encoding="utf-8", timeout=120)
    assert done.returncode == 0 and "Usage:" in done.stdout and "image" in done.stdout, done.stderr


def test_every_shipped_model_is_selectable_by_name_and_recorded(astronaut_png):
    from fervid.inference.models import available_models

    for model in available_models():
        result = runner.invoke(app, ["image", str(astronaut_png), "--json", "-", "--model", model])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["model"] == model and doc["files"][0]["faces"][0]["emotion"] == "happy"


def test_unknown_model_fails_with_its_name_on_every_command(astronaut_png, tmp_path, face_clip):
    import threading

    before = set(threading.enumerate())
    for command in (["image", str(astronaut_png)], ["video", str(astronaut_png), "--out", str(tmp_path / "v")],
                    ["live", "--source", str(face_clip), "--out", str(tmp_path / "l")]):
        result = runner.invoke(app, [*command, "--model", "no_such_model"])
        assert result.exit_code != 0
        assert "model 'no_such_model' not found" in result.output, (command, result.output)
    # live failed before reading a frame: no reader thread is left decoding the source (one was, and could abort
    # the interpreter at exit when it was inside OpenCV)
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive() and t.name != "TMonitor"]
    assert not left


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder on a read-only filesystem (a tmpfs mounted read-only, as root); else one without write
    permission (for a user that is not root)."""
    import os
    import subprocess

    target = tmp_path / "ro"
    target.mkdir()
    if os.geteuid() != 0:
        target.chmod(0o555)
        yield target
        target.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)]).returncode != 0:
        pytest.skip("cannot mount a read-only filesystem here")
    yield target
    subprocess.run(["umount", str(target)])


def test_environment_errors_are_one_line_naming_the_path(read_only_dir, astronaut_png):
    """15.11: an --out on a read-only filesystem used to print a 38-line traceback."""
    import subprocess
    import sys

    for args in (["demo", "--no-video", "--out", str(read_only_dir / "demo")],
                 ["image", str(astronaut_png), "--json", str(read_only_dir / "r.json")],
                 ["batch", str(astronaut_png), "--out", str(read_only_dir / "batch"), "-q"]):
        done = subprocess.run([sys.executable, "-m", "fervid.apps.cli", *args], capture_output=True, text=True,
                              encoding="utf-8", timeout=120)
        assert done.returncode == 1, (args, done.stderr)
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and str(read_only_dir) in errors[0] and "Traceback" not in done.stderr, done.stderr


def test_a_file_in_the_way_of_an_output_folder_is_named(tmp_path, astronaut_png):
    import subprocess
    import sys

    in_the_way = tmp_path / "results"
    in_the_way.write_text("an earlier export", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "fervid.apps.cli", "image", str(astronaut_png), "--annotate",
                           str(in_the_way)], capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"error: {in_the_way}: a file is in the way of this output folder" in done.stderr
    assert in_the_way.read_text(encoding="utf-8") == "an earlier export"


def _fervid_as(prefix: list[str], *args: str) -> subprocess.CompletedProcess:
    """`fervid ARGS` in a subprocess run as ``prefix`` (the ``unprivileged`` fixture's) runs it."""
    return subprocess.run([*prefix, sys.executable, "-m", "fervid", *args], capture_output=True, text=True,
                          encoding="utf-8",
                          timeout=300)


def test_a_folder_that_cannot_be_read_is_a_failed_input_and_the_others_are_analysed(tmp_path, astronaut_png,
                                                                                      unprivileged):
    """An overnight run on a lab server: a subfolder another user had locked was left out without a word (exit 0),
    and a locked folder named on the command line ended the run ("error: in2/state.sqlite: Permission denied", a
    file that is not there) with the readable inputs unanalysed; `fervid batch` and `fervid video` alike."""
    in1, in2 = tmp_path / "in1", tmp_path / "in2"
    for folder in (in1 / "locked", in1 / "listed_only", in2):
        folder.mkdir(parents=True)
        shutil.copy(astronaut_png, folder / "a.png")
    shutil.copy(astronaut_png, in1 / "a.png")
    modes = {in1 / "locked": 0o000, in1 / "listed_only": 0o644, in2: 0o000}  # 644: listed, but not to be entered
    for folder, mode in modes.items():
        folder.chmod(mode)
    try:
        image = _fervid_as(unprivileged, "image", str(in2), str(in1), str(in2 / "a.png"), "--json",
                           str(tmp_path / "r.json"), "-q")
        batch = _fervid_as(unprivileged, "batch", str(in1), str(in2), "--out", str(tmp_path / "batch"), "-q",
                           "--no-annotate")
        video = _fervid_as(unprivileged, "video", str(in2), "--out", str(tmp_path / "v"), "-q")
    finally:
        for folder in modes:
            folder.chmod(0o755)
    assert image.returncode == 1, image.stderr
    files = {f["file"]: f for f in json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["files"]}
    assert files[str(in1 / "a.png")]["ok"] and files[str(in1 / "a.png")]["faces"][0]["emotion"] == "happy"
    for folder in modes:
        said = f"{folder}: folder cannot be read (Permission denied): its files were not searched"
        assert f"error: {said}" in image.stderr and files[str(folder)]["error"] == said
    assert files[str(in2 / "a.png")]["error"] == f"{in2 / 'a.png'}: cannot be read (Permission denied)"
    assert len(files) == 5 and "state.sqlite" not in image.stderr and "Traceback" not in image.stderr
    assert batch.returncode == 1, batch.stderr
    with open(tmp_path / "batch" / "files.csv", encoding="utf-8", newline="") as fh:
        rows = {row["file"]: row for row in csv.DictReader(fh)}
    assert rows[str(in1 / "a.png")]["status"] == "done"
    assert all(rows[str(folder)]["status"] == "failed" and "folder cannot be read" in rows[str(folder)]["note"]
               for folder in modes)
    assert video.returncode == 1 and f"error: {in2}: folder cannot be read (Permission denied)" in video.stderr


def test_a_file_that_may_not_be_read_is_said_so_not_called_corrupt(tmp_path, astronaut_rgb, unprivileged, face_clip):
    """A chmod-000 TIFF was "truncated or corrupt image data ([Errno 13] Permission denied ...)", a chmod-000 MP4
    "not a video, or a format/codec OpenCV's FFmpeg cannot read" after an OpenCV warning."""
    tiff, clip = tmp_path / "photo.tiff", tmp_path / "clip.mp4"
    Image.fromarray(astronaut_rgb).save(tiff)
    shutil.copy(face_clip, clip)
    for file in (tiff, clip):
        file.chmod(0o000)
    try:
        image = _fervid_as(unprivileged, "image", str(tiff), "-q", "--json", os.devnull)
        video = _fervid_as(unprivileged, "video", str(clip), "--out", str(tmp_path / "v"), "-q")
    finally:
        for file in (tiff, clip):
            file.chmod(0o644)
    assert image.returncode == 1 and image.stderr == f"error: {tiff}: cannot be read (Permission denied)\n"
    assert video.returncode == 1 and video.stderr == f"error: {clip}: cannot be read (Permission denied)\n"


def test_a_file_that_may_not_be_read_is_said_alike_by_image_and_batch(tmp_path, astronaut_png, unprivileged):
    """`fervid batch` said "photos/a.png: permission denied" of the file `fervid image` said "photos/a.png: cannot be
    read (Permission denied)" of; and "in2/a.png: Permission denied" of a file in a folder that may not be entered."""
    (tmp_path / "photos").mkdir()
    (tmp_path / "in2").mkdir()
    locked, in_locked = tmp_path / "photos" / "a.png", tmp_path / "in2" / "a.png"
    for file in (locked, in_locked):
        shutil.copy(astronaut_png, file)
    locked.chmod(0o000)
    (tmp_path / "in2").chmod(0o000)
    try:
        image = _fervid_as(unprivileged, "image", str(locked), str(in_locked), "-q", "--json", os.devnull)
        batch = _fervid_as(unprivileged, "batch", str(locked), str(in_locked), "--out", str(tmp_path / "batch"), "-q",
                           "--method", "mean", "--no-annotate")
    finally:
        locked.chmod(0o644)
        (tmp_path / "in2").chmod(0o755)
    said = [f"error: {file}: cannot be read (Permission denied)" for file in (locked, in_locked)]
    assert image.returncode == batch.returncode == 1, (image.stderr, batch.stderr)
    assert sorted(image.stderr.splitlines()) == sorted(batch.stderr.splitlines()) == sorted(said), batch.stderr


def test_batch_a_pattern_matching_a_file_in_a_folder_that_may_not_be_entered_fails_that_file_alone(
        tmp_path, astronaut_png, unprivileged):
    """`fervid batch 'un/noenter/*.png' un/ok` (noenter listed, not entered: mode 600) ended the run with "error:
    un/noenter/b.png: Permission denied", nothing analysed: the match could not be looked up. It is a failed input,
    said as the file named on its own is, and the others are analysed; 'un/*/*.png' alike."""
    noenter, ok = tmp_path / "un" / "noenter", tmp_path / "un" / "ok"
    for folder, name in ((noenter, "b.png"), (ok, "c.png")):
        folder.mkdir(parents=True)
        shutil.copy(astronaut_png, folder / name)
    noenter.chmod(0o600)
    try:
        runs = [_fervid_as(unprivileged, "batch", *inputs, "--out", str(tmp_path / out), "-q", "--method", "mean",
                           "--no-annotate")
                for inputs, out in (([str(noenter / "*.png"), str(ok)], "named"),
                                    ([str(tmp_path / "un" / "*" / "*.png")], "wildcard"))]
    finally:
        noenter.chmod(0o755)
    for run, out in zip(runs, ("named", "wildcard")):
        assert run.returncode == 1 and run.stderr == f"error: {noenter / 'b.png'}: cannot be read (Permission " \
                                                     "denied)\n", run.stderr
        with open(tmp_path / out / "files.csv", encoding="utf-8", newline="") as fh:
            statuses = {row["file"]: row["status"] for row in csv.DictReader(fh)}
        assert statuses == {str(noenter / "b.png"): "failed", str(ok / "c.png"): "done"}


def test_a_pattern_in_a_folder_that_cannot_be_read_says_so_naming_the_folder(tmp_path, astronaut_png, unprivileged):
    """`fervid image 'locked/*.png'` said "pattern matches no file" where locked/ may not be listed (glob takes a
    folder it cannot read for an empty one), and "locked/*.png: Permission denied" where it may not be entered either
    (a pattern looked up as a file); a missing folder under one that may not be entered was "no file" too. The folder
    is said as a folder named on its own is, by `fervid image`, `fervid batch` and `fervid video`."""
    for folder in ("no_entry", "no_listing", "listed", "above/below"):
        (tmp_path / folder).mkdir(parents=True)
        shutil.copy(astronaut_png, tmp_path / folder / "a.png")
    modes = {tmp_path / "no_entry": 0o000, tmp_path / "no_listing": 0o100, tmp_path / "above": 0o000}
    for folder, mode in modes.items():
        folder.chmod(mode)
    try:
        runs = {pattern: _fervid_as(unprivileged, "image", str(tmp_path / pattern), "-q", "--json", os.devnull)
                for pattern in ("no_entry/*.png", "no_listing/*.png", "above/below/*.png", "above/missing/*.png",
                                "no_entry/**/*.png")}
        batch = _fervid_as(unprivileged, "batch", str(tmp_path / "no_listing" / "*.png"),
                           str(tmp_path / "listed" / "*.png"), "--out", str(tmp_path / "batch"), "-q", "--method",
                           "mean", "--no-annotate")
        video = _fervid_as(unprivileged, "video", str(tmp_path / "no_entry" / "*.mp4"), "--out", str(tmp_path / "v"),
                           "-q")
        missing = _fervid_as(unprivileged, "image", str(tmp_path / "listed" / "sub" / "*.png"), "-q", "--json",
                             os.devnull)
    finally:
        for folder in modes:
            folder.chmod(0o755)
    for pattern, run in runs.items():
        folder = tmp_path / pattern.split("/")[0]
        assert run.returncode == 1 and run.stderr == f"error: {folder}: folder cannot be read (Permission denied): " \
                                                     "its files were not searched\n", (pattern, run.stderr)
    assert batch.returncode == 1 and batch.stderr == f"error: {tmp_path / 'no_listing'}: folder cannot be read " \
                                                     "(Permission denied): its files were not searched\n", batch.stderr
    with open(tmp_path / "batch" / "files.csv", encoding="utf-8", newline="") as fh:
        statuses = {row["file"]: row["status"] for row in csv.DictReader(fh)}
    assert statuses == {str(tmp_path / "listed" / "a.png"): "done", str(tmp_path / "no_listing"): "failed"}
    assert video.returncode == 1 and video.stderr == f"error: {tmp_path / 'no_entry'}: folder cannot be read " \
                                                     "(Permission denied): its files were not searched\n", video.stderr
    # a folder that can be read and holds no such folder: the pattern matches no file, as before
    assert missing.returncode == 1 and "sub/*.png: pattern matches no file" in missing.stderr, missing.stderr


def test_a_wildcard_folder_part_names_a_folder_it_matched_that_cannot_be_listed(tmp_path, astronaut_png, unprivileged, face_clip):
    """`fervid video 'un/*/*.mp4'` with un/nolist at mode 300 (entered, not listed) analysed un/ok's video alone, exit
    0, without a word that un/nolist was not searched (glob passes over a folder it cannot list mid-pattern);
    `fervid image 'un/*/*.png'` likewise. The folder is said as a folder named on its own is, and the others are
    analysed."""
    nolist, ok = tmp_path / "un" / "nolist", tmp_path / "un" / "ok"
    for folder in (nolist, ok):
        folder.mkdir(parents=True)
        shutil.copy(astronaut_png, folder / "a.png")
        shutil.copy(face_clip, folder / "v.mp4")
    nolist.chmod(0o300)
    try:
        image = _fervid_as(unprivileged, "image", str(tmp_path / "un" / "*" / "*.png"), "-q", "--json",
                           str(tmp_path / "r.json"))
        video = _fervid_as(unprivileged, "video", str(tmp_path / "un" / "*" / "*.mp4"), "--end", "0.2", "--out",
                           str(tmp_path / "v"), "-q", "--no-annotate")
    finally:
        nolist.chmod(0o755)
    said = f"error: {nolist}: folder cannot be read (Permission denied): its files were not searched\n"
    assert image.returncode == 1 and image.stderr == said, image.stderr
    files = {f["file"]: f for f in json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["files"]}
    assert files[str(ok / "a.png")]["ok"] and not files[str(nolist)]["ok"] and len(files) == 2
    assert video.returncode == 1 and video.stderr == said, video.stderr
    assert (tmp_path / "v" / "v_tracks.json").exists()


def test_a_pattern_names_a_folder_it_lists_and_goes_below_that_may_not_be_entered(tmp_path, astronaut_png,
                                                                                  unprivileged):
    """`fervid image 'un/*/*.png'` with un at mode 644 (listed, not entered) said "pattern matches no file", where
    'un/a/*.png' named un; 'top/*/*/*.png' with top/a at 644 likewise, where 'top/*/b/*.png' named top/a: glob lists
    such a folder, then cannot look into what it matched. 'un/*' said "pattern matches 1 file(s), none with an
    image file's extension": un/a, which could not be looked into, was taken for a file. The folder is said as a
    folder named on its own is; one whose listing holds no such match is not (no file matches)."""
    un, top_a = tmp_path / "un", tmp_path / "top" / "a"
    for folder in (un / "a", top_a / "b"):
        folder.mkdir(parents=True)
        shutil.copy(astronaut_png, folder / "x.png")
    for folder in (un, top_a):
        folder.chmod(0o644)
    try:
        runs = {pattern: _fervid_as(unprivileged, "image", str(tmp_path / pattern), "-q", "--json", os.devnull)
                for pattern in ("un/*/*.png", "un/*/x.png", "un/*", "top/*/*/*.png", "top/a/*/x.png", "top/*/*",
                                "un/b*/*.png")}
    finally:
        for folder in (un, top_a):
            folder.chmod(0o755)
    unmatched = runs.pop("un/b*/*.png")
    assert unmatched.returncode == 1 and "b*/*.png: pattern matches no file" in unmatched.stderr, unmatched.stderr
    for pattern, run in runs.items():
        folder = un if pattern.startswith("un/") else top_a
        assert run.returncode == 1 and run.stderr == f"error: {folder}: folder cannot be read (Permission denied): " \
                                                     "its files were not searched\n", (pattern, run.stderr)


def test_evaluate_on_a_folder_of_photos_finds_the_faces_and_says_what_it_left_out(tmp_path, astronaut_rgb):
    (tmp_path / "photos" / "happy").mkdir(parents=True)
    (tmp_path / "photos" / "misc").mkdir()
    Image.fromarray(astronaut_rgb).save(tmp_path / "photos" / "happy" / "astronaut.jpg")
    (tmp_path / "photos" / "happy" / "broken.jpg").write_text("not a jpeg")
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "photos"), "--dataset", "photos",
                                 "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert "(1 faces): accuracy 1.0000" in result.output  # the astronaut smiles; the broken file did not stop it
    photos = tmp_path / "photos"
    # counted in images, a folder left out by what it holds (0 here), each reason with its images
    assert "2 image(s) seen: 1 scored, 1 left out" in result.output
    assert f"  1 x cannot read image (not an image fervid can read (a text file)): " \
           f"{photos / 'happy' / 'broken.jpg'}" in result.output
    assert "  0 x in a folder whose name is not one of fervid's emotions, angry/anger, disgust" in result.output \
        and f"{photos / 'misc'} ('misc')" in result.output
    report = (tmp_path / "eval" / "report.md").read_text(encoding="utf-8")  # it said only the table
    assert "2 image(s) seen: 1 scored, 1 left out" in report and "- 1 x cannot read image" in report
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(metrics["left_out"]) == {str(photos / "misc"), str(photos / "happy" / "broken.jpg")}
    assert metrics["totals"] == {"images_seen": 2, "scored": 1, "left_out": 1, "left_out_by_reason": {
        "cannot read image (not an image fervid can read (a text file))": 1,
        f"in a folder whose name is {NOT_AN_EMOTION}": 0}}
    # the numbers say what made them (the model's temperature, the runtime, how each photo's face was chosen),
    # and each face's prediction is kept for other metrics and tests
    import onnxruntime

    from fervid.inference.models import file_sha256, resolve_model_dir

    # the digest of the graph that scored the faces (int8), not of the float model.onnx beside it
    folder = resolve_model_dir("ferplus_vgg")
    assert metrics["settings"]["weights_sha256"] == file_sha256(folder / "model_int8.onnx")
    # the shipped model by its place in the package: the installation's absolute path named the user's home folder
    # (README "Names and paths"), in metrics.json and report.md alike
    for written in ("metrics.json", "report.md"):
        assert str(folder.parent) not in (tmp_path / "eval" / written).read_text(encoding="utf-8")
    assert metrics["settings"] | {"fervid": "", "weights_sha256": ""} == {
        "model": "ferplus_vgg", "model_folder": "fervid/weights/ferplus_vgg",
        "weights_file": "model_int8.onnx", "weights_sha256": "",
        "precision": "int8", "temperature": 0.5575, "dataset_kind": "photos", "data": str(photos),
        "detector": "centerface", "face_min_score": 0.3,
        "one_face_rule": "each photo is scored on its most confident face; a photo where another face is found at "
                         "the detector's own threshold (0.4) is left out",
        "fervid": "", "onnxruntime": onnxruntime.__version__}
    rows = list(csv.DictReader((tmp_path / "eval" / "predictions.csv").open(encoding="utf-8")))
    assert [(r["source"], r["label"], r["predicted"]) for r in rows] == [
        (str(tmp_path / "photos" / "happy" / "astronaut.jpg"), "happy", "happy")]
    assert float(rows[0]["happy"]) > 0.5 and "- precision: `int8`" in (tmp_path / "eval" / "report.md").read_text(
        encoding="utf-8")


def test_evaluate_refuses_options_its_dataset_would_ignore(tmp_path, fer_csv):
    """`--ferplus` without `--dataset ferplus` scored against FER2013's labels (0.61 for the default model, not
    its 0.85), without a word; so did `--usage` on CK+, and `--write-card` wrote a CK+ score into a card that
    says the model was evaluated on PublicTest."""
    from conftest import write_ferplus_votes

    votes = write_ferplus_votes(fer_csv, tmp_path / "votes.csv")
    auto = runner.invoke(app, ["evaluate", "--data", str(fer_csv), "--ferplus", str(votes)])
    assert auto.exit_code == 0, auto.output
    assert "on ferplus:PublicTest" in auto.output  # --ferplus chooses FER+'s labels
    ck = tmp_path / "ck"
    (ck / "happy").mkdir(parents=True)
    for args, message in (
        (["--data", str(fer_csv), "--dataset", "fer2013", "--ferplus", str(votes)],
         "--ferplus is for --dataset ferplus, not fer2013"),
        (["--data", str(ck), "--dataset", "ckplus", "--usage", "Training"],
         "--usage is for --dataset fer2013 or ferplus, not ckplus"),
        (["--data", str(ck), "--dataset", "ckplus", "--jaffe", str(ck)],
         "--jaffe is for --dataset jaffe+ckplus, not ckplus"),
        (["--data", str(ck), "--dataset", "ckplus", "--detector", "yuface"],
         "--detector is for --dataset jaffe or jaffe+ckplus or photos or video, not ckplus"),
        (["--data", str(fer_csv), "--method", "mean"], "--method is for --dataset video, not fer2013"),
        (["--data", str(ck), "--results", str(ck)], "--results is for --dataset video, not folder"),
        (["--data", str(fer_csv), "--margin", "0.2"], "--margin is for --dataset video, not fer2013"),
        (["--data", str(ck), "--dataset", "ckplus", "--write-card", "--model", str(tmp_path)], "not on ckplus"),
        (["--data", str(fer_csv), "--write-card"], "ferplus_vgg is not one: copy a shipped model's folder"),
        (["--data", str(fer_csv), "--command", "fervid train ..."], "--command is recorded in the model card"),
        (["--data", str(ck), "--dataset", "ckplsu"], "--dataset ckplsu: not one of auto, fer2013"),  # exit 1 before
        (["--data", str(fer_csv), "--usage", "Test"], "--usage Test: not one of Training, PublicTest"),
        # a votes file or JAFFE folder not given: exit 1 after the model was loaded, where experiment's is 2
        (["--data", str(fer_csv), "--dataset", "ferplus"], "--dataset ferplus needs --ferplus (FER+'s votes file"),
        (["--data", str(ck), "--dataset", "jaffe+ckplus"], "--dataset jaffe+ckplus needs --jaffe"),
    ):
        result = runner.invoke(app, ["evaluate", *args])
        assert result.exit_code == 2 and message in result.output, (args, result.output)


def test_evaluate_warns_when_the_faces_are_the_models_training_faces(tmp_path):
    """Scored on FER2013's Training faces (which the shipped models learnt), evaluate said nothing, and
    --write-card put that score into the model's card as its evaluation."""
    import shutil

    from conftest import write_fer2013_csv
    from fervid.inference.models import resolve_model_dir

    fer = write_fer2013_csv(tmp_path / "fer.csv", {"Training": 30, "PublicTest": 30})
    trained = runner.invoke(app, ["evaluate", "--data", str(fer), "--usage", "Training", "--model", "fer2013_vgg"])
    assert trained.exit_code == 0, trained.output
    assert "warning: the model was trained on FER2013's Training faces" in trained.output
    held_out = runner.invoke(app, ["evaluate", "--data", str(fer), "--model", "fer2013_vgg"])
    assert held_out.exit_code == 0 and "warning" not in held_out.output
    copy = tmp_path / "model"
    shutil.copytree(resolve_model_dir("fer2013_vgg"), copy)
    card = runner.invoke(app, ["evaluate", "--data", str(fer), "--usage", "Training", "--model", str(copy),
                               "--write-card"])
    assert card.exit_code == 2 and "faces it was not trained on" in card.output, card.output
    # named by a file of its folder (as the API takes a model), it is that folder: its card is written there
    before = (copy / "card.json").read_bytes()
    by_file = runner.invoke(app, ["evaluate", "--data", str(fer), "--model", str(copy / "model.onnx"), "--write-card"])
    assert by_file.exit_code == 0, by_file.output
    assert (copy / "card.json").read_bytes() != before
    # the card records the graph the folder runs by default (int8), as calibrate fits it: not the fp32 file named
    assert "fer2013_vgg (int8) on" in by_file.output and "fer2013_vgg (int8) on" in held_out.output
    assert json.loads((copy / "card.json").read_text(encoding="utf-8"))["graph_precision"] == "int8"
    # without --write-card the file named is the graph that runs (--precision auto), as `fervid image` runs it
    scored = runner.invoke(app, ["evaluate", "--data", str(fer), "--model", str(copy / "model.onnx")])
    assert scored.exit_code == 0 and "fer2013_vgg (fp32) on" in scored.output, scored.output


def _cross_dataset_comparison(identity: dict) -> tuple[dict, dict]:
    """A compare_models JSON of the weights ``identity`` names, and its row, which the card's table is taken from."""
    scores = {"n": 129, "accuracy": 0.5814, "macro_f1": 0.532, "ci_method": "bootstrap over 6 subjects",
              "accuracy_ci95": [0.457, 0.685], "calibration": {"ece": 0.1407, "mean_confidence": 0.7019,
                                                                "errors": 54, "confident_errors": 0, "confident_at": 0.9}}
    row = {"model": "fer2013_vgg", "precision": "int8", **identity, "jaffe": scores}
    comparison = {"command": "python benchmarks/compare_models.py --models fer2013_vgg", "fervid": "0.2.0",
                  "onnxruntime": "1.32.0", "cpu": "a CPU", "detector": "centerface", "models": {"fer2013_vgg": row}}
    return comparison, comparison | {"models": {"x": row | {"weights_sha256": "0" * 64}}}


def _degraded_faces_report(identity: dict) -> tuple[dict, dict]:
    """A benchmarks/degraded_faces.py JSON of the weights ``identity`` names, and one of other weights."""
    scores = {"n": 783, "accuracy": 0.7, "uncertain_share": 0.235, "mean_confidence": 0.682, "errors_at_0.9": 12}
    model = {"model": "fer2013_vgg", "uncertain_below": 0.5, **identity}
    report = {"command": "python benchmarks/degraded_faces.py", "cpu": "a CPU", "models": {"fer2013_vgg": model},
              "results": {"ckplus": {"fer2013_vgg": {"original": scores, "noise sd 40": scores | {
                  "accuracy": 0.098, "uncertain_share": 0.026, "mean_confidence": 0.784}}}}}
    return report, report | {"models": {"fer2013_vgg": model | {"weights_sha256": "0" * 64}}}


@pytest.mark.parametrize("option, reports, card_lines", [
    ("--cross-dataset", _cross_dataset_comparison, [
        "| JAFFE (full heads, found and aligned by the `centerface` detector) | 129 | 0.5814 (0.457-0.685, "
        "bootstrap over 6 subjects) | 0.532 | 0.141 / 0.702 |",
        "0.141 on JAFFE (mean confidence 0.702 for accuracy 0.581; 0 of its 54 errors"]),
    ("--degraded-faces", _degraded_faces_report, [
        "CK+48 (783 faces): as they are 0.700 / 23.5% / 0.68; noise sd 40 0.098 / 2.6% / 0.78."]),
], ids=["cross-dataset", "degraded-faces"])
def test_evaluate_puts_a_benchmarks_record_in_the_card_only_from_a_run_of_its_weights(tmp_path, option, reports,
                                                                                       card_lines):
    """The cross-dataset table of the default's card was pasted in by hand, from a comparison that did not record
    which weights it measured, and the cards' line on the `uncertain` flag and degraded faces must survive
    `docs/reproduce.sh`'s `--write-card` for new weights: `--cross-dataset` (a compare_models JSON) and
    `--degraded-faces` (a benchmarks/degraded_faces.py JSON) take theirs from a record of the same weights only."""
    import shutil

    from conftest import write_fer2013_csv
    from fervid.inference.models import EmotionCNN, resolve_model_dir

    fer = write_fer2013_csv(tmp_path / "fer.csv", {"Training": 10, "PublicTest": 20})
    copy = tmp_path / "model"
    shutil.copytree(resolve_model_dir("fer2013_vgg"), copy)
    (copy / "card.json").unlink()  # a card of no weights: nothing recorded by hand to keep
    of_these, of_others = reports(EmotionCNN(copy).weights_identity)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(of_others), encoding="utf-8")
    refused = runner.invoke(app, ["evaluate", "--data", str(fer), "--model", str(copy), "--write-card", option,
                                  str(other)])
    assert refused.exit_code == 2 and option in refused.output and "not these weights" in refused.output, \
        refused.output
    assert not (copy / "card.json").exists()  # refused before anything was evaluated or written
    alone = runner.invoke(app, ["evaluate", "--data", str(fer), "--model", str(copy), option, str(other)])
    assert alone.exit_code == 2 and "needs --write-card" in alone.output
    same = tmp_path / "same.json"
    same.write_text(json.dumps(of_these), encoding="utf-8")
    written = runner.invoke(app, ["evaluate", "--data", str(fer), "--model", str(copy), "--write-card", option,
                                  str(same)])
    assert written.exit_code == 0, written.output
    card = (copy / "MODEL_CARD.md").read_text(encoding="utf-8")
    for line in card_lines:
        assert line in card


def test_evaluate_knows_copies_of_a_models_training_faces_and_one_face_filed_under_two_emotions(tmp_path):
    """A copy of the folder a model was taught (or some of its files under other names) was scored as faces it had
    never seen, and --write-card put its training-set score into the card; one image filed under two emotions
    (a copy in Happy and in Surprise) went without a word."""
    import shutil

    from conftest import synthetic_faces
    from fervid.emotions import EMOTIONS
    from fervid.inference.models import resolve_model_dir

    taught, unseen = tmp_path / "taught", tmp_path / "unseen"
    for folder, seed in ((taught, 1), (unseen, 2)):
        for i, (image, label) in enumerate(zip(*synthetic_faces(24, seed=seed))):
            (folder / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / EMOTIONS[label] / f"{seed}_{i:03d}.png")
    model = tmp_path / "model"
    shutil.copytree(resolve_model_dir("ferplus_vgg"), model)
    (model / "training_config.json").write_text(json.dumps({"data": str(taught), "data_kind": "folder"}),
                                                encoding="utf-8")
    copy = tmp_path / "copy"
    shutil.copytree(unseen, copy)
    first = sorted(taught.rglob("*.png"))[0]
    shutil.copy(first, copy / first.parent.name / "renamed.png")  # one training face among unseen ones
    args = ["evaluate", "--model", str(model), "--data", str(copy)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"warning: 1 of the 25 images are byte-identical copies of images in {taught}, which the model was " \
           f"trained on (e.g. {copy / first.parent.name / 'renamed.png'})" in result.output
    card = runner.invoke(app, [*args, "--write-card", "--out", str(tmp_path / "eval")])
    assert card.exit_code == 2 and "faces it was not trained on, and 1 of the 25 images" in card.output
    assert not (tmp_path / "eval").exists() and not (model / "MODEL_CARD.md").read_text(encoding="utf-8").count(
        str(copy))
    assert "warning" not in runner.invoke(app, ["evaluate", "--model", str(model), "--data", str(unseen)]).output
    # the same file under two emotions
    other = next(e for e in EMOTIONS if e != first.parent.name)
    (unseen / other).mkdir(exist_ok=True)
    shutil.copy(sorted((unseen / first.parent.name).glob("*.png"))[0], unseen / other / "dup.png")
    twice = runner.invoke(app, ["evaluate", "--model", str(model), "--data", str(unseen)])
    assert "warning: 1 image(s) are byte-identical copies of another filed under a different emotion" in twice.output
    assert f"{unseen / other / 'dup.png'} as {other}" in twice.output


def test_evaluate_says_when_a_folder_of_face_crops_looks_like_photos(tmp_path, astronaut_rgb):
    """`--dataset folder` (chosen by auto for any folder) read 512 px photos as face crops, scoring a coffee cup
    as a sad face, without a hint that --dataset photos finds the faces."""
    from PIL import Image

    (tmp_path / "photos" / "happy").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(astronaut_rgb).save(tmp_path / "photos" / "happy" / f"{i}.jpg")
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "photos")])
    assert result.exit_code == 0, result.output
    assert f"notice: the images in {tmp_path / 'photos'} are about 512 px, more likely photos" in result.output
    assert "`fervid image PHOTOS --crops CROPS`" in result.output and "--dataset photos finds and aligns" \
        in result.output
    crops = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "photos"), "--dataset", "photos"])
    assert crops.exit_code == 0 and "px, more likely photos" not in crops.output


def test_evaluate_writes_its_outputs_before_it_prints(tmp_path, fer_csv):
    """`fervid evaluate ... --out X | head -1` closed the pipe at the first line; the outputs, written after the
    table was printed, never were."""
    import subprocess

    out = tmp_path / "ev"
    done = subprocess.run(f"fervid evaluate --data '{fer_csv}' --out '{out}' | head -1", shell=True,
                          capture_output=True, encoding="utf-8")
    assert "accuracy" in done.stdout
    assert {p.name for p in out.iterdir()} == {"metrics.json", "predictions.csv", "report.md", "confusion.png"}


def test_evaluate_compares_several_models_on_the_same_faces(tmp_path, fer_csv):
    """Comparing models on your own data meant one `fervid evaluate` per model and a table made by hand (and
    `--model a --model b` is refused as an option given twice): --model given again scores each model as alone, into
    --out/<its name>/, and compares them side by side with a paired test on the same faces."""
    import pandas as pd
    from scipy.stats import binomtest

    models = ["fer2013_vgg", "ferplus_vgg"]
    out = tmp_path / "compared"
    result = runner.invoke(app, ["evaluate", "--data", str(fer_csv), "--model", models[0], "--model", models[1],
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    alone = runner.invoke(app, ["evaluate", "--data", str(fer_csv), "--model", models[0], "--out",
                                str(tmp_path / "alone")])
    assert alone.exit_code == 0, alone.output
    # each model's outputs are those of its evaluation alone
    assert (out / models[0] / "predictions.csv").read_bytes() == (tmp_path / "alone" / "predictions.csv").read_bytes()
    assert {p.name for p in out.iterdir()} == {*models, "comparison.md", "comparison.csv", "comparison.json"}
    for name in models:
        assert {p.name for p in (out / name).iterdir()} == {"metrics.json", "predictions.csv", "report.md",
                                                             "confusion.png"}
    table = pd.read_csv(out / "comparison.csv")
    assert list(table["model"]) == models and list(table["n"]) == [200, 200]
    # the shipped models within the package, not where it is installed (the user's home folder)
    assert list(table["model_folder"]) == [f"fervid/weights/{name}" for name in models]
    for name, row in zip(models, table.itertuples()):
        metrics = json.loads((out / name / "metrics.json").read_text(encoding="utf-8"))
        assert row.accuracy == round(metrics["accuracy"], 4) and row.f1_happy == metrics["f1"][3]
        assert [row.accuracy_ci95_low, row.accuracy_ci95_high] == metrics["accuracy_ci95"]
    # the paired test counts, face by face, the faces only one model got right
    right = {name: (lambda p: (p["label"] == p["predicted"]).to_numpy())(pd.read_csv(out / name / "predictions.csv"))
             for name in models}
    only_first, only_second = int((right[models[0]] & ~right[models[1]]).sum()), \
        int((~right[models[0]] & right[models[1]]).sum())
    paired = json.loads((out / "comparison.json").read_text(encoding="utf-8"))["paired"]
    assert len(paired) == 1 and paired[0]["first"] == models[0] and paired[0]["second"] == models[1]
    assert paired[0]["discordant"] == [only_first, only_second] and paired[0]["n"] == 200
    assert paired[0]["mcnemar_p"] == pytest.approx(binomtest(only_second, only_first + only_second).pvalue)
    assert paired[0]["difference"] == pytest.approx(right[models[1]].mean() - right[models[0]].mean(), abs=1e-4)
    printed = result.stdout
    assert f"## {models[0]} vs {models[1]} on fer2013:PublicTest" in printed and "| McNemar p |" in printed
    assert printed.index("wrote " + str(out / models[1])) < printed.index("| first | second |")
    assert (out / "comparison.md").read_text(encoding="utf-8") in printed.replace(f"wrote {out}", "")
    for args, message in (
        (["--model", models[0], "--model", models[0]], "--model fer2013_vgg is given 2 times"),
        (["--model", models[0], "--model", models[1], "--write-card"], "--write-card writes one model's card"),
        (["--model", models[0], "--model", models[1], "--dataset", "video"], "--dataset video scores one model's"),
    ):
        refused = runner.invoke(app, ["evaluate", "--data", str(fer_csv), *args])
        assert refused.exit_code == 2 and message in refused.output, (args, refused.output)
    copy = tmp_path / "copy"
    from fervid.inference.models import resolve_model_dir

    shutil.copytree(resolve_model_dir(models[0]), copy)
    same_name = runner.invoke(app, ["evaluate", "--data", str(fer_csv), "--model", models[0], "--model", str(copy)])
    assert same_name.exit_code == 2 and "each is a model called fer2013_vgg" in same_name.output, same_name.output


def test_evaluate_says_when_the_faces_chose_the_models_epoch_or_fitted_its_temperature(tmp_path, fer_csv):
    """Scored on the faces its best epoch was chosen on, or its temperature fitted on (the shipped models: FER2013's
    PublicTest), a model's numbers read better than on new faces, and evaluate said nothing of it. With the labels
    they were chosen or fitted by: ferplus_vgg's temperature was fitted with FER+'s labels, and by FER2013's its
    calibration reads worse, not better (the notice said it read better)."""
    from conftest import synthetic_faces, write_ferplus_votes
    from fervid.emotions import EMOTIONS
    from fervid.inference.models import resolve_model_dir

    votes = write_ferplus_votes(fer_csv, tmp_path / "votes.csv")
    # ferplus_vgg was exported from its last epoch (training_summary.json): PublicTest chose no epoch of it, and a
    # fitted temperature changes no label. fer2013_vgg's fitted temperature was not applied.
    for model, labels, said, flattered in (
            ("ferplus_vgg", ["--dataset", "ferplus", "--ferplus", str(votes)],
             ["its temperature was fitted on FER2013's PublicTest faces with FER+'s labels (calibration.json)"],
             "its calibration on these faces reads better"),
            ("ferplus_vgg", ["--dataset", "fer2013"], [], None),
            ("fer2013_vgg", ["--dataset", "fer2013"],
             ["the model's best epoch was chosen on FER2013's PublicTest faces with FER2013's labels (val_usage and "
              "val_labels in its training_config.json)"],
             "its accuracy and calibration on these faces read better"),
            ("fer2013_vgg", ["--dataset", "ferplus", "--ferplus", str(votes)], [], None)):
        out = tmp_path / f"{model}_{labels[1]}"
        result = runner.invoke(app, ["evaluate", "--data", str(fer_csv), *labels, "--model", model, "--out", str(out)])
        assert result.exit_code == 0, result.output
        metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        if said:
            assert f"notice: {' and '.join(said)}: {flattered}" in result.stderr  # (as every command's notices)
            assert metrics["not_held_out"] == said
            assert flattered in (out / "report.md").read_text(encoding="utf-8")
        else:
            assert "notice" not in result.output and "not_held_out" not in metrics, (model, labels, result.output)
    from conftest import write_fer2013_csv

    private = write_fer2013_csv(tmp_path / "private.csv", {"Training": 10, "PrivateTest": 30})
    held_out = runner.invoke(app, ["evaluate", "--data", str(private), "--usage", "PrivateTest", "--out",
                                   str(tmp_path / "private")])
    assert held_out.exit_code == 0 and "notice" not in held_out.output, held_out.output
    assert "not_held_out" not in json.loads((tmp_path / "private" / "metrics.json").read_text(encoding="utf-8"))
    # a model of yours: the folder that chose its epoch, and the one its temperature was fitted on
    folders = {}
    for name, seed in (("chose", 1), ("fitted", 2), ("new", 3)):
        for i, (image, label) in enumerate(zip(*synthetic_faces(14, seed=seed))):
            (tmp_path / name / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(tmp_path / name / EMOTIONS[label] / f"{i}.png")
        folders[name] = tmp_path / name
    model = tmp_path / "mine"
    shutil.copytree(resolve_model_dir("ferplus_vgg"), model)
    (model / "training_config.json").write_text(json.dumps({"data": str(tmp_path / "taught"), "data_kind": "folder",
                                                            "val_data": str(folders["chose"])}), encoding="utf-8")
    (model / "calibration.json").write_text(json.dumps({"applied": True, "settings": {
        "data": str(folders["fitted"])}}), encoding="utf-8")
    (model / "training_summary.json").write_text(json.dumps({"exported_checkpoint": "best.pt"}), encoding="utf-8")
    for name, said in (("chose", f"the model's best epoch was chosen on {folders['chose']} (val_data in its "
                                 "training_config.json): its accuracy and calibration"),
                       ("fitted", f"its temperature was fitted on {folders['fitted']} (calibration.json): its "
                                  "calibration on these faces reads better"),
                       ("new", None)):
        result = runner.invoke(app, ["evaluate", "--data", str(folders[name]), "--model", str(model)])
        assert result.exit_code == 0, result.output
        assert (f"notice: {said}" in result.stderr) if said else "notice" not in result.output, (name, result.output)
    # exported from its last epoch, whatever its validation faces said
    (model / "training_summary.json").write_text(json.dumps({"exported_checkpoint": "last.pt"}), encoding="utf-8")
    last = runner.invoke(app, ["evaluate", "--data", str(folders["chose"]), "--model", str(model)])
    assert last.exit_code == 0 and "notice" not in last.output, last.output


def test_evaluate_quiet_prints_no_bar_and_no_summary_but_its_warnings(tmp_path, fer_csv):
    """`-q` (as image, video and batch take it) was an unknown option of evaluate."""
    out = tmp_path / "ev"
    result = runner.invoke(app, ["evaluate", "--data", str(fer_csv), "--usage", "Training", "--model", "fer2013_vgg",
                                 "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == \
        "warning: the model was trained on FER2013's Training faces: this accuracy says how well it fits its " \
        "training faces, not how it does on faces it has not seen\n", result.stderr
    assert {p.name for p in out.iterdir()} == {"metrics.json", "predictions.csv", "report.md", "confusion.png"}
    several = runner.invoke(app, ["evaluate", "--data", str(fer_csv), "--model", "fer2013_vgg", "--model",
                                  "ferplus_vgg", "--out", str(tmp_path / "two"), "-q"])
    assert several.exit_code == 0 and several.stdout == "", several.output
    # each model's notice, said of it by name (ferplus_vgg's temperature was fitted with FER+'s labels: none here)
    assert [line.split(": ")[:2] for line in several.stderr.splitlines()] == [["notice", "fer2013_vgg"]]
    assert (tmp_path / "two" / "comparison.md").is_file()
    nothing = runner.invoke(app, ["evaluate", "--data", str(fer_csv), "--quiet"])
    assert nothing.exit_code == 2 and "--quiet prints no scores: give --out" in nothing.output


def test_serve_says_when_it_cannot_listen_before_claiming_to_serve():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        taken.listen()
        result = runner.invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "serving on" not in result.output
    for port in ("0", "70000"):
        result = runner.invoke(app, ["serve", "--port", port])
        assert result.exit_code == 2 and "--port" in result.output


def test_export_names_a_file_that_is_not_a_checkpoint(tmp_path):
    pytest.importorskip("torch")
    import torch

    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("not a checkpoint", encoding="utf-8")
    torch.save({"epoch": 3}, run / "other.pt")
    # (a file that is not there is the command line's mistake, exit 2; one that is there and is not one, 1)
    for checkpoint, message, code in (("notes.txt", "not a torch checkpoint", 1),
                                      ("other.pt", "not a checkpoint written by `fervid train`", 1),
                                      ("none.pt", "no checkpoint", 2)):
        result = runner.invoke(app, ["export", str(run), "--checkpoint", checkpoint, "--out", str(tmp_path / "m")])
        assert result.exit_code == code and f"{run / checkpoint}: {message}" in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert not (tmp_path / "m").exists()


def test_export_names_a_run_folder_that_is_not_there_and_a_checkpoint_given_without_pt(tmp_path):
    """`fervid export runs/nonexist` said "runs/nonexist/best.pt: no checkpoint", and `--checkpoint best`
    "runs/R2/best: no checkpoint", though runs/R2/best.pt was there."""
    pytest.importorskip("torch")
    run = tmp_path / "R2"
    run.mkdir()
    for name in ("best.pt", "last.pt"):
        (run / name).write_bytes(b"")
    missing = runner.invoke(app, ["export", str(tmp_path / "nonexist"), "--out", str(tmp_path / "m")])
    assert missing.exit_code == 2 and missing.output.strip() == f"error: {tmp_path / 'nonexist'}: no such run folder"
    short = runner.invoke(app, ["export", str(run), "--checkpoint", "best", "--out", str(tmp_path / "m")])
    assert short.exit_code == 2 and short.output.strip() == (f"error: --checkpoint best: {run} has no file best; give "
                                                             "the checkpoint's file name, best.pt"), short.output
    other = runner.invoke(app, ["export", str(run), "--checkpoint", "peer.pt", "--out", str(tmp_path / "m")])
    assert other.exit_code == 2 and other.output.strip() == (f"error: {run / 'peer.pt'}: no checkpoint (train first, "
                                                             f"or pick --checkpoint: {run} holds best.pt, last.pt)")
    assert not (tmp_path / "m").exists()


def test_video_and_live_without_the_annotated_copy_write_everything_else(tmp_path, face_clip):
    for command in (["video", str(face_clip), "-q"], ["live", "--source", str(face_clip), "--seconds", "1.5"]):
        out = tmp_path / command[0]
        result = runner.invoke(app, [*command, "--no-annotate", "--out", str(out)])
        assert result.exit_code == 0, result.output
        written = {p.name for p in out.iterdir()}
        assert not any(name.endswith(".mp4") for name in written), written
        assert {"face_clip_frames.csv", "face_clip_frames.parquet", "face_clip_tracks.json",
                "face_clip_track1_timeline.png"} <= written
        assert any(name.startswith("face_clip_track1_0") for name in written)  # a key frame
        assert "annotated" not in result.output  # nor is one announced


def test_an_out_and_a_video_whose_names_start_with_a_dash_are_not_read_as_ffmpeg_options(tmp_path, monkeypatch, face_clip):
    """`fervid video clip.mp4 --out -res` broke the annotated MP4: ffmpeg read its path, -res/clip_annotated.mp4, as
    an option. So would a video in a folder named -in have been read."""
    import cv2

    monkeypatch.chdir(tmp_path)
    (tmp_path / "-in").mkdir()
    shutil.copy(face_clip, tmp_path / "-in" / "clip.mp4")
    result = runner.invoke(app, ["video", "--out", "-res", "--method", "frame", "--key-frames", "0", "--end", "1",
                                 "-q", "--", "-in/clip.mp4"])
    assert result.exit_code == 0, result.output
    video = cv2.VideoCapture(str(tmp_path / "-res" / "clip_annotated.mp4"))
    assert video.isOpened() and int(video.get(cv2.CAP_PROP_FRAME_COUNT)) >= 25
    assert json.loads((tmp_path / "-res" / "clip_tracks.json").read_text(encoding="utf-8"))["ok"]


def test_a_video_whose_name_has_a_colon_is_read_as_a_file_not_a_protocol(tmp_path, monkeypatch, face_clip):
    """FFmpeg (OpenCV's and the ffmpeg binary's) reads a name with a ":" before its first "/" as a protocol's URL:
    `fervid video take:1.mp4`, or a macOS name with a "/" typed in the Finder (`3:4:2024 interview.mp4`), said
    "not a video". Read as the files they are, with their sound; the outputs keep the names as given."""
    import cv2
    import imageio_ffmpeg

    monkeypatch.chdir(tmp_path)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(face_clip), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=2", "-t", "1", "-c:v", "copy", "-c:a", "aac", "./take:1.mp4"],
                   check=True)
    shutil.copy("take:1.mp4", "3:4:2024 interview.mp4")
    result = runner.invoke(app, ["video", "--out", "res", "--method", "frame", "--key-frames", "0", "-q",
                                 "take:1.mp4", "3:4:2024 interview.mp4"])
    assert result.exit_code == 0, result.output
    for stem in ("take:1", "3:4:2024 interview"):
        saved = json.loads((tmp_path / "res" / f"{stem}_tracks.json").read_text(encoding="utf-8"))
        assert saved["ok"] and saved["file"] == f"{stem}.mp4" and saved["frames_analysed"] >= 25
        video = cv2.VideoCapture(str(tmp_path / "res" / f"{stem}_annotated.mp4"))
        assert video.isOpened() and int(video.get(cv2.CAP_PROP_FRAME_COUNT)) >= 25
        probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i",
                                str(tmp_path / "res" / f"{stem}_annotated.mp4")], capture_output=True, text=True,
                                encoding="utf-8")
        assert "Audio: aac" in probe.stderr, probe.stderr  # its sound, read by the ffmpeg binary


def test_progress_in_a_log_is_a_few_plain_lines_and_quiet_means_one_thing_everywhere(tmp_path, astronaut_png, face_clip):
    """With stderr in a log (here: not a terminal) a video wrote 28 carriage-return redraws in 4 s, batch two a
    second and live a \\r fps line every second; TQDM_DISABLE=1 did nothing; and --quiet left video's summary on
    stdout where image's --quiet left none."""
    import sys

    fast = ["--no-annotate", "--method", "frame", "--key-frames", "0"]
    commands = {"video": ["video", str(face_clip), *fast, "--out"],
                "batch": ["batch", str(face_clip), *fast, "--out"],
                "live": ["live", "--source", str(face_clip), "--seconds", "1.5", *fast, "--out"],
                "image": ["image", str(astronaut_png), str(astronaut_png), "--annotate"]}
    for name, command in commands.items():
        result = runner.invoke(app, [*command, str(tmp_path / name)])
        assert result.exit_code == 0 and "\r" not in result.output, (name, result.output)
        assert result.stdout, name  # the summary
        quiet = runner.invoke(app, [*command, str(tmp_path / f"{name}_quiet"), "-q"])
        assert quiet.exit_code == 0 and quiet.output == "", (name, quiet.output)
    bars = [line for line in runner.invoke(app, [*commands["video"], str(tmp_path / "v2")]).stderr
            .splitlines() if line.startswith("face_clip.mp4: ")]
    assert len(bars) == 2 and "100%" in bars[1], bars  # as it starts and as it ends (4 s: no line in between)
    done = subprocess.run([sys.executable, "-m", "fervid", *commands["video"], str(tmp_path / "v3")],
                          capture_output=True, text=True,
                          encoding="utf-8", timeout=300, env={**os.environ, "TQDM_DISABLE": "1"})
    assert done.returncode == 0 and done.stderr == "" and f"face_clip.mp4: {FACE_CLIP_FRAMES} frames " in done.stdout, done.stderr


def test_key_frames_0_writes_none_and_a_negative_number_is_refused_by_every_command(tmp_path, face_clip):
    """A 90-minute class of 26 wrote about 31,000 key frames, and only the annotated MP4 could be left out.
    --key-frames 0: video and headless live write every other output, and list each episode with key_frame null."""
    for command in (["video", str(face_clip), "-q"], ["live", "--source", str(face_clip), "--seconds", "1.5"]):
        out = tmp_path / command[0]
        result = runner.invoke(app, [*command, "--no-annotate", "--key-frames", "0", "--out", str(out)])
        assert result.exit_code == 0, result.output
        written = {p.name for p in out.iterdir()}
        assert {"face_clip_frames.parquet", "face_clip_tracks.json",
                "face_clip_track1_timeline.png"} <= written
        assert not any(name.startswith("face_clip_track1_0") for name in written), written
        summary = json.loads((out / "face_clip_tracks.json").read_text(encoding="utf-8"))
        episodes = [ep for track in summary["tracks"] for ep in track["episodes"]]
        assert summary["key_frames"] == 0 and all(ep["key_frame"] is None for ep in episodes)
        assert any(ep["end"] - ep["start"] >= 0.5 for ep in episodes)  # one that would have had a key frame
        assert "key frames *_track" not in result.output  # video's last line lists what it wrote
    for command in (["video", str(face_clip), "--out"], ["live", "--source", str(face_clip), "--out"],
                    ["batch", str(face_clip), "--out"], ["serve", "--data-dir"]):
        result = runner.invoke(app, [*command, str(tmp_path / "refused"), "--key-frames", "-1"])
        assert result.exit_code == 2 and "--key-frames" in result.output, (command, result.output)
        assert not (tmp_path / "refused").exists()


def test_inputs_of_one_name_in_different_folders_keep_their_own_outputs(tmp_path, astronaut_rgb, face_clip):
    """sessions/p01/cam.mp4 and sessions/p02/cam.mp4 wrote to the same cam_* files: the second overwrote the first
    and the first's key frames stayed beside the second's tables."""
    for person in ("p01", "p02"):
        (tmp_path / "sessions" / person).mkdir(parents=True)
        (tmp_path / "sessions" / person / "cam.mp4").write_bytes(face_clip.read_bytes())
        Image.fromarray(astronaut_rgb).save(tmp_path / "sessions" / person / "IMG_1.png")
    result = runner.invoke(app, ["video", str(tmp_path / "sessions"), "--no-annotate",
                                 "--out", str(tmp_path / "v")])
    assert result.exit_code == 0, result.output
    assert "outputs named p01_cam_*" in result.output and "outputs named p02_cam_*" in result.output
    for person in ("p01", "p02"):
        tracks = json.loads((tmp_path / "v" / f"{person}_cam_tracks.json").read_text(encoding="utf-8"))
        assert tracks["file"] == str(tmp_path / "sessions" / person / "cam.mp4")
    assert not list((tmp_path / "v").glob("cam_*"))
    result = runner.invoke(app, ["image", str(tmp_path / "sessions"), "--annotate", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["p01_IMG_1_fervid.png", "p02_IMG_1_fervid.png"]


def test_annotating_into_a_read_only_folder_fails_at_once(read_only_dir, astronaut_png):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "fervid.apps.cli", "image", str(astronaut_png), "--annotate",
                           str(read_only_dir)], capture_output=True, text=True, encoding="utf-8", timeout=120)
    # it used to report success: cv2.imwrite returns False instead of raising
    assert done.returncode == 1 and f"error: {read_only_dir}: cannot write in this folder" in done.stderr


def test_a_second_run_does_not_analyse_the_first_runs_outputs(tmp_path, astronaut_rgb, face_clip):
    """`fervid video rec/ --out rec/results` run twice analysed rec/results/a_annotated.mp4 the second time."""
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "a.mp4").write_bytes(face_clip.read_bytes())
    Image.fromarray(astronaut_rgb).save(rec / "p.png")
    for _ in range(2):
        result = runner.invoke(app, ["video", str(rec), "--out", str(rec / "results"), "--method", "frame"])
        assert result.exit_code == 0 and result.output.count(f"a.mp4: {FACE_CLIP_FRAMES} frames ") == 1, result.output
        result = runner.invoke(app, ["image", str(rec), "--annotate", str(rec / "ann"), "-q"])
        assert result.exit_code == 0, result.output
    assert not list((rec / "results").glob("*_annotated_annotated.mp4"))
    assert not list((rec / "ann").glob("*_fervid_fervid.png"))
    result = runner.invoke(app, ["image", str(rec / "ann" / "*.png"), "--annotate", str(rec / "ann"), "-q"])
    assert result.exit_code == 1 and "pattern matches only fervid's own outputs of an earlier run" in result.output
    # a file named on its own is always an input, even one fervid wrote
    result = runner.invoke(app, ["image", str(rec / "ann" / "p_fervid.png"), "--annotate", str(rec / "ann"), "-q"])
    assert result.exit_code == 0 and (rec / "ann" / "p_fervid_fervid.png").is_file()


def test_inputs_with_the_longest_legal_names_are_analysed(tmp_path, astronaut_png, face_clip):
    """A 244-byte file name (legal: 255) failed `fervid video` ("..._frames.partial.csv: File name too long") and
    `fervid batch`, and `fervid image --annotate --crops` with a raw [Errno 36]: their outputs' names are cut to
    fit (fervid.inference.images.fitted_stem), the same in every run."""
    from fervid.inference.images import fitted_stem

    clip, photo = tmp_path / ("v" * 240 + ".mp4"), tmp_path / ("é" * 124 + ".png")  # 244 and 252 bytes
    clip.write_bytes(face_clip.read_bytes())
    photo.write_bytes(astronaut_png.read_bytes())
    out = ["-q", "--no-annotate", "--method", "frame", "--key-frames", "1"]
    result = runner.invoke(app, ["video", str(clip), "--out", str(tmp_path / "v"), *out])
    assert result.exit_code == 0, result.output
    tracks = json.loads((tmp_path / "v" / f"{fitted_stem(clip.stem)}_tracks.json").read_text(encoding="utf-8"))
    assert tracks["file"] == str(clip)
    for _ in range(2):  # again: its outputs replaced under the same names
        result = runner.invoke(app, ["image", str(photo), "--annotate", str(tmp_path / "a"), "--crops",
                                     str(tmp_path / "c"), "-q"])
        assert result.exit_code == 0, result.output
        assert [p.name for p in (tmp_path / "a").iterdir()] == [f"{fitted_stem(photo.stem)}_fervid.png"]
        assert [p.name for p in (tmp_path / "c").iterdir()] == [f"{fitted_stem(photo.stem)}_face1.png"]
    result = runner.invoke(app, ["batch", str(clip), str(photo), "--out", str(tmp_path / "b"), "-q"])
    assert result.exit_code == 0, result.output


def test_non_ascii_names_under_a_latin_1_locale(tmp_path, long_face_clip):
    """Under LC_ALL=de_DE.ISO-8859-1, `fervid video clip.mp4 --out uo-ünï/vid` failed in pyarrow ("Failed to open
    local file ...partial.parquet": pyarrow encodes a path as UTF-8, and the folder's name is Latin-1 text to
    Python), and OpenCV did not find `clïp.mp4` ("not a video"), `fervid batch` alike. A name whose bytes are not
    UTF-8 is refused by name."""
    import sys

    import pandas as pd

    if not shutil.which("localedef") or not Path("/usr/share/i18n/locales/de_DE").is_file():
        pytest.skip("localedef and glibc's locale sources make the Latin-1 locale")
    locales = tmp_path / "locales"
    locales.mkdir()
    subprocess.run(["localedef", "-i", "de_DE", "-f", "ISO-8859-1", str(locales / "de_DE.ISO-8859-1")],
                   check=False, capture_output=True)  # (exit 1 with warnings, the locale made)
    env = {**os.environ, "LOCPATH": str(locales), "LC_ALL": "de_DE.ISO-8859-1"}
    env.pop("PYTHONUTF8", None)
    check = subprocess.run([sys.executable, "-c", "import sys; print(sys.getfilesystemencoding())"], env=env,
                           capture_output=True, text=True, encoding="utf-8")
    if check.stdout.strip() != "iso8859-1":
        pytest.skip(f"the Latin-1 locale could not be made: {check.stdout} {check.stderr}")
    clip = tmp_path / "clïp.mp4"  # UTF-8 bytes, as a UTF-8 system names it
    clip.write_bytes(long_face_clip.read_bytes())
    latin = tmp_path / os.fsdecode("lat-\xe9.mp4".encode("latin-1"))  # bytes no UTF-8 system wrote
    latin.write_bytes(long_face_clip.read_bytes())
    fervid = [sys.executable, "-m", "fervid"]
    quick = ["-q", "--no-annotate", "--method", "frame", "--key-frames", "0"]
    out = tmp_path / "uo-ünï"
    done = subprocess.run([*fervid, "video", str(clip), "--out", str(out / "vid"), *quick], env=env,
                          capture_output=True)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(out / "vid" / "clïp_frames.parquet")) > 100
    # its name recorded as the file system's UTF-8 bytes read it, not as the locale's "clÃ¯p.mp4"
    assert json.loads((out / "vid" / "clïp_tracks.json").read_text(encoding="utf-8"))["file"] == f"{clip}"
    done = subprocess.run([*fervid, "video", str(clip), "--out", str(out / "vid"), *quick], env=env,
                          capture_output=True)
    assert (done.returncode, done.stderr) == (0, b"")  # its own outputs replaced, not said as another video's
    # the frames table read back, by VideoResult.frame_table() and by evaluate's --results (pyarrow was given the
    # path: "Failed to open local file")
    read_back = ("import sys\n"
                 "from pathlib import Path\n"
                 "from fervid.evaluation.segments import frames_from_results\n"
                 "from fervid.inference.analyzer import Analyzer\n"
                 "from fervid.inference.video import VideoAnalyzer, VideoOptions\n"
                 "clip, out = Path(sys.argv[1]), Path(sys.argv[2])\n"
                 "result = VideoAnalyzer(Analyzer(), VideoOptions(method='frame', annotate=False)).run(clip, out)\n"
                 "tables, failed, _ = frames_from_results(out, [clip.resolve()])\n"
                 "print(len(result.frame_table()), len(tables[clip.resolve()].table), failed)\n")
    done = subprocess.run([sys.executable, "-c", read_back, str(clip), str(out / "api")], env=env,
                          capture_output=True)
    assert done.returncode == 0, done.stderr
    rows, scored, failed = done.stdout.decode().split(maxsplit=2)
    assert int(rows) > 100 and scored == rows and failed.strip() == "{}", done.stdout
    done = subprocess.run([*fervid, "batch", str(clip), "--out", str(out / "batch"), "-q", "--no-annotate"], env=env,
                          capture_output=True)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(out / "batch" / "dataset.parquet")) > 100
    assert set(pd.read_parquet(out / "batch" / "dataset.parquet")["file"]) == {f"{clip}"}
    assert pd.read_csv(out / "batch" / "files.csv")["file"].tolist() == [f"{clip}"]
    done = subprocess.run([*fervid, "video", str(latin), "--out", str(tmp_path / "v2"), *quick], env=env,
                          capture_output=True)
    assert done.returncode == 1 and b"OpenCV, which reads videos, opens only names whose bytes are UTF-8, and this " \
                                      b"one's are iso8859-1 (the locale's); rename the file" in done.stderr


def test_another_videos_outputs_of_the_same_name_are_kept(tmp_path, face_clip):
    """`fervid video p01/cam.mp4 --out res` then `fervid video p02/cam.mp4 --out res` replaced p01's outputs, with
    only a notice on stderr: p02's are now named apart, as two cam.mp4 analysed together are."""
    for person in ("p01", "p02"):
        (tmp_path / person).mkdir()
        (tmp_path / person / "cam.mp4").write_bytes(face_clip.read_bytes())
    res = tmp_path / "res"
    out = ["--out", str(res), "-q", "--no-annotate", "--method", "frame", "--key-frames", "0"]

    def source_of(stem):
        return json.loads((res / f"{stem}_tracks.json").read_text(encoding="utf-8"))["file"]

    assert runner.invoke(app, ["video", str(tmp_path / "p01" / "cam.mp4"), *out]).output == ""
    again = runner.invoke(app, ["video", str(tmp_path / "p01" / "cam.mp4"), *out])  # the same video: replaced
    assert again.exit_code == 0 and again.output == ""
    other = runner.invoke(app, ["video", str(tmp_path / "p02" / "cam.mp4"), *out])
    assert other.exit_code == 0
    assert other.output == (f"notice: {tmp_path / 'p02' / 'cam.mp4'}: {res}/ holds the outputs of "
                            f"{tmp_path / 'p01' / 'cam.mp4'} named cam_*, which are kept; this video's are named "
                            "p02_cam_*\n")
    assert source_of("cam") == str(tmp_path / "p01" / "cam.mp4")
    assert source_of("p02_cam") == str(tmp_path / "p02" / "cam.mp4")
    for person in ("p02", "p01"):  # each analysed again keeps its own names, said by nothing
        result = runner.invoke(app, ["video", str(tmp_path / person / "cam.mp4"), *out])
        assert result.exit_code == 0 and result.output == "", result.output
    assert sorted(p.name for p in res.glob("*_tracks.json")) == ["cam_tracks.json", "p02_cam_tracks.json"]
    from fervid.inference.images import stem_not_taken

    # the rule, where the name is taken again: a folder more, never one the name carries already, then a counter
    cam = tmp_path / "sess_1" / "p02" / "cam.mp4"
    assert stem_not_taken(cam, "p02_cam", {"p02_cam"}) == "sess_1_p02_cam"
    assert stem_not_taken(cam, "cam", {"cam", "p02_cam"}) == "sess_1_p02_cam"
    assert stem_not_taken(Path("/cam.mp4"), "cam", {"cam", "cam-2"}) == "cam-3"


# a user id no system account has: files handed to it are another user's, named "uid 54321"
STRANGER = 54321
as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                             reason="hands files to another user (chown): root only")


def _hand_over(paths, mode: int) -> None:
    """``paths`` made another user's (STRANGER's), of ``mode``: a colleague's outputs in a folder a group shares."""
    for path in paths:
        os.chown(path, STRANGER, -1)
        path.chmod(mode)


def _unreadable(monkeypatch, *unreadable: Path) -> None:
    """Reading ``unreadable`` (Path.read_text, open) fails as a file of mode 0600 another user owns fails to: as
    root every file can be read, and a chmod stops nothing."""
    import builtins

    read_text, open_file = Path.read_text, builtins.open
    refused = {str(path) for path in unreadable}

    def refuse(path):
        if str(path) in refused:
            raise PermissionError(13, "Permission denied", str(path))

    def read_text_refused(self, *args, **kwargs):
        refuse(self)
        return read_text(self, *args, **kwargs)

    def open_refused(file, *args, **kwargs):
        refuse(file)
        return open_file(file, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text_refused)
    monkeypatch.setattr(builtins, "open", open_refused)


@as_root
def test_another_users_video_outputs_are_kept_whether_readable_or_not(tmp_path, monkeypatch, face_clip):
    """A lab server: student1 ran `fervid video u1/session1.mp4 --out shared/res` under `umask 077`, then student2
    ran `fervid video u2/session1.mp4 --out shared/res`: student1's tracks JSON could not be read, so the name
    looked free, and all of student1's session1_* were deleted and replaced without a word. Outputs that cannot be
    read, and another user's of the same video too (a rename in the group's folder moved them to student2, their key
    frames deleted), are kept: this run's are named apart, and said so."""
    for person in ("u1", "u2"):
        (tmp_path / person).mkdir()
        (tmp_path / person / "session1.mp4").write_bytes(face_clip.read_bytes())
    res = tmp_path / "res"
    out = ["--out", str(res), "-q", "--no-annotate", "--method", "frame", "--key-frames", "0"]
    assert runner.invoke(app, ["video", str(tmp_path / "u1" / "session1.mp4"), *out]).exit_code == 0
    theirs = sorted(res.glob("session1_*"))
    before = {path: path.read_bytes() for path in theirs}
    _hand_over(theirs, 0o600)
    with monkeypatch.context() as patched:
        _unreadable(patched, *theirs)
        other = runner.invoke(app, ["video", str(tmp_path / "u2" / "session1.mp4"), *out])
    assert other.exit_code == 0, other.output
    assert other.output == (f"notice: {tmp_path / 'u2' / 'session1.mp4'}: {res}/ holds outputs this user cannot "
                            f"read (owned by uid {STRANGER}, mode 0600) named session1_*, which are kept; this "
                            "video's are named u2_session1_*\n")
    assert {path: path.read_bytes() for path in res.glob("session1_*")} == before
    assert all(path.stat().st_uid == STRANGER for path in theirs)
    assert (res / "u2_session1_tracks.json").is_file()
    # readable, and of the very video this user analyses: still theirs, kept
    _hand_over(theirs, 0o644)
    again = runner.invoke(app, ["video", str(tmp_path / "u1" / "session1.mp4"), *out])
    assert again.exit_code == 0, again.output
    assert again.output == (f"notice: {tmp_path / 'u1' / 'session1.mp4'}: {res}/ holds uid {STRANGER}'s outputs of "
                            f"{tmp_path / 'u1' / 'session1.mp4'} named session1_*, which are kept; this video's are "
                            "named u1_session1_*\n")
    assert {path: path.read_bytes() for path in res.glob("session1_*")} == before
    # each run again of this user's own replaces its own outputs, under the name they got
    assert runner.invoke(app, ["video", str(tmp_path / "u1" / "session1.mp4"), *out]).output == ""
    assert sorted(p.name for p in res.glob("*_tracks.json")) == [
        "session1_tracks.json", "u1_session1_tracks.json", "u2_session1_tracks.json"]


@as_root
def test_another_users_annotated_copies_are_kept_whether_readable_or_not(tmp_path, astronaut_png, monkeypatch):
    """`fervid image --annotate` replaced another user's 0600 pic_fervid.png (it could not be read, so it recorded no
    image); the notice of a name taken said "in ann and ann" where --annotate and --crops were one folder."""
    for person in ("u1", "u2"):
        (tmp_path / person).mkdir()
        shutil.copy(astronaut_png, tmp_path / person / "pic.png")
    ann = tmp_path / "ann"
    args = ["--annotate", str(ann), "--crops", str(ann), "-q"]
    assert runner.invoke(app, ["image", str(tmp_path / "u1" / "pic.png"), *args]).exit_code == 0
    theirs = sorted(ann.glob("pic_*"))
    assert [p.name for p in theirs] == ["pic_face1.png", "pic_fervid.png"]
    before = {path: path.read_bytes() for path in theirs}
    _hand_over(theirs, 0o600)
    with monkeypatch.context() as patched:
        _unreadable(patched, *theirs)
        other = runner.invoke(app, ["image", str(tmp_path / "u2" / "pic.png"), *args])
    assert other.exit_code == 0, other.output
    assert other.output == (f"notice: {tmp_path / 'u2' / 'pic.png'}: its outputs are named u2_pic (in {ann}, pic "
                            f"names outputs this user cannot read (owned by uid {STRANGER}, mode 0600))\n")
    assert {path: path.read_bytes() for path in ann.glob("pic_*")} == before
    assert (ann / "u2_pic_fervid.png").is_file() and (ann / "u2_pic_face1.png").is_file()


@as_root
def test_outputs_another_user_writes_under_an_images_name_during_the_run_are_kept(tmp_path, astronaut_png,
                                                                                monkeypatch):
    """`fervid image` chose its outputs' names before analysing the images; student1's pic_fervid.png and
    pic_face1.png, written into the shared folder while student2's run analysed pic.png, were replaced without a
    word. They are asked again as each image's pictures are written, as a video's are under its lock: kept, this
    image's named apart, and said so."""
    from fervid.inference import images
    from fervid.inference.annotate import write_image

    (tmp_path / "u2").mkdir()
    shutil.copy(astronaut_png, tmp_path / "u2" / "pic.png")
    ann = tmp_path / "ann"
    theirs = [ann / "pic_fervid.png", ann / "pic_face1.png"]
    load_image = images.load_image

    def student1_writes_meanwhile(path, **limits):
        ann.mkdir(exist_ok=True)
        for picture in theirs:
            write_image(picture, np.zeros((8, 8), np.uint8), text={images.ANNOTATED_SOURCE_KEY: "0" * 32})
        _hand_over(theirs, 0o644)
        return load_image(path, **limits)

    monkeypatch.setattr(images, "load_image", student1_writes_meanwhile)
    ran = runner.invoke(app, ["image", str(tmp_path / "u2" / "pic.png"), "--annotate", str(ann), "--crops", str(ann),
                              "-q"])
    assert ran.exit_code == 0, ran.output
    assert all(path.stat().st_uid == STRANGER for path in theirs)
    assert all(np.asarray(Image.open(path)).max() == 0 for path in theirs)  # theirs, as written
    assert ran.output == (f"notice: {tmp_path / 'u2' / 'pic.png'}: its outputs are named u2_pic (in {ann}, pic "
                          f"names uid {STRANGER}'s outputs, written during this run)\n")
    assert (ann / "u2_pic_fervid.png").is_file() and (ann / "u2_pic_face1.png").is_file()


def test_an_image_whose_lock_file_is_another_users_is_named_apart_not_left_unwritten(tmp_path, astronaut_png,
                                                                                      unprivileged):
    """A colleague's `fervid video cam.mp4 --out shared/` holds shared/.cam.lock, 0644 under umask 022: this user may
    not open it to write, and `fervid image cam.png --annotate shared` said "Permission denied" and wrote no picture
    (exit 1). The image is named apart, as where another run of this user holds the lock."""
    import shutil

    shared = tmp_path / "shared"
    shared.mkdir()
    image = tmp_path / "cam.png"
    shutil.copy(astronaut_png, image)
    lock = shared / ".cam.lock"
    lock.write_text("12345", encoding="utf-8")
    lock.chmod(0o444)
    done = subprocess.run([*unprivileged, sys.executable, "-m", "fervid", "image", str(image), "--annotate",
                           str(shared)], capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert done.returncode == 0, done.stderr
    written = [path.name for path in shared.iterdir() if path.name.endswith("_fervid.png")]
    assert len(written) == 1 and written[0] != "cam_fervid.png", written
    assert "cam names outputs another fervid run is writing" in done.stderr and "Permission denied" not in done.stderr, \
        done.stderr
    assert lock.read_text(encoding="utf-8") == "12345"


def test_two_image_runs_at_once_writing_one_name_each_keep_their_own_outputs(tmp_path, astronaut_rgb, monkeypatch,
                                                                            capsys):
    """`fervid image a/img.png --annotate ann --crops ann` and, at the same moment, `fervid image b/img.png` with the
    same folders: both found img_* free, and the one that wrote last replaced the other's img_fervid.png and
    img_face1.png without a word. The name is asked and written under its lock (``.img.lock``, as a video's
    outputs'): the run that finds it held waits, then names its own apart."""
    import threading

    from typer.main import get_command

    from fervid.inference import images

    face = astronaut_rgb[60:250, 150:330]
    for folder, shade in (("a", 0), ("b", 40)):  # two images, one name
        (tmp_path / folder).mkdir()
        Image.fromarray(np.clip(face.astype(int) + shade, 0, 255).astype(np.uint8)).resize((96, 96)).save(
            tmp_path / folder / "img.png")
    ann = tmp_path / "ann"
    # each run, once it finds a name free, waits for the other to find one too: as two runs checking at once do
    both_checked, in_the_way = threading.Barrier(2, timeout=60), images.outputs_in_the_way

    def check_then_wait(*args, **kwargs):
        found = in_the_way(*args, **kwargs)
        if found is None:
            both_checked.wait()
        return found

    monkeypatch.setattr(images, "outputs_in_the_way", check_then_wait)
    # (the other holds it until both have checked; raising=False: the test fails as it should without the lock)
    monkeypatch.setattr(images, "PHOTO_LOCK_WAIT_S", 0.5, raising=False)
    codes: dict[str, object] = {}

    def run(folder: str) -> None:
        codes[folder] = get_command(app).main(["image", str(tmp_path / folder / "img.png"), "--face-crops",
                                               "--annotate", str(ann), "--crops", str(ann), "-q"],
                                              standalone_mode=False)

    threads = [threading.Thread(target=run, args=(folder,)) for folder in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert codes == {"a": None, "b": None}
    assert len(list(ann.glob("*_fervid.png"))) == 2  # (one, written twice, without the lock)
    said = capsys.readouterr().err
    (apart,) = [folder for folder in ("a", "b") if f"{tmp_path / folder / 'img.png'}: its outputs are named" in said]
    assert said == (f"notice: {tmp_path / apart / 'img.png'}: its outputs are named {apart}_img (in {ann}, img names "
                    "outputs another fervid run is writing)\n")
    # two images' outputs, each recording its own image: neither written over
    assert sorted(p.name for p in ann.iterdir()) == sorted(
        ["img_face1.png", "img_fervid.png", f"{apart}_img_face1.png", f"{apart}_img_fervid.png"])
    first = "b" if apart == "a" else "a"
    for stem, folder in (("img", first), (f"{apart}_img", apart)):
        for picture in (f"{stem}_fervid.png", f"{stem}_face1.png"):
            assert images.recorded_source(ann / picture) == images.source_id(tmp_path / folder / "img.png"), picture


def test_an_image_whose_name_a_video_analysis_holds_is_named_apart_at_once(tmp_path, astronaut_png, monkeypatch):
    """`fervid image cam.png --annotate out` while a video analysis writes out/cam_* (its lock, .cam.lock, held for
    minutes) waited out its 5 s for it, then named its pictures apart. The lock says who holds it: a video's is not
    waited for; another photo run's (its pictures written in milliseconds) still is, and the name is then its."""
    import threading
    import time

    from fervid.inference import images
    from fervid.inference.video import outputs_lock

    out = tmp_path / "out"
    out.mkdir()
    image = tmp_path / "cam.png"
    Image.open(astronaut_png).resize((256, 256)).save(image)
    monkeypatch.setattr(images, "PHOTO_LOCK_WAIT_S", 30.0)  # (a wait the video's lock would show)
    photo_run = images.photo_outputs_lock("cam", [out])
    photo_run.__enter__()
    threading.Timer(1.0, photo_run.__exit__, args=(None, None, None)).start()
    waited = runner.invoke(app, ["image", str(image), "--annotate", str(out), "-q"])
    assert waited.exit_code == 0, waited.output
    assert sorted(p.name for p in out.iterdir()) == ["cam_fervid.png"], waited.output  # its own name, once free
    (out / "cam_fervid.png").unlink()
    with outputs_lock(out, "cam"):  # as `fervid video cam.mp4 --out out` holds it
        assert (out / ".cam.lock").read_text(encoding="utf-8") == f"{os.getpid()} video"
        started = time.monotonic()
        apart = runner.invoke(app, ["image", str(image), "--annotate", str(out)])
        seconds = time.monotonic() - started
    assert apart.exit_code == 0, apart.output
    assert seconds < 10, seconds  # the image's analysis alone; it waited 30 s (PHOTO_LOCK_WAIT_S) for the lock
    assert (f"its outputs are named {tmp_path.name}_cam (in {out}, cam names outputs a fervid video analysis is "
            "writing)") in " ".join(apart.output.split()), apart.output
    assert [p.name for p in out.iterdir()] == [f"{tmp_path.name}_cam_fervid.png"]


def test_fervid_demo_keeps_another_images_annotated_copy_and_another_users_outputs(tmp_path, astronaut_png):
    """`fervid demo --out shared` replaced whatever astronaut_fervid.png, astronaut.png and astronaut.json were
    there: `fervid image`'s annotated copy of another astronaut.png, a colleague's demo outputs. It keeps them as
    `fervid image` keeps its outputs, and names its own apart."""
    out = tmp_path / "shared"
    mine = tmp_path / "mine" / "astronaut.png"
    mine.parent.mkdir()
    Image.open(astronaut_png).resize((256, 256)).save(mine)
    assert runner.invoke(app, ["image", str(mine), "--annotate", str(out), "-q"]).exit_code == 0
    theirs = out / "astronaut_fervid.png"
    before = theirs.read_bytes()
    demo = runner.invoke(app, ["demo", "--no-video", "--out", str(out)])
    assert demo.exit_code == 0, demo.output
    assert theirs.read_bytes() == before
    assert (f"notice: {out}/ holds another image's outputs named astronaut*, which are kept; the astronaut photo's "
            "are named shared_astronaut*\n") in demo.output
    assert sorted(p.name for p in out.iterdir()) == ["astronaut_fervid.png", "shared_astronaut.json",
                                                     "shared_astronaut.png", "shared_astronaut_fervid.png"]
    assert Image.open(out / "shared_astronaut_fervid.png").size == (512, 512)
    assert json.loads((out / "shared_astronaut.json").read_text(encoding="utf-8"))["files"][0]["faces"]
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    # a colleague's demo outputs (only its JSON, or its photo): kept too; this user's own are replaced
    for handed in ("shared_astronaut.json", "shared_astronaut.png"):
        _hand_over([out / handed], 0o644)
        again = runner.invoke(app, ["demo", "--no-video", "--out", str(out)])
        assert again.exit_code == 0, again.output
        # (the next name: the folder above; the second time, this user's own outputs there, replaced)
        assert (f"notice: {out}/ holds uid {STRANGER}'s outputs named shared_astronaut*, which are kept; the "
                f"astronaut photo's are named {tmp_path.name}_shared_astronaut*\n") in again.output
        assert (out / handed).stat().st_uid == STRANGER
    assert sorted(p.name for p in out.glob("*_fervid.png")) == [
        "astronaut_fervid.png", "shared_astronaut_fervid.png", f"{tmp_path.name}_shared_astronaut_fervid.png"]


def test_fervid_demo_writes_its_json_through_a_temporary_file(tmp_path):
    """`fervid demo` wrote astronaut.json in place (O_TRUNC), unlike every other output: a link planted under its
    name in a shared folder was written through."""
    elsewhere = tmp_path / "bashrc"
    elsewhere.write_text("kept", encoding="utf-8")
    out = tmp_path / "demo"
    out.mkdir()
    (out / "astronaut.json").symlink_to(elsewhere)
    result = runner.invoke(app, ["demo", "--no-video", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert elsewhere.read_text(encoding="utf-8") == "kept" and not (out / "astronaut.json").is_symlink()
    assert json.loads((out / "astronaut.json").read_text(encoding="utf-8"))["files"][0]["faces"]


def test_permission_refused_says_whose_the_folder_is(tmp_path, unprivileged, face_clip):
    """A lab server: `fervid video x --out vid`, vid/ a colleague's of mode 2755, said only "error:
    vid/.face_clip.lock: Permission denied"; `fervid serve` on another user's fervid-data (0700), "error:
    --data-dir: path 'fervid-data' is not readable."; `fervid calibrate --model <read-only install>/...` only
    "cannot write .../config.json", without the advice it gives for a shipped model's name."""
    from fervid.inference.models import resolve_model_dir

    if os.geteuid() != 0:
        pytest.skip("hands folders to another user (chown): root only")
    vid, data, model = tmp_path / "vid", tmp_path / "fervid-data", tmp_path / "install" / "ferplus_vgg"
    vid.mkdir()
    data.mkdir()
    shutil.copytree(resolve_model_dir("ferplus_vgg"), model)
    (tmp_path / "faces" / "happy").mkdir(parents=True)
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(tmp_path / "faces" / "happy" / "0.png")
    _hand_over([vid], 0o2755)
    _hand_over([data], 0o700)
    for path in model.iterdir():
        path.chmod(0o444)
    model.chmod(0o555)
    video = _fervid_as(unprivileged, "video", str(face_clip), "--out", str(vid), "-q")
    serve = _fervid_as(unprivileged, "serve", "--data-dir", str(data), "--port", "1")
    calibrate = _fervid_as(unprivileged, "calibrate", "--model", str(model), "--data", str(tmp_path / "faces"))
    assert video.returncode == 1 and video.stderr == (
        f"error: {vid / '.face_clip.lock'}: Permission denied (its folder {vid}/ is owned by uid {STRANGER}, "
        "mode 2755; ask its owner to let the group write it (`chmod g+w`, and to run fervid under `umask 002` in a "
        f"folder a group shares), or use a folder of your own) (writing {face_clip}'s outputs)\n")
    assert serve.returncode == 2 and serve.stderr == (
        f"error: --data-dir {data}: another user's server data (owned by uid {STRANGER}, mode 0700); give a folder "
        "of your own (--data-dir ~/fervid-data)\n")
    assert calibrate.returncode == 1 and calibrate.stderr == (
        f"error: --model {model / 'config.json'}: cannot write {model / 'config.json'} (owned by you, mode 0444; its "
        f"folder {model}/ is owned by you, mode 0555); "
        "calibrate rewrites a model folder's config.json; to calibrate a shipped model, copy its folder and give the "
        "copy's path\n")


def test_two_runs_never_write_one_videos_outputs_at_once(tmp_path, face_clip):
    """Two `fervid video` runs into one --out at once mixed one video's outputs (the CSV from one run, the JSON
    from the other, an unreadable Parquet, 3 key frames with --key-frames 2), both exiting 0. A run on another
    video in that folder goes on."""
    from fervid.folder_lock import FolderLocked
    from fervid.inference.video import outputs_lock

    other = tmp_path / "other.mp4"
    other.write_bytes(face_clip.read_bytes())
    res = tmp_path / "res"
    args = ["video", str(face_clip), str(other), "--out", str(res), "--no-annotate", "--method", "frame", "-q"]
    with outputs_lock(res, "face_clip"):  # another run is writing them
        result = runner.invoke(app, args)
        assert result.exit_code == 75, result.output  # EX_TEMPFAIL: a scheduler tries it again later
        assert result.output == (f"error: {res}: another fervid run (pid {os.getpid()}, this process) is writing "
                                 "face_clip_* there; run this again once it is done, or give another output "
                                 "folder\n")
        assert not list(res.glob("face_clip_*")) and (res / "other_tracks.json").is_file()
    assert runner.invoke(app, args).exit_code == 0  # released
    assert not list(res.glob(".*.lock"))  # a lock is there while its outputs are written, and not left beside them
    # a run that chose its name before another wrote another video's outputs under it refuses, not replaces
    tracks = json.loads((res / "other_tracks.json").read_text(encoding="utf-8"))
    (res / "other_tracks.json").write_text(json.dumps({**tracks, "file": str(tmp_path / "x" / "other.mp4")}),
                                           encoding="utf-8")
    with pytest.raises(FolderLocked, match=r"another fervid run wrote the outputs of .*x/other.mp4 as other_\* while "):
        with outputs_lock(res, "other", other):
            pass


def test_fervid_video_says_once_what_its_window_holds_and_records_it(tmp_path, face_clip):
    """`--sample-fps 1` with a 1 s window left the moving average nothing to smooth, without a word, and the tracks
    JSON did not say what a window held; the summary line did not name the method or window. --method MEAN was an
    unknown method."""
    for name in ("a", "b"):
        shutil.copy(face_clip, tmp_path / f"{name}.mp4")
    out = tmp_path / "o"
    result = runner.invoke(app, ["video", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "--sample-fps", "1",
                                 "--method", "MEAN", "--no-annotate", "--key-frames", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    notice = ("notice: at 1 analysed frame a second (1 s apart), a 1 s centred window holds 1 analysed frame: "
              "--method mean has nothing to smooth")
    assert result.output.count(notice) == 1  # once for the run, not once a video
    assert "1 track(s) by mean, 1 s centred window (1 analysed frame)" in result.output
    saved = json.loads((out / "a_tracks.json").read_text(encoding="utf-8"))
    assert saved["method"] == "mean" and saved["window"] == 1.0 and saved["frames_per_window"] == 1
    (track,) = saved["tracks"]  # its span holds the time seen (it ended at its last row's time: 0.0-3.0 s, seen 4.0)
    assert track["end"] - track["start"] == pytest.approx(track["seen_seconds"], abs=1e-3)
    assert f"  track 1: 0.0-{track['end']:.1f} s (seen {track['seen_seconds']:.1f} s)" in result.output
    fp32 = runner.invoke(app, ["video", str(tmp_path / "a.mp4"), "--precision", "fp32", "--sample-fps", "5", "-q",
                               "--no-annotate", "--key-frames", "0", "--out", str(tmp_path / "fp32")])
    assert fp32.exit_code == 0, fp32.output
    assert ("notice: the temporal LSTM temporal_lstm_ferplus_vgg learnt from the features of CNN ferplus_vgg's int8 "
            "graph model_int8.onnx, and this analysis runs its fp32 graph model.onnx") in fp32.output


def test_evaluate_on_video_takes_the_window_and_detection_rate_video_does(tmp_path, face_clip):
    """`fervid evaluate --dataset video` had no --window and no --detect-every: its video labels could not be
    scored at the settings `fervid video` was run with."""
    shutil.copy(face_clip, tmp_path / "cam.mp4")
    (tmp_path / "ann.csv").write_text("video,start,end,emotion\ncam.mp4,0,4,neutral\n", encoding="utf-8")
    args = ["evaluate", "--dataset", "video", "--data", str(tmp_path / "ann.csv")]
    result = runner.invoke(app, [*args, "--method", "mean", "--sample-fps", "5", "--window", "0.5", "--detect-every",
                                 "0.5", "--out", str(tmp_path / "eval"), "-q"])
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))["settings"]
    assert settings["window"] == 0.5 and settings["detect_every"] == 0.5 and settings["method"] == "mean"
    default = runner.invoke(app, [*args, "--method", "mean", "--sample-fps", "5", "--out", str(tmp_path / "e2"), "-q"])
    assert default.exit_code == 0, default.output
    settings = json.loads((tmp_path / "e2" / "metrics.json").read_text(encoding="utf-8"))["settings"]
    assert settings["window"] == 1.0 and settings["detect_every"] == 0.3  # the options' defaults, as video's
    for option in ("--window", "--detect-every"):
        other = runner.invoke(app, ["evaluate", "--dataset", "fer2013", "--data", str(tmp_path / "ann.csv"), option,
                                    "0.5"])
        assert other.exit_code == 2 and f"{option} is for --dataset video, not fer2013" in other.output
        earlier = runner.invoke(app, [*args, "--results", str(tmp_path), option, "0.5"])
        assert earlier.exit_code == 2 and f"{option} with --results: the labels in" in earlier.output


def test_evaluate_on_video_reads_an_annotations_table_excel_for_mac_saved(tmp_path, astronaut_rgb):
    """Excel for Mac's "Comma Separated Values" is Mac Roman, its lines ended by CR alone: `fervid evaluate --dataset
    video` read its `café.mp4` as cp1252, "cafŽ.mp4", and found no such video."""
    write_participant_behind_small_face(tmp_path / "café.mp4", astronaut_rgb, 20)
    annotations = tmp_path / "segs.csv"
    annotations.write_bytes("video,start,end,emotion\rcafé.mp4,0,0.8,happy\r".encode("mac_roman"))
    result = runner.invoke(app, ["evaluate", "--dataset", "video", "--data", str(annotations), "--method", "mean",
                                 "--sample-fps", "5", "--out", str(tmp_path / "eval"), "-q"])
    assert result.exit_code == 0, result.output
    scored = list(csv.DictReader(io.StringIO((tmp_path / "eval" / "segments.csv").read_text(encoding="utf-8"))))
    assert [(row["video"], row["start"], row["end"], row["label"]) for row in scored] == [
        (str(tmp_path / "café.mp4"), "0.0", "0.8", "happy")]


def test_evaluate_on_video_keeps_what_the_window_left_the_lstm_with_the_scores(tmp_path, face_clip):
    """At --sample-fps 2 the LSTM's labels are outside what it learnt: a fresh analysis said so on stderr only
    (metrics.json's warnings empty, report.md silent), and scores read from such a run's folder (--results) not at
    all."""
    shutil.copy(face_clip, tmp_path / "cam.mp4")
    (tmp_path / "ann.csv").write_text("video,start,end,emotion\ncam.mp4,0,2,neutral\n", encoding="utf-8")
    args = ["evaluate", "--dataset", "video", "--data", str(tmp_path / "ann.csv"), "-q"]
    said = ("at 2 analysed frames a second (0.5 s apart), a 1 s centred window holds 3 analysed frames: the LSTM "
            "learnt from frames at most 0.3 s apart, so its labels here are outside what it learnt")
    fresh = runner.invoke(app, [*args, "--sample-fps", "2", "--out", str(tmp_path / "fresh")])
    assert fresh.exit_code == 0 and fresh.output.count(said) == 1, fresh.output
    video = runner.invoke(app, ["video", str(tmp_path / "cam.mp4"), "--sample-fps", "2", "--no-annotate",
                                "--key-frames", "0", "-q", "--out", str(tmp_path / "run")])
    assert video.exit_code == 0, video.output
    read = runner.invoke(app, [*args, "--results", str(tmp_path / "run"), "--out", str(tmp_path / "read")])
    assert read.exit_code == 0 and read.output.count(said) == 1, read.output
    for out, prefix in (("fresh", ""), ("read", f"the analysis that wrote {tmp_path / 'run'}: ")):
        (warning,) = json.loads((tmp_path / out / "metrics.json").read_text(encoding="utf-8"))["warnings"]
        assert warning.startswith(prefix + said)
        assert f"warning: {warning}" in (tmp_path / out / "report.md").read_text(encoding="utf-8")


def test_evaluate_on_video_counts_the_videos_that_gave_a_scored_segment(tmp_path, face_clip):
    """"1 of 2 segment(s) scored, in 2 of 2 video(s)" counted the videos analysed, one of which gave no segment."""
    for name in ("a", "b"):
        shutil.copy(face_clip, tmp_path / f"{name}.mp4")
    (tmp_path / "ann.csv").write_text("video,start,end,emotion\na.mp4,0,4,neutral\nb.mp4,9,10,happy\n",
                                      encoding="utf-8")  # b's segment starts after its end (4 s)
    video = runner.invoke(app, ["video", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "--sample-fps", "5",
                                "--no-annotate", "--key-frames", "0", "-q", "--out", str(tmp_path / "run")])
    assert video.exit_code == 0, video.output
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "ann.csv"), "--results", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "1 of 2 segment(s) scored, in 1 of 2 video(s);" in result.output


def test_evaluate_on_video_resamples_videos_or_participants_not_segments_of_one(tmp_path, astronaut_rgb):
    """10 segments of one video were "bootstrap over 10 segments", an interval read as if of ten people. The
    intervals now resample videos (participants, where the table names them), each with all its segments and frames;
    with too few of those they resample segments and say that they describe those videos' (people's) segments only,
    in the printed lines and metrics.json."""
    import cv2
    import pandas as pd

    from conftest import clip_writer

    face = cv2.cvtColor(astronaut_rgb[20:240, 120:330], cv2.COLOR_RGB2BGR)
    names = "abcde"
    for name in names:  # 3 s of her smiling face, a video each
        writer = clip_writer(tmp_path / f"{name}.mp4", 640, 480, 10.0)
        for i in range(30):
            frame = np.full((480, 640, 3), 90, np.uint8)
            frame[100:320, 200 + i : 410 + i] = face
            writer.write(frame)
        writer.close()
    video = runner.invoke(app, ["video", *(str(tmp_path / f"{name}.mp4") for name in names), "--sample-fps", "5",
                                "--no-annotate", "--key-frames", "0", "-q", "--out", str(tmp_path / "run")])
    assert video.exit_code == 0, video.output
    # each video: a segment labelled happy (her smile), one labelled sad; participants P1 (a, b, c) and P2 (d, e)
    lines = [(name, start, end, emotion, "P1" if name in "abc" else "P2") for name in names
             for start, end, emotion in ((0, 1.5, "happy"), (1.5, 3, "sad"))]
    one_video = [("a", start / 2, (start + 1) / 2, "happy" if start % 2 else "sad", "P1") for start in range(6)]

    def scored(table, rows, header="video,start,end,emotion"):
        columns = header.count(",") + 1
        (tmp_path / table).write_text(header + "\n" + "".join(
            ",".join([f"{row[0]}.mp4", *map(str, row[1:columns])]) + "\n" for row in rows), encoding="utf-8")
        result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / table), "--results", str(tmp_path / "run"),
                                     "--out", str(tmp_path / table.replace(".", "_"))])
        assert result.exit_code == 0, result.output
        metrics = json.loads((tmp_path / table.replace(".", "_") / "metrics.json").read_text(encoding="utf-8"))
        return result.output, metrics

    output, metrics = scored("videos.csv", lines)
    assert metrics["intervals"]["resampled"] == "videos" and metrics["intervals"]["videos"] == 5
    assert metrics["intervals"]["participants"] is None
    for unit in ("per_frame", "per_segment"):  # (the per-segment interval was Wilson's over 10 segments)
        assert metrics[unit]["ci_method"].endswith(" over 5 videos") and metrics[unit]["accuracy_ci95"], metrics[unit]
    assert "10 of 10 segment(s) scored, in 5 of 5 video(s);" in output
    assert "the intervals resample the 5 videos, each with all its segments and frames" in output

    output, metrics = scored("people.csv", lines, "video,start,end,emotion,participant")
    assert metrics["intervals"] == {
        "resampled": "segments", "videos": 5, "participants": 2,
        "note": "the intervals are over the segments of 2 participants (participants too few for an interval over them: 5 are "
                "needed): they describe these participants' segments only, and cannot be carried to other people"}
    assert "in 5 of 5 video(s), of 2 participant(s);" in output and metrics["intervals"]["note"] in output
    assert metrics["per_frame"]["ci_method"].endswith(" over 10 segments, of 2 participants only"), metrics
    assert metrics["per_segment"]["ci_method"].endswith(", of 2 participants only"), metrics
    written = pd.read_csv(tmp_path / "people_csv" / "segments.csv")
    assert written["participant"].tolist() == [row[4] for row in lines]

    output, metrics = scored("carphone.csv", one_video)  # one person's video cut in 6: no other person measured
    assert metrics["intervals"]["resampled"] == "segments" and metrics["intervals"]["videos"] == 1
    assert metrics["per_frame"]["ci_method"].endswith(" over 6 segments, of 1 video only"), metrics
    assert ("the intervals are over the segments of 1 video (videos too few for an interval over them: 5 are needed): they describe "
            "this video's segments only, and cannot be carried to other people") in output
    assert ", of 1 video only)" in output


def test_evaluate_on_video_says_a_videos_missing_results_once(tmp_path):
    """A video with no outputs in --results was an error line, and again inside the last one's "no annotated
    segment could be scored (...)"."""
    for name in ("a", "b"):
        (tmp_path / f"{name}.mp4").write_bytes(b"")
    (tmp_path / "ann.csv").write_text("video,start,end,emotion\na.mp4,0,1,happy\nb.mp4,0,1,sad\n", encoding="utf-8")
    (tmp_path / "run").mkdir()
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "ann.csv"), "--results", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    for name in ("a", "b"):
        assert result.output.count(f"video {tmp_path / name}.mp4: no fervid video outputs for it") == 1, result.output
    assert result.output.rstrip().endswith("ann.csv: no annotated segment could be scored (the error(s) above)")


@pytest.mark.parametrize("header", ["file,start,end,emotion", "path,start,end,label", "File Name,start,end,emotion",
                                    "File Path\tBegin Time - msec\tEnd Time - msec\tEmotion"])
def test_an_annotations_table_whose_video_column_is_file_or_path_is_read_as_annotations(tmp_path, header):
    """`--data ann.csv` with a `file` (or `path`, ELAN's `File Name`) column beside start and end was taken for a
    label table of images: "no readable image listed", and --margin "is for --dataset video, not folder"."""
    separator = "\t" if "\t" in header else ","
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "ann.csv").write_text(f"{header}\n" + separator.join(["clip.mp4", "0", "1000", "happy"]) + "\n",
                                      encoding="utf-8")
    (tmp_path / "run").mkdir()
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "ann.csv"), "--results", str(tmp_path / "run"),
                                 "--margin", "0.1"])
    assert result.exit_code == 1, result.output
    assert f"video {tmp_path / 'clip.mp4'}: no fervid video outputs for it in {tmp_path / 'run'}" in result.output


def test_evaluate_reads_an_annotations_table_saved_as_unicode_text_without_dataset(tmp_path):
    """Excel's "Unicode Text" (UTF-16, tab-separated) with the default --dataset auto: "not a readable FER2013 CSV
    ('utf-8' codec can't decode byte 0xff ...)", though --dataset video read it."""
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "ann.txt").write_text("video\tstart\tend\temotion\r\nclip.mp4\t0\t0.3\tneutral\r\n", encoding="utf-16")
    (tmp_path / "run").mkdir()
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "ann.txt"), "--results", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    assert "FER2013" not in result.output
    assert f"video {tmp_path / 'clip.mp4'}: no fervid video outputs for it in {tmp_path / 'run'}" in result.output


def test_headless_live_records_how_far_its_labels_trail(tmp_path, face_clip):
    """The label delay of a causal window was said on stderr only: the tracks JSON had centred_window false and no
    delay."""
    result = runner.invoke(app, ["live", "--source", str(face_clip), "--method", "lstm", "--seconds", "1.5",
                                 "--no-annotate", "--key-frames", "0", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "trails a change of expression by about 0.5 s" in result.output
    saved = json.loads(next((tmp_path / "o").glob("*_tracks.json")).read_text(encoding="utf-8"))
    assert saved["centred_window"] is False and saved["labels_delay_seconds"] == 0.5


def test_fervid_video_and_the_api_never_write_one_videos_outputs_at_once(tmp_path, face_clip):
    """`fervid video` run while a notebook's analyze_video wrote the same video's outputs into that folder: both
    said they were done, and the folder had no frames table. The command is refused with exit 75 while the API's
    run writes, and that run's outputs are whole."""
    import sys
    import threading

    import pandas as pd

    import fervid

    writing, release, results = threading.Event(), threading.Event(), []

    def hold(done, total):
        if done == 1:
            writing.set()
            assert release.wait(120)

    analyzer = fervid.Analyzer()
    settings = dict(method="frame", annotate=False)
    thread = threading.Thread(target=lambda: results.append(
        analyzer.analyze_video(face_clip, tmp_path, progress=hold, **settings)))
    thread.start()
    try:
        assert writing.wait(120)
        done = subprocess.run([sys.executable, "-m", "fervid", "video", str(face_clip), "--out", str(tmp_path),
                               "--no-annotate", "--method", "frame", "-q"], capture_output=True, text=True,
                               encoding="utf-8",
                              timeout=300)
    finally:
        release.set()
        thread.join()
    assert done.returncode == 75, done.stderr
    assert done.stderr == (f"error: {tmp_path}: another fervid run (pid {os.getpid()}) is writing face_clip_* "
                           "there; run this again once it is done, or give another output folder\n")
    (result,) = results
    assert result.ok and len(result.frame_table()) == len(pd.read_csv(tmp_path / "face_clip_frames.csv"))
    assert result.frames_analysed == FACE_CLIP_FRAMES and not list(tmp_path.glob("*.partial.*"))


# what `fervid image` says each results file's name should be
EXPECTED_NAME = {"--json": "a .json file name", "--csv": "a .csv (or .txt) file name",
                 "--parquet": "a .parquet (or .pq, .parq) file name"}


def test_results_are_never_written_over_an_image(tmp_path, astronaut_png, without_heif_decoder):
    """`fervid image --json a.jpg b.jpg` (the JSON file's name forgotten) wrote JSON over the photo a.jpg."""
    photo = tmp_path / "a.jpg"
    photo.write_bytes(astronaut_png.read_bytes())
    for option in ("--json", "--csv"):
        result = runner.invoke(app, ["image", option, str(photo), str(astronaut_png)])
        assert result.exit_code == 2 and f"{option} {photo}: expected {EXPECTED_NAME[option]}, not" in result.output
    assert photo.read_bytes() == astronaut_png.read_bytes()
    # an iPhone photo's name too, on an install without the `heic` extra to read it
    result = runner.invoke(app, ["image", "--json", str(tmp_path / "IMG_0001.HEIC"), str(astronaut_png)])
    assert result.exit_code == 2 and "not an image's" in result.output and not (tmp_path / "IMG_0001.HEIC").exists()


def test_a_results_file_with_an_extension_after_its_own_is_told_to_drop_it(tmp_path, astronaut_png):
    """`--csv out.csv.gz` was told "name it out.csv.csv", `--json out.JSON.bak` "out.JSON.json": the extension after
    the right one is the problem. A JSON Lines or a tab-separated name is still refused (fervid writes one JSON
    document, and commas)."""
    for option, name, todo in (("--csv", "out.csv.gz", "drop the .gz after its .csv: name it out.csv"),
                               ("--json", "out.JSON.bak", "drop the .bak after its .JSON: name it out.JSON"),
                               ("--parquet", "faces.pq.zip", "drop the .zip after its .pq: name it faces.pq"),
                               ("--json", "out.jsonl", "name it out.json"), ("--csv", "out.tsv", "name it out.csv"),
                               ("--csv", "out.txt.xlsx", "drop the .xlsx after its .txt: name it out.txt")):
        target = str(tmp_path / name)
        result = runner.invoke(app, ["image", "-q", str(astronaut_png), option, target])
        assert result.exit_code == 2, (option, name, result.output)
        assert result.output.startswith(f"error: {option} {target}: expected {EXPECTED_NAME[option]}, not a "
                                        f"{Path(name).suffix} one (") and result.output.endswith(f"; {todo})\n")
        assert not Path(target).exists()


def test_results_files_may_have_their_formats_common_other_extensions(tmp_path, astronaut_png):
    """--csv faces.txt (spreadsheets import a .txt as CSV) and --parquet faces.pq or .parq were refused as other
    formats' names. A .txt there already is written over only where it is a CSV table fervid wrote (notes are
    not)."""
    import pandas as pd

    args = ["image", "-q", str(astronaut_png), "--csv", str(tmp_path / "faces.txt"), "--parquet",
            str(tmp_path / "faces.pq")]
    for run in range(2):  # a second run replaces the first's
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (run, result.output)
    assert pd.read_csv(tmp_path / "faces.txt")["face"].tolist() == [1]
    assert pd.read_parquet(tmp_path / "faces.pq")["face"].tolist() == [1]
    result = runner.invoke(app, ["image", "-q", str(astronaut_png), "--parquet", str(tmp_path / "faces.parq")])
    assert result.exit_code == 0 and pd.read_parquet(tmp_path / "faces.parq")["face"].tolist() == [1]
    (tmp_path / "notes.txt").write_text("P3 smiled at 0:41\n")
    result = runner.invoke(app, ["image", "-q", str(astronaut_png), "--csv", str(tmp_path / "notes.txt")])
    assert result.exit_code == 2 and result.output == (
        f"error: --csv {tmp_path / 'notes.txt'}: {tmp_path / 'notes.txt'} exists and is not a CSV table fervid wrote "
        "(the results would be written over it): name another file\n")
    assert (tmp_path / "notes.txt").read_text() == "P3 smiled at 0:41\n"


def test_a_new_results_file_named_for_another_format_is_refused(tmp_path, astronaut_png):
    """`fervid image --csv "my faces.xlsx"` wrote CSV text into an .xlsx file (Excel refused to open it) and `--json
    new.csv` JSON into a .csv: an extension was checked only against an existing file's. Refused before any work,
    naming the option, the file and the extension expected; a name without an extension, and stdout, as ever."""
    for option, name in (("--csv", "my faces.xlsx"), ("--json", "new.csv"), ("--parquet", "rows.csv"),
                         ("--csv", "faces.json")):
        target = str(tmp_path / name)
        result = runner.invoke(app, ["image", "-q", str(astronaut_png), option, target])
        assert result.exit_code == 2, (option, name, result.output)
        suffix = Path(name).suffix
        assert result.output.strip() == (
            f"error: {option} {target}: expected {EXPECTED_NAME[option]}, not a {suffix} one ({option} writes "
            f"{'Parquet' if option == '--parquet' else option[2:].upper()}, which a program opening a {suffix} file "
            f"would not read; name it {Path(name).stem}.{option[2:]})")
        assert not Path(target).exists()
    result = runner.invoke(app, ["image", "-q", str(astronaut_png), "--csv", str(tmp_path / "FACES.CSV"),
                                 "--json", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "FACES.CSV", newline="", encoding="utf-8") as fh:
        assert next(csv.DictReader(fh))["face"] == "1"
    assert json.loads((tmp_path / "results").read_text())["files"][0]["faces"]
    result = runner.invoke(app, ["image", str(astronaut_png), "--csv", "-"])
    assert result.exit_code == 0 and result.output.startswith("file,"), result.output


def test_a_results_name_whose_last_suffix_is_a_version_or_a_date_is_a_name_without_an_extension(tmp_path,
                                                                                                astronaut_png):
    """`fervid image --csv results.v1.2` was refused as "not a .2 one": a version's or a date's digits name no
    format. Such a name is written as one without an extension is; a format's extension after it is still judged."""
    import pandas as pd

    targets = {"--csv": tmp_path / "results.v1.2", "--json": tmp_path / "results.v2",
               "--parquet": tmp_path / "faces.2024-05-01"}
    result = runner.invoke(app, ["image", "-q", str(astronaut_png),
                                 *[part for option, target in targets.items() for part in (option, str(target))]])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(targets["--csv"])["face"].tolist() == [1]
    assert json.loads(targets["--json"].read_text())["files"][0]["faces"]
    assert pd.read_parquet(targets["--parquet"])["face"].tolist() == [1]
    target = str(tmp_path / "results.v1.2.xlsx")
    result = runner.invoke(app, ["image", "-q", str(astronaut_png), "--csv", target])
    assert result.exit_code == 2 and result.output.startswith(f"error: --csv {target}: expected "
                                                              f"{EXPECTED_NAME['--csv']}, not a .xlsx one ("), \
        result.output


def test_results_are_never_written_over_any_other_file_nor_as_a_folders_name(tmp_path, astronaut_png):
    """`fervid image -q a.avif --json precious.mp4` wrote JSON over the video (only image names were refused), and
    `--csv a.avif` over the AVIF; `--json out/` wrote a file named out, `--csv out/` failed after the analysis."""
    precious = {name: bytes([n]) * 100 for n, name in enumerate(("precious.mp4", "notes", "r.json", "p.docx"))}
    for name, data in precious.items():
        (tmp_path / name).write_bytes(data)
    for option, name in (("--json", "precious.mp4"), ("--csv", "precious.mp4"), ("--parquet", "notes"),
                         ("--csv", "r.json"), ("--json", "p.docx")):
        target = str(tmp_path / name)
        result = runner.invoke(app, ["image", "-q", str(astronaut_png), option, target])
        assert result.exit_code == 2, (option, name, result.output)
        assert f"{option} {target}: expected {EXPECTED_NAME[option]}: {target} exists" in result.output
    for option in ("--json", "--csv", "--parquet"):
        for target in (str(tmp_path / "new") + "/", str(tmp_path)):
            result = runner.invoke(app, ["image", "-q", str(astronaut_png), option, target])
            assert result.exit_code == 2 and f"{option} {target}: a folder; {option} takes a file name" in result.output
    assert not (tmp_path / "new").exists()
    assert {name: (tmp_path / name).read_bytes() for name in precious} == precious
    # its own kind is replaced, as ever, and so is a device
    result = runner.invoke(app, ["image", "-q", str(astronaut_png), "--json", str(tmp_path / "r.json"),
                                 "--csv", os.devnull])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["files"][0]["faces"]


def test_an_animated_image_or_multi_page_tiff_is_said_to_be_read_at_its_first_frame(tmp_path, astronaut_rgb):
    """`fervid image anim.gif` analysed frame 1 alone without a word: a GIF with its face on frame 2 had "no face"."""
    face, blank = Image.fromarray(astronaut_rgb), Image.new("RGB", (512, 512), (128, 128, 128))
    for name in ("a_blank_first.gif", "b.png", "c.webp", "d.tif"):
        blank.save(tmp_path / name, save_all=True, append_images=[face], duration=200)
    face.save(tmp_path / "e_still.gif")
    result = runner.invoke(app, ["image", str(tmp_path / "a_blank_first.gif"), str(tmp_path / "e_still.gif")])
    assert result.exit_code == 0 and f"{tmp_path / 'a_blank_first.gif'}: 0 face(s): no face found" in result.output
    assert result.output.count("notice:") == 1
    assert (f"notice: {tmp_path / 'a_blank_first.gif'}: an animated GIF: analysed frame 1 of 2 (`fervid video` reads "
            "every frame)") in result.output
    result = runner.invoke(app, ["image", "-q", "--json", os.devnull,
                                 *(str(tmp_path / n) for n in ("c.webp", "d.tif", "e_still.gif"))])
    assert result.exit_code == 0 and result.output.count("notice:") == 2, result.output
    assert ("an animated WebP: analysed frame 1 of 2 (`fervid video` cannot decode an animated WebP's frames: "
            "convert it to GIF or MP4 to analyse them all)") in result.output
    assert "d.tif: a multi-page TIFF: analysed page 1 of 2" in result.output
    # many: three lines, and a count of the others
    result = runner.invoke(app, ["image", "-q", "--json", os.devnull, str(tmp_path)])
    assert result.output.count("notice:") == 4 and "notice: 1 more animated or multi-page images" in result.output


def test_fervid_video_says_opencv_cannot_decode_an_animated_webp_or_a_tiff_stack(tmp_path, astronaut_rgb):
    """`fervid video anim.webp` said "no video frames could be decoded (corrupt?)" of a sound file."""
    import shlex

    face, blank = Image.fromarray(astronaut_rgb), Image.new("RGB", (512, 512), (128, 128, 128))
    blank.save(tmp_path / "anim.webp", save_all=True, append_images=[face], duration=200)
    result = runner.invoke(app, ["video", "-q", str(tmp_path / "anim.webp"), "--out", str(tmp_path / "v")])
    assert result.exit_code == 1
    assert (f"error: {tmp_path / 'anim.webp'}: an animated WebP, whose frames OpenCV cannot decode: convert it to MP4 "
            "with the ffmpeg binary fervid runs (") in result.output and "corrupt" not in result.output
    # the command it gives (ImageMagick's, before, though fervid's own ffmpeg decodes WebP) makes a video of its frames
    command = shlex.split(result.output.split("fervid runs (", 1)[1].split(") to analyse every frame")[0])
    subprocess.run(command, check=True, capture_output=True)
    result = runner.invoke(app, ["video", "-q", str(tmp_path / "anim.mp4"), "--out", str(tmp_path / "v")])
    assert result.exit_code == 0 and json.loads((tmp_path / "v" / "anim_tracks.json").read_text())["frames_read"] == 2
    # a multi-page TIFF (a camera's image stack) was a one-frame video of its first page, without a word
    blank.save(tmp_path / "stack.tif", save_all=True, append_images=[face, blank])
    result = runner.invoke(app, ["video", "-q", str(tmp_path / "stack.tif"), "--out", str(tmp_path / "t")])
    assert result.exit_code == 1 and not (tmp_path / "t" / "stack_tracks.json").exists()
    assert (f"error: {tmp_path / 'stack.tif'}: a multi-page TIFF (3 pages), of which OpenCV reads the first page "
            "alone") in result.output


def test_an_image_annotated_again_with_other_images_replaces_its_copy(tmp_path, astronaut_rgb):
    """`fervid image --annotate ann` on astro.png and astro.bmp wrote astro_png_fervid.png; run again on astro.png
    alone it wrote astro_fervid.png beside it: two copies of one photo's results."""
    import cv2

    shots, ann = tmp_path / "shots", tmp_path / "ann"
    shots.mkdir()
    Image.fromarray(astronaut_rgb).save(shots / "astro.png")
    Image.fromarray(astronaut_rgb).save(shots / "astro.bmp")
    assert runner.invoke(app, ["image", "-q", str(shots), "--annotate", str(ann)]).exit_code == 0
    assert sorted(p.name for p in ann.iterdir()) == ["astro_bmp_fervid.png", "astro_png_fervid.png"]
    os.utime(ann / "astro_png_fervid.png", ns=(0, 0))  # made long ago: replaced below
    result = runner.invoke(app, ["image", "-q", str(shots / "astro.png"), "--annotate", str(ann)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in ann.iterdir()) == ["astro_bmp_fervid.png", "astro_png_fervid.png"]
    assert (ann / "astro_png_fervid.png").stat().st_mtime_ns > 0
    with Image.open(ann / "astro_png_fervid.png") as copy:  # a whole PNG, which names its image by a digest only
        assert copy.size == (512, 512) and str(shots) not in str(copy.info) and copy.info["fervid-source"]
        copy.load()
    assert cv2.imread(str(ann / "astro_png_fervid.png")).shape == (512, 512, 3)
    # another image of the name, analysed alone, takes the plain name; the earlier copies stay theirs
    (tmp_path / "other").mkdir()
    Image.fromarray(astronaut_rgb[:, ::-1]).save(tmp_path / "other" / "astro.png")
    assert runner.invoke(app, ["image", "-q", str(tmp_path / "other"), "--annotate", str(ann)]).exit_code == 0
    assert sorted(p.name for p in ann.iterdir()) == ["astro_bmp_fervid.png", "astro_fervid.png",
                                                     "astro_png_fervid.png"]


def summary_version(tracks_json) -> str:
    return json.loads(tracks_json.read_text(encoding="utf-8"))["fervid"]


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, astronaut_png, monkeypatch):
    """A full disk fails a write, not the open, and that error names no file: `error: No space left on device`
    without a path (--json, --csv), the input's name instead of the output's (--annotate), a traceback (batch)."""
    import errno
    from pathlib import Path

    from fervid import folder_lock

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    monkeypatch.setattr(Path, "write_bytes", full)
    result = runner.invoke(app, ["image", str(astronaut_png), "--json", str(tmp_path / "r.json"), "-q"])
    assert result.exit_code == 1 and f"error: {tmp_path / 'r.json'}: No space left on device" in result.output
    result = runner.invoke(app, ["image", str(astronaut_png), "--annotate", str(tmp_path / "ann"), "-q"])
    assert result.exit_code == 1 and str(tmp_path / "ann" / "astronaut_fervid.png") in result.output

    real_open = open

    class FullFile:  # the lock file, on a full disk: opened and locked, but its pid cannot be written
        def __init__(self, *args, **kwargs):
            self.file = real_open(*args, **kwargs)
            self.fileno, self.seek, self.truncate, self.read = (self.file.fileno, self.file.seek,
                                                                 self.file.truncate, self.file.read)

        def write(self, text):
            full()

        def close(self):
            self.file.close()

    monkeypatch.setattr(folder_lock, "open", FullFile, raising=False)
    with pytest.raises(OSError) as caught:
        with folder_lock.FolderLock(tmp_path / "out", "another run", "wait"):
            pass
    assert caught.value.filename == str(tmp_path / "out" / ".lock")


def test_a_results_file_that_cannot_be_written_leaves_the_others_written(tmp_path, astronaut_png, monkeypatch):
    """`--json A --csv B --parquet C`, A on a full disk: the CSV and the Parquet were never tried, and the summary
    lines never printed."""
    import errno

    import pandas as pd

    def full(*args, **kwargs):  # the JSON's write (the tables are written through open() and pyarrow)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    out_json, out_csv, out_parquet = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.parquet"
    result = runner.invoke(app, ["image", str(astronaut_png), "--json", str(out_json), "--csv", str(out_csv),
                                 "--parquet", str(out_parquet)])
    assert result.exit_code == 1, result.output
    assert f"error: {out_json}: No space left on device" in result.output and not out_json.exists()
    assert [row["emotion"] for row in csv.DictReader(out_csv.open(encoding="utf-8"))] == ["happy"]
    assert pd.read_parquet(out_parquet)["emotion"].tolist() == ["happy"]
    assert f"{astronaut_png}: 1 face(s): happy" in result.output and "1 image(s) analysed" in result.output


def hold_open(monkeypatch, *held: Path) -> None:
    """Another program holds the files ``held`` open (a CSV in Excel, a PNG in a viewer), as Windows has it:
    replacing one, or renaming it, is refused, WinError 32, the error naming the file moved first."""
    refuse(monkeypatch, "replace", lambda *paths: not set(map(str, held)).isdisjoint(paths))


def test_a_results_file_open_in_excel_is_said_to_be_and_the_others_are_written(tmp_path, astronaut_png,
                                                                               monkeypatch):
    """`fervid image --csv r.csv` with r.csv open in Excel (Windows refuses to replace it) said only the system's
    "Permission denied": the error says it is open and to close it, the earlier r.csv is left whole, and the other
    outputs, written all the same, are said to be."""
    import pandas as pd

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(astronaut_png, folder / "a.png")
    out_json, out_csv, out_parquet, ann = (tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.parquet",
                                           tmp_path / "ann")
    command = ["image", str(folder), "--json", str(out_json), "--csv", str(out_csv), "--parquet", str(out_parquet),
               "--annotate", str(ann), "-q"]
    assert runner.invoke(app, command).exit_code == 0
    earlier_csv = out_csv.read_bytes()
    shutil.copy(astronaut_png, folder / "b.png")  # this run's results: two images
    hold_open(monkeypatch, out_csv, ann / "a_fervid.png")
    result = runner.invoke(app, command)
    assert result.exit_code == 1, result.output
    assert (f"error: {out_csv}: The process cannot access the file because it is being used by another process; it "
            "is open in another program (Excel?): close it there and run this again") in result.output
    assert (f"error: {ann / 'a_fervid.png'}: The process cannot access the file because it is being used by another "
            "process; it is open in another program (an image viewer?): close it there and run this again (writing "
            f"{folder / 'a.png'}'s annotated copy)") in result.output
    assert f"notice: {out_json} and {out_parquet} were written all the same" in result.output
    assert out_csv.read_bytes() == earlier_csv  # the earlier one, whole
    assert len(json.loads(out_json.read_text(encoding="utf-8"))["files"]) == 2
    assert len(pd.read_parquet(out_parquet)) == 2 and (ann / "b_fervid.png").is_file()
    assert not [p.name for p in tmp_path.rglob(".*.tmp")]


def test_an_evaluation_file_open_in_excel_is_said_to_be(tmp_path, fer_csv, monkeypatch):
    """`fervid evaluate --out e` with e/predictions.csv open in Excel: written in place, the write was refused with
    the system's "Permission denied" alone, and the files written before it were the new run's, those after it the
    earlier's. A refusal says the file is open and what to do, and every earlier file is left as it was."""
    from fervid.apps.cli import _os_error_line

    out = tmp_path / "e"
    command = ["evaluate", "--data", str(fer_csv), "--out", str(out), "-q"]
    assert runner.invoke(app, command).exit_code == 0
    (out / "metrics.json").write_text('{"an": "earlier run"}')  # (a run again would write the same metrics)
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"metrics.json", "predictions.csv", "report.md", "confusion.png"} <= set(earlier)
    hold_open(monkeypatch, out / "predictions.csv")
    result = runner.invoke(app, command)
    assert isinstance(result.exception, OSError), result.output  # said by main() in one line, exit 1:
    assert _os_error_line(result.exception) == (
        f"{out / 'predictions.csv'}: The process cannot access the file because it is being used by another process: "
        "cannot replace this output of an earlier run; it is open in another program (Excel?): close it there and run "
        "this again (the earlier outputs are left as they were, this run's deleted)")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier  # nothing hidden left either


def _an_evaluation(tmp_path, request) -> dict:
    """`fervid evaluate --out e`: one run a folder, its lock the folder's."""
    not_faces = tmp_path / "not_faces.csv"
    not_faces.write_text("a,b\n1,2\n", encoding="utf-8")
    out = tmp_path / "e"
    return {"out": out, "command": ["evaluate", "--data", str(request.getfixturevalue("fer_csv")), "--out", str(out),
                                    "-q"],
            "outputs": 4,  # the metrics, the predictions, the report and the confusion
            "not_its_data": ["evaluate", "--data", str(not_faces), "--dataset", "fer2013"],
            "not_its_data_says": "missing FER2013 column(s)", "lock": {},
            "refused_says": f"error: {out}: another fervid evaluate run (pid {os.getpid()}, this process) is writing "
                            "its outputs into this folder; wait for it to finish, or give another --out",
            "another": None, "anothers_outputs": None}


def _an_experiment(tmp_path, request) -> dict:
    """`fervid experiment --out out`, whose default every experiment shares: one run an experiment, another
    experiment into the same folder goes on."""
    pytest.importorskip("torch")
    from conftest import ck_like, write_ck_folders

    ck = write_ck_folders(ck_like(n_subjects=5, seqs_per_subject=2), tmp_path / "ck")
    (tmp_path / "no_faces" / "happy").mkdir(parents=True)
    out = tmp_path / "out"
    return {"out": out, "command": ["experiment", "--dataset", "ckplus", "--ckplus", str(ck), "--epochs", "1", "--out",
                                    str(out), "-q"],
            "outputs": 4,  # the JSON, the predictions, the confusion and the curves
            "not_its_data": ["experiment", "--dataset", "ckplus", "--ckplus", str(tmp_path / "no_faces")],
            "not_its_data_says": "no readable images", "lock": {"name": ".ckplus_lstm-cnn_subject.lock"},
            "refused_says": f"error: {out}: another fervid experiment run (pid {os.getpid()}, this process) is "
                            "writing ckplus_lstm-cnn_subject.* and ckplus_lstm-cnn_subject_* into this folder; wait "
                            "for it to finish, or give another --out",
            "another": ["--model", "lstm-pixels"], "anothers_outputs": "ckplus_lstm-pixels_subject"}


@pytest.mark.parametrize("make_run", [_an_evaluation, _an_experiment], ids=["evaluate", "experiment"])
def test_a_run_killed_replacing_its_outputs_has_them_back_and_a_folder_in_use_is_refused(tmp_path, monkeypatch,
                                                                                        request, make_run):
    """`fervid evaluate --out e` (or `fervid experiment`) killed as it set e's earlier files aside to replace them
    left them hidden (.<name>.<token>.old) beside its staging folder for ever (an experiment's, until a later run
    had trained to the end), and nothing stopped two runs writing into e at once (the same experiment run twice
    replaced the other's outputs, its "wrote ..." said of files no longer its own). The next run puts them back as
    it starts (here one refused at its data), and a run into a folder another holds is refused before it reads
    anything, exit 75, naming the folder and the other run; another experiment into the same folder goes on."""
    from fervid.folder_lock import FolderLock

    run = make_run(tmp_path, request)
    out, command = run["out"], run["command"]
    assert runner.invoke(app, command).exit_code == 0
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(earlier) == run["outputs"]
    real_replace, set_aside = os.replace, []

    def killed_at_the_second(src, dst, **kwargs):  # (KeyboardInterrupt: not caught, as the OS ends a killed run)
        if os.fspath(dst).endswith(".old"):
            set_aside.append(dst)
            if len(set_aside) == 2:
                raise KeyboardInterrupt
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", killed_at_the_second)
    assert runner.invoke(app, command).exit_code != 0
    monkeypatch.setattr(os, "replace", real_replace)
    assert [p for p in out.iterdir() if p.name.endswith(".old")]  # hidden: an earlier file gone
    refused_at_its_data = runner.invoke(app, [*run["not_its_data"], "--out", str(out), "-q"])
    assert refused_at_its_data.exit_code == 1, refused_at_its_data.output
    assert run["not_its_data_says"] in refused_at_its_data.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier  # whole, nothing hidden left
    with FolderLock(out, "another run", "wait", removed=True, **run["lock"]):
        refused = runner.invoke(app, command)
        another = runner.invoke(app, [*command, *run["another"]]) if run["another"] else None
    assert refused.exit_code == 75, refused.output
    assert run["refused_says"] in refused.output
    anothers: set[str] = set()
    if another is not None:
        assert another.exit_code == 0, another.output
        anothers = {p.name for p in out.iterdir() if p.name.startswith(run["anothers_outputs"])}
        assert f"{run['anothers_outputs']}.json" in anothers
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name not in anothers} == earlier


def test_pictures_that_cannot_be_written_keep_the_faces_and_a_full_folder_stops_them(tmp_path, astronaut_png,
                                                                                    monkeypatch):
    """--annotate/--crops on a full disk: each image whose annotated copy could not be written was recorded "ok":
    false with no faces, its emotions thrown away, and the run went on, one error line an image."""
    import errno

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        shutil.copy(astronaut_png, folder / name)
    ann, crops, out_json = tmp_path / "ann", tmp_path / "crops", tmp_path / "r.json"
    real_write_bytes, tried = Path.write_bytes, []

    def full(self, data):  # every picture's write (the JSON is written as text)
        tried.append(self)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    command = ["image", str(folder), "--annotate", str(ann), "--crops", str(crops), "--json", str(out_json), "-q"]
    result = runner.invoke(app, command)
    assert result.exit_code == 1, result.output
    files = json.loads(out_json.read_text(encoding="utf-8"))["files"]
    assert [(f["ok"], [face["emotion"] for face in f["faces"]]) for f in files] == [(True, ["happy"])] * 3
    assert result.output.count("error:") == 2 and len(tried) == 1, result.output  # not one line an image
    assert (f"error: {ann / 'a_fervid.png'}: No space left on device (writing {folder / 'a.png'}'s annotated copy "
            "and crops)") in result.output
    assert ("error: no annotated copies and crops written for the 2 image(s) after it, as the folder could not be "
            f"written either (their faces are in the results): {folder / 'b.png'} and {folder / 'c.png'}"
            ) in result.output

    def denied_for_b(self, data):  # one file's own error (a read-only copy left there): the others are written
        if self.name.startswith(".b_"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", denied_for_b)
    result = runner.invoke(app, command)
    assert result.exit_code == 1, result.output
    assert result.output.count("error:") == 1 and f"{ann / 'b_fervid.png'}: Permission denied" in result.output
    assert sorted(p.name for p in ann.iterdir()) == ["a_fervid.png", "c_fervid.png"]
    assert sorted(p.name for p in crops.iterdir()) == ["a_face1.png", "c_face1.png"]
    assert all(f["ok"] and f["faces"] for f in json.loads(out_json.read_text(encoding="utf-8"))["files"])


def test_a_full_disk_in_fervid_video_leaves_no_part_written_image_and_names_what_was_not_analysed(
        tmp_path, monkeypatch, face_clip):
    """The first video's key frame filled the disk: a 0-byte PNG was left, and the second video was neither tried
    nor named."""
    import errno
    from pathlib import Path


    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    for video in (first, second):
        video.write_bytes(face_clip.read_bytes())
    real_write_bytes = Path.write_bytes

    def fills_up(self, data):
        real_write_bytes(self, data[: len(data) // 2])  # part of it fits
        raise OSError(errno.ENOSPC, "No space left on device")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", fills_up)  # key frames
    monkeypatch.setattr(Path, "write_text", full)  # the tracks JSON: every later video would fail the same way
    out = tmp_path / "out"
    result = runner.invoke(app, ["video", str(first), str(second), "--out", str(out), "--no-annotate", "-q"])
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.output and "not analysed" in result.output
    assert str(second) in result.output.split("not analysed")[1]
    assert not list(out.glob("*_track1_*s_*.png"))  # no part-written key frame


def test_ctrl_c_in_fervid_video_says_how_many_videos_were_left_and_how_to_go_on(tmp_path, monkeypatch, face_clip):
    """One bar per video said nothing of how many were left, and after Ctrl-C the list of videos not analysed
    did not say how to go on."""
    from fervid.inference.video import VideoAnalyzer

    videos = [tmp_path / f"{name}.mp4" for name in ("a", "b", "c")]
    for video in videos:
        video.write_bytes(face_clip.read_bytes())
    real_run = VideoAnalyzer.run

    def pressed_in_the_second(self, path, *args, **kwargs):
        if path.name == "b.mp4":  # at its first frame (a bar starts with a video's first frame)
            kwargs["progress"](1, 120)
            raise KeyboardInterrupt
        return real_run(self, path, *args, **kwargs)

    monkeypatch.setattr(VideoAnalyzer, "run", pressed_in_the_second)
    result = runner.invoke(app, ["video", *map(str, videos), "--out", str(tmp_path / "out"), "--no-annotate",
                                 "--method", "mean"])
    assert result.exit_code == 130
    assert "1/3 a.mp4" in result.output and "2/3 b.mp4" in result.output
    assert f"not analysed (1): {videos[2]}" in result.output and "fervid batch" in result.output


def test_an_interrupt_is_said_at_one_time_on_stderr_and_in_the_tracks_json(tmp_path, monkeypatch, face_clip):
    """Release QA: stopped at frame 2352, stderr said "analysed up to 78.5 s" (the last frame read's end, the tracks
    JSON's end_reached) while the tracks JSON's error said "interrupted (SIGTERM) at 78.4 s" (its start). Both say
    one value now, rounded once. Stopped after 53 frames of a 30 fps video: the 53rd starts at 1.733 s, ends at
    1.767 s."""
    from fervid.inference.video import VideoAnalyzer

    out = tmp_path / "out"
    real_run = VideoAnalyzer.run

    def pressed_at_frame_54(self, path, *args, progress=None, **kwargs):
        def pressing(done, total):
            if done == 54:
                raise KeyboardInterrupt
        return real_run(self, path, *args, progress=pressing, **kwargs)

    monkeypatch.setattr(VideoAnalyzer, "run", pressed_at_frame_54)
    result = runner.invoke(app, ["video", str(face_clip), "--out", str(out), "--no-annotate", "--method", "mean",
                                 "-q"])
    assert result.exit_code == 130, result.output
    saved = json.loads((out / "face_clip_tracks.partial.json").read_text(encoding="utf-8"))
    assert saved["end_reached"] == pytest.approx(53 / 30, abs=1e-3)
    said = re.search(r"was analysed up to (\S+) s", " ".join(result.output.split()))
    recorded = re.search(r": interrupted \(Ctrl-C\) at (\S+) s \(frame 53\); the results cover the frames before$",
                         saved["error"])
    assert said and recorded, (result.output, saved["error"])
    assert said.group(1) == recorded.group(1) == "1.8"


def test_ctrl_c_in_fervid_video_leaves_outputs_named_partial_and_says_which(tmp_path, monkeypatch, face_clip):
    """Ctrl-C at 45% left clip_frames.csv, clip_episodes.csv, timelines and key frames under their own names: only
    the tracks JSON and the Parquet metadata said the run had stopped, and a CSV sent on alone read as complete.
    They are named partial now, the interrupt says which, and an earlier run's whole outputs are kept. An hour's
    session stopped at 40 min was only said to be analysed whole again: the interrupt says how to analyse the rest
    alone (--start where it stopped, another --out), and that command starts at the first frame not analysed."""
    from fervid.inference.video import VideoAnalyzer

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(face_clip.read_bytes())
    out = tmp_path / "out"
    command = ["video", str(clip), "--out", str(out), "--no-annotate", "--method", "mean", "-q"]
    assert runner.invoke(app, command).exit_code == 0
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    real_run = VideoAnalyzer.run

    def pressed_at_frame_54(self, path, *args, progress=None, **kwargs):
        def pressing(done, total):
            if done == 54:  # 45% of its 120 frames
                raise KeyboardInterrupt
        return real_run(self, path, *args, progress=pressing, **kwargs)

    monkeypatch.setattr(VideoAnalyzer, "run", pressed_at_frame_54)
    result = runner.invoke(app, command)
    assert result.exit_code == 130, result.output
    partial = sorted(p.name for p in out.glob("*.partial.*"))
    assert {"clip_frames.partial.csv", "clip_frames.partial.parquet", "clip_episodes.partial.csv",
            "clip_tracks.partial.json", "clip_track1_timeline.partial.png"} <= set(partial)
    assert all(name.endswith(".partial.png") for name in set(partial) - {
        "clip_frames.partial.csv", "clip_frames.partial.parquet", "clip_episodes.partial.csv",
        "clip_tracks.partial.json"})
    assert {p.name: p.read_bytes() for p in out.iterdir() if ".partial." not in p.name} == earlier
    saved = json.loads((out / "clip_tracks.partial.json").read_text(encoding="utf-8"))
    assert not saved["ok"] and saved["frames_analysed"] == 53
    said = " ".join(result.output.split())
    pngs = len(partial) - 4
    assert said == (f"interrupted: {clip} was analysed up to {saved['end_reached']:.1f} s, not to its end: its "
                    f"outputs in {out}/ are named .partial, as they do not cover the whole video: "
                    "clip_episodes.partial.csv, "
                    "clip_frames.partial.csv, clip_frames.partial.parquet, clip_tracks.partial.json and "
                    f"{pngs} timeline and key frame PNG(s) (*.partial.png); the complete outputs of an earlier run "
                    "(clip_*, without .partial) are kept as they were; the same command analyses it whole, "
                    f"replacing them; to analyse only the rest instead, run `fervid video {clip} --start 1.7667` with "
                    f"the same settings and another --out (a run into {out}/ clears these .partial files): a run of "
                    "its own, not joined to these: a face's track is split at the joint (numbered anew from 1), and "
                    "labels within half a --window of it differ from a whole run's"), result.output
    monkeypatch.setattr(VideoAnalyzer, "run", real_run)
    # the rest, as said: from the first frame not analysed (the 54th, at 53/30 s) to the end
    rest = runner.invoke(app, ["video", str(clip), "--start", "1.7667", "--out", str(tmp_path / "rest"),
                               "--no-annotate", "--method", "mean", "-q"])
    assert rest.exit_code == 0, rest.output
    with open(tmp_path / "rest" / "clip_frames.csv", newline="", encoding="utf-8") as table:
        frames = [int(row["frame"]) for row in csv.DictReader(table)]
    assert min(frames) == 53 and max(frames) == FACE_CLIP_FRAMES - 1
    assert runner.invoke(app, command).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(earlier)


def _sigterm_midway(tmp_path, command: list[str], started: str, face_clip):
    """Run ``fervid <command> <a 60 s clip> --out <tmp>/out ...`` in its own process, send it SIGTERM once the file
    named ``started`` exists in the output folder (it is analysing: a partial name), and return (exit status, stdout,
    stderr, out, seconds from the file's appearing to SIGTERM, seconds from SIGTERM to the process's end)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import imageio_ffmpeg

    # the carphone clip fifteen times: 60 s, 1,800 frames (20 s were analysed whole in the 2 s before SIGTERM on an
    # idle Xeon under Python 3.13)
    long_clip = tmp_path / "long.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-stream_loop", "14", "-i", str(face_clip),
                    "-c", "copy", str(long_clip)], check=True)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "fervid.apps.cli", *command, str(long_clip),
                             "--out", str(out), "--method", "mean"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8")
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (out / started).is_file():
        time.sleep(0.01)
    opened = time.perf_counter()
    time.sleep(2.0)  # analysing: the output files open before the first frame is (0.5 s was too short on a loaded CPU)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    signalled = time.perf_counter()
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout, stderr, out, signalled - opened, time.perf_counter() - signalled


POSIX_SIGNALS = pytest.mark.skipif(not hasattr(__import__("signal"), "SIGTERM") or __import__("os").name != "posix",
                                   reason="POSIX signals")


@POSIX_SIGNALS
def test_sigterm_stops_fervid_video_as_ctrl_c_does(tmp_path, face_clip):
    """A job scheduler's time limit (SIGTERM) killed fervid video outright: the annotated MP4 had no index, the
    tracks JSON and timelines were missing. It now stops as Ctrl-C does: outputs up to there, marked, exit 143."""
    import cv2

    status, _, stderr, out, _, _ = _sigterm_midway(tmp_path, ["video", "-q"], "long_annotated.partial.mp4", face_clip)
    assert status == 143, stderr[-2000:]
    # named partial, as the video's outputs are up to where it stopped
    assert "interrupted: " in stderr and "long_frames.partial.csv, long_frames.partial.parquet" in stderr
    saved = json.loads((out / "long_tracks.partial.json").read_text(encoding="utf-8"))
    assert "interrupted (SIGTERM)" in saved["error"] and 0 < saved["frames_analysed"] < 1800
    assert cv2.VideoCapture(str(out / "long_annotated.partial.mp4")).read()[0]  # it plays
    assert not [p.name for p in out.iterdir() if ".partial." not in p.name]


@POSIX_SIGNALS
def test_sigterm_ends_a_live_session_as_ctrl_c_does(tmp_path, face_clip):
    """Ctrl-C is how a headless live session ends, outputs and all; SIGTERM (a service manager stopping it)
    interrupted it instead, with the session marked interrupted. A file's session cut short by it exits 143, as
    `fervid --help` and the README say (it exited 0, as one that reached the file's end: a script could not tell)."""
    status, stdout, stderr, out, to_sigterm, saving = _sigterm_midway(tmp_path, ["live", "--no-annotate", "--source"],
                                                                      "long_frames.partial.csv", face_clip)
    assert status == 143, stderr[-2000:]
    assert "frames analysed" in stdout and "interrupted (SIGTERM): " in stderr and "not to its end" in stderr
    # the session's normal end, not a cancel: its outputs whole, under their own names
    saved = json.loads((out / "long_tracks.json").read_text(encoding="utf-8"))
    assert saved["error"] is None and saved["cancelled"] is False and 0 < saved["frames_analysed"] < 1800
    assert not [path.name for path in out.iterdir() if ".partial." in path.name]
    # the summary printed is the one saved: the reader went on counting drops while the outputs were written
    analysed, seconds, dropped, read = re.search(r"(\d+) frames analysed in ([\d.]+) s .*?(\d+) of the (\d+) read "
                                                 r"dropped", stdout).groups()
    assert (int(analysed), int(read)) == (saved["frames_analysed"], saved["frames_read"])
    assert int(dropped) == saved["frames_read"] - saved["frames_analysed"]
    # The session's time, not the saving's after it: its clock starts after its outputs open and stops at SIGTERM,
    # handled once the frame being analysed is (the saving after it took 2-10 s here); no frame is delivered before
    # its time on the clip's clock, but a loaded machine's reader fell behind that clock (2.0 s, duration 0.33 s)
    assert saved["duration"] - 0.1 <= float(seconds) <= to_sigterm + max(0.5, saving / 2), (to_sigterm, saving)


def test_a_live_session_from_a_file_analyses_its_first_seconds(tmp_path, monkeypatch, long_face_clip):
    """The session's first 0.7-2.2 s went by while its outputs' writers were set up, counted as dropped to keep up
    (1 of 61 frames analysed in a 2 s session on a busy machine)."""
    import time

    from fervid.inference import video

    class SlowSetUp(video.LiveSource):  # the first frame asked for 0.7 s late, as on a busy machine
        def __iter__(self):
            time.sleep(0.7)
            yield from super().__iter__()

    monkeypatch.setattr(video, "LiveSource", SlowSetUp)
    result = runner.invoke(app, ["live", "--source", str(long_face_clip), "--seconds", "2", "--out", str(tmp_path),
                                 "--no-annotate", "--method", "frame"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "long_face_clip_tracks.json").read_text(encoding="utf-8"))
    analysed, dropped, read = re.search(r"(\d+) frames analysed in [\d.]+ s .*?(\d+) of the (\d+) read dropped",
                                        result.output).groups()
    assert (int(analysed), int(read)) == (saved["frames_analysed"], saved["frames_read"]) and int(read) == 61
    # the newest frame is analysed each time the analysis is ready for one (how many is the machine's speed), from
    # the first (or, on a loaded machine, the second) to the last of the 2 s (frames_read: the 61st), not from those
    # after the 0.7 s the setting up took
    assert int(analysed) + int(dropped) == 61 and int(analysed) >= 2
    first = next(csv.DictReader(io.StringIO((tmp_path / "long_face_clip_frames.csv").read_text(encoding="utf-8"))))
    assert float(first["time"]) < 0.35 and saved["tracks"][0]["start"] < 0.35


def test_a_live_sessions_summary_times_the_session_not_the_saving_after_it(tmp_path, monkeypatch, face_clip):
    """A file's session that ended at --seconds printed its seconds and fps with the outputs' writing after it in
    them (the annotated MP4, timelines: 1 s read, "in 2.5 s")."""
    import time

    from fervid.inference import video

    delivering: list[float] = []  # when the first frame was asked for, and when the last one had been

    class TimedSource(video.LiveSource):
        def __iter__(self):
            delivering.append(time.perf_counter())
            yield from super().__iter__()
            delivering.append(time.perf_counter())

    monkeypatch.setattr(video, "LiveSource", TimedSource)
    result = runner.invoke(app, ["live", "--source", str(face_clip), "--seconds", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    seconds = float(re.search(r"frames analysed in ([\d.]+) s", result.output).group(1))
    saved = json.loads((tmp_path / "face_clip_tracks.json").read_text(encoding="utf-8"))
    # The frames' time, printed to 0.1 s: compared with the 1 s of video, a loaded machine's reader fell behind the
    # clip's clock (1.5 s for 1 s), and the saving after it takes over a second
    start, end = delivering
    assert abs(seconds - (end - start)) < 0.1, (seconds, end - start)
    assert seconds >= saved["duration"] - 0.1  # no frame is delivered before its time


@needs_sample_clip
def test_fervid_live_refuses_a_source_that_gives_no_frame(tmp_path):
    """An MP4 whose index is at its end, served by python's http.server (no range requests), "analysed" 0 frames:
    exit 0, "ok": true, an empty output folder. An empty --source was read as the folder ".". """
    import functools
    import http.server
    import subprocess
    import threading

    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(carphone()), "-t", "1", "-c", "copy",
                    str(tmp_path / "end.mp4")], check=True)  # the mp4 muxer puts the index last
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as web:
        threading.Thread(target=web.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{web.server_port}/end.mp4"
        try:
            result = runner.invoke(app, ["live", "--source", url, "--out", str(tmp_path / "o"), "--method", "frame"])
        finally:
            web.shutdown()
    assert result.exit_code == 1, result.output
    assert f"connecting to {url}" in result.output
    assert f"error: {url}: connected, but no video frame could be read from it" in result.output
    assert not (tmp_path / "o").exists()
    empty = runner.invoke(app, ["live", "--source", "", "--out", str(tmp_path / "o")])
    assert empty.exit_code == 2 and "--source is empty" in empty.output


@pytest.mark.parametrize("opencv", ["4.13+", "4.8-4.12"])
def test_live_silences_opencvs_own_log_with_the_call_its_opencv_has(monkeypatch, opencv):
    """`fervid live` crashed at its start on OpenCV 4.8-4.12 (AttributeError): cv2.utils.logging, which it
    silenced OpenCV's log with, is 4.13's; those versions have cv2.setLogLevel (gone in 4.13)."""
    import types

    import cv2

    from fervid.apps.cli import _quiet_opencv

    monkeypatch.delenv("OPENCV_LOG_LEVEL", raising=False)
    levels: list[int] = []
    if opencv == "4.13+":
        logging = types.SimpleNamespace(setLogLevel=levels.append, LOG_LEVEL_SILENT=0)
        monkeypatch.setattr(cv2.utils, "logging", logging, raising=False)
        monkeypatch.delattr(cv2, "setLogLevel", raising=False)
    else:
        monkeypatch.delattr(cv2.utils, "logging", raising=False)
        monkeypatch.setattr(cv2, "setLogLevel", levels.append, raising=False)
    _quiet_opencv()
    assert levels == [0]  # LOG_LEVEL_SILENT
    monkeypatch.setenv("OPENCV_LOG_LEVEL", "INFO")  # the user's own level is kept
    _quiet_opencv()
    assert levels == [0]


def test_fervid_live_reports_a_lost_stream_keeps_its_results_and_hides_its_secrets(tmp_path, face_clip):
    """A stream that ended mid-session ended as a complete one (exit 0, "ok": true); its outputs were named
    127.0.0_* after Path(url).stem, and its password and token were printed and written as given."""
    import subprocess

    import imageio_ffmpeg

    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "quiet", "-re", "-i", str(face_clip),
                               "-t", "2", "-c", "copy", "-f", "mpegts", "-listen", "1", f"http://127.0.0.1:{port}/"])
    wait_until_listening(server, port)
    out = tmp_path / "o"
    try:
        result = runner.invoke(app, ["live", "--source", f"http://admin:s3cret@127.0.0.1:{port}/cam.ts?channel=1&"
                                     "token=XYZ", "--out", str(out), "--method", "frame", "--no-annotate"])
    finally:
        server.kill()
        server.wait()
    masked = f"http://admin:***@127.0.0.1:{port}/cam.ts?channel=1&token=***"
    assert result.exit_code == 1, result.output
    assert f"error: {masked}: " in result.output and "stream lost after" in result.output
    assert "s3cret" not in result.output and "XYZ" not in result.output
    (tracks,) = out.glob(f"127.0.0.1_{port}_cam_*_tracks.json")  # named by the session's start too
    saved = json.loads(tracks.read_text(encoding="utf-8"))
    assert saved["file"] == masked and saved["ok"] is False and "stream lost after" in saved["error"]
    # what came before is kept (how many frames were analysed of those read is the machine's speed: live drops the
    # rest to keep up)
    assert 0 < saved["frames_analysed"] <= saved["frames_read"] and saved["tracks"]
    (frames,) = out.glob(f"127.0.0.1_{port}_cam_*_frames.csv")
    assert list(csv.DictReader(io.StringIO(frames.read_text(encoding="utf-8"))))
    for path in out.iterdir():
        assert path.name.startswith(f"127.0.0.1_{port}_cam_")
        assert path.suffix == ".png" or b"s3cret" not in path.read_bytes()


class _LiveStream:
    """``clip`` played in real time, looped, as a live MPEG-TS stream over HTTP (no length: a camera's kind of
    source), for one client."""

    def __init__(self, clip: Path, port: int = 0):
        """``port``: another stream's again (0: a free one)."""
        import imageio_ffmpeg

        if not port:
            with __import__("socket").socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = port
        self.url = f"http://127.0.0.1:{port}/cam.ts"
        self.server = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "quiet", "-re", "-stream_loop", "-1",
                                        "-i", str(clip), "-c", "copy", "-f", "mpegts", "-listen", "1",
                                        f"http://127.0.0.1:{port}/"])
        wait_until_listening(self.server, port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.kill()
        self.server.wait()


def test_a_live_session_records_when_its_time_0_was_by_the_wall_clock(tmp_path, face_clip):
    """A lab aligns a session's rows with its own event log: times counted from opening the stream said nothing of
    when that was. A live stream's session records started_at (its time 0) in the tracks JSON and the Parquet
    table's metadata; a file's times are its own, and it records none."""
    from datetime import datetime, timezone

    from fervid.inference.video import table_outcome

    before = datetime.now(timezone.utc)
    with _LiveStream(face_clip) as stream:
        result = runner.invoke(app, ["live", "--source", stream.url, "--out", str(tmp_path / "s"), "--seconds", "1",
                                     "--method", "frame", "--no-annotate", "-q"])
    after = datetime.now(timezone.utc)
    assert result.exit_code == 0, result.output
    (tracks,) = (tmp_path / "s").glob("*_tracks.json")
    saved = json.loads(tracks.read_text(encoding="utf-8"))
    started = datetime.fromisoformat(saved["started_at"])
    assert started.utcoffset() is not None and before < started < after
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", saved["started_at"])
    (table,) = (tmp_path / "s").glob("*_frames.parquet")
    assert table_outcome(table)["started_at"] == saved["started_at"]
    result = runner.invoke(app, ["live", "--source", str(face_clip), "--out", str(tmp_path / "f"), "--seconds",
                                 "0.5", "--method", "frame", "--no-annotate", "-q"])
    assert result.exit_code == 0, result.output
    (tracks,) = (tmp_path / "f").glob("*_tracks.json")
    assert json.loads(tracks.read_text(encoding="utf-8"))["started_at"] is None


def test_a_second_live_session_into_one_folder_keeps_the_first(tmp_path, face_clip):
    """A camera's or stream's session cannot be had again: the next session into the same --out (the default
    fervid-live/) silently replaced it, both named after the source. Each is named by its start; a file's session
    replaces its earlier analysis, as `fervid video` does."""
    out, port = tmp_path / "o", 0
    for _ in range(2):  # the same URL's, within one second too
        with _LiveStream(face_clip, port) as stream:
            port = stream.port
            result = runner.invoke(app, ["live", "--source", stream.url, "--out", str(out), "--seconds", "0.5",
                                         "--method", "frame", "--no-annotate", "-q"])
        assert result.exit_code == 0, result.output
    first, second = sorted(out.glob("*_tracks.json"), key=lambda p: p.stat().st_mtime)
    assert re.fullmatch(r"127\.0\.0\.1_\d+_cam_\d{8}-\d{6}(-2)?_tracks\.json", first.name)
    assert second.name.startswith(f"127.0.0.1_{port}_cam_") and first != second
    for tracks in (first, second):
        stem = tracks.name.removesuffix("_tracks.json")
        assert json.loads(tracks.read_text(encoding="utf-8"))["frames_analysed"] > 0
        assert (out / f"{stem}_frames.csv").is_file()
    # a session opened in the same second as one written there is named apart
    import time

    now = time.time()
    taken = {time.strftime("%Y%m%d-%H%M%S", time.localtime(now + k)) for k in range(60)}
    for stamp in taken:
        (out / f"127.0.0.1_{port}_cam_{stamp}_tracks.json").write_text("{}", encoding="utf-8")
    with _LiveStream(face_clip, port) as stream:
        result = runner.invoke(app, ["live", "--source", stream.url, "--out", str(out), "--seconds", "0.5",
                                     "--method", "frame", "--no-annotate", "-q"])
    assert result.exit_code == 0, result.output
    (apart,) = out.glob("*-2_tracks.json")
    assert apart.name.removesuffix("-2_tracks.json").rpartition("_")[2] in taken
    assert {(out / f"127.0.0.1_{port}_cam_{stamp}_tracks.json").read_text(encoding="utf-8") for stamp in taken} == {
        "{}"}
    for _ in range(2):
        result = runner.invoke(app, ["live", "--source", str(face_clip), "--out", str(tmp_path / "f"), "--seconds",
                                     "0.3", "--method", "frame", "--no-annotate", "-q"])
        assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "f").glob("*_tracks.json")] == ["face_clip_tracks.json"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a camera is a /dev/videoN on Linux")
def test_a_live_source_that_is_not_there_is_a_usage_error_whatever_its_kind(tmp_path):
    """A missing file exited 2, a missing camera 1, and its device /dev/video37 2 with "no such file or folder"."""
    for source, message in ((str(tmp_path / "nope.mp4"), f"--source {tmp_path / 'nope.mp4'}: no such file or folder"),
                            ("37", "no camera 37 (/dev/video37 does not exist)"),
                            ("/dev/video37", "no camera 37 (/dev/video37 does not exist)")):
        result = runner.invoke(app, ["live", "--source", source, "--out", str(tmp_path / "o")])
        assert (result.exit_code, result.output) == (2, f"error: {message}\n"), source
    assert not (tmp_path / "o").exists()


def test_fervid_live_says_when_it_replaces_another_sources_outputs(tmp_path, face_clip):
    import shutil

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(face_clip, tmp_path / folder / "cam.mp4")
    out = tmp_path / "o"
    for folder in ("a", "b"):
        result = runner.invoke(app, ["live", "--source", str(tmp_path / folder / "cam.mp4"), "--out", str(out),
                                     "--seconds", "0.3", "--method", "frame", "--no-annotate"])
        assert result.exit_code == 0, result.output
    assert f"outputs replaced those of {tmp_path / 'a' / 'cam.mp4'} in {out}/" in result.output


@as_root
def test_fervid_live_keeps_another_users_outputs_of_its_name(tmp_path, face_clip):
    """`fervid live --source u2/cam.mp4 --out shared` replaced another user's cam_* there as its own."""
    for folder in ("u1", "u2"):
        (tmp_path / folder).mkdir()
        shutil.copy(face_clip, tmp_path / folder / "cam.mp4")
    out = tmp_path / "o"
    args = ["--out", str(out), "--seconds", "0.3", "--method", "frame", "--no-annotate", "-q"]
    assert runner.invoke(app, ["live", "--source", str(tmp_path / "u1" / "cam.mp4"), *args]).exit_code == 0
    theirs = sorted(out.glob("cam_*"))
    _hand_over(theirs, 0o644)
    before = {path: path.read_bytes() for path in theirs}
    result = runner.invoke(app, ["live", "--source", str(tmp_path / "u2" / "cam.mp4"), *args])
    assert result.exit_code == 0, result.output
    assert result.output == (f"notice: {tmp_path / 'u2' / 'cam.mp4'}: {out}/ holds uid {STRANGER}'s outputs of "
                             f"{tmp_path / 'u1' / 'cam.mp4'} named cam_*, which are kept; this video's are named "
                             "u2_cam_*\n")
    assert {path: path.read_bytes() for path in out.glob("cam_*")} == before
    assert json.loads((out / "u2_cam_tracks.json").read_text(encoding="utf-8"))["file"] == str(
        tmp_path / "u2" / "cam.mp4")


def test_fervid_live_looks_for_faces_in_its_region_only_as_fervid_video_does(tmp_path, face_clip):
    """A lab camera that sees a poster (a second face, still) beside the participant: `fervid live --source` had
    no --region, which `fervid video` and `batch` have. It keeps the poster's face out, records the region in the
    frames' pixels, and refuses one not inside them before writing anything; the browser's /live page, which
    cannot honour it, refuses it rather than ignoring it."""
    import cv2
    import pandas as pd

    from conftest import clip_writer

    capture = cv2.VideoCapture(str(face_clip))
    participant = []
    while len(participant) < 23:  # 1.5 s at 15 fps
        ok, frame = capture.read()
        assert ok
        participant.append(frame)
    capture.release()
    height, width = participant[0].shape[:2]
    clip = tmp_path / "lab.mp4"
    writer = clip_writer(clip, 2 * width, height, 15.0)
    for frame in participant:  # the participant on the right, the poster (a still of the same face) on the left
        writer.write(np.hstack([participant[0], frame]))
    writer.close()
    args = ["live", "--source", str(clip), "--method", "frame", "--no-annotate", "--key-frames", "0"]
    whole = runner.invoke(app, [*args, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    assert pd.read_csv(tmp_path / "whole" / "lab_frames.csv").track.nunique() == 2  # the poster is a face too
    ran = runner.invoke(app, [*args, "--out", str(tmp_path / "o"), "--region", "0.5,0,0.5,1"])
    assert ran.exit_code == 0, ran.output
    saved = json.loads((tmp_path / "o" / "lab_tracks.json").read_text(encoding="utf-8"))
    assert saved["region"] == [width, 0, width, height] and len(saved["tracks"]) == 1
    rows = pd.read_csv(tmp_path / "o" / "lab_frames.csv")
    assert len(rows) and (rows.x >= width).all()
    outside = runner.invoke(app, [*args, "--out", str(tmp_path / "bad"), "--region", f"{2 * width},0,10,10"])
    assert outside.exit_code == 1 and (f"lab.mp4: region {2 * width},0,10,10 (x, y, width, height) is not inside "
                                       f"its frames, {2 * width} x {height} pixels") in " ".join(
        outside.output.split()), outside.output
    assert not (tmp_path / "bad").exists()
    garbled = runner.invoke(app, [*args, "--region", "a,b"])
    assert garbled.exit_code == 2 and "--region 'a,b': four numbers" in garbled.output, garbled.output
    browser = runner.invoke(app, ["live", "--no-open", "--region", "0.5,0,0.5,1"])
    assert browser.exit_code == 2 and "--region is for a headless session (--source" in " ".join(
        browser.output.split()), browser.output


def test_live_refuses_the_options_of_the_mode_it_is_not_in(tmp_path, monkeypatch, face_clip):
    """`fervid live --seconds 2 --quiet` (the browser's /live page) served until killed and printed its start-up
    lines; `fervid live --source clip.mp4 --port 9999 --no-open` ran headless, serving nothing: each option is
    refused (exit 2), the browser mode's before any server starts."""
    def no_server(*args, **kwargs):
        raise AssertionError("the server was started")

    monkeypatch.setattr("fervid.apps.cli._serve", no_server)
    for options, message in ((["--seconds", "2"], "--seconds is for a headless session"),
                             (["--quiet"], "--quiet is for a headless session"),
                             (["--out", str(tmp_path / "o")], "--out is for a headless session"),
                             (["--source", "browser", "-q"], "--quiet is for a headless session")):
        result = runner.invoke(app, ["live", "--no-open", "--port", "8765", *options])
        assert result.exit_code == 2 and message in " ".join(result.output.split()), (options, result.output)
    for options, flag in ((["--port", "9999"], "--port"), (["--no-open"], "--no-open"), (["--open"], "--open"),
                          (["--data-dir", str(tmp_path / "d")], "--data-dir"), (["--job-ttl-hours", "2"],
                                                                                  "--job-ttl-hours")):
        result = runner.invoke(app, ["live", "--source", str(face_clip), "--out", str(tmp_path / "h"), *options])
        assert result.exit_code == 2 and f"{flag} is for the browser's /live page (no --source)" in " ".join(
            result.output.split()), (options, result.output)
    assert not (tmp_path / "o").exists() and not (tmp_path / "h").exists()


def test_a_window_with_method_frame_is_refused_by_every_command(tmp_path, monkeypatch, face_clip):
    """`fervid video clip.mp4 --method frame --window 3` exited 0 and recorded window null: frame labels each
    frame from that frame alone. Every command that takes both refuses them together (exit 2) before analysing or
    serving anything; --window alone, or with another method, is taken."""
    def no_server(*args, **kwargs):
        raise AssertionError("the server was started")

    monkeypatch.setattr("fervid.apps.cli._serve", no_server)
    (tmp_path / "ann.csv").write_text("video,start,end,emotion\ncam.mp4,0,4,neutral\n", encoding="utf-8")
    out = tmp_path / "o"
    for command in (["video", str(face_clip), "--out", str(out)], ["batch", str(face_clip), "--out", str(out)],
                    ["live", "--source", str(face_clip), "--out", str(out)], ["live", "--no-open"], ["serve"],
                    ["evaluate", "--dataset", "video", "--data", str(tmp_path / "ann.csv"), "--out", str(out)]):
        result = runner.invoke(app, [*command, "--method", "FRAME", "--window", "3"])
        assert result.exit_code == 2 and ("--window is the seconds of frames a temporal method (lstm, mean, hmm) "
                                          "looks at; --method frame labels each frame from that frame alone") in " ".join(
            result.output.split()), (command, result.output)
        assert not out.exists()
    taken = runner.invoke(app, ["video", str(face_clip), "--out", str(out), "--method", "mean", "--window", "0.5",
                                "--no-annotate", "--key-frames", "0", "-q"])
    assert taken.exit_code == 0, taken.output
    assert json.loads(next(out.glob("*_tracks.json")).read_text(encoding="utf-8"))["window"] == 0.5


def test_serve_takes_its_options_from_the_environment_and_the_command_line_wins(tmp_path, monkeypatch):
    """A container or Helm chart configures by the environment: every `fervid serve` option was a flag only."""
    served = []
    monkeypatch.setattr("fervid.apps.cli._serve", lambda settings, host, port, **kwargs: served.append(
        (settings, host, port, kwargs)))
    env = {"FERVID_SERVE_HOST": "0.0.0.0", "FERVID_SERVE_PORT": "8123", "FERVID_SERVE_DATA_DIR": str(tmp_path / "d"),
           "FERVID_SERVE_MAX_UPLOAD_MB": "5", "FERVID_SERVE_ANNOTATE": "false",
           "FERVID_SERVE_ALLOW_HOST": "fervid.lab.example 10.0.0.5", "FERVID_SERVE_ROOT_PATH": "/fervid"}
    result = runner.invoke(app, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    settings, host, port, kwargs = served.pop()
    assert (host, port, settings.data_dir, settings.max_upload_mb) == ("0.0.0.0", 8123, tmp_path / "d", 5)
    assert settings.allowed_hosts == ("fervid.lab.example", "10.0.0.5") and not settings.pipeline.annotate
    assert kwargs["root_path"] == "/fervid"
    result = runner.invoke(app, ["serve", "--port", "9000", "--annotate"], env=env)
    assert result.exit_code == 0, result.output
    settings, host, port, _ = served.pop()
    assert (port, settings.pipeline.annotate, settings.max_upload_mb) == (9000, True, 5)
    bad = runner.invoke(app, ["serve"], env={**env, "FERVID_SERVE_PORT": "eighty"})
    assert bad.exit_code == 2 and "FERVID_SERVE_PORT" in bad.output and not served, bad.output
    # fervid's own checks name the variable too, not an option nobody typed
    for variables, said in (({"FERVID_SERVE_WORKERS": "0"},
                             "error: --workers (from the environment's FERVID_SERVE_WORKERS) must be positive"),
                            ({"FERVID_SERVE_PRECISION": "foo"},
                             "error: --precision (from the environment's FERVID_SERVE_PRECISION) must be one of"),
                            ({"FERVID_SERVE_METHOD": "frame", "FERVID_SERVE_WINDOW": "2"},
                             "error: --window (from the environment's FERVID_SERVE_WINDOW) is the seconds")):
        bad = runner.invoke(app, ["serve"], env={**env, **variables})
        assert bad.exit_code == 2 and bad.output.startswith(said) and not served, bad.output
    typed = runner.invoke(app, ["serve", "--workers", "0"], env=env)  # typed, it is said as typed
    assert typed.exit_code == 2 and typed.output.startswith("error: --workers must be positive"), typed.output


def test_batch_refuses_workers_with_the_ray_engine(tmp_path):
    """`fervid batch --engine ray --workers 8`: --workers sizes the local process pool, and Ray ignored it."""
    result = runner.invoke(app, ["batch", str(tmp_path), "--out", str(tmp_path / "o"), "--engine", "ray",
                                 "--workers", "8"])
    assert result.exit_code == 2 and "--workers is the local engine's process pool" in " ".join(
        result.output.split()), result.output
    assert not (tmp_path / "o").exists()


@POSIX_SIGNALS
def test_ctrl_c_while_a_live_stream_connects_is_honoured_at_once(tmp_path):
    """A source that does not answer (udp with no sender) blocked ~30 s without a word, Ctrl-C unheard."""
    import signal
    import subprocess
    import sys
    import time

    with __import__("socket").socket(type=__import__("socket").SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "fervid.apps.cli", "live", "--source", f"udp://127.0.0.1:{port}",
                             "--out", str(tmp_path / "o"), "--method", "frame"], stderr=subprocess.PIPE, text=True,
                             encoding="utf-8")
    try:
        line = proc.stderr.readline()
        assert line.startswith(f"connecting to udp://127.0.0.1:{port}"), line
        time.sleep(0.5)
        pressed = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130 and time.monotonic() - pressed < 3, stderr
    assert "interrupted while opening" in stderr and not (tmp_path / "o").exists()




def test_calibrate_refuses_any_usage_typed_with_a_folder(tmp_path):
    """`fervid calibrate --data folder --usage PublicTest` was accepted and ignored: calibrate told a --usage given
    by its differing from the default, PublicTest."""
    (tmp_path / "held_out" / "happy").mkdir(parents=True)
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(tmp_path / "held_out" / "happy" / "0.png")
    for usage in ("PublicTest", "Training"):
        result = runner.invoke(app, ["calibrate", "--model", str(tmp_path / "model"), "--data",
                                     str(tmp_path / "held_out"), "--usage", usage])
        assert result.exit_code == 2 and "--usage and --ferplus choose rows of a FER2013 CSV" in result.output, (
            usage, result.output)


def test_help_says_the_defaults_where_they_are_defined():
    """The command line's defaults and the numbers its help gives were literals copied from the server, the batch
    engine, the detectors and the tracker: changed there, they would have gone on saying the old ones. Changed where
    they are defined (in a fresh interpreter), the help says the new ones."""
    code = """
import fervid.apps.defaults as defaults, fervid.evaluation as evaluation
import fervid.inference.detect as detect, fervid.inference.track as track
defaults.PORT, defaults.MAX_IMAGES_PER_REQUEST, defaults.MAX_IMAGE_PIXELS = 8123, 17, 12_500_000
defaults.DATA_DIR, defaults.BATCH_WORKERS = type(defaults.DATA_DIR)("jobs-here"), 3
evaluation.DEFAULT_USAGE = "PrivateTest"
detect.SMALLEST_FACE, detect.SMALL_IMAGE_SIDE = 30, {"centerface": 144, "yuface": 208}
track.ESTABLISHED_ROUNDS, track.LARGER_FACE = 4, 1.75
from typer.testing import CliRunner
from fervid.apps.cli import app
for command in ("serve", "live", "batch", "evaluate", "calibrate"):
    print(CliRunner().invoke(app, [command, "--help"], terminal_width=2000).output)
"""
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", timeout=120,
                          env={**os.environ, "COLUMNS": "2000"})
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for said in ("[default: 8123; 1<=x<=65535]", "(413 above). [env var: FERVID_SERVE_MAX_IMAGES_PER_REQUEST; default: 17]",
                 "(415 above). [env var: FERVID_SERVE_MAX_IMAGE_MEGAPIXELS; default: 12.5]",
                 "[default: jobs-here]", "cluster). [default: 3]", "default PrivateTest)",
                 "(by default PrivateTest,", "The default, PrivateTest,", "a copy where it is 30 px tall",
                 "an image under 144 px", "enlarged to 144 px (yuface: 208)", "A face followed for 4 detection rounds",
                 "a face 1.75 times its area", "(centerface 0.4, centerface_fp32 0.4, yuface 0.8)"):
        assert said in text, said


def test_fervid_image_loads_no_torch(tmp_path, astronaut_png):
    """fervid runs where torch is not installed: `fervid image` must not load it (the CLI module is outside the
    import-linter contract, as its train, export and experiment commands import training where they run). Nor
    scipy.special (loaded for a softmax, it was 0.17 s of the 0.4 s CPU every command spent starting) or pandas
    (loaded by `fervid video`'s --start/--end parsing: 0.2 s)."""
    import sys

    code = """
import runpy, sys
from fervid.apps.cli import _time_range
_time_range("1:02.5", "75")
sys.argv = ["fervid", "image", sys.argv[1], "--json", sys.argv[2], "-q"]
try:
    runpy.run_module("fervid", run_name="__main__")
except SystemExit as exc:
    status = exc.code
print(status, sorted(name for name in sys.modules if name in ("torch", "scipy.special", "pandas")
                     or name.startswith("fervid.training")))
"""
    done = subprocess.run([sys.executable, "-c", code, str(astronaut_png), str(tmp_path / "out.json")],
                          capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.stdout.split("\n")[-2] == "0 []", done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["files"][0]["faces"]


def test_the_precision_default_is_one_constant():
    """"auto" was written in the options, the Analyzer and EmotionCNN."""
    import inspect

    from fervid.inference.analyzer import Analyzer
    from fervid.inference.models import DEFAULT_PRECISION, PRECISIONS, EmotionCNN
    from fervid.inference.options import PipelineOptions

    assert DEFAULT_PRECISION == PRECISIONS[0] == PipelineOptions().precision
    for made in (Analyzer, EmotionCNN):
        assert inspect.signature(made).parameters["precision"].default is DEFAULT_PRECISION


@pytest.mark.parametrize("named", ["", "model.onnx"], ids=["its-folder", "a-file-of-its-folder"])
def test_calibrate_fits_a_model_on_a_folder_of_your_own_held_out_faces(tmp_path, named):
    """A model taught your own folders could not be calibrated on your own held-out faces: calibrate read a
    FER2013 CSV only. A model named by a file of its folder (`--model model/model.onnx`, as the API and the other
    commands take it) was "no such model folder"."""
    import shutil

    from PIL import Image

    from conftest import synthetic_faces
    from fervid.emotions import EMOTIONS
    from fervid.inference.models import resolve_model_dir

    faces, labels = synthetic_faces(40)
    for i, (face, label) in enumerate(zip(faces, labels)):
        (tmp_path / "held_out" / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(face).save(tmp_path / "held_out" / EMOTIONS[label] / f"{i}.png")
    model = tmp_path / "model"
    shutil.copytree(resolve_model_dir("fer2013_vgg"), model)
    result = runner.invoke(app, ["calibrate", "--model", str(model / named), "--data", str(tmp_path / "held_out")])
    assert result.exit_code == 0, result.output
    report = json.loads((model / "calibration.json").read_text(encoding="utf-8"))
    assert report["n"] == 40 and report["settings"]["labels"] == "the folders' names"
    # the fit is judged against the model's temperature on the halves it is scored on, and says so
    assert (f"{report['ece_current_halves']} at the model's temperature on the same halves, which the fit is judged "
            f"against: a gain of {report['ece_gain']} +- {report['ece_gain_se']}, standard error over the halvings"
            in " ".join(result.output.split()))
    assert "the mean over 10 random halvings" in " ".join(result.output.split())
    wrong = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(tmp_path / "held_out"),
                                "--usage", "Training"])
    assert wrong.exit_code == 2 and "a folder's faces are all used" in wrong.output


def test_calibrate_writes_its_calibration_into_the_models_card_or_says_why_the_card_is_left_stale(tmp_path):
    """calibrate on a model folder with a card wrote the temperature into config.json and left the card with
    `"calibration": null` and no Calibration section, without a word."""
    from conftest import write_fer2013_csv
    from fervid.evaluation.evaluate import model_card_markdown
    from fervid.inference.models import resolve_model_dir

    model = tmp_path / "model"
    shutil.copytree(resolve_model_dir("ferplus_vgg"), model)
    for name in ("calibration.json", "card.json", "MODEL_CARD.md"):  # as exported: no calibration, no card
        (model / name).unlink()
    fer = write_fer2013_csv(tmp_path / "fer.csv", {"Training": 10, "PublicTest": 60})
    written = runner.invoke(app, ["evaluate", "--model", str(model), "--data", str(fer), "--write-card"])
    assert written.exit_code == 0, written.output
    before = json.loads((model / "card.json").read_text(encoding="utf-8"))
    assert before["calibration"] is None and "## Calibration" not in (model / "MODEL_CARD.md").read_text()

    result = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(fer)])
    assert result.exit_code == 0, result.output
    report = json.loads((model / "calibration.json").read_text(encoding="utf-8"))
    card = json.loads((model / "card.json").read_text(encoding="utf-8"))
    # the card gets the calibration --write-card would give it; the rest (the evaluation: no label moves) as it was
    assert card == {**before, "calibration": report}
    text = (model / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert text == model_card_markdown(card)
    assert f"## Calibration\nTemperature {report['temperature']} fitted on fer2013:PublicTest (60 faces)" in text
    assert f"its calibration written into {model / 'MODEL_CARD.md'} and card.json" in result.stderr
    assert "notice:" not in result.stderr

    # a cross-dataset table measured at another temperature than the model keeps: the card is left, and that is said
    card["cross_dataset"] = cross = json.loads((resolve_model_dir("ferplus_vgg") / "card.json").read_text(
        encoding="utf-8"))["cross_dataset"]
    for row in cross["datasets"]:
        row["calibration"]["temperature"] = 25.0  # outside the range calibrate searches: never the one kept
    (model / "card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    (model / "MODEL_CARD.md").write_text(model_card_markdown(card), encoding="utf-8")
    kept = {name: (model / name).read_bytes() for name in ("card.json", "MODEL_CARD.md")}
    result = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(fer)])
    assert result.exit_code == 0, result.output
    assert {name: (model / name).read_bytes() for name in kept} == kept
    temperature = json.loads((model / "config.json").read_text(encoding="utf-8"))["temperature"]
    assert (f"notice: the model card predates this calibration and is left as it was: {model / 'card.json'}'s "
            f"cross-dataset table gives calibration errors at temperature 25.0, and the model's is {temperature} "
            "now (measure them again") in " ".join(result.stderr.split())
    # a MODEL_CARD.md whose card.json is gone cannot be rewritten: said, with what writes both
    (model / "card.json").unlink()
    result = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(fer), "-q"])
    assert result.exit_code == 0 and (model / "MODEL_CARD.md").read_bytes() == kept["MODEL_CARD.md"]
    assert (f"{model / 'MODEL_CARD.md'} has no card.json beside it to rewrite it from (`fervid evaluate --model "
            f"{model} --data ... --write-card` writes both)") in " ".join(result.stderr.split())


def test_calibrate_help_says_which_faces_it_fits_on_and_that_scoring_them_flatters_the_ece():
    """--data read "Held-out faces" while --usage fits on PublicTest by default, FER2013's public test set (on which
    the shipped models also chose their epoch): an ECE then reported on PublicTest is measured on the faces that
    fitted the temperature."""
    from typer.main import get_command

    options = {p.name: p for p in get_command(app).commands["calibrate"].params}
    data, usage = " ".join(options["data"].help.split()), " ".join(options["usage"].help.split())
    # None: a --usage typed with a folder of faces is refused, PublicTest as any other
    assert options["usage"].default is None and "The default, PublicTest," in usage and "Held-out" not in data
    assert "by default PublicTest, FER2013's public test set" in data
    assert "A temperature fitted on the faces its ECE is then reported on flatters that ECE" in data
    assert "an ECE reported on PublicTest afterwards is flattered" in usage
    # only fer2013_vgg chose its epoch on it: ferplus_vgg was exported from its last epoch
    assert "(fer2013_vgg chose its epoch on it too)" in usage and "shipped models" not in usage


def _astronaut_photos(folder, astronaut_rgb):
    """The astronaut as she is, and her head and shoulders on a coloured wall: two photos of one face each."""
    import numpy as np

    folder.mkdir(parents=True)
    Image.fromarray(astronaut_rgb).save(folder / "astronaut.png")
    wall = np.zeros((400, 600, 3), np.uint8)
    wall[:] = (40, 120, 200)
    wall[60:360, 150:450] = astronaut_rgb[0:300, 100:400]
    Image.fromarray(wall).save(folder / "wall.jpg")
    return [folder / "astronaut.png", folder / "wall.jpg"]


def test_image_crops_are_the_faces_evaluate_reads(tmp_path, astronaut_rgb):
    """There was no documented way to make the aligned face crops calibrate and train read from one's photos:
    `fervid image --crops DIR` writes each face's, and they score as the photos' faces do."""
    import numpy as np
    import pandas as pd

    from fervid import Analyzer

    photos = _astronaut_photos(tmp_path / "photos", astronaut_rgb)
    made = runner.invoke(app, ["image", str(tmp_path / "photos"), "--crops", str(tmp_path / "crops" / "happy"),
                               "--json", str(tmp_path / "faces.json")])
    assert made.exit_code == 0, made.output
    assert sorted(p.name for p in (tmp_path / "crops" / "happy").iterdir()) == ["astronaut_face1.png",
                                                                               "wall_face1.png"]
    analyzer = Analyzer()
    for photo in photos:
        face = analyzer.analyze_image(photo)[0]
        crop = np.asarray(Image.open(tmp_path / "crops" / "happy" / f"{photo.stem}_face1.png"))
        np.testing.assert_array_equal(crop, face.crop)  # the aligned 48x48 grey crop the CNN read, as it was
    scored = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "crops"), "--out", str(tmp_path / "eval")])
    assert scored.exit_code == 0, scored.output
    predictions = pd.read_csv(tmp_path / "eval" / "predictions.csv").set_index("source")
    for photo in photos:
        face = analyzer.analyze_image(photo)[0]
        row = predictions.loc[str(tmp_path / "crops" / "happy" / f"{photo.stem}_face1.png")]
        assert row["predicted"] == face.emotion
        np.testing.assert_allclose(row[list(face.emotion_probabilities)].to_numpy(float), face.probabilities,
                                   atol=1e-5)
    assert "notice" not in made.output
    # a photo of two people, cropped into an emotion's folder: both faces would carry its label, and that is said
    group = np.full((400, 700, 3), 200, np.uint8)
    group[40:280, 20:280] = astronaut_rgb[0:240, 110:370]
    group[120:280, 420:560] = np.asarray(Image.fromarray(astronaut_rgb[0:240, 110:370]).resize((140, 160)))
    Image.fromarray(group).save(tmp_path / "group.png")
    two = runner.invoke(app, ["image", str(tmp_path / "group.png"), "--crops", str(tmp_path / "two" / "happy")])
    assert len(list((tmp_path / "two" / "happy").iterdir())) == 2
    assert "notice: 1 image(s) held several faces, and each face's crop was written" in two.output
    assert "--max-faces 1" in two.output
    one = runner.invoke(app, ["image", str(tmp_path / "group.png"), "--crops", str(tmp_path / "one" / "happy"),
                              "--max-faces", "1"])
    assert [p.name for p in (tmp_path / "one" / "happy").iterdir()] == ["group_face1.png"]
    assert "notice" not in one.output


def _small_face(astronaut_rgb, side: int) -> np.ndarray:
    """The astronaut's face as a ``side`` px face crop (RGB): its box on the photo and a tenth of it around."""
    import cv2

    from fervid import Analyzer

    x, y, w, h = Analyzer().analyze_image(astronaut_rgb)[0].box
    face = astronaut_rgb[int(y - h / 10):int(y + h * 1.1), int(x - w / 10):int(x + w * 1.1)]
    return cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)


def _small_pictures(folder, astronaut_rgb):
    """The astronaut's face as 32 and 48 px face crops (found only on an enlarged copy, and a face filling the
    picture), and 48 x 48 and 64 x 40 pictures of coffee (no face): FER2013-sized images."""
    import cv2
    from skimage import data

    folder.mkdir(parents=True)
    for side in (32, 48):
        Image.fromarray(_small_face(astronaut_rgb, side)).save(folder / f"face{side}.png")
    Image.fromarray(cv2.resize(data.coffee(), (48, 48), interpolation=cv2.INTER_AREA)).save(folder / "coffee.png")
    Image.fromarray(cv2.resize(data.coffee(), (64, 40), interpolation=cv2.INTER_AREA)).save(folder / "cup.png")
    return folder


def test_face_crops_are_classified_whole_as_evaluate_reads_them(tmp_path, astronaut_rgb):
    """400 FER2013 faces as 48x48 PNGs: `fervid image` found no face in 61 (exit 0, not a word), and re-cropped
    the others inside the picture (accuracy 0.728 against FER+, 0.843 classified whole). --face-crops classifies
    each picture whole, as `fervid evaluate --data` reads a folder of crops: the same probabilities."""
    import pandas as pd

    from fervid.apps.schemas import ImagesOut

    crops = _small_pictures(tmp_path / "crops" / "happy", astronaut_rgb)
    detected = runner.invoke(app, ["image", str(crops), "--csv", str(tmp_path / "detected.csv"), "-q"])
    assert detected.exit_code == 0, detected.output
    found = pd.read_csv(tmp_path / "detected.csv").set_index("file")
    assert found.loc[str(crops / "face32.png"), "face"] == 1 and found.loc[str(crops / "face48.png"), "face"] == 1
    # the pictures under 128 px with no face: one notice pointing at --face-crops
    assert ("notice: 2 of the 4 image(s) under 128 px had no face found (e.g. " in detected.output
            and "--face-crops classifies each whole image as one face" in detected.output)

    whole = runner.invoke(app, ["image", str(crops), "--face-crops", "--csv", str(tmp_path / "whole.csv"),
                                "--json", str(tmp_path / "whole.json"), "-q"])
    assert whole.exit_code == 0, whole.output
    assert "notice" not in whole.output
    rows = pd.read_csv(tmp_path / "whole.csv").set_index("file")
    assert len(rows) == 4 and (rows["face"] == 1).all() and rows["detection_score"].isna().all()
    assert rows.loc[str(crops / "cup.png"), ["x", "y", "width", "height"]].tolist() == [0, 0, 64, 40]
    doc = json.loads((tmp_path / "whole.json").read_text())
    ImagesOut.model_validate(doc)
    assert doc["face_crops"] is True
    assert all(f["faces"][0]["landmarks"] == [] and f["faces"][0]["detection_score"] is None for f in doc["files"])
    # finding faces' options would do nothing: refused, not ignored
    for option in (["--min-face", "10"], ["--max-faces", "1"], ["--detector", "centerface"]):
        refused = runner.invoke(app, ["image", str(crops), "--face-crops", *option])
        assert refused.exit_code == 2 and f"{option[0]} is for finding faces" in refused.output
    scored = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "crops"), "--out", str(tmp_path / "eval")])
    assert scored.exit_code == 0, scored.output
    predictions = pd.read_csv(tmp_path / "eval" / "predictions.csv").set_index("source")
    emotions = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    for file in rows.index:
        assert predictions.loc[file, "predicted"] == rows.loc[file, "emotion"]
        np.testing.assert_allclose(predictions.loc[file, emotions].to_numpy(float),
                                   rows.loc[file, emotions].to_numpy(float), atol=1e-4)
    assert rows.loc[str(crops / "face48.png"), "emotion"] == "happy"


def _two_faces(astronaut_rgb):
    """The astronaut twice, side by side: a photo of two faces."""
    group = np.full((400, 700, 3), 200, np.uint8)
    group[40:280, 20:280] = astronaut_rgb[0:240, 110:370]
    group[120:280, 420:560] = np.asarray(Image.fromarray(astronaut_rgb[0:240, 110:370]).resize((140, 160)))
    return group


def test_a_second_run_does_not_read_its_own_crops_back_as_photos(tmp_path, astronaut_rgb):
    """`fervid image inplace --crops inplace/crops`, run twice, read the first run's crops as photos: crops of
    crops, and the table doubled."""
    inplace = tmp_path / "inplace"
    inplace.mkdir()
    Image.fromarray(astronaut_rgb).save(inplace / "astronaut.png")
    Image.fromarray(_two_faces(astronaut_rgb)).save(inplace / "group.jpg")
    args = ["image", str(inplace), "--crops", str(inplace / "crops"), "--annotate", str(inplace / "ann")]
    first = runner.invoke(app, [*args, "--csv", str(tmp_path / "1.csv")])
    second = runner.invoke(app, [*args, "--csv", str(tmp_path / "2.csv")])
    assert first.exit_code == second.exit_code == 0, second.output
    assert (tmp_path / "1.csv").read_text() == (tmp_path / "2.csv").read_text()
    assert len((tmp_path / "2.csv").read_text().splitlines()) == 1 + 3
    assert sorted(p.name for p in (inplace / "crops").iterdir()) == ["astronaut_face1.png", "group_face1.png",
                                                                     "group_face2.png"]
    assert (f"notice: {inplace}: left out 3 file(s) in {inplace / 'crops'}, where this run writes its --crops"
            in second.output)
    alone = runner.invoke(app, ["image", str(inplace / "crops"), "--crops", str(inplace / "crops")])
    assert alone.exit_code == 1 and "folder holds only what this run writes (its --crops folder)" in alone.output


def test_images_of_one_name_from_separate_runs_keep_their_own_outputs(tmp_path, astronaut_rgb):
    """`fervid image a/img.jpg --crops c/`, then `fervid image b/img.jpg --crops c/`: b's outputs were written over
    a's without a word. Each output records its image, so b's are named apart (b_img) and that is said; each image
    run again replaces its own."""
    from fervid import Analyzer

    for folder, picture in (("a", astronaut_rgb), ("b", astronaut_rgb[:, ::-1][:, :400])):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.ascontiguousarray(picture)).save(tmp_path / folder / "img.png")
    outputs = ["--annotate", str(tmp_path / "ann"), "--crops", str(tmp_path / "crops"), "-q"]
    a, b = tmp_path / "a" / "img.png", tmp_path / "b" / "img.png"
    assert runner.invoke(app, ["image", str(a), *outputs]).exit_code == 0
    second = runner.invoke(app, ["image", str(b), *outputs])
    assert second.exit_code == 0, second.output
    assert (f"notice: {b}: its outputs are named b_img (in {tmp_path / 'ann'} and {tmp_path / 'crops'}, img names "
            "another image's outputs, from an earlier run)") in second.output
    names = ["b_img_face1.png", "img_face1.png"], ["b_img_fervid.png", "img_fervid.png"]
    assert (sorted(p.name for p in (tmp_path / "crops").iterdir()), sorted(p.name for p in (tmp_path / "ann").iterdir())
            ) == names
    analyzer = Analyzer()
    for image, stem in ((a, "img"), (b, "b_img")):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "crops" / f"{stem}_face1.png")),
                                      analyzer.analyze_image(image)[0].crop)
        assert Image.open(tmp_path / "ann" / f"{stem}_fervid.png").size == Image.open(image).size
    for image in (a, b):  # run again: each replaces its own, under its own name
        again = runner.invoke(app, ["image", str(image), *outputs])
        assert again.exit_code == 0 and "notice" not in again.output
    assert (sorted(p.name for p in (tmp_path / "crops").iterdir()), sorted(p.name for p in (tmp_path / "ann").iterdir())
            ) == names


def test_an_image_cropped_again_with_fewer_faces_leaves_none_of_its_earlier_crops(tmp_path, astronaut_rgb):
    """Cropped again with --max-faces 1 (as the several-faces notice advises), a photo's _face2.png from the first
    run stayed, to be sorted and scored as a face of its own. Only the crops fervid wrote of that image go."""
    Image.fromarray(_two_faces(astronaut_rgb)).save(tmp_path / "group.jpg")
    crops = tmp_path / "crops"
    assert runner.invoke(app, ["image", str(tmp_path / "group.jpg"), "--crops", str(crops), "-q"]).exit_code == 0
    assert sorted(p.name for p in crops.iterdir()) == ["group_face1.png", "group_face2.png"]
    Image.fromarray(astronaut_rgb[:48, :48]).save(crops / "group_face9.png")  # not fervid's: no image recorded
    again = runner.invoke(app, ["image", str(tmp_path / "group.jpg"), "--crops", str(crops), "--max-faces", "1"])
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in crops.iterdir()) == ["group_face1.png", "group_face9.png"]


def test_an_earlier_crop_windows_holds_a_moment_is_deleted_on_a_later_try(tmp_path, astronaut_rgb, monkeypatch):
    """Windows' virus scanner or indexer opening the earlier _face2.png for a moment (its delete refused, WinError
    32) failed the image's crops at once; the delete is tried again, as fervid's renames are."""
    from fervid.errors import WINDOWS_HELD_OPEN
    from fervid.inference import set_aside

    Image.fromarray(_two_faces(astronaut_rgb)).save(tmp_path / "group.jpg")
    crops = tmp_path / "crops"
    assert runner.invoke(app, ["image", str(tmp_path / "group.jpg"), "--crops", str(crops), "-q"]).exit_code == 0
    waits = retry_waits(monkeypatch)
    refused = refuse(monkeypatch, "unlink", lambda path: Path(path).name == "group_face2.png", times=2)
    again = runner.invoke(app, ["image", str(tmp_path / "group.jpg"), "--crops", str(crops), "--max-faces", "1"])
    assert again.exit_code == 0, again.output
    assert 32 in WINDOWS_HELD_OPEN and len(refused) == 2 and waits == list(set_aside.REPLACE_RETRY_WAITS_S[:2])
    assert sorted(p.name for p in crops.iterdir()) == ["group_face1.png"]


def test_a_small_image_is_annotated_enlarged_so_its_label_can_be_read(tmp_path, astronaut_rgb):
    """A 48x48 face crop's annotated copy: its label covered half the face and was cut off, in text a few pixels
    tall. The copy is enlarged by a whole factor (6: 288 px), each pixel a block; the results keep the image's own
    pixels."""
    import cv2

    face = cv2.cvtColor(_small_face(astronaut_rgb, 48), cv2.COLOR_RGB2GRAY)
    Image.fromarray(face).save(tmp_path / "face.png")
    for mode in ([], ["--face-crops"]):
        made = runner.invoke(app, ["image", str(tmp_path / "face.png"), "--annotate", str(tmp_path / "ann"),
                                   "--json", str(tmp_path / "r.json"), "-q", *mode])
        assert made.exit_code == 0, made.output
        copy = np.asarray(Image.open(tmp_path / "ann" / "face_fervid.png").convert("L"))
        assert copy.shape == (288, 288)
        np.testing.assert_array_equal(copy[27 * 6:28 * 6, 24 * 6:25 * 6], face[27, 24])  # mid-face, a 6 px block
        box = json.loads((tmp_path / "r.json").read_text())["files"][0]["faces"][0]["box"]
        assert box["x"] + box["width"] <= 48 and box["y"] + box["height"] <= 48


def test_evaluate_says_n_a_where_a_class_has_nothing_to_count_with_averages_and_an_interval(tmp_path,
                                                                                            astronaut_rgb):
    """Classes absent from the data (and never predicted) were printed 0.000 precision and recall; nor were there
    average rows or an interval around the accuracy."""
    _astronaut_photos(tmp_path / "photos" / "happy", astronaut_rgb)
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "photos"), "--dataset", "photos", "--out",
                                 str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["n"] == 2 and metrics["accuracy"] == 1.0  # she smiles in both
    low = metrics["accuracy_ci95"][0]
    assert 0.2 < low < 0.5 and metrics["accuracy_ci95"][1] == 1.0  # two faces say little
    assert f"(2 faces): accuracy 1.0000 (95% CI {low:.4f}-1.0000, Wilson)" in result.output
    assert metrics["precision"][4] is None and metrics["recall"][4] is None  # sad: no face, none predicted
    assert metrics["macro_avg"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    report = (tmp_path / "eval" / "report.md").read_text(encoding="utf-8")
    for text in (result.output, report):
        assert "| sad | n/a | n/a | n/a | 0 |" in text and "| macro avg (over happy) | 1.000 | 1.000 | 1.000 | 2 |" \
            in text and "| weighted avg (over happy) |" in text
    assert f"Accuracy **1.0000** (95% CI {low:.4f}-1.0000, Wilson)" in report


def _ckplus_folder(faces, folder: Path) -> None:
    """``faces`` as a CK+48 folder: three frames a person, people spread over six emotion folders."""
    folders = ["anger", "disgust", "fear", "happy", "sadness", "surprise"]
    for i, face in enumerate(faces):
        person, frame = divmod(i, 3)
        (folder / folders[person % 6]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(face).save(folder / folders[person % 6] / f"S{person + 1:03d}_001_{frame + 1:08d}.png")


def test_evaluate_on_ckplus_gives_an_interval_over_its_people_not_its_faces(tmp_path, monkeypatch):
    """CK+48 is 783 faces of 86 people, three near-identical frames per sequence: `fervid evaluate` gave Wilson's
    interval, the faces read as independent draws (0.662-0.726, where resampling people gives 0.649-0.739)."""
    import pandas as pd

    from conftest import synthetic_faces
    from fervid.evaluation import evaluate as evaluation

    faces, _ = synthetic_faces(36)
    _ckplus_folder(faces, tmp_path / "ck")  # 12 people, one sequence of three frames each
    # synthetic faces are all read as one emotion: instead, 2 of every 3 people's faces right, the others wrong (an
    # interval over people all wrong would be Wilson's over the people)
    def predicted(cnn, ds, logits=False, **kwargs):
        right = np.array([int(subject[1:]) % 3 != 0 for subject in ds.subjects])
        scores = np.eye(7)[np.where(right, ds.labels, (ds.labels + 1) % 7)] * 5.0
        return scores if logits else np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)

    monkeypatch.setattr(evaluation, "predict_dataset", predicted)
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "ck"), "--dataset", "ckplus", "--out",
                                 str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    # 12 people: a t interval over them (a bootstrap over so few is too narrow)
    assert metrics["n"] == 36 and metrics["ci_method"] == "t interval over 12 subjects"
    from fervid.evaluation.intervals import interval_over_groups  # the interval is over the people

    rows = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert [metrics["accuracy_ci95"], metrics["ci_method"]] == list(interval_over_groups(
        rows["label"] == rows["predicted"], rows["subject"], "subjects"))
    low, high = metrics["accuracy_ci95"]
    assert f"(95% CI {low:.4f}-{high:.4f}, t interval over 12 subjects)" in result.output
    assert f"(95% CI {low:.4f}-{high:.4f}, t interval over 12 subjects)" in (tmp_path / "eval" / "report.md").read_text(
        encoding="utf-8")


def test_evaluate_says_how_to_read_a_subject_named_na(tmp_path):
    """One of JAFFE's posers is named NA: predictions.csv read with pandas' defaults (or R's) lost his faces to a
    missing subject, and a groupby counted 5 people of 6. The name is kept (the dataset's, in its file names), and
    report.md says how to read the file."""
    import pandas as pd

    from conftest import synthetic_faces

    faces, _ = synthetic_faces(18)
    _ckplus_folder(faces, tmp_path / "crops")  # 6 people, three frames each
    rows = ["path,label,subject"] + [f"{p.relative_to(tmp_path).as_posix()},{p.parent.name},"
                                     f"{'NA' if p.stem.startswith('S001') else p.stem[:4]}"
                                     for p in sorted((tmp_path / "crops").glob("*/S*.png"))]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert " over 6 subjects" in json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))[
        "ci_method"]
    predictions = tmp_path / "eval" / "predictions.csv"
    assert pd.read_csv(predictions)["subject"].nunique() == 5  # pandas' defaults: NA is missing
    assert pd.read_csv(predictions, keep_default_na=False)["subject"].value_counts()["NA"] == 3
    report = (tmp_path / "eval" / "report.md").read_text(encoding="utf-8")
    assert ("\nnotice: predictions.csv's `subject` holds `NA`, a name here, which pandas and R read as missing by "
            "default: read it with `pd.read_csv(f, keep_default_na=False)` or `read.csv(f, na.strings = "
            "character())`") in report


def test_evaluate_reads_a_label_table_with_subjects_and_names_what_it_left_out(tmp_path, astronaut_rgb):
    """A researcher's `path,label` CSV was refused ("missing FER2013 column(s) Usage, emotion, pixels"): it is read
    as her folders are, the interval resamples her subjects, and the lines it could not use are named; a whole photo
    among the crops is named too."""
    from conftest import synthetic_faces

    faces, _ = synthetic_faces(36)
    _ckplus_folder(faces, tmp_path / "crops")  # 12 people, three frames each
    Image.fromarray(astronaut_rgb).save(tmp_path / "crops" / "happy" / "astronaut.png")
    rows = ["path,label,subject"] + [f"{p.relative_to(tmp_path).as_posix()},{p.parent.name.title()},{p.stem[:4]}"
                                     for p in sorted((tmp_path / "crops").glob("*/S*.png"))]
    rows += ["crops/happy/astronaut.png,happy,S099", "crops/happy/gone.png,happy,S001",
             "crops/anger/S001_001_00000001.png,Scared,S001"]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    # (synthetic faces, none read right: Wilson's interval, as an interval over the people would be 0.0-0.0)
    assert metrics["n"] == 37 and metrics["ci_method"] == ("Wilson over 13 subjects, each right where any of its "
                                                           "faces is: none of 37 faces right, too few right to "
                                                           "resample the subjects")
    assert metrics["settings"]["dataset_kind"] == "folder"
    assert f"  1 x no such file: {tmp_path / 'crops' / 'happy' / 'gone.png'} (labels.csv line 39)" in result.output
    assert f"{tmp_path / 'labels.csv'} label 'Scared' (line 40: did you mean fear?)" in result.output
    assert metrics["unlike_crops"] == {str(tmp_path / "crops" / "happy" / "astronaut.png"): "512x512, 10.7x their size"}
    assert f"notice: 1 of the 37 images in {tmp_path / 'labels.csv'} are unlike its others" in result.output
    # a CSV of neither form says both
    (tmp_path / "other.csv").write_text("filename,class\na.png,happy\n", encoding="utf-8")
    other = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "other.csv")])
    assert other.exit_code == 1 and "emotion,pixels,Usage" in other.output and "path,label" in other.output, \
        other.output


def test_an_option_given_twice_is_refused_by_every_command(tmp_path, astronaut_png):
    """`fervid evaluate --model a --model b` scored b without a word: Click keeps an option's last value (evaluate's
    --model now takes a list: several models are compared)."""
    twice = runner.invoke(app, ["image", str(astronaut_png), "--model", "fer2013_vgg", "--model=ferplus_vgg"])
    assert twice.exit_code == 2
    assert "--model is given 2 times (--model fer2013_vgg, --model ferplus_vgg): it takes one value, give it once" \
        in twice.output
    flags = runner.invoke(app, ["image", str(astronaut_png), "--quiet", "-q", "--json", str(tmp_path / "a.json")])
    assert flags.exit_code == 2 and "--quiet/-q is given 2 times (--quiet, -q)" in flags.output
    assert not (tmp_path / "a.json").exists()
    # an option that takes a list stays repeatable; a single use of each is as before
    once = runner.invoke(app, ["image", str(astronaut_png), "-q", "--json", str(tmp_path / "b.json")])
    assert once.exit_code == 0 and (tmp_path / "b.json").is_file(), once.output
    listed = runner.invoke(app, ["serve", "--allow-host", "a.example", "--allow-host", "b.example", "--port", "0"])
    assert listed.exit_code == 2 and "--port" in listed.output and "given 2 times" not in listed.output, listed.output


def test_evaluate_scores_video_against_annotated_segments_analysed_or_read_from_an_earlier_run(tmp_path,
                                                                                                astronaut_rgb):
    """A researcher's annotations of her videos: fervid's labels scored per frame and per segment, each segment on
    its face, what was not scored said; the same scores from the folder an earlier `fervid video` wrote."""
    import cv2
    import numpy as np

    from conftest import clip_writer

    face = cv2.cvtColor(astronaut_rgb[20:240, 120:330], cv2.COLOR_RGB2BGR)
    writer = clip_writer(tmp_path / "smile.mp4", 640, 480, 10.0)
    for i in range(30):  # 2 s of her smiling face, then 1 s with nobody there
        frame = np.full((480, 640, 3), 90, np.uint8)
        if i < 20:
            frame[100:320, 200 + i : 410 + i] = face
        writer.write(frame)
    writer.close()
    (tmp_path / "ann.csv").write_text("video,start,end,emotion\nsmile.mp4,0,2,happy\nsmile.mp4,2,3.5,neutral\n"
                                      "smile.mp4,3.5,4,contempt\ngone.mp4,0,1,sad\n", encoding="utf-8")
    args = ["evaluate", "--dataset", "video", "--data", str(tmp_path / "ann.csv")]
    result = runner.invoke(app, [*args, "--sample-fps", "5", "--out", str(tmp_path / "eval")])
    # a video the table names is missing: an input that failed (exit 1), the rest scored and written
    assert result.exit_code == 1, result.output
    assert f"error: {tmp_path / 'gone.mp4'}: not found (named in {tmp_path / 'ann.csv'})" in result.output
    assert "ferplus_vgg (int8, lstm) on ann.csv:" in result.output
    assert "  per frame (10 frames): accuracy 1.0000," in result.output  # one segment: no interval
    assert ("no interval for the per-frame accuracy and kappa: 1 segment(s), and an interval over segments needs at "
            "least 5") in result.output
    assert "  per segment (1 segment): accuracy 1.0000 (95% CI" in result.output
    # the annotation runs half a second past the video's end (3 s): the face was there in 2 of its 3 s
    assert "1 of 4 segment(s) scored, in 1 of 2 video(s); the face was found in 67% of the annotated time" \
        in result.output
    assert "  1 x no face found in it: line(s) 3" in result.output
    assert "  1 x emotion 'contempt' is not one of fervid's 7: line(s) 4" in result.output
    out = tmp_path / "eval"
    assert {p.name for p in out.iterdir()} == {"metrics.json", "predictions.csv", "segments.csv", "report.md",
                                               "confusion.png", "confusion_segment.png"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["sample_fps"] == 5.0 and metrics["settings"]["method"] == "lstm"
    assert metrics["per_frame"]["unit"] == "frames"
    assert metrics["per_frame"]["ci_method"] == "none: 1 segment(s), too few: an interval needs 5"
    # one label: kappa is undefined, said so (null, not NaN, in metrics.json)
    assert metrics["per_frame"]["kappa"] is None and "Cohen's kappa undefined" in result.output
    assert metrics["not_scored"] == {"3": "no face found in it", "4": "emotion 'contempt' is not one of fervid's 7",
                                     "5": f"video {tmp_path / 'gone.mp4'} not found"}
    assert {"window", "detect_every", "min_face", "score_threshold"} <= set(metrics["settings"])
    # the annotation running past the video's end is said, naming its line, where the other warnings go
    past_end = (f"{tmp_path / 'ann.csv'}, line 3: the segment 2-3.5 s ends 0.50 s after the video's end (3.00 s); "
                "cut there")
    assert f"warning: {past_end}" in result.output and past_end in metrics["warnings"]
    assert f"warning: {past_end}" in (out / "report.md").read_text(encoding="utf-8")
    # the files that gave the labels, as image evaluation records them (README: metrics.json says what ran)
    assert metrics["settings"]["weights_file"] == "model_int8.onnx" and len(metrics["settings"]["weights_sha256"]) == 64
    assert len(metrics["settings"]["temporal_model_sha256"]) == 64
    with open(out / "predictions.csv", newline="", encoding="utf-8") as f:
        frames = list(csv.DictReader(f))
    assert len(frames) == 10 and all(float(row["time"]) < 2 and row["predicted"] == "happy" for row in frames)
    assert "## per segment" in (out / "report.md").read_text(encoding="utf-8")

    # scored again from the outputs of an earlier analysis, without analysing the video again
    video = runner.invoke(app, ["video", str(tmp_path / "smile.mp4"), "--out", str(tmp_path / "run"), "--sample-fps",
                                "5", "--no-annotate", "-q"])
    assert video.exit_code == 0, video.output
    again = runner.invoke(app, [*args, "--results", str(tmp_path / "run")])
    assert again.exit_code == 1, again.output  # gone.mp4 still

    def scores(output):  # the title and the two scores, after the progress bars
        return output[output.index("ferplus_vgg (int8, lstm)"):].splitlines()[:4]

    assert scores(again.output) == scores(result.output)
    # what made the labels read back: the run's files and versions, not those of the process that read them
    runner.invoke(app, [*args, "--results", str(tmp_path / "run"), "--out", str(tmp_path / "read_back")])
    read_back = json.loads((tmp_path / "read_back" / "metrics.json").read_text())["settings"]
    assert read_back["weights_sha256"] == metrics["settings"]["weights_sha256"]
    assert read_back["results_made_with"]["fervid"] == summary_version(tmp_path / "run" / "smile_tracks.json")
    # a folder whose videos were analysed with other settings is not pooled into one score
    (tmp_path / "smile2.mp4").write_bytes((tmp_path / "smile.mp4").read_bytes())
    summary = json.loads((tmp_path / "run" / "smile_tracks.json").read_text())
    (tmp_path / "run" / "smile2_tracks.json").write_text(json.dumps(summary | {"file": str(tmp_path / "smile2.mp4"),
                                                                              "window": 2.0}))
    (tmp_path / "run" / "smile2_frames.parquet").write_bytes((tmp_path / "run" / "smile_frames.parquet").read_bytes())
    (tmp_path / "two.csv").write_text("video,start,end,emotion\nsmile.mp4,0,2,happy\nsmile2.mp4,0,2,happy\n",
                                      encoding="utf-8")
    mixed = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "two.csv"), "--results", str(tmp_path / "run")])
    assert mixed.exit_code == 1 and "its videos were analysed with different settings (window: 1.0 for smile.mp4, " \
        "2.0 for smile2.mp4)" in mixed.output, mixed.output
    # a line naming no video, or a folder, says so naming the line (exit 1), and is not counted as a video
    (tmp_path / "blank.csv").write_text("video,start,end,emotion\nsmile.mp4,0,2,happy\n,2,3,sad\nrun,2,3,sad\n",
                                        encoding="utf-8")
    blank = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "blank.csv"), "--results", str(tmp_path / "run")])
    assert blank.exit_code == 1, blank.output
    assert f"error: {tmp_path / 'blank.csv'}, line 3: no video named" in blank.output
    assert f"error: {tmp_path / 'blank.csv'}, line 4: {tmp_path / 'run'} is a folder, not a video" in blank.output
    assert "1 of 3 segment(s) scored, in 1 of 1 video(s)" in blank.output and "not found" not in blank.output
    # track numbers are the numbering of the analysis that gave them: a fresh analysis may number faces otherwise
    (tmp_path / "tracked.csv").write_text("video,start,end,emotion,track\nsmile.mp4,0,2,happy,1\n", encoding="utf-8")
    tracked = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "tracked.csv"), "--sample-fps", "5"])
    assert tracked.exit_code == 0 and "warning: the table names track numbers" in tracked.output
    # one participant per video, as `fervid video --max-faces 1` analyses them; recorded with the scores
    one = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "tracked.csv"), "--sample-fps", "5", "--max-faces",
                              "1", "--out", str(tmp_path / "one")])
    assert one.exit_code == 0, one.output
    assert json.loads((tmp_path / "one" / "metrics.json").read_text())["settings"]["max_faces"] == 1
    for refused_args in (["--results", str(tmp_path / "run")], ["--dataset", "fer2013"]):
        refused = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "tracked.csv"), "--max-faces", "1",
                                      *refused_args])
        assert refused.exit_code == 2 and "--max-faces" in refused.output, refused.output
    # a margin leaves out the frames near a segment's ends: 7 of 0-2 s at 5 a second are 0.3 s or more inside
    margin = runner.invoke(app, [*args, "--results", str(tmp_path / "run"), "--margin", "0.3"])
    assert "  per frame (7 frames): accuracy 1.0000" in margin.output, margin.output
    negative = runner.invoke(app, [*args, "--margin", "-1"])
    assert negative.exit_code == 2 and "--margin must be 0 or more seconds, not -1.0" in negative.output
    # a table with video, start and end columns is told from FER2013's CSV without --dataset
    refused = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "ann.csv"), "--results", str(tmp_path / "run"),
                                  "--method", "mean"])
    assert refused.exit_code == 2 and "--method with --results: the labels in" in refused.output

    # nothing to score: one error line, no output folder left behind
    (tmp_path / "empty.csv").write_text("video,start,end,emotion\nsmile.mp4,2.2,3,happy\n", encoding="utf-8")
    none = runner.invoke(app, ["evaluate", "--dataset", "video", "--data", str(tmp_path / "empty.csv"), "--out",
                               str(tmp_path / "eval2" / "x"), "--sample-fps", "5"])
    assert none.exit_code == 1 and "no annotated segment could be scored (no face found in it)" in none.output
    assert not (tmp_path / "eval2").exists()


def test_evaluate_reports_how_far_confidence_is_from_accuracy_on_the_faces_it_scores(tmp_path):
    """A card and the README called the default's confidence calibrated on the strength of the FER+ faces its
    temperature was fitted on; on other faces (CK+, JAFFE) nothing fervid wrote said how far it was."""
    import pandas as pd
    from scipy.special import softmax

    from conftest import synthetic_faces
    from fervid.emotions import EMOTIONS
    from fervid.evaluation.evaluate import expected_calibration_error
    from fervid.inference.models import EmotionCNN

    faces, _ = synthetic_faces(18)
    _ckplus_folder(faces, tmp_path / "ck")
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "ck"), "--dataset", "ckplus", "--out",
                                 str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    calibration = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))["calibration"]
    rows = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    probs, labels = rows[list(EMOTIONS)].to_numpy(), rows["label"].map(EMOTIONS.index).to_numpy()
    temperature = EmotionCNN().config.temperature
    assert calibration["temperature"] == temperature != 1.0  # the default's, fitted on FER+ PublicTest
    assert calibration["ece"] == pytest.approx(expected_calibration_error(probs, labels), abs=1e-3)
    assert calibration["mean_confidence"] == pytest.approx(probs.max(1).mean(), abs=1e-4)
    wrong = probs.argmax(1) != labels
    assert calibration["errors"] == wrong.sum()
    assert calibration["confident_errors"] == (wrong & (probs.max(1) >= 0.9)).sum()
    # and at temperature 1, undoing the temperature fitted on other faces
    at_one = softmax(np.log(probs) * temperature, axis=1)
    assert calibration["at_temperature_1"]["ece"] == pytest.approx(expected_calibration_error(at_one, labels), abs=2e-3)
    line = f"calibration: ECE {calibration['ece']:.3f} (15 bins) at temperature {temperature:g}, mean confidence"
    assert line in result.output and line in (tmp_path / "eval" / "report.md").read_text(encoding="utf-8")


def test_evaluate_with_no_face_in_any_photo_is_one_error_and_leaves_no_output_folder(tmp_path):
    """No face in any photo: sklearn's "Found empty input array" traceback, and an empty --out folder left."""
    import numpy as np

    (tmp_path / "photos" / "happy").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(tmp_path / "photos" / "happy" / f"{i}.png")
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "photos"), "--dataset", "photos", "--out",
                                 str(tmp_path / "eval" / "run1")])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if "error" in line.lower()]
    assert errors == [f"error: {tmp_path / 'photos'}: no face found in any of the 2 photo(s)"], result.output
    assert not (tmp_path / "eval").exists()


def test_calibrate_refuses_photos_and_keeps_a_model_temperature_no_fit_improves_on(tmp_path, astronaut_rgb):
    """On a folder of photos read as face crops the fit ran to its bound (20) and wrote it into the model, and
    calibrate reset the model's own temperature to 1 before judging the fit against that."""
    import shutil

    from conftest import synthetic_faces
    from fervid.emotions import EMOTIONS
    from fervid.inference.models import resolve_model_dir

    model = tmp_path / "model"
    shutil.copytree(resolve_model_dir("ferplus_vgg"), model)
    config = (model / "config.json").read_text(encoding="utf-8")
    (tmp_path / "photos" / "happy").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(astronaut_rgb).save(tmp_path / "photos" / "happy" / f"{i}.jpg")
    refused = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(tmp_path / "photos")])
    assert refused.exit_code == 1 and "are about 512 px, more likely photos than face crops" in refused.output
    assert "`fervid image PHOTOS --crops CROPS`" in refused.output
    assert (model / "config.json").read_text(encoding="utf-8") == config
    # bars on noise: faces the model says nothing sure of, whose fit runs to the bound
    faces, labels = synthetic_faces(40)
    for i, (face, label) in enumerate(zip(faces, labels)):
        (tmp_path / "bars" / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(face).save(tmp_path / "bars" / EMOTIONS[label] / f"{i}.png")
    result = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(tmp_path / "bars")])
    assert result.exit_code == 0, result.output
    report = json.loads((model / "calibration.json").read_text(encoding="utf-8"))
    assert report["temperature"] > 19.8 and report["at_fitting_bound"] and not report["applied"]
    assert report["current_temperature"] == 0.5575 and report["kept_temperature"] == 0.5575
    assert f"{report['ece_current']} at the model's temperature 0.5575" in result.output
    assert "is at the end of the range searched (0.05-20.0)" in result.output
    assert json.loads((model / "config.json").read_text(encoding="utf-8"))["temperature"] == 0.5575


def test_video_max_faces_one_keeps_a_participant_who_looks_away_as_track_1(tmp_path, astronaut_rgb):
    """A participant's webcam with someone behind them: each time the participant was out of view for over a
    second they came back as a new track, and the person behind was a track of their own. --max-faces 1 follows
    the largest face only, as track 1 throughout, and records the setting."""
    import cv2

    from conftest import clip_writer

    face = cv2.cvtColor(astronaut_rgb[20:240, 120:330], cv2.COLOR_RGB2BGR)
    behind = cv2.resize(face[:, ::-1], None, fx=0.45, fy=0.45)
    clip = tmp_path / "session.mp4"
    writer = clip_writer(clip, 640, 360, 25.0)
    for i in range(100):  # 4 s: the participant away from 1.2 s to 2.8 s
        frame = np.full((360, 640, 3), 90, np.uint8)
        frame[20:20 + behind.shape[0], 480:480 + behind.shape[1]] = behind
        if not 30 <= i < 70:
            frame[100:320, 150:360] = face
        writer.write(frame)
    writer.close()
    tracks = {}
    for name, extra in (("all", []), ("one", ["--max-faces", "1"])):
        result = runner.invoke(app, ["video", str(clip), "--method", "frame", "--no-annotate", "-q",
                                     "--out", str(tmp_path / name), *extra])
        assert result.exit_code == 0, result.output
        tracks[name] = json.loads((tmp_path / name / "session_tracks.json").read_text())
    assert len(tracks["all"]["tracks"]) == 3 and tracks["all"]["max_faces"] is None
    (only,) = tracks["one"]["tracks"]
    assert only["track"] == 1 and tracks["one"]["max_faces"] == 1
    assert only["start"] < 0.1 and only["end"] > 3.8 and 2.0 < only["seen_seconds"] < 2.8  # both visits, not the gap
    # an edited video: two shots, one face each; with --max-faces 1 both are track 1, and that is said
    edited = tmp_path / "edited.mp4"
    writer = clip_writer(edited, 640, 360, 25.0)
    rng = np.random.default_rng(0)
    second_shot = cv2.GaussianBlur(rng.integers(0, 255, (360, 640, 3)).astype(np.uint8), (0, 0), 3)
    for i in range(60):
        frame = np.full((360, 640, 3), 90, np.uint8) if i < 30 else second_shot.copy()
        frame[100:320, (150 if i < 30 else 380):(360 if i < 30 else 590)] = face if i < 30 else face[:, ::-1]
        writer.write(frame)
    writer.close()
    result = runner.invoke(app, ["video", str(edited), "--method", "frame", "--no-annotate", "-q", "--out",
                                 str(tmp_path / "edited"), "--max-faces", "1"])
    assert result.exit_code == 0, result.output
    assert "has scene cuts at 1.2 s, and with --max-faces 1 each shot's largest face is track 1" in result.output


def test_video_max_faces_says_when_a_face_followed_gave_way_to_a_larger_one(tmp_path, astronaut_rgb):
    """--max-faces 1 replaced the face followed with a larger one under the same number, and said nothing. A face
    found a round before a larger one gives way to it (a face followed longer would keep its place: --help says
    so); the newcomer is track 2, and a notice and the tracks JSON's replaced_faces say when and why. A cut that
    ended no track is no shot of its own: no notice of shots joined in track 1."""
    from fervid.apps.cli import _video_notices
    from fervid.inference.track import ESTABLISHED_ROUNDS, LARGER_FACE
    from fervid.inference.video import VideoResult

    clip = write_participant_behind_small_face(tmp_path / "session.mp4", astronaut_rgb, frames=40)
    result = runner.invoke(app, ["video", str(clip), "--method", "frame", "--no-annotate", "--key-frames", "0",
                                 "--out", str(tmp_path / "out"), "--max-faces", "1"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "out" / "session_tracks.json").read_text(encoding="utf-8"))
    assert [t["track"] for t in saved["tracks"]] == [1, 2] and saved["tracks"][1]["mean_box"]["x"] < 400
    (replaced,) = saved["replaced_faces"]
    assert replaced["track"] == 1 and replaced["new_track"] == 2 and replaced["time"] == pytest.approx(0.32)
    assert replaced["area_ratio"] > 3 and "was new (found in" in replaced["why"]
    assert "a face followed gave way to a larger one (track 1 to track 2 at 0.3 s" in result.output
    help_text = " ".join(runner.invoke(app, ["video", "--help"]).output.split())
    assert f"A face followed for {ESTABLISHED_ROUNDS} detection rounds keeps its place until it is gone" in help_text
    assert f"a newer one gives way to a face {LARGER_FACE:g} times its area" in help_text
    kept = VideoResult("screen.mp4", scene_cuts=[3.0], scene_cut_tracks=[{"time": 3.0, "ended": [], "kept": [1]}],
                       settings={"max_faces": 1})
    kept.tracks = {1: None}
    assert _video_notices(kept, "screen.mp4", tmp_path) == []
    kept.scene_cut_tracks[0].update(ended=[1], kept=[])
    assert "has scene cuts at 3.0 s, and with --max-faces 1" in _video_notices(kept, "screen.mp4", tmp_path)[0]


def test_a_tracks_summary_line_says_mostly_only_for_an_emotion_held_most_of_the_time(tmp_path, face_clip):
    """`mostly fear (28%)` was printed for a track whose four emotions held 19-28% of its time each."""
    from fervid.apps.cli import _dominant_text

    result = runner.invoke(app, ["video", str(face_clip), "--method", "frame", "--no-annotate", "--out",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "face_clip_tracks.json").read_text(encoding="utf-8"))
    for track in summary["tracks"]:
        share = track["emotion_share"][track["dominant_emotion"]]
        said = f"{'mostly' if share > 0.5 else 'most often'} {track['dominant_emotion']} ({share:.0%})"
        assert f"track {track['track']}: " in result.output and said in result.output
    spread = {"dominant_emotion": "fear", "emotion_share": {"fear": 0.28, "happy": 0.27, "sad": 0.24, "angry": 0.21},
              "uncertain_share": 0.35}
    assert _dominant_text(spread) == "most often fear (28%), uncertain in 35% of frames"
    assert _dominant_text({**spread, "emotion_share": {"fear": 0.61}}) == "mostly fear (61%), uncertain in 35% of frames"


@needs_sample_clip
def test_the_lines_printed_mark_an_uncertain_face_and_a_tracks_uncertain_share(tmp_path, astronaut_png,
                                                                               uncertain_face_png):
    """`fervid image` printed "surprise 44%" for a face flagged uncertain, as for a sure one, and `fervid video`
    "most often neutral (50%)" for carphone's track, a third of whose rows are uncertain: the face is marked "?" (as
    the annotated image and the live page mark it), what the mark means said once, and the track's line says its
    share of uncertain frames (its tracks JSON's uncertain_share)."""
    result = runner.invoke(app, ["image", str(astronaut_png), str(uncertain_face_png)])
    assert result.exit_code == 0, result.output
    assert re.search(rf"{re.escape(str(astronaut_png))}: 1 face\(s\): happy \d+%\n", result.output), result.output
    # (flagged with the versions CI's first run installs: surprise 0.44; at the dependency floors it reads 0.61, sure)
    from fervid import Analyzer

    (face,) = Analyzer().analyze_image(str(uncertain_face_png))
    mark = r"\?" if face.uncertain else ""
    assert re.search(rf"{re.escape(str(uncertain_face_png))}: 1 face\(s\): {face.emotion} \d+%{mark}\n", result.output)
    assert face.uncertain == ("\"?\": an uncertain face (its confidence under the model's threshold)" in result.output)
    sure = runner.invoke(app, ["image", str(astronaut_png)])
    assert sure.exit_code == 0 and "?" not in sure.output, sure.output  # said only where a face is marked
    result = runner.invoke(app, ["video", str(carphone()), "--no-annotate", "--key-frames", "0", "--out",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    (track,) = json.loads((tmp_path / "carphone_pristine_tracks.json").read_text(encoding="utf-8"))["tracks"]
    assert 0 < track["uncertain_share"] < 1
    assert f"uncertain in {track['uncertain_share']:.0%} of frames, " in result.output


def test_the_time_writing_timelines_and_key_frames_is_said_apart_from_the_analysis(tmp_path, monkeypatch,
                                                                                   long_face_clip):
    """A call of 14 faces sat at its last frame for 4 s writing 14 timelines, and the line after said "28 fps"
    over the analysis alone: the writing is said apart. The real-time ratio is the whole run's: said over the
    analysis alone ("1.7x real time ... 10.5 s more writing"), a run slower than the video read as faster."""
    import time

    from fervid.inference.video import VideoResult

    save = VideoResult.save

    def slow_save(self, out_dir):  # as a video of many tracks: 0.3 s a timeline
        time.sleep(1.2)
        return save(self, out_dir)

    monkeypatch.setattr(VideoResult, "save", slow_save)
    result = runner.invoke(app, ["video", str(long_face_clip), "--method", "frame", "--no-annotate", "--out",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    said = re.search(r"120 frames in (\d+\.\d) s \(\d+ fps\) and (\d+\.\d) s more writing its timelines and key "
                     r"frames: (\d+\.\d) s, (\d+\.\d)x real time, 1 track\(s\)", result.output)
    assert said, result.output
    analysis, writing, whole, real_time = (float(v) for v in said.groups())
    assert 1.2 <= writing < 5 and whole == pytest.approx(analysis + writing, abs=0.11), result.output
    # the whole run's (each number said to a tenth): the video's 4.0 s over the analysis and the writing
    assert 120 / 30 / (whole + 0.05) - 0.05 <= real_time <= 120 / 30 / (whole - 0.05) + 0.05, result.output


@needs_repository
def test_the_absence_that_ends_an_episode_is_said_as_the_rule_that_runs():
    """--help, the README and seen_seconds' description promised that an absence of 0.5 s ends an episode; at
    --detect-every 1 absences up to 1.04 s counted as seen (a face flow lost is looked for again at the next
    detection only: an absence shorter than that cannot be told from flow losing it). They now say the rule."""
    from fervid.inference.records import FIELD_DESCRIPTIONS
    from fervid.inference.video import GAP_SPACINGS, UNSEEN_SECONDS, gap_seconds

    assert gap_seconds(1 / 25, 1.0) == pytest.approx(1.04)  # --detect-every plus one analysed frame
    assert gap_seconds(1 / 25, 0.3) == UNSEEN_SECONDS == 0.5 and gap_seconds(1 / 2, 0.3) == GAP_SPACINGS / 2 == 1.25
    rule = "longer than 0.5 s, 2.5 analysed frames or --detect-every plus one analysed frame, whichever is longest"
    help_words = " ".join(runner.invoke(app, ["video", "--help"], env={"COLUMNS": "200"}).output.replace("│", " ")
                          .split())
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8")
                      .replace("`", "").split())
    assert rule in FIELD_DESCRIPTIONS["seen_seconds"] and rule in help_words and rule in readme
    assert "1.04 s at --detect-every 1" in readme


def _write_hall(clip: Path, astronaut_rgb, size: tuple[int, int]) -> Path:
    """8 frames (15 fps) of six faces whose boxes are about 24 px tall, drifting down a pixel a frame, on grey."""
    import cv2

    from conftest import clip_writer

    face = cv2.resize(cv2.cvtColor(astronaut_rgb[30:210, 150:300], cv2.COLOR_RGB2BGR), (32, 38),
                      interpolation=cv2.INTER_AREA)  # its face box about 24 px tall
    writer = clip_writer(clip, *size, 15.0)
    for i in range(8):
        frame = np.full((size[1], size[0], 3), 110, np.uint8)
        for k in range(6):
            y, x = 60 + 120 * (k // 3) + i, 60 + 150 * (k % 3)
            frame[y:y + 38, x:x + 32] = face
        writer.write(frame)
    writer.close()
    return clip


@pytest.mark.parametrize("size, said, name", [((1920, 1080), True, "hall.mp4"), ((640, 360), False, "hall.mp4"),
                                              ((1920, 1080), True, "hall:1.mp4")])
def test_a_large_video_where_no_face_was_found_is_said_to_have_smaller_ones(tmp_path, astronaut_rgb, size, said,
                                                                            name, monkeypatch):
    """A lecture hall of 30 faces 21-36 px tall in 1280x720 gave no track, exit 0 and no word (the hint that
    smaller faces were not looked for came only with a face found near --min-face): a video where none was found
    is told whether a smaller --min-face finds faces on its frames, how many and how tall. A frame detected at full
    size (640x360) was looked at for every face the detector can find: nothing to say. A name FFmpeg would read as
    a protocol's (`hall:1.mp4`) is looked at as the analysis read it."""
    clip = _write_hall(tmp_path / "hall.mp4", astronaut_rgb, size)
    monkeypatch.chdir(tmp_path)
    clip = Path(name)  # as given, relative
    (tmp_path / "hall.mp4").rename(clip)
    result = runner.invoke(app, ["video", str(clip), "--method", "frame", "--no-annotate", "-q", "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    tracks = json.loads((tmp_path / "o" / f"{clip.stem}_tracks.json").read_text(encoding="utf-8"))["tracks"]
    notice = re.search(rf"notice: {re.escape(str(clip))}: no face was found at --min-face 48: in its "
                       rf"{size[0]}x{size[1]} frames faces smaller than 48 px were not looked for; on its frame at "
                       r"0\.3 s, --min-face 24 finds 6 \((\d+)-(\d+) px tall\): analyse it again with that "
                       r"\(slower\)", " ".join(result.output.split()))
    assert bool(notice) is said and (tracks == []) is said, result.output
    if said:
        assert 20 <= int(notice[1]) <= int(notice[2]) <= 30, result.output


def test_a_theora_video_where_no_face_was_found_is_looked_at_past_its_repeated_frames(tmp_path, astronaut_rgb):
    """The small-face probe read its frames with a plain read after a seek, which on a Theora video gives no frame
    at an empty packet (Theora's for each frame unchanged from the one before: a still picture), as at its end: a
    1280x720 hall held still for 2 s before moving, in which no face was found at --min-face 48, got no word that
    --min-face 24 finds its six faces (each frame it sought was a repeat). It reads them as the analysis does, past
    the repeats."""
    import imageio_ffmpeg

    moving = _write_hall(tmp_path / "moving.mp4", astronaut_rgb, (1280, 720))
    clip = tmp_path / "hall.ogg"  # its first picture held 2 s, then its 8 frames moving: 38 frames, 2.5 s
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(moving), "-vf",
                    "tpad=start_mode=clone:start_duration=2", "-c:v", "libtheora", "-q:v", "10", "-an", str(clip)],
                   check=True)
    packets = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(clip), "-c", "copy", "-f",
                              "framecrc", "-"], capture_output=True, text=True, encoding="utf-8", check=True).stdout
    sizes = [int(line.split(",")[4]) for line in packets.splitlines() if line.startswith("0,")]
    assert len(sizes) == 38 and sizes.count(0) >= 5, sizes  # what this is about: repeats held as empty packets
    result = runner.invoke(app, ["video", str(clip), "--method", "frame", "--no-annotate", "-q", "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o" / "hall_tracks.json").read_text(encoding="utf-8"))["tracks"] == []
    notice = re.search(rf"notice: {re.escape(str(clip))}: no face was found at --min-face 48: in its 1280x720 frames "
                       r"faces smaller than 48 px were not looked for; on its frame at (\d+\.\d) s, --min-face 24 "
                       r"finds 6 \((\d+)-(\d+) px tall\)", " ".join(result.output.split()))
    assert notice, result.output
    assert 0 <= float(notice[1]) <= 2.5 and 20 <= int(notice[2]) <= int(notice[3]) <= 30, result.output


def test_start_in_a_theora_video_held_still_first_gives_the_rows_of_its_h264_copy(tmp_path, astronaut_rgb):
    """OpenCV's seek in a Theora video decodes on from the key frame before the time asked and stops at the first
    empty packet (Theora's for each frame unchanged from the one before), its reader back at the stream's start:
    a clip whose first picture is held 2 s, then moves for 1 s, said "no frame in the stretch from 2.4 s" (exit 1)
    at --start 2.4. From a start in the still stretch and after it, the first row is the one of its H.264 copy
    (the same pictures at the same times: the repeats are no pictures FFmpeg decodes, so a start in the held
    stretch gives its first row at the first picture after it, as the copy does): its time, and its picture (the
    face moves 4 px a frame)."""
    import cv2
    import imageio_ffmpeg

    from conftest import clip_writer

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    face = cv2.resize(cv2.cvtColor(astronaut_rgb[30:250, 120:340], cv2.COLOR_RGB2BGR), (80, 80))
    moving = tmp_path / "moving.mp4"  # 15 frames (15 fps), the face 4 px further right each frame
    writer = clip_writer(moving, 320, 240, 15.0)
    for i in range(15):
        frame = np.full((240, 320, 3), 110, np.uint8)
        frame[60:140, 40 + 4 * i:120 + 4 * i] = face
        writer.write(frame)
    writer.close()
    theora, h264 = tmp_path / "held.ogv", tmp_path / "held.mkv"  # the first picture held 2 s: 45 frames, 3 s
    # (a key frame each 64 frames, libtheora's own default and ffmpeg2theora's: ffmpeg's, 12, breaks the repeats up)
    subprocess.run([ffmpeg, "-v", "error", "-i", str(moving), "-vf", "tpad=start_mode=clone:start_duration=2",
                    "-c:v", "libtheora", "-q:v", "10", "-g", "64", "-an", str(theora)], check=True)
    # (in Matroska: an MP4 of variable rate says its average, 4 fps, which fervid takes for a truncated video)
    subprocess.run([ffmpeg, "-v", "error", "-i", str(theora), "-c:v", "libx264", "-fps_mode", "passthrough", "-an",
                    str(h264)], check=True)
    packets = subprocess.run([ffmpeg, "-v", "error", "-i", str(theora), "-c", "copy", "-f", "framecrc", "-"],
                             capture_output=True, text=True, encoding="utf-8", check=True).stdout
    sizes = [int(line.split(",")[4]) for line in packets.splitlines() if line.startswith("0,")]
    assert len(sizes) == 45 and sizes[1:31].count(0) == 30, sizes  # what this is about: the still held as repeats

    def first_row(clip: Path, start: float) -> dict:
        out = tmp_path / f"{clip.suffix[1:]}-{start}"
        result = runner.invoke(app, ["video", str(clip), "--start", str(start), "--method", "frame",
                                     "--no-annotate", "-q", "--out", str(out)])
        assert result.exit_code == 0, (clip.name, start, result.output)
        with (out / "held_frames.csv").open(encoding="utf-8", newline="") as table:
            return next(csv.DictReader(table))

    for start in (1.27, 2.4):
        theora_row, h264_row = first_row(theora, start), first_row(h264, start)
        assert abs(float(theora_row["time"]) - float(h264_row["time"])) < 1 / 15, (start, theora_row, h264_row)
        assert float(theora_row["time"]) >= start - 1e-3
        assert abs(float(theora_row["x"]) - float(h264_row["x"])) < 2, (start, theora_row, h264_row)  # its picture
        assert theora_row["frame"] == h264_row["frame"], (start, theora_row, h264_row)


@pytest.mark.parametrize("size, said", [((1920, 1080), True), ((640, 360), False)])
def test_faces_near_min_face_in_a_large_video_are_said_to_leave_smaller_ones_unlooked_for(tmp_path, astronaut_rgb,
                                                                                          size, said):
    """A 1080p class's back row of 26-29 px faces was missing at the default --min-face 48, with no hint: a video
    whose faces are near it is told that smaller ones were not looked for, and how to look. A frame detected at
    full size (640x360) looks for every face the detector can find: nothing to say."""
    import cv2

    from conftest import clip_writer

    face = cv2.resize(cv2.cvtColor(astronaut_rgb[30:250, 120:340], cv2.COLOR_RGB2BGR), (60, 60))
    clip = tmp_path / "class.mp4"
    writer = clip_writer(clip, *size, 15.0)
    for i in range(8):
        frame = np.full((size[1], size[0], 3), 110, np.uint8)
        frame[100 + i:160 + i, 300:360] = face
        writer.write(frame)
    writer.close()
    result = runner.invoke(app, ["video", str(clip), "--method", "frame", "--no-annotate", "-q", "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "class_tracks.json").read_text(encoding="utf-8"))
    assert len(summary["tracks"]) == 1 and summary["tracks"][0]["mean_box"]["height"] < 72
    notice = (f"notice: {clip}: 1 of its 1 track(s) are faces under 72 px tall, near --min-face 48: in its "
              f"{size[0]}x{size[1]} frames faces smaller than 48 px were not looked for, and may be missing (a back "
              "row); --min-face 24 looks for them too (slower)")
    assert (notice in " ".join(result.output.split())) is said, result.output


def png_declaring(width: int, height: int) -> bytes:
    """A 74-byte PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb's)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def test_a_video_that_is_an_image_bomb_fails_alone_and_the_next_is_analysed(tmp_path, face_clip):
    """`fervid video a_bomb.mp4 b_good.mp4`: a PNG declaring 100000 x 100000 pixels, named .mp4, ended the command
    with Pillow's DecompressionBombError traceback, and b was never analysed."""
    bomb, good = tmp_path / "a_bomb.mp4", tmp_path / "b_good.mp4"
    bomb.write_bytes(png_declaring(100_000, 100_000))
    shutil.copy(face_clip, good)
    result = runner.invoke(app, ["video", str(bomb), str(good), "--out", str(tmp_path / "out"), "--method", "mean",
                                 "--no-annotate", "-q"])
    assert result.exit_code == 1, result.output
    assert f"error: {bomb}: an image whose header declares 10,000,000,000 pixels" in result.output
    assert (tmp_path / "out" / "b_good_tracks.json").is_file()


def test_a_video_whose_analysis_runs_out_of_memory_fails_alone_and_says_so(tmp_path, monkeypatch, face_clip):
    """Memory running out on one video (or any error but a VideoError) ended the command with a traceback, the
    videos after it not analysed; `fervid image`'s error for it was `error: big.png: ` and nothing more."""
    from fervid.inference.analyzer import Analyzer
    from fervid.inference.video import VideoAnalyzer

    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    for video in (first, second):
        shutil.copy(face_clip, video)
    real_run = VideoAnalyzer.run

    def runs_out_on_the_first(self, source, *args, **kwargs):
        if Path(source) == first:
            raise MemoryError()
        return real_run(self, source, *args, **kwargs)

    monkeypatch.setattr(VideoAnalyzer, "run", runs_out_on_the_first)
    result = runner.invoke(app, ["video", str(first), str(second), "--out", str(tmp_path / "out"), "--method",
                                 "mean", "--no-annotate", "-q"])
    assert result.exit_code == 1 and f"error: {first}: out of memory while decoding and analysing it" in result.output
    assert (tmp_path / "out" / "b_tracks.json").is_file()

    photo = tmp_path / "big.png"
    Image.new("RGB", (3000, 2000)).save(photo)
    monkeypatch.setattr(Analyzer, "analyze_bgr", lambda self, *a, **k: (_ for _ in ()).throw(MemoryError()))
    result = runner.invoke(app, ["image", str(photo), "-q", "--json", os.devnull])
    assert result.exit_code == 1
    assert (f"error: {photo}: out of memory while decoding and analysing it (3000 x 2000 pixels: 18 MB decoded, "
            "before any copy the analysis makes)") in result.output


def test_onnx_runtimes_out_of_memory_is_said_as_such_and_leaves_outputs_named_partial(tmp_path, monkeypatch, face_clip):
    """`prlimit --as=1000000000 fervid video s20.mp4` said only "error: s20.mp4: .../matplotlib/_path...so: failed
    to map segment from shared object": ONNX Runtime's std::bad_alloc at frame 19 was taken for a broken video's
    error, and the timelines' drawing, failing after it for want of memory too, replaced it. Its 2-row table,
    annotated MP4 and CSV were left under their own names, as finished as any. Now the message says memory ran out,
    where, and what uses less; the drawing's failure is mentioned after it; the outputs are named partial."""
    import pandas as pd

    from fervid.inference import video as video_module
    from fervid.inference.video import table_outcome

    clip, out = tmp_path / "clip.mp4", tmp_path / "out"
    shutil.copy(face_clip, clip)
    cnn_runs_out_of_memory(monkeypatch, fails_at=3)
    drawing = ImportError("/usr/lib/python3/site-packages/matplotlib/_path.cpython-311-x86_64-linux-gnu.so: "
                          "failed to map segment from shared object")

    def drawn_without_memory(*args, **kwargs):
        raise drawing

    monkeypatch.setattr(video_module, "timeline_figure", drawn_without_memory)
    result = runner.invoke(app, ["video", str(clip), "--out", str(out), "--method", "mean", "-q"])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    first = re.match(rf"error: {re.escape(str(clip))}: out of memory at frame (\d+) \(\S+ s; ONNX Runtime: "
                     r"std::bad_alloc\); the results cover the frames before; ", said)
    assert first, said  # the first cause first
    frame = int(first.group(1))
    assert f"could not all be saved either: {drawing!r}" in said  # the drawing's, mentioned after it
    saved = json.loads((out / "clip_tracks.partial.json").read_text(encoding="utf-8"))
    assert (f"{clip} was analysed up to {saved['end_reached']:.1f} s, not to its end: its outputs in {out}/ are "
            "named .partial") in said, said
    assert said.endswith("to need less memory, close other programs, or leave out the annotated copy "
                         "(--no-annotate: its encoder's memory), or hold fewer decoded frames (--sample-fps, or "
                         "--frames-memory-mb: 2000 MB at most now)"), said
    # nothing under a finished run's names: the table, its CSV, the annotated copy and the JSON are partial
    assert sorted(p.name for p in out.iterdir() if ".partial." not in p.name) == []
    assert {"clip_frames.partial.csv", "clip_frames.partial.parquet", "clip_annotated.partial.mp4",
            "clip_episodes.partial.csv", "clip_tracks.partial.json"} <= {p.name for p in out.iterdir()}
    outcome = table_outcome(out / "clip_frames.partial.parquet")
    assert outcome is not None and not outcome["ok"]
    assert outcome["error"].startswith(f"{clip}: out of memory at frame {frame} ")
    assert not saved["ok"] and saved["frames_read"] == frame and saved["error"] == outcome["error"]
    assert 0 < len(pd.read_csv(out / "clip_frames.partial.csv")) < frame  # the frames through the CNN before


# glibc's words, word for word, where `prlimit --as=1100000000 fervid video carphone.mp4` loaded pyarrow
NOT_MAPPED = ImportError("libarrow.so.2600: failed to map segment from shared object")


@pytest.mark.parametrize("where", ["tables", "frame"])
def test_a_library_that_cannot_be_loaded_for_want_of_memory_is_said_as_memory(tmp_path, monkeypatch, where, face_clip):
    """`prlimit --as=1100000000 fervid video carphone.mp4` said "error: carphone.mp4: libarrow.so.2600: failed to map
    segment from shared object", as if the video were broken; a library loaded mid-video (scipy, for the tracker)
    that failed so was "analysis stopped at frame N", a broken video's. Now both say memory ran out, where, and what
    uses less, and the second's outputs up to there are named partial."""
    from fervid.inference import video as video_module
    from fervid.inference.models import EmotionCNN

    clip, second, out = tmp_path / "clip.mp4", tmp_path / "second.mp4", tmp_path / "out"
    shutil.copy(face_clip, clip)
    shutil.copy(face_clip, second)
    if where == "tables":
        opened = video_module.FrameTableWriter.__init__

        def opening(self, csv_path, *args, **kwargs):
            if csv_path.name.startswith("clip_"):
                raise NOT_MAPPED
            opened(self, csv_path, *args, **kwargs)

        monkeypatch.setattr(video_module.FrameTableWriter, "__init__", opening)
    else:
        made = EmotionCNN.__init__

        def making(self, *args, **kwargs):
            made(self, *args, **kwargs)
            session, runs = self.session, []

            class FailsToLoad:
                def run(self, *a, **k):
                    runs.append(1)
                    if len(runs) >= 3:
                        raise NOT_MAPPED
                    return session.run(*a, **k)

                def __getattr__(self, name):
                    return getattr(session, name)

            self.session = FailsToLoad()

        monkeypatch.setattr(EmotionCNN, "__init__", making)
    result = runner.invoke(app, ["video", str(clip), "--out", str(out), "--method", "mean", "--no-annotate", "-q"])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "analysis stopped" not in said
    if where == "tables":
        assert said == (f"error: {clip}: out of memory before its analysis began (loading libarrow.so.2600: failed "
                        "to map segment from shared object); to need less memory, close other programs, or hold "
                        "fewer decoded frames (--sample-fps, or --frames-memory-mb: 2000 MB at most now)"), said
        assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == []
        # one video's memory: the others go on
        result = runner.invoke(app, ["video", str(clip), str(second), "--out", str(out), "--method", "mean",
                                     "--no-annotate", "-q"])
        assert result.exit_code == 1 and (out / "second_tracks.json").is_file()
    else:
        assert re.match(rf"error: {re.escape(str(clip))}: out of memory at frame \d+ \(\S+ s; loading "
                        r"libarrow.so.2600: failed to map segment from shared object\); the results cover the "
                        r"frames before\. ", said), said
        assert (out / "clip_tracks.partial.json").is_file() and not (out / "clip_tracks.json").exists()


@pytest.mark.parametrize("failure, reason", [
    (MemoryError(), "out of memory"),
    (NOT_MAPPED, "out of memory: loading libarrow.so.2600: failed to map segment from shared object"),
    (RuntimeError("Agg: image too large"), "RuntimeError: Agg: image too large"),
])
def test_a_timeline_that_cannot_be_drawn_after_a_whole_analysis_is_said_and_recorded(tmp_path, monkeypatch, failure,
                                                                                       reason, long_face_clip):
    """A timeline (matplotlib) failing after a whole analysis left the tracks JSON saying ``ok: true`` with no
    timeline beside it (or, raised, the analysis's outputs with no JSON). Now the analysis stays, its outputs under
    their own names, the JSON written; it and the command say which timeline is missing and why (exit 1: an output
    not written)."""
    from fervid.inference import video as video_module

    clip, out = tmp_path / "clip.mp4", tmp_path / "out"
    shutil.copy(long_face_clip, clip)

    def not_drawn(*args, **kwargs):
        raise failure

    monkeypatch.setattr(video_module, "timeline_figure", not_drawn)
    result = runner.invoke(app, ["video", str(clip), "--out", str(out), "--method", "mean", "--no-annotate", "-q"])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    expected = (f"{clip}: track 1's timeline could not be drawn ({reason}); the analysis is whole, and its tables, "
                "key frames and tracks JSON are written")
    assert said == f"error: {expected}", said
    saved = json.loads((out / "clip_tracks.json").read_text(encoding="utf-8"))
    assert saved["ok"] is False and saved["error"] == expected
    assert [t["track"] for t in saved["tracks"]] == [1] and saved["end_reached"] > 3.9  # the whole clip's analysis
    names = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert {"clip_frames.csv", "clip_frames.parquet", "clip_episodes.csv"} <= names
    assert not any(".partial." in name or name.endswith("_timeline.png") for name in names), names


def test_live_on_a_file_that_runs_out_of_memory_in_onnx_runtime_says_so(tmp_path, monkeypatch, face_clip):
    """`fervid live --source clip.mp4`: ONNX Runtime's std::bad_alloc was said as a broken file's error, the outputs
    under their own names."""
    clip, out = tmp_path / "clip.mp4", tmp_path / "l"
    shutil.copy(face_clip, clip)
    cnn_runs_out_of_memory(monkeypatch, fails_at=3)
    result = runner.invoke(app, ["live", "--source", str(clip), "--out", str(out), "--no-annotate", "-q"])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert re.match(rf"error: {re.escape(str(clip))}: out of memory at frame \d+ \(\S+ s; ONNX Runtime: "
                    r"std::bad_alloc\); the results cover the frames before\. ", said), said
    assert ("named .partial, as they do not cover the whole video: clip_episodes.partial.csv, "
            "clip_frames.partial.csv, clip_frames.partial.parquet, clip_tracks.partial.json and 1 timeline") in said
    assert said.endswith("; to need less memory, close other programs"), said  # (no --no-annotate: it was given)
    assert all(".partial." in p.name for p in out.iterdir())


def test_a_symbolic_link_loop_is_an_input_that_fails_and_the_others_are_analysed(tmp_path, astronaut_png, face_clip):
    """`ln -s self.png self.png` (or a.png <-> b.png) among the inputs ended image, video and batch with
    Python 3.11's RuntimeError("Symlink loop") traceback."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(astronaut_png, folder / "good.png")
    (folder / "self.png").symlink_to("self.png")
    (folder / "a.mp4").symlink_to("b.mp4")
    (folder / "b.mp4").symlink_to("a.mp4")
    loop = "a symbolic link that leads round in a loop"
    result = runner.invoke(app, ["image", str(folder), "--json", str(tmp_path / "r.json"), "-q"])
    assert result.exit_code == 1, result.output
    assert f"error: {folder / 'self.png'}: {loop}" in result.output
    assert [f["ok"] for f in json.loads((tmp_path / "r.json").read_text())["files"]] == [False, True]
    result = runner.invoke(app, ["video", str(folder), str(face_clip), "--out", str(tmp_path / "v"), "--method",
                                 "mean", "--no-annotate", "-q"])
    assert result.exit_code == 1, result.output
    assert f"error: {folder / 'a.mp4'}: {loop}" in result.output and f"{folder / 'b.mp4'}: {loop}" in result.output
    assert (tmp_path / "v" / "face_clip_tracks.json").is_file()
    from fervid.apps.batch import collect_inputs

    files, problems = collect_inputs([str(folder)])
    assert files == [folder / "good.png"]
    assert sorted(item for item, why in problems if why.startswith(loop)) == [str(folder / name) for name in
                                                                             ("a.mp4", "b.mp4", "self.png")]


def test_names_that_start_as_formulas_are_text_in_every_csv_and_exact_elsewhere(tmp_path, astronaut_png,
                                                                               monkeypatch):
    """A file named `=cmd|' /C calc'!A0.png`, `+SUM(1+1).png` or `@x.png` went into `fervid image --csv` and batch's
    files.csv and tracks.csv as it is, and a spreadsheet opening them ran it as a formula."""
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    names = ["=cmd|' -C calc'!A0.png", "+SUM(1+1).png", "@x.png", "-rf.png"]
    for name in names:
        shutil.copy(astronaut_png, name)
    Path("=missing.png").write_text("not an image")
    result = runner.invoke(app, ["image", "--csv", "r.csv", "--json", "r.json", "--parquet", "r.parquet", "-q", "--",
                                 *names, "=missing.png"])
    assert result.exit_code == 1, result.output
    rows = list(csv.DictReader(open("r.csv", encoding="utf-8")))
    assert [row["file"] for row in rows] == [*(f"'{name}" for name in names), "'=missing.png"]
    assert rows[-1]["error"] == "'=missing.png: not an image fervid can read (a text file)"
    assert float(rows[0]["happy"]) > 0.5 and rows[0]["face"] == "1"  # numbers as they were
    assert [f["file"] for f in json.loads(Path("r.json").read_text())["files"]] == [*names, "=missing.png"]
    assert pd.read_parquet("r.parquet")["file"].tolist() == [*names, "=missing.png"]

    result = runner.invoke(app, ["batch", names[0], names[1], "--out", "b", "-q"])
    assert result.exit_code == 0, result.output
    files = list(csv.DictReader(open("b/files.csv", encoding="utf-8")))
    assert sorted(row["file"] for row in files) == sorted(f"'{name}" for name in names[:2])
    # the README's join of a CSV to the Parquet table: the names with the ' taken off are the Parquet's, whose
    # `file` column says so (it said "as files.csv names it")
    import pyarrow.parquet as pq

    from fervid.inference.records import csv_text

    # (both are the astronaut: the copy's rows are the first's, files.csv's same_as naming it in its CSV form)
    copies = [row for row in files if row["same_as"]]
    assert len(copies) == 1 and copies[0]["same_as"] in {row["file"] for row in files if not row["same_as"]}
    assert (sorted(csv_text(row["file"]) for row in files if not row["same_as"])
            == sorted(set(pd.read_parquet("b/dataset.parquet").file)))
    described = pq.read_schema("b/dataset.parquet").field("file").metadata[b"description"].decode()
    assert "has a ' before it" in described and "csv_text takes it off" in described


def test_outputs_replace_a_link_planted_in_the_output_folder_and_never_write_through_it(tmp_path, astronaut_png, face_clip):
    """`ln -s ~/victim.txt out/normal_fervid.png; fervid image normal.png --annotate out` wrote the annotated image
    over victim.txt, as --json, --csv and a video's tracks JSON wrote through a link of their name."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    photo = tmp_path / "normal.png"
    shutil.copy(astronaut_png, photo)
    planted = [out / "normal_fervid.png", out / "normal_face1.png", out / "r.json", out / "r.csv",
               out / "r.parquet", out / "face_clip_tracks.json", out / "face_clip_track1_timeline.png"]
    for link in planted:
        link.symlink_to(victim)
    result = runner.invoke(app, ["image", str(photo), "--annotate", str(out), "--crops", str(out), "--json",
                                 str(out / "r.json"), "--csv", str(out / "r.csv"), "--parquet", str(out / "r.parquet"),
                                 "-q"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["video", str(face_clip), "--out", str(out), "--method", "mean", "--no-annotate",
                                 "-q"])
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "precious"
    assert not any(link.is_symlink() for link in planted) and all(link.is_file() for link in planted)
    assert json.loads((out / "r.json").read_text())["files"][0]["faces"]
    assert not list(out.glob(".*.tmp"))  # no temporary file left beside the outputs


def test_a_name_with_a_newline_or_an_escape_sequence_is_shown_on_one_line(tmp_path):
    """A file named `x<newline>ok: all files analysed fine.png` printed a line of its own under fervid's error, and
    ESC[2J in a name cleared the terminal."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("x\nok: all files analysed fine.png", "\x1b[2J\x1b[31mEVIL.png"):
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = runner.invoke(app, ["image", str(folder), "-q", "--json", os.devnull])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert not any(line.startswith("ok:") for line in lines) and "\x1b" not in result.output
    assert f"error: {folder}/x\\nok: all files analysed fine.png: " in result.output
    assert f"error: {folder}/\\x1b[2J\\x1b[31mEVIL.png: " in result.output


def test_every_video_command_takes_the_frame_size_and_frames_memory_bounds(tmp_path, face_clip):
    """`fervid batch` had no --max-video-megapixels (its videos were held to the 40 MP default whatever was wanted),
    and the memory a video's analysis may hold (VideoOptions.frames_memory_mb) could be set from the API only."""
    for command in ("video", "batch"):
        args = [command, str(face_clip), "--method", "mean", "-q", "--out"]
        small = runner.invoke(app, [*args, str(tmp_path / command / "small"), "--max-video-megapixels", "0.02"])
        assert small.exit_code == 1 and "frames too large: 176 x 144" in small.output, small.output
        held = runner.invoke(app, [*args, str(tmp_path / command / "held"), "--frames-memory-mb", "0.1"])
        assert held.exit_code == 1 and ("0.076 MB each decoded, and 0.1 MB (--frames-memory-mb, "
                                        "VideoOptions.frames_memory_mb) hold too few") in held.output, held.output
        bad = runner.invoke(app, [*args, str(tmp_path / command / "bad"), "--frames-memory-mb", "0"])
        assert bad.exit_code == 2 and "--frames-memory-mb must be a positive number of MB" in bad.output, bad.output
    bad = runner.invoke(app, ["serve", "--frames-memory-mb", "-1"])
    assert bad.exit_code == 2 and "--frames-memory-mb must be positive" in bad.output, bad.output
    for command in ("video", "batch", "serve"):  # the default is VideoOptions', said in --help
        help_text = runner.invoke(app, [command, "--help"]).output
        # (serve's says its environment variable first: FERVID_SERVE_FRAMES_MEMORY_MB)
        assert re.search(r"--frames-memory-mb MB[^[]*\[(env var:\s+FERVID_SERVE_FRAMES_MEMORY_MB;\s+)?default:"
                         r"\s+2000\.0\]", help_text), help_text  # (wrapped where the column falls: "[default:\n 2000.0]")


def test_crops_of_images_of_one_name_in_different_folders_stay_apart(tmp_path, astronaut_rgb):
    """`fervid image inputs --crops c/` on inputs/happy/a.png and inputs/sad/a.png: the crops follow the rule of
    every per-image output of a tree (--annotate's too), one folder of names made unique, each name taking the
    folder that tells it apart; neither image's crop is written over by the other's."""
    from fervid import Analyzer

    images = {"happy": astronaut_rgb, "sad": np.ascontiguousarray(astronaut_rgb[:, ::-1])}
    for folder, picture in images.items():
        (tmp_path / "inputs" / folder).mkdir(parents=True)
        Image.fromarray(picture).save(tmp_path / "inputs" / folder / "a.png")
    crops, annotated = tmp_path / "crops", tmp_path / "annotated"
    ran = runner.invoke(app, ["image", str(tmp_path / "inputs"), "--crops", str(crops), "--annotate", str(annotated),
                              "-q"])
    assert ran.exit_code == 0, ran.output
    assert sorted(p.name for p in crops.iterdir()) == ["happy_a_face1.png", "sad_a_face1.png"]
    assert sorted(p.name for p in annotated.iterdir()) == ["happy_a_fervid.png", "sad_a_fervid.png"]
    analyzer = Analyzer()
    for folder in images:
        np.testing.assert_array_equal(np.asarray(Image.open(crops / f"{folder}_a_face1.png")),
                                      analyzer.analyze_image(tmp_path / "inputs" / folder / "a.png")[0].crop)


def test_train_help_names_the_quick_run_limits():
    """limit_train and limit_val, the settings of a quick trial run, were in the README only."""
    result = runner.invoke(app, ["train", "--help"])
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "limit_train = N and limit_val = N" in text


@needs_sample_clip
def test_fervid_video_analyses_a_region_and_a_stretch_and_summarises_segments(tmp_path):
    """A UX researcher's recording: the participant's webcam in a corner (--region: fractions of the frame as it
    shows, 193 x 144 for carphone's non-square pixels), a task from 0:01 to 0:03.5
    (--start/--end, as evaluate's annotations write times), and the tasks as segments (--segments): the outputs
    record what was asked, and the tables stay on the recording's clock and pixels."""
    import pandas as pd

    from fervid.inference.video import EPISODE_COLUMNS, SEGMENT_COLUMNS

    tasks = tmp_path / "tasks.csv"
    tasks.write_text("start,end,name\n0:00,0:02,sign up\n0:02,1:00,checkout\n", encoding="utf-8")
    out = tmp_path / "out"
    ran = runner.invoke(app, ["video", str(carphone()), "--out", str(out), "--method", "mean", "--no-annotate",
                              "--region", "0.25,0,0.75,1", "--start", "0:01", "--end", "3.5", "--segments", str(tasks)])
    assert ran.exit_code == 0, ran.output
    assert "*_episodes.csv, *_segments.csv" in ran.output
    doc = json.loads((out / "carphone_pristine_tracks.json").read_text(encoding="utf-8"))
    assert doc["region"] == [48, 0, 145, 144] and doc["start"] == 1.0 and doc["end"] == 3.5
    frames = pd.read_csv(out / "carphone_pristine_frames.csv")
    assert frames.time.min() >= 1.0 and frames.time.max() < 3.5 and (frames.x >= 48).all()
    segments = pd.read_csv(out / "carphone_pristine_segments.csv")
    assert list(segments.columns) == SEGMENT_COLUMNS and list(segments.segment) == ["sign up", "checkout"]
    assert segments.seen_seconds.sum() == pytest.approx(doc["tracks"][0]["seen_seconds"], abs=1e-3)
    episodes = pd.read_csv(out / "carphone_pristine_episodes.csv")
    assert list(episodes.columns) == EPISODE_COLUMNS and len(episodes) == len(doc["tracks"][0]["episodes"])


def test_fervid_video_summarises_every_minute_or_window_asked_for(tmp_path, long_face_clip):
    """"A spreadsheet of emotions per minute per person": `--segments 60` said "no such segments file", and equal
    windows needed a hand-written table. --segment-every writes them in <name>_segments.csv, the last ending with
    the video; a table and windows together, or a window of no length, are refused."""
    import pandas as pd

    out = tmp_path / "out"
    args = ["video", str(long_face_clip), "--method", "mean", "--no-annotate", "--key-frames", "0"]
    ran = runner.invoke(app, [*args, "--out", str(out), "--segment-every", "0:01.5"])
    assert ran.exit_code == 0, ran.output
    assert "*_episodes.csv, *_segments.csv" in ran.output
    segments = pd.read_csv(out / "long_face_clip_segments.csv")
    assert list(segments.segment) == [1, 2, 3] and list(segments.segment_start) == [0.0, 1.5, 3.0]
    assert list(segments.segment_end) == [1.5, 3.0, 4.0] and list(segments.analysed_seconds) == [1.5, 1.5, 1.0]
    tasks = tmp_path / "tasks.csv"
    tasks.write_text("start,end\n0,1\n", encoding="utf-8")
    cases = [(["--segments", "60"], "60: no such segments file (for windows of 60 s each, give --segment-every 60)"),
             (["--segments", str(tasks), "--segment-every", "60"], "--segments and --segment-every: give one"),
             (["--segment-every", "0"], "--segment-every '0': a window must last more than 0 s"),
             (["--segment-every", "a minute"], "--segment-every 'a minute': not a time (seconds, m:ss or h:mm:ss")]
    for extra, message in cases:
        ran = runner.invoke(app, [*args, "--out", str(tmp_path / "refused"), *extra])
        assert ran.exit_code == 2 and message in " ".join(ran.output.split()), (extra, ran.output)
    assert not (tmp_path / "refused").exists()


def test_fervid_video_refuses_a_region_or_stretch_it_cannot_analyse_saying_why(tmp_path, face_clip):
    args = ["video", str(face_clip), "--out", str(tmp_path / "out"), "-q"]
    cases = [(["--region", "100,0,100,144"], 1, "face_clip.mp4: region 100,0,100,144 (x, y, width, height) "
                                                "is not inside its frames, 176 x 144 pixels"),
             (["--region", "a,b"], 2, "--region 'a,b': four numbers"),
             (["--start", "0:09"], 1, "face_clip.mp4: start 9 s is at or past its end (2.00 s)"),
             (["--start", "3", "--end", "0:02"], 2, "--end 0:02 (2 s) must come after --start 3 (3 s)"),
             (["--end", "two"], 2, "--end 'two': not a time (seconds, m:ss or h:mm:ss,")]
    for extra, code, message in cases:
        ran = runner.invoke(app, [*args, *extra])
        assert ran.exit_code == code and message in " ".join(ran.output.split()), (extra, ran.output)
    bad = tmp_path / "tasks.csv"
    bad.write_text("task,start,end\nlogin,0:05,0:02\n", encoding="utf-8")
    ran = runner.invoke(app, [*args, "--segments", str(bad)])
    assert ran.exit_code == 2 and f"{bad}, line 2: a segment from 5 s to 2 s" in ran.output, ran.output
    assert not (tmp_path / "out").exists()


def test_a_comparison_carries_each_models_caveats(tmp_path):
    """`evaluate --model a --model b` on faces a model was trained on: comparison.md/.csv/.json dropped the
    "trained on these faces" warning each model's own report gave, and its metrics.json did not record it."""
    import pandas as pd

    from conftest import write_fer2013_csv

    fer = write_fer2013_csv(tmp_path / "fer.csv", {"Training": 20, "PublicTest": 5})
    out = tmp_path / "compared"
    result = runner.invoke(app, ["evaluate", "--data", str(fer), "--usage", "Training", "--model", "fer2013_vgg",
                                 "--model", "ferplus_vgg", "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "fer2013_vgg" / "metrics.json").read_text(encoding="utf-8"))
    assert "trained on FER2013's Training faces" in metrics["trained_on_these_faces"]
    compared = json.loads((out / "comparison.json").read_text(encoding="utf-8"))["models"]
    warned = [line for line in compared[0]["caveats"] if line.startswith("warning: the model was trained on")]
    assert warned
    table = pd.read_csv(out / "comparison.csv")
    assert warned[0] in table["caveats"][0]
    assert f"- fer2013_vgg: {warned[0]}" in (out / "comparison.md").read_text(encoding="utf-8")


def test_a_quick_runs_speed_says_the_analysis_rate_and_the_whole_runs_seconds_apart(tmp_path, face_clip):
    """"120 frames in 1.2 s (206 fps ...)" put the analysis's rate beside the whole run's seconds (206 fps for
    1.2 s would be 247 frames)."""

    result = runner.invoke(app, ["video", str(face_clip), "--method", "frame", "--no-annotate", "--key-frames", "0",
                                 "--start", "1", "--end", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    # (its timeline written in a second or more, as on a loaded machine, the writing is said apart)
    said = (re.search(r"30 frames analysed at (\d+) fps; (\d+\.\d) s in all, (\d+\.\d)x real time", result.output)
            or re.search(r"30 frames in \d+\.\d s \((\d+) fps\) and \d+\.\d s more writing its timelines"
                         r"(?: and key frames)?: (\d+\.\d) s, (\d+\.\d)x real time", result.output))
    assert said, result.output
    analysis = json.loads((tmp_path / "face_clip_tracks.json").read_text(encoding="utf-8"))
    assert int(said.group(1)) == pytest.approx(30 / analysis["analysis_seconds"], rel=0.2)
    # one second analysed, over the whole run
    assert float(said.group(3)) == pytest.approx(1.0 / float(said.group(2)), rel=0.25, abs=0.1)


def test_an_end_past_the_videos_and_a_clock_time_of_60_seconds_are_said(tmp_path, long_face_clip):
    """`--end 100` of a 4 s video was silent (its JSON recording end 100 alone), and `--start 0:60` was 60 s."""

    result = runner.invoke(app, ["video", str(long_face_clip), "--method", "frame", "--no-annotate", "--key-frames",
                                 "0",
                                 "--start", "3.5", "--end", "100", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "long_face_clip.mp4 ends at 4.00 s, before --end 100 s: it was analysed to its end" in result.output
    saved = json.loads((tmp_path / "long_face_clip_tracks.json").read_text(encoding="utf-8"))
    assert saved["end"] == 100 and saved["end_reached"] == 4.0 and saved["analysed_seconds"] == 0.5
    clock = runner.invoke(app, ["video", str(long_face_clip), "--start", "0:60", "--out", str(tmp_path)])
    assert clock.exit_code == 2 and "--start '0:60': not a time" in clock.output


def test_evaluate_names_the_dataset_a_folder_of_jaffe_or_ckplus_files_is(tmp_path):
    """`evaluate --data <JAFFE folder>` without --dataset jaffe said only that no emotion folder was there."""
    import cv2

    (tmp_path / "jaffe").mkdir()
    cv2.imwrite(str(tmp_path / "jaffe" / "KA.AN1.39.tiff"), np.full((256, 256), 128, np.uint8))
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "jaffe")])
    assert result.exit_code != 0 and "named as JAFFE's (KA.AN1.39.tiff): give --dataset jaffe" in result.output
    (tmp_path / "top" / "CK+48" / "happy").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "top" / "CK+48" / "happy" / "S005_001_00000011.png"), np.full((48, 48), 128, np.uint8))
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "top")])
    assert result.exit_code != 0 and "laid out as CK+48" in result.output
    assert f"--data {tmp_path / 'top' / 'CK+48'} --dataset ckplus" in result.output


def test_a_seed_numpy_cannot_take_is_refused_naming_seed_before_any_data_is_read(tmp_path, fer_csv):
    """`train --seed -5` (or 99999999999) exited 1 with numpy's "Seed must be between 0 and 2**32 - 1" once the
    data was loaded, `train-temporal --seed -5` ended in a traceback, and `experiment` took 99999999999 (and said
    "expected non-negative integer" of -5): each refuses it as --seed, exit 2, before reading anything."""
    jaffe = tmp_path / "jaffe"
    jaffe.mkdir()
    commands = (["train", "--data", str(fer_csv), "--out", str(tmp_path / "run")],
                ["train-temporal", "--fer2013", str(fer_csv), "--cnn", "fer2013_vgg", "--out", str(tmp_path / "lstm")],
                ["experiment", "--dataset", "jaffe", "--jaffe", str(jaffe), "--out", str(tmp_path / "exp")])
    for args in commands:
        for seed, message in (("-5", "greater than or equal to 0"),
                              ("99999999999", "less than or equal to 4294967295")):
            result = runner.invoke(app, [*args, "--seed", seed])
            assert result.exit_code == 2 and result.output == f"error: --seed: input should be {message}\n", (
                args, seed, result.output)
        assert not Path(args[-1]).exists()
        help_text = " ".join(runner.invoke(app, [args[0], "--help"], env={"COLUMNS": "200"}).output.split())
        assert "0<=x<=4294967295]" in help_text[help_text.index("--seed"):], help_text  # the range, said


def test_a_config_seed_numpy_cannot_take_is_refused_naming_the_key(tmp_path, fer_csv):
    pytest.importorskip("torch")
    from fervid.training.train_temporal import TemporalTrainConfig

    config = tmp_path / "mine.toml"
    config.write_text(f'data = "{fer_csv}"\nseed = -5\n', encoding="utf-8")
    result = runner.invoke(app, ["train", "--config", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and result.output == (f"error: {config}: seed must be 0 to 4294967295 (2**32 - 1), "
                                                       "not -5\n"), result.output
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match=r"^split_seed must be 0 to 4294967295 \(2\*\*32 - 1\), not 4294967296$"):
        TemporalTrainConfig(fer2013=str(fer_csv), split_seed=2**32)


def test_train_temporal_says_a_missing_ferplus_before_reading_fer2013(tmp_path):
    """With the default --cnn ferplus_vgg and no --ferplus, train-temporal exited 1 only once FER2013 was read
    (about 22 s): said first, exit 2 (a file that is no FER2013 CSV is not even read)."""
    pytest.importorskip("torch")
    not_fer = tmp_path / "notes.csv"
    not_fer.write_text("a,b\n1,2\n", encoding="utf-8")
    result = runner.invoke(app, ["train-temporal", "--fer2013", str(not_fer), "--out", str(tmp_path / "lstm")])
    assert result.exit_code == 2 and result.output.startswith(
        "error: ferplus_vgg: this CNN learnt FER+'s votes (training_config.json: labels = "), result.output
    assert "pass --ferplus (FER+'s votes file)" in result.output and not (tmp_path / "lstm").exists()


def test_export_refuses_options_that_would_do_nothing_and_folders_it_would_write_into(tmp_path):
    """`export --no-int8 --calibration-data X` and `--features-of` with one run were ignored, and an export into
    a folder of other files (`--out .`) wrote its model among them: refused, exit 2, before the run is read (its
    checkpoint here is no checkpoint at all)."""
    pytest.importorskip("torch")
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"")
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "thesis.tex").write_text("mine", encoding="utf-8")
    lstm = tmp_path / "lstm"
    lstm.mkdir()
    (lstm / "config.json").write_text('{"kind": "lstm"}', encoding="utf-8")
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.onnx").write_bytes(b"an earlier model")
    for args, message in (
            (["--out", str(tmp_path / "m"), "--no-int8", "--calibration-data", str(papers)],
             "--calibration-data calibrates the int8 model, and --no-int8 writes none; leave one out"),
            (["--out", str(tmp_path / "m"), "--features-of", "mine"],
             "--features-of names an ensemble's CNN (several runs); one run's features are its own network's"),
            (["--out", str(papers)], f"{papers}: holds other files, not a model; write an emotion CNN into a new or "
                                     "empty folder (--out)"),
            (["--out", str(papers), "--force"], f"{papers}: holds other files, not a model"),
            (["--out", str(papers / "thesis.tex")], f"{papers / 'thesis.tex'}: a file, not a folder"),
            (["--out", str(lstm)], f"{lstm}: holds a temporal model; write an emotion CNN into another folder"),
            (["--out", str(model)], f"{model}: holds an emotion CNN already; --force replaces it, or write into "
                                    "another folder (--out)")):
        result = runner.invoke(app, ["export", str(run), *args])
        assert result.exit_code == 2 and result.output.startswith(f"error: {message}"), (args, result.output)
    assert not (tmp_path / "m").exists() and [p.name for p in papers.iterdir()] == ["thesis.tex"]
    assert (model / "model.onnx").read_bytes() == b"an earlier model"
    # with --force, the model folder is taken: the (empty) checkpoint is then what fails
    forced = runner.invoke(app, ["export", str(run), "--out", str(model), "--force"])
    assert forced.exit_code == 1 and "not a torch checkpoint" in forced.output, forced.output


@pytest.mark.parametrize("args", [
    ["image", "a.png", "--annotate", "-"], ["image", "a.png", "--crops", "-"], ["video", "a.mp4", "--out", "-"],
    ["demo", "--out", "-"], ["batch", "a.png", "--out", "-"], ["evaluate", "--data", "x.csv", "--out", "-"],
    ["experiment", "--dataset", "jaffe", "--out", "-"], ["train", "--out", "-"], ["export", "run", "--out", "-"],
    ["train-temporal", "--fer2013", "x.csv", "--out", "-"], ["live", "--source", "a.mp4", "--out", "-"],
    # (a bad value after it: without the refusal, a server would not start, but end the test)
    ["serve", "--data-dir", "-", "--job-ttl-hours", "-1"], ["live", "--data-dir", "-", "--job-ttl-hours", "-1"]])
def test_a_folder_option_refuses_dash(tmp_path, monkeypatch, args):
    """`--out -` (and --annotate, --crops, --data-dir) made a folder named '-', where --json - writes to stdout."""
    monkeypatch.chdir(tmp_path)
    option = args[args.index("-") - 1]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and result.output == (f"error: {option} -: '-' means standard output, which a "
                                                       "folder option cannot be (a folder named '-': give "
                                                       "its full path)\n"), result.output
    assert not (tmp_path / "-").exists()


def test_a_folder_option_whose_value_is_the_text_typed_refuses_dash(capsys):
    """typer before 0.29 kept the text typed (a str, not the Path) in the command's parameters: the refusal let
    `--out -` through, and it made a folder named '-'."""
    import click
    import typer

    from fervid.apps.cli import _refuse_dash_for_folder

    video = typer.main.get_command(app).commands["video"]
    context = click.Context(video)
    context.params = {"path": "a.mp4", "out": "-"}
    with pytest.raises(typer.Exit) as refused:
        _refuse_dash_for_folder(context)
    assert refused.value.exit_code == 2
    assert capsys.readouterr().err.startswith("error: --out -: '-' means standard output")


def test_video_estimate_says_the_time_and_disk_of_its_videos_and_writes_nothing(tmp_path, monkeypatch, face_clip,
                                                                                astronaut_png):
    """`fervid video` had no `--estimate` (the CHANGELOG sent its users to `fervid batch --estimate` on the same
    files). It says the time and the disk of the outputs it would write, with its own settings (--no-annotate: no
    MP4; --end: the stretch analysed), from batch's samples, writes nothing and exits 0; a file the run would fail
    is named and the command exits 1, having estimated the others."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(face_clip, "talk.mp4")
    ran = runner.invoke(app, ["video", "talk.mp4", "--out", "out", "--method", "mean", "--estimate", "-q"])
    assert ran.exit_code == 0, ran.output
    said = " ".join(ran.stdout.split())
    assert said.startswith("1 video(s), 0 h 00 min 02 s of video by their files talk.mp4 (176x144): 2 s analysed at "
                           ), said
    assert re.search(r"disk: about [\d.]+ kB for the videos' outputs: [\d.]+ kB of annotated MP4s \(x264 CRF \d+\), "
                     r"[\d.]+ kB of key frames \(about \d+ PNGs\), [\d.]+ kB of tables, ", said), said
    assert re.search(r"estimated: about 0 min \d\d s, one video after another, on this ", said), said
    assert ran.stderr == "" and not Path("out").exists()

    shorter = runner.invoke(app, ["video", "talk.mp4", "--out", "out", "--method", "mean", "--estimate",
                                  "--no-annotate", "--end", "1"])
    said = " ".join(shorter.output.split())
    assert shorter.exit_code == 0, said
    assert "0 h 00 min 02 s of video by their files (0 h 00 min 01 s of it from --start to --end)" in said
    assert "talk.mp4 (176x144): 1 s analysed at" in said and "annotated" not in said.split("disk:")[1]
    assert not Path("out").exists()

    Path("notes.mp4").write_text("not a video", encoding="utf-8")
    shutil.copy(astronaut_png, "photo.mp4")  # a still image under a video's name: `fervid image` reads it
    bad = runner.invoke(app, ["video", "talk.mp4", "notes.mp4", "photo.mp4", "gone.mp4", "--out", "out", "--method",
                              "mean", "--estimate"])
    said = " ".join(bad.output.split())
    assert bad.exit_code == 1, said
    assert "error: gone.mp4: no such file or folder" in said and "error: notes.mp4: not a video fervid can read" in said
    assert re.search(r"error: photo\.mp4: [^.]*image.*`fervid image`", said), said
    assert "1 video(s), 0 h 00 min 02 s of video by their files" in said and "talk.mp4 (176x144)" in said
    assert not Path("out").exists()


@pytest.mark.parametrize("command", ["video", "batch"])
def test_an_estimate_names_a_video_its_run_would_fail_for_its_start_or_region(tmp_path, monkeypatch, face_clip,
                                                                              command):
    """`fervid video --estimate --start 10` on a 2 s video ended in a traceback (the sample's VideoError), where the
    run says "start 10 s is at or past its end" and exits 1; a region outside a sample's frames too. The estimate
    says what the run would say, naming the video, and exits 1."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(face_clip, "talk.mp4")
    for options, error in ((["--start", "10"], "error: talk.mp4: start 10 s is at or past its end (2.00 s)"),
                           (["--region", "500,500,100,100"], "talk.mp4")):
        ran = runner.invoke(app, [command, "talk.mp4", "--out", "out", "--method", "mean", "--estimate", *options])
        said = " ".join(ran.output.split())
        assert isinstance(ran.exception, (SystemExit, type(None))), repr(ran.exception)  # said, no traceback
        assert ran.exit_code == 1 and error in said and "Traceback" not in said, (options, said)
        assert "0 video(s)" in said or "0 file(s)" in said, said
        assert not Path("out").exists()


def test_batch_estimate_refuses_workers_and_fails_on_an_input_a_run_would_fail(tmp_path, monkeypatch):
    """`batch --estimate --workers 2` estimated one worker's time; and a manifest naming a file that is not there
    said `error: clip.mp4: no such file or folder` and exited 0, where the run itself exits 1."""
    monkeypatch.chdir(tmp_path)
    Path("manifest.csv").write_text("path\nclip.mp4\n", encoding="utf-8")
    workers = runner.invoke(app, ["batch", "manifest.csv", "--out", "out", "--estimate", "--workers", "2"])
    assert workers.exit_code == 2 and workers.output == ("error: --workers is not used by --estimate, which times the "
                                                         "samples with one worker on this machine\n"), workers.output
    missing = runner.invoke(app, ["batch", "manifest.csv", "--out", "out", "--estimate"])
    assert missing.exit_code == 1 and "error: clip.mp4: no such file or folder" in missing.output, missing.output
    assert "estimated: about 0 min 00 s" in missing.output and not Path("out").exists()


@pytest.mark.parametrize("command", ["video", "batch"])
def test_an_estimate_prints_json_with_the_numbers_its_text_says(tmp_path, monkeypatch, face_clip, command):
    """`video --estimate` and `batch --estimate` printed a summary for people only. With --json they print one JSON
    object on stdout (progress and errors on stderr), with the numbers the text says: the files, the stretch
    analysed, the time and its range, the disk, and each file the run would fail, named; and exit 1 for it as the
    text does."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(face_clip, "talk.mp4")
    Path("list.csv").write_text("path\ntalk.mp4\ngone.mp4\n", encoding="utf-8")  # batch's inputs, one not there
    inputs = ["talk.mp4", "gone.mp4"] if command == "video" else ["list.csv"]
    estimate = [command, *inputs, "--out", "out", "--method", "mean", "--end", "1", "--estimate"]
    ran = runner.invoke(app, [*estimate, "--json"])
    assert ran.exit_code == 1, ran.output
    found = json.loads(ran.stdout)
    assert (found["files"], found["videos"], found["video_seconds"], found["analysed_seconds"]) == (1, 1, 2.0, 1.0)
    assert [Path(sample["file"]).name for sample in found["samples"]] == ["talk.mp4"]
    low, high = found["estimated_seconds_range"]
    # (the range holds the estimate as printed: a run timed at 0.449 s said 0.4 in [0.4, 0.5])
    assert 0 <= low <= found["estimated_seconds"] <= high and low < high, found
    disk = found["disk_bytes"]
    assert disk["total"] == sum(disk[kind] for kind in ("annotated", "key_frames", "tables", "other")) > 0, disk
    assert [problem["file"] for problem in found["problems"]] == ["gone.mp4"], found["problems"]
    assert found["problems"][0]["error"].startswith("gone.mp4: no such file or folder"), found["problems"]
    assert "timing samples" in ran.stderr and "error: gone.mp4: no such file or folder" in ran.stderr, ran.stderr
    assert not Path("out").exists()

    text = runner.invoke(app, estimate)  # the same numbers, said in words
    said = " ".join(text.stdout.split())
    assert text.exit_code == 1 and "0 h 00 min 02 s of video by their files (0 h 00 min 01 s of it from --start " \
                                   "to --end)" in said, said
    # (a machine busy as the samples ran says so before the last words)
    assert re.search(r"off by a fifth or more: 0 min \d\d s to 0 min \d\d s\)(; the machine was busy while "
                     r"sampling: [^;]+; on an idle machine it would take about [^;]+)?; nothing was written to out$",
                     said), said
    assert "gone.mp4" not in text.stdout and "error: gone.mp4" in text.stderr


def test_an_estimate_says_where_the_machine_was_busy_while_sampling(tmp_path, monkeypatch, capsys, face_clip):
    """Two identical estimates on a busy machine differed 1.9x (the sample got 7.66 s of CPU in 13.42 s), and the
    run fell outside the first one's range. The estimate measures the CPU time its samples got (fervid's and its
    ffmpeg children's), and where it was much less than the wall time says so, and what an idle machine would
    take, in the text and in --json. The measure is injected here: a quarter of a core's time."""
    import time

    import fervid.apps.batch as batch
    from fervid.apps.cli import _say_estimate_text

    began: list[float] = []

    def a_quarter_of_a_core() -> float:  # CPU seconds: a quarter of the wall time since the first call
        now = time.perf_counter()
        began.append(began[0] if began else now)
        return 0.25 * (now - began[0])

    monkeypatch.setattr(batch, "sampling_cpu_seconds", a_quarter_of_a_core)
    ran = runner.invoke(app, ["video", str(face_clip), "--out", str(tmp_path / "out"), "--method", "mean",
                              "--estimate", "--json"])
    assert ran.exit_code == 0, ran.output
    found = json.loads(ran.stdout)
    sampling = found["sampling"]
    assert sampling["busy"] and sampling["core_share"] == pytest.approx(0.25, abs=0.01), sampling
    assert sampling["cpu_seconds"] == pytest.approx(0.25 * sampling["wall_seconds"], abs=0.02), sampling
    assert sampling["idle_estimated_seconds"] == pytest.approx(found["estimated_seconds"] * 0.25, abs=0.2), found
    capsys.readouterr()

    def said(sampling: dict) -> str:
        _say_estimate_text(found | {"estimated_seconds": 3600.0, "estimated_seconds_range": [2880.0, 4320.0],
                                    "copies": [], "sampling": sampling}, tmp_path / "out", True, "video")
        return " ".join(capsys.readouterr().out.split())

    # the report's numbers: an hour estimated from a sample that got 57% of a core
    assert ("off by a fifth or more: 48 min 00 s to 1 h 12 min); the machine was busy while sampling: the sample got "
            "57% of a core's time; on an idle machine it would take about 34 min 15 s; nothing was written to "
            f"{tmp_path / 'out'}") in said(batch.sampling_load(7.66, 13.42, 3600.0))
    for idle in (batch.sampling_load(13.0, 13.42, 3600.0), batch.sampling_load(20.0, 13.42, 3600.0),
                 batch.sampling_load(None, 13.42, 3600.0)):  # most of a core, two cores, not known (Windows)
        assert not idle["busy"] and "busy" not in said(idle), idle
    real = batch.sampling_cpu_seconds()  # this process's and its ended children's: ffmpeg decoded the clip
    assert real is None if sys.platform == "win32" else real > 0


def test_an_estimate_says_where_its_samples_saw_no_face(tmp_path, monkeypatch):
    """A recording whose sample shows no face (an empty chair) is estimated without the CNN's time and without
    key frames: the estimate says so in its text and in --json."""
    import imageio_ffmpeg

    monkeypatch.chdir(tmp_path)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "color=c=black:s=176x144:r=30:d=3", "-pix_fmt", "yuv420p", "-c:v", "libx264", "chair.mp4"],
                   check=True)
    estimate = ["video", "chair.mp4", "--out", "out", "--method", "mean", "--estimate"]
    ran = runner.invoke(app, estimate)
    assert ran.exit_code == 0, ran.output
    assert "no face in the 3 s sampled: disk and time may be far off" in " ".join(ran.stdout.split()), ran.output
    found = json.loads(runner.invoke(app, [*estimate, "--json"]).stdout)
    assert found["no_face_in_samples"] is True and found["samples"][0]["face_tracks"] == 0, found


@pytest.mark.parametrize("command", ["video", "batch"])
def test_json_without_an_estimate_is_refused(tmp_path, monkeypatch, face_clip, command):
    """--json prints the estimate: without --estimate it would do nothing (the run's results are files in --out)."""
    monkeypatch.chdir(tmp_path)
    ran = runner.invoke(app, [command, str(face_clip), "--out", "out", "--json"])
    assert ran.exit_code == 2 and ran.stderr.startswith("error: --json prints --estimate's estimate as JSON"), \
        ran.output
    assert not Path("out").exists()


@pytest.mark.parametrize("command", ["video", "batch"])
def test_an_estimate_loads_each_model_once(tmp_path, monkeypatch, face_clip, command):
    """`video --estimate` (and `batch --estimate`) loaded the detector, the CNN and the temporal LSTM twice: once to
    check the settings, as the run does, and again for the samples. Each is loaded once now."""
    import collections

    import onnxruntime as ort

    loads: collections.Counter = collections.Counter()
    real_session = ort.InferenceSession

    def counted_session(path, *args, **kwargs):
        loads[str(path)] += 1
        return real_session(path, *args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", counted_session)
    monkeypatch.chdir(tmp_path)
    shutil.copy(face_clip, "talk.mp4")
    ran = runner.invoke(app, [command, "talk.mp4", "--out", "out", "--method", "lstm", "--estimate", "-q"])
    assert ran.exit_code == 0, ran.output
    assert len(loads) == 3 and set(loads.values()) == {1}, loads  # the detector, the CNN, the LSTM


def test_video_estimate_takes_an_out_path_too_long_for_batchs_sqlite(tmp_path, monkeypatch, face_clip):
    """`fervid video --estimate --out <over 490 bytes>` was refused with `fervid batch`'s message ("the run's state,
    .../state.sqlite, is kept by SQLite"): `fervid video` keeps no state there, and the estimate writes nothing
    there; it estimates."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path.joinpath("o" * 200, "u" * 200, "t" * 100)
    assert len(os.fsencode(out)) > 490
    ran = runner.invoke(app, ["video", str(face_clip), "--out", str(out), "--method", "mean", "--estimate", "-q"])
    assert ran.exit_code == 0, ran.output
    assert "SQLite" not in ran.output and "1 video(s)" in ran.stdout, ran.output
    assert not tmp_path.joinpath("o" * 200).exists()


def test_fervid_live_seconds_takes_the_times_start_and_end_take(tmp_path, long_face_clip):
    """`--seconds` took a number of seconds alone (`--seconds 0:01` was "not a valid float"), where `--start` and
    `--end` take m:ss and h:mm:ss too; a text that is no time is said as theirs is."""
    result = runner.invoke(app, ["live", "--source", str(long_face_clip), "--seconds", "0:00:01", "--out",
                                 str(tmp_path),
                                 "--no-annotate", "--method", "frame", "--key-frames", "0", "-q"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "long_face_clip_tracks.json").read_text(encoding="utf-8"))
    assert saved["frames_read"] == 31 and saved["duration"] == pytest.approx(1.0, abs=0.05)
    whole = runner.invoke(app, ["live", "--source", str(long_face_clip), "--seconds", "inf", "--out", str(tmp_path),
                                "--no-annotate", "--method", "frame", "--key-frames", "0", "-q"])
    assert whole.exit_code == 0, whole.output  # README's no limit: the whole file
    assert json.loads((tmp_path / "long_face_clip_tracks.json").read_text(encoding="utf-8"))["frames_read"] == 120
    for text, message in (("1:75", "--seconds '1:75': not a time (seconds, m:ss or h:mm:ss,"),
                          ("two", "--seconds 'two': not a time (seconds, m:ss or h:mm:ss,"),
                          ("0:00", "--seconds must be positive, not 0:00")):
        refused = runner.invoke(app, ["live", "--source", str(long_face_clip), "--seconds", text, "--out",
                                      str(tmp_path / "refused")])
        assert refused.exit_code == 2 and message in " ".join(refused.output.split()), (text, refused.output)
    assert not (tmp_path / "refused").exists()


def test_a_negative_clock_time_is_refused_as_a_negative_number_is(tmp_path, face_clip):
    """`fervid live --seconds -0:01` said "not a time" where `--seconds -1` said "must be positive, not -1"; a
    negative `fervid video --start` as m:ss was "not a time" too, where -1 was "before the recording's start"."""
    for option, text, message in (("--seconds", "-0:01", "--seconds must be positive, not -0:01"),
                                  ("--seconds", "-1", "--seconds must be positive, not -1"),
                                  ("--start", "-0:01", "--start '-0:01': before the recording's start"),
                                  ("--start", "-1", "--start '-1': before the recording's start")):
        command = ["live", "--source"] if option == "--seconds" else ["video"]
        refused = runner.invoke(app, [*command, str(face_clip), option, text, "--out", str(tmp_path / "refused")])
        assert refused.exit_code == 2 and message in " ".join(refused.output.split()), (text, refused.output)
    assert not (tmp_path / "refused").exists()


def test_where_windows_limits_paths_video_refuses_outputs_that_would_not_fit_before_analysing(tmp_path, monkeypatch, face_clip):
    """Windows (without long paths) opens no path of more than 259 characters: a video of a long name, analysed
    into a deep --out, failed as its first key frame was written, its analysis lost. Its run is refused before any
    video is analysed, the error naming its outputs, how long their paths get, and the fixes."""
    windows_without_long_paths(monkeypatch)
    short, long_named = tmp_path / "a.mp4", tmp_path / f"{'interview_' * 15}.mp4"  # a stem of 150 characters
    for video in (short, long_named):
        shutil.copy(face_clip, video)
    out = tmp_path / "results" / "of the study"
    result = runner.invoke(app, ["video", str(short), str(long_named), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert not out.exists()  # a.mp4 was not analysed either
    written = len(str(out)) + 1 + len(long_named.stem) + len("_track99999_99999.99s_surprise.partial.png") + len(
        ".0123456789abcdef.tmp") + 1
    assert [line for line in result.output.splitlines() if line.startswith("error: ")] == [
        f"error: {out / long_named.stem}_*: written as paths of up to {written} characters (a key frame's temporary "
        f"file), more than the 259 Windows opens where long paths are not enabled: give a shorter --out (of at most "
        f"{259 - (written - len(str(out)))} characters as a full path) or a shorter name to the video, or enable long "
        'paths in Windows (as an administrator: the group policy "Enable Win32 long paths", or the registry value '
        r"HKLM\SYSTEM\CurrentControlSet\Control\FileSystem\LongPathsEnabled set to 1)"]


@needs_sample_clip
def test_where_windows_limits_paths_live_and_demo_refuse_naming_their_own_option(tmp_path, monkeypatch, face_clip):
    """`fervid live` and `fervid demo` are refused as `fervid video` is, their advice naming their own --out (it
    said "out_dir", the API's name): `live` with a file, a shorter name to it too; `demo`, whose video goes into
    --out's carphone/, the most --out may be for that and no renaming (the sample's name is fervid's), nothing
    written (its photo was, before the video was refused)."""
    windows_without_long_paths(monkeypatch)
    clip = tmp_path / "clip.mp4"
    shutil.copy(face_clip, clip)
    out = tmp_path / ("results " * 25).strip()
    written = len(str(out)) + 1 + len("clip") + len("_track99999_99999.99s_surprise.partial.png") + len(
        ".0123456789abcdef.tmp") + 1
    result = runner.invoke(app, ["live", "--source", str(clip), "--out", str(out)])
    assert result.exit_code == 1 and not out.exists(), result.output
    error = " ".join(result.output.split())
    assert (f"{out / 'clip'}_*: written as paths of up to {written} characters (a key frame's temporary file)"
            in error), result.output
    assert (f"give a shorter --out (of at most {259 - (written - len(str(out)))} characters as a full path) or a "
            "shorter name to the video, or enable long paths" in error), result.output
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 1 and not out.exists(), result.output
    error = " ".join(result.output.split())
    written += len("carphone/") + len("carphone_pristine") - len("clip")
    assert f"{out / 'carphone' / 'carphone_pristine'}_*: written as paths of up to {written} characters" in error
    assert (f"give a shorter --out (of at most {259 - (written - len(str(out)))} characters as a full path), or "
            "enable long paths" in error), result.output


def test_where_windows_limits_paths_image_refuses_outputs_that_would_not_fit_before_analysing(tmp_path, monkeypatch,
                                                                                             astronaut_png):
    """`fervid image --annotate` of a photo of a long name into a deep folder, and a --csv of a long path, are
    refused before any photo is analysed, each said with its fix."""
    windows_without_long_paths(monkeypatch)
    photo = tmp_path / f"{'portrait_' * 20}.png"  # a stem of 180 characters
    shutil.copy(astronaut_png, photo)
    folder = tmp_path / "annotated copies"
    table = tmp_path / f"{'t' * (250 - len(str(tmp_path)))}.csv"  # 255 characters: its temporary file's, 277
    result = runner.invoke(app, ["image", str(photo), "--annotate", str(folder), "--csv", str(table)])
    assert result.exit_code == 1, result.output
    assert not folder.exists() and not table.exists()
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, result.output
    assert errors[0].startswith(f"error: {table}: written as paths of up to {len(str(table)) + 22} characters (the "
                                "--csv file's temporary file), more than the 259 Windows opens where long paths are "
                                "not enabled: give a shorter folder for --csv (of at most ")
    assert "or a shorter name to the --csv file, or enable long paths in Windows" in errors[0]
    assert errors[1].startswith(f"error: {folder / photo.stem}_*: written as paths of up to ")
    assert "(its annotated copy's temporary file)" in errors[1] and "a shorter --annotate (of at most" in errors[1]
    assert "a shorter name to the image, or enable long paths" in errors[1]
    # where long paths are enabled, the same run writes them
    from fervid import machine

    monkeypatch.setattr(machine, "_windows_long_paths_enabled", lambda: True)
    result = runner.invoke(app, ["image", str(photo), "--annotate", str(folder), "--csv", str(table)])
    assert result.exit_code == 0, result.output
    assert table.is_file() and (folder / f"{photo.stem}_fervid.png").is_file()


@needs_sample_clip
def test_evaluate_reads_a_coders_millisecond_elan_and_boris_tables_as_video_segments_does(tmp_path):
    """A behavioural coder's tables, scored against `fervid video` of the carphone sample (29.97 fps): segments of
    0-1001, 1001-2002 and 2002-4004 ms were scored on 31, 30 and 59 frames (1001 ms read as 1.0010000000000001 s;
    `--segments` wrote the end 4.0040000000000004); one video's ELAN export (no video column) was taken for FER2013
    ("--results is for --dataset video, not fer2013"), and BORIS's aggregated events too."""
    import pandas as pd

    video = carphone()
    (tmp_path / "tasks.csv").write_text("start_ms,end_ms,name\n0,1001,a\n1001,2002,b\n2002,4004,c\n", encoding="utf-8")
    run = tmp_path / "run"
    ran = runner.invoke(app, ["video", str(video), "--out", str(run), "--method", "frame", "--no-annotate",
                              "--key-frames", "0", "--segments", str(tmp_path / "tasks.csv"), "-q"])
    assert ran.exit_code == 0, ran.output
    by_segment = pd.read_csv(run / f"{video.stem}_segments.csv").dropna(subset=["track"])
    assert by_segment["frames"].tolist() == [30, 30, 60]
    assert by_segment["segment_end"].tolist() == [1.001, 2.002, 4.004]  # (not 4.0040000000000004)
    (tmp_path / "ev_ms.csv").write_text(f"video,start_ms,end_ms,emotion\n{video},0,1001,neutral\n"
                                        f"{video},1001,2002,happy\n{video},2002,4004,neutral\n", encoding="utf-8")
    scored = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "ev_ms.csv"), "--results", str(run),
                                 "--out", str(tmp_path / "eval")])
    assert scored.exit_code == 0, scored.output
    evaluated = pd.read_csv(tmp_path / "eval" / "segments.csv")
    assert evaluated["frames"].tolist() == [30, 30, 60] and evaluated["end"].tolist() == [1.001, 2.002, 4.004]
    # one video's ELAN export: said to have no video column, then scored on the --video given
    elan = tmp_path / "elan_export.txt"
    elan.write_text("Tier\tBegin Time - msec\tEnd Time - msec\tAnnotation\nEmotion\t0\t1001\tneutral\n"
                    "Emotion\t1001\t4004\thappy\n", encoding="utf-8")
    unnamed = runner.invoke(app, ["evaluate", "--data", str(elan), "--results", str(run)])
    assert unnamed.exit_code == 1 and "FER2013" not in unnamed.output and "fer2013" not in unnamed.output
    assert (f"{elan}: an annotations table without a video column (one video's export, as ELAN's and BORIS's can "
            "be): give the video it annotates (fervid evaluate --video FILE)") in unnamed.output
    named = runner.invoke(app, ["evaluate", "--data", str(elan), "--results", str(run), "--video", str(video)])
    assert named.exit_code == 0, named.output
    assert "2 of 2 segment(s) scored, in 1 of 1 video(s)" in named.output
    for args, said in ((["--video", str(tmp_path / "none.mp4")], f"--video {tmp_path / 'none.mp4'}: no such file"),
                       (["--dataset", "fer2013", "--video", str(video)], "--video is for --dataset video, not "
                                                                         "fer2013")):
        refused = runner.invoke(app, ["evaluate", "--data", str(elan), *args])
        assert refused.exit_code == 2 and said in refused.output, refused.output
    # BORIS's aggregated events, told from FER2013 without --dataset
    boris = tmp_path / "boris_agg.tsv"
    boris.write_text("Observation id\tMedia file\tSubject\tBehavior\tBehavioral category\tStart (s)\tStop (s)\n"
                     f"obs1\t{video}\tteacher\tneutral\temotion\t0.000\t1.001\n"
                     f"obs1\t{video}\tteacher\thappy\temotion\t1.001\t4.004\n", encoding="utf-8")
    aggregated = runner.invoke(app, ["evaluate", "--data", str(boris), "--results", str(run)])
    assert aggregated.exit_code == 0 and "2 of 2 segment(s) scored" in aggregated.output, aggregated.output


def test_evaluate_help_says_the_participant_column_and_how_the_comparison_interval_is_made():
    """The help listed video,start,end,emotion[,track] without the participant column the intervals resample by, and
    called the models' paired interval a bootstrap, which is a t interval under 30 subjects."""
    help_words = " ".join(runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200"}).output.replace("│", " ")
                          .split())
    assert "video,start,end,emotion[,track][,participant] (or subject: the intervals then resample the people)" \
        in help_words
    assert "a paired interval of the difference over the subjects: a t interval under 30, a bootstrap from 30" \
        in help_words and "paired bootstrap" not in help_words


def test_the_command_ctrl_c_suggests_pastes_into_the_users_shell_and_its_path_is_no_option():
    """After Ctrl-C, `fervid video` says how to analyse the rest: a command quoted by shlex ('C:\\My Videos\\a.mp4'
    is two words in cmd.exe and PowerShell) and a file named -take.mp4 as it was given (read as an option)."""
    import shlex

    from fervid.apps.cli import argument_path, pasteable_command

    words = ["fervid", "video", r"C:\My Videos\a.mp4", "--start", "1.5"]
    assert pasteable_command(words, windows=True) == r'fervid video "C:\My Videos\a.mp4" --start 1.5'
    posix = ["fervid", "video", "/data/My Videos/it's.mp4", "--start", "1.5"]
    assert shlex.split(pasteable_command(posix, windows=False)) == posix
    assert argument_path("-take.mp4") in {"./-take.mp4", r".\-take.mp4"}
    assert argument_path(Path("clips") / "-take.mp4") == str(Path("clips") / "-take.mp4")
    assert argument_path("/data/-take.mp4") == "/data/-take.mp4"
