"""Tiny training runs on a synthetic FER2013-format CSV: seconds, not the shipped model's hour."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fervid.export import compare_with_torch, export_onnx  # noqa: E402
from fervid.features import EmotionCNN  # noqa: E402
from fervid.evaluate import evaluate, write_model_card  # noqa: E402
from fervid.datasets import load_fer2013  # noqa: E402
from fervid.network import EmotionVGG, NetConfig  # noqa: E402
from fervid.train import TrainConfig, train  # noqa: E402

TINY = {"stages": [8, 16], "convs_per_stage": [1, 1], "feature_dim": 512, "dropout": 0.1}


def tiny_config(csv_path, **kw):
    base = dict(data=str(csv_path), epochs=3, batch_size=32, lr=0.05, threads=1, max_rotation_deg=0,
                max_shift_px=0, erase_prob=0, hflip=False, net=TINY)
    base.update(kw)
    return TrainConfig.from_dict(base)


def test_training_learns_and_resume_matches_an_uninterrupted_run(fer_csv, tmp_path):
    straight = train(tiny_config(fer_csv), tmp_path / "a", progress=False)
    metrics = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 3
    assert metrics[-1]["val_acc"] > 0.6  # chance is 1/7; the synthetic classes are learnable
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    assert (straight / "learning_curves.png").stat().st_size > 10_000

    cfg = tiny_config(fer_csv)
    train(cfg, tmp_path / "b", progress=False, stop_after=1)
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 1
    train(cfg, tmp_path / "b", resume=True, progress=False)
    resumed = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in resumed] == [1, 2, 3]
    np.testing.assert_allclose([m["val_acc"] for m in resumed], [m["val_acc"] for m in metrics], atol=1e-6)
    np.testing.assert_allclose(resumed[-1]["train_loss"], metrics[-1]["train_loss"], rtol=1e-4)


def test_onnx_export_agrees_with_torch_and_runs_in_fervid(fer_csv, tmp_path):
    run = train(tiny_config(fer_csv, epochs=2), tmp_path / "run", progress=False)
    model_dir = export_onnx(run, tmp_path / "model", name="tiny")
    x = np.random.default_rng(0).normal(size=(16, 1, 48, 48)).astype(np.float32)
    logit_diff, feat_diff = compare_with_torch(run, model_dir, x)
    assert logit_diff < 1e-3 and feat_diff < 1e-3

    tta_dir = export_onnx(run, tmp_path / "model_tta", name="tiny", flip_tta=True)
    assert max(compare_with_torch(run, tta_dir, x, flip_tta=True)) < 1e-3
    mirrored = x[..., ::-1].copy()
    np.testing.assert_allclose(EmotionCNN(tta_dir)(x).logits, EmotionCNN(tta_dir)(mirrored).logits, atol=1e-4)

    cnn = EmotionCNN(model_dir)
    ev = evaluate(cnn, load_fer2013(fer_csv, "PublicTest"))
    summary = json.loads((run / "summary.json").read_text())
    assert ev.accuracy == pytest.approx(summary["best_val_acc"], abs=0.01)
    card = write_model_card(model_dir, ev, command="fervid train ...", data=str(fer_csv))
    assert card["evaluation"]["accuracy"] == ev.accuracy
    assert "Accuracy" in (model_dir / "MODEL_CARD.md").read_text()


def test_network_shape_follows_the_published_design():
    net = EmotionVGG(NetConfig())
    convs = [m for m in net.body if isinstance(m, torch.nn.Conv2d)]
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in convs)
    assert [c.out_channels for c in convs][0] == 32 and convs[-1].out_channels >= 128
    pools = [m for m in net.body if isinstance(m, torch.nn.MaxPool2d)]
    assert all(p.kernel_size == 2 and p.stride == 2 for p in pools)
    x = torch.zeros(2, 1, 48, 48)
    net.eval()
    assert net.features(x).shape == (2, 512) and net(x).shape == (2, 7)


def test_unknown_config_keys_are_rejected(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("epochs = 2\nlearning_rate = 0.1\n")
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_toml(path)


def test_torchrun_ddp_two_cpu_ranks_agree(fer_csv, tmp_path):
    import subprocess
    import sys

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(f'data = "{fer_csv}"\nepochs = 2\nbatch_size = 32\nthreads = 1\n'
                   "[net]\nstages = [8, 16]\nconvs_per_stage = [1, 1]\n")
    run = tmp_path / "ddp"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "fervid.cli", "train", "--config", str(cfg),
                             "--out", str(run)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    hashes = [(run / f"weights_rank{r}.sha256").read_text() for r in (0, 1)]
    assert hashes[0] == hashes[1]  # gradients were averaged: both ranks hold the same weights
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["best_val_acc"] > 0.3
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2  # only rank 0 logs
