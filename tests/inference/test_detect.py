import json
import os
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from fervid.inference.align import REFERENCE_EYES, FaceTemplate
from fervid.inference.detect import (DEFAULT_DETECTOR, DETECTORS, CenterFaceDetector, Detection, DetectorUnavailable,
                                    FaceDetector, detection_scales, iou, make_detector)

from conftest import needs_avx2_emulation, needs_sample_clip, run_onnx

NO_FACE_IMAGES = ["coffee", "chelsea", "rocket", "coins", "hubble_deep_field", "immunohistochemistry", "moon",
                  "page", "text", "retina", "brick", "grass", "gravel", "cell", "horse", "clock", "colorwheel",
                  "logo", "cat", "checkerboard", "microaneurysms"]


@pytest.fixture(scope="module", params=sorted(DETECTORS))
def detector(request):
    """Every registered detector; an optional one that is not installed here is skipped (yuface has wheels for
    CPython 3.10/3.11 on Linux x86-64 and Windows only)."""
    try:
        return make_detector(request.param)
    except DetectorUnavailable as exc:
        pytest.skip(str(exc))


def test_finds_the_astronaut_with_landmarks(detector, astronaut_rgb):
    found = detector.detect(np.ascontiguousarray(astronaut_rgb[:, :, ::-1]))
    assert len(found) == 1
    face = found[0]
    assert isinstance(face, Detection) and face.score > 0.85
    x, y, w, h = face.box
    (lx, ly), (rx, ry) = face.eyes
    assert x < lx < rx < x + w and y < ly < y + h / 2 and abs(ly - ry) < 5
    nose, mouth_l, mouth_r = face.landmarks[2:]
    assert ly < nose[1] < mouth_l[1] and mouth_l[0] < mouth_r[0]
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
    assert iou(np.array(big[0].box) / 4, np.array(small.box)) > 0.85  # detected at another scale, same face
    (lx, ly), (rx, ry) = small.eyes
    eye_distance = np.hypot(rx - lx, ry - ly)
    np.testing.assert_allclose(np.array(big[0].eyes) / 4, np.array(small.eyes), atol=0.12 * eye_distance)


@pytest.mark.parametrize("size, passes", [((480, 640), [(480, 640)]), ((144, 176), [(144, 176)]),
                                          ((1080, 1920), [(630, 1120)]), ((3024, 4032), [(1764, 2352), (480, 640)]),
                                          ((12000, 12000), [(4096, 4096), (640, 640)]), ((48, 48), [(128, 128)]),
                                          ((90, 160), [(128, 228)]), ((100, 5000), [(82, 4096)])])
def test_detection_copies_make_a_48_px_face_findable_and_the_largest_too(size, passes):
    """The copies CenterFace runs on: 640 px frames as they are, a 48 px face 28 px tall on the finest, the finest
    at most 4096 px, a coarse 640 px copy where a face could be too large for the fine, and an image under 128 px
    (a face crop, a thumbnail) enlarged to 128 px, within the 4096 px bound."""
    h, w = size
    got = [(round(h * s), round(w * s))
           for s in detection_scales(h, w, 48, 640, CenterFaceDetector.largest_face,
                                     CenterFaceDetector.small_image_side)]
    assert got == passes


def _astronaut_face_crop(detector, astronaut_rgb, side: int) -> np.ndarray:
    """The astronaut's face as a face crop of ``side`` px (BGR): its box on the photo and a tenth of it around."""
    x, y, w, h = detector.detect(np.ascontiguousarray(astronaut_rgb[:, :, ::-1]))[0].box
    crop = astronaut_rgb[int(y - h / 10):int(y + h * 1.1), int(x - w / 10):int(x + w * 1.1), ::-1]
    return np.ascontiguousarray(cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA))


def test_a_face_filling_a_small_image_is_found_on_an_enlarged_copy_and_mapped_back(detector, astronaut_rgb,
                                                                                  monkeypatch):
    """Every detector missed the astronaut's face as a 32 x 32 face crop (FER2013's 48 x 48 faces: 17% missed by
    CenterFace, 35% by yuface), and --min-face could not help: no image was ever enlarged to detect it."""
    crop = _astronaut_face_crop(detector, astronaut_rgb, 32)
    found = detector.detect(crop)
    assert len(found) == 1
    x, y, w, h = found[0].box  # in the crop's own pixels: the face fills it
    assert 0 <= x < 6 and 0 <= y < 6 and 24 < w <= 32 - x and 24 < h <= 32 - y
    (lx, ly), (rx, ry) = found[0].eyes
    assert 0 < lx < 16 < rx < 32 and 6 < ly < 16 and 6 < ry < 16
    monkeypatch.setattr(detector, "small_image_side", 0)  # the picture at its own size, as before
    assert detector.detect(crop) == []


