"""Replacing an earlier run's outputs with a new run's, whole or not at all: the earlier ones are set aside under
hidden names, the new ones moved into place, and the set-aside ones deleted (put back where a move fails). Used
for a video's outputs (``ResultWriter.into_place``), a batch's per-file result folders and an evaluation's files
(:func:`staged_outputs`), each of which settles what a run killed replacing them left (:func:`recover_set_aside`,
:func:`recover_staged_outputs`).

The files and folders are moved by ``os.replace`` (:func:`replace_retrying`) and deleted by ``os.unlink`` (not
``Path``'s methods, which on Python 3.10 bind them as they are imported): tests stand in for a file Windows holds open
by patching those."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence

from fervid.errors import WINDOWS_HELD_OPEN, held_open_error
from fervid.folder_lock import FolderLock, FolderLocked

# ".<output's name>.<token>.old": hidden, named by no pattern fervid reads or writes (as annotate.replacing's
# temporary files), the token shared by the outputs one replacement set aside
_SET_ASIDE = re.compile(r"\.(?P<name>.+)\.(?P<token>[0-9a-f]{16})\.old")
# ".<the first new output's name>.<token>.placing": there from when all of a replacement's earlier outputs are set
# aside, before its first new one goes in, until the set-aside ones are deleted; that name taken, the new outputs had
# begun to go in (they go in in order). Named by an output, so that recover_set_aside settles only the caller's.
_PLACING = re.compile(r"\.(?P<name>.+)\.(?P<token>[0-9a-f]{16})\.placing")
# staged_outputs' hidden folder of a run's new outputs, named by the token its replacement's hidden names share: left
# by a run killed writing or replacing them, it says which set-aside outputs in the folder are a staged replacement's
# (not a video's, replaced by a run that may still be going)
_STAGING = re.compile(r"\.fervid-outputs\.(?P<token>[0-9a-f]{16})\.tmp")
# the waits between tries of a rename Windows refused (:func:`replace_retrying`): 1.57 s in all
REPLACE_RETRY_WAITS_S = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)


def replace_retrying(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """``os.replace(source, target)``, tried again for about 1.6 s (:data:`REPLACE_RETRY_WAITS_S`) where Windows
    refuses it as held open (a PermissionError whose ``winerror`` is one of :data:`WINDOWS_HELD_OPEN`): the virus
    scanner, the search indexer or OneDrive opens a file just written for a moment, and a page polling the server's
    job.json opens it twice a second, so one refusal failed a file (or stopped a batch) that would have moved a
    moment later. Only there: a rename's PermissionError elsewhere (POSIX's EACCES, EPERM) is the folder's
    permissions, which waiting does not change. A file held for longer (a table open in Excel) is still refused:
    the last try's error is raised."""
    _retrying_held_open(lambda: os.replace(source, target))


def unlink_retrying(path: str | os.PathLike) -> None:
    """``os.unlink(path)``, tried again as :func:`replace_retrying` tries a rename: Windows refuses to delete a file
    that a scanner or indexer has open for a moment as it refuses to rename it."""
    _retrying_held_open(lambda: os.unlink(path))


def _retrying_held_open(operation: Callable[[], None]) -> None:
    """``operation()`` (a rename or a delete, looked up as it is called: tests patch ``os``), tried again after
    each of :data:`REPLACE_RETRY_WAITS_S` where Windows refuses it as held open; the last try's error raised."""
    for wait in REPLACE_RETRY_WAITS_S:
        try:
            operation()
            return
        except PermissionError as exc:
            if getattr(exc, "winerror", None) not in WINDOWS_HELD_OPEN:
                raise
            time.sleep(wait)
    operation()


