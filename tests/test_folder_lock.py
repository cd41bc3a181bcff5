"""fervid.folder_lock: one run per folder (or per set of outputs in it), on file systems that take locks and on those
that do not, and no lock file left beside the outputs, Windows included (simulated here: see ``as_on_windows``)."""

import errno
import os
import sys
import types

import pytest

from fervid import folder_lock
from fervid.folder_lock import FolderLock, FolderLocked, LocksNotSupported, run_folder_lock

fcntl = pytest.importorskip("fcntl", reason="POSIX locks stand in for the file systems and for Windows' msvcrt")


def flock_failing(monkeypatch, code: int) -> None:
    """fcntl.flock raises ``code``, as a file system that refuses it does, or as another holder's lock does."""
    def flock(fd, operation):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", flock)


@pytest.mark.parametrize("code", [errno.ENOTSUP, errno.ENOLCK], ids=["ENOTSUP", "ENOLCK"])
def test_a_file_system_that_takes_no_locks_is_warned_of_and_the_run_goes_on(tmp_path, monkeypatch, code):
    """A VMware shared folder on macOS (ENOTSUP), NFS without its lock daemon (ENOLCK): every run there said
    "another fervid run (pid unknown) is writing ..." and exited 75, with no other run. The run goes on, unlocked,
    with one warning naming the folder and why."""
    flock_failing(monkeypatch, code)
    out = tmp_path / "out"
    with pytest.warns(LocksNotSupported) as warned:
        with FolderLock(out, "another fervid run", "wait for it to finish", name=".cam.lock", removed=True):
            assert (out / ".cam.lock").read_text(encoding="utf-8") == str(os.getpid())
    (warning,) = warned
    assert str(warning.message) == (f"{out}: its file system does not support locks ({os.strerror(code)}): going on "
                                    "without one; a second fervid run writing there at once is not stopped")
    assert warning.filename == __file__  # said of the caller's line (the CLI says fervid's own as "warning: ...")
    assert not (out / ".cam.lock").exists()


def test_a_lock_another_holds_still_refuses_the_run(tmp_path, monkeypatch):
    """EWOULDBLOCK is another holder's lock: refused as it was, naming the holder's pid from the lock file."""
    (tmp_path / ".lock").write_text("4242", encoding="utf-8")
    flock_failing(monkeypatch, errno.EWOULDBLOCK)
    with pytest.raises(FolderLocked, match=r"another fervid batch run \(pid 4242\) is using this folder; wait"):
        with FolderLock(tmp_path, "another fervid batch run", "wait for it to finish"):
            pass


def as_on_windows(monkeypatch) -> None:
    """folder_lock as Windows runs it: ``sys.platform`` "win32" and ``os.name`` "nt" (in that module alone: the
    rest of Python stays POSIX), and an msvcrt whose byte-range lock is stood in for by flock. What Windows does
    that this does not: refuse to delete a file another process has open."""
    windows_os = types.SimpleNamespace(**{**vars(os), "name": "nt"})
    monkeypatch.setattr(folder_lock, "os", windows_os)
    monkeypatch.setattr(folder_lock, "sys", types.SimpleNamespace(platform="win32"))

    def locking(fd, mode, nbytes):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OSError(errno.EACCES, "Permission denied") from None  # msvcrt's refusal, LK_NBLCK

    monkeypatch.setitem(sys.modules, "msvcrt", types.SimpleNamespace(LK_NBLCK=2, locking=locking))


def test_on_windows_no_lock_file_is_left_beside_the_outputs(tmp_path, monkeypatch):
    """Every `fervid video` left out/.<stem>.lock (a file Windows shows), as the lock file was kept on Windows,
    which deletes no open file: it is deleted once closed."""
    as_on_windows(monkeypatch)
    out = tmp_path / "out"
    with FolderLock(out, "another fervid run", "wait", name=".cam.lock", removed=True):
        assert (out / ".cam.lock").is_file()
        with pytest.raises(FolderLocked, match=r"another fervid run \(pid \d+, this process\)"):  # still one run
            with FolderLock(out, "another fervid run", "wait", name=".cam.lock", removed=True):
                pass
    assert list(out.iterdir()) == []
    with FolderLock(out, "another fervid batch run", "wait"):  # one kept by its design (a batch's): kept
        pass
    assert [p.name for p in out.iterdir()] == [".lock"]


def test_on_windows_a_failed_training_run_leaves_no_folder_holding_its_lock(tmp_path, monkeypatch):
    """A `fervid train` that failed before writing anything left its new run folder holding only .lock."""
    as_on_windows(monkeypatch)
    run = tmp_path / "runs" / "new"
    with pytest.raises(ValueError), run_folder_lock(run, "another training run", "wait", "is training here"):
        raise ValueError("the config is wrong")
    assert not run.exists()


def test_a_lock_that_waits_takes_it_once_its_holder_lets_go_and_is_refused_past_its_wait(tmp_path):
    """A photo's outputs are written in milliseconds: a run that finds their lock held waits for it (``wait``)
    rather than naming its own apart at once, and is refused, naming the holder, only where it is held longer."""
    import threading
    import time

    from fervid.folder_lock import stem_lock

    holder = stem_lock(tmp_path, "img").__enter__()
    threading.Timer(0.3, holder.release).start()
    started = time.monotonic()
    with stem_lock(tmp_path, "img", wait=10):
        waited = time.monotonic() - started
        assert (tmp_path / ".img.lock").read_text(encoding="utf-8") == str(os.getpid())
        started = time.monotonic()
        with pytest.raises(FolderLocked, match=r"another fervid run \(pid \d+, this process\) is writing img_\* "):
            with stem_lock(tmp_path, "img", wait=0.2):
                pass
        refused_after = time.monotonic() - started
    assert 0.25 < waited < 5 and 0.2 <= refused_after < 5
    assert list(tmp_path.iterdir()) == []  # the lock file is there only while held


def test_a_lock_held_by_a_video_analysis_is_not_waited_for_by_a_photo_run(tmp_path):
    """A photo run waited its whole wait (5 s) for a stem's lock a video's analysis held, held for minutes: the
    holder records what it is after its pid, and a photo run waits for another photo run's only."""
    import threading
    import time

    from fervid.folder_lock import PHOTO_OUTPUTS, VIDEO_OUTPUTS, stem_lock

    def photo_run(wait: float):
        return stem_lock(tmp_path, "img", wait=wait, kind=PHOTO_OUTPUTS, not_waited_for=frozenset({VIDEO_OUTPUTS}))

    with stem_lock(tmp_path, "img", kind=VIDEO_OUTPUTS):
        assert (tmp_path / ".img.lock").read_text(encoding="utf-8") == f"{os.getpid()} video"
        started = time.monotonic()
        with pytest.raises(FolderLocked, match=r"another fervid run \(pid \d+, this process\) is writing img_") as held:
            with photo_run(wait=10):
                pass
        assert time.monotonic() - started < 2 and held.value.holder_kind == VIDEO_OUTPUTS
    holder = photo_run(wait=0).__enter__()  # another photo run's: waited for
    assert (tmp_path / ".img.lock").read_text(encoding="utf-8") == f"{os.getpid()} photo"
    threading.Timer(0.3, holder.release).start()
    started = time.monotonic()
    with photo_run(wait=10):
        assert 0.25 < time.monotonic() - started < 5
    assert list(tmp_path.iterdir()) == []
