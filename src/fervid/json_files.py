"""fervid's JSON outputs, written one way: UTF-8, with names in their own letters."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def json_bytes(document: Any, indent: int | None = 2) -> bytes:
    """``document`` as UTF-8 JSON, each name as it is written ("in/emoção.png": Python's ASCII escapes,
    "in/emo\\u00e7\\u00e3o.png", were what a person reading the file saw). A name that is not UTF-8 on disk (the
    surrogates Python decodes its bytes to, "\\udcff") stays escaped, as JSON's "\\udcff" that reads back as the
    same name: written as it was, it raised UnicodeEncodeError and the output was lost."""
    return json.dumps(document, indent=indent, ensure_ascii=False).encode("utf-8", "backslashreplace")


def json_text(document: Any, indent: int | None = 2) -> str:
    """:func:`json_bytes` as text (each non-UTF-8 name escaped), for a line that holds JSON."""
    return json_bytes(document, indent).decode("utf-8")


def write_json(path: str | Path, document: Any, indent: int | None = 2) -> None:
    """Write ``document`` to ``path`` as :func:`json_bytes` writes it (as text: lines end as the system ends
    them, as before)."""
    Path(path).write_text(json_text(document, indent), encoding="utf-8")
