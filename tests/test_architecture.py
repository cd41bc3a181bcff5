"""The architecture (pyproject's [tool.importlinter] contracts): no inference, evaluation, server or batch module
imports torch or the training side, not even lazily inside a function, so fervid runs where torch is not
installed; and the subpackages are layered (apps > research > training > evaluation > inference)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    # this checkout's sources, whichever copy of fervid is installed
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([exe, str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout
