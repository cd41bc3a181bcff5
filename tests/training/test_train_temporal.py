import numpy as np
import pytest

pytest.importorskip("torch")

from fervid.inference.models import ModelError, available_models  # noqa: E402
from fervid.inference.temporal import (LSTMTemporal, MovingAverage, PerFrame, flicker_per_second,  # noqa: E402
                             make_method, shipped_temporal_models)
from fervid.training.train_temporal import TemporalTrainConfig, train_temporal  # noqa: E402

from conftest import synthetic_faces, write_fer2013_csv, write_ferplus_votes  # noqa: E402


def test_flicker_counts_label_changes_per_second():
    assert flicker_per_second(np.array([1, 1, 2, 2, 1, 1]), fps=3) == pytest.approx(2 / 2)
    assert flicker_per_second(np.array([3] * 30), fps=30) == 0


def write_ckplus_folder(root, subjects: int = 10, seed: int = 0):
    """A CK+48-format folder (class/S<subject>_<sequence>_<frame>.png): each person shows three expressions."""
    from PIL import Image

    folders = ["anger", "disgust", "fear", "happy", "sadness", "surprise"]
    images, _ = synthetic_faces(subjects * 3, seed)
    for s in range(subjects):
        for k in range(3):
            cls = folders[(s + 2 * k) % len(folders)]
            (root / cls).mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[3 * s + k]).save(root / cls / f"S{s + 1:03d}_{k + 1:03d}_00000001.png")
    return root


def test_tiny_temporal_training_learns_from_people_and_stills_and_exports_a_working_model(tmp_path):
    import json

    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 120, "PublicTest": 40})
    ck = write_ckplus_folder(tmp_path / "ck")
    cfg = TemporalTrainConfig(fer2013=str(csv), ckplus=str(ck), still_clips=40, person_clips=3, heldout_clips=2,
                              frames=7, epochs=2, cnn="fer2013_vgg")  # FER2013's labels: the CNN that learnt them
    report = train_temporal(cfg, tmp_path / "lstm", progress=False)
    assert report["people"] == {"train": 6, "val": 2, "test": 2}  # subject-disjoint sides
    config = json.loads((tmp_path / "lstm" / "config.json").read_text())
    sides = [set(config["people"][k]) for k in ("train", "val", "test")]
    assert all(not (a & b) for i, a in enumerate(sides) for b in sides[i + 1:])
    assert config["target"] == "centre" and config["temperature"] == pytest.approx(report["temperature"], abs=1e-4)
    assert config["cnn_graph"]["precision"] == "int8" and config["cnn_graph"]["file"] != "model.onnx"
    assert set(report["heldout"]) == {"people", "stills"}
    assert report["heldout"]["people"]["clips"] == 2 * 2 and report["heldout"]["stills"]["clips"] == 4
    assert report["heldout"]["stills"]["frames"] == 4 * 45 and report["notices"] == []  # nothing left out
    for held in report["heldout"].values():
        assert set(held) == {"clips", "frames", "centred", "causal"}
        assert set(held["centred"]) == {"frame", "mean", "lstm", "hmm"}
        # averaging over the window can only calm the labels the per-frame CNN gives
        assert held["centred"]["mean"]["flicker_per_s"] <= held["centred"]["frame"]["flicker_per_s"]
    lstm = LSTMTemporal(tmp_path / "lstm", cnn="fer2013_vgg")
    assert lstm.cnn == "fer2013_vgg" and lstm.temperature == config["temperature"]
    with pytest.raises(ModelError, match="trained on the features of CNN"):
        LSTMTemporal(tmp_path / "lstm", cnn="some_other_cnn")
    feats = np.random.default_rng(0).normal(size=(25, 512)).astype(np.float32)
    probs = np.full((25, 7), 1 / 7, np.float32)
    out = lstm(probs, feats, at=12)  # 25 frames: more than it was trained on, thinned to 7 around frame 12
    assert out.shape == (7,) and out.sum() == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(MovingAverage()(probs, feats), 1 / 7, rtol=1e-5)
    np.testing.assert_allclose(PerFrame()(probs, feats), probs[-1])


