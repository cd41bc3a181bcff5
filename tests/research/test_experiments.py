import numpy as np
import pytest

pytest.importorskip("torch")

from fervid.evaluation.datasets import to_sequences  # noqa: E402
from fervid.research.experiments import run_experiment, splits, train_lstm  # noqa: E402
from fervid.inference.models import PAPER_MODEL, EmotionCNN  # noqa: E402

from conftest import ck_like, synthetic_faces, write_ck_folders  # noqa: E402


def test_sequences_group_frames_and_keep_subjects():
    seq = to_sequences(ck_like())
    assert seq.frames.shape == (64, 3, 48, 48)
    assert len(set(seq.subjects.tolist())) == 16


def test_subject_folds_never_share_a_person():
    seq = to_sequences(ck_like())
    folds = list(splits(seq, "subject", folds=4))
    assert len(folds) == 4
    for train_idx, test_idx in folds:
        assert not set(seq.subjects[train_idx]) & set(seq.subjects[test_idx])
    covered = np.sort(np.concatenate([t for _, t in folds]))
    np.testing.assert_array_equal(covered, np.arange(len(seq.labels)))  # every sample tested once


def test_training_no_epoch_is_refused_by_name():
    """train_lstm(epochs=0) had no epoch's weights to keep and failed in torch's load_state_dict (a TypeError
    about None); the loop now says what is wrong."""
    x, y = np.zeros((4, 3, 5), np.float32), np.arange(4)
    with pytest.raises(ValueError, match="epochs must be at least 1, not 0"):
        train_lstm(x, y, x, y, epochs=0)


@pytest.mark.parametrize("model", ["lstm-cnn", "lstm-pixels"])
def test_paper_lstm_learns_a_learnable_task(model):
    seq = to_sequences(ck_like())
    result = run_experiment(seq, model, "subject", EmotionCNN(PAPER_MODEL), epochs=60, folds=2)
    assert len(result.fold_accuracies) == 2
    assert result.evaluation.n == len(seq.labels)
    assert result.evaluation.accuracy > 0.5  # 6 balanced-ish classes: chance is about 0.17
    # 64 sequences of 16 people: the interval is over the people, not the sequences as if independent (a t interval;
    # Wilson's, said so, where under 5 sequences are wrong: no interval over people can see the spread of so few)
    assert result.evaluation.ci_method in ("t interval over 16 subjects", "Wilson over 16 subjects, each wrong where "
                                           "any of its faces is: "
                                           f"{64 - round(result.evaluation.accuracy * 64) or 'none'} of 64 faces "
                                           "wrong, too few wrong to resample the subjects")
    # the result says what made it (the JSON a run saves is what a paper's table is rebuilt from)
    cnn = EmotionCNN(PAPER_MODEL)
    # what ran, only: lstm-pixels reads no CNN feature (it was recorded as the CNN's, with its digest)
    used = ({"cnn": PAPER_MODEL, "cnn_weights_file": "model_int8.onnx", "cnn_weights_sha256": cnn.graph_sha256,
             "cnn_precision": "int8"} if model == "lstm-cnn" else {"pixels_normalised_as": PAPER_MODEL})
    assert result.settings == {**used, "seed": 0, "epochs": 60, "folds": 2, "test_size": None, "val_fraction": 0.125}


def test_an_experiment_records_the_int8_graph_that_ran_not_the_float_model(tmp_path):
    """lstm-cnn's settings recorded model.onnx's digest beside cnn_precision "int8": two runs through int8 graphs
    quantized differently from the same model.onnx recorded the same digest."""
    import shutil

    import onnx

    from fervid.inference.models import file_sha256, resolve_model_dir

    requantized = tmp_path / PAPER_MODEL
    shutil.copytree(resolve_model_dir(PAPER_MODEL), requantized)
    graph = onnx.load(requantized / "model_int8.onnx")
    graph.doc_string = "quantized again"  # another file of the same float model (a 7-bit run's, say)
    onnx.save(graph, requantized / "model_int8.onnx")
    seq = to_sequences(ck_like(n_subjects=4, seqs_per_subject=2))
    recorded = []
    for folder in (PAPER_MODEL, requantized):
        settings = run_experiment(seq, "lstm-cnn", "subject", EmotionCNN(folder), epochs=1, folds=2).settings
        graph_file = resolve_model_dir(folder) / "model_int8.onnx"
        assert settings["cnn_weights_file"] == "model_int8.onnx" and settings["cnn_precision"] == "int8"
        assert settings["cnn_weights_sha256"] == file_sha256(graph_file)
        recorded.append(settings["cnn_weights_sha256"])
    assert recorded[0] != recorded[1]
    fp32 = run_experiment(seq, "lstm-cnn", "subject", EmotionCNN(PAPER_MODEL, precision="fp32"), epochs=1,
                          folds=2).settings
    assert fp32["cnn_weights_file"] == "model.onnx" and fp32["cnn_precision"] == "fp32"
    assert fp32["cnn_weights_sha256"] == file_sha256(resolve_model_dir(PAPER_MODEL) / "model.onnx")


