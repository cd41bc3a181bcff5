"""The ``fervid`` command line. Its exit codes are :data:`EXIT_CODES`."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import inspect
import json
import math
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Optional

import typer

from fervid.apps import defaults as app_defaults
from fervid.apps import standard_streams
from fervid.apps.standard_streams import echo, send_to_stdout
from fervid.apps.video_notices import in_a_sentence, video_notices
from fervid.errors import FervidWarning
from fervid.evaluation import DEFAULT_USAGE, FER2013_USAGES
from fervid.inference.detect import DETECTORS, SMALL_IMAGE_SIDE, SMALLEST_FACE, resolved_score_threshold
from fervid.inference.images import MAX_PIXELS
from fervid.inference.models import (DEFAULT_MODEL, PAPER_MODEL, ModelError, ModelNotFound, available_models,
                                     is_shipped_name, model_folder_of_file, recorded_model_folder, resolve_model_dir,
                                     warn_of_cnn_folder_not_used)
from fervid.inference.options import (FRAMES_MEMORY_MB, MAX_FRAME_PIXELS, SEED_MAX, PipelineOptions, check_positive,
                                     setting_text)
from fervid.inference.records import IMAGE_TABLE_COLUMNS, images_table
from fervid.inference.track import ESTABLISHED_ROUNDS, LARGER_FACE
from fervid.json_files import json_bytes, write_json
from fervid.ownership import explained, other_users_file, owner_and_mode, why_denied
from fervid.progress import is_terminal, one_line, progress_bar

if TYPE_CHECKING:
    from tqdm import tqdm

    from fervid.evaluation.comparison import ModelScores
    from fervid.inference.analyzer import Analyzer

# what a script or a job scheduler can tell from a fervid command's exit status
EXIT_FAILED = 1  # an input could not be analysed or an output not written
EXIT_USAGE = 2  # the command line is wrong
EXIT_BUSY = 75  # EX_TEMPFAIL (sysexits.h): another fervid run is writing the same outputs; try again later
EXIT_PIPE = 141  # 128 + SIGPIPE, as a shell reports `yes | head -1`'s yes: stdout's reader closed it early
EXIT_CODES = f"""Exit codes: 0 done; {EXIT_FAILED} an input could not be analysed or an output not written (image,
video and batch still do the other inputs); {EXIT_USAGE} a wrong command line (an unknown option, a bad value, a
file or folder an option names that is not there); {EXIT_BUSY} another fervid run is writing the same outputs
(left to it: try again later); 130 interrupted by Ctrl-C, 143 by SIGTERM (what was finished is kept and
said; `live` on a camera or stream, which has no end of its own, ends its session on either, exit 0); 141 stdout
was closed before all was written to it (`| head`)."""

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES,
                  help="fervid: facial emotion recognition in images and videos, offline.")

def _print_version(value: bool) -> None:
    if not value:
        return
    import platform

    import onnxruntime

    from fervid import __version__
    from fervid.machine import cpu_model

    # what a bug report needs: the versions that decide fervid's numbers, and the CPU they were computed on
    echo(f"fervid {__version__} (default model {DEFAULT_MODEL}; Python {platform.python_version()}, "
               f"ONNX Runtime {onnxruntime.__version__}, {platform.system()} {platform.machine()}, CPU {cpu_model()})")
    raise typer.Exit()


@app.callback()
def _fervid(ctx: typer.Context,
            version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                         help="Print fervid's version, the default model, Python's and ONNX "
                                              "Runtime's versions and the CPU, then exit.")) -> None:
    """fervid: facial emotion recognition in images and videos, offline."""
    if _colour() is False:  # every command's context inherits it
        ctx.color = False


def _colour() -> Optional[bool]:
    """False where colour was asked away (NO_COLOR set to anything, https://no-color.org; TERM=dumb, a terminal
    that shows escape codes as text); None: Click's own choice, colour on a terminal only."""
    return False if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb" else None


def _say_cnn_folder_not_used(ctx: typer.Context, param: typer.CallbackParam, value):
    """A shipped CNN's name typed (--model, experiment's --cnn) beside a folder of that name in the working folder:
    said once that the folder is not used (fervid.inference.models.warn_of_cnn_folder_not_used). The default, typed
    by no one, says nothing: `fervid image` beside a folder ferplus_vgg/ warned of it."""
    if param.name is not None and _typed(ctx, param.name):
        for name in value if isinstance(value, (list, tuple)) else [value]:
            warn_of_cnn_folder_not_used(name)
    return value


_DEFAULTS = PipelineOptions()
# The options every analysing command shares, declared once (defaults from fervid.inference.options.PipelineOptions)
MODEL_OPTION = typer.Option(_DEFAULTS.model, callback=_say_cnn_folder_not_used, help=f"Emotion CNN: a shipped name ({' or '.join(available_models())}) "
                                                  "or a model folder (`fervid models` describes the shipped ones). A "
                                                  "shipped name means the shipped model: a folder of that name is "
                                                  "given as a path (./NAME).")
DETECTOR_OPTION = typer.Option(_DEFAULTS.detector, help=f"Face detector: {', '.join(DETECTORS)} (yuface needs "
                                                        "`pip install \"fervid[yuface]\"`).")
# the detectors' own settings, said in the options' help as fervid.inference.detect defines them: each detector's
# score threshold; the longer side above which an image is detected on a finer copy (the default detector's base
# copy at the default --min-face); the side a small image is enlarged to
_OWN_THRESHOLDS = ", ".join(f"{name} {resolved_score_threshold(name, None):g}" for name in DETECTORS)
_FINER_ABOVE = (inspect.signature(DETECTORS[_DEFAULTS.detector]).parameters["max_side"].default * _DEFAULTS.min_face
                / SMALLEST_FACE)
_ENLARGED_TO = SMALL_IMAGE_SIDE[_DEFAULTS.detector]
_OTHERS_ENLARGED_TO = ", ".join(f"{name}: {side}" for name, side in SMALL_IMAGE_SIDE.items()
                                if name != _DEFAULTS.detector)
THRESHOLD_OPTION = typer.Option(None, help=f"Minimum face-detection score (0-1); default: the detector's own "
                                           f"({_OWN_THRESHOLDS}).")
MIN_FACE_OPTION = typer.Option(_DEFAULTS.min_face, help="Smallest face to find, in pixels tall: large images (over "
                                                       f"about {round(_FINER_ABOVE, -2):,.0f} px at "
                                                       f"{_DEFAULTS.min_face:g}) are detected on a copy where it is "
                                                       f"{SMALLEST_FACE} px tall (slower on large photos; raise it to "
                                                       "go faster). Not a filter: smaller faces found anyway are kept. "
                                                       f"Whatever it is, an image under {_ENLARGED_TO} px (its shorter "
                                                       "side: a face crop, a thumbnail) is detected on a copy "
                                                       f"enlarged to {_ENLARGED_TO} px ({_OTHERS_ENLARGED_TO}); for "
                                                       "images that are face crops already, `fervid image "
                                                       "--face-crops` reads each whole as one face.")
IMAGE_MAX_FACES_OPTION = typer.Option(_DEFAULTS.max_faces, min=1, help="Keep the N largest faces of each image. "
                                      "Default: every face.")
MAX_FACES_OPTION = typer.Option(_DEFAULTS.max_faces, min=1, help="Keep the N largest faces of each image; in a "
                                "video follow at most N at once (with 1, its one face is track 1 throughout: a "
                                "participant who looks away and back, and no one behind them). A face followed for "
                                f"{ESTABLISHED_ROUNDS} detection rounds keeps its place until it is gone, whatever "
                                "larger face appears (a photo on a shared screen); a newer one gives way to a face "
                                f"{LARGER_FACE:g} times its area, "
                                "which gets a new track number, said in a notice. Default: every face.")
PRECISION_OPTION = typer.Option(_DEFAULTS.precision, help="auto (the graph file --model names, as x/model.onnx: the "
                                                          "float one; else the model's int8 copy where it has "
                                                          "one), int8 or fp32.")
DETECT_EVERY_OPTION = typer.Option(_DEFAULTS.detect_every, help="Videos: seconds between face detections "
                                                                "(tracking in between).")
WINDOW_OPTION = typer.Option(_DEFAULTS.window, help="Videos: seconds of frames the temporal classifier looks at "
                                                    "(not --method frame); a notice says when the window holds too "
                                                    "few analysed frames for the method (--sample-fps).")


def _method_name(value: Optional[str]) -> Optional[str]:
    """--method in any case (``LSTM``): the methods' names are lower case."""
    return value.lower() if value else value


METHOD_OPTION = typer.Option(None, callback=_method_name,
                             help=f"Videos: temporal classifier: lstm (the paper's), mean (triangle-weighted moving "
                                  "average), frame (per-frame argmax) or hmm (a sticky HMM smoother). Default: "
                                  f"{_DEFAULTS.method}, or mean (said in a notice) for a CNN of yours with no "
                                  "temporal LSTM; a method named here runs, or the command stops.")
SAMPLE_FPS_OPTION = typer.Option(None, help="Videos: analyse at most this many frames per second (the LSTM learnt "
                                            "from frames at most 0.3 s apart, every 9th frame of 30 or 29.97 fps "
                                            "video, --sample-fps 3.33; below 3.27, 2% farther apart, a notice says "
                                            "its labels are outside what it learnt).")
KEY_FRAMES_OPTION = typer.Option(_DEFAULTS.key_frames, min=0, metavar="N",
                                 help="Videos: keep at most N key frames per track, those of its N longest emotion "
                                      "episodes (0: none); default: one for every episode of 0.5 s or more (a "
                                      "90-minute class of 26: about 31,000 PNGs). Every episode stays in the tracks "
                                      "JSON; one without a key frame has key_frame null.")

LANDMARKS_OPTION = typer.Option(_DEFAULTS.landmarks, "--landmarks/--no-landmarks",
                                help="Give each face's 5 facial landmarks (eyes, nose tip, mouth corners, in pixels) "
                                     "in the JSON; --no-landmarks: null there, the JSON saying \"landmarks\": false "
                                     "(data minimisation; they still align each face). The tables never have them.")


def _quiet_option(what_stays: str):
    """-q/--quiet, meaning the same in every command that has it; ``what_stays``: what this command still writes or
    prints with it (a command without results sent to stdout did not have "and results sent to stdout ('-')")."""
    return typer.Option(False, "--quiet", "-q", help="No progress bar and no summary: only errors, warnings and "
                                                     f"notices (on stderr); {what_stays}.")


def _estimate_option(timed: str, images: str = ""):
    """--estimate, as `fervid video` and `fervid batch` have it: ``timed``, how the run's time is counted (one video
    after another; one worker); ``images``, the images sampled beside the videos (batch's)."""
    return typer.Option(False, "--estimate", help=f"Only say how long the run would take here, with these settings "
                                                  f"{timed}, and the disk its videos' outputs would take (annotated "
                                                  "MP4s, key frames, tables, from what the samples wrote per second "
                                                  f"of video): the first 20 s of up to 3 videos of different frame "
                                                  f"sizes{images} are analysed in a temporary folder (nothing is "
                                                  "written to --out), and the videos' lengths read from their "
                                                  "files.")


# --estimate's machine-readable form, as `fervid models --json` is the models'
ESTIMATE_JSON_OPTION = typer.Option(False, "--json", help="With --estimate: print the estimate as one JSON object "
                                                          "on stdout (for scripts), the numbers its text says: "
                                                          "files, video_seconds, analysed_seconds, samples, "
                                                          "estimated_seconds and estimated_seconds_range, disk_bytes "
                                                          "by kind and total, problems (file, error); notices and "
                                                          "errors on stderr.")


MAX_VIDEO_MEGAPIXELS_OPTION = typer.Option(MAX_FRAME_PIXELS / 1e6, metavar="MP",
                                           help="Videos of larger frames (width x height, in millions of pixels) "
                                                "are refused before a frame is decoded, as too large (8K is 35).")
FRAMES_MEMORY_MB_OPTION = typer.Option(FRAMES_MEMORY_MB, metavar="MB",
                                       help="Videos: MB of decoded frames an analysis may hold at once (for its "
                                            "temporal windows and a CNN batch); a video whose frame size and rate "
                                            "need more is analysed at the rate that fits, with a notice. A "
                                            "ceiling, not what is taken: 1080p at 30 fps holds about 300 MB "
                                            "whatever it is, 4K at 60 fps 1,940 MB (with the LSTM).")
TEMPORAL_MODEL_OPTION = typer.Option(None, help="Videos, --method lstm: a temporal LSTM folder made by `fervid "
                                                "train-temporal` on this CNN's features (default: the one shipped "
                                                "for the CNN), or a shipped LSTM's name (which means the shipped "
                                                "one: a folder of that name is given as ./NAME).")
REGION_OPTION = typer.Option(None, metavar="X,Y,W,H",
                             help="Videos: look for faces only in this part of the frame (a participant's webcam in "
                                  "a corner of a screen recording): x, y, width, height in pixels of the frame as it "
                                  "shows, or, every value 1 or less, fractions of its width and height "
                                  "(0.75,0.6,0.25,0.4). Scene cuts are told there too; boxes, tables and the "
                                  "annotated MP4 keep the whole frame's pixels. Recorded in the tracks JSON.")
# where `fervid serve` and `fervid live`'s page keep their jobs (the page's saved sessions are jobs), and for how
# long: ServerSettings' defaults (fervid.apps.defaults)
# (readable=False: click's own check said only "path 'fervid-data' is not readable"; _check_data_dir says whose)
DATA_DIR_OPTION = typer.Option(app_defaults.DATA_DIR, readable=False, help="Where video jobs (sessions saved from the /live page "
                                                            "among them) and their outputs are kept.")
JOB_TTL_HOURS_OPTION = typer.Option(app_defaults.JOB_TTL_HOURS, help="Finished jobs (saved /live sessions too) older "
                                                                     "than this are deleted.")
START_OPTION = typer.Option(None, metavar="TIME", help="Videos: analyse from this time on (seconds, m:ss or "
                                                       "h:mm:ss): the file is sought there, not decoded from its "
                                                       "start; times stay the recording's own.")
END_OPTION = typer.Option(None, metavar="TIME", help="Videos: analyse up to this time (seconds, m:ss or h:mm:ss).")
SEGMENTS_OPTION = typer.Option(None, metavar="CSV",
                               help="Videos: a table of stretches to summarise on their own (a usability test's "
                                    "tasks): columns start, end (seconds, m:ss or h:mm:ss) and optionally name; the "
                                    "same for every video given. Writes <name>_segments.csv: per segment and track, "
                                    "seconds seen, each emotion's share of them, the dominant one and its episodes.")
SEGMENT_EVERY_OPTION = typer.Option(None, metavar="TIME",
                                    help="Videos: instead of --segments, summarise windows of this length (seconds, "
                                         "m:ss or h:mm:ss: 60 or 1:00 for every minute) from --start (or 0) to the "
                                         "end, in <name>_segments.csv as --segments does (segment 1, 2, ...). The "
                                         "last window ends with the video and is usually shorter: segment_end and "
                                         "analysed_seconds say how long each is.")


def _time_segments(segments: Optional[Path], segment_every: Optional[str]) -> tuple[tuple, Optional[float]]:
    """The stretches of ``--segments``' table (:class:`fervid.inference.video.TimeSegment`), its notices said, and
    ``--segment-every`` in seconds: one of them or neither. A table that cannot be read, or both given, is a
    wrong command line (exit 2)."""
    if segments is not None and segment_every is not None:
        _fail("--segments and --segment-every: give one (a table's stretches, or windows of equal length)", 2)
    if segment_every is not None:
        every = _time_option("--segment-every", segment_every)
        if every <= 0:
            _fail(f"--segment-every {segment_every!r}: a window must last more than 0 s", 2)
        return (), every
    if segments is None:
        return (), None
    from fervid.evaluation.datasets import DatasetError
    from fervid.evaluation.segments import read_time_segments
    from fervid.evaluation.times import parse_time

    notes: list[str] = []
    try:
        time_segments = tuple(read_time_segments(segments, notes))
    except DatasetError as exc:
        hint = ""
        if not segments.exists():
            with contextlib.suppress(ValueError):  # `--segments 60`: windows of a minute were meant
                hint = f" (for windows of {parse_time(segments):g} s each, give --segment-every {segments})"
        _fail(f"{exc}{hint}", 2)
    _say_notices(notes)
    return time_segments, None


def _say_error(message: str) -> None:
    """An ``error:`` line on stderr, as one line (:func:`fervid.progress.one_line`: a file's name may hold a newline
    or a terminal's escape sequence)."""
    echo(f"error: {one_line(message)}", fg=typer.colors.RED, err=True)


# the options of the command running whose values came from the environment (`fervid serve`'s FERVID_SERVE_*),
# option -> variable: set as the command is invoked (_FervidCommand.invoke), so that its own checks' refusals name
# the variable too ("--workers must be positive" of FERVID_SERVE_WORKERS=0 named an option nobody typed)
_FROM_ENVIRONMENT: dict[str, str] = {}


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    if code == EXIT_USAGE:
        message = _said_with_environment(message)
    _say_error(message)
    raise typer.Exit(code)


def _said_with_environment(message: str) -> str:
    """``message`` with each option it names whose value came from the environment said so, once:
    "--workers (from the environment's FERVID_SERVE_WORKERS) must be positive"."""
    for option, envvar in _FROM_ENVIRONMENT.items():
        message = re.sub(rf"{re.escape(option)}(?![\w-])(?! \(from the environment)",
                         f"{option} (from the environment's {envvar})", message, count=1)
    return message


def _bad_value(exc: ValueError) -> NoReturn:
    """End the command on a setting's ValueError (exit 2), the setting named as the option a user typed:
    "sample_fps must be ..." reads "--sample-fps must be ..."."""
    _fail(re.sub(r"^(\w+) must\b", lambda m: f"--{m[1].replace('_', '-')} must", str(exc)), 2)


def _paths_from_stdin(inputs: list[str], problems: list[tuple[str, str]] | None = None) -> list[str]:
    """The inputs, '-' among them replaced by the paths on stdin, one a line (`find shoots -newer x | fervid image
    -`; a file named - is ./-), or NUL-separated where stdin holds a NUL, as `xargs -0` reads them (`find shoots
    -print0 | fervid image -`: a name may hold a line break). An image or video piped in (`cat a.jpg | fervid image
    -`) is said to be one, not read as garbled paths. A stdin that holds no path (`find` found nothing) is an input
    that failed, as an empty folder is: added to ``problems`` as (input, why) (`fervid video - </dev/null` did
    nothing and exited 0)."""
    if "-" not in inputs:
        return inputs
    if sys.stdin is None:  # closed (`<&-`): Python made it None
        _fail("-: no standard input to read the paths from (it is closed)", EXIT_USAGE)
    # bytes, made names as the system makes them (os.fsdecode): a name that is not UTF-8 is said as such, by
    # expand_inputs, rather than failing to decode
    stdin = getattr(sys.stdin, "buffer", None)
    data = stdin.read() if stdin is not None else os.fsencode(sys.stdin.read())
    media = _media_format(data)
    if media:
        _fail(f"-: stdin holds {media} data: `-` reads paths, one a line, not image or video data (save it to a file "
              "and give the file's path)", EXIT_USAGE)
    # (a line break after the last NUL is echo's or printf's, not a name's: `find -print0` ends its list with a NUL)
    names = (data.removesuffix(b"\n").split(b"\0") if b"\0" in data
             else [line.rstrip(b"\r") for line in data.split(b"\n")])
    read = [os.fsdecode(name) for name in names if name.strip()]
    if not read and problems is not None:
        problems.append(("-", NO_PATHS_ON_STDIN))
    return [path for given in inputs for path in (read if given == "-" else [given])]


NO_PATHS_ON_STDIN = "no paths were given on stdin (it was empty)"


def _media_format(data: bytes) -> str:
    """What an image's, a video's or a sound file's bytes are ("JPEG image", "MP4/MOV video"); "" for anything else
    (a list of paths)."""
    import io

    from PIL import Image

    from fervid.inference.images import image_signature, video_container

    container = video_container(io.BytesIO(data))
    if container:
        return f"{container} " + ("audio" if container == "M4A" else "image" if container in ("HEIF", "AVIF")
                                   else "video")
    signature = image_signature(io.BytesIO(data))
    if signature:  # (Pillow may not open a truncated one)
        return f"{signature} image"
    try:
        with Image.open(io.BytesIO(data)) as im:  # its header alone: any format Pillow reads (BMP, ...)
            return f"{im.format} image"
    except Exception:  # Pillow's plugins raise many kinds for what is not theirs: a text of paths is none of them
        return ""


def _must_exist(option: str, path) -> None:
    """A file or folder an option names is there, or the command line is wrong (exit 2), before any work."""
    if path and not Path(path).exists():
        _fail(f"{option} {path}: no such file or folder", EXIT_USAGE)


def _fail_on(exc: Exception) -> NoReturn:
    """End the command on ``exc``: exit 2 where the command line named something that is not there (a model
    name or folder), 1 for what went wrong with what it named."""
    _fail(str(exc), 2 if isinstance(exc, ModelNotFound) else 1)


# the dataset kinds whose faces the detector finds and aligns (the others are crops already), and those that are
# FER2013's faces (a CSV with a Usage column)
FACE_FINDING_KINDS = ("jaffe", "jaffe+ckplus", "photos", "video")
FER2013_KINDS = ("fer2013", "ferplus")


@contextlib.contextmanager
def _naming(target, failures: list[str]):
    """An OSError while writing ``target`` is a line naming it (a full disk fails a write, whose error names no file),
    added to ``failures`` to be said once the other outputs are tried: a full disk failed --json, and the --csv and
    --parquet after it were never tried."""
    try:
        yield
    except BrokenPipeError:  # stdout ('-') closed by its reader: not an output that failed (_FervidCommand)
        raise
    except OSError as exc:
        failures.append(_os_error_line(exc, target))


def _os_error_line(exc: OSError, where: str | Path = "") -> str:
    """``<file>: <reason>`` for an OSError writing outputs (``where`` when the error names no file); a permission
    refused says whose the file or its folder is, and its mode (:func:`fervid.ownership.explained`)."""
    exc = explained(exc)
    where = exc.filename or where
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileExistsError) and where and Path(where).is_file():  # mkdir on a file's name
        reason = "a file is in the way of this output folder"
    if exc.errno == errno.EMFILE:  # (a pipe or a socket has no file to name: what to do, then)
        reason += _open_files_limit()
    return f"{where}{': ' if where else ''}{reason}"


def _open_files_limit() -> str:
    """What a process that ran out of open files is allowed (`prlimit --nofile=16 fervid batch ...` said only "error:
    Too many open files")."""
    try:
        import resource
    except ImportError:  # Windows
        return ""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return f" (this process may have {soft} open at once, `ulimit -n`: raise the limit and run it again)"


def _dominant_text(track: dict) -> str:
    """A track's most common emotion in words, and how much of it the model was unsure of: "mostly happy (61%),
    uncertain in 4% of frames" where it held most of the time seen, "most often fear (28%), ..." where none did
    ("mostly" at 28% overstated it). "mostly neutral" alone read as sure of a track a third of whose frames were
    flagged uncertain. The web page words it so too (app.js, ``dominantText``)."""
    emotion = track["dominant_emotion"]
    share = track["emotion_share"][emotion]
    return (f"{'mostly' if share > 0.5 else 'most often'} {emotion} ({share:.0%}), uncertain in "
            f"{track['uncertain_share']:.0%} of frames")


def _run_speed(result, key_frames: bool = True) -> str:
    """How fast a video was analysed: "120 frames analysed at 206 fps; 1.2 s in all, 3.4x real time", or "65 of 390
    frames in 7.4 s (9 fps) and 10.5 s more writing its timelines and key frames: 17.9 s, 0.5x real time", the writing said apart where it took a second or more (0.3-0.5 s a track: a
    call of 14 faces sat at its last frame for 4 s, unsaid, after "28 fps"). The real-time ratio is the whole run's
    (``result.realtime_factor``): over the analysis alone, "1.7x real time" was said of a run slower than the
    video."""
    frames = (f"{result.frames_analysed}" if result.frames_analysed == result.frames_read
              else f"{result.frames_analysed} of {result.frames_read}")
    fps = result.frames_analysed / max(result.seconds, 1e-9)
    elapsed, real_time = result.run_seconds, result.realtime_factor
    saving = elapsed - result.seconds
    if saving < 1.0:  # the rate is the analysis's, the seconds the whole run's: said as such ("206 fps in 1.2 s" read
        # as 247 frames)
        return f"{frames} frames analysed at {fps:.0f} fps; {elapsed:.1f} s in all, {real_time:.1f}x real time"
    return (f"{frames} frames in {result.seconds:.1f} s ({fps:.0f} fps) and {saving:.1f} s more writing its timelines"
            f"{' and key frames' if key_frames else ''}: {elapsed:.1f} s, {real_time:.1f}x real time")


def _video_notices(result, name: str, out: Path, detector=None, said: set[str] | None = None) -> list[str]:
    """:func:`fervid.apps.video_notices.video_notices` as lines to print, the temporal window's once a run: not if
    in ``said``, which it is added to."""
    notices = video_notices(result, name, out, detector)
    window = notices.get("window")
    if window is not None and said is not None:
        if window in said:
            del notices["window"]
        said.add(window)
    return list(notices.values())