def test_the_lstm_window_puts_the_labelled_frame_in_the_middle():
    from fervid.inference.temporal import centred_window

    frames = np.arange(10, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(centred_window(frames, 4, 17)[:, 0], [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    np.testing.assert_array_equal(centred_window(frames[:9], 4, 17)[:, 0], np.arange(9))
    # a track's first frame, or a causal window's newest: the missing side repeats the edge frame
    np.testing.assert_array_equal(centred_window(frames[:4], 0, 17)[:, 0], [0, 0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(centred_window(frames[:4], 3, 17)[:, 0], [0, 1, 2, 3, 3, 3, 3])
    # one frame alone (a sparse --sample-fps): as short a window as the LSTM was trained on, the frame repeated
    np.testing.assert_array_equal(centred_window(frames[:1], 0, 17)[:, 0], [0, 0, 0])
    thinned = centred_window(np.arange(31, dtype=np.float32)[:, None], 15, 7)[:, 0]
    np.testing.assert_array_equal(thinned, [0, 5, 10, 15, 20, 25, 30])


def test_an_lstm_trained_to_label_the_last_frame_is_refused(tmp_path):
    import json
    import shutil

    from fervid.inference.models import PAPER_MODEL

    folder = tmp_path / "lstm"
    shutil.copytree(shipped_temporal_models()[PAPER_MODEL], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "target"}))
    with pytest.raises(ModelError, match="label its window's last frame"):
        LSTMTemporal(folder, cnn=PAPER_MODEL)


@pytest.mark.parametrize("cnn", available_models())
def test_every_shipped_cnn_has_a_temporal_lstm_trained_on_its_very_weights(cnn):
    from fervid.inference.models import EmotionCNN

    digest = EmotionCNN(cnn).weights_sha256
    lstm = make_method("lstm", cnn=cnn, cnn_weights_sha256=digest)
    assert lstm.cnn == cnn and lstm.folder == shipped_temporal_models()[cnn]
    assert lstm.config["cnn_weights_sha256"] == digest  # a CNN retrained under its name needs a new LSTM


@pytest.mark.parametrize("cnn", available_models())
def test_every_shipped_lstm_learnt_from_the_graph_its_cnn_runs_by_default(cnn):
    # re-quantizing the int8 graph (as the 7-bit weights did) leaves model.onnx, and so the weights' digest, alone
    # but shifts the features the video pipeline feeds the LSTM; the LSTM must be retrained on those (or was
    # measured on them, on the validation people, and kept because its retrains scored lower)
    from fervid.inference.models import EmotionCNN

    default = EmotionCNN(cnn)
    config = make_method("lstm", cnn=cnn).config
    graphs = [config["cnn_graph"]] + ([config["checked_on_graph"]] if "checked_on_graph" in config else [])
    assert default.graph_identity in [{k: g[k] for k in ("file", "precision", "sha256")} for g in graphs]


def test_an_lstm_trained_on_other_weights_of_the_same_cnn_is_refused(tmp_path):
    import json
    import shutil

    from fervid.inference.models import PAPER_MODEL, EmotionCNN
    from fervid.inference.temporal import LSTMTemporal

    folder = tmp_path / "lstm"
    shutil.copytree(shipped_temporal_models()[PAPER_MODEL], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "cnn_weights_sha256": "0" * 64}))
    with pytest.raises(ModelError, match="with weights 000000000000, but the CNN given has weights"):
        LSTMTemporal(folder, cnn=PAPER_MODEL, cnn_weights_sha256=EmotionCNN(PAPER_MODEL).weights_sha256)


def test_a_mismatched_cnn_and_lstm_pair_is_refused_naming_both():
    from fervid.inference.models import PAPER_MODEL
    from fervid.inference.temporal import LSTMTemporal

    paper_lstm = shipped_temporal_models()[PAPER_MODEL]
    other = next(m for m in available_models() if m != PAPER_MODEL)
    with pytest.raises(ModelError, match=f"trained on the features of CNN '{PAPER_MODEL}', not '{other}'"):
        LSTMTemporal(paper_lstm, cnn=other)
    with pytest.raises(ModelError, match="reads 512-d features, but CNN 'fer2013_vgg' gives 256-d"):
        LSTMTemporal(paper_lstm, cnn=PAPER_MODEL, feature_dim=256)


def test_temporal_stills_take_ferplus_majority_labels_when_given_the_votes(tmp_path):
    from fervid.evaluation.datasets import load_ferplus
    from fervid.training.train_temporal import stills

    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 120, "PublicTest": 40})
    votes = write_ferplus_votes(csv, tmp_path / "fer2013new.csv")
    plain = stills(TemporalTrainConfig(fer2013=str(csv)), "PublicTest")
    relabelled = stills(TemporalTrainConfig(fer2013=str(csv), ferplus=str(votes)), "PublicTest")
    assert len(plain) == 40 and len(relabelled) == 32  # FER+ left out the rows it dropped or called not-a-face
    np.testing.assert_array_equal(relabelled.labels, load_ferplus(csv, votes, "PublicTest").labels)


