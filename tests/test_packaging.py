"""The built wheel is complete and installs everywhere fervid promises (issue 14).

Builds the wheel from this checkout once, checks what it holds, and asks pip to resolve it, with binary wheels
only, for each promised platform and Python (``pip install --dry-run --only-binary=:all: --platform ...``). That
needs the package index (PyPI), nothing else; nothing is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.version import Version

from conftest import PACKAGE, REPO as ROOT, needs_repository

# builds the wheel and the sdist from the repository, and asks the package index about 5 platforms
pytestmark = [pytest.mark.slow, needs_repository]

# (platform tags pip may use, Python version); manylinux wheels are tagged with several glibc levels
LINUX = ("manylinux_2_28_{m}", "manylinux_2_27_{m}", "manylinux_2_17_{m}", "manylinux2014_{m}")
TARGETS = [
    ([t.format(m="x86_64") for t in LINUX], "3.10"),
    ([t.format(m="x86_64") for t in LINUX], "3.14"),
    ([t.format(m="aarch64") for t in LINUX], "3.12"),
    (["macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64"], "3.13"),
    (["win_amd64"], "3.14"),
]


def skip_without_setuptools_77() -> None:
    """The builds here use the setuptools installed (as .ci/run builds: --no-build-isolation), which must read
    pyproject.toml's PEP 639 licence fields: 77 or newer."""
    try:
        installed = version("setuptools")
    except PackageNotFoundError:
        pytest.skip("setuptools is not installed (the builds here use the installed one: 77 or newer)")
    if Version(installed) < Version("77"):
        pytest.skip(f"setuptools {installed} is installed; the builds here use it, and pyproject.toml's licence "
                    f"fields need 77 or newer")


@pytest.fixture(scope="module")
def package_index() -> None:
    """Skips where pip cannot reach its package index (offline, as a distribution builds): the resolutions below
    ask it."""
    asked = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "--retries", "0", "--timeout", "20",
                            "pip"], capture_output=True, text=True, encoding="utf-8")
    if asked.returncode != 0:
        said = asked.stderr.strip().splitlines()
        pytest.skip(f"pip cannot reach the package index ({said[-1] if said else f'exit {asked.returncode}'})")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    skip_without_setuptools_77()
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True)
    return next(out.glob("fervid-*.whl"))


