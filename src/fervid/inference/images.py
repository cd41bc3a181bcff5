"""Reading images from anything a user hands over, with one clear error per bad input.

Everything becomes a BGR uint8 array (H, W, 3), the layout OpenCV and the detector use. Decoding is done by
Pillow, which handles EXIF orientation, 16-bit, palette, alpha and CMYK images.
"""

from __future__ import annotations

import errno
import glob
import inspect
import os
import re
import sys
import unicodedata
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Protocol, Union, cast

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fervid.errors import FervidError, OptionError, OutOfMemory
from fervid.folder_lock import PHOTO_OUTPUTS, VIDEO_OUTPUTS, FolderLocked, stem_lock
from fervid.inference.file_kinds import Family, file_kind, first_bytes
from fervid.ownership import other_users_file, owner_and_mode


class BinaryFile(Protocol):
    """A binary file object, or anything read like one (an upload): ``read()`` gives an encoded image's bytes."""

    def read(self, size: int = -1, /) -> bytes: ...


class _SeekableFile(Protocol):
    """A file object that may say where it is (a pipe's cannot: ``seekable()`` False)."""

    def seekable(self) -> bool: ...

    def tell(self) -> int: ...


# what load_image and Analyzer.analyze_image read: an image file's path, a decoded image (PIL; a numpy array, RGB
# unless bgr=True), or an encoded image file's bytes, in memory or as a binary file object
ImageInput = Union[str, os.PathLike[str], Image.Image, np.ndarray, bytes, bytearray, memoryview, BinaryFile]


def _pillow_reads(module: str) -> bool:
    """Whether this install's Pillow has the decoder ``module`` names ("avif": Pillow 11.2 and later)."""
    from PIL import features

    try:
        return bool(features.check_module(module) if module in features.modules else features.check_codec(module))
    except (ValueError, ImportError):  # a decoder this Pillow does not know
        return False


