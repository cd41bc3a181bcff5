"""Matplotlib, set up quietly where fervid first imports it (:func:`prepare_matplotlib`, before each import of it).

Matplotlib keeps its configuration and font cache in ``MPLCONFIGDIR``, else ``~/.config/matplotlib`` and
``~/.cache/matplotlib`` (``~/.matplotlib`` on macOS). Where those cannot be written (a cluster node's read-only or
missing home, HOME unset in a container, an unwritable MPLCONFIGDIR) it made a temporary folder and said so, with
"mkdir -p failed for path ..." and "Matplotlib created a temporary cache directory at ...", in the middle of
`fervid video`'s output, with --quiet too; and it built its font cache again at each run. fervid then points
MPLCONFIGDIR at a folder of its own in the system's temporary folder, kept between runs (its font cache with it),
private to the user. A writable MPLCONFIGDIR of the user's, and writable default folders, are left as they are.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path


def _writable_folder(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return folder.is_dir() and os.access(folder, os.W_OK)


def _default_folders() -> list[Path] | None:
    """The folders matplotlib would keep its configuration and cache in (None: there is no home to find them in)."""
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # HOME unset and no passwd entry (a container's arbitrary user)
        home = None
    if sys.platform.startswith(("linux", "freebsd")):
        config = os.environ.get("XDG_CONFIG_HOME") or (home and home / ".config")
        cache = os.environ.get("XDG_CACHE_HOME") or (home and home / ".cache")
        if not config or not cache:
            return None
        return [Path(config) / "matplotlib", Path(cache) / "matplotlib"]
    return None if home is None else [home / ".matplotlib"]


def kept_folder_name() -> str:
    """The name of fervid's matplotlib folder in the temporary folder, kept from run to run (:func:`_private_folder`;
    ``fervid serve``'s clean-up of its temporary folder leaves it)."""
    return f"fervid-matplotlib-{os.getuid() if hasattr(os, 'getuid') else os.getpid()}"


def _private_folder() -> str:
    """fervid's own folder for matplotlib in the temporary folder: the same one each run (its font cache kept),
    made 0700; one of another user's there, or a link, is not used (a fresh folder is made instead)."""
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    folder = Path(tempfile.gettempdir()) / kept_folder_name()
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        facts = os.lstat(folder)
        if os.path.isdir(folder) and not os.path.islink(folder) and (not hasattr(os, "getuid") or (
                facts.st_uid == uid and not facts.st_mode & 0o022)):
            return str(folder)
    except OSError:
        pass
    # this run's alone: removed as it ends (each run left one more in the temporary folder)
    fresh = tempfile.mkdtemp(prefix="fervid-matplotlib-")
    atexit.register(shutil.rmtree, fresh, ignore_errors=True)
    return fresh


def prepare_matplotlib() -> None:
    """Point MPLCONFIGDIR at a writable folder before matplotlib is first imported, where neither the user's
    MPLCONFIGDIR nor matplotlib's default folders can be written (the module says why)."""
    if "matplotlib" in sys.modules or os.name == "nt":  # too late to choose, or Windows' own folders
        return
    given = os.environ.get("MPLCONFIGDIR")
    folders = [Path(given)] if given else _default_folders()
    if folders and all(_writable_folder(folder) for folder in folders):
        return
    os.environ["MPLCONFIGDIR"] = _private_folder()
