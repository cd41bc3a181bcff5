import dataclasses
import re

import pytest
from typer.testing import CliRunner

from conftest import REPO, needs_repository

from fervid.apps.batch import BatchOptions
from fervid.apps.cli import app
from fervid.inference.options import PipelineOptions
from fervid.apps.server import ServerSettings
from fervid.inference.video import VideoOptions


def test_every_entry_point_takes_its_defaults_from_one_options_object():
    defaults = PipelineOptions()
    video = VideoOptions()
    shared = {f.name for f in dataclasses.fields(VideoOptions)} & {f.name for f in dataclasses.fields(PipelineOptions)}
    assert shared == {"detect_every", "window", "sample_fps", "method", "annotate", "key_frames", "temporal_model"}
    assert all(getattr(video, name) == getattr(defaults, name) for name in shared)
    assert BatchOptions(out="x").pipeline == defaults and ServerSettings().pipeline == defaults
    assert defaults.video(centred=False) == dataclasses.replace(video, centred=False)


@pytest.mark.parametrize("bad", [{"method": "median"}, {"detector": "haar"}, {"window": 0}, {"sample_fps": -1},
                                 {"window": float("nan")}, {"detect_every": float("inf")},
                                 {"score_threshold": 1.5}, {"precision": "fp16"}, {"key_frames": -1}])
def test_bad_choices_fail_where_the_options_are_made(bad):
    with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
        PipelineOptions(**bad)


@pytest.mark.parametrize("bad", [{"window": float("nan")}, {"sample_fps": 0}, {"detect_every": -0.3},
                                 {"batch_frames": 0}, {"key_frames": -2}])
def test_the_video_api_checks_its_own_options(bad):
    """VideoOptions is public API too: a NaN window used to analyse every frame and label none."""
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"{name} must be"):
        VideoOptions(**bad)


def test_the_command_line_names_the_bad_number(tmp_path):
    result = CliRunner().invoke(app, ["video", str(tmp_path), "--window", "nan", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "window must be a positive number of seconds, not nan" in result.output


@pytest.mark.parametrize("command", ["video", "batch"])
def test_the_command_line_reports_a_bad_choice_in_one_line(command, tmp_path):
    args = [command, str(tmp_path), "--method", "median"] + (["--out", str(tmp_path / "o")] if command == "batch"
                                                              else [])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "unknown temporal method 'median'" in result.output


@pytest.mark.parametrize("cls, bad", [(PipelineOptions, {"annotate": "no"}), (PipelineOptions, {"sample_fps": True}),
                                      (PipelineOptions, {"detect_every": "0.3"}), (PipelineOptions, {"model": None}),
                                      (PipelineOptions, {"min_face": "48"}), (VideoOptions, {"centred": "no"}),
                                      (VideoOptions, {"batch_frames": 2.5}), (PipelineOptions, {"key_frames": "3"}),
                                      (VideoOptions, {"key_frames": True})])
def test_a_value_of_the_wrong_type_is_refused_by_name(cls, bad):
    """annotate="no" wrote the annotated video, centred="no" centred the window, sample_fps=True ran at 1 fps, and
    detect_every="0.3" failed inside the detector with a message naming no option."""
    name = next(iter(bad))
    with pytest.raises(ValueError, match=rf"^{name}: input should be a valid"):
        cls(**bad)


def test_numbers_of_either_kind_and_model_paths_are_accepted(tmp_path):
    from pathlib import Path

    options = PipelineOptions(detect_every=1, min_face=40, score_threshold=1, model=Path("runs/models/x"))
    assert options.detect_every == 1 and options.model == Path("runs/models/x")
    with pytest.raises(ValueError, match="unknown temporal method 'avg'"):
        VideoOptions(method="avg")  # at construction, as PipelineOptions refuses it, not when a video runs


def test_numpy_numbers_become_the_python_numbers_they_hold():
    """np.float32 passed the check and failed the results' JSON after a whole analysis; np.int64 and np.bool_
    were refused where their values are fine."""
    import json

    import numpy as np

    options = PipelineOptions(detect_every=np.float32(0.5), annotate=np.bool_(False), sample_fps=np.int64(10))
    video = VideoOptions(batch_frames=np.int64(8), centred=np.bool_(True))
    assert type(options.detect_every) is float and options.annotate is False and type(options.sample_fps) is int
    assert type(video.batch_frames) is int and video.centred is True
    json.dumps(dataclasses.asdict(options))
    with pytest.raises(ValueError, match="batch_frames: input should be a valid integer"):
        VideoOptions(batch_frames=np.float64(2.5))


@needs_repository
def test_the_video_defaults_are_the_ones_the_readme_states():
    """The tests checked that every entry point agrees with PipelineOptions, not what its defaults are: a detection
    every 0.5 s, or a 2 s window, changed every default video's rows and passed (only a slow test on the carphone
    sample's numbers noticed). The README states them; the options must be those."""
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    detect = re.search(r"Faces are detected every `--detect-every` seconds \(default ([\d.]+)", readme)
    window = re.search(r"classified over a sliding `--window` \(default ([\d.]+) s\) by the temporal model "
                       r"\(`--method (\w+)`, the default", readme)
    assert detect and window, "README no longer states the video defaults where this test reads them"
    defaults = PipelineOptions()
    assert (defaults.detect_every, defaults.window, defaults.method) == (float(detect[1]), float(window[1]), window[2])
