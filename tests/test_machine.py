"""What fervid says the machine is: every speed figure and model card names the CPU."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fervid import machine


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="Linux: the model name is in /proc/cpuinfo")
def test_linux_cpu_model_and_flags_come_from_proc_cpuinfo():
    text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    names = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")]
    if names:
        assert machine.cpu_model() == names[0]
    flag_lines = [line for line in text.splitlines() if line.startswith(("flags", "Features"))]
    assert machine.cpu_flags() == (set(flag_lines[0].split(":", 1)[1].split()) if flag_lines else set())


def test_macos_names_its_chip_not_just_arm(monkeypatch):
    """On a Mac, /proc/cpuinfo is missing and platform.processor() says "arm"; sysctl has the chip's name."""
    calls = []

    class Done:
        returncode, stdout = 0, "Apple M2 Pro\n"

    def sysctl(cmd, **kwargs):
        calls.append(cmd)
        return Done()

    monkeypatch.setattr(machine, "_cpuinfo", lambda: [])
    monkeypatch.setattr(machine.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(machine.platform, "processor", lambda: "arm")
    monkeypatch.setattr(machine.subprocess, "run", sysctl)
    assert machine.cpu_model() == "Apple M2 Pro"
    assert calls == [["sysctl", "-n", "machdep.cpu.brand_string"]]
    monkeypatch.setattr(machine.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(FileNotFoundError()))
    assert machine.cpu_model() == "arm"  # no sysctl: the old answer, not an error


def test_fervids_onnx_sessions_sleep_between_runs_instead_of_spinning():
    """ONNX Runtime's workers busy-wait after each run by default: the detector's, the CNN's and the LSTM's took the
    cores from decoding, tracking and writing between them (and from other programs), and an app analysing a photo
    a second kept most of a core busy. Every session fervid makes lets its threads sleep."""
    from fervid.inference.analyzer import Analyzer
    from fervid.inference.video import VideoAnalyzer, VideoOptions

    analyzer = Analyzer()
    runner = VideoAnalyzer(analyzer, VideoOptions(method="lstm"))
    sessions = {"detector": analyzer.detector.session, "cnn": analyzer.cnn.session,
                "lstm": runner.temporal.session}
    for name, session in sessions.items():
        entry = session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
        assert entry == "0", name
    spinning = machine.session_options(None, spin=True)  # ONNX Runtime's default: the entry is not there
    with pytest.raises(RuntimeError, match="allow_spinning"):
        spinning.get_session_config_entry("session.intra_op.allow_spinning")


def test_every_onnx_session_fervid_makes_has_onnx_runtimes_telemetry_events_turned_off_first(monkeypatch):
    """On Windows ONNX Runtime's usage events go to Windows' event tracing, which ORT_DISABLE_TELEMETRY does not
    reach: fervid turns them off through ONNX Runtime's own call before each of its sessions (the detector's, the
    CNN's, the LSTM's) is made."""
    import onnxruntime as ort

    from fervid.inference.analyzer import Analyzer
    from fervid.inference.video import VideoAnalyzer, VideoOptions

    calls: list[str] = []
    real_options = ort.SessionOptions
    monkeypatch.setattr(ort, "disable_telemetry_events", lambda: calls.append("off"))
    monkeypatch.setattr(ort, "SessionOptions", lambda: calls.append("session") or real_options())
    analyzer = Analyzer()
    VideoAnalyzer(analyzer, VideoOptions(method="lstm"))
    assert calls.count("session") >= 3  # detector, CNN, LSTM
    assert calls == ["off", "session"] * calls.count("session")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity to set (macOS, Windows)")
def test_threads_count_the_cpus_this_process_may_use_and_the_users_omp_num_threads():
    """`taskset -c 0 fervid batch ...` on 2 cores gave its worker 2 threads (os.cpu_count() counts the machine's,
    not a Slurm job's or a container's cpuset), and each worker wrote over a user's OMP_NUM_THREADS."""
    script = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
              "from fervid.machine import inference_threads, threads_per_worker, usable_cpus; "
              "print(usable_cpus(), threads_per_worker(1), inference_threads(None))")
    unset = {name: value for name, value in os.environ.items() if name != "OMP_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          encoding="utf-8", timeout=60, env=unset)
    assert done.stdout.split() == ["1", "1", "1"], done.stderr
    # a user's OMP_NUM_THREADS bounds them, whatever fervid sets it to itself afterwards (yuface's OpenMP)
    script = ("import os; from fervid import machine; os.environ['OMP_NUM_THREADS'] = '8'; "
              "print(machine.usable_cpus(), machine.threads_per_worker(2))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, encoding="utf-8", timeout=60,
                          env={**unset, "OMP_NUM_THREADS": "1"})
    assert done.stdout.split() == ["1", "1"], done.stderr


def _windows(monkeypatch, long_paths_value=None, unreadable: bool = False):
    """``machine`` as on Windows, its registry's LongPathsEnabled ``long_paths_value`` (None: the value is not there;
    ``unreadable``: no winreg to read it with, as here)."""
    import types

    monkeypatch.setattr(machine, "sys", types.SimpleNamespace(platform="win32"))
    if unreadable:
        monkeypatch.setitem(sys.modules, "winreg", None)  # (import winreg: ImportError)
        return
    read = []

    class Key:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def open_key(root, path):
        read.append((root, path))
        return Key()

    def query_value(key, name):
        if long_paths_value is None:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return long_paths_value, 4  # (REG_DWORD)

    winreg = types.SimpleNamespace(HKEY_LOCAL_MACHINE="HKLM", OpenKey=open_key, QueryValueEx=query_value)
    monkeypatch.setitem(sys.modules, "winreg", winreg)
    return read


def test_long_paths_are_limited_on_windows_unless_enabled_there(monkeypatch):
    """Windows opens no path of more than 259 characters (MAX_PATH) for a program until an administrator enabled long
    paths (LongPathsEnabled = 1 in the registry); Linux and macOS are not limited."""
    import types

    monkeypatch.setattr(machine, "sys", types.SimpleNamespace(platform="linux"))
    assert not machine.long_paths_limited()
    read = _windows(monkeypatch, 1)
    assert not machine.long_paths_limited()
    assert read == [("HKLM", r"SYSTEM\CurrentControlSet\Control\FileSystem")]
    _windows(monkeypatch, 0)
    assert machine.long_paths_limited()
    _windows(monkeypatch, None)  # never set: limited, as Windows is then
    assert machine.long_paths_limited()
    _windows(monkeypatch, unreadable=True)
    assert machine.long_paths_limited()


def test_a_path_too_long_for_windows_is_said_with_its_length_and_both_fixes(tmp_path, monkeypatch):
    """Counted as Windows counts it: made absolute (a relative path from the current folder), in UTF-16 units."""
    monkeypatch.chdir(tmp_path)
    assert machine.windows_path_length("a\U0001F600") == len(str(tmp_path)) + 1 + 3  # (an emoji is 2 units)
    name = "x" * (machine.WINDOWS_MAX_PATH - len(str(tmp_path)) - 1)
    assert machine.path_too_long(".", name, "x_*", "x's", "--out") is None  # 259: fits
    error = machine.path_too_long(".", name + "y", "x_*", "its key frame's temporary file", "--out", "the video")
    assert isinstance(error, OSError) and error.filename == os.path.join(".", "x_*")
    assert str(error) == (
        f"{os.path.join('.', 'x_*')}: written as paths of up to 260 characters (its key frame's temporary file), "
        f"more than the 259 Windows opens where long paths are not enabled: give a shorter --out (of at most "
        f"{len(str(tmp_path)) - 1} characters as a full path) or a shorter name to the video, or enable long paths in "
        'Windows (as an administrator: the group policy "Enable Win32 long paths", or the registry value '
        r"HKLM\SYSTEM\CurrentControlSet\Control\FileSystem\LongPathsEnabled set to 1)")


CREATE_NO_WINDOW, CREATE_NEW_PROCESS_GROUP = 0x08000000, 0x00000200  # Windows' values


def _console(monkeypatch, window: int) -> None:
    """Windows' kernel32 where this process's console window is ``window`` (0: it has no console, as a windowed
    app), and subprocess's Windows flags (there only on Windows)."""
    import ctypes
    import types

    kernel32 = types.SimpleNamespace(GetConsoleWindow=lambda: window)
    monkeypatch.setattr(ctypes, "windll", types.SimpleNamespace(kernel32=kernel32), raising=False)
    monkeypatch.setattr(subprocess, "CREATE_NO_WINDOW", CREATE_NO_WINDOW, raising=False)
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", CREATE_NEW_PROCESS_GROUP, raising=False)


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_programs_open_no_console_window_in_a_windowed_windows_app(monkeypatch, platform):
    """In an app without a console (PyInstaller's --windowed) on Windows each ffmpeg was given a console window of
    its own, which flashed up: it is started with CREATE_NO_WINDOW there, with the flags a call passes itself kept.
    Not where fervid has a console (the program shares it, and the flag would cut off its messages), and never
    elsewhere, where Popen takes no flags."""
    from fervid.inference import video

    _console(monkeypatch, 0)
    monkeypatch.setattr(sys, "platform", "win32")
    assert machine.program_creationflags() == CREATE_NO_WINDOW
    assert machine.program_creationflags(CREATE_NEW_PROCESS_GROUP) == CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW
    assert video._ffmpeg_popen_options() == {"creationflags": CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW}
    _console(monkeypatch, 0x1F0A2C)  # a console window: `fervid` run from a terminal
    assert machine.program_creationflags() == 0
    assert video._ffmpeg_popen_options() == {"creationflags": CREATE_NEW_PROCESS_GROUP}
    monkeypatch.setattr(sys, "platform", platform)
    _console(monkeypatch, 0)
    assert machine.program_creationflags() == 0
    assert video._ffmpeg_popen_options() == {"start_new_session": True, "creationflags": 0}


def test_every_program_fervid_runs_is_given_its_creationflags():
    """Each program fervid starts gets program_creationflags' flags, directly or through video's
    _ffmpeg_popen_options: one started without them opened a console window in a windowed Windows app."""
    import ast

    from conftest import PACKAGE

    starts, without = [], []
    for source in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "subprocess"
                    and node.func.attr in ("run", "Popen", "call", "check_call", "check_output")):
                where = f"{source.relative_to(PACKAGE)}:{node.lineno}"
                starts.append(where)
                if not any(keyword.arg == "creationflags" and "program_creationflags(" in ast.unparse(keyword.value)
                           or keyword.arg is None and ast.unparse(keyword.value) == "_ffmpeg_popen_options()"
                           for keyword in node.keywords):
                    without.append(where)
    assert len(starts) >= 12 and without == []