def test_wheel_holds_weights_detector_samples_and_web_assets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("ferplus_vgg", "fer2013_vgg"):
        assert {f"fervid/weights/{model}/{f}" for f in ("model.onnx", "model_int8.onnx", "config.json")} <= names
        assert f"fervid/weights/temporal_lstm_{model}/model.onnx" in names
    assert {"fervid/weights/detectors/centerface/centerface.onnx", "fervid/weights/detectors/centerface/LICENSE",
            "fervid/weights/detectors/centerface/centerface_int8.onnx",
            # the detector's card, and the test people's figures `fervid models` quotes for the default LSTM
            "fervid/weights/detectors/centerface/MODEL_CARD.md",
            "fervid/weights/temporal_lstm_ferplus_vgg/test_people.json",
            "fervid/samples/astronaut.png", "fervid/samples/carphone_pristine.mp4", "fervid/apps/web/index.html",
            "fervid/apps/web/app.js", "fervid/apps/web/live.html", "fervid/apps/web/live.js",
            "fervid/py.typed"} <= names  # PEP 561: type checkers read fervid's annotations
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Requires-Python: >=3.10\n" in meta
    required = [line for line in meta.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert required and not any(name in line for line in required for name in ("yuface", "scikit-video", "torch",
                                                                                    "pillow-heif"))


def test_wheel_states_its_licence_and_carries_the_licence_files(wheel):
    """PEP 639: the SPDX expression, fervid's LICENSE, the notice of the weights' and samples' terms and the bundled
    detector's licence, under .dist-info/licenses. The expression said plain `MIT` of a wheel whose video LSTMs carry
    JAFFE's and CK+'s research-only terms and whose sample clip's terms are not stated: an SBOM tool or a
    distribution reading the metadata reported it all MIT."""
    names = set(zipfile.ZipFile(wheel).namelist())
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT AND LicenseRef-fervid-weights-and-samples\n" in meta
    notice = "src/fervid/WEIGHTS-AND-SAMPLES-NOTICE.md"
    assert [line for line in meta.splitlines() if line.startswith("License-File:")] == [
        "License-File: LICENSE", f"License-File: {notice}",
        "License-File: src/fervid/weights/detectors/centerface/LICENSE"]
    assert not any(line.startswith("Classifier: License ::") for line in meta.splitlines())  # PEP 639: deprecated
    licences = {n.split(".dist-info/licenses/", 1)[1]: zipfile.ZipFile(wheel).read(n).decode()
                for n in names if ".dist-info/licenses/" in n}
    assert "Copyright (c) 2026 the fervid authors" in licences["LICENSE"]
    detector = licences["src/fervid/weights/detectors/centerface/LICENSE"]
    assert "Copyright (c) 2020 Martin Drawitsch" in detector
    # CenterFace's own notice is not at hand: said so, and where it is, not made up
    assert "https://github.com/Star-Clouds/CenterFace/blob/36afed/LICENSE" in detector
    assert "not reproduced here" in detector
    assert [line for line in detector.splitlines() if line.startswith("Copyright")] == [
        "Copyright (c) 2020 Martin Drawitsch"]
    # the notice names the expression's LicenseRef, and each group of files it covers, with its terms
    terms = " ".join(licences[notice].split())
    assert "`LicenseRef-fervid-weights-and-samples`" in terms
    for said in ("JAFFE: its terms allow non-commercial research only", "CK+: distributed under a research agreement",
                 "FER2013's faces: terms not stated", "FER+'s labels: MIT (Microsoft", "They are not redistributed",
                 "`samples/carphone_pristine.mp4`", "`samples/astronaut.png`", "`weights/detectors/centerface/`"):
        assert said in terms, said
    # and it ships inside the package too, beside the files it describes (a frozen app bundles it with them)
    assert zipfile.ZipFile(wheel).read("fervid/WEIGHTS-AND-SAMPLES-NOTICE.md").decode() == licences[notice]


def test_the_sdist_holds_the_licence_changelog_and_every_test_with_what_the_tests_read(tmp_path):
    """An unpacked sdist runs its own tests: it held 9 of the test files and no tests/conftest.py (2 collection
    errors), and no LICENSE or CHANGELOG.md. Built by setuptools' PEP 517 hook, as `python -m build --sdist
    --no-isolation` does, from a copy of the checkout's files (an egg-info left by an earlier build would add the
    files its SOURCES.txt lists)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, text=True, encoding="utf-8")
    if listed.returncode != 0:
        pytest.skip("not a git checkout: which files are the project's is git's list")
    skip_without_setuptools_77()
    files = [name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]
    checkout, out = tmp_path / "checkout", tmp_path / "dist"
    for name in files:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, checkout / name)
    subprocess.run([sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})"],
                   cwd=checkout, check=True, capture_output=True)
    with tarfile.open(next(out.glob("fervid-*.tar.gz"))) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "CHANGELOG.md", "CONTRIBUTING.md", "README.md", "tests/conftest.py", "docs/results.md",
            "docs/reproduce.sh", "tools/make_centerface.py", "src/fervid/weights/detectors/centerface/LICENSE",
            "src/fervid/WEIGHTS-AND-SAMPLES-NOTICE.md"} <= names
    wanted = [name for name in files if name.startswith(("tests/", "benchmarks/", "configs/", "tools/", "docs/"))
              and not name.endswith(".png")]  # the docs' images stay out
    assert [name for name in wanted if name not in names] == []
    assert not any(name.endswith(".png") for name in names if name.startswith("docs/"))


@pytest.mark.parametrize("platforms, python", TARGETS, ids=[f"{p[0]}-py{v}" for p, v in TARGETS])
def test_wheel_resolves_with_binary_wheels_only(package_index, wheel, tmp_path, platforms, python):
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
           "--python-version", python, "--target", str(tmp_path / "target"), "--report", str(report), "-q",
           f"{wheel}[heic]"]  # the HEIC extra too: an iPhone user on any of these platforms can add it
    for platform in platforms:
        cmd += ["--platform", platform]
    done = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 0, done.stderr[-2000:]
    installed = {item["metadata"]["name"].lower().replace("_", "-")  # pillow_heif's metadata spells it so
                 for item in json.loads(report.read_text())["install"]}
    assert {"fervid", "numpy", "onnxruntime", "opencv-python-headless", "pandas", "fastapi", "pillow-heif"} <= installed
    assert "yuface" not in installed
    # pip evaluates environment markers against the interpreter running it, not --python-version: dependencies
    # behind a marker (tomli on 3.10) are checked by .ci/run, which installs the wheel in real 3.10 and 3.13 venvs


def _this_module(tmp_path: Path, selected: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "-k", selected,
                           str(Path(__file__).resolve())], cwd=tmp_path, env={**os.environ, **env},
                          capture_output=True, text=True, encoding="utf-8", timeout=600)


def test_the_builds_skip_under_setuptools_76_and_the_resolutions_offline_saying_why(tmp_path):
    """A distribution builds offline, with the setuptools it packages: the wheel's checks errored (the build, which
    uses the installed setuptools, cannot read pyproject.toml's licence fields before 77) and the resolutions failed
    (pip reached no index). They skip, and say which of the two."""
    old = tmp_path / "old" / "setuptools-76.1.0.dist-info"  # what importlib.metadata finds first on the path
    old.mkdir(parents=True)
    (old / "METADATA").write_text("Metadata-Version: 2.1\nName: setuptools\nVersion: 76.1.0\n", encoding="utf-8")
    path = os.pathsep.join([str(tmp_path / "old"), str(PACKAGE.parent)])
    built = _this_module(tmp_path, "holds_weights or states_its_licence", PYTHONPATH=path)
    assert built.returncode == 0 and "2 skipped" in built.stdout, built.stdout[-3000:] + built.stderr[-2000:]
    assert "setuptools 76.1.0 is installed; the builds here use it" in built.stdout

    # an index on a port nothing listens on, and no pip configuration (its mirrors, its find-links)
    offline = _this_module(tmp_path, "resolves", PYTHONPATH=str(PACKAGE.parent), PIP_CONFIG_FILE=os.devnull,
                           PIP_INDEX_URL="http://127.0.0.1:9/simple")
    assert offline.returncode == 0 and f"{len(TARGETS)} skipped" in offline.stdout, \
        offline.stdout[-3000:] + offline.stderr[-2000:]
    assert "pip cannot reach the package index" in offline.stdout
