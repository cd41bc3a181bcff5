"""What each command sends where: stdout for what a script reads (results, JSON documents), stderr for progress,
notices, warnings and the human summary of a JSON; what -q silences; inputs that are not there (an empty stdin)."""

import json
import os
import re
import subprocess
import sys

import pytest
from PIL import Image
from typer.main import get_command
from typer.testing import CliRunner

from conftest import needs_sample_clip, synthetic_faces

from fervid.apps.cli import app
from fervid.emotions import EMOTIONS
from fervid.samples import carphone

runner = CliRunner()


def _help(command: str, option: str) -> str:
    params = {p.name: p for p in get_command(app).commands[command].params}
    return " ".join((params[option].help or "").split())


def _faces_folder(folder, n=40):
    faces, labels = synthetic_faces(n)
    for i, (face, label) in enumerate(zip(faces, labels)):
        (folder / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(face).save(folder / EMOTIONS[label] / f"{i}.png")
    return folder


def test_calibrates_stdout_is_its_json_alone_and_says_whether_the_temperature_was_applied(tmp_path):
    """`fervid calibrate ... | python -m json.tool` failed: plain-text lines (the ECE, "not applied: ...") followed
    the JSON on stdout, and a script could not tell an applied temperature from one that was not."""
    import shutil

    from fervid.inference.models import resolve_model_dir

    held_out = _faces_folder(tmp_path / "held_out")
    model = tmp_path / "model"
    shutil.copytree(resolve_model_dir("fer2013_vgg"), model)
    result = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(held_out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # nothing else on stdout
    assert report == json.loads((model / "calibration.json").read_text(encoding="utf-8"))
    assert isinstance(report["applied"], bool) and report["kept_temperature"] == json.loads(
        (model / "config.json").read_text(encoding="utf-8"))["temperature"]
    assert "ECE (15 bins): " in result.stderr  # the same in words, for a person
    assert ("temperature" in result.stderr and "written to" in result.stderr) if report["applied"] else \
        "not applied: the model keeps temperature" in result.stderr
    quiet = runner.invoke(app, ["calibrate", "--model", str(model), "--data", str(held_out), "-q"])
    assert quiet.exit_code == 0, quiet.output
    assert json.loads(quiet.stdout)["n"] == 40 and "ECE (15 bins)" not in quiet.stderr


def test_quiet_is_said_as_it_is_for_each_command_and_every_long_running_command_has_it():
    """-q's help was image's in every command ("and results sent to stdout ('-')", where video, live, batch,
    evaluate and experiment send nothing to stdout), and train-temporal, export and calibrate had no -q at all."""
    for command in ("video", "live", "batch", "evaluate", "experiment", "train-temporal", "export", "calibrate"):
        text = _help(command, "quiet")
        assert text.startswith("No progress bar and no summary: only errors, warnings and notices (on stderr)"), \
            command
        assert "('-')" not in text and "--json -" not in text, (command, text)
    assert "--json -, --csv - or --parquet -" in _help("image", "quiet")
    assert "--out, which it needs" in _help("evaluate", "quiet")
    assert "the estimate alone is printed, on stdout" in _help("batch", "quiet")
    assert "the estimate alone is printed, on stdout" in _help("video", "quiet")


def test_image_quiet_without_an_output_is_refused(astronaut_png):
    """`fervid image x.png -q` analysed the image and said nothing (exit 0), where `evaluate -q` without --out is
    refused."""
    result = runner.invoke(app, ["image", str(astronaut_png), "-q"])
    assert result.exit_code == 2, result.output
    assert "--quiet prints no results: give --json, --csv, --parquet, --annotate or --crops" in result.stderr
    ok = runner.invoke(app, ["image", str(astronaut_png), "-q", "--csv", "-"])
    assert ok.exit_code == 0 and ok.stdout.startswith("file,face,") and ok.stderr == "", ok.output


def test_batch_estimate_quiet_prints_the_estimate_alone(tmp_path, astronaut_png):
    """`fervid batch --estimate -q` still said "timing samples with these settings ..."."""
    result = runner.invoke(app, ["batch", str(astronaut_png), "--out", str(tmp_path / "o"), "--estimate", "-q"])
    assert result.exit_code == 0, result.output
    assert "timing samples" not in result.output
    assert "estimated: about" in result.stdout and "1 image(s)" in result.stdout
    assert not (tmp_path / "o").exists()


def test_evaluates_notices_go_to_stderr_without_quiet_too(tmp_path, astronaut_rgb):
    """Without -q, `fervid evaluate` printed its notice:/warning: lines among the scores on stdout (with -q, on
    stderr), where every other command says them on stderr."""
    data = _faces_folder(tmp_path / "faces", 30)
    Image.fromarray(astronaut_rgb).save(data / "happy" / "photo.png")  # a whole photo among the crops: a notice
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--model", "fer2013_vgg"])
    assert result.exit_code == 0, result.output
    assert "notice: " in result.stderr and "photo.png" in result.stderr
    assert "notice:" not in result.stdout and "warning:" not in result.stdout
    assert "fer2013_vgg" in result.stdout and "accuracy" in result.stdout  # the scores stay where they were


def test_an_empty_stdin_list_is_an_input_that_failed_as_an_empty_folder_is(tmp_path):
    """`find ... | fervid video -` with nothing found printed nothing and exited 0; `fervid image` said "0 image(s)
    analysed" and exited 0, and `fervid batch` wrote a results folder of nothing, exit 0."""
    for command in (["video", "-", "--out", str(tmp_path / "v")], ["image", "-"],
                    ["batch", "-", "--out", str(tmp_path / "b")]):
        result = runner.invoke(app, command, input="")
        assert result.exit_code == 1, (command, result.output)
        assert "error: -: no paths were given on stdin (it was empty)" in result.stderr, (command, result.output)
    assert not (tmp_path / "b").exists() and not (tmp_path / "v").exists()
    # as an empty folder: one wording, naming what was searched for
    (tmp_path / "empty").mkdir()
    for command, kind in (("video", "video"), ("image", "image")):
        result = runner.invoke(app, [command, str(tmp_path / "empty"), *(["--out", str(tmp_path / "v")]
                                                                         if command == "video" else [])])
        assert result.exit_code == 1 and f"folder holds no {kind} files" in result.stderr, result.output


def test_help_texts_say_what_each_command_does():
    """`image --max-faces` described following faces in a video; `live --key-frames` (and live's other video
    options) began "Videos:", though everything live analyses is video."""
    image_max_faces = _help("image", "max_faces")
    assert "video" not in image_max_faces and "track" not in image_max_faces
    assert "in a video follow at most N" in _help("video", "max_faces")
    for option in ("key_frames", "detect_every", "window", "method", "temporal_model", "region"):
        assert not _help("live", option).startswith("Videos"), option
        assert _help("video", option).startswith("Videos"), option  # (batch reads images too)


@needs_sample_clip
def test_live_progress_lines_in_a_log_say_the_rate_after_the_source(tmp_path):
    """In a log, `fervid live`'s progress was a bare file path, then "path,  27.6 fps analysed, ..."."""
    result = runner.invoke(app, ["live", "--source", str(carphone()), "--seconds", "2.5", "--out", str(tmp_path),
                                 "--no-annotate", "--method", "frame"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "fps analysed" in line or line == str(carphone())]
    assert lines, result.stderr
    for line in lines:
        assert re.fullmatch(rf"{re.escape(str(carphone()))}: \d+\.\d fps analysed, \d+ frames dropped", line), line


def test_shell_completion_is_offered():
    """Completion was disabled (add_completion=False since the first commit, for no reason recorded)."""
    words = " ".join(runner.invoke(app, ["--help"]).output.split())
    assert "--install-completion" in words and "--show-completion" in words
    done = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = 'fervid'; "
                           "from fervid.apps.cli import main; main()"],
                          env={**os.environ, "_FERVID_COMPLETE": "complete_bash", "COMP_WORDS": "fervid image --max-f",
                               "COMP_CWORD": "2"}, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["--max-faces"], (done.stdout, done.stderr)


POSIX_SIGNALS = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


@needs_sample_clip
@POSIX_SIGNALS
def test_a_live_session_from_a_file_cut_by_ctrl_c_exits_130_with_its_outputs(tmp_path):
    """A file's session cut short exited 0, as one that reached the file's end: a script could not tell them
    apart. Its outputs are still written."""
    import signal
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "fervid.apps.cli", "live", "--source", str(carphone()), "--out",
                             str(out), "--no-annotate", "--method", "frame"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8")
    deadline = time.time() + 120
    started = out / "carphone_pristine_frames.partial.csv"
    while time.time() < deadline and proc.poll() is None and not started.is_file():
        time.sleep(0.05)
    time.sleep(1.0)  # analysing (the clip plays 4 s)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted (Ctrl-C): " in stderr and "not to its end" in stderr and "frames analysed" in stdout
    saved = json.loads((out / "carphone_pristine_tracks.json").read_text(encoding="utf-8"))
    assert 0 < saved["frames_read"] < 120


@needs_sample_clip
def test_a_live_session_from_a_file_that_reaches_its_end_exits_0(tmp_path):
    result = runner.invoke(app, ["live", "--source", str(carphone()), "--out", str(tmp_path), "--no-annotate",
                                 "--method", "frame"])
    assert result.exit_code == 0 and "interrupted" not in result.output, result.output
    assert json.loads((tmp_path / "carphone_pristine_tracks.json").read_text(encoding="utf-8"))["frames_read"] == 120
