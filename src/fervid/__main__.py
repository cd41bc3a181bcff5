"""``python -m fervid``: the ``fervid`` command (where its script is not on PATH, or to pick the Python it runs on)."""

from fervid.apps.cli import main

main()
