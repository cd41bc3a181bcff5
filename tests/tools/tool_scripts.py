"""The tools are scripts, not a package: :func:`load` imports one by name, for the tests here (as
tests/benchmarks/benchmark_scripts.py does for the benchmarks). Every test module here imports this one, which skips
it where the repository's tools/ is not beside tests/."""

import importlib.util
from types import ModuleType

from conftest import REPO, skip_module_without_repository

skip_module_without_repository()
FOLDER = REPO / "tools"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, FOLDER / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
