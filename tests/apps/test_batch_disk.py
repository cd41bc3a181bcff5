"""fervid batch when its inputs cannot be read or its output folder cannot be written: a file locked, a folder
that refuses writes mid-run, results cut short by a power cut, a full disk, a file in the way."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from fervid.apps.batch import BatchOptions, StateStore, run_batch
from fervid.inference.options import PipelineOptions

QUICK = PipelineOptions(method="mean", annotate=False)  # the batch machinery is what is tested
CLI = [sys.executable, "-m", "fervid.apps.cli", "batch", "--method", "mean", "--no-annotate", "-q"]
def photos(folder: Path, astronaut_rgb, names) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i, name in enumerate(names):  # each distinct: identical files are analysed once
        Image.fromarray(astronaut_rgb).rotate(i).resize((240, 240)).save(folder / name)
        made.append(folder / name)
    return made


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions")
def test_an_unreadable_input_fails_alone_and_is_tried_again(tmp_path, astronaut_rgb, unprivileged):
    """One photo at chmod 000 stopped the whole batch before any work ("error: in6/locked.tiff: Permission denied",
    nothing analysed), where the README promises its neighbours are still analysed."""
    corpus = tmp_path / "corpus"
    a, b, locked = photos(corpus, astronaut_rgb, ["a.png", "b.png", "locked.tiff"])
    locked.chmod(0)
    out = tmp_path / "out"
    try:
        ran = subprocess.run([*unprivileged, *CLI, str(corpus), "--out", str(out)], capture_output=True, text=True,
                             encoding="utf-8",
                             timeout=300)
    finally:
        locked.chmod(0o644)
    assert ran.returncode == 1 and error_lines(ran.stderr) == [f"error: {locked}: cannot be read (Permission denied)"], ran.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (summary["done"], summary["failed"]) == (2, 1)
    assert set(pd.read_parquet(out / "dataset.parquet")["file"]) == {str(a), str(b)}
    again = run_batch([str(corpus)], BatchOptions(out=out, pipeline=QUICK), progress=False)  # readable now
    assert again["this_run"]["files_analysed"] == 1 and (again["done"], again["failed"]) == (3, 0)


def test_an_input_deleted_after_it_was_listed_is_a_failed_input(tmp_path, astronaut_rgb):
    """Deleted between the listing and its hash, it took the same path as an unreadable one: the whole run failed."""
    kept, gone = photos(tmp_path / "corpus", astronaut_rgb, ["kept.png", "gone.png"])
    gone.unlink()
    (tmp_path / "out").mkdir()
    store = StateStore(tmp_path / "out" / "state.sqlite")
    todo, _ = store.plan([kept, gone], tmp_path / "out" / "files")
    assert [task[0] for task in todo] == [str(kept)]
    (row,) = [r for r in store.rows() if r["path"] == str(gone)]
    assert row["status"] == "failed" and row["error"] == f"{gone}: no such file (deleted since the inputs were " \
                                                         "listed?)"


@pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions")
def test_an_output_folder_that_refuses_writes_ends_the_run_naming_it(tmp_path, astronaut_rgb, unprivileged):
    """`chmod 555 out/files` mid-run had every remaining file analysed and then failed, each "[Errno 13] Permission
    denied: 'out/files/.<key>.<pid>.tmp'". A permission refused under --out is the folder's, as a full disk is: the
    run ends at the first file, naming the folder, and the files stay pending for the next run."""
    corpus = tmp_path / "corpus"
    photos(corpus, astronaut_rgb, ["a.png", "b.png", "c.png"])
    out = tmp_path / "out"
    (out / "files").mkdir(parents=True)
    (out / "files").chmod(0o555)
    try:
        ran = subprocess.run([*unprivileged, *CLI, str(corpus), "--out", str(out)], capture_output=True, text=True,
                             encoding="utf-8",
                             timeout=300)
    finally:
        (out / "files").chmod(0o755)
    (line,) = error_lines(ran.stderr)
    assert ran.returncode == 1 and line.startswith(f"error: {out / 'files'}: Permission denied, writing the results "
                                                   "of "), ran.stderr
    assert ".tmp" not in line and "3 file(s) of this run are not analysed yet" in line
    store = StateStore(out / "state.sqlite")
    assert [r["status"] for r in store.rows()] == ["pending"] * 3  # no file blamed for it
    again = run_batch([str(corpus)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    assert again["this_run"]["files_analysed"] == 3 and again["done"] == 3
    assert not [p for p in (out / "files").iterdir() if p.name.startswith(".")]


# A batch worker analysing again a photo whose earlier results are in files/key/, as the pool's do, while files/
# turns read-only once its new results are made
FILES_TURN_READ_ONLY_AS_RESULTS_ARE_REPLACED = """
import json, sys
from pathlib import Path
from fervid.apps import batch
from fervid.inference.options import PipelineOptions
out, photo = Path(sys.argv[1]), sys.argv[2]
options = batch.BatchOptions(out=out, pipeline=PipelineOptions(method="mean", annotate=False))
batch._worker.update(analyzer=options.pipeline.analyzer(threads=1), options=options)
write_rows = batch._write_rows
def files_turn_read_only(*args):
    (out / "files").chmod(0o555)
    return write_rows(*args)
