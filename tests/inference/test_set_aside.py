"""fervid.inference.set_aside: an earlier run's outputs replaced by a new run's, whole or not at all, and what a run
killed while writing or replacing its outputs left settled by the next one."""

import os
from pathlib import Path

import pytest

from conftest import refuse, retry_waits

from fervid.errors import HeldOpenError
from fervid.inference import set_aside
from fervid.inference.set_aside import recover_staged_outputs, replace_outputs, staged_outputs

EARLIER = {"a.csv": "earlier a", "b.json": "earlier b", "c.md": "earlier c"}
NEW = {"a.csv": "new a", "b.json": "new b", "c.md": "new c"}


def contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


def write(folder: Path, files: dict[str, str]) -> None:
    with staged_outputs(folder) as staging:
        for name, text in files.items():
            (staging / name).write_text(text)


def killed_replacing(monkeypatch, folder: Path, replacing_nth: int, into_place: bool) -> None:
    """A run writing NEW into ``folder`` killed (KeyboardInterrupt, which it does not catch, as the OS ends a
    process with no cleanup) as it moves its ``replacing_nth`` file: an earlier one aside, or a new one into
    place."""
    real_replace, moves = os.replace, []

    def replace(src, dst):
        if (Path(dst).parent == folder and Path(src).parent != folder) == into_place:
            moves.append(src)
            if len(moves) == replacing_nth:
                raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write(folder, NEW)
    monkeypatch.setattr(os, "replace", real_replace)


def test_a_run_killed_setting_the_earlier_outputs_aside_has_them_put_back_whole(tmp_path, monkeypatch):
    write(tmp_path, EARLIER)
    killed_replacing(monkeypatch, tmp_path, 2, into_place=False)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert [name for name in left if name.endswith(".old")] and [name for name in left if name.endswith(".tmp")]
    recover_staged_outputs(tmp_path)
    assert contents(tmp_path) == EARLIER  # nothing hidden left beside them


def test_a_run_killed_putting_its_outputs_in_place_has_the_rest_of_them_put_in(tmp_path, monkeypatch):
    """Its earlier outputs deleted where the new had begun to go in (as a video's), the new ones it had not moved
    yet, written whole in its staging folder, are moved in: the new outputs whole, not a few of them alone."""
    write(tmp_path, EARLIER)
    killed_replacing(monkeypatch, tmp_path, 2, into_place=True)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".placing")]
    recover_staged_outputs(tmp_path)
    assert contents(tmp_path) == NEW


def test_a_run_killed_writing_leaves_its_staging_folder_to_the_next_run(tmp_path, monkeypatch):
    write(tmp_path, EARLIER)
    monkeypatch.setattr(set_aside.shutil, "rmtree", lambda *args, **kwargs: None)  # killed: no cleanup
    with pytest.raises(KeyboardInterrupt), staged_outputs(tmp_path) as staging:
        (staging / "a.csv").write_text("half")
        raise KeyboardInterrupt
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    write(tmp_path, {"c.md": "new c"})  # the next run settles it as it writes its own
    assert contents(tmp_path) == EARLIER | {"c.md": "new c"}


def test_the_staging_folder_of_a_run_still_going_and_a_videos_set_aside_outputs_are_left_alone(tmp_path):
    write(tmp_path, EARLIER)
    video_set_aside = tmp_path / ".cam_frames.csv.0123456789abcdef.old"  # a video run's, replacing its own
    video_set_aside.write_text("earlier frames")
    with staged_outputs(tmp_path) as staging:
        (staging / "a.csv").write_text("new a")
        recover_staged_outputs(tmp_path)  # another run's start, as this one writes (its lock held)
        assert (staging / "a.csv").read_text() == "new a"
    assert contents(tmp_path) == EARLIER | {"a.csv": "new a", video_set_aside.name: "earlier frames"}


def _outputs(tmp_path):
    """An earlier run's two outputs and the new run's two files that are to replace them."""
    earlier = [tmp_path / "a_frames.csv", tmp_path / "a_episodes.csv"]
    new = [tmp_path / ".a_frames.csv.new", tmp_path / ".a_episodes.csv.new"]
    for path in earlier:
        path.write_text("earlier\n", encoding="utf-8")
    for path in new:
        path.write_text("new\n", encoding="utf-8")
    return earlier, new


def test_an_earlier_output_held_open_is_a_held_open_error_that_says_so(tmp_path, monkeypatch):
    """An episodes CSV open in Excel (Windows refuses to move it, WinError 32): the error is fervid's HeldOpenError
    (worded by errors.held_open_error, as annotate.replacing's), naming the output and what to do, and the earlier
    outputs are left as they were, the new files deleted."""
    earlier, new = _outputs(tmp_path)
    refuse(monkeypatch, "replace", lambda source, target: source == str(earlier[1]))
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
    refuse(monkeypatch, "replace", lambda source, target: source == str(earlier[0]), winerror=None)
    with pytest.raises(PermissionError) as refused:
        replace_outputs(list(zip(new, earlier)), earlier)
    assert not isinstance(refused.value, HeldOpenError)
    assert (refused.value.filename, refused.value.strerror) == (
        str(earlier[0]), "Permission denied: cannot replace this output of an earlier run (the earlier outputs are "
        "left as they were, this run's deleted)")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in earlier)


def test_a_rename_windows_refuses_for_a_moment_is_tried_again(tmp_path, monkeypatch):
    """A file just written is opened for a moment by Windows' virus scanner, search indexer or OneDrive, and the
    rename refused (WinError 5 or 32): one refusal failed the output (a batch's file, or the whole batch)."""
    earlier, new = _outputs(tmp_path)
    waits = retry_waits(monkeypatch)
    refuse(monkeypatch, "replace", times=2, winerror=5)
    replace_outputs(list(zip(new, earlier)), earlier)
    assert waits == [0.02, 0.05]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in earlier)
    assert all(p.read_text(encoding="utf-8") == "new\n" for p in earlier)


def test_a_file_held_for_longer_is_refused_after_a_second_and_a_half_and_said_to_be_held(tmp_path, monkeypatch):
    """A new output held for good (its move into place refused every time): the error, after 1.6 s of tries, says
    it is open in another program (a scanner, not Excel: no program is guessed from the name) and names the output
    it was to be, not the hidden name it was written under; the earlier outputs are left as they were."""
    earlier, new = _outputs(tmp_path)
    waits = retry_waits(monkeypatch)
    refuse(monkeypatch, "replace", lambda source, target: source == str(new[0]))
    with pytest.raises(HeldOpenError) as refused:
        replace_outputs(list(zip(new, earlier)), earlier)
    assert 1 <= sum(waits) <= 2 and len(waits) == len(set_aside.REPLACE_RETRY_WAITS_S)
    assert refused.value.filename == str(earlier[0])
    assert refused.value.strerror == (
        "The process cannot access the file because it is being used by another process: cannot move this run's "
        "output into place; it is open in another program: close it there and run this again (the earlier outputs "
        "are left as they were, this run's deleted)")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in earlier)
    assert all(p.read_text(encoding="utf-8") == "earlier\n" for p in earlier)


def test_a_rename_refused_elsewhere_than_on_windows_is_not_tried_again(tmp_path, monkeypatch):
    """POSIX's EACCES from a rename is the folder's permissions, which waiting does not change."""
    waits = retry_waits(monkeypatch)
    refuse(monkeypatch, "replace", winerror=None)
    (tmp_path / "a").write_text("a", encoding="utf-8")
    with pytest.raises(PermissionError):
        set_aside.replace_retrying(tmp_path / "a", tmp_path / "b")
    assert waits == []
