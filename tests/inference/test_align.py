import cv2
import numpy as np
import pytest

from fervid.inference.align import (FaceTemplate, Normalization, box_alignment_matrix, crop_face, eye_alignment_matrix,
                                    dark_levels_table, face_alignment, landmarks_frame_a_face, preprocess_faces,
                                    stretch_dark_levels, turned_points, upright_eyes)


def _dots_image(left, right, size=(300, 400)):
    img = np.zeros(size, np.uint8)
    for x, y in (left, right):
        cv2.circle(img, (int(round(x)), int(round(y))), 3, 255, -1)
    return img


@pytest.mark.parametrize("angle_deg,eye_dist", [(0, 60), (25, 90), (-40, 30)])
def test_eyes_land_on_the_template_level_and_at_fixed_distance(angle_deg, eye_dist):
    template = FaceTemplate()
    centre = np.array([200.0, 150.0])
    a = np.radians(angle_deg)
    half = np.array([np.cos(a), np.sin(a)]) * eye_dist / 2
    left, right = centre - half, centre + half
    crop = crop_face(_dots_image(left, right), (tuple(left), tuple(right)), template)
    assert crop.shape == (48, 48)
    # find the two blobs in the crop and compare their centroids with the template
    _, _, _, centroids = cv2.connectedComponentsWithStats((crop > 60).astype(np.uint8))
    blobs = sorted(centroids[1:].tolist())
    assert len(blobs) == 2
    np.testing.assert_allclose(blobs[0], template.left_eye, atol=1.0)
    np.testing.assert_allclose(blobs[1], template.right_eye, atol=1.0)


def test_alignment_matrix_maps_eyes_exactly():
    m = eye_alignment_matrix((10.0, 20.0), (50.0, 40.0))
    pts = np.array([[10.0, 20.0, 1.0], [50.0, 40.0, 1.0]]) @ m.T
    t = FaceTemplate()
    np.testing.assert_allclose(pts, [t.left_eye, t.right_eye], atol=1e-4)


