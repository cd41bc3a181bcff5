"""fervid's VGG-style CNN (training side; imports torch): the published design's building blocks, not its shape.

3x3 convolutions with stride 1 and padding 1, batch norm (unless ``batch_norm`` is off, as in the published
design) and ReLU after every convolution, 2x2 max-pool with stride 2 after each stage, filter counts doubling from
32, dropout before the classifier, and a 512-d penultimate layer whose activations are fervid's per-face feature. Faces always arrive as 48x48 crops (FER2013's
geometry); a network with a larger ``input_size`` upsamples them itself as its first step.

The paper's CNN has three rounds of 32, 64 and 128 filters and, it says, no normalisation; fervid's shipped networks
have four stages (32 to 256 filters) with batch norm after every convolution and on the 512-d feature (README.md,
"The CNN", lists what differs). :class:`PaperLSTM` is the paper's LSTM as it describes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import cast

import torch
from pydantic import StrictBool
from torch import nn
from torch.nn import functional as F

from fervid.emotions import NUM_CLASSES
from fervid.inference.align import CROP_SIZE  # the side of the grey crops every network receives


@dataclass
class NetConfig:
    """Shape of the network; stored with the weights so the same net can be rebuilt."""

    stages: tuple[int, ...] = (32, 64, 128, 256)  # filters per stage; each stage ends in a 2x2 max-pool
    convs_per_stage: tuple[int, ...] = (1, 2, 2, 2)
    feature_dim: int = 512
    dropout: float = 0.4
    # The resolution the convolutions work at. Faces come in at CROP_SIZE (48, FER2013's native size); a larger
    # value upsamples them bilinearly inside the network (and so inside its ONNX graph), as Barsoum et al. fed
    # FER+ faces to their VGG13 at 64x64. Upsampling in the graph rather than in the data keeps the crop,
    # normalisation and every caller at 48x48, and adds no detail the training faces never had.
    input_size: int = 48
    # BatchNorm after every convolution and after the dense layer (fervid's networks). False: none, as the published
    # design's network ("We don't add normalization function in this model since the performance does not
    # improve"); the convolutions then carry their own biases
    batch_norm: StrictBool = True  # (a config's `batch_norm = 0` is refused, as TrainConfig's true/false options)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot build a network (checked where a config is read:
        an EmotionVGG built from it failed only after the training data had loaded)."""
        if len(self.stages) != len(self.convs_per_stage):
            raise ValueError(f"[net] stages and convs_per_stage must have the same length (one count of convolutions "
                             f"per stage), not {len(self.stages)} ({list(self.stages)}) and "
                             f"{len(self.convs_per_stage)} ({list(self.convs_per_stage)})")
        if not self.stages or any(w < 1 for w in self.stages):
            raise ValueError(f"[net] stages must be one or more filter counts, each 1 or more, not {list(self.stages)}")
        if any(n < 1 for n in self.convs_per_stage):
            raise ValueError(f"[net] convs_per_stage must each be 1 or more, not {list(self.convs_per_stage)}")
        if self.feature_dim < 1:
            raise ValueError(f"[net] feature_dim must be 1 or more, not {self.feature_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"[net] dropout must be at least 0 and below 1, not {self.dropout}")
        if self.input_size < CROP_SIZE:
            raise ValueError(f"[net] input_size {self.input_size} is below the {CROP_SIZE}x{CROP_SIZE} faces it "
                             "receives; the network upsamples, it does not shrink")
        if self.input_size // 2 ** len(self.stages) < 1:
            raise ValueError(f"[net] {len(self.stages)} stages halve input_size {self.input_size} to nothing; use "
                             "fewer stages or a larger input_size")

    @classmethod
    def from_dict(cls, data: dict) -> NetConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("stages", "convs_per_stage"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


class EmotionVGG(nn.Module):
    """forward(x) -> logits; features(x) -> the 512-d penultimate activations."""

    def __init__(self, config: NetConfig = NetConfig()):
        super().__init__()
        config.validate()
        self.config = config
        layers: list[nn.Module] = []
        channels = 1
        for width, n_convs in zip(config.stages, config.convs_per_stage):
            for _ in range(n_convs):
                # a bias before a BatchNorm is cancelled by its mean: only a convolution without one needs it
                layers.append(nn.Conv2d(channels, width, kernel_size=3, stride=1, padding=1,
                                        bias=not config.batch_norm))
                if config.batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU(inplace=True))
                channels = width
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.body = nn.Sequential(*layers)
        spatial = config.input_size // 2 ** len(config.stages)
        self.embed = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(config.dropout),
            nn.Linear(channels * spatial * spatial, config.feature_dim),
            *([nn.BatchNorm1d(config.feature_dim)] if config.batch_norm else []),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.feature_dim, NUM_CLASSES))
        if not config.batch_norm:
            # without BatchNorm to rescale them, torch's default initialisation (variance 1/(3 fan_in)) shrinks
            # the signal at each ReLU layer: the paper's network (configs/paper_cnn.toml: its 512-d features at an
            # RMS of 0.01 for unit-variance input) stayed at the commonest class (0.249 on 1,000 validation faces)
            # through 3 epochs of 8,000 faces at lr 0.05, and 2 at lr 0.01; with He's initialisation (as
            # torchvision's VGG has) it reached 0.340 in the same 3 epochs at lr 0.05 (2026-12-06, the 2-core AVX-512
            # EPYC). Networks with BatchNorm keep the default, and so every seed's run as it was
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.input_size != CROP_SIZE:
            x = F.interpolate(x, size=(self.config.input_size, self.config.input_size), mode="bilinear",
                              align_corners=False)
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ExportWrapper(nn.Module):
    """What the ONNX file computes: (logits over 7 classes, 512-d features).

    Logits rather than probabilities, so that calibration (a temperature) stays a number in the model's
    config instead of requiring a new export.
    """

    def __init__(self, net: EmotionVGG, flip_tta: bool = False):
        super().__init__()
        self.net = net
        self.flip_tta = flip_tta  # test-time augmentation: average the face and its mirror image

    def forward(self, x: torch.Tensor):
        feats = self.net.features(x)
        if self.flip_tta:
            feats = (feats + self.net.features(torch.flip(x, dims=[3]))) / 2
        return self.net.head(feats), feats