def _register_heif_opener() -> bool:
    """Let Pillow open HEIC/HEIF photos where pillow-heif is installed; whether it is. Its decoder applies the
    photo's rotation (HEIF's irot/imir boxes) and sets the EXIF tag to upright, so no photo is turned twice."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


# formats only some Pillow builds decode: their files are searched for where this one does
_OPTIONAL_FORMATS = {"avif": {".avif"}, "jpg_2000": {".jp2", ".j2k", ".jpf", ".jpx"}}
HEIF_SUFFIXES = {".heic", ".heif", ".hif"}  # iPhones' default photo format
# Pillow has no HEIF decoder of its own: the optional extra installs pillow-heif, whose wheels (for every platform
# fervid's are) bundle libheif and libde265 (LGPL-3.0) and x265 (GPL-2.0), libraries loaded into fervid's own
# process; kept optional for that. (The required imageio-ffmpeg ships a GPL build of ffmpeg too, but run as a
# separate program, never linked: README.md, "Licences".)
HEIF_EXTRA = 'pip install "fervid[heic]"'
READS_HEIF = _register_heif_opener()
# what a folder or pattern is searched for (a file named on its own is tried whatever its name)
IMAGE_SUFFIXES = {".png", ".apng", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm",
                  ".ppm", ".pbm", ".pnm", ".tga"} | (HEIF_SUFFIXES if READS_HEIF else set()) | {
    suffix for module, suffixes in _OPTIONAL_FORMATS.items() if _pillow_reads(module) for suffix in suffixes}
# photos fervid cannot read here (HEIC without the extra; AVIF or JPEG 2000 where this Pillow lacks their
# decoder): a search leaves them out and says so
UNREADABLE_IMAGE_SUFFIXES = (set() if READS_HEIF else HEIF_SUFFIXES) | {
    suffix for module, suffixes in _OPTIONAL_FORMATS.items() if not _pillow_reads(module) for suffix in suffixes}
# sound without a picture (a participant's voice memo beside their videos): a search leaves them out and says so
AUDIO_SUFFIXES = {".m4a", ".m4b", ".mp3", ".wav", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma", ".aif", ".aiff",
                  ".amr", ".caf"}
MAX_PIXELS = 250_000_000  # a 15800 x 15800 photo; beyond this decoding alone needs gigabytes


class ImageLoadError(FervidError, ValueError):
    """An input that cannot be turned into an image; the message names the input and the problem."""


def megapixels_text(megapixels: float, limit_megapixels: float) -> str:
    """``megapixels`` to three significant figures, or as many more as it takes to differ from the limit it is over
    (50.04 over 50 is not "50"; 0.0253 is not "0")."""
    limit = f"{limit_megapixels:g}"
    for digits in range(3, 10):
        text = f"{megapixels:.{digits}g}"
        if text != limit:
            return text
    return f"{megapixels!r}"


class ImageTooLargeError(ImageLoadError):
    """An image over a pixel limit: ``megapixels`` it has, ``limit_megapixels`` it may have (for a plain message
    beside the technical one, as the web page shows it)."""

    def __init__(self, message: str, megapixels: float, limit_megapixels: float):
        super().__init__(message)
        self.megapixels, self.limit_megapixels = megapixels, limit_megapixels


class VideoNotImageError(ImageLoadError):
    """A video given as an image: ``what`` names it and says so, ``reader`` what reads videos (`fervid video`;
    Analyzer.analyze_video where the API raised it)."""

    def __init__(self, what: str, reader: str = "`fervid video`"):
        super().__init__(f"{what} (use {reader})")
        self.what, self.reader = what, reader

    def __reduce__(self):  # made again from its parts (from its message, a copy or a pickle said the reader twice)
        return type(self), (self.what, self.reader)


def load_image(source: ImageInput, *, bgr: bool = False, max_pixels: int | None = MAX_PIXELS,
               limit_name: str = "") -> np.ndarray:
    """Return a BGR uint8 image (H, W, 3) from a path, a PIL image, a numpy array, or an encoded file's bytes
    (``bytes`` or a binary file object, e.g. an upload: PNG, JPEG, ... as on disk).

    An image of more than ``max_pixels`` pixels (width x height) raises :class:`ImageTooLargeError` naming it and
    the limit (``limit_name``: the setting the limit comes from), an encoded one before any pixel is decoded; None:
    fervid sets no limit (Pillow's own, twice ``PIL.Image.MAX_IMAGE_PIXELS``, still bounds an encoded file).

    numpy arrays are taken as RGB (the order of Pillow, scikit-image and matplotlib) unless ``bgr=True``
    (OpenCV's order); (H, W) grey and (H, W, 4) RGBA arrays are accepted; float arrays are read as [0, 1] when
    no value is above 2 (resampling overshoots 1 a little) and as [0, 255] otherwise (a float PIL image too).
    A file's EXIF rotation is applied, also to a PIL image, which carries its file's tag (an image turned upright
    by hand with ``transpose`` still carries it: turn with ``ImageOps.exif_transpose``, which clears it).
    """
    if bgr and not isinstance(source, np.ndarray):  # a decoded file knows its colour order: the flag would be
        # ignored, and the caller misled
        raise OptionError(f"bgr=True describes a numpy array's channel order; this input ({type(source).__name__}) "
                         "carries its own")
    # an image sent as text, as deepface and web APIs take one (a file of that name is read as a file)
    if isinstance(source, str) and base64_image(source) and not os.path.lexists(source):
        raise ImageLoadError(f"{shortened(source)}: this looks like base64 image data: decode it and pass the bytes "
                             "(base64.b64decode(text" + ('.split(",", 1)[1]' if _IMAGE_DATA_URI.match(source) else "")
                             + "))")
    if isinstance(source, str) and is_url(source):
        raise ImageLoadError(f"{shortened(source)}: fervid reads files, not URLs (it works offline): download the "
                             "image and give its path")
    if isinstance(source, str) and not source.strip():
        raise ImageLoadError("empty file name")
    limit = sys.maxsize if max_pixels is None else max_pixels
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fsdecode(source))  # fsdecode: a PathLike may give bytes
        check_input_file(path, "image", ImageLoadError)
        return _decode(path, str(path), limit, limit_name)
    if isinstance(source, Image.Image):
        name = source_name(source) or "PIL image"
        # an image opened from a file object and not yet decoded reads it now: closed, Pillow said "corrupt image
        # (seek of closed file)"
        opened_from = getattr(source, "fp", None)
        if getattr(source, "tile", None) and getattr(opened_from, "closed", False) is True:
            raise ImageLoadError(f"{source_name(source) or source_name(opened_from) or name}: the file object it was opened from is closed: load it (image.load()) "
                                 "before closing the file, or open it again")
        check_image_size(name, source.width, source.height, limit, limit_name)
        with _pillow_errors(name, limit):  # an unloaded image decodes now: a truncated file fails here
            return _from_pil(source, name)
    if isinstance(source, np.ndarray):
        if source.ndim >= 2:  # (the shape's other faults are said by _from_array)
            check_image_size("numpy image", source.shape[1], source.shape[0], limit, limit_name)
        return _from_array(source, bgr)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_image_bytes(bytes(source), "image bytes", limit, limit_name)
    if callable(getattr(source, "read", None)):  # an open binary file, io.BytesIO, an upload's file object
        name = source_name(source) or "image stream"
        if getattr(source, "closed", False) is True:  # its tell() or read() raised a bare ValueError ("I/O
            # operation on closed file"), naming no input
            raise ImageLoadError(f"{name}: the file object is closed: pass it open (read inside its `with` block), "
                                 "or its bytes")
        if inspect.iscoroutinefunction(source.read):  # called, it gave a coroutine never awaited, and "a bytes-like
            # object is required, not 'coroutine'" (checked before the call: no never-awaited warning either)
            raise TypeError(f"{name}: its read() is async (a FastAPI/Starlette UploadFile?): pass the bytes, "
                            "`await upload.read()`, or its file object, `upload.file`")
        # (looked up as attributes: a wrapper such as NamedTemporaryFile's hands them on from its file)
        file = cast(_SeekableFile, source)
        start = file.tell() if callable(getattr(source, "seekable", None)) and file.seekable() else 0
        data = source.read()
        if isinstance(data, str):
            raise ImageLoadError(f"{name}: opened in text mode; open image files with 'rb'")
        if start and not data:  # read already (a second analysis of one open file): say so, not "empty file"
            raise ImageLoadError(f"{name}: nothing left to read (the stream is at its end, byte {start:,}; "
                                 "seek(0) to read it again)")
        if start:  # part read already (e.g. by Image.open): a failure below names where reading began
            name = f"{name} (read from byte {start:,}, where the stream was; seek(0) to read it from the start)"
        return decode_image_bytes(data, name, limit, limit_name)
    raise ImageLoadError(f"cannot read an image from a {type(source).__name__}; pass a path, PIL image, numpy "
                         "array, or an image file's bytes")


def more_frames_notice(path: str | Path) -> str:
    """For a file :func:`load_image` read only the first frame or page of (an animated GIF, PNG, WebP or AVIF, a
    multi-page TIFF; a HEIC's primary image): a line saying so and how to read them all; "" for any other (a
    camera's MPO JPEG, whose second image is a preview or depth map, too)."""
    try:
        with Image.open(path) as im:
            fmt, frames = im.format, getattr(im, "n_frames", 1)
    except (OSError, ValueError, SyntaxError):
        return ""
    if frames < 2 or fmt not in ("GIF", "PNG", "WEBP", "AVIF", "TIFF", "HEIF"):
        return ""
    if fmt == "HEIF":  # a burst or an edited photo's original beside it: the primary image is the one shown
        return (f"{path}: a HEIC/HEIF holding {frames} images: analysed its primary one, the one photo viewers show "
                "(save the others as images of their own to analyse them)")
    if fmt == "TIFF":
        return f"{path}: a multi-page TIFF: analysed page 1 of {frames} (save each page as its own image to analyse it)"
    kind = {"WEBP": "WebP"}.get(fmt, fmt)
    return f"{path}: an animated {kind}: analysed frame 1 of {frames} " + (
        "(`fervid video` reads every frame)" if fmt in ("GIF", "PNG") else
        f"(`fervid video` cannot decode an animated {kind}'s frames: convert it to GIF or MP4 to analyse them all)")


def load_grey(path: str | Path) -> np.ndarray:
    """A file as a grey uint8 image (H, W), read as :func:`load_image` reads it (EXIF rotation applied, 16-bit
    scaled, alpha on white), then greyed as the analyzer greys a photo, so a dataset's faces are the pixels
    ``fervid image`` would see."""
    import cv2

    return cv2.cvtColor(load_image(path), cv2.COLOR_BGR2GRAY)


def source_name(source) -> str:
    """The file an input came from: a path, a PIL image's ``filename``, an open file's ``name``; else ""."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        return name if isinstance(name, str) else os.fsdecode(name)
    for attribute in ("filename", "name"):  # PIL images; open files (a pipe's name is its descriptor, an int)
        name = getattr(source, attribute, "")
        if isinstance(name, str) and name:
            return name
    return ""


def unreadable_reason(exc: OSError) -> str:
    """Why an input file could not be read, as every command says it after the file's name: "cannot be read
    (Permission denied)" (`fervid batch` said "permission denied", `fervid image` this), or "no such file (deleted
    since the inputs were listed?)"."""
    if isinstance(exc, FileNotFoundError):
        return "no such file (deleted since the inputs were listed?)"
    return f"cannot be read ({exc.strerror or exc})"


def check_input_file(path: Path, kind: str, error: type[Exception]) -> None:
    """Raise ``error`` naming ``path`` when it is missing, a directory, or empty (``kind``: "image", "video"), or
    when the system cannot look it up (a name too long to be a file's, a folder it may not enter)."""
    text = str(path)
    if "\x00" in text:  # no file's name holds one (exists() said False): a file's bytes decoded as text
        raise error(f"{said_path(text)}: holds NUL bytes, so names no file: pass an image's bytes as bytes, not a "
                    "str")
    try:
        exists = path.exists()
    except OSError as exc:  # not said by exists(): a plain OSError that repeated the whole name escaped the API
        if exc.errno == errno.ENAMETOOLONG:
            raise error(f"{said_path(text, cut=True)}: too long for a file's name or path"
                        + (": this looks like base64 image data: decode it and pass the bytes"
                           if base64_image(text) else "")) from None
        raise error(f"{said_path(text, cut=True)}: {unreadable_reason(exc)}") from None
    if not exists:
        stripped = text.strip()
        if stripped != text:  # pasted or read from a line with its newline: the whitespace is invisible, so quoted
            raise error(f"'{said_path(text)}': no such file; the name has leading or trailing whitespace"
                        + (f" ({said_path(stripped)} exists)" if os.path.lexists(stripped) else ""))
        raise error(f"{said_path(text)}: no such file")
    if path.is_dir():
        raise error(f"{said_path(text)}: is a directory, not {'an' if kind[0] in 'aeiou' else 'a'} {kind}")
    if not path.is_file():  # a device (/dev/zero), FIFO or socket: reading it could never end
        raise error(f"{said_path(text)}: not a regular file (a device, pipe or socket)")
    if path.stat().st_size == 0:
        raise error(f"{said_path(text)}: empty file (0 bytes)")
    try:  # said as what it is: the image reader called a file it may not open "truncated or corrupt", the video
        # reader "not a video"
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise error(f"{said_path(text)}: {unreadable_reason(exc)}") from None


# the longest path a message shows whole (Linux's PATH_MAX): a longer str names no file and is cut
PATH_MAX = 4096


def said_path(text: str, cut: bool = False) -> str:
    """A path as a one-line message shows it: characters that are not printable (a newline, a tab, NUL, a byte of
    a name that is not UTF-8) as Python escapes (\\n, \\x00, \\udce9), and a str too long to be a path, or one
    holding NUL (a file's bytes decoded as text), cut as :func:`shortened` cuts (its message was 791,555 characters
    of binary); any name ``cut`` where it is longer than that keeps (one the system called too long)."""
    shown = shortened(text) if cut or "\x00" in text or len(text) > PATH_MAX else text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)


def decode_image_bytes(data: bytes, name: str, max_pixels: int = MAX_PIXELS, limit_name: str = "") -> np.ndarray:
    """An uploaded file's bytes -> BGR uint8 image, with the same checks and messages as a path (``name`` stands
    for the file in them; ``limit_name``: the setting ``max_pixels`` comes from, named when it refuses one). The
    declared size is checked before any pixel is decoded, so a small file that declares a huge image (a
    decompression bomb) costs nothing."""
    import io

    if not data:
        raise ImageLoadError(f"{name}: empty file (0 bytes)")
    return _decode(io.BytesIO(data), name, max_pixels, limit_name)


def pixel_limit(max_pixels: int = MAX_PIXELS) -> int:
    """The largest image decoded: ``max_pixels``, or Pillow's own limit where that is stricter (it refuses over
    twice ``PIL.Image.MAX_IMAGE_PIXELS``, 179 million pixels by default). Pillow's limit is a process-wide
    setting: the library leaves it as the caller has it (changing it even for a moment let another thread's
    ``Image.open`` past it); fervid's commands, which own their process, raise it to ``MAX_PIXELS``
    (:func:`set_up_pillow_for_fervid`)."""
    pillow = Image.MAX_IMAGE_PIXELS
    return max_pixels if pillow is None else min(max_pixels, 2 * int(pillow))


def set_up_pillow_for_fervid() -> None:
    """For a process fervid owns (its CLI, server and workers): let Pillow open photos up to ``MAX_PIXELS`` without
    its decompression-bomb warning (a 200-megapixel phone photo is not an attack, and a server's log should not
    fill with one per upload it refuses); fervid checks every image's declared size against its limit before
    decoding it. And keep Pillow's own warnings about a file it reads out of the output (a truncated TIFF printed
    "UserWarning: Corrupt EXIF data" and Pillow's source line before fervid's line naming the file): fervid says
    of each image it cannot read, by name, what is wrong with it. (A filter for the whole process: warnings'
    catch_warnings is not safe in threads, and the server reads images in several.)"""
    import warnings

    if Image.MAX_IMAGE_PIXELS is not None:  # None: the caller lifted Pillow's limit altogether; left so
        Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS, MAX_PIXELS)
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


def check_image_size(name: str, width: int, height: int, max_pixels: int, limit_name: str = "",
                     pillow_bound: bool = False) -> None:
    """Raise :class:`ImageTooLargeError` naming the image and the limit where ``width`` x ``height`` is over
    ``max_pixels`` (``limit_name``: the setting it comes from; ``pillow_bound``: the limit is Pillow's own)."""
    if width * height <= max_pixels:
        return
    megapixels, limit = width * height / 1e6, max_pixels / 1e6
    raise ImageTooLargeError(f"{name}: image too large: {width} x {height} ({megapixels_text(megapixels, limit)} "
                             f"megapixels; the limit is {limit:g}"
                             + (", Pillow's: twice PIL.Image.MAX_IMAGE_PIXELS)" if pillow_bound else
                                f", {limit_name})" if limit_name else ")"), megapixels, limit)


def _decode(source, name: str, max_pixels: int, limit_name: str = "") -> np.ndarray:
    limit = pixel_limit(max_pixels)
    try:
        with _pillow_errors(name, limit, pillow_bound=limit < max_pixels), Image.open(source) as im:
            check_image_size(name, im.width, im.height, limit, limit_name, pillow_bound=limit < max_pixels)
            im.load()
            return _from_pil(im, name)
    except ImageLoadError as exc:
        container = video_container(source) if "not an image" in str(exc) else None
        image_format = image_signature(source) if "not an image" in str(exc) and not container else None
        head = first_bytes(source, 24) if "not an image" in str(exc) else None
        if head and base64_image(head.decode("latin-1")):  # an image's base64 text, encoded as bytes again
            raise ImageLoadError(f"{name}: base64 text of an image, not the image's bytes: decode it first "
                                 "(base64.b64decode)") from None
        if image_format:  # an image's first bytes, and no picture after them: cut short, or damaged
            raise ImageLoadError(f"{name}: a {image_format} image whose data Pillow cannot read: truncated or "
                                 "corrupt") from None
        if container == "HEIF" and READS_HEIF:  # pillow-heif did not recognise it either
            raise ImageLoadError(f"{name}: a corrupt HEIC/HEIF image (its header names the format, the decoder "
                                 "found no picture in it)") from None
        if container == "HEIF":  # an iPhone's photo
            raise ImageLoadError(f"{name}: a HEIC/HEIF image; fervid reads these with an optional decoder: "
                                 f"{HEIF_EXTRA} (or convert it to JPEG or PNG)") from None
        if container == "AVIF":  # where this Pillow is older than 11.2
            raise ImageLoadError(f"{name}: an AVIF image, which fervid cannot read here (this Pillow has no decoder "
                                 "for it; Pillow 11.2 and later have one): convert it to JPEG or PNG") from None
        # (batch takes what is not a video for an image; an .ogg may hold Theora, the one sound extension whose
        # container video_container tells by its codec)
        if container == "M4A" or (Path(name).suffix.lower() in AUDIO_SUFFIXES and container != "Ogg Theora"):
            raise ImageLoadError(f"{name}: audio only, no picture: fervid reads faces") from None
        if container:  # a video saved under an image's name: say what it is, as `fervid video` does the reverse
            raise VideoNotImageError(f"{name}: a video ({container}), not an image") from None
        if "not an image" in str(exc) and (document := not_media_said(source)):  # a .zip, a .docx
            raise ImageLoadError(f"{name}: not an image fervid can read ({document})") from None
        raise


# an ISO media file's major brand (bytes 8-12) that makes it a still image, not an MP4/MOV video
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


# an image file's first bytes, and the format they announce
_IMAGE_MAGIC = ((b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"),
                (b"GIF87a", "GIF"), (b"GIF89a", "GIF"))


def image_signature(source) -> str | None:
    """The image format a file's (or stream's) first bytes announce (TIFF, PNG, JPEG, GIF, WebP), or None: what
    a file Pillow cannot identify was meant to be."""
    head = first_bytes(source, 16)
    if head is None:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _IMAGE_MAGIC if head.startswith(magic)), None)


def not_media_said(source) -> str | None:
    """What a file (a path or a binary stream) given as an image or a video is instead (:func:`file_kind`), with
    what to do, said for a person: "a ZIP archive of a.mp4, b.mp4: unzip it first", "a Word document", "an SVG
    drawing: convert it to PNG", "a text file"...; None where its first bytes say nothing known."""
    kind = file_kind(source)
    if kind is None:
        return None
    if kind.family is Family.ARCHIVE and not kind.damaged:
        return f"{kind.phrase}{f' of {kind.listing()}' if kind.members else ''}: {kind.unpack} it first"
    return f"{kind.said}: convert it to PNG" if kind.family is Family.DRAWING else kind.said


