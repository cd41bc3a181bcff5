"""Training the VGG-style CNN on FER2013 (imports torch: install ``fervid[train]``).

``fervid train`` runs :func:`train`: FER2013 Training with model selection on PublicTest, on-the-fly
augmentation, optional bf16 autocast, a checkpoint every epoch (``--resume`` continues from it), seeded runs,
a progress bar and a per-epoch metrics log (``metrics.jsonl``) in the run directory.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import platform
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, TypeVar, cast, get_args, get_origin, get_type_hints

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, published as tomli
    import tomli as tomllib

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import StrictBool, TypeAdapter, ValidationError
from scipy.special import softmax
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn
from tqdm import tqdm

from fervid.folder_lock import run_folder_lock
from fervid.json_files import json_text, write_json
from fervid.progress import progress_bar
from fervid.inference.align import Normalization
from fervid.inference.models import (EmotionCNN, ModelConfig, ModelError, is_shipped_name, resolve_model_dir,
                                     warn_of_cnn_folder_not_used)
from fervid.evaluation.datasets import (DEFAULT_USAGE, DatasetError, FaceDataset, ferplus_relabel, file_key,
                                       is_label_table, label_table_files, left_out_reasons,
                                       load_fer2013, load_ferplus, load_image_folder, photos_notice,
                                       training_data_kind, unlike_crops_notice)
from fervid.emotions import EMOTIONS, NUM_CLASSES, emotion_of
from fervid.inference.images import IMAGE_SUFFIXES
from fervid.evaluation.evaluate import plot_learning_curves
from fervid.inference.options import check_positive, check_seed
from fervid.inference.set_aside import replace_retrying
from fervid.machine import cpu_flags, cpu_model, thread_count
from fervid.training.from_model import network_from_model
from fervid.training.network import EmotionVGG, NetConfig


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as ``config.json`` in the run directory."""

    # the faces: the FER2013 CSV (.csv/.csv.gz), or your own labelled face crops, <emotion>/<image> folders or a
    # path,label table as `fervid evaluate --data` reads them; required, from the config or --data
    data: str = ""
    # "fer2013" (a CSV: train_usage rows train, val_usage rows choose the epoch, or val_data's faces where given) or
    # "folder" (your own faces, a folder or a label table: val_data chooses the epoch, or else val_fraction of data's
    # faces, drawn per class); "auto": by what `data` is
    data_kind: str = "auto"
    train_usage: str = "Training"
    val_usage: str = DEFAULT_USAGE
    # a folder's held-out faces: best kept to other people than data's (a random share of one folder puts frames
    # of one person on both sides, and the selected epoch's accuracy reads high)
    val_data: str = ""
    val_fraction: float = 0.2
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    seed: int = 0
    # bf16 autocast: "auto" uses it where it pays (a CUDA GPU with bf16 in hardware, or a CPU with bf16 matrix
    # instructions, amx_bf16 or avx512_bf16); true/false force it. Measured on the shipped shape, 128 faces per
    # batch: AVX2-only AMD 12x slower, Intel AMX 2.1x faster, AMD EPYC (Zen 4, avx512_bf16) 1.9x faster.
    bf16: StrictBool | str = "auto"
    threads: int = 0  # 0: torch's default
    # quick runs: limit_train > 0 trains on that many of the training faces, limit_val > 0 chooses the epoch on
    # that many of the validation faces (0: all). Either is a random subset drawn with `seed`, each emotion keeping
    # its share (stratified), of a CSV's rows and a folder's faces alike; never the first N, which in a folder
    # sorted by class were one or two emotions only
    limit_train: int = 0
    limit_val: int = 0
    # augmentation
    # StrictBool (as every true/false option): pydantic read `hflip = 1` as true and `swa = 0` as false, where
    # TOML writes true and false, and a number is a mistake (maybe another option's value)
    hflip: StrictBool = True
    max_rotation_deg: float = 10.0
    max_shift_px: float = 4.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    erase_prob: float = 0.5
    # contrast jitter: each face's (mean-subtracted) pixels scaled by a factor drawn from this range; lab faces
    # (CK+, JAFFE) are higher-contrast than FER2013's web faces. (1, 1): off
    contrast_range: tuple[float, float] = (1.0, 1.0)
    # what the network is taught: "fer2013" (FER2013's one label per face), "ferplus" (FER+ majority vote;
    # faces FER+ dropped or voted contempt/unknown/not-a-face are left out), "ferplus-soft" (the FER+ vote
    # distribution over the 7 emotions, blended with FER2013's label: ferplus_weight 1.0 = votes only) or
    # "ferplus-multi" (Barsoum et al. 2016's multi-label scheme: every emotion with at least
    # multi_label_threshold of a face's votes is an accepted answer, and the loss is -log of the network's highest
    # probability among them; faces whose accepted answers hold no more than half the votes are left out)
    labels: str = "fer2013"
    ferplus_csv: str = ""  # FER+ votes (fer2013new.csv): required by the FER+ label schemes
    ferplus_weight: float = 0.5
    # FER+ schemes: an answer fewer annotators than this gave counts as no vote in the training targets
    # (Barsoum et al.'s reader drops single votes as outliers: 2; 1 keeps every vote). Validation keeps them all
    ferplus_min_votes: int = 1
    multi_label_threshold: float = 0.3  # Barsoum et al.'s
    # where set, FER2013's label is blended in (at 1 - ferplus_weight) only on faces FER2013 gave one of these
    # classes, and every other face is taught the votes alone: FER+'s majority keeps FER2013's angry, disgust,
    # fear and sad labels on at most half of their faces (happy, surprise, neutral: 79-92%)
    fer2013_blend_classes: list[str] = field(default_factory=list)
    # multi-task (FER+ schemes): a second classifier on the same 512-d features learns FER2013's original label,
    # its loss weighted by this (0: off); the FER+ head's targets are untouched, and only the network without
    # this head is saved and exported, so inference costs nothing more
    fer2013_head_weight: float = 0.0
    # model selection on FER2013's PublicTest labels ("fer2013") or FER+'s majority labels ("ferplus"); "auto":
    # the labels the network learns (a FER+ scheme selected on FER2013's labels picked the wrong epoch's network)
    val_labels: str = "auto"
    # mixing two faces per sample (Zhang et al. 2018 mixup, Yun et al. 2019 CutMix); targets mix alike
    mix: str = "none"  # "none", "mixup" or "cutmix"
    mix_prob: float = 0.5
    mix_alpha: float = 1.0
    # start from other weights (e.g. a second, fine-tuning stage): a run's checkpoint (.pt), or an exported model
    # folder or shipped name, rebuilt from its ONNX graph (fervid.training.from_model); the schedule starts afresh
    init_from: str = ""
    warmup_pct: float = 0.2  # share of the one-cycle schedule spent raising the learning rate
    # distillation (Hinton et al. 2015): the averaged probabilities of these trained networks (training checkpoints,
    # .pt, or exported model folders / shipped names, run on ONNX Runtime) are blended into the targets
    # (teacher_weight 1.0 = teachers only); several models' knowledge in one network of the shipped (fast) shape.
    # `teaching`, what the teachers label (Beyer et al. 2022 found the student learns most when teacher and student
    # see the same image, "a good teacher is patient and consistent"):
    # "faces": offline, each unaugmented training face once (averaged with its mirror), blended into its targets;
    # "views": teacher_views augmented views of every face are drawn once and labelled; every epoch the student
    #   trains on one of them with the teachers' probabilities for that very view (teacher cost paid once);
    # "online": every batch's own fresh augmentation is labelled as it is drawn (teacher cost paid every step)
    teachers: list[str] = field(default_factory=list)
    teacher_weight: float = 0.5
    teaching: str = "faces"
    teacher_views: int = 8
    # an exponential moving average of the weights (Polyak averaging), updated every step; when on (>0) it is what
    # is validated, kept as best.pt/last.pt's "model" and exported, and the optimiser's own weights are validated
    # beside it (metrics' raw_val_acc). 0.9995 spans about 2,000 steps, 9 epochs of FER2013 Training at batch 128.
    # BatchNorm's statistics are not averaged but recomputed for the averaged weights before each validation
    # (as SWA does): averaged statistics do not fit averaged weights (measured: 0.70 against 0.82 FER+ accuracy)
    ema_decay: float = 0.0
    # stochastic weight averaging (Izmailov et al. 2018): the equal average of the weights at every epoch's end,
    # validated, saved and exported as the EMA is (BatchNorm recomputed alike); meant with lr_schedule = "constant",
    # so that the snapshots spread over the region a constant learning rate explores, usually from a trained network
    swa: StrictBool = False
    # training faces (a fixed random subset, not augmented) for those statistics, and for the statistics of a
    # network rebuilt from an exported model (init_from)
    ema_batchnorm_faces: int = 4096
    # "one-cycle" (Smith's: warm-up over warmup_pct, then annealed to ~0) or "constant" (the same warm-up from
    # lr / 25, then lr to the end)
    lr_schedule: str = "one-cycle"
    # sharpness-aware minimisation (Foret et al. 2021; 0: off): each step takes the gradient at the weights moved
    # this far (L2) uphill, which favours flat minima and is reported to resist label noise, such as FER2013's
    # and FER+'s annotator disagreement. Costs a second forward and backward pass per step (about 2x the time)
    sam_rho: float = 0.0
    # deep mutual learning (Zhang et al. 2018; 0: off): a peer network of the same shape, initialised from its own
    # seed, trains beside the network on the same batches, and each adds this weight times KL(peer || itself) to
    # its loss, the peer's probabilities taken as fixed targets. Unlike distillation from trained teachers, the
    # two teach each other from the first step (reported to give each peer much of what averaging two
    # independently trained networks gives; measured here: +0.6 points of FER+ on the shipped recipe, -0.2 on a
    # second draw, both within one recipe's spread, and peers too alike to average well: docs/results.md section 0).
    # The network (last.pt) is exported; the peer is saved beside it (last_peer.pt) and validated every epoch
    # (metrics' peer_val_acc). Costs a second network's step (about 2x)
    mutual_weight: float = 0.0
    net: NetConfig = field(default_factory=NetConfig)

    def __post_init__(self) -> None:
        if self.data_kind == "auto":
            self.data_kind = training_data_kind(self.data)
        if self.val_labels == "auto":  # (val_data's faces have one label each: their folders' or table's)
            self.val_labels = "fer2013" if self.labels == "fer2013" or self.val_data else "ferplus"

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> TrainConfig:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError("unknown training option(s): " + ", ".join(key + closest_option(key, names)
                                                                      for key in unknown))
        data = dict(data)
        for setting in ("data", "val_data"):
            if isinstance(data.get(setting), (list, tuple)):  # pydantic said only "input should be a valid string"
                raise ValueError(f"{setting}: one FER2013 CSV, folder or label table, not a list ({data[setting]}); "
                                 "to teach a network FER2013 and your own faces, fine-tune one trained on FER2013 on "
                                 "yours: data = your folder, init_from = \"ferplus_vgg\" (README: Teaching a model "
                                 "your own labelled faces)")
        if isinstance(data.get("net"), dict):
            # NetConfig.from_dict reads a model's net too, which holds more (flip_tta): a config must not
            unknown_net = set(data["net"]) - set(NetConfig.__dataclass_fields__)
            if unknown_net:
                raise ValueError(f"unknown [net] option(s): {', '.join(sorted(unknown_net))}; [net] takes "
                                 f"{', '.join(NetConfig.__dataclass_fields__)}")
        elif isinstance(data.get("net"), NetConfig):
            data["net"] = data["net"].to_dict()
        refuse_quoted_values(data, cls)
        if isinstance(data.get("net"), dict):
            refuse_quoted_values(data["net"], NetConfig, "[net] ")
        # every value checked against its field's type (lists become tuples where the field is one): hflip = "no"
        # was taken as true, and a float for a count reached torch as a traceback
        try:
            cfg = TypeAdapter(cls).validate_python(data)
        except ValidationError as exc:
            raise ValueError(type_errors(exc)) from None
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "lr"):  # 0 used to reach torch's scheduler or a division
            check_positive(name, getattr(self, name))
        check_seed("seed", self.seed)
        if self.batch_size < 2:  # BatchNorm cannot take a batch's statistics from one face (torch's error said so)
            raise ValueError(f"batch_size must be 2 or more (BatchNorm learns from batch statistics), not "
                             f"{self.batch_size}")
        for name in ("weight_decay", "momentum", "threads", "limit_train", "limit_val", "max_rotation_deg",
                     "max_shift_px", "mix_alpha", "ema_batchnorm_faces"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)}")
        for name in ("erase_prob", "mix_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1, not {getattr(self, name)}")
        for name in ("scale_range", "contrast_range"):
            low, high = getattr(self, name)
            if not 0.0 < low <= high:
                raise ValueError(f"{name} must be [low, high] with 0 < low <= high, not {list(getattr(self, name))}")
        for name in ("label_smoothing", "warmup_pct"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be at least 0 and below 1, not {getattr(self, name)}")
        if self.data_kind not in ("fer2013", "folder"):
            raise ValueError(f"data_kind must be fer2013, folder or auto, not {self.data_kind!r}")
        # an unknown scheme is named as such before it is weighed against the data (it was told FER+ needs votes)
        if self.labels not in LABEL_SOURCES:
            raise ValueError(f"labels must be one of {', '.join(LABEL_SOURCES)}, not {self.labels!r}")
        if self.data_kind == "folder" and (self.labels != "fer2013" or self.val_labels != "fer2013"):
            # the message starts with the setting, so that the command line blames --labels where it gave it
            setting = "labels" if self.labels != "fer2013" else "val_labels"
            raise ValueError(f"{setting} {getattr(self, setting)!r}: a folder's faces have one label each "
                             "(labels = \"fer2013\", the default, teaches it); the FER+ schemes need FER+'s votes "
                             "for the FER2013 CSV")
        if self.val_data and self.val_labels != "fer2013":
            raise ValueError(f"val_labels {self.val_labels!r}: val_data's faces ({self.val_data}) have one label "
                             "each, their folders' (or table's); FER+'s votes are for the FER2013 CSV's faces "
                             "(leave val_labels out, or val_data to choose the epoch on FER2013's)")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be between 0 and 1, not {self.val_fraction}")
        if self.bf16 not in (True, False, "auto"):
            raise ValueError(f"bf16 must be true, false or \"auto\", not {self.bf16!r}")
        if self.val_labels not in ("fer2013", "ferplus"):
            raise ValueError(f"val_labels must be fer2013 or ferplus, not {self.val_labels!r}")
        if self.mix not in ("none", "mixup", "cutmix"):
            raise ValueError(f"mix must be none, mixup or cutmix, not {self.mix!r}")
        if not 0.0 <= self.ferplus_weight <= 1.0:
            raise ValueError("ferplus_weight must be within 0..1")
        unknown = sorted(set(self.fer2013_blend_classes) - set(EMOTIONS))
        if unknown:
            raise ValueError(f"fer2013_blend_classes: {', '.join(unknown)} not among {', '.join(EMOTIONS)}")
        if self.fer2013_head_weight < 0:
            raise ValueError("fer2013_head_weight must be >= 0 (0: off)")
        if self.fer2013_head_weight > 0 and self.labels == "fer2013":
            raise ValueError("fer2013_head_weight needs a FER+ label scheme (the main head already learns FER2013)")
        if self.ferplus_min_votes < 1:
            raise ValueError("ferplus_min_votes must be >= 1 (1: every vote counts)")
        if not 0.0 < self.multi_label_threshold <= 1.0:
            raise ValueError("multi_label_threshold must be within (0, 1]")
        if self.labels == "ferplus-multi" and (self.mix != "none" or self.teachers or self.label_smoothing):
            # a set of accepted answers cannot be mixed, smoothed or blended with probabilities
            raise ValueError("labels = \"ferplus-multi\" needs mix = \"none\", label_smoothing = 0 and no teachers")
        if self.fer2013_blend_classes and self.labels != "ferplus-soft":
            raise ValueError("fer2013_blend_classes needs labels = \"ferplus-soft\"")
        if not 0.0 <= self.teacher_weight <= 1.0:
            raise ValueError("teacher_weight must be within 0..1")
        if self.teaching not in TEACHING:
            raise ValueError(f"teaching must be one of {', '.join(TEACHING)}, not {self.teaching!r}")
        if self.teaching != "faces" and not self.teachers:
            raise ValueError(f"teaching = {self.teaching!r} needs `teachers`")
        if self.teacher_views < 1:
            raise ValueError("teacher_views must be >= 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("ema_decay must be within 0..1 (0: off)")
        if self.swa and self.ema_decay > 0:
            raise ValueError("swa and ema_decay are two ways of averaging the weights: choose one")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, not {self.lr_schedule!r}")
        if self.sam_rho < 0:
            raise ValueError("sam_rho must be >= 0 (0: off)")
        if self.mutual_weight < 0:
            raise ValueError("mutual_weight must be >= 0 (0: off)")
        if self.mutual_weight > 0 and (self.ema_decay > 0 or self.swa or self.sam_rho > 0 or self.fer2013_head_weight > 0
                                       or self.labels == "ferplus-multi"):
            raise ValueError("mutual_weight cannot be combined with ema_decay, swa, sam_rho, fer2013_head_weight or "
                             "labels = \"ferplus-multi\"")
        self.net.validate()  # a shape no network can take failed only after the data had loaded

    def with_absolute_paths(self) -> TrainConfig:
        """The same config with its files named absolutely (a shipped model's name stays a name): a run's
        config.json then works from any folder, for --resume and for export's int8 calibration."""
        def absolute(value: str) -> str:  # abspath drops "..": cwd/../data read as /tmp/probe/cwd1/../data
            return os.path.abspath(value) if value and Path(value).exists() else value

        def model(value: str) -> str:  # a shipped model's name means it, a folder of that name here too
            return value if is_shipped_name(value) else absolute(value)

        return replace(self, data=absolute(self.data), val_data=absolute(self.val_data),
                       ferplus_csv=absolute(self.ferplus_csv),
                       init_from=model(self.init_from), teachers=[model(t) for t in self.teachers])

    def to_dict(self) -> dict:
        out = asdict(self)
        out["net"] = self.net.to_dict()
        out["scale_range"] = list(self.scale_range)
        out["contrast_range"] = list(self.contrast_range)
        return out


def closest_option(key: str, names: list[str]) -> str:
    """" (epochs?)" after an unknown ``key`` where a valid option is spelt like it ("" where none is); a [net]
    option written above [net] is said to belong there."""
    if key in NetConfig.__dataclass_fields__:
        return " (a [net] option: write it under [net])"
    close = difflib.get_close_matches(key, names, n=1)
    return f" ({close[0]}?)" if close else ""


# what an option of each type takes, as a config's reader is told
EXPECTED_VALUES = {bool: "true or false", int: "a whole number", float: "a number"}


def refuse_quoted_values(data: dict, cls: type, section: str = "") -> None:
    """Raise ValueError naming the first option of ``cls`` (a number, a boolean, or a list of numbers) that ``data``
    gives a string: pydantic read `epochs = "3"` as 3 and `hflip = "no"` as false, where TOML writes numbers and
    booleans without quotes (a quoted one is a mistake, maybe another; a config said nothing of it)."""
    hints = get_type_hints(cls)
    for key, value in data.items():
        types = _types_in(hints.get(key))
        kinds = [t for t in types if t in EXPECTED_VALUES]
        if str in types or not kinds:
            continue
        listed = isinstance(value, (list, tuple))
        if any(isinstance(v, str) for v in (value if listed else [value])):
            expected = EXPECTED_VALUES[kinds[0]]
            if types & {list, tuple}:
                expected = f"a list of {'numbers' if expected == 'a number' else expected.removeprefix('a ') + 's'}"
            raise ValueError(f"{section}{key}: {json.dumps(value)} {'holds' if listed else 'is'} a string (quoted), "
                             f"and {section}{key} takes {expected}, written without quotes")


def type_errors(exc: ValidationError) -> str:
    """pydantic's errors of a config's values, one an option, as its reader is told them: ``threads: input should
    be a valid integer (not 1.5)``, and an option taking true or false given anything else ``hflip: 1 is not true
    or false`` (said once: bf16, true, false or "auto", failed as a string too)."""
    said: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        key = f"[net] {loc[1]}" if loc[0] == "net" and len(loc) > 1 else loc[0]
        if error["type"] == "bool_type":  # StrictBool's: a true/false option given a number (or a list, a table)
            said[key] = f"{key}: {_as_toml(error['input'])} is not true or false (TOML's, written unquoted)"
        else:
            said.setdefault(key, f"{'.'.join(loc)}: {error['msg'].lower()} (not {error['input']!r})")
    return "; ".join(said.values())


def _as_toml(value) -> str:
    """A config's value as its TOML file writes it: ``"no"``, ``1``, ``nan``, ``1979-05-27`` (a date, which JSON
    could not write: the reader was told "Object of type date is not JSON serializable")."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):  # a TOML date, time or date-time
        return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _types_in(hint) -> set:
    """The types a type hint is made of: ``tuple[float, float]`` and ``bool | str`` are {tuple, float}, {bool, str}."""
    args = get_args(hint)
    return {get_origin(hint) or hint}.union(*(_types_in(arg) for arg in args if arg is not Ellipsis))


LABEL_SOURCES = ("fer2013", "ferplus", "ferplus-soft", "ferplus-multi")
TEACHING = ("faces", "views", "online")
LR_SCHEDULES = ("one-cycle", "constant")


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    raw_val_acc: float | None = None  # with ema_decay or swa: the optimiser's weights, beside the average's val_acc
    peer_val_acc: float | None = None  # with mutual_weight: the peer network's


BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def resolve_bf16(setting: bool | str, device: torch.device, flags: set[str] | None = None) -> bool:
    """Whether to train with bf16 autocast: ``setting`` itself when it is true/false; for "auto", on a GPU
    with bf16 in hardware (Ampere and later; torch would also count older GPUs' emulation), or on a CPU with bf16
    matrix instructions (without them autocast emulates bf16 and was measured 12x slower than fp32 on an AVX2-only
    CPU)."""
    if setting != "auto":
        return bool(setting)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return bool(set(BF16_CPU_FLAGS) & (cpu_flags() if flags is None else flags))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator, flat: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Random flip, small rotation/scale/shift, contrast jitter and random erasing, on a normalised batch (N,1,H,W).

    ``flat`` is what a uniformly grey face becomes after normalisation (minus the global mean image, scaled);
    contrast is scaled about it, so the change is the face's own contrast.

    Border and erased pixels become 0, which after mean subtraction is the average grey level.
    """
    n, _, h, w = x.shape
    if cfg.hflip:
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(cfg.max_rotation_deg)
    lo, hi = cfg.scale_range
    scale = lo + torch.rand(n, generator=gen) * (hi - lo)
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 * cfg.max_shift_px / w)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    lo, hi = cfg.contrast_range
    if (lo, hi) != (1.0, 1.0):
        x = (x - flat) * (lo + torch.rand(n, 1, 1, 1, generator=gen) * (hi - lo)) + flat
    if cfg.erase_prob > 0:
        erase = torch.rand(n, generator=gen) < cfg.erase_prob
        eh = (torch.rand(n, generator=gen) * 0.3 + 0.1) * h
        ew = (torch.rand(n, generator=gen) * 0.3 + 0.1) * w
        cy = torch.rand(n, generator=gen) * h
        cx = torch.rand(n, generator=gen) * w
        ys = torch.arange(h).view(1, h, 1)
        xs = torch.arange(w).view(1, 1, w)
        box = ((ys - cy.view(n, 1, 1)).abs() < eh.view(n, 1, 1) / 2) & ((xs - cx.view(n, 1, 1)).abs() < ew.view(n, 1, 1) / 2)
        x = x.masked_fill((box & erase.view(n, 1, 1))[:, None], 0.0)
    return x


def mix_batch(x: torch.Tensor, targets: torch.Tensor, cfg: TrainConfig,
              gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (blend two faces) or CutMix (paste a box of another face) on a share ``mix_prob`` of batches;
    the targets (N, 7 probabilities, or 14 with the FER2013 head's) are mixed in the same proportion."""
    if cfg.mix == "none" or float(torch.rand((), generator=gen)) >= cfg.mix_prob:
        return x, targets
    n, _, h, w = x.shape
    # Beta(a, a) from two Gamma draws, so the batch order generator alone decides the draw
    g1, g2 = torch._standard_gamma(torch.full((2,), cfg.mix_alpha), generator=gen)
    lam = float(g1 / (g1 + g2))
    perm = torch.randperm(n, generator=gen)
    if cfg.mix == "mixup":
        x = lam * x + (1 - lam) * x[perm]
    else:
        cut = math.sqrt(1 - lam)
        ch, cw = int(round(h * cut)), int(round(w * cut))
        cy, cx = int(torch.randint(h, (), generator=gen)), int(torch.randint(w, (), generator=gen))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch - ch // 2, h)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw - cw // 2, w)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)  # the share of the face actually kept
    return x, lam * targets + (1 - lam) * targets[perm]


class WithFer2013Head(torch.nn.Module):
    """Training only: ``net`` with a second classifier on its 512-d features, for FER2013's original labels
    (``fer2013_head_weight``); forward -> (the network's own logits, the second head's)."""

    def __init__(self, net: EmotionVGG):
        super().__init__()
        self.net = net
        self.fer2013_head = torch.nn.Sequential(torch.nn.Dropout(net.config.dropout),
                                                torch.nn.Linear(net.config.feature_dim, NUM_CLASSES))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net.features(x)
        return self.net.head(features), self.fer2013_head(features)


def training_data(cfg: TrainConfig, progress: bool = True) -> tuple[FaceDataset, np.ndarray, FaceDataset]:
    """(training faces, their targets as (N, 7) probabilities, validation faces) for ``cfg.labels``; with
    ``fer2013_head_weight``, (N, 14): FER2013's one-hot label for the second head follows each face's targets.
    ``progress``: a bar while teachers label the faces."""
    if not cfg.data:
        raise ValueError("no training data: set `data` in the config or pass --data (your FER2013 CSV)")
    if cfg.data_kind == "folder":
        train_ds, val_ds = folder_split(cfg)
        return _finish_training_data(cfg, train_ds, np.eye(NUM_CLASSES, dtype=np.float32)[train_ds.labels], val_ds,
                                     progress)
    if (cfg.labels != "fer2013" or cfg.val_labels == "ferplus") and not cfg.ferplus_csv:
        raise ValueError(f"labels {cfg.labels!r} / val_labels {cfg.val_labels!r} need the FER+ votes: set "
                         "`ferplus_csv` in the config or pass --ferplus (fer2013new.csv)")
    fer2013 = load_fer2013(cfg.data, cfg.train_usage)
    if cfg.labels == "fer2013":
        train_ds = fer2013
        targets = np.eye(NUM_CLASSES, dtype=np.float32)[train_ds.labels]
    else:
        # FER+ schemes train only on the faces FER+ kept: faces it dropped, or whose most-voted answer is
        # unknown, not-a-face or contempt (no fervid class), are left out rather than given FER2013's label
        train_ds = ferplus_relabel(fer2013, cfg.ferplus_csv, min_votes=cfg.ferplus_min_votes)
        votes = train_ds.soft_labels
        assert votes is not None, "ferplus_relabel gives every face its FER+ votes"
        if cfg.labels == "ferplus-multi":
            accepted = votes >= cfg.multi_label_threshold
            kept = (votes * accepted).sum(axis=1) > 0.5
            train_ds, votes, accepted = train_ds.subset(kept), votes[kept], accepted[kept]
        targets = np.eye(NUM_CLASSES, dtype=np.float32)[train_ds.labels]
        original = _fer2013_labels(fer2013, train_ds)
        fer2013_label = np.eye(NUM_CLASSES, dtype=np.float32)[original]
        if cfg.labels == "ferplus-soft":
            votes_weight = np.full((len(original), 1), cfg.ferplus_weight, dtype=np.float32)
            if cfg.fer2013_blend_classes:
                blended = np.isin(original, [EMOTIONS.index(e) for e in cfg.fer2013_blend_classes])
                votes_weight[~blended] = 1.0
            targets = (1 - votes_weight) * fer2013_label + votes_weight * votes
        elif cfg.labels == "ferplus-multi":  # 1 marks each accepted answer
            targets = accepted.astype(np.float32)
        if cfg.fer2013_head_weight > 0:
            targets = np.concatenate([targets, fer2013_label], axis=1)
    if cfg.val_data:  # your own faces choose the epoch of a FER2013 run: the one that reads them best
        val_ds = load_image_folder(cfg.val_data)
    elif cfg.val_labels == "ferplus":
        val_ds = load_ferplus(cfg.data, cfg.ferplus_csv, cfg.val_usage)
    else:
        val_ds = load_fer2013(cfg.data, cfg.val_usage)
    return _finish_training_data(cfg, train_ds, targets, val_ds, progress)


def folder_split(cfg: TrainConfig) -> tuple[FaceDataset, FaceDataset]:
    """A folder run's (training faces, validation faces): ``val_data``'s faces, or ``val_fraction`` of ``data``'s
    drawn per class (seeded). Where ``data`` names each face's person (a label table's subject column), the share
    is drawn by person: no one is on both sides (a CK+ table split face by face put all 72 validation people, and
    127 of 128 validation sequences, in training too)."""
    from sklearn.model_selection import train_test_split

    faces = load_image_folder(cfg.data)
    if cfg.val_data:
        return faces, load_image_folder(cfg.val_data)
    if len(faces) < 2:
        raise DatasetError(f"{cfg.data}: {len(faces)} face(s); training needs some to learn from and some to choose "
                           "the epoch on")
    if faces.subjects:
        train_idx, val_idx = subject_split(faces, cfg.val_fraction, cfg.seed, cfg.data)
        return faces.subset(train_idx), faces.subset(val_idx)
    index = np.arange(len(faces))
    try:
        train_idx, val_idx = train_test_split(index, test_size=cfg.val_fraction, random_state=cfg.seed,
                                              stratify=faces.labels)
    except ValueError:  # a class with one face, or fewer held-out faces than classes: drawn from all at once
        train_idx, val_idx = train_test_split(index, test_size=cfg.val_fraction, random_state=cfg.seed)
    return faces.subset(np.sort(train_idx)), faces.subset(np.sort(val_idx))


# the held-out share by person is made of this many equal parts (fewer where there are fewer people): 20 give
# val_fraction to the nearest 5%
SUBJECT_PARTS = 20


def subject_split(faces: FaceDataset, val_fraction: float, seed: int, data: str) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) of ``faces``, each person's faces on one side only: the people are dealt
    into up to :data:`SUBJECT_PARTS` parts of about equal size, each holding the emotions in about the proportions
    of the whole (sklearn's StratifiedGroupKFold, seeded), and the nearest whole number of parts to
    ``val_fraction`` (one at least, all but one at most) is held out."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    people = np.asarray(faces.subjects)
    count = len(set(faces.subjects))
    if count < 2:
        raise DatasetError(f"{data}: every face is of one person ({people[0]}), so no validation share of other "
                           "people can be held out; give val_data, a folder or table of other people's faces")
    parts = min(SUBJECT_PARTS, count)
    held = min(max(round(val_fraction * parts), 1), parts - 1)
    with warnings.catch_warnings():  # an emotion with fewer people than parts: dealt as evenly as it can be
        warnings.simplefilter("ignore", UserWarning)
        folds = StratifiedGroupKFold(n_splits=parts, shuffle=True, random_state=seed).split(
            np.zeros(len(faces)), faces.labels, people)
        val_idx = np.sort(np.concatenate([test for _, (_, test) in zip(range(held), folds)]))
    train_idx = np.setdiff1d(np.arange(len(faces)), val_idx)
    return train_idx, val_idx


def held_out_by(cfg: TrainConfig, train_ds: FaceDataset, val_ds: FaceDataset) -> dict:
    """How a run's validation faces were set apart, for its summary.json (and the model card that reads it):
    ``{"held_out_by": "subject", "training_subjects": n, "validation_subjects": m}``, ``{"held_out_by": "face"}``
    (a folder or table naming no one: one person may be on both sides), or ``{}`` (val_data, or FER2013's own
    usages)."""
    if cfg.data_kind != "folder" or cfg.val_data:
        return {}
    if not val_ds.subjects:
        return {"held_out_by": "face"}
    return {"held_out_by": "subject", "training_subjects": len(set(train_ds.subjects)),
            "validation_subjects": len(set(val_ds.subjects))}


LEFT_OUT_FILE = "left_out.csv"  # a run's record of every file or folder its data left out, and why


def folder_notices(cfg: TrainConfig, train_ds: FaceDataset, val_ds: FaceDataset,
                   listed_in: str = LEFT_OUT_FILE) -> list[str]:
    """What a folder run (or a FER2013 run choosing its epoch on your val_data) should know before it trains: what
    the folders left out (CK+'s contempt went without a word), images unlike face crops, emotions with no training
    face (their output is never taught), a held-out share of one folder, and validation images that are training
    images too.

    What a folder left out is said grouped by reason, as ``fervid evaluate`` says it; every file is listed in
    ``listed_in``."""
    if cfg.data_kind != "folder" and not cfg.val_data:
        return []
    notes = []
    # the held-out share is drawn from the faces of one folder: what it left out is out of both sides (it was
    # said to be validation files left out)
    folders = (((cfg.val_data, "validation", val_ds),) if cfg.data_kind != "folder" else  # (FER2013's own rows)
               ((cfg.data, "training", train_ds), (cfg.val_data, "validation", val_ds)) if cfg.val_data else
               ((cfg.data, "training and the held-out faces alike", train_ds),))
    for folder, side, ds in folders:
        if ds.left_out:
            images = ds.totals()["left_out"]  # in images, as fervid evaluate counts them (a folder: its images)
            # every reason said, most images first: the first three files (often corrupt ones) hid the folders
            # not named for an emotion, and the nested ones
            notes.append("\n".join([f"notice: {images} image(s) in {folder} left out of {side} (each listed in "
                                     f"{listed_in}):", *left_out_reasons(ds)]))
    # (without val_data, the held-out share is data's images too, named with the others)
    for ds in ((val_ds,) if cfg.data_kind != "folder" else (train_ds, val_ds) if cfg.val_data else
               (FaceDataset.concat([train_ds, val_ds], train_ds.name),)):
        # whole photos, or pictures of no face, would be taught as faces
        notes.extend(f"notice: {notice}" for notice in (photos_notice(ds), unlike_crops_notice(ds)) if notice)
    missing = [e for i, e in enumerate(EMOTIONS) if not (train_ds.labels == i).any()]
    if missing:
        notes.append(f"notice: no training face of {', '.join(missing)}: the model's output for "
                     f"{'it' if len(missing) == 1 else 'them'} is never taught")
    if not cfg.val_data and val_ds.subjects:
        people = len(set(val_ds.subjects))
        notes.append(f"notice: the best epoch is chosen on {people} of the {people + len(set(train_ds.subjects))} "
                     f"people in {cfg.data} ({len(val_ds)} faces) held out by the table's subject column: no one is "
                     "on both sides")
    elif not cfg.val_data:
        notes.append(f"notice: the best epoch is chosen on {cfg.val_fraction:.0%} of {cfg.data} held out; where one "
                     "person (or one video's frames) is on both sides, that accuracy reads high: give val_data, a "
                     "folder of other people, or a label table with a subject column (held out by person)")
    elif cfg.data_kind == "folder":
        # the same image files on both sides (one folder inside the other, or copies): the epoch is chosen on
        # faces the run trains on, and its validation accuracy reads as if they were new
        shared = {file_key(p) for p in train_ds.sources} & {file_key(p) for p in val_ds.sources}
        if shared:
            notes.append(f"warning: {len(shared)} of {len(val_ds)} validation image(s) in {cfg.val_data} are also "
                         f"training images in {cfg.data} (the same files or byte-identical copies): the epoch is "
                         "chosen on faces the run learns from; keep val_data's faces out of data")
    return notes


# the run folder's record of the files its faces were read from, which --resume checks them against
DATA_FILES = "data_files.json"
# the run folder's record of the commands that trained it, a JSON line each: the run's, then each --resume's
COMMANDS_FILE = "commands.jsonl"


def record_command(run_dir: Path, command: str, epochs_done: int | None) -> None:
    """Add ``command`` to the run's :data:`COMMANDS_FILE`, with the time, ``epochs_done`` (None for a run's start,
    the epochs its checkpoint had for a ``--resume``) and the folder it ran in (``directory``, absolute): the
    command is kept as typed, and its relative paths (``--data ../shared/data/...``, a config's) are read from
    there, which a model card read in another folder, or on another machine, could not tell."""
    record = {"command": command, "directory": os.getcwd(),
              "time": datetime.now().astimezone().isoformat(timespec="seconds"),
              "resumed": epochs_done is not None, "epochs_done": epochs_done or 0}
    with open(run_dir / COMMANDS_FILE, "a", encoding="utf-8") as fh:
        fh.write(json_text(record, indent=None) + "\n")


class DataChanged(ValueError):
    """``--resume`` on a run whose data files changed since it started (the command line's mistake: exit 2)."""


def teacher_files(teacher: str) -> list[tuple[str, Path]]:
    """(name, file) of what a teacher (see :func:`load_teacher`) is read from: a checkpoint and its
    normalization.json, or an exported model folder's (or shipped model's) files."""
    path = Path(teacher)
    if path.suffix == ".pt":
        return [(f"{teacher}", path), (f"{teacher} normalization.json", path.parent / "normalization.json")]
    try:
        folder = resolve_model_dir(teacher)
    except ModelError:
        return []  # the run fails on it when it loads the teachers
    return [(f"{teacher}/{file.name}", file) for file in sorted(folder.iterdir()) if file.is_file()]


def data_fingerprint(cfg: TrainConfig) -> dict[str, dict[str, list]]:
    """{setting: {file, relative to it: [size, SHA-1]}} of the files ``data``, ``val_data`` and ``ferplus_csv``
    name: a CSV itself, a folder's images as :func:`~fervid.evaluation.datasets.load_image_folder` reads them (those
    directly in its emotion folders), a label table and the images it lists. Contents, not times: a copy of the same
    data elsewhere is the same data. And the ``teachers``' files: a teacher exported again (or a shipped one changed
    by an upgrade of fervid) gives the faces other targets."""
    fingerprint = {}
    if cfg.teachers:
        fingerprint["teachers"] = {name: list(file_key(str(file)))
                                   for teacher in cfg.teachers for name, file in teacher_files(teacher)
                                   if file.is_file()}
    for setting in ("data", "val_data", "ferplus_csv"):
        root = Path(getattr(cfg, setting))
        if not getattr(cfg, setting) or not root.exists():
            continue
        if root.is_dir():
            files = [file for folder in sorted(root.iterdir())
                     if folder.is_dir() and emotion_of(folder.name) is not None
                     for file in sorted(folder.iterdir()) if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES]
            fingerprint[setting] = {file.relative_to(root).as_posix(): list(file_key(str(file))) for file in files}
        elif setting != "ferplus_csv" and is_label_table(root):  # the table, and the images it lists
            fingerprint[setting] = {root.name: list(file_key(str(root))),
                                    **{str(file): list(file_key(str(file))) for file in label_table_files(root)}}
        else:
            fingerprint[setting] = {root.name: list(file_key(str(root)))}
    return fingerprint


def check_same_data(cfg: TrainConfig, run_dir: Path) -> None:
    """Raise :class:`DataChanged` naming what changed where the files the run's faces come from are not those it
    started with (``run_dir``'s :data:`DATA_FILES`; a run from before it was recorded is not checked): files added
    or removed redraw a folder's held-out share, so faces validated on become faces trained on, and ``best.pt``'s
    score from before competes with scores on other faces."""
    saved_file = run_dir / DATA_FILES
    if not saved_file.is_file():
        return
    saved, current = json.loads(saved_file.read_text(encoding="utf-8")), data_fingerprint(cfg)
    differences = []
    for setting in (s for s in ("data", "val_data", "ferplus_csv", "teachers") if s in saved or s in current):
        before, now = saved.get(setting, {}), current.get(setting, {})
        added, removed = sorted(set(now) - set(before)), sorted(set(before) - set(now))
        changed = sorted(name for name in set(before) & set(now) if before[name] != now[name])
        if added or removed or changed:
            example = (added or removed or changed)[0]
            named = f"teachers {', '.join(cfg.teachers)}" if setting == "teachers" else getattr(cfg, setting)
            differences.append(f"{named}: {len(added)} file(s) added, {len(removed)} removed, "
                               f"{len(changed)} changed (e.g. {example}, "
                               f"{'added' if added else 'removed' if removed else 'changed'})")
    if differences:
        raise DataChanged(f"{run_dir}: the run's data changed since it started ({'; '.join(differences)}): resumed, "
                          "it would go on with other faces (a held-out share redrawn puts faces validated on among "
                          "those trained on) and compare its epochs with best.pt's score on others; put the data back "
                          "as it was, or train into another folder")


def split_names(cfg: TrainConfig) -> tuple[str, str]:
    """What the training and validation faces are called in progress lines and learning curves."""
    if cfg.data_kind == "folder":
        return (f"{Path(cfg.data).name} (training part)",
                Path(cfg.val_data).name if cfg.val_data else f"{Path(cfg.data).name} ({cfg.val_fraction:.0%} held out)")
    if cfg.val_data:
        return cfg.train_usage, Path(cfg.val_data).name
    return cfg.train_usage, f"{cfg.val_usage} ({'FER+ majority' if cfg.val_labels == 'ferplus' else 'FER2013'} labels)"


def _finish_training_data(cfg: TrainConfig, train_ds: FaceDataset, targets: np.ndarray, val_ds: FaceDataset,
                          progress: bool) -> tuple[FaceDataset, np.ndarray, FaceDataset]:
    train_ds, kept = _limit(train_ds, cfg.limit_train, cfg.seed)
    if len(train_ds) < 2:  # BatchNorm learns from batches of two faces or more: one face is not a batch
        held_out = (f" ({len(val_ds)} held out to choose the epoch on)" if cfg.data_kind == "folder"
                    and not cfg.val_data else "")
        raise DatasetError(f"{cfg.data}: {len(train_ds)} training face(s){held_out}; training needs at least 2"
                           + (f" (limit_train = {cfg.limit_train})" if cfg.limit_train else ""))
    targets = targets[kept]
    if cfg.teachers and cfg.teaching == "faces":  # otherwise the teachers label augmented faces in train()
        targets[:, :NUM_CLASSES] = (1 - cfg.teacher_weight) * targets[:, :NUM_CLASSES] + (
            cfg.teacher_weight * teacher_probabilities(cfg.teachers, train_ds.images, progress))
    return train_ds, targets, _limit(val_ds, cfg.limit_val, cfg.seed)[0]


def _fer2013_labels(fer2013: FaceDataset, subset: FaceDataset) -> np.ndarray:
    """FER2013's original labels of ``subset``'s faces (a relabelled subset of ``fer2013``, matched by source)."""
    return fer2013.labels[fer2013.rows_of(subset)]


def load_teacher(teacher: str | Path) -> tuple[Normalization, Callable[[np.ndarray], np.ndarray]]:
    """A trained network that teaches, as (its input normalisation, a function from normalised faces (N, 1, 48, 48)
    to its class probabilities at temperature 1).

    ``teacher``: a training checkpoint (``.pt``, its run's ``normalization.json`` beside it; run by torch in fp32)
    or an exported model folder or shipped name (its int8 graph where it has one, on ONNX Runtime: about 3x the
    faces/s of torch's bf16 here). A folder's calibrated temperature is not applied: it was fitted on PublicTest.
    """
    path = Path(teacher)
    if path.suffix == ".pt":
        norm_file = path.parent / "normalization.json"
        if not path.is_file() or not norm_file.is_file():
            raise FileNotFoundError(f"{path}: teacher needs a checkpoint and normalization.json beside it")
        net = load_net(path)
        return (Normalization.from_dict(json.loads(norm_file.read_text(encoding="utf-8"))),
                lambda x: predict_logits(net, torch.from_numpy(x)).softmax(1).double().numpy())
    cnn = EmotionCNN(teacher)  # its threads sleep between teacher runs: torch's training step needs the cores

    def predict(x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        # in batches: the whole training set at once would need gigabytes of activations
        logits = [cnn(x[i : i + batch_size]).logits for i in range(0, len(x), batch_size)]
        return softmax(np.concatenate(logits).astype(np.float64), axis=1)

    return cnn.config.normalization, predict


def teacher_probabilities(teachers: list[str], images: np.ndarray, progress: bool = True) -> np.ndarray:
    """Mean class probabilities of trained networks (see :func:`load_teacher`) on grey 48x48 faces, each averaged
    with its mirror image, each network normalising the faces as it was trained to."""
    total = np.zeros((len(images), NUM_CLASSES), dtype=np.float64)
    for teacher in progress_bar(teachers, show=progress, desc="teacher probabilities", unit="model", leave=False):
        norm, predict = load_teacher(teacher)
        x = norm(images)
        total += (predict(x) + predict(np.ascontiguousarray(x[..., ::-1]))) / 2
    return (total / len(teachers)).astype(np.float32)


def load_matching_teachers(teachers: list[str], norm: Normalization) -> list[Callable[[np.ndarray], np.ndarray]]:
    """The teachers' predict functions (see :func:`load_teacher`) for faces normalised by ``norm``, the student's:
    a teacher trained with another normalisation (on other training faces) would be fed the wrong input."""
    loaded = []
    for name in teachers:
        teacher_norm, predict = load_teacher(name)
        if not teacher_norm.matches(norm):
            raise ValueError(f"{name}: teacher was trained with another normalisation (other training faces)")
        loaded.append(predict)
    return loaded


def mean_teacher_probabilities(teachers: list[Callable[[np.ndarray], np.ndarray]], x: torch.Tensor) -> torch.Tensor:
    """The teachers' mean class probabilities (N, 7) on normalised faces exactly as the student sees them."""
    faces = x.float().numpy()
    total = np.zeros((len(faces), NUM_CLASSES), dtype=np.float64)
    for predict in teachers:
        total += predict(faces)
    return torch.from_numpy(total / len(teachers)).float()


def teach(targets: torch.Tensor, teacher_probs: torch.Tensor, teacher_weight: float) -> torch.Tensor:
    """Blend the teachers' probabilities into a batch's targets (a second head's FER2013 targets, if any,
    untouched)."""
    targets = targets.clone()
    targets[:, :NUM_CLASSES] = (1 - teacher_weight) * targets[:, :NUM_CLASSES] + teacher_weight * teacher_probs
    return targets


def teacher_view_bank(cfg: TrainConfig, x_train: torch.Tensor, teachers: list[Callable[[np.ndarray], np.ndarray]],
                      flat_face: torch.Tensor, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``cfg.teacher_views`` augmented views of every training face (float16, (K, N, 1, 48, 48)), drawn once from
    their own seeded generator, and the teachers' mean probabilities on each very view ((K, N, 7))."""
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    views = torch.empty((cfg.teacher_views, *x_train.shape), dtype=torch.float16)
    probs = torch.zeros((cfg.teacher_views, len(x_train), NUM_CLASSES))
    chunk = 4096
    for k in progress_bar(range(cfg.teacher_views), show=progress, desc="teacher views", unit="view", leave=False):
        for i in range(0, len(x_train), chunk):
            views[k, i : i + chunk] = augment(x_train[i : i + chunk], cfg, gen, flat_face).half()
        probs[k] = mean_teacher_probabilities(teachers, views[k])  # what the student will see, float16 included
    return views, probs


def taught_view_batch(views: torch.Tensor, view_probs: torch.Tensor, t_train: torch.Tensor, idx: torch.Tensor,
                      teacher_weight: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch of teaching on stored views: one random view of each face, its targets blended with the
    teachers' probabilities for that view."""
    k = torch.randint(len(views), (len(idx),), generator=gen)
    return views[k, idx].float(), teach(t_train[idx], view_probs[k, idx], teacher_weight)


def mutual_terms(logits: torch.Tensor, peer_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Deep mutual learning's two extra losses, (KL(peer || network), KL(network || peer)), batch means: each
    learns the other's current probabilities as fixed targets (detached), so each term's gradient reaches only
    the network it is added to."""
    own, other = logits.log_softmax(1), peer_logits.log_softmax(1)
    return (F.kl_div(own, other.detach(), log_target=True, reduction="batchmean"),
            F.kl_div(other, own.detach(), log_target=True, reduction="batchmean"))


def accepted_answer_loss(logits: torch.Tensor, accepted: torch.Tensor) -> torch.Tensor:
    """Barsoum et al. 2016's multi-label loss: the mean over faces of -log of the highest predicted probability
    among each face's accepted answers (``accepted`` > 0), so any of them counts as right."""
    log_p = logits.log_softmax(1).masked_fill(accepted <= 0, float("-inf"))
    return -log_p.max(1).values.mean()


def _limit(ds: FaceDataset, n: int, seed: int) -> tuple[FaceDataset, np.ndarray]:
    """(``n`` of ``ds``'s faces, their indices in ``ds``, in ``ds``'s order): a random subset drawn with ``seed``,
    stratified by label, so each emotion keeps its share (the first ``n`` of a folder loaded class by class held one
    or two emotions only); all of ``ds`` where ``n`` is 0 or not below its size."""
    if n <= 0 or n >= len(ds):
        return ds, np.arange(len(ds))
    from sklearn.model_selection import train_test_split

    index = np.arange(len(ds))
    try:
        kept = train_test_split(index, train_size=n, random_state=seed, stratify=ds.labels)[0]
    except ValueError:  # a class with one face, or fewer faces kept than classes: drawn from all at once
        kept = train_test_split(index, train_size=n, random_state=seed)[0]
    kept = np.sort(kept)
    return ds.subset(kept), kept


ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


def channels_last(module: ModuleT, device: torch.device | None = None) -> ModuleT:
    """``module``, moved to ``device`` where one is given, with its 4-d weights in channels_last: the layout its
    batches go in."""
    # Module.to takes memory_format as Tensor.to does (torch._C._nn._parse_to), but torch's overloads of it leave
    # the argument out
    return module.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]


@torch.no_grad()
def predict_logits(net: EmotionVGG, x: torch.Tensor, batch_size: int = 512, bf16: bool = False) -> torch.Tensor:
    # batches go in channels_last, so the network's weights must be too: a mixed layout took a slow path (1.5x)
    channels_last(net.eval())
    out = []
    for i in range(0, len(x), batch_size):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(net(x[i : i + batch_size].contiguous(memory_format=torch.channels_last)).float())
    return torch.cat(out) if out else torch.zeros(0, 7)


def training_steps_per_epoch(faces: int, batch_size: int, world: int = 1) -> int:
    """Batches per epoch: every full batch, and the last, partial one unless it would hand a process a single face
    (BatchNorm in training mode refuses a batch of one: 129 faces at batch_size 128 crashed). The faces of a batch
    left out change from epoch to epoch with the shuffle. A process takes every ``world``-th face of each batch."""
    full, rest = divmod(faces, batch_size)
    return full + (rest >= 2 * world)


def learning_rate_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
                           ) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step learning rate: ``cfg.lr_schedule``'s one-cycle or warm-up-then-constant schedule."""
    if cfg.lr_schedule == "one-cycle":
        total = cfg.epochs * steps_per_epoch
        # torch's warm-up phase ends at step pct * total - 1: at exactly 0 (a 5-step run at 0.2) it divides by
        # zero; half a step more is the same schedule otherwise
        pct = cfg.warmup_pct + 0.5 / total if abs(cfg.warmup_pct * total - 1) < 1e-9 else cfg.warmup_pct
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, epochs=cfg.epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=pct)
    warmup = max(1, round(cfg.warmup_pct * cfg.epochs * steps_per_epoch))
    return torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / 25, total_iters=warmup),
        torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)], milestones=[warmup])


def batchnorm_faces(x_train: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """The training faces an averaged network's BatchNorm statistics are computed on: a fixed random subset."""
    pick = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.ema_batchnorm_faces]
    return x_train[pick]


def refresh_batchnorm(net: EmotionVGG, faces: torch.Tensor, device: torch.device, batch_size: int = 256) -> None:
    """Recompute ``net``'s BatchNorm running statistics on ``faces`` (torch's ``update_bn``, fp32)."""
    # in training mode, as update_bn runs it, BatchNorm refuses a batch of one face: a last one joins the batch before
    starts = [i for i in range(0, len(faces), batch_size) if len(faces) - i != 1 or i == 0]
    batches = [faces[i : j].to(device).contiguous(memory_format=torch.channels_last)
               for i, j in zip(starts, [*starts[1:], len(faces)])]
    update_bn(batches, channels_last(net))
    net.eval()


@contextmanager
def sharpness_aware_perturbation(model: torch.nn.Module, rho: float):
    """SAM's ascent step (Foret et al. 2021): inside, ``model``'s weights are moved by ``rho`` along their current
    gradients (normalised over all of them) and BatchNorm keeps its running statistics (the second pass is a
    probe, not more data); on exit the weights are put back, so the optimiser then steps from the original
    weights with whatever gradient was computed inside."""
    gradients = [(p, p.grad) for p in model.parameters() if p.grad is not None]
    params = [p for p, _ in gradients]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        scale = rho / (torch.linalg.vector_norm(torch.stack([grad.norm() for _, grad in gradients])) + 1e-12)
        shifts = [grad * scale for _, grad in gradients]
        for p, e in zip(params, shifts):
            p.add_(e)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
    try:
        yield
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        with torch.no_grad():
            for p, e in zip(params, shifts):
                p.sub_(e)


def starting_normalization(cfg: TrainConfig) -> Normalization | None:
    """The normalisation of the network ``cfg.init_from`` names (None: fit one on the training faces). A network
    goes on with the inputs it learnt on: fine-tuned on other faces (your own folder), a normalisation refitted on
    them fed its first layer inputs it never saw. (A second stage on the same faces fits the same one anyway.)"""
    if not cfg.init_from:
        return None
    if Path(cfg.init_from).suffix == ".pt":
        saved = Path(cfg.init_from).parent / "normalization.json"
        return Normalization.from_dict(json.loads(saved.read_text(encoding="utf-8"))) if saved.is_file() else None
    return ModelConfig.load(resolve_model_dir(cfg.init_from) / "config.json").normalization


def starting_weights(cfg: TrainConfig, x_train: torch.Tensor) -> dict[str, torch.Tensor]:
    """The weights ``cfg.init_from`` names: a training checkpoint (``.pt``), or an exported model folder or shipped
    name, rebuilt as a trainable network (:func:`fervid.training.from_model.network_from_model`; its BatchNorm
    statistics from :func:`batchnorm_faces`, the fixed random subset averaged networks use too). Its shape must be
    the config's; ``x_train`` is normalised as the starting network's faces were (:func:`starting_normalization`)."""
    if Path(cfg.init_from).suffix == ".pt":
        start = read_checkpoint(cfg.init_from)
        shape, state = NetConfig.from_dict(start["net"]), start["model"]
    else:
        net = network_from_model(cfg.init_from, batchnorm_faces(x_train, cfg))[0]  # x_train: normalised as it was
        shape, state = net.config, net.state_dict()
    _check_starting_shape(cfg, shape)
    return state


def check_starting_network(cfg: TrainConfig) -> None:
    """``cfg.init_from`` names a network this config can start from: a ``fervid train`` checkpoint (.pt), or an
    exported model folder or shipped name, of the config's [net] shape; read before any data is loaded (a typo
    in a shipped name failed with a traceback after the data had loaded, and left an empty run folder). Raises
    ValueError starting with ``init_from``."""
    if not cfg.init_from:
        return
    given = Path(cfg.init_from)
    if given.suffix == ".pt":
        try:
            shape = NetConfig.from_dict(read_checkpoint(given)["net"])
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"init_from: {exc}") from None
        _check_starting_shape(cfg, shape)
        return
    if given.is_dir() and not (given / "model.onnx").is_file() and any(
            (given / name).is_file() for name in ("last.pt", "best.pt")):
        raise ValueError(f"init_from: {cfg.init_from} is a training run's folder, not a model; give one of its "
                         f"checkpoints ({given / 'best.pt'} or {given / 'last.pt'}), or the model folder `fervid "
                         f"export {cfg.init_from} --out <model folder>` makes of it")
    try:
        model = ModelConfig.load(resolve_model_dir(cfg.init_from) / "config.json")
    except (ModelError, OSError, ValueError, KeyError) as exc:
        raise ValueError(f"init_from: {exc}") from None
    net = {k: v for k, v in model.net.items() if k != "flip_tta"}
    if model.net.get("flip_tta") or "stages" not in net:  # as network_from_model refuses it
        raise ValueError(f"init_from: {cfg.init_from} is not a single exported network (an ensemble, or exported "
                         "with flip averaging): start from one of its runs' checkpoints")
    _check_starting_shape(cfg, NetConfig.from_dict(net))