def replace_outputs(moves: Sequence[tuple[Path, Path]], earlier: Sequence[Path], token: str | None = None) -> None:
    """Each new file or folder of ``moves`` (``(new, its name)``) renamed to its name, in place of the ``earlier``
    outputs. Deleted one by one first, a file Windows would not let go of (an episodes CSV open in Excel, the
    annotated MP4 in a player) failed the run half-way, the files deleted before it gone and the new ones left
    under their temporary names: the earlier outputs are set aside under hidden names first, all of them or, put
    back, none (the new files are then deleted, and the error names the output and what to do: a
    :class:`fervid.errors.HeldOpenError` where another program holds it open), and deleted once the new ones are in
    place. A run killed before it deleted them leaves them to :func:`recover_set_aside`.
    ``token``: the one their hidden names share (16 hex digits; default a new one)."""
    token = token or secrets.token_hex(8)
    set_aside: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    placing = moves[0][1].with_name(f".{moves[0][1].name}.{token}.placing") if moves and earlier else None
    try:
        for old in earlier:
            hidden = old.with_name(f".{old.name}.{token}.old")
            try:
                replace_retrying(old, hidden)
            except OSError as exc:  # (naming the output, not the hidden name it was to take)
                raise held_open_error(exc, old, ": cannot replace this output of an earlier run",
                                      " (the earlier outputs are left as they were, this run's deleted)") from None
            set_aside.append((old, hidden))
        if placing is not None:  # what a kill from here on leaves is the new outputs' (recover_set_aside)
            placing.touch(exist_ok=False)
        for new, name in moves:
            try:
                replace_retrying(new, name)
            except OSError as exc:  # (the new file, held by a scanner still: said of the output it was to be)
                held = held_open_error(exc, new, ": cannot move this run's output into place",
                                       " (the earlier outputs are left as they were, this run's deleted)")
                held.filename = os.fspath(name)
                raise held from None
            placed.append(name)
    except OSError:
        for gone in (*placed, *(new for new, _ in moves)):
            _delete(gone)
        if placing is not None:
            with contextlib.suppress(OSError):  # (left, it goes with no set-aside output to settle)
                _delete(placing)
        for old, hidden in set_aside:
            replace_retrying(hidden, old)
        raise
    for _, hidden in set_aside:  # the new outputs are in place: a set-aside one that will not go fails nothing
        with contextlib.suppress(OSError):
            _delete(hidden)
    if placing is not None:
        _drop_marker(placing, [hidden for _, hidden in set_aside])


@contextmanager
def staged_outputs(folder: Path) -> Iterator[Path]:
    """``with staged_outputs(out) as staging:`` the files written into ``staging`` (a hidden folder in ``out``)
    replace those of their names in ``out`` together once the block ends (:func:`replace_outputs`): written one by
    one in place, one that Windows would not replace (open in Excel) left a folder of two runs' files. The block
    failing, or the replacement, leaves the earlier files as they were. An error naming a file in ``staging``
    names the output it was to be (a full disk: ``out/report.md``, not the hidden folder).

    What earlier runs killed in ``out`` left is settled first (:func:`recover_staged_outputs`). A run killed
    replacing the files leaves ``staging`` beside the earlier ones it had set aside, for the next run to settle
    (they were left for ever, the staging folder with them where it was killed writing)."""
    folder.mkdir(parents=True, exist_ok=True)
    recover_staged_outputs(folder)
    token = secrets.token_hex(8)
    staging = folder / f".fervid-outputs.{token}.tmp"
    with _staging_lock(folder, token):  # (held before staging is there: recover_staged_outputs tells it is in use)
        staging.mkdir()
        try:
            yield staging
            names = sorted(os.listdir(staging))
            replace_outputs([(staging / name, folder / name) for name in names],
                            [folder / name for name in names if os.path.lexists(folder / name)], token)
        except OSError as exc:
            if exc.filename is not None and Path(exc.filename).parent == staging:
                exc.filename = str(folder / Path(exc.filename).name)
            raise
        finally:
            if not _replacing(folder, token):  # (else interrupted replacing them: left to the next run)
                shutil.rmtree(staging, ignore_errors=True)


def recover_staged_outputs(folder: Path) -> None:
    """Settle what :func:`staged_outputs` runs killed in ``folder`` left there: a staging folder of files written
    before it was killed (deleted), and the earlier outputs a run killed replacing them had set aside
    (:func:`recover_set_aside`: put back where none of its new ones had gone in, the new ones in staging deleted;
    else deleted, and the rest of its new ones, all in staging, moved in: the new outputs whole). A run still going
    (its staging folder's lock held, in this process or another) is left to it."""
    tokens: list[str] = []
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        tokens += [found["token"] for entry in entries if (found := _STAGING.fullmatch(entry.name))]
    for token in tokens:
        staging = folder / f".fervid-outputs.{token}.tmp"
        try:
            with _staging_lock(folder, token):
                if token in recover_set_aside(folder, lambda name: True, token):
                    for name in sorted(os.listdir(staging)):  # (the replacement's order, as replace_outputs's)
                        with contextlib.suppress(OSError):  # (one held open: its earlier one is gone all the same)
                            replace_retrying(staging / name, folder / name)
                if not _replacing(folder, token):  # one left that would not move: settled by the next run
                    shutil.rmtree(staging, ignore_errors=True)
        except FolderLocked:
            continue


