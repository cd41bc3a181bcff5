"""Loading emotion CNNs: a broken model folder is one error naming the file; the shipped int8 graphs compute the
same logits on every x86 CPU."""

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from fervid.inference.align import preprocess_faces
from fervid.inference.models import EmotionCNN, available_models, resolve_model_dir

from conftest import needs_avx2_emulation, run_onnx, synthetic_faces


@needs_avx2_emulation
@pytest.mark.parametrize("model", available_models())
def test_int8_model_gives_the_same_logits_on_an_avx2_only_cpu(model, tmp_path, astronaut_rgb):
    """7-bit weights keep the 16-bit pair sums of an AVX2-only CPU's int8 kernel from overflowing (8-bit ones
    changed 3-4% of FER2013 PublicTest labels there): on an emulated AVX2 CPU the logits are exactly the native
    ones."""
    cnn = EmotionCNN(model)
    assert cnn.precision == "int8"
    grey = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY)
    crops, _ = preprocess_faces(grey, cnn.config.normalization, eyes=[((200.0, 100.0), (265.0, 100.0))],
                                template=cnn.config.template)
    faces = np.concatenate([crops, crops[:, :, ::-1], synthetic_faces(30)[0]])
    inputs = {cnn.input_name: cnn.config.normalization(faces).astype(np.float32)}
    int8_file = resolve_model_dir(model) / cnn.config.int8_file
    native = run_onnx(int8_file, inputs, tmp_path)
    np.testing.assert_array_equal(run_onnx(int8_file, inputs, tmp_path, emulate_avx2=True), native)


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "config.json").write_text("{oops", encoding="utf-8"), "config.json: not a readable model config"),
    (lambda d: (d / "config.json").write_text('{"name": "x"}',
                                              encoding="utf-8"), "config.json: not an emotion model's config"),
    (lambda d: (d / "model_int8.onnx").write_bytes(b"not a graph"), "model_int8.onnx: ONNX Runtime cannot load it"),
])
def test_a_broken_model_folder_is_one_error_naming_the_file(tmp_path, damage, message):
    """A hand-edited config or a cut-short download gave a KeyError, JSONDecodeError or InvalidProtobuf traceback."""
    import shutil

    from fervid.inference.models import MODELS, EmotionCNN, ModelError

    folder = Path(shutil.copytree(MODELS["fer2013_vgg"], tmp_path / "copy"))
    damage(folder)
    with pytest.raises(ModelError, match=message):
        EmotionCNN(folder)


def test_a_models_onnx_file_names_the_model_folder_holding_it_in_the_api_and_the_cli(tmp_path, astronaut_png):
    """`Analyzer(model=".../fer2013_vgg/model.onnx")` said "not found: not a folder" of a file that is there, as
    `--model` did: a file of a model folder is the model the folder is."""
    import shutil
    import subprocess
    import sys

    import fervid
    from fervid.inference.models import MODELS, ModelNotFound

    folder = Path(shutil.copytree(MODELS["fer2013_vgg"], tmp_path / "mine"))
    for named in ("model.onnx", "model_int8.onnx", "config.json"):
        assert resolve_model_dir(folder / named) == folder
    analyzer = fervid.Analyzer(model=str(folder / "model.onnx"), threads=1)
    assert analyzer.cnn.folder == folder and analyzer.settings["model"] == "fer2013_vgg"
    loose = tmp_path / "loose.onnx"  # a graph alone, no model folder about it: still not a model
    shutil.copyfile(folder / "model.onnx", loose)
    with pytest.raises(ModelNotFound, match="model '.*loose.onnx' not found: not a folder"):
        resolve_model_dir(loose)
    done = subprocess.run([sys.executable, "-m", "fervid", "image", str(astronaut_png), "--model",
                           str(folder / "model.onnx"), "--json", "-"], cwd=tmp_path, capture_output=True, text=True,
                          encoding="utf-8", timeout=300)
    assert done.returncode == 0, done.stderr
    assert '"fer2013_vgg"' in done.stdout


