"""benchmarks/avx2_only/run: a command run through it sees no AVX-512, AVX-VNNI or AMX (numpy, OpenCV and ONNX
Runtime choose their kernels by the cpuid instruction), a crash still reaches Python's faulthandler, and the CPU
fervid names says what was hidden."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark_scripts import FOLDER, script_environment

RUN = Path(FOLDER) / "avx2_only" / "run"
FLAGS = Path("/proc/cpuinfo").read_text(encoding="utf-8") if Path("/proc/cpuinfo").is_file() else ""
CAN_FAULT = " cpuid_fault" in FLAGS and shutil.which(os.environ.get("CC", "cc")) is not None
pytestmark = pytest.mark.skipif(not CAN_FAULT, reason="needs Linux with the cpuid_fault CPU flag and a C compiler")

# what numpy and OpenCV say they may use, and the CPU fervid names
PROBE = """
import cv2
from numpy._core._multiarray_umath import __cpu_features__ as numpy_features
from fervid.machine import cpu_model
print(numpy_features["AVX2"], numpy_features["AVX512F"], numpy_features["AVX512_SKX"])
print(" ".join(f for f in cv2.getCPUFeaturesLine().split() if f.startswith("*AVX512")))
print(cpu_model())
"""


def probe(*prefix: str, tmp_path: Path) -> list[str]:
    env = {**script_environment(), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("FERVID_HIDDEN_CPU_FEATURES", None)
    done = subprocess.run([*prefix, sys.executable, "-c", PROBE], capture_output=True, text=True,
                          encoding="utf-8", env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_command_run_through_it_sees_avx2_but_no_avx512_and_says_so(tmp_path):
    native = probe(tmp_path=tmp_path)
    limited = probe("bash", str(RUN), tmp_path=tmp_path)  # (bash: an unpacked sdist may not keep its mode)
    assert limited[0] == "True False False"  # AVX2 kept, AVX-512 gone for numpy's dispatch
    # OpenCV marks a baseline feature the CPU lacks with "?" (compiled in, not available)
    assert all(feature.endswith("?") for feature in limited[1].split())
    assert limited[2] == f"{native[2]} (AVX-512, AVX-VNNI and AMX hidden)"
    assert (tmp_path / "cache" / "fervid-benchmarks" / "avx2_only.so").is_file()
    if " avx512f" in FLAGS:  # on a CPU with AVX-512 the probe sees it without the shim: the check above can fail
        assert native[0] == "True True True" and native[1] and not native[1].endswith("?")
        assert "hidden" not in native[2]


def test_a_real_crash_still_reaches_pythons_faulthandler(tmp_path):
    """pytest and `python -X faulthandler` install their own SIGSEGV handler; the shim keeps its own first (else the
    next cpuid would be taken for a crash) and hands real crashes on."""
    code = ("import faulthandler, ctypes; faulthandler.enable()\n"
            "from numpy._core._multiarray_umath import __cpu_features__ as f; print(f['AVX512F'], flush=True)\n"
            "ctypes.string_at(0)")
    env = {**script_environment(), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(["bash", str(RUN), sys.executable, "-c", code], capture_output=True, text=True,
                          encoding="utf-8", env=env,
                          timeout=120)
    assert done.stdout == "False\n"
    assert done.returncode == -11 and "Fatal Python error: Segmentation fault" in done.stderr


def test_without_a_command_it_shows_its_usage_and_fails(tmp_path):
    done = subprocess.run(["bash", str(RUN)], capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 2 and "benchmarks/avx2_only/run python benchmarks/bench_video.py" in done.stderr
