"""Tiny training runs on a synthetic FER2013-format CSV: seconds, not the shipped model's hour."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from fervid.training.export import compare_with_torch, export_onnx, quantize_int8  # noqa: E402
from fervid.inference.models import EmotionCNN  # noqa: E402
from fervid.evaluation.evaluate import evaluate, write_model_card  # noqa: E402
from fervid.emotions import EMOTIONS  # noqa: E402
from fervid.evaluation.datasets import NOT_AN_EMOTION, load_fer2013  # noqa: E402
from fervid.training.network import EmotionVGG, NetConfig  # noqa: E402
from fervid.training.train import TrainConfig, train  # noqa: E402

from conftest import write_fer2013_csv, write_ferplus_votes  # noqa: E402

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
    # killed after epoch 2's metrics line was written but before its checkpoint: the resumed run trains epoch 2
    # again and must log it once (it was logged twice)
    first = json.loads((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()[0])
    with open(tmp_path / "b" / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({**first, "epoch": 2}) + "\n")
    # a resume with another config is refused before anything runs (a changed epoch count broke the schedule an
    # epoch later, and the run's config.json was overwritten with it)
    with pytest.raises(ValueError, match=r"config.json: --resume continues this run with its own config.*"
                                         r"epochs \(3 -> 5\)"):
        train(TrainConfig.from_dict({**cfg.to_dict(), "epochs": 5}), tmp_path / "b", resume=True, progress=False)
    assert json.loads((tmp_path / "b" / "config.json").read_text())["epochs"] == 3
    with pytest.raises(FileExistsError, match="holds a training run already"):  # a forgotten --resume
        train(cfg, tmp_path / "b", progress=False)
    # `fervid train --out RUN --resume` with no config takes the run's own
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    # the same from the command line is its mistake, as a bad option is (it exited 1, as a failed input does)
    forgot = CliRunner().invoke(app, ["train", "--data", cfg.data, "--out", str(tmp_path / "b")])
    assert forgot.exit_code == 2 and "holds a training run already (last.pt); --resume continues it" in forgot.output

    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "b"), "--resume"])
    assert result.exit_code == 0, result.output
    resumed = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in resumed] == [1, 2, 3]
    np.testing.assert_allclose([m["val_acc"] for m in resumed], [m["val_acc"] for m in metrics], atol=1e-6)
    np.testing.assert_allclose(resumed[-1]["train_loss"], metrics[-1]["train_loss"], rtol=1e-4)


def test_onnx_export_agrees_with_torch_and_runs_in_fervid(fer_csv, tmp_path):
    run = train(tiny_config(fer_csv, epochs=2, net={**TINY, "feature_dim": 64}), tmp_path / "run", progress=False)
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
    card_text = (model_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "- Epochs: 2 (best on PublicTest (FER2013's labels) at epoch" in card_text
    # what each emotion was taught from, and an emotion with none said (a card hid that fear had no face)
    counts = summary["train_class_counts"]
    assert list(counts) == list(EMOTIONS) and sum(counts.values()) == summary["train_rows"]
    assert "- Training faces per emotion: " + ", ".join(f"{e} {counts[e]:,}" for e in EMOTIONS) in card_text
    assert "No training face of" not in card_text
    exported_summary = model_dir / "training_summary.json"
    saved = json.loads(exported_summary.read_text(encoding="utf-8"))
    exported_summary.write_text(json.dumps(saved | {"train_class_counts": counts | {"fear": 0}}), encoding="utf-8")
    write_model_card(model_dir, ev, command="fervid train ...", data=str(fer_csv))
    assert "- No training face of fear: its output is untrained: read nothing into it" in (
        model_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    exported_summary.write_text(json.dumps(saved), encoding="utf-8")
    # the network's own feature size (it said 512-d whatever the network), and the faces that chose the epoch
    tiny_card = write_model_card(model_dir, ev, command="fervid train ...", data=str(fer_csv))
    assert "a 64-d feature" in (model_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert tiny_card["limitations"][-1].startswith("PublicTest (FER2013's labels) chose the epoch")

    # the card of a run stopped after 1 of 3 epochs says so, and evaluate --write-card names the data it was
    # trained on, not the evaluation's (it said "Epochs: 3", "Wall time: None s", and the evaluation's file)
    train(tiny_config(fer_csv), tmp_path / "stopped", progress=False, stop_after=1)
    (tmp_path / "stopped" / "summary.json").unlink()  # as a killed run has none
    stopped = export_onnx(tmp_path / "stopped", tmp_path / "stopped_model", checkpoint="last.pt")
    other = tmp_path / f"elsewhere{''.join(fer_csv.suffixes)}"
    other.write_bytes(fer_csv.read_bytes())
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    result = CliRunner().invoke(app, ["evaluate", "--model", str(stopped), "--data", str(other), "--write-card"])
    assert result.exit_code == 0, result.output
    text = (stopped / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "- Epochs: 1 of 3 planned (the run was stopped)" in text and "Wall time: not recorded" in text
    assert f"- Data: trained on {fer_csv} Usage=Training; evaluated on {other} Usage=PublicTest" in text


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


def test_the_published_designs_network_without_batchnorm_trains_exports_and_runs(fer_csv, tmp_path):
    """The published design's network has no normalisation ("We don't add normalization function in this model");
    `[net] batch_norm = false` was refused as an unknown option, so `fervid train --config` could not build it."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app
    from fervid.training.from_model import network_from_model
    from fervid.training.train import (check_checkpoint_matches, check_starting_network, load_net, predict_logits,
                                       read_checkpoint)

    runner = CliRunner()
    cfg = tmp_path / "paper_tiny.toml"
    cfg.write_text(f'data = "{fer_csv}"\nepochs = 2\nbatch_size = 32\nthreads = 1\n'
                   "[net]\nstages = [8, 16]\nconvs_per_stage = [1, 2]\nbatch_norm = false\n", encoding="utf-8")
    result = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    state = read_checkpoint(tmp_path / "run" / "best.pt")
    assert state["net"]["batch_norm"] is False
    net = load_net(state)
    assert not [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    convs = [m for m in net.body if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3 and all(c.bias is not None for c in convs)  # no BatchNorm to take the bias's place
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])["val_acc"] > 0.3
    result = runner.invoke(app, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    model = tmp_path / "model"
    assert json.loads((model / "config.json").read_text(encoding="utf-8"))["net"]["batch_norm"] is False
    x = np.random.default_rng(0).normal(size=(16, 1, 48, 48)).astype(np.float32)
    assert max(compare_with_torch(tmp_path / "run", model, x)) < 1e-3
    fast, exact = EmotionCNN(model), EmotionCNN(model, precision="fp32")
    test = load_fer2013(fer_csv, "PublicTest")
    assert fast.precision == "int8" and abs(evaluate(fast, test).accuracy - evaluate(exact, test).accuracy) <= 0.05
    # the exported graph rebuilds to the same network (nothing folded into its convolutions)
    rebuilt, _ = network_from_model(model, torch.from_numpy(x))
    np.testing.assert_allclose(predict_logits(rebuilt, torch.from_numpy(x)).numpy(), exact(x).logits, atol=1e-4)
    # the shape saved with the weights is checked on load: a network with BatchNorm is another network
    with_bn = tiny_config(fer_csv, net={"stages": [8, 16], "convs_per_stage": [1, 2]})
    with pytest.raises(ValueError, match=r"net.batch_norm \(False in the checkpoint, True in the config\)"):
        check_checkpoint_matches(with_bn, state, tmp_path / "run" / "best.pt")
    for start in (str(model), str(tmp_path / "run" / "best.pt")):
        with pytest.raises(ValueError, match="its network shape differs.*batch_norm False here True"):
            check_starting_network(TrainConfig.from_dict({**with_bn.to_dict(), "init_from": start}))
    # a model folder from before batch_norm was recorded (no key: BatchNorm) is not this checkpoint's network
    import shutil

    from fervid.research.experiments import check_checkpoint_of

    older = tmp_path / "older_model"
    shutil.copytree(model, older)
    config = json.loads((older / "config.json").read_text(encoding="utf-8"))
    del config["net"]["batch_norm"]
    (older / "config.json").write_text(json.dumps(config), encoding="utf-8")
    check_checkpoint_of(tmp_path / "run" / "best.pt", EmotionCNN(model))  # its own model
    with pytest.raises(ValueError, match="is not CNN 'model''s .*'batch_norm': True"):
        check_checkpoint_of(tmp_path / "run" / "best.pt", EmotionCNN(older))
    # and the exported model starts a second stage of the same shape
    again = tiny_config(fer_csv, epochs=1, net={"stages": [8, 16], "convs_per_stage": [1, 2], "batch_norm": False},
                        init_from=str(model))
    assert (train(again, tmp_path / "stage2", progress=False) / "last.pt").is_file()


def test_the_paper_cnn_config_builds_the_published_designs_network():
    cfg = TrainConfig.from_toml(CONFIGS / "paper_cnn.toml")
    net = EmotionVGG(cfg.net).eval()
    convs = [m for m in net.body if isinstance(m, torch.nn.Conv2d)]
    assert sorted({c.out_channels for c in convs}) == [32, 64, 128] and all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.body) == 3
    assert not [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert net.features(torch.zeros(2, 1, 48, 48)).shape == (2, 512)  # the LSTM's 512-d input
    # with no BatchNorm to rescale it, torch's default initialisation left the 512-d features of unit-variance faces
    # at an RMS of 0.01 after its 7 ReLU layers, and the network stayed at the commonest class (0.249 on 1,000
    # validation faces after 3 epochs of 8,000 at lr 0.05); He's initialisation keeps the signal's scale
    torch.manual_seed(0)
    rms = net.features(torch.randn(64, 1, 48, 48)).pow(2).mean().sqrt().item()
    assert 0.3 < rms < 5, rms


def test_a_network_working_at_64x64_upsamples_48x48_faces_itself_through_training_export_and_int8(fer_csv, tmp_path):
    net64 = EmotionVGG(NetConfig(**{**TINY, "input_size": 64})).eval()
    # the first conv sees 64x64; after two halvings the dense layer reads 16x16 maps, not 12x12
    assert net64.embed[2].in_features == 16 * 16 * 16
    assert net64(torch.zeros(2, 1, 48, 48)).shape == (2, 7)
    with pytest.raises(ValueError, match="upsamples"):
        EmotionVGG(NetConfig(**{**TINY, "input_size": 32}))

    run = train(tiny_config(fer_csv, epochs=3, net={**TINY, "input_size": 64}), tmp_path / "run", progress=False)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["val_acc"] > 0.6
    model_dir = export_onnx(run, tmp_path / "model", name="tiny64")
    x = np.random.default_rng(0).normal(size=(8, 1, 48, 48)).astype(np.float32)
    assert max(compare_with_torch(run, model_dir, x)) < 1e-3  # the ONNX graph takes 48x48 and resizes inside
    quantize_int8(model_dir, load_fer2013(fer_csv, "Training").images, samples=128)
    fast, exact = EmotionCNN(model_dir), EmotionCNN(model_dir, precision="fp32")
    test = load_fer2013(fer_csv, "PublicTest")
    assert fast.precision == "int8" and fast.config.template.size == 48
    assert abs(evaluate(fast, test).accuracy - evaluate(exact, test).accuracy) <= 0.03


def test_unknown_config_keys_are_rejected(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("epochs = 2\nlearning_rate = 0.1\n")
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_toml(path)
    nested = tmp_path / "n.toml"  # a typo inside [net] trained with the default (dropuot: dropout 0.4, not 0.2)
    nested.write_text("epochs = 2\n[net]\ndropuot = 0.2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"unknown \[net\] option\(s\): dropuot"):
        TrainConfig.from_toml(nested)
    # a top-level typo is told the option it is spelt like (as [net]'s lists its few), a [net] option where it goes
    path.write_text("epoch = 2\nlimit_trian = 100\nbatchsize = 64\nwhatever = 1\ndropout = 0.2\n", encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        TrainConfig.from_toml(path)
    assert str(refused.value) == ("unknown training option(s): batchsize (batch_size?), dropout (a [net] option: write "
                                  "it under [net]), epoch (epochs?), limit_trian (limit_train?), whatever")


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.toml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_committed_config_still_loads(path):
    """Each recipe docs/results.md and docs/reproduce.sh cite must still run under today's TrainConfig: a renamed or
    removed field would break reproducing it (the data paths are the shared data's, not read here)."""
    cfg = TrainConfig.from_toml(path)
    cfg.validate()
    assert cfg.data.endswith("fer2013.csv.gz") and cfg.epochs > 0
    assert NetConfig.from_dict(cfg.net.to_dict()) == cfg.net


def test_torchrun_ddp_two_cpu_ranks_agree(fer_csv, tmp_path):
    import subprocess
    import sys

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(f'data = "{fer_csv}"\nepochs = 2\nbatch_size = 32\nthreads = 1\n'
                   "[net]\nstages = [8, 16]\nconvs_per_stage = [1, 1]\n")
    run = tmp_path / "ddp"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "fervid.apps.cli", "train", "--config", str(cfg),
                             "--out", str(run)], capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    hashes = [(run / f"weights_rank{r}.sha256").read_text() for r in (0, 1)]
    assert hashes[0] == hashes[1]  # gradients were averaged: both ranks hold the same weights
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["best_val_acc"] > 0.3
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2  # only rank 0 logs


def test_ferplus_soft_targets_blend_votes_with_fer2013_labels_and_leave_out_rejected_faces(fer_csv, tmp_path):
    from fervid.training.train import training_data

    votes = write_ferplus_votes(fer_csv, tmp_path / "fer2013new.csv")
    cfg = tiny_config(fer_csv, labels="ferplus-soft", ferplus_csv=str(votes), ferplus_weight=0.5,
                      val_labels="fer2013")
    train_ds, targets, val_ds = training_data(cfg)
    kept = np.array([i % 10 not in (0, 1) for i in range(600)])  # FER+ rows of Training are rows 0..599
    # faces FER+ dropped or voted not-a-face are left out, not trained on FER2013's label
    assert len(train_ds) == kept.sum() and targets.shape == (kept.sum(), 7)
    assert [int(s.rsplit("#", 1)[1]) for s in train_ds.sources] == list(np.flatnonzero(kept))
    np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-6)
    label = train_ds.labels
    # 0.5 * FER2013's one-hot + 0.5 * the votes (0.8 label, 0.2 next class)
    np.testing.assert_allclose(targets[np.arange(len(label)), label], 0.9, atol=1e-6)
    np.testing.assert_allclose(targets[np.arange(len(label)), (label + 1) % 7], 0.1, atol=1e-6)
    assert len(val_ds) == 200  # selection stays on FER2013's PublicTest labels
    votes_only, _, _ = training_data(tiny_config(fer_csv, labels="ferplus-soft", ferplus_csv=str(votes),
                                                 ferplus_weight=1.0))
    np.testing.assert_array_equal(votes_only.soft_labels, train_ds.soft_labels)

    hard_ds, hard_targets, plus_val = training_data(tiny_config(fer_csv, labels="ferplus", ferplus_csv=str(votes),
                                                                val_labels="ferplus"))
    assert len(hard_ds) == kept.sum() and len(plus_val) == 160
    np.testing.assert_array_equal(hard_targets.argmax(1), hard_ds.labels)

    run = train(cfg, tmp_path / "soft", progress=False)
    assert json.loads((run / "summary.json").read_text())["best_val_acc"] > 0.6


def _spread_votes(votes_path):
    """Rewrites some Training rows' votes (rows 0..599): row%10 == 2 gets 5 / 4 / 1 votes over its FER2013 label
    and the next two classes, row%10 == 3 gets 4 / 3 / 3, row%10 == 4 two votes for each of five classes."""
    import pandas as pd

    from fervid.evaluation.datasets import FERPLUS_VOTES

    table = pd.read_csv(votes_path)
    emotions = list(FERPLUS_VOTES[:7])
    for i in range(600):
        spread = {2: [5, 4, 1], 3: [4, 3, 3], 4: [2, 2, 2, 2, 2]}.get(i % 10)
        if spread is None:
            continue
        first = emotions.index(table.loc[i, list(FERPLUS_VOTES[:7])].astype(int).idxmax())
        table.loc[i, list(FERPLUS_VOTES)] = 0
        for k, n in enumerate(spread):
            table.loc[i, emotions[(first + k) % 7]] = n
    table.to_csv(votes_path, index=False)
    return votes_path


def test_single_votes_drop_as_outliers_and_multi_label_targets_accept_every_well_voted_answer(fer_csv, tmp_path):
    from fervid.evaluation.datasets import FERPLUS_VOTES
    from fervid.training.train import accepted_answer_loss, training_data

    votes = _spread_votes(write_ferplus_votes(fer_csv, tmp_path / "fer2013new.csv"))
    rows = lambda ds: np.array([int(s.rsplit("#", 1)[1]) for s in ds.sources])  # noqa: E731
    every, every_t, _ = training_data(tiny_config(fer_csv, labels="ferplus-soft", ferplus_csv=str(votes),
                                                  ferplus_weight=1.0))
    no_single, no_single_t, _ = training_data(tiny_config(fer_csv, labels="ferplus-soft", ferplus_csv=str(votes),
                                                          ferplus_weight=1.0, ferplus_min_votes=2))
    np.testing.assert_array_equal(rows(every), rows(no_single))  # no face here has only single votes
    five_four_one = rows(every) % 10 == 2
    top3 = lambda t: np.sort(t[five_four_one], axis=1)[:, -3:]  # noqa: E731
    assert five_four_one.sum() == 60
    assert np.abs(top3(every_t) - [0.1, 0.4, 0.5]).max() < 1e-6
    assert np.abs(top3(no_single_t) - [0.0, 4 / 9, 5 / 9]).max() < 1e-6
    untouched = ~np.isin(rows(every) % 10, [2, 3, 4])
    np.testing.assert_allclose(every_t[untouched], no_single_t[untouched])

    multi_cfg = tiny_config(fer_csv, labels="ferplus-multi", ferplus_csv=str(votes), ferplus_min_votes=2,
                            label_smoothing=0.0, val_labels="ferplus")
    multi, accepted, _ = training_data(multi_cfg)
    # five answers of 20% each: none reaches 30%, so the face is left out; every other face is kept
    np.testing.assert_array_equal(rows(multi), rows(every)[rows(every) % 10 != 4])
    n_accepted = accepted.sum(1)
    assert set(np.unique(accepted)) == {0.0, 1.0}
    np.testing.assert_array_equal(n_accepted[rows(multi) % 10 == 2], 2)  # 5/9 and 4/9 (the single vote gone)
    np.testing.assert_array_equal(n_accepted[rows(multi) % 10 == 3], 3)  # 40%, 30%, 30%
    np.testing.assert_array_equal(n_accepted[~np.isin(rows(multi) % 10, [2, 3])], 1)  # 8 of 10 over 2 of 10
    assert (accepted[np.arange(len(multi)), multi.labels] == 1).all()  # the majority is always accepted

    # the loss is -log of the best accepted probability: a confident accepted answer costs almost nothing,
    # whichever accepted class it is, while the same confidence in a rejected class costs much
    logits = torch.tensor([[4.0, 0, 0, 0, 0, 0, 0], [0, 4.0, 0, 0, 0, 0, 0], [0, 0, 4.0, 0, 0, 0, 0]])
    both = torch.tensor([[1.0, 1, 0, 0, 0, 0, 0]] * 3)
    losses = [float(accepted_answer_loss(logits[i:i + 1], both[i:i + 1])) for i in range(3)]
    expected = -torch.log_softmax(logits[0], 0)[0]
    assert losses[0] == pytest.approx(float(expected)) and losses[1] == pytest.approx(losses[0])
    assert losses[2] > losses[0] + 3

    run = train(multi_cfg, tmp_path / "multi", progress=False)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert json.loads((run / "summary.json").read_text())["best_val_acc"] > 0.6
    with pytest.raises(ValueError, match="ferplus-multi"):
        tiny_config(fer_csv, labels="ferplus-multi", ferplus_csv=str(votes), label_smoothing=0.1)
    with pytest.raises(ValueError, match="ferplus_min_votes"):
        tiny_config(fer_csv, labels="ferplus-soft", ferplus_csv=str(votes), ferplus_min_votes=0)
    assert FERPLUS_VOTES[:7] == ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear")


def test_fer2013_labels_are_blended_back_only_for_the_named_classes(fer_csv, tmp_path):
    from fervid.training.train import training_data

    votes = write_ferplus_votes(fer_csv, tmp_path / "fer2013new.csv")
    cfg = tiny_config(fer_csv, labels="ferplus-soft", ferplus_csv=str(votes), ferplus_weight=0.5,
                      fer2013_blend_classes=["fear", "sad"])
    train_ds, targets, _ = training_data(cfg)
    label = train_ds.labels  # here FER+'s majority is FER2013's label: 0.8 of the votes, 0.2 on the next class
    named = np.isin(label, [EMOTIONS.index("fear"), EMOTIONS.index("sad")])
    assert 0 < named.sum() < len(label)
    top = targets[np.arange(len(label)), label]
    np.testing.assert_allclose(top[named], 0.9, atol=1e-6)  # 0.5 * one-hot + 0.5 * votes
    np.testing.assert_allclose(top[~named], 0.8, atol=1e-6)  # the votes alone
    np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="scared"):
        tiny_config(fer_csv, labels="ferplus-soft", ferplus_csv=str(votes), fer2013_blend_classes=["scared"])
    with pytest.raises(ValueError, match="ferplus-soft"):
        tiny_config(fer_csv, labels="fer2013", fer2013_blend_classes=["fear"])


def test_mixup_and_cutmix_mix_targets_in_proportion():
    from fervid.training.train import mix_batch

    gen = torch.Generator().manual_seed(0)
    x = torch.stack([torch.zeros(1, 48, 48), torch.ones(1, 48, 48)])
    targets = torch.eye(7)[[0, 1]]
    for mix in ("mixup", "cutmix"):
        cfg = TrainConfig.from_dict({"mix": mix, "mix_prob": 1.0})
        for _ in range(5):
            mixed, t = mix_batch(x, targets, cfg, gen)
            # image 0 is all 0 and image 1 all 1: the mean pixel is the share taken from image 1
            share_of_1 = mixed.mean(dim=(1, 2, 3))
            np.testing.assert_allclose(t.sum(1), 1.0, atol=1e-6)
            np.testing.assert_allclose(t[:, 1] + t[:, 0], 1.0, atol=1e-6)
            np.testing.assert_allclose(t[:, 1], share_of_1, atol=1e-5)
    off = TrainConfig.from_dict({"mix": "cutmix", "mix_prob": 0.0})
    assert mix_batch(x, targets, off, gen)[1] is targets
    with pytest.raises(ValueError, match="mix"):
        TrainConfig.from_dict({"mix": "blend"})


def test_second_stage_starts_from_the_first_stage_weights(fer_csv, tmp_path):
    first = train(tiny_config(fer_csv, epochs=2), tmp_path / "first", progress=False)
    # a learning rate too small to move the weights: the second stage's result is the first stage's weights
    second = train(tiny_config(fer_csv, epochs=1, lr=1e-9, weight_decay=0.0, init_from=str(first / "best.pt")),
                   tmp_path / "second", progress=False)
    fresh = train(tiny_config(fer_csv, epochs=1, lr=1e-9, weight_decay=0.0), tmp_path / "fresh", progress=False)

    def conv_weights(run):
        state = torch.load(run / "last.pt", weights_only=False)["model"]
        return torch.cat([v.flatten() for k, v in state.items() if k.endswith("weight")])

    started = torch.load(first / "best.pt", weights_only=False)["model"]
    start = torch.cat([v.flatten() for k, v in started.items() if k.endswith("weight")])
    assert torch.allclose(conv_weights(second), start, atol=1e-5)
    assert not torch.allclose(conv_weights(fresh), start, atol=1e-2)
    other_shape = {**TINY, "stages": [8, 32]}
    with pytest.raises(ValueError, match=r"network shape differs .*\(stages \[8, 16\] here \[8, 32\]\)"):
        train(tiny_config(fer_csv, epochs=1, net=other_shape, init_from=str(first / "best.pt")), tmp_path / "bad",
              progress=False)
    # its dropout is how it trained, not its shape: a second stage may choose its own (it was refused)
    train(tiny_config(fer_csv, epochs=1, net={**TINY, "dropout": 0.3}, init_from=str(first / "best.pt")),
          tmp_path / "other_dropout", progress=False)


def test_int8_model_is_the_default_and_agrees_with_fp32(fer_csv, tmp_path):
    from fervid.training.export import quantize_int8
    from fervid.inference.models import ModelError

    run = train(tiny_config(fer_csv, epochs=3), tmp_path / "run", progress=False)
    model_dir = export_onnx(run, tmp_path / "model", name="tiny")
    with pytest.raises(ModelError, match="no int8"):
        EmotionCNN(model_dir, precision="int8")
    quantize_int8(model_dir, load_fer2013(fer_csv, "Training").images, samples=256)
    fast, exact = EmotionCNN(model_dir), EmotionCNN(model_dir, precision="fp32")
    assert fast.precision == "int8" and exact.precision == "fp32"
    # the int8 copy is tied to the float weights it was quantized from (checked when it loads)
    assert fast.config.int8_from_sha256 == fast.weights_sha256
    test = load_fer2013(fer_csv, "PublicTest")
    fast_eval, exact_eval = evaluate(fast, test), evaluate(exact, test)
    assert abs(fast_eval.accuracy - exact_eval.accuracy) <= 0.02
    x = fast.config.normalization(test.images)
    agree = (fast(x).probabilities.argmax(1) == exact(x).probabilities.argmax(1)).mean()
    assert agree > 0.95
    assert (model_dir / "model_int8.onnx").stat().st_size < (model_dir / "model.onnx").stat().st_size
    # 7-bit weights: no overflow in the 16-bit pair sums of an AVX2-only CPU's int8 kernel
    graph = onnx.load(str(model_dir / "model_int8.onnx")).graph
    weights = [onnx.numpy_helper.to_array(i) for i in graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert weights and max(int(np.abs(w.astype(int)).max()) for w in weights) <= 64


def test_int8_calibration_methods_and_float_nodes(fer_csv, tmp_path):
    """benchmarks/quant_probe.py's variants: other range estimators still agree with fp32, and a node named in
    ``float_nodes`` keeps float weights and input."""
    from fervid.training.export import quantize_int8

    run = train(tiny_config(fer_csv, epochs=2), tmp_path / "run", progress=False)
    model_dir = export_onnx(run, tmp_path / "model", name="tiny")
    faces = load_fer2013(fer_csv, "Training").images
    with pytest.raises(ValueError, match="calibration method 'kl'"):
        quantize_int8(model_dir, faces, samples=64, method="kl")
    test = load_fer2013(fer_csv, "PublicTest")
    exact = EmotionCNN(model_dir, precision="fp32")
    x = exact.config.normalization(test.images)
    for kwargs in ({"method": "percentile"}, {"float_nodes": ("/body/body.0/Conv",)}):
        quantize_int8(model_dir, faces, samples=128, **kwargs)
        fast = EmotionCNN(model_dir, precision="int8")
        assert (fast(x).probabilities.argmax(1) == exact(x).probabilities.argmax(1)).mean() > 0.95
    graph = onnx.load(str(model_dir / "model_int8.onnx")).graph
    made_by = {out: node for node in graph.node for out in node.output}
    first = next(node for node in graph.node if node.name == "/body/body.0/Conv")
    # in a QDQ graph a quantized conv reads DequantizeLinear outputs; the float one reads its input directly
    assert all(made_by.get(i) is None or made_by[i].op_type != "DequantizeLinear" for i in first.input)
    assert sum(node.op_type == "Conv" and all(made_by.get(i) is not None and made_by[i].op_type ==
               "DequantizeLinear" for i in node.input[:2]) for node in graph.node) >= 1


def test_cli_trains_on_ferplus_soft_labels_then_exports_int8_calibrates_and_evaluates_both(fer_csv, tmp_path):
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    runner = CliRunner()
    votes = write_ferplus_votes(fer_csv, tmp_path / "fer2013new.csv")
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(f'data = "{fer_csv}"\nepochs = 2\nbatch_size = 32\nthreads = 1\n'
                   "[net]\nstages = [8, 16]\nconvs_per_stage = [1, 1]\n")
    bad = runner.invoke(app, ["train", "--config", str(cfg), "--labels", "votes", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "labels must be one of" in bad.output
    broken = tmp_path / "broken.toml"
    broken.write_text('data = "unterminated\n', encoding="utf-8")
    bad = runner.invoke(app, ["train", "--config", str(broken), "--out", str(tmp_path / "y")])
    assert bad.exit_code == 2 and str(broken) in bad.output  # a TOML syntax error: one line naming the file
    not_fer = tmp_path / "notes.csv"
    not_fer.write_text("a,b\n1,2\n", encoding="utf-8")
    bad = runner.invoke(app, ["train", "--data", str(not_fer), "--out", str(tmp_path / "z")])
    assert bad.exit_code != 0 and f"{not_fer}: missing FER2013 column(s)" in bad.output
    assert "training on" not in bad.output and not (tmp_path / "z").exists()  # nothing said or made before the check
    result = runner.invoke(app, ["train", "--config", str(cfg), "--labels", "ferplus-soft", "--ferplus", str(votes),
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "training on " in result.output and ", 1 thread, " in result.output  # where it runs, said first
    # and as its summary records it (the model card's wall time line printed "1 threads")
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["machine"].endswith(", 1 thread")
    # which labels the number is against: FER+'s, as the network learnt (it selected on FER2013's)
    assert "best accuracy on PublicTest (FER+ majority labels)" in result.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["labels"] == "ferplus-soft"
    result = runner.invoke(app, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "model" / "config.json").read_text())["int8_file"] == "model_int8.onnx"
    # export writes no card: it says what does, with the run's data and FER+ votes (the labels it learnt)
    assert (f"next: write its model card (card.json, MODEL_CARD.md) from its score on test faces: fervid evaluate "
            f"--model {tmp_path / 'model'} --data {fer_csv} --ferplus {votes} --write-card") in result.output
    # calibrate fits a temperature on held-out faces, keeps it only if it lowers the cross-fitted ECE, and records
    # what it measured beside the model; it writes only into a folder named as such, never a shipped model
    result = runner.invoke(app, ["calibrate", "--model", str(tmp_path / "model"), "--data", str(fer_csv)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "model" / "calibration.json").read_text())
    assert report["dataset"] == "fer2013:PublicTest" and report["n"] > 0
    # what it was fitted with (the report held numbers only)
    assert report["settings"]["data"] == str(fer_csv) and report["settings"]["usage"] == "PublicTest"
    assert report["settings"]["weights_sha256"] and report["settings"]["precision"] in ("int8", "fp32")
    kept = json.loads((tmp_path / "model" / "config.json").read_text())["temperature"]
    assert kept == (report["temperature"] if report["applied"] else 1.0) == report["kept_temperature"]
    # judged against the model's current temperature (1 as exported), and never at an end of the range searched
    # (this tiny model is right on every held-out face: the likelihood wants it ever colder, at 0.05)
    assert report["current_temperature"] == 1.0 and report["ece_current"] == report["ece_before"]
    assert report["applied"] == (report["ece_gain"] > report["ece_gain_se"] and not report["at_fitting_bound"])
    # the gain is the mean over the halvings, each the model's temperature's error less the fitted one's
    assert report["ece_gain"] == pytest.approx(report["ece_current_halves"] - report["ece_after_cross_fitted"],
                                               abs=1.01e-4)
    assert (f"temperature {kept} written to" if report["applied"] else
            f"not applied: the model keeps temperature {kept}") in result.output
    on_seen = runner.invoke(app, ["calibrate", "--model", str(tmp_path / "model"), "--data", str(fer_csv),
                                  "--usage", "Training"])
    assert on_seen.exit_code == 0 and "notice: the model was trained on FER2013's Training faces" in on_seen.output
    result = runner.invoke(app, ["calibrate", "--model", str(tmp_path / "model"), "--data", str(fer_csv)])
    refused = runner.invoke(app, ["calibrate", "--model", "ferplus_vgg", "--data", str(fer_csv)])
    assert refused.exit_code == 2 and "ferplus_vgg: no such model folder" in refused.output
    accuracies = {}
    for precision in ("auto", "fp32"):
        result = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "model"), "--data", str(fer_csv),
                                     "--precision", precision])
        assert result.exit_code == 0, result.output
        name = "int8" if precision == "auto" else "fp32"
        assert f"({name})" in result.output
        accuracies[name] = float(result.output.split("accuracy ")[1].split()[0])  # then its interval
    assert accuracies["int8"] > 0.6 and abs(accuracies["int8"] - accuracies["fp32"]) <= 0.03

    # on FER+ votes, evaluate says how the faces with a tie for most votes move the number, and records it
    import pandas as pd

    tied_votes = pd.read_csv(votes)
    emotion_columns = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear"]
    tie_rows = tied_votes.index[tied_votes.index % 10 == 2]
    shares = tied_votes.loc[tie_rows, emotion_columns]
    tied_votes.loc[tie_rows, emotion_columns] = shares.where(shares == 0, 5)  # 8 + 2 votes become 5 + 5
    tied_votes.to_csv(tmp_path / "tied.csv", index=False)
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "model"), "--data", str(fer_csv),
                                 "--dataset", "ferplus", "--ferplus", str(tmp_path / "tied.csv"),
                                 "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    ties = json.loads((tmp_path / "eval" / "metrics.json").read_text())["ties"]
    tied_publictest = int((tied_votes.loc[tie_rows, "Usage"] == "PublicTest").sum())
    faces = int(result.output.split(" faces): accuracy")[0].rsplit("(", 1)[1])
    assert tied_publictest > 0 and ties["tied"] == tied_publictest == faces - ties["untied"]["n"]
    assert f"{ties['tied']} faces have a tie for most votes" in result.output
    assert f"{ties['tied']} faces have a tie for most votes" in (tmp_path / "eval" / "report.md").read_text()


def test_distillation_blends_flip_averaged_teacher_probabilities_into_the_targets(fer_csv, tmp_path):
    import torch

    from fervid.inference.align import Normalization
    from fervid.training.train import load_net, predict_logits, teacher_probabilities, training_data

    teacher = train(tiny_config(fer_csv), tmp_path / "teacher", progress=False) / "best.pt"
    cfg = tiny_config(fer_csv, teachers=[str(teacher)], teacher_weight=0.25)
    train_ds, targets, _ = training_data(cfg)
    probs = teacher_probabilities([str(teacher)], train_ds.images)
    np.testing.assert_allclose(targets, 0.75 * np.eye(7)[train_ds.labels] + 0.25 * probs, atol=1e-6)
    np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-5)
    assert (probs.argmax(1) == train_ds.labels).mean() > 0.6  # the teacher learned the synthetic classes

    # the teacher's probabilities are its own normalisation, averaged over each face and its mirror image
    norm = Normalization.from_dict(json.loads((teacher.parent / "normalization.json").read_text()))
    x = torch.from_numpy(norm(train_ds.images[:50]))
    net = load_net(teacher)
    by_hand = (predict_logits(net, x).softmax(1) + predict_logits(net, x.flip(3)).softmax(1)).numpy() / 2
    np.testing.assert_allclose(probs[:50], by_hand, atol=1e-5)

    # a student taught by the teacher alone still learns the classes
    student = train(tiny_config(fer_csv, teachers=[str(teacher)], teacher_weight=1.0), tmp_path / "student",
                    progress=False)
    assert json.loads((student / "summary.json").read_text())["best_val_acc"] > 0.6

    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        training_data(tiny_config(fer_csv, teachers=[str(tmp_path / "nowhere.pt")]))
    with pytest.raises(ValueError, match="teacher_weight"):
        tiny_config(fer_csv, teacher_weight=1.5)