def test_a_shipped_models_folder_is_recorded_within_the_package_and_a_users_own_as_given(tmp_path, monkeypatch):
    """`fervid evaluate`'s metrics.json, report.md and comparison recorded a shipped model's folder by the absolute
    path of the installation (/home/<user>/.../site-packages/fervid/weights/ferplus_vgg): README "Names and paths"."""
    import shutil

    from fervid.inference.models import MODELS, recorded_model_folder

    assert recorded_model_folder(resolve_model_dir("ferplus_vgg")) == "fervid/weights/ferplus_vgg"
    assert recorded_model_folder(MODELS["fer2013_vgg"]) == "fervid/weights/fer2013_vgg"
    shutil.copytree(MODELS["fer2013_vgg"], tmp_path / "mine")
    monkeypatch.chdir(tmp_path)
    assert recorded_model_folder(resolve_model_dir("./mine")) == "mine"
    assert recorded_model_folder(resolve_model_dir(tmp_path / "mine")) == str(tmp_path / "mine")


def test_a_graph_file_named_as_the_model_is_the_graph_that_runs_unless_a_precision_is_asked_for(tmp_path,
                                                                                                  astronaut_png,
                                                                                                  face_clip):
    """`Analyzer(model=".../model.onnx")` (and `--model .../model.onnx`) under precision "auto" ran the folder's
    int8 copy without a word: the file named runs now (fp32), as other tools run the model file they are given.
    The folder, or another file of it, still runs the int8 copy; an explicit precision runs its graph whatever
    file was named."""
    import json
    import shutil
    import subprocess
    import sys

    import fervid
    from fervid.inference.models import MODELS, EmotionCNN

    folder = Path(shutil.copytree(MODELS["fer2013_vgg"], tmp_path / "mine"))
    ran = {named: EmotionCNN(named, threads=1) for named in (folder / "model.onnx", folder / "model_int8.onnx",
                                                              folder, folder / "config.json")}
    assert [(cnn.precision, cnn.graph_file.name) for cnn in ran.values()] == [
        ("fp32", "model.onnx"), ("int8", "model_int8.onnx"), ("int8", "model_int8.onnx"), ("int8", "model_int8.onnx")]
    asked = EmotionCNN(folder / "model.onnx", threads=1, precision="int8")
    assert (asked.precision, asked.graph_file.name) == ("int8", "model_int8.onnx")
    asked = EmotionCNN(folder / "model_int8.onnx", threads=1, precision="fp32")
    assert (asked.precision, asked.graph_file.name) == ("fp32", "model.onnx")

    options = fervid.PipelineOptions(model=str(folder / "model.onnx"))
    analyzer = options.analyzer(threads=1)
    assert analyzer.settings["precision"] == "fp32"
    # its own options are what it runs: a video analysed with them is not refused as another precision's
    video = analyzer.analyze_video(face_clip, options=options, sample_fps=2, method="frame")
    assert video.settings["precision"] == "fp32" and video.settings["weights_file"] == "model.onnx"

    done = subprocess.run([sys.executable, "-m", "fervid", "image", str(astronaut_png), "--model",
                           str(folder / "model.onnx"), "--json", "-"], cwd=tmp_path, capture_output=True, text=True,
                          encoding="utf-8", timeout=300)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    assert (said["precision"], said["weights_file"]) == ("fp32", "model.onnx"), said


def test_a_temporal_model_folder_is_named_as_one_when_given_as_the_cnn():
    from fervid.inference.models import WEIGHTS_DIR, EmotionCNN, ModelError

    with pytest.raises(ModelError, match="a temporal model .* not an emotion CNN"):
        EmotionCNN(WEIGHTS_DIR / "temporal_lstm_ferplus_vgg")


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    """A weights folder of this test's own (a copy of ferplus_vgg and its temporal LSTM), read afresh by MODELS."""
    import shutil

    from fervid.inference import models
    from fervid.registry import Registry

    weights = tmp_path / "weights"
    for name in ("ferplus_vgg", "temporal_lstm_ferplus_vgg"):
        shutil.copytree(models.WEIGHTS_DIR / name, weights / name)
    (weights / "detectors").mkdir()
    monkeypatch.setattr(models, "WEIGHTS_DIR", weights)
    monkeypatch.setattr(models, "MODELS", Registry("emotion model", models._shipped_models))
    monkeypatch.setattr(models, "UNUSABLE_MODELS", {})
    return weights


