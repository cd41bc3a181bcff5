"""What the benchmark scripts share: writing their measurements as a JSON file (``--json``), and naming the files
they measured as a published record may (:func:`shown_path`)."""

from __future__ import annotations

import json
from pathlib import Path

import fervid

REPOSITORY = Path(__file__).resolve().parent.parent
PACKAGE = Path(fervid.__file__).resolve().parent


def shown_path(path: Path | str) -> str:
    """``path`` as a record under docs/ names it: a file of the installed package as ``fervid/...`` (the form
    ``fervid evaluate`` records a shipped model in: ``fervid/weights/<name>``), one in the repository from its root,
    anything else by its name alone. Records named the machine's absolute path (``/work/wt-repro/src/fervid/
    weights/...``, a ``/tmp/`` folder): a user's would name their home folder, and no reader has those paths."""
    resolved = Path(path).resolve()
    for root, prefix in ((PACKAGE, "fervid"), (REPOSITORY, "")):
        if resolved.is_relative_to(root):
            return (Path(prefix) / resolved.relative_to(root)).as_posix()
    return resolved.name


def write_json(path: Path | None, report: dict) -> None:
    """Write ``report`` to ``path`` (parents made), and say so; nothing when no path was asked for."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
