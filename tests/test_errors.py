"""fervid.FervidError: one base for the errors fervid raises, each keeping the built-in base it had, and fervid's
classes (not bare built-ins) for an API caller's mistakes. fervid.FervidWarning: one base for the warnings it gives."""

import ast
import importlib
import pickle
import warnings

import pytest

import fervid
from fervid.samples import ASTRONAUT_FILE, carphone
from conftest import PACKAGE, needs_sample_clip


@pytest.fixture(scope="module")
def analyzer():
    return fervid.Analyzer()


def test_every_exported_error_is_a_fervid_error_and_keeps_its_built_in_base():
    """An app caught ImageLoadError, VideoError, ModelError, UnknownName... one by one; code written against their
    built-in bases (`except ValueError`) must keep working."""
    kept = {"ImageLoadError": ValueError, "VideoError": ValueError, "OptionError": ValueError,
            "UnknownName": (KeyError, ValueError), "ModelError": RuntimeError, "ModelNotFound": RuntimeError,
            "DetectorUnavailable": RuntimeError, "OutputDirError": FileExistsError, "OutputsBusy": RuntimeError}
    errors = {name for name in fervid.__all__
              if name.endswith(("Error", "NotFound", "Unavailable", "UnknownName", "Busy"))}
    assert errors == set(kept) | {"FervidError"}
    for name, builtin in kept.items():
        cls = getattr(fervid, name)
        assert issubclass(cls, fervid.FervidError) and issubclass(cls, builtin), name


def test_every_warning_fervid_gives_is_a_fervid_warning():
    """An app embedding fervid could not filter its warnings: most were plain UserWarnings, said at the caller's line
    (stacklevel 2), so ``filterwarnings("ignore", module="fervid")`` missed them too. Each warnings.warn in the
    package names a category, and each is a FervidWarning, which is a UserWarning as they were."""
    assert issubclass(fervid.FervidWarning, UserWarning) and "FervidWarning" in fervid.__all__
    calls = 0
    for source in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "warn"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "warnings"):
                continue
            calls += 1
            where = f"{source.relative_to(PACKAGE.parent)}:{node.lineno}"
            category = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "category"), None)
            assert isinstance(category, ast.Name), f"{where}: warnings.warn without a category of fervid's"
            module = importlib.import_module(".".join(source.relative_to(PACKAGE.parent).with_suffix("").parts))
            assert issubclass(getattr(module, category.id), fervid.FervidWarning), where
    assert calls >= 10  # (the scan found them)


def test_one_filter_by_category_silences_fervids_warnings(tmp_path, monkeypatch):
    """A folder named as the shipped model in the working folder is warned of (ModelFolderNotUsed, a
    FervidWarning); filtered by fervid.FervidWarning, it is not."""
    from fervid.folder_lock import LocksNotSupported
    from fervid.inference.models import DEFAULT_MODEL, ModelFolderNotUsed, warn_of_folder_not_used

    assert issubclass(ModelFolderNotUsed, fervid.FervidWarning) and issubclass(LocksNotSupported, fervid.FervidWarning)
    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_MODEL).mkdir()
    with pytest.warns(fervid.FervidWarning, match=f"the folder ./{DEFAULT_MODEL} here is not used"):
        warn_of_folder_not_used(DEFAULT_MODEL)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=fervid.FervidWarning)
        warn_of_folder_not_used(DEFAULT_MODEL)
    assert said == []


@needs_sample_clip
def test_a_callers_mistakes_raise_fervids_classes_under_their_old_bases(analyzer, tmp_path):
    in_the_way = tmp_path / "results"
    in_the_way.write_text("notes")
    # an output folder a file holds: said before the video is read, as a FileExistsError still
    with pytest.raises(fervid.OutputDirError, match="results: a file is in the way") as caught:
        analyzer.analyze_video(carphone(), in_the_way, method="frame", annotate=False)
    assert isinstance(caught.value, FileExistsError) and caught.value.filename == str(in_the_way)
    assert pickle.loads(pickle.dumps(caught.value)).filename == str(in_the_way)  # (back from a worker process)
    result = analyzer.analyze_video(carphone(), method="frame", annotate=False)
    with pytest.raises(fervid.OutputDirError):
        result.save(in_the_way)
    assert in_the_way.read_text() == "notes"

    for bad in ({"window": -1}, {"detect_every": "0.3"}, {"batch_frames": 0}, {"key_frames": -2}):
        with pytest.raises(fervid.OptionError) as caught:
            analyzer.analyze_video(carphone(), **bad)
        assert isinstance(caught.value, ValueError) and next(iter(bad)) in str(caught.value)
    with pytest.raises(fervid.OptionError, match="bgr=True describes a numpy array's channel order"):
        analyzer.analyze_image(ASTRONAUT_FILE, bgr=True)
    with pytest.raises(fervid.OptionError, match="threads must be"):
        fervid.Analyzer(threads=0)
    with pytest.raises(fervid.OptionError, match="score_threshold must be"):
        fervid.PipelineOptions(score_threshold=2.0)
    with pytest.raises(fervid.FervidError, match="unknown temporal method 'xyz'"):
        fervid.VideoOptions(method="xyz")
    with pytest.raises(fervid.FervidError, match="model 'nope' not found"):
        fervid.Analyzer(model="nope")
    with pytest.raises(fervid.FervidError, match="gone.mp4: no such file"):
        analyzer.analyze_video(tmp_path / "gone.mp4")