def test_resume_refuses_a_run_whose_teacher_changed(fer_csv, tmp_path):
    """A teacher trained or exported again between an interruption and --resume gave the faces other targets
    without a word: the run's epochs before and after learned from two different teachers."""
    import shutil

    from fervid.training.train import DataChanged

    teacher = train(tiny_config(fer_csv, epochs=1), tmp_path / "teacher", progress=False) / "best.pt"
    cfg = tiny_config(fer_csv, teachers=[str(teacher)], teacher_weight=0.5)
    student = train(cfg, tmp_path / "student", progress=False, stop_after=1)
    other = train(tiny_config(fer_csv, epochs=1, seed=7), tmp_path / "other", progress=False) / "best.pt"
    kept = shutil.copy(teacher, tmp_path / "teacher_before.pt")
    shutil.copy(other, teacher)  # the teacher's run trained again
    with pytest.raises(DataChanged, match=f"teachers {teacher}: 0 file.s. added, 0 removed, 1 changed"):
        train(cfg, student, resume=True, progress=False)
    shutil.copy(kept, teacher)  # put back as it was: the run goes on
    train(cfg, student, resume=True, progress=False)
    assert len((student / "metrics.jsonl").read_text().splitlines()) == cfg.epochs


def test_teaching_on_views_labels_each_image_by_what_the_teachers_say_about_that_image(fer_csv, tmp_path):
    from fervid.inference.align import Normalization
    from fervid.training.train import (load_matching_teachers, load_teacher, mean_teacher_probabilities,
                                       taught_view_batch, teacher_view_bank)

    run = train(tiny_config(fer_csv), tmp_path / "teacher", progress=False)
    checkpoint, folder = run / "best.pt", export_onnx(run, tmp_path / "teacher_model", name="teacher",
                                                      checkpoint="best.pt")
    quantize_int8(folder, load_fer2013(fer_csv, "Training").images, samples=64)
    # augmentation on, so the views differ from the faces and from each other
    cfg = tiny_config(fer_csv, teachers=[str(checkpoint), str(folder)], teaching="views", teacher_views=3,
                      teacher_weight=1.0, max_rotation_deg=10, max_shift_px=3, erase_prob=0.5, hflip=True)
    norm = Normalization.from_dict(json.loads((run / "normalization.json").read_text()))
    train_ds = load_fer2013(fer_csv, "Training")
    x_train = torch.from_numpy(norm(train_ds.images))
    flat = torch.from_numpy(-norm.global_mean / norm.scale)
    teachers = load_matching_teachers(cfg.teachers, norm)
    views, probs = teacher_view_bank(cfg, x_train, teachers, flat)
    assert views.shape == (3, *x_train.shape) and probs.shape == (3, len(x_train), 7)
    assert not torch.allclose(views[0].float(), x_train, atol=0.1)
    assert not torch.allclose(views[0], views[1])
    # each view's targets are the mean of both teachers (torch checkpoint, int8 ONNX folder) on that very view
    view = views[1, :40].float().numpy()
    by_hand = sum(load_teacher(t)[1](view) for t in cfg.teachers) / 2
    np.testing.assert_allclose(probs[1, :40].numpy(), by_hand, atol=1e-5)
    np.testing.assert_allclose(mean_teacher_probabilities(teachers, views[1, :40]).numpy(), by_hand, atol=1e-5)
    np.testing.assert_allclose(probs.sum(2).numpy(), 1.0, atol=1e-5)
    # a folder teacher's threads do not busy-wait between runs (they would starve training's): every fervid session's
    quiet = EmotionCNN(folder)  # as load_teacher makes it
    assert quiet.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    # the checkpoint and its int8 export nearly agree: the same teacher by either runtime
    ckpt_probs, onnx_probs = load_teacher(checkpoint)[1](view), load_teacher(folder)[1](view)
    assert (ckpt_probs.argmax(1) == onnx_probs.argmax(1)).mean() >= 0.9

    # a batch takes one stored view per face and blends its targets
    idx = torch.arange(10)
    t_train = torch.from_numpy(np.eye(7, dtype=np.float32)[train_ds.labels])
    xb, tb = taught_view_batch(views, probs, t_train, idx, 0.25, torch.Generator().manual_seed(0))
    for i in range(10):
        k = next(k for k in range(3) if torch.equal(xb[i], views[k, i].float()))
        torch.testing.assert_close(tb[i], 0.75 * t_train[i] + 0.25 * probs[k, i])

    # students taught on stored views, or on each batch's fresh augmentation, alone learn the classes
    losses = {}
    for teaching in ("faces", "views", "online"):  # "faces" with teacher_weight 0: no teaching, the same draws
        cfg.teaching, cfg.teacher_weight = teaching, 0.0 if teaching == "faces" else 1.0
        student = train(cfg, tmp_path / teaching, progress=False)
        assert json.loads((student / "summary.json").read_text())["best_val_acc"] > 0.6, teaching
        losses[teaching] = json.loads((student / "metrics.jsonl").read_text().splitlines()[0])["train_loss"]
    # online teaching trains on the same augmented batches as no teaching, with other (soft) targets
    assert abs(losses["online"] - losses["faces"]) > 0.01
    with pytest.raises(ValueError, match="needs `teachers`"):
        tiny_config(fer_csv, teaching="online")
    with pytest.raises(ValueError, match="teaching must be"):
        tiny_config(fer_csv, teachers=[str(checkpoint)], teaching="sometimes")
    other = run / "normalization.json"
    other.write_text(json.dumps(Normalization(norm.global_mean + 0.1, norm.scale).to_dict()))
    with pytest.raises(ValueError, match="another normalisation"):
        load_matching_teachers(cfg.teachers, norm)


