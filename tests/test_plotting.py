"""fervid.plotting: matplotlib set up quietly where its own folders cannot be written."""

import os
import subprocess
import sys

import pytest

from fervid.samples import carphone
from conftest import needs_sample_clip


@needs_sample_clip
@pytest.mark.skipif(os.name == "nt", reason="Windows keeps matplotlib's folders its own way")
def test_an_unwritable_home_prints_nothing_of_matplotlibs(tmp_path):
    """With HOME read-only or unset (a cluster node, a container), `fervid video -q` printed matplotlib's "mkdir -p
    failed for path ..." and "Matplotlib created a temporary cache directory ..." as it drew the timelines."""
    no_home = tmp_path / "home"
    no_home.write_text("a file where the home folder should be: nothing can be made in it, not even by root")
    env = {name: value for name, value in os.environ.items()
           if name not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    done = subprocess.run([sys.executable, "-m", "fervid", "video", str(carphone()), "--out", str(tmp_path / "v"),
                           "-q", "--no-annotate"], capture_output=True, text=True, encoding="utf-8", timeout=300,
                          env={**env, "HOME": str(no_home)})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert list((tmp_path / "v").glob("*_timeline.png"))
    # a writable MPLCONFIGDIR of the user's is kept
    script = ("from fervid.plotting import prepare_matplotlib; prepare_matplotlib(); import matplotlib; "
              "print(matplotlib.get_configdir())")
    mine = tmp_path / "mpl"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, encoding="utf-8", timeout=120,
                          env={**env, "HOME": str(no_home), "MPLCONFIGDIR": str(mine)})
    assert done.stdout.strip() == str(mine) and done.stderr == "", done.stderr
    # an unwritable one is replaced, quietly
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, encoding="utf-8", timeout=120,
                          env={**env, "HOME": str(no_home), "MPLCONFIGDIR": str(no_home / "mpl")})
    assert "fervid-matplotlib-" in done.stdout and done.stderr == "", done.stderr


@pytest.mark.skipif(os.name == "nt", reason="Windows keeps matplotlib's folders its own way")
def test_a_fresh_folder_made_where_fervids_own_is_another_users_is_removed_at_exit(tmp_path):
    """Where $TMPDIR/fervid-matplotlib-<uid> is not this user's to use (another user's, or a link planted there),
    each run made a fresh fervid-matplotlib-XXXX folder and left it behind."""
    no_home = tmp_path / "home"
    no_home.write_text("a file where the home folder should be")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    (temporary / f"fervid-matplotlib-{os.getuid()}").symlink_to(tmp_path)  # not to be used
    env = {name: value for name, value in os.environ.items()
           if name not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    script = ("import os; from fervid.plotting import prepare_matplotlib; prepare_matplotlib(); "
              "import matplotlib.pyplot; print(os.environ['MPLCONFIGDIR'], os.path.isdir(os.environ['MPLCONFIGDIR']))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, encoding="utf-8", timeout=120,
                          env={**env, "HOME": str(no_home), "TMPDIR": str(temporary)})
    folder, existed = done.stdout.split()
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert folder.startswith(str(temporary / "fervid-matplotlib-")) and existed == "True"
    assert sorted(p.name for p in temporary.iterdir()) == [f"fervid-matplotlib-{os.getuid()}"]  # removed at exit
