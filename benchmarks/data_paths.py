"""Where the benchmark scripts find the data, and how they stop when it is not there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fervid.evaluation.datasets import DatasetError

# ../shared/data beside the checkout, as docs/reproduce.sh has it: the same folder wherever a script is started from
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@contextmanager
def data_or_exit(hint: str = "") -> Iterator[None]:
    """A dataset that cannot be read (DatasetError names its path and what is wrong) ends the script with that one
    line and exit status 1, not a traceback."""
    try:
        yield
    except DatasetError as exc:
        raise SystemExit(f"error: {exc}{hint}") from None