@pytest.mark.parametrize("flags, expected", [({"avx2", "amx_bf16", "amx_tile"}, True), ({"avx2", "avx512_bf16"}, True),
                                             ({"avx2", "fma"}, False), (set(), False)])
def test_bf16_auto_uses_bf16_only_on_cpus_with_bf16_instructions(flags, expected):
    from fervid.training.train import resolve_bf16

    assert resolve_bf16("auto", torch.device("cpu"), flags) is expected
    assert resolve_bf16(True, torch.device("cpu"), flags) is True  # the config's explicit choice wins
    assert resolve_bf16(False, torch.device("cpu"), flags) is False


@pytest.mark.parametrize("native, expected", [(True, True), (False, False)])
def test_bf16_auto_on_a_gpu_needs_bf16_in_hardware(monkeypatch, native, expected):
    """A pre-Ampere GPU (a T4, a V100) only emulates bf16, which torch counts as supported by default."""
    from fervid.training.train import resolve_bf16

    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: native or including_emulation)
    assert resolve_bf16("auto", torch.device("cuda"), set()) is expected
    assert resolve_bf16(True, torch.device("cuda"), set()) is True


def test_bf16_setting_must_be_true_false_or_auto(fer_csv):
    with pytest.raises(ValueError, match="bf16"):
        tiny_config(fer_csv, bf16="fast")


def test_summary_records_precision_cpu_and_seconds_per_epoch_and_last_checkpoint_exports(fer_csv, tmp_path):
    run = train(tiny_config(fer_csv, epochs=2, bf16=False), tmp_path / "run", progress=False)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["precision"] == "fp32" and summary["device"]
    assert summary["seconds_per_epoch"] == pytest.approx(summary["wall_seconds"] / 2, abs=0.1)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert summary["last_val_acc"] == metrics[-1]["val_acc"]
    folder = export_onnx(run, tmp_path / "model", checkpoint="last.pt")  # the last epoch, not the best
    assert EmotionCNN(folder, precision="fp32").config.net["stages"] == TINY["stages"]