@contextmanager
def _staging_lock(folder: Path, token: str) -> Iterator[None]:
    """Hold the lock of :func:`staged_outputs`' run ``token`` in ``folder`` (``.fervid-outputs.<token>.lock``,
    there only while held), by which :func:`recover_staged_outputs` tells a killed run's staging folder from one
    still in use."""
    with FolderLock(folder, "another fervid run", "wait for it to finish", name=f".fervid-outputs.{token}.lock",
                    doing="is writing its outputs into this folder", removed=True):
        yield


def _replacing(folder: Path, token: str) -> bool:
    """Whether the replacement ``token`` has left any earlier output set aside in ``folder``, or its marker."""
    with os.scandir(folder) as entries:
        return any((found := _SET_ASIDE.fullmatch(entry.name) or _PLACING.fullmatch(entry.name))
                   and found["token"] == token for entry in entries)


def recover_set_aside(folder: Path, owned: Callable[[str], bool], token: str | None = None) -> set[str]:
    """Settle what a run killed in :func:`replace_outputs` left in ``folder``: the set-aside earlier outputs whose
    names ``owned`` says are the caller's, left there for ever before. Those of one replacement are put back under
    their names where it was killed while setting them aside, before any new output went in (the earlier outputs
    come back whole), and deleted where its new outputs had begun to go in (an earlier key frame put back beside
    the new tables would pass for theirs). Which it was is told by the replacement's ``.placing`` marker, made
    before the first new output went in, and that output's name it holds: not by the set-aside outputs' names, as
    some of them may be gone already (killed deleting them), and the rest be names the new run did not write (no
    face, no tracks JSON yet). Call it holding the folder's lock, before replacing those outputs again; one that
    cannot be moved is left for the next run. ``token``: that replacement's alone. Returns the tokens of those
    whose new outputs had begun to go in."""
    replacements: dict[str, list[tuple[Path, Path]]] = defaultdict(list)
    markers: dict[str, Path] = {}
    begun: dict[str, bool] = {}  # by token: whether its new outputs had begun to go in
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            if (found := _SET_ASIDE.fullmatch(entry.name) or _PLACING.fullmatch(entry.name)) is None or \
                    not owned(found["name"]) or token not in (None, found["token"]):
                continue
            if found.re is _SET_ASIDE:
                replacements[found["token"]].append((Path(entry.path), folder / found["name"]))
            else:
                markers[found["token"]] = Path(entry.path)
                begun[found["token"]] = os.path.lexists(folder / found["name"])
    for replacement, set_aside in replacements.items():  # (by token)
        for hidden, name in set_aside:
            with contextlib.suppress(OSError):
                if begun.get(replacement, False):
                    _delete(hidden)
                else:
                    replace_retrying(hidden, name)
    for replacement, marker in markers.items():  # (one with none set aside left: killed once it had deleted them)
        _drop_marker(marker, [hidden for hidden, _ in replacements.get(replacement, [])])
    return {replacement for replacement, began in begun.items() if began}


def set_aside_names(folder: Path) -> set[str]:
    """The names of the outputs in ``folder`` that replacements (:func:`replace_outputs`) have set aside, or whose
    ``.placing`` marker is there: those :func:`recover_set_aside` has to settle, by a run killed or still going."""
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        return {found["name"] for entry in entries
                if (found := _SET_ASIDE.fullmatch(entry.name) or _PLACING.fullmatch(entry.name))}
    return set()


def _drop_marker(marker: Path, set_aside: Sequence[Path]) -> None:
    """Delete a replacement's ``.placing`` marker once none of its ``set_aside`` outputs is left: one that would
    not go (held open on Windows) is deleted by the next run, not put back beside the newer outputs."""
    if not any(os.path.lexists(hidden) for hidden in set_aside):
        with contextlib.suppress(OSError):
            _delete(marker)


def _delete(path: Path) -> None:
    """Delete a file or a folder (with what it holds), if it is there."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