def _half_copied(weights: Path, folder: str, config: str | None) -> Path:
    """A folder under weights/ as a contributor leaves it halfway: ferplus_vgg's model.onnx, and ``config`` (None:
    no config.json; "name": ferplus_vgg's config as it is, naming ferplus_vgg)."""
    import shutil

    broken = weights / folder
    broken.mkdir()
    shutil.copyfile(weights / "ferplus_vgg" / "model.onnx", broken / "model.onnx")
    if config == "name":
        shutil.copyfile(weights / "ferplus_vgg" / "config.json", broken / "config.json")
    elif config is not None:
        (broken / "config.json").write_text(config, encoding="utf-8")
    return broken


@pytest.mark.parametrize("config, problem", [
    (None, "it has no config.json"),
    ('{"name": "third_vgg"', "config.json: not a readable model config"),
    ('{"name": "third_vgg"}', "config.json: not an emotion model's config"),
    ("name", "its config.json names it 'ferplus_vgg'; a shipped model's name is its folder's ('third_vgg')"),
])
def test_a_half_made_shipped_folder_is_left_out_with_one_warning_and_named_when_chosen(weights_dir, caplog, config,
                                                                                      problem):
    """A model.onnx copied into weights/ without (or before) its config.json stopped every command, `fervid --help`
    included, with a traceback; a copy of a shipped model under another folder reported the original's name."""
    import logging

    from fervid.inference.models import EmotionCNN, ModelError, available_models

    broken = _half_copied(weights_dir, "third_vgg", config)
    with caplog.at_level(logging.WARNING):
        assert available_models() == ["ferplus_vgg"]
        assert available_models() == ["ferplus_vgg"]  # read once: one warning
    [warning] = caplog.records
    assert warning.getMessage().startswith(f"{broken}: not a usable emotion model ({problem}")
    assert warning.getMessage().endswith("; left out of the shipped models")
    with pytest.raises(ModelError, match=re.escape(f"{broken}: not a usable emotion model ({problem}")):
        EmotionCNN("third_vgg")
    assert EmotionCNN("ferplus_vgg").config.name == "ferplus_vgg"  # the others stay usable


def test_a_shipped_folder_whose_config_names_another_model_is_refused_by_its_path_too(weights_dir):
    from fervid.inference.models import EmotionCNN, ModelError

    broken = _half_copied(weights_dir, "third_vgg", "name")
    with pytest.raises(ModelError, match=re.escape(f"{broken}: its config.json names it 'ferplus_vgg'")):
        EmotionCNN(broken)


def test_fervid_help_runs_beside_a_half_copied_model_folder(weights_dir):
    import subprocess
    import sys

    _half_copied(weights_dir, "third_vgg", None)
    script = ("import pathlib, sys\nimport fervid.inference.models as models\n"
              "models.WEIGHTS_DIR = pathlib.Path(sys.argv[1])\n"
              "from fervid.apps.cli import app\napp(['--help'], prog_name='fervid')\n")
    done = subprocess.run([sys.executable, "-c", script, str(weights_dir)], capture_output=True, text=True,
                          encoding="utf-8",
                          timeout=120)
    assert done.returncode == 0 and "Usage: fervid" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (f"{weights_dir / 'third_vgg'}: not a usable emotion model (it has no config.json); "
                                   "left out of the shipped models")


