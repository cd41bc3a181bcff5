"""`import fervid`: what it does to the process before any model loads."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# CI services' variables, by which ONNX Runtime suppresses its telemetry by itself: left out, the child runs as a
# user's would
CI_VARIABLES = ("CI", "GITHUB_ACTIONS", "TF_BUILD", "BUILD_BUILDID", "JENKINS_URL", "GITLAB_CI", "TRAVIS",
                "CIRCLECI", "BUILDKITE", "APPVEYOR", "TEAMCITY_VERSION", "CODEBUILD_BUILD_ID")


def run_as_a_user(code: str, home: Path, **env) -> subprocess.CompletedProcess:
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES and k != "ORT_DISABLE_TELEMETRY"}
    return subprocess.run([sys.executable, "-c", code], env={**clean, "HOME": str(home), "TMPDIR": str(home), **env},
                          capture_output=True, text=True, timeout=120, check=True)


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


def test_every_public_name_is_listed_once_and_resolves():
    """`__all__` is written out for type checkers (one built as `[..., *_LAZY]` they cannot read): it must still
    name every lazily loaded class, and each name must load."""
    import fervid

    assert len(fervid.__all__) == len(set(fervid.__all__)) and set(fervid._LAZY) <= set(fervid.__all__)
    for name in fervid.__all__:
        assert getattr(fervid, name) is not None, name


def test_mypy_strict_accepts_a_script_using_fervids_public_names(tmp_path):
    """`mypy --strict` refused `fervid.Analyzer()` in an app: 'Module "fervid" does not explicitly export attribute
    "Analyzer"' (and ImageLoadError, VideoError, VideoResult), the lazily loaded names being imported for type
    checkers without the `import X as X` form that re-exports them."""
    pytest.importorskip("mypy", reason="mypy is not installed (not among the test extras)")
    script = tmp_path / "app.py"
    script.write_text(
        "import fervid\n\n"
        "analyzer = fervid.Analyzer()\n"
        "options: fervid.VideoOptions = fervid.VideoOptions(method='mean')\n"
        "result: fervid.VideoResult = analyzer.analyze_video('clip.mp4', options=options)\n"
        "rows, tracks = result.frame_table(), result.track_table()\n"
        "try:\n"
        "    faces: fervid.ImageResult = analyzer.analyze_image('photo.jpg')\n"
        "except (fervid.ImageLoadError, fervid.VideoError, fervid.ModelError, fervid.FervidError):\n"
        "    pass\n", encoding="utf-8")
    # this checkout's sources, whichever copy of fervid is installed; fervid's own modules are read, not checked
    checked = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                              "--cache-dir", str(tmp_path / "cache"), str(script)], capture_output=True, text=True,
                             env={**os.environ, "MYPYPATH": str(Path(__file__).resolve().parents[1] / "src")},
                             timeout=600)
    assert checked.returncode == 0, checked.stdout + checked.stderr
