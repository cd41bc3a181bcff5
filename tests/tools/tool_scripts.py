"""The tools are scripts, not a package: :func:`load` imports one by name, for the tests here (as
tests/benchmarks/benchmark_scripts.py does for the benchmarks)."""

import importlib.util
from pathlib import Path
from types import ModuleType

FOLDER = Path(__file__).resolve().parents[2] / "tools"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, FOLDER / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