def video_container(source) -> str | None:
    """The video container a file's first bytes announce, or None: MP4/MOV (3GP, F4V, QuickTime), Matroska/WebM,
    AVI, ASF/WMV, FLV, Ogg holding Theora (an Ogg of sound alone is None), an MPEG program stream (.mpg, .vob, a
    camcorder's .mod) or transport stream, Y4M, NUT, MXF, RealMedia, raw DV and raw H.264/HEVC; "HEIF" and "AVIF" for
    the still images that share MP4's boxes, "M4A" for the sound files that do. Read from the first KiB: a file of an
    extension fervid does not know (or an ambiguous .ogg) is a video by what it holds."""
    head = first_bytes(source, 1024)
    if head is None:
        return None
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return ("HEIF" if brand in _HEIF_BRANDS else "AVIF" if brand in (b"avif", b"avis") else
                "M4A" if brand in (b"M4A ", b"M4B ", b"M4P ") else "MP4/MOV")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):  # QuickTime without a file type box
        return "MP4/MOV"
    for magic, name in _VIDEO_MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] == b"OggS" and b"\x80theora" in head:  # the first pages name every stream's codec
        return "Ogg Theora"
    if head[:3] == b"\x1f\x07\x00" and len(head) > 3 and head[3] & 0x7F == 0x3F:  # a DIF sequence's header block
        return "DV"
    if any(len(head) > offset + 2 * size and all(head[i] == 0x47 for i in range(offset, offset + 3 * size, size))
           for offset, size in ((0, 188), (4, 192))):  # 0x47 opens each packet (M2TS: after a 4-byte time)
        return "MPEG-TS"
    start = head[4:5] if head[:4] == b"\x00\x00\x00\x01" else head[3:4] if head[:3] == b"\x00\x00\x01" else b""
    if start and (start[0] & 0x1F in (6, 7, 9) or start[0] in (0x40, 0x46)):  # H.264 SEI/SPS/AUD, HEVC VPS/AUD
        return "H.264/HEVC"
    return None


# (magic at a file's start, container) for video_container
_VIDEO_MAGIC = ((b"\x1aE\xdf\xa3", "Matroska/WebM"), (b"0&\xb2u\x8ef\xcf\x11", "ASF/WMV"), (b"FLV\x01", "FLV"),
                (b"\x00\x00\x01\xba", "MPEG-PS"), (b"\x00\x00\x01\xb3", "MPEG video"), (b"YUV4MPEG2 ", "Y4M"),
                (b"nut/multimedia container", "NUT"), (b"\x06\x0e+4\x02\x05\x01\x01", "MXF"), (b".RMF", "RealMedia"))
# what video_container names that is no video
NOT_VIDEO_CONTAINERS = {"HEIF", "AVIF", "M4A"}


def holds_video(path: Path) -> bool:
    """Whether a file's first bytes announce a video container (:func:`video_container`)."""
    return video_container(path) not in (None, *NOT_VIDEO_CONTAINERS)


@contextmanager
def _pillow_errors(name: str, max_pixels: int, pillow_bound: bool = False):
    """Pillow's exceptions as one :class:`ImageLoadError` naming the input and the problem (``pillow_bound``: the
    size limit in force is Pillow's own, stricter than the one asked for)."""
    try:
        yield
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not an image fervid can read (Pillow, which decodes images, does not know "
                             "its format)") from None
    except Image.DecompressionBombError:
        pillows = " (Pillow's limit, twice PIL.Image.MAX_IMAGE_PIXELS)" if pillow_bound else ""
        raise ImageLoadError(f"{name}: image too large (over {max_pixels:,} pixels{pillows})") from None
    except OSError as exc:
        if exc.errno is not None:  # the system's (a disk's read error, a permission), not the data's
            raise ImageLoadError(f"{name}: {unreadable_reason(exc)}") from None
        # Pillow reports truncated and corrupt data as OSError ("image file is truncated", "broken data stream").
        raise ImageLoadError(f"{name}: truncated or corrupt image data ({_no_repr(exc)})") from None
    except (ValueError, SyntaxError) as exc:
        raise ImageLoadError(f"{name}: corrupt image ({_no_repr(exc)})") from None


def _no_repr(exc: Exception) -> str:
    """Pillow's messages can hold a Python object's repr (``<_io.BytesIO object at 0x...>``): drop it."""
    return re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>", "", str(exc)).strip() or type(exc).__name__


def _from_pil(im: Image.Image, name: str) -> np.ndarray:
    # phones store portrait photos sideways plus an EXIF rotation tag. Pillow carries the tag with the pixels (a
    # convert("RGB") copy keeps it, and must be turned as its file is); ImageOps.exif_transpose turns and clears it
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = _integers_to_uint8(np.asarray(im))
        return np.repeat(grey[:, :, None], 3, axis=2)
    if im.mode == "F":
        return _from_array(np.asarray(im, dtype=np.float64), bgr=False)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Transparent areas become white, as a viewer would show them on a page.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    rgb = np.asarray(im.convert("RGB"))
    if rgb.size == 0:
        raise ImageLoadError(f"{name}: image has no pixels")
    return np.ascontiguousarray(rgb[:, :, ::-1])


# how far below 0 a float image may go, as a share of its largest value: a bicubic or Lanczos resize rings past a
# sharp edge by a few percent of the edge's height (which its largest value bounds); an image normalised for a
# network goes as far below 0 as above it ([-1, 1]) or further (ImageNet's mean and deviation: -2.1 to 2.6)
FLOAT_UNDERSHOOT = 0.1


def _from_array(arr: np.ndarray, bgr: bool) -> np.ndarray:
    if arr.size == 0:
        raise ImageLoadError("numpy image has no pixels")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.issubdtype(arr.dtype,
                                                                                           np.complexfloating):
        raise ImageLoadError(f"numpy image must hold real numbers (uint8, other integers, float or bool), not "
                             f"{arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageLoadError("numpy image holds NaN or infinite values")
        # [0, 1] is scikit-image's float convention; a float array holding 0-255 values (cv2 or np.float32(img)
        # output) would otherwise saturate to a white image with no face in it.
        lowest, highest = float(arr.min()), float(arr.max())
        scale = 255.0 if highest <= 2.0 else 1.0
        # A network's input normalisation ([-1, 1], ImageNet's mean and deviation) is no picture: clipped, its dark
        # half went black (no face found, or other labels). A resize's small undershoot below 0 (as its overshoot
        # above 1) is a picture's and is clipped
        if lowest < -FLOAT_UNDERSHOOT * max(highest, 1 / 255):
            raise ImageLoadError(f"numpy image holds negative values (down to {lowest:.3g}): float images are read as "
                                 "[0, 1] (where no value is above 2) or [0, 255]; one normalised for a network "
                                 "([-1, 1], ImageNet's mean and deviation) must be turned back, e.g. (x + 1) / 2")
        arr = np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        arr = _integers_to_uint8(arr)
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        # PyTorch's and ONNX's (C, H, W) order: the channels come first
        channels_first = arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] > 4
        raise ImageLoadError(f"numpy image must be (H, W), (H, W, 3) or (H, W, 4); got {arr.shape}"
                             + ("; channels first? transpose to (H, W, C): image.transpose(1, 2, 0)"
                                if channels_first else ""))
    if arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    if arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(arr if bgr else arr[:, :, ::-1])


def _integers_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Integer pixels (16-bit files, uint16 or int arrays) scaled from 2^n - 1 to 255, n the bits the largest value
    needs (at least 8): 8-bit values stay as they are (a uint16 array holding 0-255 is not made black), 10-, 12-
    and 16-bit values (camera raw, medical, 16-bit PNG) fill the range, and a dark 16-bit image is brightened
    (its largest value 20000 is scaled from 32767). Negative values are clipped to 0."""
    top = int(arr.max(initial=0))
    bits = max(8, top.bit_length())
    arr = np.clip(arr, 0, None).astype(np.float64)
    if bits > 8:
        arr = arr * (255.0 / (2 ** bits - 1))
    return np.clip(arr + 0.5 if bits > 8 else arr, 0, 255).astype(np.uint8)


# a data: URI of an encoded image (a web page's <img src>, a JSON API's field)
_IMAGE_DATA_URI = re.compile(r"(?i)data:image/[\w.+-]+;base64,")
# a file's first bytes as base64 gives them: 24 characters are 18 bytes, enough for any image's signature
_BASE64_HEAD = re.compile(r"[A-Za-z0-9+/_-]{24}")


def base64_image(text: str) -> bool:
    """Whether ``text`` is an encoded image in base64 (or a ``data:image/...;base64,`` URI), as deepface's and web
    APIs pass images, rather than a file's name: its first characters decode to an image file's signature."""
    import base64
    import binascii
    import io

    if _IMAGE_DATA_URI.match(text):
        return True
    if not _BASE64_HEAD.match(text):
        return False
    try:
        head = base64.b64decode(text[:24].replace("-", "+").replace("_", "/"), validate=True)  # (URL-safe too)
    except binascii.Error:
        return False
    return image_signature(io.BytesIO(head)) is not None


def shortened(text: str, keep: int = 40) -> str:
    """``text`` for a message: as it is, or where longer than twice ``keep`` its start and how long it is (a message
    that repeated a 200,000-character string passed as a path filled the screen)."""
    return text if len(text) <= 2 * keep else f"{text[:keep]}... ({len(text):,} characters)"


def is_url(name: str) -> bool:
    """Whether a name is a URL (http, file, s3, ..., a data: URI) rather than a file's path."""
    return re.match(r"(?i)([a-z][a-z0-9+.-]*://|data:)", name) is not None


