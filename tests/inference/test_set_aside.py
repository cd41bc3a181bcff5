"""fervid.inference.set_aside: an earlier run's outputs replaced by a new run's, whole or not at all."""

import errno
import os

import pytest

from fervid.errors import HeldOpenError
from fervid.inference.set_aside import replace_outputs


def _outputs(tmp_path):
    """An earlier run's two outputs and the new run's two files that are to replace them."""
    earlier = [tmp_path / "a_frames.csv", tmp_path / "a_episodes.csv"]
    new = [tmp_path / ".a_frames.csv.new", tmp_path / ".a_episodes.csv.new"]
    for path in earlier:
        path.write_text("earlier\n", encoding="utf-8")
    for path in new:
        path.write_text("new\n", encoding="utf-8")
    return earlier, new


def _refusing(monkeypatch, refused, exc):
    """``os.replace`` refuses to move ``refused`` away with ``exc``."""
    real_replace = os.replace

    def replace(src, dst, **kwargs):
        if os.fspath(src) == str(refused):
            raise exc
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def test_an_earlier_output_held_open_is_a_held_open_error_that_says_so(tmp_path, monkeypatch):
    """An episodes CSV open in Excel (Windows refuses to move it, WinError 32): the error is fervid's HeldOpenError
    (worded by errors.held_open_error, as annotate.replacing's), naming the output and what to do, and the earlier
    outputs are left as they were, the new files deleted."""
    earlier, new = _outputs(tmp_path)
    held = PermissionError(errno.EACCES, "The process cannot access the file because it is being used by another "
                           "process", str(earlier[1]), None, str(tmp_path / ".a_episodes.csv.0123456789abcdef.old"))
    held.winerror = 32
    _refusing(monkeypatch, earlier[1], held)
    with pytest.raises(HeldOpenError) as refused:
        replace_outputs(list(zip(new, earlier)), earlier)
    assert refused.value.filename == str(earlier[1])
    assert refused.value.strerror == (
        "The process cannot access the file because it is being used by another process: cannot replace this output "
        "of an earlier run; it is open in another program (Excel?): close it there and run this again (the earlier "
        "outputs are left as they were, this run's deleted)")
    assert refused.value.advice == "is open in another program (Excel?): close it there"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in earlier)
    assert all(p.read_text(encoding="utf-8") == "earlier\n" for p in earlier)


def test_an_earlier_output_that_cannot_be_moved_for_another_reason_says_only_what_failed(tmp_path, monkeypatch):
    """A refusal that is not a file held open (Linux: the folder's permissions) gives no advice to close it."""
    earlier, new = _outputs(tmp_path)
    _refusing(monkeypatch, earlier[0], PermissionError(errno.EACCES, "Permission denied", str(earlier[0])))
    with pytest.raises(PermissionError) as refused:
        replace_outputs(list(zip(new, earlier)), earlier)
    assert not isinstance(refused.value, HeldOpenError)
    assert (refused.value.filename, refused.value.strerror) == (
        str(earlier[0]), "Permission denied: cannot replace this output of an earlier run (the earlier outputs are "
        "left as they were, this run's deleted)")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in earlier)
