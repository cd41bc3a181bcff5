"""tools/train_many.py: the data bundle gives back the exact CSV rows, and several tiny runs train at once."""

import json
import tarfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fervid.evaluation.datasets import load_fer2013, load_ferplus  # noqa: E402

from conftest import write_ferplus_votes  # noqa: E402
from tool_scripts import load  # noqa: E402


def test_the_bundle_gives_back_the_same_faces_labels_and_votes(fer_csv, tmp_path):
    tool = load("train_many")
    votes = write_ferplus_votes(fer_csv, tmp_path / "fer2013new.csv")
    tool.pack(fer_csv, votes, tmp_path / "bundle")
    fer2013, ferplus = tool.unpack(tmp_path / "bundle", tmp_path / "back")
    for usage in ("Training", "PublicTest"):
        before, after = load_fer2013(fer_csv, usage), load_fer2013(fer2013, usage)
        assert np.array_equal(before.images, after.images) and np.array_equal(before.labels, after.labels)
    assert np.array_equal(load_ferplus(fer_csv, votes).soft_labels, load_ferplus(fer2013, ferplus).soft_labels)
    (tmp_path / "bundle" / "pixels.sha256").write_text("0" * 64)
    with pytest.raises(SystemExit, match="pixels differ"):
        tool.unpack(tmp_path / "bundle", tmp_path / "again")


def test_runs_train_at_once_with_epochs_fitted_to_the_budget(fer_csv, tmp_path):
    tool = load("train_many")
    tool.pack(fer_csv, write_ferplus_votes(fer_csv, tmp_path / "votes.csv"), tmp_path / "bundle")
    config = tmp_path / "tiny.toml"
    config.write_text('data = "unused"\nepochs = 9\nbatch_size = 32\nthreads = 1\n'
                      "[net]\nstages = [8, 16]\nconvs_per_stage = [1, 1]\n", encoding="utf-8")
    out = tmp_path / "out"
    code = tool.main(["run", f"a={config}:0", f"b={config}:1", "--bundle", str(tmp_path / "bundle"), "--out",
                      str(out), "--work", str(tmp_path / "work"), "--budget", "600", "--cap", "3",
                      "--min-epochs", "1"])
    assert code == 0
    log = (out / "train_many.log").read_text(encoding="utf-8")
    assert "probe a [(1," in log and ": 3 epochs" in log  # the probe ran; the cap bounded a generous budget
    for name, seed in (("a", 0), ("b", 1)):
        with tarfile.open(out / f"{name}.tar.gz") as tar:
            tar.extractall(tmp_path / "back", filter="data")
        run = tmp_path / "back" / name
        assert json.loads((run / "config.json").read_text())["seed"] == seed
        assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
        state = torch.load(run / "last.pt", weights_only=False)
        assert set(state) == {"model", "net", "epoch", "best_acc", "elapsed"} and state["epoch"] == 3
    assert tool.main(["run", f"a={config}:0", "--bundle", str(tmp_path / "bundle"), "--out", str(out), "--work",
                      str(tmp_path / "work2"), "--budget", "1", "--min-epochs", "5"]) == 1  # nothing fits: no run
