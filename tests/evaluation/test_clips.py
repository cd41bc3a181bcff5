"""Simulated expression clips (issue 17): one person's faces, changes at known times, people kept apart."""

import numpy as np
import pytest

from fervid.emotions import EMOTIONS
from fervid.evaluation.clips import (Person, expression_script, one_change_script, people, render, split_people,
                                     still_script)
from fervid.evaluation.datasets import FaceDataset

from conftest import synthetic_faces


def person(subject="ck:S001", labels=(0, 3, 6), seed=0) -> Person:
    images, _ = synthetic_faces(len(labels), seed)
    return Person(subject, {lab: [img] for lab, img in zip(labels, images)})


def test_people_are_split_subject_disjoint_into_three_sides_deterministically():
    ids = [f"S{i:03d}" for i in range(50)]
    side = split_people(ids + ids[:10])  # repeated ids: one person, one side
    assert set(side) == set(ids) and set(side.values()) == {"train", "val", "test"}
    counts = {s: list(side.values()).count(s) for s in ("train", "val", "test")}
    assert counts == {"train": 30, "val": 10, "test": 10}
    assert split_people(ids) == side and split_people(ids, seed=1) != side
    assert set(split_people(["a", "b", "c"]).values()) == {"train", "val", "test"}


def test_people_groups_faces_by_dataset_and_subject_and_keeps_those_with_two_expressions():
    images, _ = synthetic_faces(5)
    ds = FaceDataset(images, np.array([0, 3, 3, 5, 6]), name="ck", subjects=["S1", "S1", "S1", "S2", "S3"])
    found = people(ds)
    assert [p.subject for p in found] == ["ck:S1"] and found[0].labels == [0, 3] and len(found[0].faces[3]) == 2
    with pytest.raises(ValueError, match="no subject ids"):
        people(FaceDataset(images, np.zeros(5, np.int64), name="fer"))


def test_a_scripted_change_happens_at_the_middle_of_its_cross_fade():
    p = person()
    script = one_change_script(p, np.random.default_rng(0), hold=1.0, fade=0.35)
    clip = render(script, np.random.default_rng(1), fps=30, size=48, talking=0.0, motion=0.0)
    assert clip.frames.shape == (70, 48, 48) and clip.frames.dtype == np.uint8
    assert clip.change_times == [pytest.approx(1.175)]
    first, second = script.labels
    np.testing.assert_array_equal(clip.labels, np.where(clip.times < 1.175, first, second))
    # the pixels move from one face to the other through the cross-fade, not at once
    a, b = (f.astype(float) for f in script.faces)
    weight = [float(np.clip(((f - a) * (b - a)).sum() / ((b - a) ** 2).sum(), -1, 2)) for f in clip.frames]
    assert weight[15] == pytest.approx(0, abs=0.1) and weight[-1] == pytest.approx(1, abs=0.1)
    assert 0.3 < weight[35] < 0.7  # t = 1.167 s: about half way


def test_expression_scripts_use_only_the_persons_expressions_and_pass_through_neutral():
    neutral = EMOTIONS.index("neutral")
    rng = np.random.default_rng(0)
    scripts = [expression_script(person(labels=(0, 3, neutral)), rng, duration=6.0) for _ in range(40)]
    for s in scripts:
        assert s.duration == pytest.approx(6.0, abs=1e-6)
        assert set(s.labels) <= {0, 3, neutral} and all(x != y for x, y in zip(s.labels, s.labels[1:]))
        assert all(0.15 <= f <= 0.6 for f in s.fades) and len(s.fades) == len(s.holds) - 1
    assert sum(s.labels.count(neutral) for s in scripts) > 20


def test_rendered_clips_move_talk_and_compress_but_stay_the_same_face(astronaut_rgb):
    import cv2

    face = cv2.resize(cv2.cvtColor(astronaut_rgb[40:240, 130:310], cv2.COLOR_RGB2GRAY), (48, 48))
    clip = render(still_script(face, 3, 2.0), np.random.default_rng(0), fps=30, size=48, talking=1.0)
    assert (clip.labels == 3).all() and clip.change_times == []
    diffs = [np.abs(clip.frames[i].astype(int) - clip.frames[i + 1]).mean() for i in range(len(clip.frames) - 1)]
    assert np.median(diffs) > 0.3
    corr = [np.corrcoef(f.ravel(), face.ravel())[0, 1] for f in clip.frames]
    assert np.median(corr) > 0.6
    big = render(still_script(face, 3, 0.5), np.random.default_rng(0), size=160, jpeg=False)
    assert big.frames.shape == (15, 160, 160)
