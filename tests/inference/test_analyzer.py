import asyncio
import io
import json
import re
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import FACE_CLIP_FPS, FACE_CLIP_FRAMES, needs_sample_clip

import fervid
from fervid import EMOTIONS, Analyzer, Face, OptionError
from fervid.samples import ASTRONAUT_FILE


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer()


def test_astronaut_is_one_happy_face(analyzer, astronaut_png):
    faces = analyzer.analyze_image(astronaut_png)
    assert len(faces) == 1
    face = faces[0]
    assert isinstance(face, Face)
    assert face.emotion == "happy"
    assert len(face.probabilities) == len(EMOTIONS) and sum(face.probabilities) == pytest.approx(1, abs=1e-4)
    assert face.feature.shape == (512,) and face.crop.shape == (48, 48)
    assert len(face.landmarks) == 5 and face.detection_score > 0.8


def test_a_faces_probabilities_do_not_depend_on_the_other_faces_classified_with_it(analyzer, astronaut_png):
    """The faces of a photo (and a video's batch of frames) are classified together: each face's probabilities must
    be what it gets alone, however bright or dark the others are (one mean over the whole batch changed them)."""
    face = analyzer.analyze_image(astronaut_png)[0].crop
    alone = analyzer.classify_crops(face[None])
    mirrored = face[:, ::-1]  # another face; then brighter and darker, as a group photo's faces in sun and shade
    for other in (mirrored, np.clip(mirrored.astype(int) + 120, 0, 255).astype(np.uint8), mirrored // 4):
        both = analyzer.classify_crops(np.stack([face, other]))
        np.testing.assert_array_equal(both.probabilities[0], alone.probabilities[0])
        np.testing.assert_array_equal(both.features[0], alone.features[0])


def test_shipped_int8_default_agrees_with_the_fp32_model(analyzer, astronaut_png):
    assert analyzer.cnn.precision == "int8"  # the shipped folder has an int8 model: the fast path is the default
    exact = Analyzer(precision="fp32")
    assert exact.cnn.precision == "fp32"
    fast_face, exact_face = analyzer.analyze_image(astronaut_png)[0], exact.analyze_image(astronaut_png)[0]
    assert fast_face.emotion == exact_face.emotion == "happy"
    np.testing.assert_allclose(fast_face.probabilities, exact_face.probabilities, atol=0.1)
    cosine = float(fast_face.feature @ exact_face.feature /
                   (np.linalg.norm(fast_face.feature) * np.linalg.norm(exact_face.feature)))
    assert cosine > 0.95
    with pytest.raises(ValueError, match="precision"):
        Analyzer(precision="int4")


def test_path_pil_and_numpy_inputs_agree(analyzer, astronaut_png, astronaut_rgb):
    by_path = analyzer.analyze_image(astronaut_png)[0]
    by_pil = analyzer.analyze_image(Image.open(astronaut_png))[0]
    by_rgb = analyzer.analyze_image(astronaut_rgb)[0]
    by_bgr = analyzer.analyze_image(astronaut_rgb[:, :, ::-1].copy(), bgr=True)[0]
    by_bytes = analyzer.analyze_image(astronaut_png.read_bytes())[0]
    by_0_255_float = analyzer.analyze_image(astronaut_rgb.astype(np.float32))[0]
    with open(astronaut_png, "rb") as stream:
        opened = analyzer.analyze_image(stream)
    assert opened.source == str(astronaut_png)
    for other in (by_pil, by_rgb, by_bgr, by_bytes, by_0_255_float, opened[0]):
        assert other.box == by_path.box
        np.testing.assert_allclose(other.probabilities, by_path.probabilities, atol=1e-5)


def test_image_without_face_gives_no_faces(analyzer):
    from skimage import data

    result = analyzer.analyze_image(data.coffee())
    assert len(result) == 0 and result.faces == [] and result.ok and result.rows() == []


def test_many_faces_numbered_from_the_left_column_by_column(analyzer, astronaut_rgb):
    face = astronaut_rgb[40:200, 150:300]  # 160 x 150 head-and-shoulders tile
    rows = [np.hstack([face] * 6), np.hstack([face[:, ::-1]] * 6)]
    grid = np.vstack(rows * 2)  # 4 x 6 = 24 faces, 640 x 900
    faces = analyzer.analyze_image(grid)
    assert len(faces) >= 20
    # from the left, column by column (150 px tiles), each column from the top
    places = [((f.box[0] + f.box[2] / 2) // 150, f.box[1]) for f in faces]
    assert places == sorted(places)
    assert sum(f.emotion == "happy" for f in faces) >= 0.8 * len(faces)


def test_max_faces_keeps_the_largest_faces_of_an_image(astronaut_rgb, face_clip):
    """A portrait with people behind: max_faces=1 keeps the person in front (the largest face), whatever its place;
    the setting is recorded with the results, and a video analysed with options asking for another is refused."""
    import cv2

    from fervid.inference.options import PipelineOptions

    face = astronaut_rgb[40:200, 150:300]
    small = cv2.resize(face, None, fx=0.6, fy=0.6)
    canvas = np.full((320, 640, 3), 200, np.uint8)
    canvas[20:20 + small.shape[0], 20:20 + small.shape[1]] = small
    canvas[100:260, 460:610] = face  # the front face, on the right
    canvas[20:20 + small.shape[0], 250:250 + small.shape[1]] = small
    assert len(Analyzer().analyze_image(canvas)) == 3
    one = PipelineOptions(max_faces=1).analyzer()
    (front,) = one.analyze_image(canvas)
    assert front.box[0] > 400 and one.settings["max_faces"] == 1
    two = PipelineOptions(max_faces=2).analyzer().analyze_image(canvas)
    assert len(two) == 2 and two[1].box[0] > 400  # still left to right
    with pytest.raises(ValueError, match="max_faces 2 .this analyzer keeps 1"):
        one.analyze_video(face_clip, options=PipelineOptions(max_faces=2))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_faces"):
            PipelineOptions(max_faces=bad)


def test_huge_image_is_analysed(analyzer, astronaut_rgb, tmp_path, monkeypatch):
    import warnings

    from fervid.inference.images import set_up_pillow_for_fervid

    big = cv2.resize(astronaut_rgb, (12000, 12000), interpolation=cv2.INTER_LINEAR)
    path = tmp_path / "huge.jpg"
    Image.fromarray(big).save(path, quality=85)
    del big
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # put back after the test
    set_up_pillow_for_fervid()  # as fervid's commands do: 144 megapixels is a photo, not a bomb
    from fervid.inference.images import ImageTooLargeError

    with pytest.raises(ImageTooLargeError, match=r"12000 x 12000 \(144 megapixels; the limit is 50"):
        analyzer.analyze_image(path)  # the API's default limit
    monkeypatch.setattr(analyzer, "max_image_pixels", None)  # as Analyzer(max_image_pixels=None) makes it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        faces = analyzer.analyze_image(path)
    assert len(faces) == 1 and faces[0].emotion == "happy"
    assert faces[0].box[2] > 1500  # reported in the original image's pixels


def test_rotated_phone_photo_is_analysed_upright(analyzer, astronaut_rgb, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(astronaut_rgb).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "p.jpg", exif=exif)
    faces = analyzer.analyze_image(tmp_path / "p.jpg")
    assert len(faces) == 1 and faces[0].emotion == "happy"


def test_a_dark_photo_is_read_on_its_levels_stretched(analyzer, astronaut_rgb):
    """The astronaut at a thirty-second of her brightness: no face was found; stretched, she is found and happy."""
    dark = np.clip(astronaut_rgb * (1 / 32) + np.random.default_rng(0).normal(0, 1.0, astronaut_rgb.shape), 0, 255)
    (face,) = analyzer.analyze_image(dark.astype(np.uint8))
    assert face.emotion == "happy"
    assert not analyzer.detector.detect(np.ascontiguousarray(dark.astype(np.uint8)[:, :, ::-1]))


def test_inference_does_not_import_torch(astronaut_png):
    code = (
        "import sys, fervid\n"
        f"faces = fervid.Analyzer().analyze_image({str(astronaut_png)!r})\n"
        "assert faces and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_api_errors_are_fervids_own_names_loaded_only_when_used():
    """An app catching an unreadable upload had to import fervid.inference.images.ImageLoadError; `import fervid`
    must stay light (no OpenCV, no ONNX Runtime) all the same."""
    code = ("import sys, fervid\n"
            "assert not {'cv2', 'onnxruntime'} & set(sys.modules), 'loaded on import'\n"
            "from fervid.inference.images import ImageLoadError\n"
            "from fervid.inference.models import ModelNotFound\n"
            "assert fervid.ImageLoadError is ImageLoadError and fervid.ModelNotFound is ModelNotFound\n"
            "assert issubclass(fervid.ImageLoadError, ValueError) and issubclass(fervid.UnknownName, ValueError)\n"
            "assert {'Analyzer', 'ImageLoadError', 'ModelError', 'DetectorUnavailable'} <= set(dir(fervid))\n"
            "try:\n"
            "    fervid.Analyzer(model='no_such_model')\n"
            "except fervid.ModelNotFound:\n"
            "    pass\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("image, message", [(None, "not NoneType"), (3, "not int"), ({}, "not dict"),
                                            ([np.zeros((9, 9, 3), np.uint8)], "each image of a list in turn")])
def test_what_is_no_kind_of_image_is_a_type_error(analyzer, image, message):
    """None, a number or a list raised ImageLoadError, a ValueError, which `except TypeError` missed."""
    with pytest.raises(TypeError, match=message):
        analyzer.analyze_image(image)


def test_an_upload_with_an_async_read_is_said_to_need_awaiting(analyzer, astronaut_png):
    """A FastAPI/Starlette UploadFile's read() is async: called, it gave "a bytes-like object is required, not
    'coroutine'" and a coroutine never awaited."""

    class Upload:  # as Starlette's UploadFile: a filename, an async read, its file object as .file
        filename = "me.png"

        def __init__(self, data: bytes):
            self.file = io.BytesIO(data)

        async def read(self, size: int = -1) -> bytes:
            return self.file.read(size)

    upload = Upload(astronaut_png.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a coroutine never awaited warns of it
        with pytest.raises(TypeError, match=re.escape("me.png: its read() is async (a FastAPI/Starlette UploadFile?)"
                                                      ": pass the bytes, `await upload.read()`, or its file object, "
                                                      "`upload.file`")):
            analyzer.analyze_image(upload)
    assert upload.file.tell() == 0  # nothing read
    assert analyzer.analyze_image(upload.file)[0].emotion == "happy"  # as it says
    upload.file.seek(0)
    assert analyzer.analyze_image(asyncio.run(upload.read()))[0].emotion == "happy"


def test_help_says_threads_pickling_and_what_a_web_endpoint_returns(analyzer, astronaut_png):
    """A web service's author reads help(fervid.Analyzer): returning a result from FastAPI or Flask failed with
    cryptic errors (each face holds numpy arrays), and nothing said what threads and processes may do."""
    import fervid

    said = " ".join(fervid.Analyzer.__doc__.split())
    for part in ("Threads may share one analyzer", "one thread at a time", "default 2, or fewer under a CPU affinity "
                 "or ``OMP_NUM_THREADS``", "cannot be pickled", "A web endpoint returns ``result.to_dict()``",
                 'README: "Python API: errors, types, threads and processes"'):
        assert part in said
    encoders = pytest.importorskip("fastapi.encoders")
    result = analyzer.analyze_image(astronaut_png)
    with pytest.raises(ValueError):  # what returning the result itself gives
        encoders.jsonable_encoder(result)
    assert encoders.jsonable_encoder(result.to_dict())["faces"][0]["emotion"] == "happy"
    assert json.loads(json.dumps(result.rows()))[0]["emotion"] == "happy"


def test_bgr_must_be_a_bool(analyzer, astronaut_rgb):
    """bgr="no" was taken as true: the channels swapped without a word. Refused as every setting is, with fervid's
    OptionError (it was a plain TypeError, unlike the others)."""
    for flag in ("bgr", "face_crop"):
        with pytest.raises(OptionError, match=f"{flag}: .*, not 'yes'"):
            analyzer.analyze_image(astronaut_rgb, **{flag: "yes"})
    assert len(analyzer.analyze_image(astronaut_rgb[:, :, ::-1].copy(), bgr=np.bool_(True))) == 1


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # (Pillow's, as it opens the file)
def test_an_image_over_the_analyzers_pixel_limit_is_refused_before_it_is_decoded(analyzer, astronaut_png):
    """A 97 KB PNG declaring 10000 x 10000 took 1.5 GB and 14 s in analyze_image: the API had no pixel limit of its
    own (the server's is 50 megapixels). Every kind of input is held to the analyzer's max_image_pixels."""
    from fervid.inference.images import ImageTooLargeError

    buffer = io.BytesIO()
    Image.new("L", (10_000, 10_000)).save(buffer, "PNG")  # 100 megapixels, some 100 KB compressed
    bomb = buffer.getvalue()
    assert len(bomb) < 200_000
    with pytest.raises(ImageTooLargeError, match=r"image bytes: image too large: 10000 x 10000 \(100 megapixels; "
                                                 r"the limit is 50, the Analyzer's max_image_pixels\)"):
        analyzer.analyze_image(bomb)
    small = Analyzer(max_image_pixels=512 * 512 - 1)  # the astronaut is 512 x 512
    assert small.max_image_pixels == 512 * 512 - 1 and "max_image_pixels=262143" in repr(small)
    png = astronaut_png.read_bytes()
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    inputs = {"image bytes": png, "image stream": io.BytesIO(png), str(astronaut_png): astronaut_png,
              "PIL image": Image.fromarray(rgb), "numpy image": rgb}
    for name, image in inputs.items():
        with pytest.raises(ImageTooLargeError, match=re.escape(f"{name}: image too large: 512 x 512")) as refused:
            small.analyze_image(image)
        assert refused.value.limit_megapixels == pytest.approx(0.262143)
    with pytest.raises(ImageTooLargeError, match="image too large: 512 x 512"):
        small.stream(fps=25).push(rgb)
    from fervid.inference.options import PipelineOptions

    assert len(PipelineOptions(max_image_pixels=None).analyzer().analyze_image(rgb)) == 1  # None: no limit
    assert PipelineOptions(max_image_pixels=512 * 512).analyzer().max_image_pixels == 512 * 512
    with pytest.raises(OptionError, match="max_image_pixels must be a positive number of pixels, not 0"):
        Analyzer(max_image_pixels=0)


def test_a_closed_file_is_said_to_be_closed(analyzer, tmp_path):
    """A closed file object raised a bare ValueError ("I/O operation on closed file"), and a PIL image opened from
    one "corrupt image (seek of closed file)": both name the input and say it is closed."""
    from fervid.inference.images import ImageLoadError

    with open(ASTRONAUT_FILE, "rb") as file:
        pil = Image.open(file)  # not yet decoded: it reads the file when analysed
    with pytest.raises(ImageLoadError, match=re.escape(f"{ASTRONAUT_FILE}: the file object is closed")):
        analyzer.analyze_image(file)
    with pytest.raises(ImageLoadError, match=re.escape(f"{ASTRONAUT_FILE}: the file object it was opened from is "
                                                       "closed")):
        analyzer.analyze_image(pil)
    with open(ASTRONAUT_FILE, "rb") as file:
        loaded = Image.open(file)
        loaded.load()  # decoded while open: closing the file afterwards changes nothing
    assert len(analyzer.analyze_image(loaded)) == 1
    stream = io.BytesIO(ASTRONAUT_FILE.read_bytes())
    stream.close()
    with pytest.raises(ImageLoadError, match="image stream: the file object is closed"):
        analyzer.analyze_image(stream)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_a_thread_count_below_one_is_refused_not_read_as_every_core(threads):
    with pytest.raises(ValueError, match="threads must be a whole number"):
        Analyzer(threads=threads)


@pytest.mark.parametrize("setting, value, message", [
    ("min_face", "48", "min_face: input should be a valid number, not '48'"),  # TypeError: ufunc 'isfinite' ...
    ("score_threshold", "0.5", "score_threshold: input should be a valid number, not '0.5'"),  # '<=' not supported
    ("keep_features", "no", "keep_features: input should be a valid boolean, not 'no'"),  # taken as true
    ("keep_features", 1, "keep_features: input should be a valid boolean, not 1"),
    ("model", 3, "model: input should be a valid string, not 3"),  # expected str, bytes or os.PathLike object
])
def test_an_analyzers_settings_of_the_wrong_type_are_option_errors_naming_them(setting, value, message):
    """The options' checks: an Analyzer made with a setting of the wrong type failed inside numpy, in a comparison
    (naming no setting), or took keep_features="no" as true."""
    with pytest.raises(OptionError, match=f"^{re.escape(message)}$"):
        Analyzer(**{setting: value})


def test_an_analyzers_numpy_settings_are_taken_as_the_numbers_they_hold():
    analyzer = Analyzer(min_face=np.float32(32), max_faces=np.int64(2), keep_features=np.bool_(False))
    assert analyzer.settings["min_face"] == 32.0 and type(analyzer.max_faces) is int
    assert analyzer.keep_features is False and analyzer.analyze_image(ASTRONAUT_FILE)[0].feature is None


def test_an_analyzers_temporal_lstm_must_read_its_cnns_features():
    """Analyzer.temporal_lstm('temporal_lstm_fer2013_vgg') on a ferplus_vgg analyzer gave that LSTM without a word,
    whose predictions on ferplus_vgg's features mean nothing: VideoAnalyzer and the CLI refuse it, and so does it."""
    from fervid.inference.models import ModelError

    analyzer = Analyzer(threads=1)
    with pytest.raises(ModelError, match="trained on the features of CNN 'fer2013_vgg', not 'ferplus_vgg'"):
        analyzer.temporal_lstm("temporal_lstm_fer2013_vgg")
    assert analyzer.temporal_lstm("temporal_lstm_ferplus_vgg") is analyzer.temporal_lstm()


def test_an_analyzer_prints_what_it_runs():
    """A notebook cell ending in `analyzer` printed <fervid.inference.analyzer.Analyzer object at 0x7f...>."""
    assert repr(Analyzer(precision="fp32", threads=1)) == ("Analyzer(model='ferplus_vgg', detector='centerface', "
                                                           "precision='fp32', threads=1)")
    assert repr(Analyzer(detector="centerface_fp32")).startswith("Analyzer(model='ferplus_vgg', "
                                                                 "detector='centerface_fp32', precision='int8', "
                                                                 "threads=")
    # what changes an image's analysis besides, where not the default (face_crops was not shown)
    assert repr(Analyzer(precision="fp32", threads=1, face_crops=True, max_faces=2)) == (
        "Analyzer(model='ferplus_vgg', detector='centerface', precision='fp32', threads=1, face_crops=True, "
        "max_faces=2)")


def test_threads_bound_both_networks():
    analyzer = Analyzer(threads=1)
    for session in (analyzer.cnn.session, analyzer.detector.session):
        assert session.get_session_options().intra_op_num_threads == 1


def test_analyze_video_takes_the_pipeline_options_its_analyzer_was_made_from(tmp_path, face_clip):
    """README: the API takes PipelineOptions. Options naming another model than the analyzer runs are refused,
    not ignored (the results would name a model that did not run)."""
    from fervid.inference.options import PipelineOptions

    options = PipelineOptions(method="mean", sample_fps=2)
    result = options.analyzer().analyze_video(face_clip, options=options)
    assert result.method == "mean" and 0 < len(result.frame_table()) <= 2 * FACE_CLIP_FRAMES / FACE_CLIP_FPS + 2
    with pytest.raises(ValueError, match="model 'fer2013_vgg'.*options.analyzer()"):
        Analyzer().analyze_video(face_clip, options=PipelineOptions(model="fer2013_vgg"))
    with pytest.raises(TypeError, match=r"options.analyzer\(\)"):
        Analyzer(PipelineOptions())


def test_a_detector_object_with_settings_it_would_ignore_is_refused(analyzer):
    from fervid.inference.detect import make_detector

    own = make_detector("centerface", score_threshold=0.9)
    with pytest.raises(ValueError, match="this detector object was made with its own"):
        Analyzer(detector=own, score_threshold=0.1)  # settings said 0.9 ran, with no word
    with pytest.raises(TypeError, match="detect\\(image_bgr\\) method, not 42"):
        Analyzer(detector=42)
    assert Analyzer(detector=own).settings["score_threshold"] == 0.9


def test_numpy_numbers_from_a_detector_of_ones_own_still_write_json(analyzer, astronaut_rgb):
    import json

    face = analyzer.analyze_image(astronaut_rgb)[0]
    face.box = tuple(np.float32(v) for v in face.box)
    face.detection_score = np.float32(face.detection_score)
    face.landmarks = tuple((np.float32(x), np.float32(y)) for x, y in face.landmarks)
    assert json.loads(json.dumps(face.to_dict()))["box"]["width"] == round(float(face.box[2]), 1)


@pytest.mark.parametrize("image", [np.zeros((0, 0, 3), np.uint8), [[0]], np.zeros((8, 8), np.uint8)])
def test_analyze_bgr_names_what_it_takes(analyzer, image):
    from fervid.inference.images import ImageLoadError

    with pytest.raises(ImageLoadError, match=r"BGR uint8 array \(H, W, 3\).*analyze_image reads any other"):
        analyzer.analyze_bgr(image)


def test_analyze_video_says_what_it_takes(analyzer, face_clip):

    with pytest.raises(TypeError, match=r"give its path, not bytes \(write the data to a file first\)"):
        analyzer.analyze_video(face_clip.read_bytes())
    with pytest.raises(TypeError, match="single settings go as keywords"):
        analyzer.analyze_video(face_clip, options={"method": "mean"})


def test_analyze_videos_warnings_name_its_keywords_and_one_filter_silences_them(analyzer, face_clip):
    """analyze_video(path, window=0.05, method="mean") warned "--method mean has nothing to smooth ... a longer
    --window lets it smooth", and with sample_fps=2 "use --method frame or --sample-fps 4 or more": flags, which a
    Python caller has none of; and as plain UserWarnings said at the caller's line, which neither a category nor
    ``module="fervid"`` could filter."""
    with pytest.warns(fervid.FervidWarning) as said:
        analyzer.analyze_video(face_clip, window=0.05, method="mean")
        analyzer.analyze_video(face_clip, sample_fps=2)  # the LSTM, its frames 0.5 s apart
    messages = [str(w.message) for w in said]
    assert any(m.endswith('method="mean" has nothing to smooth and gives each frame\'s own labels, as '
                          'method="frame" does; a longer window lets it smooth')  # (every frame analysed)
               for m in messages), messages
    assert any(m.endswith('use method="frame" or sample_fps=4 or more') for m in messages), messages
    assert not any("--" in m for m in messages), messages
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=fervid.FervidWarning)
        analyzer.analyze_video(face_clip, window=0.05, method="mean")
        analyzer.analyze_video(face_clip, sample_fps=2)
    assert not [w for w in caught if "smooth" in str(w.message) or "learnt" in str(w.message)]


def test_analyze_video_says_where_an_analyzer_setting_goes(analyzer, face_clip):
    """analyze_video(path, max_faces=1) failed in VideoOptions.__init__ with no word of where max_faces belongs."""

    with pytest.raises(TypeError, match=r"max_faces is a setting of the Analyzer.*fervid.Analyzer\(max_faces=1\)"):
        analyzer.analyze_video(face_clip, max_faces=1)
    with pytest.raises(TypeError, match=r"min_face is a setting of the Analyzer.*PipelineOptions\(min_face=64\)"):
        analyzer.analyze_video(face_clip, method="mean", min_face=64)
    with pytest.raises(TypeError, match="unexpected keyword argument 'windw'; its video settings are detect_every, "
                                        "window, sample_fps, method"):
        analyzer.analyze_video(face_clip, windw=0.5)


def test_analyze_image_is_annotated_with_the_inputs_it_reads():
    import os
    import typing

    from fervid.inference.images import BinaryFile

    accepted = typing.get_args(typing.get_type_hints(Analyzer.analyze_image)["image"])
    assert set(accepted) == {str, os.PathLike[str], Image.Image, np.ndarray, bytes, bytearray, memoryview, BinaryFile}


def test_the_video_api_is_exported_by_name():
    """README names VideoOptions next to PipelineOptions, but fervid.VideoOptions raised AttributeError; the result,
    its rows and the video error had to be imported from fervid.inference.video."""
    import fervid
    from fervid.inference import video

    for name in ("VideoOptions", "VideoResult", "FrameFace", "VideoError"):
        assert getattr(fervid, name) is getattr(video, name) and name in dir(fervid)
    assert issubclass(fervid.VideoError, ValueError)


def test_the_lazy_analyzer_is_listed_for_tab_completion():
    """Tab completion offers the API; it offered fervid's own helpers too (importlib, Any, TYPE_CHECKING)."""
    import fervid

    assert "Analyzer" in dir(fervid) and "EMOTIONS" in dir(fervid) and "__version__" in dir(fervid)
    assert not {"importlib", "Any", "TYPE_CHECKING", "annotations"} & set(dir(fervid))


def test_labelled_faces_counts_the_faces_a_labelled_photo_holds(analyzer, astronaut_rgb):
    """A photo labelled with one person's emotion that holds two faces cannot say which one the label is about:
    the count (a face at the detector's own threshold beside the most confident one) lets a dataset leave it out."""
    from skimage import data

    head = astronaut_rgb[40:200, 150:300]
    two = np.hstack([head, np.full_like(head, 90), head[:, ::-1]])
    crops, faces = analyzer.labelled_faces([cv2.cvtColor(img, cv2.COLOR_RGB2BGR) for img in (head, two, data.coffee())])
    assert faces.tolist() == [1, 2, 0] and crops.shape == (3, 48, 48) and not crops[2].any()
    # the crop is the one crop_faces frames, and crop_faces still says found or not
    mask_crops, found = analyzer.crop_faces([cv2.cvtColor(head, cv2.COLOR_RGB2BGR)])
    assert found.dtype == bool and found.tolist() == [True]
    np.testing.assert_array_equal(mask_crops[0], crops[0])


def test_settings_record_the_temperature_the_probabilities_were_made_at(tmp_path):
    """A recalibrated copy of a model gives other probabilities under the same name: results that do not say its
    temperature cannot be told from the shipped model's."""
    import json
    import shutil

    from fervid.inference.models import resolve_model_dir

    copy = tmp_path / "model"
    shutil.copytree(resolve_model_dir("ferplus_vgg"), copy)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    (copy / "config.json").write_text(json.dumps(config | {"temperature": 2.5}), encoding="utf-8")
    assert Analyzer(copy).settings["temperature"] == 2.5
    assert Analyzer().settings["temperature"] == float(config.get("temperature", 1.0))


def test_results_name_the_weights_file_that_ran_and_the_versions(analyzer, astronaut_png):
    """A methods section needs what made the numbers: results named the model but no weights digest and no
    versions, and the digest recorded elsewhere was the float model.onnx's although its int8 copy ran."""
    import json

    import onnxruntime

    import fervid
    from fervid.inference.models import file_sha256, resolve_model_dir
    from fervid.inference.records import images_document

    folder = resolve_model_dir("ferplus_vgg")
    doc = json.loads(json.dumps(images_document([analyzer.analyze_image(astronaut_png)], analyzer.settings)))
    assert doc["model"] == "ferplus_vgg" and doc["precision"] == "int8"
    assert doc["weights_file"] == "model_int8.onnx"
    assert doc["weights_sha256"] == file_sha256(folder / "model_int8.onnx") != file_sha256(folder / "model.onnx")
    assert doc["fervid"] == fervid.__version__ and doc["onnxruntime"] == onnxruntime.__version__
    exact = Analyzer(precision="fp32").settings  # the float model, when it is the one that runs
    assert (exact["weights_file"], exact["weights_sha256"]) == ("model.onnx", file_sha256(folder / "model.onnx"))


def test_faces_in_a_grid_are_numbered_column_by_column_not_by_a_pixel_of_jitter(analyzer, astronaut_rgb):
    """A call's gallery of participants: faces were numbered by their boxes' left edges alone, so which of a
    column's faces came first depended on a pixel of jitter (a column's four tiles became tracks 2, 4, 1, 3). A
    column is numbered from the top, the columns from the left."""
    from fervid.inference.detect import left_to_right
    from fervid.inference.track import FaceTracker

    tile = cv2.resize(np.ascontiguousarray(astronaut_rgb[20:260, 110:350]), (200, 200))
    grid = np.full((3 * 220, 3 * 220, 3), 40, np.uint8)
    jitter = [[3, 0, 2], [0, 4, 1], [5, 2, 0]]  # each tile a few pixels off its column's line
    for row in range(3):
        for col in range(3):
            x, y = col * 220 + 10 - jitter[row][col], row * 220 + 10
            grid[y:y + 200, x:x + 200] = tile
    faces = analyzer.analyze_image(grid)
    assert len(faces) == 9
    cells = [(round(f.box[0] / 220 - 0.1), round(f.box[1] / 220 - 0.1)) for f in faces]
    assert cells == [(col, row) for col in range(3) for row in range(3)], cells
    # a video's faces first seen together are numbered so too
    tracker = FaceTracker()
    bgr = np.ascontiguousarray(grid[:, :, ::-1])
    tracked = tracker.update(0, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), analyzer.detect(bgr))
    by_track = sorted(tracked, key=lambda t: t.track_id)
    assert [(round(t.detection.box[0] / 220 - 0.1), round(t.detection.box[1] / 220 - 0.1)) for t in by_track] == cells
    # faces side by side stay left to right: only a face's own column is read from the top
    assert left_to_right([f for f in reversed(analyzer.detect(bgr))]) == left_to_right(analyzer.detect(bgr))


class Cancelled(Exception):
    """An application's own way to cancel, raised from its progress callback."""


@needs_sample_clip
def test_an_exception_of_the_callers_progress_callback_is_raised_once_the_outputs_are_saved(analyzer, tmp_path):
    """A bug in an app's progress callback (a NameError), or its own Cancelled, came back as a failed result
    ("analysis stopped at frame 1: name 'widget' is not defined") with no traceback; and the frames still waiting
    in the CNN's batch were dropped (cancelled at frame 15: 14 frames analysed, 0 rows). The outputs of the video
    cut short are named partial, as an interrupted one's."""
    import json
    import traceback

    import pandas as pd

    from fervid.samples import carphone

    def cancel_at_15(done, total):
        if done == 15:
            raise Cancelled("the user pressed Cancel")

    with pytest.raises(Cancelled) as caught:
        analyzer.analyze_video(carphone(), tmp_path, method="mean", annotate=False, progress=cancel_at_15)
    assert "cancel_at_15" in "".join(traceback.format_tb(caught.value.__traceback__))  # where it came from
    saved = json.loads((tmp_path / "carphone_pristine_tracks.partial.json").read_text(encoding="utf-8"))
    assert saved["frames_analysed"] == 14 and "Cancelled raised in the progress callback" in saved["error"]
    assert len(pd.read_csv(tmp_path / "carphone_pristine_frames.partial.csv")) == 14  # every frame analysed, labelled
    assert not (tmp_path / "carphone_pristine_frames.csv").exists()

    def buggy(done, total):
        widget.setValue(done)  # noqa: F821 (the bug)

    with pytest.raises(NameError, match="widget"):
        analyzer.analyze_video(carphone(), method="mean", annotate=False, progress=buggy)


@needs_sample_clip
def test_running_out_of_memory_is_raised_not_taken_for_a_broken_video(analyzer, tmp_path, monkeypatch):
    import json

    from fervid.samples import carphone

    real, calls = analyzer.classify_crops, []

    def runs_out_the_second_time(crops):
        calls.append(len(crops))
        if len(calls) == 2:
            raise MemoryError("out of memory")
        return real(crops)

    monkeypatch.setattr(analyzer, "classify_crops", runs_out_the_second_time)
    with pytest.raises(MemoryError) as caught:
        analyzer.analyze_video(carphone(), tmp_path, method="mean", annotate=False, batch_frames=4)
    saved = json.loads((tmp_path / "carphone_pristine_tracks.partial.json").read_text(encoding="utf-8"))
    assert str(caught.value) == saved["error"] == (f"{carphone()}: out of memory at frame 8 (0.23 s; out of memory); "
                                                   "the results cover the frames before")  # saved, named partial
    assert isinstance(caught.value.__cause__, MemoryError)  # Python's own, with its traceback
    assert saved["tracks"][0]["frames"] == 4  # the first batch, through the CNN before memory ran out


@needs_sample_clip
def test_a_video_that_breaks_mid_way_still_gives_its_partial_result(analyzer):
    """What `fervid video` and `fervid batch` rely on: a frame the analysis fails on (a decoder handing out a
    frame that is no picture) ends the video with a message and the results before it, not an exception."""
    import cv2

    from fervid.inference.video import VideoAnalyzer, VideoOptions
    from fervid.samples import carphone

    cap = cv2.VideoCapture(str(carphone()))
    frames = [(i / 30.0, cap.read()[1]) for i in range(20)]
    frames[12] = (12 / 30.0, np.zeros((144, 176, 2), np.uint8))  # two channels: OpenCV cannot grey it
    result = VideoAnalyzer(analyzer, VideoOptions(method="mean", annotate=False, batch_frames=4)).run(
        "clip.mp4", frames=iter(frames), fps=30.0)
    assert not result.ok and "analysis stopped at frame 13" in result.error
    assert result.frames_analysed == 12 and len(result.faces) == 12


@needs_sample_clip
def test_a_broken_videos_error_stays_the_one_said_where_saving_its_outputs_fails_after_it(analyzer, tmp_path,
                                                                                          monkeypatch):
    """A frame the analysis failed on, then the timelines' drawing failing (matplotlib's import, where memory ran
    short): the drawing's ImportError was raised, and what broke the video was said nowhere but in its table's
    metadata. The video's error stays the result's, the saving's after it."""
    from fervid.inference import video as video_module
    from fervid.inference.video import VideoAnalyzer, VideoOptions
    from fervid.samples import carphone

    def drawn_without_memory(*args, **kwargs):
        raise ImportError("matplotlib/_path.so: failed to map segment from shared object")

    monkeypatch.setattr(video_module, "timeline_figure", drawn_without_memory)
    cap = cv2.VideoCapture(str(carphone()))
    frames = [(i / 30.0, cap.read()[1]) for i in range(20)]
    frames[12] = (12 / 30.0, np.zeros((144, 176, 2), np.uint8))  # two channels: OpenCV cannot grey it
    result = VideoAnalyzer(analyzer, VideoOptions(method="mean", annotate=False, batch_frames=4)).run(
        "clip.mp4", tmp_path, frames=iter(frames), fps=30.0)
    assert not result.ok and result.error.startswith("clip.mp4: analysis stopped at frame 13: "), result.error
    assert result.error.endswith(f"; the outputs in {tmp_path} could not all be saved either: ImportError("
                                 "'matplotlib/_path.so: failed to map segment from shared object')"), result.error
    saved = json.loads((tmp_path / "clip_tracks.json").read_text(encoding="utf-8"))  # written before the drawing
    assert saved["error"].startswith("clip.mp4: analysis stopped at frame 13: ")


@needs_sample_clip
def test_stop_ends_an_analysis_with_every_frame_analysed_labelled(analyzer, tmp_path):
    """The API had no way to cancel but raising from the progress callback. stop= ends it there, cancelled: the
    frames waiting in the CNN's batch get their labels too."""
    import threading

    from fervid.samples import carphone

    cancel = threading.Event()

    def progress(done, total):
        if done == 15:
            cancel.set()  # as a GUI's Cancel button would, from its own thread

    result = analyzer.analyze_video(carphone(), tmp_path, method="mean", annotate=False, progress=progress,
                                    stop=cancel.is_set)
    # the 16th frame, read as the stop came, is neither analysed nor counted nor told to progress: the counts and the
    # length are the outputs' (a live session's newest frame at Ctrl-C made them disagree with the table and the
    # annotated MP4), and progress's last count
    assert result.cancelled and not result.ok and result.frames_read == 15 and result.frames_analysed == 15
    assert result.duration == pytest.approx(15 / result.fps, abs=1e-3)
    assert len(result.frame_table()) == 15 and result.track_summaries()[0]["frames"] == 15


_worker_analyzer = None


def _make_worker_analyzer():
    global _worker_analyzer
    _worker_analyzer = Analyzer(threads=1)


def _analyse_in_worker(path):
    return _worker_analyzer.analyze_image(path)


def test_an_analyzer_sent_to_another_process_says_to_make_one_there(analyzer):
    """pool.map(analyzer.analyze_image, images) failed with "cannot pickle 'onnxruntime...InferenceSession'
    object", which said nothing of what to do; what it now says (an Analyzer per worker, made by the pool's
    initializer) works."""
    import copy
    import multiprocessing
    import pickle

    from fervid.samples import ASTRONAUT_FILE

    said = "make one Analyzer in each worker process, e.g. in a multiprocessing Pool's initializer"
    with pytest.raises(TypeError, match=said):
        pickle.dumps(analyzer)
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        with pytest.raises(TypeError, match=said):
            pool.map(analyzer.analyze_image, [ASTRONAUT_FILE])
    with context.Pool(1, initializer=_make_worker_analyzer) as pool:
        (faces,) = pool.map(_analyse_in_worker, [ASTRONAUT_FILE])
    assert [face.emotion for face in faces] == [face.emotion for face in analyzer.analyze_image(ASTRONAUT_FILE)]
    assert copy.copy(analyzer).cnn is analyzer.cnn  # a shallow copy shares the networks, as before


def _astronaut_face_crop(analyzer, astronaut_rgb, side: int) -> np.ndarray:
    """The astronaut's face as a face crop of ``side`` px (RGB): its box on the photo and a tenth of it around."""
    x, y, w, h = analyzer.analyze_image(astronaut_rgb)[0].box
    crop = astronaut_rgb[int(y - h / 10):int(y + h * 1.1), int(x - w / 10):int(x + w * 1.1)]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def test_a_small_face_crop_is_found_and_classified_in_its_own_pixels(analyzer, astronaut_rgb):
    """A face filling a 32 x 32 picture was not found (FER2013's 48 x 48 faces: 17% missed): detected on a copy
    enlarged to 128 px, its box and landmarks in the picture's own pixels."""
    result = analyzer.analyze_image(_astronaut_face_crop(analyzer, astronaut_rgb, 32))
    assert (result.width, result.height) == (32, 32) and len(result) == 1
    face = result[0]
    assert face.emotion == "happy" and face.detection_score > 0.5
    x, y, w, h = face.box
    assert 0 <= x and 0 <= y and x + w <= 32 and y + h <= 32 and w > 24
    assert all(0 <= px <= 32 and 0 <= py <= 32 for px, py in face.landmarks)


@pytest.mark.parametrize("side", [48, 100])
def test_a_face_crop_is_classified_whole_as_evaluate_reads_a_folder_of_crops(analyzer, astronaut_rgb, tmp_path, side):
    """FER2013's faces through `fervid image` were detected and cropped again inside the 48 x 48 picture (accuracy
    0.728 against FER+ on 400 PublicTest faces, 0.843 classified whole as `fervid evaluate` reads them), or not
    found at all: face_crop=True classifies the whole picture, preprocessed as evaluate's folder of crops is."""
    from fervid.evaluation.datasets import load_image_folder

    (tmp_path / "happy").mkdir()
    Image.fromarray(_astronaut_face_crop(analyzer, astronaut_rgb, side)).save(tmp_path / "happy" / "face.png")
    result = analyzer.analyze_image(tmp_path / "happy" / "face.png", face_crop=True)
    assert (result.width, result.height) == (side, side) and len(result) == 1
    face = result[0]
    assert face.box == (0.0, 0.0, side, side) and face.landmarks == () and face.detection_score is None
    evaluated = load_image_folder(tmp_path)
    np.testing.assert_array_equal(face.crop, evaluated.images[0])
    np.testing.assert_allclose(face.probabilities, analyzer.classify_crops(evaluated.images).probabilities[0],
                               atol=1e-6)
    assert face.emotion == "happy"
    written = face.to_dict()
    assert written["landmarks"] == [] and written["detection_score"] is None
    assert written["box"] == {"x": 0.0, "y": 0.0, "width": float(side), "height": float(side)}
    row = result.to_dataframe().iloc[0]
    assert row["width"] == side and np.isnan(row["detection_score"]) and row["emotion"] == "happy"
    assert "detection_score=None" in repr(face)


def test_face_crops_in_the_options_make_an_analyzer_that_reads_images_whole(analyzer, astronaut_rgb, face_clip):
    """PipelineOptions(face_crops=True).analyzer() ran the detector all the same (the option reached only the CLI):
    the analyzer keeps it as analyze_image's default, and its settings record it."""
    from fervid.inference.options import PipelineOptions
    from fervid.inference.records import images_document

    crop = _astronaut_face_crop(analyzer, astronaut_rgb, 100)
    reads_crops = PipelineOptions(face_crops=True).analyzer()
    assert reads_crops.face_crops and not analyzer.face_crops
    whole = reads_crops.analyze_image(crop)
    assert len(whole) == 1 and whole[0].box == (0.0, 0.0, 100.0, 100.0) and whole[0].detection_score is None
    np.testing.assert_allclose(whole[0].probabilities, analyzer.analyze_image(crop, face_crop=True)[0].probabilities,
                               atol=1e-6)
    detected = reads_crops.analyze_image(crop, face_crop=False)  # one image of them detected: said per call
    assert detected[0].detection_score > 0.5 and detected[0].box != whole[0].box
    assert reads_crops.settings["face_crops"] is True and analyzer.settings["face_crops"] is False
    assert images_document([whole], reads_crops.settings)["face_crops"] is True
    with pytest.raises(OptionError, match="face_crops: input should be a valid boolean"):
        Analyzer(face_crops="yes")
    for analyse in (lambda: reads_crops.analyze_video(face_clip), lambda: reads_crops.stream(25)):
        with pytest.raises(OptionError, match=r"reads images whole as face crops \(face_crops=True\).*detects"):
            analyse()


def test_face_crops_are_for_images_and_refused_where_faces_are_always_detected(analyzer, astronaut_rgb, tmp_path,
                                                                                 face_clip):
    from fervid.apps.batch import BatchOptions
    from fervid.apps.server import ServerSettings
    from fervid.inference.options import PipelineOptions

    with pytest.raises(OptionError, match="face_crop: .*, not 'yes'"):
        analyzer.analyze_image(astronaut_rgb, face_crop="yes")
    with pytest.raises(TypeError, match=r"face_crops is for images \(analyze_image\(image, face_crop=True\)\)"):
        analyzer.analyze_video(face_clip, face_crops=True)
    with pytest.raises(ValueError, match="face_crops \\(images only"):
        analyzer.analyze_video(face_clip, options=PipelineOptions(face_crops=True))
    for make in (lambda: BatchOptions(out=tmp_path, pipeline=PipelineOptions(face_crops=True)),
                 lambda: ServerSettings(pipeline=PipelineOptions(face_crops=True))):
        with pytest.raises(ValueError, match="face_crops: fervid (batch|serve) detects faces.*--face-crops"):
            make()


@pytest.mark.parametrize("camera", [0, 1, "VideoCapture"])
def test_analyze_video_of_a_camera_says_how_cameras_are_read(analyzer, camera):
    """deepface and fer users pass a camera index or a cv2.VideoCapture: it said "not a int (write bytes to a file
    first)"."""
    import cv2

    source = cv2.VideoCapture() if camera == "VideoCapture" else camera
    with pytest.raises(TypeError) as raised:
        analyzer.analyze_video(source)
    message = str(raised.value)
    assert ("not an int" if camera != "VideoCapture" else "not a VideoCapture") in message
    assert "`fervid live --source 0`" in message and "analyzer.stream(fps)" in message
    assert "stream.push(frame, bgr=True)" in message and "Your own frame loop" in message
    assert "bytes" not in message


def test_the_apis_wrong_kind_errors_name_the_api_method_not_the_command(analyzer, astronaut_png, face_clip):
    """analyze_image of a video said "(use `fervid video`)", analyze_video of an image "(use `fervid image`)": a
    Python caller is pointed at the other method, as the CLI keeps pointing at the other command."""
    import fervid
    from fervid.inference.images import load_image
    from fervid.inference.video import StillImageError

    with pytest.raises(fervid.ImageLoadError) as raised:
        analyzer.analyze_image(face_clip)
    assert str(raised.value) == f"{face_clip}: a video (MP4/MOV), not an image (use Analyzer.analyze_video)"
    with pytest.raises(StillImageError) as raised:
        analyzer.analyze_video(astronaut_png)
    assert str(raised.value) == f"{astronaut_png}: a PNG image, not a video (use Analyzer.analyze_image)"
    # what the CLI reads through says its command still (tests/apps/test_cli.py runs the commands)
    with pytest.raises(fervid.ImageLoadError, match=r"not an image \(use `fervid video`\)$"):
        load_image(face_clip)


def test_a_name_too_long_for_a_file_is_a_fervid_error_naming_its_start(analyzer):
    """A 300-character string raised OSError: [Errno 36] File name too long, repeating all of it: `except
    fervid.FervidError`, which the README says catches every error fervid names, let it through."""
    import fervid

    with pytest.raises(fervid.ImageLoadError) as raised:
        analyzer.analyze_image("x" * 300 + ".jpg")
    assert str(raised.value) == "x" * 40 + "... (304 characters): too long for a file's name or path"
    with pytest.raises(fervid.VideoError) as raised:
        analyzer.analyze_video("x" * 300 + ".mp4")
    assert str(raised.value) == "x" * 40 + "... (304 characters): too long for a file's name or path"


def test_base64_image_text_is_said_to_be_base64(analyzer, astronaut_png):
    """deepface takes an image as base64 text or a data URI; fervid raised OSError (File name too long) for the one
    and called the other a URL to download."""
    import base64

    import fervid

    text = base64.b64encode(astronaut_png.read_bytes()).decode()
    for given in (text, "data:image/png;base64," + text, "data:image/png;base64," + text[:40]):
        with pytest.raises(fervid.ImageLoadError, match="this looks like base64 image data: decode it and pass the "
                                                        "bytes") as raised:
            analyzer.analyze_image(given)
        assert len(str(raised.value)) < 200 and "URL" not in str(raised.value)
    with pytest.raises(fervid.ImageLoadError, match="base64 text of an image, not the image's bytes"):
        analyzer.analyze_image(text.encode())
    assert len(analyzer.analyze_image(base64.b64decode(text))) == 1  # as the message says


def test_the_methods_that_take_bgr_arrays_say_so_first():
    """analyze_image reads RGB arrays; these take OpenCV's BGR, which only their parameter's name said."""
    import inspect

    for method in (Analyzer.detect, Analyzer.classify, Analyzer.crop_faces, Analyzer.labelled_faces,
                   Analyzer.classify_face_crop):
        assert "BGR" in inspect.getdoc(method).splitlines()[0], method.__name__


def test_analyze_video_takes_any_path_like_as_its_annotation_says(analyzer, tmp_path, face_clip):
    """analyze_video's ``path`` is any os.PathLike, as typed; one not a str or Path was recorded, and its outputs
    named, by its str(): "<...PathLike object at 0x...>" as the source, and files named from that."""

    class VideoPath:  # a path object of one's own (another library's), with nothing but __fspath__
        def __fspath__(self) -> str:
            return str(face_clip)

    result = analyzer.analyze_video(VideoPath(), tmp_path, stop=lambda: True)  # (cancelled: named partial)
    assert result.source == str(face_clip)
    assert result.stem == face_clip.stem and (tmp_path / f"{face_clip.stem}_tracks.partial.json").is_file()


@pytest.fixture(scope="module")
def carphone_frame_40():
    """Frame 40 of the carphone clip (BGR), whose face CenterFace boxes taller than wide (48 x 60 px)."""
    from fervid.samples import carphone

    capture = cv2.VideoCapture(str(carphone()))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 40)
    ok, frame = capture.read()
    assert ok
    return frame


@needs_sample_clip
def test_a_dark_frames_detection_gives_one_record_by_classify_and_analyze_bgr(analyzer, carphone_frame_40):
    """The carphone frame at 35% of its brightness: analyze_bgr read its face on its levels stretched (surprise
    0.76); classify, given the very detection, read it unstretched (neutral 0.89). One detection, one record, from
    either entry point, and a crop of it reads dark as it does lit."""
    dark = (carphone_frame_40.astype(np.float32) * 0.35).astype(np.uint8)
    (seen,) = analyzer.analyze_bgr(dark)
    (given,) = analyzer.classify(dark, [fervid.Detection(seen.box, seen.landmarks, seen.detection_score)])
    assert given.probabilities == seen.probabilities and given.emotion == "surprise"
    np.testing.assert_array_equal(given.crop, seen.crop)
    x, y, w, h = (round(v) for v in seen.box)
    lit, dim = (analyzer.classify_face_crop(image[y:y + h, x:x + w]) for image in (carphone_frame_40, dark))
    assert dim.emotion == lit.emotion == "surprise"


@needs_sample_clip
def test_a_tall_box_crop_is_framed_square_not_squashed(analyzer, carphone_frame_40):
    """A detector's 48 x 60 box, cropped and passed as a face crop, was squashed to 48 x 48 and read neutral 0.89
    where fervid read surprise 0.70: it is made square about its centre, its sides widened with their edge pixels
    (FER2013's faces are square and a detector's box lies within that square), as analyze_image reads it too."""
    (own,) = analyzer.analyze_bgr(carphone_frame_40)
    x, y, w, h = (round(v) for v in own.box)
    assert h > w * 1.2
    crop = carphone_frame_40[y:y + h, x:x + w]
    face = analyzer.classify_face_crop(crop)
    assert face.emotion == own.emotion == "surprise"
    assert np.abs(np.subtract(face.probabilities, own.probabilities)).max() < 0.2  # squashed: 0.73
    assert face.box == (0.0, 0.0, float(w), float(h))
    (read,) = analyzer.analyze_image(crop, bgr=True, face_crop=True)
    assert read.probabilities == face.probabilities
    # its middle column is the crop's, resized; the widened sides repeat its edge columns
    np.testing.assert_array_equal(face.crop[:, :3], np.repeat(face.crop[:, :1], 3, axis=1))


def test_your_own_detections_box_only_eyes_only_or_none_are_classified(analyzer, astronaut_rgb):
    """fervid.Detection is exported; a detector of your own may give no landmarks (framed on the box, as fervid
    frames a face whose landmarks are no face's) or only the eyes (framed on them). Box and landmarks come back
    as tuples of floats, whatever array type they were given in."""
    bgr = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR)
    (own,) = analyzer.analyze_bgr(bgr)
    for landmarks in ((), None, own.landmarks[:2], np.array(own.landmarks)):
        (face,) = analyzer.classify(bgr, [fervid.Detection(np.array(own.box), landmarks, np.float32(0.9))])
        assert face.emotion == "happy", landmarks
        assert face.box == own.box and all(type(v) is float for v in face.box)
        assert type(face.detection_score) is float
    (box_only,) = analyzer.classify(bgr, [fervid.Detection(own.box, (), 1.0)])
    (placeholders,) = analyzer.classify(bgr, [fervid.Detection(own.box, ((0.0, 0.0),) * 5, 1.0)])
    np.testing.assert_array_equal(box_only.crop, placeholders.crop)  # unusable landmarks: framed on the box too
    (eyes,) = analyzer.classify(bgr, [fervid.Detection(own.box, own.landmarks[:2], 1.0)])
    np.testing.assert_array_equal(eyes.crop, own.crop)  # the same eyes: the same framing