def _edited_copy(tmp_path: Path, **changes) -> Path:
    """A copy of ferplus_vgg outside weights/ with config.json's top-level fields changed."""
    import json
    import shutil

    from fervid.inference.models import WEIGHTS_DIR

    folder = Path(shutil.copytree(WEIGHTS_DIR / "ferplus_vgg", tmp_path / "edited"))
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if key == "feature_dim":
            config["net"]["feature_dim"] = value
        elif key == "template_size":
            config["template"]["size"] = value
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


@pytest.mark.parametrize("changes, message", [
    ({"temperature": 0}, "temperature 0.0: must be a finite number above 0"),
    ({"temperature": -1}, "temperature -1.0: must be a finite number above 0"),
    ({"temperature": "nan"}, "temperature nan: must be a finite number above 0"),
    ({"uncertain_below": 5}, "uncertain_below 5.0: must be a probability, between 0 and 1"),
    ({"uncertain_below": -0.1}, "uncertain_below -0.1: must be a probability, between 0 and 1"),
    ({"template_size": 64}, "normalization.global_mean is 48x48, but template.size makes 64x64 face crops"),
])
def test_a_config_no_model_can_run_with_is_refused_at_load_naming_the_field(tmp_path, changes, message):
    """Temperature 0 gave NaN probabilities (and JSON no reader accepts), -1 inverted them, and the others failed
    on every face instead of once."""
    from fervid.inference.models import EmotionCNN, ModelError

    folder = _edited_copy(tmp_path, **changes)
    with pytest.raises(ModelError, match=re.escape(f"{folder / 'config.json'}: {message}")):
        EmotionCNN(folder)


@pytest.mark.parametrize("graph, precision, message", [
    ("temporal_lstm_ferplus_vgg/model.onnx", "fp32", "it takes features ['batch', 'time', 512]; expected one input, "
                                                     "faces [batch, 1, 48, 48]"),
    ("detectors/centerface/centerface.onnx", "fp32", "it takes input.1 ['batch', 3, 'height', 'width']; expected "
                                                      "one input"),
    ("one output", "fp32", "it outputs logits ['batch', 7]; expected two outputs, logits [batch, 7] then features "
                           "[batch, 512]"),
    ("feature_dim 128", "auto", "it outputs logits ['batch', 7], features ['batch', 512]; expected two outputs, "
                                "logits [batch, 7] then features [batch, 128] (config.json's net.feature_dim 128)"),
])
def test_a_graph_that_is_not_the_configs_emotion_cnn_is_refused_at_load(tmp_path, graph, precision, message):
    """A temporal LSTM's or a detector's graph as model.onnx failed on every face ("1 failed" per image), and a
    config whose feature size is not the graph's ran, its features unreadable by a temporal LSTM."""
    import shutil

    from fervid.inference.models import WEIGHTS_DIR, EmotionCNN, ModelError

    folder = _edited_copy(tmp_path, **({"feature_dim": 128} if graph == "feature_dim 128" else {}))
    if graph == "one output":
        onnx = pytest.importorskip("onnx")
        model = onnx.load(str(folder / "model.onnx"))
        model.graph.output.pop()  # features
        onnx.save(model, str(folder / "model.onnx"))
    elif "/" in graph:
        shutil.copyfile(WEIGHTS_DIR / graph, folder / "model.onnx")
    file = "model_int8.onnx" if precision == "auto" else "model.onnx"
    with pytest.raises(ModelError, match=re.escape(f"{folder / file}: not an emotion CNN for this config: {message}")):
        EmotionCNN(folder, precision=precision)


def test_an_int8_copy_of_another_model_is_refused_and_the_float_model_still_runs(tmp_path):
    """An int8 file quantized from other weights (copied in from another model, or left from before model.onnx was
    replaced) ran under this one's name: the default precision runs it."""
    import shutil

    from fervid.inference.models import WEIGHTS_DIR, EmotionCNN, ModelError, file_sha256

    folder = _edited_copy(tmp_path)
    shutil.copyfile(WEIGHTS_DIR / "fer2013_vgg" / "model_int8.onnx", folder / "model_int8.onnx")
    (folder / "model.onnx").write_bytes(((WEIGHTS_DIR / "fer2013_vgg" / "model.onnx")).read_bytes())  # new weights
    with pytest.raises(ModelError, match=re.escape(f"{folder / 'model_int8.onnx'}: quantized from another model.onnx "
                                                   f"(sha256 {file_sha256(WEIGHTS_DIR / 'ferplus_vgg' / 'model.onnx')[:16]}")):
        EmotionCNN(folder)
    assert EmotionCNN(folder, precision="fp32").precision == "fp32"


