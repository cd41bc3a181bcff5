"""What the benchmark scripts share: writing their measurements as a JSON file (``--json``)."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: Path | None, report: dict) -> None:
    """Write ``report`` to ``path`` (parents made), and say so; nothing when no path was asked for."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
