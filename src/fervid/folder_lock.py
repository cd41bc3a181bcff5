"""One process per folder: ``fervid batch`` per output folder, ``fervid serve`` per data folder; and one run per
set of outputs in a folder: a video's analysis into a folder (``Analyzer.analyze_video``, ``fervid video`` and
``live``) per video's outputs (their stem), so that two runs into one folder on different videos both go on, a
photo's pictures (``fervid image``, ``fervid demo``) per image's, and ``fervid experiment``'s per experiment's.
Here, not in ``fervid.apps``, as the library's video analysis takes it too.

An OS lock on ``<folder>/.lock`` (or another file in it), released by the OS when the holder dies (no stale lock
after a crash), holding the owner's pid for the message the refused process prints. On a file system that takes no
locks (:class:`LocksNotSupported`) the run goes on without one, saying so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from fervid.errors import FervidError, FervidWarning
from fervid.ownership import explained, user_name

WINDOWS_LOCK_BYTE = 1 << 20
LOCK_FILE = ".lock"  # a folder's lock file, unless another is named (a model folder's check passes it over)
# what a refused lock raises: flock's EWOULDBLOCK (EAGAIN), EACCES where flock is made of fcntl's locks, and msvcrt's
# EACCES (EDEADLOCK after its tries). Any other error is the file system's, which takes no locks: a VMware or
# VirtualBox shared folder and some network mounts on macOS (ENOTSUP), NFS without its lock daemon (ENOLCK).
HELD_ERRNOS = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK)}
_RETRY_S = 0.01  # how long a lock that waits (FolderLock's ``wait``) sleeps between its tries
# what a stem's lock's holder records itself as, after its pid (FolderLock's ``kind``): a video's analysis, which
# holds it for minutes, and a photo's pictures, written in milliseconds (a photo run waits for another photo's only)
VIDEO_OUTPUTS, PHOTO_OUTPUTS = "video", "photo"


class LocksNotSupported(FervidWarning):
    """A folder whose file system takes no locks: the run goes on without one (:class:`FolderLock`), and nothing
    stops a second run writing there at once."""


class FolderLocked(FervidError, RuntimeError):
    """Another process (or another thread's run) holds the folder; try again once it is done. ``holder_kind``: what
    the holder recorded itself as in the lock file (:data:`VIDEO_OUTPUTS`; "" where it recorded nothing)."""

    holder_kind: str = ""


class FolderLock:
    """``with FolderLock(folder, "another fervid batch run", "wait for it to finish"):`` ... raises ``error`` (a
    :class:`FolderLocked`) naming the folder, the holder's pid, what it does there (``doing``) and ``advice`` when
    another process holds it. ``name``: the lock file, in the folder (for a lock on a part of what it holds);
    ``removed``: the lock file is deleted as the lock is released (one per video's outputs: none is left beside
    them): while held, or on Windows, which deletes no open file, once closed (refused, and left, where another
    process has opened it meanwhile: its lock then). ``mode``: the lock file's, as the umask leaves it.

    A file system that takes no locks (its error is none of :data:`HELD_ERRNOS`) is warned of
    (:class:`LocksNotSupported`, naming the folder and the system's words), and the run goes on unlocked: refused,
    every run there stopped as "another fervid run (pid unknown) is writing ...", exit 75, with none running, and
    nothing a user could do but move the folder; unlocked, two runs at once there can mix their files, as they
    could before fervid locked folders.

    The lock file is made as the folder's other files are, 0666 less the umask: with `umask 002` in a folder a
    group shares, a colleague resumes a `fervid batch` run (it was 0600 whatever the umask: only its maker could open
    it again). The server's is 0600, as all its files are.

    ``wait``: seconds to try again while another holds it, before ``error`` is raised (a photo's outputs, written in
    milliseconds: :func:`stem_lock`); 0, refused at once (a run that holds its lock for minutes). ``kind``: what
    this run is, written after its pid in the lock file (``12345 video``), for another run to tell; a holder whose
    kind is in ``not_waited_for`` is refused at once, whatever ``wait`` (a photo run finding a video's analysis
    there waited 5 s for a lock held for minutes)."""

    def __init__(self, folder: Path, holder: str, advice: str, error: type[FolderLocked] = FolderLocked,
                 name: str = LOCK_FILE, doing: str = "is using this folder", removed: bool = False,
                 mode: int = 0o666, wait: float = 0.0, kind: str = "",
                 not_waited_for: frozenset[str] = frozenset()):
        self.folder, self.path = Path(folder), Path(folder) / name
        self.holder, self.advice, self.error, self.doing = holder, advice, error, doing
        self.removed = removed
        self.mode = mode
        self.wait, self.kind, self.not_waited_for = wait, kind, not_waited_for
        self.fh: TextIO | None = None

    def __enter__(self) -> FolderLock:
        deadline = time.monotonic() + self.wait
        while True:
            try:
                return self._take()
            except self.error as refused:
                if time.monotonic() >= deadline or refused.holder_kind in self.not_waited_for:
                    raise
                time.sleep(_RETRY_S)

    def _take(self) -> FolderLock:
        """The lock taken, or :attr:`error` raised at once where another holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fh = open(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, self.mode), "a+", encoding="utf-8")
        except PermissionError as exc:  # a colleague's lock file, or folder: whose, and what to do
            raise explained(exc) from None
        try:
            if sys.platform == "win32":  # (not os.name: type checkers read msvcrt on Windows only)
                import msvcrt

                # Windows locks byte ranges from the current position, which "a+" puts at the end of the pid
                # text (so two processes would lock different bytes), and a locked byte cannot be read by the
                # one that is refused: lock one fixed byte far past the text
                fh.seek(WINDOWS_LOCK_BYTE)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in HELD_ERRNOS:  # the file system's: no other run holds it
                warnings.warn(f"{self.folder}: its file system does not support locks ({exc.strerror or exc}): "
                              "going on without one; a second fervid run writing there at once is not stopped",
                              LocksNotSupported, stacklevel=3)  # (the caller of __enter__)
                return self._hold(fh)
            fh.seek(0)
            recorded = fh.read().split(maxsplit=1)  # its pid, and what it is where it said (_hold)
            owner = recorded[0] if recorded else "unknown"
            holder_kind = recorded[1].strip() if len(recorded) > 1 else ""
            user = self._holders_user(owner, fh)  # in a folder a group shares: whose run it is, if not this user's
            fh.close()
            # a notebook's two threads (or a second call while one runs) hold it in one process: its own pid,
            # unexplained, read as a stranger's
            owner += ", this process" if owner == str(os.getpid()) else ""
            owner += f", user {user}" if user else ""
            refused = self.error(f"{self.folder}: {self.holder} (pid {owner}) {self.doing}; {self.advice}")
            refused.holder_kind = holder_kind
            raise refused from None
        if self.removed and not self._is_the_file(fh):  # deleted by its holder as this opened it: lock the new one
            fh.close()
            return self._take()
        return self._hold(fh)

    def _hold(self, fh: TextIO) -> FolderLock:
        """Keep ``fh``, the lock file locked (or on a file system that takes no locks, open), with this process's
        pid in it, and its ``kind`` after it."""
        try:
            # truncated only where an earlier holder's pid is there: ext4 writes a file truncated to nothing out to
            # disk as it is closed (its auto_da_alloc), 3 ms a close on a busy disk, which a new file's lock (one
            # per photo's outputs, 10,000 in a run) paid for nothing
            if os.fstat(fh.fileno()).st_size:
                fh.seek(0)
                fh.truncate()
            fh.write(f"{os.getpid()} {self.kind}" if self.kind else str(os.getpid()))
            fh.flush()
        except OSError as exc:  # a full disk: its error names no file
            with contextlib.suppress(OSError):  # closing flushes the same unwritten bytes again
                fh.close()
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        self.fh = fh
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @staticmethod
    def _holders_user(pid: str, fh) -> str | None:
        """The name of the user running the process ``pid`` (from /proc where there is one; else the lock file's
        owner, who made it), where that is not this process's user; None where it is, or cannot be told."""
        if not hasattr(os, "geteuid"):
            return None
        try:
            uid = os.stat(f"/proc/{int(pid)}").st_uid
        except (OSError, ValueError):
            uid = os.fstat(fh.fileno()).st_uid
        return None if uid == os.geteuid() else user_name(uid)

    def _is_the_file(self, fh) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fh.fileno()).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self.fh is not None:
            windows = sys.platform == "win32"
            if self.removed and not windows:  # while held: one that opened it meanwhile finds it gone once it holds
                with contextlib.suppress(OSError):  # it, and retries
                    self.path.unlink()
            self.fh.close()  # closing releases the lock
            self.fh = None
            # Windows: once closed. One that opened it in between holds it open, and Windows refuses the deletion
            # (left to it); one that opens it after makes a new one.
            if self.removed and windows:
                with contextlib.suppress(OSError):
                    self.path.unlink()


