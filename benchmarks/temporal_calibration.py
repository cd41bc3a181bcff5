"""Calibration of the video methods' probabilities (issue 17): expected calibration error of frame / mean / HMM /
LSTM on clips of people nobody tuned anything on, before and after a temperature.

    python benchmarks/temporal_calibration.py --data ../shared/data --clips-per-person 2 --json docs/eval/temporal_calibration.json

The clips are simulated (fervid.evaluation.clips, where what is simulated is listed): 6 s of one CK+ or JAFFE
person's expressions giving way to one another (through neutral where the person has one), with head motion,
talking, blur and noise, upscaled to 192x192 and H.264-encoded at 30 fps, then read by the video pipeline
(centred windows, as for files). A frame's label is the expression with more weight in it; frames within 0.2 s of
a change are left out (their label is a matter of a frame or two). People come from the shipped LSTM's
subject-disjoint split: a temperature per method is fitted (negative log-likelihood) on the *validation* people's
clips and the error measured on the *test* people's. The LSTM ships with the temperature `fervid train-temporal`
fitted on the validation people (its config's "temperature"); its row's "before" is the LSTM without it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from clip_videos import FPS, SIZE, curves, people_by_side, write_video  # noqa: E402
from data_paths import DATA, data_or_exit  # noqa: E402

from fervid.evaluation.clips import expression_script, render  # noqa: E402
from fervid.evaluation.evaluate import expected_calibration_error, fit_temperature  # noqa: E402
from fervid.inference.analyzer import Analyzer  # noqa: E402
from fervid.inference.temporal import METHODS, make_method, tempered  # noqa: E402
from fervid.inference.video import VideoAnalyzer, VideoOptions  # noqa: E402
from fervid.machine import cpu_model  # noqa: E402
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="default: %(default)s")
    parser.add_argument("--clips-per-person", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    analyzer = Analyzer()
    cnn = analyzer.cnn
    with data_or_exit():
        sides = people_by_side(args.data, analyzer)
    rng = np.random.default_rng(1)
    lstm = make_method("lstm", cnn=cnn.config.name, feature_dim=cnn.config.feature_dim,
                       cnn_weights_sha256=cnn.weights_sha256)
    shipped_temperature = lstm.temperature
    variants = {name: (lstm if name == "lstm" else make_method(name)) for name in METHODS}
    if shipped_temperature != 1.0:  # the LSTM without the temperature it ships with: "before"
        variants["lstm, no temperature"] = make_method("lstm", cnn=cnn.config.name)
        variants["lstm, no temperature"].temperature = 1.0
    frames = {v: {"val": ([], []), "test": ([], [])} for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for side in ("val", "test"):
            for k, person in enumerate(p for p in sides[side] for _ in range(args.clips_per_person)):
                clip = render(expression_script(person, rng, 6.0), rng, FPS, SIZE, jpeg=False)
                path = write_video(Path(tmp) / f"{side}{k}.mp4", clip)
                for name, method in variants.items():
                    t, probs, _ = curves(VideoAnalyzer(analyzer, VideoOptions(annotate=False), method).run(path))
                    labels = clip.labels[np.clip(np.round(t * FPS).astype(int), 0, len(clip.labels) - 1)]
                    near = np.min(np.abs(t[:, None] - np.asarray(clip.change_times or [-9.0])[None]), axis=1)
                    keep = near > 0.2
                    frames[name][side][0].append(probs[keep])
                    frames[name][side][1].append(labels[keep])
                print(f"{side} clip {k} ({person.subject})", flush=True)
    report = {"cpu": cpu_model(), "model": analyzer.model_config.name, "detector": analyzer.detector_name,
              "people": {s: len(sides[s]) for s in ("val", "test")},
              "lstm_shipped_temperature": shipped_temperature, "methods": {}}
    print("\n| method | temperature fitted on val people | test frames | accuracy | mean top probability | "
          "ECE | ECE after the fitted temperature |")
    print("|---|---|---|---|---|---|---|")
    for name in variants:
        fit_p, fit_y = (np.concatenate(x) for x in frames[name]["val"])
        test_p, test_y = (np.concatenate(x) for x in frames[name]["test"])
        temperature = fit_temperature(np.log(np.clip(fit_p, 1e-7, 1.0)), fit_y)
        ece = expected_calibration_error(test_p, test_y)
        after = expected_calibration_error(tempered(test_p, temperature), test_y)
        accuracy = float((test_p.argmax(1) == test_y).mean())
        report["methods"][name] = {"temperature_fitted": temperature, "test_frames": int(len(test_y)),
                                   "accuracy": accuracy, "ece": ece, "ece_after_fitted_temperature": after,
                                   "mean_confidence": float(test_p.max(1).mean())}
        print(f"| {name} | {temperature:.3f} | {len(test_y)} | {accuracy:.3f} | {test_p.max(1).mean():.3f} | "
              f"{ece:.3f} | {after:.3f} |")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