def expand_inputs(inputs: list[str], suffixes: set[str] = IMAGE_SUFFIXES, notices: list[str] | None = None,
                  output_folders: dict[str, Path | None] | None = None) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files, folders (searched recursively for files with ``suffixes``) and globs -> (paths, [(input, problem)]).

    A folder is searched as a person browsing it would see it: into linked folders (each real folder once, under
    its own name where it lies inside the search), past hidden files and folders (``.thumbnails``,
    ``.Trash-1000``, macOS's ``._photo.jpg`` twins on a shared disk: data no one meant to analyse, and the ``._``
    ones fail as images), and past what fervid wrote: batch results folders (they hold ``state.sqlite`` and
    ``files/``) and files named as fervid names its outputs (``_annotated.mp4``, ``_fervid.png``, timelines, key
    frames) - analysed again, another run's results counted as new faces; ``notices`` gets a line for each input
    where files were left out for their names. A pattern is matched as glob matches it (``**``: any folders) and
    its matches are filtered the same way; by ``suffixes`` too, unless it names its own extension (``rec/*.ts``).
    Searching for videos, a ``.ts`` file is one where it begins as an MPEG transport stream (TypeScript's sources
    share the extension). Media a search leaves out as a kind fervid cannot read (HEIC photos), or as the other
    command's (videos searched for images, images for videos), get a notice line each: how many, an example and
    what to do. ``output_folders`` ({"--crops": folder, ...}) are where this run writes: a search leaves out what
    lies in them, and says so (`fervid image shots --crops shots/crops`, run again, read its own crops back as
    photos: crops of crops, and the table doubled). A file named on its own is always an input."""
    from fervid.inference.video import VIDEO_SUFFIXES

    in_results = _BatchResultsCheck()
    takes_images, takes_videos = IMAGE_SUFFIXES <= suffixes, VIDEO_SUFFIXES <= suffixes
    # what a folder or pattern is searched for, said by its kind ("folder holds no video files"; `fervid video` said
    # "no matching files", `fervid image` "no image files")
    kind = " or ".join(name for name, taken in (("image", takes_images), ("video", takes_videos)) if taken) or \
        "matching"
    a_kind = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"

    def is_video(p: Path) -> bool:
        return p.suffix.lower() in VIDEO_SUFFIXES or video_by_content(p)

    # other files of these are said by their kind; of any other extension, those that hold video (holds_video)
    known_suffixes = IMAGE_SUFFIXES | UNREADABLE_IMAGE_SUFFIXES | VIDEO_SUFFIXES | AUDIO_SUFFIXES | {".ts"}

    def of_no_kind(p: Path) -> bool:
        """Whether a file is of no kind a search knows by its extension: a document, an archive, a table,
        TypeScript's .ts (one that holds video by another extension is said as a video)."""
        suffix = p.suffix.lower()
        return suffix not in known_suffixes or (suffix == ".ts" and not video_by_content(p))

    def named_as_media_but_other(p: Path) -> bool:
        """Whether a file named as media holds an archive, a document, a table or a drawing instead, by its first
        bytes (:func:`fervid.inference.file_kinds.file_kind`): said with the files that are neither, not as the
        media its name says (a .jpg that was a ZIP archive was sent to `fervid image`). Printable first bytes
        alone (a placeholder, a file cut short) do not overrule its name: a signature does."""
        if p.suffix.lower() not in known_suffixes:
            return False
        kind = file_kind(p)
        return kind is not None and kind.family is not Family.TEXT

    def neither_media(files: list[Path]) -> list[Path]:
        """Of ``files``, those that are neither images nor videos (documents, archives, data), by name or by what
        they hold; not fervid's own outputs, another run's results or a video of another extension."""
        return [p for p in files if (of_no_kind(p) or named_as_media_but_other(p)) and not in_results(p)
                and not fervid_output(p) and not holds_video(p)]

    output_folders = output_folders or {}
    outputs = {option: os.path.realpath(folder) for option, folder in output_folders.items() if folder}

    def output_folder_of(p: Path) -> str | None:
        real = os.path.realpath(p)
        return next((option for option, folder in outputs.items() if real.startswith(folder + os.sep)), None)

    def written_by_this_run(candidates) -> str:
        """What to say of files that all lie where this run writes ("" where some do not, or there are none)."""
        options = [output_folder_of(p) for p in candidates]
        if not options or None in options:
            return ""
        written = {option for option in options if option is not None}
        return ("only what this run writes (its " + " and ".join(sorted(written))
                + " folder): name files on their own to analyse them, or write elsewhere")

    def keep(candidates, item: str, any_suffix: bool = False) -> list[Path]:
        candidates = [p for p in candidates if not in_results(p)]
        if outputs:
            written_here = [(p, output_folder_of(p)) for p in candidates]
            for option in outputs:
                files = [p for p, folder in written_here if folder == option]
                # (where nothing else is left, the problem said of the folder or pattern says it)
                if files and notices is not None and any(folder is None for _, folder in written_here):
                    notices.append(f"{printable_name(item)}: left out {len(files)} file(s) in "
                                   f"{output_folders[option]}, where this run writes its {option} (e.g. "
                                   f"{printable_name(files[0].name)}); name one on its own to analyse it")
            candidates = [p for p, folder in written_here if folder is None]
        media = [p for p in candidates
                 if any_suffix or p.suffix.lower() in suffixes or (takes_videos and is_video(p))]
        named_as_outputs = [p for p in media if fervid_output(p)]
        if named_as_outputs and notices is not None:
            notices.append(f"{printable_name(item)}: left out {len(named_as_outputs)} file(s) named as fervid names "
                           f"its outputs (e.g. {printable_name(named_as_outputs[0].name)}); name one on its own to "
                           "analyse it")
        if notices is not None and not any_suffix:
            taken = set(media)
            disguised = {p for p in candidates if p not in taken and named_as_media_but_other(p)}
            others = [p for p in candidates if p not in taken and p not in disguised and not fervid_output(p)]
            hidden_videos = [p for p in others if p.suffix.lower() not in known_suffixes and holds_video(p)]
            for files, what, advice in (
                    ([p for p in others if p.suffix.lower() in UNREADABLE_IMAGE_SUFFIXES],
                     "image(s) of a kind fervid cannot read here",
                     f"for HEIC photos, {HEIF_EXTRA}; or convert them to JPEG or PNG"),
                    ([p for p in others if is_video(p)] if takes_images and not takes_videos else [],
                     "video(s)", "`fervid image` reads images; analyse videos with `fervid video`, or both kinds "
                     "with `fervid batch`"),
                    ([p for p in others if p.suffix.lower() in IMAGE_SUFFIXES] if takes_videos and not takes_images
                     else [], "image(s)", "`fervid video` reads videos; analyse images with `fervid image`, or both "
                     "kinds with `fervid batch`"),
                    ([p for p in others if p.suffix.lower() in AUDIO_SUFFIXES and not is_video(p)], "audio file(s)",
                     "sound without a picture: fervid reads faces"),
                    (hidden_videos, "video(s) under an extension fervid does not search for", "name one on its "
                     "own to analyse it (`fervid video`, `fervid batch`), or give it a video's extension")):
                if files:
                    notices.append(f"{printable_name(item)}: left out {len(files)} {what} (e.g. "
                                   f"{printable_name(files[0].name)}): {advice}")
            # (where no media are left, the problem said of the folder names them)
            if media and (neither := [*(p for p in others if of_no_kind(p) and p not in set(hidden_videos)),
                                      *disguised]):
                notices.append(f"{printable_name(item)}: left out {_other_files(neither)}")
        return sorted((p for p in media if not fervid_output(p)), key=natural_order)

    def no_match_reason(pattern: str, own_extension: bool) -> str:
        """Why a pattern matches no file, and what matches it with letter case ignored (`*.mp4` of Interview 2.MP4:
        a pattern is matched as written, as the shell matches one, so that `*.jpg` may pick a camera's edited
        copies from beside its .JPG originals; a folder's search, whose extensions are fervid's, takes them in
        either case)."""
        def media(files: list[Path]) -> list[Path]:
            return sorted((p for p in files if not fervid_output(p) and not in_results(p)
                           and (own_extension or p.suffix.lower() in suffixes)), key=natural_order)

        files = media(_pattern_files(_any_case(pattern), []))
        endings = {p.suffix for p in files}
        rewritten = _in_case_on_disk(pattern, endings.pop() if own_extension and len(endings) == 1 else "")
        exact = media(_pattern_files(rewritten, [])) if rewritten != pattern else []
        relative = not Path(pattern).is_absolute()
        return ("pattern matches no file" + (f" in {printable_name(os.getcwd())}" if relative and not files else "")
                + (" (in a pattern [...] is a set of characters: write a [ in a name as [[] and a ] as []])"
                   if "[" in pattern else "")
                + (f'; letter case counts in names here: "{printable_name(rewritten)}" matches {len(exact)} file(s) '
                   f"({_some_names(exact)})" if exact else
                   "; letter case counts in names here: with it ignored, the pattern matches "
                   f"{len(files)} file(s) ({_some_names(files)})" if files else ""))

    def no_media_matched(files: list[Path]) -> str:
        """What a pattern matched, none of it media of this search's kind: documents, archives and data named,
        as a folder's are ("Z/*" said only how many files it matched); else the extensions it looked for."""
        neither = neither_media(files)
        if len(neither) == len(files):
            return f"pattern matches only {_other_files(neither)}"
        return (f"pattern matches {len(files)} file(s), none with {a_kind} file's extension "
                f"({', '.join(sorted(suffixes))})" + (f"; it matches {_other_files(neither)}" if neither else ""))

    found: list[Path] = []
    problems: list[tuple[str, str]] = []
    unreadable: list[OSError] = []  # folders searched that could not be read, each said once
    split_paths: dict[int, tuple[str, int]] | None = None  # found where an input is not there: _paths_split_at_spaces
    for index, item in enumerate(inputs):
        path = Path(as_on_disk(item))  # (a name typed composed, decomposed on disk: the file it names)
        try:  # a folder above it that may not be entered, a name too long: this input's error, not the run's end
            is_dir, there = path.is_dir(), path.exists() or path.is_symlink()
        except OSError as exc:
            if not glob.has_magic(item):
                problems.append((item, unreadable_reason(exc)))
                continue
            # "locked/*.png": a pattern, not a file; what it could not search is said naming the folder
            is_dir = there = False
        unreadable_before = len(unreadable)
        if is_dir:
            if is_batch_results(path):
                problems.append((item, "is a fervid batch results folder: its files are another run's outputs"))
                continue
            # not only regular files: a FIFO or device named like an image is an input the reader refuses, by name,
            # rather than one left out without a word
            candidates = list(search_folder(path, unreadable))
            images = keep(candidates, item)
            if not images and len(unreadable) == unreadable_before:  # (else what could not be read is said)
                ours = written_by_this_run(candidates)
                # documents, archives, data: named, an archive's first (`videos.zip`: unzip it)
                neither = neither_media(candidates)
                problems.append((item, f"folder holds no {kind} files" if not candidates else
                                 f"folder holds only files named as fervid's outputs (no other {kind} files)"
                                 if any(fervid_output(p) for p in candidates) else
                                 f"folder holds {ours}" if ours else f"folder holds no {kind} files" + (
                                     f"; it holds {_other_files(neither)}" if neither else "")))
            found.extend(images)
        elif there:  # a dangling link: the reader says "no such file", by name
            found.append(path)
        elif is_url(item):  # said as such, not "no such file": fervid downloads nothing
            from fervid.inference.stream_urls import masked_source

            problems.append((masked_source(item), "a URL: fervid reads files (it works offline): download it and "
                             "give its path" + ("; `fervid live --source URL` analyses a stream or a video served "
                                                "over the network as it plays" if takes_videos else "")))
        elif "\0" in item:  # (glob raised ValueError on it: a traceback) a NUL ends a name to the system
            problems.append((item, "no such file or folder (no file's name holds a NUL byte)"))
        elif glob.has_magic(item):
            files = _pattern_files(item, unreadable)
            # "rec/*.ts" names its files' extension itself: taken as asked; "sessions/*" is a folder's worth
            own_extension = bool(re.fullmatch(r"\.[^*?\[\]]+", Path(item).suffix))
            matches = keep(files, item, any_suffix=own_extension)
            # a match that cannot be looked up (its folder was listed, not entered) and is no input by its name may be
            # a folder: its folder is said as one that cannot be read ("un/*" took un/a for a file, of no extension)
            kept = set(matches)
            unreadable += [error for p in files if p not in kept and (error := _folder_refuses_lookup(p))]
            if not matches and len(unreadable) == unreadable_before:
                ours = written_by_this_run(files)
                problems.append((item, no_match_reason(item, own_extension) if not files else
                                 "pattern matches only fervid's own outputs of an earlier run" if any(
                                     fervid_output(p) or in_results(p) for p in files) else
                                 f"pattern matches {ours}" if ours else no_media_matched(files)))
            found.extend(matches)
        else:
            split_paths = _paths_split_at_spaces(inputs) if split_paths is None else split_paths
            problems.append((item, _not_found_reason(inputs, index, split_paths)))
    # a folder reached twice (named, and through a link or a pattern) is said once
    for folder, error in {str(error.filename): error for error in unreadable}.items():
        problems.append((folder, f"folder cannot be read ({error.strerror or error}): its files were not searched"))
    # one file named twice (photo.jpg and /home/me/photo.jpg, a folder and a pattern, or through a link): once,
    # under its shortest name
    shortest: dict[Path, Path] = {}
    for p in found:
        if _link_loop(p):  # `ln -s a.png a.png`: resolve() raised RuntimeError, and the run ended in a traceback
            problems.append((str(p), "a symbolic link that leads round in a loop (to itself, or through other "
                             "links back to itself): no file to read"))
            continue
        real = p.resolve()
        if real not in shortest or len(p.parts) < len(shortest[real].parts):
            shortest[real] = p
    unique = list(shortest.values())
    # a name of bytes that are not UTF-8 (a Linux disk written by an old camera or a Windows-1252 tool): OpenCV
    # crashed the process opening such a video, and no table or database fervid writes can hold the name
    problems += [(str(p), not_utf8_reason(str(p))) for p in unique if not utf8_name(str(p))]
    return [p for p in unique if utf8_name(str(p))], [(recorded_name(item), why) for item, why in problems]


_MOST_SPACES_SPLIT = 15  # a path the shell split at its spaces is looked for in up to this many more arguments


def _paths_split_at_spaces(inputs: list[str]) -> dict[int, tuple[str, int]]:
    """Paths with spaces the shell split into several arguments, not quoted (`fervid video Interviews/Interview
    1.MOV` gave "Interviews/Interview" and "1.MOV"): {index of the first: (the path as it is on disk, index after
    the last)}, where consecutive arguments, the first of them not there, joined by a space name a file or folder
    (in letter case or not: :func:`_on_disk`)."""
    split: dict[int, tuple[str, int]] = {}
    start = 0
    while start < len(inputs):
        first = inputs[start]
        joined = None if _there(first) or glob.has_magic(first) or is_url(first) else next((
            (on_disk, end) for end in range(min(len(inputs), start + 1 + _MOST_SPACES_SPLIT), start + 1, -1)
            if (on_disk := _on_disk(" ".join(inputs[start:end])))), None)
        if joined:
            split[start] = joined
        start = joined[1] if joined else start + 1
    return split


def _there(path: str) -> bool:
    """Whether ``path`` is there (a dangling link too); False where it cannot be looked up."""
    try:
        return os.path.lexists(path)
    except (OSError, ValueError):  # a name too long, a NUL
        return False


def _on_disk(path: str) -> str | None:
    """``path`` as it is on disk: itself where it is there, else the one path whose names differ from its only in
    letter case ("interviews/interview 1.mov" for "Interviews/Interview 1.MOV"; the first of several, in sorted
    order), else None."""
    if _there(path):
        return path
    matched, parts = _case_insensitive_prefix(path)
    return matched if parts == len(Path(path).parts) else None


def as_on_disk(path: str) -> str:
    """``path`` with each name that is not there as written replaced by the one beside it that differs only in how
    its letters are encoded (composed or decomposed: equal in Unicode's NFC form; the first of several, in sorted
    order): "coração.png" typed composed, as keyboards write it, is the file copied from macOS as "c", a cedilla,
    "a", a tilde, and the reverse. Unicode counts the two as one name, and macOS's file systems ignore the
    difference; Linux's and Windows' compare the code points, and a name typed right was "no such file or folder".
    ``path`` itself where it is there, or where a name in it has no such twin. The one rule for what a person names:
    inputs, patterns (:func:`_glob`), manifests and annotation tables' videos."""
    if _there(path):
        return path
    parts = Path(path).parts
    folder = ""
    for part in parts:
        here = os.path.join(folder, part) if folder else part
        if not _there(here):
            if part.isascii():  # (an ASCII name is written one way only)
                return path
            wanted = unicodedata.normalize("NFC", part)
            try:
                names = sorted(os.listdir(folder or os.curdir))
            except OSError:
                return path
            twin = next((name for name in names if unicodedata.normalize("NFC", name) == wanted), None)
            if twin is None:
                return path
            here = os.path.join(folder, twin) if folder else twin
        folder = here
    return folder


def _case_insensitive_prefix(path: str) -> tuple[str, int]:
    """The longest leading part of ``path`` that is on disk with its names' letter case ignored, as it is there,
    and how many of the path's parts it holds."""
    parts = Path(path).parts
    folder = ""
    for count, part in enumerate(parts):
        here = os.path.join(folder, part) if folder else part
        if not _there(here):
            try:
                names = sorted(os.listdir(folder or os.curdir))
            except OSError:
                return folder, count
            here = next((os.path.join(folder, name) if folder else name for name in names
                         if name.casefold() == part.casefold()), "")
            if not here:
                return folder, count
        folder = here
    return folder, len(parts)


def _not_found_reason(inputs: list[str], index: int, split_paths: dict[int, tuple[str, int]]) -> str:
    """Why ``inputs[index]``, not there, is no input, and what the user may have meant: a path with spaces the
    shell split (:func:`_paths_split_at_spaces`), the name in another letter case, or, for a relative path, the
    folder it was looked for in."""
    for start, (path, end) in split_paths.items():
        if start == index:
            return (f'no such file or folder; did you mean "{printable_name(path)}"? Put quotes around a path with '
                    "spaces")
        if start < index < end:
            return f'no such file or folder (part of "{printable_name(path)}": put quotes around a path with spaces)'
    item = inputs[index]
    matched, parts = _case_insensitive_prefix(item)
    if matched and parts == len(Path(item).parts):
        return f'no such file or folder; did you mean "{printable_name(matched)}"? (letter case counts in names here)'
    looked_in = "" if Path(item).is_absolute() else f" in {printable_name(os.getcwd())}"
    if parts and os.path.isdir(matched) and not _there(os.path.join(*Path(item).parts[:parts])):
        return (f"no such file or folder{looked_in} (letter case counts in names here: the folder is "
                f'"{printable_name(matched)}")')
    return f"no such file or folder{looked_in}"


# archives a search leaves out: their files are analysed once unpacked (a participant's videos sent as one .zip)
ARCHIVE_SUFFIXES = {".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst"}


def _other_files(files: list[Path]) -> str:
    """Files that are neither images nor videos, said for a search that leaves them out: how many, the first few
    (archives first; one named as media with the kind it holds: "holiday.jpg (a ZIP archive)") and, for archives,
    to unpack them. An archive is one by its first bytes (:func:`fervid.inference.file_kinds.file_kind`), or by
    its extension where they say nothing known (a .tar, a .xz)."""
    from fervid.inference.video import VIDEO_SUFFIXES

    kinds = {p: file_kind(p) for p in files}
    archives = sorted((p for p, kind in kinds.items()
                       if (kind.family is Family.ARCHIVE if kind else p.suffix.lower() in ARCHIVE_SUFFIXES)),
                      key=natural_order)
    files = archives + sorted((p for p in files if p not in set(archives)), key=natural_order)
    unpack = "unzip" if all(kind.key == "zip" if (kind := kinds[p]) else p.suffix.lower() == ".zip"
                            for p in archives) else "extract"
    media_suffixes = IMAGE_SUFFIXES | UNREADABLE_IMAGE_SUFFIXES | VIDEO_SUFFIXES | AUDIO_SUFFIXES

    def kind_said(p: Path) -> str:
        """What a file named as media holds ("a ZIP archive"); "" for another (its name says what it is)."""
        kind = kinds[p]
        return kind.said if kind and p.suffix.lower() in media_suffixes else ""

    def said(p: Path) -> str:  # (the one archive's kind is said in what to do with it)
        return printable_name(p.name) + (f" ({kind_said(p)})" if kind_said(p) and archives != [p] else "")

    return (f"{len(files)} file(s) that are neither images nor videos: {_some_names(files, said=said)}" + (
        f" ({printable_name(archives[0].name)} is {kind_said(archives[0]) or 'an archive'}: {unpack} it first, and "
        "analyse the folder it makes)"
        if len(archives) == 1 else f" ({len(archives)} are archives: {unpack} them first, and analyse the folders "
                                   "they make)" if archives else ""))


def _some_names(files: list[Path], shown: int = 3, said: Callable[[Path], str] = lambda p: printable_name(p.name)
                ) -> str:
    """The names of the first few of ``files`` (each as ``said`` says it), and how many more there are: "a.mp4,
    b.mp4, c.mp4 and 4 more"."""
    names = ", ".join(said(p) for p in files[:shown])
    return names + (f" and {len(files) - shown} more" if len(files) > shown else "")


def _in_case_on_disk(pattern: str, extension: str) -> str:
    """``pattern`` with its leading folders named in their letter case on disk ("interviews/*.mp4":
    "Interviews/*.mp4"), and its extension written as ``extension`` ("*.MP4") where one is given."""
    parts = Path(pattern).parts
    folders = next((n for n, part in enumerate(parts[:-1]) if glob.has_magic(part)), len(parts) - 1)
    if folders:
        on_disk, found = _case_insensitive_prefix(os.path.join(*parts[:folders]))
        if found == folders:
            pattern = os.path.join(on_disk, *parts[folders:])
    return pattern[:-len(Path(pattern).suffix)] + extension if extension else pattern


def _any_case(pattern: str) -> str:
    """``pattern`` matching names in any letter case: each cased letter outside a [...] set as a set of its two
    cases ("*.mp4": "*.[mM][pP]4"); a [ that opens no set is written as one ("[[]")."""
    anchor = Path(pattern).anchor  # (a drive's letter, on Windows, is no name's)
    out, i = [anchor], len(anchor)
    while i < len(pattern):
        char = pattern[i]
        if char == "[":  # a set ends at the first ] after the one or "!" that may open it (as fnmatch reads it)
            end = i + 2 if pattern[i + 1:i + 2] == "!" else i + 1
            end = pattern.find("]", end + 1 if pattern[end:end + 1] == "]" else end)
            if end < 0:
                out.append("[[]")
            else:
                out.append(pattern[i:end + 1])
                i = end
        elif char.lower() != char.upper() and len(char.lower()) == len(char.upper()) == 1:
            out.append(f"[{char.lower()}{char.upper()}]")
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _folder_refuses_lookup(path: Path) -> OSError | None:
    """Why ``path``'s folder does not let it be looked up (a folder that may be listed, not entered), as the error of
    that folder; None where it can be, or is not there."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return OSError(exc.errno, exc.strerror, str(path.parent))
    return None


def _link_loop(path: Path) -> bool:
    """Whether ``path`` is a symbolic link that leads round in a loop (the system's ELOOP): Python 3.10-3.12's
    ``Path.resolve()`` raises RuntimeError on one, later ones return a path that is not there."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _pattern_files(pattern: str, unreadable: list[OSError]) -> list[Path]:
    """The files a pattern names, as glob would match it; a folder it matches is searched as a folder named on
    its own is ("shots/*", "shots/**/day1": every such shoot). A ``**`` pattern's folders are walked with
    :func:`search_folder` (glob's own ``**`` went round link loops, exponentially with two, and into batch
    results and hidden folders), starting from what its part before the ``**`` matches. The folders it goes through
    that could not be read are added to ``unreadable`` (:func:`_unsearchable_pattern_folders`)."""
    parts = Path(pattern).parts
    unreadable.extend(_unsearchable_pattern_folders(parts))
    first = _recursive_part(parts)
    if first == len(parts):
        hits = [Path(p) for p in _glob(_literal_folders(pattern))]
        # (os.path.isdir: a match in a folder that may not be entered cannot be looked up; the reader says so)
        files = [p for p in hits if not os.path.isdir(p)] + [f for d in hits if os.path.isdir(d)
                                                             for f in search_folder(d, unreadable)]
    else:
        rest = parts[first:]
        bases = [Path(b) for b in _glob(_literal_folders(str(Path(*parts[:first]))))] if first else [Path(".")]
        files = []
        for base in (b for b in bases if os.path.isdir(b)):  # (one that cannot be looked up is no folder to search)
            for path in search_folder(base, unreadable):
                relative = path.relative_to(base).parts
                # the file itself, or a folder above it, is what the pattern names
                if any(_components_match(rest, relative[:n]) for n in range(1, len(relative) + 1)):
                    files.append(path)
    return files


def _glob(pattern: str) -> list[str]:
    """What ``glob.glob(pattern)`` matches (``**`` as "*": :func:`_pattern_files` walks it), with names matched in
    their composed (NFC) form, the pattern's too: "in/*ção.png" typed composed passed over, without a word, a
    "coração.png" copied from macOS, whose names are decomposed (:func:`as_on_disk`). As glob's, a wildcard
    matches no hidden name ("."-first) unless its own part begins with "."; a pattern ending in a separator matches
    folders alone."""
    import fnmatch

    anchor = Path(pattern).anchor
    parts = Path(pattern).parts[1 if anchor else 0:]
    if not parts:
        return []
    folders_only = pattern.endswith(os.sep) or bool(os.altsep and pattern.endswith(os.altsep))
    matched = [anchor]
    for index, part in enumerate(parts):
        wanted = unicodedata.normalize("NFC", part)
        reached = []
        for folder in matched:
            if glob.has_magic(part):
                try:
                    listed = os.listdir(folder or os.curdir)
                except OSError:  # (not a folder, or one that may not be listed: glob matched nothing in it)
                    continue
                names = [name for name in listed if (part.startswith(".") or not name.startswith("."))
                         and fnmatch.fnmatch(unicodedata.normalize("NFC", name), wanted)]
            else:
                on_disk = as_on_disk(os.path.join(folder, part))
                names = [os.path.basename(on_disk)] if _there(on_disk) else []
            reached += [os.path.join(folder, name) for name in names
                        if (index == len(parts) - 1 and not folders_only) or os.path.isdir(os.path.join(folder, name))]
        matched = reached
    return [os.path.join(p, "") for p in matched] if folders_only else matched


def _recursive_part(parts: tuple[str, ...]) -> int:
    """The index of a pattern's first part holding ``**`` (any folders, :func:`search_folder` walks them); the
    number of parts where none does."""
    return next((i for i, part in enumerate(parts) if "**" in part), len(parts))


def _literal_part_count(parts: tuple[str, ...]) -> int:
    """How many of a pattern's leading parts name folders as written (no wildcard; a part with glob's characters
    that exists as written is a name: :func:`_literal_folders`)."""
    n = 0
    while n < len(parts) and (not glob.has_magic(parts[n]) or os.path.exists(os.path.join(*parts[:n + 1]))):
        n += 1
    return n


def _unsearchable_pattern_folders(parts: tuple[str, ...]) -> list[OSError]:
    """Why folders a pattern goes through could not be searched, each naming its folder, so that the pattern is not
    said to match no file: glob takes a folder it may not list for one that holds no match ("locked" of
    "locked/*.png"), and passes over one it may not list ("un/nolist" of "un/*/*.png") or enter (of "un/*/a.png")
    without a word. The folders are the pattern's leading path without a wildcard ("photos" of "photos/*.png") and
    those its wildcard folder parts match, up to a ``**`` part (what :func:`search_folder` walks, it says itself).
    Each is asked what the pattern's next part needs of it: to be listed where that part is a wildcard; to be
    entered where it is a name to look up, or a wildcard matching there what the pattern goes into ("un" of
    "un/*/*.png" at mode 644: glob listed it, then could not look into "un/a"). A folder is opened, not read (the
    listing glob does anyway), but to know whether one that may not be entered holds such a match. Where the
    leading folder cannot be looked up, the deepest folder above it that can is to be entered (else it is not known
    whether the folder below is there). A folder that is not there is no error: no file matches in it."""

    def refused(folder: str | Path, listed: bool, entered: bool) -> OSError | None:
        try:
            if listed:
                with os.scandir(folder):
                    pass
            if entered:
                os.stat(os.path.join(folder, os.curdir))  # (not folder / os.curdir: Path drops the ".")
        except (FileNotFoundError, NotADirectoryError):  # not there (or gone since glob listed it): no file matches
            return None
        except OSError as exc:
            return OSError(exc.errno, exc.strerror, str(folder))
        return None

    n = _literal_part_count(parts)
    leading = reached = Path(*parts[:n])
    while reached != reached.parent:
        try:
            os.stat(reached)
            break
        except OSError:  # not there, or in a folder that may not be entered: the one above it is asked
            reached = reached.parent
    if reached != leading:  # the folder below it is missing, or this one may not be entered: nothing below matches
        error = refused(reached, listed=False, entered=True)
        return [error] if error else []
    errors = []
    # the leading folder, then the folders each wildcard folder part matches (a part at or after a ** part is
    # search_folder's; the last part names files)
    for i in range(n, min(max(n + 1, _recursive_part(parts)), len(parts))):
        # (a trailing separator: glob gives folders alone)
        matched = [leading] if i == n else [os.path.normpath(f) for f in _glob(
            os.path.join(_literal_folders(os.path.join(*parts[:i])), ""))]
        wildcard = glob.has_magic(parts[i])  # its matches are listed from the folder; a name is looked up in it
        for folder in matched:
            error = refused(folder, listed=wildcard, entered=not wildcard)
            if error is None and wildcard and i + 1 < len(parts):  # the pattern goes into what the wildcard matches
                error = refused(folder, listed=False, entered=True)
                if error and not _glob(os.path.join(glob.escape(str(folder)), parts[i])):
                    error = None  # (it lists no match: none to look into)
            if error:
                errors.append(error)
    return errors


def _literal_folders(pattern: str) -> str:
    """``pattern`` with its longest leading path that exists as written escaped for glob, where that path holds
    glob's characters: "shoot [2024]/*.JPG" names the folder shoot [2024], which glob read as "shoot " and one of
    2, 0 and 4."""
    parts = Path(pattern).parts
    for n in range(len(parts), 0, -1):
        head = os.path.join(*parts[:n])
        if glob.has_magic(head) and os.path.exists(head):
            return os.path.join(glob.escape(head), *parts[n:])
    return pattern


def _components_match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """glob's matching, one path component at a time: ``**`` is any number of components (none too), any other
    component is matched by :func:`fnmatch.fnmatch` (case as the file system has it: none on Windows), both in their
    composed (NFC) form (:func:`_glob`)."""
    import fnmatch

    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_components_match(pattern[1:], parts[n:]) for n in range(len(parts) + 1))
    return (bool(parts) and fnmatch.fnmatch(unicodedata.normalize("NFC", parts[0]),
                                            unicodedata.normalize("NFC", pattern[0]))
            and _components_match(pattern[1:], parts[1:]))


def video_by_content(path: Path) -> bool:
    """A file a search takes as a video by what it holds, its extension being another kind's too: a .ts that begins
    as an MPEG transport stream (TypeScript's sources share the extension), an .ogg that holds Theora (most hold
    sound alone)."""
    suffix = path.suffix.lower()
    return ((suffix == ".ts" and video_container(path) == "MPEG-TS")
            or (suffix == ".ogg" and video_container(path) == "Ogg Theora"))


def is_batch_results(folder: Path) -> bool:
    """A fervid batch results folder: it holds ``state.sqlite`` and ``files/``. A folder that cannot be entered is
    not taken for one (Path.is_file raised "in2/state.sqlite: Permission denied", naming a file that is not there,
    and ended the run): searching it says it cannot be read (:func:`search_folder`)."""
    return os.path.isfile(folder / "state.sqlite") and os.path.isdir(folder / "files")


class _BatchResultsCheck:
    """Whether a path lies in a fervid batch results folder (:func:`is_batch_results`), each folder looked at
    once."""

    def __init__(self):
        self._folders: dict[Path, bool] = {}

    def _is_results(self, folder: Path) -> bool:
        if folder not in self._folders:
            self._folders[folder] = is_batch_results(folder)
        return self._folders[folder]

    def __call__(self, path: Path) -> bool:
        return any(self._is_results(folder) for folder in Path(os.path.abspath(path)).parents)


ANNOTATED_IMAGE_SUFFIX = "_fervid.png"  # `fervid image --annotate`'s copies: <stem>_fervid.png
# the PNG text an annotated copy and a face crop carry: source_id of their image
ANNOTATED_SOURCE_KEY = "fervid-source"
CROP_NAME = re.compile(r"(?P<stem>.+)_face(?P<number>[0-9]+)\.png")  # `fervid image --crops`' files: <stem>_face<N>.png


def crop_name(stem: str, number: int) -> str:
    """The file name of an image's ``number``-th face crop (from 1, as its faces are numbered)."""
    return f"{stem}_face{number}.png"


