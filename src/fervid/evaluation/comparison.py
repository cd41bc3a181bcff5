"""Several models scored on the same faces, side by side: ``fervid evaluate --model a --model b`` (each model's own
outputs are :func:`fervid.evaluation.evaluate.write_report`'s), with a paired test of each two."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

import fervid
from fervid.emotions import EMOTIONS
from fervid.evaluation.intervals import paired_difference
from fervid.inference.annotate import naming_file
from fervid.inference.models import recorded_model_folder
from fervid.inference.set_aside import staged_outputs
from fervid.inference.records import write_csv
from fervid.json_files import write_json


class ModelScores:
    """One model's evaluation on a dataset, as ``fervid evaluate`` made it: its ``evaluation``, probabilities and
    ``right`` answers face by face, the lines a summary prints (``printed``), and among them its warnings and
    notices and what the data left out (said on stderr with --quiet)."""

    def __init__(self, cnn, dataset, evaluation, probabilities, printed: list[str], notices: list[str],
                 left_out: list[str]):
        self.cnn, self.dataset, self.evaluation, self.probabilities = cnn, dataset, evaluation, probabilities
        self.name = cnn.config.name
        self.right = probabilities.argmax(1) == dataset.labels
        self.printed, self.notices, self.left_out = printed, notices, left_out


def paired_answers(first: ModelScores, other: ModelScores):
    """Two models' right (True) and wrong answers on the faces both scored, face by face, and the person of each
    face (None where the data does not name them all). The faces are one dataset's, or, framed by each model
    (photos, JAFFE), paired by their source."""
    if first.dataset is other.dataset:
        mine, theirs = np.arange(len(first.right)), np.arange(len(other.right))
    else:
        index = {source: i for i, source in enumerate(other.dataset.sources)}
        mine = np.array([i for i, source in enumerate(first.dataset.sources) if source in index], int)
        theirs = np.array([index[first.dataset.sources[i]] for i in mine], int)
    subjects = first.dataset.subjects
    people = [subjects[i] for i in mine] if subjects and all(subjects) else None
    return first.right[mine], other.right[theirs], people


def compare_models(scored: list[ModelScores], data: str, out: Optional[Path]) -> list[str]:
    """Several models' scores side by side (accuracy with its interval, macro-F1, per-class F1) and a paired test
    of each two on the faces both scored, with each model's caveats (its warnings and notices: faces it was
    trained or tuned on); written to ``out`` (comparison.md, .csv: a row per model, its caveats joined by " | ",
    .json: both tables) where given. Returns the lines to print."""
    value = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    first = scored[0].evaluation
    lines = [f"## {' vs '.join(s.name for s in scored)} on {first.dataset}", "",
             f"| model | precision | faces | accuracy (95% CI) | {first.macro_f1_label} | "
             + " | ".join(f"F1 {emotion}" for emotion in EMOTIONS) + " |", "|---" * (5 + len(EMOTIONS)) + "|"]
    rows = []
    for s in scored:
        ev = s.evaluation
        ci = ev.accuracy_ci95 or [None, None]
        interval = f"{ci[0]:.4f}-{ci[1]:.4f}, {ev.ci_method}" if ev.accuracy_ci95 else f"no interval: {ev.ci_method}"
        lines.append(f"| {s.name} | {s.cnn.precision} | {ev.n} | {ev.accuracy:.4f} ({interval}) | {ev.macro_f1:.4f} | "
                     + " | ".join(value(f) for f in ev.f1) + " |")
        rows.append({"model": s.name, "model_folder": recorded_model_folder(s.cnn.folder), "precision": s.cnn.precision,
                     "dataset": ev.dataset, "n": ev.n, "accuracy": round(ev.accuracy, 4), "accuracy_ci95_low": ci[0],
                     "accuracy_ci95_high": ci[1], "ci_method": ev.ci_method, "macro_f1": round(ev.macro_f1, 4),
                     **{f"f1_{emotion}": f for emotion, f in zip(EMOTIONS, ev.f1)},
                     # its warnings and notices (trained on these faces, tuned on them): the table alone read as
                     # a fair comparison
                     "caveats": list(s.notices)})
    caveats = [f"- {s.name}: {line}" for s in scored for line in s.notices]
    if caveats:
        lines += ["", "Read these scores with:", "", *caveats]
    paired = []
    for i, one in enumerate(scored):
        for other in scored[i + 1:]:
            mine, theirs, people = paired_answers(one, other)
            paired.append({"first": one.name, "second": other.name,
                           "interval_over": "subjects" if people else "faces",
                           **paired_difference(mine, theirs, people)})
    lines += ["", "Paired, on the faces both scored: the second model's accuracy minus the first's, with a 95% "
              "interval over the people pictured where the data names them, else over faces (a paired bootstrap "
              "over 30 or more, a t interval under), and the exact McNemar p of the faces only one of them got right "
              "(faces read as independent draws):", "", "| first | second | faces | only first right | only second right | difference (95% CI) | "
              "McNemar p |", "|---|---|---|---|---|---|---|"]
    for pair in paired:
        ci = pair["ci95"]
        interval = (f" ({ci[0]:+.4f} to {ci[1]:+.4f}, {pair['ci_method']})" if ci else
                    f" (no interval: {pair['ci_method'].removeprefix('none: ')})")
        lines.append(f"| {pair['first']} | {pair['second']} | {pair['n']} | {pair['discordant'][0]} | "
                     f"{pair['discordant'][1]} | {pair['difference']:+.4f}{interval} | {pair['mcnemar_p']:.2g} |")
    if out:
        written = [out / "comparison.md", out / "comparison.csv", out / "comparison.json"]
        with staged_outputs(out) as staging:  # (together; one open in Excel: none, and it is said to be)
            markdown, table, document = (staging / path.name for path in written)
            with naming_file(markdown):  # (a full disk fails the write, naming no file)
                markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
            with naming_file(table), open(table, "w", encoding="utf-8", newline="") as fh:
                write_csv(fh, list(rows[0]), ([" | ".join(row[column]) if column == "caveats" else row[column]
                                               for column in rows[0]] for row in rows))
            with naming_file(document):
                write_json(document, {"data": str(data), "fervid": fervid.__version__, "models": rows,
                                      "paired": paired})
        lines.append(f"wrote {', '.join(map(str, written))}")
    return ["", *lines]
