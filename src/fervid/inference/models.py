"""The CNN at inference time: an exported ONNX model run on ONNX Runtime (no torch).

A model lives in a folder holding ``model.onnx``, ``config.json`` (preprocessing: eye template and
normalisation, network shape, class names, calibration) and its model card (``card.json`` + ``MODEL_CARD.md``),
so weights, their preprocessing and their description always travel together. Models shipped inside the
package are found by name through :func:`available_models`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy.special import softmax

from fervid.errors import FervidError, OptionError
from fervid.inference.align import FaceTemplate, Normalization
from fervid.machine import session_options
from fervid.registry import Registry
from fervid.emotions import EMOTIONS

WEIGHTS_DIR = Path(__file__).parent.parent / "weights"
# The default names what people see: trained on FER+'s ten-annotator votes (docs/results.md, "Consensus model",
# gives the rule and the numbers). The published design's model, trained on FER2013's original one-annotator
# labels, stays shipped under its name for the paper's experiments.
DEFAULT_MODEL = "ferplus_vgg"
PAPER_MODEL = "fer2013_vgg"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks so a long video does not have to fit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def runtime_versions() -> dict[str, str]:
    """The fervid and ONNX Runtime versions that made a result, recorded beside it: the same weights can give other
    numbers under another fervid (its preprocessing) or another ONNX Runtime (its int8 kernels)."""
    import onnxruntime

    from fervid import __version__

    return {"fervid": __version__, "onnxruntime": onnxruntime.__version__}


class ModelError(FervidError, RuntimeError):
    """A model folder that is missing or incomplete."""


class ModelNotFound(ModelError):
    """A model name or folder that names no model (a command line's mistake: the CLI exits 2 for it)."""


@dataclass
class ModelConfig:
    """What travels with the weights: how to frame and normalise a face, and what the outputs mean."""

    name: str
    emotions: tuple[str, ...]
    template: FaceTemplate
    normalization: Normalization
    net: dict
    temperature: float = 1.0  # fitted on a held-out set by `fervid calibrate`
    uncertain_below: float = 0.5  # a face whose top probability is below this is flagged `uncertain`
    # an int8 copy of model.onnx (static quantization, calibrated on training faces): about 1.9x the faces/s
    # on a CPU; "" when the folder has none. What it costs in accuracy is measured in the model card.
    int8_file: str = ""

    @property
    def features_of(self) -> str:
        """The CNN whose 512-d features this model outputs (an ensemble outputs its first member's), which names
        the temporal LSTM that can read them."""
        return self.net.get("features_of", self.name)

    @property
    def feature_dim(self) -> int:
        """Size of the penultimate-layer feature the model outputs (what a temporal LSTM reads)."""
        return int(self.net.get("feature_dim", 512))

    @classmethod
    def load(cls, path: Path) -> ModelConfig:
        """Read a model folder's ``config.json``; a file that is not one raises :class:`ModelError` naming it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: not a readable model config ({exc})") from None
        if isinstance(data, dict) and "emotions" not in data and "cnn" in data:
            raise ModelError(f"{path.parent}: a temporal model (it reads a CNN's features), not an emotion CNN")
        try:
            t = data["template"]
            return cls(
                name=data["name"],
                emotions=tuple(data["emotions"]),
                template=FaceTemplate(tuple(t["left_eye"]), tuple(t["right_eye"]), int(t["size"])),
                normalization=Normalization.from_dict(data["normalization"]),
                net=data.get("net", {}),
                temperature=float(data.get("temperature", 1.0)),
                uncertain_below=float(data.get("uncertain_below", 0.5)),
                int8_file=str(data.get("int8_file", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"{path}: not an emotion model's config ({type(exc).__name__}: {exc})") from None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "emotions": list(self.emotions),
            "template": {"left_eye": list(self.template.left_eye), "right_eye": list(self.template.right_eye),
                         "size": self.template.size},
            "normalization": self.normalization.to_dict(),
            "net": self.net,
            "temperature": self.temperature,
            "uncertain_below": self.uncertain_below,
            "int8_file": self.int8_file,
        }


@dataclass
class CNNOutput:
    """Per-face outputs of the CNN: probabilities (N, 7) in ``EMOTIONS`` order (calibrated: softmax of
    logits / temperature), the raw logits (N, 7) and 512-d features (N, 512)."""

    probabilities: np.ndarray
    features: np.ndarray
    logits: np.ndarray


def _shipped_models() -> dict[str, Path]:
    if not WEIGHTS_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(WEIGHTS_DIR.iterdir()) if (p / "model.onnx").is_file()
            and "emotions" in json.loads((p / "config.json").read_text(encoding="utf-8"))}


# The emotion CNNs shipped inside the package, by name (temporal models, which read CNN features, are not)
MODELS: Registry[Path] = Registry("emotion model", _shipped_models)


def available_models() -> list[str]:
    """Names of the shipped emotion CNNs (:data:`MODELS`)."""
    return list(MODELS)


def resolve_model_dir(model: str | Path = DEFAULT_MODEL) -> Path:
    """A shipped model's name, or a path to a model folder."""
    candidate = Path(model)
    if candidate.is_dir():
        folder = candidate
    elif str(model) in MODELS:
        folder = MODELS[str(model)]
    elif candidate.suffix == ".pt" and candidate.is_file():
        raise ModelNotFound(f"{model}: a training checkpoint, not a model; export its run first (fervid export "
                         f"{candidate.parent} --checkpoint {candidate.name} --out <model folder>)")
    else:
        raise ModelNotFound(f"model '{model}' not found: not a folder, and not one of the shipped models "
                         f"({', '.join(MODELS) or 'none'})")
    if not (folder / "model.onnx").is_file() and (folder / "last.pt").is_file():
        raise ModelNotFound(f"{folder}: a training run, not a model; export it first (fervid export {folder} --out "
                         "<model folder>)")
    for required in ("model.onnx", "config.json"):
        if not (folder / required).is_file():
            raise ModelNotFound(f"{folder}: missing {required}")
    return folder


PRECISIONS = ("auto", "int8", "fp32")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise OptionError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")


def graph_for(folder: Path, config: ModelConfig, precision: str) -> tuple[str, str]:
    """The ONNX file of a model folder that ``precision`` runs ("auto": the int8 copy where there is one), and the
    precision that file is: "int8" or "fp32"."""
    check_precision(precision)
    if precision != "fp32" and config.int8_file:
        if not (folder / config.int8_file).is_file():
            raise ModelError(f"{folder}: config names {config.int8_file}, which is missing")
        return config.int8_file, "int8"
    if precision == "int8":
        raise ModelError(f"{folder}: no int8 model (export with `fervid export --int8`)")
    return "model.onnx", "fp32"


class EmotionCNN:
    """Runs the exported CNN on preprocessed faces (N, 1, 48, 48) with ONNX Runtime.

    ``precision``: "auto" runs the folder's int8 model where it has one (the fast default), "fp32" the
    float model, "int8" insists on the int8 one. Its threads sleep between runs
    (:func:`fervid.machine.session_options`).
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, threads: int | None = None, precision: str = "auto"):
        import onnxruntime as ort

        check_precision(precision)
        self.folder = resolve_model_dir(model)
        self.config = ModelConfig.load(self.folder / "config.json")
        if self.config.emotions != EMOTIONS:
            raise ModelError(f"{self.folder}: classes {self.config.emotions} differ from fervid's {EMOTIONS}")
        onnx_file, self.precision = graph_for(self.folder, self.config, precision)
        self.graph_file = self.folder / onnx_file
        options = session_options(threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.folder / onnx_file), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types (InvalidProtobuf, Fail, ...)
            raise ModelError(f"{self.folder / onnx_file}: ONNX Runtime cannot load it "
                             f"({str(exc).splitlines()[0][:200]})") from None
        self.input_name = self.session.get_inputs()[0].name

    @cached_property  # read once per loaded model, not per video
    def weights_sha256(self) -> str:
        """Digest of the float weights (``model.onnx``): what a temporal LSTM trained on this CNN's features
        records, so a CNN retrained under the same name is not fed to an LSTM trained on the old one."""
        return file_sha256(self.folder / "model.onnx")

    @cached_property
    def graph_sha256(self) -> str:
        """Digest of the graph this instance runs (the int8 one by default): its features are what a temporal
        LSTM trained through this instance learnt from. The int8 graph can be re-quantized while ``model.onnx``
        stays the same, which shifts the features slightly; the LSTM's config records both digests."""
        return file_sha256(self.graph_file)

    @property
    def weights_identity(self) -> dict[str, str]:
        """The weights file that ran and its digest, as results record them (``weights_file``, ``weights_sha256``):
        the int8 graph by default, not the ``model.onnx`` it was quantized from (:attr:`weights_sha256`), whose
        digest would not identify what made the numbers."""
        return {"weights_file": self.graph_file.name, "weights_sha256": self.graph_sha256}

    @property
    def graph_identity(self) -> dict[str, str]:
        """Which graph this instance runs, as a temporal LSTM's config records it (``cnn_graph``)."""
        return {"file": self.graph_file.name, "precision": self.precision, "sha256": self.graph_sha256}

    @property
    def card(self) -> dict:
        path = self.folder / "card.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def __call__(self, batch: np.ndarray) -> CNNOutput:
        if len(batch) == 0:
            empty = np.zeros((0, len(EMOTIONS)), np.float32)
            return CNNOutput(empty, np.zeros((0, self.config.feature_dim), np.float32), empty)
        logits, features = self.session.run(None, {self.input_name: np.ascontiguousarray(batch, np.float32)})
        return CNNOutput(softmax(logits / self.config.temperature, axis=1).astype(np.float32), features, logits)