def source_id(path: Path) -> str:
    """What an annotated copy or a face crop records of its image: a digest of the image's resolved path (the path
    itself, with its folders' names, would travel with every copy shared)."""
    import hashlib

    return hashlib.sha256(os.fsencode(Path(path).resolve())).hexdigest()[:32]


def recorded_source(path: Path) -> str | None:
    """The :func:`source_id` a PNG fervid wrote records (its header's text, read without decoding the pixels);
    None for a file that records none (another program's, or written by a fervid before it recorded them)."""
    try:
        with Image.open(path) as im:
            source = im.info.get(ANNOTATED_SOURCE_KEY)
    except (OSError, ValueError, SyntaxError):
        return None
    return source if isinstance(source, str) and source else None


def not_this_users(path: Path, of: str = "") -> str | None:
    """Outputs at ``path`` that no run of this user replaces, in words: another user's ("student1's outputs", then
    ``of``: " of p01/cam.mp4"), or ones this user cannot read (a colleague's under `umask 077`: they recorded no
    source to this user, and were replaced as if their name were free). None for this user's own, or none there.
    The one reading of whose outputs are whose, for a photo's annotated copy and crops (:class:`EarlierOutputs`,
    :func:`outputs_in_the_way`) and a video's tracks JSON (:func:`fervid.inference.video.kept_outputs`)."""
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        return None
    except OSError:
        whose = owner_and_mode(path)
        return f"outputs this user cannot read{f' ({whose})' if whose else ''}"
    owner = other_users_file(path)
    return None if owner is None else f"{owner}'s outputs{of}"


