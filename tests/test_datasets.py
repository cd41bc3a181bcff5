import numpy as np
import pytest
from PIL import Image

from fervid.datasets import DatasetError, load_fer2013, load_image_folder
from fervid.emotions import EMOTIONS

from conftest import synthetic_faces, write_fer2013_csv


def test_fer2013_selects_usage_from_gz_and_plain(tmp_path):
    for name in ("f.csv", "f.csv.gz"):
        path = write_fer2013_csv(tmp_path / name, {"Training": 30, "PublicTest": 12, "PrivateTest": 5})
        train = load_fer2013(path, "Training")
        test = load_fer2013(path, "PublicTest")
        both = load_fer2013(path, ["PublicTest", "PrivateTest"])
        assert train.images.shape == (30, 48, 48) and train.images.dtype == np.uint8
        assert len(test) == 12 and len(both) == 17
        expected_images, expected_labels = synthetic_faces(30, 0)
        np.testing.assert_array_equal(train.images, expected_images)
        np.testing.assert_array_equal(train.labels, expected_labels)


def test_fer2013_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels\n0,1 2 3\n")
    with pytest.raises(DatasetError, match="bad.csv.*Usage"):
        load_fer2013(bad)
    short = tmp_path / "short.csv"
    short.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    with pytest.raises(DatasetError, match="short.csv.*2304"):
        load_fer2013(short)
    with pytest.raises(DatasetError, match="no such file"):
        load_fer2013(tmp_path / "missing.csv")
    with pytest.raises(DatasetError, match="unknown Usage"):
        load_fer2013(short, "Validation")


def test_image_folder_maps_aliases_and_skips_unknown_classes(tmp_path):
    images, _ = synthetic_faces(3)
    for folder in ("anger", "happiness", "contempt"):
        (tmp_path / folder).mkdir()
        for i, img in enumerate(images):
            Image.fromarray(img).resize((64, 64)).save(tmp_path / folder / f"{i}.png")
    ds = load_image_folder(tmp_path)
    assert len(ds) == 6
    assert ds.images.shape[1:] == (48, 48)
    assert ds.class_counts()["angry"] == 3 and ds.class_counts()["happy"] == 3
    assert set(ds.labels) == {EMOTIONS.index("angry"), EMOTIONS.index("happy")}
    with pytest.raises(DatasetError, match="contempt"):
        load_image_folder(tmp_path, skip_unknown=False)
