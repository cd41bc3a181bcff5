"""staged_outputs: what a run killed while writing or replacing its outputs left is settled by the next one."""

import os
from pathlib import Path

import pytest

from fervid.inference import set_aside
from fervid.inference.set_aside import recover_staged_outputs, staged_outputs

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
