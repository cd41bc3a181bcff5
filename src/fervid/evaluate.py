"""Evaluating a model on a labelled dataset, and writing the model card (no torch: runs the ONNX model)."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from fervid.align import preprocess_faces
from fervid.datasets import FaceDataset
from fervid.emotions import EMOTIONS
from fervid.features import EmotionCNN


@dataclass
class Evaluation:
    """Metrics of one model on one dataset; per-class lists are in ``EMOTIONS`` order."""

    dataset: str
    n: int
    accuracy: float
    macro_f1: float
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    confusion: list[list[int]]  # rows: true class, columns: predicted class

    def to_dict(self) -> dict:
        return asdict(self)

    def per_class_table(self) -> str:
        """Markdown table in the layout of the published paper's Tables 1-4."""
        lines = ["| emotion | precision | recall | f1-score | support |", "|---|---|---|---|---|"]
        for i, name in enumerate(EMOTIONS):
            lines.append(f"| {name} | {self.precision[i]:.3f} | {self.recall[i]:.3f} | {self.f1[i]:.3f} "
                         f"| {self.support[i]} |")
        lines.append(f"| **accuracy** | | {self.accuracy:.4f} | macro-F1 {self.macro_f1:.3f} | {self.n} |")
        return "\n".join(lines)

    def confusion_table(self) -> str:
        head = "| true \\ predicted | " + " | ".join(EMOTIONS) + " |"
        lines = [head, "|---" * (len(EMOTIONS) + 1) + "|"]
        for name, row in zip(EMOTIONS, self.confusion):
            lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
        return "\n".join(lines)


def score(y_true: np.ndarray, y_pred: np.ndarray, dataset: str = "") -> Evaluation:
    labels = list(range(len(EMOTIONS)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return Evaluation(
        dataset=dataset,
        n=int(len(y_true)),
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        precision=[round(float(v), 4) for v in p],
        recall=[round(float(v), 4) for v in r],
        f1=[round(float(v), 4) for v in f],
        support=[int(v) for v in s],
        confusion=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    )


def predict_dataset(cnn: EmotionCNN, ds: FaceDataset, batch_size: int = 256) -> np.ndarray:
    """Probabilities (N, 7) for already-cropped faces, through the same preprocessing as inference."""
    out = []
    for i in range(0, len(ds), batch_size):
        _, x = preprocess_faces(ds.images[i : i + batch_size], cnn.config.normalization,
                                template=cnn.config.template)
        out.append(cnn(x).probabilities)
    return np.concatenate(out) if out else np.zeros((0, len(EMOTIONS)), np.float32)


def evaluate(cnn: EmotionCNN, ds: FaceDataset) -> Evaluation:
    probs = predict_dataset(cnn, ds)
    return score(ds.labels, probs.argmax(1), ds.name)


def plot_confusion(ev: Evaluation, path: str | Path, title: str = "") -> Path:
    """Confusion matrix PNG: counts on the left, row-normalised (recall) on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(ev.confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, data, fmt, sub in ((axes[0], cm, "{:.0f}", "counts"), (axes[1], norm, "{:.2f}", "row-normalised")):
        ax.imshow(data, cmap="Blues")
        ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
        ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(sub)
        top = data.max() or 1
        for i in range(len(EMOTIONS)):
            for j in range(len(EMOTIONS)):
                ax.text(j, i, fmt.format(data[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if data[i, j] > top / 2 else "black")
    fig.suptitle(title or f"{ev.dataset}: accuracy {ev.accuracy:.4f}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_model_card(model_dir: str | Path, ev: Evaluation, command: str, data: str) -> dict:
    """Write ``card.json`` and ``MODEL_CARD.md`` into a model folder from a measured evaluation."""
    model_dir = Path(model_dir)
    summary = _read_json(model_dir / "training_summary.json")
    train_cfg = _read_json(model_dir / "training_config.json")
    metrics = []
    if (model_dir / "training_metrics.jsonl").is_file():
        metrics = [json.loads(line) for line in (model_dir / "training_metrics.jsonl").read_text().splitlines() if line]
    cfg = json.loads((model_dir / "config.json").read_text())
    size_mb = (model_dir / "model.onnx").stat().st_size / 1e6
    card = {
        "name": cfg["name"],
        "task": "7-class facial expression recognition on aligned grey 48x48 faces",
        "classes": list(EMOTIONS),
        "architecture": {"type": "VGG-style CNN", **cfg["net"]},
        "training": {
            "command": command,
            "data": data,
            "epochs": summary.get("epochs", train_cfg.get("epochs")),
            "wall_seconds": summary.get("wall_seconds"),
            "machine": summary.get("machine"),
            "torch": summary.get("torch"),
            "train_rows": summary.get("train_rows"),
            "best_epoch": max(metrics, key=lambda m: m["val_acc"])["epoch"] if metrics else None,
            "config": train_cfg,
        },
        "evaluation": ev.to_dict(),
        "onnx_megabytes": round(size_mb, 2),
        "evaluated_on": platform.platform(),
        "limitations": [
            "FER2013 faces are mostly frontal web images; accuracy drops on profile views, strong lighting "
            "and posed lab data (see docs for cross-dataset numbers when available).",
            "Emotion labels describe facial expressions, not felt emotions.",
            "PublicTest was used for model selection (best epoch), so its accuracy is slightly optimistic.",
        ],
    }
    (model_dir / "card.json").write_text(json.dumps(card, indent=2))
    md = [
        f"# Model card: {cfg['name']}",
        "",
        card["task"] + ". Outputs logits over "
        + ", ".join(EMOTIONS) + " and a 512-d feature (the penultimate layer).",
        "",
        "## Training",
        f"- Command: `{command}`",
        f"- Data: {data}",
        f"- Epochs: {card['training']['epochs']} (best on {ev.dataset} at epoch {card['training']['best_epoch']})",
        f"- Wall time: {card['training']['wall_seconds']} s on {card['training']['machine']}, torch "
        f"{card['training']['torch']}",
        f"- Network: stages {cfg['net'].get('stages')}, convs per stage {cfg['net'].get('convs_per_stage')}, "
        f"feature {cfg['net'].get('feature_dim')}, dropout {cfg['net'].get('dropout')}; ONNX {size_mb:.1f} MB",
        "",
        f"## Evaluation on {ev.dataset} ({ev.n} faces)",
        f"Accuracy **{ev.accuracy:.4f}**, macro-F1 {ev.macro_f1:.4f}, measured through fervid's ONNX inference path.",
        "",
        ev.per_class_table(),
        "",
        "Confusion matrix (rows: true, columns: predicted):",
        "",
        ev.confusion_table(),
        "",
        "## Limitations",
        *[f"- {item}" for item in card["limitations"]],
        "",
    ]
    (model_dir / "MODEL_CARD.md").write_text("\n".join(md))
    return card


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}
