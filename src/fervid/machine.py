"""What the machine is (no torch): CPU model and feature flags, for speed figures, model cards and the choice of
training precision. Every speed figure fervid reports names its CPU, because the CPUs it runs on differ. And the
longest path it opens, which Windows limits unless long paths were enabled."""

from __future__ import annotations

import errno
import os
import platform
import subprocess
import sys
from pathlib import Path

from fervid.errors import OptionError, PathTooLongError


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:  # macOS, Windows
        return []


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    for line in _cpuinfo():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


# the user's OMP_NUM_THREADS, as the process started: fervid sets it itself while yuface's OpenMP starts (detect.py) and in
# `fervid batch`'s workers, which must not read their own setting back as the user's bound
_USER_OMP_NUM_THREADS = os.environ.get("OMP_NUM_THREADS")


def usable_cpus() -> int:
    """The CPUs this process may run on, at most the user's ``OMP_NUM_THREADS`` where set: those it is allowed
    (its affinity: `taskset`, a Slurm job's or a container's cpuset; ``os.process_cpu_count`` from Python 3.13), not
    the machine's count. Under `taskset -c 0` on 2 cores os.cpu_count() said 2, and `fervid batch` gave its one
    worker 2 threads on the one CPU it had."""
    if hasattr(os, "process_cpu_count"):
        count = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:  # macOS, Windows before 3.13: no affinity to ask
        count = os.cpu_count()
    count = count or 1
    bound = (_USER_OMP_NUM_THREADS or "").split(",")[0].strip()  # "4,2": OpenMP's threads per nesting level
    return min(count, int(bound)) if bound.isdigit() and int(bound) >= 1 else count


