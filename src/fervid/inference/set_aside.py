"""Replacing an earlier run's outputs with a new run's, whole or not at all: the earlier ones are set aside under
hidden names, the new ones moved into place, and the set-aside ones deleted (put back where a move fails). Used
for a video's outputs (``ResultWriter.into_place``) and for a batch's per-file result folders.

The files and folders are moved by ``os.replace`` and deleted by ``os.unlink`` (not ``Path``'s methods, which on
Python 3.10 bind them as they are imported): tests stand in for a file Windows holds open by patching those."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Sequence

from fervid.errors import held_open_advice

def replace_outputs(moves: Sequence[tuple[Path, Path]], earlier: Sequence[Path]) -> None:
    """Each new file or folder of ``moves`` (``(new, its name)``) renamed to its name, in place of the ``earlier``
    outputs. Deleted one by one first, a file Windows would not let go of (an episodes CSV open in Excel, the
    annotated MP4 in a player) failed the run half-way, the files deleted before it gone and the new ones left
    under their temporary names: the earlier outputs are set aside under hidden names first, all of them or, put
    back, none (the new files are then deleted, and the error names the output and what to do), and deleted once
    the new ones are in place."""
    token = secrets.token_hex(8)
    set_aside: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for old in earlier:
            # hidden, and named by no pattern fervid reads or writes (as annotate.replacing's temporary files)
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


def _delete(path: Path) -> None:
    """Delete a file or a folder (with what it holds), if it is there."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
