import dataclasses

import pytest
from typer.testing import CliRunner

from fervid.apps.batch import BatchOptions
from fervid.apps.cli import app
from fervid.inference.options import PipelineOptions
from fervid.apps.server import ServerSettings
from fervid.inference.video import VideoOptions


def test_every_entry_point_takes_its_defaults_from_one_options_object():
    defaults = PipelineOptions()
    video = VideoOptions()
    shared = {f.name for f in dataclasses.fields(VideoOptions)} & {f.name for f in dataclasses.fields(PipelineOptions)}
    assert shared == {"detect_every", "window", "sample_fps", "method", "annotate"}
    assert all(getattr(video, name) == getattr(defaults, name) for name in shared)
    assert BatchOptions(out="x").pipeline == defaults and ServerSettings().pipeline == defaults
    assert defaults.video(centred=False) == dataclasses.replace(video, centred=False)


@pytest.mark.parametrize("bad", [{"method": "median"}, {"detector": "haar"}, {"window": 0}, {"sample_fps": -1},
                                 {"score_threshold": 1.5}, {"precision": "fp16"}])
def test_bad_choices_fail_where_the_options_are_made(bad):
    with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
        PipelineOptions(**bad)


@pytest.mark.parametrize("command", ["video", "batch"])
def test_the_command_line_reports_a_bad_choice_in_one_line(command, tmp_path):
    args = [command, str(tmp_path), "--method", "median"] + (["--out", str(tmp_path / "o")] if command == "batch"
                                                              else [])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "unknown temporal method 'median'" in result.output
