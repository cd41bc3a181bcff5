"""The benchmark scripts are not a package: :func:`load` puts their folder on the path (as the scripts find each
other, e.g. compare_models imports bench_image) and imports one by name, for the tests here."""

import importlib
import sys
from pathlib import Path
from types import ModuleType

FOLDER = str(Path(__file__).resolve().parents[2] / "benchmarks")


def load(name: str) -> ModuleType:
    if FOLDER not in sys.path:
        sys.path.insert(0, FOLDER)
    return importlib.import_module(name)