def test_exporting_a_checkpoint_file_exports_that_file(fer_csv, tmp_path):
    """`fervid export runs/x/last.pt` exported best.pt: only the file's folder was kept."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    run = train(tiny_config(fer_csv, epochs=2, bf16=False), tmp_path / "run", progress=False)
    last_epoch = torch.load(run / "last.pt", weights_only=False)["epoch"]
    result = CliRunner().invoke(app, ["export", str(run / "last.pt"), "--out", str(tmp_path / "m"), "--no-int8"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "m" / "training_summary.json").read_text(encoding="utf-8"))
    assert (summary["exported_checkpoint"], summary["exported_epoch"]) == ("last.pt", last_epoch)
    quiet = CliRunner().invoke(app, ["export", str(run / "last.pt"), "--out", str(tmp_path / "q"), "--no-int8", "-q"])
    assert quiet.exit_code == 0 and quiet.output == "" and (tmp_path / "q" / "model.onnx").is_file(), quiet.output
    both = CliRunner().invoke(app, ["export", str(run / "last.pt"), "--checkpoint", "best.pt", "--out",
                                    str(tmp_path / "n"), "--no-int8"])
    assert both.exit_code == 2 and "give one of them" in both.output and not (tmp_path / "n").exists()
    # a shipped model's name: its LSTM was then taken for this model's (a feature-size error in fervid video)
    shipped_name = CliRunner().invoke(app, ["export", str(run), "--name", "ferplus_vgg", "--out", str(tmp_path / "n"),
                                            "--no-int8"])
    assert shipped_name.exit_code == 2 and "a shipped model is called that" in shipped_name.output
    # nor from its folder's name: models/fer2013_vgg was a model called fer2013_vgg, taken for the shipped one
    shipped_folder = tmp_path / "models" / "fer2013_vgg"
    named_after = CliRunner().invoke(app, ["export", str(run), "--out", str(shipped_folder), "--no-int8"])
    assert named_after.exit_code == 2 and named_after.output.strip() == (
        f"error: --out {shipped_folder}: a model is named after its folder, and a shipped model is called "
        "fer2013_vgg; give --name a name of its own, or write it into another folder"), named_after.output
    assert not shipped_folder.exists()
    renamed = CliRunner().invoke(app, ["export", str(run), "--out", str(shipped_folder), "--name", "mine",
                                       "--no-int8"])
    assert renamed.exit_code == 0 and EmotionCNN(shipped_folder).config.name == "mine", renamed.output
    # calibration data that is not there: refused before anything is written (it left a half-exported folder)
    no_data = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / "n"), "--calibration-data",
                                       str(tmp_path / "none.csv")])
    assert no_data.exit_code == 2 and "none.csv" in no_data.output and not (tmp_path / "n").exists()
    # exported again into its folder: refused (exit 2, as train-temporal's and train's folders are), unless --force
    again = CliRunner().invoke(app, ["export", str(run / "last.pt"), "--out", str(tmp_path / "m"), "--no-int8"])
    assert again.exit_code == 2 and again.output == (f"error: {tmp_path / 'm'}: holds an emotion CNN already; --force "
                                                     "replaces it, or write into another folder (--out)\n")
    forced = CliRunner().invoke(app, ["export", str(run / "last.pt"), "--out", str(tmp_path / "m"), "--no-int8",
                                      "--force"])
    assert forced.exit_code == 0, forced.output


def test_ensemble_export_averages_members_probabilities_each_normalised_as_trained(fer_csv, tmp_path):
    """Two runs trained on different faces (so different mean images): the one-graph ensemble, fed faces normalised
    as the first run's, gives the mean of what each member's own model gives on the same crops."""
    from fervid.inference.align import preprocess_faces
    from fervid.training.export import export_ensemble

    run_a = train(tiny_config(fer_csv, epochs=1), tmp_path / "a", progress=False)
    run_b = train(tiny_config(fer_csv, epochs=1, limit_train=200, seed=3), tmp_path / "b", progress=False)
    ensemble = EmotionCNN(export_ensemble([run_a, run_b], tmp_path / "ens", name="tiny_ens"), precision="fp32")
    members = [EmotionCNN(export_onnx(r, tmp_path / f"m{i}", checkpoint="last.pt"), precision="fp32")
               for i, r in enumerate((run_a, run_b))]
    assert not np.allclose(members[0].config.normalization.global_mean, members[1].config.normalization.global_mean)
    crops = load_fer2013(fer_csv, "PublicTest").images[:32]

    def run(cnn):
        return cnn(preprocess_faces(crops, cnn.config.normalization, template=cnn.config.template)[1])

    outputs = [run(m) for m in members]
    ens = run(ensemble)
    np.testing.assert_allclose(ens.probabilities, (outputs[0].probabilities + outputs[1].probabilities) / 2,
                               atol=1e-5)
    np.testing.assert_allclose(ens.features, outputs[0].features, atol=1e-4)
    assert ensemble.config.features_of == "a" and len(ensemble.config.net["ensemble"]) == 2


def test_a_mutual_learning_run_and_its_peer_export_as_one_ensemble_from_the_command_line(fer_csv, tmp_path):
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    run = train(tiny_config(fer_csv, epochs=1, mutual_weight=1.0), tmp_path / "mutual", progress=False)
    result = CliRunner().invoke(app, ["export", str(run), str(run / "last_peer.pt"), "--checkpoint", "last.pt",
                                      "--out", str(tmp_path / "pair"), "--no-int8"])
    assert result.exit_code == 0, result.output
    pair = EmotionCNN(tmp_path / "pair", precision="fp32")
    members = [EmotionCNN(export_onnx(run, tmp_path / name, checkpoint=name + ".pt"), precision="fp32")
               for name in ("last", "last_peer")]
    crops = members[0].config.normalization(load_fer2013(fer_csv, "PublicTest").images[:16])
    np.testing.assert_allclose(pair(crops).probabilities,
                               (members[0](crops).probabilities + members[1](crops).probabilities) / 2, atol=1e-5)
    assert [m["run"] for m in pair.config.net["ensemble"]] == [str(run), str(run / "last_peer.pt")]
    assert pair.config.features_of == "mutual"


def test_contrast_jitter_scales_each_faces_own_contrast_within_the_range(fer_csv):
    from fervid.inference.align import Normalization
    from fervid.training.train import augment

    faces = load_fer2013(fer_csv, "Training").images[:64]
    norm = Normalization.fit(faces)
    x = torch.from_numpy(norm(faces))
    flat = torch.from_numpy(-norm.global_mean / norm.scale)
    cfg = tiny_config(fer_csv, contrast_range=[0.6, 1.6], scale_range=[1, 1])  # no flip, shift, rotation, erasing
    out = augment(x, cfg, torch.Generator().manual_seed(0), flat)
    # back to the mean-subtracted face: it must be the original face times one factor per face
    before = x * norm.scale + torch.from_numpy(norm.global_mean)
    after = out * norm.scale + torch.from_numpy(norm.global_mean)
    factors = (after * before).sum((1, 2, 3)) / (before * before).sum((1, 2, 3))
    torch.testing.assert_close(after, before * factors.view(-1, 1, 1, 1), atol=2e-3, rtol=0)
    assert 0.6 <= float(factors.min()) and float(factors.max()) <= 1.6 and float(factors.std()) > 0.1
    unchanged = augment(x, tiny_config(fer_csv, scale_range=[1, 1]), torch.Generator().manual_seed(0), flat)
    torch.testing.assert_close(unchanged, x, atol=2e-3, rtol=0)  # off by default


def test_no_default_points_at_data_outside_the_package(tmp_path):
    from fervid.training.train import TrainConfig, training_data
    from fervid.training.train_temporal import TemporalTrainConfig

    assert TrainConfig().data == TrainConfig().ferplus_csv == "" and TemporalTrainConfig().fer2013 == ""
    with pytest.raises(ValueError, match="no training data: set `data`"):
        training_data(TrainConfig())
    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 20, "PublicTest": 10})
    with pytest.raises(ValueError, match="need the FER\\+ votes"):
        training_data(TrainConfig(data=str(csv), labels="ferplus-soft"))


def test_a_run_started_with_relative_paths_resumes_from_any_folder(fer_csv, tmp_path, monkeypatch):
    """The run's config.json kept `data` as given, relative to the folder it started in: from anywhere else,
    --resume said "no such file", and naming the same file absolutely was refused as another config."""
    monkeypatch.chdir(fer_csv.parent)
    cfg = tiny_config(fer_csv.name, epochs=2)
    train(cfg, tmp_path / "run", progress=False, stop_after=1)
    assert json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))["data"] == str(fer_csv)
    train(tiny_config(str(fer_csv), epochs=2), tmp_path / "run", resume=True, progress=False, stop_after=1)
    monkeypatch.chdir(tmp_path)
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    result = CliRunner().invoke(app, ["train", "--out", "run", "--resume"])
    assert result.exit_code == 0, result.output


def test_a_run_given_where_a_model_is_expected_says_to_export_it(fer_csv, tmp_path, capsys):
    """`--model runs/x` said "missing model.onnx", `--model runs/x/best.pt` "not found"; `--resume` into an empty
    folder loaded the data and said "training on ..." before "nothing to resume"."""
    from fervid.inference.models import ModelError, resolve_model_dir

    run = train(tiny_config(fer_csv, epochs=1), tmp_path / "run", progress=False)
    with pytest.raises(ModelError, match="a training run, not a model; export it first"):
        resolve_model_dir(run)
    with pytest.raises(ModelError, match="best.pt: a training checkpoint, not a model; export its run first"):
        resolve_model_dir(run / "best.pt")
    with pytest.raises(FileNotFoundError, match="nothing to resume from"):
        train(tiny_config(fer_csv, data=str(tmp_path / "not_read.csv")), tmp_path / "empty", resume=True)
    assert not (tmp_path / "empty").exists() and "training on" not in capsys.readouterr().err


def test_a_checkpoint_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """Killed in the middle of torch.save, last.pt was left empty: the run could neither resume nor start again."""
    from fervid.training import train as training

    path = tmp_path / "last.pt"
    training.save_checkpoint({"epoch": 1}, path)

    def killed(state, target):
        Path(target).write_bytes(b"\x80\x02half a pickle")
        raise KeyboardInterrupt

    monkeypatch.setattr(training.torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        training.save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=False) == {"epoch": 1}


def test_runs_and_model_folders_are_not_written_over_by_the_other_command(fer_csv, tmp_path, monkeypatch):
    """`fervid train --out <an exported model>` replaced the model's config.json; `fervid export RUN --out RUN`
    replaced the run's, so it could not be resumed; exporting over an earlier model left its card and calibration
    to describe the new weights; `--out .` gave a model named ""."""
    from fervid.training.export import export_onnx

    run = train(tiny_config(fer_csv, epochs=1), tmp_path / "run", progress=False)
    model = export_onnx(run, tmp_path / "model")
    with pytest.raises(FileExistsError, match="holds an exported model"):
        train(tiny_config(fer_csv, epochs=1), model, progress=False)
    with pytest.raises(FileExistsError, match="holds a training run"):
        export_onnx(run, run)
    lstm = tmp_path / "lstm"  # a temporal model's folder: replaced by a CNN, its video users lost their LSTM
    lstm.mkdir()
    (lstm / "config.json").write_text('{"kind": "lstm", "cnn": "x"}', encoding="utf-8")
    with pytest.raises(FileExistsError, match="holds a temporal model"):
        export_onnx(run, lstm)
    assert "epochs" in json.loads((run / "config.json").read_text())  # still the run's own
    (model / "card.json").write_text("{}", encoding="utf-8")  # an earlier model's card and calibration
    (model / "calibration.json").write_text("{}", encoding="utf-8")
    export_onnx(run, model, checkpoint="last.pt")
    assert not (model / "card.json").exists() and not (model / "calibration.json").exists()
    (tmp_path / "named_here").mkdir()
    monkeypatch.chdir(tmp_path / "named_here")
    export_onnx(run, ".")
    assert json.loads(Path("config.json").read_text(encoding="utf-8"))["name"] == "named_here"
    # a folder of other files took the model's among them (`fervid export --out .` in one's home)
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "thesis.tex").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match="papers: holds other files, not a model; write an emotion CNN into a "
                                              r"new or empty folder \(--out\)"):
        export_onnx(run, tmp_path / "papers")
    assert [p.name for p in (tmp_path / "papers").iterdir()] == ["thesis.tex"]


def test_weight_averaging_keeps_the_average_as_the_model_and_resumes_exactly(fer_csv, tmp_path):
    from fervid.training.train import load_net

    cfg = tiny_config(fer_csv, ema_decay=0.9)
    straight = train(cfg, tmp_path / "a", progress=False)
    metrics = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert all(m["raw_val_acc"] is not None for m in metrics)
    last = torch.load(straight / "last.pt", weights_only=False)
    averaged, trained = last["model"], last["train_model"]
    # the average lags the optimiser's weights, so the two differ, and the saved/exported model is the average
    assert any(not torch.equal(averaged[k], trained[k]) for k in averaged if averaged[k].is_floating_point())
    net = load_net(straight / "last.pt")
    assert all(torch.equal(v, averaged[k]) for k, v in net.state_dict().items())
    raw = load_net(straight / "last_raw.pt")  # the optimiser's weights, exportable too
    assert all(torch.equal(v, trained[k]) for k, v in raw.state_dict().items())

    train(cfg, tmp_path / "b", progress=False, stop_after=2)
    train(cfg, tmp_path / "b", resume=True, progress=False)
    resumed = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_allclose([m["val_acc"] for m in resumed], [m["val_acc"] for m in metrics], atol=1e-6)
    np.testing.assert_allclose([m["raw_val_acc"] for m in resumed], [m["raw_val_acc"] for m in metrics], atol=1e-6)

    with pytest.raises(ValueError, match="ema_decay"):
        tiny_config(fer_csv, ema_decay=1.0)


def test_swa_averages_the_epoch_end_weights_equally_under_a_constant_learning_rate(fer_csv, tmp_path):
    cfg = tiny_config(fer_csv, epochs=3, swa=True, lr_schedule="constant", warmup_pct=0.2)
    run = tmp_path / "swa"
    snapshots = []
    for epoch in (1, 2, 3):  # stopped and resumed after every epoch, to read each epoch's own weights
        train(cfg, run, resume=epoch > 1, progress=False, stop_after=epoch)
        snapshots.append(torch.load(run / "last_raw.pt", weights_only=False)["model"])
    average = torch.load(run / "last.pt", weights_only=False)["model"]
    for key, value in average.items():
        if key.endswith(("weight", "bias")):  # parameters; BatchNorm's statistics are recomputed, not averaged
            torch.testing.assert_close(value, sum(s[key] for s in snapshots) / 3, atol=1e-6, rtol=1e-5)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["lr"] == pytest.approx(cfg.lr) and metrics[-1]["lr"] == pytest.approx(cfg.lr)
    assert all(m["raw_val_acc"] is not None for m in metrics)
    with pytest.raises(ValueError, match="choose one"):
        tiny_config(fer_csv, swa=True, ema_decay=0.9)
    with pytest.raises(ValueError, match="lr_schedule"):
        tiny_config(fer_csv, lr_schedule="cosine")


def test_a_second_head_learns_fer2013_labels_and_is_left_out_of_the_saved_network(fer_csv, tmp_path):
    from fervid.inference.align import Normalization
    from fervid.training.train import WithFer2013Head, load_net, training_data

    votes = write_ferplus_votes(fer_csv, tmp_path / "fer2013new.csv")
    cfg = tiny_config(fer_csv, labels="ferplus-soft", ferplus_csv=str(votes), ferplus_weight=1.0,
                      val_labels="ferplus", fer2013_head_weight=0.5)
    train_ds, targets, _ = training_data(cfg)
    assert targets.shape == (len(train_ds), 14)
    np.testing.assert_allclose(targets[:, :7], train_ds.soft_labels, atol=1e-6)  # the FER+ head's, untouched
    fer2013 = load_fer2013(fer_csv, "Training")
    rows = [int(s.rsplit("#", 1)[1]) for s in train_ds.sources]
    np.testing.assert_array_equal(targets[:, 7:].argmax(1), fer2013.labels[rows])
    np.testing.assert_array_equal(targets[:, 7:].sum(1), 1.0)

    straight = train(cfg, tmp_path / "a", progress=False)
    metrics = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["val_acc"] > 0.6
    last = torch.load(straight / "last.pt", weights_only=False)
    # the saved network is EmotionVGG alone (export and inference unchanged); the second head rides in last.pt
    assert load_net(straight / "last.pt").state_dict().keys() == EmotionVGG(NetConfig(**TINY)).state_dict().keys()
    both = WithFer2013Head(load_net(straight / "last.pt"))
    both.fer2013_head.load_state_dict(last["fer2013_head"])
    both.eval()
    norm = Normalization.from_dict(json.loads((straight / "normalization.json").read_text()))
    faces = torch.from_numpy(norm(fer2013.images[rows]))
    with torch.no_grad():
        _, fer2013_logits = both(faces)
    assert (fer2013_logits.argmax(1).numpy() == fer2013.labels[rows]).mean() > 0.6  # it learned, chance 1/7

    train(cfg, tmp_path / "b", progress=False, stop_after=1)
    train(cfg, tmp_path / "b", resume=True, progress=False)
    resumed = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_allclose([m["val_acc"] for m in resumed], [m["val_acc"] for m in metrics], atol=1e-6)
    np.testing.assert_allclose(resumed[-1]["train_loss"], metrics[-1]["train_loss"], rtol=1e-4)
    with pytest.raises(ValueError, match="FER\\+ label scheme"):
        tiny_config(fer_csv, fer2013_head_weight=0.5)



def test_sharpness_aware_step_probes_uphill_then_puts_weights_and_batchnorm_back():
    from fervid.training.train import sharpness_aware_perturbation

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    loss_fn = torch.nn.functional.cross_entropy
    loss_fn(model(x), y).backward()
    before = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    running = model[1].running_mean.clone()
    norm = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))
    with sharpness_aware_perturbation(model, rho=0.05):
        moved = [p.detach() - b for p, b in zip(model.parameters(), before)]
        # moved rho along the normalised gradient: uphill, so the loss there is higher
        torch.testing.assert_close(torch.linalg.vector_norm(torch.cat([m.flatten() for m in moved])),
                                   torch.tensor(0.05))
        for m, g in zip(moved, grads):
            torch.testing.assert_close(m, g * 0.05 / norm)
        model(x)  # a forward in training mode inside leaves BatchNorm's running statistics alone
        torch.testing.assert_close(model[1].running_mean, running)
    for p, b in zip(model.parameters(), before):
        torch.testing.assert_close(p.detach(), b)
    assert model[1].momentum == 0.1
    model(x)
    assert not torch.equal(model[1].running_mean, running)  # and updates them again outside


def test_sam_training_learns_and_differs_from_plain_sgd(fer_csv, tmp_path):
    plain = train(tiny_config(fer_csv), tmp_path / "sgd", progress=False)
    sam = train(tiny_config(fer_csv, sam_rho=0.05), tmp_path / "sam", progress=False)
    metrics = [json.loads(line) for line in (sam / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["val_acc"] > 0.6
    assert json.loads((sam / "config.json").read_text())["sam_rho"] == 0.05
    a = torch.load(plain / "last.pt", weights_only=False)["model"]
    b = torch.load(sam / "last.pt", weights_only=False)["model"]
    assert any(not torch.allclose(a[k], b[k]) for k in a if a[k].is_floating_point())
    with pytest.raises(ValueError, match="sam_rho"):
        tiny_config(fer_csv, sam_rho=-0.1)


def test_mutual_terms_pull_each_network_toward_the_others_probabilities_and_only_that_network():
    from fervid.training.train import mutual_terms

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, generator=gen, requires_grad=True)
    peer_logits = torch.randn(5, 7, generator=gen, requires_grad=True)
    kl, peer_kl = mutual_terms(logits, peer_logits)
    p, q = logits.softmax(1), peer_logits.softmax(1)
    torch.testing.assert_close(kl, (q * (q.log() - p.log())).sum(1).mean())  # KL(peer || network)
    torch.testing.assert_close(peer_kl, (p * (p.log() - q.log())).sum(1).mean())
    kl.backward()
    assert peer_logits.grad is None  # the peer's probabilities are the network's fixed targets
    torch.testing.assert_close(logits.grad, (p - q).detach() / 5)  # the gradient of KL toward the peer
    same = torch.randn(3, 7, generator=gen)
    assert float(mutual_terms(same, same.clone())[0]) == pytest.approx(0.0, abs=1e-6)


def test_mutual_learning_trains_a_peer_beside_the_network_and_resumes_exactly(fer_csv, tmp_path):
    from fervid.training.train import load_net

    cfg = tiny_config(fer_csv, mutual_weight=1.0)
    run = train(cfg, tmp_path / "mutual", progress=False)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["val_acc"] > 0.6 and metrics[-1]["peer_val_acc"] > 0.6  # both learn the task
    net, peer = load_net(run / "last.pt"), load_net(run / "last_peer.pt")
    assert not torch.equal(net.body[0].weight, peer.body[0].weight)  # its own initialisation
    # the peer changes the network's training: the same seed without one ends elsewhere
    alone = load_net(train(tiny_config(fer_csv), tmp_path / "alone", progress=False) / "last.pt")
    assert not torch.allclose(net.body[0].weight, alone.body[0].weight)

    train(cfg, tmp_path / "resumed", progress=False, stop_after=1)
    train(cfg, tmp_path / "resumed", resume=True, progress=False)
    resumed = [json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_allclose([m["val_acc"] for m in resumed], [m["val_acc"] for m in metrics], atol=1e-6)
    np.testing.assert_allclose([m["peer_val_acc"] for m in resumed], [m["peer_val_acc"] for m in metrics], atol=1e-6)
    np.testing.assert_allclose(resumed[-1]["train_loss"], metrics[-1]["train_loss"], rtol=1e-4)

    with pytest.raises(ValueError, match="mutual_weight"):
        tiny_config(fer_csv, mutual_weight=1.0, ema_decay=0.9)
    with pytest.raises(ValueError, match="mutual_weight"):
        tiny_config(fer_csv, mutual_weight=-1.0)


@pytest.mark.parametrize("setting, value, message", [
    ("epochs", 0, "epochs must be positive, not 0"),  # reached torch's scheduler after the data was loaded
    ("batch_size", -1, "batch_size must be positive"),
    ("lr", float("nan"), "lr must be positive, not nan"),
    ("weight_decay", -1e-4, "weight_decay must be 0 or more"),
    ("erase_prob", 1.5, "erase_prob must be within 0..1"),
    ("label_smoothing", 1.0, "label_smoothing must be at least 0 and below 1"),
])
def test_config_refuses_numbers_outside_their_range(setting, value, message, fer_csv, tmp_path):
    with pytest.raises(ValueError, match=message):
        TrainConfig(data=str(fer_csv), **{setting: value}).validate()
    TrainConfig(data=str(fer_csv), erase_prob=1.0, label_smoothing=0.0, weight_decay=0.0).validate()  # the edges


def test_cli_train_refuses_a_bad_number_before_loading_anything(fer_csv, tmp_path):
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    result = CliRunner().invoke(app, ["train", "--data", str(fer_csv), "--epochs", "0", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "epochs must be positive, not 0" in result.output
    assert "training on" not in result.output and not (tmp_path / "r").exists()
    # a flag's bad value is the flag's, not the config file's
    toml = tmp_path / "ok.toml"
    toml.write_text(f'data = "{fer_csv.as_posix()}"\nepochs = 2\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--config", str(toml), "--labels", "bogus", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "error: --labels must be one of" in result.output, result.output


@pytest.mark.parametrize("line, message", [
    ('hflip = "maybe"', 'hflip: "maybe" is a string (quoted), and hflip takes true or false, written without quotes'),
    # quoted numbers and booleans were read as such ("no" as false): TOML's are unquoted, and a quoted one a mistake
    ('hflip = "no"', 'hflip: "no" is a string (quoted), and hflip takes true or false, written without quotes'),
    ('epochs = "3"', 'epochs: "3" is a string (quoted), and epochs takes a whole number, written without quotes'),
    ('lr = "0.05"', 'lr: "0.05" is a string (quoted), and lr takes a number, written without quotes'),
    ('scale_range = [0.9, "1.1"]', 'scale_range: [0.9, "1.1"] holds a string (quoted), and scale_range takes a '
                                   'list of numbers'),
    ('[net]\ndropout = "0.4"', '[net] dropout: "0.4" is a string (quoted), and [net] dropout takes a number'),
    ('[net]\nstages = ["8", 16]', '[net] stages: ["8", 16] holds a string (quoted), and [net] stages takes a list '
                                 'of whole numbers'),
    ("threads = 1.5", "threads: input should be a valid integer"),  # tracebacks from torch or slicing
    ("limit_train = 2.5", "limit_train: input should be a valid integer"),
    ('epochs = "two"', 'epochs: "two" is a string (quoted), and epochs takes a whole number'),  # named no key
    ("max_rotation_deg = -30", "max_rotation_deg must be 0 or more"),  # accepted
    ("scale_range = [1.1]", "scale_range"),  # "not enough values to unpack"
    ("scale_range = [1.2, 0.9]", "scale_range must be [low, high]"),
    ('teachers = "runs/a/best.pt"', "teachers: input should be a valid list"),
    # a number for true or false was read as one (pydantic's lax bool: hflip = 1 on, swa = 0 off, bf16 = 1 forced)
    ("hflip = 1", "hflip: 1 is not true or false (TOML's, written unquoted)"),
    ("swa = 0", "swa: 0 is not true or false"),
    ("bf16 = 1", "bf16: 1 is not true or false"),
    ("[net]\nbatch_norm = 0", "[net] batch_norm: 0 is not true or false"),
    # a TOML date or time for true or false: "Object of type date is not JSON serializable"
    ("hflip = 1979-05-27", "hflip: 1979-05-27 is not true or false"),
    ("swa = 07:32:00", "swa: 07:32:00 is not true or false"),
    ("hflip = nan", "hflip: nan is not true or false"),  # (as TOML writes it, not JSON's NaN)
])
def test_a_config_value_of_the_wrong_type_is_refused_naming_its_key_and_file(line, message, fer_csv, tmp_path):
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    toml = tmp_path / "bad.toml"
    toml.write_text(f'data = "{fer_csv.as_posix()}"\n{line}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--config", str(toml), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and f"{toml}: " in result.output and message in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "training on" not in result.output and not (tmp_path / "r").exists()


@pytest.mark.parametrize("warmup_pct", [0.2, 0.25, 0.5])
def test_the_one_cycle_schedule_runs_at_every_length(fer_csv, warmup_pct):
    """A run of exactly 5 steps (warm-up 0.2) died in torch's scheduler with a ZeroDivisionError traceback."""
    from fervid.training.train import learning_rate_schedule

    for steps in range(1, 13):
        param = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([param], lr=0.1)
        schedule = learning_rate_schedule(opt, tiny_config(fer_csv, epochs=1, warmup_pct=warmup_pct), steps)
        rates = []
        for _ in range(steps):
            opt.step()
            schedule.step()
            rates.append(opt.param_groups[0]["lr"])
        assert all(0 < r <= 0.1 for r in rates), (steps, rates)