def test_a_missing_int8_file_is_a_missing_file_of_the_folder_exit_2_saying_what_runs_or_rebuilds_it(tmp_path,
                                                                                                     astronaut_png):
    """A folder whose config names model_int8.onnx, deleted: `fervid evaluate` and `image` exited 1 ("config names
    model_int8.onnx, which is missing") where a missing model.onnx or config.json exits 2, and said nothing of
    --precision fp32 or of the export that writes it."""
    from typer.testing import CliRunner

    from conftest import write_fer2013_csv
    from fervid.apps.cli import app
    from fervid.inference.models import ModelNotFound

    folder = _edited_copy(tmp_path)
    (folder / "model_int8.onnx").unlink()
    with pytest.raises(ModelNotFound, match=re.escape(f"{folder}: config names model_int8.onnx, which is missing; "
                                                      "run the float model (--precision fp32), or write it again "
                                                      f"(fervid export <its run> --out {folder} --force --int8)")):
        EmotionCNN(folder)
    fer = write_fer2013_csv(tmp_path / "fer.csv", {"PublicTest": 10})
    runner = CliRunner()
    for args in (["image", str(astronaut_png), "--model", str(folder)],
                 ["evaluate", "--data", str(fer), "--model", str(folder)]):
        refused = runner.invoke(app, args)
        assert refused.exit_code == 2 and "which is missing; run the float model (--precision fp32)" in \
            refused.stderr, refused.output
        assert runner.invoke(app, [*args, "--precision", "fp32"]).exit_code == 0


@pytest.mark.parametrize("model", available_models())
def test_each_shipped_model_loads_has_a_card_its_folders_name_and_the_graph_its_config_describes(model):
    """A shipped model is a bundle: weights whose graph matches the config (checked at load), an int8 copy quantized
    from that model.onnx, a model card, and its folder's name."""
    import json

    from fervid.inference.models import MODELS, EmotionCNN, ModelConfig, file_sha256

    folder = MODELS[model]
    config = ModelConfig.load(folder / "config.json")
    assert config.name == model == folder.name
    assert config.int8_file and config.int8_from_sha256 == file_sha256(folder / "model.onnx")
    for precision in ("fp32", "int8"):
        cnn = EmotionCNN(model, precision=precision)  # check_graph passes for both graphs
        out = cnn(np.zeros((2, 1, config.template.size, config.template.size), np.float32))
        assert out.logits.shape == (2, 7) and out.features.shape == (2, config.feature_dim)
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    assert card["name"] == model and (folder / "MODEL_CARD.md").is_file()