def stem_lock(folder: Path, stem: str, error: type[FolderLocked] = FolderLocked, wait: float = 0.0, kind: str = "",
              not_waited_for: frozenset[str] = frozenset()) -> FolderLock:
    """The lock one run at a time holds to write the outputs named ``stem`` (``<stem>_*``) in ``folder``: a video's
    (:func:`fervid.inference.video.outputs_lock`), a photo's annotated copy and crops
    (:func:`fervid.inference.images.photo_outputs_lock`). Its file, ``.<stem>.lock``, is there only while held.
    ``error``: what a refusal raises; ``wait``, ``kind`` (:data:`VIDEO_OUTPUTS`, :data:`PHOTO_OUTPUTS`) and
    ``not_waited_for``: :class:`FolderLock`'s."""
    return FolderLock(folder, "another fervid run", "run this again once it is done, or give another output folder",
                      error=error, name=f".{stem}.lock", doing=f"is writing {stem}_* there", removed=True, wait=wait,
                      kind=kind, not_waited_for=not_waited_for)


@contextlib.contextmanager
def run_folder_lock(folder: Path, holder: str, advice: str, doing: str, name: str = LOCK_FILE) -> Iterator[None]:
    """Hold ``folder``'s lock (:class:`FolderLock`, its ``.lock`` there only while held) for a run writing into it,
    `fervid train`'s and `fervid train-temporal`'s: a second run into it raises :class:`FolderLocked` before it reads
    anything, instead of the two mixing their files. ``name``: the lock file, for a run that writes a part of what
    the folder holds (`fervid experiment`'s outputs of one experiment, ``.<stem>.lock``). A folder this made and
    left empty (the run refused, or failed before it wrote anything) is removed: rmdir removes only an empty one."""
    folder = Path(folder)
    made = not folder.exists()
    try:
        with FolderLock(folder, holder, advice, name=name, doing=doing, removed=True):
            yield
    finally:
        if made:
            with contextlib.suppress(OSError):
                folder.rmdir()