def test_cli_train_temporal_names_bad_inputs_and_leaves_no_folder(tmp_path):
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    runner = CliRunner()
    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 20, "PublicTest": 10})
    not_fer = tmp_path / "notes.csv"
    not_fer.write_text("a,b\n1,2\n", encoding="utf-8")
    out = tmp_path / "lstm"
    cases = [  # (arguments, exit code, message): a traceback used to end a bad data file's run, after its folder
        (["--fer2013", str(not_fer), "--cnn", "fer2013_vgg"], 1, f"{not_fer}: missing FER2013 column(s)"),
        (["--fer2013", str(csv), "--ckplus", str(tmp_path / "no_ck")], 2,
         f"--ckplus {tmp_path / 'no_ck'}: no such file or folder"),
        (["--fer2013", str(csv), "--cnn", "no_such_cnn"], 2, "model 'no_such_cnn' not found"),
        (["--fer2013", str(csv), "--frames", "8"], 2, "frames must be odd and at least 3"),
        (["--fer2013", str(csv), "--epochs", "0"], 2, "epochs must be positive, not 0"),
        (["--fer2013", str(csv), "--still-clips", "-5"], 2, "--still-clips must be 0 or more, not -5"),
        ([], 2, "--still-clips 3000 needs --data"),
        # no stills: the people's clips only, so FER2013 (or FER+'s votes) would be unused, yet recorded as used
        (["--fer2013", str(csv), "--still-clips", "0", "--ckplus", str(csv.parent)], 2,
         "--data is for the stills' clips, and --still-clips 0 makes none: leave it out"),
        (["--still-clips", "0"], 2, "--still-clips 0 leaves the LSTM the people's clips only: give --ckplus"),
    ]
    for args, code, message in cases:
        result = runner.invoke(app, ["train-temporal", *args, "--out", str(out)])
        assert result.exit_code == code and message in result.output, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
        assert not out.exists()
    # --out naming a CNN's folder or a training run replaced its config.json (and model) with the LSTM's
    cnn_folder, run_folder = tmp_path / "my_cnn", tmp_path / "run"
    cnn_folder.mkdir()
    (cnn_folder / "config.json").write_text('{"name": "my_cnn"}', encoding="utf-8")
    (cnn_folder / "model.onnx").write_bytes(b"weights")
    run_folder.mkdir()
    (run_folder / "metrics.jsonl").write_text("{}\n", encoding="utf-8")
    for folder, held in ((cnn_folder, "an emotion CNN"), (run_folder, "a training run")):
        before = {f.name: f.read_bytes() for f in folder.iterdir()}
        result = runner.invoke(app, ["train-temporal", "--fer2013", str(csv), "--cnn", "fer2013_vgg", "--out",
                                     str(folder)])
        assert result.exit_code == 2 and f"holds {held}" in result.output, result.output
        assert {f.name: f.read_bytes() for f in folder.iterdir()} == before