def test_a_ferplus_scheme_selects_its_epoch_on_ferplus_labels_unless_told_otherwise(fer_csv, tmp_path):
    """`fervid train --labels ferplus` chose its best epoch on FER2013's labels, and said so only at the end."""
    votes = str(tmp_path / "votes.csv")
    for labels, val_labels, expected in [("fer2013", None, "fer2013"), ("ferplus", None, "ferplus"),
                                         ("ferplus-soft", None, "ferplus"), ("ferplus-soft", "fer2013", "fer2013")]:
        given = {"val_labels": val_labels} if val_labels else {}
        cfg = TrainConfig.from_dict({"data": str(fer_csv), "labels": labels, "ferplus_csv": votes, **given})
        assert cfg.val_labels == expected, (labels, val_labels)
        assert TrainConfig.from_dict(cfg.to_dict()).val_labels == expected  # as a run's config.json resumes it


def test_train_names_its_folder_after_the_config_and_says_what_an_interrupt_kept(fer_csv, tmp_path, monkeypatch):
    """Every config trained into runs/fer2013_vgg by default, and Ctrl-C ended a run with no word on what was
    kept or how to go on."""
    from typer.testing import CliRunner

    import fervid.training.train as training
    from fervid.apps.cli import app

    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "my_recipe.toml"
    toml.write_text(f'data = "{fer_csv.as_posix()}"\n', encoding="utf-8")
    seen = []

    def interrupted(cfg, out, resume=False, **_):
        seen.append(out)
        if len(seen) == 2:
            out.mkdir(parents=True)
            (out / "last.pt").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", interrupted)
    first = CliRunner().invoke(app, ["train", "--config", str(toml)])
    assert seen[0] == Path("runs") / "my_recipe"
    assert first.exit_code == 130 and "no epoch had finished, so nothing is kept" in first.output
    second = CliRunner().invoke(app, ["train", "--config", str(toml)])
    assert second.exit_code == 130 and "with --resume goes on from there" in second.output


def test_a_folder_run_without_a_config_is_named_after_its_folder_not_a_shipped_model(fer_csv, tmp_path, monkeypatch):
    """`fervid train --data my_faces` trained into runs/fer2013_vgg, which exported as a model called fer2013_vgg."""
    from typer.testing import CliRunner

    import fervid.training.train as training
    from fervid.apps.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_faces" / "happy").mkdir(parents=True)
    seen = []
    monkeypatch.setattr(training, "train", lambda cfg, out, **_: seen.append(out) or out)
    for data in ("my_faces", "my_faces/", str(tmp_path / "my_faces"), str(fer_csv)):
        CliRunner().invoke(app, ["train", "--data", data])
    assert seen == [Path("runs") / "my_faces"] * 3 + [Path("runs") / "fer2013_vgg"]