def test_experiment_command_refuses_bad_settings_before_any_work(tmp_path):
    """--epochs 0 used to run the default 80 epochs, cnn-finetune without a checkpoint failed with a traceback
    after loading the data, and an unknown --cnn-model with a traceback."""
    from PIL import Image
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    ck = tmp_path / "ck" / "happy"
    ck.mkdir(parents=True)
    Image.fromarray(synthetic_faces(1)[0][0]).save(ck / "S001_001_00000001.png")
    base = ["experiment", "--dataset", "ckplus", "--ckplus", str(tmp_path / "ck"), "--out", str(tmp_path / "out")]
    not_a_checkpoint = tmp_path / "normalization.json"
    not_a_checkpoint.write_text("{}", encoding="utf-8")
    cases = [
        (["--epochs", "0"], 2, "--epochs must be at least 1, not 0"),
        (["--classifier", "cnn-finetune"], 2, "--classifier cnn-finetune needs --cnn-checkpoint"),
        (["--model", "cnn-finetune", "--cnn-checkpoint", str(tmp_path / "none.pt")], 2,
         f"--cnn-checkpoint {tmp_path / 'none.pt'}: no such file or folder"),
        (["--cnn-model", "no_such_cnn"], 2, "model 'no_such_cnn' not found"),
        # options that do not apply were accepted, ignored, and recorded in the JSON as if they had been used
        (["--jaffe", str(tmp_path / "ck")], 2, "--jaffe is not used by --dataset ckplus"),
        (["--cnn-checkpoint", str(tmp_path / "x.pt")], 2, "--cnn-checkpoint is for --classifier cnn-finetune"),
        (["--model", "cnn-finetune", "--cnn-checkpoint", str(not_a_checkpoint)], 2, "not a torch checkpoint"),
    ]
    for args, code, message in cases:
        result = CliRunner().invoke(app, [*base, *args])
        assert result.exit_code == code and message in result.output, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        run_experiment(to_sequences(ck_like()), "lstm-cnn", "subject", EmotionCNN(PAPER_MODEL), epochs=0)


def test_experiment_command_saves_the_settings_with_the_numbers(tmp_path):
    import json

    from typer.testing import CliRunner

    from fervid.apps.cli import app

    ds = ck_like(n_subjects=6, seqs_per_subject=2)
    write_ck_folders(ds, tmp_path / "ck")
    result = CliRunner().invoke(app, ["experiment", "--dataset", "ckplus", "--ckplus", str(tmp_path / "ck"),
                                      "--epochs", "2", "--seed", "3", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "out" / "ckplus_lstm-cnn_subject.json").read_text(encoding="utf-8"))
    assert saved["settings"]["seed"] == 3 and saved["settings"]["epochs"] == 2
    assert saved["settings"]["ckplus"] == str(tmp_path / "ck") and saved["settings"]["cnn"] == PAPER_MODEL
    assert "fervid" in saved["settings"]
    # one row per test sample: a subject's sequences are all in one fold, every sequence tested once
    import pandas as pd

    rows = pd.read_csv(tmp_path / "out" / "ckplus_lstm-cnn_subject_predictions.csv")
    assert list(rows.columns) == ["fold", "sequence", "subject", "label", "predicted"]
    assert rows.groupby("subject").fold.nunique().max() == 1 and rows.sequence.is_unique and len(rows) == 12
    assert (rows.label == rows.predicted).mean() == pytest.approx(saved["evaluation"]["accuracy"])