batch._write_rows = files_turn_read_only
print(json.dumps(batch.analyse_one((photo, "key", "image"))))
"""


@pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions")
def test_earlier_results_stay_whole_when_files_refuses_their_replacement(tmp_path, astronaut_rgb, unprivileged):
    """A file analysed again removed its earlier results before renaming the new ones in: a files/ turned read-only
    by then let their files go (the folder's own entries) but refused the rename and the folder's removal, so the
    file's results were lost. They are moved aside instead, and stay where they were when files/ refuses."""
    import errno

    (photo,) = photos(tmp_path / "corpus", astronaut_rgb, ["a.png"])
    out = tmp_path / "out"
    earlier = out / "files" / "key"
    earlier.mkdir(parents=True)
    (earlier / "rows.parquet").write_bytes(b"the earlier results")
    (earlier / "source.txt").write_text(photo.as_posix())
    try:
        ran = subprocess.run([*unprivileged, sys.executable, "-c", FILES_TURN_READ_ONLY_AS_RESULTS_ARE_REPLACED,
                              str(out), str(photo)], capture_output=True, text=True, encoding="utf-8", timeout=300)
    finally:
        (out / "files").chmod(0o755)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.splitlines()[-1])
    assert (result["status"], result["errno"]) == ("cannot write", errno.EACCES)
    assert (earlier / "rows.parquet").read_bytes() == b"the earlier results"
    assert sorted(p.name for p in earlier.iterdir()) == ["rows.parquet", "source.txt"]