def _images_given_as_videos(images: list[Path]) -> str:
    """One line for several still images given to `fervid video` (a pattern of a video's frames, ``"seq/*.png"``,
    failed once per frame): what they are, and the command of the ffmpeg binary fervid runs that joins them into one
    video, at 25 frames a second, where they are one numbered sequence (frame_0001.png, ...) or share a folder and an
    extension."""
    import imageio_ffmpeg

    folders, suffixes = {p.parent for p in images}, {p.suffix for p in images}
    matched = [re.fullmatch(r"(.*?)(\d+)(\.[^.]+)", p.name) for p in images]
    numbered = [m for m in matched if m is not None]
    joined = ""
    if len(folders) == 1 and len(suffixes) == 1:
        (folder,), (suffix,) = folders, suffixes
        if len(numbered) == len(matched) and len({(m.group(1), len(m.group(2))) for m in numbered}) == 1:
            first = min(int(m.group(2)) for m in numbered)
            source = ["-start_number", str(first), "-i",
                      str(folder / f"{numbered[0].group(1)}%0{len(numbered[0].group(2))}d{suffix}")]
        else:  # (the glob pattern type is not in every ffmpeg build: Windows' lack it)
            source = ["-pattern_type", "glob", "-i", str(folder / f"*{suffix}")]
        video = folder.with_suffix(".mp4") if folder.name else folder / "frames.mp4"
        joined = shlex.join([imageio_ffmpeg.get_ffmpeg_exe(), "-framerate", "25", *source, "-vf",
                             "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video)])
    return (f"{len(images)} images, not videos ({images[0]}, ...): `fervid image` analyses them one by one" + (
        f"; to analyse them as one video's frames, join them first (at 25 frames a second: change -framerate to "
        f"theirs): {joined}" if joined else "; to analyse them as one video's frames, join them into a video "
                                            "first (ffmpeg -framerate 25 -i ...)"))


def _say_notices(notices: list[str]) -> None:
    """What was left out of the inputs without being an error, on stderr (also with --quiet)."""
    for notice in notices:
        echo(f"notice: {one_line(notice)}", fg=typer.colors.YELLOW, err=True)


def _refuse_too_long(errors: list[Optional[OSError]], inputs: str) -> None:
    """End the command before anything is analysed where an output would be past the longest path Windows opens
    there (errors of ``fervid.machine.path_too_long``; None: one that fits): the first few said, then how many more
    ``inputs``' outputs are too long."""
    errors = [error for error in errors if error is not None]
    for error in errors[:3]:
        _say_error(str(error))
    if len(errors) > 3:
        _say_error(f"{len(errors) - 3} more {inputs}' outputs would not fit either")
    if errors:
        raise typer.Exit(EXIT_FAILED)


def _image_outputs_too_long(stems: dict[Path, str], annotate_dir: Optional[Path], crops_dir: Optional[Path],
                            results_files: dict[str, Optional[str]]) -> list[Optional[OSError]]:
    """Where Windows limits paths (fervid.machine.long_paths_limited): the errors of `fervid image`'s outputs that
    would not fit as they are written, under their temporary names (annotate.replacing): the results files, and
    each image's annotated copy and crops (of up to 999 faces), named by its stem."""
    from fervid.inference.annotate import temporary_name
    from fervid.inference.images import ANNOTATED_IMAGE_SUFFIX, crop_name
    from fervid.machine import long_paths_limited, path_too_long

    if not long_paths_limited():
        return []
    errors: list[Optional[OSError]] = [
        path_too_long(Path(target).parent, temporary_name(Path(target).name), Path(target).name,
                      f"the {option} file's temporary file", f"folder for {option}", f"the {option} file")
        for option, target in results_files.items() if target and target != "-"]
    for folder, option, output, longest in (
            (annotate_dir, "--annotate", "its annotated copy's", lambda stem: f"{stem}{ANNOTATED_IMAGE_SUFFIX}"),
            (crops_dir, "--crops", "its 999th face crop's", lambda stem: crop_name(stem, 999))):
        if folder is not None:
            errors += [path_too_long(folder, temporary_name(longest(stem)), f"{stem}_*", f"{output} temporary file",
                                     option, "the image") for stem in stems.values()]
    return errors


def _check_output_folder(folder: Path) -> None:
    """Make ``folder`` and check it can be written to, before the work whose results go there."""
    folder.mkdir(parents=True, exist_ok=True)  # an OSError here is told in one line by main()
    if not os.access(folder, os.W_OK):
        whose = why_denied(folder)
        _fail(f"{folder}: cannot write in this folder{f' ({whose})' if whose else ''}")


def _folders_to_make(out: Optional[Path]) -> list[Path]:
    """The folders that writing into ``out`` will make (it and the parents not there yet), deepest first: what
    :func:`_remove_empty` takes away again when nothing was written."""
    return [folder for folder in (out, *out.parents) if not folder.exists()] if out else []


def _remove_empty(made: list[Path]) -> None:
    """Output folders this command made for outputs it never wrote: not left behind, empty (deepest first)."""
    for folder in made:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _hold_output_folder(ctx: typer.Context, out: Path, command: str, stem: Optional[str] = None) -> None:
    """Make ``out`` and hold its lock until the command ends (another run into it exits 75, naming the folder and
    its pid: two evaluations at once mixed their files), then settle what a run killed writing into it left there
    (:func:`~fervid.inference.set_aside.recover_staged_outputs`: the earlier outputs it had set aside were left
    hidden for ever). The folders made for it are taken away again where nothing was written. ``stem``: the lock
    is that of the outputs named by it alone (``<stem>.*`` and ``<stem>_*``; ``.<stem>.lock``), for a folder
    other runs' outputs share (`fervid experiment`'s default --out holds every experiment's: two different ones
    into it both go on, as two videos into one folder do)."""
    from fervid.folder_lock import LOCK_FILE, FolderLocked, run_folder_lock
    from fervid.inference.set_aside import recover_staged_outputs

    made = _folders_to_make(out)
    ctx.call_on_close(lambda: _remove_empty(made))  # (after the lock's release: its file is gone)
    _check_output_folder(out)
    writing = f"{stem}.* and {stem}_*" if stem else "its outputs"
    try:
        ctx.with_resource(run_folder_lock(out, f"another fervid {command} run", "wait for it to finish, or give "
                                          "another --out", doing=f"is writing {writing} into this folder",
                                          name=f".{stem}.lock" if stem else LOCK_FILE))
    except FolderLocked as exc:
        _fail(str(exc), EXIT_BUSY)
    # (what runs killed in it left, whichever outputs: those of a run still going are left to it, by their own lock)
    recover_staged_outputs(out)


def _model_record(model: str, file_name: str) -> dict:
    """A record a model folder (shipped or exported) keeps beside its weights, ``file_name``: training_config.json
    (the run settings it was trained with), training_summary.json (what the run did: the checkpoint exported) or
    calibration.json (what its temperature was fitted on); {} where none."""
    from fervid.inference.models import ModelError, resolve_model_dir

    try:
        record = resolve_model_dir(model) / file_name
        return json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
    except (OSError, ValueError, ModelError):  # a model that is not there is reported where it is loaded
        return {}


def _is_or_overlaps(data: str, recorded: str) -> bool:
    """Whether the folder or label table ``data`` is ``recorded`` (a model's training, validation or calibration
    data), or a folder inside it or holding it."""
    here, there = Path(data).resolve(), Path(recorded).resolve()
    return here == there or here.is_dir() and there.is_dir() and (there in here.parents or here in there.parents)


# the label sets FER2013's faces are scored by, as a notice names them
_FER2013_LABEL_NAMES = {"fer2013": "FER2013's labels", "ferplus": "FER+'s labels"}


def _not_held_out(trained: dict, summary: dict, calibration: dict, dataset: str, data: str, usage: str) -> list[str]:
    """What the faces of ``data`` did in the making of a model that was not trained on them, as its records say
    (its training_config.json, training_summary.json and calibration.json; [] where they say nothing of these
    faces): chose its best epoch (val_data, or the FER2013 Usage val_usage, where the export took the best epoch's
    checkpoint) or had its temperature fitted on them (a calibration whose temperature was applied), with the
    labels they are scored by here: FER2013's faces by FER2013's labels (``dataset`` fer2013) or by FER+'s
    (ferplus). Its accuracy and calibration on them read better than on faces never used; by the other label set
    they need not (ferplus_vgg's temperature, fitted with FER+'s labels, reads worse by FER2013's)."""
    fer2013 = dataset in FER2013_KINDS
    labels = _FER2013_LABEL_NAMES.get(dataset, "")
    # the validation faces only pick the epoch exported (training reads them for nothing else): a model exported
    # from its last epoch (ferplus_vgg) was not chosen on them. A folder without the record took best.pt (export's
    # default)
    chosen_on_validation = summary.get("exported_checkpoint", "best.pt") == "best.pt"
    said = []
    if not chosen_on_validation:
        trained = {}
    # the labels the epoch was chosen by (train's val_labels; "auto", or a record without it: the training labels')
    val_labels = trained.get("val_labels", "auto")
    if val_labels == "auto":
        val_labels = "fer2013" if trained.get("labels", "fer2013") == "fer2013" or trained.get("val_data") else \
            "ferplus"
    if fer2013 and trained.get("data_kind", "fer2013") != "folder" and not trained.get("val_data") \
            and trained.get("val_usage") == usage and val_labels == dataset:
        said.append(f"the model's best epoch was chosen on FER2013's {usage} faces with {labels} (val_usage and "
                    "val_labels in its training_config.json)")
    elif not fer2013 and trained.get("val_data") and _is_or_overlaps(data, trained["val_data"]):
        said.append(f"the model's best epoch was chosen on {trained['val_data']} (val_data in its "
                    "training_config.json)")
    if calibration.get("applied") is True:
        settings = calibration.get("settings") or {}
        # `fervid calibrate` records its data and a CSV's Usage; the shipped models' records name the dataset only
        kind, _, recorded_usage = str(calibration.get("dataset", "")).partition(":")
        fitted_usage = settings.get("usage") or (recorded_usage if not settings and kind in FER2013_KINDS else "")
        if fer2013 and fitted_usage == usage and kind == dataset:  # (its dataset: "fer2013:..." or "ferplus:...")
            said.append(f"its temperature was fitted on FER2013's {usage} faces with {labels} (calibration.json)")
        elif not fer2013 and not fitted_usage and settings.get("data") and _is_or_overlaps(data, settings["data"]):
            said.append(f"its temperature was fitted on {settings['data']} (calibration.json)")
    return said


def _evaluated_on_training_faces(trained: dict, dataset: str, data: str, usage: str) -> str:
    """Why an evaluation of ``data`` scores a model on faces it was trained on ("" when it does not, or the model
    does not say what it was trained on): FER2013's training Usage for a model trained on FER2013, or the folder
    (or one inside it, or one holding it) a model was taught."""
    if not trained:
        return ""
    if dataset in FER2013_KINDS and trained.get("data_kind", "fer2013") != "folder":
        trained_usages = str(trained.get("train_usage", "Training")).split("+")
        if usage in trained_usages:
            return f"the model was trained on FER2013's {usage} faces"
        return ""
    if dataset in ("folder", "photos", "ckplus", "jaffe", "jaffe+ckplus") and trained.get("data"):
        # (a label table's place says nothing of where its images are: its images are compared by content)
        if _is_or_overlaps(data, trained["data"]):
            return f"the model was trained on {trained['data']}, and {data} is or overlaps that folder"
    return ""


def _training_copies(trained: dict, dataset) -> str:
    """Why an evaluation scores a model on faces it was trained on although the data is not its training folder
    ("" when it does not): images byte-identical to those in the folder it was taught (a copy of that folder, or
    of some of its files, under other names)."""
    from fervid.evaluation.datasets import copies_in, is_labelled_images

    folder = trained.get("data")  # a folder, or a label table
    if not folder or not is_labelled_images(folder) or not dataset.sources:
        return ""
    copies = copies_in(dataset.sources, folder)
    if not copies:
        return ""
    return (f"{len(copies)} of the {len(dataset)} images are byte-identical copies of images in {folder}, which the "
            f"model was trained on (e.g. {copies[0]})")


def _left_out_lines(dataset, most: int = 10, listed_in: str = "metrics.json with --out") -> list[str]:
    """How many images were seen, scored and left out, and why, in images (a folder left out counts what it
    holds: two folders of 17 photos and two photos read "left out 4 file(s) or folder(s)"), so a score is not
    read as covering inputs it skipped."""
    if not dataset.left_out:
        return []
    from fervid.evaluation.datasets import left_out_reasons

    totals = dataset.totals()
    return [f"{totals['images_seen']} image(s) seen: {totals['scored']} scored, {totals['left_out']} left out "
            f"(each listed in {listed_in}):", *left_out_reasons(dataset, most)]


def _region(text: Optional[str]) -> Optional[tuple[float, float, float, float]]:
    """--region's X,Y,W,H as four numbers (None: not given); anything else ends the command (exit 2)."""
    if text is None:
        return None
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        _fail(f"--region {text!r}: four numbers x,y,width,height (pixels, or fractions of the frame: "
              "1000,500,280,220 or 0.75,0.6,0.25,0.4)", 2)
    x, y, width, height = values
    return x, y, width, height


def _time_option(option: str, text: str) -> float:
    """A time option's seconds, from seconds, m:ss or h:mm:ss (as `fervid evaluate`'s annotations take them); a
    text that is none ends the command (exit 2)."""
    from fervid.evaluation.times import parse_time

    try:
        return parse_time(text)
    except ValueError:
        _fail(f"{option} {text!r}: not a time (seconds, m:ss or h:mm:ss, the seconds and minutes of a clock time "
              "0-59)", 2)


def _time_range(start: Optional[str], end: Optional[str]) -> tuple[float, Optional[float]]:
    """--start and --end in seconds (:func:`_time_option`); a time that is not one, or an end not after the start,
    ends the command (exit 2)."""
    seconds: dict[str, float | None] = {}
    for option, text in (("--start", start), ("--end", end)):
        seconds[option] = value = _time_option(option, text) if text is not None else None
        if value is not None and value < 0:
            _fail(f"{option} {text!r}: before the recording's start", 2)
    if seconds["--end"] is not None and seconds["--end"] <= (seconds["--start"] or 0.0):
        _fail(f"--end {end} ({seconds['--end']:g} s) must come after --start {start or 0} "
              f"({seconds['--start'] or 0.0:g} s)", 2)
    return seconds["--start"] or 0.0, seconds["--end"]


def _pipeline(**choices) -> PipelineOptions:
    """The command line's choices as one options object; a bad value ends the command (exit 2). ``method`` None
    (--method not given) is the options' default."""
    if choices.get("method", "") is None:
        del choices["method"]
    try:
        return PipelineOptions(**choices)
    except ValueError as exc:
        _bad_value(exc)


class _FramesBar:
    """A progress bar of a video's frames (:func:`fervid.progress.progress_bar`), moved by :meth:`progress`, the
    ``progress(frames_done, frames_total)`` callback of :meth:`fervid.inference.video.VideoAnalyzer.run` (its total
    is known once the video is open). It starts with the first frame read: a file that is no video (`fervid video
    "shots/*.png"`, still images) printed a "0frame" bar line each before its error."""

    def __init__(self, description: str, **options):
        self.description, self.options = description, options
        self.bar: tqdm | None = None

    def progress(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = progress_bar(desc=self.description, unit="frame", total=total or None, **self.options)
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _frames_bar(description: str, **options) -> tuple[_FramesBar, object]:
    """A video's :class:`_FramesBar`, and the callback that moves it."""
    bar = _FramesBar(description, **options)
    return bar, bar.progress


def _video_runner(options: PipelineOptions, analyzer=None, named_method: str | None = None, **video_changes):
    """The video pipeline every command uses (on ``analyzer`` where the command has one already): a bad model,
    detector or temporal model ends the command with one line. Where the CNN has no LSTM of its own, the default
    method falls back to the moving average with a notice, and a ``named_method`` (--method) it cannot run is
    refused."""
    from fervid.inference.video import VideoAnalyzer

    try:
        runner = VideoAnalyzer(analyzer or _analyzer(options), options.video(**video_changes), naming="flags")
    except ModelError as exc:
        _fail_on(exc)
    except ValueError as exc:  # a video setting of its own (--frames-memory-mb)
        _bad_value(exc)
    if named_method and runner.temporal.name != named_method:
        # a method the user named is what their study reports: running another would be a flag that does nothing
        _fail(f"--method {named_method}: {(runner.notice or '').split(';')[0]} (train one with `fervid train-temporal "
              "--model ...` and pass it as --temporal-model, or choose --method mean, hmm or frame)", 2)
    _say_notices([notice for notice in (runner.notice, runner.graph_notice) if notice])
    return runner


def _analyzer(options: PipelineOptions, **kwargs):
    """The Analyzer every command uses; a bad model or detector ends the command with a one-line error."""
    from fervid.inference.detect import DetectorUnavailable

    try:
        return options.analyzer(**kwargs)
    except (ModelError, DetectorUnavailable) as exc:
        _fail_on(exc)
    except (KeyError, ValueError) as exc:
        _fail(str(exc.args[0]), 2)


def _training_module(name: str):
    """The training module ``name``, or a one-line error saying how to install torch (not in fervid's inference
    install): checked after the command line's paths, so that a missing file is said as for every command."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        _fail(f"training needs torch: pip install 'fervid[train]' ({exc})", 2)


def _typed(ctx: typer.Context, name: str) -> bool:
    """Whether the option ``name`` was given on the command line, not left at its default (by the source's name:
    Typer 0.24 and later carry their own copy of Click's ParameterSource)."""
    return getattr(ctx.get_parameter_source(name), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")


def _typed_options(ctx: typer.Context) -> set[str]:
    """The options given on the command line, not left at their defaults."""
    return {name for name in ctx.params if _typed(ctx, name)}


def _refuse_typed(ctx: typer.Context, names: tuple[str, ...], why: str) -> None:
    """Options typed that would do nothing here are refused (exit 2), the first named as it was typed
    (``--no-open``), followed by ``why``: a flag that is ignored is a result the user did not ask for."""
    typed = _typed_options(ctx)
    given = [name for name in names if name in typed]
    if given:
        param = next(param for param in ctx.command.params if param.name == given[0])
        flag = param.secondary_opts[0] if param.secondary_opts and not ctx.params[given[0]] else param.opts[0]
        _fail(f"{flag} {why}", 2)


# the options that name a folder to write into: every command's --out that is a path, image's --annotate and
# --crops, serve's and live's --data-dir
FOLDER_OPTIONS = ("out", "annotate_dir", "crops_dir", "data_dir")


def _refuse_dash_for_folder(ctx: typer.Context) -> None:
    """'-' given to a folder option is refused (exit 2): it made a folder named '-', where --json - writes to
    stdout. (A str is compared too: typer before 0.29 kept the text typed, not the Path, in ctx.params.)"""
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name in FOLDER_OPTIONS and isinstance(value, (Path, str)) and str(value) == "-":
            _fail(f"{param.opts[0]} -: '-' means standard output, which a folder option cannot be (a folder named "
                  "'-': give its full path)", EXIT_USAGE)


def _refuse_window_for_frame(ctx: typer.Context, method: Optional[str]) -> None:
    """--window with --method frame: that method labels each frame from that frame alone (the tracks JSON records
    window null), so the window typed would be ignored."""
    if method == "frame":
        _refuse_typed(ctx, ("window",), "is the seconds of frames a temporal method (lstm, mean, hmm) looks at; "
                                        "--method frame labels each frame from that frame alone")


def _seed_option(default: Optional[int], help: str):
    """--seed, as train, train-temporal and experiment take it: numpy's range, 0 to 2**32 - 1, so that a seed it
    cannot take is refused naming --seed (exit 2) before any data is loaded."""
    return typer.Option(default, min=0, max=SEED_MAX, help=help)


@app.command()
def image(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(..., help="Image files, folders (searched recursively) or glob patterns; '-': "
                                                "the paths on stdin, one a line (or NUL-separated, as `find -print0` "
                                                "writes them)."),
    json_out: Optional[str] = typer.Option(None, "--json", help="Write results as JSON to FILE, or '-' for stdout."),
    csv_out: Optional[str] = typer.Option(None, "--csv", help="Write one row per face to this CSV FILE, or '-' for "
                                                              "stdout."),
    parquet_out: Optional[str] = typer.Option(None, "--parquet", metavar="PATH",
                                              help="Write the CSV's rows, typed, to this Parquet FILE, or '-' for "
                                                   "stdout (a pipe or a file, not a terminal)."),
    annotate_dir: Optional[Path] = typer.Option(None, "--annotate",
                                                help="Write annotated copies (boxes, labels, bars) here."),
    crops_dir: Optional[Path] = typer.Option(None, "--crops",
                                             help="Write each face's aligned 48x48 grey crop (what the CNN reads) "
                                                  "here as PNG: <image stem>_face<N>.png, faces numbered from 1 from "
                                                  "the left (a column from the top); images of one name in different "
                                                  "folders carry the folder that tells them apart, as --annotate's "
                                                  "copies do (happy/a.jpg, sad/a.jpg: happy_a_face1.png, "
                                                  "sad_a_face1.png). Sorted into <emotion>/ folders "
                                                  "they are the face crops `fervid evaluate`, `calibrate` and `train` "
                                                  "read."),
    model: str = MODEL_OPTION,
    detector: str = DETECTOR_OPTION,
    score_threshold: Optional[float] = THRESHOLD_OPTION,
    min_face: float = MIN_FACE_OPTION,
    max_faces: Optional[int] = IMAGE_MAX_FACES_OPTION,
    precision: str = PRECISION_OPTION,
    face_crops: bool = typer.Option(_DEFAULTS.face_crops, "--face-crops",
                                    help="The images are face crops already (one face filling each, as FER2013's "
                                         "48x48 faces or --crops' output): classify each whole image as one face, "
                                         "as `fervid evaluate --data` reads a folder of crops, with no detection "
                                         "(its box is the whole image; no landmarks, an empty detection score)."),
    landmarks: bool = LANDMARKS_OPTION,
    quiet: bool = _quiet_option("the results sent to stdout (--json -, --csv - or --parquet -), and the files the "
                                "output options name, are written as ever; refused without an output option, as it "
                                "would do nothing"),
) -> None:
    """Find every face in images and name its emotion (the expression shown, not a felt emotion).

    JSON: {"model", "precision", "temperature", "detector", "score_threshold", "min_face", "max_faces", ...,
    "face_crops", "files": [{"file", "ok", "width", "height", "faces": [{"box": {x, y, width, height}, "landmarks",
    "detection_score", "emotion", "confidence", "uncertain", "probabilities": {7 emotions}}], "error": null or why}],
    "failed": N}. CSV and
    Parquet: one row per face, numbered from 1 (a row with an empty face column for an image with no face or an
    error). --crops: each face's aligned crop, for `fervid evaluate/calibrate/train --data` (sort them into
    <emotion>/ folders first).
    """
    from fervid.apps.batch import OUTPUT_FOLDER_ERRNOS
    from fervid.errors import held_open_error
    from fervid.folder_lock import VIDEO_OUTPUTS, FolderLocked
    from fervid.inference.annotate import UNCERTAIN_MARK, annotate, face_label, replacing, write_image
    from fervid.inference.images import (ANNOTATED_IMAGE_SUFFIX, ANNOTATED_SOURCE_KEY, EarlierOutputs, crop_name,
                                        enlarged_to_annotate, expand_inputs, failure_message, load_image,
                                        more_frames_notice, names_clear_of_earlier_runs, output_stems,
                                        outputs_in_the_way, photo_lock_folders, photo_outputs_lock,
                                        recorded_source, source_id, stem_not_taken)
    from fervid.inference.records import ImageResult, images_document
    from fervid.inference.set_aside import unlink_retrying

    # detection's options do nothing to images read whole: refused, not ignored
    detecting = [option for option in ("detector", "score_threshold", "min_face", "max_faces")
                 if option in _typed_options(ctx)]
    if face_crops and detecting:
        _fail(f"--{detecting[0].replace('_', '-')} is for finding faces; --face-crops reads each image whole as one "
              "face, finding none", 2)
    results_files = {"--json": json_out, "--csv": csv_out, "--parquet": parquet_out}
    if quiet and not any([*results_files.values(), annotate_dir, crops_dir]):  # it would analyse, and say nothing
        _fail("--quiet prints no results: give --json, --csv, --parquet, --annotate or --crops to have them written",
              EXIT_USAGE)
    for option, target in results_files.items():
        _check_results_file(option, target)
    to_stdout = _results_to_stdout(results_files)

    notices: list[str] = []
    from_stdin: list[tuple[str, str]] = []  # '-' with nothing on stdin
    # not what this run writes: `fervid image shots --crops shots/crops`, run again, read its crops back as photos
    files, problems = expand_inputs(_paths_from_stdin(paths, from_stdin), notices=notices,
                                    output_folders={"--crops": crops_dir, "--annotate": annotate_dir})
    problems = from_stdin + problems
    stems = output_stems(files)  # photos/day1/IMG_1.jpg and photos/day2/IMG_1.jpg: day1_IMG_1, day2_IMG_1
    # an image written here before keeps its outputs' name (they are replaced); one whose name another image's
    # outputs carry from an earlier run gets another, said below
    earlier = EarlierOutputs(annotate_dir, crops_dir)
    renamed = names_clear_of_earlier_runs(files, stems, earlier)
    # (one folder where --annotate and --crops are the same: "in ann and ann" said it twice)
    written_to = " and ".join(dict.fromkeys(str(folder) for folder in (annotate_dir, crops_dir) if folder))
    another_images = "another image's outputs, from an earlier run"
    def named_apart(path: Path, was: str, stem: str, what: str) -> str:
        return f"{path}: its outputs are named {stem} (in {written_to}, {was} names {what})"

    notices += [named_apart(path, was, stem, earlier.kept.get(was.lower(), another_images))
                for path, was, stem in renamed[:3]]
    if len(renamed) > 3:
        notices.append(f"{len(renamed) - 3} more image(s) named apart from earlier runs' images of their names")
    _say_notices(notices)
    _refuse_too_long(_image_outputs_too_long(stems, annotate_dir, crops_dir, results_files), "images")
    results: list[ImageResult] = [ImageResult(source=item, error=f"{item}: {why}") for item, why in problems]
    # your own files, read from disk: up to images.MAX_PIXELS (250 MP), not the API's 50 MP for uploads
    options = _pipeline(model=model, detector=detector, score_threshold=score_threshold, min_face=min_face,
                        max_faces=max_faces, precision=precision, face_crops=face_crops,
                        max_image_pixels=MAX_PIXELS, landmarks=landmarks)
    analyzer = _analyzer(options)
    # what made the results, as recorded (in the Parquet file's metadata too, whose table never has landmarks)
    settings = {**analyzer.settings, "landmarks": options.landmarks}
    for folder in (annotate_dir, crops_dir):  # else every image would fail, one by one, after its analysis
        if folder:
            _check_output_folder(folder)
    kinds = [(one, many) for one, many, folder in (("annotated copy", "annotated copies", annotate_dir),
                                                   ("crops", "crops", crops_dir)) if folder]
    pictures, pictures_of_many = " and ".join(one for one, _ in kinds), " and ".join(many for _, many in kinds)
    lock_folders = photo_lock_folders(annotate_dir, crops_dir)

    def write_pictures(path: Path, img, result: ImageResult, stem: str, source: dict[str, str]) -> None:
        """``path``'s annotated copy and face crops, named ``stem``, recording ``source`` (its lock held)."""
        if annotate_dir:
            write_image(annotate_dir / f"{stem}{ANNOTATED_IMAGE_SUFFIX}",
                        annotate(*enlarged_to_annotate(img, result.faces)), text=source)
        if crops_dir:  # lossless: a crop scores as the face it was cut from
            # this image's crops from an earlier run go first: rerun with fewer faces (--max-faces 1), its
            # _face2.._face5 were left to be sorted and scored as faces of their own
            for stale in earlier.crops.get(source[ANNOTATED_SOURCE_KEY], []):
                if recorded_source(stale) == source[ANNOTATED_SOURCE_KEY]:
                    try:  # (tried again while Windows' scanner or indexer holds it a moment)
                        unlink_retrying(stale)
                    except FileNotFoundError:
                        pass
                    except OSError as exc:  # (open in an image viewer, on Windows: said so)
                        raise held_open_error(exc, stale) from None
            for n, face in enumerate(result.faces, 1):
                assert face.crop is not None  # (the analyzer keeps every face's crop)
                write_image(crops_dir / crop_name(stem, n), face.crop, text=source)

    unwritten: list[str] = []  # the outputs that could not be written, each said by name at the end
    pictures_stopped_at: Optional[Path] = None  # the image whose pictures found the output folder full or read-only
    bar = progress_bar(files, show=not quiet and len(files) > 1, unit="image")
    more_frames: list[str] = []  # animated images and multi-page TIFFs, of which the first frame was analysed
    named_apart_since: list[str] = []  # images named apart from outputs written under their names during the run
    for path in bar:
        bar.set_postfix_str(one_line(path.name[-30:]))
        try:
            img = load_image(path, max_pixels=options.max_image_pixels)
            result = analyzer.analyze_bgr(img, source=str(path))  # read whole where options.face_crops
            more_frames.append(more_frames_notice(path))
        except Exception as exc:  # one bad file must not stop the batch: record it and go on
            result = ImageResult(str(path), error=failure_message(path, exc))
        results.append(result)
        if not result.ok or not pictures or pictures_stopped_at:
            continue
        # apart from the analysis: a picture that could not be written (a full disk) threw the image's faces away,
        # recorded "ok": false with none
        try:
            source = {ANNOTATED_SOURCE_KEY: source_id(path)}  # which image an output is of, for later runs
            # outputs another run wrote under this image's name since it was chosen are kept, as a video's are
            # (outputs_lock): this image's named apart, as names_clear_of_earlier_runs names them. The name is
            # asked and written under its lock, as a video's (photo_outputs_lock): another run that found it free
            # at the same moment wrote over them
            tried: set[str] | None = None  # the names not to take, gathered only where one is in the way (a set of
            # every image's stem built for each image made a 10,000-image run quadratic)
            while True:
                try:
                    with photo_outputs_lock(stems[path], lock_folders):
                        in_the_way = outputs_in_the_way(stems[path], source[ANNOTATED_SOURCE_KEY], annotate_dir,
                                                        crops_dir, len(result.faces))
                        if in_the_way is None:
                            write_pictures(path, img, result, stems[path], source)
                            break
                        in_the_way += ", written during this run"
                except FolderLocked as held:  # held past the wait (another run's, for longer), or a video's
                    in_the_way = ("outputs a fervid video analysis is writing" if held.holder_kind == VIDEO_OUTPUTS
                                  else "outputs another fervid run is writing")
                if tried is None:
                    tried = {stem.lower() for other, stem in stems.items() if other != path} | set(earlier.kept) | {
                        stem for stem, owners in earlier.owners.items() if owners - {source[ANNOTATED_SOURCE_KEY]}}
                was = stems[path]
                tried.add(was.lower())
                stems[path] = stem_not_taken(path, was, tried)
                named_apart_since.append(named_apart(path, was, stems[path], in_the_way))
        except OSError as exc:
            unwritten.append(f"{_os_error_line(exc, annotate_dir or crops_dir or '')} (writing {path}'s {pictures})")
            # the folder's, not the image's: every later picture would fail alike, one error line each (as `fervid
            # video` and `fervid batch` stop); the images are still analysed, their faces kept in the results
            if exc.errno in OUTPUT_FOLDER_ERRNOS:
                pictures_stopped_at = path
        except Exception as exc:  # (an image OpenCV cannot encode)
            unwritten.append(f"{path}: {pictures} not written: {str(exc) or type(exc).__name__}")
    if pictures_stopped_at and (left := files[files.index(pictures_stopped_at) + 1:]):
        unwritten.append(f"no {pictures_of_many} written for the {len(left)} image(s) after it, as the folder could "
                         f"not be written either (their faces are in the results): "
                         f"{in_a_sentence(list(map(str, left)))}")

    failed = [r for r in results if not r.ok]
    doc = images_document(results, analyzer.settings, landmarks=options.landmarks)
    # each results file tried, whichever failed before it (a full disk, one open in Excel): the others may be
    # elsewhere, or stdout
    results_written: list[str] = []  # said where another output failed: which of them this run did write
    if json_out == "-":
        send_to_stdout(json_bytes(doc) + b"\n")
    elif json_out:
        with _naming(json_out, unwritten):
            Path(json_out).parent.mkdir(parents=True, exist_ok=True)
            with replacing(json_out) as temporary:
                write_json(temporary, doc)
            results_written.append(json_out)
    if csv_out:
        with _naming(csv_out, unwritten):
            _write_csv(results, csv_out)
            results_written.append(csv_out)
    if parquet_out:
        with _naming(parquet_out, unwritten):
            _write_parquet(results, parquet_out, settings)
            results_written.append(parquet_out)
    if not quiet:
        out = sys.stderr if to_stdout else sys.stdout
        for r in results:
            if r.ok:
                summary = (", ".join(face_label(f.emotion, f.confidence, f.uncertain) for f in r.faces)
                           or "no face found")
                print(f"{one_line(r.source)}: {len(r.faces)} face(s): {summary}", file=out)
        if any(f.uncertain for r in results for f in r.faces):  # what the mark means, once
            print(f'"{UNCERTAIN_MARK}": an uncertain face (its confidence under the model\'s threshold)', file=out)
        n_faces = sum(len(r.faces) for r in results)
        print(f"{len(results) - len(failed)} image(s) analysed, {n_faces} face(s), {len(failed)} failed", file=out)
    _say_notices(named_apart_since)
    more_frames = [line for line in more_frames if line]
    _say_notices(more_frames[:3] + ([f"{len(more_frames) - 3} more animated or multi-page images: frame 1 of each "
                                     "analysed"] if len(more_frames) > 3 else []))
    if not options.face_crops:
        _say_notices(_face_crops_notice(results, analyzer.detector))
    crowded = [r for r in results if len(r.faces) > 1] if crops_dir else []
    if crowded and crops_dir:  # sorted into an emotion folder as the README says, every face would carry the
        # photo's label
        stem = stems[Path(crowded[0].source)]
        _say_notices([f"{len(crowded)} image(s) held several faces, and each face's crop was written (e.g. "
                      f"{crops_dir / crop_name(stem, 1)} to _face{len(crowded[0].faces)}.png): sorted into an "
                      "emotion folder, each would be taught or scored as that emotion; keep the one the label is "
                      "about, or crop the largest face only with --max-faces 1"])
    for r in failed:
        _say_error(r.error or "")  # (a failed image's error says why)
    for line in unwritten:
        _say_error(line)
    if unwritten and (files_written := [target for target in results_written if target != "-"]):
        _say_notices([f"{in_a_sentence(files_written)} {'was' if len(files_written) == 1 else 'were'} written all "
                      "the same"])
    if failed or unwritten:
        raise typer.Exit(1)


def _face_crops_notice(results, detector) -> list[str]:
    """Where small images (those ``detector`` looks at enlarged) had no face found: they may be face crops
    (FER2013's 48x48 faces), which the detector misses or crops again inside the picture, and --face-crops reads
    whole (a folder of 400 FER2013 faces: no face in 61 of them, exit 0 and not a word)."""
    from fervid.inference.detect import SMALL_IMAGE_SIDE

    side = getattr(detector, "small_image_side", min(SMALL_IMAGE_SIDE.values()))  # (a detector of one's own)
    small = [r for r in results if r.ok and min(r.width, r.height) < side]
    faceless = [r for r in small if not r.faces]
    if not faceless:
        return []
    return [f"{len(faceless)} of the {len(small)} image(s) under {side} px had no face found (e.g. "
            f"{faceless[0].source}): if they are face crops already (a face filling each, as FER2013's), "
            "--face-crops classifies each whole image as one face, as `fervid evaluate --data` reads a folder of "
            "crops"]


# the extensions each of `fervid image`'s results files may have: its format's own, then others it is commonly
# given (CSV text as .txt, which spreadsheets import as CSV; Parquet's short names). Not .jsonl: the JSON is one
# document, not a line per record, and not .tsv: the CSV is comma-separated
RESULTS_EXTENSIONS = {"--json": (".json",), "--csv": (".csv", ".txt"), "--parquet": (".parquet", ".pq", ".parq")}


def _extension(path: Path) -> str:
    """``path``'s extension, lower case: its last suffix, or "" where that is a version or a number (results.v1.2,
    results.v2, faces.2024-05-01: digits, dots and dashes, after a "v" or not), which names no format: `--csv
    results.v1.2` was refused as "not a .2 one"."""
    suffix = path.suffix.lower()
    return "" if re.fullmatch(r"\.v?[0-9][0-9._-]*", suffix) else suffix


def _check_results_file(option: str, target: Optional[str]) -> None:
    """`fervid image`'s --json/--csv/--parquet FILE, refused (exit 2) before any work where writing it would destroy
    another file or cannot make a file: an image's name (`--json a.jpg b.jpg`, the file name forgotten), any
    existing file of another kind (`--json clip.mp4`, `--csv results.json`; a .txt that is no CSV table fervid
    wrote), a folder (`--json out/`); and a new file whose extension is another format's (`--csv "my faces.xlsx"`:
    CSV text that Excel then refused to open, `--json new.csv`; :data:`RESULTS_EXTENSIONS`). A new name without an
    extension (or whose last suffix is a version: :func:`_extension`), or a device (/dev/null), is written as ever."""
    from fervid.inference.file_kinds import first_bytes
    from fervid.inference.images import HEIF_SUFFIXES, IMAGE_SUFFIXES

    if not target or target == "-":
        return
    extensions, path = RESULTS_EXTENSIONS[option], Path(target)
    own, suffix = extensions[0], _extension(path)
    expected = f"a {own}{' (or ' + ', '.join(extensions[1:]) + ')' if extensions[1:] else ''} file name"
    if target.endswith(("/", os.sep)) or path.is_dir():
        _fail(f"{option} {target}: a folder; {option} takes a file name (e.g. {path / ('results' + own)})", 2)
    # a device (/dev/null) is written as ever: only a regular file's contents could be lost
    if suffix in IMAGE_SUFFIXES | HEIF_SUFFIXES:  # a photo's name, whether this install reads it
        _fail(f"{option} {target}: expected {expected}, not an image's (the results would be written over it)", 2)
    if path.is_file() and suffix not in extensions:
        _fail(f"{option} {target}: expected {expected}: {target} exists and is not one (the results would be "
              "written over it)", 2)
    fervid_csv = (",".join(IMAGE_TABLE_COLUMNS[:2]) + ",").encode()  # how the CSV fervid writes starts
    if path.is_file() and suffix == ".txt" and not (first_bytes(path, len(fervid_csv)) or b"").startswith(fervid_csv):
        _fail(f"{option} {target}: {target} exists and is not a CSV table fervid wrote (the results would be "
              "written over it): name another file", 2)
    if not path.exists() and suffix and suffix not in extensions:
        inner = Path(path.stem).suffix  # "out.csv.gz": an extension after the right one is what is wrong
        name = (f"drop the {path.suffix} after its {inner}: name it {path.stem}" if inner.lower() in extensions else
                f"name it {path.with_suffix(own).name}")
        _fail(f"{option} {target}: expected {expected}, not a {path.suffix} one ({option} writes "
              f"{own[1:].upper() if own != '.parquet' else 'Parquet'}, which a program opening a {path.suffix} "
              f"file would not read; {name})", 2)
    _check_can_write(option, target)


def _check_can_write(option: str, target, advice: str = "") -> None:
    """Fail (exit 1) before any work where ``target``, a file or folder an option names, cannot be written: it is
    read-only, or the nearest folder of it that exists is (a read-only disk, no permission), or a file is in the
    way of its folder (`fervid image many/ --json ro/x.json` analysed every image, then failed). Nothing is made
    here, so a command refused later leaves no empty folder. ``advice``: what to do then, said after it."""
    path = Path(target)
    there = next(p for p in (path, *path.parents) if p.exists() or p == Path(path.anchor or "."))
    if there != path and not there.is_dir():
        _fail(f"{option} {target}: {there} is a file, not a folder")
    if not os.access(there, os.W_OK | (os.X_OK if there.is_dir() else 0)):
        whose = why_denied(there)
        _fail(f"{option} {target}: cannot write {'in ' if there.is_dir() else ''}{there}"
              + (f" ({whose})" if whose else "") + (f"; {advice}" if advice else ""))


def _results_to_stdout(targets: dict[str, Optional[str]]) -> bool:
    """Whether one of the results files (option: target) goes to stdout ('-'): two of them cannot (they would be one
    stream), and Parquet, binary, not to a terminal (exit 2)."""
    to_stdout = [f"{option} -" for option, target in targets.items() if target == "-"]
    if len(to_stdout) > 1:
        _fail(f"{in_a_sentence(to_stdout)}: only one of them can go to stdout", EXIT_USAGE)
    if to_stdout == ["--parquet -"] and is_terminal(sys.stdout):
        _fail("--parquet -: Parquet is binary, and stdout is a terminal; send it to a file or a pipe", EXIT_USAGE)
    return bool(to_stdout)


def _write_parquet(results, target: str, settings: dict) -> None:
    """The rows, with ``settings`` (what made them, as the JSON records it) in the file's metadata, to the file
    ``target``, or to stdout for '-' (it wrote a file named "-")."""
    import io

    from fervid.inference.annotate import replacing
    from fervid.inference.records import table_schema

    table, schema = images_table(results), table_schema(IMAGE_TABLE_COLUMNS, settings=settings)
    if target == "-":  # made whole, then sent: a Parquet file ends with its index, and a pipe cannot seek back
        made = io.BytesIO()
        table.to_parquet(made, index=False, schema=schema)
        send_to_stdout(made.getvalue())
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    with replacing(target) as temporary:
        table.to_parquet(temporary, index=False, schema=schema)


def _write_csv(results, target: str) -> None:
    """The table :func:`_write_parquet` writes (a row per face), to the file `target`, or to stdout for '-' (in
    UTF-8, as the file is)."""
    from fervid.inference.annotate import replacing
    from fervid.inference.records import images_csv

    made = images_csv(results)
    if target == "-":
        send_to_stdout(made)
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    with replacing(target) as temporary, open(temporary, "w", newline="", encoding="utf-8") as fh:
        fh.write(made)


def _outputs_in(out: Path, stem: str) -> dict[Path, tuple[int, int, int]]:
    """``stem``'s outputs in ``out`` as they stand (file, inode and modification time): what a run finds there
    before it starts, for :func:`_partial_outputs` to tell its own files from an earlier run's."""
    from fervid.inference.video import OutputNames

    if not out.is_dir():
        return {}
    found = {}
    for p in OutputNames(stem).written_before(out):
        with contextlib.suppress(OSError):  # (deleted since it was listed)
            st = p.stat()
            found[p] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


def _written_since(out: Path, stem: str, before: dict[Path, tuple[int, int, int]]) -> list[Path]:
    """``stem``'s outputs in ``out`` written by this run, ``before`` being those found as it began
    (:func:`_outputs_in`): new, or another file than was there (outputs are put in place by a rename, so their inode
    changes); a modification time within a second of the start read an earlier run's outputs, written just before,
    as this run's."""
    return [p for p, stat in _outputs_in(out, stem).items() if before.get(p) != stat]


def _less_memory(annotate: bool, frames_memory_mb: float | None = None) -> str:
    """What uses less memory, said where a video's analysis ran out of it: the options of the command (``annotate``:
    its annotated copy is on; ``frames_memory_mb``: its --frames-memory-mb, where it has one)."""
    ways = ["close other programs"]
    if annotate:
        ways.append("leave out the annotated copy (--no-annotate: its encoder's memory)")
    if frames_memory_mb is not None:
        ways.append(f"hold fewer decoded frames (--sample-fps, or --frames-memory-mb: {frames_memory_mb:g} MB at most "
                    "now)")
    return "to need less memory, " + ", or ".join(ways)


def pasteable_command(words: list[str], windows: bool = os.name == "nt") -> str:
    """``words`` as a command to paste into the user's shell: quoted for cmd.exe and PowerShell on Windows (which
    read shlex's '...' as part of the word: 'C:\\My Videos\\a.mp4' is two words there), for a POSIX shell elsewhere."""
    return subprocess.list2cmdline(words) if windows else shlex.join(words)


def argument_path(path: Path | str) -> str:
    """A path as a command's argument: one starting with "-" (a file named ``-take.mp4``) as ``./-take.mp4``, which
    no command reads as an option."""
    return os.path.join(os.curdir, str(path)) if str(path).startswith("-") else str(path)


def _partial_outputs(path: Path | str, out: Path, stem: str, before: dict[Path, tuple[int, int, int]],
                     then: str = "the same command analyses it whole, replacing them", saving: str = "stopped",
                     rest_from: bool = False) -> str:
    """What `fervid video` (or `live`) interrupted, or failed by memory, while analysing ``path`` (``before``: its
    outputs found in ``out`` as it began, :func:`_outputs_in`) left in ``out``: its outputs up to there, named
    partial (VideoResult.outputs_partial), each table and the JSON by name, and ``then`` (what to do); and the same
    video's outputs of an earlier run, kept whole beside them. ``saving``: how the saving that follows ended where
    it wrote no tracks JSON ("stopped", "failed"). The Ctrl-C can also come as the outputs of a finished analysis
    are saved: those are whole. ``rest_from`` (`fervid video`'s, whose --start seeks): also how to analyse the rest
    alone, from where it stopped, a run of its own (an hour's recording stopped at 40 min was only said to be
    analysed whole again)."""
    from fervid.inference.video import OutputNames, reached_text

    names = OutputNames(stem)
    written = _written_since(out, stem, before)
    partial = [p.name for p in written if OutputNames.is_partial(p.name)]
    if not partial:
        saved = (out / names.tracks_json).is_file() and (out / names.tracks_json) in written
        return (f"{path}'s outputs are in {out}/ " + ("(its analysis had ended: they are whole)" if saved else
                                                      f"(the saving {saving} too: no tracks JSON or timelines)"))
    named = [name for name in partial if not name.endswith(".png")]
    images = len(partial) - len(named)
    listed = ", ".join(named) + (f" and {images} timeline and key frame PNG(s) (*.partial.png)" if images else "")
    earlier = [p for p in names.written_before(out) if not OutputNames.is_partial(p.name) and p not in written]
    tracks_json = out / names.partial(names.tracks_json)
    try:
        end_reached = float(json.loads(tracks_json.read_text(encoding='utf-8'))['end_reached'])
    except (OSError, ValueError, KeyError, TypeError):  # (the saving was stopped before it: said below)
        end_reached = None
    rest = ""
    if rest_from and end_reached:
        # end_reached is the end of the last frame analysed, the next one's start (to the tables' 4 decimals, which
        # --start reads as that frame's)
        start = f"{end_reached:.4f}".rstrip("0").rstrip(".")
        command = pasteable_command(["fervid", "video", argument_path(path), "--start", start])
        rest = (f"; to analyse only the rest instead, run `{command}` with the same "
                f"settings and another --out (a run into {out}/ clears these .partial files): a run of its own, not "
                "joined to these: a face's track is split at the joint (numbered anew from 1), and labels within "
                "half a --window of it differ from a whole run's")
    return (f"{path} was analysed{'' if end_reached is None else ' up to ' + reached_text(end_reached)}, not to its "
            f"end: its outputs in {out}/ are named .partial, as they do not cover the whole video: {listed}"
            + ("" if tracks_json.name in partial else f" (the saving {saving} too: no tracks JSON)")
            + (f"; the complete outputs of an earlier run ({stem}_*, without .partial) are kept as they were"
               if earlier else "")
            + f"; {then}{rest}")


@app.command()
def video(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., help="Video files, folders (searched recursively) or glob patterns; "
                                                 "'-': the paths on stdin, one a line (or NUL-separated, as `find "
                                                 "-print0` writes them)."),
    out: Path = typer.Option(Path("fervid-video"), help="Folder for all outputs."),
    detect_every: float = DETECT_EVERY_OPTION,
    window: float = WINDOW_OPTION,
    sample_fps: Optional[float] = SAMPLE_FPS_OPTION,
    method: Optional[str] = METHOD_OPTION,
    temporal_model: Optional[str] = TEMPORAL_MODEL_OPTION,
    model: str = MODEL_OPTION,
    detector: str = DETECTOR_OPTION,
    score_threshold: Optional[float] = THRESHOLD_OPTION,
    min_face: float = MIN_FACE_OPTION,
    max_faces: Optional[int] = MAX_FACES_OPTION,
    precision: str = PRECISION_OPTION,
    annotate: bool = typer.Option(_DEFAULTS.annotate, "--annotate/--no-annotate",
                                  help="Write <name>_annotated.mp4; --no-annotate leaves it out (faster, and far "
                                       "less disk, on long or large videos)."),
    key_frames: Optional[int] = KEY_FRAMES_OPTION,
    max_video_megapixels: float = MAX_VIDEO_MEGAPIXELS_OPTION,
    frames_memory_mb: float = FRAMES_MEMORY_MB_OPTION,
    region: Optional[str] = REGION_OPTION,
    start: Optional[str] = START_OPTION,
    end: Optional[str] = END_OPTION,
    segments: Optional[Path] = SEGMENTS_OPTION,
    segment_every: Optional[str] = SEGMENT_EVERY_OPTION,
    quiet: bool = _quiet_option("the outputs are written to --out as ever; with --estimate, the estimate alone is "
                                "printed, on stdout"),
    estimate: bool = _estimate_option("(one video after another)"),
    as_json: bool = ESTIMATE_JSON_OPTION,
) -> None:
    """Track every face in videos and classify its emotion (the expression shown, not a felt one) over time.

    Per video, in OUT: <name>_annotated.mp4 (H.264, plays in browsers, with the video's sound; not with
    --no-annotate),
    <name>_frames.csv/.parquet (time, frame, track, then the face row: box, detection_score, 7 probabilities,
    emotion, confidence, uncertain, detected), <name>_tracks.json (the settings, with frames_per_window: the
    analysed frames a window holds; per track: span, seconds seen, dominant emotion, share of time per emotion (a
    row lasting until the next analysed one), mean box, changes, episodes; an absence longer than 0.5 s, 2.5
    analysed frames or --detect-every plus one analysed frame, whichever is longest, ends an episode),
    <name>_track<N>_timeline.png (on the video's time axis) and key frames (the most expressive frame of each
    emotion episode lasting 0.5 s or more: the face with a margin, small faces enlarged; with --key-frames N, of
    each track's N longest episodes only), <name>_episodes.csv (per episode: track, emotion, start, end, duration,
    peak_confidence, key_frame_time, key_frame, segment, uncertain_share; peak_confidence is its emotion's
    probability in the frames table's row at key_frame_time, uncertain_share the share of its rows flagged
    uncertain); with --segments or --segment-every, <name>_segments.csv. Interrupted
    (Ctrl-C, SIGTERM), the video in hand keeps its outputs up to there under partial names
    (<name>_frames.partial.csv, ...), and an earlier run's complete ones stay as they were.
    """
    from fervid.folder_lock import FolderLocked
    from fervid.inference.images import expand_inputs, failure_message, output_stems, stem_not_taken
    from fervid.inference.video import (VIDEO_SUFFIXES, OutputNames, StillImageError, VideoError, kept_apart_notice,
                                        output_paths_error, outputs_kept_apart, recover_killed_replacements,
                                        stems_used_before)

    _refuse_window_for_frame(ctx, method)
    _refuse_json_without_estimate(as_json, estimate)
    options = _pipeline(detect_every=detect_every, window=window, sample_fps=sample_fps, method=method, model=model,
                        detector=detector, score_threshold=score_threshold, min_face=min_face, max_faces=max_faces,
                        precision=precision, annotate=annotate, key_frames=key_frames,
                        temporal_model=temporal_model)
    start_seconds, end_seconds = _time_range(start, end)
    time_segments, every = _time_segments(segments, segment_every)
    notices: list[str] = []
    from_stdin: list[tuple[str, str]] = []  # '-' with nothing on stdin
    files, problems = expand_inputs(_paths_from_stdin(inputs, from_stdin), VIDEO_SUFFIXES, notices=notices)
    problems = from_stdin + problems
    _say_notices(notices)
    try:
        check_positive("--max-video-megapixels", max_video_megapixels)  # the options hold pixels: name the option
    except ValueError as exc:
        _bad_value(exc)
    video_bounds = dict(max_frame_pixels=int(max_video_megapixels * 1e6), frames_memory_mb=frames_memory_mb,
                        region=_region(region), start=start_seconds, end=end_seconds, segments=time_segments,
                        segment_every=every)
    if estimate:
        _estimate_videos(files, problems, out, options, video_bounds, method, quiet, as_json)
        return
    stems = output_stems(files)  # sessions/p01/cam.mp4 and sessions/p02/cam.mp4 must not overwrite each other
    if out.is_dir():  # outputs a killed run set aside are back in place (or gone) before the names are judged
        recover_killed_replacements(out)
    earlier = stems_used_before(out) if out.is_dir() else {}
    for path in files:  # a video analysed into this folder before keeps its outputs' names: they are replaced
        before = earlier.get(path.resolve())
        # compared without case, as output_stems keeps them apart (one file on macOS and Windows disks)
        if before and before.lower() not in {stem.lower() for other, stem in stems.items() if other != path}:
            stems[path] = before
    # another video's outputs there are kept (they were replaced, with a notice), and so are another user's and those
    # this user cannot read (a colleague's under `umask 077`, replaced as if the name were free): this one's get a
    # name of its own
    owners = {stem.lower(): source for source, stem in earlier.items()}
    kept = outputs_kept_apart(out) if out.is_dir() else {}
    for path in files:
        taken = {stem for stem, source in owners.items() if source != path.resolve()} | set(kept) | {
            stem.lower() for other, stem in stems.items() if other != path}
        own = stem_not_taken(path, stems[path], taken)
        if own != stems[path]:
            held = kept.get(stems[path].lower()) or f"the outputs of {owners.get(stems[path].lower(), 'another video')}"
            _say_notices([f"{path}: {kept_apart_notice(out, held, stems[path], own)}"])
            stems[path] = own
    # where Windows limits paths: the run is refused before any video is analysed (a video whose outputs did not fit
    # in --out failed mid-way, its analysis lost, the others' outputs written where a rerun with a shorter one would
    # not have them)
    _refuse_too_long([output_paths_error(out, stems[path], "--out") for path in files], "videos")
    failures = [f"{item}: {why}" for item, why in problems]
    busy: list[str] = []  # videos whose outputs another run is writing: not analysed, exit 75
    runner = _video_runner(options, named_method=method, **video_bounds)
    said: set[str] = set()  # notices of the run's settings, said once for all its videos
    analysed = 0
    stills: list[tuple[Path, str]] = []  # images given as videos: several are said once (a sequence of frames?)
    for number, path in enumerate(files, 1):
        # which of many videos this is: one bar per video said nothing of how many were left
        bar, progress = _frames_bar((f"{number}/{len(files)} " if len(files) > 1 else "") + one_line(path.name[-30:]),
                                    show=not quiet)

        found_before = _outputs_in(out, stems[path])
        try:
            # keep_others: the stem was chosen apart from other videos' outputs in --out; one written since is
            # another run's, refused (exit 75) rather than replaced
            result = runner.run(path, out, progress=progress, stem=stems[path], keep_others=True)
        except FolderLocked as exc:  # another run is writing this video's outputs there (OutputsBusy)
            bar.close()
            busy.append(str(exc))
            continue
        except KeyboardInterrupt:
            bar.close()
            left = files[files.index(path) + 1:]
            echo(f"\ninterrupted: {_partial_outputs(path, out, stems[path], found_before, rest_from=True)}"
                        + (f"; not analysed ({len(left)}): {', '.join(map(str, left))} (`fervid batch` on a corpus "
                           "keeps what is done and goes on where it stopped when run again)" if left else ""),
                        fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(_interrupted_status())
        except StillImageError as exc:
            bar.close()
            stills.append((path, str(exc)))
            continue
        except VideoError as exc:
            bar.close()
            failures.append(str(exc))
            continue
        except OSError as exc:  # the output folder: full or gone. Every later video would fail the same way
            bar.close()
            failures.append(f"{_os_error_line(exc, out)} (writing {path}'s outputs)")
            left = files[files.index(path) + 1:]
            if left:
                failures.append(f"not analysed, as their outputs could not be written either: "
                                f"{', '.join(map(str, left))}")
            break
        except MemoryError as exc:  # this video's alone (a longer or larger one than the others?): the others go on
            bar.close()
            # where it ran out, then what the saving met after (drawing the timelines, whose import needs memory)
            why = "; ".join([failure_message(path, exc), *getattr(exc, "__notes__", [])])
            advice = _less_memory(annotate, frames_memory_mb)
            if any(OutputNames.is_partial(p.name) for p in _written_since(out, stems[path], found_before)):
                failures.append(f"{why}. " + _partial_outputs(path, out, stems[path], found_before, then=advice,
                                                              saving="failed"))
            else:  # (nothing of it written: memory ran out before its analysis began)
                failures.append(f"{why}; {advice}")
            continue
        except Exception as exc:  # this video's alone (a decoder's error): the others go on
            bar.close()
            failures.append(failure_message(path, exc))
            continue
        bar.close()
        analysed += 1
        if not quiet:
            echo(f"{one_line(str(path))}: {_run_speed(result, key_frames != 0)}, "
                       f"{len(result.track_ids)} track(s) by {result.analysis_text}"
                       + (f"; outputs named {result.stem}_*" if result.stem != path.stem else ""))
            for t in result.track_summaries():
                echo(f"  track {t['track']}: {t['start']:.1f}-{t['end']:.1f} s (seen {t['seen_seconds']:.1f} "
                           f"s), {_dominant_text(t)}, {len(t['changes'])} change(s)")
        _say_notices(_video_notices(result, str(path), out, runner.analyzer.detector, said))
        if result.error:
            failures.append(result.error)
    if analysed and not quiet:
        key_frame_files = "" if key_frames == 0 else " and key frames *_track<N>_<time>_<emotion>.png" + (
            f" (at most {key_frames} per track)" if key_frames else "")
        echo(f"outputs in {out}/: {'*_annotated.mp4, ' if annotate else ''}*_frames.csv/.parquet, "
                   f"*_tracks.json, *_episodes.csv{', *_segments.csv' if time_segments or every else ''}, and for "
                   f"videos with a face *_timeline.png{key_frame_files}")
    if len(stills) > 1:
        failures.append(_images_given_as_videos([path for path, _ in stills]))
    elif stills:
        failures.append(stills[0][1])
    for message in failures + busy:
        _say_error(message)
    if failures or busy:  # an input that failed is worse news than one to try again later
        raise typer.Exit(EXIT_FAILED if failures else EXIT_BUSY)


def _estimate_videos(files: list[Path], problems: list[tuple[str, str]], out: Path, options: PipelineOptions,
                     video_bounds: dict, method: Optional[str], quiet: bool, as_json: bool) -> None:
    """`fervid video --estimate`: `fervid batch --estimate`'s estimate (:func:`fervid.apps.batch.estimate_files`) of
    ``files``, each analysed as `fervid video` would (a copy too: each has outputs of its own), by the run's own
    video pipeline (its models loaded once). A file the run would fail (not there, not a video, unreadable, frames
    over --max-video-megapixels) is said, naming it, and the command exits 1, as the run would; a bad model or
    method is refused as the run refuses it. Nothing is written to ``out``: no limit of its path is checked."""
    from fervid.apps.batch import estimate_files
    from fervid.inference.images import failure_message
    from fervid.inference.video import VideoError, open_video

    runner = _video_runner(options, named_method=method, **video_bounds)
    failures = [{"file": item, "error": f"{item}: {why}"} for item, why in problems]
    videos = []
    for path in files:  # each opened and its first frame read, as the run begins it
        try:
            open_video(path, max_pixels=runner.options.max_frame_pixels,
                       limit_name="--max-video-megapixels").release()
        except VideoError as exc:  # (a still image too: StillImageError says which command reads it)
            failures.append({"file": str(path), "error": str(exc)})
            continue
        except Exception as exc:  # a decoder's error
            failures.append({"file": str(path), "error": failure_message(path, exc)})
            continue
        videos.append(path)

    def estimating() -> dict:
        found = estimate_files(videos, [], runner, options)
        return found | {"copies": [], "problems": failures + found["problems"]}

    _say_estimate(estimating, out, options.annotate, quiet, as_json, command="video")


def _refuse_json_without_estimate(as_json: bool, estimate: bool) -> None:
    """`fervid video --json` and `fervid batch --json` without --estimate: refused (exit 2), as a flag that would do
    nothing; their results are files in --out."""
    if as_json and not estimate:
        _fail("--json prints --estimate's estimate as JSON: give --estimate with it (a run's results are written to "
              "--out)", 2)


def _live_option(option):
    """A video option as `fervid live` shows it: everything it analyses is video, so its help's "Videos: " goes
    (`live --key-frames` read "Videos: keep at most N key frames ...")."""
    import copy

    shown = copy.copy(option)
    shown.help = re.sub(r"^Videos(: |, )", "", option.help)
    shown.help = shown.help[:1].upper() + shown.help[1:]
    return shown


@app.command()
def live(
    ctx: typer.Context,
    source: Optional[str] = typer.Option(None, help="Camera index (0), a video file or a stream URL (rtsp://, "
                                                    "http://), analysed here, headless. None, or 'browser': serve "
                                                    "the /live page, which uses the browser's camera."),
    out: Path = typer.Option(Path("fervid-live"), help="Headless: folder for the outputs (same as `fervid video`). "
                                                       "A camera's or stream's session is named by its start, "
                                                       "camera0_20261206-154233_*, never replacing an earlier one; a "
                                                       "file's replaces its earlier analysis, as `fervid video`'s."),
    port: int = typer.Option(app_defaults.PORT, min=1, max=65535,
                             help=f"Browser: the port to serve /live on ({app_defaults.HOST} only)."),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="Browser: open the /live page."),
    data_dir: Path = DATA_DIR_OPTION,
    job_ttl_hours: float = JOB_TTL_HOURS_OPTION,
    seconds: Optional[str] = typer.Option(None, metavar="TIME", help="Headless: stop after this much input "
                                                                   "(seconds, m:ss or h:mm:ss; inf: no limit). "
                                                                   "Ctrl-C also ends the session, its outputs "
                                                                   "written."),
    annotate: bool = typer.Option(_DEFAULTS.annotate, "--annotate/--no-annotate",
                                  help="Headless: write the annotated MP4 (--no-annotate: tables, timelines and key "
                                       "frames only)."),
    key_frames: Optional[int] = _live_option(KEY_FRAMES_OPTION),
    landmarks: bool = typer.Option(_DEFAULTS.landmarks, "--landmarks/--no-landmarks",
                                   help="Browser: give each face's 5 facial landmarks in the /live page's WebSocket "
                                        "messages; --no-landmarks: null there, its ready message saying "
                                        "\"landmarks\": false (a headless session's outputs never have them)."),
    detect_every: float = _live_option(DETECT_EVERY_OPTION),
    window: float = _live_option(WINDOW_OPTION),
    method: Optional[str] = _live_option(METHOD_OPTION),
    temporal_model: Optional[str] = _live_option(TEMPORAL_MODEL_OPTION),
    model: str = MODEL_OPTION,
    detector: str = DETECTOR_OPTION,
    score_threshold: Optional[float] = THRESHOLD_OPTION,
    min_face: float = MIN_FACE_OPTION,
    max_faces: Optional[int] = MAX_FACES_OPTION,
    precision: str = PRECISION_OPTION,
    region: Optional[str] = _live_option(REGION_OPTION),
    quiet: bool = _quiet_option("the session's outputs are written to --out as ever (a headless session only)"),
) -> None:
    """Real-time analysis: drops frames rather than falling behind, shows its fps.

    With no --source it serves http://127.0.0.1:PORT/live: the page shows your camera with each face's box,
    emotion, confidence and timeline as they are analysed, and can save the session as a video job. With --source
    it runs headless (fervid uses opencv-python-headless: no window) and writes the same outputs as `fervid video`;
    --region is for a headless session only.
    """
    from fervid.inference.stream_urls import is_stream_url, masked_source
    from fervid.inference.video import (STREAM_TIMEOUT_SECONDS, LiveSource, VideoError, missing_camera,
                                        output_paths_error, reached_text)

    _refuse_window_for_frame(ctx, method)
    if source in (None, "browser"):  # refused before the server starts: the page's session is the browser's
        _refuse_typed(ctx, ("seconds",), "is for a headless session (--source FILE, CAMERA or URL): the /live page's "
                                         "session runs until you stop it there, and the server until Ctrl-C")
        _refuse_typed(ctx, ("quiet",), "is for a headless session (--source FILE, CAMERA or URL): serving the /live "
                                       "page, fervid says only where it serves and what it runs, as `fervid serve`")
        _refuse_typed(ctx, ("out",), "is for a headless session (--source FILE, CAMERA or URL): a session the /live "
                                     "page saves is a video job, kept in the server's data folder")
        _refuse_typed(ctx, ("region",), "is for a headless session (--source FILE, CAMERA or URL); the browser's /live "
                                        "page looks for faces in the whole picture")
    else:
        _refuse_typed(ctx, ("port", "open_browser", "data_dir", "job_ttl_hours", "landmarks"),
                      "is for the browser's /live page (no --source): a headless session serves nothing and keeps no "
                      "jobs")
    options = _pipeline(detect_every=detect_every, window=window, method=method, model=model, detector=detector,
                        score_threshold=score_threshold, min_face=min_face, max_faces=max_faces, precision=precision,
                        annotate=annotate, key_frames=key_frames, temporal_model=temporal_model,
                        landmarks=landmarks)
    limit = None
    if seconds is not None:  # inf, as README has it, is no limit (the times of --start and --end are finite)
        limit = math.inf if seconds.strip().lower() in ("inf", "infinity") else _time_option("--seconds", seconds)
        if not limit > 0:
            _fail(f"--seconds must be positive, not {seconds}", 2)
    if source in (None, "browser"):
        from fervid.apps.server import ServerSettings

        try:
            settings = ServerSettings(pipeline=options, data_dir=data_dir, job_ttl_hours=job_ttl_hours)
        except ValueError as exc:
            _bad_value(exc)
        _serve(settings, app_defaults.HOST, port, page="/live", open_browser=open_browser, named_method=method)
        return
    if not source.strip():  # it became the path ".": "is a directory, not a video"
        _fail("--source is empty: give a camera index (0), a video file or a stream URL", 2)
    if not source.isdigit() and not is_stream_url(source) and not missing_camera(source):  # a video file, a device
        _must_exist("--source", source)
    # real time: each frame classified as soon as it arrives; no future frames, so the window ends at the frame
    runner = _video_runner(options, named_method=method, batch_frames=1, centred=False, region=_region(region))
    _quiet_opencv()
    # a source that is not there is the command line's to fix, as a missing file is
    if no_camera := missing_camera(source):
        _fail(no_camera, EXIT_USAGE)
    # The source is opened last: its reader thread starts at once and must not outlive a command that fails
    if is_stream_url(source) and not quiet:  # a stream that does not answer is waited on: said, not silent
        echo(f"connecting to {masked_source(source)} (waiting up to {STREAM_TIMEOUT_SECONDS:g} s) ...",
                   err=True)
    try:
        src = LiveSource(source, max_seconds=limit)
    except VideoError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while connecting: nothing was analysed, nothing written
        echo(f"\ninterrupted while opening {masked_source(source)}: nothing analysed", fg=typer.colors.YELLOW,
                    err=True)
        raise typer.Exit(_interrupted_status())
    # said once the source is open: a missing one is the one line a user sees
    if runner.temporal.name != "frame" and not quiet:
        from fervid.inference.temporal import labels_delay

        echo(f"labels are causal: each comes from the last {window:g} s, so it trails a change of expression "
                   f"by about {labels_delay(runner.temporal.name, window):g} s (measured: docs/results.md section 8; "
                   "the tracks JSON's labels_delay_seconds)", err=True)
    last_report = [0.0]
    # the speed kept up, once a second (on a terminal; in a log every fervid.progress.LOG_SECONDS), from the first
    # report on: made at the start, a log's first line was the source's name alone, and tqdm's postfix put ", "
    # after it ("clip.mp4,  27.6 fps analysed")
    bars: list[tqdm] = []

    def progress(done, total):
        if src.seconds - last_report[0] >= 1.0:
            last_report[0] = src.seconds
            if not bars:
                bars.append(progress_bar(show=not quiet, miniters=0, bar_format="{desc}"))
            bars[0].set_description_str(f"{src.name}: {src.delivered / src.seconds:.1f} fps analysed, {src.dropped} "
                                        "frames dropped", refresh=False)
            bars[0].update(0)

    import signal

    stopping: list[str] = []  # what ended the session: "Ctrl-C" or "SIGTERM"
    cut: list[str] = []  # the same, where it came with frames still to be analysed (a file not at its end)

    def stop_on_ctrl_c(signum, frame):  # Ctrl-C is how a camera session ends: a normal end, outputs and all
        stopping.append("Ctrl-C")
        src.stop()  # the reader stops now: its counts and the session's time are those of the frames analysed
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second one interrupts at once

    def stop_on_sigterm(signum, frame):  # a scheduler or `kill` ends the session as Ctrl-C does
        stopping.append("SIGTERM")
        src.stop()
        signal.signal(signal.SIGTERM, _stop_like_ctrl_c)

    def stop_asked() -> bool:  # asked before each frame is analysed: a frame still coming was cut
        if stopping and not cut:
            cut.append(stopping[0])
        return bool(stopping)

    previous = signal.signal(signal.SIGINT, stop_on_ctrl_c)
    previous_term = signal.signal(signal.SIGTERM, stop_on_sigterm)
    from fervid.folder_lock import FolderLocked
    from fervid.inference.images import failure_message

    stem = src.stem
    if not src.recorded:  # two sessions opened within one second: the second named apart, not replacing the first
        from fervid.inference.video import OutputNames

        taken = 1
        while (out / OutputNames(stem).tracks_json).exists():
            taken += 1
            stem = f"{src.stem}-{taken}"
    else:  # another user's outputs of a file's name, or unreadable ones, are kept: this session's named apart (said
        # here, before the session, as `fervid video` says it; the partial outputs of an interrupted one are named)
        from fervid.inference.video import own_stem

        stem, kept_apart = own_stem(out, stem, src.name)
        if kept_apart:
            _say_notices([f"{src.name}: {kept_apart}"])
    before = _outputs_in(out, stem)
    try:
        with src:
            # where Windows limits paths: refused before a frame is read (a camera's session names its outputs
            # itself: only a file's can be given a shorter name)
            _refuse_too_long([output_paths_error(out, stem, "--out", "the video" if src.is_file else "")], "videos")
            result = runner.run(src.name, out, progress=progress, frames=iter(src), fps=src.fps, total=src.total,
                                # Ctrl-C or SIGTERM is how a session ends: its outputs are whole, not cancelled
                                clock=src.clock, stop=stop_asked, stop_is_end=True, stem=stem,
                                size_changes=src.frame_size_changes, hdr=(src.cap.hdr, src.cap.tone_mapped),
                                frame_shape=src.cap.frame_shape, started_at=lambda: src.started_at)
    except FolderLocked as exc:  # another session writes this source's outputs there (OutputsBusy)
        _fail(str(exc), EXIT_BUSY)
    except VideoError as exc:  # a --region not inside the source's frames: nothing was analysed or written
        _fail(str(exc))
    except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM
        echo(f"\ninterrupted: {_partial_outputs(src.name, out, stem, before)}", fg=typer.colors.YELLOW,
                    err=True)
        raise typer.Exit(_interrupted_status())
    except MemoryError as exc:  # (ONNX Runtime's std::bad_alloc too): where, what was kept, what needs less
        why = "; ".join([failure_message(src.name, exc), *getattr(exc, "__notes__", [])])
        _fail(f"{why}. " + _partial_outputs(src.name, out, stem, before, then=_less_memory(annotate),
                                            saving="failed"))
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
        for bar in bars:
            bar.close()
    # the numbers the tracks JSON records: frames read and analysed up to the session's end (the reader stopped
    # with it), and the session's time without the saving after it
    analysed, read, elapsed = result.frames_analysed, result.frames_read, src.seconds
    if not quiet:
        echo(f"{src.name}: {analysed} frames analysed in {elapsed:.1f} s ({analysed / max(elapsed, 1e-9):.1f} "
                   f"fps), {read - analysed} of the {read} read dropped to keep up, {len(result.track_ids)} track(s); "
                   f"outputs in {out}/ ({result.stem}_*)")
    _say_notices(_video_notices(result, src.name, out, runner.analyzer.detector))
    if result.error:
        _fail(result.error)
    if cut and src.recorded:  # a recording has an end of its own: one cut short is not done (a camera's or live
        # stream's session has none, and Ctrl-C or SIGTERM is how it ends: exit 0)
        echo(f"interrupted ({cut[0]}): {src.name} was analysed up to {reached_text(result.duration)}, not to its end; "
                    f"the outputs up to there are in {out}/ ({result.stem}_*)", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(143 if cut[0] == "SIGTERM" else 130)


def _bytes_text(size: float) -> str:
    """A size on disk as people read it: "870 kB", "12 MB", "3.4 GB" (decimal units, as file managers say them)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}" if size < 10 * scale else f"{size / scale:,.0f} {unit}"
    return f"{size:.0f} bytes"


def _say_estimate(estimating: Callable[[], dict], out: Path, annotate: bool, quiet: bool = False,
                  as_json: bool = False, command: str = "batch") -> None:
    """`fervid batch --estimate` and `fervid video --estimate`: the samples timed (``estimating``:
    :func:`fervid.apps.batch.estimate_batch` or :func:`~fervid.apps.batch.estimate_files` called), and the run's
    estimated time and its videos' outputs' size on disk (on stdout: the command's result, printed with --quiet
    too), as text or (``as_json``) the estimate's dict itself, as one JSON object. ``command``: "batch" (files,
    videos and images; with one worker) or "video" (videos, one after another)."""
    if not quiet:
        echo("timing samples with these settings ...", err=True)
    try:
        found = estimating()
    except KeyboardInterrupt:
        echo("\ninterrupted: nothing estimated, nothing written", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(_interrupted_status())
    for problem in found["problems"]:
        _say_error(problem["error"])
    if as_json:
        send_to_stdout(json_bytes(found) + b"\n")
    else:
        _say_estimate_text(found, out, annotate, command)
    if found["problems"]:  # as a run's inputs that cannot be read: they would fail it
        raise typer.Exit(EXIT_FAILED)


def _duration_text(seconds: float) -> str:
    """A run's time as the estimate says it: "12 min 05 s", "3 h 07 min"."""
    total = round(seconds)
    if total >= 3600:
        return f"{total // 3600} h {total % 3600 // 60:02d} min"
    return f"{total // 60} min {total % 60:02d} s"


def _say_estimate_text(found: dict, out: Path, annotate: bool, command: str) -> None:
    """The estimate (:func:`fervid.apps.batch.estimate_files`' dict) as `--estimate` prints it without --json."""
    hours, rest = divmod(round(found["video_seconds"]), 3600)
    length = f"{hours} h {rest // 60:02d} min {rest % 60:02d} s of video by their files"
    if found["analysed_seconds"] != found["video_seconds"]:  # --start or --end: a stretch of each
        analysed_hours, analysed_rest = divmod(round(found["analysed_seconds"]), 3600)
        length += (f" ({analysed_hours} h {analysed_rest // 60:02d} min {analysed_rest % 60:02d} s of it from "
                   "--start to --end)")
    echo(f"{found['files']} file(s): {found['videos']} video(s), {length}, and {found['images']} image(s)"
         if command == "batch" else f"{found['videos']} video(s), {length}")
    if found["copies"]:
        echo(f"  {len(found['copies'])} copy(ies) of another file's content, analysed once, not counted: "
             + "; ".join(found["copies"][:5]) + (" ..." if len(found["copies"]) > 5 else ""))
    for sample in found["samples"]:
        stretches = sample["stretches"]
        spread = (f" in {len(stretches)} stretches, from " + ", ".join(f"{first:g}" for first, _ in stretches)
                  + " s" if len(stretches) > 1 else "")
        echo(f"  {sample['file']} ({sample['width']}x{sample['height']}): {sample['seconds_analysed']:g} s "
                   f"analysed{spread} at {sample['real_time']:g}x real time")
    if found["seconds_per_image"] is not None:
        echo(f"  images: {found['seconds_per_image']:g} s each")
    if found["unknown_length"]:
        echo(f"  {len(found['unknown_length'])} video(s) whose files give no length are not counted: "
                   + ", ".join(found["unknown_length"][:5]) + (" ..." if len(found["unknown_length"]) > 5 else ""))
    disk = found["disk_bytes"]
    if found["samples"]:
        from fervid.inference.video import ANNOTATED_CRF

        parts = [f"{_bytes_text(disk['annotated'])} of annotated MP4s (x264 CRF {ANNOTATED_CRF})"
                 if annotate else None,
                 f"{_bytes_text(disk['key_frames'])} of key frames (about {round(disk['key_frames_count']):,} PNGs)",
                 f"{_bytes_text(disk['tables'])} of tables",
                 f"{_bytes_text(disk['other'])} of tracks JSONs and timelines"]
        echo(f"disk: about {_bytes_text(disk['total'])} "
             f"for the videos' outputs: {', '.join(p for p in parts if p)} (the samples' outputs per second of "
             "video, by the sample nearest in frame size, times the length of each video analysed)")
    if found["no_face_in_samples"]:  # (the frames with a face cost the CNN, and make the key frames)
        sampled = sum(sample["seconds_analysed"] for sample in found["samples"])
        echo(f"no face in the {sampled:g} s sampled: disk and time may be far off", fg=typer.colors.YELLOW)
    low, high = found["estimated_seconds_range"]
    how = " with one worker" if command == "batch" else ", one video after another,"
    sampling = found["sampling"]
    busy = (f"; the machine was busy while sampling: the sample got {sampling['core_share']:.0%} of a core's time; "
            f"on an idle machine it would take about {_duration_text(sampling['idle_estimated_seconds'])}"
            if sampling["busy"] else "")
    echo(f"estimated: about {_duration_text(found['estimated_seconds'])}{how} on this {found['cpu']} (the samples' "
         f"faces and sizes stand for the rest: expect it to be off by a fifth or more: {_duration_text(low)} to "
         f"{_duration_text(high)}){busy}; nothing was written to {out}")


def _quiet_opencv() -> None:
    """OpenCV's own warnings ("can't open camera by index", "Stream timeout triggered") left off: `fervid live`
    says itself, by source, what failed. OPENCV_LOG_LEVEL set in the environment is kept."""
    import cv2

    if "OPENCV_LOG_LEVEL" not in os.environ:
        # the call is cv2.utils.logging.setLogLevel from OpenCV 4.13, cv2.setLogLevel before (4.8-4.12); 0: silent
        getattr(cv2.utils, "logging", cv2).setLogLevel(0)


@app.command()
def demo(
    out: Path = typer.Option(Path("fervid-demo"), help="Folder for the outputs."),
    video: bool = typer.Option(True, help="Also analyse the carphone sample video (where it is installed)."),
    model: str = MODEL_OPTION,
    detector: str = DETECTOR_OPTION,
) -> None:
    """Analyse the samples that ship inside fervid: the public-domain astronaut photo (annotated PNG + JSON) and
    the carphone clip (annotated MP4, per-frame table, track JSON, episodes table, timeline, key frames). Where the
    clip is not installed (a distribution may leave it out: its terms are not stated), the video part is skipped,
    said in one line."""
    from fervid.folder_lock import FolderLocked
    from fervid.inference.annotate import annotate, face_label, replacing, write_image
    from fervid.inference.images import (ANNOTATED_IMAGE_SUFFIX, ANNOTATED_SOURCE_KEY, not_this_users,
                                        outputs_in_the_way, photo_outputs_lock, source_id, stem_not_taken)
    from fervid.inference.records import images_document
    from fervid.inference.video import output_paths_error
    from fervid.samples import CARPHONE_FILE, astronaut

    clip_installed = CARPHONE_FILE.is_file()
    # where Windows limits paths: refused before anything is written (the sample's name is fervid's)
    if video and clip_installed:
        _refuse_too_long([output_paths_error(out, CARPHONE_FILE.stem, "--out", "", under="carphone")], "videos")
    out.mkdir(parents=True, exist_ok=True)
    bgr = astronaut()[:, :, ::-1]
    options = _pipeline(model=model, detector=detector)
    analyzer = _analyzer(options)
    # the photo's three files (its copy, annotated copy and JSON) replace only this user's outputs of the demo's
    # photo, as `fervid image` replaces its outputs (another user's, ones this user cannot read, and another image's
    # are kept, the photo's named apart), under the same lock: a colleague's astronaut_fervid.png in a folder a group
    # shares was replaced without a word
    stem, tried = "astronaut", {"astronaut"}
    while True:
        sample, results_json = out / f"{stem}.png", out / f"{stem}.json"
        annotated = out / f"{stem}{ANNOTATED_IMAGE_SUFFIX}"
        try:
            with photo_outputs_lock(stem, [out]):
                source = source_id(sample)
                in_the_way = (not_this_users(sample) or not_this_users(results_json)
                              or outputs_in_the_way(stem, source, out, None, 0))
                if in_the_way is None:
                    write_image(sample, bgr)
                    faces = analyzer.analyze_image(sample)
                    write_image(annotated, annotate(bgr.copy(), faces), text={ANNOTATED_SOURCE_KEY: source})
                    doc = images_document([faces], analyzer.settings)
                    with replacing(results_json) as temporary:  # as every output: whole, or not at all
                        write_json(temporary, doc)
                    break
        except FolderLocked:  # held past the wait (another run's outputs of that name, for longer), or a video's
            in_the_way = "outputs another fervid run is writing"
        was, stem = stem, stem_not_taken(sample, "astronaut", tried)
        tried.add(stem.lower())
        _say_notices([f"{out}/ holds {in_the_way} named {was}*, which are kept; the astronaut photo's are named "
                      f"{stem}*"])
    echo("astronaut photo:")
    for f in faces:
        probs = ", ".join(f"{k} {v:.2f}" for k, v in f.emotion_probabilities.items())
        echo(f"  face at {tuple(round(v) for v in f.box)}: {face_label(f.emotion, None, f.uncertain)} ({probs})")
    echo(f"  {len(faces)} face(s); wrote {annotated} and {results_json}")
    if not video:
        return
    if not clip_installed:
        echo(f"carphone video: skipped, the sample clip is not installed ({CARPHONE_FILE})")
        return
    from fervid.inference.video import OutputNames, VideoError

    clip = CARPHONE_FILE
    try:
        result = _video_runner(options, analyzer).run(clip, out / "carphone")
    except VideoError as exc:  # an installed clip that cannot be read: said with its file's name, not a traceback
        _fail(str(exc))
    if result.kept_apart:  # another user's outputs under its name there are kept, as `fervid video` keeps them
        _say_notices([f"{clip.name}: {result.kept_apart}"])
    echo(f"carphone video: {_run_speed(result)}")
    for t in result.track_summaries():
        echo(f"  track {t['track']}: {t['start']:.1f}-{t['end']:.1f} s, {_dominant_text(t)}")
    folder, names = out / "carphone", OutputNames(result.stem)
    echo(f"  annotated video: {folder / names.annotated}\n  timeline: {folder / names.timeline(1)}\n"
               f"  per-frame table: {folder / names.frames_csv} (.parquet)\n  tracks: {folder / names.tracks_json}\n"
               f"  episodes: {folder / names.episodes_csv}\n"
               f"  key frames: {folder}/{result.stem}_track*_*s_*.png")


@app.command()
def train(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, help="TOML training config (see configs/; configs/paper_cnn.toml: "
                                                     "the published design's network, [net] batch_norm = false). "
                                                     "For a quick trial run, limit_train = N and limit_val = N there "
                                                     "train and choose the epoch on N faces each, drawn at random "
                                                     "(seeded), each emotion keeping its share."),
    out: Optional[Path] = typer.Option(None, help="Run folder: checkpoints, metrics, logs (default: runs/<the config "
                                                  "file's name>; without one, runs/<the --data folder's or label "
                                                  "table's name>, or runs/fer2013_vgg for FER2013's CSV). One "
                                                  "run at a time: another training there is refused (exit 75)."),
    data: Optional[str] = typer.Option(None, help="FER2013 CSV (.csv or .csv.gz), or your own labelled face crops: "
                                                  "a folder (<emotion>/<image>) or a label table (path,label), as "
                                                  "evaluate reads them (the best epoch is chosen on the config's "
                                                  "val_data, or on 20% of them held out; with the FER2013 CSV, on "
                                                  "val_data where given, else PublicTest); overrides the config."),
    epochs: Optional[int] = typer.Option(None, help="Override the config's epochs."),
    seed: Optional[int] = _seed_option(None, "Override the config's seed."),
    resume: bool = typer.Option(False, help="Continue from OUT/last.pt with the run's own config (OUT/config.json; "
                                            "a --config given must be the same)."),
    labels: Optional[str] = typer.Option(
        None, help="Targets: fer2013 (FER2013's labels), ferplus (FER+ majority vote), ferplus-soft (FER+ vote "
                   "distribution blended with FER2013's label, see ferplus_weight) or ferplus-multi (every emotion "
                   "with enough votes); overrides the config. The best epoch is chosen on the same labels unless "
                   "the config's val_labels says otherwise."),
    ferplus: Optional[str] = typer.Option(None, help="FER+ votes file (fer2013new.csv); overrides the config."),
    quiet: bool = _quiet_option("no per-epoch lines either; the checkpoints and metrics still go to --out"),
) -> None:
    """Train the VGG-style CNN on FER2013 Training, selecting its best epoch on PublicTest or on the config's
    val_data (or on your own labelled faces, folders or a label table, selecting on held-out ones; FER2013 and your
    faces together: fine-tune a trained model on yours, init_from = "ferplus_vgg"). Also runs under torchrun
    (DistributedDataParallel; gloo on CPU, nccl on GPUs), e.g. torchrun --nproc_per_node 4 -m fervid.apps.cli train ...
     (needs the train extra: pip install "fervid[train]")."""
    for flag, given in (("--data", data), ("--ferplus", ferplus), ("--config", config)):  # the command line's paths
        _must_exist(flag, given)
    if config is not None and config.is_dir():  # it said "no such config file" of a folder that is there
        _fail(f"--config {config}: a folder; --config takes a TOML file (configs/*.toml)", EXIT_USAGE)
    from fervid.evaluation.datasets import is_label_table

    training = _training_module("fervid.training.train")
    DataChanged, NothingToResume, TrainConfig = training.DataChanged, training.NothingToResume, training.TrainConfig
    ConfigChanged, NoRunToResume = training.ConfigChanged, training.NoRunToResume
    check_starting_network, run_training = training.check_starting_network, training.train
    overrides = {"data": data, "epochs": epochs, "seed": seed, "labels": labels, "ferplus_csv": ferplus}
    # named after the config (every config trained into runs/fer2013_vgg, the second refused or resumed as the first),
    # or after the faces' folder: runs/fer2013_vgg exported as models/fer2013_vgg was taken for the shipped model
    out = out or Path("runs") / (config.stem if config is not None else Path(data).resolve().name
                                 if data and Path(data).is_dir() else Path(data).stem
                                 if data and is_label_table(data) else "fer2013_vgg")
    run_config = out / "config.json"
    try:
        if config is not None:
            cfg = TrainConfig.from_toml(config, **overrides)
        elif resume and run_config.is_file():  # the run's own config: what it started with
            saved = json.loads(run_config.read_text(encoding="utf-8"))
            cfg = TrainConfig.from_dict(saved | {k: v for k, v in overrides.items() if v is not None})
        else:
            cfg = TrainConfig.from_dict({k: v for k, v in overrides.items() if v is not None})
        check_starting_network(cfg)  # the config's mistake: said before the data is loaded or a folder is made
    except (ValueError, TypeError) as exc:  # a TOML syntax error is a ValueError too
        # a bad value given on the command line is the flag's, not the config file's (it was blamed on the file)
        message = str(exc)
        key = re.split(r"[\s:.]", message, maxsplit=1)[0]
        flags = {"data": "--data", "epochs": "--epochs", "seed": "--seed", "labels": "--labels",
                 "ferplus_csv": "--ferplus"}
        if key in flags and overrides.get(key) is not None:  # "labels must be ..." reads "--labels must be ..."
            _fail(flags[key] + message[len(key):] if message[len(key):].startswith(" ") else f"{flags[key]}: {message}",
                  2)
        _fail(f"{config or 'options'}: {message}", 2)
    from fervid.evaluation.datasets import DatasetError
    from fervid.folder_lock import FolderLocked

    # for the model card: the command as typed, which the run folder records (each --resume's after the run's own)
    command = shlex.join(["fervid", "train", *ctx.meta[COMMAND_LINE]])
    try:
        run_dir = run_training(cfg, out, resume=resume, progress=not quiet, command=command)
    except FolderLocked as exc:  # another fervid train runs in --out: the two were mixed into one folder
        _fail(str(exc), EXIT_BUSY)
    except NothingToResume as exc:  # a finished run: said, not trained again (nor "training on ...")
        echo(str(exc), fg=typer.colors.YELLOW if quiet else None, err=quiet)
        run_dir = out
    except (DataChanged, ConfigChanged, NoRunToResume, FileExistsError) as exc:  # --resume asked of data or settings
        # no longer the run's, or of a folder with nothing to resume; an --out holding another run (--resume
        # forgotten) or a model: the command line's to change
        _fail(str(exc), 2)
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        relative = [p for p in (cfg.data, cfg.val_data, cfg.ferplus_csv, cfg.init_from, *cfg.teachers)
                    if p and not Path(p).is_absolute() and not Path(p).exists() and p in str(exc)
                    and p not in available_models()]
        # a config run from another folder: its relative paths name nothing there
        _fail(str(exc) + (f" (relative paths in a config are read from the folder fervid runs in, {Path.cwd()}; "
                          "run it from the folder they are relative to, or make them absolute)" if relative else ""))
    except KeyboardInterrupt:  # it ended with no word on what was kept
        kept = (out / "last.pt").is_file()
        echo("\ninterrupted: " + (f"the last finished epoch is kept in {out / 'last.pt'}; the same command "
                                          "with --resume goes on from there" if kept else
                                          "no epoch had finished, so nothing is kept; start it again"),
                    fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(_interrupted_status())
    if quiet or not (run_dir / "summary.json").is_file():  # a non-zero rank under torchrun: rank 0 reports
        return
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    from fervid.evaluation.evaluate import selection_faces

    echo(f"best accuracy on {selection_faces(cfg.to_dict(), summary)} {summary['best_val_acc']:.4f}; checkpoints in "
               f"{run_dir}")


@app.command("train-temporal")
def train_temporal_cmd(
    out: Optional[Path] = typer.Option(None, help="Temporal model folder to write (default: runs/temporal_lstm_<CNN>; "
                                                  "shipped ones live in src/fervid/weights/temporal_lstm_<CNN>). One "
                                                  "run at a time: another training there is refused (exit 75)."),
    fer2013: Optional[str] = typer.Option(None, "--data", "--fer2013",
                                          help="Your FER2013 CSV (.csv/.csv.gz): the stills clips are simulated "
                                               "from (needed unless --still-clips 0)."),
    ckplus: str = typer.Option("", help="Your CK+48 folder: its people's expression changes join the clips "
                                        "(default: none)."),
    jaffe: str = typer.Option("", help="Your JAFFE folder: its people's expression changes join the clips "
                                       "(default: none)."),
    cnn: str = typer.Option(DEFAULT_MODEL, "--model", "--cnn", callback=_say_cnn_folder_not_used,
                            help="Emotion CNN whose features the LSTM reads: a shipped name or a model folder."),
    ferplus: Optional[str] = typer.Option(None, help="FER+ votes (fer2013new.csv): label the stills by FER+'s "
                                                     "majority, as for a CNN trained on FER+ (default: FER2013's)."),
    still_clips: int = typer.Option(3000, help="Clips of FER2013 Training stills (1.5 s each); 0: none, the "
                                               "--ckplus/--jaffe people's clips only (the published design's data)."),
    person_clips: int = typer.Option(30, help="Clips per training person (4 s each)."),
    heldout_clips: int = typer.Option(10, help="Clips per validation person (temperature and report)."),
    frames: int = typer.Option(17, help="Most frames the LSTM reads (odd: the frame it labels is the middle one)."),
    epochs: int = typer.Option(30, help="Training epochs (each as many windows as the clips have frames / 8)."),
    seed: int = _seed_option(0, "Seed of the simulated clips and the LSTM's initial weights."),
    force: bool = typer.Option(False, "--force", help="Replace the temporal model OUT already holds (without it, "
                                                      "a folder that holds one is refused)."),
    quiet: bool = _quiet_option("the JSON report still goes to stdout, and the model to --out"),
) -> None:
    """Train the temporal LSTM on CNN features of simulated clips: FER2013 stills and CK+/JAFFE people's expression
    changes, people split train/val/test (--still-clips 0: the people's alone, the published design's data; needs
    the train extra).

    stdout holds one JSON document: {"temperature", "heldout": per held-out kind of clips, their number and each
    method's scores, "notices", "files": the files written}; progress, epochs and notices go to stderr."""
    from fervid.evaluation.datasets import DatasetError

    if still_clips > 0 and fer2013 is None:
        _fail(f"--still-clips {still_clips} needs --data, the FER2013 CSV the stills come from (or --still-clips 0: "
              "the --ckplus/--jaffe people's clips only)", 2)
    if still_clips == 0:  # no stills: the published design's data, CK+ and JAFFE people only
        for option, given in (("--data", fer2013), ("--ferplus", ferplus)):  # unused, yet recorded as if used
            if given:
                _fail(f"{option} is for the stills' clips, and --still-clips 0 makes none: leave it out", 2)
        if not (ckplus or jaffe) or person_clips == 0:
            _fail("--still-clips 0 leaves the LSTM the people's clips only: give --ckplus and/or --jaffe, with "
                  "--person-clips above 0", 2)
    for option, given in (("--data", fer2013), ("--ckplus", ckplus), ("--jaffe", jaffe), ("--ferplus", ferplus)):
        _must_exist(option, given)
    # named after the CNN's folder: --model x/model.onnx is the model x (runs/temporal_lstm_model.onnx named none)
    out = out or Path("runs") / f"temporal_lstm_{(model_folder_of_file(cnn) or Path(cnn)).name}"
    _check_can_write("--out", out)  # written after the training: said now, not after it
    training = _training_module("fervid.training.train_temporal")
    TemporalTrainConfig, train_temporal = training.TemporalTrainConfig, training.train_temporal
    try:
        cfg = TemporalTrainConfig(fer2013=fer2013 or "", ckplus=ckplus, jaffe=jaffe, cnn=cnn, ferplus=ferplus or "",
                                  still_clips=still_clips, person_clips=person_clips, heldout_clips=heldout_clips,
                                  frames=frames, epochs=epochs, seed=seed)
    except ValueError as exc:
        _bad_value(exc)
    try:  # --ferplus missing for the CNN's labels, or given for a CNN of FER2013's: said before FER2013 is read
        training.check_same_labels(cfg)
    except ModelError as exc:
        _fail_on(exc)
    except DatasetError as exc:
        _fail(str(exc), 2)
    # for its model card: every setting spelled out, defaults too, so that it reruns as it ran under a later fervid
    # (the options' names of today: the old ones still read)
    command = shlex.join(["fervid", "train-temporal", *(["--data", fer2013] if fer2013 else []),
                          *(["--ckplus", ckplus] if ckplus else []),
                          *(["--jaffe", jaffe] if jaffe else []), "--model", cnn,
                          *(["--ferplus", ferplus] if ferplus else []), "--still-clips", str(still_clips),
                          "--person-clips", str(person_clips), "--heldout-clips", str(heldout_clips), "--frames",
                          str(frames), "--epochs", str(epochs), "--seed", str(seed), "--out", str(out),
                          *(["--force"] if force else [])])
    from fervid.folder_lock import FolderLocked

    try:
        report = train_temporal(cfg, out, progress=not quiet, overwrite=force, command=command)
    except FolderLocked as exc:  # another fervid train-temporal writes --out: the two wrote over each other's files
        _fail(str(exc), EXIT_BUSY)
    except (DatasetError, ModelError) as exc:
        _fail_on(exc)
    except FileExistsError as exc:  # --out holds a CNN, a training run, other files, or a temporal model (--force)
        _fail(str(exc), 2)
    files = [str(out / name) for name in ("model.onnx", "config.json", "training.json", "MODEL_CARD.md")]
    # stdout: the report alone, for a script to read; the notices said as found (on stderr) are in it
    send_to_stdout(json_bytes({"temperature": report["temperature"], "heldout": report["heldout"],
                               "notices": report["notices"], "files": files}) + b"\n")
    if not quiet:
        echo(f"wrote {', '.join(files)}", err=True)


@app.command()
def export(
    run_dirs: list[Path] = typer.Argument(..., help="Run folder written by `fervid train`; several: an ensemble "
                                                    "(their networks' probabilities averaged in one ONNX graph), "
                                                    "where a member may also be a checkpoint file in a run folder "
                                                    "(runs/x/last_peer.pt: a mutual-learning run's peer)."),
    out: Path = typer.Option(..., help="Model folder to write (model.onnx + config.json)."),
    name: Optional[str] = typer.Option(None, help="Model name (default: the folder's name)."),
    checkpoint: Optional[str] = typer.Option(None, help="Checkpoint file inside RUN_DIR: best.pt (best epoch on the "
                                                             "run's validation set; the default) or last.pt (the "
                                                             "schedule's last epoch)."),
    features_of: Optional[str] = typer.Option(None, help="Ensemble: the CNN name whose temporal LSTM reads its "
                                                         "features (the first run's; default: that folder's name)."),
    flip_tta: bool = typer.Option(False, help="Average each face with its mirror image (2x the CNN's cost)."),
    int8: bool = typer.Option(True, help="Also write model_int8.onnx (static int8 quantization, ~1.9x faces/s "
                                         "on CPU), used by default at inference."),
    calibration_data: Optional[str] = typer.Option(
        None, help="FER2013 CSV whose Training faces, or a folder of face crops, calibrate the int8 model (default: "
                   "the run's training data)."),
    force: bool = typer.Option(False, "--force", help="Replace the emotion CNN OUT already holds (without it, a "
                                                      "folder that holds one is refused)."),
    quiet: bool = _quiet_option("the model is written to --out as ever"),
) -> None:
    """Export a trained checkpoint to ONNX, with its preprocessing config (needs the train extra:
    pip install "fervid[train]")."""
    from fervid.evaluation.datasets import DatasetError, is_labelled_images, load_fer2013, load_image_folder
    from fervid.training.export import (check_model_folder, export_ensemble, export_onnx, member_checkpoint,
                                        quantize_int8, unfinished_run_notice)
    from fervid.training.train import read_checkpoint

    single = run_dirs[0] if len(run_dirs) == 1 else None  # (an ensemble's --checkpoint is its run folders')
    if not int8 and calibration_data is not None:  # it was read by nothing
        _fail("--calibration-data calibrates the int8 model, and --no-int8 writes none; leave one out", 2)
    if single is not None and features_of is not None:  # export_onnx has no use for it: a network's are its own
        _fail("--features-of names an ensemble's CNN (several runs); one run's features are its own network's", 2)
    if single is not None and single.suffix == ".pt" and checkpoint not in (None, single.name):
        # a checkpoint named twice, differently: which one was meant is not for fervid to guess
        _fail(f"{single} names its checkpoint, and --checkpoint {checkpoint} another; give one of them", 2)
    checkpoint_named = checkpoint is not None
    checkpoint = checkpoint or "best.pt"
    model_name = name or out.resolve().name  # as export_onnx names it
    if model_name in available_models() and out.resolve() != resolve_model_dir(model_name).resolve():
        # the shipped model's LSTM and results would be taken for this one's (only its own folder may say that)
        _fail(f"--name {name}: a shipped model is called that; give your model a name of its own" if name else
              f"--out {out}: a model is named after its folder, and a shipped model is called {model_name}; give "
              "--name a name of its own, or write it into another folder", 2)
    try:  # before anything is read: a folder of other files, or a model that --force would replace
        check_model_folder(out, replace=force)
    except FileExistsError as exc:
        _fail(str(exc), 2)
    # an ensemble's int8 model is calibrated on its first run's training faces, read before anything is written
    # (a bad --calibration-data failed after the fp32 model, leaving a half-exported folder)
    run_dir, first_checkpoint = member_checkpoint(run_dirs[0], checkpoint)
    unfinished = []  # a run stopped early (interrupted) exported without a word, as if done
    for member in run_dirs:  # every checkpoint is one, before anything is read for calibration or written
        folder, ckpt = member_checkpoint(member, checkpoint)
        if not folder.is_dir():  # it was told "runs/nonexist/best.pt: no checkpoint"
            _fail(f"{folder}: no such run folder", 2)
        if not ckpt.is_file():
            held = sorted(p.name for p in folder.glob("*.pt"))
            if f"{ckpt.name}.pt" in held:  # --checkpoint best: the file's name is best.pt
                _fail(f"--checkpoint {checkpoint}: {folder} has no file {ckpt.name}; give the checkpoint's file name, "
                      f"{ckpt.name}.pt", 2)
            # (a checkpoint the command line named is its mistake, exit 2; the default best.pt not there yet, 1)
            _fail(f"{ckpt}: no checkpoint (train first, or pick --checkpoint"
                  + (f": {folder} holds {', '.join(held)})" if held else ")"),
                  EXIT_USAGE if checkpoint_named or member.suffix == ".pt" else EXIT_FAILED)
        try:
            epoch = read_checkpoint(ckpt).get("epoch")
        except ValueError as exc:
            _fail(str(exc))
        notice = unfinished_run_notice(ckpt, epoch)
        if notice is not None:
            unfinished.append(notice)
    calibration_faces = source = None
    _must_exist("--calibration-data", calibration_data)
    run_file = run_dir / "config.json"
    run_config = json.loads(run_file.read_text(encoding="utf-8")) if run_file.is_file() else {}
    if int8:
        source = calibration_data or run_config.get("data")
        if not source:
            _fail(f"{run_dir}: no training data recorded; pass --calibration-data (or --no-int8)")
        try:  # the faces the run trained on: FER2013 CSV rows, or a folder run's own faces
            calibration_faces = (load_image_folder(source) if is_labelled_images(source) else
                                 load_fer2013(source, run_config.get("train_usage", "Training"))).images
        except DatasetError as exc:
            _fail(f"int8 calibration: {exc}")
    try:
        if len(run_dirs) > 1:
            if flip_tta:
                _fail("--flip-tta applies to one network, not an ensemble", 2)
            folder = export_ensemble(run_dirs, out, name=name, checkpoint=checkpoint, features_of=features_of)
        else:  # runs/x/last.pt exports last.pt (only its folder was kept: it exported best.pt)
            folder = export_onnx(run_dir, out, name=name, checkpoint=first_checkpoint.name, flip_tta=flip_tta)
    except FileExistsError as exc:  # an --out that holds a training run (checked above: made meanwhile)
        _fail(str(exc), 2)
    except (FileNotFoundError, ValueError) as exc:  # no checkpoint, a file that is not one
        _fail(str(exc))
    int8_file = quantize_int8(folder, calibration_faces) if calibration_faces is not None else None  # (--int8)
    _say_notices(unfinished)
    if quiet:
        return
    echo(f"wrote {folder / 'model.onnx'} and {folder / 'config.json'}")
    if int8_file is not None:
        echo(f"wrote {int8_file} (calibrated on {source})")
    echo(_card_step(folder, run_config))


def _card_step(folder: Path, run_config: dict) -> str:
    """What to run after an export, which writes no model card: the evaluation on test faces that writes it (with
    the training command to record where `fervid train` recorded none in the run)."""
    if run_config.get("data_kind") == "folder" or not run_config.get("data"):
        data = "<labelled faces of people it was not trained on>"
    else:  # FER2013's CSV: evaluate scores its PublicTest, against FER+'s labels where the run learnt those
        data = shlex.quote(str(run_config["data"]))
        if run_config.get("labels", "fer2013") != "fer2013" and run_config.get("ferplus_csv"):
            data += f" --ferplus {shlex.quote(str(run_config['ferplus_csv']))}"
    return (f"next: write its model card (card.json, MODEL_CARD.md) from its score on test faces: fervid evaluate "
            f"--model {shlex.quote(str(folder))} --data {data} --write-card"
            + ("" if (folder / "training_commands.jsonl").is_file() else " --command '<the training command>'"))


EVALUATE_MODEL_OPTION = typer.Option(
    [_DEFAULTS.model], "--model", callback=_say_cnn_folder_not_used,
    help=f"Emotion CNN: a shipped name ({' or '.join(available_models())}) or a model folder (one named as a shipped "
         "model given as a path: ./NAME). Given several times, "
         "the models are compared on the same faces: each is scored as alone (its outputs in --out/<its name>/), "
         "then side by side (accuracy and its interval, macro-F1, per-class F1) with a paired test of each two (the "
         "exact McNemar p, and a paired interval of the difference over the subjects: a t interval under 30, a "
         "bootstrap from 30), printed and written to --out as "
         "comparison.md, comparison.csv and comparison.json.")


@app.command()
def evaluate(
    ctx: typer.Context,
    data: str = typer.Option(..., help="Your copy of the dataset: FER2013 CSV, CK+48 folder, JAFFE folder, a "
                                       "folder-per-class root, or a label table (a CSV: path,label and optionally "
                                       "subject, one image a line, paths relative to its folder; read as the folders "
                                       "are); for --dataset video, your annotations table."),
    dataset: str = typer.Option("auto", help="fer2013, ferplus, ckplus, jaffe, jaffe+ckplus, folder (<emotion>/<face "
                                             "crop>, or a label table of them, resized), photos (<emotion>/<photo> "
                                             "or a label table of photos, each photo's most confident face found "
                                             "and aligned), video (a CSV of annotated "
                                             "segments: video,start,end,emotion[,track][,participant] (or subject: "
                                             "the intervals then resample the people), times in seconds or "
                                             "m:ss; each video analysed, scored per frame and per segment); auto: "
                                             "a table with start and end columns (or a first line of times) is "
                                             "video, "
                                             "a folder, or another table with path and label columns, is folder, "
                                             "another CSV fer2013."),
    model: list[str] = EVALUATE_MODEL_OPTION,
    usage: Optional[str] = typer.Option(None, help=f"FER2013/FER+ Usage to evaluate ({', '.join(FER2013_USAGES)}; "
                                                   f"default {DEFAULT_USAGE})."),
    ferplus: Optional[Path] = typer.Option(None, help="FER+ votes (fer2013new.csv): score against FER+'s majority "
                                                      "labels (--dataset ferplus, chosen by auto)."),
    jaffe: Optional[Path] = typer.Option(None, help="JAFFE folder, for --dataset jaffe+ckplus."),
    out: Optional[Path] = typer.Option(None, help="Write metrics.json, predictions.csv, report.md and confusion.png "
                                                  "here (one run at a time: another into it exits 75)."),
    write_card: bool = typer.Option(False, "--write-card", help="Also write the model folder's model card."),
    command: str = typer.Option("", help="With --write-card: the training command to record (a shell command line: "
                                         "the card gives it to paste). Default: the commands `fervid train` "
                                         "recorded in the run (the run's, then each --resume's), which `fervid "
                                         "export` copies into the model folder; a --command that is none of them "
                                         "is recorded with them listed below it, and said."),
    cross_dataset: Optional[Path] = typer.Option(None, help="With --write-card: a `benchmarks/compare_models.py "
                                                            "--json` file whose CK+ and JAFFE scores of this model "
                                                            "(the same weights, by digest) the card gives."),
    degraded_faces: Optional[Path] = typer.Option(None, help="With --write-card: a `benchmarks/degraded_faces.py "
                                                             "--json` file whose record of this model (the same "
                                                             "weights, by digest) the card's Limitations give."),
    precision: str = PRECISION_OPTION,
    detector: Optional[str] = typer.Option(None, help=f"Face detector for the kinds whose faces are found "
                                                      f"(jaffe, jaffe+ckplus, photos, video): "
                                                      f"{', '.join(DETECTORS)}; default {_DEFAULTS.detector}."),
    method: Optional[str] = METHOD_OPTION,
    window: float = WINDOW_OPTION,
    detect_every: float = DETECT_EVERY_OPTION,
    sample_fps: Optional[float] = SAMPLE_FPS_OPTION,
    temporal_model: Optional[str] = TEMPORAL_MODEL_OPTION,
    max_faces: Optional[int] = typer.Option(None, min=1, help="--dataset video: follow at most N faces (1: one "
                                            "participant per video, track 1 throughout), as `fervid video "
                                            "--max-faces`."),
    margin: float = typer.Option(0.0, help="--dataset video: seconds at each end of a segment whose frames are not "
                                           "scored (annotated boundaries are approximate, and a temporal method "
                                           "places a change of expression off by some: the default LSTM's centred "
                                           "labels do not trail (median -0.02 s), but are 0.24 s off on average, "
                                           "as on some clips it names the next expression early; docs/results.md "
                                           "section 8)."),
    results: Optional[Path] = typer.Option(None, help="--dataset video: score the labels an earlier `fervid video` "
                                                      "or `fervid batch` wrote into this folder, instead of "
                                                      "analysing the videos again (the model and settings are that "
                                                      "run's)."),
    video: Optional[Path] = typer.Option(None, help="--dataset video: the video an annotations table without a "
                                                    "video column annotates (one video's ELAN or BORIS export): "
                                                    "every line is of it. A table with a video column refuses it."),
    quiet: bool = _quiet_option("the scores are written to --out, which it needs"),
) -> None:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix of a model on a dataset, or of
    its video labels against your annotations of videos (--dataset video); of several models (--model given more
    than once), each one's and a comparison of them on the same faces."""
    from fervid.evaluation.datasets import DATASETS, FER2013_USAGES, DatasetError, is_labelled_images, load_dataset
    from fervid.evaluation.segments import looks_like_annotations

    # a file of a model's folder (--model x/model.onnx) is that folder: --write-card writes into it
    models = [str(folder) if (folder := model_folder_of_file(name)) is not None else name for name in model]
    for option, given in (("--data", data), ("--ferplus", ferplus), ("--jaffe", jaffe), ("--results", results),
                          ("--video", video)):
        _must_exist(option, given)
    if dataset == "auto":
        # annotations first: their video column may be called file or path, as a label table's image column is
        dataset = ("video" if looks_like_annotations(data) else "folder" if is_labelled_images(data) else
                   "ferplus" if ferplus else "fer2013")
    if dataset not in (*DATASETS, "video"):  # a wrong command line: exit 2, as for every other option
        _fail(f"--dataset {dataset}: not one of auto, {', '.join(DATASETS)}, video", 2)
    typed = _typed_options(ctx)
    video_only = [option for option in ("method", "window", "detect_every", "sample_fps", "temporal_model",
                                        "max_faces", "results", "margin", "video") if option in typed]
    if video_only and dataset != "video":
        _fail(f"--{video_only[0].replace('_', '-')} is for --dataset video, not {dataset}", 2)
    _refuse_window_for_frame(ctx, method)
    if usage is not None and usage not in FER2013_USAGES:
        _fail(f"--usage {usage}: not one of {', '.join(FER2013_USAGES)}", 2)
    # an option the dataset kind does not read would be ignored: a score against other labels than asked for
    for option, given, kinds in (("--ferplus", ferplus, ("ferplus",)), ("--usage", usage, FER2013_KINDS),
                                 ("--jaffe", jaffe, ("jaffe+ckplus",)),
                                 ("--detector", detector, FACE_FINDING_KINDS)):
        if given is not None and dataset not in kinds:
            _fail(f"{option} is for --dataset {' or '.join(kinds)}, not {dataset}", 2)
    # (as experiment's: a wrong command line, said before the faces are read)
    for needed, given, kind in (("--ferplus", ferplus, "ferplus"), ("--jaffe", jaffe, "jaffe+ckplus")):
        if dataset == kind and given is None:
            _fail(f"--dataset {kind} needs {needed}" + (" (FER+'s votes file, fer2013new.csv)" if kind == "ferplus"
                                                       else " (your JAFFE folder; --data is the CK+48 one)"), 2)
    if command and not write_card:
        _fail("--command is recorded in the model card: it needs --write-card", 2)
    for given, option in ((cross_dataset, "--cross-dataset"), (degraded_faces, "--degraded-faces")):
        if given is not None and not write_card:
            _fail(f"{option} is given in the model card: it needs --write-card", 2)
    if quiet and out is None:  # the scores would be neither printed nor written
        _fail("--quiet prints no scores: give --out to have them written", 2)
    if len(models) > 1:
        given_twice = next((name for name in models if models.count(name) > 1), None)
        if given_twice is not None:
            _fail(f"--model {given_twice} is given {models.count(given_twice)} times: compare different models", 2)
        if write_card:
            _fail(f"--write-card writes one model's card, and --model is given {len(models)} times: write each "
                  "card with an evaluation of its model alone", 2)
        if dataset == "video":
            _fail(f"--dataset video scores one model's video labels, and --model is given {len(models)} times: "
                  "evaluate each model's video labels alone, or compare the models on labelled faces", 2)
    if dataset == "video":
        if write_card:
            _fail("--write-card records the model's evaluation on the faces it was trained on, not on video", 2)
        if not (math.isfinite(margin) and margin >= 0):
            _fail(f"--margin must be 0 or more seconds, not {margin}", 2)
    if out:  # (the command line checked: before anything is read)
        _hold_output_folder(ctx, out, "evaluate")
    if dataset == "video":
        _evaluate_video(Path(data), video, out, results, typed, margin, quiet, model=model[0],
                        detector=detector or _DEFAULTS.detector, precision=precision, method=method,
                        window=window, detect_every=detect_every, sample_fps=sample_fps,
                        temporal_model=temporal_model, max_faces=max_faces)
        return
    # what each model was trained on (not this evaluation's data): read once, for the checks below and the card
    trained = [_model_record(name, "training_config.json") for name in models]
    training_faces = [_evaluated_on_training_faces(record, dataset, data, usage or DEFAULT_USAGE) for record in trained]
    folder_run = trained[0].get("data_kind") == "folder"
    if write_card and training_faces[0]:
        _fail(f"--write-card records the model's score on faces it was not trained on, and {training_faces[0]}", 2)
    if write_card:
        # the card is the model's test-set evaluation on its own kind of data: FER2013's test faces, or, for a model
        # taught your own folders, a folder of other faces
        if dataset not in (("folder", "photos") if folder_run else FER2013_KINDS):
            _fail(f"--write-card records the model's evaluation on the kind of faces it was trained on (--dataset "
                  f"{'folder or photos' if folder_run else 'fer2013 or ferplus'}), not on {dataset}", 2)
        if is_shipped_name(models[0]) or not Path(models[0]).is_dir():
            _fail(f"--write-card writes into the model's folder, and {models[0]} is not one: copy a shipped model's "
                  "folder and give the copy's path (a folder named as a shipped model: ./<name>)", 2)
    usage = usage or DEFAULT_USAGE
    # each model as named: x/model.onnx runs the float graph under --precision auto, as `fervid image` runs it;
    # but a card records the graph the folder runs by default (write_model_card), as calibrate fits it: with
    # --write-card the folder itself is evaluated (an fp32 card of a folder whose default is int8 misdescribed it)
    analyzers = [_analyzer(_pipeline(model=name, detector=detector or _DEFAULTS.detector, precision=precision))
                 for name in (models if write_card else model)]
    names = [analyzer.cnn.config.name for analyzer in analyzers]
    same_name = next((name for name in names if names.count(name) > 1), None)
    if same_name is not None:  # their rows and their output folders would be one
        _fail(f"--model {' and '.join(m for m, n in zip(models, names) if n == same_name)}: each is a model called "
              f"{same_name} (its config.json's name), and the comparison names them by it; export one under "
              "another --name", 2)
    # before the evaluation: a file of other weights must not cost the run
    from fervid.evaluation.evaluate import cross_dataset_from_comparison, degraded_faces_from_benchmark

    cross_dataset_table = _card_record(cross_dataset, "--cross-dataset", cross_dataset_from_comparison, analyzers[0])
    degraded_record = _card_record(degraded_faces, "--degraded-faces", degraded_faces_from_benchmark, analyzers[0])
    several = len(models) > 1
    # each model's outputs: in --out, or with several models in --out/<its name>/
    folders = [(out / name if several else out) if out else None for name in names]
    # (--out itself: made and checked as its lock was taken)
    made = [folder for folder in folders if several and folder and not folder.exists()]
    if several:  # before the evaluation: an output folder that cannot be used must not cost the run
        for folder in (f for f in folders if f is not None):
            _check_output_folder(folder)
    # the faces are read once, and found and framed once per eye template (a model frames a face on its own)
    loaded = {}
    for analyzer in analyzers:
        framing = analyzer.template if dataset in FACE_FINDING_KINDS else None
        if framing in loaded:
            continue
        try:
            # photos: with each one's number of faces, so that a photo of several people is left out
            loaded[framing] = load_dataset(dataset, data, usage=usage, ferplus_csv=ferplus, jaffe_path=jaffe,
                                           crop_faces=analyzer.labelled_faces)
        except (DatasetError, ModelError, FileNotFoundError, ValueError) as exc:
            _remove_empty(made)
            _fail_on(exc)
    scored = []
    for name, analyzer, record, on_training_faces, folder in zip(models, analyzers, trained, training_faces,
                                                                  folders):
        ds = loaded[analyzer.template if dataset in FACE_FINDING_KINDS else None]
        on_training_faces = on_training_faces or _training_copies(record, ds)
        if write_card and on_training_faces:
            _remove_empty(made)
            _fail(f"--write-card records the model's score on faces it was not trained on, and {on_training_faces}", 2)
        not_held_out = _not_held_out(record, _model_record(name, "training_summary.json"),
                                     _model_record(name, "calibration.json"), dataset, data, usage)
        scored.append(_score_model(analyzer, ds, dataset, data, usage, ferplus, jaffe, folder, on_training_faces,
                                   not_held_out, progress=not quiet))
    if write_card:
        from fervid.evaluation.evaluate import (config_not_recorded, evaluate as run_eval, recorded_commands,
                                                training_records, write_model_card)
        from fervid.inference.models import EmotionCNN

        cnn, ev, ds = scored[0].cnn, scored[0].evaluation, scored[0].dataset
        recorded = [record["command"] for record in recorded_commands(cnn.folder)]
        if command and recorded and command not in recorded:  # the card gives both: said, as it is not the record
            scored[0].notices.append(
                f"notice: --command is not the command `fervid train` recorded for this model ({recorded[0]}"
                + (f", resumed {len(recorded) - 1} time{'s' * (len(recorded) > 2)}" if len(recorded) > 1 else "")
                + f"; {cnn.folder / 'training_commands.jsonl'}): the card gives yours as its command, and the "
                "recorded ones below it")
        fp32 = run_eval(EmotionCNN(cnn.folder, precision="fp32"), ds) if cnn.precision == "int8" else None
        trained_on = (f"training data {config_not_recorded(training_records(cnn.folder))}" if not trained[0] else
                      f"trained on {trained[0].get('data', '(not recorded)')}" + ("" if folder_run else
                      f" Usage={trained[0].get('train_usage', 'Training')}"))
        evaluated_on = f"evaluated on {data}" + ("" if dataset not in FER2013_KINDS else f" Usage={usage}")
        write_model_card(cnn.folder, ev, command=command, precision=cnn.precision, fp32=fp32,
                         data=f"{trained_on}; {evaluated_on}", cross_dataset=cross_dataset_table,
                         degraded_faces=degraded_record)
        scored[0].printed.append(f"wrote {cnn.folder / 'MODEL_CARD.md'}")
    from fervid.evaluation.comparison import compare_models

    compared = compare_models(scored, data, out) if several else []
    # warnings and notices on stderr, as every command's (they were among the scores on stdout without --quiet)
    said = [f"{line.split(': ', 1)[0]}: {model_scores.name}: {line.split(': ', 1)[1]}" if several else line
            for model_scores in scored for line in model_scores.notices]
    if quiet:  # and what a summary would have said that is not a score
        said += [line for model_scores in scored for line in model_scores.left_out]
    for line in dict.fromkeys(said):
        echo(line, fg=typer.colors.YELLOW, err=True)
    if quiet:
        return
    for line in [*(line for model_scores in scored for line in model_scores.printed
                   if line not in model_scores.notices), *compared]:
        echo(line)


def _score_model(analyzer, ds, dataset: str, data: str, usage: str, ferplus: Optional[Path], jaffe: Optional[Path],
                 out: Optional[Path], training_faces: str, not_held_out: list[str], progress: bool) -> ModelScores:
    """``fervid evaluate``'s scores of ``analyzer``'s CNN on ``ds``, its outputs written into ``out`` (where given)
    and the lines it prints. ``training_faces``: why these are faces the model was trained on ("" if not);
    ``not_held_out``: what they did in its making besides (:func:`_not_held_out`)."""
    import onnxruntime

    import fervid
    from fervid.emotions import EMOTIONS
    from fervid.evaluation.comparison import ModelScores
    from fervid.evaluation.datasets import photos_notice, relabelled_copies, unlike_crops, unlike_crops_notice
    from fervid.evaluation.evaluate import (calibration_summary, calibration_text, predict_dataset, score,
                                            tie_aware_accuracy, write_report)

    relabelled = relabelled_copies(ds)
    cnn = analyzer.cnn
    probs = predict_dataset(cnn, ds, progress=progress)
    # CK+ and JAFFE name each face's person: the interval resamples people, not faces
    ev = score(ds.labels, probs.argmax(1), ds.name, subjects=ds.subjects)
    # how far `confidence` is from accuracy on these faces, and at temperature 1: a temperature fitted on one kind of
    # faces (FER+ web photos) is no promise on another (posed lab faces)
    temperature = float(cnn.config.temperature)
    calibration = calibration_summary(probs, ds.labels, temperature,
                                      logits=predict_dataset(cnn, ds, logits=True) if temperature != 1.0 else None)
    # everything is written before anything is printed: `fervid evaluate ... | head -1` closed the pipe at the first
    # line and the outputs were never written
    printed = [f"{cnn.config.name} ({cnn.precision}) on {ds.name} ({len(ds)} faces): {ev.accuracy_text}, "
               f"{ev.kappa_text}, {ev.macro_f1_label} {ev.macro_f1:.4f}"]
    # said on stdout and in report.md alike
    left_out = _left_out_lines(ds, listed_in=f"{out / 'metrics.json'}" if out else "metrics.json with --out")
    notes = [calibration_text(calibration), *left_out]
    if training_faces:
        notes.insert(0, f"warning: {training_faces}: this accuracy says how well it fits its training faces, not "
                        "how it does on faces it has not seen")
    if relabelled:
        example = ", ".join(f"{ds.sources[i]} as {EMOTIONS[ds.labels[i]]}" for i in relabelled[0])
        notes.insert(1 if training_faces else 0,
                     f"warning: {len(relabelled)} image(s) are byte-identical copies of another filed under a "
                     f"different emotion (e.g. {example}): one of each pair is scored wrong whatever is predicted")
    photos = photos_notice(ds) if dataset == "folder" else ""
    # images unlike the others among face crops: whole photos or no face, each scored as a face
    unlike = unlike_crops(ds) if dataset == "folder" else ({}, None)
    for notice in (photos, unlike_crops_notice(ds, unlike)):
        if notice:
            notes.append(f"notice: {notice}; or score the photos themselves: --dataset photos finds and aligns each "
                         "one's face")
    if not_held_out:  # not its training faces, but not new to it either
        # a fitted temperature changes no face's label: alone, it flatters the calibration only
        flattered = ("its accuracy and calibration on these faces read" if any("best epoch" in s for s in not_held_out)
                     else "its calibration on these faces reads")
        notes.append(f"notice: {' and '.join(not_held_out)}: {flattered} better than on faces it has never been "
                     "tuned on")
    # what made the numbers, so a published score can be traced back to its model, data and settings
    threshold = getattr(analyzer.detector, "score_threshold", None)
    settings = {"model": cnn.config.name, "model_folder": recorded_model_folder(cnn.folder), **cnn.weights_identity,
                "precision": cnn.precision, "temperature": float(cnn.config.temperature),
                "dataset_kind": dataset, "data": str(data),
                **({"usage": usage} if dataset in FER2013_KINDS else {}),
                **({"ferplus": str(ferplus)} if ferplus else {}), **({"jaffe": str(jaffe)} if jaffe else {}),
                **({"detector": analyzer.detector_name, "face_min_score": analyzer.LABELLED_FACE_MIN_SCORE}
                   if dataset in FACE_FINDING_KINDS else {}),
                **({"one_face_rule": f"each photo is scored on its most confident face; a photo where another face "
                                     f"is found at the detector's own threshold ({threshold}) is left out"}
                   if dataset == "photos" else {}),
                "fervid": fervid.__version__, "onnxruntime": onnxruntime.__version__}
    metrics = ({"settings": settings} | ev.to_dict()
               | {"calibration": calibration, "totals": ds.totals(), "left_out": ds.left_out}
               | ({"unlike_crops": unlike[0]} if unlike[0] else {})
               | ({"not_held_out": not_held_out} if not_held_out else {})
               # why these are its training faces: the score says how it fits them (printed and in report.md)
               | ({"trained_on_these_faces": training_faces} if training_faces else {}))
    if ds.soft_labels is not None:  # FER+ votes: say what the faces with no majority answer do to the number
        metrics["ties"] = ties = tie_aware_accuracy(probs.argmax(1), ds.soft_labels)
        if ties["tied"]:
            notes.append(f"{ties['tied']} faces have a tie for most votes; their label is the first tied emotion in "
                         f"fervid's class order. Without them: accuracy {ties['untied']['accuracy']:.4f} "
                         f"({ties['untied']['n']} faces); with each tie broken at random: "
                         f"{ties['random_tiebreak']:.4f}")
    printed += [*notes, ev.per_class_table()]
    if out:
        import numpy as np
        import pandas as pd

        title = f"{cnn.config.name} ({cnn.precision}) on {ds.name}"
        predictions = pd.DataFrame({"source": ds.sources or range(len(ds)),
                                    "label": [EMOTIONS[i] for i in ds.labels],
                                    "predicted": [EMOTIONS[i] for i in probs.argmax(1)]})
        if ds.subjects:
            predictions.insert(1, "subject", ds.subjects)
        predictions[list(EMOTIONS)] = np.round(probs, 5)
        written = write_report(out, title, settings, metrics, notes, {"": ev}, {"predictions": predictions})
        printed.append(f"wrote {', '.join(map(str, written))}")
    return ModelScores(cnn, ds, ev, probs, printed, [line for line in notes if line.startswith(("warning:",
                                                                                               "notice:"))], left_out)


# what made a video's labels, as its tracks JSON records it: a score pools videos only where these agree
# the files that ran, as metrics.json records them (their names and digests: the model's name alone does not say
# which weights gave the labels)
VIDEO_PROVENANCE = ("weights_file", "weights_sha256", "temporal_model_sha256")
VIDEO_RUN_SETTINGS = ("model", "precision", "temperature", "method", "detector", "score_threshold", "min_face",
                      "max_faces", "detect_every", "window", "sample_fps", "centred_window", "temporal_temperature",
                      "temporal_model")


def _recorded_window_notice(summary: dict) -> str | None:
    """What the window left the temporal method of the analysis a tracks JSON records, where that is not what the
    method is for (``VideoResult.window_notice_in``, from the recorded rate, method and window); None otherwise."""
    from fervid.inference.temporal import window_notice
    from fervid.inference.video import recorded_analysis_rate

    window, fps, method = summary.get("window"), summary.get("fps"), summary.get("method")
    if window is None or not fps or method is None:
        return None
    return window_notice(method, window, recorded_analysis_rate(summary), summary.get("centred_window", True),
                         "flags", most_rate=fps, memory_capped=bool(summary.get("analysed_fps_cap")))


def _evaluate_video(annotations_file: Path, table_video: Optional[Path], out: Optional[Path], results: Optional[Path],
                    typed: set[str], margin: float, quiet: bool, **choices) -> None:
    """``fervid evaluate --dataset video``: fervid's video labels against annotated segments (see
    :mod:`fervid.evaluation.segments`; ``table_video``: the one video a table without a video column annotates), from a
    fresh analysis of each video or from an earlier run's folder. Exit 1 when a video named in the table is missing
    or could not be analysed (the others are scored and written)."""
    import onnxruntime

    import fervid
    from fervid.emotions import EMOTIONS
    from fervid.evaluation.datasets import DatasetError
    from fervid.evaluation.evaluate import score, write_report
    from fervid.evaluation.segments import (MIN_INTERVAL_SEGMENTS, AnalysedFrames, IntervalGroups,
                                            frames_from_results, read_annotations, score_segments)
    from fervid.inference.video import VideoError

    try:
        annotations = read_annotations(annotations_file, table_video)
    except DatasetError as exc:
        _fail(str(exc))
    videos = annotations.videos
    warnings = list(annotations.notes)
    made_by = ("model", "detector", "precision", "method", "window", "detect_every", "sample_fps", "temporal_model",
               "max_faces")
    if results is not None:
        # the labels are the earlier run's: an option that would have changed them changes nothing here
        ignored = [name for name in made_by if name in typed]
        if ignored:
            _fail(f"--{ignored[0].replace('_', '-')} with --results: the labels in {results} are those of the run "
                  "that wrote them (its tracks JSONs record its model and settings); leave the option out, or "
                  "analyse the videos again without --results", 2)
        if not results.is_dir():
            _fail(f"--results {results}: not a folder (a `fervid video` output folder)", EXIT_USAGE)
        tables, failed, summaries = frames_from_results(results, videos, annotations_file.parent)
        made_with = {video: {key: summary.get(key) for key in VIDEO_RUN_SETTINGS}
                     for video, summary in summaries.items()}
        for video, setting in made_with.items():
            first_video, first = next(iter(made_with.items()))
            differ = [key for key in VIDEO_RUN_SETTINGS if setting[key] != first[key]]
            if differ:
                _fail(f"{results}: its videos were analysed with different settings ("
                      + "; ".join(f"{key}: {setting_text(key, first[key])} for {first_video.name}, "
                                  f"{setting_text(key, setting[key])} for {video.name}"
                                  for key in differ) + "); one score must come from one model and settings")
        for video, summary in summaries.items():  # scored on what was analysed, as a fresh analysis would be
            if summary.get("error"):
                warnings.append(summary["error"])
            if summary.get("matched_by_name"):
                warnings.append(f"{video} was matched by its file name to the {summary['matched_by_name']} analysed "
                                f"in {results} (same name and length)")
            if summary.get("times_moved_by"):
                warnings.append(f"{video}: its results in {results} were written by a fervid before 2026-12-06, which "
                                "counted times from the video's pictures, not the file's start; its pictures start "
                                f"{summary['times_moved_by']:g} s in, so its times were moved by that to the file's "
                                "timeline, the annotations' (analyse it again to have the outputs say so)")
            window = _recorded_window_notice(summary)
            if window and f"the analysis that wrote {results}: {window}" not in warnings:
                warnings.append(f"the analysis that wrote {results}: {window}")
        settings = {key: value for key, value in next(iter(made_with.values()), {}).items() if value is not None}
        settings["results"] = str(results)
        # what made the labels scored: the weights that ran and the versions, as the results recorded them (not
        # this process's: it only read them)
        first = next(iter(summaries.values()), {})
        settings |= {key: first[key] for key in VIDEO_PROVENANCE if first.get(key) is not None}
        settings["results_made_with"] = ({"fervid": first["fervid"], "onnxruntime": first.get("onnxruntime")}
                                         if "fervid" in first else "not recorded (a fervid before 2026-12-06)")
    else:
        options = _pipeline(annotate=False, method=choices["method"], window=choices["window"],
                            detect_every=choices["detect_every"], sample_fps=choices["sample_fps"],
                            temporal_model=choices["temporal_model"], model=choices["model"],
                            detector=choices["detector"], precision=choices["precision"],
                            max_faces=choices["max_faces"])
        if any(segment.track is not None for segment in annotations.segments):
            # numbers depend on the settings (which face a detection round finds first, how a track is lost)
            warnings.append("the table names track numbers, and a track's number is the one the analysis that "
                            "assigned it gave: with other settings the same face can get another; score the folder "
                            "of the analysis the numbers came from (--results)")
        runner = _video_runner(options, named_method=choices["method"])
        tables, failed, settings = {}, {}, {}
        for number, video in enumerate(videos, 1):
            bar, progress = _frames_bar(f"{number}/{len(videos)} {video.name[-30:]}", leave=False,
                                        show=not quiet)

            try:
                result = runner.run(video, progress=progress)
            except VideoError as exc:
                failed[video] = f"video failed: {exc}"
                continue
            finally:
                bar.close()
            if result.error:  # a video that broke off: scored on what was read, and said
                warnings.append(result.error)
            window = result.window_notice_in("flags")
            if window and window not in warnings:  # a window too short: said once
                warnings.append(window)
            tables[video] = AnalysedFrames(result.frame_table(), result.analysed_rate, result.duration,
                                           to_video_end=not result.error,
                                           detect_every=result.settings.get("detect_every", 0.0))
            ran = {"model": result.model, "method": result.method, "detector": result.detector, **result.settings}
            settings = {key: ran[key] for key in (*VIDEO_RUN_SETTINGS, *VIDEO_PROVENANCE) if ran.get(key) is not None}
    for line in warnings:
        echo(f"warning: {one_line(line)}", fg=typer.colors.YELLOW, err=True)
    try:
        scores = score_segments(annotations, tables, failed, margin)
    except DatasetError as exc:
        _fail(str(exc))
    for line in scores.warnings:  # lines cut where their video was not analysed: said with the others
        echo(f"warning: {one_line(line)}", fg=typer.colors.YELLOW, err=True)
    warnings += scores.warnings
    # a video named but missing, or one that could not be analysed, is an input that failed: said, and exit 1
    failures = [*(f"{video}: not found (named in {annotations_file})" for video in annotations.missing_videos),
                *(f"{annotations_file}, line {line}: {why}" for line, why in annotations.no_video.items()),
                *failed.values()]
    if scores.frames.empty:
        for message in failures:
            _say_error(message)
        # a video's failure is its segments' reason: said once, above
        unscored = sorted(set(scores.not_scored.values()) - set(failed.values()))
        _fail(f"{annotations_file}: no annotated segment could be scored ("
              + ("; ".join(unscored[:3]) if unscored else "the error(s) above") + ")")
    frames, segments = scores.frames, scores.segments
    # frames of one segment, and segments of one person or video, are no independent draws: the intervals resample
    # participants or videos, each with all its segments and frames; segments, each with its frames, where there
    # are too few of them (and the intervals say they are of those only)
    grouped = IntervalGroups.of(segments)
    group_of_line = dict(zip(segments["line"], grouped.groups or segments["line"].astype(str)))
    by_frame = score(frames["label"].map(EMOTIONS.index).to_numpy(), frames["predicted"].map(EMOTIONS.index)
                     .to_numpy(), annotations_file.name, unit="frames", subjects=frames["line"].map(group_of_line)
                     .tolist(), groups_are=grouped.groups_are)
    by_segment = score(segments["label"].map(EMOTIONS.index).to_numpy(),
                       segments["predicted"].map(EMOTIONS.index).to_numpy(), annotations_file.name, unit="segments",
                       subjects=grouped.groups, groups_are=grouped.groups_are)
    by_frame, by_segment = (dataclasses.replace(ev, ci_method=grouped.method(ev.ci_method),
                                                kappa_ci_method=grouped.method(ev.kappa_ci_method))
                            for ev in (by_frame, by_segment))
    settings |= {"dataset_kind": "video", "data": str(annotations_file), "margin": margin, "fervid": fervid.__version__,
                 "onnxruntime": onnxruntime.__version__}
    # (a folder written before tracks JSONs recorded the precision has none)
    title = (f"{settings.get('model', '?')} ({settings.get('precision', '?')}, {settings.get('method', '?')}) on "
             f"{annotations_file.name}")
    seen = len(annotations.segments) + len(annotations.left_out)
    named = len(videos) + len(annotations.missing_videos)
    notes = [f"{len(segments)} of {seen} segment(s) scored, in {segments['video'].nunique()} of {named} video(s)"
             + ("" if grouped.participants is None else f", of {grouped.participants} participant(s)")
             + f"; the face was found in {scores.found_share:.0%} of the annotated time",
             grouped.note]
    if by_frame.accuracy_ci95 is None:
        notes.append(f"no interval for the per-frame accuracy and kappa: {len(segments)} segment(s), and an "
                     f"interval over segments needs at least {MIN_INTERVAL_SEGMENTS}")
    if scores.several_faces:
        notes.append(f"{len(scores.several_faces)} segment(s) without a track saw more than one track (two people, "
                     "or one who left and came back as a new track) and were scored on the one seen most: line(s) "
                     + ", ".join(map(str, scores.several_faces[:10])) + (" ..." if len(scores.several_faces) > 10
                                                                         else "") + " (a track column chooses)")
    reasons: dict[str, list[int]] = {}
    for line_number, why in {**annotations.left_out, **scores.not_scored}.items():
        reasons.setdefault(why, []).append(line_number)
    for why, lines in sorted(reasons.items(), key=lambda item: -len(item[1])):
        notes.append(f"  {len(lines)} x {why}: line(s) {', '.join(map(str, sorted(lines)[:10]))}"
                     + (" ..." if len(lines) > 10 else ""))
    printed = [f"{title}:", *(f"  per {ev.unit[:-1]} ({ev.n} {ev.unit if ev.n != 1 else ev.unit[:-1]}): "
                              f"{ev.accuracy_text}, {ev.kappa_text}, {ev.macro_f1_label} {ev.macro_f1:.4f}"
                              for ev in (by_frame, by_segment)),
               *notes, "per frame:", by_frame.per_class_table()]
    if out:
        metrics = {"settings": settings, "per_frame": by_frame.to_dict(), "per_segment": by_segment.to_dict(),
                   "intervals": grouped.to_dict(), "found_share": round(scores.found_share, 4),
                   "not_scored": {str(line): why for line, why in {**annotations.left_out, **scores.not_scored}
                                  .items()},
                   "several_faces": scores.several_faces, "warnings": warnings, "failed": failures}
        frames[list(EMOTIONS)] = frames[list(EMOTIONS)].round(5)
        written = write_report(out, title, settings, metrics, [*(f"warning: {w}" for w in warnings), *notes],
                               {"per frame": by_frame, "per segment": by_segment},
                               {"predictions": frames, "segments": segments})
        printed.append(f"wrote {', '.join(map(str, written))}")
    if not quiet:
        for line in printed:
            echo(line)
    for message in failures:
        _say_error(message)
    if failures:
        raise typer.Exit(1)


def _card_record(path: Optional[Path], option: str, reader: Callable[[Any, str, list], Any],
                 analyzer: Analyzer) -> Any:
    """What a benchmark's JSON (``--cross-dataset``, ``--degraded-faces``) says of ``analyzer``'s weights for their
    card, by ``reader`` (which refuses another model's or other weights' record); None where no file is given. A file
    that cannot be read, or is of other weights, ends the command (exit 2), naming the option and the file."""
    if path is None:
        return None
    from fervid.evaluation.evaluate import model_files

    cnn = analyzer.cnn
    try:
        return reader(json.loads(path.read_text(encoding="utf-8")), cnn.config.name,
                      list(model_files(cnn.folder, cnn.config.int8_file).values()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, AttributeError, KeyError) as exc:
        _fail(f"{option} {path}: {exc}", 2)


@app.command()
def calibrate(
    data: Path = typer.Option(..., help="The faces the temperature is fitted on: a FER2013 CSV (.csv/.csv.gz), "
                                        f"whose --usage rows are used (by default {DEFAULT_USAGE}, FER2013's public "
                                        "test set), or your own face crops, a folder per emotion (<emotion>/<crop>) or a "
                                        "label table (path,label), as `fervid train` reads them, all of them. A "
                                        "temperature fitted on the faces its ECE is then reported on flatters that "
                                        "ECE: judge it on other faces."),
    model: Path = typer.Option(..., help="Model folder to calibrate (its config.json is updated)."),
    usage: Optional[str] = typer.Option(None, help="FER2013 Usage to fit the temperature on (a CSV only). The "
                                                   f"default, {DEFAULT_USAGE}, is FER2013's public test set (fer2013_vgg "
                                                   "chose its epoch on it too): an ECE reported on "
                                                   f"{DEFAULT_USAGE} afterwards is flattered, measured on the faces "
                                                   "the temperature was fitted on."),
    ferplus: Optional[Path] = typer.Option(None, help="FER+ votes (fer2013new.csv): fit on FER+'s majority labels "
                                                      "of those faces instead of FER2013's (for FER+-trained models)."),
    quiet: bool = _quiet_option("the JSON report still goes to stdout, and the temperature into the model folder"),
) -> None:
    """Fit a softmax temperature on labelled faces (by default FER2013's public test rows); report expected
    calibration error before and after.

    stdout holds one JSON document, the calibration.json written into the model folder ("applied": whether the
    fitted temperature was written to its config.json, "kept_temperature": the one it has now); the same in words,
    and notices, on stderr. A model card in the folder (card.json, MODEL_CARD.md) gets the new calibration; one that
    cannot take it (a card of other weights, a cross-dataset table measured at another temperature) is left, and
    said."""
    from fervid.evaluation.datasets import (PHOTO_SIDE, DatasetError, is_labelled_images, load_fer2013, load_ferplus,
                                           load_image_folder, photos_notice, unlike_crops_notice)
    from fervid.evaluation.evaluate import calibrate as run_calibration, recalibrate_card
    from fervid.inference.models import EmotionCNN, runtime_versions

    for option, given in (("--data", data), ("--ferplus", ferplus)):
        _must_exist(option, given)
    folder = is_labelled_images(data)  # a folder of your own face crops, or a label table of them
    if folder and (ferplus is not None or usage is not None):
        _fail("--usage and --ferplus choose rows of a FER2013 CSV; a folder's faces are all used (a label table's "
              "too)", 2)
    usage = usage or DEFAULT_USAGE
    copy_advice = ("calibrate rewrites a model folder's config.json; to calibrate a shipped model, copy its folder "
                   "and give the copy's path")
    model = model_folder_of_file(model) or model  # --model x/model.onnx: the folder it rewrites is x
    if not model.is_dir():  # a shipped name would rewrite the installed package's model in place
        _fail(f"{model}: no such model folder ({copy_advice})", 2)
    # loaded and read by its absolute path: named as a shipped model ("ferplus_vgg"), the name meant the shipped one
    model_folder = model.absolute()
    for written in ("config.json", "calibration.json", "card.json", "MODEL_CARD.md"):  # after the fit: said now
        _check_can_write("--model", model / written, copy_advice)  # (an installed model's folder: read-only)
    training_faces = _evaluated_on_training_faces(_model_record(str(model_folder), "training_config.json"),
                                                  "folder" if folder else "fer2013", str(data), usage)
    if not training_faces and not folder and usage == "Training":  # a model that does not say what it learnt from
        training_faces = "Training holds the faces FER2013 models learn from"
    if training_faces:
        echo(f"notice: {training_faces}; a temperature fitted on them describes faces it has seen, not new "
                    "ones (use held-out faces)", fg=typer.colors.YELLOW, err=True)
    try:
        cnn = EmotionCNN(model_folder)
        ds = (load_image_folder(data) if folder else
              load_ferplus(data, ferplus, usage) if ferplus else load_fer2013(data, usage))
    except (DatasetError, ModelError) as exc:
        _fail_on(exc)
    photos = photos_notice(ds) if folder else ""
    if photos:  # whole photos squashed to 48x48 say nothing of their labels: the fit ran to its bound, 20
        _fail(f"{photos}; calibrate fits the temperature on the faces the model reads, so give it those crops (face "
              f"crops this large: resize them under {PHOTO_SIDE} px)")
    unlike = unlike_crops_notice(ds) if folder else ""
    if unlike:  # a few photos among crops: the fit goes on, with their names said
        echo(f"notice: {unlike}", fg=typer.colors.YELLOW, err=True)
    # measured at the model's current temperature too (a calibrated model was reset to 1 and judged against that)
    report = run_calibration(cnn, ds)  # says whether the fitted temperature is worth applying
    cnn.config.temperature = report["kept_temperature"]
    # what the temperature was fitted with, as evaluate's metrics.json records it (the report held numbers only)
    report["settings"] = {"model": cnn.config.name, **cnn.weights_identity, "precision": cnn.precision,
                          "data": str(data), **({"left_out": ds.left_out} if folder else {"usage": usage}),
                          "labels": ("the table's labels" if data.is_file() else "the folders' names") if folder else
                          "FER+ majority" if ferplus else "FER2013",
                          **({"ferplus": str(ferplus)} if ferplus else {}), **runtime_versions()}
    write_json((cnn.folder / "config.json"), cnn.config.to_dict(), indent=None)
    write_json((cnn.folder / "calibration.json"), report)
    try:  # the card's calibration section, as --write-card writes it (it was left to give the old one, unsaid)
        card_rewritten = recalibrate_card(cnn.folder, report)
    except ValueError as exc:
        card_rewritten = False
        echo(f"notice: the model card predates this calibration and is left as it was: {exc}",
                    fg=typer.colors.YELLOW, err=True)
    # stdout: the report alone, for a script to read (`| python -m json.tool` failed on the lines after it)
    send_to_stdout(json_bytes(report) + b"\n")
    if quiet:
        return
    echo(f"ECE ({report['ece_bins']} bins): {report['ece_before']} at temperature 1, {report['ece_current']} at the "
         f"model's temperature {report['current_temperature']}, {report['ece_after_cross_fitted']} at the fitted "
         f"{report['temperature']} (fitted on one half, measured on the other, the mean over "
         f"{len(report['split_seeds'])} random halvings; {report['ece_current_halves']} at the model's temperature "
         f"on the same halves, which the fit is judged against: a gain of {report['ece_gain']} +- "
         f"{report['ece_gain_se']}, standard error over the halvings)", err=True)
    if report["applied"]:
        echo(f"temperature {cnn.config.temperature} written to {cnn.folder / 'config.json'}", err=True)
    else:
        low, high = report["fitting_bounds"]
        why = (f"is at the end of the range searched ({low}-{high}): no temperature fits these faces (are they the "
               "face crops the model reads?)" if report["at_fitting_bound"] else
               "did not lower the held-out ECE below the model's current temperature's on the same halves by "
               "more than the gain's standard error")
        echo(f"the fitted temperature {report['temperature']} {why}; not applied: the model keeps temperature "
                   f"{cnn.config.temperature}", err=True)
    if card_rewritten:
        echo(f"its calibration written into {cnn.folder / 'MODEL_CARD.md'} and card.json", err=True)


@app.command()
def experiment(
    ctx: typer.Context,
    dataset: str = typer.Option(..., help="jaffe, ckplus or jaffe+ckplus."),
    ckplus: Optional[Path] = typer.Option(None, help="Your CK+48 folder (for ckplus and jaffe+ckplus)."),
    jaffe: Optional[Path] = typer.Option(None, help="Your JAFFE folder (for jaffe and jaffe+ckplus)."),
    # --model: this command's old name for the classifier (elsewhere --model is the emotion CNN, here --cnn)
    model: str = typer.Option("lstm-cnn", "--classifier", "--model",
                              help="What is trained and tested: lstm-cnn (the paper's: an LSTM over --cnn's "
                                   "features), lstm-pixels (no CNN: the pixels, normalised as --cnn's faces are, "
                                   "JAFFE's framed as its), cnn-finetune (--cnn-checkpoint fine-tuned)."),
    protocol: str = typer.Option("subject", help="random (the paper's splits) or subject (subject-independent)."),
    cnn_model: str = typer.Option(PAPER_MODEL, "--cnn", "--cnn-model", callback=_say_cnn_folder_not_used,
                                  help="Emotion CNN (the feature extractor): a shipped name or a model folder; "
                                       "default: the paper-pipeline model, trained on FER2013's labels. (--model "
                                       "here is the classifier, as it always was in this command.)"),
    cnn_checkpoint: Optional[Path] = typer.Option(None, help="torch checkpoint of that CNN, for cnn-finetune."),
    epochs: Optional[int] = typer.Option(None, help="Training epochs per fold (default: 80 LSTM, 12 CNN)."),
    seed: int = _seed_option(0, "Seed of the random splits (the subject folds are fixed: GroupKFold, or one subject "
                                "left out where there are at most 10) and of the networks' initial weights."),
    out: Path = typer.Option(Path("runs/experiments"), help="Folder for the JSON (metrics, settings), the per-sample "
                                                           "predictions CSV (fold, sequence, subject, label, "
                                                           "predicted), confusion and curve PNGs (one run of an "
                                                           "experiment at a time: another of the same dataset, "
                                                           "model and protocol into it exits 75)."),
    quiet: bool = _quiet_option("the results are written to --out as ever"),
) -> None:
    """The published paper's experiments: train/test a model on JAFFE, CK+ or both (needs the train extra)."""
    import fervid
    from fervid.evaluation.datasets import DatasetError, load_dataset
    from fervid.evaluation.datasets import to_sequences

    for option, given in (("--ckplus", ckplus), ("--jaffe", jaffe)):
        _must_exist(option, given)
    _check_can_write("--out", out)  # written after the training: said now, not after it
    experiments = _training_module("fervid.research.experiments")
    MODELS, PROTOCOLS = experiments.MODELS, experiments.PROTOCOLS
    run_experiment, save_result = experiments.run_experiment, experiments.save_result
    if model not in MODELS:
        _fail(f"--classifier {model}: not one of {', '.join(MODELS)}", 2)
    if protocol not in PROTOCOLS:
        _fail(f"--protocol {protocol}: not one of {', '.join(PROTOCOLS)}", 2)
    if dataset not in ("jaffe", "ckplus", "jaffe+ckplus"):
        _fail("--dataset must be jaffe, ckplus or jaffe+ckplus", 2)
    if "ckplus" in dataset and ckplus is None or "jaffe" in dataset and jaffe is None:
        _fail(f"--dataset {dataset} needs " + " and ".join(f"--{d}" for d in ("ckplus", "jaffe") if d in dataset),
              2)
    for name, given in (("ckplus", ckplus), ("jaffe", jaffe)):  # accepted, unused, and recorded as if used
        if given is not None and name not in dataset:
            _fail(f"--{name} is not used by --dataset {dataset}; leave it out", 2)
    if epochs is not None and epochs < 1:
        _fail(f"--epochs must be at least 1, not {epochs}", 2)
    if model == "cnn-finetune" and cnn_checkpoint is None:
        _fail("--classifier cnn-finetune needs --cnn-checkpoint: the CNN's torch checkpoint (runs/<run>/last.pt)", 2)
    if model != "cnn-finetune" and cnn_checkpoint is not None:  # it was ignored, and recorded as if used
        _fail(f"--cnn-checkpoint is for --classifier cnn-finetune; {model} would ignore it", 2)
    _must_exist("--cnn-checkpoint", cnn_checkpoint)
    if cnn_checkpoint is not None and not cnn_checkpoint.is_file():
        _fail(f"--cnn-checkpoint {cnn_checkpoint}: a folder, not a checkpoint file", EXIT_USAGE)
    # (the command line checked: before anything is read) its outputs' names, which only this experiment writes
    _hold_output_folder(ctx, out, "experiment", stem=experiments.output_stem(dataset, model, protocol))
    try:
        analyzer = PipelineOptions(model=cnn_model).analyzer()  # (--cnn typed: said as it was read)
    except ModelError as exc:
        _fail_on(exc)
    root = jaffe if dataset == "jaffe" else ckplus
    assert root is not None, "the dataset's folder is checked above"
    try:
        ds = load_dataset(dataset, root, jaffe_path=jaffe,
                          crop_faces=analyzer.crop_faces)
    except DatasetError as exc:
        _fail(str(exc))
    for line in _left_out_lines(ds, listed_in="the experiment's JSON"):  # a notice: on stderr with --quiet
        echo(line, fg=typer.colors.YELLOW if quiet else None, err=quiet)
    test_size = 0.2
    try:
        result = run_experiment(to_sequences(ds), model, protocol, analyzer.cnn, cnn_checkpoint, seed=seed,
                                epochs=epochs, test_size=test_size, progress=not quiet)
    except ValueError as exc:  # a checkpoint that is not one, or not --cnn's network
        _fail(str(exc), 2)
    result.settings |= {**({"ckplus": str(ckplus)} if ckplus else {}), **({"jaffe": str(jaffe)} if jaffe else {}),
                        **({"detector": analyzer.detector_name} if jaffe else {}), "fervid": fervid.__version__,
                        "left_out": ds.left_out}
    path = save_result(result, out)
    notes = result.notes()  # how to read the predictions CSV (JAFFE's subject NA), as the JSON's notes say
    if quiet:
        for line in notes:  # a notice: on stderr with --quiet
            echo(line, fg=typer.colors.YELLOW, err=True)
        return
    ev = result.evaluation
    echo(f"{model} on {dataset}, {protocol} split: accuracy {ev.accuracy:.4f} (per split/fold "
               f"{min(result.fold_accuracies):.3f}-{max(result.fold_accuracies):.3f}), {ev.macro_f1_label} "
               f"{ev.macro_f1:.4f}")
    echo(ev.per_class_table())
    others = [path.with_name(path.stem + suffix).name for suffix in ("_predictions.csv", "_confusion.png")]
    echo(f"wrote {path}, {', '.join(others)} and {path.with_name(path.stem + '_curves.png').name}")
    for line in notes:
        echo(line)


@app.command()
def batch(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., help="Folders, globs, files, or manifest CSVs (comma-, tab- or "
                                                          "semicolon-separated; the column headed path, file, "
                                                          "filename, image or video, any case; else the first); '-': "
                                                          "the paths on stdin, one a line (or "
                                                          "NUL-separated, as `find -print0` writes them)."),
    out: Path = typer.Option(..., help="Output folder: state.sqlite, files/<key>/, dataset.parquet (every face "
                                       "row), files.csv (per input: status, duration, tracks, rows, emotion shares, "
                                       "notes such as 'no faces found', the share of rows flagged uncertain, the "
                                       "file a copy has the same content as: counted once, as that one), "
                                       "tracks.csv (per video track: start, end, "
                                       "seen seconds, dominant emotion, shares), episodes.csv and segments.csv "
                                       "(every video's, with its file), summary.md/json."),
    workers: int = typer.Option(app_defaults.BATCH_WORKERS, help="Worker processes (each loads the models once; "
                                                                 "on Windows at most 61, said); local engine only "
                                                                 "(Ray runs a task per CPU of its cluster)."),
    engine: str = typer.Option(app_defaults.BATCH_ENGINE, help="local (process pool on this machine) or ray."),
    address: Optional[str] = typer.Option(None, help="Ray: cluster address (host:port or 'auto'); default: start "
                                                     "Ray on this machine."),
    detect_every: float = DETECT_EVERY_OPTION,
    window: float = WINDOW_OPTION,
    sample_fps: Optional[float] = SAMPLE_FPS_OPTION,
    method: Optional[str] = METHOD_OPTION,
    temporal_model: Optional[str] = TEMPORAL_MODEL_OPTION,
    annotate: bool = typer.Option(_DEFAULTS.annotate, help="Write annotated images and videos (files/<key>/annotated.png, "
                                             "<name>_annotated.mp4); --no-annotate leaves them out (faster, and far "
                                             "less disk, on long or large videos: a 1080p class of 26, about 20 MB a "
                                             "minute)."),
    key_frames: Optional[int] = KEY_FRAMES_OPTION,
    landmarks: bool = LANDMARKS_OPTION,
    model: str = MODEL_OPTION,
    detector: str = DETECTOR_OPTION,
    score_threshold: Optional[float] = THRESHOLD_OPTION,
    min_face: float = MIN_FACE_OPTION,
    max_faces: Optional[int] = MAX_FACES_OPTION,
    precision: str = PRECISION_OPTION,
    max_video_megapixels: float = MAX_VIDEO_MEGAPIXELS_OPTION,
    frames_memory_mb: float = FRAMES_MEMORY_MB_OPTION,
    region: Optional[str] = REGION_OPTION,
    start: Optional[str] = START_OPTION,
    end: Optional[str] = END_OPTION,
    segments: Optional[Path] = SEGMENTS_OPTION,
    segment_every: Optional[str] = SEGMENT_EVERY_OPTION,
    quiet: bool = _quiet_option("the outputs are written to --out as ever; with --estimate, the estimate alone is "
                                "printed, on stdout"),
    estimate: bool = _estimate_option("and one worker", " and up to 10 images"),
    as_json: bool = ESTIMATE_JSON_OPTION,
) -> None:
    """Analyse thousands of images and videos in one resumable run: re-running skips finished files (and does not
    read unchanged ones again). Ctrl-C (or SIGINT) stops within seconds, keeping every finished file."""
    from fervid.apps.batch import BatchInterrupted, BatchLocked, BatchOptions, BatchSettingsChanged, run_batch

    _refuse_window_for_frame(ctx, method)
    _refuse_json_without_estimate(as_json, estimate)
    if estimate:  # the samples are timed here, one at a time: how many would run at once is not estimated
        _refuse_typed(ctx, ("workers", "engine", "address"), "is not used by --estimate, which times the samples "
                                                             "with one worker on this machine")
    if engine == "ray":  # Ray runs a task per CPU of its cluster, whatever the local pool's size
        _refuse_typed(ctx, ("workers",), "is the local engine's process pool: with --engine ray the cluster's CPUs "
                                         "(one task each) decide how many files are analysed at once")
    from_stdin: list[tuple[str, str]] = []  # '-' with nothing on stdin: failed, as an empty folder does
    inputs = _paths_from_stdin(inputs, from_stdin)
    if from_stdin and not inputs:  # nothing else to analyse: said before a results folder is made for nothing
        _fail(": ".join(from_stdin[0]))
    pipeline = _pipeline(detect_every=detect_every, window=window, sample_fps=sample_fps, method=method,
                         annotate=annotate, key_frames=key_frames, landmarks=landmarks, model=model,
                         detector=detector,
                         score_threshold=score_threshold, min_face=min_face, max_faces=max_faces, precision=precision,
                         temporal_model=temporal_model, max_image_pixels=MAX_PIXELS)  # as `fervid image`'s
    start_seconds, end_seconds = _time_range(start, end)
    time_segments, every = _time_segments(segments, segment_every)
    try:
        check_positive("--max-video-megapixels", max_video_megapixels)  # the options hold pixels: name the option
        options = BatchOptions(out=out, workers=workers, engine=engine, ray_address=address, pipeline=pipeline,
                               max_frame_pixels=int(max_video_megapixels * 1e6), frames_memory_mb=frames_memory_mb,
                               region=_region(region), start=start_seconds, end=end_seconds,
                               segments=time_segments, segment_every=every)
    except ValueError as exc:
        _bad_value(exc)
    # a bad model, detector or temporal model fails here, once, not in every worker
    runner = _video_runner(pipeline, named_method=method)
    if estimate:  # (its samples run on this runner's analyzer: the models are loaded once)
        from fervid.apps.batch import estimate_batch

        _say_estimate(lambda: estimate_batch(inputs, options, analyzer=runner.analyzer), out, annotate, quiet,
                      as_json)
        return
    try:
        summary = run_batch(inputs, options, progress=not quiet)
    except BatchInterrupted as exc:
        lines = ["", "interrupted."]
        if exc.in_progress:  # their partial work is not kept: a file is done whole or redone
            lines.append(f"Stopped while analysing {', '.join(exc.in_progress)}: its work so far is lost (a file is "
                         "redone whole).")
        if exc.remaining is not None:
            lines.append(f"{exc.remaining} file(s) of this run not analysed yet"
                         + ((" (including the one stopped)." if len(exc.in_progress) == 1 else
                             " (including those stopped).") if exc.in_progress else "."))
        lines.append(f"Every finished file is kept in {out}/ (dataset.parquet, files.csv and the summary hold them); "
                     "run the same command again to continue from there.")
        echo("\n".join(lines), fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(_interrupted_status())
    except KeyboardInterrupt:  # before the files were planned (while hashing them)
        echo(f"\ninterrupted: the files finished so far are kept in {out}/; the same command goes on from "
                    "there", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(_interrupted_status())
    except BatchLocked as exc:  # a scheduler retries this later; a wrong input it would retry for ever
        _fail(str(exc), EXIT_BUSY)
    except BatchSettingsChanged as exc:
        _fail(str(exc), 2)
    except sqlite3.Error as exc:  # "database or disk is full": the run's state is kept in the output folder
        _fail(f"{out / 'state.sqlite'}: {exc}{_state_error_advice(exc)}")
    if not quiet:
        echo(f"{summary['done']} of {summary['files']} files done ({summary['this_run']['files_analysed']} "
                   f"analysed now in {summary['this_run']['seconds']:.1f} s), {summary['failed']} failed, "
                   + (f"{len(summary['partial'])} partial (broke mid-way), " if summary["partial"] else "")
                   + f"{summary['faces']} faces; table: {out / 'dataset.parquet'}, report: {out / 'summary.md'}, "
                   f"per file: {out / 'files.csv'}, per video track: {out / 'tracks.csv'}"
                   + (f", {len(summary['copies'])} copies of other files counted once (files.csv's same_as)"
                      if summary["copies"] else ""))
    _say_notices(summary["this_run"]["notices"])
    if summary["this_run"]["no_faces"]:  # done, but not one row in the table: said, not left to be noticed
        _say_notices([f"no faces found in {len(summary['this_run']['no_faces'])} video(s): "
                      + ", ".join(summary["this_run"]["no_faces"]) + f" (per file: {out / 'files.csv'})"])
    mine = summary["this_run"]["failures"] + summary["this_run"]["partial"]
    for failure in mine:
        _say_error(failure['error'])
    for item, why in from_stdin:
        _say_error(f"{item}: {why}")
    earlier = len(summary["failures"]) + len(summary["partial"]) - len(mine)
    if earlier and not quiet:  # files of earlier runs into this folder, not given this time: not this run's failures
        echo(f"({earlier} failed or partial file(s) of earlier runs into this folder, not given this time, "
                   f"are listed in {out / 'summary.md'})")
    if summary["missing"] and not quiet:
        echo(f"({len(summary['missing'])} analysed file(s) are no longer where they were; their rows stay in "
                   f"the table until their results folder is deleted and the run repeated: {out / 'summary.md'})")
    if mine or from_stdin:
        raise typer.Exit(1)


# SQLite's words when the disk under a batch's state.sqlite is full, with what they leave unsaid: "disk I/O error"
# is what it says where its -wal or -shm file could not grow (measured on a full tmpfs)
SQLITE_DISK_FULL = {"database or disk is full": "", "disk I/O error": " (is the disk full?)"}


def _state_error_advice(exc: sqlite3.Error) -> str:
    """What to do about a batch's ``state.sqlite`` error where it may be a full disk's; "" for another."""
    if str(exc) not in SQLITE_DISK_FULL:
        return ""
    return (f"{SQLITE_DISK_FULL[str(exc)]}: make room and run the same command again (the files done are kept, and "
            "not analysed again)")


# a container or a Helm chart configures by the environment: every serve option is also FERVID_SERVE_<OPTION>
# (Click's auto_envvar_prefix; a flag on the command line wins, a repeatable option takes a space-separated list)
@app.command(context_settings={"auto_envvar_prefix": "FERVID_SERVE"})
def serve(
    ctx: typer.Context,
    host: str = typer.Option(app_defaults.HOST, help="Address to bind; the default keeps the server local to this "
                                                     "machine."),
    port: int = typer.Option(app_defaults.PORT, min=1, max=65535, help="Port to listen on."),
    data_dir: Path = DATA_DIR_OPTION,
    max_upload_mb: float = typer.Option(app_defaults.MAX_UPLOAD_MB, help="Largest upload accepted (413 above)."),
    max_queued_jobs: int = typer.Option(app_defaults.MAX_QUEUED_JOBS, help="Video jobs waiting at most (429 above)."),
    workers: int = typer.Option(app_defaults.SERVER_WORKERS, help="Video analysis workers."),
    job_ttl_hours: float = JOB_TTL_HOURS_OPTION,
    detect_every: float = DETECT_EVERY_OPTION,
    window: float = WINDOW_OPTION,
    sample_fps: Optional[float] = SAMPLE_FPS_OPTION,
    method: Optional[str] = METHOD_OPTION,
    temporal_model: Optional[str] = TEMPORAL_MODEL_OPTION,
    model: str = MODEL_OPTION,
    detector: str = DETECTOR_OPTION,
    score_threshold: Optional[float] = THRESHOLD_OPTION,
    min_face: float = MIN_FACE_OPTION,
    max_faces: Optional[int] = MAX_FACES_OPTION,
    precision: str = PRECISION_OPTION,
    annotate: bool = typer.Option(_DEFAULTS.annotate, "--annotate/--no-annotate",
                                  help="Video jobs write an annotated MP4 (the web page plays it); --no-annotate: "
                                       "none, for every job (?annotate=true is refused). With --key-frames 0 no "
                                       "job output holds a picture of a face: tables, JSON and timelines only."),
    key_frames: Optional[int] = KEY_FRAMES_OPTION,
    landmarks: bool = LANDMARKS_OPTION,
    max_images_per_request: int = typer.Option(app_defaults.MAX_IMAGES_PER_REQUEST,
                                               help="Images in one /v1/images request at most (413 above)."),
    max_image_megapixels: float = typer.Option(app_defaults.MAX_IMAGE_PIXELS / 1e6,
                                               help="Decoded size of one image at most (415 above)."),
    max_video_megapixels: float = MAX_VIDEO_MEGAPIXELS_OPTION,
    frames_memory_mb: float = FRAMES_MEMORY_MB_OPTION,
    allow_host: list[str] = typer.Option([], help="Another Host name to answer (repeatable), e.g. this machine's "
                                                  "LAN address, the name a reverse proxy forwards or a compose "
                                                  "service's name; '*' answers any (in a container, behind a "
                                                  "proxy). 127.0.0.1, localhost and --host always; /healthz "
                                                  "answers any Host."),
    allow_origin: list[str] = typer.Option([], help="An origin (https://app.example) whose pages may POST or "
                                                    "DELETE (repeatable); same-origin pages always may."),
    root_path: str = typer.Option("", help="The path prefix a reverse proxy serves fervid under, e.g. /fervid for "
                                           "nginx's `location /fervid/ { proxy_pass http://127.0.0.1:8000/; }`: "
                                           "the API's links and /docs carry it (the proxy strips it)."),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log",
                                    help="A line per request on stdout (uvicorn's access log: client address, "
                                         "request line, status), to keep a record of who used the server, less "
                                         "/healthz answered 2xx (a probe's; one that fails is logged). Its "
                                         "paths carry job ids and the uploads' file names, and so does the "
                                         "line of each queued video job."),
) -> None:
    """Web page at /, the live camera page at /live, and the REST API at /v1 (OpenAPI docs at /docs).

    Every option can also come from the environment as FERVID_SERVE_ and its name in capitals, e.g.
    FERVID_SERVE_HOST=0.0.0.0, FERVID_SERVE_MAX_UPLOAD_MB=500, FERVID_SERVE_ANNOTATE=false,
    FERVID_SERVE_ALLOW_HOST="fervid.lab.example 10.0.0.5" (a list, by spaces); the command line wins."""
    from fervid.apps.server import ServerSettings, root_path_option

    _refuse_window_for_frame(ctx, method)
    pipeline = _pipeline(detect_every=detect_every, window=window, sample_fps=sample_fps, method=method, model=model,
                         detector=detector, score_threshold=score_threshold, min_face=min_face, max_faces=max_faces,
                         precision=precision, annotate=annotate, key_frames=key_frames, landmarks=landmarks,
                         temporal_model=temporal_model)
    try:
        check_positive("--max-image-megapixels", max_image_megapixels)  # the settings hold pixels: name the option
        check_positive("--max-video-megapixels", max_video_megapixels)
        settings = ServerSettings(data_dir=data_dir, max_upload_mb=max_upload_mb, max_queued_jobs=max_queued_jobs,
                                  workers=workers, job_ttl_hours=job_ttl_hours, pipeline=pipeline,
                                  max_images_per_request=max_images_per_request,
                                  max_image_pixels=int(max_image_megapixels * 1e6),
                                  max_video_pixels=int(max_video_megapixels * 1e6),
                                  frames_memory_mb=frames_memory_mb, host=host,
                                  allowed_hosts=tuple(allow_host), allowed_origins=tuple(allow_origin),
                                  log_upload_names=access_log)
        root_path = root_path_option(root_path)
    except ValueError as exc:
        _bad_value(exc)
    _serve(settings, host, port, root_path=root_path, named_method=method, access_log=access_log)


def _check_can_listen(host: str, port: int) -> None:
    """Fail with one line before saying "serving on" (and opening a browser) when the address is taken or wrong;
    uvicorn would print its own error after that line. The port is free again when uvicorn binds it."""
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:  # socket.gaierror (an unknown host name) is an OSError too
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _check_data_dir(data_dir: Path) -> None:
    """Fail (exit 2) where --data-dir is a folder this user may not read and write: on a machine several users
    share, another user's server made the default, fervid-data, 0700 in a folder both start servers in."""
    if not data_dir.is_dir() or os.access(data_dir, os.R_OK | os.W_OK | os.X_OK):
        return
    whose = owner_and_mode(data_dir)
    what = "another user's server data" if other_users_file(data_dir) else "a folder this user cannot read and write"
    _fail(f"--data-dir {data_dir}: {what}{f' ({whose})' if whose else ''}; give a folder of your own (--data-dir "
          "~/fervid-data)", EXIT_USAGE)


def _serve(settings, host: str, port: int, page: str = "/", open_browser: bool = False, root_path: str = "",
           named_method: str | None = None, access_log: bool = False) -> None:
    from fervid.apps import serving
    from fervid.folder_lock import FolderLocked
    from fervid.apps.server import (NoTemporaryFolder, create_app, data_folder_lock, host_names_note,
                                    open_access_warning)

    _check_data_dir(settings.data_dir)
    serving.allow_open_files()  # a low soft limit: accept() failed, and asyncio logged each try's traceback
    # fail now, in one line, not at the first request; and say what runs (the precision and method as they resolved)
    ran = _video_runner(settings.pipeline, named_method=named_method).new_result("").run_settings
    _check_can_listen(host, port)
    try:  # the server takes the lock as it starts; a second one on the folder says so here, in one line
        with data_folder_lock(settings.data_dir):
            pass
    except FolderLocked as exc:  # as batch's --out taken: another run's, to retry later (a scheduler does)
        _fail(str(exc), EXIT_BUSY)
    try:  # before the start-up lines: it picks the temporary folder they name where the system's is not usable
        served_app = create_app(settings)
    except NoTemporaryFolder as exc:
        _fail(str(exc))
    url = f"http://{host}:{port}{page}"
    if root_path:  # its pages and links name the proxy's paths: opened directly, they would not load
        echo(f"fervid serving on http://{host}:{port} for a reverse proxy that forwards {root_path}/ to it "
                   f"(the page at {root_path}/, API docs at {root_path}/docs through the proxy)")
    else:
        echo(f"fervid serving on {url} (API docs: http://{host}:{port}/docs)")
    for line in serving.startup_lines(settings, ran, served_app.state.temporary_folder_problem):
        echo(line)
    if note := host_names_note(settings):
        echo(note)
    if warning := open_access_warning(settings, port):
        echo(warning, fg=typer.colors.YELLOW, err=True)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()  # once the server is up; no-op without one
    serving.run(served_app, host=host, port=port, root_path=root_path, access_log=access_log,
                say=echo)


@app.command("models")
def models_cmd(
    name: Optional[str] = typer.Argument(None, help="A shipped model's name, or a model folder (an exported CNN or "
                                                    "a trained temporal LSTM): print its model card (Markdown; a "
                                                    "folder without one: its entry)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead (for scripts): a list of the models, or, "
                                                       "with NAME, that model's entry."),
) -> None:
    """List the models shipped inside fervid: the emotion CNNs (--model) and the temporal LSTMs that read their
    features in videos (--method lstm), each with the labels it learnt, its input, the precisions its folder holds,
    the headline numbers its records hold, its weights' terms and its model card. `fervid models NAME` prints that
    model's card; `fervid models FOLDER` a model folder's, as --model and --temporal-model take them."""
    from fervid.inference.catalog import list_models, model_info
    from fervid.registry import UnknownName

    if name is None:
        found = list_models()
        if as_json:
            send_to_stdout(json_bytes([info.to_dict() for info in found]) + b"\n")
        else:
            echo("\n\n".join(_model_text(info) for info in found))
        return
    try:
        info = model_info(name)
    except UnknownName as exc:
        _fail(str(exc), EXIT_USAGE)
    except ModelError as exc:  # a folder that is no model (missing model.onnx, ...): named, as --model names it
        _fail_on(exc)
    if as_json:
        send_to_stdout(json_bytes(info.to_dict()) + b"\n")
    elif info.card is not None:
        send_to_stdout(info.card.read_text(encoding="utf-8"))
    elif Path(name).is_dir():  # a folder of yours, often without a card yet: its entry, and what writes a card
        echo(_model_text(info))
        echo(f"notice: {info.folder} holds no model card (`fervid evaluate --model {info.folder} --data ... "
                    "--write-card` writes a CNN's)", fg=typer.colors.YELLOW, err=True)
    else:
        _fail(f"{name}: its folder, {info.folder}, holds no model card")


def _model_text(info) -> str:
    """One model of `fervid models` (``info``: a :class:`fervid.inference.catalog.ModelInfo`), a line per field (a
    model's terms are a sentence: they fit no table column)."""
    if info.kind == "cnn":
        role = "default" if info.default else "the paper's pipeline" if info.paper else ""
        kind = "emotion CNN; " + (f"videos run {info.temporal_model} on its features" if info.temporal_model
                                  else "no shipped LSTM reads its features (videos use --method mean)")
        given = f"one grey {info.input_shape[1]}x{info.input_shape[2]} face"
    else:
        role = "default for videos" if info.default else "the paper's pipeline" if info.paper else ""
        kind = f"temporal LSTM over {info.cnn}'s features"
        given = f"up to {info.input_shape[0]} frames of {info.input_shape[1]}-d features"
    labels = ("not recorded" if info.labels is None else
              ("FER2013's original, one annotator per face" if info.labels == "fer2013" else
               "FER+'s consensus, ten annotators per face")
              + f" ({info.labels}{'; its FER2013 stills' if info.kind == 'temporal_lstm' else ''})")
    precisions = ", ".join(f"{p} (precision auto runs it)" if i == 0 and len(info.precisions) > 1 else p
                           for i, p in enumerate(info.precisions))
    m = info.measured
    if m is None:
        measured = "none recorded" + (" outside the card" if info.card else "")
    elif info.kind == "cnn":
        interval = f" (95% CI {m['accuracy_ci95'][0]}-{m['accuracy_ci95'][1]})" if m.get("accuracy_ci95") else ""
        f1 = f", macro-F1 {m['macro_f1']:.4f}" if m.get("macro_f1") is not None else ""
        on = ", ".join(str(part) for part in (f"{m['faces']} faces" if m.get("faces") else None, m.get("precision"))
                       if part)
        measured = f"accuracy {m['accuracy']:.4f}{interval}{f1} on {m['dataset']}" + (f" ({on})" if on else "")
    else:
        extra = "".join(f", {label} {m[key]:{spec}}" for key, label, spec in (("ece", "ECE", ".3f"),
                                                                            ("flicker_per_s", "label changes/s", ".2f"))
                        if m.get(key) is not None)
        measured = f"accuracy {m['accuracy']:.4f}{extra} on {m['dataset']}"
    fields = {"kind": kind, "labels": labels, "input": given, "precisions": precisions, "measured": measured,
              "terms": info.terms or "not recorded" + (" outside the card" if info.card else ""), "card": str(info.card or "none")}
    width = max(map(len, fields)) + 2
    return "\n".join([info.name + (f" ({role})" if role else ""),
                      *(f"  {(key + ':').ljust(width)}{value}" for key, value in fields.items())])


_METAVARS = {str: "TEXT", int: "INTEGER", float: "FLOAT", Path: "PATH"}


def _plain_metavars(typer_app: typer.Typer) -> None:
    """Options' help shows click's ordinary metavars (TEXT, PATH, INTEGER) where Typer 0.29 prints ``<str>``, and
    boolean flags show none (they take no value)."""
    import inspect
    import typing

    for command in typer_app.registered_commands:
        if command.callback is None:  # (every fervid command has its function)
            continue
        hints = typing.get_type_hints(command.callback)
        for name, param in inspect.signature(command.callback).parameters.items():
            info = param.default
            if not isinstance(info, typer.models.OptionInfo) or info.metavar:
                continue
            hint = hints.get(name)
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            if typing.get_origin(hint) in (typing.Union, list) and len(args) == 1:  # Optional[X], list[X]
                hint = args[0]
            if hint is bool:
                info.metavar = ""
            elif hint in _METAVARS:
                info.metavar = _METAVARS[hint]


_plain_metavars(app)


def _argument_name(param) -> str:
    """An argument as Click names it in a command's usage and help: PATHS... (Typer 0.29 wrote {paths}... in the
    usage and paths... <list[str]> in the help)."""
    name = param.name.upper() + ("..." if param.nargs != 1 else "")
    return name if param.required else f"[{name}]"


# what an interrupted command keeps, for the commands that do not say it themselves (video, live, batch and train do)
_KEPT_WHEN_INTERRUPTED = {
    "image": "nothing was written to --json, --csv or --parquet (they are written at the end); the --annotate copies "
             "and --crops written so far are kept",
    "evaluate": "nothing was scored or written", "experiment": "nothing was written",
    "calibrate": "the model's temperature and files are as they were"}


def _refuse_repeated_options(parser, args: list[str]) -> None:
    """End the command (exit 2) where an option that takes one value is given twice: Click keeps the last one
    (`image --model a --model b` analysed with b, without a word). Options that take a list (multiple) stay
    repeatable. ``parser``: the command's, which says each option given, in order, once per time given."""
    import click

    try:
        _, _, given = parser.parse_args(args=list(args))
    except click.UsageError:  # a wrong command line of another kind: Click's own parse says it
        return
    seen: set[str] = set()
    for param in given:
        if param.param_type_name != "option" or param.multiple or getattr(param, "count", False):
            continue
        if param.name in seen:
            names = (*param.opts, *param.secondary_opts)  # every spelling, old ones too: each is counted as typed
            typed = []  # each time it is given, as typed: "--model a"
            for index, arg in enumerate(args):
                name, equals, value = arg.partition("=")
                if name in names:
                    value = value if equals or param.is_flag else " ".join(args[index + 1:index + 2])
                    typed.append(f"{name} {value}".strip())
            shown = "/".join((*_option_names(param), *param.secondary_opts))
            _fail(f"{shown} is given {len(typed)} times ({', '.join(typed)}): "
                  f"{'it takes one value' if not param.is_flag else 'it is one choice'}, give it once", EXIT_USAGE)
        seen.add(param.name)


# the key of a command's arguments as typed (after its name) in Click's context meta
COMMAND_LINE = "fervid.command_line"


def _option_names(param) -> list[str]:
    """An option's names as its help shows them: its name (the first long one declared) and its short ones (-q).
    The long names declared after the first are old spellings (`train-temporal --cnn`, now --model): they still
    work, and are not shown, so that each thing has one name across the commands."""
    long_names = [name for name in param.opts if name.startswith("--")]
    return [name for name in param.opts if not name.startswith("--") or name == long_names[0]]


def _help_record(param, ctx):
    """An option's line in its command's help, without its old spellings (:func:`_option_names`)."""
    declared = param.opts
    param.opts = _option_names(param)
    try:
        return param.get_help_record(ctx)
    finally:
        param.opts = declared


def _from_environment(ctx, param) -> str:
    """The environment variable a parameter's value came from (`fervid serve`'s FERVID_SERVE_<OPTION>), else ""."""
    source = ctx.get_parameter_source(param.name) if param.name else None
    if source is None or source.name != "ENVIRONMENT":  # (Typer may run on its own copy of Click's enum)
        return ""
    if isinstance(param.envvar, str):
        return param.envvar
    return f"{ctx.auto_envvar_prefix}_{param.name.upper()}" if ctx.auto_envvar_prefix else ""


class _FervidCommand(typer.core.TyperCommand):
    """Every fervid command, as Click shows a command: ``fervid image [OPTIONS] PATHS...``."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [*([self.options_metavar] if self.options_metavar else []),
                *(_argument_name(p) for p in self.get_params(ctx) if p.param_type_name == "argument")]

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        _FROM_ENVIRONMENT.clear()  # (an earlier command's, in one process: CliRunner's; set again in invoke)
        ctx.meta[COMMAND_LINE] = list(args)  # as typed, before Click parses them: `fervid train` records its own
        try:
            _refuse_repeated_options(self.make_parser(ctx), args)
            return super().parse_args(ctx, args)
        except typer.BadParameter as exc:  # a value out of range, a missing option: one line, as fervid's own are
            param = exc.param
            named = ("/".join(_option_names(param)) if param.param_type_name == "option" else _argument_name(param)) \
                if param is not None else ""
            if param is not None and (envvar := _from_environment(ctx, param)):  # FERVID_SERVE_PORT=eighty
                named = f"{named} (from the environment's {envvar})"
            if not exc.message:  # a missing option or argument: "Missing option '--out'." named as it is typed
                _fail(f"missing {named}" if named else exc.format_message(), EXIT_USAGE)
            _fail(f"{named}: {exc.message[:1].lower()}{exc.message[1:]}" if named else exc.message, EXIT_USAGE)

    def invoke(self, ctx):
        _FROM_ENVIRONMENT.clear()
        _FROM_ENVIRONMENT.update({_option_names(param)[0]: envvar for param in self.get_params(ctx)
                                  if param.param_type_name == "option" and (envvar := _from_environment(ctx, param))})
        _refuse_dash_for_folder(ctx)
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `fervid image ... --csv - | head -1`: the reader has what it wanted, quietly
            _stdout_gone()
            raise typer.Exit(EXIT_PIPE) from None
        except KeyboardInterrupt:  # a command that does not say itself what an interrupt kept (it exited unsaid)
            echo(f"\ninterrupted: {_KEPT_WHEN_INTERRUPTED.get(ctx.info_name, 'stopped before its end')}",
                        fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(_interrupted_status()) from None

    def format_options(self, ctx, formatter) -> None:
        # (click's Parameter has neither hidden nor help: its Option and Typer's Argument have both)
        params = [p for p in self.get_params(ctx) if not getattr(p, "hidden", False)]
        arguments = [(_argument_name(p), p.help or "") for p in params if isinstance(p, typer.core.TyperArgument)]
        options = [_help_record(p, ctx) for p in params if p.param_type_name == "option"]
        for title, rows in (("Arguments", arguments), ("Options", [row for row in options if row])):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


for _command in app.registered_commands:  # one class for all, the commands added anywhere above included
    _command.cls = _FervidCommand

# Click's UsageError, whichever Click Typer runs on (Typer 0.29 ships a copy of its own): BadParameter's base
_UsageError = next(base for base in typer.BadParameter.__mro__ if base.__name__ == "UsageError")


def _usage_error_line(exc, ctx) -> str:
    """A wrong command line Click found (an unknown option or command, an option without its value, an extra
    argument) in one line, its suggestion and the help to read on it: "no such option: --jsn; did you mean --csv
    or --json? (see fervid image -h)". Click printed its usage, a "Try ... -h" line and "Error: ..."."""
    # Typer's "No such command 'imgae'. Did you mean 'image'?" and Click's options' possibilities, said alike
    message = re.sub(r"\.? \(?Did you mean (?:one of: )?(.*)\?\)?$", r"; did you mean \1?", exc.message).rstrip(".")
    possibilities = getattr(exc, "possibilities", None)
    if possibilities:
        message += f"; did you mean {' or '.join(sorted(possibilities))}?"
    # the command it is about: Click names it, or, for an option's missing value, the subcommand being parsed
    path = exc.ctx.command_path if exc.ctx is not None else " ".join(
        filter(None, (ctx.command_path, ctx.invoked_subcommand)))
    return f"{message[:1].lower()}{message[1:]} (see {path} -h)"


@contextlib.contextmanager
def _usage_errors_in_one_line(ctx=None):
    try:
        yield
    except _UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `fervid` alone: its help, as asked for
            raise
        _fail(_usage_error_line(exc, ctx or exc.ctx), EXIT_USAGE)


class _FervidGroup(typer.core.TyperGroup):
    """fervid's command group: a wrong command line, anywhere in it, is one `error:` line and exit 2, as fervid's
    own errors are (a value out of range is said by :class:`_FervidCommand`)."""

    def make_context(self, info_name, args, parent=None, **extra):
        with _usage_errors_in_one_line():  # `fervid --bogus`
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with _usage_errors_in_one_line(ctx):  # `fervid imgae`, `fervid image --bogus`, `fervid image x --max-faces`
            return super().invoke(ctx)

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except _UsageError as exc:  # `fervid "Interview 2.MP4"`: the command that reads it, not a near command's name
            if args and (hint := _command_for_path(args)):
                exc.message = f"No such command {args[0]!r}: {hint}"
            raise


def _command_for_path(args: list[str]) -> str:
    """What to say of a command line whose command is a file's or folder's path (the arguments from the first on,
    joined by spaces, where the shell split a path at them): the command that analyses it, only where it would find
    something to (a folder's search, a file's first bytes); what it is, where none would; "" where the first
    argument looks like no path."""
    from fervid.inference.file_kinds import Family, file_kind
    from fervid.inference.images import IMAGE_SUFFIXES, as_on_disk, holds_video, image_signature, not_media_said
    from fervid.inference.video import VIDEO_SUFFIXES

    path = next((Path(joined) for end in range(min(len(args), 16), 0, -1)
                 if os.path.exists(joined := as_on_disk(" ".join(args[:end])))), None)
    if path is None:
        looks_like_one = "/" in args[0] or os.sep in args[0] or Path(args[0]).suffix.lower() in (
            IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        return ("no such file either; to analyse a file, name the command first: `fervid video FILE`, `fervid image "
                "FILE`" if looks_like_one else "")
    quoted = f'"{path}"' if re.search(r"[^\w@%+=:,./-]", str(path)) else str(path)
    if path.is_dir():
        return _command_for_folder(path, quoted)
    kind = file_kind(path) if path.is_file() else None
    if kind is not None and kind.family is not Family.TEXT:  # a PDF, an archive, a workbook (its name aside)
        # (an archive's and a drawing's come with what to do: "...: unzip it first"; a kind is always said)
        said = not_media_said(path) or kind.phrase
        return f"it is {said}" if ":" in said else f"it is {said}, which fervid does not read"
    if path.suffix.lower() in VIDEO_SUFFIXES or holds_video(path):
        return f"it is a video: analyse it with `fervid video {quoted}`"
    if path.suffix.lower() in IMAGE_SUFFIXES or image_signature(path):
        return f"it is an image: analyse it with `fervid image {quoted}`"
    return (f"it is {kind.phrase if kind else 'a file'}, not a command: `fervid video FILE` analyses a video, `fervid "
            "image FILE` an image")


def _command_for_folder(folder: Path, quoted: str) -> str:
    """The commands that would find files to analyse in a folder given as a command (``quoted`` as it is written in
    a command line), searched as they search it: `fervid video docs` and `fervid image docs` were both offered for
    a folder of a PDF and a zip, and both failed; where neither would find any, why (what the folder holds)."""
    from fervid.inference.images import IMAGE_SUFFIXES, expand_inputs
    from fervid.inference.video import VIDEO_SUFFIXES

    # one search for both kinds (a folder may be a whole disk); what it finds of no image's extension is a video
    found, problems = expand_inputs([str(folder)], IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    images = any(p.suffix.lower() in IMAGE_SUFFIXES for p in found)
    videos = any(p.suffix.lower() not in IMAGE_SUFFIXES for p in found)
    commands = [f"its {what} with `fervid {command} {quoted}`"
                for command, what, there in (("video", "videos", videos), ("image", "images", images)) if there]
    if commands:
        return f"it is a folder: analyse {', '.join(commands)}"
    why = problems[0][1] if problems else "folder holds no image or video files"
    return f"it {why}" if why.startswith("is ") else f"it is a folder that {why.removeprefix('folder ')}"


app.info.cls = _FervidGroup


def _stdout_gone() -> None:
    """stdout, closed by its reader, pointed at the null device: Python's own last flush of it would fail again
    ("Exception ignored ... BrokenPipeError")."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # (not a file: a test's captured output)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


_STOP_SIGNALS: list[str] = []  # "SIGTERM" once one arrived: the interrupted command exits 143, not Ctrl-C's 130


def _stop_like_ctrl_c(signum, frame) -> None:
    """SIGTERM (a job scheduler's time limit, `kill`, a container stopping) stops a command as Ctrl-C does: what
    is finished is kept and said, and a run resumes from it. Killed outright by it, a video's annotated MP4 had no
    index, its tracks JSON and timelines were missing, and a training run said nothing of its last checkpoint.
    (`fervid live --source` ends its session on it, as on Ctrl-C, its outputs written: exit 143 where a file's
    was cut before its end, 0 for a camera's or stream's; `fervid serve` and the live page's server answer it
    themselves: uvicorn shuts down gracefully and exits 0.)"""
    _STOP_SIGNALS.append("SIGTERM")
    raise KeyboardInterrupt("SIGTERM")


def _interrupted_status() -> int:
    """The exit status of an interrupted command: 128 + the signal's number, as a shell reports it."""
    return 143 if _STOP_SIGNALS else 130


def main() -> None:
    import signal

    from fervid.inference.images import set_up_pillow_for_fervid

    standard_streams.prepare()  # closed, full or ASCII-only stdin, stdout and stderr: see the module
    # this process is fervid's: large photos open without Pillow's bomb warning, and Pillow's warnings about a file
    # (a truncated TIFF's "Corrupt EXIF data") do not come before fervid's own line on it
    set_up_pillow_for_fervid()
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    warnings.showwarning = _show_warning
    try:
        try:
            app()
        finally:  # what stdout still buffers, written while an EPIPE can be answered (not at Python's exit)
            sys.stdout.flush()
    except BrokenPipeError:
        _stdout_gone()
        sys.exit(EXIT_PIPE)
    except OSError as exc:  # read-only or full output folder, permission denied: one line, not a traceback
        echo(f"error: {_os_error_line(exc)}", fg=typer.colors.RED, err=True, color=_colour())
        sys.exit(1)
    except SystemExit as exc:  # a command without its own interrupt handling exits as click's Abort does (1)
        if _STOP_SIGNALS and exc.code not in (0, None):
            sys.exit(_interrupted_status())
        _end_for_stdout(exc.code)
        raise


_python_showwarning = warnings.showwarning
_PACKAGE_FOLDER = Path(__file__).resolve().parents[1]


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning of fervid's (a :class:`~fervid.errors.FervidWarning`, or one its own code gives: an ffmpeg too old
    to describe a video) said as the command's other lines are, "warning: ...", not as Python's "path:line:
    UserWarning: ..." with the source line; another package's as Python says it."""
    if file is None and (issubclass(category, FervidWarning)
                         or Path(filename).resolve().is_relative_to(_PACKAGE_FOLDER)):
        echo(f"warning: {message}", fg=typer.colors.YELLOW, err=True, color=_colour())
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


def _end_for_stdout(code) -> None:
    """The end of a command whose stdout could not be written (fervid.apps.standard_streams): a write that failed
    is told, and exits 1 where the command had succeeded; a stdout closed from the start (`>&-`) that was written
    to exits 141, as a closed pipe does."""
    failure = standard_streams.stdout_failure()
    if failure is not None:
        echo(f"error: {_os_error_line(failure)}", fg=typer.colors.RED, err=True, color=_colour())
        if code in (0, None):
            sys.exit(EXIT_FAILED)
    elif code in (0, None) and standard_streams.stdout_lost():
        sys.exit(EXIT_PIPE)


if __name__ == "__main__":
    main()