def outputs_in_the_way(stem: str, source: str, annotate_dir: Path | None, crops_dir: Path | None,
                       faces: int) -> str | None:
    """What the files an image's pictures are about to be written as hold (its annotated copy in ``annotate_dir``,
    its ``faces`` crops in ``crops_dir``, named by ``stem``) where a run of this user does not replace them for the
    image ``source`` (:func:`source_id`): another user's or unreadable outputs (:func:`not_this_users`), or another
    image's, in words; None where they are free or ``source``'s own. The names are chosen before the images are
    analysed (:func:`names_clear_of_earlier_runs`), and asked again as each image's pictures are written, as a
    video's run asks under its lock (:func:`fervid.inference.video.outputs_lock`): outputs another run wrote there
    meanwhile were replaced without a word."""
    targets = ([Path(annotate_dir) / f"{stem}{ANNOTATED_IMAGE_SUFFIX}"] if annotate_dir else []) + (
        [Path(crops_dir) / crop_name(stem, n) for n in range(1, faces + 1)] if crops_dir else [])
    for target in targets:
        if (kept := not_this_users(target)) is not None:
            return kept
        if os.path.lexists(target) and recorded_source(target) not in (None, source):
            return "another image's outputs"
    return None


# how long an image's pictures wait for the lock of their name (photo_outputs_lock): another run writes a photo's
# pictures in milliseconds; past this, another run holds the name for longer, and the image's are named apart. A
# video's analysis of that stem (its lock says so: VIDEO_OUTPUTS) is not waited for: it holds the name for minutes
PHOTO_LOCK_WAIT_S = 5.0


def photo_lock_folders(annotate_dir: Path | None, crops_dir: Path | None) -> list[Path]:
    """The folders an image's pictures are written to, each once (--annotate and --crops may be one folder, under two
    names), in one order for every run (by resolved path): two runs that lock them in turn, with the folders given
    the other way round, do not each hold one and wait for the other's."""
    folders = {Path(folder).resolve(): Path(folder) for folder in (annotate_dir, crops_dir) if folder is not None}
    return [folders[key] for key in sorted(folders)]


