"""Shared fixtures: every test input is made here or shipped by a package (scikit-image's astronaut)."""

from __future__ import annotations

import errno
import gzip
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fervid
from fervid.emotions import EMOTIONS

# .ci/run starts pytest with PYTHONWARNDEFAULTENCODING=1 so that fervid's text I/O in the locale's encoding fails a
# test here (pyproject.toml); the commands tests run as subprocesses should not print other packages' warnings
os.environ.pop("PYTHONWARNDEFAULTENCODING", None)
# a command a test runs that dies of a signal (a native library's abort at exit: seen once, exit -6, "terminate
# called without an active exception") prints every thread's Python stack on its stderr, which the test shows
os.environ["PYTHONFAULTHANDLER"] = "1"


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    from fervid.samples import astronaut

    return astronaut()


@pytest.fixture(scope="session")
def astronaut_png(tmp_path_factory, astronaut_rgb) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("images") / "astronaut.png"
    Image.fromarray(astronaut_rgb).save(path)
    return path


# `face_clip`'s: 60 frames at 30 fps (2 s), 176x144 (carphone's size: as quick to analyse); `long_face_clip` has
# carphone's 120 frames (4 s), for tests that count frames or seconds past the first two
FACE_CLIP_FRAMES, FACE_CLIP_FPS, FACE_CLIP_SIZE = 60, 30.0, (176, 144)
LONG_FACE_CLIP_FRAMES = 120


def face_clip_frames(astronaut_rgb: np.ndarray, frames: int = FACE_CLIP_FRAMES) -> list[np.ndarray]:
    """The BGR frames :func:`write_face_clip` encodes: the astronaut's face, 110 px tall, on grey, drifting 16 px
    right and back over ``frames`` frames (for a test that hands frames to the pipeline itself)."""
    import cv2

    face = cv2.resize(cv2.cvtColor(astronaut_rgb[20:240, 120:330], cv2.COLOR_RGB2BGR), (105, 110))
    width, height = FACE_CLIP_SIZE
    made = []
    for i in range(frames):
        frame = np.full((height, width, 3), 90, np.uint8)
        x = 28 + round(8 * (1 - np.cos(2 * np.pi * i / frames)))
        frame[17:127, x:x + 105] = face
        made.append(frame)
    return made


def write_face_clip(path: Path, astronaut_rgb: np.ndarray, frames: int = FACE_CLIP_FRAMES) -> Path:
    """A real H.264 MP4 of one face in every frame (:func:`face_clip_frames`): a video with a face, where a test
    does not need carphone's own frames."""
    width, height = FACE_CLIP_SIZE
    writer = clip_writer(path, width, height, FACE_CLIP_FPS)
    for frame in face_clip_frames(astronaut_rgb, frames):
        writer.write(frame)
    writer.close()
    return path


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory, astronaut_rgb) -> Path:
    """:func:`write_face_clip`'s clip, made once a session (copy it before changing or renaming it)."""
    return write_face_clip(tmp_path_factory.mktemp("videos") / "face_clip.mp4", astronaut_rgb)


@pytest.fixture(scope="session")
def long_face_clip(tmp_path_factory, astronaut_rgb) -> Path:
    """:func:`write_face_clip`'s clip of 120 frames (4 s), made once a session (copy it before changing it)."""
    return write_face_clip(tmp_path_factory.mktemp("videos") / "long_face_clip.mp4", astronaut_rgb,
                           LONG_FACE_CLIP_FRAMES)