def test_the_lstm_trains_on_ckplus_and_jaffe_people_alone_as_the_published_design_did(tmp_path):
    """The published design trained its LSTM on JAFFE and CK+ only; train-temporal required --fer2013 and refused
    --still-clips 0 ("must be positive, not 0")."""
    import json

    from typer.testing import CliRunner

    from fervid.apps.cli import app

    ck = write_ckplus_folder(tmp_path / "ck")
    out = tmp_path / "lstm"
    result = CliRunner().invoke(app, ["train-temporal", "--ckplus", str(ck), "--cnn", "fer2013_vgg", "--still-clips",
                                      "0", "--person-clips", "2", "--heldout-clips", "1", "--frames", "3", "--epochs",
                                      "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "training.json").read_text(encoding="utf-8"))
    assert report["people"] == {"train": 6, "val": 2, "test": 2} and report["notices"] == []
    assert report["train_frames"] == 6 * 2 * 120  # 4 s clips at 30 fps, people's only
    assert set(report["heldout"]) == {"people"} and report["heldout"]["people"]["clips"] == 2
    assert report["temperature_choice"]["fitted"] is not None  # fitted on the validation people
    assert report["command"].startswith("fervid train-temporal --ckplus ") and "--data" not in report["command"]
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "- Clips: 2 per training person of CK+ (Lucey et al. 2010) (4 s each" in card
    assert "no FER2013 stills (`--still-clips 0`)" in card and "Stills:" not in card and "FER2013's faces" not in card
    assert "| people | centred |" in card and "| stills |" not in card
    assert LSTMTemporal(out, cnn="fer2013_vgg").cnn == "fer2013_vgg"
    # two people (both training): nothing held out, so no temperature is fitted, and that is said
    few = train_temporal(TemporalTrainConfig(ckplus=str(write_ckplus_folder(tmp_path / "ck2", subjects=2)),
                                             cnn="fer2013_vgg", still_clips=0, person_clips=1, frames=3, epochs=1),
                         tmp_path / "few", progress=False)
    assert few["temperature"] == 1.0 and few["temperature_choice"]["fitted"] is None and few["heldout"] == {}
    assert any("no stills either (still_clips 0), so no temperature is fitted" in n for n in few["notices"])
    assert "1.0, none fitted: no clips were held out" in (tmp_path / "few" / "MODEL_CARD.md").read_text(
        encoding="utf-8")
    with pytest.raises(ValueError, match="still_clips 0 leaves the LSTM people's clips only"):
        TemporalTrainConfig(still_clips=0)
    with pytest.raises(ValueError, match="fer2013 labels the stills' clips, and still_clips is 0"):
        TemporalTrainConfig(still_clips=0, ckplus=str(ck), fer2013="f.csv")


def test_jaffe_people_are_cropped_by_a_cnn_of_your_own(tmp_path, astronaut_rgb):

    """--jaffe with --cnn models/mine failed: the CNN was looked up by its name among the shipped ones."""
    import json
    import shutil

    from PIL import Image

    from fervid.inference.models import resolve_model_dir
    from fervid.training.train_temporal import lab_people

    mine = tmp_path / "models" / "mine"
    shutil.copytree(resolve_model_dir("fer2013_vgg"), mine)
    config = json.loads((mine / "config.json").read_text(encoding="utf-8"))
    (mine / "config.json").write_text(json.dumps({**config, "name": "mine"}), encoding="utf-8")
    jaffe = tmp_path / "jaffe"
    jaffe.mkdir()
    grey = Image.fromarray(astronaut_rgb).convert("L").resize((256, 256))
    for k, code in enumerate(["HA", "SU", "NE", "AN"]):
        grey.save(jaffe / f"P{'AB'[k // 2]}.{code}1.{k}.tiff")
    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 20, "PublicTest": 10})
    sides = lab_people(TemporalTrainConfig(fer2013=str(csv), jaffe=str(jaffe), cnn=str(mine)))
    assert sorted(p.subject for side in sides.values() for p in side) == ["jaffe:PA", "jaffe:PB"]


