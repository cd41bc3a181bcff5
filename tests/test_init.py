"""`import fervid`: what it does to the process before any model loads."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

# CI services' variables, by which ONNX Runtime suppresses its telemetry by itself, and XDG_CACHE_HOME, which would
# put its files outside the child's HOME: left out, the child runs as a user's would
LEFT_OUT = ("CI", "GITHUB_ACTIONS", "TF_BUILD", "BUILD_BUILDID", "JENKINS_URL", "GITLAB_CI", "TRAVIS", "CIRCLECI",
            "BUILDKITE", "APPVEYOR", "TEAMCITY_VERSION", "CODEBUILD_BUILD_ID", "BITBUCKET_BUILD_NUMBER",
            "ORT_RUNNING_UNIT_TESTS", "ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")


def run_as_a_user(code: str, home: Path, **env) -> subprocess.CompletedProcess:
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in LEFT_OUT}
    return subprocess.run([sys.executable, "-c", code], env={**clean, "HOME": str(home), "TMPDIR": str(home), **env},
                          capture_output=True, text=True, encoding="utf-8", timeout=120, check=True)


def test_onnx_runtimes_telemetry_is_off_so_nothing_is_kept_or_sent(tmp_path):
    """ONNX Runtime 1.29+ keeps a device id under ~/.cache and queues a ProcessInfo event (CPU, OS, Python's path)
    for upload to Microsoft, on Linux too: an ethics board's "nothing leaves the machine" was not true. fervid
    turns it off before any model loads; a user's own setting is kept."""
    model = next(Path(__import__("fervid").__file__).parent.glob("weights/ferplus_vgg/model.onnx"))
    run_as_a_user(f"import onnxruntime as o; o.InferenceSession({str(model)!r}, "
                          "providers=['CPUExecutionProvider'])", tmp_path / "plain")
    kept = sorted(p.relative_to(tmp_path / "plain").as_posix() for p in (tmp_path / "plain").rglob("*"))
    if not any("onnxruntime" in p for p in kept):
        pytest.skip(f"this ONNX Runtime keeps no telemetry here (made {kept}); nothing to turn off")
    found = run_as_a_user("import fervid; from fervid.samples import ASTRONAUT_FILE; "
                          "print(len(fervid.Analyzer().analyze_image(ASTRONAUT_FILE)))", tmp_path / "fervid")
    assert found.stdout.strip() == "1"
    assert list((tmp_path / "fervid").rglob("*")) == []  # no device id, no event queue, no session file
    said = run_as_a_user("import os, fervid; print(os.environ['ORT_DISABLE_TELEMETRY'])", tmp_path / "own",
                         ORT_DISABLE_TELEMETRY="0")
    assert said.stdout.strip() == "0"


def test_onnx_runtime_imported_first_is_warned_of_once_as_its_telemetry_cannot_be_turned_off_then(tmp_path):
    """An application that imported onnxruntime before fervid had its telemetry started (the variable is read by
    that import; nothing turns the uploader off afterwards), while README said `import fervid` turns it off: fervid
    says so once at import, with the two fixes. Imported after fervid, or with the variable set, nothing is said."""
    first = run_as_a_user("import warnings; warnings.simplefilter('always'); import onnxruntime, fervid; "
                          "import importlib; importlib.reload(fervid)", tmp_path / "ort_first")
    # (a FervidWarning, and a RuntimeWarning as it always was)
    said = [line for line in first.stderr.splitlines() if "TelemetryNotStopped" in line]
    assert len(said) == 1 and "onnxruntime was imported before fervid" in said[0], first.stderr
    assert "Import fervid before onnxruntime, or set ORT_DISABLE_TELEMETRY=1 in the environment" in said[0]
    for code, env in (("import fervid, onnxruntime", {}),
                      ("import onnxruntime, fervid", {"ORT_DISABLE_TELEMETRY": "1"})):
        quiet = run_as_a_user(f"import warnings; warnings.simplefilter('always'); {code}",
                              tmp_path / f"quiet{len(env)}", **env)
        assert quiet.stderr == "", (code, quiet.stderr)
        assert list((tmp_path / f"quiet{len(env)}").rglob("*")) == []  # no device id, no event queue


def test_the_warning_names_the_device_id_and_event_queue_onnx_runtime_left_to_delete(tmp_path):
    """A data-protection officer asked what to clean up after onnxruntime was imported before fervid: ONNX Runtime
    1.29+ keeps a device id and its event queue under ~/.cache (or XDG_CACHE_HOME), and the warning named neither.
    It names both files, where they are, as they exist after the program ends."""
    first = run_as_a_user("import onnxruntime, fervid", tmp_path / "home")
    kept = sorted((tmp_path / "home").rglob("*"))
    if not any(path.name == "deviceid" for path in kept):
        pytest.skip(f"this ONNX Runtime keeps no device id here (made {kept})")
    folder = tmp_path / "home" / ".cache" / "Microsoft" / "DeveloperTools" / ".onnxruntime"
    said = runtime_warnings(first)
    assert len(said) == 1, first.stderr
    assert f"It keeps {folder / 'deviceid'} and {folder / 'onnxruntime.db'}" in said[0]
    assert "delete them once this program has ended" in said[0]
    assert (folder / "deviceid").is_file() and (folder / "onnxruntime.db").is_file()
    cache = tmp_path / "elsewhere"
    moved = run_as_a_user("import onnxruntime, fervid", tmp_path / "home2", XDG_CACHE_HOME=str(cache))
    assert str(cache / "Microsoft" / "DeveloperTools" / ".onnxruntime" / "deviceid") in runtime_warnings(moved)[0]


def test_the_variable_set_after_onnxruntime_was_imported_is_too_late_and_the_warning_names_the_import_line(tmp_path):
    """Release QA: a notebook that imported onnxruntime, then set ORT_DISABLE_TELEMETRY=1 in a later cell (README's
    advice) and imported fervid was told nothing while ONNX Runtime's telemetry ran: the warning looked at the
    variable now, not at what onnxruntime's import read. And it pointed at fervid/__init__.py, not at the line that
    imported fervid. Set before onnxruntime's import, in the program itself, nothing is said."""
    late = run_as_a_user("import os, warnings; warnings.simplefilter('always'); import onnxruntime; "
                         "os.environ['ORT_DISABLE_TELEMETRY'] = '1'; import fervid", tmp_path / "late")
    assert "TelemetryNotStopped: onnxruntime was imported before fervid" in late.stderr, late.stderr
    in_time = run_as_a_user("import os, warnings; warnings.simplefilter('always'); "
                            "os.environ['ORT_DISABLE_TELEMETRY'] = '1'; import onnxruntime; import fervid",
                            tmp_path / "in_time")
    assert in_time.stderr == ""
    script = tmp_path / "analysis.py"
    script.write_text("import onnxruntime\n\nimport fervid\n", encoding="utf-8")
    run = run_as_a_user(f"import runpy; runpy.run_path({str(script)!r})", tmp_path / "script")
    assert run.stderr.startswith(f"{script}:3: TelemetryNotStopped: onnxruntime was imported before fervid"), run.stderr


def runtime_warnings(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if "TelemetryNotStopped" in line]


def test_on_a_ci_service_onnx_runtime_keeps_its_telemetry_off_itself_and_nothing_is_said(tmp_path):
    """Release QA: on GitHub Actions (CI=true), ONNX Runtime 1.32 keeps its telemetry off by itself (no event store),
    yet `import onnxruntime, fervid` warned that it ran: with no store open the check fell back on
    ORT_DISABLE_TELEMETRY alone. A CI variable ONNX Runtime does not count ("false", "0") leaves it on, and warned."""
    code = "import warnings; warnings.simplefilter('always'); import onnxruntime, fervid"
    for env in ({"CI": "true"}, {"GITHUB_ACTIONS": "true"}, {"JENKINS_URL": "https://ci.example/"},
                {"ORT_RUNNING_UNIT_TESTS": "1"}):
        home = tmp_path / next(iter(env))
        quiet = run_as_a_user(code, home, **env)
        assert runtime_warnings(quiet) == [], (env, quiet.stderr)
        assert list(home.rglob("*")) == []  # ONNX Runtime kept its telemetry off: no device id, no event store
    on = run_as_a_user(code, tmp_path / "not_ci", CI="false", GITHUB_ACTIONS="0")
    assert len(runtime_warnings(on)) == 1 and "telemetry" in on.stderr, on.stderr


def test_where_home_cannot_be_written_the_variable_set_too_late_is_still_warned_of(tmp_path):
    """Release QA: with a HOME ONNX Runtime cannot write (a service account's, a container's), its telemetry runs
    with its events in memory and no event store to see; a notebook that set ORT_DISABLE_TELEMETRY=1 after
    importing onnxruntime was told nothing. The variable the process started with held at that import (quiet); one
    the program set cannot be placed before or after it here, and the warning says so."""
    not_a_folder = tmp_path / "home_is_a_file"
    not_a_folder.write_text("", encoding="utf-8")
    warned = "import warnings; warnings.simplefilter('always'); "
    plain = run_as_a_user(f"{warned}import onnxruntime, fervid", tmp_path / "plain", HOME=str(not_a_folder))
    assert len(runtime_warnings(plain)) == 1 and "cannot be turned off now" in plain.stderr, plain.stderr
    late = run_as_a_user(f"{warned}import os, onnxruntime; os.environ['ORT_DISABLE_TELEMETRY'] = '1'; import fervid",
                         tmp_path / "late", HOME=str(not_a_folder))
    said = runtime_warnings(late)
    assert len(said) == 1 and "ORT_DISABLE_TELEMETRY=1 was set by this program" in said[0], late.stderr
    assert "fervid cannot tell which here" in said[0] and "set after it, too late" in said[0]
    started_with = run_as_a_user(f"{warned}import onnxruntime, fervid", tmp_path / "started_with",
                                 HOME=str(not_a_folder), ORT_DISABLE_TELEMETRY="1")
    assert runtime_warnings(started_with) == [], started_with.stderr


def test_where_open_files_cannot_be_listed_the_variable_set_too_late_is_not_taken_for_one_set_in_time(tmp_path):
    """Off Linux (no /proc/self/fd: the open event store cannot be seen) a variable set after onnxruntime's import
    was taken for one set before it. On Windows, where ONNX Runtime's telemetry is Windows' own event tracing and
    reads no variable, nothing is said."""
    check = ("import os, warnings; warnings.simplefilter('always'); import onnxruntime; "
             "os.environ['ORT_DISABLE_TELEMETRY'] = '1'; import fervid; "
             "from fervid import onnx_runtime_telemetry as t; t._open_files = lambda: None; t.turn_off.__wrapped__()")
    unlisted = run_as_a_user(check, tmp_path / "unlisted")
    said = runtime_warnings(unlisted)
    assert len(said) == 2 and "fervid cannot tell which here" in said[1], unlisted.stderr  # (said[0]: fervid's import)
    windows = run_as_a_user("import sys, warnings; warnings.simplefilter('always'); import onnxruntime, fervid; "
                            "from fervid import onnx_runtime_telemetry as t; sys.platform = 'win32'; "
                            "t.turn_off.__wrapped__()", tmp_path / "windows")
    assert len(runtime_warnings(windows)) == 1, windows.stderr  # fervid's import only (the event store open)


def test_every_public_name_is_listed_once_and_resolves():
    """`__all__` is written out for type checkers (one built as `[..., *_LAZY]` they cannot read): it must still
    name every lazily loaded class, and each name must load."""
    import fervid

    assert len(fervid.__all__) == len(set(fervid.__all__)) and set(fervid._LAZY) <= set(fervid.__all__)
    for name in fervid.__all__:
        assert getattr(fervid, name) is not None, name


# the README's Python API as a typed program writes it: `mypy --strict` must accept every line
README_APP = """
import multiprocessing
import threading
from pathlib import Path

import cv2

import fervid

analyzer = fervid.Analyzer()
faces = analyzer.analyze_image("photo.jpg")
for face in faces:
    print(face.box, face.emotion, face.confidence, face.emotion_probabilities)
table = faces.to_dataframe()
tables = [analyzer.analyze_image(path).to_dataframe(file=str(path)) for path in Path("shots").glob("*.jpg")]
study = fervid.images_table(analyzer.analyze_image(path) for path in Path("shots").glob("*.jpg"))
first: fervid.Face = faces[0]
crop: fervid.ImageResult = analyzer.analyze_image(Path("face.png"), face_crop=True)
model: str = analyzer.settings["model"]

result: fervid.VideoResult = fervid.Analyzer(max_faces=1).analyze_video("interview.mp4", "results/")
frames, tracks = result.frame_table(), result.track_table()
summary = result.track_summaries()[0]
seen: float = summary["seen_seconds"]
share: float = summary["emotion_share"]["happy"]
turned_from: str = summary["changes"][0]["from"]
key_frame: str | None = summary["episodes"][0]["key_frame"]
track: fervid.TrackLog = result.tracks[1]
dominant: str | None = track.dominant_emotion
episodes: list[fervid.Episode] = result.episodes
rows: list[fervid.FrameFace] = result.faces


def on_progress(done: int, total: int) -> None:
    print(done, total)


cancel = threading.Event()
result = analyzer.analyze_video("interview.mp4", "results/", progress=on_progress, stop=cancel.is_set)
ok: bool = result.ok
read: int = result.frames_read
mean = analyzer.analyze_video("interview.mp4", "results/", method="mean", stem="interview_mean", window=0.5,
                              key_frames=3, sample_fps=None)
written = mean.save("other/")
options = fervid.PipelineOptions(max_faces=1, method="hmm")
video_analyzer: fervid.Analyzer = options.analyzer(threads=1)
video_options: fervid.VideoOptions = options.video(centred=False)
by_options = video_analyzer.analyze_video("interview.mp4", options=options)
try:
    analyzer.analyze_video("interview.mp4", "results/")
except fervid.OutputsBusy:
    pass
except (fervid.ImageLoadError, fervid.VideoError, fervid.ModelError, fervid.FervidError):
    pass

cap = cv2.VideoCapture(0)
with analyzer.stream(fps=cap.get(cv2.CAP_PROP_FPS) or 30.0) as stream:
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        for done in stream.push(frame, bgr=True):
            for tracked in done.faces:
                print(done.time, tracked.track_id, tracked.emotion, max(tracked.probabilities), tracked.box)
    stream.finish()
offline: fervid.FaceStream = analyzer.stream(centred=True, method="mean", window=0.5)
delay: float = offline.labels_delay + offline.lookahead
final: list[fervid.StreamFrame] = offline.push(frame, time=0.5)
final_rows: list[dict[str, object]] = final[0].rows()
own_tracks: fervid.TrackClassifier = analyzer.track_classifier(30.0, method="hmm", window=0.5)
own_tracks.add(1, 0.5, faces[0])
own_rows: list[fervid.FrameFace] = own_tracks.ready() + own_tracks.finish(1) + own_tracks.finish()

worker_analyzer: fervid.Analyzer | None = None


def start() -> None:
    global worker_analyzer
    worker_analyzer = fervid.Analyzer(threads=1)


def analyse(path: str) -> fervid.ImageResult:
    assert worker_analyzer is not None
    return worker_analyzer.analyze_image(path)


if __name__ == "__main__":
    with multiprocessing.Pool(4, initializer=start) as pool:
        results = pool.map(analyse, ["a.jpg", "b.jpg"])
"""

# mistakes `mypy --strict` must find (analyze_video's settings were `**changes` of any name and type), by line
MISTAKES = {
    'fervid.Analyzer().analyze_video("clip.mp4", windw=1.0)': 'Unexpected keyword argument "windw"',
    'fervid.Analyzer().analyze_video("clip.mp4", window="1")': 'Argument "window" to "analyze_video" of "Analyzer" '
                                                              'has incompatible type "str"; expected "float"',
    'fervid.Analyzer().analyze_video("clip.mp4", max_faces=1)': 'Unexpected keyword argument "max_faces"',
    'fervid.PipelineOptions().video(centred="no")': 'Argument "centred" to "video" of "PipelineOptions" has '
                                                   'incompatible type "str"; expected "bool"',
    'fervid.PipelineOptions().analyzer(model="x")': 'Unexpected keyword argument "model"',
    'seconds: str = fervid.Analyzer().analyze_video("c.mp4").track_summaries()[0]["seen_seconds"]':
        'Incompatible types in assignment (expression has type "float", variable has type "str")',
    'fervid.Analyzer().analyze_image(3)': 'Argument 1 to "analyze_image" of "Analyzer" has incompatible type "int"',
    'fervid.Analyser()': 'Module has no attribute "Analyser"',
    'fervid.Analyzer().stream(30, sample_fps=5)': 'Unexpected keyword argument "sample_fps"',
    'fervid.Analyzer().track_classifier(30, detect_every=1)': 'Unexpected keyword argument "detect_every"',
}


@pytest.mark.slow  # (mypy reads numpy's and PIL's types: 15 s and more)
def test_mypy_strict_accepts_the_readmes_api_and_finds_a_callers_mistakes(tmp_path):
    """The README says `mypy --strict` takes the names `fervid` exports. It refused `fervid.Analyzer()` (not
    re-exported), `PipelineOptions(...).analyzer()` ("call to untyped function") and a track summary's
    `seen_seconds` returned as a float (a dict of Any), and took `analyze_video(path, windw=1.0)`."""
    pytest.importorskip("mypy", reason="mypy is not installed (it is among the test extras)")
    (tmp_path / "app.py").write_text(README_APP, encoding="utf-8")
    (tmp_path / "mistakes.py").write_text("import fervid\n\n" + "\n".join(MISTAKES) + "\n", encoding="utf-8")
    # this checkout's sources, whichever copy of fervid is installed; fervid's own modules are read, not checked
    checked = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-pretty",
                              "--cache-dir", str(tmp_path / "cache"), "app.py", "mistakes.py"], cwd=tmp_path,
                             capture_output=True, text=True, encoding="utf-8", timeout=600,
                             env={**os.environ, "MYPYPATH": str(Path(__file__).resolve().parents[1] / "src")})
    said = checked.stdout + checked.stderr
    assert "app.py" not in said, said
    for line, (code, error) in enumerate(MISTAKES.items(), start=3):
        assert any(f"mistakes.py:{line}: error: {error}" in said_line for said_line in said.splitlines()), \
            (code, said)


@pytest.mark.skipif(not (REPO / "src" / "fervid").is_dir(), reason="checks a source tree's tests (not beside a wheel)")
def test_the_tests_refuse_to_run_against_another_copy_of_fervid(tmp_path):
    """With another checkout installed in editable mode (found first on the path), the tests ran against its code
    and passed or failed for it; they now stop at once, naming both copies."""
    import os
    import subprocess
    import sys

    other = tmp_path / "fervid"
    other.mkdir()
    (other / "__init__.py").write_text("", encoding="utf-8")
    (other / "emotions.py").write_text((REPO / "src" / "fervid" / "emotions.py").read_text(encoding="utf-8"),
                                       encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                           str(REPO / "tests" / "test_errors.py")], cwd=REPO, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 4, done.stdout + done.stderr
    assert (f"these are the tests of {REPO}, but Python imports fervid from {other}, another copy"
            in done.stdout + done.stderr)
