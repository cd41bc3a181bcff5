"""pyproject.toml's dependency bounds are versions fervid runs on: each lower bound below was raised after the
version under it failed (`fervid demo`, or the tests, in a Python 3.11 venv at the lower bounds), and must not fall
back."""

from __future__ import annotations

import sys

import pytest
from packaging.requirements import Requirement

from conftest import REPO as ROOT, needs_repository

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

pytestmark = needs_repository  # reads pyproject.toml

# (distribution, the oldest version that ran, the newest below it that failed, how)
TESTED_MINIMUMS = [
    ("onnxruntime", "1.18.0", "1.17.3", "cannot load the int8 models: ai.onnx.ml opset 5"),
    ("pyarrow", "17.0.0", "16.1.0", "ParquetWriter has no add_key_value_metadata (the frames table's outcome)"),
    ("typer", "0.29.0", "0.28.0", "options reach callbacks as the text typed: `--out -` made a folder named '-' "
                                  "(0.15.3: its help crashes with click 8.2+)"),
    ("pydantic", "2.5.3", "2.5.2", "typer 0.29 requires 2.5.3 (2.4.2: create_model warns on __doc__, a "
                                   "RuntimeWarning per API schema)"),
    # (from here, the oldest versions pyproject allowed, installed with uv --resolution lowest-direct, then the
    # inference and command-line tests run against them)
    ("imageio-ffmpeg", "0.8.0", "0.7.0", "its ffmpeg 7.0.2 gives no stream's start and crashes on MPEG-TS (0.5's "
                                         "4.2 has no -fps_mode)"),
    ("pillow", "10.1.0", "10.0.1", "ImageOps.exif_transpose fails on a multi-page TIFF"),
    ("scikit-learn", "1.4.0", "1.3.0", "zero_division=nan gives F1 nan, not 0, for a class never predicted"),
    ("numpy", "1.24.2", "1.24.0", "onnxruntime 1.18.0 on Python 3.11 requires 1.24.2"),
    ("anyio", "4.2.0", "4.1.0", "the server's CapacityLimiter, made before the event loop runs, fails at start"),
]


def required() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {req.name: req for req in map(Requirement, project["dependencies"])}


@pytest.mark.parametrize("name, works, fails, why", TESTED_MINIMUMS, ids=[row[0] for row in TESTED_MINIMUMS])
def test_lower_bounds_exclude_the_versions_that_failed(name, works, fails, why):
    specifier = required()[name].specifier
    assert specifier.contains(works), f"{name} {works} ran fervid: the bound should allow it"
    assert not specifier.contains(fails), f"{name} {fails} fails ({why}): the bound must exclude it"


def extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]


def test_the_test_core_extra_is_installable_without_torch_ray_or_a_browser_and_the_test_extra_takes_it():
    """A distribution could not install the `test` extra (torch pinned, Ray, Playwright) to run the tests that need
    none of them against its package: `test-core` holds their tools, and `test` (the README's set-up) takes it."""
    core = {Requirement(text).name for text in extras()["test-core"]}
    assert {"pytest", "httpx", "httpx2", "scikit-image"} <= core
    assert not core & {"torch", "ray", "playwright", "fervid", "onnx", "yuface", "pillow-heif"}
    full = [Requirement(text) for text in extras()["test"]]
    assert any(req.name == "fervid" and "test-core" in req.extras for req in full)


def test_the_fastapi_bound_gives_a_test_client_that_runs_on_the_test_extras_httpx():
    # fastapi 0.110.0 holds starlette below 0.37, whose TestClient passes app= to httpx.Client: httpx 0.28 removed it,
    # so every server test failed (TypeError) after `pip install "fervid[test]"` beside it. 0.110.1 requires starlette
    # 0.37.2, the first that runs on httpx 0.28; the server tests pass on 0.110.1, starlette 0.37.2 and httpx 0.28.1
    httpx = next(req for req in map(Requirement, extras()["test-core"]) if req.name == "httpx").specifier
    fastapi = required()["fastapi"].specifier
    assert fastapi.contains("0.110.1"), "fastapi 0.110.1 ran the server tests: the bound should allow it"
    if httpx.contains("0.28.1"):
        assert not fastapi.contains("0.110.0"), "fastapi 0.110.0's starlette TestClient fails on httpx 0.28"


def test_the_build_backend_reads_the_pep_639_licence_fields():
    build = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]
    setuptools = next(Requirement(r) for r in build["requires"] if Requirement(r).name == "setuptools")
    assert not setuptools.specifier.contains("76.1.0")  # license = "MIT" and license-files: setuptools 77 on


def test_the_licence_expression_is_not_plain_mit_and_its_licenceref_is_a_shipped_notice():
    """`license = "MIT"` told SBOM tools and distributions that everything in the wheel was MIT, weights that
    carry JAFFE's and CK+'s research-only terms and a sample clip of unstated terms included. The expression adds a
    LicenseRef, which a file among the licence files defines, one that ships inside the package."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT AND LicenseRef-fervid-weights-and-samples"
    notice = ROOT / "src/fervid/WEIGHTS-AND-SAMPLES-NOTICE.md"
    assert notice.relative_to(ROOT).as_posix() in project["license-files"]
    assert "`LicenseRef-fervid-weights-and-samples`" in notice.read_text(encoding="utf-8")
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"]["fervid"]
    assert notice.name in package_data


def test_the_notice_names_every_weights_folder_and_sample_that_ships():
    """A model or sample added later is not left out of the notice of the shipped files' terms."""
    package = ROOT / "src" / "fervid"
    notice = (package / "WEIGHTS-AND-SAMPLES-NOTICE.md").read_text(encoding="utf-8")
    folders = [f for f in sorted((package / "weights").iterdir()) if f.is_dir() and f.name != "detectors"]
    folders += [f for f in sorted((package / "weights" / "detectors").iterdir()) if f.is_dir()]
    shipped = [f"`{f.relative_to(package).as_posix()}/`" for f in folders]
    shipped += [f"`{f.relative_to(package).as_posix()}`" for f in sorted((package / "samples").iterdir())
                if f.suffix in (".png", ".mp4")]
    assert len(folders) == 5 and [name for name in shipped if name not in notice] == []