def _check_starting_shape(cfg: TrainConfig, shape: NetConfig) -> None:
    """The starting network's ``shape`` must be the config's [net] (ValueError naming what differs)."""
    # dropout is how it trains, not its shape: a fine-tune may choose its own
    wanted = cfg.net.to_dict()
    differs = {k: (v, wanted[k]) for k, v in shape.to_dict().items() if k != "dropout" and v != wanted[k]}
    if differs:
        raise ValueError(f"init_from: {cfg.init_from}: its network shape differs from this config's [net] ("
                         + ", ".join(f"{k} {v[0]} here {v[1]}" for k, v in differs.items())
                         + "); set [net] to its shape")


def write_left_out(train_ds: FaceDataset, val_ds: FaceDataset, path: Path) -> None:
    """Every file or folder the training and validation data left out, and why (``path``, CSV: path, reason,
    images: a folder counts those it holds), so that what a run did not learn from can be checked after it."""
    import csv

    rows = {name: (why, ds.left_out_images.get(name, 1))
            for ds in (train_ds, val_ds) for name, why in ds.left_out.items()}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "reason", "images"])
        writer.writerows([name, why, images] for name, (why, images) in rows.items())


def train(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True,
          stop_after: int | None = None, command: str | None = None) -> Path:
    """Train; returns the run directory holding ``best.pt``, ``last.pt``, ``metrics.jsonl`` and ``config.json``
    (and, with ``ema_decay`` or ``swa``, ``last_raw.pt``: the optimiser's weights, where ``last.pt`` holds their
    average), and ``left_out.csv``: what the data left out.

    ``stop_after`` ends this call after that many epochs (of the schedule's ``cfg.epochs``); ``resume`` then
    continues from ``last.pt`` with the same config. ``progress``: where it trains, the bars and a line per epoch
    (on stdout); without, the data's notices are still said, on stderr. ``command``: the command line that
    started or resumed it, recorded in ``commands.jsonl`` (:func:`record_command`) for the model card.

    One run at a time trains in a folder: it holds the folder's lock (``.lock``, there only while it runs) from
    before its data is read to its end, and a second run into it raises :class:`~fervid.folder_lock.FolderLocked`
    (two ran, and the folder became one's config and the other's checkpoints, their epochs interleaved in
    ``metrics.jsonl``: a run is refused as another only once its first epoch has saved ``last.pt``).
    """
    run_dir = Path(run_dir)
    for folder in (run_dir, *run_dir.parents):  # mkdir said only "[Errno 17] File exists"
        if folder.exists() and not folder.is_dir():
            raise FileExistsError(f"{folder}: is a file, not a run folder; --out names the folder a run's checkpoints "
                                  "and logs are written to" + (f" ({run_dir} cannot be made inside a file)"
                                                               if folder != run_dir else ""))
    if _init_distributed()[1] != 0:  # torchrun's other processes: rank 0's lock is the run's
        return _train_holding_the_folder(cfg, run_dir, resume, progress, stop_after, command)
    with run_folder_lock(run_dir, "another fervid train run", "wait for it to finish, or train into another folder",
                         doing="is training in this folder"):
        return _train_holding_the_folder(cfg, run_dir, resume, progress, stop_after, command)


