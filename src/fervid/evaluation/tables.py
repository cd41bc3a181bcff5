"""Reading the tables people keep beside their data (annotated video segments, labelled images): CSV, or tab- or
semicolon-separated, as spreadsheets save them, with each row's line in the file kept for the messages."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from fervid.inference.file_kinds import Family, FileKind, file_kind

# how to make a CSV of a table kept in a spreadsheet, or in a document, as said where its own file is given instead
# (Apple's Numbers saves no CSV: it exports one)
SAVE_AS_CSV = "save it as CSV (Excel: File > Save As > CSV UTF-8; LibreOffice: File > Save As > Text CSV)"
_SAVE_AS_CSV_FROM = {"numbers": "export it as CSV (Numbers: File > Export To > CSV)"}
_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


def not_a_text_table(path: Path) -> str | None:
    """What ``path`` is, where its first bytes say it is no text table, and what to do: a spreadsheet's or a word
    processor's own file (a CSV is read, not .xlsx), an archive, a PDF (:func:`file_kind`), an image, a video, or
    other binary data; None where it may be one. Said so that its bytes are never echoed as a header (an .xlsx
    given as a table printed "its columns are PK\\x03\\x04...", a video ~1 KB of control characters)."""
    from fervid.inference.images import NOT_VIDEO_CONTAINERS, image_signature, video_container

    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(_UTF16_MARKS):  # UTF-16 text (Excel's "Unicode Text"), as table_text reads it
        return None
    kind = file_kind(path)
    if kind is not None and kind.family is not Family.TEXT:  # (a text file may be a table)
        return _not_a_csv(kind)
    image = image_signature(path)
    if image is not None:
        return f"a {image} image, not a CSV table"
    container = video_container(path)
    if container is not None and container not in NOT_VIDEO_CONTAINERS:
        return f"a video ({container}), not a CSV table"
    if b"\0" in head:
        return "binary data, not a text table (a CSV, or a tab- or semicolon-separated table)"
    return None


def _not_a_csv(kind: FileKind) -> str:
    """A file of ``kind`` given for a table, said with how to make the CSV it holds."""
    if kind.damaged:
        return f"{kind.said} (it cannot be opened), not a CSV table"
    if kind.family is Family.ARCHIVE:
        return (f"{kind.phrase}{f' (of {kind.listing()})' if kind.members else ''}, not a CSV: {kind.unpack} it and "
                "give the CSV inside")
    todo = {Family.SPREADSHEET: _SAVE_AS_CSV_FROM.get(kind.key, SAVE_AS_CSV),
            Family.DOCUMENT: f"copy its table into a spreadsheet and {SAVE_AS_CSV}"}.get(kind.family)
    return f"{kind.phrase}, not a CSV: {todo}" if todo else f"{kind.phrase}, not a CSV table"


def table_text(path: Path) -> str:
    """The table's text: UTF-8, with the byte-order mark Excel's "CSV UTF-8" starts with dropped; UTF-16 where its
    byte-order mark says so (Excel's "Unicode Text", tab-separated); else Windows' Western encoding (Excel's older
    "CSV")."""
    data = path.read_bytes()
    if data.startswith(_UTF16_MARKS):
        return data.decode("utf-16", errors="replace")
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
    """A table's header (its first line), read as :func:`table_text` reads the table (UTF-16 where its byte-order
    mark says so), or [] where the file is not text (FER2013's .csv.gz) or cannot be read: what tells one kind of
    table from another without reading it all."""
    try:
        with open(path, "rb") as f:
            utf16 = f.read(2) in _UTF16_MARKS  # Excel's "Unicode Text": its NUL bytes are text, not binary
            f.seek(0)
            if utf16:
                first = f.read(20_000).decode("utf-16", errors="replace").split("\n", 1)[0]
            else:
                line = f.readline(10_000)
                if b"\0" in line:  # binary, such as FER2013's .csv.gz (Python 3.10's csv raises on it)
                    return []
                first = line.decode("utf-8-sig", errors="replace")
        header, _ = table_rows(first)
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
