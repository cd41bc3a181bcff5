"""Reading the tables people keep beside their data (annotated video segments, labelled images): CSV, or tab- or
semicolon-separated, as spreadsheets save them, with each row's line in the file kept for the messages."""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

# how to make a CSV of a table kept in a spreadsheet, or in a document, as said where its own file is given instead
SAVE_AS_CSV = "save it as CSV (Excel: File > Save As > CSV UTF-8; LibreOffice: File > Save As > Text CSV)"
_COPY_INTO_A_SPREADSHEET = f"copy its table into a spreadsheet and {SAVE_AS_CSV}"
# Office Open XML files: the folder of their zip that holds the content, what they are, what to do, and their
# extensions (a damaged one, whose parts cannot be listed, is told by its name)
_OFFICE_FILES = (("xl/", "an Excel workbook", SAVE_AS_CSV, (".xlsx", ".xlsm")),
                 ("word/", "a Word document", _COPY_INTO_A_SPREADSHEET, (".docx",)),
                 ("ppt/", "a PowerPoint file", _COPY_INTO_A_SPREADSHEET, (".pptx",)))
# OpenDocument files, by the mimetype their zip holds
_OPENDOCUMENT_FILES = (("spreadsheet", "an OpenDocument spreadsheet (.ods)", SAVE_AS_CSV),
                       ("text", "an OpenDocument text (.odt)", _COPY_INTO_A_SPREADSHEET))
# Compound File Binary: Office 97-2003's files (.xls, .doc)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


def not_a_text_table(path: Path) -> str | None:
    """What ``path`` is, where its first bytes say it is no text table, and what to do: a spreadsheet's or a word
    processor's own file (a CSV is read, not .xlsx), a zip or gzip archive, a PDF, an image, a video, or other
    binary data; None where it may be one. Said so that its bytes are never echoed as a header (an .xlsx given as
    a table printed "its columns are PK\\x03\\x04...", a video ~1 KB of control characters)."""
    from fervid.inference.images import NOT_VIDEO_CONTAINERS, image_signature, video_container

    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(_UTF16_MARKS):  # UTF-16 text (Excel's "Unicode Text"), as table_text reads it
        return None
    if head.startswith(b"PK\x03\x04"):
        return _zip_file_kind(path)
    if head.startswith(_OLE_MAGIC):
        return f"an Excel 97-2003 workbook (.xls) or another old Office file, not a CSV: {SAVE_AS_CSV}"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed, not a CSV: decompress it first (gunzip, or 7-Zip on Windows)"
    if head.startswith(b"%PDF"):
        return f"a PDF, not a CSV: {_COPY_INTO_A_SPREADSHEET}"
    image = image_signature(path)
    if image is not None:
        return f"a {image} image, not a CSV table"
    container = video_container(path)
    if container is not None and container not in NOT_VIDEO_CONTAINERS:
        return f"a video ({container}), not a CSV table"
    if b"\0" in head:
        return "binary data, not a text table (a CSV, or a tab- or semicolon-separated table)"
    return None


def _zip_file_kind(path: Path) -> str:
    """What a zip file is (:func:`not_a_text_table`): an Office or OpenDocument file, Apple's Numbers or Pages,
    or an archive (its first files named)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            mimetype = archive.read("mimetype").decode("ascii", "replace") if "mimetype" in names else ""
    except (zipfile.BadZipFile, OSError):  # damaged, or cut short: its name says what it was meant to be
        for _, what, todo, suffixes in _OFFICE_FILES:
            if path.suffix.lower() in suffixes:
                return f"{what} (damaged: it cannot be opened), not a CSV: {todo}"
        return "a damaged zip archive (it cannot be opened), not a CSV table"
    for folder, what, todo, _ in _OFFICE_FILES:
        if any(name.startswith(folder) for name in names):
            return f"{what}, not a CSV: {todo}"
    for kind, what, todo in _OPENDOCUMENT_FILES:
        if mimetype.startswith(f"application/vnd.oasis.opendocument.{kind}"):
            return f"{what}, not a CSV: {todo}"
    if any(name.startswith("Index/") and name.endswith(".iwa") for name in names):
        return "an Apple Numbers (or Pages) file, not a CSV: export it as CSV (File > Export To > CSV)"
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"a zip archive{f' (of {listed})' if listed else ''}, not a CSV: unzip it and give the CSV inside"


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