def test_a_file_another_program_holds_open_is_said_to_be_on_windows_only(tmp_path, monkeypatch):
    """Windows refuses to delete, rename or replace a file another program holds open (a table in Excel): the
    advice is to close it there. Elsewhere an open file is replaced, and a refusal is the folder's permissions."""
    import errno
    import types

    import fervid.errors as errors

    table = tmp_path / "files.csv"
    table.write_text("file\n", encoding="utf-8")

    def refused(path, winerror=None, code=errno.EACCES):
        exc = OSError(code, "refused", str(path))
        if winerror is not None:
            exc.winerror = winerror
        return exc

    assert errors.held_open_advice(refused(table, 32)) == "is open in another program (Excel?): close it there"
    assert errors.held_open_advice(refused(tmp_path / "a_annotated.mp4", 32)) == (
        "is open in another program (a video player?): close it there")
    may_be = "may be open in another program (Excel?): close it there (or make it writable)"
    assert errors.held_open_advice(refused(table, 5)) == may_be
    assert errors.held_open_advice(refused(table)) is None  # Linux, macOS: the folder's permissions
    assert errors.held_open_advice(refused(table, code=errno.ENOSPC)) is None
    monkeypatch.setattr(errors, "sys", types.SimpleNamespace(platform="win32"))
    assert errors.held_open_advice(refused(table)) == may_be
    assert errors.held_open_advice(refused(tmp_path / "gone.csv")) is None  # nothing there to hold open
    # a folder Windows would not rename (a batch's results of a file) holds a file open elsewhere: said so, where
    # the refusal is Windows' own (its winerror), not the C library's for a folder opened as a file
    results = tmp_path / "files" / "key"
    results.mkdir(parents=True)
    assert errors.held_open_advice(refused(results, 5)) == (
        "or a file in it may be open in another program (File Explorer, a viewer?): close it there (or make it "
        "writable)")
    assert errors.held_open_advice(refused(results, 32)) == (
        "or a file in it is open in another program (File Explorer, a viewer?): close it there")
    assert errors.held_open_advice(refused(results)) is None


def test_an_error_on_an_output_held_open_names_it_and_says_what_to_do(tmp_path):
    """What fervid raises for an output it could not replace (annotate.replacing, the error naming the temporary
    file written in its place): naming the output, and where another program holds it open a HeldOpenError that
    says so and to run again, which a batch worker's result carries across processes (pickled) as it is."""
    import errno
    import pickle

    import fervid.errors as errors
    from conftest import WINDOWS_SAYS, refusal

    table = tmp_path / "r.csv"
    table.write_text("file\n", encoding="utf-8")
    held = errors.held_open_error(refusal(tmp_path / ".r.csv.0123456789abcdef.tmp", table), table)
    assert isinstance(held, errors.HeldOpenError) and isinstance(held, PermissionError)
    assert (held.filename, held.strerror) == (
        str(table), f"{WINDOWS_SAYS[32]}; it is open in another program (Excel?): close it there and run this again")
    assert (held.reason, held.advice) == (WINDOWS_SAYS[32], "is open in another program (Excel?): close it there")
    again = pickle.loads(pickle.dumps(held))
    assert (type(again), again.filename, again.strerror, again.advice) == (
        errors.HeldOpenError, held.filename, held.strerror, held.advice)
    full = errors.held_open_error(OSError(errno.ENOSPC, "No space left on device"), table)  # not held open
    assert type(full) is OSError and (full.filename, full.strerror) == (str(table), "No space left on device")
