"""The CNN at inference time: an exported ONNX model run on ONNX Runtime (no torch).

A model lives in a folder holding ``model.onnx``, ``config.json`` (preprocessing: eye template and
normalisation, network shape, class names, calibration) and its model card (``card.json`` + ``MODEL_CARD.md``),
so weights, their preprocessing and their description always travel together. Models shipped inside the
package are found by name through :func:`available_models`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from fervid.errors import FervidError, FervidWarning, OptionError
from fervid.inference.align import FaceTemplate, Normalization
from fervid.machine import session_options
from fervid.registry import Registry
from fervid.emotions import EMOTIONS

WEIGHTS_DIR = Path(__file__).parent.parent / "weights"
# The default names what people see: trained on FER+'s ten-annotator votes (docs/results.md, "Consensus model",
# gives the rule and the numbers). The paper-pipeline model (the published design's data and labels, fervid's
# network: README, "The CNN"), trained on FER2013's original one-annotator labels, stays shipped under its name for
# the paper's experiments.
DEFAULT_MODEL = "ferplus_vgg"
PAPER_MODEL = "fer2013_vgg"
# the graph the model was named by (x/model.onnx), else its int8 copy where it has one (the fast default), else its
# fp32 graph (graph_for)
DEFAULT_PRECISION = "auto"


def softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Probabilities from scores along ``axis`` (scipy.special.softmax's arithmetic, in the input's dtype): the
    largest score is taken off first, so large ones do not overflow. Written here, as scipy.special cost a third
    of every command's start-up (0.17 s CPU of 0.4 s) for these three lines."""
    shifted = np.exp(scores - np.max(scores, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


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


# what to do about a file fervid installs that is not there: an app frozen without fervid's data files (PyInstaller
# collects them through the hook fervid ships, fervid/_pyinstaller; another freezer, or a spec that leaves it out,
# may not) met it as a bare FileNotFoundError
MISSING_FILES_ADVICE = ("reinstall fervid, or, where fervid is frozen into an app, include fervid's data files: "
                        "PyInstaller --collect-data fervid")


# FileNotFoundError first: OSError's constructor is what reads (errno, reason, path); after RuntimeError's (a
# ModelNotFound's) it was not called, and ``filename`` was None
class ModelFileMissing(FileNotFoundError, ModelNotFound):
    """A file fervid installs with its models (the face detector's weights) that is not there. A FileNotFoundError
    too, what was raised for it before, naming the file in ``filename``: made as OSError is,
    ``ModelFileMissing(errno.ENOENT, reason, path)`` (:func:`missing_model_file`), which pickles."""

    def __str__(self) -> str:  # OSError's own: "[Errno 2] ...: 'path'"
        return f"{self.filename}: {self.strerror}"


def missing_model_file(path: Path, what: str) -> ModelFileMissing:
    """The error for ``path``, the file of ``what`` (a model) that fervid installs, not being there."""
    return ModelFileMissing(errno.ENOENT, f"{what} is missing ({MISSING_FILES_ADVICE})", str(path))


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
    # sha256 of the model.onnx the int8 copy was quantized from ("" in folders exported before it was recorded):
    # an int8 file copied in from another model is refused instead of run under this one's name
    int8_from_sha256: str = ""

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
            config = cls(
                name=data["name"],
                emotions=tuple(data["emotions"]),
                template=FaceTemplate(tuple(t["left_eye"]), tuple(t["right_eye"]), int(t["size"])),
                normalization=Normalization.from_dict(data["normalization"]),
                net=data.get("net", {}),
                temperature=float(data.get("temperature", 1.0)),
                uncertain_below=float(data.get("uncertain_below", 0.5)),
                int8_file=str(data.get("int8_file", "")),
                int8_from_sha256=str(data.get("int8_from_sha256", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"{path}: not an emotion model's config ({type(exc).__name__}: {exc})") from None
        if problem := config.invalid_value():
            raise ModelError(f"{path}: {problem}")
        return config

    def invalid_value(self) -> str | None:
        """What in this config no model can run with (the field and why), or None. A temperature of 0 gave NaN
        probabilities (and JSON no reader accepts), a negative one inverted them, and a normalisation of another
        size than the face crops failed on every face instead of once."""
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            return f"temperature {self.temperature}: must be a finite number above 0 (the logits are divided by it)"
        if not 0 <= self.uncertain_below <= 1:
            return f"uncertain_below {self.uncertain_below}: must be a probability, between 0 and 1"
        size = self.template.size
        if self.normalization.global_mean.shape != (size, size):
            return (f"normalization.global_mean is {'x'.join(map(str, self.normalization.global_mean.shape))}, but "
                    f"template.size makes {size}x{size} face crops")
        if not (math.isfinite(self.normalization.scale) and self.normalization.scale > 0):
            return f"normalization.scale {self.normalization.scale}: must be a finite number above 0"
        return None

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
            "int8_from_sha256": self.int8_from_sha256,
        }


@dataclass
class CNNOutput:
    """Per-face outputs of the CNN: probabilities (N, 7) in ``EMOTIONS`` order (calibrated: softmax of
    logits / temperature), the raw logits (N, 7) and 512-d features (N, 512)."""

    probabilities: np.ndarray
    features: np.ndarray
    logits: np.ndarray


def shipped_model_problem(folder: Path) -> str | None:
    """Why a folder under :data:`WEIGHTS_DIR` cannot be a shipped emotion CNN (its config is unreadable or invalid,
    or names another model than the folder), or None. A shipped model is known by its folder's name: a copy of one
    under another folder still reporting the original's name would be taken for it in results."""
    if not (folder / "config.json").is_file():
        return "it has no config.json"
    try:
        config = ModelConfig.load(folder / "config.json")
    except ModelError as exc:  # its message, from the file's name on ("config.json: temperature 0.0: ...")
        return str(exc).removeprefix(f"{folder}{os.sep}")
    return _name_problem(folder, config)


def _name_problem(folder: Path, config: ModelConfig) -> str | None:
    if config.name != folder.name:
        return (f"its config.json names it {config.name!r}; a shipped model's name is its folder's ({folder.name!r}): "
                "make them the same")
    return None


# shipped model folders that cannot be used, by name, with why: named, they give that reason (filled when MODELS
# first reads the weights folder)
UNUSABLE_MODELS: dict[str, str] = {}


def _shipped_models() -> dict[str, Path]:
    """The emotion CNNs under :data:`WEIGHTS_DIR`: each folder holding a model.onnx or config.json that is not a
    temporal model's. A half-copied or broken one is left out with a warning naming it, so that one bad folder does
    not stop every command (the CLI's help lists the shipped models)."""
    if not WEIGHTS_DIR.is_dir():
        return {}
    found = {}
    for folder in sorted(p for p in WEIGHTS_DIR.iterdir() if p.is_dir()):
        if not ((folder / "model.onnx").is_file() or (folder / "config.json").is_file()) or _is_temporal(folder):
            continue
        problem = ("it has no model.onnx" if not (folder / "model.onnx").is_file() else
                   shipped_model_problem(folder))
        if problem:
            UNUSABLE_MODELS[folder.name] = problem
            # logged, not raised: with no logging set up, Python prints it on stderr as it stands
            logging.getLogger(__name__).warning("%s: not a usable emotion model (%s); left out of the shipped models",
                                                folder, problem)
        else:
            found[folder.name] = folder
    return found


def _is_temporal(folder: Path) -> bool:
    """Whether a weights folder holds a temporal model (its config.json names its kind; those read CNN features)."""
    try:
        return "kind" in json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, TypeError):
        return False


# The emotion CNNs shipped inside the package, by name (temporal models, which read CNN features, are not)
MODELS: Registry[Path] = Registry("emotion model", _shipped_models)


def available_models() -> list[str]:
    """Names of the shipped emotion CNNs (:data:`MODELS`)."""
    return list(MODELS)


def written_as_path(model: str | Path) -> bool:
    """Whether ``model`` is written as a path, not as a name: it holds a path separator, starts with "." or is
    absolute (``./ferplus_vgg``, ``models/mine``, ``/data/model``). A shipped model's name always means the shipped
    model: a folder of that name in the working folder took its place unseen (and, empty, made ``Analyzer()``
    fail); such a folder is given as ``./ferplus_vgg``. (A ``pathlib.Path`` drops a leading "./": give
    ``Path.cwd() / name``.)"""
    text = str(model)
    return "/" in text or os.sep in text or text.startswith(".") or Path(text).is_absolute()


def is_shipped_name(model: str | Path) -> bool:
    """Whether ``model`` is a shipped emotion CNN's name, written as a name (:func:`written_as_path`): it always
    means that model, whatever folder the working folder holds."""
    return not written_as_path(model) and str(model) in MODELS


class ModelFolderNotUsed(FervidWarning):
    """A folder in the working folder named as a shipped model, which that name does not mean
    (:func:`warn_of_folder_not_used`)."""


def warn_of_folder_not_used(name: str) -> None:
    """Say, where the working folder holds a folder named as the shipped model ``name`` means, that it is not the
    one that runs (the shipped name once took it unseen; now the shipped model runs, as unseen). Once a process:
    Python's default warning filter shows a message from one place once (the CLI says it as "warning: ...")."""
    if Path(name).is_dir():
        warnings.warn(f"{name} means the shipped model; the folder ./{name} here is not used (give it as ./{name} "
                      "to use it)", ModelFolderNotUsed, stacklevel=1)


def warn_of_cnn_folder_not_used(model: str | Path) -> None:
    """:func:`warn_of_folder_not_used` for an emotion CNN the user named (``--model`` typed, ``Analyzer(model=...)``,
    a training config's ``init_from``), where ``model`` is a shipped CNN's name. Not for a default: a name no one
    gave says nothing of a folder that happens to share it (`fervid image` beside a folder ferplus_vgg/ warned)."""
    if is_shipped_name(model):
        warn_of_folder_not_used(str(model))


def model_folder_of_file(path: str | Path) -> Path | None:
    """The model folder ``path`` is a file of (``x/model.onnx``: ``x``, where ``x`` holds a model's ``model.onnx``
    and ``config.json``), or None: what a command that writes into the model's folder, or names things after it,
    takes for the model :func:`resolve_model_dir` reads."""
    path = Path(path)
    if path.is_file() and all((path.parent / required).is_file() for required in ("model.onnx", "config.json")):
        return path.parent
    return None


def recorded_model_folder(folder: str | Path) -> str:
    """A model's folder as the outputs that record it say it (``fervid evaluate``'s metrics.json, report.md and
    comparison): a shipped model's relative to the installed package (``fervid/weights/ferplus_vgg``), not by the
    absolute path of the user's installation, which names their home folder (README "Names and paths"); a user's own
    folder as it was given."""
    try:
        inside = Path(folder).resolve().relative_to(WEIGHTS_DIR.resolve())
    except ValueError:
        return str(folder)
    return f"{WEIGHTS_DIR.parent.name}/{WEIGHTS_DIR.name}/{inside.as_posix()}"


def resolve_model_dir(model: str | Path = DEFAULT_MODEL) -> Path:
    """A shipped model's name, or a path to a model folder (a name that is no shipped model's: a folder of that
    name, where there is one) or to a file in one (its ``model.onnx``: the folder holding it). A shipped model's name means it alone (:func:`written_as_path`); whether the user
    gave it, and so is told of a folder of that name here, the caller knows (:func:`warn_of_cnn_folder_not_used`)."""
    candidate = Path(model)
    if is_shipped_name(model):
        folder = MODELS[str(model)]
    elif not written_as_path(model) and str(model) in UNUSABLE_MODELS:  # (filled by the lookup above)
        raise ModelError(f"{WEIGHTS_DIR / str(model)}: not a usable emotion model ({UNUSABLE_MODELS[str(model)]})")
    elif candidate.is_dir():
        folder = candidate
    elif (of_file := model_folder_of_file(candidate)) is not None:
        # a file of a model folder (its model.onnx, as other tools take a model): the folder it lies in, which the
        # model is (its config and int8 copy beside the graph); it was "not found: not a folder"
        folder = of_file
    elif candidate.suffix == ".pt" and candidate.is_file():
        raise ModelNotFound(f"{model}: a training checkpoint, not a model; export its run first (fervid export "
                         f"{candidate.parent} --checkpoint {candidate.name} --out <model folder>)")
    else:
        raise ModelNotFound(f"model '{model}' not found: not a folder, and not one of the shipped models "
                         f"({', '.join(MODELS)})" if MODELS else
                         f"model '{model}' not found: not a folder, and no shipped model is installed in "
                         f"{WEIGHTS_DIR} ({MISSING_FILES_ADVICE})")
    # a folder of yours named as it was given: "ferplus_vgg: missing model.onnx" (a Path drops the "./" of
    # ./ferplus_vgg) read as the shipped model broken
    named = model if folder is candidate else folder
    if not (folder / "model.onnx").is_file() and (folder / "last.pt").is_file():
        raise ModelNotFound(f"{named}: a training run, not a model; export it first (fervid export {named} --out "
                         "<model folder>)")
    for required in ("model.onnx", "config.json"):
        if not (folder / required).is_file():
            raise ModelNotFound(f"{named}: missing {required}")
    return folder


PRECISIONS = (DEFAULT_PRECISION, "int8", "fp32")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise OptionError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")


def named_graph_precision(folder: Path, config: ModelConfig, named: str | Path) -> str | None:
    """The precision of the graph ``named`` is, where the model was named by one of its folder's graphs: "fp32" for
    ``x/model.onnx``, "int8" for its int8 copy (config.json's ``int8_file``); None where it was named otherwise (a
    name, the folder, another file of it)."""
    if model_folder_of_file(named) is None:
        return None
    graph = Path(named).resolve()
    if graph == (folder / "model.onnx").resolve():
        return "fp32"
    if config.int8_file and graph == (folder / config.int8_file).resolve():
        return "int8"
    return None


def graph_for(folder: Path, config: ModelConfig, precision: str,
              named: str | Path | None = None) -> tuple[str, str]:
    """The ONNX file of a model folder that ``precision`` runs, and the precision that file is: "int8" or "fp32".
    "auto" runs the graph the model was ``named`` by (as the user gave it: ``x/model.onnx`` the float one, as
    other tools that take a model file run it), else the int8 copy where there is one; "int8" and "fp32" run that
    graph whichever file was named."""
    check_precision(precision)
    if precision == DEFAULT_PRECISION and named is not None:
        # x/model.onnx under "auto" ran the folder's int8 copy unsaid: a file named is the one that runs
        precision = named_graph_precision(folder, config, named) or precision
    if precision != "fp32" and config.int8_file:
        if not (folder / config.int8_file).is_file():
            # a file of the folder missing, as a missing model.onnx is (exit 2), with what runs or rebuilds it
            raise ModelNotFound(f"{folder}: config names {config.int8_file}, which is missing; run the float model "
                                f"(--precision fp32), or write it again (fervid export <its run> --out {folder} "
                                "--force --int8)")
        return config.int8_file, "int8"
    if precision == "int8":
        raise ModelError(f"{folder}: no int8 model (export with `fervid export --int8`)")
    return "model.onnx", "fp32"


def check_graph(session, config: ModelConfig, graph_file: Path) -> None:
    """Raise :class:`ModelError` unless the graph ONNX Runtime loaded (its ``session``) is an emotion CNN of
    ``config``'s shape: one input, faces [batch, 1, S, S] (S: the template's crop size), and two outputs, logits
    [batch, 7] then features [batch, feature_dim]. Read from the graph's declared shapes, at load: another graph
    in the folder (a temporal LSTM's, a detector's, one output only) failed on every face instead, or ran with
    features of another size than its temporal LSTM reads."""
    size, feature_dim = config.template.size, config.feature_dim

    def fits(shape: list, expected: tuple) -> bool:
        # dimension 0 is the batch, which must be left free; a named (symbolic) dimension is not known to differ
        return (len(shape) == len(expected) and not isinstance(shape[0], int)
                and all(not isinstance(d, int) or d == e for d, e in zip(shape[1:], expected[1:])))

    def described(args) -> str:
        return ", ".join(f"{a.name} {list(a.shape)}" for a in args)

    inputs, outputs = session.get_inputs(), session.get_outputs()
    expected_input = ("batch", 1, size, size)
    if len(inputs) != 1 or not fits(inputs[0].shape, expected_input):
        raise ModelError(f"{graph_file}: not an emotion CNN for this config: it takes {described(inputs)}; "
                         f"expected one input, faces [batch, 1, {size}, {size}] (config.json's template.size "
                         f"{size}, with a free batch dimension)")
    expected = (("logits", ("batch", len(EMOTIONS))), ("features", ("batch", feature_dim)))
    if len(outputs) != 2 or not all(fits(o.shape, shape) for o, (_, shape) in zip(outputs, expected)):
        raise ModelError(f"{graph_file}: not an emotion CNN for this config: it outputs {described(outputs)}; "
                         f"expected two outputs, logits [batch, {len(EMOTIONS)}] then features [batch, {feature_dim}] "
                         f"(config.json's net.feature_dim {feature_dim})")


class EmotionCNN:
    """Runs the exported CNN on preprocessed faces (N, 1, 48, 48) with ONNX Runtime.

    ``precision``: "auto" runs the graph ``model`` names (``x/model.onnx``: the float one), else the folder's int8
    model where it has one (the fast default), "fp32" the
    float model, "int8" insists on the int8 one. Its threads sleep between runs
    (:func:`fervid.machine.session_options`).
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, threads: int | None = None,
                 precision: str = DEFAULT_PRECISION):
        import onnxruntime as ort

        check_precision(precision)
        self.folder = resolve_model_dir(model)
        self.config = ModelConfig.load(self.folder / "config.json")
        if self.config.emotions != EMOTIONS:
            raise ModelError(f"{self.folder}: classes {self.config.emotions} differ from fervid's {EMOTIONS}")
        if self.folder.resolve().parent == WEIGHTS_DIR.resolve() and (problem := _name_problem(self.folder,
                                                                                                   self.config)):
            raise ModelError(f"{self.folder}: {problem}")
        onnx_file, self.precision = graph_for(self.folder, self.config, precision, named=model)
        self.graph_file = self.folder / onnx_file
        if self.precision == "int8" and self.config.int8_from_sha256 not in ("", self.weights_sha256):
            raise ModelError(f"{self.graph_file}: quantized from another model.onnx (sha256 "
                             f"{self.config.int8_from_sha256[:16]}...) than this folder's ({self.weights_sha256[:16]}"
                             "...): export the model again, which writes both, or run the float model (precision "
                             "fp32)")
        options = session_options(threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.folder / onnx_file), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types (InvalidProtobuf, Fail, ...)
            raise ModelError(f"{self.folder / onnx_file}: ONNX Runtime cannot load it "
                             f"({str(exc).splitlines()[0][:200]})") from None
        check_graph(self.session, self.config, self.graph_file)
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
