"""The benchmark scripts stop with one line naming what is missing (fer, LiteRT, a dataset, a run folder), before
loading anything slow, and read ../shared/data beside the checkout wherever they are started from."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark_scripts import FOLDER, load, script_environment

DATA = Path(FOLDER).parents[1] / "shared" / "data"
HAVE_FER = all(importlib.util.find_spec(m) for m in ("fer", "ai_edge_litert"))


def _run(script: str, *args: str, cwd: Path, pythonpath: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(Path(FOLDER) / script), *args], cwd=cwd,
                          env=script_environment(*pythonpath), capture_output=True, text=True,
                          encoding="utf-8", timeout=300)


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def _packages(root: Path, *names: str) -> Path:
    """Empty stand-ins for installed packages, so that a script finds them (find_spec) and goes on."""
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
    return root


@pytest.mark.skipif(HAVE_FER, reason="fer and LiteRT are installed here")
def test_side_by_side_says_litert_is_missing_before_it_loads_fer2013(tmp_path):
    """It loaded FER2013 (13 s) and then died with a raw ModuleNotFoundError for ai_edge_litert."""
    only_fer = _packages(tmp_path / "site", "fer")
    error = _one_line_error(_run("bench_fer2013_side_by_side.py", "--data", str(tmp_path / "no.csv.gz"),
                                 cwd=tmp_path, pythonpath=(only_fer,)))
    assert "ai-edge-litert" in error and "pip install" in error and "no.csv.gz" not in error
    assert "fer and" not in error  # fer itself is there


@pytest.mark.skipif(HAVE_FER, reason="fer and LiteRT are installed here")
def test_bench_image_says_fer_and_litert_are_missing(tmp_path):
    error = _one_line_error(_run("bench_image.py", cwd=tmp_path))
    assert "fer and ai-edge-litert not installed" in error


def test_side_by_side_names_a_missing_fer2013_file_in_one_line(tmp_path):
    both = _packages(tmp_path / "site", "fer", "ai_edge_litert")
    error = _one_line_error(_run("bench_fer2013_side_by_side.py", "--data", str(tmp_path / "no.csv.gz"),
                                 cwd=tmp_path, pythonpath=(both,)))
    assert error == f"error: {tmp_path / 'no.csv.gz'}: no such file"


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FER or not DATA.is_dir(), reason="needs fer, ai-edge-litert and ../shared/data")
def test_side_by_side_limit_scores_only_the_first_faces(tmp_path):
    done = _run("bench_fer2013_side_by_side.py", "--limit", "50", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "FER2013 PublicTest: 50 faces" in done.stdout


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FER, reason="needs fer and ai-edge-litert")
def test_bench_image_times_the_model_and_detector_asked_for_and_names_them_and_the_cpu(tmp_path):
    """Its docstring said yuface while it ran the defaults (ferplus_vgg, CenterFace), with no way to ask."""
    from fervid.machine import cpu_model

    done = _run("bench_image.py", "--rounds", "1", "--model", "fer2013_vgg", "--detector", "yuface", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"CPU: {cpu_model()}, 2 threads; fervid: model fer2013_vgg, detector yuface" in done.stdout


def test_bench_image_defaults_are_fervids_and_its_help_says_so(tmp_path):
    from fervid.inference.options import PipelineOptions

    done = _run("bench_image.py", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    help_text = " ".join(done.stdout.split())
    assert f"(default: {PipelineOptions.model})" in help_text
    assert f"(default: {PipelineOptions.detector})" in help_text
    assert "yuface detection" not in help_text


def test_ablation_table_names_a_missing_runs_folder_before_it_loads_fer2013(tmp_path):
    """It loaded FER2013 for --ferplus first, then died with a FileNotFoundError traceback for runs/ablation."""
    error = _one_line_error(_run("ablation_table.py", "--ferplus", "votes.csv", "--data", str(tmp_path / "no.csv.gz"),
                                 cwd=tmp_path))
    assert error.startswith("error: runs/ablation: no such folder")


def test_ablation_table_names_missing_data_in_one_line(tmp_path):
    run = tmp_path / "runs" / "base"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"epochs": 1}))
    (run / "metrics.jsonl").write_text(json.dumps({"val_acc": 0.5, "seconds": 1}) + "\n")
    error = _one_line_error(_run("ablation_table.py", "--runs", "runs", "--base", "base", "--ferplus", "votes.csv",
                                 "--data", "no.csv.gz", cwd=tmp_path))
    assert error == "error: no.csv.gz: no such file"


def test_paper_experiments_names_a_missing_dataset_and_reads_shared_data_beside_the_checkout(tmp_path):
    pytest.importorskip("torch")  # (the experiments train)
    error = _one_line_error(_run("paper_experiments.py", "--datasets", "jaffe", "--models", "lstm-cnn", "--jaffe",
                                 str(tmp_path / "nojaffe"), cwd=tmp_path))
    assert error == f"error: {tmp_path / 'nojaffe'}: no such folder"
    help_text = " ".join(_run("paper_experiments.py", "--help", cwd=tmp_path).stdout.split())
    assert f"default: {DATA / 'ckplus48' / 'CK+48'}" in help_text  # not ../shared/data of wherever it is run


def test_paper_experiments_gives_the_checkpoint_to_cnn_finetune_only(tmp_path, monkeypatch):
    """It passed --cnn-checkpoint to every model, and run_experiment refuses a checkpoint that lstm-cnn would ignore,
    so the default run died at its first experiment."""
    pytest.importorskip("torch")  # (the experiments train)
    paper = load("paper_experiments")
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"")
    calls = []

    class Result:
        fold_accuracies, seconds = [0.5], 1.0
        evaluation = type("Evaluation", (), {"accuracy": 0.5, "macro_f1": 0.5})

    def run_experiment(seq, model, protocol, cnn, cnn_checkpoint, epochs=None):
        calls.append((model, cnn_checkpoint, epochs))
        return Result()

    monkeypatch.setattr(paper, "load_dataset", lambda *a, **k: None)
    monkeypatch.setattr(paper, "to_sequences", lambda ds: type("Sequences", (), {"labels": [0, 1]}))
    monkeypatch.setattr(paper, "run_experiment", run_experiment)
    monkeypatch.setattr(paper, "save_result", lambda r, out: None)
    monkeypatch.setattr(sys, "argv", ["paper_experiments.py", "--datasets", "jaffe", "--cnn-checkpoint",
                                      str(checkpoint), "--out", str(tmp_path), "--finetune-epochs", "2"])
    paper.main()
    assert sorted(set(calls)) == [("cnn-finetune", checkpoint, 2), ("lstm-cnn", None, None),
                                  ("lstm-pixels", None, None)]


@pytest.mark.parametrize("script, default", [("bench_lag.py", DATA), ("bench_dark_frames.py", DATA),
                                             ("fer2013_eye_template.py", DATA / "fer2013" / "fer2013.csv.gz")])
def test_scripts_default_to_the_shared_data_beside_the_checkout_from_any_folder(tmp_path, monkeypatch, script,
                                                                                default):
    """They defaulted to ../shared/data of the folder they were started from: run from anywhere else (as
    ``python main/benchmarks/bench_lag.py`` from /work), they read a folder that is not there, or another one.
    The help is read as printed, in any terminal: argparse wrapped it at the terminal's width, breaking the path
    at a hyphen where the checkout's folder had one (Debian builds in /build/fervid-0.3.0/)."""
    monkeypatch.setenv("COLUMNS", "40")
    done = _run(script, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"default: {default}" in done.stdout


@pytest.mark.parametrize("script, missing", [
    ("bench_lag.py", "ckplus48/CK+48: no such folder"),
    ("bench_small_images.py", "ferplus/fer2013new.csv: no such file"),
    ("bench_tracking.py", "jaffe/jaffedbase: no KA.HA1*.tiff (the JAFFE face this clip needs)")])
def test_scripts_name_missing_data_in_one_line(tmp_path, script, missing):
    """A DatasetError traceback (a StopIteration for bench_tracking) at the first dataset read."""
    error = _one_line_error(_run(script, "--data", str(tmp_path), cwd=tmp_path))
    assert error == f"error: {tmp_path}/{missing}"


def test_rotated_faces_names_missing_data_in_one_line(tmp_path):
    error = _one_line_error(_run("bench_rotated_faces.py", "--data", str(tmp_path), cwd=tmp_path))
    assert error == f"error: {tmp_path / 'jaffe' / 'jaffedbase'}: no such folder"


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data")
def test_rotated_faces_limit_scores_only_the_first_faces_of_each_set(tmp_path):
    done = _run("bench_rotated_faces.py", "--limit", "2", "--training-faces", "5", "--json", "out.json",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["limit"] == 2
    assert report["fer2013_training_false_turns"]["faces"] == 2  # --limit caps the Training faces read too
    assert {row["faces"] for row in report["turned"].values()} == {2}
    assert report["ferplus_publictest_upscaled"]["faces"] == 2
