"""Draw docs/alignment_examples.png: how fervid frames a detected face, next to FER2013's average face.

    python docs/make_alignment_examples.py

Inputs are public-domain photos shipped by scikit-image (astronaut, cameraman), one of them also turned by
20 degrees to show the eyes being levelled. The last panel is the mean FER2013 Training face, made from the
global mean image stored with the shipped model; red dots mark the template's eye positions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

from fervid.inference.analyzer import Analyzer  # noqa: E402


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def main(out: Path) -> None:
    analyzer = Analyzer()
    template = analyzer.model_config.template
    samples = [("astronaut", data.astronaut()), ("astronaut turned 20°", rotate(data.astronaut(), 20)),
               ("cameraman", np.stack([data.camera()] * 3, -1))]
    fig, axes = plt.subplots(2, len(samples) + 1, figsize=(3 * (len(samples) + 1), 6.2))
    for col, (name, rgb) in enumerate(samples):
        faces = analyzer.analyze_image(rgb)
        axes[0, col].imshow(rgb)
        for face in faces:
            x, y, w, h = face.box
            axes[0, col].add_patch(plt.Rectangle((x, y), w, h, fill=False, color="yellow", lw=1.5))
            axes[0, col].plot(*zip(*face.landmarks[:2]), "r.", ms=5)
        axes[0, col].set_title(name, fontsize=9)
        axes[1, col].imshow(faces[0].crop, cmap="gray", vmin=0, vmax=255)
        axes[1, col].set_title(f"aligned 48x48: {faces[0].emotion} {faces[0].confidence:.0%}", fontsize=9)
    mean_face = analyzer.model_config.normalization.global_mean
    axes[1, -1].imshow(mean_face, cmap="gray")
    axes[1, -1].set_title("FER2013 Training mean face", fontsize=9)
    axes[0, -1].axis("off")
    axes[0, -1].text(0, 0.5, "Crops: similarity warp putting\nthe eyes (red) level at\n"
                     f"{template.left_eye} and {template.right_eye},\n{template.eye_distance:.0f} px apart, as on "
                     "FER2013.", fontsize=9, va="center")
    for ax in axes[1]:
        ax.plot([template.left_eye[0], template.right_eye[0]], [template.left_eye[1], template.right_eye[1]],
                "r.", ms=6)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "alignment_examples.png",
                        help="where to write the figure (default: %(default)s)")
    main(parser.parse_args().out)
