"""fervid.ownership: whose a file is, in words, in a folder several users share."""

import os

import pytest

from fervid.folder_lock import FolderLock, FolderLocked
from fervid.ownership import AccessDenied, explained, other_users_file, user_name, why_denied

# a user id no system account has: files handed to it are another user's, named "uid 54321"
STRANGER = 54321

as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                             reason="hands files to another user (chown): root only")


@as_root
def test_another_users_folder_is_named_with_its_mode_where_a_file_could_not_be_made_in_it(tmp_path):
    """`fervid video x.mp4 --out vid` in a colleague's 2755 folder said only "vid/.x.lock: Permission denied"."""
    vid = tmp_path / "vid"
    vid.mkdir()
    os.chown(vid, STRANGER, -1)
    vid.chmod(0o2755)
    assert user_name(STRANGER) == f"uid {STRANGER}" and other_users_file(vid) == f"uid {STRANGER}"
    assert other_users_file(tmp_path) is None  # this user's own
    denied = explained(PermissionError(13, "Permission denied", str(vid / ".x.lock")))
    assert isinstance(denied, AccessDenied) and isinstance(denied, PermissionError)
    assert str(denied) == (f"{vid / '.x.lock'}: Permission denied (its folder {vid}/ is owned by uid {STRANGER}, mode "
                           "2755; ask its owner to let the group write it (`chmod g+w`, and to run fervid under "
                           "`umask 002` in a folder a group shares), or use a folder of your own)")
    # a file of one's own: whose and its mode, no advice to ask anyone
    mine = tmp_path / "r.json"
    mine.write_text("{}")
    mine.chmod(0o444)
    assert why_denied(mine) == "owned by you, mode 0444"
    assert explained(FileNotFoundError(2, "No such file or directory", str(mine))).strerror == (
        "No such file or directory")  # another error as it was


@as_root
def test_a_lock_held_by_another_users_run_names_the_user(tmp_path):
    """In a folder a group shares, "another fervid run (pid N) is writing ..." did not say whose run it was. Its
    user is the holder process's (/proc), else the lock file's owner, who made it: here a holder that /proc does
    not show (a pid past any there), whose lock file another user owns."""
    import fcntl

    lock_file = tmp_path / ".lock"
    with open(lock_file, "w", encoding="utf-8") as held:
        held.write("999999999")
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.chown(lock_file, STRANGER, -1)
        with pytest.raises(FolderLocked, match=rf"another fervid batch run \(pid 999999999, user uid {STRANGER}\) "
                                               "is using this folder; wait"):
            with FolderLock(tmp_path, "another fervid batch run", "wait for it to finish"):
                pass
        os.chown(lock_file, os.geteuid(), -1)  # this user's: no name said
        with pytest.raises(FolderLocked, match=r"another fervid batch run \(pid 999999999\) is using"):
            with FolderLock(tmp_path, "another fervid batch run", "wait for it to finish"):
                pass
