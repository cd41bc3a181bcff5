"""The published paper's experiments, reproduced with honest protocols (imports torch).

Models (all output the 7 fervid classes):
- ``lstm-cnn``: the paper's model: per-frame 512-d CNN features -> LSTM 128 -> dropout -> LSTM 64 -> dropout ->
  dense 7 (the paper's "flatten" is the last step's output, so one model serves any sequence length).
- ``lstm-pixels``: the same LSTM on raw normalised pixels (2304 per frame), no CNN: the paper's ablation.
- ``cnn-finetune``: the FER2013 CNN itself, all layers fine-tuned on the frames; a sequence is classified by
  averaging its frames' probabilities.

Random splits are repeated 5 times with different seeds (one split of 26 JAFFE test images swings by 10
points), and the pooled and per-split accuracies are reported.

Samples: a CK+ sequence is its 3 consecutive frames (CK+48 holds the last 3 of each sequence); a JAFFE image
is a sequence of length 1. Protocols: ``random`` (the paper's: 80/20 per dataset, 70/10/20 for the combined
set; the same person lands on both sides) and ``subject`` (subject-independent: CK+ 10-fold by subject, JAFFE
leave-one-subject-out, the combined set 10-fold by subject). Predictions of all test folds are pooled into one
confusion matrix; per-fold accuracies are reported too.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, train_test_split
from torch import nn

from fervid.inference.align import preprocess_faces
from fervid.inference.annotate import naming_file
from fervid.emotions import EMOTIONS, NUM_CLASSES
from fervid.evaluation.datasets import Sequences
from fervid.evaluation.evaluate import Evaluation, plot_learning_curves, read_as_missing_notes, score
from fervid.inference.models import EmotionCNN, file_sha256
from fervid.inference.options import SEED_MAX, check_seed
from fervid.inference.set_aside import staged_outputs
from fervid.json_files import write_json
from fervid.training.network import PaperLSTM

MODELS = ("lstm-cnn", "lstm-pixels", "cnn-finetune")
PROTOCOLS = ("random", "subject")


def splits(seq: Sequences, protocol: str, seed: int = 0, folds: int = 10, test_size: float = 0.2,
           repeats: int = 5):
    """Yield (train indices, test indices) pairs: ``repeats`` stratified random splits, or subject folds."""
    n = len(seq.labels)
    if protocol == "random":
        for r in range(repeats):
            # (wrapped: the last seeds' neighbours are past scikit-learn's 32 bits)
            train_idx, test_idx = train_test_split(np.arange(n), test_size=test_size,
                                                   random_state=(seed + r) % (SEED_MAX + 1), stratify=seq.labels)
            yield train_idx, test_idx
    elif protocol == "subject":
        n_subjects = len(set(seq.subjects.tolist()))
        splitter = LeaveOneGroupOut() if n_subjects <= folds else GroupKFold(n_splits=folds)
        yield from splitter.split(np.zeros(n), seq.labels, seq.subjects)
    else:
        raise ValueError(f"protocol must be one of {PROTOCOLS}")


@dataclass
class ExperimentResult:
    dataset: str
    model: str
    protocol: str
    evaluation: Evaluation
    fold_accuracies: list[float]
    history: list[list[dict]] = field(default_factory=list)  # per fold, per epoch
    seconds: float = 0.0
    # what made the numbers: the CNN (name, weights digest, graph precision), checkpoint, seed, epochs, splits
    settings: dict = field(default_factory=dict)
    # one row per test sample: fold, sequence, subject, label, predicted (a significance test, or a check that no
    # subject is on both sides, needs them); written as <stem>_predictions.csv, not into the JSON
    predictions: list[dict] = field(default_factory=list)

    def notes(self) -> list[str]:
        """How to read its predictions CSV where a column holds a name pandas and R read as missing (JAFFE's
        subject NA: :func:`fervid.evaluation.evaluate.read_as_missing_notes`, as `evaluate`'s report.md says it)."""
        import pandas as pd

        if not self.predictions:
            return []
        stem = output_stem(self.dataset, self.model, self.protocol)
        return read_as_missing_notes({f"{stem}_predictions": pd.DataFrame(self.predictions)})

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("predictions")
        out["notes"] = self.notes()
        out["fold_accuracy_mean"] = float(np.mean(self.fold_accuracies))
        # the sample sd (n - 1): over 5-10 folds the n divisor understates the spread by 5-11%
        out["fold_accuracy_std"] = float(np.std(self.fold_accuracies, ddof=1)) if len(self.fold_accuracies) > 1 \
            else None
        return out


def _inputs(cnn: EmotionCNN, frames: np.ndarray, model: str) -> np.ndarray:
    """(N, T, 48, 48) uint8 -> per-frame model inputs (N, T, D)."""
    n, t = frames.shape[:2]
    _, x = preprocess_faces(frames.reshape(n * t, 48, 48), cnn.config.normalization)
    if model == "lstm-cnn":
        feats = np.concatenate([cnn(x[i : i + 256]).features for i in range(0, len(x), 256)])
        return feats.reshape(n, t, -1)
    return x.reshape(n, t, -1)


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def _fit(net: ModuleT, opt, xt: torch.Tensor, yt: torch.Tensor, batch_size: int, epochs: int, seed: int,
         validate, transform=None) -> tuple[ModuleT, list[dict]]:
    """The shared training loop; keeps the weights of the epoch with the best validation accuracy (ties broken by
    the lower validation loss: small validation sets tie on accuracy). ``validate(net) -> (accuracy, loss)``."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, not {epochs}")
    gen = torch.Generator().manual_seed(seed)
    history, best, best_state = [], (-1.0, -np.inf), None
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        loss_sum, correct = 0.0, 0
        for i in range(0, len(xt), batch_size):
            idx = order[i : i + batch_size]
            logits = net(xt[idx] if transform is None else transform(xt[idx], gen))
            loss = F.cross_entropy(logits, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yt[idx]).sum())
        val_acc, val_loss = validate(net)
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / len(xt), "train_acc": correct / len(xt),
                        "val_loss": val_loss, "val_acc": val_acc})
        if (val_acc, -val_loss) > best:
            best, best_state = (val_acc, -val_loss), {k: v.clone() for k, v in net.state_dict().items()}
    assert best_state is not None, "the first epoch's accuracy (0 or more) beats -1"
    net.load_state_dict(best_state)
    return net.eval(), history


def train_lstm(x_tr, y_tr, x_val, y_val, epochs: int = 80, lr: float = 1e-3, seed: int = 0,
               dropout: float = 0.5) -> tuple[PaperLSTM, list[dict]]:
    """The paper's LSTM: Adam, batch 32."""
    torch.manual_seed(seed)
    net = PaperLSTM(x_tr.shape[-1], dropout)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    xv, yv = torch.from_numpy(x_val).float(), torch.from_numpy(y_val).long()

    @torch.no_grad()
    def validate(model):
        model.eval()
        if not len(yv):
            return 0.0, 0.0
        logits = model(xv)
        return float((logits.argmax(1) == yv).float().mean()), float(F.cross_entropy(logits, yv))

    return _fit(net, opt, torch.from_numpy(x_tr).float(), torch.from_numpy(y_tr).long(), 32, epochs, seed, validate)


def finetune_cnn(cnn_checkpoint: Path, cnn: EmotionCNN, f_tr, y_tr, f_val, y_val, epochs: int = 12,
                 lr: float = 0.005, seed: int = 0) -> tuple[nn.Module, list[dict]]:
    """Fine-tune every layer of the FER2013 CNN on single frames (each frame carries its sequence's label), with
    the training augmentation; a sequence is scored by its frames' mean probabilities."""
    from fervid.training.train import TrainConfig, augment, load_net

    torch.manual_seed(seed)
    net = load_net(cnn_checkpoint)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    t = f_tr.shape[1]
    xt = torch.from_numpy(preprocess_faces(f_tr.reshape(-1, 48, 48), cnn.config.normalization)[1])
    yt = torch.from_numpy(np.repeat(y_tr, t)).long()
    cfg = TrainConfig()

    def validate(model):
        if not len(y_val):
            return 0.0, 0.0
        probs = _cnn_sequence_probs(model, cnn, f_val)
        return (float((probs.argmax(1) == y_val).mean()),
                float(-np.log(probs[np.arange(len(y_val)), y_val] + 1e-9).mean()))

    return _fit(net, opt, xt, yt, 64, epochs, seed, validate, transform=lambda x, gen: augment(x, cfg, gen))


@torch.no_grad()
def _cnn_sequence_probs(net: nn.Module, cnn: EmotionCNN, frames: np.ndarray) -> np.ndarray:
    net.eval()
    n, t = frames.shape[:2]
    if n == 0:
        return np.zeros((0, NUM_CLASSES), np.float32)
    x = torch.from_numpy(preprocess_faces(frames.reshape(-1, 48, 48), cnn.config.normalization)[1])
    probs = torch.softmax(net(x), 1).numpy().reshape(n, t, -1)
    return probs.mean(axis=1)


def run_experiment(seq: Sequences, model: str, protocol: str, cnn: EmotionCNN, cnn_checkpoint: Path | None = None,
                   seed: int = 0, epochs: int | None = None, folds: int = 10, val_fraction: float = 0.125,
                   test_size: float = 0.2, progress: bool = False) -> ExperimentResult:
    """Train and test ``model`` under ``protocol``; a slice of each training part (``val_fraction``) is held out
    for choosing the epoch, never the test part. ``progress``: a bar over the splits/folds."""
    from fervid.progress import progress_bar

    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be at least 1 (None: the model's default), not {epochs}")
    check_seed("seed", seed)
    if model == "cnn-finetune" and cnn_checkpoint is None:
        raise ValueError("cnn-finetune needs the CNN's torch checkpoint")
    if model != "cnn-finetune" and cnn_checkpoint is not None:
        raise ValueError(f"a CNN checkpoint is fine-tuned by cnn-finetune only; {model} would ignore it")
    if cnn_checkpoint is not None:
        check_checkpoint_of(cnn_checkpoint, cnn)
    t0 = time.perf_counter()
    inputs = None if model == "cnn-finetune" else _inputs(cnn, seq.frames, model)
    y_true, y_pred, tested, fold_acc, histories, predictions = [], [], [], [], [], []
    parts = list(splits(seq, protocol, seed, folds, test_size))
    keys = seq.keys or [str(i) for i in range(len(seq.labels))]
    for fold, (train_idx, test_idx) in enumerate(progress_bar(parts, show=progress, desc=f"{model}, {protocol} "
                                                              "splits", unit="split", leave=False)):
        rng = np.random.default_rng(seed + fold)
        shuffled = rng.permutation(train_idx)
        n_val = max(1, int(round(len(shuffled) * val_fraction)))
        val_idx, fit_idx = shuffled[:n_val], shuffled[n_val:]
        if model == "cnn-finetune":
            assert cnn_checkpoint is not None, "cnn-finetune without a checkpoint is refused above"
            net, history = finetune_cnn(cnn_checkpoint, cnn, seq.frames[fit_idx], seq.labels[fit_idx],
                                        seq.frames[val_idx], seq.labels[val_idx],
                                        epochs=12 if epochs is None else epochs, seed=seed)
            pred = _cnn_sequence_probs(net, cnn, seq.frames[test_idx]).argmax(1)
        else:
            assert inputs is not None, "read for every model but cnn-finetune"
            net, history = train_lstm(inputs[fit_idx], seq.labels[fit_idx], inputs[val_idx], seq.labels[val_idx],
                                      epochs=80 if epochs is None else epochs, seed=seed)
            with torch.no_grad():
                pred = net(torch.from_numpy(inputs[test_idx]).float()).argmax(1).numpy()
        y_true.append(seq.labels[test_idx])
        y_pred.append(pred)
        tested += [str(seq.subjects[i]) for i in test_idx]
        predictions += [{"fold": fold + 1, "sequence": keys[i], "subject": str(seq.subjects[i]),
                         "label": EMOTIONS[int(seq.labels[i])], "predicted": EMOTIONS[int(p)]}
                        for i, p in zip(test_idx, pred)]
        fold_acc.append(float((pred == seq.labels[test_idx]).mean()))
        histories.append(history)
    # a person's sequences are not independent draws: the accuracy's interval resamples people
    ev = score(np.concatenate(y_true), np.concatenate(y_pred), seq.name, subjects=tested)
    # what ran: lstm-pixels uses the CNN's normalisation only, cnn-finetune the checkpoint's weights
    # (a checkpoint is cnn-finetune's, and only its: checked above), lstm-cnn the features of the graph that ran
    # (the int8 one by default: model.onnx's digest stays the same when it is re-quantized)
    used = ({"cnn": cnn.config.name, "cnn_checkpoint": str(cnn_checkpoint),
             "cnn_checkpoint_sha256": file_sha256(cnn_checkpoint)[:16]} if cnn_checkpoint is not None else
            {"pixels_normalised_as": cnn.config.name} if model == "lstm-pixels" else
            {"cnn": cnn.config.name, **{f"cnn_{key}": value for key, value in cnn.weights_identity.items()},
             "cnn_precision": cnn.precision})
    settings = {**used, "seed": seed,
                "epochs": epochs if epochs is not None else (12 if model == "cnn-finetune" else 80),
                "folds": len(fold_acc), "test_size": test_size if protocol == "random" else None,
                "val_fraction": val_fraction}
    return ExperimentResult(seq.name, model, protocol, ev, fold_acc, histories, round(time.perf_counter() - t0, 1),
                            settings, predictions)


def check_checkpoint_of(checkpoint: Path, cnn: EmotionCNN) -> None:
    """Refuse a checkpoint that is not ``cnn``'s network (ValueError): fine-tuning feeds it faces normalised as
    ``cnn`` was trained, so another run's network saw other inputs than it learnt from."""
    from fervid.inference.align import Normalization
    from fervid.training.train import load_net

    shape = load_net(checkpoint).config.to_dict()  # ValueError: not a checkpoint fervid train wrote
    net = {**cnn.config.net}
    net.setdefault("batch_norm", True)  # (exported before it was recorded: with BatchNorm, as every network was)
    expected = {k: v for k, v in net.items() if k in shape}
    if any(shape[k] != expected[k] for k in expected):
        raise ValueError(f"{checkpoint}: its network ({shape}) is not CNN {cnn.config.name!r}'s ({expected}); give "
                         "the model exported from the checkpoint's run (--cnn)")
    run_norm = checkpoint.parent / "normalization.json"
    if run_norm.is_file():
        norm = Normalization.from_dict(json.loads(run_norm.read_text(encoding="utf-8")))
        if not norm.matches(cnn.config.normalization):
            raise ValueError(f"{checkpoint}: its run normalises faces differently from CNN {cnn.config.name!r}; give "
                             "the model exported from that run (--cnn)")


def output_stem(dataset: str, model: str, protocol: str) -> str:
    """What the outputs :func:`save_result` writes of an experiment are named by: ``<stem>.json`` and
    ``<stem>_*``."""
    return f"{dataset}_{model}_{protocol}"


def save_result(result: ExperimentResult, out_dir: Path) -> Path:
    from fervid.evaluation.evaluate import plot_confusion

    stem = output_stem(result.dataset, result.model, result.protocol)
    # together (staged_outputs: one open in Excel, none is replaced, and it is said to be)
    with staged_outputs(out_dir) as staging:
        with naming_file(staging / f"{stem}.json"):  # (a full disk fails the write, naming no file)
            write_json(staging / f"{stem}.json", result.to_dict())
        if result.predictions:
            import pandas as pd

            with naming_file(staging / f"{stem}_predictions.csv"):
                pd.DataFrame(result.predictions).to_csv(staging / f"{stem}_predictions.csv", index=False)
        plot_confusion(result.evaluation, staging / f"{stem}_confusion.png",
                       f"{result.model} on {result.dataset} ({result.protocol} split): accuracy "
                       f"{result.evaluation.accuracy:.3f}")
        plot_learning_curves(result.history[0], staging / f"{stem}_curves.png",
                             f"{result.model} on {result.dataset} ({result.protocol}), fold 1")
    return out_dir / f"{stem}.json"
