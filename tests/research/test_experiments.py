import numpy as np
import pytest

pytest.importorskip("torch")

from fervid.evaluation.datasets import FaceDataset  # noqa: E402
from fervid.evaluation.datasets import to_sequences  # noqa: E402
from fervid.research.experiments import run_experiment, splits  # noqa: E402
from fervid.inference.models import PAPER_MODEL, EmotionCNN  # noqa: E402

from conftest import synthetic_faces  # noqa: E402


def ck_like(n_subjects=16, seqs_per_subject=4, frames=3):
    """CK+-shaped data: subjects with several 3-frame sequences, the class written into the frames."""
    images, labels, sources, subjects, sequences = [], [], [], [], []
    rng = np.random.default_rng(0)
    for s in range(n_subjects):
        for q in range(seqs_per_subject):
            label = int(rng.integers(0, 6))
            imgs, _ = synthetic_faces(frames, seed=s * 100 + q)
            for f, img in enumerate(imgs):
                img = img.copy()
                row = 4 + 6 * label
                img[row : row + 4, 8:40] = 240
                images.append(img)
                labels.append(label)
                sources.append(f"S{s:03d}_{q:03d}_{f:08d}.png")
                subjects.append(f"S{s:03d}")
                sequences.append(f"S{s:03d}_{q:03d}")
    return FaceDataset(np.stack(images), np.asarray(labels), sources, "ck-like", subjects, sequences)


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


@pytest.mark.parametrize("model", ["lstm-cnn", "lstm-pixels"])
def test_paper_lstm_learns_a_learnable_task(model):
    seq = to_sequences(ck_like())
    result = run_experiment(seq, model, "subject", EmotionCNN(PAPER_MODEL), epochs=60, folds=2)
    assert len(result.fold_accuracies) == 2
    assert result.evaluation.n == len(seq.labels)
    assert result.evaluation.accuracy > 0.5  # 6 balanced-ish classes: chance is about 0.17
