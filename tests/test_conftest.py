"""tests/conftest.py: what the tests that .ci/run copies out of the source tree (run against the installed wheel)
take along, with no pyproject.toml beside them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import fervid

CONFTEST = Path(__file__).with_name("conftest.py")


def test_the_slow_marker_is_known_to_tests_copied_without_pyproject(tmp_path):
    """The `slow` marker was declared in pyproject.toml alone: the copies .ci/run makes warned of an unknown mark
    (PytestUnknownMarkWarning) on every slow test. conftest.py declares it, and `-m "not slow"` leaves them out."""
    (tmp_path / "tests").mkdir()
    shutil.copy(CONFTEST, tmp_path / "tests" / "conftest.py")
    (tmp_path / "tests" / "test_copied.py").write_text(
        "import pytest\n\n\n@pytest.mark.slow\ndef test_slow():\n    pass\n\n\ndef test_quick():\n    pass\n",
        encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("", encoding="utf-8")  # (the folder's own: no settings, no markers)
    # the fervid these tests import, whether installed or a source tree's
    env = {**os.environ, "PYTHONPATH": str(Path(fervid.__file__).parents[1])}
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                          "-W", "error::pytest.PytestUnknownMarkWarning", "tests"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed, 1 deselected" in ran.stdout and "warning" not in ran.stdout.lower(), ran.stdout


def _pytest(*args: str, cwd: Path, pythonpath: Path, installed: bool) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "FERVID_TEST_INSTALLED"}
    env["PYTHONPATH"] = str(pythonpath)
    if installed:
        env["FERVID_TEST_INSTALLED"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, encoding="utf-8", timeout=300)


def test_the_tests_of_a_source_tree_run_against_an_installed_copy_when_asked_to(tmp_path):
    """A distribution builds its package and runs the sdist's tests against it, src/ beside them: the tests stopped
    (another copy of fervid) with no way to say that this copy was meant. FERVID_TEST_INSTALLED=1 says so."""
    emotions = (Path(fervid.__file__).parent / "emotions.py").read_text(encoding="utf-8")
    for package in (tmp_path / "sdist" / "src" / "fervid", tmp_path / "site-packages" / "fervid"):
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("", encoding="utf-8")
        (package / "emotions.py").write_text(emotions, encoding="utf-8")
    tests = tmp_path / "sdist" / "tests"
    tests.mkdir()
    shutil.copy(CONFTEST, tests / "conftest.py")
    (tests / "test_which.py").write_text(
        "import fervid\n\n\ndef test_the_installed_copy_is_imported():\n    assert 'site-packages' in fervid.__file__\n",
        encoding="utf-8")
    installed = (tmp_path / "site-packages" / "fervid").resolve()

    refused = _pytest("tests", cwd=tmp_path / "sdist", pythonpath=tmp_path / "site-packages", installed=False)
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert f"imports fervid from {installed}, another copy" in refused.stderr
    assert "to test that copy, set FERVID_TEST_INSTALLED=1" in refused.stderr

    ran = _pytest("tests", cwd=tmp_path / "sdist", pythonpath=tmp_path / "site-packages", installed=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout
    assert f"fervid under test: {installed} (FERVID_TEST_INSTALLED=1)" in ran.stdout


def test_tests_copied_alone_skip_those_that_read_the_repository_and_say_why(tmp_path):
    """Copied alone (a distribution's `source_files: tests`), five modules of tests/benchmarks stopped collection
    and the docs' and pyproject's tests failed (FileNotFoundError); they skip, naming what is missing."""
    shutil.copytree(CONFTEST.parent, tmp_path / "tests", ignore=shutil.ignore_patterns("__pycache__", "e2e"))
    ran = _pytest("tests/test_docs.py", "tests/test_pyproject.py", "tests/test_architecture.py", "tests/benchmarks",
                  cwd=tmp_path, pythonpath=Path(fervid.__file__).parents[1], installed=True)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    summary = ran.stdout.strip().splitlines()[-1]
    assert " skipped" in summary and not any(word in summary for word in ("passed", "failed", "error")), summary
    assert (f"reads the repository beside tests/, and {tmp_path.resolve()} lacks pyproject.toml, README.md"
            in " ".join(ran.stdout.split()))


def test_the_sample_clip_the_tests_look_for_is_the_one_fervid_ships():
    """conftest names the carphone clip by its path in the package (it does not import fervid.samples): that path is
    fervid.samples.carphone()'s, whether the clip is installed or not."""
    from conftest import SAMPLE_CLIP
    from fervid.samples import carphone

    assert SAMPLE_CLIP == carphone().resolve()


def test_without_the_sample_clip_the_tests_that_read_it_skip_saying_so_and_a_made_clip_stands_in(tmp_path):
    """A distribution may leave the carphone clip out (its terms are not stated) and run these tests against its
    package: about 300 tests read the clip and failed there. Those that need carphone itself skip, naming the file
    missing; a video with a face is made by the tests (`face_clip`), clip or no clip."""
    site = tmp_path / "site-packages"
    shutil.copytree(Path(fervid.__file__).parent, site / "fervid", ignore=shutil.ignore_patterns(
        "__pycache__", "carphone_pristine.mp4"))
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(CONFTEST, tests / "conftest.py")
    (tests / "test_clips.py").write_text(
        "import cv2\n"
        "from conftest import needs_sample_clip\n"
        "from fervid import Analyzer\n\n\n"
        "@needs_sample_clip\n"
        "def test_reads_carphone():\n"
        "    assert False, 'ran without the clip'\n\n\n"
        "def test_reads_its_frame_88(uncertain_face_png):\n"
        "    assert False, 'ran without the clip'\n\n\n"
        "def test_a_made_clip(face_clip):\n"
        "    capture = cv2.VideoCapture(str(face_clip))\n"
        "    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 60\n"
        "    faces = Analyzer().analyze_video(face_clip, method='frame', annotate=False).frame_table()\n"
        "    assert faces.frame.tolist() == list(range(60)) and set(faces.track) == {1}\n",
        encoding="utf-8")
    ran = _pytest("tests", cwd=tmp_path, pythonpath=site, installed=True)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert "1 passed, 2 skipped" in ran.stdout, ran.stdout[-3000:]
    missing = (site / "fervid" / "samples" / "carphone_pristine.mp4").resolve()
    assert " ".join(ran.stdout.split()).count(f"reads the carphone sample clip, and {missing} is not installed") == 2
