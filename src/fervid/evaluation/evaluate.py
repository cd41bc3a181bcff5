"""Evaluating a model on a labelled dataset, and writing the model card (no torch: runs the ONNX model)."""

from __future__ import annotations

import json
import platform
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from scipy.special import log_softmax, softmax
from sklearn.metrics import (accuracy_score, cohen_kappa_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support)

from fervid.inference.align import preprocess_faces
from fervid.inference.annotate import naming_file, replacing
from fervid.inference.catalog import FER2013_WEIGHTS_TERMS, LAB_PEOPLE_TERMS, TERMS_PREFIX
from fervid.evaluation.datasets import FaceDataset, training_data_kind
from fervid.evaluation.intervals import accuracy_interval, kappa_interval, wilson_interval
from fervid.emotions import EMOTIONS
from fervid.inference.models import EmotionCNN, ModelError, resolve_model_dir
from fervid.inference.records import write_csv
from fervid.inference.set_aside import staged_outputs
from fervid.json_files import write_json
from fervid.plotting import prepare_matplotlib

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Evaluation:
    """Metrics of one model on one dataset; per-class lists are in ``EMOTIONS`` order.

    A per-class value with nothing to count is None, not 0: precision where the class was never predicted, recall
    where the data has none of it, F1 where both (a class absent from the data and from the predictions)."""

    dataset: str
    n: int
    accuracy: float
    macro_f1: float
    precision: list[float | None]
    recall: list[float | None]
    f1: list[float | None]
    support: list[int]
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    # the classes macro-F1 averages: those the data has (CK+ has no neutral, which must not count as an F1 of 0)
    macro_f1_classes: list[str] = field(default_factory=lambda: list(EMOTIONS))
    # 95% interval of the accuracy: over the people pictured where the data names them (CK+, JAFFE: one person's
    # faces, three near-identical frames of one CK+ sequence, are not independent draws), over segments for frames
    # of video (a bootstrap from 30 groups, a t interval under: intervals.interval_over_groups; Wilson's over the
    # items where under 5 are right or wrong: intervals.accuracy_interval), else Wilson's score interval (the faces
    # read as independent draws); ci_method says which
    accuracy_ci95: list[float] | None = None
    # precision, recall and F1 averaged over macro_f1_classes, unweighted (macro) and weighted by support, as
    # sklearn's classification_report (a class the data has but never predicted counts a precision of 0)
    macro_avg: dict | None = None
    weighted_avg: dict | None = None
    ci_method: str = "Wilson"
    unit: str = "faces"  # what n counts: faces, frames or segments
    # Cohen's kappa (unweighted: the labels are nominal): the agreement with the labels beyond what chance gives two
    # raters of these label frequencies; None where it is undefined (the labels name one class only: there is no
    # agreement beyond chance to measure); its 95% interval over the groups the accuracy's is over, else over the
    # items one by one (kappa is no proportion: Wilson's interval is not its), as kappa_ci_method says ("none: ..."
    # and why, where it has none)
    kappa: float | None = None
    kappa_ci95: list[float] | None = None
    kappa_ci_method: str = ""

    @property
    def macro_f1_label(self) -> str:
        """The name macro-F1 is printed under: it says which classes are left out when the data lacks some (the
        per-class table still lists all 7). Of video frames or segments the labels are those of the segments scored:
        "the data" read as fervid's video labels too, which may name the class, and "the annotations" as every line,
        where a line outside the stretch analysed (--results of a --start/--end run) or not scored may name it."""
        left = [e for e in EMOTIONS if e not in self.macro_f1_classes]
        labels = "segments scored" if self.unit in ("frames", "segments") else "data"
        return f"macro-F1 (without {', '.join(left)}, absent from the {labels})" if left else "macro-F1"

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def accuracy_text(self) -> str:
        """"accuracy 0.4961 (95% CI 0.4107-0.5818, Wilson)", as evaluate prints it."""
        ci = self.accuracy_ci95
        return f"accuracy {self.accuracy:.4f}" + (f" (95% CI {ci[0]:.4f}-{ci[1]:.4f}, {self.ci_method})" if ci else "")

    @property
    def kappa_text(self) -> str:
        """"Cohen's kappa 0.3712 (95% CI 0.2904-0.4511, t interval over 12 segments)", as evaluate prints it."""
        if self.kappa is None:
            if not self.n:
                return "Cohen's kappa undefined (nothing scored)"
            return (f"Cohen's kappa undefined (every label is {self.macro_f1_classes[0]}: agreement beyond chance "
                    "needs two classes or more among the labels)")
        ci = self.kappa_ci95
        return f"Cohen's kappa {self.kappa:.4f}" + (f" (95% CI {ci[0]:.4f}-{ci[1]:.4f}, {self.kappa_ci_method})"
                                                   if ci else f" (no interval: {self.kappa_ci_method[6:]})"
                                                   if self.kappa_ci_method.startswith("none: ") else "")

    def per_class_table(self) -> str:
        """Markdown table in the layout of the published paper's Tables 1-4, with sklearn's average rows; n/a
        where a value has nothing to count (see the class's docstring)."""
        value = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        lines = ["| emotion | precision | recall | f1-score | support |", "|---|---|---|---|---|"]
        for i, name in enumerate(EMOTIONS):
            lines.append(f"| {name} | {value(self.precision[i])} | {value(self.recall[i])} | {value(self.f1[i])} "
                         f"| {self.support[i]} |")
        left = [e for e in EMOTIONS if e not in self.macro_f1_classes]
        over = ("" if not left else f" (without {', '.join(left)})" if len(left) < len(self.macro_f1_classes)
                else f" (over {', '.join(self.macro_f1_classes)})")
        for name, avg in (("macro avg", self.macro_avg), ("weighted avg", self.weighted_avg)):
            if avg:
                lines.append(f"| {name}{over} | {value(avg['precision'])} | {value(avg['recall'])} "
                             f"| {value(avg['f1'])} | {avg['support']} |")
        lines.append(f"| **accuracy** | | {self.accuracy:.4f} | {self.macro_f1_label} {self.macro_f1:.3f} "
                     f"| {self.n} |")
        return "\n".join(lines)

    def confusion_table(self) -> str:
        head = "| true \\ predicted | " + " | ".join(EMOTIONS) + " |"
        lines = [head, "|---" * (len(EMOTIONS) + 1) + "|"]
        for name, row in zip(EMOTIONS, self.confusion):
            lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
        return "\n".join(lines)


def score(y_true: np.ndarray, y_pred: np.ndarray, dataset: str = "", unit: str = "faces",
          subjects: Sequence[str] | None = None, groups_are: str = "subjects") -> Evaluation:
    """The metrics of ``y_pred`` against ``y_true``. ``subjects``: the person each face is of, where the data says
    (``FaceDataset.subjects``), or another group of items that are no independent draws (``groups_are`` names
    them: a video segment's frames): the accuracy's and kappa's intervals are then over them, each with all its
    items (a bootstrap over 30 or more, a t interval under, None under 5: :mod:`fervid.evaluation.intervals`);
    without them the accuracy's is Wilson's, and kappa's over the items one by one."""
    labels = list(range(len(EMOTIONS)))
    # nan where a ratio has nothing to count (a class never predicted, or absent from the data): a 0 there read as
    # a measured failure
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=np.nan)
    present = sorted(set(np.asarray(y_true).tolist()))
    n, correct = int(len(y_true)), int(np.sum(np.asarray(y_true) == np.asarray(y_pred)))
    if subjects is not None and len(subjects) and all(subjects):
        interval, method = accuracy_interval(np.asarray(y_true) == np.asarray(y_pred), subjects, groups_are, unit)
        kappa_groups_are = groups_are
    else:
        interval, method = wilson_interval(correct, n), "Wilson"
        kappa_groups_are, subjects = unit, None
    # undefined where the labels name one class only: chance alone agrees with them as well as any rater can (both
    # one class: 0/0; predictions of other classes too: 0 whatever is predicted, read as "no better than chance")
    kappa = None if len(present) < 2 else float(cohen_kappa_score(y_true, y_pred, labels=labels))
    kappa_ci95, kappa_method = (kappa_interval(np.asarray(y_true), np.asarray(y_pred), len(labels), subjects,
                                               kappa_groups_are, unit) if kappa is not None else (None, ""))
    averages = {}
    if n:
        for average in ("macro", "weighted"):
            ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, labels=present, average=average,
                                                            zero_division=0)
            averages[average] = {"precision": round(float(ap), 4), "recall": round(float(ar), 4),
                                 "f1": round(float(af), 4), "support": n}
    return Evaluation(
        dataset=dataset,
        n=n,
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
        if len(y_true) else 0.0,
        precision=_rounded(p),
        recall=_rounded(r),
        f1=_rounded(f),
        support=[int(v) for v in s],
        confusion=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        macro_f1_classes=[EMOTIONS[i] for i in present],
        accuracy_ci95=interval,
        macro_avg=averages.get("macro"),
        weighted_avg=averages.get("weighted"),
        ci_method=method,
        unit=unit,
        kappa=kappa,
        kappa_ci95=kappa_ci95,
        kappa_ci_method=kappa_method,
    )


def _rounded(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v), 4) for v in values]


def tie_aware_accuracy(y_pred: np.ndarray, vote_shares: np.ndarray) -> dict:
    """FER+ majority accuracy without the artefact of ties.

    Where two or more emotions share a face's most votes (e.g. 4 sad, 4 neutral, 2 angry), the face has no
    majority answer, and its label (``argmax`` of ``vote_shares``) names whichever comes first in ``EMOTIONS``
    order: neutral, last in that order, never wins a tie. Scored against that label, a prediction of the other
    tied emotion counts as wrong for a reason that lies in the order of fervid's class list, not in the votes.
    Returns the number of tied faces, the accuracy over the untied ones, and the expected accuracy over all
    faces had each tie been broken at random (a prediction among k tied emotions scores 1/k)."""
    y_pred = np.asarray(y_pred)
    top = np.isclose(vote_shares, vote_shares.max(axis=1, keepdims=True))
    tied = top.sum(axis=1) > 1
    hit = top[np.arange(len(y_pred)), y_pred]
    untied = ~tied
    return {"tied": int(tied.sum()),
            "untied": {"n": int(untied.sum()),
                       "accuracy": round(float(hit[untied].mean()), 4) if untied.any() else 0.0},
            "random_tiebreak": round(float((hit / top.sum(axis=1)).mean()), 4) if len(y_pred) else 0.0}


def predict_dataset(cnn: EmotionCNN, ds: FaceDataset, batch_size: int = 256, logits: bool = False,
                    progress: bool = False) -> np.ndarray:
    """Probabilities (or raw logits) (N, 7) for already-cropped faces, through the same preprocessing as
    inference. ``progress``: a bar (FER2013's 28,709 training faces take about 40 s on 2 cores)."""
    from fervid.progress import progress_bar

    out = []
    for i in progress_bar(range(0, len(ds), batch_size), show=progress, desc=f"{cnn.config.name} on {ds.name}",
                          unit="batch", leave=False):
        _, x = preprocess_faces(ds.images[i : i + batch_size], cnn.config.normalization,
                                template=cnn.config.template)
        result = cnn(x)
        out.append(result.logits if logits else result.probabilities)
    return np.concatenate(out) if out else np.zeros((0, len(EMOTIONS)), np.float32)


