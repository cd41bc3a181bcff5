"""The benchmark scripts are not a package: :func:`load` puts their folder on the path (as the scripts find each
other, e.g. compare_models imports bench_image) and imports one by name, for the tests here. Every test module here
imports this one, which skips it where the repository's benchmarks/ is not beside tests/; the scripts it runs import
the fervid under test (:func:`script_environment`)."""

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from conftest import PACKAGE, REPO, skip_module_without_repository

skip_module_without_repository()
FOLDER = str(REPO / "benchmarks")


def script_environment(*pythonpath: Path) -> dict[str, str]:
    """The environment of a benchmark script run as a command: the fervid under test first on its path (then
    ``pythonpath``, then this one's), and a terminal wide enough that argparse's help wraps no line (it breaks a
    path at a hyphen, as a build folder's: /build/fervid-0.3.0/)."""
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    return {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (PACKAGE.parent, *pythonpath, *inherited))),
            "COLUMNS": "1000"}


def load(name: str) -> ModuleType:
    if FOLDER not in sys.path:
        sys.path.insert(0, FOLDER)
    return importlib.import_module(name)