class EnsembleWrapper(nn.Module):
    """Several trained networks averaged inside one exported graph: (log of the mean probabilities, the first
    member's 512-d features).

    The input is normalised as the first member was trained; every other member's own normalisation is an affine
    map of it (``x * scale_i + shift_i``, folded into the graph), so each member sees faces as it was trained.
    ``softmax(log(mean p)) == mean p``, so the output stays usable as logits (calibration divides it by a
    temperature). The features are the first member's, which lets its temporal LSTM read them.
    """

    def __init__(self, nets: list[EmotionVGG], scales: list[float], shifts: list[torch.Tensor]):
        super().__init__()
        if not nets or not (len(nets) == len(scales) == len(shifts)):
            raise ValueError("an ensemble needs one scale and shift per network")
        self.nets = nn.ModuleList(nets)
        self.scales = scales
        for i, shift in enumerate(shifts):
            self.register_buffer(f"shift{i}", shift.reshape(1, 1, *shift.shape[-2:]).float())

    def forward(self, x: torch.Tensor):
        first = cast(EmotionVGG, self.nets[0])  # (a ModuleList's members are typed as any Module)
        feats = first.features(x)
        probs = first.head(feats).softmax(1)
        for i, net in enumerate(self.nets[1:], start=1):
            probs = probs + net(x * self.scales[i] + getattr(self, f"shift{i}")).softmax(1)
        return torch.log(probs / len(self.nets)), feats


class PaperLSTM(nn.Module):
    """LSTM(128) -> dropout -> LSTM(64) -> dropout -> dense(7), over (batch, time, features)."""

    def __init__(self, input_dim: int, dropout: float = 0.5, hidden: tuple[int, int] = (128, 64)):
        super().__init__()
        self.lstm1 = nn.LSTM(input_dim, hidden[0], batch_first=True)
        self.drop1 = nn.Dropout(dropout)
        self.lstm2 = nn.LSTM(hidden[0], hidden[1], batch_first=True)
        self.drop2 = nn.Dropout(dropout)
        self.head = nn.Linear(hidden[1], NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm1(x)
        h, _ = self.lstm2(self.drop1(h))
        return self.head(self.drop2(h[:, -1]))
