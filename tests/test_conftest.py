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
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed, 1 deselected" in ran.stdout and "warning" not in ran.stdout.lower(), ran.stdout