def _train_holding_the_folder(cfg: TrainConfig, run_dir: Path, resume: bool, progress: bool,
                              stop_after: int | None, command: str | None) -> Path:
    """:func:`train`, once its folder is its own."""
    world, rank, local_rank = _init_distributed()
    main_rank = rank == 0
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")

    cfg.validate()
    cfg = cfg.with_absolute_paths()
    if main_rank:  # the config's names are the user's own: a shipped one beside a folder of that name is said
        for named in (cfg.init_from, *cfg.teachers):
            warn_of_cnn_folder_not_used(named)
    if (run_dir / "model.onnx").exists():  # an exported model: training there would replace its config.json
        raise FileExistsError(f"{run_dir}: holds an exported model (model.onnx), not a training run; train into "
                              "another folder")
    resume_state = None
    if (run_dir / "last.pt").exists():  # checked before anything is loaded, said or written
        if not resume:  # a forgotten --resume must not wipe hours of training
            raise FileExistsError(f"{run_dir}: holds a training run already (last.pt); --resume continues it, or "
                                  "train into another folder (or delete this one)")
        check_resumable(cfg, run_dir)
        # read before the data is loaded: a checkpoint of another run (another network shape failed inside torch
        # with a 60-line size-mismatch traceback) is refused, and a finished run is said to be finished
        resume_state = read_checkpoint(run_dir / "last.pt")
        check_checkpoint_matches(cfg, resume_state, run_dir / "last.pt")
        if resume_state["epoch"] >= cfg.epochs and (run_dir / "summary.json").is_file():
            raise NothingToResume(f"{run_dir}: already trained all {cfg.epochs} epoch{'s' * (cfg.epochs != 1)}; "
                                  f"nothing to resume; {train_further(run_dir)}")
        check_same_data(cfg, run_dir)
    elif resume:  # before the data is loaded and "training on ..." is said
        raise NoRunToResume(f"{run_dir / 'last.pt'}: nothing to resume from (a checkpoint is saved at the end "
                                "of each epoch: a run stopped in its first epoch starts again without --resume)")
    bf16 = resolve_bf16(cfg.bf16, device)
    check_starting_network(cfg)  # before the data: a mistyped init_from failed after minutes of loading
    if cfg.batch_size < 2 * world:  # each process's share of a batch must be a batch BatchNorm can learn from
        raise ValueError(f"batch_size {cfg.batch_size} gives {world} processes fewer than 2 faces each; give "
                         f"batch_size {2 * world} or more")
    # first: a bad data file fails before anything is said or made
    train_ds, targets, val_ds = training_data(cfg, progress=progress)
    if training_steps_per_epoch(len(train_ds), cfg.batch_size, world) == 0:
        raise DatasetError(f"{cfg.data}: {len(train_ds)} training faces are too few for {world} processes to take "
                           "2 each")
    run_dir.mkdir(parents=True, exist_ok=True)
    if main_rank and resume_state is None:  # what a --resume checks the data against (check_same_data)
        write_json(run_dir / DATA_FILES, data_fingerprint(cfg), indent=None)
        (run_dir / COMMANDS_FILE).unlink(missing_ok=True)  # a run that stopped in its first epoch left its own
    if main_rank and command is not None:
        record_command(run_dir, command, resume_state["epoch"] if resume_state is not None else None)
    if main_rank:
        write_left_out(train_ds, val_ds, run_dir / LEFT_OUT_FILE)
    if progress and main_rank:  # say where it runs before the first (long) epoch: a user expecting a GPU sees it
        where = (torch.cuda.get_device_name(device) if device.type == "cuda"
                 else f"{cpu_model()}, {thread_count(torch.get_num_threads())}")
        tqdm.write(f"training on {where}, {'bf16 autocast' if bf16 else 'fp32'}"
                   + (f", {world} processes" if world > 1 else ""))
    if main_rank:  # what the data left out or shares: said without progress too (`fervid train -q`), on stderr
        # as every command's notices (with progress they went to stdout)
        for line in folder_notices(cfg, train_ds, val_ds, str(run_dir / LEFT_OUT_FILE)):
            tqdm.write(line, file=sys.stderr)
    norm, start = Normalization.fit(train_ds.images), starting_normalization(cfg)
    if start is not None and not start.matches(norm):  # other faces than the starting network's (a second stage
        norm = start  # on the same faces keeps the one fitted, exactly as before)
    x_train = torch.from_numpy(norm(train_ds.images))
    flat_face = torch.from_numpy(-norm.global_mean / norm.scale)
    t_train = torch.from_numpy(targets)
    x_val = torch.from_numpy(norm(val_ds.images)).to(device)
    y_val = torch.from_numpy(val_ds.labels.copy()).to(device)
    teachers = load_matching_teachers(cfg.teachers, norm) if cfg.teaching != "faces" else []
    view_bank = teacher_view_bank(cfg, x_train, teachers, flat_face, progress) if cfg.teaching == "views" else None

    net = EmotionVGG(cfg.net)
    if cfg.init_from:
        net.load_state_dict(starting_weights(cfg, x_train))
    net = channels_last(net, device)
    trained = WithFer2013Head(net).to(device) if cfg.fer2013_head_weight > 0 else net
    model: torch.nn.Module = trained  # (DistributedDataParallel's wrapper with several processes)
    peer = None
    if cfg.mutual_weight > 0:
        if world > 1:
            raise ValueError("mutual_weight runs in one process (no torchrun)")
        with torch.random.fork_rng():  # the network's own initialisation and random stream stay as without a peer
            torch.manual_seed(cfg.seed + 1)
            peer = channels_last(EmotionVGG(cfg.net), device)
    if world > 1:  # DistributedDataParallel: every rank trains on its share of each batch, gradients averaged
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(trained, device_ids=[local_rank] if device.type == "cuda" else None)
    # torch's own averaging, of the parameters: exponential every step, or equal (SWA's) at every epoch's end
    averaged = (AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=False)
                if cfg.ema_decay > 0 else AveragedModel(net, use_buffers=False) if cfg.swa else None)
    bn_faces = batchnorm_faces(x_train, cfg) if averaged is not None else None
    opt = torch.optim.SGD(trained.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                          weight_decay=cfg.weight_decay)
    steps_per_epoch = training_steps_per_epoch(len(x_train), cfg.batch_size, world)
    sched = learning_rate_schedule(opt, cfg, steps_per_epoch)
    if peer is not None:
        peer_opt = torch.optim.SGD(peer.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                                   weight_decay=cfg.weight_decay)
        peer_sched = learning_rate_schedule(peer_opt, cfg, steps_per_epoch)
    gen = torch.Generator().manual_seed(cfg.seed)  # the batch order: the same on every rank
    # augmentation draws differ per rank; a single process keeps one generator (runs stay reproducible)
    aug_gen = gen if world == 1 else torch.Generator().manual_seed(cfg.seed + 1000 * rank)
    start_epoch, best_acc, elapsed = 0, -1.0, 0.0

    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if resume_state is not None:
        # on the CPU: the random generators' states must stay CPU tensors (mapped to a GPU, set_state refuses
        # them); load_state_dict puts the weights and the optimiser's buffers on the parameters' device
        state = resume_state
        net.load_state_dict(state.get("train_model", state["model"]))
        if isinstance(trained, WithFer2013Head):
            trained.fer2013_head.load_state_dict(state["fer2013_head"])
        if averaged is not None:
            averaged.load_state_dict(state["averaged"])
        if peer is not None:
            peer.load_state_dict(state["peer"])
            peer_opt.load_state_dict(state["peer_optimizer"])
            peer_sched.load_state_dict(state["peer_scheduler"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, best_acc, elapsed = state["epoch"], state["best_acc"], state.get("elapsed", 0.0)
        if main_rank and (run_dir / "metrics.jsonl").is_file():  # an epoch logged after the checkpoint was saved
            kept_lines = [line for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
                          if line and json.loads(line)["epoch"] <= start_epoch]
            # is trained again: logged once
            (run_dir / "metrics.jsonl").write_text("".join(f"{line}\n" for line in kept_lines), encoding="utf-8")
    elif main_rank:  # (a resume without last.pt was refused before the data was loaded)
        (run_dir / "metrics.jsonl").write_text("", encoding="utf-8")

    if main_rank:
        write_json(run_dir / "config.json", cfg.to_dict())
        write_json(run_dir / "normalization.json", norm.to_dict(), indent=None)

    def batch_loss(xb: torch.Tensor, tb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The main head's logits and the training loss of one batch."""
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits, fer2013_logits = (model(xb), None) if trained is net else model(xb)
            if cfg.labels == "ferplus-multi":
                loss = accepted_answer_loss(logits.float(), tb[:, :NUM_CLASSES])
            else:
                loss = F.cross_entropy(logits.float(), tb[:, :NUM_CLASSES], label_smoothing=cfg.label_smoothing)
            if fer2013_logits is not None:
                loss = loss + cfg.fer2013_head_weight * F.cross_entropy(
                    fer2013_logits.float(), tb[:, NUM_CLASSES:], label_smoothing=cfg.label_smoothing)
        return logits, loss

    def val_accuracy(logits: torch.Tensor) -> float:
        return float((logits.argmax(1) == y_val).float().mean())

    end_epoch = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    for epoch in range(start_epoch, end_epoch):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        total_loss, correct, seen = 0.0, 0, 0
        bar = progress_bar(range(steps_per_epoch), show=progress and main_rank, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                           leave=False, unit="batch")
        for step in bar:
            idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size][rank::world]
            if view_bank is not None:  # teaching "views"
                xb, tb = taught_view_batch(*view_bank, t_train, idx, cfg.teacher_weight, aug_gen)
            else:
                xb, tb = augment(x_train[idx], cfg, aug_gen, flat_face), t_train[idx]
                if cfg.teaching == "online":
                    tb = teach(tb, mean_teacher_probabilities(teachers, xb), cfg.teacher_weight)
            xb, tb = mix_batch(xb, tb, cfg, aug_gen)
            xb = xb.to(device).contiguous(memory_format=torch.channels_last)
            tb = tb.to(device)
            logits, loss = batch_loss(xb, tb)
            opt.zero_grad(set_to_none=True)
            if peer is not None:
                peer.train()
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    peer_logits = peer(xb).float()
                peer_loss = F.cross_entropy(peer_logits, tb, label_smoothing=cfg.label_smoothing)
                kl, peer_kl = mutual_terms(logits.float(), peer_logits)
                loss, peer_loss = loss + cfg.mutual_weight * kl, peer_loss + cfg.mutual_weight * peer_kl
                peer_opt.zero_grad(set_to_none=True)
                peer_loss.backward()
            loss.backward()
            if cfg.sam_rho > 0:
                with sharpness_aware_perturbation(trained, cfg.sam_rho):
                    opt.zero_grad(set_to_none=True)
                    batch_loss(xb, tb)[1].backward()
            opt.step()
            sched.step()
            if peer is not None:
                peer_opt.step()
                peer_sched.step()
            if averaged is not None and cfg.ema_decay > 0:
                averaged.update_parameters(net)
            total_loss += loss.item() * len(tb)
            # a prediction is right when its class is among the face's accepted answers (its top target class,
            # except under ferplus-multi, where all accepted answers are 1)
            correct += int((tb[:, :NUM_CLASSES].gather(1, logits.argmax(1, keepdim=True)) >=
                            tb[:, :NUM_CLASSES].max(1, keepdim=True).values).sum())
            seen += len(tb)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        if averaged is not None and cfg.swa:
            averaged.update_parameters(net)
        kept = net  # the weights validated, saved as "model", exported
        if averaged is not None:
            assert bn_faces is not None, "drawn with the averaged network"
            kept = cast(EmotionVGG, averaged.module)  # (AveragedModel's copy of net, typed as any Module)
            refresh_batchnorm(kept, bn_faces, device)
        val_logits = predict_logits(kept, x_val, bf16=bf16)
        val_loss = float(F.cross_entropy(val_logits, y_val))
        val_acc = val_accuracy(val_logits)
        raw_val_acc = None if averaged is None else val_accuracy(predict_logits(net, x_val, bf16=bf16))
        peer_val_acc = None if peer is None else val_accuracy(predict_logits(peer, x_val, bf16=bf16))
        seconds = time.perf_counter() - t0
        elapsed += seconds
        if not main_rank:
            continue
        m = EpochMetrics(epoch + 1, total_loss / seen, correct / seen, val_loss, val_acc,
                         opt.param_groups[0]["lr"], round(seconds, 1), raw_val_acc, peer_val_acc)
        with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json_text(asdict(m), indent=None) + "\n")
        train_name, val_name = split_names(cfg)
        if progress:
            peer_note = "" if peer_val_acc is None else f" (peer {peer_val_acc:.4f})"
            tqdm.write(f"epoch {m.epoch}: train loss {m.train_loss:.3f} acc {m.train_acc:.4f} | "
                       f"{val_name} loss {m.val_loss:.3f} acc {m.val_acc:.4f}{peer_note} | {seconds:.0f}s")
        lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        history = [json.loads(line) for line in lines if line]
        plot_learning_curves(history, run_dir / "learning_curves.png", f"{train_name} vs {val_name}", val_name)
        if val_acc > best_acc:
            best_acc = val_acc
            save_checkpoint({"model": kept.state_dict(), "net": cfg.net.to_dict(), "epoch": epoch + 1,
                             "val_acc": val_acc}, best_path)
        last = {"model": kept.state_dict(), "net": cfg.net.to_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                "epoch": epoch + 1, "best_acc": best_acc, "elapsed": elapsed,
                "config": cfg.to_dict()}  # what --resume checks it against (check_checkpoint_matches)
        if isinstance(trained, WithFer2013Head):
            last["fer2013_head"] = trained.fer2013_head.state_dict()
        if peer is not None:
            last.update(peer=peer.state_dict(), peer_optimizer=peer_opt.state_dict(),
                        peer_scheduler=peer_sched.state_dict())
            # the peer as a network of its own, exportable (`fervid export --checkpoint last_peer.pt`)
            save_checkpoint({"model": peer.state_dict(), "net": cfg.net.to_dict(), "epoch": epoch + 1,
                             "val_acc": peer_val_acc}, run_dir / "last_peer.pt")
        if averaged is not None:
            last.update(train_model=net.state_dict(), averaged=averaged.state_dict())
            # the optimiser's own last weights, exportable beside the average (`fervid export --checkpoint`)
            save_checkpoint({"model": net.state_dict(), "net": cfg.net.to_dict(), "epoch": epoch + 1,
                             "val_acc": raw_val_acc}, run_dir / "last_raw.pt")
        save_checkpoint(last, last_path)

    if world > 1:
        # every rank records a fingerprint of its weights: DDP must leave them identical
        digest = hashlib.sha256(b"".join(p.detach().cpu().numpy().tobytes() for p in net.parameters())).hexdigest()
        (run_dir / f"weights_rank{rank}.sha256").write_text(digest, encoding="utf-8")
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
        if not main_rank:
            return run_dir
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    history = [json.loads(line) for line in lines if line]
    summary = {"best_val_acc": best_acc, "last_val_acc": history[-1]["val_acc"] if history else None,
               "epochs": cfg.epochs, "wall_seconds": round(elapsed, 1),
               "train_rows": len(train_ds), "val_rows": len(val_ds), "torch": torch.__version__,
               # what each emotion was taught from: one with none has an output the run never taught
               "train_class_counts": {e: int((train_ds.labels == i).sum()) for i, e in enumerate(EMOTIONS)},
               "machine": f"{platform.machine()}, {thread_count(torch.get_num_threads())}",
               "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
               "precision": "bf16 autocast" if bf16 else "fp32",
               "seconds_per_epoch": round(elapsed / max(cfg.epochs, 1), 1),
               "world_size": world, **held_out_by(cfg, train_ds, val_ds)}
    write_json(run_dir / "summary.json", summary)
    return run_dir


def _init_distributed() -> tuple[int, int, int]:
    """(world size, rank, local rank); joins the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 1, 0, 0
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return world, dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0"))


# Settings a resumed run may change: where and how fast it runs, not what it computes
RESUME_MAY_CHANGE = ("threads", "bf16")


def save_checkpoint(state: dict, path: Path) -> None:
    """Write a checkpoint whole or not at all: into a temporary file, then renamed over the old one. Killed in the
    middle of torch.save, ``last.pt`` was left empty, and the run could neither resume nor start again. Renamed
    again for a moment where Windows refuses it (its virus scanner reading the new file): once, it failed the run."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    replace_retrying(tmp, path)


class ConfigChanged(ValueError):
    """``--resume`` with a config other than the run's own (the command line's mistake: exit 2)."""


class NoRunToResume(FileNotFoundError):
    """``--resume`` of a folder with no checkpoint to continue from (the command line's mistake: exit 2)."""


def train_further(run_dir: Path) -> str:
    """How a finished run trains on: a new run starting from its weights (a resumed run cannot plan more epochs)."""
    return (f"to train it further, start a new run from its weights: init_from = \"{Path(run_dir) / 'last.pt'}\" in "
            "a config, trained into another folder (its schedule starts afresh)")


def check_resumable(cfg: TrainConfig, run_dir: Path) -> None:
    """A resumed run continues the schedule, optimiser and network its checkpoint holds, so its config must be
    the one the run started with (a changed epoch count broke the learning-rate schedule an epoch later, another
    network shape failed inside torch). Raises :class:`ConfigChanged` naming what differs."""
    saved_file = Path(run_dir) / "config.json"
    if not saved_file.is_file():
        return
    # files compared by where they are (a run before this version saved them as given, relative to its folder)
    saved = TrainConfig.from_dict(json.loads(saved_file.read_text(encoding="utf-8"))).with_absolute_paths().to_dict()
    saved = json.loads(json.dumps(saved))
    current = json.loads(json.dumps(cfg.with_absolute_paths().to_dict()))  # tuples as lists, as in the file
    changed = sorted(k for k in set(saved) | set(current)
                     if k not in RESUME_MAY_CHANGE and saved.get(k) != current.get(k))
    if not changed:
        return
    metrics_file = Path(run_dir) / "metrics.jsonl"
    logged = metrics_file.read_text(encoding="utf-8").splitlines() if metrics_file.is_file() else []
    # a finished run has nothing left to resume, with its settings or others (--epochs 8 after 6 asks for more)
    finished = bool(logged) and json.loads(logged[-1])["epoch"] >= saved["epochs"]
    raise ConfigChanged(f"{saved_file}: --resume continues this run with its own config, and this one differs in "
                        + ", ".join(f"{k} ({saved.get(k)!r} -> {current.get(k)!r})" for k in changed)
                        + (f"; the run has trained all its {saved['epochs']} epochs, so nothing is left to resume: "
                           + train_further(run_dir) if finished else
                           "; resume with the run's own settings (no --config, and no option that changes them) "
                           "or train into another folder"))


class NothingToResume(Exception):
    """``train(..., resume=True)`` on a run that has trained all its epochs: nothing is left to train."""


def check_checkpoint_matches(cfg: TrainConfig, state: dict, path: Path) -> None:
    """``state`` (the checkpoint ``path``, read) must be of the run ``cfg`` describes: its network shape, and where
    the checkpoint stores it (since this version), its run's config (another dataset or recipe of the same shape
    would resume silently). Raises ValueError naming the file and what differs, before anything is loaded."""
    run_config = path.parent / "config.json"
    described = str(run_config) if run_config.is_file() else "this config"
    net = json.loads(json.dumps(cfg.net.to_dict()))
    differs = [(f"net.{k}", v, net.get(k)) for k, v in json.loads(json.dumps(state["net"])).items() if v != net.get(k)]
    if isinstance(state.get("config"), dict):
        stored = json.loads(json.dumps(state["config"]))
        current = json.loads(json.dumps(cfg.to_dict()))
        differs += [(k, stored.get(k), current.get(k)) for k in sorted(set(stored) | set(current))
                    if k not in RESUME_MAY_CHANGE and k != "net" and stored.get(k) != current.get(k)]
    if differs:
        raise ValueError(f"{path}: this checkpoint is not of the run {described} describes; it differs in "
                         + ", ".join(f"{k} ({a!r} in the checkpoint, {b!r} in the config)" for k, a, b in differs)
                         + "; resume a run from its own folder, or train this config into a new one without --resume")


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint ``fervid train`` wrote (on the CPU); any other file is refused by name (ValueError), not
    with torch's or pickle's own error."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # pickle, zipfile and torch raise many kinds for a file that is not a checkpoint
        raise ValueError(f"{path}: not a torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or not {"net", "model"} <= state.keys():
        raise ValueError(f"{path}: not a checkpoint written by `fervid train` (no network shape and weights in it)")
    return state


def load_net(checkpoint: str | Path | dict) -> EmotionVGG:
    """The network of a checkpoint file, or of a checkpoint already read (:func:`read_checkpoint`)."""
    state = checkpoint if isinstance(checkpoint, dict) else read_checkpoint(checkpoint)
    net = EmotionVGG(NetConfig.from_dict(state["net"]))
    net.load_state_dict(state["model"])
    return net.eval()