def _photo_with_face(astronaut_rgb, face_height: int, at=(1500, 900), size=(3024, 4032)) -> np.ndarray:
    """The astronaut's head (its face box about half the height) on a textured 12-megapixel photo."""
    from skimage import data

    background = np.tile(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (8, 7, 1))[:size[0], :size[1]]
    head = cv2.resize(np.ascontiguousarray(astronaut_rgb[20:260, 130:330, ::-1]),
                      (face_height * 200 // 240, face_height))
    photo = np.ascontiguousarray(background)
    x, y = at
    photo[y:y + head.shape[0], x:x + head.shape[1]] = head
    return photo


@pytest.mark.parametrize("head", [120, 2800])
def test_faces_of_a_12_megapixel_photo_are_found_once_small_or_filling_it(detector, astronaut_rgb, head):
    """A 12 MP photo was detected on a 640 px copy: faces under about 150 px (a person a few metres away) were
    missed without a word. A face filling the photo is found once, not also as fragments by the fine copy."""
    photo = _photo_with_face(astronaut_rgb, head, at=(1500, 900) if head < 1000 else (600, 100))
    found = detector.detect(photo)
    assert len(found) == 1, [d.box for d in found]
    x, y, w, h = found[0].box
    assert 0.3 * head < h < 0.8 * head
    if head < 1000:
        detector.min_face = 10 ** 6  # the old behaviour: the 640 px copy alone misses it
        try:
            assert detector.detect(photo) == []
        finally:
            detector.min_face = 48


def test_every_face_of_a_group_is_found(detector, astronaut_rgb):
    face = np.ascontiguousarray(astronaut_rgb[20:240, 120:330, ::-1])
    canvas = np.full((480, 900, 3), 90, np.uint8)
    for x in (20, 340, 660):
        canvas[120:340, x:x + 210] = face
    found = sorted(detector.detect(canvas), key=lambda d: d.box[0])
    assert len(found) == 3
    assert [x < d.box[0] + d.box[2] / 2 < x + 210 for d, x in zip(found, (20, 340, 660))] == [True] * 3


def test_min_score_applies_to_one_call_and_leaves_the_detector_alone(detector, astronaut_rgb):
    bgr = np.ascontiguousarray(astronaut_rgb[:, :, ::-1])
    before = detector.score_threshold
    assert detector.detect(bgr, min_score=0.999) == []
    assert len(detector.detect(bgr)) == 1 and detector.score_threshold == before


def test_one_detector_serves_threads(detector, astronaut_rgb):
    bgr = np.ascontiguousarray(astronaut_rgb[:, :, ::-1])
    expected = detector.detect(bgr)
    results = [None] * 4

    def work(i):
        results[i] = detector.detect(bgr, min_score=0.999 if i % 2 else None)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == expected and results[2] == expected and results[1] == [] and results[3] == []


def test_bad_input_is_refused(detector):
    with pytest.raises(ValueError, match="BGR uint8"):
        detector.detect(np.zeros((10, 10), np.uint8))


def test_tiny_and_odd_sized_images(detector):
    for shape in ((1, 1, 3), (31, 33, 3), (100, 7, 3)):
        assert detector.detect(np.full(shape, 128, np.uint8)) == []


# run in a fresh process: OpenMP reads its settings once, as it starts there
_YUFACE_THREADS_SCRIPT = """
import ctypes, json, os, pathlib, subprocess, sys
from fervid.inference.detect import YuFaceDetector
YuFaceDetector(threads=int(sys.argv[1]))
import yuface
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('OMP_NUM_THREADS'))"],
                       capture_output=True, encoding="utf-8", check=True).stdout.strip()
# the Linux wheel's own OpenMP runtime (libgomp, bundled beside the package): the threads it runs parallel regions on
runtime = sorted((pathlib.Path(yuface.__file__).parent.parent / "yuface.libs").glob("libgomp*"))
threads = ctypes.CDLL(str(runtime[0])).omp_get_max_threads() if runtime else None
print(json.dumps({"environment": [os.environ.get("OMP_NUM_THREADS"), os.environ.get("OMP_WAIT_POLICY")],
                  "child": child, "threads": threads}))
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_a_yuface_detector_runs_on_the_threads_asked_and_leaves_the_environment_as_it_was(threads):
    """Analyzer(detector="yuface", threads=1) set OMP_NUM_THREADS=1 and OMP_WAIT_POLICY=PASSIVE in the caller's
    environment for good: every program it started later, and torch's OpenMP loaded later, took fervid's settings
    for its own. They are there only while yuface's OpenMP starts, which reads them then: it still runs on the
    threads asked for."""
    pytest.importorskip("yuface")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("OMP_")}
    done = subprocess.run([sys.executable, "-c", _YUFACE_THREADS_SCRIPT, str(threads)], capture_output=True,
                          encoding="utf-8", env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout.splitlines()[-1])
    assert said["environment"] == [None, None] and said["child"] == "None"
    assert said["threads"] in (threads, None)  # (None: a wheel whose OpenMP runtime is not libgomp beside it)


def test_registry():
    assert DEFAULT_DETECTOR == "centerface" and isinstance(make_detector(), CenterFaceDetector)
    assert make_detector("centerface", score_threshold=None).score_threshold == CenterFaceDetector().score_threshold
    assert make_detector("centerface", score_threshold=0.9).score_threshold == 0.9
    with pytest.raises(KeyError, match="unknown face detector .*; expected one of centerface, centerface_fp32, yuface"):
        make_detector("nope")
    with pytest.raises(ValueError, match="between 0 and 1"):
        make_detector("centerface", score_threshold=1.5)


def test_templates_follow_the_detector():
    model = FaceTemplate()
    assert model.for_detector(None) == model
    assert model.for_detector(REFERENCE_EYES) == model  # the reference detector keeps the model's template
    lower = model.for_detector(((15.2, 19.4), (32.8, 19.4)))
    assert lower.left_eye[1] == pytest.approx(19.4) and lower.eye_distance == pytest.approx(17.6)
    # a model trained on 96 px crops (twice FER2013's scale) sees the same correction, scaled
    big = FaceTemplate((30.0, 36.4), (66.0, 36.4), 96).for_detector(((15.2, 19.4), (32.8, 19.4)))
    assert big.left_eye == pytest.approx((30.4, 38.8)) and big.size == 96
    # a detector's box on FER2013's faces is carried into the template the same way
    assert model.for_detector(None).face_box is None
    assert model.for_detector(None, (4.0, 2.0, 44.0, 47.0)).face_box == pytest.approx((4.0, 2.0, 44.0, 47.0))
    boxed = FaceTemplate((30.0, 36.4), (66.0, 36.4), 96).for_detector(None, (4.0, 2.0, 44.0, 47.0))
    assert boxed.face_box == pytest.approx((8.0, 4.0, 88.0, 94.0)) and boxed.left_eye == (30.0, 36.4)


@pytest.mark.parametrize("name", ["centerface", "centerface_fp32", "yuface"])
def test_each_detectors_box_template_frames_fer2013_faces_like_their_eyes(name):
    """A face whose landmarks are not a face's is framed on its box (fervid.inference.align.face_alignment): the
    detector's fer2013_box must frame a FER2013 face about as its eyes do, or the CNN would read it shifted."""
    pytest.importorskip("yuface") if name == "yuface" else None
    from fervid.inference.detect import DETECTORS

    detector = DETECTORS[name]
    x0, y0, x1, y1 = detector.fer2013_box
    eyes = detector.fer2013_eyes or REFERENCE_EYES
    # FER2013's crops are centred on the face: the box and the eyes share a vertical centre line, near 24
    assert (x0 + x1) / 2 == pytest.approx(24.0, abs=0.5)
    assert (eyes[0][0] + eyes[1][0]) / 2 == pytest.approx(24.0, abs=0.5)
    # the eyes lie in the box's upper half, as a face's do
    assert y0 < eyes[0][1] < (y0 + y1) / 2


@pytest.mark.parametrize("name", ["centerface", "centerface_fp32", "yuface"])
def test_a_frontal_face_framed_on_its_box_is_framed_as_on_its_eyes(name, astronaut_rgb):
    """On a real upright frontal face (the astronaut), the box framing (the detector's fer2013_box) puts the eyes
    where the eye framing does, within a tenth of an eye distance, and the two crops look alike. A fer2013_box off by
    5 px would move the eyes a quarter of an eye distance."""
    pytest.importorskip("yuface") if name == "yuface" else None
    from fervid.inference.align import box_alignment_matrix, eye_alignment_matrix
    from fervid.inference.analyzer import Analyzer

    analyzer = Analyzer(detector=name)
    template = analyzer.template
    bgr = np.ascontiguousarray(astronaut_rgb[:, :, ::-1])
    (face,) = analyzer.detector.detect(bgr)
    eyes = np.asarray(sorted(tuple(p) for p in face.landmarks[:2]))
    on_box, on_eyes = box_alignment_matrix(face.box, template), eye_alignment_matrix(*eyes, template)
    eyes_on_box = eyes @ on_box[:, :2].T + on_box[:, 2]
    off = np.abs(eyes_on_box - [template.left_eye, template.right_eye]).max() / template.eye_distance
    assert off < 0.12, off
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    crops = [cv2.warpAffine(grey, m, (template.size,) * 2).ravel().astype(float) for m in (on_box, on_eyes)]
    assert np.corrcoef(*crops)[0, 1] > 0.7


@needs_sample_clip
def test_int8_centerface_finds_the_faces_the_fp32_graph_finds(astronaut_rgb):
    """The default detector runs CenterFace quantized to int8; on frames its calibration did not see (carphone
    frames enlarged to 640x480, a mirrored astronaut on a grey frame) it finds the fp32 graph's faces, in nearly
    the same place."""
    from fervid.samples import carphone

    frames = []
    cap = cv2.VideoCapture(str(carphone()))
    for k in range(0, 120, 12):
        cap.set(cv2.CAP_PROP_POS_FRAMES, k)
        ok, frame = cap.read()
        assert ok
        frames.append(cv2.resize(frame, (640, 480)))
    mirrored = np.full((480, 640, 3), 120, np.uint8)
    mirrored[100:420, 250:570] = cv2.resize(np.ascontiguousarray(astronaut_rgb[:, ::-1, ::-1]), (320, 320))
    frames.append(mirrored)
    int8, fp32 = make_detector("centerface"), make_detector("centerface_fp32")
    assert int8.model_file != fp32.model_file
    for frame in frames:
        a, b = fp32.detect(frame), int8.detect(frame)
        assert len(a) == len(b) == 1
        assert iou(a[0].box, b[0].box) > 0.8
        eye_distance = np.linalg.norm(np.subtract(*a[0].eyes))
        assert np.abs(np.subtract(a[0].eyes, b[0].eyes)).max() < 0.2 * eye_distance


@needs_avx2_emulation
def test_int8_centerface_gives_the_same_heatmap_on_an_avx2_only_cpu(tmp_path, astronaut_rgb):
    """The shipped graph's 7-bit weights cannot overflow the 16-bit sums of an AVX2-only CPU's int8 kernel: on an
    emulated one it gives exactly the heatmap it gives natively, whatever this machine's own kernel is."""
    from fervid.inference.detect import CENTERFACE_INT8_FILE

    frame = cv2.resize(np.ascontiguousarray(astronaut_rgb), (320, 256))  # bright regions: where pairs overflow
    inputs = {"input.1": frame.transpose(2, 0, 1)[None].astype(np.float32)}
    native = run_onnx(CENTERFACE_INT8_FILE, inputs, tmp_path)
    assert native.max() > 0.5  # the face is there
    np.testing.assert_array_equal(run_onnx(CENTERFACE_INT8_FILE, inputs, tmp_path, emulate_avx2=True), native)


class _NoScores:
    """A detector of your own that gives its faces no score (``Detection.score`` None): CenterFace's faces."""

    name = "no-scores"

    def __init__(self):
        self.found_by = make_detector("centerface")

    def detect(self, image_bgr, min_score=None):
        return [Detection(d.box, d.landmarks, None, d.turns) for d in self.found_by.detect(image_bgr, min_score)]


def test_faces_without_a_score_are_ranked_below_scored_ones_and_read_everywhere(astronaut_rgb, face_clip):
    """`Detection.score` may be None (your own detector's), but readers compared it: `labelled_faces` raised
    TypeError, and a video analysed with such a detector stopped at its first face ("float() argument must be ...
    not 'NoneType'"). Such a face ranks below a scored one, counts as a face, and its score stays None."""
    from fervid.inference.analyzer import Analyzer
    from fervid.inference.detect import score_rank

    scored, unscored = Detection((0, 0, 9, 9), (), 0.1), Detection((0, 0, 9, 9), (), None)
    assert max([unscored, scored], key=score_rank) is scored and score_rank(unscored) < score_rank(scored)
    analyzer = Analyzer(detector=_NoScores(), threads=1)
    bgr = np.ascontiguousarray(astronaut_rgb[:, :, ::-1])
    two = np.hstack([bgr, bgr])
    for image in (bgr, np.ascontiguousarray(np.rot90(bgr))):  # (on its side: the turns are tried, and compared)
        [face] = analyzer.analyze_bgr(image).faces
        assert face.detection_score is None and face.emotion == "happy"
    crops, faces = analyzer.labelled_faces([bgr, two])
    assert faces.tolist() == [1, 2] and crops.shape == (2, 48, 48) and crops.any(axis=(1, 2)).all()
    result = analyzer.analyze_video(face_clip, method="frame", annotate=False, sample_fps=2)
    assert result.error is None
    table = result.frame_table()
    assert len(table) and table["detection_score"].isna().all()