@pytest.mark.parametrize("cnn, ferplus", [("ferplus_vgg", False), ("fer2013_vgg", True)])
def test_the_lstm_learns_the_labels_its_cnn_learnt(tmp_path, cnn, ferplus):
    """A FER+-trained CNN's LSTM trained on FER2013's labels (no --ferplus) was accepted: it then disagrees with
    its own CNN by design."""
    from fervid.evaluation.datasets import DatasetError

    fer = write_fer2013_csv(tmp_path / "fer.csv", {"Training": 20, "PublicTest": 10})
    votes = write_ferplus_votes(fer, tmp_path / "votes.csv") if ferplus else ""
    cfg = TemporalTrainConfig(fer2013=str(fer), cnn=cnn, ferplus=str(votes), epochs=1)
    with pytest.raises(DatasetError, match=f"{cnn}: this CNN learnt"):
        train_temporal(cfg, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_train_temporal_says_what_it_left_out_and_what_its_heldout_report_covers(tmp_path, monkeypatch):
    """CK+ subjects on no side of the split, an empty validation or test side (so no report on people), and a
    temperature fitted at its search's bound (19.9999) all went without a word, and the held-out report did not
    say how many clips and frames it was measured on."""
    import json

    from typer.testing import CliRunner

    import fervid.training.train_temporal as temporal
    from fervid.apps.cli import app

    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 30, "PublicTest": 20})
    ck = write_ckplus_folder(tmp_path / "ck", subjects=2)  # two people: both train, none to validate or test on
    from PIL import Image

    Image.fromarray(synthetic_faces(1, seed=9)[0][0]).save(ck / "happy" / "S009_001_00000001.png")  # one expression
    monkeypatch.setattr(temporal, "fit_temperature", lambda logp, y: 19.99991)  # as the bounded search ends there
    out = tmp_path / "lstm"
    result = CliRunner().invoke(app, ["train-temporal", "--fer2013", str(csv), "--ckplus", str(ck), "--cnn",
                                      "fer2013_vgg", "--still-clips", "10", "--person-clips", "1", "--heldout-clips",
                                      "1", "--frames", "3", "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "training.json").read_text(encoding="utf-8"))
    expected = ["notice: 1 of 3 ckplus subject(s) left out of every split (S009): each shows one expression",
                "notice: no validation people (2 people with two or more expressions: 2 train, 0 val, 0 test",
                "notice: no test people (2 train, 0 val, 0 test)",
                "notice: the fitted temperature 19.9999 is at the bound of its search (0.05 to 20.0)"]
    for start in expected:
        assert any(n.startswith(start) for n in report["notices"]), (start, report["notices"])
        assert start in result.stderr, result.output  # said as found, not only filed (on stderr, as notices are)
    assert set(report["heldout"]) == {"stills"}
    assert report["heldout"]["stills"]["clips"] == 1 and report["heldout"]["stills"]["frames"] == 45  # 1.5 s at 30
    # its card, as a CNN's: the command that made it and the machine it ran on, beside the numbers
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert report["command"].startswith("fervid train-temporal --data ") and f"`{report['command']}`" in card
    assert report["device"] in card and "| stills | centred | " in card and "| people |" not in card
    from fervid.inference.models import file_sha256

    assert f"- Weights: `model.onnx`, sha256 `{file_sha256(out / 'model.onnx')}`." in card  # the graph it describes
    # stdout: the JSON alone (a notice line and the epochs' came before it), saying what the lines on stderr said
    printed = json.loads(result.stdout)
    assert printed["heldout"]["stills"]["clips"] == 1 and printed["notices"] == report["notices"]
    assert printed["files"] == [str(out / name) for name in ("model.onnx", "config.json", "training.json",
                                                               "MODEL_CARD.md")]
    assert "epoch 1: loss " in result.stderr and f"wrote {out / 'model.onnx'}" in result.stderr
    assert temporal.temperature_notice({"fitted": 1.3, "applied": True}) is None
    assert "too uncertain" in temporal.temperature_notice({"fitted": 0.05, "applied": False})


def test_train_temporal_quiet_says_its_notices_and_prints_its_json_alone(tmp_path):
    """`fervid train-temporal` had no -q: its progress bars went away with TQDM_DISABLE alone, and its notices and
    epoch lines came on stdout before its JSON."""
    import json

    from typer.testing import CliRunner

    from fervid.apps.cli import app

    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 20, "PublicTest": 10})
    out = tmp_path / "lstm"
    result = CliRunner().invoke(app, ["train-temporal", "--fer2013", str(csv), "--cnn", "fer2013_vgg", "--still-clips",
                                      "5", "--heldout-clips", "1", "--frames", "3", "--epochs", "1", "--out", str(out),
                                      "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["notices"] == json.loads((out / "training.json").read_text())["notices"]
    # notices only: no bar, no epoch, no "wrote" line
    assert [line for line in result.stderr.splitlines() if not line.startswith("notice: ")] == [], result.stderr
    assert "notice: the LSTM learns from FER2013 stills' clips only" in result.stderr


def test_train_temporal_refuses_a_folder_holding_a_temporal_model_unless_forced(tmp_path):
    """`fervid train-temporal` replaced an existing temporal model without a word, where `fervid train` refuses a
    folder holding a run."""
    import json

    from typer.testing import CliRunner

    from fervid.apps.cli import app

    runner = CliRunner()
    assert "--force" in runner.invoke(app, ["train-temporal", "--help"]).output
    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 20, "PublicTest": 10})
    out = tmp_path / "lstm"
    out.mkdir()
    (out / "config.json").write_text('{"kind": "lstm", "cnn": "fer2013_vgg"}', encoding="utf-8")
    (out / "model.onnx").write_bytes(b"an earlier LSTM")
    args = ["train-temporal", "--fer2013", str(csv), "--cnn", "fer2013_vgg", "--still-clips", "5", "--heldout-clips",
            "1", "--frames", "3", "--epochs", "1", "--out", str(out)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and f"{out}: holds a temporal model already; --force replaces it" in refused.output
    assert (out / "model.onnx").read_bytes() == b"an earlier LSTM"
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert (out / "model.onnx").read_bytes() != b"an earlier LSTM"
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["max_frames"] == 3


def test_train_temporal_refuses_a_model_another_run_finished_while_it_waited_for_the_folder(tmp_path, monkeypatch):
    """The folder was checked before its lock was taken, not after: a run that found it empty, then took the lock as
    another run writing there released it, wrote over the model that run had finished, without --force."""
    import contextlib

    import fervid.training.train_temporal as temporal

    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 20, "PublicTest": 10})
    out = tmp_path / "lstm"
    held = temporal.run_folder_lock

    @contextlib.contextmanager
    def after_another_run(folder, *args, **kwargs):  # the other run's model, finished as this one takes the lock
        folder.mkdir()
        (folder / "config.json").write_text('{"kind": "lstm", "cnn": "fer2013_vgg"}', encoding="utf-8")
        (folder / "model.onnx").write_bytes(b"the other run's LSTM")
        with held(folder, *args, **kwargs):
            yield

    monkeypatch.setattr(temporal, "run_folder_lock", after_another_run)
    monkeypatch.setattr(temporal, "stills", lambda *a: pytest.fail("data read"))
    with pytest.raises(FileExistsError, match="holds a temporal model already; --force replaces it"):
        train_temporal(TemporalTrainConfig(fer2013=str(csv), cnn="fer2013_vgg", still_clips=5, frames=3, epochs=1),
                       out, progress=False)
    assert (out / "model.onnx").read_bytes() == b"the other run's LSTM"


