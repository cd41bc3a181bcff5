import cv2
import numpy as np
import pytest

from fervid.detect import Detection, FaceDetector, YuFaceDetector, make_detector

NO_FACE_IMAGES = ["coffee", "chelsea", "rocket", "coins", "hubble_deep_field", "immunohistochemistry", "moon",
                  "page", "text", "retina", "brick", "grass", "gravel", "cell", "horse", "clock", "colorwheel",
                  "logo", "cat", "checkerboard", "microaneurysms"]


@pytest.fixture(scope="module")
def detector():
    return YuFaceDetector()


def test_finds_the_astronaut_with_landmarks(detector, astronaut_rgb):
    found = detector.detect(np.ascontiguousarray(astronaut_rgb[:, :, ::-1]))
    assert len(found) == 1
    face = found[0]
    assert isinstance(face, Detection) and face.score > 0.85
    x, y, w, h = face.box
    (lx, ly), (rx, ry) = face.eyes
    assert x < lx < rx < x + w and y < ly < y + h / 2 and abs(ly - ry) < 5
    assert isinstance(detector, FaceDetector)


@pytest.mark.parametrize("name", NO_FACE_IMAGES)
def test_no_false_positives_on_scikit_image_no_face_samples(detector, name):
    from skimage import data

    img = getattr(data, name)()
    if img.dtype != np.uint8:
        img = (255 * (img.astype(float) / img.max())).astype(np.uint8)
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    assert detector.detect(np.ascontiguousarray(img[:, :, 2::-1])) == []


def test_large_images_are_shrunk_for_detection_and_mapped_back(detector, astronaut_rgb):
    small = detector.detect(np.ascontiguousarray(astronaut_rgb[:, :, ::-1]))[0]
    big_img = cv2.resize(astronaut_rgb[:, :, ::-1], (2048, 2048), interpolation=cv2.INTER_CUBIC)
    big = detector.detect(big_img)
    assert len(big) == 1
    np.testing.assert_allclose(np.array(big[0].box), np.array(small.box) * 4, atol=12)


def test_registry_and_bad_input(detector):
    assert isinstance(make_detector("yuface"), YuFaceDetector)
    with pytest.raises(KeyError, match="unknown detector"):
        make_detector("nope")
    with pytest.raises(ValueError, match="BGR uint8"):
        detector.detect(np.zeros((10, 10), np.uint8))