@pytest.fixture(scope="session")
def uncertain_face_png(tmp_path_factory) -> Path:
    """A photo of a face the default model is unsure of: frame 88 of the carphone clip fervid ships (surprise 0.44 by
    itself, under the 0.5 threshold: flagged uncertain), as a PNG. Skips where the clip is not installed."""
    import cv2

    if not SAMPLE_CLIP.is_file():
        pytest.skip(WITHOUT_SAMPLE_CLIP)
    capture = cv2.VideoCapture(str(SAMPLE_CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 88)
    ok, frame = capture.read()
    capture.release()
    assert ok, "carphone's frame 88 could not be read"
    path = tmp_path_factory.mktemp("images") / "carphone_88.png"
    cv2.imwrite(str(path), frame)
    return path


# what lets root read, enter and change any file whatever its mode: dropped, a chmod stops the command as it stops a
# user (CI runs as root)
ROOT_FILE_CAPABILITIES = "-dac_override,-dac_read_search,-fowner"


@pytest.fixture
def unprivileged() -> list[str]:
    """The prefix of a command run as a user whom a file's mode stops: setpriv without root's file capabilities where
    the tests run as root; nothing for a user who is not root. Skips where neither can be had (Windows, root without
    setpriv, a container that may not drop capabilities)."""
    if not hasattr(os, "geteuid"):
        pytest.skip("file modes (chmod) are POSIX's")
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    prefix = [setpriv, f"--bounding-set={ROOT_FILE_CAPABILITIES}", f"--inh-caps={ROOT_FILE_CAPABILITIES}"]
    if setpriv is None or subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("running as root, and cannot drop root's file capabilities (setpriv): a chmod stops nothing")
    return prefix


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a 2.5 MB filesystem (a tmpfs, as root): a disk that fills up."""
    target = tmp_path / "small"
    target.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2560k", "tmpfs", str(target)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small filesystem here (needs root)")
    yield target
    subprocess.run(["umount", "--lazy", str(target)])  # (a failed run's traceback may hold state.sqlite open)


@pytest.fixture
def without_heif_decoder(monkeypatch):
    """fervid as installed without the `heic` extra: pillow-heif's opener taken out of Pillow, and the file kinds
    fervid searches for and refuses as they are there (sets every command imported: changed in place, restored)."""
    from PIL import Image

    from fervid.inference import images

    monkeypatch.setattr(images, "READS_HEIF", False)
    # Pillow's list of formats is changed in place too: plugins Pillow loads meanwhile register into it
    opener = "HEIF" in Image.ID and Image.ID.remove("HEIF") is None
    searched, unreadable = set(images.IMAGE_SUFFIXES), set(images.UNREADABLE_IMAGE_SUFFIXES)
    images.IMAGE_SUFFIXES.difference_update(images.HEIF_SUFFIXES)
    images.UNREADABLE_IMAGE_SUFFIXES.update(images.HEIF_SUFFIXES)
    yield
    if opener:
        Image.ID.append("HEIF")
    images.IMAGE_SUFFIXES.clear(), images.IMAGE_SUFFIXES.update(searched)
    images.UNREADABLE_IMAGE_SUFFIXES.clear(), images.UNREADABLE_IMAGE_SUFFIXES.update(unreadable)


def clip_writer(path: Path, width: int, height: int, fps: float):
    """An H264Writer for a test's own clip, at the x264 settings the tests' clips were made with (veryfast, CRF 23):
    the annotated MP4's (video.ANNOTATED_PRESET/CRF) were changed for speed, and a clip encoded at them moved a
    tracking test's faces (a camera bump gave a sixth track); what a test reads stays as it was written against."""
    from fervid.inference.video import H264Writer

    return H264Writer(path, width, height, fps, preset="veryfast", crf=23)


def _listening_on(port: int) -> bool:
    """Whether a socket on this machine listens on TCP ``port``: read from the kernel's tables (Linux's
    /proc/net/tcp, elsewhere `netstat -an`), as a connection would be taken as a client."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if tables[0].is_file():
        for table in (t for t in tables if t.is_file()):
            for row in table.read_text(encoding="ascii").splitlines()[1:]:
                _, local, _, state = row.split()[:4]
                if state == "0A" and int(local.rpartition(":")[2], 16) == port:  # 0A: TCP_LISTEN
                    return True
        return False
    # (a localized Windows writes its OEM code page: only the ASCII "LISTEN" and port are read)
    netstat = subprocess.run(["netstat", "-an"], capture_output=True, text=True, encoding="utf-8",
                             errors="replace").stdout
    return any("LISTEN" in line and (f":{port} " in line or f".{port} " in line) for line in netstat.splitlines())


def wait_until_listening(server: subprocess.Popen, port: int, timeout: float = 30.0) -> None:
    """Wait for ``server`` (`ffmpeg -listen 1`) to listen on ``port`` (it is killed if it does not). A fixed wait
    (0.5 s) was too short on a loaded machine, and a probe connection cannot tell: it would be the server's one
    client."""
    import time

    deadline = time.monotonic() + timeout
    while not _listening_on(port):
        if server.poll() is not None:
            raise AssertionError(f"the stream server ended (exit {server.returncode}) before listening on {port}")
        if time.monotonic() > deadline:
            server.kill()
            server.wait()
            raise AssertionError(f"the stream server did not listen on {port} within {timeout:g} s")
        time.sleep(0.02)


def write_participant_behind_small_face(path: Path, astronaut_rgb: np.ndarray, frames: int) -> Path:
    """A 25 fps, 640x360 clip: a small face (the astronaut mirrored, half size) in the top-right corner from the
    start, and the participant (the astronaut, 220 px tall) from frame 8 (0.32 s, the second detection round): what
    --max-faces 1 first follows and then what it should give way to."""
    import cv2

    face = cv2.cvtColor(astronaut_rgb[20:240, 120:330], cv2.COLOR_RGB2BGR)
    small = cv2.resize(face[:, ::-1], None, fx=0.5, fy=0.5)
    writer = clip_writer(path, 640, 360, 25.0)
    for i in range(frames):
        frame = np.full((360, 640, 3), 90, np.uint8)
        frame[20:20 + small.shape[0], 480:480 + small.shape[1]] = small
        if i >= 8:
            frame[100:320, 150:360] = face
        writer.write(frame)
    writer.close()
    return path


def faces_coming_and_going(astronaut_rgb: np.ndarray, visits: int, stays: bool = True, fps: float = 15.0,
                           away: float = 1.3) -> list[np.ndarray]:
    """BGR 640x480 frames at ``fps``: ``visits`` faces (the astronaut, drifting right) one after another, each seen
    for 1 s in a corner of the right half, the top and the bottom in turn, and gone for ``away`` s (longer than a
    track outlives a miss: each a track of its own, or with max_faces 1 the one track's number again), and with
    ``stays`` the astronaut mirrored at the left throughout: people walking past someone who stays."""
    import cv2

    face = cv2.resize(cv2.cvtColor(astronaut_rgb[20:240, 120:330], cv2.COLOR_RGB2BGR), None, fx=0.9, fy=0.9)
    shown = 1.0
    period = shown + away
    frames = []
    for i in range(round(visits * period * fps)):
        frame = np.full((480, 640, 3), 90, np.uint8)
        if stays:
            frame[140:140 + face.shape[0], 20:20 + face.shape[1]] = face[:, ::-1]
        visit, into = divmod(i / fps, period)
        if into < shown:
            x, y = 330 + round(20 * into), (20, 260)[int(visit) % 2]
            frame[y:y + face.shape[0], x:x + face.shape[1]] = face
        frames.append(frame)
    return frames


def synthetic_faces(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """48x48 grey images whose class is written into them as a bright bar at a class-specific height,
    so a tiny network can learn the task in seconds; noise keeps it from being trivial."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(EMOTIONS), n)
    images = rng.normal(110, 25, (n, 48, 48))
    for img, label in zip(images, labels):
        row = 4 + 6 * int(label)
        img[row : row + 4, 8:40] += 90
    return np.clip(images, 0, 255).astype(np.uint8), labels


def ck_like(n_subjects=16, seqs_per_subject=4, frames=3):
    """CK+-shaped data: subjects with several 3-frame sequences, the class written into the frames."""
    from fervid.evaluation.datasets import FaceDataset

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


def write_ck_folders(dataset, folder: Path) -> Path:
    """``dataset``'s faces as images in a folder an emotion, as CK+48 is laid out (what `--ckplus` reads)."""
    from PIL import Image

    for image, label, source in zip(dataset.images, dataset.labels, dataset.sources):
        (folder / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / EMOTIONS[label] / source)
    return folder


def write_fer2013_csv(path: Path, usages: dict[str, int], seed: int = 0) -> Path:
    """A FER2013-format CSV (``emotion,pixels,Usage``), gzipped if the name ends in .gz."""
    lines = ["emotion,pixels,Usage"]
    for i, (usage, n) in enumerate(usages.items()):
        images, labels = synthetic_faces(n, seed + i)
        for img, label in zip(images, labels):
            lines.append(f"{label},{' '.join(map(str, img.ravel()))},{usage}")
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def fer_csv(tmp_path) -> Path:
    return write_fer2013_csv(tmp_path / "fer2013.csv.gz", {"Training": 600, "PublicTest": 200})


def write_ferplus_votes(fer_csv, path, seed=1):
    """FER+ votes for every row of ``fer_csv``: 8 of 10 annotators vote the FER2013 label, 2 vote the next
    class; every 10th row is dropped by FER+ (empty name), every 10th+1 voted not-a-face."""
    import pandas as pd

    from fervid.evaluation.datasets import FERPLUS_VOTES

    to_column = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
                 "sad": "sadness", "surprise": "surprise", "neutral": "neutral"}
    emotions = pd.read_csv(fer_csv)["emotion"].to_numpy()
    usages = pd.read_csv(fer_csv)["Usage"].to_numpy()
    lines = ["Usage,Image name," + ",".join(FERPLUS_VOTES)]
    for i, (label, usage) in enumerate(zip(emotions, usages)):
        votes = dict.fromkeys(FERPLUS_VOTES, 0)
        votes[to_column[EMOTIONS[label]]] += 8
        votes[to_column[EMOTIONS[(label + 1) % 7]]] += 2
        if i % 10 == 1:
            votes = dict.fromkeys(FERPLUS_VOTES, 0) | {"NF": 10}
        name = "" if i % 10 == 0 else f"fer{i:07d}.png"
        lines.append(f"{usage},{name}," + ",".join(str(votes[k]) for k in FERPLUS_VOTES))
    path.write_text("\n".join(lines) + "\n")
    return path


# ONNX Runtime's int8 kernel on x86 CPUs without VNNI (AVX2 only) adds pairs of products in 16 bits, where full
# 8-bit weights can overflow; QEMU's user-mode emulator, told to be a Haswell (AVX2, no AVX-512, no VNNI), lets a
# test run that kernel on any x86-64 machine
needs_avx2_emulation = pytest.mark.skipif(
    platform.machine() != "x86_64" or shutil.which("qemu-x86_64") is None,
    reason="needs x86-64 and qemu-user (apt-get install qemu-user) to emulate an AVX2-only CPU")


# The tests run against the fervid Python imports: a source tree's src/fervid (an editable install, or
# PYTHONPATH=src), or, opted into with FERVID_TEST_INSTALLED=1, an installed copy (a wheel, a distribution's package)
# while the tests are a source tree's or an unpacked sdist's. The package's files (weights, samples, the web
# assets) are read from the copy under test; the repository's (README.md, docs/, benchmarks/, pyproject.toml) from
# beside tests/, where tests copied alone (.ci/wheel-tests.sh, a distribution's `source_files: tests`) have none.
REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(fervid.__file__).resolve().parent
TESTS_INSTALLED = os.environ.get("FERVID_TEST_INSTALLED") == "1"

# what the tests read beside tests/ (an unpacked sdist holds it all; git's checkout, .ci/ and src/ are checked by
# the tests that need them)
REPOSITORY_FILES = ("pyproject.toml", "README.md", "CHANGELOG.md", "CONTRIBUTING.md", "docs", "benchmarks", "configs",
                    "tools")
MISSING_REPOSITORY_FILES = [name for name in REPOSITORY_FILES if not (REPO / name).exists()]
WITHOUT_REPOSITORY = (f"reads the repository beside tests/, and {REPO} lacks {', '.join(MISSING_REPOSITORY_FILES)} "
                      f"(tests copied without it)")
needs_repository = pytest.mark.skipif(bool(MISSING_REPOSITORY_FILES), reason=WITHOUT_REPOSITORY)

# The carphone clip ships inside fervid, but its terms are not stated (src/fervid/WEIGHTS-AND-SAMPLES-NOTICE.md), so a
# distribution may leave it out and run these tests against its package. A test that needs a video with a face takes
# `face_clip`, which the tests make; one that needs carphone itself (its frames, its length, its outputs' names)
# carries `needs_sample_clip` and skips there, saying which file is missing. (fervid.samples.carphone()'s path, not
# imported: tests/test_conftest.py runs this file beside a stand-in fervid of two modules)
SAMPLE_CLIP = PACKAGE / "samples" / "carphone_pristine.mp4"
WITHOUT_SAMPLE_CLIP = (f"reads the carphone sample clip, and {SAMPLE_CLIP} is not installed (a distribution may leave "
                       f"it out: its terms are not stated)")
needs_sample_clip = pytest.mark.skipif(not SAMPLE_CLIP.is_file(), reason=WITHOUT_SAMPLE_CLIP)


def skip_module_without_repository() -> None:
    """Skips the test module importing this where the repository is not beside tests/: for a module that reads it
    as it is imported (the benchmark scripts), where ``needs_repository`` would come after a collection error."""
    if MISSING_REPOSITORY_FILES:
        pytest.skip(WITHOUT_REPOSITORY, allow_module_level=True)


def pytest_configure(config):
    """The ``slow`` marker, declared here, not in pyproject.toml: .ci/run also runs tests copied beside this file
    into a folder without it, where pytest warned of an unknown mark on each slow test.

    In a source tree, the fervid imported must be its own (src/fervid): an editable install of another checkout,
    found first on the path, would run these tests against code that is not the code beside them. Testing an
    installed copy with them is asked for by FERVID_TEST_INSTALLED=1."""
    # everything runs by default (CI, the README's test command); `-m "not slow"` is the quick loop
    config.addinivalue_line("markers", "slow: the wheel build, Ray and the browser tests; left out by -m 'not slow'")
    source = REPO / "src" / "fervid"
    if source.is_dir() and PACKAGE != source.resolve() and not TESTS_INSTALLED:
        raise pytest.UsageError(f"these are the tests of {REPO}, but Python imports fervid from {PACKAGE}, another "
                                f"copy: install this one (python -m pip install -e \".[test]\" in {REPO}) or run "
                                f"with PYTHONPATH={REPO / 'src'}; to test that copy, set FERVID_TEST_INSTALLED=1")


def pytest_report_header(config) -> str:
    return f"fervid under test: {PACKAGE}" + (" (FERVID_TEST_INSTALLED=1)" if TESTS_INSTALLED else "")


def run_onnx(model_file: Path, inputs: dict[str, np.ndarray], work: Path, emulate_avx2: bool = False) -> np.ndarray:
    """The first output of an ONNX graph on one thread, natively or on an emulated AVX2-only CPU."""
    for name, array in inputs.items():
        np.save(work / f"{name}.npy", array)
    script = ("import sys, numpy as np, onnxruntime as ort\n"
              "o = ort.SessionOptions(); o.intra_op_num_threads = 1\n"
              "s = ort.InferenceSession(sys.argv[1], o, providers=['CPUExecutionProvider'])\n"
              "feed = {n: np.load(f'{sys.argv[2]}/{n}.npy') for n in sys.argv[4:]}\n"
              "np.save(sys.argv[3], s.run(None, feed)[0])\n")
    out = work / ("avx2.npy" if emulate_avx2 else "native.npy")
    command = [sys.executable, "-c", script, str(model_file), str(work), str(out), *inputs]
    if emulate_avx2:
        command = ["qemu-x86_64", "-cpu", "Haswell", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    return np.load(out)


class OneWindowARun:
    """A temporal method running its windows one by one (it has no ``batch``): fervid's LSTM path before its windows
    ran together, the reference they must give the outputs of."""

    def __init__(self, method):
        self.method = method
        self.name, self.smooth_outputs, self.temperature = method.name, method.smooth_outputs, method.temperature

    def __call__(self, *args, **kwargs):
        return self.method(*args, **kwargs)


class CountedRuns:
    """An ONNX Runtime session that counts its runs and the windows (batch rows) each ran."""

    def __init__(self, session):
        self.session, self.batches = session, []

    def run(self, outputs, feeds):
        self.batches.append(len(next(iter(feeds.values()))))
        return self.session.run(outputs, feeds)


# ONNX Runtime's error where an allocation in a graph's run fails, word for word (a 20 s 640x480 video run under
# `prlimit --as=1000000000`): a Fail, no MemoryError
ONNX_RUNTIME_BAD_ALLOC = "[ONNXRuntimeError] : 1 : FAIL : std::bad_alloc"


class RunsOutOfMemory:
    """An ONNX Runtime session whose ``fails_at``-th run (from 1) and those after it fail as ONNX Runtime's own do
    where memory runs out (:data:`ONNX_RUNTIME_BAD_ALLOC`); everything else is the session's."""

    def __init__(self, session, fails_at: int):
        self.session, self.fails_at, self.runs = session, fails_at, 0

    def run(self, outputs, feeds, *args, **kwargs):
        from onnxruntime.capi.onnxruntime_pybind11_state import Fail

        self.runs += 1
        if self.runs >= self.fails_at:
            raise Fail(ONNX_RUNTIME_BAD_ALLOC)
        return self.session.run(outputs, feeds, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.session, name)


def cnn_runs_out_of_memory(monkeypatch, fails_at: int) -> None:
    """Every emotion CNN made from now on (in this process) runs out of memory in ONNX Runtime at its
    ``fails_at``-th run (:class:`RunsOutOfMemory`)."""
    from fervid.inference.models import EmotionCNN

    made = EmotionCNN.__init__

    def making(self, *args, **kwargs):
        made(self, *args, **kwargs)
        self.session = RunsOutOfMemory(self.session, fails_at)

    monkeypatch.setattr(EmotionCNN, "__init__", making)


def windows_without_long_paths(monkeypatch) -> None:
    """fervid as on Windows where long paths are not enabled: no path of more than 259 characters opens."""
    import types

    from fervid import machine

    monkeypatch.setattr(machine, "sys", types.SimpleNamespace(platform="win32"))
    monkeypatch.setattr(machine, "_windows_long_paths_enabled", lambda: False)
    # run from a console (machine.program_creationflags asks Windows through ctypes.windll, which Linux has not)
    import ctypes

    console = types.SimpleNamespace(kernel32=types.SimpleNamespace(GetConsoleWindow=lambda: 1))
    monkeypatch.setattr(ctypes, "windll", console, raising=False)


WINDOWS_SAYS = {32: "The process cannot access the file because it is being used by another process",  # held open
                5: "Access is denied"}  # ERROR_ACCESS_DENIED: a file being deleted, or a folder holding one held open


def refusal(path, other=None, winerror: int | None = 32) -> PermissionError:
    """What a rename, replace or delete of ``path`` (to ``other``) is refused with: on Windows, ``winerror`` 32
    (ERROR_SHARING_VIOLATION: another program, Excel or a virus scanner, has the file open) or 5; ``winerror``
    None, as Linux and macOS refuse it (the folder's permissions)."""
    if winerror is None:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path),
                               None, None if other is None else os.fspath(other))
    refused = PermissionError(errno.EACCES, WINDOWS_SAYS[winerror], os.fspath(path), None,
                              None if other is None else os.fspath(other))
    refused.winerror = winerror
    return refused