@pytest.mark.parametrize("given, said", [
    ({"box": (181, 60, 89, 117)}, "must be a fervid.Detection.*not dict"),
    (((181, 60, 89, 117), (), 0.9), "must be a fervid.Detection.*not tuple"),
])
def test_a_detection_of_another_type_is_refused_naming_the_type_expected(analyzer, astronaut_rgb, given, said):
    with pytest.raises(TypeError, match=said):
        analyzer.classify(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), [given])


@pytest.mark.parametrize("box, landmarks, said", [
    ((float("nan"),) * 4, (), r"box \(x, y, w, h\) = \(nan, nan, nan, nan\) is not finite"),
    ((5000, 5000, 50, 50), (), r"\(5000, 5000, 50, 50\) lies wholly off the 512 x 512 image"),
    ((-80, 100, 60, 60), (), "lies wholly off"),
    ((200, 100, 1, 1), (), r"is 1 x 1 px, under 2 px"),
    ((10, 10, 0, 0), (), "under 2 px"),
    ((181, 60, 89, 117), ((0.4, 0.2), (0.48, 0.2), (0.44, 0.24), (0.4, 0.28), (0.48, 0.28)),
     "lie far outside it"),  # landmarks in 0-1, not pixels
    ((181, 60, 89, 117), ((200, 100),) * 68, "68 landmarks"),
])
def test_a_detection_that_frames_no_face_of_the_image_is_refused_naming_its_box(analyzer, astronaut_rgb, box,
                                                                               landmarks, said):
    """Such boxes were classified as whatever border or noise they framed (a box wholly off the image gave a
    confident label); 68 dlib points were read as if their first five were the eyes, nose and mouth."""
    from fervid.inference.detect import DetectionError

    with pytest.raises(DetectionError, match=said) as caught:
        analyzer.classify(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), [fervid.Detection(box, landmarks, 0.9)])
    assert isinstance(caught.value, fervid.FervidError) and isinstance(caught.value, ValueError)


