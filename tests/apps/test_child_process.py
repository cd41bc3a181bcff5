import os
import subprocess
import sys

from fervid.apps.child_process import lower_priority


def test_lower_priority_lowers_this_process_priority():
    """nice 10 where the system has it: the server that started the process stays responsive."""
    niceness = subprocess.run([sys.executable, "-c", "import os; from fervid.apps.child_process import "
                               "lower_priority; lower_priority(); print(os.nice(0))"],
                              capture_output=True, encoding="utf-8", check=True).stdout
    assert int(niceness) == min(os.nice(0) + 10, 19)


def test_lower_priority_where_python_has_no_os_nice(monkeypatch):
    """Windows has no os.nice: a server's video job died of the AttributeError before it analysed anything."""
    monkeypatch.delattr(os, "nice")
    lower_priority()
