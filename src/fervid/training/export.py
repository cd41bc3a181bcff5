"""Export a trained checkpoint to a model folder fervid can run without torch (imports torch).

The folder gets ``model.onnx`` (outputs: logits and 512-d features, batch dimension dynamic) and
``config.json`` (eye template, normalisation fitted on the training set, network shape, class names), and the
run's record beside them as ``training_*`` files (its config, metrics, summary, and the commands that trained it).
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from fervid.inference.align import FaceTemplate, Normalization
from fervid.emotions import EMOTIONS
from fervid.folder_lock import LOCK_FILE
from fervid.inference.models import ModelConfig, file_sha256
from fervid.json_files import write_json
from fervid.training.network import EnsembleWrapper, ExportWrapper
from fervid.training.train import COMMANDS_FILE, load_net, read_checkpoint


def export_onnx(run_dir: str | Path, out_dir: str | Path, name: str | None = None,
                checkpoint: str = "best.pt", template: FaceTemplate = FaceTemplate(), flip_tta: bool = False) -> Path:
    """Write ``out_dir/model.onnx`` and ``out_dir/config.json`` from ``run_dir/<checkpoint>``."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    ckpt = run_dir / checkpoint
    if not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt}: no checkpoint (train first, or pick --checkpoint)")
    state = read_checkpoint(ckpt)  # read once: the network, and below the epoch it was saved at
    net = load_net(state)
    norm = Normalization.from_dict(json.loads((run_dir / "normalization.json").read_text(encoding="utf-8")))
    prepare_model_folder(out_dir)
    dummy = torch.zeros(1, 1, template.size, template.size)
    torch.onnx.export(
        ExportWrapper(net, flip_tta).eval(), (dummy,), str(out_dir / "model.onnx"),
        input_names=["faces"], output_names=["logits", "features"],
        dynamic_axes={"faces": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
        opset_version=17, dynamo=False,
    )
    config = ModelConfig(name=name or out_dir.resolve().name, emotions=EMOTIONS, template=template,
                         normalization=norm, net={**net.config.to_dict(), "flip_tta": flip_tta})
    write_json(out_dir / "config.json", config.to_dict(), indent=None)
    for extra in ("config.json", "metrics.jsonl", "summary.json", COMMANDS_FILE):
        if (run_dir / extra).is_file():
            shutil.copyfile(run_dir / extra, out_dir / f"training_{extra}")
    # which epoch's weights these are: the model card must not call the last epoch a selected "best" one
    summary_file = out_dir / "training_summary.json"
    summary = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.is_file() else {}
    summary.update(exported_checkpoint=checkpoint, exported_epoch=state.get("epoch"))
    write_json(summary_file, summary)
    return out_dir


# what an export and the commands after it (evaluate --write-card, calibrate, export --int8) write into a model
# folder: a new export removes them, so nothing of the model it replaces is left to describe the new one
MODEL_FOLDER_FILES = ("model.onnx", "model_int8.onnx", "config.json", "card.json", "MODEL_CARD.md", "calibration.json",
                      "training_config.json", "training_metrics.jsonl", "training_summary.json",
                      f"training_{COMMANDS_FILE}")


# what train-temporal writes into a temporal model's folder
TEMPORAL_FOLDER_FILES = ("model.onnx", "config.json", "training.json")


def folder_holds(folder: Path) -> str | None:
    """What ``folder`` holds: "a training run", "an emotion CNN", "a temporal model", or None (nothing of these)."""
    if (folder / "last.pt").exists() or (folder / "metrics.jsonl").exists():
        return "a training run"
    try:
        kind = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        kind = None
    if kind == "lstm":
        return "a temporal model"
    if (folder / "model.onnx").exists() or (folder / "config.json").exists():
        return "an emotion CNN"
    return None


def check_model_folder(out_dir: Path, writing: str = "an emotion CNN", replace: bool = True) -> None:
    """Refuse ``out_dir`` (FileExistsError) unless it is new, empty, or holds a model of the kind ``writing`` and
    ``replace``: an export into a training run lost the run, a temporal model written over a CNN lost the CNN, and
    an export into a folder of other files (``--out .``) mixed the model's into them."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: a file, not a folder; write {writing} into a folder (--out)")
    held = folder_holds(out_dir)
    if held is not None and held != writing:
        raise FileExistsError(f"{out_dir}: holds {held}; write {writing} into another folder (--out)")
    if held is not None and not replace:
        raise FileExistsError(f"{out_dir}: holds {writing} already; --force replaces it, or write into another "
                              "folder (--out)")
    # the lock of a run writing the folder (`fervid train-temporal`'s, there while it runs) is none of its files
    if held is None and out_dir.is_dir() and any(p.name != LOCK_FILE for p in out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: holds other files, not a model; write {writing} into a new or empty "
                              "folder (--out)")


def prepare_model_folder(out_dir: Path, writing: str = "an emotion CNN") -> None:
    """Make ``out_dir`` ready for a new model (:func:`check_model_folder`), emptied of the files of the model it
    replaces, so nothing of that one is left to describe the new one."""
    check_model_folder(out_dir, writing)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in TEMPORAL_FOLDER_FILES if writing == "a temporal model" else MODEL_FOLDER_FILES:
        (out_dir / name).unlink(missing_ok=True)


def member_checkpoint(member: str | Path, checkpoint: str) -> tuple[Path, Path]:
    """(run folder, checkpoint file) of an export argument: a run folder (its ``checkpoint``) or a checkpoint file
    inside one (``runs/x/last_peer.pt``)."""
    member = Path(member)
    return (member.parent, member) if member.suffix == ".pt" else (member, member / checkpoint)


def unfinished_run_notice(checkpoint: Path, epoch: int | None) -> str | None:
    """What to say of a checkpoint (of ``epoch``) from a run that stopped before its planned epochs (by its
    ``config.json`` and ``metrics.jsonl``, as the model card counts them), or None: its export said nothing, as if
    the run were done."""
    run_dir = checkpoint.parent
    try:
        planned = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["epochs"]
        logged = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        ran = json.loads(logged[-1])["epoch"] if logged else 0
    except (OSError, ValueError, KeyError, TypeError):  # not a run folder fervid train wrote: nothing to compare
        return None
    if ran >= planned:
        return None
    return (f"{run_dir}: the run stopped after {ran} of {planned} epochs (interrupted?): exported its {checkpoint.name}"
            f" of epoch {epoch}; `fervid train --resume --out {shlex.quote(str(run_dir))}` finishes it")


def export_ensemble(run_dirs: Sequence[str | Path], out_dir: str | Path, name: str | None = None,
                    checkpoint: str = "best.pt", features_of: str | None = None,
                    template: FaceTemplate = FaceTemplate()) -> Path:
    """Write ``out_dir/model.onnx`` + ``config.json``: the runs' networks averaged in one graph
    (:class:`fervid.training.network.EnsembleWrapper`). Inputs are normalised as the first run's; its features are the
    ensemble's, so ``features_of`` (default: the first run folder's name) names the CNN whose temporal LSTM reads
    them. A member may also be a checkpoint file inside a run folder (``runs/x/last_peer.pt``), which takes the
    place of ``checkpoint`` for that member: a mutual-learning run's network and its peer make one ensemble."""
    members = [Path(r) for r in run_dirs]
    out_dir = Path(out_dir)
    nets, norms, member_runs = [], [], []
    for member in members:
        run_dir, ckpt = member_checkpoint(member, checkpoint)
        if not ckpt.is_file():
            raise FileNotFoundError(f"{ckpt}: no checkpoint (train first, or pick --checkpoint)")
        member_runs.append(run_dir)
        nets.append(load_net(ckpt))
        norms.append(Normalization.from_dict(json.loads((run_dir / "normalization.json").read_text(encoding="utf-8"))))
    # member i expects (c - g_i) / s_i where the input is (c - g_0) / s_0: x_i = x * s_0 / s_i + (g_0 - g_i) / s_i
    first = norms[0]
    scales = [first.scale / n.scale for n in norms]
    shifts = [torch.from_numpy((first.global_mean - n.global_mean) / n.scale) for n in norms]
    prepare_model_folder(out_dir)
    dummy = torch.zeros(1, 1, template.size, template.size)
    torch.onnx.export(
        EnsembleWrapper(nets, scales, shifts).eval(), (dummy,), str(out_dir / "model.onnx"),
        input_names=["faces"], output_names=["logits", "features"],
        dynamic_axes={"faces": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
        opset_version=17, dynamo=False,
    )
    net = {"ensemble": [{"run": str(r), **n.config.to_dict()} for r, n in zip(members, nets)],
           "features_of": features_of or member_runs[0].name, "feature_dim": nets[0].config.feature_dim}
    config = ModelConfig(name=name or out_dir.resolve().name, emotions=EMOTIONS, template=template,
                         normalization=first, net=net)
    write_json(out_dir / "config.json", config.to_dict(), indent=None)
    return out_dir


CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


def quantize_int8(model_dir: str | Path, calibration_faces: np.ndarray, samples: int = 1024, seed: int = 0,
                  method: str = "minmax", float_nodes: tuple[str, ...] = ()) -> Path:
    """Write ``model_dir/model_int8.onnx``: static int8 quantization of ``model.onnx`` (weights per channel in 7
    bits, activations uint8), its activation ranges calibrated on ``samples`` grey 48x48 faces drawn from
    ``calibration_faces`` (training faces: never the test set). Records the file in ``config.json``, with the
    digest of the ``model.onnx`` it was quantized from (checked when the int8 file is loaded).

    7-bit weights (``reduce_range``) because ONNX Runtime's uint8 x int8 kernel on x86 CPUs without VNNI (AVX2
    only) adds pairs of products in 16 bits: 8-bit weights overflow there and changed 3.6-5.1% of FER2013
    PublicTest labels against a VNNI CPU; 7-bit ones cannot, and x86 CPUs with and without VNNI compute the same
    logits (docs/results.md, section 5b).

    ``method``: how activation ranges are set from the calibration faces (ONNX Runtime's MinMax, Percentile at
    99.999%, or Entropy); ``float_nodes``: ONNX node names left in float. Both are there for
    benchmarks/quant_probe.py, which measured the alternatives against the default (docs/results.md, 5b)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method {method!r}: expected one of {CALIBRATION_METHODS}")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model_dir = Path(model_dir)
    config = ModelConfig.load(model_dir / "config.json")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(calibration_faces), min(samples, len(calibration_faces)), replace=False)
    faces = config.normalization(calibration_faces[np.sort(pick)]).astype(np.float32)

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.start = 0

        def get_next(self):
            if self.start >= len(faces):
                return None
            self.start += 64
            return {"faces": faces[self.start - 64 : self.start]}

    prepared = model_dir / "model_prep.onnx"
    out = model_dir / "model_int8.onnx"
    # the quantizer logs a warning per 1-d weight (batch norm after the dense layer) that it quantizes per
    # tensor, which is what we want; keep that out of the user's console
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quant_pre_process(str(model_dir / "model.onnx"), str(prepared))  # shape inference + graph folding
        quantize_static(str(prepared), str(out), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True,
                        calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                                          "percentile": CalibrationMethod.Percentile}[method],
                        nodes_to_exclude=list(float_nodes) or None)
    finally:
        root.setLevel(level)
        prepared.unlink(missing_ok=True)
    config.int8_file = out.name
    config.int8_from_sha256 = file_sha256(model_dir / "model.onnx")  # which float graph it is a copy of
    write_json(model_dir / "config.json", config.to_dict(), indent=None)
    return out


def compare_with_torch(run_dir: str | Path, model_dir: str | Path, inputs: np.ndarray,
                       checkpoint: str = "best.pt", flip_tta: bool = False) -> tuple[float, float]:
    """Largest absolute differences (logits, features) between torch and ONNX Runtime on the same inputs."""
    import onnxruntime as ort

    net = load_net(Path(run_dir) / checkpoint)
    with torch.no_grad():
        t_logits, t_feats = ExportWrapper(net, flip_tta).eval()(torch.from_numpy(inputs))
    session = ort.InferenceSession(str(Path(model_dir) / "model.onnx"), providers=["CPUExecutionProvider"])
    o_logits, o_feats = session.run(None, {"faces": inputs.astype(np.float32)})
    return float(np.abs(t_logits.numpy() - o_logits).max()), float(np.abs(t_feats.numpy() - o_feats).max())
