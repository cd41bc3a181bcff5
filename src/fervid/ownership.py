"""Whose a file is, in words, for a folder several users share (a lab server: students as Unix users, group folders
of mode 2775): which outputs are another user's, not to be replaced, and why a file could not be opened ("b2/.lock:
Permission denied" said neither whose the file was nor what to do).

POSIX only: on Windows a file's owner and mode (``st_uid`` 0, a mode made up from the read-only flag) say nothing of
who may write it, and every function here says nothing there.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from fervid.errors import FervidError

# whether files have owners and modes that say who may read and write them
_POSIX_OWNERS = hasattr(os, "geteuid")


def user_name(uid: int) -> str:
    """The login name of ``uid``, or "uid N" where the system knows no such user (a container's, a deleted one's)."""
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def other_users_file(path: str | Path) -> str | None:
    """The name of the user who owns ``path`` where that is not this process's user, None where it is (or where it
    cannot be told: the file is gone, or Windows)."""
    if not _POSIX_OWNERS:
        return None
    try:
        uid = os.stat(path).st_uid
    except OSError:
        return None
    return None if uid == os.geteuid() else user_name(uid)


def owner_and_mode(path: str | Path) -> str | None:
    """"owned by student1, mode 0644" (or "owned by you, ..."), None where it cannot be told."""
    if not _POSIX_OWNERS:
        return None
    try:
        facts = os.stat(path)
    except OSError:
        return None
    owner = "you" if facts.st_uid == os.geteuid() else user_name(facts.st_uid)
    return f"owned by {owner}, mode {stat.S_IMODE(facts.st_mode):04o}"


def _explains(path: Path) -> bool:
    """Whether ``path``'s owner and mode say why it was refused: another user's, or this user's without write
    permission for its owner (a read-only install's 0444). This user's writable file says nothing of it (a file
    held open by another program, Windows' refusal, read as "owned by you, mode 0644")."""
    try:
        facts = os.stat(path)
    except OSError:
        return False
    return facts.st_uid != os.geteuid() or not facts.st_mode & stat.S_IWUSR


def why_denied(path: str | Path) -> str | None:
    """Whose the file or folder that refused access to ``path`` is, for a "Permission denied" message: ``path``'s
    owner and mode where it is there; its folder's where it is not (it was to be made there: a lock in a
    colleague's 2755 folder said only "vid/.x.lock: Permission denied"), or where a file is in a folder this user
    cannot write (it is replaced by a new file made there); with what to do where another user's file or folder is
    the cause. None where nothing can be told (Windows)."""
    if not _POSIX_OWNERS:
        return None
    path = Path(path)
    parts, others = [], False
    if _explains(path) and (words := owner_and_mode(path)) is not None:
        parts.append(words)
        others |= other_users_file(path) is not None
    folder = path.parent
    if (not path.exists() or (path.is_file() and not os.access(folder, os.W_OK | os.X_OK))) \
            and _explains(folder) and (words := owner_and_mode(folder)) is not None:
        parts.append(f"its folder {folder}/ is {words}")
        others |= other_users_file(folder) is not None
    if not parts:
        return None
    advice = ("; ask its owner to let the group write it (`chmod g+w`, and to run fervid under `umask 002` in a "
              "folder a group shares), or use a folder of your own") if others else ""
    return "; ".join(parts) + advice


class AccessDenied(FervidError, PermissionError):
    """A file fervid could not open, its ``strerror`` saying whose it is, its mode and what to do
    (:func:`why_denied`); made as OSError is, ``AccessDenied(errno.EACCES, reason, path)``. A PermissionError."""

    def __str__(self) -> str:  # OSError's own: "[Errno 13] ...: 'path'"
        return f"{self.filename}: {self.strerror}"


def access_denied(path: str | Path, reason: str | None = None, code: int = errno.EACCES) -> AccessDenied:
    """The error for ``path``, which this user may not open: ``reason`` (default "Permission denied") with whose it
    is and its mode."""
    words = why_denied(path)
    reason = reason or os.strerror(code)
    return AccessDenied(code, f"{reason} ({words})" if words else reason, str(path))


def explained(exc: OSError) -> OSError:
    """``exc`` said with whose its file is where it is a PermissionError naming one (:func:`access_denied`), else
    as it is."""
    if isinstance(exc, PermissionError) and not isinstance(exc, AccessDenied) and exc.filename is not None:
        return access_denied(exc.filename, exc.strerror, exc.errno or errno.EACCES)
    return exc