def test_a_configs_relative_path_that_names_nothing_here_says_where_it_was_read_from(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "recipe.toml"
    toml.write_text('data = "../data/fer2013.csv.gz"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--config", str(toml), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "../data/fer2013.csv.gz: no such file" in result.output
    assert f"read from the folder fervid runs in, {tmp_path}" in result.output


def test_training_on_a_folder_of_your_own_labelled_faces_then_export_and_evaluate(tmp_path):
    """`fervid train --data <emotion>/<image> folders` was refused ("is a directory, not a FER2013 CSV"): a
    researcher could score a model on their own faces but not teach it them."""
    import shutil

    from PIL import Image
    from typer.testing import CliRunner

    from conftest import synthetic_faces
    from fervid.apps.cli import app

    images, labels = synthetic_faces(280, seed=5)
    faces = tmp_path / "my_faces"
    for i, (image, label) in enumerate(zip(images, labels)):
        (faces / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(faces / EMOTIONS[label] / f"{i:04d}.png")
    toml = tmp_path / "tiny.toml"
    toml.write_text("epochs = 4\nbatch_size = 32\nlr = 0.05\nthreads = 1\nmax_rotation_deg = 0\nmax_shift_px = 0\n"
                    "erase_prob = 0\nhflip = false\nbf16 = false\n[net]\nstages = [8, 16]\nconvs_per_stage = [1, 1]\n",
                    encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--config", str(toml), "--data", str(faces), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "best accuracy on 20% of" in result.output and "held out (their folders' labels)" in result.output
    # said before it trains: the held-out share's caveat, and an emotion no training face shows
    # on stderr, as every command's notices (they came on stdout without -q)
    assert "notice: the best epoch is chosen on 20% of" in result.stderr and "notice:" not in result.stdout
    (faces / "contempt").mkdir()  # a folder fervid has no class for: left out, and said (it went without a word)
    Image.fromarray(images[0]).save(faces / "contempt" / "x.png")
    shutil.rmtree(faces / EMOTIONS[labels[0]])
    noticed = runner.invoke(app, ["train", "--config", str(toml), "--data", str(faces), "--epochs", "1", "--out",
                                  str(tmp_path / "noticed")])
    assert noticed.exit_code == 0, noticed.output
    # one folder, split: what it left out is out of training and the held-out faces alike (it said "validation")
    assert (f"notice: 1 image(s) in {faces} left out of training and the held-out faces alike (each listed in "
            f"{tmp_path / 'noticed' / 'left_out.csv'}):\n  1 x in a folder whose name is {NOT_AN_EMOTION}: "
            f"{faces / 'contempt'} ('contempt')\n") in noticed.output
    assert f"notice: no training face of {EMOTIONS[labels[0]]}" in noticed.output
    for i, (image, label) in enumerate(zip(images, labels)):  # back as it was for what follows
        if label == labels[0]:
            (faces / EMOTIONS[label]).mkdir(exist_ok=True)
            Image.fromarray(image).save(faces / EMOTIONS[label] / f"{i:04d}.png")
    shutil.rmtree(faces / "contempt")
    saved = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert saved["data_kind"] == "folder" and json.loads(
        (tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))["best_val_acc"] > 0.6
    exported = runner.invoke(app, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "model")])
    assert exported.exit_code == 0 and "calibrated on" in exported.output, exported.output  # int8 from the folder
    # the card records a score on faces the model was not taught (its own folder is refused: issue-probe 2026-12-05)
    on_own = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "model"), "--data", str(faces), "--write-card"])
    assert on_own.exit_code == 2 and "faces it was not trained on" in on_own.output, on_own.output
    held_out = tmp_path / "held_out"
    for i, (image, label) in enumerate(zip(*synthetic_faces(140, seed=6))):
        (held_out / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(held_out / EMOTIONS[label] / f"{i:04d}.png")
    scored = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "model"), "--data", str(held_out),
                                 "--write-card"])
    assert scored.exit_code == 0 and float(scored.output.split("accuracy ")[1].split()[0]) > 0.6, scored.output
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text(encoding="utf-8")  # its card was refused, or FER2013's
    assert f"trained on {faces};" in card and "Usage=" not in card and "the labels of the folders" in card
    # a folder run's card speaks of its own faces, not FER2013's web images, and gives the command that trained it
    assert "FER2013 faces are mostly frontal" not in card and f"Trained on a folder of your own faces ({faces})" in card
    assert (f"- Command: `fervid train --config {toml} --data {faces} --out {tmp_path / 'run'}` (run in `{Path.cwd()}`, "
            "recorded by") in card
    # fine-tuning a trained model on the folder goes on with the model's own normalisation (refitted on the new
    # faces, it was refused as "trained with another normalisation")
    tuned_toml = tmp_path / "tune.toml"
    tuned_toml.write_text(toml.read_text(encoding="utf-8").replace(
        "epochs = 4", f'epochs = 1\ninit_from = "{(tmp_path / "model").as_posix()}"'), encoding="utf-8")
    tuned = runner.invoke(app, ["train", "--config", str(tuned_toml), "--data", str(faces), "--out",
                                str(tmp_path / "tuned")])
    assert tuned.exit_code == 0, tuned.output
    from fervid.inference.align import Normalization
    from fervid.inference.models import EmotionCNN

    kept = Normalization.from_dict(json.loads((tmp_path / "tuned" / "normalization.json").read_text(encoding="utf-8")))
    assert kept.matches(EmotionCNN(tmp_path / "model").config.normalization)
    # a folder's faces have one label each: the FER+ schemes are refused by name
    ferplus = runner.invoke(app, ["train", "--data", str(faces), "--labels", "ferplus", "--out", str(tmp_path / "x")])
    assert ferplus.exit_code == 2 and "a folder's faces have one label each" in ferplus.output


