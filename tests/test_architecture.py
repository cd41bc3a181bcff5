"""The architecture (pyproject's [tool.importlinter] contracts): no inference, evaluation, server or batch module
imports torch or the training side, not even lazily inside a function, so fervid runs where torch is not
installed; and the subpackages are layered (apps > research > training > evaluation > inference)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO as ROOT, needs_repository


@needs_repository  # the contracts are pyproject.toml's
def test_import_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).is_file():
        pytest.skip("import-linter is not installed (it is among the test extras)")
    # this checkout's sources, whichever copy of fervid is installed
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([exe, str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True,
                          encoding="utf-8", env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout
