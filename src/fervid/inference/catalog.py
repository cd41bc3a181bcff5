"""The shipped models, described: one :class:`ModelInfo` per model folder inside the package (the emotion CNNs of
:data:`fervid.inference.models.MODELS` and the temporal LSTMs that read their features), as ``fervid models`` and
:func:`fervid.list_models` list them. Everything is read from the machine-readable files that travel with the
weights (``config.json``, ``card.json``, ``training_config.json``, ``training.json``); the Markdown card is named,
never parsed."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fervid.inference.models import MODELS, PAPER_MODEL, ModelConfig, resolve_model_dir, written_as_path
from fervid.inference.options import PipelineOptions
from fervid.inference.temporal import shipped_temporal_models
from fervid.registry import Registry

CARD_FILE = "MODEL_CARD.md"
# the card.json entry of data_and_consent that states the weights' terms begins so (the card writer of
# fervid.evaluation.evaluate takes it from here: inference cannot import evaluation)
TERMS_PREFIX = "Terms: "
# what a card can say of its weights' terms: fervid's licence is its code's; FER2013's publishers state none
FER2013_WEIGHTS_TERMS = (TERMS_PREFIX + "fervid's MIT licence covers its code, not what these weights learnt from; "
                         "FER2013's publishers state no terms for its faces, nor for weights learnt from them "
                         "(README.md, \"Licences\").")
# a temporal model that learnt from CK+'s or JAFFE's people (train-temporal --ckplus/--jaffe) carries their terms
LAB_PEOPLE_TERMS = ("JAFFE's terms allow non-commercial research only (cite Lyons et al. 1998); CK+ is distributed "
                    "under a research agreement. Weights learnt from them carry those terms: check them before "
                    "commercial use.")
# a shipped LSTM's figures on the test people of its split, whom nothing was trained or tuned on (copied from
# benchmarks/temporal_calibration.py's JSON, docs/results.md section 8): its headline numbers where present. Without
# it, training.json's validation people's, who chose its temperature and the model, and so flatter it
TEST_PEOPLE_FILE = "test_people.json"


@dataclass(frozen=True)
class ModelInfo:
    """One shipped model (or a model folder of yours: :func:`model_info`), as its folder describes it."""

    name: str
    # "cnn": an emotion CNN (a face in; 7 probabilities and a feature vector out). "temporal_lstm": labels a video
    # frame from the features its CNN gives the frames around it
    kind: str
    # the CNN of `fervid image`, `fervid video` and Analyzer() when no model is named; for a temporal LSTM, the one
    # videos run with that CNN (PipelineOptions' defaults decide both)
    default: bool
    # the published design's CNN (trained on FER2013's original labels) and the LSTM that reads its features
    paper: bool
    # temporal_lstm: the CNN whose features it reads (it is refused on any other's); cnn: None
    cnn: str | None
    # cnn: the shipped LSTM that `--method lstm` runs on its features in videos (None: none, videos use the moving
    # average); temporal_lstm: None
    temporal_model: str | None
    # the labels it learnt, as its training recorded them: "fer2013" (FER2013's originals, one annotator per face)
    # or a FER+ scheme ("ferplus", "ferplus-soft", ...: ten annotators per face); for a temporal LSTM those of its
    # FER2013 stills (its clips of people carry CK+'s and JAFFE's). None: not recorded
    labels: str | None
    # what one input is: cnn (1, S, S), one grey S x S face; temporal_lstm (frames, feature size), the most frames
    # of its CNN's features it reads
    input_shape: tuple[int, ...]
    # the graphs the folder holds, the one precision "auto" runs first: "int8" (an int8 copy), "fp32" (model.onnx)
    precisions: tuple[str, ...]
    # the headline numbers its records hold (cnn: card.json's evaluation, with "dataset", "faces", "accuracy",
    # "accuracy_ci95", "macro_f1", "precision"; temporal_lstm: training.json's, with "dataset", "accuracy", "ece",
    # "flicker_per_s"); None: none recorded (the card may still give some)
    measured: dict[str, Any] | None
    terms: str | None  # the weights' terms as card.json states them; None: not recorded there (see the card)
    card: Path | None  # its MODEL_CARD.md; None: the folder has none
    folder: Path

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON types (paths as text), in field order: what ``fervid models --json`` prints."""
        return {f.name: (str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value)
                for f in fields(self) for value in [getattr(self, f.name)]}


def list_models() -> list[ModelInfo]:
    """Every shipped model: the emotion CNNs, then the temporal LSTMs, each in name order. A folder that is not a
    usable model is left out (the emotion CNNs' scan warns of it, naming the folder)."""
    defaults = PipelineOptions()
    lstms = shipped_temporal_models()  # {CNN name: folder}
    default_lstm = lstms.get(str(defaults.model)) if defaults.method == "lstm" else None
    cnns = [_cnn_info(name, folder, lstms.get(name), default=name == str(defaults.model))
            for name, folder in MODELS.items()]
    temporal = [_lstm_info(folder, cnn, default=folder == default_lstm)
                for cnn, folder in sorted(lstms.items(), key=lambda item: item[1].name)]
    return cnns + temporal


def shipped_model(name: str) -> ModelInfo:
    """The shipped model named ``name``; an unknown name raises :class:`fervid.registry.UnknownName` listing the
    shipped ones."""
    return Registry("shipped model", {info.name: info for info in list_models()})[name]


def model_info(model: str | Path) -> ModelInfo:
    """A shipped model's entry by name, or a model folder's (an emotion CNN's or a temporal LSTM's, exported or
    trained by you; a shipped model's folder is its shipped entry). A folder of yours is no default and not the
    paper's, and no shipped LSTM is its own. :class:`fervid.registry.UnknownName` for a name that is neither;
    :class:`fervid.inference.models.ModelError` for a folder that holds no usable model, naming what it lacks."""
    if not Path(model).is_dir() or (not written_as_path(model) and str(model) in {i.name for i in list_models()}):
        return shipped_model(str(model))  # (a shipped model's name means it, a folder of that name here too)
    folder = resolve_model_dir(model)  # (model.onnx and config.json, or the error naming the one missing)
    shipped = next((info for info in list_models() if info.folder.resolve() == folder.resolve()), None)
    if shipped is not None:
        return shipped
    config = _read_json(folder / "config.json") or {}
    if isinstance(config, dict) and config.get("kind") == "lstm":
        return _lstm_info(folder, str(config.get("cnn", "")), default=False, shipped=False)
    return _cnn_info(ModelConfig.load(folder / "config.json").name, folder, None, default=False, shipped=False)


def _read_json(path: Path) -> Any:
    """A record of the folder's, or None where it is missing or unreadable (a description, not a model load: the
    model's own loading names what is wrong with its files)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _card(folder: Path) -> Path | None:
    return folder / CARD_FILE if (folder / CARD_FILE).is_file() else None


def _cnn_info(name: str, folder: Path, lstm: Path | None, default: bool, shipped: bool = True) -> ModelInfo:
    config = ModelConfig.load(folder / "config.json")  # (MODELS lists only folders whose config loads)
    card = _read_json(folder / "card.json") or {}
    training = _read_json(folder / "training_config.json") or {}
    size = config.template.size
    has_int8 = bool(config.int8_file) and (folder / config.int8_file).is_file()
    evaluation = card.get("evaluation") or {}
    measured = ({"dataset": evaluation.get("dataset"), "faces": evaluation.get("n"),
                 "accuracy": evaluation["accuracy"], "accuracy_ci95": evaluation.get("accuracy_ci95"),
                 "macro_f1": evaluation.get("macro_f1"), "precision": card.get("graph_precision")}
                if "accuracy" in evaluation else None)
    terms = next((item.removeprefix(TERMS_PREFIX) for item in card.get("data_and_consent", [])
                  if isinstance(item, str) and item.startswith(TERMS_PREFIX)), None)
    return ModelInfo(name=name, kind="cnn", default=default, paper=shipped and name == PAPER_MODEL, cnn=None,
                     temporal_model=lstm.name if lstm else None, labels=training.get("labels"),
                     input_shape=(1, size, size),
                     precisions=("int8", "fp32") if has_int8 else ("fp32",), measured=measured, terms=terms,
                     card=_card(folder), folder=folder)


def _lstm_info(folder: Path, cnn: str, default: bool, shipped: bool = True) -> ModelInfo:
    config = _read_json(folder / "config.json") or {}
    training = _read_json(folder / "training.json") or {}
    recipe = training.get("config") or {}
    test = _read_json(folder / TEST_PEOPLE_FILE)
    validation = len((config.get("people") or {}).get("val", []))
    try:
        if test and test.get("temperature") == config.get("temperature"):  # measured with the temperature it has
            measured = {"dataset": f"simulated clips of {test['people']} test people ({test['clips']} clips, "
                                   f"{test['frames']:,} frames), centred windows", "accuracy": test["accuracy"],
                        "ece": test["ece"]}
        else:
            scores = training["heldout"]["people"]["centred"]["lstm"]
            measured = {"dataset": f"simulated clips of {validation or 'its'} validation people, centred windows "
                                   "(they chose its temperature and the model: flattering; no test people measured)",
                        "accuracy": scores["accuracy"], "ece": scores.get("ece"),
                        "flicker_per_s": scores.get("flicker_per_s")}
    except (KeyError, TypeError):
        measured = None
    # the labels of its stills: FER+'s votes where it was trained with --ferplus (train_temporal.check_same_labels)
    labels = ("ferplus" if recipe.get("ferplus") else "fer2013") if recipe else None
    # (its card's "Data and consent" says the same: fervid.evaluation.evaluate's temporal card writer)
    terms = ((LAB_PEOPLE_TERMS if recipe.get("ckplus") or recipe.get("jaffe")
              else FER2013_WEIGHTS_TERMS.removeprefix(TERMS_PREFIX)) if recipe else None)
    return ModelInfo(name=folder.name, kind="temporal_lstm", default=default, paper=shipped and cnn == PAPER_MODEL,
                     cnn=cnn,
                     temporal_model=None, labels=labels,
                     input_shape=(int(config.get("max_frames", 17)), int(config.get("input_dim", 512))),
                     precisions=("fp32",), measured=measured, terms=terms, card=_card(folder), folder=folder)