def evaluate(cnn: EmotionCNN, ds: FaceDataset) -> Evaluation:
    probs = predict_dataset(cnn, ds)
    return score(ds.labels, probs.argmax(1), ds.name, subjects=ds.subjects)


def plot_confusion(ev: Evaluation, path: str | Path, title: str = "") -> Path:
    """Confusion matrix PNG: counts on the left, row-normalised (recall) on the right."""
    # matplotlib's Figure, not pyplot: no global backend switch in the caller's notebook, and safe off the main
    # thread (the server)
    prepare_matplotlib()  # a read-only home: matplotlib's warnings in the command's output
    from matplotlib.figure import Figure

    cm = np.asarray(ev.confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(13, 5.5))
    axes = fig.subplots(1, 2)
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
    with replacing(path) as temporary:  # (format: the temporary file's name ends .tmp)
        fig.savefig(temporary, format=path.suffix[1:] or "png", dpi=110)
    return path


# The texts pandas' read_csv reads as missing unless told not to (its documented default na_values; R's read.csv:
# "NA"). One of JAFFE's posers is named NA: a groupby over the subject column of a file read with defaults lost his
# 21 faces, silently
READ_AS_MISSING = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                             "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})


def read_as_missing_notes(tables: dict[str, pd.DataFrame]) -> list[str]:
    """A line for each text column of ``tables`` (name -> table, written as <name>.csv) holding a value pandas and
    R read as missing by default (JAFFE's subject NA), saying how to read the file. The values are kept as they
    are: they are the dataset's own names, the ones its file names and other tools use."""
    notes = []
    for name, table in tables.items():
        for column in table.columns:
            if table[column].dtype.kind == "O":  # text (object, or pandas 3's str)
                names = sorted({value for value in table[column] if isinstance(value, str)} & READ_AS_MISSING)
                if names:
                    notes.append(f"notice: {name}.csv's `{column}` holds {', '.join(f'`{v}`' for v in names)}, a "
                                 "name here, which pandas and R read as missing by default: read it with "
                                 f"`pd.read_csv(f, keep_default_na=False)` or `read.csv(f, na.strings = character())`")
    return notes


def write_report(out: Path, title: str, settings: dict, metrics: dict, notes: list[str],
                  scores: dict[str, Evaluation], tables: dict[str, pd.DataFrame]) -> list[Path]:
    """An evaluation's files in ``out``: metrics.json, each table as <name>.csv (one row per face, frame or
    segment: what a significance test or another metric needs), a confusion matrix figure per score (the first
    confusion.png, the others confusion_<name>.png) and report.md with all of them. ``scores``: heading -> score
    (one score: no heading). Returns the paths written. They replace an earlier evaluation's files together
    (:func:`staged_outputs`), all of them or, one open in Excel, none (the error says which and what to do).
    report.md says how to read a table holding a name pandas and R read as missing (:func:`read_as_missing_notes`)."""
    written = ["metrics.json"]
    notes = [*notes, *read_as_missing_notes(tables)]
    with staged_outputs(out) as staging:
        with naming_file(staging / "metrics.json"):  # (a full disk fails the write, naming no file)
            write_json(staging / "metrics.json", metrics)
        for name, table in tables.items():
            # as every CSV fervid writes: a file named `=...` is not a spreadsheet formula, TRUE/FALSE for R. A
            # float32 column through its shortest text (0.00211, not the float64 0.0021100000012665987 it widens to)
            narrow = table.select_dtypes("float32").columns
            table = table.astype(dict.fromkeys(narrow, str)).astype(dict.fromkeys(narrow, "float64"))
            with naming_file(staging / f"{name}.csv"), \
                    open(staging / f"{name}.csv", "w", encoding="utf-8", newline="") as fh:
                write_csv(fh, list(table.columns), table.itertuples(index=False, name=None))
            written.append(f"{name}.csv")
        settings_lines = "\n".join(f"- {key}: `{value}`" for key, value in settings.items())
        notes_text = "".join(f"- {line.strip()}\n" if line.startswith("  ") else f"\n{line}\n" for line in notes)
        sections = []
        for number, (heading, ev) in enumerate(scores.items()):
            figure = "confusion.png" if number == 0 else f"confusion_{heading.split()[-1]}.png"
            plot_confusion(ev, staging / figure,
                           title=f"{title}{f', {heading}' if heading else ''}: accuracy {ev.accuracy:.4f}")
            written.append(figure)
            ci = ev.accuracy_ci95
            interval = f" (95% CI {ci[0]:.4f}-{ci[1]:.4f}, {ev.ci_method})" if ci else ""
            sections.append((f"## {heading}\n\n" if heading else "")
                            + f"Accuracy **{ev.accuracy:.4f}**{interval}, {ev.kappa_text}, {ev.macro_f1_label} "
                              f"{ev.macro_f1:.4f} ({ev.n} {ev.unit}).\n\n{ev.per_class_table()}\n\n{ev.confusion_table()}\n\n"
                              f"![confusion]({figure})\n")
        with naming_file(staging / "report.md"):
            (staging / "report.md").write_text(f"# {title}\n\n{settings_lines}\n{notes_text}\n"
                                               + "\n".join(sections), encoding="utf-8")
        written.append("report.md")
    return [out / name for name in written]


def plot_learning_curves(metrics: list[dict], path: str | Path, title: str = "", val_name: str = "validation") -> Path:
    """Train/validation accuracy and loss per epoch (the published paper's Figures 4, 6, 8) as one PNG.

    ``metrics``: one dict per epoch with ``epoch``, ``train_acc``, ``val_acc``, ``train_loss``, ``val_loss``.
    """
    path = Path(path)
    with replacing(path) as temporary:
        learning_curves_figure(metrics, title, val_name).savefig(temporary, format=path.suffix[1:] or "png", dpi=100)
    return path