def test_already_cropped_faces_pass_through_and_normalise():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    norm = Normalization.fit(faces)
    crops, x = preprocess_faces(faces, norm)
    np.testing.assert_array_equal(crops, faces)  # FER2013 crops are not moved
    assert x.shape == (5, 1, 48, 48) and x.dtype == np.float32
    # local mean removed, then the global mean image: the batch averages to zero per pixel, unit spread
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
    assert x.std() == pytest.approx(1.0, rel=1e-3)
    # a brighter copy of an image normalises identically (local mean subtraction)
    _, shifted = preprocess_faces(np.clip(faces.astype(int) + 0, 0, 255).astype(np.uint8) // 2 + 50, norm)
    _, halved = preprocess_faces(faces // 2, norm)
    np.testing.assert_allclose(shifted, halved, atol=1e-5)


def test_a_faces_network_input_does_not_depend_on_the_other_faces_beside_it(astronaut_rgb):
    """Each face's own mean is taken off it, not the batch's: a face in a group photo, or a frame's face among
    others in a video's batch, is read the same whoever else is in the picture, however bright (the existing check
    brightened every face of a batch alike, so a mean over the whole batch passed it)."""
    from fervid.inference.models import ModelConfig, resolve_model_dir

    norm = ModelConfig.load(resolve_model_dir("ferplus_vgg") / "config.json").normalization
    grey = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY)
    face = cv2.resize(grey[30:230, 130:320], (48, 48), interpolation=cv2.INTER_AREA)
    other = cv2.resize(grey[0:300, 300:512], (48, 48), interpolation=cv2.INTER_AREA)  # her shoulder and the flag
    _, alone = preprocess_faces([face], norm)
    for beside in (other, np.clip(other.astype(int) + 120, 0, 255).astype(np.uint8), other // 4):
        _, both = preprocess_faces([face, beside], norm)
        np.testing.assert_array_equal(both[0], alone[0])
        np.testing.assert_array_equal(both[1], preprocess_faces([beside], norm)[1][0])


def test_normalization_round_trips_through_json():
    faces = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    norm = Normalization.fit(faces)
    again = Normalization.from_dict(norm.to_dict())
    np.testing.assert_allclose(again(faces), norm(faces), atol=1e-4)


def test_a_large_face_is_blurred_only_where_the_crop_reads_with_the_same_result(astronaut_rgb):
    """Before shrinking a large face the crop blurs against aliasing; it blurs just the region the crop samples
    (a whole 1080p frame cost ~10 ms a face). The crop must match the whole-frame blur, faces at the edges too."""
    grey = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY), (1920, 1080))
    template = FaceTemplate()
    rng = np.random.default_rng(0)
    for _ in range(40):
        eye_distance, angle = rng.uniform(60, 500), rng.uniform(-0.4, 0.4)
        cx, cy = rng.uniform(-100, 2020), rng.uniform(-100, 1180)  # some crops hang over the frame's edges
        half = eye_distance / 2 * np.array([np.cos(angle), np.sin(angle)])
        eyes = (tuple(np.array([cx, cy]) - half), tuple(np.array([cx, cy]) + half))
        matrix = eye_alignment_matrix(*eyes, template)
        sigma = 0.5 / float(np.hypot(matrix[0, 0], matrix[0, 1])) * 0.6
        whole_frame = cv2.warpAffine(cv2.GaussianBlur(grey, (0, 0), sigmaX=sigma), matrix, (template.size,) * 2,
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        crop = crop_face(grey, eyes, template)
        # fixed-point resampling of the shifted matrix may round a rare pixel the other way
        assert np.abs(crop.astype(int) - whole_frame).max() <= 1
        assert (crop != whole_frame).mean() < 0.1


# a frontal face's 5 landmarks (eyes, nose, mouth corners) in pixels: eyes 40 px apart, mouth 40 px below them
FRONTAL = ((100.0, 100.0), (140.0, 100.0), (120.0, 120.0), (106.0, 140.0), (134.0, 140.0))


def _turned(points, degrees, centre=(120.0, 120.0)):
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return tuple(map(tuple, (np.asarray(points) - centre) @ rot.T + centre))


@pytest.mark.parametrize("degrees", [0, 20, -35])
def test_a_frontal_faces_landmarks_frame_a_face_when_tilted(degrees):
    assert landmarks_frame_a_face(_turned(FRONTAL, degrees))


@pytest.mark.parametrize("landmarks,why", [
    (_turned(FRONTAL, 180), "upside down: the mouth above the eyes"),
    (((117.0, 100.0), (123.0, 101.0), (120.0, 120.0), (110.0, 140.0), (130.0, 140.0)), "eyes collapsed together"),
    (((100.0, 100.0), (140.0, 100.0), (120.0, 120.0), (136.0, 140.0), (160.0, 140.0)), "mouth far to one side"),
    (((100.0, 100.0), (100.0, 100.0), (120.0, 120.0), (106.0, 140.0), (134.0, 140.0)), "one point for both eyes"),
])
def test_landmarks_that_are_not_a_faces_are_recognised(landmarks, why):
    assert not landmarks_frame_a_face(landmarks), why


def test_a_face_is_framed_on_its_eyes_unless_its_landmarks_are_not_a_faces():
    template = FaceTemplate().for_detector(None, (4.0, 2.0, 44.0, 47.0))
    box = (90.0, 70.0, 60.0, 90.0)
    np.testing.assert_allclose(face_alignment(FRONTAL, box, template),
                               eye_alignment_matrix(FRONTAL[0], FRONTAL[1], template))
    upside_down = _turned(FRONTAL, 180)
    on_box = face_alignment(upside_down, box, template)
    np.testing.assert_allclose(on_box, box_alignment_matrix(box, template))
    # the box lands on the template's box: its centre on the centre, its area on the area
    corners = np.array([[90.0, 70.0, 1.0], [150.0, 160.0, 1.0]]) @ on_box.T
    np.testing.assert_allclose(corners.mean(0), [24.0, 24.5], atol=1e-4)
    assert np.prod(corners[1] - corners[0]) == pytest.approx(40.0 * 45.0, rel=1e-4)
    # without a box template (a detector that did not measure one) every face is framed on its eyes, as before
    np.testing.assert_allclose(face_alignment(upside_down, box, FaceTemplate()),
                               eye_alignment_matrix(*sorted(upside_down[:2]), FaceTemplate()))
    with pytest.raises(ValueError, match="empty box"):
        box_alignment_matrix((1.0, 1.0, 0.0, 5.0), template)


def test_an_upside_down_face_is_cropped_whole_from_its_box(astronaut_rgb):
    """CenterFace finds the astronaut upside down but puts her eyes together (landmarks that are not a face's).
    Framed on those eyes, the crop showed a fragment of her face; framed on the box it is her face, upside down:
    turned back, it matches her upright crop."""
    import fervid

    analyzer = fervid.Analyzer()
    bgr = np.ascontiguousarray(astronaut_rgb[:, :, ::-1])
    upright = analyzer.analyze_bgr(bgr)
    assert len(upright) == 1 and landmarks_frame_a_face(upright[0].landmarks)
    turned = np.ascontiguousarray(bgr[::-1, ::-1])
    (detection,) = analyzer.detector.detect(turned)
    assert not landmarks_frame_a_face(detection.landmarks)
    grey = cv2.cvtColor(turned, cv2.COLOR_BGR2GRAY)
    crop = analyzer.crop_detection(grey, detection)[::-1, ::-1].astype(float)
    on_eyes = crop_face(grey, detection.eyes, analyzer.template)[::-1, ::-1].astype(float)
    reference = upright[0].crop.astype(float)

    def similarity(a, b):
        return np.corrcoef(a.ravel(), b.ravel())[0, 1]

    assert similarity(crop, reference) > 0.7
    assert similarity(on_eyes, reference) < 0.5


@pytest.mark.parametrize("quarters", [1, 2, 3])
def test_a_face_lying_on_its_side_or_upside_down_is_read_upright(astronaut_rgb, quarters):
    """CenterFace finds the astronaut turned a quarter, half or three quarters, with landmarks that are not a
    face's; framed on her box, she was read sideways or upside down (the carphone man turned a quarter read 89%
    happy). Stood upright (fervid.inference.detect.stand_upright), her crop is her upright crop, and she is happy."""
    import fervid

    analyzer = fervid.Analyzer()
    bgr = np.ascontiguousarray(astronaut_rgb[:, :, ::-1])
    (upright,) = analyzer.analyze_bgr(bgr)
    assert analyzer.detect(bgr)[0].turns == 0
    lying = np.ascontiguousarray(np.rot90(bgr, quarters))
    (found,) = analyzer.detector.detect(lying)
    assert not landmarks_frame_a_face(found.landmarks)
    (stood,) = analyzer.detect(lying)
    assert stood.turns == 4 - quarters and stood.box == found.box
    (face,) = analyzer.analyze_bgr(lying)
    assert np.corrcoef(face.crop.ravel(), upright.crop.ravel())[0, 1] > 0.9
    assert face.emotion == upright.emotion == "happy"


@pytest.mark.parametrize("turns", [-3, -1, 0, 1, 2, 3, 5])
def test_turned_points_land_where_numpy_rot90_puts_their_pixels(turns):
    """In continuous coordinates, as the detectors give them: a pixel's centre is its index + 0.5."""
    image = np.zeros((5, 7), np.uint8)
    image[1, 4] = 1
    row, col = np.argwhere(np.rot90(image, turns))[0]
    np.testing.assert_allclose(turned_points([(4.5, 1.5)], turns, image.shape), [[col + 0.5, row + 0.5]])
    # and back: the turned image turned the other way
    np.testing.assert_allclose(turned_points([[col + 0.5, row + 0.5]], -turns, np.rot90(image, turns).shape),
                               [[4.5, 1.5]])
    # a pixel's corner lands on the corner of the same pixel turned: the image's own corners stay its corners
    corners = turned_points([(0, 0), (7, 5)], turns, image.shape)
    turned_height, turned_width = np.rot90(image, turns).shape
    assert sorted(map(tuple, corners.tolist())) in ([(0.0, turned_height), (turned_width, 0.0)],
                                                    [(0.0, 0.0), (turned_width, turned_height)])


@pytest.mark.parametrize("quarters", [1, 2, 3])
def test_landmarks_of_a_face_stood_upright_frame_a_face_and_its_eyes_in_order(quarters):
    """A frontal face's landmarks on the image turned ``quarters`` are a face's once turned back; the eyes, left
    and right of the upright face, are the turned face's own, and its crop comes out upright."""
    shape = (240, 320)
    lying = turned_points(FRONTAL, quarters, shape)
    back = 4 - quarters
    assert landmarks_frame_a_face(lying, back)
    assert not landmarks_frame_a_face(lying, back + 2)  # turned the wrong way: upside down
    np.testing.assert_allclose(upright_eyes(lying, back), lying[:2])
    template = FaceTemplate()
    eyes_in_crop = np.c_[lying[:2], np.ones(2)] @ face_alignment(lying, (0, 0, 1, 1), template, back).T
    np.testing.assert_allclose(eyes_in_crop, [template.left_eye, template.right_eye], atol=1e-4)


def test_only_a_dark_picture_has_its_levels_stretched():
    rng = np.random.default_rng(0)
    bright = rng.integers(0, 256, (60, 80, 3), np.uint8)
    assert dark_levels_table(bright) is None and stretch_dark_levels(bright) is bright
    dim = (bright // 4).astype(np.uint8)  # at most 63: dark
    stretched = stretch_dark_levels(dim)
    assert stretched.shape == dim.shape and stretched.max() == 255 and stretched.min() == 0
    assert np.corrcoef(stretched.ravel(), dim.ravel())[0, 1] > 0.99  # the same picture, brighter
    # a few hot pixels do not stop a dark picture from being stretched
    dim[:2, :2] = 255
    assert dark_levels_table(dim) is not None
    # a picture of a few levels is stretched as one of 8, not blown up into noise
    faint = np.zeros((60, 80), np.uint8)
    faint[::3, ::2] = 5
    assert stretch_dark_levels(faint).max() <= 5 * 255 // 8 + 1
    # a black frame (a video's leader) is blank, not dark: left as it is (it was counted as a dark frame)
    black = np.full((60, 80, 3), 16, np.uint8)
    black[::7, ::5] = 17
    assert dark_levels_table(black) is None and stretch_dark_levels(black) is black