def test_an_lstm_learning_from_stills_only_is_said(tmp_path):
    """Trained without people (no --ckplus or --jaffe), the LSTM learns from stills' clips that never change
    expression: nothing but its card said so, in the words "30 per training person of no lab people"."""
    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 20, "PublicTest": 10})
    cfg = TemporalTrainConfig(fer2013=str(csv), cnn="fer2013_vgg", still_clips=5, heldout_clips=1, frames=3,
                              epochs=1)
    report = train_temporal(cfg, tmp_path / "lstm", progress=False)
    assert ("notice: the LSTM learns from FER2013 stills' clips only, each of one expression held: no --ckplus or "
            "--jaffe people given, so it sees no change of expression and no person's face over time") \
        in report["notices"]
    assert "only: no people's clips (no CK+ or JAFFE given)" in (tmp_path / "lstm" / "MODEL_CARD.md").read_text(
        encoding="utf-8")


def test_a_temperature_with_one_heldout_group_is_not_cross_fitted_on_nothing(tmp_path):
    """One held-out still (still_clips < 20): one half of the cross-fit held no clips, and its temperature was
    fitted on an empty set (NaN, "Mean of empty slice")."""
    import warnings

    from fervid.training.network import PaperLSTM
    from fervid.training.train_temporal import ClipSet, TrainedLSTM, choose_temperature

    rng = np.random.default_rng(0)
    clip = ClipSet(np.full((30, 7), 1 / 7, np.float32), rng.normal(size=(30, 16)).astype(np.float32),
                   rng.integers(0, 7, 30), np.array([0, 30]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        report = choose_temperature(TrainedLSTM(PaperLSTM(16), 3), {"stills": clip}, 1, seed=0)
    assert report["temperature"] == 1.0 and not report["applied"] and np.isfinite(report["fitted"])
    assert report["cross_fitted_ece_untempered"] is None


def test_the_card_of_an_lstm_over_a_cnn_of_your_own_says_its_feature_size_and_people_as_they_are(tmp_path):
    """`fervid train-temporal --cnn models/mine` (a CNN with 32-d features, no CK+ or JAFFE) wrote a card saying
    "over the 512-d features `mine` gives each face", "the paper's 1x1x512 input", "0 test (untouched:
    docs/results.md section 8)" and "the test people's are in docs/results.md section 8" (which measures the shipped
    LSTMs alone), and showed an empty "people's clips: 0person" bar twice."""
    import json

    from typer.testing import CliRunner

    from fervid.apps.cli import app
    from fervid.training.export import export_onnx
    from fervid.training.train import TrainConfig, train

    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 120, "PublicTest": 40})
    run = train(TrainConfig.from_dict(dict(data=str(csv), epochs=1, batch_size=32, threads=1, net={
        "stages": [8, 16], "convs_per_stage": [1, 1], "feature_dim": 32})), tmp_path / "run", progress=False)
    mine = export_onnx(run, tmp_path / "mine", name="mine")
    out = tmp_path / "lstm"
    result = CliRunner().invoke(app, ["train-temporal", "--fer2013", str(csv), "--cnn", str(mine), "--still-clips",
                                      "20", "--heldout-clips", "1", "--frames", "3", "--epochs", "1", "--out",
                                      str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["input_dim"] == 32
    assert "stills' clips" in result.stderr and "people's clips" not in result.stderr  # no bar for no one
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "over the 32-d features `mine` gives each face" in card and "512-d" not in card
    assert "- Input: the CNN's 32-d features, where the paper's is 1x1x512 (its CNN's)." in card
    assert "- People: none (no CK+ or JAFFE given)." in card and "docs/results.md section 8." not in card
    assert "The held-out stills' clips chose the temperature (no validation people)" in card
    assert "fitted on held-out FER2013 stills' clips (no CK+ or JAFFE people given)" in card
    assert "are not measured for this model (docs/results.md section 8 measures them for the shipped LSTMs)" in card


def test_a_second_run_into_a_folder_a_temporal_run_writes_is_refused_before_it_reads_its_data(tmp_path, monkeypatch):
    """Two `fervid train-temporal --out x` at once both trained (each found the folder empty) and wrote their
    model.onnx, config.json and card over each other's: one model's graph beside the other's temperature and people.
    `fervid train` refused a second run into its folder (exit 75); this trained on."""
    import json
    import os

    from typer.testing import CliRunner

    import fervid.training.train_temporal as temporal
    from fervid.apps.cli import app
    from fervid.folder_lock import FolderLock, FolderLocked

    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 20, "PublicTest": 10})
    out = tmp_path / "lstm"
    args = ["train-temporal", "--fer2013", str(csv), "--cnn", "fer2013_vgg", "--still-clips", "5", "--heldout-clips",
            "1", "--frames", "3", "--epochs", "1", "--out", str(out), "-q"]
    read = []
    monkeypatch.setattr(temporal, "stills", lambda *a: read.append(a) or pytest.fail("data read"))
    with FolderLock(out, "a test's run", "none", removed=True):  # what a run writing there holds
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 75, result.output
        assert result.output.startswith(f"error: {out}: another fervid train-temporal run (pid {os.getpid()}, this "
                                        "process) is training a temporal model in this folder; wait for it to "
                                        "finish, or write into another folder (--out)"), result.output
        assert [p.name for p in out.iterdir()] == [".lock"]  # the holder's folder is left to it
        with pytest.raises(FolderLocked, match="is training a temporal model in this folder"):
            train_temporal(TemporalTrainConfig(fer2013=str(csv), cnn="fer2013_vgg", still_clips=5, frames=3,
                                               epochs=1), out, progress=False, overwrite=True)
    assert not read and not any(out.iterdir())  # nothing written there, the lock gone with its holder
    monkeypatch.undo()
    assert CliRunner().invoke(app, args).exit_code == 0  # once it is done, a run goes on, and leaves no lock
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "config.json", "model.onnx", "training.json"]
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["max_frames"] == 3