def learning_curves_figure(metrics: list[dict], title: str = "", val_name: str = "validation"):
    """The matplotlib Figure :func:`plot_learning_curves` saves."""
    prepare_matplotlib()
    from matplotlib.figure import Figure  # not pyplot: see plot_confusion
    from matplotlib.ticker import MaxNLocator

    epochs = [m["epoch"] for m in metrics]
    fig = Figure(figsize=(11, 4))
    acc_ax, loss_ax = fig.subplots(1, 2)
    for ax, key, label in ((acc_ax, "acc", "accuracy"), (loss_ax, "loss", "loss")):
        ax.plot(epochs, [m[f"train_{key}"] for m in metrics], "o-", ms=3, label="train")
        ax.plot(epochs, [m[f"val_{key}"] for m in metrics], "o-", ms=3, label=val_name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no tick at epoch 1.25
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: the gap between mean confidence and accuracy in each of ``bins`` equal-width confidence bins, averaged
    with each bin weighted by its share of the samples (Guo et al. 2017)."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return float(ece)


CONFIDENT = 0.9  # a wrong answer this sure is what a user trusting `confidence` is misled by


def calibration_summary(probs: np.ndarray, labels: np.ndarray, temperature: float = 1.0,
                        logits: np.ndarray | None = None) -> dict:
    """How far a model's confidence is from its accuracy on labelled faces: the ECE (15 bins) and mean top
    probability at the ``temperature`` ``probs`` were made with, and how many wrong answers were at least
    :data:`CONFIDENT` sure. With ``logits`` and a temperature other than 1, the same at temperature 1
    (``at_temperature_1``): whether a temperature fitted on some faces helps or hurts on these."""
    labels = np.asarray(labels)

    def measured(p: np.ndarray) -> dict:
        confidence = p.max(axis=1) if len(p) else np.zeros(0)
        return {"ece": round(expected_calibration_error(p, labels), 4) if len(p) else None,
                "mean_confidence": round(float(confidence.mean()), 4) if len(p) else None}

    wrong = probs.argmax(axis=1) != labels
    summary = {"bins": 15, "temperature": float(temperature), **measured(probs),
               "accuracy": round(float(1 - wrong.mean()), 4) if len(labels) else None,
               "errors": int(wrong.sum()), "confident_at": CONFIDENT,
               "confident_errors": int((wrong & (probs.max(axis=1) >= CONFIDENT)).sum()) if len(labels) else 0}
    if logits is not None and temperature != 1.0:
        summary["at_temperature_1"] = measured(softmax(logits, axis=1))
    return summary


def calibration_text(summary: dict) -> str:
    """``calibration_summary`` in one line, as `fervid evaluate` prints it."""
    text = (f"calibration: ECE {summary['ece']:.3f} (15 bins) at temperature {summary['temperature']:g}, mean "
            f"confidence {summary['mean_confidence']:.3f} for accuracy {summary['accuracy']:.3f}; "
            f"{summary['confident_errors']} of {summary['errors']} errors at confidence {summary['confident_at']} "
            "or more")
    if "at_temperature_1" in summary:
        at_one = summary["at_temperature_1"]
        text += f"; at temperature 1: ECE {at_one['ece']:.3f}, mean confidence {at_one['mean_confidence']:.3f}"
    return text


TEMPERATURE_BOUNDS = (0.05, 20.0)  # the range fit_temperature searches


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T minimising the negative log-likelihood of softmax(logits / T) (Guo et al. 2017), searched
    within :data:`TEMPERATURE_BOUNDS`."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        log_probs = log_softmax(logits / np.exp(log_t), axis=1)
        return float(-log_probs[np.arange(len(labels)), labels].mean())

    result = minimize_scalar(nll, bounds=tuple(np.log(TEMPERATURE_BOUNDS)), method="bounded")
    return float(np.exp(result.x))


def at_fitting_bound(temperature: float) -> bool:
    """Whether a fitted temperature is at an end of the range searched: the likelihood wanted a still hotter (or
    colder) model, as for labels the model's outputs say next to nothing about (whole photos read as face crops
    fitted 20); no temperature in the range fits, so none is to be applied."""
    low, high = TEMPERATURE_BOUNDS
    return not low * 1.01 < temperature < high / 1.01


# how many random halvings a fitted temperature is judged on: one split decided it (FER2013's PublicTest: the fit
# was turned down on one, applied on 11 of 30 others, at a mean cross-fitted ECE of 0.0348 against 0.0336 at T = 1)
SPLIT_SEEDS = 10
ECE_BINS = 15  # the confidence bins of every ECE calibrate reports (it moves with them: 0.0242 to 0.0306 at 10-30)


def calibrate(cnn: EmotionCNN, ds: FaceDataset, seed: int = 0, split_seeds: int = SPLIT_SEEDS) -> dict:
    """Fit the temperature on ``ds`` and measure expected calibration error (ECE, :data:`ECE_BINS` bins) before (at
    temperature 1, ``ece_before``, and at the model's current temperature, ``ece_current``) and after.

    Because fitting and measuring on the same faces flatters the result, the ECE is also measured cross-fitted: the
    temperature fitted on one random half is scored on the other half, and the two halves averaged; so for each of
    ``split_seeds`` halvings (seeds ``seed``, ``seed + 1``, ...), and the current temperature on the very same halves
    (a model trained with label smoothing, or calibrated before, can already be well calibrated). The temperature
    is ``applied`` only when it lowers the mean cross-fitted ECE (``ece_after_cross_fitted``, against
    ``ece_current_halves``) by more than that gain's standard error over the halvings (``ece_gain``,
    ``ece_gain_se``): one halving's verdict was as often the other way on another. It is never applied at the end
    of the range searched (:func:`at_fitting_bound`); else the model keeps its current one (``kept_temperature``).
    ``ece_current``, over all the faces, is not what the fit is judged against: binned ECE rises as the faces binned
    grow fewer, so an error over half the faces set against one over all of them was biased against every fitted
    temperature. Also reports how often faces under the model's ``uncertain_below`` threshold are right, at the
    temperature the model will run with.
    """
    if split_seeds < 2:
        raise ValueError(f"split_seeds must be 2 or more (a standard error over halvings), not {split_seeds}")
    current = float(getattr(cnn.config, "temperature", 1.0))
    logits = predict_dataset(cnn, ds, logits=True)
    labels = ds.labels

    def ece(probs: np.ndarray, rows: np.ndarray | slice = slice(None)) -> float:
        return expected_calibration_error(probs[rows], labels[rows], bins=ECE_BINS)

    temperature = fit_temperature(logits, labels)
    after = softmax(logits / temperature, axis=1)
    at_current = softmax(logits / current, axis=1)
    seeds = list(range(seed, seed + split_seeds))
    cross, current_halves = [], []
    for split in seeds:
        halves = np.random.default_rng(split).permutation(len(labels))
        a, b = halves[: len(labels) // 2], halves[len(labels) // 2 :]
        cross.append(float(np.mean([ece(softmax(logits / fit_temperature(logits[fit], labels[fit]), axis=1), test)
                                    for fit, test in ((a, b), (b, a))])))
        # the current temperature on the very halves the fit is scored on, averaged alike: like against like
        current_halves.append(float(np.mean([ece(at_current, test) for test in (b, a)])))
    gains = np.array(current_halves) - np.array(cross)
    gain, gain_se = float(gains.mean()), float(gains.std(ddof=1) / np.sqrt(len(gains)))
    bound = at_fitting_bound(temperature)
    applied = bool(gain > gain_se and not bound)
    kept = temperature if applied else current
    shipped = softmax(logits / kept, axis=1)
    threshold = cnn.config.uncertain_below
    unsure = shipped.max(axis=1) < threshold
    correct = shipped.argmax(axis=1) == labels
    return {
        "dataset": ds.name, "n": int(len(labels)), "temperature": round(temperature, 4),
        "current_temperature": current,
        "ece_bins": ECE_BINS,
        "ece_before": round(ece(softmax(logits, axis=1)), 4),
        "ece_current": round(ece(at_current), 4),
        "ece_after": round(ece(after), 4),
        # means over the halvings, and each halving's (its seed in split_seeds)
        "split_seeds": seeds,
        "ece_current_halves": round(float(np.mean(current_halves)), 4),
        "ece_after_cross_fitted": round(float(np.mean(cross)), 4),
        "ece_current_halves_by_seed": [round(value, 4) for value in current_halves],
        "ece_after_cross_fitted_by_seed": [round(value, 4) for value in cross],
        # how much the fit lowers the cross-fitted ECE, mean and standard error over the halvings
        "ece_gain": round(gain, 4), "ece_gain_se": round(gain_se, 4),
        "at_fitting_bound": bound, "fitting_bounds": list(TEMPERATURE_BOUNDS),
        "applied": applied,
        "kept_temperature": round(kept, 4) if applied else current,
        "uncertain_below": threshold,
        "uncertain_share": round(float(unsure.mean()), 4),
        "accuracy_uncertain": round(float(correct[unsure].mean()), 4) if unsure.any() else None,
        "accuracy_confident": round(float(correct[~unsure].mean()), 4) if (~unsure).any() else None,
    }


# what a training run's summary.json says of how its held-out share was drawn (train.held_out_by)
VALIDATION_SPLIT_KEYS = ("held_out_by", "training_subjects", "validation_subjects")


def selection_faces(train_cfg: dict, summary: dict | None = None) -> str:
    """The faces a training run chose its best epoch on, as a run's config (and its summary.json, which says how a
    held-out share was drawn) says: "PublicTest (500 of its faces, drawn at random by class, FER+ majority
    labels)"; ``{}`` (a model folder without training_config.json): which and how labelled, not recorded."""
    if not train_cfg:
        return "its run's validation faces (which, and how they were labelled, is not recorded)"
    usage = train_cfg.get("val_usage", "the validation faces")
    own = train_cfg.get("data_kind") == "folder" or train_cfg.get("val_data")  # your own faces choose the epoch
    summary = summary or {}
    if own:
        usage = (train_cfg["val_data"] if train_cfg.get("val_data") else
                 f"{summary['validation_subjects']} of the {summary['validation_subjects'] + summary['training_subjects']}"
                 f" people in {train_cfg.get('data')} held out (by person: no one on both sides)"
                 if summary.get("held_out_by") == "subject" else
                 f"{train_cfg.get('val_fraction', 0.2):.0%} of {train_cfg.get('data')} held out")
    limit = train_cfg.get("limit_val") or 0
    table = own and Path(train_cfg.get("val_data") or train_cfg.get("data") or "").is_file()  # a label table
    labels = ("FER+ majority labels" if train_cfg.get("val_labels") == "ferplus" else "the table's labels" if table
              else "their folders' labels" if own else "FER2013's labels")
    return f"{usage} ({f'{limit} of its faces, drawn at random by class, ' if limit else ''}{labels})"


# sentences the CNN's and the temporal model's cards share, so an ethics application reads one wording
FER2013_SOURCE = ("gathered by Google image searches for emotion words: the people pictured did not consent to this "
                  "use. Its terms of use are not stated in the copy used.")
UNMEASURED = "No accuracy breakdown by age, sex or skin tone was measured"
# who no measurement of fervid's ever covered, whatever the data (FER2013 has no such annotations; CK+ and JAFFE hold
# adults 18-50 and 6 Japanese women, posed frontal and bare-faced)
NEVER_MEASURED = ("Never measured: children, people over 50, darker skin tones (as a group), faces turned from the "
                  "camera, and faces behind real glasses or masks.")
# every model card's uses: a card is what a data-protection officer or an ethics board reads, and emotion
# recognition at work and in education is prohibited in the EU (AI Act, Art. 5(1)(f); README, "Privacy")
USE_SECTIONS = (
    "## Intended use",
    "- Research on the facial expressions people show in photos and recordings, made with the informed consent of "
    "the people recorded (recorded lab sessions, usability studies, consenting participants), reported as shares "
    "and timelines of expressions over a group or a session.",
    "",
    "## Out-of-scope use",
    "- Inferring the emotions of employees or students (at the workplace or in education institutions: prohibited "
    "in the EU by the AI Act, Regulation (EU) 2024/1689, Art. 5(1)(f), except for medical or safety reasons).",
    "- Decisions about individuals (hiring, grading, assessment, access, treatment).",
    "- Lie, deception or intent detection: an expression shown is not a feeling felt, nor an intention.",
    "- Medical or psychological diagnosis.",
    "",
)
LABELS_NOT_FEELINGS = ("The labels describe facial expressions as annotators read them, not what the people pictured "
                       "felt.")
# JAFFE's and CK+'s labels are what each poser was asked to show, not a reading of the face
POSED_LABELS = ("CK+'s and JAFFE's labels name the expression each volunteer was asked to pose (CK+'s checked "
                "against FACS codes), not annotators' readings of the faces, nor what the volunteers felt.")
# what is known of the lab datasets' people: CK+ from Lucey et al. 2010's description of its 123 participants (CK+48
# holds 86 of them); JAFFE from the copy in ../shared/data (its file names' poser initials)
LAB_POPULATIONS = ("CK+'s volunteers are adults 18 to 50 (Lucey et al. 2010, of all 123 CK+ volunteers: 69% women, "
                   "81% Euro-American, 13% Afro-American, 6% other); JAFFE's are Japanese women, 6 in the copy used.")
# what a CNN's card says of its training where its folder holds no training record of fervid's (training_config.json,
# which `fervid export` copies from the run): a model trained elsewhere, whose data no FER2013 default may describe
NOT_RECORDED = "not recorded (trained outside fervid)"
# the training record `fervid export` copies into a model folder from its run (config, summary, epochs' metrics)
TRAINING_RECORDS = ("training_config.json", "training_summary.json", "training_metrics.jsonl")


def training_records(model_dir: Path) -> list[str]:
    """Which of ``TRAINING_RECORDS`` the model folder holds."""
    return [name for name in TRAINING_RECORDS if (Path(model_dir) / name).is_file()]


def config_not_recorded(records: Sequence[str]) -> str:
    """What a card says of what the training config alone records (the data, the targets, the faces and labels),
    where a model folder lacks it: NOT_RECORDED where it holds none of ``TRAINING_RECORDS`` (``records``: those it
    holds), else that training_config.json is missing (the folder's other records are of a fervid run)."""
    return NOT_RECORDED if not records else "not recorded (the model folder has no training_config.json)"


def data_and_consent(train_cfg: dict, not_recorded: str = NOT_RECORDED, command: str | None = None,
                     directory: str | Path | None = None) -> list[str]:
    """Where the training faces and their labels came from, whether the people pictured agreed, and what was not
    measured, for the model card's "Data and consent" note (what an ethics application cites). ``{}``: a model
    trained outside fervid, which records none of it (``not_recorded``: how that is said).

    A run that started from another network's weights (``init_from``) or learnt from teachers' answers
    (``teachers``) learnt from their data too: a line for each says what its records say of its data (its
    card.json, or the training config it was trained by), or that they are not found; their terms join this run's
    in the one "Terms: " line. ``command``: the card's command line; a checkpoint whose run's config.json is not
    here (its run folder gone) is described by the config file that command's ``fervid train`` into its folder
    names (:func:`_config_named_by`); ``directory``: where that command ran (as ``fervid train`` records it), its
    relative paths' base (else the current folder)."""
    typed = TypedCommand(command, Path(directory) if directory else None) if command else None
    return _data_and_consent(train_cfg, depth=0, not_recorded=not_recorded, command=typed)


class TypedCommand(NamedTuple):
    """A card's command line and where it ran: its relative paths are from there (None: from here)."""

    text: str
    directory: Path | None = None

    def path(self, name: str | Path) -> Path:
        """``name`` as the command meant it."""
        return Path(name) if self.directory is None else self.directory / name


# how many networks back a card follows init_from and teachers (each its own card or config); a chain longer than
# this is said to be not followed
CARRIED_DEPTH = 8


def _data_and_consent(train_cfg: dict, depth: int, not_recorded: str = NOT_RECORDED,
                      command: TypedCommand | None = None) -> list[str]:
    lines = _own_data_and_consent(train_cfg, not_recorded)
    starts = ([("init_from", train_cfg["init_from"])] if train_cfg.get("init_from") else []) + [
        ("teacher", teacher) for teacher in train_cfg.get("teachers") or []]
    if not starts:
        return lines
    terms = [line.removeprefix(TERMS_PREFIX) for line in lines if line.startswith(TERMS_PREFIX)]
    carried = []
    for role, name in starts:
        line, its_terms = _learnt_through(role, name, depth, command)
        carried.append(line)
        terms += its_terms
    own = [line for line in lines if not line.startswith(TERMS_PREFIX)]
    # after this run's own faces and labels, before what was not measured
    at = next((i for i, line in enumerate(own) if line.startswith(UNMEASURED)), len(own))
    terms = list(dict.fromkeys(terms))
    return own[:at] + carried + own[at:] + ([TERMS_PREFIX + " ".join(terms)] if terms else [])


def _learnt_through(role: str, name: str, depth: int, command: TypedCommand | None = None
                    ) -> tuple[str, list[str]]:
    """The card's line for a network this run learnt through (``role``: "init_from", the weights it started from,
    or "teacher"), with its data as its records say, and the terms they state (without "Terms: ")."""
    said = (f"Starting weights: `{name}` (init_from), whose learning these weights keep" if role == "init_from" else
            f"Teacher: `{name}` (distillation), whose answers these weights learnt to give")
    lines, source = _recorded_data_and_consent(name, depth + 1, command)
    if lines is None:
        return f"{said}; what it learnt from, and under what terms, is not recorded ({source}).", []
    kept = [line for line in lines if not line.startswith((TERMS_PREFIX, UNMEASURED)) and line != LABELS_NOT_FEELINGS]
    return (f"{said}; {source} says: " + " ".join(kept),
            [line.removeprefix(TERMS_PREFIX) for line in lines if line.startswith(TERMS_PREFIX)])


def _recorded_data_and_consent(name: str, depth: int, command: TypedCommand | None = None
                               ) -> tuple[list[str] | None, str]:
    """The "Data and consent" lines of the network ``name`` (a training checkpoint, a model folder or a shipped
    model's name, as init_from and teachers take them), and where they were read: its card.json's, else those of
    the training config it was trained by (for a checkpoint, its run's config.json, else the config file that
    ``command`` trained its run by). None, and why, where neither is found."""
    if depth > CARRIED_DEPTH:
        return None, f"more than {CARRIED_DEPTH} networks back, not followed"
    given = Path(name)
    if given.suffix == ".pt":
        # beside the checkpoint as named here, else as the command meant it (one place where it ran here)
        checkpoints = dict.fromkeys([given, *([command.path(given)] if command is not None else [])])
        run_config = next(filter(None, (_read_json(at.parent / "config.json") for at in checkpoints)), {})
        if run_config:
            return _data_and_consent(run_config, depth, command=command), "its run's config.json"
        named = _config_named_by(command, given.parent)
        if named is None:
            return None, "its run's config.json, beside the checkpoint, is not found here"
        config, source = named
        return _data_and_consent(config, depth, command=command), source
    try:
        folder = resolve_model_dir(name)
    except ModelError:
        return None, "no model folder or shipped model of that name is found here"
    card = _read_json(folder / "card.json").get("data_and_consent")
    if card:
        return card, "its card"
    trained_by = _read_json(folder / "training_config.json")
    if trained_by:
        return _data_and_consent(trained_by, depth), "its training_config.json"
    return None, "its folder holds no card.json or training_config.json"


def _config_named_by(command: TypedCommand | None, run_folder: Path) -> tuple[dict, str] | None:
    """The training settings that ``command`` (a card's command line, its steps joined by ``&&``) gave the
    ``fervid train`` whose ``--out`` is ``run_folder``: its ``--config`` file's, with the command's ``--data``,
    ``--labels`` and ``--ferplus`` over them, and where they were read; None where the command names no such run
    or its config file is not found. A shipped model's earlier stage is such a run: its folder (runs/) is not kept,
    the config that made it is (read as it is now: nothing records its digest)."""
    if command is None:
        return None
    try:
        words = shlex.split(command.text)
    except ValueError:
        return None
    steps: list[list[str]] = [[]]
    for word in words:
        if word in ("&&", ";", "||"):
            steps.append([])
        else:
            steps[-1].append(word)
    for step in steps:
        # `fervid train`, `/path/to/fervid train`, `python -m fervid train`, after `VAR=value`s
        at = next((i for i in range(1, len(step)) if step[i] == "train" and Path(step[i - 1]).name == "fervid"),
                  None)
        if at is None:
            continue
        given: dict[str, str] = {}
        options = iter(step[at + 1:])
        for word in options:
            if word.startswith("--") and "=" in word:
                name, value = word.split("=", 1)
                given[name] = value
            elif word.startswith("--"):
                given[word] = next(options, "")
        if not given.get("--config"):
            continue
        # (without --out, `fervid train` names the run folder after its config)
        out = given.get("--out") or str(Path("runs") / Path(given["--config"]).stem)
        if command.path(out).resolve() != command.path(run_folder).resolve():
            continue
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover (Python 3.10: the same parser, published as tomli)
            import tomli as tomllib
        try:
            with open(command.path(given["--config"]), "rb") as fh:
                config = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError):
            return None
        config.update({key: given[option] for option, key in (("--data", "data"), ("--labels", "labels"),
                                                              ("--ferplus", "ferplus_csv")) if option in given})
        if config.get("data_kind", "auto") == "auto":  # (as TrainConfig works it out)
            config["data_kind"] = training_data_kind(command.path(config["data"]) if config.get("data") else None)
        return config, (f"`{given['--config']}`, the config its run (the command's `fervid train` into "
                        f"{out}) was trained by,")
    return None


def _own_data_and_consent(train_cfg: dict, not_recorded: str = NOT_RECORDED) -> list[str]:
    """:func:`data_and_consent` of this run's own training faces alone."""
    if not train_cfg:
        return [f"Faces: {not_recorded}; note where they came from, under what terms, and whether the people pictured "
                "consented beside this card.", f"Labels: {not_recorded}.", UNMEASURED + ".", LABELS_NOT_FEELINGS]
    if train_cfg.get("data_kind") == "folder":
        return [f"Faces: a folder of your own ({train_cfg.get('data')}); fervid records neither where they came from "
                "nor whether the people pictured consented: note both beside this card.", UNMEASURED + ".",
                LABELS_NOT_FEELINGS]
    uses_ferplus = train_cfg.get("labels", "fer2013") != "fer2013" or train_cfg.get("val_labels") == "ferplus"
    return [
        "Faces: FER2013 (Goodfellow et al. 2013, \"Challenges in Representation Learning: A report on three machine "
        "learning contests\", ICML 2013 workshop), " + FER2013_SOURCE,
        "Labels: FER+ (Barsoum et al. 2016), crowd-sourced relabels (ten annotators per face) published by Microsoft, "
        "under the MIT licence (the FER+ repository's LICENSE.md)." if uses_ferplus else
        "Labels: FER2013's own, one annotator per face.",
        f"{UNMEASURED}, and none can be made on FER2013: it has no such annotations. {NEVER_MEASURED}",
        LABELS_NOT_FEELINGS,
        FER2013_WEIGHTS_TERMS,
    ]


# the video methods a temporal card compares, in its table's order
METHOD_COLUMNS = ("frame", "mean", "hmm", "lstm")


def write_temporal_card(folder: str | Path) -> Path:
    """Write ``MODEL_CARD.md`` into a temporal model's folder from what its training recorded (``config.json``:
    the CNN it reads, its window and temperature, the people on each side; ``training.json``: the command and the
    folder it ran in, the machine, the data, the wall time and the held-out comparison), as a CNN's card is written
    from its evaluation. Returns the card's path. docs/results.md section 8 is named for what it measures only on
    a shipped LSTM's card (its model.onnx is a shipped one's): it measures those alone."""
    from fervid.inference.models import file_sha256
    from fervid.inference.temporal import shipped_temporal_models

    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    weights = file_sha256(folder / "model.onnx")
    shipped = weights in {file_sha256(shipped / "model.onnx") for shipped in shipped_temporal_models().values()}
    features = cfg.get("input_dim", 512)
    report = json.loads((folder / "training.json").read_text(encoding="utf-8"))
    train_cfg, people = report["config"], report.get("people", {})
    graph = cfg.get("cnn_graph", {})
    labels = "FER+'s ten-annotator majority" if train_cfg.get("ferplus") else "FER2013's own labels"
    lab = [name for name, given in (("CK+ (Lucey et al. 2010)", train_cfg.get("ckplus")),
                                    ("JAFFE (Lyons et al. 1998)", train_cfg.get("jaffe"))) if given]
    machine = report.get("device", "not recorded")

    def by_dataset(side: str) -> str:
        """" (15 CK+, 2 JAFFE)": whose people a side holds (a side of one dataset's only is measured on it alone)."""
        ids = cfg.get("people", {}).get(side, [])
        names = {"ckplus": "CK+", "jaffe": "JAFFE"}
        counts = {name: sum(i.split(":")[0] == key for i in ids) for key, name in names.items()}
        return f" ({', '.join(f'{n} {name}' for name, n in counts.items())})" if ids else ""
    choice = report.get("temperature_choice", {})
    fitted_on = ("the validation people's clips" if people.get("val") else "held-out FER2013 stills' clips ("
                 + ("no validation people" if lab else "no CK+ or JAFFE people given") + ")")
    stills = train_cfg["still_clips"] > 0
    if choice.get("fitted", 1.0) is None:  # no validation people, no stills: nothing held out
        temperature = "1.0, none fitted: no clips were held out (no validation people, no stills)"
    elif choice.get("applied", True):  # (a report from before the choice was recorded: it was applied)
        temperature = f"{cfg.get('temperature', 1.0):.3f}, fitted on {fitted_on}"
    elif choice.get("cross_fitted_ece_untempered") is None:
        temperature = (f"1.0, none applied: the {choice['fitted']:.3f} fitted on {fitted_on} could not be checked "
                       "on a second held-out group")
    else:
        temperature = (f"1.0, none applied: the {choice['fitted']:.3f} fitted on {fitted_on} made the calibration "
                       f"error worse on cross-fitted halves ({choice['cross_fitted_ece_untempered']:.3f} untempered, "
                       f"{choice['cross_fitted_ece_tempered']:.3f} tempered)")
    people_clips = (f" and {train_cfg['person_clips']} per training person of " + " and ".join(lab)
                    + " (4 s each: one person's posed expressions, one after another)" if people.get("train") else
                    " only: no people's clips (" + ("no training people in " + " and ".join(lab) if lab else
                                                    "no CK+ or JAFFE given") + ")")
    md = [
        f"# Model card: {folder.name}",
        "",
        f"The published design's temporal classifier, trained fervid's way (\"Departures from the paper\" below): a "
        f"2-layer LSTM ({cfg.get('architecture', 'LSTM')}) over the {features}-d features `{cfg['cnn']}` gives each "
        "face, "
        "labelling the middle frame of a window of at most "
        f"{cfg['max_frames']} frames (a longer window is thinned to that many) with 7 emotions: "
        f"{', '.join(EMOTIONS)}. It reads `{cfg['cnn']}`'s features only: the video pipeline refuses it with any other "
        f"CNN, or with `{cfg['cnn']}` weights of another digest (`{cfg.get('cnn_weights_sha256', '')[:16]}...`).",
        "",
        *USE_SECTIONS,
        "## Training",
        f"- Command: `{report.get('command', 'not recorded')}`"
        # the folder its relative paths (--data ../shared/data/...) are read from
        + (f" (run in `{report['directory']}`)" if report.get("directory") else ""),
        (f"- Clips: {train_cfg['still_clips']} of FER2013 Training stills (1.5 s each, labelled by {labels})"
         f"{people_clips}" if stills else
         f"- Clips: {train_cfg['person_clips']} per training person of " + " and ".join(lab) + " (4 s each: one "
         "person's posed expressions, one after another), no FER2013 stills (`--still-clips 0`)")
        + f", {report.get('train_frames', 0):,} frames; features from "
        f"`{graph.get('file', 'model.onnx')}` ({graph.get('precision', 'fp32')}), as video runs it.",
        _people_line(people, by_dataset, lab, shipped),
        f"- Epochs {train_cfg['epochs']}, learning rate {train_cfg['lr']}, dropout {train_cfg['dropout']}, seed "
        f"{train_cfg['seed']}.",
        f"- Wall time: {report.get('wall_seconds', 0):.0f} s on {machine}"
        + (f", torch {report['torch']}" if report.get("torch") else "") + ".",
        f"- Temperature: {temperature}.",
        # which weights the card is of: a retrained model.onnx beside an old card would pass for the one described
        f"- Weights: `model.onnx`, sha256 `{weights}`.",
        "",
        "## Data and consent",
        *(["- Stills: FER2013's faces, " + FER2013_SOURCE] if stills else []),
    ]
    if lab:
        md.append("- People: " + " and ".join(lab) + ", expressions posed in laboratories by volunteers. "
                  + LAB_PEOPLE_TERMS)
    md += [f"- {UNMEASURED}." + (f" {LAB_POPULATIONS}" if lab else "") + f" {NEVER_MEASURED}",
           f"- {LABELS_NOT_FEELINGS}" if not lab else
           "- " + (LABELS_NOT_FEELINGS.replace("The labels", "The stills' labels") + " " if stills else "")
           + POSED_LABELS,
           "",
           *_temporal_departures(cfg, train_cfg, labels, lab, bool(people.get("train")), choice),
           "## Held-out clips (training.json)",
           "Accuracy over all frames, label changes per second (flicker) and calibration error (ECE) of each video "
           "method on the same clips; centred windows are what `fervid video` runs, causal ones what `fervid live` "
           "runs." + _heldout_caveat(people, choice, shipped),
           "",
           "| clips | window | " + " | ".join(METHOD_COLUMNS) + " |",
           "|---|---|" + "---|" * len(METHOD_COLUMNS)]
    for kind, sides in report.get("heldout", {}).items():
        for window in ("centred", "causal"):
            scores = sides.get(window, {})
            md.append(f"| {kind} | {window} | " + " | ".join(
                f"{scores[m]['accuracy']:.3f} / {scores[m]['flicker_per_s']:.2f} / {scores[m]['ece']:.3f}"
                if m in scores else "n/a" for m in METHOD_COLUMNS) + " |")
    md += ["", "(each cell: accuracy / flicker per second / ECE)", "",
           "## Limitations",
           "- Trained on simulated clips (" + ("stills held, " if stills else "") + "posed expressions joined): real "
           "video's head motion, talking and lighting are not in them.",
           "- The lag of a label behind a change of expression, and the confidence its temperature leaves, are "
           + ("measured in docs/results.md section 8." if shipped else
              "not measured for this model (docs/results.md section 8 measures them for the shipped LSTMs)."),
           ""]
    path = folder / "MODEL_CARD.md"
    path.write_text("\n".join(md), encoding="utf-8")
    return path


def _people_line(people: dict, by_dataset, lab: list[str], shipped: bool) -> str:
    """A temporal card's line of the people on each side of the split (``by_dataset``: a side's " (15 CK+, 2
    JAFFE)"), and what each side did; docs/results.md's numbers on the test people are a shipped LSTM's alone."""
    if not any(people.get(side) for side in ("train", "val", "test")):
        return ("- People: none (" + (f"no one in {' and '.join(lab)} shows two or more expressions" if lab else
                                      "no CK+ or JAFFE given") + ").")
    val, test = people.get("val", 0), people.get("test", 0)
    return (f"- People, split by subject (no one on two sides): {people.get('train', 0)} training"
            f"{by_dataset('train')}, {val} validation{by_dataset('val')}"
            + (" (the temperature" + (" and the choice of model)" if shipped else ")") if val else "")
            + f", {test} test{by_dataset('test')}"
            + (" (untouched: docs/results.md section 8)" if test and shipped else
               " (untouched: no number in this card is theirs)" if test else "")
            + "; each one's ID is in `config.json`.")


def _heldout_caveat(people: dict, choice: dict, shipped: bool) -> str:
    """What flatters a temporal card's held-out numbers (the clips its temperature was fitted on), and where the
    untouched test people's are (docs/results.md: a shipped LSTM's only)."""
    if people.get("val"):
        chose = " The validation people chose the temperature, so their numbers flatter it a little"
    elif choice.get("fitted", 1.0) is not None:
        chose = (" The held-out stills' clips chose the temperature (no validation people), so their numbers flatter "
                 "it a little")
    else:
        chose = ""
    if shipped:
        return chose + ("; the" if chose else " The") + " test people's are in docs/results.md section 8."
    return chose + ("." if chose else "")


def _temporal_departures(cfg: dict, train_cfg: dict, labels: str, lab: list[str], people_trained: bool,
                         choice: dict) -> list[str]:
    """A temporal card's "Departures from the paper" section: what it shares with the paper's LSTM (section 4 of Wu &
    Pan) and, from what its training recorded, each way it differs."""
    from fervid.inference.temporal import LSTM_TRAINED_SPACING, MIN_HALF_WINDOW

    stills = f"{train_cfg['still_clips']} of FER2013 Training stills, one expression held in each, labelled by {labels}"
    people = ("; mixed with them, clips of the training people of " + " and ".join(lab) + ", their posed expressions "
              "cross-faded one into another" if people_trained else "")
    features = cfg.get("input_dim", 512)
    lines = ["## Departures from the paper",
             f"- The same: the paper's architecture ({cfg.get('architecture', 'LSTM')}) over the CNN's "
             + ("512-d features, the paper's 1x1x512 input" if features == 512 else "features")
             + "; the last time step's output stands for the paper's \"flatten\". "
             f"The paper gives no dropout rate (this one: {train_cfg['dropout']}).",
             *([f"- Input: the CNN's {features}-d features, where the paper's is 1x1x512 (its CNN's)."]
               if features != 512 else []),
             "- Data: the paper pre-trains its LSTM on JAFFE and CK+ images only; this one learns from simulated "
             f"clips (no real video; head motion, talking, blur and compression added): {stills}{people}.",
             f"- Windows: it labels the middle frame of a window of {2 * MIN_HALF_WINDOW + 1} to {cfg['max_frames']} "
             f"frames at most {LSTM_TRAINED_SPACING:g} s apart (a quarter of its training windows end at the labelled "
             "frame, as `fervid live` reads them); the paper gives one label per input, and speaks of frames "
             "spanning 0.5 or 1 s for video."]
    if choice.get("applied", True) and cfg.get("temperature", 1.0) != 1.0:
        lines.append(f"- Temperature: its outputs are divided by a fitted temperature ({cfg['temperature']:.3f}); "
                     "the paper has none.")
    return [*lines, ""]


# the datasets a card's cross-dataset table can hold, as benchmarks/compare_models.py names them
CROSS_DATASETS = {"ckplus": ("CK+48", "CK+48 (6 classes, contempt dropped; the dataset's own crops)"),
                  "jaffe": ("JAFFE", "JAFFE (full heads, found and aligned by the `{detector}` detector)")}


def model_files(model_dir: Path, int8_file: str = "") -> dict[str, str]:
    """{file: sha256} of a model folder's graphs (``model.onnx`` and its int8 copy): which weights a card's numbers
    belong to."""
    from fervid.inference.models import file_sha256

    return {name: file_sha256(model_dir / name) for name in ("model.onnx", *([int8_file] if int8_file else []))}


def cross_dataset_from_comparison(comparison: dict, name: str, digests: Sequence[str]) -> dict:
    """A model card's cross-dataset table from a ``benchmarks/compare_models.py --json`` file: model ``name``'s CK+
    and JAFFE scores (accuracy, macro-F1, calibration) with the other models' accuracy in the same run. ValueError
    where the file holds no ``name`` measured on one of ``digests`` (the folder's graphs): another network's numbers
    under the same name must not enter its card."""
    rows = [row for row in comparison.get("models", {}).values() if row.get("model") == name]
    if not rows:
        raise ValueError(f"it holds no model named {name}")
    mine = next((row for row in rows if row.get("weights_sha256") in digests), None)
    if mine is None:
        raise ValueError(f"its {name} is not these weights (no weights_sha256 of this folder's graphs: measured on "
                         "other weights, or before compare_models recorded them)")
    datasets = []
    for key in CROSS_DATASETS:
        if key in mine:
            scores = mine[key]
            datasets.append({
                "dataset": key, "n": scores["n"], "accuracy": scores["accuracy"],
                "accuracy_ci95": scores.get("accuracy_ci95"), "ci_method": scores.get("ci_method"),
                "macro_f1": scores["macro_f1"], "calibration": scores.get("calibration"),
                # rows: the dataset's label, columns: the prediction (per-class recall, and where it went)
                "confusion": scores.get("confusion"),
                "others": {row["model"]: row[key]["accuracy"] for row in comparison["models"].values()
                           if row is not mine and key in row}})
    if not datasets:
        raise ValueError(f"it scores {name} on no cross-dataset faces ({', '.join(CROSS_DATASETS)})")
    return {"command": comparison.get("command"), "fervid": comparison.get("fervid"),
            "onnxruntime": comparison.get("onnxruntime"), "cpu": comparison.get("cpu"),
            "detector": comparison.get("detector"), "precision": mine["precision"],
            "weights_file": mine["weights_file"], "weights_sha256": mine["weights_sha256"], "datasets": datasets}


DEGRADED_CONDITIONS = ("downsampled 4x", "eyes blacked out", "mouth blacked out", "noise sd 40")


def degraded_faces_from_benchmark(report: dict, name: str, digests: Sequence[str]) -> dict:
    """A model card's record of ``benchmarks/degraded_faces.py --json``: model ``name``'s accuracy, share flagged
    `uncertain` and mean confidence on CK+ and JAFFE faces as they are and degraded. ValueError where the file holds
    no ``name`` measured on one of ``digests`` (the folder's graphs), as :func:`cross_dataset_from_comparison`."""
    key = next((key for key, row in report.get("models", {}).items() if row.get("model") == name), None)
    if key is None:
        raise ValueError(f"it holds no model named {name}")
    if report["models"][key].get("weights_sha256") not in digests:
        raise ValueError(f"its {name} is not these weights (no weights_sha256 of this folder's graphs)")
    return {"command": report.get("command"), "cpu": report.get("cpu"), **report["models"][key],
            "datasets": {dataset: {condition: {k: scores[k] for k in ("n", "accuracy", "uncertain_share",
                                                                      "mean_confidence", "errors_at_0.9")}
                                   for condition, scores in by_model[key].items()}
                         for dataset, by_model in report["results"].items() if key in by_model}}


def _degraded_faces_limitation(degraded: dict | None) -> str:
    """The Limitations line of the `uncertain` flag on degraded and occluded faces: measured (``degraded``, from
    :func:`degraded_faces_from_benchmark`) or not."""
    if not degraded:
        return ("Whether the `uncertain` flag catches degraded or occluded faces is not measured for these weights "
                "(`python benchmarks/degraded_faces.py --models ...`); for the shipped default it does not "
                "(docs/results.md section 5).")
    parts = []
    for dataset, conditions in degraded["datasets"].items():
        cells = [f"{condition} {scores['accuracy']:.3f} / {scores['uncertain_share']:.1%} / "
                 f"{scores['mean_confidence']:.2f}" for condition, scores in conditions.items()
                 if condition in ("original", *DEGRADED_CONDITIONS) and scores["mean_confidence"] is not None]
        n = next(iter(conditions.values()))["n"]
        parts.append(f"{CROSS_DATASETS[dataset][0]} ({n} faces): " + "; ".join(cells).replace("original ",
                                                                                            "as they are ", 1))
    return ("The `uncertain` flag does not detect degraded or occluded faces: the share it flags need not rise as "
            "accuracy falls, and the confidence can rise (accuracy / share flagged / mean confidence, "
            f"`{degraded['command']}`, docs/results.md section 5) - " + "; ".join(parts) + ".")


def recorded_commands(model_dir: str | Path) -> list[dict]:
    """The commands ``fervid train`` recorded for the run a model folder was exported from
    (``training_commands.jsonl``): the run's, then each ``--resume``'s, each with its time, the folder it ran in and
    the epochs it started after; none for a model exported before fervid recorded them, or trained elsewhere."""
    path = Path(model_dir) / "training_commands.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    return [json.loads(line) for line in lines if line]


def write_model_card(model_dir: str | Path, ev: Evaluation, command: str, data: str, precision: str = "fp32",
                     fp32: Evaluation | None = None, cross_dataset: dict | None = None,
                     degraded_faces: dict | None = None) -> dict:
    """Write ``card.json`` and ``MODEL_CARD.md`` (:func:`model_card_markdown` of it) into a model folder from a
    measured evaluation.

    ``command``: the training command given (``--command``); the commands ``fervid train`` recorded
    (:func:`recorded_commands`) are the card's where it is none of them or one of them (then the card's command is
    the run's own, the first), and are listed beside one that differs.

    ``ev`` is measured on the model fervid runs by default (``precision``); where that is the int8 model,
    ``fp32`` is the same evaluation of the float model it was quantized from. ``cross_dataset``: the model's
    scores on other faces (:func:`cross_dataset_from_comparison`); ``degraded_faces``: its accuracy and `uncertain`
    flag on those faces degraded (:func:`degraded_faces_from_benchmark`).

    What a card records that no file of the run holds is written into its card.json by hand: ``training.notes``
    (where the run's CPU was, the stages before it) and ``chosen_among_runs`` (how this run was picked among others,
    which flatters its scores). They, and a cross-dataset table or degraded-faces record not given anew, are kept
    while ``model.onnx`` is the same file, so that measuring a card again cannot drop a disclosure; new weights
    start without them."""
    from fervid.inference.models import runtime_versions

    model_dir = Path(model_dir)
    summary = _read_json(model_dir / "training_summary.json")
    train_cfg = _read_json(model_dir / "training_config.json")
    validation_split = {key: summary[key] for key in VALIDATION_SPLIT_KEYS if key in summary}
    metrics = []
    if (model_dir / "training_metrics.jsonl").is_file():
        lines = (model_dir / "training_metrics.jsonl").read_text(encoding="utf-8").splitlines()
        metrics = [json.loads(line) for line in lines if line]
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    files = model_files(model_dir, cfg.get("int8_file", ""))
    previous = _read_json(model_dir / "card.json")
    # an earlier card of these very weights: what it recorded by hand still holds (a retrained model.onnx clears it)
    kept = previous if previous.get("weights", {}).get("model.onnx") == files["model.onnx"] else {}
    if cross_dataset is None and (kept.get("cross_dataset") or {}).get("weights_sha256") in files.values():
        cross_dataset = kept["cross_dataset"]
    if degraded_faces is None and (kept.get("degraded_faces") or {}).get("weights_sha256") in files.values():
        degraded_faces = kept["degraded_faces"]
    # a model trained elsewhere (no training record in its folder): its card claims nothing of fervid's training;
    # one whose training_config.json alone is missing says so of what that file records, and gives the rest
    recorded = bool(train_cfg)
    records = training_records(model_dir)
    unknown = config_not_recorded(records)
    exported_checkpoint = summary.get("exported_checkpoint", "best.pt" if recorded else None)
    selected = exported_checkpoint == "best.pt"
    chosen_among_runs = kept.get("chosen_among_runs")
    calibration = _read_json(model_dir / "calibration.json") or None
    commands = recorded_commands(model_dir)
    if commands and commands[0]["resumed"]:  # the run's start unrecorded (begun by train() without a command line):
        commands = []  # its resumes alone reproduce nothing
    if commands and (not command or command in [c["command"] for c in commands]):
        command = commands[0]["command"]
    card = {
        "name": cfg["name"],
        "task": "7-class facial expression recognition on aligned grey 48x48 faces",
        "classes": list(EMOTIONS),
        "architecture": {"type": "VGG-style CNN" if recorded else unknown, **cfg["net"]},
        "training": {
            # a shell command line, pasteable; what it cannot say goes in notes
            "command": command,
            # as `fervid train` recorded them (absent where it did not): the run's, then each --resume's
            **({"commands": commands} if commands else {}),
            "data": data,
            # the epochs that ran: a stopped run's config plans more than it did
            "epochs": metrics[-1]["epoch"] if metrics else summary.get("epochs", train_cfg.get("epochs")),
            "planned_epochs": train_cfg.get("epochs"),
            "wall_seconds": summary.get("wall_seconds"),
            "machine": summary.get("machine"),
            "torch": summary.get("torch"),
            "train_rows": summary.get("train_rows"),
            "train_class_counts": summary.get("train_class_counts"),
            "device": summary.get("device"),
            "precision": summary.get("precision"),
            # the MEDIAN of the epochs' own seconds (training_metrics.jsonl), None where they were not recorded: a run
            # paused while other work used the machine has a longer wall time. Not training_summary.json's
            # "seconds_per_epoch", which is the mean wall time, kept below; it was this key's fallback, so the same
            # key held a median or a mean and the card called either a median
            "seconds_per_epoch": (round(float(np.median([m["seconds"] for m in metrics])), 1)
                                  if metrics and all("seconds" in m for m in metrics) else None),
            # the MEAN: training_summary.json's "seconds_per_epoch", wall time over epochs (pauses included)
            "wall_seconds_per_epoch": summary.get("seconds_per_epoch"),
            "best_epoch": max(metrics, key=lambda m: m["val_acc"])["epoch"] if metrics else None,
            "exported_checkpoint": exported_checkpoint,
            "exported_epoch": summary.get("exported_epoch"),
            # how a held-out share was set apart (by person, or face by face), where the run recorded it
            **({"validation_split": validation_split} if validation_split else {}),
            "config": train_cfg,
            # the training record files the folder held: a card says which one a fact it lacks is missing from
            "records": records,
            "notes": kept.get("training", {}).get("notes", []),
        },
        "data_and_consent": data_and_consent(
            train_cfg, unknown, command,
            commands[0].get("directory") if commands and command == commands[0]["command"] else None),
        # the graph measured has its own key: "precision" in the evaluation is the 7 per-class precisions, which a
        # {..., "precision": "int8"} merge replaced with the graph's name
        "graph_precision": precision,
        "evaluation": _card_record(ev),
        "evaluation_fp32": _card_record(fp32) if fp32 is not None else None,
        # the files the numbers were measured on, and the versions that measured them and wrote this card
        "weights": files,
        "written_by": runtime_versions(),
        "cross_dataset": cross_dataset,
        "degraded_faces": degraded_faces,
        "calibration": calibration,
        "onnx_megabytes": round((model_dir / "model.onnx").stat().st_size / 1e6, 2),
        "int8_onnx_megabytes": round((model_dir / cfg["int8_file"]).stat().st_size / 1e6, 2)
        if cfg.get("int8_file") else None,
        "evaluated_on": platform.platform(),
        "chosen_among_runs": chosen_among_runs,
        "limitations": [
            (f"Trained on a folder of your own faces ({train_cfg.get('data')}); how it does on faces unlike them "
             "(other people, cameras, lighting, head poses) is not measured here."
             if train_cfg.get("data_kind") == "folder" else
             f"Its training faces are {unknown}; how it does on faces unlike them is not measured here."
             if not recorded else
             "FER2013 faces are mostly frontal web images. "
             + ("Beyond them it was measured on posed, frontal, evenly lit lab faces only (the cross-dataset table "
                "above: lower accuracy than on FER2013's faces)" if cross_dataset else
                "Its accuracy on other faces is not measured here (see docs for cross-dataset numbers when "
                "available)")
             + "; profile views, strong or uneven lighting and spontaneous expressions were not measured."),
            *([_lab_confidence_limitation(cross_dataset)] if cross_dataset else []),
            _degraded_faces_limitation(degraded_faces),
            "Emotion labels describe facial expressions, not felt emotions.",
            (f"{_sentence_start(selection_faces(train_cfg, summary))} chose the epoch shipped, so accuracy measured "
             "on those faces is "
             + ("optimistic, by much where one person's (or one video's) faces are on both sides of that split."
                if train_cfg.get("data_kind") == "folder" and not train_cfg.get("val_data")
                and summary.get("held_out_by") != "subject" else
                "slightly optimistic.")) if selected else
            "The last epoch of the schedule is shipped, so no epoch was chosen on the test set; but "
            + chosen_among_runs if chosen_among_runs else
            f"How these weights were chosen is {unknown}: any faces they were chosen on score them "
            "optimistically." if not recorded else
            "The last epoch of the schedule is shipped: no epoch was chosen on the evaluation faces (a recipe or "
            "seed picked among runs by their score on them would still flatter it: see the model's docs for how it "
            "was chosen).",
        ],
    }
    # rendered before either file is written: a card that cannot be rendered leaves the folder's cards as they were
    markdown = model_card_markdown(card)
    write_json(model_dir / "card.json", card)
    (model_dir / "MODEL_CARD.md").write_text(markdown, encoding="utf-8")
    return card


def recalibrate_card(model_dir: str | Path, calibration: dict) -> bool:
    """Put ``calibration`` (``fervid calibrate``'s report, as written to ``calibration.json``) into the folder's
    model card, card.json and MODEL_CARD.md, as ``--write-card`` would put it there: a temperature changes no face's
    label, so the card's evaluation stands. False where the folder has no card; ValueError, naming why and what
    writes the card anew, where its card cannot take it: a MODEL_CARD.md without its card.json, a card of other
    weights than the folder's, or a cross-dataset table whose calibration was measured at another temperature than
    the model keeps now."""
    model_dir = Path(model_dir)
    card_file, markdown_file = model_dir / "card.json", model_dir / "MODEL_CARD.md"
    rewrite = f"fervid evaluate --model {shlex.quote(str(model_dir))} --data ... --write-card"
    if not card_file.is_file():
        if markdown_file.is_file():
            raise ValueError(f"{markdown_file} has no card.json beside it to rewrite it from (`{rewrite}` writes both)")
        return False
    card = json.loads(card_file.read_text(encoding="utf-8"))
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if card.get("weights") != model_files(model_dir, cfg.get("int8_file", "")):
        raise ValueError(f"{card_file} describes other weights than the folder's graphs (`{rewrite}` writes a card "
                         "of these)")
    temperature = calibration["kept_temperature"]
    measured_at = sorted({row["calibration"]["temperature"] for row in (card.get("cross_dataset") or {}).get(
        "datasets", []) if row.get("calibration") and row["calibration"].get("temperature") != temperature})
    if measured_at:
        raise ValueError(f"{card_file}'s cross-dataset table gives calibration errors at temperature "
                         f"{', '.join(map(str, measured_at))}, and the model's is {temperature} now (measure them "
                         f"again, `python benchmarks/compare_models.py ... --json FILE`, then `{rewrite} "
                         "--cross-dataset FILE`)")
    card["calibration"] = calibration
    markdown = model_card_markdown(card)  # rendered first: a card that cannot be rendered leaves both as they were
    write_json(card_file, card)
    markdown_file.write_text(markdown, encoding="utf-8")
    return True


def _lab_confidence_limitation(cross: dict) -> str:
    """The limitation a card's cross-dataset calibration gives: where the model's confidence was measured, and
    that it was not measured elsewhere."""
    rows = [row for row in cross["datasets"] if row.get("calibration")]
    return ("Its confidence was measured against its accuracy on web photos like its training faces (Calibration) and "
            "on posed lab faces (the cross-dataset table: expected calibration error "
            + ", ".join(f"{row['calibration']['ece']:.3f} on {CROSS_DATASETS[row['dataset']][0]}" for row in rows)
            + "); on other faces (video, other cameras, spontaneous expressions) it is not measured.")


def _cross_dataset_lines(cross: dict) -> list[str]:
    """The card's "Cross-dataset" section: the model on posed lab faces, no fine-tuning, with the other models of
    the same run."""
    others = list(dict.fromkeys(name for row in cross["datasets"] for name in row["others"]))
    lines = ["## Cross-dataset, no fine-tuning",
             f"{cross['precision']}, `{cross['weights_file']}` (this card's weights), measured by `{cross['command']}` "
             f"(fervid {cross['fervid']}, ONNX Runtime {cross['onnxruntime']}, {cross['cpu']}). Calibration error: "
             "expected calibration error, 15 bins, at the model's temperature (in brackets: at temperature 1, where "
             "the model has another).",
             "",
             "| " + " | ".join(["dataset", "faces", "accuracy (95% CI)", "macro-F1",
                                "calibration error / mean confidence", *(f"`{name}`, same run" for name in others)])
             + " |",
             "|---|---|---|---|---|" + "---|" * len(others)]
    for row in cross["datasets"]:
        ci, cal = row.get("accuracy_ci95"), row.get("calibration") or {}
        interval = f" ({ci[0]:.3f}-{ci[1]:.3f}, {row['ci_method']})" if ci else ""
        at_one = cal.get("at_temperature_1")
        calibration = (f"{cal['ece']:.3f} / {cal['mean_confidence']:.3f}"
                       + (f" (T=1: {at_one['ece']:.3f} / {at_one['mean_confidence']:.3f})" if at_one else "")
                       if cal else "n/a")
        cells = [CROSS_DATASETS[row["dataset"]][1].format(detector=cross["detector"]), str(row["n"]),
                 f"{row['accuracy']:.4f}{interval}", f"{row['macro_f1']:.3f}", calibration,
                 *(f"{row['others'][name]:.4f}" if name in row["others"] else "-" for name in others)]
        lines.append("| " + " | ".join(cells) + " |")
    with_confusion = [row for row in cross["datasets"] if row.get("confusion")]
    if with_confusion:
        lines += ["", "Recall by class (of the faces with each label, those given it):", "",
                  "| dataset | " + " | ".join(EMOTIONS) + " |", "|---|" + "---|" * len(EMOTIONS)]
        for row in with_confusion:
            confusion = np.asarray(row["confusion"])
            lines.append(f"| {CROSS_DATASETS[row['dataset']][0]} | " + " | ".join(
                f"{confusion[i, i]}/{confusion[i].sum()}" if confusion[i].sum() else "-"
                for i in range(len(EMOTIONS))) + " |")
    missed = [f"{CROSS_DATASETS[row['dataset']][0]}'s " + ", ".join(_missed(np.asarray(row["confusion"])))
              for row in with_confusion if _missed(np.asarray(row["confusion"]))]
    lines += ["", f"Whose faces these are: {LAB_POPULATIONS} {POSED_LABELS}"
              + (f" Classes mostly missed ({MISSED_BELOW:.0%} recall or less; what they were read as): "
                 + "; ".join(missed) + ". Why is not known; JAFFE's 6 posers speak for no wider group." if missed
                 else "") + " No breakdown by age, sex or skin tone was made on either dataset."]
    return [*lines, ""]


MISSED_BELOW = 0.25  # a class recalled this rarely or less is named, with where its faces went


def _missed(confusion: np.ndarray) -> list[str]:
    """"angry 0/18 (neutral 15, sad 3)" for each class of a confusion matrix (rows: the label) recalled at
    MISSED_BELOW or less: where its faces went, the two predictions most given instead."""
    named = []
    for i, row in enumerate(confusion):
        if row.sum() and row[i] / row.sum() <= MISSED_BELOW:
            instead = [j for j in np.argsort(-row, kind="stable") if j != i and row[j]][:2]
            named.append(f"{EMOTIONS[i]} {row[i]}/{row.sum()} (" + ", ".join(f"{EMOTIONS[j]} {row[j]}"
                                                                           for j in instead) + ")")
    return named


# an evaluation's fields a card does not record: kappa, an agreement score for one's own annotations (evaluate's
# metrics.json), which the shipped cards, measured before it was, and their published tables do not give
_NOT_ON_CARDS = ("kappa", "kappa_ci95", "kappa_ci_method")


def _card_record(ev: Evaluation) -> dict:
    return {key: value for key, value in ev.to_dict().items() if key not in _NOT_ON_CARDS}


def model_card_markdown(card: dict) -> str:
    """``MODEL_CARD.md`` from ``card.json`` alone: a shipped card can be checked against what it records."""
    training, net, train_cfg = card["training"], card["architecture"], card["training"]["config"]
    ev = Evaluation(**card["evaluation"])
    fp32 = Evaluation(**card["evaluation_fp32"]) if card.get("evaluation_fp32") else None
    precision = card["graph_precision"]
    selected = training["exported_checkpoint"] == "best.pt"
    command, commands = training["command"], training.get("commands", [])
    versions = card["written_by"]
    graph = next((name for name in card["weights"] if name != "model.onnx"), "model.onnx") \
        if precision == "int8" else "model.onnx"
    # (a card from before it recorded them: its folder held all three)
    records = training.get("records", TRAINING_RECORDS)
    unknown = config_not_recorded(records)
    md = [
        f"# Model card: {card['name']}",
        "",
        card["task"] + ". Outputs logits over "
        + ", ".join(card["classes"]) + f" and a {net.get('feature_dim', 512)}-d feature (the penultimate layer).",
        "",
        *USE_SECTIONS,
        "## Training",
        *_command_lines(command, commands),
        f"- Data: {training['data']}",
        f"- Targets: {_targets(train_cfg, training) if train_cfg else unknown}",
        *_class_count_lines(train_cfg, training),
        *([f"- This run continued from `{train_cfg['init_from']}` (an earlier stage, "
           + ("trained by a command of its own" if commands and command == commands[0]["command"] else
              "see the command") + "); the epochs and wall time below are this stage's"
           if train_cfg["init_from"].endswith(".pt") else
           f"- This run started from the weights of `{train_cfg['init_from']}` (what they learnt from: Data and "
           "consent); the epochs and wall time below are this run's"] if train_cfg.get("init_from") else []),
        *([f"- Distilled: targets blend the labels with {train_cfg.get('teacher_weight')} x the mean "
           + {"views": f"probabilities on {train_cfg.get('teacher_views')} stored augmented views of each face ",
              "online": "probabilities on each batch's own augmented faces "}.get(
                  train_cfg.get("teaching", "faces"), "flip-averaged probabilities ")
           + f"of {', '.join(f'`{t}`' for t in train_cfg['teachers'])}"] if train_cfg.get("teachers") else []),
        f"- Epochs: {unknown}" if training["epochs"] is None else
        f"- Epochs: {training['epochs']} "
        + (f"of {training['planned_epochs']} planned (the run was stopped) "
           if training["planned_epochs"] not in (None, training["epochs"]) else "")
        # the epoch was chosen on the training run's own validation faces, whatever this evaluation's data
        + (f"(best on {selection_faces(train_cfg, training.get('validation_split'))}" + next((f" at epoch {epoch}" for epoch in (
            training["best_epoch"], training.get("exported_epoch")) if epoch is not None), "") + ")" if selected else
           f"(the last epoch, {training['exported_epoch']}, is shipped: no epoch was chosen on the test set"
           + (", but the run was chosen among others; see Limitations)" if card.get("chosen_among_runs") else ")")),
        _wall_time_line(training, records) if records else f"- Wall time: {NOT_RECORDED}",
        f"- Network: stages {net.get('stages')}, convs per stage {net.get('convs_per_stage')}, "
        f"feature {net.get('feature_dim')}, dropout {net.get('dropout')}"
        f"{', no batch norm' if net.get('batch_norm') is False else ''}; ONNX {card['onnx_megabytes']:.1f} MB"
        if "stages" in net else
        f"- Network: {net['type']}, feature {net.get('feature_dim', 512)}; ONNX {card['onnx_megabytes']:.1f} MB",
        *[f"- {note}" for note in training.get("notes", [])],
        "",
        "## Data and consent",
        *[f"- {item}" for item in card["data_and_consent"]],
        "",
        f"## Evaluation on {ev.dataset} ({ev.n} faces)",
        f"Accuracy **{ev.accuracy:.4f}**{_interval(ev)}, macro-F1 {ev.macro_f1:.4f}, measured through fervid's ONNX "
        f"inference path ({precision} model{', the default' if precision == 'int8' else ''}).",
        *([f"The fp32 model it was quantized from: accuracy {fp32.accuracy:.4f}{_interval(fp32)}, macro-F1 "
           f"{fp32.macro_f1:.4f}."] if fp32 is not None else []),
        f"Measured on `{graph}` (sha256 `{card['weights'][graph]}`)"
        + "".join(f", beside `{name}` (sha256 `{digest}`)" for name, digest in card["weights"].items()
                  if name != graph)
        + f", by fervid {versions['fervid']} with ONNX Runtime {versions['onnxruntime']}.",
        "",
        ev.per_class_table(),
        "",
        "Confusion matrix (rows: true, columns: predicted):",
        "",
        ev.confusion_table(),
        "",
        *(_cross_dataset_lines(card["cross_dataset"]) if card.get("cross_dataset") else []),
        *(_calibration_lines(card["calibration"], card.get("cross_dataset")) if card["calibration"] else []),
        "## Limitations",
        *[f"- {item}" for item in card["limitations"]],
        "",
    ]
    return "\n".join(md)


def _command_lines(command: str, commands: list[dict]) -> list[str]:
    """The card's training command: the run's and each ``--resume``'s as ``fervid train`` recorded them, after the
    one given to ``--write-card --command`` where that is none of them."""
    if not commands:
        return [f"- Command: `{command}`" if command else "- Command: not recorded (`fervid evaluate --write-card "
                                                         "--command '...'` records it)"]
    run, resumes = commands[0], commands[1:]
    given = command != run["command"]

    def ran_in(record: dict) -> str:  # the folder its relative paths are read from (none recorded before 0.3.0)
        return f"run in `{record['directory']}`, " if record.get("directory") else ""
    return [*([f"- Command: `{command}` (as given to `fervid evaluate --write-card --command`; `fervid train` "
               "recorded another, below)"] if given else []),
            f"- {'Recorded by `fervid train`' if given else 'Command'}: `{run['command']}` "
            f"({ran_in(run)}{'' if given else 'recorded by `fervid train`, '}{run['time']})",
            *(f"- Resumed after epoch {c['epochs_done']}: `{c['command']}` ({ran_in(c)}{c['time']})" for c in resumes)]


def _sentence_start(text: str) -> str:
    """``text`` starting a sentence: fervid's own words capitalised ("the validation faces", "its run's ..."); a
    name from the run's config (a folder, "PublicTest") kept as written."""
    return text[0].upper() + text[1:] if text.startswith(("the ", "its ")) else text


def _interval(ev: Evaluation) -> str:
    """" (95% CI 0.835-0.859, Wilson)" where the evaluation carries its accuracy's interval, else nothing."""
    ci = ev.accuracy_ci95
    return f" (95% CI {ci[0]:.3f}-{ci[1]:.3f}, {ev.ci_method})" if ci else ""


def _wall_time_line(training: dict, records: Sequence[str] = TRAINING_RECORDS) -> str:
    """The card's wall time, the CPU and precision the run recorded, and its speed per epoch: the median epoch
    (``seconds_per_epoch``) and the mean wall time over epochs (``wall_seconds_per_epoch``), each named. No wall
    time: the run did not finish where its summary (``records``: the folder's training records) says so or its
    epochs fell short of the plan; else the summary is missing, which says nothing of how the run ended."""
    median, mean = training["seconds_per_epoch"], training.get("wall_seconds_per_epoch")
    speed = f"median {median} s/epoch" if median else ""
    # the run's own figure, where it differs from the median: the difference is time it waited for the machine
    if mean is not None and mean != median:
        speed += (("; " if speed else "") + f"mean {mean} s/epoch, wall time over epochs: it counts any time "
                  "the machine was shared")
    if training["wall_seconds"] is None:
        stopped = training.get("planned_epochs") not in (None, training.get("epochs"))
        why = ("the run did not finish; its summary.json is written at the end"
               if "training_summary.json" in records or stopped else "the model folder has no training_summary.json")
        return f"- Wall time: not recorded ({why})" + (f"; {speed}" if speed else "")
    line = f"- Wall time: {training['wall_seconds']} s on {training['machine']}"
    if training["device"]:
        return (line + f" ({', '.join(str(x) for x in (training['device'], training['precision'], speed) if x)}), "
                f"torch {training['torch']}")
    return line + f", torch {training['torch']} ({speed + '; ' if speed else ''}the run did not record its CPU or precision)"


def _targets(train_cfg: dict, summary: dict) -> str:
    """What the network was taught, in words, for the model card."""
    labels = train_cfg.get("labels", "fer2013")
    rows = f" ({summary['train_rows']:,} training faces)" if summary.get("train_rows") else ""
    if train_cfg.get("data_kind") == "folder":
        return f"the labels of the folders each face was in (<emotion>/<image>){rows}"
    if labels == "fer2013":
        return f"FER2013's original labels, one annotator per face{rows}"
    kept = ("; faces FER+ dropped, or whose most-voted answer is unknown, not-a-face or contempt, are left out"
            + rows)
    if labels == "ferplus":
        return "FER+'s majority vote of ten annotators" + kept
    weight = train_cfg.get("ferplus_weight", 0.5)
    blend = "" if weight == 1 else f", blended {1 - weight:g} : {weight:g} with FER2013's label"
    return f"FER+'s ten-annotator vote distribution over the 7 emotions (contempt votes dropped){blend}" + kept


def _class_count_lines(train_cfg: dict, summary: dict) -> list[str]:
    """The training faces of each emotion, and the emotions with none (whose outputs the run never taught: kept from
    the network it started from, or untrained), for the model card; nothing where the run did not record them."""
    counts = summary.get("train_class_counts")
    if not counts:
        return []
    lines = ["- Training faces per emotion: " + ", ".join(f"{e} {counts.get(e, 0):,}" for e in EMOTIONS)]
    untaught = [e for e in EMOTIONS if not counts.get(e)]
    if untaught:
        source = (f"as the network it started from (`{train_cfg['init_from']}`) had it" if train_cfg.get("init_from")
                  else "untrained: read nothing into it" if train_cfg else
                  "as the network it started from had it, if it started from one (not recorded: the model folder "
                  "has no training_config.json)")
        lines.append(f"- No training face of {', '.join(untaught)}: its output is {source}")
    return lines


def _share(value: float | None, why_none: str) -> str:
    """A share for the card (73.1%), or "n/a" and why where there was nothing to count (calibration.json's null
    accuracy of the uncertain faces where every face was confident, and the other way round)."""
    return f"n/a ({why_none})" if value is None else f"{value:.1%}"


def _calibration_lines(cal: dict, cross: dict | None = None) -> list[str]:
    """The card's "Calibration" section: the temperature, the error it leaves on the faces it was fitted on and on
    held-out halves of them, and, from the cross-dataset table, on faces unlike them."""
    # (a calibration.json from before the halvings were several: one halving, no standard error)
    halvings = len(cal.get("split_seeds", [])) or 1
    mean = f"means over {halvings} random halvings, " if halvings > 1 else ""
    gain = (f"; a gain of {cal['ece_gain']} +- {cal['ece_gain_se']} (standard error over the halvings)"
            if "ece_gain_se" in cal else "")
    lines = [
        "## Calibration",
        f"Temperature {cal['temperature']} fitted on {cal['dataset']} ({cal['n']} faces) by `fervid calibrate`. "
        f"Expected calibration error ({cal.get('ece_bins', 15)} bins): {cal['ece_before']} at temperature 1"
        + (f", {cal['ece_current']} at the temperature the model had, {cal['current_temperature']}"
           if cal.get("current_temperature", 1.0) != 1.0 else "")
        + f", {cal['ece_after']} after, measured on the faces it was fitted on "
        f"({cal['ece_after_cross_fitted']} when the temperature is fitted on one half and measured on the other"
        + (f", the mean over {halvings} random halvings" if halvings > 1 else "") + "). "
        + (f"The temperature is applied ({mean}{cal['ece_after_cross_fitted']} against {cal['ece_current_halves']} at "
           f"the temperature the model had, on the same halves{gain})." if cal.get("applied", True) and gain else
           "The temperature is applied." if cal.get("applied", True) else
           f"It is at the end of the range searched ({cal['fitting_bounds'][0]}-{cal['fitting_bounds'][1]}), so no "
           f"temperature fits these faces; the model keeps temperature {cal.get('kept_temperature', 1.0)}."
           if cal.get("at_fitting_bound") else
           "It did not lower the error on held-out faces" + (" by more than its standard error" if gain else "")
           + (f" ({mean}{cal['ece_after_cross_fitted']} against {cal['ece_current_halves']} at the temperature the "
              f"model had, on the same halves{gain})" if "ece_current_halves" in cal else "")
           + f", so the model keeps temperature {cal.get('kept_temperature', 1.0)}."),
        f"Faces whose top probability is below {cal['uncertain_below']} are flagged `uncertain`: "
        f"{cal['uncertain_share']:.1%} of {cal['dataset']}, right "
        + _share(cal["accuracy_uncertain"], f"no face below {cal['uncertain_below']}") + " of the time, against "
        + _share(cal["accuracy_confident"], f"no face at {cal['uncertain_below']} or more") + " for the others.",
    ]
    rows = [row for row in (cross or {}).get("datasets", []) if row.get("calibration")]
    if rows:
        names = [CROSS_DATASETS[row["dataset"]][0] for row in rows]
        lines.append(
            "On the posed lab faces of the cross-dataset table: "
            + ", ".join(f"{row['calibration']['ece']:.3f} on {name} (mean confidence "
                        f"{row['calibration']['mean_confidence']:.3f} for accuracy {row['accuracy']:.3f}; "
                        f"{row['calibration']['confident_errors']} of its {row['calibration']['errors']} errors at "
                        f"confidence {row['calibration']['confident_at']} or more)" for row, name in zip(rows, names))
            + (". At temperature 1: " + ", ".join(f"{row['calibration']['at_temperature_1']['ece']:.3f} on {name}"
                                                  for row, name in zip(rows, names))
               if all("at_temperature_1" in row["calibration"] for row in rows) else "")
            + "." + (f" The temperature, fitted on {cal['dataset']}, is no promise on other faces."
                     if cal.get("applied", True) else ""))
    return [*lines, ""]


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
