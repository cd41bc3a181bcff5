"""Replacing an earlier run's outputs with a new run's, whole or not at all: the earlier ones are set aside under
hidden names, the new ones moved into place, and the set-aside ones deleted (put back where a move fails). Used
for a video's outputs (``ResultWriter.into_place``) and for a batch's per-file result folders.

The files and folders are moved by ``os.replace`` and deleted by ``os.unlink`` (not ``Path``'s methods, which on
Python 3.10 bind them as they are imported): tests stand in for a file Windows holds open by patching those."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

from fervid.errors import held_open_advice

# ".<output's name>.<token>.old": hidden, named by no pattern fervid reads or writes (as annotate.replacing's
# temporary files), the token shared by the outputs one replacement set aside
_SET_ASIDE = re.compile(r"\.(?P<name>.+)\.(?P<token>[0-9a-f]{16})\.old")


def replace_outputs(moves: Sequence[tuple[Path, Path]], earlier: Sequence[Path]) -> None:
    """Each new file or folder of ``moves`` (``(new, its name)``) renamed to its name, in place of the ``earlier``
    outputs. Deleted one by one first, a file Windows would not let go of (an episodes CSV open in Excel, the
    annotated MP4 in a player) failed the run half-way, the files deleted before it gone and the new ones left
    under their temporary names: the earlier outputs are set aside under hidden names first, all of them or, put
    back, none (the new files are then deleted, and the error names the output and what to do), and deleted once
    the new ones are in place. A run killed before it deleted them leaves them to :func:`recover_set_aside`."""
    token = secrets.token_hex(8)
    set_aside: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for old in earlier:
            hidden = old.with_name(f".{old.name}.{token}.old")
            try:
                os.replace(old, hidden)
            except OSError as exc:
                exc.filename = str(old)  # (the output, not the hidden name it was to take)
                advice = held_open_advice(exc)
                raise OSError(exc.errno, f"{exc.strerror or exc}: cannot replace this output of an earlier run"
                              f"{f'; it {advice} and run this again' if advice else ''} (the earlier outputs are "
                              "left as they were, this run's deleted)", str(old),
                              getattr(exc, "winerror", None)) from None
            set_aside.append((old, hidden))
        for new, name in moves:
            os.replace(new, name)
            placed.append(name)
    except OSError:
        for gone in (*placed, *(new for new, _ in moves)):
            _delete(gone)
        for old, hidden in set_aside:
            os.replace(hidden, old)
        raise
    for _, hidden in set_aside:  # the new outputs are in place: a set-aside one that will not go fails nothing
        with contextlib.suppress(OSError):
            _delete(hidden)


def recover_set_aside(folder: Path, owned: Callable[[str], bool]) -> None:
    """Settle what a run killed in :func:`replace_outputs` left in ``folder``: the set-aside earlier outputs whose
    names ``owned`` says are the caller's, left there for ever before. Those of one replacement are put back under
    their names where none of those names holds a new output (killed while setting them aside, before any new one
    was in place: the earlier outputs come back whole), and deleted where one does (the new outputs had begun to
    replace them: an earlier key frame put back beside the new tables would pass for theirs). Call it holding the
    folder's lock, before replacing those outputs again; one that cannot be moved is left for the next run."""
    replacements: dict[str, list[tuple[Path, Path]]] = defaultdict(list)
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            found = _SET_ASIDE.fullmatch(entry.name)
            if found and owned(found["name"]):
                replacements[found["token"]].append((Path(entry.path), folder / found["name"]))
    for set_aside in replacements.values():
        replaced = any(os.path.lexists(name) for _, name in set_aside)
        for hidden, name in set_aside:
            with contextlib.suppress(OSError):
                if replaced:
                    _delete(hidden)
                else:
                    os.replace(hidden, name)


def _delete(path: Path) -> None:
    """Delete a file or a folder (with what it holds), if it is there."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
