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


def find_column(header: list[str], accepted: tuple[str, ...], unless: tuple[str, ...] = ()) -> int | None:
    """The index of the column named one of ``accepted``, compared without case, with spaces, underscores and hyphens
    alike ("Start Time", "start_time" and "start-time" are one name): an exact name first ("emotion" before "emotion
    confidence"), else a name that starts with one and more words ("video_file", "start_ms", "Begin Time - msec"),
    none of them one of ``unless`` (("frame",) leaves "start_frame" out, a frame number where a time is wanted); in
    each, the names in ``accepted``'s order ("video" before "clip" where a table has both). None where none is."""
    words = [column_words(column) for column in header]
    for exact in (True, False):
        for name in accepted:
            for index, word in enumerate(words):
                if word == name if exact else (word.startswith(f"{name} ") and
                                               not set(re.findall(r"[a-z]+", word[len(name):])) & set(unless)):
                    return index
    return None


def column_words(name: object) -> str:
    """A column's name as :func:`find_column` compares it: lower case, each run of spaces, underscores and hyphens
    one space."""
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().lower()
