"""benchmarks/degraded_faces.py: the conditions it applies, and a run on a few real faces of each dataset."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark_scripts import FOLDER, load, script_environment

degraded_faces = load("degraded_faces")
DATA = Path(FOLDER).parents[1] / "shared" / "data"


def test_each_condition_changes_the_face_as_it_says_and_the_noise_follows_the_seed():
    face = np.full((48, 48), 200, np.uint8)
    face[::2] = 100  # detail that shrinking blurs away
    seen = {c: degraded_faces.degrade(c, face, "ckplus", np.random.default_rng(0))
            for c in degraded_faces.CONDITIONS}
    assert np.array_equal(seen["original"], face) and seen["dark x0.1"].max() == 20
    assert seen["downsampled 4x"].shape == face.shape and seen["downsampled 4x"].std() < face.std() / 4
    eyes, mouth = seen["eyes blacked out"], seen["mouth blacked out"]
    assert (eyes[13:22, 8:40] == 0).all() and (eyes[30:] == face[30:]).all()  # CK+48's eye rows only
    assert (mouth[32:44, 8:40] == 0).all() and (mouth[:30] == face[:30]).all()
    again = degraded_faces.degrade("noise sd 40", face, "ckplus", np.random.default_rng(0))
    assert np.array_equal(seen["noise sd 40"], again) and 30 < (seen["noise sd 40"] - face.astype(float)).std() < 45


@pytest.mark.skipif(not (DATA / "ckplus48").is_dir() or not (DATA / "jaffe").is_dir(),
                    reason="needs ../shared/data's CK+48 and JAFFE")
def test_a_run_on_one_face_per_class_gives_every_model_condition_and_the_weights_measured(tmp_path):
    done = subprocess.run([sys.executable, str(Path(FOLDER) / "degraded_faces.py"), "--per-class", "1", "--json",
                           str(tmp_path / "d.json")], cwd=tmp_path, env=script_environment(), capture_output=True,
                          text=True, encoding="utf-8", timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ckplus") or line.startswith("| jaffe")]
    assert len(rows) == 2 * 2 * len(degraded_faces.CONDITIONS)
    for dataset, faces in (("ckplus", 6), ("jaffe", 7)):  # CK+ has no neutral class
        for model in ("ferplus_vgg", "fer2013_vgg"):
            assert list(report["results"][dataset][model]) == list(degraded_faces.CONDITIONS)
            assert all(r["n"] == faces for r in report["results"][dataset][model].values())
    from fervid.inference.models import EmotionCNN
    assert report["models"]["ferplus_vgg"]["weights_sha256"] == EmotionCNN("ferplus_vgg").weights_identity[
        "weights_sha256"]
    assert report["command"] == "python benchmarks/degraded_faces.py --per-class 1 --json " + str(tmp_path / "d.json")