@contextmanager
def photo_outputs_lock(stem: str, folders: list[Path]):
    """Hold the lock of the pictures named ``stem`` in each of ``folders`` (:func:`photo_lock_folders`): the lock a
    video's outputs of that stem are written under (``.<stem>.lock``, :func:`fervid.folder_lock.stem_lock`), so that
    between the check that a name is free (:func:`outputs_in_the_way`) and the writing no other `fervid image` run
    writes it (two runs of a/img.jpg and b/img.jpg into one folder both found img free, and one's img_fervid.png
    replaced the other's). Waits up to :data:`PHOTO_LOCK_WAIT_S` for another photo run's; then raises
    :class:`fervid.folder_lock.FolderLocked`, at once where a video's analysis holds it."""
    with ExitStack() as held:
        for folder in folders:
            lock = stem_lock(folder, stem, wait=PHOTO_LOCK_WAIT_S, kind=PHOTO_OUTPUTS,
                             not_waited_for=frozenset({VIDEO_OUTPUTS}))
            try:
                held.enter_context(lock)
            except PermissionError:
                if not lock.path.exists():  # the folder's: it cannot be written, said as such
                    raise
                # a lock file this user may not open to write: another user's run's (0644 under umask 022), in a
                # folder a group shares. Said as held, so the image is named apart: its pictures were not written
                # ("Permission denied ... (writing cam.png's annotated copy)", exit 1)
                raise FolderLocked(f"{lock.path}: another user's fervid run's lock") from None
        yield


class EarlierOutputs:
    """What earlier `fervid image` runs wrote into its --annotate and --crops folders, by the image each file records
    (:func:`recorded_source`): the name each image's outputs got, whose outputs carry a name, and each image's
    crops. Names depend on which images are analysed together (astro.png with astro.jpg writes
    astro_png_fervid.png, alone astro_fervid.png), and two images of one name analysed in separate runs
    (a/img.jpg, then b/img.jpg) wrote over each other's outputs without a word. Another user's, and those this user
    cannot read, are kept whatever image they are of (:func:`not_this_users`)."""

    def __init__(self, annotate_dir: Path | None, crops_dir: Path | None):
        self.stems: dict[str, str] = {}  # source id -> the stem its outputs were named by (the first found)
        self.names: dict[str, set[str]] = {}  # source id -> every stem its outputs were named by, in lower case
        self.owners: dict[str, set[str]] = {}  # a stem, in lower case -> the source ids of outputs named by it
        self.crops: dict[str, list[Path]] = {}  # source id -> its crop files
        self.kept: dict[str, str] = {}  # a stem, in lower case -> what the outputs named by it not to replace are
        found = []
        if annotate_dir is not None and Path(annotate_dir).is_dir():
            found += [(f, f.name[: -len(ANNOTATED_IMAGE_SUFFIX)], False)
                      for f in sorted(Path(annotate_dir).glob(f"*{ANNOTATED_IMAGE_SUFFIX}"))]
        if crops_dir is not None and Path(crops_dir).is_dir():
            found += [(f, match["stem"], True) for f in sorted(Path(crops_dir).glob("*_face*.png"))
                      if (match := CROP_NAME.fullmatch(f.name))]
        for file, stem, is_crop in found:
            if (kept := not_this_users(file)) is not None:
                self.kept.setdefault(stem.lower(), kept)
                continue
            source = recorded_source(file)
            if source is None:
                continue
            self.stems.setdefault(source, stem)
            self.names.setdefault(source, set()).add(stem.lower())
            self.owners.setdefault(stem.lower(), set()).add(source)
            if is_crop:
                self.crops.setdefault(source, []).append(file)

    def of_another(self, stem: str, source: str) -> bool:
        """Whether outputs named ``stem`` are another image's than ``source``'s, or not this user's to replace."""
        return stem.lower() in self.kept or bool(self.owners.get(stem.lower(), set()) - {source})


# An image whose shorter side is under this many pixels is annotated enlarged (enlarged_to_annotate): a label's text
# (about 100 x 17 px) and a face's bars (112 x 77 px) are drawn at the size they are legible at, and need room; a
# whole factor that brings 48 px to 288 and 100 px to 300 leaves a photo of 256 px or more as it is
SMALL_ANNOTATED_SIDE = 256


def enlarged_to_annotate(image_bgr: np.ndarray, faces: list) -> tuple[np.ndarray, list]:
    """A small image and its faces (their boxes and landmarks) enlarged by a whole factor for its annotated copy, its
    shorter side to :data:`SMALL_ANNOTATED_SIDE` or just over (its longer side at most MAX_DETECTION_SIDE): a 48x48
    face crop's copy had its label over half the face, cut off, in text a few pixels tall. Each pixel becomes a
    block, as in a small face's key frame, so the copy shows the picture's own resolution. A larger image, and its
    faces, as they are."""
    import dataclasses
    import math

    import cv2

    from fervid.inference.detect import MAX_DETECTION_SIDE

    height, width = image_bgr.shape[:2]
    zoom = min(math.ceil(SMALL_ANNOTATED_SIDE / min(height, width)), MAX_DETECTION_SIDE // max(height, width))
    if zoom <= 1:
        return image_bgr, faces
    image = cv2.resize(image_bgr, (width * zoom, height * zoom), interpolation=cv2.INTER_NEAREST)
    # a pixel's block spans [i * zoom, (i + 1) * zoom): a box edge at pixel coordinate x lies at x * zoom
    return image, [dataclasses.replace(face, box=tuple(v * zoom for v in face.box),
                                       landmarks=tuple((x * zoom, y * zoom) for x, y in face.landmarks))
                   for face in faces]


def annotated_stems_used_before(folder: Path) -> dict[str, str]:
    """The stem each image's annotated copy got in ``folder`` in earlier runs, by :func:`source_id`."""
    return EarlierOutputs(folder, None).stems


def names_clear_of_earlier_runs(files: list[Path], stems: dict[Path, str], earlier: EarlierOutputs
                                ) -> list[tuple[Path, str, str]]:
    """``stems`` (:func:`output_stems`, changed in place) fitted to the outputs earlier runs left: an image whose
    outputs were written before keeps their name, so they are replaced, not left beside new ones; one whose name
    another image's outputs carry (a/img.jpg's, and now b/img.jpg) takes the folders above it (b_img), else a
    counter (img-2), so that neither is written over. Returns (image, name it would have had, name it has) for each
    image renamed so: to be said."""
    import collections

    taken = collections.Counter(stem.lower() for stem in stems.values())  # compared without case, as output_stems
    renamed = []

    def move(path: Path, stem: str) -> None:
        taken[stems[path].lower()] -= 1
        taken[stem.lower()] += 1
        stems[path] = stem

    for path in files:
        source = source_id(path)
        before = earlier.stems.get(source)
        if before and stems[path].lower() not in earlier.names[source] and not taken[before.lower()] \
                and not earlier.of_another(before, source):
            move(path, before)  # written here before: replaced under its name
        elif earlier.of_another(stems[path], source):
            wanted = stems[path]
            # named as `fervid video` names a video apart from another's outputs: this run's other names and the
            # earlier runs' names of other images are taken
            others = {stem for stem, count in taken.items() if count > 0} - {wanted.lower()}
            others |= {stem for stem, owners in earlier.owners.items() if owners - {source}} | set(earlier.kept)
            move(path, stem_not_taken(path, wanted, others))
            renamed.append((path, wanted, stems[path]))
    return renamed


def fervid_output(path: Path) -> bool:
    """A file named as fervid names its outputs (an annotated photo, or a video's outputs: OutputNames.of_any):
    another run's, not a recording."""
    from fervid.inference.video import OutputNames

    return path.name.endswith(ANNOTATED_IMAGE_SUFFIX) or OutputNames.of_any(path.name)


def natural_order(path: Path) -> list:
    """Sort key: numbers by value, letters without case (w1, w2, w10; as a file browser lists them, not w1, w10, w2)."""
    # ASCII digits only: "²" is a digit to str.isdigit() but not to int() (a superscript in a name broke the sort)
    return [int(part) if part.isascii() and part.isdigit() else part.lower()
            for part in re.split(r"([0-9]+)", str(path))]


def search_folder(folder: Path, unreadable: list[OSError]):
    """Every file below ``folder`` but hidden ones and batch results folders. Linked folders are followed where
    they lead out of ``folder``; one leading back into it is not (the folder is reached under its own name, and
    a loop ends). A folder that cannot be listed or entered (``folder`` itself too) is searched no further, its
    error (naming it) added to ``unreadable``: os.walk left one out without a word, and a run on a folder another
    user had locked said nothing of the files in it."""
    inside = os.path.realpath(folder)
    entered = set()
    for root, dirs, files in os.walk(folder, onerror=unreadable.append, followlinks=True):
        try:  # listed (read permission) but not to be entered (no search permission): no file in it can be opened
            os.stat(os.path.join(root, os.curdir))
        except OSError as exc:
            unreadable.append(OSError(exc.errno, exc.strerror, root))
            dirs[:] = []
            continue
        real = os.path.realpath(root)
        if real in entered or is_batch_results(Path(root)):
            dirs[:] = []
            continue
        entered.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (
            os.path.islink(os.path.join(root, d))
            and (os.path.realpath(os.path.join(root, d)) + os.sep).startswith(inside + os.sep)))
        yield from (Path(root) / f for f in sorted(files) if not f.startswith("."))


def utf8_name(text: str) -> bool:
    """False for a file name holding bytes that are not UTF-8 (Python keeps them as lone surrogates)."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def not_utf8_reason(name: str) -> str:
    """Why a file name that is not valid UTF-8 here (:func:`utf8_name`) is refused, and what to do: where its bytes
    are UTF-8 and only this run's locale cannot read them (LC_ALL=C on a Python not in UTF-8 mode: an ASCII
    locale), the locale is to change, not the file (it said "rename the file" of `café.png`)."""
    try:
        os.fsencode(name).decode("utf-8")
    except UnicodeDecodeError:
        return "file name is not valid UTF-8; rename the file"
    return (f"file name is UTF-8, which this run's locale ({sys.getfilesystemencoding()}) cannot read; run fervid "
            "in a UTF-8 locale (LC_ALL=C.UTF-8) or with PYTHONUTF8=1")


def opencv_name(path: str | Path) -> str | None:
    """``path`` as OpenCV must be given it, or None where it cannot be. OpenCV encodes a name it is given as UTF-8,
    whatever the locale: under a Latin-1 one (LC_ALL=de_DE.ISO-8859-1) the UTF-8 bytes of `café.mp4` are the text
    "cafÃ©.mp4" to Python, which OpenCV looked for as other bytes and did not find. The name's bytes read as UTF-8
    are the text it finds the file by; a name whose bytes are not UTF-8 it cannot be given at all. Given as FFmpeg
    reads a local file's name (:func:`as_local_file`)."""
    try:
        return as_local_file(os.fsencode(str(path)).decode("utf-8"))
    except UnicodeDecodeError:
        return None


def as_local_file(name: str) -> str:
    """A file's path as FFmpeg (OpenCV's, and the ffmpeg binary's) takes it for a file: it reads a name with a ":"
    before its first "/" as a URL of the protocol before it, so `take:1.mp4`, or `3:4:2024 interview.mov` (macOS
    keeps a "/" typed in the Finder as ":"), was "not a video". Such a relative path gets "./" before it; where a
    file's name is said or written, its own name is."""
    path = Path(name)
    if path.is_absolute() or path.drive:  # (Windows' "C:video.mp4" is a drive's: its ":" is no protocol's)
        return name
    return f"./{name}" if ":" in re.split(r"[/\\]", name, maxsplit=1)[0] else name


