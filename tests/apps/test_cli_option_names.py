"""One name per thing across the commands: the emotion CNN is --model, FER2013's CSV (your labelled faces) --data.
train-temporal took them as --cnn and --fer2013, experiment its CNN as --cnn-model; those spellings still work,
unshown. experiment's --model was, and stays, the classifier it trains (--classifier), so its CNN is --cnn."""

import re

import pytest
import typer
from typer.testing import CliRunner

from fervid.apps.cli import app

runner = CliRunner()
GROUP = typer.main.get_command(app)

# (command, the arguments it needs besides, the name shown, the old spelling, a value)
RENAMED = [
    ("train-temporal", [], "--data", "--fer2013", "faces.csv"),
    ("train-temporal", [], "--model", "--cnn", "fer2013_vgg"),
    ("experiment", ["--dataset", "jaffe"], "--classifier", "--model", "lstm-pixels"),
    ("experiment", ["--dataset", "jaffe"], "--cnn", "--cnn-model", "ferplus_vgg"),
]
CASE_IDS = [f"{command} {name} ({old})" for command, _, name, old, _ in RENAMED]


def _parsed(command: str, args: list[str]) -> dict:
    """The values the command would run with, parsed as fervid parses its command line (nothing run)."""
    with GROUP.commands[command].make_context(command, list(args)) as ctx:
        return dict(ctx.params)


def _shown_options(command: str) -> set[str]:
    """The long option names a command's --help lists (its rows' names, not the words of their help)."""
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    rows = [line.strip().split("  ")[0] for line in result.output.splitlines() if re.match(r"^  -", line)]
    return {name for row in rows for name in re.findall(r"--[\w-]+", row)}


@pytest.mark.parametrize(("command", "needed", "name", "old", "value"), RENAMED, ids=CASE_IDS)
def test_the_name_and_its_old_spelling_set_the_same_setting(command, needed, name, old, value):
    as_named = _parsed(command, [*needed, name, value])
    assert as_named == _parsed(command, [*needed, old, value])
    assert value in as_named.values() and as_named != _parsed(command, needed)  # a setting the default is not


@pytest.mark.parametrize(("command", "needed", "name", "old", "value"), RENAMED, ids=CASE_IDS)
def test_help_shows_the_name_not_the_old_spelling(command, needed, name, old, value):
    shown = _shown_options(command)
    assert name in shown and old not in shown, shown


def test_no_command_shows_an_old_spelling_and_the_cnn_is_model_where_model_meant_it():
    shown = {command: _shown_options(command) for command in GROUP.commands}
    for command, options in shown.items():
        assert not options & {"--fer2013", "--cnn-model"}, command
    # --cnn only where --model names something else (experiment's classifier, as it always did)
    assert [command for command, options in shown.items() if "--cnn" in options] == ["experiment"]
    takes_a_cnn = {"image", "video", "live", "demo", "evaluate", "calibrate", "batch", "serve", "train-temporal"}
    assert all("--model" in shown[command] for command in takes_a_cnn)


def test_the_name_and_its_old_spelling_together_are_the_option_given_twice():
    result = runner.invoke(app, ["train-temporal", "--cnn", "fer2013_vgg", "--model", "ferplus_vgg"])
    assert result.exit_code == 2
    assert "--model is given 2 times (--cnn fer2013_vgg, --model ferplus_vgg)" in result.output


@pytest.mark.parametrize("spelling", ["--data", "--fer2013"])
def test_train_temporal_names_a_missing_fer2013_csv_either_way(tmp_path, spelling):
    missing = tmp_path / "no_such.csv"
    result = runner.invoke(app, ["train-temporal", spelling, str(missing), "--out", str(tmp_path / "lstm")])
    assert result.exit_code == 2, result.output
    assert f"--data {missing}: no such file" in result.output  # the option by its name, however it was typed


@pytest.mark.parametrize("spelling", ["--classifier", "--model"])
def test_experiment_refuses_an_unknown_classifier_either_way(tmp_path, spelling):
    pytest.importorskip("torch")
    (tmp_path / "jaffe").mkdir()
    result = runner.invoke(app, ["experiment", "--dataset", "jaffe", "--jaffe", str(tmp_path / "jaffe"), spelling,
                                 "ferplus_vgg", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "--classifier ferplus_vgg: not one of lstm-cnn, lstm-pixels, cnn-finetune" in result.output