def test_only_the_cnns_own_checkpoint_is_fine_tuned_as_that_cnn(tmp_path):
    """cnn-finetune fine-tuned any checkpoint, feeding it faces normalised as --cnn-model's, and recorded
    --cnn-model's name and digest as what ran."""
    from conftest import write_fer2013_csv
    from fervid.research.experiments import check_checkpoint_of
    from fervid.training.export import export_onnx
    from fervid.training.train import TrainConfig, train

    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 64, "PublicTest": 16})
    shapes = {"tiny": {"stages": [8, 16], "convs_per_stage": [1, 1]}, "shipped_shape": {}}
    runs = {name: train(TrainConfig.from_dict({"data": str(csv), "epochs": 1, "batch_size": 32, "threads": 1,
                                               "net": net}), tmp_path / name, progress=False)
            for name, net in shapes.items()}
    with pytest.raises(ValueError, match=f"is not CNN '{PAPER_MODEL}'"):
        check_checkpoint_of(runs["tiny"] / "last.pt", EmotionCNN(PAPER_MODEL))
    with pytest.raises(ValueError, match="normalises faces differently"):  # same shape, other training faces
        check_checkpoint_of(runs["shipped_shape"] / "last.pt", EmotionCNN(PAPER_MODEL))
    own = EmotionCNN(export_onnx(runs["tiny"], tmp_path / "tiny_model"), precision="fp32")
    check_checkpoint_of(runs["tiny"] / "last.pt", own)  # the model exported from that run: its own


def test_experiment_quiet_prints_no_bar_and_no_summary(tmp_path):
    """`fervid experiment -q` (as image, video and batch take it) was an unknown option."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app
    from fervid.emotions import EMOTIONS

    ds = ck_like(n_subjects=5, seqs_per_subject=2)
    write_ck_folders(ds, tmp_path / "ck")
    last = tmp_path / "ck" / EMOTIONS[ds.labels[-1]] / ds.sources[-1]
    (tmp_path / "ck" / "happy" / "not_named_as_ck.png").write_bytes(last.read_bytes())
    result = CliRunner().invoke(app, ["experiment", "--dataset", "ckplus", "--ckplus", str(tmp_path / "ck"),
                                      "--epochs", "1", "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and (tmp_path / "out" / "ckplus_lstm-cnn_subject.json").is_file()
    # what was left out is still said, on stderr (a bar would be there too)
    assert result.stderr.startswith("31 image(s) seen: 30 scored, 1 left out"), result.stderr
    assert "not_named_as_ck.png" in result.stderr and "%|" not in result.stderr


def test_the_fold_sd_is_the_sample_sd():
    """Over 5 or 6 folds np.std's n divisor understated the spread (JAFFE's lstm-cnn by subject: 0.136, where the
    sample sd of its 6 folds is 0.149)."""
    from fervid.evaluation.evaluate import score
    from fervid.research.experiments import ExperimentResult

    result = ExperimentResult("jaffe", "lstm-cnn", "subject", score(np.array([0, 1]), np.array([0, 1])),
                              fold_accuracies=[0.5, 0.7, 0.9])
    assert result.to_dict()["fold_accuracy_std"] == pytest.approx(0.2)  # sqrt((0.04 + 0 + 0.04) / 2)


def test_an_experiment_on_jaffe_says_how_to_read_a_subject_named_na(tmp_path, astronaut_rgb):
    """One of JAFFE's posers is named NA: the predictions CSV read with pandas' defaults (or R's) lost his faces to
    a missing subject. The name is kept, and the experiment says how to read the file (printed, and in its JSON's
    notes), in the words `evaluate`'s report.md uses."""
    import json

    import pandas as pd
    from PIL import Image
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    head = Image.fromarray(astronaut_rgb[20:276, 100:356]).convert("L")  # 256x256, as JAFFE's, a face inside
    jaffe = tmp_path / "jaffe"
    jaffe.mkdir()
    for n, subject in enumerate(("NA", "KA", "MK")):
        for k, code in enumerate(("HA", "NE")):
            head.rotate(2 * n + k).save(jaffe / f"{subject}.{code}1.{10 * n + k}.tiff")
    result = CliRunner().invoke(app, ["experiment", "--dataset", "jaffe", "--jaffe", str(jaffe), "--model",
                                      "lstm-pixels", "--epochs", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    predictions = tmp_path / "out" / "jaffe_lstm-pixels_subject_predictions.csv"
    assert pd.read_csv(predictions)["subject"].nunique() == 2  # pandas' defaults: NA is missing
    assert pd.read_csv(predictions, keep_default_na=False)["subject"].value_counts()["NA"] == 2
    note = ("notice: jaffe_lstm-pixels_subject_predictions.csv's `subject` holds `NA`, a name here, which pandas and "
            "R read as missing by default: read it with `pd.read_csv(f, keep_default_na=False)` or "
            "`read.csv(f, na.strings = character())`")
    assert note in result.output.splitlines()
    saved = json.loads((tmp_path / "out" / "jaffe_lstm-pixels_subject.json").read_text(encoding="utf-8"))
    assert saved["notes"] == [note]