def refuse(monkeypatch, calls, refused=lambda *paths: True, times: int | None = None,
           winerror: int | None = 32) -> list[str]:
    """``os.<call>`` for each of ``calls`` ("replace", "rename", "unlink", "remove") refused (:func:`refusal`) where
    ``refused(*paths)`` (the call's one or two paths, as strings) says so, ``times`` times in all (None: every
    time), as Windows refuses a file its virus scanner has open for a moment, or Excel for good. Returns the
    refused calls' first paths."""
    made = []

    def refusing(real):
        def call(*args, **kwargs):
            paths = [os.fspath(p) for p in args[:2] if isinstance(p, (str, os.PathLike))]
            if refused(*paths) and (times is None or len(made) < times):
                made.append(paths[0])
                raise refusal(*paths, winerror=winerror)
            return real(*args, **kwargs)
        return call

    for name in [calls] if isinstance(calls, str) else calls:
        monkeypatch.setattr(os, name, refusing(getattr(os, name)))
    return made


def retry_waits(monkeypatch) -> list[float]:
    """fervid's waits between tries of a refused rename or delete (set_aside's), recorded, not slept."""
    import types

    from fervid.inference import set_aside

    waits: list[float] = []
    monkeypatch.setattr(set_aside, "time", types.SimpleNamespace(sleep=waits.append), raising=False)
    return waits
