"""fervid.list_models(): the shipped models, described from the files that travel with their weights."""

import json

import pytest

import fervid
from fervid.inference.catalog import list_models, shipped_model
from fervid.inference.models import WEIGHTS_DIR
from fervid.inference.options import PipelineOptions
from fervid.registry import UnknownName


def _bundles() -> set[str]:
    """Every model folder shipped under the package's weights (a folder with a config.json; detectors/ has none)."""
    return {path.parent.name for path in WEIGHTS_DIR.glob("*/config.json")}


def test_every_shipped_bundle_is_listed_once_and_the_api_names_the_same_function():
    names = [info.name for info in fervid.list_models()]
    assert fervid.list_models is list_models
    assert len(names) == len(set(names)) and set(names) == _bundles()
    assert {"ferplus_vgg", "fer2013_vgg", "temporal_lstm_ferplus_vgg", "temporal_lstm_fer2013_vgg"} <= set(names)


def test_the_default_cnn_is_the_one_the_analyzer_runs_and_the_default_lstm_the_one_videos_run():
    from fervid.inference.temporal import make_method

    models = list_models()
    [cnn] = [info for info in models if info.kind == "cnn" and info.default]
    assert cnn.name == str(PipelineOptions().model) == fervid.Analyzer().settings["model"]
    [lstm] = [info for info in models if info.kind == "temporal_lstm" and info.default]
    assert lstm.cnn == cnn.name and cnn.temporal_model == lstm.name
    assert lstm.name == make_method(PipelineOptions().method, cnn=cnn.name).model_name
    [paper] = [info.name for info in models if info.kind == "cnn" and info.paper]
    assert paper == "fer2013_vgg" and not shipped_model(paper).default


def test_each_entry_says_what_its_folder_holds():
    for info in list_models():
        assert info.folder == WEIGHTS_DIR / info.name and info.card == info.folder / "MODEL_CARD.md"
        files = {"int8": "model_int8.onnx", "fp32": "model.onnx"}
        assert [p for p in ("int8", "fp32") if (info.folder / files[p]).is_file()] == list(info.precisions)
        if info.kind == "cnn":
            card = json.loads((info.folder / "card.json").read_text(encoding="utf-8"))
            assert info.input_shape == (1, 48, 48)
            assert info.measured["accuracy"] == card["evaluation"]["accuracy"]
            assert info.measured["dataset"] == card["evaluation"]["dataset"]
            assert info.terms and f"Terms: {info.terms}" in card["data_and_consent"]
        else:
            assert info.cnn in {i.name for i in list_models() if i.kind == "cnn"} and info.input_shape == (17, 512)
            assert 0 < info.measured["accuracy"] <= 1
            # the shipped LSTMs learnt from CK+'s and JAFFE's people: their terms, as the card states them (the
            # listing said "not recorded" and so understated them)
            card_text = info.card.read_text(encoding="utf-8")
            assert "JAFFE" in card_text and info.terms and info.terms.startswith("JAFFE's terms allow non-commercial")
            assert info.terms in " ".join(card_text.split())
        assert json.loads(json.dumps(info.to_dict()))["name"] == info.name
    # the labels each learnt: FER2013's original ones for the paper's pair, FER+'s votes for the consensus pair
    labels = {info.name: info.labels for info in list_models()}
    assert labels["fer2013_vgg"] == labels["temporal_lstm_fer2013_vgg"] == "fer2013"
    assert labels["ferplus_vgg"].startswith("ferplus") and labels["temporal_lstm_ferplus_vgg"] == "ferplus"


def test_an_unknown_name_lists_the_shipped_models():
    with pytest.raises(UnknownName) as raised:
        shipped_model("ferplus")
    message = str(raised.value)
    assert message.startswith("unknown shipped model 'ferplus'; expected one of ")
    assert set(message.split("expected one of ")[1].split(", ")) == _bundles()


def test_the_default_lstm_is_quoted_on_its_untouched_test_people_and_an_lstm_without_them_says_so(tmp_path):
    """`fervid models` quoted temporal_lstm_ferplus_vgg's 0.7718 and ECE 0.022 "on validation people's clips": those
    people chose its temperature and the model. The test people's figures (docs/results.md section 8) are quoted,
    with how many, and that the clips are simulated."""
    import shutil

    from fervid.inference.catalog import model_info

    measured = shipped_model("temporal_lstm_ferplus_vgg").measured
    assert measured["dataset"] == "simulated clips of 17 test people (34 clips, 5,028 frames), centred windows"
    root = WEIGHTS_DIR.parents[2]
    if (root / "docs").is_dir():  # the figures are the benchmark's
        recorded = json.loads((root / "docs" / "eval" / "temporal_calibration.json").read_text(encoding="utf-8"))
        lstm = recorded["methods"]["lstm"]
        assert (measured["accuracy"], measured["ece"]) == (round(lstm["accuracy"], 4), round(lstm["ece"], 4))
        assert recorded["people"]["test"] == 17 and lstm["test_frames"] == 5028
    other = shipped_model("temporal_lstm_fer2013_vgg").measured
    assert other["dataset"].startswith("simulated clips of 17 validation people") and "flattering" in other["dataset"]
    # a test-people record of another temperature is not these weights' figure
    folder = tmp_path / "temporal_lstm_ferplus_vgg"
    shutil.copytree(WEIGHTS_DIR / folder.name, folder)
    record = json.loads((folder / "test_people.json").read_text(encoding="utf-8"))
    (folder / "test_people.json").write_text(json.dumps(record | {"temperature": 1.0}), encoding="utf-8")
    assert "validation people" in model_info(folder).measured["dataset"]
