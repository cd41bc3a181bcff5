"""What a process fervid starts for its work (a ``fervid batch`` worker, a ``fervid serve`` video job) does as it
starts, the same on Linux, macOS and Windows."""

from __future__ import annotations

import contextlib
import os
import sys

# SetPriorityClass's "below normal": the processes this one starts (FFmpeg's encoder) inherit it, as a nice value is
BELOW_NORMAL_PRIORITY_CLASS = 0x4000


def lower_priority() -> None:
    """This process below its parent's CPU priority (nice 10, Windows' "below normal"), so that the server that
    started it stays responsive; left as it is where the system refuses. Windows has no os.nice (every video job
    failed on it with AttributeError)."""
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(10)
    elif sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        kernel32.SetPriorityClass(kernel32.GetCurrentProcess(), BELOW_NORMAL_PRIORITY_CLASS)  # 0 on failure: kept