def test_fervid_without_its_data_files_raises_model_not_found_saying_to_include_them_where_frozen(tmp_path):
    """A desktop app frozen by a plain PyInstaller build (no weights: PyInstaller leaves a package's data files out)
    failed on `Analyzer()` with a bare FileNotFoundError saying "reinstall fervid", not the documented
    ModelNotFound: it is one now, and a FileNotFoundError still (naming the file), saying how to include them; a
    shipped model's name in such a copy says the same."""
    import os
    import pickle
    import shutil
    import subprocess
    import sys

    import fervid

    site = tmp_path / "site"
    shutil.copytree(Path(fervid.__file__).parent, site / "fervid",
                    ignore=shutil.ignore_patterns("weights", "samples", "__pycache__"))
    script = ("import pickle, fervid\nfrom fervid.inference.models import resolve_model_dir\n"
              "for make in (fervid.Analyzer, lambda: resolve_model_dir('ferplus_vgg')):\n"
              "    try:\n        make()\n    except fervid.ModelNotFound as exc:\n"
              "        print(pickle.dumps(exc).hex())\n")  # (an error pickles: sent from a worker process)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          encoding="utf-8", timeout=120,
                          env={**os.environ, "PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    detector, model = (pickle.loads(bytes.fromhex(line)) for line in done.stdout.splitlines())
    advice = "reinstall fervid, or, where fervid is frozen into an app, include fervid's data files: PyInstaller " \
             "--collect-data fervid"
    missing = site / "fervid" / "weights" / "detectors" / "centerface" / "centerface_int8.onnx"
    assert isinstance(detector, FileNotFoundError) and detector.filename == str(missing)
    assert str(detector) == f"{missing}: the CenterFace face detector's model is missing ({advice})"
    assert str(model) == (f"model 'ferplus_vgg' not found: not a folder, and no shipped model is installed in "
                          f"{site / 'fervid' / 'weights'} ({advice})")


@pytest.mark.filterwarnings("ignore::fervid.inference.models.ModelFolderNotUsed")  # (said: the next test)
def test_a_shipped_models_name_means_it_whatever_folder_of_that_name_the_working_folder_holds(tmp_path,
                                                                                             monkeypatch):
    """A folder named like a shipped model in the working folder took its place unseen: another model's copy ran
    while the settings named the shipped one, and an empty one made `Analyzer()` fail. A shipped name now means the
    shipped model; the folder is given as a path (./ferplus_vgg); a name no model ships is still a folder's."""
    import shutil

    import fervid
    from fervid.inference.models import MODELS, ModelNotFound, written_as_path
    from fervid.inference.temporal import temporal_folder

    monkeypatch.chdir(tmp_path)
    shipped = MODELS["ferplus_vgg"]
    (tmp_path / "temporal_lstm_ferplus_vgg").mkdir()  # empty: the LSTM's name still means the shipped LSTM
    for local in (None, "fer2013_vgg"):  # an empty folder, another model's copy
        shutil.rmtree(tmp_path / "ferplus_vgg", ignore_errors=True)
        if local is None:
            (tmp_path / "ferplus_vgg").mkdir()
        else:
            shutil.copytree(MODELS[local], tmp_path / "ferplus_vgg")
        assert resolve_model_dir("ferplus_vgg") == shipped
        analyzer = fervid.Analyzer(threads=1)
        assert analyzer.cnn.folder == shipped and analyzer.cnn.config.name == "ferplus_vgg"
        assert temporal_folder("temporal_lstm_ferplus_vgg") == shipped.parent / "temporal_lstm_ferplus_vgg"
    assert EmotionCNN("./ferplus_vgg").config.name == "fer2013_vgg"  # the folder, written as a path
    assert EmotionCNN(tmp_path / "ferplus_vgg").config.name == "fer2013_vgg"
    with pytest.raises(ModelNotFound, match=re.escape("./temporal_lstm_ferplus_vgg")):
        temporal_folder("./temporal_lstm_ferplus_vgg")
    shutil.copytree(shipped, tmp_path / "mine")  # a name no model ships: the folder
    assert resolve_model_dir("mine") == Path("mine")
    assert [written_as_path(m) for m in ("ferplus_vgg", "./ferplus_vgg", "models/mine", str(tmp_path), ".x")] == \
        [False, True, True, True, True]


def test_a_folder_named_as_a_shipped_model_is_said_to_be_left_unused_and_one_given_as_a_path_is_named_so(
        tmp_path, monkeypatch):
    """Release QA: in a folder holding ferplus_vgg/, `--model ferplus_vgg` ran the shipped model without a word
    (the folder once ran instead); and `--model ./ferplus_vgg`, empty, said "ferplus_vgg: missing model.onnx", which
    reads as the shipped model broken. The folder left unused is said, once a process, CNN and LSTM alike; the folder
    given as a path is named as given."""
    import warnings

    import fervid
    from fervid.inference.models import ModelFolderNotUsed, ModelNotFound
    from fervid.inference.temporal import temporal_folder

    monkeypatch.chdir(tmp_path)
    for name in ("ferplus_vgg", "temporal_lstm_ferplus_vgg"):
        (tmp_path / name).mkdir()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("default")  # Python's own: a message from one place once
        for _ in range(3):
            fervid.Analyzer(model="ferplus_vgg", threads=1)
            temporal_folder("temporal_lstm_ferplus_vgg")
        fervid.Analyzer(model="fer2013_vgg", threads=1)  # no folder of that name here: nothing to say
    assert [(w.category, str(w.message)) for w in said] == [
        (ModelFolderNotUsed, f"{name} means the shipped model; the folder ./{name} here is not used (give it as "
                             f"./{name} to use it)") for name in ("ferplus_vgg", "temporal_lstm_ferplus_vgg")]
    for given in ("./ferplus_vgg", str(tmp_path / "ferplus_vgg")):
        with pytest.raises(ModelNotFound, match=f"^{re.escape(given)}: missing model.onnx$"):
            fervid.Analyzer(model=given)


def test_a_model_left_at_its_default_says_nothing_of_a_folder_of_its_name(tmp_path, monkeypatch):
    """Release QA: `Analyzer()` beside a folder ferplus_vgg/ warned that "ferplus_vgg means the shipped model ...
    give it as ./ferplus_vgg": of a name no one gave. Only a name given (Analyzer(model=...)) is told of the
    folder; options, which hold the default's name as any other, and the model resolved by name, say nothing."""
    import warnings

    import fervid
    from fervid.inference.models import MODELS, ModelFolderNotUsed

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ferplus_vgg").mkdir()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        assert fervid.Analyzer(threads=1).cnn.folder == MODELS["ferplus_vgg"]
        assert fervid.PipelineOptions().analyzer(threads=1).cnn.folder == MODELS["ferplus_vgg"]
        assert resolve_model_dir() == MODELS["ferplus_vgg"]
        assert EmotionCNN(threads=1).folder == MODELS["ferplus_vgg"]
    assert [str(w.message) for w in said] == []
    with pytest.warns(ModelFolderNotUsed, match=re.escape("the folder ./ferplus_vgg here is not used")):
        fervid.Analyzer(model="ferplus_vgg", threads=1)


def test_the_cli_says_once_that_a_folder_named_as_its_model_is_not_used(tmp_path, astronaut_png):
    """`fervid image --model ferplus_vgg` beside a folder ferplus_vgg/: one warning line, as fervid's others are."""
    import subprocess
    import sys

    (tmp_path / "ferplus_vgg").mkdir()
    done = subprocess.run([sys.executable, "-m", "fervid", "image", str(astronaut_png), "--model", "ferplus_vgg"],
                          cwd=tmp_path, capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "ferplus_vgg" in line] == [
        "warning: ferplus_vgg means the shipped model; the folder ./ferplus_vgg here is not used (give it as "
        "./ferplus_vgg to use it)"]
    # --model not typed: the default's name is no one's word, and the folder is none of its business
    done = subprocess.run([sys.executable, "-m", "fervid", "image", str(astronaut_png)],
                          cwd=tmp_path, capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert done.returncode == 0 and "ferplus_vgg" not in done.stderr, done.stderr


def test_softmax_gives_scipys_probabilities_without_loading_scipy():
    """scipy.special's softmax cost every command 0.17 s of start-up: fervid's own must give the same numbers, in
    the scores' dtype, for scores large enough to overflow a plain exp()."""
    from scipy.special import softmax as scipy_softmax

    from fervid.inference.models import softmax

    scores = np.random.default_rng(0).normal(0, 400, (3, 5, 7))
    for dtype in (np.float32, np.float64):
        for axis in (-1, 1):
            ours = softmax(scores.astype(dtype), axis=axis)
            assert ours.dtype == dtype and np.isfinite(ours).all()
            np.testing.assert_array_equal(ours, scipy_softmax(scores.astype(dtype), axis=axis))