def test_the_card_says_the_folder_whose_relative_paths_the_training_command_read(tmp_path, monkeypatch):
    """The card's command, `fervid train-temporal --fer2013 ../f.csv --out lstm ...`, did not say where it was typed:
    its relative paths named nothing to a reader in another folder, or on another machine."""
    import json

    from typer.testing import CliRunner

    from fervid.apps.cli import app

    write_fer2013_csv(tmp_path / "f.csv", {"Training": 20, "PublicTest": 10})
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(app, ["train-temporal", "--fer2013", "../f.csv", "--cnn", "fer2013_vgg",
                                      "--still-clips", "5", "--heldout-clips", "1", "--frames", "3", "--epochs", "1",
                                      "--out", "lstm", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads((work / "lstm" / "training.json").read_text(encoding="utf-8"))
    assert report["command"].startswith("fervid train-temporal --data ../f.csv ")  # as given
    assert report["directory"] == str(work)  # and where: ../f.csv is tmp_path/f.csv
    card = (work / "lstm" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"- Command: `{report['command']}` (run in `{work}`)\n" in card


class _Overconfident:
    """A temporal method surer than its frames: each frame's probabilities squared and renormalised (log p * 2),
    as an LSTM that needs a temperature of about 2."""

    name = "lstm"
    smooth_outputs = False
    temperature = 1.0

    def __call__(self, probabilities, features, weights=None, times=None, at=None):
        sure = probabilities[-1 if at is None else at].astype(np.float64) ** 2
        return (sure / sure.sum()).astype(np.float32)


def test_the_temperature_chosen_is_applied_as_it_was_fitted():
    """choose_temperature fits T on softmax(logits / T) (fit_temperature) and scores it through tempered(), the
    function the pipeline applies it with: the two must read T alike. Fitted on an overconfident method's held-out
    outputs, T is above 1, pays on the cross-fitted halves, and lowers the negative log-likelihood of the very
    outputs it was fitted on (tempered with log p * T instead, it raised it, and no temperature was applied)."""
    from fervid.inference.temporal import tempered
    from fervid.training.train_temporal import ClipSet, choose_temperature, frame_predictions

    rng = np.random.default_rng(0)
    people, clips_per_person, frames = 6, 2, 20
    # calibrated frames: each one's label drawn from its own probabilities
    probabilities = rng.dirichlet(np.full(7, 0.6), people * clips_per_person * frames).astype(np.float32)
    labels = np.array([rng.choice(7, p=p / p.sum()) for p in probabilities.astype(np.float64)])
    held = ClipSet(probabilities, np.zeros((len(labels), 4), np.float32), labels,
                   np.arange(0, len(labels) + 1, frames))
    report = choose_temperature(_Overconfident(), {"people": held}, clips_per_person, seed=0)
    assert report["applied"] and report["temperature"] == report["fitted"]
    assert 1.5 < report["temperature"] < 2.5  # the squaring undone
    assert report["cross_fitted_ece_tempered"] < report["cross_fitted_ece_untempered"]

    out = frame_predictions(_Overconfident(), held)

    def nll(p):
        return float(-np.log(np.clip(p[np.arange(len(labels)), labels], 1e-7, 1.0)).mean())

    assert nll(tempered(out, report["temperature"])) < nll(out) - 0.05
    assert nll(tempered(out, report["temperature"])) < nll(tempered(out, 1 / report["temperature"]))
