"""Reading the tables people keep beside their data (annotated video segments, labelled images): CSV, or tab- or
semicolon-separated, as spreadsheets save them, with each row's line in the file kept for the messages."""

from __future__ import annotations

import csv
import re
from pathlib import Path


def table_text(path: Path) -> str:
    """The table's text: UTF-8, with the byte-order mark Excel's "CSV UTF-8" starts with dropped; else Windows'
    Western encoding (Excel's older "CSV")."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def table_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-empty rows, each with the line of the file it starts on (a quoted cell may hold line
    breaks; blank lines and rows of empty cells, as spreadsheets save them, are skipped). The separator (comma, tab
    or semicolon) is sniffed from the header."""
    first = text.split("\n", 1)[0]
    try:
        dialect = csv.Sniffer().sniff(first, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text.splitlines(keepends=True), dialect)
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    begins = reader.line_num + 1
    for row in reader:
        if any(cell.strip() for cell in row):
            if header:
                rows.append((begins, row))
            else:
                header = row
        begins = reader.line_num + 1
    return header, rows


def table_header(path: str | Path) -> list[str]:
    """A table's header (its first line), or [] where the file is not text (FER2013's .csv.gz) or cannot be read:
    what tells one kind of table from another without reading it all."""
    try:
        with open(path, "rb") as f:
            first = f.readline(10_000)
        if b"\0" in first:  # binary, such as FER2013's .csv.gz (Python 3.10's csv raises on it)
            return []
        header, _ = table_rows(first.decode("utf-8-sig", errors="replace"))
    except (OSError, csv.Error):
        return []
    return header


def find_column(header: list[str], accepted: tuple[str, ...]) -> int | None:
    """The index of the column named one of ``accepted`` (without case or surrounding spaces): an exact name first
    ("emotion" before "emotion confidence"), else a name that starts with one and a space, or with one and a unit
    after an underscore ("start_ms", "end_s"); None where none is."""
    words = [str(column).strip().lower() for column in header]
    for exact in (True, False):
        for index, word in enumerate(words):
            if any(word == name if exact else (word.startswith(f"{name} ") or _UNIT_SUFFIX.fullmatch(word[len(name):])
                                               and word.startswith(name)) for name in accepted):
                return index
    return None


# a time column's unit written after an underscore, as a name column of code writes it (start_ms, onset_sec)
_UNIT_SUFFIX = re.compile(r"_(?:s|sec|secs|seconds|ms|msec|milliseconds)")
