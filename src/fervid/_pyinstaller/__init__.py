"""fervid's hook for PyInstaller, found through the ``pyinstaller40`` entry point ``hook-dirs`` (pyproject.toml): a
plain ``pyinstaller app.py`` of a program that imports fervid then bundles its data files (the models' weights, the
face detector, the web pages, the samples), which PyInstaller leaves out of a package by default, and the frozen app
failed on the first ``Analyzer()`` for want of the detector's weights.

PyInstaller imports this module while it builds, never the app at run time; the hook itself (``hook-fervid.py``)
is the module that imports PyInstaller."""

from __future__ import annotations

import os


def get_hook_dirs() -> list[str]:
    """The folders holding fervid's hooks, as PyInstaller's ``hook-dirs`` entry point asks."""
    return [os.path.dirname(__file__)]