def test_classify_reads_grey_and_float_images_as_analyze_image_does(analyzer, astronaut_rgb):
    """classify and classify_face_crop failed with cv2.error on a grey or float image, which analyze_image reads."""
    bgr = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR)
    (own,) = analyzer.analyze_bgr(bgr)
    detection = fervid.Detection(own.box, own.landmarks, own.detection_score)
    (as_float,) = analyzer.classify(bgr / 255.0, [detection])
    assert as_float.probabilities == analyzer.classify(bgr, [detection])[0].probabilities
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    (from_grey,) = analyzer.classify(grey, [detection])
    assert from_grey.emotion == "happy"
    x, y, w, h = (round(v) for v in own.box)
    crop = bgr[y:y + h, x:x + w]
    assert (analyzer.classify_face_crop(crop / 255.0).probabilities
            == analyzer.classify_face_crop(crop).probabilities)
    assert analyzer.classify_face_crop(grey[y:y + h, x:x + w]).emotion == "happy"
    with pytest.raises(fervid.ImageLoadError, match="NaN"):
        analyzer.classify(np.full((64, 64), np.nan), [detection])
    with pytest.raises(TypeError, match="numpy array"):
        analyzer.classify_face_crop([[0, 1], [2, 3]])


@pytest.mark.parametrize("crops, said", [
    (np.zeros((1, 64, 64), np.uint8), r"N greyscale 48 x 48 uint8 crops.*not uint8 \(1, 64, 64\)"),
    (np.zeros((2, 48, 48, 3), np.uint8), r"not uint8 \(2, 48, 48, 3\)"),
    (np.zeros((48, 48), np.uint8), r"one crop: crops\[None\]"),
    (np.full((1, 48, 48), 0.5), r"not float64 \(1, 48, 48\)"),
    (np.full((1, 48, 48), np.nan, np.float32), "not float32"),
])
def test_classify_crops_refuses_what_is_not_n_grey_48_pixel_uint8_crops(analyzer, crops, said):
    """A 64 x 64 crop failed deep in ONNX Runtime; float crops in 0-1 were read as black, NaN as a label."""
    with pytest.raises(fervid.ImageLoadError, match=said):
        analyzer.classify_crops(crops)


def test_a_face_crop_too_small_to_read_is_refused(analyzer, astronaut_rgb):
    """A 1 x 1 or 2 x 200 'face crop' was upscaled to 48 x 48 and given a label like any face."""
    for shape in ((1, 1, 3), (2, 200, 3), (7, 40, 3)):
        with pytest.raises(fervid.ImageLoadError, match="under 8 px a side"):
            analyzer.analyze_image(np.full(shape, 128, np.uint8), face_crop=True)
    assert analyzer.analyze_image(astronaut_rgb[60:68, 200:208], face_crop=True)[0].box == (0.0, 0.0, 8.0, 8.0)