def test_resume_refuses_a_checkpoint_of_another_run_naming_the_file_and_what_differs(fer_csv, tmp_path):
    """`fervid train --out RUN --resume` with RUN/last.pt from a run of another network shape ended in a 60-line
    "size mismatch for ..." traceback from torch, after the data had loaded; one of the same shape but another
    config (here another seed) resumed silently as if it were RUN's."""
    import shutil

    from typer.testing import CliRunner

    from fervid.apps.cli import app

    run = tmp_path / "run"
    train(tiny_config(fer_csv, epochs=2), run, progress=False, stop_after=1)
    train(tiny_config(fer_csv, epochs=2, net={**TINY, "stages": [8, 12]}), tmp_path / "other_shape", progress=False,
          stop_after=1)
    train(tiny_config(fer_csv, epochs=2, seed=7), tmp_path / "other_seed", progress=False, stop_after=1)
    own = (run / "last.pt").read_bytes()
    for other, differs in (("other_shape", "net.stages ([8, 12] in the checkpoint, [8, 16] in the config)"),
                           ("other_seed", "seed (7 in the checkpoint, 0 in the config)")):
        shutil.copyfile(tmp_path / other / "last.pt", run / "last.pt")
        result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume"])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {run / 'last.pt'}: this checkpoint is not of the run "
                                                       f"{run / 'config.json'} describes"), result.output
        assert differs in lines[0] and "training on" not in result.output
        assert len((run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()) == 1  # nothing trained
    (run / "last.pt").write_bytes(own)  # its own checkpoint (which stores its config) resumes
    result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert torch.load(run / "last.pt", weights_only=False)["config"]["seed"] == 0


def test_resuming_a_finished_run_says_there_is_nothing_left_and_trains_nothing(fer_csv, tmp_path):
    """It said "training on ..." and a best accuracy, with no word that every epoch had already been trained."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    run = train(tiny_config(fer_csv, epochs=1), tmp_path / "run", progress=False)
    before = {name: (run / name).read_bytes() for name in ("last.pt", "best.pt", "metrics.jsonl", "summary.json")}
    result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume"])
    assert result.exit_code == 0, result.output
    assert f"{run}: already trained all 1 epoch; nothing to resume" in result.output
    assert "training on" not in result.output
    assert {name: (run / name).read_bytes() for name in before} == before


def _class_shares(labels, n):
    return np.bincount(labels, minlength=7) / n


def test_limit_train_and_limit_val_draw_a_seeded_stratified_subset_of_folders_and_csvs(fer_csv, tmp_path):
    """limit_train = 150 on a CK+ folder took its first 150 faces in class order: angry and disgust only."""
    from PIL import Image

    from conftest import synthetic_faces
    from fervid.training.train import training_data

    images, labels = synthetic_faces(280, seed=5)
    faces = tmp_path / "faces"
    for i, (image, label) in enumerate(zip(images, labels)):
        (faces / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(faces / EMOTIONS[label] / f"{i:04d}.png")
    everything = np.bincount(labels, minlength=7) / len(labels)
    folder = {"data": str(faces), "limit_train": 70, "limit_val": 28, "net": TINY}
    train_ds, targets, val_ds = training_data(TrainConfig.from_dict(folder))
    assert len(train_ds) == 70 and len(val_ds) == 28
    for ds in (train_ds, val_ds):  # every emotion, in about its share of the folder
        assert set(ds.labels) == set(range(7))
        np.testing.assert_allclose(_class_shares(ds.labels, len(ds)), everything, atol=1.5 / len(ds) + 0.03)
    np.testing.assert_array_equal(targets.argmax(1), train_ds.labels)  # targets follow their faces
    again = training_data(TrainConfig.from_dict(folder))[0]
    reseeded = training_data(TrainConfig.from_dict({**folder, "seed": 1}))[0]
    assert again.sources == train_ds.sources and reseeded.sources != train_ds.sources

    csv = {"data": str(fer_csv), "limit_train": 100, "limit_val": 50, "net": TINY}
    train_ds, targets, val_ds = training_data(TrainConfig.from_dict(csv))
    full_train, full_val = load_fer2013(fer_csv, "Training"), load_fer2013(fer_csv, "PublicTest")
    for ds, full in ((train_ds, full_train), (val_ds, full_val)):
        assert ds.sources != full.sources[: len(ds)]  # not the first N rows
        counts, whole = np.bincount(ds.labels, minlength=7), np.bincount(full.labels, minlength=7)
        assert np.all(np.abs(counts - whole * len(ds) / len(full)) <= 1)  # stratified: each class its share
        rows = full.rows_of(ds)
        np.testing.assert_array_equal(full.labels[rows], ds.labels)
    np.testing.assert_array_equal(targets.argmax(1), train_ds.labels)


@pytest.mark.parametrize("net, message", [
    ("stages = [8, 16]\nconvs_per_stage = [1]", "[net] stages and convs_per_stage must have the same length"),
    ("stages = [8, 16, 32, 64, 128, 256]\nconvs_per_stage = [1, 1, 1, 1, 1, 1]", "[net] 6 stages halve input_size 48 to nothing"),
    ("dropout = 1.0", "[net] dropout must be at least 0 and below 1"),
    ("input_size = 32", "[net] input_size 32 is below the 48x48 faces"),
    ("stages = [8, 0]\nconvs_per_stage = [1, 1]", "[net] stages must be one or more filter counts"),
])
def test_an_invalid_net_section_is_refused_as_the_config_is_read(net, message, fer_csv, tmp_path):
    """It was refused by EmotionVGG after the data had loaded: exit 1, the config file unnamed, and an empty run
    folder left behind."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    toml = tmp_path / "bad_net.toml"
    toml.write_text(f'data = "{fer_csv.as_posix()}"\nepochs = 1\n[net]\n{net}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--config", str(toml), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert f"error: {toml}: {message}" in result.output and "training on" not in result.output
    assert not (tmp_path / "run").exists()


def test_an_existing_file_given_as_the_run_folder_is_named_as_a_file(fer_csv, tmp_path):
    """`fervid train --out runs/x/best.pt` said only "[Errno 17] File exists"."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"weights")
    for out, named in ((checkpoint, checkpoint), (checkpoint / "run", checkpoint)):
        result = CliRunner().invoke(app, ["train", "--data", str(fer_csv), "--out", str(out)])
        assert result.exit_code == 2 and f"error: {named}: is a file, not a run folder" in result.output, result.output
        assert "Errno" not in result.output and "training on" not in result.output
    assert checkpoint.read_bytes() == b"weights"


def test_a_validation_folder_sharing_images_with_the_training_folder_is_warned_of(tmp_path):
    """val_data holding copies of training images (a folder inside data, or files copied across) trained and chose
    the epoch on faces the run learnt, without a word."""
    import shutil

    from PIL import Image

    from conftest import synthetic_faces
    from fervid.evaluation.datasets import load_image_folder
    from fervid.training.train import folder_notices

    images, labels = synthetic_faces(20, seed=2)
    for name, part in (("train", slice(0, 14)), ("val", slice(14, 20))):
        for i, (image, label) in zip(range(part.start, part.stop), zip(images[part], labels[part])):
            (tmp_path / name / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(tmp_path / name / EMOTIONS[label] / f"{i}.png")
    cfg = TrainConfig(data=str(tmp_path / "train"), val_data=str(tmp_path / "val"), data_kind="folder")
    clean = folder_notices(cfg, load_image_folder(tmp_path / "train"), load_image_folder(tmp_path / "val"))
    assert not any("also training images" in note for note in clean)
    copied = next((tmp_path / "train").rglob("*.png"))
    shutil.copy(copied, tmp_path / "val" / copied.parent.name / "copy_of_a_training_face.png")
    notes = folder_notices(cfg, load_image_folder(tmp_path / "train"), load_image_folder(tmp_path / "val"))
    assert any(note.startswith("warning: 1 of 7 validation image(s)") for note in notes), notes


def test_folder_notices_count_images_name_the_side_left_out_of_and_spot_photos(tmp_path, astronaut_rgb):
    """A folder (contempt) left out of a split folder was said as "validation file(s) left out", though out of
    training too, and counted as one "file or folder" whatever it held; a folder of whole photos was taught as
    faces without a word."""
    from PIL import Image

    from conftest import synthetic_faces
    from fervid.evaluation.datasets import load_image_folder
    from fervid.training.train import folder_notices

    images, _ = synthetic_faces(8)
    for folder, names in (("train/happy", range(4)), ("train/contempt", range(4, 7)), ("val/sad", range(7, 8))):
        (tmp_path / folder).mkdir(parents=True)
        for i in names:
            Image.fromarray(images[i]).save(tmp_path / folder / f"{i}.png")
    train_dir, val_dir = tmp_path / "train", tmp_path / "val"
    split = TrainConfig(data=str(train_dir), data_kind="folder")
    faces = load_image_folder(train_dir)
    notes = folder_notices(split, faces.subset([0, 1, 2]), faces.subset([3]), listed_in="run/left_out.csv")
    assert any(note.startswith(f"notice: 3 image(s) in {train_dir} left out of training and the held-out faces alike "
                               "(each listed in run/left_out.csv):\n  3 x ") for note in notes), notes
    assert not any("validation" in note for note in notes) and not any("px" in note for note in notes)
    for i in range(3):
        Image.fromarray(astronaut_rgb).save(val_dir / "sad" / f"photo{i}.jpg")
    apart = TrainConfig(data=str(train_dir), val_data=str(val_dir), data_kind="folder")
    notes = folder_notices(apart, faces, load_image_folder(val_dir))
    assert any(note.startswith(f"notice: 3 image(s) in {train_dir} left out of training (each listed in "
                               "left_out.csv):\n  3 x ") and str(train_dir / "contempt") in note for note in notes), notes
    photos = [note for note in notes if "px" in note]
    assert len(photos) == 1 and photos[0].startswith(f"notice: the images in {val_dir} are about 512 px, more "
                                                     "likely photos than face crops")
    assert "`fervid image PHOTOS --crops CROPS` writes each face's aligned 48x48 crop" in photos[0]


def test_a_fer2013_run_chooses_its_epoch_on_the_val_data_folder_it_is_given(fer_csv, tmp_path):
    """`data` the FER2013 CSV and `val_data` a researcher's own folder: val_data was ignored without a word, and the
    epoch chosen on PublicTest. Her faces now choose it (what she asked for), said as such."""
    from PIL import Image

    from conftest import synthetic_faces
    from fervid.evaluation.evaluate import selection_faces
    from fervid.training.train import folder_notices, training_data

    images, labels = synthetic_faces(30, seed=7)
    mine = tmp_path / "own_test"
    for i, (image, label) in enumerate(zip(images, labels)):
        (mine / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(mine / EMOTIONS[label] / f"{i}.png")
    (mine / "Scared").mkdir()
    Image.fromarray(images[0]).save(mine / "Scared" / "x.png")
    cfg = tiny_config(fer_csv, epochs=1, val_data=str(mine))
    train_ds, _, val_ds = training_data(cfg)
    assert len(train_ds) == 600 and val_ds.sources == load_image_folder_sources(mine)
    run = train(cfg, tmp_path / "run", progress=False)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["val_rows"] == 30 and summary["train_rows"] == 600
    assert selection_faces(cfg.to_dict()) == f"{mine} (their folders' labels)"
    notes = folder_notices(cfg, train_ds, val_ds)
    assert any(note.startswith(f"notice: 1 image(s) in {mine} left out of validation") for note in notes), notes
    # FER+'s votes are for the CSV's faces: asked to select on them and on a folder at once, it says which is which
    with pytest.raises(ValueError, match=r"val_labels 'ferplus': val_data's faces .* have one label each"):
        tiny_config(fer_csv, val_data=str(mine), val_labels="ferplus", labels="ferplus", ferplus_csv="x.csv")


def test_a_list_of_data_sources_is_told_the_fine_tuning_route(fer_csv, tmp_path):
    """`data = [fer2013.csv, "own_train"]` (FER2013 plus her faces) was told only "input should be a valid string"."""
    with pytest.raises(ValueError, match=r"data: one FER2013 CSV, folder or label table, not a list .*init_from = "
                                         r"\"ferplus_vgg\""):
        TrainConfig.from_dict({"data": [str(fer_csv), str(tmp_path)]})


def load_image_folder_sources(folder):
    from fervid.evaluation.datasets import load_image_folder

    return load_image_folder(folder).sources


def test_training_on_a_label_table_as_on_a_folder(tmp_path):
    """A researcher's path,label table trains as her folders do (it was read as a FER2013 CSV and refused)."""
    from PIL import Image
    from typer.testing import CliRunner

    from conftest import synthetic_faces
    from fervid.apps.cli import app

    images, labels = synthetic_faces(80, seed=3)
    (tmp_path / "img").mkdir()
    lines = ["path,label"]
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(tmp_path / "img" / f"{i}.png")
        lines.append(f"img/{i}.png,{EMOTIONS[label].title()}")
    (tmp_path / "labels.csv").write_text("\n".join([*lines, "img/gone.png,happy"]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "labels.csv"), "--epochs", "1", "--out",
                                      str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert config["data_kind"] == "folder"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    assert summary["train_rows"] + summary["val_rows"] == 80
    assert f"1 x no such file: {tmp_path / 'img' / 'gone.png'} (labels.csv line 82)" in result.output
    assert "held out (the table's labels)" in result.output


def test_a_label_table_naming_each_faces_person_holds_out_whole_people(tmp_path):
    """`fervid train` on a path,label,subject table drew its validation share face by face: on CK+48, all 72
    validation people were in training too (127 of 128 validation sequences had sibling frames there), and the
    epoch was chosen on faces of people it trained on. The share is now drawn by person, as the summary and the
    printed line say."""
    from PIL import Image
    from typer.testing import CliRunner

    from conftest import synthetic_faces
    from fervid.apps.cli import app
    from fervid.evaluation.datasets import DatasetError
    from fervid.evaluation.evaluate import selection_faces
    from fervid.training.train import folder_notices, folder_split, held_out_by

    images, labels = synthetic_faces(120, seed=5)
    (tmp_path / "img").mkdir()
    lines = ["path,label,subject"]
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(tmp_path / "img" / f"{i}.png")
        lines.append(f"img/{i}.png,{EMOTIONS[label]},P{i % 15}")  # 15 people, 8 faces each
    table = tmp_path / "labels.csv"
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for seed in range(4):
        cfg = TrainConfig(data=str(table), data_kind="folder", seed=seed)
        train_ds, val_ds = folder_split(cfg)
        assert not set(train_ds.subjects) & set(val_ds.subjects)
        assert len(train_ds) + len(val_ds) == 120 and 16 <= len(val_ds) <= 32  # about val_fraction 0.2 of them
        assert held_out_by(cfg, train_ds, val_ds) == {"held_out_by": "subject", "training_subjects": 15 - len(
            set(val_ds.subjects)), "validation_subjects": len(set(val_ds.subjects))}
    assert any("held out by the table's subject column: no one is on both sides" in note
               for note in folder_notices(cfg, train_ds, val_ds))
    result = CliRunner().invoke(app, ["train", "--data", str(table), "--epochs", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    assert summary["held_out_by"] == "subject" and summary["training_subjects"] + summary["validation_subjects"] == 15
    people = summary["validation_subjects"]
    said = f"{people} of the 15 people in {table} held out (by person: no one on both sides)"
    assert said in selection_faces(json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8")), summary)
    assert f"best accuracy on {said}" in result.output
    # the model card says so, and does not call the selection "optimistic, by much where one person's faces are on
    # both sides"
    from fervid.evaluation.datasets import load_image_folder

    model_dir = export_onnx(tmp_path / "run", tmp_path / "model", name="by_person")
    write_model_card(model_dir, evaluate(EmotionCNN(model_dir), load_image_folder(table)), command="", data="x")
    card_text = (model_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"(best on {said}" in card_text and "by much where one person" not in card_text
    # one person's faces: no one else to hold out
    (tmp_path / "one.csv").write_text("path,label,subject\n" + "".join(f"img/{i}.png,{EMOTIONS[labels[i]]},P1\n"
                                                                         for i in range(10)), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"one.csv: every face is of one person \(P1\).*give val_data"):
        folder_split(TrainConfig(data=str(tmp_path / "one.csv"), data_kind="folder"))


def test_a_last_batch_of_one_face_is_left_out_of_its_epoch_and_too_few_faces_are_refused(fer_csv, tmp_path):
    """129 training faces at batch_size 128 (or an averaged network's BatchNorm statistics over 257 faces in batches
    of 256) ended in torch's "Expected more than 1 value per channel when training" after the run folder was
    made; a folder of 2 faces (one held out) likewise."""
    from PIL import Image
    from typer.testing import CliRunner

    from conftest import synthetic_faces
    from fervid.apps.cli import app
    from fervid.training.train import training_steps_per_epoch

    assert [training_steps_per_epoch(n, 128) for n in (128, 129, 130, 1, 2)] == [1, 1, 2, 0, 1]
    assert training_steps_per_epoch(131, 128, world=2) == 1 and training_steps_per_epoch(132, 128, world=2) == 2
    run = train(tiny_config(fer_csv, limit_train=257, batch_size=128, epochs=2, ema_decay=0.9), tmp_path / "run",
                progress=False)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    with pytest.raises(ValueError, match="batch_size must be 2 or more"):
        tiny_config(fer_csv, batch_size=1)

    images, labels = synthetic_faces(2, seed=3)
    faces = tmp_path / "two"
    for i, (image, label) in enumerate(zip(images, labels)):
        (faces / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(faces / EMOTIONS[label] / f"{i}.png")
    out = tmp_path / "runs" / "two"
    result = CliRunner().invoke(app, ["train", "--data", str(faces), "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert (f"error: {faces}: 1 training face(s) (1 held out to choose the epoch on); training needs at least 2"
            in result.output), result.output
    assert "training on" not in result.output and not out.exists()


def test_a_bad_init_from_is_refused_as_the_configs_mistake_before_the_data_is_loaded(fer_csv, tmp_path):
    """init_from = "ferplus_vg" (a typo) or a run folder ended in a ModelNotFound traceback after the data had
    loaded, and a network of another shape was refused only then: each left an empty run folder."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    run = tmp_path / "A1"
    run.mkdir()
    (run / "last.pt").write_bytes(b"")  # what makes a folder a run's: the checkpoints in it
    head = f'data = "{fer_csv.as_posix()}"\nepochs = 1\nbatch_size = 32\n'
    tiny_net = "[net]\nstages = [8, 16]\nconvs_per_stage = [1, 1]\n"
    for init_from, message in (
            ("ferplus_vg", "init_from: model 'ferplus_vg' not found: not a folder, and not one of the shipped models"),
            (run.as_posix(), f"init_from: {run.as_posix()} is a training run's folder, not a model; give one of its "
                             f"checkpoints ({run / 'best.pt'} or {run / 'last.pt'})"),
            ((tmp_path / "none.pt").as_posix(), f"init_from: {tmp_path / 'none.pt'}: no checkpoint file"),
            ("ferplus_vgg", "init_from: ferplus_vgg: its network shape differs from this config's [net] "
                            "(stages [32, 64, 128, 256] here [8, 16]")):
        toml = tmp_path / "ft.toml"
        toml.write_text(f'{head}init_from = "{init_from}"\n{tiny_net}', encoding="utf-8")
        out = tmp_path / "runs" / "ft"
        result = CliRunner().invoke(app, ["train", "--config", str(toml), "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
        assert result.output.startswith(f"error: {toml}: {message}"), result.output
        assert "training on" not in result.output and not (tmp_path / "runs").exists()


def test_a_bad_command_line_value_is_blamed_on_its_option_not_on_the_config(tmp_path, monkeypatch):
    """`--labels fer2031` with a folder was told "tiny.toml: a folder's faces have one label each ... the FER+
    schemes need FER+'s votes", and `--data trainAA` (no config) "trainAA: no such file (relative paths in a config
    are read from ...)", exit 1."""
    from PIL import Image
    from typer.testing import CliRunner

    from conftest import synthetic_faces
    from fervid.apps.cli import app

    monkeypatch.chdir(tmp_path)
    images, labels = synthetic_faces(4, seed=1)
    for i, (image, label) in enumerate(zip(images, labels)):
        (tmp_path / "trainA" / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "trainA" / EMOTIONS[label] / f"{i}.png")
    toml = tmp_path / "tiny.toml"
    toml.write_text("epochs = 1\n", encoding="utf-8")
    runner = CliRunner()
    unknown = runner.invoke(app, ["train", "--data", "trainA", "--config", str(toml), "--labels", "fer2031"])
    assert unknown.exit_code == 2, unknown.output
    assert unknown.output.strip() == ("error: --labels must be one of fer2013, ferplus, ferplus-soft, ferplus-multi, "
                                      "not 'fer2031'")
    votes = runner.invoke(app, ["train", "--data", "trainA", "--config", str(toml), "--labels", "ferplus"])
    assert votes.exit_code == 2 and votes.output.startswith("error: --labels 'ferplus': a folder's faces have one "
                                                            "label each"), votes.output
    toml.write_text('epochs = 1\nlabels = "ferplus"\n', encoding="utf-8")  # the config's own value: the config's
    in_config = runner.invoke(app, ["train", "--data", "trainA", "--config", str(toml)])
    assert in_config.exit_code == 2 and in_config.output.startswith(f"error: {toml}: labels 'ferplus': a folder's"), \
        in_config.output
    for flag, value in (("--data", "trainAA"), ("--ferplus", "votes.csv")):
        # (--data once: given twice, it is refused as repeated before the paths are looked at)
        given = {"--data": "trainA", flag: value}
        missing = runner.invoke(app, ["train", "--epochs", "1", *(part for item in given.items() for part in item)])
        assert missing.exit_code == 2, missing.output
        assert missing.output.strip() == f"error: {flag} {value}: no such file or folder"
    assert not (tmp_path / "runs").exists()


def test_resume_refuses_a_run_whose_data_files_changed_naming_what_changed(tmp_path):
    """Files added to a folder between an interruption and --resume redrew its 20% hold-out without a word: faces
    validated on were trained on, and best.pt's score from before competed with scores on other faces."""
    from PIL import Image
    from typer.testing import CliRunner

    from conftest import synthetic_faces
    from fervid.apps.cli import app

    images, labels = synthetic_faces(41, seed=4)
    faces = tmp_path / "faces"
    for i, (image, label) in enumerate(zip(images[:40], labels[:40])):
        (faces / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(faces / EMOTIONS[label] / f"{i:02d}.png")
    run = tmp_path / "run"
    train(tiny_config(faces, epochs=2, batch_size=16), run, progress=False, stop_after=1)
    added = faces / EMOTIONS[labels[40]] / "40.png"
    Image.fromarray(images[40]).save(added)
    result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {run}: the run's data changed since it started ({faces}: 1 file(s) "
                                    f"added, 0 removed, 0 changed (e.g. {EMOTIONS[labels[40]]}/40.png, added))"), \
        result.output
    assert "training on" not in result.output
    added.unlink()
    edited = faces / EMOTIONS[labels[0]] / "00.png"
    Image.fromarray(255 - images[0]).save(edited)  # the same name, another face
    result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume"])
    assert result.exit_code == 2 and "0 file(s) added, 0 removed, 1 changed" in result.output, result.output
    Image.fromarray(images[0]).save(edited)  # as it was (its time is newer: contents are compared)
    result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_train_says_every_reason_a_folder_left_out_and_lists_every_file_in_the_run(tmp_path):
    """Its notice listed the first 3 files left out (corrupt ones) and "...", hiding the folders not named for an
    emotion (contempt, boredom) and the nested ones; nothing recorded what a run had not learnt from."""
    import csv

    from PIL import Image
    from typer.testing import CliRunner

    from conftest import synthetic_faces
    from fervid.apps.cli import app

    images, labels = synthetic_faces(40, seed=8)
    faces = tmp_path / "faces"
    for i, (image, label) in enumerate(zip(images, labels)):
        (faces / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(faces / EMOTIONS[label] / f"{i:02d}.png")
    for i, name in enumerate(("a_broken.png", "b_broken.png", "c_broken.png", "d_broken.png")):  # sorted first
        (faces / EMOTIONS[labels[i]] / name).write_bytes(b"not a png")
    for folder, count in (("contempt", 3), ("boredom", 2), (f"{EMOTIONS[labels[0]]}/nested", 2)):
        (faces / folder).mkdir()
        for i in range(count):
            Image.fromarray(images[i]).save(faces / folder / f"{i}.png")
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(faces), "--epochs", "1", "--out", str(run)])
    assert result.exit_code == 0, result.output
    notice = result.output.split(f"notice: 11 image(s) in {faces} left out of training and the held-out faces "
                                 f"alike (each listed in {run / 'left_out.csv'}):\n")[1].split("notice:")[0]
    for said in (f"  5 x in a folder whose name is {NOT_AN_EMOTION}: {faces / 'boredom'} ('boredom'), "
                 f"{faces / 'contempt'} ('contempt')",
                 f"  2 x in a folder inside the emotion folder {EMOTIONS[labels[0]]}: only images directly in it are "
                 f"read: {faces / EMOTIONS[labels[0]] / 'nested'}"):
        assert said in notice, notice
    assert "  4 x cannot read image (" in notice and "(4 in all)" in notice and "..." not in notice
    with open(run / "left_out.csv", encoding="utf-8", newline="") as fh:
        rows = {row["path"]: row for row in csv.DictReader(fh)}
    assert len(rows) == 7 and rows[str(faces / "contempt")]["images"] == "3"
    assert rows[str(faces / EMOTIONS[labels[3]] / "d_broken.png")]["reason"].startswith("cannot read image")


def test_a_runs_files_are_recorded_by_plain_absolute_paths(fer_csv, tmp_path, monkeypatch):
    """A run started from a sibling folder (`--data ../data/fer.csv`) recorded /.../cwd/../data/fer.csv in its
    config and, through it, in the model card."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    relative = os.path.relpath(fer_csv)
    assert ".." in relative
    recorded = TrainConfig(data=relative).with_absolute_paths().data
    assert recorded == str(fer_csv.resolve()) and ".." not in recorded


def test_train_quiet_prints_no_bar_epochs_or_summary_but_its_notices(tmp_path):
    """`fervid train -q` (as image, video and batch take it) was an unknown option: a scheduled run's log held a
    bar and a line per epoch. Quiet, what the data's choice of epoch is worth is still said, on stderr."""
    from PIL import Image
    from typer.testing import CliRunner

    from conftest import synthetic_faces
    from fervid.apps.cli import app

    faces = tmp_path / "my_faces"
    for i, (image, label) in enumerate(zip(*synthetic_faces(60, seed=5))):
        (faces / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(faces / EMOTIONS[label] / f"{i:04d}.png")
    toml = tmp_path / "tiny.toml"
    toml.write_text("epochs = 1\nbatch_size = 16\nthreads = 1\nbf16 = false\n[net]\nstages = [8, 16]\n"
                    "convs_per_stage = [1, 1]\n", encoding="utf-8")
    runner = CliRunner()
    quiet = runner.invoke(app, ["train", "--config", str(toml), "--data", str(faces), "--out", str(tmp_path / "q"),
                                "-q"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == "" and (tmp_path / "q" / "best.pt").is_file()
    assert quiet.stderr.startswith("notice: the best epoch is chosen on 20% of"), quiet.stderr
    assert "epoch 1" not in quiet.stderr and "training on" not in quiet.stderr
    loud = runner.invoke(app, ["train", "--config", str(toml), "--data", str(faces), "--out", str(tmp_path / "l")])
    assert loud.exit_code == 0 and "epoch 1: train loss" in loud.stdout and "best accuracy on" in loud.stdout
    again = runner.invoke(app, ["train", "--config", str(toml), "--data", str(faces), "--out", str(tmp_path / "q"),
                                "--resume", "--quiet"])  # a finished run: said, on stderr
    assert again.exit_code == 0 and again.stdout == "" and "nothing to resume" in again.stderr, again.output


def test_the_card_gives_the_commands_train_recorded_the_run_and_its_resume_in_order(fer_csv, tmp_path, monkeypatch):
    """The card's command was whatever `evaluate --write-card --command` was given (export suggested pasting
    '<the training command>', placeholder and all); an interrupted and resumed run is two commands."""
    import shlex

    from typer.testing import CliRunner

    import fervid.training.train as training
    from fervid.apps.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(f'data = "{fer_csv.as_posix()}"\nepochs = 2\nbatch_size = 32\nthreads = 1\n'
                                        "[net]\nstages = [8, 16]\nconvs_per_stage = [1, 1]\n", encoding="utf-8")
    plot = training.plot_learning_curves
    plotted = []

    def stopped_in_epoch_2(*args, **kwargs):  # Ctrl-C after epoch 1's checkpoint, before epoch 2's
        plotted.append(1)
        if len(plotted) == 2:
            raise KeyboardInterrupt
        plot(*args, **kwargs)

    monkeypatch.setattr(training, "plot_learning_curves", stopped_in_epoch_2)
    start = ["train", "--config", "tiny.toml", "--out", "runs/my run", "-q"]
    stopped = CliRunner().invoke(app, start)
    assert stopped.exit_code == 130, stopped.output
    monkeypatch.setattr(training, "plot_learning_curves", plot)
    resume = ["train", "--out", "my run", "--resume"]
    monkeypatch.chdir(tmp_path / "runs")  # resumed from another folder: its relative paths are read from there
    assert CliRunner().invoke(app, resume).exit_code == 0
    monkeypatch.chdir(tmp_path)
    records = [json.loads(line) for line in (tmp_path / "runs/my run/commands.jsonl").read_text().splitlines()]
    # each as typed (a path with a space quoted, as a shell takes it), when, and whether it went on from a checkpoint
    assert [r["command"] for r in records] == [shlex.join(["fervid", *start]), shlex.join(["fervid", *resume])]
    assert records[0]["command"] == "fervid train --config tiny.toml --out 'runs/my run' -q"
    assert [(r["resumed"], r["epochs_done"]) for r in records] == [(False, 0), (True, 1)]
    assert all(r["time"][:4].isdigit() and "T" in r["time"] for r in records)
    # and where each was typed: "--out 'my run'" meant nothing read from another folder (or machine)
    assert [r["directory"] for r in records] == [str(tmp_path), str(tmp_path / "runs")]

    exported = CliRunner().invoke(app, ["export", "runs/my run", "--out", "model", "--no-int8"])
    assert exported.exit_code == 0, exported.output
    assert "--write-card" in exported.output and "--command" not in exported.output  # no placeholder to paste
    assert (tmp_path / "model/training_commands.jsonl").read_text() == \
        (tmp_path / "runs/my run/commands.jsonl").read_text()

    written = CliRunner().invoke(app, ["evaluate", "--model", "model", "--data", str(fer_csv), "--write-card"])
    assert written.exit_code == 0, written.output
    card = json.loads((tmp_path / "model/card.json").read_text())
    assert card["training"]["command"] == records[0]["command"] and card["training"]["commands"] == records
    lines = (tmp_path / "model/MODEL_CARD.md").read_text().split("## Training\n", 1)[1].splitlines()
    assert lines[:2] == [f"- Command: `{records[0]['command']}` (run in `{tmp_path}`, recorded by `fervid train`, "
                         f"{records[0]['time']})",
                         f"- Resumed after epoch 1: `{records[1]['command']}` (run in `{tmp_path / 'runs'}`, "
                         f"{records[1]['time']})"]
    assert "notice: --command" not in written.stderr

    # a --command that is not what ran: the card gives it as given, the recorded ones below it, and says so
    given = "fervid train --config other.toml"
    written = CliRunner().invoke(app, ["evaluate", "--model", "model", "--data", str(fer_csv), "--write-card",
                                       "--command", given])
    assert written.exit_code == 0, written.output
    assert (f"notice: --command is not the command `fervid train` recorded for this model ({records[0]['command']}, "
            f"resumed 1 time; {Path('model') / 'training_commands.jsonl'})") in written.stderr
    card = json.loads((tmp_path / "model/card.json").read_text())
    assert card["training"]["command"] == given and card["training"]["commands"] == records
    lines = (tmp_path / "model/MODEL_CARD.md").read_text().split("## Training\n", 1)[1].splitlines()
    assert lines[:3] == [f"- Command: `{given}` (as given to `fervid evaluate --write-card --command`; `fervid train` "
                         "recorded another, below)",
                         f"- Recorded by `fervid train`: `{records[0]['command']}` (run in `{tmp_path}`, "
                         f"{records[0]['time']})",
                         f"- Resumed after epoch 1: `{records[1]['command']}` (run in `{tmp_path / 'runs'}`, "
                         f"{records[1]['time']})"]
    # one of the recorded commands given: nothing to say, and the card is the recorded run's
    written = CliRunner().invoke(app, ["evaluate", "--model", "model", "--data", str(fer_csv), "--write-card",
                                       "--command", records[1]["command"]])
    assert written.exit_code == 0 and "notice: --command" not in written.stderr
    assert json.loads((tmp_path / "model/card.json").read_text())["training"]["command"] == records[0]["command"]


def test_a_fine_tuned_or_distilled_models_card_says_what_its_starting_weights_and_teachers_learnt_from(fer_csv,
                                                                                                     tmp_path):
    """A model fine-tuned on a folder from a FER2013-trained one (init_from = "ferplus_vgg") had a card whose "Data
    and consent" named only the folder: not that its weights began as the other's, learnt from FER2013's faces
    (taken without consent) and under no stated terms, and without the "Terms" line FER2013-trained cards carry."""
    from PIL import Image

    from conftest import synthetic_faces
    from fervid.evaluation.evaluate import FER2013_SOURCE, data_and_consent
    from fervid.inference.catalog import FER2013_WEIGHTS_TERMS

    start_run = train(tiny_config(fer_csv, epochs=1), tmp_path / "start_run", progress=False)
    start = export_onnx(start_run, tmp_path / "start", name="start")
    write_model_card(start, evaluate(EmotionCNN(start), load_fer2013(fer_csv, "PublicTest")), command="", data="x")
    faces = tmp_path / "my_faces"
    for i, (image, label) in enumerate(zip(*synthetic_faces(120, seed=5))):
        (faces / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(faces / EMOTIONS[label] / f"{i:04d}.png")
    tuned_run = train(tiny_config(faces, epochs=1, init_from=str(start)), tmp_path / "tuned_run", progress=False)
    tuned = export_onnx(tuned_run, tmp_path / "tuned", name="tuned")
    card = write_model_card(tuned, evaluate(EmotionCNN(tuned), load_fer2013(fer_csv, "PublicTest")), command="",
                            data="y")
    consent = card["data_and_consent"]
    assert consent[0].startswith(f"Faces: a folder of your own ({faces})")
    assert consent[1].startswith(f"Starting weights: `{start}` (init_from), whose learning these weights keep; its "
                                 "card says: Faces: FER2013 ") and FER2013_SOURCE in consent[1]
    assert "Labels: FER2013's own" in consent[1] and consent[-1] == FER2013_WEIGHTS_TERMS
    text = (tuned / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"- {FER2013_WEIGHTS_TERMS}\n" in text and f"started from the weights of `{start}`" in text
    # a shipped name's card, a teacher's run (its config.json beside the checkpoint), and what is not found
    shipped = data_and_consent({"data": str(faces), "data_kind": "folder", "init_from": "ferplus_vgg"})
    assert "`ferplus_vgg` (init_from)" in shipped[1] and "Labels: FER+ (Barsoum et al. 2016)" in shipped[1]
    taught = data_and_consent({"data": str(faces), "data_kind": "folder", "teachers": [str(start_run / "best.pt")],
                               "init_from": str(tmp_path / "gone" / "best.pt")})
    assert [line.split(";")[0] for line in taught[1:3]] == [
        f"Starting weights: `{tmp_path / 'gone' / 'best.pt'}` (init_from), whose learning these weights keep",
        f"Teacher: `{start_run / 'best.pt'}` (distillation), whose answers these weights learnt to give"]
    assert taught[1].endswith("what it learnt from, and under what terms, is not recorded (its run's config.json, "
                              "beside the checkpoint, is not found here).")
    assert "its run's config.json says: Faces: FER2013 " in taught[2] and taught[-1] == FER2013_WEIGHTS_TERMS


def test_a_second_run_into_a_folder_a_run_trains_in_is_refused_before_it_reads_its_data(fer_csv, tmp_path,
                                                                                       monkeypatch):
    """Two `fervid train --out runs/x` at once both ran and exited 0, the folder a mix of the two (one's config.json,
    the other's best.pt, their epochs interleaved in metrics.jsonl): a run was refused as another only once the
    first had saved last.pt, after its data had loaded (20-30 s of FER2013) and its first epoch."""
    from typer.testing import CliRunner

    import fervid.training.train as training
    from fervid.apps.cli import app
    from fervid.folder_lock import FolderLock, FolderLocked

    run = tmp_path / "run"
    train(tiny_config(fer_csv, epochs=2), run, progress=False, stop_after=1)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert ".lock" not in before  # there only while a run trains
    read = []
    monkeypatch.setattr(training, "training_data", lambda *a, **k: read.append(a) or pytest.fail("data read"))
    with FolderLock(run, "a test's run", "none", removed=True):  # what a run training there holds
        for resume in ([], ["--resume"]):  # a new run (refused as one with no --resume), and a resume of the run
            result = CliRunner().invoke(app, ["train", "--data", str(fer_csv), "--out", str(run), "-q", *resume])
            assert result.exit_code == 75, result.output
            assert result.output.startswith(f"error: {run}: another fervid train run (pid {os.getpid()}, this "
                                            "process) is training in this folder; wait for it to finish"), result.output
        new = tmp_path / "new"  # a folder not there yet: the run that made it owns it
        with FolderLock(new, "a test's run", "none"), pytest.raises(FolderLocked, match="is training in this folder"):
            train(tiny_config(fer_csv), new, progress=False)
        assert [p.name for p in new.iterdir()] == [".lock"]  # the holder's folder is left to it
    assert not read and {p.name: p.read_bytes() for p in run.iterdir()} == before
    monkeypatch.undo()
    train(tiny_config(fer_csv, epochs=2), run, resume=True, progress=False)  # once it is done, the run resumes
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert not (run / ".lock").exists()
    with pytest.raises(FileNotFoundError):
        train(tiny_config(fer_csv), tmp_path / "refused", resume=True, progress=False)
    assert not (tmp_path / "refused").exists()  # a refused run leaves no folder of its own


def test_a_resume_with_other_settings_or_nothing_to_resume_is_the_command_lines_mistake(fer_csv, tmp_path,
                                                                                        monkeypatch):
    """`--resume --seed 3`, `--resume --epochs 8`, a config with another lr, and `--resume` of a folder with no
    checkpoint exited 1, as a failed input does, where README and --help give 2 for a wrong command line; a finished
    run's refusal said nothing of how to train it further."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    monkeypatch.chdir(tmp_path)
    stopped = Path("stopped")
    train(tiny_config(fer_csv, epochs=2), stopped, progress=False, stop_after=1)
    finished = train(tiny_config(fer_csv, epochs=1), Path("finished"), progress=False)
    other_lr = tmp_path / "other_lr.toml"
    other_lr.write_text(f'data = "{fer_csv.as_posix()}"\nepochs = 1\nbatch_size = 32\nlr = 0.01\nthreads = 1\n'
                        'max_rotation_deg = 0\nmax_shift_px = 0\nerase_prob = 0\nhflip = false\n'
                        '[net]\nstages = [8, 16]\nconvs_per_stage = [1, 1]\nfeature_dim = 512\ndropout = 0.1\n',
                        encoding="utf-8")
    for run, args, differs in ((stopped, ["--seed", "3"], "seed (0 -> 3)"), (finished, ["--seed", "3"], "seed (0 -> 3)"),
                               (finished, ["--epochs", "8"], "epochs (1 -> 8)"),
                               (finished, ["--config", str(other_lr)], "lr (0.05 -> 0.01)")):
        before = {p.name: p.read_bytes() for p in run.iterdir()}
        result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume", "-q", *args])
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"error: {run / 'config.json'}: --resume continues this run with its own "
                                        f"config, and this one differs in {differs}"), result.output
        hint = f'to train it further, start a new run from its weights: init_from = "{run / "last.pt"}" in a config'
        assert (hint in result.output) == (run == finished), result.output
        assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    result = CliRunner().invoke(app, ["train", "--out", str(finished), "--resume", "-q"])  # its own settings
    assert result.exit_code == 0 and "already trained all 1 epoch; nothing to resume; " + hint in result.output
    result = CliRunner().invoke(app, ["train", "--data", str(fer_csv), "--out", "empty", "--resume", "-q"])
    assert result.exit_code == 2 and result.output.startswith(f"error: {Path('empty', 'last.pt')}: nothing to resume "
                                                              "from"), result.output
    assert not Path("empty").exists()
    # the hint trains on: a new run from the finished run's weights
    further = tmp_path / "further.toml"
    further.write_text(other_lr.read_text(encoding="utf-8").replace("lr = 0.01", 'init_from = "finished/last.pt"'),
                       encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--config", str(further), "--out", "further", "-q"])
    assert result.exit_code == 0 and Path("further", "last.pt").is_file(), result.output


def test_exporting_an_unfinished_run_says_how_far_it_got_and_how_to_finish_it(fer_csv, tmp_path):
    """An interrupted run (2 of 6 epochs) exported with exit 0 and no word that its schedule had not ended."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    run = train(tiny_config(fer_csv, epochs=3), tmp_path / "run", progress=False, stop_after=2)
    best_epoch = torch.load(run / "best.pt", weights_only=False)["epoch"]
    for args, checkpoint, epoch in (([str(run)], "best.pt", best_epoch), ([str(run / "last.pt"), "-q"], "last.pt", 2)):
        result = CliRunner().invoke(app, ["export", *args, "--out", str(tmp_path / checkpoint), "--no-int8"])
        assert result.exit_code == 0, result.output
        assert result.stderr == (f"notice: {run}: the run stopped after 2 of 3 epochs (interrupted?): exported its "
                                 f"{checkpoint} of epoch {epoch}; `fervid train --resume --out {run}` finishes it\n")
    train(tiny_config(fer_csv, epochs=3), run, resume=True, progress=False)  # finished: nothing to say
    result = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / "done"), "--no-int8", "-q"])
    assert result.exit_code == 0 and result.output == "", result.output
