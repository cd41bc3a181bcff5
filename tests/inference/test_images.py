"""Every kind of awkward input a user may hand over; each test makes its file."""

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from fervid.inference.images import (IMAGE_SUFFIXES, ImageLoadError, expand_inputs, load_image, more_frames_notice,
                                     output_stems)


def test_missing_zero_byte_text_and_directory(tmp_path):
    with pytest.raises(ImageLoadError, match=r"nope\.jpg: no such file"):
        load_image(tmp_path / "nope.jpg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty\.png: empty file"):
        load_image(empty)
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture\n")
    with pytest.raises(ImageLoadError, match=r"notes\.jpg: not an image"):
        load_image(text)
    with pytest.raises(ImageLoadError, match="is a directory"):
        load_image(tmp_path)


def test_a_name_no_file_has_is_said_on_one_short_line_saying_what_is_wrong_with_it(tmp_path):
    """A file's bytes decoded as text (latin-1) gave a message of the whole 791,555 characters, NULs and all; a name
    with a space before it or a newline after it, plain "no such file", the newline raw in the message."""
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (200, 150, 100)).save(photo)
    binary = photo.read_bytes().decode("latin-1")
    assert "\x00" in binary
    with pytest.raises(ImageLoadError) as said:
        load_image(binary)
    message = str(said.value)
    assert "\x00" not in message and "\n" not in message and len(message) < 300, message
    assert message.endswith(f"... ({len(binary):,} characters): holds NUL bytes, so names no file: pass an image's "
                            "bytes as bytes, not a str")
    assert message.startswith(r"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # (shown escaped, as Python writes them)
    for named in (f" {photo}", f"{photo}\n", f"\t{photo} "):
        with pytest.raises(ImageLoadError) as said:
            load_image(named)
        shown = named.replace("\n", r"\n").replace("\t", r"\t")
        assert str(said.value) == (f"'{shown}': no such file; the name has leading or trailing whitespace ({photo} "
                                   "exists)")
    gone = tmp_path / "gone\r.png"
    with pytest.raises(ImageLoadError, match=r"gone\\r\.png: no such file$"):
        load_image(gone)
    with pytest.raises(ImageLoadError, match="gone.png ': no such file; the name has leading or trailing whitespace$"):
        load_image(f"{tmp_path / 'gone.png'} ")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files(tmp_path, astronaut_rgb, fmt):
    buf = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(buf, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match=rf"cut\.{fmt.lower()}: truncated or corrupt"):
        load_image(path)


def test_a_read_error_of_the_disk_is_not_called_corrupt_data(tmp_path, astronaut_rgb):
    """An image opened, whose pixels the disk then fails to give (EIO: a failing drive, a network share gone): it
    was "truncated or corrupt image data", sending the user to a file that is whole."""
    import errno

    path = tmp_path / "photo.png"
    Image.fromarray(astronaut_rgb).save(path)

    class FailingDisk(io.FileIO):
        def read(self, size=-1):
            if self.tell() > 1000:  # the header read, the pixels not
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return super().read(size)

    with Image.open(FailingDisk(path)) as im, pytest.raises(ImageLoadError) as caught:
        load_image(im)
    assert str(caught.value) == f"PIL image: cannot be read ({os.strerror(errno.EIO)})"


def test_sixteen_bit_png_keeps_its_contrast(tmp_path, astronaut_rgb):
    grey = np.asarray(Image.fromarray(astronaut_rgb).convert("L"), dtype=np.uint16) * 257
    path = tmp_path / "deep.png"
    Image.fromarray(grey).save(path)
    assert Image.open(path).mode.startswith("I")
    out = load_image(path)
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    assert abs(int(out[..., 0].max()) - int(grey.max() // 257)) <= 1


def test_rgba_grey_and_cmyk(tmp_path, astronaut_rgb):
    rgba = np.dstack([astronaut_rgb, np.full(astronaut_rgb.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0  # a transparent corner becomes white
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    out = load_image(tmp_path / "rgba.png")
    assert out.shape == (512, 512, 3) and (out[:10, :10] == 255).all()
    np.testing.assert_array_equal(out[100:110, 200:210], astronaut_rgb[100:110, 200:210, ::-1])

    Image.fromarray(astronaut_rgb).convert("L").save(tmp_path / "grey.png")
    grey = load_image(tmp_path / "grey.png")
    assert grey.shape == (512, 512, 3) and (grey[..., 0] == grey[..., 2]).all()

    Image.fromarray(astronaut_rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    cmyk = load_image(tmp_path / "cmyk.jpg")
    assert cmyk.shape == (512, 512, 3)
    assert np.abs(cmyk.astype(int) - astronaut_rgb[:, :, ::-1]).mean() < 20


def test_exif_rotation_is_applied(tmp_path, astronaut_rgb):
    # Store the pixels turned on their side plus the EXIF tag (6 = rotate 90 CW to view) a phone would write.
    sideways = Image.fromarray(astronaut_rgb).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "phone.jpg")
    assert np.abs(out.astype(int) - astronaut_rgb[:, :, ::-1]).mean() < 8


def test_numpy_channel_order_and_dtypes(astronaut_rgb):
    np.testing.assert_array_equal(load_image(astronaut_rgb), astronaut_rgb[:, :, ::-1])
    np.testing.assert_array_equal(load_image(astronaut_rgb[:, :, ::-1], bgr=True), astronaut_rgb[:, :, ::-1])
    as_float = load_image(astronaut_rgb.astype(np.float32) / 255.0)
    assert np.abs(as_float.astype(int) - astronaut_rgb[:, :, ::-1]).max() <= 1
    # a float array holding 0-255 values (np.float32(img), cv2 arithmetic) is not saturated to white
    as_float_255 = load_image(astronaut_rgb.astype(np.float64))
    np.testing.assert_array_equal(as_float_255, astronaut_rgb[:, :, ::-1])
    mask = np.zeros((8, 8), bool)
    mask[2:4] = True
    assert set(np.unique(load_image(mask))) == {0, 255}
    with pytest.raises(ImageLoadError, match="NaN or infinite"):
        load_image(np.full((8, 8, 3), np.nan, np.float32))
    with pytest.raises(ImageLoadError, match="shape|must be"):
        load_image(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ImageLoadError, match="int"):
        load_image(42)


@pytest.mark.parametrize("bits", [8, 10, 12, 16])
def test_integer_arrays_and_files_scale_from_the_depth_their_values_fill(tmp_path, astronaut_rgb, bits):
    """A uint16 array of 8-bit values is not made black (it was: >> 8), a 12-bit camera array is not made near
    black, and an array and the same pixels saved as a 16-bit PNG read alike."""
    grey8 = np.asarray(Image.fromarray(astronaut_rgb).convert("L"))
    deep = np.round(grey8.astype(np.float64) * (2 ** bits - 1) / 255).astype(np.uint16)
    from_array = load_image(deep)[..., 0]
    assert np.abs(from_array.astype(int) - grey8).max() <= 1
    Image.fromarray(deep).save(tmp_path / "deep.png")
    np.testing.assert_array_equal(load_image(tmp_path / "deep.png")[..., 0], from_array)
    assert np.abs(load_image(deep.astype(np.int32))[..., 0].astype(int) - grey8).max() <= 1


def test_pillow_size_limit_of_the_caller_is_left_alone(astronaut_png):
    before = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # a user who opens huge images with Pillow in their own code
        load_image(astronaut_png)
        assert Image.MAX_IMAGE_PIXELS is None
    finally:
        Image.MAX_IMAGE_PIXELS = before


def test_pil_image_that_fails_to_decode_is_an_image_load_error_naming_the_file(tmp_path, astronaut_rgb):
    buf = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(buf, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[:3000])
    with Image.open(tmp_path / "cut.jpg") as lazy, pytest.raises(ImageLoadError, match=r"cut\.jpg: truncated"):
        load_image(lazy)


def test_a_stream_read_already_is_said_to_be_so(astronaut_rgb):
    buf = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(buf, "PNG")
    buf.seek(0)
    load_image(buf)
    with pytest.raises(ImageLoadError, match=r"nothing left to read .*seek\(0\)"):
        load_image(buf)  # a second analysis of the same open file: not "empty file (0 bytes)"
    buf.seek(0)
    Image.open(buf)  # reads the header and leaves the stream past it
    with pytest.raises(ImageLoadError, match=r"read from byte \d+.*seek\(0\)"):
        load_image(buf)


def test_encoded_bytes_and_file_objects(tmp_path, astronaut_rgb):
    buf = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(buf, "PNG")
    np.testing.assert_array_equal(load_image(buf.getvalue()), astronaut_rgb[:, :, ::-1])
    buf.seek(0)
    np.testing.assert_array_equal(load_image(buf), astronaut_rgb[:, :, ::-1])
    with pytest.raises(ImageLoadError, match="image bytes: empty file"):
        load_image(b"")
    with pytest.raises(ImageLoadError, match="image bytes: not an image"):
        load_image(b"hello")
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with open(tmp_path / "notes.txt", encoding="utf-8") as text, pytest.raises(ImageLoadError, match="text mode"):
        load_image(text)


def test_expand_inputs_reports_bad_entries(tmp_path, astronaut_png):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "readme.txt").write_text("no images here")
    files, problems = expand_inputs([str(astronaut_png), str(folder), str(tmp_path / "*.nothing"),
                                     str(tmp_path / "gone.png")])
    assert files == [astronaut_png]
    reasons = dict(problems)
    assert reasons[str(folder)] == "folder holds no image files; it holds 1 file(s) that are neither images nor " \
                                   "videos: readme.txt"
    assert reasons[str(tmp_path / "*.nothing")] == "pattern matches no file"
    assert reasons[str(tmp_path / "gone.png")] == "no such file or folder"


def test_a_url_given_as_an_input_is_said_to_be_a_url_its_secrets_masked():
    """`fervid video https://lab.example/clip.mp4` said "no such file or folder", and one with a ? in it "pattern
    matches no file", printing its token."""
    from fervid.inference.video import VIDEO_SUFFIXES

    _, problems = expand_inputs(["https://lab.example/a.jpg", "https://me:pw@lab.example/clip.mp4?token=abc"])
    assert problems == [("https://lab.example/a.jpg", "a URL: fervid reads files (it works offline): download it "
                         "and give its path"),
                        ("https://me:***@lab.example/clip.mp4?token=***", "a URL: fervid reads files (it works "
                         "offline): download it and give its path")]
    _, problems = expand_inputs(["rtsp://camera.local/stream"], VIDEO_SUFFIXES)
    assert problems[0][1].endswith("`fervid live --source URL` analyses a stream or a video served over the "
                                   "network as it plays")


def test_one_file_named_twice_is_analysed_once(tmp_path, astronaut_png, monkeypatch):
    """photo.png and /abs/path/photo.png (or a folder and a pattern over it) were analysed twice, the second's
    annotated copy named photo-2."""
    monkeypatch.chdir(astronaut_png.parent)
    files, problems = expand_inputs([astronaut_png.name, str(astronaut_png), str(astronaut_png.parent / "*.png")])
    assert files == [Path(astronaut_png.name)] and not problems


@pytest.mark.parametrize("names, stems", [
    (["x.jpg", "y.jpg"], ["x", "y"]),  # unique stems stay as they are
    (["day1/IMG_1.jpg", "day2/IMG_1.jpg"], ["day1_IMG_1", "day2_IMG_1"]),  # the folder that tells them apart
    (["p/a/cam.mp4", "q/a/cam.mp4"], ["p_a_cam", "q_a_cam"]),  # as many folders as it takes
    (["d/cam.mp4", "d/cam.avi"], ["cam_mp4", "cam_avi"]),  # one folder: the extension
    (["d/Cam.mp4", "e/cam.mp4"], ["d_Cam", "e_cam"]),  # case-insensitive folders (macOS, Windows) clash too
    (["a/x.jpg", "b/x.jpg", "a_x.jpg"], ["a_x", "b_x", "a_x-2"]),  # what nothing else settles, a counter does
])
def test_output_stems_never_let_two_inputs_share_outputs(tmp_path, names, stems):
    files = [tmp_path / name for name in names]
    assert [output_stems(files)[f] for f in files] == stems


def test_pillow_limit_is_obeyed_and_never_lifted_for_other_threads(astronaut_png, monkeypatch):
    """fervid lifted Pillow's process-wide bomb limit while it opened a file: another thread's Image.open got past
    it in that moment. The library now decodes under the caller's limit; only fervid's own processes raise it."""
    from fervid.inference.images import MAX_PIXELS, set_up_pillow_for_fervid, pixel_limit

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # the astronaut's 262,144 pixels are over twice it
    with pytest.raises(ImageLoadError, match=r"astronaut\.png: image too large \(over 100,000 pixels \(Pillow's"):
        load_image(astronaut_png)
    assert Image.MAX_IMAGE_PIXELS == 50_000 and pixel_limit() == 100_000
    set_up_pillow_for_fervid()
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS and pixel_limit() == MAX_PIXELS
    assert load_image(astronaut_png).shape == (512, 512, 3)


def test_a_truncated_tiff_is_named_as_one_and_pillows_warning_is_not_printed(tmp_path):
    """A TIFF cut short printed Pillow's "UserWarning: Corrupt EXIF data" and its source line before fervid's own
    line, which said only "not an image, or a format Pillow cannot read"."""
    import subprocess
    import sys

    buffer = io.BytesIO()
    Image.fromarray(np.full((48, 48), 100, np.uint8)).save(buffer, format="TIFF")
    cut = tmp_path / "faces" / "sad" / "cut.tiff"
    cut.parent.mkdir(parents=True)
    cut.write_bytes(buffer.getvalue()[:50])  # the header, and the start of the tags Pillow reads as EXIF
    with pytest.warns(UserWarning, match="Corrupt EXIF data"):  # what Pillow says of it, left alone in a library
        with pytest.raises(ImageLoadError, match=r"cut\.tiff: a TIFF image whose data Pillow cannot read: truncated "
                                                 r"or corrupt$"):
            load_image(cut)
    Image.fromarray(np.full((48, 48), 90, np.uint8)).save(cut.parent / "whole.png")
    for command in (["image", str(cut)], ["evaluate", "--data", str(tmp_path / "faces")]):
        run = subprocess.run([sys.executable, "-m", "fervid", *command], capture_output=True, text=True,
                             encoding="utf-8",
                             env={**os.environ, "TQDM_DISABLE": "1"})
        assert "Warning" not in run.stderr and "TiffImagePlugin" not in run.stderr, run.stderr
        said = run.stdout + run.stderr
        assert "a TIFF image whose data Pillow cannot read: truncated or corrupt" in said and str(cut) in said, said


def test_a_pil_image_is_turned_by_the_tag_it_carries(tmp_path, astronaut_rgb):
    """The convert("RGB") copy of an opened phone photo keeps its tag and must be turned as the file is (a rule
    that turned only images straight from a file left it sideways); exif_transpose's copy is upright, tag cleared."""
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    Image.fromarray(astronaut_rgb).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "p.jpg", exif=exif)
    with Image.open(tmp_path / "p.jpg") as opened:
        upright = load_image(opened)
        np.testing.assert_array_equal(load_image(opened.convert("RGB")), upright)
        np.testing.assert_array_equal(load_image(ImageOps.exif_transpose(opened)), upright)
    assert np.abs(upright[..., ::-1].astype(int) - astronaut_rgb).mean() < 6  # JPEG noise; turned wrong: ~60


def test_float_images_normalised_for_a_network_are_refused_not_clipped_to_black(astronaut_rgb):
    """ImageNet-normalised arrays gave no face and `rgb / 127.5 - 1` other labels: the negative half of the values
    was clipped to black without a word."""
    from skimage.transform import resize

    rgb = astronaut_rgb.astype(np.float64)
    imagenet = (rgb / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]  # -2.1 to 2.6
    for normalised in (rgb / 127.5 - 1, imagenet, rgb - rgb.mean(axis=(0, 1))):
        with pytest.raises(ImageLoadError, match=r"negative values \(down to -[\d.]+\): float images are read as "
                                                 r"\[0, 1\] \(where no value is above 2\) or \[0, 255\]"):
            load_image(normalised)
    # a bicubic resize rings a little below 0 (and above 1) at sharp edges: a picture, read as before
    for image in (rgb / 255, rgb):
        resized = resize(image, (300, 300), order=3, anti_aliasing=False, clip=False, preserve_range=True)
        assert resized.min() < 0
        expected = np.clip(resized * (255 / image.max()) + 0.5, 0, 255).astype(np.uint8)[:, :, ::-1]
        np.testing.assert_array_equal(load_image(resized), expected)


def test_float_pil_images_read_as_float_arrays_do(astronaut_rgb):
    grey = astronaut_rgb.mean(axis=2) / 255 * 1.5  # [0, 1.5]: resampled [0, 1] data overshoots
    as_pil = load_image(Image.fromarray(grey.astype(np.float32), "F"))
    assert np.abs(as_pil.astype(int) - load_image(grey.astype(np.float32))).max() <= 1  # float32 rounding
    assert as_pil.mean() > 100  # not read as [0, 255] (near black)


@pytest.mark.parametrize("source, message", [("https://example.com/x.jpg", "not URLs"), ("file:///tmp/x.jpg", "not URLs"),
                                             ("s3://bucket/x.jpg", "not URLs"), ("", "empty file name"),
                                             (np.zeros((4, 4), np.complex64), "real numbers"),
                                             (np.array([["a"]], object), "real numbers")])
def test_inputs_that_are_no_image_say_what_they_are(source, message):
    with pytest.raises(ImageLoadError, match=message):
        load_image(source)


def test_any_path_like_is_a_path_and_bgr_is_only_for_arrays(astronaut_png):
    class Recording:  # e.g. a path object of another library
        def __fspath__(self):
            return str(astronaut_png)

    assert load_image(Recording()).shape == (512, 512, 3)
    # "a Image is read in its own": said in words that read right for any input
    with pytest.raises(ValueError, match=r"bgr=True describes a numpy array's channel order; this input "
                                         rf"\({type(astronaut_png).__name__}\) carries its own$"):
        load_image(astronaut_png, bgr=True)
    with pytest.raises(ValueError, match=r"this input \(Image\) carries its own$"):
        load_image(Image.new("RGB", (8, 8)), bgr=True)


def test_a_file_name_that_is_not_utf8_is_refused_by_name_not_a_crash(tmp_path, astronaut_png):
    """OpenCV crashed `fervid video` (SIGSEGV) on such a name, and `fervid image --csv` failed with a traceback."""
    import os
    import shutil

    name = tmp_path / os.fsdecode(b"caf\xe9.png")
    shutil.copy(astronaut_png, name)
    files, problems = expand_inputs([str(tmp_path)])
    assert files == [] and problems == [(str(tmp_path / "caf\\udce9.png"),
                                         "file name is not valid UTF-8; rename the file")]


def test_a_utf8_name_this_locale_cannot_read_asks_for_a_utf8_locale_not_a_rename(tmp_path, astronaut_png):
    """Under `LC_ALL=C python -X utf8=0` (an ASCII locale) `café.png`, a valid UTF-8 name, was refused with "file
    name is not valid UTF-8; rename the file": the locale is at fault, not the file."""
    import os
    import shutil
    import subprocess
    import sys

    shutil.copy(astronaut_png, tmp_path / "café.png")
    script = ("import sys; from fervid.inference.images import expand_inputs; "
              "print(expand_inputs([sys.argv[1]])[1][0][1])")
    env = {**{k: v for k, v in os.environ.items() if k not in ("PYTHONUTF8", "PYTHONIOENCODING")}, "LC_ALL": "C"}
    done = subprocess.run([sys.executable, "-X", "utf8=0", "-c", script, str(tmp_path)], capture_output=True,
                          text=True, encoding="utf-8", env=env, timeout=60)
    assert done.stdout.strip() == ("file name is UTF-8, which this run's locale (ascii) cannot read; run fervid in a "
                                   "UTF-8 locale (LC_ALL=C.UTF-8) or with PYTHONUTF8=1"), done.stderr


def test_a_stem_too_long_for_its_outputs_names_is_cut_and_stays_apart():
    """A legal 244-byte file name made `fervid video` fail ("..._frames.partial.csv: File name too long"), and
    `fervid image --annotate --crops` with a raw [Errno 36]: its outputs add up to 43 bytes to its stem."""
    from fervid.inference.images import NAME_MAX, OUTPUT_SUFFIX_BYTES, fitted_stem

    assert fitted_stem("cam") == "cam"  # every stem that fits stays as it is
    long_a, long_b = "v" * 230 + "a", "v" * 230 + "b"  # one name but its last letter
    stems = output_stems([Path(f"/d/{long_a}.mp4"), Path(f"/d/{long_b}.mp4"), Path("/d/" + "é" * 126 + ".png")])
    cut = list(stems.values())
    assert len(set(cut)) == 3 and all(len(stem.encode()) <= NAME_MAX - OUTPUT_SUFFIX_BYTES for stem in cut), cut
    assert cut[0].startswith("v" * 100) and cut[2].startswith("é" * 90)  # whole characters, the name recognisable
    assert fitted_stem(long_a) == cut[0] and fitted_stem(cut[0]) == cut[0]  # the same name in every run


def test_same_name_in_one_folder_is_told_apart_by_a_counter_not_the_whole_path():
    stems = output_stems([Path("/data/shoot/a.jpg"), Path("/data/shoot/a.JPG")])
    assert sorted(stems.values()) == ["a", "a-2"]  # was data_shoot_a and data_shoot_a-2


def test_a_video_named_as_an_image_is_said_to_be_a_video(tmp_path, face_clip):

    (tmp_path / "clip.jpg").write_bytes(face_clip.read_bytes())
    with pytest.raises(ImageLoadError, match=r"clip\.jpg: a video \(MP4/MOV\), not an image \(use `fervid video`\)"):
        load_image(tmp_path / "clip.jpg")
    with pytest.raises(ImageLoadError, match=r"a video \(MP4/MOV\)"):
        load_image(face_clip.read_bytes())


def test_patterns_search_as_folders_do(tmp_path, astronaut_png):
    """glob's own ** went round link loops (exponentially with two: it hung), into batch results folders, and
    named a file by its longest alias; a name with a superscript digit broke the sort."""
    import shutil

    corpus = tmp_path / "c"
    (corpus / "sub").mkdir(parents=True)
    for name in ("w1.png", "w10.png", "w2.png", "s1²2.png"):
        shutil.copy(astronaut_png, corpus / name)
    shutil.copy(astronaut_png, corpus / "sub" / "w3.png")
    (corpus / "sub" / "l1").symlink_to("..", target_is_directory=True)
    (corpus / "sub" / "l2").symlink_to("..", target_is_directory=True)
    results = corpus / "results"
    (results / "files" / "0123456789abcdef").mkdir(parents=True)
    (results / "state.sqlite").write_bytes(b"")
    shutil.copy(astronaut_png, results / "files" / "0123456789abcdef" / "annotated.png")
    shutil.copy(astronaut_png, corpus / "w1_fervid.png")
    expected = [corpus / "s1²2.png", corpus / "sub" / "w3.png", corpus / "w1.png", corpus / "w2.png",
                corpus / "w10.png"]
    for pattern in (f"{corpus}/**/*.png", f"{corpus}/**", f"{corpus}/*"):
        notices = []
        files, problems = expand_inputs([pattern], notices=notices)
        assert sorted(files) == sorted(expected) and problems == [], pattern
        assert len(notices) == 1 and "w1_fervid.png" in notices[0]
    assert expand_inputs([str(corpus)])[0] == expected  # natural order: w1, w2, w10
    assert expand_inputs([str(results)])[1] == [(str(results), "is a fervid batch results folder: its files are "
                                                               "another run's outputs")]


def test_patterns_match_as_glob_does(tmp_path, astronaut_png, monkeypatch):
    """A ** pattern naming folders found nothing; one naming its own extension lost files of an extension not in
    the list; a file inside the search reached through a link first was named by the link."""
    import shutil

    monkeypatch.chdir(tmp_path)
    for folder in ("sh/a/day1", "sh/b/day1", "sh/b/day2", "d/b", "d/a/deep"):
        Path(folder).mkdir(parents=True)
    for name in ("sh/a/day1/x.png", "sh/b/day1/y.png", "sh/b/day2/z.png", "d/b/x.png", "sh/b/day1/[x].png"):
        shutil.copy(astronaut_png, name)
    Path("sh/b/day1/rec1.ts").write_bytes(b"\x47" * 188)
    Path("d/a/deep/link").symlink_to(Path("d/b").resolve(), target_is_directory=True)
    day1 = [Path("sh/a/day1/x.png"), Path("sh/b/day1/[x].png"), Path("sh/b/day1/y.png")]
    assert sorted(expand_inputs(["sh/**/day1"])[0]) == sorted(day1)
    assert sorted(expand_inputs(["sh*/**/day1"])[0]) == sorted(day1)  # a wildcard before **: glob's folders
    assert sorted(expand_inputs(["sh/*/day1"])[0]) == sorted(day1)
    assert expand_inputs(["sh/**/*.ts"], {".mp4"})[0] == [Path("sh/b/day1/rec1.ts")]  # its own extension: taken
    assert expand_inputs(["sh/b/day1/*"], {".mp4"})[1][0][1].startswith("pattern matches 3 file(s), none with")
    assert expand_inputs(["sh/**/[[]x].png"])[0] == [Path("sh/b/day1/[x].png")]  # glob.escape's brackets
    assert expand_inputs(["d"])[0] == [Path("d/b/x.png")]  # not d/a/deep/link/x.png


@pytest.mark.parametrize("suffix", [".avif", ".jp2", ".j2k", ".jpf", ".jpx", ".tga", ".pnm", ".apng"])
def test_every_kind_pillow_reads_here_is_found_in_folders_and_patterns(tmp_path, astronaut_rgb, suffix):
    """AVIF, JPEG 2000 and TGA were read when named (`fervid image a.avif`) but left out of folders and patterns."""
    from PIL import features

    if suffix in (".avif", ".jp2", ".j2k", ".jpf", ".jpx") and not features.check("avif" if suffix == ".avif" else
                                                                                  "jpg_2000"):
        pytest.skip(f"this Pillow cannot read {suffix} (and fervid does not search for it)")
    Image.fromarray(astronaut_rgb).save(tmp_path / f"a{suffix}")
    assert expand_inputs([str(tmp_path)]) == ([tmp_path / f"a{suffix}"], [])
    assert expand_inputs([str(tmp_path / "*")])[0] == [tmp_path / f"a{suffix}"]
    assert np.abs(load_image(tmp_path / f"a{suffix}").astype(int) - astronaut_rgb[:, :, ::-1]).mean() < 8


def test_media_a_search_leaves_out_are_said_with_what_to_do(tmp_path, astronaut_png, without_heif_decoder):
    """HEIC photos (without the `heic` extra), videos searched for images and images for videos were left out without a
    word; other files (notes, tables, TypeScript's .ts) too, where images were said: they are said in one line."""
    from fervid.inference.video import VIDEO_SUFFIXES

    (tmp_path / "a.png").write_bytes(astronaut_png.read_bytes())
    for name in ("IMG_1.HEIC", "IMG_2.heif", "clip.mp4", "notes.txt", "t.json", "t.csv", ".DS_Store", "app.ts"):
        (tmp_path / name).write_bytes(b"x" * 200)
    (tmp_path / "rec.ts").write_bytes(b"\x47" + b"\x00" * 187 + b"\x47" + b"\x00" * 187 + b"\x47")
    notices = []
    files, problems = expand_inputs([str(tmp_path)], notices=notices)
    assert files == [tmp_path / "a.png"] and problems == []
    assert notices == [
        f"{tmp_path}: left out 2 image(s) of a kind fervid cannot read here (e.g. IMG_1.HEIC): for HEIC photos, "
        'pip install "fervid[heic]"; or convert them to JPEG or PNG',
        f"{tmp_path}: left out 2 video(s) (e.g. clip.mp4): `fervid image` reads images; analyse videos with "
        "`fervid video`, or both kinds with `fervid batch`",
        f"{tmp_path}: left out 4 file(s) that are neither images nor videos: app.ts, notes.txt, t.csv and 1 more"]
    notices = []
    files, _ = expand_inputs([str(tmp_path / "*")], VIDEO_SUFFIXES, notices=notices)
    assert files == [tmp_path / "clip.mp4", tmp_path / "rec.ts"]  # the transport stream, not the TypeScript
    assert len(notices) == 3 and notices[1].startswith(f"{tmp_path / '*'}: left out 1 image(s) (e.g. a.png): ")
    assert notices[2] == f"{tmp_path / '*'}: left out 4 file(s) that are neither images nor videos: app.ts, " \
                         "notes.txt, t.csv and 1 more"
    notices = []
    expand_inputs([str(tmp_path / "*.HEIC")], notices=notices)  # asked for by name: tried, and each one told
    assert notices == []
    with pytest.raises(ImageLoadError, match=r'IMG_3\.heic: a HEIC/HEIF image; .* pip install "fervid\[heic\]"'):
        (tmp_path / "IMG_3.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
        load_image(tmp_path / "IMG_3.heic")  # not "a video (MP4/MOV)", as its boxes made it


def test_heic_photos_are_read_upright_with_the_heic_extra(tmp_path, astronaut_rgb):
    """An iPhone's HEIC photos were left out of every search and refused when named: with pillow-heif (the `heic`
    extra) they are searched for and read, turned upright once (HEIF's rotation box, as the JPEG's EXIF tag), and a
    damaged one is called corrupt, not a format fervid lacks."""
    pytest.importorskip("pillow_heif")
    from PIL import Image

    portrait = Image.fromarray(astronaut_rgb[:, 100:400])  # 300 wide, 512 high, stored sideways as a phone does
    sideways = portrait.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to show"
    sideways.save(tmp_path / "IMG_0001.HEIC", exif=exif.tobytes(), quality=90)
    sideways.save(tmp_path / "IMG_0001.jpg", exif=exif.tobytes(), quality=95)
    (tmp_path / "IMG_0002.heic").write_bytes((tmp_path / "IMG_0001.HEIC").read_bytes()[:3000])  # cut off
    notices = []
    files, _ = expand_inputs([str(tmp_path)], notices=notices)
    assert files == [tmp_path / "IMG_0001.HEIC", tmp_path / "IMG_0001.jpg", tmp_path / "IMG_0002.heic"]
    assert notices == []
    heic, jpeg = load_image(tmp_path / "IMG_0001.HEIC"), load_image(tmp_path / "IMG_0001.jpg")
    assert heic.shape == jpeg.shape == (512, 300, 3)
    assert np.abs(heic.astype(int) - np.asarray(portrait)[:, :, ::-1]).mean() < 6
    assert load_image((tmp_path / "IMG_0001.HEIC").read_bytes()).shape == (512, 300, 3)  # an upload's bytes
    with pytest.raises(ImageLoadError, match=r"IMG_0002\.heic: corrupt image"):
        load_image(tmp_path / "IMG_0002.heic")
    (tmp_path / "IMG_0003.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    with pytest.raises(ImageLoadError, match=r"IMG_0003\.heic: a corrupt HEIC/HEIF image"):
        load_image(tmp_path / "IMG_0003.heic")
    # a HEIC of several images (a burst): its primary one is read, and that is said
    import pillow_heif

    burst = pillow_heif.from_pillow(portrait)
    burst.add_from_pillow(sideways)
    burst.save(tmp_path / "burst.heic", quality=80)
    assert load_image(tmp_path / "burst.heic").shape == (512, 300, 3)
    assert more_frames_notice(tmp_path / "burst.heic").endswith("a HEIC/HEIF holding 2 images: analysed its primary "
                                                                "one, the one photo viewers show (save the others as "
                                                                "images of their own to analyse them)")
    assert more_frames_notice(tmp_path / "IMG_0001.HEIC") == ""


def test_a_folder_named_with_brackets_is_taken_as_named_in_a_pattern(tmp_path, astronaut_png):
    """`fervid image "shoot [2024]/*.JPG"` said "pattern matches no file": glob read [2024] as one of 2, 0 and 4 (and
    would have taken "shoot 2")."""
    import shutil

    for folder in ("shoot [2024]", "shoot 2", "shoot [2024]/day [1]"):
        (tmp_path / folder).mkdir()
        shutil.copy(astronaut_png, tmp_path / folder / "IMG_1.JPG")
    shoot = tmp_path / "shoot [2024]"
    assert expand_inputs([f"{shoot}/*.JPG"]) == ([shoot / "IMG_1.JPG"], [])
    assert expand_inputs([f"{shoot}/day [1]/*"]) == ([shoot / "day [1]" / "IMG_1.JPG"], [])
    assert sorted(expand_inputs([f"{shoot}/**/*.JPG"])[0]) == [shoot / "IMG_1.JPG", shoot / "day [1]" / "IMG_1.JPG"]
    assert expand_inputs([f"{tmp_path}/shoot [[]2024]/*.JPG"])[0] == [shoot / "IMG_1.JPG"]  # escaped: as ever
    assert expand_inputs([f"{tmp_path}/shoot [2]/*.JPG"])[0] == [tmp_path / "shoot 2" / "IMG_1.JPG"]  # no such folder
    problem = expand_inputs([f"{tmp_path}/take [3]/*.JPG"])[1][0][1]
    assert problem == "pattern matches no file (in a pattern [...] is a set of characters: write a [ in a name as [[] " \
                      "and a ] as []])"


def test_an_image_read_at_its_first_of_several_frames_is_said_to_be(tmp_path, astronaut_rgb):
    """load_image reads an animated image's first frame, a TIFF's first page: fervid image said nothing of the rest."""
    from fervid.inference.images import more_frames_notice

    from PIL import features

    face, blank = Image.fromarray(astronaut_rgb), Image.new("RGB", (512, 512), (128, 128, 128))
    animated = ("a.gif", "a.png", "a.webp", "a.tif") + (("a.avif",) if features.check("avif") else ())
    for name in animated:
        blank.save(tmp_path / name, save_all=True, append_images=[face], duration=200)
    face.save(tmp_path / "camera.jpg", format="MPO", save_all=True, append_images=[blank])  # a preview beside it
    face.save(tmp_path / "still.gif")
    assert more_frames_notice(tmp_path / "a.gif") == (f"{tmp_path / 'a.gif'}: an animated GIF: analysed frame 1 of 2 "
                                                      "(`fervid video` reads every frame)")
    assert "an animated PNG: analysed frame 1 of 2 (`fervid video` reads" in more_frames_notice(tmp_path / "a.png")
    for name, kind in (("a.webp", "WebP"), ("a.avif", "AVIF")):
        if name not in animated:
            continue
        assert (f"an animated {kind}: analysed frame 1 of 2 (`fervid video` cannot decode an animated {kind}'s frames: "
                "convert it to GIF or MP4") in more_frames_notice(tmp_path / name)
    assert more_frames_notice(tmp_path / "a.tif").endswith("a multi-page TIFF: analysed page 1 of 2 (save each page "
                                                           "as its own image to analyse it)")
    assert more_frames_notice(tmp_path / "camera.jpg") == more_frames_notice(tmp_path / "still.gif") == ""


def test_an_annotated_copy_names_its_image_by_a_digest_read_without_decoding_it(tmp_path, astronaut_rgb):
    """What lets `fervid image --annotate` replace an image's earlier copy, whatever name the copy got."""
    import cv2

    from fervid.inference.annotate import write_image
    from fervid.inference.images import ANNOTATED_SOURCE_KEY, annotated_stems_used_before, source_id

    photo = tmp_path / "shots" / "astro.png"
    photo.parent.mkdir()
    Image.fromarray(astronaut_rgb).save(photo)
    write_image(tmp_path / "astro_png_fervid.png", astronaut_rgb[:, :, ::-1],
                text={ANNOTATED_SOURCE_KEY: source_id(photo)})
    write_image(tmp_path / "other_fervid.png", astronaut_rgb[:, :, ::-1])  # an earlier fervid's: no record
    assert source_id(tmp_path / "shots" / ".." / "shots" / "astro.png") == source_id(photo) != source_id(tmp_path)
    assert "shots" not in source_id(photo)
    assert annotated_stems_used_before(tmp_path) == {source_id(photo): "astro_png"}
    assert np.array_equal(load_image(tmp_path / "astro_png_fervid.png"), astronaut_rgb[:, :, ::-1])
    assert np.array_equal(cv2.imread(str(tmp_path / "astro_png_fervid.png")), astronaut_rgb[:, :, ::-1])


def test_a_search_leaves_out_the_folders_this_run_writes_to(tmp_path, astronaut_png):
    """`fervid image shots --crops shots/crops`, run twice, read its own crops back as photos: crops of crops, and
    the table doubled. What lies in this run's output folders is left out of folders and patterns, and said."""
    import shutil

    from fervid.inference.images import expand_inputs

    shots = tmp_path / "shots"
    (shots / "crops").mkdir(parents=True)
    shutil.copy(astronaut_png, shots / "astronaut.png")
    Image.open(astronaut_png).resize((48, 48)).save(shots / "crops" / "astronaut_face1.png")
    outputs = {"--crops": shots / "crops", "--annotate": tmp_path / "not_yet_made"}
    notices = []
    files, problems = expand_inputs([str(shots)], notices=notices, output_folders=outputs)
    assert files == [shots / "astronaut.png"] and problems == []
    assert notices == [f"{shots}: left out 1 file(s) in {shots / 'crops'}, where this run writes its --crops (e.g. "
                       "astronaut_face1.png); name one on its own to analyse it"]
    files, problems = expand_inputs([str(shots / "*" / "*.png"), str(shots / "crops")], output_folders=outputs)
    assert files == [] and [why for _, why in problems] == [
        "pattern matches only what this run writes (its --crops folder): name files on their own to analyse them, "
        "or write elsewhere",
        "folder holds only what this run writes (its --crops folder): name files on their own to analyse them, or "
        "write elsewhere"]
    named = shots / "crops" / "astronaut_face1.png"
    assert expand_inputs([str(named)], output_folders=outputs) == ([named], [])  # named on its own: an input
    assert expand_inputs([str(shots)])[0] == [shots / "astronaut.png", named]  # without output folders, as ever


def test_an_image_named_like_another_images_earlier_outputs_takes_its_folders_then_a_counter(tmp_path, astronaut_rgb):
    """Separate runs into one --annotate/--crops folder wrote over each other's outputs (a/img.jpg's, then
    b/img.jpg's): each output records its image, and an image whose name another's outputs carry is named apart."""
    from fervid.inference.annotate import write_image
    from fervid.inference.images import (ANNOTATED_SOURCE_KEY, EarlierOutputs, names_clear_of_earlier_runs,
                                         source_id)

    crops = tmp_path / "crops"
    crops.mkdir()
    images = {name: tmp_path / "shoot" / name for name in ("a/img.png", "b/img.png", "day1/x.png", "day2/x.png")}
    for path in images.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(astronaut_rgb[:48, :48]).save(path)
    face = np.ascontiguousarray(astronaut_rgb[:48, :48, 0])
    for stem, image in (("img", "a/img.png"), ("b_img", "a/img.png"), ("day1_x", "a/img.png")):  # a's, under 3 names
        write_image(crops / f"{stem}_face1.png", face, text={ANNOTATED_SOURCE_KEY: source_id(images[image])})
    write_image(crops / "x_face1.png", face)  # another program's, or an earlier fervid's: no image recorded
    earlier = EarlierOutputs(None, crops)
    assert earlier.crops == {source_id(images["a/img.png"]): [crops / "b_img_face1.png", crops / "day1_x_face1.png",
                                                                 crops / "img_face1.png"]}
    files = [images["b/img.png"], images["day1/x.png"], images["day2/x.png"]]
    stems = {images["b/img.png"]: "img", images["day1/x.png"]: "day1_x", images["day2/x.png"]: "day2_x"}
    renamed = names_clear_of_earlier_runs(files, stems, earlier)
    # b/img.png: img and b_img are a's, so shoot_b_img; day1/x.png: its day1_x is a's, and its folder and stem
    # would be that name again, so shoot_day1_x (not day1_day1_x)
    assert stems == {images["b/img.png"]: "shoot_b_img", images["day1/x.png"]: "shoot_day1_x",
                     images["day2/x.png"]: "day2_x"}
    assert renamed == [(images["b/img.png"], "img", "shoot_b_img"), (images["day1/x.png"], "day1_x", "shoot_day1_x")]
    stems = {images["a/img.png"]: "img"}
    assert names_clear_of_earlier_runs([images["a/img.png"]], stems, earlier) == [] and stems == {
        images["a/img.png"]: "img"}  # its own: replaced under its name


def test_what_is_in_the_way_of_an_images_pictures_is_asked_of_each_file_it_writes(tmp_path, astronaut_rgb):
    """The names an image's pictures are written under, asked again as they are written (outputs another run wrote
    there since the names were chosen were replaced without a word): another image's crop where its second face's
    would go is in the way; its own earlier ones, and files recording no image, are not."""
    from fervid.inference.annotate import write_image
    from fervid.inference.images import ANNOTATED_SOURCE_KEY, outputs_in_the_way, source_id

    ann, crops = tmp_path / "ann", tmp_path / "crops"
    ann.mkdir()
    crops.mkdir()
    mine, another = source_id(tmp_path / "a" / "img.png"), source_id(tmp_path / "b" / "img.png")
    face = np.ascontiguousarray(astronaut_rgb[:48, :48, 0])
    assert outputs_in_the_way("img", mine, ann, crops, 2) is None  # nothing there
    write_image(ann / "img_fervid.png", face, text={ANNOTATED_SOURCE_KEY: mine})
    write_image(crops / "img_face1.png", face)  # another program's, or an earlier fervid's: no image recorded
    assert outputs_in_the_way("img", mine, ann, crops, 2) is None
    write_image(crops / "img_face2.png", face, text={ANNOTATED_SOURCE_KEY: another})
    assert outputs_in_the_way("img", mine, ann, crops, 2) == "another image's outputs"
    assert outputs_in_the_way("img", mine, ann, crops, 1) is None  # one face: its second crop's name not written
    assert outputs_in_the_way("img", mine, ann, None, 2) is None  # no --crops
    assert outputs_in_the_way("img", another, ann, None, 0) == "another image's outputs"  # a's annotated copy


def test_small_images_are_annotated_enlarged_by_a_whole_factor(astronaut_rgb):
    """A 48x48 face crop's annotated copy had its label over half the face, cut off, in text a few pixels tall."""
    import cv2

    from fervid.inference.images import enlarged_to_annotate
    from fervid.inference.records import Face

    small = np.ascontiguousarray(cv2.resize(astronaut_rgb[40:200, 150:310, ::-1], (48, 40)))
    face = Face((4.0, 2.5, 40.0, 36.0), ((15.0, 18.0), (33.0, 18.0)), 0.9, (1 / 7,) * 7)
    image, (enlarged,) = enlarged_to_annotate(small, [face])
    assert image.shape == (40 * 7, 48 * 7, 3)  # the shorter side to 256 px at least, by a whole factor
    np.testing.assert_array_equal(image[::7, ::7], small)  # each pixel a block: the picture's own resolution
    np.testing.assert_array_equal(image[7:14, 14:21], np.broadcast_to(small[1, 2], (7, 7, 3)))
    assert enlarged.box == (28.0, 17.5, 280.0, 252.0) and enlarged.landmarks == ((105.0, 126.0), (231.0, 126.0))
    assert enlarged.probabilities == face.probabilities and face.box == (4.0, 2.5, 40.0, 36.0)
    for large in (np.ascontiguousarray(astronaut_rgb[:, :, ::-1]), np.zeros((256, 300, 3), np.uint8)):
        same, faces = enlarged_to_annotate(large, [face])
        assert same is large and faces == [face]


def test_a_channel_first_array_is_told_to_transpose(astronaut_rgb):
    """PyTorch's (C, H, W) layout was refused with the shapes taken, no word of what was wrong."""
    with pytest.raises(ImageLoadError, match=r"got \(3, 512, 512\); channels first\? transpose to \(H, W, C\)"):
        load_image(np.ascontiguousarray(astronaut_rgb.transpose(2, 0, 1)))
    with pytest.raises(ImageLoadError) as raised:  # a batch of one is not channels first
        load_image(astronaut_rgb[None])
    assert "channels first" not in str(raised.value)


def test_a_name_holding_a_nul_is_a_problem_not_a_crash(tmp_path):
    """glob raised ValueError ("embedded null byte") on a pattern holding a NUL, read from stdin."""
    files, problems = expand_inputs(["a\0b/*.png", "a\0b.png"])
    assert files == [] and [item for item, _ in problems] == ["a\0b/*.png", "a\0b.png"]
    assert all("no such file or folder" in why for _, why in problems)


def test_a_file_named_like_base64_is_read_as_a_file(tmp_path, astronaut_rgb, monkeypatch):
    """A base64 image's text is refused as such only where no file has that name."""
    monkeypatch.chdir(tmp_path)
    name = "iVBORw0KGgoAAAANSUhEUgAAAgAAAAIACAIAAAB7GkOtAAA"  # a PNG's base64 start
    Image.fromarray(astronaut_rgb).save(tmp_path / name, "PNG")
    assert load_image(name).shape == (512, 512, 3)


@pytest.fixture
def interviews(tmp_path, monkeypatch, face_clip):
    """A novice's folder, as the current one: Interviews/ with videos named in capitals and spaces, a photo, and a
    Word document; Z/ with only an archive and a document."""

    (tmp_path / "Interviews").mkdir()
    if (tmp_path / "interviews").exists():
        pytest.skip("this filesystem ignores letter case in names")
    for name in ("Interview 1.MOV", "Interview 2.MP4"):
        (tmp_path / "Interviews" / name).write_bytes(face_clip.read_bytes())
    (tmp_path / "Z").mkdir()
    with zipfile.ZipFile(tmp_path / "Z" / "videos.zip", "w") as archive:
        archive.write(face_clip, "Interview 3.mp4")
    _write_docx(tmp_path / "Z" / "consent form.docx")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write_docx(path: Path) -> None:
    """A Word document's parts as Word writes them: a ZIP file holding word/document.xml."""
    with zipfile.ZipFile(path, "w") as document:
        document.writestr("[Content_Types].xml", "<Types/>")
        document.writestr("word/document.xml", "<w:document/>")


def test_a_path_the_shell_split_at_its_spaces_is_suggested_in_quotes(interviews):
    """`fervid video Interviews/Interview 1.MOV` said "Interviews/Interview: no such file or folder" and "1.MOV: no
    such file or folder", and nothing of the file they name together."""
    from fervid.inference.video import VIDEO_SUFFIXES

    meant = 'did you mean "Interviews/Interview 1.MOV"? Put quotes around a path with spaces'
    for args in (["Interviews/Interview", "1.MOV"], ["interviews/interview", "1.mov"]):  # in its case on disk
        assert expand_inputs(args, VIDEO_SUFFIXES) == ([], [
            (args[0], f"no such file or folder; {meant}"),
            (args[1], 'no such file or folder (part of "Interviews/Interview 1.MOV": put quotes around a path with '
                      "spaces)")])
    # what is there is taken; a path split in three, after it, is found as well
    files, problems = expand_inputs(["Interviews/Interview 2.MP4", "Interviews/Interview", "1.MOV"], VIDEO_SUFFIXES)
    assert files == [Path("Interviews/Interview 2.MP4")] and problems[0][1].endswith(meant)
    (interviews / "Interviews" / "a b c.mp4").write_bytes(b"x")
    assert expand_inputs(["Interviews/a", "b", "c.mp4"], VIDEO_SUFFIXES)[1][0][1].endswith('"Interviews/a b c.mp4"? '
                                                                                          "Put quotes around a path "
                                                                                          "with spaces")


def test_a_name_in_another_letter_case_or_a_relative_path_not_found_says_what_there_is(interviews):
    """`interviews/interview 1.mov: no such file or folder`, where Interviews/Interview 1.MOV is; a relative path
    not found did not say in which folder it was looked for."""
    from fervid.inference.video import VIDEO_SUFFIXES

    problems = dict(expand_inputs(["interviews/interview 1.mov", "interviews/gone.mp4", "gone.mp4",
                                   str(interviews / "gone.mp4")], VIDEO_SUFFIXES)[1])
    assert problems == {
        "interviews/interview 1.mov": 'no such file or folder; did you mean "Interviews/Interview 1.MOV"? (letter '
                                      "case counts in names here)",
        "interviews/gone.mp4": f"no such file or folder in {interviews} (letter case counts in names here: the "
                               'folder is "Interviews")',
        "gone.mp4": f"no such file or folder in {interviews}",
        str(interviews / "gone.mp4"): "no such file or folder"}  # (absolute: no folder to name)


def test_a_pattern_matching_only_in_another_letter_case_says_how_to_write_it(interviews):
    """`fervid video "Interviews/*.mp4"` said "pattern matches no file" beside Interview 2.MP4. A pattern is
    matched as written (as the shell would: `*.jpg` may pick a camera's edited copies beside its .JPG originals),
    and the one written in the case on disk is suggested."""
    from fervid.inference.video import VIDEO_SUFFIXES

    problems = dict(expand_inputs(["Interviews/*.mp4", "interviews/*", "Interviews/*.avi"], VIDEO_SUFFIXES)[1])
    assert problems == {
        "Interviews/*.mp4": 'pattern matches no file; letter case counts in names here: "Interviews/*.MP4" matches '
                            "1 file(s) (Interview 2.MP4)",
        "interviews/*": 'pattern matches no file; letter case counts in names here: "Interviews/*" matches 2 '
                        "file(s) (Interview 1.MOV, Interview 2.MP4)",
        "Interviews/*.avi": f"pattern matches no file in {interviews}"}
    assert expand_inputs(["Interviews/*.MP4"], VIDEO_SUFFIXES) == ([Path("Interviews/Interview 2.MP4")], [])


def test_a_folder_of_an_archive_and_documents_names_them(interviews):
    """A folder holding only videos.zip and consent form.docx: "Z: folder holds no video files", and nothing of
    what it holds; beside videos, a document was left out unsaid where images were said."""
    from fervid.inference.video import VIDEO_SUFFIXES

    assert expand_inputs(["Z"], VIDEO_SUFFIXES) == ([], [(
        "Z", "folder holds no video files; it holds 2 file(s) that are neither images nor videos: videos.zip, consent "
             "form.docx (videos.zip is an archive: unzip it first, and analyse the folder it makes)")])
    _write_docx(interviews / "Interviews" / "consent form.docx")
    notices = []
    files, problems = expand_inputs(["Interviews"], VIDEO_SUFFIXES, notices=notices)
    assert len(files) == 2 and problems == []
    assert notices == ["Interviews: left out 1 file(s) that are neither images nor videos: consent form.docx"]


def test_a_file_named_as_media_that_holds_an_archive_or_a_document_is_said_as_what_it_holds(interviews,
                                                                                               astronaut_png):
    """A folder searched for videos holding holiday.jpg, a ZIP archive of videos: "left out 1 image(s) (e.g.
    holiday.jpg): ... analyse images with `fervid image`" (its extension alone was read), and with nothing else
    "folder holds no video files". What a file holds, by its first bytes, says what it is; an archive named as no
    archive (clips.dat) is one too."""
    from fervid.inference.video import VIDEO_SUFFIXES

    holidays = interviews / "Holidays"
    holidays.mkdir()
    with zipfile.ZipFile(holidays / "holiday.jpg", "w") as archive:
        archive.writestr("beach.mp4", b"\0" * 100)
    assert expand_inputs(["Holidays"], VIDEO_SUFFIXES) == ([], [(
        "Holidays", "folder holds no video files; it holds 1 file(s) that are neither images nor videos: holiday.jpg "
                    "(holiday.jpg is a ZIP archive: unzip it first, and analyse the folder it makes)")])
    (holidays / "scan.png").write_bytes(b"%PDF-1.7\n" + bytes(200))
    (holidays / "clips.dat").write_bytes((holidays / "holiday.jpg").read_bytes())
    (holidays / "face.png").write_bytes(astronaut_png.read_bytes())
    (holidays / "trip.mp4").write_bytes((interviews / "Interviews" / "Interview 1.MOV").read_bytes())
    notices = []
    assert expand_inputs(["Holidays"], VIDEO_SUFFIXES, notices=notices) == ([Path("Holidays/trip.mp4")], [])
    assert notices == [
        "Holidays: left out 1 image(s) (e.g. face.png): `fervid video` reads videos; analyse images with `fervid "
        "image`, or both kinds with `fervid batch`",
        "Holidays: left out 3 file(s) that are neither images nor videos: clips.dat, holiday.jpg (a ZIP archive), "
        "scan.png (a PDF document) (2 are archives: unzip them first, and analyse the folders they make)"]


def test_a_pattern_that_matches_only_other_files_names_them(interviews):
    """`fervid video "Z/*"` of a folder holding only videos.zip and consent form.docx said "pattern matches 2
    file(s), none with a video file's extension (...)", and nothing of what they were, as the folder's search
    does."""
    from fervid.inference.video import VIDEO_SUFFIXES

    for kinds, taken in (("video", VIDEO_SUFFIXES), ("image", IMAGE_SUFFIXES)):
        assert expand_inputs(["Z/*"], taken) == ([], [(
            "Z/*", "pattern matches only 2 file(s) that are neither images nor videos: videos.zip, consent "
                   "form.docx (videos.zip is an archive: unzip it first, and analyse the folder it makes)")]), kinds
    (interviews / "Z" / "Interview 4.mp4").write_bytes((interviews / "Interviews" / "Interview 1.MOV").read_bytes())
    [(pattern, said)] = expand_inputs(["Z/*"], IMAGE_SUFFIXES)[1]  # a video too: the extensions looked for
    assert pattern == "Z/*" and said.startswith("pattern matches 3 file(s), none with an image file's extension (")
    assert said.endswith("); it matches 2 file(s) that are neither images nor videos: videos.zip, consent form.docx "
                         "(videos.zip is an archive: unzip it first, and analyse the folder it makes)")


@pytest.mark.parametrize("name, write, said", [
    ("videos.zip", lambda p: zipfile.ZipFile(p, "w").close(), "a ZIP archive: unzip it first"),
    ("consent form.docx", _write_docx, "a Word document"),
    ("scores.xlsx", lambda p: zipfile.ZipFile(p, "w").writestr("xl/workbook.xml", "<workbook/>"),
     "an Excel workbook"),
    ("form.pdf", lambda p: p.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(200)), "a PDF document"),
    ("notes.png", lambda p: p.write_text("Participant 3: smiled at 0:41\n"), "a text file")])
def test_a_document_named_as_an_input_is_said_as_what_it_is(tmp_path, name, write, said):
    """Naming a zip: "not a video, or a format/codec OpenCV's FFmpeg cannot read" and "not an image, or a format
    Pillow cannot read": words for a programmer, and nothing of what the file is."""
    from fervid.inference.video import VideoError, open_video

    write(tmp_path / name)
    with pytest.raises(ImageLoadError) as image:
        load_image(tmp_path / name)
    assert str(image.value) == f"{tmp_path / name}: not an image fervid can read ({said})"
    with pytest.raises(VideoError) as video:
        open_video(tmp_path / name)
    assert str(video.value) == f"{tmp_path / name}: not a video fervid can read ({said})"


def test_a_file_of_no_known_kind_says_so_in_plain_words(tmp_path):
    from fervid.inference.video import VideoError, open_video

    # (not bytes(range(256)): Pillow 10's TGA reader took their first three, 0 1 2, for a header)
    (tmp_path / "data.bin").write_bytes(bytes([0xDE, 0xAD, 0xBE, 0xEF]) * 256)
    with pytest.raises(ImageLoadError, match=r"data\.bin: not an image fervid can read \(Pillow, which decodes "
                                             r"images, does not know its format\)$"):
        load_image(tmp_path / "data.bin")
    with pytest.raises(VideoError, match=r"data\.bin: not a video fervid can read \(OpenCV's FFmpeg, which decodes "
                                         r"videos, cannot read its format or codec\)$"):
        open_video(tmp_path / "data.bin")


def _decomposed(name: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFD", name)


@pytest.fixture
def copied_from_macos(tmp_path, monkeypatch, astronaut_png):
    """As the current folder: photos named decomposed (NFD: "c", a cedilla, "a", a tilde), as macOS writes names,
    in a folder named composed here (reunião/) and one copied with its name decomposed (sessão/)."""
    import shutil

    for folder in ("reunião", _decomposed("sessão")):
        (tmp_path / folder).mkdir()
        shutil.copyfile(astronaut_png, tmp_path / folder / _decomposed("coração.png"))
    shutil.copyfile(astronaut_png, tmp_path / "reunião" / "zebra.png")
    if "reunião" not in os.listdir(tmp_path) or (tmp_path / "sessão").exists():
        pytest.skip("this filesystem stores names in one normal form")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_name_typed_composed_finds_the_file_named_decomposed_on_disk(copied_from_macos):
    """`fervid image reunião/coração.png` said "no such file or folder" where macOS had written the name
    decomposed: Unicode's one name, the same on screen."""
    heart = _decomposed("coração.png")
    assert expand_inputs(["reunião/coração.png", "sessão/coração.png", _decomposed("reunião/coração.png")]) == (
        [Path("reunião", heart), Path(_decomposed("sessão"), heart)], [])
    assert expand_inputs(["sessão"]) == ([Path(_decomposed("sessão"), heart)], [])  # a folder named so too
    # another name is still none: no letter is taken for another
    assert expand_inputs(["reunião/coracao.png"])[1] == [
        ("reunião/coracao.png", f"no such file or folder in {copied_from_macos}")]


def test_a_pattern_matches_names_however_their_letters_are_encoded(copied_from_macos):
    """`fervid image "reunião/*ção.png"` passed over the decomposed coração.png without a word."""
    heart = _decomposed("coração.png")
    in_meeting, in_session = Path("reunião", heart), Path(_decomposed("sessão"), heart)
    for pattern, matched in (("reunião/*ção.png", [in_meeting]), ("*/coração.png", [in_meeting, in_session]),
                             ("sessão/*.png", [in_session]), ("**/*ção.png", [in_meeting, in_session]),
                             (_decomposed("reunião/*ção.png"), [in_meeting]),  # a pattern typed decomposed
                             ("reuni[ãa]o/cora[ç]ão.png", [in_meeting]), ("*ão/z*", [Path("reunião", "zebra.png")])):
        files, problems = expand_inputs([pattern])
        assert (sorted(files), problems) == (sorted(matched), []), pattern
    assert expand_inputs(["reunião/*cao.png"])[1][0][1].startswith("pattern matches no file")


@pytest.mark.parametrize("exc, said", [
    # word for word, `prlimit --as=1100000000 fervid video carphone.mp4` (pyarrow loaded as the tables open)
    (ImportError("libarrow_substrait.so.2600: failed to map segment from shared object"),
     "loading libarrow_substrait.so.2600: failed to map segment from shared object"),
    (ImportError("/usr/lib/python3/site-packages/matplotlib/_path.cpython-311-x86_64-linux-gnu.so: failed to map "
                 "segment from shared object"),
     "loading _path.cpython-311-x86_64-linux-gnu.so: failed to map segment from shared object"),
    (OSError("libgomp.so.1: failed to map segment from shared object"),  # ctypes' CDLL
     "loading libgomp.so.1: failed to map segment from shared object"),
    # a folder mounted noexec: not memory
    (ImportError("/tmp/x/_lib.so: failed to map segment from shared object: Operation not permitted"), None),
    (ImportError("libarrow.so.2600: cannot open shared object file: No such file or directory"), None),
    (RuntimeError("libarrow.so.2600: failed to map segment from shared object"), None),
])
def test_a_library_that_could_not_be_loaded_for_want_of_memory_is_said_as_memory(tmp_path, exc, said):
    """Under a memory cap (`ulimit -v`, `prlimit --as`), a library loaded late fails to load ("failed to map
    segment from shared object"), which was said as the input's own error ("error: s20.mp4:
    libarrow_substrait.so.2600: failed to map segment from shared object"). Told from a missing library's and a
    noexec folder's."""
    from fervid.inference.images import failure_message, memory_failure

    assert memory_failure(exc) == said
    photo = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(photo)
    assert failure_message(photo, exc).startswith(f"{photo}: out of memory while decoding") == (said is not None)


@pytest.mark.parametrize("kind, message, said", [
    ("Fail", "[ONNXRuntimeError] : 1 : FAIL : std::bad_alloc", "std::bad_alloc"),
    ("RuntimeException", "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running "
     "QLinearConv node. Name:'_token_36' Status Message: std::bad_alloc", "std::bad_alloc"),
    ("RuntimeException", "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running "
     "Conv node. Name:'conv1' Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:376 void* "
     "onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, "
     "onnxruntime::WaitNotificationFn) Failed to allocate memory for requested buffer of size 8388608\n",
     "Failed to allocate memory for requested buffer of size 8388608"),
    ("Fail", "[ONNXRuntimeError] : 1 : FAIL : Got invalid dimensions for input: input for the following indices",
     None),
])
def test_onnx_runtimes_allocation_failures_are_told_from_its_other_errors(tmp_path, kind, message, said):
    """ONNX Runtime raises no MemoryError: where an allocation fails, its Fail or RuntimeException says so in
    words, read as a broken input's error ("analysis stopped at frame 19: [ONNXRuntimeError] : 1 : FAIL :
    std::bad_alloc"). Those words are told from its other errors, and from the same words in an error not its."""
    from onnxruntime.capi import onnxruntime_pybind11_state

    from fervid.inference.images import failure_message, onnx_runtime_allocation_failure

    exc = getattr(onnxruntime_pybind11_state, kind)(message)
    assert onnx_runtime_allocation_failure(exc) == said
    assert onnx_runtime_allocation_failure(RuntimeError(message)) is None
    photo = tmp_path / "big.png"
    Image.new("RGB", (3000, 2000)).save(photo)
    assert (failure_message(photo, exc) == f"{photo}: out of memory while decoding and analysing it (3000 x 2000 "
            "pixels: 18 MB decoded, before any copy the analysis makes)") == (said is not None)