@pytest.mark.parametrize("damage", ["empty", "cut short"])
def test_results_cut_short_by_a_power_cut_are_analysed_again(tmp_path, astronaut_rgb, damage):
    """A rows.parquet left empty or cut short (a power cut after state.sqlite said the file was done; nothing is
    synced to the disk) made the folder impossible to resume: every later run ended in a traceback, "ArrowInvalid:
    Parquet file size is 0 bytes". Its file is analysed again, with a notice naming it; a file not given this time
    is left out of the table, said too, and analysed when next given."""
    given, other = photos(tmp_path / "corpus", astronaut_rgb, ["given.png", "other.png"])
    out = tmp_path / "out"
    first = run_batch([str(given), str(other)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    for path in (given, other):
        rows = out / first["outputs"][str(path)] / "rows.parquet"
        rows.write_bytes(b"" if damage == "empty" else rows.read_bytes()[: rows.stat().st_size // 2])
    again = run_batch([str(given)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    assert again["this_run"]["files_analysed"] == 1 and again["done"] == 1 and again["pending"] == 1
    assert set(pd.read_parquet(out / "dataset.parquet")["file"]) == {str(given)}
    notices = again["this_run"]["notices"]
    damaged = out / first["outputs"][str(given)] / "rows.parquet"
    assert [n for n in notices if n.startswith(f"{damaged}: empty or cut short")
            and n.endswith(f"{given} is analysed again")], notices
    assert [n for n in notices if n.startswith(f"{other}: left out of the table")], notices
    last = run_batch([str(given), str(other)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    assert last["this_run"]["files_analysed"] == 1 and last["done"] == 2


def test_results_damaged_within_are_one_line_naming_them(tmp_path, astronaut_rgb):
    from fervid.apps.batch import DamagedResults

    (photo,) = photos(tmp_path / "corpus", astronaut_rgb, ["a.png"])
    out = tmp_path / "out"
    first = run_batch([str(photo)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    rows = out / first["outputs"][str(photo)] / "rows.parquet"
    rows.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")  # whole by its last bytes, garbage within
    with pytest.raises(DamagedResults) as caught:
        run_batch([str(photo)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    assert caught.value.filename == str(rows)
    assert caught.value.strerror.endswith(f"delete its folder, {rows.parent}, and run again to analyse {photo} again")


def test_tables_that_cannot_be_rewritten_are_said_to_be_the_last_runs(tmp_path, astronaut_rgb):
    """Where only the end of the run failed (a full disk at dataset.parquet), the error was the bare OSError, and
    files.csv, the summary and the table were the previous run's with nothing saying so."""
    first, second = photos(tmp_path / "corpus", astronaut_rgb, ["a.png", "b.png"])
    out = tmp_path / "out"
    run_batch([str(first)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    (out / "dataset.parquet").unlink()
    (out / "dataset.parquet").mkdir()  # in the way of the table, as a full disk would fail it
    with pytest.raises(OSError) as caught:
        run_batch([str(first), str(second)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    assert caught.value.filename == str(out / "dataset.parquet")
    assert "dataset.parquet, files.csv and the summary could not all be rewritten: those not rewritten are the last " \
           "run's, and the next run rewrites them" in caught.value.strerror
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["files"] == 1  # the last run's
    (out / "dataset.parquet").rmdir()
    again = run_batch([str(first), str(second)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    assert again["this_run"]["files_analysed"] == 0 and again["done"] == 2  # b was kept


@pytest.mark.parametrize("winerror", [32, None])
def test_a_files_csv_open_in_excel_is_said_to_be(tmp_path, astronaut_rgb, monkeypatch, winerror):
    """Windows cannot replace a file another program holds open: files.csv open in Excel failed the run's end with
    "Make room (or make the folder writable)", neither of which was the matter. Refused so (WinError 32), the error
    says to close it there; another refusal keeps the advice it had."""
    from conftest import refuse

    first, second = photos(tmp_path / "corpus", astronaut_rgb, ["a.png", "b.png"])
    out = tmp_path / "out"
    run_batch([str(first)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    refuse(monkeypatch, "replace", lambda source, target: Path(target) == out / "files.csv", winerror=winerror)
    with pytest.raises(PermissionError) as caught:
        run_batch([str(first), str(second)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    assert caught.value.filename == str(out / "files.csv")
    advice = ("files.csv is open in another program (Excel?): close it there and run the same command again" if winerror
              else "Make room (or make the folder writable) and run the same command again")
    assert f"the next run rewrites them. {advice}: the files done are not analysed again" in caught.value.strerror
    assert caught.value.strerror.count("close it there") == (1 if winerror else 0)  # said once, not twice
    monkeypatch.undo()  # closed in Excel
    again = run_batch([str(first), str(second)], BatchOptions(out=out, pipeline=QUICK), progress=False)
    assert again["this_run"]["files_analysed"] == 0 and len(pd.read_csv(out / "files.csv")) == 2


def test_a_full_disk_under_the_state_says_to_make_room(small_disk, astronaut_png):
    """SQLite meeting the full disk first said only "state.sqlite: disk I/O error" (or "database or disk is
    full")."""
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as fh, pytest.raises(OSError):
        while True:
            fh.write(b"\0" * 4096)
    os.truncate(filler, filler.stat().st_size - 16 * 1024)  # room for the run's lock, not for its state
    ran = subprocess.run([*CLI, str(astronaut_png), "--out", str(small_disk / "out")], capture_output=True, text=True,
                         encoding="utf-8",
                         timeout=300)
    (line,) = error_lines(ran.stderr)
    assert ran.returncode == 1 and line.startswith(f"error: {small_disk / 'out' / 'state.sqlite'}: "), ran.stderr
    assert line.endswith("make room and run the same command again (the files done are kept, and not analysed "
                         "again)"), line


def test_a_file_in_the_way_of_the_output_folder_is_said_as_video_says_it(tmp_path, astronaut_png):
    """`batch x.png --out afile` said "afile/files: Not a directory", where `fervid video` says a file is in the way."""
    from fervid.apps.cli import _os_error_line

    in_the_way = tmp_path / "afile"
    in_the_way.write_text("an earlier export", encoding="utf-8")
    with pytest.raises(OSError) as caught:
        run_batch([str(astronaut_png)], BatchOptions(out=in_the_way, pipeline=QUICK), progress=False)
    assert _os_error_line(caught.value) == f"{in_the_way}: a file is in the way of this output folder"
    assert in_the_way.read_text(encoding="utf-8") == "an earlier export"