def threads_per_worker(workers: int) -> int:
    """Threads for each of ``workers`` processes sharing :func:`usable_cpus` (`fervid batch`'s)."""
    return max(1, usable_cpus() // workers)


def inference_threads(threads: int | None) -> int:
    """Threads for one inference session: ``threads`` when given, else at most 2 (fervid's networks are small; more
    threads per session cost more in hand-offs than they gain) and at most :func:`usable_cpus`. A count below 1 is
    refused: ONNX Runtime would read 0 or -1 as "every core", the opposite of a bound."""
    if threads is None:
        return min(2, usable_cpus())
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise OptionError(f"threads must be a whole number of at least 1 (or None for fervid's default), not {threads!r}")
    return threads


def session_options(threads: int | None, spin: bool = False):
    """ONNX Runtime session options for one of fervid's networks: ``threads`` as :func:`inference_threads` bounds
    them, one graph run at a time, and (``spin`` False) worker threads that sleep between runs. Spinning, ONNX
    Runtime's default, keeps them busy-waiting after each run: the detector's, the CNN's and the LSTM's workers took
    the cores from the decoding, tracking and writing between them and from the other programs on the machine.
    Measured on a 2-core AMD EPYC (benchmarks/bench_spinning.py, medians of 3 rounds): a 640x480 video at 135 fps
    spinning against 236 fps sleeping (14.3 against 7.0 ms of CPU a frame) on an idle machine, 97 against 188 fps
    beside one busy process; photos back to back 32 against 54 a second; a photo every 50 ms 106 against 29 ms of
    CPU each."""
    import onnxruntime as ort

    # On Windows ONNX Runtime's usage events go to Windows' event tracing (ETW), which ORT_DISABLE_TELEMETRY
    # (fervid.onnx_runtime_telemetry) does not reach: this call turns them off there, before any session is made
    ort.disable_telemetry_events()
    options = ort.SessionOptions()
    options.intra_op_num_threads = inference_threads(threads)
    options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def thread_count(threads: int) -> str:
    """How many threads, in words: "1 thread", "8 threads" (a training record's machine, the model card's line)."""
    return f"{threads} thread{'s' * (threads != 1)}"


def cpu_model() -> str:
    """The CPU's model name, e.g. "AMD EPYC" or "Apple M2 Pro", and what of it is hidden from this process where
    ``benchmarks/avx2_only/run`` hides instruction sets (``FERVID_HIDDEN_CPU_FEATURES``): a figure taken so names
    the CPU it was taken on and the instruction sets it ran without."""
    hidden = os.environ.get("FERVID_HIDDEN_CPU_FEATURES")
    name = _cpu_name()
    return f"{name} ({hidden} hidden)" if hidden else name


def _cpu_name() -> str:
    for line in _cpuinfo():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    # platform.processor() says only "arm" on an Apple Silicon Mac and a family/model/stepping code on Windows
    system = platform.system()
    name = _macos_cpu_name() if system == "Darwin" else _windows_cpu_name() if system == "Windows" else ""
    return name or platform.processor() or platform.machine()


# where an app frozen by PyInstaller points the library loader at the libraries bundled with it (LD_LIBRARY_PATH on
# Linux and the BSDs, LIBPATH on AIX), keeping the value it replaced in <name>_ORIG
FROZEN_LIBRARY_PATHS = ("LD_LIBRARY_PATH", "LIBPATH")


def program_environment() -> dict[str, str] | None:
    """The environment of a program fervid runs (ffmpeg, sysctl): None, this process's own (Popen's default), except
    in an app frozen by PyInstaller, whose bootloader put the app's bundled libraries first in LD_LIBRARY_PATH; a
    program of the system's (an ffmpeg named by IMAGEIO_FFMPEG_EXE, or found on PATH) inherited it and could load the
    bundle's copies, built for the app, and fail. There it gets the value the app started with (which PyInstaller
    keeps in LD_LIBRARY_PATH_ORIG), or none where there was none: PyInstaller's documented fix ("Launching External
    Programs from the Frozen Application")."""
    if not (getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS")):  # (sys._MEIPASS: PyInstaller's, not
        return None  # another freezer's, which leaves the loader's variables as they were)
    env = dict(os.environ)
    for name in FROZEN_LIBRARY_PATHS:
        original = env.get(f"{name}_ORIG")
        if original is not None:
            env[name] = original
        else:
            env.pop(name, None)
    return env


def program_creationflags(flags: int = 0) -> int:
    """Popen's ``creationflags`` for a program fervid runs (ffmpeg, sysctl): ``flags``, the call's own (a new
    process group), with CREATE_NO_WINDOW on Windows where this process has no console (an app frozen windowed, as
    PyInstaller's --windowed makes one, or run by pythonw): a console program started from such a process was given
    a console window of its own, which flashed up at each ffmpeg fervid ran. Where this process has a console the
    program shares it, so no window opens, and the flag is left out: it would cut the program off from that console
    (what it writes to the standard error it inherits, the encoder's messages, was lost). ``flags`` elsewhere,
    where Popen takes no other value than 0."""
    if sys.platform != "win32":
        return flags
    import ctypes

    if ctypes.windll.kernel32.GetConsoleWindow():
        return flags
    return flags | subprocess.CREATE_NO_WINDOW


def _macos_cpu_name() -> str:
    try:
        done = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                              encoding="utf-8", timeout=5, env=program_environment(),
                              creationflags=program_creationflags())
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _windows_cpu_name() -> str:
    if sys.platform != "win32":  # (called on Windows only; says so to type checkers, which read winreg there only)
        return ""
    try:
        import winreg

        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0") as key:
            return str(winreg.QueryValueEx(key, "ProcessorNameString")[0]).strip()
    except (ImportError, OSError):
        return ""


# Windows' MAX_PATH (260 UTF-16 code units) less the NUL that ends a path: the longest path Windows opens for any
# program until long paths are enabled (Python declares itself able to take longer ones; the system's setting decides)
WINDOWS_MAX_PATH = 259
# what lets Windows open longer paths, as fervid's errors say it
ENABLE_LONG_PATHS = ('enable long paths in Windows (as an administrator: the group policy "Enable Win32 long paths", '
                     r"or the registry value HKLM\SYSTEM\CurrentControlSet\Control\FileSystem\LongPathsEnabled "
                     "set to 1)")


def long_paths_limited() -> bool:
    """Whether paths longer than :data:`WINDOWS_MAX_PATH` fail here: on Windows where long paths are not enabled
    (the registry's LongPathsEnabled is not 1, or cannot be read). False elsewhere: Linux and macOS open paths of
    4096 and 1024 bytes, longer than any fervid writes."""
    return sys.platform == "win32" and not _windows_long_paths_enabled()


def _windows_long_paths_enabled() -> bool:
    if sys.platform != "win32":  # (called on Windows only; says so to type checkers, which read winreg there only)
        return False
    try:
        import winreg

        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SYSTEM\CurrentControlSet\Control\FileSystem") as key:
            return winreg.QueryValueEx(key, "LongPathsEnabled")[0] == 1
    except (ImportError, OSError):  # no such value (never set; Windows before 10 1607): not enabled
        return False


def windows_path_length(path: str | Path) -> int:
    """``path``'s length as Windows counts it against :data:`WINDOWS_MAX_PATH`: made absolute (a relative path is
    opened from the current folder) and in UTF-16 code units (a character beyond the BMP, an emoji, counts 2)."""
    return len(os.path.abspath(path).encode("utf-16-le", "surrogatepass")) // 2


def path_too_long(folder: str | Path, longest: str, names: str, written: str, option: str, rename: str = ""
                  ) -> PathTooLongError | None:
    """The error for outputs in ``folder`` whose longest path, as written, is ``longest`` in it (a name, or a path
    under it), where that passes :data:`WINDOWS_MAX_PATH`; None where it fits. For a machine where
    :func:`long_paths_limited`, asked before anything is written: mid-way, a file whose outputs did not fit failed
    with its work lost. ``names``: the outputs, as the error names them in the folder ("cam_*"); ``written``: which
    is the longest ("a key frame's temporary file"); ``option``: what names the folder
    ("--out"); ``rename``: what a shorter name would be of ("the video"), where an input's name is in theirs."""
    length = windows_path_length(os.path.join(folder, longest))
    if length <= WINDOWS_MAX_PATH:
        return None
    most = WINDOWS_MAX_PATH - (length - windows_path_length(folder))  # for the folder's path
    fixes = [f"a shorter {option} (of at most {most} characters as a full path)"] if most >= 4 else []  # (C:\x)
    fixes += [f"a shorter name to {rename}"] if rename else []
    advice = f"give {' or '.join(fixes)}, or {ENABLE_LONG_PATHS}" if fixes else ENABLE_LONG_PATHS
    return PathTooLongError(errno.ENAMETOOLONG, f"written as paths of up to {length} characters ({written}), more "
                            f"than the {WINDOWS_MAX_PATH} Windows opens where long paths are not enabled: {advice}",
                            os.path.join(folder, names))
