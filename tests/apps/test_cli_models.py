"""`fervid models`: the shipped models, listed for people and for scripts."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from fervid.apps.cli import app
from fervid.inference.models import WEIGHTS_DIR

runner = CliRunner()


def _bundles() -> set[str]:
    """Every model folder shipped under the package's weights (a folder with a config.json; detectors/ has none)."""
    return {path.parent.name for path in WEIGHTS_DIR.glob("*/config.json")}


def test_fervid_models_lists_every_bundle_and_marks_as_default_the_cnn_fervid_image_runs(astronaut_png):
    listed = runner.invoke(app, ["models"])
    assert listed.exit_code == 0, listed.output
    headings = [line for line in listed.stdout.splitlines() if line and not line.startswith(" ")]
    assert {heading.split(" ")[0] for heading in headings} == _bundles() and len(headings) == len(_bundles())
    [default_cnn] = [h.split(" ")[0] for h in headings if h.endswith(" (default)")]
    ran = runner.invoke(app, ["image", str(astronaut_png), "--json", "-", "-q"])
    assert ran.exit_code == 0, ran.output
    assert default_cnn == json.loads(ran.stdout)["model"]
    [default_lstm] = [h.split(" ")[0] for h in headings if h.endswith(" (default for videos)")]
    assert default_lstm == f"temporal_lstm_{default_cnn}"
    for field in ("kind:", "labels:", "input:", "precisions:", "measured:", "terms:", "card:"):
        assert listed.stdout.count(f"\n  {field}") == len(_bundles()), field
    assert "FER2013's original, one annotator per face (fer2013)" in listed.stdout
    assert "FER+'s consensus, ten annotators per face (ferplus-soft)" in listed.stdout


def test_fervid_models_json_is_only_json_on_stdout_and_nothing_on_stderr():
    done = subprocess.run([sys.executable, "-m", "fervid", "models", "--json"], capture_output=True, text=True,
                          encoding="utf-8",
                          timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    models = json.loads(done.stdout)
    assert {m["name"] for m in models} == _bundles() and len(models) == len(_bundles())
    assert [m["name"] for m in models if m["kind"] == "cnn" and m["default"]] == ["ferplus_vgg"]
    ferplus = next(m for m in models if m["name"] == "ferplus_vgg")
    assert ferplus["precisions"] == ["int8", "fp32"] and ferplus["input_shape"] == [1, 48, 48]
    assert ferplus["card"] == str(WEIGHTS_DIR / "ferplus_vgg" / "MODEL_CARD.md")


def test_fervid_models_name_prints_its_card_and_with_json_its_entry():
    shown = runner.invoke(app, ["models", "temporal_lstm_fer2013_vgg"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == (WEIGHTS_DIR / "temporal_lstm_fer2013_vgg" / "MODEL_CARD.md").read_text(encoding="utf-8")
    entry = runner.invoke(app, ["models", "fer2013_vgg", "--json"])
    assert entry.exit_code == 0, entry.output
    described = json.loads(entry.stdout)
    assert described["name"] == "fer2013_vgg" and described["paper"] and described["labels"] == "fer2013"
    assert described["temporal_model"] == "temporal_lstm_fer2013_vgg" and not described["default"]


def test_an_unknown_model_name_exits_2_listing_the_shipped_ones():
    wrong = runner.invoke(app, ["models", "ferplus"])
    assert wrong.exit_code == 2 and wrong.stdout == ""
    [line] = wrong.stderr.splitlines()
    assert line.startswith("error: unknown shipped model 'ferplus'; expected one of ")
    assert set(line.split("expected one of ")[1].split(", ")) == _bundles()


def test_fervid_models_folder_shows_that_folders_entry_as_for_a_shipped_name(tmp_path):
    """`fervid models models/mine` said "unknown shipped model" (exit 2) of a model folder that --model and
    --temporal-model take everywhere else."""
    import shutil

    mine = tmp_path / "mine"
    shutil.copytree(WEIGHTS_DIR / "fer2013_vgg", mine)
    config = json.loads((mine / "config.json").read_text(encoding="utf-8"))
    (mine / "config.json").write_text(json.dumps({**config, "name": "mine"}), encoding="utf-8")
    carded = runner.invoke(app, ["models", str(mine)])
    assert carded.exit_code == 0 and carded.stdout == (mine / "MODEL_CARD.md").read_text(encoding="utf-8")
    entry = json.loads(runner.invoke(app, ["models", str(mine), "--json"]).stdout)
    assert entry["name"] == "mine" and entry["kind"] == "cnn" and entry["folder"] == str(mine)
    assert not entry["default"] and not entry["paper"] and entry["temporal_model"] is None  # a folder of yours
    assert entry["labels"] == "fer2013" and entry["precisions"] == ["int8", "fp32"]
    assert entry["terms"].startswith("fervid's MIT licence covers its code") and entry["measured"]["accuracy"]
    for name in ("card.json", "MODEL_CARD.md"):  # a folder without a card yet: its entry, and what writes one
        (mine / name).unlink()
    bare = runner.invoke(app, ["models", str(mine)])
    assert bare.exit_code == 0 and bare.stdout.startswith("mine\n  kind:") and "card:       none" in bare.stdout
    assert f"notice: {mine} holds no model card (`fervid evaluate --model {mine}" in bare.stderr
    lstm = tmp_path / "my_lstm"
    shutil.copytree(WEIGHTS_DIR / "temporal_lstm_fer2013_vgg", lstm)
    described = json.loads(runner.invoke(app, ["models", str(lstm), "--json"]).stdout)
    assert described["name"] == "my_lstm" and described["kind"] == "temporal_lstm" and not described["paper"]
    assert described["cnn"] == "fer2013_vgg" and described["input_shape"] == [17, 512]
    # the shipped folder itself is the shipped entry; a folder without model.onnx is named, exit 2
    shipped = json.loads(runner.invoke(app, ["models", str(WEIGHTS_DIR / "fer2013_vgg"), "--json"]).stdout)
    assert shipped["paper"] and shipped["temporal_model"] == "temporal_lstm_fer2013_vgg"
    (mine / "model.onnx").unlink()
    broken = runner.invoke(app, ["models", str(mine)])
    assert broken.exit_code == 2 and f"{mine}: missing model.onnx" in broken.stderr, broken.output
