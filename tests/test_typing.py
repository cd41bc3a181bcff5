"""fervid's own annotations: the package ships py.typed, so a user's type checker takes them as they are."""

import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow  # (a fresh cache: mypy reads numpy's, pandas' and torch's types: 30 s on 2 cores, a minute when busy)
@pytest.mark.skipif(not (REPO / "src" / "fervid").is_dir(), reason="checks a source tree (not beside a wheel)")
def test_mypy_finds_no_error_in_the_package_with_the_projects_settings(tmp_path):
    """`mypy src/fervid` reported 274 errors (many of them library stubs not installed), among them annotations a
    caller's checker would trust: a video's source said to be only str or Path where analyze_video takes any
    os.PathLike, _fail and _bad_value said to return. pyproject.toml's [tool.mypy] sets what is checked and how."""
    pytest.importorskip("mypy", reason="mypy is not installed (it is among the test extras)")
    checked = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
                              "--cache-dir", str(tmp_path / "cache"), "--no-pretty"], cwd=REPO,
                             capture_output=True, text=True, encoding="utf-8", timeout=600)
    said = checked.stdout + checked.stderr
    assert checked.returncode == 0 and "Success: no issues found" in said, said
