"""Per-frame argmax vs moving average vs the LSTM: accuracy and flicker.

    python benchmarks/temporal_compare.py [--model ferplus_vgg]   # the CNN; its shipped temporal LSTM is used

1. Held-out SIMULATED clips (PublicTest stills seen through simulated video changes; numbers recorded by
   `fervid train-temporal` in the model's training.json): accuracy over all frames and flicker.
2. The real carphone video (no emotion labels exist for it): flicker, i.e. label changes per second of the
   one tracked face, and the share of frames on which each method agrees with the clip's majority label.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from fervid.inference.analyzer import Analyzer
from fervid.inference.detect import DEFAULT_DETECTOR
from fervid.inference.models import DEFAULT_MODEL
from fervid.inference.temporal import flicker_per_second, temporal_model_for
from fervid.inference.video import VideoAnalyzer, VideoOptions, sample_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the CNN (shipped name or folder)")
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, help="face detector (JAFFE heads, video); the numbers in docs/results.md sections 0-6 were measured with yuface")
    args = parser.parse_args()
    analyzer = Analyzer(args.model, detector=args.detector)
    folder = temporal_model_for(analyzer.cnn.config.features_of)
    sim = json.loads((folder / "training.json").read_text())["heldout_simulated_clips"]
    carphone = sample_video()
    real = {}
    for method in ("frame", "mean", "lstm"):
        result = VideoAnalyzer(analyzer, VideoOptions(method=method, annotate=False)).run(carphone)
        labels = [f.emotion for f in result.faces if f.track_id == 1]
        majority, count = Counter(labels).most_common(1)[0]
        real[method] = {"flicker": flicker_per_second(labels, result.fps), "majority": majority,
                        "agree": count / len(labels)}
    names = {"frame": "per-frame argmax", "mean": "moving average (1 s)", "lstm": "LSTM over CNN features (1 s)"}
    print("| method | simulated clips: accuracy | simulated clips: flicker (changes/s) | carphone: flicker (changes/s) "
          "| carphone: majority label (share of frames) |")
    print("|---|---|---|---|---|")
    for m in ("frame", "mean", "lstm"):
        print(f"| {names[m]} | {sim[m]['accuracy']:.4f} | {sim[m]['flicker_per_s']:.2f} | {real[m]['flicker']:.2f} | "
              f"{real[m]['majority']} ({real[m]['agree']:.0%}) |")


if __name__ == "__main__":
    main()