def printable_name(text: str) -> str:
    """``text`` with any undecodable bytes of a file name written as escapes (\\udce9), as UTF-8 can hold it."""
    return text if utf8_name(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def recorded_name(path: str | os.PathLike) -> str:
    """A file's name as fervid's results record it (the ``file`` of every table and JSON document): its bytes on the
    file system read as UTF-8, whatever this run's locale, where they are UTF-8; else the name as the locale reads
    it, with what it cannot read as escapes (:func:`printable_name`). Under a Latin-1 locale the UTF-8 bytes of
    `emoção.png` were recorded "emoÃ§Ã£o.png", under an ASCII one (LC_ALL=C, Python not in UTF-8 mode)
    "emo\\udcc3\\udca7\\udcc3\\udca3o.png", as OpenCV is given it (:func:`opencv_name`)."""
    text = os.fspath(path)
    text = text if isinstance(text, str) else os.fsdecode(text)
    try:
        return os.fsencode(text).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):  # (a name of characters the locale has no bytes for: not a file's)
        return printable_name(text)


def recorded_path(name: str) -> str:
    """The path a name :func:`recorded_name` recorded opens (its UTF-8 bytes as this run's locale reads them): a
    tracks JSON's ``file`` read back."""
    try:
        return os.fsdecode(name.encode("utf-8"))
    except UnicodeEncodeError:  # (escapes of a name not UTF-8: no path's)
        return name


NAME_MAX = 255  # bytes in a file name: ext4, XFS, Btrfs, ZFS, APFS (NTFS: 255 UTF-16 units, no fewer)
# the most bytes any output adds to the stem it is named by: a video's key frame while it is written,
# "_track12345_123456.78s_surprise.partial.png" (43), and its annotated MP4's while its sound is added,
# ".<stem>_annotated.partial.mp4.silent.mp4" (34); with room to spare
OUTPUT_SUFFIX_BYTES = 64
STEM_DIGEST_CHARS = 8  # hex digits of a cut stem's digest, after a "-"


def _name_bytes(text: str) -> int:
    """The bytes ``text`` takes in a file name (the filesystem's encoding, as the OS is given it)."""
    try:
        return len(os.fsencode(text))
    except UnicodeEncodeError:  # a character the locale's encoding lacks: the name cannot be written as it is
        return len(text.encode("utf-8", "surrogateescape"))


def fitted_stem(stem: str, most_bytes: int = NAME_MAX - OUTPUT_SUFFIX_BYTES) -> str:
    """``stem``, the start of an input's output file names, as it is where every output named after it fits a
    file name (:data:`NAME_MAX` bytes, its longest suffix included: ``most_bytes`` for the stem); a longer one cut
    on a character boundary and ended by "-" and 8 hex digits of a digest of the whole, so that two names cut alike
    stay apart and a run again names its outputs as before. The one rule for `fervid image`'s, `fervid video`'s,
    `fervid batch`'s and the server's outputs: a legal 244-byte name failed them ("File name too long")."""
    if _name_bytes(stem) <= most_bytes:
        return stem
    import hashlib

    digest = hashlib.sha256(stem.encode("utf-8", "surrogateescape")).hexdigest()[:STEM_DIGEST_CHARS]
    room, kept = most_bytes - 1 - STEM_DIGEST_CHARS, 0
    for character in stem:  # whole characters only: a cut UTF-8 sequence would be an undecodable name
        size = _name_bytes(character)
        if size > room:
            break
        room, kept = room - size, kept + 1
    return f"{stem[:kept].rstrip(' .')}-{digest}"


# ONNX Runtime's words where an allocation failed, in its Fail or RuntimeException's message ("[ONNXRuntimeError] :
# 1 : FAIL : std::bad_alloc", "... Status Message: ...bfc_arena.cc:376 ... Failed to allocate memory for requested
# buffer of size 8388608", a GPU's "CUDA failure 2: out of memory")
_ONNX_RUNTIME_ALLOCATION_FAILURE = re.compile(
    r"std::bad_alloc|Failed to allocate memory(?: for requested buffer of size \d+)?|out of memory", re.IGNORECASE)


def onnx_runtime_allocation_failure(exc: BaseException) -> str | None:
    """ONNX Runtime's own words where ``exc`` is its error for memory running out (``std::bad_alloc``, "Failed to
    allocate memory for requested buffer of size N"), else None. ONNX Runtime raises no MemoryError: its C++
    allocation failures come as its ``Fail`` or ``RuntimeException``, whose message said "error: s20.mp4: analysis
    stopped at frame 19: [ONNXRuntimeError] : 1 : FAIL : std::bad_alloc", a broken video's error to the reader."""
    # (looked up, not imported: where ONNX Runtime was never loaded, no error can be its)
    state = sys.modules.get("onnxruntime.capi.onnxruntime_pybind11_state")
    kinds = tuple(kind for name in ("Fail", "RuntimeException", "EPFail")
                  if isinstance(kind := getattr(state, name, None), type))
    if not kinds or not isinstance(exc, kinds):
        return None
    found = _ONNX_RUNTIME_ALLOCATION_FAILURE.search(str(exc))
    return found.group(0) if found else None


# The dynamic loader's words where a library's pages could not be mapped ("libarrow.so.2600: failed to map segment
# from shared object", glibc's, in the ImportError of a module loaded late: pyarrow as a video's tables open,
# matplotlib as its timelines are drawn, scipy as its tracker first matches faces). Under a memory cap (`ulimit -v`,
# `prlimit --as`, a container's) that is memory running out; the same words ending "Operation not permitted" are a
# folder mounted noexec, not memory.
_LIBRARY_NOT_MAPPED = "failed to map segment from shared object"


def library_mapping_failure(exc: BaseException) -> str | None:
    """The loader's words where ``exc`` is an ImportError (or ctypes' OSError) for a library whose pages could not
    be mapped for want of memory ("libarrow.so.2600: failed to map segment from shared object"), else None. It
    was said as the input's own failure ("error: s20.mp4: libarrow.so.2600: failed to map segment from shared
    object")."""
    if not isinstance(exc, (ImportError, OSError)):
        return None
    text = str(exc)
    if _LIBRARY_NOT_MAPPED not in text or "not permitted" in text.lower():
        return None
    return os.path.basename(text.strip())  # the library's name, not its folder


def memory_failure(exc: BaseException) -> str | None:
    """What said memory ran out, where ``exc`` is memory running out but no MemoryError: ONNX Runtime's allocation
    failure (:func:`onnx_runtime_allocation_failure`, "ONNX Runtime: std::bad_alloc") or a library that could not
    be loaded (:func:`library_mapping_failure`, "loading libarrow.so.2600: failed to map segment from shared
    object"); else None."""
    if (said := onnx_runtime_allocation_failure(exc)) is not None:
        return f"ONNX Runtime: {said}"
    if (said := library_mapping_failure(exc)) is not None:
        return f"loading {said}"
    return None


def failure_message(source, exc: BaseException) -> str:
    """The error line of an input that could not be analysed: ``exc``'s message, starting with the input's name
    where it does not already. Running out of memory, whose message is empty (``error: big.png:`` and nothing
    more), is said in words, with the decoded size of the image where its header tells it; so is ONNX Runtime's
    allocation failure and a library that could not be loaded for want of it (:func:`memory_failure`). An
    :class:`fervid.errors.OutOfMemory` (a video's, saying at which frame) is said as it is."""
    if not isinstance(exc, OutOfMemory) and (isinstance(exc, MemoryError) or memory_failure(exc)):
        size = ""
        try:
            with Image.open(source) as im:  # the header alone
                size = (f" ({im.width} x {im.height} pixels: {im.width * im.height * 3 / 1e6:,.0f} MB decoded, "
                        "before any copy the analysis makes)")
        except Exception:  # not an image, or not one Pillow reads: said without its size
            pass
        return f"{source}: out of memory while decoding and analysing it{size}"
    text = str(exc) or type(exc).__name__
    return text if str(source) in text else f"{source}: {text}"


def output_stems(files: list[Path]) -> dict[Path, str]:
    """A file-name stem per input for its outputs in one shared folder, so that no input's outputs overwrite
    another's: the file's own stem where it is unique; where inputs share one (recordings/p01/cam.mp4 and
    recordings/p02/cam.mp4, or cam.mp4 and cam.avi), the folders that tell them apart (p01_cam, p02_cam) or the
    extension (cam_mp4, cam_avi). Compared case-insensitively, as macOS and Windows folders are; a counter
    settles what nothing else does. A stem too long for its outputs' names is cut (:func:`fitted_stem`)."""
    from collections import defaultdict

    files = list(dict.fromkeys(files))
    folders = {f: [part for part in Path(f).resolve().parent.parts if part != Path(f).resolve().anchor]
               for f in files}
    depth = dict.fromkeys(files, 0)  # how many of its folders a name carries
    with_suffix = dict.fromkeys(files, False)

    def name(f: Path) -> str:
        parts = folders[f][len(folders[f]) - depth[f]:] + [Path(f).stem]
        return "_".join(parts) + (f"_{Path(f).suffix.lstrip('.')}" if with_suffix[f] else "")

    while True:
        groups = defaultdict(list)
        for f in files:
            groups[name(f).lower()].append(f)
        changed = False
        for group in (g for g in groups.values() if len(g) > 1):
            if len({Path(f).suffix.lower() for f in group}) == len(group) and not any(with_suffix[f] for f in group):
                for f in group:  # their extensions tell them apart (cam.mp4, cam.avi)
                    with_suffix[f] = changed = True
                continue
            if len({depth[f] for f in group}) > 1:  # a folder-and-stem name met a plain stem: the counter's case
                continue
            if len({tuple(folders[f]) for f in group}) == 1:  # one folder (a.jpg, a.JPG): no folder tells them
                continue  # apart, and climbing to the root named them tmp_shoot_a; the counter's case
            for f in group:
                if depth[f] < len(folders[f]):
                    depth[f] += 1
                    changed = True
        if not changed:
            break
    stems, taken = {}, set()
    for f in files:
        stem, n = fitted_stem(name(f)), 1
        while stem.lower() in taken:
            n += 1
            stem = fitted_stem(f"{name(f)}-{n}")
        taken.add(stem.lower())
        stems[f] = stem
    return stems


def stem_not_taken(path: Path, stem: str, taken: set[str]) -> str:
    """``stem`` for ``path``'s outputs, or, where ``taken`` (lower case: the stems of other sources' outputs in the
    folder written to) holds it, a stem of its own as :func:`output_stems` makes one: ``path``'s folders before it,
    one at a time (p02_cam, where p01/cam.mp4's outputs are cam_*), then a counter. Another source's outputs in a
    shared folder are kept, never replaced."""
    folders = [part for part in Path(path).resolve().parent.parts if part != Path(path).resolve().anchor]
    # the folders the stem already carries (output_stems' p02_cam) are not added again
    carried = max((d for d in range(1, len(folders) + 1) if stem.startswith("_".join(folders[-d:]) + "_")),
                  default=0)
    bare, candidate = stem[len("_".join(folders[-carried:])) + 1:] if carried else stem, stem
    for depth in range(carried + 1, len(folders) + 1):
        if candidate.lower() not in taken:
            break
        candidate = "_".join([*folders[-depth:], bare])
    base, n = candidate, 1
    candidate = fitted_stem(candidate)
    while candidate.lower() in taken:
        n += 1
        candidate = fitted_stem(f"{base}-{n}")
    return candidate
