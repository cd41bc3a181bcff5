"""fervid's PyInstaller hook (fervid._pyinstaller): a plain `pyinstaller app.py` of a program that uses fervid
bundles its weights. PyInstaller is no dependency of fervid's, nor of its tests: what needs it is skipped without."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib


def hook_dirs() -> list[Path]:
    """The folders PyInstaller looks in for fervid's hooks: the `pyinstaller40` entry point `hook-dirs` that
    pyproject.toml declares, called as PyInstaller calls it."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    module, function = project["entry-points"]["pyinstaller40"]["hook-dirs"].split(":")
    return [Path(folder) for folder in getattr(importlib.import_module(module), function)()]


def test_the_entry_point_names_the_folder_of_fervids_hook_without_importing_pyinstaller():
    """PyInstaller finds a package's own hooks through this entry point; loading it (in PyInstaller's build, as in
    an app that imports fervid) imports fervid's package and never PyInstaller."""
    [folder] = hook_dirs()
    assert (folder / "hook-fervid.py").is_file()
    loaded = subprocess.run([sys.executable, "-c", "import sys, fervid._pyinstaller as p; p.get_hook_dirs(); "
                             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'PyInstaller'))"],
                            capture_output=True, text=True, encoding="utf-8", timeout=120, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_hook_bundles_every_weights_file_where_fervid_reads_it():
    """The plain build's app failed on `Analyzer()`: the CenterFace detector's weights were not in the bundle."""
    pytest.importorskip("PyInstaller", reason="PyInstaller is not installed (no dependency of fervid's)")
    import runpy

    import fervid

    [folder] = hook_dirs()
    datas = runpy.run_path(str(folder / "hook-fervid.py"))["datas"]
    package = Path(fervid.__file__).parent
    bundled = {(Path(source).resolve(), Path(target)) for source, target in datas}
    weights = [f for f in (package / "weights").rglob("*") if f.is_file() and "__pycache__" not in f.parts]
    assert any(f.name == "centerface_int8.onnx" for f in weights)
    for file in weights:
        assert (file.resolve(), Path("fervid") / file.parent.relative_to(package)) in bundled, file
