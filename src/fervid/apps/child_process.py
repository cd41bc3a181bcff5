"""What a process fervid starts for its work (a ``fervid batch`` worker, a ``fervid serve`` video job) does as it
starts, the same on Linux, macOS and Windows."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
from multiprocessing.connection import wait

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


def end_with_parent() -> None:
    """End this process at once when the process that started it is gone (killed with SIGKILL or from Task
    Manager: no clean-up ran): a ``fervid batch`` worker waited on its task pipe for ever holding its memory, and a
    server's analysis child ran on beside the restarted server's. A process multiprocessing started waits on its
    parent's sentinel (a handle on Windows, where os.getppid() keeps the dead parent's id: an orphan ran on there);
    any other (a Ray worker, whose parent is Ray's) watches its parent's id."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        def watch() -> None:
            wait([parent.sentinel])
            os._exit(1)
    else:
        parent_id = os.getppid()

        def watch() -> None:
            while os.getppid() == parent_id:
                time.sleep(1.0)
            os._exit(1)

    threading.Thread(target=watch, name="fervid-parent-watch", daemon=True).start()
